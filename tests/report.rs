//! Run records and `conduct report` (issue 6): every build leaves
//! `.cache/runs/<timestamp>.json`; the report draws the newest as a Markdown log
//! (snapshot-tested from a fixed record) or a self-contained HTML Gantt page.

use std::fs;

use serde_json::Value;

use crate::test::Project;

/// a -> b (fails once, then passes), c fails for good and blocks d; e has no run.
const TASKS: &str = r#"
    [project]
    keep_runs = 3
    [groups.G]
    title = "Gee"
    [tasks.a]
    group = "G"
    outputs = ["a.txt"]
    checks = ["non_empty"]
    run = "echo a > a.txt"
    [tasks.b]
    group = "G"
    inputs = ["a.txt"]
    outputs = ["b.txt"]
    retries = 1
    run = "if [ -f tried ]; then cp a.txt b.txt; else touch tried; exit 3; fi"
    [tasks.c]
    run = "exit 1"
    [tasks.d]
    deps = ["c"]
    run = "true"
"#;

fn runs(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(project.path().join(".cache/runs"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn newest(project: &Project) -> Value {
    let name = runs(project).pop().expect("a run record");
    serde_json::from_str(&project.read(&format!(".cache/runs/{name}"))).unwrap()
}

fn task<'v>(record: &'v Value, id: &str) -> &'v Value {
    record["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {record:#}"))
}

