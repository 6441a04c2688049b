//! `SpecError`: everything that can be wrong with tasks.toml or a rule file.
//!
//! Each variant carries the data of the mistake, never a preformatted sentence, so tests
//! match on kinds and the one renderer (`error.rs`) decides the words. `help()` is the
//! one-line fix every error must come with: a "did you mean" when there is a close name,
//! otherwise what to do.

use std::fmt::Write as _;

use crate::source::Location;
use crate::spec::name::NameProblem;
use crate::spec::path::PathProblem;

/// One configuration error and where it is.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{kind}")]
pub(crate) struct SpecError {
    pub(crate) at: Location,
    pub(crate) kind: SpecErrorKind,
}

/// What is wrong. Messages use the words of tasks.toml (`task`, `input`, `deps`).
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum SpecErrorKind {
    #[error("{message}")]
    Syntax { message: String },
    #[error("unknown key `{key}` in {table}")]
    UnknownKey {
        key: String,
        table: String,
        known: &'static [&'static str],
        suggestion: Option<String>,
    },
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{what} `{name}` {problem}")]
    InvalidName {
        what: &'static str,
        name: String,
        problem: NameProblem,
    },
    #[error("`{key}` cannot be `{value}`")]
    BadChoice {
        key: &'static str,
        value: String,
        allowed: &'static [&'static str],
        suggestion: Option<String>,
    },
    #[error("`{key}` must be between {min} and {max}, found {value}")]
    OutOfRange {
        key: &'static str,
        value: String,
        min: i64,
        max: i64,
    },
    #[error("`{key}` is not a duration: {reason}")]
    BadDuration {
        key: &'static str,
        text: String,
        reason: String,
    },
    #[error("`{key}` is not a size: `{text}`")]
    BadSize { key: &'static str, text: String },
    #[error("`mem` is not a memory size Slurm takes: `{text}`")]
    BadMemory { text: String },
    #[error("`{key}` must be a positive amount of US dollars, found {value}")]
    BadUsd { key: &'static str, value: String },
    #[error("`run = {{ … }}` names no `agent`")]
    RunWithoutAgent,
    #[error("`command` goes with `agent = \"command\"`, and only with it")]
    CommandAgent,
    #[error("task `{task}` runs unknown agent `{agent}`")]
    UnknownAgent {
        task: String,
        agent: String,
        suggestion: Option<String>,
    },
    #[error("`[agents.{name}]` gives no `command`, and `{name}` is no built-in agent")]
    AgentWithoutCommand { name: String },
    #[error("output `{path}` of task `{task}` is {what}")]
    ProtectedOutput {
        path: String,
        task: String,
        /// What it is or holds: "the config file", "inside the git repository", ...
        what: String,
    },
    #[error("`{key}` = `{path}` {conflict}")]
    ProjectDirConflict {
        key: &'static str,
        path: String,
        /// How it collides: "is the git repository", "holds input `x` of task `T`", ...
        conflict: String,
    },
    #[error("path `{path}` {problem}")]
    BadPath { path: String, problem: PathProblem },
    #[error("invalid glob `{glob}`: {reason}")]
    BadGlob { glob: String, reason: String },
    #[error("`{key}` is empty")]
    Empty { key: &'static str },
    #[error("output `{path}` is a glob")]
    GlobOutput { path: String },
    #[error("program `{name}` is a path, not a name")]
    ProgramPath { name: String },
    #[error("`{name}` is not a valid environment variable name")]
    BadEnvName { name: String },
    #[error("task `{task}` depends on unknown task `{dep}`")]
    UnknownDep {
        task: String,
        dep: String,
        suggestion: Option<String>,
    },
    #[error("{owner} names unknown group `{group}`")]
    UnknownGroup {
        owner: String,
        group: String,
        suggestion: Option<String>,
    },
    #[error("task `{task}` uses unknown rule `{rule}`")]
    UnknownRule {
        task: String,
        rule: String,
        suggestion: Option<String>,
    },
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle {
        cycle: Vec<String>,
        because: Vec<String>,
    },
    #[error("output `{path}` of task `{task}` is also declared by task `{other}`")]
    DuplicateOutput {
        path: String,
        task: String,
        other: String,
        other_at: String,
    },
    #[error(
        "output `{path}` of task `{task}` lies inside directory output `{dir}/` of task `{other}`"
    )]
    NestedOutput {
        path: String,
        task: String,
        dir: String,
        other: String,
    },
    #[error("task `{task}` edits `{path}`, an output of task `{owner}`")]
    EditsAnOutput {
        task: String,
        path: String,
        owner: String,
    },
    #[error("task `{task}` reads its own output `{path}`")]
    OutputIsInput { task: String, path: String },
    #[error("task `{task}` declares outputs but has no `run` command")]
    OutputsWithoutRun { task: String },
    #[error("path `{path}` goes through a symlink out of the project root (to `{target}`)")]
    SymlinkEscape { path: String, target: String },
    #[error("input `{path}` of task `{task}` does not exist and no task produces it")]
    MissingInput { task: String, path: String },
    #[error("input `{path}` of task `{task}` is a directory")]
    InputIsDirectory { task: String, path: String },
    #[error("no section `{section}` in `{file}`")]
    MissingSection {
        file: String,
        section: String,
        /// Every heading as written (`## T1: Title`), in document order.
        headings: Vec<String>,
        /// A heading whose leading word is close to `section`.
        suggestion: Option<String>,
    },
    #[error(
        "section `{section}` is ambiguous in `{file}`: headings on lines {} match",
        join_lines(lines)
    )]
    AmbiguousSection {
        file: String,
        section: String,
        lines: Vec<usize>,
    },
    #[error("cannot read `{path}`: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("rule `{rule}` has neither `run` nor `pattern`")]
    RuleWithoutCheck { rule: String },
    #[error("rule `{rule}` has both `run` and `pattern`")]
    RuleRunAndPattern { rule: String },
    #[error("`{key}` needs `{needs}` in rule `{rule}`")]
    RuleKeyNeeds {
        rule: String,
        key: &'static str,
        needs: &'static str,
    },
    #[error("rule `{rule}` names a metric but no bound")]
    MetricWithoutBound { rule: String },
    #[error("rule `{rule}` has `min` {min} above `max` {max}")]
    MinAboveMax { rule: String, min: f64, max: f64 },
    #[error("invalid regex in rule `{rule}`: {reason}")]
    BadRegex { rule: String, reason: String },
    #[error("rule file `{rule}` has the name of a built-in rule")]
    ShadowsBuiltin { rule: String },
    #[error("unknown placeholder `{{{name}}}`")]
    UnknownPlaceholder {
        name: String,
        /// The names known where it was written.
        known: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("variable `{name}` {problem}")]
    BadVariable {
        name: String,
        problem: VariableProblem,
    },
    #[error("`--var {name}=…` names no variable of `[vars]`")]
    UnknownVariable {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{key}` must be more than zero")]
    ZeroDuration { key: &'static str },
    #[error("`{header}` is declared twice (first at line {first_line})")]
    DuplicateTable { header: String, first_line: usize },
    #[error("task `{id}` is declared twice (the other one: line {other_line})")]
    DuplicateTask { id: String, other_line: usize },
    #[error("{table} needs `{key}`")]
    MissingKey { key: &'static str, table: String },
    #[error("`foreach` must be a glob or `{{ sections = \"FILE.md\", level = N }}`")]
    BadForeach,
}

