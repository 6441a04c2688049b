//! Every configuration error kind of SPEC §2: exit 2, the message, the file, line and
//! column, the offending line with a caret, a `help:` line, and never a panic.

use crate::test::{Project, Test};

/// One config error: the project, then what stderr must say.
macro_rules! config_error {
    (
        name: $name:ident,
        toml: $toml:expr,
        $(files: [$(($path:expr, $content:expr)),* $(,)?],)?
        message: $message:expr,
        at: $at:expr,
        help: $help:expr $(,)?
    ) => {
        #[test]
        fn $name() {
            let test = Test::new().tasks_toml($toml);
            $($(let test = test.file($path, $content);)*)?
            test.args(["check"])
                .status(2)
                .stderr_contains(&format!("error: {}", $message))
                .stderr_contains(&format!("--> {}\n", $at))
                .stderr_contains(&format!("= help: {}", $help))
                .stderr_contains("error: could not load `tasks.toml`")
                .run();
        }
    };
}

config_error! {
    name: toml_syntax_error,
    toml: "[tasks.a]\ntitle = \"unterminated\n",
    message: "invalid basic string",
    at: "tasks.toml:2:22",
    help: "fix the TOML syntax",
}

config_error! {
    name: unknown_task_key_suggests_the_right_one,
    toml: "[tasks.T1]\ntitel = \"Schema\"\n",
    message: "unknown key `titel` in task `T1`",
    at: "tasks.toml:2:1",
    help: "did you mean `title`?",
}

config_error! {
    name: unknown_top_level_key,
    toml: "[taks.T1]\n",
    message: "unknown key `taks` in tasks.toml",
    at: "tasks.toml:1:2",
    help: "did you mean `tasks`?",
}

config_error! {
    name: unknown_project_key_lists_allowed_keys,
    toml: "[project]\nzzz = 1\n",
    message: "unknown key `zzz` in [project]",
    at: "tasks.toml:2:1",
    help: "the keys allowed here are `name`, `jobs`, `shell`",
}

config_error! {
    name: unknown_group_key,
    toml: "[groups.A]\nafterr = []\n",
    message: "unknown key `afterr` in group `A`",
    at: "tasks.toml:2:1",
    help: "did you mean `after`?",
}

config_error! {
    name: unknown_input_table_key,
    toml: "[tasks.a]\ninputs = [{ path = \"p.md\", sektion = \"x\" }]\n",
    message: "unknown key `sektion` in an input",
    at: "tasks.toml:2:28",
    help: "did you mean `section`?",
}

config_error! {
    name: wrong_type,
    toml: "[tasks.a]\ntitle = 3\n",
    message: "`title` must be a string, found an integer",
    at: "tasks.toml:2:9",
    help: "quote the value: `title = \"...\"`",
}

config_error! {
    name: quiet_is_true_or_false,
    toml: "[tasks.a]\nquiet = \"yes\"\n",
    message: "`quiet` must be true or false, found a string",
    at: "tasks.toml:2:9",
    help: "give `quiet` true or false",
}

config_error! {
    name: wrong_type_in_a_list,
    toml: "[tasks.a]\ndeps = [\"b\", 7]\n[tasks.b]\n",
    message: "`deps` must be a string, found an integer",
    at: "tasks.toml:2:14",
    help: "quote the value",
}

config_error! {
    name: invalid_task_id,
    toml: "[tasks.\"build app\"]\n",
    message: "task id `build app` contains ' '",
    at: "tasks.toml:1:8",
    help: "a task id may use letters, digits, `_`, `.` and `-`",
}

config_error! {
    name: reserved_task_id,
    toml: "[tasks.all]\n",
    message: "task id `all` is reserved for the default target",
    at: "tasks.toml:1:8",
    help: "`all` selects every task; rename the task id",
}

