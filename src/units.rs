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
    if seconds > 0 {
        parts.push(format!("{seconds}s"));
    }
    // A timeout of 1500ms is "1s 500ms", not "1s".
    let millis = duration.subsec_millis();
    if millis > 0 {
        parts.push(format!("{millis}ms"));
    }
    if parts.is_empty() {
        parts.push("0s".to_owned());
    }
    parts.join(" ")
}

/// Seconds as `format_duration` writes them, with hundredths below a minute (recorded
/// durations of quick tasks are fractions of a second).
pub(crate) fn format_seconds(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.2}s")
    } else {
        format_duration(Duration::from_secs_f64(seconds.round()))
    }
}

/// A size such as `500M`, `2G`, `100k`, `1.5GiB` or `1234` (bytes); units are powers of
/// 1024.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.trim_end_matches("ib").trim_end_matches('b');
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let bytes = number * scale as f64;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

/// Bytes for humans: `1.5 MiB`.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1234"), Some(1234));
        assert_eq!(parse_size("100k"), Some(102_400));
        assert_eq!(parse_size("500M"), Some(500 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("2 GB"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5X"), None);
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.5 KiB");
    }

    #[test]
    fn hours_never_roll_into_days() {
        let h = |n: u64| Duration::from_secs(n);
        assert_eq!(format_duration(h(24 * 3600)), "24h");
        assert_eq!(format_duration(h(81 * 3600)), "81h");
        assert_eq!(format_duration(h(5400)), "1h 30m");
        assert_eq!(format_duration(h(45)), "45s");
        assert_eq!(format_duration(h(3601)), "1h 1s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_seconds(0.014), "0.01s");
        assert_eq!(format_seconds(12.5), "12.50s");
        assert_eq!(format_seconds(34.0 * 3600.0), "34h");
    }
}
