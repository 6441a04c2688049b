//! The local executor: every job is a process of this machine, supervised by one
//! routine ([`supervise`]) whether it was submitted (a task) or run in place (a check, a
//! `{command}` input, a worktree's setup).
//!
//! Why it is built this way:
//! - **A process group per job.** Every job leads a new process group, so a Ctrl-C at
//!   the terminal (sent to conduct's foreground group) does not reach it directly:
//!   conduct decides, and the whole group, everything the job started (`sh -c 'a &
//!   b'`), gets TERM, then KILL after a grace of 5 s (SPEC §4), on a timeout or a cancel.
//! - **One waiting loop.** The supervising thread reads the output pipe and wakes for
//!   the process's exit (without collecting it, `waitid(WNOWAIT)`: its group id stays
//!   taken while what it left is killed), its deadline, a cancel: no extra thread per
//!   job, and a job that is done is seen at once.
//! - **A task leaves nothing behind**: with a build's executor, what is left of its
//!   group (and what escaped it) is killed when its main process exits (`reaper`).
//! - **Failures are data.** A program that cannot start is [`Exit::SpawnFailed`] (and
//!   written to its log, where the user looks), never an error of the executor.
//!
//! Submitted jobs wait on threads that are kept for the next job and sleep while idle
//! ([`Workers`]), unlike a rayon pool, whose spinning threads would compete with the
//! processes for the cores.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process_group};

use crate::exec::output::{Log, copy_lines, drain_detached};
use crate::exec::reaper::{self, Reaper};
use crate::exec::{Executor, Exit, Finished, Job, JobId, Output, Report, Update};

/// How long a job's process group gets between TERM and KILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// The longest a supervising thread sleeps before it looks at the cancel flags again.
const TICK: Duration = Duration::from_millis(50);

/// The executor of this machine.
#[derive(Debug)]
pub(crate) struct LocalExecutor {
    /// A build's: marks and reaps its tasks (`None` for other commands).
    reaper: Option<Arc<Reaper>>,
    next: AtomicU64,
    /// Submitted jobs still running, by id.
    running: Arc<Mutex<FxHashMap<u64, Arc<Control>>>>,
    /// Set by `cancel_all`: every job stops, and one that starts stops at once.
    all: Arc<AtomicBool>,
    workers: Workers,
}

/// One job's cancel flag and process.
#[derive(Debug, Default)]
struct Control {
    cancelled: AtomicBool,
    pid: Mutex<Option<u32>>,
}

impl Control {
    /// Mark it cancelled and, if its process runs, TERM its group now (the
    /// supervising thread sends the KILL after the grace).
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        if let Some(pid) = *self.pid.lock().unwrap_or_else(PoisonError::into_inner) {
            let _ = stop_group(pid, Stop::Terminate);
        }
    }
}

impl LocalExecutor {
    /// For commands other than a build (`list`, `plan`, ...): no marks, no reaping.
    pub(crate) fn new() -> LocalExecutor {
        LocalExecutor {
            reaper: None,
            next: AtomicU64::new(0),
            running: Arc::default(),
            all: Arc::default(),
            workers: Workers::default(),
        }
    }

    /// A build's: its tasks are marked and what they leave is reaped, and a watchdog
    /// kills them if conduct dies (see `reaper`).
    pub(crate) fn for_build() -> LocalExecutor {
        LocalExecutor {
            reaper: Some(Arc::new(Reaper::new())),
            ..LocalExecutor::new()
        }
    }
}

impl Executor for LocalExecutor {
    fn submit(&self, job: Job, report: Report) -> JobId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let control = Arc::new(Control::default());
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&control));
        if job.task
            && let Some(reaper) = &self.reaper
        {
            reaper.watch();
        }
        let reaper = self.reaper.clone();
        let all = Arc::clone(&self.all);
        let running = Arc::clone(&self.running);
        self.workers.spawn(Box::new(move || {
            let finished = supervise(&job, &control, &all, reaper.as_deref(), &|| {
                report(Update::Started);
            });
            running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            report(Update::Finished(finished));
        }));
        JobId(id)
    }

    fn cancel(&self, id: JobId) {
        let control = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id.0)
            .cloned();
        if let Some(control) = control {
            control.cancel();
        }
    }

    fn cancel_all(&self) {
        self.all.store(true, Ordering::Relaxed);
        let running: Vec<Arc<Control>> = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for control in running {
            control.cancel();
        }
    }

    fn run(&self, job: Job) -> Finished {
        supervise(
            &job,
            &Control::default(),
            &self.all,
            self.reaper.as_deref(),
            &|| {},
        )
    }

    fn finish(&self) {
        if let Some(reaper) = &self.reaper {
            reaper.finish();
        }
    }
}

