//! What the templates of tasks.toml match on disk, looked up before it is parsed.
//!
//! Parsing is a pure function of texts (salsa, the spec cache), so the files a
//! template's glob matches and the headings of its sections file are read here first
//! and handed to the parse as [`Given`](crate::spec::template::Given). A config
//! without `[templates` costs nothing; with one, the TOML tree is read once more here
//! (the spec cache then still saves validating it). The result is part of the spec
//! cache's key: adding a matching file or a heading parses the config again.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::spec::section::Outline;
use crate::spec::template::{Foreach, Matched, foreach_of};
use crate::spec::{GlobPattern, ProjectPath};

/// By template name: what its `foreach` matched. Templates whose `foreach` is not
/// well formed are left out (the parse reports them).
pub(super) fn matches(text: &str, root: &Path) -> BTreeMap<String, Matched> {
    let mut found = BTreeMap::new();
    if !text.contains("templates") {
        return found;
    }
    let Ok(document) = DeTable::parse(text) else {
        return found;
    };
    let document = document.into_inner();
    let table = |name: &str| {
        document
            .iter()
            .find(|(key, _)| key.get_ref().as_ref() == name)
            .and_then(|(_, value)| match value.get_ref() {
                DeValue::Table(table) => Some(table),
                _ => None,
            })
    };
    let Some(templates) = table("templates") else {
        return found;
    };
    let skip = skipped(table("project"));
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    for (name, foreach) in foreach_of(templates) {
        let matched = match foreach {
            Foreach::Glob(glob) => files(root, &glob, &skip),
            Foreach::Sections { file, level } => headings(root, &file, level),
        };
        if let Some(matched) = matched {
            found.insert(name, matched);
        }
    }
    found
}

/// The directories no template looks into: `.git`, the cache and the worktrees.
fn skipped(project: Option<&DeTable<'_>>) -> Vec<String> {
    let defaults = crate::spec::Project::default();
    let mut skip = vec![
        ".git".to_owned(),
        defaults.cache.to_string(),
        defaults.worktrees.to_string(),
    ];
    for (key, value) in project.into_iter().flat_map(|t| t.iter()) {
        if let ("cache" | "worktrees", DeValue::String(dir)) =
            (key.get_ref().as_ref(), value.get_ref())
            && let Ok(dir) = ProjectPath::declared(dir)
        {
            skip.push(dir.to_string());
        }
    }
    skip
}

/// The files `glob` matches, sorted; `None` if it is not a valid glob in the project.
fn files(root: &Path, glob: &str, skip: &[&str]) -> Option<Matched> {
    let normalised = ProjectPath::declared(glob).ok()?;
    if !glob.contains(['*', '?', '[', '{']) {
        let one = normalised.to_path(root).is_file();
        return Some(Matched::Files(
            one.then(|| normalised.to_string()).into_iter().collect(),
        ));
    }
    let pattern = GlobPattern::new(normalised.as_str()).ok()?;
    let matcher = pattern.matcher();
    let mut paths: Vec<String> = crate::scan::walk_files(root, &pattern.literal_prefix(), skip)
        .into_iter()
        .filter(|path| matcher.is_match(path.as_str()))
        .map(|path| path.to_string())
        .collect();
    paths.sort();
    Some(Matched::Files(paths))
}

/// The headings of `level` in `file` (never through a symlink); `None` if the path is
/// not one inside the project.
fn headings(root: &Path, file: &str, level: u8) -> Option<Matched> {
    let path = ProjectPath::declared(file).ok()?;
    let mut text = String::new();
    let read = crate::confined::open_no_follow(&path.to_path(root))
        .and_then(|mut f| f.read_to_string(&mut text));
    Some(match read {
        Ok(_) => Matched::Headings(
            Outline::parse(&text)
                .headings()
                .iter()
                .filter(|h| h.level == level)
                .map(|h| h.text.clone())
                .collect(),
        ),
        Err(e) => Matched::Unreadable(e.to_string()),
    })
}
