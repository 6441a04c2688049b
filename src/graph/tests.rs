//! `graph`'s unit tests: dependencies, cycles, selection.

use super::*;
use crate::source::SourceFile;

fn spec(text: &str) -> Spec {
    let (spec, errors) = crate::spec::parse(
        &SourceFile::new("tasks.toml", text),
        &[],
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(errors.is_empty(), "{errors:?}");
    spec
}

fn graph(text: &str) -> (Spec, Result<Graph, Vec<SpecError>>) {
    let spec = spec(text);
    let graph = Graph::build(&spec);
    (spec, graph)
}

fn deps_of(spec: &Spec, graph: &Graph, id: &str) -> Vec<String> {
    let task = spec.find_task(id).unwrap();
    graph
        .task_deps(task)
        .iter()
        .map(|d| spec.task(d.task).id.to_string())
        .collect()
}

fn select(spec: &Spec, graph: &Graph, targets: &[&str]) -> Vec<String> {
    let targets: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    graph
        .select(spec, &targets)
        .unwrap()
        .tasks
        .iter()
        .map(|t| spec.task(*t).id.to_string())
        .collect()
}

#[test]
fn infers_deps_from_paths_sections_and_directory_contents() {
    let (spec, graph) = graph(
        r#"
        [tasks.gen]
        outputs = ["docs/gen.md", "dist/"]
        run = "x"
        [tasks.a]
        inputs = ["docs/gen.md#Intro"]
        [tasks.b]
        inputs = ["dist/js/app.js"]
        [tasks.c]
        inputs = ["dist/"]
        [tasks.d]
        inputs = ["src/x.txt", { command = "tool --version" }]
        "#,
    );
    let graph = graph.unwrap();
    assert_eq!(deps_of(&spec, &graph, "a"), ["gen"]);
    assert_eq!(deps_of(&spec, &graph, "b"), ["gen"]);
    assert_eq!(deps_of(&spec, &graph, "c"), ["gen"]);
    assert!(deps_of(&spec, &graph, "d").is_empty());
    assert_eq!(graph.edge_count(), 3);
}

#[test]
fn infers_deps_from_globs_against_declared_outputs() {
    let (spec, graph) = graph(
        r#"
        [tasks.ts]
        outputs = ["src/gen/api.ts"]
        run = "x"
        [tasks.sql]
        outputs = ["db/001.sql"]
        run = "x"
        [tasks.web]
        outputs = ["web/dist/"]
        run = "x"
        [tasks.all_ts]
        inputs = ["src/**/*.ts"]
        [tasks.top_ts]
        inputs = ["src/*.ts"]
        [tasks.sqls]
        inputs = ["db/*.sql"]
        [tasks.web_js]
        inputs = ["web/**/*.js"]
        [tasks.other]
        inputs = ["web/src/*.js"]
        "#,
    );
    let graph = graph.unwrap();
    assert_eq!(deps_of(&spec, &graph, "all_ts"), ["ts"]);
    // `*` does not cross `/` (literal_separator), so src/gen/api.ts is not in src/*.ts.
    assert!(deps_of(&spec, &graph, "top_ts").is_empty());
    assert_eq!(deps_of(&spec, &graph, "sqls"), ["sql"]);
    assert_eq!(deps_of(&spec, &graph, "web_js"), ["web"]);
    assert!(deps_of(&spec, &graph, "other").is_empty());
}

#[test]
fn explicit_reason_wins_over_inferred_for_the_same_dep() {
    let (spec, graph) = graph(
        r#"
        [tasks.a]
        outputs = ["a.txt"]
        run = "x"
        [tasks.b]
        deps = ["a"]
        inputs = ["a.txt"]
        "#,
    );
    let graph = graph.unwrap();
    let b = spec.find_task("b").unwrap();
    assert_eq!(graph.task_deps(b).len(), 1);
    assert!(matches!(
        graph.task_deps(b)[0].reason,
        DepReason::Explicit { .. }
    ));
}

#[test]
fn barriers_order_whole_groups() {
    let (spec, graph) = graph(
        r#"
        [groups.A]
        [groups.B]
        after = ["A"]
        [tasks.a1]
        group = "A"
        [tasks.a2]
        group = "A"
        [tasks.b1]
        group = "B"
        [tasks.free]
        "#,
    );
    let graph = graph.unwrap();
    assert_eq!(graph.barrier_count(), 1);
    assert!(
        deps_of(&spec, &graph, "b1").is_empty(),
        "barriers are not task deps"
    );
    assert_eq!(select(&spec, &graph, &["b1"]), ["a1", "a2", "b1"]);
    assert_eq!(select(&spec, &graph, &["B"]), ["a1", "a2", "b1"]);
    assert_eq!(select(&spec, &graph, &["a1"]), ["a1"]);
    assert_eq!(select(&spec, &graph, &[]), ["a1", "a2", "free", "b1"]);
}

#[test]
fn selection_brings_transitive_deps_in_dependency_order() {
    let (spec, graph) = graph(
        r#"
        [tasks.deploy]
        deps = ["c"]
        [tasks.c]
        deps = ["a", "b"]
        [tasks.b]
        deps = ["a"]
        [tasks.a]
        [tasks.e]
        "#,
    );
    let graph = graph.unwrap();
    assert_eq!(
        select(&spec, &graph, &["deploy"]),
        ["a", "b", "c", "deploy"]
    );
    assert_eq!(select(&spec, &graph, &["b", "e"]), ["a", "b", "e"]);
    let err = graph.select(&spec, &["deplyo".to_string()]).unwrap_err();
    assert_eq!(err.suggestion.as_deref(), Some("deploy"));
}

fn cycle_messages(text: &str) -> Vec<(String, String)> {
    let (_, graph) = graph(text);
    graph
        .unwrap_err()
        .iter()
        .map(|e| (e.to_string(), e.kind.help()))
        .collect()
}

#[test]
fn cycles_print_their_path_and_reasons() {
    let errors = cycle_messages(
        r#"
        [tasks.T4]
        deps = ["T9"]
        outputs = ["t4.txt"]
        run = "x"
        [tasks.T9]
        inputs = ["t4.txt"]
        "#,
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "dependency cycle: T4 -> T9 -> T4");
    assert!(errors[0].1.contains("T4 lists T9 in `deps`"), "{errors:?}");
    assert!(
        errors[0].1.contains("T9 reads `t4.txt`, an output of T4"),
        "{errors:?}"
    );

    let errors = cycle_messages("[tasks.a]\ndeps = [\"a\"]\n");
    assert_eq!(errors[0].0, "dependency cycle: a -> a");
}

#[test]
fn cycles_through_barriers() {
    let errors = cycle_messages(
        r#"
        [groups.A]
        after = ["B"]
        [groups.B]
        after = ["A"]
        [tasks.a]
        group = "A"
        [tasks.b]
        group = "B"
        "#,
    );
    assert_eq!(errors.len(), 1);
    assert!(errors[0].0.starts_with("dependency cycle: "), "{errors:?}");
    assert!(
        errors[0].0.contains("[A]") && errors[0].0.contains("[B]"),
        "{errors:?}"
    );
    assert!(errors[0].1.contains("which runs after group"), "{errors:?}");
}

#[test]
fn reading_your_own_output_is_an_error() {
    for inputs in [
        r#"["out/a.txt"]"#,
        r#"["out/*.txt"]"#,
        r#"["gen/x.js"]"#,
        r#"["**/*.js"]"#,
    ] {
        let text = format!(
            "[tasks.a]\ninputs = {inputs}\noutputs = [\"out/a.txt\", \"gen/\"]\nrun = \"x\"\n"
        );
        let (_, graph) = graph(&text);
        let errors = graph.unwrap_err();
        assert!(
            matches!(errors[0].kind, SpecErrorKind::OutputIsInput { .. }),
            "{inputs}: {errors:?}"
        );
    }
}

#[test]
fn glob_parts_match_inside_directories() {
    let inside = |glob: &str, dir: &str| {
        let parts = GlobParts::new(glob);
        let comps: Vec<&str> = dir.split('/').collect();
        parts.may_match_inside(&comps)
    };
    assert!(inside("dist/**", "dist"));
    assert!(inside("**/*.js", "web/dist"));
    assert!(inside("web/*/app.js", "web/dist"));
    assert!(inside("web/d*/x", "web/dist"));
    assert!(!inside("web/src/*.js", "web/dist"));
    assert!(!inside("web", "web/dist"));
    assert!(inside("{web/dist,x}/*.js", "web/dist"));
}
