//! Step 1 and 2 of every command: find tasks.toml, load it with `rules/`, build the graph.
//!
//! `-C DIR` and `-f FILE` are resolved here, like make's and Cargo's: without `-f`,
//! tasks.toml is searched upward from the start directory; the project root is the
//! directory holding the config. Reading the files ([`Sources::read`]) is kept apart
//! from parsing them ([`parse`], pure), so the build can parse inside salsa. All
//! configuration errors of all files come back together, sorted by file and position,
//! so one `conduct check` shows every mistake.

mod foreach;
pub(crate) mod open;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::graph::Graph;
use crate::rules;
use crate::rules::RuleSet;
use crate::source::SourceFile;
use crate::spec::template::Given;
use crate::spec::{self, Spec, SpecError, disk};

/// The default config file name.
pub(crate) const CONFIG_NAME: &str = "tasks.toml";
/// Where project rules live, relative to the root.
pub(crate) const RULES_DIR: &str = "rules";

/// A validated project: spec, rules and graph, shared cheaply.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) spec: Arc<Spec>,
    pub(crate) rules: RuleSet,
    pub(crate) graph: Arc<Graph>,
}

/// A loaded, validated project.
#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) loaded: Arc<Loaded>,
}

/// Where to look for the project and how to read it (the global `-C`, `-f` and `--var`
/// options).
#[derive(Debug, Clone, Default)]
pub(crate) struct Locator {
    pub(crate) directory: Option<PathBuf>,
    pub(crate) file: Option<PathBuf>,
    /// `--var NAME=VALUE`, in order.
    pub(crate) vars: Vec<(String, String)>,
    /// `--remote-cache URL` and `--remote-cache-mode`.
    pub(crate) remote: Option<String>,
    pub(crate) remote_mode: Option<crate::cache::remote::Mode>,
}

/// See [`Locator::new_config`].
pub(crate) struct NewConfig {
    pub(crate) start: PathBuf,
    /// As given (`-f`), for messages.
    pub(crate) name: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) root: PathBuf,
}

