//! Global options and the commands' plain behaviour: `-C`, `-f`, finding tasks.toml
//! upward, exit codes for usage errors, completions, and the one-line check summary.

use crate::test::Test;

const SMALL: &str = r#"
    [groups.G]
    title = "Group"
    [tasks.lint]
    title = "Lint"
    group = "G"
    effort = "30m"
    agent = "bot"
    outputs = ["lint.txt"]
    run = "x"
    [tasks.test]
    title = "Test everything"
    group = "G"
    effort = "2h"
    inputs = ["lint.txt"]
"#;

#[test]
fn check_prints_a_one_line_summary() {
    Test::new()
        .tasks_toml(SMALL)
        .args(["check"])
        .stdout("ok: 2 tasks, 1 group, 1 edge, 0 rules\n")
        .stderr("warning: task `lint` has a command but no inputs: it runs once and then stays fresh; list what it reads in `inputs`, or set `always = true` to run it on every build\n")
        .run();
}

#[test]
fn check_json_summary() {
    let json = Test::new()
        .tasks_toml(SMALL)
        .args(["check", "--json"])
        .run()
        .json();
    assert_eq!(
        json,
        serde_json::json!({"ok": true, "tasks": 2, "groups": 1, "edges": 1, "barriers": 0, "rules": 0})
    );
}

#[test]
fn list_shows_tasks_by_group() {
    Test::new()
        .tasks_toml(SMALL)
        .args(["list"])
        .stdout(
            "
            G: Group  (2 tasks, 2h 30m)
              lint  never built  Lint             30m  bot
              test  stale        Test everything   2h  -    <- lint
            ",
        )
        .run();
}

#[test]
fn config_is_found_upward_from_a_subdirectory() {
    Test::new()
        .tasks_toml(SMALL)
        .dir("src/deep")
        .current_dir("src/deep")
        .args(["check"])
        .stdout("ok: 2 tasks, 1 group, 1 edge, 0 rules\n")
        .run();
}

#[test]
fn dash_c_runs_as_if_started_elsewhere() {
    let test = Test::new()
        .file("project/tasks.toml", SMALL)
        .dir("elsewhere");
    let project = test.path().join("project").display().to_string();
    test.current_dir("elsewhere")
        .args(["-C", &project, "check"])
        .stdout("ok: 2 tasks, 1 group, 1 edge, 0 rules\n")
        .run();
}

#[test]
fn dash_f_names_the_config_and_its_directory_is_the_root() {
    Test::new()
        .file("conf/plan.toml", "[tasks.a]\ninputs = [\"data.txt\"]\n")
        .file("conf/data.txt", "x")
        .args(["-f", "conf/plan.toml", "check"])
        .stdout("ok: 1 task, 0 groups, 0 edges, 0 rules\n")
        .run();
}

#[test]
fn errors_name_the_config_given_with_dash_f() {
    Test::new()
        .file("plan.toml", "[tasks.a]\nbad = 1\n")
        .args(["-f", "plan.toml", "check"])
        .status(2)
        .stderr_contains("--> plan.toml:2:1")
        .stderr_contains("error: could not load `plan.toml`: 1 error")
        .run();
}

#[test]
fn missing_config() {
    Test::new()
        .args(["check"])
        .status(2)
        .stderr_contains("error: could not find `tasks.toml` in `")
        .stderr_contains("or any parent directory")
        .stderr_contains("help: run conduct inside a project, or pass `-C DIR` or `-f FILE`")
        .run();
    Test::new()
        .args(["-f", "nope.toml", "list"])
        .status(2)
        .stderr_contains("error: could not find `nope.toml` in `")
        .run();
    Test::new()
        .args(["-C", "no/such/dir", "list"])
        .status(2)
        .stderr_contains("error: cannot use directory `")
        .run();
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    Test::new()
        .args(["frobnicate"])
        .status(2)
        .stderr_contains("error: unrecognized subcommand")
        .run();
    Test::new().args(["list", "--bogus"]).status(2).run();
    Test::new()
        .args(["graph", "--format", "png"])
        .status(2)
        .run();
    Test::new()
        .args(["--help"])
        .stdout_contains("Usage: conduct")
        .run();
    Test::new()
        .args(["--version"])
        .stdout(&format!("conduct {}\n", env!("CARGO_PKG_VERSION")))
        .run();
}

#[test]
fn completions_for_each_shell() {
    // Each script registers a completer that calls back into conduct.
    for (shell, marker) in [
        ("bash", "_clap_complete_conduct()"),
        ("zsh", "#compdef conduct"),
        (
            "fish",
            "complete --keep-order --exclusive --command conduct",
        ),
        ("elvish", "arg-completer[conduct]"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName conduct",
        ),
    ] {
        Test::new()
            .args(["completions", shell])
            .stdout_contains(marker)
            .stdout_contains("COMPLETE")
            .run();
    }
}

#[test]
fn an_empty_project_is_valid() {
    Test::new()
        .tasks_toml("")
        .args(["check"])
        .stdout("ok: 0 tasks, 0 groups, 0 edges, 0 rules\n")
        .run();
    Test::new().tasks_toml("").args(["list"]).stdout("").run();
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "[tasks.t{i}]\ntitle = \"a fairly long title for task {i}\"\n"
        ));
    }
    let test = Test::new().tasks_toml(&text);
    let mut child = Command::new(crate::test::binary())
        .args(["list"])
        .current_dir(test.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}
