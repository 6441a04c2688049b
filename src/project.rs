//! Step 1 and 2 of every command: find tasks.toml, load it with `rules/`, build the graph.
//!
//! `-C DIR` and `-f FILE` are resolved here, like make's and Cargo's: without `-f`,
//! tasks.toml is searched upward from the start directory; the project root is the
//! directory holding the config. All configuration errors of all files come back
//! together, sorted by file and position, so one `conduct check` shows every mistake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::graph::Graph;
use crate::rules::{self, RuleSet};
use crate::source::SourceFile;
use crate::spec::{self, Spec, SpecError, disk};

/// The default config file name.
pub(crate) const CONFIG_NAME: &str = "tasks.toml";
/// Where project rules live, relative to the root.
pub(crate) const RULES_DIR: &str = "rules";

/// A loaded, validated project.
#[derive(Debug)]
pub(crate) struct Project {
    /// The directory holding the config; every project path is relative to it.
    #[expect(dead_code, reason = "tasks run in the root from the build issue on")]
    pub(crate) root: PathBuf,
    pub(crate) spec: Spec,
    pub(crate) rules: RuleSet,
    pub(crate) graph: Graph,
}

/// Where to look for the project (the global `-C` and `-f` options).
#[derive(Debug, Clone, Default)]
pub(crate) struct Locator {
    pub(crate) directory: Option<PathBuf>,
    pub(crate) file: Option<PathBuf>,
}

impl Locator {
    /// The config file and the project root.
    pub(crate) fn locate(&self) -> Result<(PathBuf, PathBuf), Error> {
        let cwd = std::env::current_dir().map_err(|source| Error::Directory {
            path: PathBuf::from("."),
            source,
        })?;
        let start = match &self.directory {
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
        };
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
        load(&config, &root, Checks::Config)
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
pub(crate) fn load(config: &Path, root: &Path, checks: Checks) -> Result<Project, Error> {
    let text = std::fs::read_to_string(config).map_err(|source| Error::Read {
        path: config.to_path_buf(),
        source,
    })?;
    let name = config
        .strip_prefix(root)
        .unwrap_or(config)
        .display()
        .to_string();
    let source = SourceFile::new(name, text);
    let (rules, mut errors) = rules::load_dir(root, RULES_DIR);
    let (spec, mut spec_errors) = match spec::parse(&source, &rules) {
        Ok(parsed) => parsed,
        Err(mut syntax) => {
            errors.append(&mut syntax);
            return Err(config_error(&source, errors));
        }
    };
    errors.append(&mut spec_errors);
    let graph = Graph::build(&spec);
    if checks == Checks::ConfigAndDisk {
        errors.extend(disk::check(&spec, root, spec.task_indices()));
    }
    match graph {
        Ok(graph) if errors.is_empty() => Ok(Project {
            root: root.to_path_buf(),
            spec,
            rules,
            graph,
        }),
        Ok(_) => Err(config_error(&source, errors)),
        Err(mut graph_errors) => {
            errors.append(&mut graph_errors);
            Err(config_error(&source, errors))
        }
    }
}

/// All errors as one, the config file's first, each file's in order of position.
pub(crate) fn config_error(config: &Arc<SourceFile>, mut errors: Vec<SpecError>) -> Error {
    errors.sort_by(|a, b| {
        let key = |e: &SpecError| {
            (
                !Arc::ptr_eq(&e.at.file, config),
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
