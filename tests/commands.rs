//! `--json` on every command (errors included) and getting started: `conduct init`,
//! completions.

use serde_json::{Value, json};

use crate::test::{Project, Test};

const TASKS: &str = r#"
    [tasks.gen]
    title = "Generate"
    inputs = ["src.txt"]
    outputs = ["out/gen.txt"]
    run = "echo gen >> ran.log && mkdir -p out && cat src.txt > out/gen.txt"
"#;

fn project() -> Project {
    let project = Project::new(TASKS);
    project.file("src.txt", "source\n");
    project
}

/// stdout of a successful `conduct ARGS`, parsed as one JSON object.
#[track_caller]
fn json_of(project: &Project, args: &[&str]) -> Value {
    let run = project.conduct(args);
    assert_eq!(run.status, 0, "{args:?}: {run:#?}");
    assert_eq!(run.stdout.lines().count(), 1, "one line: {run:#?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:#?}"))
}

#[test]
fn every_command_speaks_json() {
    let project = project();
    project.build(&[], 0);
    project.ran();

    let status = json_of(&project, &["status", "--json"]);
    assert!(status.is_array() || status.is_object(), "{status}");
    assert!(json_of(&project, &["list", "--json"])["tasks"].is_array());
    assert!(json_of(&project, &["plan", "--json"]).is_object());
    assert_eq!(json_of(&project, &["check", "--json"])["ok"], true);
    // `--json` is global: before the subcommand too; graph's `--json` is `--format json`.
    assert_eq!(
        json_of(&project, &["--json", "graph"])["tasks"][0]["id"],
        "gen"
    );

    let show = json_of(&project, &["show", "gen", "--json"]);
    assert_eq!(show["task"], "gen");
    assert!(
        show["instruction"]
            .as_str()
            .unwrap()
            .contains("out/gen.txt")
    );

    let report = json_of(&project, &["report", "--json"]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["counts"]["ran"], 1);
    assert_eq!(report["tasks"][0]["id"], "gen");

    let stats = json_of(&project, &["cache", "stats", "--json"]);
    assert_eq!(stats["entries"], 1);
    assert!(stats["bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        stats["last_build"],
        json!({"restored": 0, "ran": 1, "hit_rate": 0.0})
    );
    let verify = json_of(&project, &["cache", "verify", "--json"]);
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["entries"], 1);
    assert_eq!(verify["corrupt_blobs"], json!([]));
    let gc = json_of(&project, &["cache", "gc", "--json"]);
    assert_eq!(gc["removed_entries"], 0);
    assert!(gc["max_bytes"].as_u64().unwrap() > 0);

    project.file("src.txt", "changed\n");
    let accept = json_of(&project, &["accept", "gen", "--json"]);
    assert_eq!(
        accept,
        json!({"accepted": ["gen"], "already_fresh": [], "refused": [], "notes": []})
    );
    let accept = json_of(&project, &["accept", "--json"]);
    assert_eq!(accept["already_fresh"], json!(["gen"]));

    let clean = json_of(&project, &["clean", "--json"]);
    assert_eq!(
        clean,
        json!({"outputs": 1, "cache_entries": null, "worktrees": null})
    );
    let clean = json_of(&project, &["clean", "--all", "--json"]);
    assert_eq!(clean["outputs"], 0);
    assert!(clean["cache_entries"].as_u64().is_some(), "{clean}");
}