/// Why a `[vars]` name cannot be a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VariableProblem {
    /// Not `[A-Za-z_][A-Za-z0-9_]*`.
    NotIdentifier,
    /// `path`, `stem`, `inputs`, …: a template or `run` placeholder.
    Placeholder,
}

impl std::fmt::Display for VariableProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VariableProblem::NotIdentifier => "is not a name `{…}` can hold",
            VariableProblem::Placeholder => "has the name of a placeholder",
        })
    }
}

fn join_lines(lines: &[usize]) -> String {
    let parts: Vec<String> = lines.iter().map(ToString::to_string).collect();
    parts.join(", ")
}

fn did_you_mean(suggestion: &Option<String>) -> Option<String> {
    suggestion.as_ref().map(|s| format!("did you mean `{s}`?"))
}

fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    quoted.join(", ")
}

impl SpecErrorKind {
    /// The one-line fix shown under the error.
    pub(crate) fn help(&self) -> String {
        use SpecErrorKind as K;
        match self {
            K::Syntax { .. } => "fix the TOML syntax here (see https://toml.io)".into(),
            K::UnknownKey {
                known, suggestion, ..
            } => did_you_mean(suggestion)
                .unwrap_or_else(|| format!("the keys allowed here are {}", one_of(known))),
            K::WrongType { key, expected, .. } => match *expected {
                "a string" => format!("quote the value: `{key} = \"...\"`"),
                "a list of strings" => format!("write a list: `{key} = [\"...\"]`"),
                "a table" => format!("write `[...{key}]` or `{key} = {{ ... }}`"),
                _ => format!("give `{key}` {expected}"),
            },
            K::InvalidName { what, problem, .. } => match problem {
                NameProblem::Reserved => format!("`all` selects every task; rename the {what}"),
                NameProblem::TooLong(_) => format!(
                    "shorten the {what}: conduct names files after it, and a file name holds 255 bytes"
                ),
                _ => format!("a {what} may use letters, digits, `_`, `.` and `-`"),
            },
            K::BadChoice {
                allowed,
                suggestion,
                ..
            } => did_you_mean(suggestion).unwrap_or_else(|| format!("use one of {}", one_of(allowed))),
            K::OutOfRange { key, min, max, .. } => {
                format!("give `{key}` a whole number from {min} to {max}")
            }
            K::BadDuration { .. } => {
                "write a duration like \"4h\", \"90m\", \"1h 30m\" or \"45s\"".into()
            }
            K::BadSize { .. } => "write a size such as `10GiB`, `500M` or `2 GB`".into(),
            K::BadMemory { .. } => {
                "write a whole number and a unit as sbatch's --mem takes it: `4G`, `512M`".into()
            }
            K::ProtectedOutput { .. } => {
                "conduct removes a task's outputs before it runs and restores them from the cache: declare only files the task writes".into()
            }
            K::ProjectDirConflict { key: "cache", .. } => {
                "the cache is conduct's own directory (`conduct clean --cache` empties it): choose one that holds nothing else, such as `.cache`".into()
            }
            K::ProjectDirConflict { key, .. } => {
                format!("choose a `{key}` directory that holds nothing of the project's")
            }
            K::BadPath { problem, .. } => match problem {
                PathProblem::Nul => "remove the NUL byte".into(),
                PathProblem::ControlChar => {
                    "rename the file without control characters (newlines, tabs): `CONDUCT_OUTPUTS` and other lists are one path per line".into()
                }
                PathProblem::Empty => "name a file or directory inside the project".into(),
                _ => "write paths relative to the project root (the directory holding tasks.toml), staying inside it".into(),
            },
            K::BadGlob { .. } => {
                "globs use `*` (within a directory), `**` (across directories), `?`, `[a-z]` and `{a,b}`".into()
            }
            K::Empty { key } => format!("give `{key}` a value or remove the key"),
            K::BadUsd { key, .. } => format!("write `{key}` as a number of dollars, like 2.5"),
            K::EditsAnOutput { path, owner, .. } => format!(
                "an output belongs to one task: let `{owner}` alone write `{path}`, or list it in `edits` of every task that changes it and in `outputs` of none"
            ),
            K::RunWithoutAgent => {
                "write `run = { agent = \"claude\", prompt = \"…\" }` (or codex, aider, an `[agents.NAME]`)".into()
            }
            K::UnknownAgent { suggestion, .. } => did_you_mean(suggestion).unwrap_or_else(|| {
                format!(
                    "use a built-in agent ({}) or define it in `[agents.NAME]` with a `command`",
                    one_of(crate::agent::preset::BUILT_IN)
                )
            }),
            K::CommandAgent => "write `run = { agent = \"command\", command = [\"mycli\", \"--prompt-file={message_file}\"] }`, or define the CLI in `[agents.NAME]`".into(),
            K::AgentWithoutCommand { .. } => {
                "give it `command = [\"mycli\", \"--prompt-file\", \"{message_file}\"]`".into()
            }
            K::GlobOutput { .. } => {
                "declare each output file, or a whole directory with a trailing `/`".into()
            }
            K::ProgramPath { .. } => "name the program as the shell finds it on PATH \
                (`{ program = \"cc\" }`); a file of the project is a plain input"
                .into(),
            K::BadEnvName { .. } => {
                "environment variable names use letters, digits and `_` and do not start with a digit".into()
            }
            K::UnknownDep { dep, suggestion, .. } => did_you_mean(suggestion)
                .unwrap_or_else(|| format!("declare `[tasks.{dep}]` or remove it from `deps`")),
            K::UnknownGroup {
                group, suggestion, ..
            } => did_you_mean(suggestion)
                .unwrap_or_else(|| format!("declare `[groups.{group}]` or remove the reference")),
            K::UnknownRule {
                rule, suggestion, ..
            } => did_you_mean(suggestion).unwrap_or_else(|| {
                format!(
                    "add `rules/{rule}.toml`, or use a built-in rule: {}",
                    one_of(crate::spec::name::BUILTIN_RULES)
                )
            }),
            K::Cycle { because, .. } => {
                let mut help = because.join("; ");
                let _ = write!(help, "; remove one of these dependencies");
                help
            }
            K::DuplicateOutput { other, other_at, .. } => format!(
                "every file has one producer: remove it from one task (`{other}` declares it at {other_at})"
            ),
            K::NestedOutput { other, .. } => format!(
                "a directory output belongs wholly to its task: move the file out of it or drop it from `{other}`"
            ),
            K::OutputIsInput { .. } => {
                "a task cannot read what it writes: remove the path from `inputs` or `outputs`, or narrow the glob".into()
            }
            K::OutputsWithoutRun { .. } => {
                "add `run = \"...\"` with the command that writes the outputs".into()
            }
            K::SymlinkEscape { .. } => {
                "point the path at a real file inside the project, or copy the file in".into()
            }
            K::MissingInput { path, .. } if path.contains('#') => {
                let file = path.split('#').next().unwrap_or(path);
                format!(
                    "`file#section` selects a section of a Markdown (.md) file only; for the whole of `{file}`, write `\"{file}\"`"
                )
            }
            K::MissingInput { .. } => {
                "create the file, fix the path, or declare it as an output of the task that writes it".into()
            }
            K::InputIsDirectory { path, .. } => {
                format!("write `{path}/` (every file under it) or a glob such as `{path}/**/*.ts`")
            }
            K::MissingSection {
                file,
                headings,
                suggestion,
                ..
            } => {
                if let Some(heading) = suggestion {
                    return format!("did you mean `{heading}`?");
                }
                if headings.is_empty() {
                    return format!("`{file}` has no headings; add one such as `## T1: Title`");
                }
                const SHOWN: usize = 12;
                let mut seen = std::collections::HashSet::new();
                let distinct: Vec<&String> =
                    headings.iter().filter(|h| seen.insert(h.as_str())).collect();
                let mut list = distinct
                    .iter()
                    .take(SHOWN)
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if distinct.len() > SHOWN {
                    let _ = write!(list, " and {} more", distinct.len() - SHOWN);
                }
                format!("the headings in `{file}` are {list}")
            }
            K::AmbiguousSection { .. } => {
                "make the headings distinct, or select one by its full heading text".into()
            }
            K::Unreadable { .. } => "check that the file exists and is UTF-8 text".into(),
            K::RuleWithoutCheck { .. } => {
                "add `run = \"<command>\"` (pass = exit 0) or `pattern = \"<regex>\"`".into()
            }
            K::RuleRunAndPattern { .. } => "keep one of them; write two rules for both".into(),
            K::RuleKeyNeeds { key, needs, .. } => format!("add `{needs}` or remove `{key}`"),
            K::MetricWithoutBound { .. } => "add `min = <number>` and/or `max = <number>`".into(),
            K::MinAboveMax { .. } => "no value could pass; swap or fix the bounds".into(),
            K::BadRegex { .. } => "patterns use Rust regex syntax (https://docs.rs/regex)".into(),
            K::ShadowsBuiltin { .. } => format!(
                "rename the file: {} are built in",
                one_of(crate::spec::name::BUILTIN_RULES)
            ),
            K::UnknownPlaceholder {
                known, suggestion, ..
            } => {
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let what = if known.is_empty() {
                    "declare it in `[vars]`".to_owned()
                } else {
                    format!("known here: {}", one_of(&known))
                };
                match did_you_mean(suggestion) {
                    Some(mean) => format!("{mean} ({what}; `{{{{` and `}}}}` write braces)"),
                    None => format!("{what}; write `{{{{` and `}}}}` for literal braces"),
                }
            }
            K::BadVariable { problem, .. } => match problem {
                VariableProblem::NotIdentifier => {
                    "variable names use letters, digits and `_` and do not start with a digit".into()
                }
                VariableProblem::Placeholder => format!(
                    "rename it: {} are placeholders",
                    one_of(&crate::spec::template::reserved())
                ),
            },
            K::UnknownVariable { suggestion, .. } => did_you_mean(suggestion).unwrap_or_else(
                || "declare the variable with a default in `[vars]`".into(),
            ),
            K::ZeroDuration { key } => format!(
                "a {key} of zero would stop every run at once: give a duration such as \"30m\", or remove the key for none"
            ),
            K::DuplicateTable { .. } => {
                "merge the two tables into one, or rename one of them".into()
            }
            K::DuplicateTask { .. } => {
                "give every task its own id (a template's `id` must differ per match)".into()
            }
            K::MissingKey { key, .. } => format!("add `{key} = \"...\"`"),
            K::BadForeach => {
                "write `foreach = \"src/*.c\"` or `foreach = { sections = \"docs/spec.md\", level = 2 }`".into()
            }
        }
    }
}
