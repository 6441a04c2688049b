//! The numbers of `conduct plan` (issue: "where does the time go"): waves, the critical
//! path, total work, and the makespan with at most N tasks at once, plain data from the
//! graph and one weight per task.
//!
//! The makespan is not a formula but a replay: the build's own [`Scheduler`] hands out
//! tasks in simulated time (longest remaining path, then priority, group `jobs` pools
//! included), so the estimate follows exactly the order a build would take. The strict
//! barrier comparison replays the groups one after another, each as its own stage, the
//! way plans that run "phase by phase" do.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::exec::scheduler::Scheduler;
use crate::graph::{Graph, Node, Selection};
use crate::spec::{Spec, TaskIdx};
use crate::state::State;

/// Where a task's weight came from (SPEC §4: last recorded duration, else effort, else 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WeightSource {
    Recorded,
    /// The recorded duration plus the recorded wait in the Slurm queue of its last run
    /// on the cluster (the queue is part of what a task costs there).
    RecordedWithQueue,
    Effort,
    Default,
}

/// Which weights a plan uses (`conduct plan --weights`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Weights {
    /// The last recorded duration, else `effort`, else 1 s (what the scheduler ranks by).
    #[default]
    Auto,
    /// `effort` only (else 1 s): the plan as written, before or after any build.
    Effort,
    /// Recorded durations only (else 1 s): what the last builds took.
    Recorded,
}

/// The expected duration of `task` in seconds, as the scheduler ranks it (`Auto`) or
/// as `weights` asks.
pub(crate) fn expected_seconds(
    spec: &Spec,
    state: &State,
    task: TaskIdx,
    weights: Weights,
) -> (f64, WeightSource) {
    let t = spec.task(task);
    let known = state
        .tasks
        .get(t.id.as_str())
        .filter(|_| weights != Weights::Effort);
    let recorded = known.and_then(|s| {
        s.success
            .as_ref()
            .map(|s| s.duration_ms)
            .or(s.last_run.as_ref().map(|r| r.duration_ms))
    });
    let queued = known
        .and_then(|s| s.last_run.as_ref())
        .and_then(|r| r.cluster.as_ref())
        .map(|job| job.queue_ms);
    let effort = t.effort.filter(|_| weights != Weights::Recorded);
    match (recorded, effort) {
        (Some(ms), _) => match queued {
            Some(queued) => (
                (ms + queued) as f64 / 1000.0,
                WeightSource::RecordedWithQueue,
            ),
            None => (ms as f64 / 1000.0, WeightSource::Recorded),
        },
        (None, Some(effort)) => (effort.as_secs_f64(), WeightSource::Effort),
        (None, None) => (1.0, WeightSource::Default),
    }
}

/// What running `selection` would take. Tasks with weight `None` are not run (fresh):
/// they settle at once and count for nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Estimate {
    /// Tasks that can start together: wave k holds the tasks whose longest chain of
    /// tasks to run before them has k-1 links.
    pub(crate) waves: Vec<Vec<TaskIdx>>,
    /// The longest chain by weight, first task first.
    pub(crate) critical_path: Vec<TaskIdx>,
    pub(crate) critical_seconds: f64,
    pub(crate) total_work: f64,
    /// Replayed with at most `jobs` at once.
    pub(crate) makespan: f64,
    /// Replayed with no limit but the groups' `jobs`.
    pub(crate) unlimited: f64,
}

/// The same tasks with the groups run one after another, each group a stage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BarrierEstimate {
    /// Each stage (a group, or `None` for tasks without a group) and its makespan.
    pub(crate) stages: Vec<(Option<usize>, f64)>,
    pub(crate) makespan: f64,
}

