//! `conduct build` on real projects with real processes, judged by what actually ran:
//! every task appends its id to `ran.log` (declared nowhere, like the benchmark's
//! `.runlog`), and `Project::ran` reads and empties it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::test::Project;

/// a -> b -> c, and d on its own.
const CHAIN: &str = r#"
    [tasks.a]
    inputs = ["src/a.txt"]
    outputs = ["out/a.txt"]
    run = "echo a >> ran.log && tr -d ' ' < src/a.txt > out/a.txt"

    [tasks.b]
    inputs = ["out/a.txt", "src/b.txt"]
    outputs = ["out/b.txt"]
    run = "echo b >> ran.log && cat out/a.txt src/b.txt > out/b.txt"

    [tasks.c]
    inputs = ["out/b.txt"]
    outputs = ["out/c.txt"]
    run = "echo c >> ran.log && cat out/b.txt > out/c.txt"

    [tasks.d]
    inputs = ["src/d.txt"]
    outputs = ["out/d.txt"]
    run = "echo d >> ran.log && cat src/d.txt > out/d.txt"
"#;

fn chain() -> Project {
    let project = Project::new(CHAIN);
    project
        .file("src/a.txt", "A\n")
        .file("src/b.txt", "B\n")
        .file("src/d.txt", "D\n");
    project
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn position(ran: &[String], id: &str) -> usize {
    ran.iter()
        .position(|r| r == id)
        .unwrap_or_else(|| panic!("{id} did not run: {ran:?}"))
}

#[test]
fn first_build_runs_everything_once_in_dependency_order_then_nothing() {
    let project = chain();
    let run = project.build(&[], 0);
    let ran = project.ran();
    assert_eq!(sorted(ran.clone()), ["a", "b", "c", "d"]);
    assert!(position(&ran, "a") < position(&ran, "b"));
    assert!(position(&ran, "b") < position(&ran, "c"));
    assert_eq!(project.read("out/c.txt"), "A\nB\n");
    assert!(
        run.stdout
            .ends_with("4 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in ")
            || run.stdout.contains("4 ran, 0 fresh"),
        "{}",
        run.stdout
    );

    let run = project.build(&[], 0);
    assert!(project.ran().is_empty());
    assert!(
        run.stdout
            .contains("0 ran, 4 fresh, 0 restored, 0 failed, 0 blocked"),
        "{}",
        run.stdout
    );
}

#[test]
fn touching_every_file_runs_nothing() {
    let project = chain();
    project.build(&[], 0);
    project.ran();
    let status = Command::new("sh")
        .args([
            "-c",
            "find . -type f -not -path './.cache/*' -exec touch {} +",
        ])
        .current_dir(project.path())
        .status()
        .unwrap();
    assert!(status.success());
    project.build(&[], 0);
    assert!(project.ran().is_empty());
}

#[test]
fn a_target_builds_only_what_it_needs() {
    let project = chain();
    project.build(&["b"], 0);
    assert_eq!(sorted(project.ran()), ["a", "b"]);
    project.build(&["d", "c"], 0);
    assert_eq!(sorted(project.ran()), ["c", "d"]);
}

#[test]
fn early_cutoff_keeps_dependents_fresh_when_outputs_are_identical() {
    let project = chain();
    project.build(&[], 0);
    project.ran();
    // `a` strips spaces: a new input, the same output.
    project.file("src/a.txt", "A  \n");
    let run = project.build(&["--explain=all"], 0);
    assert_eq!(project.ran(), ["a"]);
    assert!(run.stdout.contains("b is fresh"), "{}", run.stdout);
    // A real change reaches b and c, and the explanation says through what.
    project.file("src/a.txt", "AA\n");
    let run = project.build(&["--explain"], 0);
    assert_eq!(project.ran(), ["a", "b", "c"]);
    assert!(
        run.stdout
            .contains("b will run:\n  dependency a: output out/a.txt changed\n"),
        "{}",
        run.stdout
    );
    assert_eq!(project.read("out/c.txt"), "AA\nB\n");
}

#[test]
fn editing_one_section_reruns_only_its_readers() {
    let project = Project::new(
        r#"
        [tasks.T1]
        inputs = ["plan.md#T1"]
        outputs = ["t1.txt"]
        run = "echo T1 >> ran.log && echo one > t1.txt"
        [tasks.T2]
        inputs = ["plan.md#T2"]
        outputs = ["t2.txt"]
        run = "echo T2 >> ran.log && echo two > t2.txt"
        "#,
    );
    project.file(
        "plan.md",
        "
        # Plan

        ## T1: One

        First.

        ```
        ## T2: inside a fence, still T1's text
        ```

        ## T2: Two

        Second.
        ",
    );
    project.build(&[], 0);
    assert_eq!(sorted(project.ran()), ["T1", "T2"]);

    let plan = project.read("plan.md");
    project.write(
        "plan.md",
        plan.replace("Second.", "Second, edited.").as_bytes(),
    );
    let run = project.build(&["--explain"], 0);
    assert_eq!(project.ran(), ["T2"]);
    assert!(
        run.stdout
            .contains("T2 will run:\n  input plan.md#T2 changed ("),
        "{}",
        run.stdout
    );

    // The fenced line belongs to T1's section.
    let plan = project.read("plan.md");
    project.write(
        "plan.md",
        plan.replace("still T1's text", "still T1's text, edited")
            .as_bytes(),
    );
    project.build(&[], 0);
    assert_eq!(project.ran(), ["T1"]);

    // CRLF line endings change no section.
    let plan = project.read("plan.md");
    project.write("plan.md", plan.replace('\n', "\r\n").as_bytes());
    project.build(&[], 0);
    assert!(project.ran().is_empty());
}

#[test]
fn changes_rerun_that_task_and_explain_names_the_component() {
    let project = Project::new(
        r#"
        [project]
        hash_env = ["FLAVOR"]
        [tasks.t]
        inputs = ["docs/*.md"]
        outputs = ["t.txt"]
        run = "echo t >> ran.log && cat docs/*.md > t.txt"
        [tasks.u]
        outputs = ["u.txt"]
        run = "echo u >> ran.log && echo u > u.txt"
        "#,
    );
    project.file("docs/a.md", "a\n");
    let build = |env: &[(&str, &str)]| {
        let run = project.conduct_env(&["build", "--explain"], env);
        assert_eq!(run.status, 0, "{run:#?}");
        run.stdout
    };
    build(&[("FLAVOR", "1")]);
    assert_eq!(sorted(project.ran()), ["t", "u"]);

    let out = build(&[("FLAVOR", "2")]);
    assert_eq!(sorted(project.ran()), ["t", "u"]);
    assert!(
        out.contains("t will run:\n  environment variable FLAVOR changed (hash_env)\n"),
        "{out}"
    );

    project.file("docs/b.md", "b\n");
    let out = build(&[("FLAVOR", "2")]);
    assert_eq!(project.ran(), ["t"]);
    assert!(
        out.contains("t will run:\n  input docs/b.md added\n"),
        "{out}"
    );
    assert_eq!(project.read("t.txt"), "a\nb\n");

    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("echo u > u.txt", "echo U > u.txt").as_bytes(),
    );
    let out = build(&[("FLAVOR", "2")]);
    assert_eq!(project.ran(), ["u"]);
    assert!(out.contains("u will run:\n  command changed\n"), "{out}");

    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("[tasks.u]\n", "[tasks.u]\nenv = { MODE = \"ci\" }\n")
            .as_bytes(),
    );
    let out = build(&[("FLAVOR", "2")]);
    assert_eq!(project.ran(), ["u"]);
    assert!(out.contains("u will run:\n  env MODE changed\n"), "{out}");
}

