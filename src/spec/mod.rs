//! The validated project model: what tasks.toml means once every check has passed.
//!
//! Loading goes `raw` (read the TOML tree, check each value's type and syntax) then
//! `validate` (resolve names across tables, outputs, rules) then `disk` (what only the
//! file system can tell: symlinks, missing inputs, Markdown sections). After that, the
//! types here are trusted: ids are valid, paths are normalised project paths, every dep,
//! group and rule exists. Later layers (graph, build, reports) never re-check.
//! Spans are kept on inputs, outputs and deps so that errors found at build time (a
//! missing input, a vanished section) can still point into tasks.toml.

pub(crate) mod agent;
pub(crate) mod disk;
pub(crate) mod error;
pub(crate) mod name;
pub(crate) mod outputs;
pub(crate) mod path;
pub(crate) mod placement;
pub(crate) mod protected;
mod raw;
pub(crate) mod reader;
pub(crate) mod section;
pub(crate) mod template;
mod validate;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::source::{SourceFile, Span};

pub(crate) use error::{SpecError, SpecErrorKind};
pub(crate) use name::{GroupName, TaskId};
pub(crate) use outputs::OutputIndex;
pub(crate) use path::ProjectPath;

/// Position of a task in [`Spec::tasks`] (declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct TaskIdx(pub(crate) u32);

impl TaskIdx {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// Position of a group in [`Spec::groups`] (declaration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct GroupIdx(pub(crate) u32);

impl GroupIdx {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The whole validated tasks.toml.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Spec {
    /// Not stored in the spec cache: the caller has the text it was parsed from.
    #[serde(skip, default = "SourceFile::empty")]
    pub(crate) source: Arc<SourceFile>,
    pub(crate) project: Project,
    pub(crate) groups: Vec<Group>,
    #[serde(deserialize_with = "crate::presized::vec")]
    pub(crate) tasks: Vec<Task>,
    pub(crate) outputs: OutputIndex,
    #[serde(deserialize_with = "crate::presized::map")]
    task_index: FxHashMap<TaskId, TaskIdx>,
    group_index: FxHashMap<GroupName, GroupIdx>,
    /// What the user should hear of each time the spec is used, though nothing is
    /// wrong (a template that matched nothing).
    pub(crate) notes: Vec<String>,
}

impl Spec {
    pub(crate) fn task(&self, idx: TaskIdx) -> &Task {
        &self.tasks[idx.index()]
    }

    pub(crate) fn group(&self, idx: GroupIdx) -> &Group {
        &self.groups[idx.index()]
    }

    pub(crate) fn find_task(&self, id: &str) -> Option<TaskIdx> {
        self.task_index.get(id).copied()
    }

    pub(crate) fn find_group(&self, name: &str) -> Option<GroupIdx> {
        self.group_index.get(name).copied()
    }

    /// Whether every index in the spec is in bounds and the name maps agree with the
    /// tables: checked on a spec read back from the spec cache, before anything uses it.
    pub(crate) fn is_sound(&self) -> bool {
        let (tasks, groups) = (self.tasks.len(), self.groups.len());
        let task_ok = |t: &TaskIdx| t.index() < tasks;
        let group_ok = |g: &GroupIdx| g.index() < groups;
        self.tasks.iter().all(|t| {
            t.group.as_ref().is_none_or(group_ok) && t.deps.iter().all(|d| task_ok(&d.task))
        }) && self
            .groups
            .iter()
            .all(|g| g.after.iter().all(group_ok) && g.tasks.iter().all(task_ok))
            && self.task_index.len() == tasks
            && self
                .task_index
                .iter()
                .all(|(id, t)| task_ok(t) && self.tasks[t.index()].id == *id)
            && self.group_index.len() == groups
            && self
                .group_index
                .iter()
                .all(|(name, g)| group_ok(g) && self.groups[g.index()].name == *name)
            && self.outputs.files().all(|(_, t)| task_ok(&t))
            && self.outputs.dirs().all(|(_, t)| task_ok(&t))
    }

