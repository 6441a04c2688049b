//! Run records: every build leaves `.cache/runs/<timestamp>.<checksum>.json` (the
//! checksum, 16 hex digits of the file's BLAKE3, is checked when the record is read
//! back: a damaged record is skipped with a warning, never reported), what happened to each
//! task (status, when it started and ended, attempts, reasons, outputs, checks, cache
//! hits), so `conduct report` can draw the run long after the terminal scrolled away.
//! Like turborepo's run summary, the record is self-contained (titles, groups and
//! dependencies included) and versioned ([`SCHEMA_VERSION`]); the newest N are kept.
//!
//! The [`Recorder`] hears the same events as the terminal output (the `Reporter` hands
//! them over), stamping each with the time since the build started.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::explain::RunStatus;
use crate::graph::{Graph, Selection};
use crate::report::Counts;
use crate::report::end::TaskEnd;
use crate::rules::check::CheckResult;
use crate::spec::{Spec, TaskIdx};

/// Bumped when a field changes meaning or goes away (new optional fields do not).
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// One build, as `conduct report` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub(crate) schema_version: u32,
    pub(crate) conduct_version: String,
    pub(crate) project: Option<String>,
    /// RFC 3339, UTC, milliseconds.
    pub(crate) started_at: String,
    pub(crate) duration_ms: u64,
    pub(crate) jobs: usize,
    pub(crate) targets: Vec<String>,
    pub(crate) interrupted: bool,
    pub(crate) counts: RecordCounts,
    /// Every group of the project, in declaration order.
    pub(crate) groups: Vec<GroupRecord>,
    /// The selected tasks, each after its dependencies.
    pub(crate) tasks: Vec<TaskRecord>,
}

/// The build's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordCounts {
    pub(crate) ran: usize,
    pub(crate) fresh: usize,
    pub(crate) restored: usize,
    pub(crate) failed: usize,
    pub(crate) blocked: usize,
    pub(crate) warnings: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupRecord {
    pub(crate) name: String,
    pub(crate) title: Option<String>,
}

/// How a task ended in this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TaskStatus {
    /// Ran and passed its checks.
    Ok,
    Failed,
    TimedOut,
    Interrupted,
    /// Up to date: nothing ran.
    Fresh,
    /// Up to date thanks to the cache.
    Restored,
    /// A dependency failed (or the build stopped first).
    Blocked,
    /// Never reached a verdict (the record of a build that ended abruptly).
    Pending,
    /// Not run: an output was edited by hand since conduct wrote it.
    Edited,
}

impl TaskStatus {
    /// The word used in reports (`ok`, `timed_out`, ...).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Ok => "ok",
            TaskStatus::Failed => "failed",
            TaskStatus::TimedOut => "timed_out",
            TaskStatus::Interrupted => "interrupted",
            TaskStatus::Fresh => "fresh",
            TaskStatus::Restored => "restored",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Pending => "pending",
            TaskStatus::Edited => "edited",
        }
    }
}

impl From<RunStatus> for TaskStatus {
    fn from(status: RunStatus) -> TaskStatus {
        match status {
            RunStatus::Ok => TaskStatus::Ok,
            RunStatus::Failed => TaskStatus::Failed,
            RunStatus::TimedOut => TaskStatus::TimedOut,
            RunStatus::Interrupted => TaskStatus::Interrupted,
            RunStatus::Edited => TaskStatus::Edited,
        }
    }
}

/// One task in one build. Times are milliseconds since the build started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskRecord {
    pub(crate) id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) deps: Vec<String>,
    pub(crate) status: TaskStatus,
    /// When it was decided (fresh, restored) or its first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) reasons: Vec<String>,
    /// Declared outputs (project-relative).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) outputs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) checks: Vec<CheckOutcome>,
    /// Restored from the cache instead of running.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) cache_hit: bool,
    /// The failed task that blocked this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) blocked_by: Option<String>,
    /// Why it failed, when conduct knows (exit code, timeout, failed check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// It passed after failing with the same key (same inputs, same command).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) flaky: bool,
    /// What its agent reported over its attempts (cost, tokens, turns, session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<crate::agent::outcome::AgentOutcome>,
}

