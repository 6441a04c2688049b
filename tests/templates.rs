//! Templates, variables and the command's inputs (issue 14): one block that expands to
//! a task per file or per Markdown section, `[vars]` and `--var`, `{inputs}`,
//! `CONDUCT_INPUTS`, and project-wide inputs, as the binary sees them.

use crate::test::{Project, Test};

const CC: &str = r#"
    [vars]
    cflags = "-O2"

    [templates.cc]
    foreach = "src/*.c"
    id      = "cc-{stem}"
    run     = "echo cc-{stem} >> ran.log && (echo '{cflags} {path}'; cat {path}) > obj/{stem}.o"
    inputs  = ["{path}"]
    outputs = ["obj/{stem}.o"]

    [tasks.link]
    inputs  = ["obj/*.o"]
    outputs = ["prog"]
    run     = "echo link >> ran.log && cat {inputs} > prog && printf '%s\n' \"$CONDUCT_INPUTS\" > inputs.txt"
"#;

fn cc_project() -> Project {
    let project = Project::new(CC);
    project
        .file("src/a.c", "int a;\n")
        .file("src/b.c", "int b;\n");
    project
}

#[test]
fn a_template_makes_one_task_per_matching_file() {
    let project = cc_project();
    project.build(&[], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["cc-a", "cc-b", "link"]);
    assert_eq!(project.read("obj/a.o"), "-O2 src/a.c\nint a;\n");
    assert_eq!(
        project.read("prog"),
        "-O2 src/a.c\nint a;\n-O2 src/b.c\nint b;\n"
    );
    assert_eq!(project.read("inputs.txt"), "obj/a.o\nobj/b.o\n");
    let list = project.conduct(&["list"]);
    assert!(
        list.stdout.contains("cc-a") && list.stdout.contains("cc-b"),
        "{list:?}"
    );
}

#[test]
fn editing_one_file_reruns_its_task_and_the_link_only() {
    let project = cc_project();
    project.build(&[], 0);
    project.ran();
    project.file("src/b.c", "int b2;\n");
    let explain = project.conduct(&["build", "--dry-run", "--explain"]);
    assert!(explain.stdout.contains("cc-b"), "{explain:?}");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["cc-b", "link"]);
}

#[test]
fn a_new_matching_file_adds_a_task_and_a_removed_one_removes_it() {
    let project = cc_project();
    project.build(&[], 0);
    project.ran();
    project.file("src/c.c", "int c;\n");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["cc-c", "link"]);
    assert_eq!(project.read("inputs.txt"), "obj/a.o\nobj/b.o\nobj/c.o\n");
    std::fs::remove_file(project.path().join("src/c.c")).unwrap();
    let list = project.conduct(&["list"]);
    assert!(!list.stdout.contains("cc-c"), "{list:?}");
    // Its output is left alone, as for a task deleted from tasks.toml, so the link's
    // glob still finds it: the build says so, and `clean --outputs` removes it.
    assert!(project.exists("obj/c.o"));
    let run = project.build(&[], 0);
    assert!(
        run.stdout
            .contains("link reads obj/c.o (made by cc-c, no longer in tasks.toml)"),
        "{run:?}"
    );
    project.ran();
    project.conduct(&["clean", "--outputs"]);
    assert!(!project.exists("obj/c.o"));
    let run = project.build(&[], 0);
    assert!(!run.stderr.contains("no longer in tasks.toml"), "{run:?}");
    assert_eq!(
        project.read("prog"),
        "-O2 src/a.c\nint a;\n-O2 src/b.c\nint b;\n"
    );
}

#[test]
fn clean_leaves_a_removed_tasks_file_that_was_edited_since() {
    let project = cc_project();
    project.file("src/c.c", "int c;\n");
    project.build(&[], 0);
    std::fs::remove_file(project.path().join("src/c.c")).unwrap();
    project.file("obj/c.o", "edited by hand\n");
    project.conduct(&["clean", "--outputs"]);
    assert_eq!(project.read("obj/c.o"), "edited by hand\n");
}

