//! `conduct watch [TARGET...]` (SPEC §6, issue 20): one long-lived process that builds,
//! then builds again whenever something the selected tasks read really changed. It
//! keeps one `Session` across its rounds (DESIGN §9): the salsa database, the stat cache
//! and the parsed spec stay in memory, so a round after an edit recomputes only the
//! keys the edit reaches, and no config is parsed again unless tasks.toml or a rule
//! changed.
//!
//! A round starts after a burst of file events has gone quiet (`events`) and only for
//! files that matter and changed (`relevant`): what conduct itself wrote (outputs, the
//! cache, worktrees) starts nothing, a hand edit of an output does. A change to
//! tasks.toml or a rule reloads the config; one that does not load is reported as
//! `check` reports it and the last good one stays. A task whose inputs changed while it
//! ran is not recorded as fresh (SPEC §3), so the next round starts at once. Ctrl-C
//! stops running tasks as a build does and ends the loop with 130; every round saves
//! the state.

mod events;
mod relevant;
mod say;

use std::cell::OnceCell;
use std::sync::Arc;

use rustc_hash::FxHashSet;
use std::time::Instant;

use crate::build::{self, BuildOptions, Signals};
use crate::error::Error;
use crate::exec::Executor;
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::spec::TaskIdx;

use events::{Burst, Events};
use relevant::Relevant;
use say::Say;

/// What `conduct watch` was asked.
#[derive(Debug)]
pub(crate) struct WatchOptions {
    /// Each round's build (targets, `-j`, `--explain`, the output style).
    pub(crate) build: BuildOptions,
    /// `--clear`: clear the terminal before each round.
    pub(crate) clear: bool,
}

/// Watch until Ctrl-C (130) or an error that stops it (2).
pub(crate) fn watch(locator: &Locator, options: &WatchOptions) -> Result<i32, Error> {
    let signals = Signals::register();
    let (config, _) = locator.locate()?;
    let mut session = Session::open(locator, Access::Write)?;
    let say = Say::new(options.build.style, options.clear);
    let mut events =
        Events::start(&session.root().path, skipped(&session)).map_err(|e| Error::Watch {
            message: e.to_string(),
        })?;
    let (mut relevant, mut tasks) = relevant_of(&session, options, &config)?;
    let mut round: u64 = 1;
    let mut executor: OnceCell<Arc<dyn Executor>> = OnceCell::new();
    let mut changed: Vec<String> = Vec::new();
    let mut burst_at = std::time::SystemTime::now();
    // Every path touched since the last round (`None` after a rescan or a reload: the
    // next scan looks at everything).
    let mut touched: Option<FxHashSet<String>> = None;
    loop {
        if round > 1 {
            say.round(round, &changed, burst_at);
        }
        if let Some(touched) = touched.take() {
            session.expect_changes(touched);
        }
        let started = Instant::now();
        let since = crate::state::now_secs();
        // One executor for every round (its worker threads, its reaper).
        let make_executor = |s: &Session, selection: &crate::graph::Selection| {
            if let Some(executor) = executor.get() {
                return Ok(Arc::clone(executor));
            }
            let made = build::executor_for(s, selection, &options.build)?;
            let _ = executor.set(Arc::clone(&made));
            Ok(made)
        };
        let mut again = false;
        match build::build_round(
            &mut session,
            &options.build,
            &make_executor,
            Arc::clone(&signals.flag),
        ) {
            Ok(mut ended) => {
                ended
                    .reporter
                    .build_finished(ended.counts, started.elapsed(), false);
                if let Err(error) = &ended.saved {
                    say.error(error);
                }
                if ended.interrupted {
                    session.finish();
                    return Ok(130);
                }
                again = ended.counts.changed_while_running > 0;
                // What its tasks wrote, even in failed runs, is conduct's doing.
                let ran = ran_since(&session, &tasks, since);
                session.remember_outputs(&ran);
            }
            Err(error) => say.error(&error),
        }
        relevant.learn_discovered(&session);
        // First what the round itself caused (already queued), then wait.
        let mut block = false;
        touched = Some(FxHashSet::default());
        changed = loop {
            let (paths, rescan) = match events.next(block, &signals.flag) {
                Burst::Interrupted => {
                    session.finish();
                    return Ok(130);
                }
                Burst::Paths { paths, rescan, at } => {
                    burst_at = at;
                    match (&mut touched, rescan) {
                        (Some(seen), false) => seen.extend(paths.iter().cloned()),
                        _ => touched = None,
                    }
                    (paths, rescan)
                }
            };
            if let Some(config_path) = paths.iter().find(|p| relevant.is_config(p)) {
                match Session::open(locator, Access::Read) {
                    Err(error) => say.error(&error),
                    Ok(probe) => {
                        drop(probe);
                        // Release the lock before taking it again.
                        drop(session);
                        session = Session::open(locator, Access::Write)?;
                        (relevant, tasks) = relevant_of(&session, options, &config)?;
                        touched = None;
                        executor = OnceCell::new();
                        break vec![config_path.clone()];
                    }
                }
            }
            let changed = relevant.changed(&mut session, &paths);
            if rescan || again || !changed.is_empty() {
                break changed;
            }
            if !block {
                say.watching(tasks.len());
                block = true;
            }
        };
        round += 1;
    }
}

/// What the selected tasks read and write, and the selected tasks.
fn relevant_of(
    session: &Session,
    options: &WatchOptions,
    config: &std::path::Path,
) -> Result<(Relevant, Vec<TaskIdx>), Error> {
    let loaded = session.loaded();
    let selection = loaded.graph.select(&loaded.spec, &options.build.targets)?;
    let relevant = Relevant::of(session, &selection, config);
    Ok((relevant, selection.tasks))
}

/// The selected tasks that ran since `since` (seconds since the epoch).
fn ran_since(session: &Session, tasks: &[TaskIdx], since: u64) -> Vec<TaskIdx> {
    tasks
        .iter()
        .copied()
        .filter(|&t| {
            session
                .last_run(t)
                .is_some_and(|l| l.attempts > 0 && l.finished_at >= since)
        })
        .collect()
}

/// conduct's own directories, never watched: `.git`, the cache, the worktrees.
fn skipped(session: &Session) -> Vec<String> {
    let project = &session.loaded().spec.project;
    vec![
        ".git".to_owned(),
        project.cache.to_string(),
        project.worktrees.to_string(),
    ]
}