/// One attempt of a task's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub(crate) start_ms: u64,
    pub(crate) end_ms: Option<u64>,
    pub(crate) status: Option<TaskStatus>,
    /// The cluster job it was, when it did not run here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) slurm: Option<SlurmJob>,
}

/// An attempt's Slurm job and when it passed each stage (milliseconds since the build
/// started, as conduct saw them: a poll interval bounds the error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SlurmJob {
    pub(crate) job: String,
    pub(crate) submitted_ms: u64,
    /// `None`: it started and ended between two looks at the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_ms: Option<u64>,
    pub(crate) ended_ms: u64,
    /// How Slurm said it ended, when it said (`NODE_FAIL`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
}

impl SlurmJob {
    /// From `sbatch` to its start (its end, if never seen running).
    pub(crate) fn queue_wait_ms(&self) -> u64 {
        self.started_ms
            .unwrap_or(self.ended_ms)
            .saturating_sub(self.submitted_ms)
    }
}

/// A check's verdict on the task's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckOutcome {
    pub(crate) rule: String,
    pub(crate) passed: bool,
    pub(crate) required: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metric: Option<f64>,
}

/// Builds the record of the running build from its events. It keeps only what the
/// events said, per selected task; each task's full record (id, title, group,
/// dependencies, outputs) is made from the spec as it is written, one at a time, so a
/// 100,000-task build never holds 100,000 of them.
pub(crate) struct Recorder {
    started: Instant,
    started_at: SystemTime,
    spec: Arc<Spec>,
    graph: Arc<Graph>,
    /// The selected tasks, in the order of the record.
    selected: Vec<TaskIdx>,
    /// By task index: the task's place in `selected` (`u32::MAX`: not selected).
    positions: Vec<u32>,
    /// By place in `selected`.
    progress: Vec<Progress>,
    /// Everything but the tasks.
    header: RunRecord,
}

/// What the events said about one task.
#[derive(Debug, Clone)]
struct Progress {
    status: TaskStatus,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    cache_hit: bool,
    /// Only for tasks that did more than be fresh.
    details: Option<Box<Details>>,
}

#[derive(Debug, Clone, Default)]
struct Details {
    flaky: bool,
    agent: Option<crate::agent::outcome::AgentOutcome>,
    attempts: Vec<Attempt>,
    reasons: Vec<String>,
    checks: Vec<CheckOutcome>,
    blocked_by: Option<String>,
    error: Option<String>,
}

impl Progress {
    fn details(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Box::default)
    }
}

