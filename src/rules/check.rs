//! Running one rule against a task's outputs (SPEC §5).
//!
//! Runs on a worker thread with plain data: the rule, the output files it applies to,
//! where the project is. Built-ins look at the files themselves; a `pattern` rule
//! searches each file and reports the first offending line; a `run` rule runs its
//! command once per file (`CONDUCT_OUTPUT`, `CONDUCT_TASK`) through the executor,
//! bounded by the task's timeout and by Ctrl-C, and may gate a printed metric. The
//! result says whether it may be cached: a verdict on the files is; a timeout or an
//! interruption is not.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::exec::{Executor, Exit, Job, Output};
use crate::hash::Digest;
use crate::rules::{Gate, Rule, RuleCheck};

/// The verdict of one rule on one task's outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckResult {
    pub(crate) passed: bool,
    /// Why it failed (empty when it passed).
    pub(crate) message: String,
    /// The gated metric's value, for gates.
    pub(crate) metric: Option<f64>,
}

impl CheckResult {
    fn pass(metric: Option<f64>) -> CheckResult {
        CheckResult {
            passed: true,
            message: String::new(),
            metric,
        }
    }

    fn fail(message: String) -> CheckResult {
        CheckResult {
            passed: false,
            message,
            metric: None,
        }
    }
}

/// A check's result and whether it is a verdict on the files (cacheable) or an accident
/// of this run (a timeout, Ctrl-C, a command that could not start).
#[derive(Clone, Debug)]
pub(crate) struct Evaluated {
    pub(crate) result: CheckResult,
    pub(crate) cacheable: bool,
}

/// Where and how a check runs.
pub(crate) struct Context<'a> {
    pub(crate) root: &'a Path,
    pub(crate) task: &'a str,
    pub(crate) shell: &'a [String],
    /// The log of a `run` rule's command.
    pub(crate) log: PathBuf,
    pub(crate) deadline: Option<Instant>,
    /// Runs the commands (and stops them on Ctrl-C).
    pub(crate) executor: &'a dyn Executor,
}

/// The digest of a rule's definition: what a check's cache key starts from.
pub(crate) fn rule_digest(rule: &Rule) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(rule.name.as_bytes());
    hasher.update(&[0]);
    match &rule.source {
        Some(source) => hasher.update(source.text().as_bytes()),
        None => hasher.update(concat!("built-in ", env!("CARGO_PKG_VERSION")).as_bytes()),
    };
    hasher.finalize().into()
}

/// The cache key of a check: the rule's definition and the digests of the files it looks
/// at, so editing a rule reruns its checks and nothing else.
pub(crate) fn check_key(rule: Digest, files: &[(String, Digest)]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"conduct check 1\0");
    hasher.update(&rule.0);
    for (path, digest) in files {
        hasher.update(path.as_bytes());
        hasher.update(&[0]);
        hasher.update(&digest.0);
    }
    hasher.finalize().into()
}

/// Run `rule` on `files` (project-relative paths).
pub(crate) fn run(rule: &Rule, files: &[String], context: &Context<'_>) -> Evaluated {
    let verdict = |result| Evaluated {
        result,
        cacheable: true,
    };
    match &rule.check {
        RuleCheck::Builtin(name) => verdict(builtin(name, files, context.root)),
        RuleCheck::Pattern { regex, forbid } => {
            verdict(pattern(regex, *forbid, files, context.root))
        }
        RuleCheck::Run(command) => run_command(command, rule.gate.as_ref(), files, context),
    }
}

fn builtin(name: &str, files: &[String], root: &Path) -> CheckResult {
    for file in files {
        let bytes = match std::fs::read(root.join(file)) {
            Ok(bytes) => bytes,
            Err(e) => return CheckResult::fail(format!("{file}: {e}")),
        };
        let problem = match name {
            "non_empty" => bytes.is_empty().then(|| "is empty".to_owned()),
            "json" => serde_json::from_slice::<serde_json::Value>(&bytes)
                .err()
                .map(|e| format!("is not JSON: {e}")),
            _ => match std::str::from_utf8(&bytes) {
                Err(_) => Some("is not UTF-8 text".to_owned()),
                Ok(text) => text
                    .parse::<toml::Table>()
                    .err()
                    .map(|e| format!("is not TOML: {}", e.message().trim())),
            },
        };
        if let Some(problem) = problem {
            return CheckResult::fail(format!("{file} {problem}"));
        }
    }
    CheckResult::pass(None)
}

