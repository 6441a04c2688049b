//! On a terminal, a line under the progress bar for each running task: its id and the
//! last line its log has so far (what an agent or a long test is doing now), as
//! claude-squad and the agent boards show it. The logs are looked at no more than
//! every [`EVERY`], and only their last [`TAIL`] bytes are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::exec::output::read_tail;

/// How often the running tasks' logs are read.
pub(super) const EVERY: Duration = Duration::from_millis(250);
/// How much of the end of a log is read for its last line.
const TAIL: u64 = 4096;
/// The most characters of a log line shown.
const WIDTH: usize = 120;

/// The running tasks' lines under the bar.
pub(super) struct Live {
    multi: MultiProgress,
    logs: PathBuf,
    lines: BTreeMap<String, ProgressBar>,
    last_look: Option<Instant>,
}

impl Live {
    /// Lines for the tasks of `multi`'s build, whose logs are in `logs`.
    pub(super) fn new(multi: MultiProgress, logs: PathBuf) -> Live {
        Live {
            multi,
            logs,
            lines: BTreeMap::new(),
            last_look: None,
        }
    }

    pub(super) fn started(&mut self, task: &str) {
        let line = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("  {prefix:.bold} {wide_msg:.dim}") {
            line.set_style(style);
        }
        line.set_prefix(task.to_owned());
        self.lines.insert(task.to_owned(), line);
    }

    pub(super) fn finished(&mut self, task: &str) {
        if let Some(line) = self.lines.remove(task) {
            line.finish_and_clear();
            self.multi.remove(&line);
        }
    }

    /// Read the running tasks' last log lines, if [`EVERY`] has passed.
    pub(super) fn tick(&mut self, now: Instant) {
        if self
            .last_look
            .is_some_and(|last| now.duration_since(last) < EVERY)
        {
            return;
        }
        self.last_look = Some(now);
        for (task, line) in &self.lines {
            if let Some(last) = last_line(&self.logs.join(format!("{task}.log"))) {
                line.set_message(last);
            }
        }
    }

    /// Every line goes (the build is over).
    pub(super) fn clear(&mut self) {
        for (_, line) in std::mem::take(&mut self.lines) {
            line.finish_and_clear();
        }
    }
}

/// The last non-blank line of the log at `path`, as plain text (escape sequences and
/// control characters out, at most [`WIDTH`] characters); `None` if there is none yet.
/// Read as every log tail is (`read_tail`: its end only, never through a symlink).
pub(super) fn last_line(path: &Path) -> Option<String> {
    let tail = read_tail(path, 8, TAIL);
    // A progress line rewritten with `\r` shows its latest state.
    let line = tail
        .text
        .split(['\n', '\r'])
        .map(|line| anstream::adapter::strip_str(line).to_string())
        .rfind(|line| !line.trim().is_empty())?;
    let clean: String = line
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(WIDTH)
        .collect();
    Some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_is_the_last_non_blank_one_without_escapes_or_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("t.log");
        assert_eq!(last_line(&log), None, "no log yet");
        std::fs::write(&log, "").unwrap();
        assert_eq!(last_line(&log), None, "an empty log");
        std::fs::write(&log, "one\n\x1b[32mtwo\x1b[0m\n\n  \n").unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("two"));
        std::fs::write(&log, "step 1/3\rstep 2/3\rstep 3/3\x07").unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("step 3/3"));
        let long = format!("{}\n{}\n", "x".repeat(10_000), "y".repeat(500));
        std::fs::write(&log, long).unwrap();
        assert_eq!(last_line(&log), Some("y".repeat(WIDTH)));
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&log, &link).unwrap();
        assert_eq!(last_line(&link), None, "never read through a symlink");
    }
}
