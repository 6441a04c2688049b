//! Streams, colours and what a CI log shows (issue 15, items 3 and 4). One rule: every
//! line for humans goes to stderr when stderr is a terminal (with the bar), and to
//! stdout otherwise — failures, `blocked` lines and the summary included — so a
//! redirected build keeps all of it and a failing CI build writes nothing on stderr.
//! Colours are decided per stream (`NO_COLOR`, `CLICOLOR_FORCE`, pipes), also for the
//! lines printed above the bar. `--explain` lists what does something; `--explain=all`
//! adds the fresh tasks. (The "still running" lines are unit tests of the reporter,
//! with a clock moved by hand: src/report/progress/tests.rs.)

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::test::Project;

/// `ok` succeeds, `bad` fails, `after` waits on it, `warned` has an advisory check
/// that fails (a warning).
const FAILING: &str = r#"
    [tasks.ok]
    outputs = ["ok.out"]
    run = "echo ok > ok.out"

    [tasks.bad]
    inputs = ["ok.out"]
    run = "echo broken; exit 3"

    [tasks.after]
    deps = ["bad"]
    run = "true"
"#;

#[test]
fn without_a_terminal_every_line_of_a_failing_build_is_on_stdout() {
    let project = Project::new(FAILING);
    let run = project.build(&[], 1);
    for line in [
        "] ok ok (",
        "] FAILED bad (",
        "  | broken\n",
        "] blocked after (by bad)\n",
        "1 ran, 0 fresh, 0 restored, 1 failed, 1 blocked in ",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line:?} not on stdout: {run:#?}"
        );
    }
    assert_eq!(run.stderr, "", "{run:#?}");
    // The same with -q: only the failure, the blocked line and the summary.
    let run = project.build(&["-q", "--force"], 1);
    assert!(run.stdout.contains("FAILED bad ("), "{run:#?}");
    assert!(run.stdout.contains("blocked after (by bad)"), "{run:#?}");
    assert!(!run.stdout.contains("ok ok"), "{run:#?}");
    assert_eq!(run.stderr, "", "{run:#?}");
}

#[test]
fn warnings_of_a_build_are_on_stdout_too() {
    let project = Project::new(
        r#"
        [tasks.a]
        outputs = ["a.txt"]
        run = "echo TODO > a.txt"
        checks = ["no_todo"]
        "#,
    );
    project.file(
        "rules/no_todo.toml",
        r#"
        pattern = "TODO"
        required = false
        "#,
    );
    let run = project.build(&[], 0);
    assert!(
        run.stdout
            .contains("warning: a: advisory check no_todo failed"),
        "{run:#?}"
    );
    assert_eq!(run.stderr, "", "{run:#?}");
}

