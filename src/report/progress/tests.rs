//! The reporter's lines, written into a buffer with a clock the tests move by hand.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anstream::ColorChoice;

use super::{Explain, Reporter, Sink, Style, TaskEnd};
use crate::explain::RunStatus;
use crate::report::Counts;

/// A reporter writing into a buffer, its clock, and the buffer.
struct Harness {
    reporter: Reporter,
    start: Instant,
    now: Arc<Mutex<Instant>>,
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl Harness {
    fn new(style: Style, explain: Explain, choice: ColorChoice) -> Harness {
        let start = Instant::now();
        let now = Arc::new(Mutex::new(start));
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let clock = {
            let now = Arc::clone(&now);
            Box::new(move || *now.lock().unwrap())
        };
        let sink = Sink::Buffer(Arc::clone(&buffer), choice);
        Harness {
            reporter: Reporter::with(style, explain, 3, sink, clock),
            start,
            now,
            buffer,
        }
    }

    fn plain() -> Harness {
        Harness::new(Style::Plain, Explain::Off, ColorChoice::Never)
    }

    /// Move the clock to `secs` after the start and let the build loop tick.
    fn tick_at(&mut self, secs: u64) {
        *self.now.lock().unwrap() = self.start + Duration::from_secs(secs);
        self.reporter.tick();
    }

    /// What was written since the last call.
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.buffer.lock().unwrap());
        String::from_utf8(bytes).unwrap()
    }

    fn finish(&mut self, task: &str, status: RunStatus) {
        self.reporter
            .finished(&TaskEnd::new(task, None, status, Duration::from_secs(1), 1));
    }
}

#[test]
fn a_long_task_is_announced_after_ten_seconds_and_listed_every_minute() {
    let mut h = Harness::plain();
    h.reporter.started("T4", 1, &[]);
    h.tick_at(9);
    assert_eq!(h.take(), "");
    h.tick_at(10);
    assert_eq!(h.take(), "[T4] still running (10s)\n");
    h.tick_at(25);
    h.reporter.started("T9", 1, &[]);
    h.tick_at(34);
    assert_eq!(h.take(), "");
    h.tick_at(35);
    assert_eq!(h.take(), "[T9] still running (10s)\n");
    h.tick_at(70);
    assert_eq!(h.take(), "still running: T4 (1m 10s), T9 (45s)\n");
    h.finish("T9", RunStatus::Ok);
    assert_eq!(h.take(), "[1/3] ok T9 (1.00s)\n");
    h.tick_at(129);
    assert_eq!(h.take(), "");
    h.tick_at(130);
    assert_eq!(h.take(), "still running: T4 (2m 10s)\n");
}

#[test]
fn short_tasks_print_no_still_running_line() {
    let mut h = Harness::plain();
    h.reporter.started("a", 1, &[]);
    h.tick_at(9);
    h.finish("a", RunStatus::Ok);
    h.tick_at(61);
    h.tick_at(200);
    assert_eq!(h.take(), "[1/3] ok a (1.00s)\n");
}

#[test]
fn only_the_plain_style_has_still_running_lines() {
    for style in [Style::Json, Style::Quiet] {
        let mut h = Harness::new(style, Explain::Off, ColorChoice::Never);
        h.reporter.started("T4", 1, &[]);
        h.take();
        h.tick_at(10);
        h.tick_at(60);
        assert_eq!(h.take(), "", "{style:?}");
    }
}

#[test]
fn explain_lists_fresh_tasks_only_when_asked_for_all() {
    let mut h = Harness::new(Style::Plain, Explain::Changed, ColorChoice::Never);
    h.reporter.fresh("a");
    assert_eq!(h.take(), "");
    let mut h = Harness::new(Style::Plain, Explain::All, ColorChoice::Never);
    h.reporter.fresh("a");
    assert_eq!(h.take(), "a is fresh\n");
}

#[test]
fn failures_blocked_lines_and_the_summary_share_one_stream() {
    let mut h = Harness::plain();
    h.reporter.started("a", 1, &[]);
    h.finish("a", RunStatus::Failed);
    h.reporter.blocked("b", "a");
    h.reporter.warn("careful");
    h.reporter
        .build_finished(Counts::default(), Duration::ZERO, false);
    assert_eq!(
        h.take(),
        "[1/3] FAILED a (1.00s)\n[2/3] blocked b (by a)\nwarning: careful\n\
         0 ran, 0 fresh, 0 restored, 0 failed, 0 blocked in 0.00s\n"
    );
}

#[test]
fn colours_follow_the_stream() {
    let mut h = Harness::new(Style::Plain, Explain::Off, ColorChoice::Always);
    h.finish("a", RunStatus::Failed);
    let coloured = h.take();
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    assert!(coloured.contains("FAILED"), "{coloured:?}");
    let mut h = Harness::plain();
    h.finish("a", RunStatus::Failed);
    assert!(!h.take().contains('\u{1b}'));
}
