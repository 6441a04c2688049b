//! Fuzz targets: every parser and every reader of untrusted bytes, each as one function
//! taking `&[u8]` (the shape of a `cargo fuzz` target), which must never panic.
//!
//! `tests/fuzz.rs` drives them with a mutation fuzzer on stable Rust (seeds from
//! [`seeds`] and the committed corpus in `tests/corpus/<target>/`), bounded in time. A
//! target returns a small fingerprint of what the input led to (which errors, how many
//! tasks), which the fuzzer uses as feedback: an input with a new fingerprint joins the
//! corpus it mutates. Nothing here runs a process or writes outside a temporary
//! directory: `{ command = … }` inputs are parsed, never executed.

use std::sync::Arc;

use crate::cache::ActionCache;
use crate::commands::graph::GraphFormat;
use crate::hash::Digest;
use crate::source::SourceFile;
use crate::spec::section::Outline;

/// The targets, by name (the corpus directory of each).
pub const TARGETS: &[&str] = &[
    "config",
    "section",
    "rule",
    "state",
    "journal",
    "pack",
    "spec_cache",
    "depfile",
];

/// Run target `name` on `data`; its fingerprint. Unknown names do nothing.
pub fn run(name: &str, data: &[u8]) -> u64 {
    match name {
        "config" => config(data),
        "section" => section(data),
        "rule" => rule(data),
        "state" => state(data),
        "journal" => journal(data),
        "pack" => pack(data),
        "spec_cache" => spec_cache(data),
        "depfile" => depfile(data),
        _ => 0,
    }
}

/// A fingerprint of some values.
fn fingerprint(parts: &[u64]) -> u64 {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&part.to_le_bytes());
    }
    let bytes = hasher.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default())
}

/// tasks.toml → parse and validate → graph → what `check` prints on errors, or the
/// `list`, `plan --all`, `status` and `graph` renderings of a valid config.
pub fn config(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    let source = SourceFile::new("tasks.toml", text);
    let rules = [(
        "lint".to_owned(),
        "description = \"x\"\npattern = \"TODO\"\nforbid = true\n".to_owned(),
    )];
    match crate::project::parse(&source, &rules, &Default::default()) {
        Err(errors) => {
            let mut kinds: Vec<u64> = Vec::new();
            let error = crate::error::Error::Config {
                config: "tasks.toml".into(),
                errors,
            };
            let mut out = Vec::new();
            let _ = crate::error::render(&error, &mut anstream::StripStream::new(&mut out));
            if let crate::error::Error::Config { errors, .. } = &error {
                for e in errors {
                    kinds.push(fingerprint_str(&format!(
                        "{:?}",
                        std::mem::discriminant(&e.kind)
                    )));
                    let _ = e.kind.help();
                }
            }
            kinds.sort_unstable();
            kinds.dedup();
            fingerprint(&kinds)
        }
        Ok(loaded) => {
            let project = crate::project::Project {
                loaded: Arc::new(loaded),
            };
            let statuses = vec!["never"; project.loaded.spec.tasks.len()];
            let _ = crate::commands::list::table(&project, &statuses);
            let _ = crate::commands::plan::render_all(&project.loaded, 2, false);
            let _ = crate::commands::plan::render_all(&project.loaded, 2, true);
            let _ = crate::commands::status::render(
                &project.loaded.spec,
                &crate::state::State::default(),
                false,
            );
            let tasks: Vec<_> = project.loaded.spec.task_indices().collect();
            for format in [GraphFormat::Dot, GraphFormat::Mermaid, GraphFormat::Json] {
                let _ = crate::commands::graph::render(&project, &tasks, format);
            }
            let _ = crate::spec::disk::check(
                &project.loaded.spec,
                std::path::Path::new("/nonexistent-conduct-fuzz-root"),
                tasks.iter().copied(),
                crate::spec::disk::Leaves::Check,
            );
            fingerprint(&[
                1,
                project.loaded.spec.tasks.len().min(8) as u64,
                project.loaded.spec.groups.len().min(4) as u64,
            ])
        }
    }
}

fn fingerprint_str(text: &str) -> u64 {
    fingerprint(&[
        text.len() as u64,
        u64::from(text.bytes().fold(0u8, |a, b| a ^ b)),
    ])
}

/// A Markdown document: its outline, every heading looked up, the section digests.
pub fn section(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    let outline = Outline::parse(&text);
    let mut found = 0u64;
    let mut missing = 0u64;
    let names: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .chain(["T1".to_owned(), String::new(), "—".to_owned()])
        .collect();
    for name in &names {
        match outline.find(name) {
            Ok(range) => {
                found += 1;
                if let Some(body) = text.get(range) {
                    let _ = crate::spec::section::digest(body);
                }
            }
            Err(_) => missing += 1,
        }
    }
    fingerprint(&[found.min(8), missing.min(8)])
}

