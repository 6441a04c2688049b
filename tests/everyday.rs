//! Everyday use (issue 15): tasks that always run, hand edits never overwritten
//! silently, and one status for every view.

use crate::test::{Project, Test};

#[test]
fn an_always_task_runs_every_build_and_its_dependents_keep_early_cutoff() {
    let project = Project::new(
        r#"
        [tasks.test]
        always = true
        outputs = ["report.txt"]
        run = "echo test >> ran.log && echo passed > report.txt"

        [tasks.publish]
        inputs = ["report.txt"]
        outputs = ["site.txt"]
        run = "echo publish >> ran.log && cp report.txt site.txt"
        "#,
    );
    project.build(&[], 0);
    assert_eq!(project.ran(), ["test", "publish"]);
    let run = project.build(&["--explain"], 0);
    assert_eq!(
        project.ran(),
        ["test"],
        "the same report: publish stays fresh"
    );
    assert!(
        run.stdout
            .contains("test will run:\n  always runs (always = true)\n"),
        "{run:?}"
    );
}

#[test]
fn check_warns_of_a_task_nothing_can_make_stale() {
    let warning =
        "warning: task `test` has a command but no inputs: it runs once and then stays fresh";
    Test::new()
        .tasks_toml("[tasks.test]\nrun = \"cargo test\"\n")
        .args(["check"])
        .stderr_contains(warning)
        .run();
    for fixed in [
        "[tasks.test]\nrun = \"cargo test\"\nalways = true\n",
        "[tasks.test]\nrun = \"cargo test\"\ninputs = [\"src/\"]\n",
    ] {
        Test::new()
            .tasks_toml(fixed)
            .dir("src")
            .args(["check"])
            .stderr("")
            .run();
    }
}

fn chain() -> Project {
    let project = Project::new(
        r#"
        [tasks.draft]
        inputs = ["spec.md"]
        outputs = ["draft.txt"]
        run = "echo draft >> ran.log && cat spec.md > draft.txt"

        [tasks.final]
        inputs = ["draft.txt"]
        outputs = ["final.txt"]
        run = "echo final >> ran.log && (cat draft.txt; echo done) > final.txt"
        "#,
    );
    project.file("spec.md", "v1\n");
    project.build(&[], 0);
    project.ran();
    project
}

#[test]
fn an_edited_output_is_never_overwritten_silently() {
    let project = chain();
    project.file("draft.txt", "fixed by a person\n");
    let run = project.build(&[], 1);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("EDITED draft"), "{said}");
    assert!(
        said.contains("`conduct accept draft` keeps the edit")
            && said.contains("`conduct build --discard-edits draft` restores or reruns it"),
        "{said}"
    );
    assert!(said.contains("blocked final (by draft)"), "{said}");
    assert!(project.ran().is_empty(), "not run, not restored");
    assert_eq!(project.read("draft.txt"), "fixed by a person\n");
    // Even when its input changed, the edit is not run over.
    project.file("spec.md", "v2\n");
    project.build(&[], 1);
    assert!(project.ran().is_empty());
    assert_eq!(project.read("draft.txt"), "fixed by a person\n");
    let list = project.conduct(&["list"]);
    assert!(list.stdout.contains("edited"), "{list:?}");
}

#[test]
fn accept_keeps_the_edit_and_the_dependents_rebuild_from_it() {
    let project = chain();
    project.file("draft.txt", "fixed by a person\n");
    assert_eq!(project.conduct(&["accept", "draft"]).status, 0);
    project.build(&[], 0);
    assert_eq!(project.ran(), ["final"]);
    assert_eq!(project.read("final.txt"), "fixed by a person\ndone\n");
}

#[test]
fn discard_edits_restores_the_named_task_only() {
    let project = chain();
    project.file("draft.txt", "fixed by a person\n");
    project.file("final.txt", "also edited\n");
    project.build(&["--discard-edits", "draft"], 0);
    assert_eq!(project.read("draft.txt"), "v1\n", "restored from the cache");
    assert_eq!(
        project.read("final.txt"),
        "also edited\n",
        "not named: kept"
    );
    project.build(&[], 1);
    assert_eq!(project.read("final.txt"), "also edited\n");
    project.build(&["--discard-edits"], 0);
    assert_eq!(project.read("final.txt"), "v1\ndone\n");
    assert!(project.ran().is_empty(), "both came from the cache");
}

#[test]
fn a_deleted_output_is_simply_restored() {
    let project = chain();
    std::fs::remove_file(project.path().join("draft.txt")).unwrap();
    project.build(&[], 0);
    assert!(project.ran().is_empty());
    assert_eq!(project.read("draft.txt"), "v1\n");
}

#[test]
fn what_a_killed_build_left_is_not_taken_for_an_edit() {
    let project = chain();
    // As a build killed while `draft` ran leaves things: its id noted as started, its
    // output half rewritten, its record still the last success.
    project.file(".cache/state/started.log", "draft\n");
    project.file("draft.txt", "half wri");
    project.build(&[], 0);
    assert_eq!(project.read("draft.txt"), "v1\n");
    assert!(
        !project.exists(".cache/state/started.log"),
        "cleared by a build that ended"
    );
}

