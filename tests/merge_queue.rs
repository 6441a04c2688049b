//! The merge queue (`conduct merge --all-passed`, issue 19) on real git repositories:
//! passed worktree branches go in one at a time, in dependency order, each rebased onto
//! the current branch, its checks run again on the result, then fast-forwarded. A
//! conflict or a check failing on the rebased result stops that branch (left for
//! review, its dependents wait) while independent ones go on; `--retry-conflicts` sends
//! it back to its task with the conflict as `CONDUCT_FEEDBACK`.

use crate::test::Project;
use crate::worktree::{git, repository};

/// A worktree task `id` that appends its route to the shared `routes.txt` (an edit)
/// and writes `<id>.txt`, with `more` lines of its own.
fn route_task(id: &str, more: &str) -> String {
    format!(
        "[tasks.{id}]\nagent = \"{}\"\nworkspace = \"worktree\"\nedits = [\"routes.txt\"]\n\
         outputs = [\"{id}.txt\"]\n{more}\
         run = '''\necho {id} >> \"$CONDUCT_ROOT/ran.log\"\necho 'route {id}' >> routes.txt\n\
         echo {id} > {id}.txt\n\
         if [ -n \"$CONDUCT_FEEDBACK\" ]; then cp \"$CONDUCT_FEEDBACK\" \"$CONDUCT_ROOT/{id}.told\"; fi\n'''\n\n",
        id.to_lowercase()
    )
}

