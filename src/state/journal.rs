//! The state as a session changes it. Every change goes through [`Journal`], which
//! notes the entries it touched, so a save appends only those to `state.log` (or, when
//! a build changed much of the state, writes a new snapshot) and a build that changed
//! nothing writes nothing.

use std::io;

use rustc_hash::FxHashSet;

use crate::scan::{self, Found};
use crate::state::{BuildCounts, Change, CleanBuild, State, StateStore, TaskState};

/// The state, where it is kept, and what changed since it was read or last saved.
#[derive(Debug)]
pub(crate) struct Journal {
    state: State,
    store: StateStore,
    dirty: Dirty,
}

impl Journal {
    /// The state `store` holds, as read (`state`, read early by `project::open`).
    pub(crate) fn new(state: State, store: StateStore) -> Journal {
        Journal {
            state,
            store,
            dirty: Dirty::default(),
        }
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    /// Whether anything changed since the state was read or saved.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.any()
    }

    /// The record of a task, to update (marks it for saving).
    pub(crate) fn task_mut(&mut self, id: &str) -> &mut TaskState {
        if !self.dirty.tasks.contains(id) {
            self.dirty.tasks.insert(id.to_owned());
        }
        self.state.tasks.entry(id.to_owned()).or_default()
    }

    /// Remember what a look that started at `scan_ns` found at `path` in the stat
    /// cache (marked for saving only if that changed it).
    pub(crate) fn remember(&mut self, path: &str, found: &Found, scan_ns: i64) {
        if scan::remember(&mut self.state.stat, path, found, scan_ns) {
            self.dirty.stat.insert(path.to_owned());
        }
    }

    /// What the last complete, clean build left (`None`: forget it).
    pub(crate) fn set_clean_build(&mut self, left: Option<CleanBuild>) {
        if self.state.clean_build != left {
            self.dirty
                .clean_build(self.state.clean_build.as_ref(), left.as_ref());
            self.state.clean_build = left;
        }
    }

    /// What the last build did (only a change marks the state for saving).
    pub(crate) fn record_counts(&mut self, counts: BuildCounts) {
        if self.state.last_build != Some(counts) {
            self.state.last_build = Some(counts);
            self.dirty.last_build = true;
        }
    }

    /// Drop a task's record entirely (a task no longer in tasks.toml, once what it
    /// made was dealt with).
    pub(crate) fn forget(&mut self, id: &str) {
        if self.state.tasks.remove(id).is_some() {
            self.dirty.tasks.insert(id.to_owned());
        }
    }

    /// Write what changed: appended to the journal, or (when much of the state changed)
    /// as a new snapshot. Records of tasks that `is_task` no longer knows are dropped
    /// first, but for what they made: that stays on record until `conduct clean
    /// --outputs` ([`Journal::forget`]), which may remove it. On failure the changes stay
    /// marked, for the next save.
    pub(crate) fn save(&mut self, is_task: &dyn Fn(&str) -> bool) -> io::Result<()> {
        if !self.dirty.any() {
            return Ok(());
        }
        let gone: Vec<String> = self
            .state
            .tasks
            .iter()
            .filter(|(id, state)| {
                !is_task(id) && state.success.as_ref().is_none_or(|s| s.outputs.is_empty())
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.state.tasks.remove(&id);
            self.dirty.tasks.insert(id);
        }
        let entries = self.state.tasks.len() + self.state.stat.len();
        let dirty = std::mem::take(&mut self.dirty);
        let saved = if dirty.tasks.len() + dirty.stat.len() > 1000 + entries / 8 {
            self.store.rewrite(&mut self.state)
        } else {
            let changes = dirty.changes(&self.state);
            self.store.save(&mut self.state, &changes)
        };
        if saved.is_err() {
            self.dirty = dirty;
        }
        saved
    }
}

/// The entries of the state changed since it was read or last saved.
#[derive(Debug, Default)]
struct Dirty {
    tasks: FxHashSet<String>,
    stat: FxHashSet<String>,
    clean_build: CleanChange,
    last_build: bool,
}

/// How the record of the last clean build changed.
#[derive(Debug, Default)]
enum CleanChange {
    #[default]
    None,
    /// The same tasks: these tasks' parts, and the world if `true`.
    Parts(Vec<u32>, bool),
    Whole,
}

impl Dirty {
    fn any(&self) -> bool {
        !self.tasks.is_empty()
            || !self.stat.is_empty()
            || !matches!(self.clean_build, CleanChange::None)
            || self.last_build
    }

