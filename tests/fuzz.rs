//! A mutation fuzzer on stable Rust over `conduct::fuzz`'s targets (tasks.toml through
//! validation, the graph and every renderer; Markdown sections; rule files; the state,
//! its journal, action-cache packs, the parsed-config cache and compilers' depfiles),
//! bounded in time.
//!
//! Each target starts from its committed corpus (`tests/corpus/<target>/`) and the
//! sound inputs conduct makes itself, replays them all, then mutates for
//! `CONDUCT_FUZZ_SECONDS` (default 8) per target: bit flips, bytes, tokens of the
//! format, deletions, duplications, splices of two inputs, truncations. An input whose
//! outcome fingerprint is new joins the corpus it mutates (a cheap stand-in for
//! coverage). A panic fails the test and saves the input as
//! `tests/corpus/<target>/crash-<hash>`, which every later run replays.
//! `CONDUCT_FUZZ_SAVE=1` also saves the inputs with new fingerprints (to grow the
//! committed corpus). Each target prints its executions, corpus size and panics.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per target and run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target)
}

/// Tokens of each format, inserted whole by the mutator.
fn dictionary(target: &str) -> Vec<Vec<u8>> {
    let words: &[&str] = match target {
        "config" => &[
            "[tasks.",
            "[groups.",
            "[project]\n",
            "[cache]\n",
            "deps = [",
            "inputs = [",
            "outputs = [",
            "run = ",
            "group = ",
            "after = [",
            "jobs = ",
            "timeout = ",
            "\"1h\"",
            "\"0s\"",
            "retries = ",
            "checks = [\"lint\"]",
            "workspace = \"worktree\"",
            "agent = ",
            "priority = \"high\"",
            "effort = \"4h\"",
            "env = { A = \"b\" }",
            "{ path = \"docs/a.md\", section = \"T1\" }",
            "{ command = \"x\" }",
            "#T1",
            ".md",
            "**",
            "../",
            "/",
            "\"",
            "'",
            " = ",
            "[",
            "]",
            "{",
            "}",
            ", ",
            "\n",
            "all",
            "T1",
            "cache = \".git\"",
            "cache = \"src\"",
            "max_size = \"1k\"",
            "hash_env = [\"A\"]",
            "shell = [\"sh\", \"-c\"]",
            "keep_runs = 0",
            "\\n",
            "\\u0000",
            "\t",
            "é",
            "—",
            "out/",
            "src/*.c",
            ".git/",
            "tasks.toml",
            "rules/x.toml",
        ],
        "section" => &[
            "# ",
            "## ",
            "### ",
            "\n",
            "\r\n",
            "```\n",
            "~~~\n",
            "T1",
            "T1:",
            " — ",
            "T2 - x",
            "<!-- ",
            " -->",
            "    ",
            "> ",
            "* ",
            "1. ",
            "#",
            "\\#",
            "Setext\n===\n",
        ],
        "depfile" => &[
            ": ", ":", "\\\n", "\\\r\n", "\\ ", "\\#", "\\:", "\\", "$$", "$", "#", "\n", "\r\n",
            " ", "\t", "a.o", "b.h", "c:/x", "é",
        ],
        "rule" => &[
            "description = ",
            "applies_to = [\"**/*.sql\"]",
            "run = ",
            "pattern = ",
            "forbid = true",
            "metric = \"coverage\"",
            "min = 80",
            "max = 1",
            "required = false",
            "\"(?i)x\"",
            "\"[\"",
            "\"",
            "\n",
            "[",
            "]",
            "true",
            "1e309",
            "-0",
        ],
        _ => &[],
    };
    let mut dictionary: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
    if target == "config" {
        // The class of the width panic: a title or id far past 65,535 characters.
        dictionary.push("x".repeat(70_000).into_bytes());
    }
    dictionary
}

