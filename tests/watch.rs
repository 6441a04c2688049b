//! `conduct watch` (issue 20) as a child process on temporary projects: the tests read
//! its JSON events as they come (a thread per child) and wait on them, never on a
//! clock. Tasks append their id to `ran.log`, as everywhere else.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

use crate::test::Project;

/// The longest a test waits for the next event before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `conduct watch --json` and the events it printed.
struct Watching {
    child: Child,
    events: Receiver<Value>,
    /// Every event so far, for failure messages.
    seen: Vec<Value>,
}

impl Watching {
    fn start(project: &Project, args: &[&str]) -> Watching {
        let mut child = Command::new(crate::test::binary())
            .arg("watch")
            .arg("--json")
            .args(args)
            .current_dir(project.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start conduct watch");
        let stdout = child.stdout.take().expect("its stdout");
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        Watching {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// The events up to and including the next one named `name`.
    #[track_caller]
    fn until(&mut self, name: &str) -> Vec<Value> {
        let mut these = Vec::new();
        loop {
            let event = self
                .events
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no `{name}` event; so far: {:#?}", self.seen));
            self.seen.push(event.clone());
            let done = event["event"] == name;
            these.push(event);
            if done {
                return these;
            }
        }
    }

    /// The very next event, which must be named `name`.
    #[track_caller]
    fn next_is(&mut self, name: &str) -> Value {
        let event = self
            .events
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no event; so far: {:#?}", self.seen));
        self.seen.push(event.clone());
        assert_eq!(event["event"], name, "so far: {:#?}", self.seen);
        event
    }

    /// Send SIGINT and wait for the exit code.
    fn interrupt(&mut self) -> Option<i32> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT");
        self.child.wait().expect("wait for conduct watch").code()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tasks an event list started.
fn started(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "task_started")
        .map(|e| e["task"].as_str().unwrap_or_default().to_owned())
        .collect()
}

const SECTIONS: &str = r#"
    [tasks.A]
    inputs = ["plan.md#A"]
    outputs = ["a.txt"]
    run = "echo A >> ran.log; echo a > a.txt"

    [tasks.B]
    inputs = ["plan.md#B"]
    outputs = ["b.txt"]
    run = "echo B >> ran.log; echo b > b.txt"

    [tasks.C]
    deps = ["A"]
    inputs = ["a.txt"]
    outputs = ["c.txt"]
    run = "echo C >> ran.log; cp a.txt c.txt"
"#;

const PLAN: &str = "# Plan\n\n## A: One\n\nfirst\n\n## B: Two\n\nsecond\n";

fn sections() -> Project {
    let project = Project::new(SECTIONS);
    project.file("plan.md", PLAN);
    project
}

/// Editing one section reruns exactly the task that reads it; what the first round
/// wrote (outputs, the cache) starts no round of its own; a file no task reads starts
/// none either.
#[test]
fn editing_a_section_reruns_exactly_that_task() {
    let project = sections();
    let mut watch = Watching::start(&project, &[]);
    let first = watch.until("build_finished");
    let mut ran = started(&first);
    ran.sort();
    assert_eq!(ran, ["A", "B", "C"]);
    // Its own writes: no round, straight to waiting.
    watch.next_is("watching");
    project.file("notes.txt", "no task reads this\n");
    project.file("plan.md", &PLAN.replace("second", "second, edited"));
    let round = watch.next_is("watch_round");
    assert_eq!(round["round"], 2, "the unread file started no round");
    assert_eq!(round["changed"], serde_json::json!(["plan.md"]));
    let second = watch.until("build_finished");
    assert_eq!(started(&second), ["B"]);
    assert_eq!(second.last().unwrap()["counts"]["ran"], 1);
    watch.next_is("watching");
    assert_eq!(watch.interrupt(), Some(130));
    let mut ran = project.ran();
    ran[..3].sort();
    assert_eq!(ran, ["A", "B", "C", "B"], "what ran, in all");
}

/// A hand edit of an output starts a round, and its task is checked as in a build
/// (refused: edited by hand).
#[test]
fn a_hand_edit_of_an_output_starts_a_round() {
    let project = sections();
    let mut watch = Watching::start(&project, &[]);
    watch.until("build_finished");
    watch.next_is("watching");
    project.file("c.txt", "mine\n");
    let round = watch.next_is("watch_round");
    assert_eq!(round["changed"], serde_json::json!(["c.txt"]));
    let events = watch.until("build_finished");
    assert!(started(&events).is_empty(), "{events:#?}");
    assert_eq!(events.last().unwrap()["counts"]["edited"], 1, "{events:#?}");
    assert_eq!(project.read("c.txt"), "mine\n", "the edit is kept");
}

/// A tasks.toml that does not load is reported as `check` reports it and the last
/// good config stays; once fixed, the next round uses it.
#[test]
fn a_broken_config_is_reported_and_the_last_good_one_kept() {
    let project = sections();
    let mut watch = Watching::start(&project, &[]);
    watch.until("build_finished");
    watch.next_is("watching");
    project.file("tasks.toml", &format!("{SECTIONS}\n[tasks.D\n"));
    let error = watch.next_is("error");
    assert_eq!(error["kind"], "config", "{error:#}");
    assert!(
        error["errors"][0]["line"].as_u64().is_some(),
        "the error says where: {error:#}"
    );
    project.file(
        "tasks.toml",
        &format!("{SECTIONS}\n[tasks.D]\noutputs = [\"d.txt\"]\nrun = \"echo D >> ran.log; echo d > d.txt\"\n"),
    );
    let round = watch.next_is("watch_round");
    assert_eq!(round["changed"], serde_json::json!(["tasks.toml"]));
    let events = watch.until("build_finished");
    assert_eq!(started(&events), ["D"], "{events:#?}");
}

/// Fifty files saved at once are one burst: one round, which runs the task that reads
/// them once.
#[test]
fn a_burst_of_fifty_saves_is_one_round() {
    let project = Project::new(
        "[tasks.T]\ninputs = [\"src/*.txt\"]\noutputs = [\"all.txt\"]\n\
         run = \"echo T >> ran.log; cat src/*.txt > all.txt\"\n\
         [tasks.U]\ninputs = [\"u.txt\"]\nrun = \"echo U >> ran.log\"\n",
    );
    project.file("src/0.txt", "0\n");
    project.file("u.txt", "u\n");
    let mut watch = Watching::start(&project, &[]);
    watch.until("build_finished");
    watch.next_is("watching");
    for i in 0..50 {
        project.file(&format!("src/{i}.txt"), &format!("saved {i}\n"));
    }
    let round = watch.next_is("watch_round");
    assert_eq!(round["round"], 2);
    assert_eq!(round["changed"].as_array().map(Vec::len), Some(50));
    let events = watch.until("build_finished");
    assert_eq!(started(&events), ["T"]);
    watch.next_is("watching");
    // The next round is the third: the burst made exactly one.
    project.file("u.txt", "changed\n");
    assert_eq!(watch.next_is("watch_round")["round"], 3);
    assert_eq!(started(&watch.until("build_finished")), ["U"]);
}

/// An editor that saves by writing a new file and renaming it over the old one.
#[test]
fn a_save_by_rename_is_seen() {
    let project = sections();
    let mut watch = Watching::start(&project, &[]);
    watch.until("build_finished");
    watch.next_is("watching");
    project.file(".plan.md.swp", &PLAN.replace("first", "first, edited"));
    std::fs::rename(
        project.path().join(".plan.md.swp"),
        project.path().join("plan.md"),
    )
    .unwrap();
    let round = watch.next_is("watch_round");
    assert_eq!(round["changed"], serde_json::json!(["plan.md"]));
    assert_eq!(
        started(&watch.until("build_finished")),
        ["A"],
        "A's section changed; its output did not, so C stays fresh"
    );
}

/// An input edited while its task runs: the run is not recorded as fresh, and the
/// next round starts at once and runs it again.
#[test]
fn an_input_changed_while_its_task_ran_runs_it_again() {
    let project = Project::new(
        "[tasks.T]\ninputs = [\"in.txt\"]\noutputs = [\"out.txt\"]\nrun = '''\n\
         echo T >> ran.log; cp in.txt out.txt; touch running\n\
         for i in $(seq 600); do [ -e go ] && break; sleep 0.05; done; rm -f go running\n'''\n",
    );
    project.file("in.txt", "one\n");
    let mut watch = Watching::start(&project, &[]);
    watch.until("task_started");
    while !project.path().join("running").exists() {
        std::thread::yield_now();
    }
    project.file("in.txt", "two\n");
    project.file("go", "");
    let first = watch.until("build_finished");
    assert!(
        first.iter().any(|e| e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap_or("")
                .contains("changed while it ran")),
        "{first:#?}"
    );
    let round = watch.next_is("watch_round");
    assert_eq!(round["changed"], serde_json::json!([]), "asked for again");
    watch.until("task_started");
    project.file("go", "");
    watch.until("build_finished");
    assert_eq!(project.read("out.txt"), "two\n");
    watch.next_is("watching");
}

/// Ctrl-C while waiting ends the watch with 130.
#[test]
fn ctrl_c_ends_the_watch_with_130() {
    let project = sections();
    let mut watch = Watching::start(&project, &[]);
    watch.until("build_finished");
    watch.next_is("watching");
    assert_eq!(watch.interrupt(), Some(130));
}

/// Round after round on what the last round found (the scan looks only at what was
/// touched): an edit that changes a task's output reaches the task that reads it,
/// every time; a deleted output comes back from the cache.
#[test]
fn edits_reach_downstream_round_after_round() {
    let project = Project::new(
        "[tasks.A]\ninputs = [\"in.txt\"]\noutputs = [\"a.txt\"]\n\
         run = \"echo A >> ran.log; cp in.txt a.txt\"\n\
         [tasks.C]\ninputs = [\"a.txt\"]\noutputs = [\"c.txt\"]\n\
         run = \"echo C >> ran.log; cp a.txt c.txt\"\n\
         [tasks.Z]\ninputs = [\"z.txt\"]\noutputs = [\"zz.txt\"]\n\
         run = \"echo Z >> ran.log; cp z.txt zz.txt\"\n",
    );
    project.file("in.txt", "0\n");
    project.file("z.txt", "z\n");
    let mut watch = Watching::start(&project, &[]);
    watch.until("build_finished");
    watch.next_is("watching");
    for round in 1..=3 {
        project.file("in.txt", &format!("{round}\n"));
        watch.next_is("watch_round");
        assert_eq!(started(&watch.until("build_finished")), ["A", "C"]);
        watch.next_is("watching");
        assert_eq!(project.read("c.txt"), format!("{round}\n"));
    }
    std::fs::remove_file(project.path().join("zz.txt")).unwrap();
    assert_eq!(
        watch.next_is("watch_round")["changed"],
        serde_json::json!(["zz.txt"])
    );
    let events = watch.until("build_finished");
    assert!(started(&events).is_empty(), "{events:#?}");
    assert_eq!(
        events.last().unwrap()["counts"]["restored"],
        1,
        "{events:#?}"
    );
    assert_eq!(project.read("zz.txt"), "z\n");
}

/// A build that cannot start (an input is missing) is reported, and the watch goes
/// on: the file's arrival starts the round that runs its task.
#[test]
fn a_missing_input_is_reported_and_its_arrival_builds() {
    let project = Project::new(
        "[tasks.T]\ninputs = [\"in.txt\"]\noutputs = [\"out.txt\"]\n\
         run = \"echo T >> ran.log; cp in.txt out.txt\"\n",
    );
    let mut watch = Watching::start(&project, &[]);
    let error = watch.next_is("error");
    assert!(
        error["message"].as_str().unwrap_or("").contains("in.txt")
            || error.to_string().contains("in.txt"),
        "{error:#}"
    );
    watch.next_is("watching");
    project.file("in.txt", "here\n");
    assert_eq!(
        watch.next_is("watch_round")["changed"],
        serde_json::json!(["in.txt"])
    );
    assert_eq!(started(&watch.until("build_finished")), ["T"]);
    assert_eq!(project.read("out.txt"), "here\n");
}