config_error! {
    name: invalid_group_name,
    toml: "[groups.\"a/b\"]\n",
    message: "group `a/b` contains '/'",
    at: "tasks.toml:1:9",
    help: "a group may use letters",
}

config_error! {
    name: bad_priority_suggests,
    toml: "[tasks.a]\npriority = \"hihg\"\n",
    message: "`priority` cannot be `hihg`",
    at: "tasks.toml:2:12",
    help: "did you mean `high`?",
}

config_error! {
    name: bad_workspace,
    toml: "[tasks.a]\nworkspace = \"elsewhere\"\n",
    message: "`workspace` cannot be `elsewhere`",
    at: "tasks.toml:2:13",
    help: "use one of `root`, `worktree`",
}

config_error! {
    name: jobs_out_of_range,
    toml: "[project]\njobs = 0\n",
    message: "`jobs` must be between 1 and 4096, found 0",
    at: "tasks.toml:2:8",
    help: "give `jobs` a whole number from 1 to 4096",
}

config_error! {
    name: negative_retries,
    toml: "[tasks.a]\nretries = -1\n",
    message: "`retries` must be between 0 and 100, found -1",
    at: "tasks.toml:2:11",
    help: "give `retries` a whole number from 0 to 100",
}

config_error! {
    name: bad_duration,
    toml: "[tasks.a]\neffort = \"4 hrs or so\"\n",
    message: "`effort` is not a duration",
    at: "tasks.toml:2:10",
    help: "write a duration like \"4h\"",
}

config_error! {
    name: bad_group_timeout,
    toml: "[groups.A]\ntimeout = \"soon\"\n",
    message: "`timeout` is not a duration",
    at: "tasks.toml:2:11",
    help: "write a duration like",
}

config_error! {
    name: absolute_input,
    toml: "[tasks.a]\ninputs = [\"/etc/passwd\"]\n",
    message: "path `/etc/passwd` is absolute",
    at: "tasks.toml:2:11",
    help: "write paths relative to the project root",
}

config_error! {
    name: input_escaping_the_root,
    toml: "[tasks.a]\ninputs = [\"src/../../secret\"]\n",
    message: "path `src/../../secret` escapes the project root",
    at: "tasks.toml:2:11",
    help: "write paths relative to the project root",
}

config_error! {
    name: output_escaping_the_root,
    toml: "[tasks.a]\noutputs = [\"../out.txt\"]\nrun = \"x\"\n",
    message: "path `../out.txt` escapes the project root",
    at: "tasks.toml:2:12",
    help: "write paths relative to the project root",
}

config_error! {
    name: glob_escaping_the_root,
    toml: "[tasks.a]\ninputs = [\"../**/*.ts\"]\n",
    message: "path `../**/*.ts` escapes the project root",
    at: "tasks.toml:2:11",
    help: "write paths relative to the project root",
}

config_error! {
    name: cache_dir_escaping_the_root,
    toml: "[project]\ncache = \"/tmp/cache\"\n",
    message: "path `/tmp/cache` is absolute",
    at: "tasks.toml:2:9",
    help: "write paths relative to the project root",
}

config_error! {
    name: bad_glob,
    toml: "[tasks.a]\ninputs = [\"src/[a-\"]\n",
    message: "invalid glob `src/[a-`",
    at: "tasks.toml:2:11",
    help: "globs use `*`",
}

config_error! {
    name: glob_as_output,
    toml: "[tasks.a]\noutputs = [\"dist/*.js\"]\nrun = \"x\"\n",
    message: "output `dist/*.js` is a glob",
    at: "tasks.toml:2:12",
    help: "declare each output file, or a whole directory with a trailing `/`",
}

config_error! {
    name: empty_run,
    toml: "[tasks.a]\nrun = \"  \"\n",
    message: "`run` is empty",
    at: "tasks.toml:2:7",
    help: "give `run` a value or remove the key",
}

