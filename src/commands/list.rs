//! `conduct list`: the plan at a glance, tasks by group in declaration order, with
//! title, effort, agent and direct dependencies. `--json` gives tools the whole resolved
//! model instead (like `cargo metadata`): project settings, groups, every task with its
//! normalised inputs, outputs, command and checks, and the rules. Each task's status
//! (fresh, stale, failed, never built) comes from the same decision a build makes
//! (`build::plan`), so `list` and `build` never disagree.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::commands::Stdout;
use crate::commands::check::to_json;
use crate::error::Error;
use std::sync::Arc;

use crate::build::{self, Planned};
use crate::explain::RunStatus;
use crate::graph::Selection;
use crate::project::open::Access;
use crate::project::{Locator, Project};
use crate::rules::{Rule, RuleCheck};
use crate::session::Session;
use crate::session::round::Round;
use crate::spec::{Input, InputKind, Output, Run, Task, TaskIdx};
use crate::text;
use crate::units::format_duration;

#[derive(Serialize)]
struct JsonList<'a> {
    project: JsonProject<'a>,
    groups: Vec<JsonGroup<'a>>,
    tasks: Vec<JsonTask<'a>>,
    rules: Vec<JsonRule<'a>>,
}

#[derive(Serialize)]
struct JsonProject<'a> {
    name: Option<&'a str>,
    jobs: Option<usize>,
    shell: &'a [String],
    hash_env: &'a [String],
    cache: &'a str,
    worktrees: &'a str,
    worktree_setup: Option<&'a str>,
    keep_runs: usize,
}

#[derive(Serialize)]
struct JsonRule<'a> {
    name: &'a str,
    description: Option<&'a str>,
    applies_to: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    builtin: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forbid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    required: bool,
}

/// One input, tagged by its form.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum JsonInput<'a> {
    File(&'a str),
    Glob(&'a str),
    Section { path: &'a str, section: &'a str },
    Command(&'a str),
    Program(&'a str),
}

#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum JsonRun<'a> {
    Shell(&'a str),
    Exec(&'a [String]),
    Agent(&'a crate::spec::agent::AgentRun),
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    name: &'a str,
    title: Option<&'a str>,
    after: Vec<&'a str>,
    jobs: Option<usize>,
    timeout_seconds: Option<u64>,
    tasks: Vec<&'a str>,
}

#[derive(Serialize)]
struct JsonTask<'a> {
    id: &'a str,
    status: &'static str,
    title: &'a str,
    group: Option<&'a str>,
    priority: &'static str,
    effort: Option<String>,
    effort_seconds: Option<u64>,
    agent: Option<&'a str>,
    deps: Vec<&'a str>,
    inputs: Vec<JsonInput<'a>>,
    outputs: Vec<String>,
    run: Option<JsonRun<'a>>,
    env: &'a BTreeMap<String, String>,
    checks: &'a [String],
    timeout_seconds: Option<u64>,
    retries: u32,
    workspace: &'static str,
    quiet: bool,
}

pub(crate) fn run(locator: &Locator, json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let mut session = Session::open(locator, Access::Read)?;
    let loaded = Arc::clone(session.loaded());
    let selection = loaded.graph.select(&loaded.spec, &[])?;
    let mut round = session.prepare(&selection, &crate::exec::local::LocalExecutor::new())?;
    let statuses: Vec<&'static str> = statuses(&mut round, &selection)
        .into_iter()
        .map(TaskStatus::as_str)
        .collect();
    let project = Project { loaded };
    let text = if json {
        to_json(&json_list(&project, &statuses)) + "\n"
    } else {
        table(&project, &statuses)
    };
    out.write(&text)?;
    Ok(0)
}

/// Where a task stands now, as a build would decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskStatus {
    Fresh,
    Stale,
    Failed,
    NeverBuilt,
    /// An output was changed by hand since conduct wrote it.
    Edited,
    /// A dependency failed or is edited: a build would not get to it.
    Blocked,
}

impl TaskStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Fresh => "fresh",
            TaskStatus::Stale => "stale",
            TaskStatus::Failed => "failed",
            TaskStatus::NeverBuilt => "never built",
            TaskStatus::Edited => "edited",
            TaskStatus::Blocked => "blocked",
        }
    }
}

