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
pub(crate) mod program;
pub(crate) mod reaper;
pub(crate) mod scheduler;
pub(crate) mod slurm;
pub(crate) mod worktree;

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    /// A file its standard input reads (an agent's instruction); else nothing.
    pub(crate) stdin: Option<PathBuf>,
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
    /// The cluster lost it (its node failed, it was preempted): not the task's doing,
    /// so it is run again whether or not the task has `retries`.
    Lost { why: String },
    /// It ended, but nothing says how (a cluster job that left no exit status).
    Unknown { why: String },
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
    /// The cluster job it was, when it did not run here (boxed: most jobs run here).
    pub(crate) cluster: Option<Box<ClusterJob>>,
}

/// A job that ran on the cluster: its Slurm id and when conduct saw it pass each stage,
/// for the task's line, the run record (submitted → started → ended), `status` and
/// `plan` (the queue wait is part of what a task costs there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterJob {
    pub(crate) id: String,
    /// When conduct called `sbatch` for it.
    pub(crate) submitted: Instant,
    /// When the queue first said it runs; `None` when it started and ended between two
    /// looks at the queue.
    pub(crate) started: Option<Instant>,
    /// When the queue last had it (conduct's poll interval bounds the error).
    pub(crate) ended: Instant,
    /// Slurm's word for how it ended, when the queue said one (`NODE_FAIL`,
    /// `OUT_OF_MEMORY`, ...).
    pub(crate) state: Option<String>,
}

impl ClusterJob {
    /// From `sbatch` to its start: the time the cluster's queue cost the task.
    pub(crate) fn queue_wait(&self) -> Duration {
        self.started
            .unwrap_or(self.ended)
            .saturating_duration_since(self.submitted)
    }

    /// `Slurm job 123, queued 0.4s`: what the task's line says of it.
    pub(crate) fn describe(&self) -> String {
        let wait = match self.started {
            Some(_) => format!("queued {:.1}s", self.queue_wait().as_secs_f64()),
            None => format!(
                "{:.1}s from sbatch to its end",
                self.ended
                    .saturating_duration_since(self.submitted)
                    .as_secs_f64()
            ),
        };
        match &self.state {
            Some(state) => format!("Slurm job {}, {wait}, ended {state}", self.id),
            None => format!("Slurm job {}, {wait}", self.id),
        }
    }
}

impl Finished {
    /// A job that never ran.
    pub(crate) fn not_started(error: String) -> Finished {
        Finished {
            exit: Exit::SpawnFailed { error },
            duration: Duration::ZERO,
            leftovers: 0,
            stdout: Vec::new(),
            cluster: None,
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