/// Threads for submitted jobs: one per job running at once, kept and reused, asleep
/// while idle.
#[derive(Debug, Default)]
struct Workers {
    queue: Mutex<Option<mpsc::Sender<Work>>>,
    receiver: Arc<Mutex<Option<mpsc::Receiver<Work>>>>,
    /// Threads waiting for work that no job has been promised to yet.
    idle: Arc<AtomicUsize>,
}

type Work = Box<dyn FnOnce() + Send>;

impl Workers {
    /// Run `work` on a thread of its own: an idle one, else a new one (every job gets a
    /// thread at once; none waits behind another).
    fn spawn(&self, work: Work) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = queue.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::channel();
            *self.receiver.lock().unwrap_or_else(PoisonError::into_inner) = Some(receiver);
            sender
        });
        let promised = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !promised {
            let receiver = Arc::clone(&self.receiver);
            let idle = Arc::clone(&self.idle);
            let started = thread::Builder::new()
                .name("conduct-job".to_owned())
                .spawn(move || worker(&receiver, &idle));
            if started.is_err() {
                // No thread to be had: run it here rather than never.
                drop(queue);
                work();
                return;
            }
        }
        if let Err(mpsc::SendError(work)) = sender.send(work) {
            drop(queue);
            work();
        }
    }
}

/// A worker: take the next work, run it, say it is idle again.
fn worker(receiver: &Mutex<Option<mpsc::Receiver<Work>>>, idle: &AtomicUsize) {
    loop {
        let work = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            match receiver.as_ref().map(mpsc::Receiver::recv) {
                Some(Ok(work)) => work,
                _ => return,
            }
        };
        work();
        idle.fetch_add(1, Ordering::AcqRel);
    }
}

/// Signals conduct sends to a job's whole process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGTERM: ask the processes to end.
    Terminate,
    /// SIGKILL: end them now (after the grace).
    Kill,
}

/// Send SIGTERM or SIGKILL to the process group `pid` (a job's pid is its group id).
/// A group that no longer exists is not an error. Pids 0 and 1 are refused, since
/// `kill(0)` and `kill(-1)` would reach conduct itself or every process.
pub(crate) fn stop_group(pid: u32, stop: Stop) -> io::Result<()> {
    let group = i32::try_from(pid)
        .ok()
        .filter(|&raw| raw > 1)
        .and_then(Pid::from_raw)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{pid} is not a job's process group"),
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

/// Run `job` to its end: spawn it in a group of its own, copy its output, stop it on
/// its deadline or a cancel (TERM, grace, KILL), kill what a task left behind, collect
/// its exit. `started` is called once the process runs.
fn supervise(
    job: &Job,
    control: &Control,
    all: &AtomicBool,
    reaper: Option<&Reaper>,
    started: &dyn Fn(),
) -> Finished {
    let (path, stream) = match &job.output {
        Output::Log { path, stream } => (Some(path.as_path()), *stream),
        Output::Capture => (None, false),
    };
    let mut log = path.map(Log::reuse);
    let pipe = if stream {
        // The copiers write as lines arrive: the file must be there.
        match log.as_mut().map(Log::create) {
            Some(Err(e)) => {
                return Finished::not_started(format!("cannot create the log file: {e}"));
            }
            _ => None,
        }
    } else {
        match io::pipe() {
            Ok(pipe) => Some(pipe),
            Err(e) => return Finished::not_started(format!("cannot make a pipe: {e}")),
        }
    };
    let start = Instant::now();
    let spawned = spawn(job, pipe, reaper.filter(|_| job.task));
    let (mut child, reader) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            let error = spawn_error(job, &e);
            if let Some(log) = &mut log {
                log.write(format!("conduct: {error}\n").as_bytes());
            }
            return Finished::not_started(error);
        }
    };
    let pid = child.id();
    *control.pid.lock().unwrap_or_else(PoisonError::into_inner) = Some(pid);
    started();
    let mut watch = Watch {
        pid,
        deadline: job.timeout.map(|t| start + t),
        kill_at: None,
        stopped: None,
        control,
        all,
    };
    let mut stdout = Vec::new();
    let leftovers = std::cell::Cell::new(0);
    let clean_up = || {
        if let Some(reaper) = reaper.filter(|_| job.task) {
            leftovers.set(reaper.leftovers(pid, &job.label));
        }
    };
    let waited = match reader {
        Some(reader) => wait_reading(&mut child, reader, log, &mut stdout, &mut watch),
        None => wait_streaming(job, &mut child, log, &mut watch, &clean_up),
    };
    let duration = start.elapsed();
    // Nothing signals the group by this pid once the process is collected.
    *control.pid.lock().unwrap_or_else(PoisonError::into_inner) = None;
    let status = waited.and_then(|()| child.wait());
    if !stream {
        clean_up();
    }
    let exit = match (watch.stopped.take(), &status) {
        (Some(why), _) => why,
        (None, _) if control.cancelled.load(Ordering::Relaxed) || all.load(Ordering::Relaxed) => {
            Exit::Cancelled
        }
        (None, Ok(status)) => exit_of(*status),
        // Only possible if something else collected our child: the process is gone.
        (None, Err(_)) => Exit::Failed {
            code: None,
            signal: None,
        },
    };
    Finished {
        exit,
        duration,
        leftovers: leftovers.get(),
        stdout,
        cluster: None,
    }
}

