//! A task's checks while a build runs: each planned check with no known verdict is
//! evaluated off the coordinator's thread (a `run` rule's command through the executor
//! on the worker pool; built-ins and patterns, which only read files, on one checker
//! thread that sleeps while idle), then the verdicts are tallied (what failed, what
//! only warns, what the commit message lists) and kept, in the state and with the
//! cache entry of the outputs they judged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::Instant;

use crate::build::task::Settled;
use crate::cache::ActionResult;
use crate::exec::Executor;
use crate::fresh::checks::PlannedCheck;
use crate::hash::Digest;
use crate::project::Loaded;
use crate::report::progress::Reporter;
use crate::rules::RuleCheck;
use crate::rules::check::{self, CheckResult, Evaluated};
use crate::session::Session;
use crate::spec::TaskIdx;
use crate::state::CheckRecord;

/// A task whose checks are being evaluated.
#[derive(Debug)]
pub(super) struct Checking {
    pub(super) settled: Settled,
    pub(super) outputs: Vec<(String, Digest)>,
    pub(super) checks: Vec<PlannedCheck>,
    /// Checks still being evaluated.
    pub(super) waiting: usize,
}

/// One check to evaluate, as plain data.
pub(super) struct Evaluation {
    pub(super) loaded: Arc<Loaded>,
    pub(super) task: TaskIdx,
    pub(super) rule: usize,
    pub(super) files: Vec<String>,
    /// Where the outputs are (the root, or a worktree the task ran in).
    pub(super) root: PathBuf,
    pub(super) log: PathBuf,
}

impl Evaluation {
    /// Whether it starts a process (a `run` rule): it then takes a place among the
    /// workers; the others only read files.
    pub(super) fn runs_a_process(&self) -> bool {
        matches!(self.loaded.rules.at(self.rule).check, RuleCheck::Run(_))
    }

    /// Reach the verdict. A check is bounded by its task's timeout, counted from when
    /// it starts.
    pub(super) fn evaluate(&self, executor: &dyn Executor) -> Evaluated {
        let task = self.loaded.spec.task(self.task);
        let context = check::Context {
            root: &self.root,
            task: task.id.as_str(),
            shell: &self.loaded.spec.project.shell,
            log: self.log.clone(),
            deadline: task.timeout.map(|t| Instant::now() + t),
            executor,
        };
        check::run(self.loaded.rules.at(self.rule), &self.files, &context)
    }
}

/// One thread for the checks that only read files: it blocks while idle, unlike a
/// rayon pool whose spinning threads would compete with the task processes for the
/// cores.
pub(super) struct Checker {
    queue: Option<Sender<Box<dyn FnOnce() + Send>>>,
}

impl Checker {
    pub(super) fn new() -> Checker {
        Checker { queue: None }
    }

    pub(super) fn run(&mut self, work: Box<dyn FnOnce() + Send>) {
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

/// A task's verdicts, tallied.
pub(super) struct Tally {
    /// Verdicts fit to keep (on the files, not a timeout).
    pub(super) records: Vec<CheckRecord>,
    /// Required checks that failed, as the task's failure says them.
    pub(super) failures: Vec<String>,
    /// Every verdict, as a commit message lists it.
    pub(super) lines: Vec<String>,
    /// Advisory checks that failed.
    pub(super) warnings: usize,
}

/// Report every verdict of task `id` and tally them.
pub(super) fn tally(
    loaded: &Loaded,
    id: &str,
    checks: Vec<PlannedCheck>,
    reporter: &mut Reporter,
) -> Tally {
    let mut tally = Tally {
        records: Vec::with_capacity(checks.len()),
        failures: Vec::new(),
        lines: Vec::with_capacity(checks.len()),
        warnings: 0,
    };
    for planned in checks {
        let rule = loaded.rules.at(planned.rule);
        let result = planned.known.unwrap_or_else(|| CheckResult {
            passed: false,
            message: "no verdict".to_owned(),
            metric: None,
        });
        reporter.check_finished(id, &rule.name, &result, rule.required);
        tally
            .lines
            .push(verdict_line(&rule.name, rule.required, &result));
        if !result.passed {
            if rule.required {
                tally
                    .failures
                    .push(format!("check {} failed: {}", rule.name, result.message));
            } else {
                tally.warnings += 1;
                reporter.warn(&format!(
                    "{id}: advisory check {} failed: {}",
                    rule.name, result.message
                ));
            }
        }
        // A timeout or a check that could not start says nothing about the files:
        // it is neither kept nor cached, so the next build asks again.
        if planned.cacheable {
            tally.records.push(CheckRecord {
                rule: rule.name.clone(),
                key: planned.key,
                result,
            });
        }
    }
    tally
}

/// One check's verdict as a commit message lists it.
fn verdict_line(rule: &str, required: bool, result: &CheckResult) -> String {
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

/// Keep `id`'s check verdicts in the state and the action cache: with the run's entry
/// when it ran (checks pass or not, the entry is true to the command), added to the
/// entry its outputs came from when they were fresh or restored. `Err` says why the
/// cache could not take them.
pub(super) fn keep(
    session: &mut Session,
    id: &str,
    settled: &mut Settled,
    records: Vec<CheckRecord>,
) -> Result<(), String> {
    // Read first: a fresh task's verdicts are usually the ones already kept, and
    // marking the state changed would rewrite it on every no-op build.
    let state = session.state().tasks.get(id);
    let known = state.map_or(&[][..], |s| s.checks.as_slice());
    let known_before: Vec<Digest> = known.iter().map(|r| r.key).collect();
    let success = state.and_then(|s| s.success.as_ref()).map(|s| s.key);
    let verdicts: Vec<(Digest, CheckResult)> =
        records.iter().map(|r| (r.key, r.result.clone())).collect();
    if known != records.as_slice() {
        session.task_state(id).checks = records;
    }
    match settled {
        Settled::Ran {
            pending,
            duration,
            record,
            ..
        } => match record.take() {
            Some(outputs) => session.record_run(ActionResult {
                key: pending.key,
                outputs,
                exit_code: 0,
                duration_ms: duration.as_millis() as u64,
                preimage: (*pending.preimage).clone(),
                checks: verdicts,
                discovered: pending.discovered.clone(),
                agent_cost_usd: pending.agent.as_ref().and_then(|a| a.cost_usd),
            }),
            None => Ok(()),
        },
        Settled::Fresh | Settled::Restored { .. } => {
            let new: Vec<_> = verdicts
                .into_iter()
                .filter(|(key, _)| !known_before.contains(key))
                .collect();
            match success {
                Some(key) if !new.is_empty() => session
                    .cache()
                    .add_verdicts(key, &new)
                    .map_err(|e| e.to_string()),
                _ => Ok(()),
            }
        }
    }
}