impl Recorder {
    /// Every selected task starts `pending`.
    pub(crate) fn new(
        spec: &Arc<Spec>,
        graph: &Arc<Graph>,
        selection: &Selection,
        targets: &[String],
        jobs: usize,
    ) -> Recorder {
        let mut positions = vec![u32::MAX; spec.tasks.len()];
        for (i, &task) in selection.tasks.iter().enumerate() {
            positions[task.index()] = i as u32;
        }
        let pending = Progress {
            status: TaskStatus::Pending,
            start_ms: None,
            end_ms: None,
            cache_hit: false,
            details: None,
        };
        Recorder {
            started: Instant::now(),
            started_at: SystemTime::now(),
            spec: Arc::clone(spec),
            graph: Arc::clone(graph),
            selected: selection.tasks.clone(),
            positions,
            progress: vec![pending; selection.tasks.len()],
            header: RunRecord {
                schema_version: SCHEMA_VERSION,
                conduct_version: env!("CARGO_PKG_VERSION").to_owned(),
                project: spec.project.name.clone(),
                started_at: String::new(),
                duration_ms: 0,
                jobs,
                targets: targets.to_vec(),
                interrupted: false,
                counts: RecordCounts::default(),
                groups: spec
                    .groups
                    .iter()
                    .map(|g| GroupRecord {
                        name: g.name.to_string(),
                        title: g.title.clone(),
                    })
                    .collect(),
                tasks: Vec::new(),
            },
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn task(&mut self, id: &str) -> Option<&mut Progress> {
        let task = self.spec.find_task(id)?;
        let i = *self.positions.get(task.index())?;
        self.progress.get_mut(i as usize)
    }

    /// Up to date without running (or with checks only).
    pub(crate) fn fresh(&mut self, id: &str) {
        let now = self.now_ms();
        if let Some(t) = self.task(id) {
            t.status = TaskStatus::Fresh;
            t.start_ms = Some(now);
            t.end_ms = Some(now);
        }
    }

    pub(crate) fn restored(&mut self, id: &str, reasons: &[String]) {
        let now = self.now_ms();
        if let Some(t) = self.task(id) {
            t.status = TaskStatus::Restored;
            t.cache_hit = true;
            t.start_ms = Some(now);
            t.end_ms = Some(now);
            if !reasons.is_empty() {
                t.details().reasons = reasons.to_vec();
            }
        }
    }

    pub(crate) fn started(&mut self, id: &str, reasons: &[String]) {
        let now = self.now_ms();
        if let Some(t) = self.task(id) {
            t.start_ms.get_or_insert(now);
            let details = t.details();
            if details.reasons.is_empty() {
                details.reasons = reasons.to_vec();
            }
            details.attempts.push(Attempt {
                start_ms: now,
                end_ms: None,
                status: None,
                slurm: None,
            });
        }
    }

    /// An attempt ended; unless another follows, so did the task.
    pub(crate) fn finished(&mut self, end: &TaskEnd<'_>) {
        let TaskEnd {
            task: id,
            status,
            retrying,
            detail: error,
            cluster,
            flaky,
            agent,
            ..
        } = *end;
        let now = self.now_ms();
        let since_start =
            |at: Instant| at.saturating_duration_since(self.started).as_millis() as u64;
        let slurm = cluster.map(|job| SlurmJob {
            job: job.id.clone(),
            submitted_ms: since_start(job.submitted),
            started_ms: job.started.map(since_start),
            ended_ms: since_start(job.ended),
            state: job.state.clone(),
        });
        if let Some(t) = self.task(id) {
            let open = t
                .details
                .as_mut()
                .and_then(|d| d.attempts.last_mut())
                .filter(|attempt| attempt.end_ms.is_none());
            match open {
                Some(attempt) => {
                    attempt.end_ms = Some(now);
                    attempt.status = Some(status.into());
                    attempt.slurm = slurm;
                }
                // Failed without running (fresh outputs that fail their checks).
                None => {
                    t.start_ms.get_or_insert(now);
                }
            }
            if !retrying {
                t.status = status.into();
                t.end_ms = Some(now);
                // A success's note (leftovers) is no error.
                let error = error.filter(|_| status != RunStatus::Ok).map(str::to_owned);
                if error.is_some() || t.details.is_some() {
                    t.details().error = error;
                }
                if flaky {
                    t.details().flaky = true;
                }
            }
            if let Some(agent) = agent {
                t.details().agent = Some(agent.clone());
            }
        }
    }

    pub(crate) fn check_finished(
        &mut self,
        id: &str,
        rule: &str,
        result: &CheckResult,
        required: bool,
    ) {
        if let Some(t) = self.task(id) {
            let outcome = CheckOutcome {
                rule: rule.to_owned(),
                passed: result.passed,
                required,
                message: if result.passed {
                    String::new()
                } else {
                    result.message.clone()
                },
                metric: result.metric,
            };
            // A retried task is checked again: keep the last verdict per rule.
            let checks = &mut t.details().checks;
            match checks.iter_mut().find(|c| c.rule == rule) {
                Some(known) => *known = outcome,
                None => checks.push(outcome),
            }
        }
    }

    pub(crate) fn blocked(&mut self, id: &str, by: &str) {
        if let Some(t) = self.task(id) {
            t.status = TaskStatus::Blocked;
            t.details().blocked_by = Some(by.to_owned());
        }
    }

    /// The build ended: close the record.
    pub(crate) fn finish(mut self, counts: Counts, interrupted: bool) -> FinishedRun {
        self.header.duration_ms = self.now_ms();
        self.header.started_at = humantime::format_rfc3339_millis(self.started_at).to_string();
        self.header.interrupted = interrupted;
        self.header.counts = RecordCounts {
            ran: counts.ran,
            fresh: counts.fresh,
            restored: counts.restored,
            failed: counts.failed,
            blocked: counts.blocked,
            warnings: counts.warnings,
        };
        FinishedRun { recorder: self }
    }
}

/// The record of a build that ended, written as a [`RunRecord`] (the same JSON), with
/// each task's record made as it is written.
pub(crate) struct FinishedRun {
    recorder: Recorder,
}

impl FinishedRun {
    /// The full record of the task at `place` in the selection.
    fn task_record(&self, place: usize) -> TaskRecord {
        let r = &self.recorder;
        let task = r.selected[place];
        let t = r.spec.task(task);
        let progress = &r.progress[place];
        let details = progress.details.as_deref().cloned().unwrap_or_default();
        TaskRecord {
            id: t.id.to_string(),
            title: t.title.clone(),
            group: t.group.map(|g| r.spec.group(g).name.to_string()),
            deps: r
                .graph
                .task_deps(task)
                .iter()
                .map(|d| r.spec.task(d.task).id.to_string())
                .collect(),
            status: progress.status,
            start_ms: progress.start_ms,
            end_ms: progress.end_ms,
            attempts: details.attempts,
            reasons: details.reasons,
            outputs: t.outputs.iter().map(|o| o.display()).collect(),
            checks: details.checks,
            cache_hit: progress.cache_hit,
            blocked_by: details.blocked_by,
            error: details.error,
            flaky: details.flaky,
            agent: details.agent,
        }
    }

    /// The whole record in memory.
    #[cfg(test)]
    pub(crate) fn to_record(&self) -> RunRecord {
        let mut record = self.recorder.header.clone();
        record.tasks = (0..self.recorder.selected.len())
            .map(|place| self.task_record(place))
            .collect();
        record
    }
}

/// Field for field what `RunRecord`'s derived `Serialize` writes, with the tasks made
/// one at a time (the test `a_finished_run_writes_what_its_record_would` holds the two
/// together).
impl Serialize for FinishedRun {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let h = &self.recorder.header;
        let mut out = serializer.serialize_struct("RunRecord", 11)?;
        out.serialize_field("schema_version", &h.schema_version)?;
        out.serialize_field("conduct_version", &h.conduct_version)?;
        out.serialize_field("project", &h.project)?;
        out.serialize_field("started_at", &h.started_at)?;
        out.serialize_field("duration_ms", &h.duration_ms)?;
        out.serialize_field("jobs", &h.jobs)?;
        out.serialize_field("targets", &h.targets)?;
        out.serialize_field("interrupted", &h.interrupted)?;
        out.serialize_field("counts", &h.counts)?;
        out.serialize_field("groups", &h.groups)?;
        out.serialize_field("tasks", &Tasks(self))?;
        out.end()
    }
}

/// The tasks of a finished run, each made as it is written.
struct Tasks<'a>(&'a FinishedRun);

