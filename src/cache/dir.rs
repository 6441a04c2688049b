//! The cache directory is conduct's own: made by it, marked as such, never followed out.
//!
//! `conduct clean --cache` empties the cache directory, and every build writes into it.
//! A config that points `[project] cache` at the sources or at `.git` is refused when it
//! is read (`spec::protected`); this is the second line, on disk:
//!
//! - conduct makes the directory and marks it with a `CACHEDIR.TAG` (the standard of
//!   <https://bford.info/cachedir/>, which backup tools honour too);
//! - an existing directory without the mark is used only if it holds nothing but
//!   conduct's own layout (a cache made by an older conduct, which is then marked), and
//!   refused otherwise, before anything is written into it;
//! - `clean` removes only the entries of [`LAYOUT`], and only from a marked directory;
//! - the directory must resolve inside the project, and where conduct's own
//!   subdirectories go, a symlink or file (say, restored by a CI cache action from an
//!   archive someone else made) is removed rather than followed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::confined::Root;
use crate::spec::ProjectPath;

/// The mark's file name.
pub(crate) const TAG_NAME: &str = "CACHEDIR.TAG";
/// The first line the standard requires, then who made it.
const TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by conduct (https://bford.info/cachedir/).\n\
# conduct keeps its state and build cache here; `conduct clean --cache` empties it.\n";
const SIGNATURE: &str = "Signature: 8a477f597d28d172789f06886806bc55";

/// What conduct keeps in its cache directory: all it ever makes, and all `clean`
/// removes. (The directories under it; `lock` and the tag are files.)
pub(crate) const LAYOUT: &[&str] = &[
    "state",
    "cas",
    "ac",
    "logs",
    "runs",
    "instructions",
    "feedback",
    "tmp",
];

/// Why a directory cannot be conduct's cache.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheDirError {
    #[error("`{}` is not conduct's cache directory: it holds {} and no {TAG_NAME}", path.display(), list(found))]
    NotOurs { path: PathBuf, found: Vec<String> },
    #[error("the cache directory `{}` leads outside the project (to `{}`)", path.display(), target.display())]
    Outside { path: PathBuf, target: PathBuf },
    #[error("`{}` is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot use the cache at `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn list(found: &[String]) -> String {
    let shown: Vec<String> = found.iter().take(3).map(|f| format!("`{f}`")).collect();
    let more = found.len().saturating_sub(3);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Whether `dir` carries conduct's mark.
pub(crate) fn is_marked(dir: &Path) -> bool {
    let Ok(file) = crate::confined::open_no_follow(&dir.join(TAG_NAME)) else {
        return false;
    };
    let mut head = [0u8; SIGNATURE.len()];
    io::Read::read_exact(&mut &file, &mut head).is_ok() && head == SIGNATURE.as_bytes()
}

/// Make sure `dir` is conduct's cache, before anything is written into it: made and
/// marked if missing, marked if it holds only [`LAYOUT`] (an older conduct's cache),
/// refused if it holds anything else or leads outside `root`. Then where conduct's
/// subdirectories go, anything that is not a real directory is removed.
pub(crate) fn claim(root: &Root, cache: &ProjectPath) -> Result<(), CacheDirError> {
    let dir = &cache.to_path(&root.path);
    let io_error = |source| CacheDirError::Io {
        path: dir.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Made one directory at a time, following nothing out of the project.
            crate::confined::Dir::anchor(root, cache.as_str()).map_err(io_error)?;
            mark(dir).map_err(io_error)?;
        }
        Err(e) => return Err(io_error(e)),
        Ok(meta) => {
            if meta.file_type().is_symlink() {
                let target = fs::canonicalize(dir).map_err(io_error)?;
                if root.canonical().is_some_and(|r| !target.starts_with(r)) {
                    return Err(CacheDirError::Outside {
                        path: PathBuf::from(cache.as_str()),
                        target,
                    });
                }
            }
            if !dir.is_dir() {
                return Err(CacheDirError::NotADirectory {
                    path: dir.to_path_buf(),
                });
            }
            if !is_marked(dir) {
                let foreign = foreign_entries(dir).map_err(io_error)?;
                if !foreign.is_empty() {
                    return Err(CacheDirError::NotOurs {
                        path: PathBuf::from(cache.as_str()),
                        found: foreign,
                    });
                }
                if !is_marked(dir) {
                    // A tag that is not conduct's (damaged, a symlink): replaced.
                    let _ = fs::remove_file(dir.join(TAG_NAME));
                    mark(dir).map_err(io_error)?;
                }
            }
        }
    }
    for name in LAYOUT {
        let path = dir.join(name);
        if let Ok(meta) = fs::symlink_metadata(&path)
            && !meta.is_dir()
        {
            // Never conduct's: a symlink here would steer its writes elsewhere.
            fs::remove_file(&path).map_err(io_error)?;
        }
    }
    Ok(())
}

