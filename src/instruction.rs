//! TASK_INSTRUCTION.md: what a task's agent is asked to do, rendered from the task.
//!
//! Every task that runs gets one under `.cache/instructions/<id>.md`, named by
//! `CONDUCT_INSTRUCTION` (SPEC §4, §7): the task's identity, the full text of every spec
//! section it reads, its other inputs, the outputs to produce, the checks they must pass
//! and the dependencies' outputs it can build on. A real agent CLI reads it as its
//! prompt; the example's stand-in agent reads the `- provides:` lines of the sections.

use std::fmt::Write as _;

use crate::graph::Graph;
use crate::rules::RuleSet;
use crate::spec::{InputKind, Spec, TaskIdx};
use crate::units::format_duration;

/// The text of one section input, looked up by the caller (`None`: not available).
pub(crate) type SectionText<'a> = &'a dyn Fn(&crate::spec::ProjectPath, &str) -> Option<String>;

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
    let _ = writeln!(out, "# {}: {}\n", t.id, t.display_title());
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
            match rules
                .iter()
                .find(|r| &r.name == name)
                .and_then(|r| r.description.as_deref())
            {
                Some(description) => {
                    let _ = writeln!(out, "- `{name}`: {description}");
                }
                None => {
                    let _ = writeln!(out, "- `{name}`");
                }
            }
        }
        out.push('\n');
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
            let _ = writeln!(
                out,
                "- {} {}: {}",
                d.id,
                d.display_title(),
                outputs.join(", ")
            );
        }
        out.push('\n');
    }
    out
}
