//! Running one task process: the [`Runner`] seam and the real [`ProcessRunner`].
//!
//! The build coordinator owns all state and hands plain [`Job`] values to worker threads;
//! a worker calls [`Runner::run`], which blocks until the process has ended and reports
//! through a callback: [`WorkerEvent::Started`] (with the pid) and then exactly one
//! [`WorkerEvent::Exited`]. The trait exists so the scheduler can be tested against a
//! fake, as ninja tests its `Builder` with a `FakeCommandRunner`.
//!
//! Why it is built this way:
//! - **A process group per task.** Every task is the leader of a new process group, so a
//!   Ctrl-C at the terminal (sent to conduct's foreground group) does not reach tasks
//!   directly: the coordinator decides, and [`stop_group`] then reaches the task *and
//!   everything it started* (`sh -c 'a & b'`). The same primitive serves timeouts (TERM,
//!   then KILL after 5 s, SPEC §4).
//! - **A log file only when there is output.** Without `-v`, stdout and stderr are one
//!   pipe (the kernel keeps their order) that the worker copies to `.cache/logs/<id>.log`,
//!   creating the file at the first byte. Most tasks of a large build print nothing, and
//!   a file created per task is a measurable share of a cold build (each creation is an
//!   inode allocation, slow on file systems with many recently deleted ones). An
//!   existing log is truncated and reused, so a stale one never remains. With `-v` both
//!   streams are piped and copied line by line, raw to the log and as `[id] line` to
//!   conduct's stderr.
//! - **Failures are data.** A program that cannot be started is reported as
//!   [`Exit::SpawnFailed`] (and written to the log, where the user looks), not as an
//!   error of the worker; `run` never panics.
//!
//! Processes are always reaped by the worker that started them; nothing here installs
//! signal handlers or touches global state.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process_group};

use crate::exec::reaper::{self, Reaper};

/// One task process to run, as plain data.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Opaque index of the task in the coordinator's tables; echoed back in events.
    pub(crate) task: u32,
    /// Task id (e.g. "T4"), used to prefix streamed output lines: "[T4] ...".
    pub(crate) id: String,
    /// argv[0] and arguments. A shell command arrives here already as ["sh", "-c", "<cmd>"].
    pub(crate) argv: Vec<String>,
    /// Working directory of the process (the project root or the task's worktree).
    pub(crate) cwd: PathBuf,
    /// Variables added to (overriding) the inherited environment.
    pub(crate) env: Vec<(String, String)>,
    /// stdout and stderr both go to this file (created/truncated; parent dir exists).
    pub(crate) log: PathBuf,
    /// `-v`: also copy the output live, line by line, to conduct's stderr as "[id] line".
    pub(crate) stream: bool,
}

/// How a task process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Exit status 0.
    Success,
    /// Non-zero exit code, or killed by a signal.
    Failed {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The program could not be started (not found, not executable, ...).
    SpawnFailed { error: String },
}

/// What workers tell the coordinator.
#[derive(Debug)]
pub(crate) enum WorkerEvent {
    /// The process started; `pid` is also its process-group id.
    Started { task: u32, pid: u32 },
    /// The process ended (after its output was fully copied to the log), and
    /// `leftovers` processes it left behind were killed (see `reaper`).
    Exited {
        exit: Exit,
        duration: Duration,
        leftovers: usize,
    },
}

/// Runs jobs. The trait is the seam that lets the scheduler be tested with a fake (ninja's
/// CommandRunner/FakeCommandRunner).
pub(crate) trait Runner: Send + Sync {
    /// Run `job` to completion, blocking the calling thread: report `Started` (not for
    /// SpawnFailed), then exactly one `Exited`. Never panics.
    fn run(&self, job: Job, events: &dyn Fn(WorkerEvent));

    /// The build is over: every job has ended.
    fn finish(&self) {}
}

