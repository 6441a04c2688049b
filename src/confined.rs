//! Writing and removing inside the project without ever following a symlink out of it.
//!
//! Everything conduct writes into the project (restored outputs, the parent directories
//! of outputs, removals of stale outputs, `clean`) and into its cache goes through a
//! [`Dir`]: a directory opened once, then used with `openat`-style calls relative to it.
//! A path is walked one component at a time with `O_NOFOLLOW`, so a symlink planted
//! where conduct expects a directory (`out/d/sub -> /etc`) is seen, not followed:
//!
//! - [`Dir::anchor`] opens a directory of the project by its project-relative path,
//!   making missing directories. A symlink on the way is followed only if it resolves
//!   inside the root (a project may link `build -> build.linux`); one leading out is
//!   an error.
//! - [`Dir::inner`] goes further down without following anything: inside a declared
//!   output or conduct's cache, a symlink or a file where a directory belongs is part of
//!   what is being replaced, so it is removed (never followed) and a real directory made.
//! - Files are written through a temporary file in `.cache/tmp/` (see [`Temp`]) and
//!   renamed into place, so a `kill -9` leaves no half file in the project; `renameat`
//!   replaces a symlink at the target name instead of writing through it.
//!
//! Races with a process that swaps directories while conduct walks them are not in
//! scope: such a process can write anywhere itself. What this closes is state left
//! behind (by a task, by a restored CI cache) that would steer conduct's own writes.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::hash::Digest;

/// The project root, as given and as the file system resolves it (for symlinks).
#[derive(Debug, Clone)]
pub(crate) struct Root {
    pub(crate) path: std::path::PathBuf,
    canonical: Option<std::path::PathBuf>,
    /// The root opened once, for writes under it (see `confined`).
    opened: std::sync::Arc<std::sync::OnceLock<Option<Dir>>>,
}

impl Root {
    pub(crate) fn new(path: &Path) -> Root {
        Root {
            path: path.to_path_buf(),
            canonical: std::fs::canonicalize(path).ok(),
            opened: std::sync::Arc::default(),
        }
    }

    /// The root directory, opened at the first call.
    pub(crate) fn dir(&self) -> io::Result<&Dir> {
        self.opened
            .get_or_init(|| Dir::open(&self.path).ok())
            .as_ref()
            .ok_or_else(|| {
                io::Error::other(format!(
                    "cannot open the project root {}",
                    self.path.display()
                ))
            })
    }

    /// The root with every symlink resolved (`None` if it cannot be resolved).
    pub(crate) fn canonical(&self) -> Option<&Path> {
        self.canonical.as_deref()
    }
}

/// Flags of every directory conduct opens to work in.
fn dir_flags() -> OFlags {
    OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY
}

/// An open directory inside the project (or the cache).
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    /// Where it is, for messages.
    path: PathBuf,
}

/// A symlink on the way that leads out of the project.
fn escape(path: &Path, target: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} is a symlink to {}, outside the project; conduct does not write through it",
            path.display(),
            target.display()
        ),
    )
}

