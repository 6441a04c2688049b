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
pub(crate) mod object;
pub(crate) mod survey;

use std::fmt;

pub(crate) use object::Timeouts;

/// How a build uses the remote (`--remote-cache-mode`, `[cache] remote_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Mode {
    Off,
    /// Restore from it, never write (the default on a laptop: Bazel #3360).
    Read,
    /// Restore and upload (the default under `CI`).
    ReadWrite,
}

#[allow(dead_code)]
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

    /// As `--remote-cache-mode` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Read => "read",
            Mode::ReadWrite => "readwrite",
        }
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
    /// Every object under the directory `prefix` (`ac`, `cas`): its path (`ac/<hex>`,
    /// relative to the remote's root, as the other calls take it) and size in bytes.
    /// `Ok(None)`: this store cannot list (a WebDAV server without PROPFIND), which
    /// is no error: `cache stats --remote` says so instead of totals. Only for reports;
    /// a build never lists, since a listing costs a request per thousand objects.
    fn list(&self, prefix: &str) -> Result<Option<Vec<(String, u64)>>, RemoteError>;
    /// What it is, for messages (`file:///mnt/cache`, `s3://bucket/prefix`): never a
    /// credential.
    fn describe(&self) -> String;
}

/// Requests in flight at once, each way: fetches of one wave, and uploads. Enough to
/// hide a remote's round trip (16 x 20 ms apart is 800 requests a second), never a
/// connection per task (Bazel's default is 100).
pub(crate) const AT_ONCE: usize = 16;

/// `work` on every item, [`AT_ONCE`] at a time on threads of their own (the remote's
/// requests wait on the network, not the CPU, so rayon's one thread per core would
/// be too few); the results in the items' order.
pub(crate) fn each_at_once<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..AT_ONCE.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return done;
                        };
                        done.push((i, work(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

/// Whether `path` is one conduct makes (`cas/<hex>`, `ac/<hex>`, `ac`): non-empty
/// segments of ASCII letters and digits, so no `..`, no absolute path, no hidden file.
/// The backends ask for nothing else, and a listing reports nothing else.
pub(crate) fn is_cache_path(path: &str) -> bool {
    path.split('/')
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The path of a blob.
pub(crate) fn blob_path(digest: &crate::hash::Digest) -> String {
    format!("cas/{}", digest.hex())
}

/// The path of an action entry.
pub(crate) fn action_path(key: &crate::hash::Digest) -> String {
    format!("ac/{}", key.hex())
}

/// The schemes [`open`] accepts, for messages.
pub(crate) const SCHEMES: &str = "s3://bucket/prefix, http(s)://host/path/ or file:///dir";

/// The remote at `url`, with the default timeouts (connect 2 s, request 30 s).
pub(crate) fn open(url: &str) -> Result<Box<dyn RemoteStore>, RemoteError> {
    open_with(url, Timeouts::default())
}

/// The remote at `url`: `file:///dir` (a directory, an NFS share), `s3://bucket/prefix`
/// (credentials, region and endpoint from the standard `AWS_*` environment) or
/// `http(s)://host/path/` (WebDAV: GET, HEAD, PUT). Opening does not reach the server.
pub(crate) fn open_with(
    url: &str,
    timeouts: Timeouts,
) -> Result<Box<dyn RemoteStore>, RemoteError> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("file") => {
            let parsed = url::Url::parse(url)
                .map_err(|e| RemoteError(format!("not a remote cache URL: {url}: {e}")))?;
            match parsed.to_file_path() {
                Ok(dir) if parsed.host_str().is_none_or(str::is_empty) => {
                    Ok(Box::new(dir::DirStore::new(dir)))
                }
                _ => Err(RemoteError(format!(
                    "{url}: a file:// remote is an absolute local directory (file:///mnt/cache)"
                ))),
            }
        }
        Some("s3" | "http" | "https") => {
            Ok(Box::new(object::ObjectStoreRemote::open(url, timeouts)?))
        }
        _ => Err(RemoteError(format!(
            "unknown remote cache {:?}: expected {SCHEMES}",
            object::shown(url)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_dispatches_on_the_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        assert_eq!(open(&url).unwrap().describe(), url);
        assert!(open("file://elsewhere/x").is_err());
        assert!(open("file:relative").is_err());
        assert_eq!(open("s3://bucket/p").unwrap().describe(), "s3://bucket/p");
        assert_eq!(open("HTTP://h:1/c/").unwrap().describe(), "http://h:1/c/");
        let unknown = open("ftp://user:pw@host/x").err().unwrap().0;
        assert!(unknown.contains("s3://bucket/prefix"), "{unknown}");
        assert!(!unknown.contains("pw"), "{unknown}");
        assert!(open("/abs/dir").is_err());
    }
}