/// The current branch's commits, oldest first (their subjects).
fn history(project: &Project) -> Vec<String> {
    git(project.path(), &["log", "--reverse", "--format=%s"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Two tasks append to one shared file on their own branches: the first goes in, the
/// second conflicts on its rebase and is stopped and left as it was, the task that
/// depends on it waits, and an independent one still goes in, all fast-forwarded (no
/// merge commit).
#[test]
fn the_queue_merges_what_rebases_cleanly_and_stops_a_conflict() {
    let mut tasks = route_task("A", "");
    tasks.push_str(&route_task("B", ""));
    tasks.push_str(
        "[tasks.C]\nagent = \"c\"\nworkspace = \"worktree\"\noutputs = [\"c.txt\"]\n\
         run = \"echo C >> \\\"$CONDUCT_ROOT/ran.log\\\"; echo c > c.txt\"\n\n\
         [tasks.D]\nagent = \"d\"\nworkspace = \"worktree\"\ninputs = [\"B.txt\"]\n\
         outputs = [\"d.txt\"]\nrun = \"cp B.txt d.txt\"\n",
    );
    let project = repository(&tasks, &[("routes.txt", "routes:\n")]);
    let dir = project.path();
    project.build(&[], 0);
    let b_before = git(dir, &["rev-parse", "agent/B/b"]);
    let queue = project.conduct(&["merge", "--all-passed"]);
    assert_eq!(queue.status, 1, "{queue:?}");
    assert!(
        queue
            .stdout
            .contains("merged A (agent/A/a, 2 files, rebased onto main)"),
        "{queue:?}"
    );
    assert!(
        queue.stdout.contains(
            "B not merged: it conflicts with main in routes.txt; left for review \
             (`conduct diff B`)"
        ),
        "{queue:?}"
    );
    assert!(
        queue.stdout.contains("merged C (agent/C/c, 1 file"),
        "{queue:?}"
    );
    assert!(
        queue.stdout.contains("D not merged: it waits for B"),
        "{queue:?}"
    );
    assert_eq!(history(&project), ["start", "feat(A): A", "feat(C): C"]);
    assert_eq!(
        git(dir, &["rev-list", "--merges", "HEAD"]),
        "",
        "fast-forwards"
    );
    assert_eq!(project.read("routes.txt"), "routes:\nroute A\n");
    assert_eq!(
        git(dir, &["rev-parse", "agent/B/b"]),
        b_before,
        "the stopped branch is left as it was"
    );
    assert_eq!(
        git(dir, &["rev-parse", "agent/A/a"]),
        git(dir, &["rev-parse", "HEAD~1"]),
        "a merged branch points at what landed"
    );
    assert_eq!(
        git(dir, &["status", "--porcelain", "--untracked-files=no"]),
        "",
        "no rebase or merge left half done"
    );
    assert_eq!(
        git(dir, &["worktree", "list"]).lines().count(),
        5,
        "the scratch worktrees are gone: main and the four tasks'"
    );
    // Run again: what is in says so, the conflict is reported again.
    let again = project.conduct(&["merge", "--all-passed"]);
    assert_eq!(again.status, 1, "{again:?}");
    assert!(again.stdout.contains("A is merged already"), "{again:?}");
    assert!(again.stdout.contains("C is merged already"), "{again:?}");
    assert!(
        again.stdout.contains("B not merged: it conflicts"),
        "{again:?}"
    );
}

/// `--retry-conflicts`: the conflicting branch starts again from the current branch,
/// its earlier commits kept under `refs/conduct/retried/`, and its task runs once more
/// with the conflict in `CONDUCT_FEEDBACK`; it passes, goes through the queue again and
/// lands, so both edits of the shared file are in, and the task that waited follows.
#[test]
fn a_conflicting_branch_is_sent_back_to_its_task_with_the_conflict() {
    let mut tasks = route_task("A", "");
    tasks.push_str(&route_task("B", ""));
    tasks.push_str(
        "[tasks.D]\nagent = \"d\"\nworkspace = \"worktree\"\ninputs = [\"B.txt\"]\n\
         outputs = [\"d.txt\"]\nrun = \"echo D >> \\\"$CONDUCT_ROOT/ran.log\\\"; cp B.txt d.txt\"\n",
    );
    let project = repository(&tasks, &[("routes.txt", "routes:\n")]);
    let dir = project.path();
    project.build(&[], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["A", "B", "D"]);
    let b_before = git(dir, &["rev-parse", "agent/B/b"]);
    let queue = project.conduct(&["merge", "--all-passed", "--retry-conflicts"]);
    assert_eq!(queue.status, 0, "{queue:?}");
    assert!(
        queue.stdout.contains(
            "B sent back: it conflicts with main in routes.txt; it runs again from main \
             (its earlier commits: refs/conduct/retried/agent/B/b)"
        ),
        "{queue:?}"
    );
    assert_eq!(project.ran(), ["B"], "only the task sent back runs again");
    let told = project.read("B.told");
    assert!(told.contains("conflicts in: routes.txt"), "{told}");
    assert!(told.contains("<<<<<<<"), "the conflicted hunk: {told}");
    assert!(told.contains("refs/conduct/retried/agent/B/b"), "{told}");
    assert!(queue.stdout.contains("merged B (agent/B/b"), "{queue:?}");
    assert!(queue.stdout.contains("merged D (agent/D/d"), "{queue:?}");
    assert_eq!(project.read("routes.txt"), "routes:\nroute A\nroute B\n");
    assert_eq!(
        history(&project),
        ["start", "feat(A): A", "feat(B): B", "feat(D): D"]
    );
    assert_eq!(
        git(dir, &["rev-parse", "refs/conduct/retried/agent/B/b"]),
        b_before,
        "the first attempt's commits are kept"
    );
    assert_eq!(
        git(dir, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
}

/// Two branches that rebase cleanly can still combine into something that fails: the
/// task's checks run again on the rebased result, and a failure there stops it.
#[test]
fn a_check_that_fails_on_the_rebased_result_stops_the_branch() {
    let unique = "checks = [\"unique\"]\n";
    let mut tasks = route_task("A", unique);
    // B puts the same route at the top: a clean rebase, a duplicate after it.
    tasks.push_str(&route_task("B", unique).replace(
        "echo 'route B' >> routes.txt",
        "sed -i '1a route A' routes.txt",
    ));
    let project = repository(
        &tasks,
        &[("routes.txt", "routes:\nr1\nr2\nr3\nr4\nr5\nr6\nr7\nr8\n")],
    );
    project.file(
        "rules/unique.toml",
        "description = \"no route twice\"\n\
         run = \"test -z \\\"$(sort routes.txt | uniq -d)\\\" || { sort routes.txt | uniq -d; exit 1; }\"\n",
    );
    git(project.path(), &["add", "--all"]);
    git(project.path(), &["commit", "--quiet", "-m", "the rule"]);
    project.build(&[], 0);
    let queue = project.conduct(&["merge", "--all-passed"]);
    assert_eq!(queue.status, 1, "{queue:?}");
    assert!(
        queue.stdout.contains(
            "merged A (agent/A/a, 2 files, rebased onto main; its checks pass there: unique)"
        ),
        "{queue:?}"
    );
    assert!(
        queue
            .stdout
            .contains("B not merged: rebased onto main, check unique fails"),
        "{queue:?}"
    );
    assert_eq!(history(&project), ["start", "the rule", "feat(A): A"]);
}

/// `--all-passed --squash`: one commit per branch, no merge commit, and each branch
/// points at its squash, so it reads as merged. `--retry-conflicts` belongs to the
/// queue: alone it is a usage error.
#[test]
fn the_queue_squashes_each_branch_into_one_commit() {
    let tasks = "[tasks.A]\nagent = \"a\"\nworkspace = \"worktree\"\noutputs = [\"a.txt\"]\n\
                 run = \"echo a > a.txt\"\n\
                 [tasks.B]\nagent = \"b\"\nworkspace = \"worktree\"\noutputs = [\"b.txt\"]\n\
                 run = \"echo b > b.txt\"\n";
    let project = repository(tasks, &[]);
    let dir = project.path();
    let usage = project.conduct(&["merge", "A", "--retry-conflicts"]);
    assert_eq!(usage.status, 2, "{usage:?}");
    assert!(
        usage.stderr.contains("use it with --all-passed"),
        "{usage:?}"
    );
    project.build(&[], 0);
    let queue = project.conduct(&["merge", "--all-passed", "--squash"]);
    assert_eq!(queue.status, 0, "{queue:?}");
    assert_eq!(
        history(&project),
        ["start", "Merge agent/A/a: A", "Merge agent/B/b: B"]
    );
    assert_eq!(git(dir, &["rev-list", "--merges", "HEAD"]), "");
    assert_eq!(
        git(dir, &["rev-parse", "agent/B/b"]),
        git(dir, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        project.conduct(&["merge", "A"]).stdout,
        "A is merged already\n"
    );
}
