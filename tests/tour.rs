//! The README's two-minute tour, run as written: every `$ ` line of its console blocks
//! in order, in a copy of the shipped example, and every line the README shows under
//! a command must be in what that command printed (timings, counters, digests and
//! dates aside; `...` stands for lines left out). A README that drifts from conduct
//! fails here.

use std::process::Command;

use regex::Regex;

use crate::example::example_copy;

/// The tour: `(command, lines the README shows it printing)`, in order.
fn steps() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme.find("## A two-minute tour").expect("the tour");
    let end = start
        + readme[start..]
            .find("\n## tasks.toml")
            .expect("the end of the tour");
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_console = false;
    for line in readme[start..end].lines() {
        match line.trim_end() {
            "```console" => in_console = true,
            "```" => in_console = false,
            _ if !in_console => {}
            command if command.starts_with("$ ") => {
                steps.push((command[2..].to_owned(), Vec::new()));
            }
            "..." => {}
            shown => {
                if let Some((_, lines)) = steps.last_mut() {
                    lines.push(shown.to_owned());
                }
            }
        }
    }
    steps
}

/// What varies between runs: counters (parallel order), timings, digests, dates.
fn normalise(text: &str) -> String {
    let rules = [
        (r"\[\s*\d+/\d+\]", "[n/N]"),
        (r"\(\d+\.\d+s\)", "(t)"),
        (r" in \d+\.\d+s", " in t"),
        (r"[0-9a-f]{6}…", "h…"),
        (r"\d{4}-\d\d-\d\dT[0-9:.]+Z", "DATE"),
    ];
    let mut text = text.trim_end().to_owned();
    for (pattern, by) in rules {
        let re = Regex::new(pattern).expect("a valid pattern");
        text = re.replace_all(&text, by).into_owned();
    }
    text
}

#[test]
fn the_readme_tour_prints_what_it_shows() {
    let project = example_copy();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(crate::test::binary(), bin.path().join("conduct")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let steps = steps();
    assert!(steps.len() >= 10, "the tour has its commands: {steps:?}");
    for (command, shown) in steps {
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("{command} 2>&1"))
            .current_dir(project.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .expect("run sh");
        let printed = String::from_utf8_lossy(&output.stdout);
        let printed: Vec<String> = printed.lines().map(normalise).collect();
        for line in &shown {
            let line = normalise(line);
            assert!(
                printed.contains(&line),
                "`{command}` did not print\n  {line}\nit printed:\n{}",
                printed.join("\n")
            );
        }
    }
}
