//! An open project for the commands that look at freshness: `build`, `accept`, `list`,
//! `status`. A [`Session`] lives as long as the process (a `watch` holds one across
//! many builds): the loaded config in salsa, the state, the cache. Each build is a
//! `Round`: `prepare` scans the disk for the selected tasks (step 3 of DESIGN "How
//! one build flows") and the round decides and settles tasks against what it found,
//! asking salsa for the pre-image and `fresh.rs` for the verdict. Nothing of one build
//! is left in the session when its round ends.
//!
//! The session owns the database; nothing else touches it. Inputs are set here, between
//! queries, and only when they changed.

pub(crate) mod memo;
pub(crate) mod remote;
pub(crate) mod round;

use std::path::Path;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::cache::{ActionResult, BlobError, Cache, CachedOutput, Collected};
use crate::confined::Root;
use crate::db::{self, BuildInput, Database, Db, KeyError};
use crate::discovered::Discovered;
use crate::error::Error;
use crate::explain::{Reason, RunStatus};
use crate::fresh;
use crate::fresh::checks::PlannedCheck;
use crate::hash::{Digest, KeyPreimage};
use crate::project::Loaded;
use crate::project::Locator;
use crate::project::open::{self, Access, Site};
use crate::rules::check;
use crate::scan::{self, Found, OutputsNow};
use crate::spec::section::Outline;
use crate::spec::{ProjectPath, TaskIdx};
use crate::state::journal::Journal;
use crate::state::started::Started;
use crate::state::{BuildCounts, LastRun, State, Success, TaskState};

pub(crate) use remote::RemoteSettings;

/// An open project (see the module's text).
pub(crate) struct Session {
    site: Site,
    db: Database,
    /// The salsa input of everything a build's keys are made of but files.
    inputs: BuildInput,
    cache: Cache,
    journal: Journal,
    /// `check::rule_digest` of every rule, by position.
    rule_digests: Vec<Digest>,
    /// What was found damaged and ignored, for the command to report.
    warnings: Vec<String>,
    /// Which tasks this build started (see `state::started`).
    started: Started,
    /// What a watcher says may have changed since the last build of this session: the
    /// next `prepare` looks only at these, and takes the rest from the stat cache.
    changes: Option<FxHashSet<String>>,
    /// What the last scan found of the selected tasks' sources (see `memo`).
    memo: Option<memo::ScanMemo>,
}

/// How long a build waits at its end for uploads to the remote.
const REMOTE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// The remote cache this run uses (see [`RemoteSettings`]); none in mode `off`. One
/// that cannot be used is a warning, not an error.
fn remote(
    locator: &Locator,
    site: &Site,
    cache: &Cache,
    warnings: &mut Vec<String>,
) -> Option<Arc<crate::cache::remote::client::Remote>> {
    let settings = RemoteSettings::resolve(locator, &site.loaded.spec.project)?;
    if settings.mode == crate::cache::remote::Mode::Off {
        return None;
    }
    match settings.open(cache.blobs.clone()) {
        Ok(remote) => Some(Arc::new(remote)),
        Err(e) => {
            warnings.push(format!("remote cache: {e}; going on without it"));
            None
        }
    }
}

impl Session {
    /// Load the project at `locator`; with `Access::Write`, wait for the cache lock.
    pub(crate) fn open(locator: &Locator, access: Access) -> Result<Session, Error> {
        let opened = open::open(locator, access)?;
        let site = opened.site;
        let inputs = BuildInput::new(&opened.db, opened.config, Vec::new(), site.hash_env.clone());
        let mut journal = opened.journal;
        let started = Started::read(&site.cache_dir);
        // A build was killed while these ran: what their outputs hold is its doing.
        for id in started.left() {
            if journal.state().tasks.contains_key(id) {
                journal.task_mut(id).last_run = Some(Box::new(LastRun {
                    status: RunStatus::Interrupted,
                    duration_ms: 0,
                    attempts: 1,
                    reasons: Vec::new(),
                    finished_at: crate::state::now_secs(),
                    cluster: None,
                    key: None,
                    flaky: false,
                    agent: None,
                }));
            }
        }
        let mut warnings = opened.warnings;
        let mut cache = Cache::new(&site.cache_dir);
        cache.remote = remote(locator, &site, &cache, &mut warnings);
        Ok(Session {
            cache,
            rule_digests: site.loaded.rules.iter().map(check::rule_digest).collect(),
            site,
            db: opened.db,
            inputs,
            journal,
            warnings,
            started,
            changes: None,
            memo: None,
        })
    }

    pub(crate) fn loaded(&self) -> &Arc<Loaded> {
        &self.site.loaded
    }

    pub(crate) fn root(&self) -> &Root {
        &self.site.root
    }

