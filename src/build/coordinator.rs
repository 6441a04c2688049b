//! The event loop of a build (step 4 of DESIGN "How one build flows"; ninja's
//! `Builder`): decide → queue → start → settle.
//!
//! One thread owns the session (and with it the salsa database and the state). When a
//! task's dependencies are settled, `route` says where it goes: a fresh task settles
//! (after its checks), a restorable one is restored, one that must run joins the
//! scheduler's ready queue. Ready tasks start on the worker pool: the file work before
//! the run (`job::Prep`), then the job is handed to the executor; when it finishes, its
//! outputs are hashed and stored on a worker too, and the coordinator only records,
//! runs the checks, sets the outputs' digests (only if they changed: the early cutoff)
//! and releases the dependents. Workers never touch the database.
//!
//! Timeouts are the executor's (a job over its timeout finishes as timed out); on
//! Ctrl-C the coordinator starts nothing new and cancels every job, and what was
//! cancelled is recorded as interrupted, never as a success.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::build::BuildOptions;
use crate::build::budget::{RunBudget, Verdict};
use crate::build::checks::{self, Checking, Evaluation};
use crate::build::job::{Attempt, Setting};
use crate::build::route::{RetryPolicy, Route, route};
use crate::build::task::{self, Failure, Pending, Settled, last_run};
use crate::build::workers::{Event, Start, Workers};
use crate::cache::Collected;
use crate::error::Error;
use crate::estimate::{self, Weights};
use crate::exec::output::log_tail;
use crate::exec::scheduler::Scheduler;
use crate::exec::worktree::Repo;
use crate::exec::{Executor, Exit, Finished};
use crate::explain::Reason;
use crate::explain::RunStatus;
use crate::fresh::why;
use crate::graph::Selection;
use crate::hash::{Digest, KeyPreimage};
use crate::instruction;
use crate::report::Counts;
use crate::report::progress::{Reporter, RunOutput, TaskEnd};
use crate::rules::check::Evaluated;
use crate::session::Session;
use crate::session::round::Round;
use crate::spec::TaskIdx;
use crate::state::Success;

mod ended;
mod verdict;

/// How often the coordinator wakes up without events (Ctrl-C, "still running" lines).
const TICK: Duration = Duration::from_millis(50);
/// The shortest wait between saves of the state while tasks keep finishing.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How many times a task's job may be lost by the cluster (node failure, preemption)
/// and run again, beyond its own `retries`.
const LOST_RETRIES: u32 = 3;
/// Lines of a failed task's log printed with the failure.
const LOG_TAIL: usize = 20;

/// What the build was asked, as the coordinator needs it.
pub(super) struct Plan<'a> {
    pub(super) options: &'a BuildOptions,
    /// Per task: `--force` names it.
    pub(super) forced: Vec<bool>,
    pub(super) jobs: usize,
    pub(super) repo: Option<Arc<Repo>>,
    /// Raised on Ctrl-C.
    pub(super) interrupt: Arc<AtomicBool>,
}

/// Every task the coordinator is handling, by where it stands.
#[derive(Default)]
struct Tasks {
    pending: HashMap<TaskIdx, Pending>,
    checking: HashMap<TaskIdx, Checking>,
}

/// The tally of the build so far.
struct Progress {
    counts: Counts,
    interrupted: bool,
    first_failure: Option<TaskIdx>,
    /// The state changed since it was last saved.
    dirty: bool,
    last_save: Instant,
    /// How long to wait between saves of the state during the build.
    save_every: Duration,
}

/// What the build decided up front.
struct Rules {
    forced: Vec<bool>,
    jobs: usize,
    policy: RetryPolicy,
    interrupt: Arc<AtomicBool>,
    /// `BuildOptions::sent_back` (almost always empty).
    sent_back: Vec<crate::build::SentBack>,
}

/// The coordinator of one build.
pub(super) struct Coordinator<'a, 's> {
    round: &'a mut Round<'s>,
    reporter: &'a mut Reporter,
    setting: Setting,
    rules: Rules,
    scheduler: Scheduler,
    workers: Workers,
    tasks: Tasks,
    progress: Progress,
    /// `--budget-usd` / `[project] budget_usd`, and the agent tasks waiting for room.
    budget: Option<RunBudget>,
    over_budget: Vec<TaskIdx>,
    /// By task index: no change since the last clean build reaches it, so it settles
    /// fresh without being decided (empty when there is no such build to go by).
    unaffected: Vec<bool>,
    /// By task index: a task that will be decided depends on it (its key reads its
    /// outputs from the database).
    feeds_decided: Vec<bool>,
}

