//! Writing files so that readers never see half of one.
//!
//! Every file conduct keeps (state, and later cache entries) is written to a temporary
//! file in the same directory, flushed to disk, then renamed over the target: rename is
//! atomic on POSIX, so a `kill -9` at any instant leaves either the old file or the new
//! one, never a torn mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replace `path` with `bytes` atomically (creating parent directories), flushed to disk
/// before the rename: for the state, which nothing else can rebuild.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, |mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    })
}

/// Like [`write`], with the contents written by `fill` through a buffer: a large file (the state, a run record of 100,000 tasks) is never
/// held in memory whole. Without `sync`, a power cut may leave the old file or an
/// empty one (for run records, which nothing depends on); a `kill -9` still leaves
/// the old file or the new one.
pub(crate) fn write_streamed(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    replace(path, |file| {
        let mut writer = io::BufWriter::with_capacity(256 * 1024, file);
        fill(&mut writer)?;
        let file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    })
}

/// Like [`write_streamed`] (without sync) into `dir`, the file named afterwards by
/// `name` from the BLAKE3 of what was written: for run records, whose checksum is
/// their name. Returns the path.
pub(crate) fn write_named(
    dir: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    name: impl FnOnce(&blake3::Hash) -> PathBuf,
) -> io::Result<PathBuf> {
    let mut hash = None;
    let temp = dir.join(format!(
        ".record.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = File::create_new(&temp).and_then(|file| {
        // Hashed below the buffer: the hasher sees 256 KiB blocks, not every small
        // write of the serializer (per-call hashing cost more than the JSON itself).
        let hashing = Hashing {
            out: file,
            hasher: blake3::Hasher::new(),
        };
        let mut buffered = io::BufWriter::with_capacity(256 * 1024, hashing);
        fill(&mut buffered)?;
        let hashing = buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        hash = Some(hashing.hasher.finalize());
        Ok(())
    });
    let result = result.and_then(|()| {
        let target = dir.join(name(&hash.unwrap_or_else(|| blake3::hash(b""))));
        fs::rename(&temp, &target).map(|()| target)
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// A writer that hashes what passes through it.
struct Hashing<W: Write> {
    out: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.out.write(bytes)?;
        self.hasher.update(&bytes[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Create a temporary file beside `path`, let `fill` write it, rename it over `path`.
fn replace(path: &Path, fill: impl FnOnce(File) -> io::Result<()>) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // A new file (never an existing one, never through a symlink).
    let result = File::create_new(&temp)
        .and_then(fill)
        .and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.bin");
        super::write(&path, b"one").unwrap();
        super::write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        super::write_streamed(&path, false, |out| {
            out.write_all(b"thr")?;
            out.write_all(b"ee")
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let failed = super::write_streamed(&path, false, |out| {
            out.write_all(b"half")?;
            Err(std::io::Error::other("the writer gave up"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"three",
            "a failed write leaves the old file"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.bin"]);
    }
}
