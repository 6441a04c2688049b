//! What `conduct cache stats --remote` asks the remote: whether it answers (one cheap
//! request, timed), which of this checkout's last results it holds (one HEAD per
//! task, a few at a time), and what it holds in all (a listing, where the server can
//! list). A report, not a build: nothing is fetched, and an error is a finding to
//! show, not a reason to stop.

use std::time::{Duration, Instant};

use super::RemoteError;
use super::client::Remote;
use crate::hash::Digest;

/// What the remote answered.
#[derive(Debug)]
pub(crate) struct Survey {
    /// How long the first request took to answer.
    pub(crate) latency: Duration,
    /// Of the results asked about, how many the remote holds.
    pub(crate) results: Results,
    /// What a listing found; `Ok(None)`: the server cannot list.
    pub(crate) totals: Result<Option<Totals>, RemoteError>,
}

/// The remote's answers about the checkout's last results.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Results {
    /// Asked about: one per task with a last successful result.
    pub(crate) asked: usize,
    /// The remote has an entry for it.
    pub(crate) stored: usize,
    /// The remote failed to say (`first_error` says why).
    pub(crate) unknown: usize,
    pub(crate) first_error: Option<RemoteError>,
}

/// What a listing of the remote counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Objects under `ac/`.
    pub(crate) entries: usize,
    /// Objects under `cas/`.
    pub(crate) blobs: usize,
    /// The size of both.
    pub(crate) bytes: u64,
}

/// The remote did not answer the first request: it took `latency` to fail.
#[derive(Debug)]
pub(crate) struct Unreachable {
    pub(crate) error: RemoteError,
    pub(crate) latency: Duration,
}

/// A key nothing is stored under: asking for it costs the server one lookup and the
/// answer (absent) still shows it answers.
fn probe_key() -> Digest {
    Digest::of(b"conduct cache stats --remote: is anyone there?")
}

/// Ask `remote` about itself and about the results stored under `keys`. An unreachable
/// remote is asked nothing more (each request would wait out its timeout).
pub(crate) fn survey(remote: &Remote, keys: &[Digest]) -> Result<Survey, Unreachable> {
    let start = Instant::now();
    let answered = remote.has_entry(probe_key());
    let latency = start.elapsed();
    if let Err(error) = answered {
        return Err(Unreachable { error, latency });
    }
    Ok(Survey {
        latency,
        results: results(remote, keys),
        totals: totals(remote),
    })
}

/// Which of `keys` the remote has entries for, [`super::AT_ONCE`] questions at a time.
fn results(remote: &Remote, keys: &[Digest]) -> Results {
    let mut found = Results {
        asked: keys.len(),
        ..Results::default()
    };
    for answer in super::each_at_once(keys, |&key| remote.has_entry(key)) {
        match answer {
            Ok(true) => found.stored += 1,
            Ok(false) => {}
            Err(e) => {
                found.unknown += 1;
                found.first_error.get_or_insert(e);
            }
        }
    }
    found
}

/// Entries, blobs and bytes, from a listing of `ac/` and `cas/`.
fn totals(remote: &Remote) -> Result<Option<Totals>, RemoteError> {
    let (Some(entries), Some(blobs)) = (remote.list("ac")?, remote.list("cas")?) else {
        return Ok(None);
    };
    let bytes = entries.iter().chain(&blobs).map(|(_, size)| size).sum();
    Ok(Some(Totals {
        entries: entries.len(),
        blobs: blobs.len(),
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::BlobStore;
    use crate::cache::remote::dir::DirStore;
    use crate::cache::remote::{Mode, RemoteStore};

    fn remote(root: std::path::PathBuf, local: &std::path::Path) -> Remote {
        Remote::new(
            Arc::new(DirStore::new(root)),
            Mode::Read,
            None,
            BlobStore::new(local),
        )
    }

    #[test]
    fn a_survey_counts_the_results_present_and_the_objects() {
        let shared = tempfile::tempdir().unwrap();
        let local = tempfile::tempdir().unwrap();
        let store = DirStore::new(shared.path().to_path_buf());
        let keys: Vec<Digest> = (0..20u8).map(|i| Digest::of(&[i])).collect();
        for key in &keys[..15] {
            store
                .put(&crate::cache::remote::action_path(key), b"entry")
                .unwrap();
        }
        store.put("cas/ab", b"blob!!").unwrap();
        let survey = survey(&remote(shared.path().to_path_buf(), local.path()), &keys).unwrap();
        assert_eq!(
            survey.results,
            Results {
                asked: 20,
                stored: 15,
                unknown: 0,
                first_error: None
            }
        );
        assert_eq!(
            survey.totals.unwrap(),
            Some(Totals {
                entries: 15,
                blobs: 1,
                bytes: 15 * 5 + 6
            })
        );
    }

    #[test]
    fn a_remote_that_fails_the_first_request_is_asked_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let unreachable = survey(&remote(file, dir.path()), &[Digest::of(b"k")]).unwrap_err();
        assert!(unreachable.error.0.contains("not-a-dir"), "{unreachable:?}");
    }
}
