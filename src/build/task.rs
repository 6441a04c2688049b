//! Where a task stands while a build handles it: decided to run ([`Pending`]), its
//! command part settled while its checks decide ([`Settled`]), or finally failed
//! ([`Failure`]). Shared by the coordinator and the checks.

use std::time::Duration;

use crate::agent::outcome::AgentOutcome;
use crate::cache::CachedOutput;
use crate::discovered::Discovered;
use crate::exec::{ClusterJob, Exit};
use crate::explain::Reason;
use crate::explain::RunStatus;
use crate::hash::{Digest, KeyPreimage};
use crate::state::{LastClusterJob, LastRun};

/// A task decided to run, waiting in line or running.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) key: Digest,
    pub(super) preimage: Box<KeyPreimage>,
    pub(super) reasons: Vec<Reason>,
    pub(super) attempt: u32,
    /// What the failed checks of the last attempt said (`CONDUCT_FEEDBACK`).
    pub(super) feedback: Option<String>,
    /// The agent session to resume before any attempt of this build recorded one (a
    /// task sent back by the merge queue).
    pub(super) resume: Option<String>,
    /// Output files that were there when the task was decided and whose contents
    /// conduct has no record of making: never removed before a run.
    pub(super) keep: Vec<String>,
    /// Processes the last attempt left behind, killed when it ended (`reaper`).
    pub(super) leftovers: usize,
    /// The cluster job of the last attempt, when it did not run here.
    pub(super) cluster: Option<Box<ClusterJob>>,
    /// Attempts the cluster lost (node failure, preemption): they do not count against
    /// the task's `retries`.
    pub(super) lost: u32,
    /// Attempts whose command failed or timed out (not lost by the cluster, not sent
    /// back by the checks): a later success with the same key makes the task flaky.
    pub(super) command_failures: u32,
    /// It passed after failing with the same key (set when its command succeeds).
    pub(super) flaky: bool,
    /// What the agent reported over the attempts so far (summed; the last session): a
    /// retry the checks sent back resumes that session.
    pub(super) agent: Option<AgentOutcome>,
    /// What the successful run's depfile named, with digests (then `key` includes them).
    pub(super) discovered: Vec<Discovered>,
}

impl Pending {
    /// What the task's line says of the processes the last attempt left.
    pub(super) fn leftovers_note(&self) -> Option<String> {
        match self.leftovers {
            0 => None,
            1 => Some("killed 1 leftover process".to_owned()),
            n => Some(format!("killed {n} leftover processes")),
        }
    }

    /// The attempts that failed by the task's doing, which its `retries` allow for.
    pub(super) fn failed_attempts(&self) -> u32 {
        self.attempt.saturating_sub(self.lost)
    }
}

/// How a task's command part was settled, while its checks decide whether it is done.
#[derive(Debug)]
pub(super) enum Settled {
    Fresh,
    Restored {
        files: usize,
        reasons: Vec<Reason>,
    },
    Ran {
        /// Boxed: a pending task is large, and most settled tasks are fresh or restored.
        pending: Box<Pending>,
        duration: Duration,
        /// The outputs to record in the action cache with the checks' verdicts; `None`
        /// when the run must not be cached (an input changed while it ran).
        record: Option<Vec<CachedOutput>>,
        /// The outputs as the run left them (where it ran: the root or its worktree).
        made: Vec<CachedOutput>,
    },
}

/// How a task's last attempt failed, for the record and the report.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: RunStatus,
    pub(super) duration: Duration,
    pub(super) attempt: u32,
    pub(super) detail: Option<String>,
    /// The end of the task's log.
    pub(super) tail: String,
    pub(super) reasons: Vec<Reason>,
    /// The cluster job of the last attempt, when it did not run here.
    pub(super) cluster: Option<Box<ClusterJob>>,
    /// The key it ran with (`None`: it never ran).
    pub(super) key: Option<Digest>,
    /// What its agent reported over its attempts.
    pub(super) agent: Option<AgentOutcome>,
}

impl Failure {
    /// Stopped because `files` were changed by hand since conduct wrote them: the two
    /// ways on, in the words of its line.
    pub(super) fn edited(id: &str, files: &[String]) -> Failure {
        let them = if files.len() == 1 { "it" } else { "them" };
        Failure {
            status: RunStatus::Edited,
            duration: Duration::ZERO,
            attempt: 0,
            detail: Some(format!(
                "{} changed by hand since conduct wrote {them}; `conduct accept {id}` keeps the edit (its dependents rebuild from it), `conduct build --discard-edits {id}` restores or reruns it",
                files.join(", ")
            )),
            tail: String::new(),
            reasons: Vec::new(),
            cluster: None,
            key: None,
            agent: None,
        }
    }

    /// The task could not even start (its key, its files): it fails with `detail`.
    pub(super) fn before_running(detail: String) -> Failure {
        Failure {
            status: RunStatus::Failed,
            duration: Duration::ZERO,
            attempt: 1,
            detail: Some(detail),
            tail: String::new(),
            reasons: Vec::new(),
            cluster: None,
            key: None,
            agent: None,
        }
    }
}

/// How a job's exit is recorded: its status, and what the task's line says of it
/// (`timeout` is the task's, for "timed out after 2s").
pub(super) fn ended(exit: &Exit, timeout: Option<Duration>) -> (RunStatus, Option<String>) {
    match exit {
        Exit::Success => (RunStatus::Ok, None),
        Exit::TimedOut => (
            RunStatus::TimedOut,
            timeout.map(|t| format!("timed out after {}", crate::units::format_duration(t))),
        ),
        Exit::Cancelled => (RunStatus::Interrupted, None),
        Exit::Failed { code, signal } => {
            let detail = match (code, signal) {
                (Some(code), _) => Some(format!("exit code {code}")),
                (None, Some(signal)) => Some(format!("killed by signal {signal}")),
                (None, None) => None,
            };
            (RunStatus::Failed, detail)
        }
        Exit::SpawnFailed { error } => {
            (RunStatus::Failed, Some(format!("could not start: {error}")))
        }
        Exit::Lost { why } | Exit::Unknown { why } => (RunStatus::Failed, Some(why.clone())),
    }
}

/// The state's record of an attempt.
pub(super) fn last_run(
    status: RunStatus,
    duration: Duration,
    attempts: u32,
    reasons: Vec<Reason>,
    cluster: Option<&ClusterJob>,
    key: Option<Digest>,
    flaky: bool,
) -> LastRun {
    LastRun {
        status,
        duration_ms: duration.as_millis() as u64,
        attempts,
        reasons,
        finished_at: crate::state::now_secs(),
        cluster: cluster.map(|job| LastClusterJob {
            id: job.id.clone(),
            queue_ms: job.queue_wait().as_millis() as u64,
        }),
        key,
        flaky,
        agent: None,
    }
}
