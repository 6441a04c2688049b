//! What a no-op build allocates, counted (issue 21). A binary of its own, because the
//! count needs a global allocator that sees every allocation and nothing but this one
//! test running: conduct runs in-process here (`conduct::run`), on a 1,000-task
//! project built beforehand, and the bytes it asks the allocator for are summed.
//! Allocation volume is what a no-op's time grows with; a change that allocates per
//! task what it did not before fails here, whatever the machine's speed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every byte asked for, summed (frees are not subtracted: this is volume, not peak).
struct Counting;

static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[path = "thousand.rs"]
mod thousand;

use thousand::{TASKS, sources, tasks_toml};

/// Bytes a no-op may allocate per task. Measured 2026-12-02: 4,782-4,793 (debug and
/// release builds alike, five runs); the bound leaves 15 % for the platform, not room
/// for new per-task work.
const BYTES_PER_TASK: u64 = 5632;

fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).expect("create src/");
    std::fs::create_dir_all(dir.join("out")).expect("create out/");
    std::fs::write(dir.join("tasks.toml"), tasks_toml()).expect("write tasks.toml");
    for (path, text) in sources() {
        std::fs::write(dir.join(path), text).expect("write a source");
    }
}

fn build(dir: &Path) -> i32 {
    conduct::run(["conduct", "-C", &dir.to_string_lossy(), "build", "-q"])
}

#[test]
fn a_no_op_allocates_a_bounded_amount_per_task() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_project(dir.path());
    assert_eq!(build(dir.path()), 0, "the cold build");
    assert_eq!(build(dir.path()), 0, "the first no-op");
    let before = BYTES.load(Ordering::Relaxed);
    assert_eq!(build(dir.path()), 0, "the counted no-op");
    let per_task = (BYTES.load(Ordering::Relaxed) - before) / TASKS as u64;
    eprintln!("a no-op of {TASKS} tasks allocated {per_task} bytes per task");
    assert!(
        per_task <= BYTES_PER_TASK,
        "a no-op allocated {per_task} bytes per task (at most {BYTES_PER_TASK})"
    );
}
