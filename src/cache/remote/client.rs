//! A build's use of the remote: entries and blobs fetched on a local miss (verified
//! before they reach the local cache), results uploaded in the background after a
//! success, and the remote dropped for the rest of the build at its first error (one
//! warning; the build goes on locally). Entries are sealed (`sealed.rs`) and, with
//! `CONDUCT_CACHE_KEY` set, carry a keyed BLAKE3 tag that readers with the key require.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AT_ONCE, Mode, RemoteError, RemoteStore, action_path, blob_path};
use crate::cache::{ActionResult, BlobStore};
use crate::hash::Digest;
use crate::sealed;

const MAGIC: &[u8; 8] = b"CONDREMO";
/// Bump when `Envelope` or `ActionResult` change shape.
const VERSION: u32 = 1;

/// What an action entry is stored as.
#[derive(Serialize, Deserialize)]
struct Envelope {
    entry: ActionResult,
    /// Keyed BLAKE3 of the encoded entry, when the writer had `CONDUCT_CACHE_KEY`.
    tag: Option<[u8; 32]>,
}

/// Counts for the summary and the JSON events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traffic {
    pub(crate) hits: u64,
    pub(crate) bytes_down: u64,
    pub(crate) bytes_up: u64,
    pub(crate) uploads: u64,
}

/// What the remote said about one key, for `--explain` (SPEC §5: every decision is
/// explained, the remote's part included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Said {
    /// The entry and every blob it needs came back, verified.
    Hit,
    /// Nothing usable under this key: `None` when there was simply nothing, else why
    /// what was there was refused (unsigned, a corrupt or missing blob).
    Miss(Option<String>),
    /// The remote failed (now or earlier in this build): this is that error.
    Error(String),
}

/// One upload: an entry and the blobs it needs that the remote may lack.
struct Upload {
    entry: ActionResult,
}

/// The queue of uploads and the threads that send them.
type Uploaders = (Sender<Upload>, Vec<JoinHandle<()>>);

/// The remote as one build uses it.
pub(crate) struct Remote {
    store: Arc<dyn RemoteStore>,
    mode: Mode,
    /// The signing key, derived from `CONDUCT_CACHE_KEY`.
    key: Option<[u8; 32]>,
    /// The first error, once there was one: the rest of the build goes on without the
    /// remote.
    broken: Arc<OnceLock<String>>,
    warnings: Arc<Mutex<Vec<String>>>,
    hits: AtomicU64,
    /// Entries refused for their signature (said once, at the end).
    unsigned: AtomicU64,
    bytes_down: AtomicU64,
    bytes_up: Arc<AtomicU64>,
    uploads: Arc<AtomicU64>,
    uploader: Mutex<Option<Uploaders>>,
    blobs: BlobStore,
    /// What the remote said about each key it was asked for: a key is asked once per
    /// build, and `--explain` reads the answer back.
    said: Mutex<HashMap<Digest, Said>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("store", &self.store.describe())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The signing key for `CONDUCT_CACHE_KEY`'s value.
fn signing_key(secret: &str) -> [u8; 32] {
    blake3::derive_key(
        "conduct 2026-12-01 remote cache entry signing",
        secret.as_bytes(),
    )
}

impl Remote {
    /// `store` used in `mode`, entries signed with `secret` when given; blobs fetched
    /// into `blobs`.
    pub(crate) fn new(
        store: Arc<dyn RemoteStore>,
        mode: Mode,
        secret: Option<&str>,
        blobs: BlobStore,
    ) -> Remote {
        Remote {
            store,
            mode,
            key: secret.map(signing_key),
            broken: Arc::default(),
            warnings: Arc::default(),
            hits: AtomicU64::new(0),
            unsigned: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            bytes_up: Arc::default(),
            uploads: Arc::default(),
            uploader: Mutex::new(None),
            blobs,
            said: Mutex::default(),
        }
    }

    fn usable(&self) -> bool {
        self.mode != Mode::Off && self.broken.get().is_none()
    }

    /// The remote failed: say so once, and go on without it.
    fn failed(
        broken: &OnceLock<String>,
        warnings: &Mutex<Vec<String>>,
        store: &str,
        e: &RemoteError,
    ) {
        if broken.set(e.to_string()).is_ok() {
            warnings
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!(
                    "remote cache {store}: {e}; going on without it for this build"
                ));
        }
    }

