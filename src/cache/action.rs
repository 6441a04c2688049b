//! `ActionCache`: what a successful run of a task key produced, in append-only pack
//! files under `.cache/ac/`.
//!
//! An entry names each output with its digest and mode, and keeps small outputs' bytes
//! inline (as Bazel's `ActionResult` can; larger contents are blobs in the CAS). It
//! keeps the run's duration and key pre-image, so a checkout that never ran the task
//! can restore it and still explain it, and the verdicts of the checks its outputs went
//! through, by check key, so a checkout that restores the outputs gets them too. Only
//! successful runs are stored (DICE's `validity`: errors are never cached).
//!
//! Why packs and not a file per entry: creating a file is an inode allocation, and on
//! file systems that skip recently freed inodes (ext4 without a journal scans past
//! every one) it cost a build of many small tasks milliseconds per task. Each process
//! that writes appends its records to one pack of its own (`<nanos>-<pid>.pack`), so a
//! build creates one file. A pack starts with a header (`CONDPACK`, format version); a
//! record is `[u32 length][32-byte key][payload]`, the payload `[16-byte checksum of
//! key and entry][entry]`; a later record for the same key wins, an empty payload is a
//! removal. Records are read defensively: a torn tail (a `kill -9` mid-write) ends a
//! pack, a pack of another format is skipped, and a record whose checksum fails (a
//! flipped byte that would restore `alphb` for `alpha`) is a miss that is counted, so
//! the command warns, and `cache verify` removes it. A key's last use is the time of the newest pack holding it
//! (restoring an entry from an older pack copies it forward), which `cache gc` evicts
//! by; `compact` rewrites the live entries into one pack. One build at a time holds the
//! cache lock, so one writer appends at a time.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::hash::{Digest, KeyPreimage};
use crate::rules::check::CheckResult;

const MAGIC: &[u8; 8] = b"CONDPACK";
const VERSION: u32 = 7;
/// The pack's header: magic and version.
const PACK_HEADER: u64 = 12;
/// Length and key, before a record's payload.
const HEADER: usize = 4 + 32;
/// The checksum at the start of a payload.
const SUM: usize = 16;
/// Packs beyond which the next writer first merges them all into one.
const MAX_PACKS: usize = 64;

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
    /// For an output that is a symlink: its target, relative to its directory
    /// (`digest` is [`Digest::of_link`] of it; no contents).
    pub(crate) link: Option<String>,
}

impl CachedOutput {
    /// The CAS blob this output needs (none when its bytes are inline).
    pub(crate) fn blob(&self) -> Option<Digest> {
        (self.inline.is_none() && self.link.is_none()).then_some(self.digest)
    }

    /// Whether its contents can be restored: inline bytes that hash right, or a blob
    /// that is present (the blob is verified again when copied out).
    pub(crate) fn available(&self, blobs: &crate::cache::BlobStore) -> bool {
        match (&self.inline, &self.link) {
            (_, Some(target)) => Digest::of_link(target) == self.digest,
            (Some(bytes), None) => Digest::of(bytes) == self.digest,
            (None, None) => blobs.contains(self.digest),
        }
    }