    pub(crate) fn task_indices(&self) -> impl Iterator<Item = TaskIdx> + use<> {
        (0..self.tasks.len() as u32).map(TaskIdx)
    }
}

/// `conduct cache gc` without `--max-size` or `[cache] max_size`: 10 GiB.
pub(crate) const DEFAULT_CACHE_MAX_BYTES: u64 = 10 << 30;

/// `[project]` (and `[cache]`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Project {
    pub(crate) name: Option<String>,
    /// Default parallelism; `-j` wins, the machine's cores are the fallback.
    pub(crate) jobs: Option<NonZeroUsize>,
    /// How a string `run` is executed: the command is appended as the last argument.
    pub(crate) shell: Vec<String>,
    /// Inherited variables whose values enter every task key.
    pub(crate) hash_env: Vec<String>,
    pub(crate) cache: ProjectPath,
    pub(crate) worktrees: ProjectPath,
    /// Where `cache` and `worktrees` were written (the default: the `[project]` table
    /// or the start of the file), for errors about where they point.
    pub(crate) cache_span: Span,
    pub(crate) worktrees_span: Span,
    pub(crate) worktree_setup: Option<String>,
    /// How many run records `.cache/runs/` keeps (0: none are written).
    pub(crate) keep_runs: usize,
    /// What a depfile naming a file outside the project means (a system header).
    pub(crate) depfile_outside: DepfileOutside,
    /// `[cache] max_size`: what `conduct cache gc` shrinks the cache to by default.
    pub(crate) cache_max_bytes: u64,
    /// `[cache] remote`: the shared cache's URL, if any.
    pub(crate) remote: Option<String>,
    /// `[cache] remote_mode`.
    pub(crate) remote_mode: Option<crate::cache::remote::Mode>,
    /// `[cache] remote_connect_timeout` (default 2 s): how long a connection to the
    /// remote may take before it counts as down.
    pub(crate) remote_connect_timeout: Option<Duration>,
    /// `[cache] remote_timeout` (default 30 s): how long one request may take.
    pub(crate) remote_timeout: Option<Duration>,
    /// `[project] executor`: where tasks run unless they say otherwise.
    pub(crate) executor: placement::ExecutorKind,
    /// `[slurm]`.
    pub(crate) slurm: placement::SlurmSettings,
    /// `[agents.NAME]`: presets of one's own, or changes to built-in ones.
    pub(crate) agents: agent::AgentDefs,
    /// `[project] budget_usd`: what a build's agent tasks may spend in all
    /// (`--budget-usd` wins).
    pub(crate) budget_usd: Option<f64>,
}

impl Project {
    /// How many tasks run at once: `-j` wins, then `jobs`, then the machine's cores.
    pub(crate) fn jobs_with(&self, flag: Option<usize>) -> usize {
        flag.or(self.jobs.map(NonZeroUsize::get))
            .unwrap_or_else(crate::cores::cores)
    }
}

impl Default for Project {
    fn default() -> Project {
        let path = |p: &str| ProjectPath::new(p).unwrap_or_else(|_| unreachable!("constant path"));
        Project {
            name: None,
            jobs: None,
            shell: vec!["sh".into(), "-c".into()],
            hash_env: Vec::new(),
            cache: path(".cache"),
            worktrees: path(".conductor/workspaces"),
            cache_span: Span::default(),
            worktrees_span: Span::default(),
            worktree_setup: None,
            keep_runs: 50,
            depfile_outside: DepfileOutside::Ignore,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            remote: None,
            remote_mode: None,
            remote_connect_timeout: None,
            remote_timeout: None,
            executor: placement::ExecutorKind::Local,
            slurm: placement::SlurmSettings::default(),
            agents: agent::AgentDefs::new(),
            budget_usd: None,
        }
    }
}

/// `[groups.NAME]`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Group {
    pub(crate) name: GroupName,
    pub(crate) title: Option<String>,
    /// Barrier: every task of this group waits for every task of these groups.
    pub(crate) after: Vec<GroupIdx>,
    /// A pool: at most this many of the group's tasks at once.
    pub(crate) jobs: Option<NonZeroUsize>,
    pub(crate) timeout: Option<Duration>,
    /// Where its tasks run, unless they say otherwise.
    pub(crate) placement: placement::Placement,
    /// Its tasks' agent model and budget, unless they say otherwise.
    pub(crate) agent_settings: agent::AgentSettings,
    /// Members in declaration order.
    pub(crate) tasks: Vec<TaskIdx>,
    pub(crate) span: Span,
}

