//! `conduct check`: validate tasks.toml and rules/ completely, like the original
//! dispatcher's `--validate-only`. Beyond what every command checks on load, it also
//! asks the disk about every task (missing inputs, sections, symlinks), then prints one
//! summary line. `--json` prints the same as an object; errors come as
//! `{"ok": false, "kind": "config", "errors": [{file, line, column, message, help}]}`
//! (`error::render_json`, shared by every command), for editors.

use serde::Serialize;

use crate::commands::Stdout;
use crate::error::Error;
use crate::project::{self, Checks, Locator};

#[derive(Serialize)]
struct Summary {
    ok: bool,
    tasks: usize,
    groups: usize,
    edges: usize,
    barriers: usize,
    rules: usize,
}

pub(crate) fn run(locator: &Locator, json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let (config, root) = locator.locate()?;
    // Errors, `--json` or not, go through the one renderer (`error::render_json`).
    let project = project::load(&config, &root, &locator.vars, Checks::ConfigAndDisk)?;
    for note in &project.loaded.spec.notes {
        crate::report::warn(note);
    }
    let summary = Summary {
        ok: true,
        tasks: project.loaded.spec.tasks.len(),
        groups: project.loaded.spec.groups.len(),
        edges: project.loaded.graph.edge_count(),
        barriers: project.loaded.graph.barrier_count(),
        rules: project.loaded.rules.project_rules().count(),
    };
    if json {
        out.write(&format!("{}\n", to_json(&summary)))?;
    } else {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let mut line = format!(
            "ok: {}, {}, {}",
            plural(summary.tasks, "task"),
            plural(summary.groups, "group"),
            plural(summary.edges, "edge"),
        );
        if summary.barriers > 0 {
            line.push_str(&format!(", {}", plural(summary.barriers, "group barrier")));
        }
        line.push_str(&format!(", {}\n", plural(summary.rules, "rule")));
        out.write(&line)?;
    }
    Ok(0)
}

/// Serialising plain structs of strings and numbers cannot fail.
pub(crate) fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
