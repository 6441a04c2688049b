//! Which tasks a build started, so that the next one can tell a person's edit from
//! what a killed build left (SPEC §3: edited outputs are never overwritten silently).
//!
//! The state is saved now and then while a build runs, so after a `kill -9` a task's
//! record may still say its last run succeeded while its outputs are half rewritten by
//! the run that was killed. Before a task's process starts, its id is appended to
//! `.cache/state/started.log` (one `write`, no fsync: a killed process loses nothing
//! the kernel has); a build that ends removes the file after its final save. A build
//! that finds the file records those tasks' last run as interrupted, so their outputs
//! are restored or rebuilt, not reported as edited.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The started-log of one cache directory.
#[derive(Debug)]
pub(crate) struct Started {
    path: PathBuf,
    /// Open for appending once this build started a task.
    file: Option<File>,
    /// What an earlier build left in it: ids, as written (never trusted further than
    /// as names to look up).
    left: Vec<String>,
}

impl Started {
    /// Read what an earlier build left (nothing if it ended).
    pub(crate) fn read(cache_dir: &Path) -> Started {
        let path = cache_dir.join("state").join("started.log");
        let left = crate::confined::open_no_follow(&path)
            .and_then(|mut file| {
                let mut text = String::new();
                io::Read::read_to_string(&mut file, &mut text).map(|_| text)
            })
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        Started {
            path,
            file: None,
            left,
        }
    }

    /// Tasks a build started and never ended (it was killed).
    pub(crate) fn left(&self) -> &[String] {
        &self.left
    }

    /// `id`'s process is about to start.
    pub(crate) fn note(&mut self, id: &str) -> io::Result<()> {
        if self.file.is_none() {
            let file = match crate::confined::open_existing(&self.path, true) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    crate::confined::create_file(&self.path)?
                }
                Err(e) => return Err(e),
            };
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(format!("{id}\n").as_bytes()),
            None => Ok(()),
        }
    }

    /// The build ended and its results are saved: nothing it started is left running.
    pub(crate) fn clear(&mut self) {
        if self.file.take().is_some() || !self.left.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
        self.left.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_build_started_is_found_until_a_build_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let mut killed = Started::read(dir.path());
        assert!(killed.left().is_empty());
        killed.note("T1").unwrap();
        killed.note("T2").unwrap();
        drop(killed);
        let mut next = Started::read(dir.path());
        assert_eq!(next.left(), ["T1", "T2"]);
        next.clear();
        assert!(Started::read(dir.path()).left().is_empty());
    }
}