    /// Where the cache is (`.cache/` unless the config says otherwise).
    pub(crate) fn cache_dir(&self) -> &Path {
        &self.site.cache_dir
    }

    pub(crate) fn state(&self) -> &State {
        self.journal.state()
    }

    /// The last time `task` actually ran, if it has.
    pub(crate) fn last_run(&self, task: TaskIdx) -> Option<&LastRun> {
        let id = self.site.loaded.spec.task(task).id.as_str();
        self.state().tasks.get(id)?.last_run.as_deref()
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
    }

    fn look(&mut self, paths: &[ProjectPath], mode: scan::As) -> Vec<Found> {
        look(&self.site.root, &mut self.journal, paths, mode, None)
    }

    /// A watcher saw every change since the last build of this session, and these are
    /// they (project-relative): the next build's scan stats only these and takes every
    /// other file as the stat cache has it, so an edit costs what it touched, not a
    /// scan of the project. Only the scan trusts it: what a build looks at later (an
    /// input after its task ran) is looked at on disk.
    pub(crate) fn expect_changes(&mut self, changed: FxHashSet<String>) {
        self.changes = Some(changed);
    }

    /// Look at `paths` on disk and remember them in the stat cache (a watcher deciding
    /// whether a touched file changed: the build it then starts finds it there and does
    /// not hash it again).
    pub(crate) fn look_at(&mut self, paths: &[ProjectPath], mode: scan::As) -> Vec<Found> {
        self.look(paths, mode)
    }

    /// Look at the outputs of `tasks` and remember them, so a watcher can tell what
    /// they wrote (even in a failed run) from a later hand edit.
    pub(crate) fn remember_outputs(&mut self, tasks: &[TaskIdx]) {
        for &task in tasks {
            self.look_at_outputs(task);
        }
    }

    /// A task's declared outputs as they are on disk now.
    fn look_at_outputs(&mut self, task: TaskIdx) -> OutputsNow {
        let loaded = Arc::clone(&self.site.loaded);
        let t = loaded.spec.task(task);
        let mut paths = Vec::new();
        let missing_dirs = scan::output_files(&self.site.root.path, t, &mut paths);
        let found = self.look(&paths, scan::As::Output);
        scan::outputs_now(t, &paths, &found, missing_dirs)
    }

    /// The checks `task`'s `outputs` are due, and the verdicts already known (see
    /// `fresh::checks`).
    pub(crate) fn plan_checks(
        &self,
        task: TaskIdx,
        outputs: &[(String, Digest)],
    ) -> Vec<PlannedCheck> {
        let loaded = &self.site.loaded;
        let t = loaded.spec.task(task);
        let recorded = self.journal.state().tasks.get(t.id.as_str());
        let success = recorded.and_then(|s| s.success.as_ref()).map(|s| s.key);
        fresh::checks::plan(
            &loaded.rules,
            &self.rule_digests,
            t,
            recorded,
            outputs,
            &mut || {
                success
                    .and_then(|key| self.cache.actions.get(key))
                    .map(|entry| entry.checks)
                    .unwrap_or_default()
            },
        )
    }

    /// Take in what the worker found after a run (see `cache::collect`): remember the
    /// stats, and give the outputs as a look would.
    pub(crate) fn outputs_after_run(&mut self, task: TaskIdx, collected: &Collected) -> OutputsNow {
        let mut paths = Vec::with_capacity(collected.files.len());
        let mut found = Vec::with_capacity(collected.files.len());
        for file in &collected.files {
            self.journal
                .remember(file.path.as_str(), &file.found, collected.started_ns);
            paths.push(file.path.clone());
            found.push(file.found.clone());
        }
        let t = self.site.loaded.spec.task(task);
        scan::outputs_now(t, &paths, &found, collected.missing_dirs.clone())
    }

    /// What a successful run left for the action cache: its outputs, whose blobs the
    /// worker stored, or why it cannot be cached.
    pub(crate) fn cached_outputs(collected: &Collected) -> Result<Vec<CachedOutput>, String> {
        if !collected.stored {
            return Err("an output changed while it was stored".to_owned());
        }
        Ok(collected.cached_outputs())
    }

    /// Record a successful run and its checks' verdicts in the action cache, with what
    /// its depfile named (`discovered`, already part of its key).
    pub(crate) fn record_run(&self, entry: ActionResult) -> Result<(), String> {
        self.cache.record(entry).map_err(|e| e.to_string())
    }

