//! The remote cache end to end (issue 16), the same scenarios against each kind of
//! store a team runs: a shared directory, S3 (moto's server) and HTTP/WebDAV (nginx),
//! the servers real and on loopback (`servers.rs`). Two checkouts in different
//! directories share only the remote; a blob corrupted in the store; read-only mode
//! (requests counted in the server's log); a wrong signing key; the server killed
//! mid-build, while restoring and while uploading.

use std::path::{Path, PathBuf};

use crate::servers::{Moto, Nginx, request};
use crate::test::{Project, Run};

/// Where the remote lives, and how a test looks inside it behind conduct's back.
enum Store {
    Dir(tempfile::TempDir),
    S3(Moto),
    WebDav(Nginx),
}

/// The prefix inside the bucket or server the cache lives under.
const PREFIX: &str = "team/cache";

impl Store {
    fn dir() -> Option<Store> {
        Some(Store::Dir(tempfile::tempdir().unwrap()))
    }

    fn s3() -> Option<Store> {
        Moto::start().map(Store::S3)
    }

    fn webdav() -> Option<Store> {
        Nginx::start().map(Store::WebDav)
    }

    fn url(&self) -> String {
        match self {
            Store::Dir(dir) => format!("file://{}", dir.path().display()),
            Store::S3(_) => format!("s3://bucket/{PREFIX}"),
            Store::WebDav(nginx) => nginx.url(&format!("{PREFIX}/")),
        }
    }

    /// What the client reads to reach it (moto: credentials and the endpoint).
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Store::S3(moto) => moto.env(),
            _ => Vec::new(),
        }
    }

    /// The names of the objects under `cas/`.
    fn blobs(&self) -> Vec<String> {
        match self {
            Store::Dir(dir) => names_in(&dir.path().join("cas")),
            Store::WebDav(nginx) => names_in(&nginx.server.root().join(PREFIX).join("cas")),
            Store::S3(moto) => {
                let list = format!("/bucket?list-type=2&prefix={PREFIX}/cas/");
                let (status, answer) = request(moto.server.port(), "GET", &list, b"");
                assert_eq!(status, 200, "{answer}");
                answer
                    .split("<Key>")
                    .skip(1)
                    .filter_map(|rest| rest.split("</Key>").next())
                    .filter_map(|key| key.rsplit('/').next())
                    .map(str::to_owned)
                    .collect()
            }
        }
    }

    /// Replace the blob `name` with `bytes`, as a faulty disk or a hostile writer would.
    fn overwrite_blob(&self, name: &str, bytes: &[u8]) {
        match self {
            Store::Dir(dir) => std::fs::write(dir.path().join("cas").join(name), bytes).unwrap(),
            Store::WebDav(nginx) => {
                let path = nginx.server.root().join(PREFIX).join("cas").join(name);
                std::fs::write(path, bytes).unwrap();
            }
            Store::S3(moto) => {
                let path = format!("/bucket/{PREFIX}/cas/{name}");
                let (status, answer) = request(moto.server.port(), "PUT", &path, bytes);
                assert_eq!(status, 200, "{answer}");
            }
        }
    }

    /// Writes the store has seen: PUT requests in the server's log; for a directory,
    /// the files in it.
    fn writes(&self) -> usize {
        match self {
            Store::Dir(dir) => all_files(dir.path()).len(),
            Store::S3(moto) => moto.server.requests("PUT"),
            Store::WebDav(nginx) => nginx.server.requests("PUT"),
        }
    }

    /// The server's process, for the task that kills it (a directory cannot die).
    fn pid(&self) -> Option<u32> {
        match self {
            Store::Dir(_) => None,
            Store::S3(moto) => Some(moto.server.pid()),
            Store::WebDav(nginx) => Some(nginx.server.pid()),
        }
    }
}

