//! `Reader`: typed access to toml's spanned document tree, collecting errors.
//!
//! tasks.toml and every `rules/*.toml` are read the same way: walk the keys of a
//! `toml::de::DeTable`, check each value's type where it stands, and record a
//! [`SpecError`] with the value's span instead of stopping. The table-specific walks live
//! next to their types (`spec::raw` for tasks.toml, `rules` for rule files) as further
//! `impl Reader` blocks; the helpers here are the shared vocabulary.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::source::{Location, SourceFile, Span};
use crate::spec::error::{SpecError, SpecErrorKind};
use crate::spec::path::ProjectPath;
use crate::spec::template::{self, Mode};
use crate::suggest::did_you_mean;

/// A value in the document tree, with its span.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;
/// A key in the document tree, with its span.
pub(crate) type Key<'i> = Spanned<DeString<'i>>;

/// A string from the file and where it was written; resolved against other tables later.
#[derive(Debug)]
pub(crate) struct Named {
    pub(crate) text: String,
    pub(crate) span: Span,
}

pub(crate) struct Reader<'f> {
    file: &'f Arc<SourceFile>,
    errors: Vec<SpecError>,
    /// Errors recorded, by span and message: a template repeats its strings once per
    /// match, and a mistake in one is reported once.
    seen: HashSet<(u32, u32, String)>,
    /// Placeholder values for the strings read now (`None`: no substitution, as in rule
    /// files).
    pub(crate) scope: Option<Scope>,
}

/// The placeholder values strings are read with (see `spec::template`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    pub(crate) values: BTreeMap<String, String>,
    pub(crate) mode: Mode,
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

impl<'f> Reader<'f> {
    pub(crate) fn new(file: &'f Arc<SourceFile>) -> Reader<'f> {
        Reader {
            file,
            errors: Vec::new(),
            seen: HashSet::new(),
            scope: None,
        }
    }

    /// The file being read.
    pub(crate) fn file(&self) -> &Arc<SourceFile> {
        self.file
    }

    /// The errors recorded so far.
    pub(crate) fn into_errors(self) -> Vec<SpecError> {
        self.errors
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Record an error at a span already converted to a [`Span`].
    pub(crate) fn err_at(&mut self, span: Span, kind: SpecErrorKind) {
        if self.seen.insert((span.start, span.end, kind.to_string())) {
            self.errors.push(SpecError {
                at: Location::new(self.file, span),
                kind,
            });
        }
    }

    pub(crate) fn boolean(&mut self, key: &str, value: &Value<'_>) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, value, "true or false");
                None
            }
        }
    }

    /// An integer or a float, as `f64`.
    pub(crate) fn number(&mut self, key: &str, value: &Value<'_>) -> Option<f64> {
        let parsed = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.wrong_type(key, value, "a number");
        }
        parsed
    }
    pub(crate) fn err(&mut self, span: Range<usize>, kind: SpecErrorKind) {
        self.err_at(span.into(), kind);
    }

    pub(crate) fn wrong_type(&mut self, key: &str, value: &Value<'_>, expected: &'static str) {
        self.err(
            value.span(),
            SpecErrorKind::WrongType {
                key: key.to_owned(),
                expected,
                found: type_name(value.get_ref()),
            },
        );
    }

    pub(crate) fn unknown_key(
        &mut self,
        key: &Key<'_>,
        table: &str,
        known: &'static [&'static str],
    ) {
        let name = key.get_ref().as_ref();
        self.err(
            key.span(),
            SpecErrorKind::UnknownKey {
                key: name.to_owned(),
                table: table.to_owned(),
                known,
                suggestion: did_you_mean(name, known.iter().copied()),
            },
        );
    }

    pub(crate) fn table<'v, 'i>(
        &mut self,
        key: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(key, value, "a table");
                None
            }
        }
    }

    pub(crate) fn string(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(self.substituted(s, value.span())),
            _ => {
                self.wrong_type(key, value, "a string");
                None
            }
        }
    }

    /// `text` with the scope's placeholders filled in; an unknown one is an error at
    /// `span` (the whole string: its escapes make offsets inside it unreliable), and
    /// the text is kept as written.
    pub(crate) fn substituted(&mut self, text: &str, span: Range<usize>) -> String {
        let Some(scope) = &self.scope else {
            return text.to_owned();
        };
        let lookup = |name: &str| scope.values.get(name).cloned();
        match template::substitute(text, scope.mode, &lookup) {
            Ok(text) => text.into_owned(),
            Err(name) => {
                let known: Vec<String> = scope.values.keys().cloned().collect();
                let suggestion = did_you_mean(&name, known.iter().map(String::as_str));
                self.err(
                    span,
                    SpecErrorKind::UnknownPlaceholder {
                        name,
                        known,
                        suggestion,
                    },
                );
                // Kept as written, so nothing else reports the value as missing.
                text.to_owned()
            }
        }
    }

    pub(crate) fn non_empty_string(
        &mut self,
        key: &'static str,
        value: &Value<'_>,
    ) -> Option<String> {
        let text = self.string(key, value)?;
        if text.trim().is_empty() {
            self.err(value.span(), SpecErrorKind::Empty { key });
            return None;
        }
        Some(text)
    }

    pub(crate) fn named(&mut self, key: &str, value: &Value<'_>) -> Option<Named> {
        self.string(key, value).map(|text| Named {
            text,
            span: value.span().into(),
        })
    }

    /// A list of strings; each bad element is reported, the good ones are kept.
    pub(crate) fn named_list(&mut self, key: &str, value: &Value<'_>) -> Vec<Named> {
        match value.get_ref() {
            DeValue::Array(items) => items.iter().filter_map(|v| self.named(key, v)).collect(),
            _ => {
                self.wrong_type(key, value, "a list of strings");
                Vec::new()
            }
        }
    }

    pub(crate) fn integer(
        &mut self,
        key: &'static str,
        value: &Value<'_>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let DeValue::Integer(int) = value.get_ref() else {
            self.wrong_type(key, value, "an integer");
            return None;
        };
        match i64::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.err(
                    value.span(),
                    SpecErrorKind::OutOfRange {
                        key,
                        value: int.to_string(),
                        min,
                        max,
                    },
                );
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, key: &'static str, value: &Value<'_>) -> Option<Duration> {
        let text = self.string(key, value)?;
        match humantime::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(
                    value.span(),
                    SpecErrorKind::BadDuration {
                        key,
                        text,
                        reason: e.to_string(),
                    },
                );
                None
            }
        }
    }

    pub(crate) fn choice<T>(
        &mut self,
        key: &'static str,
        value: &Value<'_>,
        allowed: &'static [&'static str],
        parse: fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(key, value)?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.err(
                value.span(),
                SpecErrorKind::BadChoice {
                    key,
                    suggestion: did_you_mean(&text, allowed.iter().copied()),
                    value: text,
                    allowed,
                },
            );
        }
        parsed
    }
    pub(crate) fn path(&mut self, text: &str, span: Range<usize>) -> Option<ProjectPath> {
        match ProjectPath::declared(text) {
            Ok(path) => Some(path),
            Err(problem) => {
                self.err(
                    span,
                    SpecErrorKind::BadPath {
                        path: text.to_owned(),
                        problem,
                    },
                );
                None
            }
        }
    }
}
