//! Agent workspaces (SPEC §7): a task with `workspace = "worktree"` runs in its own git
//! worktree, `<worktrees>/agent-<ID>-<agent>` on branch `agent/<ID>/<agent>`, so agents
//! working in parallel never step on each other, and each result lands as a commit a
//! human can review.
//!
//! conduct drives the `git` CLI rather than a library: worktrees, branches and commits
//! must be exactly what the user's own git sees and makes (hooks, config, signing), and
//! git's CLI is the one stable interface to that. Operations that change the shared
//! repository (adding or removing worktrees and branches) take one lock, since git's own
//! locks make concurrent `worktree add`s fail rather than wait.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod queue;
mod review;

pub(crate) use queue::{Rebased, Scratch};
pub(crate) use review::Merged;

/// Serialises the git commands that change the repository's worktree list or refs.
static SHARED: Mutex<()> = Mutex::new(());

/// Why a workspace could not be made or used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorktreeError {
    #[error("`{}` is not inside a git repository: {reason}", root.display())]
    NotARepository { root: PathBuf, reason: String },
    #[error("`git {args}` failed: {message}")]
    Git { args: String, message: String },
    #[error("`worktree_setup` failed in {}: {message}", dir.display())]
    Setup { dir: PathBuf, message: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The git repository a project lives in.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    /// The top of the main worktree.
    top: PathBuf,
    /// The project root relative to `top` (empty when the project is the repository).
    sub: PathBuf,
}

/// One task's worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workspace {
    /// The worktree's top directory.
    pub(crate) path: PathBuf,
    /// Where the task runs: the project root's counterpart inside the worktree.
    pub(crate) dir: PathBuf,
    pub(crate) branch: String,
}

/// The names SPEC §7 gives a task's worktree directory and branch.
pub(crate) fn names(id: &str, agent: Option<&str>) -> (String, String) {
    match agent {
        Some(agent) => (format!("agent-{id}-{agent}"), format!("agent/{id}/{agent}")),
        None => (format!("agent-{id}"), format!("agent/{id}")),
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    git_with(dir, args, &[])
}

/// The environment a commit needs in `dir`: none where git knows who commits, else
/// conduct's own name, so commits (and rebases) work on a fresh CI runner.
fn identity(dir: &Path) -> &'static [(&'static str, &'static str)] {
    const ANONYMOUS: &[(&str, &str)] = &[
        ("GIT_AUTHOR_NAME", "conduct"),
        ("GIT_AUTHOR_EMAIL", "conduct@localhost"),
        ("GIT_COMMITTER_NAME", "conduct"),
        ("GIT_COMMITTER_EMAIL", "conduct@localhost"),
    ];
    if git(dir, &["var", "GIT_COMMITTER_IDENT"]).is_err() {
        ANONYMOUS
    } else {
        &[]
    }
}

/// `git ARGS` in `dir` with `env` set.
fn git_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, WorktreeError> {
    let output = crate::exec::local::plumbing("git", args, dir, env, None)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(WorktreeError::Git {
            args: args.join(" "),
            message: stderr.trim().lines().last().unwrap_or("").to_owned(),
        })
    }
}

