//! The salsa database: what a build knows, as inputs, and what it derives, as pure
//! tracked functions (SPEC §3, DESIGN §2).
//!
//! Inputs are set only by the coordinator (`build.rs`), between queries, after it has
//! looked at the disk: the config and rule texts, the file listing that globs expand
//! against, file digests, Markdown texts, command outputs, and each task's output
//! digests once the task is settled. Tracked functions never touch the file system, the
//! environment or the clock. A task's pre-image reads its dependencies' *output digests*;
//! the coordinator sets those only when they really changed (salsa does not backdate
//! inputs), so a dependency that reran with byte-identical outputs leaves its dependents'
//! pre-images untouched: that is the early cutoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use globset::GlobSetBuilder;
use rustc_hash::FxHashMap;
use salsa::Setter;

use crate::hash::{Digest, KEY_VERSION, KeyPreimage, RunKey};
use crate::project::Loaded;
use crate::source::SourceFile;
use crate::spec::section::{Outline, SectionError};
use crate::spec::{GroupIdx, InputKind, ProjectPath, Run, Spec, SpecError, TaskIdx};
use crate::spec_cache::CachedSpec;

/// tasks.toml and the rule files, as text.
#[salsa::input(debug)]
pub(crate) struct ConfigInput {
    /// The config file, shared with the session (a 100,000-task tasks.toml is 20 MB:
    /// one copy is enough).
    #[returns(ref)]
    pub(crate) source: Arc<SourceFile>,
    /// `(file stem, text)` of every `rules/*.toml`, sorted by name.
    #[returns(ref)]
    pub(crate) rules: Vec<(String, String)>,
    /// The spec validated from these same texts by an earlier run, if the spec cache
    /// had it (the coordinator checked the key): `load` then skips parsing.
    #[returns(ref)]
    pub(crate) cached: Option<CachedSpec>,
    /// `--var` and what the templates matched on disk.
    #[returns(ref)]
    pub(crate) given: crate::spec::template::Given,
}

/// Everything else a build reads that is not per file or per task.
#[salsa::input(debug)]
pub(crate) struct BuildInput {
    #[returns(copy)]
    pub(crate) config: ConfigInput,
    /// Source files under the directories that input globs look into, sorted.
    #[returns(ref)]
    pub(crate) listing: Vec<ProjectPath>,
    /// Values of the project's `hash_env` variables.
    #[returns(ref)]
    pub(crate) hash_env: BTreeMap<String, Option<String>>,
}

/// The content digest of one source file (`None`: it does not exist).
#[salsa::input(debug)]
pub(crate) struct FileDigest {
    #[returns(copy)]
    pub(crate) digest: Option<Digest>,
}

/// The text of a Markdown file that section inputs read (`None`: unreadable).
#[salsa::input(debug)]
pub(crate) struct FileText {
    #[returns(ref)]
    pub(crate) text: Option<String>,
}

/// The digest of one section of a Markdown file (normalised text, SPEC §2), set by the
/// driver whenever the file's text is, and only when it changed: an edit of one
/// section of a 1,000-section plan then invalidates one key, and the file is parsed
/// once per edit, not once per section.
#[salsa::input(debug)]
pub(crate) struct SectionDigest {
    #[returns(ref)]
    pub(crate) digest: Result<Digest, SectionError>,
}

/// The digest of a `{ command = … }` input's stdout (`None`: the command failed).
#[salsa::input(debug)]
pub(crate) struct CommandOutput {
    #[returns(copy)]
    pub(crate) digest: Option<Digest>,
}

/// A settled task's output digests, `(path, digest)` sorted, files inside directory
/// outputs listed one by one (`None`: not settled in this build).
#[salsa::input(debug)]
pub(crate) struct TaskOutputs {
    #[returns(ref)]
    pub(crate) outputs: Option<Vec<(String, Digest)>>,
}

/// The lookups tracked functions need; the maps are filled by the coordinator before
/// the queries that read them run.
#[salsa::db]
pub(crate) trait Db: salsa::Database {
    fn file_digest(&self, path: &ProjectPath) -> Option<FileDigest>;
    fn file_text(&self, path: &ProjectPath) -> Option<FileText>;
    fn command_output(&self, command: &str) -> Option<CommandOutput>;
    fn task_outputs(&self, task: TaskIdx) -> Option<TaskOutputs>;
    fn section(&self, file: &ProjectPath, section: &str) -> Option<SectionDigest>;
}

