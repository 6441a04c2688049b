//! Looking at files without rehashing them: the stat cache and the scanner.
//!
//! A no-op build must not read file contents. For every file conduct has hashed it
//! remembers a [`Stamp`] (size, mtime, inode, ctime) with the digest; when the stamp is
//! unchanged, the digest is reused. `touch` changes the stamp, so the file is rehashed
//! and found unchanged: nothing reruns (mtime alone never makes a task stale).
//!
//! The racy-timestamp rule (git's): file times advance in coarse ticks (4 ms here), so a
//! file written again within the same tick as our `stat` can keep its stamp. A stamp is
//! therefore only trusted when the file's mtime and ctime are clearly older than the
//! moment the scan started; otherwise the entry proves nothing and the file is rehashed
//! next time. Files are stat'ed and hashed in parallel on rayon.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::confined::Root;
use crate::hash::{Digest, hash_file};
use crate::source::Location;
use crate::spec::{InputKind, ProjectPath, Spec, SpecError, SpecErrorKind, Task, TaskIdx};

/// How much older than the scan a file's times must be for its stamp to be trusted, on
/// file systems with sub-second times. Several 4 ms ticks.
const RACY_MARGIN_NS: i64 = 50_000_000;
/// The same for file systems that only keep whole seconds (times with zero nanoseconds).
const RACY_MARGIN_COARSE_NS: i64 = 2_000_000_000;

/// What `stat` says about a file, enough to tell that it has not changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
    pub(crate) ino: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
            ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
            ino: meta.ino(),
        }
    }

    /// Whether a stamp taken in a scan that started at `scan_ns` can be trusted later.
    fn settled_before(&self, scan_ns: i64) -> bool {
        let newest = self.mtime_ns.max(self.ctime_ns);
        let margin = if newest % 1_000_000_000 == 0 {
            RACY_MARGIN_COARSE_NS
        } else {
            RACY_MARGIN_NS
        };
        newest.saturating_add(margin) < scan_ns
    }
}

/// One remembered file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatEntry {
    pub(crate) stamp: Stamp,
    pub(crate) digest: Digest,
    /// False when the stamp was racy: rehash next time regardless.
    pub(crate) trusted: bool,
}

/// Digests by project path, persisted with the state.
pub(crate) type StatCache = FxHashMap<String, StatEntry>;

/// What a scan found for one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Missing,
    /// A directory where a file was expected.
    Directory,
    /// A symlink that resolves outside the project: never read.
    Outside {
        target: std::path::PathBuf,
    },
    File {
        stamp: Stamp,
        digest: Digest,
    },
    /// An output that is a symlink staying inside the project: kept as a symlink, its
    /// digest that of its target ([`Digest::of_link`]). Only [`look_output`] and
    /// [`look_written`] find these; inputs are read through their symlinks.
    Link {
        /// As the link will be stored and restored: relative to the link's directory.
        target: String,
        digest: Digest,
    },
}

impl Found {
    pub(crate) fn digest(&self) -> Option<Digest> {
        match self {
            Found::File { digest, .. } | Found::Link { digest, .. } => Some(*digest),
            _ => None,
        }
    }
}

/// Nanoseconds since the epoch, now: the start time of a scan.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Look at one file: one `lstat`, a second `stat` only for symlinks (which must stay
/// inside `root`), and a hash only when the stat cache cannot vouch for it. `previous`
/// is its stat-cache entry.
pub(crate) fn look(full: &Path, previous: Option<&StatEntry>, root: &Root) -> io::Result<Found> {
    match regular_file(full, root)? {
        Ok(meta) => reused_or_hashed(full, &meta, previous),
        Err(found) => Ok(found),
    }
}

/// A regular file's digest: its stat-cache entry's when the entry is trusted and its
/// stamp unchanged, else hashed now.
fn reused_or_hashed(
    full: &Path,
    meta: &Metadata,
    previous: Option<&StatEntry>,
) -> io::Result<Found> {
    let stamp = Stamp::of(meta);
    if let Some(entry) = previous
        && entry.trusted
        && entry.stamp == stamp
    {
        return Ok(Found::File {
            stamp,
            digest: entry.digest,
        });
    }
    hash_file(full).map(|digest| Found::File { stamp, digest })
}

/// Look at a declared output (or a file of a directory output) through the stat
/// cache, never through a symlink: a symlink is the output itself (see
/// [`Found::Link`]), or, leading out of the project, [`Found::Outside`].
pub(crate) fn look_output(
    path: &ProjectPath,
    previous: Option<&StatEntry>,
    root: &Root,
) -> io::Result<Found> {
    let full = path.to_path(&root.path);
    match output_file(path, &full, root)? {
        Ok(meta) => reused_or_hashed(&full, &meta, previous),
        Err(found) => Ok(found),
    }
}

