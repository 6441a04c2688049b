//! The one place that decides whether a task is up to date (SPEC §3).
//!
//! A task is fresh when its last successful run had the same key and every output is
//! still on disk with the recorded digest. When outputs were deleted or edited, or the
//! key is one this checkout never ran but the cache holds (another checkout, CI), the
//! outputs are restored from the cache instead of rerunning. Otherwise the task runs.
//! Every cause is recorded as a [`Reason`] on the line that finds it, so `--explain`,
//! `--dry-run`, `list` and `build` can never disagree. The key comparison needs no
//! pre-image and no cache lookup; both are consulted, through [`History`], only when
//! the cheap checks fail.
//!
//! Before any of that, a cheaper comparison settles most tasks of most builds: when the
//! [`World`] (configuration, environment, directory listings, command outputs,
//! Markdown texts), a task's source digests, its outputs and its dependencies' outputs
//! are what a complete, clean build of every task left ([`CleanBuild`]), its key and
//! outputs are the recorded ones, so it is fresh and its key need not be computed; when
//! that holds for every task, the whole build is settled by one comparison. That is
//! ninja's mtime comparison, but with content digests (through the stat cache), so a
//! `touch` still matches.

use std::cmp::Ordering;
use std::collections::BTreeMap;

pub(crate) mod checks;

use crate::explain::{Reason, RunStatus};
use crate::hash::{Digest, KeyPreimage};
use crate::spec::PROGRAM_LABEL;
use crate::state::{CleanBuild, TaskState};

/// The fingerprint of what every task's key is made of but sources and outputs: fields
/// are length-prefixed, so no two worlds hash alike by shifting bytes between them.
pub(crate) struct World(blake3::Hasher);

impl World {
    /// A world of this configuration (tasks.toml and rules, as text), for this version
    /// of conduct and of the key format.
    pub(crate) fn new(config: Digest) -> World {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&crate::hash::KEY_VERSION.to_le_bytes());
        hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
        hasher.update(&config.0);
        World(hasher)
    }

    /// A name, path, value or text.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// A digest, or its absence (a missing file, a failed command).
    pub(crate) fn digest(&mut self, digest: Option<Digest>) {
        self.0.update(&digest.map_or([0; 32], |d| d.0));
    }

    pub(crate) fn finish(self) -> Digest {
        self.0.finalize().into()
    }
}

/// A task's output files (sorted by path) as one digest.
pub(crate) fn outputs_digest(files: &[(String, Digest)]) -> Digest {
    files_digest(
        files
            .iter()
            .map(|(path, digest)| (path.as_str(), Some(*digest))),
    )
}

/// Files and their digests (`None`: missing) as one digest.
pub(crate) fn files_digest<'a>(files: impl Iterator<Item = (&'a str, Option<Digest>)>) -> Digest {
    let mut world = World(blake3::Hasher::new());
    for (path, digest) in files {
        world.field(path.as_bytes());
        world.digest(digest);
    }
    world.finish()
}

/// Whether every task is fresh because nothing changed since the complete, clean build
/// `recorded` (a build with a failure, a warning or only some tasks records none).
pub(crate) fn unchanged_since_clean_build(
    recorded: Option<&CleanBuild>,
    now: Option<&CleanBuild>,
) -> bool {
    recorded.is_some() && recorded == now
}

/// Whether one task is fresh because its part of the world is what the clean build
/// `recorded` saw: the same configuration and environment, the same source digests
/// (`sources`) and outputs (`outputs`), and every dependency's outputs as that build
/// left them (`deps`: each dependency's number and its outputs as settled in this
/// build). Its key is then the recorded one, without computing it.
pub(crate) fn unchanged_task(
    recorded: Option<&CleanBuild>,
    world: Option<Digest>,
    task: usize,
    sources: Option<Digest>,
    outputs: Option<Digest>,
    mut deps: impl Iterator<Item = (usize, Option<Digest>)>,
) -> bool {
    let Some(clean) = recorded else {
        return false;
    };
    let Some(&(clean_sources, clean_outputs)) = clean.tasks.get(task) else {
        return false;
    };
    world == Some(clean.world)
        && sources == Some(clean_sources)
        && outputs == Some(clean_outputs)
        && deps
            .all(|(dep, settled)| settled.is_some() && clean.tasks.get(dep).map(|t| t.1) == settled)
}

