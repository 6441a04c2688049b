//! `db`'s unit tests: keys, pre-images, globs and sections through salsa.

use std::sync::Mutex;

use super::*;

const CONFIG: &str = r#"
    [tasks.T1]
    inputs = ["plan.md#T1"]
    [tasks.T2]
    inputs = ["plan.md#T2"]
    [tasks.T3]
    deps = ["T1"]
"#;

const PLAN: &str = "## T1: One\n\nfirst\n\n## T2: Two\n\nsecond\n";

/// A database that records which tracked functions execute.
fn logging_db() -> (Database, Arc<Mutex<Vec<String>>>) {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&log);
    let db = Database::with_events(Box::new(move |event| {
        if let salsa::EventKind::WillExecute { database_key } = event.kind {
            sink.lock().unwrap().push(format!("{database_key:?}"));
        }
    }));
    (db, log)
}

fn executed(log: &Arc<Mutex<Vec<String>>>, query: &str) -> usize {
    let mut log = log.lock().unwrap();
    let count = log.iter().filter(|e| e.contains(query)).count();
    log.clear();
    count
}

#[test]
fn editing_one_section_recomputes_only_the_task_that_reads_it() {
    let (mut db, log) = logging_db();
    let config = ConfigInput::new(
        &db,
        SourceFile::new("tasks.toml", CONFIG),
        Vec::new(),
        None,
        Default::default(),
    );
    let build = BuildInput::new(&db, config, Vec::new(), BTreeMap::new());
    let plan = ProjectPath::new("plan.md").unwrap();
    db.set_file_text(&plan, Some(PLAN.into()));
    let loaded = load(&db, config).clone().unwrap();
    db.want_sections(&loaded.spec);
    db.reset_task_outputs(3);
    let (t1, t2, t3) = (TaskIdx(0), TaskIdx(1), TaskIdx(2));
    let key = |db: &Database, t| task_preimage(db, build, t).as_ref().unwrap().key();
    let k1 = key(&db, t1);
    let k2 = key(&db, t2);
    db.set_task_outputs(t1, vec![("x".into(), Digest::of(b"x"))]);
    let k3 = key(&db, t3);
    assert_eq!(executed(&log, "task_preimage"), 3);

    // Edit T2's section: T1's section digest is recomputed, equal, and backdated,
    // so only T2's pre-image executes again.
    db.set_file_text(&plan, Some(PLAN.replace("second", "second, edited")));
    assert_eq!(key(&db, t1), k1);
    assert_ne!(key(&db, t2), k2);
    assert_eq!(key(&db, t3), k3);
    assert_eq!(executed(&log, "task_preimage"), 1);

    // Early cutoff: T1 settles again with identical outputs; T3 is not recomputed.
    db.set_task_outputs(t1, vec![("x".into(), Digest::of(b"x"))]);
    assert_eq!(key(&db, t3), k3);
    assert_eq!(executed(&log, "task_preimage"), 0);
    // Different outputs reach T3.
    db.set_task_outputs(t1, vec![("x".into(), Digest::of(b"y"))]);
    assert_ne!(key(&db, t3), k3);
    assert_eq!(executed(&log, "task_preimage"), 1);
}