#[test]
fn a_build_redirected_to_a_file_keeps_its_task_lines() {
    let project = Project::new(FAILING);
    let log = project.path().join("build.log");
    let output = Command::new(crate::test::binary())
        .arg("build")
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .stdout(File::create(&log).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let log = project.read("build.log");
    assert!(log.contains("[1/3] ok ok ("), "{log}");
    assert!(log.contains("[2/3] FAILED bad ("), "{log}");
    assert!(log.contains("[3/3] blocked after (by bad)"), "{log}");
    assert!(log.contains("1 ran, 0 fresh"), "{log}");
}

/// Two independent tasks; after the first build, `x`'s input changes.
fn two_tasks() -> Project {
    let project = Project::new(
        r#"
        [tasks.x]
        inputs = ["x.txt"]
        outputs = ["out/x"]
        run = "cp x.txt out/x"

        [tasks.y]
        inputs = ["y.txt"]
        outputs = ["out/y"]
        run = "cp y.txt out/y"
        "#,
    );
    project.file("x.txt", "1\n").file("y.txt", "1\n");
    project.build(&[], 0);
    project.file("x.txt", "2\n");
    project
}

#[test]
fn explain_lists_what_runs_and_explain_all_adds_the_fresh_tasks() {
    let project = two_tasks();
    let run = project.build(&["--dry-run", "--explain"], 0);
    assert!(
        run.stdout.contains("x would run:\n  input x.txt changed"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("y is fresh"), "{run:#?}");
    let run = project.build(&["--dry-run", "--explain=all"], 0);
    assert!(run.stdout.contains("x would run:\n"), "{run:#?}");
    assert!(run.stdout.contains("y is fresh\n"), "{run:#?}");
    let run = project.build(&["--explain"], 0);
    assert!(
        run.stdout.contains("x will run:\n  input x.txt changed"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("is fresh"), "{run:#?}");
    let run = project.build(&["--explain=all"], 0);
    assert!(run.stdout.contains("x is fresh\n"), "{run:#?}");
    assert!(run.stdout.contains("y is fresh\n"), "{run:#?}");
    // A missing output restored from the cache is listed without `=all`.
    std::fs::remove_file(project.path().join("out/y")).unwrap();
    let run = project.build(&["--explain"], 0);
    assert!(
        run.stdout
            .contains("y is fresh (cache hit: restored 1 output)\n  output out/y missing"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("x is fresh"), "{run:#?}");
}

#[test]
fn explain_takes_its_value_only_after_an_equals_sign() {
    let project = two_tasks();
    // `x` is a target here, not the value of --explain.
    let run = project.build(&["--explain", "x"], 0);
    assert!(run.stdout.contains("x will run:"), "{run:#?}");
    assert!(run.stdout.contains("1 ran, 0 fresh"), "{run:#?}");
    let run = project.conduct(&["build", "--explain=some"]);
    assert_eq!(run.status, 2, "{run:#?}");
    assert!(
        run.stderr.contains("possible values: changed, all"),
        "{run:#?}"
    );
}

fn have_script() -> bool {
    crate::test::tool_available(
        "script",
        "util-linux, runs the TTY tests on a pseudo-terminal",
    )
}

/// Run `conduct build` plus `redirect` (shell text) on a pseudo-terminal in `dir`, with
/// `NO_COLOR` set or not; returns what the terminal showed.
fn on_a_terminal(dir: &Path, no_colour: bool, redirect: &str) -> String {
    let binary = crate::test::binary();
    let command = format!("'{}' build{redirect}", binary.display());
    let mut script = Command::new("script");
    script
        .args(["-qefc", &command, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .stdin(Stdio::null());
    if no_colour {
        script.env("NO_COLOR", "1");
    } else {
        script.env_remove("NO_COLOR");
    }
    let output = script.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The SGR (colour) sequences in `text`: ESC `[`, digits and `;`, `m`. The bar's cursor
/// controls (`ESC [2K`, …) are not colours.
fn colour_codes(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("\u{1b}[") {
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[end..].starts_with('m') {
            found.push(&rest[at..at + 2 + end + 1]);
        }
        rest = after;
    }
    found
}

#[test]
fn on_a_terminal_no_color_strips_the_lines_above_the_bar() {
    if !have_script() {
        return;
    }
    let project = Project::new(FAILING);
    let shown = on_a_terminal(project.path(), true, "");
    assert!(shown.contains("FAILED bad ("), "{shown:?}");
    assert!(shown.contains("blocked after (by bad)"), "{shown:?}");
    assert!(shown.contains("1 ran, 0 fresh"), "{shown:?}");
    assert_eq!(colour_codes(&shown), Vec::<&str>::new(), "{shown:?}");
}

#[test]
fn on_a_terminal_failed_is_coloured() {
    if !have_script() {
        return;
    }
    let project = Project::new(FAILING);
    let shown = on_a_terminal(project.path(), false, "");
    assert!(
        shown.contains("\u{1b}[31mFAILED\u{1b}[0m bad ("),
        "{shown:?}"
    );
}

#[test]
fn on_a_terminal_every_line_is_on_stderr() {
    if !have_script() {
        return;
    }
    let project = Project::new(FAILING);
    // stdout is a file, stderr the terminal: the lines stay with the bar.
    let shown = on_a_terminal(project.path(), true, " > stdout.txt");
    assert_eq!(project.read("stdout.txt"), "");
    assert!(shown.contains("[1/3] ok ok ("), "{shown:?}");
    assert!(shown.contains("FAILED bad ("), "{shown:?}");
    assert!(shown.contains("blocked after (by bad)"), "{shown:?}");
    assert!(shown.contains("1 ran, 0 fresh"), "{shown:?}");
}
