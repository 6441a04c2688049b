//! The top-level error, its exit code, and the one renderer every error goes through.
//!
//! Lower layers have their own enums (`SpecError` for configuration); they are wrapped
//! here and rendered in one place, in the shape the spec asks for and rustc made
//! familiar:
//!
//! ```text
//! error: unknown key `titel` in task `T1`
//!   --> tasks.toml:12:1
//!    |
//! 12 | titel = "Schema"
//!    | ^^^^^
//!    = help: did you mean `title`?
//! ```
//!
//! Exit codes (SPEC §6): 0 ok, 1 a task or check failed, 2 bad config or usage, 130
//! interrupted.

use std::io::{self, Write};
use std::path::PathBuf;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::spec::SpecError;

/// Exit code for bad configuration or usage.
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code for a failed task or check.
pub(crate) const EXIT_FAILURE: i32 = 1;
/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

/// Why a task has no log to print (`conduct logs`, see `Error::NoLog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoLog {
    /// No run of it is on record.
    NeverRan,
    /// Its last result came from the cache or `conduct accept`: nothing ran here.
    Restored,
}

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("could not find `{name}` in `{}`{}", start.display(), if *searched_up { " or any parent directory" } else { "" })]
    ConfigNotFound {
        name: String,
        start: PathBuf,
        searched_up: bool,
    },
    #[error("cannot use directory `{}`: {source}", path.display())]
    Directory { path: PathBuf, source: io::Error },
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("could not load `{config}`: {} error{}", errors.len(), if errors.len() == 1 { "" } else { "s" })]
    Config {
        config: String,
        errors: Vec<SpecError>,
    },
    #[error("unknown target `{target}`")]
    UnknownTarget {
        target: String,
        suggestion: Option<String>,
    },
    #[error("cannot use the cache at `{}`: {source}", path.display())]
    Cache { path: PathBuf, source: io::Error },
    #[error("task `{task}` {}", match why {
        NoLog::NeverRan => "has not run yet",
        NoLog::Restored => "has no log: its outputs were restored from the cache or accepted, it has not run here",
    })]
    NoLog {
        task: String,
        why: NoLog,
        /// A build is running now (it may still run the task).
        building: bool,
    },
    #[error("task `{task}` has no worktree branch: {why}")]
    NoBranch {
        task: String,
        /// "it does not run in a worktree", "`agent/T4/x` does not exist yet", …
        why: String,
        /// It runs in a worktree (it just has not run yet).
        worktree_task: bool,
    },
    #[error("no build has been recorded in `{}` yet", dir.display())]
    NoRunRecord { dir: PathBuf },
    #[error("cannot use the run record `{}`: {source}", path.display())]
    RunRecord {
        path: PathBuf,
        source: crate::report::record::LoadError,
    },
    #[error("{source}; tasks {} run in a git worktree", tasks.join(", "))]
    Worktree {
        tasks: Vec<String>,
        source: crate::exec::worktree::WorktreeError,
    },
    #[error("`{}` already exists; conduct init never overwrites it", path.display())]
    ConfigExists { path: PathBuf },
    #[error("cannot write `{}`: {source}", path.display())]
    Init { path: PathBuf, source: io::Error },
    #[error(transparent)]
    CacheDir(#[from] crate::cache::dir::CacheDirError),
    #[error("cannot write to {what}: {source}")]
    Write {
        what: &'static str,
        source: io::Error,
    },
    #[error("no remote cache is set")]
    NoRemote,
    #[error("Slurm does not answer: `{tried}` said: {said}")]
    SlurmUnavailable { tried: String, said: String },
    #[error("cannot watch the project's files: {message}")]
    Watch { message: String },
    #[error("cannot import `{}`: {message}", path.display())]
    ImportParse { path: PathBuf, message: String },
    #[error("`{}` has no tag `{tag}` (it has {})", path.display(), tags.join(", "))]
    ImportTag {
        path: PathBuf,
        tag: String,
        tags: Vec<String>,
    },
    /// Everything that stops an import, each naming the task ids (`import::convert`).
    #[error("cannot import `{}`, nothing was written: {}", path.display(), problems.join("; "))]
    ImportInvalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{} already exist{}; an import never overwrites without --force", paths.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(" and "), if paths.len() == 1 { "s" } else { "" })]
    ImportExists { paths: Vec<PathBuf> },
    #[error("cannot write `{}`: {source}", path.display())]
    ImportWrite { path: PathBuf, source: io::Error },
}

impl From<crate::graph::UnknownTarget> for Error {
    fn from(e: crate::graph::UnknownTarget) -> Error {
        Error::UnknownTarget {
            target: e.target,
            suggestion: e.suggestion,
        }
    }
}

