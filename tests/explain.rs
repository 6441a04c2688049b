//! `--explain` names the exact component that changed, one case per kind of reason
//! (DESIGN §8 rule 6). Each test builds once, changes one thing, and reads the reasons
//! of the one task that must run.

use crate::test::Project;

/// `--explain` output of the next build, which must run exactly `runs`.
#[track_caller]
fn explain(project: &Project, runs: &[&str]) -> String {
    let run = project.build(&["--explain"], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, runs, "{}", run.stdout);
    run.stdout
}

fn two_tasks() -> Project {
    let project = Project::new(
        r#"
        [groups.first]
        [groups.second]
        after = ["first"]
        [tasks.up]
        group = "first"
        inputs = ["src/up.txt", { command = "cat tool-version" }]
        outputs = ["out/up.txt", "out/dir/"]
        run = "echo up >> ran.log && cp src/up.txt out/up.txt && mkdir -p out/dir && cp src/up.txt out/dir/copy.txt"
        [tasks.down]
        group = "second"
        inputs = ["out/up.txt", "src/*.md"]
        outputs = ["out/down.txt"]
        run = "echo down >> ran.log && cat out/up.txt > out/down.txt"
        "#,
    );
    project
        .file("src/up.txt", "up\n")
        .file("src/a.md", "a\n")
        .file("tool-version", "1.0\n");
    project.build(&[], 0);
    project.ran();
    project
}

#[test]
fn never_built() {
    let project = Project::new("[tasks.t]\nrun = \"echo t >> ran.log\"\n");
    assert!(explain(&project, &["t"]).contains("t will run:\n  never built\n"));
}

#[test]
fn forced() {
    let project = two_tasks();
    let run = project.build(&["--explain", "--force", "down"], 0);
    assert_eq!(project.ran(), ["down"], "only the named target is forced");
    assert!(
        run.stdout.contains("down will run:\n  forced (--force)\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn output_missing_or_modified() {
    // With the cache, a damaged output comes back without a rerun; the reasons say why.
    let project = two_tasks();
    std::fs::remove_file(project.path().join("out/down.txt")).unwrap();
    assert!(
        explain(&project, &[]).contains(
            "down is fresh (cache hit: restored 1 output)\n  output out/down.txt missing\n"
        )
    );
    // A modified output is a person's edit: restored only when asked to.
    project.file("out/down.txt", "edited by hand\n");
    let stopped = project.build(&["--explain"], 1);
    let said = format!("{}{}", stopped.stdout, stopped.stderr);
    assert!(
        said.contains("EDITED down (0.00s): out/down.txt changed by hand"),
        "{said}"
    );
    let run = project.build(&["--explain", "--discard-edits"], 0);
    assert!(run.stdout.contains(
        "down is fresh (cache hit: restored 1 output)\n  output out/down.txt modified\n"
    ));
    project.file("out/dir/extra.txt", "x");
    let run = project.build(&["--explain", "--discard-edits"], 0);
    assert!(run.stdout.contains(
        "up is fresh (cache hit: restored 1 output)\n  output out/dir/extra.txt modified\n"
    ));
    assert!(
        !project.exists("out/dir/extra.txt"),
        "the directory output is as recorded"
    );
    // Without the cache, the same reasons make the task run.
    assert_eq!(project.conduct(&["clean", "--cache"]).status, 0);
    project.build(&[], 0);
    project.ran();
    std::fs::remove_file(project.path().join("out/down.txt")).unwrap();
    std::fs::remove_dir_all(project.path().join(".cache/ac")).unwrap();
    let out = explain(&project, &["down"]);
    assert!(
        out.contains("down will run:\n  output out/down.txt missing\n"),
        "{out}"
    );
}

#[test]
fn input_removed() {
    let project = two_tasks();
    project.file("src/b.md", "b\n");
    project.file("src/c.md", "c\n");
    explain(&project, &["down"]);
    std::fs::remove_file(project.path().join("src/b.md")).unwrap();
    assert!(explain(&project, &["down"]).contains("down will run:\n  input src/b.md removed\n"));
    // Back to a set of inputs the cache has seen: recorded from the cache, not run (its
    // output, which does not depend on the Markdown files, needs no copying).
    std::fs::remove_file(project.path().join("src/c.md")).unwrap();
    let out = explain(&project, &[]);
    assert!(
        out.contains("down is fresh (cache hit: restored 0 outputs)\n  input src/c.md removed\n"),
        "{out}"
    );
}

#[test]
fn command_input_changed() {
    let project = two_tasks();
    project.file("tool-version", "2.0\n");
    let out = explain(&project, &["up"]);
    assert!(
        out.contains("up will run:\n  input command `cat tool-version` printed something else ("),
        "{out}"
    );
}

#[test]
fn dependency_output_changed_and_barrier() {
    let project = two_tasks();
    project.file("src/up.txt", "UP\n");
    let out = explain(&project, &["down", "up"]);
    assert!(
        out.contains("  dependency up: output out/up.txt changed\n"),
        "{out}"
    );
    assert!(
        out.contains("  group first (runs before this one): outputs changed\n"),
        "{out}"
    );
}

#[test]
fn declared_outputs_and_dependencies_changed() {
    let project = two_tasks();
    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace(
            "outputs = [\"out/down.txt\"]",
            "outputs = [\"out/down.txt\", \"out/more.txt\"]",
        )
        .replace(
            "cat out/up.txt > out/down.txt",
            "cat out/up.txt > out/down.txt && touch out/more.txt",
        )
        .as_bytes(),
    );
    let out = explain(&project, &["down"]);
    assert!(
        out.contains("  command changed\n  declared outputs changed\n"),
        "{out}"
    );

    let toml = project.read("tasks.toml");
    project.write(
        "tasks.toml",
        toml.replace(
            "[tasks.down]\n",
            "[tasks.side]\nrun = \"echo side >> ran.log\"\n[tasks.down]\ndeps = [\"side\"]\n",
        )
        .as_bytes(),
    );
    let out = explain(&project, &["down", "side"]);
    assert!(
        out.contains("down will run:\n  dependency side added\n"),
        "{out}"
    );
}

/// Spelling out a default (here `workspace = "root"`) is not a change.
#[test]
fn an_explicit_default_changes_nothing() {
    let project = Project::new("[tasks.t]\nrun = \"echo t >> ran.log\"\n");
    project.build(&[], 0);
    project.ran();
    project.file(
        "tasks.toml",
        "[tasks.t]\nrun = \"echo t >> ran.log\"\nworkspace = \"root\"\n",
    );
    project.build(&[], 0);
    assert!(
        project.ran().is_empty(),
        "writing the default changes nothing"
    );
}
