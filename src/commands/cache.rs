//! `conduct cache stats [--remote] | gc | verify | push`: the cache as a whole (SPEC §8).

mod remote;

use rustc_hash::FxHashSet;

use crate::cache::maintenance;
use crate::commands::{Stdout, json_line};
use crate::error::{EXIT_FAILURE, Error};
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::units::format_size;

/// Which cache command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CacheCommand {
    /// With `remote`, the remote's stats too (the only cache command that asks it).
    Stats {
        remote: bool,
    },
    /// Shrink to at most this many bytes (`None`: the project's `[cache] max_size`).
    Gc {
        max_bytes: Option<u64>,
    },
    Verify,
    /// Upload what the local cache has for these tasks (all without targets).
    Push {
        targets: Vec<String>,
    },
}

/// `cache push --json`: `{"remote", "entries", "bytes"}`.
#[derive(serde::Serialize)]
struct JsonPush {
    remote: String,
    entries: usize,
    bytes: u64,
}

/// `cache stats --json`: `{"entries", "blobs", "bytes", "last_build": {"restored", "ran",
/// "hit_rate"}|null}` (`hit_rate`: restored / (restored + ran), null when neither), and
/// with `--remote`, `"remote": {...}` (see `remote::JsonRemote`).
#[derive(serde::Serialize)]
struct JsonStats {
    entries: usize,
    blobs: usize,
    bytes: u64,
    last_build: Option<JsonHits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<remote::JsonRemote>,
}

#[derive(serde::Serialize)]
struct JsonHits {
    restored: u32,
    ran: u32,
    hit_rate: Option<f64>,
}

/// `cache gc --json`: `{"removed_entries", "removed_blobs", "before", "after", "max_bytes",
/// "needed"}` (sizes in bytes; `needed`: what the current state keeps).
#[derive(serde::Serialize)]
struct JsonGc {
    removed_entries: usize,
    removed_blobs: usize,
    before: u64,
    after: u64,
    max_bytes: u64,
    needed: u64,
}

/// `cache verify --json`: `{"ok", "blobs", "entries", "corrupt_blobs", "damaged_entries",
/// "broken_entries"}` (the last three: hex digests, each removed; not ok: exit 1).
#[derive(serde::Serialize)]
struct JsonVerify {
    ok: bool,
    blobs: usize,
    entries: usize,
    corrupt_blobs: Vec<String>,
    damaged_entries: Vec<String>,
    broken_entries: Vec<String>,
}

