//! Nothing a task started outlives it, or conduct.
//!
//! A task is the leader of its own process group, but what it starts can outlive it:
//! a background child (`sleep 8 & echo done > out/x`) stays in the group after the
//! leader exits, a `setsid` grandchild leaves the group, and if conduct itself is
//! killed (`kill -9`, the OOM killer) every task it ran keeps going and may write into
//! the next build's outputs. So:
//!
//! - **After a task's main process exits**, what is left of its group is killed
//!   (SIGKILL) and counted, and the task's line says so ("killed 1 leftover process").
//! - **Escapees**: on Linux conduct is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so
//!   a process that left the group is re-parented to conduct when its parent dies.
//!   Every task runs with `CONDUCT_BUILD_ID` (this build's token) and `CONDUCT_TASK` in
//!   its environment, which its descendants inherit; conduct's adopted children that
//!   carry the finished task's pair are killed too.
//! - **conduct dies**: at the first task of a build, a watchdog is started (conduct's
//!   own binary, `conduct __watchdog TOKEN`, in its own process group so Ctrl-C at the
//!   terminal does not reach it) that holds a pipe from conduct. A build that ends
//!   tells it so; if the pipe closes without that, conduct died, and the watchdog kills
//!   every process whose environment carries the build's token. One process per build
//!   that runs anything, none per task.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// The variable that marks a task's processes as this build's.
pub(crate) const BUILD_ID: &str = "CONDUCT_BUILD_ID";
/// The hidden command that runs the watchdog.
pub(crate) const WATCHDOG_COMMAND: &str = "__watchdog";

/// What the watchdog reads when a build ended normally.
const DONE: &[u8] = b"done\n";

/// This build's token and watchdog.
#[derive(Debug)]
pub(crate) struct Reaper {
    token: String,
    watchdog: Mutex<Watchdog>,
    /// `/proc/<conduct>/task/<conduct>/children`, opened after the first task and kept
    /// open: read again (one `pread`) after every task.
    children: std::sync::OnceLock<Option<std::fs::File>>,
}

#[derive(Debug)]
enum Watchdog {
    NotStarted,
    /// Being started on a thread of its own, so the first task does not wait for it.
    Starting(std::thread::JoinHandle<Option<(Child, ChildStdin)>>),
    Running {
        child: Child,
        stdin: ChildStdin,
    },
    /// It could not be started (no binary to run): builds go on without it.
    Unavailable,
}

impl Reaper {
    /// A reaper for one build: a new token, and (on Linux) conduct as the subreaper of
    /// its tasks' orphans.
    pub(crate) fn new() -> Reaper {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        #[cfg(target_os = "linux")]
        {
            let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
        }
        Reaper {
            token: format!("{}-{nanos}", std::process::id()),
            watchdog: Mutex::new(Watchdog::NotStarted),
            children: std::sync::OnceLock::new(),
        }
    }

    /// The value of [`BUILD_ID`] in this build's tasks.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// Start the watchdog if it is not started yet (when the first task starts). It is
    /// started on a thread of its own: starting conduct's binary takes a millisecond or
    /// two, which the first task should not wait for.
    pub(crate) fn watch(&self) {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*watchdog, Watchdog::NotStarted) {
            return;
        }
        let token = self.token.clone();
        *watchdog = match std::thread::Builder::new()
            .name("conduct-watchdog".to_owned())
            .spawn(move || spawn_watchdog(&token))
        {
            Ok(starting) => Watchdog::Starting(starting),
            Err(_) => {
                spawn_watchdog(&self.token).map_or(Watchdog::Unavailable, |(child, stdin)| {
                    Watchdog::Running { child, stdin }
                })
            }
        };
    }

    /// The build is over and every task has ended: tell the watchdog to go quietly. It
    /// is collected on a thread of its own, not waited for (its exit would add a
    /// process lifetime to every build); a next build of the same process (`watch`)
    /// starts a new one with its first task.
    pub(crate) fn finish(&self) {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(PoisonError::into_inner);
        let started = match std::mem::replace(&mut *watchdog, Watchdog::NotStarted) {
            Watchdog::Starting(starting) => starting.join().ok().flatten(),
            Watchdog::Running { child, stdin } => Some((child, stdin)),
            Watchdog::NotStarted | Watchdog::Unavailable => None,
        };
        if let Some((mut child, mut stdin)) = started {
            let _ = stdin.write_all(DONE);
            drop(stdin);
            // Never a zombie for as long as a long-lived conduct runs.
            let _ = std::thread::Builder::new()
                .name("conduct-watchdog-exit".to_owned())
                .spawn(move || child.wait());
        }
    }

    /// After the main process of task `task` (process group `group`, its pid) exited
    /// and was collected: kill what is left of the group and the task's processes that
    /// left it. A group with members keeps its id taken; an empty one (the usual case)
    /// costs one `kill(0)` and no walk of /proc. The supervisor collects the main
    /// process, never this. Returns how many were killed.
    pub(crate) fn leftovers(&self, group: u32, task: &str) -> usize {
        let mut members = Vec::new();
        if let Some(group) = i32::try_from(group)
            .ok()
            .filter(|&g| g > 1)
            .and_then(Pid::from_raw)
            && rustix::process::test_kill_process_group(group).is_ok()
        {
            let (mut live, mut dead) = members_of(group);
            live.retain(|&pid| pid != group);
            dead.retain(|&pid| pid != group);
            if !live.is_empty() || dead.is_empty() {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
            }
            // One by one too: a member may leave the group (setsid) after it was seen.
            for &pid in &live {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
            reap(&[live.as_slice(), &dead].concat());
            members = live;
        }
        members.len() + self.escapees(task, &members)
    }

    /// Kill conduct's adopted children (processes that left a task's group and lost
    /// their parent) that carry `task`'s marker, but for the group's members already
    /// killed (one still dying is adopted too); how many.
    fn escapees(&self, task: &str, killed_before: &[Pid]) -> usize {
        let mut killed: Vec<Pid> = killed_before.to_vec();
        // An escapee's own children are adopted when it dies: a few rounds catch them.
        for _ in 0..8 {
            let found: Vec<Pid> = self
                .adopted()
                .into_iter()
                .filter(|pid| !killed.contains(pid))
                .filter(|&pid| marked(pid, &self.token, Some(task)))
                .collect();
            if found.is_empty() {
                break;
            }
            for &pid in &found {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = rustix::process::kill_process_group(pid, Signal::KILL);
            }
            reap(&found);
            killed.extend(found);
        }
        killed.len() - killed_before.len()
    }
}

