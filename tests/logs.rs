//! `conduct logs TASK [-f] [-n LINES]`: a finished task's log, its last lines, an
//! unknown or never-run task, and following a running build's task (its output as it
//! comes, a restarted attempt, Ctrl-C) with the build and `logs -f` as two processes.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::test::Project;

/// How long any awaited condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

const FINISHED: &str = r#"
    [tasks.report]
    run = "printf 'a\nb\nc\nd\n'"

    [tasks.quiet]
    run = "true"

    [tasks.later]
    run = "echo later"
"#;

#[test]
fn logs_prints_the_log_of_a_finished_task() {
    let project = Project::new(FINISHED);
    project.build(&["report", "quiet"], 0);
    let run = project.conduct(&["logs", "report"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "a\nb\nc\nd\n"),
        "{run:#?}"
    );
    // `-f` with no build running: the log as it is, at once, and why on stderr.
    let run = project.conduct(&["logs", "report", "-f"]);
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "a\nb\nc\nd\n"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("no build is running"), "{run:#?}");
    // `-f` after `logs` is --follow; the config is still `--file` there, `-f` before.
    let run = project.conduct(&["logs", "--file", "tasks.toml", "report", "-n", "1"]);
    assert_eq!((run.status, run.stdout.as_str()), (0, "d\n"), "{run:#?}");
    let run = project.conduct(&["-f", "tasks.toml", "logs", "-f", "report", "-n", "1"]);
    assert_eq!((run.status, run.stdout.as_str()), (0, "d\n"), "{run:#?}");
    let run = project.conduct(&["logs", "report", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"task": "report", "log": "a\nb\nc\nd\n"})
    );
    // A task that ran and printed nothing has no log file: an empty log, not an error.
    let run = project.conduct(&["logs", "quiet"]);
    assert_eq!((run.status, run.stdout.as_str()), (0, ""), "{run:#?}");
    assert!(run.stderr.contains("quiet printed nothing"), "{run:#?}");
}

#[test]
fn logs_n_prints_the_last_lines() {
    let project = Project::new(FINISHED);
    project.build(&["report"], 0);
    let run = project.conduct(&["logs", "report", "-n", "2"]);
    assert_eq!((run.status, run.stdout.as_str()), (0, "c\nd\n"), "{run:#?}");
    let run = project.conduct(&["logs", "report", "--lines", "9"]);
    assert_eq!(run.stdout, "a\nb\nc\nd\n", "{run:#?}");
    let run = project.conduct(&["logs", "report", "-n", "0"]);
    assert_eq!((run.status, run.stdout.as_str()), (0, ""), "{run:#?}");
}

