//! The Slurm executor (issue 17): a task's job becomes a batch job on the cluster, as
//! Snakemake's Slurm plugin does it. `submit` writes a job script (kept under
//! `.cache/slurm/` for inspection) that runs the command with the job's environment,
//! sends its output to the task's log and its exit status to a file, and hands it to
//! `sbatch --parsable`. One poller thread asks `squeue` about every job of the build in
//! one call per interval: a job seen running has started; a job gone from the queue has
//! ended, and its status file (waited for a bounded time: the project directory is a
//! shared file system whose attribute caches lag) says how. Timeouts, `cancel` and
//! `cancel_all` are one `scancel` each. Hashing, caching and checks stay on this host:
//! [`Executor::run`] (checks, `{ command }` inputs) goes to the local executor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{ClusterJob, Executor, Exit, Finished, Job, JobId, Output, Report, Update};
use crate::spec::placement::SlurmSettings;

mod script;

/// Slurm's `--time` is the task's timeout plus this: conduct, not Slurm, reports the
/// timeout (it cancels the job itself when the timeout passes).
const TIME_MARGIN: Duration = Duration::from_secs(60);

/// The states in which the cluster, not the task, ended a job: it runs again.
const LOST: [&str; 3] = ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL"];

/// Ids of this executor's jobs, apart from those of the local executor it hands the
/// other jobs to.
pub(crate) const FIRST_ID: u64 = 1 << 62;

/// A job in the queue, as the poller tracks it.
struct Queued {
    slurm_id: String,
    report: Report,
    status_file: PathBuf,
    /// With `Output::Capture`: where the script put stdout.
    stdout_file: Option<PathBuf>,
    timeout: Option<Duration>,
    submitted: Instant,
    started: Option<Instant>,
    /// Set when conduct stopped it: how it ends, whatever its status file says.
    stopped: Option<Exit>,
    /// The state the queue last gave it once it ended (gone: `None`).
    ended_as: Option<String>,
}

#[derive(Default)]
struct Queue {
    jobs: HashMap<u64, Queued>,
    /// `cancel_all` was called: nothing more is submitted.
    cancelled: bool,
    /// The build is over: the poller stops once the queue is empty.
    finishing: bool,
}

/// Runs jobs on a Slurm cluster (see the module's text).
pub(crate) struct SlurmExecutor {
    settings: SlurmSettings,
    /// `conduct:<project>:`: the prefix of every job name.
    name_prefix: String,
    /// Where job scripts and status files go (`.cache/slurm/`).
    dir: PathBuf,
    next: AtomicU64,
    queue: Arc<(Mutex<Queue>, Condvar)>,
    poller: Mutex<Option<JoinHandle<()>>>,
    /// Checks and `{ command }` inputs run here.
    local: Arc<dyn Executor>,
    stop: Arc<AtomicBool>,
}

/// Slurm cannot be used: what was tried and what it said.
#[derive(Debug)]
pub(crate) struct Unavailable {
    pub(crate) tried: String,
    pub(crate) said: String,
}

