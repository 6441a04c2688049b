//! Agent workspaces (SPEC §7) through the real binary, in temporary git repositories:
//! worktree tasks run in their own worktrees on their own branches, commit what they
//! made with their check results, and hand their outputs to the root, the cache and
//! their dependents. Tasks append their id to `$CONDUCT_ROOT/ran.log`, so the count of
//! what ran is the same as in every other test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::test::{Project, Test};

/// `git ARGS` in `dir`; panics with git's stderr when it fails.
#[track_caller]
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

/// A project that is a git repository with everything committed.
pub(crate) fn repository(tasks_toml: &str, files: &[(&str, &str)]) -> Project {
    let project = Project::new(tasks_toml);
    project.file(".gitignore", ".cache/\n.conductor/\nran.log\n*.here\n");
    for (path, text) in files {
        project.file(path, text);
    }
    let dir = project.path();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    git(dir, &["config", "user.name", "Test"]);
    git(dir, &["config", "user.email", "test@example.com"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", "start"]);
    project
}

fn workspace(project: &Project, name: &str) -> PathBuf {
    project.path().join(".conductor/workspaces").join(name)
}

/// Each of `a` and `b` says it is here, then waits (up to 20 s) for the other: both
/// finish only if they ran at the same time.
const MEET: &str = r#"
    [tasks.A]
    title = "Write the schema"
    agent = "db"
    workspace = "worktree"
    inputs = ["spec.md#A"]
    outputs = ["schema.sql"]
    checks = ["non_empty"]
    run = '''
    echo A >> "$CONDUCT_ROOT/ran.log"; pwd > "$CONDUCT_ROOT/A.here"
    for i in $(seq 200); do [ -e "$CONDUCT_ROOT/B.here" ] && break; sleep 0.1; done
    [ -e "$CONDUCT_ROOT/B.here" ] && echo "create table a;" > schema.sql
    '''

    [tasks.B]
    title = "Write the API"
    agent = "api"
    workspace = "worktree"
    outputs = ["api.ts"]
    run = '''
    echo B >> "$CONDUCT_ROOT/ran.log"; pwd > "$CONDUCT_ROOT/B.here"
    for i in $(seq 200); do [ -e "$CONDUCT_ROOT/A.here" ] && break; sleep 0.1; done
    [ -e "$CONDUCT_ROOT/A.here" ] && echo "export {}" > api.ts
    '''
"#;

const SPEC: &str = "# Spec\n\n## A: Schema\n\nOne table.\n\n## B: API\n\nOne route.\n";

#[test]
fn two_worktree_tasks_run_in_parallel_each_on_its_branch_and_commit() {
    let project = repository(MEET, &[("spec.md", SPEC)]);
    let run = project.build(&["-j", "2"], 0);
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["A", "B"]);

    // Separate worktrees, on the branches SPEC §7 names, each from HEAD.
    let (a, b) = (
        workspace(&project, "agent-A-db"),
        workspace(&project, "agent-B-api"),
    );
    let here = |task: &str| PathBuf::from(project.read(&format!("{task}.here")).trim());
    assert_eq!(here("A").canonicalize().ok(), a.canonicalize().ok());
    assert_eq!(here("B").canonicalize().ok(), b.canonicalize().ok());
    let worktrees = git(project.path(), &["worktree", "list", "--porcelain"]);
    assert!(
        worktrees.contains("branch refs/heads/agent/A/db")
            && worktrees.contains("branch refs/heads/agent/B/api"),
        "{worktrees}"
    );

    // Each branch got one commit on top of main: the title, then the check results.
    let start = git(project.path(), &["rev-parse", "main"]);
    for (branch, title, file) in [
        ("agent/A/db", "feat(A): Write the schema", "schema.sql"),
        ("agent/B/api", "feat(B): Write the API", "api.ts"),
    ] {
        assert_eq!(
            git(project.path(), &["rev-parse", &format!("{branch}~1")]),
            start
        );
        let message = git(project.path(), &["log", "-1", "--format=%B", branch]);
        assert_eq!(message.lines().next(), Some(title), "{message}");
        assert_eq!(
            git(
                project.path(),
                &["show", "--format=", "--name-only", branch]
            ),
            file
        );
        assert!(
            run.stdout.contains(&format!("on {branch}")),
            "{}",
            run.stdout
        );
    }
    let message = git(project.path(), &["log", "-1", "--format=%B", "agent/A/db"]);
    assert!(
        message.contains("Checks:\n- non_empty: passed"),
        "the check results are in the body: {message}"
    );
    // main itself is untouched: the work is on the branches, for review.
    assert_eq!(git(project.path(), &["rev-parse", "HEAD"]), start);

    // The outputs are in the root and in the cache.
    assert_eq!(project.read("schema.sql"), "create table a;\n");
    assert_eq!(project.read("api.ts"), "export {}\n");
    std::fs::remove_file(project.path().join("schema.sql")).expect("remove an output");
    let run = project.build(&[], 0);
    assert!(project.ran().is_empty(), "restored, not rerun: {run:#?}");
    assert_eq!(project.read("schema.sql"), "create table a;\n");
}

#[test]
fn a_dependent_sees_its_dependencys_outputs_and_an_edit_reuses_the_worktree() {
    let project = repository(
        r#"
        [tasks.A]
        workspace = "worktree"
        inputs = ["spec.md#A"]
        outputs = ["gen/schema.sql"]
        run = 'echo A >> "$CONDUCT_ROOT/ran.log"; mkdir -p gen; grep -c . spec.md > gen/schema.sql'

        [tasks.B]
        workspace = "worktree"
        inputs = ["gen/schema.sql", "spec.md#B"]
        outputs = ["api.txt"]
        run = 'echo B >> "$CONDUCT_ROOT/ran.log"; cp gen/schema.sql api.txt; cat TASK_INSTRUCTION.md > instruction.copy'
        "#,
        &[("spec.md", SPEC)],
    );
    project.build(&[], 0);
    assert_eq!(project.ran(), ["A", "B"]);
    // B ran in its own worktree with A's output brought in.
    let b = workspace(&project, "agent-B");
    assert_eq!(project.read("api.txt"), project.read("gen/schema.sql"));
    let instruction = std::fs::read_to_string(b.join("instruction.copy")).expect("copy");
    assert!(instruction.contains("One route."), "{instruction}");
    assert_eq!(project.read(".cache/instructions/B.md"), instruction);
    let head_before = git(&b, &["rev-parse", "HEAD"]);
    std::fs::write(b.join("left.by.a.human"), "notes").expect("write into the worktree");

    // Edit B's section only: B reruns in the same worktree, on top of its last commit.
    project.file("spec.md", &SPEC.replace("One route.", "Two routes."));
    let run = project.build(&[], 0);
    assert_eq!(project.ran(), ["B"], "{run:#?}");
    assert!(
        b.join("left.by.a.human").exists(),
        "the same worktree, not a new one"
    );
    let instruction = std::fs::read_to_string(b.join("instruction.copy")).expect("copy");
    assert!(instruction.contains("Two routes."), "{instruction}");
    let list = git(project.path(), &["worktree", "list"]);
    assert_eq!(list.lines().count(), 3, "main, A and B: {list}");
    // The content of api.txt did not change, so there is nothing new to commit.
    assert_eq!(git(&b, &["rev-parse", "HEAD"]), head_before);
}

#[test]
fn a_failing_task_keeps_its_worktree_says_where_and_blocks_dependents() {
    let project = repository(
        r#"
        [tasks.A]
        agent = "db"
        workspace = "worktree"
        outputs = ["a.txt"]
        run = 'echo A >> "$CONDUCT_ROOT/ran.log"; echo half > a.txt; echo "agent gave up" >&2; exit 3'

        [tasks.B]
        inputs = ["a.txt"]
        outputs = ["b.txt"]
        run = 'echo B >> "$CONDUCT_ROOT/ran.log"; cp a.txt b.txt'
        "#,
        &[],
    );
    let run = project.build(&[], 1);
    assert_eq!(project.ran(), ["A"]);
    let a = workspace(&project, "agent-A-db");
    assert!(
        run.stdout.contains(&format!(
            "its worktree is kept for inspection: {}",
            a.display()
        )),
        "{run:#?}"
    );
    assert!(run.stdout.contains("blocked B (by A)"), "{run:#?}");
    assert_eq!(
        std::fs::read_to_string(a.join("a.txt")).ok().as_deref(),
        Some("half\n")
    );
    // Nothing half-done reached the root, and nothing was committed.
    assert!(!project.exists("a.txt"));
    let start = git(project.path(), &["rev-parse", "main"]);
    assert_eq!(git(project.path(), &["rev-parse", "agent/A/db"]), start);
}

#[test]
fn a_failing_check_keeps_the_outputs_out_of_the_root() {
    let project = repository(
        r#"
        [tasks.A]
        workspace = "worktree"
        outputs = ["a.txt"]
        checks = ["non_empty"]
        run = 'echo A >> "$CONDUCT_ROOT/ran.log"; : > a.txt'
        "#,
        &[],
    );
    let run = project.build(&[], 1);
    assert_eq!(project.ran(), ["A"]);
    assert!(run.stdout.contains("check non_empty failed"), "{run:#?}");
    assert!(
        !project.exists("a.txt"),
        "an unchecked output stays in the worktree"
    );
    assert!(workspace(&project, "agent-A").join("a.txt").exists());
}

#[test]
fn clean_worktrees_removes_them_and_their_branches_on_request() {
    let project = repository(MEET, &[("spec.md", SPEC)]);
    project.build(&["-j", "2"], 0);
    let run = project.conduct(&["clean", "--worktrees"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert!(!workspace(&project, "agent-A-db").exists());
    let list = git(project.path(), &["worktree", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    let branches = git(project.path(), &["branch", "--list", "agent/*"]);
    assert_eq!(
        branches.lines().count(),
        2,
        "branches stay by default: {branches}"
    );

    project.build(&["-j", "2", "--force", "A", "B"], 0);
    let run = project.conduct(&["clean", "--worktrees", "--branches"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(git(project.path(), &["branch", "--list", "agent/*"]), "");
}

#[test]
fn worktree_tasks_outside_a_git_repository_are_refused() {
    Test::new()
        .tasks_toml(
            r#"
            [tasks.A]
            workspace = "worktree"
            outputs = ["a.txt"]
            run = "echo a > a.txt"
            "#,
        )
        .args(["build"])
        .status(2)
        .stderr_contains("is not inside a git repository")
        .stderr_contains("git init")
        .run();
}

#[test]
fn show_prints_the_instruction_without_running() {
    let project = repository(
        &format!(
            "{MEET}{}",
            r#"
            [groups.api]
            title = "The API"

            [tasks.C]
            title = "Wire the API to the schema"
            group = "api"
            priority = "high"
            effort = "2h"
            agent = "api"
            workspace = "worktree"
            deps = ["B"]
            inputs = ["schema.sql", "spec.md#B", "notes/*.txt"]
            outputs = ["wired.ts"]
            checks = ["non_empty", "exports"]
            run = "true"
            "#
        ),
        &[("spec.md", SPEC), ("notes/one.txt", "1\n")],
    );
    project.file(
        "rules/exports.toml",
        r#"
        description = "TypeScript outputs export something"
        applies_to = ["**/*.ts"]
        pattern = '(?m)^export '
        forbid = false
        required = false
        "#,
    );
    let run = project.conduct(&["show", "C"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert!(project.ran().is_empty());
    assert!(
        !project.path().join(".conductor").exists(),
        "nothing was set up"
    );
    insta::assert_snapshot!("the_instruction_of_a_worktree_task", run.stdout);

    let run = project.conduct(&["show", "c"]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("`C`"), "{run:#?}");
}

#[test]
fn worktree_setup_runs_once_per_new_worktree_and_a_failing_one_fails_the_task() {
    let project = repository(
        r#"
        [project]
        worktree_setup = 'echo "$CONDUCT_WORKSPACE" >> "$CONDUCT_ROOT/setup.log"; cp "$CONDUCT_ROOT/untracked.env" .'

        [tasks.A]
        workspace = "worktree"
        outputs = ["a.txt"]
        run = 'echo A >> "$CONDUCT_ROOT/ran.log"; cp untracked.env a.txt'
        "#,
        &[],
    );
    project.file("untracked.env", "KEY=1\n");
    project.build(&[], 0);
    assert_eq!(
        project.read("a.txt"),
        "KEY=1\n",
        "setup copied the untracked file"
    );
    project.build(&["--force", "A"], 0);
    assert_eq!(project.ran(), ["A", "A"]);
    let setups = project.read("setup.log");
    assert_eq!(
        setups.lines().count(),
        1,
        "once, for the new worktree: {setups}"
    );

    project.conduct(&["clean", "--worktrees"]);
    std::fs::remove_file(project.path().join("untracked.env")).expect("remove");
    let run = project.build(&["--force", "A"], 1);
    assert!(project.ran().is_empty(), "the task did not start: {run:#?}");
    assert!(run.stdout.contains("`worktree_setup` failed"), "{run:#?}");
    assert!(
        !workspace(&project, "agent-A").exists(),
        "a worktree whose setup failed is removed, so the next build sets it up again"
    );
}

/// `conduct diff T`: what a worktree task's branch changed since it left HEAD, the stat
/// and then the patch (`--stat`: only the stat); a root task or one not yet run has no
/// branch to show.
#[test]
fn diff_shows_what_a_worktree_tasks_branch_changed() {
    let project = repository(
        "[tasks.W]\nagent = \"db\"\nworkspace = \"worktree\"\noutputs = [\"schema.sql\"]\n\
         run = \"echo 'create table w;' > schema.sql\"\n\
         [tasks.R]\noutputs = [\"r.txt\"]\nrun = \"touch r.txt\"\n",
        &[],
    );
    let before = project.conduct(&["diff", "W"]);
    assert_eq!(before.status, 1, "{before:?}");
    assert!(
        before.stderr.contains("`agent/W/db` does not exist yet"),
        "{before:?}"
    );
    assert!(before.stderr.contains("`conduct build W`"), "{before:?}");
    project.build(&["W"], 0);
    let diff = project.conduct(&["diff", "W"]);
    assert_eq!(diff.status, 0, "{diff:?}");
    assert!(
        diff.stdout.contains("schema.sql | 1 +"),
        "the stat: {diff:?}"
    );
    assert!(
        diff.stdout.contains("+create table w;"),
        "the patch: {diff:?}"
    );
    let stat = project.conduct(&["diff", "W", "--stat"]);
    assert!(stat.stdout.contains("schema.sql | 1 +"), "{stat:?}");
    assert!(!stat.stdout.contains("+create table w;"), "{stat:?}");
    let root = project.conduct(&["diff", "R"]);
    assert_eq!(root.status, 2, "{root:?}");
    assert!(root.stderr.contains("runs in the project root"), "{root:?}");
    let unknown = project.conduct(&["diff", "WW"]);
    assert_eq!(unknown.status, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("unknown target `WW`"),
        "{unknown:?}"
    );
}

/// `conduct merge`: right after a build the root holds untracked copies of the
/// branches' outputs, which a plain `git merge` refuses to overwrite; conduct merges
/// when they are the branch's bytes, refuses (keeping them) when a person changed one,
/// refuses a dirty tree, and aborts a conflict leaving the tree as it was.
/// `--all-passed` merges what it can in dependency order and reports the rest.
#[test]
fn merge_brings_passed_branches_in_and_never_loses_work() {
    let tasks = "[tasks.W1]\nagent = \"a\"\nworkspace = \"worktree\"\noutputs = [\"one.txt\"]\n\
                 run = \"echo one > one.txt\"\n\
                 [tasks.W2]\nagent = \"b\"\nworkspace = \"worktree\"\noutputs = [\"two.txt\"]\n\
                 run = \"echo two > two.txt\"\n\
                 [tasks.W3]\nagent = \"c\"\nworkspace = \"worktree\"\noutputs = [\"three.txt\"]\n\
                 run = \"echo three > three.txt\"\n\
                 [tasks.after3]\nagent = \"d\"\nworkspace = \"worktree\"\ninputs = [\"three.txt\"]\n\
                 outputs = [\"four.txt\"]\nrun = \"cp three.txt four.txt\"\n";
    let project = repository(tasks, &[]);
    let dir = project.path();
    project.build(&[], 0);
    // What plain git does here: refuses, because of the copies in the root.
    let plain = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["merge", "--no-edit", "agent/W1/a"])
        .output()
        .unwrap();
    assert!(
        !plain.status.success(),
        "git merge refuses over untracked copies"
    );
    let merged = project.conduct(&["merge", "W1"]);
    assert_eq!(merged.status, 0, "{merged:?}");
    assert!(
        merged.stdout.contains("merged W1 (agent/W1/a, 1 file)"),
        "{merged:?}"
    );
    assert_eq!(git(dir, &["show", "HEAD:one.txt"]), "one");
    assert_eq!(
        project.conduct(&["merge", "W1"]).stdout,
        "W1 is merged already\n"
    );
    // A person changed the copy of two.txt: refused, the change kept.
    project.file("two.txt", "my edit\n");
    let refused = project.conduct(&["merge", "W2"]);
    assert_eq!(refused.status, 1, "{refused:?}");
    assert!(
        refused
            .stdout
            .contains("two.txt in the working tree is untracked and differs"),
        "{refused:?}"
    );
    assert_eq!(project.read("two.txt"), "my edit\n");
    project.file("two.txt", "two\n");
    // A dirty tree: refused before anything.
    project.file("one.txt", "changed\n");
    let dirty = project.conduct(&["merge", "W2"]);
    assert_eq!(dirty.status, 1, "{dirty:?}");
    assert!(
        dirty.stdout.contains("uncommitted changes (one.txt)"),
        "{dirty:?}"
    );
    git(dir, &["checkout", "--", "one.txt"]);
    // The current branch commits its own three.txt: W3 conflicts, after3 waits, W2 goes
    // in (through the queue: rebased onto main, then fast-forwarded).
    std::fs::remove_file(dir.join("three.txt")).unwrap();
    project.file("three.txt", "main's three\n");
    git(dir, &["add", "three.txt"]);
    git(dir, &["commit", "--quiet", "-m", "main's three"]);
    let all = project.conduct(&["merge", "--all-passed"]);
    assert_eq!(all.status, 1, "{all:?}");
    assert!(all.stdout.contains("W1 is merged already"), "{all:?}");
    assert!(
        all.stdout
            .contains("merged W2 (agent/W2/b, 1 file, rebased onto main)"),
        "{all:?}"
    );
    assert!(
        all.stdout
            .contains("W3 not merged: it conflicts with main in three.txt"),
        "{all:?}"
    );
    assert!(
        all.stdout.contains("after3 not merged: it waits for W3"),
        "{all:?}"
    );
    assert_eq!(
        git(dir, &["status", "--porcelain", "--untracked-files=no"]),
        "",
        "no merge left half done"
    );
    assert_eq!(project.read("three.txt"), "main's three\n");
}

/// A worktree task's `edits` are part of its commit (the merge reconciles them).
#[test]
fn a_worktree_tasks_edits_are_committed_on_its_branch() {
    let project = repository(
        "[tasks.W]\nagent = \"a\"\nworkspace = \"worktree\"\nedits = [\"routes.txt\"]\n\
         outputs = [\"w.txt\"]\nrun = \"echo 'route W' >> routes.txt; touch w.txt\"\n",
        &[("routes.txt", "routes:\n")],
    );
    project.build(&[], 0);
    assert_eq!(
        git(project.path(), &["show", "agent/W/a:routes.txt"]),
        "routes:\nroute W"
    );
    assert_eq!(
        project.read("routes.txt"),
        "routes:\n",
        "the root's copy is the merge's to change"
    );
}