/// The real runner: spawns processes.
///
/// Each process gets stdin from /dev/null, the inherited environment plus `job.env`, and
/// its own process group. Without `stream`, the worker returns as soon as the process
/// itself has exited (noticed within [`EXIT_POLL`]), even if a background child of it
/// still runs: a detached thread goes on copying that child's output to the log. With
/// `stream`, the worker also waits until every holder of the output pipes has closed
/// them, so a lingering background child keeps it busy until that child exits or the
/// group is stopped with [`stop_group`].
///
/// With a [`Reaper`] (a build's runner), a task's leftover processes are killed when its
/// main process exits, and a watchdog kills them all if conduct dies.
#[derive(Debug, Default)]
pub(crate) struct ProcessRunner {
    reaper: Option<Reaper>,
}

impl ProcessRunner {
    /// The runner of a build: its tasks are marked and reaped (see `reaper`).
    pub(crate) fn for_build() -> ProcessRunner {
        ProcessRunner {
            reaper: Some(Reaper::new()),
        }
    }
}

impl Runner for ProcessRunner {
    fn run(&self, job: Job, events: &dyn Fn(WorkerEvent)) {
        if let Some(reaper) = &self.reaper {
            reaper.watch();
        }
        let (exit, duration, leftovers) = run_job(&job, events, self.reaper.as_ref());
        events(WorkerEvent::Exited {
            exit,
            duration,
            leftovers,
        });
    }

    fn finish(&self) {
        if let Some(reaper) = &self.reaper {
            reaper.finish();
        }
    }
}

/// Signals a coordinator may send to a running task's whole process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGTERM: ask the processes to end (timeouts first, Ctrl-C).
    Terminate,
    /// SIGKILL: end them now (a timeout's second step).
    Kill,
}

/// Send SIGTERM or SIGKILL to the process group `pid` (a task's pid is its group id).
/// A group that no longer exists is not an error (Ok).
///
/// Only pass a pid from a [`WorkerEvent::Started`] whose `Exited` has not been handled
/// yet: once a group is empty, its number may be reused. Pids 0 and 1 are refused, since
/// `kill(0)` and `kill(-1)` would reach conduct itself or every process.
pub(crate) fn stop_group(pid: u32, stop: Stop) -> io::Result<()> {
    let group = i32::try_from(pid)
        .ok()
        .filter(|&raw| raw > 1)
        .and_then(Pid::from_raw)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{pid} is not a task's process group"),
            )
        })?;
    let signal = match stop {
        Stop::Terminate => Signal::TERM,
        Stop::Kill => Signal::KILL,
    };
    match kill_process_group(group, signal) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The most bytes [`log_tail`] reads from the end of a log; a longer tail is cut at the
/// front (mid-line).
const MAX_TAIL_BYTES: u64 = 1 << 20;

/// The last `lines` lines of a log file (for printing on failure); lossy UTF-8; "" if the
/// file is missing.
///
/// The lines keep their terminators as in the file (a missing final newline stays
/// missing). Only the end of the file is read, at most [`MAX_TAIL_BYTES`].
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    if lines == 0 {
        return String::new();
    }
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return String::new();
    };
    let mut window: u64 = 8 * 1024;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
            return String::new();
        }
        if let Some(cut) = tail_start(&buf, lines) {
            return String::from_utf8_lossy(&buf[cut..]).into_owned();
        }
        if start == 0 || window >= MAX_TAIL_BYTES {
            return String::from_utf8_lossy(&buf).into_owned();
        }
        window = (window * 2).min(MAX_TAIL_BYTES);
    }
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