/// The estimate for `selection`, weights by task index (`None`: does not run).
pub(crate) fn estimate(
    graph: &Graph,
    spec: &Spec,
    selection: &Selection,
    weights: &[Option<f64>],
    jobs: usize,
) -> Estimate {
    let weight = |t: TaskIdx| weights[t.index()].unwrap_or(0.0);
    let runs = |t: TaskIdx| weights[t.index()].is_some();
    let count = graph.node_count();
    // Per node, in dependency order: the earliest finish with no limit, and the
    // prerequisite that finishes last (to walk the critical path back).
    let longest = crate::critical::longest(
        count,
        selection.nodes.iter().map(|&n| n as usize),
        |n| graph.node_deps(n as Node).iter().map(|&d| d as usize),
        |n| graph.task_of(n as Node).map_or(0.0, weight),
    );
    let mut wave = vec![0usize; count];
    for &node in &selection.nodes {
        let before_wave = graph
            .node_deps(node)
            .iter()
            .map(|&d| wave[d as usize])
            .max()
            .unwrap_or(0);
        let counts = graph.task_of(node).is_some_and(runs);
        wave[node as usize] = before_wave + usize::from(counts);
    }
    let mut waves: Vec<Vec<TaskIdx>> = Vec::new();
    for &task in &selection.tasks {
        if runs(task) {
            let w = wave[task.index()];
            if waves.len() < w {
                waves.resize(w, Vec::new());
            }
            waves[w - 1].push(task);
        }
    }
    let end = crate::critical::last_of(
        &longest.finish,
        selection
            .tasks
            .iter()
            .filter(|&&t| runs(t))
            .map(|t| t.index()),
    );
    let critical_path: Vec<TaskIdx> = longest
        .chain(end)
        .into_iter()
        .filter_map(|n| graph.task_of(n as Node))
        .filter(|&t| runs(t))
        .collect();
    Estimate {
        waves,
        critical_seconds: critical_path.iter().map(|&t| weight(t)).sum(),
        critical_path,
        total_work: selection.tasks.iter().map(|&t| weight(t)).sum(),
        makespan: replay(graph, spec, selection, weights, jobs),
        unlimited: replay(graph, spec, selection, weights, usize::MAX),
    }
}

/// The makespan with the groups as strict barriers, in an order that respects every
/// dependency between them; `None` when groups depend on each other both ways.
pub(crate) fn with_barriers(
    graph: &Graph,
    spec: &Spec,
    selection: &Selection,
    weights: &[Option<f64>],
    jobs: usize,
) -> Option<BarrierEstimate> {
    let stage_of = |t: TaskIdx| spec.task(t).group.map_or(spec.groups.len(), |g| g.index());
    let stages = spec.groups.len() + 1;
    let mut present = vec![false; stages];
    // Stage-level edges (later -> earlier), from task dependencies and `after`.
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); stages];
    for &task in &selection.tasks {
        let s = stage_of(task);
        present[s] = true;
        for dep in graph.task_deps(task) {
            let d = stage_of(dep.task);
            if d != s && !before[s].contains(&d) {
                before[s].push(d);
            }
        }
        if let Some(g) = spec.task(task).group {
            for earlier in &spec.group(g).after {
                if !before[s].contains(&earlier.index()) {
                    before[s].push(earlier.index());
                }
            }
        }
    }
    // Kahn's algorithm, declaration order among the stages that are free.
    let mut order = Vec::new();
    let mut placed = vec![false; stages];
    while order.len() < present.iter().filter(|&&p| p).count() {
        let next = (0..stages).find(|&s| {
            present[s] && !placed[s] && before[s].iter().all(|&d| placed[d] || !present[d])
        })?;
        placed[next] = true;
        order.push(next);
    }
    let mut result = Vec::with_capacity(order.len());
    for stage in order {
        let tasks: Vec<TaskIdx> = selection
            .tasks
            .iter()
            .copied()
            .filter(|&t| stage_of(t) == stage)
            .collect();
        let part = Selection {
            nodes: tasks.iter().map(|t| t.index() as Node).collect(),
            tasks,
        };
        let makespan = replay(graph, spec, &part, weights, jobs);
        result.push(((stage < spec.groups.len()).then_some(stage), makespan));
    }
    Some(BarrierEstimate {
        makespan: result.iter().map(|(_, m)| m).sum(),
        stages: result,
    })
}

/// Replay a build of `selection` in simulated time with the build's scheduler.
fn replay(
    graph: &Graph,
    spec: &Spec,
    selection: &Selection,
    weights: &[Option<f64>],
    jobs: usize,
) -> f64 {
    let weight = |t: TaskIdx| weights[t.index()].unwrap_or(0.0);
    let mut scheduler = Scheduler::new(graph, spec, selection, weight);
    // Running tasks by finish time (then task index, for a stable order).
    let mut running: BinaryHeap<Reverse<(Time, u32)>> = BinaryHeap::new();
    let mut now = 0.0;
    loop {
        // Tasks that do not run settle at once and may release more.
        loop {
            let decidable = scheduler.take_decidable();
            if decidable.is_empty() {
                break;
            }
            for task in decidable {
                if weights[task.index()].is_some() {
                    scheduler.queue(task);
                } else {
                    scheduler.succeeded(task);
                }
            }
        }
        while let Some(task) = scheduler.next(jobs) {
            running.push(Reverse((Time(now + weight(task)), task.0)));
        }
        let Some(Reverse((Time(end), task))) = running.pop() else {
            break;
        };
        now = end;
        scheduler.succeeded(TaskIdx(task));
    }
    now
}