#[test]
fn a_failure_blocks_dependents_and_independent_work_goes_on() {
    let project = chain();
    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("echo b >> ran.log && ", "echo b >> ran.log && exit 3 && ")
            .as_bytes(),
    );
    let run = project.build(&[], 1);
    assert_eq!(sorted(project.ran()), ["a", "b", "d"]);
    assert!(run.stdout.contains("FAILED b ("), "{run:#?}");
    assert!(run.stdout.contains("exit code 3"), "{run:#?}");
    assert!(run.stdout.contains("blocked c (by b)"), "{run:#?}");
    assert!(
        run.stdout.contains("1 ran") || run.stdout.contains("2 ran"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 failed, 1 blocked"), "{}", run.stdout);
    assert!(!project.exists("out/c.txt"));

    // Fixed: b and what it blocked run; a and d are fresh.
    project.write("tasks.toml", toml.as_bytes());
    let run = project.build(&["--explain"], 0);
    assert_eq!(project.ran(), ["b", "c"]);
    // b never succeeded, so there is no earlier key to compare with: it failed.
    assert!(
        run.stdout.contains("b will run:\n  previous run failed\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn fail_fast_starts_nothing_new() {
    let project = Project::new(
        r#"
        [tasks.x]
        priority = "critical"
        run = "echo x >> ran.log && exit 1"
        [tasks.y]
        run = "echo y >> ran.log"
        [tasks.z]
        run = "echo z >> ran.log"
        "#,
    );
    let run = project.build(&["-j", "1", "--fail-fast"], 1);
    assert_eq!(project.ran(), ["x"]);
    // y and z do not depend on x: they are not blocked by it, just never started.
    assert!(
        run.stdout.contains("not started y (fail-fast)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("blocked y"), "{}", run.stdout);
    project.build(&["-j", "1"], 1);
    assert_eq!(sorted(project.ran()), ["x", "y", "z"]);
}

#[test]
fn retries_rerun_a_failed_task_with_the_attempt_number() {
    let project = Project::new(
        r#"
        [tasks.flaky]
        outputs = ["ok.txt"]
        retries = 2
        run = "echo $CONDUCT_ATTEMPT >> ran.log && [ $CONDUCT_ATTEMPT -ge 2 ] && echo ok > ok.txt"
        "#,
    );
    let run = project.build(&[], 0);
    assert_eq!(project.ran(), ["1", "2"]);
    assert!(run.stdout.contains("[retry 1] FAILED flaky"), "{run:#?}");
    let status = project.conduct(&["status", "--json"]);
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["tasks"][0]["status"], "ok");
    assert_eq!(json["tasks"][0]["attempts"], 2);
}

#[test]
fn a_missing_declared_output_fails_the_task() {
    let project = Project::new(
        r#"
        [tasks.lazy]
        outputs = ["promised.txt", "dir/"]
        run = "mkdir -p dir"
        "#,
    );
    let run = project.build(&[], 1);
    assert!(
        run.stdout
            .contains("declared output promised.txt is missing after the command succeeded"),
        "{run:#?}"
    );
}

#[test]
fn stale_outputs_are_removed_and_parents_created_before_a_rerun() {
    let project = Project::new(
        r#"
        [tasks.careful]
        inputs = ["src.txt"]
        outputs = ["deep/er/out.txt", "gen/"]
        run = "test ! -e deep/er/out.txt && test ! -e gen/old.txt && cp src.txt deep/er/out.txt && mkdir -p gen && cp src.txt gen/$(cat src.txt).txt"
        "#,
    );
    project.file("src.txt", "old");
    project.build(&[], 0);
    assert!(project.exists("gen/old.txt"));
    project.file("src.txt", "new");
    project.build(&[], 0);
    assert!(
        !project.exists("gen/old.txt"),
        "the whole directory output was cleared"
    );
    assert_eq!(project.read("gen/new.txt"), "new");
}

#[test]
fn tasks_get_the_documented_environment() {
    let project = Project::new(
        r#"
        [tasks.env]
        title = "Show the environment"
        outputs = ["a.txt", "b/c.txt"]
        env = { EXTRA = "yes" }
        run = ["sh", "-c", "printf '%s\n' \"$CONDUCT_TASK\" \"$CONDUCT_TITLE\" \"$CONDUCT_ROOT\" \"$CONDUCT_WORKSPACE\" \"$CONDUCT_ATTEMPT\" \"$EXTRA\" \"$CONDUCT_OUTPUTS\" > a.txt && cp \"$CONDUCT_INSTRUCTION\" b/c.txt"]
        "#,
    );
    project.build(&[], 0);
    let root = project.path().display().to_string();
    assert_eq!(
        project.read("a.txt"),
        format!("env\nShow the environment\n{root}\n{root}\n1\nyes\na.txt\nb/c.txt\n")
    );
    let instruction = project.read("b/c.txt");
    assert!(
        instruction.starts_with("# env: Show the environment\n"),
        "{instruction}"
    );
    assert!(
        instruction.contains("- `a.txt`\n- `b/c.txt`\n"),
        "{instruction}"
    );
}

#[test]
fn a_timeout_kills_the_task_and_its_children() {
    let project = Project::new(
        r#"
        [tasks.slow]
        timeout = "1s"
        run = "sleep 30 & echo $! > child.pid; sleep 30"
        "#,
    );
    let started = Instant::now();
    let run = project.build(&[], 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stdout.contains("TIMED OUT slow"), "{run:#?}");
    assert!(run.stdout.contains("timed out after 1s"), "{run:#?}");
    let child = project.read("child.pid").trim().to_owned();
    assert!(
        gone(&child),
        "the background child {child} is still running"
    );
    let status = project.conduct(&["status"]);
    assert!(
        status.stdout.contains("slow  timed_out"),
        "{}",
        status.stdout
    );
}

/// Whether a process is gone (or a zombie), waiting up to 5 s for it to go.
fn gone(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = state.split_whitespace().nth(2) == Some("Z");
        if state.is_empty() || zombie {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn jobs_bound_parallelism() {
    let tasks: String = (1..=4)
        .map(|i| format!("[tasks.s{i}]\nrun = \"sleep 1\"\n"))
        .collect();
    let project = Project::new(&tasks);
    let started = Instant::now();
    project.build(&["-j", "4"], 0);
    let parallel = started.elapsed();
    assert!(
        parallel < Duration::from_millis(1900),
        "-j 4 took {parallel:?}"
    );
    let started = Instant::now();
    project.build(&["-j", "1", "--force"], 0);
    let serial = started.elapsed();
    assert!(serial >= Duration::from_secs(4), "-j 1 took {serial:?}");
}

/// Every file under the project with its contents, for before/after comparisons.
fn snapshot(project: &Project) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![project.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(project.path())
                    .unwrap()
                    .display()
                    .to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn dry_run_changes_nothing_on_disk() {
    let project = chain();
    let before = snapshot(&project);
    let run = project.build(&["--dry-run"], 0);
    assert_eq!(
        snapshot(&project),
        before,
        "nothing written, not even .cache"
    );
    assert!(
        run.stdout.contains("dry run: 4 would run"),
        "{}",
        run.stdout
    );
    assert!(project.ran().is_empty());

    project.build(&[], 0);
    project.ran();
    project.file("src/a.txt", "changed\n");
    let before = snapshot(&project);
    let run = project.build(&["--dry-run", "--explain"], 0);
    assert_eq!(snapshot(&project), before);
    assert!(project.ran().is_empty());
    assert!(
        run.stdout
            .contains("a would run:\n  input src/a.txt changed ("),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("b would run:\n  dependency a will run\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("dry run: 3 would run, 1 fresh"),
        "{}",
        run.stdout
    );
}

#[test]
fn json_events_parse_and_count_what_ran() {
    let project = chain();
    project.build(&[], 0);
    project.ran();
    project.file("src/d.txt", "DD\n");
    let run = project.build(&["--json", "--explain"], 0);
    let events = run.events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"build_finished"));
    let started: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "task_started")
        .collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["task"], "d");
    assert_eq!(started[0]["attempt"], 1);
    assert!(
        started[0]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("input src/d.txt changed (")
    );
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "task_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["status"], "ok");
    assert!(finished[0]["duration_ms"].is_u64());
    assert_eq!(
        events.iter().filter(|e| e["event"] == "task_fresh").count(),
        3
    );
    let counts = &events.last().unwrap()["counts"];
    assert_eq!(
        *counts,
        serde_json::json!({"ran": 1, "fresh": 3, "restored": 0, "failed": 0, "blocked": 0, "edited": 0, "warnings": 0})
    );
    assert_eq!(project.ran(), ["d"]);

    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("echo b >> ran.log && ", "exit 1 && ")
            .as_bytes(),
    );
    project.file("src/b.txt", "B2\n");
    let run = project.build(&["--json"], 1);
    let events = run.events();
    let blocked: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "task_blocked")
        .collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0]["task"], "c");
    assert_eq!(blocked[0]["by"], "b");
    let failed: Vec<&Value> = events.iter().filter(|e| e["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(events.last().unwrap()["counts"]["failed"], 1);
    assert_eq!(events.last().unwrap()["counts"]["blocked"], 1);
}

#[test]
fn quiet_prints_only_failures_and_verbose_streams_output() {
    let project = Project::new(
        r#"
        [tasks.talk]
        run = "echo hello from talk"
        "#,
    );
    let run = project.build(&["-q"], 0);
    assert_eq!(run.stdout, "");
    let run = project.build(&["-v", "--force"], 0);
    assert!(run.stderr.contains("[talk] hello from talk"), "{run:#?}");
    assert!(run.stdout.contains("ok talk"), "{run:#?}");
}

#[test]
fn a_missing_input_is_an_error_before_anything_runs() {
    let project = chain();
    std::fs::remove_file(project.path().join("src/d.txt")).unwrap();
    let run = project.build(&[], 2);
    assert!(
        run.stderr.contains(
            "error: input `src/d.txt` of task `d` does not exist and no task produces it"
        ),
        "{run:#?}"
    );
    assert!(project.ran().is_empty(), "nothing ran");
}

#[test]
fn a_small_change_is_appended_to_the_state_journal_and_read_back() {
    let project = chain();
    project.build(&[], 0);
    project.ran();
    let snapshot = std::fs::read(project.path().join(".cache/state/state.bin")).unwrap();
    let journal = |p: &Project| {
        std::fs::metadata(p.path().join(".cache/state/state.log"))
            .unwrap()
            .len()
    };
    let before = journal(&project);

    project.file("src/d.txt", "D, edited\n");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["d"]);
    assert_eq!(
        std::fs::read(project.path().join(".cache/state/state.bin")).unwrap(),
        snapshot,
        "one task's change does not rewrite the snapshot"
    );
    assert!(journal(&project) > before, "it is appended to the journal");

    // The next process reads the journal: d is fresh, and its last run is known.
    project.build(&[], 0);
    assert!(project.ran().is_empty(), "{:?}", project.ran());
    let status = project.conduct(&["status", "--json"]);
    assert!(
        status.stdout.contains("input src/d.txt changed"),
        "d's last run came from the journal: {status:#?}"
    );
}

#[test]
fn an_error_after_a_cached_parse_still_quotes_the_line() {
    // The second build reads the validated spec from the cache and lets the text of
    // tasks.toml go: the error must read it again to point at the line.
    let project = chain();
    project.build(&[], 0);
    assert!(
        project.exists(".cache/state/spec.bin"),
        "the spec was cached"
    );
    std::fs::remove_file(project.path().join("src/d.txt")).unwrap();
    let run = project.build(&[], 2);
    assert!(run.stderr.contains(" --> tasks.toml:"), "{run:#?}");
    assert!(
        run.stderr.contains("| inputs = [\"src/d.txt\"]"),
        "{run:#?}"
    );
}

#[test]
fn an_edit_in_the_same_clock_tick_as_the_build_is_never_missed() {
    // mtimes move in coarse ticks: an edit right after a build can keep the same mtime
    // and size. The racy-timestamp rule must rehash such files.
    let project = Project::new(
        r#"
        [tasks.copy]
        inputs = ["in.txt"]
        outputs = ["out.txt"]
        run = "cp in.txt out.txt"
        "#,
    );
    for i in 0..100 {
        let content = format!("{i:04}");
        project.write("in.txt", content.as_bytes());
        project.build(&["-q"], 0);
        assert_eq!(project.read("out.txt"), content, "iteration {i}");
    }
}

#[test]
fn ctrl_c_stops_tasks_records_them_interrupted_and_exits_130() {
    let project = Project::new(
        r#"
        [tasks.long]
        outputs = ["never.txt"]
        run = "touch started; sleep 30; touch never.txt"
        "#,
    );
    let child = Command::new(crate::test::binary())
        .args(["build"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| project.exists("started"));
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("INTERRUPTED long"), "{stdout}");
    assert!(!project.exists("never.txt"));
    let status = project.conduct(&["status"]);
    assert!(
        status.stdout.contains("long  interrupted"),
        "{}",
        status.stdout
    );
    let run = project.conduct(&["build", "--dry-run", "--explain"]);
    assert!(
        run.stdout.contains("previous run was interrupted"),
        "{}",
        run.stdout
    );
}

/// Poll for a condition the test cannot be notified of, up to 10 s.
fn wait_for(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_build_waits_for_the_lock_and_names_the_holder() {
    let project = Project::new(
        r#"
        [tasks.hold]
        run = "touch started; while [ ! -e release ]; do sleep 0.02; done"
        "#,
    );
    let first = Command::new(crate::test::binary())
        .args(["build"])
        .current_dir(project.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| project.exists("started"));
    let log = std::fs::File::create(project.path().join("second.err")).unwrap();
    let second = Command::new(crate::test::binary())
        .args(["build"])
        .current_dir(project.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for(|| {
        std::fs::read_to_string(project.path().join("second.err"))
            .is_ok_and(|t| t.contains("waiting"))
    });
    let message = project.read("second.err");
    assert!(
        message.contains(&format!(
            "waiting for the lock on the cache (held by pid {})",
            first.id()
        )),
        "{message}"
    );
    project.write("release", b"");
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(second.status.code(), Some(0));
}

#[test]
fn kill_9_in_the_middle_then_a_rebuild_gives_correct_outputs() {
    let mut toml = String::new();
    for i in 0..60 {
        let dep = if i > 0 {
            format!("out/{}.txt", i - 1)
        } else {
            "seed.txt".into()
        };
        toml.push_str(&format!(
            "[tasks.t{i}]\ninputs = [\"{dep}\"]\noutputs = [\"out/{i}.txt\"]\nrun = \"echo t{i} >> ran.log && (cat {dep}; echo {i}) > out/{i}.txt\"\n"
        ));
    }
    let project = Project::new(&toml);
    project.write("seed.txt", b"seed\n");
    let mut child = Command::new(crate::test::binary())
        .args(["build", "-j", "2"])
        .current_dir(project.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| project.read_or_empty("ran.log").lines().count() >= 20);
    child.kill().unwrap();
    child.wait().unwrap();
    project.build(&[], 0);
    let mut expected = String::from("seed\n");
    for i in 0..60 {
        expected.push_str(&format!("{i}\n"));
        assert_eq!(
            project.read(&format!("out/{i}.txt")),
            expected,
            "out/{i}.txt"
        );
    }
    project.ran();
    project.build(&[], 0);
    assert!(project.ran().is_empty(), "everything recorded");
}

#[test]
fn accept_records_a_cosmetic_edit_as_fresh() {
    let project = chain();
    project.build(&[], 0);
    project.ran();
    project.file("src/a.txt", "A \n");
    let run = project.conduct(&["accept", "a"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(run.stdout, "accepted: a\n");
    project.build(&[], 0);
    assert!(project.ran().is_empty());
    let run = project.conduct(&["accept", "a"]);
    assert_eq!(run.stdout, "already fresh: a\n");
}

#[test]
fn list_shows_each_tasks_status() {
    let project = chain();
    let list = project.conduct(&["list", "--json"]);
    let statuses = |list: &crate::test::Run| -> Vec<String> {
        let json: Value = serde_json::from_str(&list.stdout).unwrap();
        json["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}={}",
                    t["id"].as_str().unwrap(),
                    t["status"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        statuses(&list),
        [
            "a=never built",
            "b=never built",
            "c=never built",
            "d=never built"
        ]
    );
    project.build(&[], 0);
    project.file("src/d.txt", "D2\n");
    let list = project.conduct(&["list", "--json"]);
    assert_eq!(
        statuses(&list),
        ["a=fresh", "b=fresh", "c=fresh", "d=stale"]
    );
    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("echo a >> ran.log && ", "exit 1; ").as_bytes(),
    );
    project.file("src/a.txt", "A2\n");
    project.build(&[], 1);
    let list = project.conduct(&["list"]);
    assert!(list.stdout.contains("  a  failed"), "{}", list.stdout);
    assert!(list.stdout.contains("  d  fresh "), "{}", list.stdout);
}

impl Project {
    fn read_or_empty(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap_or_default()
    }
}

/// The counts of the last `--json` build.
#[track_caller]
fn counts(project: &Project, env: &[(&str, &str)]) -> serde_json::Value {
    let run = project.conduct_env(&["build", "--json"], env);
    assert_eq!(run.status, 0, "{run:#?}");
    run.events().last().expect("build_finished")["counts"].clone()
}

#[test]
fn nothing_changed_since_a_clean_build_is_all_fresh_and_any_change_still_counts() {
    let project = Project::new(
        r#"
        [project]
        hash_env = ["FLAVOUR"]
        [tasks.a]
        inputs = ["src/a.txt", "notes/*.md"]
        outputs = ["out/a.txt"]
        run = "echo a >> ran.log && mkdir -p out && cat src/a.txt > out/a.txt"
        [tasks.b]
        inputs = ["out/a.txt", { command = "cat version.txt" }]
        outputs = ["out/b.txt"]
        run = "echo b >> ran.log && cat out/a.txt version.txt > out/b.txt"
        "#,
    );
    project
        .file("src/a.txt", "one\n")
        .file("version.txt", "1\n");
    let env = [("FLAVOUR", "sweet")];
    assert_eq!(counts(&project, &env)["ran"], 2);
    project.ran();
    // Twice: the first no-op records the clean build's fingerprint as its own.
    for _ in 0..2 {
        assert_eq!(counts(&project, &env)["fresh"], 2);
        assert!(project.ran().is_empty());
    }
    // Same content, new mtime: still nothing to do.
    let touched = std::fs::File::options()
        .append(true)
        .open(project.path().join("src/a.txt"))
        .unwrap();
    touched
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    assert_eq!(counts(&project, &env)["fresh"], 2);
    assert!(project.ran().is_empty());
    // Each kind of change is seen.
    project.file("src/a.txt", "two\n");
    counts(&project, &env);
    assert_eq!(project.ran(), ["a", "b"], "a source");
    counts(&project, &[("FLAVOUR", "sour")]);
    assert_eq!(project.ran(), ["a", "b"], "a hash_env value");
    project.file("version.txt", "2\n");
    counts(&project, &[("FLAVOUR", "sour")]);
    assert_eq!(project.ran(), ["b"], "a command input");
    project.file("notes/new.md", "x\n");
    counts(&project, &[("FLAVOUR", "sour")]);
    assert_eq!(
        project.ran(),
        ["a"],
        "a new glob match (b's input is unchanged)"
    );
    std::fs::remove_file(project.path().join("out/b.txt")).unwrap();
    assert_eq!(counts(&project, &[("FLAVOUR", "sour")])["restored"], 1);
    project.file("out/a.txt", "edited by hand\n");
    let edited = project.conduct_env(&["build", "--json"], &[("FLAVOUR", "sour")]);
    assert_eq!(edited.status, 1, "an edit stops the task: {edited:#?}");
    assert_eq!(edited.events().last().unwrap()["counts"]["edited"], 1);
    assert_eq!(project.read("out/a.txt"), "edited by hand\n");
    let discard = project.conduct_env(
        &["build", "--json", "--discard-edits", "a"],
        &[("FLAVOUR", "sour")],
    );
    assert_eq!(discard.events().last().unwrap()["counts"]["restored"], 1);
    assert_eq!(project.read("out/a.txt"), "two\n");
    assert!(project.ran().is_empty());
    let toml = project
        .read("tasks.toml")
        .replace("version.txt > out/b.txt", "version.txt  > out/b.txt");
    project.file("tasks.toml", &toml);
    counts(&project, &[("FLAVOUR", "sour")]);
    assert_eq!(project.ran(), ["b"], "the configuration");
    assert!(project.ran().is_empty());
}

#[test]
fn warnings_of_a_build_are_repeated_by_the_next_one() {
    let project = Project::new(
        r#"
        [tasks.a]
        outputs = ["a.txt"]
        checks = ["has_todo"]
        run = "echo a >> ran.log && echo done > a.txt"
        "#,
    );
    project.file(
        "rules/has_todo.toml",
        "description = \"Mentions TODO\"\npattern = 'TODO'\nforbid = false\nrequired = false\n",
    );
    for round in 0..3 {
        let run = project.build(&[], 0);
        assert!(
            run.stdout.contains("advisory check has_todo failed"),
            "round {round}: {run:#?}"
        );
    }
    assert_eq!(project.ran(), ["a"]);
}

/// `{ program = "NAME" }`: the executable found on PATH is hashed (never run); a new
/// build of it reruns the task, a new mtime alone does not, and `--explain` names it.
#[test]
fn a_program_input_tracks_the_executable_on_path_without_running_it() {
    let project = Project::new(
        r#"
        [tasks.a]
        inputs = ["src/a.c", { program = "mycc" }]
        outputs = ["out/a.o"]
        run = "echo a >> ran.log && mkdir -p out && cat src/a.c > out/a.o"
        "#,
    );
    project
        .file("src/a.c", "int a;\n")
        .file("tools/mycc", "#!/bin/sh\necho v1 >> ran-tool.log\n");
    let tool = project.path().join("tools/mycc");
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&tool, executable).unwrap();
    let path = format!(
        "{}:{}",
        project.path().join("tools").display(),
        std::env::var("PATH").unwrap()
    );
    let build = |args: &[&str]| {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        project.conduct_env(&all, &[("PATH", path.as_str())])
    };
    assert_eq!(build(&[]).status, 0);
    assert_eq!(project.ran(), ["a"]);
    assert!(build(&[]).stdout.contains("0 ran, 1 fresh"));
    // Touched, same bytes: fresh.
    std::fs::File::options()
        .append(true)
        .open(&tool)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    assert!(build(&[]).stdout.contains("0 ran, 1 fresh"));
    // A new build of the tool: the task reruns, and says why.
    project.file("tools/mycc", "#!/bin/sh\necho v2 >> ran-tool.log\n");
    let rerun = build(&["--explain"]);
    assert_eq!(rerun.status, 0, "{rerun:#?}");
    assert!(
        rerun.stdout.contains("input program `mycc` changed"),
        "{rerun:#?}"
    );
    assert_eq!(project.ran(), ["a"]);
    assert!(!project.exists("ran-tool.log"), "the program is never run");
    // Off PATH: the task cannot be keyed, fails (exit 1), and says so.
    let missing = project.conduct(&["build"]);
    assert_eq!(missing.status, 1, "{missing:#?}");
    assert!(
        format!("{}{}", missing.stdout, missing.stderr)
            .contains("input program `mycc` is not on PATH"),
        "{missing:#?}"
    );
}

#[test]
fn a_program_input_names_a_program_not_a_path() {
    let project = Project::new(
        r#"
        [tasks.a]
        inputs = [{ program = "tools/mycc" }]
        outputs = ["a.o"]
        run = "touch a.o"
        "#,
    );
    let run = project.conduct(&["check"]);
    assert_eq!(run.status, 2, "{run:#?}");
    assert!(
        run.stderr
            .contains("program `tools/mycc` is a path, not a name"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("tasks.toml:2"), "{run:#?}");
}

/// A bare program name runs the file the task's own PATH finds (conduct looks it up
/// once and remembers it, per PATH), not the one on conduct's PATH.
#[test]
fn a_tasks_env_path_decides_which_program_runs() {
    let project = Project::new(
        r#"
        [tasks.mine]
        outputs = ["mine.txt"]
        env = { PATH = "TASKDIR:/usr/bin:/bin" }
        run = ["greet", "mine.txt"]
        [tasks.theirs]
        outputs = ["theirs.txt"]
        run = ["greet", "theirs.txt"]
        "#,
    );
    let task_bin = project.path().join("task-bin");
    let toml = project
        .read("tasks.toml")
        .replace("TASKDIR", task_bin.to_str().unwrap());
    project.file("tasks.toml", &toml);
    for (dir, word) in [("task-bin", "task"), ("conduct-bin", "conduct")] {
        project.file(
            &format!("{dir}/greet"),
            &format!("#!/bin/sh\necho {word} > \"$1\"\n"),
        );
        let file = project.path().join(dir).join("greet");
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let path = format!(
        "{}:{}",
        project.path().join("conduct-bin").display(),
        std::env::var("PATH").unwrap()
    );
    let run = project.conduct_env(&["build", "-j", "1"], &[("PATH", path.as_str())]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(project.read("theirs.txt"), "conduct\n");
    assert_eq!(project.read("mine.txt"), "task\n");
}
