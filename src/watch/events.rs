//! The file events `watch` waits on: an inotify watch (through `notify`) on the project
//! root and every directory under it but conduct's own (`.git`, the cache, the
//! worktrees), gathered into bursts. A burst is every event until none has come for
//! [`QUIET`] (at most [`LONGEST`]), so a save of fifty files, or an editor's write to a
//! temporary file and rename over the original, is one burst and one round.
//!
//! notify's debouncer crates hand an event over once *that event* is old enough
//! (`notify-debouncer-full`'s `debounced_events` expires each path's queue on its own
//! time), so a burst of saves spread over a few ticks arrives in several batches, which
//! would be several rounds; the whole-burst quiet period is the few lines below.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher as _};

/// How long a burst must have been quiet to be over.
pub(crate) const QUIET: Duration = Duration::from_millis(100);
/// The longest a burst is gathered (a file written without pause must not hold
/// rounds off forever).
const LONGEST: Duration = Duration::from_secs(1);
/// How often a wait looks at the Ctrl-C flag.
const TICK: Duration = Duration::from_millis(100);

/// What a wait ended with.
#[derive(Debug)]
pub(crate) enum Burst {
    /// Project-relative paths that were touched (deduplicated, sorted); `rescan` when
    /// the kernel dropped events and anything may have changed; `at`: when the burst
    /// was over (what a round's latency is counted from).
    Paths {
        paths: Vec<String>,
        rescan: bool,
        at: SystemTime,
    },
    /// Ctrl-C.
    Interrupted,
}

/// The watch on one project.
pub(crate) struct Events {
    watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    /// The project root as given, and as the kernel names it.
    root: PathBuf,
    canonical: PathBuf,
    /// Project-relative directories never watched (`.git`, cache, worktrees).
    skip: Vec<String>,
}

impl Events {
    /// Watch `root` but the directories `skip` names (project-relative).
    pub(crate) fn start(root: &Path, skip: Vec<String>) -> notify::Result<Events> {
        let (sender, events) = mpsc::channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = sender.send(event);
        })?;
        let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut events = Events {
            watcher,
            events,
            root: root.to_path_buf(),
            canonical,
            skip,
        };
        events.watch_tree("")?;
        Ok(events)
    }

    /// Watch the directory `rel`: all of it, or (when a skipped directory is inside)
    /// itself and each of its subdirectories the same way.
    fn watch_tree(&mut self, rel: &str) -> notify::Result<()> {
        let dir = if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        };
        let holds_a_skipped = self
            .skip
            .iter()
            .any(|s| rel.is_empty() || s.starts_with(&format!("{rel}/")));
        if !holds_a_skipped {
            return self.watcher.watch(&dir, RecursiveMode::Recursive);
        }
        self.watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if is_dir && !self.skipped(&child) {
                // A directory that vanished meanwhile is no error.
                let _ = self.watch_tree(&child);
            }
        }
        Ok(())
    }

    /// Whether `rel` is a skipped directory or inside one.
    fn skipped(&self, rel: &str) -> bool {
        self.skip
            .iter()
            .any(|s| rel == s || rel.starts_with(&format!("{s}/")))
    }

    /// The next burst. With `block`, wait for its first event (looking at `interrupt`
    /// meanwhile); else only gather what has come or comes within [`QUIET`].
    pub(crate) fn next(&mut self, block: bool, interrupt: &AtomicBool) -> Burst {
        let mut paths = Vec::new();
        let mut rescan = false;
        if block {
            loop {
                if interrupt.load(Ordering::SeqCst) {
                    return Burst::Interrupted;
                }
                match self.events.recv_timeout(TICK) {
                    Ok(event) => {
                        self.take(event, &mut paths, &mut rescan);
                        if !paths.is_empty() || rescan {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Burst::Interrupted,
                }
            }
        }
        let started = Instant::now();
        while started.elapsed() < LONGEST {
            match self.events.recv_timeout(QUIET) {
                Ok(event) => self.take(event, &mut paths, &mut rescan),
                Err(_) => break,
            }
        }
        if interrupt.load(Ordering::SeqCst) {
            return Burst::Interrupted;
        }
        let at = SystemTime::now();
        paths.sort();
        paths.dedup();
        Burst::Paths { paths, rescan, at }
    }

    /// Add an event's paths (project-relative, outside the skipped directories); a new
    /// directory is watched at once.
    fn take(
        &mut self,
        event: notify::Result<notify::Event>,
        paths: &mut Vec<String>,
        rescan: &mut bool,
    ) {
        let Ok(event) = event else {
            *rescan = true;
            return;
        };
        if event.need_rescan() {
            *rescan = true;
        }
        // Reading a file (conduct reads tasks.toml and the specs each round) is no change.
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        let created_dir = matches!(
            event.kind,
            EventKind::Create(notify::event::CreateKind::Folder)
        );
        for path in &event.paths {
            let Some(rel) = self.relative(path) else {
                continue;
            };
            if rel.is_empty() || self.skipped(&rel) {
                continue;
            }
            if created_dir {
                let _ = self.watch_tree(&rel);
            }
            paths.push(rel);
        }
    }

    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path
            .strip_prefix(&self.root)
            .or_else(|_| path.strip_prefix(&self.canonical))
            .ok()?;
        Some(rel.to_str()?.to_owned())
    }
}
