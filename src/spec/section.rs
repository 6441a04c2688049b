//! Markdown sections as task inputs (SPEC §2).
//!
//! A task that reads `docs/plan.md#T9` depends on that one section, not on the file, so
//! editing T2's section leaves T9 fresh. Headings come from pulldown-cmark, a real
//! CommonMark parser: a `## T8` line inside a code fence is not a heading. A section runs
//! from its heading to the next heading of the same or a higher level; its digest is
//! taken over normalised text (LF line endings, no trailing whitespace) so re-saving a
//! file with CRLF endings changes nothing.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// One heading of a Markdown document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Heading {
    pub(crate) level: u8,
    /// The heading's text without markup (`## T1: **Schema**` gives `T1: Schema`).
    pub(crate) text: String,
    /// Byte offset where the heading starts.
    pub(crate) start: usize,
    /// 1-based line of the heading.
    pub(crate) line: usize,
}

/// Why a section could not be selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SectionError {
    /// No heading matches; the document's headings, as written, for the error message.
    Missing { headings: Vec<String> },
    /// More than one heading matches; their lines.
    Ambiguous { lines: Vec<usize> },
}

/// The headings of a document, parsed once and queried for many sections.
#[derive(Clone, Debug)]
pub(crate) struct Outline {
    headings: Vec<Heading>,
    len: usize,
}

