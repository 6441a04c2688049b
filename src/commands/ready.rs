//! `conduct ready`: the tasks a build would run now whose dependencies are all done
//! (fresh, or restorable from the cache) — the work there is to pull, for boards and
//! external agents (Beads' `bd ready`). Decided as `list` decides its statuses (the
//! build's own routing, nothing run or written); a failed task is listed too (a build
//! runs it again), a blocked or hand-edited one is not. In the order a build would
//! start them: priority, then declaration order. `--json`: `{"ready": [...]}`.

use std::sync::Arc;

use serde::Serialize;

use crate::commands::Stdout;
use crate::commands::check::to_json;
use crate::commands::list::{TaskStatus, statuses};
use crate::error::Error;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::text;

#[derive(Serialize)]
struct JsonReady<'a> {
    id: &'a str,
    title: &'a str,
    /// `stale`, `never built` or `failed`.
    status: &'static str,
    group: Option<&'a str>,
    priority: &'static str,
    agent: Option<&'a str>,
    effort_seconds: Option<u64>,
}

pub(crate) fn run(locator: &Locator, json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let mut session = Session::open(locator, Access::Read)?;
    let loaded = Arc::clone(session.loaded());
    let spec = &loaded.spec;
    let selection = loaded.graph.select(spec, &[])?;
    let mut round = session.prepare(&selection, &crate::exec::local::LocalExecutor::new())?;
    let statuses = statuses(&mut round, &selection);
    let needs_work = |s: TaskStatus| {
        matches!(
            s,
            TaskStatus::Stale | TaskStatus::NeverBuilt | TaskStatus::Failed
        )
    };
    let mut ready: Vec<_> = selection
        .tasks
        .iter()
        .copied()
        .filter(|&task| needs_work(statuses[task.index()]))
        .filter(|&task| {
            loaded
                .graph
                .task_deps(task)
                .iter()
                .all(|d| statuses[d.task.index()] == TaskStatus::Fresh)
        })
        .collect();
    // Highest priority first; the sort is stable, so declaration order within one.
    ready.sort_by_key(|&task| std::cmp::Reverse(spec.task(task).priority));
    let rows: Vec<JsonReady<'_>> = ready
        .iter()
        .map(|&task| {
            let t = spec.task(task);
            JsonReady {
                id: t.id.as_str(),
                title: t.display_title(),
                status: statuses[task.index()].as_str(),
                group: t.group.map(|g| spec.group(g).name.as_str()),
                priority: t.priority.as_str(),
                agent: t.agent.as_deref(),
                effort_seconds: t.effort.map(|e| e.as_secs()),
            }
        })
        .collect();
    drop(round);
    session.finish();
    if json {
        out.write(&format!(
            "{}\n",
            to_json(&serde_json::json!({ "ready": rows }))
        ))?;
        return Ok(0);
    }
    if rows.is_empty() {
        out.write("nothing is ready: every task is done, or waits for one that is not\n")?;
        return Ok(0);
    }
    let id_w = text::column(rows.iter().map(|r| r.id));
    let status_w = text::column(rows.iter().map(|r| r.status));
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        text::left(&mut line, row.id, id_w);
        line.push_str("  ");
        text::left(&mut line, row.status, status_w);
        line.push_str("  ");
        line.push_str(row.priority);
        line.push_str("  ");
        line.push_str(row.title);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    out.write(&text)?;
    Ok(0)
}
