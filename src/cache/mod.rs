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
pub(crate) mod dir;
pub(crate) mod maintenance;
pub(crate) mod remote;

use std::io;
use std::path::{Path, PathBuf};

use crate::confined::Dir;
use crate::discovered::Discovered;
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
    /// Shared with other machines, when configured (see `remote`).
    pub(crate) remote: Option<std::sync::Arc<remote::client::Remote>>,
}

impl Cache {
    pub(crate) fn new(cache_dir: &Path) -> Cache {
        Cache {
            blobs: BlobStore::new(cache_dir),
            actions: ActionCache::new(cache_dir),
            remote: None,
        }
    }

    /// Fetch the remote's entries for `keys` that are not local yet, a few at a time in
    /// parallel (bounded: never one connection per task), into the local cache.
    pub(crate) fn prefetch(&self, keys: &[Digest]) {
        if self.remote.is_none() {
            return;
        }
        let missing: Vec<Digest> = keys
            .iter()
            .copied()
            .filter(|&key| self.actions.get(key).is_none())
            .collect();
        if missing.len() < 2 {
            return;
        }
        remote::each_at_once(&missing, |&key| {
            let _ = self.action(key);
        });
    }

    /// The entry for `key`: local, else the remote's (verified, then kept locally).
    fn action(&self, key: Digest) -> Option<ActionResult> {
        if let Some(entry) = self.actions.get(key) {
            return Some(entry);
        }
        let entry = self.remote.as_ref()?.fetch(key)?;
        // Kept locally: the next lookup needs no round trip.
        let _ = self.actions.put(&entry);
        Some(entry)
    }

    /// Record a successful run (`entry`) whose outputs are already in the CAS (see
    /// [`collect`]), with the verdicts of its checks.
    pub(crate) fn record(&self, entry: ActionResult) -> io::Result<()> {
        self.actions.put(&entry)?;
        if let Some(remote) = &self.remote {
            remote.upload(&entry);
        }
        let (preimage, discovered) = (&entry.preimage, &entry.discovered);
        if discovered.is_empty() {
            return Ok(());
        }
        // Which files the run read, under the declared key: how another checkout finds
        // the key this result is stored under.
        let manifest = ActionResult {
            key: crate::discovered::manifest_key(preimage.key()),
            outputs: Vec::new(),
            exit_code: 0,
            duration_ms: 0,
            preimage: preimage.clone(),
            checks: Vec::new(),
            discovered: discovered
                .iter()
                .map(|(path, _)| (path.clone(), None))
                .collect(),
            agent_cost_usd: None,
        };
        self.actions.put(&manifest)?;
        if let Some(remote) = &self.remote {
            remote.upload(&manifest);
        }
        Ok(())
    }

