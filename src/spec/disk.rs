//! What only the file system can say about a valid spec (SPEC §2, "checked before
//! anything runs"): a path that reaches out of the project through a symlink, a plain
//! input that does not exist and that no task produces, a Markdown section that is not
//! there or is ambiguous.
//!
//! Inputs that some task produces are not looked at: they may not exist yet, and their
//! sections are checked when the build has made them. Every directory prefix is
//! examined once (one `lstat` each, cached), so checking 10,000 tasks that share `src/`
//! costs one `lstat` per distinct path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::source::{Location, Span};
use crate::spec::section::{Outline, SectionError};
use crate::spec::{InputKind, ProjectPath, Spec, SpecError, SpecErrorKind, TaskIdx};
use crate::suggest::did_you_mean;

/// How much of each plain input path to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leaves {
    /// The file itself too (`conduct check`).
    Check,
    /// Only its directories: the build's scan stats every source file anyway and
    /// reports missing files and escaping symlinks from that one `lstat`.
    Skip,
}

/// Check `tasks` of `spec` against the files under `root`.
pub(crate) fn check(
    spec: &Spec,
    root: &Path,
    tasks: impl IntoIterator<Item = TaskIdx>,
    leaves: Leaves,
) -> Vec<SpecError> {
    let mut disk = Disk::new(root);
    let mut errors = Vec::new();
    let mut error = |span: Span, kind| {
        errors.push(SpecError {
            at: Location::new(&spec.source, span),
            kind,
        })
    };
    for idx in tasks {
        let task = spec.task(idx);
        let id = || task.id.to_string();
        for input in &task.inputs {
            match &input.kind {
                InputKind::File(path) => {
                    if spec.outputs.producer_of(path).is_some() {
                        continue;
                    }
                    if leaves == Leaves::Skip {
                        if let Some(parent) = path.ancestors().next()
                            && let Err(escape) = disk.lookup(parent)
                        {
                            error(input.span, escape.into_error(path));
                        }
                        continue;
                    }
                    match disk.lookup(path.as_str()) {
                        Err(escape) => error(input.span, escape.into_error(path)),
                        Ok(Entry::Missing) => error(
                            input.span,
                            SpecErrorKind::MissingInput {
                                task: id(),
                                path: path.to_string(),
                            },
                        ),
                        Ok(Entry::Dir) => error(
                            input.span,
                            SpecErrorKind::InputIsDirectory {
                                task: id(),
                                path: path.to_string(),
                            },
                        ),
                        Ok(Entry::File) => {}
                    }
                }
                InputKind::Section { file, section } => {
                    if spec.outputs.producer_of(file).is_some() {
                        continue;
                    }
                    if let Err(kind) = disk.section(file, section, &id) {
                        error(input.span, kind);
                    }
                }
                InputKind::Glob(glob) => {
                    if let Ok(prefix) = ProjectPath::new(&glob.literal_prefix())
                        && let Err(escape) = disk.lookup(prefix.as_str())
                    {
                        error(input.span, escape.into_error(&prefix));
                        continue;
                    }
                    // `conduct check` looks at what the glob matches as the build's scan
                    // does (the build reports the same files from its own look).
                    if leaves == Leaves::Check {
                        let skip = [
                            ".git",
                            spec.project.cache.as_str(),
                            spec.project.worktrees.as_str(),
                        ];
                        let matcher = glob.matcher();
                        let prefix = glob.literal_prefix();
                        let listing = disk
                            .listings
                            .entry(prefix.clone())
                            .or_insert_with(|| {
                                std::sync::Arc::new(crate::scan::walk_files(
                                    disk.base, &prefix, &skip,
                                ))
                            })
                            .clone();
                        for path in listing.iter().filter(|p| matcher.is_match(p.as_str())) {
                            if let Err(escape) = disk.lookup(path.as_str()) {
                                error(input.span, escape.into_error(path));
                            }
                        }
                    }
                }
                InputKind::Command(_) | InputKind::Program(_) => {}
            }
        }
        // An output's own name is never followed (a stale output is removed before the
        // task runs), but the directories it is written into are.
        for output in &task.outputs {
            if let Some(parent) = output.path.ancestors().next()
                && let Err(escape) = disk.lookup(parent)
            {
                error(output.span, escape.into_error(&output.path));
            }
        }
    }
    errors
}

/// What a path is on disk, once we know it stays inside the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Missing,
    File,
    Dir,
}

/// A symlink on the way that resolves outside the root.
#[derive(Clone, Debug)]
pub(crate) struct Escape {
    pub(crate) target: PathBuf,
}