impl Serialize for Tasks<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let count = self.0.recorder.selected.len();
        let mut seq = serializer.serialize_seq(Some(count))?;
        for place in 0..count {
            seq.serialize_element(&self.0.task_record(place))?;
        }
        seq.end()
    }
}

/// Write `record` into `dir` under its start time and checksum, then keep only the
/// newest `keep`.
pub(crate) fn save(dir: &Path, run: &FinishedRun, keep: usize) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stamp: String = run
        .recorder
        .header
        .started_at
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let mut n = 0;
    let taken = |stem: &str| {
        list(dir).unwrap_or_default().iter().any(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{stem}.")))
        })
    };
    let mut stem = stamp.clone();
    while taken(&stem) {
        n += 1;
        stem = format!("{stamp}-{n}");
    }
    let path = atomic::write_named(
        dir,
        |out| serde_json::to_writer(out, run).map_err(io::Error::other),
        |hash| PathBuf::from(format!("{stem}.{}.json", &hash.to_hex()[..16])),
    )?;
    let mut runs = list(dir)?;
    if runs.len() > keep {
        let excess = runs.len() - keep;
        for old in runs.drain(..excess) {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(path)
}

/// The run records in `dir`, oldest first (names sort by time).
pub(crate) fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut runs: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    runs.sort();
    Ok(runs)
}

/// The checksum a record's name carries (`<stamp>.<16 hex>.json`), if any.
fn named_checksum(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let (_, sum) = name.rsplit_once('.')?;
    (sum.len() == 16 && sum.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sum.to_owned())
}

