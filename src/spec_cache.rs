//! The validated spec, kept between runs so a no-op build does not parse tasks.toml.
//!
//! Parsing and validating a 10,000-task tasks.toml costs more than everything else a
//! no-op does (DESIGN "The no-op budget"). So after a successful load, the spec and its
//! graph are written to `.cache/state/spec.bin` in postcard, under a key that is the
//! BLAKE3 of the format version, the config text and every rule file. The next run with
//! the same texts reads that instead. Paths and names are checked again as they are read
//! (cheap scans), so a tampered cache cannot smuggle in a path outside the project; any
//! mismatch or damage is simply a miss.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::atomic;
use crate::graph::Graph;
use crate::hash::Digest;
use crate::source::SourceFile;
use crate::spec::Spec;

const MAGIC: &[u8; 8] = b"CONDSPEC";
/// Bump when `Spec` or `Graph` change shape.
const VERSION: u32 = 2;

/// A validated spec and graph read from the cache.
#[derive(Debug, Clone)]
pub(crate) struct CachedSpec {
    pub(crate) spec: Arc<Spec>,
    pub(crate) graph: Arc<Graph>,
}

fn path(cache_dir: &Path) -> PathBuf {
    cache_dir.join("state").join("spec.bin")
}

/// The key: everything the validated spec is a function of.
pub(crate) fn key(config: &SourceFile, rules: &[(String, String)]) -> Digest {
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
    hasher.finalize().into()
}

/// Bytes of the file before the payload.
const HEADER: usize = MAGIC.len() + 4 + 32;

/// The cache file, if it holds the spec for `key` (not yet decoded; header included).
pub(crate) fn probe(cache_dir: &Path, key: Digest) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path(cache_dir)).ok()?;
    let expected = [MAGIC.as_slice(), &VERSION.to_le_bytes(), &key.0].concat();
    if bytes.get(..HEADER)? != expected.as_slice() {
        return None;
    }
    Some(bytes)
}

/// Decode what `probe` found, attached to `source` (the text it was parsed from).
pub(crate) fn decode(file: &[u8], source: &Arc<SourceFile>) -> Option<CachedSpec> {
    let (mut spec, graph): (Spec, Graph) = postcard::from_bytes(file.get(HEADER..)?).ok()?;
    if graph.node_count() < spec.tasks.len() {
        return None;
    }
    spec.source = Arc::clone(source);
    Some(CachedSpec {
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
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&key.0);
    let bytes = postcard::to_extend(&(spec, graph), bytes).map_err(std::io::Error::other)?;
    atomic::write(&path(cache_dir), &bytes)
}
