//! The task graph: explicit `deps` ∪ inferred deps ∪ group barriers (SPEC §2).
//!
//! Plain data built once from a [`Spec`]; no I/O, no salsa. A task depends on another
//! when it lists it in `deps`, or when one of its inputs (a path, a section's file, or a
//! glob matched against *declared* outputs, so this works before anything ran) names
//! that task's output or a file inside its directory output. `after` barriers are not
//! expanded into |A|×|B| edges: each barrier is one extra node that depends on every task
//! of the earlier group, and every task of the later group depends on that node, so a
//! barrier costs |A|+|B| edges (ninja's phony-edge trick). Cycles are reported with the
//! path and the reason for each step, like `T4 -> T9 -> T4`.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobMatcher, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::source::{Location, Span};
use crate::spec::{GroupIdx, InputKind, ProjectPath, Spec, SpecError, SpecErrorKind, TaskIdx};
use crate::suggest::did_you_mean;

/// Why a task depends on another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DepReason {
    /// Listed in `deps`.
    Explicit { span: Span },
    /// An input names `output`, which the dependency declares.
    Inferred { span: Span, output: String },
}

/// A direct dependency of a task on a task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TaskDep {
    pub(crate) task: TaskIdx,
    pub(crate) reason: DepReason,
}

/// A node: tasks first (`0..tasks`), then one barrier node per group that some group
/// runs `after`.
pub(crate) type Node = u32;

/// The dependency graph of a validated spec.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Graph {
    task_count: usize,
    /// Direct task-to-task dependencies with their reasons, per task, sorted by task.
    #[serde(deserialize_with = "crate::presized::vec")]
    task_deps: Vec<Vec<TaskDep>>,
    /// Prerequisites of every node (tasks, then barriers), deduplicated.
    #[serde(deserialize_with = "crate::presized::vec")]
    deps: Vec<Vec<Node>>,
    /// The group each barrier node stands for (index: node - task_count).
    barrier_groups: Vec<GroupIdx>,
    /// Number of `after` relations.
    barriers: usize,
}

/// What `conduct build T9` means: the targets and everything they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Selected tasks in a dependency order (each after all of its dependencies).
    pub(crate) tasks: Vec<TaskIdx>,
    /// Every selected node (tasks and barriers) in a dependency order.
    pub(crate) nodes: Vec<Node>,
}

/// A target that names no task or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownTarget {
    pub(crate) target: String,
    pub(crate) suggestion: Option<String>,
}

impl Graph {
    /// Build the graph; errors are a task reading its own output and dependency cycles.
    pub(crate) fn build(spec: &Spec) -> Result<Graph, Vec<SpecError>> {
        let n = spec.tasks.len();
        let mut errors = Vec::new();
        let mut task_deps: Vec<Vec<TaskDep>> = vec![Vec::new(); n];
        let error = |span: Span, kind| SpecError {
            at: Location::new(&spec.source, span),
            kind,
        };

        for (i, task) in spec.tasks.iter().enumerate() {
            for dep in &task.deps {
                task_deps[i].push(TaskDep {
                    task: dep.task,
                    reason: DepReason::Explicit { span: dep.span },
                });
            }
        }
        infer(spec, &mut task_deps, &mut |task, span, path| {
            errors.push(error(
                span,
                SpecErrorKind::OutputIsInput {
                    task: spec.tasks[task.index()].id.to_string(),
                    path,
                },
            ))
        });
        for deps in &mut task_deps {
            // Stable: an explicit reason stays ahead of inferred ones for the same task.
            deps.sort_by_key(|d| d.task);
            deps.dedup_by_key(|d| d.task);
        }

        let mut deps: Vec<Vec<Node>> = task_deps
            .iter()
            .map(|ds| ds.iter().map(|d| d.task.0).collect())
            .collect();
        let mut barrier_node: HashMap<GroupIdx, Node> = HashMap::new();
        let mut barrier_groups = Vec::new();
        let mut barriers = 0;
        for group in &spec.groups {
            for &earlier in &group.after {
                barriers += 1;
                let node = *barrier_node.entry(earlier).or_insert_with(|| {
                    barrier_groups.push(earlier);
                    deps.push(spec.group(earlier).tasks.iter().map(|t| t.0).collect());
                    (n + barrier_groups.len() - 1) as Node
                });
                for task in &group.tasks {
                    deps[task.index()].push(node);
                }
            }
        }

        let graph = Graph {
            task_count: n,
            task_deps,
            deps,
            barrier_groups,
            barriers,
        };
        errors.extend(graph.cycles(spec));
        if errors.is_empty() {
            Ok(graph)
        } else {
            Err(errors)
        }
    }