impl Dir {
    /// Open `dir` (an absolute path conduct trusts: the project root, the cache).
    pub(crate) fn open(dir: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::openat(
            CWD,
            dir,
            OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: dir.to_path_buf(),
        })
    }

    /// Open (making what is missing) the project directory `relative` under `root`,
    /// following a symlink on the way only when it resolves inside the root.
    pub(crate) fn anchor(root: &Root, relative: &str) -> io::Result<Dir> {
        let top = root.dir()?;
        let mut current: Option<Dir> = None;
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            let dir = current.as_ref().unwrap_or(top);
            current = Some(match dir.step(component, true) {
                Ok(next) => next,
                Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
                    dir.follow_inside(component, root)?
                }
                Err(e) => return Err(e),
            });
        }
        match current {
            Some(dir) => Ok(dir),
            None => top.reopen(),
        }
    }

    /// Go down `relative` from here without following any symlink. With `replace`,
    /// a symlink or file where a directory belongs is removed and a directory made;
    /// without, it is an error.
    pub(crate) fn inner(&self, relative: &str, replace: bool) -> io::Result<Dir> {
        let mut dir = self.reopen()?;
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            dir = match dir.step(component, true) {
                Ok(next) => next,
                Err(e) if replace && is_not_a_dir(&e) => {
                    dir.remove(component)?;
                    dir.step(component, true)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }

    /// The directory itself, as a second handle.
    fn reopen(&self) -> io::Result<Dir> {
        let fd = rustix::fs::openat(&self.fd, ".", dir_flags(), Mode::empty())?;
        Ok(Dir {
            fd,
            path: self.path.clone(),
        })
    }

    /// Open the subdirectory `name` without following it, making it if `create`.
    fn step(&self, name: &str, create: bool) -> io::Result<Dir> {
        let path = self.path.join(name);
        let open = || rustix::fs::openat(&self.fd, name, dir_flags(), Mode::empty());
        let fd = match open() {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(with_path(e.into(), &path)),
                }
                open().map_err(|e| with_path(e.into(), &path))?
            }
            Err(e) => {
                // ELOOP: a symlink. ENOTDIR: a file (or a symlink, on some systems).
                let kind = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|s| FileType::from_raw_mode(s.st_mode));
                return Err(match kind {
                    Ok(FileType::Symlink) => {
                        io::Error::from_raw_os_error(Errno::LOOP.raw_os_error())
                    }
                    _ => with_path(e.into(), &path),
                });
            }
        };
        Ok(Dir { fd, path })
    }

    /// `name` here is a symlink: open what it points to if that is inside the root.
    fn follow_inside(&self, name: &str, root: &Root) -> io::Result<Dir> {
        let path = self.path.join(name);
        let target = std::fs::canonicalize(&path)?;
        let inside = root.canonical().is_some_and(|r| target.starts_with(r));
        if !inside {
            return Err(escape(&path, &target));
        }
        let mut dir = Dir::open(&target)?;
        dir.path = path;
        Ok(dir)
    }

    /// Remove `name` here: a file or symlink is unlinked (a symlink never followed), a
    /// directory removed with everything in it. Whether something was there.
    pub(crate) fn remove(&self, name: impl AsRef<OsStr>) -> io::Result<bool> {
        let name = name.as_ref();
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(Errno::ISDIR | Errno::PERM) if self.is_dir(name) => {
                let fd = rustix::fs::openat(&self.fd, name, dir_flags(), Mode::empty())?;
                Dir {
                    fd,
                    path: self.path.join(name),
                }
                .empty()?;
                rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)
                    .map_err(|e| with_path(e.into(), &self.path.join(name)))?;
                Ok(true)
            }
            Err(e) => Err(with_path(e.into(), &self.path.join(name))),
        }
    }

    /// Remove everything in this directory (symlinks are removed, not followed).
    pub(crate) fn empty(&self) -> io::Result<()> {
        for name in self.raw_names()? {
            self.remove(&name)?;
        }
        Ok(())
    }

    /// The names of the entries here (no `.` or `..`), as the file system has them.
    fn raw_names(&self) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        let mut entries = rustix::fs::Dir::read_from(&self.fd)?;
        while let Some(entry) = entries.read() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_owned());
            }
        }
        Ok(names)
    }

    /// The names of the entries here that are UTF-8 (conduct names its own files so).
    pub(crate) fn names(&self) -> io::Result<Vec<String>> {
        Ok(self
            .raw_names()?
            .into_iter()
            .filter_map(|name| name.into_string().ok())
            .collect())
    }

    /// Whether `name` here is a real directory (not a symlink to one).
    pub(crate) fn is_dir(&self, name: impl AsRef<OsStr>) -> bool {
        let name = name.as_ref();
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
    }

    /// Make `name` a symlink to `target`, replacing what is there.
    pub(crate) fn symlink(&self, name: &str, target: &str) -> io::Result<()> {
        match rustix::fs::symlinkat(target, &self.fd, name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                self.remove(name)?;
                rustix::fs::symlinkat(target, &self.fd, name)
                    .map_err(|e| with_path(e.into(), &self.path.join(name)))
            }
            Err(e) => Err(with_path(e.into(), &self.path.join(name))),
        }
    }

    /// Write `bytes` to `name` here in place (truncating, reusing the file): for files
    /// only conduct's tasks read, rewritten before each run, where a half-written file
    /// after a crash does no harm and a new inode per write would cost. A symlink or
    /// directory at `name` is replaced, never written through.
    pub(crate) fn overwrite(&self, name: &str, from: &mut dyn Read) -> io::Result<()> {
        let open = || {
            rustix::fs::openat(
                &self.fd,
                name,
                OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::TRUNC
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
        };
        let fd = match open() {
            Ok(fd) => fd,
            Err(Errno::LOOP | Errno::ISDIR | Errno::NOTDIR) => {
                self.remove(name)?;
                open().map_err(|e| with_path(e.into(), &self.path.join(name)))?
            }
            Err(e) => return Err(with_path(e.into(), &self.path.join(name))),
        };
        io::copy(from, &mut File::from(fd)).map(|_| ())
    }

    /// [`Dir::overwrite`] `name` with `bytes`, unless it holds them already: a rebuilt
    /// task's instruction is usually the one it had, and on ext4 every truncating
    /// rewrite flushes the file's data to disk when it is closed.
    pub(crate) fn write_if_changed(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let same = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(File::from)
        .is_some_and(|file| {
            let len = file.metadata().map_or(u64::MAX, |m| m.len());
            let mut held = Vec::with_capacity(bytes.len());
            len == bytes.len() as u64
                && file.take(len).read_to_end(&mut held).is_ok()
                && held == bytes
        });
        if same {
            return Ok(());
        }
        self.overwrite(name, &mut &bytes[..])
    }

    /// Where this directory is (the path it was opened by).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Write `name` here from `from`, through `temp`, if the bytes hash to `digest`;
    /// what was at `name` (a file, a symlink, a directory) is replaced, never written
    /// through. A mismatch leaves `name` as it was.
    pub(crate) fn write_verified(
        &self,
        name: &str,
        from: &mut dyn Read,
        digest: Digest,
        mode: Option<u32>,
        temp: &Temp,
    ) -> Result<(), WriteError> {
        let (temp_dir, temp_name, mut file) = temp.create(self)?;
        let written = (|| {
            let mut hasher = blake3::Hasher::new();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(WriteError::Io(e)),
                };
                hasher.update(&buffer[..n]);
                file.write_all(&buffer[..n])?;
            }
            if Digest::from(hasher.finalize()) != digest {
                return Err(WriteError::Mismatch);
            }
            if let Some(mode) = mode {
                rustix::fs::fchmod(file.as_fd(), Mode::from_raw_mode(mode))
                    .map_err(io::Error::from)?;
            }
            drop(file);
            self.rename_in(temp_dir.unwrap_or(self), &temp_name, name)?;
            Ok(())
        })();
        if written.is_err() {
            let dir = temp_dir.unwrap_or(self);
            let _ = rustix::fs::unlinkat(&dir.fd, temp_name.as_str(), AtFlags::empty());
        }
        written
    }

    /// Rename `from/temp` to `name` here; a directory in the way is removed first.
    fn rename_in(&self, from: &Dir, temp: &str, name: &str) -> io::Result<()> {
        match rustix::fs::renameat(&from.fd, temp, &self.fd, name) {
            Ok(()) => Ok(()),
            Err(Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST) if self.is_dir(name) => {
                self.remove(name)?;
                rustix::fs::renameat(&from.fd, temp, &self.fd, name)
                    .map_err(|e| with_path(e.into(), &self.path.join(name)))
            }
            Err(e) => Err(with_path(e.into(), &self.path.join(name))),
        }
    }
}