impl Outline {
    pub(crate) fn parse(text: &str) -> Outline {
        let mut headings = Vec::new();
        let mut current: Option<Heading> = None;
        let mut line_counter = LineCounter::new(text);
        for (event, range) in Parser::new_ext(text, Options::empty()).into_offset_iter() {
            match event {
                Event::Start(Tag::Heading { level, .. }) => {
                    current = Some(Heading {
                        level: level as u8,
                        text: String::new(),
                        start: range.start,
                        line: line_counter.line_of(range.start),
                    });
                }
                Event::End(TagEnd::Heading(_)) => {
                    if let Some(mut heading) = current.take() {
                        heading.text = heading.text.trim().to_owned();
                        headings.push(heading);
                    }
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some(heading) = current.as_mut() {
                        heading.text.push_str(&t);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some(heading) = current.as_mut() {
                        heading.text.push(' ');
                    }
                }
                _ => {}
            }
        }
        Outline {
            headings,
            len: text.len(),
        }
    }

    /// Every heading, in document order (a template's `foreach` over sections).
    pub(crate) fn headings(&self) -> &[Heading] {
        &self.headings
    }

    /// The byte range of section `name`: its heading through the line before the next
    /// heading of the same or a higher level.
    pub(crate) fn find(&self, name: &str) -> Result<Range<usize>, SectionError> {
        let mut matches = self
            .headings
            .iter()
            .enumerate()
            .filter(|(_, h)| heading_matches(&h.text, name));
        let Some((i, heading)) = matches.next() else {
            return Err(SectionError::Missing {
                headings: self
                    .headings
                    .iter()
                    .map(|h| format!("{} {}", "#".repeat(h.level as usize), h.text))
                    .collect(),
            });
        };
        let others: Vec<usize> = matches.map(|(_, h)| h.line).collect();
        if !others.is_empty() {
            let mut lines = vec![heading.line];
            lines.extend(others);
            return Err(SectionError::Ambiguous { lines });
        }
        let end = self.headings[i + 1..]
            .iter()
            .find(|h| h.level <= heading.level)
            .map_or(self.len, |h| h.start);
        Ok(heading.start..end)
    }
}

/// `T1` matches `T1`, `T1: Title`, `T1 Title`, `T1 - Title`, `T1 — Title` and the full
/// heading text itself; never `T10`.
fn heading_matches(heading: &str, name: &str) -> bool {
    let Some(rest) = heading.strip_prefix(name) else {
        return false;
    };
    match rest.chars().next() {
        None => true,
        Some(c) => c == ':' || c == '-' || c == '—' || c.is_whitespace(),
    }
}

/// Section text as it is hashed: LF line endings, trailing whitespace removed from every
/// line and from the end.
pub(crate) fn normalise(section: &str) -> String {
    let mut out = String::with_capacity(section.len());
    for line in section.split('\n') {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// The digest a section contributes to its task's key.
pub(crate) fn digest(section: &str) -> blake3::Hash {
    blake3::hash(normalise(section).as_bytes())
}

/// Turns byte offsets into line numbers for offsets that only increase.
struct LineCounter<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> LineCounter<'t> {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    fn line_of(&mut self, offset: usize) -> usize {
        if offset >= self.offset {
            let chunk = self.text.get(self.offset..offset).unwrap_or("");
            self.line += chunk.bytes().filter(|&b| b == b'\n').count();
            self.offset = offset;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "\
# Plan

Intro.

## T1: PostgreSQL Schema Design

Tables.

### Details

More about T1.

## T10 — Scheduler Endpoints

```text
## T2: not a heading, inside a fence
```

## T2 Error Recovery
Body of T2.

# Appendix
";

    fn section<'t>(text: &'t str, name: &str) -> Result<&'t str, SectionError> {
        Outline::parse(text).find(name).map(|r| &text[r])
    }

    #[test]
    fn selects_by_id_or_full_title_never_by_prefix_of_another_id() {
        let t1 = section(PLAN, "T1").unwrap();
        assert!(t1.starts_with("## T1: PostgreSQL"));
        assert!(t1.contains("### Details") && t1.contains("More about T1."));
        assert!(!t1.contains("T10"));
        assert_eq!(section(PLAN, "T1: PostgreSQL Schema Design").unwrap(), t1);
        assert!(
            section(PLAN, "T10")
                .unwrap()
                .starts_with("## T10 — Scheduler")
        );
    }

    #[test]
    fn headings_in_code_fences_do_not_count() {
        let t10 = section(PLAN, "T10").unwrap();
        assert!(t10.contains("not a heading, inside a fence"));
        let t2 = section(PLAN, "T2").unwrap();
        assert!(t2.starts_with("## T2 Error Recovery"));
        assert_eq!(normalise(t2), "## T2 Error Recovery\nBody of T2.");
    }

    #[test]
    fn deeper_heading_belongs_to_the_section_and_higher_level_ends_it() {
        let details = section(PLAN, "Details").unwrap();
        assert_eq!(normalise(details), "### Details\n\nMore about T1.");
        let t2 = section(PLAN, "T2").unwrap();
        assert!(!t2.contains("Appendix"));
        let appendix = section(PLAN, "Appendix").unwrap();
        assert_eq!(normalise(appendix), "# Appendix");
    }

    #[test]
    fn missing_section_lists_headings() {
        let err = section(PLAN, "T9").unwrap_err();
        let SectionError::Missing { headings } = err else {
            panic!("expected Missing, got {err:?}")
        };
        assert_eq!(
            headings,
            [
                "# Plan",
                "## T1: PostgreSQL Schema Design",
                "### Details",
                "## T10 — Scheduler Endpoints",
                "## T2 Error Recovery",
                "# Appendix"
            ]
        );
    }

    #[test]
    fn two_matching_headings_are_ambiguous() {
        let text = "# A\n\n## T3: one\n\ntext\n\n## T3 - two\n";
        assert_eq!(
            section(text, "T3"),
            Err(SectionError::Ambiguous { lines: vec![3, 7] })
        );
    }

    #[test]
    fn setext_headings_and_inline_markup() {
        let text = "T5: `code` and **bold**\n----------\n\nbody\n";
        let s = section(text, "T5").unwrap();
        assert!(s.contains("body"));
        assert_eq!(Outline::parse(text).headings()[0].text, "T5: code and bold");
    }

    #[test]
    fn crlf_and_trailing_whitespace_do_not_change_the_digest() {
        let lf = "## T1: x\n\nline one\nline two\n";
        let crlf = "## T1: x  \r\n\r\nline one\t\r\nline two\r\n\r\n";
        let a = digest(section(lf, "T1").unwrap());
        let b = digest(section(crlf, "T1").unwrap());
        assert_eq!(a, b);
        let edited = "## T1: x\n\nline one\nline 2\n";
        assert_ne!(a, digest(section(edited, "T1").unwrap()));
    }

    #[test]
    fn editing_one_section_leaves_the_others_digest_alone() {
        let before = digest(section(PLAN, "T1").unwrap());
        let edited = PLAN.replace("Body of T2.", "Body of T2, edited.");
        assert_eq!(before, digest(section(&edited, "T1").unwrap()));
        assert_ne!(
            digest(section(PLAN, "T2").unwrap()),
            digest(section(&edited, "T2").unwrap())
        );
    }
}
