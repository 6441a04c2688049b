//! Which touched files start a round: the ones the selected tasks read or write, and
//! only when they really changed. A file conduct read is compared with the digest it
//! saw last (the stat cache: its stamp first, a hash only when the stamp moved); an
//! output with the digest its task's run recorded, so what a task or a restore wrote
//! is no change, and a hand edit is. A touched file that hashes the same is no change.

use std::path::PathBuf;
use std::sync::Arc;

use globset::{GlobSet, GlobSetBuilder};
use rustc_hash::FxHashSet;

use crate::graph::Selection;
use crate::hash::Digest;
use crate::scan::{self, Found};
use crate::session::Session;
use crate::spec::{InputKind, ProjectPath};

/// The files the selected tasks read or write.
pub(crate) struct Relevant {
    /// Plain inputs, section files and what depfiles named.
    read: FxHashSet<String>,
    /// Globs of inputs: a new file that matches one matters.
    globs: GlobSet,
    /// Which tasks are selected, by index (their outputs matter).
    selected: Vec<bool>,
    /// tasks.toml and the rules directory (project-relative): a change reloads.
    config: String,
    rules: String,
}

impl Relevant {
    /// What the tasks of `selection` read and write; `config` is tasks.toml's path.
    pub(crate) fn of(
        session: &Session,
        selection: &Selection,
        config: &std::path::Path,
    ) -> Relevant {
        let spec = &session.loaded().spec;
        let mut read = FxHashSet::default();
        let mut globs = GlobSetBuilder::new();
        let mut selected = vec![false; spec.tasks.len()];
        for &task in &selection.tasks {
            selected[task.index()] = true;
            for input in &spec.task(task).inputs {
                match &input.kind {
                    InputKind::File(path) => {
                        read.insert(path.to_string());
                    }
                    InputKind::Section { file, .. } => {
                        read.insert(file.to_string());
                    }
                    InputKind::Glob(glob) => {
                        globs.add(glob.glob.clone());
                    }
                    InputKind::Command(_) | InputKind::Program(_) => {}
                }
            }
        }
        let root = &session.root().path;
        let config = config
            .strip_prefix(root)
            .map(PathBuf::from)
            .unwrap_or_else(|_| config.to_path_buf());
        let mut relevant = Relevant {
            read,
            globs: globs.build().unwrap_or_else(|_| GlobSet::empty()),
            selected,
            config: config.to_string_lossy().into_owned(),
            rules: crate::project::RULES_DIR.to_owned(),
        };
        relevant.learn_discovered(session);
        relevant
    }

    /// Add what the selected tasks' depfiles named in their last runs.
    pub(crate) fn learn_discovered(&mut self, session: &Session) {
        let spec = &session.loaded().spec;
        for (index, task) in spec.tasks.iter().enumerate() {
            if !self.selected[index] || task.depfile.is_none() {
                continue;
            }
            let success = session
                .state()
                .tasks
                .get(task.id.as_str())
                .and_then(|s| s.success.as_ref());
            for (path, _) in success.iter().flat_map(|s| &s.discovered) {
                if !self.read.contains(path) {
                    self.read.insert(path.clone());
                }
            }
        }
    }

    /// Whether a touched path is tasks.toml or a rule: the config must be read again.
    pub(crate) fn is_config(&self, path: &str) -> bool {
        path == self.config
            || path
                .strip_prefix(&self.rules)
                .is_some_and(|rest| rest.starts_with('/') && rest.ends_with(".toml"))
    }

    /// Of the touched `paths`, those that matter and really changed. What they hold now
    /// is remembered in the stat cache, so the build that follows does not hash them
    /// again.
    pub(crate) fn changed(&self, session: &mut Session, paths: &[String]) -> Vec<String> {
        let spec = Arc::clone(&session.loaded().spec);
        let state = session.state();
        // Each path that matters, with what conduct knew of it before looking.
        let mut looked: Vec<ProjectPath> = Vec::new();
        let mut known: Vec<(Option<Digest>, Option<Digest>, bool)> = Vec::new();
        for path in paths {
            let Ok(project_path) = ProjectPath::new(path) else {
                continue;
            };
            let producer = spec.outputs.producer_of(&project_path);
            let output = producer.is_some_and(|t| self.selected[t.index()]);
            let read = self.read.contains(path.as_str()) || self.globs.is_match(path.as_str());
            if !output && !read {
                continue;
            }
            // As conduct saw it last (after the round, for what its tasks wrote).
            let seen = state.stat.get(path.as_str()).map(|entry| entry.digest);
            // An output may also be as its task's run recorded it (a restore).
            let recorded = producer.and_then(|task| {
                state
                    .tasks
                    .get(spec.task(task).id.as_str())
                    .and_then(|s| s.success.as_ref())
                    .and_then(|s| s.outputs.iter().find(|(p, _)| p == path))
                    .map(|(_, digest)| *digest)
            });
            looked.push(project_path);
            known.push((seen, recorded, producer.is_some()));
        }
        let found = session.look_at(&looked, scan::As::Output);
        looked
            .into_iter()
            .zip(known)
            .zip(found)
            .filter(|(_, found)| !matches!(found, Found::Directory))
            .filter(|((_, (seen, recorded, is_output)), found)| {
                let now = found.digest();
                now != *seen && !(*is_output && now == *recorded)
            })
            .map(|((path, _), _)| path.to_string())
            .collect()
    }
}
