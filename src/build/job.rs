//! What one run of a task needs: the process (argv, the environment of SPEC §4, where
//! its output goes, its timeout) and the file work before it ([`Prep`]: its worktree,
//! its stale outputs removed, the instruction and feedback files written). Plain data,
//! made on the coordinator's thread and applied on a worker.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::build::task::Pending;
use crate::cache::{BlobError, CachedOutput};
use crate::confined::{Dir, Root};
use crate::exec::output::{Tail, read_tail};
use crate::exec::worktree::{self, Repo};
use crate::exec::{Executor, Job, Output};
use crate::hash::KeyPreimage;
use crate::project::Loaded;
use crate::report::progress::Reporter;
use crate::session::round::Round;
use crate::spec::placement::ExecutorKind;
use crate::spec::template;
use crate::spec::{DepfileOutside, InputKind, ProjectPath, Run, Task, TaskIdx, Workspace};

/// At most this many lines of a successful run's output are printed under its line...
const OUTPUT_LINES: usize = 200;
/// ...and at most this many bytes.
const OUTPUT_BYTES: u64 = 64 * 1024;

/// What stays the same for every task of a build: the project and where things go.
pub(super) struct Setting {
    pub(super) loaded: Arc<Loaded>,
    /// The session's root (resolved and opened once).
    pub(super) root: Root,
    pub(super) cache_dir: PathBuf,
    /// The repository worktree tasks branch from (`None`: no worktree task selected).
    pub(super) repo: Option<Arc<Repo>>,
    /// `.cache/instructions/`, opened once for every task's instruction file.
    pub(super) instructions: Option<Arc<Dir>>,
    /// `-v`: stream task output.
    pub(super) verbose: bool,
    /// `--executor`.
    pub(super) executor: Option<ExecutorKind>,
    /// `--fresh-session`: a retried agent task starts a new session.
    pub(super) fresh_session: bool,
}

/// What a task's attempt carries over (from `Pending`).
pub(super) struct Attempt<'a> {
    pub(super) number: u32,
    pub(super) preimage: &'a KeyPreimage,
    /// What the failed checks of the previous attempt said.
    pub(super) feedback: Option<&'a str>,
    /// Output files to leave in place (conduct has no record of making them).
    pub(super) keep: &'a [String],
    /// The rendered TASK_INSTRUCTION.md.
    pub(super) instruction: String,
    /// The agent session of the previous attempt, if it reported one.
    pub(super) session: Option<&'a str>,
}

