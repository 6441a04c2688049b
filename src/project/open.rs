//! Opening a project for the commands that look at freshness: load the config into
//! salsa (decoded from the spec cache when tasks.toml and the rules are as they were
//! parsed last), claim and lock the cache directory when writing, read the state.
//!
//! A spec-cache hit also proves where the cache is (it is only ever written to the
//! default cache directory), so the lock is taken and the state read while the spec is
//! decoded, before anything is parsed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::confined::Root;
use crate::db::{self, ConfigInput, Database};
use crate::error::Error;
use crate::hash::Digest;
use crate::lock::{self, ProjectLock};
use crate::project::{self, Loaded, Locator, Sources};
use crate::source::SourceFile;
use crate::spec::ProjectPath;
use crate::spec_cache;
use crate::state::StateStore;
use crate::state::journal::Journal;

/// Whether a command may write the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Build or accept: take the lock, save the state.
    Write,
    /// Dry run, list, status: no lock, nothing written.
    Read,
}

/// Where a project is and what it declares: what every build of a session shares.
pub(crate) struct Site {
    pub(crate) root: Root,
    pub(crate) cache_dir: PathBuf,
    pub(crate) loaded: Arc<Loaded>,
    /// `spec_cache::key` of tasks.toml and the rules: the configuration as text.
    pub(crate) spec_key: Digest,
    /// The environment's values of `hash_env`, as the build's keys see them.
    pub(crate) hash_env: BTreeMap<String, Option<String>>,
    pub(crate) access: Access,
    /// Held while writing; released when the session finishes.
    pub(crate) lock: Option<ProjectLock>,
}

/// An open project: where it is, its config loaded into a salsa database, its state as
/// read.
pub(crate) struct Opened {
    pub(crate) site: Site,
    pub(crate) db: Database,
    pub(crate) config: ConfigInput,
    pub(crate) journal: Journal,
    /// What was found damaged and ignored while opening (see `sealed.rs`).
    pub(crate) warnings: Vec<String>,
}

/// A parsed spec smaller than this (about a thousand tasks) is decoded on the same
/// thread as the state is loaded: starting a thread costs more than it saves.
const PARALLEL_LOAD_BYTES: usize = 256 * 1024;

/// Load the project at `locator`; with `Access::Write`, wait for the cache lock.
pub(crate) fn open(locator: &Locator, access: Access) -> Result<Opened, Error> {
    let (config_path, root) = locator.locate()?;
    let mut sources = Sources::read(&config_path, &root, &locator.vars)?;
    let db = Database::default();
    let spec_key = spec_cache::key(&sources.config, &sources.rules, &sources.given);
    let default_cache = crate::spec::Project::default().cache;
    let default_dir = default_cache.to_path(&root);
    let mut lock = None;
    let mut early_state = None;
    let mut cached = None;
    let mut warnings = Vec::new();
    if let Some(payload) = spec_cache::probe(&default_dir, spec_key) {
        // Parsed before: the text is read again only if an error quotes it.
        sources.config = SourceFile::on_disk(sources.config.name(), &config_path);
        if access == Access::Write {
            lock = Some(take_lock(&root, &default_cache)?);
        }
        let load_state = || StateStore::new(&default_dir).load();
        let (spec, state) = if payload.len() < PARALLEL_LOAD_BYTES {
            (
                spec_cache::decode(&payload, &sources.config),
                Some(load_state()),
            )
        } else {
            std::thread::scope(|scope| {
                let state = scope.spawn(load_state);
                let spec = spec_cache::decode(&payload, &sources.config);
                (spec, state.join().ok())
            })
        };
        cached = match spec {
            Ok(spec) => Some(spec),
            Err(why) => {
                warnings.push(format!(
                    "{} is {why}; reading tasks.toml again",
                    spec_cache::display_path(&default_cache)
                ));
                None
            }
        };
        early_state = state;
    }
    let cache_hit = cached.is_some();
    let config = ConfigInput::new(
        &db,
        Arc::clone(&sources.config),
        sources.rules.clone(),
        cached,
        sources.given.clone(),
    );
    let loaded = match db::load(&db, config) {
        Ok(loaded) if sources.errors.is_empty() => Arc::clone(loaded),
        Ok(_) => return Err(project::config_error(&sources.config, sources.errors)),
        Err(errors) => {
            let mut all = sources.errors;
            all.extend(errors.iter().cloned());
            return Err(project::config_error(&sources.config, all));
        }
    };
    warnings.extend(loaded.spec.notes.iter().cloned());
    let cache_dir = loaded.spec.project.cache.to_path(&root);
    if cache_dir != default_dir {
        lock = None;
        early_state = None;
    }
    if access == Access::Write && lock.is_none() {
        lock = Some(take_lock(&root, &loaded.spec.project.cache)?);
    }
    if !cache_hit && access == Access::Write && cache_dir == default_dir {
        // A cache that cannot be written only costs the next run a parse.
        let _ = spec_cache::write(&cache_dir, spec_key, &loaded.spec, &loaded.graph);
    }
    let store = StateStore::new(&cache_dir);
    let mut state = early_state.unwrap_or_else(|| store.load());
    if let Some(why) = state.on_disk.dropped.take() {
        warnings.push(format!(
            "{}/state/{why}; what conduct knew of earlier builds is rebuilt or restored from the cache",
            loaded.spec.project.cache
        ));
    }
    let hash_env = loaded
        .spec
        .project
        .hash_env
        .iter()
        .map(|name| (name.clone(), std::env::var(name).ok()))
        .collect();
    Ok(Opened {
        site: Site {
            root: Root::new(&root),
            cache_dir,
            loaded,
            spec_key,
            hash_env,
            access,
            lock,
        },
        db,
        config,
        journal: Journal::new(state, store),
        warnings,
    })
}

/// Claim the cache directory (it must be conduct's: see `cache::dir`), take its lock,
/// saying so if another conduct holds it, then clear what a `kill -9` left in its
/// temporary directory.
fn take_lock(root: &Path, cache: &ProjectPath) -> Result<ProjectLock, Error> {
    let cache_dir = &cache.to_path(root);
    crate::cache::dir::claim(&Root::new(root), cache)?;
    let lock = lock::acquire(cache_dir, |pid| {
        let holder = pid.map_or_else(|| "another conduct".to_owned(), |p| format!("pid {p}"));
        let _ = std::io::Write::write_all(
            &mut anstream::stderr(),
            format!("conduct: waiting for the lock on the cache (held by {holder})\n").as_bytes(),
        );
    })
    .map_err(|source| Error::Cache {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    crate::confined::Temp::new(cache_dir).clean_stale();
    Ok(lock)
}
