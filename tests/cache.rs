//! The build cache (SPEC §8) through the real binary: restore instead of rerun, a
//! copied cache in another checkout, integrity, crashes, concurrent builds, gc.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::test::{Project, copy_dir};

/// Twelve independent tasks and one that depends on them all; a script output too.
fn project() -> Project {
    project_of(12, "")
}

/// `n` independent tasks (each first running `pause`) and one that depends on them all.
fn project_of(n: usize, pause: &str) -> Project {
    let mut toml = String::new();
    for i in 0..n {
        toml.push_str(&format!(
            "[tasks.t{i}]\ninputs = [\"src/{i}.txt\", \"seed.txt\"]\noutputs = [\"out/{i}.txt\"]\nrun = \"{pause}echo t{i} >> ran.log && cat seed.txt src/{i}.txt > out/{i}.txt\"\n"
        ));
    }
    toml.push_str(
        "[tasks.all_of_them]\ninputs = [\"out/*.txt\"]\noutputs = [\"bin/run.sh\", \"dist/\"]\n\
         run = \"echo all_of_them >> ran.log && mkdir -p bin dist/sub && cat out/*.txt > dist/sub/joined.txt && printf '#!/bin/sh\\\\necho hi\\\\n' > bin/run.sh && chmod 755 bin/run.sh\"\n",
    );
    let project = Project::new(&toml);
    project.write("seed.txt", b"seed\n");
    for i in 0..n {
        project.write(&format!("src/{i}.txt"), format!("source {i}\n").as_bytes());
    }
    project
}

fn expected(i: usize, seed: &str) -> String {
    format!("{seed}\nsource {i}\n")
}

#[track_caller]
fn assert_outputs(project: &Project, seed: &str) {
    assert_outputs_of(project, 12, seed);
}

#[track_caller]
fn assert_outputs_of(project: &Project, n: usize, seed: &str) {
    for i in 0..n {
        assert_eq!(
            project.read(&format!("out/{i}.txt")),
            expected(i, seed),
            "out/{i}.txt"
        );
    }
    // `out/*.txt` sorts 0, 1, 10, 11, 2, ...
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|i| i.to_string());
    let joined: String = order.iter().map(|&i| expected(i, seed)).collect();
    assert_eq!(project.read("dist/sub/joined.txt"), joined);
    assert_eq!(project.read("bin/run.sh"), "#!/bin/sh\necho hi\n");
}

#[test]
fn a_deleted_output_is_restored_an_edited_one_only_when_asked() {
    let project = project();
    project.build(&[], 0);
    assert_eq!(project.ran().len(), 13);
    std::fs::remove_file(project.path().join("out/3.txt")).unwrap();
    project.write("out/4.txt", b"edited by hand\n");
    std::fs::remove_dir_all(project.path().join("dist")).unwrap();
    // The edit stops t4 (and what reads it); the deleted outputs come back.
    let stopped = project.build(&[], 1);
    assert!(project.ran().is_empty(), "nothing reran");
    let said = format!("{}{}", stopped.stdout, stopped.stderr);
    assert!(
        said.contains("EDITED t4 (0.00s): out/4.txt changed by hand since conduct wrote it; `conduct accept t4` keeps the edit"),
        "{stopped:#?}"
    );
    assert!(
        said.contains("1 restored, 0 failed, 1 blocked, 1 edited"),
        "t3 restored, the task reading t4 waits: {said}"
    );
    assert_eq!(project.read("out/4.txt"), "edited by hand\n");
    assert!(project.exists("out/3.txt"));
    // Asked to, the cache gives t4's output back over the edit.
    let run = project.build(&["--explain", "--discard-edits"], 0);
    assert!(project.ran().is_empty(), "nothing reran");
    assert!(
        run.stdout
            .contains("t4 is fresh (cache hit: restored 1 output)\n  output out/4.txt modified\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 restored"),
        "t4 and dist: {}",
        run.stdout
    );
    assert_outputs(&project, "seed");

    std::fs::remove_file(project.path().join("bin/run.sh")).unwrap();
    let run = project.build(&["--json"], 0);
    let restored: Vec<_> = run
        .events()
        .into_iter()
        .filter(|e| e["event"] == "task_restored")
        .collect();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0]["task"], "all_of_them");
    assert_eq!(restored[0]["restored"], 1);
    let mode = std::fs::metadata(project.path().join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "restored with its recorded mode");
}

#[test]
fn a_clone_elsewhere_with_a_copied_cache_runs_nothing() {
    let project = project();
    project.build(&[], 0);
    let clone = Project::new(&project.read("tasks.toml"));
    for dir in ["src", ".cache"] {
        copy_dir(&project.path().join(dir), &clone.path().join(dir));
    }
    clone.write("seed.txt", b"seed\n");
    let run = clone.build(&["--json"], 0);
    assert!(clone.ran().is_empty(), "no task ran in the clone");
    assert_eq!(run.events().last().unwrap()["counts"]["restored"], 13);
    for path in [
        "out/0.txt",
        "out/11.txt",
        "dist/sub/joined.txt",
        "bin/run.sh",
    ] {
        assert_eq!(
            std::fs::read(clone.path().join(path)).unwrap(),
            std::fs::read(project.path().join(path)).unwrap(),
            "{path}"
        );
    }
    clone.build(&[], 0);
    assert!(clone.ran().is_empty());
}

