//! Entry points for the remote-cache backend tests (`tests/remote_backends.rs`): the
//! backends that `[cache] remote` opens, driven through the same `RemoteStore` trait
//! the build uses, against real servers the tests start (moto's S3, nginx's WebDAV).
//! Hidden from the docs and not a stable API; errors are the messages a user would see.

use std::time::Duration;

use crate::cache::remote::{self, RemoteStore, Timeouts};
use crate::hash::Digest;

/// An open remote cache, by URL (`file:///dir`, `s3://bucket/prefix`,
/// `http://host/path/`).
pub struct Remote(Box<dyn RemoteStore>);

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Remote").field(&self.0.describe()).finish()
    }
}

impl Remote {
    /// Open with the default timeouts (connect 2 s, request 30 s).
    pub fn open(url: &str) -> Result<Remote, String> {
        remote::open(url).map(Remote).map_err(|e| e.0)
    }

    /// Open with these timeouts (to show a silent server is an error, quickly).
    pub fn open_with_timeouts(
        url: &str,
        connect: Duration,
        request: Duration,
    ) -> Result<Remote, String> {
        remote::open_with(url, Timeouts { connect, request })
            .map(Remote)
            .map_err(|e| e.0)
    }

    /// The object at `path` (`cas/<hex>`, `ac/<hex>`), if any.
    pub fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.get(path).map_err(|e| e.0)
    }

    /// Whether an object is at `path`.
    pub fn exists(&self, path: &str) -> Result<bool, String> {
        self.0.exists(path).map_err(|e| e.0)
    }

    /// Store `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<(), String> {
        self.0.put(path, bytes).map_err(|e| e.0)
    }

    /// Every object under `prefix` (`ac`, `cas`) with its size; `None` when the
    /// store cannot list.
    pub fn list(&self, prefix: &str) -> Result<Option<Vec<(String, u64)>>, String> {
        self.0.list(prefix).map_err(|e| e.0)
    }

    /// What the remote is, as messages show it (never a credential).
    pub fn describe(&self) -> String {
        self.0.describe()
    }
}

/// Open the remote at `url` and round-trip through it: a blob (`cas/<blake3>`) and an
/// action entry (`ac/<key>`) are absent, then written, then there and read back whole;
/// an entry written again is replaced whole; a 3 MiB blob comes back byte for byte;
/// a listing (where the store can list) holds what was written, by the paths the other
/// calls take, with its size.
pub fn remote_roundtrip(url: &str) -> Result<(), String> {
    let remote = Remote::open(url)?;
    // Fresh names on every call, so a shared bucket never answers from an earlier run.
    let nonce = format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
    );
    let blob = format!("blob {nonce}").into_bytes();
    let blob_path = remote::blob_path(&Digest::of(&blob));
    let entry_path = remote::action_path(&Digest::of(format!("key {nonce}").as_bytes()));

    expect(remote.get(&blob_path)?.is_none(), "a fresh blob is absent")?;
    expect(!remote.exists(&blob_path)?, "a fresh blob does not exist")?;
    remote.put(&blob_path, &blob)?;
    expect(remote.exists(&blob_path)?, "a written blob exists")?;
    expect(
        remote.get(&blob_path)?.as_deref() == Some(&blob[..]),
        "a written blob reads back",
    )?;

    expect(
        remote.get(&entry_path)?.is_none(),
        "a fresh entry is absent",
    )?;
    remote.put(&entry_path, b"first entry, the longer one")?;
    remote.put(&entry_path, b"second")?;
    expect(
        remote.get(&entry_path)?.as_deref() == Some(&b"second"[..]),
        "an entry written again is replaced whole",
    )?;

    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let big_path = remote::blob_path(&Digest::of(&[&big[..], nonce.as_bytes()].concat()));
    remote.put(&big_path, &big)?;
    expect(
        remote.get(&big_path)?.is_some_and(|back| back == big),
        "a 3 MiB blob reads back byte for byte",
    )?;

    if let Some(blobs) = remote.list("cas")? {
        expect(
            blobs.contains(&(big_path.clone(), big.len() as u64))
                && blobs.contains(&(blob_path.clone(), blob.len() as u64)),
            "the blobs written are listed under cas/ with their sizes",
        )?;
        expect(
            !blobs.iter().any(|(path, _)| path == &entry_path),
            "a listing of cas/ holds no entry",
        )?;
        let entries = remote.list("ac")?.unwrap_or_default();
        expect(
            entries.contains(&(entry_path.clone(), 6)),
            "the entry is listed under ac/ with its last size",
        )?;
    }
    Ok(())
}

fn expect(holds: bool, what: &str) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(format!("round trip: expected that {what}"))
    }
}
