//! `fresh`'s unit tests: the decision, the diff of two pre-images, the clean-build
//! shortcut.

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
            discovered: Vec::new(),
        }),
        last_run: last.map(|status| {
            Box::new(LastRun {
                status,
                duration_ms: 5,
                attempts: 1,
                reasons: Vec::new(),
                finished_at: 0,
                cluster: None,
                key: None,
                flaky: false,
                agent: None,
            })
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
            discovered_now: &[],
            forced: false,
            always: false,
            discard_edits: false,
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
        Decision::Edited(files) => panic!("nothing was edited here: {files:?}"),
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
    // Changed since conduct made it: a person's edit, never overwritten silently.
    assert_eq!(
        decide_with(&p, &p, &recorded, &[("out.txt".into(), d("edited"))]),
        Decision::Edited(vec!["out.txt".into()])
    );
    let extra = [("out.txt".into(), d("o")), ("out/new.txt".into(), d("n"))];
    assert_eq!(
        decide_with(&p, &p, &recorded, &extra),
        Decision::Edited(vec!["out/new.txt".into()])
    );
    // After a failed run, what is on disk is that run's: it runs again.
    let failed = state(&p, &outs(), Some(RunStatus::Failed));
    assert!(matches!(
        decide_with(&p, &p, &failed, &[("out.txt".into(), d("half"))]),
        Decision::Run(_)
    ));
}

#[test]
fn discard_edits_restores_or_reruns_over_an_edit_and_always_runs() {
    let p = preimage();
    let recorded = state(&p, &outs(), Some(RunStatus::Ok));
    let edited = [("out.txt".into(), d("edited"))];
    let decide_as = |always: bool, discard_edits: bool, now: &[(String, Digest)]| {
        decide(
            &Facts {
                key: p.key(),
                preimage: &p,
                state: Some(&recorded),
                outputs_now: now,
                discovered_now: &[],
                forced: false,
                always,
                discard_edits,
            },
            &mut Known {
                previous: Some(&p),
                cached: true,
            },
        )
    };
    assert_eq!(
        decide_as(false, true, &edited),
        Decision::Restore(vec![Reason::OutputModified {
            output: "out.txt".into()
        }])
    );
    assert_eq!(
        decide_as(true, false, &edited),
        Decision::Edited(vec!["out.txt".into()])
    );
    assert_eq!(
        decide_as(true, false, &outs()),
        Decision::Run(vec![Reason::Always])
    );
    assert_eq!(decide_as(false, false, &outs()), Decision::Fresh);
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
            discovered_now: &[],
            forced: true,
            always: false,
            discard_edits: false,
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
            discovered_now: &[],
            forced: false,
            always: false,
            discard_edits: false,
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
            discovered_now: &[],
            forced: false,
            always: false,
            discard_edits: false,
        },
        &mut Known {
            previous: None,
            cached: false,
        },
    );
    assert_eq!(decision, Decision::Run(vec![Reason::KeyChanged]));
}

fn decide_cached(state: Option<&TaskState>, now: &[(String, Digest)], forced: bool) -> Decision {
    let p = preimage();
    decide(
        &Facts {
            key: p.key(),
            preimage: &p,
            state,
            outputs_now: now,
            discovered_now: &[],
            forced,
            always: false,
            discard_edits: false,
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

/// A history whose cache lookup went to the remote, which said `said`.
struct Remote {
    cached: bool,
    said: Reason,
}

impl History for Remote {
    fn previous(&mut self) -> Option<&KeyPreimage> {
        None
    }

    fn cached(&mut self) -> bool {
        self.cached
    }

    fn remote(&mut self) -> Option<Reason> {
        Some(self.said.clone())
    }
}

#[test]
fn what_the_remote_said_is_part_of_the_decision() {
    let p = preimage();
    let facts = |state| Facts {
        key: p.key(),
        preimage: &p,
        state,
        outputs_now: &[],
        discovered_now: &[],
        forced: false,
        always: false,
        discard_edits: false,
    };
    let mut hit = Remote {
        cached: true,
        said: Reason::RemoteHit,
    };
    assert_eq!(
        decide(&facts(None), &mut hit),
        Decision::Restore(vec![Reason::NeverBuilt, Reason::RemoteHit])
    );
    let refused = Reason::RemoteMiss {
        why: Some("the entry is not signed with this CONDUCT_CACHE_KEY".into()),
    };
    let mut miss = Remote {
        cached: false,
        said: refused.clone(),
    };
    assert_eq!(
        decide(&facts(None), &mut miss),
        Decision::Run(vec![Reason::NeverBuilt, refused])
    );
    let recorded = state(&p, &outs(), Some(RunStatus::Ok));
    let down = Reason::RemoteError {
        error: "connection refused".into(),
    };
    let mut error = Remote {
        cached: false,
        said: down.clone(),
    };
    assert_eq!(
        decide(&facts(Some(&recorded)), &mut error),
        Decision::Run(vec![
            Reason::OutputMissing {
                output: "out.txt".into()
            },
            down
        ])
    );
}
