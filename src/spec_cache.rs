//! The validated spec, kept between runs so a no-op build does not parse tasks.toml.
//!
//! Parsing and validating a 10,000-task tasks.toml costs more than everything else a
//! no-op does (DESIGN "The no-op budget"). So after a successful load, the spec and its
//! graph are written to `.cache/state/spec.bin` in postcard, under a key that is the
//! BLAKE3 of the format version, the config text and every rule file. The next run with
//! the same texts reads that instead. The file is sealed (`sealed.rs`: magic, version,
//! checksum), so a file whose bytes changed after they were written (damage, or an edit
//! that swaps a command for another) is a miss with a warning, and tasks.toml is parsed
//! again: only commands that are in tasks.toml ever run. Paths and names are checked
//! again as they are read (cheap scans), so not even a sound-looking file can smuggle in
//! a path outside the project.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::atomic;
use crate::graph::Graph;
use crate::hash::Digest;
use crate::sealed::{self, Unsealed};
use crate::source::SourceFile;
use crate::spec::Spec;
use crate::spec::template::Given;

const MAGIC: &[u8; 8] = b"CONDSPEC";
/// Bump when `Spec` or `Graph` change shape.
const VERSION: u32 = 9;

/// A validated spec and graph read from the cache.
#[derive(Debug, Clone)]
pub(crate) struct CachedSpec {
    pub(crate) spec: Arc<Spec>,
    pub(crate) graph: Arc<Graph>,
}

fn path(cache_dir: &Path) -> PathBuf {
    cache_dir.join("state").join("spec.bin")
}

/// The key: everything the validated spec is a function of (the texts, `--var`, what
/// the templates matched).
pub(crate) fn key(config: &SourceFile, rules: &[(String, String)], given: &Given) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&VERSION.to_le_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    for text in [config.name(), config.text()] {
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    for (name, text) in rules {
        for text in [name, text] {
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
    }
    given.hash_into(&mut hasher);
    hasher.finalize().into()
}

/// Bytes before the key.
const HEADER: usize = 12;

/// The cache file, if it was written for `key` (not yet checked or decoded).
pub(crate) fn probe(cache_dir: &Path, key: Digest) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path(cache_dir)).ok()?;
    let expected = [&sealed::header(MAGIC, VERSION)[..], &key.0].concat();
    if bytes.get(..HEADER + 32)? != expected.as_slice() {
        return None;
    }
    Some(bytes)
}

/// Check and decode what `probe` found, attached to `source` (the text it was parsed
/// from). `Err` says why it cannot be used: the caller warns and parses again.
pub(crate) fn decode(file: &[u8], source: &Arc<SourceFile>) -> Result<CachedSpec, Unsealed> {
    let payload = sealed::open(MAGIC, VERSION, file)?;
    let body = payload.get(32..).ok_or(Unsealed::Damaged)?;
    let (mut spec, graph): (Spec, Graph) =
        postcard::from_bytes(body).map_err(|_| Unsealed::Damaged)?;
    if !spec.is_sound() || !graph.is_sound(spec.tasks.len(), spec.groups.len()) {
        return Err(Unsealed::Damaged);
    }
    spec.source = Arc::clone(source);
    Ok(CachedSpec {
        spec: Arc::new(spec),
        graph: Arc::new(graph),
    })
}

/// Store a freshly validated spec under `key`.
pub(crate) fn write(
    cache_dir: &Path,
    key: Digest,
    spec: &Spec,
    graph: &Graph,
) -> std::io::Result<()> {
    let payload =
        postcard::to_extend(&(spec, graph), key.0.to_vec()).map_err(std::io::Error::other)?;
    atomic::write(&path(cache_dir), &sealed::seal(MAGIC, VERSION, &payload))
}

/// Where the cache file is, for messages.
pub(crate) fn display_path(cache: &crate::spec::ProjectPath) -> String {
    format!("{cache}/state/spec.bin")
}
