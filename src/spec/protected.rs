//! Paths a config may not hand to conduct's deletions (issue 12).
//!
//! conduct removes a task's declared outputs before it runs, restores them from the
//! cache, and `conduct clean --cache` empties the cache directory. So one careless line
//! (`outputs = [".git/"]`, `cache = "src"`) would make conduct destroy the repository
//! or the sources. These checks refuse such configs at load time, with the line and
//! column of the offending value, before anything runs:
//!
//! - an output may not be, lie inside or hold the config file, the git repository
//!   (`.git`), the rules directory, the cache directory or the worktrees directory;
//! - the cache directory may not be, lie inside or hold any of those, an output, a
//!   plain input or section file, or the directory a glob input reads;
//! - the worktrees directory may not overlap the config file, `.git`, the rules
//!   directory or the cache.
//!
//! (The project root itself cannot be named: a `ProjectPath` is never empty.)

use crate::project::RULES_DIR;
use crate::source::Span;
use crate::spec::error::SpecErrorKind;
use crate::spec::{InputKind, Project, ProjectPath, Task};

/// How two project paths relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    Same,
    /// The first lies inside the second.
    Inside,
    /// The first holds the second.
    Holds,
}

fn relation(a: &str, b: &str) -> Option<Relation> {
    let below =
        |x: &str, y: &str| x.len() > y.len() && x.starts_with(y) && x.as_bytes()[y.len()] == b'/';
    if a == b {
        Some(Relation::Same)
    } else if below(a, b) {
        Some(Relation::Inside)
    } else if below(b, a) {
        Some(Relation::Holds)
    } else {
        None
    }
}

/// How `relation` reads in a message about the first path: "is the git repository
/// `.git`", "lies inside …", "holds …".
fn phrase(relation: Relation, what: &str, path: &str) -> String {
    match relation {
        Relation::Same => format!("{what} `{path}`"),
        Relation::Inside => format!("inside {what} `{path}`"),
        Relation::Holds => format!("a directory holding {what} `{path}`"),
    }
}

/// The places conduct's own files and the user's repository live.
fn protected(config: &str, project: &Project) -> Vec<(String, &'static str)> {
    vec![
        (config.to_owned(), "the config file"),
        (".git".to_owned(), "the git repository"),
        (RULES_DIR.to_owned(), "the rules directory"),
        (project.cache.to_string(), "conduct's cache directory"),
        (
            project.worktrees.to_string(),
            "the agent worktrees directory",
        ),
    ]
}

/// Whether `path` is, lies inside or holds a place no deletion may touch (for files
/// conduct's records name rather than tasks.toml: `conduct clean` of a removed task's
/// outputs).
pub(crate) fn is_protected(config: &str, project: &Project, path: &str) -> bool {
    protected(config, project)
        .iter()
        .any(|(place, _)| relation(path, place).is_some())
}

/// Check every output and the project's directories; `config` is the config file's
/// project-relative name.
pub(super) fn check(
    config: &str,
    project: &Project,
    tasks: &[Task],
    error: &mut impl FnMut(Span, SpecErrorKind),
) {
    let places = protected(config, project);
    for task in tasks {
        for output in &task.outputs {
            let found = places.iter().find_map(|(place, what)| {
                Some((relation(output.path.as_str(), place)?, *what, place))
            });
            if let Some((relation, what, place)) = found {
                error(
                    output.span,
                    SpecErrorKind::ProtectedOutput {
                        path: output.display(),
                        task: task.id.to_string(),
                        what: phrase(relation, what, place),
                    },
                );
            }
        }
    }
    if let Some((span, conflict)) = cache_conflict(config, project, tasks) {
        error(
            span,
            SpecErrorKind::ProjectDirConflict {
                key: "cache",
                path: project.cache.to_string(),
                conflict,
            },
        );
    }
    let worktrees = project.worktrees.as_str();
    let found = places[..4]
        .iter()
        .find_map(|(place, what)| Some((relation(worktrees, place)?, *what, place)));
    if let Some((relation, what, place)) = found {
        error(
            project.worktrees_span,
            SpecErrorKind::ProjectDirConflict {
                key: "worktrees",
                path: worktrees.to_owned(),
                conflict: is(relation, what, place),
            },
        );
    }
}

/// "is `.git`, the git repository", "lies inside …", "holds …".
fn is(relation: Relation, what: &str, path: &str) -> String {
    let verb = match relation {
        Relation::Same => "is",
        Relation::Inside => "lies inside",
        Relation::Holds => "holds",
    };
    format!("{verb} `{path}`, {what}")
}

/// The first way the cache directory collides with something that is not conduct's,
/// and where to point: at `cache = …` if it was written, else at the other path.
fn cache_conflict(config: &str, project: &Project, tasks: &[Task]) -> Option<(Span, String)> {
    let cache = project.cache.as_str();
    let written = project.cache_span != Span::default();
    let at = |other: Span| if written { project.cache_span } else { other };
    let places = protected(config, project);
    // The config, `.git`, the rules and the worktrees (not the cache itself).
    for (place, what) in places.iter().filter(|(_, w)| !w.starts_with("conduct's")) {
        if let Some(relation) = relation(cache, place) {
            return Some((project.cache_span, is(relation, what, place)));
        }
    }
    for task in tasks {
        for output in &task.outputs {
            if let Some(relation) = relation(cache, output.path.as_str()) {
                let what = format!("an output of task `{}`", task.id);
                return Some((at(output.span), is(relation, &what, &output.display())));
            }
        }
        for input in &task.inputs {
            let (path, what): (&ProjectPath, &str) = match &input.kind {
                InputKind::File(path) => (path, "an input"),
                InputKind::Section { file, .. } => (file, "an input"),
                InputKind::Glob(glob) => {
                    let prefix = glob.literal_prefix();
                    if prefix.is_empty() {
                        continue;
                    }
                    if let Some(relation) = relation(cache, &prefix) {
                        let what = format!(
                            "the directory input `{}` of task `{}` reads",
                            glob.text, task.id
                        );
                        let conflict = match relation {
                            Relation::Holds => format!("holds `{prefix}`, {what}"),
                            _ => format!("lies in `{prefix}`, {what}"),
                        };
                        return Some((at(input.span), conflict));
                    }
                    continue;
                }
                InputKind::Command(_) | InputKind::Program(_) => continue,
            };
            if let Some(relation) = relation(cache, path.as_str()) {
                let what = format!("{what} of task `{}`", task.id);
                return Some((at(input.span), is(relation, &what, path.as_str())));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_respect_component_boundaries() {
        assert_eq!(relation(".git", ".git"), Some(Relation::Same));
        assert_eq!(relation(".git/hooks", ".git"), Some(Relation::Inside));
        assert_eq!(relation("out", "out/a"), Some(Relation::Holds));
        assert_eq!(relation(".github", ".git"), None);
        assert_eq!(relation("rules.md", "rules"), None);
    }
}
