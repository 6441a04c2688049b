//! What conduct remembers between builds, under `.cache/state/`.
//!
//! `state.bin` holds the stat cache and, per task, the last successful run (its key and
//! output digests) and the last attempt (status, duration, attempts, reasons) for
//! `conduct status`. (The key pre-image of a success lives in its cache entry, read only
//! when a task is stale.) It is one postcard snapshot (compact binary, read in one go:
//! about 13 ms for 10,000 tasks, half of what scanning the same records out of redb
//! takes), behind a magic header and version, rewritten atomically: a `kill -9` leaves
//! the previous or the new file. A missing, foreign or older file means "nothing
//! known": everything is rebuilt or restored from the cache, never trusted wrongly.
//!
//! A build that changed a few entries does not rewrite the snapshot (3 MB at 10,000
//! tasks, 32 MB at 100,000): it appends the changed entries to `state.log`, as ninja
//! appends to `.ninja_log`. Each record carries its length and a checksum, so a torn or
//! damaged tail ends the journal where the last sound record did; the journal names
//! the snapshot generation it extends, so one left over from an older snapshot is
//! ignored. Once the journal outgrows half the snapshot, the next save rewrites both.

pub(crate) mod journal;
pub(crate) mod started;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::explain::{Reason, RunStatus};
use crate::hash::Digest;
use crate::rules::check::CheckResult;
use crate::scan::{StatCache, StatEntry};
use crate::sealed::{self, Sealing, Unsealed};

const MAGIC: &[u8; 8] = b"CONDUCT\0";
const VERSION: u32 = 10;
const JOURNAL_MAGIC: &[u8; 8] = b"CONDLOG\0";
/// Length and checksum, before a journal record.
const RECORD_HEADER: usize = 4 + 8;
/// The journal may grow to this, or to half the snapshot if that is more, before the
/// next save rewrites the snapshot.
const JOURNAL_MIN_LIMIT: u64 = 256 * 1024;

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
    /// What its depfile named inside the project, with digests, sorted: part of `key`
    /// (see `discovered`). Empty for a task without a depfile.
    pub(crate) discovered: Vec<crate::discovered::Discovered>,
}

/// The last time a task actually ran (successfully or not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastRun {
    pub(crate) status: RunStatus,
    pub(crate) duration_ms: u64,
    pub(crate) attempts: u32,
    /// Why it ran (typed: `conduct status` renders them).
    pub(crate) reasons: Vec<Reason>,
    /// Seconds since the epoch when it ended.
    pub(crate) finished_at: u64,
    /// The Slurm job it was, when it ran on the cluster.
    pub(crate) cluster: Option<LastClusterJob>,
    /// The key it ran with (before what a depfile added): a later success with the same
    /// key after this failed makes the task flaky.
    pub(crate) key: Option<Digest>,
    /// It passed after failing with the same key (in this build or the last).
    pub(crate) flaky: bool,
    /// What its agent reported over the attempts (cost, tokens, the last session).
    pub(crate) agent: Option<Box<crate::agent::outcome::AgentOutcome>>,
}

/// A task's last attempt on the cluster: `status` shows it, `plan` adds the queue wait
/// to what the task costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LastClusterJob {
    pub(crate) id: String,
    /// From `sbatch` to the job's start.
    pub(crate) queue_ms: u64,
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
    pub(crate) last_run: Option<Box<LastRun>>,
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

/// The contents of `state.bin`, with `state.log` applied.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// Which snapshot this is: a journal extends the generation it names.
    pub(crate) generation: u64,
    /// What the files held when this was read or last saved.
    #[serde(skip)]
    pub(crate) on_disk: OnDisk,
    #[serde(deserialize_with = "crate::presized::map")]
    pub(crate) stat: StatCache,
    /// By task id.
    #[serde(deserialize_with = "crate::presized::map")]
    pub(crate) tasks: FxHashMap<String, TaskState>,
    pub(crate) last_build: Option<BuildCounts>,
    /// What a complete, clean build of every task left (see `fresh::CleanBuild`).
    pub(crate) clean_build: Option<CleanBuild>,
}

