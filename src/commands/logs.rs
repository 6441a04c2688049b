//! `conduct logs TASK [-f] [-n LINES]`: what a task printed in its last run, from the
//! log the build keeps at `<cache>/logs/<task>.log` (`exec::output::log_path`), whole
//! or its last LINES lines; with `-f`, then what is appended to it, like `tail -f`,
//! until no build is running any more (the build that runs the task ended).
//!
//! Nothing is locked or written: the project is opened for reading, as `status` does,
//! and whether a build is running is asked of the cache lock without taking it
//! (`lock::held`). Following polls the log's size every [`POLL`] and reads only the
//! bytes after what was printed (no file watcher: `notify` comes with `watch`). A new
//! attempt of the task rewrites its log from the start (the build truncates it; after
//! `clean --cache` a new file is made), so a log that shrank or is another file than
//! the one being followed is printed again from its start, after a line
//! `--- T: attempt restarted ---` on stderr. A new attempt that writes more than was
//! printed of the old one between two polls looks like an append: that restart is not
//! seen.
//!
//! A task without a log either ran and printed nothing (the build makes the file at
//! the first byte), which prints nothing, or has not run here (`Error::NoLog`, exit 1).
//! `--json`: `{"task", "log"}` (the log as lossy UTF-8); not with `-f`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::commands::{Stdout, json_line};
use crate::error::{Error, NoLog};
use crate::exec::output::{log_path, read_tail};
use crate::lock;
use crate::project::Locator;
use crate::project::open::{self, Access};
use crate::state::{State, StateStore};
use crate::suggest::did_you_mean;

/// `conduct logs`'s settings.
#[derive(Debug, Clone)]
pub(crate) struct LogsOptions {
    pub(crate) task: String,
    /// `-f`: keep printing what is appended while a build runs.
    pub(crate) follow: bool,
    /// `-n LINES`: start at the last LINES lines instead of the log's start.
    pub(crate) lines: Option<usize>,
}

/// How often a followed log's size is looked at.
const POLL: Duration = Duration::from_millis(150);

/// The most `-n` reads back from the end of a log: the last LINES lines of a log of
/// huge lines start at the first line that begins within this many bytes of its end.
const TAIL_BYTES: u64 = 64 << 20;

/// How much is read at once.
const CHUNK: usize = 64 * 1024;

/// `--json`: the task and its log.
#[derive(serde::Serialize)]
struct JsonLogs<'a> {
    task: &'a str,
    log: String,
}

pub(crate) fn run(
    locator: &Locator,
    options: &LogsOptions,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let opened = open::open(locator, Access::Read)?;
    let spec = &opened.site.loaded.spec;
    let Some(idx) = spec.find_task(&options.task) else {
        return Err(Error::UnknownTarget {
            target: options.task.clone(),
            suggestion: did_you_mean(&options.task, spec.tasks.iter().map(|t| t.id.as_str())),
        });
    };
    let id = spec.task(idx).id.as_str();
    let cache_dir = &opened.site.cache_dir;
    let mut log = Followed::new(id, log_path(cache_dir, id));
    log.start(options.lines);
    if json {
        let mut text = Vec::new();
        if log.is_open() {
            log.poll(&mut |bytes| {
                text.extend_from_slice(bytes);
                Ok(())
            })?;
        } else {
            ran_silently(id, opened.journal.state(), cache_dir)?;
        }
        out.write(&json_line(&JsonLogs {
            task: id,
            log: String::from_utf8_lossy(&text).into_owned(),
        }))?;
        return Ok(0);
    }
    let follow = options.follow && {
        let building = lock::held(cache_dir);
        if !building {
            note(&format!(
                "conduct: no build is running; {id}'s log as it is\n"
            ));
        }
        building
    };
    if !follow {
        if log.is_open() {
            log.poll(&mut |bytes| out.write_bytes(bytes))?;
        } else if ran_silently(id, opened.journal.state(), cache_dir)? {
            note(&format!("conduct: {id} printed nothing in its last run\n"));
        }
        return Ok(0);
    }
    if !log.is_open() {
        note(&format!(
            "conduct: {id} has no log yet; waiting for the running build to write one\n"
        ));
    }
    let interrupt = Interrupt::register();
    loop {
        // Asked before reading: once no build holds the lock, whatever the task wrote is
        // in the file, and this poll prints it.
        let building = lock::held(cache_dir);
        log.poll(&mut |bytes| out.write_bytes(bytes))?;
        out.flush()?;
        if !building {
            break;
        }
        if interrupt.raised() {
            return Ok(crate::error::EXIT_INTERRUPTED);
        }
        std::thread::sleep(POLL);
        if interrupt.raised() {
            return Ok(crate::error::EXIT_INTERRUPTED);
        }
    }
    if !log.is_open() {
        // The build has ended: what it recorded says whether the task ran.
        let state = StateStore::new(cache_dir).load();
        if ran_silently(id, &state, cache_dir)? {
            note(&format!("conduct: {id} printed nothing\n"));
        }
    }
    Ok(0)
}

/// For a task without a log: `Ok(true)` if its last run ran it here (and it printed
/// nothing), else why there is no log.
///
/// A task that has not run is an error (exit 1), as `tail` fails on a missing file:
/// a script running `conduct logs T` learns there was nothing to read, and the message
/// says why. A task that ran and printed nothing is a success with empty output, as
/// `tail` of an empty file is.
fn ran_silently(id: &str, state: &State, cache_dir: &Path) -> Result<bool, Error> {
    match state.tasks.get(id).and_then(|t| t.last_run.as_ref()) {
        // Restored results and `accept` are recorded as runs of no attempt.
        Some(run) if run.attempts > 0 => Ok(true),
        last => Err(Error::NoLog {
            task: id.to_owned(),
            why: if last.is_some() {
                NoLog::Restored
            } else {
                NoLog::NeverRan
            },
            building: lock::held(cache_dir),
        }),
    }
}

