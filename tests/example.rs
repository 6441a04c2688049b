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
