//! Depfiles (issue 14): a C compile's headers, read from `cc -MD -MF`, become inputs of
//! the object's next build, and of the cache key its result is stored under. Driven with
//! the real `cc` (the linker cargo itself needs, so every machine that builds conduct
//! has one): without it the tests say they were skipped, and under `CI=true` fail.

use crate::test::Project;

fn have_cc() -> bool {
    crate::test::tool_available("cc", "the depfile tests compile C; cargo links with it")
}

const TASKS: &str = r#"
    [vars]
    cflags = "-O1"

    [project]
    inputs = [{ command = "cc --version" }]

    [templates.cc]
    foreach = "src/*.c"
    id      = "cc-{stem}"
    run     = "mkdir -p obj && echo cc-{stem} >> ran.log && cc {cflags} -Iinclude -MD -MF obj/{stem}.d -c {path} -o obj/{stem}.o"
    inputs  = ["{path}"]
    outputs = ["obj/{stem}.o"]
    depfile = "obj/{stem}.d"
"#;

fn c_project() -> Project {
    let project = Project::new(TASKS);
    project
        .file("include/a.h", "#define A_VALUE 1\n")
        .file("include/b.h", "#define B_VALUE 2\n")
        .file(
            "src/a.c",
            "#include <stdio.h>\n#include \"a.h\"\nint a(void) { return A_VALUE; }\n",
        )
        .file(
            "src/b.c",
            "#include \"b.h\"\nint b(void) { return B_VALUE; }\n",
        );
    project
}

fn sorted(mut ran: Vec<String>) -> Vec<String> {
    ran.sort();
    ran
}

#[test]
fn a_new_include_and_then_an_edit_of_it_rebuild_exactly_the_one_object() {
    if !have_cc() {
        return;
    }
    let project = c_project();
    project.build(&[], 0);
    assert_eq!(sorted(project.ran()), ["cc-a", "cc-b"]);
    // b.c starts including new.h: its own edit reruns it.
    project
        .file("include/new.h", "static const int new_value = 1;\n")
        .file(
            "src/b.c",
            "#include \"b.h\"\n#include \"new.h\"\nint b(void) { return B_VALUE + new_value; }\n",
        );
    project.build(&[], 0);
    assert_eq!(project.ran(), ["cc-b"]);
    // An edit of new.h, which no tasks.toml line names, reruns exactly cc-b.
    project.file("include/new.h", "static const int new_value = 2;\n");
    let explain = project.conduct(&["build", "--dry-run", "--explain"]);
    assert!(
        explain
            .stdout
            .contains("input include/new.h changed (named by the depfile)"),
        "{explain:?}"
    );
    project.build(&[], 0);
    assert_eq!(project.ran(), ["cc-b"]);
    project.build(&[], 0);
    assert!(project.ran().is_empty());
}

#[test]
fn an_object_comes_back_from_the_cache_only_for_the_header_it_was_built_against() {
    if !have_cc() {
        return;
    }
    let project = c_project();
    project.build(&[], 0);
    project.ran();
    let object = |p: &Project| std::fs::read(p.path().join("obj/a.o")).unwrap();
    let with_1 = object(&project);
    project.file("include/a.h", "#define A_VALUE 7\n");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["cc-a"]);
    let with_7 = object(&project);
    assert_ne!(with_1, with_7, "the header is compiled into the object");
    // Back and forth: each version's object is restored, never the other's.
    for (header, expected) in [("1", &with_1), ("7", &with_7), ("1", &with_1)] {
        project.file("include/a.h", &format!("#define A_VALUE {header}\n"));
        let run = project.build(&[], 0);
        assert!(project.ran().is_empty(), "restored, not rerun: {run:?}");
        assert_eq!(&object(&project), expected, "A_VALUE {header}");
    }
}

#[test]
fn another_checkout_restores_by_what_the_compile_read() {
    if !have_cc() {
        return;
    }
    let project = c_project();
    project.build(&[], 0);
    project.ran();
    // A checkout with the cache but no record of its own (the CI recipe).
    std::fs::remove_dir_all(project.path().join(".cache/state")).unwrap();
    std::fs::remove_dir_all(project.path().join("obj")).unwrap();
    project.build(&[], 0);
    assert!(project.ran().is_empty(), "everything restored");
    // ... and there, too, a header edit reruns the one object that read it.
    std::fs::remove_dir_all(project.path().join(".cache/state")).unwrap();
    project.file("include/a.h", "#define A_VALUE 3\n");
    project.build(&[], 0);
    assert_eq!(project.ran(), ["cc-a"]);
}

#[test]
fn system_headers_are_not_inputs() {
    if !have_cc() {
        return;
    }
    let project = c_project();
    project.build(&[], 0);
    project.ran();
    let status = project.conduct(&["status", "--json"]);
    assert!(!status.stdout.contains("stdio.h"), "{status:?}");
    let explain = project.conduct(&["build", "--dry-run", "--explain"]);
    assert!(!explain.stdout.contains("will run"), "{explain:?}");
}

#[test]
fn a_malformed_depfile_fails_the_task_with_its_line() {
    let project = Project::new(
        r#"
        [tasks.t]
        outputs = ["out.o"]
        depfile = "out.d"
        run = "touch out.o && printf 'out.o: a.h\nnot a rule\n' > out.d"
        "#,
    );
    let run = project.build(&[], 1);
    assert!(run.stdout.contains("depfile out.d: line 2"), "{run:?}");
    let again = project.build(&[], 1);
    assert!(
        again.stdout.contains("depfile out.d"),
        "not recorded: {again:?}"
    );
}

#[test]
fn a_missing_depfile_fails_the_task() {
    let project = Project::new(
        r#"
        [tasks.t]
        outputs = ["out.o"]
        depfile = "out.d"
        run = "touch out.o"
        "#,
    );
    let run = project.build(&[], 1);
    assert!(
        run.stdout.contains("depfile out.d: cannot read it"),
        "{run:?}"
    );
}

#[test]
fn depfile_outside_error_fails_a_task_that_reads_outside_the_project() {
    let project = Project::new(
        r#"
        [project]
        depfile_outside = "error"

        [tasks.t]
        outputs = ["out.o"]
        depfile = "out.d"
        run = "touch out.o && echo 'out.o: src.h /usr/include/stdio.h' > out.d"
        "#,
    );
    project.file("src.h", "");
    let run = project.build(&[], 1);
    assert!(
        run.stdout
            .contains("depfile out.d names /usr/include/stdio.h, outside the project"),
        "{run:?}"
    );
    // The default ignores it.
    project.file(
        "tasks.toml",
        "[tasks.t]\noutputs = [\"out.o\"]\ndepfile = \"out.d\"\nrun = \"touch out.o && echo 'out.o: src.h /usr/include/stdio.h' > out.d\"\n",
    );
    project.build(&[], 0);
}
