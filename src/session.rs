//! An open project for the commands that look at freshness: `build`, `accept`, `list`,
//! `status`. Steps 1-3 of a build (DESIGN "How one build flows"): load the config into
//! salsa, take the cache lock when writing, read the state, and scan the disk (globs,
//! command inputs, source digests through the stat cache). Then, per task, [`decide`]
//! asks salsa for the pre-image and `fresh.rs` for the verdict.
//!
//! The session owns the database; nothing else touches it. Inputs are set here, between
//! queries, and only when they changed.
//!
//! [`decide`]: Session::decide

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::cache::{ActionResult, BlobError, Cache, CachedOutput, Collected};
use crate::db::{self, BuildInput, ConfigInput, Database, Db, KeyError};
use crate::error::Error;
use crate::explain::Reason;
use crate::fresh::{self, Decision, Facts, History};
use crate::graph::Selection;
use crate::hash::{Digest, KeyPreimage};
use crate::lock::{self, ProjectLock};
use crate::project::Loaded;
use crate::project::{self, Locator, Sources};
use crate::rules::check::{self, CheckResult};
use crate::scan::{self, Found};
use crate::source::{Location, SourceFile};
use crate::spec::section::Outline;
use crate::spec::{InputKind, ProjectPath, SpecError, SpecErrorKind, Task, TaskIdx, disk};
use crate::spec_cache;
use crate::state::{Change, CleanBuild, State, StateStore, TaskState};

/// Whether the session may write the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Build or accept: take the lock, save the state.
    Write,
    /// Dry run, list, status: no lock, nothing written.
    Read,
}

/// A task's outputs as they are on disk now.
#[derive(Debug, Default)]
pub(crate) struct OutputsNow {
    /// `(path, digest)` of every file, those of directory outputs one by one, sorted.
    pub(crate) files: Vec<(String, Digest)>,
    /// Declared outputs that do not exist (a file, or a directory output's directory).
    pub(crate) missing: Vec<String>,
    /// Outputs that are symlinks leading out of the project, and where they lead.
    pub(crate) outside: Vec<(String, std::path::PathBuf)>,
}

/// One check a task's outputs are due, and its verdict if one is already known.
#[derive(Debug)]
pub(crate) struct PlannedCheck {
    /// Position of the rule in the rule set.
    pub(crate) rule: usize,
    pub(crate) key: Digest,
    /// The outputs it applies to (project-relative).
    pub(crate) files: Vec<String>,
    /// From the state (the last verdict for the same key) or the run's cache entry.
    pub(crate) known: Option<CheckResult>,
    /// Whether `known` is a verdict on the files, fit to keep and cache (not a timeout,
    /// say). Known verdicts are: only such verdicts are kept.
    pub(crate) cacheable: bool,
    /// Why it must run again when an earlier verdict for this rule exists.
    pub(crate) reason: Option<Reason>,
}

/// What `decide` found.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) key: Digest,
    pub(crate) outputs: OutputsNow,
    pub(crate) outcome: Outcome,
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
}

/// An open project.
pub(crate) struct Session {
    pub(crate) root: crate::confined::Root,
    pub(crate) cache_dir: PathBuf,
    pub(crate) loaded: Arc<Loaded>,
    pub(crate) state: State,
    pub(crate) db: Database,
    pub(crate) cache: Cache,
    /// `check::rule_digest` of every rule, by position.
    rule_digests: Vec<Digest>,
    build: BuildInput,
    store: StateStore,
    /// Whether the state differs from what was loaded (else saving is skipped).
    /// The state's entries changed since it was read or saved.
    dirty: Dirty,
    /// `spec_cache::key` of tasks.toml and the rules: the configuration as text.
    spec_key: Digest,
    /// The environment's values of `hash_env`.
    hash_env: BTreeMap<String, Option<String>>,
    /// Everything but the outputs that a build's keys are made of, as `prepare` found
    /// it: see [`Session::unchanged_since_clean_build`].
    world: Option<Digest>,
    /// Per task, a digest of its source inputs as `prepare` found them.
    sources_found: Vec<Option<Digest>>,
    /// Every source input's digest as `prepare` found it (`None`: missing).
    source_digests: FxHashMap<ProjectPath, Option<Digest>>,
    /// Per task, whether the database has its source digests yet.
    sources_in_db: Vec<bool>,
    /// Per task, a digest of its outputs as `prepare` found them / as it settled.
    outputs_found: Vec<Option<Digest>>,
    outputs_settled: Vec<Option<Digest>>,
    /// Each task's outputs as stat'ed up front, until its first decision (by task).
    prefetched: Vec<Option<OutputsNow>>,
    /// Produced Markdown files that tasks read sections of: read once their producer
    /// settles.
    generated_docs: HashSet<ProjectPath>,
    access: Access,
    /// What was found damaged and ignored while opening (see `sealed.rs`), for the
    /// command to report.
    warnings: Vec<String>,
    _lock: Option<ProjectLock>,
}

