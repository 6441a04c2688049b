//! "Did you mean …?" for every unknown name a user can type: keys, task ids, groups, rules,
//! targets. One place so all suggestions feel the same (close by edit distance, case
//! differences forgiven), like `SpellcheckNode` in ninja's `State`.

/// The candidate closest to `unknown`, if any is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a, I>(unknown: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lowered = unknown.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate == unknown {
            continue;
        }
        let score = if candidate.to_lowercase() == lowered {
            1.0
        } else {
            strsim::jaro_winkler(&lowered, &candidate.to_lowercase())
        };
        // Very short names are all "close" to each other; only a case slip counts there.
        let close = score == 1.0 || (unknown.chars().count() >= 3 && score >= 0.8);
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["title", "group", "priority", "effort", "outputs"];
        assert_eq!(did_you_mean("titel", keys).as_deref(), Some("title"));
        assert_eq!(did_you_mean("output", keys).as_deref(), Some("outputs"));
        assert_eq!(did_you_mean("Group", keys).as_deref(), Some("group"));
        assert_eq!(did_you_mean("zzz", keys), None);
        assert_eq!(did_you_mean("T3", ["T1", "T4"]), None);
        assert_eq!(did_you_mean("t4", ["T1", "T4"]).as_deref(), Some("T4"));
        assert_eq!(
            did_you_mean("GROUP_X", ["GROUP_A", "OTHER"]).as_deref(),
            Some("GROUP_A")
        );
        assert_eq!(did_you_mean("x", Vec::<&str>::new()), None);
    }
}