/// The verdict for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Fresh,
    /// Up to date once the cache's outputs for this key are put back.
    Restore(Vec<Reason>),
    Run(Vec<Reason>),
    /// Stopped, neither run nor restored: these outputs were changed by hand since
    /// conduct wrote them (SPEC §3), and overwriting them would lose the edit.
    Edited(Vec<String>),
}

/// What `decide` may look up when the cheap checks fail.
pub(crate) trait History {
    /// The pre-image of the last successful run (to name what changed).
    fn previous(&mut self) -> Option<&KeyPreimage>;
    /// Whether the cache holds a sound, complete result for the current key.
    fn cached(&mut self) -> bool;
    /// What the remote cache said about the current key, when `cached` asked it.
    fn remote(&mut self) -> Option<Reason> {
        None
    }
}

/// What the coordinator knows about a task when it decides.
pub(crate) struct Facts<'a> {
    pub(crate) key: Digest,
    pub(crate) preimage: &'a KeyPreimage,
    pub(crate) state: Option<&'a TaskState>,
    /// The task's outputs on disk now, `(path, digest)` sorted, as recorded after a run.
    pub(crate) outputs_now: &'a [(String, Digest)],
    /// The files the last run's depfile named, with their digests now (in `key`).
    pub(crate) discovered_now: &'a [crate::discovered::Discovered],
    /// `--force` names it.
    pub(crate) forced: bool,
    /// `always = true`.
    pub(crate) always: bool,
    /// `--discard-edits`: outputs changed by hand may be overwritten.
    pub(crate) discard_edits: bool,
}

/// Decide.
pub(crate) fn decide(facts: &Facts<'_>, history: &mut dyn History) -> Decision {
    let last_run = facts.state.and_then(|s| s.last_run.as_ref());
    let success = facts.state.and_then(|s| s.success.as_ref());
    if !facts.discard_edits {
        let edited = edited_outputs(facts);
        if !edited.is_empty() {
            return Decision::Edited(edited);
        }
    }
    if facts.forced || facts.always {
        let mut reasons = vec![if facts.forced {
            Reason::Forced
        } else {
            Reason::Always
        }];
        reasons.extend(why_stale(facts, history));
        return Decision::Run(reasons);
    }
    if let Some(success) = success
        && success.key == facts.key
    {
        let mut reasons = Vec::new();
        compare_outputs(&success.outputs, facts.outputs_now, &mut reasons);
        if reasons.is_empty() {
            return Decision::Fresh;
        }
        let cached = history.cached();
        reasons.extend(history.remote());
        return if cached {
            Decision::Restore(reasons)
        } else {
            Decision::Run(reasons)
        };
    }
    let mut reasons = why_stale(facts, history);
    if history.cached() {
        if success.is_none() && last_run.is_none() {
            reasons = vec![Reason::NeverBuilt];
        }
        reasons.extend(history.remote());
        return Decision::Restore(reasons);
    }
    reasons.extend(history.remote());
    if let Some(last) = last_run
        && last.status != RunStatus::Ok
    {
        reasons.push(Reason::PreviousRun {
            status: last.status,
        });
    }
    Decision::Run(reasons)
}

/// Outputs changed since conduct last made or restored them, when that was the last
/// thing it did to the task (after a failed or interrupted run, what is on disk is that
/// run's, not a person's). A deleted output is not an edit: it is simply restored.
fn edited_outputs(facts: &Facts<'_>) -> Vec<String> {
    let Some(state) = facts.state else {
        return Vec::new();
    };
    let (Some(success), true) = (
        &state.success,
        state
            .last_run
            .as_ref()
            .is_none_or(|r| r.status == RunStatus::Ok),
    ) else {
        return Vec::new();
    };
    let mut edited = Vec::new();
    merge(&success.outputs, facts.outputs_now, |path, old, new| {
        if new.is_some() && old != new {
            edited.push(path.to_owned());
        }
    });
    edited
}