/// Scheduling tie-break among ready tasks on equally long paths.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub(crate) enum Priority {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Priority {
    pub(crate) const NAMES: &'static [&'static str] = &["critical", "high", "medium", "low"];

    pub(crate) fn parse(text: &str) -> Option<Priority> {
        Some(match text {
            "critical" => Priority::Critical,
            "high" => Priority::High,
            "medium" => Priority::Medium,
            "low" => Priority::Low,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

/// `[project] depfile_outside`: files a depfile names outside the project (system
/// headers) are not the project's to track: ignored by default; `error` fails the task
/// instead, for builds that must read nothing but the project (Bazel's strict includes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DepfileOutside {
    #[default]
    Ignore,
    Error,
}

impl DepfileOutside {
    pub(crate) const NAMES: &'static [&'static str] = &["ignore", "error"];

    pub(crate) fn parse(text: &str) -> Option<DepfileOutside> {
        match text {
            "ignore" => Some(DepfileOutside::Ignore),
            "error" => Some(DepfileOutside::Error),
            _ => None,
        }
    }
}

/// Where a task runs (SPEC §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Workspace {
    #[default]
    Root,
    Worktree,
}

impl Workspace {
    pub(crate) const NAMES: &'static [&'static str] = &["root", "worktree"];

    pub(crate) fn parse(text: &str) -> Option<Workspace> {
        match text {
            "root" => Some(Workspace::Root),
            "worktree" => Some(Workspace::Worktree),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Workspace::Root => "root",
            Workspace::Worktree => "worktree",
        }
    }
}

/// The command of a task.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Run {
    /// A string, run as `project.shell + [string]`.
    Shell(String),
    /// An array, executed directly without a shell.
    Exec(Vec<String>),
    /// A table: a coding agent's CLI, expanded by its preset (`agent::preset`).
    Agent(agent::AgentRun),
}

/// One `[tasks.ID]`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Task {
    pub(crate) id: TaskId,
    /// The span of the task's key, for errors about the task as a whole.
    pub(crate) span: Span,
    pub(crate) title: Option<String>,
    pub(crate) group: Option<GroupIdx>,
    pub(crate) priority: Priority,
    pub(crate) effort: Option<Duration>,
    pub(crate) agent: Option<String>,
    /// Explicit `deps` only; the graph adds inferred deps and barriers.
    pub(crate) deps: Vec<Dep>,
    pub(crate) inputs: Vec<Input>,
    pub(crate) outputs: Vec<Output>,
    pub(crate) run: Option<Run>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) checks: Vec<String>,
    /// The task's own timeout, else its group's.
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) workspace: Workspace,
    /// A Makefile-syntax file the command writes (`gcc -MD -MF`): what it lists is read
    /// after a success and becomes part of the task's key (see `discovered`).
    pub(crate) depfile: Option<ProjectPath>,
    /// `edits = [...]`: files it may change without owning them (a router every task
    /// registers in): neither inputs nor outputs, listed by several tasks; in the
    /// project root two tasks that edit one file never run at once.
    pub(crate) edits: Vec<ProjectPath>,
    /// `quiet = true`: what a successful run prints stays in its log (not part of the
    /// key: it changes nothing the task produces).
    pub(crate) quiet: bool,
    /// `always = true`: it runs whenever it is selected, like a phony target; its
    /// dependents still see only its outputs' digests (early cutoff).
    pub(crate) always: bool,
    /// Where it runs: its own keys, else its group's (`executor` unset: the project's
    /// or `--executor`). Not part of its key.
    pub(crate) placement: placement::Placement,
    /// Its agent's model and budget: its own keys, else its group's.
    pub(crate) agent_settings: agent::AgentSettings,
}

impl Task {
    /// Where it runs: its own `executor` (or its group's), else `--executor` (`flag`),
    /// else the project's.
    pub(crate) fn executor(
        &self,
        flag: Option<placement::ExecutorKind>,
        project: &Project,
    ) -> placement::ExecutorKind {
        self.placement.executor.or(flag).unwrap_or(project.executor)
    }
    /// Whether its command is a coding agent (`run = { agent = … }`).
    pub(crate) fn is_agent(&self) -> bool {
        matches!(self.run, Some(Run::Agent(_)))
    }

    /// The title, or the id when none was given.
    pub(crate) fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(self.id.as_str())
    }

    /// The id, then the title after `separator` when there is one (`T4: Retry Engine`
    /// with `": "`): a task without a title is named once, never `T4: T4`.
    pub(crate) fn label(&self, separator: &str) -> String {
        label(self.id.as_str(), self.title.as_deref(), separator)
    }
}

/// `id`, then `title` after `separator` when there is one (see [`Task::label`]).
pub(crate) fn label(id: &str, title: Option<&str>, separator: &str) -> String {
    match title {
        Some(title) => format!("{id}{separator}{title}"),
        None => id.to_owned(),
    }
}

