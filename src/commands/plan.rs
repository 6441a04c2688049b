//! `conduct plan`: before spending an agent hour, where the time goes. For the tasks a
//! build would run now (or all of them with `--all`): the waves, the critical path, the
//! total work and the makespan with at most N at once, replayed with the build's own
//! scheduler (`estimate.rs`). With two groups or more, also the makespan if the groups
//! ran one after another as strict barriers, and what that costs.

use std::sync::Arc;

use serde::Serialize;

use crate::build::{self, Planned};
use crate::commands::Stdout;
use crate::commands::check::to_json;
use crate::error::Error;
use crate::estimate::{self, BarrierEstimate, Estimate, WeightSource, Weights};
use crate::graph::Selection;
use crate::project::Loaded;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::spec::{Spec, TaskIdx};
use crate::state::State;
use crate::text;
use crate::units::format_seconds;

/// What `conduct plan` was asked.
#[derive(Debug)]
pub(crate) struct PlanOptions {
    pub(crate) targets: Vec<String>,
    pub(crate) jobs: Option<usize>,
    /// Every selected task, not only the stale ones.
    pub(crate) all: bool,
    /// Break the work and the barrier stages down by group.
    pub(crate) by_group: bool,
    pub(crate) json: bool,
    /// `--weights`: recorded durations, efforts, or the scheduler's choice.
    pub(crate) weights: Weights,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    jobs: usize,
    all: bool,
    selected: usize,
    to_run: usize,
    fresh: usize,
    restored: usize,
    weights: JsonWeights,
    waves: Vec<Vec<&'a str>>,
    critical_path: JsonPath<'a>,
    total_work_seconds: f64,
    makespan_seconds: f64,
    unlimited_makespan_seconds: f64,
    barriers: Option<JsonBarriers<'a>>,
}

#[derive(Serialize, Default, Clone, Copy)]
struct JsonWeights {
    recorded: usize,
    /// Of the recorded: those whose last run waited in the Slurm queue (added).
    with_queue_wait: usize,
    effort: usize,
    default: usize,
}

#[derive(Serialize)]
struct JsonPath<'a> {
    seconds: f64,
    tasks: Vec<JsonStep<'a>>,
}

#[derive(Serialize)]
struct JsonStep<'a> {
    id: &'a str,
    title: &'a str,
    seconds: f64,
}

#[derive(Serialize)]
struct JsonBarriers<'a> {
    makespan_seconds: f64,
    /// Barrier makespan minus the makespan with precise dependencies.
    difference_seconds: f64,
    stages: Vec<JsonStage<'a>>,
}

#[derive(Serialize)]
struct JsonStage<'a> {
    group: Option<&'a str>,
    makespan_seconds: f64,
}

/// The plan and what went into it.
struct Planning {
    weights: Vec<Option<f64>>,
    sources: JsonWeights,
    selected: usize,
    fresh: usize,
    restored: usize,
    jobs: usize,
    estimate: Estimate,
    barriers: Option<BarrierEstimate>,
}

pub(crate) fn run(
    locator: &Locator,
    options: &PlanOptions,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let mut session = Session::open(locator, Access::Read)?;
    let loaded = Arc::clone(session.loaded());
    let spec = &loaded.spec;
    let selection = loaded.graph.select(spec, &options.targets)?;
    // Which tasks would run: all of them, or what a build would decide now.
    let mut runs = vec![false; spec.tasks.len()];
    let (mut fresh, mut restored) = (0, 0);
    if options.all {
        for &task in &selection.tasks {
            runs[task.index()] = spec.task(task).run.is_some();
        }
    } else {
        let mut round = session.prepare(&selection, &crate::exec::local::LocalExecutor::new())?;
        let no_force = vec![false; spec.tasks.len()];
        for (task, planned) in build::plan(&mut round, &selection, &no_force) {
            match planned {
                Planned::Run(_) => runs[task.index()] = true,
                Planned::Restore(_) => restored += 1,
                Planned::Fresh | Planned::Recheck { .. } | Planned::Edited(_) => fresh += 1,
            }
        }
    }
    let (planning, groups) = planning(
        &loaded,
        session.state(),
        &selection,
        &runs,
        (fresh, restored),
        options,
    );
    let text = if options.json {
        to_json(&json(spec, options, &planning)) + "\n"
    } else {
        text(spec, options, &planning, groups)
    };
    session.finish();
    out.write(&text)?;
    Ok(0)
}

