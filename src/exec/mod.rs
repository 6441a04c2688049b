//! Running tasks: the scheduler decides what starts next, `process` runs it.

pub(crate) mod process;
pub(crate) mod scheduler;
