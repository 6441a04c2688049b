//! The machine's cores, asked once, and rayon's global pool sized from that answer.
//!
//! std's `available_parallelism` reads the cgroup's CPU quota on every call (three
//! files opened under `/proc` and `/sys`), and rayon asks it again when its global pool
//! starts: a no-op build of a 35-task project asked four times, a tenth of its system
//! time. Parallel work calls [`parallel`] first, so the pool starts only when there is
//! parallel work to do and never asks again.

use std::sync::{Once, OnceLock};

/// How many cores this process may use (1 when the OS does not say).
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Run `work` (which uses rayon's parallel iterators) after sizing rayon's global pool
/// with [`cores`], if nothing started it yet.
pub(crate) fn parallel<R>(work: impl FnOnce() -> R) -> R {
    static SIZED: Once = Once::new();
    SIZED.call_once(|| {
        // Fails only if the pool already runs (sized by rayon itself): fine either way.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(cores())
            .build_global();
    });
    work()
}