config_error! {
    name: empty_run_array,
    toml: "[tasks.a]\nrun = []\n",
    message: "`run` is empty",
    at: "tasks.toml:2:7",
    help: "give `run` a value",
}

config_error! {
    name: empty_section_name,
    toml: "[tasks.a]\ninputs = [\"plan.md#\"]\n",
    message: "`section` is empty",
    at: "tasks.toml:2:11",
    help: "give `section` a value",
}

config_error! {
    name: bad_env_name,
    toml: "[tasks.a]\nenv = { \"MY-VAR\" = \"1\" }\n",
    message: "`MY-VAR` is not a valid environment variable name",
    at: "tasks.toml:2:9",
    help: "environment variable names use letters, digits and `_`",
}

config_error! {
    name: bad_hash_env_name,
    toml: "[project]\nhash_env = [\"A=B\"]\n",
    message: "`A=B` is not a valid environment variable name",
    at: "tasks.toml:2:13",
    help: "environment variable names",
}

config_error! {
    name: unknown_dep_suggests,
    toml: "[tasks.build]\n[tasks.test]\ndeps = [\"biuld\"]\n",
    message: "task `test` depends on unknown task `biuld`",
    at: "tasks.toml:3:9",
    help: "did you mean `build`?",
}

config_error! {
    name: unknown_dep_without_a_close_name,
    toml: "[tasks.a]\ndeps = [\"zzz\"]\n",
    message: "task `a` depends on unknown task `zzz`",
    at: "tasks.toml:2:9",
    help: "declare `[tasks.zzz]` or remove it from `deps`",
}

config_error! {
    name: unknown_group_of_a_task,
    toml: "[groups.GROUP_A]\n[tasks.a]\ngroup = \"GROUP_X\"\n",
    message: "task `a` names unknown group `GROUP_X`",
    at: "tasks.toml:3:9",
    help: "did you mean `GROUP_A`?",
}

config_error! {
    name: unknown_group_in_after,
    toml: "[groups.B]\nafter = [\"NOPE\"]\n",
    message: "group `B` names unknown group `NOPE`",
    at: "tasks.toml:2:10",
    help: "declare `[groups.NOPE]` or remove the reference",
}

config_error! {
    name: unknown_rule_suggests_builtin,
    toml: "[tasks.a]\nchecks = [\"non_emtpy\"]\n",
    message: "task `a` uses unknown rule `non_emtpy`",
    at: "tasks.toml:2:11",
    help: "did you mean `non_empty`?",
}

config_error! {
    name: unknown_rule_says_how_to_add_one,
    toml: "[tasks.a]\nchecks = [\"sql_syntax\"]\n",
    message: "task `a` uses unknown rule `sql_syntax`",
    at: "tasks.toml:2:11",
    help: "add `rules/sql_syntax.toml`, or use a built-in rule: `non_empty`, `json`, `toml`",
}

config_error! {
    name: cycle_prints_its_path,
    toml: r#"
        [tasks.T4]
        deps = ["T9"]
        outputs = ["t4.txt"]
        run = "x"
        [tasks.T9]
        inputs = ["t4.txt"]
    "#,
    message: "dependency cycle: T4 -> T9 -> T4",
    at: "tasks.toml:2:9",
    help: "T4 lists T9 in `deps`; T9 reads `t4.txt`, an output of T4; remove one of these dependencies",
}

config_error! {
    name: self_dependency_is_a_cycle,
    toml: "[tasks.a]\ndeps = [\"a\"]\n",
    message: "dependency cycle: a -> a",
    at: "tasks.toml:2:9",
    help: "a lists a in `deps`",
}

config_error! {
    name: duplicate_output,
    toml: "[tasks.a]\noutputs = [\"out.txt\"]\nrun = \"x\"\n[tasks.b]\noutputs = [\"out.txt\"]\nrun = \"y\"\n",
    message: "output `out.txt` of task `b` is also declared by task `a`",
    at: "tasks.toml:5:12",
    help: "every file has one producer: remove it from one task (`a` declares it at tasks.toml:2:12)",
}

