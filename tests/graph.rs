//! The dependency graph as users see it through `conduct graph` and `conduct list`:
//! explicit deps, deps inferred from paths and globs against declared outputs, group
//! barriers, and target selection with transitive dependencies.

use serde_json::{Value, json};

use crate::test::Test;

const PROJECT: &str = r#"
    [groups.A]
    title = "Foundation"
    [groups.B]
    title = "Services"
    after = ["A"]

    [tasks.schema]
    group = "A"
    outputs = ["db/001.sql"]
    run = "x"

    [tasks.types]
    group = "A"
    outputs = ["src/types/api.ts"]
    run = "x"

    [tasks.assets]
    group = "A"
    outputs = ["public/"]
    run = "x"

    [tasks.service]
    group = "B"
    deps = ["schema"]
    inputs = ["src/**/*.ts", "public/logo.svg"]
    outputs = ["build/service.js"]
    run = "x"

    [tasks.migrate]
    inputs = ["db/*.sql"]
    run = "x"

    [tasks.docs]
    inputs = ["build/*.js", "src/*.ts"]
    run = "x"
"#;

fn graph_json(targets: &[&str]) -> Value {
    Test::new()
        .tasks_toml(PROJECT)
        .args(["graph", "--format", "json"])
        .args(targets.iter().copied())
        .run()
        .json()
}

fn edges(json: &Value) -> Vec<String> {
    json["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let via = e.get("output").and_then(Value::as_str).unwrap_or("deps");
            format!(
                "{} <- {} ({}: {via})",
                e["task"].as_str().unwrap(),
                e["dep"].as_str().unwrap(),
                e["kind"].as_str().unwrap()
            )
        })
        .collect()
}

fn task_ids(json: &Value) -> Vec<&str> {
    json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect()
}

#[test]
fn edges_are_explicit_or_inferred_from_paths_globs_and_directory_outputs() {
    let json = graph_json(&[]);
    assert_eq!(
        edges(&json),
        [
            "service <- schema (explicit: deps)",
            "service <- types (inferred: src/types/api.ts)",
            "service <- assets (inferred: public/logo.svg)",
            "migrate <- schema (inferred: db/001.sql)",
            "docs <- service (inferred: build/service.js)",
        ]
    );
    assert_eq!(json["groups"][1]["after"], json!(["A"]));
}

#[test]
fn a_target_brings_its_transitive_dependencies_and_group_barriers() {
    // docs needs service; service is in B, which runs after all of A.
    assert_eq!(
        task_ids(&graph_json(&["docs"])),
        ["schema", "types", "assets", "service", "docs"]
    );
    assert_eq!(task_ids(&graph_json(&["migrate"])), ["schema", "migrate"]);
    assert_eq!(task_ids(&graph_json(&["A"])), ["schema", "types", "assets"]);
    assert_eq!(task_ids(&graph_json(&["all"])).len(), 6);
    assert_eq!(
        task_ids(&graph_json(&["migrate", "types"])),
        ["schema", "types", "migrate"]
    );
}

#[test]
fn unknown_targets_suggest_a_name() {
    Test::new()
        .tasks_toml(PROJECT)
        .args(["graph", "servcie"])
        .status(2)
        .stderr("error: unknown target `servcie`\nhelp: did you mean `service`?\n")
        .run();
    Test::new()
        .tasks_toml(PROJECT)
        .args(["graph", "zzz"])
        .status(2)
        .stderr_contains("help: a target is a task id, a group, or `all`")
        .run();
}

#[test]
fn barriers_show_in_list() {
    Test::new()
        .tasks_toml(PROJECT)
        .args(["list"])
        .stdout(
            "
            A: Foundation  (3 tasks)
              schema   never built  -  -  -
              types    never built  -  -  -
              assets   never built  -  -  -

            B: Services  (1 task)  after A
              service  never built  -  -  -  <- schema, types, assets

            (no group)
              migrate  never built  -  -  -  <- schema
              docs     never built  -  -  -  <- service
            ",
        )
        .run();
}

