//! The `conduct` binary: everything lives in the library; see `conduct::run`.
//!
//! mimalloc is the allocator: a no-op build of 10,000 tasks makes hundreds of thousands
//! of small allocations (paths, ids, digests lists), and glibc's malloc was a fifth of
//! its instructions.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(conduct::run(std::env::args_os()));
}
