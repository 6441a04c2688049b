//! The built-in agent presets, as data: for each CLI, the words of its headless
//! invocation in flag groups, each with the reason it is there. A group is kept only
//! when every placeholder in it has a value (`--model {model}` goes when the task names
//! no model), so one table says what every task's command will be, and `conduct show T`
//! prints it. `[agents.NAME]` in tasks.toml replaces a preset's command or resume
//! command, adds arguments, or defines a new agent (where each word is a group).
//!
//! Placeholders: `{prompt}` (the task's prompt, or on a resume the feedback prompt),
//! `{message_file}` (a file holding the prompt, then the instruction or the feedback),
//! `{instruction}` (TASK_INSTRUCTION.md), `{workspace}` (where the task runs),
//! `{model}`, `{max_turns}`, `{max_usd}` (the task's `budget`), `{session}` (the last
//! attempt's session, on a resume), `{permission_mode}` (`bypassPermissions` in the
//! task's own worktree, else `acceptEdits`), and `{outputs}` as a word of its own (the
//! task's outputs, one word each).

use std::path::Path;

use crate::spec::agent::{AgentDefs, AgentFormat, AgentRun, AgentStdin, Budget};

/// The agents conduct knows without an `[agents.NAME]`.
pub(crate) const BUILT_IN: &[&str] = &["claude", "codex", "aider", "command"];

/// What a task's agent is asked when its `run` gives no `prompt`.
pub(crate) const DEFAULT_PROMPT: &str = "Carry out the task its instruction (TASK_INSTRUCTION.md, \
given below) describes: write its outputs so that its checks pass.";

/// What a resumed session is told, before the checks' feedback.
pub(crate) const RESUME_PROMPT: &str = "Your last attempt did not pass the task's checks. \
Fix what the feedback below says, then stop.";

/// Words of a command that belong together: kept only if each placeholder in them has a
/// value.
struct Flag {
    words: &'static [&'static str],
    /// Why the preset passes it (shown by `conduct show`).
    why: &'static str,
}

const fn flag(words: &'static [&'static str], why: &'static str) -> Flag {
    Flag { words, why }
}

/// One CLI's headless invocation: `program`, its `flags`, then (on a retry that
/// resumes the last attempt's session) `resume`, then `last`.
struct Preset {
    name: &'static str,
    format: AgentFormat,
    stdin: AgentStdin,
    program: Flag,
    flags: &'static [Flag],
    /// How a retry continues the last attempt's session (`None`: it starts cold).
    resume: Option<Flag>,
    last: &'static [&'static str],
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "claude",
        format: AgentFormat::ClaudeJson,
        stdin: AgentStdin::Instruction,
        program: flag(
            &["claude", "-p", "{prompt}"],
            "print mode: headless, answers once and exits; the instruction comes on stdin",
        ),
        flags: &[
            flag(
                &["--output-format", "json"],
                "one result object at the end: cost, tokens, turns, session id, is_error",
            ),
            flag(
                &["--permission-mode", "{permission_mode}"],
                "edits without asking; every tool (bypassPermissions) only in the task's own worktree",
            ),
            flag(
                &["--max-turns", "{max_turns}"],
                "budget.turns: the CLI stops itself",
            ),
            flag(
                &["--max-budget-usd", "{max_usd}"],
                "budget.usd: the CLI stops itself",
            ),
            flag(&["--model", "{model}"], "the task's `model`"),
        ],
        resume: Some(flag(
            &["--resume", "{session}"],
            "a retry continues the last attempt's session; the feedback comes on stdin",
        )),
        last: &[],
    },
    Preset {
        name: "codex",
        format: AgentFormat::CodexJsonl,
        stdin: AgentStdin::Message,
        program: flag(
            &["codex", "exec"],
            "non-interactive: runs to the end and exits",
        ),
        flags: &[
            flag(
                &["--json"],
                "events as JSON lines: the thread id, usage per turn, failures",
            ),
            flag(
                &["--sandbox", "workspace-write"],
                "may write in its workspace, nowhere else",
            ),
            flag(&["-C", "{workspace}"], "works where the task runs"),
            flag(
                &["--skip-git-repo-check"],
                "a task may run outside a git repository (the project root)",
            ),
            flag(&["--model", "{model}"], "the task's `model`"),
        ],
        resume: Some(flag(
            &["resume", "{session}"],
            "a retry continues the last attempt's thread (exec's options stay before it)",
        )),
        last: &["-"],
    },
    Preset {
        name: "aider",
        format: AgentFormat::None,
        stdin: AgentStdin::None,
        program: flag(
            &["aider", "--message-file", "{message_file}"],
            "one message (the prompt, then the instruction), then exit",
        ),
        flags: &[
            flag(&["--yes-always"], "no questions: nobody is there to answer"),
            flag(
                &["--no-auto-commits"],
                "conduct commits a worktree task's outputs, not aider",
            ),
            flag(&["--model", "{model}"], "the task's `model`"),
            flag(&["{outputs}"], "the files to edit: the task's outputs"),
        ],
        resume: None,
        last: &[],
    },
];