impl Repo {
    /// The repository `root` is in.
    pub(crate) fn find(root: &Path) -> Result<Repo, WorktreeError> {
        let top = git(root, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            WorktreeError::NotARepository {
                root: root.to_path_buf(),
                reason: match e {
                    WorktreeError::Git { message, .. } => message,
                    other => other.to_string(),
                },
            }
        })?;
        let top = fs::canonicalize(&top)?;
        let canonical = fs::canonicalize(root)?;
        let sub = canonical
            .strip_prefix(&top)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(Repo { top, sub })
    }

    /// The workspace of a task, created from HEAD if it does not exist yet (on its
    /// branch, made from HEAD if that does not exist either). Returns it and whether it
    /// is new.
    pub(crate) fn workspace(
        &self,
        worktrees: &Path,
        id: &str,
        agent: Option<&str>,
    ) -> Result<(Workspace, bool), WorktreeError> {
        let workspace = self.locate(worktrees, id, agent);
        let (path, branch) = (workspace.path.clone(), workspace.branch.clone());
        if path.join(".git").exists() {
            return Ok((workspace, false));
        }
        let _shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(worktrees)?;
        // A directory left by a removed worktree would make `worktree add` refuse.
        let _ = git(&self.top, &["worktree", "prune"]);
        let path_text = path.to_string_lossy().into_owned();
        let exists = git(
            &self.top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
        )
        .is_ok();
        if exists {
            git(&self.top, &["worktree", "add", &path_text, &branch])?;
        } else {
            git(
                &self.top,
                &["worktree", "add", "-b", &branch, &path_text, "HEAD"],
            )?;
        }
        Ok((workspace, true))
    }

    /// Where a task's workspace is (or would be): no git command, no disk.
    pub(crate) fn locate(&self, worktrees: &Path, id: &str, agent: Option<&str>) -> Workspace {
        let (dir_name, branch) = names(id, agent);
        let path = worktrees.join(dir_name);
        Workspace {
            dir: path.join(&self.sub),
            path,
            branch,
        }
    }

    /// The worktrees under `worktrees` and their branches (`git worktree list`).
    pub(crate) fn workspaces(
        &self,
        worktrees: &Path,
    ) -> Result<Vec<(PathBuf, Option<String>)>, WorktreeError> {
        let under = fs::canonicalize(worktrees).unwrap_or_else(|_| worktrees.to_path_buf());
        let mut all = self.worktree_list()?;
        all.retain(|(path, _)| path.starts_with(&under));
        Ok(all)
    }

    /// Every worktree of the repository and its branch (`git worktree list`).
    fn worktree_list(&self) -> Result<Vec<(PathBuf, Option<String>)>, WorktreeError> {
        let listing = git(&self.top, &["worktree", "list", "--porcelain"])?;
        let mut found = Vec::new();
        let mut current: Option<(PathBuf, Option<String>)> = None;
        for line in listing.lines().chain(std::iter::once("")) {
            if let Some(path) = line.strip_prefix("worktree ") {
                current = Some((PathBuf::from(path), None));
            } else if let Some(branch) = line.strip_prefix("branch refs/heads/") {
                if let Some((_, b)) = &mut current {
                    *b = Some(branch.to_owned());
                }
            } else if line.is_empty()
                && let Some(entry) = current.take()
            {
                found.push(entry);
            }
        }
        Ok(found)
    }

    /// Remove a worktree (with its uncommitted changes), and its branch if asked.
    pub(crate) fn remove(&self, path: &Path, branch: Option<&str>) -> Result<(), WorktreeError> {
        let _shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        git(
            &self.top,
            &["worktree", "remove", "--force", &path.to_string_lossy()],
        )?;
        if let Some(branch) = branch {
            git(&self.top, &["branch", "-D", branch])?;
        }
        Ok(())
    }
}

