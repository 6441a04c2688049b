//! The keys of `[project]` and `[cache]`: what the whole project shares (name, jobs,
//! shell, where the cache and worktrees go, shared inputs, the executor, the run
//! budget) and how the cache is kept and shared.

use toml::de::DeTable;

use crate::spec::error::SpecErrorKind;
use crate::spec::reader::Reader;
use crate::spec::{DepfileOutside, Input, Project};

pub(super) const CACHE_KEYS: &[&str] = &[
    "max_size",
    "remote",
    "remote_mode",
    "remote_connect_timeout",
    "remote_timeout",
];
pub(super) const PROJECT_KEYS: &[&str] = &[
    "name",
    "jobs",
    "shell",
    "hash_env",
    "cache",
    "worktrees",
    "worktree_setup",
    "keep_runs",
    "inputs",
    "depfile_outside",
    "executor",
    "budget_usd",
];

impl Reader<'_> {
    /// `[project]`, and its `inputs` (shared by every task).
    pub(super) fn project(&mut self, table: &DeTable<'_>) -> (Project, Vec<Input>) {
        let mut project = Project::default();
        let mut inputs = Vec::new();
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "inputs" => inputs = self.inputs(value, true),
                "name" => project.name = self.string("name", value),
                "jobs" => project.jobs = self.jobs(value),
                "shell" => {
                    let shell: Vec<String> = self
                        .named_list("shell", value)
                        .into_iter()
                        .map(|n| n.text)
                        .collect();
                    if shell.first().is_none_or(|s| s.is_empty()) {
                        self.err(value.span(), SpecErrorKind::Empty { key: "shell" });
                    } else {
                        project.shell = shell;
                    }
                }
                "hash_env" => {
                    for name in self.named_list("hash_env", value) {
                        if self.env_name(&name.text, name.span) {
                            project.hash_env.push(name.text);
                        }
                    }
                }
                name @ ("cache" | "worktrees") => {
                    if let Some(text) = self.string(name, value)
                        && let Some(path) = self.path(&text, value.span())
                    {
                        if name == "cache" {
                            project.cache = path;
                            project.cache_span = value.span().into();
                        } else {
                            project.worktrees = path;
                            project.worktrees_span = value.span().into();
                        }
                    }
                }
                "worktree_setup" => {
                    project.worktree_setup = self.non_empty_string("worktree_setup", value)
                }
                "depfile_outside" => {
                    if let Some(choice) = self.choice(
                        "depfile_outside",
                        value,
                        DepfileOutside::NAMES,
                        DepfileOutside::parse,
                    ) {
                        project.depfile_outside = choice;
                    }
                }
                "keep_runs" => {
                    if let Some(n) = self.integer("keep_runs", value, 0, 100_000) {
                        project.keep_runs = usize::try_from(n).unwrap_or(usize::MAX);
                    }
                }
                "executor" => {
                    if let Some(executor) = self.executor(value) {
                        project.executor = executor;
                    }
                }
                "budget_usd" => project.budget_usd = self.usd("budget_usd", value),
                _ => self.unknown_key(key, "[project]", PROJECT_KEYS),
            }
        }
        (project, inputs)
    }

    /// `[cache]`: the size `conduct cache gc` keeps the cache under, and the remote.
    pub(super) fn cache_table(&mut self, table: &DeTable<'_>, project: &mut Project) {
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "max_size" => {
                    if let Some(text) = self.string("max_size", value) {
                        match crate::units::parse_size(&text) {
                            Some(bytes) => project.cache_max_bytes = bytes,
                            None => self.err(
                                value.span(),
                                SpecErrorKind::BadSize {
                                    key: "max_size",
                                    text,
                                },
                            ),
                        }
                    }
                }
                "remote" => project.remote = self.non_empty_string("remote", value),
                "remote_mode" => {
                    project.remote_mode = self.choice(
                        "remote_mode",
                        value,
                        crate::cache::remote::Mode::NAMES,
                        crate::cache::remote::Mode::parse,
                    );
                }
                "remote_connect_timeout" => {
                    project.remote_connect_timeout = self.duration("remote_connect_timeout", value);
                }
                "remote_timeout" => {
                    project.remote_timeout = self.duration("remote_timeout", value);
                }
                _ => self.unknown_key(key, "[cache]", CACHE_KEYS),
            }
        }
    }
}