fn pattern(regex: &regex::Regex, forbid: bool, files: &[String], root: &Path) -> CheckResult {
    for file in files {
        let text = match std::fs::read(root.join(file)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => return CheckResult::fail(format!("{file}: {e}")),
        };
        match (regex.find(&text), forbid) {
            (Some(found), true) => {
                let line = text[..found.start()].matches('\n').count() + 1;
                let start = text[..found.start()].rfind('\n').map_or(0, |i| i + 1);
                let end = text[found.start()..]
                    .find('\n')
                    .map_or(text.len(), |i| found.start() + i);
                let mut shown: String = text[start..end].trim().chars().take(120).collect();
                if text[start..end].trim().chars().count() > 120 {
                    shown.push('…');
                }
                return CheckResult::fail(format!("{file}:{line}: {shown}"));
            }
            (None, false) => {
                return CheckResult::fail(format!("{file}: no match for `{}`", regex.as_str()));
            }
            _ => {}
        }
    }
    CheckResult::pass(None)
}

fn run_command(
    command: &str,
    gate: Option<&Gate>,
    files: &[String],
    context: &Context<'_>,
) -> Evaluated {
    let mut metric = None;
    for file in files {
        let outcome = match run_once(command, file, context) {
            Ok(outcome) => outcome,
            Err(error) => {
                return Evaluated {
                    result: CheckResult::fail(format!("{file}: {error}")),
                    cacheable: false,
                };
            }
        };
        let output = std::fs::read_to_string(&context.log).unwrap_or_default();
        match outcome {
            Ended::Exited(0) => {}
            Ended::Exited(code) => {
                return Evaluated {
                    result: CheckResult::fail(format!("{file}: exit code {code}{}", tail(&output))),
                    cacheable: true,
                };
            }
            Ended::Signalled | Ended::TimedOut | Ended::Cancelled => {
                let why = match outcome {
                    Ended::TimedOut => "timed out",
                    Ended::Cancelled => "interrupted",
                    _ => "killed by a signal",
                };
                return Evaluated {
                    result: CheckResult::fail(format!("{file}: {why}")),
                    cacheable: false,
                };
            }
        }
        if let Some(gate) = gate {
            let value = match metric_value(&output, &gate.metric) {
                Some(value) => value,
                None => {
                    return Evaluated {
                        result: CheckResult::fail(format!(
                            "{file}: printed no `metric {} <number>` line",
                            gate.metric
                        )),
                        cacheable: true,
                    };
                }
            };
            if let Some(min) = gate.min
                && value < min
            {
                return Evaluated {
                    result: CheckResult::fail(format!(
                        "{file}: {} {value} < min {min}",
                        gate.metric
                    )),
                    cacheable: true,
                };
            }
            if let Some(max) = gate.max
                && value > max
            {
                return Evaluated {
                    result: CheckResult::fail(format!(
                        "{file}: {} {value} > max {max}",
                        gate.metric
                    )),
                    cacheable: true,
                };
            }
            metric = Some(value);
        }
    }
    Evaluated {
        result: CheckResult::pass(metric),
        cacheable: true,
    }
}

/// The last `metric <name> <number>` line for `name`.
fn metric_value(output: &str, name: &str) -> Option<f64> {
    output.lines().rev().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("metric") && words.next() == Some(name))
            .then(|| words.next()?.parse::<f64>().ok())
            .flatten()
    })
}

/// The end of a command's output, indented, for a failure message.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.len().saturating_sub(5);
    lines[start..]
        .iter()
        .map(|l| format!("\n  | {l}"))
        .collect()
}

enum Ended {
    Exited(i32),
    Signalled,
    TimedOut,
    Cancelled,
}

