//! `Test`: build a temporary project, run the real binary in it, check what it printed
//! and how it exited. Modelled on just's `tests/test.rs`: a `#[must_use]` builder whose
//! expectations are checked by `#[track_caller]` `run`, with expected texts unindented
//! so tests can be written inline.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Remove the common indentation and the first line break of an inline text block.
pub(crate) fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.push_str(line.trim_start_matches([' ', '\t']));
        } else {
            out.push_str(&line[indent.min(line.len())..]);
        }
    }
    if out.ends_with('\n') {
        let trimmed = out.trim_end_matches([' ', '\t']).len();
        out.truncate(trimmed);
    }
    out
}

/// A temporary project and one invocation of `conduct` in it.
#[must_use]
pub(crate) struct Test {
    dir: TempDir,
    current_dir: PathBuf,
    args: Vec<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
    status: i32,
}

impl Test {
    pub(crate) fn new() -> Test {
        let dir = tempfile::Builder::new()
            .prefix("conduct-test")
            .tempdir()
            .expect("create a temporary directory");
        Test {
            current_dir: dir.path().to_path_buf(),
            dir,
            args: Vec::new(),
            stdout: None,
            stderr: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
            status: 0,
        }
    }

    /// The project directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `tasks.toml` (unindented).
    pub(crate) fn tasks_toml(self, text: &str) -> Test {
        self.file("tasks.toml", text)
    }

    /// Write a file under the project (unindented), creating parent directories.
    pub(crate) fn file(self, path: &str, text: &str) -> Test {
        self.raw_file(path, unindent(text).as_bytes())
    }

    /// Write a file byte for byte.
    pub(crate) fn raw_file(self, path: &str, bytes: &[u8]) -> Test {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&full, bytes).expect("write test file");
        self
    }

    pub(crate) fn dir(self, path: &str) -> Test {
        fs::create_dir_all(self.dir.path().join(path)).expect("create directory");
        self
    }

    /// A symlink at `link` (project-relative) pointing to `target` (as given).
    pub(crate) fn symlink(self, target: &str, link: &str) -> Test {
        let full = self.dir.path().join(link);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        std::os::unix::fs::symlink(target, full).expect("create symlink");
        self
    }

    /// Run from this project-relative directory instead of the project root.
    pub(crate) fn current_dir(mut self, path: &str) -> Test {
        self.current_dir = self.dir.path().join(path);
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Expect exactly this stdout (unindented).
    pub(crate) fn stdout(mut self, text: &str) -> Test {
        self.stdout = Some(unindent(text));
        self
    }

    /// Expect exactly this stderr (unindented).
    pub(crate) fn stderr(mut self, text: &str) -> Test {
        self.stderr = Some(unindent(text));
        self
    }

    pub(crate) fn stdout_contains(mut self, text: &str) -> Test {
        self.stdout_contains.push(text.to_owned());
        self
    }

    pub(crate) fn stderr_contains(mut self, text: &str) -> Test {
        self.stderr_contains.push(text.to_owned());
        self
    }

    pub(crate) fn status(mut self, status: i32) -> Test {
        self.status = status;
        self
    }

    /// Run conduct and check every expectation; returns the output for further checks.
    #[track_caller]
    pub(crate) fn run(self) -> Finished {
        let output = Command::new(env!("CARGO_BIN_EXE_conduct"))
            .args(&self.args)
            .env("NO_COLOR", "1")
            .current_dir(&self.current_dir)
            .output()
            .expect("run conduct");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let context = || {
            format!(
                "args: {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                self.args
            )
        };
        assert!(
            !stderr.contains("panicked"),
            "conduct panicked\n{}",
            context()
        );
        assert_eq!(
            output.status.code(),
            Some(self.status),
            "unexpected exit status\n{}",
            context()
        );
        if let Some(expected) = &self.stdout {
            assert_eq!(&stdout, expected, "stdout differs\n{}", context());
        }
        if let Some(expected) = &self.stderr {
            assert_eq!(&stderr, expected, "stderr differs\n{}", context());
        }
        for needle in &self.stdout_contains {
            assert!(
                stdout.contains(needle),
                "stdout lacks {needle:?}\n{}",
                context()
            );
        }
        for needle in &self.stderr_contains {
            assert!(
                stderr.contains(needle),
                "stderr lacks {needle:?}\n{}",
                context()
            );
        }
        Finished {
            _dir: self.dir,
            stdout,
            stderr,
        }
    }
}

/// What a finished run printed; keeps the project alive for follow-up checks.
pub(crate) struct Finished {
    _dir: TempDir,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Finished {
    /// stdout parsed as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A temporary project for tests that run conduct several times and change files in
/// between. Tasks conventionally append their id to `ran.log`, which [`Project::ran`]
/// reads and empties: the count of what actually ran.
pub(crate) struct Project {
    dir: TempDir,
}

/// One finished invocation of conduct.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// stdout as JSON lines.
    #[track_caller]
    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Project {
    pub(crate) fn new(tasks_toml: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("conduct-project")
            .tempdir()
            .expect("create a temporary directory");
        let project = Project { dir };
        project.file("tasks.toml", tasks_toml);
        project
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (unindented), creating parent directories.
    pub(crate) fn file(&self, path: &str, text: &str) -> &Project {
        self.write(path, unindent(text).as_bytes())
    }

    /// Write a file byte for byte.
    pub(crate) fn write(&self, path: &str, bytes: &[u8]) -> &Project {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(full, bytes).expect("write file");
        self
    }

    #[track_caller]
    pub(crate) fn read(&self, path: &str) -> String {
        fs::read_to_string(self.dir.path().join(path))
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        self.dir.path().join(path).exists()
    }

    /// Run conduct with `args` in the project root.
    #[track_caller]
    pub(crate) fn conduct(&self, args: &[&str]) -> Run {
        self.conduct_env(args, &[])
    }

    /// Run conduct with extra environment variables.
    #[track_caller]
    pub(crate) fn conduct_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_conduct"))
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .expect("run conduct");
        let run = Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "conduct panicked: {run:?}"
        );
        run
    }

    /// `conduct build ARGS`, which must exit with `status`.
    #[track_caller]
    pub(crate) fn build(&self, args: &[&str], status: i32) -> Run {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        let run = self.conduct(&all);
        assert_eq!(run.status, status, "build {args:?}: {run:#?}");
        run
    }

    /// The ids in `ran.log` (in the order they ran), emptying it.
    pub(crate) fn ran(&self) -> Vec<String> {
        let path = self.dir.path().join("ran.log");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let _ = fs::remove_file(&path);
        text.lines().map(str::to_owned).collect()
    }
}

/// Copy a directory tree (files and directories only).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy file");
        }
    }
}
