//! `[vars]` and `[templates.NAME]` in the first pass over tasks.toml: variables checked
//! and overridden by `--var`, each template read once per match into ordinary tasks,
//! and task ids declared twice (a template's and another's) reported at both places.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use toml::de::DeValue;

use super::{RawSpec, RawTask, TEMPLATE_KEYS};
use crate::spec::error::{SpecErrorKind, VariableProblem};
use crate::spec::name::TaskId;
use crate::spec::reader::{Key, Reader, Scope, Value};
use crate::spec::template::{self, Given, Matched, Mode};
use crate::suggest::did_you_mean;

impl Reader<'_> {
    /// `[vars]` with `--var` applied: name → value.
    pub(super) fn vars(
        &mut self,
        table: Option<&Value<'_>>,
        given: &Given,
    ) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        let reserved = template::reserved();
        if let Some(table) = table.and_then(|value| self.table("vars", value)) {
            for (key, value) in table.iter() {
                let name = key.get_ref().as_ref();
                let problem = if !template::is_identifier(name) {
                    Some(VariableProblem::NotIdentifier)
                } else if reserved.contains(&name) {
                    Some(VariableProblem::Placeholder)
                } else {
                    None
                };
                if let Some(problem) = problem {
                    self.err(
                        key.span(),
                        SpecErrorKind::BadVariable {
                            name: name.to_owned(),
                            problem,
                        },
                    );
                    continue;
                }
                if let Some(text) = self.string(name, value) {
                    vars.insert(name.to_owned(), text);
                }
            }
        }
        let span = table.map_or(0..0, |value| value.span());
        for (name, value) in &given.vars {
            if vars.contains_key(name) {
                vars.insert(name.clone(), value.clone());
            } else {
                let suggestion = did_you_mean(name, vars.keys().map(String::as_str));
                self.err(
                    span.clone(),
                    SpecErrorKind::UnknownVariable {
                        name: name.clone(),
                        suggestion,
                    },
                );
            }
        }
        vars
    }

    /// `[templates.NAME]`: one task per match, read with the match's placeholders.
    pub(super) fn template(
        &mut self,
        name: &Key<'_>,
        value: &Value<'_>,
        given: &Given,
        vars: &BTreeMap<String, String>,
        raw: &mut RawSpec,
    ) {
        let template_name = name.get_ref().as_ref().to_owned();
        let Some(table) = self.table(&template_name, value) else {
            return;
        };
        let where_ = format!("template `{template_name}`");
        let entry = |key: &str| table.iter().find(|(k, _)| k.get_ref().as_ref() == key);
        let Some((_, foreach)) = entry("foreach") else {
            self.err(
                name.span(),
                SpecErrorKind::MissingKey {
                    key: "foreach",
                    table: where_,
                },
            );
            return;
        };
        let Some((_, id)) = entry("id") else {
            self.err(
                name.span(),
                SpecErrorKind::MissingKey {
                    key: "id",
                    table: where_,
                },
            );
            return;
        };
        let Some(sections) = self.foreach(foreach) else {
            return;
        };
        let matched = given.matches.get(&template_name);
        let bindings: Vec<Vec<(&str, String)>> = match matched {
            Some(Matched::Files(paths)) if !sections => paths
                .iter()
                .map(|p| template::file_bindings(p).to_vec())
                .collect(),
            Some(Matched::Headings(headings)) if sections => headings
                .iter()
                .map(|h| template::section_bindings(h).to_vec())
                .collect(),
            Some(Matched::Unreadable(reason)) => {
                self.err(
                    foreach.span(),
                    SpecErrorKind::Unreadable {
                        path: self.foreach_file(foreach).unwrap_or_default(),
                        reason: reason.clone(),
                    },
                );
                return;
            }
            _ => Vec::new(),
        };
        if bindings.is_empty() {
            raw.notes.push(format!(
                "template `{template_name}` matches nothing: it adds no task"
            ));
            return;
        }
        let outer = self.scope.take();
        raw.tasks.reserve(bindings.len());
        for binding in bindings {
            let mut values = vars.clone();
            values.extend(binding.into_iter().map(|(k, v)| (k.to_owned(), v)));
            self.scope = Some(Scope {
                values,
                mode: Mode::Plain,
            });
            let Some(text) = self.string("id", id) else {
                continue;
            };
            let task_id = match TaskId::new(&text) {
                Ok(task_id) => task_id,
                Err(problem) => {
                    self.err(
                        id.span(),
                        SpecErrorKind::InvalidName {
                            what: "task id",
                            name: text,
                            problem,
                        },
                    );
                    continue;
                }
            };
            let task = self.task_body(task_id, name.span().into(), table, &where_, TEMPLATE_KEYS);
            raw.tasks.push(task);
        }
        self.scope = outer;
    }

    /// Check `foreach`; `Some(true)` for sections, `Some(false)` for a glob.
    fn foreach(&mut self, value: &Value<'_>) -> Option<bool> {
        match value.get_ref() {
            DeValue::String(glob) => {
                let path = self.path(glob, value.span())?;
                if let Err(e) = crate::spec::GlobPattern::new(path.as_str()) {
                    self.err(
                        value.span(),
                        SpecErrorKind::BadGlob {
                            glob: glob.to_string(),
                            reason: e.kind().to_string(),
                        },
                    );
                    return None;
                }
                Some(false)
            }
            DeValue::Table(table) => {
                let mut ok = true;
                let mut file = false;
                for (key, value) in table.iter() {
                    match key.get_ref().as_ref() {
                        "sections" => {
                            file = self
                                .string("sections", value)
                                .and_then(|text| self.path(&text, value.span()))
                                .is_some();
                        }
                        "level" => ok &= self.integer("level", value, 1, 6).is_some(),
                        _ => {
                            self.unknown_key(key, "`foreach`", super::FOREACH_KEYS);
                            ok = false;
                        }
                    }
                }
                if !file {
                    self.err(value.span(), SpecErrorKind::BadForeach);
                }
                (ok && file).then_some(true)
            }
            _ => {
                self.err(value.span(), SpecErrorKind::BadForeach);
                None
            }
        }
    }

    fn foreach_file(&self, value: &Value<'_>) -> Option<String> {
        let DeValue::Table(table) = value.get_ref() else {
            return None;
        };
        table.iter().find_map(|(key, value)| match value.get_ref() {
            DeValue::String(text) if key.get_ref().as_ref() == "sections" => Some(text.to_string()),
            _ => None,
        })
    }

    /// A task id declared twice (by a template and another task or template): an error
    /// at the later one, naming the line of the first.
    pub(super) fn duplicate_ids(&mut self, tasks: &[RawTask]) {
        let mut first: FxHashMap<&str, &RawTask> = FxHashMap::default();
        for task in tasks {
            if let Some(other) = first.get(task.id.as_str()) {
                let other_line = self.file().line_col(other.span.start).0;
                self.err_at(
                    task.span,
                    SpecErrorKind::DuplicateTask {
                        id: task.id.to_string(),
                        other_line,
                    },
                );
            } else {
                first.insert(task.id.as_str(), task);
            }
        }
    }
}