    /// Whether a symlink output stays inside the project, judged by its text (resolved
    /// from the link's directory, it must not climb out): an entry from another
    /// machine is never trusted to say so.
    pub(crate) fn link_stays_inside(&self) -> bool {
        self.link
            .as_ref()
            .is_none_or(|target| crate::spec::path::link_stays_inside(&self.path, target))
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
    /// What the run's depfile named, with digests (part of `key`). In a manifest entry
    /// (`discovered::manifest_key`), the files without digests.
    pub(crate) discovered: Vec<crate::discovered::Discovered>,
    /// What the agent that made it spent (its `total_cost_usd`), for the summary's
    /// "the cache saved". Encoded after the entry in a local record, so records of
    /// older conduct versions still read (and older versions read these: postcard
    /// leaves trailing bytes alone); never sent to or taken from a remote cache, where
    /// nothing vouches for it.
    #[serde(skip)]
    pub(crate) agent_cost_usd: Option<f64>,
}

/// The action cache directory.
#[derive(Debug, Clone)]
pub(crate) struct ActionCache {
    dir: PathBuf,
    inner: Arc<Mutex<Packs>>,
}

/// Lookups a process answers by scanning the packs before it indexes them.
const POINT_LOOKUPS: u32 = 8;

/// Where each live record is, once the packs were read, and this process's pack.
#[derive(Debug, Default)]
struct Packs {
    /// Pack files by number (oldest first); places refer to them.
    files: Vec<PathBuf>,
    /// Whether `files` was read from the directory.
    listed: bool,
    /// Lookups so far (see [`Packs::place`]).
    lookups: u32,
    index: Option<FxHashMap<Digest, Place>>,
    /// The pack this process appends to, and its number in `files`.
    writer: Option<(File, u32, u64)>,
    /// Records read whose checksum failed, since the last `take_damaged`.
    damaged: usize,
    /// Packs opened for reading, by number (a restore of 10,000 tasks reads as many
    /// entries: one open per pack, not per entry).
    readers: Vec<Option<File>>,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    pack: u32,
    /// Of the payload.
    offset: u64,
    len: u32,
}

impl ActionCache {
    pub(crate) fn new(cache_dir: &Path) -> ActionCache {
        ActionCache {
            dir: cache_dir.join("ac"),
            inner: Arc::default(),
        }
    }

    fn packs(&self) -> std::sync::MutexGuard<'_, Packs> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `key`, if there is a sound one.
    pub(crate) fn get(&self, key: Digest) -> Option<ActionResult> {
        self.read(key).ok().flatten()
    }

    /// The entry for `key`: `Ok(None)` when there is none, `Err` when its record is
    /// damaged (counted for [`ActionCache::take_damaged`]).
    pub(crate) fn read(&self, key: Digest) -> Result<Option<ActionResult>, Damaged> {
        let mut packs = self.packs();
        let Some(place) = packs.place(&self.dir, key) else {
            return Ok(None);
        };
        let mut payload = vec![0; place.len as usize];
        let read = packs
            .reader(place.pack)
            .and_then(|file| file.read_exact_at(&mut payload, place.offset));
        if read.is_err() {
            return Ok(None);
        }
        let entry = payload
            .split_at_checked(SUM)
            .filter(|(sum, body)| *sum == checksum(key, body))
            .and_then(|(_, body)| {
                let (mut entry, rest) = postcard::take_from_bytes::<ActionResult>(body).ok()?;
                entry.agent_cost_usd = postcard::from_bytes::<Option<f64>>(rest).ok().flatten();
                Some(entry)
            })
            .filter(|entry| entry.key == key);
        match entry {
            Some(entry) => Ok(Some(entry)),
            None => {
                packs.damaged += 1;
                Err(Damaged)
            }
        }
    }

    /// How many damaged records were read since the last call.
    pub(crate) fn take_damaged(&self) -> usize {
        std::mem::take(&mut self.packs().damaged)
    }

    pub(crate) fn put(&self, entry: &ActionResult) -> io::Result<()> {
        // Every writing build adds a pack: now and then they are merged into one, so
        // finding the keys stays a few file reads.
        let merge = {
            let mut packs = self.packs();
            packs.list(&self.dir);
            packs.writer.is_none() && packs.files.len() >= MAX_PACKS
        };
        if merge {
            self.compact()?;
        }
        let payload = record_payload(entry)?;
        self.packs().append(&self.dir, entry.key, &payload)
    }

    /// Mark an entry as just used (for least-recently-used eviction): copied forward
    /// into this process's pack unless it is there already.
    pub(crate) fn touch(&self, key: Digest) {
        let current = {
            let mut packs = self.packs();
            let place = packs.place(&self.dir, key);
            place.is_some_and(|p| packs.writer.as_ref().is_some_and(|w| w.1 == p.pack))
        };
        if !current && let Some(entry) = self.get(key) {
            let _ = self.put(&entry);
        }
    }

    pub(crate) fn remove(&self, key: Digest) -> io::Result<()> {
        let mut packs = self.packs();
        if packs.place(&self.dir, key).is_some() {
            packs.append(&self.dir, key, &[])?;
        }
        Ok(())
    }