/// The plan of the tasks in `runs` (the rest were `(fresh, restored)`), weighted by
/// what `state` recorded; and how many groups the running tasks are in.
fn planning(
    loaded: &Loaded,
    state: &State,
    selection: &Selection,
    runs: &[bool],
    (fresh, restored): (usize, usize),
    options: &PlanOptions,
) -> (Planning, usize) {
    let spec = &loaded.spec;
    let mut sources = JsonWeights::default();
    let weights: Vec<Option<f64>> = spec
        .task_indices()
        .map(|task| {
            runs[task.index()].then(|| {
                let (seconds, source) =
                    estimate::expected_seconds(spec, state, task, options.weights);
                match source {
                    WeightSource::Recorded => sources.recorded += 1,
                    WeightSource::RecordedWithQueue => {
                        sources.recorded += 1;
                        sources.with_queue_wait += 1;
                    }
                    WeightSource::Effort => sources.effort += 1,
                    WeightSource::Default => sources.default += 1,
                }
                seconds
            })
        })
        .collect();
    let jobs = spec.project.jobs_with(options.jobs);
    let estimate = estimate::estimate(&loaded.graph, spec, selection, &weights, jobs);
    let groups = {
        let mut seen: Vec<Option<usize>> = selection
            .tasks
            .iter()
            .filter(|t| runs[t.index()])
            .map(|&t| spec.task(t).group.map(|g| g.index()))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    let barriers = (groups >= 2 || options.by_group)
        .then(|| estimate::with_barriers(&loaded.graph, spec, selection, &weights, jobs))
        .flatten();
    let planning = Planning {
        weights,
        sources,
        selected: selection.tasks.len(),
        fresh,
        restored,
        jobs,
        estimate,
        barriers,
    };
    (planning, groups)
}

/// `conduct plan --all` (and `--json`) of every task, with nothing recorded: what
/// the fuzz targets render.
pub(crate) fn render_all(loaded: &Loaded, jobs: usize, json: bool) -> String {
    let spec = &loaded.spec;
    let Ok(selection) = loaded.graph.select(spec, &[]) else {
        return String::new();
    };
    let runs: Vec<bool> = spec.tasks.iter().map(|t| t.run.is_some()).collect();
    let options = PlanOptions {
        targets: Vec::new(),
        jobs: Some(jobs),
        all: true,
        by_group: true,
        json,
        weights: Weights::Effort,
    };
    let (planning, groups) = planning(
        loaded,
        &State::default(),
        &selection,
        &runs,
        (0, 0),
        &options,
    );
    if json {
        to_json(&self::json(spec, &options, &planning)) + "\n"
    } else {
        text(spec, &options, &planning, groups)
    }
}

fn json<'s>(spec: &'s Spec, options: &PlanOptions, p: &Planning) -> JsonPlan<'s> {
    let id = |t: &TaskIdx| spec.task(*t).id.as_str();
    let e = &p.estimate;
    JsonPlan {
        jobs: p.jobs,
        all: options.all,
        selected: p.selected,
        to_run: p.weights.iter().filter(|w| w.is_some()).count(),
        fresh: p.fresh,
        restored: p.restored,
        weights: p.sources,
        waves: e.waves.iter().map(|w| w.iter().map(id).collect()).collect(),
        critical_path: JsonPath {
            seconds: e.critical_seconds,
            tasks: e
                .critical_path
                .iter()
                .map(|&t| JsonStep {
                    id: id(&t),
                    title: spec.task(t).display_title(),
                    seconds: p.weights[t.index()].unwrap_or(0.0),
                })
                .collect(),
        },
        total_work_seconds: e.total_work,
        makespan_seconds: e.makespan,
        unlimited_makespan_seconds: e.unlimited,
        barriers: p.barriers.as_ref().map(|b| JsonBarriers {
            makespan_seconds: b.makespan,
            difference_seconds: b.makespan - e.makespan,
            stages: b
                .stages
                .iter()
                .map(|(g, m)| JsonStage {
                    group: g.map(|g| spec.groups[g].name.as_str()),
                    makespan_seconds: *m,
                })
                .collect(),
        }),
    }
}