/// An explicit dependency and where it was written.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Dep {
    pub(crate) task: TaskIdx,
    pub(crate) span: Span,
}

/// One entry of `inputs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Input {
    pub(crate) kind: InputKind,
    pub(crate) span: Span,
    /// From `[project] inputs` or the group's `inputs`: part of the key, not one of the
    /// files the command is handed (`{inputs}`, `CONDUCT_INPUTS`).
    pub(crate) shared: bool,
}

/// The four forms an input can take (SPEC §2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum InputKind {
    /// One file.
    File(ProjectPath),
    /// Every file matching a glob; `dir/` is written as the glob `dir/**`. Boxed: a
    /// compiled glob is ~250 bytes, and every input is as large as its largest form.
    Glob(Box<GlobPattern>),
    /// One section of a Markdown file (`{path, section}` or `file.md#section`).
    Section { file: ProjectPath, section: String },
    /// A command whose stdout is hashed (a tool's version).
    Command(String),
    /// A program found on `PATH` (`{ program = "cc" }`): the executable's contents are
    /// hashed, through the stat cache, without running it.
    Program(String),
}

impl InputKind {
    /// How a `{ program = … }` input is named among the command inputs of a key.
    pub(crate) fn program_label(name: &str) -> String {
        format!("{PROGRAM_LABEL}{name}")
    }
}

/// The prefix of [`InputKind::program_label`].
pub(crate) const PROGRAM_LABEL: &str = "program:";

/// A compiled input glob (`*` never crosses `/`). Stored as its text; compiled again
/// when read back from the spec cache.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub(crate) struct GlobPattern {
    pub(crate) text: String,
    pub(crate) glob: globset::Glob,
}

impl GlobPattern {
    /// Build a glob the way every glob in conduct is built: `literal_separator(true)`.
    pub(crate) fn new(text: &str) -> Result<GlobPattern, globset::Error> {
        let glob = globset::GlobBuilder::new(text)
            .literal_separator(true)
            .backslash_escape(true)
            .build()?;
        Ok(GlobPattern {
            text: text.to_owned(),
            glob,
        })
    }
}

/// One entry of `outputs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Output {
    pub(crate) path: ProjectPath,
    /// Declared with a trailing `/`: the task owns the whole directory.
    pub(crate) is_dir: bool,
    pub(crate) span: Span,
}

impl Output {
    /// The output as written in tasks.toml (with the trailing `/` of a directory).
    pub(crate) fn display(&self) -> String {
        if self.is_dir {
            format!("{}/", self.path)
        } else {
            self.path.to_string()
        }
    }
}

/// What [`GlobPattern::matcher`] gives: most globs in tasks.toml are `dir/*.ext`, and
/// those are matched by comparing strings. globset compiles a regex for every glob
/// (its cheaper strategies need `**/`), which cost a small project's no-op a tenth of a
/// millisecond per glob, on every build.
pub(crate) enum GlobMatcher {
    /// `dir/*suffix` (`dir/` may be empty): one `*`, no other wildcard or escape.
    DirStar { dir: String, suffix: String },
    /// Any other glob, through globset.
    Compiled(globset::GlobMatcher),
}

impl GlobMatcher {
    pub(crate) fn is_match(&self, path: &str) -> bool {
        match self {
            GlobMatcher::DirStar { dir, suffix } => path
                .strip_prefix(dir.as_str())
                .is_some_and(|rest| rest.ends_with(suffix.as_str()) && !rest.contains('/')),
            GlobMatcher::Compiled(matcher) => matcher.is_match(path),
        }
    }
}

impl GlobPattern {
    /// The `dir/` and suffix of a `dir/*suffix` glob (see [`GlobMatcher::DirStar`]).
    pub(crate) fn dir_star(&self) -> Option<(&str, &str)> {
        let (dir, suffix) = self.text.split_once('*')?;
        let plain = |s: &str| !s.contains(['*', '?', '[', ']', '{', '}', '\\']);
        let dir_ok = dir.is_empty() || dir.ends_with('/');
        (dir_ok && plain(dir) && plain(suffix) && !suffix.contains('/')).then_some((dir, suffix))
    }

    /// How paths are tested against this glob.
    pub(crate) fn matcher(&self) -> GlobMatcher {
        match self.dir_star() {
            Some((dir, suffix)) => GlobMatcher::DirStar {
                dir: dir.to_owned(),
                suffix: suffix.to_owned(),
            },
            None => GlobMatcher::Compiled(self.glob.compile_matcher()),
        }
    }