    /// Whether the task's source inputs still have the digests its run started with:
    /// `Some(path)` names the first that changed.
    pub(crate) fn inputs_unchanged(
        &mut self,
        task: TaskIdx,
        preimage: &KeyPreimage,
    ) -> Option<String> {
        let paths = db::source_inputs(&self.db, self.inputs, task).clone();
        let found = self.look(&paths, scan::As::Input);
        paths.iter().zip(found).find_map(|(path, found)| {
            let before = preimage
                .inputs
                .binary_search_by(|(p, _)| p.as_str().cmp(path.as_str()))
                .ok()
                .map(|i| preimage.inputs[i].1);
            (found.digest() != before).then(|| path.to_string())
        })
    }

    /// The text of a section, for instruction files.
    pub(crate) fn section_text(&self, file: &ProjectPath, section: &str) -> Option<String> {
        let text = self.db.file_text(file)?.text(&self.db).as_ref()?;
        let range = Outline::parse(text).find(section).ok()?;
        Some(text[range].to_owned())
    }

    /// Put a task's outputs back from a cache entry and record it as a success.
    /// Returns how many files were restored, or why the entry could not be used (then
    /// its bad blob is dropped, so the rerun can store a good one).
    pub(crate) fn restore(
        &mut self,
        task: TaskIdx,
        entry: &ActionResult,
        now: &OutputsNow,
        reasons: Vec<Reason>,
    ) -> Result<usize, BlobError> {
        let loaded = Arc::clone(&self.site.loaded);
        let t = loaded.spec.task(task);
        match self.cache.restore(&self.site.root, entry, t, &now.files) {
            Ok(restored) => {
                let outputs = entry
                    .outputs
                    .iter()
                    .map(|o| (o.path.clone(), o.digest))
                    .collect();
                let state = self.journal.task_mut(t.id.as_str());
                state.success = Some(Success {
                    key: entry.key,
                    outputs,
                    duration_ms: entry.duration_ms,
                    discovered: entry.discovered.clone(),
                });
                state.last_run = Some(Box::new(LastRun {
                    status: RunStatus::Ok,
                    duration_ms: 0,
                    attempts: 0,
                    reasons,
                    finished_at: crate::state::now_secs(),
                    cluster: None,
                    key: None,
                    flaky: false,
                    agent: None,
                }));
                Ok(restored)
            }
            Err(error) => {
                if let BlobError::Corrupt = error {
                    for output in &entry.outputs {
                        if self.cache.blobs.check(output.digest).is_err() {
                            let _ = self.cache.blobs.remove(output.digest);
                        }
                    }
                }
                let _ = self.cache.actions.remove(entry.key);
                Err(error)
            }
        }
    }

    /// Store `task`'s outputs as they are now under `key` (`conduct accept`); returns
    /// the outputs recorded.
    pub(crate) fn store(
        &self,
        task: TaskIdx,
        key: Digest,
        preimage: &KeyPreimage,
        duration_ms: u64,
        discovered: &[Discovered],
    ) -> Result<Vec<(String, Digest)>, BlobError> {
        let t = self.site.loaded.spec.task(task);
        self.cache
            .store(&self.site.root, key, preimage, t, duration_ms, discovered)
    }

    /// A task's pre-image, to record once it runs (after a failed restore).
    pub(crate) fn preimage(&self, task: TaskIdx) -> Result<Box<KeyPreimage>, KeyError> {
        db::task_preimage(&self.db, self.inputs, task)
            .as_ref()
            .map(|p| Box::new(p.clone()))
            .map_err(Clone::clone)
    }

    /// Outputs recorded for tasks that are no longer in tasks.toml (a template's file
    /// was deleted, a task removed), by path, with the task that made them and the
    /// digest it recorded. Paths a current task declares are not among them.
    pub(crate) fn orphan_outputs(&self) -> FxHashMap<String, (String, Digest)> {
        let spec = &self.site.loaded.spec;
        let mut orphans = FxHashMap::default();
        for (id, state) in &self.state().tasks {
            if spec.find_task(id).is_some() {
                continue;
            }
            let Some(success) = &state.success else {
                continue;
            };
            for (path, digest) in &success.outputs {
                let declared =
                    ProjectPath::new(path).map_or(true, |p| spec.outputs.producer_of(&p).is_some());
                if !declared {
                    orphans.insert(path.clone(), (id.clone(), *digest));
                }
            }
        }
        orphans
    }

    /// Remember what this build did.
    pub(crate) fn record_counts(&mut self, counts: BuildCounts) {
        self.journal.record_counts(counts);
    }

    /// The record of a task, to update after it ran (marks the state for saving).
    pub(crate) fn task_state(&mut self, id: &str) -> &mut TaskState {
        self.journal.task_mut(id)
    }

    /// What was found damaged in the cache and ignored since the last call: files read
    /// back at open, and action-cache records read since.
    /// Forget the records of tasks no longer in tasks.toml (after `clean --outputs`
    /// dealt with what they made).
    pub(crate) fn forget_removed_tasks(&mut self) {
        let spec = Arc::clone(&self.site.loaded.spec);
        let gone: Vec<String> = self
            .state()
            .tasks
            .keys()
            .filter(|id| spec.find_task(id).is_none())
            .cloned()
            .collect();
        for id in gone {
            self.journal.forget(&id);
        }
    }

