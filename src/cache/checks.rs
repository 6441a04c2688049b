//! `CheckCache`: check results by check key, under `.cache/checks/ab/<key>`.
//!
//! A check key is the rule's definition and the digests of the files it looked at, so a
//! stored verdict holds wherever the same rule meets the same bytes: editing a rule
//! reruns only its checks, and a restored task's checks are not rerun. Failures are
//! stored too (an unchanged failed check is reported again from the cache); results of
//! a timeout or an interruption never are.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::hash::Digest;
use crate::rules::check::CheckResult;

const MAGIC: &[u8; 8] = b"CONDUCTC";
const VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub(crate) struct CheckCache {
    dir: PathBuf,
}

impl CheckCache {
    pub(crate) fn new(cache_dir: &Path) -> CheckCache {
        CheckCache {
            dir: cache_dir.join("checks"),
        }
    }

    fn path(&self, key: Digest) -> PathBuf {
        let hex = key.hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    pub(crate) fn get(&self, key: Digest) -> Option<CheckResult> {
        let bytes = fs::read(self.path(key)).ok()?;
        let body = bytes.strip_prefix(MAGIC.as_slice())?;
        let (version, payload) = body.split_at_checked(4)?;
        if version != VERSION.to_le_bytes() {
            return None;
        }
        postcard::from_bytes(payload).ok()
    }

    pub(crate) fn put(&self, key: Digest, result: &CheckResult) -> io::Result<()> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        let bytes = postcard::to_extend(result, bytes).map_err(io::Error::other)?;
        atomic::write_unsynced(&self.path(key), &bytes)
    }
}
