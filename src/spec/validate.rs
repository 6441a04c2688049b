//! Second pass: resolve names across tables and check the project as a whole.
//!
//! Groups named by tasks and by `after`, explicit `deps`, `checks` against the loaded
//! rules, outputs claimed twice, outputs without a command. Everything is collected, so
//! one run of `conduct check` lists every mistake in the file. Dependency inference and
//! cycles need the whole graph and live in `graph.rs`.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use crate::source::{Location, SourceFile, Span};
use crate::spec::error::{SpecError, SpecErrorKind};
use crate::spec::name::RuleNames;
use crate::spec::outputs::{Conflict, OutputIndex};
use crate::spec::protected;
use crate::spec::raw::RawSpec;
use crate::spec::reader::Named;
use crate::spec::{Dep, Group, GroupIdx, Output, Run, Spec, Task, TaskIdx};
use crate::suggest::did_you_mean;

/// The spec keeps only what is valid (an unknown dep is dropped, a bad path is left
/// out), so it stays internally consistent and the graph and disk checks can still run
/// on it to report their errors alongside these.
pub(super) fn validate(
    source: &Arc<SourceFile>,
    raw: RawSpec,
    rules: &dyn RuleNames,
) -> (Spec, Vec<SpecError>) {
    let RawSpec {
        project,
        groups: raw_groups,
        tasks: raw_tasks,
        mut errors,
        notes,
    } = raw;
    let mut error = |span: Span, kind: SpecErrorKind| {
        errors.push(SpecError {
            at: Location::new(source, span),
            kind,
        })
    };

    let group_index: FxHashMap<_, _> = raw_groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.name.clone(), GroupIdx(i as u32)))
        .collect();
    let task_index: FxHashMap<_, _> = raw_tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), TaskIdx(i as u32)))
        .collect();
    let resolve_group = |named: &Named| group_index.get(named.text.as_str()).copied();
    let group_suggestion =
        |named: &Named| did_you_mean(&named.text, group_index.keys().map(|g| g.as_str()));

    let mut groups: Vec<Group> = Vec::with_capacity(raw_groups.len());
    for raw in raw_groups {
        let mut after = Vec::with_capacity(raw.after.len());
        for named in &raw.after {
            match resolve_group(named) {
                Some(g) => after.push(g),
                None => error(
                    named.span,
                    SpecErrorKind::UnknownGroup {
                        owner: format!("group `{}`", raw.name),
                        group: named.text.clone(),
                        suggestion: group_suggestion(named),
                    },
                ),
            }
        }
        after.sort();
        after.dedup();
        groups.push(Group {
            name: raw.name,
            title: raw.title,
            after,
            jobs: raw.jobs,
            timeout: raw.timeout,
            placement: raw.placement,
            agent_settings: raw.agent_settings,
            tasks: Vec::new(),
            span: raw.span,
        });
    }

    let mut tasks: Vec<Task> = Vec::with_capacity(raw_tasks.len());
    for raw in raw_tasks {
        let idx = TaskIdx(tasks.len() as u32);
        let group = raw.group.as_ref().and_then(|named| {
            let found = resolve_group(named);
            if found.is_none() {
                error(
                    named.span,
                    SpecErrorKind::UnknownGroup {
                        owner: format!("task `{}`", raw.id),
                        group: named.text.clone(),
                        suggestion: group_suggestion(named),
                    },
                );
            }
            found
        });
        if let Some(g) = group {
            groups[g.index()].tasks.push(idx);
        }
        let mut deps: Vec<Dep> = Vec::with_capacity(raw.deps.len());
        for named in &raw.deps {
            match task_index.get(named.text.as_str()) {
                Some(&task) => {
                    if !deps.iter().any(|d| d.task == task) {
                        deps.push(Dep {
                            task,
                            span: named.span,
                        });
                    }
                }
                None => error(
                    named.span,
                    SpecErrorKind::UnknownDep {
                        task: raw.id.to_string(),
                        dep: named.text.clone(),
                        suggestion: did_you_mean(
                            &named.text,
                            task_index.keys().map(|t| t.as_str()),
                        ),
                    },
                ),
            }
        }
        let mut checks: Vec<String> = Vec::with_capacity(raw.checks.len());
        for named in raw.checks {
            if !rules.contains(&named.text) {
                error(
                    named.span,
                    SpecErrorKind::UnknownRule {
                        task: raw.id.to_string(),
                        suggestion: did_you_mean(&named.text, rules.names()),
                        rule: named.text,
                    },
                );
            } else if !checks.contains(&named.text) {
                checks.push(named.text);
            }
        }
        if raw.run.is_none() && !raw.outputs.is_empty() {
            error(
                raw.span,
                SpecErrorKind::OutputsWithoutRun {
                    task: raw.id.to_string(),
                },
            );
        }
        let timeout = raw
            .timeout
            .or_else(|| group.and_then(|g| groups[g.index()].timeout));
        let placement = match group {
            Some(g) => raw.placement.or(&groups[g.index()].placement),
            None => raw.placement,
        };
        let agent_settings = match group {
            Some(g) => raw.agent_settings.or(&groups[g.index()].agent_settings),
            None => raw.agent_settings,
        };
        if let Some(Run::Agent(run)) = &raw.run
            && !crate::agent::preset::BUILT_IN.contains(&run.agent.as_str())
            && !project.agents.contains_key(&run.agent)
        {
            let known: Vec<&str> = crate::agent::preset::BUILT_IN
                .iter()
                .copied()
                .chain(project.agents.keys().map(String::as_str))
                .collect();
            error(
                raw.span,
                SpecErrorKind::UnknownAgent {
                    task: raw.id.to_string(),
                    suggestion: did_you_mean(&run.agent, known),
                    agent: run.agent.clone(),
                },
            );
        }
        tasks.push(Task {
            id: raw.id,
            span: raw.span,
            title: raw.title,
            group,
            priority: raw.priority,
            effort: raw.effort,
            agent: raw.agent,
            deps,
            inputs: raw.inputs,
            outputs: raw.outputs,
            run: raw.run,
            env: raw.env,
            checks,
            timeout,
            retries: raw.retries,
            workspace: raw.workspace,
            depfile: raw.depfile,
            edits: raw.edits,
            quiet: raw.quiet,
            always: raw.always,
            placement,
            agent_settings,
        });
    }

    protected::check(source.name(), &project, &tasks, &mut error);
    let outputs = index_outputs(source, &tasks, &mut error);
    for (i, task) in tasks.iter().enumerate() {
        for path in &task.edits {
            if let Some(owner) = outputs.producer_of(path)
                && owner.index() != i
            {
                error(
                    task.span,
                    SpecErrorKind::EditsAnOutput {
                        task: task.id.to_string(),
                        path: path.to_string(),
                        owner: tasks[owner.index()].id.to_string(),
                    },
                );
            }
        }
    }
    let spec = Spec {
        source: Arc::clone(source),
        project,
        groups,
        tasks,
        outputs,
        task_index,
        group_index,
        notes,
    };
    (spec, errors)
}

