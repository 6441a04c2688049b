//! Which remote cache a run uses and how (issue 16), as configured: `--remote-cache`,
//! else `CONDUCT_REMOTE_CACHE`, else `[cache] remote`; in `--remote-cache-mode`, else
//! `[cache] remote_mode`, else `read` (`readwrite` under `CI`). Resolved apart from
//! opening, so `cache stats --remote` can report on a remote a build would not use (mode
//! `off`) or could not open.

use crate::cache::BlobStore;
use crate::cache::remote::client::Remote;
use crate::cache::remote::{Mode, RemoteError, Timeouts, open_with};
use crate::project::Locator;
use crate::spec::Project;

/// The remote cache as configured, not opened yet. Not `Debug`: the URL may hold a
/// password.
pub(crate) struct RemoteSettings {
    /// As given; may hold a user and password, so never printed (`Remote::describe`
    /// is what messages show).
    pub(crate) url: String,
    pub(crate) mode: Mode,
    pub(crate) timeouts: Timeouts,
}

impl RemoteSettings {
    /// The settings for this run, `None` when no remote is set.
    pub(crate) fn resolve(locator: &Locator, project: &Project) -> Option<RemoteSettings> {
        let url = locator
            .remote
            .clone()
            .or_else(|| std::env::var("CONDUCT_REMOTE_CACHE").ok())
            .filter(|url| !url.is_empty())
            .or_else(|| project.remote.clone())?;
        let mode = locator
            .remote_mode
            .or(project.remote_mode)
            .unwrap_or_else(|| {
                let ci =
                    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
                Mode::default_for(ci)
            });
        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            connect: project.remote_connect_timeout.unwrap_or(defaults.connect),
            request: project.remote_timeout.unwrap_or(defaults.request),
        };
        Some(RemoteSettings {
            url,
            mode,
            timeouts,
        })
    }

    /// The remote, entries signed with `CONDUCT_CACHE_KEY` when it is set; blobs it
    /// gives go to `blobs`. Opening does not reach the server.
    pub(crate) fn open(&self, blobs: BlobStore) -> Result<Remote, RemoteError> {
        let store = open_with(&self.url, self.timeouts)?;
        Ok(Remote::new(
            std::sync::Arc::from(store),
            self.mode,
            signing_secret().as_deref(),
            blobs,
        ))
    }

    /// The URL as messages may show it (no user, no password), for a remote that
    /// could not be opened (an opened one describes itself).
    pub(crate) fn shown(&self) -> String {
        crate::cache::remote::object::shown(&self.url)
    }
}

/// `CONDUCT_CACHE_KEY`, when set and not empty: entries are signed with it.
pub(crate) fn signing_secret() -> Option<String> {
    std::env::var("CONDUCT_CACHE_KEY")
        .ok()
        .filter(|s| !s.is_empty())
}