impl Setting {
    /// The process to run and the file work before it.
    pub(super) fn job(&self, task: TaskIdx, attempt: Attempt<'_>) -> (Prep, Job) {
        let spec = &self.loaded.spec;
        let t = spec.task(task);
        let root = self.root.path.clone();
        let prepare = self.worktree_prepare(task, attempt.preimage);
        let in_cache = self
            .cache_dir
            .join("instructions")
            .join(format!("{}.md", t.id));
        // Where the task runs: the project root, or its worktree's counterpart.
        let (cwd, instruction) = match &prepare {
            Some(p) => {
                let dir = p.repo.locate(&p.worktrees, &p.id, p.agent.as_deref()).dir;
                let instruction = dir.join("TASK_INSTRUCTION.md");
                (dir, instruction)
            }
            None => (root.clone(), in_cache.clone()),
        };
        let mut instructions = vec![in_cache];
        if prepare.is_some() {
            instructions.push(instruction.clone());
        }
        let feedback = attempt.feedback.map(|text| {
            let path = self.cache_dir.join("feedback").join(format!("{}.md", t.id));
            (path, text.to_owned())
        });
        let outputs: Vec<String> = t.outputs.iter().map(|o| o.path.to_string()).collect();
        let inputs = command_inputs(t, attempt.preimage);
        let mut stdin = None;
        let mut message = None;
        let argv = match &t.run {
            Some(Run::Shell(command)) => {
                let mut argv = spec.project.shell.clone();
                argv.push(template::fill_run(
                    command,
                    &inputs,
                    &outputs,
                    template::shell_join,
                ));
                argv
            }
            Some(Run::Exec(words)) => {
                let mut argv = Vec::with_capacity(words.len());
                for word in words {
                    match word.as_str() {
                        "{inputs}" => argv.extend(inputs.iter().cloned()),
                        "{outputs}" => argv.extend(outputs.iter().cloned()),
                        _ => argv.push(template::fill_run(
                            word,
                            &inputs,
                            &outputs,
                            template::plain_join,
                        )),
                    }
                }
                argv
            }
            Some(Run::Agent(run)) => {
                let agent = self.agent_call(t, run, &attempt, &instruction, &cwd, &outputs);
                let (argv, stdin_file, message_file) =
                    agent.resolve(feedback.as_ref(), &instruction);
                stdin = stdin_file;
                message = Some(message_file);
                argv
            }
            None => Vec::new(),
        };
        let in_worktree = prepare.is_some();
        let prep = Prep {
            worktree: prepare,
            cwd: if in_worktree {
                Root::new(&cwd)
            } else {
                self.root.clone()
            },
            outputs: t.outputs.clone(),
            // A worktree is conduct's own: what is in it goes before a run.
            keep: if in_worktree {
                Vec::new()
            } else {
                attempt.keep.to_vec()
            },
            instruction: (instructions, attempt.instruction),
            instructions_dir: self.instructions.clone(),
            feedback: feedback.clone(),
            message,
        };
        let mut env = vec![
            ("CONDUCT_TASK".to_owned(), t.id.to_string()),
            ("CONDUCT_TITLE".to_owned(), t.display_title().to_owned()),
            ("CONDUCT_ROOT".to_owned(), root.display().to_string()),
            ("CONDUCT_WORKSPACE".to_owned(), cwd.display().to_string()),
            (
                "CONDUCT_INSTRUCTION".to_owned(),
                instruction.display().to_string(),
            ),
            ("CONDUCT_OUTPUTS".to_owned(), outputs.join("\n")),
            ("CONDUCT_INPUTS".to_owned(), inputs.join("\n")),
            ("CONDUCT_ATTEMPT".to_owned(), attempt.number.to_string()),
        ];
        if let Some((path, _)) = &feedback {
            env.push(("CONDUCT_FEEDBACK".to_owned(), path.display().to_string()));
        }
        env.extend(t.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let job = Job {
            label: t.id.to_string(),
            argv,
            cwd,
            env,
            output: Output::Log {
                path: self.log_path(task),
                stream: self.verbose,
            },
            timeout: t.timeout,
            task: true,
            on_cluster: (t.executor(self.executor, &self.loaded.spec.project)
                == ExecutorKind::Slurm)
                .then(|| t.placement.clone()),
            stdin,
        };
        (prep, job)
    }

    /// For a worktree task: its workspace and what to bring into it (the files its key
    /// was computed from: source inputs, section files, its dependencies' outputs).
    fn worktree_prepare(&self, task: TaskIdx, preimage: &KeyPreimage) -> Option<worktree::Prepare> {
        let t = self.loaded.spec.task(task);
        if t.workspace != Workspace::Worktree {
            return None;
        }
        let repo = Arc::clone(self.repo.as_ref()?);
        let project = &self.loaded.spec.project;
        let mut bring: Vec<String> = Vec::new();
        bring.extend(preimage.inputs.iter().map(|(path, _)| path.clone()));
        bring.extend(preimage.sections.iter().map(|(file, _, _)| file.clone()));
        for (_, outputs) in &preimage.deps {
            bring.extend(outputs.iter().map(|(path, _)| path.clone()));
        }
        bring.sort();
        bring.dedup();
        let setup = project.worktree_setup.as_ref().map(|command| {
            let mut argv = project.shell.clone();
            argv.push(command.clone());
            argv
        });
        Some(worktree::Prepare {
            repo,
            worktrees: project.worktrees.to_path(&self.root.path),
            id: t.id.to_string(),
            agent: t.agent.clone(),
            setup,
            setup_log: self
                .cache_dir
                .join("logs")
                .join(format!("{}.setup.log", t.id)),
            root: self.root.path.clone(),
            bring,
        })
    }

    /// What a successful run of `task` printed, to show under its line (ninja shows a
    /// command's warnings so): not for a `quiet = true` task, nor when the reporter
    /// wants none (`shown` false: `-q`, or `-v` streamed it live), nor when blank.
    pub(super) fn printed(&self, task: TaskIdx, shown: bool) -> Option<Tail> {
        let t = self.loaded.spec.task(task);
        // An agent's log is its machine output, read for its line's cost and tokens
        // (`conduct logs` shows all of it).
        let machine = match &t.run {
            Some(Run::Agent(run)) => {
                crate::agent::preset::format_of(run, &self.loaded.spec.project.agents)
                    != crate::spec::agent::AgentFormat::None
            }
            _ => false,
        };
        if t.quiet || machine || !shown {
            return None;
        }
        let tail = read_tail(&self.log_path(task), OUTPUT_LINES, OUTPUT_BYTES);
        (!tail.text.trim().is_empty()).then_some(tail)
    }

    /// The task's log as its cut output names it: project-relative.
    pub(super) fn log_name(&self, task: TaskIdx) -> String {
        let spec = &self.loaded.spec;
        format!("{}/logs/{}.log", spec.project.cache, spec.task(task).id)
    }

    /// After a successful run of a task with a depfile: the project files it names
    /// (`None` for a task without one). `Err`: why the task fails.
    pub(super) fn depfile_names(&self, task: TaskIdx) -> Result<Option<Vec<ProjectPath>>, String> {
        let Some(depfile) = &self.loaded.spec.task(task).depfile else {
            return Ok(None);
        };
        let root = &self.root.path;
        let cwd = self
            .workspace_of(task)
            .map_or_else(|| root.clone(), |w| w.dir);
        let named = crate::discovered::read(&depfile.to_path(&cwd), &cwd, root)
            .map_err(|why| format!("depfile {depfile}: {why}"))?;
        if self.loaded.spec.project.depfile_outside == DepfileOutside::Error
            && let Some(first) = named.outside.first()
        {
            return Err(format!(
                "depfile {depfile} names {first}, outside the project ([project] depfile_outside = \"error\")"
            ));
        }
        Ok(Some(named.inside))
    }

    /// Where a worktree task's workspace is (`None` for a task of the root).
    pub(super) fn workspace_of(&self, task: TaskIdx) -> Option<worktree::Workspace> {
        let t = self.loaded.spec.task(task);
        let repo = self
            .repo
            .as_ref()
            .filter(|_| t.workspace == Workspace::Worktree)?;
        let worktrees = self.loaded.spec.project.worktrees.to_path(&self.root.path);
        Some(repo.locate(&worktrees, t.id.as_str(), t.agent.as_deref()))
    }

    /// A worktree task ran and passed its checks: its outputs replace the project
    /// root's (SPEC §7). A task of the root has its outputs there already.
    pub(super) fn bring_out(
        &self,
        round: &mut Round<'_>,
        task: TaskIdx,
        made: &[CachedOutput],
    ) -> Result<(), BlobError> {
        let Some(workspace) = self.workspace_of(task) else {
            return Ok(());
        };
        let now = round.outputs_now(task).files;
        let session = round.session();
        let t = self.loaded.spec.task(task);
        worktree::bring_out(
            session.cache(),
            session.root(),
            t,
            made,
            &now,
            &workspace.dir,
        )
    }

    /// A worktree task ran and passed its checks: commit its outputs on its branch. A
    /// commit that fails (a hook said no) is a warning: the outputs are in the root and
    /// the cache all the same.
    pub(super) fn commit(
        &self,
        task: TaskIdx,
        pending: &Pending,
        verdicts: &[String],
        reporter: &mut Reporter,
    ) {
        let Some(workspace) = self.workspace_of(task) else {
            return;
        };
        let t = self.loaded.spec.task(task);
        let id = t.id.as_str();
        let message = worktree::commit_message(
            id,
            t.display_title(),
            verdicts,
            pending.attempt,
            &pending.reasons,
        );
        // What it edited without owning is part of its commit too (the merge reconciles
        // the edits of several tasks).
        let outputs: Vec<String> = t
            .outputs
            .iter()
            .map(|o| o.path.to_string())
            .chain(
                t.edits
                    .iter()
                    .filter(|path| path.to_path(&workspace.dir).exists())
                    .map(ToString::to_string),
            )
            .collect();
        match workspace.commit(&outputs, &message) {
            Ok(Some(commit)) => reporter.committed(id, &workspace.branch, &commit),
            Ok(None) => {}
            Err(error) => reporter.warn(&format!(
                "{id}: the outputs could not be committed in {}: {error}",
                workspace.path.display()
            )),
        }
    }

    /// The task's log.
    pub(super) fn log_path(&self, task: TaskIdx) -> PathBuf {
        crate::exec::output::log_path(&self.cache_dir, self.loaded.spec.task(task).id.as_str())
    }
}

/// The file work before a task runs: its stale outputs removed, their parent
/// directories made, its instruction written. Nothing is written or removed through a
/// symlink (see `confined`), and an output file conduct has no record of making (one
/// that was there first) is left in place: conduct never deletes what it did not make.
pub(super) struct Prep {
    /// The task's worktree to make or reuse first (a worktree task).
    worktree: Option<worktree::Prepare>,
    /// Where the task runs (the project root or its worktree), and its outputs.
    cwd: Root,
    outputs: Vec<crate::spec::Output>,
    /// Output files to leave (project-relative).
    keep: Vec<String>,
    /// Where the instruction goes: `.cache/instructions/`, and the worktree.
    instruction: (Vec<PathBuf>, String),
    /// `.cache/instructions/`, opened once per build.
    instructions_dir: Option<Arc<Dir>>,
    /// What the failed checks of the previous attempt said.
    feedback: Option<(PathBuf, String)>,
    /// An agent task's message file: its prompt, then its instruction or feedback.
    message: Option<(PathBuf, String)>,
}

impl Prep {
    /// Do it (on a worker); the worktree's setup runs through `executor`.
    pub(super) fn apply(&self, executor: &dyn Executor) -> io::Result<()> {
        if let Some(prepare) = &self.worktree {
            prepare.apply(executor).map_err(io::Error::other)?;
        }
        for output in &self.outputs {
            let path = output.path.as_str();
            let (above, name) = path.rsplit_once('/').unwrap_or(("", path));
            let dir = Dir::anchor(&self.cwd, above)?;
            let kept: Vec<&str> = self
                .keep
                .iter()
                .map(String::as_str)
                .filter(|k| *k == path || k.starts_with(&format!("{path}/")))
                .collect();
            if kept.is_empty() {
                dir.remove(name)?;
            } else if output.is_dir && dir.is_dir(name) {
                for file in crate::scan::walk_files(&self.cwd.path, path, &[]) {
                    let file = file.as_str();
                    if kept.contains(&file) {
                        continue;
                    }
                    let inner = &file[path.len() + 1..];
                    let (sub, leaf) = inner.rsplit_once('/').unwrap_or(("", inner));
                    let sub = if sub.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{name}/{sub}")
                    };
                    if let Ok(sub) = dir.inner(&sub, false) {
                        sub.remove(leaf)?;
                    }
                }
            }
        }
        // Rewritten before every run, read only by the task.
        let mut files: Vec<(&PathBuf, &str)> = self
            .instruction
            .0
            .iter()
            .map(|path| (path, self.instruction.1.as_str()))
            .collect();
        for (path, text) in self.feedback.iter().chain(&self.message) {
            files.push((path, text));
        }
        for (path, text) in files {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            match &self.instructions_dir {
                Some(dir) if dir.path() == parent => {
                    dir.write_if_changed(&name, text.as_bytes())?
                }
                _ => {
                    std::fs::create_dir_all(parent)?;
                    Dir::open(parent)?.write_if_changed(&name, text.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}

/// The files a task's command is handed (`{inputs}`, `CONDUCT_INPUTS`): its own inputs
/// in declaration order, a glob as its sorted matches among the files its key was made
/// of (sources and its dependencies' outputs), a section as its file; not `{command}`
/// inputs and not the project's or group's shared inputs.
fn command_inputs(task: &Task, preimage: &KeyPreimage) -> Vec<String> {
    let mut inputs: Vec<String> = Vec::new();
    for input in task.inputs.iter().filter(|i| !i.shared) {
        match &input.kind {
            InputKind::File(path) => inputs.push(path.to_string()),
            InputKind::Section { file, .. } => inputs.push(file.to_string()),
            InputKind::Command(_) | InputKind::Program(_) => {}
            InputKind::Glob(glob) => {
                let matcher = glob.matcher();
                let sources = preimage.inputs.iter().map(|(path, _)| path);
                let made = preimage
                    .deps
                    .iter()
                    .flat_map(|(_, outputs)| outputs.iter().map(|(path, _)| path));
                let mut matched: Vec<&String> = sources
                    .chain(made)
                    .filter(|p| matcher.is_match(p.as_str()))
                    .collect();
                matched.sort();
                inputs.extend(matched.into_iter().cloned());
            }
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(inputs.len());
    inputs.retain(|path| seen.insert(path.clone()));
    inputs
}