config_error! {
    name: output_inside_another_tasks_directory_output,
    toml: "[tasks.a]\noutputs = [\"dist/js/app.js\"]\nrun = \"x\"\n[tasks.b]\noutputs = [\"dist/\"]\nrun = \"y\"\n",
    message: "output `dist/js/app.js` of task `a` lies inside directory output `dist/` of task `b`",
    at: "tasks.toml:2:12",
    help: "a directory output belongs wholly to its task",
}

config_error! {
    name: output_that_is_also_an_input,
    toml: "[tasks.a]\ninputs = [\"gen/*.ts\"]\noutputs = [\"gen/api.ts\"]\nrun = \"x\"\n",
    message: "task `a` reads its own output `gen/api.ts`",
    at: "tasks.toml:2:11",
    help: "a task cannot read what it writes",
}

config_error! {
    name: outputs_without_a_command,
    toml: "[tasks.a]\noutputs = [\"x\"]\n",
    message: "task `a` declares outputs but has no `run` command",
    at: "tasks.toml:1:8",
    help: "add `run = \"...\"`",
}

config_error! {
    name: missing_plain_input,
    toml: "[tasks.a]\ninputs = [\"docs/schema.sql\"]\n",
    message: "input `docs/schema.sql` of task `a` does not exist and no task produces it",
    at: "tasks.toml:2:11",
    help: "create the file, fix the path, or declare it as an output of the task that writes it",
}

config_error! {
    name: input_that_is_a_directory,
    toml: "[tasks.a]\ninputs = [\"src\"]\n",
    files: [("src/a.ts", "x")],
    message: "input `src` of task `a` is a directory",
    at: "tasks.toml:2:11",
    help: "write `src/` (every file under it) or a glob such as `src/**/*.ts`",
}

config_error! {
    name: missing_section_lists_headings,
    toml: "[tasks.T9]\ninputs = [\"docs/plan.md#T9\"]\n",
    files: [("docs/plan.md", "# Plan\n\n## T1: Schema\n\n## T2: Interface\n")],
    message: "no section `T9` in `docs/plan.md`",
    at: "tasks.toml:2:11",
    help: "the headings in `docs/plan.md` are `# Plan`, `## T1: Schema`, `## T2: Interface`",
}

config_error! {
    name: ambiguous_section,
    toml: "[tasks.T1]\ninputs = [{ path = \"plan.md\", section = \"T1\" }]\n",
    files: [("plan.md", "## T1: one\n\n## T1 - again\n")],
    message: "section `T1` is ambiguous in `plan.md`: headings on lines 1, 3 match",
    at: "tasks.toml:2:11",
    help: "make the headings distinct",
}

config_error! {
    name: unreadable_markdown,
    toml: "[tasks.a]\ninputs = [\"plan.md#A\"]\n",
    files: [("plan.md/inner", "a directory, not a file")],
    message: "cannot read `plan.md`",
    at: "tasks.toml:2:11",
    help: "check that the file exists and is UTF-8 text",
}

#[test]
fn input_through_a_symlink_out_of_the_root() {
    Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"linked/passwd\"]\n")
        .symlink("/etc", "linked")
        .args(["check"])
        .status(2)
        .stderr_contains(
            "error: path `linked/passwd` goes through a symlink out of the project root (to `/etc`)\n",
        )
        .stderr_contains("--> tasks.toml:2:11\n")
        .stderr_contains("= help: point the path at a real file inside the project")
        .run();
}

#[test]
fn symlinks_inside_the_root_are_fine() {
    Test::new()
        .tasks_toml("[tasks.a]\ninputs = [\"alias/file.txt\"]\n")
        .file("real/file.txt", "x")
        .symlink("real", "alias")
        .args(["check"])
        .stdout("ok: 1 task, 0 groups, 0 edges, 0 rules\n")
        .run();
}

