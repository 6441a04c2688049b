//! Why a task runs: one [`Reason`] per cause, recorded by `fresh.rs` on the line that
//! decides (ninja's `explanations_.Record(...)`), rendered here for `--explain`, JSON
//! events and `conduct status`. No second code path reconstructs the "why".

use std::fmt;

use crate::hash::Digest;
use serde::{Deserialize, Serialize};

/// The outcome of one run of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RunStatus {
    Ok,
    Failed,
    TimedOut,
    Interrupted,
    /// Not run: an output was changed by hand since conduct wrote it (never recorded
    /// in the state; the build stops the task and its dependents).
    Edited,
}

impl RunStatus {
    /// The word used in output and JSON (`ok`, `failed`, `timed_out`, `interrupted`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Edited => "edited",
        }
    }
}

/// One cause for a task to run (or to be recorded as it is: [`Reason::Accepted`]).
/// Typed from `fresh.rs`, where it is decided, to the reporter, the state and the run
/// record; rendered only here (and by `report/` through [`render`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Reason {
    /// No successful run was ever recorded.
    NeverBuilt,
    /// `--force`.
    Forced,
    /// The last attempt did not succeed.
    PreviousRun {
        status: RunStatus,
    },
    /// conduct's key format changed.
    FormatChanged,
    /// `run` (or the project shell) changed.
    CommandChanged,
    /// A variable of the task's `env` changed, appeared or disappeared.
    EnvChanged {
        name: String,
    },
    /// The value of a `hash_env` variable changed.
    HashEnvChanged {
        name: String,
    },
    WorkspaceChanged,
    /// The declared `outputs` list changed.
    OutputsDeclarationChanged,
    InputChanged {
        input: String,
        old: Digest,
        new: Digest,
    },
    InputAdded {
        input: String,
    },
    InputRemoved {
        input: String,
    },
    /// A `{ command = … }` input printed something else.
    CommandOutputChanged {
        command: String,
        old: Digest,
        new: Digest,
    },
    DependencyAdded {
        dep: String,
    },
    DependencyRemoved {
        dep: String,
    },
    /// An output of a dependency changed (or appeared, or disappeared).
    DependencyOutputChanged {
        dep: String,
        output: String,
    },
    /// The outputs of a group this task runs after changed.
    BarrierChanged {
        group: String,
    },
    /// `--dry-run`: a dependency would run, so its outputs may change.
    DependencyWillRun {
        dep: String,
    },
    OutputMissing {
        output: String,
    },
    OutputModified {
        output: String,
    },
    /// The key changed but the previous pre-image is not on record.
    KeyChanged,
    /// The cache had this key but could not give its outputs back.
    CacheUnusable {
        why: String,
    },
    /// A rule the task's outputs are checked with changed: its check runs again.
    RuleChanged {
        rule: String,
    },
    /// A check of the outputs failed (from its cache: the command does not rerun).
    CheckFailed {
        rule: String,
        message: String,
    },
    /// A check has no verdict on these outputs yet (`--dry-run`: it would run).
    CheckNotRun {
        rule: String,
    },
    /// `conduct accept` recorded the outputs as they were.
    Accepted,
    /// `always = true`: it runs whenever it is selected.
    Always,
    /// The task's key cannot be computed (a section missing from a document a
    /// dependency generated): it fails without running.
    Undecidable {
        why: String,
    },
    /// A file the last run's depfile named changed.
    DiscoveredChanged {
        input: String,
    },
    /// A file the last run's depfile named is gone.
    DiscoveredRemoved {
        input: String,
    },
    /// The remote cache had this key's result (verified): it is restored from there.
    RemoteHit,
    /// The remote cache had nothing usable for this key (`why`: what was there and
    /// why it was refused).
    RemoteMiss {
        why: Option<String>,
    },
    /// The remote cache failed when asked for this key (or earlier in the build).
    RemoteError {
        error: String,
    },
}

