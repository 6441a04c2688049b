//! `OutputIndex`: which task produces a given path.
//!
//! Built once per load from the declared outputs, it answers "who writes this file?" in
//! O(depth of the path): an exact file output, or a directory output that contains the
//! path. The graph uses it to infer dependencies, the build uses it to tell a missing
//! source from a not-yet-built output. Building it is also where two tasks claiming the
//! same file (or one file inside another task's directory) is caught.

use rustc_hash::FxHashMap;

use crate::spec::path::ProjectPath;
use crate::spec::{Output, TaskIdx};

/// Every declared output, by path.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct OutputIndex {
    #[serde(deserialize_with = "crate::presized::map")]
    files: FxHashMap<ProjectPath, TaskIdx>,
    dirs: FxHashMap<ProjectPath, TaskIdx>,
}

/// A second claim on a path that is already taken.
#[derive(Debug)]
pub(crate) enum Conflict {
    /// The same path declared by `other` too.
    Duplicate { other: TaskIdx },
    /// The path lies inside the directory output `dir` of `other` (or contains another
    /// output, for a directory).
    Nested { other: TaskIdx, dir: ProjectPath },
}

impl OutputIndex {
    /// Claim `output` for `task`; a conflicting claim is refused and described.
    pub(crate) fn insert(&mut self, task: TaskIdx, output: &Output) -> Result<(), Conflict> {
        let path = &output.path;
        if let Some(&other) = self.files.get(path).or_else(|| self.dirs.get(path)) {
            if other == task {
                return Ok(());
            }
            return Err(Conflict::Duplicate { other });
        }
        if let Some((dir, other)) = self.enclosing_dir(path) {
            return Err(Conflict::Nested {
                other,
                dir: dir.clone(),
            });
        }
        if output.is_dir {
            self.dirs.insert(path.clone(), task);
        } else {
            self.files.insert(path.clone(), task);
        }
        Ok(())
    }

    fn enclosing_dir(&self, path: &ProjectPath) -> Option<(&ProjectPath, TaskIdx)> {
        path.ancestors()
            .find_map(|a| self.dirs.get_key_value(a).map(|(p, &t)| (p, t)))
    }

    /// The task that writes `path`, as a file output or inside a directory output.
    pub(crate) fn producer_of(&self, path: &ProjectPath) -> Option<TaskIdx> {
        self.files
            .get(path)
            .or_else(|| self.dirs.get(path))
            .copied()
            .or_else(|| self.enclosing_dir(path).map(|(_, t)| t))
    }

    /// Every declared file output and its producer (any order).
    pub(crate) fn files(&self) -> impl Iterator<Item = (&ProjectPath, TaskIdx)> {
        self.files.iter().map(|(p, &t)| (p, t))
    }

    /// Every declared directory output and its producer (any order).
    pub(crate) fn dirs(&self) -> impl Iterator<Item = (&ProjectPath, TaskIdx)> {
        self.dirs.iter().map(|(p, &t)| (p, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn out(path: &str) -> Output {
        Output {
            path: ProjectPath::new(path).unwrap(),
            is_dir: path.ends_with('/'),
            span: Span::default(),
        }
    }

    #[test]
    fn finds_producers_of_files_and_directory_contents() {
        let mut index = OutputIndex::default();
        index.insert(TaskIdx(0), &out("out/a.txt")).unwrap();
        index.insert(TaskIdx(1), &out("dist/")).unwrap();
        let p = |s: &str| ProjectPath::new(s).unwrap();
        assert_eq!(index.producer_of(&p("out/a.txt")), Some(TaskIdx(0)));
        assert_eq!(index.producer_of(&p("dist/js/app.js")), Some(TaskIdx(1)));
        assert_eq!(index.producer_of(&p("dist")), Some(TaskIdx(1)));
        assert_eq!(index.producer_of(&p("out/b.txt")), None);
        assert_eq!(index.producer_of(&p("distx/a")), None);
    }

    #[test]
    fn refuses_second_claims() {
        let mut index = OutputIndex::default();
        index.insert(TaskIdx(0), &out("out/a.txt")).unwrap();
        index.insert(TaskIdx(1), &out("dist/")).unwrap();
        assert!(index.insert(TaskIdx(0), &out("out/a.txt")).is_ok());
        assert!(matches!(
            index.insert(TaskIdx(2), &out("out/a.txt")),
            Err(Conflict::Duplicate { other: TaskIdx(0) })
        ));
        assert!(matches!(
            index.insert(TaskIdx(2), &out("dist/x/y.js")),
            Err(Conflict::Nested {
                other: TaskIdx(1),
                ..
            })
        ));
    }
}
