//! The shipped example (SPEC §9) at the repository root: the 22-task "Phase 5.3" plan
//! must validate and list, and every task must read its own spec section.

use crate::test::Test;

fn repo() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

#[test]
fn the_example_checks() {
    Test::new()
        .args(["-C", repo(), "check"])
        .stdout("ok: 22 tasks, 5 groups, 44 edges, 5 rules\n")
        .run();
}

#[test]
fn the_example_encodes_the_seed_plan() {
    let json = Test::new()
        .args(["-C", repo(), "list", "--json"])
        .run()
        .json();
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 22);
    let total: u64 = tasks
        .iter()
        .map(|t| t["effort_seconds"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 81 * 3600, "the plan's 81 hours of effort");
    for task in tasks {
        let id = task["id"].as_str().unwrap();
        let own = serde_json::json!({"section": {"path": "docs/phase-5-3.md", "section": id}});
        assert!(
            task["inputs"].as_array().unwrap().contains(&own),
            "{id} must read its own section"
        );
        assert!(
            !task["outputs"].as_array().unwrap().is_empty(),
            "{id} has outputs"
        );
        assert!(
            !task["checks"].as_array().unwrap().is_empty(),
            "{id} has checks"
        );
    }
    let t21 = tasks.iter().find(|t| t["id"] == "T21").unwrap();
    assert_eq!(
        t21["deps"],
        serde_json::json!([
            "T9", "T10", "T11", "T12", "T13", "T14", "T15", "T17", "T18", "T19"
        ])
    );
    let groups: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        ["GROUP_A", "GROUP_B", "GROUP_C", "GROUP_D", "GROUP_E"]
    );
}

#[test]
fn the_example_graph_renders() {
    let finished = Test::new().args(["-C", repo(), "graph", "T9"]).run();
    assert!(finished.stdout.contains("\"T4\" -> \"T9\""));
    assert!(!finished.stdout.contains("\"T10\""), "T9 does not need T10");
}

/// A copy of the shipped example in a temporary directory (building writes outputs).
pub(crate) fn example_copy() -> crate::test::Project {
    let project = crate::test::Project::new(
        &std::fs::read_to_string(format!("{}/tasks.toml", repo())).unwrap(),
    );
    for dir in ["docs", "rules", "scripts"] {
        crate::test::copy_dir(
            &std::path::Path::new(repo()).join(dir),
            &project.path().join(dir),
        );
    }
    project
}

#[test]
fn the_example_builds_then_is_a_no_op_then_reruns_only_what_an_edit_reaches() {
    let project = example_copy();
    let started = std::time::Instant::now();
    let run = project.build(&["all", "--json"], 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let events = run.events();
    assert_eq!(
        events.last().unwrap()["counts"]["ran"],
        22,
        "{}",
        run.stdout
    );
    assert!(
        project
            .read("database/migrations/001_error_recovery_and_scheduling.sql")
            .contains("CREATE TABLE job_failures")
    );

    let run = project.build(&["all", "--json"], 0);
    assert_eq!(run.events().last().unwrap()["counts"]["fresh"], 22);

    // Prose in T1's section: T1 reruns, writes the same bytes, nothing else runs.
    let plan = project.read("docs/phase-5-3.md");
    project.write(
        "docs/phase-5-3.md",
        plan.replacen(
            "Design the PostgreSQL schema",
            "Design the Postgres schema",
            1,
        )
        .as_bytes(),
    );
    let run = project.build(&["--json", "--explain"], 0);
    assert_eq!(started_tasks(&run), ["T1"]);

    // A provides line of T1: its outputs change, so T4-T7 (which read them) rerun; their
    // own outputs do not change (they depend on their own sections), so T9 and the rest
    // stay fresh.
    let plan = project.read("docs/phase-5-3.md");
    project.write(
        "docs/phase-5-3.md",
        plan.replacen("- provides: job_failures", "- provides: job_failure_log", 1)
            .as_bytes(),
    );
    let run = project.build(&["--json"], 0);
    let mut started = started_tasks(&run);
    started.sort();
    assert_eq!(started, ["T1", "T4", "T5", "T6", "T7"]);
}

fn started_tasks(run: &crate::test::Run) -> Vec<String> {
    run.events()
        .iter()
        .filter(|e| e["event"] == "task_started")
        .map(|e| e["task"].as_str().unwrap_or_default().to_owned())
        .collect()
}