/// Open `path` for reading; a symlink as its last component is refused, not followed.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Create (or truncate) the file at `path` for writing, in a directory of conduct's own
/// (its logs): a symlink there is removed, never written through.
pub(crate) fn create_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(path)
    };
    match open() {
        Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
            std::fs::remove_file(path)?;
            open()
        }
        other => other,
    }
}

/// Open an existing file of conduct's own for writing (`append`, or truncating), not
/// through a symlink.
pub(crate) fn open_existing(path: &Path, append: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .write(!append)
        .append(append)
        .truncate(!append)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Why a verified write did not happen.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The bytes do not hash to the digest they were written under.
    Mismatch,
    Io(io::Error),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> WriteError {
        WriteError::Io(e)
    }
}

fn is_not_a_dir(e: &io::Error) -> bool {
    e.raw_os_error().is_some_and(|code| {
        code == Errno::LOOP.raw_os_error() || code == Errno::NOTDIR.raw_os_error()
    })
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.cache/tmp/`: where conduct's temporary files live, named `<pid>-<n>`, so one
/// left by a `kill -9` is found and removed ([`Temp::clean_stale`]) instead of
/// lingering beside an output. A file system boundary between it and the target
/// (a mounted output directory) falls back to a temporary beside the target, named
/// `.conduct-tmp-<pid>-<n>` (removed on any failure; only a `kill -9` in that rare case
/// leaves one).
#[derive(Debug)]
pub(crate) struct Temp {
    dir: PathBuf,
    /// The directory, opened (and made) at the first write.
    opened: std::sync::OnceLock<Option<(Dir, u64)>>,
}

/// The prefix of a fallback temporary beside its target.
const BESIDE_PREFIX: &str = ".conduct-tmp-";

impl Temp {
    pub(crate) fn new(cache_dir: &Path) -> Temp {
        Temp {
            dir: cache_dir.join("tmp"),
            opened: std::sync::OnceLock::new(),
        }
    }

    fn next_name() -> String {
        format!(
            "{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A new temporary file for a write into `target`: in `.cache/tmp/` when that is
    /// on the same file system as `target`, else beside the target (then the returned
    /// directory is `None`: the target's own).
    fn create(&self, target: &Dir) -> io::Result<(Option<&Dir>, String, File)> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o644);
        let opened = self.opened.get_or_init(|| {
            let dir = self.open().ok()?;
            let dev = rustix::fs::fstat(&dir.fd).ok()?.st_dev;
            Some((dir, dev))
        });
        if let Some((dir, dev)) = opened
            && rustix::fs::fstat(&target.fd).is_ok_and(|t| t.st_dev == *dev)
        {
            let name = Temp::next_name();
            let fd = rustix::fs::openat(&dir.fd, name.as_str(), flags, mode)?;
            return Ok((Some(dir), name, File::from(fd)));
        }
        let name = format!("{BESIDE_PREFIX}{}", Temp::next_name());
        let fd = rustix::fs::openat(&target.fd, name.as_str(), flags, mode)
            .map_err(|e| with_path(e.into(), &target.path.join(&name)))?;
        Ok((None, name, File::from(fd)))
    }

    /// The temporary directory, made if missing (a symlink there is replaced).
    fn open(&self) -> io::Result<Dir> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        let name = self
            .dir
            .file_name()
            .map_or("tmp".into(), OsStr::to_string_lossy);
        Dir::open(parent)?.inner(&name, true)
    }

    /// Remove temporaries whose process is gone (a `kill -9` mid-write); returns how
    /// many. Called with the cache lock held, by every build and by `cache gc`.
    pub(crate) fn clean_stale(&self) -> usize {
        let Ok(dir) = Dir::open(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for name in dir.names().unwrap_or_default() {
            let pid = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
            if pid.is_none_or(|pid| !alive(pid)) && dir.remove(&name).unwrap_or(false) {
                removed += 1;
            }
        }
        removed
    }
}

/// Whether a process with this pid exists (ours always does).
fn alive(pid: i32) -> bool {
    if pid == std::process::id() as i32 {
        return true;
    }
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(dir: &Path) -> Root {
        Root::new(dir)
    }

    #[test]
    fn write_if_changed_leaves_the_same_bytes_alone_and_never_writes_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let here = Dir::open(dir.path()).unwrap();
        let file = dir.path().join("t.md");
        here.write_if_changed("t.md", b"same").unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        here.write_if_changed("t.md", b"same").unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            old,
            "not rewritten"
        );
        here.write_if_changed("t.md", b"sam").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"sam");
        here.write_if_changed("t.md", b"other").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"other");
        // A symlink to a file holding the very bytes is replaced, not trusted.
        std::fs::write(outside.path().join("x"), b"other").unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(outside.path().join("x"), &file).unwrap();
        here.write_if_changed("t.md", b"other").unwrap();
        assert!(!std::fs::symlink_metadata(&file).unwrap().is_symlink());
        here.write_if_changed("t.md", b"new").unwrap();
        assert_eq!(std::fs::read(outside.path().join("x")).unwrap(), b"other");
    }

    #[test]
    fn anchor_makes_directories_and_refuses_symlinks_out() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("inside")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let r = root(dir.path());
        Dir::anchor(&r, "a/b").unwrap();
        assert!(dir.path().join("a/b").is_dir());
        let through = Dir::anchor(&r, "inside/c").unwrap();
        assert!(dir.path().join("real/c").is_dir(), "{:?}", through.path());
        let error = Dir::anchor(&r, "out/x").unwrap_err();
        assert!(error.to_string().contains("outside the project"), "{error}");
        assert!(!outside.path().join("x").exists());
    }

    #[test]
    fn inner_replaces_what_is_in_the_way_and_never_follows() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), "victim").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("out/d")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out/d/sub")).unwrap();
        let top = Dir::anchor(&root(dir.path()), "out").unwrap();
        assert!(top.inner("d/sub", false).is_err(), "not followed");
        let sub = top.inner("d/sub", true).unwrap();
        let temp = Temp::new(&dir.path().join(".cache"));
        sub.write_verified(
            "f",
            &mut &b"real"[..],
            Digest::of(b"real"),
            Some(0o644),
            &temp,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.path().join("f")).unwrap(),
            "victim"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/d/sub/f")).unwrap(),
            "real"
        );
        assert!(!dir.path().join("out/d/sub").is_symlink());
    }

    #[test]
    fn writes_replace_symlinks_and_directories_and_verify() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), "victim").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let here = Dir::open(dir.path()).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), dir.path().join("link")).unwrap();
        std::fs::create_dir_all(dir.path().join("was_dir/x")).unwrap();
        std::fs::create_dir(dir.path().join(".cache")).unwrap();
        let temp = Temp::new(&dir.path().join(".cache"));
        for name in ["link", "was_dir"] {
            here.write_verified(name, &mut &b"new"[..], Digest::of(b"new"), None, &temp)
                .unwrap();
            assert_eq!(
                std::fs::read_to_string(dir.path().join(name)).unwrap(),
                "new"
            );
        }
        assert_eq!(
            std::fs::read_to_string(outside.path().join("f")).unwrap(),
            "victim"
        );
        let bad = here.write_verified("link", &mut &b"other"[..], Digest::of(b"new"), None, &temp);
        assert!(matches!(bad, Err(WriteError::Mismatch)));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("link")).unwrap(),
            "new"
        );
        let temps = std::fs::read_dir(dir.path().join(".cache/tmp"))
            .unwrap()
            .count();
        assert_eq!(temps, 0, "no temporary left");
        let beside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(BESIDE_PREFIX)
            })
            .count();
        assert_eq!(beside, 0, "written through .cache/tmp, nothing beside");
    }

    #[test]
    fn removing_never_follows_and_stale_temporaries_go() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "victim").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("out/d")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out/d/link")).unwrap();
        let here = Dir::open(dir.path()).unwrap();
        assert!(here.remove("out").unwrap());
        assert!(!dir.path().join("out").exists());
        assert!(outside.path().join("keep").exists());

        let temp = Temp::new(&dir.path().join(".cache"));
        std::fs::create_dir_all(dir.path().join(".cache/tmp")).unwrap();
        // A pid that cannot exist, and one of ours.
        std::fs::write(dir.path().join(".cache/tmp/999999999-0"), "torn").unwrap();
        let ours = format!("{}-77", std::process::id());
        std::fs::write(dir.path().join(".cache/tmp").join(&ours), "busy").unwrap();
        assert_eq!(temp.clean_stale(), 1);
        assert!(dir.path().join(".cache/tmp").join(ours).exists());
    }
}
