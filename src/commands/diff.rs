//! `conduct diff TASK [--stat]`: what a worktree task's branch changed since it left
//! the current branch (`git diff HEAD...agent/<ID>/<agent>`): the stat, then the patch,
//! to review an agent's work before merging it. Nothing is run or written.

use crate::commands::Stdout;
use crate::error::Error;
use crate::exec::worktree::{self, Repo};
use crate::project::Locator;
use crate::spec::Workspace;
use crate::suggest::did_you_mean;

pub(crate) fn run(
    locator: &Locator,
    task: &str,
    stat_only: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let (_, root) = locator.locate()?;
    let project = locator.load()?;
    let spec = &project.loaded.spec;
    let Some(idx) = spec.find_task(task) else {
        return Err(Error::UnknownTarget {
            target: task.to_owned(),
            suggestion: did_you_mean(task, spec.tasks.iter().map(|t| t.id.as_str())),
        });
    };
    let t = spec.task(idx);
    let no_branch = |why: String, worktree_task: bool| Error::NoBranch {
        task: t.id.to_string(),
        why,
        worktree_task,
    };
    if t.workspace != Workspace::Worktree {
        return Err(no_branch(
            "it runs in the project root, not in a worktree".to_owned(),
            false,
        ));
    }
    let repo = Repo::find(&root).map_err(|source| Error::Worktree {
        tasks: vec![t.id.to_string()],
        source,
    })?;
    let (_, branch) = worktree::names(t.id.as_str(), t.agent.as_deref());
    if !repo.has_branch(&branch) {
        return Err(no_branch(format!("`{branch}` does not exist yet"), true));
    }
    let text = repo
        .diff(&branch, stat_only)
        .map_err(|source| Error::Worktree {
            tasks: vec![t.id.to_string()],
            source,
        })?;
    if text.is_empty() {
        out.write(&format!("{branch} changes nothing since it left HEAD\n"))?;
    } else {
        out.write(&format!("{text}\n"))?;
    }
    Ok(0)
}
