//! Timestamps as Promtail's `timestamp` stage parses them: the named formats (`RFC3339`,
//! `Unix`, `UnixMs`, `UnixUs`, `UnixNs`, and Go's `ANSIC`, `RFC1123Z`, ...) and Go
//! reference layouts (`2006-01-02 15:04:05.000 -0700`), read as Go's `time.Parse` reads
//! them: `1`/`01` month, `Jan`/`January`, `2`/`02`/`_2` day, `15`/`3`/`03` hour with
//! `PM`, `4`/`04`, `5`/`05`, `.000`/`.999` fractions (a fraction after the seconds is
//! accepted even when the layout has none), `-0700`, `-07:00`, `-07`, `Z07:00`, `MST`.
//! A layout without a year takes the current one (the previous one for a December line
//! read in January), as Promtail does; a time without an offset is in `location` (UTC by
//! default).

/// A compiled `format` with its `fallback_formats` and `location`.
#[derive(Debug, Clone)]
pub(crate) struct TimeParser {
    formats: Vec<Format>,
    location: Option<jiff::tz::TimeZone>,
}

#[derive(Debug, Clone)]
enum Format {
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    Layout(Vec<Chunk>),
}

#[derive(Debug, Clone, PartialEq)]
enum Chunk {
    Literal(String),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    TzName,
    /// `-0700` and friends: colons, seconds, and whether `Z` stands for UTC.
    Offset {
        z: bool,
        colon: bool,
        minutes: bool,
        seconds: bool,
    },
    /// `.000` (exactly n digits) or `.999` (any digits, optional).
    Fraction {
        digits: usize,
        optional: bool,
    },
}

const NAMED: [(&str, &str); 13] = [
    ("ANSIC", "Mon Jan _2 15:04:05 2006"),
    ("UnixDate", "Mon Jan _2 15:04:05 MST 2006"),
    ("RubyDate", "Mon Jan 02 15:04:05 -0700 2006"),
    ("RFC822", "02 Jan 06 15:04 MST"),
    ("RFC822Z", "02 Jan 06 15:04 -0700"),
    ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
    ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
    ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
    ("RFC3339", "2006-01-02T15:04:05Z07:00"),
    ("RFC3339Nano", "2006-01-02T15:04:05.999999999Z07:00"),
    ("Kitchen", "3:04PM"),
    ("Stamp", "Jan _2 15:04:05"),
    ("StampMilli", "Jan _2 15:04:05.000"),
];

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

impl TimeParser {
    pub(crate) fn new(
        format: &str,
        fallbacks: &[String],
        location: Option<&str>,
    ) -> Result<Self, String> {
        let location = location
            .map(|name| {
                jiff::tz::TimeZone::get(name).map_err(|e| {
                    format!("location {name:?} is not a time zone of the system's database: {e}")
                })
            })
            .transpose()?;
        let formats = std::iter::once(format)
            .chain(fallbacks.iter().map(String::as_str))
            .map(compile)
            .collect::<Result<_, _>>()?;
        Ok(Self { formats, location })
    }

    /// The Unix nanoseconds `value` stands for; `None` if no format reads it. `now` gives
    /// the year to layouts without one.
    pub(crate) fn parse(&self, value: &str, now: i64) -> Option<i64> {
        self.formats
            .iter()
            .find_map(|f| parse(f, value, self.location.as_ref(), now))
    }
}

fn compile(format: &str) -> Result<Format, String> {
    Ok(match format {
        "Unix" => Format::Unix,
        "UnixMs" => Format::UnixMs,
        "UnixUs" => Format::UnixUs,
        "UnixNs" => Format::UnixNs,
        _ => {
            let layout = NAMED
                .iter()
                .find(|(n, _)| *n == format)
                .map_or(format, |(_, l)| l);
            let chunks = chunks(layout);
            if !chunks.iter().any(|c| !matches!(c, Chunk::Literal(_))) {
                return Err(format!(
                    "format {format:?} is neither a known name (RFC3339, Unix, UnixMs, ...) nor a Go layout (such as 2006-01-02T15:04:05Z07:00)"
                ));
            }
            Format::Layout(chunks)
        }
    })
}

