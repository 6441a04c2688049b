//! One build of a [`Session`]: `prepare` scans the disk for the selected tasks (glob
//! listings, command inputs, source digests, Markdown texts, outputs) and returns a
//! [`Round`], which decides and settles tasks against what was found. A round borrows
//! its session; what it found goes with it.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cache::{ActionResult, Cache};
use crate::db::{self, KeyError};
use crate::discovered::Discovered;
use crate::error::Error;
use crate::exec::{Executor, Exit, Job, Output};
use crate::explain::Reason;
use crate::fresh::{self, Decision, Facts, History};
use crate::graph::Selection;
use crate::hash::{Digest, KeyPreimage};
use crate::project;
use crate::scan::{self, OutputsNow};
use crate::session::memo::{scan_sources, update_memo};
use crate::session::{Session, look};
use crate::spec::{InputKind, ProjectPath, Task, TaskIdx, disk};
use crate::state::CleanBuild;

/// What `decide` found.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) key: Digest,
    pub(crate) outputs: OutputsNow,
    pub(crate) outcome: Outcome,
    /// The files its depfile named last time, with their digests now (part of `key`).
    pub(crate) discovered: Vec<Discovered>,
}

/// Fresh, restorable from the cache, or run with the reasons and the pre-image to
/// record once it succeeds.
#[derive(Debug)]
pub(crate) enum Outcome {
    Fresh,
    Restore {
        reasons: Vec<Reason>,
        entry: Box<ActionResult>,
    },
    Run {
        reasons: Vec<Reason>,
        preimage: Box<KeyPreimage>,
    },
    /// Stopped: these outputs were changed by hand since conduct wrote them.
    Edited(Vec<String>),
}

/// One build of a session: what `prepare` found on disk for the selected tasks, and
/// what they settled to.
pub(crate) struct Round<'s> {
    session: &'s mut Session,
    /// Everything but sources and outputs that the keys are made of, as found: see
    /// [`Round::unchanged_since_clean_build`].
    world: Option<Digest>,
    /// By task.
    tasks: Vec<Seen>,
    /// Produced Markdown files that tasks read sections of: read once their producer
    /// settles.
    generated_docs: HashSet<ProjectPath>,
    /// What tasks since removed from tasks.toml made (see `Session::orphan_outputs`),
    /// looked up when a task that reads a glob first runs.
    orphans: Option<FxHashMap<String, (String, Digest)>>,
    /// `--discard-edits`, by task: outputs changed by hand may be restored or rerun over.
    discard_edits: Vec<bool>,
}

/// What a round knows of one task.
#[derive(Debug, Default)]
struct Seen {
    /// A digest of its source inputs as found.
    sources: Option<Digest>,
    /// Whether the database has its source digests yet (handed over on first need).
    sources_in_db: bool,
    /// A digest of its outputs as found, and as it settled.
    outputs_found: Option<Digest>,
    outputs_settled: Option<Digest>,
    /// Its outputs as stat'ed up front, until its first decision.
    prefetched: Option<OutputsNow>,
}

impl Session {
    /// Check the selected tasks against the disk (exit 2 on missing inputs), then scan:
    /// glob listings, command inputs, source digests, Markdown texts, outputs.
    pub(crate) fn prepare(
        &mut self,
        selection: &Selection,
        executor: &dyn Executor,
    ) -> Result<Round<'_>, Error> {
        let loaded = Arc::clone(&self.site.loaded);
        let spec = &loaded.spec;
        let root = self.site.root.path.clone();
        // What a watcher says changed (see `Session::expect_changes`); `None`: anything.
        let only = self.changes.take();
        let mut errors = disk::check(
            spec,
            &root,
            selection.tasks.iter().copied(),
            disk::Leaves::Skip,
        );
        self.db.reset_task_outputs(spec.tasks.len());
        let mut round = Round {
            world: None,
            tasks: (0..spec.tasks.len()).map(|_| Seen::default()).collect(),
            generated_docs: HashSet::new(),
            orphans: None,
            discard_edits: Vec::new(),
            session: self,
        };
        let session = &mut *round.session;