/// Run one job to its end; the caller sends `Exited`. Returns how it ended, how long it
/// took and how many leftover processes were killed.
fn run_job(
    job: &Job,
    events: &dyn Fn(WorkerEvent),
    reaper: Option<&Reaper>,
) -> (Exit, Duration, usize) {
    let spawn_failed = |error: String| (Exit::SpawnFailed { error }, Duration::ZERO, 0);
    let mut log = Log::reuse(&job.log);
    let pipe = if job.stream {
        // The copiers write as lines arrive: the file must be there.
        log.create().map(|_| None)
    } else {
        io::pipe().map(Some)
    };
    let pipe = match pipe {
        Ok(pipe) => pipe,
        Err(e) => {
            return spawn_failed(format!(
                "cannot create the log file `{}` or its pipe: {e}",
                job.log.display()
            ));
        }
    };
    let start = Instant::now();
    let (mut child, reader) = match spawn(job, pipe, reaper) {
        Ok(spawned) => spawned,
        Err(e) => {
            let error = spawn_error(job, &e);
            log.write(format!("conduct: {error}\n").as_bytes());
            return spawn_failed(error);
        }
    };
    events(WorkerEvent::Started {
        task: job.task,
        pid: child.id(),
    });
    let pid = child.id();
    let leftovers = std::cell::Cell::new(0);
    let clean_up = || {
        if let Some(reaper) = reaper {
            leftovers.set(reaper.leftovers(pid, &job.id));
        }
    };
    let status = match reader {
        Some(reader) => wait_logging(&mut child, reader, log, start),
        None => wait_streaming(job, &mut child, log, start, &clean_up),
    };
    if !job.stream {
        clean_up();
    }
    let leftovers = leftovers.get();
    match status {
        Ok((status, duration)) => (exit_of(status), duration, leftovers),
        Err(e) => {
            // Only possible if something else reaped our child; the process is gone.
            let duration = start.elapsed();
            if let Ok(mut log) = crate::confined::open_existing(&job.log, true) {
                let _ = writeln!(log, "conduct: cannot wait for the task's process: {e}");
            }
            let exit = Exit::Failed {
                code: None,
                signal: None,
            };
            (exit, duration, leftovers)
        }
    }
}

/// Start the job's process with its output in `pipe` (one pipe for both streams), or,
/// without one, in two pipes for [`wait_streaming`]. Returns the child and the read end
/// of `pipe`; the parent's copies of the write end are closed before this returns, so
/// the pipe ends when the task's processes are done with it.
fn spawn(
    job: &Job,
    pipe: Option<(io::PipeReader, io::PipeWriter)>,
    reaper: Option<&Reaper>,
) -> io::Result<(Child, Option<io::PipeReader>)> {
    let mut command = command(job)?;
    if let Some(reaper) = reaper {
        // The pair that marks the task's processes, whatever they do to their group.
        command
            .env(reaper::BUILD_ID, reaper.token())
            .env("CONDUCT_TASK", &job.id);
    }
    let reader = match pipe {
        None => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        }
        Some((reader, writer)) => {
            command.stdout(writer.try_clone()?).stderr(writer);
            Some(reader)
        }
    };
    let child = command.spawn()?;
    drop(command);
    Ok((child, reader))
}

/// A task's log file, created at the first byte written to it.
struct Log {
    path: PathBuf,
    file: Option<File>,
    /// False after a write failed (disk full, ...); later output is dropped, not retried.
    ok: bool,
}

impl Log {
    /// The log at `path`: an existing one is truncated (and its inode reused), a
    /// missing one is left missing until there is something to write.
    fn reuse(path: &Path) -> Log {
        let file = crate::confined::open_existing(path, false).ok();
        Log {
            path: path.to_path_buf(),
            file,
            ok: true,
        }
    }

    fn create(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            self.file = Some(crate::confined::create_file(&self.path)?);
        }
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("no log file"))
    }

    fn write(&mut self, bytes: &[u8]) {
        if !self.ok || bytes.is_empty() {
            return;
        }
        self.ok = match self.create() {
            Ok(mut file) => file.write_all(bytes).is_ok(),
            Err(_) => false,
        };
    }
}

/// How often a worker whose task's output pipe is still open checks whether the task's
/// own process has exited (a background child may hold the pipe).
const EXIT_POLL: Duration = Duration::from_millis(50);

