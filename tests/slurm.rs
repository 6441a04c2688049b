//! Running tasks on a Slurm cluster (issue 17): the configuration, and what a build says
//! when the cluster cannot be reached. The builds against a real single-node cluster
//! on loopback are in `slurm_cluster.rs`.

use serde_json::Value;

use crate::slurm_cluster::SlurmCluster;
use crate::test::Project;

#[test]
fn placement_keys_are_checked_where_they_are_written() {
    let project = Project::new(
        "[project]\nexecutor = \"cloud\"\n\
         [groups.g]\nmem = \"4GB\"\n\
         [tasks.a]\ngroup = \"g\"\ncpus = 0\nrun = \"true\"\n",
    );
    let run = project.conduct(&["check"]);
    assert_eq!(run.status, 2, "{run:?}");
    for said in [
        "`executor`",
        "`mem` is not a memory size Slurm takes: `4GB`",
        "`cpus`",
    ] {
        assert!(run.stderr.contains(said), "{said:?} in {run:?}");
    }
    let good = Project::new(
        "[slurm]\npartition = \"debug\"\nextra_args = [\"--nice=10\"]\npoll = \"200ms\"\n\
         [groups.g]\nexecutor = \"slurm\"\nmem = \"4G\"\n\
         [tasks.a]\ngroup = \"g\"\ncpus = 2\ngpus = 1\nrun = \"true\"\n",
    );
    let run = good.conduct(&["check"]);
    assert_eq!(run.status, 0, "{run:?}");
}

