//! Running tasks on a Slurm cluster (issue 17): the configuration, and what a build says
//! when the cluster cannot be reached. The builds against a real single-node cluster
//! on loopback are in `slurm_cluster.rs`.

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
