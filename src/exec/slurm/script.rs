//! The job script a task's job becomes: the command, with the job's environment and
//! working directory, its output in the task's log, its exit status in a file conduct
//! reads when the job has left the queue (there is no accounting database to ask).

use std::io;
use std::path::{Path, PathBuf};

use crate::exec::{Job, Output};
use crate::spec::template::shell_quote;

/// `<stem>.<suffix>`, by appending: a task id may hold dots, which `with_extension`
/// would take for an extension to replace.
pub(super) fn beside(stem: &Path, suffix: &str) -> PathBuf {
    let mut path = stem.as_os_str().to_owned();
    path.push(".");
    path.push(suffix);
    PathBuf::from(path)
}

/// Write `<stem>.sh` for `job`; its path, the status file's and the stdout file's (used
/// with `Output::Capture`).
pub(super) fn write(job: &Job, stem: &Path) -> io::Result<(PathBuf, PathBuf, PathBuf)> {
    let script = beside(stem, "sh");
    let status = beside(stem, "status");
    let stdout = beside(stem, "stdout");
    let text = text(job, &status, &stdout);
    // A leftover from an earlier build with the same attempt number must not be read
    // as this job's.
    let _ = std::fs::remove_file(&status);
    crate::atomic::write(&script, text.as_bytes())?;
    Ok((script, status, stdout))
}

fn quoted(path: &Path) -> String {
    shell_quote(&path.to_string_lossy()).into_owned()
}

fn text(job: &Job, status: &Path, stdout: &Path) -> String {
    let mut text = String::from("#!/bin/sh\n# Written by conduct for task ");
    text.push_str(&job.label);
    text.push_str("; runs on the node Slurm picks.\n");
    text.push_str(&format!("cd {} || exit 1\n", quoted(&job.cwd)));
    for (name, value) in &job.env {
        text.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    let command: Vec<String> = job
        .argv
        .iter()
        .map(|arg| shell_quote(arg).into_owned())
        .collect();
    let redirect = match &job.output {
        Output::Log { path, .. } => format!("> {} 2>&1", quoted(path)),
        Output::Capture => format!("> {} 2>/dev/null", quoted(stdout)),
    };
    let stdin = job
        .stdin
        .as_deref()
        .map_or_else(|| "/dev/null".to_owned(), quoted);
    text.push_str(&format!("{} {redirect} < {stdin}\n", command.join(" ")));
    let tmp = beside(status, "tmp");
    text.push_str(&format!(
        "echo $? > {tmp} && mv {tmp} {status}\n",
        tmp = quoted(&tmp),
        status = quoted(status)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_runs_the_command_in_its_directory_with_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let job = Job {
            label: "t1".into(),
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo \"$GREETING\" \"it's\" $PWD".into(),
            ],
            cwd: dir.path().to_path_buf(),
            env: vec![("GREETING".into(), "hello 'world'".into())],
            output: Output::Log {
                path: dir.path().join("t1.log"),
                stream: false,
            },
            timeout: None,
            task: true,
            on_cluster: None,
            stdin: None,
        };
        let (script, status, _) = write(&job, &dir.path().join("t.v1.2")).unwrap();
        assert!(script.ends_with("t.v1.2.sh"), "{}", script.display());
        let ran = std::process::Command::new("sh")
            .arg(&script)
            .status()
            .unwrap();
        assert!(ran.success());
        let log = std::fs::read_to_string(dir.path().join("t1.log")).unwrap();
        assert_eq!(
            log,
            format!("hello 'world' it's {}\n", dir.path().display())
        );
        assert_eq!(std::fs::read_to_string(status).unwrap(), "0\n");
    }
}