pub(crate) fn run(
    locator: &Locator,
    command: CacheCommand,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    if let CacheCommand::Push { targets } = &command {
        return push(locator, targets, json, out);
    }
    let access = match command {
        CacheCommand::Stats { .. } | CacheCommand::Push { .. } => Access::Read,
        CacheCommand::Gc { .. } | CacheCommand::Verify => Access::Write,
    };
    let session = Session::open(locator, access)?;
    let cache_error = |source| Error::Cache {
        path: session.cache_dir().to_path_buf(),
        source,
    };
    let mut code = 0;
    let text = match command {
        CacheCommand::Push { .. } => String::new(),
        CacheCommand::Stats { remote } => {
            // Only when asked: plain `cache stats` never touches the network.
            let remote = if remote {
                Some(remote::report(locator, &session)?)
            } else {
                None
            };
            let stats = maintenance::stats(session.cache());
            let last = session.state().last_build.map(|last| {
                let asked = last.restored + last.ran;
                JsonHits {
                    restored: last.restored,
                    ran: last.ran,
                    hit_rate: (asked > 0).then(|| f64::from(last.restored) / f64::from(asked)),
                }
            });
            if json {
                json_line(&JsonStats {
                    entries: stats.entries,
                    blobs: stats.blobs,
                    bytes: stats.bytes,
                    last_build: last,
                    remote: remote.as_ref().map(remote::json),
                })
            } else {
                let mut text = format!(
                    "{} entries, {} blobs, {}\n",
                    stats.entries,
                    stats.blobs,
                    format_size(stats.bytes)
                );
                if let Some(last) = last {
                    let rate = match last.hit_rate {
                        None => "no task needed the cache".to_owned(),
                        Some(rate) => format!(
                            "{:.0}% ({} restored, {} ran)",
                            100.0 * rate,
                            last.restored,
                            last.ran
                        ),
                    };
                    text.push_str(&format!("last build's hit rate: {rate}\n"));
                }
                if let Some(remote) = &remote {
                    text.push_str(&remote::text(remote));
                }
                text
            }
        }
        CacheCommand::Gc { max_bytes } => {
            let max_bytes = max_bytes.unwrap_or(session.loaded().spec.project.cache_max_bytes);
            let live: FxHashSet<_> = session
                .state()
                .tasks
                .values()
                .filter_map(|t| t.success.as_ref().map(|s| s.key))
                .collect();
            let report = maintenance::gc(session.cache(), max_bytes, &live).map_err(cache_error)?;
            if json {
                json_line(&JsonGc {
                    removed_entries: report.removed_entries,
                    removed_blobs: report.removed_blobs,
                    before: report.before,
                    after: report.after,
                    max_bytes,
                    needed: report.needed,
                })
            } else {
                let mut text = format!(
                    "removed {} entries and {} blobs: {} -> {}\n",
                    report.removed_entries,
                    report.removed_blobs,
                    format_size(report.before),
                    format_size(report.after)
                );
                if report.after > max_bytes {
                    text.push_str(&format!(
                        "note: the current state needs {}, more than {}; that is kept\n",
                        format_size(report.needed),
                        format_size(max_bytes)
                    ));
                }
                text
            }
        }
        CacheCommand::Verify => {
            let report = maintenance::verify(session.cache()).map_err(cache_error)?;
            let ok = report.corrupt_blobs.is_empty()
                && report.broken_entries.is_empty()
                && report.damaged_entries.is_empty();
            if !ok {
                code = EXIT_FAILURE;
            }
            if json {
                let hex = |digests: &[crate::hash::Digest]| {
                    digests.iter().map(crate::hash::Digest::hex).collect()
                };
                json_line(&JsonVerify {
                    ok,
                    blobs: report.blobs,
                    entries: report.entries,
                    corrupt_blobs: hex(&report.corrupt_blobs),
                    damaged_entries: hex(&report.damaged_entries),
                    broken_entries: hex(&report.broken_entries),
                })
            } else {
                let mut text = format!(
                    "checked {} blobs and {} entries\n",
                    report.blobs, report.entries
                );
                for blob in &report.corrupt_blobs {
                    text.push_str(&format!("corrupt blob {} (removed)\n", blob.hex()));
                }
                for entry in &report.damaged_entries {
                    text.push_str(&format!(
                        "entry {} is damaged: its checksum does not match (removed)\n",
                        entry.hex()
                    ));
                }
                for entry in &report.broken_entries {
                    text.push_str(&format!(
                        "entry {} cannot be restored (removed)\n",
                        entry.hex()
                    ));
                }
                if ok {
                    text.push_str("ok\n");
                }
                text
            }
        }
    };
    session.finish();
    out.write(&text)?;
    Ok(code)
}

/// `conduct cache push [TARGET...]`: the entries of the selected tasks' last successes,
/// with their blobs (and a depfile task's manifest), to the remote, now.
fn push(locator: &Locator, targets: &[String], json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let session = Session::open(locator, Access::Read)?;
    let Some(remote) = session.cache().remote.clone() else {
        return Err(Error::NoRemote);
    };
    let loaded = std::sync::Arc::clone(session.loaded());
    let selection = loaded.graph.select(&loaded.spec, targets)?;
    // What this checkout's last successes left in the local cache, with the manifest
    // of the files a depfile named, when there is one.
    let mut local = Vec::new();
    for &task in &selection.tasks {
        let id = loaded.spec.task(task).id.as_str();
        let Some(success) = session
            .state()
            .tasks
            .get(id)
            .and_then(|s| s.success.as_ref())
        else {
            continue;
        };
        let Some(entry) = session.cache().actions.get(success.key) else {
            continue;
        };
        let manifest = (!entry.discovered.is_empty())
            .then(|| {
                session
                    .cache()
                    .actions
                    .get(crate::discovered::manifest_key(entry.preimage.key()))
            })
            .flatten();
        local.extend(std::iter::once(entry).chain(manifest).map(|e| (id, e)));
    }
    let sent = crate::cache::remote::each_at_once(&local, |(_, entry)| remote.push(entry));
    let (mut entries, mut bytes, mut code) = (0, 0, 0);
    let mut text = String::new();
    for ((id, _), sent) in local.iter().zip(sent) {
        match sent {
            Ok(sent) => {
                entries += 1;
                bytes += sent;
            }
            Err(e) => {
                text.push_str(&format!("cannot push {id}: {e}\n"));
                code = EXIT_FAILURE;
            }
        }
    }
    if json {
        text = json_line(&JsonPush {
            remote: remote.describe(),
            entries,
            bytes,
        });
    } else {
        text.push_str(&format!(
            "pushed {entries} entries ({}) to {}\n",
            format_size(bytes),
            remote.describe()
        ));
    }
    session.finish();
    out.write(&text)?;
    Ok(code)
}
