//! The coordinator's unit tests, ninja `build_test.cc` style: a real project in a
//! temporary directory, a real session and scheduler, and the fake executor in place of
//! processes. A test decides how each job ends (and, for held jobs, when), then checks
//! what started, in which order, how many at once, and what the state recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::{BuildOptions, build_with};
use crate::exec::fake::{FakeExecutor, Logged, PATIENCE, Script};
use crate::exec::{Exit, Job};
use crate::explain::RunStatus;
use crate::project::Locator;
use crate::project::open::Access;
use crate::report::progress::Style;
use crate::report::record::{self, TaskStatus};
use crate::session::Session;
use crate::state::LastRun;

/// A temporary project.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(tasks_toml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tasks.toml"), tasks_toml).unwrap();
        Project { dir }
    }

    fn file(self, path: &str, text: &str) -> Project {
        self.write(path, text);
        self
    }

    fn write(&self, path: &str, text: &str) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(path)).ok()
    }

    fn locator(&self) -> Locator {
        Locator {
            directory: Some(self.dir.path().to_path_buf()),
            file: None,
            vars: Vec::new(),
            remote: None,
            remote_mode: None,
        }
    }

    /// Build with `fake`, options as `tweak` sets them; the exit code.
    fn build(&self, fake: &Arc<FakeExecutor>, tweak: impl FnOnce(&mut BuildOptions)) -> i32 {
        self.build_interruptible(fake, Arc::default(), tweak)
    }

    fn build_interruptible(
        &self,
        fake: &Arc<FakeExecutor>,
        interrupt: Arc<AtomicBool>,
        tweak: impl FnOnce(&mut BuildOptions),
    ) -> i32 {
        let mut options = BuildOptions {
            jobs: Some(4),
            ..BuildOptions::of(Vec::new(), Style::Quiet)
        };
        tweak(&mut options);
        let executor: Arc<dyn crate::exec::Executor> = fake.clone();
        build_with(
            &self.locator(),
            &options,
            &|_: &Session, _: &crate::graph::Selection| Ok(Arc::clone(&executor)),
            interrupt,
        )
        .unwrap()
    }

    /// The same, on a thread of its own, so the test can drive held jobs.
    fn build_in_background(
        self: &Arc<Self>,
        fake: &Arc<FakeExecutor>,
        interrupt: Arc<AtomicBool>,
        tweak: impl FnOnce(&mut BuildOptions) + Send + 'static,
    ) -> Background {
        let (project, fake) = (Arc::clone(self), Arc::clone(fake));
        let (done, code) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(project.build_interruptible(&fake, interrupt, tweak));
        });
        Background { code }
    }

    /// What the state says of `task`'s last attempt, and whether it has a success.
    fn record(&self, task: &str) -> (Option<LastRun>, bool) {
        let session = Session::open(&self.locator(), Access::Read).unwrap();
        let state = session.state().tasks.get(task);
        (
            state.and_then(|s| s.last_run.as_deref().cloned()),
            state.is_some_and(|s| s.success.is_some()),
        )
    }

    /// How each task ended in the last build, by its run record: `(id, status, blocked
    /// by)`.
    fn last_build(&self) -> Vec<(String, TaskStatus, Option<String>)> {
        let runs = record::list(&self.dir.path().join(".cache/runs")).unwrap();
        let last = record::load_from_cache(runs.last().expect("a run record")).unwrap();
        last.tasks
            .into_iter()
            .map(|t| (t.id, t.status, t.blocked_by))
            .collect()
    }

    fn status(&self, task: &str) -> Option<RunStatus> {
        self.record(task).0.map(|run| run.status)
    }
}

/// A build running on its own thread.
struct Background {
    code: mpsc::Receiver<i32>,
}

impl Background {
    /// Its exit code; a build that does not end within `PATIENCE` fails the test
    /// (rather than hanging it).
    #[track_caller]
    fn join(self) -> i32 {
        match self.code.recv_timeout(PATIENCE) {
            Ok(code) => code,
            Err(_) => panic!("the build did not end"),
        }
    }
}

/// A fake whose every job succeeds at once, writing `<label>.out`.
fn writes_its_output() -> Arc<FakeExecutor> {
    Arc::new(FakeExecutor::new(out))
}

