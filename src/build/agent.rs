//! An agent task's command for one attempt: its preset expanded (`agent::preset`) with
//! the task's model, budget and workspace, resuming the last attempt's session when
//! the checks sent it back (unless `--fresh-session`), and the files it reads: the
//! message file (the prompt, then the instruction or the feedback) and its stdin.

use std::path::{Path, PathBuf};

use crate::agent::outcome::{self, AgentOutcome};
use crate::agent::preset::{self, Context, DEFAULT_PROMPT, Invocation, RESUME_PROMPT};
use crate::build::job::{Attempt, Setting};
use crate::spec::agent::{AgentFormat, AgentRun, AgentStdin};
use crate::spec::{Run, Task, TaskIdx};

/// An attempt's agent command, before its files are placed.
pub(super) struct AgentCall {
    invocation: Invocation,
    /// The message file's path and text.
    message: (PathBuf, String),
}

impl Setting {
    /// The command of `run` for `attempt` of `task`, which runs in `cwd` and reads its
    /// instruction at `instruction`.
    pub(super) fn agent_call(
        &self,
        task: &Task,
        run: &AgentRun,
        attempt: &Attempt<'_>,
        instruction: &Path,
        cwd: &Path,
        outputs: &[String],
    ) -> AgentCall {
        // A retry the checks sent back continues the session that made the outputs.
        let session = attempt
            .session
            .filter(|_| attempt.feedback.is_some() && !self.fresh_session);
        let prompt = match session {
            Some(_) => RESUME_PROMPT,
            None => run.prompt.as_deref().unwrap_or(DEFAULT_PROMPT),
        };
        let message_path = self
            .cache_dir
            .join("instructions")
            .join(format!("{}.message.md", task.id));
        let in_worktree = cwd != self.root.path;
        let invocation = preset::expand(
            run,
            &self.loaded.spec.project.agents,
            &Context {
                prompt,
                message_file: &message_path,
                instruction,
                workspace: cwd,
                in_worktree,
                model: task.agent_settings.model.as_deref(),
                budget: task.agent_settings.budget,
                outputs,
                session,
            },
        );
        // A resumed session knows the task and hears the feedback; a new one reads the
        // instruction, then the feedback when there is one.
        let body = match (invocation.resumes, attempt.feedback) {
            (true, Some(feedback)) => feedback.to_owned(),
            (false, Some(feedback)) => format!(
                "{}\n\n# Feedback on the last attempt\n\n{feedback}",
                attempt.instruction
            ),
            (_, None) => attempt.instruction.clone(),
        };
        AgentCall {
            message: (message_path, format!("{prompt}\n\n{body}")),
            invocation,
        }
    }
}

impl Setting {
    /// What an agent task's agent reported of its last attempt, read from its log
    /// (`None` for other tasks, or an agent that reports nothing conduct reads).
    pub(super) fn agent_outcome(&self, task: TaskIdx) -> Option<AgentOutcome> {
        let t = self.loaded.spec.task(task);
        let Some(Run::Agent(run)) = &t.run else {
            return None;
        };
        let format = preset::format_of(run, &self.loaded.spec.project.agents);
        if format == AgentFormat::None {
            return None;
        }
        let log = std::fs::read(self.log_path(task)).ok()?;
        outcome::parse(format, &log)
    }
}

impl AgentCall {
    /// Its argv, the file its stdin reads (the instruction, or the feedback file on a
    /// resume; or the message file), and the message file to write.
    pub(super) fn resolve(
        self,
        feedback: Option<&(PathBuf, String)>,
        instruction: &Path,
    ) -> (Vec<String>, Option<PathBuf>, (PathBuf, String)) {
        let stdin = match self.invocation.stdin {
            AgentStdin::Instruction => match (self.invocation.resumes, feedback) {
                (true, Some((path, _))) => Some(path.clone()),
                _ => Some(instruction.to_path_buf()),
            },
            AgentStdin::Message => Some(self.message.0.clone()),
            AgentStdin::None => None,
        };
        (self.invocation.argv, stdin, self.message)
    }
}