    fn note(&self, text: String) {
        self.warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text);
    }

    /// The remote's entry for `key`, with every blob it needs fetched, verified and
    /// stored locally; `None` on a miss, an unusable entry or an error (what it was is
    /// kept for [`Remote::said`]).
    pub(crate) fn fetch(&self, key: Digest) -> Option<ActionResult> {
        if self.mode == Mode::Off || self.said_map().contains_key(&key) {
            return None;
        }
        let (found, said) = match self.broken.get() {
            Some(error) => (None, Said::Error(error.clone())),
            None => self.fetch_once(key),
        };
        self.said_map().insert(key, said);
        found
    }

    /// What the remote said when this build asked it for `key` (`None`: not asked).
    pub(crate) fn said(&self, key: Digest) -> Option<Said> {
        self.said_map().get(&key).cloned()
    }

    fn said_map(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Said>> {
        self.said.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, e: &RemoteError) -> (Option<ActionResult>, Said) {
        Remote::failed(&self.broken, &self.warnings, &self.store.describe(), e);
        (None, Said::Error(e.to_string()))
    }

    fn fetch_once(&self, key: Digest) -> (Option<ActionResult>, Said) {
        let bytes = match self.store.get(&action_path(&key)) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return (None, Said::Miss(None)),
            Err(e) => return self.error(&e),
        };
        self.bytes_down
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let entry = match self.open(key, &bytes) {
            Ok(entry) => entry,
            Err(why) => return (None, Said::Miss(Some(why))),
        };
        for output in &entry.outputs {
            let Some(digest) = output.blob() else {
                continue;
            };
            if self.blobs.contains(digest) {
                continue;
            }
            let blob = match self.store.get(&blob_path(&digest)) {
                Ok(Some(blob)) => blob,
                Ok(None) => {
                    let why = format!("blob {} of {} is missing", digest.short(), output.path);
                    return (None, Said::Miss(Some(why)));
                }
                Err(e) => return self.error(&e),
            };
            self.bytes_down
                .fetch_add(blob.len() as u64, Ordering::Relaxed);
            // Content-addressed: a blob is its digest or it is nothing.
            if Digest::of(&blob) != digest {
                let why = format!("blob {} of {} is corrupt", digest.short(), output.path);
                self.note(format!(
                    "remote cache {}: {why}; the task runs instead",
                    self.store.describe(),
                ));
                return (None, Said::Miss(Some(why)));
            }
            if let Err(e) = self.blobs.put_from(&mut &blob[..], digest) {
                let why = format!("blob {} could not be stored locally: {e}", digest.short());
                return (None, Said::Miss(Some(why)));
            }
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        (Some(entry), Said::Hit)
    }

    /// Check and decode a stored entry; `Err` says why it is refused.
    fn open(&self, key: Digest, bytes: &[u8]) -> Result<ActionResult, String> {
        let damaged = || "the entry is damaged or from another version of conduct".to_owned();
        let payload = sealed::open(MAGIC, VERSION, bytes).map_err(|_| damaged())?;
        let envelope: Envelope = postcard::from_bytes(payload).map_err(|_| damaged())?;
        if envelope.entry.key != key {
            return Err("the entry is stored under another key".to_owned());
        }
        if let Some(signing) = &self.key {
            let body = postcard::to_allocvec(&envelope.entry).map_err(|_| damaged())?;
            let expected = blake3::keyed_hash(signing, &body);
            let signed = envelope
                .tag
                .is_some_and(|tag| expected == blake3::Hash::from_bytes(tag));
            if !signed {
                self.unsigned.fetch_add(1, Ordering::Relaxed);
                return Err("the entry is not signed with this CONDUCT_CACHE_KEY".to_owned());
            }
        }
        Ok(envelope.entry)
    }

    /// After a success (in `readwrite` mode): upload the entry and the blobs it needs,
    /// in the background.
    pub(crate) fn upload(&self, entry: &ActionResult) {
        if self.mode != Mode::ReadWrite || !self.usable() {
            return;
        }
        let mut uploader = self.uploader.lock().unwrap_or_else(PoisonError::into_inner);
        if uploader.is_none() {
            let (send, receive) = mpsc::channel();
            let receive = Arc::new(Mutex::new(receive));
            let workers: Vec<JoinHandle<()>> = (0..AT_ONCE)
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .name("conduct-upload".into())
                        .spawn(self.worker(Arc::clone(&receive)))
                        .ok()
                })
                .collect();
            if !workers.is_empty() {
                *uploader = Some((send, workers));
            }
        }
        if let Some((send, _)) = uploader.as_ref() {
            let _ = send.send(Upload {
                entry: entry.clone(),
            });
        }
    }

    fn worker(&self, receive: Arc<Mutex<Receiver<Upload>>>) -> impl FnOnce() + Send + 'static {
        let store = Arc::clone(&self.store);
        let key = self.key;
        let blobs = self.blobs.clone();
        let broken = Arc::clone(&self.broken);
        let warnings = Arc::clone(&self.warnings);
        let bytes_up = Arc::clone(&self.bytes_up);
        let uploads = Arc::clone(&self.uploads);
        move || {
            loop {
                // The lock is held only to take the next upload, not to send it.
                let next = receive
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv();
                let Ok(Upload { entry }) = next else { break };
                if broken.get().is_some() {
                    continue;
                }
                let sent = send_one(&*store, key, &blobs, &entry);
                match sent {
                    Ok(bytes) => {
                        bytes_up.fetch_add(bytes, Ordering::Relaxed);
                        uploads.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => Remote::failed(&broken, &warnings, &store.describe(), &e),
                }
            }
        }
    }

    /// Upload `entry` and its blobs now, whatever the mode (`conduct cache push` asks
    /// for it); the bytes sent. After a first error the rest are not tried (a remote that is down would
    /// otherwise cost every entry its timeouts).
    pub(crate) fn push(&self, entry: &ActionResult) -> Result<u64, RemoteError> {
        if let Some(error) = self.broken.get() {
            return Err(RemoteError(format!(
                "not tried after an earlier error: {error}"
            )));
        }
        send_one(&*self.store, self.key, &self.blobs, entry).inspect_err(|e| {
            Remote::failed(&self.broken, &self.warnings, &self.store.describe(), e);
        })
    }

    /// What the remote is, for messages.
    pub(crate) fn describe(&self) -> String {
        self.store.describe()
    }

    /// How builds use it.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether entries are signed and checked (`CONDUCT_CACHE_KEY` is set).
    pub(crate) fn signed(&self) -> bool {
        self.key.is_some()
    }

    /// Whether the remote has an entry for `key` (one HEAD; nothing fetched or
    /// checked), for reports. Whatever the mode, and an error is returned, not taken
    /// for a broken remote: a report asks on purpose.
    pub(crate) fn has_entry(&self, key: Digest) -> Result<bool, RemoteError> {
        self.store.exists(&action_path(&key))
    }

    /// Every object under `prefix` (`ac`, `cas`) with its size, or `None` when the
    /// store cannot list (see [`RemoteStore::list`]), for reports.
    pub(crate) fn list(&self, prefix: &str) -> Result<Option<Vec<(String, u64)>>, RemoteError> {
        self.store.list(prefix)
    }

    /// The build is over: wait for pending uploads, at most `patience`.
    pub(crate) fn finish(&self, patience: Duration) {
        let taken = self
            .uploader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((send, workers)) = taken else {
            return;
        };
        drop(send);
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            for worker in workers {
                let _ = worker.join();
            }
            let _ = done.send(());
        });
        if finished.recv_timeout(patience).is_err() {
            self.note(format!(
                "remote cache {}: uploads still pending after {}s; left unfinished",
                self.store.describe(),
                patience.as_secs()
            ));
        }
    }

    /// What was moved, for the summary.
    pub(crate) fn traffic(&self) -> Traffic {
        Traffic {
            hits: self.hits.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            uploads: self.uploads.load(Ordering::Relaxed),
        }
    }

    /// Warnings so far (each said once).
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        let unsigned = self.unsigned.swap(0, Ordering::Relaxed);
        if unsigned > 0 {
            self.note(format!(
                "remote cache {}: {unsigned} entr{} not signed with this CONDUCT_CACHE_KEY, ignored",
                self.store.describe(),
                if unsigned == 1 { "y" } else { "ies" }
            ));
        }
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Upload the blobs `entry` needs that the remote lacks (HEAD first), then the entry;
/// the bytes sent.
fn send_one(
    store: &dyn RemoteStore,
    key: Option<[u8; 32]>,
    blobs: &BlobStore,
    entry: &ActionResult,
) -> Result<u64, RemoteError> {
    let mut sent = 0;
    for output in &entry.outputs {
        let Some(digest) = output.blob() else {
            continue;
        };
        let path = blob_path(&digest);
        if store.exists(&path)? {
            continue;
        }
        let bytes = std::fs::read(blobs.path(digest))
            .map_err(|e| RemoteError(format!("cannot read blob {}: {e}", digest.short())))?;
        if Digest::of(&bytes) != digest {
            // The local copy is damaged: better nothing than a wrong blob.
            return Ok(sent);
        }
        store.put(&path, &bytes)?;
        sent += bytes.len() as u64;
    }
    let body = postcard::to_allocvec(entry).map_err(|e| RemoteError(e.to_string()))?;
    let tag = key.map(|k| *blake3::keyed_hash(&k, &body).as_bytes());
    let envelope = Envelope {
        entry: entry.clone(),
        tag,
    };
    let payload = postcard::to_allocvec(&envelope).map_err(|e| RemoteError(e.to_string()))?;
    let sealed = sealed::seal(MAGIC, VERSION, &payload);
    store.put(&action_path(&entry.key), &sealed)?;
    Ok(sent + sealed.len() as u64)
}