/// Why the key is not the last success's: never built, or the components that changed.
fn why_stale(facts: &Facts<'_>, history: &mut dyn History) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let last_run = facts.state.and_then(|s| s.last_run.as_ref());
    match facts.state.and_then(|s| s.success.as_ref()) {
        None => {
            if last_run.is_none() {
                reasons.push(Reason::NeverBuilt);
            }
        }
        Some(success) if success.key == facts.key => {
            compare_outputs(&success.outputs, facts.outputs_now, &mut reasons);
        }
        Some(success) => {
            let read = crate::discovered::changes(&success.discovered, facts.discovered_now);
            let declared = match history.previous() {
                // Stored under the key with what its depfile named: compare what was
                // declared then with what is now.
                Some(old)
                    if crate::discovered::key(old.key(), &success.discovered) == success.key =>
                {
                    Some(diff(old, facts.preimage))
                }
                _ => None,
            };
            let known = declared.as_ref().is_some_and(|d| !d.is_empty()) || !read.is_empty();
            reasons.extend(declared.unwrap_or_default());
            reasons.extend(read);
            if !known {
                reasons.push(Reason::KeyChanged);
            }
        }
    }
    reasons
}

/// Recorded outputs against the disk: missing, modified, or extra files in a directory.
fn compare_outputs(
    recorded: &[(String, Digest)],
    now: &[(String, Digest)],
    reasons: &mut Vec<Reason>,
) {
    merge(recorded, now, |path, old, new| match (old, new) {
        (Some(_), None) => reasons.push(Reason::OutputMissing {
            output: path.to_owned(),
        }),
        (Some(a), Some(b)) if a != b => reasons.push(Reason::OutputModified {
            output: path.to_owned(),
        }),
        (None, Some(_)) => reasons.push(Reason::OutputModified {
            output: path.to_owned(),
        }),
        _ => {}
    });
}

/// Every component of `new` that differs from `old`, in pre-image order.
pub(crate) fn diff(old: &KeyPreimage, new: &KeyPreimage) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if old.version != new.version {
        reasons.push(Reason::FormatChanged);
    }
    if old.run != new.run {
        reasons.push(Reason::CommandChanged);
    }
    diff_maps(&old.env, &new.env, |name| {
        reasons.push(Reason::EnvChanged {
            name: name.to_owned(),
        })
    });
    diff_maps(&old.hash_env, &new.hash_env, |name| {
        reasons.push(Reason::HashEnvChanged {
            name: name.to_owned(),
        })
    });
    if old.workspace != new.workspace {
        reasons.push(Reason::WorkspaceChanged);
    }
    merge(&old.inputs, &new.inputs, |path, a, b| {
        push_input_change(&mut reasons, path.to_owned(), a, b)
    });
    let sections = |p: &KeyPreimage| -> Vec<(String, Digest)> {
        p.sections
            .iter()
            .map(|(file, section, digest)| (format!("{file}#{section}"), *digest))
            .collect()
    };
    merge(&sections(old), &sections(new), |input, a, b| {
        push_input_change(&mut reasons, input.to_owned(), a, b)
    });
    merge(&old.commands, &new.commands, |command, a, b| match (a, b) {
        (Some(old), Some(new)) if old != new => match command.strip_prefix(PROGRAM_LABEL) {
            Some(name) => reasons.push(Reason::InputChanged {
                input: format!("program `{name}`"),
                old,
                new,
            }),
            None => reasons.push(Reason::CommandOutputChanged {
                command: command.to_owned(),
                old,
                new,
            }),
        },
        (None, Some(_)) => reasons.push(Reason::InputAdded {
            input: command_or_program(command),
        }),
        (Some(_), None) => reasons.push(Reason::InputRemoved {
            input: command_or_program(command),
        }),
        _ => {}
    });
    if old.outputs != new.outputs {
        reasons.push(Reason::OutputsDeclarationChanged);
    }
    merge(&old.deps, &new.deps, |dep, a, b| match (a, b) {
        (None, Some(_)) => reasons.push(Reason::DependencyAdded {
            dep: dep.to_owned(),
        }),
        (Some(_), None) => reasons.push(Reason::DependencyRemoved {
            dep: dep.to_owned(),
        }),
        (Some(a), Some(b)) => merge(&a, &b, |output, x, y| {
            if x != y {
                reasons.push(Reason::DependencyOutputChanged {
                    dep: dep.to_owned(),
                    output: output.to_owned(),
                });
            }
        }),
        (None, None) => {}
    });
    merge(&old.barriers, &new.barriers, |group, a, b| {
        if a != b {
            reasons.push(Reason::BarrierChanged {
                group: group.to_owned(),
            });
        }
    });
    reasons
}

