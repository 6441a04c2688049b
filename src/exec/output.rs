//! Where a process's output goes: a task's log (made at the first byte, so the many
//! silent tasks of a large build create no file), lines copied to conduct's stderr
//! with `-v`, and the end of a log for a failure's message or a success's output.
//!
//! Without `-v`, stdout and stderr are one pipe (the kernel keeps their order) that the
//! supervising thread copies; a background child that still holds it after its task
//! exited is drained by a detached thread ([`drain_detached`]). With `-v` both streams
//! are piped and copied line by line ([`copy_lines`]), raw to the log and as
//! `[id] line` to conduct's stderr.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::thread;

/// Where the log of task `id` is, in the cache at `cache_dir`: `<cache>/logs/<id>.log`
/// (what the build writes and `conduct logs` reads).
pub(crate) fn log_path(cache_dir: &Path, id: &str) -> PathBuf {
    cache_dir.join("logs").join(format!("{id}.log"))
}

/// A task's log file, created at the first byte written to it.
pub(crate) struct Log {
    path: PathBuf,
    file: Option<File>,
    /// False after a write failed (disk full, ...); later output is dropped, not retried.
    ok: bool,
}

impl Log {
    /// The log at `path`: an existing one is truncated (and its inode reused), a
    /// missing one is left missing until there is something to write. Never through a
    /// symlink.
    pub(crate) fn reuse(path: &Path) -> Log {
        let file = crate::confined::open_existing(path, false).ok();
        Log {
            path: path.to_path_buf(),
            file,
            ok: true,
        }
    }

    /// The file, made now if it is not there yet.
    pub(crate) fn create(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            self.file = Some(crate::confined::create_file(&self.path)?);
        }
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("no log file"))
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        if !self.ok || bytes.is_empty() {
            return;
        }
        self.ok = match self.create() {
            Ok(mut file) => file.write_all(bytes).is_ok(),
            Err(_) => false,
        };
    }
}

/// Keep copying `reader` to `log` on a thread of its own until the pipe closes. If no
/// thread can be started, the pipe is closed: a later write by the lingering process
/// fails instead of blocking it.
pub(crate) fn drain_detached(mut reader: io::PipeReader, mut log: Log) {
    let _ = thread::Builder::new()
        .name("conduct-drain".to_owned())
        .spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => log.write(&buffer[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
}

/// The longest piece of a line copied at once; a longer line is split, so a task printing
/// without newlines cannot exhaust memory.
const MAX_LINE: u64 = 64 * 1024;

/// Copy `pipe` until end of file: each line raw to `log`, and whole, with `prefix`, to
/// conduct's stderr. Stops early only on a read error; the pipe is then closed, so the
/// task cannot block on it.
pub(crate) fn copy_lines(pipe: impl Read, log: &Mutex<Log>, prefix: &str) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let mut shown = Vec::new();
    loop {
        line.clear();
        match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(&line);
        shown.clear();
        shown.extend_from_slice(prefix.as_bytes());
        shown.extend_from_slice(&line);
        if !line.ends_with(b"\n") {
            shown.push(b'\n');
        }
        let _ = io::stderr().lock().write_all(&shown);
    }
}

/// The most bytes [`log_tail`] reads from the end of a log.
const MAX_TAIL_BYTES: u64 = 1 << 20;

/// The end of a log, and how much of the log comes before it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tail {
    /// The last lines, lossy UTF-8, with their terminators as in the file (a missing
    /// final newline stays missing).
    pub(crate) text: String,
    /// Bytes of the log before `text` (0: `text` is the whole log).
    pub(crate) cut: u64,
}

/// The last `lines` lines of a log file (for printing on failure); "" if the file is
/// missing. Only the end of the file is read, at most [`MAX_TAIL_BYTES`] (see
/// [`read_tail`]).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    read_tail(path, lines, MAX_TAIL_BYTES).text
}

