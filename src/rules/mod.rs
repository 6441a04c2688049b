//! Rules: the checks a task's outputs must pass before the task counts as done (SPEC §5).
//!
//! This module loads and validates them: the three built-ins and every
//! `rules/<name>.toml` of the project, read with the same error quality as tasks.toml.
//! A rule either runs a command per output (pass = exit 0, optionally a quality gate on
//! a printed `metric <name> <number>`) or matches a regex over each output. Running
//! checks belongs to the build; what lives here is the validated definition, whose
//! source text will later be hashed into each check's cache key.

pub(crate) mod check;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use globset::{GlobSet, GlobSetBuilder};
use regex::Regex;
use toml::de::DeTable;

use crate::source::{Location, SourceFile};
use crate::spec::error::{SpecError, SpecErrorKind};
use crate::spec::name::check_name;
use crate::spec::reader::{Reader, Value};
use crate::spec::{GlobPattern, ProjectPath};

/// Rules every project has without a file.
pub(crate) use crate::spec::name::BUILTIN_RULES;

const RULE_KEYS: &[&str] = &[
    "description",
    "applies_to",
    "run",
    "pattern",
    "forbid",
    "metric",
    "min",
    "max",
    "required",
];

/// One loaded rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Which outputs it checks; `None` means every output of the task.
    pub(crate) applies_to: Option<AppliesTo>,
    pub(crate) check: RuleCheck,
    /// A bound on a metric the `run` command prints.
    pub(crate) gate: Option<Gate>,
    /// `false`: a failure is a warning.
    pub(crate) required: bool,
    /// The rule file (`None` for built-ins); its text is part of the check's cache key.
    pub(crate) source: Option<Arc<SourceFile>>,
}

/// The outputs a rule applies to.
#[derive(Debug)]
pub(crate) struct AppliesTo {
    pub(crate) globs: Vec<String>,
    set: GlobSet,
}

/// How a rule decides.
#[derive(Debug)]
pub(crate) enum RuleCheck {
    /// `non_empty`, `json` or `toml`.
    Builtin(&'static str),
    /// A shell command run once per output (`CONDUCT_OUTPUT`); pass = exit 0.
    Run(String),
    /// A regex over each output: `forbid` means it must not match.
    Pattern { regex: Regex, forbid: bool },
}

/// `metric` with `min` and/or `max`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Gate {
    pub(crate) metric: String,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
}

/// The built-ins plus the project's rules, by name.
#[derive(Debug)]
pub(crate) struct RuleSet {
    rules: Vec<Rule>,
    index: HashMap<String, usize>,
    /// Rule files that failed to load: their names are known, so a task naming one is
    /// not reported as using an unknown rule on top of the rule file's own errors.
    broken: Vec<String>,
}

impl Default for RuleSet {
    fn default() -> RuleSet {
        let rules: Vec<Rule> = BUILTIN_RULES
            .iter()
            .map(|&name| Rule {
                name: name.to_owned(),
                description: Some(
                    match name {
                        "non_empty" => "every output exists and is not empty",
                        "json" => "every .json output parses as JSON",
                        _ => "every .toml output parses as TOML",
                    }
                    .to_owned(),
                ),
                // `json` and `toml` look at the outputs of their kind, so a task can
                // name them whatever else it writes.
                applies_to: match name {
                    "json" => AppliesTo::of(&["**/*.json"]),
                    "toml" => AppliesTo::of(&["**/*.toml"]),
                    _ => None,
                },
                check: RuleCheck::Builtin(name),
                gate: None,
                required: true,
                source: None,
            })
            .collect();
        let index = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        RuleSet {
            rules,
            index,
            broken: Vec::new(),
        }
    }
}

impl RuleSet {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name) || self.broken.iter().any(|b| b == name)
    }

    /// Built-ins first, then project rules by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// The position of a rule (for plain-data references to it).
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn at(&self, position: usize) -> &Rule {
        &self.rules[position]
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Rules loaded from `rules/` (not counting built-ins).
    pub(crate) fn project_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.source.is_some())
    }

    fn add(&mut self, rule: Rule) {
        self.index.insert(rule.name.clone(), self.rules.len());
        self.rules.push(rule);
    }
}

