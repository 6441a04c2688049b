//! `conduct report`: the last run (or `--run FILE`) as a Markdown execution log or a
//! self-contained HTML page with a Gantt chart. It reads the run record only: no config
//! is hashed and nothing is run, so it works while another build holds the lock.
//! `--json` prints the run record itself (the schema of `.cache/runs/*.json`) on stdout;
//! `--markdown FILE` and `--html FILE` are still written beside it.

use std::path::{Path, PathBuf};

use crate::commands::{Stdout, json_line};
use crate::error::Error;
use crate::project::Locator;
use crate::project::open::Access;
use crate::report::record::{self, RunRecord};
use crate::report::{html, markdown};
use crate::session::Session;

/// What `conduct report` was asked: where each format goes (`-` is standard output).
#[derive(Debug)]
pub(crate) struct ReportOptions {
    pub(crate) markdown: Option<PathBuf>,
    pub(crate) html: Option<PathBuf>,
    /// A run record to report instead of the newest.
    pub(crate) run: Option<PathBuf>,
}

pub(crate) fn run(
    locator: &Locator,
    options: &ReportOptions,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let record = match &options.run {
        Some(path) => record::load(path).map_err(|source| Error::RunRecord {
            path: path.clone(),
            source,
        })?,
        None => newest(locator)?,
    };
    if json {
        // The run record itself, as it is kept in .cache/runs/ (one line).
        out.write(&json_line(&record))?;
    }
    let stdout_markdown = !json && options.markdown.is_none() && options.html.is_none();
    if stdout_markdown {
        out.write(&markdown::render(&record))?;
    }
    if let Some(target) = &options.markdown {
        emit(target, &markdown::render(&record), out)?;
    }
    if let Some(target) = &options.html {
        emit(target, &html::render(&record), out)?;
    }
    say_written(&record, options);
    Ok(0)
}

/// The newest sound run record of the project at `locator`: a damaged one (or one
/// without a checksum) is skipped with a warning.
fn newest(locator: &Locator) -> Result<RunRecord, Error> {
    let session = Session::open(locator, Access::Read)?;
    let dir = session.cache_dir().join("runs");
    let runs = record::list(&dir).map_err(|source| Error::Read {
        path: dir.clone(),
        source,
    })?;
    session.finish();
    for path in runs.iter().rev() {
        match record::load_from_cache(path) {
            Ok(record) => return Ok(record),
            Err(why) => crate::report::warn(&format!(
                "skipping the run record {}: {why}",
                path.display()
            )),
        }
    }
    Err(Error::NoRunRecord { dir })
}

fn emit(target: &Path, text: &str, out: &mut Stdout) -> Result<(), Error> {
    if target == Path::new("-") {
        return out.write(text);
    }
    std::fs::write(target, text).map_err(|source| Error::Write {
        what: "the report file",
        source,
    })
}

/// Say where the files went (on stderr, so `-` output stays clean).
fn say_written(record: &RunRecord, options: &ReportOptions) {
    for path in [&options.markdown, &options.html].into_iter().flatten() {
        if path != Path::new("-") {
            eprintln!(
                "wrote {} ({} tasks, run of {})",
                path.display(),
                record.tasks.len(),
                record.started_at
            );
        }
    }
}
