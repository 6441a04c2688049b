//! One build, in the five steps of DESIGN "How one build flows": load (open the
//! session), graph (select the targets), scan (`Session::prepare`), coordinate (the
//! event loop of `coordinator`, or, when nothing changed since a clean build of
//! everything, every task fresh at once), finish (the run record, the state, the
//! summary, the exit code).
//!
//! The rooms of a build: `route` decides what happens to a task whose dependencies are
//! settled (the same for a real build and `--dry-run`), `coordinator` drives the event
//! loop, `job` says what a task's run needs (argv, environment, files), `checks` runs
//! and tallies the checks, `dry_run` decides without running. Processes run through an
//! `exec::Executor`; tests hand in the fake one.

mod agent;
mod budget;
mod checks;
mod coordinator;
mod dry_run;
mod job;
mod route;
mod task;
mod workers;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::error::Error;
use crate::exec::Executor;
use crate::exec::local::LocalExecutor;
use crate::exec::worktree::Repo;
use crate::graph::Selection;
use crate::project::Locator;
use crate::project::open::Access;
use crate::report::Counts;
use crate::report::progress::{Explain, Reporter, Style};
use crate::report::record::{self, Recorder};
use crate::session::Session;
use crate::spec::Workspace;

pub(crate) use dry_run::{Planned, plan};

/// What `conduct build` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct BuildOptions {
    pub(crate) targets: Vec<String>,
    pub(crate) jobs: Option<usize>,
    pub(crate) explain: Explain,
    pub(crate) dry_run: bool,
    pub(crate) force: bool,
    pub(crate) fail_fast: bool,
    /// `--discard-edits`: the named tasks may overwrite outputs edited by hand.
    pub(crate) discard_edits: bool,
    /// `--executor`: where tasks run that do not say.
    pub(crate) executor: Option<crate::spec::placement::ExecutorKind>,
    /// `--fresh-session`: a retried agent task starts a new session instead of resuming
    /// the last attempt's.
    pub(crate) fresh_session: bool,
    /// `--budget-usd`: what the build's agent tasks may spend in all (wins over
    /// `[project] budget_usd`).
    pub(crate) budget_usd: Option<f64>,
    /// Tasks sent back with feedback for their first attempt (the merge queue's
    /// `--retry-conflicts`): they get it in `CONDUCT_FEEDBACK`, and an agent resumes the
    /// session its last run recorded.
    pub(crate) sent_back: Vec<SentBack>,
    pub(crate) style: Style,
    /// `-v`: stream task output.
    pub(crate) verbose: bool,
}

impl BuildOptions {
    /// A plain build of `targets`: every flag at its default.
    pub(crate) fn of(targets: Vec<String>, style: Style) -> BuildOptions {
        BuildOptions {
            targets,
            jobs: None,
            explain: Explain::Off,
            dry_run: false,
            force: false,
            fail_fast: false,
            discard_edits: false,
            executor: None,
            fresh_session: false,
            budget_usd: None,
            sent_back: Vec::new(),
            style,
            verbose: false,
        }
    }
}

/// A task sent back to work again, and what it is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentBack {
    pub(crate) task: String,
    pub(crate) feedback: String,
}

/// Run a build; returns the exit code (0, 1 or 130).
pub(crate) fn build(locator: &Locator, options: &BuildOptions) -> Result<i32, Error> {
    let signals = Signals::register();
    build_with(
        locator,
        options,
        &|session: &Session, selection: &Selection| executor_for(session, selection, options),
        Arc::clone(&signals.flag),
    )
}

