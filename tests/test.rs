//! `Test`: build a temporary project, run the real binary in it, check what it printed
//! and how it exited. Modelled on just's `tests/test.rs`: a `#[must_use]` builder whose
//! expectations are checked by `#[track_caller]` `run`, with expected texts unindented
//! so tests can be written inline.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The conduct binary under test: this build's, or `CONDUCT_TEST_BIN` (to show that a
/// regression test fails against an older conduct).
pub(crate) fn binary() -> PathBuf {
    std::env::var_os("CONDUCT_TEST_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_conduct")),
        PathBuf::from,
    )
}

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

/// Beside every test project, a directory conduct must never touch: a snapshot of it is
/// taken when the project is made and compared after every run of conduct, so any write,
/// deletion or creation outside the project (through a planted symlink, say) fails the
/// test that caused it. Every project holds `.victim`, a symlink to it; tests that attack
/// plant more ([`Sandbox::victim`]).
pub(crate) struct Sandbox {
    _dir: TempDir,
    project: PathBuf,
    victim: PathBuf,
    snapshot: Vec<(String, String)>,
}

impl Sandbox {
    fn new(prefix: &str) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("create a temporary directory");
        let victim = dir.path().join("victim");
        fs::create_dir_all(victim.join("sub")).expect("create the victim directory");
        fs::write(victim.join("secret.txt"), "VICTIM\n").expect("write a victim file");
        fs::write(victim.join("sub/f"), "VICTIM\n").expect("write a victim file");
        let project = dir.path().join("project");
        fs::create_dir_all(&project).expect("create the project directory");
        // A way out planted in every project: conduct must never go through it.
        std::os::unix::fs::symlink("../victim", project.join(".victim"))
            .expect("plant a symlink to the victim");
        let snapshot = snapshot(&victim);
        Sandbox {
            _dir: dir,
            project,
            victim,
            snapshot,
        }
    }

    /// The project directory.
    pub(crate) fn project(&self) -> &Path {
        &self.project
    }

    /// The directory outside the project that must stay as it was.
    pub(crate) fn victim(&self) -> &Path {
        &self.victim
    }

    /// Fail if anything in the victim directory changed.
    #[track_caller]
    pub(crate) fn assert_untouched(&self, context: &dyn Fn() -> String) {
        let now = snapshot(&self.victim);
        assert_eq!(
            now,
            self.snapshot,
            "conduct changed files outside the project\n{}",
            context()
        );
    }
}

/// Every entry under `dir` with what it is: a file's contents and mode, a symlink's
/// target, a directory.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(read) = fs::read_dir(&current) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let what = if meta.file_type().is_symlink() {
                format!("-> {:?}", fs::read_link(&path).ok())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                format!(
                    "{:o} {:?}",
                    meta.permissions().mode(),
                    fs::read(&path).unwrap_or_default()
                )
            };
            entries.push((name, what));
        }
    }
    entries.sort();
    entries
}

/// Whether `program --version` runs here (a compiler, `script`, a server). Tests that
/// need it are skipped without it, with a line saying so, but under `CI=true` (where
/// `.ci/run` provides it) a missing tool fails them.
pub(crate) fn tool_available(program: &str, why: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no `{program}` ({why})"
        );
        eprintln!("skipped: no `{program}` on this machine ({why})");
    }
    found
}

/// A temporary project and one invocation of `conduct` in it.
#[must_use]
pub(crate) struct Test {
    dir: Sandbox,
    current_dir: PathBuf,
    args: Vec<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    stdout_contains: Vec<String>,
    stderr_contains: Vec<String>,
    status: i32,
    env: Vec<(String, String)>,
}

impl Test {
    pub(crate) fn new() -> Test {
        let dir = Sandbox::new("conduct-test");
        Test {
            current_dir: dir.project().to_path_buf(),
            dir,
            args: Vec::new(),
            stdout: None,
            stderr: None,
            stdout_contains: Vec::new(),
            stderr_contains: Vec::new(),
            status: 0,
            env: Vec::new(),
        }
    }

    /// Run with this environment variable set.
    pub(crate) fn env(mut self, name: &str, value: &str) -> Test {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The project directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.project()
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
        let full = self.dir.project().join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&full, bytes).expect("write test file");
        self
    }

    pub(crate) fn dir(self, path: &str) -> Test {
        fs::create_dir_all(self.dir.project().join(path)).expect("create directory");
        self
    }

    /// A symlink at `link` (project-relative) pointing to `target` (as given).
    pub(crate) fn symlink(self, target: &str, link: &str) -> Test {
        let full = self.dir.project().join(link);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        std::os::unix::fs::symlink(target, full).expect("create symlink");
        self
    }

    /// Run from this project-relative directory instead of the project root.
    pub(crate) fn current_dir(mut self, path: &str) -> Test {
        self.current_dir = self.dir.project().join(path);
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
        let output = Command::new(crate::test::binary())
            .args(&self.args)
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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
        self.dir.assert_untouched(&context);
        Finished {
            _dir: self.dir,
            stdout,
            stderr,
        }
    }
}

/// What a finished run printed; keeps the project alive for follow-up checks.
pub(crate) struct Finished {
    _dir: Sandbox,
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
    dir: Sandbox,
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
        let project = Project {
            dir: Sandbox::new("conduct-project"),
        };
        project.file("tasks.toml", tasks_toml);
        project
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.project()
    }

    /// The directory beside the project that conduct must never touch.
    pub(crate) fn victim(&self) -> &Path {
        self.dir.victim()
    }

    /// Write a file (unindented), creating parent directories.
    pub(crate) fn file(&self, path: &str, text: &str) -> &Project {
        self.write(path, unindent(text).as_bytes())
    }

    /// Write a file byte for byte.
    pub(crate) fn write(&self, path: &str, bytes: &[u8]) -> &Project {
        let full = self.dir.project().join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(full, bytes).expect("write file");
        self
    }

    #[track_caller]
    pub(crate) fn read(&self, path: &str) -> String {
        fs::read_to_string(self.dir.project().join(path))
            .unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        self.dir.project().join(path).exists()
    }

    /// Run conduct with `args` in the project root.
    #[track_caller]
    pub(crate) fn conduct(&self, args: &[&str]) -> Run {
        self.conduct_env(args, &[])
    }

    /// Run conduct with extra environment variables.
    #[track_caller]
    pub(crate) fn conduct_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = Command::new(crate::test::binary())
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .current_dir(self.dir.project())
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
        self.dir.assert_untouched(&|| format!("{args:?}: {run:#?}"));
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
        let path = self.dir.project().join("ran.log");
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
