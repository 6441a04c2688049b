//! `conduct ready`: the stale tasks whose dependencies are all done, for boards and
//! agents that pull work.

use serde_json::Value;

use crate::test::Project;

fn ready(project: &Project) -> Vec<(String, String)> {
    let run = project.conduct(&["ready", "--json"]);
    assert_eq!(run.status, 0, "{run:?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    json["ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(id: &str, status: &str) -> (String, String) {
    (id.to_owned(), status.to_owned())
}

#[test]
fn ready_lists_the_stale_tasks_whose_dependencies_are_done() {
    let project = Project::new(
        "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"cp in.txt a.txt\"\ninputs = [\"in.txt\"]\n\
         [tasks.b]\ninputs = [\"a.txt\"]\noutputs = [\"b.txt\"]\nrun = \"cp a.txt b.txt\"\n\
         [tasks.c]\ninputs = [\"b.txt\"]\noutputs = [\"c.txt\"]\nrun = \"cp b.txt c.txt\"\n\
         [tasks.d]\npriority = \"high\"\noutputs = [\"d.txt\"]\nrun = \"touch d.txt\"\n",
    );
    project.file("in.txt", "1");
    // Nothing built: the roots, the higher priority first.
    assert_eq!(
        ready(&project),
        [pair("d", "never built"), pair("a", "never built")]
    );
    project.build(&["a"], 0);
    assert_eq!(
        ready(&project),
        [pair("d", "never built"), pair("b", "never built")]
    );
    project.build(&[], 0);
    assert!(ready(&project).is_empty());
    let text = project.conduct(&["ready"]);
    assert!(text.stdout.starts_with("nothing is ready"), "{text:?}");
    // An edit makes its task stale; what depends on it waits for it.
    project.file("in.txt", "2");
    assert_eq!(ready(&project), [pair("a", "stale")]);
    let text = project.conduct(&["ready"]);
    assert!(text.stdout.starts_with("a  stale  medium  a"), "{text:?}");
}

#[test]
fn a_failed_task_is_ready_to_try_again_and_its_dependents_are_not() {
    let project = Project::new(
        "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"exit 1\"\n\
         [tasks.b]\ninputs = [\"a.txt\"]\noutputs = [\"b.txt\"]\nrun = \"cp a.txt b.txt\"\n",
    );
    project.build(&[], 1);
    assert_eq!(ready(&project), [pair("a", "failed")]);
}
