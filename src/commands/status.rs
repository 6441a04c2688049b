//! `conduct status`: the last run of every task, as recorded (status, duration,
//! attempts, reasons, and the Slurm job and its queue wait when it ran on the
//! cluster). It reads the state only: nothing is hashed or run, so it is
//! instant even while a build holds the lock.

use serde::Serialize;

use crate::commands::Stdout;
use crate::commands::check::to_json;
use crate::error::Error;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::text;

#[derive(Serialize)]
struct JsonStatus<'a> {
    id: &'a str,
    status: &'a str,
    duration_ms: Option<u64>,
    attempts: Option<u32>,
    reasons: Vec<String>,
    finished_at: Option<u64>,
    /// It passed after failing with the same key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    flaky: bool,
    /// What its agent reported over the last run's attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a crate::agent::outcome::AgentOutcome>,
    /// The Slurm job of its last attempt, when it ran on the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    slurm: Option<JsonSlurm<'a>>,
}

#[derive(Serialize)]
struct JsonSlurm<'a> {
    job: &'a str,
    queue_wait_ms: u64,
}

pub(crate) fn run(locator: &Locator, json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let session = Session::open(locator, Access::Read)?;
    out.write(&render(&session.loaded().spec, session.state(), json))?;
    session.finish();
    Ok(0)
}

/// Every task's last run as `status` prints it (text or JSON).
pub(crate) fn render(spec: &crate::spec::Spec, state: &crate::state::State, json: bool) -> String {
    let rows: Vec<JsonStatus<'_>> = spec
        .tasks
        .iter()
        .map(|t| {
            let last = state
                .tasks
                .get(t.id.as_str())
                .and_then(|s| s.last_run.as_ref());
            JsonStatus {
                id: t.id.as_str(),
                status: last.map_or("never run", |l| l.status.as_str()),
                duration_ms: last.map(|l| l.duration_ms),
                attempts: last.map(|l| l.attempts),
                reasons: last.map_or_else(Vec::new, |l| crate::explain::render(&l.reasons)),
                finished_at: last.map(|l| l.finished_at),
                flaky: last.is_some_and(|l| l.flaky),
                agent: last.and_then(|l| l.agent.as_deref()),
                slurm: last.and_then(|l| l.cluster.as_ref()).map(|job| JsonSlurm {
                    job: &job.id,
                    queue_wait_ms: job.queue_ms,
                }),
            }
        })
        .collect();
    if json {
        return format!("{}\n", to_json(&serde_json::json!({ "tasks": rows })));
    }
    let id_w = text::column(rows.iter().map(|r| r.id));
    let status_w = text::column(rows.iter().map(|r| r.status));
    let mut text = String::new();
    let spent = crate::agent::outcome::AgentOutcome::sum(rows.iter().filter_map(|r| r.agent));
    for row in &rows {
        let mut line = String::new();
        text::left(&mut line, row.id, id_w);
        line.push_str("  ");
        text::left(&mut line, row.status, status_w);
        if let (Some(ms), Some(attempts)) = (row.duration_ms, row.attempts) {
            line.push_str(&format!(
                "  {:>8}  {attempts} attempt{}",
                format!("{:.2}s", ms as f64 / 1000.0),
                if attempts == 1 { "" } else { "s" }
            ));
            if let Some(agent) = row.agent {
                line.push_str(&format!("  {}", agent.spent()));
            }
            if row.flaky {
                line.push_str("  flaky (it failed before with the same inputs)");
            }
            if let Some(job) = &row.slurm {
                line.push_str(&format!(
                    "  Slurm job {}, queued {:.2}s",
                    job.job,
                    job.queue_wait_ms as f64 / 1000.0
                ));
            }
            if !row.reasons.is_empty() {
                line.push_str(&format!("  ({})", row.reasons.join("; ")));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    if let Some(spent) = spent {
        text.push_str(&format!("agents spent {} in all\n", spent.spent()));
    }
    text
}
