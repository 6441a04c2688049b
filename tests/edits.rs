//! `edits = [...]` (issue 19): files several tasks change without owning them. In the
//! project root, two tasks that edit one file never run at once, and both edits land;
//! an output of one task listed in another's `edits` is an error naming both.

use crate::test::Project;

/// Each task fails if the other is inside its edit at the same time, and appends its
/// line to the shared file.
const TWO_EDITORS: &str = r#"
    [tasks.A]
    edits = ["routes.txt"]
    outputs = ["a.txt"]
    run = '''
    [ -e editing ] && exit 9; touch editing
    echo A >> ran.log; sleep 0.3; echo "route A" >> routes.txt
    rm editing; touch a.txt
    '''

    [tasks.B]
    edits = ["routes.txt"]
    outputs = ["b.txt"]
    run = '''
    [ -e editing ] && exit 9; touch editing
    echo B >> ran.log; sleep 0.3; echo "route B" >> routes.txt
    rm editing; touch b.txt
    '''
"#;

#[test]
fn two_tasks_that_edit_one_file_run_one_after_the_other_and_both_edits_land() {
    let project = Project::new(TWO_EDITORS);
    project.file("routes.txt", "routes:\n");
    let run = project.build(&["-j", "2"], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["A", "B"], "{run:?}");
    let routes = project.read("routes.txt");
    assert!(
        routes.contains("route A") && routes.contains("route B"),
        "{routes}"
    );
    // Neither input nor output: editing it by hand makes nothing stale.
    project.file("routes.txt", "rewritten\n");
    project.build(&[], 0);
    assert!(project.ran().is_empty());
}

#[test]
fn an_output_of_one_task_in_anothers_edits_is_an_error_naming_both() {
    let project = Project::new(
        "[tasks.owner]\noutputs = [\"routes.txt\"]\nrun = \"touch routes.txt\"\n\
         [tasks.editor]\nedits = [\"routes.txt\"]\nrun = \"true\"\n",
    );
    let run = project.conduct(&["check"]);
    assert_eq!(run.status, 2, "{run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("task `editor` edits `routes.txt`, an output of task `owner`"),
        "{said}"
    );
    assert!(said.contains("tasks.toml:4:"), "{said}");
}
