//! `conduct report --markdown`: a run as the execution log plans like the seed plan
//! keep by hand: per group, each task's status, duration, outputs, check results and
//! blockers, then why things ran and what failed. Plain GitHub-flavoured Markdown, so it
//! can go into a pull request or a CI job summary as is.

use std::fmt::Write as _;

use crate::agent::outcome::AgentOutcome;
use crate::report::record::{self, RunRecord, TaskRecord, TaskStatus};
use crate::units::format_seconds;

/// The execution log of `record`.
pub(crate) fn render(record: &RunRecord) -> String {
    let mut text = String::new();
    let critical = record::critical_path(record);
    let name = record.project.as_deref().unwrap_or("conduct");
    let _ = writeln!(text, "# Execution log: {}\n", cell(name));
    let targets = if record.targets.is_empty() {
        "all".to_owned()
    } else {
        record.targets.join(" ")
    };
    let _ = writeln!(
        text,
        "Started {} · took {} · at most {} at once · targets: {}{}\n",
        record.started_at,
        format_seconds(record.duration_ms as f64 / 1000.0),
        record.jobs,
        cell(&targets),
        if record.interrupted {
            " · **interrupted**"
        } else {
            ""
        }
    );
    let c = record.counts;
    let _ = writeln!(
        text,
        "**{} ran, {} fresh, {} restored, {} failed, {} blocked**{}\n",
        c.ran,
        c.fresh,
        c.restored,
        c.failed,
        c.blocked,
        if c.warnings > 0 {
            format!(
                ", {} warning{}",
                c.warnings,
                if c.warnings == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    if !critical.is_empty() {
        let ids: Vec<&str> = critical
            .iter()
            .map(|&i| record.tasks[i].id.as_str())
            .collect();
        let _ = writeln!(text, "Critical path: {}\n", cell(&ids.join(" → ")));
    }
    for (heading, tasks) in sections(record) {
        let _ = writeln!(text, "## {heading}\n");
        text.push_str("| Task | Status | Duration | Outputs | Checks | Blockers |\n");
        text.push_str("|---|---|---|---|---|---|\n");
        for task in tasks {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} |",
                task_cell(task),
                status_cell(task),
                duration(task),
                outputs(task),
                checks(task),
                blockers(task)
            );
        }
        text.push('\n');
    }
    agents(record, &mut text);
    notes(record, &mut text);
    text
}

/// What each agent task spent, and the total.
fn agents(record: &RunRecord, text: &mut String) {
    let spent: Vec<(&str, &AgentOutcome)> = record
        .tasks
        .iter()
        .filter_map(|t| Some((t.id.as_str(), t.agent.as_ref()?)))
        .collect();
    let Some(total) = AgentOutcome::sum(spent.iter().map(|&(_, agent)| agent)) else {
        return;
    };
    text.push_str("## What the agents spent\n\n| Task | Cost | Tokens in | Tokens out | Turns |\n|---|---|---|---|---|\n");
    for (id, agent) in spent {
        let _ = writeln!(text, "| {} | {} |", cell(id), agent_cells(agent));
    }
    let _ = writeln!(text, "| **total** | {} |\n", agent_cells(&total));
}

fn agent_cells(agent: &AgentOutcome) -> String {
    use crate::agent::outcome::tokens;
    format!(
        "{} | {} | {} | {}",
        agent
            .cost_usd
            .map_or("—".to_owned(), |usd| format!("${usd:.2}")),
        tokens(agent.input_tokens + agent.cache_read_tokens),
        tokens(agent.output_tokens),
        agent.turns.map_or("—".to_owned(), |t| t.to_string())
    )
}

/// The tasks by group (see [`record::sections`]) under their headings.
fn sections(record: &RunRecord) -> Vec<(String, Vec<&TaskRecord>)> {
    let sections = record::sections(record);
    let grouped = sections.iter().any(|s| s.name.is_some());
    sections
        .into_iter()
        .map(|section| {
            let heading = match (section.name, section.title) {
                (Some(name), Some(title)) => cell(&format!("{name}: {title}")),
                (Some(name), None) => cell(name),
                (None, _) if grouped => "Other tasks".to_owned(),
                (None, _) => "Tasks".to_owned(),
            };
            let tasks = section.tasks.iter().map(|&i| &record.tasks[i]).collect();
            (heading, tasks)
        })
        .collect()
}

/// Why tasks ran, and what failed, below the tables.
fn notes(record: &RunRecord, text: &mut String) {
    let failed: Vec<&TaskRecord> = record.tasks.iter().filter(|t| t.error.is_some()).collect();
    if !failed.is_empty() {
        text.push_str("## Failures\n\n");
        for task in failed {
            let _ = writeln!(
                text,
                "- **{}**: {}",
                cell(&task.id),
                cell(task.error.as_deref().unwrap_or_default())
            );
        }
        text.push('\n');
    }
    let ran: Vec<&TaskRecord> = record
        .tasks
        .iter()
        .filter(|t| !t.reasons.is_empty())
        .collect();
    if !ran.is_empty() {
        text.push_str("## Why tasks ran\n\n");
        for task in ran {
            let restored = if task.cache_hit { " (restored)" } else { "" };
            let _ = writeln!(
                text,
                "- **{}**{restored}: {}",
                cell(&task.id),
                cell(&task.reasons.join("; "))
            );
        }
        text.push('\n');
    }
}

fn task_cell(task: &TaskRecord) -> String {
    match &task.title {
        Some(title) => format!("{} {}", cell(&task.id), cell(title)),
        None => cell(&task.id),
    }
}

fn status_cell(task: &TaskRecord) -> String {
    let word = match task.status {
        TaskStatus::Ok => "completed",
        TaskStatus::Failed => "**failed**",
        TaskStatus::TimedOut => "**timed out**",
        TaskStatus::Interrupted => "interrupted",
        TaskStatus::Fresh => "fresh",
        TaskStatus::Restored => "restored from cache",
        TaskStatus::Blocked => "blocked",
        TaskStatus::Pending => "pending",
        TaskStatus::Edited => "**edited by hand**",
    };
    let flaky = if task.flaky { ", flaky" } else { "" };
    match task.attempts.len() {
        0 | 1 if task.flaky => format!("{word} (flaky)"),
        0 | 1 => word.to_owned(),
        n => format!("{word} ({n} attempts{flaky})"),
    }
}

fn duration(task: &TaskRecord) -> String {
    if task.attempts.is_empty() {
        return String::new();
    }
    let took = match (task.start_ms, task.end_ms) {
        (Some(start), Some(end)) => format_seconds(end.saturating_sub(start) as f64 / 1000.0),
        _ => String::new(),
    };
    // On a cluster, the part of it spent in the queue: the last job, all waits.
    let jobs = task.attempts.iter().filter_map(|a| a.slurm.as_ref());
    match jobs.clone().next_back() {
        Some(last) => {
            let queued: u64 = jobs.map(|job| job.queue_wait_ms()).sum();
            format!(
                "{took} (Slurm job {}, queued {})",
                cell(&last.job),
                format_seconds(queued as f64 / 1000.0)
            )
        }
        None => took,
    }
}

fn outputs(task: &TaskRecord) -> String {
    task.outputs
        .iter()
        .map(|o| format!("`{}`", o.replace('|', "\\|").replace('`', "'")))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn checks(task: &TaskRecord) -> String {
    task.checks
        .iter()
        .map(|c| {
            let mark = match (c.passed, c.required) {
                (true, _) => "✅",
                (false, true) => "❌",
                (false, false) => "⚠️",
            };
            let mut text = format!("{mark} {}", cell(&c.rule));
            if let Some(metric) = c.metric {
                text.push_str(&format!(" ({metric})"));
            }
            if !c.passed && !c.message.is_empty() {
                text.push_str(&format!(": {}", cell(&c.message)));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn blockers(task: &TaskRecord) -> String {
    task.blocked_by.as_deref().map(cell).unwrap_or_default()
}

/// Text safe inside a table cell: no pipes or line breaks, no HTML tags.
fn cell(text: &str) -> String {
    text.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}
