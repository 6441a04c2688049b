//! `conduct report --html`: one build run as a single HTML page: a header with the
//! run's facts and tally, a Gantt chart of every task (grouped like the project, coloured
//! by status, attempts and the critical path marked, details in hover tooltips) and a
//! table with each task's outputs, checks and blockers.
//!
//! The page is self-contained on purpose: inline CSS, hand-written inline SVG, no
//! scripts, fonts, images or links to fetch. It is attached to CI jobs, mailed around and
//! opened years later from an artifact store, often where no network is allowed; it must
//! look the same there as on the machine that ran the build. Everything that came from
//! the project (ids, titles, reasons, messages, paths) goes through [`escape`].

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::record::{
    self, Attempt, CheckOutcome, RunRecord, SlurmJob, TaskRecord, TaskStatus,
};
use crate::units::{format_duration, format_seconds};
use style::style;

/// Width of the task label column, left of the time axis.
const LABEL_W: f64 = 300.0;
/// Width of the time axis.
const CHART_W: f64 = 860.0;
/// Room right of the axis for the duration written after the last bars.
const RIGHT_PAD: f64 = 70.0;
/// Height of the tick labels above the rows.
const AXIS_H: f64 = 26.0;
const ROW_H: f64 = 22.0;
const BAR_H: f64 = 14.0;
/// A bar is never thinner than this, so instant tasks (fresh, restored) stay visible.
const MIN_W: f64 = 2.0;
/// Width of the marker of a task that never started (blocked, pending).
const UNSTARTED_W: f64 = 10.0;
/// Characters of "id title" that fit the label column.
const LABEL_CHARS: usize = 42;

/// Every status, in the order of the legend.
const STATUSES: [TaskStatus; 9] = [
    TaskStatus::Ok,
    TaskStatus::Failed,
    TaskStatus::TimedOut,
    TaskStatus::Interrupted,
    TaskStatus::Fresh,
    TaskStatus::Restored,
    TaskStatus::Blocked,
    TaskStatus::Edited,
    TaskStatus::Pending,
];

/// The page for `record`: what `conduct report --html` writes, so a run can be looked at
/// (and shared) long after its terminal output is gone.
pub(crate) fn render(record: &RunRecord) -> String {
    let mut critical = vec![false; record.tasks.len()];
    for i in record::critical_path(record) {
        if let Some(mark) = critical.get_mut(i) {
            *mark = true;
        }
    }
    let sections = sections(record);
    let mut page = String::with_capacity(8192 + record.tasks.len() * 2048);
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        page,
        "<title>conduct run: {} · {}</title>",
        escape(project_name(record)),
        escape(&record.started_at)
    );
    style(&mut page);
    page.push_str("</head>\n<body>\n");
    header(record, &critical, &mut page);
    page.push_str("<section class=\"chart\">\n<h2>Timeline</h2>\n");
    legend(record, &mut page);
    gantt(record, &sections, &critical, &mut page);
    page.push_str("</section>\n<section>\n<h2>Tasks</h2>\n");
    table(record, &sections, &critical, &mut page);
    page.push_str("</section>\n</body>\n</html>\n");
    page
}

/// Text safe in HTML content and in quoted attribute values.
fn escape(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => safe.push_str("&amp;"),
            '<' => safe.push_str("&lt;"),
            '>' => safe.push_str("&gt;"),
            '"' => safe.push_str("&quot;"),
            '\'' => safe.push_str("&#39;"),
            _ => safe.push(c),
        }
    }
    safe
}

fn project_name(record: &RunRecord) -> &str {
    record.project.as_deref().unwrap_or("(unnamed project)")
}

/// Milliseconds as the rest of conduct writes durations (`0.06s`, `1h 2m`).
fn seconds(ms: u64) -> String {
    format_seconds(ms as f64 / 1000.0)
}

