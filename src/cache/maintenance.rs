//! `conduct cache stats | gc | verify`: looking after the cache as a whole.
//!
//! `gc` evicts least recently used entries (an entry's last use is the time of the pack
//! it was last written to) until the
//! cache fits the bound, and never an entry the current state needs: those are what
//! make the current checkout fresh or restorable. A blob goes when no remaining entry
//! names it. `verify` rehashes every blob (in parallel) and drops the corrupt ones and
//! every entry that can no longer be restored.

use std::io;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cache::{BlobError, Cache};
use crate::hash::Digest;

/// Sizes of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) entries: usize,
    pub(crate) blobs: usize,
    pub(crate) bytes: u64,
}

pub(crate) fn stats(cache: &Cache) -> Stats {
    let entries = cache.actions.list();
    let blobs = cache.blobs.list();
    Stats {
        entries: entries.len(),
        blobs: blobs.len(),
        bytes: entries.iter().map(|e| e.1).sum::<u64>() + blobs.iter().map(|b| b.1).sum::<u64>(),
    }
}

/// What `gc` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GcReport {
    pub(crate) before: u64,
    pub(crate) after: u64,
    pub(crate) removed_entries: usize,
    pub(crate) removed_blobs: usize,
    /// Bytes the current state needs, which `gc` keeps whatever the bound.
    pub(crate) needed: u64,
}

/// Evict until the cache is at most `max_bytes`, keeping the entries of `live` keys.
pub(crate) fn gc(cache: &Cache, max_bytes: u64, live: &FxHashSet<Digest>) -> io::Result<GcReport> {
    let mut entries = cache.actions.list();
    let blob_sizes: FxHashMap<Digest, u64> = cache.blobs.list().into_iter().collect();
    let mut refs: FxHashMap<Digest, usize> = FxHashMap::default();
    let mut entry_blobs: FxHashMap<Digest, Vec<Digest>> = FxHashMap::default();
    for (key, _, _) in &entries {
        let blobs: Vec<Digest> = cache
            .actions
            .get(*key)
            .map(|e| e.outputs.iter().filter_map(|o| o.blob()).collect())
            .unwrap_or_default();
        for blob in &blobs {
            *refs.entry(*blob).or_default() += 1;
        }
        entry_blobs.insert(*key, blobs);
    }
    let mut report = GcReport {
        before: entries.iter().map(|e| e.1).sum::<u64>() + blob_sizes.values().sum::<u64>(),
        ..GcReport::default()
    };
    let mut total = report.before;
    let mut needed_blobs: FxHashSet<Digest> = FxHashSet::default();
    for (key, size, _) in entries.iter().filter(|e| live.contains(&e.0)) {
        report.needed += size;
        needed_blobs.extend(entry_blobs[key].iter().copied());
    }
    report.needed += needed_blobs
        .iter()
        .map(|b| blob_sizes.get(b).copied().unwrap_or(0))
        .sum::<u64>();
    // Blobs no entry names are garbage whatever the bound.
    for (blob, size) in &blob_sizes {
        if !refs.contains_key(blob) {
            cache.blobs.remove(*blob)?;
            total -= size;
            report.removed_blobs += 1;
        }
    }
    entries.retain(|e| !live.contains(&e.0));
    entries.sort_by_key(|e| e.2);
    for (key, size, _) in entries {
        if total <= max_bytes {
            break;
        }
        cache.actions.remove(key)?;
        total -= size;
        report.removed_entries += 1;
        for blob in &entry_blobs[&key] {
            let count = refs.entry(*blob).or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                cache.blobs.remove(*blob)?;
                total -= blob_sizes.get(blob).copied().unwrap_or(0);
                report.removed_blobs += 1;
            }
        }
    }
    if report.removed_entries > 0 {
        cache.actions.compact()?;
    }
    report.after = total;
    Ok(report)
}

/// What `verify` found (and removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VerifyReport {
    pub(crate) blobs: usize,
    pub(crate) entries: usize,
    pub(crate) corrupt_blobs: Vec<Digest>,
    pub(crate) broken_entries: Vec<Digest>,
    /// Entries whose record failed its checksum.
    pub(crate) damaged_entries: Vec<Digest>,
}

