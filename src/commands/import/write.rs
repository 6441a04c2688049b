//! The two files an import writes, as text: the Markdown spec with one `## T<id>: title`
//! section per task, and tasks.toml giving each task its own section as input.
//!
//! Task Master's text is Markdown written by people and models, so it may hold headings
//! (`## Implementation`), setext underlines or an unclosed code fence, any of which
//! would end a task's section early or swallow the next one. Headings in the text
//! become bold lines, an underline gets a blank line before it (a rule, not a heading),
//! and an open fence is closed at the end of its block. [`check_sections`] then asks
//! conduct's own section parser for every section the tasks name, so what is written
//! is known to load.

use std::fmt::Write as _;

use crate::commands::import::convert::{Plan, Task};
use crate::spec::section::Outline;

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The table key of a task: `T3` bare, `"T3.2"` quoted (a dot would nest tables).
fn key(id: &str) -> String {
    if id.contains('.') {
        quote(id)
    } else {
        id.to_owned()
    }
}

/// What a task runs: the claude preset for a task with work to do, nothing for a parent
/// that only waits for its subtasks.
fn runs(task: &Task) -> bool {
    !task.has_subtasks || !task.outputs.is_empty()
}

/// tasks.toml for `plan`, each task reading `spec#<id>` (and a subtask its parent's
/// section too, for the context an agent needs).
pub(crate) fn tasks_toml(plan: &Plan, spec: &str, source: &str, tag: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported from {source} (Task Master, tag `{tag}`) by `conduct import taskmaster`.\n\
         # Each task reads its own section of {spec}. Tasks run the claude agent preset\n\
         # (`conduct show T1` prints the command); a task with subtasks only waits for them.\n\
         # `conduct check` validates this file, `conduct plan --all` gives the critical path."
    );
    for task in &plan.tasks {
        out.push('\n');
        if task.status != "pending" {
            let _ = writeln!(out, "# Task Master status: {}", task.status);
        }
        let _ = writeln!(out, "[tasks.{}]", key(&task.id));
        let _ = writeln!(out, "title = {}", quote(&task.title));
        if let Some(priority) = task.priority {
            let _ = writeln!(out, "priority = {}", quote(priority));
        }
        if !task.deps.is_empty() {
            let _ = writeln!(out, "deps = {}", list(&task.deps));
        }
        let mut inputs = vec![format!("{spec}#{}", task.id)];
        if let Some(parent) = &task.parent {
            inputs.push(format!("{spec}#{parent}"));
        }
        let _ = writeln!(out, "inputs = {}", list(&inputs));
        if !task.outputs.is_empty() {
            let _ = writeln!(out, "outputs = {}", list(&task.outputs));
        }
        if !task.edits.is_empty() {
            let _ = writeln!(out, "edits = {}", list(&task.edits));
        }
        if runs(task) {
            let _ = writeln!(out, "run = {{ agent = \"claude\" }}");
        }
    }
    out
}

/// The Markdown spec: a title, then one level-2 section per task.
pub(crate) fn spec_markdown(plan: &Plan, source: &str, tag: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Task Master plan (tag `{tag}`)\n\n\
         Imported from `{source}` by `conduct import taskmaster`: one section per task, each\n\
         the input of its task in tasks.toml (editing one section makes only that task stale).\n"
    );
    for task in &plan.tasks {
        let _ = writeln!(out, "## {}: {}\n", task.id, task.title);
        if let Some(parent) = &task.parent {
            let _ = writeln!(out, "Subtask of {parent}.\n");
        }
        if let Some(text) = &task.description {
            let _ = writeln!(out, "{}\n", block(text));
        }
        for (heading, text) in [
            ("Details", &task.details),
            ("Test strategy", &task.test_strategy),
        ] {
            if let Some(text) = text {
                let _ = writeln!(out, "### {heading}\n\n{}\n", block(text));
            }
        }
        if !task.files.is_empty() {
            let _ = writeln!(out, "### Relevant files\n");
            for (path, action, description) in &task.files {
                let what = match description {
                    Some(d) => format!(": {}", one_line(d)),
                    None => String::new(),
                };
                let _ = writeln!(out, "- `{}` ({action}){what}", one_line(path));
            }
            out.push('\n');
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Task Master text made safe inside a section (see the module doc).
fn block(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    // The open fence: its character and length.
    let mut fence: Option<(char, usize)> = None;
    for line in text.replace("\r\n", "\n").split('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim_start_matches(' ');
        let fence_char = body.chars().next().filter(|c| *c == '`' || *c == '~');
        if indent <= 3
            && let Some(c) = fence_char
        {
            let run = body.chars().take_while(|x| *x == c).count();
            if run >= 3 {
                match fence {
                    None => fence = Some((c, run)),
                    Some((open, len))
                        if open == c && run >= len && body[run..].trim().is_empty() =>
                    {
                        fence = None;
                    }
                    Some(_) => {}
                }
                out.push(line.to_owned());
                continue;
            }
        }
        if fence.is_some() || indent > 3 {
            out.push(line.to_owned());
            continue;
        }
        let hashes = body.chars().take_while(|c| *c == '#').count();
        let after = &body[hashes..];
        if (1..=6).contains(&hashes) && (after.is_empty() || after.starts_with([' ', '\t'])) {
            let heading = after.trim().trim_end_matches('#').trim();
            out.push(if heading.is_empty() {
                String::new()
            } else {
                format!("**{heading}**")
            });
            continue;
        }
        let underline = !body.trim().is_empty()
            && (body.trim_end().chars().all(|c| c == '=')
                || body.trim_end().chars().all(|c| c == '-'));
        if underline && out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(line.to_owned());
    }
    if let Some((c, len)) = fence {
        out.push(c.to_string().repeat(len));
    }
    out.join("\n").trim_end().to_owned()
}

/// Every section tasks.toml will name, looked up in `markdown` as `conduct check` will;
/// the ids that would not resolve.
pub(crate) fn check_sections(plan: &Plan, markdown: &str) -> Vec<String> {
    let outline = Outline::parse(markdown);
    plan.tasks
        .iter()
        .filter(|t| outline.find(&t.id).is_err())
        .map(|t| t.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_underlines_and_open_fences_in_task_text_stay_inside_the_section() {
        let text = "Intro\n## T2: not a task\nTitle\n---\n```rust\nlet x = 1;";
        assert_eq!(
            block(text),
            "Intro\n**T2: not a task**\nTitle\n\n---\n```rust\nlet x = 1;\n```"
        );
        let fenced = "```\n## kept\n```";
        assert_eq!(block(fenced), fenced);
    }

    #[test]
    fn ids_with_a_dot_are_quoted_keys() {
        assert_eq!(key("T3"), "T3");
        assert_eq!(key("T3.1"), "\"T3.1\"");
        assert_eq!(quote("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
    }
}
