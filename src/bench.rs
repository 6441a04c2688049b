//! Entry points for the micro-benchmarks in `benches/` (divan): conduct's hot paths
//! without the command line around them, so each can be timed on its own. Hidden from
//! the docs and not a stable API; every function here calls the code the binary runs.

use std::path::Path;

use rayon::prelude::*;

use crate::build::plan;
use crate::confined::Root;
use crate::project::open::Access;
use crate::project::{self, Checks, Locator};
use crate::scan::{self, StatCache};
use crate::session::Session;
use crate::spec::ProjectPath;

/// BLAKE3 of one file, the way conduct hashes an input or output.
pub fn hash_file(path: &Path) -> std::io::Result<[u8; 32]> {
    crate::hash::hash_file(path).map(|digest| digest.0)
}

/// Look at `paths` (project-relative, under `root`) with an empty stat cache, as a
/// first build does: one `lstat` and one hash per file, in parallel. Returns how many
/// were hashed.
pub fn hash_files(root: &Path, paths: &[String]) -> usize {
    let root = Root::new(root);
    let paths: Vec<ProjectPath> = crate::cores::parallel(|| {
        paths
            .par_iter()
            .filter_map(|p| ProjectPath::new(p).ok())
            .collect()
    });
    scan::look_all(&root, &paths, &StatCache::default(), scan::As::Input)
        .iter()
        .filter(|found| found.as_ref().is_ok_and(|f| f.digest().is_some()))
        .count()
}

/// Read, validate and build the graph of the project whose config is `config`, without
/// the spec cache. Returns the number of tasks.
pub fn load(config: &Path) -> Result<usize, String> {
    let root = config.parent().unwrap_or(Path::new("."));
    project::load(config, root, &[], Checks::Config)
        .map(|project| project.loaded.spec.tasks.len())
        .map_err(|e| format!("{e:?}"))
}

/// Open the project in `root` read-only and decide every task, computing every key,
/// as a no-op `conduct build --dry-run` does. Returns how many tasks are fresh.
pub fn decide_all(root: &Path) -> Result<usize, String> {
    let locator = Locator {
        directory: Some(root.to_path_buf()),
        file: None,
        vars: Vec::new(),
        remote: None,
        remote_mode: None,
    };
    let mut session = Session::open(&locator, Access::Read).map_err(|e| format!("{e:?}"))?;
    let loaded = std::sync::Arc::clone(session.loaded());
    let selection = loaded
        .graph
        .select(&loaded.spec, &[])
        .map_err(|e| format!("{e:?}"))?;
    let mut round = session
        .prepare(&selection, &crate::exec::local::LocalExecutor::new())
        .map_err(|e| format!("{e:?}"))?;
    let forced = vec![false; loaded.spec.tasks.len()];
    Ok(plan(&mut round, &selection, &forced)
        .iter()
        .filter(|(_, planned)| matches!(planned, crate::build::Planned::Fresh))
        .count())
}