fn push_input_change(
    reasons: &mut Vec<Reason>,
    input: String,
    old: Option<Digest>,
    new: Option<Digest>,
) {
    match (old, new) {
        (Some(old), Some(new)) if old != new => {
            reasons.push(Reason::InputChanged { input, old, new })
        }
        (None, Some(_)) => reasons.push(Reason::InputAdded { input }),
        (Some(_), None) => reasons.push(Reason::InputRemoved { input }),
        _ => {}
    }
}

fn diff_maps<V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    mut changed: impl FnMut(&str),
) {
    for (name, value) in old {
        if new.get(name) != Some(value) {
            changed(name);
        }
    }
    for name in new.keys() {
        if !old.contains_key(name) {
            changed(name);
        }
    }
}

/// Walk two lists sorted by key together, calling `each(key, old, new)` once per key.
fn merge<V: Clone>(
    old: &[(String, V)],
    new: &[(String, V)],
    mut each: impl FnMut(&str, Option<V>, Option<V>),
) {
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.0.cmp(&b.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                each(&old[i].0, Some(old[i].1.clone()), None);
                i += 1;
            }
            Ordering::Greater => {
                each(&new[j].0, None, Some(new[j].1.clone()));
                j += 1;
            }
            Ordering::Equal => {
                each(&old[i].0, Some(old[i].1.clone()), Some(new[j].1.clone()));
                i += 1;
                j += 1;
            }
        }
    }
}

/// The reasons a decision made elsewhere in a build stands on, made here like every
/// other `Reason` (a dry run, a restore that failed, a check's verdict).
pub(crate) mod why {
    use crate::explain::Reason;

    /// `--dry-run`: a dependency of the task would run, so its outputs may change.
    pub(crate) fn dependency_will_run(dep: &str) -> Reason {
        Reason::DependencyWillRun {
            dep: dep.to_owned(),
        }
    }

    /// The cache had the key but could not give its outputs back: the task runs.
    pub(crate) fn cache_unusable(why: String) -> Reason {
        Reason::CacheUnusable { why }
    }

    /// A check of outputs that did not change failed before and fails again.
    pub(crate) fn check_failed(rule: &str, message: &str) -> Reason {
        Reason::CheckFailed {
            rule: rule.to_owned(),
            message: message.to_owned(),
        }
    }

    /// A check has no verdict on these outputs.
    pub(crate) fn check_not_run(rule: &str) -> Reason {
        Reason::CheckNotRun {
            rule: rule.to_owned(),
        }
    }

    /// `conduct accept` records the outputs as they are.
    pub(crate) fn accepted() -> Reason {
        Reason::Accepted
    }

    /// The task's key cannot be computed (`why` says what is missing).
    pub(crate) fn undecidable(why: String) -> Reason {
        Reason::Undecidable { why }
    }
}

#[cfg(test)]
mod tests;

/// How an entry of a key's command inputs is named in a reason: a `{ program = … }`
/// input is listed there under its label.
fn command_or_program(label: &str) -> String {
    match label.strip_prefix(PROGRAM_LABEL) {
        Some(name) => format!("program `{name}`"),
        None => format!("command `{label}`"),
    }
}