/// The sizes of the state's files, to decide between appending and rewriting.
#[derive(Debug, Default, Clone)]
pub(crate) struct OnDisk {
    pub(crate) snapshot_bytes: u64,
    pub(crate) journal_bytes: u64,
    /// The journal ends with its last record (no torn or damaged tail), so records can
    /// be appended to it.
    pub(crate) appendable: bool,
    /// What was found damaged (or of another format) and not used, to warn about:
    /// `"state.bin is damaged (…)"`.
    pub(crate) dropped: Option<String>,
}

/// One entry of the state as it is now (`None`: gone), as the journal records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Change {
    Task(String, Option<TaskState>),
    Stat(String, Option<StatEntry>),
    /// The whole record of the last clean build.
    CleanBuild(Option<CleanBuild>),
    /// One task's part of the last clean build (it exists, and has the task).
    CleanTask(u32, (Digest, Digest)),
    CleanWorld(Digest),
    LastBuild(Option<BuildCounts>),
}

impl State {
    /// Apply one journal record.
    fn apply(&mut self, change: Change) {
        match change {
            Change::Task(id, Some(task)) => {
                self.tasks.insert(id, task);
            }
            Change::Task(id, None) => {
                self.tasks.remove(&id);
            }
            Change::Stat(path, Some(entry)) => {
                self.stat.insert(path, entry);
            }
            Change::Stat(path, None) => {
                self.stat.remove(&path);
            }
            Change::CleanBuild(clean) => self.clean_build = clean,
            Change::CleanTask(i, part) => {
                let slot = self
                    .clean_build
                    .as_mut()
                    .and_then(|c| c.tasks.get_mut(i as usize));
                match slot {
                    Some(slot) => *slot = part,
                    // Not the clean build this was recorded against: forget it.
                    None => self.clean_build = None,
                }
            }
            Change::CleanWorld(world) => match self.clean_build.as_mut() {
                Some(clean) => clean.world = world,
                None => self.clean_build = None,
            },
            Change::LastBuild(counts) => self.last_build = counts,
        }
    }
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

    fn journal_path(&self) -> PathBuf {
        self.dir.join("state.log")
    }

    /// The snapshot with its journal applied. A snapshot that is damaged or of another
    /// format is not used (`on_disk.dropped` says so); a journal record that is damaged
    /// ends the replay there (a torn tail, from a `kill -9`, silently).
    pub(crate) fn load(&self) -> State {
        let Ok(snapshot) = std::fs::read(self.state_path()) else {
            return State::default();
        };
        let journal = std::fs::read(self.journal_path()).ok();
        decode(&snapshot, journal.as_deref())
    }

    /// Record `changes` (the entries of `state` that differ from what is on disk):
    /// appended to the journal, or, when it has grown too long or cannot be appended
    /// to, by rewriting the snapshot and starting a new journal.
    pub(crate) fn save(&self, state: &mut State, changes: &[Change]) -> io::Result<()> {
        let mut records = Vec::new();
        for change in changes {
            let payload = postcard::to_allocvec(change).map_err(io::Error::other)?;
            let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
            records.extend_from_slice(&len.to_le_bytes());
            records.extend_from_slice(&checksum(&payload));
            records.extend_from_slice(&payload);
        }
        let disk = &state.on_disk;
        let limit = JOURNAL_MIN_LIMIT.max(disk.snapshot_bytes / 2);
        if disk.appendable && disk.journal_bytes + records.len() as u64 <= limit {
            let appended = crate::confined::open_existing(&self.journal_path(), true).and_then(
                |mut journal| {
                    journal.write_all(&records)?;
                    journal.sync_data()
                },
            );
            match appended {
                Ok(()) => state.on_disk.journal_bytes += records.len() as u64,
                // Part of a record may be there: records after it would never be read,
                // so the next save rewrites.
                Err(_) => state.on_disk.appendable = false,
            }
            return appended;
        }
        self.rewrite(state)
    }

    /// Write the whole state as a new snapshot generation, with an empty journal.
    pub(crate) fn rewrite(&self, state: &mut State) -> io::Result<()> {
        state.generation = new_generation(state.generation);
        let snapshot_bytes = write_snapshot(&self.state_path(), state)?;
        let header = journal_header(state.generation);
        atomic::write(&self.journal_path(), &header)?;
        state.on_disk = OnDisk {
            snapshot_bytes,
            journal_bytes: header.len() as u64,
            appendable: true,
            dropped: None,
        };
        Ok(())
    }
}