fn out(job: &Job) -> Script {
    let path = format!("{}.out", job.label);
    Script::ok(&[(path.as_str(), job.label.as_str())])
}

/// Which attempt a task's job is (`CONDUCT_ATTEMPT`).
fn attempt(job: &Job) -> u32 {
    env(job, "CONDUCT_ATTEMPT")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

fn env<'j>(job: &'j Job, name: &str) -> Option<&'j str> {
    job.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `n` independent tasks `t1..tn`, each writing `tN.out`, with `extra` lines each.
fn independent(n: usize, extra: &str) -> String {
    (1..=n)
        .map(|i| format!("[tasks.t{i}]\noutputs = [\"t{i}.out\"]\nrun = \"x\"\n{extra}\n"))
        .collect()
}

/// Index of `entry` in `log` (panics if absent).
fn at(log: &[Logged], entry: &Logged) -> usize {
    log.iter()
        .position(|e| e == entry)
        .unwrap_or_else(|| panic!("{entry:?} not in {log:?}"))
}

fn start(label: &str) -> Logged {
    Logged::Start(label.to_owned())
}

fn end(label: &str, exit: Exit) -> Logged {
    Logged::End(label.to_owned(), exit)
}

const CHAIN: &str = r#"
[tasks.a]
inputs = ["in.txt"]
outputs = ["a.out"]
run = "x"
[tasks.b]
inputs = ["a.out"]
outputs = ["b.out"]
run = "x"
[tasks.c]
inputs = ["b.out"]
outputs = ["c.out"]
run = "x"
[tasks.d]
outputs = ["d.out"]
run = "x"
[tasks.e]
inputs = ["d.out"]
outputs = ["e.out"]
run = "x"
"#;

#[test]
fn every_task_runs_once_after_its_dependencies() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    let fake = writes_its_output();
    assert_eq!(project.build(&fake, |_| {}), 0);
    let mut started = fake.started();
    started.sort();
    assert_eq!(started, ["a", "b", "c", "d", "e"]);
    let log = fake.log();
    for (before, after) in [("a", "b"), ("b", "c"), ("d", "e")] {
        assert!(
            at(&log, &end(before, Exit::Success)) < at(&log, &start(after)),
            "{after} started before {before} ended: {log:?}"
        );
    }
    assert_eq!(project.read("c.out").as_deref(), Some("c"));
}

#[test]
fn a_second_build_starts_nothing() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    assert_eq!(project.build(&writes_its_output(), |_| {}), 0);
    let again = writes_its_output();
    assert_eq!(project.build(&again, |_| {}), 0);
    assert!(again.started().is_empty(), "{:?}", again.started());
}

#[test]
fn an_unchanged_output_stops_the_rerun_at_its_task() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    assert_eq!(project.build(&writes_its_output(), |_| {}), 0);
    project.write("in.txt", "2");
    let again = writes_its_output();
    assert_eq!(project.build(&again, |_| {}), 0);
    // `a` writes what it wrote before: `b` and `c` keep their outputs.
    assert_eq!(again.started(), ["a"]);
}

#[test]
fn a_deleted_output_comes_back_from_the_cache_without_a_job() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    assert_eq!(project.build(&writes_its_output(), |_| {}), 0);
    std::fs::remove_file(project.dir.path().join("b.out")).unwrap();
    let again = writes_its_output();
    assert_eq!(project.build(&again, |_| {}), 0);
    assert!(again.started().is_empty(), "{:?}", again.started());
    assert_eq!(project.read("b.out").as_deref(), Some("b"));
}

#[test]
fn a_dry_run_starts_nothing_and_records_nothing() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    let fake = writes_its_output();
    assert_eq!(project.build(&fake, |o| o.dry_run = true), 0);
    assert!(fake.started().is_empty());
    assert_eq!(project.record("a"), (None, false));
}

