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

use crate::explain::Reason;
use crate::hash::{Digest, KeyPreimage};
use crate::state::{CleanBuild, RunStatus, TaskState};

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
}

/// What `decide` may look up when the cheap checks fail.
pub(crate) trait History {
    /// The pre-image of the last successful run (to name what changed).
    fn previous(&mut self) -> Option<&KeyPreimage>;
    /// Whether the cache holds a sound, complete result for the current key.
    fn cached(&mut self) -> bool;
}

/// What the coordinator knows about a task when it decides.
pub(crate) struct Facts<'a> {
    pub(crate) key: Digest,
    pub(crate) preimage: &'a KeyPreimage,
    pub(crate) state: Option<&'a TaskState>,
    /// The task's outputs on disk now, `(path, digest)` sorted, as recorded after a run.
    pub(crate) outputs_now: &'a [(String, Digest)],
    pub(crate) forced: bool,
}

/// Decide.
pub(crate) fn decide(facts: &Facts<'_>, history: &mut dyn History) -> Decision {
    let last_run = facts.state.and_then(|s| s.last_run.as_ref());
    let success = facts.state.and_then(|s| s.success.as_ref());
    if facts.forced {
        let mut reasons = vec![Reason::Forced];
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
        if history.cached() {
            return Decision::Restore(reasons);
        }
        return Decision::Run(reasons);
    }
    let mut reasons = why_stale(facts, history);
    if history.cached() {
        if success.is_none() && last_run.is_none() {
            return Decision::Restore(vec![Reason::NeverBuilt]);
        }
        return Decision::Restore(reasons);
    }
    if let Some(last) = last_run
        && last.status != RunStatus::Ok
    {
        reasons.push(Reason::PreviousRun {
            status: last.status,
        });
    }
    Decision::Run(reasons)
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
        Some(success) => match history.previous() {
            Some(old) if old.key() == success.key => {
                let diff = diff(old, facts.preimage);
                if diff.is_empty() {
                    reasons.push(Reason::KeyChanged);
                }
                reasons.extend(diff);
            }
            _ => reasons.push(Reason::KeyChanged),
        },
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
        (Some(old), Some(new)) if old != new => reasons.push(Reason::CommandOutputChanged {
            command: command.to_owned(),
            old,
            new,
        }),
        (None, Some(_)) => reasons.push(Reason::InputAdded {
            input: format!("command `{command}`"),
        }),
        (Some(_), None) => reasons.push(Reason::InputRemoved {
            input: format!("command `{command}`"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{KEY_VERSION, RunKey};
    use crate::state::{LastRun, Success};

    #[test]
    fn a_task_is_unchanged_only_if_its_whole_part_of_the_world_is() {
        let d = |s: &str| Digest::of(s.as_bytes());
        let clean = CleanBuild {
            world: d("world"),
            tasks: vec![(d("src0"), d("out0")), (d("src1"), d("out1"))],
        };
        let task1 = |world: &str, src: &str, out: &str, dep_out: Option<&str>| {
            unchanged_task(
                Some(&clean),
                Some(d(world)),
                1,
                Some(d(src)),
                Some(d(out)),
                [(0, dep_out.map(d))].into_iter(),
            )
        };
        assert!(task1("world", "src1", "out1", Some("out0")));
        assert!(
            !task1("other", "src1", "out1", Some("out0")),
            "configuration"
        );
        assert!(!task1("world", "edited", "out1", Some("out0")), "a source");
        assert!(
            !task1("world", "src1", "edited", Some("out0")),
            "its outputs"
        );
        assert!(
            !task1("world", "src1", "out1", Some("new")),
            "a dependency's outputs"
        );
        assert!(
            !task1("world", "src1", "out1", None),
            "a dependency not settled"
        );
        assert!(!unchanged_task(
            None,
            Some(d("world")),
            1,
            None,
            None,
            std::iter::empty()
        ));
        assert!(unchanged_since_clean_build(
            Some(&clean),
            Some(&clean.clone())
        ));
        assert!(!unchanged_since_clean_build(None, None));
    }

    fn d(s: &str) -> Digest {
        Digest::of(s.as_bytes())
    }

    fn preimage() -> KeyPreimage {
        KeyPreimage {
            version: KEY_VERSION,
            run: RunKey::Shell {
                shell: vec!["sh".into(), "-c".into()],
                command: "make".into(),
            },
            env: BTreeMap::from([("MODE".into(), "ci".into())]),
            hash_env: BTreeMap::from([("NODE_ENV".into(), Some("prod".into()))]),
            workspace: "root".into(),
            inputs: vec![("src/a.ts".into(), d("a")), ("src/b.ts".into(), d("b"))],
            sections: vec![("docs/plan.md".into(), "T9".into(), d("s"))],
            commands: vec![("node --version".into(), d("v20"))],
            outputs: vec!["out.txt".into()],
            deps: vec![("T4".into(), vec![("retry.ts".into(), d("r"))])],
            barriers: vec![("GROUP_A".into(), d("g"))],
        }
    }

    fn state(
        preimage: &KeyPreimage,
        outputs: &[(String, Digest)],
        last: Option<RunStatus>,
    ) -> TaskState {
        TaskState {
            success: Some(Success {
                key: preimage.key(),
                outputs: outputs.to_vec(),
                duration_ms: 5,
            }),
            last_run: last.map(|status| LastRun {
                status,
                duration_ms: 5,
                attempts: 1,
                reasons: Vec::new(),
                finished_at: 0,
            }),
            checks: Vec::new(),
        }
    }

    /// A fixed history for tests.
    struct Known<'a> {
        previous: Option<&'a KeyPreimage>,
        cached: bool,
    }

    impl History for Known<'_> {
        fn previous(&mut self) -> Option<&KeyPreimage> {
            self.previous
        }

        fn cached(&mut self) -> bool {
            self.cached
        }
    }

    fn decide_with(
        old: &KeyPreimage,
        new: &KeyPreimage,
        recorded: &TaskState,
        now: &[(String, Digest)],
    ) -> Decision {
        decide(
            &Facts {
                key: new.key(),
                preimage: new,
                state: Some(recorded),
                outputs_now: now,
                forced: false,
            },
            &mut Known {
                previous: Some(old),
                cached: false,
            },
        )
    }

    fn outs() -> Vec<(String, Digest)> {
        vec![("out.txt".into(), d("o"))]
    }

    /// Decide after `edit` and return the rendered reasons.
    fn reasons_after(edit: impl FnOnce(&mut KeyPreimage)) -> Vec<String> {
        let old = preimage();
        let mut new = preimage();
        edit(&mut new);
        match decide_with(
            &old,
            &new,
            &state(&old, &outs(), Some(RunStatus::Ok)),
            &outs(),
        ) {
            Decision::Run(reasons) => crate::explain::render(&reasons),
            Decision::Fresh => Vec::new(),
            Decision::Restore(reasons) => panic!("nothing is cached here: {reasons:?}"),
        }
    }

    #[test]
    fn same_key_and_outputs_is_fresh() {
        let p = preimage();
        let recorded = state(&p, &outs(), Some(RunStatus::Ok));
        assert_eq!(decide_with(&p, &p, &recorded, &outs()), Decision::Fresh);
    }

    #[test]
    fn each_reason_is_named() {
        assert_eq!(reasons_after(|_| {}), Vec::<String>::new());
        assert_eq!(
            reasons_after(|p| p.run = RunKey::Exec {
                argv: vec!["make".into()]
            }),
            ["command changed"]
        );
        assert_eq!(
            reasons_after(|p| {
                p.env.insert("MODE".into(), "dev".into());
            }),
            ["env MODE changed"]
        );
        assert_eq!(
            reasons_after(|p| {
                p.hash_env.insert("NODE_ENV".into(), None);
            }),
            ["environment variable NODE_ENV changed (hash_env)"]
        );
        assert_eq!(
            reasons_after(|p| p.workspace = "worktree".into()),
            ["workspace changed"]
        );
        let changed = reasons_after(|p| p.inputs[0].1 = d("a2"));
        assert_eq!(changed.len(), 1);
        assert!(
            changed[0].starts_with("input src/a.ts changed ("),
            "{changed:?}"
        );
        assert!(changed[0].contains(&d("a").short()) && changed[0].contains(&d("a2").short()));
        assert_eq!(
            reasons_after(|p| p.inputs.push(("src/c.ts".into(), d("c")))),
            ["input src/c.ts added"]
        );
        assert_eq!(
            reasons_after(|p| {
                p.inputs.remove(0);
            }),
            ["input src/a.ts removed"]
        );
        let section = reasons_after(|p| p.sections[0].2 = d("s2"));
        assert!(
            section[0].starts_with("input docs/plan.md#T9 changed ("),
            "{section:?}"
        );
        let command = reasons_after(|p| p.commands[0].1 = d("v22"));
        assert!(command[0].starts_with("input command `node --version` printed something else"));
        assert_eq!(
            reasons_after(|p| p.outputs.push("more.txt".into())),
            ["declared outputs changed"]
        );
        assert_eq!(
            reasons_after(|p| p.deps[0].1[0].1 = d("r2")),
            ["dependency T4: output retry.ts changed"]
        );
        assert_eq!(
            reasons_after(|p| p.deps.push(("T5".into(), Vec::new()))),
            ["dependency T5 added"]
        );
        assert_eq!(
            reasons_after(|p| p.barriers[0].1 = d("g2")),
            ["group GROUP_A (runs before this one): outputs changed"]
        );
        assert_eq!(
            reasons_after(|p| p.version += 1),
            ["key format changed (new conduct version)"]
        );
    }

    #[test]
    fn outputs_on_disk_are_checked() {
        let p = preimage();
        let recorded = state(&p, &outs(), Some(RunStatus::Ok));
        assert_eq!(
            decide_with(&p, &p, &recorded, &[]),
            Decision::Run(vec![Reason::OutputMissing {
                output: "out.txt".into()
            }])
        );
        assert_eq!(
            decide_with(&p, &p, &recorded, &[("out.txt".into(), d("edited"))]),
            Decision::Run(vec![Reason::OutputModified {
                output: "out.txt".into()
            }])
        );
        let extra = [("out.txt".into(), d("o")), ("out/new.txt".into(), d("n"))];
        assert_eq!(
            decide_with(&p, &p, &recorded, &extra),
            Decision::Run(vec![Reason::OutputModified {
                output: "out/new.txt".into()
            }])
        );
    }

    #[test]
    fn never_built_forced_failed_and_unknown_previous() {
        let p = preimage();
        let never = decide(
            &Facts {
                key: p.key(),
                preimage: &p,
                state: None,
                outputs_now: &[],
                forced: true,
            },
            &mut Known {
                previous: None,
                cached: false,
            },
        );
        assert_eq!(
            never,
            Decision::Run(vec![Reason::Forced, Reason::NeverBuilt])
        );
        // A failed attempt after a success with this same key (forced, say) removed
        // nothing that the success's outputs do not still show: fresh.
        let failed = state(&p, &outs(), Some(RunStatus::TimedOut));
        assert_eq!(decide_with(&p, &p, &failed, &outs()), Decision::Fresh);
        let only_failed = TaskState {
            success: None,
            ..failed
        };
        let decision = decide(
            &Facts {
                key: p.key(),
                preimage: &p,
                state: Some(&only_failed),
                outputs_now: &[],
                forced: false,
            },
            &mut Known {
                previous: None,
                cached: false,
            },
        );
        assert_eq!(
            decision,
            Decision::Run(vec![Reason::PreviousRun {
                status: RunStatus::TimedOut
            }])
        );
        let mut changed = preimage();
        changed.inputs[0].1 = d("zz");
        let recorded = state(&p, &outs(), None);
        let decision = decide(
            &Facts {
                key: changed.key(),
                preimage: &changed,
                state: Some(&recorded),
                outputs_now: &outs(),
                forced: false,
            },
            &mut Known {
                previous: None,
                cached: false,
            },
        );
        assert_eq!(decision, Decision::Run(vec![Reason::KeyChanged]));
    }

    fn decide_cached(
        state: Option<&TaskState>,
        now: &[(String, Digest)],
        forced: bool,
    ) -> Decision {
        let p = preimage();
        decide(
            &Facts {
                key: p.key(),
                preimage: &p,
                state,
                outputs_now: now,
                forced,
            },
            &mut Known {
                previous: None,
                cached: true,
            },
        )
    }

    #[test]
    fn the_cache_restores_instead_of_rerunning() {
        let p = preimage();
        let recorded = state(&p, &outs(), Some(RunStatus::Ok));
        assert_eq!(
            decide_cached(Some(&recorded), &[], false),
            Decision::Restore(vec![Reason::OutputMissing {
                output: "out.txt".into()
            }])
        );
        assert_eq!(
            decide_cached(Some(&recorded), &outs(), false),
            Decision::Fresh
        );
        assert_eq!(
            decide_cached(None, &[], false),
            Decision::Restore(vec![Reason::NeverBuilt]),
            "another checkout built it"
        );
        assert_eq!(
            decide_cached(Some(&recorded), &[], true),
            Decision::Run(vec![
                Reason::Forced,
                Reason::OutputMissing {
                    output: "out.txt".into()
                }
            ]),
            "--force never restores"
        );
        let mut older = preimage();
        older.inputs[0].1 = d("old");
        let recorded_older = state(&older, &outs(), Some(RunStatus::Ok));
        assert_eq!(
            decide_cached(Some(&recorded_older), &outs(), false),
            Decision::Restore(vec![Reason::KeyChanged]),
            "inputs went back to a state the cache knows"
        );
    }
}
