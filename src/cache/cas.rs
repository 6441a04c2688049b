//! `BlobStore`: file contents by BLAKE3 digest, under `.cache/cas/ab/<digest>`.
//!
//! A blob is written once (to a temporary file in `.cache/tmp/`, then renamed into its
//! shard, which is opened without following symlinks: see `confined`) and is hashed
//! while it is copied, so what lands under a digest is exactly that content: a
//! file that changed between hashing and storing is refused, not filed under the wrong
//! name. Reading is the mirror image: a blob is hashed while it is copied out, and a
//! mismatch (a flipped byte, a truncated file) is a miss, never a wrong output.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::confined::{Dir, Temp, WriteError};
use crate::hash::Digest;

/// Why a blob could not be used.
#[derive(Debug)]
pub(crate) enum BlobError {
    Missing,
    /// The content does not hash to its name.
    Corrupt,
    Io(io::Error),
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobError::Missing => f.write_str("a blob is missing"),
            BlobError::Corrupt => f.write_str("a blob does not match its digest"),
            BlobError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for BlobError {
    fn from(e: io::Error) -> BlobError {
        if e.kind() == io::ErrorKind::NotFound {
            BlobError::Missing
        } else {
            BlobError::Io(e)
        }
    }
}

impl From<WriteError> for BlobError {
    fn from(e: WriteError) -> BlobError {
        match e {
            WriteError::Mismatch => BlobError::Corrupt,
            WriteError::Io(e) => BlobError::from(e),
        }
    }
}

/// The content-addressed store.
#[derive(Debug, Clone)]
pub(crate) struct BlobStore {
    cache_dir: PathBuf,
    dir: PathBuf,
    /// `.cache/tmp/`, shared by everything that writes through this cache.
    temp: Arc<Temp>,
    /// The cache directory, opened at the first write.
    opened: Arc<OnceLock<Option<Dir>>>,
}

impl BlobStore {
    pub(crate) fn new(cache_dir: &Path) -> BlobStore {
        BlobStore {
            cache_dir: cache_dir.to_path_buf(),
            dir: cache_dir.join("cas"),
            temp: Arc::new(Temp::new(cache_dir)),
            opened: Arc::default(),
        }
    }

    /// Where temporary files of writes through this cache go.
    pub(crate) fn temp(&self) -> &Temp {
        &self.temp
    }

    pub(crate) fn path(&self, digest: Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    pub(crate) fn contains(&self, digest: Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The shard directory of `digest`, opened for writing (made if missing; a
    /// symlink planted there is replaced, never followed).
    fn shard(&self, digest: Digest) -> io::Result<Dir> {
        let cache = self
            .opened
            .get_or_init(|| Dir::open(&self.cache_dir).ok())
            .as_ref()
            .ok_or_else(|| io::Error::other(format!("cannot open {}", self.cache_dir.display())))?;
        cache.inner(&format!("cas/{}", &digest.hex()[..2]), true)
    }

    /// Store the contents of `source`, a file the caller has looked at (not through a
    /// symlink), which must hash to `digest`.
    pub(crate) fn put(&self, source: &Path, digest: Digest) -> Result<(), BlobError> {
        if self.contains(digest) {
            return Ok(());
        }
        let mut file = crate::confined::open_no_follow(source)?;
        self.put_from(&mut file, digest)
    }

    /// Store what `from` yields, which must hash to `digest`.
    pub(crate) fn put_from(&self, from: &mut dyn Read, digest: Digest) -> Result<(), BlobError> {
        let shard = self.shard(digest)?;
        shard.write_verified(&digest.hex(), from, digest, None, &self.temp)?;
        Ok(())
    }

    /// Copy the blob `digest` to `name` in `dir` with permissions `mode`, verifying it
    /// on the way; what was at `name` is replaced atomically, never written through.
    pub(crate) fn get(
        &self,
        digest: Digest,
        dir: &Dir,
        name: &str,
        mode: u32,
    ) -> Result<(), BlobError> {
        let mut blob = File::open(self.path(digest))?;
        dir.write_verified(name, &mut blob, digest, Some(mode), &self.temp)?;
        Ok(())
    }

    /// Rehash one stored blob.
    pub(crate) fn check(&self, digest: Digest) -> Result<(), BlobError> {
        let mut blob = File::open(self.path(digest))?;
        let mut hasher = blake3::Hasher::new();
        io::copy(&mut blob, &mut hasher)?;
        if Digest::from(hasher.finalize()) == digest {
            Ok(())
        } else {
            Err(BlobError::Corrupt)
        }
    }

    pub(crate) fn remove(&self, digest: Digest) -> io::Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every stored blob with its size, in no particular order. Files that are not
    /// named like a digest are skipped.
    pub(crate) fn list(&self) -> Vec<(Digest, u64)> {
        let mut blobs = Vec::new();
        let Ok(shards) = fs::read_dir(&self.dir) else {
            return blobs;
        };
        for shard in shards.filter_map(Result::ok) {
            let Ok(entries) = fs::read_dir(shard.path()) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                if let Some(digest) = name.to_str().and_then(Digest::from_hex)
                    && let Ok(meta) = entry.metadata()
                {
                    blobs.push((digest, meta.len()));
                }
            }
        }
        blobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stores_restores_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let source = dir.path().join("out.txt");
        fs::write(&source, "hello").unwrap();
        let digest = Digest::of(b"hello");
        store.put(&source, digest).unwrap();
        assert!(store.contains(digest));
        assert!(matches!(
            store.put(&source, Digest::of(b"other")),
            Err(BlobError::Corrupt)
        ));

        let restored = dir.path().join("restored/out.sh");
        std::fs::create_dir(dir.path().join("restored")).unwrap();
        let into = Dir::open(&dir.path().join("restored")).unwrap();
        store.get(digest, &into, "out.sh", 0o755).unwrap();
        assert_eq!(fs::read(&restored).unwrap(), b"hello");
        assert_eq!(
            fs::metadata(&restored).unwrap().permissions().mode() & 0o777,
            0o755
        );

        let mut bytes = fs::read(store.path(digest)).unwrap();
        bytes[0] ^= 1;
        fs::write(store.path(digest), bytes).unwrap();
        assert!(matches!(store.check(digest), Err(BlobError::Corrupt)));
        fs::write(&restored, "kept").unwrap();
        assert!(matches!(
            store.get(digest, &into, "out.sh", 0o644),
            Err(BlobError::Corrupt)
        ));
        assert_eq!(
            fs::read(&restored).unwrap(),
            b"kept",
            "a bad blob never replaces a file"
        );
        assert!(matches!(
            store.get(Digest::of(b"none"), &into, "out.sh", 0o644),
            Err(BlobError::Missing)
        ));
        assert_eq!(store.list(), [(digest, 5)]);
    }
}
