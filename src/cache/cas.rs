//! `BlobStore`: file contents by BLAKE3 digest, under `.cache/cas/ab/<digest>`.
//!
//! A blob is written once (to a temporary file in its directory, then renamed) and is
//! hashed while it is copied, so what lands under a digest is exactly that content: a
//! file that changed between hashing and storing is refused, not filed under the wrong
//! name. Reading is the mirror image: a blob is hashed while it is copied out, and a
//! mismatch (a flipped byte, a truncated file) is a miss, never a wrong output.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hash::Digest;

static TEMP: AtomicU64 = AtomicU64::new(0);

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

/// The content-addressed store.
#[derive(Debug, Clone)]
pub(crate) struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub(crate) fn new(cache_dir: &Path) -> BlobStore {
        BlobStore {
            dir: cache_dir.join("cas"),
        }
    }

    pub(crate) fn path(&self, digest: Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    pub(crate) fn contains(&self, digest: Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Store the contents of `source`, which must hash to `digest`.
    pub(crate) fn put(&self, source: &Path, digest: Digest) -> Result<(), BlobError> {
        let target = self.path(digest);
        if target.is_file() {
            return Ok(());
        }
        let dir = target.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir)?;
        copy_verified(&mut File::open(source)?, dir, &target, digest, None)
    }

    /// Copy the blob `digest` to `target` with permissions `mode`, verifying it on the
    /// way; `target` is replaced atomically.
    pub(crate) fn get(&self, digest: Digest, target: &Path, mode: u32) -> Result<(), BlobError> {
        let mut blob = File::open(self.path(digest))?;
        let dir = target.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        copy_verified(&mut blob, dir, target, digest, Some(mode))
    }

    /// Write `bytes` (an output kept inside its cache entry) to `target` with
    /// permissions `mode`, atomically, if they hash to `digest`.
    pub(crate) fn write_inline(
        bytes: &[u8],
        digest: Digest,
        target: &Path,
        mode: u32,
    ) -> Result<(), BlobError> {
        let dir = target.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        copy_verified(&mut &bytes[..], dir, target, digest, Some(mode))
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
    /// named like a digest (leftover temporaries) are skipped.
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

/// Copy `from` into a temporary file in `dir`, hashing as it goes; rename it to
/// `target` only if the content hashes to `digest`.
fn copy_verified(
    from: &mut dyn Read,
    dir: &Path,
    target: &Path,
    digest: Digest,
    mode: Option<u32>,
) -> Result<(), BlobError> {
    let temp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut out = File::create(&temp)?;
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = from.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
        }
        if Digest::from(hasher.finalize()) != digest {
            return Err(BlobError::Corrupt);
        }
        if let Some(mode) = mode {
            out.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        drop(out);
        fs::rename(&temp, target)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

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
        store.get(digest, &restored, 0o755).unwrap();
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
            store.get(digest, &restored, 0o644),
            Err(BlobError::Corrupt)
        ));
        assert_eq!(
            fs::read(&restored).unwrap(),
            b"kept",
            "a bad blob never replaces a file"
        );
        assert!(matches!(
            store.get(Digest::of(b"none"), &restored, 0o644),
            Err(BlobError::Missing)
        ));
        assert_eq!(store.list(), [(digest, 5)]);
    }
}
