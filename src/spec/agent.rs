//! What tasks.toml says about coding agents (issue 18): `run = { agent = "claude",
//! prompt = "…" }` on a task, `model` and `budget` on a task or its group, and
//! `[agents.NAME]` tables that override a built-in preset or add one. The presets
//! themselves (which flags each CLI takes, and why) are data in `agent::preset`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `run = { agent = "claude", prompt = "…" }`: a coding agent's CLI, run headless with
/// the task's instruction. Part of the task's key (as written: a newer conduct whose
/// preset passes a new flag does not rerun hours of agent work).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct AgentRun {
    /// A built-in preset (`claude`, `codex`, `aider`) or an `[agents.NAME]`.
    pub(crate) agent: String,
    /// What to ask, before the instruction; a default prompt when unset.
    pub(crate) prompt: Option<String>,
    /// `agent = "command"`: the argv template of any other CLI (the placeholders of
    /// `agent::preset`), as an `[agents.NAME]` `command` is.
    pub(crate) command: Option<Vec<String>>,
}

/// `budget = { usd = 2.0, turns = 40 }`: what one attempt of an agent task may spend.
/// Passed to the agent where its CLI takes it (claude's `--max-turns`,
/// `--max-budget-usd`) and counted against `--budget-usd`. Not part of the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Budget {
    pub(crate) usd: Option<f64>,
    pub(crate) turns: Option<u32>,
}

/// A task's (or group's) agent settings as written; unset fields fall back to the
/// group's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AgentSettings {
    /// `model = "sonnet"`: the model the agent CLI is told to use.
    pub(crate) model: Option<String>,
    pub(crate) budget: Budget,
}

impl AgentSettings {
    /// These settings with every unset field taken from `outer` (a task's group).
    pub(crate) fn or(self, outer: &AgentSettings) -> AgentSettings {
        AgentSettings {
            model: self.model.or_else(|| outer.model.clone()),
            budget: Budget {
                usd: self.budget.usd.or(outer.budget.usd),
                turns: self.budget.turns.or(outer.budget.turns),
            },
        }
    }
}

/// How an agent CLI reports what it did, on its standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum AgentFormat {
    /// One JSON result object (`claude -p --output-format json`).
    ClaudeJson,
    /// JSON lines of events (`codex exec --json`).
    CodexJsonl,
    /// Nothing conduct reads (aider, most CLIs).
    None,
}

impl AgentFormat {
    pub(crate) const NAMES: &'static [&'static str] = &["claude-json", "codex-jsonl", "none"];

    pub(crate) fn parse(text: &str) -> Option<AgentFormat> {
        match text {
            "claude-json" => Some(AgentFormat::ClaudeJson),
            "codex-jsonl" => Some(AgentFormat::CodexJsonl),
            "none" => Some(AgentFormat::None),
            _ => None,
        }
    }
}

/// What an agent reads on its standard input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum AgentStdin {
    /// The task's instruction (on a resumed session: the checks' feedback).
    Instruction,
    /// The prompt, then the instruction (on a resume: then the feedback).
    Message,
    /// Nothing.
    None,
}

impl AgentStdin {
    pub(crate) const NAMES: &'static [&'static str] = &["instruction", "message", "none"];

    pub(crate) fn parse(text: &str) -> Option<AgentStdin> {
        match text {
            "instruction" => Some(AgentStdin::Instruction),
            "message" => Some(AgentStdin::Message),
            "none" => Some(AgentStdin::None),
            _ => None,
        }
    }
}

/// `[agents.NAME]`: a preset of one's own, or changes to a built-in one. `command` and
/// `resume` are argv templates (see `agent::preset` for the placeholders); a built-in
/// keeps what is not given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct AgentDef {
    pub(crate) command: Option<Vec<String>>,
    /// How a retry resumes the last attempt's session; without it a retry starts cold.
    pub(crate) resume: Option<Vec<String>>,
    /// More arguments after a built-in's (or `command`'s).
    pub(crate) extra_args: Vec<String>,
    pub(crate) output: Option<AgentFormat>,
    pub(crate) stdin: Option<AgentStdin>,
}

/// Every `[agents.NAME]`, by name.
pub(crate) type AgentDefs = BTreeMap<String, AgentDef>;
