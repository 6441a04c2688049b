//! Where a job's program is: `PATH` searched once per program, not once per job.
//!
//! std hands a bare name (`sh`) to `posix_spawnp`, whose child tries every `PATH` entry
//! in turn: eight failed `execve`s per task before `/usr/bin/sh` on the benchmark
//! machine, each with conduct's spawning thread suspended until the child execs.
//! Here the search is done once and remembered; every later spawn checks the file
//! is still there with one `stat`.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

use rustc_hash::FxHashMap;

/// Found programs, by (name, `PATH` searched).
type Found = FxHashMap<(String, OsString), PathBuf>;

/// The file `program` runs as, found on `path` (the job's `PATH`, else conduct's),
/// as `execvp` would find it; `None` for a name with a `/`, a `PATH` with a relative
/// entry (searched from the job's directory: left to the child) or a program not
/// found (the spawn then reports it as before).
pub(crate) fn resolve(program: &str, path: Option<&str>) -> Option<PathBuf> {
    if program.is_empty() || program.contains('/') {
        return None;
    }
    let path: OsString = match path {
        Some(path) => path.into(),
        None => std::env::var_os("PATH")?,
    };
    static FOUND: OnceLock<Mutex<Found>> = OnceLock::new();
    let found = FOUND.get_or_init(Mutex::default);
    let key = (program.to_owned(), path);
    let known = found
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    if let Some(file) = known.filter(|file| executable(file.as_os_str())) {
        return Some(file);
    }
    if std::env::split_paths(&key.1).any(|dir| !dir.is_absolute()) {
        return None;
    }
    let file = find_on_path(program, &key.1)?;
    found
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, file.clone());
    Some(file)
}

/// The first executable `name` in the absolute directories of `path`, as `execvp`
/// tries them (relative entries skipped); also where a `{ program = … }` input is.
pub(crate) fn find_on_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|file| executable(file.as_os_str()))
}

/// A regular file someone may execute.
fn executable(file: &OsStr) -> bool {
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_on_path_once_and_paths_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a");
        let second = dir.path().join("b");
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        let tool = second.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        // Not executable: skipped, as execvp skips it.
        std::fs::write(first.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", first.display(), second.display());
        assert_eq!(resolve("tool", Some(&path)), Some(tool.clone()));
        // Remembered, and checked: gone, it is searched for again.
        std::fs::remove_file(&tool).unwrap();
        assert_eq!(resolve("tool", Some(&path)), None);
        assert_eq!(resolve("./tool", Some(&path)), None);
        assert_eq!(resolve("tool", Some("relative:/bin")), None);
    }
}