/// The state from the bytes of a snapshot and of its journal (see [`StateStore::load`]).
pub(crate) fn decode(snapshot: &[u8], journal: Option<&[u8]>) -> State {
    let payload = sealed::open(MAGIC, VERSION, snapshot)
        .and_then(|payload| postcard::from_bytes::<State>(payload).map_err(|_| Unsealed::Damaged));
    let mut state = match payload {
        Ok(state) => state,
        Err(why) => {
            let mut state = State::default();
            state.on_disk.dropped = Some(format!("state.bin is {why}"));
            return state;
        }
    };
    state.on_disk = OnDisk {
        snapshot_bytes: snapshot.len() as u64,
        journal_bytes: 0,
        appendable: false,
        dropped: None,
    };
    if let Some(journal) = journal {
        replay(&mut state, journal);
    }
    state
}

/// A generation unlike `previous` (and unlike any other process's, most likely).
fn new_generation(previous: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let next = nanos ^ (u64::from(std::process::id()) << 40);
    if next == previous {
        next.wrapping_add(1)
    } else {
        next
    }
}

fn journal_header(generation: u64) -> Vec<u8> {
    let mut header = JOURNAL_MAGIC.to_vec();
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&generation.to_le_bytes());
    header
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let hash = blake3::hash(payload);
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&hash.as_bytes()[..8]);
    sum
}

/// Apply the journal's sound records to `state`, if it extends `state`'s generation.
fn replay(state: &mut State, journal: &[u8]) {
    let header = journal_header(state.generation);
    let Some(mut rest) = journal.strip_prefix(header.as_slice()) else {
        return; // another generation's journal, or none: nothing to apply or append to
    };
    loop {
        if rest.is_empty() {
            state.on_disk.journal_bytes = journal.len() as u64;
            state.on_disk.appendable = true;
            return;
        }
        let record = rest
            .split_at_checked(RECORD_HEADER)
            .and_then(|(head, body)| {
                let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
                let (payload, after) = body.split_at_checked(len)?;
                Some((head[4..] == checksum(payload), payload, after))
            });
        let Some((sound, payload, after)) = record else {
            return; // a torn tail (a `kill -9` mid-append): what came before stands
        };
        let change = postcard::from_bytes::<Change>(payload);
        let (true, Ok(change)) = (sound, change) else {
            state.on_disk.dropped = Some("state.log has a damaged record".to_owned());
            return;
        };
        state.apply(change);
        rest = after;
    }
}