/// The database. Owned by the build's coordinator thread alone; never cloned into
/// workers, so setters never wait on readers.
#[salsa::db]
#[derive(Clone, Default)]
pub(crate) struct Database {
    storage: salsa::Storage<Self>,
    files: FxHashMap<ProjectPath, FileDigest>,
    texts: FxHashMap<ProjectPath, FileText>,
    /// The sections keys read, by file (see `want_section`).
    sections: FxHashMap<ProjectPath, FxHashMap<String, SectionDigest>>,
    commands: FxHashMap<String, CommandOutput>,
    outputs: Vec<TaskOutputs>,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl Db for Database {
    fn file_digest(&self, path: &ProjectPath) -> Option<FileDigest> {
        self.files.get(path).copied()
    }

    fn file_text(&self, path: &ProjectPath) -> Option<FileText> {
        self.texts.get(path).copied()
    }

    fn command_output(&self, command: &str) -> Option<CommandOutput> {
        self.commands.get(command).copied()
    }

    fn task_outputs(&self, task: TaskIdx) -> Option<TaskOutputs> {
        self.outputs.get(task.index()).copied()
    }

    fn section(&self, file: &ProjectPath, section: &str) -> Option<SectionDigest> {
        self.sections.get(file)?.get(section).copied()
    }
}

impl Database {
    /// A database with an event hook (tests count `WillExecute` events).
    #[cfg(test)]
    pub(crate) fn with_events(hook: Box<dyn Fn(salsa::Event) + Send + Sync + 'static>) -> Database {
        Database {
            storage: salsa::Storage::new(Some(hook)),
            files: FxHashMap::default(),
            texts: FxHashMap::default(),
            sections: FxHashMap::default(),
            commands: FxHashMap::default(),
            outputs: Vec::new(),
        }
    }

    /// Record a file's digest; an unchanged value is not set again (inputs are not
    /// backdated, so an identical set would still invalidate its readers).
    pub(crate) fn set_file_digest(&mut self, path: &ProjectPath, digest: Option<Digest>) {
        match self.files.get(path).copied() {
            Some(input) => {
                if input.digest(self) != digest {
                    let _ = input.set_digest(self).to(digest);
                }
            }
            None => {
                let input = FileDigest::new(self, digest);
                self.files.insert(path.clone(), input);
            }
        }
    }

    /// Record a Markdown file's text, and the digests of the sections keys read of it
    /// (each set only when it changed).
    pub(crate) fn set_file_text(&mut self, path: &ProjectPath, text: Option<String>) {
        match self.texts.get(path).copied() {
            Some(input) => {
                if input.text(self) == &text {
                    return;
                }
                input.set_text(self).to(text);
            }
            None => {
                let input = FileText::new(self, text);
                self.texts.insert(path.clone(), input);
            }
        }
        let Some(wanted) = self.sections.get(path) else {
            return;
        };
        let wanted: Vec<(String, SectionDigest)> = wanted
            .iter()
            .map(|(s, input)| (s.clone(), *input))
            .collect();
        let text = self.texts.get(path).and_then(|t| t.text(self).clone());
        let outline = text.as_deref().map(Outline::parse);
        for (section, input) in wanted {
            let digest = section_of(text.as_deref(), outline.as_ref(), &section);
            if input.digest(self) != &digest {
                let _ = input.set_digest(self).to(digest);
            }
        }
    }

    /// A key will read `section` of `file`: keep its digest from now on (the driver
    /// says so before any key is asked for).
    pub(crate) fn want_section(&mut self, file: &ProjectPath, section: &str) {
        if self
            .sections
            .get(file)
            .is_some_and(|s| s.contains_key(section))
        {
            return;
        }
        let text = self.texts.get(file).and_then(|t| t.text(self).clone());
        let outline = text.as_deref().map(Outline::parse);
        let digest = section_of(text.as_deref(), outline.as_ref(), section);
        let input = SectionDigest::new(self, digest);
        self.sections
            .entry(file.clone())
            .or_default()
            .insert(section.to_owned(), input);
    }

    /// Every section the tasks of `spec` read (tests; the driver does it for the
    /// selected tasks in `Session::prepare`).
    #[cfg(test)]
    pub(crate) fn want_sections(&mut self, spec: &Spec) {
        for task in &spec.tasks {
            for input in &task.inputs {
                if let InputKind::Section { file, section } = &input.kind {
                    self.want_section(file, section);
                }
            }
        }
    }

    pub(crate) fn set_command_output(&mut self, command: &str, digest: Option<Digest>) {
        match self.commands.get(command).copied() {
            Some(input) => {
                if input.digest(self) != digest {
                    let _ = input.set_digest(self).to(digest);
                }
            }
            None => {
                let input = CommandOutput::new(self, digest);
                self.commands.insert(command.to_owned(), input);
            }
        }
    }

