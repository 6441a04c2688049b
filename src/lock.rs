//! One build at a time per project cache (SPEC §8).
//!
//! `.cache/lock` is locked exclusively with the OS's advisory file lock (`flock`), which
//! the kernel releases when the holder exits, even by `kill -9`, so a crash never leaves
//! a stale lock. The holder writes its pid into the file; a second conduct that finds
//! the lock taken says which pid holds it, then waits. Whether a build is running is
//! asked with [`held`], which never waits and writes nothing (`conduct logs -f`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Held while the project cache is being written; released on drop.
#[derive(Debug)]
pub(crate) struct ProjectLock {
    _file: File,
}

/// Take the lock of the cache in `cache_dir`, calling `waiting(pid of the holder)` once
/// if another process holds it, then blocking until it is free.
pub(crate) fn acquire(
    cache_dir: &Path,
    waiting: impl FnOnce(Option<u32>),
) -> io::Result<ProjectLock> {
    std::fs::create_dir_all(cache_dir)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(cache_dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            waiting(text.trim().parse().ok());
            file.lock()?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // Written over the last holder's pid; the file is cut only if that one was longer
    // (truncating costs a journal transaction on every build).
    let pid = std::process::id().to_string();
    let previous = file.metadata()?.len();
    file.write_all_at(pid.as_bytes(), 0)?;
    if previous > pid.len() as u64 {
        file.set_len(pid.len() as u64)?;
    }
    Ok(ProjectLock { _file: file })
}

/// Whether another open of the lock of the cache in `cache_dir` holds it now (a build
/// is running), asked without waiting or writing: a shared lock is tried on the file
/// and let go at once. A build that starts in that very instant waits for the probe to
/// end (it says it is waiting for the lock). False when there is no lock file (no
/// build ever ran there) or the lock cannot be asked about.
pub(crate) fn held(cache_dir: &Path) -> bool {
    let Ok(file) = crate::confined::open_no_follow(&cache_dir.join("lock")) else {
        return false;
    };
    matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_learns_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), |_| panic!("free lock")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let _second = acquire(&path, |pid| tx.send(pid).unwrap()).unwrap();
        });
        // The waiter reports the holder's pid before blocking.
        assert_eq!(rx.recv().unwrap(), Some(std::process::id()));
        drop(first);
        waiter.join().unwrap();
    }

    #[test]
    fn held_says_whether_a_build_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!held(dir.path()), "no lock file yet");
        let lock = acquire(dir.path(), |_| panic!("free lock")).unwrap();
        assert!(held(dir.path()));
        assert!(held(dir.path()), "asking does not take it");
        drop(lock);
        assert!(!held(dir.path()));
        // Asking left it free for the next build.
        let _again = acquire(dir.path(), |_| panic!("free lock")).unwrap();
    }
}
