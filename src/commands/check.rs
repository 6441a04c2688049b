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

/// Tasks with a command that nothing can make stale: no inputs of their own, no
/// dependencies, not `always`. They run once and then stay fresh forever.
fn never_rerun(project: &project::Project) -> Vec<String> {
    let loaded = &project.loaded;
    loaded
        .spec
        .task_indices()
        .filter_map(|task| {
            let t = loaded.spec.task(task);
            let reads = t.inputs.iter().any(|i| !i.shared);
            let stale_never = t.run.is_some()
                && !t.always
                && !reads
                && loaded.graph.task_deps(task).is_empty();
            stale_never.then(|| {
                format!(
                    "task `{}` has a command but no inputs: it runs once and then stays fresh; list what it reads in `inputs`, or set `always = true` to run it on every build",
                    t.id
                )
            })
        })
        .collect()
}

pub(crate) fn run(locator: &Locator, json: bool, out: &mut Stdout) -> Result<i32, Error> {
    let (config, root) = locator.locate()?;
    // Errors, `--json` or not, go through the one renderer (`error::render_json`).
    let project = project::load(&config, &root, &locator.vars, Checks::ConfigAndDisk)?;
    for note in &project.loaded.spec.notes {
        crate::report::warn(note);
    }
    for note in never_rerun(&project) {
        crate::report::warn(&note);
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

pub(crate) use crate::json::to_json;
