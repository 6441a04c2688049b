//! `conduct import taskmaster`: real Task Master files (tests/fixtures/taskmaster, see
//! its README for their commits) round-trip into a plan `conduct check` accepts and
//! `conduct plan` schedules; bad files are refused before anything is written.

use std::path::Path;

use crate::test::Project;

/// A project holding only the fixture `name` at Task Master's default place.
fn project_with(name: &str) -> Project {
    let project = Project::new("");
    std::fs::remove_file(project.path().join("tasks.toml")).expect("remove tasks.toml");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/taskmaster")
        .join(name);
    let text = std::fs::read(&fixture).expect("read the fixture");
    project.write(".taskmaster/tasks/tasks.json", &text);
    project
}

#[track_caller]
fn assert_nothing_written(project: &Project) {
    assert!(!project.exists("tasks.toml"), "tasks.toml was written");
    assert!(
        !project.exists("docs/taskmaster.md"),
        "the spec was written"
    );
}

#[test]
fn real_legacy_file_round_trips_to_a_plan() {
    let project = project_with("legacy-tasks.json");
    let import = project.conduct(&["import", "taskmaster"]);
    assert_eq!(import.status, 0, "{import:#?}");
    assert!(import.stdout.contains("imported 70 tasks"), "{import:#?}");
    // Done tasks are listed for accept, last.
    let last = import.stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("run `conduct accept T1.1 T1.2") && last.ends_with("to mark them done"),
        "{last}"
    );
    let toml = project.read("tasks.toml");
    assert!(toml.contains("[tasks.\"T1.2\"]\n"), "{toml}");
    assert!(toml.contains("inputs = [\"docs/taskmaster.md#T1.2\", \"docs/taskmaster.md#T1\"]"));
    assert!(toml.contains("run = { agent = \"claude\" }"));
    let spec = project.read("docs/taskmaster.md");
    assert!(
        spec.contains("\n## T1.2: Configure tsup build system\n"),
        "{spec}"
    );
    let check = project.conduct(&["check"]);
    assert_eq!(check.status, 0, "{check:#?}");
    let plan = project.conduct(&["plan", "--all"]);
    assert_eq!(plan.status, 0, "{plan:#?}");
    assert!(plan.stdout.contains("critical path:"), "{}", plan.stdout);
    // Each task's section is its input: the instruction carries its text.
    let show = project.conduct(&["show", "T1.2"]);
    assert_eq!(show.status, 0, "{show:#?}");
    assert!(
        show.stdout.contains("docs/taskmaster.md#T1.2"),
        "{}",
        show.stdout
    );
}

#[test]
fn real_tagged_file_imports_the_tag_asked_for() {
    let project = project_with("tagged-tasks.json");
    let import = project.conduct(&["import", "taskmaster", "--tag", "cc-kiro-hooks"]);
    assert_eq!(import.status, 0, "{import:#?}");
    assert!(import.stdout.contains("imported 60 tasks"), "{import:#?}");
    let toml = project.read("tasks.toml");
    // "2.1" strings name subtasks; a parent waits for its subtasks.
    assert!(toml.contains("[tasks.\"T2.2\"]\ntitle"), "{toml}");
    assert!(toml.contains("deps = [\"T2.1\", \"T1\"]"), "{toml}");
    assert_eq!(project.conduct(&["check"]).status, 0);
    let plan = project.conduct(&["plan", "--all"]);
    assert!(plan.stdout.contains("critical path:"), "{}", plan.stdout);
}

#[test]
fn default_tag_is_master_and_an_unknown_tag_lists_the_tags() {
    let project = project_with("tagged-tasks.json");
    let wrong = project.conduct(&["import", "taskmaster", "--tag", "nope"]);
    assert_eq!(wrong.status, 2, "{wrong:#?}");
    assert!(
        wrong.stderr.contains("has no tag `nope`") && wrong.stderr.contains("cc-kiro-hooks"),
        "{}",
        wrong.stderr
    );
    assert_nothing_written(&project);
    let import = project.conduct(&["import", "taskmaster"]);
    assert_eq!(import.status, 0, "{import:#?}");
    assert!(
        import.stdout.contains("(tag `master`)"),
        "{}",
        import.stdout
    );
    assert!(project.read("tasks.toml").contains("[tasks.T108]"));
}

