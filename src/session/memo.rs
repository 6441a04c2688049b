//! What a build's scan found of the selected tasks' source files, kept in the session
//! for the next build of the same process (`watch`): every source once, which tasks
//! read it, its digest, and each task's digest of its sources. When a watcher says
//! which paths were touched since (and nothing else could have changed: the same
//! tasks, no glob listing redone, no depfile to widen a task's sources), the next scan
//! looks at those paths only and recomputes the digests of the tasks that read them:
//! an edit costs what it touched, not a pass over every task.

use std::ops::Range;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::db;
use crate::fresh;
use crate::graph::Selection;
use crate::hash::Digest;
use crate::scan;
use crate::session::{Session, look};
use crate::spec::{ProjectPath, SpecError, TaskIdx};

/// The sources of a selection, as last found.
#[derive(Debug, Default)]
pub(crate) struct ScanMemo {
    /// The selection it was made for (a memo serves only the same tasks).
    tasks: Vec<TaskIdx>,
    /// Every source file once.
    pub(super) sources: Vec<ProjectPath>,
    /// Where each source is in `sources`.
    index: FxHashMap<ProjectPath, u32>,
    /// Each source's digest as found (`None`: missing).
    pub(super) digests: Vec<Option<Digest>>,
    /// Each task's sources, as positions in `sources`: `runs[k]` for the k-th selected
    /// task, into `positions`.
    runs: Vec<(TaskIdx, Range<usize>)>,
    positions: Vec<u32>,
    /// For each source, the runs that read it (`readers[readers_at[s]..readers_at[s+1]]`).
    readers_at: Vec<u32>,
    readers: Vec<u32>,
    /// By task index: the digest of its sources (`fresh::files_digest`).
    pub(super) task_digests: Vec<Option<Digest>>,
    /// What the scan found wrong (missing inputs); a memo with errors is not reused.
    pub(super) errors: Vec<SpecError>,
    /// By task index: the digest of its outputs as last found (`None`: some missing),
    /// once a build has looked at them.
    pub(super) outputs: Option<Vec<Option<Digest>>>,
}

/// What a full scan of the sources found, as it builds it.
pub(super) struct Scanned {
    pub(super) sources: Vec<ProjectPath>,
    pub(super) index: FxHashMap<ProjectPath, u32>,
    pub(super) digests: Vec<Option<Digest>>,
    pub(super) runs: Vec<(TaskIdx, Range<usize>)>,
    pub(super) positions: Vec<u32>,
    pub(super) errors: Vec<SpecError>,
}

impl ScanMemo {
    /// A memo of a full scan of `tasks` (of `task_count` in the spec).
    pub(super) fn new(tasks: Vec<TaskIdx>, task_count: usize, scanned: Scanned) -> ScanMemo {
        let Scanned {
            sources,
            index,
            digests,
            runs,
            positions,
            errors,
        } = scanned;
        // Readers, counted then placed (CSR): one pass each, no per-source Vec.
        let mut readers_at = vec![0u32; sources.len() + 1];
        for &at in &positions {
            readers_at[at as usize + 1] += 1;
        }
        for i in 1..readers_at.len() {
            readers_at[i] += readers_at[i - 1];
        }
        let mut next = readers_at.clone();
        let mut readers = vec![0u32; positions.len()];
        for (k, (_, run)) in runs.iter().enumerate() {
            for &at in &positions[run.clone()] {
                let slot = &mut next[at as usize];
                readers[*slot as usize] = k as u32;
                *slot += 1;
            }
        }
        let mut memo = ScanMemo {
            tasks,
            sources,
            index,
            digests,
            runs,
            positions,
            readers_at,
            readers,
            task_digests: vec![None; task_count],
            errors,
            outputs: None,
        };
        for k in 0..memo.runs.len() {
            memo.digest_run(k);
        }
        memo
    }

    /// Whether it can serve a scan of `tasks`.
    pub(super) fn serves(&self, tasks: &[TaskIdx]) -> bool {
        self.errors.is_empty() && self.tasks == tasks
    }

    /// Where `path` is among the sources.
    pub(super) fn position(&self, path: &str) -> Option<usize> {
        self.index.get(path).map(|&at| at as usize)
    }

