//! What a build costs, counted rather than timed (issue 21): the real binary under
//! `strace -f` on a 1,000-task project, its system calls sorted by who made them. Times
//! drift on a shared machine; counts do not, so these fail the day a no-op starts
//! reading sources, stat'ing a file twice, opening more of `.cache/` or spawning a
//! process, or a leaf edit starts hashing or running more than the one task.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::test::{Project, tool_available};
use crate::thousand::{TASKS, sources, tasks_toml};

/// Files a no-op opens in `.cache/`: the lock, CACHEDIR.TAG, the spec cache, the state
/// snapshot and its journal, the started-tasks log, the temporary directory.
const CACHE_OPENS: usize = 8;

fn thousand() -> Project {
    let project = Project::new(&tasks_toml());
    for (path, text) in sources() {
        project.file(&path, &text);
    }
    project.file("out/.keep", "");
    project
}

/// One system call of the trace.
struct Call {
    pid: u32,
    name: String,
    path: String,
    ok: bool,
}

/// `conduct ARGS` in `project` under strace: every call to open, stat or exec a file.
fn traced(project: &Project, args: &[&str]) -> Vec<Call> {
    traced_calls(
        project,
        args,
        "open,openat,stat,lstat,newfstatat,statx,execve",
    )
}

/// `conduct ARGS` in `project` under strace, tracing the system calls `names`.
fn traced_calls(project: &Project, args: &[&str], names: &str) -> Vec<Call> {
    let trace = project.path().join(".trace");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={names}")])
        .arg("-o")
        .arg(&trace)
        .arg(crate::test::binary())
        .args(args)
        .current_dir(project.path())
        .status()
        .expect("run strace");
    assert!(status.success(), "conduct {args:?} under strace: {status}");
    let text = std::fs::read_to_string(&trace).expect("read the trace");
    std::fs::remove_file(&trace).expect("remove the trace");
    let mut calls = Vec::new();
    // A call another thread interrupted: `<unfinished ...>`, then `<... resumed>`
    // with its result.
    let mut pending: BTreeMap<u32, Call> = BTreeMap::new();
    for line in text.lines() {
        // strace pads the pid column: `123  openat(...)`.
        let Some((pid, rest)) = line.split_once(' ').map(|(p, r)| (p, r.trim_start())) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if rest.starts_with("<...") {
            if let Some(mut call) = pending.remove(&pid) {
                call.ok = !rest.contains("= -1");
                calls.push(call);
            }
            continue;
        }
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        let call = Call {
            pid,
            name: name.to_owned(),
            path: args.split('"').nth(1).unwrap_or("").to_owned(),
            ok: !rest.contains("= -1"),
        };
        if rest.ends_with("<unfinished ...>") {
            pending.insert(pid, call);
        } else {
            calls.push(call);
        }
    }
    calls
}

/// The calls of conduct itself: not of the processes it started (the ones that made
/// a successful `execve` after conduct's own).
fn conducts(calls: &[Call]) -> (Vec<&Call>, Vec<&Call>) {
    let first = calls.iter().find(|c| c.name == "execve").map(|c| c.pid);
    let started: BTreeSet<u32> = calls
        .iter()
        .filter(|c| c.name == "execve" && c.ok && Some(c.pid) != first)
        .map(|c| c.pid)
        .collect();
    let execs = calls
        .iter()
        .filter(|c| c.name == "execve" && c.ok && Some(c.pid) != first)
        .collect();
    let own = calls.iter().filter(|c| !started.contains(&c.pid)).collect();
    (own, execs)
}

/// The calls on the tasks' files under `dir` (`src/` or `out/`).
fn under<'a>(calls: &[&'a Call], dir: &str) -> Vec<&'a Call> {
    let prefix = format!("{dir}t");
    calls
        .iter()
        .copied()
        .filter(|c| c.path.contains(&prefix) && c.path.ends_with(".txt"))
        .collect()
}

fn is_stat(call: &Call) -> bool {
    matches!(
        call.name.as_str(),
        "stat" | "lstat" | "newfstatat" | "statx"
    )
}

fn is_open(call: &Call) -> bool {
    matches!(call.name.as_str(), "open" | "openat")
}