/// Copy the output pipe to the log until it closes, and reap the child. If the child
/// has exited but the pipe stays open (a background process of the task holds it), a
/// detached thread goes on copying, and the worker is free.
fn wait_logging(
    child: &mut Child,
    reader: io::PipeReader,
    mut log: Log,
    start: Instant,
) -> io::Result<(ExitStatus, Duration)> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut buffer = vec![0u8; 64 * 1024];
    let mut exited = None;
    let timeout = Timespec {
        tv_sec: 0,
        tv_nsec: EXIT_POLL.as_nanos() as _,
    };
    let mut reader = reader;
    loop {
        let mut fds = [PollFd::new(&reader, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => {
                if exited.is_none()
                    && let Some(status) = child.try_wait()?
                {
                    exited = Some((status, start.elapsed()));
                }
                if exited.is_some() {
                    drain_detached(reader, log);
                    break;
                }
            }
            Ok(_) | Err(Errno::INTR) => match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => log.write(&buffer[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            },
            Err(_) => break,
        }
    }
    match exited {
        Some(exited) => Ok(exited),
        None => child.wait().map(|status| (status, start.elapsed())),
    }
}

/// Keep copying `reader` to `log` on a thread of its own until the pipe closes. If no
/// thread can be started, the pipe is closed: a later write by the lingering process
/// fails instead of blocking it.
fn drain_detached(mut reader: io::PipeReader, mut log: Log) {
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

/// The command for `job`: its own process group, stdin from /dev/null (the caller
/// chooses where the output goes).
fn command(job: &Job) -> io::Result<Command> {
    let (program, args) = job
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the command is empty"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&job.cwd)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0);
    Ok(command)
}

/// The message for a failed spawn. The OS says "No such file or directory" both for a
/// missing program and a missing working directory, so the directory is checked here.
fn spawn_error(job: &Job, e: &io::Error) -> String {
    let program = job.argv.first().map_or("", String::as_str);
    if e.kind() == io::ErrorKind::NotFound && !job.cwd.is_dir() {
        format!(
            "cannot run `{program}`: working directory `{}` does not exist",
            job.cwd.display()
        )
    } else {
        format!("cannot run `{program}`: {e}")
    }
}

/// How an exit status is reported.
fn exit_of(status: ExitStatus) -> Exit {
    if status.success() {
        Exit::Success
    } else {
        Exit::Failed {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

/// Wait for a child whose stdout and stderr are pipes, copying both to `log` and, with a
/// prefix, to conduct's stderr. Returns when the child has exited *and* both pipes are
/// closed by every process holding them; the duration ends at the child's exit.
fn wait_streaming(
    job: &Job,
    child: &mut Child,
    log: Log,
    start: Instant,
    clean_up: &dyn Fn(),
) -> io::Result<(ExitStatus, Duration)> {
    let log = Mutex::new(log);
    let prefix = format!("[{}] ", job.id);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let pid = child.id();
    thread::scope(|scope| {
        let copiers = [
            stdout.and_then(|pipe| spawn_copier(scope, pipe, &log, &prefix, pid)),
            stderr.and_then(|pipe| spawn_copier(scope, pipe, &log, &prefix, pid)),
        ];
        let status = child.wait().map(|status| (status, start.elapsed()));
        // What the task left holding the pipes goes before the copiers are awaited.
        clean_up();
        for copier in copiers.into_iter().flatten() {
            let _ = copier.join();
        }
        status
    })
}

/// Start a thread copying `pipe` (see [`copy_lines`]). If no thread can be started, the
/// task could block on the unread pipe forever: its group is killed instead, and the log
/// says why.
fn spawn_copier<'scope>(
    scope: &'scope Scope<'scope, '_>,
    pipe: impl Read + Send + 'scope,
    log: &'scope Mutex<Log>,
    prefix: &'scope str,
    pid: u32,
) -> Option<ScopedJoinHandle<'scope, ()>> {
    let spawned = thread::Builder::new()
        .name(format!("conduct-copy-{pid}"))
        .spawn_scoped(scope, move || copy_lines(pipe, log, prefix));
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            let message = format!("conduct: cannot copy the task's output: {e}\n");
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(message.as_bytes());
            let _ = stop_group(pid, Stop::Kill);
            None
        }
    }
}

/// The longest piece of a line copied at once; a longer line is split, so a task printing
/// without newlines cannot exhaust memory.
const MAX_LINE: u64 = 64 * 1024;

/// Copy `pipe` until end of file: each line raw to `log`, and whole, with `prefix`, to
/// conduct's stderr. Stops early only on a read error; the pipe is then closed, so the
/// task cannot block on it.
fn copy_lines(pipe: impl Read, log: &Mutex<Log>, prefix: &str) {
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, channel};

    use super::*;

    fn job(dir: &Path, argv: &[&str]) -> Job {
        Job {
            task: 7,
            id: "T7".to_owned(),
            argv: argv.iter().map(|&a| a.to_owned()).collect(),
            cwd: dir.to_path_buf(),
            env: Vec::new(),
            log: dir.join("logs").join("T7.log"),
            stream: false,
        }
    }

    /// Run `job` on this thread and return every event it sent.
    fn run(job: Job) -> Vec<WorkerEvent> {
        std::fs::create_dir_all(job.log.parent().unwrap()).unwrap();
        let events = std::cell::RefCell::new(Vec::new());
        ProcessRunner::default().run(job, &|event| events.borrow_mut().push(event));
        events.into_inner()
    }

    /// The exit of a run that started (Started, then Exited), checking both events.
    fn started_then_exited(events: &[WorkerEvent]) -> Exit {
        match events {
            [
                WorkerEvent::Started { task: 7, pid },
                WorkerEvent::Exited { exit, .. },
            ] if *pid > 1 => exit.clone(),
            other => panic!("unexpected events: {other:?}"),
        }
    }

    /// The error of a run that failed to spawn (only Exited, no Started).
    fn spawn_failure(events: &[WorkerEvent]) -> String {
        match events {
            [
                WorkerEvent::Exited {
                    exit: Exit::SpawnFailed { error },
                    duration,
                    ..
                },
            ] if duration.is_zero() => error.clone(),
            other => panic!("unexpected events: {other:?}"),
        }
    }

    fn read_log(job: &Job) -> String {
        std::fs::read_to_string(&job.log).unwrap()
    }

    /// Run `job` on a new thread, returning the events and the pid from `Started`.
    fn start(job: Job) -> (Receiver<WorkerEvent>, u32) {
        std::fs::create_dir_all(job.log.parent().unwrap()).unwrap();
        let (tx, rx) = channel();
        thread::spawn(move || {
            ProcessRunner::default().run(job, &|event| {
                let _ = tx.send(event);
            })
        });
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            WorkerEvent::Started { pid, .. } => (rx, pid),
            other => panic!("expected Started, got {other:?}"),
        }
    }

    /// Kills a test's process group even when the test fails half-way.
    struct KillOnDrop(u32);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = stop_group(self.0, Stop::Kill);
        }
    }

    /// A named pipe; a child writing to it lets the test wait for a point in the script.
    fn fifo(dir: &Path) -> PathBuf {
        let path = dir.join("ready.fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        path
    }

    /// Block until a child has written a line into `fifo` and closed it.
    fn wait_for(fifo: &Path) -> String {
        std::fs::read_to_string(fifo).unwrap()
    }

    /// Processes in group `pgid` that are still running (zombies count as dead: whether
    /// an orphan is reaped promptly depends on this machine's init).
    fn live_members(pgid: u32) -> Vec<u32> {
        let mut live = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let dead = matches!(fields.first(), Some(&("Z" | "X" | "x")));
            if !dead && fields.get(2) == Some(&pgid.to_string().as_str()) {
                live.push(pid);
            }
        }
        live
    }

    /// Wait (up to 5 s) until no process of group `pgid` runs any more.
    fn assert_group_ends(pgid: u32) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !live_members(pgid).is_empty() {
            assert!(
                Instant::now() < deadline,
                "group {pgid} still runs: {:?}",
                live_members(pgid)
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn success_writes_stdout_and_stderr_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), &["sh", "-c", "echo out; echo err >&2"]);
        let events = run(job.clone());
        assert_eq!(started_then_exited(&events), Exit::Success);
        assert_eq!(read_log(&job), "out\nerr\n");
    }

    #[test]
    fn the_log_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), &["sh", "-c", "echo new"]);
        std::fs::create_dir_all(job.log.parent().unwrap()).unwrap();
        std::fs::write(&job.log, "old output, longer than the new one\n").unwrap();
        run(job.clone());
        assert_eq!(read_log(&job), "new\n");
    }

    #[test]
    fn a_silent_task_makes_no_log_file_and_empties_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), &["true"]);
        std::fs::create_dir_all(job.log.parent().unwrap()).unwrap();
        assert_eq!(started_then_exited(&run(job.clone())), Exit::Success);
        assert!(!job.log.exists(), "no output, no file");
        std::fs::write(&job.log, "the last run's output\n").unwrap();
        run(job.clone());
        assert_eq!(read_log(&job), "", "a stale log never stays");
    }

    #[test]
    fn a_background_child_does_not_hold_the_worker_and_its_output_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let go = fifo(dir.path());
        // The background subshell holds the output pipe and waits for the test.
        let script = r#"echo early; ( read line < "$GO"; echo late ) & exit 0"#;
        let mut job = job(dir.path(), &["sh", "-c", script]);
        job.env = vec![("GO".to_owned(), go.display().to_string())];
        let (events, pid) = start(job.clone());
        let _guard = KillOnDrop(pid);
        let exited = events.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            matches!(
                exited,
                WorkerEvent::Exited {
                    exit: Exit::Success,
                    ..
                }
            ),
            "{exited:?}"
        );
        std::fs::write(&go, "go\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while read_log(&job) != "early\nlate\n" {
            assert!(Instant::now() < deadline, "log: {:?}", read_log(&job));
            thread::sleep(Duration::from_millis(10));
        }
        assert_group_ends(pid);
    }

    #[test]
    fn failure_reports_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let events = run(job(dir.path(), &["sh", "-c", "exit 3"]));
        let failed = Exit::Failed {
            code: Some(3),
            signal: None,
        };
        assert_eq!(started_then_exited(&events), failed);
    }

    #[test]
    fn env_and_cwd_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let mut job = job(dir.path(), &["sh", "-c", "echo $FOO; pwd -P; echo $HOME"]);
        job.cwd = work.clone();
        job.env = vec![("FOO".to_owned(), "bar".to_owned())];
        let events = run(job.clone());
        assert_eq!(started_then_exited(&events), Exit::Success);
        let home = std::env::var("HOME").unwrap_or_default();
        let expected = format!("bar\n{}\n{home}\n", work.canonicalize().unwrap().display());
        assert_eq!(read_log(&job), expected);
    }

    #[test]
    fn spawn_failure_is_reported_and_logged() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), &["conduct-test-no-such-program", "x"]);
        let error = spawn_failure(&run(job.clone()));
        assert!(error.contains("conduct-test-no-such-program"), "{error}");
        assert_eq!(read_log(&job), format!("conduct: {error}\n"));
    }

    #[test]
    fn a_missing_working_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = job(dir.path(), &["sh", "-c", "true"]);
        job.cwd = dir.path().join("missing");
        let error = spawn_failure(&run(job.clone()));
        assert!(error.contains("working directory"), "{error}");
        assert!(read_log(&job).contains("working directory"));
    }

    #[test]
    fn an_empty_command_fails_to_spawn() {
        let dir = tempfile::tempdir().unwrap();
        let error = spawn_failure(&run(job(dir.path(), &[])));
        assert!(error.contains("empty"), "{error}");
    }

    #[test]
    fn stop_group_terminates_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let ready = fifo(dir.path());
        let mut job = job(
            dir.path(),
            &["sh", "-c", r#"sleep 30 & echo ready > "$READY"; sleep 30"#],
        );
        job.env = vec![("READY".to_owned(), ready.display().to_string())];
        let (events, pid) = start(job);
        let _guard = KillOnDrop(pid);
        assert_eq!(wait_for(&ready), "ready\n");
        stop_group(pid, Stop::Terminate).unwrap();
        let exited = events.recv_timeout(Duration::from_secs(10)).unwrap();
        let WorkerEvent::Exited { exit, duration, .. } = exited else {
            panic!("expected Exited, got {exited:?}");
        };
        assert_eq!(
            exit,
            Exit::Failed {
                code: None,
                signal: Some(15)
            }
        );
        assert!(duration < Duration::from_secs(10), "{duration:?}");
        assert_group_ends(pid);
        // Stopping a group that is gone is fine.
        stop_group(pid, Stop::Kill).unwrap();
    }

    #[test]
    fn stop_group_refuses_special_pids() {
        assert!(stop_group(0, Stop::Terminate).is_err());
        assert!(stop_group(1, Stop::Terminate).is_err());
        assert!(stop_group(u32::MAX, Stop::Terminate).is_err());
    }

    #[test]
    fn streamed_output_goes_to_the_log_unprefixed() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = job(dir.path(), &["sh", "-c", "echo out; echo err >&2; exit 4"]);
        job.stream = true;
        let events = run(job.clone());
        let failed = Exit::Failed {
            code: Some(4),
            signal: None,
        };
        assert_eq!(started_then_exited(&events), failed);
        let log = read_log(&job);
        let mut lines: Vec<&str> = log.split_inclusive('\n').collect();
        lines.sort_unstable();
        // stdout and stderr are copied by different threads: their order may vary.
        assert_eq!(lines, ["err\n", "out\n"]);
    }

    #[test]
    fn a_streamed_last_line_without_newline_stays_raw_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = job(dir.path(), &["sh", "-c", "printf 'a\\nno newline'"]);
        job.stream = true;
        let events = run(job.clone());
        assert_eq!(started_then_exited(&events), Exit::Success);
        assert_eq!(read_log(&job), "a\nno newline");
    }

    #[test]
    fn streaming_waits_for_a_grandchild_until_the_group_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let ready = fifo(dir.path());
        // The background subshell keeps both pipes open. It waits until its parent shell
        // has exited and been reaped, then says so through the fifo.
        let script = r#"
            echo out; echo err >&2
            ( while kill -0 $$ 2>/dev/null; do sleep 0.01; done
              echo ready > "$READY"; exec sleep 30 ) &
            exit 0
        "#;
        let mut job = job(dir.path(), &["sh", "-c", script]);
        job.stream = true;
        job.env = vec![("READY".to_owned(), ready.display().to_string())];
        let (events, pid) = start(job.clone());
        let _guard = KillOnDrop(pid);
        assert_eq!(wait_for(&ready), "ready\n");
        // The shell is gone, but the sleep still holds the pipes: no Exited yet.
        assert!(events.try_recv().is_err());
        stop_group(pid, Stop::Kill).unwrap();
        let exited = events.recv_timeout(Duration::from_secs(10)).unwrap();
        let WorkerEvent::Exited { exit, .. } = exited else {
            panic!("expected Exited, got {exited:?}");
        };
        assert_eq!(exit, Exit::Success);
        let log = read_log(&job);
        assert!(log == "out\nerr\n" || log == "err\nout\n", "{log:?}");
        assert_group_ends(pid);
    }

    /// Run `job` with a build's runner (leftovers reaped) and return its exit event.
    fn run_reaped(job: Job) -> (Exit, usize) {
        std::fs::create_dir_all(job.log.parent().unwrap()).unwrap();
        let runner = ProcessRunner::for_build();
        let ended = std::cell::RefCell::new(None);
        runner.run(job, &|event| {
            if let WorkerEvent::Exited {
                exit, leftovers, ..
            } = event
            {
                *ended.borrow_mut() = Some((exit, leftovers));
            }
        });
        ended.into_inner().unwrap()
    }

    /// Whether a process with a `MARK=<mark>` variable still runs.
    fn still_running(mark: &str) -> bool {
        let needle = format!("MARK={mark}");
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            !zombie
                && std::fs::read(entry.path().join("environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == needle.as_bytes()))
        })
    }

    #[test]
    fn a_builds_runner_kills_what_a_task_left_behind_even_outside_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let mark = format!("leftover-{}", std::process::id());
        // A background child in the group, and a `setsid` one that left it.
        let script = r#"sleep 30 & setsid sleep 30 & echo done"#;
        let mut job = job(dir.path(), &["sh", "-c", script]);
        job.env = vec![("MARK".to_owned(), mark.clone())];
        let (exit, leftovers) = run_reaped(job.clone());
        assert_eq!(exit, Exit::Success);
        assert_eq!(leftovers, 2, "one in the group, one escaped it");
        assert!(!still_running(&mark), "nothing of the task is left");
        assert_eq!(read_log(&job), "done\n");
        // A task that leaves nothing: nothing is killed.
        let (exit, leftovers) = run_reaped(job_with(dir.path(), &mark, "echo tidy"));
        assert_eq!((exit, leftovers), (Exit::Success, 0));
    }

    fn job_with(dir: &Path, mark: &str, script: &str) -> Job {
        let mut job = job(dir, &["sh", "-c", script]);
        job.env = vec![("MARK".to_owned(), mark.to_owned())];
        job
    }

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
