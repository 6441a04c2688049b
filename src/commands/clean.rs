//! `conduct clean [--outputs] [--cache] [--all] [--worktrees [--branches]]`: remove what
//! builds made. Without flags (or with `--outputs`) it removes every declared output (the
//! state and cache stay, so the next build restores them); `--cache` empties the cache directory of what conduct keeps
//! there (state, cache, logs, instructions), keeping its lock, which it holds
//! meanwhile, and its CACHEDIR.TAG; a directory without that mark is refused (see
//! `cache::dir`). Nothing is removed through a symlink. `--all`: both.
//! `--worktrees` removes the agent worktrees (never by default: they may hold work an
//! agent left uncommitted), `--branches` their branches too.

use std::io;
use std::path::PathBuf;

use crate::commands::{Stdout, json_line};
use crate::confined::Dir;
use crate::confined::Root;
use crate::error::Error;
use crate::exec::worktree::Repo;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::spec::ProjectPath;
use crate::spec::Workspace;

/// What `conduct clean` removes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CleanOptions {
    pub(crate) outputs: bool,
    pub(crate) cache: bool,
    pub(crate) worktrees: bool,
    /// With `worktrees`: delete their branches too.
    pub(crate) branches: bool,
}

/// What `clean` removed, for `--json`: `{"outputs": N|null, "cache_entries": N|null,
/// "worktrees": [{"path", "branch"}]|null}` (null: not asked).
#[derive(Default, serde::Serialize)]
struct Cleaned {
    outputs: Option<usize>,
    cache_entries: Option<usize>,
    worktrees: Option<Vec<RemovedWorktree>>,
}

#[derive(serde::Serialize)]
struct RemovedWorktree {
    path: String,
    /// The branch deleted with it (`--branches`).
    branch: Option<String>,
}

pub(crate) fn run(
    locator: &Locator,
    options: CleanOptions,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    // The cache only when asked: it is what makes the next build cheap.
    let (outputs, cache) = if options.outputs || options.cache || options.worktrees {
        (options.outputs, options.cache)
    } else {
        (true, false)
    };
    let mut session = Session::open(locator, Access::Write)?;
    let mut text = String::new();
    let mut cleaned = Cleaned::default();
    if options.worktrees {
        let (dir, removed) = worktrees(&session, options.branches)?;
        for worktree in &removed {
            text.push_str(&match &worktree.branch {
                Some(branch) => {
                    format!("removed worktree {} and branch {branch}\n", worktree.path)
                }
                None => format!("removed worktree {}\n", worktree.path),
            });
        }
        if removed.is_empty() {
            text.push_str(&format!("no worktrees under {}\n", dir.display()));
        }
        cleaned.worktrees = Some(removed);
    }
    let error = |source| Error::Cache {
        path: session.cache_dir().to_path_buf(),
        source,
    };
    if outputs {
        let mut removed = 0;
        for task in &session.loaded().spec.tasks {
            for output in &task.outputs {
                if remove(session.root(), &output.path).map_err(error)? {
                    removed += 1;
                }
            }
        }
        removed += remove_orphans(&session).map_err(error)?;
        session.forget_removed_tasks();
        session.save()?;
        text.push_str(&format!("removed {removed} outputs\n"));
        cleaned.outputs = Some(removed);
    }
    if cache {
        let removed =
            crate::cache::dir::clean(&session.root().path, &session.loaded().spec.project.cache)?;
        text.push_str(&format!("emptied the cache ({removed} entries)\n"));
        cleaned.cache_entries = Some(removed);
    }
    session.finish();
    out.write(&if json { json_line(&cleaned) } else { text })?;
    Ok(0)
}

/// Remove the worktrees under `[project] worktrees` (and their branches): that directory
/// and what was removed.
fn worktrees(session: &Session, branches: bool) -> Result<(PathBuf, Vec<RemovedWorktree>), Error> {
    let spec = &session.loaded().spec;
    let dir = spec.project.worktrees.to_path(&session.root().path);
    let tasks: Vec<String> = spec
        .tasks
        .iter()
        .filter(|t| t.workspace == Workspace::Worktree)
        .map(|t| t.id.to_string())
        .collect();
    let failed = |source| Error::Worktree {
        tasks: tasks.clone(),
        source,
    };
    let repo = Repo::find(&session.root().path).map_err(failed)?;
    let found = repo.workspaces(&dir).map_err(failed)?;
    let mut removed = Vec::new();
    for (path, branch) in &found {
        let branch = branch.as_deref().filter(|_| branches);
        repo.remove(path, branch).map_err(failed)?;
        removed.push(RemovedWorktree {
            path: path.display().to_string(),
            branch: branch.map(str::to_owned),
        });
    }
    Ok((dir, removed))
}

/// Remove what tasks no longer in tasks.toml made (a deleted template file's object):
/// only files whose contents are still what conduct recorded making, never a protected
/// place (the records are conduct's own files, read as untrusted); how many.
fn remove_orphans(session: &Session) -> io::Result<usize> {
    let loaded = session.loaded();
    let root = session.root();
    let mut removed = 0;
    for (path, (_, digest)) in session.orphan_outputs() {
        let Ok(path) = ProjectPath::new(&path) else {
            continue;
        };
        let protected = crate::spec::protected::is_protected(
            loaded.spec.source.name(),
            &loaded.spec.project,
            path.as_str(),
        );
        let full = path.to_path(&root.path);
        let ours = std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_file())
            && crate::hash::hash_file(&full).is_ok_and(|now| now == digest);
        if !protected && ours && remove(root, &path)? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Remove a declared output (a file, a symlink, or a directory tree), never through a
/// symlink; whether there was something.
fn remove(root: &Root, path: &ProjectPath) -> io::Result<bool> {
    let (above, name) = path
        .as_str()
        .rsplit_once('/')
        .unwrap_or(("", path.as_str()));
    if !root.path.join(above).exists() {
        return Ok(false);
    }
    Dir::anchor(root, above)?.remove(name)
}