/// Write the snapshot, sealed; returns its size in bytes.
fn write_snapshot<T: Serialize>(path: &Path, value: &T) -> io::Result<u64> {
    let mut written = 0;
    atomic::write_streamed(path, true, |out| {
        let mut sealing = Sealing::new(out, MAGIC, VERSION)?;
        postcard::to_io(value, &mut sealing).map_err(io::Error::other)?;
        written = sealing.finish()?;
        Ok(())
    })?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(duration_ms: u64) -> TaskState {
        TaskState {
            success: Some(Success {
                key: Digest::of(b"k"),
                outputs: vec![("out.txt".into(), Digest::of(b"o"))],
                duration_ms,
                discovered: Vec::new(),
            }),
            last_run: None,
            checks: Vec::new(),
        }
    }

    #[test]
    fn round_trips_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        assert!(store.load().tasks.is_empty(), "nothing yet");
        let mut state = State::default();
        state.tasks.insert("T1".into(), task(12));
        store.rewrite(&mut state).unwrap();
        assert_eq!(store.load().tasks, state.tasks);
        std::fs::write(store.state_path(), b"CONDUCT\0\x01\0\0\0garbage").unwrap();
        assert!(store.load().tasks.is_empty(), "corrupt means unknown");
        std::fs::write(store.state_path(), b"something else").unwrap();
        assert!(store.load().tasks.is_empty());
    }

    #[test]
    fn changes_are_appended_replayed_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let mut state = State::default();
        state.tasks.insert("T1".into(), task(1));
        state.tasks.insert("T2".into(), task(2));
        store.rewrite(&mut state).unwrap();
        let snapshot = std::fs::read(store.state_path()).unwrap();

        state.tasks.insert("T1".into(), task(10));
        state.tasks.remove("T2");
        let changes = [
            Change::Task("T1".into(), Some(task(10))),
            Change::Task("T2".into(), None),
        ];
        store.save(&mut state, &changes).unwrap();
        assert_eq!(
            std::fs::read(store.state_path()).unwrap(),
            snapshot,
            "a small change is appended, the snapshot stays"
        );
        let loaded = store.load();
        assert_eq!(loaded.tasks, state.tasks);
        assert!(loaded.on_disk.appendable);

        // A third save, cut off in the middle of its record: the second one stands.
        let mut loaded = loaded;
        store
            .save(&mut loaded, &[Change::Task("T3".into(), Some(task(3)))])
            .unwrap();
        let journal = std::fs::read(store.journal_path()).unwrap();
        std::fs::write(store.journal_path(), &journal[..journal.len() - 3]).unwrap();
        let torn = store.load();
        assert_eq!(torn.tasks, state.tasks, "T3's record is torn: ignored");
        assert!(
            !torn.on_disk.appendable,
            "nothing is appended after a torn tail"
        );

        // So the next save rewrites the snapshot, and the journal starts again.
        let mut torn = torn;
        torn.tasks.insert("T4".into(), task(4));
        store
            .save(&mut torn, &[Change::Task("T4".into(), Some(task(4)))])
            .unwrap();
        assert_ne!(std::fs::read(store.state_path()).unwrap(), snapshot);
        let again = store.load();
        assert_eq!(again.tasks, torn.tasks);
        assert_eq!(again.tasks.len(), 2, "T1 and T4");
    }

    #[test]
    fn a_journal_of_another_snapshot_or_a_damaged_record_is_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let mut state = State::default();
        state.tasks.insert("T1".into(), task(1));
        store.rewrite(&mut state).unwrap();
        store
            .save(&mut state, &[Change::Task("T1".into(), Some(task(5)))])
            .unwrap();
        let journal = std::fs::read(store.journal_path()).unwrap();

        // The snapshot was rewritten by an older conduct: the journal is not its own.
        let mut other = State::default();
        other.tasks.insert("T1".into(), task(1));
        store.rewrite(&mut other).unwrap();
        std::fs::write(store.journal_path(), &journal).unwrap();
        assert_eq!(
            store.load().tasks["T1"],
            task(1),
            "another generation's journal"
        );

        // A flipped byte in a record's payload fails its checksum.
        let mut state = State::default();
        state.tasks.insert("T1".into(), task(1));
        store.rewrite(&mut state).unwrap();
        store
            .save(&mut state, &[Change::Task("T1".into(), Some(task(5)))])
            .unwrap();
        let mut journal = std::fs::read(store.journal_path()).unwrap();
        let last = journal.len() - 1;
        journal[last] ^= 0x40;
        std::fs::write(store.journal_path(), &journal).unwrap();
        assert_eq!(store.load().tasks["T1"], task(1), "damaged record ignored");
    }

    #[test]
    fn after_a_failed_append_the_next_save_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let mut state = State::default();
        state.tasks.insert("T1".into(), task(1));
        store.rewrite(&mut state).unwrap();
        // The journal cannot be opened for appending (a directory in its place).
        std::fs::remove_file(store.journal_path()).unwrap();
        std::fs::create_dir(store.journal_path()).unwrap();
        state.tasks.insert("T2".into(), task(2));
        let change = [Change::Task("T2".into(), Some(task(2)))];
        assert!(store.save(&mut state, &change).is_err());
        assert!(
            !state.on_disk.appendable,
            "nothing more is appended after it"
        );
        std::fs::remove_dir(store.journal_path()).unwrap();
        store.save(&mut state, &change).unwrap();
        assert_eq!(store.load().tasks, state.tasks, "rewritten whole");
    }

    #[test]
    fn a_long_journal_is_folded_into_a_new_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path());
        let mut state = State::default();
        store.rewrite(&mut state).unwrap();
        let mut generations = std::collections::BTreeSet::from([state.generation]);
        for i in 0..2000 {
            let id = format!("T{i}-{}", "x".repeat(100));
            state.tasks.insert(id.clone(), task(i));
            store
                .save(&mut state, &[Change::Task(id, Some(task(i)))])
                .unwrap();
            generations.insert(state.generation);
            let journal = std::fs::metadata(store.journal_path()).unwrap().len();
            assert!(journal <= JOURNAL_MIN_LIMIT.max(state.on_disk.snapshot_bytes / 2) + 64);
        }
        assert!(generations.len() > 1, "the snapshot was rewritten");
        assert_eq!(store.load().tasks, state.tasks);
    }
}