#[test]
fn the_longest_remaining_path_starts_first() {
    let project = Project::new(
        r#"
        [tasks.s1]
        effort = "1m"
        run = "x"
        [tasks.s2]
        effort = "1m"
        run = "x"
        [tasks.l1]
        effort = "1h"
        run = "x"
        [tasks.l2]
        effort = "1h"
        deps = ["l1"]
        run = "x"
        [tasks.l3]
        effort = "1h"
        deps = ["l2"]
        run = "x"
        "#,
    );
    let fake = Arc::new(FakeExecutor::new(|_| Script::ok(&[])));
    assert_eq!(project.build(&fake, |o| o.jobs = Some(1)), 0);
    let started = fake.started();
    assert_eq!(started[..3], ["l1", "l2", "l3"], "{started:?}");
}

#[test]
fn recorded_durations_outrank_declaration_order() {
    let project = Project::new(&independent(2, ""));
    // t2 took ten times longer than t1: the next build starts it first.
    let fake = Arc::new(FakeExecutor::new(|job| {
        let takes = if job.label == "t2" { 10_000 } else { 1_000 };
        out(job).taking(Duration::from_millis(takes))
    }));
    assert_eq!(project.build(&fake, |o| o.jobs = Some(1)), 0);
    assert_eq!(fake.started(), ["t1", "t2"], "declaration order first");
    let again = writes_its_output();
    assert_eq!(
        project.build(&again, |o| {
            o.jobs = Some(1);
            o.force = true;
        }),
        0
    );
    assert_eq!(again.started(), ["t2", "t1"]);
}

/// Run a build of held jobs to its end, releasing the oldest running job each time
/// `full` running jobs are waiting (fewer once fewer are left); returns the exit code.
fn drive(
    project: &Arc<Project>,
    fake: &Arc<FakeExecutor>,
    tasks: usize,
    full: impl Fn(usize) -> usize,
    tweak: impl FnOnce(&mut BuildOptions) + Send + 'static,
) -> i32 {
    let build = project.build_in_background(fake, Arc::default(), tweak);
    for done in 0..tasks {
        let want = full(tasks - done);
        assert!(
            fake.wait_for(|running| running.len() >= want),
            "never {want} running: {:?}",
            fake.running()
        );
        let oldest = fake.running()[0].clone();
        fake.release(&oldest);
        assert!(fake.wait_for(|running| !running.contains(&oldest)));
    }
    build.join()
}

#[test]
fn never_more_than_j_jobs_at_once() {
    let project = Arc::new(Project::new(&independent(6, "")));
    let fake = Arc::new(FakeExecutor::new(|job| out(job).held()));
    let code = drive(&project, &fake, 6, |left| left.min(2), |o| o.jobs = Some(2));
    assert_eq!(code, 0);
    assert_eq!(fake.most_at_once(|_| true), 2);
    assert_eq!(fake.started().len(), 6);
}

#[test]
fn a_group_pool_bounds_its_own_tasks_only() {
    let toml = format!(
        "[groups.g]\njobs = 1\n{}{}",
        (1..=3)
            .map(|i| format!(
                "[tasks.g{i}]\ngroup = \"g\"\noutputs = [\"g{i}.out\"]\nrun = \"x\"\n"
            ))
            .collect::<String>(),
        independent(2, "")
    );
    let project = Arc::new(Project::new(&toml));
    let fake = Arc::new(FakeExecutor::new(|job| out(job).held()));
    // With -j 4: one task of the group and both others run at once, never two of g.
    let build = project.build_in_background(&fake, Arc::default(), |o| o.jobs = Some(4));
    assert!(fake.wait_for(|running| running.len() == 3));
    for _ in 0..5 {
        assert!(fake.wait_for(|running| !running.is_empty()));
        let oldest = fake.running()[0].clone();
        fake.release(&oldest);
        assert!(fake.wait_for(|running| !running.contains(&oldest)));
    }
    assert_eq!(build.join(), 0);
    assert_eq!(fake.most_at_once(|label| label.starts_with('g')), 1);
    assert_eq!(fake.started().len(), 5);
}

