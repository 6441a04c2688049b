//! A real single-node Slurm cluster on 127.0.0.1 for the Slurm executor's tests (issue
//! 17): munged, slurmctld and slurmd, started without systemd in about a second.
//!
//! One cluster per test process, started by the first test that asks
//! ([`SlurmCluster::shared`]) and used by the tests running at the same time: they tell
//! their jobs apart by name, so each test names its jobs with a prefix of its own (and
//! never cancels a whole partition). [`SlurmCluster::start_private`] gives a test a
//! cluster of its own to [`stop`](SlurmCluster::stop).
//!
//! A cluster keeps to its own temp dir (config, munge key and socket, state, spool,
//! logs) and free loopback ports (`SlurmctldPort`, `SlurmdPort`), so test processes of
//! other worktrees, a system munged and a system Slurm do not collide with it. Client
//! commands find it through `SLURM_CONF` ([`SlurmCluster::env`]).
//!
//! The test harness never drops statics, so each cluster has a watchdog (`sh`) reading a
//! pipe from the test process: at its end (the process exited, however it died, or
//! `stop`) it cancels the cluster's jobs (a job's slurmstepd outlives slurmd: a
//! `sleep 300` would run on), kills the daemons by PID and removes the dir (after
//! `stop`, the drop does). Not `PR_SET_PDEATHSIG`: that fires when the spawning
//! *thread* ends, and the shared cluster is started from whichever test thread comes
//! first. The daemons and the watchdog run in process groups of their own, so a Ctrl-C
//! reaches only the tests.
//!
//! The config: no accounting (`sacct` answers "Slurm accounting storage is disabled": a
//! job's end state comes from a file its script writes), `batch_sched_delay=0` (a job
//! starts within a second of `sbatch`, not three), `MessageTimeout=5` (a client fails
//! in about 4 s, not 9 s, when the controller is down), `KillWait=2`, and a node of
//! 16 CPUs and 4096 MB whatever the machine (`config_overrides`; nothing is enforced:
//! `task/none`, `proctrack/linuxproc`). The daemons run as the test's user, root or
//! not, and so do the jobs, on this machine: they read and write the test's temp dirs.
//!
//! Where Slurm or munge is not installed, `skipped: <program> not installed` and `None`;
//! under `CI=true` that fails instead (`.ci/run` installs `slurm-wlm` and `munge`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::servers::{find, free_port};

/// How long the cluster may take to report its node idle, and a job to leave the queue.
const DEADLINE: Duration = Duration::from_secs(30);

/// The cluster's one partition, the default for jobs that name none.
const PARTITION: &str = "conduct";