    /// Make room for `count` tasks' output inputs. What an earlier build of the same
    /// session settled stays: the coordinator sets a task's outputs before any of its
    /// dependents is decided, and leaving equal values alone is what lets `watch`
    /// recompute only the keys an edit reaches.
    pub(crate) fn reset_task_outputs(&mut self, count: usize) {
        while self.outputs.len() < count {
            let input = TaskOutputs::new(self, None);
            self.outputs.push(input);
        }
    }

    /// Settle a task's outputs. Returns whether they differ from what was set before.
    pub(crate) fn set_task_outputs(&mut self, task: TaskIdx, outputs: Vec<(String, Digest)>) {
        let Some(input) = self.outputs.get(task.index()).copied() else {
            return;
        };
        if input.outputs(self).as_ref() != Some(&outputs) {
            input.set_outputs(self).to(Some(outputs));
        }
    }
}

/// Why a task's key cannot be computed (found only at build time, e.g. in a document a
/// dependency generated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// A source input vanished after the preflight check.
    MissingInput { path: String },
    /// A section input could not be selected.
    Section {
        file: String,
        section: String,
        error: SectionError,
    },
    /// A `{ command = … }` input failed.
    CommandFailed { command: String },
    /// A `{ program = … }` input is not on `PATH`.
    ProgramMissing { name: String },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::MissingInput { path } => write!(f, "input `{path}` does not exist"),
            KeyError::Section {
                file,
                section,
                error: SectionError::Missing { .. },
            } => write!(f, "no section `{section}` in `{file}`"),
            KeyError::Section {
                file,
                section,
                error: SectionError::Ambiguous { lines },
            } => write!(
                f,
                "section `{section}` is ambiguous in `{file}` (lines {lines:?})"
            ),
            KeyError::CommandFailed { command } => {
                write!(f, "input command `{command}` failed")
            }
            KeyError::ProgramMissing { name } => {
                write!(f, "input program `{name}` is not on PATH")
            }
        }
    }
}

/// Parse and validate the config with its rules, and build the graph.
#[salsa::tracked(returns(ref), no_eq)]
pub(crate) fn load(db: &dyn Db, config: ConfigInput) -> Result<Arc<Loaded>, Arc<Vec<SpecError>>> {
    if let Some(cached) = config.cached(db) {
        let (rules, errors) = crate::rules::parse_all(crate::project::RULES_DIR, config.rules(db));
        if errors.is_empty() {
            return Ok(Arc::new(Loaded {
                spec: Arc::clone(&cached.spec),
                rules,
                graph: Arc::clone(&cached.graph),
            }));
        }
    }
    crate::project::parse(config.source(db), config.rules(db), config.given(db))
        .map(Arc::new)
        .map_err(Arc::new)
}

/// A glob input: (task, index among its inputs).
type GlobOwner = (u32, u32);

/// Every glob input's matches in the listing, by (task, input index): one pass of one
/// `GlobSet` over the listing for all tasks, not one per task.
#[salsa::tracked(returns(ref))]
pub(crate) fn glob_matches(
    db: &dyn Db,
    build: BuildInput,
) -> HashMap<(u32, u32), Vec<ProjectPath>> {
    let mut matches: HashMap<(u32, u32), Vec<ProjectPath>> = HashMap::new();
    let Ok(loaded) = load(db, build.config(db)) else {
        return matches;
    };
    // `dir/*suffix` globs by their directory (no regex to compile: see
    // `GlobMatcher`); the others in one `GlobSet`.
    let mut by_dir: HashMap<&str, Vec<(&str, GlobOwner)>> = HashMap::new();
    let mut owners = Vec::new();
    let mut set = GlobSetBuilder::new();
    for (t, task) in loaded.spec.tasks.iter().enumerate() {
        for (i, input) in task.inputs.iter().enumerate() {
            if let InputKind::Glob(glob) = &input.kind {
                let owner = (t as u32, i as u32);
                match glob.dir_star() {
                    Some((dir, suffix)) => by_dir.entry(dir).or_default().push((suffix, owner)),
                    None => {
                        set.add(glob.glob.clone());
                        owners.push(owner);
                    }
                }
            }
        }
    }
    if owners.is_empty() && by_dir.is_empty() {
        return matches;
    }
    let set = if owners.is_empty() {
        None
    } else {
        set.build().ok()
    };
    let mut hits = Vec::new();
    for path in build.listing(db) {
        let text = path.as_str();
        let split = text.rfind('/').map_or(0, |slash| slash + 1);
        if let Some(globs) = by_dir.get(&text[..split]) {
            for &(suffix, owner) in globs {
                if text[split..].ends_with(suffix) {
                    matches.entry(owner).or_default().push(path.clone());
                }
            }
        }
        if let Some(set) = &set {
            set.matches_into(text, &mut hits);
            for &h in &hits {
                matches.entry(owners[h]).or_default().push(path.clone());
            }
        }
    }
    matches
}

