//! How one attempt of a task ended ([`TaskEnd`]): what the coordinator tells the
//! reporter, which renders it (`progress`) and records it (`record`), and what a task's
//! line says of it ([`TaskEnd::note`]).

use std::time::Duration;

use crate::agent::outcome::AgentOutcome;
use crate::exec::ClusterJob;
use crate::exec::output::Tail;
use crate::explain::RunStatus;

/// How one attempt of a task ended, for `Reporter::finished`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskEnd<'a> {
    pub(crate) task: &'a str,
    /// `None`: the task has no title, and its line names it once.
    pub(crate) title: Option<&'a str>,
    pub(crate) status: RunStatus,
    pub(crate) duration: Duration,
    pub(crate) attempt: u32,
    /// Another attempt follows.
    pub(crate) retrying: bool,
    /// Why it failed, when conduct knows more than the log (exit code, timeout).
    pub(crate) detail: Option<&'a str>,
    /// The end of the task's log, shown with failures.
    pub(crate) log_tail: &'a str,
    /// What a successful run printed, shown under its line.
    pub(crate) output: Option<RunOutput<'a>>,
    /// The cluster job the attempt was, when it did not run here.
    pub(crate) cluster: Option<&'a ClusterJob>,
    /// It passed after failing with the same key.
    pub(crate) flaky: bool,
    /// What its agent reported over the task's attempts so far.
    pub(crate) agent: Option<&'a AgentOutcome>,
}

impl<'a> TaskEnd<'a> {
    /// How attempt `attempt` of `task` ended, with nothing more to say (the other
    /// fields are set with struct update syntax where there is).
    pub(crate) fn new(
        task: &'a str,
        title: Option<&'a str>,
        status: RunStatus,
        duration: Duration,
        attempt: u32,
    ) -> TaskEnd<'a> {
        TaskEnd {
            task,
            title,
            status,
            duration,
            attempt,
            retrying: false,
            detail: None,
            log_tail: "",
            output: None,
            cluster: None,
            flaky: false,
            agent: None,
        }
    }
}

/// What a successful run printed: the end of its log (see `Reporter::shows_output`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOutput<'a> {
    pub(crate) tail: &'a Tail,
    /// The whole log, project-relative, named when the tail is cut.
    pub(crate) log: &'a str,
}

/// What a task's line says after its name: why it failed or what it left, then where it
/// ran when not here.
pub(crate) fn note(end: &TaskEnd<'_>) -> Option<String> {
    let parts: Vec<String> = end
        .flaky
        .then(|| "flaky: it failed before with the same inputs".to_owned())
        .into_iter()
        .chain(end.detail.map(str::to_owned))
        .chain(end.agent.map(AgentOutcome::spent))
        .chain(end.cluster.map(ClusterJob::describe))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