impl Workspace {
    /// Commit `outputs` (paths relative to the project root) on the workspace's branch.
    /// Returns the new commit, or `None` when the outputs are as the branch has them.
    pub(crate) fn commit(
        &self,
        outputs: &[String],
        message: &str,
    ) -> Result<Option<String>, WorktreeError> {
        let mut add = vec!["add", "--all", "--"];
        add.extend(outputs.iter().map(String::as_str));
        git(&self.dir, &add)?;
        if git(&self.dir, &["diff", "--cached", "--quiet"]).is_ok() {
            return Ok(None);
        }
        let output = crate::exec::local::plumbing(
            "git",
            &["commit", "--quiet", "--file", "-"],
            &self.dir,
            identity(&self.dir),
            Some(message.as_bytes()),
        )?;
        if !output.status.success() {
            return Err(WorktreeError::Git {
                args: "commit".to_owned(),
                message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        git(&self.dir, &["rev-parse", "HEAD"]).map(Some)
    }
}

/// The commit a worktree task's branch gets when it ran and passed its checks (SPEC §7):
/// `feat(<ID>): <title>`, the verdicts, and why it ran.
pub(crate) fn commit_message(
    id: &str,
    title: &str,
    verdicts: &[String],
    attempt: u32,
    reasons: &[crate::explain::Reason],
) -> String {
    let mut message = format!("feat({id}): {title}\n\n");
    if !verdicts.is_empty() {
        message.push_str("Checks:\n");
        for line in verdicts {
            message.push_str(&format!("- {line}\n"));
        }
        message.push('\n');
    }
    message.push_str(&format!(
        "Made by conduct: attempt {attempt}, because {}.\n",
        crate::explain::render(reasons).join("; ")
    ));
    message
}

/// A worktree task ran and passed its checks: its outputs (`made`, as collected in
/// `workspace`) replace the project root's (`now`). They are written the way a restore
/// writes: verified against their digests, never through a symlink.
pub(crate) fn bring_out(
    cache: &crate::cache::Cache,
    root: &crate::confined::Root,
    task: &crate::spec::Task,
    made: &[crate::cache::CachedOutput],
    now: &[(String, crate::hash::Digest)],
    workspace: &Path,
) -> Result<(), crate::cache::BlobError> {
    cache.place(
        root,
        made,
        task,
        now,
        crate::cache::From::Worktree(workspace),
    )
}

/// Copy `files` (project-relative) from `root` into the same places under `dir`: what a
/// task reads must be in its worktree as conduct hashed it, not as HEAD has it. A
/// symlink that HEAD has where a file goes is replaced, never written through (a
/// repository could commit `docs/plan.md -> ~/.bashrc`).
pub(crate) fn bring_in(root: &Path, dir: &Path, files: &[String]) -> io::Result<()> {
    let into = crate::confined::Root::new(dir);
    for file in files {
        let mut from = fs::File::open(root.join(file))?;
        let (parent, name) = file.rsplit_once('/').unwrap_or(("", file));
        crate::confined::Dir::anchor(&into, parent)?.overwrite(name, &mut from)?;
    }
    Ok(())
}

/// What a worktree task needs before it runs; applied on the worker, since git and the
/// setup command take time the coordinator should not wait for.
#[derive(Debug)]
pub(crate) struct Prepare {
    pub(crate) repo: std::sync::Arc<Repo>,
    pub(crate) worktrees: PathBuf,
    pub(crate) id: String,
    pub(crate) agent: Option<String>,
    /// `[project] worktree_setup`, as the argv to run in each new worktree.
    pub(crate) setup: Option<Vec<String>>,
    /// Where the setup's output goes.
    pub(crate) setup_log: PathBuf,
    pub(crate) root: PathBuf,
    /// Project-relative files to copy in: the task's inputs and its dependencies' outputs.
    pub(crate) bring: Vec<String>,
}

impl Prepare {
    /// Create or reuse the workspace, set a new one up, and bring the inputs in.
    pub(crate) fn apply(
        &self,
        executor: &dyn crate::exec::Executor,
    ) -> Result<Workspace, WorktreeError> {
        let (workspace, new) =
            self.repo
                .workspace(&self.worktrees, &self.id, self.agent.as_deref())?;
        if new
            && let Some(argv) = &self.setup
            && let Err(error) = self.set_up(executor, argv, &workspace.dir)
        {
            // Gone, so the next attempt makes it anew and sets it up again.
            let _ = self.repo.remove(&workspace.path, None);
            return Err(error);
        }
        bring_in(&self.root, &workspace.dir, &self.bring)?;
        Ok(workspace)
    }
}

impl Prepare {
    /// Run `worktree_setup` in a new worktree (through the executor, its output in its
    /// log), told where the project root is so it can copy what git does not track
    /// (`$CONDUCT_ROOT/.env`).
    fn set_up(
        &self,
        executor: &dyn crate::exec::Executor,
        argv: &[String],
        dir: &Path,
    ) -> Result<(), WorktreeError> {
        use crate::exec::{Exit, Job, Output};
        if let Some(logs) = self.setup_log.parent() {
            fs::create_dir_all(logs)?;
        }
        let finished = executor.run(Job {
            label: self.id.clone(),
            argv: argv.to_vec(),
            cwd: dir.to_path_buf(),
            env: vec![
                ("CONDUCT_ROOT".to_owned(), self.root.display().to_string()),
                ("CONDUCT_WORKSPACE".to_owned(), dir.display().to_string()),
            ],
            output: Output::Log {
                path: self.setup_log.clone(),
                stream: false,
            },
            timeout: None,
            task: false,
            on_cluster: None,
            stdin: None,
        });
        let status = match finished.exit {
            Exit::Success => return Ok(()),
            Exit::Failed {
                code: Some(code), ..
            } => format!("exit code {code}"),
            Exit::Failed { signal, .. } => format!("killed by signal {}", signal.unwrap_or(0)),
            Exit::SpawnFailed { error }
            | Exit::Lost { why: error }
            | Exit::Unknown { why: error } => error,
            Exit::TimedOut => "timed out".to_owned(),
            Exit::Cancelled => "interrupted".to_owned(),
        };
        let tail = crate::exec::output::log_tail(&self.setup_log, 1);
        Err(WorktreeError::Setup {
            dir: dir.to_path_buf(),
            message: format!(
                "{} ({status}; log: {})",
                tail.trim(),
                self.setup_log.display()
            ),
        })
    }
}