/// The digest of `section` of a document (`None`: unreadable), with its outline.
fn section_of(
    text: Option<&str>,
    outline: Option<&Outline>,
    section: &str,
) -> Result<Digest, SectionError> {
    let (Some(text), Some(outline)) = (text, outline) else {
        return Err(SectionError::Missing {
            headings: Vec::new(),
        });
    };
    let range = outline.find(section)?;
    Ok(Digest::from(crate::spec::section::digest(&text[range])))
}

/// One digest over the outputs of every task of a group (for `after` barriers).
#[salsa::tracked(returns(copy))]
pub(crate) fn group_digest(db: &dyn Db, build: BuildInput, group: GroupIdx) -> Digest {
    let mut hasher = blake3::Hasher::new();
    if let Ok(loaded) = load(db, build.config(db)) {
        for &task in &loaded.spec.group(group).tasks {
            let outputs = db.task_outputs(task).and_then(|o| o.outputs(db).clone());
            for (path, digest) in outputs.iter().flatten() {
                hasher.update(path.as_bytes());
                hasher.update(&[0]);
                hasher.update(&digest.0);
            }
            hasher.update(&[1]);
        }
    }
    hasher.finalize().into()
}

/// One task of one build's inputs: what the per-task queries are memoized under.
/// Interned for good (`revisions = usize::MAX`): salsa recycles an interned value that
/// was not read for three revisions, a build makes a revision per settled task, and
/// the implicit interning of a `(build, task)` argument pair lost every task's memos
/// between the rounds of a `watch`.
#[salsa::interned(revisions = usize::MAX, debug)]
pub(crate) struct TaskOf<'db> {
    #[returns(copy)]
    build: BuildInput,
    #[returns(copy)]
    task: TaskIdx,
}

/// The files a task reads that no task produces: plain inputs and glob matches. The
/// coordinator hashes exactly these before asking for the pre-image.
pub(crate) fn source_inputs(db: &dyn Db, build: BuildInput, task: TaskIdx) -> &Vec<ProjectPath> {
    source_inputs_of(db, TaskOf::new(db, build, task))
}

#[salsa::tracked(returns(ref))]
fn source_inputs_of<'db>(db: &'db dyn Db, of: TaskOf<'db>) -> Vec<ProjectPath> {
    let (build, task) = (of.build(db), of.task(db));
    let mut paths = Vec::new();
    let Ok(loaded) = load(db, build.config(db)) else {
        return paths;
    };
    let spec = &loaded.spec;
    let globs = spec
        .task(task)
        .inputs
        .iter()
        .any(|input| matches!(input.kind, InputKind::Glob(_)));
    // Only a task with globs depends on the listing.
    let matches = globs.then(|| glob_matches(db, build));
    collect_source_inputs(spec, matches, task, &mut paths);
    paths
}

/// What [`source_inputs`] returns, into `paths` (cleared first), without leaving a memo
/// behind: a no-op build asks this of every task, and at 100,000 tasks the memos were
/// tens of megabytes. `matches` is [`glob_matches`] (needed only for glob inputs).
pub(crate) fn collect_source_inputs(
    spec: &Spec,
    matches: Option<&HashMap<(u32, u32), Vec<ProjectPath>>>,
    task: TaskIdx,
    paths: &mut Vec<ProjectPath>,
) {
    paths.clear();
    for (i, input) in spec.task(task).inputs.iter().enumerate() {
        match &input.kind {
            InputKind::File(path) => paths.push(path.clone()),
            InputKind::Glob(_) => {
                if let Some(matched) = matches.and_then(|m| m.get(&(task.0, i as u32))) {
                    paths.extend(matched.iter().cloned());
                }
            }
            InputKind::Section { .. } | InputKind::Command(_) | InputKind::Program(_) => {}
        }
    }
    paths.retain(|p| spec.outputs.producer_of(p).is_none());
    paths.sort();
    paths.dedup();
}

/// The task's key pre-image (SPEC §3). Every dependency must be settled first.
pub(crate) fn task_preimage(
    db: &dyn Db,
    build: BuildInput,
    task: TaskIdx,
) -> &Result<KeyPreimage, KeyError> {
    task_preimage_of(db, TaskOf::new(db, build, task))
}

