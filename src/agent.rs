//! Coding agents as task commands (issue 18): the presets that turn `run = { agent =
//! "claude" }` into the CLI's headless invocation ([`preset`]), and what the agent
//! reported of its work, read back from the task's log ([`outcome`]): what it spent
//! (cost, tokens, turns), the session a retry can resume, and whether the agent itself
//! says it failed, which its exit code alone does not always tell.

pub(crate) mod outcome;
pub(crate) mod preset;