#[test]
fn output_symlink_out_of_the_root_is_an_error() {
    Test::new()
        .tasks_toml("[tasks.a]\noutputs = [\"out/x.txt\"]\nrun = \"x\"\n")
        .symlink("/tmp", "out")
        .args(["check"])
        .status(2)
        .stderr_contains(
            "error: path `out/x.txt` goes through a symlink out of the project root (to `/tmp`)",
        )
        .run();
}

#[test]
fn the_full_shape_of_an_error() {
    Test::new()
        .tasks_toml(
            "
            [tasks.T1]
            title = \"Schema\"
            priority = \"urgent\"
            ",
        )
        .args(["check"])
        .status(2)
        .stderr(
            "
            error: `priority` cannot be `urgent`
             --> tasks.toml:3:12
              |
            3 | priority = \"urgent\"
              |            ^^^^^^^^
              = help: use one of `critical`, `high`, `medium`, `low`

            error: could not load `tasks.toml`: 1 error
            ",
        )
        .run();
}

#[test]
fn every_error_of_a_file_is_reported_at_once_in_file_order() {
    let finished = Test::new()
        .tasks_toml(
            r#"
            [project]
            jobs = "many"
            [tasks.a]
            titel = "x"
            deps = ["nope"]
            inputs = ["/abs", "missing.txt"]
            [tasks.b]
            deps = ["c"]
            [tasks.c]
            deps = ["b"]
            "#,
        )
        .args(["check"])
        .status(2)
        .stderr_contains("could not load `tasks.toml`: 6 errors")
        .run();
    let locations: Vec<&str> = finished
        .stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("--> "))
        .collect();
    assert_eq!(
        locations,
        [
            "tasks.toml:2:8",
            "tasks.toml:4:1",
            "tasks.toml:5:9",
            "tasks.toml:6:11",
            "tasks.toml:6:19",
            "tasks.toml:8:9",
        ]
    );
}

#[test]
fn errors_are_reported_for_list_and_graph_too() {
    for command in ["list", "graph"] {
        Test::new()
            .tasks_toml("[tasks.a]\ndeps = [\"b\"]\n")
            .args([command])
            .status(2)
            .stderr_contains("error: task `a` depends on unknown task `b`")
            .run();
    }
}

#[test]
fn check_json_reports_errors_with_positions() {
    let finished = Test::new()
        .tasks_toml("[tasks.a]\ntitel = \"x\"\n")
        .args(["check", "--json"])
        .status(2)
        .run();
    let json = finished.json();
    assert_eq!(json["ok"], false);
    let error = &json["errors"][0];
    assert_eq!(error["file"], "tasks.toml");
    assert_eq!(error["line"], 2);
    assert_eq!(error["column"], 1);
    assert_eq!(error["message"], "unknown key `titel` in task `a`");
    assert_eq!(error["help"], "did you mean `title`?");
}

#[test]
fn not_utf8_config() {
    Test::new()
        .raw_file("tasks.toml", b"[tasks.a]\ntitle = \"\xff\"\n")
        .args(["check"])
        .status(2)
        .stderr_contains("error: cannot read `")
        .run();
}

