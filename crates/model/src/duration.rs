//! Durations as Prometheus writes them: `90s`, `1h30m`, `2w`, `500ms`.

/// The units of a duration, largest first, with their length in milliseconds.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration as Prometheus's `model.ParseDuration` does, in milliseconds: numbers
/// each followed by a unit (`y`, `w`, `d`, `h`, `m`, `s`, `ms`), units from the largest
/// down, each at most once; or `0`. `None` if `s` is not one, or overflows.
///
/// ```
/// assert_eq!(model::parse_duration("1h30m"), Some(5_400_000));
/// assert_eq!(model::parse_duration("30m1h"), None);
/// ```
pub fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    // Units must come in UNITS order: each one found moves the allowed start past it.
    let mut next_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (i, &(_, ms)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .find(|(_, (unit, _))| *unit == &rest[..unit_len])?;
        next_unit = i + 1;
        total = total.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Writes a duration in milliseconds as Prometheus does: the largest units first, zero
/// parts left out (`1h30m`, `90ms`, `0s`).
///
/// ```
/// assert_eq!(model::format_duration(5_400_000), "1h30m");
/// assert_eq!(model::format_duration(0), "0s");
/// ```
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, len) in UNITS {
        let len = len.unsigned_abs();
        if rest >= len {
            out.push_str(&format!("{}{unit}", rest / len));
            rest %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_prometheus_parses_them() {
        for (s, ms) in [
            ("0", 0),
            ("15s", 15_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("2w3d", 17 * 86_400_000),
            ("1y", 365 * 86_400_000),
        ] {
            assert_eq!(parse_duration(s), Some(ms), "{s}");
            assert_eq!(parse_duration(&format_duration(ms)), Some(ms), "{s}");
        }
        for bad in [
            "",
            "15",
            "s",
            "1.5s",
            "1s1m",
            "1m1m",
            "-1s",
            "1 s",
            "99999999999999999999y",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