#[test]
fn a_variable_from_the_command_line_changes_the_key() {
    let project = cc_project();
    project.build(&[], 0);
    project.ran();
    project.build(&["--var", "cflags=-O0"], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["cc-a", "cc-b", "link"]);
    assert_eq!(project.read("obj/a.o"), "-O0 src/a.c\nint a;\n");
    project.build(&["--var", "cflags=-O0"], 0);
    assert_eq!(project.ran(), Vec::<String>::new());
}

#[test]
fn an_unknown_variable_on_the_command_line_is_an_error() {
    let project = cc_project();
    let run = project.conduct(&["build", "--var", "cflag=-O0"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("`--var cflag=…` names no variable"),
        "{run:?}"
    );
    assert!(run.stderr.contains("did you mean `cflags`?"), "{run:?}");
}

#[test]
fn a_template_over_sections_reruns_only_the_edited_section() {
    let project = Project::new(
        r#"
        [templates.agent]
        foreach = { sections = "docs/spec.md", level = 2 }
        id      = "{section}"
        title   = "{title}"
        inputs  = ["docs/spec.md#{section}"]
        outputs = ["out/{section}.txt"]
        run     = "echo {section} >> ran.log && echo '{title}' > out/{section}.txt"
        "#,
    );
    project.file(
        "docs/spec.md",
        "# Spec\n\n## T1: Schema\n\nOne.\n\n## T2: Auth\n\nTwo.\n\n## T3 — Jobs\n\nThree.\n",
    );
    project.build(&[], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["T1", "T2", "T3"]);
    assert_eq!(project.read("out/T3.txt"), "Jobs\n");
    project.file(
        "docs/spec.md",
        "# Spec\n\n## T1: Schema\n\nOne.\n\n## T2: Auth\n\nTwo, revised.\n\n## T3 — Jobs\n\nThree.\n",
    );
    project.build(&[], 0);
    assert_eq!(project.ran(), ["T2"]);
}

#[test]
fn shell_syntax_and_doubled_braces_reach_the_shell() {
    let project = Project::new(
        r#"
        [vars]
        word = "hi"

        [tasks.t]
        outputs = ["out.txt"]
        run = "X=${HOME:+set}; echo {word} $X | awk '{print $1}' > out.txt && echo '{{word}}' >> out.txt"
        "#,
    );
    project.build(&[], 0);
    assert_eq!(project.read("out.txt"), "hi\n{word}\n");
}

#[test]
fn an_unknown_placeholder_is_an_error_at_its_line_with_a_suggestion() {
    Test::new()
        .tasks_toml(
            r#"
            [templates.cc]
            foreach = "src/*.c"
            id = "cc-{stem}"
            run = "cc -c {pth}"
            outputs = ["obj/{stem}.o"]
            "#,
        )
        .file("src/a.c", "")
        .file("src/b.c", "")
        .args(["check"])
        .status(2)
        .stderr_contains("unknown placeholder `{pth}`")
        .stderr_contains("tasks.toml:4:")
        .stderr_contains("did you mean `path`?")
        .run();
}

#[test]
fn an_unknown_placeholder_is_reported_once_for_all_matches() {
    let run = Test::new()
        .tasks_toml("[templates.t]\nforeach = \"src/*\"\nid = \"t-{stem}\"\nrun = \"{nope}\"\n")
        .file("src/a", "")
        .file("src/b", "")
        .file("src/c", "")
        .args(["check"])
        .status(2)
        .run();
    let stderr = &run.stderr;
    assert_eq!(stderr.matches("unknown placeholder").count(), 1, "{stderr}");
}

#[test]
fn a_variable_named_like_a_placeholder_is_an_error() {
    Test::new()
        .tasks_toml("[vars]\npath = \"x\"\n")
        .args(["check"])
        .status(2)
        .stderr_contains("variable `path` has the name of a placeholder")
        .run();
}

#[test]
fn a_template_id_that_another_task_has_is_an_error_naming_both_places() {
    Test::new()
        .tasks_toml(
            r#"
            [tasks.cc-a]
            run = "true"

            [templates.cc]
            foreach = "src/*.c"
            id = "cc-{stem}"
            run = "true"
            "#,
        )
        .file("src/a.c", "")
        .args(["check"])
        .status(2)
        .stderr_contains("task `cc-a` is declared twice (the other one: line 1)")
        .stderr_contains("tasks.toml:4:")
        .run();
}

#[test]
fn a_template_matching_nothing_is_a_warning() {
    Test::new()
        .tasks_toml(
            "[templates.cc]\nforeach = \"src/*.c\"\nid = \"cc-{stem}\"\nrun = \"true\"\n\n[tasks.t]\nrun = \"true\"\n",
        )
        .args(["check"])
        .status(0)
        .stderr_contains("warning: template `cc` matches nothing: it adds no task")
        .run();
}

#[test]
fn project_inputs_are_in_every_key_but_not_handed_to_the_command() {
    let project = Project::new(
        r#"
        [project]
        inputs = ["toolchain.txt", { command = "echo v1" }]

        [tasks.a]
        inputs = ["a.txt"]
        outputs = ["a.out"]
        run = "echo a >> ran.log && echo {inputs} > a.out"

        [tasks.b]
        outputs = ["b.out"]
        run = "echo b >> ran.log && printf '%s' \"$CONDUCT_INPUTS\" > b.out"
        "#,
    );
    project
        .file("toolchain.txt", "gcc 12\n")
        .file("a.txt", "x\n");
    project.build(&[], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["a", "b"]);
    assert_eq!(project.read("a.out"), "a.txt\n");
    assert_eq!(project.read("b.out"), "");
    project.file("toolchain.txt", "gcc 13\n");
    let explain = project.conduct(&["build", "--dry-run", "--explain", "b"]);
    assert!(explain.stdout.contains("toolchain.txt"), "{explain:?}");
    project.build(&[], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["a", "b"]);
}

#[test]
fn group_inputs_reach_the_group_only() {
    let project = Project::new(
        r#"
        [groups.g]
        inputs = ["g.txt"]

        [tasks.in]
        group = "g"
        outputs = ["in.out"]
        run = "echo in >> ran.log && touch in.out"

        [tasks.out]
        outputs = ["out.out"]
        run = "echo out >> ran.log && touch out.out"
        "#,
    );
    project.file("g.txt", "1\n");
    project.build(&[], 0);
    project.ran();
    project.file("g.txt", "2\n");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["in"]);
}

#[test]
fn an_array_run_gets_one_argument_per_input() {
    let project = Project::new(
        r#"
        [tasks.t]
        inputs = ["a b.txt", "c.txt"]
        outputs = ["out.txt"]
        run = ["sh", "-c", "for f in \"$@\"; do echo \"[$f]\"; done > out.txt", "sh", "{inputs}"]
        "#,
    );
    project.file("a b.txt", "").file("c.txt", "");
    project.build(&[], 0);
    assert_eq!(project.read("out.txt"), "[a b.txt]\n[c.txt]\n");
}

#[test]
fn a_bad_foreach_is_an_error_not_an_empty_template() {
    for (foreach, error) in [
        ("\"src/[.c\"", "src/[.c"),
        ("\"../*.c\"", "../*.c"),
        ("{ sections = \"/etc/x.md\" }", "/etc/x.md"),
        ("{ sections = \"missing.md\", level = 2 }", "missing.md"),
        ("3", "`foreach` must be a glob"),
    ] {
        Test::new()
            .tasks_toml(&format!(
                "[templates.t]\nforeach = {foreach}\nid = \"t-{{stem}}\"\nrun = \"true\"\n"
            ))
            .args(["check"])
            .status(2)
            .stderr_contains(error)
            .run();
    }
}
