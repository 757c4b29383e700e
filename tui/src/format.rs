//! Small text formatters shared by the views.

use std::time::{Duration, SystemTime};

/// `3s ago`, `2m ago`, `1h ago`, `3d ago`; `in the future` is clamped to `0s ago`.
pub fn age(now: SystemTime, at: SystemTime) -> String {
    format!(
        "{} ago",
        duration(now.duration_since(at).unwrap_or(Duration::ZERO))
    )
}

/// `3s`, `2m`, `1h`, `3d` (whole units, rounded down).
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// The last 8 characters of a worker id. Worker ids are UUIDv7, whose first characters are a
/// timestamp shared by workers registered together; the tail is random.
pub fn short_id(id: &str) -> &str {
    let n = id.chars().count();
    match id.char_indices().nth(n.saturating_sub(8)) {
        Some((i, _)) => &id[i..],
        None => id,
    }
}

/// `82.1%` from a fraction.
pub fn pct(frac: f64) -> String {
    format!("{:.1}%", frac * 100.0)
}

/// A compact number: `950`, `12.3k`, `4.5M`; one decimal below 100.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A horizontal gauge of `width` cells drawn with eighth blocks, e.g. `████▌   `.
pub fn bar(frac: f64, width: usize) -> String {
    const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (frac * (width * 8) as f64).round() as usize;
    let full = eighths / 8;
    let mut s = String::with_capacity(width * 3);
    for _ in 0..full {
        s.push('█');
    }
    if full < width {
        s.push(PARTIAL[eighths % 8]);
        for _ in full + 1..width {
            s.push(' ');
        }
    }
    s
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..cut])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(age(t0 + Duration::from_secs(3), t0), "3s ago");
        assert_eq!(age(t0 + Duration::from_secs(130), t0), "2m ago");
        assert_eq!(age(t0, t0 + Duration::from_secs(5)), "0s ago");
        assert_eq!(duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn bars_and_numbers() {
        assert_eq!(bar(0.0, 4), "    ");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(0.55, 4).chars().count(), 4);
        assert_eq!(bar(f64::NAN, 3), "   ");
        assert_eq!(num(4521.0), "4521");
        assert_eq!(num(12_345.0), "12.3k");
        assert_eq!(num(45.25), "45.2");
        assert_eq!(pct(0.821), "82.1%");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(short_id("01a21330-d452-761c-96df-152ecd7a1b86"), "cd7a1b86");
        assert_eq!(short_id("abc"), "abc");
    }
}
