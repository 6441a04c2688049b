//! `scan`'s unit tests: the stat cache's trust, symlinks, walking.

use super::*;

#[test]
fn a_written_file_is_read_once_and_kept_only_when_small() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    fs::write(dir.path().join("small"), "hello").unwrap();
    fs::write(dir.path().join("large"), "x".repeat(100)).unwrap();
    let p = |s: &str| ProjectPath::new(s).unwrap();
    let (found, mode, kept) = look_written(&p("small"), &root, 10).unwrap();
    assert_eq!(found.digest(), Some(Digest::of(b"hello")));
    assert_eq!(kept.as_deref(), Some(&b"hello"[..]));
    assert_eq!(mode & 0o600, 0o600);
    let (found, _, kept) = look_written(&p("large"), &root, 10).unwrap();
    assert_eq!(found.digest(), Some(Digest::of("x".repeat(100).as_bytes())));
    assert!(kept.is_none());
    fs::create_dir(dir.path().join("d")).unwrap();
    let (found, _, _) = look_written(&p("d"), &root, 10).unwrap();
    assert_eq!(found, Found::Directory);
}

#[test]
fn output_symlinks_are_links_inside_and_refused_outside() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    fs::create_dir_all(dir.path().join("out/d")).unwrap();
    fs::write(dir.path().join("real.txt"), "r").unwrap();
    let p = |s: &str| ProjectPath::new(s).unwrap();
    std::os::unix::fs::symlink("../../real.txt", dir.path().join("out/d/rel")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real.txt"), dir.path().join("out/d/abs")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("out/d/away")).unwrap();
    std::os::unix::fs::symlink("../../../x", dir.path().join("out/d/up")).unwrap();
    std::os::unix::fs::symlink("gone", dir.path().join("out/d/dangling")).unwrap();
    let link = |name: &str| look_output(&p(&format!("out/d/{name}")), None, &root).unwrap();
    assert_eq!(
        link("rel"),
        Found::Link {
            target: "../../real.txt".into(),
            digest: Digest::of_link("../../real.txt")
        }
    );
    assert_eq!(link("abs"), link("rel"), "absolute inside: stored relative");
    assert!(matches!(link("away"), Found::Outside { .. }));
    assert!(matches!(link("up"), Found::Outside { .. }));
    assert!(matches!(link("dangling"), Found::Link { .. }));
    assert_ne!(
        Digest::of_link("../../real.txt"),
        Digest::of(b"../../real.txt"),
        "a link never collides with a file holding its target"
    );
}

#[test]
fn unchanged_trusted_stamps_are_not_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    fs::write(&file, "one").unwrap();
    let root = Root::new(dir.path());
    let first = look(&file, None, &root);
    let Ok(Found::File { stamp, digest }) = first else {
        panic!("{first:?}")
    };
    assert_eq!(digest, Digest::of(b"one"));
    let trusted = StatEntry {
        stamp,
        digest: Digest::of(b"pretend"),
        trusted: true,
    };
    // Same stamp, trusted: the remembered digest is reused, the file not read.
    let second = look(&file, Some(&trusted), &root);
    assert_eq!(second.unwrap().digest(), Some(Digest::of(b"pretend")));
    let racy = StatEntry {
        trusted: false,
        ..trusted
    };
    // Racy entries prove nothing: the file is read again.
    let third = look(&file, Some(&racy), &root);
    assert_eq!(third.unwrap().digest(), Some(Digest::of(b"one")));
}

#[test]
fn a_stamp_is_trusted_only_when_clearly_older_than_the_scan() {
    let stamp = |mtime_ns| Stamp {
        size: 1,
        mtime_ns,
        ctime_ns: mtime_ns,
        ino: 1,
    };
    let scan = 10_000_000_123;
    assert!(stamp(scan - 100_000_001).settled_before(scan));
    assert!(!stamp(scan - 4_000_000).settled_before(scan), "same tick");
    assert!(!stamp(scan).settled_before(scan));
    // Whole-second file systems need a whole-second margin.
    assert!(!stamp(9_000_000_000).settled_before(10_000_000_000));
    assert!(stamp(7_000_000_000).settled_before(10_000_000_000));
}

#[test]
fn remember_marks_fresh_writes_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    fs::write(&file, "x").unwrap();
    let found = look(&file, None, &Root::new(dir.path())).unwrap();
    let mut cache = StatCache::default();
    remember(&mut cache, "a.txt", &found, now_ns());
    assert!(!cache["a.txt"].trusted, "written just now");
    remember(&mut cache, "a.txt", &found, now_ns() + 1_000_000_000);
    assert!(cache["a.txt"].trusted);
    remember(&mut cache, "a.txt", &Found::Missing, now_ns());
    assert!(cache.is_empty());
}

#[test]
fn symlinks_out_of_the_root_are_not_read() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("real"), "r").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("in")).unwrap();
    let root = Root::new(dir.path());
    assert!(matches!(
        look(&dir.path().join("out"), None, &root),
        Ok(Found::Outside { .. })
    ));
    assert_eq!(
        look(&dir.path().join("in"), None, &root).unwrap().digest(),
        Some(Digest::of(b"r"))
    );
}

#[test]
fn walks_files_skipping_directories() {
    let dir = tempfile::tempdir().unwrap();
    for path in ["src/a.ts", "src/deep/b.ts", ".git/HEAD", "top.txt"] {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, "x").unwrap();
    }
    let all: Vec<String> = walk_files(dir.path(), "", &[".git"])
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(all, ["src/a.ts", "src/deep/b.ts", "top.txt"]);
    let src: Vec<String> = walk_files(dir.path(), "src", &[])
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(src, ["src/a.ts", "src/deep/b.ts"]);
}