    /// `task`'s process is about to start (a build killed now leaves it on record).
    pub(crate) fn note_started(&mut self, id: &str) {
        if self.site.access == Access::Write
            && let Err(e) = self.started.note(id)
        {
            self.warnings.push(format!(
                "cannot note that {id} started ({e}); if this build is killed, its outputs may be taken for hand edits"
            ));
        }
    }

    /// The build ended and its results are saved (see `state::started`).
    pub(crate) fn build_ended(&mut self) {
        if self.site.access == Access::Write {
            self.started.clear();
        }
    }

    /// Which of `now` (a task's outputs on disk) conduct has no record of making: a
    /// file that was there first stays for the task to overwrite or not; what conduct
    /// recorded making may go before a run.
    pub(crate) fn not_made_by_conduct(&self, id: &str, now: &[(String, Digest)]) -> Vec<String> {
        let recorded = self
            .state()
            .tasks
            .get(id)
            .and_then(|s| s.success.as_ref())
            .map_or(&[][..], |s| &s.outputs[..]);
        now.iter()
            .filter(|file| !recorded.contains(file))
            .map(|(path, _)| path.clone())
            .collect()
    }

    /// The build is over: wait (boundedly) for uploads to the remote; what it moved.
    pub(crate) fn finish_remote(&mut self) -> Option<crate::cache::remote::client::Traffic> {
        let remote = self.cache.remote.as_ref()?;
        remote.finish(REMOTE_PATIENCE);
        self.warnings.extend(remote.take_warnings());
        Some(remote.traffic())
    }

    /// Something the command should tell the user when it is done.
    pub(crate) fn warn(&mut self, text: String) {
        self.warnings.push(text);
    }

    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.warnings);
        let damaged = self.cache.actions.take_damaged();
        if damaged > 0 {
            warnings.push(format!(
                "{damaged} damaged record{} in {}/ac/ ignored (their checksums do not match); `conduct cache verify` removes them",
                if damaged == 1 { " was" } else { "s were" },
                self.site.loaded.spec.project.cache
            ));
        }
        warnings
    }

    /// End the session: print what is left of its warnings, release the lock, but do
    /// not free the memory. The process is about to exit, and dropping a 10,000-task
    /// database and state piece by piece costs a tenth of a no-op build.
    pub(crate) fn finish(mut self) {
        for warning in self.take_warnings() {
            crate::report::warn(&warning);
        }
        drop(self.site.lock.take());
        std::mem::forget(self);
    }

    /// Write what changed in the state (see `state::journal`). Read-only sessions
    /// write nothing.
    pub(crate) fn save(&mut self) -> Result<(), Error> {
        if self.site.access == Access::Read || !self.journal.is_dirty() {
            return Ok(());
        }
        let spec = &self.site.loaded.spec;
        self.journal
            .save(&|id| spec.find_task(id).is_some())
            .map_err(|source| Error::Cache {
                path: self.site.cache_dir.clone(),
                source,
            })
    }
}

/// Stat (and where needed hash) files through the stat cache, remembering them. With
/// `only` (see [`Session::expect_changes`]), a file outside it that the stat cache knows
/// is taken from there without a `stat`.
fn look(
    root: &Root,
    journal: &mut Journal,
    paths: &[ProjectPath],
    mode: scan::As,
    only: Option<&FxHashSet<String>>,
) -> Vec<Found> {
    let Some(only) = only else {
        let started = scan::now_ns();
        let scanned = scan::look_all(root, paths, &journal.state().stat, mode);
        let mut found = Vec::with_capacity(paths.len());
        for (path, scanned) in paths.iter().zip(scanned) {
            let f = scanned.unwrap_or(Found::Missing);
            journal.remember(path.as_str(), &f, started);
            found.push(f);
        }
        return found;
    };
    let stat = &journal.state().stat;
    let mut found: Vec<Option<Found>> = paths
        .iter()
        .map(|path| {
            if only.contains(path.as_str()) {
                return None;
            }
            stat.get(path.as_str()).map(|entry| Found::File {
                stamp: entry.stamp,
                digest: entry.digest,
            })
        })
        .collect();
    let unknown: Vec<ProjectPath> = paths
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(p, _)| p.clone())
        .collect();
    let mut looked = look(root, journal, &unknown, mode, None).into_iter();
    found
        .iter_mut()
        .map(|f| match f.take() {
            Some(f) => f,
            None => looked.next().unwrap_or(Found::Missing),
        })
        .collect()
}
