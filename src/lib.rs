//! conduct: a declarative, incremental task planner and runner.
//!
//! A project declares its work in `tasks.toml`: what each task reads (files, globs,
//! sections of Markdown specs), what it writes, the command that does it and the rules
//! its outputs must pass. This crate is the whole tool; `main.rs` only calls [`run`].
//!
//! How a command flows: `cli` parses arguments into plain `Options`; `project` finds and
//! loads tasks.toml (`spec`: `raw` → `validate` → `disk`) and `rules/`, and builds the
//! `graph`; a module of `commands` does the work and writes to stdout; any error goes
//! through the one renderer in `error`.

mod agent;
mod atomic;
#[doc(hidden)]
pub mod bench;
mod build;
mod cache;
mod cli;
mod commands;
mod confined;
mod cores;
mod critical;
mod db;
pub(crate) mod depfile;
mod discovered;
mod error;
mod estimate;
mod exec;
mod explain;
mod fresh;
#[doc(hidden)]
pub mod fuzz;
mod graph;
mod hash;
mod instruction;
mod json;
mod lock;
mod presized;
mod project;
#[doc(hidden)]
pub mod remote_probe;
mod report;
mod rules;
mod scan;
mod sealed;
mod session;
mod source;
mod spec;
mod spec_cache;
mod state;
mod suggest;
mod text;
mod units;
mod watch;

use std::ffi::OsString;

/// Run conduct with these arguments (the first is the program name) and return the
/// process exit code. Holds no global state, so it can be called more than once.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // The watchdog a build starts (`exec::reaper`): not a command for users.
    if let [_, command, token] = &args[..]
        && command == exec::reaper::WATCHDOG_COMMAND
    {
        return exec::reaper::watchdog_main(&token.to_string_lossy());
    }
    let options = match cli::parse(args) {
        Ok(options) => options,
        Err(code) => return code,
    };
    match commands::execute(&options) {
        Ok(code) => code,
        Err(e) => {
            let _ = error::render(&e, &mut anstream::stderr().lock());
            e.code()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_can_be_called_more_than_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tasks.toml"), "[tasks.a]\n").unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(super::run(["conduct", "-C", path, "check"]), 0);
        assert_eq!(super::run(["conduct", "-C", path, "check"]), 0);
        assert_eq!(super::run(["conduct", "-C", path, "list", "--bogus"]), 2);
    }
}