    /// Direct task dependencies (explicit and inferred) with reasons; barriers excluded.
    pub(crate) fn task_deps(&self, task: TaskIdx) -> &[TaskDep] {
        &self.task_deps[task.index()]
    }

    /// Number of distinct direct task-to-task edges.
    pub(crate) fn edge_count(&self) -> usize {
        self.task_deps.iter().map(Vec::len).sum()
    }

    /// Number of `after` relations between groups.
    pub(crate) fn barrier_count(&self) -> usize {
        self.barriers
    }

    fn is_task(&self, node: Node) -> bool {
        (node as usize) < self.task_count
    }

    /// Whether this graph can be used with a spec of `tasks` tasks and `groups` groups:
    /// every index in bounds. A graph read back from the spec cache is checked so before
    /// use: a file that passed its checksum may still not be conduct's doing. (A cycle
    /// would not be unsafe: the nodes on it are never ready, and are reported blocked.)
    pub(crate) fn is_sound(&self, tasks: usize, groups: usize) -> bool {
        let nodes = self.deps.len();
        self.task_count == tasks
            && self.task_deps.len() == tasks
            && nodes == tasks + self.barrier_groups.len()
            && self.barrier_groups.iter().all(|g| g.index() < groups)
            && self
                .task_deps
                .iter()
                .flatten()
                .all(|d| d.task.index() < tasks)
            && self.deps.iter().flatten().all(|&n| (n as usize) < nodes)
    }

    /// Tasks and barrier nodes together.
    pub(crate) fn node_count(&self) -> usize {
        self.deps.len()
    }

    /// Prerequisites of a node (tasks and barriers), for the scheduler.
    pub(crate) fn node_deps(&self, node: Node) -> &[Node] {
        &self.deps[node as usize]
    }

    /// The task a node stands for (`None` for a barrier).
    pub(crate) fn task_of(&self, node: Node) -> Option<TaskIdx> {
        self.is_task(node).then_some(TaskIdx(node))
    }

    fn node_name(&self, spec: &Spec, node: Node) -> String {
        if self.is_task(node) {
            spec.task(TaskIdx(node)).id.to_string()
        } else {
            let group = self.barrier_groups[node as usize - self.task_count];
            format!("[{}]", spec.group(group).name)
        }
    }