impl<'a, 's> Coordinator<'a, 's> {
    pub(super) fn new(
        round: &'a mut Round<'s>,
        selection: &Selection,
        plan: Plan<'_>,
        executor: Arc<dyn Executor>,
        reporter: &'a mut Reporter,
    ) -> Result<Coordinator<'a, 's>, Error> {
        let unaffected = round
            .unaffected(selection, &plan.forced)
            .unwrap_or_default();
        let session = round.session();
        let loaded = Arc::clone(session.loaded());
        let spec = &loaded.spec;
        let mut feeds_decided = vec![
            false;
            if unaffected.is_empty() {
                0
            } else {
                spec.tasks.len()
            }
        ];
        if !unaffected.is_empty() {
            for &task in selection.tasks.iter().filter(|t| !unaffected[t.index()]) {
                for dep in loaded.graph.task_deps(task) {
                    feeds_decided[dep.task.index()] = true;
                }
            }
        }
        let weight = |task: TaskIdx| {
            estimate::expected_seconds(spec, session.state(), task, Weights::Auto).0
        };
        let scheduler = Scheduler::new(&loaded.graph, spec, selection, weight);
        let cache_error = |source| Error::Cache {
            path: session.cache_dir().to_path_buf(),
            source,
        };
        for dir in ["instructions", "logs"] {
            std::fs::create_dir_all(session.cache_dir().join(dir)).map_err(cache_error)?;
        }
        let instructions = crate::confined::Dir::open(&session.cache_dir().join("instructions"))
            .ok()
            .map(Arc::new);
        let workers = Workers::new(executor, plan.jobs);
        reporter.budget_usd = plan.options.budget_usd.or(spec.project.budget_usd);
        let setting = Setting {
            loaded: Arc::clone(&loaded),
            root: session.root().clone(),
            cache_dir: session.cache_dir().to_path_buf(),
            repo: plan.repo,
            instructions,
            verbose: plan.options.verbose,
            executor: plan.options.executor,
            fresh_session: plan.options.fresh_session,
        };
        Ok(Coordinator {
            round,
            reporter,
            setting,
            rules: Rules {
                forced: plan.forced,
                jobs: plan.jobs.max(1),
                policy: RetryPolicy {
                    fail_fast: plan.options.fail_fast,
                },
                interrupt: plan.interrupt,
                sent_back: plan.options.sent_back.clone(),
            },
            scheduler,
            workers,
            tasks: Tasks::default(),
            budget: plan
                .options
                .budget_usd
                .or(spec.project.budget_usd)
                .map(RunBudget::new),
            over_budget: Vec::new(),
            unaffected,
            feeds_decided,
            progress: Progress {
                counts: Counts::default(),
                interrupted: false,
                first_failure: None,
                dirty: false,
                last_save: Instant::now(),
                save_every: SAVE_EVERY,
            },
        })
    }

    /// Drive the build to its end; returns the counts and whether it was interrupted.
    pub(super) fn run(mut self) -> (Counts, bool) {
        loop {
            loop {
                let decidable = self.scheduler.take_decidable();
                if decidable.is_empty() {
                    break;
                }
                // With a remote cache, what these tasks may restore is fetched at once.
                self.round.prefetch_remote(&decidable);
                for task in decidable {
                    self.decide(task);
                }
            }
            while let Some(task) = self.scheduler.next(self.rules.jobs) {
                self.admit(task);
            }
            if self.scheduler.is_idle() && self.tasks.checking.is_empty() {
                break;
            }
            match self.workers.next(TICK) {
                Ok(Some(event)) => {
                    self.handle(event);
                    self.admit_waiting();
                }
                Ok(None) => {}
                Err(()) => break,
            }
            self.reporter.tick();
            self.look_for_interrupt();
            self.save_now_and_then();
        }
        // What a failure's dependents were told already; the rest was never started.
        let why = if self.progress.interrupted {
            "interrupted"
        } else {
            "fail-fast"
        };
        for task in self.scheduler.unfinished() {
            let id = self.id(task);
            self.progress.counts.blocked += 1;
            self.reporter.not_started(&id, why);
        }
        (self.progress.counts, self.progress.interrupted)
    }

    fn id(&self, task: TaskIdx) -> String {
        self.setting.loaded.spec.task(task).id.to_string()
    }

    fn title(&self, task: TaskIdx) -> Option<String> {
        self.setting.loaded.spec.task(task).title.clone()
    }

