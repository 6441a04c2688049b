//! `conduct cache stats | gc | verify`: the cache as a whole (SPEC §8).

use rustc_hash::FxHashSet;

use crate::cache::maintenance;
use crate::commands::Stdout;
use crate::error::{EXIT_FAILURE, Error};
use crate::project::Locator;
use crate::project::open::Access;
use crate::session::Session;
use crate::units::format_size;

/// Which cache command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheCommand {
    Stats,
    /// Shrink to at most this many bytes (`None`: the project's `[cache] max_size`).
    Gc {
        max_bytes: Option<u64>,
    },
    Verify,
}

pub(crate) fn run(
    locator: &Locator,
    command: CacheCommand,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let access = match command {
        CacheCommand::Stats => Access::Read,
        CacheCommand::Gc { .. } | CacheCommand::Verify => Access::Write,
    };
    let session = Session::open(locator, access)?;
    let cache_error = |source| Error::Cache {
        path: session.cache_dir().to_path_buf(),
        source,
    };
    let mut code = 0;
    let text = match command {
        CacheCommand::Stats => {
            let stats = maintenance::stats(session.cache());
            let mut text = format!(
                "{} entries, {} blobs, {}\n",
                stats.entries,
                stats.blobs,
                format_size(stats.bytes)
            );
            if let Some(last) = session.state().last_build {
                let asked = last.restored + last.ran;
                let rate = if asked == 0 {
                    "no task needed the cache".to_owned()
                } else {
                    format!(
                        "{:.0}% ({} restored, {} ran)",
                        100.0 * f64::from(last.restored) / f64::from(asked),
                        last.restored,
                        last.ran
                    )
                };
                text.push_str(&format!("last build's hit rate: {rate}\n"));
            }
            text
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
        CacheCommand::Verify => {
            let report = maintenance::verify(session.cache()).map_err(cache_error)?;
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
            if report.corrupt_blobs.is_empty()
                && report.broken_entries.is_empty()
                && report.damaged_entries.is_empty()
            {
                text.push_str("ok\n");
            } else {
                code = EXIT_FAILURE;
            }
            text
        }
    };
    session.finish();
    out.write(&text)?;
    Ok(code)
}
