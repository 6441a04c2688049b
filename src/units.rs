//! Durations as plan readers write them: `4h`, `1h 30m`, `45s`.
//!
//! humantime's formatter rolls 24 hours into `1day` and prints every unit down to
//! nanoseconds; efforts and timeouts in a plan read better in hours, minutes and
//! seconds, which is also what humantime parses back.

use std::time::Duration;

/// `Duration` in hours, minutes and whole seconds (`0s` for zero).
pub(crate) fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let mut parts = Vec::with_capacity(3);
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 || parts.is_empty() {
        parts.push(format!("{seconds}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_never_roll_into_days() {
        let h = |n: u64| Duration::from_secs(n);
        assert_eq!(format_duration(h(24 * 3600)), "24h");
        assert_eq!(format_duration(h(81 * 3600)), "81h");
        assert_eq!(format_duration(h(5400)), "1h 30m");
        assert_eq!(format_duration(h(45)), "45s");
        assert_eq!(format_duration(h(3601)), "1h 1s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
