//! The coordinator of a build (step 4 of DESIGN "How one build flows").
//!
//! One thread owns the session (and with it the salsa database and the state). When a
//! task's dependencies are settled it asks `Session::decide`; a fresh task settles at
//! once, a stale one joins the scheduler's ready queue. Ready tasks are handed to a rayon
//! pool of `-j` workers as plain `Job`s; workers run the process and report back over a
//! channel, and never touch the database. On completion the coordinator hashes the
//! outputs, records the result, sets the task's output digests (only if they changed:
//! the early cutoff) and releases its dependents.
//!
//! Timeouts and Ctrl-C are handled here too: the coordinator signals the task's process
//! group (TERM, then KILL after 5 s), records the run as timed out or interrupted (never
//! as a success) and, on Ctrl-C, exits 130. `--dry-run` decides in dependency order
//! without running or writing anything.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
#[cfg(test)]
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::cache::action::CachedOutput;
use crate::cache::{self, Collected};
use crate::error::Error;
use crate::estimate;
use crate::exec::process::{self, Exit, Job, ProcessRunner, Runner, Stop, WorkerEvent};
use crate::exec::scheduler::Scheduler;
use crate::exec::worktree::{self, Repo};
use crate::explain::{self, Reason};
use crate::graph::Selection;
use crate::hash::{Digest, KeyPreimage};
use crate::instruction;
use crate::project::Loaded;
use crate::project::Locator;
use crate::report::Counts;
use crate::report::progress::{Reporter, Style, TaskEnd};
use crate::report::record::{self, Recorder};
use crate::rules::RuleCheck;
use crate::rules::check::{self, Evaluated};
use crate::session::{Access, Outcome, PlannedCheck, Session};
use crate::spec::{Run, TaskIdx, Workspace};
use crate::state::{CheckRecord, LastRun, RunStatus, Success};

/// How long a task's process group gets between TERM and KILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often the coordinator wakes up without events (Ctrl-C, timers).
const TICK: Duration = Duration::from_millis(50);
/// The shortest wait between saves of the state while tasks keep finishing.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// Lines of a failed task's log printed with the failure.
const LOG_TAIL: usize = 20;

/// What `conduct build` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct BuildOptions {
    pub(crate) targets: Vec<String>,
    pub(crate) jobs: Option<usize>,
    pub(crate) explain: bool,
    pub(crate) dry_run: bool,
    pub(crate) force: bool,
    pub(crate) fail_fast: bool,
    pub(crate) style: Style,
    /// `-v`: stream task output.
    pub(crate) verbose: bool,
}

/// Run a build; returns the exit code (0, 1 or 130).
pub(crate) fn build(locator: &Locator, options: &BuildOptions) -> Result<i32, Error> {
    build_with(locator, options, Arc::new(ProcessRunner::for_build()))
}

/// A build with a chosen runner (tests use a fake).
pub(crate) fn build_with(
    locator: &Locator,
    options: &BuildOptions,
    runner: Arc<dyn Runner>,
) -> Result<i32, Error> {
    let started = Instant::now();
    let access = if options.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let mut session = Session::open(locator, access)?;
    let loaded = Arc::clone(&session.loaded);
    let selection = loaded.graph.select(&loaded.spec, &options.targets)?;
    session.prepare(&selection)?;
    // `--force` applies to the tasks the targets name, not to the dependencies they bring.
    let forced = if !options.force {
        vec![false; loaded.spec.tasks.len()]
    } else if options.targets.is_empty() {
        vec![true; loaded.spec.tasks.len()]
    } else {
        loaded.graph.select_named(&loaded.spec, &options.targets)?
    };
    let repo = find_repo(&session, &selection)?;
    let mut reporter = Reporter::new(options.style, options.explain, selection.tasks.len());
    for warning in session.take_warnings() {
        reporter.warn(&warning);
    }
    let jobs = loaded.spec.project.jobs_with(options.jobs);
    let keep_runs = loaded.spec.project.keep_runs;
    // Nothing changed since a clean build of everything: every task is fresh.
    let unchanged =
        !options.dry_run && !options.force && session.unchanged_since_clean_build(&selection);
    if !options.dry_run && !unchanged && keep_runs > 0 {
        reporter.record_with(Recorder::new(
            &loaded.spec,
            &loaded.graph,
            &selection,
            &options.targets,
            jobs,
        ));
    }
    let (counts, interrupted) = if options.dry_run {
        (
            dry_run(&mut session, &selection, &forced, &mut reporter),
            false,
        )
    } else if unchanged {
        session.settle_unchanged();
        for &task in &selection.tasks {
            reporter.fresh(loaded.spec.task(task).id.as_str());
        }
        let counts = Counts {
            fresh: selection.tasks.len(),
            ..Counts::default()
        };
        (counts, false)
    } else {
        let mut coordinator = Coordinator::new(
            &mut session,
            &selection,
            options,
            forced,
            jobs,
            Arc::clone(&runner),
            &mut reporter,
        )?;
        coordinator.repo = repo;
        let ended = coordinator.run();
        runner.finish();
        ended
    };
    if !options.dry_run {
        let clean = !interrupted
            && counts.failed + counts.blocked + counts.warnings + reporter.warnings == 0;
        session.remember_build(&selection, clean);
        let n = |count: usize| u32::try_from(count).unwrap_or(u32::MAX);
        session.record_counts(crate::state::BuildCounts {
            ran: n(counts.ran),
            fresh: n(counts.fresh),
            restored: n(counts.restored),
            failed: n(counts.failed),
            blocked: n(counts.blocked),
        });
    }
    // The run record is written beside the state, on its own thread; a build that
    // found everything fresh has nothing to tell (and a no-op must stay cheap).
    let did_something =
        interrupted || counts.ran + counts.restored + counts.failed + counts.blocked > 0;
    let recording = reporter
        .take_record()
        .filter(|_| did_something)
        .map(|recorder| {
            let dir = session.cache_dir.join("runs");
            std::thread::spawn(move || {
                let record = recorder.finish(counts, interrupted);
                record::save(&dir, &record, keep_runs)
            })
        });
    for warning in session.take_warnings() {
        reporter.warn(&warning);
    }
    let saved = session.save();
    if let Some(recording) = recording {
        match recording.join() {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                reporter.warn(&format!("the run record could not be written: {error}"))
            }
            Err(_) => reporter.warn("the run record could not be written"),
        }
    }
    session.finish();
    reporter.build_finished(counts, started.elapsed(), options.dry_run);
    saved?;
    Ok(if interrupted {
        130
    } else if counts.failed + counts.blocked > 0 {
        1
    } else {
        0
    })
}

/// What a decision in dependency order found, without running anything.
pub(crate) enum Planned {
    Fresh,
    /// The cache would give the outputs back.
    Restore(Vec<String>),
    /// The command would not run, but checks would run again or fail again.
    Recheck {
        reasons: Vec<String>,
        failing: bool,
    },
    Run(Vec<String>),
}

