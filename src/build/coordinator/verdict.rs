//! Every check of a task has its verdict (the coordinator's half that follows the
//! checks): the task settles, is retried with the checks' feedback, or fails and
//! blocks its dependents.

use super::*;

impl Coordinator<'_, '_> {
    /// Every check of `task` has its verdict: report them, then settle the task, retry
    /// it with the checks' feedback, or fail it.
    pub(super) fn finish(&mut self, task: TaskIdx) {
        let Some(mut checking) = self.tasks.checking.remove(&task) else {
            return;
        };
        let loaded = Arc::clone(&self.setting.loaded);
        let id = self.id(task);
        let title = self.title(task);
        let tally = checks::tally(&loaded, &id, checking.checks, self.reporter);
        self.progress.counts.warnings += tally.warnings;
        let mut failures = tally.failures;
        if let Err(error) = checks::keep(
            self.round.session_mut(),
            &id,
            &mut checking.settled,
            tally.records,
        ) {
            self.reporter
                .warn(&format!("{id} could not be stored in the cache: {error}"));
        }
        if failures.is_empty()
            && let Settled::Ran { made, .. } = &checking.settled
            && let Err(error) = self.setting.bring_out(self.round, task, made)
        {
            failures.push(format!(
                "its outputs could not be copied out of the worktree: {error}"
            ));
        }
        if failures.is_empty() {
            self.round.settle(task, checking.outputs);
            match checking.settled {
                Settled::Fresh => {
                    self.progress.counts.fresh += 1;
                    self.reporter.fresh(&id);
                }
                Settled::Restored { files, reasons } => {
                    self.progress.counts.restored += 1;
                    self.reporter.restored(&id, files, &reasons);
                }
                Settled::Ran {
                    pending, duration, ..
                } => {
                    self.progress.counts.ran += 1;
                    let printed = self
                        .setting
                        .printed(task, self.reporter.shows_output(self.setting.verbose));
                    let log = self.setting.log_name(task);
                    let note = pending.leftovers_note();
                    self.reporter.finished(&TaskEnd {
                        detail: note.as_deref(),
                        output: printed.as_ref().map(|tail| RunOutput { tail, log: &log }),
                        cluster: pending.cluster.as_deref(),
                        flaky: pending.flaky,
                        agent: pending.agent.as_ref(),
                        ..TaskEnd::new(
                            &id,
                            title.as_deref(),
                            RunStatus::Ok,
                            duration,
                            pending.attempt,
                        )
                    });
                    self.setting
                        .commit(task, &pending, &tally.lines, self.reporter);
                }
            }
            self.scheduler.succeeded(task);
            return;
        }
        let detail = failures.join("; ");
        let (duration, attempt, reasons, cluster, key, agent) = match checking.settled {
            Settled::Ran {
                mut pending,
                duration,
                ..
            } => {
                let retries = loaded.spec.task(task).retries;
                let again = self.rules.policy.again(
                    pending.failed_attempts(),
                    retries,
                    self.progress.interrupted,
                    self.progress.first_failure.is_some(),
                );
                if again {
                    // Run the command again, telling it what failed.
                    self.reporter.finished(&TaskEnd {
                        retrying: true,
                        detail: Some(&detail),
                        cluster: pending.cluster.as_deref(),
                        agent: pending.agent.as_ref(),
                        ..TaskEnd::new(
                            &id,
                            title.as_deref(),
                            RunStatus::Failed,
                            duration,
                            pending.attempt,
                        )
                    });
                    pending.feedback = Some(failures.join("\n"));
                    self.tasks.pending.insert(task, *pending);
                    self.scheduler.retry(task);
                    return;
                }
                let key = Some(pending.preimage.key());
                (
                    duration,
                    pending.attempt,
                    pending.reasons,
                    pending.cluster,
                    key,
                    pending.agent,
                )
            }
            Settled::Fresh | Settled::Restored { .. } => {
                (Duration::ZERO, 0, Vec::new(), None, None, None)
            }
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
                cluster,
                key,
                agent,
            },
        );
    }

    /// A final failure: record it, report it, block what depends on it.
    pub(super) fn give_up(&mut self, task: TaskIdx, failure: Failure) {
        let Failure {
            status,
            duration,
            attempt,
            detail,
            tail,
            reasons,
            cluster,
            key,
            agent,
        } = failure;
        let id = self.id(task);
        let title = self.title(task);
        let detail = match self.setting.workspace_of(task) {
            Some(workspace) => Some(format!(
                "{}{}its worktree is kept for inspection: {}",
                detail.as_deref().unwrap_or(""),
                if detail.is_some() { "; " } else { "" },
                workspace.path.display()
            )),
            None => detail,
        };
        if status == RunStatus::Edited {
            // Nothing ran: what the state knows of its last run stays true.
            self.progress.counts.edited += 1;
        } else {
            let state = self.round.session_mut().task_state(&id);
            let mut run = last_run(
                status,
                duration,
                attempt,
                reasons,
                cluster.as_deref(),
                key,
                false,
            );
            run.agent = agent.clone().map(Box::new);
            state.last_run = Some(Box::new(run));
            self.progress.counts.failed += 1;
        }
        self.reporter.finished(&TaskEnd {
            detail: detail.as_deref(),
            log_tail: &tail,
            cluster: cluster.as_deref(),
            agent: agent.as_ref(),
            ..TaskEnd::new(&id, title.as_deref(), status, duration, attempt)
        });
        for blocked in self.scheduler.failed(task) {
            self.progress.counts.blocked += 1;
            let blocked = self.id(blocked);
            self.reporter.blocked(&blocked, &id);
        }
        self.progress.first_failure.get_or_insert(task);
        if self.rules.policy.fail_fast {
            self.scheduler.stop();
            // A local job is let finish; a cluster's may hold a node for hours.
            if self.workers.on_cluster() && !self.progress.interrupted {
                self.reporter
                    .warn("--fail-fast: cancelling the build's jobs on the cluster");
                self.workers.cancel_all();
            }
        }
        self.progress.dirty = true;
    }
}