    /// A task's dependencies are settled: send it where `route` says.
    fn decide(&mut self, task: TaskIdx) {
        if self.unaffected.get(task.index()).copied().unwrap_or(false) {
            let feeds = self.feeds_decided[task.index()];
            self.round.settle_unaffected(task, feeds);
            self.progress.counts.fresh += 1;
            self.reporter
                .fresh(self.setting.loaded.spec.task(task).id.as_str());
            self.scheduler.succeeded(task);
            return;
        }
        let id = self.id(task);
        match route(self.round, task, self.rules.forced[task.index()]) {
            Route::Nothing => {
                self.round.settle(task, Vec::new());
                self.progress.counts.fresh += 1;
                self.reporter.fresh(&id);
                self.scheduler.succeeded(task);
            }
            Route::Fresh { outputs } => self.check(task, Settled::Fresh, outputs),
            Route::Restore {
                key,
                mut reasons,
                entry,
                now,
            } => match self
                .round
                .session_mut()
                .restore(task, &entry, &now, reasons.clone())
            {
                Ok(files) => {
                    // What the agent that made these outputs spent: not spent again.
                    self.reporter.saved_usd += entry.agent_cost_usd.unwrap_or(0.0);
                    let outputs = entry
                        .outputs
                        .iter()
                        .map(|o| (o.path.clone(), o.digest))
                        .collect();
                    self.check(task, Settled::Restored { files, reasons }, outputs);
                    self.progress.dirty = true;
                }
                Err(error) => {
                    reasons.push(why::cache_unusable(error.to_string()));
                    match self.round.session().preimage(task) {
                        Ok(preimage) => self.queue(task, key, preimage, reasons, &now.files),
                        Err(error) => {
                            self.give_up(task, Failure::before_running(error.to_string()))
                        }
                    }
                }
            },
            Route::Run {
                key,
                reasons,
                preimage,
                now,
            } => self.queue(task, key, preimage, reasons, &now),
            Route::Broken(error) => {
                self.reporter
                    .will_run(&id, &[why::undecidable(error.to_string())]);
                self.give_up(task, Failure::before_running(error.to_string()));
            }
            Route::Edited(files) => self.give_up(task, Failure::edited(&id, &files)),
        }
    }

    /// The task must run: explain why and put it in line.
    fn queue(
        &mut self,
        task: TaskIdx,
        key: Digest,
        preimage: Box<KeyPreimage>,
        reasons: Vec<Reason>,
        now: &[(String, Digest)],
    ) {
        let id = self.id(task);
        self.reporter.will_run(&id, &reasons);
        let keep = self.round.session().not_made_by_conduct(&id, now);
        let (feedback, resume) = self.sent_back(&id);
        self.tasks.pending.insert(
            task,
            Pending {
                key,
                preimage,
                reasons,
                attempt: 0,
                feedback,
                resume,
                keep,
                leftovers: 0,
                cluster: None,
                lost: 0,
                command_failures: 0,
                flaky: false,
                agent: None,
                discovered: Vec::new(),
            },
        );
        self.scheduler.queue(task);
    }

    /// The feedback a task was sent back with, and the agent session its last run
    /// recorded (which its first attempt resumes).
    fn sent_back(&self, id: &str) -> (Option<String>, Option<String>) {
        let Some(sent) = self.rules.sent_back.iter().find(|s| s.task == id) else {
            return (None, None);
        };
        let session = self
            .round
            .session()
            .state()
            .tasks
            .get(id)
            .and_then(|s| s.last_run.as_ref())
            .and_then(|l| l.agent.as_ref())
            .and_then(|a| a.session_id.clone());
        (Some(sent.feedback.clone()), session)
    }

    /// Start `task` unless the run budget says to wait (it stays in `over_budget`) or
    /// that it will never fit (it fails without running).
    fn admit(&mut self, task: TaskIdx) {
        let spec = &self.setting.loaded.spec;
        let t = spec.task(task);
        let Some(budget) = self.budget.as_mut().filter(|_| t.is_agent()) else {
            return self.start(task);
        };
        let cost = t.agent_settings.budget.usd.unwrap_or(0.0);
        match budget.admit(task, cost) {
            Verdict::Start => self.start(task),
            Verdict::Wait => self.over_budget.push(task),
            Verdict::Never => {
                let detail = format!(
                    "not started: the run budget is ${:.2} and ${:.2} is spent{}",
                    budget.limit(),
                    budget.spent(),
                    if cost > 0.0 {
                        format!(" (its own budget is ${cost:.2})")
                    } else {
                        String::new()
                    }
                );
                self.give_up(task, Failure::before_running(detail));
            }
        }
    }

    /// A task ended: the agent tasks waiting for budget may fit now. After Ctrl-C or
    /// under `--fail-fast` after a failure, they go back in line, never to start.
    fn admit_waiting(&mut self) {
        let stopped = self.progress.interrupted
            || (self.rules.policy.fail_fast && self.progress.first_failure.is_some());
        for task in std::mem::take(&mut self.over_budget) {
            if stopped {
                self.scheduler.retry(task);
            } else {
                self.admit(task);
            }
        }
    }

