//! Names users give things in tasks.toml: task ids, group names, rule names.
//!
//! All three share one alphabet (`[A-Za-z0-9_.-]+`, SPEC §2) so they can appear in paths
//! (`.cache/logs/<task>.log`), branch names (`agent/<ID>/<agent>`) and targets without
//! quoting. `all` is reserved because it is the default target. A name is at most
//! [`MAX_NAME`] characters: file names conduct derives from them
//! (`.cache/logs/<task>.<rule>.check.log`, `agent-<ID>-<agent>`) must fit the 255 bytes
//! a file name can hold, and a longer id would pass `check` only to fail every build.

use std::fmt;

/// The rules conduct knows without a file (SPEC §5); project rules may not take their
/// names.
pub(crate) const BUILTIN_RULES: &[&str] = &["non_empty", "json", "toml"];

/// The rule names a config may use: what `spec` needs to know of the rule set, so it
/// does not depend on `rules` (which reads its files with `spec`'s reader).
pub(crate) trait RuleNames {
    fn contains(&self, name: &str) -> bool;
    /// Every name, for "did you mean".
    fn names(&self) -> Vec<&str>;
}

/// A plain list of names (tests, and configs checked without rule files).
impl<const N: usize> RuleNames for [&str; N] {
    fn contains(&self, name: &str) -> bool {
        self.as_slice().contains(&name)
    }

    fn names(&self) -> Vec<&str> {
        self.to_vec()
    }
}

/// The longest task id, group, rule or agent name.
pub(crate) const MAX_NAME: usize = 100;

/// Why a name was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameProblem {
    Empty,
    BadChar(char),
    Reserved,
    /// Longer than [`MAX_NAME`] (the length found).
    TooLong(usize),
}

impl std::error::Error for NameProblem {}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("is empty"),
            NameProblem::BadChar(c) => write!(f, "contains {c:?}"),
            NameProblem::Reserved => f.write_str("is reserved for the default target"),
            NameProblem::TooLong(n) => {
                write!(f, "is {n} characters long (at most {MAX_NAME})")
            }
        }
    }
}

/// Check a name against the shared alphabet.
pub(crate) fn check_name(name: &str) -> Result<(), NameProblem> {
    check_label(name)?;
    if name == "all" {
        return Err(NameProblem::Reserved);
    }
    Ok(())
}

/// Check a label that names files but is no target (an agent): the alphabet and the
/// length of names, `all` allowed.
pub(crate) fn check_label(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(NameProblem::BadChar(c));
    }
    if name.len() > MAX_NAME {
        return Err(NameProblem::TooLong(name.chars().count()));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub(crate) struct $name(String);

        impl TryFrom<String> for $name {
            type Error = NameProblem;

            fn try_from(name: String) -> Result<$name, NameProblem> {
                check_name(&name).map(|()| $name(name))
            }
        }

        impl $name {
            pub(crate) fn new(name: &str) -> Result<$name, NameProblem> {
                check_name(name).map(|()| $name(name.to_owned()))
            }

            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A task id such as `T9`: the key under `[tasks.*]`.
    TaskId
);
name_type!(
    /// A group name such as `GROUP_A`: the key under `[groups.*]`.
    GroupName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_use_one_alphabet() {
        assert!(TaskId::new("T1").is_ok());
        assert!(TaskId::new("build.web-app_2").is_ok());
        assert_eq!(TaskId::new("all"), Err(NameProblem::Reserved));
        assert_eq!(TaskId::new(""), Err(NameProblem::Empty));
        assert_eq!(GroupName::new("a b"), Err(NameProblem::BadChar(' ')));
        assert_eq!(GroupName::new("a/b"), Err(NameProblem::BadChar('/')));
        assert!(TaskId::new(&"x".repeat(MAX_NAME)).is_ok());
        assert_eq!(
            TaskId::new(&"x".repeat(253)),
            Err(NameProblem::TooLong(253))
        );
        assert_eq!(check_label("all"), Ok(()));
        assert_eq!(check_label("../x"), Err(NameProblem::BadChar('/')));
    }
}
