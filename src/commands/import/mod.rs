//! `conduct import taskmaster [PATH] [--tag T] [--force] [--include-cancelled]`: turn a
//! Task Master plan (`.taskmaster/tasks/tasks.json`) into tasks.toml and one Markdown
//! spec, `docs/taskmaster.md`, with a `## T<id>: title` section per task (description,
//! details, test strategy, relevant files) that is that task's input.
//!
//! Mapping: task `3` is `T3`, its subtask `2` is `T3.2`; `dependencies` become `deps`
//! (see `convert` for how numbers and strings are read); `priority` is kept (conduct has
//! the same four levels); `relevantFiles` with action `create` (or a bare path) become
//! `outputs`, and `modify` ones `edits` (a shared file a task changes but does not own:
//! an output is removed before its task reruns, which no existing source file should
//! be), unless some task creates them; every entry is listed in the section. Every
//! task that has work to do runs `{ agent = "claude" }`, the preset in
//! `src/agent/preset.rs` (`conduct show T3` prints its command; switching agents is one
//! edit per task), and a task with subtasks and no outputs has no `run`: it only waits
//! for its subtasks, as Task Master's parent is done when they are. `done` tasks are
//! imported and listed for `conduct accept` (never run here); `cancelled` and
//! `deferred` ones are skipped unless `--include-cancelled`.
//!
//! Nothing is written until the whole file has been read, converted and checked
//! (duplicate ids, missing and self dependencies, cycles) and the spec's sections are
//! known to resolve; an existing tasks.toml or spec is never replaced without `--force`.

mod convert;
mod parse;
mod write;

use std::fs;
use std::path::{Path, PathBuf};

use crate::commands::{Stdout, json_line};
use crate::error::Error;
use crate::project::Locator;

/// Where Task Master keeps its tasks, relative to the project.
pub(crate) const DEFAULT_PATH: &str = ".taskmaster/tasks/tasks.json";
/// The spec an import writes, relative to tasks.toml's directory.
const SPEC_PATH: &str = "docs/taskmaster.md";

/// `conduct import taskmaster`'s settings.
#[derive(Debug, Clone)]
pub(crate) struct ImportOptions {
    /// The tasks.json (default [`DEFAULT_PATH`]), relative to the starting directory.
    pub(crate) path: Option<PathBuf>,
    pub(crate) tag: Option<String>,
    pub(crate) force: bool,
    pub(crate) include_cancelled: bool,
}

#[derive(serde::Serialize)]
struct Imported<'a> {
    ok: bool,
    source: String,
    tag: &'a str,
    tasks_toml: String,
    spec: &'a str,
    tasks: usize,
    done: &'a [String],
    skipped: Vec<Skipped<'a>>,
    notes: &'a [String],
}

#[derive(serde::Serialize)]
struct Skipped<'a> {
    task: &'a str,
    status: &'a str,
}

pub(crate) fn run(
    locator: &Locator,
    options: &ImportOptions,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let crate::project::NewConfig {
        start,
        name,
        config,
        root,
    } = locator.new_config()?;
    let shown = options
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let source = start.join(&shown);
    let text = fs::read_to_string(&source).map_err(|e| Error::Read {
        path: shown.clone(),
        source: e,
    })?;
    let list = parse::parse(&shown, &text, options.tag.as_deref())?;
    let reserved = [SPEC_PATH, crate::project::CONFIG_NAME];
    let plan = convert::convert(&list.tasks, options.include_cancelled, &reserved).map_err(
        |problems| Error::ImportInvalid {
            path: shown.clone(),
            problems,
        },
    )?;
    let shown_text = shown.display().to_string();
    let markdown = write::spec_markdown(&plan, &shown_text, &list.tag);
    let unresolved = write::check_sections(&plan, &markdown);
    if !unresolved.is_empty() {
        return Err(Error::ImportInvalid {
            path: shown,
            problems: vec![format!(
                "the text of {} holds Markdown that would hide their sections in {SPEC_PATH}",
                unresolved.join(", ")
            )],
        });
    }
    let toml = write::tasks_toml(&plan, SPEC_PATH, &shown_text, &list.tag);
    let spec = root.join(SPEC_PATH);
    if !options.force {
        // Named as the user knows them (relative to where conduct started).
        let existing: Vec<PathBuf> = [(&config, name.clone()), (&spec, root.join(SPEC_PATH))]
            .into_iter()
            .filter(|(p, _)| fs::symlink_metadata(p).is_ok())
            .map(|(_, shown)| {
                shown
                    .strip_prefix(&start)
                    .map_or_else(|_| shown.clone(), Path::to_path_buf)
            })
            .collect();
        if !existing.is_empty() {
            return Err(Error::ImportExists { paths: existing });
        }
    }
    let write_error = |path: &Path, source| Error::ImportWrite {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = spec.parent() {
        fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    }
    crate::atomic::write(&spec, markdown.as_bytes()).map_err(|e| write_error(&spec, e))?;
    crate::atomic::write(&config, toml.as_bytes()).map_err(|e| write_error(&config, e))?;
    if json {
        out.write(&json_line(&Imported {
            ok: true,
            source: shown_text,
            tag: &list.tag,
            tasks_toml: name.display().to_string(),
            spec: SPEC_PATH,
            tasks: plan.tasks.len(),
            done: &plan.done,
            skipped: plan
                .skipped
                .iter()
                .map(|(task, status)| Skipped { task, status })
                .collect(),
            notes: &plan.notes,
        }))?;
        return Ok(0);
    }
    let mut text = format!(
        "imported {} tasks from {shown_text} (tag `{}`): wrote {} and {SPEC_PATH}\n",
        plan.tasks.len(),
        list.tag,
        name.display()
    );
    if !plan.skipped.is_empty() {
        let skipped: Vec<String> = plan
            .skipped
            .iter()
            .map(|(id, why)| format!("{id} ({why})"))
            .collect();
        text.push_str(&format!(
            "skipped {} (--include-cancelled imports them)\n",
            skipped.join(", ")
        ));
    }
    for note in &plan.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    text.push_str(
        "next: `conduct check`, `conduct plan --all`, `conduct show <task>`, `conduct build`\n",
    );
    if !plan.done.is_empty() {
        text.push_str(&format!(
            "Task Master says {} done: run `conduct accept {}` to mark {} done\n",
            if plan.done.len() == 1 {
                "this is"
            } else {
                "these are"
            },
            plan.done.join(" "),
            if plan.done.len() == 1 { "it" } else { "them" }
        ));
    }
    out.write(&text)?;
    Ok(0)
}
