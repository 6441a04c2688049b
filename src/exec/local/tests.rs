//! The local executor's unit tests: real processes, their groups, logs, timeouts and cancels.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use super::*;

fn job(dir: &Path, argv: &[&str]) -> Job {
    Job {
        label: "T7".to_owned(),
        argv: argv.iter().map(|&a| a.to_owned()).collect(),
        cwd: dir.to_path_buf(),
        env: Vec::new(),
        output: Output::Log {
            path: dir.join("logs").join("T7.log"),
            stream: false,
        },
        timeout: None,
        task: true,
        on_cluster: None,
        stdin: None,
    }
}

fn log_path(job: &Job) -> PathBuf {
    match &job.output {
        Output::Log { path, .. } => path.clone(),
        Output::Capture => panic!("no log"),
    }
}

fn streamed(mut job: Job) -> Job {
    job.output = Output::Log {
        path: log_path(&job),
        stream: true,
    };
    job
}

/// Run `job` in place with a plain executor.
fn run(job: Job) -> Finished {
    std::fs::create_dir_all(log_path(&job).parent().unwrap()).unwrap();
    LocalExecutor::new().run(job)
}

fn read_log(job: &Job) -> String {
    std::fs::read_to_string(log_path(job)).unwrap()
}

/// Submit `job`; returns the executor, the id, and the updates once `Started` came.
fn start(executor: &LocalExecutor, job: Job) -> (JobId, Receiver<Finished>) {
    std::fs::create_dir_all(log_path(&job).parent().unwrap()).unwrap();
    let (started, is_started) = channel();
    let (done, finished) = channel();
    let started = Mutex::new(started);
    let done = Mutex::new(done);
    let id = executor.submit(
        job,
        Box::new(move |update| match update {
            Update::Started => {
                let _ = started.lock().unwrap().send(());
            }
            Update::Finished(f) => {
                let _ = done.lock().unwrap().send(f);
            }
        }),
    );
    is_started.recv_timeout(Duration::from_secs(10)).unwrap();
    (id, finished)
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

/// Wait (up to 5 s) until no process with `MARK=<mark>` runs any more.
fn assert_all_end(mark: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while still_running(mark) {
        assert!(Instant::now() < deadline, "{mark} still runs");
        thread::sleep(Duration::from_millis(20));
    }
}

fn marked(mut job: Job, mark: &str) -> Job {
    job.env.push(("MARK".to_owned(), mark.to_owned()));
    job
}

#[test]
fn success_writes_stdout_and_stderr_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), &["sh", "-c", "echo out; echo err >&2"]);
    let finished = run(job.clone());
    assert_eq!(finished.exit, Exit::Success);
    assert_eq!(read_log(&job), "out\nerr\n");
}

#[test]
fn the_log_is_truncated_and_a_silent_job_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let job_ = job(dir.path(), &["true"]);
    std::fs::create_dir_all(log_path(&job_).parent().unwrap()).unwrap();
    assert_eq!(run(job_.clone()).exit, Exit::Success);
    assert!(!log_path(&job_).exists(), "no output, no file");
    std::fs::write(log_path(&job_), "the last run's output, longer\n").unwrap();
    run(job_.clone());
    assert_eq!(read_log(&job_), "", "a stale log never stays");
    let echo = job(dir.path(), &["sh", "-c", "echo new"]);
    run(echo.clone());
    assert_eq!(read_log(&echo), "new\n");
}

#[test]
fn a_background_child_does_not_hold_a_plain_job_and_its_output_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let go = fifo(dir.path());
    let mark = format!("bg-{}", std::process::id());
    let script = r#"echo early; ( read line < "$GO"; echo late ) & exit 0"#;
    let mut job = marked(job(dir.path(), &["sh", "-c", script]), &mark);
    job.env.push(("GO".to_owned(), go.display().to_string()));
    assert_eq!(run(job.clone()).exit, Exit::Success);
    std::fs::write(&go, "go\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_log(&job) != "early\nlate\n" {
        assert!(Instant::now() < deadline, "log: {:?}", read_log(&job));
        thread::sleep(Duration::from_millis(10));
    }
    assert_all_end(&mark);
}

#[test]
fn failures_exit_codes_and_spawn_errors_are_data() {
    let dir = tempfile::tempdir().unwrap();
    let failed = run(job(dir.path(), &["sh", "-c", "exit 3"]));
    assert_eq!(
        failed.exit,
        Exit::Failed {
            code: Some(3),
            signal: None
        }
    );
    let missing = job(dir.path(), &["conduct-test-no-such-program", "x"]);
    let Exit::SpawnFailed { error } = run(missing.clone()).exit else {
        panic!("spawned")
    };
    assert!(error.contains("conduct-test-no-such-program"), "{error}");
    assert_eq!(read_log(&missing), format!("conduct: {error}\n"));
    let mut nowhere = job(dir.path(), &["sh", "-c", "true"]);
    nowhere.cwd = dir.path().join("missing");
    let Exit::SpawnFailed { error } = run(nowhere).exit else {
        panic!("spawned")
    };
    assert!(error.contains("working directory"), "{error}");
    let Exit::SpawnFailed { error } = run(job(dir.path(), &[])).exit else {
        panic!("spawned")
    };
    assert!(error.contains("empty"), "{error}");
}

