//! Which task starts next (SPEC §4), as plain data: no processes, no db.
//!
//! Nodes (tasks and group barriers) become *decidable* when every prerequisite has
//! settled successfully; the coordinator then decides each (fresh or run). Tasks that run
//! wait in a ready queue ordered by the longest remaining critical path (weights: last
//! recorded duration, else effort, else 1), then priority, then declaration order, so the
//! long chains start first. At most `-j` run at once and at most a group's `jobs` of that
//! group (ninja's pools), and never two project-root tasks that edit one shared file
//! (`edits`). A failure blocks everything downstream; independent work goes
//! on. Barrier nodes settle by themselves.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::graph::{Graph, Node, Selection};
use crate::spec::{Priority, Spec, TaskIdx};

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    /// Handed to the coordinator to decide.
    Deciding,
    Queued,
    Running,
    Succeeded,
    Failed,
    Blocked,
}

/// A queued task's place in line: larger runs first.
#[derive(Debug, PartialEq)]
struct Rank {
    critical_path: f64,
    priority: Priority,
    local: usize,
}

impl Eq for Rank {}

impl Ord for Rank {
    fn cmp(&self, other: &Rank) -> Ordering {
        self.critical_path
            .total_cmp(&other.critical_path)
            .then(self.priority.cmp(&other.priority))
            .then(other.local.cmp(&self.local))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Rank) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The ready set and the bookkeeping around it for one build.
#[derive(Debug)]
pub(crate) struct Scheduler {
    /// Local index -> graph node, in dependency order.
    nodes: Vec<Node>,
    /// Graph node -> local index (`NONE` when not selected).
    local: Vec<u32>,
    tasks: Vec<Option<TaskIdx>>,
    dependents: Vec<Vec<usize>>,
    pending: Vec<usize>,
    status: Vec<Status>,
    critical_path: Vec<f64>,
    priority: Vec<Priority>,
    group: Vec<Option<usize>>,
    group_limit: Vec<Option<usize>>,
    group_running: Vec<usize>,
    /// Per local index: the shared files it edits in the project root (`edits`), by
    /// number; two tasks that hold one never run at once.
    edits: Vec<Vec<u32>>,
    /// By file number: a running task edits it.
    editing: Vec<bool>,
    ready: BinaryHeap<Rank>,
    decidable: Vec<usize>,
    running: usize,
    stopped: bool,
}

impl Scheduler {
    /// `weight` gives each task's expected duration in seconds.
    pub(crate) fn new(
        graph: &Graph,
        spec: &Spec,
        selection: &Selection,
        weight: impl Fn(TaskIdx) -> f64,
    ) -> Scheduler {
        let count = selection.nodes.len();
        let mut local = vec![NONE; graph.node_count()];
        for (i, &node) in selection.nodes.iter().enumerate() {
            local[node as usize] = i as u32;
        }
        let tasks: Vec<Option<TaskIdx>> =
            selection.nodes.iter().map(|&n| graph.task_of(n)).collect();
        let mut dependents = vec![Vec::new(); count];
        let mut pending = vec![0; count];
        for (i, &node) in selection.nodes.iter().enumerate() {
            for &dep in graph.node_deps(node) {
                let d = local[dep as usize];
                if d != NONE {
                    dependents[d as usize].push(i);
                    pending[i] += 1;
                }
            }
        }
        // The longest path still ahead of each node: the same walk with the graph
        // turned around (dependents as prerequisites, the order reversed).
        let critical_path = crate::critical::longest(
            count,
            (0..count).rev(),
            |i| dependents[i].iter().copied(),
            |i| tasks[i].map_or(0.0, &weight),
        )
        .finish;
        let priority = tasks
            .iter()
            .map(|t| t.map_or(Priority::Medium, |t| spec.task(t).priority))
            .collect();
        let group = tasks
            .iter()
            .map(|t| t.and_then(|t| spec.task(t).group).map(|g| g.index()))
            .collect();
        // The files root-workspace tasks edit, numbered (a worktree task edits its own
        // copy: the merge reconciles them).
        let mut numbers: rustc_hash::FxHashMap<&crate::spec::ProjectPath, u32> =
            rustc_hash::FxHashMap::default();
        let edits: Vec<Vec<u32>> = tasks
            .iter()
            .map(|t| {
                let Some(t) = t.map(|t| spec.task(t)) else {
                    return Vec::new();
                };
                if t.workspace == crate::spec::Workspace::Worktree {
                    return Vec::new();
                }
                t.edits
                    .iter()
                    .map(|path| {
                        let next = numbers.len() as u32;
                        *numbers.entry(path).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        let editing = vec![false; numbers.len()];
        let mut scheduler = Scheduler {
            nodes: selection.nodes.clone(),
            local,
            tasks,
            dependents,
            pending,
            status: vec![Status::Waiting; count],
            critical_path,
            priority,
            group,
            group_limit: spec
                .groups
                .iter()
                .map(|g| g.jobs.map(|j| j.get()))
                .collect(),
            group_running: vec![0; spec.groups.len()],
            edits,
            editing,
            ready: BinaryHeap::new(),
            decidable: Vec::new(),
            running: 0,
            stopped: false,
        };
        for i in 0..count {
            // A barrier with nothing to wait for settles here and may already have
            // released what comes after it: that is not released twice.
            if scheduler.pending[i] == 0 && scheduler.status[i] == Status::Waiting {
                scheduler.became_ready(i);
            }
        }
        scheduler
    }

    fn index(&self, task: TaskIdx) -> usize {
        self.local[task.index()] as usize
    }

    /// Every prerequisite of `i` settled: a task goes to the coordinator, a barrier
    /// settles at once.
    fn became_ready(&mut self, i: usize) {
        if self.tasks[i].is_some() {
            self.status[i] = Status::Deciding;
            self.decidable.push(i);
        } else {
            self.settle(i);
        }
    }

    fn settle(&mut self, i: usize) {
        self.status[i] = Status::Succeeded;
        let mut stack = vec![i];
        while let Some(done) = stack.pop() {
            for k in 0..self.dependents[done].len() {
                let d = self.dependents[done][k];
                self.pending[d] -= 1;
                if self.pending[d] == 0 && self.status[d] == Status::Waiting {
                    if self.tasks[d].is_some() {
                        self.status[d] = Status::Deciding;
                        self.decidable.push(d);
                    } else {
                        self.status[d] = Status::Succeeded;
                        stack.push(d);
                    }
                }
            }
        }
    }

    /// Tasks ready to be decided, in dependency order of when they became ready.
    pub(crate) fn take_decidable(&mut self) -> Vec<TaskIdx> {
        std::mem::take(&mut self.decidable)
            .into_iter()
            .filter_map(|i| self.tasks[i])
            .collect()
    }

    /// `task` must run: put it in line.
    pub(crate) fn queue(&mut self, task: TaskIdx) {
        let i = self.index(task);
        self.status[i] = Status::Queued;
        self.ready.push(Rank {
            critical_path: self.critical_path[i],
            priority: self.priority[i],
            local: i,
        });
    }

    /// The next task to start, if `jobs` allows one and a group pool has room.
    pub(crate) fn next(&mut self, jobs: usize) -> Option<TaskIdx> {
        if self.stopped || self.running >= jobs {
            return None;
        }
        let mut skipped = Vec::new();
        let mut found = None;
        while let Some(rank) = self.ready.pop() {
            let i = rank.local;
            let full = self.group[i].is_some_and(|g| {
                self.group_limit[g].is_some_and(|limit| self.group_running[g] >= limit)
            });
            let busy = self.edits[i].iter().any(|&f| self.editing[f as usize]);
            if full || busy {
                skipped.push(rank);
            } else {
                found = Some(i);
                break;
            }
        }
        self.ready.extend(skipped);
        let i = found?;
        self.status[i] = Status::Running;
        self.running += 1;
        if let Some(g) = self.group[i] {
            self.group_running[g] += 1;
        }
        for &f in &self.edits[i] {
            self.editing[f as usize] = true;
        }
        self.tasks[i]
    }

    fn stop_running(&mut self, i: usize) {
        if self.status[i] == Status::Running {
            self.running -= 1;
            if let Some(g) = self.group[i] {
                self.group_running[g] -= 1;
            }
            for &f in &self.edits[i] {
                self.editing[f as usize] = false;
            }
        }
    }

    /// A failed attempt will be retried: back in line.
    pub(crate) fn retry(&mut self, task: TaskIdx) {
        let i = self.index(task);
        self.stop_running(i);
        self.queue(task);
    }

    /// `task` is done (fresh, or ran successfully): release its dependents.
    pub(crate) fn succeeded(&mut self, task: TaskIdx) {
        let i = self.index(task);
        self.stop_running(i);
        self.settle(i);
    }

    /// `task` failed: every task downstream is blocked. Returns them.
    pub(crate) fn failed(&mut self, task: TaskIdx) -> Vec<TaskIdx> {
        let i = self.index(task);
        self.stop_running(i);
        self.status[i] = Status::Failed;
        let mut blocked = Vec::new();
        let mut stack = vec![i];
        while let Some(done) = stack.pop() {
            for k in 0..self.dependents[done].len() {
                let d = self.dependents[done][k];
                if self.status[d] == Status::Waiting {
                    self.status[d] = Status::Blocked;
                    if let Some(t) = self.tasks[d] {
                        blocked.push(t);
                    }
                    stack.push(d);
                }
            }
        }
        blocked
    }

    /// Start nothing new (`--fail-fast`, Ctrl-C). Running tasks finish.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
    }

    #[cfg(test)]
    fn running(&self) -> usize {
        self.running
    }

    /// Nothing left that could run or finish.
    pub(crate) fn is_idle(&self) -> bool {
        self.running == 0 && self.decidable.is_empty() && (self.stopped || self.ready.is_empty())
    }

    /// Tasks that never got to run or be decided (after a stop), in dependency order.
    pub(crate) fn unfinished(&self) -> Vec<TaskIdx> {
        (0..self.nodes.len())
            .filter(|&i| {
                matches!(
                    self.status[i],
                    Status::Waiting | Status::Queued | Status::Deciding
                )
            })
            .filter_map(|i| self.tasks[i])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn setup(text: &str, weights: &[(&str, f64)]) -> (Spec, Scheduler) {
        let (spec, errors) = crate::spec::parse(
            &SourceFile::new("tasks.toml", text),
            &[],
            &Default::default(),
        )
        .unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let graph = Graph::build(&spec).unwrap();
        let selection = graph.select(&spec, &[]).unwrap();
        let scheduler = Scheduler::new(&graph, &spec, &selection, |t| {
            let id = spec.task(t).id.as_str();
            weights
                .iter()
                .find(|(w, _)| *w == id)
                .map_or(1.0, |(_, w)| *w)
        });
        (spec, scheduler)
    }

    fn ids(spec: &Spec, tasks: &[TaskIdx]) -> Vec<String> {
        tasks.iter().map(|t| spec.task(*t).id.to_string()).collect()
    }

    /// Queue every decidable task; return the order `next` hands them out with -j 1.
    fn drain(spec: &Spec, s: &mut Scheduler) -> Vec<String> {
        let mut order = Vec::new();
        loop {
            for t in s.take_decidable() {
                s.queue(t);
            }
            let Some(t) = s.next(1) else { break };
            order.push(spec.task(t).id.to_string());
            s.succeeded(t);
        }
        order
    }

    #[test]
    fn a_barrier_on_an_empty_group_releases_its_tasks_once() {
        // Found by the property test below: G2 runs after G0, which has no task (or
        // none selected); its barrier settles at once, and t used to be handed out
        // twice (then its second success underflowed the counts).
        let (spec, mut s) = setup(
            "[groups.G0]\n[groups.G2]\nafter = [\"G0\"]\n[tasks.a]\n[tasks.t]\ngroup = \"G2\"\n",
            &[],
        );
        let mut order = drain(&spec, &mut s);
        order.sort();
        assert_eq!(order, ["a", "t"]);
        assert!(s.is_idle());
    }

    #[test]
    fn longest_remaining_path_starts_first() {
        // `short` is declared first and is longer than `a`, but `a` heads a chain of
        // 10 s: it goes first, then `b` (9 s left) before `short` (3 s).
        let (spec, mut s) = setup(
            "[tasks.short]\n[tasks.a]\n[tasks.b]\ndeps = [\"a\"]\n",
            &[("short", 3.0), ("a", 1.0), ("b", 9.0)],
        );
        assert_eq!(drain(&spec, &mut s), ["a", "b", "short"]);
    }

    #[test]
    fn priority_breaks_ties_then_declaration_order() {
        let (spec, mut s) = setup(
            "[tasks.x]\n[tasks.y]\npriority = \"critical\"\n[tasks.z]\n[tasks.w]\npriority = \"low\"\n",
            &[],
        );
        assert_eq!(drain(&spec, &mut s), ["y", "x", "z", "w"]);
    }

    #[test]
    fn jobs_and_group_pools_limit_concurrency() {
        let (spec, mut s) = setup(
            "[groups.G]\njobs = 1\n[tasks.g1]\ngroup = \"G\"\n[tasks.g2]\ngroup = \"G\"\n[tasks.free]\n",
            &[],
        );
        for t in s.take_decidable() {
            s.queue(t);
        }
        let first = s.next(8).unwrap();
        let second = s.next(8).unwrap();
        assert_eq!(ids(&spec, &[first, second]), ["g1", "free"]);
        assert_eq!(s.next(8), None, "the pool of G is full");
        s.succeeded(first);
        assert_eq!(ids(&spec, &[s.next(8).unwrap()]), ["g2"]);
        assert_eq!(s.running(), 2);
        assert_eq!(s.next(2), None, "-j 2 reached");
    }

    #[test]
    fn two_root_tasks_that_edit_one_file_never_run_at_once() {
        let (spec, mut s) = setup(
            "[tasks.r1]\nedits = [\"routes.ts\"]\n[tasks.r2]\nedits = [\"routes.ts\", \"index.ts\"]\n\
             [tasks.w]\nworkspace = \"worktree\"\nedits = [\"routes.ts\"]\n[tasks.free]\n",
            &[],
        );
        for t in s.take_decidable() {
            s.queue(t);
        }
        let first = s.next(8).unwrap();
        let mut others = vec![s.next(8).unwrap(), s.next(8).unwrap()];
        assert_eq!(ids(&spec, &[first]), ["r1"]);
        others.sort();
        assert_eq!(
            ids(&spec, &others),
            ["w", "free"],
            "a worktree edits its own copy"
        );
        assert_eq!(s.next(8), None, "r2 waits for r1: both edit routes.ts");
        s.succeeded(first);
        assert_eq!(ids(&spec, &[s.next(8).unwrap()]), ["r2"]);
    }

    #[test]
    fn failure_blocks_downstream_only() {
        let (spec, mut s) = setup(
            "[tasks.a]\n[tasks.b]\ndeps = [\"a\"]\n[tasks.c]\ndeps = [\"b\"]\n[tasks.d]\n",
            &[],
        );
        let first = s.take_decidable();
        assert_eq!(ids(&spec, &first), ["a", "d"]);
        for t in first {
            s.queue(t);
        }
        let a = s.next(1).unwrap();
        assert_eq!(ids(&spec, &s.failed(a)), ["b", "c"]);
        let d = s.next(1).unwrap();
        assert_eq!(ids(&spec, &[d]), ["d"]);
        s.succeeded(d);
        assert!(s.is_idle());
        assert!(s.unfinished().is_empty());
    }

    #[test]
    fn barriers_release_the_later_group_when_the_earlier_settles() {
        let (spec, mut s) = setup(
            "[groups.A]\n[groups.B]\nafter = [\"A\"]\n[tasks.a1]\ngroup = \"A\"\n[tasks.a2]\ngroup = \"A\"\n[tasks.b]\ngroup = \"B\"\n",
            &[],
        );
        let first = s.take_decidable();
        assert_eq!(ids(&spec, &first), ["a1", "a2"]);
        s.succeeded(first[0]);
        assert!(s.take_decidable().is_empty());
        s.succeeded(first[1]);
        assert_eq!(ids(&spec, &s.take_decidable()), ["b"]);
    }

    #[test]
    fn stop_starts_nothing_new() {
        let (spec, mut s) = setup("[tasks.a]\n[tasks.b]\n[tasks.c]\ndeps = [\"a\"]\n", &[]);
        for t in s.take_decidable() {
            s.queue(t);
        }
        let a = s.next(1).unwrap();
        s.stop();
        assert_eq!(s.next(1), None);
        s.failed(a);
        assert!(s.is_idle());
        assert_eq!(ids(&spec, &s.unfinished()), ["b"]);
    }

    mod properties {
        use std::collections::BTreeSet;

        use proptest::prelude::*;

        use super::*;

        /// A random plan: each task depends on some earlier ones, may be in one of
        /// three groups (pools of 1 to 3; group 2 runs after group 0 as a barrier when
        /// `barrier`), and may fail.
        #[derive(Debug, Clone)]
        struct Plan {
            deps: Vec<Vec<usize>>,
            groups: Vec<Option<usize>>,
            pools: [usize; 3],
            barrier: bool,
            fails: Vec<bool>,
            jobs: usize,
            /// Which running task finishes next, as indices into the running set.
            picks: Vec<usize>,
        }

        fn plan() -> impl Strategy<Value = Plan> {
            (1usize..24).prop_flat_map(|n| {
                (
                    proptest::collection::vec(proptest::collection::vec(any::<usize>(), 0..4), n),
                    proptest::collection::vec(proptest::option::of(0usize..3), n),
                    [1usize..4, 1usize..4, 1usize..4],
                    any::<bool>(),
                    proptest::collection::vec(proptest::bool::weighted(0.15), n),
                    1usize..5,
                    proptest::collection::vec(any::<usize>(), 64),
                )
                    .prop_map(
                        |(deps, groups, pools, barrier, fails, jobs, picks)| Plan {
                            deps: deps
                                .into_iter()
                                .enumerate()
                                .map(|(i, ds)| {
                                    let mut ds: Vec<usize> = ds
                                        .into_iter()
                                        .filter(|_| i > 0)
                                        .map(|d| d % i.max(1))
                                        .collect();
                                    ds.sort_unstable();
                                    ds.dedup();
                                    ds
                                })
                                .collect(),
                            groups,
                            pools,
                            barrier,
                            fails,
                            jobs,
                            picks,
                        },
                    )
            })
        }

        fn config(plan: &Plan) -> String {
            let mut text = String::new();
            for (g, pool) in plan.pools.iter().enumerate() {
                text.push_str(&format!("[groups.G{g}]\njobs = {pool}\n"));
                if g == 2 && plan.barrier {
                    text.push_str("after = [\"G0\"]\n");
                }
            }
            for (i, deps) in plan.deps.iter().enumerate() {
                let deps: Vec<String> = deps.iter().map(|d| format!("\"t{d}\"")).collect();
                text.push_str(&format!(
                    "[tasks.t{i}]\nrun = \"x\"\ndeps = [{}]\n",
                    deps.join(", ")
                ));
                if let Some(g) = plan.groups[i] {
                    text.push_str(&format!("group = \"G{g}\"\n"));
                }
            }
            text
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            /// Never more than -j or a group's pool at once, never a task before its
            /// dependencies (and barriers), and a failure blocks exactly what is
            /// downstream of it.
            #[test]
            fn the_scheduler_keeps_every_bound_on_random_plans(plan in plan()) {
                let text = config(&plan);
                let (spec, errors) =
                    crate::spec::parse(&SourceFile::new("tasks.toml", text.as_str()), &[], &Default::default()).unwrap();
                prop_assert!(errors.is_empty(), "{errors:?}");
                // A barrier can close a cycle with `deps`: such plans are refused at load.
                let graph = Graph::build(&spec);
                prop_assume!(graph.is_ok());
                let graph = graph.unwrap();
                let selection = graph.select(&spec, &[]).unwrap();
                let mut s = Scheduler::new(&graph, &spec, &selection, |_| 1.0);
                let n = plan.deps.len();
                // What each task waits for, barriers included: the graph's own nodes.
                let waits_for = |task: usize| -> BTreeSet<usize> {
                    let mut found = BTreeSet::new();
                    let mut stack: Vec<Node> = graph.node_deps(task as Node).to_vec();
                    while let Some(node) = stack.pop() {
                        match graph.task_of(node) {
                            Some(t) => { found.insert(t.index()); }
                            None => stack.extend(graph.node_deps(node)),
                        }
                    }
                    found
                };
                let mut running: Vec<usize> = Vec::new();
                let mut succeeded = BTreeSet::new();
                let mut failed = BTreeSet::new();
                let mut blocked = BTreeSet::new();
                let mut picks = plan.picks.iter().cycle();
                loop {
                    for t in s.take_decidable() {
                        s.queue(t);
                    }
                    while let Some(t) = s.next(plan.jobs) {
                        let t = t.index();
                        for dep in waits_for(t) {
                            prop_assert!(succeeded.contains(&dep), "t{t} started before t{dep}");
                        }
                        running.push(t);
                        prop_assert!(running.len() <= plan.jobs);
                        for g in 0..3 {
                            let in_group = running.iter().filter(|&&r| plan.groups[r] == Some(g)).count();
                            prop_assert!(in_group <= plan.pools[g], "group G{g} over its pool");
                        }
                    }
                    if running.is_empty() {
                        prop_assert!(s.is_idle());
                        break;
                    }
                    let at = picks.next().copied().unwrap_or(0) % running.len();
                    let t = running.swap_remove(at);
                    if plan.fails[t] {
                        failed.insert(t);
                        for b in s.failed(TaskIdx(t as u32)) {
                            prop_assert!(blocked.insert(b.index()), "blocked twice");
                        }
                    } else {
                        succeeded.insert(t);
                        s.succeeded(TaskIdx(t as u32));
                    }
                }
                // Exactly the tasks downstream of a failure are blocked; all else ran.
                let mut downstream = BTreeSet::new();
                for t in 0..n {
                    if !failed.contains(&t) && (0..n).any(|f| failed.contains(&f) && depends_on(&waits_for, t, f)) {
                        downstream.insert(t);
                    }
                }
                prop_assert_eq!(&blocked, &downstream);
                prop_assert_eq!(succeeded.len() + failed.len() + blocked.len(), n);
            }
        }

        /// Whether `task` depends on `on`, directly or not.
        fn depends_on(
            waits_for: &dyn Fn(usize) -> BTreeSet<usize>,
            task: usize,
            on: usize,
        ) -> bool {
            let mut stack: Vec<usize> = waits_for(task).into_iter().collect();
            let mut seen = BTreeSet::new();
            while let Some(t) = stack.pop() {
                if t == on {
                    return true;
                }
                if seen.insert(t) {
                    stack.extend(waits_for(t));
                }
            }
            false
        }
    }
}
