//! Micro-benchmarks of conduct's hot paths (divan): hashing many small files and one
//! large one, deciding (computing the key of) every task of a built 10,000-task project,
//! and reading + validating + graphing a 100,000-task tasks.toml. `cargo bench` runs
//! them; `bench/hash.sh` compares the same hashing with `b3sum`, process to process.
//!
//! Fixtures are generated once per run under `target/bench-data/` (kept between runs).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The binary's allocator, so the numbers are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    fs::create_dir_all(&dir).expect("create target/bench-data");
    dir
}

/// Deterministic pseudo-random bytes (xorshift), so files do not compress or dedupe.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

const SMALL_FILES: usize = 10_000;
const SMALL_SIZE: usize = 4096;
const LARGE_SIZE: usize = 256 << 20;

/// 10,000 files of 4 KiB: the shape of a source tree.
fn small_files() -> &'static (PathBuf, Vec<String>) {
    static FILES: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = data_dir().join("small");
        let names: Vec<String> = (0..SMALL_FILES).map(|i| format!("f/{i:05}.txt")).collect();
        fs::create_dir_all(root.join("f")).expect("create small/f");
        for (i, name) in names.iter().enumerate() {
            let path = root.join(name);
            if fs::metadata(&path).map(|m| m.len() as usize).ok() != Some(SMALL_SIZE) {
                fs::write(&path, bytes(i as u64, SMALL_SIZE)).expect("write small file");
            }
        }
        (root, names)
    })
}

/// One 256 MiB file: a model, a dataset, a bundle.
fn large_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = data_dir().join("large.bin");
        if fs::metadata(&path).map(|m| m.len() as usize).ok() != Some(LARGE_SIZE) {
            fs::write(&path, bytes(7, LARGE_SIZE)).expect("write large file");
        }
        path
    })
}

#[divan::bench(sample_count = 10)]
fn hash_10k_small_files(bencher: divan::Bencher) {
    let (root, names) = small_files();
    bencher
        .counter(divan::counter::BytesCount::new(SMALL_FILES * SMALL_SIZE))
        .bench(|| assert_eq!(conduct::bench::hash_files(root, names), SMALL_FILES));
}

#[divan::bench(sample_count = 10)]
fn hash_one_256mib_file(bencher: divan::Bencher) {
    let path = large_file();
    bencher
        .counter(divan::counter::BytesCount::new(LARGE_SIZE))
        .bench(|| conduct::bench::hash_file(path).expect("hash"));
}

/// A layered project of `n` tasks: task i reads `src/i.txt` and the outputs of up to
/// two tasks of the previous layer, and writes `out/i.txt`.
fn project_toml(n: usize) -> String {
    let layer = (n / 10).max(1);
    let mut toml = String::with_capacity(n * 120);
    for i in 0..n {
        let mut inputs = format!("\"src/t{i}.txt\"");
        if i >= layer {
            let base = i - layer;
            let _ = write!(inputs, ", \"out/t{base}.txt\"");
            if base + 1 < i {
                let _ = write!(inputs, ", \"out/t{}.txt\"", base + 1);
            }
        }
        let _ = write!(
            toml,
            "[tasks.t{i}]\ninputs = [{inputs}]\noutputs = [\"out/t{i}.txt\"]\nrun = \"cat src/t{i}.txt > out/t{i}.txt\"\n\n"
        );
    }
    toml
}

/// A 10,000-task project whose every task is recorded fresh (`conduct accept all`).
fn built_project() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let n = 10_000;
        let root = data_dir().join("project-10k");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("src")).expect("create src");
        fs::create_dir_all(root.join("out")).expect("create out");
        fs::write(root.join("tasks.toml"), project_toml(n)).expect("write tasks.toml");
        for i in 0..n {
            let text = format!("source {i}\n");
            fs::write(root.join(format!("src/t{i}.txt")), &text).expect("write source");
            fs::write(root.join(format!("out/t{i}.txt")), &text).expect("write output");
        }
        let dir = root.to_string_lossy().into_owned();
        assert_eq!(conduct::run(["conduct", "-C", &dir, "accept", "all"]), 0);
        root
    })
}

#[divan::bench(sample_count = 10)]
fn decide_10k_tasks(bencher: divan::Bencher) {
    let root = built_project();
    bencher.bench(|| assert_eq!(conduct::bench::decide_all(root), Ok(10_000)));
}

#[divan::bench(sample_count = 5)]
fn load_100k_tasks(bencher: divan::Bencher) {
    let config = data_dir().join("load-100k/tasks.toml");
    fs::create_dir_all(config.parent().expect("parent")).expect("create load-100k");
    fs::write(&config, project_toml(100_000)).expect("write tasks.toml");
    bencher.bench(|| assert_eq!(conduct::bench::load(&config), Ok(100_000)));
}
