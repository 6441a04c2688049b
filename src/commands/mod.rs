//! One module per subcommand; `execute` dispatches (just's `Subcommand::execute`).
//!
//! Commands write their normal output to stdout through [`Stdout`], which treats a
//! closed pipe (`conduct list | head`) as a normal end rather than an error.

pub(crate) mod accept;
pub(crate) mod cache;
pub(crate) mod check;
pub(crate) mod clean;
pub(crate) mod graph;
pub(crate) mod list;
pub(crate) mod plan;
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
    pub(crate) command: Command,
}

/// The subcommand and its settings.
#[derive(Debug)]
pub(crate) enum Command {
    Build(BuildOptions),
    Accept {
        targets: Vec<String>,
    },
    Status {
        json: bool,
    },
    Clean(clean::CleanOptions),
    Cache(cache::CacheCommand),
    Check {
        json: bool,
    },
    List {
        json: bool,
    },
    Graph {
        targets: Vec<String>,
        format: graph::GraphFormat,
    },
    Plan(plan::PlanOptions),
    Report(report::ReportOptions),
    Show {
        task: String,
    },
}

/// Run the command `options` names; Ok holds the exit code.
pub(crate) fn execute(options: &Options) -> Result<i32, Error> {
    let mut out = Stdout::new();
    let result = match &options.command {
        Command::Build(build) => crate::build::build(&options.locator, build),
        Command::Accept { targets } => accept::run(&options.locator, targets, &mut out),
        Command::Status { json } => status::run(&options.locator, *json, &mut out),
        Command::Clean(clean) => clean::run(&options.locator, *clean, &mut out),
        Command::Cache(command) => cache::run(&options.locator, *command, &mut out),
        Command::Check { json } => check::run(&options.locator, *json, &mut out),
        Command::List { json } => list::run(&options.locator, *json, &mut out),
        Command::Plan(plan) => plan::run(&options.locator, plan, &mut out),
        Command::Report(report) => report::run(&options.locator, report, &mut out),
        Command::Show { task } => show::run(&options.locator, task, &mut out),
        Command::Graph { targets, format } => {
            graph::run(&options.locator, targets, *format, &mut out)
        }
    };
    match result.and_then(|code| out.flush().map(|()| code)) {
        Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        other => other,
    }
}

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

    fn flush(&mut self) -> Result<(), Error> {
        self.inner.flush().map_err(|source| Error::Write {
            what: "standard output",
            source,
        })
    }
}