    /// Every entry's key, size and last use, in no particular order.
    pub(crate) fn list(&self) -> Vec<(Digest, u64, SystemTime)> {
        let mut packs = self.packs();
        packs.load(&self.dir);
        let times: Vec<SystemTime> = packs
            .files
            .iter()
            .map(|f| {
                fs::metadata(f)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            })
            .collect();
        packs
            .index
            .iter()
            .flatten()
            .map(|(key, place)| {
                let size = (HEADER as u64) + u64::from(place.len);
                (*key, size, times[place.pack as usize])
            })
            .collect()
    }

    /// Rewrite the live entries into one pack and delete the others (after `gc` or
    /// `verify` removed entries), keeping each entry's last use as the pack's time.
    pub(crate) fn compact(&self) -> io::Result<()> {
        let mut by_time: Vec<(SystemTime, ActionResult)> = self
            .list()
            .into_iter()
            .filter_map(|(key, _, used)| self.get(key).map(|entry| (used, entry)))
            .collect();
        by_time.sort_by_key(|(used, _)| *used);
        let mut packs = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::take(&mut packs.files);
        *packs = Packs {
            listed: true,
            index: Some(FxHashMap::default()),
            ..Packs::default()
        };
        let newest = by_time.last().map(|(used, _)| *used);
        for (_, entry) in &by_time {
            packs.append(&self.dir, entry.key, &record_payload(entry)?)?;
        }
        if let (Some((file, _, _)), Some(newest)) = (packs.writer.take(), newest) {
            file.set_modified(newest)?;
        }
        let kept: Vec<PathBuf> = packs.files.clone();
        for file in old.iter().filter(|f| !kept.contains(f)) {
            match fs::remove_file(file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Close this process's pack: the next write starts a new one (tests use it to
    /// give entries different last uses).
    #[cfg(test)]
    pub(crate) fn seal(&self) -> Option<PathBuf> {
        let mut packs = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, number, _) = packs.writer.take()?;
        packs.files.get(number as usize).cloned()
    }
}

/// A record whose checksum does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damaged;

/// The first bytes of a record's checksum of `key` and the entry's bytes.
fn checksum(key: Digest, body: &[u8]) -> [u8; SUM] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&key.0);
    hasher.update(body);
    let mut sum = [0u8; SUM];
    sum.copy_from_slice(&hasher.finalize().as_bytes()[..SUM]);
    sum
}

/// A record's payload: checksum, then the entry.
fn record_payload(entry: &ActionResult) -> io::Result<Vec<u8>> {
    let mut body = postcard::to_allocvec(entry).map_err(io::Error::other)?;
    if entry.agent_cost_usd.is_some() {
        body.extend(postcard::to_allocvec(&entry.agent_cost_usd).map_err(io::Error::other)?);
    }
    let mut payload = Vec::with_capacity(SUM + body.len());
    payload.extend_from_slice(&checksum(entry.key, &body));
    payload.extend_from_slice(&body);
    Ok(payload)
}

fn pack_header() -> [u8; PACK_HEADER as usize] {
    crate::sealed::header(MAGIC, VERSION)
}

impl Packs {
    /// Pack `number`, opened for reading (once).
    fn reader(&mut self, number: u32) -> io::Result<&File> {
        let number = number as usize;
        if self.readers.len() <= number {
            self.readers.resize_with(number + 1, || None);
        }
        let path = self
            .files
            .get(number)
            .ok_or_else(|| io::Error::other("no such pack"))?;
        match &mut self.readers[number] {
            Some(file) => Ok(file),
            slot @ None => Ok(slot.insert(File::open(path)?)),
        }
    }

    /// Find the pack files (once).
    fn list(&mut self, dir: &Path) {
        if self.listed {
            return;
        }
        let mut names: Vec<PathBuf> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "pack"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        self.files = names;
        self.listed = true;
    }