impl Session {
    /// Load the project at `locator`; with `Access::Write`, wait for the cache lock.
    pub(crate) fn open(locator: &Locator, access: Access) -> Result<Session, Error> {
        let (config_path, root) = locator.locate()?;
        let mut sources = Sources::read(&config_path, &root)?;
        let db = Database::default();
        // The spec cache is only ever written to the default cache directory, so a hit
        // also proves where the cache is: the lock can be taken, and the state read
        // while the spec is decoded, before anything is parsed.
        let spec_key = spec_cache::key(&sources.config, &sources.rules);
        let default_cache = crate::spec::Project::default().cache.to_path(&root);
        let mut lock = None;
        let mut early_state = None;
        let mut cached = None;
        let mut warnings = Vec::new();
        if let Some(payload) = spec_cache::probe(&default_cache, spec_key) {
            // Parsed before: the text is read again only if an error quotes it.
            sources.config = SourceFile::on_disk(sources.config.name(), &config_path);
            if access == Access::Write {
                lock = Some(take_lock(&root, &crate::spec::Project::default().cache)?);
            }
            let (spec, state) = std::thread::scope(|scope| {
                let state = scope.spawn(|| StateStore::new(&default_cache).load());
                let spec = spec_cache::decode(&payload, &sources.config);
                (spec, state.join().ok())
            });
            cached = match spec {
                Ok(spec) => Some(spec),
                Err(why) => {
                    warnings.push(format!(
                        "{} is {why}; reading tasks.toml again",
                        spec_cache::display_path(&crate::spec::Project::default().cache)
                    ));
                    None
                }
            };
            early_state = state;
        }
        let cache_hit = cached.is_some();
        let config = ConfigInput::new(
            &db,
            Arc::clone(&sources.config),
            sources.rules.clone(),
            cached,
        );
        let loaded = match db::load(&db, config) {
            Ok(loaded) if sources.errors.is_empty() => Arc::clone(loaded),
            Ok(_) => return Err(project::config_error(&sources.config, sources.errors)),
            Err(errors) => {
                let mut all = sources.errors;
                all.extend(errors.iter().cloned());
                return Err(project::config_error(&sources.config, all));
            }
        };
        let cache_dir = loaded.spec.project.cache.to_path(&root);
        if cache_dir != default_cache {
            lock = None;
            early_state = None;
        }
        if access == Access::Write && lock.is_none() {
            lock = Some(take_lock(&root, &loaded.spec.project.cache)?);
        }
        if !cache_hit && access == Access::Write && cache_dir == default_cache {
            // A cache that cannot be written only costs the next run a parse.
            let _ = spec_cache::write(&cache_dir, spec_key, &loaded.spec, &loaded.graph);
        }
        let store = StateStore::new(&cache_dir);
        let cache = Cache::new(&cache_dir);
        let rule_digests = loaded.rules.iter().map(check::rule_digest).collect();
        let mut state = match early_state {
            Some(state) => state,
            None => store.load(),
        };
        if let Some(why) = state.on_disk.dropped.take() {
            warnings.push(format!(
                "{}/state/{why}; what conduct knew of earlier builds is rebuilt or restored from the cache",
                loaded.spec.project.cache
            ));
        }
        let hash_env: BTreeMap<String, Option<String>> = loaded
            .spec
            .project
            .hash_env
            .iter()
            .map(|name| (name.clone(), std::env::var(name).ok()))
            .collect();
        let build = BuildInput::new(&db, config, Vec::new(), hash_env.clone());
        let tasks = loaded.spec.tasks.len();
        Ok(Session {
            root: crate::confined::Root::new(&root),
            cache_dir,
            loaded,
            state,
            db,
            cache,
            rule_digests,
            build,
            store,
            dirty: Dirty::default(),
            spec_key,
            hash_env,
            world: None,
            sources_found: vec![None; tasks],
            source_digests: FxHashMap::default(),
            sources_in_db: vec![false; tasks],
            outputs_found: vec![None; tasks],
            outputs_settled: vec![None; tasks],
            prefetched: Vec::new(),
            generated_docs: HashSet::new(),
            access,
            warnings,
            _lock: lock,
        })
    }

