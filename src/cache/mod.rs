//! The build cache (SPEC §8): outputs by content, results by task key.
//!
//! After a task succeeds, its output files go to the content-addressed store
//! ([`cas::BlobStore`]) and an [`action::ActionResult`] records, under the task's key,
//! which output has which digest and mode. That is enough to restore the task anywhere
//! the key is the same: after an output was deleted or edited by hand, or in another
//! checkout (keys hold only project-relative paths), or on a CI runner that restored
//! `.cache`. Everything read from the cache is checked: entries must name only the
//! task's declared outputs, and blobs must hash to their names, so a damaged or
//! tampered cache costs a rerun, never a wrong output or a write outside the project.

pub(crate) mod action;
pub(crate) mod cas;
pub(crate) mod maintenance;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::hash::{Digest, KeyPreimage};
use crate::rules::check::CheckResult;
use crate::spec::{ProjectPath, Task};

pub(crate) use action::{ActionCache, ActionResult, CachedOutput, INLINE_MAX};
pub(crate) use cas::{BlobError, BlobStore};

/// The stores of one cache directory.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    pub(crate) blobs: BlobStore,
    pub(crate) actions: ActionCache,
}

impl Cache {
    pub(crate) fn new(cache_dir: &Path) -> Cache {
        Cache {
            blobs: BlobStore::new(cache_dir),
            actions: ActionCache::new(cache_dir),
        }
    }

    /// Record a run whose outputs are already in the CAS (see [`collect`]), with the
    /// verdicts of its checks.
    pub(crate) fn record(
        &self,
        key: Digest,
        preimage: &KeyPreimage,
        outputs: Vec<CachedOutput>,
        duration_ms: u64,
        checks: Vec<(Digest, CheckResult)>,
    ) -> io::Result<()> {
        self.actions.put(&ActionResult {
            key,
            outputs,
            exit_code: 0,
            duration_ms,
            preimage: preimage.clone(),
            checks,
        })
    }

    /// Add check verdicts to the entry of `key` (a rule changed since it was stored). A
    /// missing entry is left missing: the state still remembers the verdicts.
    pub(crate) fn add_verdicts(
        &self,
        key: Digest,
        verdicts: &[(Digest, CheckResult)],
    ) -> io::Result<()> {
        let Some(mut entry) = self.actions.get(key) else {
            return Ok(());
        };
        let before = entry.checks.len();
        let mut changed = false;
        for (check, verdict) in verdicts {
            match entry.checks.iter_mut().find(|(k, _)| k == check) {
                Some((_, known)) if known == verdict => {}
                Some((_, known)) => {
                    *known = verdict.clone();
                    changed = true;
                }
                None => entry.checks.push((*check, verdict.clone())),
            }
        }
        if !changed && entry.checks.len() == before {
            return Ok(());
        }
        self.actions.put(&entry)
    }

    /// Store a successful run: every output file as a blob, then the entry. Fails
    /// (storing nothing under the key) if an output changed since it was hashed.
    pub(crate) fn store(
        &self,
        root: &Path,
        key: Digest,
        preimage: &KeyPreimage,
        outputs: &[(String, Digest)],
        duration_ms: u64,
    ) -> Result<(), BlobError> {
        let mut cached = Vec::with_capacity(outputs.len());
        for (path, digest) in outputs {
            let full = root.join(path);
            let meta = fs::metadata(&full)?;
            let inline = if meta.len() <= INLINE_MAX {
                let bytes = fs::read(&full)?;
                if Digest::of(&bytes) != *digest {
                    return Err(BlobError::Corrupt);
                }
                Some(bytes)
            } else {
                self.blobs.put(&full, *digest)?;
                None
            };
            cached.push(CachedOutput {
                path: path.clone(),
                digest: *digest,
                mode: meta.permissions().mode() & 0o7777,
                inline,
            });
        }
        self.actions
            .put(&ActionResult {
                key,
                outputs: cached,
                exit_code: 0,
                duration_ms,
                preimage: preimage.clone(),
                checks: Vec::new(),
            })
            .map_err(BlobError::Io)
    }

    /// The entry for `key`, if it is sound for `task` (names only its declared outputs)
    /// and every blob it needs is present.
    pub(crate) fn lookup(&self, key: Digest, task: &Task) -> Option<ActionResult> {
        let entry = self.actions.get(key)?;
        let sound = entry
            .outputs
            .iter()
            .all(|o| declares(task, &o.path) && o.available(&self.blobs));
        let complete = task.outputs.iter().all(|declared| {
            declared.is_dir
                || entry
                    .outputs
                    .iter()
                    .any(|o| o.path == declared.path.as_str())
        });
        (sound && complete).then_some(entry)
    }

