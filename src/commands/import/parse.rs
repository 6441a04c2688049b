//! Reading Task Master's `tasks.json` as it is on disk: serde types for its tasks and
//! subtasks, and the choice between its two file shapes (legacy `{"tasks": [...]}` and
//! tagged `{"master": {"tasks": [...]}, "feature-x": {...}}`).
//!
//! Every field but `id` is optional and `null` is taken as absent: Task Master has
//! written these files for a long time and its fields came and went (`testStrategy`,
//! `priority`, `relevantFiles`), so what a real file lacks must not stop an import.
//! Nothing here panics on what the file holds; a file that is not one of the two shapes
//! is an [`Error::ImportParse`] naming what was expected.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

/// An id or a dependency as Task Master writes it: a number (`3`), or a string (`"3"`,
/// `"3.2"`; newer versions and hand edits write strings).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawId {
    Number(u64),
    Text(String),
}

impl std::fmt::Display for RawId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawId::Number(n) => write!(f, "{n}"),
            RawId::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

/// One entry of `relevantFiles`: `{path, description, action}` (tm-core's
/// `RelevantFile`, action `create` | `modify` | `reference`), or a bare path.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawFile {
    Path(String),
    Entry {
        path: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        action: Option<String>,
    },
}

impl RawFile {
    pub(crate) fn path(&self) -> &str {
        match self {
            RawFile::Path(path) | RawFile::Entry { path, .. } => path,
        }
    }

    /// `create` unless the entry says otherwise: a bare path names a file to write.
    pub(crate) fn action(&self) -> &str {
        match self {
            RawFile::Entry {
                action: Some(action),
                ..
            } => action,
            _ => "create",
        }
    }

    pub(crate) fn description(&self) -> Option<&str> {
        match self {
            RawFile::Entry { description, .. } => description.as_deref(),
            RawFile::Path(_) => None,
        }
    }
}

/// A task or a subtask (subtasks have the same fields, with ids local to their parent).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawTask {
    pub(crate) id: RawId,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) details: Option<String>,
    #[serde(default, rename = "testStrategy")]
    pub(crate) test_strategy: Option<String>,
    #[serde(default)]
    pub(crate) priority: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) dependencies: Option<Vec<RawId>>,
    #[serde(default)]
    pub(crate) subtasks: Option<Vec<RawTask>>,
    #[serde(default, rename = "relevantFiles")]
    pub(crate) relevant_files: Option<Vec<RawFile>>,
    /// tm-core keeps AI metadata (`relevantFiles` among it) here for remote tasks.
    #[serde(default)]
    pub(crate) metadata: Option<serde_json::Value>,
}

impl RawTask {
    /// `relevantFiles` of the task, else of its `metadata` (entries of another shape are
    /// left out, as tm-core's mapper leaves them out).
    pub(crate) fn files(&self) -> Vec<RawFile> {
        if let Some(files) = &self.relevant_files {
            return files.clone();
        }
        self.metadata
            .as_ref()
            .and_then(|m| m.get("relevantFiles"))
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| serde_json::from_value(item.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The tasks of the chosen tag.
#[derive(Debug)]
pub(crate) struct TaskList {
    /// The tag they came from (`master` for a legacy file).
    pub(crate) tag: String,
    pub(crate) tasks: Vec<RawTask>,
}

/// Parse `text` (the file at `path`) and pick the tasks of `tag` (default: `master`, or
/// the only tag there is).
pub(crate) fn parse(path: &Path, text: &str, tag: Option<&str>) -> Result<TaskList, Error> {
    let bad = |message: String| Error::ImportParse {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(bad(
            "expected an object (`{\"tasks\": [...]}` or `{\"master\": {\"tasks\": [...]}}`)"
                .to_owned(),
        ));
    };
    let tasks_of = |tag: &str, list: &serde_json::Value| -> Result<Vec<RawTask>, Error> {
        serde_json::from_value(list.clone()).map_err(|e| {
            bad(format!(
                "the tasks of tag `{tag}` do not read as tasks: {e}"
            ))
        })
    };
    // Legacy: the tasks at the top, one implicit tag.
    if let Some(list) = object.get("tasks") {
        return match tag {
            None | Some("master") => Ok(TaskList {
                tag: "master".to_owned(),
                tasks: tasks_of("master", list)?,
            }),
            Some(other) => Err(Error::ImportTag {
                path: path.to_path_buf(),
                tag: other.to_owned(),
                tags: vec!["master".to_owned()],
            }),
        };
    }
    let tags: Vec<&String> = object
        .iter()
        .filter(|(_, v)| v.get("tasks").is_some_and(serde_json::Value::is_array))
        .map(|(k, _)| k)
        .collect();
    let chosen = match tag {
        Some(tag) => tags.iter().find(|t| t.as_str() == tag).copied(),
        None if tags.len() == 1 => tags.first().copied(),
        None => tags.iter().find(|t| t.as_str() == "master").copied(),
    };
    let Some(chosen) = chosen else {
        if tags.is_empty() {
            return Err(bad(
                "no tasks: neither a top-level `tasks` list nor a tag holding one".to_owned(),
            ));
        }
        return Err(Error::ImportTag {
            path: path.to_path_buf(),
            tag: tag.unwrap_or("master").to_owned(),
            tags: tags.into_iter().cloned().collect(),
        });
    };
    let list = object
        .get(chosen.as_str())
        .and_then(|t| t.get("tasks"))
        .cloned()
        .unwrap_or_default();
    Ok(TaskList {
        tag: chosen.clone(),
        tasks: tasks_of(chosen, &list)?,
    })
}
