//! Aligned columns for `list`, `plan` and `status`, without `format!`'s width argument.
//!
//! `format!("{:w$}")` panics when `w` reaches 65,536 ("Formatting argument out of
//! range"), and a width taken from user text (a title, an id) can. So columns are padded
//! here by hand, and a column is never padded wider than [`MAX_COLUMN`]: one very long
//! title overflows its own line instead of pushing every other line to its width.

/// The widest a column is padded to.
pub(crate) const MAX_COLUMN: usize = 60;

/// The width of `text` as the columns count it (characters).
pub(crate) fn width(text: &str) -> usize {
    text.chars().count()
}

/// The width to pad a column of these texts to.
pub(crate) fn column<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts
        .into_iter()
        .map(width)
        .max()
        .unwrap_or(0)
        .min(MAX_COLUMN)
}

/// Append `text`, then spaces up to `width` (left-aligned).
pub(crate) fn left(out: &mut String, text: &str, width: usize) {
    out.push_str(text);
    pad(out, width.saturating_sub(self::width(text)));
}

/// Append spaces up to `width`, then `text` (right-aligned).
pub(crate) fn right(out: &mut String, text: &str, width: usize) {
    pad(out, width.saturating_sub(self::width(text)));
    out.push_str(text);
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_by_characters_and_never_wider_than_the_cap() {
        let mut line = String::new();
        left(&mut line, "T1", 4);
        right(&mut line, "5h", 4);
        left(&mut line, "é", 2);
        assert_eq!(line, "T1    5hé ");
        let long = "x".repeat(70_000);
        assert_eq!(column(["a", long.as_str()]), MAX_COLUMN);
        let mut line = String::new();
        left(&mut line, &long, column([long.as_str()]));
        assert_eq!(line.len(), 70_000, "overflows, no padding, no panic");
    }
}
