//! `conduct cache stats --remote`: the remote's part of the report, after the local
//! stats. What is asked is `cache::remote::survey`'s; this module finds the remote,
//! the keys to ask about, and renders the answers as text or JSON. The remote failing
//! is part of the report (exit 0), no remote set is a usage error (exit 2).

use std::sync::Arc;
use std::time::Duration;

use crate::cache::remote::RemoteError;
use crate::cache::remote::survey::{self, Survey, Unreachable};
use crate::error::Error;
use crate::project::Locator;
use crate::session::remote::signing_secret;
use crate::session::{RemoteSettings, Session};
use crate::units::format_size;

/// What was found about the remote.
pub(super) struct Report {
    /// The remote as messages show it (never a credential).
    remote: String,
    mode: crate::cache::remote::Mode,
    signed: bool,
    found: Found,
}

enum Found {
    /// It could not be opened (a bad URL, say): nothing was asked.
    Unusable(RemoteError),
    Unreachable(Unreachable),
    Surveyed(Survey),
}

/// `cache stats --remote --json`'s `"remote"`: `{"url", "mode", "signed", "reachable",
/// "latency_ms", "error", "results": {"tasks", "stored", "unknown"}, "can_list",
/// "totals": {"entries", "blobs", "bytes"}, "list_error"}`. `error` says why it is not
/// reachable (`latency_ms` is then how long that took, null if nothing was asked);
/// `results` (this checkout's last successful results: how many, how many the remote
/// holds, how many it failed to say) is null unless reachable; `can_list` is false when
/// the server cannot list, null when that is not known; `totals` is null unless listed.
#[derive(serde::Serialize)]
pub(super) struct JsonRemote {
    url: String,
    mode: &'static str,
    signed: bool,
    reachable: bool,
    latency_ms: Option<f64>,
    error: Option<String>,
    results: Option<JsonResults>,
    can_list: Option<bool>,
    totals: Option<JsonTotals>,
    list_error: Option<String>,
}

#[derive(serde::Serialize)]
struct JsonResults {
    tasks: usize,
    stored: usize,
    unknown: usize,
}

#[derive(serde::Serialize)]
struct JsonTotals {
    entries: usize,
    blobs: usize,
    bytes: u64,
}

/// Ask the remote this run is set to use, whatever its mode (`off` included: the user
/// asked); `Error::NoRemote` when none is set.
pub(super) fn report(locator: &Locator, session: &Session) -> Result<Report, Error> {
    let settings =
        RemoteSettings::resolve(locator, &session.loaded().spec.project).ok_or(Error::NoRemote)?;
    let opened = match session.cache().remote.clone() {
        Some(remote) => Ok(remote),
        None => settings.open(session.cache().blobs.clone()).map(Arc::new),
    };
    let remote = match opened {
        Ok(remote) => remote,
        Err(e) => {
            return Ok(Report {
                remote: settings.shown(),
                mode: settings.mode,
                signed: signing_secret().is_some(),
                found: Found::Unusable(e),
            });
        }
    };
    let spec = &session.loaded().spec;
    // This checkout's last successful results, of the tasks tasks.toml still has.
    let keys: Vec<_> = session
        .state()
        .tasks
        .iter()
        .filter(|(id, _)| spec.find_task(id).is_some())
        .filter_map(|(_, task)| task.success.as_ref().map(|success| success.key))
        .collect();
    let found = match survey::survey(&remote, &keys) {
        Ok(survey) => Found::Surveyed(survey),
        Err(unreachable) => Found::Unreachable(unreachable),
    };
    Ok(Report {
        remote: remote.describe(),
        mode: remote.mode(),
        signed: remote.signed(),
        found,
    })
}

/// `0.04 ms`, `3.1 ms`, `12 ms`, `2.0 s`.
fn latency(took: Duration) -> String {
    let ms = took.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The report for people, a few indented lines under the remote's name.
pub(super) fn text(report: &Report) -> String {
    let mode = match report.mode {
        crate::cache::remote::Mode::Off => "mode off: builds do not use it".to_owned(),
        mode => format!("mode {}", mode.name()),
    };
    let mut text = format!("remote cache {} ({mode})\n", report.remote);
    text.push_str(if report.signed {
        "  signing: CONDUCT_CACHE_KEY is set (entries signed; unsigned ones are ignored)\n"
    } else {
        "  signing: off (CONDUCT_CACHE_KEY is not set)\n"
    });
    match &report.found {
        Found::Unusable(e) => text.push_str(&format!("  unusable: {e}\n")),
        Found::Unreachable(Unreachable { error, .. }) => {
            text.push_str(&format!("  unreachable: {error}\n"));
        }
        Found::Surveyed(survey) => {
            text.push_str(&format!(
                "  reachable: answered in {}\n",
                latency(survey.latency)
            ));
            let results = &survey.results;
            if results.asked == 0 {
                text.push_str("  last results stored: no task has a successful result here\n");
            } else {
                text.push_str(&format!(
                    "  last results stored: {} of {} tasks",
                    results.stored, results.asked
                ));
                if let Some(e) = &results.first_error {
                    text.push_str(&format!("; {} not known: {e}", results.unknown));
                }
                text.push('\n');
            }
            match &survey.totals {
                Ok(Some(totals)) => text.push_str(&format!(
                    "  holds: {} entries, {} blobs, {}\n",
                    totals.entries,
                    totals.blobs,
                    format_size(totals.bytes)
                )),
                Ok(None) => text.push_str(
                    "  holds: not known: the server cannot list its files (WebDAV without PROPFIND)\n",
                ),
                Err(e) => text.push_str(&format!("  holds: cannot list: {e}\n")),
            }
        }
    }
    text
}

/// The report for `--json`.
pub(super) fn json(report: &Report) -> JsonRemote {
    let mut json = JsonRemote {
        url: report.remote.clone(),
        mode: report.mode.name(),
        signed: report.signed,
        reachable: false,
        latency_ms: None,
        error: None,
        results: None,
        can_list: None,
        totals: None,
        list_error: None,
    };
    let ms = |took: Duration| took.as_secs_f64() * 1000.0;
    match &report.found {
        Found::Unusable(e) => json.error = Some(e.to_string()),
        Found::Unreachable(Unreachable { error, latency }) => {
            json.error = Some(error.to_string());
            json.latency_ms = Some(ms(*latency));
        }
        Found::Surveyed(survey) => {
            json.reachable = true;
            json.latency_ms = Some(ms(survey.latency));
            json.results = Some(JsonResults {
                tasks: survey.results.asked,
                stored: survey.results.stored,
                unknown: survey.results.unknown,
            });
            match &survey.totals {
                Ok(totals) => {
                    json.can_list = Some(totals.is_some());
                    json.totals = totals.map(|t| JsonTotals {
                        entries: t.entries,
                        blobs: t.blobs,
                        bytes: t.bytes,
                    });
                }
                Err(e) => json.list_error = Some(e.to_string()),
            }
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_at_their_scale() {
        assert_eq!(latency(Duration::from_micros(42)), "0.04 ms");
        assert_eq!(latency(Duration::from_micros(3140)), "3.1 ms");
        assert_eq!(latency(Duration::from_millis(12)), "12 ms");
        assert_eq!(latency(Duration::from_millis(2049)), "2.0 s");
    }
}