#[test]
fn dot_output_has_clusters_edges_and_barriers() {
    let finished = Test::new().tasks_toml(PROJECT).args(["graph"]).run();
    let dot = finished.stdout;
    assert!(dot.starts_with("digraph conduct {\n"), "{dot}");
    assert!(
        dot.contains("subgraph \"cluster_0\" {\n    label=\"A: Foundation\";"),
        "{dot}"
    );
    assert!(dot.contains("  \"schema\" -> \"service\";\n"), "{dot}");
    assert!(
        dot.contains("  \"types\" -> \"service\" [color=\"gray40\"];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("\"schema\" -> \"service\" [ltail=\"cluster_0\", lhead=\"cluster_1\", style=dashed, label=\"after\"];"),
        "{dot}"
    );
    assert!(dot.trim_end().ends_with('}'));
}

#[test]
fn mermaid_output_uses_safe_node_names() {
    let finished = Test::new()
        .tasks_toml(
            "[tasks.end]\noutputs = [\"a\"]\nrun = \"x\"\n[tasks.\"build-app\"]\ntitle = 'Say \"hi\"'\ninputs = [\"a\"]\n",
        )
        .args(["graph", "--format", "mermaid"])
        .run();
    assert_eq!(
        finished.stdout,
        "flowchart LR\n  t0[\"end\"]\n  t1[\"build-app: Say #quot;hi#quot;\"]\n  t0 -.-> t1\n  classDef stale fill:#fff3c4,stroke:#b28704\n  class t0,t1 stale\n"
    );
}

#[test]
fn tasks_are_coloured_fresh_stale_failed_and_blocked() {
    let project = crate::test::Project::new(
        r#"
        [tasks.ok]
        outputs = ["ok.txt"]
        run = "echo ok > ok.txt"
        [tasks.edited]
        inputs = ["in.txt"]
        outputs = ["edited.txt"]
        run = "cp in.txt edited.txt"
        [tasks.broken]
        run = "exit 1"
        [tasks.after_broken]
        deps = ["broken"]
        run = "true"
        [tasks.further]
        deps = ["after_broken"]
        run = "true"
        "#,
    );
    project.file("in.txt", "1");
    project.build(&[], 1);
    project.file("in.txt", "2");
    let json: Value =
        serde_json::from_str(&project.conduct(&["graph", "--format", "json"]).stdout).unwrap();
    let status = |id: &str| {
        json["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(status("ok"), "fresh");
    assert_eq!(status("edited"), "stale");
    assert_eq!(status("broken"), "failed");
    assert_eq!(status("after_broken"), "blocked");
    assert_eq!(status("further"), "blocked");
    let dot = project.conduct(&["graph"]).stdout;
    assert!(
        dot.contains("\"ok\" [label=\"ok\", style=\"rounded,filled\", fillcolor=\"#c8e6c9\""),
        "{dot}"
    );
    assert!(
        dot.contains("fillcolor=\"#ffcdd2\", color=\"#c62828\", tooltip=\"failed\""),
        "{dot}"
    );
    let mermaid = project.conduct(&["graph", "--format", "mermaid"]).stdout;
    assert!(mermaid.contains("  class t3,t4 blocked\n"), "{mermaid}");
    assert!(
        mermaid.contains("  classDef failed fill:#ffcdd2,stroke:#c62828\n"),
        "{mermaid}"
    );
}

#[test]
fn a_plan_whose_files_do_not_exist_yet_still_draws() {
    let finished = Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"later.txt\"]\nrun = \"true\"\n")
        .args(["graph", "--format", "json"])
        .run();
    let json = finished.json();
    assert_eq!(json["tasks"][0]["id"], "a");
    assert!(json["tasks"][0].get("status").is_none());
}
