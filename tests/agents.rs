//! Coding agents as task commands (issue 18), driven through stand-in `claude` and
//! `codex` scripts on PATH: each logs its argv and stdin into the project's `agent/`
//! directory, writes the task's outputs, and prints what the real CLI prints (claude's
//! result object, codex's JSON lines), shaped by files the test writes (`agent/fail`:
//! the agent reports an error; `agent/cost`: what it says it spent).

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::test::Project;

/// The stand-in `claude`: logs, writes the outputs, prints a result object.
const CLAUDE: &str = r#"#!/bin/sh
log="$CONDUCT_ROOT/agent"
n=$(ls "$log" | grep -c '^claude\.argv\.' || true)
n=$((n + 1))
printf '%s\n' "$@" > "$log/claude.argv.$n"
cat > "$log/claude.stdin.$n"
echo "$CONDUCT_TASK" >> "$CONDUCT_ROOT/ran.log"
echo "working on it" >&2
if [ -f "$log/fail" ]; then
  printf '{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":40,"result":"ran out of turns","session_id":"sess-%s-%s","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":5}}\n' "$CONDUCT_TASK" "$n"
  exit 0
fi
for o in $CONDUCT_OUTPUTS; do mkdir -p "$(dirname "$o")"; echo "made by claude $n" > "$o"; done
cost=$(cat "$log/cost" 2>/dev/null || echo 0.25)
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"done","session_id":"sess-%s-%s","total_cost_usd":%s,"usage":{"input_tokens":1000,"cache_read_input_tokens":50,"output_tokens":200}}\n' "$CONDUCT_TASK" "$n" "$cost"
"#;

/// The stand-in `codex`: logs, writes the outputs, prints `codex exec --json` events.
const CODEX: &str = r#"#!/bin/sh
log="$CONDUCT_ROOT/agent"
n=$(ls "$log" | grep -c '^codex\.argv\.' || true)
n=$((n + 1))
printf '%s\n' "$@" > "$log/codex.argv.$n"
cat > "$log/codex.stdin.$n"
echo "$CONDUCT_TASK" >> "$CONDUCT_ROOT/ran.log"
echo '{"type":"thread.started","thread_id":"thread-'"$n"'"}'
echo '{"type":"turn.started"}'
for o in $CONDUCT_OUTPUTS; do echo "made by codex $n" > "$o"; done
echo '{"type":"turn.completed","usage":{"input_tokens":700,"cached_input_tokens":100,"output_tokens":70}}'
"#;