/// Every task's status (by task index; unselected tasks count as never built), from the
/// decision a build would make (`build::plan`) and the last run: the one status `list`,
/// `graph` and `status` show.
pub(crate) fn statuses(round: &mut Round<'_>, selection: &Selection) -> Vec<TaskStatus> {
    let loaded = Arc::clone(round.session().loaded());
    let no_force = vec![false; loaded.spec.tasks.len()];
    let mut statuses = vec![TaskStatus::NeverBuilt; loaded.spec.tasks.len()];
    for (task, planned) in build::plan(round, selection, &no_force) {
        let state = round
            .session()
            .state()
            .tasks
            .get(loaded.spec.task(task).id.as_str());
        let failed = state
            .and_then(|s| s.last_run.as_ref())
            .is_some_and(|l| l.status != RunStatus::Ok);
        let built = state.is_some_and(|s| s.success.is_some());
        statuses[task.index()] = match planned {
            _ if failed => TaskStatus::Failed,
            _ if !built && loaded.spec.task(task).run.is_some() => TaskStatus::NeverBuilt,
            // A task without `run` only groups its dependencies.
            // A build would restore it from the cache without running it.
            Planned::Fresh | Planned::Restore(_) => TaskStatus::Fresh,
            Planned::Recheck { failing: true, .. } => TaskStatus::Failed,
            Planned::Recheck { failing: false, .. } | Planned::Run(_) => TaskStatus::Stale,
            Planned::Edited(_) => TaskStatus::Edited,
        };
    }
    // In dependency order, so blocking reaches the whole cone.
    for &task in &selection.tasks {
        let stopped = |s: TaskStatus| {
            matches!(
                s,
                TaskStatus::Failed | TaskStatus::Edited | TaskStatus::Blocked
            )
        };
        if !stopped(statuses[task.index()])
            && loaded
                .graph
                .task_deps(task)
                .iter()
                .any(|d| stopped(statuses[d.task.index()]))
        {
            statuses[task.index()] = TaskStatus::Blocked;
        }
    }
    statuses
}

fn deps(project: &Project, task: TaskIdx) -> Vec<&str> {
    project
        .loaded
        .graph
        .task_deps(task)
        .iter()
        .map(|d| project.loaded.spec.task(d.task).id.as_str())
        .collect()
}

fn effort(task: &Task) -> Option<String> {
    task.effort.map(format_duration)
}

fn json_list<'p>(project: &'p Project, statuses: &[&'static str]) -> JsonList<'p> {
    let spec = &project.loaded.spec;
    let settings = &spec.project;
    JsonList {
        project: JsonProject {
            name: settings.name.as_deref(),
            jobs: settings.jobs.map(|j| j.get()),
            shell: &settings.shell,
            hash_env: &settings.hash_env,
            cache: settings.cache.as_str(),
            worktrees: settings.worktrees.as_str(),
            worktree_setup: settings.worktree_setup.as_deref(),
            keep_runs: settings.keep_runs,
        },
        groups: spec
            .groups
            .iter()
            .map(|g| JsonGroup {
                name: g.name.as_str(),
                title: g.title.as_deref(),
                after: g
                    .after
                    .iter()
                    .map(|&a| spec.group(a).name.as_str())
                    .collect(),
                jobs: g.jobs.map(|j| j.get()),
                timeout_seconds: g.timeout.map(|t| t.as_secs()),
                tasks: g.tasks.iter().map(|&t| spec.task(t).id.as_str()).collect(),
            })
            .collect(),
        tasks: spec
            .task_indices()
            .map(|idx| {
                let task = spec.task(idx);
                JsonTask {
                    id: task.id.as_str(),
                    status: statuses[idx.index()],
                    title: task.display_title(),
                    group: task.group.map(|g| spec.group(g).name.as_str()),
                    priority: task.priority.as_str(),
                    effort: effort(task),
                    effort_seconds: task.effort.map(|e| e.as_secs()),
                    agent: task.agent.as_deref(),
                    deps: deps(project, idx),
                    inputs: task.inputs.iter().map(json_input).collect(),
                    outputs: task.outputs.iter().map(Output::display).collect(),
                    run: task.run.as_ref().map(|run| match run {
                        Run::Shell(command) => JsonRun::Shell(command),
                        Run::Exec(argv) => JsonRun::Exec(argv),
                        Run::Agent(agent) => JsonRun::Agent(agent),
                    }),
                    env: &task.env,
                    checks: &task.checks,
                    timeout_seconds: task.timeout.map(|t| t.as_secs()),
                    retries: task.retries,
                    workspace: task.workspace.as_str(),
                    quiet: task.quiet,
                }
            })
            .collect(),
        rules: project.loaded.rules.iter().map(json_rule).collect(),
    }
}

fn json_input(input: &Input) -> JsonInput<'_> {
    match &input.kind {
        InputKind::File(path) => JsonInput::File(path.as_str()),
        InputKind::Glob(glob) => JsonInput::Glob(&glob.text),
        InputKind::Section { file, section } => JsonInput::Section {
            path: file.as_str(),
            section,
        },
        InputKind::Command(command) => JsonInput::Command(command),
        InputKind::Program(name) => JsonInput::Program(name),
    }
}

