//! "Still running" lines for CI logs (issue 15), in the plain style only: a task that
//! has run for [`LONG`] gets a line saying so, and every [`BEAT`] one line lists the
//! running tasks with their elapsed time (Bazel's "still running" lines), so a log that
//! waits on a long task still shows that the build is alive.
//!
//! Pure bookkeeping: the caller passes the time. Nothing polls for it: the build's event
//! loop already wakes up every tick and asks [`Heartbeat::due`]; tests drive it with
//! made-up instants and never sleep.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A task running this long gets a line of its own.
pub(crate) const LONG: Duration = Duration::from_secs(10);
/// How often the list of running tasks is printed.
pub(crate) const BEAT: Duration = Duration::from_secs(60);

/// One running task.
#[derive(Debug)]
struct Running {
    since: Instant,
    /// Its `still running` line was printed.
    announced: bool,
}

/// The running tasks and when the next list is due.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    running: BTreeMap<String, Running>,
    next_beat: Instant,
}

impl Heartbeat {
    /// A build that starts at `now`: its first list is due a [`BEAT`] later.
    pub(crate) fn new(now: Instant) -> Heartbeat {
        Heartbeat {
            running: BTreeMap::new(),
            next_beat: later(now, BEAT),
        }
    }

    /// `task` (an attempt of it) started at `now`.
    pub(crate) fn started(&mut self, task: &str, now: Instant) {
        self.running.insert(
            task.to_owned(),
            Running {
                since: now,
                announced: false,
            },
        );
    }

    /// `task`'s attempt ended.
    pub(crate) fn finished(&mut self, task: &str) {
        self.running.remove(task);
    }

    /// The lines due at `now`: `[T4] still running (10s)` for each task that passed
    /// [`LONG`] since the last call, then, every [`BEAT`], `still running: T4 (1m 10s),
    /// T9 (45s)` (longest first) if anything runs.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        for (task, running) in &mut self.running {
            let elapsed = now.saturating_duration_since(running.since);
            if !running.announced && elapsed >= LONG {
                running.announced = true;
                lines.push(format!(
                    "[{task}] still running ({})",
                    format_elapsed(elapsed)
                ));
            }
        }
        if now >= self.next_beat {
            self.next_beat = later(now, BEAT);
            let mut running: Vec<(&String, Duration)> = self
                .running
                .iter()
                .map(|(task, r)| (task, now.saturating_duration_since(r.since)))
                .collect();
            if !running.is_empty() {
                running.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                let list: Vec<String> = running
                    .iter()
                    .map(|(task, elapsed)| format!("{task} ({})", format_elapsed(*elapsed)))
                    .collect();
                lines.push(format!("still running: {}", list.join(", ")));
            }
        }
        lines
    }
}

/// `now + by`, or `now` if that is past what an `Instant` holds.
fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}

/// Whole seconds as `45s`, `1m 10s`, `2h 5m`.
pub(crate) fn format_elapsed(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_millis(secs * 1000)
    }

    #[test]
    fn a_short_build_says_nothing() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(start);
        beat.started("a", start);
        assert!(beat.due(at(start, 9)).is_empty());
        beat.finished("a");
        assert!(beat.due(at(start, 30)).is_empty());
    }

    #[test]
    fn a_long_task_gets_one_line_after_ten_seconds() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(start);
        beat.started("T4", at(start, 2));
        assert!(beat.due(at(start, 11)).is_empty());
        assert_eq!(beat.due(at(start, 12)), ["[T4] still running (10s)"]);
        assert!(beat.due(at(start, 20)).is_empty());
        // A retry is a new attempt: it is announced again.
        beat.started("T4", at(start, 21));
        assert_eq!(beat.due(at(start, 31)), ["[T4] still running (10s)"]);
    }

    #[test]
    fn every_minute_the_running_tasks_are_listed_longest_first() {
        let start = Instant::now();
        let mut beat = Heartbeat::new(start);
        beat.started("T9", at(start, 25));
        beat.started("T4", at(start, 0));
        beat.due(at(start, 40));
        assert_eq!(
            beat.due(at(start, 70)),
            ["still running: T4 (1m 10s), T9 (45s)"]
        );
        assert!(beat.due(at(start, 129)).is_empty());
        beat.finished("T9");
        assert_eq!(beat.due(at(start, 130)), ["still running: T4 (2m 10s)"]);
        // Nothing running: no list.
        beat.finished("T4");
        assert!(beat.due(at(start, 200)).is_empty());
    }

    #[test]
    fn elapsed_times_read_like_a_clock() {
        let s = Duration::from_secs;
        assert_eq!(format_elapsed(Duration::from_millis(10_900)), "10s");
        assert_eq!(format_elapsed(s(59)), "59s");
        assert_eq!(format_elapsed(s(60)), "1m 0s");
        assert_eq!(format_elapsed(s(3599)), "59m 59s");
        assert_eq!(format_elapsed(s(7500)), "2h 5m");
    }
}