/// What ran, when, how long, and the tally, above everything else.
fn header(record: &RunRecord, critical: &[bool], page: &mut String) {
    let _ = writeln!(
        page,
        "<header>\n<h1>conduct run: {}</h1>",
        escape(project_name(record))
    );
    let targets = if record.targets.is_empty() {
        "all".to_owned()
    } else {
        record.targets.join(" ")
    };
    let _ = writeln!(
        page,
        "<p class=\"meta\">Started <b>{}</b> · took <b>{}</b> · {} job{} · targets: <b>{}</b> \
         · conduct {}{}</p>",
        escape(&record.started_at),
        seconds(record.duration_ms),
        record.jobs,
        if record.jobs == 1 { "" } else { "s" },
        escape(&targets),
        escape(&record.conduct_version),
        if record.interrupted {
            " · <span class=\"interrupted\">interrupted</span>"
        } else {
            ""
        }
    );
    let c = record.counts;
    page.push_str("<div class=\"counts\">");
    for (count, word, bad) in [
        (c.ran, "ran", ""),
        (c.fresh, "fresh", ""),
        (c.restored, "restored", ""),
        (c.failed, "failed", " bad"),
        (c.blocked, "blocked", " bad"),
        (c.warnings, "warnings", " warn"),
    ] {
        let class = if count > 0 { bad } else { "" };
        let _ = write!(page, "<span class=\"chip{class}\">{count} {word}</span>");
    }
    let spent = crate::agent::outcome::AgentOutcome::sum(
        record.tasks.iter().filter_map(|t| t.agent.as_ref()),
    );
    if let Some(spent) = spent {
        let _ = write!(
            page,
            "<span class=\"chip\">agents spent {}</span>",
            escape(&spent.spent())
        );
    }
    page.push_str("</div>\n");
    let path: Vec<String> = record
        .tasks
        .iter()
        .zip(critical)
        .filter(|&(_, &on)| on)
        .map(|(t, _)| escape(&t.id))
        .collect();
    if !path.is_empty() {
        let _ = writeln!(
            page,
            "<p class=\"meta\">Critical path: {}</p>",
            path.join(" → ")
        );
    }
    page.push_str("</header>\n");
}

/// The colours of the chart, as HTML so it wraps with the window.
fn legend(record: &RunRecord, page: &mut String) {
    page.push_str("<div class=\"legend\">");
    for status in STATUSES {
        let name = status.as_str();
        let _ = write!(
            page,
            "<span><i class=\"swatch status-{name}\"></i>{}</span>",
            name.replace('_', " ")
        );
    }
    page.push_str(
        "<span><i class=\"swatch critical\"></i>critical path</span>\
         <span><i class=\"swatch attempt\"></i>attempts (retried task)</span>",
    );
    let on_cluster = record
        .tasks
        .iter()
        .any(|t| t.attempts.iter().any(|a| a.slurm.is_some()));
    if on_cluster {
        page.push_str("<span><i class=\"swatch queued\"></i>waiting in the Slurm queue</span>");
    }
    page.push_str("</div>\n");
}

/// A heading (the group, raw text) and the indices of its tasks in `record.tasks`.
struct Section {
    label: String,
    tasks: Vec<usize>,
}

/// The tasks by group (see [`record::sections`]), labelled for the page.
fn sections(record: &RunRecord) -> Vec<Section> {
    record::sections(record)
        .into_iter()
        .map(|section| Section {
            label: match (section.name, section.title) {
                (Some(name), Some(title)) => format!("{name} · {title}"),
                (Some(name), None) => name.to_owned(),
                (None, _) => "(no group)".to_owned(),
            },
            tasks: section.tasks,
        })
        .collect()
}

/// When the task ran, if it started: its start, and its end (the end of the run if the
/// record closed while it ran; never before its start).
fn span(task: &TaskRecord, run_end: u64) -> Option<(u64, u64)> {
    let start = task.start_ms?;
    let end = task.end_ms.unwrap_or(run_end).max(start);
    Some((start, end))
}

/// An attempt's start and end (the task's end if it has none, never before its start).
fn attempt_span(attempt: &Attempt, task_end: u64) -> (u64, u64) {
    let end = attempt.end_ms.unwrap_or(task_end).max(attempt.start_ms);
    (attempt.start_ms, end)
}

/// Maps times to x coordinates; `total` is at least 1 ms, so empty runs draw too.
struct Scale {
    total: u64,
}

