//! What `watch` prints between builds (each build prints as `conduct build` does): a
//! round's start with the files that started it, that it is waiting, and a config that
//! does not load. With `--json` each is an event line in the build's schema.

use std::io::{IsTerminal, Write};

use serde_json::json;

use crate::error::{Error, JsonShape};
use crate::report::progress::Style;

/// The printer of one watch.
pub(crate) struct Say {
    json: bool,
    quiet: bool,
    clear: bool,
    /// Where the build's own lines go: stderr on a terminal, else stdout.
    to_stderr: bool,
}

impl Say {
    pub(crate) fn new(style: Style, clear: bool) -> Say {
        let to_stderr = style != Style::Json && std::io::stderr().is_terminal();
        Say {
            json: style == Style::Json,
            quiet: style == Style::Quiet,
            clear: clear && to_stderr,
            to_stderr,
        }
    }

    /// Round `round` starts because of `changed` (empty: it was asked for again), in
    /// a burst of events that was over `at`.
    pub(crate) fn round(&self, round: u64, changed: &[String], at: std::time::SystemTime) {
        if self.json {
            let burst_us = at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            self.line(&crate::json::json_line(&json!({
                "event": "watch_round",
                "round": round,
                "changed": changed,
                "burst_ended_us": burst_us,
            })));
            return;
        }
        if self.clear {
            // Clear the screen and go home, as `watchexec -c` does.
            self.line("\x1b[2J\x1b[H");
        }
        if !self.quiet {
            let why = match changed {
                [] => "tasks changed while they ran".to_owned(),
                [one] => format!("{one} changed"),
                [one, rest @ ..] => format!("{one} and {} more changed", rest.len()),
            };
            self.line(&format!("\n[watch] round {round}: {why}\n"));
        }
    }

    /// Nothing to do until a file changes.
    pub(crate) fn watching(&self, tasks: usize) {
        if self.json {
            self.line(&crate::json::json_line(
                &json!({"event": "watching", "tasks": tasks}),
            ));
        } else if !self.quiet {
            self.line(&format!(
                "[watch] watching what {tasks} task{} read; Ctrl-C ends\n",
                if tasks == 1 { "" } else { "s" }
            ));
        }
    }

    /// The config was changed and does not load (the last good one stays), or a round
    /// could not start.
    pub(crate) fn error(&self, error: &Error) {
        if self.json {
            self.line(&crate::error::render_json(error, JsonShape::Event));
            return;
        }
        let mut stderr = std::io::stderr().lock();
        let _ = crate::error::render(error, &mut stderr);
        let _ = stderr.flush();
    }

    fn line(&self, text: &str) {
        if self.to_stderr {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(text.as_bytes());
            let _ = stderr.flush();
        } else {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
    }
}