impl Reaper {
    /// The children of conduct's main thread: where adopted orphans go on Linux (to
    /// the thread group leader). Read at offset 0 each time: /proc makes it anew.
    fn adopted(&self) -> Vec<Pid> {
        use std::os::unix::fs::FileExt;
        let children = self.children.get_or_init(|| {
            let me = std::process::id();
            std::fs::File::open(format!("/proc/{me}/task/{me}/children")).ok()
        });
        let Some(file) = children else {
            return Vec::new();
        };
        let mut buffer = vec![0u8; 4096];
        let mut len = 0;
        loop {
            match file.read_at(&mut buffer[len..], len as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    len += n;
                    if len == buffer.len() {
                        buffer.resize(buffer.len() * 2, 0);
                    }
                }
            }
        }
        String::from_utf8_lossy(&buffer[..len])
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok().and_then(Pid::from_raw))
            .collect()
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.finish();
    }
}

fn spawn_watchdog(token: &str) -> Option<(Child, ChildStdin)> {
    let exe = std::env::current_exe().ok()?;
    // Only conduct's own binary knows `__watchdog` (not a test harness running it).
    if exe.file_stem().is_none_or(|stem| stem != "conduct") {
        return None;
    }
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(exe)
        .arg(WATCHDOG_COMMAND)
        .arg(token)
        .env_remove(BUILD_ID)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

/// `conduct __watchdog TOKEN`: wait for conduct to close the pipe; if it did not say
/// the build ended, kill every process of the build. Returns the exit code.
pub(crate) fn watchdog_main(token: &str) -> i32 {
    let mut said = Vec::new();
    let _ = io::stdin().lock().read_to_end(&mut said);
    if said == DONE {
        return 0;
    }
    // conduct is gone: its tasks go too, and what they started (it may fork while
    // being killed, so a few rounds).
    let me = rustix::process::getpid();
    for _ in 0..50 {
        let found: Vec<Pid> = all_processes()
            .into_iter()
            .filter(|&pid| pid != me && marked(pid, token, None))
            .collect();
        if found.is_empty() {
            break;
        }
        for pid in found {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    0
}

/// Whether `pid`'s environment carries this build's token (and, if given, `task`).
fn marked(pid: Pid, token: &str, task: Option<&str>) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{}/environ", pid.as_raw_nonzero())) else {
        return false;
    };
    let mut has_token = false;
    let mut has_task = task.is_none();
    for entry in environ.split(|&b| b == 0) {
        if let Some(value) = entry.strip_prefix(format!("{BUILD_ID}=").as_bytes()) {
            has_token = value == token.as_bytes();
        } else if let (Some(task), Some(value)) = (task, entry.strip_prefix(b"CONDUCT_TASK=")) {
            has_task = value == task.as_bytes();
        }
    }
    has_token && has_task
}

/// The members of process group `group`: those still running, and those that ended
/// and wait to be collected (by conduct, which adopted them).
fn members_of(group: Pid) -> (Vec<Pid>, Vec<Pid>) {
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for pid in all_processes() {
        match stat_of(pid) {
            Some((state, _, pgrp)) if pgrp == group.as_raw_nonzero().get() => {
                if matches!(state, 'Z' | 'X') {
                    dead.push(pid);
                } else {
                    live.push(pid);
                }
            }
            _ => {}
        }
    }
    (live, dead)
}

/// Every process on the machine (Linux: from /proc).
fn all_processes() -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(Pid::from_raw)
        .collect()
}

/// `(state, ppid, pgrp)` of `pid`.
fn stat_of(pid: Pid) -> Option<(char, i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    // "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Collect the exit of killed processes that became conduct's children (briefly: one
/// re-parented a moment later is collected when conduct exits).
fn reap(pids: &[Pid]) {
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut left: Vec<Pid> = pids.to_vec();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|&pid| {
            match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
                Ok(Some(_)) => false,
                Ok(None) => true,
                // Not (yet) ours: it may be adopted once its own parent is gone.
                Err(Errno::CHILD) => stat_of(pid).is_some(),
                Err(_) => false,
            }
        });
        if !left.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
