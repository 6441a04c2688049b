//! Issue 12's reproducers, each a test that failed before its fix (run them against an
//! older conduct with `CONDUCT_TEST_BIN=…`): writes outside the project, data deleted
//! by a config line, caches read back without checks, panics on long names. Every
//! project here has a "victim" directory beside it that the harness snapshots and
//! compares after each run, so a write outside the project fails the test that made it.

use std::fs;
use std::os::unix::fs::symlink;

use crate::test::{Project, Test};

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file()
                && fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

// 1. A restore never writes through a symlink planted inside a directory output.
#[test]
fn a_restore_never_writes_through_a_symlink_inside_a_directory_output() {
    let project = Project::new(
        r#"
        [tasks.A]
        outputs = ["out/d/"]
        run = "mkdir -p out/d/sub; echo real > out/d/sub/f"
        "#,
    );
    project.build(&[], 0);
    fs::remove_dir_all(project.path().join("out/d/sub")).unwrap();
    symlink(
        project.victim().join("sub"),
        project.path().join("out/d/sub"),
    )
    .unwrap();
    let run = project.build(&["--explain"], 0);
    assert!(
        run.stdout.contains("A is fresh") || run.stdout.contains("restored"),
        "{run:#?}"
    );
    // The harness has already checked that victim/sub/f still says VICTIM.
    assert_eq!(project.read("out/d/sub/f"), "real\n");
    assert!(!project.path().join("out/d/sub").is_symlink());
}

