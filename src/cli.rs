//! The command line, as clap types, and nothing else.
//!
//! clap stops here: the parsed arguments become plain data once (`commands::Options`),
//! and the core only ever sees that (just's arguments/config split). Shell completions
//! are printed here at parse time, like `--help`, since they are a property of the clap
//! command.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::build::BuildOptions;
use crate::cache::remote::Mode as RemoteMode;
use crate::commands::cache::CacheCommand;
use crate::commands::clean::CleanOptions;
use crate::commands::graph::GraphFormat;
use crate::commands::logs::LogsOptions;
use crate::commands::plan::PlanOptions;
use crate::commands::report::ReportOptions;
use crate::commands::{Command, Options};
use crate::estimate::Weights;
use crate::project::Locator;
use crate::report::progress::{Explain, Style};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::{CompleteEnv, Shells};
use std::ffi::OsStr;

/// conduct: a declarative, incremental task planner and runner.
#[derive(Debug, Parser)]
#[command(name = "conduct", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Run as if conduct was started in DIR
    #[arg(short = 'C', value_name = "DIR", global = true)]
    directory: Option<PathBuf>,
    /// The config file [default: tasks.toml, searched upward from the current directory]
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true)]
    file: Option<PathBuf>,
    /// Set a variable of tasks.toml's `[vars]` for this run (repeatable; part of the keys)
    #[arg(long = "var", value_name = "NAME=VALUE", global = true, value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// The shared cache for this run (file:///DIR); else CONDUCT_REMOTE_CACHE, else [cache] remote
    #[arg(long = "remote-cache", value_name = "URL", global = true)]
    remote_cache: Option<String>,
    /// How the shared cache is used [default: read, or readwrite when CI is set]
    #[arg(long = "remote-cache-mode", value_enum, global = true)]
    remote_cache_mode: Option<RemoteModeArg>,
    /// Print JSON on stdout, errors included (build: one event per line)
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CliCommand,
}

/// What `build` and `watch` share: which tasks, how many at once, what is said.
#[derive(Debug, Args)]
struct BuildArgs {
    /// Task ids, groups, or `all`
    #[arg(value_name = "TARGET", add = ArgValueCompleter::new(complete_targets))]
    targets: Vec<String>,
    /// Run at most N tasks at once [default: project.jobs, else the number of cores]
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    jobs: Option<u32>,
    /// Print why each task runs, is restored or fails; `--explain=all` also lists the
    /// fresh tasks
    #[arg(
        long,
        value_name = "WHICH",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "changed"
    )]
    explain: Option<ExplainArg>,
    /// Stream task output, prefixed with the task id
    #[arg(short = 'v', long, conflicts_with = "quiet")]
    verbose: bool,
    /// Print only failures
    #[arg(short = 'q', long)]
    quiet: bool,
}