fn blob_of(project: &Project, content: &str) -> std::path::PathBuf {
    let hex = blake3::hash(content.as_bytes()).to_hex().to_string();
    project.path().join(".cache/cas").join(&hex[..2]).join(hex)
}

fn flip_a_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupt_blob_is_a_miss_never_a_wrong_output() {
    let project = project();
    // Outputs over 16 KiB are CAS blobs (smaller ones live inside their entry).
    let big = "seed".repeat(5000);
    project.write("seed.txt", format!("{big}\n").as_bytes());
    project.build(&[], 0);
    project.ran();
    flip_a_byte(&blob_of(&project, &expected(5, &big)));
    std::fs::remove_file(project.path().join("out/5.txt")).unwrap();
    let run = project.build(&["--explain"], 0);
    assert_eq!(project.ran(), ["t5"], "the task reran instead");
    assert!(
        run.stdout
            .contains("the cached result could not be restored"),
        "{}",
        run.stdout
    );
    assert_eq!(project.read("out/5.txt"), expected(5, &big));
    // The rerun stored a good blob again: the next restore works.
    std::fs::remove_file(project.path().join("out/5.txt")).unwrap();
    project.build(&[], 0);
    assert!(project.ran().is_empty());
    assert_eq!(project.read("out/5.txt"), expected(5, &big));

    flip_a_byte(&blob_of(&project, &expected(6, &big)));
    let verify = project.conduct(&["cache", "verify"]);
    assert_eq!(verify.status, 1, "{verify:#?}");
    assert!(verify.stdout.contains("corrupt blob"), "{}", verify.stdout);
    assert!(
        verify.stdout.contains("cannot be restored (removed)"),
        "{}",
        verify.stdout
    );
    let verify = project.conduct(&["cache", "verify"]);
    assert_eq!(verify.status, 0, "{verify:#?}");
    assert!(verify.stdout.ends_with("ok\n"));
}

#[test]
fn a_tampered_inline_output_is_a_miss_never_a_wrong_output() {
    let project = project();
    project.build(&[], 0);
    project.ran();
    // Change a byte of out/5.txt's contents wherever the cache keeps them (t5's entry,
    // and all_of_them's, whose joined.txt holds them too).
    let wanted = expected(5, "seed");
    for pack in std::fs::read_dir(project.path().join(".cache/ac")).unwrap() {
        let pack = pack.unwrap().path();
        let mut bytes = std::fs::read(&pack).unwrap();
        let mut at = 0;
        while let Some(found) = bytes[at..]
            .windows(wanted.len())
            .position(|w| w == wanted.as_bytes())
        {
            bytes[at + found + wanted.len() - 2] ^= 0x01;
            at += found + wanted.len();
        }
        std::fs::write(&pack, bytes).unwrap();
    }
    std::fs::remove_file(project.path().join("out/5.txt")).unwrap();
    project.build(&[], 0);
    assert_eq!(project.ran(), ["t5"], "the task reran instead");
    assert_eq!(project.read("out/5.txt"), wanted);
    // The rerun stored a sound entry again: the next restore works.
    std::fs::remove_file(project.path().join("out/5.txt")).unwrap();
    project.build(&[], 0);
    assert!(project.ran().is_empty());
    assert_eq!(project.read("out/5.txt"), wanted);
    // all_of_them's entry is still damaged (its record fails its checksum): verify
    // drops it, then all is well.
    let verify = project.conduct(&["cache", "verify"]);
    assert!(
        verify
            .stdout
            .contains("is damaged: its checksum does not match (removed)"),
        "{verify:#?}"
    );
    let verify = project.conduct(&["cache", "verify"]);
    assert_eq!(verify.status, 0, "{verify:#?}");
}