#[test]
fn a_no_op_reads_no_source_stats_each_file_once_and_spawns_nothing() {
    if !tool_available("strace", "the count tests trace system calls") {
        return;
    }
    let project = thousand();
    project.build(&["-q"], 0);
    project.build(&["-q"], 0);
    let calls = traced(&project, &["build", "-q"]);
    let (own, spawned) = conducts(&calls);
    assert!(
        spawned.is_empty(),
        "a no-op starts no process: {:?}",
        spawned.iter().map(|c| &c.path).collect::<Vec<_>>()
    );
    let sources = under(&own, "/src/");
    assert_eq!(
        sources.iter().filter(|c| is_open(c)).count(),
        0,
        "no source is read"
    );
    for dir in ["/src/", "/out/"] {
        let mut stats: BTreeMap<&str, usize> = BTreeMap::new();
        for call in under(&own, dir).into_iter().filter(|c| is_stat(c)) {
            *stats.entry(call.path.as_str()).or_default() += 1;
        }
        assert_eq!(stats.len(), TASKS, "every file under {dir} is looked at");
        let most = stats.iter().max_by_key(|(_, n)| **n);
        assert!(
            most.is_some_and(|(_, n)| *n == 1),
            "at most one stat per file under {dir}: {most:?}"
        );
    }
    let cache: BTreeSet<&str> = own
        .iter()
        .filter(|c| is_open(c) && c.path.contains("/.cache/"))
        .map(|c| c.path.as_str())
        .collect();
    assert!(
        cache.len() <= CACHE_OPENS,
        "a no-op opens at most {CACHE_OPENS} files in .cache/: {cache:#?}"
    );
}

/// A small project's no-op is over in a few milliseconds: starting a thread (a worker
/// pool, a parallel scan, a state loader) costs a tenth of that, so none is started.
#[test]
fn a_small_projects_no_op_starts_no_thread() {
    if !tool_available("strace", "the count tests trace system calls") {
        return;
    }
    let mut toml = String::new();
    for t in 0..35 {
        toml.push_str(&format!(
            "[tasks.t{t}]\ninputs = [\"src/t{t}.c\"]\noutputs = [\"out/t{t}.o\"]\n\
             run = \"cp src/t{t}.c out/t{t}.o\"\n\n"
        ));
    }
    toml.push_str(
        "[tasks.link]\ninputs = [\"out/*.o\"]\noutputs = [\"app\"]\nrun = \"cat out/*.o > app\"\n",
    );
    let project = Project::new(&toml);
    for t in 0..35 {
        project.file(&format!("src/t{t}.c"), &format!("int f{t};\n"));
    }
    project.file("out/.keep", "");
    project.build(&["-q"], 0);
    assert!(project.read("app").contains("int f34;"));
    let calls = traced_calls(&project, &["build", "-q"], "clone,clone3,fork,vfork,execve");
    let started: Vec<&str> = calls
        .iter()
        .filter(|c| c.name != "execve")
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        started,
        Vec::<&str>::new(),
        "a 36-task no-op starts no thread or process"
    );
}

#[test]
fn a_leaf_edit_hashes_one_source_and_runs_one_task() {
    if !tool_available("strace", "the count tests trace system calls") {
        return;
    }
    let project = thousand();
    project.build(&["-q"], 0);
    project.build(&["-q"], 0);
    project.file("src/t999.txt", "edited\n");
    let calls = traced(&project, &["build", "-q"]);
    let (own, spawned) = conducts(&calls);
    // The task's shell, and conduct's watchdog (it kills the build's processes if
    // conduct dies: `exec/reaper.rs`); what the shell starts is the task's own.
    let shells: Vec<&str> = spawned
        .iter()
        .filter(|c| c.path.ends_with("/sh"))
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(shells.len(), 1, "one task ran: {shells:?}");
    let others: Vec<&str> = spawned
        .iter()
        .map(|c| c.path.as_str())
        .filter(|p| !p.ends_with("/sh") && !p.ends_with("/cat"))
        .filter(|p| !p.ends_with("/conduct"))
        .collect();
    assert!(others.is_empty(), "nothing else was started: {others:?}");
    // The edited file, only: read to hash it, and (its times being this moment's, too
    // recent to trust: the racy-timestamp rule of `scan.rs`) again after the task ran,
    // to see that it did not change meanwhile.
    let hashed: BTreeSet<&str> = under(&own, "/src/")
        .into_iter()
        .filter(|c| is_open(c))
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(hashed.len(), 1, "one source read: {hashed:?}");
    assert!(
        hashed.iter().all(|p| p.ends_with("/src/t999.txt")),
        "{hashed:?}"
    );
}