#[test]
fn a_cluster_that_cannot_be_reached_stops_the_build_before_anything_runs() {
    let project = Project::new(
        "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a >> ran.log; echo a > a.txt\"\n\
         [tasks.b]\nexecutor = \"local\"\noutputs = [\"b.txt\"]\nrun = \"echo b >> ran.log; echo b > b.txt\"\n",
    );
    // No Slurm on this PATH.
    let run = project.conduct_env(
        &["build", "--executor", "slurm"],
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("Slurm does not answer: `sbatch --version`"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--executor local"), "the hint: {run:?}");
    assert!(project.ran().is_empty(), "nothing ran");
    // Local, every task runs here; with only local tasks selected, Slurm is not asked.
    let run = project.conduct_env(
        &["build", "b", "--executor", "slurm"],
        &[("PATH", "/nonexistent:/usr/bin:/bin")],
    );
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(project.ran(), ["b"]);
}

/// A project whose tasks run on the shared loopback cluster, named `name` so that its
/// jobs (`conduct:<name>:<task>`) are told apart from other tests'.
fn on_cluster(name: &str, tasks: &str) -> Project {
    Project::new(&format!(
        "[project]\nname = \"{name}\"\nexecutor = \"slurm\"\n[slurm]\npoll = \"100ms\"\n{tasks}"
    ))
}

/// `conduct <args>` with the cluster's environment.
fn conduct_on(cluster: &SlurmCluster, project: &Project, args: &[&str]) -> crate::test::Run {
    let env = cluster.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    project.conduct_env(args, &env)
}

/// `conduct ARGS` started with the cluster's environment, its output piped (a test
/// that signals it or acts on the cluster while it runs).
fn spawn_on(cluster: &SlurmCluster, project: &Project, args: &[&str]) -> std::process::Child {
    std::process::Command::new(crate::test::binary())
        .args(args)
        .current_dir(project.path())
        .envs(cluster.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// 30 tasks in layers of 6: each reads its source and the outputs of two tasks of the
/// layer before.
fn thirty() -> String {
    let mut toml = String::new();
    for i in 0..30 {
        let mut inputs = vec![format!("\"src/{i}.txt\"")];
        if i >= 6 {
            inputs.push(format!("\"out/{}.txt\"", i - 6));
            inputs.push(format!("\"out/{}.txt\"", (i - 5) % 6 + (i / 6 - 1) * 6));
        }
        toml.push_str(&format!(
            "[tasks.t{i}]\ninputs = [{}]\noutputs = [\"out/{i}.txt\"]\n\
             run = \"echo t{i} >> ran.log; cat {{inputs}} | sha1sum > out/{i}.txt\"\n",
            inputs.join(", ")
        ));
    }
    toml
}

fn sources(project: &Project) {
    for i in 0..30 {
        project.file(&format!("src/{i}.txt"), &format!("source {i}\n"));
    }
}

fn scripts(project: &Project) -> usize {
    std::fs::read_dir(project.path().join(".cache/slurm"))
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "sh"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_dag_on_the_cluster_builds_what_a_local_build_does_and_then_submits_nothing() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let remote = on_cluster("dag30", &thirty());
    sources(&remote);
    let run = conduct_on(cluster, &remote, &["build", "-j", "8"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(remote.ran().len(), 30, "{run:?}");
    assert_eq!(scripts(&remote), 30, "one job script per task");
    let local = Project::new(&thirty());
    sources(&local);
    local.build(&[], 0);
    for i in 0..30 {
        let path = format!("out/{i}.txt");
        assert_eq!(remote.read(&path), local.read(&path), "{path}");
    }
    // Fresh on the cluster, and fresh here: where a task ran is not part of its key.
    let again = conduct_on(cluster, &remote, &["build"]);
    assert_eq!(again.status, 0, "{again:?}");
    assert!(remote.ran().is_empty(), "{again:?}");
    assert_eq!(scripts(&remote), 30, "nothing submitted");
    let here = conduct_on(
        cluster,
        &remote,
        &["build", "--executor", "local", "--force", "t29"],
    );
    assert_eq!(here.status, 0, "{here:?}");
    assert_eq!(remote.ran(), ["t29"]);
    assert_eq!(scripts(&remote), 30, "--executor local ran it here");
    cluster.wait_until_no_jobs("conduct:dag30:");
}

#[test]
fn a_failing_job_blocks_exactly_its_dependents() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = on_cluster(
        "failing",
        "[tasks.bad]\noutputs = [\"bad.txt\"]\nrun = \"echo bad >> ran.log; exit 3\"\n\
         [tasks.after]\ninputs = [\"bad.txt\"]\noutputs = [\"after.txt\"]\nrun = \"cp bad.txt after.txt\"\n\
         [tasks.other]\noutputs = [\"other.txt\"]\nrun = \"echo other >> ran.log; echo o > other.txt\"\n",
    );
    let run = conduct_on(cluster, &project, &["build"]);
    assert_eq!(run.status, 1, "{run:?}");
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["bad", "other"]);
    assert!(
        run.stdout.contains("FAILED bad") && run.stdout.contains("exit code 3"),
        "{run:?}"
    );
    assert!(run.stdout.contains("blocked after (by bad)"), "{run:?}");
    cluster.wait_until_no_jobs("conduct:failing:");
}

#[test]
fn a_task_over_its_timeout_is_cancelled_on_the_cluster() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = on_cluster(
        "timeout",
        "[tasks.slow]\noutputs = [\"slow.txt\"]\ntimeout = \"1s\"\nrun = \"sleep 300; touch slow.txt\"\n",
    );
    let started = std::time::Instant::now();
    let run = conduct_on(cluster, &project, &["build"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stdout.contains("TIMED OUT slow"), "{run:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "not Slurm's --time"
    );
    assert!(
        cluster.squeue_jobs("conduct:timeout:").is_empty(),
        "its job was cancelled"
    );
    let status = project.conduct(&["status", "--json"]);
    assert!(status.stdout.contains("timed_out"), "{status:?}");
}

#[test]
fn resources_reach_the_job() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = on_cluster(
        "resources",
        "[groups.g]\nmem = \"100M\"\n\
         [tasks.big]\ngroup = \"g\"\ncpus = 2\noutputs = [\"big.txt\"]\n\
         run = \"echo \\\"$SLURM_JOB_ID\\\" > big.txt\"\n",
    );
    let run = conduct_on(cluster, &project, &["build"]);
    assert_eq!(run.status, 0, "{run:?}");
    let id = project.read("big.txt").trim().to_owned();
    assert!(!id.is_empty(), "it ran as a Slurm job");
    assert!(
        run.stdout.contains("ok big (") && run.stdout.contains(&format!("Slurm job {id}, ")),
        "the task's line says which job it was: {run:?}"
    );
    let json = conduct_on(cluster, &project, &["build", "--force", "--json"]);
    assert!(
        json.stdout.contains("\"slurm\":{\"job\":\""),
        "and so does its JSON event: {json:?}"
    );
    let job = cluster.scontrol_show_job(&id);
    assert!(job.contains("JobName=conduct:resources:big"), "{job}");
    assert!(job.contains("NumCPUs=2"), "{job}");
    assert!(job.contains("MinMemoryNode=100M"), "{job}");
}

/// Which Slurm job each attempt was and how long it queued reach every view of the
/// build: its JSON events, the run record (submitted → started → ended), `status`,
/// both reports, and `plan`'s weights.
#[test]
fn the_job_id_and_queue_wait_reach_every_view_of_the_build() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = on_cluster(
        "views",
        "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo \\\"$SLURM_JOB_ID\\\" > a.txt\"\n\
         [tasks.b]\ninputs = [\"a.txt\"]\noutputs = [\"b.txt\"]\n\
         run = \"echo \\\"$SLURM_JOB_ID\\\" > b.txt\"\n",
    );
    let run = conduct_on(cluster, &project, &["build", "--json"]);
    assert_eq!(run.status, 0, "{run:?}");
    let ids = [project.read("a.txt"), project.read("b.txt")].map(|id| id.trim().to_owned());
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|event: &Value| event["event"] == "task_finished")
        .collect();
    assert_eq!(events.len(), 2, "{run:?}");
    for (event, id) in events.iter().zip(&ids) {
        assert_eq!(event["slurm"]["job"], id.as_str(), "{event}");
        assert!(event["slurm"]["queue_wait_ms"].is_u64(), "{event}");
    }
    // The run record: each attempt's job, submitted <= started <= ended, all within
    // the attempt.
    let runs = project.path().join(".cache/runs");
    let record = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a run record");
    let record: Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    for (task, id) in record["tasks"].as_array().unwrap().iter().zip(&ids) {
        let attempt = &task["attempts"][0];
        let slurm = &attempt["slurm"];
        assert_eq!(slurm["job"], id.as_str(), "{task}");
        let submitted = slurm["submitted_ms"].as_u64().unwrap();
        let ended = slurm["ended_ms"].as_u64().unwrap();
        let started = slurm["started_ms"].as_u64().unwrap_or(submitted);
        assert!(attempt["start_ms"].as_u64().unwrap() <= submitted, "{task}");
        assert!(submitted <= started && started <= ended, "{task}");
        assert!(ended <= attempt["end_ms"].as_u64().unwrap(), "{task}");
    }
    let status = project.conduct(&["status"]);
    assert!(
        status
            .stdout
            .contains(&format!("Slurm job {}, queued ", ids[0])),
        "{status:?}"
    );
    let status: Value =
        serde_json::from_str(&project.conduct(&["status", "--json"]).stdout).unwrap();
    assert_eq!(
        status["tasks"][1]["slurm"]["job"],
        ids[1].as_str(),
        "{status}"
    );
    let html = project.conduct(&["report", "--html", "-"]);
    assert!(
        html.stdout
            .contains(&format!("data-slurm-job=\"{}\"", ids[0])),
        "the queue wait is drawn in the timeline"
    );
    assert!(
        html.stdout.contains("waiting in the Slurm queue"),
        "and named in the legend"
    );
    let markdown = project.conduct(&["report", "--markdown", "-"]);
    assert!(
        markdown
            .stdout
            .contains(&format!("(Slurm job {}, queued ", ids[1])),
        "{markdown:?}"
    );
    let plan = project.conduct(&["plan", "--all"]);
    assert!(
        plan.stdout
            .contains("the recorded Slurm queue wait added for 2"),
        "{plan:?}"
    );
}

#[test]
fn ctrl_c_leaves_no_job_in_the_queue() {
    stopped_by(rustix::process::Signal::INT, "ctrlc");
}

#[test]
fn sigterm_leaves_no_job_in_the_queue() {
    stopped_by(rustix::process::Signal::TERM, "sigterm");
}

/// A build with 4 jobs queued is sent `signal`: it exits 130 and leaves none queued.
fn stopped_by(signal: rustix::process::Signal, name: &str) {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let mut tasks = String::new();
    for i in 0..4 {
        tasks.push_str(&format!(
            "[tasks.s{i}]\noutputs = [\"s{i}.txt\"]\nrun = \"sleep 300; touch s{i}.txt\"\n"
        ));
    }
    let project = on_cluster(name, &tasks);
    let prefix = format!("conduct:{name}:");
    let child = spawn_on(cluster, &project, &["build", "-j", "4"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while cluster.squeue_jobs(&prefix).len() < 4 {
        assert!(std::time::Instant::now() < deadline, "4 jobs never queued");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let left = cluster.squeue_jobs(&prefix);
    let states: Vec<String> = left.iter().map(|id| cluster.job_state(id)).collect();
    assert!(
        left.is_empty(),
        "no conduct job left once conduct exited: {left:?} {states:?} {output:?}"
    );
}

#[test]
fn a_stopped_cluster_is_exit_2_before_anything_runs() {
    let Some(mut cluster) = SlurmCluster::start_private() else {
        return;
    };
    cluster.stop();
    let project = on_cluster(
        "stopped",
        "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a >> ran.log; touch a.txt\"\n",
    );
    let run = conduct_on(&cluster, &project, &["build"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("Slurm does not answer"), "{run:?}");
    assert!(project.ran().is_empty());
}

/// A chain of 10 jobs, one after another: each waits for the last one's output. Prints
/// the per-task cost (submit, queue, run, status, hash) on the loopback cluster against
/// the same chain run locally, the figure the README quotes.
#[test]
fn a_chain_of_jobs_runs_in_order() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let mut tasks = String::new();
    for i in 0..10 {
        let input = if i == 0 {
            "seed.txt".to_owned()
        } else {
            format!("c{}.txt", i - 1)
        };
        tasks.push_str(&format!(
            "[tasks.c{i}]\ninputs = [\"{input}\"]\noutputs = [\"c{i}.txt\"]\n\
             run = \"echo c{i} >> ran.log; cat {input} > c{i}.txt; echo c{i} >> c{i}.txt\"\n"
        ));
    }
    let project = on_cluster("chain", &tasks);
    project.file("seed.txt", "seed\n");
    let started = std::time::Instant::now();
    let run = conduct_on(cluster, &project, &["build"]);
    let on_cluster = started.elapsed();
    assert_eq!(run.status, 0, "{run:?}");
    let expected: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    assert_eq!(project.ran(), expected, "in dependency order");
    assert_eq!(project.read("c9.txt").lines().count(), 11);
    let started = std::time::Instant::now();
    let here = conduct_on(
        cluster,
        &project,
        &["build", "--force", "--executor", "local"],
    );
    let local = started.elapsed();
    assert_eq!(here.status, 0, "{here:?}");
    eprintln!(
        "a chain of 10: {:.0} ms per task on the loopback cluster, {:.1} ms locally",
        on_cluster.as_secs_f64() * 100.0,
        local.as_secs_f64() * 100.0
    );
}

#[test]
fn a_job_the_cluster_refuses_fails_its_task_with_what_sbatch_said() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = on_cluster(
        "refused",
        "[tasks.huge]\nmem = \"999999G\"\noutputs = [\"huge.txt\"]\nrun = \"touch huge.txt\"\n\
         [tasks.after]\ninputs = [\"huge.txt\"]\noutputs = [\"after.txt\"]\nrun = \"touch after.txt\"\n\
         [tasks.fine]\noutputs = [\"fine.txt\"]\nrun = \"echo fine >> ran.log; touch fine.txt\"\n",
    );
    let run = conduct_on(cluster, &project, &["build"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stdout.contains("FAILED huge"), "{run:?}");
    assert!(run.stdout.contains("sbatch refused the job"), "{run:?}");
    assert!(run.stdout.contains("blocked after (by huge)"), "{run:?}");
    assert_eq!(project.ran(), ["fine"], "the others go on");
}

/// A job that ends without its script writing a status (its shell killed, as when its
/// node dies) is a failure of that attempt: retried when the task has `retries`.
#[test]
fn a_job_lost_without_a_status_is_retried_as_an_attempt() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = Project::new(
        "[project]\nname = \"lost\"\nexecutor = \"slurm\"\n\
         [slurm]\npoll = \"100ms\"\nlatency_wait = \"500ms\"\n\
         [tasks.lost]\nretries = 1\noutputs = [\"lost.txt\"]\n\
         run = \"echo attempt >> ran.log; kill -9 $PPID\"\n",
    );
    let run = conduct_on(cluster, &project, &["build"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(
        project.ran(),
        ["attempt", "attempt"],
        "retried once: {run:?}"
    );
    assert!(
        run.stdout.contains("FAILED lost (")
            && run
                .stdout
                .contains("the job ended without writing its exit status"),
        "{run:?}"
    );
}

/// A job whose node fails (Slurm ends it `NODE_FAIL`) is the cluster's doing, not the
/// task's: it runs again as the next attempt, though the task has no `retries`, and the
/// build succeeds. Its own cluster: downing the node kills every job on it.
#[test]
fn a_job_whose_node_fails_runs_again_as_its_next_attempt() {
    let Some(mut cluster) = SlurmCluster::start_private() else {
        return;
    };
    let project = on_cluster(
        "nodefail",
        "[tasks.t]\noutputs = [\"t.txt\"]\n\
         run = \"echo $CONDUCT_ATTEMPT >> ran.log; if [ $CONDUCT_ATTEMPT = 1 ]; then sleep 300; fi; touch t.txt\"\n",
    );
    let child = spawn_on(&cluster, &project, &["build"]);
    // The first attempt runs (its command started) ...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let running = loop {
        let jobs = cluster.squeue_jobs("conduct:nodefail:");
        if let [id] = &jobs[..]
            && cluster.job_state(id) == "RUNNING"
            && project.path().join("ran.log").exists()
        {
            break id.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the job never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // ... when its node goes down (it comes back at once: ReturnToService=2).
    cluster.client(
        "scontrol",
        &[
            "update",
            "nodename=node1",
            "state=down",
            "reason=conduct-test",
        ],
    );
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(project.ran(), ["1", "2"], "{stdout}");
    assert!(
        stdout.contains("[retry 1] FAILED t") && stdout.contains("NODE_FAIL"),
        "{stdout}"
    );
    assert_eq!(cluster.job_state(&running), "NODE_FAIL");
    let status = project.conduct(&["status"]);
    assert!(
        status.stdout.contains("ok") && status.stdout.contains("2 attempts"),
        "{status:?}"
    );
    cluster.stop();
}

/// `--fail-fast` cancels the build's other jobs on the cluster (a local build lets them
/// finish): the build ends at once and leaves nothing queued.
#[test]
fn fail_fast_cancels_the_other_jobs() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = on_cluster(
        "failfast",
        "[tasks.bad]\noutputs = [\"bad.txt\"]\nrun = \"sleep 1; exit 1\"\n\
         [tasks.long]\noutputs = [\"long.txt\"]\nrun = \"sleep 300; touch long.txt\"\n",
    );
    let started = std::time::Instant::now();
    let run = conduct_on(cluster, &project, &["build", "--fail-fast", "-j", "2"]);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("cancelling the build's jobs"),
        "{run:?}"
    );
    assert!(run.stdout.contains("INTERRUPTED long"), "{run:?}");
    assert!(cluster.squeue_jobs("conduct:failfast:").is_empty());
    assert!(!project.path().join("long.txt").exists());
}

#[test]
fn a_partition_the_cluster_lacks_is_exit_2_before_anything_runs() {
    let Some(cluster) = SlurmCluster::shared() else {
        return;
    };
    let project = Project::new(
        "[project]\nexecutor = \"slurm\"\n[slurm]\npartition = \"nope\"\n\
         [tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a >> ran.log; touch a.txt\"\n",
    );
    let run = conduct_on(cluster, &project, &["build"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("no partition named `nope`"), "{run:?}");
    assert!(project.ran().is_empty());
}