/// Splits a Go layout into its elements, as Go's `nextStdChunk` does.
fn chunks(layout: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = layout;
    let table: [(&str, Chunk); 27] = [
        ("January", Chunk::LongMonth),
        ("Jan", Chunk::Month),
        ("Monday", Chunk::LongWeekDay),
        ("Mon", Chunk::WeekDay),
        ("MST", Chunk::TzName),
        ("2006", Chunk::LongYear),
        ("01", Chunk::ZeroMonth),
        ("02", Chunk::ZeroDay),
        ("03", Chunk::ZeroHour12),
        ("04", Chunk::ZeroMinute),
        ("05", Chunk::ZeroSecond),
        ("06", Chunk::Year),
        ("15", Chunk::Hour),
        ("_2", Chunk::UnderDay),
        ("PM", Chunk::Pm),
        ("pm", Chunk::Pm),
        ("Z07:00:00", offset(true, true, true, true)),
        ("Z070000", offset(true, false, true, true)),
        ("Z07:00", offset(true, true, true, false)),
        ("Z0700", offset(true, false, true, false)),
        ("Z07", offset(true, false, false, false)),
        ("-07:00:00", offset(false, true, true, true)),
        ("-070000", offset(false, false, true, true)),
        ("-07:00", offset(false, true, true, false)),
        ("-0700", offset(false, false, true, false)),
        ("-07", offset(false, false, false, false)),
        ("1", Chunk::NumMonth),
    ];
    'outer: while !rest.is_empty() {
        for (text, chunk) in &table {
            if rest.starts_with(text) {
                push_literal(&mut out, &mut literal);
                out.push(chunk.clone());
                rest = &rest[text.len()..];
                continue 'outer;
            }
        }
        let single = match rest.as_bytes()[0] {
            b'2' => Some(Chunk::Day),
            b'3' => Some(Chunk::Hour12),
            b'4' => Some(Chunk::Minute),
            b'5' => Some(Chunk::Second),
            _ => None,
        };
        if let Some(c) = single {
            push_literal(&mut out, &mut literal);
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        // `.000` / `,999`: a fraction when the run of 0s or 9s is not followed by a digit.
        let b = rest.as_bytes();
        if (b[0] == b'.' || b[0] == b',') && b.len() > 1 && (b[1] == b'0' || b[1] == b'9') {
            let digit = b[1];
            let n = b[1..].iter().take_while(|&&c| c == digit).count();
            if !b.get(1 + n).is_some_and(u8::is_ascii_digit) {
                push_literal(&mut out, &mut literal);
                out.push(Chunk::Fraction {
                    digits: n,
                    optional: digit == b'9',
                });
                rest = &rest[1 + n..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    push_literal(&mut out, &mut literal);
    out
}

fn offset(z: bool, colon: bool, minutes: bool, seconds: bool) -> Chunk {
    Chunk::Offset {
        z,
        colon,
        minutes,
        seconds,
    }
}

fn push_literal(out: &mut Vec<Chunk>, literal: &mut String) {
    if !literal.is_empty() {
        out.push(Chunk::Literal(std::mem::take(literal)));
    }
}

/// Takes `min..=max` digits from the front of `s`.
fn number(s: &mut &str, min: usize, max: usize) -> Option<i64> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    let v = s[..n].parse().ok()?;
    *s = &s[n..];
    Some(v)
}

fn name(s: &mut &str, names: &[&str], short: bool) -> Option<usize> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if s.len() >= n.len() && s.is_char_boundary(n.len()) && s[..n.len()].eq_ignore_ascii_case(n)
        {
            *s = &s[n.len()..];
            return Some(i);
        }
    }
    None
}

fn fraction(s: &mut &str) -> Option<i64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut nanos: i64 = 0;
    for (i, c) in s.bytes().take(digits).enumerate() {
        if i < 9 {
            nanos = nanos * 10 + i64::from(c - b'0');
        }
    }
    for _ in digits..9 {
        nanos *= 10;
    }
    *s = &s[digits..];
    Some(nanos)
}