#[test]
fn list_and_graph_agree_on_a_blocked_task() {
    let project = Project::new(
        r#"
        [tasks.a]
        inputs = ["in.txt"]
        outputs = ["a.txt"]
        run = "test -f ok && touch a.txt"

        [tasks.b]
        inputs = ["a.txt"]
        outputs = ["b.txt"]
        run = "touch b.txt"
        "#,
    );
    project.file("in.txt", "1\n").file("ok", "");
    project.build(&[], 0);
    std::fs::remove_file(project.path().join("ok")).unwrap();
    project.file("in.txt", "2\n");
    project.build(&[], 1);
    let list = project.conduct(&["list"]);
    let line = list
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("b "))
        .unwrap_or("");
    assert!(line.contains("blocked"), "{list:?}");
    let graph = project.conduct(&["graph", "--format", "json"]);
    let graph: serde_json::Value = serde_json::from_str(&graph.stdout).unwrap();
    let status = |id: &str| {
        graph["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["status"].clone())
    };
    assert_eq!(status("a"), Some("failed".into()));
    assert_eq!(status("b"), Some("blocked".into()));
}

#[test]
fn a_task_declared_twice_is_one_error_naming_the_first() {
    let run = Test::new()
        .tasks_toml("[tasks.a]\nrun = \"x\"\n\n[tasks.a]\nrun = \"y\"\nretries = 1\n")
        .args(["check"])
        .status(2)
        .stderr_contains("`[tasks.a]` is declared twice (first at line 1)")
        .stderr_contains("tasks.toml:4:")
        .run();
    assert_eq!(run.stderr.matches("error:").count(), 2, "{}", run.stderr);
}

#[test]
fn a_zero_timeout_is_refused_and_a_fraction_is_said_exactly() {
    Test::new()
        .tasks_toml("[tasks.a]\nrun = \"x\"\ntimeout = \"0s\"\n")
        .args(["check"])
        .status(2)
        .stderr_contains("`timeout` must be more than zero")
        .run();
    let project = Project::new("[tasks.a]\nrun = \"sleep 5\"\ntimeout = \"1500ms\"\n");
    let run = project.build(&[], 1);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("timed out after 1s 500ms"), "{said}");
}

#[test]
fn the_section_shorthand_on_another_file_says_what_it_is_for() {
    Test::new()
        .tasks_toml("[tasks.a]\nrun = \"x\"\ninputs = [\"notes.txt#intro\"]\n")
        .file("notes.txt", "intro\n")
        .args(["check"])
        .status(2)
        .stderr_contains("`file#section` selects a section of a Markdown (.md) file only")
        .run();
}

#[test]
fn plan_weights_go_back_to_efforts_after_a_build() {
    let project = Project::new(
        "[tasks.a]\neffort = \"2h\"\ninputs = [\"in.txt\"]\noutputs = [\"a.txt\"]\nrun = \"touch a.txt\"\n",
    );
    project.file("in.txt", "x\n");
    project.build(&[], 0);
    let auto = project.conduct(&["plan", "--all"]);
    assert!(
        auto.stdout
            .contains("weights: last recorded duration for 1"),
        "{auto:?}"
    );
    let effort = project.conduct(&["plan", "--all", "--weights", "effort"]);
    assert!(
        effort.stdout.contains("weights: effort for 1"),
        "{effort:?}"
    );
    assert!(
        effort.stdout.contains("total work:        2h"),
        "{effort:?}"
    );
}

#[test]
fn completions_offer_the_projects_task_and_group_ids() {
    let project = Project::new(
        "[groups.GROUP_A]\n[tasks.T1]\ngroup = \"GROUP_A\"\nrun = \"x\"\n[tasks.T10]\nrun = \"x\"\n[tasks.lint]\nrun = \"x\"\n",
    );
    let complete = |typed: &str| {
        let run = project.conduct_env(
            &["--", "conduct", "build", typed],
            &[
                ("COMPLETE", "bash"),
                ("_CLAP_COMPLETE_INDEX", "2"),
                ("_CLAP_COMPLETE_COMP_TYPE", "9"),
                ("_CLAP_COMPLETE_SPACE", "true"),
                ("_CLAP_IFS", "\n"),
            ],
        );
        assert_eq!(run.status, 0, "{run:?}");
        let mut offered: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
        offered.sort();
        offered
    };
    assert_eq!(complete("T1"), ["T1", "T10"]);
    assert_eq!(complete("GR"), ["GROUP_A"]);
    assert_eq!(complete("a"), ["all"]);
    let script = project.conduct(&["completions", "bash"]);
    assert!(script.stdout.contains("COMPLETE=\"bash\""), "{script:?}");
}
