//! From Task Master's tasks to conduct's: ids, dependencies, statuses, priorities and
//! outputs, and the checks that must pass before anything is written.
//!
//! Ids: task `3` becomes `T3`, its subtask `2` becomes `T3.2`. Dependencies follow Task
//! Master's own reading: in a task, `3` and `"3"` name task 3 and `"3.2"` a subtask; in
//! a subtask a number names a sibling subtask (`2` in task 3's subtasks is `T3.2`) and a
//! string names what it says (`"1"` task 1, `"3.1"` subtask 1 of task 3). A parent with
//! subtasks depends on them (it is done when they are), and each subtask also gets its
//! parent's dependencies (task 4 after task 3 means 4's subtasks wait for 3 too).
//!
//! Refused, all at once and before anything is written: an id that is not a number, a
//! duplicate id, a dependency on a task that is not in the file or on the task itself,
//! and a cycle (printed `T1 -> T2 -> T1`, each arrow "depends on"). Not refused but
//! noted: `cancelled` and `deferred` tasks are skipped (unless asked) and the
//! dependencies on them dropped, a subtask's dependency on its own parent is dropped
//! (the parent waits for its subtasks, so keeping it would be a cycle conduct made), an
//! unknown priority is left out.

use std::collections::{HashMap, HashSet};

use crate::commands::import::parse::{RawId, RawTask};

/// A task as conduct will know it.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) details: Option<String>,
    pub(crate) test_strategy: Option<String>,
    pub(crate) priority: Option<&'static str>,
    /// Task Master's status, as written (`pending` when absent).
    pub(crate) status: String,
    /// The parent's id, for a subtask.
    pub(crate) parent: Option<String>,
    /// Whether subtasks of it were imported (then it only groups them, unless it has
    /// outputs of its own).
    pub(crate) has_subtasks: bool,
    pub(crate) deps: Vec<String>,
    /// `relevantFiles` it creates, which conduct will own.
    pub(crate) outputs: Vec<String>,
    /// `relevantFiles` it modifies that no task creates: shared files it may change
    /// (`edits`), which another task may change too.
    pub(crate) edits: Vec<String>,
    /// Every `relevantFiles` entry, for its spec section: (path, action, description).
    pub(crate) files: Vec<(String, String, Option<String>)>,
}

/// The imported plan, with what the user should hear about it.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) tasks: Vec<Task>,
    /// Tasks Task Master says are done: for `conduct accept`.
    pub(crate) done: Vec<String>,
    /// Tasks left out, with their status.
    pub(crate) skipped: Vec<(String, String)>,
    pub(crate) notes: Vec<String>,
}

/// What the file holds that cannot be imported, each naming the task ids involved.
pub(crate) type Problems = Vec<String>;

/// Statuses that leave a task out unless `--include-cancelled`.
fn skipped_status(status: &str) -> bool {
    matches!(status, "cancelled" | "deferred")
}

fn number(id: &RawId) -> Option<u64> {
    match id {
        RawId::Number(n) => Some(*n),
        RawId::Text(t) => t.trim().parse().ok(),
    }
}

/// The conduct id a dependency names, read as Task Master reads it (see the module
/// doc); `None` when it is no task id at all.
fn dep_id(dep: &RawId, parent: Option<u64>) -> Option<String> {
    match (dep, parent) {
        (RawId::Number(n), Some(p)) => Some(format!("T{p}.{n}")),
        (RawId::Number(n), None) => Some(format!("T{n}")),
        (RawId::Text(text), _) => {
            let text = text.trim();
            match text.split_once('.') {
                Some((a, b)) => {
                    let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
                    Some(format!("T{a}.{b}"))
                }
                None => text.parse::<u64>().ok().map(|n| format!("T{n}")),
            }
        }
    }
}

/// One line of text, for a title or a heading.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_empty(text: Option<&String>) -> Option<String> {
    text.map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// An entry before its dependencies are resolved.
struct Entry<'a> {
    id: String,
    raw: &'a RawTask,
    parent: Option<(String, u64)>,
}