pub(crate) fn verify(cache: &Cache) -> io::Result<VerifyReport> {
    let blobs = cache.blobs.list();
    let checked: Vec<(Digest, Result<(), BlobError>)> = crate::cores::parallel(|| {
        blobs
            .par_iter()
            .map(|&(digest, _)| (digest, cache.blobs.check(digest)))
            .collect()
    });
    let mut report = VerifyReport {
        blobs: blobs.len(),
        ..VerifyReport::default()
    };
    for (digest, result) in checked {
        match result {
            Ok(()) => {}
            Err(BlobError::Io(e)) => return Err(e),
            Err(_) => {
                cache.blobs.remove(digest)?;
                report.corrupt_blobs.push(digest);
            }
        }
    }
    let entries = cache.actions.list();
    report.entries = entries.len();
    for (key, _, _) in entries {
        let restorable = match cache.actions.read(key) {
            Err(_) => {
                cache.actions.remove(key)?;
                report.damaged_entries.push(key);
                continue;
            }
            Ok(entry) => entry.is_some_and(|e| {
                e.outputs
                    .iter()
                    .all(|o| o.available(&cache.blobs) && o.link_stays_inside())
            }),
        };
        if !restorable {
            cache.actions.remove(key)?;
            report.broken_entries.push(key);
        }
    }
    // Reported here, not again as a warning.
    cache.actions.take_damaged();
    if !report.broken_entries.is_empty() || !report.damaged_entries.is_empty() {
        cache.actions.compact()?;
    }
    report.corrupt_blobs.sort();
    report.broken_entries.sort();
    report.damaged_entries.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::KeyPreimage;

    /// A cache with one entry per (key, content), stored oldest first.
    fn cache_with(dir: &std::path::Path, runs: &[(&str, &str)]) -> (Cache, Vec<Digest>) {
        std::fs::create_dir_all(dir.join(".cache")).unwrap();
        let cache = Cache::new(&dir.join(".cache"));
        let mut keys = Vec::new();
        for (i, (key, content)) in runs.iter().enumerate() {
            let bytes = content.as_bytes();
            let digest = Digest::of(bytes);
            let inline = (bytes.len() as u64 <= crate::cache::INLINE_MAX).then(|| bytes.to_vec());
            if inline.is_none() {
                cache.blobs.put_from(&mut &bytes[..], digest).unwrap();
            }
            let key = Digest::of(key.as_bytes());
            cache
                .actions
                .put(&crate::cache::ActionResult {
                    key,
                    outputs: vec![crate::cache::CachedOutput {
                        path: format!("out{i}.txt"),
                        digest,
                        mode: 0o644,
                        inline,
                        link: None,
                    }],
                    exit_code: 0,
                    duration_ms: 1,
                    preimage: KeyPreimage::empty(),
                    checks: Vec::new(),
                    discovered: Vec::new(),
                    agent_cost_usd: None,
                })
                .unwrap();
            let used =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64);
            let pack = cache.actions.seal().unwrap();
            std::fs::File::options()
                .append(true)
                .open(pack)
                .unwrap()
                .set_modified(used)
                .unwrap();
            keys.push(key);
        }
        (cache, keys)
    }

    #[test]
    fn gc_evicts_least_recently_used_but_never_what_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(20_000);
        let (cache, keys) = cache_with(
            dir.path(),
            &[("old", &big), ("needed", &big), ("new", &big)],
        );
        let before = stats(&cache);
        assert_eq!(
            (before.entries, before.blobs),
            (3, 1),
            "one blob shared by three entries"
        );
        let live: FxHashSet<Digest> = [keys[1]].into_iter().collect();
        let report = gc(&cache, 0, &live).unwrap();
        assert_eq!(report.removed_entries, 2);
        assert_eq!(
            report.removed_blobs, 0,
            "the needed entry still names the blob"
        );
        assert!(cache.actions.get(keys[1]).is_some());
        assert_eq!(report.after, report.needed);
        assert_eq!(stats(&cache).bytes, report.after);
    }

    #[test]
    fn gc_stops_at_the_bound_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, keys) = cache_with(
            dir.path(),
            &[("a", &"a".repeat(5000)), ("b", &"b".repeat(5000))],
        );
        let total = stats(&cache).bytes;
        let report = gc(&cache, total - 1, &FxHashSet::default()).unwrap();
        assert_eq!(report.removed_entries, 1);
        assert!(cache.actions.get(keys[0]).is_none(), "the older one went");
        assert!(cache.actions.get(keys[1]).is_some());
        assert!(report.after < total);
    }

    #[test]
    fn verify_drops_corrupt_blobs_and_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ("a".repeat(20_000), "b".repeat(20_000));
        let (cache, keys) = cache_with(dir.path(), &[("a", &a), ("b", &b), ("small", "ccc")]);
        assert_eq!(stats(&cache).blobs, 2, "the small output is inline");
        let bad = Digest::of(a.as_bytes());
        let mut bytes = std::fs::read(cache.blobs.path(bad)).unwrap();
        bytes[1] ^= 0x20;
        std::fs::write(cache.blobs.path(bad), bytes).unwrap();
        // An inline output whose bytes no longer match its digest.
        let mut tampered = cache.actions.get(keys[2]).unwrap();
        tampered.outputs[0].inline = Some(b"ccd".to_vec());
        cache.actions.put(&tampered).unwrap();
        let report = verify(&cache).unwrap();
        assert_eq!(report.corrupt_blobs, [bad]);
        let mut broken = vec![keys[0], keys[2]];
        broken.sort();
        assert_eq!(report.broken_entries, broken);
        assert_eq!(
            verify(&cache).unwrap().corrupt_blobs,
            Vec::<Digest>::new(),
            "clean after"
        );
    }
}