/// A point in simulated time, totally ordered.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Time(f64);

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Time) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Time) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn setup(text: &str) -> (Spec, Graph, Selection) {
        let (spec, errors) = crate::spec::parse(
            &SourceFile::new("tasks.toml", text),
            &[],
            &Default::default(),
        )
        .unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let graph = Graph::build(&spec).unwrap();
        let selection = graph.select(&spec, &[]).unwrap();
        (spec, graph, selection)
    }

    /// List scheduling in declaration order (what a naive runner does), for comparison.
    fn fifo(graph: &Graph, selection: &Selection, weights: &[f64], jobs: usize) -> f64 {
        let mut finish: Vec<Option<f64>> = vec![None; weights.len()];
        let mut agents = vec![0.0f64; jobs];
        let mut left: Vec<TaskIdx> = selection.tasks.clone();
        while !left.is_empty() {
            // The first task in declaration order whose dependencies are scheduled.
            let Some(pos) = left.iter().position(|&t| {
                graph
                    .task_deps(t)
                    .iter()
                    .all(|d| finish[d.task.index()].is_some())
            }) else {
                break;
            };
            let task = left.remove(pos);
            let ready = graph
                .task_deps(task)
                .iter()
                .filter_map(|d| finish[d.task.index()])
                .fold(0.0, f64::max);
            let agent = (0..jobs)
                .min_by(|&a, &b| agents[a].total_cmp(&agents[b]))
                .unwrap_or(0);
            let start = agents[agent].max(ready);
            agents[agent] = start + weights[task.index()];
            finish[task.index()] = Some(agents[agent]);
        }
        finish.iter().flatten().fold(0.0, |a, &b| f64::max(a, b))
    }

    #[test]
    fn longest_path_first_beats_declaration_order() {
        let (spec, graph, selection) = setup(
            "[tasks.a]\n[tasks.b]\n[tasks.c]\n[tasks.d1]\n[tasks.d2]\ndeps = [\"d1\"]\n[tasks.d3]\ndeps = [\"d2\"]\n",
        );
        let weights = vec![1.0; 6];
        let some: Vec<Option<f64>> = weights.iter().copied().map(Some).collect();
        let e = estimate(&graph, &spec, &selection, &some, 2);
        assert_eq!(e.makespan, 3.0);
        assert_eq!(fifo(&graph, &selection, &weights, 2), 4.0, "naive is worse");
        assert_eq!(e.total_work, 6.0);
        assert_eq!(e.unlimited, 3.0);
        let names: Vec<&str> = e
            .critical_path
            .iter()
            .map(|&t| spec.task(t).id.as_str())
            .collect();
        assert_eq!(names, ["d1", "d2", "d3"]);
    }

    #[test]
    fn fresh_tasks_cost_nothing_and_are_not_in_waves() {
        let (spec, graph, selection) =
            setup("[tasks.a]\n[tasks.b]\ndeps = [\"a\"]\n[tasks.c]\ndeps = [\"b\"]\n");
        let e = estimate(&graph, &spec, &selection, &[None, Some(2.0), Some(3.0)], 4);
        assert_eq!(e.makespan, 5.0);
        assert_eq!(e.waves, [vec![TaskIdx(1)], vec![TaskIdx(2)]]);
        assert_eq!(e.critical_path, [TaskIdx(1), TaskIdx(2)]);
    }

    #[test]
    fn barriers_follow_dependencies_and_give_up_on_mutual_ones() {
        let (spec, graph, selection) = setup(
            "[groups.late]\n[groups.early]\n[tasks.x]\ngroup = \"late\"\ndeps = [\"y\"]\n[tasks.y]\ngroup = \"early\"\n[tasks.z]\ngroup = \"early\"\n",
        );
        let weights = [Some(1.0), Some(1.0), Some(5.0)];
        let b = with_barriers(&graph, &spec, &selection, &weights, 4).unwrap();
        // `early` first (x needs y), though declared second; x waits for z too.
        assert_eq!(b.stages, [(Some(1), 5.0), (Some(0), 1.0)]);
        assert_eq!(b.makespan, 6.0);
        assert_eq!(
            estimate(&graph, &spec, &selection, &weights, 4).makespan,
            5.0
        );

        let (spec, graph, selection) = setup(
            "[groups.g]\n[groups.h]\n[tasks.x]\ngroup = \"g\"\n[tasks.y]\ngroup = \"h\"\ndeps = [\"x\"]\n[tasks.z]\ngroup = \"g\"\ndeps = [\"y\"]\n",
        );
        assert_eq!(
            with_barriers(&graph, &spec, &selection, &[Some(1.0); 3], 4),
            None
        );
    }
}