/// Convert `tasks`, or say everything that stops it.
pub(crate) fn convert(
    tasks: &[RawTask],
    include_cancelled: bool,
    reserved: &[&str],
) -> Result<Plan, Problems> {
    let mut problems = Problems::new();
    let mut plan = Plan::default();
    // Ids, in file order: each task, then its subtasks.
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for raw in tasks {
        let Some(n) = number(&raw.id) else {
            problems.push(format!(
                "task id {} is not a number (`{}`): Task Master ids are numbers",
                raw.id,
                raw.title.as_deref().unwrap_or("")
            ));
            continue;
        };
        let id = format!("T{n}");
        if !seen.insert(id.clone()) {
            problems.push(format!(
                "two tasks have id {n} ({id}): give one of them a new id (and fix the dependencies on it)"
            ));
            continue;
        }
        entries.push(Entry {
            id: id.clone(),
            raw,
            parent: None,
        });
        for sub in raw.subtasks.iter().flatten() {
            let Some(m) = number(&sub.id) else {
                problems.push(format!("subtask id {} of {id} is not a number", sub.id));
                continue;
            };
            let sub_id = format!("T{n}.{m}");
            if !seen.insert(sub_id.clone()) {
                problems.push(format!(
                    "task {n} has two subtasks with id {m} ({sub_id}): renumber one of them"
                ));
                continue;
            }
            entries.push(Entry {
                id: sub_id,
                raw: sub,
                parent: Some((id.clone(), n)),
            });
        }
    }
    // Statuses: what is skipped (a skipped parent takes its subtasks with it).
    let status_of = |raw: &RawTask| {
        raw.status
            .as_deref()
            .map_or_else(|| "pending".to_owned(), |s| s.trim().to_lowercase())
    };
    let mut skipped: HashMap<String, String> = HashMap::new();
    for entry in &entries {
        let status = status_of(entry.raw);
        let parent_skipped = entry
            .parent
            .as_ref()
            .and_then(|(p, _)| skipped.get(p).cloned());
        if !include_cancelled {
            if let Some(why) = parent_skipped {
                skipped.insert(entry.id.clone(), format!("parent {why}"));
            } else if skipped_status(&status) {
                skipped.insert(entry.id.clone(), status);
            }
        }
    }
    // Dependencies, resolved and checked.
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for entry in &entries {
        let mut list = Vec::new();
        for dep in entry.raw.dependencies.iter().flatten() {
            let Some(target) = dep_id(dep, entry.parent.as_ref().map(|(_, n)| *n)) else {
                problems.push(format!(
                    "{} depends on {dep}, which is not a task id (write 3 for a task, \"3.2\" for a subtask)",
                    entry.id
                ));
                continue;
            };
            if target == entry.id {
                problems.push(format!(
                    "{} depends on itself: remove {dep} from its dependencies",
                    entry.id
                ));
            } else if !seen.contains(&target) {
                problems.push(format!(
                    "{} depends on {target}, which is not in the file: remove the dependency or add the task",
                    entry.id
                ));
            } else if entry.parent.as_ref().is_some_and(|(p, _)| *p == target) {
                plan.notes.push(format!(
                    "{}: dropped its dependency on its parent {target} (a parent waits for its subtasks)",
                    entry.id
                ));
            } else if let Some(why) = skipped.get(&target) {
                if !skipped.contains_key(&entry.id) {
                    plan.notes.push(format!(
                        "{}: dropped its dependency on {target} ({why}, not imported)",
                        entry.id
                    ));
                }
            } else if !list.contains(&target) {
                list.push(target);
            }
        }
        deps.insert(entry.id.clone(), list);
    }
    // Parents wait for their subtasks; subtasks inherit their parent's dependencies.
    let kept: Vec<&Entry> = entries
        .iter()
        .filter(|e| !skipped.contains_key(&e.id))
        .collect();
    // Each parent's kept subtasks, in file order (one pass, not one per parent).
    let mut subtasks: HashMap<&str, Vec<&str>> = HashMap::new();
    for entry in &kept {
        if let Some((parent, _)) = &entry.parent {
            subtasks
                .entry(parent.as_str())
                .or_default()
                .push(entry.id.as_str());
        }
    }
    let mut full: HashMap<String, Vec<String>> = HashMap::new();
    for entry in &kept {
        let mut list = deps.get(&entry.id).cloned().unwrap_or_default();
        if let Some((parent, _)) = &entry.parent {
            let prefix = format!("{parent}.");
            for dep in deps.get(parent).into_iter().flatten() {
                if !dep.starts_with(&prefix) && !list.contains(dep) {
                    list.push(dep.clone());
                }
            }
        } else {
            for &sub in subtasks.get(entry.id.as_str()).into_iter().flatten() {
                if !list.iter().any(|dep| dep == sub) {
                    list.push(sub.to_owned());
                }
            }
        }
        full.insert(entry.id.clone(), list);
    }
    let order: Vec<String> = kept.iter().map(|e| e.id.clone()).collect();
    if let Some(cycle) = find_cycle(&order, &full) {
        problems.push(format!(
            "dependency cycle: {} (each arrow: depends on; a parent depends on its subtasks): \
             remove one of these dependencies",
            cycle.join(" -> ")
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // The tasks, with priorities and outputs (a file is owned by the first task that
    // creates it: conduct gives every output one owner).
    let mut owners: HashMap<String, String> = HashMap::new();
    for entry in &kept {
        let raw = entry.raw;
        let status = status_of(raw);
        if matches!(status.as_str(), "done" | "completed") {
            plan.done.push(entry.id.clone());
        }
        let priority = raw.priority.as_deref().map(|p| p.trim().to_lowercase());
        let priority = match priority.as_deref() {
            None | Some("") => None,
            Some("critical") => Some("critical"),
            Some("high") => Some("high"),
            Some("medium") => Some("medium"),
            Some("low") => Some("low"),
            Some(other) => {
                plan.notes.push(format!(
                    "{}: left out the unknown priority `{other}`",
                    entry.id
                ));
                None
            }
        };
        let mut outputs = Vec::new();
        let mut edits = Vec::new();
        let mut files = Vec::new();
        for file in raw.files() {
            let action = file.action().trim().to_lowercase();
            let path = clean_path(file.path());
            if action == "modify"
                && let Some(p) = path.as_deref()
                && !reserved.contains(&p)
                && !edits.iter().any(|e| e == p)
            {
                edits.push(p.to_owned());
            }
            if action == "create" {
                match path.as_deref() {
                    None => plan.notes.push(format!(
                        "{}: `{}` is not a path inside the project; not an output",
                        entry.id,
                        file.path()
                    )),
                    Some(p) if reserved.contains(&p) => plan.notes.push(format!(
                        "{}: `{p}` is conduct's own file; not an output",
                        entry.id
                    )),
                    Some(p) => match owners.get(p) {
                        Some(owner) => plan.notes.push(format!(
                            "{}: `{p}` is already an output of {owner}; listed in its section only",
                            entry.id
                        )),
                        None => {
                            owners.insert(p.to_owned(), entry.id.clone());
                            outputs.push(p.to_owned());
                        }
                    },
                }
            }
            files.push((
                file.path().to_owned(),
                action,
                file.description().map(str::to_owned),
            ));
        }
        let title = raw
            .title
            .as_deref()
            .map(one_line)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| format!("Task {}", entry.id));
        plan.tasks.push(Task {
            id: entry.id.clone(),
            title,
            description: non_empty(raw.description.as_ref()),
            details: non_empty(raw.details.as_ref()),
            test_strategy: non_empty(raw.test_strategy.as_ref()),
            priority,
            status,
            parent: entry.parent.as_ref().map(|(p, _)| p.clone()),
            has_subtasks: entry.parent.is_none()
                && kept
                    .iter()
                    .any(|s| s.parent.as_ref().is_some_and(|(p, _)| *p == entry.id)),
            deps: full.remove(&entry.id).unwrap_or_default(),
            outputs,
            edits,
            files,
        });
    }
    // A file some task creates is that task's: the others that modify it only say so
    // in their sections (conduct refuses an output listed in another task's `edits`).
    for task in &mut plan.tasks {
        task.edits.retain(|path| match owners.get(path) {
            None => true,
            Some(owner) => {
                if *owner != task.id {
                    plan.notes.push(format!(
                        "{}: `{path}` is an output of {owner}; its change is listed in the \
                         section only",
                        task.id
                    ));
                }
                false
            }
        });
    }
    plan.skipped = entries
        .iter()
        .filter_map(|e| skipped.get(&e.id).map(|why| (e.id.clone(), why.clone())))
        .collect();
    Ok(plan)
}

/// A `relevantFiles` path as a project-relative output, or `None` when it is not one
/// (absolute, leaving the project, a backslash or control character): conduct would
/// refuse it at `check`.
fn clean_path(path: &str) -> Option<String> {
    let path = path.trim();
    let path = path.strip_prefix("./").unwrap_or(path);
    if path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path.split('/').any(|part| part == ".." || part == ".")
        || path.ends_with('/')
    {
        return None;
    }
    Some(path.to_owned())
}

/// The first dependency cycle, as the path `[a, b, …, a]` (depth-first, tasks in file
/// order so the answer is the same every time).
fn find_cycle(order: &[String], deps: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let index: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = order
        .iter()
        .map(|id| {
            deps.get(id)
                .into_iter()
                .flatten()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut mark = vec![Mark::New; order.len()];
    for start in 0..order.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // (node, next edge to follow); the stack is the current path.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = edges[node].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::Open;
                        stack.push((dep, 0));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(n, _)| order[n].clone())
                            .collect();
                        cycle.push(order[dep].clone());
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(json: &str) -> Vec<RawTask> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn subtask_numbers_are_siblings_and_strings_are_absolute() {
        let plan = convert(
            &tasks(
                r#"[{"id": 1, "title": "a"},
                    {"id": 2, "title": "b", "dependencies": ["1"], "subtasks": [
                      {"id": 1, "title": "b1"},
                      {"id": 2, "title": "b2", "dependencies": [1, "3"]}]},
                    {"id": 3}]"#,
            ),
            false,
            &[],
        )
        .unwrap();
        let b2 = plan.tasks.iter().find(|t| t.id == "T2.2").unwrap();
        assert_eq!(b2.deps, ["T2.1", "T3", "T1"]);
        let b = plan.tasks.iter().find(|t| t.id == "T2").unwrap();
        assert_eq!(b.deps, ["T1", "T2.1", "T2.2"]);
    }

    #[test]
    fn cycle_is_printed_as_a_path() {
        let problems = convert(
            &tasks(r#"[{"id": 1, "dependencies": [2]}, {"id": 2, "dependencies": [1]}]"#),
            false,
            &[],
        )
        .unwrap_err();
        assert!(problems[0].contains("T1 -> T2 -> T1"), "{problems:?}");
    }

    #[test]
    fn cancelled_is_skipped_and_dependencies_on_it_dropped() {
        let plan = convert(
            &tasks(
                r#"[{"id": 1, "status": "cancelled"}, {"id": 2, "dependencies": [1], "status": "done"}]"#,
            ),
            false,
            &[],
        )
        .unwrap();
        assert_eq!(plan.tasks.len(), 1);
        assert!(plan.tasks[0].deps.is_empty());
        assert_eq!(plan.done, ["T2"]);
        assert_eq!(plan.skipped, [("T1".to_owned(), "cancelled".to_owned())]);
    }

    #[test]
    fn self_and_missing_dependencies_are_named() {
        let problems = convert(
            &tasks(r#"[{"id": 1, "dependencies": [1]}, {"id": 2, "subtasks": [{"id": 1, "dependencies": ["2.1", 7]}]}]"#),
            false,
            &[],
        )
        .unwrap_err();
        assert!(
            problems[0].starts_with("T1 depends on itself"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("T2.1 depends on itself"),
            "{problems:?}"
        );
        assert!(
            problems[2].starts_with("T2.1 depends on T2.7, which is not in the file"),
            "{problems:?}"
        );
    }

    #[test]
    fn modified_files_are_edits_unless_a_task_creates_them() {
        let plan = convert(
            &tasks(
                r#"[{"id": 1, "relevantFiles": [{"path": "src/routes.ts", "action": "modify"},
                                                 {"path": "src/users.ts", "action": "create"}]},
                    {"id": 2, "relevantFiles": [{"path": "src/routes.ts", "action": "modify"},
                                                 {"path": "src/users.ts", "action": "modify"},
                                                 {"path": "../up.ts", "action": "modify"}]}]"#,
            ),
            false,
            &[],
        )
        .unwrap();
        assert_eq!(plan.tasks[0].edits, ["src/routes.ts"]);
        assert_eq!(plan.tasks[0].outputs, ["src/users.ts"]);
        assert_eq!(plan.tasks[1].edits, ["src/routes.ts"], "shared by both");
        assert!(
            plan.notes
                .iter()
                .any(|n| n.starts_with("T2: `src/users.ts` is an output of T1")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn paths_outside_the_project_are_not_outputs() {
        assert_eq!(clean_path("./src/a.ts").as_deref(), Some("src/a.ts"));
        assert_eq!(clean_path("../a"), None);
        assert_eq!(clean_path("/etc/passwd"), None);
    }
}
