//! `conduct show TASK`: the task's TASK_INSTRUCTION.md, exactly as its agent would get it
//! now, for a human to review before dispatching hours of agent work. Nothing is run,
//! hashed or written.

use crate::commands::Stdout;
use crate::error::Error;
use crate::instruction;
use crate::project::Locator;
use crate::spec::section::Outline;
use crate::suggest::did_you_mean;

pub(crate) fn run(locator: &Locator, task: &str, out: &mut Stdout) -> Result<i32, Error> {
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
    out.write(&text)?;
    Ok(0)
}
