//! `conduct init`: start a project in the current directory (or `-C DIR`): a commented
//! tasks.toml (or the `-f FILE` name) with one example task, a project rule in `rules/`
//! that the task uses, and `.cache/` in `.gitignore` (made if missing, never twice).
//! An existing config is never overwritten (exit 2), an existing rule file is kept, and
//! the files written pass `conduct check` and build as they are.
//! `--json`: `{"files": [{"path", "action"}]}`, `action` one of `created`, `appended`,
//! `kept`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::commands::{Stdout, json_line};
use crate::error::Error;
use crate::project::Locator;

/// The starter tasks.toml.
const TASKS_TOML: &str = r#"# tasks.toml: the work of this project, for conduct.
#
# Each [tasks.ID] declares what it reads (inputs), what it writes (outputs) and the
# command that makes them (run). `conduct build` runs the tasks whose inputs, command or
# outputs changed since their last run (and what that reaches downstream), restores
# outputs from the cache in .cache/ when it can, and `--explain` says why.
#
#   conduct check      validate this file and rules/
#   conduct list       the tasks and their status
#   conduct build      run what is stale (`conduct build hello` for one task)
#   conduct plan       waves, critical path and makespan from each task's effort

# [project]
# jobs = 4                          # at most this many tasks at once (default: cores)

# [groups.docs]                     # a group: `conduct build docs` builds its tasks
# title = "Documentation"

[tasks.hello]
title   = "Write a greeting"
# group = "docs"
# deps  = ["other"]                 # run after these (reading another task's output
                                    # is a dependency without saying so)
inputs  = ["src/**/*.txt"]          # files, globs, or one section: "docs/spec.md#Intro"
outputs = ["out/hello.txt"]         # files (or directories, ending in `/`) it writes
run     = "mkdir -p out && echo 'hello from conduct' > out/hello.txt"
checks  = ["non_empty", "no_todo"]  # rules its outputs must pass: built-in ones and
                                    # rules/<name>.toml
# effort  = "30m"                   # an estimate, for `conduct plan`
# timeout = "10m"
"#;

/// The example project rule the starter task names.
const RULE_NAME: &str = "rules/no_todo.toml";
const RULE: &str = r#"# A project rule: a check that the outputs of the tasks naming it in `checks` must
# pass. This one looks for a regex; `run = "..."` runs a command per output instead
# (pass = exit 0; the file is in $CONDUCT_OUTPUT).
description = "No TODO left in the outputs"
applies_to  = ["**/*.txt"]          # which outputs it checks (default: all of them)
pattern     = 'TODO'                # a regex (Rust syntax) over each output
forbid      = true                  # true: must not match; false: must match
required    = false                 # false: a failure is only a warning
"#;

/// The line `.gitignore` gets.
const IGNORE: &str = ".cache/";

/// What happened to one file.
#[derive(serde::Serialize)]
struct Written {
    path: String,
    action: &'static str,
}

#[derive(serde::Serialize)]
struct Initialised {
    files: Vec<Written>,
}

pub(crate) fn run(locator: &Locator, json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let crate::project::NewConfig {
        name, config, root, ..
    } = locator.new_config()?;
    let write_error = |path: &Path, source| Error::Init {
        path: path.to_path_buf(),
        source,
    };
    // Made only if absent (`create_new`): an existing config is refused, never replaced.
    match create_new(&config, TASKS_TOML) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::ConfigExists { path: config });
        }
        Err(e) => return Err(write_error(&config, e)),
    }
    let mut files = vec![Written {
        path: name.display().to_string(),
        action: "created",
    }];
    let rule = root.join(RULE_NAME);
    let created = fs::create_dir_all(root.join("rules"))
        .and_then(|()| not_a_symlink(&root.join("rules")))
        .and_then(|()| create_new(&rule, RULE))
        .map(|()| true)
        .or_else(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::IsADirectory
            ) {
                Ok(false)
            } else {
                Err(e)
            }
        })
        .map_err(|e| write_error(&rule, e))?;
    files.push(Written {
        path: RULE_NAME.to_owned(),
        action: if created { "created" } else { "kept" },
    });
    let ignore = root.join(".gitignore");
    let action = gitignore(&ignore).map_err(|e| write_error(&ignore, e))?;
    files.push(Written {
        path: ".gitignore".to_owned(),
        action,
    });
    if json {
        out.write(&json_line(&Initialised { files }))?;
        return Ok(0);
    }
    let mut text = String::new();
    for file in &files {
        text.push_str(&match (file.action, file.path.as_str()) {
            ("kept", path) => format!("kept {path} (it exists)\n"),
            ("appended", path) => format!("added {IGNORE} to {path}\n"),
            (_, ".gitignore") => format!("created .gitignore ({IGNORE})\n"),
            (action, path) => format!("{action} {path}\n"),
        });
    }
    text.push_str("next: `conduct check`, then `conduct build`\n");
    out.write(&text)?;
    Ok(0)
}

/// Write `text` to `path`, which must not exist yet.
fn create_new(path: &Path, text: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// A symlink is never written through (it could lead out of the project): such a `rules`
/// or `.gitignore` is left as it is.
fn not_a_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::ErrorKind::AlreadyExists.into()),
        _ => Ok(()),
    }
}

/// Make sure `.gitignore` ignores the cache: `created`, `appended` or `kept` (a line
/// already ignores it).
fn gitignore(path: &Path) -> io::Result<&'static str> {
    if not_a_symlink(path).is_err() {
        return Ok("kept");
    }
    let existing = match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let Some(existing) = existing else {
        create_new(path, &format!("{IGNORE}\n"))?;
        return Ok("created");
    };
    let ignored = existing
        .lines()
        .map(str::trim)
        .any(|line| matches!(line, ".cache" | ".cache/" | "/.cache" | "/.cache/"));
    if ignored {
        return Ok("kept");
    }
    let separator = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(format!("{separator}{IGNORE}\n").as_bytes())?;
    Ok("appended")
}
