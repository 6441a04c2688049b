//! Build output (SPEC §4, §6): one [`Reporter`] receives every build event and renders
//! it in the chosen style.
//!
//! - **Tty**: an indicatif bar on stderr (done/total, the running tasks, elapsed), with
//!   finished tasks printed above it.
//! - **Plain**: one line per event on stdout, for CI logs (a line when a task finishes,
//!   with its duration).
//! - **Json**: one JSON object per line on stdout, exactly the events of SPEC §6.
//! - **Quiet** (`-q`): only failures.
//!
//! `--explain` adds the reasons of every decision. Failures print the tail of the task's
//! log on stderr. Colours go through `anstream`, which honours `NO_COLOR` and pipes.

use std::collections::BTreeSet;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style as Colour};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::explain::RunStatus;
use crate::explain::{self, Reason};
use crate::report::Counts;
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

/// How one attempt of a task ended, for [`Reporter::finished`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskEnd<'a> {
    pub(crate) task: &'a str,
    pub(crate) title: &'a str,
    pub(crate) status: RunStatus,
    pub(crate) duration: Duration,
    pub(crate) attempt: u32,
    /// Another attempt follows.
    pub(crate) retrying: bool,
    /// Why it failed, when conduct knows more than the log (exit code, timeout).
    pub(crate) detail: Option<&'a str>,
    /// The end of the task's log, shown with failures.
    pub(crate) log_tail: &'a str,
}

const OK: Colour = AnsiColor::Green.on_default();
const BAD: Colour = AnsiColor::Red.on_default().bold();
const DIM: Colour = Colour::new().dimmed();

/// Receives build events and writes them out.
pub(crate) struct Reporter {
    style: Style,
    explain: bool,
    total: usize,
    done: usize,
    running: BTreeSet<String>,
    bar: Option<ProgressBar>,
    out: anstream::Stdout,
    /// The run record being written from the same events.
    record: Option<Recorder>,
    /// How many warnings were printed (a build with warnings is not a clean one).
    pub(crate) warnings: usize,
}

impl Reporter {
    /// `total`: the number of selected tasks.
    pub(crate) fn new(style: Style, explain: bool, total: usize) -> Reporter {
        let bar = (style == Style::Tty).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let template = "{elapsed_precise} [{bar:30}] {pos}/{len} {wide_msg}";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Reporter {
            style,
            explain,
            total,
            done: 0,
            running: BTreeSet::new(),
            bar,
            out: anstream::stdout(),
            record: None,
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

    fn json(&mut self, value: Value) {
        let _ = writeln!(self.out, "{value}");
    }

    /// A line for humans: above the bar on a TTY, on stdout otherwise.
    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(self.out, "{text}");
            }
        }
    }

    /// A line that must be seen even with `-q` (failures), on stderr.
    fn alert(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(anstream::stderr(), "{text}");
            }),
            None => {
                let _ = self.out.flush();
                let _ = writeln!(anstream::stderr(), "{text}");
            }
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
            let names: Vec<&str> = self.running.iter().map(String::as_str).collect();
            bar.set_message(names.join(" "));
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
            Style::Json => self.json(json!({"event": "task_fresh", "task": task})),
            Style::Quiet => {}
            _ => {
                if self.explain {
                    self.line(&format!("{task} is fresh"));
                }
            }
        }
    }

    /// The task was decided to run, for these reasons (printed with `--explain`).
    pub(crate) fn will_run(&mut self, task: &str, reasons: &[Reason]) {
        let reasons = explain::render(reasons);
        let reasons = &reasons[..];
        if self.explain && matches!(self.style, Style::Tty | Style::Plain) {
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
                if self.explain {
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
                if self.explain {
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
        if self.explain && matches!(self.style, Style::Tty | Style::Plain) {
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
                if self.explain {
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
        self.show_running();
        if self.style == Style::Json {
            let mut event = json!({"event": "task_started", "task": task, "attempt": attempt});
            if self.explain {
                event["reasons"] = json!(reasons);
            }
            self.json(event);
        }
    }

    /// A task's attempt ended.
    pub(crate) fn finished(&mut self, end: &TaskEnd<'_>) {
        let TaskEnd {
            task,
            title,
            status,
            duration,
            attempt,
            retrying,
            detail,
            log_tail,
        } = *end;
        if let Some(record) = &mut self.record {
            record.finished(task, status, retrying, detail);
        }
        self.running.remove(task);
        self.show_running();
        if !retrying {
            self.progress();
        }
        if self.style == Style::Json {
            let mut event = json!({
                "event": "task_finished",
                "task": task,
                "status": status.as_str(),
                "duration_ms": duration.as_millis() as u64,
                "attempt": attempt,
            });
            if let Some(detail) = detail {
                let field = if status == RunStatus::Ok {
                    "note"
                } else {
                    "error"
                };
                event[field] = json!(detail);
            }
            self.json(event);
            return;
        }
        let seconds = format!("{:.2}s", duration.as_secs_f64());
        if status == RunStatus::Ok {
            if self.style != Style::Quiet {
                let note = detail.map(|d| format!(": {d}")).unwrap_or_default();
                let line = format!(
                    "{} {}ok{} {task} {title} {}({seconds}){}{note}",
                    self.counter(),
                    OK.render(),
                    OK.render_reset(),
                    DIM.render(),
                    DIM.render_reset()
                );
                self.line(&line);
            }
            return;
        }
        let word = match status {
            RunStatus::TimedOut => "TIMED OUT",
            RunStatus::Interrupted => "INTERRUPTED",
            _ => "FAILED",
        };
        let counter = if retrying {
            format!("[retry {attempt}]")
        } else {
            self.counter()
        };
        let mut text = format!(
            "{counter} {}{word}{} {task} {title} ({seconds})",
            BAD.render(),
            BAD.render_reset()
        );
        if let Some(detail) = detail {
            text.push_str(&format!(": {detail}"));
        }
        let tail = log_tail.trim_end();
        if !tail.is_empty() {
            for line in tail.lines() {
                text.push_str(&format!("\n  | {line}"));
            }
        }
        self.alert(&text);
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
                if self.style == Style::Quiet {
                    self.alert(&text);
                } else {
                    self.line(&text);
                }
            }
        }
    }

    /// Something the user should know that is not a task event.
    pub(crate) fn warn(&mut self, text: &str) {
        self.warnings += 1;
        if self.style == Style::Json {
            self.json(json!({"event": "warning", "message": text}));
        } else {
            self.alert(&format!("warning: {text}"));
        }
    }

    /// The last event: the counts, also as one plain line.
    pub(crate) fn build_finished(&mut self, counts: Counts, duration: Duration, dry_run: bool) {
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
                    "warnings": counts.warnings,
                },
                "duration_ms": duration.as_millis() as u64,
            });
            if dry_run {
                event["counts"]["would_run"] = json!(counts.would_run);
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
        if counts.warnings > 0 {
            text.push_str(&format!(
                ", {} warning{}",
                counts.warnings,
                if counts.warnings == 1 { "" } else { "s" }
            ));
        }
        text.push_str(&format!(" in {:.2}s", duration.as_secs_f64()));
        if self.style == Style::Quiet && counts.failed + counts.blocked == 0 {
            return;
        }
        let _ = writeln!(self.out, "{text}");
    }
}
