//! The remote cache (issue 16) with the directory backend (`file://`, a share between
//! machines): the default mode with and without `CI`, a remote that cannot be used,
//! `cache push` and `cache stats --remote`. The scenarios every store must pass (two
//! checkouts, corruption, signing, a server killed) are in `remote_scenarios.rs`.

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
    crate::remote_scenarios::all_files(dir).len()
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

/// `conduct cache stats --remote --json` with `args`, which must exit 0; its `"remote"`.
#[track_caller]
fn remote_stats(project: &Project, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["cache", "stats", "--remote", "--json"];
    all.extend_from_slice(args);
    let run = project.conduct(&all);
    assert_eq!(run.status, 0, "{run:?}");
    let json: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"));
    json["remote"].clone()
}

/// The objects in the remote directory `dir` (`ac`, `cas`): how many, how big.
fn objects(dir: &Path) -> (usize, u64) {
    let files = crate::remote_scenarios::all_files(dir);
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    (files.len(), bytes)
}

#[test]
fn cache_stats_remote_counts_the_results_and_objects_the_remote_holds() {
    let remote = tempfile::tempdir().unwrap();
    let project = clone();
    let at = url(remote.path());
    project.build(
        &["--remote-cache", &at, "--remote-cache-mode", "readwrite"],
        0,
    );
    let (entries, entry_bytes) = objects(&remote.path().join("ac"));
    let (blobs, blob_bytes) = objects(&remote.path().join("cas"));
    assert_eq!((entries, blobs), (50, 5), "every tenth output is a blob");

    // A laptop's default mode (under CI it would be readwrite).
    let run = project.conduct_env(
        &["cache", "stats", "--remote", "--remote-cache", &at],
        &[("CI", "")],
    );
    assert_eq!(run.status, 0, "{run:?}");
    let local = project.conduct(&["cache", "stats"]);
    assert!(
        run.stdout.starts_with(&local.stdout),
        "local stats first: {run:?}"
    );
    for line in [
        format!("remote cache {at} (mode read)"),
        "  signing: off (CONDUCT_CACHE_KEY is not set)".to_owned(),
        "  reachable: answered in ".to_owned(),
        "  last results stored: 50 of 50 tasks\n".to_owned(),
        format!("  holds: {entries} entries, {blobs} blobs, "),
    ] {
        assert!(run.stdout.contains(&line), "{line:?} in {run:?}");
    }

    let json = remote_stats(&project, &["--remote-cache", &at]);
    assert_eq!(json["results"]["stored"], 50, "{json}");
    assert_eq!(json["totals"]["entries"], entries, "{json}");
    assert_eq!(json["totals"]["blobs"], blobs, "{json}");
    assert_eq!(json["totals"]["bytes"], entry_bytes + blob_bytes, "{json}");

    // A result built since, in read mode, is this checkout's alone.
    project.file("src/3.txt", "changed\n");
    project.build(&["--remote-cache", &at, "--remote-cache-mode", "read"], 0);
    let json = remote_stats(&project, &["--remote-cache", &at]);
    assert_eq!(
        json["results"],
        serde_json::json!({"tasks": 50, "stored": 49, "unknown": 0})
    );
    assert_eq!(
        json["totals"]["entries"], entries,
        "read mode wrote nothing"
    );
    let signed = project.conduct_env(
        &["cache", "stats", "--remote", "--remote-cache", &at],
        &[("CONDUCT_CACHE_KEY", "k1")],
    );
    assert!(
        signed.stdout.contains("signing: CONDUCT_CACHE_KEY is set"),
        "{signed:?}"
    );
}