#[test]
fn every_field_parses_into_the_model() {
    let finished = Test::new()
        .tasks_toml(
            r#"
            [project]
            name = "demo"
            jobs = 3
            shell = ["bash", "-eu", "-c"]
            hash_env = ["NODE_ENV"]
            cache = ".build-cache"
            worktrees = ".wt"
            worktree_setup = "npm ci"
            keep_runs = 7

            [groups.A]
            title = "First"
            jobs = 2
            timeout = "2h"
            [groups.B]
            after = ["A"]

            [tasks.T1]
            title = "One"
            group = "A"
            priority = "critical"
            effort = "1h 30m"
            agent = "db"
            inputs = [
              "docs/schema.sql",
              "src/**/*.ts",
              { path = "docs/plan.md", section = "T1" },
              "docs/plan.md#T1: One",
              { command = "tool --version" },
              "assets/",
              "./docs/../docs/schema.sql",
            ]
            outputs = ["out/one.sql", "dist/"]
            run = ["sh", "-c", "echo hi"]
            env = { MODE = "ci" }
            checks = ["non_empty", "json"]
            retries = 2
            workspace = "worktree"
            quiet = true

            [tasks.T2]
            group = "B"
            deps = ["T1"]
            run = "echo two"
            timeout = "5m"
            "#,
        )
        .file("docs/schema.sql", "create table x;")
        .file("docs/plan.md", "## T1: One\n")
        .dir("assets")
        .args(["list", "--json"])
        .run();
    let json = finished.json();
    assert_eq!(
        json["project"],
        serde_json::json!({
            "name": "demo", "jobs": 3, "shell": ["bash", "-eu", "-c"],
            "hash_env": ["NODE_ENV"], "cache": ".build-cache", "worktrees": ".wt",
            "worktree_setup": "npm ci", "keep_runs": 7
        })
    );
    assert_eq!(json["groups"][0]["timeout_seconds"], 7200);
    assert_eq!(json["groups"][0]["jobs"], 2);
    assert_eq!(json["groups"][1]["after"], serde_json::json!(["A"]));
    let t1 = &json["tasks"][0];
    assert_eq!(t1["priority"], "critical");
    assert_eq!(t1["effort"], "1h 30m");
    assert_eq!(t1["effort_seconds"], 5400);
    assert_eq!(
        t1["inputs"],
        serde_json::json!([
            {"file": "docs/schema.sql"},
            {"glob": "src/**/*.ts"},
            {"section": {"path": "docs/plan.md", "section": "T1"}},
            {"section": {"path": "docs/plan.md", "section": "T1: One"}},
            {"command": "tool --version"},
            {"glob": "assets/**"},
            {"file": "docs/schema.sql"},
        ])
    );
    assert_eq!(t1["outputs"], serde_json::json!(["out/one.sql", "dist/"]));
    assert_eq!(
        t1["run"],
        serde_json::json!({"exec": ["sh", "-c", "echo hi"]})
    );
    assert_eq!(t1["env"], serde_json::json!({"MODE": "ci"}));
    assert_eq!(t1["checks"], serde_json::json!(["non_empty", "json"]));
    assert_eq!(t1["timeout_seconds"], 7200, "inherits the group's timeout");
    assert_eq!(t1["retries"], 2);
    assert_eq!(t1["workspace"], "worktree");
    assert_eq!(t1["quiet"], true);
    let t2 = &json["tasks"][1];
    assert_eq!(t2["run"], serde_json::json!({"shell": "echo two"}));
    assert_eq!(t2["timeout_seconds"], 300);
    assert_eq!(t2["deps"], serde_json::json!(["T1"]));
    assert_eq!(t2["workspace"], "root");
    assert_eq!(t2["priority"], "medium");
    assert_eq!(t2["quiet"], false);
}

/// `[cache]` beside `[project]` is read (it was dropped: the tables are read sorted, and
/// `[project]` started again from the defaults).
#[test]
fn a_cache_table_beside_a_project_table_is_kept() {
    let project = Project::new(
        "[project]\nname = \"x\"\n[cache]\nremote = \"file:///nonexistent-conduct-remote\"\n\
         [tasks.a]\noutputs = [\"a\"]\nrun = \"touch a\"\n",
    );
    let stats = project.conduct(&["cache", "stats", "--remote"]);
    assert!(
        !stats.stderr.contains("no remote cache is set"),
        "{stats:?}"
    );
    assert!(
        stats.stdout.contains("file:///nonexistent-conduct-remote"),
        "{stats:?}"
    );
}
