use std::path::Path;

use super::*;
use crate::spec::agent::AgentDef;

fn context<'a>(outputs: &'a [String], session: Option<&'a str>) -> Context<'a> {
    Context {
        prompt: "Write the parser.",
        message_file: Path::new("/p/.cache/instructions/T1.message.md"),
        instruction: Path::new("/p/.cache/instructions/T1.md"),
        workspace: Path::new("/p"),
        in_worktree: false,
        model: None,
        budget: Budget::default(),
        outputs,
        session,
    }
}

fn run(agent: &str) -> AgentRun {
    AgentRun {
        agent: agent.to_owned(),
        prompt: None,
        command: None,
    }
}

#[test]
fn claude_runs_headless_with_json_and_leaves_out_what_the_task_does_not_set() {
    let ctx = context(&[], None);
    let call = expand(&run("claude"), &AgentDefs::new(), &ctx);
    assert_eq!(
        call.argv,
        [
            "claude",
            "-p",
            "Write the parser.",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits"
        ]
    );
    assert_eq!(call.stdin, AgentStdin::Instruction);
    assert_eq!(call.format, AgentFormat::ClaudeJson);
    assert!(!call.resumes);
}

#[test]
fn claude_takes_model_budget_worktree_and_resumes_a_session() {
    let mut ctx = context(&[], Some("5f1c"));
    ctx.model = Some("sonnet");
    ctx.budget = Budget {
        usd: Some(2.5),
        turns: Some(40),
    };
    ctx.in_worktree = true;
    ctx.prompt = RESUME_PROMPT;
    let call = expand(&run("claude"), &AgentDefs::new(), &ctx);
    let line = call.argv.join(" ");
    assert!(line.starts_with("claude -p Your last attempt"), "{line}");
    assert!(line.ends_with(" --resume 5f1c"), "{line}");
    assert!(
        line.contains("--permission-mode bypassPermissions"),
        "{line}"
    );
    assert!(
        line.contains("--max-turns 40 --max-budget-usd 2.5 --model sonnet"),
        "{line}"
    );
    assert!(call.resumes);
}

#[test]
fn codex_reads_its_prompt_from_stdin_in_the_workspace_and_resumes_a_thread() {
    let ctx = context(&[], None);
    let call = expand(&run("codex"), &AgentDefs::new(), &ctx);
    assert_eq!(
        call.argv,
        [
            "codex",
            "exec",
            "--json",
            "--sandbox",
            "workspace-write",
            "-C",
            "/p",
            "--skip-git-repo-check",
            "-"
        ]
    );
    assert_eq!(call.stdin, AgentStdin::Message);
    let ctx = context(&[], Some("th_1"));
    let call = expand(&run("codex"), &AgentDefs::new(), &ctx);
    assert_eq!(
        call.argv,
        [
            "codex",
            "exec",
            "--json",
            "--sandbox",
            "workspace-write",
            "-C",
            "/p",
            "--skip-git-repo-check",
            "resume",
            "th_1",
            "-"
        ]
    );
}

#[test]
fn aider_gets_the_message_file_and_the_outputs_and_never_resumes() {
    let outputs = ["src/a.rs".to_owned(), "src/b.rs".to_owned()];
    let ctx = context(&outputs, Some("ignored"));
    let call = expand(&run("aider"), &AgentDefs::new(), &ctx);
    assert_eq!(
        call.argv,
        [
            "aider",
            "--message-file",
            "/p/.cache/instructions/T1.message.md",
            "--yes-always",
            "--no-auto-commits",
            "src/a.rs",
            "src/b.rs"
        ]
    );
    assert!(!call.resumes, "aider has no session to resume");
}

#[test]
fn an_agents_table_replaces_or_extends_a_preset_or_defines_a_new_agent() {
    let mut defs = AgentDefs::new();
    defs.insert(
        "claude".to_owned(),
        AgentDef {
            extra_args: vec!["--verbose".to_owned()],
            ..AgentDef::default()
        },
    );
    defs.insert(
        "mine".to_owned(),
        AgentDef {
            command: Some(vec![
                "mine".to_owned(),
                "--in={message_file}".to_owned(),
                "--model={model}".to_owned(),
            ]),
            output: Some(AgentFormat::ClaudeJson),
            ..AgentDef::default()
        },
    );
    let ctx = context(&[], None);
    let claude = expand(&run("claude"), &defs, &ctx);
    assert_eq!(claude.argv.last().map(String::as_str), Some("--verbose"));
    let mine = expand(&run("mine"), &defs, &ctx);
    assert_eq!(
        mine.argv,
        ["mine", "--in=/p/.cache/instructions/T1.message.md"],
        "a word whose placeholder has no value goes"
    );
    assert_eq!(mine.format, AgentFormat::ClaudeJson);
    assert_eq!(mine.stdin, AgentStdin::None);
}

#[test]
fn every_built_in_flag_says_why() {
    for agent in ["claude", "codex", "aider"] {
        let flags = explained(agent);
        assert!(!flags.is_empty(), "{agent}");
        assert!(flags.iter().all(|(_, why)| !why.is_empty()), "{agent}");
    }
}