        // Globs expand against a listing of the directories they look into.
        let mut roots: BTreeSet<String> = BTreeSet::new();
        let mut commands: BTreeSet<String> = BTreeSet::new();
        let mut programs: BTreeSet<String> = BTreeSet::new();
        let mut markdown: BTreeSet<ProjectPath> = BTreeSet::new();
        for &task in &selection.tasks {
            for input in &spec.task(task).inputs {
                match &input.kind {
                    InputKind::Glob(glob) => {
                        roots.insert(glob.literal_prefix());
                    }
                    InputKind::Command(command) => {
                        commands.insert(command.clone());
                    }
                    InputKind::Program(name) => {
                        programs.insert(name.clone());
                    }
                    InputKind::Section { file, section } => {
                        session.db.want_section(file, section);
                        if spec.outputs.producer_of(file).is_none() {
                            markdown.insert(file.clone());
                        } else {
                            round.generated_docs.insert(file.clone());
                        }
                    }
                    InputKind::File(_) => {}
                }
            }
        }
        let project = &spec.project;
        let skip = [".git", project.cache.as_str(), project.worktrees.as_str()];
        // Listed again unless a watcher saw no change under the globs' directories.
        let relist = only.as_ref().is_none_or(|only| {
            only.iter().any(|path| {
                roots.iter().any(|r| {
                    r.is_empty()
                        || path
                            .strip_prefix(r.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                })
            })
        });
        if relist {
            let listing = scan::listing(&root, &roots, &skip);
            if session.inputs.listing(&session.db) != &listing {
                salsa::Setter::to(session.inputs.set_listing(&mut session.db), listing);
            }
        }
        let mut world = fresh::World::new(session.site.spec_key);
        for (name, value) in &session.site.hash_env {
            world.field(name.as_bytes());
            world.digest(value.as_deref().map(|v| Digest::of(v.as_bytes())));
        }
        for path in session.inputs.listing(&session.db) {
            world.field(path.as_str().as_bytes());
        }

        let shell = &project.shell;
        let run = |command: String| {
            let digest =
                command_stdout(executor, shell, &command, &root).map(|out| Digest::of(&out));
            (command, digest)
        };
        // One command (a compiler's version, say) runs here: no pool to start for it.
        let outputs: Vec<(String, Option<Digest>)> = if commands.len() < 2 {
            commands.into_iter().map(run).collect()
        } else {
            crate::cores::parallel(|| commands.into_par_iter().map(run).collect())
        };
        for (command, digest) in outputs {
            world.field(command.as_bytes());
            world.digest(digest);
            session.db.set_command_output(&command, digest);
        }
        let started = scan::now_ns();
        for name in programs {
            let found = scan::look_program(&name, &session.journal.state().stat);
            let digest = found.as_ref().and_then(|(_, found)| found.digest());
            if let Some((path, found)) = &found {
                session.journal.remember(path, found, started);
            }
            let label = InputKind::program_label(&name);
            world.field(label.as_bytes());
            world.digest(digest);
            session.db.set_command_output(&label, digest);
        }

        // Remembered in the stat cache as well, so a watcher can tell an edit of a spec
        // from a touch (see `watch::relevant`).
        let markdown: Vec<ProjectPath> = markdown.into_iter().collect();
        let found = look(
            &session.site.root,
            &mut session.journal,
            &markdown,
            scan::As::Input,
            only.as_ref(),
        );
        for (file, found) in markdown.into_iter().zip(found) {
            // A spec a watcher saw no change to: the database has its text.
            if only.as_ref().is_some_and(|o| !o.contains(file.as_str())) && found.digest().is_some()
            {
                world.field(file.as_str().as_bytes());
                world.digest(found.digest());
                continue;
            }
            let text = std::fs::read_to_string(file.to_path(&root)).ok();
            world.field(file.as_str().as_bytes());
            world.digest(text.as_deref().map(|t| Digest::of(t.as_bytes())));
            session.db.set_file_text(&file, text);
        }

        // Every source file once, in one parallel pass: its digest, and whether it is
        // there at all (a missing plain input is an error before anything runs). The
        // digests reach the database only for tasks whose keys are computed. After a
        // build of the same tasks, with a watcher's word on what was touched, only the
        // touched sources are looked at (see `memo`).
        let reusable = only.is_some()
            && !relist
            && session
                .memo
                .as_ref()
                .is_some_and(|m| m.serves(&selection.tasks))
            && !selection
                .tasks
                .iter()
                .any(|&t| spec.task(t).depfile.is_some());
        let updated = reusable && update_memo(session, only.as_ref());
        if !updated {
            let memo = scan_sources(session, selection);
            session.memo = Some(memo);
        }
        round.world = Some(world.finish());
        let Some(memo) = round.session.memo.as_ref() else {
            return Err(project::config_error(&spec.source, errors));
        };
        errors.extend(memo.errors.iter().cloned());
        for &task in &selection.tasks {
            round.tasks[task.index()].sources = memo.task_digests[task.index()];
        }
        if !errors.is_empty() {
            return Err(project::config_error(&spec.source, errors));
        }
        round.prefetch_outputs(selection, only.as_ref());
        Ok(round)
    }
}

