//! Templates and variables (SPEC §2, issue 14): `{name}` placeholders in task strings.
//!
//! A `[templates.NAME]` block is a task written once with placeholders and expanded
//! over what its `foreach` matched: the files of a glob (`{path}`, `{stem}`, `{name}`,
//! `{dir}`) or the headings of a Markdown file (`{section}`, `{title}`). `[vars]` and
//! `--var NAME=VALUE` fill `{NAME}` in every task. What `foreach` matched is read from
//! the disk before parsing (`project::foreach`) and handed in as [`Given`], so parsing
//! stays a pure function of texts (salsa, the spec cache).
//!
//! Substitution is just's and ninja's: `{identifier}` only. Shell syntax is the shell's:
//! `${HOME}`, `$VAR` and braces around anything that is not an identifier
//! (`awk '{print $1}'`, the glob `src/{a,b}.c`) are left alone; `{{` and `}}` write
//! literal braces. In `run`, `{inputs}` and `{outputs}` stay as they are until the
//! build knows the resolved paths (`build::job`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};

/// Placeholders a `foreach` over files binds.
pub(crate) const FILE_PLACEHOLDERS: &[&str] = &["path", "stem", "name", "dir"];
/// Placeholders a `foreach` over sections binds.
pub(crate) const SECTION_PLACEHOLDERS: &[&str] = &["section", "title"];
/// Placeholders of `run` that the build fills with the task's resolved paths.
pub(crate) const RUN_PLACEHOLDERS: &[&str] = &["inputs", "outputs"];

/// Every placeholder name, which no variable may take.
pub(crate) fn reserved() -> Vec<&'static str> {
    [FILE_PLACEHOLDERS, SECTION_PLACEHOLDERS, RUN_PLACEHOLDERS].concat()
}

/// What parsing is given besides the texts: the command line's variables and what every
/// template's `foreach` matched on disk. Part of the spec cache's key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Given {
    /// `--var NAME=VALUE`, in the order given (a later one wins).
    pub(crate) vars: Vec<(String, String)>,
    /// By template name.
    pub(crate) matches: BTreeMap<String, Matched>,
}

/// What one template's `foreach` matched.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Matched {
    /// Project-relative paths of the files a glob matched, sorted.
    Files(Vec<String>),
    /// The text of every heading of the requested level, in document order.
    Headings(Vec<String>),
    /// The sections file could not be read: why.
    Unreadable(String),
}

impl Given {
    /// Feed everything into a key (the spec cache's), unambiguously.
    pub(crate) fn hash_into(&self, hasher: &mut blake3::Hasher) {
        let mut field = |text: &str| {
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        };
        for (name, value) in &self.vars {
            field(name);
            field(value);
        }
        field("--");
        for (template, matched) in &self.matches {
            field(template);
            match matched {
                Matched::Files(paths) => {
                    field("files");
                    paths.iter().for_each(|p| field(p));
                }
                Matched::Headings(headings) => {
                    field("headings");
                    headings.iter().for_each(|h| field(h));
                }
                Matched::Unreadable(why) => {
                    field("unreadable");
                    field(why);
                }
            }
            field("--");
        }
    }
}

/// The placeholder values of one file a glob matched.
pub(crate) fn file_bindings(path: &str) -> [(&'static str, String); 4] {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => (".", path),
    };
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    [
        ("path", path.to_owned()),
        ("stem", stem.to_owned()),
        ("name", name.to_owned()),
        ("dir", dir.to_owned()),
    ]
}

/// The placeholder values of one heading: `{section}` is the id a `file.md#id` input
/// selects it by (the text before the first `:`, `-`, `—` or space), `{title}` the rest
/// (or the whole heading when there is no rest).
pub(crate) fn section_bindings(heading: &str) -> [(&'static str, String); 2] {
    let cut = heading
        .char_indices()
        .find(|&(_, c)| c == ':' || c == '-' || c == '—' || c.is_whitespace())
        .map(|(i, _)| i);
    let (id, rest) = match cut {
        Some(i) if i > 0 => (&heading[..i], &heading[i..]),
        _ => (heading, ""),
    };
    let title = rest.trim_start().trim_start_matches([':', '-', '—']).trim();
    let title = if title.is_empty() { heading } else { title };
    [("section", id.to_owned()), ("title", title.to_owned())]
}

/// How a string is substituted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every field but `run`: `{{` and `}}` become braces.
    #[default]
    Plain,
    /// `run` as tasks.toml is read: `{inputs}`, `{outputs}`, `{{` and `}}` stay for the
    /// build to fill in (values put in have their braces doubled, so they come out as
    /// written).
    Run,
    /// `run` as the build executes it: what `lookup` knows is filled in, any other
    /// `{name}` stays as written, `{{` and `}}` become braces.
    Fill,
}

