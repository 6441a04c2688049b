//! The merge queue's git side (issue 19; after Gas Town's Refinery and GitHub's merge
//! queue): a passed branch is replayed onto the current branch in a scratch worktree
//! conduct makes for it and removes after (not in the task's own worktree, whose copies
//! of its inputs would stop a rebase), the caller reruns the task's checks there, and
//! the current branch is fast-forwarded to that result. The task's branch then points
//! at what landed, so it reads as merged and its next run starts from it. For a retry
//! (`--retry-conflicts`) a branch starts again from the current branch, its old commits
//! kept under `refs/conduct/retried/`.

use std::fs;
use std::path::{Path, PathBuf};

use super::review::{set_aside, uncommitted};
use super::{Merged, Repo, SHARED, WorktreeError, git, git_with, identity};

/// A detached worktree conduct made for one rebase, removed when dropped.
pub(crate) struct Scratch {
    /// The repository's main worktree, which removes it.
    top: PathBuf,
    path: PathBuf,
    /// The project root's counterpart inside it: where the checks run.
    pub(crate) dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.path.to_string_lossy().into_owned();
        let _ = git(&self.top, &["worktree", "remove", "--force", &path]);
    }
}

/// How replaying a branch onto the current branch went.
pub(crate) enum Rebased {
    /// Replayed: `commit` is the result, checked out in `scratch`.
    Onto { commit: String, scratch: Scratch },
    /// Nothing of the branch is missing from the current branch.
    Nothing,
    /// It conflicts: the files, and the conflicted hunks with git's markers.
    Conflict { files: Vec<String>, hunks: String },
    /// It could not be replayed for another reason (git's message).
    Refused(String),
}

impl Repo {
    /// The current branch's name (`HEAD` when detached).
    pub(crate) fn current_branch(&self) -> Result<String, WorktreeError> {
        git(&self.top, &["rev-parse", "--abbrev-ref", "HEAD"])
    }

