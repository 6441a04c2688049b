//! Source files that errors point into.
//!
//! Every configuration error names a file, a line and a column and quotes the offending
//! line. To make that possible without threading the text through every layer, a loaded
//! file becomes one shared [`SourceFile`]; an error carries a cheap [`Location`] (the file
//! plus a byte span) and the renderer in `error.rs` turns it into `file:line:col` and a
//! caret line. Line starts are computed lazily, only when an error is actually rendered.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A byte range in a source file; `u32` keeps per-task spans small at 100,000 tasks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(range: std::ops::Range<usize>) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            start: clamp(range.start),
            end: clamp(range.end.max(range.start)),
        }
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(range: std::ops::Range<usize>) -> Span {
        Span::new(range)
    }
}

/// One configuration file as loaded: its display name (project-relative) and its text.
pub(crate) struct SourceFile {
    name: String,
    text: OnceLock<String>,
    /// Where to read the text again when it was let go (see [`SourceFile::on_disk`]).
    path: Option<PathBuf>,
    line_starts: OnceLock<Vec<usize>>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceFile")
            .field("name", &self.name)
            .finish()
    }
}

impl SourceFile {
    pub(crate) fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            name: name.into(),
            text: OnceLock::from(text.into()),
            path: None,
            line_starts: OnceLock::new(),
        })
    }

    /// A file whose text was already parsed by an earlier run (the spec cache had it):
    /// it is read again only if an error has to quote it. A 100,000-task tasks.toml is
    /// 20 MB that a no-op build would otherwise hold to the end.
    pub(crate) fn on_disk(name: impl Into<String>, path: &Path) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            name: name.into(),
            text: OnceLock::new(),
            path: Some(path.to_path_buf()),
            line_starts: OnceLock::new(),
        })
    }

    /// A placeholder until the real file is attached (spec cache).
    pub(crate) fn empty() -> Arc<SourceFile> {
        SourceFile::new("", "")
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn text(&self) -> &str {
        self.text.get_or_init(|| {
            self.path
                .as_ref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .unwrap_or_default()
        })
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text().match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = (offset as usize).min(self.text().len());
        let starts = self.line_starts();
        let line = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = starts[line];
        let column = self
            .text()
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// The text of a 1-based line, without its line ending.
    pub(crate) fn line_text(&self, line: usize) -> &str {
        let starts = self.line_starts();
        let Some(&start) = starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = starts.get(line).copied().unwrap_or(self.text().len());
        self.text()
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }
}

/// Where an error points: a file and a byte span in it (an empty span points at a spot).
#[derive(Clone, Debug)]
pub(crate) struct Location {
    pub(crate) file: Arc<SourceFile>,
    pub(crate) span: Span,
}

impl Location {
    pub(crate) fn new(file: &Arc<SourceFile>, span: impl Into<Span>) -> Location {
        Location {
            file: Arc::clone(file),
            span: span.into(),
        }
    }

    pub(crate) fn line_col(&self) -> (usize, usize) {
        self.file.line_col(self.span.start)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        write!(f, "{}:{line}:{col}", self.file.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let file = SourceFile::new("t.toml", "a = 1\n# é\nbé = 2\r\nlast");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(6), (2, 1));
        // "bé" is 3 bytes; the `=` after it is the 4th character of line 3.
        let eq = file.text().find("= 2").unwrap() as u32;
        assert_eq!(file.line_col(eq), (3, 4));
        assert_eq!(file.line_text(3), "bé = 2");
        assert_eq!(file.line_text(4), "last");
        assert_eq!(file.line_text(9), "");
        assert_eq!(file.line_col(10_000), (4, 5));
    }
}