/// A path as `--explain` shows it: a file found on disk may have a newline, a tab or
/// another control character in its name, which would break the one-reason-per-line
/// output; those are escaped (`\n`, `\u{1b}`), everything else is shown as it is.
pub(crate) fn shown(path: &str) -> std::borrow::Cow<'_, str> {
    if path.chars().any(char::is_control) {
        std::borrow::Cow::Owned(
            path.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_debug().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(path)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NeverBuilt => f.write_str("never built"),
            Reason::Forced => f.write_str("forced (--force)"),
            Reason::PreviousRun { status } => match status {
                RunStatus::TimedOut => f.write_str("previous run timed out"),
                RunStatus::Interrupted => f.write_str("previous run was interrupted"),
                _ => f.write_str("previous run failed"),
            },
            Reason::FormatChanged => f.write_str("key format changed (new conduct version)"),
            Reason::CommandChanged => f.write_str("command changed"),
            Reason::EnvChanged { name } => write!(f, "env {name} changed"),
            Reason::HashEnvChanged { name } => {
                write!(f, "environment variable {name} changed (hash_env)")
            }
            Reason::WorkspaceChanged => f.write_str("workspace changed"),
            Reason::OutputsDeclarationChanged => f.write_str("declared outputs changed"),
            Reason::InputChanged { input, old, new } => {
                write!(
                    f,
                    "input {} changed ({} -> {})",
                    shown(input),
                    old.short(),
                    new.short()
                )
            }
            Reason::InputAdded { input } => write!(f, "input {} added", shown(input)),
            Reason::InputRemoved { input } => write!(f, "input {} removed", shown(input)),
            Reason::CommandOutputChanged { command, old, new } => write!(
                f,
                "input command `{command}` printed something else ({} -> {})",
                old.short(),
                new.short()
            ),
            Reason::DependencyAdded { dep } => write!(f, "dependency {dep} added"),
            Reason::DependencyRemoved { dep } => write!(f, "dependency {dep} removed"),
            Reason::DependencyOutputChanged { dep, output } => {
                write!(f, "dependency {dep}: output {} changed", shown(output))
            }
            Reason::BarrierChanged { group } => {
                write!(f, "group {group} (runs before this one): outputs changed")
            }
            Reason::DependencyWillRun { dep } => write!(f, "dependency {dep} will run"),
            Reason::OutputMissing { output } => write!(f, "output {} missing", shown(output)),
            Reason::OutputModified { output } => write!(f, "output {} modified", shown(output)),
            Reason::KeyChanged => {
                f.write_str("inputs changed (the previous ones are not on record)")
            }
            Reason::CacheUnusable { why } => {
                write!(f, "the cached result could not be restored ({why})")
            }
            Reason::RuleChanged { rule } => write!(f, "rule {rule} changed"),
            Reason::CheckFailed { rule, message } => write!(f, "check {rule} failed: {message}"),
            Reason::CheckNotRun { rule } => {
                write!(f, "check {rule} has not run on these outputs")
            }
            Reason::Accepted => f.write_str("accepted"),
            Reason::Always => f.write_str("always runs (always = true)"),
            Reason::Undecidable { why } => f.write_str(why),
            Reason::DiscoveredChanged { input } => {
                write!(f, "input {} changed (named by the depfile)", shown(input))
            }
            Reason::DiscoveredRemoved { input } => {
                write!(f, "input {} removed (named by the depfile)", shown(input))
            }
            Reason::RemoteHit => f.write_str("remote hit"),
            Reason::RemoteMiss { why: None } => f.write_str("remote miss"),
            Reason::RemoteMiss { why: Some(why) } => write!(f, "remote miss: {why}"),
            Reason::RemoteError { error } => write!(f, "remote error: {error}"),
        }
    }
}

/// Reasons as the strings that go into JSON events and the state.
pub(crate) fn render(reasons: &[Reason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}
