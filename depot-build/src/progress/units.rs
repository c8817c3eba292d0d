//! Sizes and times as the progress output shows them.

use std::time::{Duration, SystemTime};

/// Decimal (SI) units, as in `docker build` output.
const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/// A byte count in decimal units: whole bytes below 1000 (`171B`), else two decimals (`1.05kB`,
/// `2.10MB`, `32.77kB`).
pub(crate) fn human_size(bytes: i64) -> String {
    if bytes.unsigned_abs() < 1000 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    // 999.995 and more would round to "1000.00": show the next unit instead.
    while value.abs() >= 999.995 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// A progress item's amount as buildx shows it after the item's name: ` 2.10MB / 3.20MB`
/// with a total, ` 2.10MB` without one, nothing before anything moved.
pub(crate) fn progress_amount(current: i64, total: Option<i64>) -> String {
    match total {
        Some(total) => format!(" {} / {}", human_size(current), human_size(total)),
        None if current != 0 => format!(" {}", human_size(current)),
        None => String::new(),
    }
}

/// Seconds with one decimal and a unit: `0.4s`, `12.0s`.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// The time from `start` to `end` (zero if `end` is earlier).
pub(crate) fn between(start: SystemTime, end: SystemTime) -> Duration {
    end.duration_since(start).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        let cases = [
            (0, "0B"),
            (2, "2B"),
            (171, "171B"),
            (999, "999B"),
            (1000, "1.00kB"),
            (1050, "1.05kB"),
            (32_768, "32.77kB"),
            (999_994, "999.99kB"),
            (999_999, "1.00MB"),
            (2_100_000, "2.10MB"),
            (3_355_443, "3.36MB"),
            (1_500_000_000, "1.50GB"),
            (7_000_000_000_000_000_000, "7.00EB"),
            (i64::MAX, "9.22EB"),
            (-2048, "-2.05kB"),
        ];
        for (bytes, shown) in cases {
            assert_eq!(human_size(bytes), shown, "{bytes}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(seconds(Duration::from_millis(12)), "0.0s");
        assert_eq!(seconds(Duration::from_millis(650)), "0.7s");
        assert_eq!(seconds(Duration::from_secs(75)), "75.0s");
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(
            between(start, start + Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(between(start, SystemTime::UNIX_EPOCH), Duration::ZERO);
    }
}
