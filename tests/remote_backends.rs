//! The remote-cache backends against real servers (`servers.rs`): a directory, S3 on
//! moto, WebDAV on nginx each round-trip blobs and action entries through the
//! `RemoteStore` trait (`conduct::remote_probe`, what `[cache] remote` opens), and a
//! server that dies or goes silent mid-use is an error within the timeouts, not a hang.
//! `conduct cache stats --remote` (the real binary) lists totals on S3 and says that
//! nginx's WebDAV cannot list.
//!
//! The S3 client reads its credentials and endpoint from the process environment only,
//! which tests running in parallel threads must not change: the S3 cases run
//! `remote_child` in a child copy of this test binary with the `AWS_*` variables set.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use conduct::remote_probe::{Remote, remote_roundtrip};

use crate::servers::{Moto, Nginx};
use crate::test::Project;

/// What `remote_child` does: `roundtrip`, or `fails` (every call is an error).
const CHILD_DOES: &str = "CONDUCT_TEST_REMOTE_DOES";
const CHILD_URL: &str = "CONDUCT_TEST_REMOTE_URL";

/// Run `remote_child` in a fresh copy of this test binary with `env` set; panics with
/// its output unless it passed.
fn in_child(does: &str, url: &str, env: &[(&str, String)]) {
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new(exe)
        .args([
            "remote_backends::remote_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DOES, does)
        .env(CHILD_URL, url)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the child test");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "child {does} {url}:\n{printed}");
    assert!(
        printed.contains("1 passed"),
        "the child ran nothing:\n{printed}"
    );
}

/// The child half of the S3 tests (does nothing unless `in_child` started it).
#[test]
#[ignore = "run by the S3 tests in a child process, with the AWS_* environment"]
fn remote_child() {
    let (Ok(does), Ok(url)) = (std::env::var(CHILD_DOES), std::env::var(CHILD_URL)) else {
        return;
    };
    match does.as_str() {
        "roundtrip" => remote_roundtrip(&url).unwrap(),
        "fails" => fails_in_time(&Remote::open(&url).unwrap(), Duration::from_secs(10)),
        other => panic!("unknown child action {other}"),
    }
}

/// Every call on `remote` is an error, and each comes within `bound`.
#[track_caller]
fn fails_in_time(remote: &Remote, bound: Duration) {
    let path = "cas/00ff";
    type Call<'a> = &'a dyn Fn() -> Result<(), String>;
    let calls: [(&str, Call); 3] = [
        ("get", &|| remote.get(path).map(drop)),
        ("exists", &|| remote.exists(path).map(drop)),
        ("put", &|| remote.put(path, b"x")),
    ];
    for (name, call) in calls {
        let start = Instant::now();
        let result = call();
        let took = start.elapsed();
        let error = result.expect_err(name);
        assert!(
            took < bound,
            "{name} took {took:?} to fail ({error}), more than {bound:?}"
        );
        assert!(
            error.contains(&remote.describe()),
            "{name}: the error names the remote: {error}"
        );
    }
}

#[test]
fn directory_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/shared/cache", dir.path().display());
    remote_roundtrip(&url).unwrap();
    assert!(dir.path().join("shared/cache/cas").is_dir());
    assert!(dir.path().join("shared/cache/ac").is_dir());
}

#[test]
fn unknown_schemes_name_the_accepted_ones() {
    let error = Remote::open("ftp://host/cache").unwrap_err();
    assert!(
        error.contains("s3://") && error.contains("http") && error.contains("file://"),
        "{error}"
    );
}

#[test]
fn s3_round_trip_on_moto() {
    let Some(moto) = Moto::start() else { return };
    in_child("roundtrip", "s3://bucket/team/cache", &moto.env());
    // A second prefix in the same bucket is a separate cache.
    in_child("roundtrip", "s3://bucket/other", &moto.env());
}

#[test]
fn s3_server_killed_is_an_error_not_a_hang() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    let env = moto.env();
    moto.server.kill();
    in_child("fails", "s3://bucket/cache", &env);
}

#[test]
fn webdav_round_trip_on_nginx() {
    let Some(nginx) = Nginx::start() else { return };
    remote_roundtrip(&nginx.url("team/cache/")).unwrap();
    // Also without the trailing slash, and at the root.
    remote_roundtrip(&nginx.url("plain")).unwrap();
    remote_roundtrip(&nginx.url("")).unwrap();
    let root = nginx.server.root();
    assert!(root.join("team/cache/cas").is_dir(), "nginx stores by path");
    assert!(
        nginx.server.requests("PUT") >= 4,
        "{}",
        nginx.server.access_log()
    );
}