/// A project whose PATH finds the stand-ins first (in `bin/`, beside `agent/`).
fn with_agents(tasks: &str) -> Project {
    let project = Project::new(tasks);
    for (name, script) in [("claude", CLAUDE), ("codex", CODEX)] {
        project.write(&format!("bin/{name}"), script.as_bytes());
        let path = project.path().join("bin").join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::create_dir_all(project.path().join("agent")).unwrap();
    project
}

/// `conduct ARGS` with the stand-ins on PATH.
fn conduct(project: &Project, args: &[&str]) -> crate::test::Run {
    let path = format!(
        "{}:{}",
        project.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    project.conduct_env(args, &[("PATH", &path)])
}

fn argv(project: &Project, agent: &str, n: u32) -> Vec<String> {
    project
        .read(&format!("agent/{agent}.argv.{n}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

const CLAUDE_TASK: &str = "[tasks.T1]\ntitle = \"Parser\"\nmodel = \"sonnet\"\n\
     budget = { usd = 2.5, turns = 30 }\noutputs = [\"src/parser.rs\"]\n\
     run = { agent = \"claude\", prompt = \"Write the parser.\" }\n";

#[test]
fn the_claude_preset_runs_headless_with_the_instruction_on_stdin() {
    let project = with_agents(CLAUDE_TASK);
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(
        argv(&project, "claude", 1),
        [
            "-p",
            "Write the parser.",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits",
            "--max-turns",
            "30",
            "--max-budget-usd",
            "2.5",
            "--model",
            "sonnet"
        ]
    );
    let stdin = project.read("agent/claude.stdin.1");
    assert!(
        stdin.starts_with("# T1: Parser"),
        "the instruction: {stdin}"
    );
    assert_eq!(project.read("src/parser.rs"), "made by claude 1\n");
    // `conduct show` prints the same command.
    let show = conduct(&project, &["show", "T1"]);
    assert!(
        show.stdout.contains(
            "claude -p 'Write the parser.' --output-format json --permission-mode acceptEdits \
             --max-turns 30 --max-budget-usd 2.5 --model sonnet"
        ),
        "{show:?}"
    );
    let json: Value =
        serde_json::from_str(&conduct(&project, &["show", "T1", "--json"]).stdout).unwrap();
    assert_eq!(json["command"][0], "claude", "{json}");
    // A second build: fresh, the agent is not run again.
    let again = conduct(&project, &["build"]);
    assert_eq!(again.status, 0, "{again:?}");
    assert_eq!(project.ran(), ["T1"]);
}

#[test]
fn the_codex_preset_reads_prompt_and_instruction_on_stdin_in_the_workspace() {
    let project = with_agents(
        "[tasks.T2]\noutputs = [\"b.txt\"]\nrun = { agent = \"codex\", prompt = \"Make b.\" }\n",
    );
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    let argv = argv(&project, "codex", 1);
    let root = project.path().canonicalize().unwrap();
    assert_eq!(
        argv,
        [
            "exec",
            "--json",
            "--sandbox",
            "workspace-write",
            "-C",
            &root.display().to_string(),
            "--skip-git-repo-check",
            "-"
        ]
    );
    let stdin = project.read("agent/codex.stdin.1");
    assert!(
        stdin.starts_with("Make b.\n\n# T2"),
        "prompt, then instruction: {stdin}"
    );
}

#[test]
fn an_agent_tasks_toml_does_not_know_is_an_error_with_its_line() {
    let project = with_agents(
        "[tasks.T1]\noutputs = [\"a\"]\nrun = { agent = \"claud\" }\n\
         [tasks.T2]\noutputs = [\"b\"]\nrun = { prompt = \"x\" }\n\
         [agents.mine]\nstdin = \"message\"\n",
    );
    let run = conduct(&project, &["check"]);
    assert_eq!(run.status, 2, "{run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("task `T1` runs unknown agent `claud`"),
        "{said}"
    );
    assert!(said.contains("did you mean `claude`?"), "{said}");
    assert!(said.contains("tasks.toml:4:"), "{said}");
    assert!(said.contains("`run = { … }` names no `agent`"), "{said}");
    assert!(
        said.contains("`[agents.mine]` gives no `command`"),
        "{said}"
    );
}

/// `[agents.NAME]` adds an agent of one's own; its placeholders are the agent's, not
/// `[vars]` (and `[project]` beside it does not reset it).
#[test]
fn an_agent_of_ones_own_runs_its_command_template() {
    let project = with_agents(
        "[project]\nname = \"own\"\n\
         [agents.mine]\ncommand = [\"sh\", \"-c\", \"cat {message_file} > out.txt\"]\n\
         [tasks.T1]\noutputs = [\"out.txt\"]\nrun = { agent = \"mine\", prompt = \"Hello.\" }\n",
    );
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(project.read("out.txt").starts_with("Hello.\n\n# T1"));
}

#[test]
fn what_the_agent_spent_reaches_its_line_the_record_status_and_the_reports() {
    let project = with_agents(CLAUDE_TASK);
    project.file("agent/cost", "0.75");
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout.contains("ok T1 Parser (")
            && run
                .stdout
                .contains("$0.75, 1.1k tokens in, 200 out, 3 turns"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("agents spent $0.75"),
        "the summary: {run:?}"
    );
    let status = project.conduct(&["status"]);
    assert!(status.stdout.contains("$0.75"), "{status:?}");
    let json: Value = serde_json::from_str(&project.conduct(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["tasks"][0]["agent"]["cost_usd"], 0.75, "{json}");
    assert_eq!(
        json["tasks"][0]["agent"]["session_id"], "sess-T1-1",
        "{json}"
    );
    let markdown = project.conduct(&["report", "--markdown", "-"]);
    assert!(
        markdown.stdout.contains("| T1 | $0.75 | 1.1k | 200 | 3 |"),
        "{markdown:?}"
    );
    let html = project.conduct(&["report", "--html", "-"]);
    assert!(html.stdout.contains("agents spent $0.75"), "the header");
    let forced = conduct(&project, &["build", "--force", "T1", "--json"]);
    let finished: Vec<Value> = forced
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "task_finished")
        .collect();
    assert_eq!(finished[0]["agent"]["output_tokens"], 200, "{forced:?}");
}

#[test]
fn an_agent_that_says_it_failed_fails_its_task_even_with_exit_0() {
    let project = with_agents(CLAUDE_TASK);
    project.file("agent/fail", "");
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(
        run.stdout.contains("FAILED T1 Parser (")
            && run
                .stdout
                .contains("the agent says error_max_turns: ran out of turns"),
        "{run:?}"
    );
    let status = project.conduct(&["status"]);
    assert!(status.stdout.contains("failed"), "{status:?}");
}

/// A retry the checks sent back resumes the first attempt's session with the feedback
/// as its prompt; `--fresh-session` starts over.
#[test]
fn a_retry_after_a_failed_check_resumes_the_agents_session() {
    let tasks = "[tasks.T1]\noutputs = [\"out.txt\"]\nchecks = [\"second\"]\nretries = 1\n\
                 run = { agent = \"claude\", prompt = \"Write out.txt.\" }\n";
    let project = with_agents(tasks);
    // Passes only what the second run of the agent wrote.
    project.file(
        "rules/second.toml",
        "run = \"grep -q 'claude 2' \\\"$CONDUCT_OUTPUT\\\"\"\n",
    );
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    let second = argv(&project, "claude", 2);
    assert_eq!(
        &second[second.len() - 2..],
        ["--resume", "sess-T1-1"],
        "resumes the first attempt's session: {second:?}"
    );
    assert!(
        second[1].starts_with("Your last attempt did not pass"),
        "{second:?}"
    );
    let stdin = project.read("agent/claude.stdin.2");
    assert!(
        stdin.contains("check second failed"),
        "the feedback on stdin: {stdin}"
    );
    // --fresh-session: the retry starts a new session.
    let project = with_agents(tasks);
    project.file(
        "rules/second.toml",
        "run = \"grep -q 'claude 2' \\\"$CONDUCT_OUTPUT\\\"\"\n",
    );
    let run = conduct(&project, &["build", "--fresh-session"]);
    assert_eq!(run.status, 0, "{run:?}");
    let second = argv(&project, "claude", 2);
    assert!(!second.contains(&"--resume".to_owned()), "{second:?}");
    assert_eq!(second[1], "Write out.txt.");
}

/// `--budget-usd`: an agent task starts only while the spent plus the running tasks'
/// budgets plus its own fit; when nothing running could leave room, it never starts.
#[test]
fn the_run_budget_stops_agent_tasks_that_would_pass_it() {
    let mut tasks = String::new();
    for id in ["T1", "T2", "T3"] {
        tasks.push_str(&format!(
            "[tasks.{id}]\nbudget = {{ usd = 2.0 }}\noutputs = [\"{id}.txt\"]\n\
             run = {{ agent = \"claude\" }}\n"
        ));
    }
    let project = with_agents(&tasks);
    project.file("agent/cost", "2.0");
    let run = conduct(&project, &["build", "-j", "3", "--budget-usd", "5"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(
        project.ran().len(),
        2,
        "two fit in $5, the third never: {run:?}"
    );
    assert!(
        run.stdout
            .contains("not started: the run budget is $5.00 and $4.00 is spent"),
        "{run:?}"
    );
    assert!(run.stdout.contains("agents spent $4.00"), "{run:?}");
    assert!(run.stdout.contains("(run budget $5.00)"), "{run:?}");
    // [project] budget_usd does the same; enough budget, everything runs.
    let project = with_agents(&format!("[project]\nbudget_usd = 7\n{tasks}"));
    project.file("agent/cost", "2.0");
    let run = conduct(&project, &["build", "-j", "1"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(project.ran().len(), 3, "{run:?}");
    let bad = conduct(&project, &["build", "--budget-usd", "-1"]);
    assert_eq!(bad.status, 2, "{bad:?}");
}

/// `agent = "command"`: any other CLI, from a template with the agents' placeholders.
#[test]
fn the_command_agent_runs_a_template_of_ones_own() {
    let project = with_agents(
        "[tasks.T1]\noutputs = [\"out.txt\"]\n\
         run = { agent = \"command\", prompt = \"Hi.\", command = [\"sh\", \"-c\", \"cp {message_file} out.txt\"] }\n\
         [tasks.T2]\noutputs = [\"b\"]\nrun = { agent = \"command\" }\n",
    );
    let check = conduct(&project, &["check"]);
    assert_eq!(check.status, 2, "{check:?}");
    let said = format!("{}{}", check.stdout, check.stderr);
    assert!(
        said.contains("`command` goes with `agent = \"command\"`"),
        "{said}"
    );
    assert!(said.contains("tasks.toml:6:"), "{said}");
    project.file(
        "tasks.toml",
        "[tasks.T1]\noutputs = [\"out.txt\"]\n\
         run = { agent = \"command\", prompt = \"Hi.\", command = [\"sh\", \"-c\", \"cp {message_file} out.txt\"] }\n",
    );
    let run = conduct(&project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(project.read("out.txt").starts_with("Hi.\n\n# T1"));
}

/// A restored agent result is not paid for again: the summary says what it had cost.
#[test]
fn the_summary_says_what_restored_agent_results_had_cost() {
    let project = with_agents(
        "[tasks.T1]\ninputs = [\"spec.md\"]\noutputs = [\"out.txt\"]\n\
         run = { agent = \"claude\" }\n",
    );
    project.file("spec.md", "one");
    project.file("agent/cost", "0.75");
    assert_eq!(conduct(&project, &["build"]).status, 0);
    project.file("spec.md", "two");
    project.file("agent/cost", "0.5");
    assert_eq!(conduct(&project, &["build"]).status, 0);
    // Back to the first spec: its result comes from the cache, no agent runs.
    project.file("spec.md", "one");
    project.ran();
    let run = conduct(&project, &["build", "--json"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(project.ran().is_empty(), "restored: {run:?}");
    let summary: Value = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "build_finished")
        .unwrap();
    assert_eq!(summary["agents"]["saved_usd"], 0.75, "{summary}");
    project.file("spec.md", "two");
    let plain = conduct(&project, &["build"]);
    assert!(
        plain
            .stdout
            .contains("the cache saved $0.50 (what the restored results cost)"),
        "{plain:?}"
    );
}

/// A task that passes after failing with the same inputs is flaky: its line, its JSON
/// event and `status` say so; one that passes at once is not.
#[test]
fn a_task_that_passes_on_its_retry_with_the_same_inputs_is_marked_flaky() {
    let project = Project::new(
        "[tasks.t]\nretries = 1\noutputs = [\"t.txt\"]\n\
         run = \"echo run >> ran.log; [ -e once ] || { touch once; exit 1; }; touch t.txt\"\n\
         [tasks.steady]\noutputs = [\"s.txt\"]\nrun = \"touch s.txt\"\n",
    );
    let run = project.conduct(&["build", "--json"]);
    assert_eq!(run.status, 0, "{run:?}");
    let events: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "task_finished" && e["status"] == "ok")
        .collect();
    let flaky = |id: &str| {
        events
            .iter()
            .find(|e| e["task"] == id)
            .map(|e| e["flaky"].clone())
    };
    assert_eq!(flaky("t"), Some(Value::Bool(true)), "{events:?}");
    assert_eq!(flaky("steady"), Some(Value::Null), "{events:?}");
    let status = project.conduct(&["status"]);
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("t "))
        .unwrap_or_default();
    assert!(line.contains("flaky"), "{status:?}");
    assert!(
        !status
            .stdout
            .lines()
            .any(|l| l.starts_with("steady") && l.contains("flaky"))
    );
}
