//! Rules as checks (SPEC §5) through the real binary: a task is done when its outputs
//! pass the checks it names. Commands log to `ran.log`; `run` rules log to
//! `checks.log`, so tests count what actually ran.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::test::Project;

const SECRETS: &str = r#"
    description = "No hard-coded passwords"
    pattern = '(?i)password\s*=\s*"[^"]+"'
    forbid = true
"#;

/// `app` writes `src/app.ts` from `in.txt`; `user` depends on it.
fn project(checks: &str) -> Project {
    let project = Project::new(&format!(
        r#"
        [tasks.app]
        inputs = ["in.txt"]
        outputs = ["src/app.ts"]
        checks = [{checks}]
        run = "echo app >> ran.log && cp in.txt src/app.ts"
        [tasks.user]
        inputs = ["src/app.ts"]
        outputs = ["used.txt"]
        run = "echo user >> ran.log && cp src/app.ts used.txt"
        "#
    ));
    project.file("in.txt", "export const ok = 1;\n");
    project.file("rules/secrets.toml", SECRETS);
    project
}

fn leak(project: &Project) {
    project.file(
        "in.txt",
        "export const ok = 1;\nconst password = \"hunter2\";\n",
    );
}

#[test]
fn a_failing_required_check_fails_the_task_and_names_rule_file_and_line() {
    let project = project("\"non_empty\", \"secrets\"");
    leak(&project);
    let run = project.build(&[], 1);
    assert_eq!(project.ran(), ["app"], "the dependent is blocked, not run");
    assert!(
        run.stdout.contains("FAILED app (")
            && run
                .stdout
                .contains("check secrets failed: src/app.ts:2: const password = \"hunter2\";"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("blocked user (by app)"),
        "{}",
        run.stdout
    );

    // Nothing changed: the command does not rerun, the cached verdict fails it again.
    let run = project.build(&["--dry-run"], 0);
    assert!(
        run.stdout
            .contains("app would be checked again:\n  check secrets failed: src/app.ts:2:"),
        "{}",
        run.stdout
    );
    let run = project.build(&[], 1);
    assert!(project.ran().is_empty(), "neither command ran again");
    assert!(
        run.stdout.contains("check secrets failed: src/app.ts:2:"),
        "{run:#?}"
    );
    let list = project.conduct(&["list"]);
    assert!(list.stdout.contains("  app   failed"), "{}", list.stdout);

    // Fixed input: the command reruns, the check passes, the dependent runs.
    project.file("in.txt", "export const ok = 2;\n");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["app", "user"]);
}

#[test]
fn an_advisory_check_warns_and_the_command_does_not_run_again() {
    let project = project("\"secrets\"");
    leak(&project);
    project.build(&[], 1);
    project.ran();
    project.file(
        "rules/secrets.toml",
        &format!("{SECRETS}\nrequired = false\n"),
    );
    let run = project.build(&["--explain"], 0);
    assert_eq!(
        project.ran(),
        ["user"],
        "app's command did not run again; its dependent did"
    );
    assert!(
        run.stdout
            .contains("app is checked again:\n  rule secrets changed\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("warning: app: advisory check secrets failed: src/app.ts:2:"),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains("0 failed, 0 blocked, 1 warning in "),
        "{}",
        run.stdout
    );
}

#[test]
fn a_gate_below_its_bound_fails_with_the_value() {
    let project = project("\"coverage\"");
    project.file(
        "rules/coverage.toml",
        r#"
        run = "echo metric coverage 72.5"
        metric = "coverage"
        min = 80
        "#,
    );
    let run = project.build(&["--json"], 1);
    let events = run.events();
    let check: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "check_finished")
        .collect();
    assert_eq!(check.len(), 1);
    assert_eq!(check[0]["rule"], "coverage");
    assert_eq!(check[0]["passed"], false);
    assert_eq!(check[0]["required"], true);
    assert_eq!(check[0]["message"], "src/app.ts: coverage 72.5 < min 80");
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "task_finished")
        .collect();
    assert_eq!(finished[0]["status"], "failed");
    assert_eq!(
        finished[0]["error"],
        "check coverage failed: src/app.ts: coverage 72.5 < min 80"
    );

    project.file(
        "rules/coverage.toml",
        "run = \"echo metric coverage 91\"\nmetric = \"coverage\"\nmin = 80\n",
    );
    let run = project.build(&["--json"], 0);
    let check = run
        .events()
        .into_iter()
        .find(|e| e["event"] == "check_finished")
        .unwrap();
    assert_eq!(check["passed"], true);
    assert_eq!(check["metric"], 91.0);
}

