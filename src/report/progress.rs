//! Build output (SPEC §4, §6): one [`Reporter`] receives every build event and renders
//! it in the chosen style.
//!
//! - **Tty**: an indicatif bar on stderr (done/total, the running tasks, elapsed), with
//!   finished tasks printed above it.
//! - **Plain**: one line per event, for CI logs (a line when a task finishes, with its
//!   duration; a line when a task has run for 10 s, and every 60 s the list of running
//!   tasks: see [`heartbeat`](crate::report::heartbeat)).
//! - **Json**: one JSON object per line on stdout, exactly the events of SPEC §6.
//! - **Quiet** (`-q`): only failures.
//!
//! One rule for streams (issue 15): every line for humans — task lines, failures,
//! `blocked`, warnings, the summary — goes to **stderr when stderr is a terminal**, and
//! to **stdout otherwise**, so `conduct build > log` keeps all of it and a failing CI
//! build writes nothing on stderr (only errors that stop conduct before the build, and
//! the task output `-v` streams, go there). JSON is always on stdout. Colours are
//! decided per stream by `anstream` (`NO_COLOR`, `CLICOLOR_FORCE`, pipes); lines
//! printed above the bar go through indicatif, so they are stripped here when the
//! stream takes no colour.
//!
//! `--explain` adds the reasons of every decision that does something (run, restore,
//! check again); `--explain=all` also lists the fresh tasks. Failures print the tail of
//! the task's log; what a successful run printed (the end of its log, when not blank)
//! follows its line, as in ninja (Json: a field of `task_finished`).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anstream::{AutoStream, ColorChoice};

use anstyle::{AnsiColor, Style as Colour};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::agent::outcome::AgentOutcome;
use crate::explain::RunStatus;
use crate::explain::{self, Reason};
use crate::report::Counts;
use crate::report::end::note;
pub(crate) use crate::report::end::{RunOutput, TaskEnd};
use crate::report::heartbeat::Heartbeat;
use crate::report::record::Recorder;
use crate::rules::check::CheckResult;

/// How build output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Tty,
    Plain,
    Json,
    Quiet,
}

impl Style {
    /// The style for these flags: JSON wins, then quiet, then a bar when stderr is a
    /// terminal and task output is not being streamed there (`-v`).
    pub(crate) fn choose(json: bool, quiet: bool, verbose: bool) -> Style {
        if json {
            Style::Json
        } else if quiet {
            Style::Quiet
        } else if io::stderr().is_terminal() && !verbose {
            Style::Tty
        } else {
            Style::Plain
        }
    }
}

/// What `--explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Explain {
    /// Nothing (no `--explain`).
    Off,
    /// The reasons of the tasks that run, are restored, checked again or fail.
    Changed,
    /// Those, and a line for every fresh task (`--explain=all`).
    All,
}

/// Where the lines for humans go.
enum Sink {
    Stdout,
    Stderr,
    /// Tests: a buffer they read, with the colour they choose.
    #[cfg(test)]
    Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>, ColorChoice),
}

/// The current time (tests pass a clock they move by hand).
pub(crate) type Clock = Box<dyn Fn() -> Instant + Send>;

const OK: Colour = AnsiColor::Green.on_default();
const BAD: Colour = AnsiColor::Red.on_default().bold();
const DIM: Colour = Colour::new().dimmed();

/// Receives build events and writes them out.
pub(crate) struct Reporter {
    style: Style,
    explain: Explain,
    total: usize,
    done: usize,
    running: BTreeSet<String>,
    bar: Option<ProgressBar>,
    /// On a terminal: the bar's group, and the running tasks' lines under it.
    multi: Option<MultiProgress>,
    live: Option<live::Live>,
    /// The stream of every line (see the module's docs), colours stripped as it takes.
    out: AutoStream<Box<dyn Write + Send>>,
    /// Whether lines above the bar may keep their colours.
    bar_colour: bool,
    /// Plain style: the "still running" lines.
    heartbeat: Option<Heartbeat>,
    clock: Clock,
    /// The run record being written from the same events.
    record: Option<Recorder>,
    /// How many warnings were printed (a build with warnings is not a clean one).
    pub(crate) warnings: usize,
    /// What the build's agents spent, over the tasks that ended.
    spent: Option<AgentOutcome>,
    /// What the restored tasks' agents had spent making them (`conduct` ran none).
    pub(crate) saved_usd: f64,
    /// The run budget (`--budget-usd`), for the summary.
    pub(crate) budget_usd: Option<f64>,
}