    /// Make the task's outputs on disk exactly the entry's: files that differ from
    /// `now` are copied out of the CAS (verified), files inside directory outputs that
    /// the entry does not list are removed. Returns how many files were restored.
    pub(crate) fn restore(
        &self,
        root: &Path,
        entry: &ActionResult,
        task: &Task,
        now: &[(String, Digest)],
    ) -> Result<usize, BlobError> {
        let mut restored = 0;
        // Both lists are sorted by path.
        for output in &entry.outputs {
            let current = now
                .binary_search_by(|(p, _)| p.as_str().cmp(&output.path))
                .ok()
                .map(|i| now[i].1);
            if current == Some(output.digest) {
                continue;
            }
            let target = root.join(&output.path);
            // A directory in the way (a file output that became a directory) goes.
            if target.is_dir() {
                fs::remove_dir_all(&target)?;
            }
            match &output.inline {
                Some(bytes) => BlobStore::write_inline(bytes, output.digest, &target, output.mode)?,
                None => self.blobs.get(output.digest, &target, output.mode)?,
            }
            restored += 1;
        }
        for (path, _) in now {
            let listed = entry
                .outputs
                .binary_search_by(|o| o.path.as_str().cmp(path))
                .is_ok();
            if !listed {
                match fs::remove_file(root.join(path)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(BlobError::Io(e)),
                    _ => restored += 1,
                }
            }
        }
        for declared in task.outputs.iter().filter(|o| o.is_dir) {
            fs::create_dir_all(declared.path.to_path(root))?;
        }
        self.actions.touch(entry.key);
        Ok(restored)
    }
}

/// A task's outputs right after it ran, looked at by the worker that ran it: every file
/// stat'ed and hashed, small ones read for their cache entry, larger ones copied into
/// the CAS, so the coordinator only records.
#[derive(Debug)]
pub(crate) struct Collected {
    /// Each file of the outputs (directory outputs walked).
    pub(crate) files: Vec<CollectedFile>,
    /// Declared directory outputs that do not exist.
    pub(crate) missing_dirs: Vec<String>,
    /// When the look started (for the stat cache's racy rule).
    pub(crate) started_ns: i64,
    /// Every file is in the CAS or inline, under the digest it was hashed to.
    pub(crate) stored: bool,
}

/// One output file as a run left it.
#[derive(Debug)]
pub(crate) struct CollectedFile {
    pub(crate) path: ProjectPath,
    pub(crate) found: crate::scan::Found,
    /// Unix permission bits.
    pub(crate) mode: u32,
    /// The contents of a file of at most [`INLINE_MAX`] bytes, for its cache entry.
    pub(crate) inline: Option<Vec<u8>>,
}

/// Look at and store `outputs` (a task's declared outputs) under `root`.
pub(crate) fn collect(
    root: &crate::scan::Root,
    outputs: &[crate::spec::Output],
    blobs: &BlobStore,
) -> Collected {
    let started_ns = crate::scan::now_ns();
    let mut paths = Vec::new();
    let mut missing_dirs = Vec::new();
    for output in outputs {
        if !output.is_dir {
            paths.push(output.path.clone());
        } else if output.path.to_path(&root.path).is_dir() {
            paths.extend(crate::scan::walk_files(
                &root.path,
                output.path.as_str(),
                &[],
            ));
        } else {
            missing_dirs.push(output.display());
        }
    }
    let mut stored = true;
    let files = paths
        .into_iter()
        .map(|path| {
            let full = path.to_path(&root.path);
            let (found, mode, inline) = crate::scan::look_written(&full, root, INLINE_MAX)
                .unwrap_or((crate::scan::Found::Missing, 0o644, None));
            if inline.is_none()
                && let Some(digest) = found.digest()
            {
                // The copy is verified against the digest: a file that changed since
                // it was hashed is not cached.
                stored &= blobs.put(&full, digest).is_ok();
            }
            CollectedFile {
                path,
                found,
                mode,
                inline,
            }
        })
        .collect();
    Collected {
        files,
        missing_dirs,
        started_ns,
        stored,
    }
}

/// Whether `path` is one of the task's declared outputs or inside a directory output.
fn declares(task: &Task, path: &str) -> bool {
    let Ok(path) = ProjectPath::try_from(path.to_owned()) else {
        return false;
    };
    task.outputs
        .iter()
        .any(|o| o.path == path || (o.is_dir && path.ancestors().any(|a| a == o.path.as_str())))
}