#[test]
fn a_missing_section_is_a_key_error() {
    let mut db = Database::default();
    let config = ConfigInput::new(
        &db,
        SourceFile::new("tasks.toml", CONFIG),
        Vec::new(),
        None,
        Default::default(),
    );
    let build = BuildInput::new(&db, config, Vec::new(), BTreeMap::new());
    db.set_file_text(
        &ProjectPath::new("plan.md").unwrap(),
        Some("# nothing\n".into()),
    );
    let loaded = load(&db, config).clone().unwrap();
    db.want_sections(&loaded.spec);
    db.reset_task_outputs(3);
    let error = task_preimage(&db, build, TaskIdx(0)).clone().unwrap_err();
    assert_eq!(error.to_string(), "no section `T1` in `plan.md`");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// One task of a generated config.
    #[derive(Debug, Clone)]
    struct GenTask {
        run: String,
        env: Vec<(String, String)>,
        /// Indices into FILES.
        files: Vec<usize>,
        /// Indices into SECTIONS.
        sections: Vec<usize>,
        /// Indices of earlier tasks.
        deps: Vec<usize>,
    }

    const FILES: &[&str] = &["src/a.txt", "src/b.txt", "src/c.txt"];
    const SECTIONS: &[&str] = &["T1", "T2", "T3"];

    fn task() -> impl Strategy<Value = GenTask> {
        (
            "[a-z][a-z ]{0,11}",
            proptest::collection::vec(("[A-Z]{1,3}", "[a-z]{0,4}"), 0..3),
            proptest::collection::vec(0usize..FILES.len(), 0..3),
            proptest::collection::vec(0usize..SECTIONS.len(), 0..2),
            proptest::collection::vec(any::<usize>(), 0..3),
        )
            .prop_map(|(run, env, files, sections, deps)| GenTask {
                run,
                env,
                files,
                sections,
                deps,
            })
    }

    /// tasks.toml for `tasks`, tables in `order`, with `pad` between tables.
    fn config(tasks: &[GenTask], order: &[usize], pad: &str) -> String {
        let mut text = String::from("[project]\nhash_env = [\"MODE\"]\n");
        for &i in order {
            let t = &tasks[i];
            let mut inputs: Vec<String> = t
                .files
                .iter()
                .map(|&f| format!("\"{}\"", FILES[f]))
                .collect();
            inputs.extend(
                t.sections
                    .iter()
                    .map(|&s| format!("\"docs/plan.md#{}\"", SECTIONS[s])),
            );
            inputs.sort();
            inputs.dedup();
            let mut env: Vec<String> = t
                .env
                .iter()
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect();
            env.sort();
            env.dedup_by(|a, b| a.split(' ').next() == b.split(' ').next());
            let deps: Vec<String> = t
                .deps
                .iter()
                .filter(|_| i > 0)
                .map(|d| format!("\"t{}\"", d % i.max(1)))
                .collect();
            text.push_str(&format!(
                "{pad}[tasks.t{i}]{pad}\nrun = \"{}\"\ninputs = [{}]\noutputs = [\"out/t{i}.txt\"]\nenv = {{ {} }}\ndeps = [{}]\n",
                t.run,
                inputs.join(", "),
                env.join(", "),
                deps.join(", ")
            ));
        }
        text
    }

    const PLAN: &str =
        "# Plan\n\n## T1: One\n\nfirst\n\n## T2: Two\n\nsecond\n\n## T3: Three\n\nthird\n";

    /// Every task's key by id, in a fresh database.
    fn keys(text: &str, plan: &str, digests: &[u8; 3], mode: &str) -> BTreeMap<String, Digest> {
        let mut db = Database::default();
        let config = ConfigInput::new(
            &db,
            SourceFile::new("tasks.toml", text),
            Vec::new(),
            None,
            Default::default(),
        );
        let hash_env = BTreeMap::from([("MODE".to_owned(), Some(mode.to_owned()))]);
        let build = BuildInput::new(&db, config, Vec::new(), hash_env);
        let Ok(loaded) = load(&db, config) else {
            return BTreeMap::new();
        };
        let loaded = Arc::clone(loaded);
        for (path, byte) in FILES.iter().zip(digests) {
            db.set_file_digest(&ProjectPath::new(path).unwrap(), Some(Digest::of(&[*byte])));
        }
        db.set_file_text(
            &ProjectPath::new("docs/plan.md").unwrap(),
            Some(plan.to_owned()),
        );
        db.want_sections(&loaded.spec);
        db.reset_task_outputs(loaded.spec.tasks.len());
        let mut keys = BTreeMap::new();
        for &task in &loaded.graph.select(&loaded.spec, &[]).unwrap().tasks {
            let id = loaded.spec.task(task).id.to_string();
            let key = task_key(&db, build, task).clone().unwrap();
            keys.insert(id.clone(), key);
            db.set_task_outputs(
                task,
                vec![(format!("out/{id}.txt"), Digest::of(id.as_bytes()))],
            );
        }
        keys
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Table order, blank lines and comments between tables, and CRLF line
        /// endings in the spec change no key; changing any one component of a
        /// task's key (its command, an env value, an input's contents, its
        /// section's text, its outputs, a `hash_env` value) changes its key.
        #[test]
        fn keys_follow_their_components_and_nothing_else(
            tasks in proptest::collection::vec(task(), 1..6),
            shuffle in any::<u64>(),
            which in any::<usize>(),
            component in 0usize..7,
        ) {
            let n = tasks.len();
            let order: Vec<usize> = (0..n).collect();
            let base = keys(&config(&tasks, &order, ""), PLAN, &[1, 2, 3], "a");
            prop_assert_eq!(base.len(), n);

            let mut shuffled = order.clone();
            let mut state = shuffle | 1;
            for i in (1..n).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            let same = keys(&config(&tasks, &shuffled, "\n# a comment\n\n"), &PLAN.replace('\n', "\r\n"), &[1, 2, 3], "a");
            prop_assert_eq!(&same, &base);

            let t = which % n;
            let id = format!("t{t}");
            let mut changed = tasks.clone();
            let (text, plan, digests, mode) = match component {
                0 => {
                    changed[t].run.push('!');
                    (config(&changed, &order, ""), PLAN.to_owned(), [1, 2, 3], "a")
                }
                1 => {
                    changed[t].env.push(("ZZZ".into(), "v".into()));
                    (config(&changed, &order, ""), PLAN.to_owned(), [1, 2, 3], "a")
                }
                2 => {
                    // One of its files has other contents (or it gains a file).
                    let file = tasks[t].files.first().copied();
                    match file {
                        Some(f) => {
                            let mut d = [1, 2, 3];
                            d[f] = 9;
                            (config(&tasks, &order, ""), PLAN.to_owned(), d, "a")
                        }
                        None => {
                            changed[t].files.push(0);
                            (config(&changed, &order, ""), PLAN.to_owned(), [1, 2, 3], "a")
                        }
                    }
                }
                3 => match tasks[t].sections.first() {
                    Some(&s) => {
                        let edited = PLAN.replace(["first", "second", "third"][s], "edited");
                        (config(&tasks, &order, ""), edited, [1, 2, 3], "a")
                    }
                    None => {
                        changed[t].sections.push(0);
                        (config(&changed, &order, ""), PLAN.to_owned(), [1, 2, 3], "a")
                    }
                },
                4 => {
                    let text = config(&tasks, &order, "").replace(
                        &format!("outputs = [\"out/{id}.txt\"]"),
                        &format!("outputs = [\"out/{id}.txt\", \"out/{id}.log\"]"),
                    );
                    (text, PLAN.to_owned(), [1, 2, 3], "a")
                }
                5 => (config(&tasks, &order, ""), PLAN.to_owned(), [1, 2, 3], "b"),
                _ => {
                    let text = config(&tasks, &order, "").replace(
                        &format!("[tasks.{id}]\n"),
                        &format!("[tasks.{id}]\nworkspace = \"worktree\"\n"),
                    );
                    (text, PLAN.to_owned(), [1, 2, 3], "a")
                }
            };
            let after = keys(&text, &plan, &digests, mode);
            prop_assert_ne!(after.get(&id), base.get(&id), "component {} of {}", component, id);
        }
    }
}

