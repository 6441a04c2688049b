//! A remote cache in a directory (`file:///mnt/shared/cache`): an NFS share between
//! machines is the simplest team setup. Objects are written to a temporary name and
//! renamed into place, so a reader on another machine sees a whole object or none.

use std::io::{self, Write};
use std::path::PathBuf;

use super::{RemoteError, RemoteStore};

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
        let safe = path
            .split('/')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
        if !safe {
            return Err(RemoteError(format!("not a cache path: {path}")));
        }
        Ok(self.root.join(path))
    }
}

fn failed(what: &str, path: &std::path::Path, e: &io::Error) -> RemoteError {
    RemoteError(format!("cannot {what} {}: {e}", path.display()))
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
}
