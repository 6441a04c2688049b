//! First pass over tasks.toml: read the TOML tree and check every value on its own.
//!
//! serde's `deny_unknown_fields` stops at the first problem, but a user fixing a config
//! wants every mistake at once. So this pass walks toml's spanned document tree
//! (`toml::de::DeTable`, every key and value with its byte span) and checks each key,
//! type, name, path, glob and duration where it stands, collecting all errors. What needs
//! other tables (does that dep exist? is that output declared twice?) is `validate`'s job.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use crate::source::{SourceFile, Span};

mod agent;
mod placement;
mod project;
mod templates;
use crate::spec::agent::AgentSettings;
use crate::spec::error::{SpecError, SpecErrorKind};
use crate::spec::name::{GroupName, NameProblem, TaskId};
use crate::spec::placement::Placement;
use crate::spec::reader::{Key, Named, Reader, Scope, Value};
use crate::spec::template::{Given, Mode};
use crate::spec::{
    GlobPattern, Input, InputKind, Output, Priority, Project, ProjectPath, Run, Workspace,
};

const TOP_KEYS: &[&str] = &[
    "project",
    "cache",
    "slurm",
    "agents",
    "vars",
    "groups",
    "tasks",
    "templates",
];
const GROUP_KEYS: &[&str] = &[
    "title", "after", "jobs", "timeout", "inputs", "executor", "cpus", "mem", "gpus", "model",
    "budget",
];
/// A template's keys: its own two, then every task key.
const TEMPLATE_KEYS: &[&str] = &[
    "foreach",
    "id",
    "title",
    "group",
    "priority",
    "effort",
    "agent",
    "deps",
    "inputs",
    "outputs",
    "run",
    "env",
    "checks",
    "timeout",
    "retries",
    "workspace",
    "depfile",
    "edits",
    "quiet",
    "always",
    "executor",
    "cpus",
    "mem",
    "gpus",
    "model",
    "budget",
];
const TASK_KEYS: &[&str] = TEMPLATE_KEYS.split_at(2).1;
const FOREACH_KEYS: &[&str] = &["sections", "level"];
const INPUT_KEYS: &[&str] = &["path", "section", "command", "program"];

/// tasks.toml after the first pass, in declaration order.
#[derive(Debug)]
pub(super) struct RawSpec {
    pub(super) project: Project,
    pub(super) groups: Vec<RawGroup>,
    pub(super) tasks: Vec<RawTask>,
    /// Errors found so far; `validate` adds its own and fails if any.
    pub(super) errors: Vec<SpecError>,
    /// What the user should hear of but is not wrong (a template that matched nothing).
    pub(super) notes: Vec<String>,
}

#[derive(Debug)]
pub(super) struct RawGroup {
    pub(super) name: GroupName,
    pub(super) span: Span,
    pub(super) title: Option<String>,
    pub(super) after: Vec<Named>,
    pub(super) jobs: Option<NonZeroUsize>,
    pub(super) timeout: Option<Duration>,
    /// Added to the inputs of every task of the group.
    pub(super) inputs: Vec<Input>,
    /// Where its tasks run, unless they say otherwise.
    pub(super) placement: Placement,
    /// Its tasks' agent model and budget, unless they say otherwise.
    pub(super) agent_settings: AgentSettings,
}

#[derive(Debug)]
pub(super) struct RawTask {
    pub(super) id: TaskId,
    pub(super) span: Span,
    pub(super) title: Option<String>,
    pub(super) group: Option<Named>,
    pub(super) priority: Priority,
    pub(super) effort: Option<Duration>,
    pub(super) agent: Option<String>,
    pub(super) deps: Vec<Named>,
    pub(super) inputs: Vec<Input>,
    pub(super) outputs: Vec<Output>,
    pub(super) run: Option<Run>,
    pub(super) env: BTreeMap<String, String>,
    pub(super) checks: Vec<Named>,
    pub(super) timeout: Option<Duration>,
    pub(super) retries: u32,
    pub(super) workspace: Workspace,
    /// Where the command writes a Makefile-syntax list of what it read (`gcc -MD`).
    pub(super) depfile: Option<ProjectPath>,
    /// Files it may change without owning them (shared with other tasks).
    pub(super) edits: Vec<ProjectPath>,
    pub(super) quiet: bool,
    /// Runs whenever it is selected (a phony target).
    pub(super) always: bool,
    pub(super) placement: Placement,
    pub(super) agent_settings: AgentSettings,
}