/// A 1,000-task plan, one section each, in chains of ten: editing one section of it
/// re-executes the keys of that task and of the tasks downstream of it (their inputs
/// changed with its outputs), and no other tracked function: not the other 999
/// sections' digests, not the config, not the other keys.
#[test]
fn editing_one_section_of_a_thousand_reexecutes_only_the_keys_it_reaches() {
    const N: usize = 1000;
    let mut toml = String::new();
    let mut plan = String::from("# Plan\n\n");
    for i in 0..N {
        toml.push_str(&format!("[tasks.T{i}]\ninputs = [\"plan.md#T{i}\"]\n"));
        if i % 10 != 0 {
            toml.push_str(&format!("deps = [\"T{}\"]\n", i - 1));
        }
        plan.push_str(&format!("## T{i}: Task {i}\n\nbody {i}\n\n"));
    }
    let (mut db, log) = logging_db();
    let config = ConfigInput::new(
        &db,
        SourceFile::new("tasks.toml", &toml),
        Vec::new(),
        None,
        Default::default(),
    );
    let build = BuildInput::new(&db, config, Vec::new(), BTreeMap::new());
    let file = ProjectPath::new("plan.md").unwrap();
    db.set_file_text(&file, Some(plan.clone()));
    let loaded = load(&db, config).clone().unwrap();
    db.want_sections(&loaded.spec);
    db.reset_task_outputs(N);
    // A build: each task's key, then its outputs (which follow from its key), in order.
    let build_all = |db: &mut Database, keys: &mut Vec<Option<Digest>>| {
        for (i, slot) in keys.iter_mut().enumerate() {
            let key = *task_key(db, build, TaskIdx(i as u32)).as_ref().unwrap();
            if *slot != Some(key) {
                *slot = Some(key);
                db.set_task_outputs(TaskIdx(i as u32), vec![(format!("o{i}"), key)]);
            }
        }
    };
    let mut keys = vec![None; N];
    build_all(&mut db, &mut keys);
    let before = keys.clone();
    log.lock().unwrap().clear();

    db.set_file_text(
        &file,
        Some(plan.replace("body 505\n", "body 505, edited\n")),
    );
    build_all(&mut db, &mut keys);
    let changed: Vec<usize> = (0..N).filter(|&i| keys[i] != before[i]).collect();
    assert_eq!(changed, [505, 506, 507, 508, 509]);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for event in log.lock().unwrap().iter() {
        let query = event.split('(').next().unwrap_or(event);
        *counts.entry(query.to_owned()).or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            ("task_key_of".to_owned(), 5),
            ("task_preimage_of".to_owned(), 5)
        ]),
        "what re-executed after the edit"
    );
}