/// At the end of its stdin: cancel the jobs of partition `$1`, wait (bounded) for them
/// to leave the queue, kill the daemons (`$3`...) by PID and, unless `stop` asked to
/// keep it (a line before the end: the test still points clients at its
/// `slurm.conf`), remove the dir (`$2`).
const WATCHDOG: &str = r#"
partition=$1 dir=$2; shift 2
read -r keep
scancel --partition="$partition"
i=0
while [ -n "$(squeue -h -o %i)" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -9 "$@"
[ -n "$keep" ] || rm -rf "$dir"
"#;

/// A running cluster (unless stopped). The shared one lives until the process exits.
pub(crate) struct SlurmCluster {
    dir: PathBuf,
    daemons: Vec<(&'static str, Child)>,
    /// `sh` running [`WATCHDOG`], until the end of its stdin.
    watchdog: Option<Child>,
}

impl SlurmCluster {
    /// The process's cluster, started on first use; `None` where Slurm is not installed.
    pub(crate) fn shared() -> Option<&'static SlurmCluster> {
        static SHARED: OnceLock<Option<SlurmCluster>> = OnceLock::new();
        let cluster = SHARED.get_or_init(SlurmCluster::start).as_ref();
        if cluster.is_none() {
            eprintln!("skipped: Slurm not installed");
        }
        cluster
    }

    /// A cluster of this test's own, stopped by [`stop`](Self::stop) or on drop.
    pub(crate) fn start_private() -> Option<SlurmCluster> {
        SlurmCluster::start()
    }

    fn start() -> Option<SlurmCluster> {
        let munged = find("munged", &[Path::new("/usr/sbin/munged")])?;
        let slurmctld = find("slurmctld", &[Path::new("/usr/sbin/slurmctld")])?;
        let slurmd = find("slurmd", &[Path::new("/usr/sbin/slurmd")])?;
        find("sbatch", &[])?;
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("conduct-slurm-")
            .tempdir()
            .expect("temp dir for the Slurm cluster")
            .keep();
        // munged refuses a socket in a directory others cannot enter.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod 755 the cluster's dir");
        write_munge_key(&dir.join("munge.key"));
        for sub in ["state", "spool"] {
            std::fs::create_dir(dir.join(sub)).expect("the cluster's state and spool dirs");
        }
        std::fs::write(dir.join("slurm.conf"), slurm_conf(&dir)).expect("slurm.conf");

        let mut cluster = SlurmCluster {
            dir,
            daemons: Vec::new(),
            watchdog: None,
        };
        let d = cluster.dir.display();
        cluster.spawn(
            "munged",
            Command::new(munged).args([
                "--foreground".to_owned(),
                format!("--socket={d}/munge.sock"),
                format!("--key-file={d}/munge.key"),
                format!("--pid-file={d}/munged.pid"),
                format!("--seed-file={d}/munged.seed"),
            ]),
        );
        cluster.wait_for_munge();
        cluster.spawn("slurmctld", Command::new(slurmctld).arg("-D"));
        cluster.spawn("slurmd", Command::new(slurmd).args(["-D", "-N", "node1"]));
        let pids = cluster.daemons.iter().map(|(_, d)| d.id().to_string());
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "watchdog", PARTITION])
            .arg(&cluster.dir)
            .args(pids)
            .envs(cluster.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the Slurm cluster's watchdog (sh)");
        cluster.watchdog = Some(watchdog);
        cluster.wait_until_idle();
        eprintln!("Slurm cluster up in {:?}", started.elapsed());
        Some(cluster)
    }

    /// The environment Slurm's client commands (`sbatch`, `squeue`...) need.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![(
            "SLURM_CONF",
            self.dir.join("slurm.conf").display().to_string(),
        )]
    }

    /// The partition (the default one) every job runs in.
    pub(crate) fn partition(&self) -> &str {
        PARTITION
    }

    /// `program` (a Slurm client) with [`env`](Self::env) set.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Run a Slurm client (`scancel`, `sinfo`...) with these arguments; its stdout, or
    /// a panic with its stderr.
    pub(crate) fn client(&self, program: &str, args: &[&str]) -> String {
        let output = run(self.command(program).args(args));
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The ids of the jobs in the queue (pending, running, completing) whose name
    /// starts with `name_prefix`.
    pub(crate) fn squeue_jobs(&self, name_prefix: &str) -> Vec<String> {
        let queue = self.client("squeue", &["-h", "-o", "%i %j"]);
        queue
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(_, name)| name.starts_with(name_prefix))
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// The job's state as `squeue -t all` reports it (`%T`): `PENDING`, `RUNNING`,
    /// `COMPLETED`, `NODE_FAIL`...; empty once Slurm has forgotten it (`MinJobAge`,
    /// 300 s after its end).
    pub(crate) fn job_state(&self, id: &str) -> String {
        let squeue = run(self
            .command("squeue")
            .args(["-h", "-o", "%T", "-t", "all", "-j", id]));
        let stderr = String::from_utf8_lossy(&squeue.stderr);
        assert!(
            squeue.status.success() || stderr.contains("Invalid job id"),
            "squeue -j {id} failed ({}): {stderr}",
            squeue.status
        );
        String::from_utf8_lossy(&squeue.stdout).trim().to_owned()
    }

    /// `scontrol show job <id>`: `JobState=`, `MinMemoryNode=`... (for 300 s after
    /// the job ends, Slurm's default `MinJobAge`).
    pub(crate) fn scontrol_show_job(&self, id: &str) -> String {
        self.client("scontrol", &["show", "job", id])
    }

    /// Wait until no job whose name starts with `name_prefix` is in the queue.
    pub(crate) fn wait_until_no_jobs(&self, name_prefix: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let jobs = self.squeue_jobs(name_prefix);
            if jobs.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jobs {jobs:?} ({name_prefix}*) still queued after {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop it now: cancel its jobs and kill its daemons. Its [`env`](Self::env) then
    /// names a controller nothing answers for (its dir goes on drop: without its
    /// `slurm.conf` a client would retry for 60 s).
    pub(crate) fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            if let Some(mut stdin) = watchdog.stdin.take() {
                let _ = stdin.write_all(b"keep\n");
            }
            let _ = watchdog.wait();
        }
        for (_, daemon) in &mut self.daemons {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }

    /// Start a daemon, its output to `<name>.out`, in a process group of its own.
    fn spawn(&mut self, name: &'static str, command: &mut Command) {
        let out = File::create(self.dir.join(format!("{name}.out"))).expect("daemon log");
        let child = command
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("daemon log"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.daemons.push((name, child));
    }

    /// Slurm's daemons authenticate through munged from their first message.
    fn wait_for_munge(&mut self) {
        let socket = self.dir.join("munge.sock");
        let deadline = Instant::now() + DEADLINE;
        while !socket.exists() {
            self.assert_running("munged's socket", deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Until `sinfo` says the node is idle (slurmd registered with slurmctld).
    fn wait_until_idle(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let sinfo = run(self.command("sinfo").args(["-h", "-o", "%T"]));
            if String::from_utf8_lossy(&sinfo.stdout).trim() == "idle" {
                return;
            }
            self.assert_running("an idle node", deadline);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Panic, with the logs, if a daemon has exited or the deadline has passed.
    fn assert_running(&mut self, waiting_for: &str, deadline: Instant) {
        let exited = self
            .daemons
            .iter_mut()
            .find_map(|(name, d)| Some((*name, d.try_wait().ok().flatten()?)));
        if let Some((name, status)) = exited {
            panic!(
                "{name} exited ({status}) while waiting for {waiting_for}:\n{}",
                self.logs()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {waiting_for} within {DEADLINE:?}:\n{}",
            self.logs()
        );
    }

    /// The end of every log in the cluster's dir.
    fn logs(&self) -> String {
        let mut logs = String::new();
        let names = [
            "munged.out",
            "slurmctld.out",
            "slurmctld.log",
            "slurmd.out",
            "slurmd.log",
        ];
        for name in names {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            logs.push_str(&format!("--- {name}\n{tail}\n"));
        }
        logs
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// 128 random bytes, readable by their owner only (munged refuses anything looser).
fn write_munge_key(path: &Path) {
    let mut key = [0u8; 128];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut key))
        .expect("random bytes for the munge key");
    std::fs::write(path, key).expect("munge key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod 600 the munge key");
}

/// One node (`node1` at 127.0.0.1) in one partition, everything under `dir`, the
/// daemons running as the test's user.
fn slurm_conf(dir: &Path) -> String {
    let d = dir.display();
    let user = rustix::process::geteuid().as_raw();
    let ctld_port = free_port();
    let slurmd_port = std::iter::repeat_with(free_port)
        .find(|&port| port != ctld_port)
        .expect("a second free port");
    format!(
        "ClusterName=conduct
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
ReturnToService=2
MessageTimeout=5
KillWait=2
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=4096 State=UNKNOWN
PartitionName={PARTITION} Nodes=node1 Default=YES MaxTime=INFINITE State=UP
"
    )
}

// The harness's own tests: they run in parallel on the shared cluster.

/// `sbatch --parsable` with these arguments and the cluster's env; the job id.
fn sbatch(cluster: &SlurmCluster, args: &[&str]) -> String {
    let out = cluster.client("sbatch", &[&["--parsable"], args].concat());
    // `<id>` or, with several clusters, `<id>;<cluster>`.
    let id = out.trim().split(';').next().unwrap_or_default();
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        "sbatch --parsable printed {out:?}"
    );
    id.to_owned()
}

#[test]
fn a_job_writes_into_a_dir_the_test_reads() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("job.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"$SLURM_JOB_ID\" > ran\n").expect("job script");
    let started = Instant::now();
    let id = sbatch(
        cluster,
        &[
            "--wait",
            "--job-name=harness-wait",
            &format!("--chdir={}", dir.path().display()),
            &format!("--output={}/job.out", dir.path().display()),
            &script.display().to_string(),
        ],
    );
    eprintln!("sbatch --wait: {:?}", started.elapsed());
    let ran = std::fs::read_to_string(dir.path().join("ran")).expect("the job wrote `ran`");
    assert_eq!(ran.trim(), id);
    let job = cluster.scontrol_show_job(&id);
    assert!(job.contains("JobState=COMPLETED"), "{job}");
    assert!(
        job.contains(&format!("Partition={}", cluster.partition())),
        "{job}"
    );
}

#[test]
fn scancel_takes_a_running_job_off_the_queue() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let id = sbatch(
        cluster,
        &[
            "--job-name=harness-cancel",
            "--output=/dev/null",
            "--wrap=sleep 300",
        ],
    );
    assert_eq!(cluster.squeue_jobs("harness-cancel"), [id.as_str()]);
    let deadline = Instant::now() + DEADLINE;
    while cluster.job_state(&id) != "RUNNING" {
        assert!(Instant::now() < deadline, "job {id} not running");
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.client("scancel", &[&id]);
    let started = Instant::now();
    cluster.wait_until_no_jobs("harness-cancel");
    eprintln!("scancel to off the queue: {:?}", started.elapsed());
    let job = cluster.scontrol_show_job(&id);
    assert!(job.contains("JobState=CANCELLED"), "{job}");
}

#[test]
fn memory_and_cpus_asked_for_show_in_scontrol() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    // Held: it stays pending, to be looked at, and never takes a CPU.
    let id = sbatch(
        cluster,
        &[
            "--hold",
            "--job-name=harness-resources",
            "--mem=100M",
            "--cpus-per-task=1",
            "--output=/dev/null",
            "--wrap=true",
        ],
    );
    let job = cluster.scontrol_show_job(&id);
    cluster.client("scancel", &[&id]);
    assert!(job.contains("MinMemoryNode=100M"), "{job}");
    assert!(job.contains("CPUs/Task=1"), "{job}");
    assert!(job.contains("JobName=harness-resources"), "{job}");
}

#[test]
fn jobs_from_several_threads_run_at_once() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    // Each job says it started, then waits (10 s at most) for all four to have: only
    // jobs running at the same time succeed, and `sbatch --wait` fails with its job.
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for n in 0..4 {
            let wrap = format!(
                "--wrap=touch {d}/{n}; for i in $(seq 100); do \
                 [ $(ls {d} | wc -l) -eq 4 ] && exit 0; sleep 0.1; done; exit 1"
            );
            scope.spawn(move || {
                let name = format!("--job-name=harness-parallel-{n}");
                sbatch(cluster, &["--wait", &name, "--output=/dev/null", &wrap])
            });
        }
    });
    eprintln!("4 jobs at once: {:?}", started.elapsed());
    assert!(cluster.squeue_jobs("harness-parallel").is_empty());
}

#[test]
fn a_stopped_cluster_refuses_jobs_and_leaves_the_shared_one_running() {
    let Some(mut cluster) = SlurmCluster::start_private() else {
        return;
    };
    let Some(shared) = SlurmCluster::shared() else {
        return;
    };
    let pids: Vec<u32> = cluster.daemons.iter().map(|(_, d)| d.id()).collect();
    cluster.stop();
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "daemon {pid} is still there"
        );
    }
    let started = Instant::now();
    let refused = run(cluster
        .command("sbatch")
        .args(["--output=/dev/null", "--wrap=true"]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    eprintln!("sbatch refused after {:?}: {stderr}", started.elapsed());
    assert!(!refused.status.success());
    assert!(
        stderr.contains("Unable to contact slurm controller"),
        "{stderr}"
    );
    assert!(shared.squeue_jobs("harness-none").is_empty());
}
