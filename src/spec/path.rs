//! `ProjectPath`: a path inside the project, checked once when tasks.toml is read.
//!
//! Every path in tasks.toml is untrusted. `ProjectPath::new` is the only constructor, so a
//! value of this type is always relative, `/`-separated, free of `.` and `..` components
//! and non-empty; later layers (graph, keys, cache) never re-check. Keys store these
//! strings, which is what makes a cache valid in any checkout directory. Whether a path
//! reaches outside the root through a symlink can only be known on disk; `spec::disk`
//! checks that.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A normalised project-relative path such as `src/app.ts`. Shared, not copied: the same
/// path is held by the spec, the database, the stat scan and the decisions, and at
/// 100,000 tasks a copy each was tens of megabytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ProjectPath(Arc<str>);

impl serde::Serialize for ProjectPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read back from the spec cache: accepted only if already in normal form, so a cache
/// file edited by hand cannot smuggle in `../` (a cheap scan, no re-normalising).
impl<'de> serde::Deserialize<'de> for ProjectPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ProjectPath, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = ProjectPath;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a project-relative path")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ProjectPath, E> {
                ProjectPath::checked(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

impl TryFrom<String> for ProjectPath {
    type Error = PathProblem;

    fn try_from(text: String) -> Result<ProjectPath, PathProblem> {
        ProjectPath::checked(&text)
    }
}

impl ProjectPath {
    /// `text` if it is already in normal form.
    fn checked(text: &str) -> Result<ProjectPath, PathProblem> {
        let bytes = text.as_bytes();
        match bytes.first() {
            None => return Err(PathProblem::Empty),
            Some(b'/' | b'\\') => return Err(PathProblem::Absolute),
            Some(_) if has_drive_prefix(text) => return Err(PathProblem::Absolute),
            Some(_) => {}
        }
        // One pass: no NUL, and no empty, `.` or `..` component.
        let mut start = 0;
        for i in 0..=bytes.len() {
            match bytes.get(i) {
                Some(0) => return Err(PathProblem::Nul),
                Some(b'/') | None => {
                    if matches!(&bytes[start..i], b"" | b"." | b"..") {
                        return Err(PathProblem::EscapesRoot);
                    }
                    start = i + 1;
                }
                Some(_) => {}
            }
        }
        Ok(ProjectPath(Arc::from(text)))
    }
}

/// Why a path was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathProblem {
    Empty,
    Absolute,
    EscapesRoot,
    Nul,
    /// A newline, tab or other control character: such a path cannot be told apart in
    /// a newline-separated list (`CONDUCT_OUTPUTS`). Only paths written in tasks.toml
    /// are refused for it (see [`ProjectPath::declared`]).
    ControlChar,
}

impl std::error::Error for PathProblem {}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::Empty => "is empty",
            PathProblem::Absolute => "is absolute",
            PathProblem::EscapesRoot => "escapes the project root",
            PathProblem::Nul => "contains a NUL byte",
            PathProblem::ControlChar => "contains a control character",
        })
    }
}

impl ProjectPath {
    /// Normalise `text` (`./a//b/../c` becomes `a/c`) or say why it cannot name a file in
    /// the project. A trailing `/` is dropped; callers that care (directory outputs) look
    /// at it first.
    pub(crate) fn new(text: &str) -> Result<ProjectPath, PathProblem> {
        if text.contains('\0') {
            return Err(PathProblem::Nul);
        }
        if text.starts_with('/') || text.starts_with('\\') || has_drive_prefix(text) {
            return Err(PathProblem::Absolute);
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(PathProblem::EscapesRoot);
                    }
                }
                _ => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Err(PathProblem::Empty);
        }
        Ok(ProjectPath(Arc::from(parts.join("/"))))
    }

    /// A path written in tasks.toml: [`ProjectPath::new`], and no control characters.
    /// (Files found on disk may have them; they are escaped where shown.)
    pub(crate) fn declared(text: &str) -> Result<ProjectPath, PathProblem> {
        if text.chars().any(char::is_control) {
            return Err(PathProblem::ControlChar);
        }
        ProjectPath::new(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The path on disk under `root`.
    pub(crate) fn to_path(&self, root: &Path) -> PathBuf {
        root.join(&*self.0)
    }

    /// Every proper ancestor, nearest first: `a/b/c` gives `a/b`, then `a`.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = &str> {
        let s: &str = &self.0;
        s.rmatch_indices('/').map(move |(i, _)| &s[..i])
    }

    /// The path's components.
    pub(crate) fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// Whether the symlink at project path `link` with the relative `target` stays inside
/// the project, judged by text alone (resolved from the link's directory, it must not
/// climb out): for links found in outputs and links named by a cache entry alike.
pub(crate) fn link_stays_inside(link: &str, target: &str) -> bool {
    if target.starts_with('/') || target.chars().any(char::is_control) {
        return false;
    }
    let joined = match link.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{target}"),
        None => target.to_owned(),
    };
    ProjectPath::new(&joined).is_ok()
}

