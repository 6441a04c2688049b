//! Running processes: every process conduct starts goes through an [`Executor`] (tasks,
//! `run` checks, `{ command = … }` inputs, worktree setup), as ninja's `CommandRunner`
//! or Snakemake's executor plugins. The seam is plain data: a [`Job`] goes in (argv,
//! directory, environment, where the output goes, a timeout), a [`Finished`] comes out.
//!
//! - [`Executor::submit`] hands a job over and returns at once; the executor reports
//!   [`Update::Started`] and exactly one [`Update::Finished`] through the job's
//!   callback, from whichever thread notices. This fits a batch scheduler whose jobs
//!   take seconds to start: submit is `sbatch`, the updates come from polling `squeue`.
//! - [`Executor::cancel`] stops one job by its id, [`Executor::cancel_all`] every job
//!   (Ctrl-C): a job that was stopped finishes as [`Exit::Cancelled`], one over its
//!   timeout as [`Exit::TimedOut`]. Supervision (deadline, TERM, grace, KILL of the whole
//!   process group) is the executor's: `local::supervise` is the one routine for every
//!   local process.
//! - [`Executor::run`] runs a job to its end on the calling thread, with the same
//!   supervision, for the short processes a build waits on (a check, a `{command}`).
//!
//! `local` is the real executor (process groups, logs, the reaper); `fake` drives the
//! coordinator's unit tests without processes. `scheduler` decides what starts next;
//! `worktree` prepares agents' git worktrees and brings their work back.

#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod local;
pub(crate) mod output;
pub(crate) mod reaper;
pub(crate) mod scheduler;
pub(crate) mod slurm;
pub(crate) mod worktree;

use std::path::PathBuf;
use std::time::Duration;

/// Where a job's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Both into this log file (made at the first byte, an existing one truncated);
    /// with `stream`, also copied line by line to conduct's stderr as `[label] line`.
    Log { path: PathBuf, stream: bool },
    /// stdout kept for [`Finished::stdout`]; stderr dropped.
    Capture,
}

/// One process to run, as plain data.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Whose it is (a task id): prefixes streamed lines, marks a task's processes.
    pub(crate) label: String,
    /// argv[0] and arguments (a shell command arrives as `["sh", "-c", "<cmd>"]`).
    pub(crate) argv: Vec<String>,
    /// Working directory (the project root or a worktree).
    pub(crate) cwd: PathBuf,
    /// Variables added to (overriding) the inherited environment.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) output: Output,
    /// Stopped (TERM, then KILL after the grace) when it runs longer.
    pub(crate) timeout: Option<Duration>,
    /// A build's task: marked, and what it leaves behind reaped (see `reaper`).
    pub(crate) task: bool,
    /// `Some`: a job for the Slurm cluster, asking for these resources (see `slurm`);
    /// `None`: a process on this machine.
    pub(crate) on_cluster: Option<crate::spec::placement::Placement>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Exit status 0.
    Success,
    /// Non-zero exit code, or killed by a signal it was not sent by conduct.
    Failed {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The program could not be started (not found, not executable, ...).
    SpawnFailed { error: String },
    /// Stopped for running past its timeout.
    TimedOut,
    /// Stopped by [`Executor::cancel`] or [`Executor::cancel_all`].
    Cancelled,
}

/// What a finished job left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    pub(crate) exit: Exit,
    /// From its start to its end (zero if it never started).
    pub(crate) duration: Duration,
    /// Processes it left behind, killed (tasks only, see `reaper`).
    pub(crate) leftovers: usize,
    /// With [`Output::Capture`]: what it printed on stdout.
    pub(crate) stdout: Vec<u8>,
    /// Where it ran, when not here: `Slurm job 123 (queued 0.4s)`, for the task's line.
    pub(crate) ran_as: Option<String>,
}

impl Finished {
    /// A job that never ran.
    pub(crate) fn not_started(error: String) -> Finished {
        Finished {
            exit: Exit::SpawnFailed { error },
            duration: Duration::ZERO,
            leftovers: 0,
            stdout: Vec::new(),
            ran_as: None,
        }
    }
}

/// What an executor tells about a submitted job.
#[derive(Debug)]
pub(crate) enum Update {
    Started,
    Finished(Finished),
}

/// Where a submitted job's updates go (called from the executor's threads).
pub(crate) type Report = Box<dyn Fn(Update) + Send + Sync>;

/// A submitted job, for [`Executor::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct JobId(pub(crate) u64);

/// Runs jobs (see the module's text).
pub(crate) trait Executor: Send + Sync {
    /// Hand `job` over; returns at once. `report` hears `Started` (not for a job that
    /// could not start) and then exactly one `Finished`.
    fn submit(&self, job: Job, report: Report) -> JobId;
    /// Stop job `id` (it finishes as `Cancelled`); a finished one is left alone.
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "a build stops all its jobs at once (Ctrl-C, fail-fast) and timeouts are the executors' own"
        )
    )]
    fn cancel(&self, id: JobId);
    /// Stop every job, submitted or run, now and from now on (Ctrl-C).
    fn cancel_all(&self);
    /// Run `job` to its end on this thread.
    fn run(&self, job: Job) -> Finished;
    /// The build is over: every job has finished.
    fn finish(&self) {}
    /// Whether its jobs run elsewhere (a cluster's queue bounds them, not the cores).
    fn on_cluster(&self) -> bool {
        false
    }
}
