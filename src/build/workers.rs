//! The work of a build off the coordinator's thread, and the events it sends back:
//! a task's file work and job (handed to the executor), the hashing and storing of its
//! outputs when the job ends, and its checks. Nothing here touches the session; the
//! coordinator records what the events say.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::build::checks::{Checker, Evaluation};
use crate::build::job::Prep;
use crate::cache::{self, BlobStore, Collected};
use crate::confined::Root;
use crate::exec::{Executor, Exit, Finished, Job, Update};
use crate::rules::check::Evaluated;
use crate::spec::{Output, TaskIdx};

/// What the coordinator hears from the workers and the executor.
pub(super) enum Event {
    /// A check of a task's outputs reached its verdict.
    Checked {
        task: TaskIdx,
        /// Its place in the task's planned checks.
        index: usize,
        evaluated: Evaluated,
    },
    /// The job ended; after a success, its outputs were also hashed and stored in the
    /// CAS on a worker, so the coordinator only records.
    Finished {
        task: TaskIdx,
        attempt: u32,
        finished: Finished,
        collected: Option<Collected>,
    },
}

/// A task's attempt, ready to go.
pub(super) struct Start {
    pub(super) task: TaskIdx,
    pub(super) attempt: u32,
    pub(super) prep: Prep,
    pub(super) job: Job,
    /// Its declared outputs, collected after a success...
    pub(super) outputs: Vec<Output>,
    /// ... where the job made them (the root, or its worktree) ...
    pub(super) made_in: Root,
    /// ... into this store.
    pub(super) blobs: BlobStore,
}

/// The executor, the file-work pool, the checker thread, and the events they send.
pub(super) struct Workers {
    executor: Arc<dyn Executor>,
    /// File work (prepare, collect) and `run` checks.
    pool: Pool,
    /// Checks that only read files.
    checker: Checker,
    events: Sender<Event>,
    inbox: Receiver<Event>,
}

impl Workers {
    /// `jobs` threads for file work and `run` checks; when jobs run on a cluster (`-j`
    /// counts jobs in its queue, 100 by default), no more than this machine's cores.
    pub(super) fn new(executor: Arc<dyn Executor>, jobs: usize) -> Workers {
        let threads = if executor.on_cluster() {
            jobs.min(crate::cores::cores())
        } else {
            jobs
        };
        let (events, inbox) = mpsc::channel();
        Workers {
            executor,
            pool: Pool {
                threads: threads.max(1),
                queue: Arc::new(OnceLock::new()),
            },
            checker: Checker::new(),
            events,
            inbox,
        }
    }

    /// The next event, waiting at most `tick`; `Err(())` once no event can come.
    pub(super) fn next(&self, tick: Duration) -> Result<Option<Event>, ()> {
        match self.inbox.recv_timeout(tick) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(()),
        }
    }

    /// Ctrl-C: stop every job.
    pub(super) fn cancel_all(&self) {
        self.executor.cancel_all();
    }

    /// Whether jobs run on a cluster (see `Executor::on_cluster`).
    pub(super) fn on_cluster(&self) -> bool {
        self.executor.on_cluster()
    }

    /// Do an attempt's file work, then submit its job; when it ends, collect its
    /// outputs (after a success) and send [`Event::Finished`].
    pub(super) fn start(&self, start: Start) {
        let Start {
            task,
            attempt,
            prep,
            job,
            outputs,
            made_in,
            blobs,
        } = start;
        let executor = Arc::clone(&self.executor);
        let events = self.events.clone();
        let pool = self.pool.clone();
        self.pool.spawn(move || {
            if let Err(error) = prep.apply(&*executor) {
                let finished =
                    Finished::not_started(format!("could not prepare the task: {error}"));
                let _ = events.send(Event::Finished {
                    task,
                    attempt,
                    finished,
                    collected: None,
                });
                return;
            }
            let events = Mutex::new(events);
            executor.submit(
                job,
                Box::new(move |update| {
                    let Update::Finished(finished) = update else {
                        return;
                    };
                    let events = events
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    if finished.exit != Exit::Success {
                        // Nothing to collect: sent at once, so failures arrive in the
                        // order they happened (a retry under --fail-fast depends on it).
                        let _ = events.send(Event::Finished {
                            task,
                            attempt,
                            finished,
                            collected: None,
                        });
                        return;
                    }
                    let (outputs, made_in, blobs) =
                        (outputs.clone(), made_in.clone(), blobs.clone());
                    // Hashing and storing the outputs is the submitting host's work.
                    pool.spawn(move || {
                        let collected = Some(cache::collect(&made_in, &outputs, &blobs));
                        let _ = events.send(Event::Finished {
                            task,
                            attempt,
                            finished,
                            collected,
                        });
                    });
                }),
            );
        });
    }

    /// Evaluate check `index` of `task`, then send [`Event::Checked`]. A `run` rule
    /// starts a process: it takes a place among the workers. The others only read
    /// files, on the checker thread, so they never wait behind running tasks (which
    /// would hold up the checked task's dependents).
    pub(super) fn check(&mut self, task: TaskIdx, index: usize, evaluation: Evaluation) {
        let events = self.events.clone();
        let executor = Arc::clone(&self.executor);
        let runs_a_process = evaluation.runs_a_process();
        let work = move || {
            let evaluated = evaluation.evaluate(&*executor);
            let _ = events.send(Event::Checked {
                task,
                index,
                evaluated,
            });
        };
        if runs_a_process {
            self.pool.spawn(work);
        } else {
            self.checker.run(Box::new(work));
        }
    }
}

/// One piece of work for the pool.
type Work = Box<dyn FnOnce() + Send>;

/// The worker threads, started when the first task or `run` check needs them: a build
/// that finds everything fresh starts no thread at all (two thread starts were a tenth
/// of a small project's no-op). Idle threads block on the queue: rayon's spin before
/// sleeping (45 `sched_yield` per task in a rebuild of 567 tasks at -j2) took the
/// cores from the very tasks they waited for.
#[derive(Clone)]
struct Pool {
    threads: usize,
    /// `None` if no thread could be started.
    queue: Arc<OnceLock<Option<Sender<Work>>>>,
}

impl Pool {
    fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        let queue = self.queue.get_or_init(|| start_threads(self.threads));
        let work: Work = Box::new(work);
        let refused = match queue {
            Some(queue) => queue.send(work).err().map(|mpsc::SendError(work)| work),
            None => Some(work),
        };
        // No thread to take it: done here, later but never lost.
        if let Some(work) = refused {
            work();
        }
    }
}

/// Start `threads` workers taking work from one queue; `None` if none started.
fn start_threads(threads: usize) -> Option<Sender<Work>> {
    let (queue, work) = mpsc::channel::<Work>();
    let work = Arc::new(Mutex::new(work));
    let mut started = 0;
    for i in 0..threads {
        let work = Arc::clone(&work);
        let spawned = std::thread::Builder::new()
            .name(format!("conduct-worker-{i}"))
            .spawn(move || {
                loop {
                    // The lock is let go before the work runs.
                    let next = work.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = next else { return };
                    // A panic would leave the coordinator waiting for this work's
                    // event forever: end the process, as rayon's pool did.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                        std::process::abort();
                    }
                }
            });
        started += usize::from(spawned.is_ok());
    }
    (started > 0).then_some(queue)
}