/// Read `root/dir/*.toml` as `(file stem, text)` pairs, sorted by name. A missing
/// directory means no project rules; an unreadable file is an error for that file.
pub(crate) fn read_dir(root: &Path, dir: &str) -> (Vec<(String, String)>, Vec<SpecError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let unreadable = |path: String, e: std::io::Error| SpecError {
        at: Location::new(&SourceFile::new(path.clone(), ""), 0..0),
        kind: SpecErrorKind::Unreadable {
            path,
            reason: e.to_string(),
        },
    };
    let entries = match std::fs::read_dir(root.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (files, errors),
        Err(e) => {
            errors.push(unreadable(format!("{dir}/"), e));
            return (files, errors);
        }
    };
    let mut paths: Vec<(String, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
        .collect();
    paths.sort();
    for (name, path) in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((name, text)),
            Err(e) => errors.push(unreadable(format!("{dir}/{name}.toml"), e)),
        }
    }
    (files, errors)
}

/// Parse every rule file (`(file stem, text)`, as `read_dir` gives them). Pure. The
/// rules that parsed come back with every error of every file.
pub(crate) fn parse_all(dir: &str, files: &[(String, String)]) -> (RuleSet, Vec<SpecError>) {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    for (name, text) in files {
        let source = SourceFile::new(format!("{dir}/{name}.toml"), text.clone());
        match parse(name, &source) {
            Ok(rule) => set.add(rule),
            Err(mut e) => {
                errors.append(&mut e);
                set.broken.push(name.clone());
            }
        }
    }
    (set, errors)
}

/// Parse one rule file. Pure; `name` is the file stem.
pub(crate) fn parse(name: &str, source: &Arc<SourceFile>) -> Result<Rule, Vec<SpecError>> {
    let mut reader = Reader::new(source);
    if let Err(problem) = check_name(name) {
        reader.err(
            0..0,
            SpecErrorKind::InvalidName {
                what: "rule name",
                name: name.to_owned(),
                problem,
            },
        );
        return Err(reader.into_errors());
    }
    if BUILTIN_RULES.contains(&name) {
        reader.err(
            0..0,
            SpecErrorKind::ShadowsBuiltin {
                rule: name.to_owned(),
            },
        );
        return Err(reader.into_errors());
    }
    let (document, syntax_errors) = DeTable::parse_recoverable(source.text());
    if !syntax_errors.is_empty() {
        for error in syntax_errors {
            reader.err(
                error.span().unwrap_or(0..0),
                SpecErrorKind::Syntax {
                    message: error.message().trim().to_owned(),
                },
            );
        }
        return Err(reader.into_errors());
    }
    let rule = reader.rule(name, source, document.get_ref());
    if reader.has_errors() {
        Err(reader.into_errors())
    } else {
        Ok(rule)
    }
}

