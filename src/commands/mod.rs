//! One module per subcommand; `execute` dispatches (just's `Subcommand::execute`).
//!
//! Commands write their normal output to stdout through [`Stdout`], which treats a
//! closed pipe (`conduct list | head`) as a normal end rather than an error.

pub(crate) mod accept;
pub(crate) mod cache;
pub(crate) mod check;
pub(crate) mod clean;
pub(crate) mod diff;
pub(crate) mod graph;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod list;
pub(crate) mod logs;
pub(crate) mod merge;
pub(crate) mod plan;
pub(crate) mod ready;
pub(crate) mod report;
pub(crate) mod show;
pub(crate) mod status;

use std::io::{self, Write};

use crate::build::BuildOptions;
use crate::error::Error;
use crate::project::Locator;

/// What the user asked for, free of clap.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) locator: Locator,
    /// `--json`: every command prints JSON on stdout, its errors too.
    pub(crate) json: bool,
    pub(crate) command: Command,
}

/// The subcommand and its settings.
#[derive(Debug)]
pub(crate) enum Command {
    Build(BuildOptions),
    /// `conduct watch`.
    Watch(crate::watch::WatchOptions),
    Accept {
        targets: Vec<String>,
    },
    Status,
    /// `conduct ready`.
    Ready,
    /// `conduct diff TASK [--stat]`.
    Diff {
        task: String,
        stat: bool,
    },
    /// `conduct merge`.
    Merge(merge::MergeOptions),
    Clean(clean::CleanOptions),
    Cache(cache::CacheCommand),
    Check,
    List,
    Init,
    Graph {
        targets: Vec<String>,
        format: graph::GraphFormat,
    },
    Plan(plan::PlanOptions),
    Report(report::ReportOptions),
    Show {
        task: String,
    },
    Logs(logs::LogsOptions),
    /// `conduct import taskmaster` (the importer lives in `crate::import`).
    Import(crate::commands::import::ImportOptions),
}

/// Run the command `options` names; Ok holds the exit code.
pub(crate) fn execute(options: &Options) -> Result<i32, Error> {
    let mut out = Stdout::new();
    let json = options.json;
    let result = match &options.command {
        Command::Build(build) => crate::build::build(&options.locator, build),
        Command::Watch(watch) => crate::watch::watch(&options.locator, watch),
        Command::Accept { targets } => accept::run(&options.locator, targets, json, &mut out),
        Command::Status => status::run(&options.locator, json, &mut out),
        Command::Ready => ready::run(&options.locator, json, &mut out),
        Command::Diff { task, stat } => diff::run(&options.locator, task, *stat, &mut out),
        Command::Merge(merge) => merge::run(&options.locator, merge, &mut out),
        Command::Clean(clean) => clean::run(&options.locator, *clean, json, &mut out),
        Command::Cache(command) => cache::run(&options.locator, command.clone(), json, &mut out),
        Command::Check => check::run(&options.locator, json, &mut out),
        Command::List => list::run(&options.locator, json, &mut out),
        Command::Init => init::run(&options.locator, json, &mut out),
        Command::Plan(plan) => plan::run(&options.locator, plan, &mut out),
        Command::Report(report) => report::run(&options.locator, report, json, &mut out),
        Command::Show { task } => show::run(&options.locator, task, json, &mut out),
        Command::Logs(logs) => logs::run(&options.locator, logs, json, &mut out),
        Command::Import(import) => {
            crate::commands::import::run(&options.locator, import, json, &mut out)
        }
        Command::Graph { targets, format } => {
            graph::run(&options.locator, targets, *format, &mut out)
        }
    };
    let result = match result {
        // Under `--json` an error is JSON on stdout too, through the one JSON renderer:
        // an `error` event for build (its output is events), else `{"ok": false, ...}`.
        Err(error) if json && !matches!(error, Error::Write { .. }) => {
            let shape = match options.command {
                Command::Build(_) | Command::Watch(_) => crate::error::JsonShape::Event,
                _ => crate::error::JsonShape::Failure,
            };
            let line = crate::error::render_json(&error, shape);
            out.write(&line).map(|()| error.code())
        }
        other => other,
    };
    match result.and_then(|code| out.flush().map(|()| code)) {
        Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        other => other,
    }
}

pub(crate) use crate::json::json_line;

/// Standard output for command results (colour-aware, pipe-aware).
pub(crate) struct Stdout {
    inner: anstream::AutoStream<io::StdoutLock<'static>>,
}

impl Stdout {
    fn new() -> Stdout {
        Stdout {
            inner: anstream::stdout().lock(),
        }
    }

    /// Write `text` as is.
    pub(crate) fn write(&mut self, text: &str) -> Result<(), Error> {
        self.inner
            .write_all(text.as_bytes())
            .map_err(|source| Error::Write {
                what: "standard output",
                source,
            })
    }

    /// Write `bytes` as they are (a task's output, which need not be UTF-8).
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.inner.write_all(bytes).map_err(|source| Error::Write {
            what: "standard output",
            source,
        })
    }

    /// Hand what was written to the terminal or pipe now.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.inner.flush().map_err(|source| Error::Write {
            what: "standard output",
            source,
        })
    }
}