    /// Note the change from `old` to `new`.
    fn clean_build(&mut self, old: Option<&CleanBuild>, new: Option<&CleanBuild>) {
        let (Some(old), Some(new)) = (old, new) else {
            self.clean_build = CleanChange::Whole;
            return;
        };
        if old.tasks.len() != new.tasks.len() {
            self.clean_build = CleanChange::Whole;
            return;
        }
        let (mut parts, mut world) = match std::mem::take(&mut self.clean_build) {
            CleanChange::Whole => {
                self.clean_build = CleanChange::Whole;
                return;
            }
            CleanChange::Parts(parts, world) => (parts, world),
            CleanChange::None => (Vec::new(), false),
        };
        world |= old.world != new.world;
        parts.extend(
            (0..new.tasks.len())
                .filter(|&i| old.tasks[i] != new.tasks[i])
                .map(|i| i as u32),
        );
        self.clean_build = CleanChange::Parts(parts, world);
    }

    /// The journal records: each changed entry as it is now in `state`.
    fn changes(&self, state: &State) -> Vec<Change> {
        let mut changes = Vec::with_capacity(self.tasks.len() + self.stat.len() + 2);
        for id in &self.tasks {
            changes.push(Change::Task(id.clone(), state.tasks.get(id).cloned()));
        }
        for path in &self.stat {
            changes.push(Change::Stat(path.clone(), state.stat.get(path).copied()));
        }
        match (&self.clean_build, &state.clean_build) {
            (CleanChange::None, _) => {}
            (CleanChange::Parts(parts, world), Some(clean)) => {
                if *world {
                    changes.push(Change::CleanWorld(clean.world));
                }
                for &i in parts {
                    if let Some(&part) = clean.tasks.get(i as usize) {
                        changes.push(Change::CleanTask(i, part));
                    }
                }
            }
            _ => changes.push(Change::CleanBuild(state.clean_build.clone())),
        }
        if self.last_build {
            changes.push(Change::LastBuild(state.last_build));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Digest;

    fn journal(dir: &std::path::Path) -> Journal {
        let store = StateStore::new(dir);
        Journal::new(store.load(), store)
    }

    fn clean(world: &[u8], tasks: &[&[u8]]) -> CleanBuild {
        CleanBuild {
            world: Digest::of(world),
            tasks: tasks
                .iter()
                .map(|t| (Digest::of(t), Digest::of(t)))
                .collect(),
        }
    }

    #[test]
    fn an_unchanged_journal_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path());
        j.save(&|_| true).unwrap();
        assert!(!dir.path().join("state").exists());
        j.record_counts(BuildCounts::default());
        assert!(j.is_dirty());
        j.save(&|_| true).unwrap();
        assert!(!j.is_dirty());
        j.record_counts(BuildCounts::default());
        assert!(!j.is_dirty(), "the same counts change nothing");
    }

    #[test]
    fn saved_changes_read_back_and_forgotten_tasks_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path());
        j.task_mut("a").checks.clear();
        j.task_mut("gone");
        j.set_clean_build(Some(clean(b"w", &[b"1", b"2"])));
        j.save(&|id| id != "gone").unwrap();
        // A later save with one part changed appends just that part.
        j.set_clean_build(Some(clean(b"w", &[b"1", b"3"])));
        j.save(&|id| id != "gone").unwrap();
        let read = journal(dir.path());
        assert!(read.state().tasks.contains_key("a"));
        assert!(!read.state().tasks.contains_key("gone"));
        assert_eq!(read.state().clean_build, Some(clean(b"w", &[b"1", b"3"])));
    }

    #[test]
    fn a_changed_world_and_a_new_task_count_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = journal(dir.path());
        j.set_clean_build(Some(clean(b"w", &[b"1"])));
        j.save(&|_| true).unwrap();
        j.set_clean_build(Some(clean(b"v", &[b"1"])));
        j.save(&|_| true).unwrap();
        assert_eq!(
            journal(dir.path()).state().clean_build,
            Some(clean(b"v", &[b"1"]))
        );
        j.set_clean_build(Some(clean(b"v", &[b"1", b"2"])));
        j.save(&|_| true).unwrap();
        assert_eq!(
            journal(dir.path()).state().clean_build,
            Some(clean(b"v", &[b"1", b"2"]))
        );
        j.set_clean_build(None);
        j.save(&|_| true).unwrap();
        assert_eq!(journal(dir.path()).state().clean_build, None);
    }
}