/// Whether `name` can be a placeholder or a variable: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` with every `{identifier}` replaced by `lookup(identifier)`. `Err(name)`: the
/// first placeholder `lookup` does not know (never in `Mode::Fill`).
pub(crate) fn substitute<'t>(
    text: &'t str,
    mode: Mode,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'t, str>, String> {
    if !text.contains(['{', '}']) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if after.starts_with("{{") || after.starts_with("}}") {
            out.push_str(if mode == Mode::Run {
                &after[..2]
            } else {
                &after[..1]
            });
            rest = &after[2..];
            continue;
        }
        if after.starts_with('}') || rest[..i].ends_with('$') {
            // A lone `}`, or `${…}`: the shell's.
            out.push_str(&after[..1]);
            rest = &after[1..];
            continue;
        }
        let placeholder = after[1..]
            .find('}')
            .map(|end| &after[1..1 + end])
            .filter(|name| is_identifier(name));
        let Some(name) = placeholder else {
            out.push('{');
            rest = &after[1..];
            continue;
        };
        let written = &after[..name.len() + 2];
        match (mode, lookup(name)) {
            (Mode::Run, _) if RUN_PLACEHOLDERS.contains(&name) => out.push_str(written),
            (Mode::Run, Some(value)) => {
                out.push_str(&value.replace('{', "{{").replace('}', "}}"));
            }
            (Mode::Plain | Mode::Fill, Some(value)) => out.push_str(&value),
            (Mode::Fill, None) => out.push_str(written),
            (Mode::Plain | Mode::Run, None) => return Err(name.to_owned()),
        }
        rest = &after[written.len()..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// `run` as the build executes it: `{inputs}` and `{outputs}` filled with the resolved
/// paths, `{{` and `}}` made braces. `join` renders one list (shell-quoted for a string
/// `run`, plain for one argument of an array `run`).
pub(crate) fn fill_run(
    text: &str,
    inputs: &[String],
    outputs: &[String],
    join: fn(&[String]) -> String,
) -> String {
    let lookup = |name: &str| match name {
        "inputs" => Some(join(inputs)),
        "outputs" => Some(join(outputs)),
        _ => None,
    };
    match substitute(text, Mode::Fill, &lookup) {
        Ok(filled) => filled.into_owned(),
        // Fill keeps what it does not know: there is no error to report.
        Err(_) => text.to_owned(),
    }
}

/// Paths joined for a shell: each quoted when it needs to be.
pub(crate) fn shell_join(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| shell_quote(p))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Paths joined by spaces, as they are (one argument of an array `run`).
pub(crate) fn plain_join(paths: &[String]) -> String {
    paths.join(" ")
}

/// `text` as one word of a POSIX shell command line (single-quoted unless it needs no
/// quoting).
pub(crate) fn shell_quote(text: &str) -> Cow<'_, str> {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+,=:@%".contains(c));
    if safe {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("'{}'", text.replace('\'', r"'\''")))
    }
}

/// What the disk must be asked before tasks.toml can be read: each template's `foreach`
/// (`project::foreach` does the asking). Only tables that look right are listed; the
/// parse reports the rest.
pub(crate) fn foreach_of(table: &DeTable<'_>) -> Vec<(String, Foreach)> {
    let mut found = Vec::new();
    for (name, value) in table.iter() {
        let DeValue::Table(template) = value.get_ref() else {
            continue;
        };
        let Some((_, foreach)) = template
            .iter()
            .find(|(key, _)| key.get_ref().as_ref() == "foreach")
        else {
            continue;
        };
        let what = match foreach.get_ref() {
            DeValue::String(glob) => Foreach::Glob(glob.to_string()),
            DeValue::Table(t) => {
                let get = |key: &str| {
                    t.iter()
                        .find(|(k, _)| k.get_ref().as_ref() == key)
                        .map(|(_, v)| v)
                };
                let file = match get("sections").map(crate::spec::reader::Value::get_ref) {
                    Some(DeValue::String(file)) => file.to_string(),
                    _ => continue,
                };
                let level = match get("level").map(crate::spec::reader::Value::get_ref) {
                    Some(DeValue::Integer(n)) => n.as_str().parse::<u8>().unwrap_or(0),
                    None => 2,
                    _ => continue,
                };
                Foreach::Sections { file, level }
            }
            _ => continue,
        };
        found.push((name.get_ref().as_ref().to_owned(), what));
    }
    found
}

/// What a template's `foreach` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Foreach {
    /// The files a glob matches.
    Glob(String),
    /// The headings of one level of a Markdown file.
    Sections { file: String, level: u8 },
}

#[cfg(test)]
mod tests;