impl Error {
    /// The process exit code for this error.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Error::Write { .. }
            | Error::Init { .. }
            | Error::ImportWrite { .. }
            | Error::Cache { .. }
            | Error::NoLog { .. }
            | Error::NoBranch {
                worktree_task: true,
                ..
            }
            | Error::CacheDir(crate::cache::dir::CacheDirError::Io { .. }) => EXIT_FAILURE,
            _ => EXIT_USAGE,
        }
    }

    /// A stable name for what went wrong, for `--json` (`"config"`, `"unknown_target"`, …).
    fn kind(&self) -> &'static str {
        match self {
            Error::ConfigNotFound { .. } => "config_not_found",
            Error::Directory { .. } => "directory",
            Error::Read { .. } => "read",
            Error::Config { .. } => "config",
            Error::UnknownTarget { .. } => "unknown_target",
            Error::Cache { .. } => "cache",
            Error::NoLog { .. } => "no_log",
            Error::NoBranch { .. } => "no_branch",
            Error::NoRunRecord { .. } => "no_run_record",
            Error::RunRecord { .. } => "run_record",
            Error::Worktree { .. } => "worktree",
            Error::CacheDir(_) => "cache_dir",
            Error::ConfigExists { .. } => "config_exists",
            Error::Init { .. } => "init",
            Error::Write { .. } => "write",
            Error::NoRemote => "no_remote",
            Error::SlurmUnavailable { .. } => "slurm_unavailable",
            Error::Watch { .. } => "watch",
            Error::ImportParse { .. } => "import_parse",
            Error::ImportTag { .. } => "import_tag",
            Error::ImportInvalid { .. } => "import_invalid",
            Error::ImportExists { .. } => "import_exists",
            Error::ImportWrite { .. } => "import_write",
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            Error::ConfigNotFound { .. } => {
                Some("run conduct inside a project, or pass `-C DIR` or `-f FILE`".to_owned())
            }
            Error::Watch { .. } => Some(
                "on Linux, raise fs.inotify.max_user_watches (sysctl) if the project has very \
                 many directories"
                    .to_owned(),
            ),
            Error::SlurmUnavailable { .. } => Some(
                "tasks with executor = \"slurm\" need sbatch, squeue and scancel on PATH and a \
                 controller that answers (check `sinfo`, SLURM_CONF); or build with \
                 --executor local"
                    .to_owned(),
            ),
            Error::NoRemote => Some(
                "set `[cache] remote`, CONDUCT_REMOTE_CACHE or --remote-cache (file:///DIR)"
                    .to_owned(),
            ),
            Error::ConfigExists { .. } => Some(
                "edit it (`conduct check` validates it), or move it away to start over".to_owned(),
            ),
            Error::Worktree { .. } => Some(
                "run `git init` and commit, or set `workspace = \"root\"` on these tasks".to_owned(),
            ),
            Error::CacheDir(crate::cache::dir::CacheDirError::NotOurs { .. }) => Some(
                "conduct keeps its cache only in a directory it made (marked with CACHEDIR.TAG): set `[project] cache` to a new directory, or move those files away"
                    .to_owned(),
            ),
            Error::CacheDir(crate::cache::dir::CacheDirError::Outside { .. }) => Some(
                "conduct never follows a symlink out of the project: make the cache directory a real directory inside it"
                    .to_owned(),
            ),
            Error::NoRunRecord { .. } => Some(
                "every `conduct build` records its run there; `[project] keep_runs` sets how many are kept"
                    .to_owned(),
            ),
            Error::NoLog { task, building, .. } if *building => Some(format!(
                "a build is running: `conduct logs {task} -f` prints the task's output as it comes"
            )),
            Error::NoLog { task, why, .. } => Some(match why {
                NoLog::NeverRan => format!("`conduct build {task}` runs it"),
                NoLog::Restored => {
                    format!("`conduct build {task} --force` runs it here")
                }
            }),
            Error::NoBranch {
                task,
                worktree_task,
                ..
            } => Some(if *worktree_task {
                format!("`conduct build {task}` runs it in its worktree, on its branch")
            } else {
                format!("give `{task}` `workspace = \"worktree\"` to review its work as a branch")
            }),
            Error::ImportParse { .. } => Some(
                "give the path of a Task Master tasks.json (default .taskmaster/tasks/tasks.json)"
                    .to_owned(),
            ),
            Error::ImportTag { tags, .. } => Some(format!(
                "pick one with --tag ({})",
                tags.join(", ")
            )),
            Error::ImportInvalid { .. } => Some(
                "fix these in tasks.json (`task-master validate-dependencies` lists dependency \
                 problems, `task-master fix-dependencies` repairs some), then import again"
                    .to_owned(),
            ),
            Error::ImportExists { .. } => Some(
                "pass --force to replace them, or run the import in another directory (-C DIR)"
                    .to_owned(),
            ),
            Error::UnknownTarget { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => {
                    "a target is a task id, a group, or `all`; `conduct list` shows them".to_owned()
                }
            }),
            _ => None,
        }
    }
}

struct Styles {
    error: Style,
    help: Style,
    gutter: Style,
    caret: Style,
}

const STYLES: Styles = Styles {
    error: AnsiColor::Red.on_default().bold(),
    help: AnsiColor::Cyan.on_default().bold(),
    gutter: AnsiColor::Blue.on_default().bold(),
    caret: AnsiColor::Red.on_default().bold(),
};

