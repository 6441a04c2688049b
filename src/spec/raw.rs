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
use crate::spec::error::{SpecError, SpecErrorKind};
use crate::spec::name::{GroupName, NameProblem, TaskId};
use crate::spec::reader::{Key, Named, Reader, Value};
use crate::spec::{GlobPattern, Input, InputKind, Output, Priority, Project, Run, Workspace};

const TOP_KEYS: &[&str] = &["project", "cache", "groups", "tasks"];
const CACHE_KEYS: &[&str] = &["max_size"];
const PROJECT_KEYS: &[&str] = &[
    "name",
    "jobs",
    "shell",
    "hash_env",
    "cache",
    "worktrees",
    "worktree_setup",
    "keep_runs",
];
const GROUP_KEYS: &[&str] = &["title", "after", "jobs", "timeout"];
const TASK_KEYS: &[&str] = &[
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
    "quiet",
];
const INPUT_KEYS: &[&str] = &["path", "section", "command"];

/// tasks.toml after the first pass, in declaration order.
#[derive(Debug)]
pub(super) struct RawSpec {
    pub(super) project: Project,
    pub(super) groups: Vec<RawGroup>,
    pub(super) tasks: Vec<RawTask>,
    /// Errors found so far; `validate` adds its own and fails if any.
    pub(super) errors: Vec<SpecError>,
}

#[derive(Debug)]
pub(super) struct RawGroup {
    pub(super) name: GroupName,
    pub(super) span: Span,
    pub(super) title: Option<String>,
    pub(super) after: Vec<Named>,
    pub(super) jobs: Option<NonZeroUsize>,
    pub(super) timeout: Option<Duration>,
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
    pub(super) quiet: bool,
}

/// Read tasks.toml. Fails only when the TOML itself does not parse (then every syntax
/// error is returned); otherwise the value errors travel inside `RawSpec::errors`.
pub(super) fn read(source: &Arc<SourceFile>) -> Result<RawSpec, Vec<SpecError>> {
    let (document, syntax_errors) = DeTable::parse_recoverable(source.text());
    let mut reader = Reader::new(source);
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            let span = error.span().unwrap_or(0..0);
            reader.err(
                span,
                SpecErrorKind::Syntax {
                    message: error.message().trim().to_owned(),
                },
            );
        }
        return Err(reader.into_errors());
    }
    let document = document.into_inner();
    let mut raw = RawSpec {
        project: Project::default(),
        groups: Vec::new(),
        tasks: Vec::new(),
        errors: Vec::new(),
    };
    for (key, value) in document.iter() {
        match key.get_ref().as_ref() {
            "project" => {
                if let Some(table) = reader.table("project", value) {
                    raw.project = reader.project(table);
                }
            }
            "cache" => {
                if let Some(table) = reader.table("cache", value) {
                    raw.project.cache_max_bytes = reader.cache_table(table);
                }
            }
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
            _ => reader.unknown_key(key, "tasks.toml", TOP_KEYS),
        }
    }
    // The tree is sorted by key; declaration order is what users expect to see.
    raw.groups.sort_by_key(|g| g.span.start);
    raw.tasks.sort_by_key(|t| t.span.start);
    raw.errors = reader.into_errors();
    Ok(raw)
}