/// A rule file.
pub fn rule(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    let source = SourceFile::new("rules/fuzz.toml", text);
    match crate::rules::parse("fuzz", &source) {
        Ok(rule) => {
            let _ = crate::rules::check::rule_digest(&rule);
            1
        }
        Err(errors) => fingerprint(&[2, errors.len().min(8) as u64]),
    }
}

/// The checksum at the end of sealed bytes made right again, so a mutation reaches
/// the decoder behind the seal (what a file damaged *before* it was sealed would be).
fn reseal(data: &[u8]) -> Vec<u8> {
    let mut data = data.to_vec();
    if data.len() >= 44 {
        let body = data.len() - 32;
        let sum = *blake3::hash(&data[..body]).as_bytes();
        data[body..].copy_from_slice(&sum);
    }
    data
}

/// A state snapshot (`.cache/state/state.bin`), as found and resealed.
pub fn state(data: &[u8]) -> u64 {
    let found = crate::state::decode(data, None);
    let resealed = crate::state::decode(&reseal(data), None);
    fingerprint(&[
        u64::from(found.on_disk.dropped.is_some()),
        u64::from(resealed.on_disk.dropped.is_some()),
        resealed.tasks.len().min(8) as u64,
        resealed.stat.len().min(8) as u64,
    ])
}

/// A journal (`.cache/state/state.log`) replayed onto a sound snapshot, as found and
/// with every record's checksum made right.
pub fn journal(data: &[u8]) -> u64 {
    let (snapshot, _) = sound_state();
    let found = crate::state::decode(snapshot, Some(data));
    // Header (magic, version, generation), then [u32 len][8-byte sum][payload].
    let mut fixed = data.to_vec();
    let mut at = 20;
    while at + 12 <= fixed.len() {
        let len =
            u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]) as usize;
        let Some(end) = (at + 12).checked_add(len).filter(|&end| end <= fixed.len()) else {
            break;
        };
        let sum = blake3::hash(&fixed[at + 12..end]);
        fixed[at + 4..at + 12].copy_from_slice(&sum.as_bytes()[..8]);
        at = end;
    }
    let resealed = crate::state::decode(snapshot, Some(&fixed));
    fingerprint(&[
        u64::from(found.on_disk.dropped.is_some()),
        u64::from(resealed.on_disk.dropped.is_some()),
        u64::from(resealed.on_disk.appendable),
        resealed.tasks.len().min(8) as u64,
    ])
}

/// An action-cache pack (`.cache/ac/*.pack`): listed, every entry read, verified.
pub fn pack(data: &[u8]) -> u64 {
    let Some(dir) = Scratch::new() else {
        return 0;
    };
    let ac = dir.path().join("ac");
    // As found, and with every record's checksum made right (header: 12 bytes, then
    // [u32 len][32-byte key][16-byte sum][entry]).
    let mut fixed = data.to_vec();
    let mut at = 12;
    while at + 36 <= fixed.len() {
        let len =
            u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]) as usize;
        let Some(end) = (at + 36).checked_add(len).filter(|&end| end <= fixed.len()) else {
            break;
        };
        if len >= 16 {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&fixed[at + 4..at + 36]);
            hasher.update(&fixed[at + 52..end]);
            let sum = hasher.finalize();
            fixed[at + 36..at + 52].copy_from_slice(&sum.as_bytes()[..16]);
        }
        at = end;
    }
    if std::fs::create_dir_all(&ac).is_err()
        || std::fs::write(ac.join("0-1.pack"), data).is_err()
        || std::fs::write(ac.join("0-2.pack"), &fixed).is_err()
    {
        return 0;
    }
    let cache = crate::cache::Cache::new(dir.path());
    let entries = cache.actions.list();
    let mut sound = 0u64;
    for (key, _, _) in &entries {
        if let Ok(Some(entry)) = cache.actions.read(*key) {
            sound += 1;
            for output in &entry.outputs {
                let _ = output.link_stays_inside();
            }
        }
    }
    let damaged = cache.actions.take_damaged() as u64;
    let _ = crate::cache::maintenance::verify(&cache);
    fingerprint(&[entries.len().min(8) as u64, sound.min(8), damaged.min(8)])
}