    /// The directories before the first wildcard (`src/gen` for `src/gen/**/*.ts`):
    /// where the files it can match live.
    pub(crate) fn literal_prefix(&self) -> String {
        let literal: Vec<&str> = self
            .text
            .split('/')
            .take_while(|c| !c.contains(['*', '?', '[', '{']))
            .collect();
        literal.join("/")
    }
}

impl From<GlobPattern> for String {
    fn from(glob: GlobPattern) -> String {
        glob.text
    }
}

impl TryFrom<String> for GlobPattern {
    type Error = globset::Error;

    fn try_from(text: String) -> Result<GlobPattern, globset::Error> {
        GlobPattern::new(&text)
    }
}

/// Parse and validate a tasks.toml text against the loaded rules, with what templates
/// matched and the command line's variables (`given`). Pure: reads no files.
///
/// `Err` only when the TOML does not parse. Otherwise the spec comes back together with
/// the errors found; it holds only the valid parts, so callers can keep checking it (the
/// graph, the disk) and report every error of the file at once.
pub(crate) fn parse(
    source: &Arc<SourceFile>,
    rules: &dyn name::RuleNames,
    given: &template::Given,
) -> Result<(Spec, Vec<SpecError>), Vec<SpecError>> {
    let raw = raw::read(source, given)?;
    Ok(validate::validate(source, raw, rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;

    const EXAMPLE: &str = include_str!("../../tasks.toml");

    fn load(text: &str) {
        let source = SourceFile::new("tasks.toml", text);
        if let Ok((spec, errors)) = parse(&source, &[], &Default::default()) {
            let graph = Graph::build(&spec);
            for error in errors.iter().chain(graph.err().iter().flatten()) {
                // Rendering must not panic either (spans must stay inside the text).
                let _ = (error.at.to_string(), error.kind.help());
                let (line, _) = error.at.line_col();
                let _ = error.at.file.line_text(line);
            }
        }
    }

    #[test]
    fn truncated_configs_never_panic() {
        for (i, _) in EXAMPLE.char_indices().step_by(4) {
            load(&EXAMPLE[..i]);
        }
    }

    #[test]
    fn mangled_configs_never_panic() {
        let noise = [
            '"', '[', ']', '{', '}', '=', ',', '#', '\n', '.', '\'', '/', 'x',
        ];
        for (n, (i, c)) in EXAMPLE.char_indices().enumerate().step_by(5) {
            let replacement = noise[n % noise.len()];
            let mut text = String::with_capacity(EXAMPLE.len());
            text.push_str(&EXAMPLE[..i]);
            text.push(replacement);
            text.push_str(&EXAMPLE[i + c.len_utf8()..]);
            load(&text);
        }
    }

    /// The string-compare matcher of `dir/*suffix` globs agrees with globset on every
    /// path, and other globs go to globset.
    #[test]
    fn dir_star_globs_match_as_globset_does() {
        use proptest::prelude::*;
        let patterns = [
            "src/*.c",
            "*.md",
            "src/*",
            "a/b/*_test.rs",
            "src/*.",
            "obj/*.o",
            "*",
        ];
        for text in patterns {
            let glob = GlobPattern::new(text).unwrap();
            assert!(glob.dir_star().is_some(), "{text}");
        }
        for text in [
            "src/**/*.c",
            "src/*/x.c",
            "src/?.c",
            "src/[ab].c",
            "s*/x",
            "a\\*b",
        ] {
            let glob = GlobPattern::new(text).unwrap();
            assert!(glob.dir_star().is_none(), "{text}");
        }
        let dirs = [
            "", "src/", "obj/", "a/", "a/b/", "src/x/", "srcx/", "a/b/c/",
        ];
        let suffixes = ["", ".", ".c", ".o", ".md", "_test.rs", ".c/x"];
        let middle = proptest::string::string_regex("[a-c./_]{0,3}").unwrap();
        let path = (0..dirs.len(), middle, 0..suffixes.len())
            .prop_map(move |(d, m, s)| format!("{}{m}{}", dirs[d], suffixes[s]));
        let config = ProptestConfig::with_cases(4000);
        proptest!(config, |(path in path, which in 0..patterns.len())| {
            let glob = GlobPattern::new(patterns[which]).unwrap();
            prop_assert_eq!(
                glob.matcher().is_match(&path),
                glob.glob.compile_matcher().is_match(&path),
                "{} against {}", patterns[which], path
            );
        });
    }
}