fn text(spec: &Spec, options: &PlanOptions, p: &Planning, groups: usize) -> String {
    let e = &p.estimate;
    let to_run = p.weights.iter().filter(|w| w.is_some()).count();
    let mut lines = Vec::new();
    let scope = if options.all {
        format!("{to_run} tasks")
    } else {
        format!(
            "{to_run} of {} tasks would run ({} fresh, {} from the cache)",
            p.selected, p.fresh, p.restored
        )
    };
    let mut sources = Vec::new();
    for (count, what) in [
        (p.sources.recorded, "last recorded duration"),
        (p.sources.effort, "effort"),
        (p.sources.default, "1s each (no effort, never run)"),
    ] {
        if count > 0 {
            sources.push(format!("{what} for {count}"));
        }
    }
    if p.sources.with_queue_wait > 0 {
        sources.push(format!(
            "the recorded Slurm queue wait added for {}",
            p.sources.with_queue_wait
        ));
    }
    lines.push(format!(
        "plan: {scope}, at most {} at once{}",
        p.jobs,
        if sources.is_empty() {
            String::new()
        } else {
            format!("; weights: {}", sources.join(", "))
        }
    ));
    if to_run == 0 {
        lines.push("nothing to run (`conduct plan --all` plans every task)".to_owned());
        return lines.join("\n") + "\n";
    }
    let id = |t: &TaskIdx| spec.task(*t).id.as_str();
    lines.push(String::new());
    lines.push("waves (what can start together):".to_owned());
    for (n, wave) in e.waves.iter().enumerate() {
        let ids: Vec<&str> = wave.iter().map(id).collect();
        lines.push(format!("  {:>2}  {}", n + 1, ids.join(" ")));
    }
    lines.push(String::new());
    lines.push(format!(
        "critical path: {} over {} task{}",
        format_seconds(e.critical_seconds),
        e.critical_path.len(),
        if e.critical_path.len() == 1 { "" } else { "s" }
    ));
    let id_w = text::column(e.critical_path.iter().map(id));
    // A task without a title shows "-" there: its id is in the column before.
    let title = |t: TaskIdx| spec.task(t).title.as_deref().unwrap_or("-");
    let title_w = text::column(e.critical_path.iter().map(|&t| title(t)));
    for &t in &e.critical_path {
        let mut line = String::from("  ");
        text::left(&mut line, id(&t), id_w);
        line.push_str("  ");
        text::left(&mut line, title(t), title_w);
        line.push_str("  ");
        text::right(
            &mut line,
            &format_seconds(p.weights[t.index()].unwrap_or(0.0)),
            8,
        );
        lines.push(line);
    }
    lines.push(String::new());
    lines.push(format!(
        "total work:        {}",
        format_seconds(e.total_work)
    ));
    lines.push(format!(
        "makespan at -j {}:  {}  (with no limit: {})",
        p.jobs,
        format_seconds(e.makespan),
        format_seconds(e.unlimited)
    ));
    match &p.barriers {
        Some(b) => {
            let difference = b.makespan - e.makespan;
            let versus = if difference.abs() < 0.005 {
                "the same as with the precise dependencies".to_owned()
            } else if difference > 0.0 {
                format!(
                    "{} longer than the precise dependencies",
                    format_seconds(difference)
                )
            } else {
                format!(
                    "{} shorter: list scheduling is greedy",
                    format_seconds(-difference)
                )
            };
            lines.push(format!(
                "groups as strict barriers at -j {}:  {}  ({versus})",
                p.jobs,
                format_seconds(b.makespan),
            ));
            let stages: Vec<String> = b
                .stages
                .iter()
                .map(|(g, m)| {
                    let name = g.map_or("(no group)", |g| spec.groups[g].name.as_str());
                    format!("{name} {}", format_seconds(*m))
                })
                .collect();
            lines.push(format!("  stages: {}", stages.join(", ")));
        }
        None if groups >= 2 || options.by_group => lines.push(
            "groups as strict barriers: impossible, groups depend on each other both ways"
                .to_owned(),
        ),
        None => {}
    }
    if options.by_group {
        lines.push(String::new());
        lines.push("work by group:".to_owned());
        let mut per_group: Vec<(Option<usize>, usize, f64)> = Vec::new();
        for task in spec.task_indices() {
            let Some(w) = p.weights[task.index()] else {
                continue;
            };
            let g = spec.task(task).group.map(|g| g.index());
            match per_group.iter_mut().find(|(k, _, _)| *k == g) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += w;
                }
                None => per_group.push((g, 1, w)),
            }
        }
        per_group.sort_by_key(|(g, _, _)| g.unwrap_or(usize::MAX));
        for (g, count, work) in per_group {
            let name = g.map_or("(no group)", |g| spec.groups[g].name.as_str());
            lines.push(format!(
                "  {name}: {count} task{}, {}",
                if count == 1 { "" } else { "s" },
                format_seconds(work)
            ));
        }
    }
    lines.join("\n") + "\n"
}