/// A line for the person at the terminal (stderr).
fn note(text: &str) {
    let _ = anstream::stderr().write_all(text.as_bytes());
}

/// A log file being printed: which file it is and how much of it is printed.
struct Followed<'a> {
    task: &'a str,
    path: PathBuf,
    /// The file open for reading, and its (device, inode); `None` while there is none.
    file: Option<(File, (u64, u64))>,
    /// Bytes of it printed (or skipped by `-n`).
    offset: u64,
}

impl<'a> Followed<'a> {
    fn new(task: &'a str, path: PathBuf) -> Followed<'a> {
        Followed {
            task,
            path,
            file: None,
            offset: 0,
        }
    }

    fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Open the log if there is one, to print from its start, or from its last `lines`
    /// lines.
    fn start(&mut self, lines: Option<usize>) {
        let Some((file, identity, len)) = open_log(&self.path) else {
            return;
        };
        self.offset = match lines {
            None => 0,
            // `read_tail` gives nothing for no lines; `tail -n 0` prints nothing.
            Some(0) => len,
            Some(n) => read_tail(&self.path, n, TAIL_BYTES).cut.min(len),
        };
        self.file = Some((file, identity));
    }

    /// Hand what was appended since the last poll to `sink`: up to the size the log has
    /// now (a task writing without pause cannot make one poll endless), read from where
    /// the last one stopped. A log that shrank or was replaced is read from its start.
    fn poll(&mut self, sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error> {
        let Ok(meta) = std::fs::symlink_metadata(&self.path) else {
            // Gone (`clean --cache`): what was printed stays printed; a new log is a
            // new file.
            return Ok(());
        };
        if !meta.is_file() {
            return Ok(());
        }
        let here = (meta.dev(), meta.ino());
        let mut len = meta.len();
        let restarted = match &self.file {
            Some((_, known)) if *known == here => len < self.offset,
            seen => {
                let Some((file, identity, now)) = open_log(&self.path) else {
                    return Ok(());
                };
                let restarted = seen.is_some();
                self.file = Some((file, identity));
                self.offset = 0;
                len = now;
                restarted
            }
        };
        if restarted {
            note(&format!("--- {}: attempt restarted ---\n", self.task));
            self.offset = 0;
        }
        let Followed {
            path, file, offset, ..
        } = self;
        let Some((file, _)) = file else {
            return Ok(());
        };
        let read_error = |source| Error::Read {
            path: path.clone(),
            source,
        };
        file.seek(SeekFrom::Start(*offset)).map_err(read_error)?;
        let mut new = (&*file).take(len.saturating_sub(*offset));
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = match new.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            *offset += n as u64;
            sink(&buffer[..n])?;
        }
    }
}

/// The log at `path` if it is a regular file (never through a symlink), its (device,
/// inode) and its size.
fn open_log(path: &Path) -> Option<(File, (u64, u64), u64)> {
    let file = crate::confined::open_no_follow(path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file()
        .then(|| (file, (meta.dev(), meta.ino()), meta.len()))
}

/// Ctrl-C and TERM raise a flag that following looks at between polls (as a build's
/// signals do); the handlers are removed when following ends.
struct Interrupt {
    flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Interrupt {
    fn register() -> Interrupt {
        let flag = Arc::new(AtomicBool::new(false));
        let ids = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]
            .into_iter()
            .filter_map(|signal| signal_hook::flag::register(signal, Arc::clone(&flag)).ok())
            .collect();
        Interrupt { flag, ids }
    }

    fn raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Poll `log` once, returning what it printed.
    fn poll(log: &mut Followed<'_>) -> String {
        let mut seen = Vec::new();
        log.poll(&mut |bytes| {
            seen.extend_from_slice(bytes);
            Ok(())
        })
        .unwrap();
        String::from_utf8(seen).unwrap()
    }

    #[test]
    fn following_prints_what_is_appended_and_a_restart_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("T.log");
        let mut log = Followed::new("T", path.clone());
        log.start(None);
        assert!(!log.is_open());
        assert_eq!(poll(&mut log), "");
        std::fs::write(&path, "one\n").unwrap();
        assert_eq!(poll(&mut log), "one\n", "a log that appears is read");
        let mut file = File::options().append(true).open(&path).unwrap();
        file.write_all(b"two\n").unwrap();
        assert_eq!(poll(&mut log), "two\n", "only the new bytes");
        assert_eq!(poll(&mut log), "");
        // A new attempt truncates the same file and writes less than was printed.
        std::fs::write(&path, "1\n").unwrap();
        assert_eq!(poll(&mut log), "1\n");
        // Or the log is removed and made again: another file.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(poll(&mut log), "");
        std::fs::write(&path, "again, longer than before\n").unwrap();
        assert_eq!(poll(&mut log), "again, longer than before\n");
    }

    #[test]
    fn start_skips_to_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("T.log");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        for (lines, expected) in [
            (None, "a\nb\nc\n"),
            (Some(2), "b\nc\n"),
            (Some(9), "a\nb\nc\n"),
            (Some(0), ""),
        ] {
            let mut log = Followed::new("T", path.clone());
            log.start(lines);
            assert_eq!(poll(&mut log), expected, "-n {lines:?}");
        }
    }

    #[test]
    fn a_symlinked_log_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "secret\n").unwrap();
        let path = dir.path().join("T.log");
        std::os::unix::fs::symlink("secret", &path).unwrap();
        let mut log = Followed::new("T", path);
        log.start(None);
        assert!(!log.is_open());
        assert_eq!(poll(&mut log), "");
    }
}
