//! `conduct show TASK`: the task's TASK_INSTRUCTION.md, exactly as its agent would get it
//! now, for a human to review before dispatching hours of agent work; for an agent task
//! (`run = { agent = … }`), first the exact command its preset expands to for a first
//! attempt, what its stdin reads, and why each of the preset's flags is there. Nothing
//! is run, hashed or written. `--json`: `{"task", "instruction", "command", "stdin"}`.

use std::path::{Path, PathBuf};

use crate::agent::preset;
use crate::commands::{Stdout, json_line};
use crate::error::Error;
use crate::exec::worktree;
use crate::instruction;
use crate::project::Locator;
use crate::spec::agent::AgentStdin;
use crate::spec::section::Outline;
use crate::spec::template::shell_quote;
use crate::spec::{Run, Workspace};
use crate::suggest::did_you_mean;

/// `--json`: `{"task": ID, "instruction": TEXT}`, and an agent task's command.
#[derive(serde::Serialize)]
struct JsonShow<'a> {
    task: &'a str,
    instruction: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdin: Option<String>,
}

pub(crate) fn run(
    locator: &Locator,
    task: &str,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let (_, root) = locator.locate()?;
    let project = locator.load()?;
    let loaded = &project.loaded;
    let spec = &loaded.spec;
    let Some(idx) = spec.find_task(task) else {
        return Err(Error::UnknownTarget {
            target: task.to_owned(),
            suggestion: did_you_mean(task, spec.tasks.iter().map(|t| t.id.as_str())),
        });
    };
    let text = instruction::render(spec, &loaded.graph, &loaded.rules, idx, &|file, section| {
        let text = std::fs::read_to_string(file.to_path(&root)).ok()?;
        let range = Outline::parse(&text).find(section).ok()?;
        Some(text[range].to_owned())
    });
    let t = spec.task(idx);
    let call = match &t.run {
        Some(Run::Agent(run)) => Some((run, agent_command(spec, t, run, &root))),
        _ => None,
    };
    if json {
        out.write(&json_line(&JsonShow {
            task: t.id.as_str(),
            instruction: &text,
            command: call.as_ref().map(|(_, (argv, _))| argv.as_slice()),
            stdin: call
                .as_ref()
                .and_then(|(_, (_, stdin))| stdin.as_ref().map(|p| p.display().to_string())),
        }))?;
        return Ok(0);
    }
    if let Some((run, (argv, stdin))) = &call {
        let mut head = format!(
            "# {} runs agent `{}` (a first attempt):\n#   {}\n",
            t.id,
            run.agent,
            shell_words(argv)
        );
        if let Some(stdin) = stdin {
            head.push_str(&format!("#   stdin: {}\n", stdin.display()));
        }
        let flags = preset::explained(&run.agent);
        if !flags.is_empty() {
            head.push_str(
                "# the preset's flags (a flag whose value the task does not set is left out):\n",
            );
            let width = flags
                .iter()
                .map(|(words, _)| words.len())
                .max()
                .unwrap_or(0);
            for (words, why) in flags {
                head.push_str(&format!("#   {words:<width$}  {why}\n"));
            }
        }
        head.push('\n');
        out.write(&head)?;
    }
    out.write(&text)?;
    Ok(0)
}

/// The argv and stdin of `run` for a first attempt of `task` (in its worktree if it has
/// one), as the build would make them.
fn agent_command(
    spec: &crate::spec::Spec,
    task: &crate::spec::Task,
    run: &crate::spec::agent::AgentRun,
    root: &Path,
) -> (Vec<String>, Option<PathBuf>) {
    let in_worktree = task.workspace == Workspace::Worktree;
    let instructions = spec.project.cache.to_path(root).join("instructions");
    let (workspace, instruction) = if in_worktree {
        let (dir, _) = worktree::names(task.id.as_str(), task.agent.as_deref());
        let dir = spec.project.worktrees.to_path(root).join(dir);
        let instruction = dir.join("TASK_INSTRUCTION.md");
        (dir, instruction)
    } else {
        (
            root.to_path_buf(),
            instructions.join(format!("{}.md", task.id)),
        )
    };
    let message = instructions.join(format!("{}.message.md", task.id));
    let outputs: Vec<String> = task.outputs.iter().map(|o| o.path.to_string()).collect();
    let call = preset::expand(
        run,
        &spec.project.agents,
        &preset::Context {
            prompt: run.prompt.as_deref().unwrap_or(preset::DEFAULT_PROMPT),
            message_file: &message,
            instruction: &instruction,
            workspace: &workspace,
            in_worktree,
            model: task.agent_settings.model.as_deref(),
            budget: task.agent_settings.budget,
            outputs: &outputs,
            session: None,
        },
    );
    let stdin = match call.stdin {
        AgentStdin::Instruction => Some(instruction),
        AgentStdin::Message => Some(message),
        AgentStdin::None => None,
    };
    (call.argv, stdin)
}

/// `argv` as a shell would read it back.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|word| shell_quote(word).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
