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

/// The civil date of a day counted from 1970-01-01 (negative before it): year, month
/// (1-12) and day (1-31) of the proleptic Gregorian calendar, after Howard Hinnant's
/// `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod civil_tests {
    #[test]
    fn days_map_to_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(super::civil_from_days(20_786), (2026, 11, 29));
        assert_eq!(super::civil_from_days(-1), (1969, 12, 31));
    }
}
