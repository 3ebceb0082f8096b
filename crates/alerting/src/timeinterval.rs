//! Alertmanager's time intervals: times of day, weekdays, days of the month, months and
//! years, read in the interval's `location` (an IANA time zone such as `Europe/Berlin`,
//! `Local`, or UTC when unset).
//!
//! A time is converted to the zone's wall clock before any field is compared, so daylight
//! saving time is handled as Alertmanager handles it: on the day clocks go forward in
//! Europe/Berlin, `02:00` to `03:00` matches nothing (that hour does not exist); on the day
//! they go back, it matches both passes through that hour. Zones come from the system's
//! IANA database (`/usr/share/zoneinfo`), as Go's `time.LoadLocation` reads it.
//!
//! One deliberate difference from Alertmanager 0.25: it counted the days of a month as its
//! length in hours divided by 24, so in a month whose clocks go forward (March in
//! Europe/Berlin) `days_of_month: ["-1"]` meant the 30th. Skywatch counts calendar days,
//! as Alertmanager does since that was fixed (its #5447).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::TimeInterval;

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `HH:MM` to minutes of the day, two digits each; `24:00` is the end of the day.
fn minutes(t: &str) -> Result<i32, String> {
    let bad =
        || format!("couldn't parse timestamp {t:?}, invalid format: write HH:MM, 00:00 to 24:00");
    let (h, m) = t.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Go's strconv.Atoi: an optional sign and decimal digits.
fn integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// A range `a:b` or a single `a`, lower-cased, each end read by `member`.
fn range(text: &str, member: impl Fn(&str) -> Result<i64, String>) -> Result<(i64, i64), String> {
    let text = text.to_lowercase();
    match text.split(':').collect::<Vec<_>>().as_slice() {
        [a] => {
            let a = member(a)?;
            Ok((a, a))
        }
        [a, b] => Ok((member(a)?, member(b)?)),
        _ => Err(format!("couldn't parse range {text:?}, invalid format")),
    }
}

fn weekdays(text: &str) -> Result<(i64, i64), String> {
    let (a, b) = range(text, |s| {
        WEEKDAYS
            .iter()
            .position(|d| *d == s)
            .map(|i| i as i64)
            .ok_or_else(|| format!("{s:?} is not a valid weekday: write monday, or monday:friday"))
    })?;
    if a > b {
        return Err(format!("{text:?}: start day cannot be after end day"));
    }
    Ok((a, b))
}

fn days_of_month(text: &str) -> Result<(i64, i64), String> {
    let (a, b) = range(text, |s| {
        integer(s)
            .ok_or_else(|| format!("{s:?} is not a day of the month: write 1 to 31 or -31 to -1"))
    })?;
    for d in [a, b] {
        if d == 0 || !(-31..=31).contains(&d) {
            return Err(format!("{d} is not a valid day of the month: out of range"));
        }
    }
    if a < 0 && b > 0 {
        return Err(format!(
            "{text:?}: end day must be negative if start day is negative"
        ));
    }
    // Negative days compared as in a 28-day month, as Alertmanager compares them.
    let on_28 = |d: i64| if d < 0 { 28 + d } else { d };
    if on_28(a) > on_28(b) {
        return Err(format!("end day {b} is always before start day {a}"));
    }
    Ok((a, b))
}

fn months(text: &str) -> Result<(i64, i64), String> {
    let (a, b) = range(text, |s| {
        MONTHS
            .iter()
            .position(|m| *m == s)
            .map(|i| i as i64 + 1)
            .or_else(|| integer(s))
            .ok_or_else(|| format!("{s:?} is not a valid month: write january or 1"))
    })?;
    if a > b {
        return Err(format!("{text:?}: end month is before start month"));
    }
    Ok((a, b))
}

fn years(text: &str) -> Result<(i64, i64), String> {
    let (a, b) = range(text, |s| {
        integer(s).ok_or_else(|| format!("{s:?} is not a year"))
    })?;
    if a > b {
        return Err(format!("end year {b} is before start year {a}"));
    }
    Ok((a, b))
}

/// The zone `location` names: UTC when unset or empty, the system's zone for `Local`, an
/// IANA zone otherwise (spelt exactly, as Go's loader on Linux needs it).
pub fn zone(location: Option<&str>) -> Result<TimeZone, String> {
    match location {
        None | Some("" | "UTC") => Ok(TimeZone::UTC),
        Some("Local") => Ok(TimeZone::system()),
        Some(name) => {
            let unknown = || {
                format!(
                    "unknown time zone {name:?}: write an IANA name such as Europe/Berlin, UTC or Local (the system's time zone database must have it)"
                )
            };
            let tz = jiff::tz::db().get(name).map_err(|_| unknown())?;
            if tz.iana_name() != Some(name) {
                return Err(unknown());
            }
            Ok(tz)
        }
    }
}

/// Checks every field of an interval as Alertmanager reads it.
pub fn check(i: &TimeInterval) -> Result<(), String> {
    for t in &i.times {
        if t.start_time.is_empty() || t.end_time.is_empty() {
            return Err("times: both start_time and end_time must be provided".into());
        }
        let (a, b) = (minutes(&t.start_time)?, minutes(&t.end_time)?);
        if a >= b {
            return Err(format!(
                "times: {} to {}: start time cannot be equal or greater than end time",
                t.start_time, t.end_time
            ));
        }
    }
    for w in &i.weekdays {
        weekdays(w).map_err(|e| format!("weekdays: {e}"))?;
    }
    for d in &i.days_of_month {
        days_of_month(d).map_err(|e| format!("days_of_month: {e}"))?;
    }
    for m in &i.months {
        months(m).map_err(|e| format!("months: {e}"))?;
    }
    for y in &i.years {
        years(y).map_err(|e| format!("years: {e}"))?;
    }
    zone(i.location.as_deref()).map_err(|e| format!("location: {e}"))?;
    Ok(())
}

/// Whether the time `ms` (since the epoch) is inside the interval, on the wall clock of
/// its location. Fields that do not parse make it never match (the configuration check
/// refuses them first).
pub fn contains(i: &TimeInterval, ms: i64) -> bool {
    let (Ok(tz), Ok(at)) = (zone(i.location.as_deref()), Timestamp::from_millisecond(ms)) else {
        return false;
    };
    let local = at.to_zoned(tz);
    let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
    let (year, month, day) = (
        i64::from(local.year()),
        i64::from(local.month()),
        i64::from(local.day()),
    );
    let weekday = i64::from(local.weekday().to_sunday_zero_offset());
    let month_days = i64::from(local.date().days_in_month());
    let any = |items: &[String], f: &dyn Fn(&str) -> Option<bool>| {
        items.is_empty() || items.iter().any(|s| f(s).unwrap_or(false))
    };
    let in_times = i.times.is_empty()
        || i.times.iter().any(|t| {
            matches!((minutes(&t.start_time), minutes(&t.end_time)),
                (Ok(a), Ok(b)) if a <= minute && minute < b)
        });
    in_times
        && any(&i.days_of_month, &|s| {
            let (a, b) = days_of_month(s).ok()?;
            let begin = if a < 0 { month_days + a + 1 } else { a };
            let end = if b < 0 { month_days + b + 1 } else { b };
            if begin > month_days {
                return Some(false);
            }
            let clamp = |n: i64| n.clamp(-month_days, month_days);
            Some(clamp(begin) <= day && day <= clamp(end))
        })
        && any(&i.months, &|s| {
            let (a, b) = months(s).ok()?;
            Some(a <= month && month <= b)
        })
        && any(&i.weekdays, &|s| {
            let (a, b) = weekdays(s).ok()?;
            Some(a <= weekday && weekday <= b)
        })
        && any(&i.years, &|s| {
            let (a, b) = years(s).ok()?;
            Some(a <= year && year <= b)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeRange;

    fn times(start: &str, end: &str) -> Vec<TimeRange> {
        vec![TimeRange {
            start_time: start.into(),
            end_time: end.into(),
        }]
    }

    /// Milliseconds of an instant written in RFC 3339.
    fn at(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn business_hours_on_weekdays() {
        let i = TimeInterval {
            times: times("09:00", "17:00"),
            weekdays: vec!["monday:friday".into()],
            ..TimeInterval::default()
        };
        check(&i).unwrap();
        assert!(contains(&i, at("2026-11-27T10:00:00Z")));
        assert!(!contains(&i, at("2026-11-27T17:00:00Z")));
        assert!(!contains(&i, at("2026-11-27T08:59:00Z")));
        assert!(!contains(&i, at("2026-11-29T10:00:00Z")));
    }

    #[test]
    fn the_last_days_of_a_month_and_bad_fields() {
        let i = TimeInterval {
            days_of_month: vec!["-2:-1".into()],
            months: vec!["february".into()],
            ..TimeInterval::default()
        };
        check(&i).unwrap();
        assert!(!contains(&i, at("2024-02-27T12:00:00Z")));
        assert!(contains(&i, at("2024-02-28T12:00:00Z")));
        assert!(contains(&i, at("2024-02-29T12:00:00Z")));
        for (bad, want) in [
            (
                TimeInterval {
                    weekdays: vec!["funday".into()],
                    ..TimeInterval::default()
                },
                "funday",
            ),
            (
                TimeInterval {
                    weekdays: vec!["1".into()],
                    ..TimeInterval::default()
                },
                "not a valid weekday",
            ),
            (
                TimeInterval {
                    times: times("18:00", "09:00"),
                    ..TimeInterval::default()
                },
                "start time cannot be equal or greater",
            ),
            (
                TimeInterval {
                    times: times("9:00", "17:00"),
                    ..TimeInterval::default()
                },
                "invalid format",
            ),
            (
                TimeInterval {
                    days_of_month: vec!["-5:3".into()],
                    ..TimeInterval::default()
                },
                "end day must be negative",
            ),
            (
                TimeInterval {
                    location: Some("Mars/Olympus".into()),
                    ..TimeInterval::default()
                },
                "unknown time zone",
            ),
            (
                TimeInterval {
                    location: Some("europe/berlin".into()),
                    ..TimeInterval::default()
                },
                "unknown time zone",
            ),
        ] {
            let e = check(&bad).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e}");
        }
        // Alertmanager 0.25 does not bound months given as numbers.
        check(&TimeInterval {
            months: vec!["13".into()],
            ..TimeInterval::default()
        })
        .unwrap();
    }

    #[test]
    fn berlin_business_hours_follow_daylight_saving_time() {
        let i = TimeInterval {
            times: times("09:00", "17:00"),
            location: Some("Europe/Berlin".into()),
            ..TimeInterval::default()
        };
        check(&i).unwrap();
        // Winter (UTC+1): 09:00 in Berlin is 08:00 UTC.
        assert!(contains(&i, at("2025-03-28T08:00:00Z")));
        assert!(!contains(&i, at("2025-03-28T07:59:00Z")));
        // Clocks go forward on 2025-03-30; summer (UTC+2): 09:00 is 07:00 UTC.
        assert!(contains(&i, at("2025-03-31T07:00:00Z")));
        assert!(!contains(&i, at("2025-03-31T06:59:00Z")));
        assert!(!contains(&i, at("2025-03-31T15:00:00Z")));
        // Back to winter after 2025-10-26.
        assert!(!contains(&i, at("2025-10-27T07:30:00Z")));
        assert!(contains(&i, at("2025-10-27T08:00:00Z")));
    }

    #[test]
    fn the_hour_that_does_not_exist_and_the_hour_that_happens_twice() {
        let night = TimeInterval {
            times: times("02:00", "03:00"),
            location: Some("Europe/Berlin".into()),
            ..TimeInterval::default()
        };
        // 2025-03-30: 01:59 CET is followed by 03:00 CEST; no instant is 02:xx in Berlin.
        for minute in 0..120 {
            let ms = at("2025-03-30T00:00:00Z") + minute * 60_000;
            assert!(!contains(&night, ms), "minute {minute} after midnight UTC");
        }
        // 2025-10-26: 02:00 to 03:00 happens in CEST (00:00Z) and again in CET (01:00Z).
        assert!(contains(&night, at("2025-10-26T00:30:00Z")));
        assert!(contains(&night, at("2025-10-26T01:30:00Z")));
        assert!(!contains(&night, at("2025-10-26T02:00:00Z")));
        // The last day of March 2025 in Berlin is the 31st, though the month is an hour
        // short (Alertmanager 0.25 took it for the 30th).
        let last = TimeInterval {
            days_of_month: vec!["-1".into()],
            location: Some("Europe/Berlin".into()),
            ..TimeInterval::default()
        };
        assert!(contains(&last, at("2025-03-31T12:00:00Z")));
        assert!(!contains(&last, at("2025-03-30T12:00:00Z")));
    }

    #[test]
    fn unset_and_named_locations() {
        assert_eq!(zone(None).unwrap(), TimeZone::UTC);
        assert_eq!(zone(Some("UTC")).unwrap(), TimeZone::UTC);
        zone(Some("Local")).unwrap();
        zone(Some("America/New_York")).unwrap();
    }
}