    /// The files the last recorded run of the declared key `declared` read, as its
    /// depfile named them (`None`: no run of it read anything the cache knows of).
    pub(crate) fn discovered_for(&self, declared: Digest) -> Option<Vec<String>> {
        let manifest = self.action(crate::discovered::manifest_key(declared))?;
        let paths: Vec<String> = manifest
            .discovered
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        (!paths.is_empty()).then_some(paths)
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

    /// Store what `task`'s outputs are now under `key` (`conduct accept`): every file
    /// as a blob or inline, then the entry. Returns the outputs recorded.
    pub(crate) fn store(
        &self,
        root: &crate::confined::Root,
        key: Digest,
        preimage: &KeyPreimage,
        task: &Task,
        duration_ms: u64,
        discovered: &[Discovered],
    ) -> Result<Vec<(String, Digest)>, BlobError> {
        let collected = collect(root, &task.outputs, &self.blobs);
        if !collected.stored {
            return Err(BlobError::Corrupt);
        }
        let outputs = collected.cached_outputs();
        let recorded = outputs.iter().map(|o| (o.path.clone(), o.digest)).collect();
        self.actions
            .put(&ActionResult {
                key,
                outputs,
                exit_code: 0,
                duration_ms,
                preimage: preimage.clone(),
                checks: Vec::new(),
                discovered: discovered.to_vec(),
                agent_cost_usd: None,
            })
            .map_err(BlobError::Io)?;
        Ok(recorded)
    }

    /// The entry for `key`, if it is sound for `task` (names only its declared outputs,
    /// symlinks only inside the project) and every blob it needs is present.
    pub(crate) fn lookup(&self, key: Digest, task: &Task) -> Option<ActionResult> {
        let entry = self.action(key)?;
        let sound = entry
            .outputs
            .iter()
            .all(|o| declares(task, &o.path) && o.available(&self.blobs) && o.link_stays_inside());
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
    /// Nothing is written through a symlink or outside the project (see `confined`).
    pub(crate) fn restore(
        &self,
        root: &crate::confined::Root,
        entry: &ActionResult,
        task: &Task,
        now: &[(String, Digest)],
    ) -> Result<usize, BlobError> {
        self.place(root, &entry.outputs, task, now, From::Cache)?;
        self.actions.touch(entry.key);
        Ok(restored_count(&entry.outputs, now))
    }

    /// Write `outputs` (a cache entry's, or a worktree run's) into `root` for `task`,
    /// leaving what already matches `now`.
    pub(crate) fn place(
        &self,
        root: &crate::confined::Root,
        outputs: &[CachedOutput],
        task: &Task,
        now: &[(String, Digest)],
        from: From<'_>,
    ) -> Result<(), BlobError> {
        let mut dirs = Dirs::new(root, task);
        // Both lists are sorted by path.
        for output in outputs {
            let current = now
                .binary_search_by(|(p, _)| p.as_str().cmp(&output.path))
                .ok()
                .map(|i| now[i].1);
            if current == Some(output.digest) {
                continue;
            }
            let (dir, name) = dirs.parent_of(&output.path, true)?;
            if let Some(target) = &output.link {
                dir.symlink(name, target)?;
                continue;
            }
            match (&output.inline, from) {
                (Some(bytes), _) => dir.write_verified(
                    name,
                    &mut &bytes[..],
                    output.digest,
                    Some(output.mode),
                    self.blobs.temp(),
                )?,
                (None, From::Cache) => self.blobs.get(output.digest, dir, name, output.mode)?,
                (None, From::Worktree(made_in)) => {
                    let path = ProjectPath::try_from(output.path.clone())
                        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
                    let mut file = crate::confined::open_no_follow(&path.to_path(made_in))?;
                    dir.write_verified(
                        name,
                        &mut file,
                        output.digest,
                        Some(output.mode),
                        self.blobs.temp(),
                    )?;
                }
            }
        }
        for (path, _) in now {
            let listed = outputs
                .binary_search_by(|o| o.path.as_str().cmp(path))
                .is_ok();
            if !listed && let Ok((dir, name)) = dirs.parent_of(path, false) {
                dir.remove(name)?;
            }
        }
        for declared in task.outputs.iter().filter(|o| o.is_dir) {
            dirs.declared_dir(&declared.path)?;
        }
        Ok(())
    }
}

/// Where [`Cache::place`] takes the contents of outputs that are not inline.
#[derive(Debug, Clone, Copy)]
pub(crate) enum From<'a> {
    /// The CAS.
    Cache,
    /// The files themselves, in the worktree the task ran in (verified all the same).
    Worktree(&'a Path),
}

/// How many of `outputs` differ from `now`, and how many of `now` are not in
/// `outputs`: what a restore changed.
fn restored_count(outputs: &[CachedOutput], now: &[(String, Digest)]) -> usize {
    let changed = outputs
        .iter()
        .filter(|o| {
            now.binary_search_by(|(p, _)| p.as_str().cmp(&o.path))
                .ok()
                .is_none_or(|i| now[i].1 != o.digest)
        })
        .count();
    let removed = now
        .iter()
        .filter(|(p, _)| {
            outputs
                .binary_search_by(|o| o.path.as_str().cmp(p))
                .is_err()
        })
        .count();
    changed + removed
}

/// The directories a restore writes into, opened once each: a declared output's
/// parent through [`Dir::anchor`] (following only symlinks that stay inside), and below
/// it, inside the output, without following anything.
struct Dirs<'a> {
    root: &'a crate::confined::Root,
    task: &'a Task,
    open: rustc_hash::FxHashMap<String, Dir>,
}

impl<'a> Dirs<'a> {
    fn new(root: &'a crate::confined::Root, task: &'a Task) -> Dirs<'a> {
        Dirs {
            root,
            task,
            open: rustc_hash::FxHashMap::default(),
        }
    }

    /// The directory `path` (an output file) goes into, and its file name; directories
    /// are made (and symlinks or files in their way replaced) when `make`.
    fn parent_of<'p>(&mut self, path: &'p str, make: bool) -> Result<(&Dir, &'p str), BlobError> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        if !self.open.contains_key(parent) {
            let dir = self.open_dir(path, parent, make)?;
            self.open.insert(parent.to_owned(), dir);
        }
        let dir = self
            .open
            .get(parent)
            .ok_or_else(|| BlobError::Io(std::io::Error::other("no directory")))?;
        Ok((dir, name))
    }

    fn open_dir(&self, path: &str, parent: &str, make: bool) -> Result<Dir, BlobError> {
        let declared = self
            .task
            .outputs
            .iter()
            .find(|o| {
                o.path.as_str() == path || (o.is_dir && path.starts_with(&format!("{}/", o.path)))
            })
            .ok_or_else(|| {
                BlobError::Io(std::io::Error::other(format!(
                    "{path} is not an output of the task"
                )))
            })?;
        // Up to the declared output: the project's directories. From it down: the output's.
        let above = declared.path.ancestors().next().unwrap_or("");
        let below = parent
            .strip_prefix(above)
            .map(|rest| rest.trim_start_matches('/'))
            .unwrap_or("");
        let anchor = Dir::anchor(self.root, above)?;
        if below.is_empty() {
            return Ok(anchor);
        }
        if make {
            Ok(anchor.inner(below, true)?)
        } else {
            Ok(anchor.inner(below, false)?)
        }
    }

    /// Make sure a declared directory output exists as a real directory.
    fn declared_dir(&mut self, path: &ProjectPath) -> Result<(), BlobError> {
        let (above, name) = path
            .as_str()
            .rsplit_once('/')
            .unwrap_or(("", path.as_str()));
        Dir::anchor(self.root, above)?.inner(name, true)?;
        Ok(())
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
    /// Outputs that are, or lie behind, a symlink leading out of the project: the task
    /// fails with these (`(output, where it leads)`), nothing of them is read.
    pub(crate) outside: Vec<(String, PathBuf)>,
    /// When the look started (for the stat cache's racy rule).
    pub(crate) started_ns: i64,
    /// Every file is in the CAS or inline, under the digest it was hashed to.
    pub(crate) stored: bool,
}

