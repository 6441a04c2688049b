//! `ActionCache`: what a successful run of a task key produced, under `.cache/ac/<key>`.
//!
//! An entry names each output with its digest and mode, and keeps small outputs' bytes
//! inline (as Bazel's `ActionResult` can): a task that writes a few hundred bytes then
//! costs one cache file, not two (larger contents are blobs in the CAS). It keeps the run's duration and key pre-image, so a checkout that never ran
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
const VERSION: u32 = 3;

/// Outputs up to this size are kept inside the entry instead of as a CAS blob.
pub(crate) const INLINE_MAX: u64 = 16 * 1024;

/// One output of a cached run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedOutput {
    /// Project-relative; a file of a directory output is listed by itself.
    pub(crate) path: String,
    pub(crate) digest: Digest,
    /// Unix permission bits.
    pub(crate) mode: u32,
    /// The contents, for an output of at most [`INLINE_MAX`] bytes (else in the CAS).
    pub(crate) inline: Option<Vec<u8>>,
}

impl CachedOutput {
    /// The CAS blob this output needs (none when its bytes are inline).
    pub(crate) fn blob(&self) -> Option<Digest> {
        self.inline.is_none().then_some(self.digest)
    }

    /// Whether its contents can be restored: inline bytes that hash right, or a blob
    /// that is present (the blob is verified again when copied out).
    pub(crate) fn available(&self, blobs: &crate::cache::BlobStore) -> bool {
        match &self.inline {
            Some(bytes) => Digest::of(bytes) == self.digest,
            None => blobs.contains(self.digest),
        }
    }
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

    /// One flat directory: ext4 and its peers index large directories, and a cold
    /// build would otherwise spend 256 directory creations on shards.
    fn path(&self, key: Digest) -> PathBuf {
        self.dir.join(key.hex())
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
        let Ok(files) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        files
            .filter_map(Result::ok)
            .filter_map(|file| {
                let key = file.file_name().to_str().and_then(Digest::from_hex)?;
                let meta = file.metadata().ok().filter(fs::Metadata::is_file)?;
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                Some((key, meta.len(), used))
            })
            .collect()
    }
}