impl SlurmExecutor {
    /// Check that the cluster answers (`sbatch --version`, then `sinfo`), before
    /// anything runs; scripts go to `dir`.
    pub(crate) fn connect(
        settings: SlurmSettings,
        project: &str,
        dir: PathBuf,
        local: Arc<dyn Executor>,
    ) -> Result<SlurmExecutor, Unavailable> {
        probe(&["sbatch", "--version"])?;
        let mut sinfo = vec!["sinfo", "-h", "-o", "%P %a"];
        if let Some(partition) = &settings.partition {
            sinfo.extend(["-p", partition.as_str()]);
        }
        let partitions = probe(&sinfo)?;
        if let Some(partition) = &settings.partition
            && partitions.trim().is_empty()
        {
            return Err(Unavailable {
                tried: sinfo.join(" "),
                said: format!("no partition named `{partition}` ([slurm] partition)"),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| Unavailable {
            tried: format!("creating {}", dir.display()),
            said: e.to_string(),
        })?;
        Ok(SlurmExecutor {
            settings,
            name_prefix: format!("conduct:{project}:"),
            dir,
            next: AtomicU64::new(FIRST_ID),
            queue: Arc::default(),
            poller: Mutex::new(None),
            local,
            stop: Arc::default(),
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `sbatch` arguments for `job`, its script last.
    fn sbatch_args(&self, job: &Job, stem: &Path, script: &Path) -> Vec<String> {
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--job-name={}{}", self.name_prefix, job.label),
            format!("--chdir={}", job.cwd.display()),
            format!("--output={}", script::beside(stem, "slurm.out").display()),
            // A job its node lost is run again by conduct, at once and as a new attempt
            // with its own log; Slurm would requeue it to start two minutes later.
            // (`extra_args = ["--requeue"]` comes after, and wins.)
            "--no-requeue".to_owned(),
        ];
        if let Some(timeout) = job.timeout {
            let minutes = (timeout + TIME_MARGIN).as_secs().div_ceil(60);
            args.push(format!("--time={minutes}"));
        }
        let wanted = job.on_cluster.clone().unwrap_or_default();
        if let Some(cpus) = wanted.cpus {
            args.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(mem) = &wanted.mem {
            args.push(format!("--mem={mem}"));
        }
        if let Some(gpus) = wanted.gpus {
            args.push(format!("--gpus={gpus}"));
        }
        let s = &self.settings;
        for (flag, value) in [
            ("partition", &s.partition),
            ("account", &s.account),
            ("qos", &s.qos),
        ] {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        }
        args.extend(s.extra_args.iter().cloned());
        args.push(script.display().to_string());
        args
    }

    fn ensure_poller(&self) {
        let mut poller = self.poller.lock().unwrap_or_else(PoisonError::into_inner);
        if poller.is_some() {
            return;
        }
        let queue = Arc::clone(&self.queue);
        let settings = self.settings.clone();
        let stop = Arc::clone(&self.stop);
        *poller = std::thread::Builder::new()
            .name("conduct-squeue".into())
            .spawn(move || poll(&queue, &settings, &stop))
            .ok();
    }
}

impl Executor for SlurmExecutor {
    /// A job for the cluster is submitted; any other (`executor = "local"`) runs here.
    fn submit(&self, job: Job, report: Report) -> JobId {
        if job.on_cluster.is_none() {
            return self.local.submit(job, report);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if self.queue().cancelled {
            report(Update::Finished(Finished {
                exit: Exit::Cancelled,
                ..Finished::not_started(String::new())
            }));
            return JobId(id);
        }
        // `<task>.<attempt>`: what the last build ran for each attempt of the task.
        let attempt = job
            .env
            .iter()
            .find(|(name, _)| name == "CONDUCT_ATTEMPT")
            .map_or("1", |(_, value)| value.as_str());
        let stem = self.dir.join(format!("{}.{attempt}", job.label));
        let written = script::write(&job, &stem);
        let (script, status_file, stdout_file) = match written {
            Ok(paths) => paths,
            Err(e) => {
                report(Update::Finished(Finished::not_started(format!(
                    "cannot write the job script {}: {e}",
                    stem.display()
                ))));
                return JobId(id);
            }
        };
        let args = self.sbatch_args(&job, &stem, &script);
        let submitted = Instant::now();
        let slurm_id = match run_tool("sbatch", &args) {
            Ok(out) => out.split(';').next().unwrap_or("").trim().to_owned(),
            Err(said) => {
                report(Update::Finished(Finished::not_started(format!(
                    "sbatch refused the job: {said}"
                ))));
                return JobId(id);
            }
        };
        if slurm_id.is_empty() {
            report(Update::Finished(Finished::not_started(
                "sbatch printed no job id".to_owned(),
            )));
            return JobId(id);
        }
        self.queue().jobs.insert(
            id,
            Queued {
                slurm_id,
                report,
                status_file,
                stdout_file: matches!(job.output, Output::Capture).then_some(stdout_file),
                timeout: job.timeout,
                submitted,
                started: None,
                stopped: None,
                ended_as: None,
            },
        );
        self.ensure_poller();
        self.queue.1.notify_all();
        JobId(id)
    }

    fn cancel(&self, id: JobId) {
        if id.0 < FIRST_ID {
            return self.local.cancel(id);
        }
        let slurm_id = {
            let mut queue = self.queue();
            let Some(queued) = queue.jobs.get_mut(&id.0) else {
                return;
            };
            queued.stopped.get_or_insert(Exit::Cancelled);
            queued.slurm_id.clone()
        };
        let _ = run_tool("scancel", &[slurm_id]);
    }

    fn cancel_all(&self) {
        let ids: Vec<String> = {
            let mut queue = self.queue();
            queue.cancelled = true;
            queue
                .jobs
                .values_mut()
                .map(|queued| {
                    queued.stopped.get_or_insert(Exit::Cancelled);
                    queued.slurm_id.clone()
                })
                .collect()
        };
        if !ids.is_empty() {
            let _ = run_tool("scancel", &ids);
        }
        self.local.cancel_all();
        self.queue.1.notify_all();
    }

    fn run(&self, job: Job) -> Finished {
        self.local.run(job)
    }

    fn on_cluster(&self) -> bool {
        true
    }

    fn finish(&self) {
        self.queue().finishing = true;
        self.queue.1.notify_all();
        let poller = self
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(poller) = poller {
            let _ = poller.join();
        }
        self.stop.store(true, Ordering::Relaxed);
        self.local.finish();
    }
}

impl Drop for SlurmExecutor {
    /// Whatever happened, no job of this build is left in the queue.
    fn drop(&mut self) {
        let ids: Vec<String> = self
            .queue()
            .jobs
            .values()
            .map(|q| q.slurm_id.clone())
            .collect();
        if !ids.is_empty() {
            let _ = run_tool("scancel", &ids);
        }
    }
}

/// The poller: one `squeue` for all jobs per interval; reports starts and ends, stops
/// jobs past their timeout.
fn poll(queue: &(Mutex<Queue>, Condvar), settings: &SlurmSettings, stop: &AtomicBool) {
    let (lock, wake) = queue;
    loop {
        let ids: Vec<String> = {
            let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if guard.jobs.is_empty() && guard.finishing || stop.load(Ordering::Relaxed) {
                return;
            }
            let (guard, _) = wake
                .wait_timeout(guard, settings.poll)
                .unwrap_or_else(PoisonError::into_inner);
            guard.jobs.values().map(|q| q.slurm_id.clone()).collect()
        };
        if ids.is_empty() {
            continue;
        }
        let Some(states) = squeue(&ids) else {
            continue; // squeue failed this time: ask again next interval
        };
        let asked: std::collections::HashSet<&String> = ids.iter().collect();
        let mut ended = Vec::new();
        let mut to_stop = Vec::new();
        {
            let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            for (&id, queued) in guard.jobs.iter_mut() {
                // Submitted after this squeue asked: next time.
                if !asked.contains(&queued.slurm_id) {
                    continue;
                }
                match states.get(&queued.slurm_id).map(String::as_str) {
                    // REQUEUED: Slurm put it back itself (its node failed), it will run.
                    Some("PENDING" | "CONFIGURING" | "REQUEUED") => {}
                    Some("RUNNING" | "COMPLETING" | "SUSPENDED") => {
                        if queued.started.is_none() {
                            queued.started = Some(now);
                            (queued.report)(Update::Started);
                        }
                        if let (Some(timeout), Some(started)) = (queued.timeout, queued.started)
                            && queued.stopped.is_none()
                            && now.duration_since(started) > timeout
                        {
                            queued.stopped = Some(Exit::TimedOut);
                            to_stop.push(queued.slurm_id.clone());
                        }
                    }
                    // Gone from the queue, or in a state it only leaves by going.
                    state => {
                        // COMPLETED says nothing the status file does not.
                        queued.ended_as = state.filter(|&s| s != "COMPLETED").map(str::to_owned);
                        ended.push(id);
                    }
                }
            }
            let ended: Vec<Queued> = ended
                .iter()
                .filter_map(|id| guard.jobs.remove(id))
                .collect();
            drop(guard);
            settle(ended, now, settings.latency_wait);
        }
        if !to_stop.is_empty() {
            let _ = run_tool("scancel", &to_stop);
        }
    }
}

/// Report how the jobs that left the queue at `ended` ended. Their status files are
/// waited for together, up to one `latency_wait` in all: a shared file system that lags
/// for one job lags for the others, and the poller must not wait for each in turn.
fn settle(ended: Vec<Queued>, at: Instant, latency_wait: Duration) {
    let deadline = Instant::now() + latency_wait;
    let mut waiting = ended;
    loop {
        let past = Instant::now() >= deadline;
        waiting.retain(|queued| match outcome(queued, at, past, latency_wait) {
            Some(finished) => {
                if queued.started.is_none() && !matches!(finished.exit, Exit::Cancelled) {
                    (queued.report)(Update::Started);
                }
                (queued.report)(Update::Finished(finished));
                false
            }
            None => true,
        });
        if waiting.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How a job that left the queue at `ended` ended: as conduct stopped it, as the
/// cluster lost it, else as its status file says; `None` while that file is not there
/// yet, unless `give_up` (its `latency_wait` has passed).
fn outcome(
    queued: &Queued,
    ended: Instant,
    give_up: bool,
    latency_wait: Duration,
) -> Option<Finished> {
    let exit = if let Some(exit) = &queued.stopped {
        exit.clone()
    } else if let Some(state) = queued.ended_as.as_deref().filter(|s| LOST.contains(s)) {
        Exit::Lost {
            why: format!("lost by the cluster ({state})"),
        }
    } else if let Ok(text) = std::fs::read_to_string(&queued.status_file)
        && let Ok(code) = text.trim().parse::<i32>()
    {
        if code == 0 {
            Exit::Success
        } else {
            Exit::Failed {
                code: Some(code),
                signal: None,
            }
        }
    } else if give_up {
        Exit::Unknown {
            why: format!(
                "the job ended without writing its exit status within {}: did its node \
                 fail, or is the project directory not shared with the nodes?",
                humantime::format_duration(latency_wait)
            ),
        }
    } else {
        return None;
    };
    let stdout = queued
        .stdout_file
        .as_ref()
        .and_then(|path| std::fs::read(path).ok())
        .unwrap_or_default();
    Some(Finished {
        exit,
        duration: ended.saturating_duration_since(queued.started.unwrap_or(queued.submitted)),
        leftovers: 0,
        stdout,
        cluster: Some(Box::new(ClusterJob {
            id: queued.slurm_id.clone(),
            submitted: queued.submitted,
            started: queued.started,
            ended,
            state: queued.ended_as.clone(),
        })),
    })
}

/// The state of each of `ids` Slurm still knows (running or ended); `None` if squeue
/// failed.
fn squeue(ids: &[String]) -> Option<HashMap<String, String>> {
    let args = [
        "-h".to_owned(),
        "-o".to_owned(),
        "%i %T".to_owned(),
        // Jobs that ended too, for `MinJobAge` (300 s by default): how they ended.
        "-t".to_owned(),
        "all".to_owned(),
        "-j".to_owned(),
        ids.join(","),
    ];
    match run_tool("squeue", &args) {
        Ok(out) => Some(
            out.lines()
                .filter_map(|line| line.split_once(' '))
                .map(|(id, state)| (id.to_owned(), state.trim().to_owned()))
                .collect(),
        ),
        // Every id named has left the queue (and Slurm's memory of it).
        Err(said) if said.contains("Invalid job id") => Some(HashMap::new()),
        Err(_) => None,
    }
}

/// How long a Slurm command may take: a controller that does not answer makes them
/// retry for minutes.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// Run a Slurm command (at most [`TOOL_TIMEOUT`]); its stdout, or what it said when it
/// failed. Not through the local executor's `run`, which every other process takes:
/// its `Output::Capture` drops stderr, where sbatch and squeue say why they failed, and
/// `Output::Log` would mix their warnings into the job id. An `Output` that keeps both
/// streams apart would let this go through the one supervision routine too.
fn run_tool(program: &str, args: &[String]) -> Result<String, String> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pid = child.id();
    let (send, receive) = std::sync::mpsc::channel();
    // Read on another thread, so a long answer never fills the pipe while this one waits.
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    let output = match receive.recv_timeout(TOOL_TIMEOUT) {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("{program}: {e}")),
        Err(_) => {
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            return Err(format!(
                "{program} did not answer in {}",
                humantime::format_duration(TOOL_TIMEOUT)
            ));
        }
    };
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        Err(said.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// Run `argv` to see that Slurm answers; what it printed.
fn probe(argv: &[&str]) -> Result<String, Unavailable> {
    let args: Vec<String> = argv[1..].iter().map(|&a| a.to_owned()).collect();
    run_tool(argv[0], &args).map_err(|said| Unavailable {
        tried: argv.join(" "),
        said,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that left the queue, whose script wrote `status` (or nothing); what it
    /// reports goes to `heard`.
    fn left(
        dir: &Path,
        name: &str,
        status: Option<&str>,
        ended_as: Option<&str>,
        heard: &Arc<Mutex<Vec<(String, Exit)>>>,
    ) -> Queued {
        let status_file = dir.join(format!("{name}.status"));
        if let Some(status) = status {
            std::fs::write(&status_file, status).unwrap();
        }
        let heard = Arc::clone(heard);
        let name = name.to_owned();
        Queued {
            slurm_id: name.clone(),
            report: Box::new(move |update| {
                if let Update::Finished(finished) = update {
                    heard.lock().unwrap().push((name.clone(), finished.exit));
                }
            }),
            status_file,
            stdout_file: None,
            timeout: None,
            submitted: Instant::now(),
            started: Some(Instant::now()),
            stopped: None,
            ended_as: ended_as.map(str::to_owned),
        }
    }

    #[test]
    fn ended_jobs_are_read_from_their_status_or_their_state_and_waited_for_together() {
        let dir = tempfile::tempdir().unwrap();
        let heard = Arc::default();
        let jobs = vec![
            left(dir.path(), "ok", Some("0\n"), None, &heard),
            left(dir.path(), "failed", Some("3\n"), None, &heard),
            left(dir.path(), "lost", None, Some("NODE_FAIL"), &heard),
            left(dir.path(), "silent1", None, Some("FAILED"), &heard),
            left(dir.path(), "silent2", None, None, &heard),
            left(dir.path(), "silent3", None, None, &heard),
        ];
        let wait = Duration::from_secs(1);
        let started = Instant::now();
        settle(jobs, Instant::now(), wait);
        // One latency_wait for the three silent ones, not one each.
        assert!(started.elapsed() < wait * 2, "{:?}", started.elapsed());
        let heard = heard.lock().unwrap();
        let exits: HashMap<&str, &Exit> = heard.iter().map(|(n, e)| (n.as_str(), e)).collect();
        assert_eq!(exits["ok"], &Exit::Success);
        assert_eq!(
            exits["failed"],
            &Exit::Failed {
                code: Some(3),
                signal: None
            }
        );
        assert!(matches!(exits["lost"], Exit::Lost { why } if why.contains("NODE_FAIL")));
        for silent in ["silent1", "silent2", "silent3"] {
            assert!(matches!(exits[silent], Exit::Unknown { .. }), "{silent}");
        }
        // The ones known at once were reported before the silent ones gave up.
        assert_eq!(heard[0].0, "ok");
        assert_eq!(heard.len(), 6);
    }
}