    /// Check the selected tasks against the disk (exit 2 on missing inputs), then scan:
    /// glob listings, command inputs, source digests, Markdown texts.
    pub(crate) fn prepare(&mut self, selection: &Selection) -> Result<(), Error> {
        let loaded = Arc::clone(&self.loaded);
        let spec = &loaded.spec;
        let mut errors = disk::check(
            spec,
            &self.root.path,
            selection.tasks.iter().copied(),
            disk::Leaves::Skip,
        );
        self.db.reset_task_outputs(spec.tasks.len());

        // Globs expand against a listing of the directories they look into.
        let mut roots: BTreeSet<String> = BTreeSet::new();
        let mut commands: BTreeSet<String> = BTreeSet::new();
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
                    InputKind::Section { file, .. } => {
                        if spec.outputs.producer_of(file).is_none() {
                            markdown.insert(file.clone());
                        } else {
                            self.generated_docs.insert(file.clone());
                        }
                    }
                    InputKind::File(_) => {}
                }
            }
        }
        let listing = self.listing(&roots);
        let mut world = fresh::World::new(self.spec_key);
        for (name, value) in &self.hash_env {
            world.field(name.as_bytes());
            world.digest(value.as_deref().map(|v| Digest::of(v.as_bytes())));
        }
        for path in &listing {
            world.field(path.as_str().as_bytes());
        }
        if self.build.listing(&self.db) != &listing {
            salsa::Setter::to(self.build.set_listing(&mut self.db), listing);
        }

        let shell = spec.project.shell.clone();
        let root = self.root.path.clone();
        let outputs: Vec<(String, Option<Digest>)> = commands
            .into_par_iter()
            .map(|command| {
                let digest = command_stdout(&shell, &command, &root).map(|out| Digest::of(&out));
                (command, digest)
            })
            .collect();
        for (command, digest) in outputs {
            world.field(command.as_bytes());
            world.digest(digest);
            self.db.set_command_output(&command, digest);
        }

        for file in markdown {
            let text = std::fs::read_to_string(file.to_path(&self.root.path)).ok();
            world.field(file.as_str().as_bytes());
            world.digest(text.as_deref().map(|t| Digest::of(t.as_bytes())));
            self.db.set_file_text(&file, text);
        }

        // Every source file once, in one parallel pass: its digest, and whether it is
        // there at all (a missing plain input is an error before anything runs). The
        // digests reach the database only for tasks whose keys are computed.
        let mut sources: Vec<ProjectPath> = Vec::new();
        // Each selected task's sources, as positions in `sources`, one run per task.
        let mut runs: Vec<(TaskIdx, std::ops::Range<usize>)> = Vec::new();
        let mut positions: Vec<u32> = Vec::new();
        {
            let matches = Some(db::glob_matches(&self.db, self.build));
            let mut seen: FxHashMap<ProjectPath, u32> = FxHashMap::default();
            let mut task_sources = Vec::new();
            for &task in &selection.tasks {
                db::collect_source_inputs(spec, matches, task, &mut task_sources);
                let start = positions.len();
                for path in task_sources.drain(..) {
                    let next = sources.len() as u32;
                    let at = *seen.entry(path.clone()).or_insert(next);
                    if at == next {
                        sources.push(path);
                    }
                    positions.push(at);
                }
                runs.push((task, start..positions.len()));
            }
        }
        let found = self.look(&sources, scan::As::Input);
        self.source_digests = sources
            .iter()
            .zip(&found)
            .map(|(path, found)| (path.clone(), found.digest()))
            .collect();
        self.world = Some(world.finish());
        for (task, run) in runs {
            let files = positions[run].iter().map(|&at| {
                let at = at as usize;
                (sources[at].as_str(), found[at].digest())
            });
            self.sources_found[task.index()] = Some(fresh::files_digest(files));
        }
        errors.extend(self.missing_sources(selection, &sources, &found));
        if !errors.is_empty() {
            return Err(project::config_error(&spec.source, errors));
        }
        self.prefetch_outputs(selection);
        Ok(())
    }

    /// Whether nothing changed since a complete, clean build of every task (the rule is
    /// [`fresh::unchanged_since_clean_build`]'s).
    pub(crate) fn unchanged_since_clean_build(&self, selection: &Selection) -> bool {
        fresh::unchanged_since_clean_build(
            self.state.clean_build.as_ref(),
            self.clean_build(selection, &self.outputs_found).as_ref(),
        )
    }

    /// Whether `task` is fresh because its part of the world is as the last clean
    /// build left it (the rule is [`fresh::unchanged_task`]'s). Its dependencies must
    /// have settled in this build.
    pub(crate) fn unchanged_task(&self, task: TaskIdx) -> bool {
        let graph = &self.loaded.graph;
        let nodes = graph.node_deps(task.0);
        // A barrier's digest covers whole groups: such tasks take the long way.
        if nodes.iter().any(|&node| graph.task_of(node).is_none()) {
            return false;
        }
        let i = task.index();
        fresh::unchanged_task(
            self.state.clean_build.as_ref(),
            self.world,
            i,
            self.sources_found.get(i).copied().flatten(),
            self.outputs_found.get(i).copied().flatten(),
            graph.task_deps(task).iter().map(|dep| {
                let d = dep.task.index();
                (d, self.outputs_settled.get(d).copied().flatten())
            }),
        )
    }

    /// Every task is fresh as found (see [`Session::unchanged_since_clean_build`]).
    pub(crate) fn settle_unchanged(&mut self) {
        self.outputs_settled.clone_from(&self.outputs_found);
    }

    /// After a build: remember what it left if it was complete and clean (every task
    /// selected, none failed or blocked, no warning, not interrupted), else forget it.
    pub(crate) fn remember_build(&mut self, selection: &Selection, clean: bool) {
        let left = if clean {
            self.clean_build(selection, &self.outputs_settled)
        } else {
            None
        };
        if self.state.clean_build != left {
            self.dirty
                .clean_build(self.state.clean_build.as_ref(), left.as_ref());
            self.state.clean_build = left;
        }
    }

    /// What a build of every task with these outputs starts from and leaves.
    fn clean_build(&self, selection: &Selection, outputs: &[Option<Digest>]) -> Option<CleanBuild> {
        if selection.tasks.len() != self.loaded.spec.tasks.len() {
            return None;
        }
        let tasks = self
            .sources_found
            .iter()
            .zip(outputs)
            .map(|(sources, outputs)| Some(((*sources)?, (*outputs)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(CleanBuild {
            world: self.world?,
            tasks,
        })
    }

    /// Give the database the digests `prepare` found for `task`'s source inputs, once,
    /// before its key is asked for.
    fn hand_sources_to_db(&mut self, task: TaskIdx) {
        let Some(slot) = self.sources_in_db.get_mut(task.index()) else {
            return;
        };
        if std::mem::replace(slot, true) {
            return;
        }
        let paths = db::source_inputs(&self.db, self.build, task).clone();
        for path in &paths {
            let digest = self.source_digests.get(path).copied().flatten();
            self.db.set_file_digest(path, digest);
        }
    }

    /// Plain inputs that are not there (or are directories, or lead out of the
    /// project), and glob matches that lead out of it, as configuration errors.
    fn missing_sources(
        &self,
        selection: &Selection,
        paths: &[ProjectPath],
        found: &[Found],
    ) -> Vec<SpecError> {
        let spec = &self.loaded.spec;
        let by_path: FxHashMap<&ProjectPath, &Found> = paths.iter().zip(found).collect();
        let mut errors = Vec::new();
        let matches = db::glob_matches(&self.db, self.build);
        for &task in &selection.tasks {
            let t = spec.task(task);
            for (i, input) in t.inputs.iter().enumerate() {
                let checked: Vec<&ProjectPath> = match &input.kind {
                    InputKind::File(path) => vec![path],
                    InputKind::Glob(_) => matches
                        .get(&(task.0, i as u32))
                        .map(|m| m.iter().collect())
                        .unwrap_or_default(),
                    _ => continue,
                };
                for path in checked {
                    let kind = match by_path.get(path) {
                        Some(Found::Missing) if matches!(input.kind, InputKind::File(_)) => {
                            SpecErrorKind::MissingInput {
                                task: t.id.to_string(),
                                path: path.to_string(),
                            }
                        }
                        Some(Found::Directory) if matches!(input.kind, InputKind::File(_)) => {
                            SpecErrorKind::InputIsDirectory {
                                task: t.id.to_string(),
                                path: path.to_string(),
                            }
                        }
                        Some(Found::Outside { target }) => SpecErrorKind::SymlinkEscape {
                            path: path.to_string(),
                            target: target.display().to_string(),
                        },
                        _ => continue,
                    };
                    errors.push(SpecError {
                        at: Location::new(&spec.source, input.span),
                        kind,
                    });
                }
            }
        }
        errors
    }

    /// Stat every declared output of the selection in one parallel pass; each task's
    /// first decision then reads from it instead of stat'ing file by file.
    fn prefetch_outputs(&mut self, selection: &Selection) {
        let mut paths: Vec<ProjectPath> = Vec::new();
        let mut plans = Vec::with_capacity(selection.tasks.len());
        for &task in &selection.tasks {
            let start = paths.len();
            let missing_dirs = self.output_paths(task, &mut paths);
            plans.push((task, start..paths.len(), missing_dirs));
        }
        let found = self.look(&paths, scan::As::Output);
        self.prefetched
            .resize_with(self.loaded.spec.tasks.len(), || None);
        for (task, range, missing_dirs) in plans {
            let now =
                self.collect_outputs(task, &paths[range.clone()], &found[range], missing_dirs);
            if now.missing.is_empty()
                && let Some(slot) = self.outputs_found.get_mut(task.0 as usize)
            {
                *slot = Some(fresh::outputs_digest(&now.files));
            }
            if let Some(slot) = self.prefetched.get_mut(task.index()) {
                *slot = Some(now);
            }
        }
    }

    /// The files a task's outputs consist of now (directory outputs walked); returns
    /// the directory outputs that do not exist.
    fn output_paths(&self, task: TaskIdx, paths: &mut Vec<ProjectPath>) -> Vec<String> {
        let mut missing = Vec::new();
        for output in &self.loaded.spec.task(task).outputs {
            if !output.is_dir {
                paths.push(output.path.clone());
                continue;
            }
            // A directory output that is a symlink is looked at as one (never walked).
            match std::fs::symlink_metadata(output.path.to_path(&self.root.path)) {
                Ok(meta) if meta.is_dir() => {
                    paths.extend(scan::walk_files(&self.root.path, output.path.as_str(), &[]));
                }
                Ok(meta) if meta.file_type().is_symlink() => paths.push(output.path.clone()),
                _ => missing.push(output.display()),
            }
        }
        missing
    }

    /// Stat (and where needed hash) files through the stat cache, remembering them.
    fn look(&mut self, paths: &[ProjectPath], mode: scan::As) -> Vec<Found> {
        let started = scan::now_ns();
        let scanned = scan::look_all(&self.root, paths, &self.state.stat, mode);
        let mut found = Vec::with_capacity(paths.len());
        for (path, scanned) in paths.iter().zip(scanned) {
            let f = scanned.unwrap_or(Found::Missing);
            if scan::remember(&mut self.state.stat, path.as_str(), &f, started) {
                self.dirty.stat.insert(path.as_str().to_owned());
            }
            found.push(f);
        }
        found
    }

    fn collect_outputs(
        &self,
        task: TaskIdx,
        paths: &[ProjectPath],
        found: &[Found],
        missing_dirs: Vec<String>,
    ) -> OutputsNow {
        let t = self.loaded.spec.task(task);
        let mut now = OutputsNow {
            files: Vec::with_capacity(paths.len()),
            missing: missing_dirs,
            outside: Vec::new(),
        };
        for (path, found) in paths.iter().zip(found) {
            match found.digest() {
                Some(digest) => now.files.push((path.to_string(), digest)),
                None if let Found::Outside { target } = found => {
                    now.outside.push((path.to_string(), target.clone()));
                }
                None => {
                    if t.outputs.iter().any(|o| !o.is_dir && &o.path == path) {
                        now.missing.push(path.to_string());
                    }
                }
            }
        }
        now.files.sort();
        now
    }

    fn listing(&self, roots: &BTreeSet<String>) -> Vec<ProjectPath> {
        let project = &self.loaded.spec.project;
        let skip = [".git", project.cache.as_str(), project.worktrees.as_str()];
        let mut files: Vec<ProjectPath> = Vec::new();
        let mut walked: Vec<&str> = Vec::new();
        for root in roots {
            // A root inside one already walked adds nothing.
            if walked
                .iter()
                .any(|w| w.is_empty() || root == w || root.starts_with(&format!("{w}/")))
            {
                continue;
            }
            files.extend(scan::walk_files(&self.root.path, root, &skip));
            walked.push(root);
        }
        files.sort();
        files.dedup();
        files
    }

    /// Decide one task whose dependencies are settled. `Err` when its key cannot be
    /// computed (an input vanished, a section is missing in a generated document).
    pub(crate) fn decide(&mut self, task: TaskIdx, forced: bool) -> Result<Verdict, KeyError> {
        self.hand_sources_to_db(task);
        let key = *db::task_key(&self.db, self.build, task)
            .as_ref()
            .map_err(Clone::clone)?;
        let outputs = self.outputs_now(task);
        let loaded = Arc::clone(&self.loaded);
        let t = loaded.spec.task(task);
        let id = t.id.as_str();
        let preimage = db::task_preimage(&self.db, self.build, task)
            .as_ref()
            .map_err(Clone::clone)?;
        let state = self.state.tasks.get(id);
        let mut lookups = Lookups {
            cache: &self.cache,
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
                forced,
            },
            &mut lookups,
        );
        let entry = lookups.entry.take();
        // Only a task that runs needs its pre-image out of the database (to record it).
        let outcome = match (decision, entry) {
            (Decision::Fresh, _) => Outcome::Fresh,
            (Decision::Restore(reasons), Some(entry)) => Outcome::Restore {
                reasons,
                entry: Box::new(entry),
            },
            (Decision::Restore(reasons) | Decision::Run(reasons), _) => Outcome::Run {
                reasons,
                preimage: Box::new(preimage.clone()),
            },
        };
        Ok(Verdict {
            key,
            outputs,
            outcome,
        })
    }

    /// The checks `task`'s `outputs` are due: every rule in its `checks` that applies to
    /// at least one output, with its key and any verdict already known for that key.
    pub(crate) fn plan_checks(
        &self,
        task: TaskIdx,
        outputs: &[(String, Digest)],
    ) -> Vec<PlannedCheck> {
        let t = self.loaded.spec.task(task);
        let recorded = self
            .state
            .tasks
            .get(t.id.as_str())
            .map_or(&[][..], |s| &s.checks[..]);
        let success = self
            .state
            .tasks
            .get(t.id.as_str())
            .and_then(|s| s.success.as_ref())
            .map(|s| s.key);
        let mut cached: Option<Option<ActionResult>> = None;
        let mut planned = Vec::with_capacity(t.checks.len());
        for name in &t.checks {
            let Some(rule) = self.loaded.rules.position(name) else {
                continue;
            };
            let applies = &self.loaded.rules.at(rule).applies_to;
            let files: Vec<(String, Digest)> = outputs
                .iter()
                .filter(|(path, _)| {
                    applies.as_ref().is_none_or(|a| {
                        ProjectPath::try_from(path.clone()).is_ok_and(|p| a.matches(&p))
                    })
                })
                .cloned()
                .collect();
            if files.is_empty() {
                continue;
            }
            let key = check::check_key(self.rule_digests[rule], &files);
            let earlier = recorded.iter().find(|r| &r.rule == name);
            let known = match earlier {
                Some(record) if record.key == key => Some(record.result.clone()),
                _ => {
                    // The cache entry of the outputs' run may know (another checkout,
                    // a rule changed back), read once for all of the task's checks.
                    let entry = cached
                        .get_or_insert_with(|| success.and_then(|s| self.cache.actions.get(s)));
                    entry
                        .as_ref()
                        .and_then(|e| e.checks.iter().find(|(k, _)| *k == key))
                        .map(|(_, verdict)| verdict.clone())
                }
            };
            let reason = match earlier {
                Some(record) if record.key != key && known.is_none() => {
                    Some(Reason::RuleChanged { rule: name.clone() })
                }
                _ => None,
            };
            planned.push(PlannedCheck {
                rule,
                key,
                files: files.into_iter().map(|(path, _)| path).collect(),
                cacheable: known.is_some(),
                known,
                reason,
            });
        }
        planned
    }

    /// Take in what the worker found after a run (see `cache::collect`): remember the
    /// stats, and give the outputs as `outputs_now` would.
    pub(crate) fn outputs_after_run(&mut self, task: TaskIdx, collected: &Collected) -> OutputsNow {
        let mut paths = Vec::with_capacity(collected.files.len());
        let mut found = Vec::with_capacity(collected.files.len());
        for file in &collected.files {
            if scan::remember(
                &mut self.state.stat,
                file.path.as_str(),
                &file.found,
                collected.started_ns,
            ) {
                self.dirty.stat.insert(file.path.as_str().to_owned());
            }
            paths.push(file.path.clone());
            found.push(file.found.clone());
        }
        self.collect_outputs(task, &paths, &found, collected.missing_dirs.clone())
    }

    /// What a successful run left for the action cache: its outputs, whose blobs the
    /// worker stored, or why it cannot be cached.
    pub(crate) fn cached_outputs(collected: &Collected) -> Result<Vec<CachedOutput>, String> {
        if !collected.stored {
            return Err("an output changed while it was stored".to_owned());
        }
        Ok(collected.cached_outputs())
    }

    /// Record a successful run and its checks' verdicts in the action cache.
    pub(crate) fn record_run(
        &self,
        key: Digest,
        preimage: &KeyPreimage,
        outputs: Vec<CachedOutput>,
        duration_ms: u64,
        checks: Vec<(Digest, CheckResult)>,
    ) -> Result<(), String> {
        self.cache
            .record(key, preimage, outputs, duration_ms, checks)
            .map_err(|e| e.to_string())
    }

    /// A task's declared outputs as they are on disk now. The first call per task may
    /// come from the prefetch; after the task ran, they are looked at again.
    pub(crate) fn outputs_now(&mut self, task: TaskIdx) -> OutputsNow {
        if let Some(now) = self.prefetched.get_mut(task.index()).and_then(Option::take) {
            return now;
        }
        let mut paths = Vec::new();
        let missing_dirs = self.output_paths(task, &mut paths);
        let found = self.look(&paths, scan::As::Output);
        self.collect_outputs(task, &paths, &found, missing_dirs)
    }

    /// Settle a task for its dependents: its outputs as they are now.
    pub(crate) fn settle(&mut self, task: TaskIdx, outputs: Vec<(String, Digest)>) {
        let loaded = Arc::clone(&self.loaded);
        // A generated Markdown document a later task reads sections of: read it now.
        for output in &loaded.spec.task(task).outputs {
            if self.generated_docs.contains(&output.path) {
                let text = std::fs::read_to_string(output.path.to_path(&self.root.path)).ok();
                self.db.set_file_text(&output.path, text);
            }
        }
        if let Some(slot) = self.outputs_settled.get_mut(task.0 as usize) {
            *slot = Some(fresh::outputs_digest(&outputs));
        }
        self.db.set_task_outputs(task, outputs);
    }

    /// Whether the task's source inputs still have the digests its run started with.
    pub(crate) fn inputs_unchanged(
        &mut self,
        task: TaskIdx,
        preimage: &KeyPreimage,
    ) -> Option<String> {
        let paths = db::source_inputs(&self.db, self.build, task).clone();
        let found = self.look(&paths, scan::As::Input);
        let mut changed = None;
        for (path, found) in paths.iter().zip(found) {
            let before = preimage
                .inputs
                .binary_search_by(|(p, _)| p.as_str().cmp(path.as_str()))
                .ok()
                .map(|i| preimage.inputs[i].1);
            if found.digest() != before && changed.is_none() {
                changed = Some(path.to_string());
            }
        }
        changed
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
        reasons: Vec<String>,
    ) -> Result<usize, BlobError> {
        let loaded = Arc::clone(&self.loaded);
        let t = loaded.spec.task(task);
        match self.cache.restore(&self.root, entry, t, &now.files) {
            Ok(restored) => {
                let outputs: Vec<(String, Digest)> = entry
                    .outputs
                    .iter()
                    .map(|o| (o.path.clone(), o.digest))
                    .collect();
                let state = self.task_state(t.id.as_str());
                state.success = Some(crate::state::Success {
                    key: entry.key,
                    outputs,
                    duration_ms: entry.duration_ms,
                });
                state.last_run = Some(crate::state::LastRun {
                    status: crate::state::RunStatus::Ok,
                    duration_ms: 0,
                    attempts: 0,
                    reasons,
                    finished_at: crate::state::now_secs(),
                });
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
    /// the outputs recorded. A failure to store only costs a rerun elsewhere, so it is
    /// reported, not fatal.
    pub(crate) fn store(
        &self,
        task: TaskIdx,
        key: Digest,
        preimage: &KeyPreimage,
        duration_ms: u64,
    ) -> Result<Vec<(String, Digest)>, BlobError> {
        self.cache.store(
            &self.root,
            key,
            preimage,
            self.loaded.spec.task(task),
            duration_ms,
        )
    }

    /// A task's pre-image, to record once it runs (after a failed restore).
    pub(crate) fn preimage(&self, task: TaskIdx) -> Result<Box<KeyPreimage>, KeyError> {
        db::task_preimage(&self.db, self.build, task)
            .as_ref()
            .map(|p| Box::new(p.clone()))
            .map_err(Clone::clone)
    }

    /// Remember what this build did (only a change marks the state for saving).
    pub(crate) fn record_counts(&mut self, counts: crate::state::BuildCounts) {
        if self.state.last_build != Some(counts) {
            self.state.last_build = Some(counts);
            self.dirty.last_build = true;
        }
    }

    /// The record of a task, to update after it ran (marks the state for saving).
    pub(crate) fn task_state(&mut self, id: &str) -> &mut TaskState {
        if !self.dirty.tasks.contains(id) {
            self.dirty.tasks.insert(id.to_owned());
        }
        self.state.tasks.entry(id.to_owned()).or_default()
    }

    /// What was found damaged in the cache and ignored since the last call: files read
    /// back at open, and action-cache records read since.
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.warnings);
        let damaged = self.cache.actions.take_damaged();
        if damaged > 0 {
            warnings.push(format!(
                "{damaged} damaged record{} in {}/ac/ ignored (their checksums do not match); `conduct cache verify` removes them",
                if damaged == 1 { " was" } else { "s were" },
                self.loaded.spec.project.cache
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
        drop(self._lock.take());
        std::mem::forget(self);
    }

    /// Write what changed in the state: appended to its journal, or (a build that
    /// changed much of it) as a new snapshot. Read-only sessions write nothing.
    pub(crate) fn save(&mut self) -> Result<(), Error> {
        if self.access == Access::Read || !self.dirty.any() {
            return Ok(());
        }
        let ids: HashSet<&str> = self
            .loaded
            .spec
            .tasks
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        let gone: Vec<String> = self
            .state
            .tasks
            .keys()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            self.state.tasks.remove(&id);
            self.dirty.tasks.insert(id);
        }
        let error = |source| Error::Cache {
            path: self.cache_dir.clone(),
            source,
        };
        let entries = self.state.tasks.len() + self.state.stat.len();
        let dirty = std::mem::take(&mut self.dirty);
        let saved = if dirty.tasks.len() + dirty.stat.len() > 1000 + entries / 8 {
            self.store.rewrite(&mut self.state)
        } else {
            let changes = dirty.changes(&self.state);
            self.store.save(&mut self.state, &changes)
        };
        if saved.is_err() {
            self.dirty = dirty;
        }
        saved.map_err(error)
    }
}

/// The entries of the state changed since it was read or last saved: what its journal
/// gets.
#[derive(Debug, Default)]
struct Dirty {
    tasks: FxHashSet<String>,
    stat: FxHashSet<String>,
    clean_build: CleanChange,
    last_build: bool,
}

/// How the record of the last clean build changed.
#[derive(Debug, Default)]
enum CleanChange {
    #[default]
    None,
    /// The same tasks: these tasks' parts, and the world if `true`.
    Parts(Vec<u32>, bool),
    Whole,
}

impl Dirty {
    fn any(&self) -> bool {
        !self.tasks.is_empty()
            || !self.stat.is_empty()
            || !matches!(self.clean_build, CleanChange::None)
            || self.last_build
    }

    /// Note the change from `old` to `new`.
    fn clean_build(&mut self, old: Option<&CleanBuild>, new: Option<&CleanBuild>) {
        let (Some(old), Some(new)) = (old, new) else {
            self.clean_build = CleanChange::Whole;
            return;
        };
        if old.tasks.len() != new.tasks.len() {
            self.clean_build = CleanChange::Whole;
            return;
        }
        let (mut parts, mut world) = match std::mem::take(&mut self.clean_build) {
            CleanChange::Whole => {
                self.clean_build = CleanChange::Whole;
                return;
            }
            CleanChange::Parts(parts, world) => (parts, world),
            CleanChange::None => (Vec::new(), false),
        };
        world |= old.world != new.world;
        parts.extend(
            (0..new.tasks.len())
                .filter(|&i| old.tasks[i] != new.tasks[i])
                .map(|i| i as u32),
        );
        self.clean_build = CleanChange::Parts(parts, world);
    }

    /// The journal records: each changed entry as it is now in `state`.
    fn changes(&self, state: &State) -> Vec<Change> {
        let mut changes = Vec::with_capacity(self.tasks.len() + self.stat.len() + 2);
        for id in &self.tasks {
            changes.push(Change::Task(id.clone(), state.tasks.get(id).cloned()));
        }
        for path in &self.stat {
            changes.push(Change::Stat(path.clone(), state.stat.get(path).copied()));
        }
        match (&self.clean_build, &state.clean_build) {
            (CleanChange::None, _) => {}
            (CleanChange::Parts(parts, world), Some(clean)) => {
                if *world {
                    changes.push(Change::CleanWorld(clean.world));
                }
                for &i in parts {
                    if let Some(&part) = clean.tasks.get(i as usize) {
                        changes.push(Change::CleanTask(i, part));
                    }
                }
            }
            _ => changes.push(Change::CleanBuild(state.clean_build.clone())),
        }
        if self.last_build {
            changes.push(Change::LastBuild(state.last_build));
        }
        changes
    }
}

/// Claim the cache directory (it must be conduct's: see `cache::dir`), take its lock,
/// saying so if another conduct holds it, then clear what a `kill -9` left in its
/// temporary directory.
fn take_lock(root: &Path, cache: &ProjectPath) -> Result<ProjectLock, Error> {
    let cache_dir = &cache.to_path(root);
    crate::cache::dir::claim(&crate::confined::Root::new(root), cache)?;
    let lock = lock::acquire(cache_dir, |pid| {
        let holder = pid.map_or_else(|| "another conduct".to_owned(), |p| format!("pid {p}"));
        let _ = std::io::Write::write_all(
            &mut anstream::stderr(),
            format!("conduct: waiting for the lock on the cache (held by {holder})\n").as_bytes(),
        );
    })
    .map_err(|source| Error::Cache {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    crate::confined::Temp::new(cache_dir).clean_stale();
    Ok(lock)
}

/// Run a `{ command = … }` input through the project shell and capture its stdout.
fn command_stdout(shell: &[String], command: &str, root: &Path) -> Option<Vec<u8>> {
    let (program, args) = shell.split_first()?;
    let output = Command::new(program)
        .args(args)
        .arg(command)
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then_some(output.stdout)
}