#[test]
fn small_tagged_file_maps_statuses_files_and_priorities() {
    let project = project_with("small-tagged.json");
    let import = project.conduct(&["import", "taskmaster", "--tag", "feature-x"]);
    assert_eq!(import.status, 0, "{import:#?}");
    assert!(
        import.stdout.contains("skipped T3 (cancelled)"),
        "{}",
        import.stdout
    );
    assert!(
        import
            .stdout
            .contains("note: T2: dropped its dependency on T3")
    );
    assert!(
        import
            .stdout
            .ends_with("run `conduct accept T1` to mark it done\n")
    );
    let toml = project.read("tasks.toml");
    assert!(toml.contains("outputs = [\"db/schema.sql\"]"), "{toml}");
    assert!(
        toml.contains("edits = [\"README.md\"]") && !toml.contains("outputs = [\"README.md"),
        "a modified file is a shared edit, no output: {toml}"
    );
    assert!(toml.contains("priority = \"high\""));
    let spec = project.read("docs/taskmaster.md");
    assert!(
        spec.contains("**Tables**"),
        "a heading in the details is no section: {spec}"
    );
    assert_eq!(project.conduct(&["check"]).status, 0);
    // --include-cancelled brings T3 back (and --force replaces what the first wrote).
    let again = project.conduct(&[
        "import",
        "taskmaster",
        "--tag",
        "feature-x",
        "--include-cancelled",
        "--force",
    ]);
    assert_eq!(again.status, 0, "{again:#?}");
    assert!(project.read("tasks.toml").contains("[tasks.T3]"));
}

#[test]
fn cycle_is_refused_with_nothing_written() {
    let project = project_with("cycle.json");
    let import = project.conduct(&["import", "taskmaster"]);
    assert_eq!(import.status, 2, "{import:#?}");
    assert!(
        import
            .stderr
            .contains("dependency cycle: T1 -> T3 -> T2 -> T1"),
        "{}",
        import.stderr
    );
    assert!(import.stderr.contains("nothing was written"));
    assert_nothing_written(&project);
}

#[test]
fn real_cycle_between_subtasks_is_refused() {
    // Task Master reads a subtask's number as a sibling: 7.2 needs 7.5, which needs 7.2.
    let project = project_with("legacy-cycle-tasks.json");
    let import = project.conduct(&["import", "taskmaster"]);
    assert_eq!(import.status, 2, "{import:#?}");
    assert!(
        import.stderr.contains("T7.2 -> T7.5 -> T7.2"),
        "{}",
        import.stderr
    );
    assert_nothing_written(&project);
}

#[test]
fn duplicate_id_and_missing_dependency_are_refused() {
    let project = project_with("duplicate.json");
    let import = project.conduct(&["import", "taskmaster"]);
    assert_eq!(import.status, 2, "{import:#?}");
    assert!(
        import.stderr.contains("two tasks have id 2 (T2)"),
        "{}",
        import.stderr
    );
    assert_nothing_written(&project);
    // The real test-tag depends on a task 16 it does not hold.
    let project = project_with("tagged-tasks.json");
    let import = project.conduct(&["import", "taskmaster", "--tag", "test-tag"]);
    assert_eq!(import.status, 2, "{import:#?}");
    assert!(
        import
            .stderr
            .contains("T1 depends on T16, which is not in the file")
    );
    assert_nothing_written(&project);
}

#[test]
fn existing_tasks_toml_is_not_overwritten_without_force() {
    let project = project_with("cycle.json");
    project.file("tasks.toml", "# mine\n");
    project.write(
        "tm.json",
        br#"{"tasks": [{"id": 1, "title": "One", "dependencies": []}]}"#,
    );
    let import = project.conduct(&["import", "taskmaster", "tm.json"]);
    assert_eq!(import.status, 2, "{import:#?}");
    assert!(
        import.stderr.contains("`tasks.toml` already exists"),
        "{}",
        import.stderr
    );
    assert!(import.stderr.contains("--force"));
    assert_eq!(project.read("tasks.toml"), "# mine\n");
    assert!(!project.exists("docs/taskmaster.md"));
    let forced = project.conduct(&["import", "taskmaster", "tm.json", "--force"]);
    assert_eq!(forced.status, 0, "{forced:#?}");
    assert!(project.read("tasks.toml").contains("[tasks.T1]"));
}