/// The metadata of the output `path` (at `full`) if it is a regular file, else what
/// it is instead: nothing, a directory, or a symlink (never followed: see [`link`]).
fn output_file(
    path: &ProjectPath,
    full: &Path,
    root: &Root,
) -> io::Result<Result<Metadata, Found>> {
    let meta = match fs::symlink_metadata(full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Err(Found::Missing)),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(Err(link(path, full, root)));
    }
    if meta.is_dir() {
        return Ok(Err(Found::Directory));
    }
    Ok(Ok(meta))
}

/// What the symlink `path` (at `full`) is as an output: a link inside the project, or
/// one leading out. Judged by its text (a relative target resolved lexically from the
/// link's directory must stay inside) and, when the target exists, by where the file
/// system resolves it. An absolute target inside the project is stored relative, so
/// the cache stays valid in another checkout.
pub(crate) fn link(path: &ProjectPath, full: &Path, root: &Root) -> Found {
    let Ok(target) = fs::read_link(full) else {
        return Found::Missing;
    };
    let parent = path.ancestors().next().unwrap_or("");
    let outside = || Found::Outside {
        target: fs::canonicalize(full).unwrap_or_else(|_| full.with_file_name(&target)),
    };
    if let Ok(resolved) = fs::canonicalize(full)
        && root.canonical().is_some_and(|r| !resolved.starts_with(r))
    {
        return outside();
    }
    let Some(text) = target.to_str() else {
        return outside();
    };
    let stored = if target.is_absolute() {
        let within = target
            .strip_prefix(&root.path)
            .ok()
            .or_else(|| root.canonical().and_then(|r| target.strip_prefix(r).ok()));
        let Some(within) = within.and_then(Path::to_str) else {
            return outside();
        };
        let up = if parent.is_empty() {
            0
        } else {
            parent.split('/').count()
        };
        let mut relative = "../".repeat(up);
        relative.push_str(within);
        relative
    } else {
        if !crate::spec::path::link_stays_inside(path.as_str(), text) {
            return outside();
        }
        text.to_owned()
    };
    Found::Link {
        digest: Digest::of_link(&stored),
        target: stored,
    }
}

/// Look at an output of a task that just ran, for its cache entry: like
/// [`look_output`] but never from the stat cache, with its permission bits and, when
/// it is at most `keep` bytes, its contents, read once for both the digest and whoever
/// keeps them.
pub(crate) fn look_written(
    path: &ProjectPath,
    root: &Root,
    keep: u64,
) -> io::Result<(Found, u32, Option<Vec<u8>>)> {
    use std::os::unix::fs::PermissionsExt;
    let full = path.to_path(&root.path);
    let meta = match output_file(path, &full, root)? {
        Ok(meta) => meta,
        Err(found @ Found::Link { .. }) => return Ok((found, 0o777, None)),
        Err(found @ Found::Directory) => return Ok((found, 0o755, None)),
        Err(found) => return Ok((found, 0o644, None)),
    };
    let full = full.as_path();
    let stamp = Stamp::of(&meta);
    let mode = meta.permissions().mode() & 0o7777;
    if meta.len() <= keep {
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut crate::confined::open_no_follow(full)?, &mut bytes)?;
        // Grown past `keep` since the stat: hashed below, not kept.
        if bytes.len() as u64 <= keep {
            let digest = Digest::of(&bytes);
            return Ok((Found::File { stamp, digest }, mode, Some(bytes)));
        }
    }
    hash_file(full).map(|digest| (Found::File { stamp, digest }, mode, None))
}

/// The metadata of `full` if it is a regular file inside `root` (following a symlink
/// that stays inside), else what was found instead.
fn regular_file(full: &Path, root: &Root) -> io::Result<Result<Metadata, Found>> {
    let meta = match fs::symlink_metadata(full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Err(Found::Missing)),
        Err(e) => return Err(e),
    };
    let meta = if meta.file_type().is_symlink() {
        match follow(full, root) {
            Followed::Inside => fs::metadata(full)?,
            Followed::Dangling => return Ok(Err(Found::Missing)),
            Followed::Outside(target) => return Ok(Err(Found::Outside { target })),
        }
    } else {
        meta
    };
    if meta.is_dir() {
        return Ok(Err(Found::Directory));
    }
    Ok(Ok(meta))
}