/// What an invocation's placeholders stand for.
pub(crate) struct Context<'a> {
    pub(crate) prompt: &'a str,
    pub(crate) message_file: &'a Path,
    pub(crate) instruction: &'a Path,
    pub(crate) workspace: &'a Path,
    pub(crate) in_worktree: bool,
    pub(crate) model: Option<&'a str>,
    pub(crate) budget: Budget,
    pub(crate) outputs: &'a [String],
    /// The last attempt's session: the invocation resumes it, if the agent can.
    pub(crate) session: Option<&'a str>,
}

/// A task's agent command, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invocation {
    pub(crate) argv: Vec<String>,
    pub(crate) stdin: AgentStdin,
    pub(crate) format: AgentFormat,
    /// It continues the last attempt's session (else it starts cold).
    pub(crate) resumes: bool,
}

/// The invocation of `run` (a built-in preset, changed by its `[agents.NAME]` if any,
/// or one defined there: validation made sure it is one of the two).
pub(crate) fn expand(run: &AgentRun, defs: &AgentDefs, ctx: &Context<'_>) -> Invocation {
    let preset = PRESETS.iter().find(|p| p.name == run.agent);
    let def = defs.get(&run.agent);
    let format = def
        .and_then(|d| d.output)
        .or(preset.map(|p| p.format))
        .unwrap_or(AgentFormat::None);
    let stdin = def
        .and_then(|d| d.stdin)
        .or(preset.map(|p| p.stdin))
        .unwrap_or(AgentStdin::None);
    let custom_resume = def.and_then(|d| d.resume.as_ref());
    let can_resume = custom_resume.is_some() || preset.is_some_and(|p| p.resume.is_some());
    let resumes = ctx.session.is_some() && can_resume;
    let mut argv = Vec::new();
    let custom = if resumes {
        custom_resume
    } else {
        // `agent = "command"`: the task's own template.
        run.command
            .as_ref()
            .or(def.and_then(|d| d.command.as_ref()))
    };
    match (custom, preset) {
        (Some(words), _) => {
            for word in words {
                push_group(&mut argv, &[word.as_str()], ctx);
            }
        }
        (None, Some(preset)) => {
            push_group(&mut argv, preset.program.words, ctx);
            for flag in preset.flags {
                push_group(&mut argv, flag.words, ctx);
            }
            if let Some(resume) = preset.resume.as_ref().filter(|_| resumes) {
                push_group(&mut argv, resume.words, ctx);
            }
        }
        (None, None) => {}
    }
    for word in def.map_or(&[][..], |d| d.extra_args.as_slice()) {
        push_group(&mut argv, &[word.as_str()], ctx);
    }
    if custom.is_none()
        && let Some(preset) = preset
    {
        argv.extend(preset.last.iter().map(|&w| w.to_owned()));
    }
    Invocation {
        argv,
        stdin,
        format,
        resumes,
    }
}

/// How `run`'s agent reports its work (its `[agents.NAME]` `output`, else its preset's).
pub(crate) fn format_of(run: &AgentRun, defs: &AgentDefs) -> AgentFormat {
    defs.get(&run.agent)
        .and_then(|d| d.output)
        .or_else(|| {
            PRESETS
                .iter()
                .find(|p| p.name == run.agent)
                .map(|p| p.format)
        })
        .unwrap_or(AgentFormat::None)
}

/// Append `words` with their placeholders filled, unless one has no value.
fn push_group(argv: &mut Vec<String>, words: &[&str], ctx: &Context<'_>) {
    let mut filled = Vec::with_capacity(words.len());
    for &word in words {
        if word == "{outputs}" {
            filled.extend(ctx.outputs.iter().cloned());
            continue;
        }
        match fill(word, ctx) {
            Some(word) => filled.push(word),
            None => return,
        }
    }
    argv.extend(filled);
}

/// `word` with each placeholder replaced; `None` if one has no value.
fn fill(word: &str, ctx: &Context<'_>) -> Option<String> {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        let value = match name {
            "prompt" => Some(ctx.prompt.to_owned()),
            "message_file" => Some(ctx.message_file.display().to_string()),
            "instruction" => Some(ctx.instruction.display().to_string()),
            "workspace" => Some(ctx.workspace.display().to_string()),
            "model" => ctx.model.map(str::to_owned),
            "max_turns" => ctx.budget.turns.map(|n| n.to_string()),
            "max_usd" => ctx.budget.usd.map(|usd| usd.to_string()),
            "session" => ctx.session.map(str::to_owned),
            "permission_mode" => Some(
                if ctx.in_worktree {
                    "bypassPermissions"
                } else {
                    "acceptEdits"
                }
                .to_owned(),
            ),
            // Not a placeholder of ours: kept as written.
            _ => Some(rest[open..=open + close].to_owned()),
        };
        out.push_str(&value?);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Each built-in flag group of `agent` and why it is there, for `conduct show`.
pub(crate) fn explained(agent: &str) -> Vec<(String, &'static str)> {
    let Some(preset) = PRESETS.iter().find(|p| p.name == agent) else {
        return Vec::new();
    };
    std::iter::once(&preset.program)
        .chain(preset.flags)
        .chain(&preset.resume)
        .map(|f| (f.words.join(" "), f.why))
        .collect()
}

#[cfg(test)]
mod tests;
