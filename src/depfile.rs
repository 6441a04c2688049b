//! Reading the dependency files compilers write (`gcc -MD -MF x.d`, `clang -MD`): the
//! headers a compile actually read, so a task can depend on them without listing them.
//!
//! The format is a subset of Makefile syntax, read with ninja's `deps = gcc` semantics
//! (its `depfile_parser.cc`): rules `targets: prerequisites`, backslash-newline
//! continuations, `\ ` and `\#` escapes, `$$` for `$`. Written by hand: the one crate on
//! crates.io for it (`depfile` 0.1) is a young single-author release that pulls in a
//! lexer generator, reports errors as byte offsets and reads neither `$$` nor `\#` nor
//! comments; this is about a hundred lines with no dependency.

use std::collections::HashSet;

/// One problem in a depfile, with its 1-based line, so the message can point the user
/// at the line of the compiler's output that conduct could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub(crate) struct DepfileError {
    /// The line (1-based) the problem is on, or where its rule starts.
    pub(crate) line: usize,
    /// What is wrong, for a human.
    pub(crate) message: String,
}

/// Every prerequisite path named in `text`, in order of first appearance, without
/// duplicates; these are the files a task's result depends on. Targets are not returned
/// (they are the task's own outputs), and the phony rules `-MP` writes (`h.h:` with
/// nothing after) add nothing. A `:` followed by something other than whitespace is part
/// of a name (`a:b`), as in ninja. An empty file is an empty list; a rule without its
/// `:` or a NUL byte is an error, since either means the file is not what a compiler
/// wrote (or was cut short) and the dependencies it lists cannot be trusted.
pub(crate) fn parse(text: &str) -> Result<Vec<String>, DepfileError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        word: Vec::new(),
        rule: None,
        after_colon: false,
        prerequisites: Vec::new(),
        seen: HashSet::new(),
    };
    parser.run()?;
    Ok(parser.prerequisites)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    /// The name being read, unescaped. Only ASCII bytes are ever special, so the bytes
    /// of a multi-byte character are copied whole and in order: it stays UTF-8.
    word: Vec<u8>,
    /// The line the current rule starts on and its first name, once it has any text.
    rule: Option<(usize, String)>,
    /// The rule's `:` has been read: names are prerequisites now.
    after_colon: bool,
    prerequisites: Vec<String>,
    seen: HashSet<String>,
}

impl Parser<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at.saturating_add(ahead)).copied()
    }

    /// How many bytes of line end (`\n` or `\r\n`) start `ahead` bytes on; 0 if none.
    fn newline(&self, ahead: usize) -> usize {
        match (self.peek(ahead), self.peek(ahead.saturating_add(1))) {
            (Some(b'\n'), _) => 1,
            (Some(b'\r'), Some(b'\n')) => 2,
            _ => 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.word.extend_from_slice(bytes);
    }

    fn error(line: usize, message: impl Into<String>) -> DepfileError {
        DepfileError {
            line,
            message: message.into(),
        }
    }

    fn run(&mut self) -> Result<(), DepfileError> {
        while let Some(byte) = self.peek(0) {
            match byte {
                0 => return Err(Self::error(self.line, "a NUL byte: this is not a depfile")),
                b'\n' | b'\r' if self.newline(0) > 0 => {
                    self.at += self.newline(0);
                    self.end_rule(false)?;
                    self.line += 1;
                }
                b' ' | b'\t' | b'\r' => {
                    self.end_word();
                    self.at += 1;
                }
                // Make's comment: to the end of the line, a continuation included.
                b'#' => {
                    self.end_word();
                    while let Some(byte) = self.peek(0) {
                        match byte {
                            0 => return Err(Self::error(self.line, "a NUL byte in a comment")),
                            b'\\' if self.newline(1) > 0 => {
                                self.at += 1 + self.newline(1);
                                self.line += 1;
                            }
                            _ if self.newline(0) > 0 => break,
                            _ => self.at += 1,
                        }
                    }
                }
                b'\\' => self.backslashes(),
                b':' if self.ends_targets(1) => {
                    if self.after_colon {
                        return Err(Self::error(
                            self.line,
                            "a second `:` in one rule: a depfile rule is `targets: prerequisites`",
                        ));
                    }
                    self.end_word();
                    let line = self.line;
                    self.rule.get_or_insert_with(|| (line, ":".to_owned()));
                    self.after_colon = true;
                    self.at += 1;
                }
                b'$' if self.peek(1) == Some(b'$') => {
                    self.push(b"$");
                    self.at += 2;
                }
                other => {
                    self.push(&[other]);
                    self.at += 1;
                }
            }
        }
        self.end_rule(true)
    }

    /// Whether a `:` whose next byte is `ahead` bytes on separates targets from
    /// prerequisites: it does when whitespace, a line end, a comment or the end of the
    /// file follow.
    fn ends_targets(&self, ahead: usize) -> bool {
        match self.peek(ahead) {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b'#') => true,
            Some(b'\\') => self.newline(ahead.saturating_add(1)) > 0,
            Some(_) => false,
        }
    }

    /// A run of backslashes and what follows it, as ninja reads them: `2N+1` backslashes
    /// escape a following space (N stay), `\#` and `\:` are `#` and `:`, an odd run
    /// before a line end continues the line; any other backslash is part of the name.
    fn backslashes(&mut self) {
        let mut run = 0;
        while self.peek(run) == Some(b'\\') {
            run += 1;
        }
        let odd = run % 2 == 1;
        let keep = |n: usize| vec![b'\\'; n];
        match self.peek(run) {
            Some(escaped @ (b' ' | b'\t')) if odd => {
                self.push(&keep(run / 2));
                self.push(&[escaped]);
                self.at += run + 1;
            }
            Some(byte @ (b'#' | b':')) if !(byte == b':' && self.ends_targets(run + 1)) => {
                self.push(&keep(run - 1));
                self.push(&[byte]);
                self.at += run + 1;
            }
            _ if odd && self.newline(run) > 0 => {
                self.push(&keep(run - 1));
                self.end_word();
                self.at += run + self.newline(run);
                self.line += 1;
            }
            // The whitespace, `:` or line end that follows is read as itself.
            _ => {
                self.push(&keep(run));
                self.at += run;
            }
        }
    }

    fn end_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.word);
        let name = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        if self.rule.is_none() {
            self.rule = Some((self.line, name.clone()));
        }
        if self.after_colon && self.seen.insert(name.clone()) {
            self.prerequisites.push(name);
        }
    }

    /// The end of a rule (a line end, or the end of the file): it must have had its `:`.
    fn end_rule(&mut self, at_end: bool) -> Result<(), DepfileError> {
        self.end_word();
        if let (Some((line, first)), false) = (self.rule.take(), self.after_colon) {
            let message = if at_end {
                format!("the file ends in `{first}` with no `:` after it (was it cut short?)")
            } else {
                format!("no `:` after `{first}`: a depfile rule is `targets: prerequisites`")
            };
            return Err(Self::error(line, message));
        }
        self.after_colon = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
