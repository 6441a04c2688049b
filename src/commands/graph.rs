//! `conduct graph`: the dependency graph as Graphviz dot, Mermaid or JSON.
//!
//! Edges point from a dependency to its dependent (the direction work flows). Groups
//! are drawn as clusters/subgraphs; an `after` barrier is one dashed edge between two
//! groups rather than |A|×|B| edges. Node names in Mermaid are generated (`t0`, `g0`)
//! because task ids such as `end` or `a-b` are not valid Mermaid identifiers.
//!
//! Tasks are coloured by where they stand, decided as `list` and `build` decide:
//! fresh, stale (would run), failed (last run or a required check), or blocked
//! (downstream of a failure). A plan whose input files do not exist yet draws
//! uncoloured rather than failing.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::commands::Stdout;
use crate::commands::check::to_json;
use crate::commands::list::{self, TaskStatus};
use crate::error::Error;
use crate::graph::DepReason;
use crate::graph::Selection;
use crate::project::open::Access;
use crate::project::{Locator, Project};
use crate::session::Session;
use crate::spec::{Group, Spec, TaskIdx};

/// The output formats of `conduct graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

pub(crate) fn run(
    locator: &Locator,
    targets: &[String],
    format: GraphFormat,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let (project, selection, statuses) = match with_statuses(locator, targets) {
        Ok(found) => found,
        // Statuses need the inputs on disk (hashing); a plan whose files do not exist
        // yet still draws, uncoloured.
        Err(error @ Error::UnknownTarget { .. }) => return Err(error),
        Err(_) => {
            let project = locator.load()?;
            let selection = project.loaded.graph.select(&project.loaded.spec, targets)?;
            (project, selection, None)
        }
    };
    let view = View::new(&project, &selection.tasks, statuses);
    let text = match format {
        GraphFormat::Dot => dot(&view),
        GraphFormat::Mermaid => mermaid(&view),
        GraphFormat::Json => to_json(&json(&view)) + "\n",
    };
    out.write(&text)?;
    Ok(0)
}

/// Where a task stands, as the graph colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Fresh,
    Stale,
    Failed,
    /// Downstream of a failed task.
    Blocked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "stale",
            Status::Failed => "failed",
            Status::Blocked => "blocked",
        }
    }

    /// (fill, border) colours.
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Status::Fresh => ("#c8e6c9", "#2e7d32"),
            Status::Stale => ("#fff3c4", "#b28704"),
            Status::Failed => ("#ffcdd2", "#c62828"),
            Status::Blocked => ("#e0e0e0", "#616161"),
        }
    }

    const ALL: [Status; 4] = [
        Status::Fresh,
        Status::Stale,
        Status::Failed,
        Status::Blocked,
    ];
}

/// The graph of `tasks` without statuses, in `format`: what the fuzz targets render.
pub(crate) fn render(project: &Project, tasks: &[TaskIdx], format: GraphFormat) -> String {
    let view = View::new(project, tasks, None);
    match format {
        GraphFormat::Dot => dot(&view),
        GraphFormat::Mermaid => mermaid(&view),
        GraphFormat::Json => to_json(&json(&view)) + "\n",
    }
}

/// The project, the selection and each task's status, as `list` decides it.
fn with_statuses(
    locator: &Locator,
    targets: &[String],
) -> Result<(Project, Selection, Option<Vec<Status>>), Error> {
    let mut session = Session::open(locator, Access::Read)?;
    let loaded = Arc::clone(session.loaded());
    let selection = loaded.graph.select(&loaded.spec, targets)?;
    let mut round = session.prepare(&selection, &crate::exec::local::LocalExecutor::new())?;
    let decided = list::statuses(&mut round, &selection);
    session.finish();
    let statuses: Vec<Status> = decided
        .iter()
        .map(|s| match s {
            TaskStatus::Fresh => Status::Fresh,
            TaskStatus::Failed | TaskStatus::Edited => Status::Failed,
            TaskStatus::Stale | TaskStatus::NeverBuilt => Status::Stale,
            TaskStatus::Blocked => Status::Blocked,
        })
        .collect();
    Ok((Project { loaded }, selection, Some(statuses)))
}