impl Reporter {
    /// `total`: the number of selected tasks.
    pub(crate) fn new(style: Style, explain: Explain, total: usize) -> Reporter {
        let sink = if style != Style::Json && io::stderr().is_terminal() {
            Sink::Stderr
        } else {
            Sink::Stdout
        };
        Reporter::with(style, explain, total, sink, Box::new(Instant::now))
    }

    fn with(style: Style, explain: Explain, total: usize, sink: Sink, clock: Clock) -> Reporter {
        let (out, bar_colour): (AutoStream<Box<dyn Write + Send>>, bool) = match sink {
            Sink::Stdout => {
                let choice = AutoStream::choice(&io::stdout());
                // Buffered: see `json`.
                let out = io::BufWriter::with_capacity(64 * 1024, io::stdout());
                (AutoStream::new(Box::new(out), choice), false)
            }
            Sink::Stderr => {
                let choice = AutoStream::choice(&io::stderr());
                let colour = choice != ColorChoice::Never;
                (AutoStream::new(Box::new(io::stderr()), choice), colour)
            }
            #[cfg(test)]
            Sink::Buffer(buffer, choice) => (
                AutoStream::new(Box::new(SharedBuffer(buffer)), choice),
                choice != ColorChoice::Never,
            ),
        };
        let multi = (style == Style::Tty)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let bar = multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(total as u64));
            let template = "{elapsed_precise} [{bar:30}] {pos}/{len} {wide_msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let heartbeat = (style == Style::Plain).then(|| Heartbeat::new(clock()));
        Reporter {
            style,
            explain,
            total,
            done: 0,
            running: BTreeSet::new(),
            bar,
            multi,
            live: None,
            out,
            bar_colour,
            heartbeat,
            clock,
            record: None,
            spent: None,
            saved_usd: 0.0,
            budget_usd: None,
            warnings: 0,
        }
    }

    /// Also build a run record from the events.
    pub(crate) fn record_with(&mut self, recorder: Recorder) {
        self.record = Some(recorder);
    }

    /// The run record, to be closed and saved when the build ends.
    pub(crate) fn take_record(&mut self) -> Option<Recorder> {
        self.record.take()
    }

    /// One event line. `task_fresh` lines wait in the buffer for the next event (10,000
    /// fresh tasks are then a handful of writes, not 10,000); every other event is
    /// written at once, for whoever reads the stream live.
    fn json(&mut self, value: Value) {
        let _ = writeln!(self.out, "{value}");
        if value["event"] != "task_fresh" {
            let _ = self.out.flush();
        }
    }

    /// A line for humans: above the bar on a TTY (without colours if stderr takes
    /// none), on the stream of every line otherwise.
    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => {
                let text = if self.bar_colour {
                    Cow::Borrowed(text)
                } else {
                    Cow::Owned(anstream::adapter::strip_str(text).to_string())
                };
                match &self.multi {
                    Some(multi) => {
                        let _ = multi.println(text);
                    }
                    None => bar.println(text),
                }
            }
            None => {
                let _ = writeln!(self.out, "{text}");
                let _ = self.out.flush();
            }
        }
    }

    /// Called as the build's event loop goes round: in the plain style, print the
    /// "still running" lines that are due (nothing else looks at the clock).
    pub(crate) fn tick(&mut self) {
        if let Some(live) = &mut self.live {
            live.tick((self.clock)());
        }
        let lines = match &mut self.heartbeat {
            Some(heartbeat) if !self.running.is_empty() => heartbeat.due((self.clock)()),
            _ => return,
        };
        for line in lines {
            self.line(&line);
        }
    }

    /// On a terminal, show each running task's last log line (its log is in `logs`).
    pub(crate) fn follow_logs(&mut self, logs: PathBuf) {
        if let Some(multi) = &self.multi {
            self.live = Some(live::Live::new(multi.clone(), logs));
        }
    }

    fn progress(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done as u64);
        }
    }

    fn show_running(&self) {
        if let Some(bar) = &self.bar {
            if self.live.is_some() {
                // Each running task has a line of its own under the bar.
                bar.set_message(format!("{} running", self.running.len()));
            } else {
                let names: Vec<&str> = self.running.iter().map(String::as_str).collect();
                bar.set_message(names.join(" "));
            }
        }
    }

    fn counter(&self) -> String {
        let width = self.total.to_string().len();
        format!("[{:>width$}/{}]", self.done, self.total)
    }

    fn explain_lines(&mut self, header: String, reasons: &[String]) {
        let mut text = header;
        for reason in reasons {
            text.push_str("\n  ");
            text.push_str(reason);
        }
        self.line(&text);
    }

    /// The task is up to date.
    pub(crate) fn fresh(&mut self, task: &str) {
        if let Some(record) = &mut self.record {
            record.fresh(task);
        }
        self.progress();
        match self.style {
            Style::Json => {
                // The commonest event: no JSON value built, left in the buffer (`json`).
                let task = serde_json::to_string(task).unwrap_or_default();
                let _ = writeln!(self.out, "{{\"event\":\"task_fresh\",\"task\":{task}}}");
            }
            Style::Quiet => {}
            _ => {
                if self.explain == Explain::All {
                    self.line(&format!("{task} is fresh"));
                }
            }
        }
    }

    /// The task was decided to run, for these reasons (printed with `--explain`).
    pub(crate) fn will_run(&mut self, task: &str, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        if self.explain != Explain::Off && matches!(self.style, Style::Tty | Style::Plain) {
            self.explain_lines(format!("{task} will run:"), reasons);
        }
    }

    /// A check of a task's outputs reached its verdict (failures are reported with the
    /// task; this is the JSON event).
    pub(crate) fn check_finished(
        &mut self,
        task: &str,
        rule: &str,
        result: &CheckResult,
        required: bool,
    ) {
        if let Some(record) = &mut self.record {
            record.check_finished(task, rule, result, required);
        }
        if self.style == Style::Json {
            let mut event = json!({
                "event": "check_finished",
                "task": task,
                "rule": rule,
                "passed": result.passed,
                "required": required,
            });
            if !result.passed {
                event["message"] = json!(result.message);
            }
            if let Some(metric) = result.metric {
                event["metric"] = json!(metric);
            }
            self.json(event);
        }
    }

    /// The task's outputs came back from the cache (`count` files).
    pub(crate) fn restored(&mut self, task: &str, count: usize, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        if let Some(record) = &mut self.record {
            record.restored(task, reasons);
        }
        self.progress();
        let files = format!("{count} output{}", if count == 1 { "" } else { "s" });
        match self.style {
            Style::Json => {
                self.json(json!({"event": "task_restored", "task": task, "restored": count}))
            }
            Style::Quiet => {}
            _ => {
                if self.explain != Explain::Off {
                    self.explain_lines(
                        format!("{task} is fresh (cache hit: restored {files})"),
                        reasons,
                    );
                } else {
                    let line = format!(
                        "{} {}restored{} {task} ({files})",
                        self.counter(),
                        OK.render(),
                        OK.render_reset()
                    );
                    self.line(&line);
                }
            }
        }
    }

    /// `--dry-run`: the cache would give the task's outputs back.
    pub(crate) fn would_restore(&mut self, task: &str, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        self.progress();
        match self.style {
            Style::Json => {
                self.json(json!({"event": "task_would_restore", "task": task, "reasons": reasons}))
            }
            Style::Quiet => {}
            _ => {
                if self.explain != Explain::Off {
                    self.explain_lines(
                        format!("{task} would be restored from the cache:"),
                        reasons,
                    );
                } else {
                    self.line(&format!("{task} would be restored from the cache"));
                }
            }
        }
    }

    /// `--explain`: a fresh task's checks run again (a rule changed).
    pub(crate) fn rechecking(&mut self, task: &str, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        if self.explain != Explain::Off && matches!(self.style, Style::Tty | Style::Plain) {
            self.explain_lines(format!("{task} is checked again:"), reasons);
        }
    }

    /// `--dry-run`: the command would not run, but checks would run again or fail.
    pub(crate) fn would_recheck(&mut self, task: &str, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        self.progress();
        match self.style {
            Style::Json => {
                self.json(json!({"event": "task_would_recheck", "task": task, "reasons": reasons}))
            }
            Style::Quiet => {}
            _ => self.explain_lines(format!("{task} would be checked again:"), reasons),
        }
    }

    /// `--dry-run`: the task would run.
    pub(crate) fn would_run(&mut self, task: &str, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        self.progress();
        match self.style {
            Style::Json => {
                self.json(json!({"event": "task_would_run", "task": task, "reasons": reasons}))
            }
            Style::Quiet => {}
            _ => {
                if self.explain != Explain::Off {
                    self.explain_lines(format!("{task} would run:"), reasons);
                } else {
                    self.line(&format!("{task} would run"));
                }
            }
        }
    }

    pub(crate) fn started(&mut self, task: &str, attempt: u32, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        if let Some(record) = &mut self.record {
            record.started(task, reasons);
        }
        self.running.insert(task.to_owned());
        if let Some(live) = &mut self.live {
            live.started(task);
        }
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.started(task, (self.clock)());
        }
        self.show_running();
        if self.style == Style::Json {
            let mut event = json!({"event": "task_started", "task": task, "attempt": attempt});
            if self.explain != Explain::Off {
                event["reasons"] = json!(reasons);
            }
            self.json(event);
        }
    }

    /// Whether a successful run's output is wanted (not with `-q`, nor in the plain
    /// styles when `-v` streamed it already): without it, nobody reads the log.
    pub(crate) fn shows_output(&self, streamed: bool) -> bool {
        match self.style {
            Style::Json => true,
            Style::Quiet => false,
            Style::Tty | Style::Plain => !streamed,
        }
    }

    /// A task's attempt ended.
    pub(crate) fn finished(&mut self, end: &TaskEnd<'_>) {
        if let Some(record) = &mut self.record {
            record.finished(end);
        }
        self.running.remove(end.task);
        if let Some(live) = &mut self.live {
            live.finished(end.task);
        }
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.finished(end.task);
        }
        self.show_running();
        if !end.retrying {
            self.progress();
            if let Some(agent) = end.agent {
                AgentOutcome::add(&mut self.spent, agent);
            }
        }
        match self.style {
            Style::Json => self.finished_json(end),
            _ if end.status == RunStatus::Ok => self.succeeded(end),
            _ => self.failed(end),
        }
    }

    fn finished_json(&mut self, end: &TaskEnd<'_>) {
        let mut event = json!({
            "event": "task_finished",
            "task": end.task,
            "status": end.status.as_str(),
            "duration_ms": end.duration.as_millis() as u64,
            "attempt": end.attempt,
        });
        if let Some(detail) = end.detail {
            let field = if end.status == RunStatus::Ok {
                "note"
            } else {
                "error"
            };
            event[field] = json!(detail);
        }
        if end.flaky {
            event["flaky"] = json!(true);
        }
        if let Some(agent) = end.agent {
            event["agent"] = json!(agent);
        }
        if let Some(job) = end.cluster {
            let mut slurm = json!({
                "job": job.id,
                "queue_wait_ms": job.queue_wait().as_millis() as u64,
            });
            if let Some(state) = &job.state {
                slurm["state"] = json!(state);
            }
            event["slurm"] = slurm;
        }
        if let Some(output) = end.output {
            event["output"] = json!(output.tail.text);
            if output.tail.cut > 0 {
                event["output_cut_bytes"] = json!(output.tail.cut);
            }
        }
        self.json(event);
    }

    /// `[3/5] ok id title (0.01s)`, and what the run printed under it.
    fn succeeded(&mut self, end: &TaskEnd<'_>) {
        if self.style == Style::Quiet {
            return;
        }
        let note = note(end).map(|d| format!(": {d}")).unwrap_or_default();
        let mut text = format!(
            "{} {}ok{} {} {}({}){}{note}",
            self.counter(),
            OK.render(),
            OK.render_reset(),
            crate::spec::label(end.task, end.title, " "),
            DIM.render(),
            seconds(end.duration),
            DIM.render_reset()
        );
        if let Some(output) = end.output {
            if output.tail.cut > 0 {
                text.push_str(&format!(
                    "\n  | (first {} cut; the whole log is {})",
                    crate::units::format_size(output.tail.cut),
                    output.log
                ));
            }
            push_quoted(&mut text, &output.tail.text);
        }
        self.line(&text);
    }

    /// `FAILED id title (0.01s): why`, and the end of the log.
    fn failed(&mut self, end: &TaskEnd<'_>) {
        let word = match end.status {
            RunStatus::TimedOut => "TIMED OUT",
            RunStatus::Interrupted => "INTERRUPTED",
            RunStatus::Edited => "EDITED",
            _ => "FAILED",
        };
        let counter = if end.retrying {
            format!("[retry {}]", end.attempt)
        } else {
            self.counter()
        };
        let mut text = format!(
            "{counter} {}{word}{} {} ({})",
            BAD.render(),
            BAD.render_reset(),
            crate::spec::label(end.task, end.title, " "),
            seconds(end.duration)
        );
        if let Some(note) = note(end) {
            text.push_str(&format!(": {note}"));
        }
        push_quoted(&mut text, end.log_tail);
        self.line(&text);
    }

    /// A worktree task's outputs were committed on its branch.
    pub(crate) fn committed(&mut self, task: &str, branch: &str, commit: &str) {
        let short = commit.get(..10).unwrap_or(commit);
        match self.style {
            Style::Json => self.json(json!({
                "event": "task_committed",
                "task": task,
                "branch": branch,
                "commit": commit,
            })),
            Style::Quiet => {}
            _ => self.line(&format!("       {task}: committed {short} on {branch}")),
        }
    }

    /// The task cannot run because `by` failed.
    pub(crate) fn blocked(&mut self, task: &str, by: &str) {
        if let Some(record) = &mut self.record {
            record.blocked(task, by);
        }
        self.progress();
        match self.style {
            Style::Json => self.json(json!({"event": "task_blocked", "task": task, "by": by})),
            _ => {
                let text = format!("{} blocked {task} (by {by})", self.counter());
                self.line(&text);
            }
        }
    }

    /// A task the build stopped before starting (`--fail-fast`, Ctrl-C), not because a
    /// dependency failed: `why` says which.
    pub(crate) fn not_started(&mut self, task: &str, why: &str) {
        if let Some(record) = &mut self.record {
            record.blocked(task, why);
        }
        self.progress();
        match self.style {
            Style::Json => {
                self.json(json!({"event": "task_not_started", "task": task, "why": why}))
            }
            _ => {
                let text = format!("{} not started {task} ({why})", self.counter());
                self.line(&text);
            }
        }
    }

    /// Something the user should know that is not a task event.
    pub(crate) fn warn(&mut self, text: &str) {
        self.warnings += 1;
        if self.style == Style::Json {
            self.json(json!({"event": "warning", "message": text}));
        } else {
            self.line(&format!("warning: {text}"));
        }
    }

    /// The last event: the counts, also as one plain line.
    pub(crate) fn build_finished(&mut self, counts: Counts, duration: Duration, dry_run: bool) {
        if let Some(live) = &mut self.live {
            live.clear();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.style == Style::Json {
            let mut event = json!({
                "event": "build_finished",
                "counts": {
                    "ran": counts.ran,
                    "fresh": counts.fresh,
                    "restored": counts.restored,
                    "failed": counts.failed,
                    "blocked": counts.blocked,
                    "edited": counts.edited,
                    "warnings": counts.warnings,
                },
                "duration_ms": duration.as_millis() as u64,
            });
            if dry_run {
                event["counts"]["would_run"] = json!(counts.would_run);
            }
            if let Some(remote) = counts.remote {
                event["remote"] = json!({
                    "hits": remote.hits,
                    "bytes_down": remote.bytes_down,
                    "bytes_up": remote.bytes_up,
                });
            }
            if self.spent.is_some() || self.saved_usd > 0.0 {
                let spent = self.spent.clone().unwrap_or_default();
                event["agents"] = json!({
                    "cost_usd": spent.cost_usd,
                    "input_tokens": spent.input_tokens,
                    "cache_read_tokens": spent.cache_read_tokens,
                    "output_tokens": spent.output_tokens,
                    "saved_usd": self.saved_usd,
                    "budget_usd": self.budget_usd,
                });
            }
            self.json(event);
            return;
        }
        let mut text = if dry_run {
            format!("dry run: {} would run, ", counts.would_run)
        } else {
            format!("{} ran, ", counts.ran)
        };
        text.push_str(&format!(
            "{} fresh, {} restored, {} failed, {} blocked",
            counts.fresh, counts.restored, counts.failed, counts.blocked,
        ));
        if counts.edited > 0 {
            text.push_str(&format!(", {} edited", counts.edited));
        }
        if counts.warnings > 0 {
            text.push_str(&format!(
                ", {} warning{}",
                counts.warnings,
                if counts.warnings == 1 { "" } else { "s" }
            ));
        }
        text.push_str(&format!(" in {:.2}s", duration.as_secs_f64()));
        if let Some(remote) = counts.remote {
            text.push_str(&format!(
                "; remote cache: {} hit{}, {} down, {} up",
                remote.hits,
                if remote.hits == 1 { "" } else { "s" },
                crate::units::format_size(remote.bytes_down),
                crate::units::format_size(remote.bytes_up),
            ));
        }
        match &self.spent {
            Some(spent) => {
                text.push_str(&format!("; agents spent {}", spent.spent()));
                if let Some(limit) = self.budget_usd {
                    text.push_str(&format!(" (run budget ${limit:.2})"));
                }
            }
            None if self.saved_usd > 0.0 => text.push_str("; no agent ran"),
            None => {}
        }
        if self.saved_usd > 0.0 {
            text.push_str(&format!(
                ", the cache saved ${:.2} (what the restored results cost)",
                self.saved_usd
            ));
        }
        if self.style == Style::Quiet && counts.failed + counts.blocked + counts.edited == 0 {
            let _ = self.out.flush();
            return;
        }
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }
}

/// A task's duration as its line shows it: `0.01s`.
fn seconds(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}

/// Append `output` (a log's end) to `text`, each line on a line of its own after
/// `  | `; nothing if it is blank.
fn push_quoted(text: &mut String, output: &str) {
    for line in output.trim_end().lines() {
        text.push_str("\n  | ");
        text.push_str(line);
    }
}

/// A test's buffer that the reporter writes into while the test keeps a handle on it.
#[cfg(test)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut buffer) => buffer.extend_from_slice(bytes),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(bytes),
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

mod live;
#[cfg(test)]
mod tests;