impl BuildArgs {
    /// A build of these, every other flag at its default.
    fn options(self, json: bool) -> BuildOptions {
        BuildOptions {
            jobs: self.jobs.map(|j| j as usize),
            explain: self.explain.map_or(Explain::Off, ExplainArg::level),
            verbose: self.verbose,
            ..BuildOptions::of(self.targets, Style::choose(json, self.quiet, self.verbose))
        }
    }
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Run the stale tasks of TARGETs (default: all) and what their changes reach
    Build {
        #[command(flatten)]
        build: BuildArgs,
        /// Decide and explain, run nothing, write nothing
        #[arg(long = "dry-run", short = 'n')]
        dry_run: bool,
        /// Rerun the named tasks even if they are fresh
        #[arg(long)]
        force: bool,
        /// Start nothing new after the first failure
        #[arg(long = "fail-fast")]
        fail_fast: bool,
        /// Restore or rerun the named tasks even over outputs edited by hand
        #[arg(long = "discard-edits")]
        discard_edits: bool,
        /// Where tasks run that do not say (`executor` in a task or its group wins):
        /// on this machine, or as jobs on a Slurm cluster [default: project.executor]
        #[arg(long, value_name = "WHERE", value_parser = ["local", "slurm"])]
        executor: Option<String>,
        /// A retried agent task starts a new session instead of resuming its last one
        #[arg(long = "fresh-session")]
        fresh_session: bool,
        /// What the build's agent tasks may spend in all, in US dollars: none starts
        /// when the spent plus the running ones' budgets would pass it [default:
        /// project.budget_usd]
        #[arg(long = "budget-usd", value_name = "USD", value_parser = usd)]
        budget_usd: Option<f64>,
    },
    /// Build, then build again whenever a file the selected tasks read changes (one
    /// long-lived process; Ctrl-C ends it)
    Watch {
        #[command(flatten)]
        build: BuildArgs,
        /// Clear the terminal before each round
        #[arg(long)]
        clear: bool,
    },
    /// Record the current state of TARGETs (every task without any) as fresh without
    /// running them
    Accept {
        /// Task ids, groups, or `all` (the default)
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,
    },
    /// Remove outputs (without flags), the cache (--cache), both (--all), or agent
    /// worktrees
    Clean {
        /// Remove every declared output (the default; the next build restores them from
        /// the cache)
        #[arg(long)]
        outputs: bool,
        /// Empty the cache directory (state, cache, logs) instead
        #[arg(long)]
        cache: bool,
        /// Remove the outputs and empty the cache
        #[arg(long)]
        all: bool,
        /// Remove the agent worktrees (with anything uncommitted in them)
        #[arg(long)]
        worktrees: bool,
        /// With --worktrees: delete their branches too
        #[arg(long, requires = "worktrees")]
        branches: bool,
    },
    /// Look after the build cache
    #[command(subcommand)]
    Cache(CacheArg),
    /// Show the last run of every task: status, duration, attempts, reasons
    Status,
    /// List the tasks a build would run whose dependencies are all done (work to pull)
    Ready,
    /// Merge worktree tasks' branches into the current branch, in dependency order
    Merge {
        /// The tasks whose branches to merge
        #[arg(required_unless_present = "all_passed")]
        tasks: Vec<String>,
        /// Every worktree task whose last run passed and whose branch is not merged
        #[arg(long = "all-passed", conflicts_with = "tasks")]
        all_passed: bool,
        /// One commit per branch on the current branch (`git merge --squash`)
        #[arg(long)]
        squash: bool,
        /// A branch the queue stops (a conflict, a check failing after the rebase)
        /// starts again from the current branch and its task runs once more, told why
        #[arg(long = "retry-conflicts")]
        retry_conflicts: bool,
    },
    /// Show what a worktree task's branch changed since it left the current branch
    Diff {
        /// The task
        task: String,
        /// Only the stat (files and lines changed), not the patch
        #[arg(long)]
        stat: bool,
    },
    /// Validate tasks.toml and rules/ (exit 2 on errors)
    Check,
    /// List tasks by group with status, title, effort, agent and dependencies
    List,
    /// Write a commented starter tasks.toml, a rules/ example and a .gitignore line for
    /// the cache (never overwrites tasks.toml)
    Init,
    /// Estimate a build: waves, critical path, total work, makespan with N at once
    Plan {
        /// Task ids, groups, or `all`
        #[arg(value_name = "TARGET", add = ArgValueCompleter::new(complete_targets))]
        targets: Vec<String>,
        /// Plan for at most N tasks at once [default: project.jobs, else the number of cores]
        #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
        jobs: Option<u32>,
        /// Plan every selected task, not only those a build would run now
        #[arg(long)]
        all: bool,
        /// Break the work and the strict-barrier stages down by group
        #[arg(long = "by-group")]
        by_group: bool,
        /// Weigh tasks by `effort`, by `recorded` durations, or `auto` (recorded, else effort)
        #[arg(long, value_enum, default_value = "auto")]
        weights: CliWeights,
    },
    /// Print the TASK_INSTRUCTION.md a task's agent gets, without running anything
    Show {
        /// The task id
        #[arg(value_name = "TASK")]
        task: String,
    },
    /// Print a task's log (what its last run printed); `-f` follows it while a build runs
    Logs {
        /// The task id
        #[arg(value_name = "TASK", add = ArgValueCompleter::new(complete_targets))]
        task: String,
        /// Keep printing what the task writes until the build running it ends (as
        /// `tail -f`)
        #[arg(short = 'f', long)]
        follow: bool,
        /// Print only the last LINES lines (with -f: then what is appended)
        #[arg(short = 'n', long = "lines", value_name = "LINES")]
        lines: Option<usize>,
        /// The config file; after `logs`, `-f` means --follow, so name it `--file` here
        /// (or `-f FILE` before `logs`)
        // Shadows the global `-f/--file` (clap does not propagate a global arg to a
        // subcommand with an arg of the same id), so that `-f` is free for --follow;
        // the value still reaches `Cli::file`.
        #[arg(long = "file", id = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// The last run as a Markdown execution log (default: on stdout) or a Gantt page
    Report {
        /// Write the Markdown execution log to FILE (`-`: standard output)
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// Write a self-contained HTML page with a Gantt chart to FILE
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Report this run record instead of the newest in .cache/runs/
        #[arg(long, value_name = "FILE")]
        run: Option<PathBuf>,
    },
    /// Print the dependency graph (of TARGETs and what they need, or of every task)
    Graph {
        /// Task ids, groups, or `all`
        #[arg(value_name = "TARGET", add = ArgValueCompleter::new(complete_targets))]
        targets: Vec<String>,
        /// Output format [default: dot; json with --json]
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
    /// Write tasks.toml and a Markdown spec from another tool's plan
    #[command(subcommand)]
    Import(ImportArg),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: ShellArg,
    },
}

#[derive(Debug, Subcommand)]
enum CacheArg {
    /// Entries, blobs, size, and the last build's hit rate (--remote: the remote's too)
    Stats {
        /// Also ask the remote cache (only then is it asked): whether it answers and how
        /// fast, how many of the last results it holds, its entries, blobs and size
        #[arg(long)]
        remote: bool,
    },
    /// Evict least recently used entries until the cache fits (never what the current
    /// state needs)
    Gc {
        /// The bound, e.g. 500M or 2G (default: `[cache] max_size`, else 10 GiB)
        #[arg(long = "max-size", value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
    /// Rehash every blob; drop corrupt blobs and entries that cannot be restored
    Verify,
    /// Upload the local results of TARGETs (default: all) to the remote cache
    Push {
        /// Task ids, groups, or `all`
        #[arg(value_name = "TARGET", add = ArgValueCompleter::new(complete_targets))]
        targets: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ImportArg {
    /// A Task Master plan: tasks.toml plus docs/taskmaster.md, a section per task
    Taskmaster {
        /// Task Master's tasks file
        #[arg(value_name = "PATH", default_value = crate::commands::import::DEFAULT_PATH)]
        path: PathBuf,
        /// The tag to import [default: master, or the only tag]
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        /// Replace an existing tasks.toml and docs/taskmaster.md
        #[arg(long)]
        force: bool,
        /// Import cancelled and deferred tasks too
        #[arg(long = "include-cancelled")]
        include_cancelled: bool,
    },
}

fn parse_size(text: &str) -> Result<u64, String> {
    crate::units::parse_size(text).ok_or_else(|| format!("`{text}` is not a size (try 500M or 2G)"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Dot,
    Mermaid,
    Json,
}

/// What `--explain` lists.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExplainArg {
    /// The tasks that run, are restored, checked again or fail
    Changed,
    /// Those and the fresh tasks
    All,
}

impl ExplainArg {
    fn level(self) -> Explain {
        match self {
            ExplainArg::Changed => Explain::Changed,
            ExplainArg::All => Explain::All,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Print the script that registers `shell`'s completions: they call back into conduct
/// (clap_complete's dynamic completion, `COMPLETE=<shell> conduct`), so task and group
/// ids complete from the tasks.toml of the directory the shell is in.
fn write_completions(shell: &ShellArg, out: &mut dyn Write) -> std::io::Result<()> {
    let name = match shell {
        ShellArg::Bash => "bash",
        ShellArg::Zsh => "zsh",
        ShellArg::Fish => "fish",
        ShellArg::Elvish => "elvish",
        ShellArg::Powershell => "powershell",
    };
    match Shells::builtins().completer(name) {
        Some(completer) => {
            completer.write_registration("COMPLETE", "conduct", "conduct", "conduct", out)
        }
        None => Ok(()),
    }
}

/// Task ids, group names and `all` starting with what was typed, from the project found
/// from the current directory (nothing when there is none or it does not load).
fn complete_targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(typed) = current.to_str() else {
        return Vec::new();
    };
    let Ok(project) = Locator::default().load() else {
        return Vec::new();
    };
    let spec = &project.loaded.spec;
    std::iter::once("all")
        .chain(spec.tasks.iter().map(|t| t.id.as_str()))
        .chain(spec.groups.iter().map(|g| g.name.as_str()))
        .filter(|name| name.starts_with(typed))
        .map(CompletionCandidate::new)
        .collect()
}

/// The plain options of a parsed command line (`Err(0)`: completions, already printed;
/// `Err(2)`: a usage error clap could not see, already printed).
fn options(cli: Cli) -> Result<Options, i32> {
    let json = cli.json;
    let command = match cli.command {
        CliCommand::Build {
            build,
            dry_run,
            force,
            fail_fast,
            discard_edits,
            executor,
            fresh_session,
            budget_usd,
        } => Command::Build(BuildOptions {
            dry_run,
            force,
            fail_fast,
            discard_edits,
            executor: executor
                .as_deref()
                .and_then(crate::spec::placement::ExecutorKind::parse),
            fresh_session,
            budget_usd,
            ..build.options(json)
        }),
        CliCommand::Watch { build, clear } => Command::Watch(crate::watch::WatchOptions {
            build: build.options(json),
            clear,
        }),
        CliCommand::Accept { targets } => Command::Accept { targets },
        CliCommand::Status => Command::Status,
        CliCommand::Ready => Command::Ready,
        CliCommand::Merge { .. } if json => {
            return Err(usage(
                "merge prints a line per task; `--json` does not apply",
            ));
        }
        CliCommand::Merge {
            retry_conflicts: true,
            all_passed: false,
            ..
        } => {
            return Err(usage(
                "--retry-conflicts sends back what the merge queue stops: use it with \
                 --all-passed",
            ));
        }
        CliCommand::Merge {
            tasks,
            all_passed,
            squash,
            retry_conflicts,
        } => Command::Merge(crate::commands::merge::MergeOptions {
            tasks,
            squash,
            all_passed,
            retry_conflicts,
        }),
        CliCommand::Diff { .. } if json => {
            return Err(usage(
                "diff prints git's stat and patch; `--json` does not apply",
            ));
        }
        CliCommand::Diff { task, stat } => Command::Diff { task, stat },
        CliCommand::Clean {
            outputs,
            cache,
            all,
            worktrees,
            branches,
        } => Command::Clean(CleanOptions {
            outputs: outputs || all,
            cache: cache || all,
            worktrees,
            branches,
        }),
        CliCommand::Cache(command) => Command::Cache(match command {
            CacheArg::Stats { remote } => CacheCommand::Stats { remote },
            CacheArg::Gc { max_size } => CacheCommand::Gc {
                max_bytes: max_size,
            },
            CacheArg::Verify => CacheCommand::Verify,
            CacheArg::Push { targets } => CacheCommand::Push { targets },
        }),
        CliCommand::Check => Command::Check,
        CliCommand::List => Command::List,
        CliCommand::Init => Command::Init,
        CliCommand::Show { task } => Command::Show { task },
        CliCommand::Logs {
            task,
            follow,
            lines,
            file: _,
        } => {
            if json && follow {
                return Err(usage(
                    "`logs --follow` prints the log as it grows and `--json` prints it once; leave out one of them",
                ));
            }
            Command::Logs(LogsOptions {
                task,
                follow,
                lines,
            })
        }
        CliCommand::Report {
            markdown,
            html,
            run,
        } => {
            if json && markdown.as_deref() == Some(std::path::Path::new("-")) {
                return Err(usage(
                    "`--markdown -` and `--json` both want standard output; give --markdown a FILE",
                ));
            }
            Command::Report(ReportOptions {
                markdown,
                html,
                run,
            })
        }
        CliCommand::Plan {
            targets,
            jobs,
            all,
            by_group,
            weights,
        } => Command::Plan(PlanOptions {
            targets,
            jobs: jobs.map(|j| j as usize),
            all,
            by_group,
            json,
            weights: match weights {
                CliWeights::Auto => Weights::Auto,
                CliWeights::Effort => Weights::Effort,
                CliWeights::Recorded => Weights::Recorded,
            },
        }),
        CliCommand::Graph { targets, format } => Command::Graph {
            targets,
            format: match (format, json) {
                (Some(FormatArg::Json) | None, true) => GraphFormat::Json,
                (Some(_), true) => {
                    return Err(usage(
                        "`--json` prints the graph as JSON; leave out --format or use --format json",
                    ));
                }
                (Some(FormatArg::Dot) | None, false) => GraphFormat::Dot,
                (Some(FormatArg::Mermaid), false) => GraphFormat::Mermaid,
                (Some(FormatArg::Json), false) => GraphFormat::Json,
            },
        },
        CliCommand::Import(ImportArg::Taskmaster {
            path,
            tag,
            force,
            include_cancelled,
        }) => Command::Import(crate::commands::import::ImportOptions {
            path: Some(path),
            tag,
            force,
            include_cancelled,
        }),
        CliCommand::Completions { shell } => {
            if json {
                return Err(usage(
                    "completions print a shell script; `--json` does not apply",
                ));
            }
            let _ = write_completions(&shell, &mut std::io::stdout().lock());
            return Err(0);
        }
    };
    Ok(Options {
        locator: Locator {
            directory: cli.directory,
            file: cli.file,
            vars: cli.vars,
            remote: cli.remote_cache,
            remote_mode: cli.remote_cache_mode.map(|mode| match mode {
                RemoteModeArg::Off => RemoteMode::Off,
                RemoteModeArg::Read => RemoteMode::Read,
                RemoteModeArg::Readwrite => RemoteMode::ReadWrite,
            }),
        },
        json,
        command,
    })
}

/// Print a usage error clap's own checks cannot express; its exit code.
fn usage(message: &str) -> i32 {
    let _ = Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .print();
    crate::error::EXIT_USAGE
}

/// `--remote-cache-mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RemoteModeArg {
    Off,
    Read,
    Readwrite,
}

/// `plan --weights`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CliWeights {
    Auto,
    Effort,
    Recorded,
}

/// `--var NAME=VALUE`.
fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!(
            "`{text}` is not NAME=VALUE (e.g. --var cflags=-O2)"
        )),
    }
}

/// Parse the arguments; on `--help`, `--version` or a usage error, the exit code clap
/// asks for after printing its message.
pub(crate) fn parse<I, T>(args: I) -> Result<Options, i32>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // `COMPLETE=<shell> conduct ...`: the shell asks for completions (see
    // `write_completions`); answered on stdout, and that is the whole run.
    let completing = CompleteEnv::with_factory(Cli::command)
        .try_complete(args.clone(), std::env::current_dir().ok().as_deref());
    match completing {
        Ok(true) => return Err(0),
        Ok(false) => {}
        Err(e) => {
            let _ = e.print();
            return Err(crate::error::EXIT_USAGE);
        }
    }
    match Cli::try_parse_from(args) {
        Ok(cli) => options(cli),
        Err(e) => {
            let _ = e.print();
            Err(if e.use_stderr() {
                crate::error::EXIT_USAGE
            } else {
                0
            })
        }
    }
}

/// `--budget-usd`: a positive number of dollars.
fn usd(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd > 0.0 => Ok(usd),
        _ => Err(format!(
            "`{text}` is not a positive amount of dollars (e.g. 20 or 2.5)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