/// Whether settled outputs still pass their checks without running any: `None` if so,
/// else what would be checked again or fail again.
fn recheck(session: &Session, task: TaskIdx, outputs: &[(String, Digest)]) -> Option<Planned> {
    let loaded = &session.loaded;
    let mut reasons = Vec::new();
    let mut failing = false;
    for planned in session.plan_checks(task, outputs) {
        let rule = loaded.rules.at(planned.rule);
        match &planned.known {
            None => reasons.push(planned.reason.map_or_else(
                || format!("check {} has not run on these outputs", rule.name),
                |r| r.to_string(),
            )),
            Some(result) if !result.passed && rule.required => {
                failing = true;
                let reason = Reason::CheckFailed {
                    rule: rule.name.clone(),
                    message: result.message.clone(),
                };
                reasons.push(reason.to_string());
            }
            Some(_) => {}
        }
    }
    (!reasons.is_empty()).then_some(Planned::Recheck { reasons, failing })
}

/// Decide every selected task in dependency order as a build would, without running:
/// a task downstream of one that would run would run too (its inputs may change).
/// Shared by `--dry-run` and `conduct list`.
pub(crate) fn plan(
    session: &mut Session,
    selection: &Selection,
    forced: &[bool],
) -> Vec<(TaskIdx, Planned)> {
    let loaded = Arc::clone(&session.loaded);
    let spec = &loaded.spec;
    let mut would_run: Vec<bool> = vec![false; spec.tasks.len()];
    let mut group_would_run: Vec<Option<TaskIdx>> = vec![None; spec.groups.len()];
    let mut planned = Vec::with_capacity(selection.tasks.len());
    for &task in &selection.tasks {
        let t = spec.task(task);
        let mut upstream: Vec<Reason> = loaded
            .graph
            .task_deps(task)
            .iter()
            .filter(|d| would_run[d.task.index()])
            .map(|d| Reason::DependencyWillRun {
                dep: spec.task(d.task).id.to_string(),
            })
            .collect();
        for &earlier in t.group.map(|g| &spec.group(g).after[..]).unwrap_or(&[]) {
            if let Some(dep) = group_would_run[earlier.index()] {
                upstream.push(Reason::DependencyWillRun {
                    dep: spec.task(dep).id.to_string(),
                });
            }
        }
        let verdict = if !upstream.is_empty() {
            Planned::Run(explain::render(&upstream))
        } else if t.run.is_none() {
            session.settle(task, Vec::new());
            Planned::Fresh
        } else {
            match session.decide(task, forced[task.index()]) {
                Ok(verdict) => match verdict.outcome {
                    Outcome::Fresh => {
                        let again = recheck(session, task, &verdict.outputs.files);
                        session.settle(task, verdict.outputs.files);
                        again.unwrap_or(Planned::Fresh)
                    }
                    Outcome::Restore { reasons, entry } => {
                        let outputs: Vec<(String, Digest)> = entry
                            .outputs
                            .iter()
                            .map(|o| (o.path.clone(), o.digest))
                            .collect();
                        let again = recheck(session, task, &outputs);
                        session.settle(task, outputs);
                        again.unwrap_or(Planned::Restore(explain::render(&reasons)))
                    }
                    Outcome::Run { reasons, .. } => Planned::Run(explain::render(&reasons)),
                },
                Err(error) => Planned::Run(vec![error.to_string()]),
            }
        };
        if matches!(verdict, Planned::Run(_) | Planned::Recheck { .. }) {
            would_run[task.index()] = true;
            if let Some(g) = t.group {
                group_would_run[g.index()].get_or_insert(task);
            }
        }
        planned.push((task, verdict));
    }
    planned
}

/// One check's verdict as a commit message lists it.
fn verdict_line(rule: &str, required: bool, result: &crate::rules::check::CheckResult) -> String {
    let mut line = rule.to_owned();
    if !required {
        line.push_str(" (advisory)");
    }
    line.push_str(if result.passed {
        ": passed"
    } else {
        ": failed"
    });
    if let Some(metric) = result.metric {
        line.push_str(&format!(", {metric}"));
    }
    if !result.passed {
        line.push_str(&format!(" ({})", result.message));
    }
    line
}

/// The git repository, when a selected task runs in a worktree: found before anything
/// runs, so a project that is not a repository fails at once (exit 2), not task by task.
fn find_repo(session: &Session, selection: &Selection) -> Result<Option<Arc<Repo>>, Error> {
    let spec = &session.loaded.spec;
    let tasks: Vec<String> = selection
        .tasks
        .iter()
        .map(|&t| spec.task(t))
        .filter(|t| t.workspace == Workspace::Worktree && t.run.is_some())
        .map(|t| t.id.to_string())
        .collect();
    if tasks.is_empty() {
        return Ok(None);
    }
    Repo::find(&session.root.path)
        .map(|repo| Some(Arc::new(repo)))
        .map_err(|source| Error::Worktree { tasks, source })
}

fn dry_run(
    session: &mut Session,
    selection: &Selection,
    forced: &[bool],
    reporter: &mut Reporter,
) -> Counts {
    let loaded = Arc::clone(&session.loaded);
    let mut counts = Counts::default();
    for (task, planned) in plan(session, selection, forced) {
        let id = loaded.spec.task(task).id.as_str();
        match planned {
            Planned::Fresh => {
                counts.fresh += 1;
                reporter.fresh(id);
            }
            Planned::Restore(reasons) => {
                counts.restored += 1;
                reporter.would_restore(id, &reasons);
            }
            Planned::Recheck { reasons, .. } => {
                counts.would_run += 1;
                reporter.would_recheck(id, &reasons);
            }
            Planned::Run(reasons) => {
                counts.would_run += 1;
                reporter.would_run(id, &reasons);
            }
        }
    }
    counts
}

/// A task decided to run, waiting in line or running.
struct Pending {
    key: Digest,
    preimage: Box<KeyPreimage>,
    reasons: Vec<String>,
    attempt: u32,
    /// What the failed checks of the last attempt said (`CONDUCT_FEEDBACK`).
    feedback: Option<String>,
    /// Output files that were there when the task was decided and whose contents
    /// conduct has no record of making: never removed before a run (see [`Prep`]).
    keep: Vec<String>,
    /// Processes the last attempt left behind, killed when it ended (`reaper`).
    leftovers: usize,
}

impl Pending {
    /// What the task's line says of leftover processes.
    fn leftovers_note(&self) -> Option<String> {
        match self.leftovers {
            0 => None,
            1 => Some("killed 1 leftover process".to_owned()),
            n => Some(format!("killed {n} leftover processes")),
        }
    }
}

/// How a task's command part was settled, while its checks decide whether it is done.
enum Settled {
    Fresh,
    Restored {
        files: usize,
        reasons: Vec<String>,
    },
    Ran {
        pending: Pending,
        duration: Duration,
        /// The outputs to record in the action cache with the checks' verdicts; `None`
        /// when the run must not be cached (an input changed while it ran).
        record: Option<Vec<CachedOutput>>,
        /// The outputs as the run left them (where it ran: the root or its worktree).
        made: Vec<CachedOutput>,
    },
}

/// A task whose checks are being evaluated.
struct Checking {
    settled: Settled,
    outputs: Vec<(String, Digest)>,
    checks: Vec<PlannedCheck>,
    /// Checks still running on the pool.
    waiting: usize,
}