/// Where a symlink leads, as far as conduct is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Followed {
    /// To something inside the project.
    Inside,
    /// To nothing, and (judged by its text) nowhere outside the project.
    Dangling,
    /// Out of the project (to this target).
    Outside(PathBuf),
}

/// Where the symlink at `full` leads: the one rule `conduct check` and the build both
/// use. A link that resolves is judged by where the file system resolves it; a dangling
/// one by its text, resolved from its directory (a dangling link that names a place
/// outside is outside: it would lead there as soon as that place exists).
pub(crate) fn follow(full: &Path, root: &Root) -> Followed {
    match fs::canonicalize(full) {
        Ok(target) => {
            if root.canonical().is_some_and(|r| !target.starts_with(r)) {
                Followed::Outside(target)
            } else {
                Followed::Inside
            }
        }
        Err(_) => {
            let link = fs::read_link(full).unwrap_or_default();
            let target = full.parent().unwrap_or(&root.path).join(link);
            if lexically_inside(&target, root) {
                Followed::Dangling
            } else {
                Followed::Outside(target)
            }
        }
    }
}

/// Whether `path` (possibly with `..`) stays under the root, judged without the disk.
fn lexically_inside(path: &Path, root: &Root) -> bool {
    let mut parts: Vec<std::path::Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            other => parts.push(other),
        }
    }
    let normal: PathBuf = parts.iter().collect();
    normal.starts_with(&root.path) || root.canonical().is_some_and(|r| normal.starts_with(r))
}

/// The digest of the executable `name` resolves to on `PATH` (symlinks followed, as
/// `exec` follows them), through `cache` keyed by its absolute path: an unchanged
/// program costs a few `stat`s, never a process. `None` when it is not found.
/// Returns the absolute path with the digest, to remember in the stat cache.
pub(crate) fn look_program(name: &str, cache: &StatCache) -> Option<(String, Found)> {
    let found = crate::exec::program::find_on_path(name, &std::env::var_os("PATH")?)?;
    let real = std::fs::canonicalize(found).ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    let key = real.to_str()?.to_owned();
    let found = reused_or_hashed(&real, &meta, cache.get(&key)).ok()?;
    Some((key, found))
}

/// Whether files are looked at as inputs (through symlinks that stay inside) or as
/// outputs (a symlink is the output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum As {
    Input,
    Output,
}

/// Below this many paths, [`look_all`] looks at them one after the other.
const PARALLEL_LOOKS: usize = 256;

/// Look at many files in parallel against `cache`.
pub(crate) fn look_all(
    root: &Root,
    paths: &[ProjectPath],
    cache: &StatCache,
    mode: As,
) -> Vec<io::Result<Found>> {
    let one = |p: &ProjectPath| match mode {
        As::Input => look(&p.to_path(&root.path), cache.get(p.as_str()), root),
        As::Output => look_output(p, cache.get(p.as_str()), root),
    };
    // Starting or waking the pool costs more than a few hundred stats (a small
    // project's whole scan, a task's own outputs): those go inline.
    if paths.len() < PARALLEL_LOOKS {
        paths.iter().map(one).collect()
    } else {
        crate::cores::parallel(|| paths.par_iter().map(one).collect())
    }
}

/// Remember what a scan that started at `scan_ns` found for `path`. Returns whether
/// the cache changed (so an unchanged state need not be written back).
pub(crate) fn remember(cache: &mut StatCache, path: &str, found: &Found, scan_ns: i64) -> bool {
    match found {
        Found::File { stamp, digest } => {
            let entry = StatEntry {
                stamp: *stamp,
                digest: *digest,
                trusted: stamp.settled_before(scan_ns),
            };
            if cache.get(path) == Some(&entry) {
                return false;
            }
            cache.insert(path.to_owned(), entry);
            true
        }
        Found::Missing | Found::Directory | Found::Outside { .. } | Found::Link { .. } => {
            cache.remove(path).is_some()
        }
    }
}

/// Every file under `dir` (project-relative), recursively, sorted; `skip` names
/// project-relative directories never entered (`.git`, the cache). Symlinked
/// directories are not followed.
pub(crate) fn walk_files(root: &Path, dir: &str, skip: &[&str]) -> Vec<ProjectPath> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let full = if current.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&current)
        };
        let Ok(entries) = fs::read_dir(&full) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let relative = if current.is_empty() {
                name
            } else {
                format!("{current}/{name}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !skip.contains(&relative.as_str()) {
                    stack.push(relative);
                }
            } else if let Ok(path) = ProjectPath::new(&relative) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A task's outputs as they are on disk now.
