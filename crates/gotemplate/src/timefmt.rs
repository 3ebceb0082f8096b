//! Go's `time.Time.Format` for times in UTC: the reference-time layout
//! (`Mon Jan 2 15:04:05 MST 2006`) that templates pass to `.StartsAt.Format`.

use std::fmt::Write as _;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Formats `ns` (nanoseconds since 1970, UTC) with Go's layout `layout`.
pub fn format(ns: i64, layout: &str) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = model::civil_from_days(days);
    let (hour, min, sec) = (rem / 3600, rem / 60 % 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 4).rem_euclid(7) as usize;
    let yday = days - model::days_from_civil(year, 1, 1) + 1;
    let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = String::new();
    let mut rest = layout;
    // Longest tokens first, as Go's `nextStdChunk` prefers them.
    const TOKENS: [&str; 33] = [
        "January",
        "Monday",
        "Z07:00:00",
        "-07:00:00",
        "Z07:00",
        "-07:00",
        "Z0700",
        "-0700",
        "2006",
        "Jan",
        "Mon",
        "MST",
        "002",
        "Z07",
        "-07",
        "01",
        "02",
        "_2",
        "03",
        "04",
        "05",
        "06",
        "15",
        "PM",
        "pm",
        "1",
        "2",
        "3",
        "4",
        "5",
        ".0",
        ".9",
        ",0",
    ];
    while !rest.is_empty() {
        let Some(tok) = TOKENS.iter().find(|t| rest.starts_with(**t)) else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let mut used = tok.len();
        match *tok {
            "January" => out.push_str(month_name),
            "Monday" => out.push_str(DAYS[weekday]),
            "Jan" => out.push_str(&month_name[..3]),
            "Mon" => out.push_str(&DAYS[weekday][..3]),
            "MST" => out.push_str("UTC"),
            "2006" => {
                let _ = write!(out, "{year:04}");
            }
            "06" => {
                let _ = write!(out, "{:02}", year.rem_euclid(100));
            }
            "01" => {
                let _ = write!(out, "{month:02}");
            }
            "1" => {
                let _ = write!(out, "{month}");
            }
            "02" => {
                let _ = write!(out, "{day:02}");
            }
            "_2" => {
                let _ = write!(out, "{day:>2}");
            }
            "2" => {
                let _ = write!(out, "{day}");
            }
            "002" => {
                let _ = write!(out, "{yday:03}");
            }
            "15" => {
                let _ = write!(out, "{hour:02}");
            }
            "03" => {
                let _ = write!(out, "{hour12:02}");
            }
            "3" => {
                let _ = write!(out, "{hour12}");
            }
            "04" => {
                let _ = write!(out, "{min:02}");
            }
            "4" => {
                let _ = write!(out, "{min}");
            }
            "05" => {
                let _ = write!(out, "{sec:02}");
            }
            "5" => {
                let _ = write!(out, "{sec}");
            }
            "PM" => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            "pm" => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            "Z07:00:00" | "Z07:00" | "Z0700" | "Z07" => out.push('Z'),
            "-07:00:00" => out.push_str("+00:00:00"),
            "-07:00" => out.push_str("+00:00"),
            "-0700" => out.push_str("+0000"),
            "-07" => out.push_str("+00"),
            ".0" | ".9" | ",0" => {
                // A run of 0s or 9s after a point is a fraction of a second, when no
                // digit follows it.
                let digit = tok.as_bytes()[1];
                let n = 1 + rest[2..].bytes().take_while(|&b| b == digit).count();
                if rest.as_bytes().get(1 + n).is_some_and(u8::is_ascii_digit) {
                    out.push_str(&rest[..1 + n]);
                } else {
                    let frac = format!("{nanos:09}");
                    let frac = &frac[..n.min(9)];
                    if digit == b'0' {
                        out.push(char::from(tok.as_bytes()[0]));
                        out.push_str(frac);
                    } else {
                        let trimmed = frac.trim_end_matches('0');
                        if !trimmed.is_empty() {
                            out.push(char::from(tok.as_bytes()[0]));
                            out.push_str(trimmed);
                        }
                    }
                }
                used = 1 + n;
            }
            _ => out.push_str(tok),
        }
        rest = &rest[used..];
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn layouts_format_as_go_formats_them() {
        // 2026-12-06 18:04:05.123 UTC, a Sunday.
        let ns = 1_796_580_245_123_000_000;
        for (layout, want) in [
            ("2006-01-02 15:04:05", "2026-12-06 18:04:05"),
            ("Mon Jan _2 3:04PM MST", "Sun Dec  6 6:04PM UTC"),
            ("Monday, January 2, 06 002", "Sunday, December 6, 26 340"),
            ("2006-01-02T15:04:05.000Z07:00", "2026-12-06T18:04:05.123Z"),
            ("15:04:05.999999 -0700", "18:04:05.123 +0000"),
            ("x15y", "x18y"),
        ] {
            assert_eq!(super::format(ns, layout), want, "{layout}");
        }
    }
}