impl Collected {
    /// The outputs as a cache entry lists them, sorted by path.
    pub(crate) fn cached_outputs(&self) -> Vec<CachedOutput> {
        let mut outputs: Vec<CachedOutput> = self
            .files
            .iter()
            .filter_map(|file| {
                let digest = file.found.digest()?;
                let link = match &file.found {
                    crate::scan::Found::Link { target, .. } => Some(target.clone()),
                    _ => None,
                };
                Some(CachedOutput {
                    path: file.path.to_string(),
                    digest,
                    mode: file.mode,
                    inline: file.inline.clone(),
                    link,
                })
            })
            .collect();
        outputs.sort_by(|a, b| a.path.cmp(&b.path));
        outputs
    }
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

/// Look at and store `outputs` (a task's declared outputs) under `root`. Nothing is
/// read through a symlink: an output that is one is kept as one when it stays inside
/// the project, and one leading out (or an output whose directory leads out) is
/// reported in `outside` and not read.
pub(crate) fn collect(
    root: &crate::confined::Root,
    outputs: &[crate::spec::Output],
    blobs: &BlobStore,
) -> Collected {
    let started_ns = crate::scan::now_ns();
    let mut paths = Vec::new();
    let mut missing_dirs = Vec::new();
    let mut outside = Vec::new();
    for output in outputs {
        if let Some(target) = parent_outside(root, &output.path) {
            outside.push((output.display(), target));
            continue;
        }
        let full = output.path.to_path(&root.path);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let crate::scan::Found::Outside { target } =
                    crate::scan::link(&output.path, &full, root)
                {
                    outside.push((output.display(), target));
                } else {
                    paths.push(output.path.clone());
                }
            }
            Ok(meta) if output.is_dir && meta.is_dir() => {
                paths.extend(crate::scan::walk_files(
                    &root.path,
                    output.path.as_str(),
                    &[],
                ));
            }
            Ok(meta) if output.is_dir && !meta.file_type().is_symlink() => {
                missing_dirs.push(output.display());
            }
            Err(_) if output.is_dir => missing_dirs.push(output.display()),
            _ => paths.push(output.path.clone()),
        }
    }
    let mut stored = true;
    let files = paths
        .into_iter()
        .filter_map(|path| {
            let (found, mode, inline) = crate::scan::look_written(&path, root, INLINE_MAX)
                .unwrap_or((crate::scan::Found::Missing, 0o644, None));
            if let crate::scan::Found::Outside { target } = &found {
                outside.push((path.to_string(), target.clone()));
                return None;
            }
            if inline.is_none()
                && let crate::scan::Found::File { digest, .. } = &found
            {
                // The copy is verified against the digest: a file that changed since
                // it was hashed is not cached.
                stored &= blobs.put(&path.to_path(&root.path), *digest).is_ok();
            }
            Some(CollectedFile {
                path,
                found,
                mode,
                inline,
            })
        })
        .collect();
    Collected {
        files,
        missing_dirs,
        outside,
        started_ns,
        stored,
    }
}

/// Where the directory holding `path` leads, if out of the project (a task may have
/// made `out` a symlink to `/etc`). Only a symlink on the way is resolved: one `lstat`
/// per directory of the project above the output.
fn parent_outside(root: &crate::confined::Root, path: &ProjectPath) -> Option<PathBuf> {
    let parent = path.ancestors().next()?;
    let linked = parent
        .match_indices('/')
        .map(|(i, _)| &parent[..i])
        .chain([parent])
        .any(|dir| {
            std::fs::symlink_metadata(root.path.join(dir)).is_ok_and(|m| m.file_type().is_symlink())
        });
    if !linked {
        return None;
    }
    let resolved = std::fs::canonicalize(root.path.join(parent)).ok()?;
    let inside = root.canonical().is_none_or(|r| resolved.starts_with(r));
    (!inside).then_some(resolved)
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
