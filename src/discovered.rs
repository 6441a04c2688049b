//! Inputs a task's command says it read: its depfile (`gcc -MD -MF obj/x.d`), with
//! ninja's `deps = gcc` meaning (SPEC §2, issue 14).
//!
//! A C compile reads headers nobody listed. After a successful run conduct reads the
//! task's depfile (`depfile::parse`), keeps the files it names that lie inside the
//! project (system headers are not the project's to track), and records them with their
//! digests next to the run. From then on the task's key is its declared key extended by
//! those files' digests ([`key`]): an edit of `new.h` that a `.c` started including
//! makes exactly that object stale, and `--explain` names the header.
//!
//! The cache needs the same care (Bazel's and ccache's manifests): a result is stored
//! under the extended key, so an object built against one version of a header is never
//! restored for another. Another checkout, which has no record of what the compile
//! read, finds the list under the declared key ([`manifest_key`]) and extends its key
//! with the digests of those files as they are there.

use std::path::Path;

use crate::depfile;
use crate::explain::Reason;
use crate::hash::Digest;
use crate::spec::ProjectPath;

/// A discovered file and its digest (`None`: it is not there, or not a file).
pub(crate) type Discovered = (String, Option<Digest>);

/// The key of a run that read `discovered` besides its declared inputs: the declared
/// key itself when it read nothing more.
pub(crate) fn key(declared: Digest, discovered: &[Discovered]) -> Digest {
    if discovered.is_empty() {
        return declared;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"conduct discovered inputs 1");
    hasher.update(&declared.0);
    for (path, digest) in discovered {
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(&digest.map_or([0; 32], |d| d.0));
    }
    hasher.finalize().into()
}

/// Where the cache keeps which files the last run of a declared key read.
pub(crate) fn manifest_key(declared: Digest) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"conduct discovered manifest 1");
    hasher.update(&declared.0);
    hasher.finalize().into()
}

/// What a depfile names: the project files, sorted, and the rest as written.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) inside: Vec<ProjectPath>,
    /// System headers, `..` out of the project: not the project's to track.
    pub(crate) outside: Vec<String>,
}

/// Read a depfile: relative paths are taken from `cwd` (where the command ran),
/// absolute ones are the project's only when they lie inside `cwd` or `root`. `Err`
/// says what is wrong with the file, with its line.
pub(crate) fn read(depfile: &Path, cwd: &Path, root: &Path) -> Result<Named, String> {
    let bytes = std::fs::read(depfile).map_err(|e| format!("cannot read it: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_owned())?;
    let mut named = Named::default();
    for name in depfile::parse(&text).map_err(|e| e.to_string())? {
        match inside(&name, cwd, root) {
            Some(path) => named.inside.push(path),
            None => named.outside.push(name),
        }
    }
    named.inside.sort();
    named.inside.dedup();
    Ok(named)
}

/// `name` as a project path, if it is one.
fn inside(name: &str, cwd: &Path, root: &Path) -> Option<ProjectPath> {
    let path = Path::new(name);
    let relative = if path.is_absolute() {
        let under = |base: &Path| path.strip_prefix(base).ok().map(Path::to_path_buf);
        under(cwd).or_else(|| under(root))?
    } else {
        path.to_path_buf()
    };
    ProjectPath::declared(relative.to_str()?).ok()
}

/// Why the recorded discovered inputs are not what is on disk now: one reason per file
/// that changed or is gone.
pub(crate) fn changes(recorded: &[Discovered], now: &[Discovered]) -> Vec<Reason> {
    let mut reasons = Vec::new();
    for (path, before) in recorded {
        let after = now
            .binary_search_by(|(p, _)| p.as_str().cmp(path))
            .ok()
            .and_then(|i| now[i].1);
        match (before, after) {
            (_, None) => reasons.push(Reason::DiscoveredRemoved {
                input: path.clone(),
            }),
            (Some(a), Some(b)) if *a == b => {}
            _ => reasons.push(Reason::DiscoveredChanged {
                input: path.clone(),
            }),
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Option<Digest> {
        Some(Digest::of(text.as_bytes()))
    }

    #[test]
    fn the_key_is_the_declared_one_until_something_was_discovered() {
        let declared = Digest::of(b"k");
        assert_eq!(key(declared, &[]), declared);
        let one = key(declared, &[("a.h".into(), d("1"))]);
        assert_ne!(one, declared);
        assert_ne!(one, key(declared, &[("a.h".into(), d("2"))]));
        assert_ne!(one, key(declared, &[("a.h".into(), None)]));
        assert_ne!(one, key(declared, &[("b.h".into(), d("1"))]));
        assert_ne!(manifest_key(declared), declared);
    }

    #[test]
    fn a_depfile_names_project_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let file = root.join("a.d");
        let text = format!(
            "obj/a.o: src/a.c ./src/a.h {root}/include/b.h /usr/include/stdio.h \\\n ../outside.h\n",
            root = root.display()
        );
        std::fs::write(&file, text).unwrap();
        let named = read(&file, root, root).unwrap();
        let paths: Vec<String> = named.inside.iter().map(ToString::to_string).collect();
        assert_eq!(paths, ["include/b.h", "src/a.c", "src/a.h"]);
        assert_eq!(named.outside, ["/usr/include/stdio.h", "../outside.h"]);
    }

    #[test]
    fn a_malformed_depfile_says_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.d");
        std::fs::write(&file, "obj/a.o: a.c\nno colon here\n").unwrap();
        let error = read(&file, dir.path(), dir.path()).unwrap_err();
        assert!(error.starts_with("line 2"), "{error}");
    }

    #[test]
    fn changes_name_each_file() {
        let recorded = vec![("a.h".to_owned(), d("1")), ("b.h".to_owned(), d("1"))];
        let now = vec![("a.h".to_owned(), d("2")), ("b.h".to_owned(), None)];
        assert_eq!(
            changes(&recorded, &now),
            [
                Reason::DiscoveredChanged {
                    input: "a.h".into()
                },
                Reason::DiscoveredRemoved {
                    input: "b.h".into()
                },
            ]
        );
        assert!(changes(&recorded, &recorded).is_empty());
    }
}