impl Reader<'_> {
    fn rule(&mut self, name: &str, source: &Arc<SourceFile>, table: &DeTable<'_>) -> Rule {
        let mut description = None;
        let mut applies_to = None;
        let mut run: Option<String> = None;
        let mut pattern: Option<(String, std::ops::Range<usize>)> = None;
        let mut forbid: Option<(bool, std::ops::Range<usize>)> = None;
        let mut metric: Option<(String, std::ops::Range<usize>)> = None;
        let mut min: Option<(f64, std::ops::Range<usize>)> = None;
        let mut max: Option<(f64, std::ops::Range<usize>)> = None;
        let mut required = true;
        for (key, value) in table.iter() {
            let span = key.span();
            match key.get_ref().as_ref() {
                "description" => description = self.string("description", value),
                "applies_to" => applies_to = self.applies_to(value),
                "run" => run = self.non_empty_string("run", value),
                "pattern" => pattern = self.string("pattern", value).map(|p| (p, value.span())),
                "forbid" => forbid = self.boolean("forbid", value).map(|b| (b, span)),
                "metric" => metric = self.non_empty_string("metric", value).map(|m| (m, span)),
                "min" => min = self.number("min", value).map(|n| (n, span)),
                "max" => max = self.number("max", value).map(|n| (n, span)),
                "required" => required = self.boolean("required", value).unwrap_or(true),
                _ => self.unknown_key(key, &format!("rule `{name}`"), RULE_KEYS),
            }
        }
        let rule = name.to_owned();
        let check = match (run, pattern) {
            (Some(run), Some((_, span))) => {
                self.err(
                    span,
                    SpecErrorKind::RuleRunAndPattern { rule: rule.clone() },
                );
                RuleCheck::Run(run)
            }
            (Some(run), None) => RuleCheck::Run(run),
            (None, Some((pattern, span))) => match Regex::new(&pattern) {
                Ok(regex) => RuleCheck::Pattern {
                    regex,
                    forbid: forbid.as_ref().is_none_or(|(f, _)| *f),
                },
                Err(e) => {
                    self.err(
                        span,
                        SpecErrorKind::BadRegex {
                            rule: rule.clone(),
                            reason: e.to_string(),
                        },
                    );
                    RuleCheck::Builtin("non_empty")
                }
            },
            (None, None) => {
                self.err(0..0, SpecErrorKind::RuleWithoutCheck { rule: rule.clone() });
                RuleCheck::Builtin("non_empty")
            }
        };
        let needs = |reader: &mut Reader<'_>, span, key, needs| {
            reader.err(
                span,
                SpecErrorKind::RuleKeyNeeds {
                    rule: rule.clone(),
                    key,
                    needs,
                },
            )
        };
        if let Some((_, span)) = forbid.clone()
            && !matches!(check, RuleCheck::Pattern { .. })
        {
            needs(self, span, "forbid", "pattern");
        }
        let gate = match metric {
            Some((metric, span)) => {
                if !matches!(check, RuleCheck::Run(_)) {
                    needs(self, span.clone(), "metric", "run");
                }
                if min.is_none() && max.is_none() {
                    self.err(
                        span,
                        SpecErrorKind::MetricWithoutBound { rule: rule.clone() },
                    );
                }
                if let (Some((lo, _)), Some((hi, span))) = (&min, &max)
                    && lo > hi
                {
                    self.err(
                        span.clone(),
                        SpecErrorKind::MinAboveMax {
                            rule: rule.clone(),
                            min: *lo,
                            max: *hi,
                        },
                    );
                }
                Some(Gate {
                    metric,
                    min: min.map(|(n, _)| n),
                    max: max.map(|(n, _)| n),
                })
            }
            None => {
                for (key, bound) in [("min", &min), ("max", &max)] {
                    if let Some((_, span)) = bound {
                        needs(self, span.clone(), key, "metric");
                    }
                }
                None
            }
        };
        Rule {
            name: rule,
            description,
            applies_to,
            check,
            gate,
            required,
            source: Some(Arc::clone(source)),
        }
    }

    fn applies_to(&mut self, value: &Value<'_>) -> Option<AppliesTo> {
        let mut globs = Vec::new();
        let mut builder = GlobSetBuilder::new();
        for named in self.named_list("applies_to", value) {
            let span = named.span.start as usize..named.span.end as usize;
            let Some(path) = self.path(&named.text, span.clone()) else {
                continue;
            };
            match GlobPattern::new(path.as_str()) {
                Ok(pattern) => {
                    builder.add(pattern.glob);
                    globs.push(named.text);
                }
                Err(e) => self.err(
                    span,
                    SpecErrorKind::BadGlob {
                        glob: named.text,
                        reason: e.kind().to_string(),
                    },
                ),
            }
        }
        let set = builder.build().ok()?;
        Some(AppliesTo { globs, set })
    }
}

