//! `ActionCache`: what a successful run of a task key produced, under
//! `.cache/ac/ab/<key>`.
//!
//! An entry names each output with its digest and mode (the contents are blobs in the
//! CAS), and keeps the run's duration and key pre-image, so a checkout that never ran
//! the task can restore it and still explain it. Only successful runs are stored
//! (DICE's `validity`: errors are never cached). Entries are written atomically and
//! read defensively: a foreign, old or damaged file is a miss. A file's mtime is its
//! last use, which `cache gc` evicts by. The entry also keeps the verdicts of the
//! checks its outputs went through, by check key (rule definition and output digests):
//! a checkout that restores the outputs gets their verdicts with them.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::hash::{Digest, KeyPreimage};
use crate::rules::check::CheckResult;

const MAGIC: &[u8; 8] = b"CONDUCTA";
const VERSION: u32 = 2;

/// One output of a cached run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedOutput {
    /// Project-relative; a file of a directory output is listed by itself.
    pub(crate) path: String,
    pub(crate) digest: Digest,
    /// Unix permission bits.
    pub(crate) mode: u32,
}

/// A cached successful run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ActionResult {
    pub(crate) key: Digest,
    /// Sorted by path.
    pub(crate) outputs: Vec<CachedOutput>,
    pub(crate) exit_code: i32,
    pub(crate) duration_ms: u64,
    pub(crate) preimage: KeyPreimage,
    /// Verdicts of checks on these outputs, by check key.
    pub(crate) checks: Vec<(Digest, CheckResult)>,
}

/// The action cache directory.
#[derive(Debug, Clone)]
pub(crate) struct ActionCache {
    dir: PathBuf,
}

impl ActionCache {
    pub(crate) fn new(cache_dir: &Path) -> ActionCache {
        ActionCache {
            dir: cache_dir.join("ac"),
        }
    }

    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: Digest) -> PathBuf {
        let hex = key.hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    /// The entry for `key`, if there is a sound one.
    pub(crate) fn get(&self, key: Digest) -> Option<ActionResult> {
        let bytes = fs::read(self.path(key)).ok()?;
        let body = bytes.strip_prefix(MAGIC.as_slice())?;
        let (version, payload) = body.split_at_checked(4)?;
        if version != VERSION.to_le_bytes() {
            return None;
        }
        let entry: ActionResult = postcard::from_bytes(payload).ok()?;
        (entry.key == key).then_some(entry)
    }

    pub(crate) fn put(&self, entry: &ActionResult) -> io::Result<()> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        let bytes = postcard::to_extend(entry, bytes).map_err(io::Error::other)?;
        atomic::write_unsynced(&self.path(entry.key), &bytes)
    }

    /// Mark an entry as just used (for least-recently-used eviction).
    pub(crate) fn touch(&self, key: Digest) {
        if let Ok(file) = File::options().append(true).open(self.path(key)) {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    pub(crate) fn remove(&self, key: Digest) -> io::Result<()> {
        match fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every entry's key, size and last use, in no particular order.
    pub(crate) fn list(&self) -> Vec<(Digest, u64, SystemTime)> {
        let mut entries = Vec::new();
        let Ok(shards) = fs::read_dir(&self.dir) else {
            return entries;
        };
        for shard in shards.filter_map(Result::ok) {
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.filter_map(Result::ok) {
                if let Some(key) = file.file_name().to_str().and_then(Digest::from_hex)
                    && let Ok(meta) = file.metadata()
                {
                    let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    entries.push((key, meta.len(), used));
                }
            }
        }
        entries
    }
}
