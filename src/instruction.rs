//! TASK_INSTRUCTION.md: what a task's agent is asked to do, rendered from the task.
//!
//! Every task that runs gets one under `.cache/instructions/<id>.md`, named by
//! `CONDUCT_INSTRUCTION` (SPEC §4, §7): the task's identity, the full text of every spec
//! section it reads, its other inputs, the outputs to produce, the checks they must pass
//! and the dependencies' outputs it can build on. A real agent CLI reads it as its
//! prompt; the example's stand-in agent reads the `- provides:` lines of the sections.

use std::fmt::Write as _;

use crate::graph::Graph;
use crate::rules::{Rule, RuleCheck, RuleSet};
use crate::spec::{InputKind, Spec, TaskIdx, Workspace};
use crate::units::format_duration;

/// The text of one section input, looked up by the caller (`None`: not available).
pub(crate) type SectionText<'a> = &'a dyn Fn(&crate::spec::ProjectPath, &str) -> Option<String>;

/// What a rule does, in a few words an agent can act on (built-ins describe themselves).
fn how_it_checks(rule: &Rule) -> Option<String> {
    let what = match &rule.check {
        RuleCheck::Builtin(_) => None,
        RuleCheck::Pattern {
            regex,
            forbid: true,
        } => Some(format!("must not match `{}`", regex.as_str())),
        RuleCheck::Pattern {
            regex,
            forbid: false,
        } => Some(format!("must match `{}`", regex.as_str())),
        RuleCheck::Run(command) => Some(match &rule.gate {
            Some(gate) => {
                let mut bound = Vec::new();
                if let Some(min) = gate.min {
                    bound.push(format!("at least {min}"));
                }
                if let Some(max) = gate.max {
                    bound.push(format!("at most {max}"));
                }
                format!(
                    "`{command}` prints `metric {} <value>`, which must be {}",
                    gate.metric,
                    bound.join(" and ")
                )
            }
            None => format!("`{command}` must succeed"),
        }),
    };
    let scope = rule
        .applies_to
        .as_ref()
        .map(|a| format!("on outputs matching `{}`", a.globs.join("`, `")));
    let advisory = (!rule.required).then(|| "advisory".to_owned());
    let parts: Vec<String> = [what, scope, advisory].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Render the instruction for `task`.
pub(crate) fn render(
    spec: &Spec,
    graph: &Graph,
    rules: &RuleSet,
    task: TaskIdx,
    section_text: SectionText<'_>,
) -> String {
    let t = spec.task(task);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", t.label(": "));
    if let Some(name) = &spec.project.name {
        let _ = writeln!(out, "Task {} of the plan `{name}`.\n", t.id);
    }
    let mut facts = Vec::new();
    if let Some(g) = t.group {
        let group = spec.group(g);
        match &group.title {
            Some(title) => facts.push(format!("- group: {} ({title})", group.name)),
            None => facts.push(format!("- group: {}", group.name)),
        }
    }
    facts.push(format!("- priority: {}", t.priority.as_str()));
    if let Some(effort) = t.effort {
        facts.push(format!("- effort: {}", format_duration(effort)));
    }
    if let Some(agent) = &t.agent {
        facts.push(format!("- agent: {agent}"));
    }
    let _ = writeln!(out, "{}\n", facts.join("\n"));

    let sections: Vec<_> = t
        .inputs
        .iter()
        .filter_map(|i| match &i.kind {
            InputKind::Section { file, section } => Some((file, section)),
            _ => None,
        })
        .collect();
    if !sections.is_empty() {
        out.push_str("## Specification\n\n");
        for (file, section) in sections {
            let _ = writeln!(out, "From `{file}#{section}`:\n");
            match section_text(file, section) {
                Some(text) => {
                    let _ = writeln!(out, "{}\n", text.trim_end());
                }
                None => out.push_str("(not available)\n\n"),
            }
        }
    }

    let others: Vec<String> = t
        .inputs
        .iter()
        .filter_map(|i| match &i.kind {
            InputKind::File(path) => Some(format!("- `{path}`")),
            InputKind::Glob(glob) => Some(format!("- `{}` (every matching file)", glob.text)),
            InputKind::Command(command) => Some(format!("- the output of `{command}`")),
            InputKind::Program(name) => Some(format!("- the program `{name}`")),
            InputKind::Section { .. } => None,
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out, "## Inputs\n\n{}\n", others.join("\n"));
    }
    if !t.outputs.is_empty() {
        out.push_str("## Outputs to produce\n\n");
        for output in &t.outputs {
            let _ = writeln!(out, "- `{}`", output.display());
        }
        out.push('\n');
    }
    if !t.checks.is_empty() {
        out.push_str("## Checks the outputs must pass\n\n");
        for name in &t.checks {
            let rule = rules.iter().find(|r| &r.name == name);
            let mut line = format!("- `{name}`");
            if let Some(description) = rule.and_then(|r| r.description.as_deref()) {
                line.push_str(&format!(": {description}"));
            }
            if let Some(how) = rule.and_then(how_it_checks) {
                line.push_str(&format!(" ({how})"));
            }
            let _ = writeln!(out, "{line}");
        }
        out.push_str(
            "\nconduct runs them when the command succeeds; if a required check fails and \
             the task has retries left, it runs again with the failures in the file \
             `CONDUCT_FEEDBACK` names.\n\n",
        );
    }
    if t.workspace == Workspace::Worktree {
        out.push_str(
            "## Workspace\n\nYou work in your own git worktree. When your outputs pass \
             their checks, conduct commits them on your branch and copies them into the \
             project.\n\n",
        );
    }
    let deps = graph.task_deps(task);
    if !deps.is_empty() {
        out.push_str("## Dependencies (their outputs are in place)\n\n");
        for dep in deps {
            let d = spec.task(dep.task);
            let outputs: Vec<String> = d
                .outputs
                .iter()
                .map(|o| format!("`{}`", o.display()))
                .collect();
            let _ = writeln!(out, "- {}: {}", d.label(" "), outputs.join(", "));
        }
        out.push('\n');
    }
    out
}
