//! An executor without processes, for the coordinator's unit tests (ninja's
//! `FakeCommandRunner`). A script says how each job ends; a job ends at once, or is
//! held until the test releases it (or it is cancelled), so a test decides when jobs
//! end and can look at what runs at once without any sleep. A job with a timeout that
//! its script outlasts ends as timed out, as the local executor's supervision would end
//! it. Every start and end is logged in order, and the jobs kept, so a test can check
//! what ran, in which order, how many at once, and with which environment.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::exec::{Executor, Exit, Finished, Job, JobId, Report, Update};

/// How long a test waits for something the coordinator must do before calling it a
/// failure (never reached when the code is right).
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// How a fake job goes.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) exit: Exit,
    /// How long it says it ran; a job whose timeout is shorter times out.
    pub(crate) takes: Duration,
    /// Held until [`FakeExecutor::release`] (or cancelled) before it ends.
    pub(crate) held: bool,
    /// Files (relative to the job's directory) and contents it writes when it succeeds.
    pub(crate) writes: Vec<(String, String)>,
}

impl Script {
    /// Success at once, writing `writes`.
    pub(crate) fn ok(writes: &[(&str, &str)]) -> Script {
        Script {
            exit: Exit::Success,
            takes: Duration::from_millis(1),
            held: false,
            writes: writes
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    /// Exit code `code` at once.
    pub(crate) fn fails(code: i32) -> Script {
        Script {
            exit: Exit::Failed {
                code: Some(code),
                signal: None,
            },
            ..Script::ok(&[])
        }
    }

    /// This one waits for the test to release it.
    pub(crate) fn held(self) -> Script {
        Script { held: true, ..self }
    }

    /// This one says it ran for `takes`.
    pub(crate) fn taking(self, takes: Duration) -> Script {
        Script { takes, ..self }
    }
}

/// One entry of the fake's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Logged {
    Start(String),
    End(String, Exit),
    /// A job run in place (a check, a `{command}`), by its label.
    Ran(String),
}

type ScriptFn = Box<dyn Fn(&Job) -> Script + Send + Sync>;

/// What the fake knows, behind one lock.
#[derive(Default)]
struct Book {
    log: Vec<Logged>,
    /// Every submitted job, in order.
    jobs: Vec<Job>,
    /// Submitted jobs not yet ended: id and label.
    running: Vec<(u64, String)>,
    released: HashSet<u64>,
    cancelled: HashSet<u64>,
    all_cancelled: bool,
}

/// The fake executor.
pub(crate) struct FakeExecutor {
    script: ScriptFn,
    book: Arc<(Mutex<Book>, Condvar)>,
}

impl FakeExecutor {
    pub(crate) fn new(script: impl Fn(&Job) -> Script + Send + Sync + 'static) -> FakeExecutor {
        FakeExecutor {
            script: Box::new(script),
            book: Arc::default(),
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything logged so far.
    pub(crate) fn log(&self) -> Vec<Logged> {
        self.book().log.clone()
    }

    /// Every job submitted so far, in order.
    pub(crate) fn jobs(&self) -> Vec<Job> {
        self.book().jobs.clone()
    }

    /// The labels of the jobs that started, in order.
    pub(crate) fn started(&self) -> Vec<String> {
        self.book().jobs.iter().map(|j| j.label.clone()).collect()
    }

    /// The labels of the jobs running now, oldest first.
    pub(crate) fn running(&self) -> Vec<String> {
        self.book().running.iter().map(|(_, l)| l.clone()).collect()
    }

    /// Wait until `ready` holds for the running jobs' labels; `false` if it did not
    /// within [`PATIENCE`].
    pub(crate) fn wait_for(&self, ready: impl Fn(&[String]) -> bool) -> bool {
        let (lock, changed) = &*self.book;
        let book = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (book, waited) = changed
            .wait_timeout_while(book, PATIENCE, |book| {
                let labels: Vec<String> = book.running.iter().map(|(_, l)| l.clone()).collect();
                !ready(&labels)
            })
            .unwrap_or_else(PoisonError::into_inner);
        drop(book);
        !waited.timed_out()
    }

    /// Let the running job `label` end.
    pub(crate) fn release(&self, label: &str) {
        let mut book = self.book();
        let ids: Vec<u64> = book
            .running
            .iter()
            .filter(|(_, l)| l == label)
            .map(|(id, _)| *id)
            .collect();
        book.released.extend(ids);
        self.book.1.notify_all();
    }

    /// The most jobs running at once among those whose label passes `counts`.
    pub(crate) fn most_at_once(&self, counts: impl Fn(&str) -> bool) -> usize {
        let mut now = 0usize;
        let mut most = 0;
        for entry in self.log() {
            match entry {
                Logged::Start(label) if counts(&label) => {
                    now += 1;
                    most = most.max(now);
                }
                Logged::End(label, _) if counts(&label) => now = now.saturating_sub(1),
                _ => {}
            }
        }
        most
    }
}

impl Executor for FakeExecutor {
    fn submit(&self, job: Job, report: Report) -> JobId {
        let script = (self.script)(&job);
        let id = {
            let mut book = self.book();
            let id = book.jobs.len() as u64;
            book.jobs.push(job.clone());
            book.log.push(Logged::Start(job.label.clone()));
            book.running.push((id, job.label.clone()));
            self.book.1.notify_all();
            id
        };
        let book = Arc::clone(&self.book);
        std::thread::spawn(move || {
            report(Update::Started);
            let timed_out = job.timeout.is_some_and(|t| script.takes > t);
            let (lock, changed) = &*book;
            let mut held = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if script.held && !timed_out {
                held = changed
                    .wait_while(held, |b| {
                        !b.released.contains(&id) && !b.cancelled.contains(&id) && !b.all_cancelled
                    })
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let stopped = held.cancelled.contains(&id) || held.all_cancelled;
            let (exit, duration) = match job.timeout {
                _ if stopped => (Exit::Cancelled, script.takes),
                Some(timeout) if timed_out => (Exit::TimedOut, timeout),
                _ => (script.exit.clone(), script.takes),
            };
            if exit == Exit::Success {
                for (path, text) in &script.writes {
                    let full: PathBuf = job.cwd.join(path);
                    if let Some(parent) = full.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    let _ = std::fs::write(full, text);
                }
            }
            // Ended in the log before the coordinator hears of it (what ran at once is
            // read from the log), but still running until it has: a test that sees a
            // job gone knows its report is on its way ahead of any job released later.
            held.log.push(Logged::End(job.label.clone(), exit.clone()));
            drop(held);
            report(Update::Finished(Finished {
                exit,
                duration,
                leftovers: 0,
                stdout: Vec::new(),
                cluster: None,
            }));
            let mut book = lock.lock().unwrap_or_else(PoisonError::into_inner);
            book.running.retain(|(j, _)| *j != id);
            changed.notify_all();
        });
        JobId(id)
    }

    fn cancel(&self, id: JobId) {
        self.book().cancelled.insert(id.0);
        self.book.1.notify_all();
    }

    fn cancel_all(&self) {
        self.book().all_cancelled = true;
        self.book.1.notify_all();
    }

    fn run(&self, job: Job) -> Finished {
        let script = (self.script)(&job);
        self.book().log.push(Logged::Ran(job.label.clone()));
        Finished {
            exit: script.exit,
            duration: script.takes,
            leftovers: 0,
            stdout: Vec::new(),
            cluster: None,
        }
    }
}