#[salsa::tracked(returns(ref))]
fn task_preimage_of<'db>(db: &'db dyn Db, of: TaskOf<'db>) -> Result<KeyPreimage, KeyError> {
    let (build, task) = (of.build(db), of.task(db));
    let Ok(loaded) = load(db, build.config(db)) else {
        return Err(KeyError::MissingInput {
            path: String::new(),
        });
    };
    let spec = &loaded.spec;
    let t = spec.task(task);

    let mut inputs = Vec::new();
    for path in source_inputs(db, build, task) {
        match db.file_digest(path).and_then(|f| f.digest(db)) {
            Some(digest) => inputs.push((path.to_string(), digest)),
            None => {
                return Err(KeyError::MissingInput {
                    path: path.to_string(),
                });
            }
        }
    }
    let mut sections = Vec::new();
    let mut commands = Vec::new();
    for input in &t.inputs {
        match &input.kind {
            InputKind::Section { file, section } => {
                let (Some(_), Some(input)) = (db.file_text(file), db.section(file, section)) else {
                    return Err(KeyError::MissingInput {
                        path: file.to_string(),
                    });
                };
                match input.digest(db) {
                    Ok(digest) => sections.push((file.to_string(), section.clone(), *digest)),
                    Err(error) => {
                        return Err(KeyError::Section {
                            file: file.to_string(),
                            section: section.clone(),
                            error: error.clone(),
                        });
                    }
                }
            }
            InputKind::Command(command) => {
                match db.command_output(command).and_then(|c| c.digest(db)) {
                    Some(digest) => commands.push((command.clone(), digest)),
                    None => {
                        return Err(KeyError::CommandFailed {
                            command: command.clone(),
                        });
                    }
                }
            }
            InputKind::Program(name) => {
                let label = InputKind::program_label(name);
                match db.command_output(&label).and_then(|c| c.digest(db)) {
                    Some(digest) => commands.push((label, digest)),
                    None => {
                        return Err(KeyError::ProgramMissing { name: name.clone() });
                    }
                }
            }
            InputKind::File(_) | InputKind::Glob(_) => {}
        }
    }
    sections.sort();
    sections.dedup();
    commands.sort();
    commands.dedup();

    let mut deps: Vec<(String, Vec<(String, Digest)>)> = loaded
        .graph
        .task_deps(task)
        .iter()
        .map(|d| {
            let outputs = db
                .task_outputs(d.task)
                .and_then(|o| o.outputs(db).clone())
                .unwrap_or_default();
            (spec.task(d.task).id.to_string(), outputs)
        })
        .collect();
    deps.sort();
    let mut barriers: Vec<(String, Digest)> = t
        .group
        .map(|g| spec.group(g).after.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|g| (spec.group(g).name.to_string(), group_digest(db, build, g)))
        .collect();
    barriers.sort();

    Ok(KeyPreimage {
        version: KEY_VERSION,
        run: run_key(spec, t.run.as_ref(), t.agent_settings.model.as_deref()),
        env: t.env.clone(),
        hash_env: build.hash_env(db).clone(),
        workspace: t.workspace.as_str().to_owned(),
        inputs,
        sections,
        commands,
        outputs: t.outputs.iter().map(|o| o.display()).collect(),
        deps,
        barriers,
    })
}

/// The task's key: the digest of its pre-image. Memoized, so a fresh task's decision
/// never copies its pre-image out of the database.
pub(crate) fn task_key(db: &dyn Db, build: BuildInput, task: TaskIdx) -> &Result<Digest, KeyError> {
    task_key_of(db, TaskOf::new(db, build, task))
}

#[salsa::tracked(returns(ref))]
fn task_key_of<'db>(db: &'db dyn Db, of: TaskOf<'db>) -> Result<Digest, KeyError> {
    task_preimage_of(db, of)
        .as_ref()
        .map(KeyPreimage::key)
        .map_err(Clone::clone)
}

fn run_key(spec: &Spec, run: Option<&Run>, task_model: Option<&str>) -> RunKey {
    match run {
        None => RunKey::None,
        Some(Run::Shell(command)) => RunKey::Shell {
            shell: spec.project.shell.clone(),
            command: command.clone(),
        },
        Some(Run::Exec(argv)) => RunKey::Exec { argv: argv.clone() },
        Some(Run::Agent(run)) => RunKey::Agent {
            agent: run.agent.clone(),
            prompt: run.prompt.clone(),
            model: task_model.map(str::to_owned),
            defined: spec.project.agents.get(&run.agent).cloned(),
        },
    }
}

#[cfg(test)]
mod tests;