    /// Where the live record for `key` is. The first few lookups of a process scan
    /// the packs' headers for it, allocating nothing (a leaf edit asks for two keys;
    /// indexing a 10,000-entry cache for them cost more than the rest of the build);
    /// after that the headers are read into an index once.
    fn place(&mut self, dir: &Path, key: Digest) -> Option<Place> {
        if self.index.is_none() {
            self.lookups += 1;
            if self.lookups <= POINT_LOOKUPS {
                self.list(dir);
                let mut found = None;
                for (number, path) in self.files.iter().enumerate() {
                    each_record(path, number as u32, |k, place| {
                        if k == key {
                            found = place;
                        }
                    });
                }
                return found;
            }
            self.load(dir);
        }
        self.index.as_ref()?.get(&key).copied()
    }

    /// Read every pack's record headers into the index (payloads are read when asked
    /// for), through a small buffer: a large cache is not loaded into memory.
    fn load(&mut self, dir: &Path) {
        if self.index.is_some() {
            return;
        }
        self.list(dir);
        let mut index = FxHashMap::default();
        for (number, path) in self.files.iter().enumerate() {
            each_record(path, number as u32, |key, place| match place {
                Some(place) => {
                    index.insert(key, place);
                }
                None => {
                    index.remove(&key);
                }
            });
        }
        self.index = Some(index);
    }

    /// Append one record to this process's pack (made at the first write).
    fn append(&mut self, dir: &Path, key: Digest, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
        if self.writer.is_none() {
            // Numbered after every pack already there.
            self.list(dir);
            fs::create_dir_all(dir)?;
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let path = dir.join(format!("{nanos:024}-{}.pack", std::process::id()));
            let mut file = File::options().create_new(true).append(true).open(&path)?;
            file.write_all(&pack_header())?;
            self.files.push(path);
            self.writer = Some((file, (self.files.len() - 1) as u32, PACK_HEADER));
        }
        let Some((file, number, size)) = self.writer.as_mut() else {
            return Err(io::Error::other("no pack to write to"));
        };
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&key.0);
        record.extend_from_slice(payload);
        if let Err(error) = file.write_all(&record) {
            // A torn record ends this pack: the next write starts a new one.
            self.writer = None;
            return Err(error);
        }
        let place = Place {
            pack: *number,
            offset: *size + HEADER as u64,
            len,
        };
        *size += record.len() as u64;
        if let Some(index) = self.index.as_mut() {
            if len == 0 {
                index.remove(&key);
            } else {
                index.insert(key, place);
            }
        }
        Ok(())
    }
}