impl Scale {
    fn new(record: &RunRecord) -> Scale {
        let mut total = record.duration_ms.max(1);
        for task in &record.tasks {
            let times = [task.start_ms, task.end_ms].into_iter().flatten();
            let attempts = task
                .attempts
                .iter()
                .flat_map(|a| [Some(a.start_ms), a.end_ms])
                .flatten();
            total = times.chain(attempts).fold(total, u64::max);
        }
        Scale { total }
    }

    fn x(&self, ms: u64) -> f64 {
        LABEL_W + ms.min(self.total) as f64 * CHART_W / self.total as f64
    }

    /// A tick every this many ms: a round step giving at most nine labels.
    fn step(&self) -> u64 {
        const STEPS: [u64; 24] = [
            10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
            120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
            21_600_000, 43_200_000, 86_400_000,
        ];
        let fits = |step: u64| self.total / step <= 8;
        match STEPS.into_iter().find(|&s| fits(s)) {
            Some(step) => step,
            None => {
                let mut step = 86_400_000u64;
                while !fits(step) {
                    step = step.saturating_mul(2);
                }
                step
            }
        }
    }
}

/// The timeline: tick labels and grid lines, then a band per group and a row per task.
fn gantt(record: &RunRecord, sections: &[Section], critical: &[bool], page: &mut String) {
    let scale = Scale::new(record);
    let rows: usize = sections.iter().map(|s| 1 + s.tasks.len()).sum();
    let height = AXIS_H + rows.max(1) as f64 * ROW_H + 8.0;
    let width = LABEL_W + CHART_W + RIGHT_PAD;
    let _ = writeln!(
        page,
        "<svg id=\"gantt\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         style=\"max-width:100%;height:auto\" role=\"img\" aria-label=\"Timeline of the run\">"
    );
    let _ = writeln!(
        page,
        "<defs><pattern id=\"hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#d0d0d0\"/>\
         <rect width=\"2\" height=\"5\" fill=\"#5a5a5a\"/></pattern>\
         <pattern id=\"queued\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(-45)\"><rect width=\"4\" height=\"4\" fill=\"#fff\"/>\
         <rect width=\"2\" height=\"4\" fill=\"#8a94a6\"/></pattern>\
         <clipPath id=\"labels\"><rect width=\"{}\" height=\"{height}\"/></clipPath></defs>",
        LABEL_W - 8.0
    );
    axis(&scale, height, page);
    if record.tasks.is_empty() {
        let _ = writeln!(
            page,
            "<text class=\"note\" x=\"{LABEL_W}\" y=\"{}\">No tasks in this run.</text>",
            AXIS_H + 15.0
        );
    }
    let mut y = AXIS_H;
    for section in sections {
        group_band(&section.label, y, page);
        y += ROW_H;
        for &i in &section.tasks {
            let task = &record.tasks[i];
            let on_path = critical.get(i).copied().unwrap_or(false);
            task_row(record, task, on_path, &scale, y, page);
            y += ROW_H;
        }
    }
    page.push_str("</svg>\n");
}