#[derive(Debug, Default)]
pub(crate) struct OutputsNow {
    /// `(path, digest)` of every file, those of directory outputs one by one, sorted.
    pub(crate) files: Vec<(String, Digest)>,
    /// Declared outputs that do not exist (a file, or a directory output's directory).
    pub(crate) missing: Vec<String>,
    /// Outputs that are symlinks leading out of the project, and where they lead.
    pub(crate) outside: Vec<(String, PathBuf)>,
}

/// The files `task`'s outputs consist of now (directory outputs walked; one that is a
/// symlink is looked at as one, never walked), added to `paths`; returns the directory
/// outputs that do not exist.
pub(crate) fn output_files(root: &Path, task: &Task, paths: &mut Vec<ProjectPath>) -> Vec<String> {
    let mut missing = Vec::new();
    for output in &task.outputs {
        if !output.is_dir {
            paths.push(output.path.clone());
            continue;
        }
        match fs::symlink_metadata(output.path.to_path(root)) {
            Ok(meta) if meta.is_dir() => paths.extend(walk_files(root, output.path.as_str(), &[])),
            Ok(meta) if meta.file_type().is_symlink() => paths.push(output.path.clone()),
            _ => missing.push(output.display()),
        }
    }
    missing
}

/// `task`'s outputs from what was found at `paths` (see [`output_files`]).
pub(crate) fn outputs_now(
    task: &Task,
    paths: &[ProjectPath],
    found: &[Found],
    missing_dirs: Vec<String>,
) -> OutputsNow {
    let mut now = OutputsNow {
        files: Vec::with_capacity(paths.len()),
        missing: missing_dirs,
        outside: Vec::new(),
    };
    for (path, found) in paths.iter().zip(found) {
        match found.digest() {
            Some(digest) => now.files.push((path.to_string(), digest)),
            None if let Found::Outside { target } = found => {
                now.outside.push((path.to_string(), target.clone()));
            }
            None => {
                if task.outputs.iter().any(|o| !o.is_dir && &o.path == path) {
                    now.missing.push(path.to_string());
                }
            }
        }
    }
    now.files.sort();
    now
}

/// Every file under the directories `roots` (a root inside another is walked once),
/// never entering `skip`; sorted.
pub(crate) fn listing(root: &Path, roots: &BTreeSet<String>, skip: &[&str]) -> Vec<ProjectPath> {
    let mut files: Vec<ProjectPath> = Vec::new();
    let mut walked: Vec<&str> = Vec::new();
    for dir in roots {
        if walked
            .iter()
            .any(|w| w.is_empty() || dir == w || dir.starts_with(&format!("{w}/")))
        {
            continue;
        }
        files.extend(walk_files(root, dir, skip));
        walked.push(dir);
    }
    files.sort();
    files.dedup();
    files
}

/// Plain inputs of the selected tasks that are not there (or are directories, or lead
/// out of the project), and glob matches that lead out of it, as configuration errors;
/// `found` is what was found at `paths`, `matches` the globs' matches.
pub(crate) fn missing_inputs(
    spec: &Spec,
    tasks: &[TaskIdx],
    matches: &HashMap<(u32, u32), Vec<ProjectPath>>,
    paths: &[ProjectPath],
    found: &[Found],
) -> Vec<SpecError> {
    let by_path: FxHashMap<&ProjectPath, &Found> = paths.iter().zip(found).collect();
    let mut errors = Vec::new();
    for &task in tasks {
        let t = spec.task(task);
        for (i, input) in t.inputs.iter().enumerate() {
            let checked: Vec<&ProjectPath> = match &input.kind {
                InputKind::File(path) => vec![path],
                InputKind::Glob(_) => matches
                    .get(&(task.0, i as u32))
                    .map(|m| m.iter().collect())
                    .unwrap_or_default(),
                _ => continue,
            };
            let plain = matches!(input.kind, InputKind::File(_));
            for path in checked {
                let kind = match by_path.get(path) {
                    Some(Found::Missing) if plain => SpecErrorKind::MissingInput {
                        task: t.id.to_string(),
                        path: path.to_string(),
                    },
                    Some(Found::Directory) if plain => SpecErrorKind::InputIsDirectory {
                        task: t.id.to_string(),
                        path: path.to_string(),
                    },
                    Some(Found::Outside { target }) => SpecErrorKind::SymlinkEscape {
                        path: path.to_string(),
                        target: target.display().to_string(),
                    },
                    _ => continue,
                };
                errors.push(SpecError {
                    at: Location::new(&spec.source, input.span),
                    kind,
                });
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests;