/// Call `found` with each record's key and place (`None`: a removal) in one pack, in
/// order. A torn tail or a short file ends the pack.
fn each_record(path: &Path, number: u32, mut found: impl FnMut(Digest, Option<Place>)) {
    let Ok(file) = File::open(path) else {
        return;
    };
    let size = file.metadata().map_or(0, |m| m.len());
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut start = [0u8; PACK_HEADER as usize];
    if reader.read_exact(&mut start).is_err() || start != pack_header() {
        return; // another format's pack: nothing in it is read
    }
    let mut at = PACK_HEADER;
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= size && reader.read_exact(&mut header).is_ok() {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let Ok(key) = <[u8; 32]>::try_from(&header[4..]) else {
            break;
        };
        let start = at + HEADER as u64;
        if start + u64::from(len) > size || reader.seek_relative(i64::from(len)).is_err() {
            break; // a torn tail
        }
        let place = (len > 0).then_some(Place {
            pack: number,
            offset: start,
            len,
        });
        found(Digest(key), place);
        at = start + u64::from(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, duration_ms: u64) -> ActionResult {
        ActionResult {
            key: Digest::of(key.as_bytes()),
            outputs: Vec::new(),
            exit_code: 0,
            duration_ms,
            preimage: KeyPreimage::empty(),
            checks: Vec::new(),
            discovered: Vec::new(),
            agent_cost_usd: None,
        }
    }

    #[test]
    fn an_agents_cost_rides_after_the_entry_and_older_records_read_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ActionCache::new(dir.path());
        let costly = ActionResult {
            agent_cost_usd: Some(1.25),
            ..entry("costly", 1)
        };
        cache.put(&costly).unwrap();
        cache.put(&entry("plain", 2)).unwrap();
        let read = cache.get(costly.key).unwrap();
        assert_eq!(read.agent_cost_usd, Some(1.25));
        assert_eq!(read, costly);
        assert_eq!(
            cache.get(Digest::of(b"plain")).unwrap().agent_cost_usd,
            None
        );
        // A record without the trailing cost is byte for byte what older versions
        // wrote; and what they decode of a record with it is the entry.
        let plain = record_payload(&entry("plain", 2)).unwrap();
        assert_eq!(
            &plain[SUM..],
            postcard::to_allocvec(&entry("plain", 2))
                .unwrap()
                .as_slice()
        );
        let with_cost = record_payload(&costly).unwrap();
        let as_before: ActionResult = postcard::from_bytes(&with_cost[SUM..]).unwrap();
        assert_eq!(as_before, entry("costly", 1));
    }

    #[test]
    fn packs_keep_the_newest_record_survive_a_torn_tail_and_compact() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ActionCache::new(dir.path());
        cache.put(&entry("a", 1)).unwrap();
        cache.put(&entry("b", 2)).unwrap();
        cache.put(&entry("a", 3)).unwrap();
        cache.remove(Digest::of(b"b")).unwrap();
        let pack = cache.seal().unwrap();
        // A second writer (another build) and a torn record at the end of the first.
        let other = ActionCache::new(dir.path());
        other.put(&entry("c", 4)).unwrap();
        let mut torn = fs::read(&pack).unwrap();
        torn.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
        fs::write(&pack, torn).unwrap();

        let reader = ActionCache::new(dir.path());
        assert_eq!(reader.get(Digest::of(b"a")).unwrap().duration_ms, 3);
        assert!(reader.get(Digest::of(b"b")).is_none(), "removed");
        assert_eq!(reader.get(Digest::of(b"c")).unwrap().duration_ms, 4);
        assert_eq!(reader.list().len(), 2);

        reader.compact().unwrap();
        let packs = fs::read_dir(dir.path().join("ac")).unwrap().count();
        assert_eq!(packs, 1, "one pack holds what is live");
        let after = ActionCache::new(dir.path());
        assert_eq!(after.get(Digest::of(b"a")).unwrap().duration_ms, 3);
        assert_eq!(after.get(Digest::of(b"c")).unwrap().duration_ms, 4);
        assert_eq!(after.list().len(), 2);
    }

    #[test]
    fn scanning_and_the_index_find_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let first = ActionCache::new(dir.path());
        first.put(&entry("a", 1)).unwrap();
        first.put(&entry("b", 2)).unwrap();
        first.seal();
        let second = ActionCache::new(dir.path());
        second.put(&entry("a", 3)).unwrap();
        second.remove(Digest::of(b"b")).unwrap();

        // One process: its first lookups scan, the later ones use the index; its own
        // pack (written before it looked anything up) is seen both ways.
        let reader = ActionCache::new(dir.path());
        reader.put(&entry("c", 4)).unwrap();
        for round in 0..=POINT_LOOKUPS {
            let what = |key: &str| {
                reader
                    .get(Digest::of(key.as_bytes()))
                    .map(|e| e.duration_ms)
            };
            assert_eq!(what("a"), Some(3), "round {round}");
            assert_eq!(what("b"), None, "round {round}: removed");
            assert_eq!(what("c"), Some(4), "round {round}");
            assert_eq!(what("nothing"), None, "round {round}");
        }
        assert!(
            reader.inner.lock().unwrap().index.is_some(),
            "indexed by now"
        );
    }

    #[test]
    fn many_packs_are_merged_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_PACKS + 3 {
            ActionCache::new(dir.path())
                .put(&entry(&i.to_string(), i as u64))
                .unwrap();
        }
        let writer = ActionCache::new(dir.path());
        writer.put(&entry("last", 0)).unwrap();
        let packs = fs::read_dir(dir.path().join("ac")).unwrap().count();
        // Merged when the 65th writer came; the five after it added one each.
        assert_eq!(packs, 5);
        let reader = ActionCache::new(dir.path());
        assert_eq!(reader.list().len(), MAX_PACKS + 4);
        assert_eq!(reader.get(Digest::of(b"7")).unwrap().duration_ms, 7);
    }
}
