//! Content digests and task keys.
//!
//! Everything conduct compares is a BLAKE3 [`Digest`]: file contents, Markdown sections,
//! a command's stdout, and a task's key. A key is the digest of a typed, versioned
//! [`KeyPreimage`] (SPEC §3) serialised in a fixed field order, like just's `CacheKey`
//! fed to a hasher. The pre-image of the last successful run is kept, so `--explain`
//! can name the component that changed instead of saying "key changed".

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Files at least this large are hashed with blake3's memory-mapped, multi-threaded path.
const LARGE_FILE: u64 = 4 * 1024 * 1024;

/// Version of the key format; bump it when [`KeyPreimage`] changes meaning.
pub(crate) const KEY_VERSION: u32 = 1;

/// A BLAKE3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Digest(pub(crate) [u8; 32]);

/// As one byte string (serde would otherwise write 32 separate integers, which made
/// digests the most expensive part of reading the state).
impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Digest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 bytes")
            }

            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Digest, E> {
                <[u8; 32]>::try_from(bytes)
                    .map(Digest)
                    .map_err(|_| E::invalid_length(bytes.len(), &self))
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}

impl Digest {
    pub(crate) fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// The digest of an output that is a symlink to `target` (stored as a symlink,
    /// not followed): its target, in a domain of its own so no file's content can
    /// collide with it.
    pub(crate) fn of_link(target: &str) -> Digest {
        let mut hasher = blake3::Hasher::new_derive_key("conduct 2026 output symlink");
        hasher.update(target.as_bytes());
        Digest(*hasher.finalize().as_bytes())
    }

    /// The first 6 hex digits, for humans (`3fa1c2…`).
    pub(crate) fn short(&self) -> String {
        let mut s = String::with_capacity(13);
        for b in &self.0[..3] {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('…');
        s
    }

    pub(crate) fn hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Parse 64 hex digits (a cache file name).
    pub(crate) fn from_hex(hex: &str) -> Option<Digest> {
        blake3::Hash::from_hex(hex).ok().map(Digest::from)
    }
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.short())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// Hash a file's contents. Large files use blake3's mmap + rayon path; small ones one read.
pub(crate) fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut hasher = blake3::Hasher::new();
    if len >= LARGE_FILE {
        hasher.update_mmap_rayon(path)?;
    } else {
        let mut buffer = Vec::with_capacity(len as usize + 1);
        file.read_to_end(&mut buffer)?;
        hasher.update(&buffer);
    }
    Ok(hasher.finalize().into())
}

/// How a task's command is run, as it enters the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RunKey {
    /// No command: the task only groups its dependencies.
    None,
    /// A string run by the project shell.
    Shell { shell: Vec<String>, command: String },
    /// An argv run directly.
    Exec { argv: Vec<String> },
    /// A coding agent: its name, prompt and model, and its `[agents.NAME]` if any (not
    /// the built-in preset's flags: a newer conduct does not redo agent work).
    Agent {
        agent: String,
        prompt: Option<String>,
        model: Option<String>,
        defined: Option<crate::spec::agent::AgentDef>,
    },
}

/// Everything a task's key is computed from, in the documented order (SPEC §3).
///
/// Paths are project-relative with `/` separators, so the key is the same in every
/// checkout directory and on every machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyPreimage {
    pub(crate) version: u32,
    pub(crate) run: RunKey,
    /// The task's `env`.
    pub(crate) env: BTreeMap<String, String>,
    /// The values of the project's `hash_env` variables (`None`: unset).
    pub(crate) hash_env: BTreeMap<String, Option<String>>,
    pub(crate) workspace: String,
    /// Source files read (plain inputs and glob matches), sorted by path. Files that a
    /// dependency produces are covered by `deps` instead.
    pub(crate) inputs: Vec<(String, Digest)>,
    /// `(file, section, digest)` of every section input, sorted.
    pub(crate) sections: Vec<(String, String, Digest)>,
    /// `{command = …}` inputs and the digest of their stdout, sorted.
    pub(crate) commands: Vec<(String, Digest)>,
    /// The declared outputs, as written (`dist/` for a directory).
    pub(crate) outputs: Vec<String>,
    /// Every direct dependency and the digests of its outputs, sorted by id.
    pub(crate) deps: Vec<(String, Vec<(String, Digest)>)>,
    /// Group barriers: every group this task runs after, and one digest over the
    /// outputs of all its tasks.
    pub(crate) barriers: Vec<(String, Digest)>,
}

impl KeyPreimage {
    /// A task with nothing in it, for tests (and fuzz seeds) of what stores pre-images.
    pub(crate) fn empty() -> KeyPreimage {
        KeyPreimage {
            version: KEY_VERSION,
            run: RunKey::None,
            env: BTreeMap::new(),
            hash_env: BTreeMap::new(),
            workspace: "root".into(),
            inputs: Vec::new(),
            sections: Vec::new(),
            commands: Vec::new(),
            outputs: Vec::new(),
            deps: Vec::new(),
            barriers: Vec::new(),
        }
    }

    /// The key: BLAKE3 over the serialised pre-image.
    pub(crate) fn key(&self) -> Digest {
        // One reused buffer per thread, then one hash call: feeding the hasher field by
        // field costs several times more.
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            let bytes = postcard::to_extend(self, std::mem::take(buffer)).unwrap_or_default();
            let digest = Digest::of(&bytes);
            *buffer = bytes;
            digest
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preimage() -> KeyPreimage {
        KeyPreimage {
            version: KEY_VERSION,
            run: RunKey::Shell {
                shell: vec!["sh".into(), "-c".into()],
                command: "make".into(),
            },
            env: BTreeMap::new(),
            hash_env: BTreeMap::new(),
            workspace: "root".into(),
            inputs: vec![("src/a.ts".into(), Digest::of(b"a"))],
            sections: Vec::new(),
            commands: Vec::new(),
            outputs: vec!["out.txt".into()],
            deps: Vec::new(),
            barriers: Vec::new(),
        }
    }

    #[test]
    fn every_component_changes_the_key() {
        let base = preimage();
        let key = base.key();
        assert_eq!(key, preimage().key(), "deterministic");
        let mut changed = preimage();
        changed.env.insert("MODE".into(), "ci".into());
        assert_ne!(changed.key(), key);
        let mut changed = preimage();
        changed.inputs[0].1 = Digest::of(b"b");
        assert_ne!(changed.key(), key);
        let mut changed = preimage();
        changed.outputs.push("more.txt".into());
        assert_ne!(changed.key(), key);
        let mut changed = preimage();
        changed.run = RunKey::Exec {
            argv: vec!["make".into()],
        };
        assert_ne!(changed.key(), key);
    }

    #[test]
    fn digests_round_trip_as_bytes() {
        let digest = Digest::of(b"x");
        let bytes = postcard::to_allocvec(&digest).unwrap();
        assert_eq!(bytes.len(), 33, "a length byte and the 32 bytes");
        assert_eq!(postcard::from_bytes::<Digest>(&bytes).unwrap(), digest);
        assert!(postcard::from_bytes::<Digest>(&[2, 1, 2]).is_err());
    }

    #[test]
    fn files_hash_like_b3sum() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"hello").unwrap();
        assert_eq!(hash_file(&small).unwrap(), Digest::of(b"hello"));
        let large = dir.path().join("large");
        let bytes: Vec<u8> = (0..LARGE_FILE as usize + 7)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&large, &bytes).unwrap();
        assert_eq!(hash_file(&large).unwrap(), Digest::of(&bytes));
        assert_eq!(Digest::of(b"hello").short().chars().count(), 7);
    }
}