/// The part of the graph being drawn: the selected tasks, their groups and the edges
/// between them.
struct View<'p> {
    spec: &'p Spec,
    project: &'p Project,
    selected: Vec<bool>,
    statuses: Option<Vec<Status>>,
}

impl<'p> View<'p> {
    fn new(project: &'p Project, tasks: &[TaskIdx], statuses: Option<Vec<Status>>) -> View<'p> {
        let mut selected = vec![false; project.loaded.spec.tasks.len()];
        for t in tasks {
            selected[t.index()] = true;
        }
        View {
            spec: &project.loaded.spec,
            project,
            selected,
            statuses,
        }
    }

    fn status(&self, task: TaskIdx) -> Option<Status> {
        self.statuses.as_ref().map(|s| s[task.index()])
    }

    fn tasks(&self) -> impl Iterator<Item = TaskIdx> + '_ {
        self.spec
            .task_indices()
            .filter(|t| self.selected[t.index()])
    }

    /// Selected members of `group`, in declaration order.
    fn members<'g>(&'g self, group: &'g Group) -> impl Iterator<Item = TaskIdx> + 'g {
        group
            .tasks
            .iter()
            .copied()
            .filter(|t| self.selected[t.index()])
    }

    fn ungrouped(&self) -> impl Iterator<Item = TaskIdx> + '_ {
        self.tasks().filter(|&t| self.spec.task(t).group.is_none())
    }

    /// Every direct edge between selected tasks as (dependency, dependent, why).
    fn edges(&self) -> impl Iterator<Item = (TaskIdx, TaskIdx, &'p DepReason)> + '_ {
        self.tasks().flat_map(move |task| {
            self.project
                .loaded
                .graph
                .task_deps(task)
                .iter()
                .filter(|d| self.selected[d.task.index()])
                .map(move |d| (d.task, task, &d.reason))
        })
    }
}

fn dot_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn group_label(group: &Group) -> String {
    match &group.title {
        Some(title) => format!("{}: {title}", group.name),
        None => group.name.to_string(),
    }
}

