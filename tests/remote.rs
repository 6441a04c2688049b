//! The remote cache (issue 16) with the directory backend (`file://`, a share between
//! machines): two checkouts that share only the remote, verification of what comes
//! back, read-only mode, signed entries, and a remote that fails.

use std::path::Path;

use crate::test::Project;

/// 50 tasks; every tenth writes an output too big to be inlined (a blob in the CAS).
fn fifty() -> String {
    let mut toml = String::new();
    for i in 0..50 {
        let size = if i % 10 == 0 { 40_000 } else { 10 };
        toml.push_str(&format!(
            "[tasks.t{i}]\ninputs = [\"src/{i}.txt\"]\noutputs = [\"out/{i}.txt\"]\nrun = \"echo t{i} >> ran.log && (cat src/{i}.txt; head -c {size} /dev/zero | tr '\\\\0' x) > out/{i}.txt\"\n"
        ));
    }
    toml
}

fn clone() -> Project {
    let project = Project::new(&fifty());
    for i in 0..50 {
        project.file(&format!("src/{i}.txt"), &format!("source {i}\n"));
    }
    project
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn files_in(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_second_checkout_restores_everything_from_the_shared_remote() {
    let remote = tempfile::tempdir().unwrap();
    let first = clone();
    let run = first.build(
        &[
            "--remote-cache",
            &url(remote.path()),
            "--remote-cache-mode",
            "readwrite",
        ],
        0,
    );
    assert_eq!(first.ran().len(), 50);
    assert!(run.stdout.contains("remote cache: 0 hits"), "{run:?}");
    assert!(remote.path().join("ac").is_dir() && remote.path().join("cas").is_dir());
    let second = clone();
    let run = second.build(&["--remote-cache", &url(remote.path())], 0);
    assert!(second.ran().is_empty(), "nothing ran: {run:?}");
    assert!(run.stdout.contains("50 restored"), "{run:?}");
    assert!(run.stdout.contains("remote cache: 50 hits"), "{run:?}");
    for i in 0..50 {
        let path = format!("out/{i}.txt");
        assert_eq!(first.read(&path), second.read(&path), "{path}");
    }
}

#[test]
fn a_corrupt_blob_in_the_remote_is_caught_and_the_task_reruns() {
    let remote = tempfile::tempdir().unwrap();
    let first = clone();
    first.build(
        &[
            "--remote-cache",
            &url(remote.path()),
            "--remote-cache-mode",
            "readwrite",
        ],
        0,
    );
    for blob in walk(&remote.path().join("cas")) {
        std::fs::write(&blob, "tampered").unwrap();
    }
    let second = clone();
    let run = second.build(&["--remote-cache", &url(remote.path())], 0);
    let mut ran = second.ran();
    ran.sort();
    assert_eq!(ran, ["t0", "t10", "t20", "t30", "t40"], "{run:?}");
    assert!(
        run.stdout.contains("is corrupt; the task runs instead"),
        "{run:?}"
    );
    assert_eq!(first.read("out/10.txt"), second.read("out/10.txt"));
}

#[test]
fn read_mode_never_writes_to_the_remote() {
    let remote = tempfile::tempdir().unwrap();
    let project = clone();
    // A laptop (no CI): read is the default.
    let run = project.conduct_env(
        &["build", "--remote-cache", &url(remote.path())],
        &[("CI", "")],
    );
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(project.ran().len(), 50);
    assert_eq!(files_in(remote.path()), 0, "read is the default without CI");
    // Under CI, readwrite is.
    let ci = clone();
    let run = ci.conduct_env(
        &["build", "--remote-cache", &url(remote.path())],
        &[("CI", "true")],
    );
    assert_eq!(run.status, 0, "{run:?}");
    assert!(files_in(remote.path()) > 0, "CI uploads");
    let written = files_in(remote.path());
    project.file("src/3.txt", "changed\n");
    project.build(
        &[
            "--remote-cache",
            &url(remote.path()),
            "--remote-cache-mode",
            "read",
        ],
        0,
    );
    assert_eq!(files_in(remote.path()), written, "read mode wrote nothing");
}

#[test]
fn with_a_signing_key_only_entries_signed_with_it_are_used() {
    let remote = tempfile::tempdir().unwrap();
    let first = clone();
    let args = [
        "build",
        "--remote-cache",
        &url(remote.path()),
        "--remote-cache-mode",
        "readwrite",
    ];
    let args: Vec<&str> = args.to_vec();
    assert_eq!(
        first
            .conduct_env(&args, &[("CONDUCT_CACHE_KEY", "k1")])
            .status,
        0
    );
    let wrong = clone();
    let read = [
        "build",
        "--remote-cache",
        &url(remote.path()),
        "--remote-cache-mode",
        "read",
    ];
    let run = wrong.conduct_env(&read, &[("CONDUCT_CACHE_KEY", "k2")]);
    assert_eq!(run.status, 0);
    assert_eq!(wrong.ran().len(), 50, "every entry refused: {run:?}");
    assert!(
        run.stdout
            .contains("50 entries not signed with this CONDUCT_CACHE_KEY, ignored"),
        "{run:?}"
    );
    let right = clone();
    let run = right.conduct_env(&read, &[("CONDUCT_CACHE_KEY", "k1")]);
    assert!(right.ran().is_empty(), "{run:?}");
}

#[test]
fn a_failing_remote_never_fails_the_build() {
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    let project = clone();
    let run = project.build(
        &[
            "--remote-cache",
            &url(not_a_dir.path()),
            "--remote-cache-mode",
            "readwrite",
        ],
        0,
    );
    assert_eq!(project.ran().len(), 50);
    assert!(run.stdout.contains("going on without it"), "{run:?}");
    let bad = project.conduct(&["build", "--remote-cache", "ftp://example.invalid/x"]);
    assert_eq!(bad.status, 0, "{bad:?}");
    assert!(bad.stdout.contains("unknown remote cache"), "{bad:?}");
}

#[test]
fn cache_push_uploads_what_a_read_only_build_kept_locally() {
    let remote = tempfile::tempdir().unwrap();
    let first = clone();
    first.build(
        &[
            "--remote-cache",
            &url(remote.path()),
            "--remote-cache-mode",
            "read",
        ],
        0,
    );
    assert_eq!(files_in(remote.path()), 0);
    let push = first.conduct(&["cache", "push", "--remote-cache", &url(remote.path())]);
    assert_eq!(push.status, 0, "{push:?}");
    assert!(push.stdout.starts_with("pushed 50 entries"), "{push:?}");
    let second = clone();
    second.build(&["--remote-cache", &url(remote.path())], 0);
    assert!(second.ran().is_empty());
    let nowhere = first.conduct(&["cache", "push"]);
    assert_eq!(nowhere.status, 2, "{nowhere:?}");
    assert!(
        nowhere.stderr.contains("no remote cache is set"),
        "{nowhere:?}"
    );
}