    /// The digest found for `path`, if it is a source: `Some(None)` when missing.
    pub(super) fn digest(&self, path: &ProjectPath) -> Option<Option<Digest>> {
        self.position(path.as_str()).map(|at| self.digests[at])
    }

    /// Source `at` now has `digest`: the tasks that read it get their digests again.
    /// Returns whether it changed.
    pub(super) fn update(&mut self, at: usize, digest: Option<Digest>) -> bool {
        if self.digests[at] == digest {
            return false;
        }
        self.digests[at] = digest;
        let (from, to) = (
            self.readers_at[at] as usize,
            self.readers_at[at + 1] as usize,
        );
        for i in from..to {
            let k = self.readers[i] as usize;
            self.digest_run(k);
        }
        true
    }

    fn digest_run(&mut self, k: usize) {
        let (task, run) = &self.runs[k];
        let files = self.positions[run.clone()].iter().map(|&at| {
            let at = at as usize;
            (self.sources[at].as_str(), self.digests[at])
        });
        self.task_digests[task.index()] = Some(fresh::files_digest(files));
    }
}

/// Look at every source of `selection` (through the stat cache): a new memo.
pub(super) fn scan_sources(session: &mut Session, selection: &Selection) -> ScanMemo {
    let loaded = Arc::clone(&session.site.loaded);
    let spec = &loaded.spec;
    let mut sources: Vec<ProjectPath> = Vec::new();
    // Each selected task's sources, as positions in `sources`, one run per task.
    let mut runs: Vec<(TaskIdx, std::ops::Range<usize>)> = Vec::new();
    let mut positions: Vec<u32> = Vec::new();
    let matches = db::glob_matches(&session.db, session.inputs);
    let mut seen: FxHashMap<ProjectPath, u32> = FxHashMap::default();
    {
        let mut task_sources = Vec::new();
        let state = session.journal.state();
        for &task in &selection.tasks {
            db::collect_source_inputs(spec, Some(matches), task, &mut task_sources);
            // What its last run's depfile named counts among its sources.
            let t = spec.task(task);
            if t.depfile.is_some()
                && let Some(success) = state
                    .tasks
                    .get(t.id.as_str())
                    .and_then(|s| s.success.as_ref())
            {
                task_sources.extend(
                    success
                        .discovered
                        .iter()
                        .filter_map(|(path, _)| ProjectPath::new(path).ok()),
                );
            }
            let start = positions.len();
            for path in task_sources.drain(..) {
                let next = sources.len() as u32;
                let at = *seen.entry(path.clone()).or_insert(next);
                if at == next {
                    sources.push(path);
                }
                positions.push(at);
            }
            runs.push((task, start..positions.len()));
        }
    }
    let found = look(
        &session.site.root,
        &mut session.journal,
        &sources,
        scan::As::Input,
        None,
    );
    let errors = scan::missing_inputs(spec, &selection.tasks, matches, &sources, &found);
    let digests = found.iter().map(scan::Found::digest).collect();
    ScanMemo::new(
        selection.tasks.clone(),
        spec.tasks.len(),
        Scanned {
            sources,
            index: seen,
            digests,
            runs,
            positions,
            errors,
        },
    )
}

/// Bring the session's memo up to date with the touched paths `only` (the sources
/// among them are looked at on disk). False when it cannot serve: a touched source is
/// missing now (the full scan says which task needs it).
pub(super) fn update_memo(session: &mut Session, only: Option<&FxHashSet<String>>) -> bool {
    let (Some(only), Some(memo)) = (only, session.memo.as_ref()) else {
        return false;
    };
    let touched: Vec<(usize, ProjectPath)> = only
        .iter()
        .filter_map(|path| {
            let at = memo.position(path)?;
            Some((at, memo.sources[at].clone()))
        })
        .collect();
    let paths: Vec<ProjectPath> = touched.iter().map(|(_, p)| p.clone()).collect();
    let found = look(
        &session.site.root,
        &mut session.journal,
        &paths,
        scan::As::Input,
        None,
    );
    if found.iter().any(|f| f.digest().is_none()) {
        return false;
    }
    let Some(memo) = session.memo.as_mut() else {
        return false;
    };
    for ((at, _), found) in touched.iter().zip(&found) {
        memo.update(*at, found.digest());
    }
    true
}