/// A running job's clock and cancel flags.
struct Watch<'a> {
    pid: u32,
    deadline: Option<Instant>,
    kill_at: Option<Instant>,
    /// Why conduct stopped it, once it did.
    stopped: Option<Exit>,
    control: &'a Control,
    all: &'a AtomicBool,
}

impl Watch<'_> {
    /// Look at the clock and the flags: TERM at the deadline or on a cancel, KILL
    /// after the grace. Returns how long until the next look.
    fn tick(&mut self) -> Duration {
        let now = Instant::now();
        if self.stopped.is_none() {
            let why = if self.control.cancelled.load(Ordering::Relaxed)
                || self.all.load(Ordering::Relaxed)
            {
                Some(Exit::Cancelled)
            } else if self.deadline.is_some_and(|d| d <= now) {
                Some(Exit::TimedOut)
            } else {
                None
            };
            if let Some(why) = why {
                let _ = stop_group(self.pid, Stop::Terminate);
                self.stopped = Some(why);
                self.kill_at = Some(now + KILL_GRACE);
            }
        }
        if self.kill_at.is_some_and(|k| k <= now) {
            self.kill_at = None;
            let _ = stop_group(self.pid, Stop::Kill);
        }
        [
            self.deadline.filter(|_| self.stopped.is_none()),
            self.kill_at,
        ]
        .into_iter()
        .flatten()
        .map(|at| at.saturating_duration_since(now))
        .fold(TICK, Duration::min)
    }
}

/// Whether `child` has exited, leaving it to be collected (its group id stays taken).
fn has_exited(child: &Child) -> bool {
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        return true;
    };
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    matches!(
        waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT
        ),
        Ok(Some(_))
    )
}

