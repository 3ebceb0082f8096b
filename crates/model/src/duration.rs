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

/// The day counted from 1970-01-01 of a civil date: the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch as RFC 3339 in UTC, with milliseconds when there are any:
/// `2026-11-29T10:00:00.123Z`.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let frac = ms.rem_euclid(1000);
    let base = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:03}Z")
    }
}

/// Parses RFC 3339 (`2026-11-29T10:00:00Z`, `...00.5+01:00`) into milliseconds since the
/// epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    if s.len() < 20
        || s.as_bytes()[4] != b'-'
        || s.as_bytes()[7] != b'-'
        || !matches!(s.as_bytes()[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.chars().take_while(char::is_ascii_digit).count();
        let text = &f[..digits];
        ms = format!("{text:0<3}")[..3].parse::<i64>().ok()?;
        rest = &f[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let h: i64 = o.get(1..3)?.parse().ok()?;
            let m: i64 = o.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset) * 1000 + ms)
}

#[cfg(test)]
mod rfc3339_tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        for ms in [0, 1_795_990_000_123, 951_782_400_000, -86_400_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms), "{ms}");
        }
        assert_eq!(
            format_rfc3339(1_795_990_000_123),
            "2026-11-29T22:06:40.123Z"
        );
        assert_eq!(
            parse_rfc3339("2026-11-29T23:06:40.123456+01:00"),
            Some(1_795_990_000_123)
        );
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z").map(|v| v < 0),
            Some(true)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(days_from_civil(2026, 11, 29), 20_786);
    }
}
