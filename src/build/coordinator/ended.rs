//! A task's job ended (the coordinator's half that follows `Event::Finished`): a
//! success is hashed, recorded and sent on to its checks; a failure is retried or
//! given up.

use super::*;
use crate::agent::outcome::AgentOutcome;

impl Coordinator<'_, '_> {
    /// A job ended: a success goes on to its checks, a failure is retried or given up.
    pub(super) fn exited(
        &mut self,
        task: TaskIdx,
        attempt: u32,
        finished: Finished,
        collected: Option<Collected>,
    ) {
        let Finished {
            exit,
            duration,
            cluster,
            ..
        } = finished;
        let lost = matches!(exit, Exit::Lost { .. });
        let timeout = self.setting.loaded.spec.task(task).timeout;
        let (mut status, mut detail) = task::ended(&exit, timeout);
        // What an agent says of its own run: a failure it reports fails the task, even
        // with exit status 0.
        let agent = self.setting.agent_outcome(task);
        if let Some(budget) = &mut self.budget
            && self.setting.loaded.spec.task(task).is_agent()
        {
            budget.ended(task, agent.as_ref().and_then(|a| a.cost_usd).unwrap_or(0.0));
        }
        if let Some(failure) = agent.as_ref().and_then(|a| a.failure.as_deref())
            && matches!(status, RunStatus::Ok | RunStatus::Failed)
        {
            status = RunStatus::Failed;
            detail = Some(match detail {
                Some(detail) => format!("{detail}; the agent says {failure}"),
                None => format!("the agent says {failure}"),
            });
        }
        let leftovers = self
            .tasks
            .pending
            .get(&task)
            .and_then(Pending::leftovers_note);
        if let Some(note) = leftovers {
            detail = Some(match detail {
                Some(detail) => format!("{detail}; {note}"),
                None => note,
            });
        }
        let mut outputs = Vec::new();
        let mut discovered = None;
        if status == RunStatus::Ok
            && let Some(collected) = &collected
        {
            let now = self.round.session_mut().outputs_after_run(task, collected);
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
            } else {
                match self.setting.depfile_names(task) {
                    Ok(None) => {}
                    Ok(Some(paths)) => discovered = Some(self.round.discovered_now(&paths)),
                    Err(error) => {
                        status = RunStatus::Failed;
                        detail = Some(error);
                    }
                }
            }
            outputs = now.files;
        }
        let Some(mut pending) = self.tasks.pending.remove(&task) else {
            return;
        };
        if let Some(attempt) = &agent {
            AgentOutcome::add(&mut pending.agent, attempt);
        }
        if let Some(found) = discovered {
            pending.key = crate::discovered::key(pending.preimage.key(), &found);
            pending.discovered = found;
        }
        if status == RunStatus::Ok
            && let Some(collected) = collected
        {
            self.succeeded(task, pending, outputs, &collected, duration);
            return;
        }
        if lost {
            pending.lost += 1;
        } else if matches!(status, RunStatus::Failed | RunStatus::TimedOut) {
            pending.command_failures += 1;
        }
        let retries = self.setting.loaded.spec.task(task).retries;
        let policy = &self.rules.policy;
        let (interrupted, failed_before) = (
            self.progress.interrupted,
            self.progress.first_failure.is_some(),
        );
        // A job the cluster lost runs again (up to LOST_RETRIES times) whatever the
        // task's `retries`; a failure of the task's own uses them up.
        let retry = if lost {
            policy.again(pending.lost, LOST_RETRIES, interrupted, failed_before)
        } else {
            matches!(status, RunStatus::Failed | RunStatus::TimedOut)
                && policy.again(
                    pending.failed_attempts(),
                    retries,
                    interrupted,
                    failed_before,
                )
        };
        let tail = log_tail(&self.setting.log_path(task), LOG_TAIL);
        if retry {
            let id = self.id(task);
            let title = self.title(task);
            self.reporter.finished(&TaskEnd {
                retrying: true,
                detail: detail.as_deref(),
                log_tail: &tail,
                cluster: cluster.as_deref(),
                agent: pending.agent.as_ref(),
                ..TaskEnd::new(&id, title.as_deref(), status, duration, attempt)
            });
            self.tasks.pending.insert(task, pending);
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
                key: Some(pending.preimage.key()),
                reasons: pending.reasons,
                cluster,
                agent: pending.agent,
            },
        );
    }

    /// The command succeeded: record it (unless an input changed while it ran), keep
    /// its outputs for the cache, and go on to its checks.
    fn succeeded(
        &mut self,
        task: TaskIdx,
        mut pending: Pending,
        outputs: Vec<(String, Digest)>,
        collected: &Collected,
        duration: Duration,
    ) {
        let id = self.id(task);
        let changed = self
            .round
            .session_mut()
            .inputs_unchanged(task, &pending.preimage);
        let state = self.round.session_mut().task_state(&id);
        // Same key, and it failed before: in this build, or the last time it ran.
        let key = pending.preimage.key();
        let failed_last_time = state.last_run.as_ref().is_some_and(|last| {
            matches!(last.status, RunStatus::Failed | RunStatus::TimedOut) && last.key == Some(key)
        });
        let flaky = pending.command_failures > 0 || failed_last_time;
        pending.flaky = flaky;
        let mut run = last_run(
            RunStatus::Ok,
            duration,
            pending.attempt,
            pending.reasons.clone(),
            pending.cluster.as_deref(),
            Some(key),
            flaky,
        );
        run.agent = pending.agent.clone().map(Box::new);
        state.last_run = Some(Box::new(run));
        let record = match changed {
            None => {
                state.success = Some(Success {
                    key: pending.key,
                    outputs: outputs.clone(),
                    duration_ms: duration.as_millis() as u64,
                    discovered: pending.discovered.clone(),
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
                self.progress.counts.changed_while_running += 1;
                self.reporter.warn(&format!(
                    "input {path} of {id} changed while it ran; {id} will run again next time"
                ));
                None
            }
        };
        self.progress.dirty = true;
        let made = collected.cached_outputs();
        self.check(
            task,
            Settled::Ran {
                pending: Box::new(pending),
                duration,
                record,
                made,
            },
            outputs,
        );
    }
}