/// Read tasks.toml with what its templates matched and the command line's variables.
/// Fails only when the TOML itself does not parse (then every syntax error is
/// returned); otherwise the value errors travel inside `RawSpec::errors`.
pub(super) fn read(source: &Arc<SourceFile>, given: &Given) -> Result<RawSpec, Vec<SpecError>> {
    let (document, syntax_errors) = DeTable::parse_recoverable(source.text());
    let mut reader = Reader::new(source);
    if !syntax_errors.is_empty() {
        let mut duplicated: Option<usize> = None;
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().to_owned();
            if message == "duplicate key" {
                match duplicate_table(source, span.start, &mut duplicated) {
                    Some(Some(kind)) => reader.err(span, kind),
                    // A key of a table declared twice: that table's error says it all.
                    Some(None) => {}
                    None => reader.err(span, SpecErrorKind::Syntax { message }),
                }
                continue;
            }
            reader.err(span, SpecErrorKind::Syntax { message });
        }
        return Err(reader.into_errors());
    }
    let document = document.into_inner();
    let mut raw = RawSpec {
        project: Project::default(),
        groups: Vec::new(),
        tasks: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
    };
    // Variables first: every other table may use them.
    let vars_table = document
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == "vars");
    let vars = reader.vars(vars_table.map(|(_, value)| value), given);
    reader.scope = Some(Scope {
        values: vars.clone(),
        mode: Mode::Plain,
    });
    let mut shared_inputs = Vec::new();
    // `[project]` before the tables that add to it (`[cache]`, `[agents]`): the document
    // is sorted by key, and reading `[project]` starts from the defaults.
    if let Some((_, value)) = document
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == "project")
        && let Some(table) = reader.table("project", value)
    {
        (raw.project, shared_inputs) = reader.project(table);
    }
    let mut templates = Vec::new();
    for (key, value) in document.iter() {
        match key.get_ref().as_ref() {
            "project" => {}
            "cache" => {
                if let Some(table) = reader.table("cache", value) {
                    reader.cache_table(table, &mut raw.project);
                }
            }
            "slurm" => {
                if let Some(table) = reader.table("slurm", value) {
                    raw.project.slurm = reader.slurm_table(table);
                }
            }
            "agents" => {
                if let Some(table) = reader.table("agents", value) {
                    raw.project.agents = reader.agents_table(table);
                }
            }
            "vars" => {}
            "groups" => {
                if let Some(table) = reader.table("groups", value) {
                    for (name, group) in table.iter() {
                        if let Some(group) = reader.group(name, group) {
                            raw.groups.push(group);
                        }
                    }
                }
            }
            "tasks" => {
                if let Some(table) = reader.table("tasks", value) {
                    raw.tasks.reserve(table.len());
                    for (id, task) in table.iter() {
                        if let Some(task) = reader.task(id, task) {
                            raw.tasks.push(task);
                        }
                    }
                }
            }
            "templates" => {
                if let Some(table) = reader.table("templates", value) {
                    templates.extend(table.iter());
                }
            }
            _ => reader.unknown_key(key, "tasks.toml", TOP_KEYS),
        }
    }
    for (name, template) in templates {
        reader.template(name, template, given, &vars, &mut raw);
    }
    reader.scope = None;
    // The tree is sorted by key; declaration order is what users expect to see (a
    // template's tasks stay in the order of what it matched: the sort is stable).
    raw.groups.sort_by_key(|g| g.span.start);
    raw.tasks.sort_by_key(|t| t.span.start);
    reader.duplicate_ids(&raw.tasks);
    share_inputs(&mut raw, &shared_inputs);
    raw.errors = reader.into_errors();
    Ok(raw)
}

/// toml's "duplicate key" at `offset`, said better: `Some(Some(..))` for a table header
/// declared before (naming the first line), `Some(None)` for a key inside such a
/// duplicated table (toml reports each of them again, spuriously), `None` otherwise.
/// `duplicated` is the line of the last duplicated header seen.
fn duplicate_table(
    source: &SourceFile,
    offset: usize,
    duplicated: &mut Option<usize>,
) -> Option<Option<SpecErrorKind>> {
    let (line, _) = source.line_col(u32::try_from(offset).ok()?);
    let header = |text: &str| {
        let text = text.trim();
        (text.starts_with('[') && !text.starts_with("[[")).then(|| text.to_owned())
    };
    if let Some(text) = header(source.line_text(line)) {
        let first = (1..line).find(|&l| header(source.line_text(l)).as_deref() == Some(&text))?;
        *duplicated = Some(line);
        return Some(Some(SpecErrorKind::DuplicateTable {
            header: text,
            first_line: first,
        }));
    }
    let since = (*duplicated)?;
    let in_it = (since + 1..line).all(|l| header(source.line_text(l)).is_none());
    in_it.then_some(None)
}