/// Write `error` for a human. `out` strips the styles when colour is off (`anstream`
/// honours `NO_COLOR` and non-terminals).
pub(crate) fn render(error: &Error, out: &mut dyn Write) -> io::Result<()> {
    if let Error::Config { errors, .. } = error {
        for e in errors {
            render_spec_error(e, out)?;
            writeln!(out)?;
        }
    }
    // An import's problems one per line, then the summary.
    if let Error::ImportInvalid { path, problems } = error {
        for problem in problems {
            labelled(out, "", STYLES.error, "error", problem)?;
        }
        let summary = format!(
            "cannot import `{}`: {} problem{}, nothing was written",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        labelled(out, "", STYLES.error, "error", &summary)?;
    } else {
        labelled(out, "", STYLES.error, "error", error)?;
    }
    if let Some(help) = error.help() {
        labelled(out, "", STYLES.help, "help", &help)?;
    }
    Ok(())
}

/// `error: …` or `help: …`, the label styled, after `prefix`.
fn labelled(
    out: &mut dyn Write,
    prefix: &str,
    style: Style,
    label: &str,
    text: &dyn std::fmt::Display,
) -> io::Result<()> {
    writeln!(
        out,
        "{prefix}{}{label}{}: {text}",
        style.render(),
        style.render_reset()
    )
}

/// One configuration error with its source line and a caret under the span.
fn render_spec_error(error: &SpecError, out: &mut dyn Write) -> io::Result<()> {
    let s = &STYLES;
    let (line, col) = error.at.line_col();
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let (g, gr) = (s.gutter.render(), s.gutter.render_reset());
    labelled(out, "", s.error, "error", error)?;
    writeln!(out, "{pad}{g}-->{gr} {}:{line}:{col}", error.at.file.name())?;
    let text = error.at.file.line_text(line);
    if !error.at.file.text().is_empty() {
        let span_len = (error.at.span.end - error.at.span.start) as usize;
        let rest: usize = text.chars().count().saturating_sub(col - 1);
        let carets = error
            .at
            .file
            .text()
            .get(error.at.span.start as usize..error.at.span.end as usize)
            .map_or(span_len, |t| t.lines().next().unwrap_or("").chars().count())
            .clamp(1, rest.max(1));
        writeln!(out, "{pad} {g}|{gr}")?;
        writeln!(out, "{g}{number} |{gr} {text}")?;
        writeln!(
            out,
            "{pad} {g}|{gr} {}{}{}{}",
            " ".repeat(col - 1),
            s.caret.render(),
            "^".repeat(carets),
            s.caret.render_reset()
        )?;
    }
    labelled(
        out,
        &format!("{pad} {g}={gr} "),
        s.help,
        "help",
        &error.kind.help(),
    )
}

/// Where a `--json` error goes: `build --json` prints events, so the error is one more
/// (`{"event": "error", ...}`); every other command prints one object
/// (`{"ok": false, ...}`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonShape {
    Event,
    Failure,
}

/// An error for `--json`: `kind`, `message`, `help` (when there is one) and, for a
/// configuration error, each error with its position.
#[derive(Serialize)]
struct JsonError<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    kind: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [SpecError],
}

/// One configuration error as JSON: `file`, `line`, `column` (1-based), `message`, `help`.
impl Serialize for SpecError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (line, column) = self.at.line_col();
        let mut out = serializer.serialize_struct("SpecError", 5)?;
        out.serialize_field("file", self.at.file.name())?;
        out.serialize_field("line", &line)?;
        out.serialize_field("column", &column)?;
        out.serialize_field("message", &self.to_string())?;
        out.serialize_field("help", &self.kind.help())?;
        out.end()
    }
}

/// Write `error` as one line of JSON, the machine's counterpart of [`render`].
pub(crate) fn render_json(error: &Error, shape: JsonShape) -> String {
    let errors = match error {
        Error::Config { errors, .. } => &errors[..],
        _ => &[],
    };
    let json = JsonError {
        event: matches!(shape, JsonShape::Event).then_some("error"),
        ok: matches!(shape, JsonShape::Failure).then_some(false),
        kind: error.kind(),
        message: error.to_string(),
        help: error.help(),
        errors,
    };
    crate::json::json_line(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Location, SourceFile};
    use crate::spec::SpecErrorKind;

    #[test]
    fn renders_location_source_line_caret_and_help() {
        let file = SourceFile::new("tasks.toml", "[tasks.T1]\ntitel = \"x\"\n");
        let error = Error::Config {
            config: "tasks.toml".into(),
            errors: vec![SpecError {
                at: Location::new(&file, 11..16),
                kind: SpecErrorKind::UnknownKey {
                    key: "titel".into(),
                    table: "task `T1`".into(),
                    known: &["title"],
                    suggestion: Some("title".into()),
                },
            }],
        };
        let mut out = Vec::new();
        render(&error, &mut anstream::StripStream::new(&mut out)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "error: unknown key `titel` in task `T1`\n \
             --> tasks.toml:2:1\n  \
             |\n\
             2 | titel = \"x\"\n  \
             | ^^^^^\n  \
             = help: did you mean `title`?\n\
             \n\
             error: could not load `tasks.toml`: 1 error\n"
        );
        assert_eq!(error.code(), 2);
    }
}
