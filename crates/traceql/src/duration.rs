//! Durations as Tempo reads and writes them: TraceQL literals (`100ms`, `1h30m`, `1.5s`, `2d`)
//! are Prometheus durations or, failing that, Go's `time.ParseDuration`; the HTTP APIs'
//! `minDuration` parameters are Go's alone; answers print durations as Go's
//! `Duration.String` does (`1.5s`, `1h0m0s`, `250µs`).

/// Nanoseconds in one of each unit both syntaxes know.
const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;
const Y: i64 = 365 * D;

/// A TraceQL duration literal in nanoseconds: Prometheus's form (`1h30m`, `5d`, `1y`; whole
/// numbers, units from largest to smallest) first, then Go's (`1.5s`, `100us`, `250µs`).
/// `None` if neither reads it or it overflows.
pub(crate) fn parse_literal(s: &str) -> Option<i64> {
    parse_prometheus(s).or_else(|| parse_go_duration(s).ok())
}

/// Prometheus's `model.ParseDuration`: `[0-9]+(y|w|d|h|m|s|ms)` repeated, each unit at most
/// once and from largest to smallest.
fn parse_prometheus(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", Y),
        ("w", W),
        ("d", D),
        ("h", H),
        ("m", M),
        ("s", S),
        ("ms", MS),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let at = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)?;
        let (_, scale) = UNITS[next_unit + at];
        next_unit += at + 1;
        total = total.checked_add(n.checked_mul(scale)?)?;
    }
    (!s.is_empty()).then_some(total)
}

/// Go's `time.ParseDuration`: an optional sign, then decimal numbers each with a unit (`ns`,
/// `us`, `µs`, `ms`, `s`, `m`, `h`), such as `1.5h` or `2h45m`; `0` alone needs no unit.
/// The error says what is wrong with `s`.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("{s:?} is not a duration: write a number and a unit, such as 100ms, 1.5s or 2h45m")
    };
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let scale: i128 = match &rest[..unit_len] {
            "ns" => NS.into(),
            "us" | "µs" | "μs" => US.into(),
            "ms" => MS.into(),
            "s" => S.into(),
            "m" => M.into(),
            "h" => H.into(),
            "" => {
                return Err(format!(
                    "{s:?} has a number without a unit: add one of ns, us, ms, s, m, h"
                ));
            }
            unit => {
                return Err(format!(
                    "{s:?} has the unknown unit {unit:?}: use ns, us, ms, s, m or h"
                ));
            }
        };
        rest = &rest[unit_len..];
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(bad)?;
        // The fraction's digits beyond nanosecond precision are dropped, as Go drops them.
        let mut place = scale;
        for digit in frac_part.bytes().take(30) {
            place /= 10;
            value += i128::from(digit - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(bad)?;
        if total > i128::from(i64::MAX) + 1 {
            return Err(format!(
                "{s:?} is too long a duration: the most is about 292 years"
            ));
        }
    }
    let signed = if negative { -total } else { total };
    i64::try_from(signed)
        .map_err(|_| format!("{s:?} is too long a duration: the most is about 292 years"))
}

/// `ns` nanoseconds as Go's `time.Duration.String` writes them: `0s`, `750ns`, `1.5µs`,
/// `20ms`, `1.5s`, `2m30s`, `1h0m0s`.
pub fn format_go_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (unit, digits) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        return format!("{sign}{}{unit}", fraction(u, digits));
    }
    let seconds = fraction(u % 60_000_000_000, 9);
    let minutes = u / 60_000_000_000;
    if minutes == 0 {
        return format!("{sign}{seconds}s");
    }
    let hours = minutes / 60;
    if hours == 0 {
        return format!("{sign}{minutes}m{seconds}s");
    }
    format!("{sign}{hours}h{}m{seconds}s", minutes % 60)
}

/// `v` divided by 10^`digits`, with the fraction's trailing zeros (and a bare point) left off.
fn fraction(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (whole, frac) = (v / scale, v % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_as_tempo_reads_them() {
        for (text, ns) in [
            ("100ms", 100 * MS),
            ("1h30m", H + 30 * M),
            ("5d", 5 * D),
            ("1w", W),
            ("1y", Y),
            ("1.5s", 1_500 * MS),
            ("250us", 250 * US),
            ("250µs", 250 * US),
            ("3ns", 3),
            ("0", 0),
            ("2h45m10.5s", 2 * H + 45 * M + 10_500 * MS),
            // Go reads units in any order where Prometheus does not.
            ("1m1h", H + M),
        ] {
            assert_eq!(parse_literal(text), Some(ns), "{text}");
        }
        for bad in ["", "ms", "5", "1.5", "5x", "1.s.", "99999999999999999999h"] {
            assert_eq!(parse_literal(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_durations_parse_with_errors_that_say_what_to_write() {
        assert_eq!(parse_go_duration("-1.5h"), Ok(-(H + 30 * M)));
        assert_eq!(parse_go_duration(".5s"), Ok(500 * MS));
        assert_eq!(parse_go_duration("1.0000000001s"), Ok(S));
        assert!(
            parse_go_duration("5d")
                .unwrap_err()
                .contains("unknown unit \"d\"")
        );
        assert!(
            parse_go_duration("5")
                .unwrap_err()
                .contains("without a unit")
        );
        assert!(
            parse_go_duration("3000000h")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse_go_duration("abc").is_err() && parse_go_duration("").is_err());
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        for (ns, text) in [
            (0, "0s"),
            (750, "750ns"),
            (1_500, "1.5µs"),
            (20 * MS, "20ms"),
            (1_500 * MS, "1.5s"),
            (150 * S, "2m30s"),
            (H, "1h0m0s"),
            (-(S + 1), "-1.000000001s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format_go_duration(ns), text);
        }
    }
}