/// Add `[project] inputs` and each group's `inputs` to its tasks' inputs.
fn share_inputs(raw: &mut RawSpec, project: &[Input]) {
    if project.is_empty() && raw.groups.iter().all(|g| g.inputs.is_empty()) {
        return;
    }
    let by_group: BTreeMap<&str, &[Input]> = raw
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.inputs.as_slice()))
        .collect();
    for task in &mut raw.tasks {
        let group = task
            .group
            .as_ref()
            .and_then(|g| by_group.get(g.text.as_str()))
            .copied()
            .unwrap_or_default();
        task.inputs.extend(group.iter().chain(project).cloned());
    }
}

impl Reader<'_> {
    /// A timeout: a duration above zero (`0s` would time every run out at once).
    fn timeout(&mut self, value: &Value<'_>) -> Option<Duration> {
        let timeout = self.duration("timeout", value)?;
        if timeout.is_zero() {
            self.err(value.span(), SpecErrorKind::ZeroDuration { key: "timeout" });
            return None;
        }
        Some(timeout)
    }

    fn jobs(&mut self, value: &Value<'_>) -> Option<NonZeroUsize> {
        let n = self.integer("jobs", value, 1, 4096)?;
        usize::try_from(n).ok().and_then(NonZeroUsize::new)
    }

    /// An agent label names a worktree directory and a branch (SPEC §7): the alphabet
    /// and length of names, so it can never reach out of the worktrees directory.
    fn agent(&mut self, value: &Value<'_>) -> Option<String> {
        let text = self.string("agent", value)?;
        match crate::spec::name::check_label(&text) {
            Ok(()) => Some(text),
            Err(problem) => {
                self.err(
                    value.span(),
                    SpecErrorKind::InvalidName {
                        what: "agent",
                        name: text,
                        problem,
                    },
                );
                None
            }
        }
    }

    fn env_name(&mut self, name: &str, span: Span) -> bool {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.err_at(
                span,
                SpecErrorKind::BadEnvName {
                    name: name.to_owned(),
                },
            );
        }
        valid
    }

    /// A table key that names something (a group, a task), checked by `new`.
    fn name<T>(
        &mut self,
        key: &Key<'_>,
        what: &'static str,
        new: fn(&str) -> Result<T, NameProblem>,
    ) -> Option<T> {
        new(key.get_ref())
            .map_err(|problem| {
                self.err(
                    key.span(),
                    SpecErrorKind::InvalidName {
                        what,
                        name: key.get_ref().to_string(),
                        problem,
                    },
                )
            })
            .ok()
    }

    fn group(&mut self, name: &Key<'_>, value: &Value<'_>) -> Option<RawGroup> {
        let group_name = self.name(name, "group", GroupName::new)?;
        let table = self.table(group_name.as_str(), value)?;
        let mut group = RawGroup {
            name: group_name,
            span: name.span().into(),
            title: None,
            after: Vec::new(),
            jobs: None,
            timeout: None,
            inputs: Vec::new(),
            placement: Placement::default(),
            agent_settings: AgentSettings::default(),
        };
        let where_ = format!("group `{}`", group.name);
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "title" => group.title = self.string("title", value),
                "after" => group.after = self.named_list("after", value),
                "jobs" => group.jobs = self.jobs(value),
                "timeout" => group.timeout = self.timeout(value),
                "inputs" => group.inputs = self.inputs(value, true),
                other if self.placement_key(other, value, &mut group.placement) => {}
                other if self.agent_key(other, value, &mut group.agent_settings) => {}
                _ => self.unknown_key(key, &where_, GROUP_KEYS),
            }
        }
        Some(group)
    }

    fn task(&mut self, id: &Key<'_>, value: &Value<'_>) -> Option<RawTask> {
        let task_id = self.name(id, "task id", TaskId::new)?;
        let table = self.table(task_id.as_str(), value)?;
        let where_ = format!("task `{task_id}`");
        Some(self.task_body(task_id, id.span().into(), table, &where_, TASK_KEYS))
    }

    /// The keys of a task (or of a template, whose own keys `known` lists and this
    /// skips), read into a task with id `id`.
    pub(super) fn task_body(
        &mut self,
        id: TaskId,
        span: Span,
        table: &DeTable<'_>,
        where_: &str,
        known: &'static [&'static str],
    ) -> RawTask {
        let mut task = RawTask {
            id,
            span,
            title: None,
            group: None,
            priority: Priority::default(),
            effort: None,
            agent: None,
            deps: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            run: None,
            env: BTreeMap::new(),
            checks: Vec::new(),
            timeout: None,
            retries: 0,
            workspace: Workspace::default(),
            depfile: None,
            edits: Vec::new(),
            quiet: false,
            always: false,
            placement: Placement::default(),
            agent_settings: AgentSettings::default(),
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "foreach" | "id" if known == TEMPLATE_KEYS => {}
                "title" => task.title = self.string("title", value),
                "group" => task.group = self.named("group", value),
                "priority" => {
                    if let Some(p) =
                        self.choice("priority", value, Priority::NAMES, Priority::parse)
                    {
                        task.priority = p;
                    }
                }
                "effort" => task.effort = self.duration("effort", value),
                "agent" => task.agent = self.agent(value),
                "deps" => task.deps = self.named_list("deps", value),
                "inputs" => task.inputs = self.inputs(value, false),
                "outputs" => task.outputs = self.outputs(value),
                "run" => task.run = self.run(value),
                "env" => task.env = self.env(value),
                "checks" => task.checks = self.named_list("checks", value),
                "timeout" => task.timeout = self.timeout(value),
                "retries" => {
                    if let Some(n) = self.integer("retries", value, 0, 100) {
                        task.retries = u32::try_from(n).unwrap_or(0);
                    }
                }
                "depfile" => {
                    task.depfile = self
                        .string("depfile", value)
                        .and_then(|text| self.path(&text, value.span()));
                }
                "edits" => {
                    task.edits = self
                        .named_list("edits", value)
                        .into_iter()
                        .filter_map(|named| {
                            let span = named.span.start as usize..named.span.end as usize;
                            self.path(&named.text, span)
                        })
                        .collect();
                }
                "workspace" => {
                    if let Some(w) =
                        self.choice("workspace", value, Workspace::NAMES, Workspace::parse)
                    {
                        task.workspace = w;
                    }
                }
                "quiet" => {
                    if let Some(quiet) = self.boolean("quiet", value) {
                        task.quiet = quiet;
                    }
                }
                "always" => {
                    if let Some(always) = self.boolean("always", value) {
                        task.always = always;
                    }
                }
                other if self.placement_key(other, value, &mut task.placement) => {}
                other if self.agent_key(other, value, &mut task.agent_settings) => {}
                _ => self.unknown_key(key, where_, known),
            }
        }
        task
    }

    fn inputs(&mut self, value: &Value<'_>, shared: bool) -> Vec<Input> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type("inputs", value, "a list");
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let kind = match item.get_ref() {
                    DeValue::String(text) => {
                        let text = self.substituted(text, item.span());
                        self.input_string(&text, item.span())
                    }
                    DeValue::Table(table) => self.input_table(table, item.span()),
                    _ => {
                        self.wrong_type("inputs", item, "a string or a table");
                        None
                    }
                }?;
                Some(Input {
                    kind,
                    span: item.span().into(),
                    shared,
                })
            })
            .collect()
    }

    /// `path`, `glob`, `dir/` (the glob `dir/**`) or `file.md#section`.
    fn input_string(&mut self, text: &str, span: Range<usize>) -> Option<InputKind> {
        if let Some((file, section)) = text.split_once('#')
            && file.ends_with(".md")
        {
            return self.section(file, section, span);
        }
        if let Some(dir) = text.strip_suffix('/') {
            let dir = self.path(dir, span.clone())?;
            return self.glob(&format!("{dir}/**"), text, span);
        }
        if text.contains(['*', '?', '[', '{']) {
            let normalised = self.path(text, span.clone())?;
            return self.glob(normalised.as_str(), text, span);
        }
        self.path(text, span).map(InputKind::File)
    }

    fn glob(&mut self, pattern: &str, written: &str, span: Range<usize>) -> Option<InputKind> {
        match GlobPattern::new(pattern) {
            Ok(glob) => Some(InputKind::Glob(Box::new(glob))),
            Err(e) => {
                self.err(
                    span,
                    SpecErrorKind::BadGlob {
                        glob: written.to_owned(),
                        reason: e.kind().to_string(),
                    },
                );
                None
            }
        }
    }

    fn section(&mut self, file: &str, section: &str, span: Range<usize>) -> Option<InputKind> {
        let file = self.path(file, span.clone())?;
        let section = section.trim();
        if section.is_empty() {
            self.err(span, SpecErrorKind::Empty { key: "section" });
            return None;
        }
        Some(InputKind::Section {
            file,
            section: section.to_owned(),
        })
    }

    /// `{ path = "…", section = "…" }`, `{ command = "…" }` or `{ program = "…" }`.
    fn input_table(&mut self, table: &DeTable<'_>, span: Range<usize>) -> Option<InputKind> {
        let (mut path, mut section, mut command) = (None, None, None);
        let mut program = None;
        let mut ok = true;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "path" => path = self.string("path", value).map(|p| (p, value.span())),
                "section" => section = self.string("section", value),
                "command" => command = self.non_empty_string("command", value),
                "program" => program = self.non_empty_string("program", value),
                _ => {
                    self.unknown_key(key, "an input", INPUT_KEYS);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        if let Some(name) = program {
            if path.is_some() || section.is_some() || command.is_some() {
                self.err(
                    span,
                    SpecErrorKind::UnknownKey {
                        key: "program".into(),
                        table: "an input with `path` or `command`".into(),
                        known: &["path", "section", "command"],
                        suggestion: None,
                    },
                );
                return None;
            }
            if name.contains('/') {
                self.err(span, SpecErrorKind::ProgramPath { name });
                return None;
            }
            return Some(InputKind::Program(name));
        }
        match (path, section, command) {
            (None, None, Some(command)) => Some(InputKind::Command(command)),
            (Some((path, path_span)), Some(section), None) => {
                self.section(&path, &section, path_span)
            }
            (Some((path, path_span)), None, None) => self.input_string(&path, path_span),
            (_, _, Some(_)) => {
                self.err(
                    span,
                    SpecErrorKind::UnknownKey {
                        key: "command".into(),
                        table: "an input with `path`".into(),
                        known: &["path", "section"],
                        suggestion: None,
                    },
                );
                None
            }
            (None, Some(_), None) => {
                self.err(span, SpecErrorKind::Empty { key: "path" });
                None
            }
            (None, None, None) => {
                self.err(span, SpecErrorKind::Empty { key: "input" });
                None
            }
        }
    }

    fn outputs(&mut self, value: &Value<'_>) -> Vec<Output> {
        self.named_list("outputs", value)
            .into_iter()
            .filter_map(|named| {
                let span = named.span.start as usize..named.span.end as usize;
                if named.text.contains(['*', '?', '[', '{']) {
                    self.err(span, SpecErrorKind::GlobOutput { path: named.text });
                    return None;
                }
                let path = self.path(&named.text, span)?;
                Some(Output {
                    path,
                    is_dir: named.text.ends_with('/'),
                    span: named.span,
                })
            })
            .collect()
    }

    /// `run`, with `{inputs}` and `{outputs}` left for the build to fill in.
    fn run(&mut self, value: &Value<'_>) -> Option<Run> {
        let mode = self.scope.as_ref().map(|s| s.mode);
        if let Some(scope) = &mut self.scope {
            scope.mode = Mode::Run;
        }
        let run = self.run_value(value);
        if let (Some(scope), Some(mode)) = (&mut self.scope, mode) {
            scope.mode = mode;
        }
        run
    }

    fn run_value(&mut self, value: &Value<'_>) -> Option<Run> {
        match value.get_ref() {
            DeValue::String(_) => self.non_empty_string("run", value).map(Run::Shell),
            DeValue::Array(_) => {
                let argv: Vec<String> = self
                    .named_list("run", value)
                    .into_iter()
                    .map(|n| n.text)
                    .collect();
                if argv.first().is_none_or(|program| program.is_empty()) {
                    self.err(value.span(), SpecErrorKind::Empty { key: "run" });
                    return None;
                }
                Some(Run::Exec(argv))
            }
            DeValue::Table(table) => self.agent_run(table, value),
            _ => {
                self.wrong_type("run", value, "a string, a list of strings or a table");
                None
            }
        }
    }

    fn env(&mut self, value: &Value<'_>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let Some(table) = self.table("env", value) else {
            return env;
        };
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            if self.env_name(name, key.span().into())
                && let Some(text) = self.string(name, value)
            {
                env.insert(name.to_owned(), text);
            }
        }
        env
    }
}
