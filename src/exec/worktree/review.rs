//! Reviewing and merging a worktree task's branch (issue 19): what it changed since it
//! left the current branch (`git diff HEAD...branch`), and merging it into the current
//! branch without losing work. A build copies a worktree task's outputs into the project
//! root, where git sees them as untracked files, so a plain `git merge` refuses to
//! overwrite them; conduct moves aside only the copies that are byte for byte what the
//! branch commits (the merge puts the same bytes back) and refuses, naming the file,
//! when one differs (a person changed it). A dirty tree is refused before anything
//! happens; a conflict aborts the merge and puts every moved copy back.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Repo, WorktreeError, git, git_with, identity};

/// How a merge went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Merged {
    /// The branch is in: how many files it brought, and anything to say of it.
    Done { files: usize, note: Option<String> },
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
        if let Some(why) = uncommitted(&self.top)? {
            return Ok(Merged::Refused(why));
        }
        let range = format!("HEAD...{branch}");
        let changed = git(&self.top, &["diff", "--name-only", &range])?;
        let files: Vec<&str> = changed.lines().filter(|l| !l.is_empty()).collect();
        // The copies a build put in the root: moved aside when they are the branch's
        // bytes, refused when a person changed them.
        let moved = match set_aside(&self.top, &files, branch, branch)? {
            Ok(moved) => moved,
            Err(why) => return Ok(Merged::Refused(why)),
        };
        let merge: Vec<&str> = if squash {
            vec!["merge", "--squash", branch]
        } else {
            vec!["merge", "--no-ff", "-m", message, branch]
        };
        if let Err(error) = git_with(&self.top, &merge, identity(&self.top)) {
            let conflicts =
                git(&self.top, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            let _ = git(&self.top, &["merge", "--abort"]);
            let _ = git(&self.top, &["reset", "--merge"]);
            moved.put_back();
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
        let mut note = None;
        if squash {
            if let Err(error) = git_with(
                &self.top,
                &["commit", "--quiet", "-m", message],
                identity(&self.top),
            ) {
                let _ = git(&self.top, &["reset", "--merge"]);
                moved.put_back();
                return Ok(Merged::Refused(error.to_string()));
            }
            // The branch points at the squash, so it reads as merged.
            let squashed = git(&self.top, &["rev-parse", "HEAD"])?;
            note = self.point(branch, &squashed)?.err();
        }
        Ok(Merged::Done {
            files: files.len(),
            note,
        })
    }
}

/// Why the worktree at `top` may not be merged into: its uncommitted changes to
/// tracked files, named (`None` when there are none).
pub(super) fn uncommitted(top: &Path) -> Result<Option<String>, WorktreeError> {
    let dirty = git(top, &["status", "--porcelain", "--untracked-files=no"])?;
    if dirty.is_empty() {
        return Ok(None);
    }
    let files: Vec<&str> = dirty.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
    Ok(Some(format!(
        "the working tree has uncommitted changes ({}): commit or stash them first",
        files.join(", ")
    )))
}

/// Untracked files a checkout of `rev` would overwrite, moved aside so it can happen.
#[derive(Debug, Default)]
pub(super) struct SetAside(Vec<(PathBuf, Vec<u8>)>);

impl SetAside {
    /// Put them back (the checkout did not happen).
    pub(super) fn put_back(&self) {
        for (path, bytes) in &self.0 {
            let _ = fs::write(path, bytes);
        }
    }
}

/// Among `files` (changed between the worktree at `top` and `rev`), the ones git does
/// not track there are moved aside when they hold exactly what `rev` commits (the
/// checkout puts the same bytes back); the first that differs is refused by name
/// (`Err`, saying `what` commits it), with nothing moved. A build's copies of a
/// branch's outputs are such files.
pub(super) fn set_aside(
    top: &Path,
    files: &[&str],
    rev: &str,
    what: &str,
) -> Result<Result<SetAside, String>, WorktreeError> {
    let mut moved = SetAside::default();
    for file in files {
        let path = top.join(file);
        let untracked = git(top, &["ls-files", "--error-unmatch", "--", file]).is_err();
        // Never read through a link: it is refused like a changed file.
        let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if !untracked || (!is_file && !path.is_symlink()) {
            continue;
        }
        let here = if is_file {
            fs::read(&path)?
        } else {
            Vec::new()
        };
        if !is_file || here != show(top, rev, file)? {
            moved.put_back();
            return Ok(Err(format!(
                "{file} in the working tree is untracked and differs from what {what} \
                 commits: conduct will not overwrite it; commit it, or move it away"
            )));
        }
        fs::remove_file(&path)?;
        moved.0.push((path, here));
    }
    Ok(Ok(moved))
}

/// The bytes `rev` has for `file`.
fn show(top: &Path, rev: &str, file: &str) -> Result<Vec<u8>, WorktreeError> {
    let spec = format!("{rev}:{file}");
    let output = crate::exec::local::plumbing("git", &["show", &spec], top, &[], None)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(WorktreeError::Git {
            args: format!("show {spec}"),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
