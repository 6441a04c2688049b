//! `conduct accept [TARGET...]`: record the current state of the named tasks (all of
//! them without a target, said in a first line) as fresh
//! without running them, for an edit that changes nothing that matters (a cosmetic spec
//! change). Their outputs must exist; dependencies pulled in are not accepted, only
//! read: a stale one is named, since the targets are accepted against its current
//! outputs.

use std::sync::Arc;

use crate::commands::{Stdout, json_line};
use crate::error::{EXIT_FAILURE, Error};
use crate::explain::RunStatus;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::session::round::Outcome;
use crate::state::{LastRun, Success};

/// What `accept` did, for `--json`: `{"accepted": [ID], "already_fresh": [ID],
/// "refused": [{"task", "reason"}], "notes": [TEXT]}` (refused: exit 1).
#[derive(Default, serde::Serialize)]
struct Accepted {
    accepted: Vec<String>,
    already_fresh: Vec<String>,
    refused: Vec<Refused>,
    notes: Vec<String>,
}

#[derive(serde::Serialize)]
struct Refused {
    task: String,
    reason: String,
}

impl Accepted {
    /// `id` cannot be accepted: said in the text and kept for `--json` (exit 1).
    fn refuse(&mut self, text: &mut String, id: String, reason: String) {
        text.push_str(&format!("cannot accept {id}: {reason}\n"));
        self.refused.push(Refused { task: id, reason });
    }
}

pub(crate) fn run(
    locator: &Locator,
    targets: &[String],
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let mut session = Session::open(locator, Access::Write)?;
    let loaded = Arc::clone(session.loaded());
    let spec = &loaded.spec;
    let selection = loaded.graph.select(spec, targets)?;
    let named = if targets.is_empty() {
        vec![true; spec.tasks.len()]
    } else {
        loaded.graph.select_named(spec, targets)?
    };
    let mut round = session.prepare(&selection, &crate::exec::local::LocalExecutor::new())?;
    let mut text = String::new();
    let mut done = Accepted::default();
    if targets.is_empty() {
        // No target: every task, said up front so nobody accepts the world by accident.
        let n = spec.tasks.iter().filter(|t| t.run.is_some()).count();
        text.push_str(&format!(
            "accepting all {n} task{} as they are on disk\n",
            if n == 1 { "" } else { "s" }
        ));
    }
    for &task in &selection.tasks {
        let id = spec.task(task).id.to_string();
        if spec.task(task).run.is_none() {
            round.settle(task, Vec::new());
            continue;
        }
        let verdict = match round.decide(task, false) {
            Ok(verdict) => verdict,
            Err(error) => {
                done.refuse(&mut text, id, error.to_string());
                continue;
            }
        };
        let accepting = named[task.index()];
        if !accepting {
            if !matches!(verdict.outcome, Outcome::Fresh) {
                let note =
                    format!("dependency {id} is stale; accepting against its current outputs");
                text.push_str(&format!("note: {note}\n"));
                done.notes.push(note);
            }
            round.settle(task, verdict.outputs.files);
            continue;
        }
        if let Some(missing) = verdict.outputs.missing.first() {
            let reason = format!("output {missing} is missing; build it instead");
            done.refuse(&mut text, id, reason);
            continue;
        }
        let preimage = match verdict.outcome {
            Outcome::Run { preimage, .. } => preimage,
            // Edited by hand: what accept is for (the edit is kept, dependents rebuild).
            Outcome::Edited(_) => match round.session().preimage(task) {
                Ok(preimage) => preimage,
                Err(error) => {
                    done.refuse(&mut text, id, error.to_string());
                    continue;
                }
            },
            Outcome::Fresh | Outcome::Restore { .. } => {
                round.settle(task, verdict.outputs.files);
                text.push_str(&format!("already fresh: {id}\n"));
                done.already_fresh.push(id);
                continue;
            }
        };
        let previous_ms = round
            .session()
            .state()
            .tasks
            .get(&id)
            .and_then(|s| s.success.as_ref())
            .map_or(0, |s| s.duration_ms);
        // Stored like a run, so other checkouts restore the accepted outputs too.
        let outputs = match round.session().store(
            task,
            verdict.key,
            &preimage,
            previous_ms,
            &verdict.discovered,
        ) {
            Ok(outputs) => outputs,
            Err(error) => {
                let note = format!("{id} could not be stored in the cache: {error}");
                text.push_str(&format!("note: {note}\n"));
                done.notes.push(note);
                verdict.outputs.files.clone()
            }
        };
        let state = round.session_mut().task_state(&id);
        state.success = Some(Success {
            key: verdict.key,
            outputs,
            duration_ms: previous_ms,
            discovered: verdict.discovered.clone(),
        });
        state.last_run = Some(Box::new(LastRun {
            status: RunStatus::Ok,
            duration_ms: 0,
            attempts: 0,
            reasons: vec![crate::fresh::why::accepted()],
            finished_at: crate::state::now_secs(),
            cluster: None,
            key: None,
            flaky: false,
            agent: None,
        }));
        round.settle(task, verdict.outputs.files);
        text.push_str(&format!("accepted: {id}\n"));
        done.accepted.push(id);
    }
    session.save()?;
    // Derived, not tracked: anything refused is a failure.
    let code = if done.refused.is_empty() {
        0
    } else {
        EXIT_FAILURE
    };
    out.write(&if json { json_line(&done) } else { text })?;
    Ok(code)
}
