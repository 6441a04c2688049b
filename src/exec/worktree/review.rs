//! Reviewing and merging a worktree task's branch (issue 19): what it changed since it
//! left the current branch (`git diff HEAD...branch`), and merging it into the current
//! branch without losing work. A build copies a worktree task's outputs into the project
//! root, where git sees them as untracked files, so a plain `git merge` refuses to
//! overwrite them; conduct moves aside only the copies that are byte for byte what the
//! branch commits (the merge puts the same bytes back) and refuses, naming the file,
//! when one differs (a person changed it). A dirty tree is refused before anything
//! happens; a conflict aborts the merge and puts every moved copy back.

use std::fs;
use std::path::PathBuf;

use super::{Repo, WorktreeError, git};

/// How a merge went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Merged {
    /// The branch is in: how many files it brought.
    Done { files: usize },
    /// It was merged before.
    Already,
    /// Refused or aborted (nothing changed): why.
    Refused(String),
}

impl Repo {
    /// Whether `branch` exists.
    pub(crate) fn has_branch(&self, branch: &str) -> bool {
        git(
            &self.top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
        )
        .is_ok()
    }

    /// What `branch` changed since it left the current branch (`git diff HEAD...branch`):
    /// the stat, then (unless `stat_only`) the patch.
    pub(crate) fn diff(&self, branch: &str, stat_only: bool) -> Result<String, WorktreeError> {
        let range = format!("HEAD...{branch}");
        let mut text = git(&self.top, &["diff", "--stat", &range])?;
        if !stat_only {
            let patch = git(&self.top, &["diff", &range])?;
            if !patch.is_empty() {
                text.push_str("\n\n");
                text.push_str(&patch);
            }
        }
        Ok(text)
    }

    /// Whether `branch` is already part of the current branch.
    pub(crate) fn merged(&self, branch: &str) -> bool {
        git(&self.top, &["merge-base", "--is-ancestor", branch, "HEAD"]).is_ok()
    }

    /// Merge `branch` into the current branch (`message` for the commit), or squash it
    /// into one commit. See the module's text for what is refused.
    pub(crate) fn merge(
        &self,
        branch: &str,
        squash: bool,
        message: &str,
    ) -> Result<Merged, WorktreeError> {
        if self.merged(branch) {
            return Ok(Merged::Already);
        }
        let dirty = git(
            &self.top,
            &["status", "--porcelain", "--untracked-files=no"],
        )?;
        if !dirty.is_empty() {
            let files: Vec<&str> = dirty.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
            return Ok(Merged::Refused(format!(
                "the working tree has uncommitted changes ({}): commit or stash them first",
                files.join(", ")
            )));
        }
        let range = format!("HEAD...{branch}");
        let changed = git(&self.top, &["diff", "--name-only", &range])?;
        let files: Vec<&str> = changed.lines().filter(|l| !l.is_empty()).collect();
        // The copies a build put in the root: moved aside when they are the branch's
        // bytes, refused when a person changed them.
        let mut moved: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for file in &files {
            let path = self.top.join(file);
            let tracked = git(&self.top, &["ls-files", "--error-unmatch", "--", file]).is_ok();
            if tracked || !path.is_file() {
                continue;
            }
            let here = fs::read(&path)?;
            let theirs = show(self, branch, file)?;
            if here != theirs {
                restore(&moved);
                return Ok(Merged::Refused(format!(
                    "{file} in the working tree is untracked and differs from what {branch} \
                     commits: conduct will not overwrite it; commit it, or move it away"
                )));
            }
            fs::remove_file(&path)?;
            moved.push((path, here));
        }
        let merge: Vec<&str> = if squash {
            vec!["merge", "--squash", branch]
        } else {
            vec!["merge", "--no-ff", "-m", message, branch]
        };
        if let Err(error) = git(&self.top, &merge) {
            let conflicts =
                git(&self.top, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            let _ = git(&self.top, &["merge", "--abort"]);
            let _ = git(&self.top, &["reset", "--merge"]);
            restore(&moved);
            let why = if conflicts.is_empty() {
                error.to_string()
            } else {
                format!(
                    "it conflicts with the current branch in {}",
                    conflicts.lines().collect::<Vec<_>>().join(", ")
                )
            };
            return Ok(Merged::Refused(why));
        }
        if squash && let Err(error) = git(&self.top, &["commit", "--quiet", "-m", message]) {
            let _ = git(&self.top, &["reset", "--merge"]);
            restore(&moved);
            return Ok(Merged::Refused(error.to_string()));
        }
        Ok(Merged::Done { files: files.len() })
    }
}

/// The bytes `branch` has for `file`.
fn show(repo: &Repo, branch: &str, file: &str) -> Result<Vec<u8>, WorktreeError> {
    let spec = format!("{branch}:{file}");
    let output = crate::exec::local::plumbing("git", &["show", &spec], &repo.top, &[], None)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(WorktreeError::Git {
            args: format!("show {spec}"),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Put back the copies moved aside (the merge did not happen).
fn restore(moved: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in moved {
        let _ = fs::write(path, bytes);
    }
}