/// The local executor, or the Slurm one (which hands it the local jobs) when a selected
/// task is to run on the cluster: checked to answer before anything runs.
pub(crate) fn executor_for(
    session: &Session,
    selection: &Selection,
    options: &BuildOptions,
) -> Result<Arc<dyn Executor>, Error> {
    use crate::spec::placement::ExecutorKind;
    let local: Arc<dyn Executor> = Arc::new(LocalExecutor::for_build());
    let loaded = session.loaded();
    let project = &loaded.spec.project;
    let on_cluster = !options.dry_run
        && selection.tasks.iter().any(|&task| {
            loaded.spec.task(task).executor(options.executor, project) == ExecutorKind::Slurm
        });
    if !on_cluster {
        return Ok(local);
    }
    let name = project.name.clone().unwrap_or_else(|| {
        session.root().path.file_name().map_or_else(
            || "project".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
    });
    let slurm = crate::exec::slurm::SlurmExecutor::connect(
        project.slurm.clone(),
        &name,
        session.cache_dir().join("slurm"),
        local,
    )
    .map_err(|e| Error::SlurmUnavailable {
        tried: e.tried,
        said: e.said,
    })?;
    Ok(Arc::new(slurm))
}

/// Jobs in flight at once when tasks run on a cluster and neither `-j` nor `[project]
/// jobs` says.
const SLURM_JOBS: usize = 100;

/// How a build gets its executor once the project is loaded and the tasks selected
/// (tests hand in the fake one).
pub(crate) type MakeExecutor<'a> =
    &'a dyn Fn(&Session, &Selection) -> Result<Arc<dyn Executor>, Error>;

/// A build with a chosen executor (tests use the fake) and Ctrl-C flag (tests raise
/// it themselves).
pub(crate) fn build_with(
    locator: &Locator,
    options: &BuildOptions,
    make_executor: MakeExecutor<'_>,
    interrupt: Arc<AtomicBool>,
) -> Result<i32, Error> {
    let started = Instant::now();
    // 1. Load.
    let access = if options.dry_run {
        Access::Read
    } else {
        Access::Write
    };
    let mut session = Session::open(locator, access)?;
    let mut ended = build_round(&mut session, options, make_executor, interrupt)?;
    session.finish();
    ended
        .reporter
        .build_finished(ended.counts, started.elapsed(), options.dry_run);
    let code = ended.code();
    ended.saved?;
    Ok(code)
}

/// How one build of a session ended: its counts, its reporter (the caller prints the
/// summary once the session is released or kept), and whether its state was saved.
pub(crate) struct Ended {
    pub(crate) counts: Counts,
    pub(crate) interrupted: bool,
    pub(crate) reporter: Reporter,
    pub(crate) saved: Result<(), Error>,
}

impl Ended {
    /// The exit code SPEC §6 gives it: 130 interrupted, 1 a failure, else 0.
    pub(crate) fn code(&self) -> i32 {
        let counts = &self.counts;
        if self.interrupted {
            130
        } else if counts.failed + counts.blocked + counts.edited > 0 {
            1
        } else {
            0
        }
    }
}

/// Steps 2 to 5 of a build, in an open session (`conduct watch` keeps it open across
/// builds, so its database, stat cache and parsed spec stay warm).
pub(crate) fn build_round(
    session: &mut Session,
    options: &BuildOptions,
    make_executor: MakeExecutor<'_>,
    interrupt: Arc<AtomicBool>,
) -> Result<Ended, Error> {
    let loaded = Arc::clone(session.loaded());
    // 2. Graph: the targets and what they need; `--force` applies to the tasks the
    // targets name, not to the dependencies they bring.
    let selection = loaded.graph.select(&loaded.spec, &options.targets)?;
    let executor = make_executor(session, &selection)?;
    let named = |asked: bool| -> Result<Vec<bool>, Error> {
        Ok(if !asked {
            vec![false; loaded.spec.tasks.len()]
        } else if options.targets.is_empty() {
            vec![true; loaded.spec.tasks.len()]
        } else {
            loaded.graph.select_named(&loaded.spec, &options.targets)?
        })
    };
    let forced = named(options.force)?;
    let discard_edits = named(options.discard_edits)?;
    // 3. Scan.
    let mut round = session.prepare(&selection, &*executor)?;
    round.discard_edits(discard_edits);
    let repo = find_repo(round.session(), &selection)?;
    let mut reporter = Reporter::new(options.style, options.explain, selection.tasks.len());
    reporter.follow_logs(round.session().cache_dir().join("logs"));
    for warning in round.session_mut().take_warnings() {
        reporter.warn(&warning);
    }
    let jobs = match (options.jobs, loaded.spec.project.jobs) {
        // Jobs on a cluster wait in its queue, not on this machine's cores.
        (None, None) if executor.on_cluster() => SLURM_JOBS,
        _ => loaded.spec.project.jobs_with(options.jobs),
    };
    let keep_runs = loaded.spec.project.keep_runs;
    // 4. Coordinate.
    let unchanged =
        !options.dry_run && !options.force && round.unchanged_since_clean_build(&selection);
    if !options.dry_run && !unchanged && keep_runs > 0 {
        reporter.record_with(Recorder::new(
            &loaded.spec,
            &loaded.graph,
            &selection,
            &options.targets,
            jobs,
        ));
    }
    let (mut counts, interrupted) = if options.dry_run {
        let counts = dry_run::dry_run(&mut round, &selection, &forced, &mut reporter);
        (counts, false)
    } else if unchanged {
        // Nothing changed since a clean build of everything: every task is fresh.
        round.settle_unchanged();
        for &task in &selection.tasks {
            reporter.fresh(loaded.spec.task(task).id.as_str());
        }
        let counts = Counts {
            fresh: selection.tasks.len(),
            ..Counts::default()
        };
        (counts, false)
    } else {
        let plan = coordinator::Plan {
            options,
            forced,
            jobs,
            repo,
            interrupt,
        };
        let coordinator = coordinator::Coordinator::new(
            &mut round,
            &selection,
            plan,
            Arc::clone(&executor),
            &mut reporter,
        )?;
        let ended = coordinator.run();
        executor.finish();
        ended
    };
    // 5. Finish.
    if !options.dry_run {
        let clean = !interrupted
            && counts.failed + counts.blocked + counts.edited + counts.warnings + reporter.warnings
                == 0;
        round.remember_build(&selection, clean);
        let n = |count: usize| u32::try_from(count).unwrap_or(u32::MAX);
        session.record_counts(crate::state::BuildCounts {
            ran: n(counts.ran),
            fresh: n(counts.fresh),
            restored: n(counts.restored),
            failed: n(counts.failed),
            blocked: n(counts.blocked),
        });
    }
    // Uploads to the remote go on during the build; its end waits for them (bounded).
    counts.remote = session
        .finish_remote()
        .map(|traffic| crate::report::RemoteCounts {
            hits: traffic.hits,
            bytes_down: traffic.bytes_down,
            bytes_up: traffic.bytes_up,
        });
    // The run record is written beside the state, on its own thread; a build that
    // found everything fresh has nothing to tell (and a no-op must stay cheap).
    let did_something =
        interrupted || counts.ran + counts.restored + counts.failed + counts.blocked > 0;
    let recording = reporter
        .take_record()
        .filter(|_| did_something)
        .map(|recorder| {
            let dir = session.cache_dir().join("runs");
            std::thread::spawn(move || {
                let record = recorder.finish(counts, interrupted);
                record::save(&dir, &record, keep_runs)
            })
        });
    for warning in session.take_warnings() {
        reporter.warn(&warning);
    }
    let saved = session.save();
    if saved.is_ok() {
        session.build_ended();
    }
    if let Some(recording) = recording {
        match recording.join() {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                reporter.warn(&format!("the run record could not be written: {error}"))
            }
            Err(_) => reporter.warn("the run record could not be written"),
        }
    }
    Ok(Ended {
        counts,
        interrupted,
        reporter,
        saved,
    })
}

/// The git repository, when a selected task runs in a worktree: found before anything
/// runs, so a project that is not a repository fails at once (exit 2), not task by task.
fn find_repo(session: &Session, selection: &Selection) -> Result<Option<Arc<Repo>>, Error> {
    let spec = &session.loaded().spec;
    let tasks: Vec<String> = selection
        .tasks
        .iter()
        .map(|&t| spec.task(t))
        .filter(|t| t.workspace == Workspace::Worktree && t.run.is_some())
        .map(|t| t.id.to_string())
        .collect();
    if tasks.is_empty() {
        return Ok(None);
    }
    Repo::find(&session.root().path)
        .map(|repo| Some(Arc::new(repo)))
        .map_err(|source| Error::Worktree { tasks, source })
}

/// Ctrl-C and TERM raise a flag the coordinator looks at; the handlers are removed
/// when the build ends.
pub(crate) struct Signals {
    pub(crate) flag: Arc<AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    pub(crate) fn register() -> Signals {
        let flag = Arc::new(AtomicBool::new(false));
        let ids = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]
            .into_iter()
            .filter_map(|signal| signal_hook::flag::register(signal, Arc::clone(&flag)).ok())
            .collect();
        Signals { flag, ids }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