#[test]
fn env_cwd_and_captured_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mut job = job(
        dir.path(),
        &["sh", "-c", "echo $FOO; pwd -P; echo hidden >&2"],
    );
    job.cwd = work.clone();
    job.env = vec![("FOO".to_owned(), "bar".to_owned())];
    job.output = Output::Capture;
    let finished = LocalExecutor::new().run(job);
    assert_eq!(finished.exit, Exit::Success);
    let expected = format!("bar\n{}\n", work.canonicalize().unwrap().display());
    assert_eq!(String::from_utf8_lossy(&finished.stdout), expected);
}

#[test]
fn a_timeout_stops_the_whole_group_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mark = format!("timeout-{}", std::process::id());
    let mut job = marked(job(dir.path(), &["sh", "-c", "sleep 30 & sleep 30"]), &mark);
    job.timeout = Some(Duration::from_millis(200));
    let finished = run(job);
    assert_eq!(finished.exit, Exit::TimedOut);
    assert!(
        finished.duration < Duration::from_secs(5),
        "{:?}",
        finished.duration
    );
    assert_all_end(&mark);
}

#[test]
fn a_cancel_stops_a_submitted_job_and_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path());
    let mark = format!("cancel-{}", std::process::id());
    let mut job = marked(
        job(
            dir.path(),
            &["sh", "-c", r#"sleep 30 & echo ready > "$READY"; sleep 30"#],
        ),
        &mark,
    );
    job.env
        .push(("READY".to_owned(), ready.display().to_string()));
    let executor = LocalExecutor::new();
    let (id, finished) = start(&executor, job);
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "ready\n");
    executor.cancel(id);
    let finished = finished.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(finished.exit, Exit::Cancelled);
    assert_all_end(&mark);
    // A job run in place after `cancel_all` stops at once.
    executor.cancel_all();
    let late = executor.run(job_in(dir.path(), "sleep 30"));
    assert_eq!(late.exit, Exit::Cancelled);
}

fn job_in(dir: &Path, script: &str) -> Job {
    job(dir, &["sh", "-c", script])
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
    let job = streamed(job(
        dir.path(),
        &["sh", "-c", "echo out; echo err >&2; exit 4"],
    ));
    let finished = run(job.clone());
    assert_eq!(
        finished.exit,
        Exit::Failed {
            code: Some(4),
            signal: None
        }
    );
    let log = read_log(&job);
    let mut lines: Vec<&str> = log.split_inclusive('\n').collect();
    lines.sort_unstable();
    assert_eq!(lines, ["err\n", "out\n"]);
    let raw = streamed(job_in(dir.path(), "printf 'a\\nno newline'"));
    run(raw.clone());
    assert_eq!(read_log(&raw), "a\nno newline");
}

#[test]
fn a_streamed_job_ends_when_a_cancel_kills_a_grandchild_holding_its_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let ready = fifo(dir.path());
    let mark = format!("stream-{}", std::process::id());
    let script = r#"
        echo out
        ( while kill -0 $$ 2>/dev/null; do sleep 0.01; done
          echo ready > "$READY"; exec sleep 30 ) &
        exit 0
    "#;
    let mut job = marked(streamed(job_in(dir.path(), script)), &mark);
    job.env
        .push(("READY".to_owned(), ready.display().to_string()));
    let executor = LocalExecutor::new();
    let (id, finished) = start(&executor, job.clone());
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "ready\n");
    // The shell is gone, but the sleep still holds the pipes: not finished yet.
    assert!(finished.try_recv().is_err());
    executor.cancel(id);
    let finished = finished.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(finished.exit, Exit::Cancelled);
    assert_eq!(read_log(&job), "out\n");
    assert_all_end(&mark);
}

#[test]
fn a_builds_executor_kills_what_a_task_left_behind_even_outside_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let mark = format!("leftover-{}", std::process::id());
    let job = marked(
        job_in(dir.path(), "sleep 30 & setsid sleep 30 & echo done"),
        &mark,
    );
    std::fs::create_dir_all(log_path(&job).parent().unwrap()).unwrap();
    let executor = LocalExecutor::for_build();
    let finished = executor.run(job.clone());
    assert_eq!(finished.exit, Exit::Success);
    assert_eq!(finished.leftovers, 2, "one in the group, one escaped it");
    assert!(!still_running(&mark), "nothing of the task is left");
    assert_eq!(read_log(&job), "done\n");
    let tidy = executor.run(marked(job_in(dir.path(), "echo tidy"), &mark));
    assert_eq!((tidy.exit, tidy.leftovers), (Exit::Success, 0));
}

#[test]
fn workers_give_every_job_a_thread_of_its_own() {
    // Three jobs that each wait for the other two: only run at once do they end.
    let dir = tempfile::tempdir().unwrap();
    let executor = LocalExecutor::new();
    let (done, finished) = channel();
    for i in 0..3 {
        let script =
            format!("touch here.{i}; while [ $(ls here.* | wc -l) -lt 3 ]; do sleep 0.01; done");
        let done = Mutex::new(done.clone());
        executor.submit(
            job_in(dir.path(), &script),
            Box::new(move |update| {
                if let Update::Finished(f) = update {
                    let _ = done.lock().unwrap().send(f.exit);
                }
            }),
        );
    }
    for _ in 0..3 {
        let exit = finished.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(exit, Exit::Success);
    }
}