/// Tick labels on top and a faint vertical line under each.
fn axis(scale: &Scale, height: f64, page: &mut String) {
    let step = scale.step();
    let mut at = 0u64;
    while at <= scale.total {
        let x = scale.x(at);
        let _ = writeln!(
            page,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            AXIS_H - 6.0,
            height - 4.0,
            AXIS_H - 10.0,
            escape(&tick_label(at))
        );
        at = match at.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
}

/// A tick's time: `0`, whole seconds as `15s` or `1m 30s`, fractions as `0.05s`.
fn tick_label(ms: u64) -> String {
    match ms {
        0 => "0".to_owned(),
        _ if ms.is_multiple_of(1000) => format_duration(Duration::from_millis(ms)),
        _ => seconds(ms),
    }
}

/// The shaded row naming a group, across the whole chart.
fn group_band(label: &str, y: f64, page: &mut String) {
    let _ = writeln!(
        page,
        "<g class=\"group\"><rect class=\"band\" x=\"0\" y=\"{y}\" width=\"{}\" height=\"{ROW_H}\"/>\
         <text class=\"group-label\" x=\"6\" y=\"{:.1}\" clip-path=\"url(#labels)\">{}</text></g>",
        LABEL_W + CHART_W + RIGHT_PAD,
        y + ROW_H / 2.0 + 4.0,
        escape(label)
    );
}

/// One task: its label, its bar (with the details as tooltip), its attempts if it was
/// retried, and its duration (or why it never started) next to the bar.
fn task_row(
    record: &RunRecord,
    task: &TaskRecord,
    critical: bool,
    scale: &Scale,
    y: f64,
    page: &mut String,
) {
    let text_y = y + ROW_H / 2.0 + 4.0;
    label(task, text_y, page);
    let bar_y = y + (ROW_H - BAR_H) / 2.0;
    let span = span(task, record.duration_ms);
    let (x, w, ms) = match span {
        Some((start, end)) => {
            let x = scale.x(start);
            (x, (scale.x(end) - x).max(MIN_W), end - start)
        }
        None => (LABEL_W, UNSTARTED_W, 0),
    };
    let retried = task.attempts.len() > 1;
    let _ = writeln!(
        page,
        "<rect class=\"bar status-{}{}{}\" data-task=\"{}\" data-duration-ms=\"{ms}\" \
         x=\"{x:.1}\" y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\" rx=\"2\">\
         <title>{}</title></rect>",
        task.status.as_str(),
        if retried { " retried" } else { "" },
        if critical { " critical" } else { "" },
        escape(&task.id),
        escape(&tooltip(task, span, critical))
    );
    if retried && let Some((_, end)) = span {
        attempts(task, end, scale, bar_y, page);
    }
    queue_waits(task, scale, bar_y, page);
    let note = match span {
        Some(_) => seconds(ms),
        None => match &task.blocked_by {
            Some(by) => format!("blocked by {by}"),
            None => "not started".to_owned(),
        },
    };
    let right = x + w;
    let (note_x, anchor) = if right + 64.0 > LABEL_W + CHART_W + RIGHT_PAD {
        (x - 4.0, "end")
    } else {
        (right + 4.0, "start")
    };
    let _ = writeln!(
        page,
        "<text class=\"note\" x=\"{note_x:.1}\" y=\"{text_y:.1}\" text-anchor=\"{anchor}\">{}</text>",
        escape(&note)
    );
}

/// "id title" left of the row, cut to fit the label column (whole text as tooltip).
fn label(task: &TaskRecord, y: f64, page: &mut String) {
    let id_chars = task.id.chars().count();
    let title = task.title.as_deref().unwrap_or("");
    let room = LABEL_CHARS.saturating_sub(id_chars + 1);
    let (id, short_title) = if id_chars > LABEL_CHARS {
        (cut(&task.id, LABEL_CHARS), String::new())
    } else {
        (task.id.clone(), cut(title, room))
    };
    let full = match &task.title {
        Some(title) => format!("{} {}", task.id, title),
        None => task.id.clone(),
    };
    let _ = writeln!(
        page,
        "<text x=\"14\" y=\"{y:.1}\" clip-path=\"url(#labels)\"><title>{}</title>\
         <tspan font-weight=\"600\">{}</tspan> {}</text>",
        escape(&full),
        escape(&id),
        escape(&short_title)
    );
}

/// At most `max` characters of `text`, with an ellipsis if some were cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Each attempt of a retried task as a segment inside its bar, coloured by its outcome.
fn attempts(task: &TaskRecord, task_end: u64, scale: &Scale, bar_y: f64, page: &mut String) {
    let count = task.attempts.len();
    for (n, attempt) in task.attempts.iter().enumerate() {
        let (start, end) = attempt_span(attempt, task_end);
        let status = attempt.status.unwrap_or(task.status);
        let x = scale.x(start);
        let w = (scale.x(end) - x).max(MIN_W);
        let _ = writeln!(
            page,
            "<rect class=\"attempt status-{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" \
             height=\"{}\"><title>{}</title></rect>",
            status.as_str(),
            bar_y + 3.0,
            BAR_H - 6.0,
            escape(&format!(
                "{}: attempt {} of {count}, {}, {}",
                task.id,
                n + 1,
                status.as_str(),
                seconds(end - start)
            ))
        );
    }
}

/// The time each cluster attempt waited in Slurm's queue, hatched over the start of
/// its bar (the bar runs from the submission: the queue is part of what it cost).
fn queue_waits(task: &TaskRecord, scale: &Scale, bar_y: f64, page: &mut String) {
    for slurm in task.attempts.iter().filter_map(|a| a.slurm.as_ref()) {
        let x = scale.x(slurm.submitted_ms);
        let w = (scale.x(slurm.submitted_ms + slurm.queue_wait_ms()) - x).max(MIN_W);
        let _ = writeln!(
            page,
            "<rect class=\"queued\" data-slurm-job=\"{}\" data-queue-wait-ms=\"{}\" x=\"{x:.1}\" \
             y=\"{bar_y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\"><title>{}</title></rect>",
            escape(&slurm.job),
            slurm.queue_wait_ms(),
            escape(&format!("{}: {}", task.id, slurm_text(slurm)))
        );
    }
}

/// `Slurm job 12: submitted 0.10s, started 0.52s, ended 1.40s (queued 0.42s)`.
fn slurm_text(slurm: &SlurmJob) -> String {
    let started = slurm.started_ms.map_or_else(
        || "started unseen".to_owned(),
        |ms| format!("started {}", seconds(ms)),
    );
    let mut text = format!(
        "Slurm job {}: submitted {}, {started}, ended {} (queued {})",
        slurm.job,
        seconds(slurm.submitted_ms),
        seconds(slurm.ended_ms),
        seconds(slurm.queue_wait_ms())
    );
    if let Some(state) = &slurm.state {
        let _ = write!(text, ", {state}");
    }
    text
}

/// Everything about a task, one fact a line (unescaped; the caller escapes).
fn tooltip(task: &TaskRecord, span: Option<(u64, u64)>, critical: bool) -> String {
    let mut text = task.id.clone();
    if let Some(title) = &task.title {
        let _ = write!(text, ": {title}");
    }
    let _ = write!(text, "\nstatus: {}", task.status.as_str());
    match span {
        Some((start, end)) => {
            let _ = write!(
                text,
                "\nduration: {} (from {} to {})",
                seconds(end - start),
                seconds(start),
                seconds(end)
            );
        }
        None => text.push_str("\nnever started"),
    }
    if critical {
        text.push_str("\non the critical path");
    }
    if !task.attempts.is_empty() {
        let end = span.map_or(0, |(_, end)| end);
        let list: Vec<String> = task
            .attempts
            .iter()
            .map(|a| {
                let (start, stop) = attempt_span(a, end);
                let status = a.status.map_or("unfinished", TaskStatus::as_str);
                format!("{status} {}", seconds(stop - start))
            })
            .collect();
        let _ = write!(
            text,
            "\nattempts: {} ({})",
            task.attempts.len(),
            list.join(", ")
        );
    }
    for slurm in task.attempts.iter().filter_map(|a| a.slurm.as_ref()) {
        let _ = write!(text, "\n{}", slurm_text(slurm));
    }
    if task.flaky {
        text.push_str("\nflaky: it failed before with the same inputs");
    }
    if let Some(agent) = &task.agent {
        let _ = write!(text, "\nagent spent {}", agent.spent());
    }
    if task.cache_hit {
        text.push_str("\nrestored from the cache");
    }
    if !task.reasons.is_empty() {
        let _ = write!(text, "\nwhy: {}", task.reasons.join("; "));
    }
    if let Some(error) = &task.error {
        let _ = write!(text, "\nerror: {error}");
    }
    if let Some(by) = &task.blocked_by {
        let _ = write!(text, "\nblocked by: {by}");
    }
    for check in &task.checks {
        let _ = write!(text, "\ncheck {}", check_text(check));
    }
    text
}

/// A check as plain text: rule, verdict, metric, and the message if it failed.
fn check_text(check: &CheckOutcome) -> String {
    let verdict = match (check.passed, check.required) {
        (true, _) => "passed",
        (false, true) => "FAILED",
        (false, false) => "failed (optional)",
    };
    let mut text = format!("{} {verdict}", check.rule);
    if let Some(metric) = check.metric {
        let _ = write!(text, " ({metric})");
    }
    if !check.passed && !check.message.is_empty() {
        let _ = write!(text, ": {}", check.message);
    }
    text
}

/// The table under the chart: a heading row per group, then a row per task.
fn table(record: &RunRecord, sections: &[Section], critical: &[bool], page: &mut String) {
    if record.tasks.is_empty() {
        page.push_str("<p class=\"muted\">No tasks in this run.</p>\n");
        return;
    }
    page.push_str(
        "<table class=\"tasks\">\n<thead><tr><th>Task</th><th>Title</th><th>Group</th>\
         <th>Status</th><th>Duration</th><th>Attempts</th><th>Outputs</th><th>Checks</th>\
         <th>Why / blockers / error</th></tr></thead>\n<tbody>\n",
    );
    for section in sections {
        let _ = writeln!(
            page,
            "<tr class=\"group\"><th colspan=\"9\">{}</th></tr>",
            escape(&section.label)
        );
        for &i in &section.tasks {
            let on_path = critical.get(i).copied().unwrap_or(false);
            table_row(record, &record.tasks[i], on_path, page);
        }
    }
    page.push_str("</tbody>\n</table>\n");
}

fn table_row(record: &RunRecord, task: &TaskRecord, critical: bool, page: &mut String) {
    let status = task.status.as_str();
    let duration = match span(task, record.duration_ms) {
        Some((start, end)) => seconds(end - start),
        None => "—".to_owned(),
    };
    let _ = writeln!(
        page,
        "<tr class=\"task\" data-task=\"{}\"><td><b>{}</b></td><td>{}</td><td>{}</td>\
         <td class=\"status\"><i class=\"swatch status-{status}\"></i> {}{}</td><td class=\"num\">{duration}</td>\
         <td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(&task.id),
        escape(&task.id),
        escape(task.title.as_deref().unwrap_or("")),
        escape(task.group.as_deref().unwrap_or("")),
        status.replace('_', " "),
        if critical {
            "<span class=\"crit\">critical</span>"
        } else {
            ""
        },
        task.attempts.len(),
        outputs_cell(task),
        checks_cell(task),
        notes_cell(task)
    );
}

fn outputs_cell(task: &TaskRecord) -> String {
    let mut cell = String::new();
    for output in &task.outputs {
        let _ = write!(cell, "<code>{}</code><br>", escape(output));
    }
    cell
}

fn checks_cell(task: &TaskRecord) -> String {
    let mut cell = String::from("<ul class=\"plain\">");
    for check in &task.checks {
        let (mark, class) = match (check.passed, check.required) {
            (true, _) => ("✓", "pass"),
            (false, true) => ("✗", "fail"),
            (false, false) => ("!", "soft"),
        };
        let _ = write!(
            cell,
            "<li class=\"{class}\">{mark} {}</li>",
            escape(&check_text(check))
        );
    }
    cell.push_str("</ul>");
    cell
}

/// Why it ran, what blocked it, how it failed.
fn notes_cell(task: &TaskRecord) -> String {
    let mut cell = String::new();
    if let Some(by) = &task.blocked_by {
        let _ = write!(cell, "<div>blocked by <b>{}</b></div>", escape(by));
    }
    if task.flaky {
        cell.push_str("<div class=\"soft\">flaky: it failed before with the same inputs</div>");
    }
    if let Some(agent) = &task.agent {
        let _ = write!(
            cell,
            "<div class=\"agent\">agent spent {}</div>",
            escape(&agent.spent())
        );
    }
    if let Some(error) = &task.error {
        let _ = write!(cell, "<div class=\"fail\">{}</div>", escape(error));
    }
    for slurm in task.attempts.iter().filter_map(|a| a.slurm.as_ref()) {
        let _ = write!(
            cell,
            "<div class=\"muted\">{}</div>",
            escape(&slurm_text(slurm))
        );
    }
    if !task.reasons.is_empty() {
        let _ = write!(
            cell,
            "<div class=\"muted\">{}{}</div>",
            if task.cache_hit { "restored: " } else { "" },
            escape(&task.reasons.join("; "))
        );
    }
    cell
}

mod style;
#[cfg(test)]
mod tests;
