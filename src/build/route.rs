//! What happens to a task whose dependencies are settled, and whether a failed attempt
//! gets another: one routing and one retry policy for every path, the real build and
//! `--dry-run` (and `conduct list`) alike.

use crate::cache::ActionResult;
use crate::db::KeyError;
use crate::explain::Reason;
use crate::hash::{Digest, KeyPreimage};
use crate::scan::OutputsNow;
use crate::session::round::{Outcome, Round};
use crate::spec::TaskIdx;

/// Where a task goes.
#[derive(Debug)]
pub(super) enum Route {
    /// No command: it settles at once, with no outputs.
    Nothing,
    /// Up to date as found (its checks may still have to run).
    Fresh { outputs: Vec<(String, Digest)> },
    /// The cache gives its outputs back.
    Restore {
        key: Digest,
        reasons: Vec<Reason>,
        entry: Box<ActionResult>,
        now: OutputsNow,
    },
    /// It must run; `now` is what its outputs are before it does.
    Run {
        key: Digest,
        reasons: Vec<Reason>,
        preimage: Box<KeyPreimage>,
        now: Vec<(String, Digest)>,
    },
    /// Its key cannot be computed (a section missing from a document a dependency
    /// generated): it fails without running.
    Broken(KeyError),
    /// Stopped: these outputs were changed by hand since conduct wrote them.
    Edited(Vec<String>),
}

/// Decide where `task` goes (`forced`: `--force` names it).
pub(super) fn route(round: &mut Round<'_>, task: TaskIdx, forced: bool) -> Route {
    let t = round.session().loaded().spec.task(task);
    if t.run.is_none() {
        return Route::Nothing;
    }
    if !forced && !t.always && round.unchanged_task(task) {
        return Route::Fresh {
            outputs: round.outputs_now(task).files,
        };
    }
    match round.decide(task, forced) {
        Err(error) => Route::Broken(error),
        Ok(verdict) => match verdict.outcome {
            Outcome::Fresh => Route::Fresh {
                outputs: verdict.outputs.files,
            },
            Outcome::Restore { reasons, entry } => Route::Restore {
                key: verdict.key,
                reasons,
                entry,
                now: verdict.outputs,
            },
            Outcome::Run { reasons, preimage } => Route::Run {
                key: verdict.key,
                reasons,
                preimage,
                now: verdict.outputs.files,
            },
            Outcome::Edited(files) => Route::Edited(files),
        },
    }
}

/// Whether a failed attempt (its command, or its checks) is run again.
#[derive(Debug, Clone, Copy)]
pub(super) struct RetryPolicy {
    /// `--fail-fast`: once a task has finally failed, nothing runs again.
    pub(super) fail_fast: bool,
}

impl RetryPolicy {
    /// After attempt `attempt` of a task with `retries` retries failed: whether it runs
    /// again. Not after Ctrl-C, and under `--fail-fast` not once another task has
    /// finally failed (its own retries come first: a retry is part of the task).
    pub(super) fn again(
        &self,
        attempt: u32,
        retries: u32,
        interrupted: bool,
        earlier_failure: bool,
    ) -> bool {
        attempt <= retries && !interrupted && !(self.fail_fast && earlier_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_their_count_on_ctrl_c_and_after_a_failure_under_fail_fast() {
        let keep_going = RetryPolicy { fail_fast: false };
        let fail_fast = RetryPolicy { fail_fast: true };
        assert!(keep_going.again(1, 1, false, true));
        assert!(!keep_going.again(2, 1, false, false), "retries used up");
        assert!(!keep_going.again(1, 1, true, false), "interrupted");
        assert!(fail_fast.again(1, 1, false, false), "its own retry first");
        assert!(!fail_fast.again(1, 1, false, true), "another task failed");
    }
}