/// A parsed-config cache (`.cache/state/spec.bin`).
pub fn spec_cache(data: &[u8]) -> u64 {
    let source = SourceFile::new("tasks.toml", String::new());
    let found = crate::spec_cache::decode(data, &source).is_ok();
    match crate::spec_cache::decode(&reseal(data), &source) {
        Ok(cached) => {
            // What commands do with a decoded spec: select, render.
            let project = crate::project::Project {
                loaded: Arc::new(crate::project::Loaded {
                    spec: Arc::clone(&cached.spec),
                    rules: crate::rules::RuleSet::default(),
                    graph: Arc::clone(&cached.graph),
                }),
            };
            let _ = cached.graph.select(&cached.spec, &[]);
            let statuses = vec!["never"; cached.spec.tasks.len()];
            let _ = crate::commands::list::table(&project, &statuses);
            fingerprint(&[u64::from(found), 1, cached.spec.tasks.len().min(8) as u64])
        }
        Err(why) => fingerprint(&[u64::from(found), fingerprint_str(&why.to_string())]),
    }
}

/// A compiler's dependency file (`gcc -MD`): the prerequisites, or the error's line.
pub fn depfile(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    match crate::depfile::parse(&text) {
        Ok(names) => fingerprint(&[1, names.len().min(8) as u64]),
        Err(e) => fingerprint(&[
            2,
            e.line.min(8) as u64,
            fingerprint_str(e.message.split('`').next().unwrap_or_default()),
        ]),
    }
}

/// Sound inputs for `target` made by conduct itself (the binary formats), to start
/// the mutations from.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "state" => vec![sound_state().0.clone()],
        "journal" => vec![sound_state().1.clone()],
        "pack" => seed_pack().into_iter().collect(),
        "spec_cache" => seed_spec_cache().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The shipped example's config.
const EXAMPLE: &str = include_str!("../tasks.toml");

fn seed_task() -> crate::state::TaskState {
    crate::state::TaskState {
        success: Some(crate::state::Success {
            key: Digest::of(b"key"),
            outputs: vec![("out/a.txt".into(), Digest::of(b"a"))],
            duration_ms: 12,
            discovered: vec![("src/a.h".into(), Some(Digest::of(b"h")))],
        }),
        last_run: None,
        checks: Vec::new(),
    }
}

/// A snapshot with one task, and a journal of two changes that extends it.
fn sound_state() -> &'static (Vec<u8>, Vec<u8>) {
    static SOUND: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    SOUND.get_or_init(|| {
        let Some(dir) = Scratch::new() else {
            return (Vec::new(), Vec::new());
        };
        let store = crate::state::StateStore::new(dir.path());
        let mut state = crate::state::State::default();
        state.tasks.insert("T1".into(), seed_task());
        let _ = store.rewrite(&mut state);
        let snapshot = std::fs::read(dir.path().join("state/state.bin")).unwrap_or_default();
        let changes = [
            crate::state::Change::Task("T2".into(), Some(seed_task())),
            crate::state::Change::Task("T1".into(), None),
        ];
        let _ = store.save(&mut state, &changes);
        let journal = std::fs::read(dir.path().join("state/state.log")).unwrap_or_default();
        (snapshot, journal)
    })
}

fn seed_pack() -> Option<Vec<u8>> {
    let dir = Scratch::new()?;
    let cache = ActionCache::new(dir.path());
    let entry = crate::cache::ActionResult {
        key: Digest::of(b"key"),
        outputs: vec![
            crate::cache::CachedOutput {
                path: "out/d3/alpha".into(),
                digest: Digest::of(b"a"),
                mode: 0o644,
                inline: Some(b"a".to_vec()),
                link: None,
            },
            crate::cache::CachedOutput {
                path: "out/d3/link".into(),
                digest: Digest::of_link("alpha"),
                mode: 0o777,
                inline: None,
                link: Some("alpha".into()),
            },
        ],
        exit_code: 0,
        duration_ms: 3,
        preimage: crate::hash::KeyPreimage::empty(),
        checks: Vec::new(),
        discovered: vec![("src/a.h".into(), Some(Digest::of(b"h")))],
        agent_cost_usd: None,
    };
    cache.put(&entry).ok()?;
    cache.remove(Digest::of(b"gone")).ok()?;
    let pack = std::fs::read_dir(dir.path().join("ac"))
        .ok()?
        .next()?
        .ok()?;
    std::fs::read(pack.path()).ok()
}

fn seed_spec_cache() -> Option<Vec<u8>> {
    let dir = Scratch::new()?;
    let source = SourceFile::new("tasks.toml", EXAMPLE);
    let rules = crate::rules::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), "rules").0;
    let loaded = crate::project::parse(&source, &rules, &Default::default()).ok()?;
    let key = crate::spec_cache::key(&source, &rules, &Default::default());
    crate::spec_cache::write(dir.path(), key, &loaded.spec, &loaded.graph).ok()?;
    std::fs::read(dir.path().join("state/spec.bin")).ok()
}

/// A directory of its own under the system's temporary directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Option<Scratch> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("conduct-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).ok()?;
        Some(Scratch(path))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