/// A descriptor that becomes readable when the process exits (Linux), to wake for it.
#[cfg(target_os = "linux")]
fn exit_notice(child: &Child) -> Option<std::os::fd::OwnedFd> {
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

#[cfg(not(target_os = "linux"))]
fn exit_notice(_child: &Child) -> Option<std::os::fd::OwnedFd> {
    None
}

/// Wait for `child`, whose output is one pipe, copying it to `log` (or into `stdout`
/// for a captured job) and ticking `watch`. Returns once the process has exited (not
/// yet collected); a background child still holding the pipe is drained by a
/// detached thread into the log (a captured job's stdout ends with its process).
fn wait_reading(
    child: &mut Child,
    mut reader: io::PipeReader,
    mut log: Option<Log>,
    stdout: &mut Vec<u8>,
    watch: &mut Watch<'_>,
) -> io::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let notice = exit_notice(child);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut open = true;
    loop {
        let wait = watch.tick();
        let timeout = Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos() as _,
        };
        let mut fds = Vec::with_capacity(2);
        if open {
            fds.push(PollFd::new(&reader, PollFlags::IN));
        }
        if let Some(notice) = &notice {
            fds.push(PollFd::new(notice, PollFlags::IN));
        }
        let ready = match poll(&mut fds, Some(&timeout)) {
            Ok(n) => n,
            Err(Errno::INTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let readable = open && ready > 0 && !fds[0].revents().is_empty();
        if readable {
            match reader.read(&mut buffer) {
                Ok(0) => open = false,
                Ok(n) => match &mut log {
                    Some(log) => log.write(&buffer[..n]),
                    None => stdout.extend_from_slice(&buffer[..n]),
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => open = false,
            }
            continue;
        }
        if !open && notice.is_none() {
            // Nothing to wake for but the exit: wait in steps of the tick.
            if has_exited(child) {
                return Ok(());
            }
            thread::sleep(watch.tick().min(Duration::from_millis(5)));
            continue;
        }
        if has_exited(child) {
            if open && let Some(log) = log {
                drain_detached(reader, log);
            }
            return Ok(());
        }
    }
}

/// Wait for `child`, whose stdout and stderr are two pipes copied line by line by two
/// threads (`-v`). Once the process has exited it is collected and `clean_up` kills
/// what it left holding the pipes; the job ends when the copiers do, and the
/// watch keeps ticking meanwhile (a cancel still stops what holds the pipes).
fn wait_streaming(
    job: &Job,
    child: &mut Child,
    log: Option<Log>,
    watch: &mut Watch<'_>,
    clean_up: &dyn Fn(),
) -> io::Result<()> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let Some(log) = log else {
        return Err(io::Error::other("a streamed job needs a log"));
    };
    let log = Mutex::new(log);
    let prefix = format!("[{}] ", job.label);
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let notice = exit_notice(child);
    let (done, copied) = mpsc::channel::<()>();
    thread::scope(|scope| {
        let copiers: Vec<_> = [
            out.map(|p| Box::new(p) as Box<dyn Read + Send>),
            err.map(|p| Box::new(p) as _),
        ]
        .into_iter()
        .flatten()
        .filter_map(|pipe| {
            let done = done.clone();
            spawn_copier(scope, pipe, &log, &prefix, watch.pid, done)
        })
        .collect();
        drop(done);
        let waited = loop {
            let wait = watch.tick();
            if has_exited(child) {
                break Ok(());
            }
            match &notice {
                Some(notice) => {
                    let timeout = Timespec {
                        tv_sec: wait.as_secs() as _,
                        tv_nsec: wait.subsec_nanos() as _,
                    };
                    let mut fds = [PollFd::new(notice, PollFlags::IN)];
                    if let Err(e) = poll(&mut fds, Some(&timeout))
                        && e != Errno::INTR
                    {
                        break Err(io::Error::from(e));
                    }
                }
                None => thread::sleep(wait.min(Duration::from_millis(5))),
            }
        };
        *watch
            .control
            .pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let collected = child.wait().map(drop);
        // What the task left holding the pipes goes before the copiers are awaited.
        clean_up();
        let mut running = copiers.len();
        while running > 0 {
            match copied.recv_timeout(watch.tick()) {
                Ok(()) => running -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for copier in copiers {
            let _ = copier.join();
        }
        waited.and(collected)
    })
}

/// Start a thread copying `pipe` (see [`copy_lines`]). If no thread can be started,
/// the job could block on the unread pipe forever: its group is killed instead, and
/// the log says why.
fn spawn_copier<'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    pipe: impl Read + Send + 'scope,
    log: &'scope Mutex<Log>,
    prefix: &'scope str,
    pid: u32,
    done: mpsc::Sender<()>,
) -> Option<thread::ScopedJoinHandle<'scope, ()>> {
    let spawned = thread::Builder::new()
        .name(format!("conduct-copy-{pid}"))
        .spawn_scoped(scope, move || {
            copy_lines(pipe, log, prefix);
            let _ = done.send(());
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            let message = format!("conduct: cannot copy the job's output: {e}\n");
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(message.as_bytes());
            let _ = stop_group(pid, Stop::Kill);
            None
        }
    }
}

/// Start the job's process with its output in `pipe` (one pipe for both streams, or,
/// for a captured job, for stdout), or, without one, in two pipes for
/// [`wait_streaming`]. The parent's copies of the write end are closed before this
/// returns, so the pipe ends when the job's processes are done with it.
fn spawn(
    job: &Job,
    pipe: Option<(io::PipeReader, io::PipeWriter)>,
    reaper: Option<&Reaper>,
) -> io::Result<(Child, Option<io::PipeReader>)> {
    let (program, args) = job
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the command is empty"))?;
    let path = job
        .env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.as_str());
    let mut command = match super::program::resolve(program, path) {
        Some(file) => {
            let mut command = Command::new(file);
            command.arg0(program);
            command
        }
        None => Command::new(program),
    };
    command
        .args(args)
        .current_dir(&job.cwd)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(match &job.stdin {
            Some(path) => Stdio::from(std::fs::File::open(path)?),
            None => Stdio::null(),
        })
        .process_group(0);
    if let Some(reaper) = reaper {
        // The pair that marks a task's processes, whatever they do to their group.
        command
            .env(reaper::BUILD_ID, reaper.token())
            .env("CONDUCT_TASK", &job.label);
    }
    let reader = match (pipe, &job.output) {
        (None, _) => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        }
        (Some((reader, writer)), Output::Capture) => {
            command.stdout(writer).stderr(Stdio::null());
            Some(reader)
        }
        (Some((reader, writer)), Output::Log { .. }) => {
            command.stdout(writer.try_clone()?).stderr(writer);
            Some(reader)
        }
    };
    let child = command.spawn()?;
    drop(command);
    Ok((child, reader))
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

/// Run a helper program conduct uses itself (git) to its end, capturing stdout and
/// stderr: the one other place a process starts, for plumbing whose output conduct
/// parses. `stdin` is written to it first.
pub(crate) fn plumbing(
    program: &str,
    args: &[&str],
    cwd: &std::path::Path,
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> io::Result<std::process::Output> {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes)?;
    }
    child.wait_with_output()
}

#[cfg(test)]
mod tests;
