//! Coding agents as conduct sees them (issue 18): a task whose `run` is an agent CLI
//! (claude, codex) leaves that CLI's machine output in the task's log, and `outcome`
//! reads from it what the agent spent (cost, tokens, turns), the session a retry can
//! resume, and whether the agent itself says it failed, which its exit code alone does
//! not always tell.

#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "read by the agent presets and run records of issue 18, which land next"
    )
)]
pub(crate) mod outcome;