#[test]
fn webdav_logs_in_with_the_user_and_password_of_the_url_and_never_shows_them() {
    let Some(nginx) = Nginx::start_with_login(Some(("ci", "p@ss/w%rd"))) else {
        return;
    };
    let url = |login: &str| {
        nginx
            .url("cache/")
            .replacen("//", &format!("//{login}@"), 1)
    };
    // Userinfo is percent-encoded in a URL: `@`, `/` and `%` of the password too.
    remote_roundtrip(&url("ci:p%40ss%2Fw%25rd")).unwrap();
    let refused = remote_roundtrip(&url("ci:wrong-secret")).unwrap_err();
    assert!(refused.contains("401"), "{refused}");
    assert!(!refused.contains("wrong-secret"), "{refused}");
    assert!(
        !refused.contains("<html"),
        "one line, not the error page: {refused}"
    );
    let anonymous = remote_roundtrip(&nginx.url("cache/")).unwrap_err();
    assert!(anonymous.contains("401"), "{anonymous}");
}

#[test]
fn webdav_server_killed_mid_use_is_an_error_not_a_hang() {
    let Some(mut nginx) = Nginx::start() else {
        return;
    };
    let remote = Remote::open(&nginx.url("cache/")).unwrap();
    remote.put("cas/00aa", b"before").unwrap();
    assert_eq!(
        remote.get("cas/00aa").unwrap().as_deref(),
        Some(&b"before"[..])
    );
    nginx.server.kill();
    fails_in_time(&remote, Duration::from_secs(10));
}

#[test]
fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cache/", listener.local_addr().unwrap());
    let remote =
        Remote::open_with_timeouts(&url, Duration::from_secs(1), Duration::from_secs(1)).unwrap();
    fails_in_time(&remote, Duration::from_secs(5));
    drop(listener);
}

/// Three tasks, one output each; `b` and `c` are too big to be inlined in their entries
/// (blobs in the CAS), and differ (two blobs).
fn three() -> Project {
    Project::new(
        "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a > a.txt\"\n\
         [tasks.b]\noutputs = [\"b.txt\"]\nrun = \"head -c 40000 /dev/zero > b.txt\"\n\
         [tasks.c]\noutputs = [\"c.txt\"]\nrun = \"head -c 50000 /dev/urandom > c.txt\"\n",
    )
}

/// `build` in readwrite mode to `url`, then `cache stats --remote --json`: its `"remote"`.
#[track_caller]
fn stats_after_a_build(project: &Project, url: &str, env: &[(&str, String)]) -> serde_json::Value {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remote = ["--remote-cache", url, "--remote-cache-mode", "readwrite"];
    let build = project.conduct_env(&[&["build"][..], &remote].concat(), &env);
    assert_eq!(build.status, 0, "{build:?}");
    assert!(!build.stdout.contains("going on without it"), "{build:?}");
    let text = project.conduct_env(
        &[&["cache", "stats", "--remote"][..], &remote].concat(),
        &env,
    );
    assert_eq!(text.status, 0, "{text:?}");
    assert!(
        text.stdout.contains("  last results stored: 3 of 3 tasks"),
        "{text:?}"
    );
    let run = project.conduct_env(
        &[&["cache", "stats", "--remote", "--json"][..], &remote].concat(),
        &env,
    );
    assert_eq!(run.status, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    json["remote"].clone()
}

#[test]
fn cache_stats_remote_lists_totals_on_moto() {
    let Some(moto) = Moto::start() else { return };
    let project = three();
    let remote = stats_after_a_build(&project, "s3://bucket/team/cache", &moto.env());
    assert_eq!(remote["reachable"], true, "{remote}");
    assert_eq!(remote["results"]["stored"], 3, "{remote}");
    assert_eq!(remote["can_list"], true, "{remote}");
    // Three entries; two outputs too big to inline (one blob each).
    assert_eq!(remote["totals"]["entries"], 3, "{remote}");
    assert_eq!(remote["totals"]["blobs"], 2, "{remote}");
    assert!(
        remote["totals"]["bytes"].as_u64().unwrap() > 90_000,
        "{remote}"
    );
    // Another prefix in the same bucket is another cache: empty.
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let other = project.conduct_env(
        &[
            "cache",
            "stats",
            "--remote",
            "--remote-cache",
            "s3://bucket/other",
        ],
        &env,
    );
    assert!(
        other.stdout.contains("  holds: 0 entries, 0 blobs, 0 B"),
        "{other:?}"
    );
}

#[test]
fn cache_stats_remote_on_nginx_says_it_cannot_list() {
    let Some(nginx) = Nginx::start() else { return };
    let project = three();
    let remote = stats_after_a_build(&project, &nginx.url("cache/"), &[]);
    assert_eq!(remote["reachable"], true, "{remote}");
    assert_eq!(remote["results"]["stored"], 3, "{remote}");
    assert_eq!(remote["can_list"], false, "{remote}");
    assert_eq!(remote["totals"], serde_json::Value::Null, "{remote}");
    assert_eq!(remote["list_error"], serde_json::Value::Null, "{remote}");
    let text = project.conduct(&[
        "cache",
        "stats",
        "--remote",
        "--remote-cache",
        &nginx.url("cache/"),
    ]);
    assert!(
        text.stdout.contains("the server cannot list its files"),
        "{text:?}"
    );
    assert!(nginx.server.requests("PROPFIND") >= 1, "it was asked");
}