    /// Start a task's next attempt: its file work, then its job, on a worker.
    fn start(&mut self, task: TaskIdx) {
        let id = self.id(task);
        self.round.session_mut().note_started(&id);
        let loaded = Arc::clone(&self.setting.loaded);
        let session = self.round.session();
        let Some(pending) = self.tasks.pending.get_mut(&task) else {
            return;
        };
        pending.attempt += 1;
        let attempt = pending.attempt;
        let text = instruction::render(
            &loaded.spec,
            &loaded.graph,
            &loaded.rules,
            task,
            &|file, section| session.section_text(file, section),
        );
        let (prep, job) = self.setting.job(
            task,
            Attempt {
                number: attempt,
                preimage: &pending.preimage,
                feedback: pending.feedback.as_deref(),
                keep: &pending.keep,
                instruction: text,
                session: pending
                    .agent
                    .as_ref()
                    .and_then(|a| a.session_id.as_deref())
                    .or(pending.resume.as_deref()),
            },
        );
        self.reporter.started(&id, attempt, &pending.reasons);
        // A worktree task's outputs are stored and checked where they were made; they
        // reach the project root only once their checks pass (`finish`).
        let made_in = match self.setting.workspace_of(task) {
            Some(workspace) => crate::confined::Root::new(&workspace.dir),
            None => self.setting.root.clone(),
        };
        self.workers.start(Start {
            task,
            attempt,
            prep,
            job,
            outputs: loaded.spec.task(task).outputs.clone(),
            made_in,
            blobs: self.round.session().cache().blobs.clone(),
        });
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Finished {
                task,
                attempt,
                finished,
                collected,
            } => {
                if let Some(pending) = self.tasks.pending.get_mut(&task) {
                    pending.leftovers = finished.leftovers;
                    pending.cluster.clone_from(&finished.cluster);
                }
                self.exited(task, attempt, finished, collected);
            }
            Event::Checked {
                task,
                index,
                evaluated,
            } => self.checked(task, index, evaluated),
        }
    }

    /// The command part of `task` is settled with `outputs`: evaluate its checks (known
    /// verdicts from the state or the check cache, the rest off this thread), then
    /// finish.
    fn check(&mut self, task: TaskIdx, settled: Settled, outputs: Vec<(String, Digest)>) {
        let checks = self.round.session().plan_checks(task, &outputs);
        let rechecks: Vec<Reason> = checks.iter().filter_map(|c| c.reason.clone()).collect();
        if !rechecks.is_empty() {
            let id = self.id(task);
            self.reporter.rechecking(&id, &rechecks);
        }
        // A worktree task that ran is checked in its worktree, before its outputs are
        // brought out; fresh and restored outputs are checked where they are, the root.
        let checked_in = match (&settled, self.setting.workspace_of(task)) {
            (Settled::Ran { .. }, Some(workspace)) => workspace.dir,
            _ => self.setting.root.path.clone(),
        };
        let mut waiting = 0;
        for (index, planned) in checks.iter().enumerate() {
            if planned.known.is_some() {
                continue;
            }
            waiting += 1;
            let loaded = Arc::clone(&self.setting.loaded);
            let rule_name = loaded.rules.at(planned.rule).name.clone();
            let evaluation = Evaluation {
                log: self
                    .setting
                    .cache_dir
                    .join("logs")
                    .join(format!("{}.{rule_name}.check.log", self.id(task))),
                loaded,
                task,
                rule: planned.rule,
                files: planned.files.clone(),
                root: checked_in.clone(),
            };
            self.workers.check(task, index, evaluation);
        }
        self.tasks.checking.insert(
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

    /// A check's verdict arrived.
    fn checked(&mut self, task: TaskIdx, index: usize, evaluated: Evaluated) {
        let Some(checking) = self.tasks.checking.get_mut(&task) else {
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

    /// Ctrl-C: start nothing new, and stop every job.
    fn look_for_interrupt(&mut self) {
        if self.rules.interrupt.load(Ordering::Relaxed) && !self.progress.interrupted {
            self.progress.interrupted = true;
            self.scheduler.stop();
            self.reporter.warn("interrupted: stopping running tasks");
            self.workers.cancel_all();
        }
    }

    /// Save the state now and then, so a crash loses at most a second of results.
    fn save_now_and_then(&mut self) {
        let progress = &mut self.progress;
        if progress.dirty && progress.last_save.elapsed() >= progress.save_every {
            let started = Instant::now();
            if let Err(e) = self.round.session_mut().save() {
                self.reporter.warn(&e.to_string());
            }
            progress.dirty = false;
            progress.last_save = Instant::now();
            // A large state (100k tasks: tens of MB) is not rewritten every second: the
            // saves stay under about 5% of the build.
            progress.save_every = SAVE_EVERY.max(started.elapsed() * 20);
        }
    }
}
