//! Running tasks: the scheduler decides what starts next, `process` runs it, in the
//! project root or in the task's git worktree (`worktree`).

pub(crate) mod process;
pub(crate) mod reaper;
pub(crate) mod scheduler;
pub(crate) mod worktree;