fn parse(
    format: &Format,
    value: &str,
    location: Option<&jiff::tz::TimeZone>,
    now: i64,
) -> Option<i64> {
    let int = |scale: i64| value.trim().parse::<i64>().ok()?.checked_mul(scale);
    match format {
        Format::UnixMs => int(1_000_000),
        Format::UnixUs => int(1_000),
        Format::UnixNs => int(1),
        Format::Unix => match value.split_once('.') {
            Some((sec, frac)) => {
                let sec: i64 = sec.parse().ok()?;
                if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                let mut f = frac;
                let nanos = fraction(&mut f)?;
                sec.checked_mul(1_000_000_000)?.checked_add(nanos)
            }
            None => int(1_000_000_000),
        },
        Format::Layout(chunks) => layout(chunks, value, location, now),
    }
}

fn layout(
    chunks: &[Chunk],
    value: &str,
    location: Option<&jiff::tz::TimeZone>,
    now: i64,
) -> Option<i64> {
    let mut s = value;
    let (mut year, mut month, mut day) = (None, 1, 1);
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    let mut pm = None;
    let mut offset: Option<i64> = None;
    for (i, chunk) in chunks.iter().enumerate() {
        match chunk {
            Chunk::Literal(l) => s = s.strip_prefix(l.as_str())?,
            Chunk::LongMonth => month = name(&mut s, &MONTHS, false)? + 1,
            Chunk::Month => month = name(&mut s, &MONTHS, true)? + 1,
            Chunk::NumMonth => month = usize::try_from(number(&mut s, 1, 2)?).ok()?,
            Chunk::ZeroMonth => month = usize::try_from(number(&mut s, 2, 2)?).ok()?,
            Chunk::LongWeekDay => {
                name(&mut s, &DAYS, false)?;
            }
            Chunk::WeekDay => {
                name(&mut s, &DAYS, true)?;
            }
            Chunk::Day => day = number(&mut s, 1, 2)?,
            Chunk::UnderDay => {
                s = s.strip_prefix(' ').unwrap_or(s);
                day = number(&mut s, 1, 2)?;
            }
            Chunk::ZeroDay => day = number(&mut s, 2, 2)?,
            Chunk::Hour => hour = number(&mut s, 1, 2)?,
            Chunk::Hour12 => hour = number(&mut s, 1, 2)?,
            Chunk::ZeroHour12 => hour = number(&mut s, 2, 2)?,
            Chunk::Minute => minute = number(&mut s, 1, 2)?,
            Chunk::ZeroMinute => minute = number(&mut s, 2, 2)?,
            Chunk::Second | Chunk::ZeroSecond => {
                second = if *chunk == Chunk::Second {
                    number(&mut s, 1, 2)?
                } else {
                    number(&mut s, 2, 2)?
                };
                // Go accepts a fraction after the seconds when the layout has none there.
                let next_is_fraction = matches!(chunks.get(i + 1), Some(Chunk::Fraction { .. }));
                if !next_is_fraction
                    && let Some(r) = s.strip_prefix(['.', ','])
                    && r.starts_with(|c: char| c.is_ascii_digit())
                {
                    s = r;
                    nanos = fraction(&mut s)?;
                }
            }
            Chunk::LongYear => year = Some(number(&mut s, 4, 4)?),
            Chunk::Year => {
                let y = number(&mut s, 2, 2)?;
                year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
            }
            Chunk::Pm => {
                if s.len() < 2 {
                    return None;
                }
                let p = &s[..2];
                pm = Some(if p.eq_ignore_ascii_case("PM") {
                    true
                } else if p.eq_ignore_ascii_case("AM") {
                    false
                } else {
                    return None;
                });
                s = &s[2..];
            }
            Chunk::TzName => {
                let n = s.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return None;
                }
                // Go gives an unknown abbreviation the zero offset; so does Skywatch, and
                // to every abbreviation but the location's own (which it cannot know).
                let name = &s[..n];
                s = &s[n..];
                if name == "UTC" || name == "GMT" {
                    offset = Some(0);
                }
            }
            Chunk::Offset {
                z,
                colon,
                minutes,
                seconds,
            } => {
                if *z && let Some(r) = s.strip_prefix('Z') {
                    s = r;
                    offset = Some(0);
                    continue;
                }
                let sign = match s.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                s = &s[1..];
                let h = number(&mut s, 2, 2)?;
                let mut total = h * 3600;
                if *minutes {
                    if *colon {
                        s = s.strip_prefix(':')?;
                    }
                    total += number(&mut s, 2, 2)? * 60;
                }
                if *seconds {
                    if *colon {
                        s = s.strip_prefix(':')?;
                    }
                    total += number(&mut s, 2, 2)?;
                }
                offset = Some(sign * total);
            }
            Chunk::Fraction { digits, optional } => match s.strip_prefix(['.', ',']) {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    if !optional && n != *digits {
                        return None;
                    }
                    s = r;
                    nanos = fraction(&mut s)?;
                }
                _ if *optional => {}
                _ => return None,
            },
        }
    }
    if !s.is_empty() {
        return None;
    }
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        Some(_) if hour > 12 => return None,
        _ => {}
    }
    let year = match year {
        Some(y) => y,
        None => {
            let now = jiff::Timestamp::from_nanosecond(i128::from(now)).ok()?;
            let now = now.to_zoned(location.cloned().unwrap_or(jiff::tz::TimeZone::UTC));
            let y = i64::from(now.year());
            if now.month() == 1 && month == 12 {
                y - 1
            } else {
                y
            }
        }
    };
    let dt = jiff::civil::DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        i32::try_from(nanos).ok()?,
    )
    .ok()?;
    let ts = match offset {
        Some(secs) => {
            let off = jiff::tz::Offset::from_seconds(i32::try_from(secs).ok()?).ok()?;
            off.to_timestamp(dt).ok()?
        }
        None => dt
            .to_zoned(location.cloned().unwrap_or(jiff::tz::TimeZone::UTC))
            .ok()?
            .timestamp(),
    };
    i64::try_from(ts.as_nanosecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z

    fn check(format: &str, value: &str, expect: Option<i64>) {
        let p = TimeParser::new(format, &[], None).expect("format");
        assert_eq!(p.parse(value, NOW), expect, "{format} {value}");
    }

    #[test]
    fn go_layouts() {
        check("RFC3339", "2023-11-14T22:13:20Z", Some(NOW));
        check(
            "RFC3339",
            "2023-11-14T22:13:20.123Z",
            Some(NOW + 123_000_000),
        );
        check("RFC3339", "2023-11-14T22:13:20", None);
        check("RFC3339Nano", "2023-11-14T22:13:20Z", Some(NOW));
        check("RFC1123Z", "Tue, 14 Nov 2023 22:13:20 +0000", Some(NOW));
        check("RFC1123", "Tue, 14 Nov 2023 22:13:20 UTC", Some(NOW));
        check("ANSIC", "Tue Nov 14 22:13:20 2023", Some(NOW));
        check("2006-01-02 3:04:05PM", "2023-11-14 10:13:20PM", Some(NOW));
        check(
            "2006-01-02 15:04:05,000",
            "2023-11-14 22:13:20,001",
            Some(NOW + 1_000_000),
        );
        check("2006-01-02 15:04:05.000", "2023-11-14 22:13:20.01", None);
        check("Jan _2 15:04:05", "Nov 14 22:13:20", Some(NOW));
        check(
            "2006-01-02T15:04:05-07:00",
            "2023-11-14T17:13:20-05:00",
            Some(NOW),
        );
        check("2006-01-02", "2023-11-14x", None);
    }

    #[test]
    fn a_year_less_december_line_read_in_january_is_last_year() {
        let p = TimeParser::new("Jan _2 15:04:05", &[], None).expect("format");
        let jan_2024 = 1_704_153_600_000_000_000; // 2024-01-02T00:00:00Z
        let dec_2023 = 1_703_980_800_000_000_000; // 2023-12-31T00:00:00Z
        assert_eq!(p.parse("Dec 31 00:00:00", jan_2024), Some(dec_2023));
    }

    #[test]
    fn fallbacks_and_locations() {
        let p = TimeParser::new("UnixMs", &["RFC3339".into()], None).expect("format");
        assert_eq!(p.parse("2023-11-14T22:13:20Z", NOW), Some(NOW));
        let p = TimeParser::new("2006-01-02 15:04:05", &[], Some("Europe/Berlin")).expect("tz");
        assert_eq!(p.parse("2023-11-14 23:13:20", NOW), Some(NOW));
        assert!(TimeParser::new("no digits", &[], None).is_err());
    }
}
