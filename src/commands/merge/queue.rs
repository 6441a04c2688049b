//! `conduct merge --all-passed`: the merge queue (issue 19; Gas Town's Refinery, GitHub's
//! merge queue). One passed worktree branch at a time, in dependency order: replayed
//! onto the current branch in a scratch worktree, the task's checks run again on that
//! result (a rebase can combine work that passed apart into work that does not), then
//! the current branch fast-forwarded to it. A conflict or a failed check stops that
//! branch: it is reported and left for review or, with `--retry-conflicts`, sent back:
//! the branch starts again from the current branch and the task runs once more (a
//! build of it, its dependencies as they are) with what went wrong in
//! `CONDUCT_FEEDBACK`, and what passes then goes through the queue again.

use std::path::PathBuf;
use std::time::Instant;

use crate::build::{BuildOptions, SentBack};
use crate::commands::Stdout;
use crate::error::Error;
use crate::exec::local::LocalExecutor;
use crate::exec::worktree::{Merged, Rebased, Repo, Scratch, WorktreeError};
use crate::project::Locator;
use crate::report::progress::Style;
use crate::rules::check;
use crate::session::Session;
use crate::spec::{ProjectPath, Task, TaskIdx};

use super::{MergeOptions, files_text};

/// The most of a conflict's hunks a task is told (the rest is in its branch).
const HUNKS_TOLD: usize = 16 * 1024;

/// The queue of one `conduct merge --all-passed`.
pub(super) struct Queue<'a> {
    locator: &'a Locator,
    session: &'a Session,
    repo: &'a Repo,
    options: &'a MergeOptions,
    /// Runs the checks' commands.
    executor: LocalExecutor,
}

/// How one branch went through the queue.
enum Pass {
    /// In: the line that says so.
    Landed(String),
    Already,
    /// Stopped: why (for the line), and what its task is told if it is sent back.
    Stopped {
        why: String,
        told: String,
    },
}