#[test]
fn cache_stats_remote_json_has_every_field() {
    let remote = tempfile::tempdir().unwrap();
    let project = clone();
    let at = url(remote.path());
    project.build(
        &["--remote-cache", &at, "--remote-cache-mode", "readwrite"],
        0,
    );
    let json = remote_stats(
        &project,
        &["--remote-cache", &at, "--remote-cache-mode", "readwrite"],
    );
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "url",
        "mode",
        "signed",
        "reachable",
        "latency_ms",
        "error",
        "results",
        "can_list",
        "totals",
        "list_error",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected, "{json}");
    assert_eq!(json["url"], at.as_str());
    assert_eq!(json["mode"], "readwrite");
    assert_eq!(json["signed"], false);
    assert_eq!(json["reachable"], true);
    assert!(json["latency_ms"].as_f64().unwrap() >= 0.0, "{json}");
    assert_eq!(json["error"], serde_json::Value::Null);
    assert_eq!(json["can_list"], true);
    assert_eq!(json["list_error"], serde_json::Value::Null);
    let totals = json["totals"].as_object().unwrap();
    assert_eq!(totals.len(), 3, "entries, blobs, bytes: {json}");
    // Without --remote there is no "remote" at all.
    let plain = project.conduct(&["cache", "stats", "--json", "--remote-cache", &at]);
    let plain: serde_json::Value = serde_json::from_str(&plain.stdout).unwrap();
    assert!(plain.get("remote").is_none(), "{plain}");
    assert_eq!(plain["entries"], 50);
}

#[test]
fn cache_stats_remote_reports_a_remote_that_cannot_be_used() {
    let project = clone();
    project.build(&[], 0);
    // A file where the directory should be: every request fails.
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    let at = url(not_a_dir.path());
    let run = project.conduct(&["cache", "stats", "--remote", "--remote-cache", &at]);
    assert_eq!(run.status, 0, "a report, not a failure: {run:?}");
    assert!(
        run.stdout.contains("50 entries"),
        "local stats still: {run:?}"
    );
    assert!(
        run.stdout.contains("  unreachable: cannot look at"),
        "{run:?}"
    );
    let json = remote_stats(&project, &["--remote-cache", &at]);
    assert_eq!(json["reachable"], false, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("Not a directory"),
        "{json}"
    );
    assert_eq!(json["results"], serde_json::Value::Null);

    // Nothing listens there: refused, reported, quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = format!("http://user:hunter2@127.0.0.1:{port}/cache/");
    let run = project.conduct(&["cache", "stats", "--remote", "--remote-cache", &http]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(run.stdout.contains("  unreachable: "), "{run:?}");
    assert!(
        !run.stdout.contains("hunter2"),
        "no password shown: {run:?}"
    );

    // A URL no backend takes: the error, and nothing asked.
    let run = project.conduct(&[
        "cache",
        "stats",
        "--remote",
        "--remote-cache",
        "ftp://host/x",
    ]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout.contains("  unusable: unknown remote cache"),
        "{run:?}"
    );
}

#[test]
fn cache_stats_remote_without_a_remote_is_a_usage_error() {
    let project = clone();
    let run = project.conduct(&["cache", "stats", "--remote"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("no remote cache is set"), "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    let json = project.conduct(&["cache", "stats", "--remote", "--json"]);
    assert_eq!(json.status, 2, "{json:?}");
    assert!(json.stdout.contains("\"kind\":\"no_remote\""), "{json:?}");
}

#[test]
fn cache_stats_without_remote_never_touches_the_network() {
    // Accepts connections (the kernel does) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let at = format!("http://{}/cache/", listener.local_addr().unwrap());
    let project = Project::new(&format!(
        "[cache]\nremote = \"{at}\"\nremote_timeout = \"1s\"\n\
         [tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a > a.txt\"\n"
    ));
    project.build(&["--remote-cache-mode", "off"], 0);
    for args in [&["cache", "stats"][..], &["cache", "stats", "--json"]] {
        let run = project.conduct(args);
        assert_eq!(run.status, 0, "{run:?}");
        let asked = listener.accept();
        assert!(
            matches!(&asked, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{args:?} connected to the remote: {asked:?}"
        );
    }
    // With --remote it does ask (and the silent server is reported, not waited for).
    let run = project.conduct(&["cache", "stats", "--remote"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(run.stdout.contains("  unreachable: "), "{run:?}");
    assert!(listener.accept().is_ok(), "--remote connected");
}