#[test]
fn editing_a_rule_reruns_only_that_check() {
    let project = project("\"counted\", \"other\"");
    project.file(
        "rules/counted.toml",
        "run = \"echo counted >> checks.log\"\n",
    );
    project.file("rules/other.toml", "run = \"echo other >> checks.log\"\n");
    // Checks run in parallel: compare what ran, not in which order.
    let checks_run = || {
        let mut lines: Vec<String> = project
            .read("checks.log")
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    project.build(&[], 0);
    assert_eq!(project.ran(), ["app", "user"]);
    assert_eq!(checks_run(), ["counted", "other"]);
    project.build(&[], 0);
    assert_eq!(checks_run(), ["counted", "other"], "nothing rechecked");
    project.file(
        "rules/counted.toml",
        "# edited\nrun = \"echo counted >> checks.log\"\n",
    );
    project.build(&[], 0);
    assert!(project.ran().is_empty(), "no command reran");
    assert_eq!(
        checks_run(),
        ["counted", "counted", "other"],
        "only that check ran"
    );
}

#[test]
fn a_restored_task_keeps_its_cached_checks() {
    let project = project("\"counted\"");
    project.file(
        "rules/counted.toml",
        "run = \"echo counted >> checks.log\"\n",
    );
    project.build(&[], 0);
    std::fs::remove_file(project.path().join("src/app.ts")).unwrap();
    std::fs::remove_file(project.path().join(".cache/state/state.bin")).unwrap();
    project.ran();
    let run = project.build(&[], 0);
    assert!(run.stdout.contains("restored app"), "{}", run.stdout);
    assert!(project.ran().is_empty());
    assert_eq!(
        project.read("checks.log"),
        "counted\n",
        "the check's verdict came from the cache"
    );
}

#[test]
fn a_verdict_reached_after_a_rule_edit_is_cached_too() {
    let project = project("\"counted\"");
    project.file(
        "rules/counted.toml",
        "run = \"echo counted >> checks.log\"\n",
    );
    project.build(&[], 0);
    project.file(
        "rules/counted.toml",
        "# edited\nrun = \"echo counted >> checks.log\"\n",
    );
    project.build(&[], 0);
    assert_eq!(project.read("checks.log"), "counted\ncounted\n");
    // Another checkout: no state, no outputs, the same cache.
    std::fs::remove_file(project.path().join("src/app.ts")).unwrap();
    std::fs::remove_file(project.path().join(".cache/state/state.bin")).unwrap();
    project.ran();
    let run = project.build(&[], 0);
    assert!(run.stdout.contains("restored app"), "{}", run.stdout);
    assert_eq!(
        project.read("checks.log"),
        "counted\ncounted\n",
        "the edited rule's verdict came from the cache"
    );
}

#[test]
fn a_timed_out_check_is_asked_again_next_build() {
    let project = project("\"slow_once\"");
    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("[tasks.app]\n", "[tasks.app]\ntimeout = \"1s\"\n")
            .as_bytes(),
    );
    project.file(
        "rules/slow_once.toml",
        "run = \"echo check >> checks.log; test -f once || { touch once; sleep 30; }\"\n",
    );
    let run = project.build(&[], 1);
    assert!(run.stdout.contains("timed out"), "{run:#?}");
    project.build(&[], 0);
    assert_eq!(
        project.read("checks.log"),
        "check\ncheck\n",
        "a timeout is not a verdict on the files"
    );
}

#[test]
fn a_hanging_check_is_bound_by_the_tasks_timeout() {
    let project = project("\"hangs\"");
    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("[tasks.app]\n", "[tasks.app]\ntimeout = \"1s\"\n")
            .as_bytes(),
    );
    project.file("rules/hangs.toml", "run = \"sleep 30\"\n");
    let started = Instant::now();
    let run = project.build(&[], 1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        run.stdout
            .contains("check hangs failed: src/app.ts: timed out"),
        "{run:#?}"
    );
}

#[test]
fn retries_rerun_the_command_with_the_checks_feedback() {
    let project = Project::new(
        r#"
        [tasks.agent]
        outputs = ["out.ts"]
        checks = ["secrets"]
        retries = 1
        run = "echo $CONDUCT_ATTEMPT >> ran.log; if [ -n \"$CONDUCT_FEEDBACK\" ]; then cp \"$CONDUCT_FEEDBACK\" feedback.txt; echo 'export const fixed = 1;' > out.ts; else echo 'const password = \"x1\";' > out.ts; fi"
        "#,
    );
    project.file("rules/secrets.toml", SECRETS);
    let run = project.build(&[], 0);
    assert_eq!(project.ran(), ["1", "2"]);
    assert!(run.stdout.contains("[retry 1] FAILED agent"), "{run:#?}");
    assert_eq!(
        project.read("feedback.txt"),
        "check secrets failed: out.ts:1: const password = \"x1\";"
    );
}

#[test]
fn builtin_checks() {
    let project = Project::new(
        r#"
        [tasks.data]
        outputs = ["a.json", "b.toml", "c.txt"]
        checks = ["json", "toml", "non_empty"]
        run = "echo '{\"k\": 1}' > a.json && echo 'k = 1' > b.toml && echo x > c.txt"
        "#,
    );
    project.build(&[], 0);
    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace("k = 1' > b.toml", "k = ' > b.toml").as_bytes(),
    );
    let run = project.build(&[], 1);
    assert!(
        run.stdout.contains("check toml failed: b.toml is not TOML"),
        "{run:#?}"
    );
}
