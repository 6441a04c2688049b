//! Which checks a task's outputs are due, and which verdicts are already known (SPEC
//! §5): a check's key is its rule's digest and the digests of the outputs it applies
//! to, so a verdict kept for the same key (in the state, or in the cache entry of the
//! run that made the outputs) stands without running the check again.

use crate::explain::Reason;
use crate::hash::Digest;
use crate::rules::RuleSet;
use crate::rules::check::{CheckResult, check_key};
use crate::spec::{ProjectPath, Task};
use crate::state::TaskState;

/// One check a task's outputs are due, and its verdict if one is already known.
#[derive(Debug)]
pub(crate) struct PlannedCheck {
    /// Position of the rule in the rule set.
    pub(crate) rule: usize,
    pub(crate) key: Digest,
    /// The outputs it applies to (project-relative).
    pub(crate) files: Vec<String>,
    /// From the state (the last verdict for the same key) or the run's cache entry.
    pub(crate) known: Option<CheckResult>,
    /// Whether `known` is a verdict on the files, fit to keep and cache (not a timeout,
    /// say). Known verdicts are: only such verdicts are kept.
    pub(crate) cacheable: bool,
    /// Why it must run again when an earlier verdict for this rule exists.
    pub(crate) reason: Option<Reason>,
}

/// The checks `task`'s `outputs` are due: every rule in its `checks` that applies to at
/// least one output, with its key and any verdict already known for that key.
/// `rule_digests` are `check::rule_digest` of every rule, by position; `recorded` is
/// the task's state; `kept` reads the verdicts in the cache entry of its last success
/// (asked at most once, and only when the state does not know).
pub(crate) fn plan(
    rules: &RuleSet,
    rule_digests: &[Digest],
    task: &Task,
    recorded: Option<&TaskState>,
    outputs: &[(String, Digest)],
    kept: &mut dyn FnMut() -> Vec<(Digest, CheckResult)>,
) -> Vec<PlannedCheck> {
    let earlier_verdicts = recorded.map_or(&[][..], |s| &s.checks[..]);
    let mut from_cache: Option<Vec<(Digest, CheckResult)>> = None;
    let mut planned = Vec::with_capacity(task.checks.len());
    for name in &task.checks {
        let Some(rule) = rules.position(name) else {
            continue;
        };
        let applies = &rules.at(rule).applies_to;
        let files: Vec<(String, Digest)> = outputs
            .iter()
            .filter(|(path, _)| {
                applies.as_ref().is_none_or(|a| {
                    ProjectPath::try_from(path.clone()).is_ok_and(|p| a.matches(&p))
                })
            })
            .cloned()
            .collect();
        if files.is_empty() {
            continue;
        }
        let key = check_key(rule_digests[rule], &files);
        let earlier = earlier_verdicts.iter().find(|r| &r.rule == name);
        let known = match earlier {
            Some(record) if record.key == key => Some(record.result.clone()),
            // The cache entry of the outputs' run may know (another checkout, a rule
            // changed back).
            _ => from_cache
                .get_or_insert_with(&mut *kept)
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, verdict)| verdict.clone()),
        };
        let reason = match earlier {
            Some(record) if record.key != key && known.is_none() => {
                Some(Reason::RuleChanged { rule: name.clone() })
            }
            _ => None,
        };
        planned.push(PlannedCheck {
            rule,
            key,
            files: files.into_iter().map(|(path, _)| path).collect(),
            cacheable: known.is_some(),
            known,
            reason,
        });
    }
    planned
}