/// The file work before a task runs: its stale outputs removed, their parent
/// directories made, its instruction written. Nothing is written or removed through a
/// symlink (see `confined`), and an output file conduct has no record of making (one
/// that was there first) is left in place: conduct never deletes what it did not make.
struct Prep {
    /// The task's worktree to make or reuse first (a worktree task).
    worktree: Option<worktree::Prepare>,
    /// Where the task runs (the project root or its worktree), and its outputs.
    cwd: crate::confined::Root,
    outputs: Vec<crate::spec::Output>,
    /// Output files to leave (project-relative; see [`Pending::keep`]).
    keep: Vec<String>,
    /// Where the instruction goes: `.cache/instructions/`, and the worktree.
    instruction: (Vec<PathBuf>, String),
    /// `.cache/instructions/`, opened once per build.
    instructions_dir: Option<Arc<crate::confined::Dir>>,
    /// What the failed checks of the previous attempt said.
    feedback: Option<(PathBuf, String)>,
}

impl Prep {
    fn apply(&self) -> io::Result<()> {
        use crate::confined::Dir;
        if let Some(prepare) = &self.worktree {
            prepare.apply().map_err(io::Error::other)?;
        }
        for output in &self.outputs {
            let path = output.path.as_str();
            let (above, name) = path.rsplit_once('/').unwrap_or(("", path));
            let dir = Dir::anchor(&self.cwd, above)?;
            let kept: Vec<&str> = self
                .keep
                .iter()
                .map(String::as_str)
                .filter(|k| *k == path || k.starts_with(&format!("{path}/")))
                .collect();
            if kept.is_empty() {
                dir.remove(name)?;
            } else if output.is_dir && dir.is_dir(name) {
                for file in crate::scan::walk_files(&self.cwd.path, path, &[]) {
                    let file = file.as_str();
                    if kept.contains(&file) {
                        continue;
                    }
                    let inner = file[path.len() + 1..].rsplit_once('/');
                    let (sub, leaf) = inner.unwrap_or(("", &file[path.len() + 1..]));
                    let sub = if sub.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{name}/{sub}")
                    };
                    if let Ok(sub) = dir.inner(&sub, false) {
                        sub.remove(leaf)?;
                    }
                }
            }
        }
        // Rewritten before every run, read only by the task.
        let mut files: Vec<(&PathBuf, &str)> = self
            .instruction
            .0
            .iter()
            .map(|path| (path, self.instruction.1.as_str()))
            .collect();
        if let Some((path, text)) = &self.feedback {
            files.push((path, text));
        }
        for (path, text) in files {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            match &self.instructions_dir {
                Some(dir) if dir.path() == parent => dir.overwrite(&name, &mut text.as_bytes())?,
                _ => {
                    std::fs::create_dir_all(parent)?;
                    Dir::open(parent)?.overwrite(&name, &mut text.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}

/// What the coordinator hears from the workers.
enum Event {
    Started {
        task: TaskIdx,
        pid: u32,
    },
    /// A check of a task's outputs reached its verdict.
    Checked {
        task: TaskIdx,
        /// Its place in the task's planned checks.
        index: usize,
        evaluated: Evaluated,
    },
    /// The process ended; after a success, the worker has also hashed the outputs and
    /// stored them in the CAS, so the coordinator only records.
    Finished {
        task: TaskIdx,
        attempt: u32,
        exit: Exit,
        duration: Duration,
        /// Processes it left behind, killed (see `exec::reaper`).
        leftovers: usize,
        collected: Option<Collected>,
    },
}

/// One thread for the checks that only read files (built-ins, patterns): it blocks
/// while idle, unlike a rayon pool whose spinning threads would compete with the task
/// processes for the cores.
struct Checker {
    queue: Option<Sender<Box<dyn FnOnce() + Send>>>,
}

impl Checker {
    fn new() -> Checker {
        Checker { queue: None }
    }

    fn run(&mut self, work: Box<dyn FnOnce() + Send>) {
        let queue = self.queue.get_or_insert_with(|| {
            let (queue, jobs) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
            std::thread::spawn(move || {
                for job in jobs {
                    job();
                }
            });
            queue
        });
        if let Err(mpsc::SendError(work)) = queue.send(work) {
            // The thread is gone (it cannot panic, but never lose a check): run here.
            work();
        }
    }
}

/// How a task's last attempt failed, for the record and the report.
struct Failure {
    status: RunStatus,
    duration: Duration,
    attempt: u32,
    detail: Option<String>,
    /// The end of the task's log.
    tail: String,
    reasons: Vec<String>,
}

impl Failure {
    /// The task could not even start (its key, its files): it fails with `detail`.
    fn before_running(detail: String) -> Failure {
        Failure {
            status: RunStatus::Failed,
            duration: Duration::ZERO,
            attempt: 1,
            detail: Some(detail),
            tail: String::new(),
            reasons: Vec::new(),
        }
    }
}

/// A running process.
struct Running {
    pid: Option<u32>,
    deadline: Option<Instant>,
    kill_at: Option<Instant>,
    timed_out: bool,
    interrupted: bool,
}

/// Removes the Ctrl-C handlers when the build ends.
struct Signals {
    flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn register() -> Signals {
        let flag = Arc::new(AtomicBool::new(false));
        let ids = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]
            .into_iter()
            .filter_map(|signal| signal_hook::flag::register(signal, Arc::clone(&flag)).ok())
            .collect();
        Signals { flag, ids }
    }

    fn raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

struct Coordinator<'a> {
    session: &'a mut Session,
    loaded: Arc<Loaded>,
    options: &'a BuildOptions,
    reporter: &'a mut Reporter,
    scheduler: Scheduler,
    forced: Vec<bool>,
    jobs: usize,
    pool: rayon::ThreadPool,
    runner: Arc<dyn Runner>,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    pending: HashMap<TaskIdx, Pending>,
    running: HashMap<TaskIdx, Running>,
    checking: HashMap<TaskIdx, Checking>,
    checker: Checker,
    counts: Counts,
    signals: Signals,
    interrupted: bool,
    first_failure: Option<TaskIdx>,
    last_save: Instant,
    /// How long to wait between saves of the state during the build.
    save_every: Duration,
    dirty: bool,
    /// The repository worktree tasks branch from (`None`: no worktree task selected).
    repo: Option<Arc<Repo>>,
    /// `.cache/instructions/`, opened once for every task's instruction file.
    instructions_dir: Option<Arc<crate::confined::Dir>>,
}

impl<'a> Coordinator<'a> {
    fn new(
        session: &'a mut Session,
        selection: &Selection,
        options: &'a BuildOptions,
        forced: Vec<bool>,
        jobs: usize,
        runner: Arc<dyn Runner>,
        reporter: &'a mut Reporter,
    ) -> Result<Coordinator<'a>, Error> {
        let loaded = Arc::clone(&session.loaded);
        let spec = &loaded.spec;
        let weight = |task: TaskIdx| estimate::expected_seconds(spec, &session.state, task).0;
        let scheduler = Scheduler::new(&loaded.graph, spec, selection, weight);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .thread_name(|i| format!("conduct-worker-{i}"))
            .build()
            .map_err(|e| Error::Cache {
                path: session.cache_dir.clone(),
                source: io::Error::other(e),
            })?;
        for dir in ["instructions", "logs"] {
            std::fs::create_dir_all(session.cache_dir.join(dir)).map_err(|source| {
                Error::Cache {
                    path: session.cache_dir.clone(),
                    source,
                }
            })?;
        }
        let (events, inbox) = mpsc::channel::<Event>();
        let instructions_dir = crate::confined::Dir::open(&session.cache_dir.join("instructions"))
            .ok()
            .map(Arc::new);
        Ok(Coordinator {
            session,
            loaded,
            options,
            reporter,
            scheduler,
            forced,
            jobs: jobs.max(1),
            pool,
            runner,
            events,
            inbox,
            pending: HashMap::new(),
            running: HashMap::new(),
            checking: HashMap::new(),
            checker: Checker::new(),
            counts: Counts::default(),
            signals: Signals::register(),
            interrupted: false,
            first_failure: None,
            last_save: Instant::now(),
            save_every: SAVE_EVERY,
            dirty: false,
            repo: None,
            instructions_dir,
        })
    }

    /// Drive the build to its end; returns the counts and whether it was interrupted.
    fn run(mut self) -> (Counts, bool) {
        loop {
            loop {
                let decidable = self.scheduler.take_decidable();
                if decidable.is_empty() {
                    break;
                }
                for task in decidable {
                    self.decide(task);
                }
            }
            while let Some(task) = self.scheduler.next(self.jobs) {
                self.start(task);
            }
            if self.scheduler.is_idle() && self.checking.is_empty() {
                break;
            }
            match self.inbox.recv_timeout(self.next_wakeup()) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.timers();
            self.save_now_and_then();
        }
        let why = match self.first_failure {
            _ if self.interrupted => "interrupted".to_owned(),
            Some(task) => self.loaded.spec.task(task).id.to_string(),
            None => "stopped".to_owned(),
        };
        for task in self.scheduler.unfinished() {
            let id = self.loaded.spec.task(task).id.to_string();
            self.counts.blocked += 1;
            self.reporter.blocked(&id, &why);
        }
        (self.counts, self.interrupted)
    }

    fn id(&self, task: TaskIdx) -> String {
        self.loaded.spec.task(task).id.to_string()
    }

    fn decide(&mut self, task: TaskIdx) {
        let id = self.id(task);
        if self.loaded.spec.task(task).run.is_none() {
            self.session.settle(task, Vec::new());
            self.counts.fresh += 1;
            self.reporter.fresh(&id);
            self.scheduler.succeeded(task);
            return;
        }
        let forced = self.forced[task.index()];
        if !forced && self.session.unchanged_task(task) {
            let outputs = self.session.outputs_now(task).files;
            self.check(task, Settled::Fresh, outputs);
            return;
        }
        match self.session.decide(task, forced) {
            Ok(verdict) => match verdict.outcome {
                Outcome::Fresh => {
                    self.check(task, Settled::Fresh, verdict.outputs.files);
                }
                Outcome::Restore { reasons, entry } => {
                    let rendered = explain::render(&reasons);
                    match self
                        .session
                        .restore(task, &entry, &verdict.outputs, rendered.clone())
                    {
                        Ok(files) => {
                            let outputs = entry
                                .outputs
                                .iter()
                                .map(|o| (o.path.clone(), o.digest))
                                .collect();
                            let settled = Settled::Restored {
                                files,
                                reasons: rendered,
                            };
                            self.check(task, settled, outputs);
                            self.dirty = true;
                        }
                        Err(error) => {
                            let mut reasons = reasons;
                            reasons.push(Reason::CacheUnusable {
                                why: error.to_string(),
                            });
                            match self.session.preimage(task) {
                                Ok(preimage) => self.queue(
                                    task,
                                    verdict.key,
                                    preimage,
                                    &reasons,
                                    &verdict.outputs.files,
                                ),
                                Err(error) => {
                                    self.give_up(task, Failure::before_running(error.to_string()))
                                }
                            }
                        }
                    }
                }
                Outcome::Run { reasons, preimage } => {
                    self.queue(
                        task,
                        verdict.key,
                        preimage,
                        &reasons,
                        &verdict.outputs.files,
                    );
                }
            },
            Err(error) => {
                // The key cannot be computed (say, a section missing from a document a
                // dependency generated): the task fails without running.
                self.reporter.will_run(&id, &[error.to_string()]);
                self.give_up(task, Failure::before_running(error.to_string()));
            }
        }
    }

    /// The task must run: explain why and put it in line.
    fn queue(
        &mut self,
        task: TaskIdx,
        key: Digest,
        preimage: Box<KeyPreimage>,
        reasons: &[Reason],
        now: &[(String, Digest)],
    ) {
        let id = self.id(task);
        let reasons = explain::render(reasons);
        self.reporter.will_run(&id, &reasons);
        // What conduct recorded making may go before the run; anything else (a file
        // that was there first, a hand edit) stays for the task to overwrite or not.
        let recorded = self
            .session
            .state
            .tasks
            .get(id.as_str())
            .and_then(|s| s.success.as_ref())
            .map_or(&[][..], |s| &s.outputs[..]);
        let keep = now
            .iter()
            .filter(|file| !recorded.contains(file))
            .map(|(path, _)| path.clone())
            .collect();
        self.pending.insert(
            task,
            Pending {
                key,
                preimage,
                reasons,
                attempt: 0,
                feedback: None,
                keep,
                leftovers: 0,
            },
        );
        self.scheduler.queue(task);
    }

    fn start(&mut self, task: TaskIdx) {
        let id = self.id(task);
        let Some(pending) = self.pending.get_mut(&task) else {
            return;
        };
        pending.attempt += 1;
        let attempt = pending.attempt;
        let reasons = pending.reasons.clone();
        let (prep, job) = self.job(task, attempt);
        self.reporter.started(&id, attempt, &reasons);
        self.running.insert(
            task,
            Running {
                pid: None,
                deadline: None,
                kill_at: None,
                timed_out: false,
                interrupted: false,
            },
        );
        let runner = Arc::clone(&self.runner);
        let events = self.events.clone();
        let outputs = self.loaded.spec.task(task).outputs.clone();
        let root = self.session.root.clone();
        let blobs = self.session.cache.blobs.clone();
        let workspace = self.workspace_of(task);
        // The file work before and after a run happens on the worker, so the coordinator
        // is free to start the next task.
        self.pool.spawn(move || {
            let ended = std::cell::RefCell::new(None);
            match prep.apply() {
                Ok(()) => runner.run(job, &|event| match event {
                    WorkerEvent::Started { task, pid } => {
                        let _ = events.send(Event::Started {
                            task: TaskIdx(task),
                            pid,
                        });
                    }
                    WorkerEvent::Exited {
                        exit,
                        duration,
                        leftovers,
                    } => {
                        *ended.borrow_mut() = Some((exit, duration, leftovers));
                    }
                }),
                Err(error) => {
                    let exit = Exit::SpawnFailed {
                        error: format!("could not prepare the task: {error}"),
                    };
                    *ended.borrow_mut() = Some((exit, Duration::ZERO, 0));
                }
            }
            let (exit, duration, leftovers) = ended.into_inner().unwrap_or_else(|| {
                let error = "the runner reported no exit".to_owned();
                (Exit::SpawnFailed { error }, Duration::ZERO, 0)
            });
            // A worktree task's outputs are stored and checked where they were made;
            // they reach the project root only once their checks pass (`finish`).
            let made_in = match &workspace {
                Some(workspace) => crate::confined::Root::new(&workspace.dir),
                None => root,
            };
            let collected =
                (exit == Exit::Success).then(|| cache::collect(&made_in, &outputs, &blobs));
            let _ = events.send(Event::Finished {
                task,
                attempt,
                exit,
                duration,
                leftovers,
                collected,
            });
        });
    }

    /// The process to run: stale outputs removed, parent directories made, the
    /// instruction written, the environment of SPEC §4.
    fn job(&mut self, task: TaskIdx, attempt: u32) -> (Prep, Job) {
        let loaded = Arc::clone(&self.loaded);
        let spec = &loaded.spec;
        let t = spec.task(task);
        let root = self.session.root.path.clone();
        let prepare = self.worktree_prepare(task);
        // Where the task runs: the project root, or its worktree's counterpart.
        let (cwd, instruction) = match &prepare {
            Some(p) => {
                let dir = p.repo.locate(&p.worktrees, &p.id, p.agent.as_deref()).dir;
                let instruction = dir.join("TASK_INSTRUCTION.md");
                (dir, instruction)
            }
            None => {
                let instruction = self
                    .session
                    .cache_dir
                    .join("instructions")
                    .join(format!("{}.md", t.id));
                (root.clone(), instruction)
            }
        };
        let mut instructions = vec![
            self.session
                .cache_dir
                .join("instructions")
                .join(format!("{}.md", t.id)),
        ];
        if prepare.is_some() {
            instructions.push(instruction.clone());
        }
        let text = instruction::render(
            spec,
            &loaded.graph,
            &loaded.rules,
            task,
            &|file, section| self.session.section_text(file, section),
        );
        let feedback = self
            .pending
            .get(&task)
            .and_then(|p| p.feedback.clone())
            .map(|text| {
                let path = self
                    .session
                    .cache_dir
                    .join("feedback")
                    .join(format!("{}.md", t.id));
                (path, text)
            });
        let in_worktree = prepare.is_some();
        let prep = Prep {
            worktree: prepare,
            // The session's root (resolved and opened once), or the worktree's.
            cwd: if in_worktree {
                crate::confined::Root::new(&cwd)
            } else {
                self.session.root.clone()
            },
            outputs: t.outputs.clone(),
            // A worktree is conduct's own: what is in it goes before a run.
            keep: match self.pending.get(&task) {
                Some(pending) if !in_worktree => pending.keep.clone(),
                _ => Vec::new(),
            },
            instruction: (instructions, text),
            instructions_dir: self.instructions_dir.clone(),
            feedback: feedback.clone(),
        };
        let log = self.log_path(task);
        let argv = match &t.run {
            Some(Run::Shell(command)) => {
                let mut argv = spec.project.shell.clone();
                argv.push(command.clone());
                argv
            }
            Some(Run::Exec(argv)) => argv.clone(),
            None => Vec::new(),
        };
        let outputs: Vec<String> = t.outputs.iter().map(|o| o.path.to_string()).collect();
        let mut env = vec![
            ("CONDUCT_TASK".to_owned(), t.id.to_string()),
            ("CONDUCT_TITLE".to_owned(), t.display_title().to_owned()),
            ("CONDUCT_ROOT".to_owned(), root.display().to_string()),
            ("CONDUCT_WORKSPACE".to_owned(), cwd.display().to_string()),
            (
                "CONDUCT_INSTRUCTION".to_owned(),
                instruction.display().to_string(),
            ),
            ("CONDUCT_OUTPUTS".to_owned(), outputs.join("\n")),
            ("CONDUCT_ATTEMPT".to_owned(), attempt.to_string()),
        ];
        if let Some((path, _)) = &feedback {
            env.push(("CONDUCT_FEEDBACK".to_owned(), path.display().to_string()));
        }
        env.extend(t.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let job = Job {
            task: task.0,
            id: t.id.to_string(),
            argv,
            cwd,
            env,
            log,
            stream: self.options.verbose,
        };
        (prep, job)
    }

    /// For a worktree task: its workspace and what to bring into it (the files its key
    /// was computed from: source inputs, section files, its dependencies' outputs).
    fn worktree_prepare(&self, task: TaskIdx) -> Option<worktree::Prepare> {
        let t = self.loaded.spec.task(task);
        if t.workspace != Workspace::Worktree {
            return None;
        }
        let repo = Arc::clone(self.repo.as_ref()?);
        let project = &self.loaded.spec.project;
        let mut bring: Vec<String> = Vec::new();
        if let Some(pending) = self.pending.get(&task) {
            let p = &pending.preimage;
            bring.extend(p.inputs.iter().map(|(path, _)| path.clone()));
            bring.extend(p.sections.iter().map(|(file, _, _)| file.clone()));
            for (_, outputs) in &p.deps {
                bring.extend(outputs.iter().map(|(path, _)| path.clone()));
            }
        }
        bring.sort();
        bring.dedup();
        let setup = project.worktree_setup.as_ref().map(|command| {
            let mut argv = project.shell.clone();
            argv.push(command.clone());
            argv
        });
        Some(worktree::Prepare {
            repo,
            worktrees: project.worktrees.to_path(&self.session.root.path),
            id: t.id.to_string(),
            agent: t.agent.clone(),
            setup,
            root: self.session.root.path.clone(),
            bring,
        })
    }

    /// Where a worktree task's workspace is, to say so when it fails.
    fn workspace_of(&self, task: TaskIdx) -> Option<worktree::Workspace> {
        let t = self.loaded.spec.task(task);
        let repo = self
            .repo
            .as_ref()
            .filter(|_| t.workspace == Workspace::Worktree)?;
        let worktrees = self
            .loaded
            .spec
            .project
            .worktrees
            .to_path(&self.session.root.path);
        Some(repo.locate(&worktrees, t.id.as_str(), t.agent.as_deref()))
    }

    fn log_path(&self, task: TaskIdx) -> PathBuf {
        self.session
            .cache_dir
            .join("logs")
            .join(format!("{}.log", self.loaded.spec.task(task).id))
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Started { task, pid } => {
                let timeout = self.loaded.spec.task(task).timeout;
                let interrupted = self.interrupted;
                if let Some(running) = self.running.get_mut(&task) {
                    running.pid = Some(pid);
                    running.deadline = timeout.map(|t| Instant::now() + t);
                    if interrupted {
                        running.interrupted = true;
                        running.kill_at = Some(Instant::now() + KILL_GRACE);
                        let _ = process::stop_group(pid, Stop::Terminate);
                    }
                }
            }
            Event::Finished {
                task,
                attempt,
                exit,
                duration,
                leftovers,
                collected,
            } => {
                if let Some(pending) = self.pending.get_mut(&task) {
                    pending.leftovers = leftovers;
                }
                self.exited(task, attempt, exit, duration, collected)
            }
            Event::Checked {
                task,
                index,
                evaluated,
            } => self.checked(task, index, evaluated),
        }
    }

    fn exited(
        &mut self,
        task: TaskIdx,
        attempt: u32,
        exit: Exit,
        duration: Duration,
        collected: Option<Collected>,
    ) {
        let running = self.running.remove(&task);
        let status = match (&running, &exit) {
            (Some(r), _) if r.interrupted => RunStatus::Interrupted,
            (Some(r), _) if r.timed_out => RunStatus::TimedOut,
            (_, Exit::Success) => RunStatus::Ok,
            _ => RunStatus::Failed,
        };
        let mut detail = match (&status, &exit) {
            (RunStatus::TimedOut, _) => self
                .loaded
                .spec
                .task(task)
                .timeout
                .map(|t| format!("timed out after {}", crate::units::format_duration(t))),
            (
                _,
                Exit::Failed {
                    code: Some(code), ..
                },
            ) => Some(format!("exit code {code}")),
            (
                _,
                Exit::Failed {
                    signal: Some(signal),
                    ..
                },
            ) => Some(format!("killed by signal {signal}")),
            (_, Exit::SpawnFailed { error }) => Some(format!("could not start: {error}")),
            _ => None,
        };
        if let Some(note) = self.pending.get(&task).and_then(Pending::leftovers_note) {
            detail = Some(match detail {
                Some(detail) => format!("{detail}; {note}"),
                None => note,
            });
        }
        let mut status = status;
        let mut outputs = Vec::new();
        if status == RunStatus::Ok
            && let Some(collected) = &collected
        {
            let now = self.session.outputs_after_run(task, collected);
            if let Some((output, target)) = collected.outside.first() {
                status = RunStatus::Failed;
                detail = Some(format!(
                    "output {output} leads outside the project (to {}); conduct keeps symlinks only when they stay inside, and never reads through one that does not",
                    target.display()
                ));
            } else if let Some(missing) = now.missing.first() {
                status = RunStatus::Failed;
                detail = Some(format!(
                    "declared output {missing} is missing after the command succeeded"
                ));
            }
            outputs = now.files;
        }
        let Some(pending) = self.pending.remove(&task) else {
            return;
        };
        if status == RunStatus::Ok
            && let Some(collected) = collected
        {
            self.succeeded(task, pending, outputs, &collected, duration);
            return;
        }
        let retries = self.loaded.spec.task(task).retries;
        let retry = matches!(status, RunStatus::Failed | RunStatus::TimedOut)
            && attempt <= retries
            && !self.interrupted
            && self.first_failure.is_none_or(|_| !self.options.fail_fast);
        let tail = process::log_tail(&self.log_path(task), LOG_TAIL);
        if retry {
            let id = self.id(task);
            let title = self.loaded.spec.task(task).display_title().to_owned();
            self.reporter.finished(&TaskEnd {
                task: &id,
                title: &title,
                status,
                duration,
                attempt,
                retrying: true,
                detail: detail.as_deref(),
                log_tail: &tail,
            });
            self.pending.insert(task, pending);
            self.scheduler.retry(task);
            return;
        }
        self.give_up(
            task,
            Failure {
                status,
                duration,
                attempt,
                detail,
                tail,
                reasons: pending.reasons,
            },
        );
    }

    fn succeeded(
        &mut self,
        task: TaskIdx,
        pending: Pending,
        outputs: Vec<(String, Digest)>,
        collected: &Collected,
        duration: Duration,
    ) {
        let id = self.id(task);
        let changed = self.session.inputs_unchanged(task, &pending.preimage);
        let state = self.session.task_state(&id);
        state.last_run = Some(last_run(
            RunStatus::Ok,
            duration,
            pending.attempt,
            pending.reasons.clone(),
        ));
        let record = match changed {
            None => {
                state.success = Some(Success {
                    key: pending.key,
                    outputs: outputs.clone(),
                    duration_ms: duration.as_millis() as u64,
                });
                match Session::cached_outputs(collected) {
                    Ok(outputs) => Some(outputs),
                    Err(error) => {
                        self.reporter
                            .warn(&format!("{id} could not be stored in the cache: {error}"));
                        None
                    }
                }
            }
            Some(path) => {
                self.reporter.warn(&format!(
                    "input {path} of {id} changed while it ran; {id} will run again next time"
                ));
                None
            }
        };
        self.dirty = true;
        let made = collected.cached_outputs();
        self.check(
            task,
            Settled::Ran {
                pending,
                duration,
                record,
                made,
            },
            outputs,
        );
    }

    /// The command part of `task` is settled with `outputs`: evaluate its checks (known
    /// verdicts from the state or the check cache, the rest on the pool), then finish.
    fn check(&mut self, task: TaskIdx, settled: Settled, outputs: Vec<(String, Digest)>) {
        let checks = self.session.plan_checks(task, &outputs);
        let rechecks: Vec<String> = checks
            .iter()
            .filter_map(|c| c.reason.as_ref().map(ToString::to_string))
            .collect();
        if !rechecks.is_empty() {
            let id = self.id(task);
            self.reporter.rechecking(&id, &rechecks);
        }
        // A worktree task that ran is checked in its worktree, before its outputs are
        // brought out; fresh and restored outputs are checked where they are, the root.
        let checked_in = match (&settled, self.workspace_of(task)) {
            (Settled::Ran { .. }, Some(workspace)) => workspace.dir,
            _ => self.session.root.path.clone(),
        };
        let mut waiting = 0;
        for (index, planned) in checks.iter().enumerate() {
            if planned.known.is_none() {
                waiting += 1;
                self.spawn_check(task, index, planned, checked_in.clone());
            }
        }
        self.checking.insert(
            task,
            Checking {
                settled,
                outputs,
                checks,
                waiting,
            },
        );
        if waiting == 0 {
            self.finish(task);
        }
    }

    fn spawn_check(&mut self, task: TaskIdx, index: usize, planned: &PlannedCheck, root: PathBuf) {
        let loaded = Arc::clone(&self.loaded);
        let events = self.events.clone();
        let cancel = Arc::clone(&self.signals.flag);
        let rule = planned.rule;
        let files = planned.files.clone();
        let id = self.id(task);
        let log = self
            .session
            .cache_dir
            .join("logs")
            .join(format!("{id}.{}.check.log", loaded.rules.at(rule).name));
        // A check is bounded by its task's timeout, counted from when it starts.
        let timeout = loaded.spec.task(task).timeout;
        // A `run` rule starts a process: it takes a place among the -j workers. The
        // others only read files, on the checker thread, so they never wait behind
        // running tasks (which would hold up the checked task's dependents).
        let runs_a_process = matches!(loaded.rules.at(rule).check, RuleCheck::Run(_));
        let work = move || {
            let context = check::Context {
                root: &root,
                task: &id,
                shell: &loaded.spec.project.shell,
                log,
                deadline: timeout.map(|t| Instant::now() + t),
                cancel: &cancel,
            };
            let evaluated = check::run(loaded.rules.at(rule), &files, &context);
            let _ = events.send(Event::Checked {
                task,
                index,
                evaluated,
            });
        };
        if runs_a_process {
            self.pool.spawn(work);
        } else {
            self.checker.run(Box::new(work));
        }
    }

    /// A check's verdict arrived.
    fn checked(&mut self, task: TaskIdx, index: usize, evaluated: Evaluated) {
        let Some(checking) = self.checking.get_mut(&task) else {
            return;
        };
        let planned = &mut checking.checks[index];
        planned.known = Some(evaluated.result);
        planned.cacheable = evaluated.cacheable;
        checking.waiting -= 1;
        if checking.waiting == 0 {
            self.finish(task);
        }
    }

    /// Every check of `task` has its verdict: report them, then settle the task, retry
    /// it with the checks' feedback, or fail it.
    fn finish(&mut self, task: TaskIdx) {
        let Some(mut checking) = self.checking.remove(&task) else {
            return;
        };
        let loaded = Arc::clone(&self.loaded);
        let id = self.id(task);
        let title = loaded.spec.task(task).display_title().to_owned();
        let mut records = Vec::with_capacity(checking.checks.len());
        let mut failures = Vec::new();
        let mut verdicts = Vec::with_capacity(checking.checks.len());
        for planned in checking.checks {
            let rule = loaded.rules.at(planned.rule);
            let result = planned
                .known
                .unwrap_or_else(|| crate::rules::check::CheckResult {
                    passed: false,
                    message: "no verdict".to_owned(),
                    metric: None,
                });
            self.reporter
                .check_finished(&id, &rule.name, &result, rule.required);
            verdicts.push(verdict_line(&rule.name, rule.required, &result));
            if !result.passed {
                if rule.required {
                    failures.push(format!("check {} failed: {}", rule.name, result.message));
                } else {
                    self.counts.warnings += 1;
                    self.reporter.warn(&format!(
                        "{id}: advisory check {} failed: {}",
                        rule.name, result.message
                    ));
                }
            }
            // A timeout or a check that could not start says nothing about the files:
            // it is neither kept nor cached, so the next build asks again.
            if planned.cacheable {
                records.push(CheckRecord {
                    rule: rule.name.clone(),
                    key: planned.key,
                    result,
                });
            }
        }
        self.keep_verdicts(&id, &mut checking.settled, records);
        if failures.is_empty()
            && let Err(error) = self.bring_out(task, &checking.settled)
        {
            failures.push(format!(
                "its outputs could not be copied out of the worktree: {error}"
            ));
        }
        if failures.is_empty() {
            self.session.settle(task, checking.outputs);
            match checking.settled {
                Settled::Fresh => {
                    self.counts.fresh += 1;
                    self.reporter.fresh(&id);
                }
                Settled::Restored { files, reasons } => {
                    self.counts.restored += 1;
                    self.reporter.restored(&id, files, &reasons);
                }
                Settled::Ran {
                    pending, duration, ..
                } => {
                    self.counts.ran += 1;
                    self.reporter.finished(&TaskEnd {
                        task: &id,
                        title: &title,
                        status: RunStatus::Ok,
                        duration,
                        attempt: pending.attempt,
                        retrying: false,
                        detail: pending.leftovers_note().as_deref(),
                        log_tail: "",
                    });
                    self.commit(task, &pending, &verdicts);
                }
            }
            self.scheduler.succeeded(task);
            return;
        }
        let detail = failures.join("; ");
        let (duration, attempt, reasons) = match checking.settled {
            Settled::Ran {
                mut pending,
                duration,
                ..
            } => {
                let retries = loaded.spec.task(task).retries;
                if pending.attempt <= retries && !self.interrupted && !self.options.fail_fast {
                    // Run the command again, telling it what failed.
                    self.reporter.finished(&TaskEnd {
                        task: &id,
                        title: &title,
                        status: RunStatus::Failed,
                        duration,
                        attempt: pending.attempt,
                        retrying: true,
                        detail: Some(&detail),
                        log_tail: "",
                    });
                    pending.feedback = Some(failures.join("\n"));
                    self.pending.insert(task, pending);
                    self.scheduler.retry(task);
                    return;
                }
                (duration, pending.attempt, pending.reasons)
            }
            Settled::Fresh | Settled::Restored { .. } => (Duration::ZERO, 0, Vec::new()),
        };
        self.give_up(
            task,
            Failure {
                status: RunStatus::Failed,
                duration,
                attempt,
                detail: Some(detail),
                tail: String::new(),
                reasons,
            },
        );
    }

    /// A worktree task ran and passed its checks: its outputs replace the project
    /// root's (SPEC §7). Anything else has its outputs in the root already.
    /// They are written the way a restore writes (verified against their digests,
    /// never through a symlink), from the worktree's files.
    fn bring_out(&mut self, task: TaskIdx, settled: &Settled) -> Result<(), cache::BlobError> {
        let Settled::Ran { made, .. } = settled else {
            return Ok(());
        };
        let Some(workspace) = self.workspace_of(task) else {
            return Ok(());
        };
        let now = self.session.outputs_now(task).files;
        let loaded = Arc::clone(&self.loaded);
        self.session.cache.place(
            &self.session.root,
            made,
            loaded.spec.task(task),
            &now,
            cache::From::Worktree(&workspace.dir),
        )
    }

    /// A worktree task ran and passed its checks: commit its outputs on its branch,
    /// `feat(<ID>): <title>` with the verdicts in the body. A commit that fails (a hook
    /// said no) is a warning: the outputs are in the root and the cache all the same.
    fn commit(&mut self, task: TaskIdx, pending: &Pending, verdicts: &[String]) {
        let Some(workspace) = self.workspace_of(task) else {
            return;
        };
        let t = self.loaded.spec.task(task);
        let mut message = format!("feat({}): {}\n\n", t.id, t.display_title());
        if !verdicts.is_empty() {
            message.push_str("Checks:\n");
            for line in verdicts {
                message.push_str(&format!("- {line}\n"));
            }
            message.push('\n');
        }
        message.push_str(&format!(
            "Made by conduct: attempt {}, because {}.\n",
            pending.attempt,
            pending.reasons.join("; ")
        ));
        let outputs: Vec<String> = t.outputs.iter().map(|o| o.path.to_string()).collect();
        let id = t.id.to_string();
        match workspace.commit(&outputs, &message) {
            Ok(Some(commit)) => self.reporter.committed(&id, &workspace.branch, &commit),
            Ok(None) => {}
            Err(error) => self.reporter.warn(&format!(
                "{id}: the outputs could not be committed in {}: {error}",
                workspace.path.display()
            )),
        }
    }

    /// Keep `task`'s check verdicts in the state and the action cache: with the run's
    /// entry when it ran (checks pass or not, the entry is true to the command), added
    /// to the entry its outputs came from when they were fresh or restored.
    fn keep_verdicts(&mut self, id: &str, settled: &mut Settled, records: Vec<CheckRecord>) {
        // Read first: a fresh task's verdicts are usually the ones already kept, and
        // marking the state changed would rewrite it on every no-op build.
        let state = self.session.state.tasks.get(id);
        let known = state.map_or(&[][..], |s| s.checks.as_slice());
        let known_before: Vec<Digest> = known.iter().map(|r| r.key).collect();
        let success = state.and_then(|s| s.success.as_ref()).map(|s| s.key);
        let verdicts: Vec<(Digest, crate::rules::check::CheckResult)> =
            records.iter().map(|r| (r.key, r.result.clone())).collect();
        if known != records.as_slice() {
            self.session.task_state(id).checks = records;
        }
        let written = match settled {
            Settled::Ran {
                pending,
                duration,
                record,
                ..
            } => match record.take() {
                Some(outputs) => self.session.record_run(
                    pending.key,
                    &pending.preimage,
                    outputs,
                    duration.as_millis() as u64,
                    verdicts,
                ),
                None => Ok(()),
            },
            Settled::Fresh | Settled::Restored { .. } => {
                let new: Vec<_> = verdicts
                    .into_iter()
                    .filter(|(key, _)| !known_before.contains(key))
                    .collect();
                match success {
                    Some(key) if !new.is_empty() => self
                        .session
                        .cache
                        .add_verdicts(key, &new)
                        .map_err(|e| e.to_string()),
                    _ => Ok(()),
                }
            }
        };
        if let Err(error) = written {
            self.reporter
                .warn(&format!("{id} could not be stored in the cache: {error}"));
        }
    }

    /// A final failure: record it, report it, block what depends on it.
    fn give_up(&mut self, task: TaskIdx, failure: Failure) {
        let Failure {
            status,
            duration,
            attempt,
            detail,
            tail,
            reasons,
        } = failure;
        let id = self.id(task);
        let title = self.loaded.spec.task(task).display_title().to_owned();
        let detail = match self.workspace_of(task) {
            Some(workspace) => Some(format!(
                "{}{}its worktree is kept for inspection: {}",
                detail.as_deref().unwrap_or(""),
                if detail.is_some() { "; " } else { "" },
                workspace.path.display()
            )),
            None => detail,
        };
        let state = self.session.task_state(&id);
        state.last_run = Some(last_run(status, duration, attempt, reasons));
        self.counts.failed += 1;
        self.reporter.finished(&TaskEnd {
            task: &id,
            title: &title,
            status,
            duration,
            attempt,
            retrying: false,
            detail: detail.as_deref(),
            log_tail: &tail,
        });
        for blocked in self.scheduler.failed(task) {
            self.counts.blocked += 1;
            let blocked = self.id(blocked);
            self.reporter.blocked(&blocked, &id);
        }
        self.first_failure.get_or_insert(task);
        if self.options.fail_fast {
            self.scheduler.stop();
        }
        self.dirty = true;
    }

    fn next_wakeup(&self) -> Duration {
        let now = Instant::now();
        self.running
            .values()
            .flat_map(|r| [r.deadline.filter(|_| !r.timed_out), r.kill_at])
            .flatten()
            .map(|at| at.saturating_duration_since(now))
            .fold(TICK, Duration::min)
    }

    /// Timeouts, the KILL after TERM, and Ctrl-C.
    fn timers(&mut self) {
        if self.signals.raised() && !self.interrupted {
            self.interrupted = true;
            self.scheduler.stop();
            self.reporter.warn("interrupted: stopping running tasks");
            for running in self.running.values_mut() {
                running.interrupted = true;
                running.kill_at = Some(Instant::now() + KILL_GRACE);
                if let Some(pid) = running.pid {
                    let _ = process::stop_group(pid, Stop::Terminate);
                }
            }
        }
        let now = Instant::now();
        for running in self.running.values_mut() {
            let Some(pid) = running.pid else { continue };
            if !running.timed_out && running.deadline.is_some_and(|d| d <= now) {
                running.timed_out = true;
                running.kill_at = Some(now + KILL_GRACE);
                let _ = process::stop_group(pid, Stop::Terminate);
            }
            if running.kill_at.is_some_and(|k| k <= now) {
                running.kill_at = None;
                let _ = process::stop_group(pid, Stop::Kill);
            }
        }
    }

    /// Save the state now and then, so a crash loses at most a second of results.
    fn save_now_and_then(&mut self) {
        if self.dirty && self.last_save.elapsed() >= self.save_every {
            let started = Instant::now();
            if let Err(e) = self.session.save() {
                self.reporter.warn(&e.to_string());
            }
            self.dirty = false;
            self.last_save = Instant::now();
            // A large state (100k tasks: tens of MB) is not rewritten every second: the
            // saves stay under about 5% of the build.
            self.save_every = SAVE_EVERY.max(started.elapsed() * 20);
        }
    }
}

fn last_run(status: RunStatus, duration: Duration, attempts: u32, reasons: Vec<String>) -> LastRun {
    LastRun {
        status,
        duration_ms: duration.as_millis() as u64,
        attempts,
        reasons,
        finished_at: crate::state::now_secs(),
    }
}

/// A runner for tests: records jobs and completes them as told, without processes.
#[cfg(test)]
pub(crate) struct FakeRunner {
    pub(crate) ran: Mutex<Vec<String>>,
    pub(crate) outcome: Box<dyn Fn(&Job) -> Exit + Send + Sync>,
}

#[cfg(test)]
impl Runner for FakeRunner {
    fn run(&self, job: Job, events: &dyn Fn(WorkerEvent)) {
        if let Ok(mut ran) = self.ran.lock() {
            ran.push(job.id.clone());
        }
        let exit = (self.outcome)(&job);
        events(WorkerEvent::Started {
            task: job.task,
            pid: 0,
        });
        events(WorkerEvent::Exited {
            exit,
            duration: Duration::from_millis(1),
            leftovers: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_follows_the_critical_path_and_blocks_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tasks.toml"),
            r#"
            [tasks.short]
            run = "x"
            [tasks.after_short]
            deps = ["short"]
            run = "x"
            [tasks.long1]
            run = "x"
            [tasks.long2]
            deps = ["long1"]
            run = "x"
            [tasks.long3]
            deps = ["long2"]
            run = "x"
            "#,
        )
        .unwrap();
        let fake = Arc::new(FakeRunner {
            ran: Mutex::new(Vec::new()),
            outcome: Box::new(|job| {
                if job.id == "short" {
                    Exit::Failed {
                        code: Some(1),
                        signal: None,
                    }
                } else {
                    Exit::Success
                }
            }),
        });
        let locator = Locator {
            directory: Some(dir.path().to_path_buf()),
            file: None,
        };
        let options = BuildOptions {
            targets: Vec::new(),
            jobs: Some(1),
            explain: false,
            dry_run: false,
            force: false,
            fail_fast: false,
            style: Style::Quiet,
            verbose: false,
        };
        let code = build_with(&locator, &options, Arc::clone(&fake) as Arc<dyn Runner>).unwrap();
        assert_eq!(code, 1);
        // long1 heads the longest chain (3); then short and long2 tie at 2 and go in
        // declaration order; after_short is blocked and never handed to the runner.
        assert_eq!(
            *fake.ran.lock().unwrap(),
            ["long1", "short", "long2", "long3"]
        );
    }
}