fn has_drive_prefix(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

impl fmt::Display for ProjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for ProjectPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_relative_paths() {
        let ok = |s: &str| ProjectPath::new(s).map(|p| p.0);
        assert_eq!(ok("src/app.ts").as_deref(), Ok("src/app.ts"));
        assert_eq!(ok("./a//b/").as_deref(), Ok("a/b"));
        assert_eq!(ok("a/../b").as_deref(), Ok("b"));
        assert_eq!(ok("docs/plan.md#T1").as_deref(), Ok("docs/plan.md#T1"));
    }

    #[test]
    fn rejects_paths_outside_the_root() {
        assert_eq!(ProjectPath::new("/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(ProjectPath::new("C:\\x"), Err(PathProblem::Absolute));
        assert_eq!(ProjectPath::new("../x"), Err(PathProblem::EscapesRoot));
        assert_eq!(ProjectPath::new("a/../../x"), Err(PathProblem::EscapesRoot));
        assert_eq!(ProjectPath::new(""), Err(PathProblem::Empty));
        assert_eq!(ProjectPath::new("./"), Err(PathProblem::Empty));
        assert_eq!(ProjectPath::new("a\0b"), Err(PathProblem::Nul));
        assert_eq!(
            ProjectPath::declared("out/a\nb"),
            Err(PathProblem::ControlChar)
        );
        assert_eq!(
            ProjectPath::declared("out/\u{7f}"),
            Err(PathProblem::ControlChar)
        );
        assert!(ProjectPath::new("out/a\nb").is_ok(), "found on disk: kept");
    }

    #[test]
    fn only_normal_paths_come_back_from_the_cache() {
        let read = |s: &str| ProjectPath::try_from(s.to_owned()).map(|p| p.0);
        assert_eq!(read("src/a.ts").as_deref(), Ok("src/a.ts"));
        assert_eq!(read("../x"), Err(PathProblem::EscapesRoot));
        assert_eq!(read("a/./b"), Err(PathProblem::EscapesRoot));
        assert_eq!(read("a//b"), Err(PathProblem::EscapesRoot));
        assert_eq!(read("a/"), Err(PathProblem::EscapesRoot));
        assert_eq!(read("/etc"), Err(PathProblem::Absolute));
        assert_eq!(read("a\0b"), Err(PathProblem::Nul));
        assert_eq!(read(""), Err(PathProblem::Empty));
    }

    #[test]
    fn links_are_judged_from_their_directory() {
        assert!(link_stays_inside("out/d/l", "../../src/a"));
        assert!(link_stays_inside("l", "src/a"));
        assert!(!link_stays_inside("out/l", "../../x"));
        assert!(!link_stays_inside("out/l", "/etc/passwd"));
        assert!(!link_stays_inside("out/l", "a\nb"));
    }

    #[test]
    fn ancestry() {
        let p = ProjectPath::new("a/b/c").unwrap();
        assert_eq!(p.ancestors().collect::<Vec<_>>(), ["a/b", "a"]);
        assert_eq!(p.components().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