fn dot(view: &View<'_>) -> String {
    let spec = view.spec;
    let mut out = String::from(
        "digraph conduct {\n  rankdir=LR;\n  compound=true;\n  fontname=\"Helvetica\";\n",
    );
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    let node = |out: &mut String, indent: &str, idx: TaskIdx| {
        let task = spec.task(idx);
        let colour = view.status(idx).map_or(String::new(), |status| {
            let (fill, border) = status.colours();
            format!(
                ", style=\"rounded,filled\", fillcolor=\"{fill}\", color=\"{border}\", tooltip=\"{}\"",
                status.as_str()
            )
        });
        let _ = writeln!(
            out,
            "{indent}{} [label={}{colour}];",
            dot_quote(task.id.as_str()),
            dot_quote(&task.label("\n"))
        );
    };
    for (g, group) in spec.groups.iter().enumerate() {
        if view.members(group).next().is_none() {
            continue;
        }
        let _ = writeln!(out, "  subgraph {} {{", dot_quote(&format!("cluster_{g}")));
        let _ = writeln!(out, "    label={};", dot_quote(&group_label(group)));
        for task in view.members(group) {
            node(&mut out, "    ", task);
        }
        out.push_str("  }\n");
    }
    for idx in view.ungrouped() {
        node(&mut out, "  ", idx);
    }
    for (from, to, reason) in view.edges() {
        let style = match reason {
            DepReason::Explicit { .. } => "",
            DepReason::Inferred { .. } => " [color=\"gray40\"]",
        };
        let _ = writeln!(
            out,
            "  {} -> {}{style};",
            dot_quote(spec.task(from).id.as_str()),
            dot_quote(spec.task(to).id.as_str())
        );
    }
    for (g, group) in spec.groups.iter().enumerate() {
        for &earlier in &group.after {
            let (Some(a), Some(b)) = (
                view.members(spec.group(earlier)).next(),
                view.members(group).next(),
            ) else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {} -> {} [ltail={}, lhead={}, style=dashed, label=\"after\"];",
                dot_quote(spec.task(a).id.as_str()),
                dot_quote(spec.task(b).id.as_str()),
                dot_quote(&format!("cluster_{}", earlier.index())),
                dot_quote(&format!("cluster_{g}")),
            );
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_label(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

fn mermaid(view: &View<'_>) -> String {
    let spec = view.spec;
    let mut out = String::from("flowchart LR\n");
    let node = |out: &mut String, indent: &str, idx: TaskIdx| {
        let task = spec.task(idx);
        let _ = writeln!(
            out,
            "{indent}t{}[{}]",
            idx.0,
            mermaid_label(&task.label(": "))
        );
    };
    let drawn: Vec<bool> = spec
        .groups
        .iter()
        .map(|g| view.members(g).next().is_some())
        .collect();
    for (g, group) in spec.groups.iter().enumerate() {
        if !drawn[g] {
            continue;
        }
        let _ = writeln!(
            out,
            "  subgraph g{g}[{}]",
            mermaid_label(&group_label(group))
        );
        for task in view.members(group) {
            node(&mut out, "    ", task);
        }
        out.push_str("  end\n");
    }
    for idx in view.ungrouped() {
        node(&mut out, "  ", idx);
    }
    for (from, to, reason) in view.edges() {
        let arrow = match reason {
            DepReason::Explicit { .. } => "-->",
            DepReason::Inferred { .. } => "-.->",
        };
        let _ = writeln!(out, "  t{} {arrow} t{}", from.0, to.0);
    }
    for (g, group) in spec.groups.iter().enumerate() {
        for &earlier in &group.after {
            if drawn[g] && drawn[earlier.index()] {
                let _ = writeln!(out, "  g{} ==>|after| g{g}", earlier.index());
            }
        }
    }
    if view.statuses.is_some() {
        for status in Status::ALL {
            let members: Vec<String> = view
                .tasks()
                .filter(|&t| view.status(t) == Some(status))
                .map(|t| format!("t{}", t.0))
                .collect();
            if members.is_empty() {
                continue;
            }
            let (fill, border) = status.colours();
            let _ = writeln!(
                out,
                "  classDef {} fill:{fill},stroke:{border}",
                status.as_str()
            );
            let _ = writeln!(out, "  class {} {}", members.join(","), status.as_str());
        }
    }
    out
}

#[derive(Serialize)]
struct JsonGraph<'a> {
    tasks: Vec<JsonNode<'a>>,
    groups: Vec<JsonGroup<'a>>,
    edges: Vec<JsonEdge<'a>>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    id: &'a str,
    title: &'a str,
    group: Option<&'a str>,
    /// `fresh`, `stale`, `failed` or `blocked`; absent when the inputs could not be
    /// looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    name: &'a str,
    title: Option<&'a str>,
    after: Vec<&'a str>,
}

/// `task` depends on `dep`, `kind` says why (`explicit` or `inferred` from `output`).
#[derive(Serialize)]
struct JsonEdge<'a> {
    task: &'a str,
    dep: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a str>,
}

fn json<'p>(view: &View<'p>) -> JsonGraph<'p> {
    let spec: &'p Spec = view.spec;
    JsonGraph {
        tasks: view
            .tasks()
            .map(|idx| {
                let t = spec.task(idx);
                JsonNode {
                    id: t.id.as_str(),
                    title: t.display_title(),
                    group: t.group.map(|g| spec.group(g).name.as_str()),
                    status: view.status(idx).map(Status::as_str),
                }
            })
            .collect(),
        groups: spec
            .groups
            .iter()
            .filter(|g| view.members(g).next().is_some())
            .map(|g| JsonGroup {
                name: g.name.as_str(),
                title: g.title.as_deref(),
                after: g
                    .after
                    .iter()
                    .map(|&a| spec.group(a).name.as_str())
                    .collect(),
            })
            .collect(),
        edges: view
            .edges()
            .map(|(dep, task, reason)| JsonEdge {
                task: spec.task(task).id.as_str(),
                dep: spec.task(dep).id.as_str(),
                kind: match reason {
                    DepReason::Explicit { .. } => "explicit",
                    DepReason::Inferred { .. } => "inferred",
                },
                output: match reason {
                    DepReason::Explicit { .. } => None,
                    DepReason::Inferred { output, .. } => Some(output.as_str()),
                },
            })
            .collect(),
    }
}
