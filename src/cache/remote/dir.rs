//! A remote cache in a directory (`file:///mnt/shared/cache`): an NFS share between
//! machines is the simplest team setup. Objects are written to a temporary name and
//! renamed into place, so a reader on another machine sees a whole object or none.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{RemoteError, RemoteStore, is_cache_path};

/// The directory backend.
#[derive(Debug, Clone)]
pub(crate) struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub(crate) fn new(root: PathBuf) -> DirStore {
        DirStore { root }
    }

    fn full(&self, path: &str) -> Result<PathBuf, RemoteError> {
        // Paths are made by conduct (`cas/<hex>`, `ac/<hex>`): nothing else is asked for.
        if !is_cache_path(path) {
            return Err(RemoteError(format!("not a cache path: {path}")));
        }
        Ok(self.root.join(path))
    }
}

fn failed(what: &str, path: &Path, e: &io::Error) -> RemoteError {
    RemoteError(format!("cannot {what} {}: {e}", path.display()))
}

/// Add the objects under `dir` (whose remote path is `relative`) to `found`. Only
/// names [`is_cache_path`] allows count: `put`'s temporary files (`.tmp-<pid>-<name>`)
/// are not objects yet, and nothing else there is conduct's. Symlinks are not followed
/// (no loops); an object removed meanwhile (expired by another machine) is skipped.
fn walk(dir: &Path, relative: &str, found: &mut Vec<(String, u64)>) -> Result<(), RemoteError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Nothing uploaded under this prefix yet.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(failed("list", dir, &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| failed("list", dir, &e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|name| is_cache_path(name)) else {
            continue;
        };
        let path = format!("{relative}/{name}");
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed("look at", &entry.path(), &e)),
        };
        if meta.is_dir() {
            walk(&entry.path(), &path, found)?;
        } else if meta.is_file() {
            found.push((path, meta.len()));
        }
    }
    Ok(())
}

impl RemoteStore for DirStore {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let full = self.full(path)?;
        match std::fs::read(&full) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed("read", &full, &e)),
        }
    }

    fn exists(&self, path: &str) -> Result<bool, RemoteError> {
        let full = self.full(path)?;
        match std::fs::metadata(&full) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(failed("look at", &full, &e)),
        }
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), RemoteError> {
        let full = self.full(path)?;
        let Some(dir) = full.parent() else {
            return Err(RemoteError(format!("not a cache path: {path}")));
        };
        std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, &e))?;
        let temp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            full.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("object")
        ));
        let written = std::fs::File::create(&temp)
            .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(failed("write", &temp, &e));
        }
        std::fs::rename(&temp, &full).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            failed("rename into", &full, &e)
        })
    }

    fn list(&self, prefix: &str) -> Result<Option<Vec<(String, u64)>>, RemoteError> {
        let full = self.full(prefix)?;
        // The root missing is worth saying (a share that is not mounted); a missing
        // `ac/` under it only means nothing was uploaded yet.
        match std::fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(RemoteError(format!(
                    "cannot list {}: not a directory",
                    self.root.display()
                )));
            }
            Err(e) => return Err(failed("list", &self.root, &e)),
        }
        let mut found = Vec::new();
        walk(&full, prefix, &mut found)?;
        found.sort_unstable();
        Ok(Some(found))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_and_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path().to_path_buf());
        assert_eq!(store.get("cas/ab12").unwrap(), None);
        assert!(!store.exists("cas/ab12").unwrap());
        store.put("cas/ab12", b"hello").unwrap();
        assert!(store.exists("cas/ab12").unwrap());
        assert_eq!(
            store.get("cas/ab12").unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert!(store.put("../escape", b"x").is_err());
        assert!(store.get("cas/../../x").is_err());
    }

    #[test]
    fn a_listing_holds_the_objects_under_the_prefix_with_their_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path().to_path_buf());
        assert_eq!(
            store.list("ac").unwrap(),
            Some(vec![]),
            "nothing uploaded yet"
        );
        store.put("cas/bb22", b"hello").unwrap();
        store.put("cas/aa11", b"").unwrap();
        store.put("ac/cc33", b"entry").unwrap();
        // An upload in progress, and files that are not conduct's, are not objects.
        std::fs::write(dir.path().join("cas/.tmp-42-dd44"), b"half").unwrap();
        std::fs::write(dir.path().join("cas/notes.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("cas/bb22"), dir.path().join("cas/ee55"))
            .unwrap();
        assert_eq!(
            store.list("cas").unwrap(),
            Some(vec![("cas/aa11".to_owned(), 0), ("cas/bb22".to_owned(), 5)])
        );
        assert_eq!(
            store.list("ac").unwrap(),
            Some(vec![("ac/cc33".to_owned(), 5)])
        );
        assert!(store.list("../x").is_err());
        assert!(store.list("").is_err());
    }

    #[test]
    fn listing_a_root_that_is_not_there_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = DirStore::new(dir.path().join("not-mounted"));
        let error = missing.list("cas").unwrap_err().0;
        assert!(error.contains("not-mounted"), "{error}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let error = DirStore::new(file).list("cas").unwrap_err().0;
        assert!(error.contains("not a directory"), "{error}");
    }
}