impl Reader<'_> {
    fn jobs(&mut self, value: &Value<'_>) -> Option<NonZeroUsize> {
        let n = self.integer("jobs", value, 1, 4096)?;
        usize::try_from(n).ok().and_then(NonZeroUsize::new)
    }

    fn project(&mut self, table: &DeTable<'_>) -> Project {
        let mut project = Project::default();
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "name" => project.name = self.string("name", value),
                "jobs" => project.jobs = self.jobs(value),
                "shell" => {
                    let shell: Vec<String> = self
                        .named_list("shell", value)
                        .into_iter()
                        .map(|n| n.text)
                        .collect();
                    if shell.first().is_none_or(|s| s.is_empty()) {
                        self.err(value.span(), SpecErrorKind::Empty { key: "shell" });
                    } else {
                        project.shell = shell;
                    }
                }
                "hash_env" => {
                    for name in self.named_list("hash_env", value) {
                        if self.env_name(&name.text, name.span) {
                            project.hash_env.push(name.text);
                        }
                    }
                }
                name @ ("cache" | "worktrees") => {
                    if let Some(text) = self.string(name, value)
                        && let Some(path) = self.path(&text, value.span())
                    {
                        if name == "cache" {
                            project.cache = path;
                            project.cache_span = value.span().into();
                        } else {
                            project.worktrees = path;
                            project.worktrees_span = value.span().into();
                        }
                    }
                }
                "worktree_setup" => {
                    project.worktree_setup = self.non_empty_string("worktree_setup", value)
                }
                "keep_runs" => {
                    if let Some(n) = self.integer("keep_runs", value, 0, 100_000) {
                        project.keep_runs = usize::try_from(n).unwrap_or(usize::MAX);
                    }
                }
                _ => self.unknown_key(key, "[project]", PROJECT_KEYS),
            }
        }
        project
    }

    /// `[cache]`: the size `conduct cache gc` keeps the cache under.
    fn cache_table(&mut self, table: &DeTable<'_>) -> u64 {
        let mut max = crate::spec::DEFAULT_CACHE_MAX_BYTES;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "max_size" => {
                    if let Some(text) = self.string("max_size", value) {
                        match crate::units::parse_size(&text) {
                            Some(bytes) => max = bytes,
                            None => self.err(
                                value.span(),
                                SpecErrorKind::BadSize {
                                    key: "max_size",
                                    text,
                                },
                            ),
                        }
                    }
                }
                _ => self.unknown_key(key, "[cache]", CACHE_KEYS),
            }
        }
        max
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
        };
        let where_ = format!("group `{}`", group.name);
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "title" => group.title = self.string("title", value),
                "after" => group.after = self.named_list("after", value),
                "jobs" => group.jobs = self.jobs(value),
                "timeout" => group.timeout = self.duration("timeout", value),
                _ => self.unknown_key(key, &where_, GROUP_KEYS),
            }
        }
        Some(group)
    }

    fn task(&mut self, id: &Key<'_>, value: &Value<'_>) -> Option<RawTask> {
        let task_id = self.name(id, "task id", TaskId::new)?;
        let table = self.table(task_id.as_str(), value)?;
        let mut task = RawTask {
            id: task_id,
            span: id.span().into(),
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
            quiet: false,
        };
        let where_ = format!("task `{}`", task.id);
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
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
                "inputs" => task.inputs = self.inputs(value),
                "outputs" => task.outputs = self.outputs(value),
                "run" => task.run = self.run(value),
                "env" => task.env = self.env(value),
                "checks" => task.checks = self.named_list("checks", value),
                "timeout" => task.timeout = self.duration("timeout", value),
                "retries" => {
                    if let Some(n) = self.integer("retries", value, 0, 100) {
                        task.retries = u32::try_from(n).unwrap_or(0);
                    }
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
                _ => self.unknown_key(key, &where_, TASK_KEYS),
            }
        }
        Some(task)
    }

    fn inputs(&mut self, value: &Value<'_>) -> Vec<Input> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type("inputs", value, "a list");
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let kind = match item.get_ref() {
                    DeValue::String(text) => self.input_string(text, item.span()),
                    DeValue::Table(table) => self.input_table(table, item.span()),
                    _ => {
                        self.wrong_type("inputs", item, "a string or a table");
                        None
                    }
                }?;
                Some(Input {
                    kind,
                    span: item.span().into(),
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

    /// `{ path = "…", section = "…" }` or `{ command = "…" }`.
    fn input_table(&mut self, table: &DeTable<'_>, span: Range<usize>) -> Option<InputKind> {
        let (mut path, mut section, mut command) = (None, None, None);
        let mut ok = true;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "path" => path = self.string("path", value).map(|p| (p, value.span())),
                "section" => section = self.string("section", value),
                "command" => command = self.non_empty_string("command", value),
                _ => {
                    self.unknown_key(key, "an input", INPUT_KEYS);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
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

    fn run(&mut self, value: &Value<'_>) -> Option<Run> {
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
            _ => {
                self.wrong_type("run", value, "a string or a list of strings");
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