#[test]
fn a_failure_blocks_exactly_its_dependents() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    let fake = Arc::new(FakeExecutor::new(|job| match job.label.as_str() {
        "a" => Script::fails(3),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 1);
    let mut started = fake.started();
    started.sort();
    assert_eq!(started, ["a", "d", "e"]);
    assert_eq!(project.status("a"), Some(RunStatus::Failed));
    assert_eq!(project.status("e"), Some(RunStatus::Ok));
    assert_eq!(
        project.record("b"),
        (None, false),
        "blocked: never attempted"
    );
    assert_eq!(project.record("c"), (None, false));
    let blocked = |by: &str| (TaskStatus::Blocked, Some(by.to_owned()));
    let ended: Vec<_> = project
        .last_build()
        .into_iter()
        .map(|(id, status, by)| (id, (status, by)))
        .collect();
    assert_eq!(
        ended,
        [
            ("a".to_owned(), (TaskStatus::Failed, None)),
            ("b".to_owned(), blocked("a")),
            ("c".to_owned(), blocked("a")),
            ("d".to_owned(), (TaskStatus::Ok, None)),
            ("e".to_owned(), (TaskStatus::Ok, None)),
        ]
    );
}

const FAILS_FIRST: &str = r#"
[tasks.first]
effort = "1h"
run = "x"
[tasks.x]
outputs = ["x.out"]
run = "x"
[tasks.y]
outputs = ["y.out"]
run = "x"
"#;

#[test]
fn keep_going_runs_independent_work_after_a_failure() {
    let project = Project::new(FAILS_FIRST);
    let fake = Arc::new(FakeExecutor::new(|job| match job.label.as_str() {
        "first" => Script::fails(1),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |o| o.jobs = Some(1)), 1);
    assert_eq!(fake.started(), ["first", "x", "y"]);
    assert_eq!(project.status("y"), Some(RunStatus::Ok));
}

#[test]
fn fail_fast_starts_nothing_after_a_failure() {
    let project = Project::new(FAILS_FIRST);
    let fake = Arc::new(FakeExecutor::new(|job| match job.label.as_str() {
        "first" => Script::fails(1),
        _ => out(job),
    }));
    let code = project.build(&fake, |o| {
        o.jobs = Some(1);
        o.fail_fast = true;
    });
    assert_eq!(code, 1);
    assert_eq!(fake.started(), ["first"]);
    assert_eq!(project.record("x"), (None, false));
}

#[test]
fn fail_fast_lets_running_jobs_finish() {
    let project = Arc::new(Project::new(FAILS_FIRST));
    let fake = Arc::new(FakeExecutor::new(|job| match job.label.as_str() {
        "first" => Script::fails(1).held(),
        _ => out(job).held(),
    }));
    let build = project.build_in_background(&fake, Arc::default(), |o| {
        o.jobs = Some(2);
        o.fail_fast = true;
    });
    assert!(fake.wait_for(|running| running.len() == 2));
    let other = fake.running().into_iter().find(|l| l != "first").unwrap();
    fake.release("first");
    assert!(fake.wait_for(|running| running == [other.clone()]));
    fake.release(&other);
    assert_eq!(build.join(), 1);
    assert_eq!(fake.started().len(), 2, "the third never starts");
    assert_eq!(project.status(&other), Some(RunStatus::Ok), "not cancelled");
}

#[test]
fn a_failed_command_is_retried_with_its_attempt_number() {
    let project = Project::new("[tasks.t]\noutputs = [\"t.out\"]\nrun = \"x\"\nretries = 2\n");
    let fake = Arc::new(FakeExecutor::new(|job| match attempt(job) {
        1 | 2 => Script::fails(1),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 0);
    let attempts: Vec<u32> = fake.jobs().iter().map(attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    let (last, success) = project.record("t");
    assert_eq!(
        last.map(|l| (l.status, l.attempts)),
        Some((RunStatus::Ok, 3))
    );
    assert!(success);
}

#[test]
fn retries_end_at_their_count() {
    let project = Project::new("[tasks.t]\nrun = \"x\"\nretries = 1\n");
    let fake = Arc::new(FakeExecutor::new(|_| Script::fails(2)));
    assert_eq!(project.build(&fake, |_| {}), 1);
    assert_eq!(fake.started(), ["t", "t"]);
    assert_eq!(project.status("t"), Some(RunStatus::Failed));
}

fn lost() -> Script {
    Script {
        exit: Exit::Lost {
            why: "lost by the cluster (NODE_FAIL)".to_owned(),
        },
        ..Script::ok(&[])
    }
}

#[test]
fn a_job_the_cluster_lost_runs_again_without_using_the_tasks_retries() {
    // No `retries`: a lost job still runs again, as its next attempt.
    let project = Project::new("[tasks.t]\noutputs = [\"t.out\"]\nrun = \"x\"\n");
    let fake = Arc::new(FakeExecutor::new(|job| match attempt(job) {
        1 => lost(),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 0);
    let attempts: Vec<u32> = fake.jobs().iter().map(attempt).collect();
    assert_eq!(attempts, [1, 2]);
    // With `retries = 1`, a lost attempt and then a failure still leave the retry.
    let project = Project::new("[tasks.t]\noutputs = [\"t.out\"]\nrun = \"x\"\nretries = 1\n");
    let fake = Arc::new(FakeExecutor::new(|job| match attempt(job) {
        1 => lost(),
        2 => Script::fails(1),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 0);
    assert_eq!(fake.started(), ["t", "t", "t"]);
}

#[test]
fn a_job_lost_again_and_again_fails_after_three_reruns() {
    let project =
        Project::new("[tasks.t]\nrun = \"x\"\n[tasks.after]\ndeps = [\"t\"]\nrun = \"x\"\n");
    let fake = Arc::new(FakeExecutor::new(|_| lost()));
    assert_eq!(project.build(&fake, |_| {}), 1);
    assert_eq!(
        fake.started(),
        ["t", "t", "t", "t"],
        "the first and 3 reruns"
    );
    let (last, _) = project.record("t");
    assert_eq!(
        last.map(|l| (l.status, l.attempts)),
        Some((RunStatus::Failed, 4))
    );
    assert!(project.last_build().contains(&(
        "after".into(),
        TaskStatus::Blocked,
        Some("t".into())
    )));
}

#[test]
fn a_task_that_passes_after_failing_with_the_same_key_is_flaky() {
    // In one build: a failed attempt, then a passing retry.
    let project = Project::new("[tasks.t]\noutputs = [\"t.out\"]\nrun = \"x\"\nretries = 1\n");
    let fake = Arc::new(FakeExecutor::new(|job| match attempt(job) {
        1 => Script::fails(1),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 0);
    assert_eq!(project.record("t").0.map(|l| l.flaky), Some(true));
    // Across builds: it failed, then passes on the same inputs.
    let project =
        Project::new("[tasks.t]\ninputs = [\"in\"]\noutputs = [\"t.out\"]\nrun = \"x\"\n")
            .file("in", "1");
    let failing = Arc::new(FakeExecutor::new(|_| Script::fails(1)));
    assert_eq!(project.build(&failing, |_| {}), 1);
    assert_eq!(project.build(&writes_its_output(), |_| {}), 0);
    assert_eq!(project.record("t").0.map(|l| l.flaky), Some(true));
    // Not when its inputs changed in between: that is a fix, not luck.
    let project =
        Project::new("[tasks.t]\ninputs = [\"in\"]\noutputs = [\"t.out\"]\nrun = \"x\"\n")
            .file("in", "1");
    assert_eq!(project.build(&failing, |_| {}), 1);
    project.write("in", "2");
    assert_eq!(project.build(&writes_its_output(), |_| {}), 0);
    assert_eq!(project.record("t").0.map(|l| l.flaky), Some(false));
}

#[test]
fn a_failed_check_reruns_the_command_with_the_feedback() {
    let project = Project::new(
        "[tasks.t]\noutputs = [\"t.out\"]\nrun = \"x\"\nchecks = [\"non_empty\"]\nretries = 1\n",
    );
    let fake = Arc::new(FakeExecutor::new(|job| match attempt(job) {
        1 => Script::ok(&[("t.out", "")]),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 0);
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(env(&jobs[0], "CONDUCT_FEEDBACK"), None);
    let feedback = env(&jobs[1], "CONDUCT_FEEDBACK").expect("the retry is told");
    let said = std::fs::read_to_string(feedback).unwrap();
    assert!(said.contains("check non_empty failed"), "{said}");
}

/// The merge queue sends a task back with feedback: its first attempt is told, the
/// other tasks of the build are not.
#[test]
fn a_task_sent_back_is_told_why_on_its_first_attempt() {
    let project = Project::new(
        "[tasks.t]\noutputs = [\"t.out\"]\nrun = \"x\"\n[tasks.u]\ndeps = [\"t\"]\nrun = \"x\"\n",
    );
    let fake = Arc::new(FakeExecutor::new(out));
    let code = project.build(&fake, |options| {
        options.force = true;
        options.sent_back = vec![crate::build::SentBack {
            task: "t".to_owned(),
            feedback: "it conflicts in t.out".to_owned(),
        }];
    });
    assert_eq!(code, 0);
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 2);
    let told = env(&jobs[0], "CONDUCT_FEEDBACK").expect("t is told");
    assert_eq!(
        std::fs::read_to_string(told).unwrap(),
        "it conflicts in t.out"
    );
    assert_eq!(env(&jobs[1], "CONDUCT_FEEDBACK"), None, "u is not");
}

#[test]
fn fail_fast_retries_a_task_only_while_nothing_else_failed() {
    let toml = "[tasks.a]\nrun = \"x\"\n[tasks.b]\nrun = \"x\"\nretries = 1\n";
    // Before any failure, its own retry comes first.
    let alone = Project::new(toml);
    let fake = Arc::new(FakeExecutor::new(|job| {
        match (job.label.as_str(), attempt(job)) {
            ("b", 1) => Script::fails(1),
            _ => Script::ok(&[]),
        }
    }));
    assert_eq!(alone.build(&fake, |o| o.fail_fast = true), 0);
    assert_eq!(fake.started().iter().filter(|l| *l == "b").count(), 2);
    // Once `a` has failed, `b` is not run again.
    let after = Arc::new(Project::new(toml));
    let fake = Arc::new(FakeExecutor::new(|_| Script::fails(1).held()));
    let build = after.build_in_background(&fake, Arc::default(), |o| {
        o.jobs = Some(2);
        o.fail_fast = true;
    });
    assert!(fake.wait_for(|running| running.len() == 2));
    fake.release("a");
    assert!(fake.wait_for(|running| running == ["b"]));
    fake.release("b");
    assert_eq!(build.join(), 1);
    assert_eq!(fake.started().len(), 2, "{:?}", fake.started());
    assert_eq!(
        after.status("b"),
        Some(RunStatus::Failed),
        "failed, not left waiting"
    );
}

#[test]
fn a_job_over_its_timeout_is_recorded_as_timed_out() {
    let project = Project::new(
        "[tasks.slow]\noutputs = [\"slow.out\"]\nrun = \"x\"\ntimeout = \"1s\"\n[tasks.after]\ninputs = [\"slow.out\"]\nrun = \"x\"\n",
    );
    let fake = Arc::new(FakeExecutor::new(|job| {
        out(job).taking(Duration::from_secs(60))
    }));
    assert_eq!(project.build(&fake, |_| {}), 1);
    assert_eq!(fake.log(), [start("slow"), end("slow", Exit::TimedOut)]);
    let (last, success) = project.record("slow");
    let last = last.unwrap();
    assert_eq!((last.status, last.duration_ms), (RunStatus::TimedOut, 1000));
    assert!(!success);
    assert_eq!(project.record("after"), (None, false));
}

#[test]
fn a_timed_out_attempt_is_retried() {
    let project = Project::new("[tasks.t]\nrun = \"x\"\ntimeout = \"1s\"\nretries = 1\n");
    let fake = Arc::new(FakeExecutor::new(|job| match attempt(job) {
        1 => Script::ok(&[]).taking(Duration::from_secs(60)),
        _ => Script::ok(&[]),
    }));
    assert_eq!(project.build(&fake, |_| {}), 0);
    assert_eq!(
        fake.log(),
        [
            start("t"),
            end("t", Exit::TimedOut),
            start("t"),
            end("t", Exit::Success)
        ]
    );
}

#[test]
fn ctrl_c_cancels_every_job_and_records_no_success() {
    let project = Arc::new(Project::new(CHAIN).file("in.txt", "1"));
    let fake = Arc::new(FakeExecutor::new(|job| out(job).held()));
    let interrupt = Arc::new(AtomicBool::new(false));
    let build = project.build_in_background(&fake, Arc::clone(&interrupt), |_| {});
    assert!(fake.wait_for(|running| running.len() == 2), "a and d run");
    interrupt.store(true, Ordering::Relaxed);
    assert_eq!(build.join(), 130);
    let mut ended: Vec<Logged> = fake
        .log()
        .into_iter()
        .filter(|e| matches!(e, Logged::End(..)))
        .collect();
    ended.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        ended,
        [end("a", Exit::Cancelled), end("d", Exit::Cancelled)]
    );
    for task in ["a", "d"] {
        let (last, success) = project.record(task);
        assert_eq!(last.map(|l| l.status), Some(RunStatus::Interrupted));
        assert!(!success, "{task} was recorded as a success");
    }
    assert_eq!(fake.started().len(), 2, "nothing else started");
}

#[test]
fn after_ctrl_c_nothing_new_starts() {
    let project = Arc::new(Project::new(&independent(3, "")));
    let fake = Arc::new(FakeExecutor::new(|job| out(job).held()));
    let interrupt = Arc::new(AtomicBool::new(false));
    let build = project.build_in_background(&fake, Arc::clone(&interrupt), |o| o.jobs = Some(1));
    assert!(fake.wait_for(|running| running.len() == 1));
    interrupt.store(true, Ordering::Relaxed);
    assert_eq!(build.join(), 130);
    assert_eq!(fake.started().len(), 1);
}

#[test]
fn a_missing_output_fails_the_task_and_blocks_its_dependents() {
    let project = Project::new(CHAIN).file("in.txt", "1");
    let fake = Arc::new(FakeExecutor::new(|job| match job.label.as_str() {
        "d" => Script::ok(&[]),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 1);
    assert!(!project.record("d").1, "no success recorded");
    assert_eq!(project.status("d"), Some(RunStatus::Failed));
    assert_eq!(project.record("e"), (None, false));
    assert_eq!(project.status("c"), Some(RunStatus::Ok));
}

#[test]
fn a_program_that_cannot_start_fails_its_task() {
    let project = Project::new("[tasks.t]\nrun = [\"no-such-program\"]\n");
    let fake = Arc::new(FakeExecutor::new(|_| Script {
        exit: Exit::SpawnFailed {
            error: "not found".to_owned(),
        },
        ..Script::ok(&[])
    }));
    assert_eq!(project.build(&fake, |_| {}), 1);
    assert_eq!(project.status("t"), Some(RunStatus::Failed));
}

#[test]
fn a_run_rule_and_a_command_input_go_through_the_executor() {
    let project = Project::new(
        "[tasks.t]\ninputs = [{ command = \"tool --version\" }]\noutputs = [\"t.out\"]\nrun = \"x\"\nchecks = [\"lint\"]\n",
    )
    .file("rules/lint.toml", "run = \"lint $CONDUCT_OUTPUT\"\n");
    let fake = Arc::new(FakeExecutor::new(|job| match job.label.as_str() {
        "t" if job.argv.last().is_some_and(|a| a.starts_with("lint")) => Script::fails(1),
        _ => out(job),
    }));
    assert_eq!(project.build(&fake, |_| {}), 1, "the lint check failed");
    let ran: Vec<Logged> = fake
        .log()
        .into_iter()
        .filter(|e| matches!(e, Logged::Ran(_)))
        .collect();
    assert_eq!(
        ran,
        [
            Logged::Ran("tool --version".to_owned()),
            Logged::Ran("t".to_owned())
        ]
    );
}

#[test]
fn a_task_without_a_command_needs_no_job() {
    let project = Project::new(
        "[tasks.a]\noutputs = [\"a.out\"]\nrun = \"x\"\n[tasks.gate]\ndeps = [\"a\"]\n[tasks.b]\ndeps = [\"gate\"]\noutputs = [\"b.out\"]\nrun = \"x\"\n",
    );
    let fake = writes_its_output();
    assert_eq!(project.build(&fake, |_| {}), 0);
    assert_eq!(fake.started(), ["a", "b"]);
}