/// The last `lines` lines of the log at `path`, at most `max_bytes` of them: a longer
/// tail starts at the first line that begins inside those bytes (mid-line only when
/// they hold no line break). Empty if the file is missing, is not a regular file or is
/// a symlink: a log is conduct's own file, never read through a link.
pub(crate) fn read_tail(path: &Path, lines: usize, max_bytes: u64) -> Tail {
    if lines == 0 || max_bytes == 0 {
        return Tail::default();
    }
    let Ok(mut file) = crate::confined::open_no_follow(path) else {
        return Tail::default();
    };
    let len = match file.metadata() {
        Ok(meta) if meta.is_file() => meta.len(),
        _ => return Tail::default(),
    };
    let mut window: u64 = (8 * 1024).min(max_bytes);
    loop {
        let start = len.saturating_sub(window);
        let mut buf = Vec::new();
        // `take`: a process still writing cannot make the read longer than the window.
        if file.seek(SeekFrom::Start(start)).is_err()
            || (&mut file).take(window).read_to_end(&mut buf).is_err()
        {
            return Tail::default();
        }
        let whole = start == 0 || window >= max_bytes;
        let skip = match tail_start(&buf, lines) {
            Some(skip) => skip,
            None if whole => first_whole_line(&buf, start),
            None => {
                window = (window * 2).min(max_bytes);
                continue;
            }
        };
        return Tail {
            text: String::from_utf8_lossy(&buf[skip..]).into_owned(),
            cut: start + skip as u64,
        };
    }
}

/// Where the first whole line of `buf` begins, `buf` being the end of a file from
/// byte `start` on (0 when that is the file's start, or when `buf` holds no line
/// break before its last byte).
fn first_whole_line(buf: &[u8], start: u64) -> usize {
    if start == 0 {
        return 0;
    }
    buf.iter()
        .position(|&byte| byte == b'\n')
        .filter(|&i| i + 1 < buf.len())
        .map_or(0, |i| i + 1)
}

/// Where the last `lines` lines of `buf` begin, if `buf` holds more than that many.
fn tail_start(buf: &[u8], lines: usize) -> Option<usize> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    body.iter()
        .enumerate()
        .rev()
        .filter(|&(_, &byte)| byte == b'\n')
        .nth(lines.checked_sub(1)?)
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        assert_eq!(log_tail(&path, 3), "");
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(log_tail(&path, 2), "c\nd\n");
        assert_eq!(log_tail(&path, 4), "a\nb\nc\nd\n");
        assert_eq!(log_tail(&path, 10), "a\nb\nc\nd\n");
        assert_eq!(log_tail(&path, 0), "");
        std::fs::write(&path, "a\nb\nno end").unwrap();
        assert_eq!(log_tail(&path, 2), "b\nno end");
        std::fs::write(&path, b"x\n\xff\n").unwrap();
        assert_eq!(log_tail(&path, 1), "\u{fffd}\n");
    }

    #[test]
    fn read_tail_says_how_much_it_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        let whole = read_tail(&path, 10, 1024);
        assert_eq!((whole.text.as_str(), whole.cut), ("a\nb\nc\n", 0));
        let by_lines = read_tail(&path, 2, 1024);
        assert_eq!((by_lines.text.as_str(), by_lines.cut), ("b\nc\n", 2));
        // The last three bytes ("\nc\n"): the tail starts at the line that begins there.
        let by_bytes = read_tail(&path, 10, 3);
        assert_eq!((by_bytes.text.as_str(), by_bytes.cut), ("c\n", 4));
        std::fs::write(&path, "0123456789").unwrap();
        let mid_line = read_tail(&path, 10, 4);
        assert_eq!((mid_line.text.as_str(), mid_line.cut), ("6789", 6));
        assert_eq!(read_tail(&path, 10, 0), Tail::default());
    }

    #[test]
    fn read_tail_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "secret\n").unwrap();
        let link = dir.path().join("t.log");
        std::os::unix::fs::symlink("secret", &link).unwrap();
        assert_eq!(read_tail(&link, 10, 1024), Tail::default());
        assert_eq!(log_tail(&link, 10), "");
        assert_eq!(read_tail(dir.path(), 10, 1024), Tail::default());
    }

    #[test]
    fn log_tail_reads_only_the_end_of_a_long_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let text: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        assert_eq!(log_tail(&path, 3), "line 99997\nline 99998\nline 99999\n");
        let one_long_line = "x".repeat(3 << 20);
        std::fs::write(&path, &one_long_line).unwrap();
        assert_eq!(log_tail(&path, 1).len() as u64, MAX_TAIL_BYTES);
    }
}
