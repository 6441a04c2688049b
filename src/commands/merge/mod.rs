//! `conduct merge TASK... [--squash]` and `conduct merge --all-passed`: bring worktree
//! tasks' branches into the current branch, in dependency order, never losing work (see
//! `exec::worktree::review` for what is refused). `--all-passed` takes every worktree
//! task whose last run passed and whose branch is not merged yet; a branch that cannot
//! be merged is reported and left for review, the tasks that depend on it wait, and the
//! others go on. Exit 1 when one was not merged.

use std::sync::Arc;

use crate::commands::Stdout;
use crate::error::Error;
use crate::exec::worktree::{self, Merged, Repo};
use crate::explain::RunStatus;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::spec::{TaskIdx, Workspace};

/// What `conduct merge` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeOptions {
    pub(crate) tasks: Vec<String>,
    pub(crate) squash: bool,
    pub(crate) all_passed: bool,
}

pub(crate) fn run(
    locator: &Locator,
    options: &MergeOptions,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let session = Session::open(locator, Access::Read)?;
    let loaded = Arc::clone(session.loaded());
    let spec = &loaded.spec;
    let worktree_tasks: Vec<String> = spec
        .tasks
        .iter()
        .filter(|t| t.workspace == Workspace::Worktree)
        .map(|t| t.id.to_string())
        .collect();
    let repo = Repo::find(&session.root().path).map_err(|source| Error::Worktree {
        tasks: worktree_tasks,
        source,
    })?;
    // In dependency order: the selection is.
    let selection = loaded.graph.select(spec, &options.tasks)?;
    let named: Vec<TaskIdx> = if options.all_passed {
        selection
            .tasks
            .iter()
            .copied()
            .filter(|&t| spec.task(t).workspace == Workspace::Worktree)
            .filter(|&t| {
                session
                    .state()
                    .tasks
                    .get(spec.task(t).id.as_str())
                    .and_then(|s| s.last_run.as_ref())
                    .is_some_and(|l| l.status == RunStatus::Ok)
            })
            .collect()
    } else {
        let mut asked = vec![false; spec.tasks.len()];
        for task in options.tasks.iter().filter_map(|id| spec.find_task(id)) {
            asked[task.index()] = true;
        }
        selection
            .tasks
            .iter()
            .copied()
            .filter(|t| asked[t.index()])
            .collect()
    };
    let mut lines = String::new();
    // By task index: not merged (its dependents wait for it).
    let mut held = vec![false; spec.tasks.len()];
    for task in named {
        let t = spec.task(task);
        let (_, branch) = worktree::names(t.id.as_str(), t.agent.as_deref());
        if let Some(blocker) = loaded
            .graph
            .task_deps(task)
            .iter()
            .map(|d| d.task)
            .find(|d| held[d.index()])
        {
            held[task.index()] = true;
            lines.push_str(&format!(
                "{} not merged: it waits for {}\n",
                t.id,
                spec.task(blocker).id
            ));
            continue;
        }
        if !repo.has_branch(&branch) {
            held[task.index()] = true;
            lines.push_str(&format!(
                "{} not merged: `{branch}` does not exist yet (`conduct build {}` makes it)\n",
                t.id, t.id
            ));
            continue;
        }
        let message = format!("Merge {branch}: {}", t.display_title());
        let merged = repo
            .merge(&branch, options.squash, &message)
            .map_err(|source| Error::Worktree {
                tasks: vec![t.id.to_string()],
                source,
            })?;
        match merged {
            Merged::Done { files } => lines.push_str(&format!(
                "merged {} ({branch}, {files} file{})\n",
                t.id,
                if files == 1 { "" } else { "s" }
            )),
            Merged::Already => lines.push_str(&format!("{} is merged already\n", t.id)),
            Merged::Refused(why) => {
                held[task.index()] = true;
                lines.push_str(&format!("{} not merged: {why}\n", t.id));
            }
        }
    }
    if lines.is_empty() {
        lines.push_str("nothing to merge: no worktree task has passed\n");
    }
    out.write(&lines)?;
    session.finish();
    Ok(if held.contains(&true) { 1 } else { 0 })
}