#[test]
fn every_build_records_its_run_and_the_newest_are_kept() {
    let project = Project::new(TASKS);
    project.build(&[], 1);
    let record = newest(&project);
    assert_eq!(record["schema_version"], 1);
    assert_eq!(record["counts"]["failed"], 1);
    let a = task(&record, "a");
    assert_eq!(a["status"], "ok");
    assert_eq!(a["group"], "G");
    assert_eq!(a["outputs"], serde_json::json!(["a.txt"]));
    assert_eq!(a["checks"][0]["rule"], "non_empty");
    assert_eq!(a["checks"][0]["passed"], true);
    assert_eq!(a["reasons"], serde_json::json!(["never built"]));
    let b = task(&record, "b");
    assert_eq!(b["status"], "ok");
    assert_eq!(b["deps"], serde_json::json!(["a"]));
    let attempts = b["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], "failed");
    assert!(
        a["end_ms"].as_u64().unwrap() <= b["start_ms"].as_u64().unwrap(),
        "b starts after a ends"
    );
    let c = task(&record, "c");
    assert_eq!(c["status"], "failed");
    assert_eq!(c["error"], "exit code 1");
    let d = task(&record, "d");
    assert_eq!(d["status"], "blocked");
    assert_eq!(d["blocked_by"], "c");
    assert!(d.get("start_ms").is_none());

    // The next builds: a and b are fresh; after the outputs go, they are restored.
    project.build(&[], 1);
    assert_eq!(task(&newest(&project), "a")["status"], "fresh");
    fs::remove_file(project.path().join("a.txt")).unwrap();
    project.build(&[], 1);
    let a = &task(&newest(&project), "a").clone();
    assert_eq!(a["status"], "restored");
    assert_eq!(a["cache_hit"], true);
    project.build(&[], 1);
    project.build(&["--dry-run"], 0);
    assert_eq!(
        runs(&project).len(),
        3,
        "keep_runs = 3; a dry run records nothing"
    );
}

#[test]
fn a_build_that_finds_everything_fresh_records_nothing() {
    let project = Project::new("[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a > a.txt\"\n");
    project.build(&[], 0);
    assert_eq!(runs(&project).len(), 1);
    project.build(&[], 0);
    assert_eq!(runs(&project).len(), 1, "a no-op leaves no record");
    assert_eq!(
        task(&newest(&project), "a")["status"],
        "ok",
        "the last one that ran"
    );
}

#[test]
fn keep_runs_zero_writes_none() {
    let project = Project::new("[project]\nkeep_runs = 0\n[tasks.a]\nrun = \"true\"\n");
    project.build(&[], 0);
    assert!(runs(&project).is_empty());
    let run = project.conduct(&["report"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("no build has been recorded"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("keep_runs"), "{run:#?}");
}

/// A run with every status, fixed so the log is the same every time.
const RECORD: &str = r#"{
  "schema_version": 1, "conduct_version": "0.1.0", "project": "demo",
  "started_at": "2026-11-22T05:00:00.000Z", "duration_ms": 5400000, "jobs": 2,
  "targets": [], "interrupted": false,
  "counts": {"ran": 2, "fresh": 1, "restored": 1, "failed": 1, "blocked": 1, "warnings": 1},
  "groups": [{"name": "A", "title": "Foundation"}, {"name": "B", "title": null}],
  "tasks": [
    {"id": "T1", "title": "Schema", "group": "A", "status": "ok", "start_ms": 0,
     "end_ms": 3600000, "attempts": [{"start_ms": 0, "end_ms": 3600000, "status": "ok"}],
     "reasons": ["never built"], "outputs": ["db/schema.sql"],
     "checks": [{"rule": "sql", "passed": true, "required": true},
                {"rule": "coverage", "passed": true, "required": true, "metric": 91.5}]},
    {"id": "T2", "title": "Types | interfaces", "group": "A", "status": "fresh",
     "start_ms": 1, "end_ms": 1, "outputs": ["src/types.ts"]},
    {"id": "T3", "group": "B", "deps": ["T1"], "status": "failed", "start_ms": 3600000,
     "end_ms": 5400000,
     "attempts": [{"start_ms": 3600000, "end_ms": 4500000, "status": "failed"},
                  {"start_ms": 4500000, "end_ms": 5400000, "status": "failed"}],
     "reasons": ["input docs/plan.md#T3 changed"], "outputs": ["src/api.ts"],
     "checks": [{"rule": "no_secrets", "passed": false, "required": true,
                 "message": "src/api.ts:2: password = 1"},
                {"rule": "style", "passed": false, "required": false, "message": "long lines"}],
     "error": "check no_secrets failed: src/api.ts:2: password = 1"},
    {"id": "T4", "group": "B", "deps": ["T3"], "status": "blocked", "blocked_by": "T3",
     "outputs": ["src/ui.tsx"]},
    {"id": "T5", "status": "restored", "start_ms": 2, "end_ms": 2, "cache_hit": true,
     "reasons": ["output out/t5.txt is missing"], "outputs": ["out/t5.txt"]}
  ]
}"#;

#[test]
fn the_markdown_log() {
    let project = Project::new("[tasks.x]\nrun = \"true\"\n");
    project.file("run.json", RECORD);
    let run = project.conduct(&["report", "--run", "run.json"]);
    assert_eq!(run.status, 0, "{run:#?}");
    insta::assert_snapshot!(run.stdout);
    // --markdown FILE writes the same text.
    let run = project.conduct(&["report", "--run", "run.json", "--markdown", "log.md"]);
    assert_eq!(run.status, 0, "{run:#?}");
    let written = project.read("log.md");
    assert!(written.starts_with("# Execution log: demo"), "{written}");
}

#[test]
fn the_html_page_has_a_bar_per_task_and_no_network() {
    let project = Project::new(TASKS);
    project.build(&[], 1);
    let run = project.conduct(&["report", "--html", "run.html"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert!(run.stderr.contains("wrote run.html"), "{run:#?}");
    let page = project.read("run.html");
    assert!(page.starts_with("<!DOCTYPE html>") || page.starts_with("<!doctype html>"));
    assert_eq!(page.matches("class=\"bar ").count(), 4, "one bar per task");
    for id in ["a", "b", "c", "d"] {
        assert!(page.contains(&format!("data-task=\"{id}\"")), "{id}");
    }
    let record = newest(&project);
    let b = task(&record, "b");
    let ms = b["end_ms"].as_u64().unwrap() - b["start_ms"].as_u64().unwrap();
    assert!(
        page.contains(&format!("data-duration-ms=\"{ms}\"")),
        "b's duration is on its bar"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "self-contained"
    );
}

#[test]
fn a_foreign_record_is_refused() {
    let project = Project::new("[tasks.x]\nrun = \"true\"\n");
    project.file("run.json", "{\"schema_version\": 99}");
    let run = project.conduct(&["report", "--run", "run.json"]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("schema 99"), "{run:#?}");
}
