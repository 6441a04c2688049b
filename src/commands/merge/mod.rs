//! `conduct merge TASK... [--squash]` and `conduct merge --all-passed`: bring worktree
//! tasks' branches into the current branch, in dependency order, never losing work (see
//! `exec::worktree::review` for what is refused). A named task's branch is merged as it
//! is; `--all-passed` takes every worktree task whose last run passed and whose branch
//! is not merged yet through the merge queue (`queue`). A branch that is not merged is
//! reported and left for review, the tasks that depend on it wait, and the others go
//! on. Exit 1 when one was not merged.

mod queue;

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
    /// `--retry-conflicts`: a branch the queue stops is sent back to its task.
    pub(crate) retry_conflicts: bool,
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
                    .last_run(t)
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
    if named.is_empty() {
        out.write("nothing to merge: no worktree task has passed\n")?;
    }
    let queue = options
        .all_passed
        .then(|| queue::Queue::new(locator, &session, &repo, options));
    if let Some(queue) = &queue {
        queue.clear_leftovers();
    }
    // By task index: not merged (its dependents wait for it).
    let mut held = vec![false; spec.tasks.len()];
    for task in named {
        let t = spec.task(task);
        let (_, branch) = worktree::names(t.id.as_str(), t.agent.as_deref());
        let blocker = loaded
            .graph
            .task_deps(task)
            .iter()
            .map(|d| d.task)
            .find(|d| held[d.index()]);
        let merged = if let Some(blocker) = blocker {
            out.write(&format!(
                "{} not merged: it waits for {}\n",
                t.id,
                spec.task(blocker).id
            ))?;
            false
        } else if !repo.has_branch(&branch) {
            out.write(&format!(
                "{} not merged: `{branch}` does not exist yet (`conduct build {}` makes it)\n",
                t.id, t.id
            ))?;
            false
        } else if let Some(queue) = &queue {
            queue.pass(task, &branch, out)?
        } else {
            merge_as_it_is(&repo, t, &branch, options.squash, out)?
        };
        held[task.index()] = !merged;
    }
    session.finish();
    Ok(if held.contains(&true) { 1 } else { 0 })
}

/// Merge a named task's branch as it is (a merge commit, or `--squash`); whether it is
/// in.
fn merge_as_it_is(
    repo: &Repo,
    t: &crate::spec::Task,
    branch: &str,
    squash: bool,
    out: &mut Stdout,
) -> Result<bool, Error> {
    let message = format!("Merge {branch}: {}", t.display_title());
    let merged = repo
        .merge(branch, squash, &message)
        .map_err(|source| Error::Worktree {
            tasks: vec![t.id.to_string()],
            source,
        })?;
    let (line, merged) = match merged {
        Merged::Done { files, note } => (
            format!(
                "merged {} ({branch}, {})\n{}",
                t.id,
                files_text(files),
                note.map(|n| format!("  ({n})\n")).unwrap_or_default()
            ),
            true,
        ),
        Merged::Already => (format!("{} is merged already\n", t.id), true),
        Merged::Refused(why) => (format!("{} not merged: {why}\n", t.id), false),
    };
    out.write(&line)?;
    Ok(merged)
}

/// "1 file", "3 files".
fn files_text(files: usize) -> String {
    format!("{files} file{}", if files == 1 { "" } else { "s" })
}