impl AppliesTo {
    /// Built from globs known to be valid.
    fn of(globs: &[&str]) -> Option<AppliesTo> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            builder.add(GlobPattern::new(glob).ok()?.glob);
        }
        Some(AppliesTo {
            globs: globs.iter().map(|g| (*g).to_owned()).collect(),
            set: builder.build().ok()?,
        })
    }

    /// Whether the rule checks this output.
    pub(crate) fn matches(&self, path: &ProjectPath) -> bool {
        self.set.is_match(path.as_str())
    }
}

impl crate::spec::name::RuleNames for RuleSet {
    fn contains(&self, name: &str) -> bool {
        RuleSet::contains(self, name)
    }

    fn names(&self) -> Vec<&str> {
        RuleSet::names(self).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Result<Rule, Vec<String>> {
        parse("r", &SourceFile::new("rules/r.toml", text))
            .map_err(|errors| errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn run_rule_with_gate() {
        let r = rule("run = \"echo metric tests 31\"\nmetric = \"tests\"\nmin = 30\napplies_to = [\"**/*.test.ts\"]\n")
            .unwrap();
        assert!(matches!(r.check, RuleCheck::Run(_)));
        assert_eq!(
            r.gate,
            Some(Gate {
                metric: "tests".into(),
                min: Some(30.0),
                max: None
            })
        );
        let applies = r.applies_to.unwrap();
        assert!(applies.matches(&ProjectPath::new("tests/a/b.test.ts").unwrap()));
        assert!(!applies.matches(&ProjectPath::new("tests/a/b.ts").unwrap()));
        assert!(r.required);
    }

    #[test]
    fn pattern_rule_defaults_to_forbid() {
        let r = rule("pattern = \"password\"\nrequired = false\n").unwrap();
        assert!(matches!(r.check, RuleCheck::Pattern { forbid: true, .. }));
        assert!(!r.required);
        let r = rule("pattern = \"^export\"\nforbid = false\n").unwrap();
        assert!(matches!(r.check, RuleCheck::Pattern { forbid: false, .. }));
    }

    #[test]
    fn inconsistent_rules_are_errors() {
        let cases: &[(&str, &str)] = &[
            ("description = \"x\"\n", "has neither `run` nor `pattern`"),
            (
                "run = \"x\"\npattern = \"y\"\n",
                "has both `run` and `pattern`",
            ),
            ("run = \"x\"\nforbid = true\n", "`forbid` needs `pattern`"),
            (
                "pattern = \"x\"\nmetric = \"m\"\nmax = 1\n",
                "`metric` needs `run`",
            ),
            ("run = \"x\"\nmin = 1\n", "`min` needs `metric`"),
            (
                "run = \"x\"\nmetric = \"m\"\n",
                "names a metric but no bound",
            ),
            (
                "run = \"x\"\nmetric = \"m\"\nmin = 5\nmax = 1\n",
                "`min` 5 above `max` 1",
            ),
            ("pattern = \"(unclosed\"\n", "invalid regex"),
            ("run = \"x\"\nrequird = true\n", "unknown key `requird`"),
            (
                "run = \"x\"\napplies_to = [\"../*.sql\"]\n",
                "escapes the project root",
            ),
            ("run = \"x\"\napplies_to = [\"a/[\"]\n", "invalid glob"),
            ("run = 3\n", "`run` must be a string, found an integer"),
            (
                "run = \"x\"\nrequired = \"yes\"\n",
                "`required` must be true or false",
            ),
            ("run = \n", "string"),
        ];
        for (text, expected) in cases {
            let errors = rule(text).expect_err(text);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{text:?}: expected {expected:?} in {errors:?}"
            );
        }
    }

    #[test]
    fn builtin_names_cannot_be_shadowed() {
        let errors = parse("json", &SourceFile::new("rules/json.toml", "run = \"x\"")).unwrap_err();
        assert!(matches!(
            errors[0].kind,
            SpecErrorKind::ShadowsBuiltin { .. }
        ));
        let errors = parse("a b", &SourceFile::new("rules/a b.toml", "run = \"x\"")).unwrap_err();
        assert!(matches!(errors[0].kind, SpecErrorKind::InvalidName { .. }));
    }
}