// 2. An output that is a symlink out of the project fails its task; nothing of what
// it points to reaches the cache.
#[test]
fn an_output_symlink_leading_out_fails_the_task_and_nothing_is_copied() {
    let project = Project::new("");
    let victim = project.victim().display().to_string();
    project.file(
        "tasks.toml",
        &format!(
            r#"
            [tasks.A]
            outputs = ["outd/"]
            run = "ln -s '{victim}' outd"

            [tasks.B]
            outputs = ["out.txt"]
            run = "ln -s '{victim}/secret.txt' out.txt"
            "#
        ),
    );
    let run = project.build(&[], 1);
    assert!(
        run.stdout
            .contains("output outd/ leads outside the project")
            || run
                .stderr
                .contains("output outd/ leads outside the project"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("output out.txt leads outside the project")
            || run
                .stderr
                .contains("output out.txt leads outside the project"),
        "the real reason, not \"missing\": {run:#?}"
    );
    assert_eq!(
        files_containing(&project.path().join(".cache"), b"VICTIM"),
        Vec::<String>::new()
    );
}

#[test]
fn symlinks_inside_the_project_are_stored_and_restored_as_symlinks() {
    let project = Project::new(
        r#"
        [tasks.A]
        outputs = ["outd/", "real/"]
        run = "mkdir -p real outd && echo hi > real/x && ln -s ../real/x outd/link && ln -s \"$PWD/real\" outd/abs"
        "#,
    );
    project.build(&[], 0);
    fs::remove_dir_all(project.path().join("outd")).unwrap();
    let run = project.build(&["--explain"], 0);
    assert!(run.stdout.contains("restored"), "{run:#?}");
    let link = project.path().join("outd/link");
    assert!(link.is_symlink());
    assert_eq!(fs::read_link(&link).unwrap().to_str(), Some("../real/x"));
    assert_eq!(project.read("outd/link"), "hi\n");
    // An absolute link inside the project is kept relative, so the cache is portable.
    assert_eq!(
        fs::read_link(project.path().join("outd/abs"))
            .unwrap()
            .to_str(),
        Some("../real")
    );
    project.build(&[], 0);
    let run = project.build(&[], 0);
    assert!(run.stdout.contains("0 ran, 1 fresh"), "{run:#?}");
}

// 5. The cache directory is conduct's own.
#[test]
fn a_cache_directory_naming_sources_or_git_is_refused() {
    for (cache, what) in [
        (
            "src",
            "`cache` = `src` holds `src/a.txt`, an input of task `A`",
        ),
        (".git", "`cache` = `.git` is `.git`, the git repository"),
        (".", "path `.` is empty"),
        ("out", "`cache` = `out` is `out/`, an output of task `A`"),
        ("rules", "`cache` = `rules` is `rules`, the rules directory"),
    ] {
        Test::new()
            .tasks_toml(&format!(
                r#"
                [project]
                cache = "{cache}"
                [tasks.A]
                inputs = ["src/a.txt"]
                outputs = ["out/"]
                run = "mkdir -p out"
                "#
            ))
            .file("src/a.txt", "source\n")
            .args(["clean"])
            .stderr_contains(what)
            .stderr_contains("--> tasks.toml:2:9")
            .status(2)
            .run();
    }
}

#[test]
fn a_directory_conduct_did_not_make_is_never_used_or_emptied_as_its_cache() {
    let project = Project::new(
        r#"
        [project]
        cache = "mine"
        [tasks.A]
        outputs = ["out.txt"]
        run = "echo a > out.txt"
        "#,
    );
    project.file("mine/notes.txt", "my notes\n");
    for args in [&["build"][..], &["clean", "--cache"], &["cache", "gc"]] {
        let run = project.conduct(args);
        assert_eq!(run.status, 2, "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("`mine` is not conduct's cache directory: it holds `notes.txt`"),
            "{run:#?}"
        );
    }
    assert_eq!(project.read("mine/notes.txt"), "my notes\n");
    assert!(!project.exists("out.txt"), "nothing ran");

    // Its own cache: made, marked, and `clean` empties only what conduct keeps there.
    let project = Project::new(
        r#"
        [tasks.A]
        outputs = ["out.txt"]
        run = "echo a > out.txt"
        "#,
    );
    project.build(&[], 0);
    assert!(
        project
            .read(".cache/CACHEDIR.TAG")
            .starts_with("Signature: 8a477f597d28d172789f06886806bc55")
    );
    project.file(".cache/mine.txt", "put here by hand\n");
    let run = project.conduct(&["clean", "--cache"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(project.read(".cache/mine.txt"), "put here by hand\n");
    assert!(!project.exists(".cache/state"));
}

// 6. Declared outputs may not name what conduct must never delete.
#[test]
fn outputs_naming_critical_paths_are_refused_at_check() {
    for (output, what) in [
        ("tasks.toml", "is the config file `tasks.toml`"),
        (".git/", "is the git repository `.git`"),
        (
            ".git/hooks/pre-commit",
            "is inside the git repository `.git`",
        ),
        (".cache/", "is conduct's cache directory `.cache`"),
        (
            ".cache/state/state.bin",
            "is inside conduct's cache directory",
        ),
        ("rules/lint.toml", "is inside the rules directory `rules`"),
        (
            ".conductor/",
            "is a directory holding the agent worktrees directory",
        ),
    ] {
        Test::new()
            .tasks_toml(&format!(
                r#"
                [tasks.A]
                outputs = ["{output}"]
                run = "true"
                "#
            ))
            .args(["check"])
            .stderr_contains(&format!("output `{output}` of task `A` {what}"))
            .stderr_contains("--> tasks.toml:2:12")
            .status(2)
            .run();
    }
}

#[test]
fn a_file_conduct_did_not_make_is_never_deleted_before_a_run() {
    let project = Project::new(
        r#"
        [tasks.gen]
        outputs = ["src/a.txt"]
        run = "echo gen >> ran.log"

        [tasks.use]
        inputs = ["src/a.txt"]
        outputs = ["out.txt"]
        run = "cp src/a.txt out.txt"
        "#,
    );
    project.file("src/a.txt", "the only copy\n");
    project.build(&[], 0);
    assert_eq!(project.read("src/a.txt"), "the only copy\n");
    assert_eq!(project.read("out.txt"), "the only copy\n");
}

// 7. Long names: a clear error at `check`, never a panic.
#[test]
fn very_long_titles_render_and_over_long_ids_are_refused() {
    let title = "t".repeat(70_000);
    let project = Project::new(&format!(
        r#"
        [tasks.A]
        title = "{title}"
        agent = "agent"
        outputs = ["a.txt"]
        run = "echo a > a.txt"
        "#
    ));
    for args in [
        &["list"][..],
        &["status"],
        &["plan", "--all"],
        &["build"],
        &["status"],
    ] {
        let run = project.conduct(args);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
    }
    let id = "x".repeat(253);
    Test::new()
        .tasks_toml(&format!("[tasks.{id}]\nrun = \"true\"\n"))
        .args(["check"])
        .stderr_contains("is 253 characters long (at most 100)")
        .status(2)
        .run();
    Test::new()
        .tasks_toml("[tasks.A]\nagent = \"../../../tmp/x\"\nrun = \"true\"\n")
        .args(["check"])
        .stderr_contains("agent `../../../tmp/x` contains '/'")
        .status(2)
        .run();
}

// 9. Temporary files live in .cache/tmp/, and a dead process's are cleared.
#[test]
fn temporaries_of_a_dead_conduct_are_cleared_by_the_next_build() {
    let project = Project::new(
        r#"
        [tasks.A]
        outputs = ["out/big.bin"]
        run = "mkdir -p out && head -c 300000 /dev/zero > out/big.bin"
        "#,
    );
    project.build(&[], 0);
    project.write(".cache/tmp/999999999-0", b"torn by kill -9");
    fs::remove_file(project.path().join("out/big.bin")).unwrap();
    project.build(&[], 0);
    assert!(!project.exists(".cache/tmp/999999999-0"));
    let stray: Vec<_> = fs::read_dir(project.path().join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stray, ["big.bin"], "no temporary beside the output");
}

// 10. `check` and `build` judge symlinks by one rule.
#[test]
fn check_and_build_agree_on_a_glob_matching_a_symlink_out_of_the_project() {
    let project = Project::new(
        r#"
        [tasks.A]
        inputs = ["src/*"]
        outputs = ["out.txt"]
        run = "cat src/* > out.txt"
        "#,
    );
    project.file("src/a.txt", "a\n");
    symlink(
        project.victim().join("secret.txt"),
        project.path().join("src/pw"),
    )
    .unwrap();
    for args in [&["check"][..], &["build"]] {
        let run = project.conduct(args);
        assert_eq!(run.status, 2, "{args:?}: {run:#?}");
        assert!(
            run.stderr
                .contains("path `src/pw` goes through a symlink out of the project root"),
            "{args:?}: {run:#?}"
        );
    }
}

// 11. Control characters in declared paths; odd file names escaped by --explain.
#[test]
fn control_characters_are_refused_in_declared_paths_and_escaped_in_explanations() {
    Test::new()
        .tasks_toml("[tasks.A]\noutputs = [\"out/a\\nb.txt\"]\nrun = \"true\"\n")
        .args(["check"])
        .stderr_contains("contains a control character")
        .status(2)
        .run();
    let project = Project::new(
        r#"
        [tasks.A]
        inputs = ["src/*"]
        outputs = ["out.txt"]
        run = "cat src/* > out.txt"
        "#,
    );
    project.file("src/a.txt", "a\n");
    project.build(&[], 0);
    project.file("src/odd\nname.txt", "b\n");
    let run = project.build(&["--explain"], 0);
    assert!(
        run.stdout.contains("input src/odd\\nname.txt added"),
        "{run:#?}"
    );
}

// 12. `cache gc` and `accept` without arguments, as SPEC §6 shows them.
#[test]
fn gc_uses_the_configured_bound_and_accept_takes_every_task() {
    let project = Project::new(
        r#"
        [cache]
        max_size = "1M"
        [tasks.A]
        outputs = ["a.txt"]
        run = "echo a > a.txt"
        [tasks.B]
        outputs = ["b.txt"]
        run = "echo b > b.txt"
        "#,
    );
    project.build(&[], 0);
    let run = project.conduct(&["cache", "gc"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert!(run.stdout.starts_with("removed 0 entries"), "{run:#?}");
    let run = project.conduct(&["accept"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert!(run.stdout.starts_with("accepting all 2 tasks"), "{run:#?}");
}

/// Replace every occurrence of `from` by `to` (same length) in the file at `path`;
/// how many there were.
fn patch(path: &std::path::Path, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut bytes = fs::read(path).unwrap();
    let mut count = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        bytes[at + found..at + found + to.len()].copy_from_slice(to);
        at += found + from.len();
        count += 1;
    }
    fs::write(path, bytes).unwrap();
    count
}

// 3. The parsed-config cache is checked before it is believed.
#[test]
fn a_tampered_config_cache_never_runs_a_command_that_is_not_in_tasks_toml() {
    let project = Project::new(
        r#"
        [tasks.A]
        inputs = ["src/a.txt", "src/b.txt"]
        outputs = ["out.txt"]
        run = "cat src/a.txt > out.txt"
        "#,
    );
    project
        .file("src/a.txt", "from a\n")
        .file("src/b.txt", "from b\n");
    project.build(&[], 0);
    let spec = project.path().join(".cache/state/spec.bin");
    assert_eq!(patch(&spec, b"cat src/a.txt", b"cat src/b.txt"), 1);
    let run = project.build(&["--force"], 0);
    assert_eq!(
        project.read("out.txt"),
        "from a\n",
        "the command of tasks.toml ran"
    );
    assert!(
        run.stderr.contains(".cache/state/spec.bin is damaged")
            || run.stdout.contains(".cache/state/spec.bin is damaged"),
        "{run:#?}"
    );
    let run = project.build(&[], 0);
    assert!(run.stdout.contains("0 ran, 1 fresh"), "{run:#?}");
}

#[test]
fn damaged_state_and_journal_are_warned_about_and_never_trusted() {
    let project = Project::new(
        r#"
        [tasks.A]
        inputs = ["src/a.txt"]
        outputs = ["out.txt"]
        run = "echo A >> ran.log; cat src/a.txt > out.txt"
        "#,
    );
    project.file("src/a.txt", "one\n");
    project.build(&[], 0);
    let state = project.path().join(".cache/state/state.bin");
    let mut bytes = fs::read(&state).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&state, bytes).unwrap();
    project.ran();
    let run = project.build(&[], 0);
    assert!(
        run.stdout.contains("state.bin is damaged") || run.stderr.contains("state.bin is damaged"),
        "{run:#?}"
    );
    assert_eq!(project.read("out.txt"), "one\n");
    // A change is journalled; a flipped byte in its record is caught too.
    project.file("src/a.txt", "two\n");
    project.build(&[], 0);
    let journal = project.path().join(".cache/state/state.log");
    let mut bytes = fs::read(&journal).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    fs::write(&journal, bytes).unwrap();
    let run = project.build(&[], 0);
    assert!(
        run.stdout.contains("state.log has a damaged record")
            || run.stderr.contains("state.log has a damaged record"),
        "{run:#?}"
    );
    assert_eq!(project.read("out.txt"), "two\n");
}

// 4. Action-cache records carry checksums; `cache verify` checks them.
#[test]
fn a_flipped_byte_in_an_action_record_is_a_miss_and_verify_finds_it() {
    let project = Project::new(
        r#"
        [tasks.A]
        outputs = ["out/d3/"]
        run = "echo A >> ran.log; mkdir -p out/d3 && echo a > out/d3/alpha"
        "#,
    );
    project.build(&[], 0);
    project.ran();
    let mut flipped = 0;
    for pack in fs::read_dir(project.path().join(".cache/ac")).unwrap() {
        flipped += patch(&pack.unwrap().path(), b"out/d3/alpha", b"out/d3/alphb");
    }
    assert!(flipped >= 1);
    fs::remove_dir_all(project.path().join("out")).unwrap();
    let run = project.build(&[], 0);
    assert_eq!(project.ran(), ["A"], "a miss: the task ran again");
    assert!(!project.exists("out/d3/alphb"), "never a wrong output");
    assert_eq!(project.read("out/d3/alpha"), "a\n");
    assert!(
        run.stdout.contains("damaged record") || run.stderr.contains("damaged record"),
        "{run:#?}"
    );
    // The rerun stored a sound record; damage that one and ask `cache verify`.
    let mut flipped = 0;
    for pack in fs::read_dir(project.path().join(".cache/ac")).unwrap() {
        flipped += patch(&pack.unwrap().path(), b"out/d3/alpha", b"out/d3/alphb");
    }
    assert!(flipped >= 1);
    let verify = project.conduct(&["cache", "verify"]);
    assert_eq!(verify.status, 1, "{verify:#?}");
    assert!(verify.stdout.contains("is damaged"), "{verify:#?}");
    let verify = project.conduct(&["cache", "verify"]);
    assert_eq!(verify.status, 0, "{verify:#?}");
}

#[test]
fn a_damaged_run_record_is_skipped_by_report() {
    let project = Project::new(
        r#"
        [tasks.A]
        outputs = ["a.txt"]
        run = "echo a > a.txt"
        "#,
    );
    project.build(&[], 0);
    project.build(&["--force"], 0);
    let mut runs: Vec<_> = fs::read_dir(project.path().join(".cache/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2);
    assert!(patch(&runs[1], b"\"ok\"", b"\"no\"") >= 1);
    let report = project.conduct(&["report"]);
    assert_eq!(report.status, 0, "{report:#?}");
    assert!(
        report.stderr.contains("checksum does not match"),
        "{report:#?}"
    );
}

/// Processes whose environment has `MARK=<mark>` and that still run.
fn marked_processes(mark: &str) -> Vec<u32> {
    let needle = format!("MARK={mark}");
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            let env = fs::read(entry.path().join("environ")).ok()?;
            let marked = env.split(|&b| b == 0).any(|e| e == needle.as_bytes());
            (marked && state != 'Z').then_some(pid)
        })
        .collect()
}

/// Wait (up to 10 s) until no process carries `mark`.
#[track_caller]
fn assert_all_gone(mark: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !marked_processes(mark).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {:?}",
            marked_processes(mark)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// 8. Nothing a task started outlives it, or conduct.
#[test]
fn leftovers_of_a_task_are_killed_and_named_in_its_line() {
    let mark = format!("leftover-{}", std::process::id());
    let project = Project::new(&format!(
        r#"
        [tasks.A]
        outputs = ["out.txt"]
        env = {{ MARK = "{mark}" }}
        run = "sleep 30 & setsid sleep 30 & echo done > out.txt"
        "#
    ));
    let run = project.build(&[], 0);
    assert!(
        run.stdout.contains("killed 2 leftover processes"),
        "{run:#?}"
    );
    assert!(
        marked_processes(&mark).is_empty(),
        "killed before the build ended"
    );
}

#[test]
fn a_killed_conduct_takes_its_tasks_with_it() {
    let mark = format!("orphan-{}", std::process::id());
    let project = Project::new(&format!(
        r#"
        [tasks.A]
        outputs = ["out.txt"]
        env = {{ MARK = "{mark}" }}
        run = "(sleep 30; echo late > late.txt) & setsid sleep 30 & echo started > started; sleep 30; echo A > out.txt"
        "#
    ));
    let mut child = std::process::Command::new(crate::test::binary())
        .args(["build", "-q"])
        .current_dir(project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !project.exists("started") {
        assert!(
            std::time::Instant::now() < deadline,
            "the task never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        marked_processes(&mark).len() >= 3,
        "sh, its subshell, the setsid sleep"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_all_gone(&mark);
    assert!(!project.exists("late.txt"));
    // The next build runs the task again, undisturbed.
    project.write(
        "tasks.toml",
        b"[tasks.A]\noutputs = [\"out.txt\"]\nrun = \"echo A > out.txt\"\n",
    );
    project.build(&[], 0);
    assert_eq!(project.read("out.txt"), "A\n");
}

// Found by the scheduler's property test: a group that runs after an empty group had
// its tasks handed out twice, and the build never ended.
#[test]
fn a_group_after_an_empty_group_runs_each_task_once_and_ends() {
    let project = Project::new(
        r#"
        [groups.G0]
        [groups.G2]
        after = ["G0"]
        [tasks.a]
        run = "echo a >> ran.log"
        [tasks.t]
        group = "G2"
        run = "echo t >> ran.log"
        [tasks.u]
        deps = ["t"]
        run = "echo u >> ran.log"
        "#,
    );
    let mut child = std::process::Command::new(crate::test::binary())
        .args(["build", "-q"])
        .current_dir(project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the build never ended; ran {:?}", project.ran());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success());
    let mut ran = project.ran();
    ran.sort();
    assert_eq!(ran, ["a", "t", "u"]);
}