impl Locator {
    /// The directory conduct runs as if started in (`-C DIR`, else the current one).
    pub(crate) fn start(&self) -> Result<PathBuf, Error> {
        let cwd = std::env::current_dir().map_err(|source| Error::Directory {
            path: PathBuf::from("."),
            source,
        })?;
        Ok(match &self.directory {
            Some(dir) => {
                let dir = cwd.join(dir);
                if !dir.is_dir() {
                    return Err(Error::Directory {
                        path: dir,
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
                dir
            }
            None => cwd,
        })
    }

    /// Where a command that writes a new tasks.toml puts it (`init`, `import`): `-f NAME`
    /// (else tasks.toml) in the start directory, the project root beside it. Nothing is
    /// looked up: the file need not exist.
    pub(crate) fn new_config(&self) -> Result<NewConfig, Error> {
        let start = self.start()?;
        let name = self
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from(CONFIG_NAME));
        let config = start.join(&name);
        let root = config
            .parent()
            .map_or_else(|| start.clone(), std::path::Path::to_path_buf);
        Ok(NewConfig {
            start,
            name,
            config,
            root,
        })
    }

    /// The config file and the project root.
    pub(crate) fn locate(&self) -> Result<(PathBuf, PathBuf), Error> {
        let start = self.start()?;
        if let Some(file) = &self.file {
            let config = start.join(file);
            if !config.is_file() {
                return Err(Error::ConfigNotFound {
                    name: file.display().to_string(),
                    start,
                    searched_up: false,
                });
            }
            let root = config
                .parent()
                .map_or_else(|| start.clone(), Path::to_path_buf);
            return Ok((config, root));
        }
        for dir in start.ancestors() {
            let config = dir.join(CONFIG_NAME);
            if config.is_file() {
                return Ok((config, dir.to_path_buf()));
            }
        }
        Err(Error::ConfigNotFound {
            name: CONFIG_NAME.to_owned(),
            start,
            searched_up: true,
        })
    }

    /// Locate and load the project.
    pub(crate) fn load(&self) -> Result<Project, Error> {
        let (config, root) = self.locate()?;
        load(&config, &root, &self.vars, Checks::Config)
    }
}

/// The texts a project is made of, as read from disk, and what its templates matched.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) config: Arc<SourceFile>,
    /// `(file stem, text)` of every rule file.
    pub(crate) rules: Vec<(String, String)>,
    /// Rule files that could not be read.
    pub(crate) errors: Vec<SpecError>,
    /// `--var` and what each template's `foreach` matched on disk.
    pub(crate) given: Given,
}

impl Sources {
    /// Read `config` and `root/rules/*.toml`, and look up what the templates match.
    pub(crate) fn read(
        config: &Path,
        root: &Path,
        vars: &[(String, String)],
    ) -> Result<Sources, Error> {
        let text = std::fs::read_to_string(config).map_err(|source| Error::Read {
            path: config.to_path_buf(),
            source,
        })?;
        let name = config
            .strip_prefix(root)
            .unwrap_or(config)
            .display()
            .to_string();
        let (rules, errors) = rules::read_dir(root, RULES_DIR);
        let given = Given {
            vars: vars.to_vec(),
            matches: foreach::matches(&text, root),
        };
        Ok(Sources {
            config: SourceFile::new(name, text),
            rules,
            errors,
            given,
        })
    }
}

/// Everything parsing found: the valid parts and every error, together.
struct Parts {
    /// `None` only when the TOML itself does not parse.
    spec: Option<spec::Spec>,
    rules: rules::RuleSet,
    graph: Option<Graph>,
    errors: Vec<SpecError>,
}

fn parse_parts(config: &Arc<SourceFile>, rule_files: &[(String, String)], given: &Given) -> Parts {
    let (rules, mut errors) = rules::parse_all(RULES_DIR, rule_files);
    let (spec, mut spec_errors) = match spec::parse(config, &rules, given) {
        Ok(parsed) => parsed,
        Err(mut syntax) => {
            errors.append(&mut syntax);
            return Parts {
                spec: None,
                rules,
                graph: None,
                errors,
            };
        }
    };
    errors.append(&mut spec_errors);
    let graph = match Graph::build(&spec) {
        Ok(graph) => Some(graph),
        Err(mut graph_errors) => {
            errors.append(&mut graph_errors);
            None
        }
    };
    Parts {
        spec: Some(spec),
        rules,
        graph,
        errors,
    }
}

/// Parse and validate a config with its rule files, and build the graph. Pure.
pub(crate) fn parse(
    config: &Arc<SourceFile>,
    rule_files: &[(String, String)],
    given: &Given,
) -> Result<Loaded, Vec<SpecError>> {
    let parts = parse_parts(config, rule_files, given);
    match (parts.spec, parts.graph) {
        (Some(spec), Some(graph)) if parts.errors.is_empty() => Ok(Loaded {
            spec: Arc::new(spec),
            rules: parts.rules,
            graph: Arc::new(graph),
        }),
        _ => Err(parts.errors),
    }
}

/// How much `load` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// The files themselves: what every command needs.
    Config,
    /// Also ask the disk about every task (`conduct check`).
    ConfigAndDisk,
}

/// Read and validate `config` and `root/rules/`, then build the graph. Every error of
/// every file comes back together.
pub(crate) fn load(
    config: &Path,
    root: &Path,
    vars: &[(String, String)],
    checks: Checks,
) -> Result<Project, Error> {
    let sources = Sources::read(config, root, vars)?;
    let mut parts = parse_parts(&sources.config, &sources.rules, &sources.given);
    let mut errors = sources.errors;
    errors.append(&mut parts.errors);
    if checks == Checks::ConfigAndDisk
        && let Some(spec) = &parts.spec
    {
        errors.extend(disk::check(
            spec,
            root,
            spec.task_indices(),
            disk::Leaves::Check,
        ));
    }
    match (parts.spec, parts.graph) {
        (Some(spec), Some(graph)) if errors.is_empty() => Ok(Project {
            loaded: Arc::new(Loaded {
                spec: Arc::new(spec),
                rules: parts.rules,
                graph: Arc::new(graph),
            }),
        }),
        _ => Err(config_error(&sources.config, errors)),
    }
}

/// All errors as one, the config file's first, each file's in order of position.
pub(crate) fn config_error(config: &Arc<SourceFile>, mut errors: Vec<SpecError>) -> Error {
    errors.sort_by(|a, b| {
        let key = |e: &SpecError| {
            (
                e.at.file.name() != config.name(),
                e.at.file.name().to_owned(),
                e.at.span.start,
            )
        };
        key(a).cmp(&key(b))
    });
    Error::Config {
        config: config.name().to_owned(),
        errors,
    }
}
