//! Deciding every selected task in dependency order as a build would, without running
//! anything: `--dry-run`, and `conduct list`'s statuses. The routing is the build's own
//! (`route`), so the two never disagree; what a real build would learn only by running
//! (a dependency's new outputs) is assumed to change: a task downstream of one that
//! would run would run too.

use std::sync::Arc;

use crate::build::route::{Route, route};
use crate::build::task::Failure;
use crate::explain::Reason;
use crate::fresh::why;
use crate::graph::Selection;
use crate::hash::Digest;
use crate::report::Counts;
use crate::report::progress::{Reporter, TaskEnd};
use crate::session::Session;
use crate::session::round::Round;
use crate::spec::TaskIdx;

/// What a decision in dependency order found, without running anything.
#[derive(Debug)]
pub(crate) enum Planned {
    Fresh,
    /// The cache would give the outputs back.
    Restore(Vec<Reason>),
    /// The command would not run, but checks would run again or fail again.
    Recheck {
        reasons: Vec<Reason>,
        failing: bool,
    },
    Run(Vec<Reason>),
    /// Stopped: these outputs were changed by hand since conduct wrote them.
    Edited(Vec<String>),
}

/// Whether settled outputs still pass their checks without running any: `None` if so,
/// else what would be checked again or fail again.
fn recheck(session: &Session, task: TaskIdx, outputs: &[(String, Digest)]) -> Option<Planned> {
    let loaded = session.loaded();
    let mut reasons = Vec::new();
    let mut failing = false;
    for planned in session.plan_checks(task, outputs) {
        let rule = loaded.rules.at(planned.rule);
        match &planned.known {
            None => reasons.push(
                planned
                    .reason
                    .unwrap_or_else(|| why::check_not_run(&rule.name)),
            ),
            Some(result) if !result.passed && rule.required => {
                failing = true;
                reasons.push(why::check_failed(&rule.name, &result.message));
            }
            Some(_) => {}
        }
    }
    (!reasons.is_empty()).then_some(Planned::Recheck { reasons, failing })
}

/// Decide every selected task in dependency order as a build would, without running.
pub(crate) fn plan(
    round: &mut Round<'_>,
    selection: &Selection,
    forced: &[bool],
) -> Vec<(TaskIdx, Planned)> {
    let loaded = Arc::clone(round.session().loaded());
    let spec = &loaded.spec;
    let mut would_run: Vec<bool> = vec![false; spec.tasks.len()];
    let mut group_would_run: Vec<Option<TaskIdx>> = vec![None; spec.groups.len()];
    let mut planned = Vec::with_capacity(selection.tasks.len());
    for &task in &selection.tasks {
        let t = spec.task(task);
        let mut upstream: Vec<Reason> = loaded
            .graph
            .task_deps(task)
            .iter()
            .filter(|d| would_run[d.task.index()])
            .map(|d| why::dependency_will_run(spec.task(d.task).id.as_str()))
            .collect();
        for &earlier in t.group.map(|g| &spec.group(g).after[..]).unwrap_or(&[]) {
            if let Some(dep) = group_would_run[earlier.index()] {
                upstream.push(why::dependency_will_run(spec.task(dep).id.as_str()));
            }
        }
        let verdict = if upstream.is_empty() {
            match route(round, task, forced[task.index()]) {
                Route::Nothing => {
                    round.settle(task, Vec::new());
                    Planned::Fresh
                }
                Route::Fresh { outputs } => {
                    let again = recheck(round.session(), task, &outputs);
                    round.settle(task, outputs);
                    again.unwrap_or(Planned::Fresh)
                }
                Route::Restore { reasons, entry, .. } => {
                    let outputs: Vec<(String, Digest)> = entry
                        .outputs
                        .iter()
                        .map(|o| (o.path.clone(), o.digest))
                        .collect();
                    let again = recheck(round.session(), task, &outputs);
                    round.settle(task, outputs);
                    again.unwrap_or(Planned::Restore(reasons))
                }
                Route::Run { reasons, .. } => Planned::Run(reasons),
                Route::Broken(error) => Planned::Run(vec![why::undecidable(error.to_string())]),
                Route::Edited(files) => Planned::Edited(files),
            }
        } else {
            Planned::Run(upstream)
        };
        // An edited task stops its dependents as a run would change them: neither is fresh.
        if matches!(
            verdict,
            Planned::Run(_) | Planned::Recheck { .. } | Planned::Edited(_)
        ) {
            would_run[task.index()] = true;
            if let Some(g) = t.group {
                group_would_run[g.index()].get_or_insert(task);
            }
        }
        planned.push((task, verdict));
    }
    planned
}

/// `--dry-run`: report what a build would do.
pub(super) fn dry_run(
    round: &mut Round<'_>,
    selection: &Selection,
    forced: &[bool],
    reporter: &mut Reporter,
) -> Counts {
    let loaded = Arc::clone(round.session().loaded());
    let mut counts = Counts::default();
    for (task, planned) in plan(round, selection, forced) {
        let id = loaded.spec.task(task).id.as_str();
        match planned {
            Planned::Fresh => {
                counts.fresh += 1;
                reporter.fresh(id);
            }
            Planned::Restore(reasons) => {
                counts.restored += 1;
                reporter.would_restore(id, &reasons);
            }
            Planned::Recheck { reasons, .. } => {
                counts.would_run += 1;
                reporter.would_recheck(id, &reasons);
            }
            Planned::Run(reasons) => {
                counts.would_run += 1;
                reporter.would_run(id, &reasons);
            }
            Planned::Edited(files) => {
                counts.edited += 1;
                let stop = Failure::edited(id, &files);
                reporter.finished(&TaskEnd {
                    detail: stop.detail.as_deref(),
                    ..TaskEnd::new(id, None, stop.status, stop.duration, 0)
                });
            }
        }
    }
    counts
}