/// Text seeds from the shipped example.
fn text_seeds(target: &str) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| std::fs::read(root.join(path)).unwrap_or_default();
    match target {
        "config" => vec![read("tasks.toml"), b"[tasks.a]\n".to_vec()],
        "section" => vec![read("docs/phase-5-3.md")],
        "rule" => std::fs::read_dir(root.join("rules"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], dictionary: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = [
                    0, 0xff, b'\n', b'"', b'[', b']', b'=', b'#', b'/', b'.', 0x80,
                ][rng.below(11)];
            }
            2 if !dictionary.is_empty() => {
                let word = &dictionary[rng.below(dictionary.len())];
                let at = rng.below(len + 1);
                data.splice(at..at, word.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at..end);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                let copy = data[at..end].to_vec();
                let to = rng.below(len + 1);
                data.splice(to..to, copy);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let at = rng.below(other.len());
                    let end = (at + 1 + rng.below(256)).min(other.len());
                    let to = rng.below(len + 1);
                    let cut = (to + rng.below(64)).min(len);
                    data.splice(to..cut, other[at..end].iter().copied());
                }
            }
            6 if len > 0 => data.truncate(rng.below(len)),
            7 if len >= 4 => {
                let at = rng.below(len - 3);
                let value: u32 = [0, 1, 0xffff_ffff, 0x7fff_ffff, len as u32, 36][rng.below(6)];
                data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            _ if len > 0 => {
                let at = rng.below(len);
                data[at] = rng.next() as u8;
            }
            _ => data.push(rng.next() as u8),
        }
    }
    data
}

/// Fuzz `target` for `budget`; returns (executions, corpus size, crashes saved).
fn fuzz(target: &str, budget: Duration) -> (u64, usize, Vec<PathBuf>) {
    let dir = corpus_dir(target);
    let save_new = std::env::var_os("CONDUCT_FUZZ_SAVE").is_some();
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
        })
        .unwrap_or_default();
    corpus.extend(conduct::fuzz::seeds(target));
    corpus.extend(text_seeds(target));
    let dictionary = dictionary(target);
    let mut crashes = Vec::new();
    let mut seen = HashSet::new();
    let mut executions = 0u64;
    let mut exec = |data: &[u8], crashes: &mut Vec<PathBuf>| -> Option<u64> {
        executions += 1;
        match catch_unwind(AssertUnwindSafe(|| conduct::fuzz::run(target, data))) {
            Ok(fingerprint) => Some(fingerprint),
            Err(_) => {
                let name = format!("crash-{}", &blake3::hash(data).to_hex()[..16]);
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(dir.join(&name), data);
                crashes.push(dir.join(name));
                None
            }
        }
    };
    for input in corpus.clone() {
        if let Some(fingerprint) = exec(&input, &mut crashes) {
            seen.insert(fingerprint);
        }
    }
    let seed = blake3::hash(target.as_bytes());
    let mut rng = Rng(u64::from_le_bytes(seed.as_bytes()[..8].try_into().unwrap()) | 1);
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        let input = &corpus[rng.below(corpus.len())];
        let mutated = mutate(&mut rng, input, &corpus, &dictionary);
        if let Some(fingerprint) = exec(&mutated, &mut crashes)
            && seen.insert(fingerprint)
            && corpus.len() < 1000
        {
            if save_new {
                let _ = std::fs::create_dir_all(&dir);
                let name = format!("new-{}", &blake3::hash(&mutated).to_hex()[..16]);
                let _ = std::fs::write(dir.join(name), &mutated);
            }
            corpus.push(mutated);
        }
    }
    (executions, corpus.len(), crashes)
}

fn budget() -> Duration {
    let seconds = std::env::var("CONDUCT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(8.0);
    Duration::from_secs_f64(seconds)
}

#[track_caller]
fn fuzz_target(target: &str) {
    let (executions, corpus, crashes) = fuzz(target, budget());
    eprintln!(
        "fuzz {target}: {executions} executions, corpus {corpus}, panics {}",
        crashes.len()
    );
    assert!(
        crashes.is_empty(),
        "{target} panicked on {} inputs, saved as {crashes:?}",
        crashes.len()
    );
}

#[test]
fn fuzz_config() {
    fuzz_target("config");
}

#[test]
fn fuzz_section() {
    fuzz_target("section");
}

#[test]
fn fuzz_rule() {
    fuzz_target("rule");
}

#[test]
fn fuzz_state() {
    fuzz_target("state");
}

#[test]
fn fuzz_journal() {
    fuzz_target("journal");
}

#[test]
fn fuzz_pack() {
    fuzz_target("pack");
}

#[test]
fn fuzz_spec_cache() {
    fuzz_target("spec_cache");
}

#[test]
fn fuzz_depfile() {
    fuzz_target("depfile");
}

#[test]
fn every_target_is_fuzzed() {
    assert_eq!(
        conduct::fuzz::TARGETS,
        [
            "config",
            "section",
            "rule",
            "state",
            "journal",
            "pack",
            "spec_cache",
            "depfile"
        ]
    );
}
