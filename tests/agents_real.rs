//! The presets against the real agent CLIs (issue 18): `@anthropic-ai/claude-code` and
//! `@openai/codex`, as `.ci/run` installs them (pinned) into `.ci/agents`. They run here
//! without network and without an account, with HOME a temp dir, so each fails at once
//! and says why: the test checks that the CLI took the preset's argv (no "unknown
//! option"), that the task fails with the agent's own reason, and that the session or
//! thread id is recorded for a resume. A preset whose flags a new CLI no longer takes
//! fails here when the pin is raised. Where the CLIs are missing the tests say they were
//! skipped; under `CI=true` that fails.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::test::Project;

/// Where the CLIs are: `CONDUCT_AGENTS_BIN` (`.ci/run` sets it), else `.ci/agents`.
fn agents_bin(program: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CONDUCT_AGENTS_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/agents/node_modules/.bin"),
        PathBuf::from,
    );
    if dir.join(program).exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no `{program}` in {} (.ci/run installs it)",
        dir.display()
    );
    eprintln!("skipped: no `{program}` in {}", dir.display());
    None
}

/// `conduct build --json` with the CLIs first on PATH and HOME in `home`.
fn build(project: &Project, bin: &Path, home: &Path) -> crate::test::Run {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    project.conduct_env(
        &["build", "--json"],
        &[("PATH", &path), ("HOME", &home.display().to_string())],
    )
}

fn finished(run: &crate::test::Run) -> Value {
    run.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "task_finished")
        .unwrap_or_else(|| panic!("no task_finished: {run:?}"))
}

#[test]
fn the_real_claude_takes_the_presets_argv_and_its_failure_is_the_tasks() {
    let Some(bin) = agents_bin("claude") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let project = Project::new(
        "[tasks.T1]\nmodel = \"sonnet\"\nbudget = { usd = 1.0, turns = 3 }\ntimeout = \"60s\"\n\
         outputs = [\"hi.txt\"]\nrun = { agent = \"claude\", prompt = \"Write hi.txt.\" }\n",
    );
    let run = build(&project, &bin, home.path());
    assert_eq!(run.status, 1, "{run:?}");
    let log = project.read(".cache/logs/T1.log");
    assert!(
        !log.contains("unknown option"),
        "the CLI took the argv: {log}"
    );
    let event = finished(&run);
    let error = event["error"].as_str().unwrap_or_default();
    assert!(error.contains("the agent says"), "{event}");
    assert!(
        error.contains("Not logged in"),
        "the agent's own reason: {event}"
    );
    let session = event["agent"]["session_id"].as_str().unwrap_or_default();
    assert!(!session.is_empty(), "the session is recorded: {event}");
    let status: Value =
        serde_json::from_str(&project.conduct(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["tasks"][0]["agent"]["session_id"], session);
}

#[test]
fn the_real_codex_takes_the_presets_argv_and_its_failure_is_the_tasks() {
    let Some(bin) = agents_bin("codex") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    // A provider whose base URL is no URL: codex fails in under a second (without it,
    // offline, it waits for the network for minutes); the argv stays the preset's.
    let config = home.path().join(".codex");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        "model_provider = \"offline\"\n\n[model_providers.offline]\nname = \"offline\"\n\
         base_url = \"notaurl\"\nrequest_max_retries = 0\nstream_max_retries = 0\n",
    )
    .unwrap();
    let project = Project::new(
        "[tasks.T2]\ntimeout = \"60s\"\noutputs = [\"hi.txt\"]\n\
         run = { agent = \"codex\", prompt = \"Write hi.txt.\" }\n",
    );
    let run = build(&project, &bin, home.path());
    assert_eq!(run.status, 1, "{run:?}");
    let log = project.read(".cache/logs/T2.log");
    assert!(
        !log.contains("unexpected argument") && !log.contains("error: unrecognized"),
        "the CLI took the argv: {log}"
    );
    let event = finished(&run);
    let error = event["error"].as_str().unwrap_or_default();
    assert!(error.contains("the agent says"), "{event}");
    let thread = event["agent"]["session_id"].as_str().unwrap_or_default();
    assert!(!thread.is_empty(), "the thread is recorded: {event}");
}