fn json_rule(rule: &Rule) -> JsonRule<'_> {
    let (run, pattern, forbid) = match &rule.check {
        RuleCheck::Builtin(_) => (None, None, None),
        RuleCheck::Run(run) => (Some(run.as_str()), None, None),
        RuleCheck::Pattern { regex, forbid } => (None, Some(regex.as_str()), Some(*forbid)),
    };
    JsonRule {
        name: &rule.name,
        description: rule.description.as_deref(),
        applies_to: rule.applies_to.as_ref().map(|a| a.globs.as_slice()),
        builtin: match rule.check {
            RuleCheck::Builtin(name) => Some(name),
            _ => None,
        },
        run,
        pattern,
        forbid,
        metric: rule.gate.as_ref().map(|g| g.metric.as_str()),
        min: rule.gate.as_ref().and_then(|g| g.min),
        max: rule.gate.as_ref().and_then(|g| g.max),
        required: rule.required,
    }
}

/// Aligned columns: id, title, effort, agent, deps; a header line per group.
/// A task's title column: "-" for a task without one (its id is in the first column).
fn title(task: &Task) -> &str {
    task.title.as_deref().unwrap_or("-")
}

pub(crate) fn table(project: &Project, statuses: &[&str]) -> String {
    let spec = &project.loaded.spec;
    let efforts: Vec<String> = spec
        .tasks
        .iter()
        .map(|t| effort(t).unwrap_or_else(|| "-".into()))
        .collect();
    let id_w = text::column(spec.tasks.iter().map(|t| t.id.as_str()));
    let status_w = text::column(statuses.iter().copied());
    let title_w = text::column(spec.tasks.iter().map(title));
    let effort_w = text::column(efforts.iter().map(String::as_str));
    let agent_w = text::column(spec.tasks.iter().map(|t| t.agent.as_deref().unwrap_or("-")));

    let mut sections: Vec<(String, Vec<TaskIdx>)> = spec
        .groups
        .iter()
        .map(|g| {
            let mut header = g.name.to_string();
            if let Some(title) = &g.title {
                header.push_str(&format!(": {title}"));
            }
            let total: std::time::Duration =
                g.tasks.iter().filter_map(|&t| spec.task(t).effort).sum();
            header.push_str(&format!(
                "  ({} task{}",
                g.tasks.len(),
                if g.tasks.len() == 1 { "" } else { "s" }
            ));
            if !total.is_zero() {
                header.push_str(&format!(", {}", format_duration(total)));
            }
            header.push(')');
            if !g.after.is_empty() {
                let after: Vec<&str> = g
                    .after
                    .iter()
                    .map(|&a| spec.group(a).name.as_str())
                    .collect();
                header.push_str(&format!("  after {}", after.join(", ")));
            }
            (header, g.tasks.clone())
        })
        .collect();
    let ungrouped: Vec<TaskIdx> = spec
        .task_indices()
        .filter(|&t| spec.task(t).group.is_none())
        .collect();
    if !ungrouped.is_empty() {
        sections.push(("(no group)".to_owned(), ungrouped));
    }

    let mut text = String::new();
    for (i, (header, tasks)) in sections.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(header);
        text.push('\n');
        for &idx in tasks {
            let task = spec.task(idx);
            let deps = deps(project, idx);
            let mut line = String::from("  ");
            text::left(&mut line, task.id.as_str(), id_w);
            line.push_str("  ");
            text::left(&mut line, statuses[idx.index()], status_w);
            line.push_str("  ");
            text::left(&mut line, title(task), title_w);
            line.push_str("  ");
            text::right(&mut line, &efforts[idx.index()], effort_w);
            line.push_str("  ");
            text::left(&mut line, task.agent.as_deref().unwrap_or("-"), agent_w);
            line.push_str("  ");
            if !deps.is_empty() {
                line.push_str("<- ");
                line.push_str(&deps.join(", "));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    text
}
