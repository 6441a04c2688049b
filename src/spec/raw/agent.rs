//! The keys of coding agents (issue 18): `run = { agent, prompt }`, `model` and
//! `budget` on a task, a group or a template, `budget_usd` in `[project]`, and the
//! `[agents.NAME]` tables.

use toml::de::{DeTable, DeValue};

use crate::spec::Run;
use crate::spec::agent::{AgentDef, AgentDefs, AgentFormat, AgentRun, AgentSettings, AgentStdin};
use crate::spec::error::SpecErrorKind;
use crate::spec::reader::{Reader, Value};

/// The keys of `run = { … }`.
const RUN_KEYS: &[&str] = &["agent", "prompt", "command"];
/// The keys of `budget = { … }`.
const BUDGET_KEYS: &[&str] = &["usd", "turns"];
/// The keys of `[agents.NAME]`.
pub(super) const AGENT_KEYS: &[&str] = &["command", "resume", "extra_args", "output", "stdin"];

impl Reader<'_> {
    /// `run = { agent = "claude", prompt = "…" }`.
    pub(super) fn agent_run(&mut self, table: &DeTable<'_>, value: &Value<'_>) -> Option<Run> {
        let mut agent = None;
        let mut prompt = None;
        let mut command = None;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "agent" => agent = self.non_empty_string("agent", value),
                "prompt" => prompt = self.non_empty_string("prompt", value),
                "command" => {
                    // Its placeholders are the agent's, filled per attempt: not `[vars]`.
                    let scope = self.scope.take();
                    command = self.argv("command", value);
                    self.scope = scope;
                }
                _ => self.unknown_key(key, "`run`", RUN_KEYS),
            }
        }
        let Some(agent) = agent else {
            if !table.contains_key("agent") {
                self.err(value.span(), SpecErrorKind::RunWithoutAgent);
            }
            return None;
        };
        if (agent == "command") != command.is_some() {
            self.err(value.span(), SpecErrorKind::CommandAgent);
            return None;
        }
        Some(Run::Agent(AgentRun {
            agent,
            prompt,
            command,
        }))
    }

    /// Read `key` into `settings` if it is one of its keys; `false` if it is not.
    pub(super) fn agent_key(
        &mut self,
        key: &str,
        value: &Value<'_>,
        settings: &mut AgentSettings,
    ) -> bool {
        match key {
            "model" => settings.model = self.non_empty_string("model", value),
            "budget" => {
                let Some(table) = self.table("budget", value) else {
                    return true;
                };
                for (key, value) in table.iter() {
                    match key.get_ref().as_ref() {
                        "usd" => settings.budget.usd = self.usd("usd", value),
                        "turns" => {
                            settings.budget.turns = self
                                .integer("turns", value, 1, 100_000)
                                .and_then(|n| u32::try_from(n).ok());
                        }
                        _ => self.unknown_key(key, "`budget`", BUDGET_KEYS),
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// A positive number of dollars.
    pub(super) fn usd(&mut self, key: &'static str, value: &Value<'_>) -> Option<f64> {
        let usd = self.number(key, value)?;
        if usd.is_finite() && usd > 0.0 {
            Some(usd)
        } else {
            self.err(
                value.span(),
                SpecErrorKind::BadUsd {
                    key,
                    value: usd.to_string(),
                },
            );
            None
        }
    }

    /// `[agents]`: each `[agents.NAME]`, taken as written: its `{placeholders}` are
    /// the agent's (filled per attempt), not `[vars]`.
    pub(super) fn agents_table(&mut self, table: &DeTable<'_>) -> AgentDefs {
        let scope = self.scope.take();
        let agents = self.agent_defs(table);
        self.scope = scope;
        agents
    }

    fn agent_defs(&mut self, table: &DeTable<'_>) -> AgentDefs {
        let mut agents = AgentDefs::new();
        for (name, value) in table.iter() {
            let name_text = name.get_ref().to_string();
            let Some(body) = self.table(&name_text, value) else {
                continue;
            };
            let where_ = format!("[agents.{name_text}]");
            let mut def = AgentDef::default();
            for (key, value) in body.iter() {
                match key.get_ref().as_ref() {
                    "command" => def.command = self.argv("command", value),
                    "resume" => def.resume = self.argv("resume", value),
                    "extra_args" => {
                        def.extra_args = self
                            .named_list("extra_args", value)
                            .into_iter()
                            .map(|named| named.text)
                            .collect();
                    }
                    "output" => {
                        def.output =
                            self.choice("output", value, AgentFormat::NAMES, AgentFormat::parse);
                    }
                    "stdin" => {
                        def.stdin =
                            self.choice("stdin", value, AgentStdin::NAMES, AgentStdin::parse);
                    }
                    _ => self.unknown_key(key, &where_, AGENT_KEYS),
                }
            }
            if def.command.is_none()
                && !crate::agent::preset::BUILT_IN.contains(&name_text.as_str())
            {
                self.err(
                    name.span(),
                    SpecErrorKind::AgentWithoutCommand { name: name_text },
                );
                continue;
            }
            agents.insert(name_text, def);
        }
        agents
    }

    /// A non-empty list of strings, the first one a program.
    fn argv(&mut self, key: &'static str, value: &Value<'_>) -> Option<Vec<String>> {
        if !matches!(value.get_ref(), DeValue::Array(_)) {
            self.wrong_type(key, value, "a list of strings");
            return None;
        }
        let argv: Vec<String> = self
            .named_list(key, value)
            .into_iter()
            .map(|n| n.text)
            .collect();
        if argv.first().is_none_or(|program| program.trim().is_empty()) {
            self.err(value.span(), SpecErrorKind::Empty { key });
            return None;
        }
        Some(argv)
    }
}
