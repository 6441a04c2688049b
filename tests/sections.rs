//! Markdown section inputs (SPEC §2) as the binary sees them: which heading a section
//! name selects, what does not count as a heading, and the errors when it is missing or
//! ambiguous.

use crate::test::Test;

const PLAN: &str = "
    # Phase 5.3

    ## T1: PostgreSQL Schema Design

    Tables.

    ### Provides

    - provides: job_failures

    ## T10 — Scheduler Endpoints

    ```text
    ## T8: not a real heading
    ```

    T2 Error Recovery
    -----------------

    Body.
    ";

fn check(inputs: &str) -> Test {
    Test::new()
        .tasks_toml(&format!("[tasks.a]\ninputs = {inputs}\n"))
        .file("docs/plan.md", PLAN)
        .args(["check"])
}

#[test]
fn sections_match_by_id_full_title_and_setext_headings() {
    for section in [
        "T1",
        "T1: PostgreSQL Schema Design",
        "T10",
        "T2",
        "Provides",
        "Phase 5.3",
    ] {
        check(&format!("[\"docs/plan.md#{section}\"]"))
            .stdout("ok: 1 task, 0 groups, 0 edges, 0 rules\n")
            .run();
    }
}

#[test]
fn a_heading_inside_a_code_fence_is_not_a_section() {
    check("[\"docs/plan.md#T8\"]")
        .status(2)
        .stderr_contains("error: no section `T8` in `docs/plan.md`")
        .stderr_contains(
            "the headings in `docs/plan.md` are `# Phase 5.3`, `## T1: PostgreSQL Schema Design`, \
             `### Provides`, `## T10 — Scheduler Endpoints`, `## T2 Error Recovery`",
        )
        .run();
}

#[test]
fn an_id_never_matches_a_longer_id() {
    // `T1` must not select `T10`, and `T1` exists exactly once, so it is not ambiguous.
    check("[\"docs/plan.md#T1\", { path = \"docs/plan.md\", section = \"Tasks\" }]")
        .status(2)
        .stderr_contains("error: no section `Tasks` in `docs/plan.md`")
        .stderr_contains("could not load `tasks.toml`: 1 error")
        .run();
}

#[test]
fn two_matching_headings_are_ambiguous() {
    Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"spec.md#T3\"]\n")
        .file(
            "spec.md",
            "# A\n\n## T3: first\n\ntext\n\n### T3 second, deeper\n",
        )
        .args(["check"])
        .status(2)
        .stderr_contains(
            "error: section `T3` is ambiguous in `spec.md`: headings on lines 3, 7 match",
        )
        .run();
}

#[test]
fn crlf_files_work() {
    Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"spec.md#T1\"]\n")
        .raw_file("spec.md", b"# Spec\r\n\r\n## T1: One\r\n\r\ntext\r\n")
        .args(["check"])
        .stdout("ok: 1 task, 0 groups, 0 edges, 0 rules\n")
        .run();
}

#[test]
fn a_missing_markdown_file_is_a_missing_input() {
    Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"nope.md#T1\"]\n")
        .args(["check"])
        .status(2)
        .stderr_contains(
            "error: input `nope.md` of task `a` does not exist and no task produces it",
        )
        .run();
}

#[test]
fn sections_of_a_generated_document_are_checked_when_it_exists() {
    // gen.md is an output of `gen`: it need not exist yet, and its sections cannot be
    // checked before the build; `use` depends on `gen` through it.
    let finished = Test::new()
        .tasks_toml(
            "[tasks.gen]\noutputs = [\"gen.md\"]\nrun = \"x\"\n[tasks.use]\ninputs = [\"gen.md#Summary\"]\n",
        )
        .args(["graph", "--format", "json"])
        .run();
    assert_eq!(
        finished.json()["edges"],
        serde_json::json!([{"task": "use", "dep": "gen", "kind": "inferred", "output": "gen.md"}])
    );
}

#[test]
fn the_shorthand_is_for_markdown_only() {
    // `notes.txt#x` is a file name with a `#` in it, not a section.
    Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"notes.txt#x\"]\n")
        .file("notes.txt#x", "hello")
        .args(["check"])
        .stdout("ok: 1 task, 0 groups, 0 edges, 0 rules\n")
        .run();
}

#[test]
fn a_near_miss_suggests_the_heading() {
    check("[\"docs/plan.md#T100\"]")
        .status(2)
        .stderr_contains("= help: did you mean `## T10 — Scheduler Endpoints`?")
        .run();
}