/// Run the rule's command for one file through the executor, output to the check's
/// log, bounded by what is left of the deadline.
fn run_once(command: &str, file: &str, context: &Context<'_>) -> Result<Ended, String> {
    let mut argv = context.shell.to_vec();
    argv.push(command.to_owned());
    if let Some(dir) = context.log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let now = Instant::now();
    let finished = context.executor.run(Job {
        label: context.task.to_owned(),
        argv,
        cwd: context.root.to_path_buf(),
        env: vec![
            ("CONDUCT_OUTPUT".to_owned(), file.to_owned()),
            ("CONDUCT_TASK".to_owned(), context.task.to_owned()),
        ],
        output: Output::Log {
            path: context.log.clone(),
            stream: false,
        },
        timeout: context.deadline.map(|d| d.saturating_duration_since(now)),
        task: false,
        on_cluster: None,
        stdin: None,
    });
    Ok(match finished.exit {
        Exit::Success => Ended::Exited(0),
        Exit::Failed {
            code: Some(code), ..
        } => Ended::Exited(code),
        Exit::Failed { code: None, .. } => Ended::Signalled,
        Exit::TimedOut => Ended::TimedOut,
        Exit::Cancelled => Ended::Cancelled,
        Exit::SpawnFailed { error } | Exit::Lost { why: error } | Exit::Unknown { why: error } => {
            return Err(error);
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::source::SourceFile;

    fn rule(text: &str) -> Rule {
        crate::rules::parse("r", &SourceFile::new("rules/r.toml", text)).unwrap()
    }

    fn check(rule: &Rule, files: &[(&str, &str)]) -> Evaluated {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let names: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
        let executor = crate::exec::local::LocalExecutor::new();
        let shell = ["sh".to_owned(), "-c".to_owned()];
        run(
            rule,
            &names,
            &Context {
                root: dir.path(),
                task: "T1",
                shell: &shell,
                log: dir.path().join("check.log"),
                deadline: Some(Instant::now() + Duration::from_secs(5)),
                executor: &executor,
            },
        )
    }

    #[test]
    fn forbidden_patterns_report_the_first_offending_line() {
        let secrets = rule("pattern = '(?i)password\\s*=\\s*\"[^\"]+\"'\n");
        let result = check(
            &secrets,
            &[(
                "a.ts",
                "export const x = 1;\nconst password = \"hunter2\";\n",
            )],
        )
        .result;
        assert_eq!(result.message, "a.ts:2: const password = \"hunter2\";");
        assert!(!result.passed);
        assert!(
            check(&secrets, &[("a.ts", "export const x = 1;\n")])
                .result
                .passed
        );
        let required = rule("pattern = '^export'\nforbid = false\n");
        assert_eq!(
            check(&required, &[("b.ts", "const y = 2;\n")])
                .result
                .message,
            "b.ts: no match for `^export`"
        );
    }

    #[test]
    fn gates_compare_the_printed_metric_with_its_bounds() {
        let gate = rule("run = 'echo metric coverage 72.5'\nmetric = \"coverage\"\nmin = 80\n");
        let result = check(&gate, &[("c.txt", "x")]);
        assert_eq!(result.result.message, "c.txt: coverage 72.5 < min 80");
        assert!(result.cacheable);
        let ok =
            rule("run = 'echo noise; echo metric coverage 91'\nmetric = \"coverage\"\nmin = 80\n");
        assert_eq!(
            check(&ok, &[("c.txt", "x")]).result,
            CheckResult::pass(Some(91.0))
        );
        let missing = rule("run = 'true'\nmetric = \"coverage\"\nmax = 3\n");
        assert!(
            check(&missing, &[("c.txt", "x")])
                .result
                .message
                .contains("printed no `metric coverage <number>` line")
        );
    }

    #[test]
    fn run_rules_see_the_output_and_fail_with_the_tail() {
        let rule = rule(
            "run = 'grep -q needle \"$CONDUCT_OUTPUT\" || { echo \"no needle in $CONDUCT_OUTPUT for $CONDUCT_TASK\"; exit 3; }'\n",
        );
        assert!(check(&rule, &[("hay.txt", "a needle")]).result.passed);
        let failed = check(&rule, &[("hay.txt", "nothing")]).result;
        assert_eq!(
            failed.message,
            "hay.txt: exit code 3\n  | no needle in hay.txt for T1"
        );
    }

    #[test]
    fn a_hanging_check_is_bounded_and_not_cached() {
        let rule = rule("run = 'sleep 30'\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "x").unwrap();
        let executor = crate::exec::local::LocalExecutor::new();
        let shell = ["sh".to_owned(), "-c".to_owned()];
        let started = Instant::now();
        let result = run(
            &rule,
            &["x".to_owned()],
            &Context {
                root: dir.path(),
                task: "T1",
                shell: &shell,
                log: dir.path().join("check.log"),
                deadline: Some(Instant::now() + Duration::from_millis(200)),
                executor: &executor,
            },
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(result.result.message, "x: timed out");
        assert!(!result.cacheable);
    }

    #[test]
    fn builtins() {
        let set = crate::rules::RuleSet::default();
        let get = |name| set.iter().find(|r| r.name == name).unwrap();
        assert!(check(get("non_empty"), &[("a", "x")]).result.passed);
        assert_eq!(
            check(get("non_empty"), &[("a", "")]).result.message,
            "a is empty"
        );
        assert!(
            check(get("json"), &[("a.json", "{\"k\": [1]}")])
                .result
                .passed
        );
        assert!(
            check(get("json"), &[("a.json", "{")])
                .result
                .message
                .starts_with("a.json is not JSON")
        );
        assert!(check(get("toml"), &[("a.toml", "k = 1")]).result.passed);
        assert!(
            check(get("toml"), &[("a.toml", "k = ")])
                .result
                .message
                .starts_with("a.toml is not TOML")
        );
    }

    #[test]
    fn keys_follow_the_rule_text_and_the_files() {
        let a = rule("pattern = 'x'\n");
        let b = rule("pattern = 'y'\n");
        let files = vec![("out.txt".to_owned(), Digest::of(b"1"))];
        assert_ne!(
            check_key(rule_digest(&a), &files),
            check_key(rule_digest(&b), &files)
        );
        let other = vec![("out.txt".to_owned(), Digest::of(b"2"))];
        assert_ne!(
            check_key(rule_digest(&a), &files),
            check_key(rule_digest(&a), &other)
        );
        assert_eq!(
            check_key(rule_digest(&a), &files),
            check_key(rule_digest(&rule("pattern = 'x'\n")), &files)
        );
    }
}