impl<'a> Queue<'a> {
    pub(super) fn new(
        locator: &'a Locator,
        session: &'a Session,
        repo: &'a Repo,
        options: &'a MergeOptions,
    ) -> Queue<'a> {
        Queue {
            locator,
            session,
            repo,
            options,
            executor: LocalExecutor::new(),
        }
    }

    /// Remove the scratch worktrees a queue that was interrupted left (conduct's own,
    /// under `.cache/merge/`).
    pub(super) fn clear_leftovers(&self) {
        if let Ok(left) = self.repo.workspaces(&self.scratch_dir()) {
            for (path, _) in left {
                let _ = self.repo.remove(&path, None);
            }
        }
    }

    /// Where the scratch worktrees go.
    fn scratch_dir(&self) -> PathBuf {
        self.session.cache_dir().join("merge")
    }

    /// Take `task`'s `branch` through the queue, saying how it went; whether it is in.
    pub(super) fn pass(
        &self,
        task: TaskIdx,
        branch: &str,
        out: &mut Stdout,
    ) -> Result<bool, Error> {
        let t = self.session.loaded().spec.task(task);
        let (why, told) = match self.land(t, branch)? {
            Pass::Landed(line) => return out.write(&line).map(|()| true),
            Pass::Already => {
                return out
                    .write(&format!("{} is merged already\n", t.id))
                    .map(|()| true);
            }
            Pass::Stopped { why, told } => (why, told),
        };
        if !self.options.retry_conflicts {
            out.write(&format!(
                "{} not merged: {why}; left for review (`conduct diff {}`)\n",
                t.id, t.id
            ))?;
            return Ok(false);
        }
        let kept = match self
            .repo
            .restart(branch)
            .map_err(|e| worktree_error(t, e))?
        {
            Ok(kept) => kept,
            Err(in_the_way) => {
                out.write(&format!(
                    "{} not merged: {why}; not sent back: {in_the_way}\n",
                    t.id
                ))?;
                return Ok(false);
            }
        };
        let target = self.target(t)?;
        out.write(&format!(
            "{} sent back: {why}; it runs again from {target} (its earlier commits: {kept})\n",
            t.id
        ))?;
        out.flush()?;
        let feedback = format!(
            "{told}\n\nYour branch `{branch}` now starts again from `{target}`, which has the \
             work merged since you started. Your earlier commits are kept at `{kept}` \
             (`git diff {target}...{kept}` shows them). Do the task again on top of what is \
             there now, keeping the other tasks' changes.\n"
        );
        let code = crate::build::build(self.locator, &retry(t, feedback))?;
        if code != 0 {
            out.write(&format!(
                "{} not merged: its run after being sent back failed (`conduct status`)\n",
                t.id
            ))?;
            return Ok(false);
        }
        match self.land(t, branch)? {
            Pass::Landed(line) => out.write(&line).map(|()| true),
            Pass::Already => out
                .write(&format!("{} is merged already\n", t.id))
                .map(|()| true),
            Pass::Stopped { why, .. } => out
                .write(&format!(
                    "{} not merged after being sent back: {why}; left for review (`conduct \
                     diff {}`)\n",
                    t.id, t.id
                ))
                .map(|()| false),
        }
    }

    /// Rebase, check again, fast-forward.
    fn land(&self, t: &Task, branch: &str) -> Result<Pass, Error> {
        let target = self.target(t)?;
        let scratch_path = self
            .scratch_dir()
            .join(format!("{}.{}", t.id, std::process::id()));
        let rebased = self
            .repo
            .rebase(branch, &scratch_path)
            .map_err(|e| worktree_error(t, e))?;
        let (commit, scratch) = match rebased {
            Rebased::Onto { commit, scratch } => (commit, scratch),
            Rebased::Nothing => return Ok(Pass::Already),
            Rebased::Refused(why) => {
                return Ok(Pass::Stopped {
                    told: format!(
                        "Your branch `{branch}` could not be rebased onto `{target}`: {why}."
                    ),
                    why,
                });
            }
            Rebased::Conflict { files, hunks } => {
                let files = files.join(", ");
                return Ok(Pass::Stopped {
                    why: format!("it conflicts with {target} in {files}"),
                    told: format!(
                        "# The merge queue sent this task back\n\nYour branch `{branch}`, \
                         rebased onto `{target}`, conflicts in: {files}.\n\nThe conflicts, as \
                         the rebase left them:\n\n```diff\n{}\n```",
                        at_most(&hunks, HUNKS_TOLD)
                    ),
                });
            }
        };
        let (passed, failures) = self.recheck(t, &scratch)?;
        if !failures.is_empty() {
            return Ok(Pass::Stopped {
                why: format!("rebased onto {target}, {}", failures.join("; ")),
                told: format!(
                    "# The merge queue sent this task back\n\nYour branch `{branch}` rebased \
                     onto `{target}` cleanly, but on the result:\n\n- {}",
                    failures.join("\n- ")
                ),
            });
        }
        let message = format!("Merge {branch}: {}", t.display_title());
        let landed = self
            .repo
            .land(branch, &commit, self.options.squash, &message)
            .map_err(|e| worktree_error(t, e))?;
        drop(scratch);
        Ok(match landed {
            Merged::Done { files, note } => {
                let checks = match passed.len() {
                    0 => String::new(),
                    _ => format!("; its checks pass there: {}", passed.join(", ")),
                };
                let note = note.map(|n| format!("  ({n})\n")).unwrap_or_default();
                Pass::Landed(format!(
                    "merged {} ({branch}, {}, rebased onto {target}{checks})\n{note}",
                    t.id,
                    files_text(files)
                ))
            }
            Merged::Already => Pass::Already,
            Merged::Refused(why) => Pass::Stopped {
                told: why.clone(),
                why,
            },
        })
    }

    /// Run `t`'s checks on its outputs as the rebased result has them: the rules that
    /// passed, and what failed of the required ones.
    fn recheck(&self, t: &Task, scratch: &Scratch) -> Result<(Vec<String>, Vec<String>), Error> {
        let loaded = self.session.loaded();
        let outputs: Vec<String> = t.outputs.iter().map(|o| o.path.to_string()).collect();
        let files = scratch
            .tracked(&outputs)
            .map_err(|e| worktree_error(t, e))?;
        let logs = self.session.cache_dir().join("logs");
        std::fs::create_dir_all(&logs).map_err(|source| Error::Cache {
            path: logs.clone(),
            source,
        })?;
        let (mut passed, mut failures) = (Vec::new(), Vec::new());
        for name in &t.checks {
            let Some(rule) = loaded.rules.position(name).map(|p| loaded.rules.at(p)) else {
                continue;
            };
            let applies: Vec<String> = files
                .iter()
                .filter(|path| {
                    rule.applies_to.as_ref().is_none_or(|a| {
                        ProjectPath::try_from((*path).clone()).is_ok_and(|p| a.matches(&p))
                    })
                })
                .cloned()
                .collect();
            if applies.is_empty() {
                continue;
            }
            let context = check::Context {
                root: &scratch.dir,
                task: t.id.as_str(),
                shell: &loaded.spec.project.shell,
                log: log_of(&logs, t, name),
                deadline: t.timeout.map(|limit| Instant::now() + limit),
                executor: &self.executor,
            };
            let verdict = check::run(rule, &applies, &context).result;
            if verdict.passed {
                passed.push(name.clone());
            } else if rule.required {
                failures.push(format!("check {name} fails: {}", verdict.message));
            }
        }
        Ok((passed, failures))
    }

    /// The current branch's name.
    fn target(&self, t: &Task) -> Result<String, Error> {
        self.repo.current_branch().map_err(|e| worktree_error(t, e))
    }
}

/// The build that runs a sent-back task again.
fn retry(t: &Task, feedback: String) -> BuildOptions {
    BuildOptions {
        force: true,
        sent_back: vec![SentBack {
            task: t.id.to_string(),
            feedback,
        }],
        ..BuildOptions::of(vec![t.id.to_string()], Style::choose(false, false, false))
    }
}

/// Where a check the queue runs writes its command's output.
fn log_of(logs: &std::path::Path, t: &Task, rule: &str) -> PathBuf {
    logs.join(format!("{}.{rule}.merge-check.log", t.id))
}

/// `text`, cut at a character boundary after at most `limit` bytes.
fn at_most(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &text[..end], text.len() - end)
}

fn worktree_error(t: &Task, source: WorktreeError) -> Error {
    Error::Worktree {
        tasks: vec![t.id.to_string()],
        source,
    }
}
