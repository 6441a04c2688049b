//! What conduct remembers between builds, under `.cache/state/`.
//!
//! `state.bin` holds the stat cache and, per task, the last successful run (its key and
//! output digests) and the last attempt (status, duration, attempts, reasons) for
//! `conduct status`. (The key pre-image of a success lives in its cache entry, read only
//! when a task is stale.) It is one postcard snapshot (compact binary, read in one go:
//! about 13 ms for 10,000 tasks, half of what scanning the same records out of redb
//! takes), behind a magic header and version, rewritten atomically and only when
//! something changed: a `kill -9` leaves the previous or the new file. A missing,
//! foreign or older file means "nothing known": everything is rebuilt or restored from
//! the cache, never trusted wrongly.

use std::io;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::hash::Digest;
use crate::rules::check::CheckResult;
use crate::scan::StatCache;

const MAGIC: &[u8; 8] = b"CONDUCT\0";
const VERSION: u32 = 5;

/// The outcome of one run of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RunStatus {
    Ok,
    Failed,
    TimedOut,
    Interrupted,
}

impl RunStatus {
    /// The word used in output and JSON (`ok`, `failed`, `timed_out`, `interrupted`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Seconds since the epoch, now (for `LastRun::finished_at`).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The last successful run of a task: what makes it fresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Success {
    pub(crate) key: Digest,
    /// `(path, digest)` of every output, files of directory outputs one by one, sorted.
    pub(crate) outputs: Vec<(String, Digest)>,
    pub(crate) duration_ms: u64,
}

/// The last time a task actually ran (successfully or not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LastRun {
    pub(crate) status: RunStatus,
    pub(crate) duration_ms: u64,
    pub(crate) attempts: u32,
    pub(crate) reasons: Vec<String>,
    /// Seconds since the epoch when it ended.
    pub(crate) finished_at: u64,
}

/// The last verdict of one of a task's checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckRecord {
    pub(crate) rule: String,
    /// The check key it was reached for (rule definition and output digests).
    pub(crate) key: Digest,
    pub(crate) result: CheckResult,
}

/// Everything known about one task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskState {
    pub(crate) success: Option<Success>,
    pub(crate) last_run: Option<LastRun>,
    /// The checks of the last success's outputs, in `checks` order.
    pub(crate) checks: Vec<CheckRecord>,
}

/// What the last build did (for the cache's hit rate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BuildCounts {
    pub(crate) ran: u32,
    pub(crate) fresh: u32,
    pub(crate) restored: u32,
    pub(crate) failed: u32,
    pub(crate) blocked: u32,
}

/// The contents of `state.bin`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    #[serde(deserialize_with = "crate::presized::map")]
    pub(crate) stat: StatCache,
    /// By task id.
    #[serde(deserialize_with = "crate::presized::map")]
    pub(crate) tasks: FxHashMap<String, TaskState>,
    pub(crate) last_build: Option<BuildCounts>,
    /// What a complete, clean build of every task left (see `fresh::CleanBuild`).
    pub(crate) clean_build: Option<CleanBuild>,
}

/// What a complete, clean build of every task started from and left: while a task's
/// part of it is the same, the task is fresh without its key being computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CleanBuild {
    /// Configuration, environment, listings, command outputs, Markdown texts.
    pub(crate) world: Digest,
    /// Per task (by number): its source inputs and its outputs, each as one digest.
    #[serde(deserialize_with = "crate::presized::vec")]
    pub(crate) tasks: Vec<(Digest, Digest)>,
}

/// The state directory of a project's cache.
#[derive(Debug, Clone)]
pub(crate) struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub(crate) fn new(cache_dir: &Path) -> StateStore {
        StateStore {
            dir: cache_dir.join("state"),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.bin")
    }

    pub(crate) fn load(&self) -> State {
        read(&self.state_path()).unwrap_or_default()
    }

    pub(crate) fn save(&self, state: &State) -> io::Result<()> {
        write(&self.state_path(), state)
    }
}

fn read<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let (version, payload) = body.split_at_checked(4)?;
    if version != VERSION.to_le_bytes() {
        return None;
    }
    postcard::from_bytes(payload).ok()
}

fn write<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    atomic::write_streamed(path, true, |out| {
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        postcard::to_io(value, out).map_err(io::Error::other)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        assert!(store.load().tasks.is_empty(), "nothing yet");
        let mut state = State::default();
        state.tasks.insert(
            "T1".into(),
            TaskState {
                success: Some(Success {
                    key: Digest::of(b"k"),
                    outputs: vec![("out.txt".into(), Digest::of(b"o"))],
                    duration_ms: 12,
                }),
                last_run: None,
                checks: Vec::new(),
            },
        );
        store.save(&state).unwrap();
        assert_eq!(store.load().tasks, state.tasks);
        std::fs::write(store.state_path(), b"CONDUCT\0\x01\0\0\0garbage").unwrap();
        assert!(store.load().tasks.is_empty(), "corrupt means unknown");
        std::fs::write(store.state_path(), b"something else").unwrap();
        assert!(store.load().tasks.is_empty());
    }
}
