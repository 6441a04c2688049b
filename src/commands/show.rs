//! `conduct show TASK`: the task's TASK_INSTRUCTION.md, exactly as its agent would get it
//! now, for a human to review before dispatching hours of agent work. Nothing is run,
//! hashed or written. `--json`: `{"task", "instruction"}`.

use crate::commands::{Stdout, json_line};
use crate::error::Error;
use crate::instruction;
use crate::project::Locator;
use crate::spec::section::Outline;
use crate::suggest::did_you_mean;

/// `--json`: `{"task": ID, "instruction": TEXT}`.
#[derive(serde::Serialize)]
struct JsonShow<'a> {
    task: &'a str,
    instruction: &'a str,
}

pub(crate) fn run(
    locator: &Locator,
    task: &str,
    json: bool,
    out: &mut Stdout,
) -> Result<i32, Error> {
    let (_, root) = locator.locate()?;
    let project = locator.load()?;
    let loaded = &project.loaded;
    let spec = &loaded.spec;
    let Some(idx) = spec.find_task(task) else {
        return Err(Error::UnknownTarget {
            target: task.to_owned(),
            suggestion: did_you_mean(task, spec.tasks.iter().map(|t| t.id.as_str())),
        });
    };
    let text = instruction::render(spec, &loaded.graph, &loaded.rules, idx, &|file, section| {
        let text = std::fs::read_to_string(file.to_path(&root)).ok()?;
        let range = Outline::parse(&text).find(section).ok()?;
        Some(text[range].to_owned())
    });
    if json {
        out.write(&json_line(&JsonShow {
            task: spec.task(idx).id.as_str(),
            instruction: &text,
        }))?;
    } else {
        out.write(&text)?;
    }
    Ok(0)
}