/// Why a run record cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a conduct run record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("written by a conduct with run record schema {found}; this one reads {SCHEMA_VERSION}")]
    Schema { found: u64 },
    #[error("damaged: its checksum does not match its name")]
    Damaged,
    #[error("it carries no checksum (written by an older conduct)")]
    Unsealed,
}

/// Read a run record, checking its checksum (when its name has one; records in the
/// cache always do, see [`load_from_cache`]) and its schema version first.
pub(crate) fn load(path: &Path) -> Result<RunRecord, LoadError> {
    let bytes = std::fs::read(path)?;
    if let Some(sum) = named_checksum(path)
        && blake3::hash(&bytes).to_hex()[..16] != sum
    {
        return Err(LoadError::Damaged);
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    let found = value["schema_version"].as_u64().unwrap_or(0);
    if found != u64::from(SCHEMA_VERSION) {
        return Err(LoadError::Schema { found });
    }
    Ok(serde_json::from_value(value)?)
}

/// Read a run record found in the cache: one without a checksum is not used.
pub(crate) fn load_from_cache(path: &Path) -> Result<RunRecord, LoadError> {
    if named_checksum(path).is_none() {
        return Err(LoadError::Unsealed);
    }
    load(path)
}

/// The tasks of a record under one heading: a group of the project, a group the record
/// names but does not list, or (`name: None`) the tasks without a group.
pub(crate) struct Section<'r> {
    pub(crate) name: Option<&'r str>,
    pub(crate) title: Option<&'r str>,
    /// Indices into `record.tasks`, in record order.
    pub(crate) tasks: Vec<usize>,
}

/// The record's tasks by group: the project's groups in declaration order, then unknown
/// groups in order of appearance, then the tasks without a group. Empty groups are left
/// out.
pub(crate) fn sections(record: &RunRecord) -> Vec<Section<'_>> {
    let mut sections: Vec<Section<'_>> = record
        .groups
        .iter()
        .map(|g| Section {
            name: Some(g.name.as_str()),
            title: g.title.as_deref(),
            tasks: Vec::new(),
        })
        .collect();
    let mut by_name: FxHashMap<&str, usize> = record
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.name.as_str(), i))
        .collect();
    let mut loose = Vec::new();
    for (i, task) in record.tasks.iter().enumerate() {
        let Some(name) = task.group.as_deref() else {
            loose.push(i);
            continue;
        };
        let at = *by_name.entry(name).or_insert_with(|| {
            sections.push(Section {
                name: Some(name),
                title: None,
                tasks: Vec::new(),
            });
            sections.len() - 1
        });
        sections[at].tasks.push(i);
    }
    sections.push(Section {
        name: None,
        title: None,
        tasks: loose,
    });
    sections.retain(|s| !s.tasks.is_empty());
    sections
}

/// The run's critical path, first task first (indices into `record.tasks`): from the
/// task that ended last, back through the dependency that ended last before it started,
/// the chain that decided when the build ended. Tasks that did not run (fresh, restored
/// in no time) only pass the chain on.
pub(crate) fn critical_path(record: &RunRecord) -> Vec<usize> {
    let index: FxHashMap<&str, usize> = record
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    // The recorded end times are the finish times; a task's deps, by index.
    let ended = |i: &usize| record.tasks[*i].end_ms.is_some();
    let finish: Vec<f64> = record
        .tasks
        .iter()
        .map(|t| t.end_ms.map_or(0.0, |e| e as f64))
        .collect();
    let deps = |i: usize| -> Vec<usize> {
        let mut deps: Vec<usize> = record.tasks[i]
            .deps
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .filter(ended)
            .collect();
        deps.sort_unstable();
        deps
    };
    let longest = crate::critical::Longest {
        last: (0..record.tasks.len())
            .map(|i| crate::critical::last_of(&finish, deps(i)))
            .collect(),
        finish,
    };
    let end = crate::critical::last_of(&longest.finish, (0..record.tasks.len()).filter(ended));
    longest
        .chain(end)
        .into_iter()
        .filter(|&i| !record.tasks[i].attempts.is_empty())
        .collect()
}

#[cfg(test)]
mod tests;