    /// Every cycle found by a depth-first search, one error each.
    fn cycles(&self, spec: &Spec) -> Vec<SpecError> {
        const WHITE: u8 = 0;
        const GREY: u8 = 1;
        const BLACK: u8 = 2;
        let mut color = vec![WHITE; self.deps.len()];
        let mut errors = Vec::new();
        for start in 0..self.deps.len() {
            if color[start] != WHITE {
                continue;
            }
            // Iterative DFS: (node, next child position); `path` mirrors the stack.
            let mut stack: Vec<(Node, usize)> = vec![(start as Node, 0)];
            color[start] = GREY;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&child) = self.deps[node as usize].get(*next) {
                    *next += 1;
                    match color[child as usize] {
                        WHITE => {
                            color[child as usize] = GREY;
                            stack.push((child, 0));
                        }
                        GREY => {
                            let from = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                            let mut cycle: Vec<Node> =
                                stack[from..].iter().map(|&(n, _)| n).collect();
                            cycle.push(child);
                            errors.push(self.cycle_error(spec, &cycle));
                        }
                        _ => {}
                    }
                } else {
                    color[node as usize] = BLACK;
                    stack.pop();
                }
            }
        }
        errors
    }

    /// `cycle` is a node path where each node depends on the next; first == last.
    fn cycle_error(&self, spec: &Spec, cycle: &[Node]) -> SpecError {
        let names: Vec<String> = cycle.iter().map(|&n| self.node_name(spec, n)).collect();
        let mut because = Vec::new();
        let mut span = None;
        for pair in cycle.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            if self.is_task(from) && self.is_task(to) {
                let task = spec.task(TaskIdx(from));
                let reason = self.task_deps[from as usize]
                    .iter()
                    .find(|d| d.task.0 == to)
                    .map(|d| &d.reason);
                let dep = spec.task(TaskIdx(to)).id.as_str();
                match reason {
                    Some(DepReason::Explicit { span: s }) => {
                        span.get_or_insert(*s);
                        because.push(format!("{} lists {dep} in `deps`", task.id));
                    }
                    Some(DepReason::Inferred { span: s, output }) => {
                        span.get_or_insert(*s);
                        because.push(format!("{} reads `{output}`, an output of {dep}", task.id));
                    }
                    None => {}
                }
            } else if self.is_task(from) {
                let task = spec.task(TaskIdx(from));
                let earlier = self.barrier_groups[to as usize - self.task_count];
                if let Some(group) = task.group {
                    span.get_or_insert(spec.group(group).span);
                    because.push(format!(
                        "{} is in group `{}`, which runs after group `{}`",
                        task.id,
                        spec.group(group).name,
                        spec.group(earlier).name
                    ));
                }
            }
        }
        let span = span.unwrap_or_else(|| spec.task(TaskIdx(cycle[0])).span);
        SpecError {
            at: Location::new(&spec.source, span),
            kind: SpecErrorKind::Cycle {
                cycle: names,
                because,
            },
        }
    }

    /// The tasks `targets` name (ids, groups, or `all`) plus everything they depend on.
    pub(crate) fn select(
        &self,
        spec: &Spec,
        targets: &[String],
    ) -> Result<Selection, UnknownTarget> {
        let mut wanted = vec![false; self.deps.len()];
        let mut stack: Vec<Node> = Vec::new();
        let targets: Vec<&str> = if targets.is_empty() {
            vec!["all"]
        } else {
            targets.iter().map(String::as_str).collect()
        };
        for target in targets {
            if target == "all" {
                stack.extend(0..self.task_count as Node);
            } else if let Some(task) = spec.find_task(target) {
                stack.push(task.0);
            } else if let Some(group) = spec.find_group(target) {
                stack.extend(spec.group(group).tasks.iter().map(|t| t.0));
            } else {
                let names = spec
                    .tasks
                    .iter()
                    .map(|t| t.id.as_str())
                    .chain(spec.groups.iter().map(|g| g.name.as_str()))
                    .chain(["all"]);
                return Err(UnknownTarget {
                    target: target.to_owned(),
                    suggestion: did_you_mean(target, names),
                });
            }
        }
        while let Some(node) = stack.pop() {
            if !std::mem::replace(&mut wanted[node as usize], true) {
                stack.extend(&self.deps[node as usize]);
            }
        }
        let nodes: Vec<Node> = self
            .topological_order()
            .into_iter()
            .filter(|&node| wanted[node as usize])
            .collect();
        let tasks = nodes
            .iter()
            .filter(|&&node| self.is_task(node))
            .map(|&node| TaskIdx(node))
            .collect();
        Ok(Selection { tasks, nodes })
    }

    /// Which tasks the targets name themselves (not the dependencies they bring).
    pub(crate) fn select_named(
        &self,
        spec: &Spec,
        targets: &[String],
    ) -> Result<Vec<bool>, UnknownTarget> {
        let mut named = vec![false; self.task_count];
        for target in targets {
            if target == "all" {
                named.iter_mut().for_each(|n| *n = true);
            } else if let Some(task) = spec.find_task(target) {
                named[task.index()] = true;
            } else if let Some(group) = spec.find_group(target) {
                for task in &spec.group(group).tasks {
                    named[task.index()] = true;
                }
            } else {
                // `select` reports unknown targets with a suggestion.
                self.select(spec, std::slice::from_ref(target))?;
            }
        }
        Ok(named)
    }

    /// All nodes, each after its prerequisites; ties in declaration order (Kahn).
    fn topological_order(&self) -> Vec<Node> {
        let count = self.deps.len();
        let mut pending: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<Node>> = vec![Vec::new(); count];
        for (node, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                dependents[d as usize].push(node as Node);
            }
        }
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<Node>> = (0..count)
            .filter(|&n| pending[n] == 0)
            .map(|n| std::cmp::Reverse(n as Node))
            .collect();
        let mut order = Vec::with_capacity(count);
        while let Some(std::cmp::Reverse(node)) = ready.pop() {
            order.push(node);
            for &d in &dependents[node as usize] {
                pending[d as usize] -= 1;
                if pending[d as usize] == 0 {
                    ready.push(std::cmp::Reverse(d));
                }
            }
        }
        order
    }
}

