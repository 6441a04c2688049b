//! The remote cache (issue 16): results shared across machines, so a task run once
//! anywhere is restored everywhere.
//!
//! A remote holds the same two things as `.cache`, laid out as Bazel's HTTP cache is:
//! `<prefix>/cas/<blake3>` (file contents) and `<prefix>/ac/<key>` (what a run of a task
//! key produced), so a bucket can be inspected and expired with the storage's own rules.
//! Everything read from it is untrusted: a blob is used only if its BLAKE3 is its name,
//! an entry only if it is sealed (`sealed.rs`) and, with `CONDUCT_CACHE_KEY` set, signed.
//! The remote failing never fails a build: every error is a miss and one warning.
//!
//! [`RemoteStore`] is the seam the backends implement: a directory (`file://`, an NFS
//! share) here; the S3 API and HTTP/WebDAV through `object_store`.

pub(crate) mod client;
pub(crate) mod dir;

use std::fmt;

/// How a build uses the remote (`--remote-cache-mode`, `[cache] remote_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Mode {
    Off,
    /// Restore from it, never write (the default on a laptop: Bazel #3360).
    Read,
    /// Restore and upload (the default under `CI`).
    ReadWrite,
}

impl Mode {
    pub(crate) const NAMES: &'static [&'static str] = &["off", "read", "readwrite"];

    pub(crate) fn parse(text: &str) -> Option<Mode> {
        match text {
            "off" => Some(Mode::Off),
            "read" => Some(Mode::Read),
            "readwrite" => Some(Mode::ReadWrite),
            _ => None,
        }
    }

    /// `read`, or `readwrite` when the `CI` environment variable is set.
    pub(crate) fn default_for(ci: bool) -> Mode {
        if ci { Mode::ReadWrite } else { Mode::Read }
    }
}

/// Why the remote did not answer; a miss to the build, one warning to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteError(pub(crate) String);

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A remote store of whole objects by path under its prefix (`cas/<hex>`, `ac/<hex>`).
/// Implementations bound their own timeouts; none retries forever.
pub(crate) trait RemoteStore: Send + Sync {
    /// The object at `path`: `Ok(None)` if there is none.
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, RemoteError>;
    /// Whether an object is at `path` (a HEAD, before uploading a blob).
    fn exists(&self, path: &str) -> Result<bool, RemoteError>;
    /// Store `bytes` at `path`, whole: a reader sees the old object or the new one.
    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), RemoteError>;
    /// What it is, for messages (`file:///mnt/cache`, `s3://bucket/prefix`): never a
    /// credential.
    fn describe(&self) -> String;
}

/// The path of a blob.
pub(crate) fn blob_path(digest: &crate::hash::Digest) -> String {
    format!("cas/{}", digest.hex())
}

/// The path of an action entry.
pub(crate) fn action_path(key: &crate::hash::Digest) -> String {
    format!("ac/{}", key.hex())
}

/// The store at `url`: `file:///dir` (a directory, an NFS share). `Err` names what is
/// accepted.
pub(crate) fn connect(url: &str) -> Result<std::sync::Arc<dyn RemoteStore>, RemoteError> {
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(RemoteError(format!(
                "`{url}`: a file:// remote names an absolute directory (file:///mnt/cache)"
            )));
        }
        return Ok(std::sync::Arc::new(dir::DirStore::new(path.into())));
    }
    Err(RemoteError(format!(
        "`{url}` is not a remote conduct can use: write file:///DIR"
    )))
}
