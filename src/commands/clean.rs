//! `conduct clean [--outputs] [--cache]`: remove what builds made. `--outputs` removes
//! every declared output (the state and cache stay, so the next build restores them);
//! `--cache` empties the cache directory (state, cache, logs, instructions), keeping
//! only its lock, which it holds meanwhile. Without flags, both.

use std::fs;
use std::io;
use std::path::Path;

use crate::commands::Stdout;
use crate::error::Error;
use crate::project::Locator;
use crate::session::{Access, Session};

pub(crate) fn run(
    locator: &Locator,
    outputs: bool,
    cache: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let (outputs, cache) = if outputs || cache {
        (outputs, cache)
    } else {
        (true, true)
    };
    let session = Session::open(locator, Access::Write)?;
    let error = |source| Error::Cache {
        path: session.cache_dir.clone(),
        source,
    };
    let mut text = String::new();
    if outputs {
        let mut removed = 0;
        for task in &session.loaded.spec.tasks {
            for output in &task.outputs {
                if remove(&output.path.to_path(&session.root.path)).map_err(error)? {
                    removed += 1;
                }
            }
        }
        text.push_str(&format!("removed {removed} outputs\n"));
    }
    if cache {
        let mut removed = 0;
        if let Ok(entries) = fs::read_dir(&session.cache_dir) {
            for entry in entries.filter_map(Result::ok) {
                if entry.file_name() != "lock" && remove(&entry.path()).map_err(error)? {
                    removed += 1;
                }
            }
        }
        text.push_str(&format!("emptied the cache ({removed} entries)\n"));
    }
    session.finish();
    out.write(&text)?;
    Ok(0)
}

/// Remove a file or a directory tree; whether there was something.
fn remove(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).map(|()| true),
        Ok(_) => fs::remove_file(path).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