#[test]
fn logs_of_an_unknown_task_suggests_one() {
    let project = Project::new(FINISHED);
    let run = project.conduct(&["logs", "reprt"]);
    assert_eq!(run.status, 2, "{run:#?}");
    assert!(run.stderr.contains("unknown target `reprt`"), "{run:#?}");
    assert!(run.stderr.contains("did you mean `report`?"), "{run:#?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn logs_of_a_task_that_has_not_run_says_so() {
    let project = Project::new(FINISHED);
    project.build(&["report"], 0);
    let run = project.conduct(&["logs", "later"]);
    assert_eq!((run.status, run.stdout.as_str()), (1, ""), "{run:#?}");
    assert!(
        run.stderr.contains("task `later` has not run yet"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("conduct build later"), "{run:#?}");
    let run = project.conduct(&["logs", "later", "--json"]);
    assert_eq!(run.status, 1, "{run:#?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["kind"], "no_log", "{json}");
}

/// A process killed when the test ends, so that a failing test leaves nothing running.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pipe of a child, copied by a thread into a buffer the test can look at as it grows.
#[derive(Clone)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    fn start(mut pipe: impl Read + Send + 'static) -> Collected {
        let seen = Collected(Arc::default());
        let copy = seen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    return;
                }
                copy.0.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        seen
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Wait until `done()` holds, failing after [`DEADLINE`] with what `seen()` says.
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool, seen: impl Fn() -> String) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; seen:\n{}",
            seen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `conduct ARGS` started in `dir`, its output piped and collected.
fn spawn(dir: &Path, args: &[&str]) -> (Spawned, Collected, Collected) {
    let mut child = Command::new(crate::test::binary())
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start conduct");
    let stdout = Collected::start(child.stdout.take().expect("piped stdout"));
    let stderr = Collected::start(child.stderr.take().expect("piped stderr"));
    (Spawned(child), stdout, stderr)
}

/// Wait for `child` to exit on its own; its exit code.
#[track_caller]
fn exit_code(child: &mut Spawned, seen: impl Fn() -> String) -> i32 {
    let mut status = None;
    wait_until(
        "the process to exit",
        || {
            status = child.0.try_wait().expect("wait for conduct");
            status.is_some()
        },
        seen,
    );
    status.and_then(|s| s.code()).unwrap_or(-1)
}

/// A project whose task `t` prints `one`, waits for the file `go`, prints `two`; and
/// its build, started and waited for until `t` has printed `one` (so the build is
/// running and holds the lock).
fn running_build(toml: &str) -> (Project, Spawned, Collected, Collected) {
    let project = Project::new(toml);
    let (build, out, err) = spawn(project.path(), &["build"]);
    let log = project.path().join(".cache/logs/t.log");
    wait_until(
        "the task to print `one`",
        || std::fs::read_to_string(&log).is_ok_and(|text| text.contains("one")),
        || {
            format!(
                "build stdout:\n{}\nbuild stderr:\n{}",
                out.text(),
                err.text()
            )
        },
    );
    (project, build, out, err)
}

const WAITS_FOR_GO: &str = r#"
    [tasks.t]
    run = "echo one; while [ ! -f go ]; do sleep 0.05; done; echo two"
"#;

#[test]
fn logs_follow_prints_a_running_task_until_its_build_ends() {
    let (project, mut build, build_out, build_err) = running_build(WAITS_FOR_GO);
    let (mut logs, out, err) = spawn(project.path(), &["logs", "t", "-f"]);
    let seen = || format!("logs stdout:\n{}\nlogs stderr:\n{}", out.text(), err.text());
    wait_until(
        "`logs -f` to print `one`",
        || out.text().contains("one"),
        seen,
    );
    assert!(!out.text().contains("two"), "{}", seen());
    std::fs::write(project.path().join("go"), "").expect("create go");
    let code = exit_code(&mut logs, seen);
    assert_eq!(code, 0, "{}", seen());
    // The reader threads have the last bytes once the pipes close; the exit comes first.
    wait_until("all of stdout", || out.text().contains("two"), seen);
    assert_eq!(out.text(), "one\ntwo\n", "{}", seen());
    assert!(!err.text().contains("panicked"), "{}", seen());
    let build_seen = || {
        format!(
            "build stdout:\n{}\nbuild stderr:\n{}",
            build_out.text(),
            build_err.text()
        )
    };
    assert_eq!(exit_code(&mut build, build_seen), 0, "{}", build_seen());
}

#[test]
fn logs_follow_prints_a_restarted_attempt_from_its_start() {
    // The first attempt fails once `go` exists; the second waits for `go2`, so the
    // follower sees its log truncated before anything is written to it again.
    let (project, mut build, build_out, build_err) = running_build(
        r#"
        [tasks.t]
        retries = 1
        run = """
        if [ "$CONDUCT_ATTEMPT" = 1 ]; then
          echo one; while [ ! -f go ]; do sleep 0.05; done; exit 1
        fi
        while [ ! -f go2 ]; do sleep 0.05; done; echo two
        """
        "#,
    );
    let (mut logs, out, err) = spawn(project.path(), &["logs", "t", "-f"]);
    let seen = || format!("logs stdout:\n{}\nlogs stderr:\n{}", out.text(), err.text());
    wait_until(
        "`logs -f` to print `one`",
        || out.text().contains("one"),
        seen,
    );
    std::fs::write(project.path().join("go"), "").expect("create go");
    wait_until(
        "the restart",
        || err.text().contains("--- t: attempt restarted ---"),
        seen,
    );
    std::fs::write(project.path().join("go2"), "").expect("create go2");
    assert_eq!(exit_code(&mut logs, seen), 0, "{}", seen());
    wait_until("all of stdout", || out.text().contains("two"), seen);
    assert_eq!(out.text(), "one\ntwo\n", "{}", seen());
    let build_seen = || {
        format!(
            "build stdout:\n{}\nbuild stderr:\n{}",
            build_out.text(),
            build_err.text()
        )
    };
    assert_eq!(exit_code(&mut build, build_seen), 0, "{}", build_seen());
}

#[test]
fn logs_follow_stops_on_ctrl_c() {
    let (project, mut build, build_out, build_err) = running_build(WAITS_FOR_GO);
    let (mut logs, out, err) = spawn(project.path(), &["logs", "t", "-f"]);
    let seen = || format!("logs stdout:\n{}\nlogs stderr:\n{}", out.text(), err.text());
    wait_until(
        "`logs -f` to print `one`",
        || out.text().contains("one"),
        seen,
    );
    let pid = rustix::process::Pid::from_raw(logs.0.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT");
    assert_eq!(exit_code(&mut logs, seen), 130, "{}", seen());
    assert!(!err.text().contains("panicked"), "{}", seen());
    // The build it followed goes on undisturbed.
    std::fs::write(project.path().join("go"), "").expect("create go");
    let build_seen = || {
        format!(
            "build stdout:\n{}\nbuild stderr:\n{}",
            build_out.text(),
            build_err.text()
        )
    };
    assert_eq!(exit_code(&mut build, build_seen), 0, "{}", build_seen());
}