#[test]
fn kill_9_at_random_moments_never_breaks_outputs_or_the_cache() {
    let project = project_of(80, "");
    // Twenty trials, each killing a build of 81 tasks at a different moment of it.
    for trial in 0..20u64 {
        let seed = format!("seed {trial}");
        project.write("seed.txt", format!("{seed}\n").as_bytes());
        let mut child = Command::new(crate::test::binary())
            .args(["build", "-j", "4", "-q"])
            .current_dir(project.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the build (which takes a few hundred ms): a different
        // moment each trial, from before the first task to the last ones.
        std::thread::sleep(Duration::from_millis(trial * 37 % 400));
        let _ = child.kill();
        child.wait().unwrap();
        let run = project.build(&["-q"], 0);
        assert_eq!(run.stdout, "", "trial {trial}");
        assert_outputs_of(&project, 80, &seed);
        let verify = project.conduct(&["cache", "verify"]);
        assert_eq!(verify.status, 0, "trial {trial}: {verify:#?}");
    }
}

#[test]
fn two_builds_at_once_both_end_with_correct_outputs() {
    // Tasks slow enough that the two builds overlap.
    let project = project_of(12, "sleep 0.05; ");
    let spawn = || {
        Command::new(crate::test::binary())
            .args(["build", "-j", "2"])
            .current_dir(project.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(second.status.code(), Some(0));
    let waited = [&first, &second]
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("waiting for the lock"))
        .count();
    assert_eq!(waited, 1, "exactly one of them waited for the other");
    assert_outputs(&project, "seed");
    let mut ran = project.ran();
    ran.sort();
    ran.dedup();
    assert_eq!(
        ran.len(),
        13,
        "every task ran, once: the second build found them fresh"
    );
}

#[test]
fn gc_shrinks_the_cache_and_keeps_what_the_state_needs() {
    let project = project();
    for round in 0..4 {
        project.write("seed.txt", format!("seed {round}\n").repeat(200).as_bytes());
        project.build(&["-q"], 0);
    }
    let before = project.conduct(&["cache", "stats"]);
    assert!(before.stdout.starts_with("52 entries"), "{}", before.stdout);
    let gc = project.conduct(&["cache", "gc", "--max-size", "60k"]);
    assert_eq!(gc.status, 0, "{gc:#?}");
    let size =
        dir_size(&project.path().join(".cache/cas")) + dir_size(&project.path().join(".cache/ac"));
    assert!(size <= 60 * 1024, "cache is {size} bytes: {}", gc.stdout);
    project.ran();
    std::fs::remove_dir_all(project.path().join("out")).unwrap();
    std::fs::remove_dir_all(project.path().join("dist")).unwrap();
    let run = project.build(&["--json"], 0);
    assert!(project.ran().is_empty(), "what the state needs was kept");
    assert_eq!(run.events().last().unwrap()["counts"]["restored"], 13);
    let bad = project.conduct(&["cache", "gc", "--max-size", "lots"]);
    assert_eq!(bad.status, 2);
    assert!(
        bad.stderr.contains("`lots` is not a size"),
        "{}",
        bad.stderr
    );
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

#[test]
fn clean_removes_outputs_by_default_and_the_cache_only_when_asked() {
    let project = project();
    project.build(&[], 0);
    project.ran();
    let clean = project.conduct(&["clean"]);
    assert_eq!(clean.stdout, "removed 14 outputs\n");
    assert!(!project.exists("out/0.txt"));
    assert!(project.exists(".cache/ac"), "the cache stays");
    project.build(&[], 0);
    assert!(project.ran().is_empty(), "restored from the cache");
    // `--outputs` is the default said out loud.
    let clean = project.conduct(&["clean", "--outputs"]);
    assert_eq!(clean.stdout, "removed 14 outputs\n");
    project.build(&[], 0);
    assert!(project.ran().is_empty(), "restored from the cache");
    // `--cache` alone leaves the outputs.
    let clean = project.conduct(&["clean", "--cache"]);
    assert_eq!(clean.status, 0, "{clean:#?}");
    assert!(project.exists("out/0.txt"));
    assert!(!project.exists(".cache/ac"));
    project.build(&[], 0);
    project.ran();
    let clean = project.conduct(&["clean", "--all"]);
    assert_eq!(clean.status, 0, "{clean:#?}");
    assert!(!project.exists("out/0.txt"));
    assert!(!project.exists(".cache/ac"));
    project.build(&[], 0);
    assert_eq!(project.ran().len(), 13, "no cache left: everything ran");
}

#[test]
fn stats_report_sizes_and_the_hit_rate() {
    let project = project();
    project.build(&[], 0);
    std::fs::remove_file(project.path().join("out/1.txt")).unwrap();
    project.build(&[], 0);
    let stats = project.conduct(&["cache", "stats"]);
    assert!(
        stats.stdout.starts_with("13 entries, 0 blobs, "),
        "{}",
        stats.stdout
    );
    assert!(
        stats
            .stdout
            .contains("last build's hit rate: 100% (1 restored, 0 ran)"),
        "{}",
        stats.stdout
    );
}

#[test]
fn accepted_outputs_are_cached_for_other_checkouts() {
    let project = project();
    project.build(&[], 0);
    project.ran();
    project.write("src/0.txt", b"source 0 \n");
    assert_eq!(project.conduct(&["accept", "t0"]).stdout, "accepted: t0\n");
    let clone = Project::new(&project.read("tasks.toml"));
    for dir in ["src", ".cache"] {
        copy_dir(&project.path().join(dir), &clone.path().join(dir));
    }
    clone.write("seed.txt", b"seed\n");
    clone.build(&[], 0);
    assert!(
        clone.ran().is_empty(),
        "t0 restored as accepted, nothing ran"
    );
    assert_eq!(clone.read("out/0.txt"), expected(0, "seed"));
}