/// What `fresh::decide` may look up, fetched only when asked: the cache entry of the
/// last success (its pre-image names what changed) and the entry of the current key.
struct Lookups<'s> {
    cache: &'s Cache,
    task: &'s Task,
    key: Digest,
    /// The key of the last success, if any.
    last: Option<Digest>,
    previous: Option<ActionResult>,
    entry: Option<ActionResult>,
}

impl History for Lookups<'_> {
    fn previous(&mut self) -> Option<&KeyPreimage> {
        if self.previous.is_none() {
            self.previous = self.last.and_then(|key| self.cache.actions.get(key));
        }
        self.previous.as_ref().map(|entry| &entry.preimage)
    }

    fn cached(&mut self) -> bool {
        if self.entry.is_none() {
            self.entry = self.cache.lookup(self.key, self.task);
        }
        self.entry.is_some()
    }

    fn remote(&mut self) -> Option<Reason> {
        use crate::cache::remote::client::Said;
        Some(match self.cache.remote.as_ref()?.said(self.key)? {
            Said::Hit => Reason::RemoteHit,
            Said::Miss(why) => Reason::RemoteMiss { why },
            Said::Error(error) => Reason::RemoteError { error },
        })
    }
}

impl Round<'_> {
    pub(crate) fn session(&self) -> &Session {
        self.session
    }

    /// `--discard-edits`: let this round restore or rerun over the outputs edited by
    /// hand of these tasks (by task index).
    pub(crate) fn discard_edits(&mut self, tasks: Vec<bool>) {
        self.discard_edits = tasks;
    }

    pub(crate) fn session_mut(&mut self) -> &mut Session {
        self.session
    }

    /// Stat every declared output of the selection in one parallel pass; each task's
    /// first decision then reads from it instead of stat'ing file by file.
    fn prefetch_outputs(&mut self, selection: &Selection, only: Option<&FxHashSet<String>>) {
        let loaded = Arc::clone(&self.session.site.loaded);
        let root = &self.session.site.root.path;
        // With a watcher's word and what the last build found: only the tasks whose
        // outputs were touched are looked at; the others' digests are as found then (a
        // task decided this round looks at its outputs again, see `outputs_now`).
        let remembered = self.session.memo.as_ref().and_then(|m| m.outputs.clone());
        let look_at: Vec<TaskIdx> = match (only, remembered) {
            (Some(only), Some(outputs)) => {
                for &task in &selection.tasks {
                    self.tasks[task.index()].outputs_found = outputs[task.index()];
                }
                let mut touched: Vec<TaskIdx> = only
                    .iter()
                    .filter_map(|path| ProjectPath::new(path).ok())
                    .filter_map(|path| loaded.spec.outputs.producer_of(&path))
                    .filter(|task| outputs.get(task.index()).is_some())
                    .collect();
                touched.sort();
                touched.dedup();
                touched
            }
            _ => selection.tasks.clone(),
        };
        let mut paths: Vec<ProjectPath> = Vec::new();
        let mut plans = Vec::with_capacity(look_at.len());
        for &task in &look_at {
            let start = paths.len();
            let missing_dirs = scan::output_files(root, loaded.spec.task(task), &mut paths);
            plans.push((task, start..paths.len(), missing_dirs));
        }
        let session = &mut *self.session;
        let found = look(
            &session.site.root,
            &mut session.journal,
            &paths,
            scan::As::Output,
            only,
        );
        for (task, range, missing_dirs) in plans {
            let t = loaded.spec.task(task);
            let now = scan::outputs_now(t, &paths[range.clone()], &found[range], missing_dirs);
            let seen = &mut self.tasks[task.index()];
            seen.outputs_found = now
                .missing
                .is_empty()
                .then(|| fresh::outputs_digest(&now.files));
            seen.prefetched = Some(now);
        }
        if let Some(memo) = self.session.memo.as_mut() {
            memo.outputs = Some(self.tasks.iter().map(|seen| seen.outputs_found).collect());
        }
    }

    /// Whether nothing changed since a complete, clean build of every task (the rule is
    /// [`fresh::unchanged_since_clean_build`]'s).
    pub(crate) fn unchanged_since_clean_build(&self, selection: &Selection) -> bool {
        let spec = &self.session.site.loaded.spec;
        if selection.tasks.iter().any(|&t| spec.task(t).always) {
            return false;
        }
        let found = self.clean_build(selection, |seen| seen.outputs_found);
        fresh::unchanged_since_clean_build(
            self.session.state().clean_build.as_ref(),
            found.as_ref(),
        )
    }

    /// Whether `task` is fresh because its part of the world is as the last clean
    /// build left it (the rule is [`fresh::unchanged_task`]'s). Its dependencies must
    /// have settled in this round.
    pub(crate) fn unchanged_task(&self, task: TaskIdx) -> bool {
        let graph = &self.session.site.loaded.graph;
        // A barrier's digest covers whole groups: such tasks take the long way.
        if graph
            .node_deps(task.0)
            .iter()
            .any(|&node| graph.task_of(node).is_none())
        {
            return false;
        }
        let seen = &self.tasks[task.index()];
        fresh::unchanged_task(
            self.session.state().clean_build.as_ref(),
            self.world,
            task.index(),
            seen.sources,
            seen.outputs_found,
            graph.task_deps(task).iter().map(|dep| {
                let d = dep.task.index();
                (d, self.tasks[d].outputs_settled)
            }),
        )
    }

    /// The selected tasks no change reaches, by task index: the world is as the last
    /// clean build left it, and so are the task's sources and outputs and (the same
    /// way) all its dependencies. They are fresh without being decided one by one: a
    /// leaf edit then costs the no-op's scan and the one task, not a decision per task.
    /// `None` when there is no clean build to go by or the world changed.
    pub(crate) fn unaffected(&self, selection: &Selection, forced: &[bool]) -> Option<Vec<bool>> {
        let clean = self.session.state().clean_build.as_ref()?;
        if self.world != Some(clean.world) {
            return None;
        }
        let loaded = &self.session.site.loaded;
        let (spec, graph) = (&loaded.spec, &loaded.graph);
        let mut unaffected = vec![false; self.tasks.len()];
        for &task in &selection.tasks {
            let i = task.index();
            let seen = &self.tasks[i];
            let as_left = clean.tasks.get(i).is_some_and(|&(sources, outputs)| {
                seen.sources == Some(sources) && seen.outputs_found == Some(outputs)
            });
            unaffected[i] = as_left
                && !forced.get(i).copied().unwrap_or(false)
                && !spec.task(task).always
                // A barrier's digest covers whole groups: such tasks take the long way.
                && graph
                    .node_deps(task.0)
                    .iter()
                    .all(|&node| graph.task_of(node).is_some())
                && graph
                    .task_deps(task)
                    .iter()
                    .all(|dep| unaffected[dep.task.index()]);
        }
        Some(unaffected)
    }

    /// Settle a task [`Round::unaffected`] found fresh, as found. Its outputs reach the
    /// database only when a task that is decided reads them (`feeds_decided`) or it
    /// makes a document whose sections a later task reads.
    pub(crate) fn settle_unaffected(&mut self, task: TaskIdx, feeds_decided: bool) {
        let makes_a_doc = !self.generated_docs.is_empty()
            && self
                .session
                .site
                .loaded
                .spec
                .task(task)
                .outputs
                .iter()
                .any(|o| self.generated_docs.contains(&o.path));
        if feeds_decided || makes_a_doc {
            let outputs = self.outputs_now(task).files;
            self.settle(task, outputs);
        } else if let Some(seen) = self.tasks.get_mut(task.index()) {
            seen.outputs_settled = seen.outputs_found;
        }
    }

    /// Every task is fresh as found (see [`Round::unchanged_since_clean_build`]).
    pub(crate) fn settle_unchanged(&mut self) {
        for seen in &mut self.tasks {
            seen.outputs_settled = seen.outputs_found;
        }
    }

    /// After the build: remember what it left if it was complete and clean (every task
    /// selected, none failed or blocked, no warning, not interrupted), else forget it.
    pub(crate) fn remember_build(&mut self, selection: &Selection, clean: bool) {
        let left = if clean {
            self.clean_build(selection, |seen| seen.outputs_settled)
        } else {
            None
        };
        self.session.journal.set_clean_build(left);
    }

    /// What a build of every task with these outputs starts from and leaves.
    fn clean_build(
        &self,
        selection: &Selection,
        outputs: impl Fn(&Seen) -> Option<Digest>,
    ) -> Option<CleanBuild> {
        if selection.tasks.len() != self.tasks.len() {
            return None;
        }
        let tasks = self
            .tasks
            .iter()
            .map(|seen| Some((seen.sources?, outputs(seen)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(CleanBuild {
            world: self.world?,
            tasks,
        })
    }

    /// Give the database the digests `prepare` found for `task`'s source inputs, once,
    /// before its key is asked for.
    fn hand_sources_to_db(&mut self, task: TaskIdx) {
        let Some(seen) = self.tasks.get_mut(task.index()) else {
            return;
        };
        if std::mem::replace(&mut seen.sources_in_db, true) {
            return;
        }
        let session = &mut *self.session;
        let paths = db::source_inputs(&session.db, session.inputs, task).clone();
        for path in &paths {
            let digest = session.memo.as_ref().and_then(|m| m.digest(path)).flatten();
            session.db.set_file_digest(path, digest);
        }
    }

    /// A task's declared outputs as they are on disk now: the first call per task may
    /// come from the prefetch; after the task ran, they are looked at again.
    pub(crate) fn outputs_now(&mut self, task: TaskIdx) -> OutputsNow {
        match self
            .tasks
            .get_mut(task.index())
            .and_then(|s| s.prefetched.take())
        {
            Some(now) => now,
            None => self.session.look_at_outputs(task),
        }
    }

    /// Decide one task whose dependencies are settled. `Err` when its key cannot be
    /// computed (an input vanished, a section is missing in a generated document).
    pub(crate) fn decide(&mut self, task: TaskIdx, forced: bool) -> Result<Verdict, KeyError> {
        self.hand_sources_to_db(task);
        let outputs = self.outputs_now(task);
        let declared = {
            let session = &*self.session;
            *db::task_key(&session.db, session.inputs, task)
                .as_ref()
                .map_err(Clone::clone)?
        };
        let discovered = match self.read_before(task, declared) {
            Some(paths) => self.discovered_digests(&paths),
            None => Vec::new(),
        };
        let session = &*self.session;
        let (db, inputs) = (&session.db, session.inputs);
        let t = session.site.loaded.spec.task(task);
        let preimage = db::task_preimage(db, inputs, task)
            .as_ref()
            .map_err(Clone::clone)?;
        let state = session.state().tasks.get(t.id.as_str());
        let key = crate::discovered::key(declared, &discovered);
        let mut lookups = Lookups {
            cache: &session.cache,
            task: t,
            key,
            last: state.and_then(|s| s.success.as_ref()).map(|s| s.key),
            previous: None,
            entry: None,
        };
        let decision = fresh::decide(
            &Facts {
                key,
                preimage,
                state,
                outputs_now: &outputs.files,
                discovered_now: &discovered,
                forced,
                always: t.always,
                discard_edits: self
                    .discard_edits
                    .get(task.index())
                    .copied()
                    .unwrap_or(false),
            },
            &mut lookups,
        );
        let reads_glob = t
            .inputs
            .iter()
            .any(|i| matches!(i.kind, InputKind::Glob(_)));
        let runs = matches!(decision, Decision::Run(_));
        // Only a task that runs needs its pre-image out of the database (to record it).
        let outcome = match (decision, lookups.entry.take()) {
            (Decision::Fresh, _) => Outcome::Fresh,
            (Decision::Edited(files), _) => Outcome::Edited(files),
            (Decision::Restore(reasons), Some(entry)) => Outcome::Restore {
                reasons,
                entry: Box::new(entry),
            },
            (Decision::Restore(reasons) | Decision::Run(reasons), _) => Outcome::Run {
                reasons,
                preimage: Box::new(preimage.clone()),
            },
        };
        if runs
            && reads_glob
            && let Outcome::Run { preimage, .. } = &outcome
        {
            self.warn_of_orphans(task, preimage);
        }
        Ok(Verdict {
            key,
            outputs,
            outcome,
            discovered,
        })
    }

    /// A glob of `task` matches a file that a task since removed from tasks.toml made
    /// (the object of a deleted source): say so, it is probably not meant to be read.
    fn warn_of_orphans(&mut self, task: TaskIdx, preimage: &KeyPreimage) {
        let orphans = self
            .orphans
            .get_or_insert_with(|| self.session.orphan_outputs());
        if orphans.is_empty() {
            return;
        }
        let found: Vec<String> = preimage
            .inputs
            .iter()
            .filter_map(|(path, _)| {
                let (maker, _) = orphans.get(path)?;
                Some(format!("{path} (made by {maker}, no longer in tasks.toml)"))
            })
            .collect();
        if found.is_empty() {
            return;
        }
        let id = self.session.loaded().spec.task(task).id.to_string();
        self.session.warn(format!(
            "{id} reads {}; `conduct clean --outputs` removes what removed tasks made",
            found.join(", ")
        ));
    }

    /// With a remote cache: fetch the remote's entries for these tasks' keys (those the
    /// local cache lacks) in parallel, so deciding them one by one then finds them
    /// locally instead of waiting for one round trip after another. Tasks with a
    /// depfile are left to their decision (their key needs what they read).
    pub(crate) fn prefetch_remote(&mut self, tasks: &[TaskIdx]) {
        if self.session.cache.remote.is_none() || tasks.len() < 2 {
            return;
        }
        let loaded = Arc::clone(&self.session.site.loaded);
        let mut keys = Vec::with_capacity(tasks.len());
        for &task in tasks {
            let t = loaded.spec.task(task);
            if t.run.is_none() || t.depfile.is_some() {
                continue;
            }
            self.hand_sources_to_db(task);
            let session = &*self.session;
            if let Ok(key) = db::task_key(&session.db, session.inputs, task) {
                keys.push(*key);
            }
        }
        self.session.cache.prefetch(&keys);
    }

    /// For a task with a depfile: the files its last run read, as this checkout
    /// recorded them, else as the cache knows them from another run of the declared key.
    fn read_before(&self, task: TaskIdx, declared: Digest) -> Option<Vec<String>> {
        let session = &*self.session;
        let t = session.site.loaded.spec.task(task);
        t.depfile.as_ref()?;
        let success = session
            .state()
            .tasks
            .get(t.id.as_str())
            .and_then(|s| s.success.as_ref())
            .filter(|s| !s.discovered.is_empty());
        match success {
            Some(success) => Some(success.discovered.iter().map(|(p, _)| p.clone()).collect()),
            None => session.cache.discovered_for(declared),
        }
    }

    /// Digests of files a depfile named: as `prepare` found them, else looked at now.
    fn discovered_digests(&mut self, paths: &[String]) -> Vec<Discovered> {
        let mut known: Vec<Discovered> = Vec::with_capacity(paths.len());
        let mut unseen: Vec<ProjectPath> = Vec::new();
        for path in paths {
            let Ok(path) = ProjectPath::new(path) else {
                known.push((path.clone(), None));
                continue;
            };
            match self.session.memo.as_ref().and_then(|m| m.digest(&path)) {
                Some(digest) => known.push((path.to_string(), digest)),
                None => unseen.push(path),
            }
        }
        known.extend(self.discovered_now(&unseen));
        known.sort();
        known
    }

    /// Files a depfile named, with their digests as they are now, sorted.
    pub(crate) fn discovered_now(&mut self, paths: &[ProjectPath]) -> Vec<Discovered> {
        let found = self.session.look(paths, scan::As::Input);
        let mut now: Vec<Discovered> = paths
            .iter()
            .zip(found)
            .map(|(path, found)| (path.to_string(), found.digest()))
            .collect();
        now.sort();
        now
    }

    /// Settle a task for its dependents: its outputs as they are now.
    pub(crate) fn settle(&mut self, task: TaskIdx, outputs: Vec<(String, Digest)>) {
        let session = &mut *self.session;
        let loaded = Arc::clone(&session.site.loaded);
        // A generated Markdown document a later task reads sections of: read it now.
        for output in &loaded.spec.task(task).outputs {
            if self.generated_docs.contains(&output.path) {
                let text =
                    std::fs::read_to_string(output.path.to_path(&session.site.root.path)).ok();
                session.db.set_file_text(&output.path, text);
            }
        }
        if let Some(seen) = self.tasks.get_mut(task.index()) {
            seen.outputs_settled = Some(fresh::outputs_digest(&outputs));
        }
        session.db.set_task_outputs(task, outputs);
    }
}

/// Run a `{ command = … }` input through the project shell and capture its stdout
/// (`None` if it failed).
fn command_stdout(
    executor: &dyn Executor,
    shell: &[String],
    command: &str,
    root: &Path,
) -> Option<Vec<u8>> {
    let mut argv = shell.to_vec();
    argv.push(command.to_owned());
    let finished = executor.run(Job {
        label: command.to_owned(),
        argv,
        cwd: root.to_path_buf(),
        env: Vec::new(),
        output: Output::Capture,
        timeout: None,
        task: false,
        on_cluster: None,
        stdin: None,
    });
    (finished.exit == Exit::Success).then_some(finished.stdout)
}
