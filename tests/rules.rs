//! `rules/*.toml` are loaded and validated with the same quality as tasks.toml (SPEC §5):
//! errors name the rule file, line and column; tasks may only name known rules.

use crate::test::Test;

const TASK: &str = "[tasks.a]\noutputs = [\"a.sql\"]\nrun = \"x\"\nchecks = [\"sql\"]\n";

#[test]
fn project_rules_are_loaded_and_counted() {
    let finished = Test::new()
        .tasks_toml(TASK)
        .file(
            "rules/sql.toml",
            r#"
            description = "SQL migrations parse"
            applies_to = ["**/*.sql"]
            pattern = "(?i)create\\s+table"
            forbid = false
            "#,
        )
        .file(
            "rules/coverage.toml",
            "run = \"echo metric coverage 90\"\nmetric = \"coverage\"\nmin = 80\nrequired = false\n",
        )
        .file("rules/README.md", "not a rule")
        .args(["list", "--json"])
        .run();
    let rules = &finished.json()["rules"];
    assert_eq!(rules[0]["name"], "non_empty");
    assert_eq!(rules[0]["builtin"], "non_empty");
    assert_eq!(rules[3]["name"], "coverage");
    assert_eq!(rules[3]["metric"], "coverage");
    assert_eq!(rules[3]["min"], 80.0);
    assert_eq!(rules[3]["required"], false);
    assert_eq!(rules[4]["name"], "sql");
    assert_eq!(rules[4]["pattern"], "(?i)create\\s+table");
    assert_eq!(rules[4]["forbid"], false);
    assert_eq!(rules[4]["applies_to"], serde_json::json!(["**/*.sql"]));
    assert_eq!(rules.as_array().unwrap().len(), 5);
}

#[test]
fn check_summary_counts_project_rules() {
    Test::new()
        .tasks_toml(TASK)
        .file("rules/sql.toml", "pattern = \"CREATE\"\nforbid = false\n")
        .args(["check"])
        .stdout("ok: 1 task, 0 groups, 0 edges, 1 rule\n")
        .run();
}

#[test]
fn rule_errors_point_into_the_rule_file() {
    Test::new()
        .tasks_toml(TASK)
        .file("rules/sql.toml", "pattern = \"CREATE\"\nforbidd = false\n")
        .args(["check"])
        .status(2)
        .stderr_contains("error: unknown key `forbidd` in rule `sql`\n --> rules/sql.toml:2:1\n")
        .stderr_contains("= help: did you mean `forbid`?")
        .run();
}

#[test]
fn rule_consistency_errors() {
    let cases = [
        (
            "description = \"x\"\n",
            "rule `sql` has neither `run` nor `pattern`",
            "rules/sql.toml:1:1",
        ),
        (
            "run = \"a\"\npattern = \"b\"\n",
            "rule `sql` has both `run` and `pattern`",
            "rules/sql.toml:2:11",
        ),
        (
            "pattern = \"(\"\n",
            "invalid regex in rule `sql`",
            "rules/sql.toml:1:11",
        ),
        (
            "run = \"a\"\nmetric = \"m\"\n",
            "rule `sql` names a metric but no bound",
            "rules/sql.toml:2:1",
        ),
        (
            "run = \"a\"\nmax = 3\n",
            "`max` needs `metric` in rule `sql`",
            "rules/sql.toml:2:1",
        ),
        (
            "run = \"a\"\nmetric = \"m\"\nmin = 9\nmax = 3\n",
            "rule `sql` has `min` 9 above `max` 3",
            "rules/sql.toml:4:1",
        ),
        (
            "pattern = \"a\"\nmetric = \"m\"\nmin = 1\n",
            "`metric` needs `run` in rule `sql`",
            "rules/sql.toml:2:1",
        ),
        (
            "run = \"a\"\napplies_to = \"*.sql\"\n",
            "`applies_to` must be a list of strings, found a string",
            "rules/sql.toml:2:14",
        ),
        (
            "run = \"a\"\napplies_to = [\"/abs/*.sql\"]\n",
            "path `/abs/*.sql` is absolute",
            "rules/sql.toml:2:15",
        ),
        ("run = [\n", "", "rules/sql.toml:"),
    ];
    for (text, message, at) in cases {
        Test::new()
            .tasks_toml(TASK)
            .file("rules/sql.toml", text)
            .args(["check"])
            .status(2)
            .stderr_contains(&format!("error: {message}"))
            .stderr_contains(&format!("--> {at}"))
            .stderr_contains("= help: ")
            .run();
    }
}

#[test]
fn a_broken_rule_is_not_also_reported_as_unknown() {
    let finished = Test::new()
        .tasks_toml(TASK)
        .file("rules/sql.toml", "description = \"no check\"\n")
        .args(["check"])
        .status(2)
        .stderr_contains("could not load `tasks.toml`: 1 error")
        .run();
    assert!(
        !finished.stderr.contains("unknown rule"),
        "{}",
        finished.stderr
    );
}

#[test]
fn a_rule_file_cannot_replace_a_builtin() {
    Test::new()
        .tasks_toml("[tasks.a]\n")
        .file("rules/json.toml", "run = \"true\"\n")
        .args(["check"])
        .status(2)
        .stderr_contains(
            "error: rule file `json` has the name of a built-in rule\n --> rules/json.toml:1:1",
        )
        .stderr_contains("help: rename the file: `non_empty`, `json`, `toml` are built in")
        .run();
}

#[test]
fn tasks_and_rule_errors_come_together_config_first() {
    let finished = Test::new()
        .tasks_toml("[tasks.a]\nchecks = [\"nope\"]\n")
        .file("rules/z.toml", "zz = 1\nrun = \"x\"\n")
        .args(["check"])
        .status(2)
        .stderr_contains("could not load `tasks.toml`: 2 errors")
        .run();
    let first = finished.stderr.find("tasks.toml:2:11").unwrap();
    let second = finished.stderr.find("rules/z.toml:1:1").unwrap();
    assert!(first < second, "{}", finished.stderr);
}