/// Every file under `dir`, at any depth.
pub(crate) fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(all_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn names_in(dir: &Path) -> Vec<String> {
    all_files(dir)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect()
}

/// 50 tasks in two layers around a `gate`: t0..t24, then `gate` (after all of them),
/// then t25..t49 (after it). Every tenth task writes an output too big to be inlined (a
/// blob in the CAS). `gate` kills the process whose PID is in `gate.in`, if any: a
/// server dying mid-build, between the layers, at a point the test knows.
fn project_toml() -> String {
    let mut toml = String::new();
    for i in 0..50 {
        let size = if i % 10 == 0 { 40_000 } else { 10 };
        let after_gate = if i >= 25 { ", \"gate.txt\"" } else { "" };
        toml.push_str(&format!(
            "[tasks.t{i}]\ninputs = [\"src/{i}.txt\"{after_gate}]\noutputs = [\"out/{i}.txt\"]\n\
             run = \"echo t{i} >> ran.log && (cat src/{i}.txt; head -c {size} /dev/zero | tr '\\\\0' x) > out/{i}.txt\"\n"
        ));
    }
    let first_layer: Vec<String> = (0..25).map(|i| format!("\"t{i}\"")).collect();
    toml.push_str(&format!(
        "[tasks.gate]\ndeps = [{}]\ninputs = [\"gate.in\"]\noutputs = [\"gate.txt\"]\n\
         run = \"echo gate >> ran.log; pid=$(cat gate.in); [ $pid = none ] || kill -9 $pid; echo gate > gate.txt\"\n",
        first_layer.join(", ")
    ));
    toml
}

/// A checkout of the project in a directory of its own.
fn checkout() -> Project {
    let project = Project::new(&project_toml());
    for i in 0..50 {
        project.file(&format!("src/{i}.txt"), &format!("source {i}\n"));
    }
    project.file("gate.in", "none\n");
    project
}

/// `conduct build --explain` with the remote in `mode`, and `env` besides the store's.
fn build(project: &Project, store: &Store, mode: &str, env: &[(&str, &str)]) -> Run {
    let url = store.url();
    let store_env = store.env();
    let mut all: Vec<(&str, &str)> = store_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(env);
    let args = [
        "build",
        "--explain",
        "--remote-cache",
        &url,
        "--remote-cache-mode",
        mode,
    ];
    let run = project.conduct_env(&args, &all);
    assert_eq!(run.status, 0, "the remote never fails a build: {run:?}");
    run
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

fn second_checkout_restores_everything(store: Store) {
    let first = checkout();
    let run = build(&first, &store, "readwrite", &[]);
    assert_eq!(first.ran().len(), 51, "{run:?}");
    assert!(run.stdout.contains("remote cache: 0 hits"), "{run:?}");
    assert_eq!(store.blobs().len(), 5, "the five big outputs are blobs");
    let second = checkout();
    let run = build(&second, &store, "read", &[]);
    assert!(second.ran().is_empty(), "nothing ran: {run:?}");
    assert!(run.stdout.contains("51 restored"), "{run:?}");
    assert!(run.stdout.contains("remote cache: 51 hits"), "{run:?}");
    assert!(run.stdout.contains("remote hit"), "explained: {run:?}");
    for i in 0..50 {
        let path = format!("out/{i}.txt");
        assert_eq!(first.read(&path), second.read(&path), "{path}");
    }
}

fn a_corrupt_blob_is_caught_and_its_task_reruns(store: Store) {
    let first = checkout();
    build(&first, &store, "readwrite", &[]);
    let blobs = store.blobs();
    assert_eq!(blobs.len(), 5);
    for blob in &blobs {
        store.overwrite_blob(blob, b"tampered");
    }
    let second = checkout();
    let run = build(&second, &store, "read", &[]);
    assert_eq!(
        sorted(second.ran()),
        ["t0", "t10", "t20", "t30", "t40"],
        "{run:?}"
    );
    assert!(
        run.stdout.contains("is corrupt; the task runs instead"),
        "{run:?}"
    );
    assert!(run.stdout.contains("remote miss: blob"), "{run:?}");
    for i in [0, 10, 20, 30, 40] {
        let path = format!("out/{i}.txt");
        assert_eq!(first.read(&path), second.read(&path), "{path}");
    }
}

fn read_mode_never_writes(store: Store) {
    let before = store.writes();
    let laptop = checkout();
    let run = build(&laptop, &store, "read", &[]);
    assert_eq!(laptop.ran().len(), 51, "{run:?}");
    assert!(run.stdout.contains("remote miss"), "{run:?}");
    laptop.file("src/30.txt", "edited\n");
    build(&laptop, &store, "read", &[]);
    assert_eq!(laptop.ran(), ["t30"]);
    assert_eq!(store.writes(), before, "read mode wrote nothing");
    let ci = checkout();
    build(&ci, &store, "readwrite", &[]);
    assert!(store.writes() > before, "readwrite does write");
}

fn a_wrong_signing_key_makes_every_entry_a_miss(store: Store) {
    let first = checkout();
    build(
        &first,
        &store,
        "readwrite",
        &[("CONDUCT_CACHE_KEY", "right")],
    );
    let wrong = checkout();
    let run = build(&wrong, &store, "read", &[("CONDUCT_CACHE_KEY", "wrong")]);
    assert_eq!(wrong.ran().len(), 51, "every entry refused: {run:?}");
    assert!(
        run.stdout
            .contains("51 entries not signed with this CONDUCT_CACHE_KEY, ignored"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("remote miss: the entry is not signed with this CONDUCT_CACHE_KEY"),
        "{run:?}"
    );
    let unsigned = checkout();
    build(&unsigned, &store, "read", &[]);
    assert!(
        unsigned.ran().is_empty(),
        "without a key, signed entries are usable"
    );
    let right = checkout();
    let run = build(&right, &store, "read", &[("CONDUCT_CACHE_KEY", "right")]);
    assert!(right.ran().is_empty(), "{run:?}");
}

/// The server dies after the first layer was restored from it: the second layer runs
/// locally, the build succeeds, and the outputs are right.
fn killed_while_restoring_the_build_goes_on(store: Store) {
    let pid = store.pid().expect("a server process to kill");
    let first = checkout();
    build(&first, &store, "readwrite", &[]);
    let second = checkout();
    second.file("gate.in", &format!("{pid}\n"));
    let run = build(&second, &store, "read", &[]);
    let ran = second.ran();
    assert_eq!(ran.len(), 26, "the gate and the 25 after it: {run:?}");
    assert!(ran.contains(&"gate".to_owned()) && ran.contains(&"t49".to_owned()));
    assert!(run.stdout.contains("remote cache: 25 hits"), "{run:?}");
    assert!(run.stdout.contains("going on without it"), "{run:?}");
    assert!(run.stdout.contains("remote error: "), "explained: {run:?}");
    for i in 0..50 {
        let path = format!("out/{i}.txt");
        assert_eq!(first.read(&path), second.read(&path), "{path}");
    }
}

/// The server dies while a readwrite build uploads: the build still succeeds.
fn killed_while_uploading_the_build_goes_on(store: Store) {
    let pid = store.pid().expect("a server process to kill");
    let project = checkout();
    project.file("gate.in", &format!("{pid}\n"));
    let run = build(&project, &store, "readwrite", &[]);
    assert_eq!(project.ran().len(), 51, "{run:?}");
    assert!(run.stdout.contains("going on without it"), "{run:?}");
    assert_eq!(project.read("out/49.txt").lines().next(), Some("source 49"));
}

/// One `#[test]` per scenario and store; a store whose server is not installed is
/// skipped (said on stderr; a failure under `CI=true`).
macro_rules! scenarios {
    ($($store:ident: $($scenario:ident),+;)+) => {
        $(mod $store {
            $(#[test]
            fn $scenario() {
                if let Some(store) = super::Store::$store() {
                    super::$scenario(store);
                }
            })+
        })+
    };
}

scenarios! {
    dir: second_checkout_restores_everything, a_corrupt_blob_is_caught_and_its_task_reruns,
        read_mode_never_writes, a_wrong_signing_key_makes_every_entry_a_miss;
    s3: second_checkout_restores_everything, a_corrupt_blob_is_caught_and_its_task_reruns,
        read_mode_never_writes, a_wrong_signing_key_makes_every_entry_a_miss,
        killed_while_restoring_the_build_goes_on, killed_while_uploading_the_build_goes_on;
    webdav: second_checkout_restores_everything, a_corrupt_blob_is_caught_and_its_task_reruns,
        read_mode_never_writes, a_wrong_signing_key_makes_every_entry_a_miss,
        killed_while_restoring_the_build_goes_on, killed_while_uploading_the_build_goes_on;
}

/// `[cache] remote_timeout` bounds a server that accepts and then never answers: the
/// build waits that long once, says so, and goes on without it.
#[test]
fn the_request_timeout_is_configurable() {
    // Connections complete in the kernel's backlog; nothing ever reads them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let project = Project::new(&format!(
        "[cache]\nremote = \"http://127.0.0.1:{port}/cache/\"\nremote_timeout = \"1s\"\n\
         [tasks.a]\noutputs = [\"a.txt\"]\nrun = \"echo a >> ran.log; echo a > a.txt\"\n\
         [tasks.b]\noutputs = [\"b.txt\"]\nrun = \"echo b >> ran.log; echo b > b.txt\"\n"
    ));
    let started = std::time::Instant::now();
    let run = project.build(&["--explain"], 0);
    let took = started.elapsed();
    assert_eq!(sorted(project.ran()), ["a", "b"]);
    assert!(run.stdout.contains("going on without it"), "{run:?}");
    assert!(run.stdout.contains("remote error: "), "{run:?}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "1 s per request, not the default 30 s: {took:?}"
    );
    let bad = Project::new("[cache]\nremote_timeout = \"soon\"\n[tasks.a]\nrun = \"true\"\n");
    let run = bad.conduct(&["build"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("remote_timeout"), "{run:?}");
    drop(silent);
}