impl Escape {
    pub(crate) fn into_error(self, path: &ProjectPath) -> SpecErrorKind {
        SpecErrorKind::SymlinkEscape {
            path: path.to_string(),
            target: self.target.display().to_string(),
        }
    }
}

struct Disk<'r> {
    root: crate::confined::Root,
    /// Where the files are, for reading.
    base: &'r Path,
    /// Per path prefix: what is there, or where it escapes to.
    entries: FxHashMap<String, Result<Entry, Escape>>,
    outlines: FxHashMap<ProjectPath, Result<(String, Outline), String>>,
    /// The files under each glob's literal prefix.
    listings: FxHashMap<String, std::sync::Arc<Vec<ProjectPath>>>,
}

impl<'r> Disk<'r> {
    fn new(root: &'r Path) -> Disk<'r> {
        Disk {
            root: crate::confined::Root::new(root),
            base: root,
            entries: FxHashMap::default(),
            outlines: FxHashMap::default(),
            listings: FxHashMap::default(),
        }
    }

    /// Walk `path` one component at a time; every prefix is `lstat`ed at most once.
    fn lookup(&mut self, text: &str) -> Result<Entry, Escape> {
        let ends = text.match_indices('/').map(|(i, _)| i).chain([text.len()]);
        let mut entry = Entry::Dir;
        for end in ends {
            let prefix = &text[..end];
            let found = match self.entries.get(prefix) {
                Some(found) => found.clone(),
                None => {
                    let found = self.examine(prefix);
                    self.entries.insert(prefix.to_owned(), found.clone());
                    found
                }
            };
            entry = found?;
            if entry != Entry::Dir {
                // A file (or nothing) where a directory should be: the path is missing.
                if end < text.len() {
                    return Ok(Entry::Missing);
                }
                break;
            }
        }
        Ok(entry)
    }

    fn examine(&self, prefix: &str) -> Result<Entry, Escape> {
        let full = self.base.join(prefix);
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(_) => return Ok(Entry::Missing),
        };
        if meta.file_type().is_symlink() {
            return match crate::scan::follow(&full, &self.root) {
                crate::scan::Followed::Outside(target) => Err(Escape { target }),
                crate::scan::Followed::Dangling => Ok(Entry::Missing),
                crate::scan::Followed::Inside => Ok(if full.is_dir() {
                    Entry::Dir
                } else {
                    Entry::File
                }),
            };
        }
        Ok(if meta.is_dir() {
            Entry::Dir
        } else {
            Entry::File
        })
    }

    fn section(
        &mut self,
        file: &ProjectPath,
        section: &str,
        task: &dyn Fn() -> String,
    ) -> Result<(), SpecErrorKind> {
        match self.lookup(file.as_str()) {
            Err(escape) => return Err(escape.into_error(file)),
            Ok(Entry::Missing) => {
                return Err(SpecErrorKind::MissingInput {
                    task: task(),
                    path: file.to_string(),
                });
            }
            Ok(_) => {}
        }
        let root = self.base;
        let outline = self.outlines.entry(file.clone()).or_insert_with(|| {
            read_text(&file.to_path(root))
                .map(|text| {
                    let outline = Outline::parse(&text);
                    (text, outline)
                })
                .map_err(|e| e.to_string())
        });
        let (_, outline) = outline
            .as_ref()
            .map_err(|reason| SpecErrorKind::Unreadable {
                path: file.to_string(),
                reason: reason.clone(),
            })?;
        match outline.find(section) {
            Ok(_) => Ok(()),
            Err(SectionError::Missing { headings }) => Err(SpecErrorKind::MissingSection {
                file: file.to_string(),
                section: section.to_owned(),
                suggestion: close_heading(section, &headings),
                headings,
            }),
            Err(SectionError::Ambiguous { lines }) => Err(SpecErrorKind::AmbiguousSection {
                file: file.to_string(),
                section: section.to_owned(),
                lines,
            }),
        }
    }
}

/// The heading (as written) whose leading word, such as `T9` in `## T9: Endpoints`, is
/// a plausible typo of `section`.
fn close_heading(section: &str, headings: &[String]) -> Option<String> {
    let lead = |heading: &str| -> String {
        let text = heading.trim_start_matches('#').trim_start();
        text.split([':', ' ', '\t', '—'])
            .next()
            .unwrap_or(text)
            .to_owned()
    };
    let leads: Vec<String> = headings.iter().map(|h| lead(h)).collect();
    let best = did_you_mean(section, leads.iter().map(String::as_str))?;
    headings.iter().find(|h| lead(h) == best).cloned()
}

fn read_text(path: &Path) -> io::Result<String> {
    let bytes = fs::read(path)?;
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}