/// Entries of `dir` that conduct would not have made.
fn foreign_entries(dir: &Path) -> io::Result<Vec<String>> {
    let mut foreign: Vec<String> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !LAYOUT.contains(&name.as_str()) && name != "lock" && name != TAG_NAME)
        .collect();
    foreign.sort();
    Ok(foreign)
}

/// Write the mark in one `write` (no temporary file: two conducts claiming a new
/// directory at once must never see each other's temporary as a stranger's file).
fn mark(dir: &Path) -> io::Result<()> {
    match fs::File::create_new(dir.join(TAG_NAME)) {
        Ok(mut file) => io::Write::write_all(&mut file, TAG.as_bytes()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What `clean --cache` removes: the entries of [`LAYOUT`] that exist in the cache
/// directory `cache` under `root`. Refused for a directory without the mark.
pub(crate) fn clean(root: &Path, cache: &ProjectPath) -> Result<usize, CacheDirError> {
    let dir = &cache.to_path(root);
    if !dir.exists() {
        return Ok(0);
    }
    if !is_marked(dir) {
        return Err(CacheDirError::NotOurs {
            path: PathBuf::from(cache.as_str()),
            found: foreign_entries(dir).unwrap_or_default(),
        });
    }
    let io_error = |source| CacheDirError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let here = crate::confined::Dir::open(dir).map_err(io_error)?;
    let mut removed = 0;
    for name in LAYOUT {
        if here.remove(name).map_err(io_error)? {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_new_and_old_caches_and_refuses_other_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let p = |s: &str| ProjectPath::new(s).unwrap();
        let cache = dir.path().join(".cache/deep");
        claim(&root, &p(".cache/deep")).unwrap();
        assert!(is_marked(&cache), "made and marked");

        let old = dir.path().join("old");
        fs::create_dir_all(old.join("state")).unwrap();
        fs::write(old.join("lock"), "1").unwrap();
        claim(&root, &p("old")).unwrap();
        assert!(is_marked(&old), "an older conduct's cache is adopted");

        let src = dir.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("main.c"), "int main;").unwrap();
        let refused = claim(&root, &p("src")).unwrap_err();
        assert!(refused.to_string().contains("`main.c`"), "{refused}");
        assert!(!is_marked(&src));
        assert!(matches!(
            clean(dir.path(), &p("src")),
            Err(CacheDirError::NotOurs { .. })
        ));
        assert!(src.join("main.c").exists());
    }

    #[test]
    fn clean_removes_only_conducts_entries_and_symlinks_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("f"), "victim").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let cache = dir.path().join(".cache");
        fs::create_dir_all(&cache).unwrap();
        std::os::unix::fs::symlink(outside.path(), cache.join("state")).unwrap();
        claim(&root, &ProjectPath::new(".cache").unwrap()).unwrap();
        assert!(!cache.join("state").exists(), "the planted link is gone");
        fs::create_dir_all(cache.join("logs")).unwrap();
        fs::write(cache.join("logs/a.log"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), cache.join("logs/link")).unwrap();
        fs::write(cache.join("notes.txt"), "mine").unwrap();
        assert_eq!(
            clean(dir.path(), &ProjectPath::new(".cache").unwrap()).unwrap(),
            1
        );
        assert!(cache.join("notes.txt").exists(), "not conduct's: kept");
        assert!(outside.path().join("f").exists());

        let away = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(away.path(), dir.path().join("linked")).unwrap();
        assert!(matches!(
            claim(&root, &ProjectPath::new("linked").unwrap()),
            Err(CacheDirError::Outside { .. })
        ));
        let missing_behind_link = claim(&root, &ProjectPath::new("linked/cache").unwrap());
        assert!(missing_behind_link.is_err());
        assert!(!away.path().join("cache").exists(), "nothing made outside");
    }
}
