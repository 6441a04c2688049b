//! What a successful run printed (issue 14): shown under the task's line when not empty,
//! as ninja shows a command's warnings, unless the task says `quiet = true`, the build
//! is `-q`, or `-v` streamed it already; `--json` has it in `task_finished`. Restores
//! and fresh tasks print nothing of an old run. A task without a title is named once.

use crate::test::{Project, Test, unindent};

/// `cc` warns on stderr and succeeds; `link`, without a title, prints nothing.
const PROJECT: &str = r#"
    [tasks.cc]
    title = "Compile"
    outputs = ["cc.out"]
    run = "echo 'warning: unused variable `x`' >&2 && echo cc > cc.out"

    [tasks.link]
    inputs = ["cc.out"]
    outputs = ["app"]
    run = "cat cc.out > app"
"#;

/// Output with its timings masked: `(0.01s)` on a task's line and the summary's
/// ` in 0.02s` become `(…)` and ` in …`, so whole outputs can be compared.
fn masked(output: &str) -> String {
    output
        .lines()
        .map(|line| {
            if line.starts_with('[')
                && let Some((head, rest)) = line.split_once(" (")
                && let Some((_, tail)) = rest.split_once("s)")
            {
                format!("{head} (…){tail}\n")
            } else if line.contains(" ran, ")
                && let Some((head, _)) = line.rsplit_once(" in ")
            {
                format!("{head} in …\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

#[test]
fn a_warning_of_a_successful_task_shows_under_its_line() {
    let finished = Test::new()
        .tasks_toml(PROJECT)
        .args(["build"])
        .stderr("")
        .run();
    assert_eq!(
        masked(&finished.stdout),
        unindent(
            "
            [1/2] ok cc Compile (…)
              | warning: unused variable `x`
            [2/2] ok link (…)
            2 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in …
            "
        )
    );
}

#[test]
fn a_task_that_prints_nothing_adds_no_line() {
    let finished = Test::new()
        .tasks_toml(
            r#"
            [tasks.silent]
            title = "Silent"
            outputs = ["s.out"]
            run = "echo s > s.out"

            [tasks.blank]
            title = "Only blank lines"
            inputs = ["s.out"]
            run = "echo; echo"
            "#,
        )
        .args(["build"])
        .stderr("")
        .run();
    assert_eq!(
        masked(&finished.stdout),
        unindent(
            "
            [1/2] ok silent Silent (…)
            [2/2] ok blank Only blank lines (…)
            2 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in …
            "
        )
    );
}

#[test]
fn a_task_without_a_title_is_named_once() {
    let project = Project::new(
        r#"
        [tasks.ok]
        outputs = ["ok.out"]
        run = "echo ok > ok.out"

        [tasks.bad]
        inputs = ["ok.out"]
        run = "echo broken; exit 3"

        [tasks.after]
        deps = ["bad"]
        run = "true"
        "#,
    );
    let run = project.build(&[], 1);
    // One stream: the failure sits between the lines around it (issue 15).
    assert_eq!(
        masked(&run.stdout),
        unindent(
            "
            [1/3] ok ok (…)
            [2/3] FAILED bad (…): exit code 3
              | broken
            [3/3] blocked after (by bad)
            1 ran, 0 fresh, 0 restored, 1 failed, 1 blocked in …
            "
        ),
        "{run:#?}"
    );
    assert_eq!(run.stderr, "", "{run:#?}");
    // The instruction an agent gets is headed by the id alone too.
    let show = project.conduct(&["show", "bad"]);
    assert!(show.stdout.starts_with("# bad\n"), "{show:#?}");
    assert!(show.stdout.contains("\n- ok: `ok.out`\n"), "{show:#?}");
}

#[test]
fn a_quiet_task_keeps_its_output_in_its_log() {
    let project = Project::new(&PROJECT.replace("title = \"Compile\"", "quiet = true"));
    let run = project.build(&[], 0);
    assert_eq!(
        masked(&run.stdout),
        unindent(
            "
            [1/2] ok cc (…)
            [2/2] ok link (…)
            2 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in …
            "
        ),
        "{run:#?}"
    );
    assert_eq!(
        project.read(".cache/logs/cc.log"),
        "warning: unused variable `x`\n"
    );
    // `quiet` is not part of the key: turning it off reruns nothing.
    project.file("tasks.toml", PROJECT);
    let run = project.build(&[], 0);
    assert!(run.stdout.contains("0 ran, 2 fresh"), "{run:#?}");
}

#[test]
fn quiet_mode_prints_no_output_of_a_successful_task() {
    Test::new()
        .tasks_toml(PROJECT)
        .args(["build", "-q"])
        .stdout("")
        .stderr("")
        .run();
}

#[test]
fn verbose_mode_streams_the_output_and_does_not_repeat_it() {
    let finished = Test::new()
        .tasks_toml(PROJECT)
        .args(["build", "-v"])
        .stderr("[cc] warning: unused variable `x`\n")
        .run();
    assert_eq!(
        masked(&finished.stdout),
        unindent(
            "
            [1/2] ok cc Compile (…)
            [2/2] ok link (…)
            2 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in …
            "
        )
    );
}

#[test]
fn json_has_the_output_in_the_finished_event() {
    let project = Project::new(PROJECT);
    let run = project.build(&["--json"], 0);
    let finished = |task: &str| {
        run.events()
            .into_iter()
            .find(|e| e["event"] == "task_finished" && e["task"] == task)
            .unwrap_or_else(|| panic!("no task_finished for {task}: {run:#?}"))
    };
    assert_eq!(finished("cc")["output"], "warning: unused variable `x`\n");
    assert!(finished("cc").get("output_cut_bytes").is_none());
    assert!(finished("link").get("output").is_none(), "{run:#?}");
}

#[test]
fn a_long_output_shows_its_end_and_names_the_whole_log() {
    let project = Project::new(
        r#"
        [tasks.many]
        outputs = ["m.out"]
        run = "seq 1 300 && echo m > m.out"
        "#,
    );
    let run = project.build(&[], 0);
    // "1\n" to "100\n": 9 * 2 + 90 * 3 + 4 bytes.
    let shown: String = (101..=300).map(|n| format!("  | {n}\n")).collect();
    assert_eq!(
        masked(&run.stdout),
        format!(
            "[1/1] ok many (…)\n  | (first 292 B cut; the whole log is .cache/logs/many.log)\n{shown}1 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in …\n"
        ),
        "{run:#?}"
    );
    assert_eq!(project.read(".cache/logs/many.log").lines().count(), 300);
    let run = project.build(&["--json", "--force"], 0);
    let event = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "task_finished")
        .unwrap_or_else(|| panic!("no task_finished: {run:#?}"));
    assert_eq!(event["output_cut_bytes"], 292);
    assert_eq!(
        event["output"]
            .as_str()
            .map(str::lines)
            .map(Iterator::count),
        Some(200)
    );
}

#[test]
fn fresh_and_restored_tasks_print_no_old_output() {
    let project = Project::new(PROJECT);
    let run = project.build(&[], 0);
    assert!(run.stdout.contains("  | warning"), "{run:#?}");
    let run = project.build(&[], 0);
    assert!(!run.stdout.contains("warning"), "{run:#?}");
    std::fs::remove_file(project.path().join("cc.out")).unwrap();
    let run = project.build(&[], 0);
    assert_eq!(
        masked(&run.stdout),
        unindent(
            "
            [1/2] restored cc (1 output)
            0 ran, 1 fresh, 1 restored, 0 failed, 0 blocked in …
            "
        ),
        "{run:#?}"
    );
}

#[test]
fn a_log_that_is_a_symlink_is_never_read() {
    let project = Project::new(
        r#"
        [tasks.silent_ok]
        outputs = ["q.out"]
        run = "echo q > q.out"

        [tasks.silent_fail]
        run = "exit 1"
        "#,
    );
    project.build(&[], 1);
    // Logs that lead out of the project, to a file the tasks never wrote.
    for id in ["silent_ok", "silent_fail"] {
        let log = project.path().join(format!(".cache/logs/{id}.log"));
        let _ = std::fs::remove_file(&log);
        std::os::unix::fs::symlink("../../.victim/secret.txt", &log).unwrap();
    }
    let run = project.build(&["--force"], 1);
    assert!(!run.stdout.contains("VICTIM"), "{run:#?}");
    assert!(!run.stderr.contains("VICTIM"), "{run:#?}");
    assert!(run.stdout.contains("FAILED silent_fail ("), "{run:#?}");
}