/// Claim every output. Directories go first, shallowest first, so a path nested in a
/// directory output is caught whichever of the two was declared first.
fn index_outputs(
    source: &Arc<SourceFile>,
    tasks: &[Task],
    error: &mut impl FnMut(Span, SpecErrorKind),
) -> OutputIndex {
    let mut all: Vec<(TaskIdx, &Output)> = tasks
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.outputs.iter().map(move |o| (TaskIdx(i as u32), o)))
        .collect();
    all.sort_by_key(|(_, o)| (!o.is_dir, o.is_dir.then(|| o.path.components().count())));
    let mut index = OutputIndex::default();
    for (task, output) in all {
        let id = || tasks[task.index()].id.to_string();
        match index.insert(task, output) {
            Ok(()) => {}
            Err(Conflict::Duplicate { other }) => {
                let other = &tasks[other.index()];
                let first = other
                    .outputs
                    .iter()
                    .find(|o| o.path == output.path)
                    .map_or(other.span, |o| o.span);
                error(
                    output.span,
                    SpecErrorKind::DuplicateOutput {
                        path: output.display(),
                        task: id(),
                        other: other.id.to_string(),
                        other_at: Location::new(source, first).to_string(),
                    },
                )
            }
            Err(Conflict::Nested { other, dir }) => error(
                output.span,
                SpecErrorKind::NestedOutput {
                    path: output.display(),
                    task: id(),
                    dir: dir.to_string(),
                    other: tasks[other.index()].id.to_string(),
                },
            ),
        }
    }
    index
}