#[test]
fn a_refused_accept_is_json_with_exit_1() {
    let project = project();
    let run = project.conduct(&["accept", "gen", "--json"]);
    assert_eq!(run.status, 1, "{run:#?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["refused"][0]["task"], "gen");
    assert!(
        json["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("out/gen.txt is missing")
    );
}

#[test]
fn build_json_on_a_broken_config_prints_one_error_event() {
    let project = Project::new("[tasks.a]\ntitel = \"x\"\n");
    let run = project.conduct(&["build", "--json"]);
    assert_eq!(run.status, 2, "{run:#?}");
    let events = run.events();
    assert_eq!(events.len(), 1, "{run:#?}");
    assert_eq!(events[0]["event"], "error");
    assert_eq!(events[0]["kind"], "config");
    assert_eq!(
        events[0]["errors"],
        json!([{
            "file": "tasks.toml",
            "line": 2,
            "column": 1,
            "message": "unknown key `titel` in task `a`",
            "help": "did you mean `title`?",
        }])
    );
    assert_eq!(run.stderr, "", "nothing for humans: {run:#?}");
}

#[test]
fn every_json_command_reports_errors_as_json() {
    let project = Project::new("[tasks.a]\ntitel = \"x\"\n");
    for args in [
        &["list", "--json"][..],
        &["status", "--json"],
        &["plan", "--json"],
        &["graph", "--json"],
        &["show", "a", "--json"],
        &["accept", "--json"],
        &["clean", "--json"],
        &["cache", "stats", "--json"],
        &["check", "--json"],
    ] {
        let run = project.conduct(args);
        assert_eq!(run.status, 2, "{args:?}: {run:#?}");
        let json: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {run:#?}"));
        assert_eq!(json["ok"], false, "{args:?}");
        assert_eq!(json["kind"], "config", "{args:?}");
        assert_eq!(json["errors"][0]["line"], 2, "{args:?}");
    }
    // Not only configuration errors: an unknown target names its kind and a help.
    let project = self::project();
    let run = project.conduct(&["build", "gne", "--json"]);
    assert_eq!(run.status, 2, "{run:#?}");
    let events = run.events();
    assert_eq!(events.len(), 1, "{run:#?}");
    assert_eq!(events[0]["event"], "error");
    assert_eq!(events[0]["kind"], "unknown_target");
    assert!(events[0]["help"].is_string(), "{run:#?}");
    let run = project.conduct(&["report", "--json"]);
    assert_eq!(run.status, 2, "{run:#?}");
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["kind"], "no_run_record");
}

#[test]
fn json_conflicts_are_usage_errors() {
    let project = project();
    for args in [
        &["graph", "--json", "--format", "dot"][..],
        &["report", "--json", "--markdown", "-"],
        &["completions", "bash", "--json"],
    ] {
        let run = project.conduct(args);
        assert_eq!(run.status, 2, "{args:?}: {run:#?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

/// A project directory with nothing in it (but the sandbox's planted symlink).
fn empty() -> Project {
    let project = Project::new("");
    std::fs::remove_file(project.path().join("tasks.toml")).unwrap();
    project
}

#[test]
fn init_writes_a_project_that_checks_and_builds() {
    let project = empty();
    let run = project.conduct(&["init"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(
        run.stdout,
        "created tasks.toml\ncreated rules/no_todo.toml\ncreated .gitignore (.cache/)\n\
         next: `conduct check`, then `conduct build`\n"
    );
    assert!(project.read("tasks.toml").starts_with("# tasks.toml"));
    assert!(project.exists("rules/no_todo.toml"));
    assert_eq!(project.read(".gitignore"), ".cache/\n");
    let check = project.conduct(&["check"]);
    assert_eq!(check.status, 0, "{check:#?}");
    assert_eq!(check.stdout, "ok: 1 task, 0 groups, 0 edges, 1 rule\n");
    assert_eq!(check.stderr, "", "no warning: {check:#?}");
    let build = project.build(&[], 0);
    assert!(build.stdout.contains("1 ran, 0 fresh"), "{build:#?}");
    assert_eq!(project.read("out/hello.txt"), "hello from conduct\n");
    let build = project.build(&[], 0);
    assert!(build.stdout.contains("0 ran, 1 fresh"), "{build:#?}");

    // Never over an existing tasks.toml.
    project.file("tasks.toml", "# mine\n");
    let again = project.conduct(&["init"]);
    assert_eq!(again.status, 2, "{again:#?}");
    assert!(
        again.stderr.contains("tasks.toml` already exists"),
        "{again:#?}"
    );
    assert_eq!(project.read("tasks.toml"), "# mine\n");
    assert_eq!(project.read(".gitignore"), ".cache/\n");
}

#[test]
fn init_appends_to_gitignore_once_and_honours_dash_c() {
    let project = empty();
    project.write("sub/.gitignore", b"target");
    project.write("sub/rules/no_todo.toml", b"# mine\n");
    let run = project.conduct(&["-C", "sub", "init", "--json"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        json!({"files": [
            {"path": "tasks.toml", "action": "created"},
            {"path": "rules/no_todo.toml", "action": "kept"},
            {"path": ".gitignore", "action": "appended"},
        ]})
    );
    assert!(!project.exists("tasks.toml"), "written in -C DIR only");
    assert_eq!(project.read("sub/.gitignore"), "target\n.cache/\n");
    assert_eq!(project.read("sub/rules/no_todo.toml"), "# mine\n");

    // A .gitignore that already ignores the cache is left as it is.
    project.write("other/.gitignore", b"/.cache\n");
    let run = project.conduct(&["-C", "other", "init"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(project.read("other/.gitignore"), "/.cache\n");
}

#[test]
fn completions_register_and_complete_commands_and_flags() {
    Test::new()
        .args(["completions", "bash"])
        .stdout_contains(
            "complete -o nospace -o bashdefault -o nosort -F _clap_complete_conduct conduct",
        )
        .run();
    // What the registered function asks conduct for.
    let ask = |words: &[&str], index: &str| {
        let mut args = vec!["--", "conduct"];
        args.extend_from_slice(words);
        Test::new()
            .args(args)
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", index)
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .env("_CLAP_IFS", "\n")
            .run()
            .stdout
    };
    assert!(ask(&["in"], "1").lines().any(|l| l == "init"));
    assert!(ask(&["--js"], "1").lines().any(|l| l == "--json"));
}