    /// Replay `branch`'s commits onto the current branch's HEAD, in a scratch worktree
    /// made at `scratch` (a path that does not exist yet).
    pub(crate) fn rebase(&self, branch: &str, scratch: &Path) -> Result<Rebased, WorktreeError> {
        let target = git(&self.top, &["rev-parse", "HEAD"])?;
        {
            let _shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(parent) = scratch.parent() {
                fs::create_dir_all(parent)?;
            }
            let path = scratch.to_string_lossy().into_owned();
            git(
                &self.top,
                &["worktree", "add", "--detach", "--quiet", &path, branch],
            )?;
        }
        let scratch = Scratch {
            top: self.top.clone(),
            dir: scratch.join(&self.sub),
            path: scratch.to_path_buf(),
        };
        let at = &scratch.path;
        if let Err(error) = git_with(at, &["rebase", "--quiet", &target], identity(at)) {
            let conflicted =
                git(at, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            let hunks = git(at, &["diff"]).unwrap_or_default();
            let _ = git(at, &["rebase", "--abort"]);
            if conflicted.is_empty() {
                return Ok(Rebased::Refused(format!(
                    "it could not be rebased: {error}"
                )));
            }
            return Ok(Rebased::Conflict {
                files: conflicted.lines().map(str::to_owned).collect(),
                hunks,
            });
        }
        let commit = git(at, &["rev-parse", "HEAD"])?;
        if commit == target {
            return Ok(Rebased::Nothing);
        }
        Ok(Rebased::Onto { commit, scratch })
    }

    /// Move the current branch to `commit`, a rebase of `branch` onto it: a
    /// fast-forward (or, with `squash`, one commit with `message`), setting aside the
    /// root's copies of what it brings (as `merge` does). Then `branch` points at it.
    pub(crate) fn land(
        &self,
        branch: &str,
        commit: &str,
        squash: bool,
        message: &str,
    ) -> Result<Merged, WorktreeError> {
        if let Some(why) = uncommitted(&self.top)? {
            return Ok(Merged::Refused(why));
        }
        let changed = git(&self.top, &["diff", "--name-only", "HEAD", commit])?;
        let files: Vec<&str> = changed.lines().filter(|l| !l.is_empty()).collect();
        let moved = match set_aside(&self.top, &files, commit, branch)? {
            Ok(moved) => moved,
            Err(why) => return Ok(Merged::Refused(why)),
        };
        let moved_on = if squash {
            git(&self.top, &["merge", "--squash", "--quiet", commit]).and_then(|_| {
                git_with(
                    &self.top,
                    &["commit", "--quiet", "-m", message],
                    identity(&self.top),
                )
            })
        } else {
            git(&self.top, &["merge", "--ff-only", "--quiet", commit])
        };
        if let Err(error) = moved_on {
            let _ = git(&self.top, &["reset", "--merge"]);
            moved.put_back();
            return Ok(Merged::Refused(error.to_string()));
        }
        // A squashed branch points at the squash, so it too reads as merged.
        let landed = git(&self.top, &["rev-parse", "HEAD"])?;
        let note = self.point(branch, &landed)?.err();
        Ok(Merged::Done {
            files: files.len(),
            note,
        })
    }

    /// Start `branch` again from the current branch's HEAD, for a retry. Its commits
    /// stay reachable under the returned ref; `Ok(Err(why))` when its worktree holds
    /// changes in the way (nothing moved then).
    pub(crate) fn restart(&self, branch: &str) -> Result<Result<String, String>, WorktreeError> {
        let old = git(
            &self.top,
            &["rev-parse", "--verify", &format!("refs/heads/{branch}")],
        )?;
        let target = git(&self.top, &["rev-parse", "HEAD"])?;
        let kept = format!("refs/conduct/retried/{branch}");
        git(&self.top, &["update-ref", &kept, &old])?;
        Ok(self.point(branch, &target)?.map(|()| kept))
    }

    /// Point `branch` at `commit`. In the worktree that has it checked out the files
    /// follow (`git reset --keep`, after setting aside conduct's copies there);
    /// `Ok(Err(why))` when that worktree's own changes are in the way: the branch
    /// then stays where it was.
    pub(super) fn point(
        &self,
        branch: &str,
        commit: &str,
    ) -> Result<Result<(), String>, WorktreeError> {
        let Some(dir) = self.checked_out(branch)? else {
            git(&self.top, &["branch", "--force", branch, commit])?;
            return Ok(Ok(()));
        };
        let stays = |why: String| format!("{branch} stays where it was ({}: {why})", dir.display());
        let changed = git(&dir, &["diff", "--name-only", "HEAD", commit])?;
        let files: Vec<&str> = changed.lines().filter(|l| !l.is_empty()).collect();
        let moved = match set_aside(&dir, &files, commit, branch)? {
            Ok(moved) => moved,
            Err(why) => return Ok(Err(stays(why))),
        };
        if let Err(error) = git(&dir, &["reset", "--keep", "--quiet", commit]) {
            moved.put_back();
            return Ok(Err(stays(error.to_string())));
        }
        Ok(Ok(()))
    }

    /// The worktree that has `branch` checked out, if one does.
    fn checked_out(&self, branch: &str) -> Result<Option<PathBuf>, WorktreeError> {
        Ok(self
            .worktree_list()?
            .into_iter()
            .find(|(_, b)| b.as_deref() == Some(branch))
            .map(|(path, _)| path))
    }
}

impl Scratch {
    /// The files git tracks in it under `paths` (project-relative, as given), as
    /// project-relative paths: what a task's outputs are in the rebased result.
    pub(crate) fn tracked(&self, paths: &[String]) -> Result<Vec<String>, WorktreeError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["ls-files", "-z", "--"];
        args.extend(paths.iter().map(String::as_str));
        let listed = git(&self.dir, &args)?;
        Ok(listed
            .split('\0')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }
}