/// Add inferred dependencies; report inputs that name the task's own outputs.
fn infer(
    spec: &Spec,
    task_deps: &mut [Vec<TaskDep>],
    own_output: &mut impl FnMut(TaskIdx, Span, String),
) {
    let mut globs: Vec<(TaskIdx, Span, &str)> = Vec::new();
    let mut glob_set = GlobSetBuilder::new();
    for (i, task) in spec.tasks.iter().enumerate() {
        let idx = TaskIdx(i as u32);
        for input in &task.inputs {
            let path = match &input.kind {
                InputKind::File(path) => path,
                InputKind::Section { file, .. } => file,
                InputKind::Glob(glob) => {
                    glob_set.add(glob.glob.clone());
                    globs.push((idx, input.span, glob.text.as_str()));
                    continue;
                }
                InputKind::Command(_) | InputKind::Program(_) => continue,
            };
            if let Some(producer) = spec.outputs.producer_of(path) {
                link(
                    task_deps,
                    own_output,
                    idx,
                    producer,
                    input.span,
                    path.to_string(),
                );
            }
        }
    }
    if globs.is_empty() {
        return;
    }
    let Ok(glob_set) = glob_set.build() else {
        return;
    };
    let mut hits = Vec::new();
    let mut files: Vec<(&ProjectPath, TaskIdx)> = spec.outputs.files().collect();
    files.sort();
    for (path, producer) in files {
        glob_set.matches_into(path.as_str(), &mut hits);
        for &g in &hits {
            let (task, span, _) = globs[g];
            link(
                task_deps,
                own_output,
                task,
                producer,
                span,
                path.to_string(),
            );
        }
    }
    // Directory outputs: a glob depends on one when it could match a file inside it.
    let mut dirs: Vec<(&ProjectPath, TaskIdx)> = spec.outputs.dirs().collect();
    if dirs.is_empty() {
        return;
    }
    dirs.sort();
    let mut by_first: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (dir, _)) in dirs.iter().enumerate() {
        let first = dir.components().next().unwrap_or("");
        by_first.entry(first).or_default().push(i);
    }
    for (task, span, text) in globs {
        let parts = GlobParts::new(text);
        let candidates: Box<dyn Iterator<Item = usize>> = match parts.literal_first() {
            Some(first) => Box::new(by_first.get(first).into_iter().flatten().copied()),
            None => Box::new(0..dirs.len()),
        };
        for i in candidates {
            let (dir, producer) = dirs[i];
            let components: Vec<&str> = dir.components().collect();
            if parts.may_match_inside(&components) {
                link(
                    task_deps,
                    own_output,
                    task,
                    producer,
                    span,
                    format!("{dir}/"),
                );
            }
        }
    }
}

fn link(
    task_deps: &mut [Vec<TaskDep>],
    own_output: &mut impl FnMut(TaskIdx, Span, String),
    task: TaskIdx,
    producer: TaskIdx,
    span: Span,
    output: String,
) {
    if producer == task {
        own_output(task, span, output);
    } else {
        task_deps[task.index()].push(TaskDep {
            task: producer,
            reason: DepReason::Inferred { span, output },
        });
    }
}

/// A glob split at `/`, to ask whether it could match a file under a directory.
struct GlobParts {
    parts: Vec<Part>,
}

enum Part {
    Literal(String),
    AnyDepth,
    Pattern(GlobMatcher),
}

impl GlobParts {
    fn new(text: &str) -> GlobParts {
        // An alternation containing `/` cannot be split by component: treat it as "could
        // match anything from here".
        let brace_with_slash = text.split('{').skip(1).any(|rest| {
            rest.split('}')
                .next()
                .is_some_and(|inner| inner.contains('/'))
        });
        if brace_with_slash {
            return GlobParts {
                parts: vec![Part::AnyDepth],
            };
        }
        let parts = text
            .split('/')
            .map(|component| {
                if component.contains("**") {
                    Part::AnyDepth
                } else if component.contains(['*', '?', '[', '{']) {
                    GlobBuilder::new(component)
                        .literal_separator(true)
                        .build()
                        .map_or(Part::AnyDepth, |g| Part::Pattern(g.compile_matcher()))
                } else {
                    Part::Literal(component.to_owned())
                }
            })
            .collect();
        GlobParts { parts }
    }

    fn literal_first(&self) -> Option<&str> {
        match self.parts.first() {
            Some(Part::Literal(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether some path inside the directory `dir` (given as components) could match.
    fn may_match_inside(&self, dir: &[&str]) -> bool {
        let mut parts = self.parts.iter();
        for component in dir {
            match parts.next() {
                // The glob ends at an ancestor of the directory (or the directory itself
                // when it ends exactly here; handled below).
                None => return false,
                Some(Part::AnyDepth) => return true,
                Some(Part::Literal(l)) if l == component => {}
                Some(Part::Pattern(m)) if m.is_match(component) => {}
                Some(_) => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
