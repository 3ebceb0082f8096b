//! Alertmanager's time intervals: times of day, weekdays, days of the month, months and
//! years, in UTC (the only location known here besides `Local`, taken as UTC).

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

/// `HH:MM` to minutes of the day; `24:00` is the end of the day.
fn minutes(t: &str) -> Result<u32, String> {
    let (h, m) = t
        .split_once(':')
        .ok_or_else(|| format!("{t:?} is not a time: write HH:MM"))?;
    let (h, m): (u32, u32) = (
        h.parse()
            .map_err(|_| format!("{t:?} is not a time: write HH:MM"))?,
        m.parse()
            .map_err(|_| format!("{t:?} is not a time: write HH:MM"))?,
    );
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(format!("{t:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

/// A range `a:b` or a single `a` of named or numbered items, inclusive.
fn range(text: &str, names: &[&str], lo: i64, hi: i64, what: &str) -> Result<(i64, i64), String> {
    let one = |s: &str| -> Result<i64, String> {
        let s = s.trim().to_lowercase();
        if let Some(i) = names.iter().position(|n| *n == s) {
            return Ok(i as i64 + lo);
        }
        let n: i64 = s.parse().map_err(|_| format!("{s:?} is not a {what}"))?;
        if (n < lo || n > hi) && !(what == "day of the month" && (-31..=-1).contains(&n)) {
            return Err(format!("{n} is not a {what} ({lo} to {hi})"));
        }
        Ok(n)
    };
    // A negative day counts from the month's end: `-3:-1`.
    let parts: Vec<&str> = if text.trim_start().starts_with('-') && text.matches(':').count() == 1 {
        text.splitn(2, ':').collect()
    } else {
        text.split(':').collect()
    };
    match parts.as_slice() {
        [a] => {
            let a = one(a)?;
            Ok((a, a))
        }
        [a, b] => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b && a.signum() == b.signum() {
                return Err(format!("{text:?}: the range ends before it starts"));
            }
            Ok((a, b))
        }
        _ => Err(format!("{text:?} is not a {what} or a range of them")),
    }
}

/// Checks every field of an interval.
pub fn check(i: &TimeInterval) -> Result<(), String> {
    for t in &i.times {
        let (a, b) = (minutes(&t.start_time)?, minutes(&t.end_time)?);
        if a >= b {
            return Err(format!(
                "{} to {}: the end is not after the start",
                t.start_time, t.end_time
            ));
        }
    }
    for w in &i.weekdays {
        range(w, &WEEKDAYS, 0, 6, "weekday")?;
    }
    for d in &i.days_of_month {
        range(d, &[], 1, 31, "day of the month")?;
    }
    for m in &i.months {
        range(m, &MONTHS, 1, 12, "month")?;
    }
    for y in &i.years {
        range(y, &[], 0, 9999, "year")?;
    }
    if let Some(loc) = &i.location
        && !matches!(loc.as_str(), "UTC" | "Local")
    {
        return Err(format!(
            "location {loc:?}: only UTC is known here; write the times in UTC"
        ));
    }
    Ok(())
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Whether the time `ms` (since the epoch) is inside the interval. Fields that do not
/// parse make it never match (the configuration check refuses them first).
pub fn contains(i: &TimeInterval, ms: i64) -> bool {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let minute = (secs.rem_euclid(86_400) / 60) as u32;
    let (y, m, d) = model::civil_from_days(days);
    let (m, d) = (i64::from(m), i64::from(d));
    let weekday = (days + 4).rem_euclid(7);
    let any = |items: &[String], f: &dyn Fn(&str) -> Option<bool>| {
        items.is_empty() || items.iter().any(|s| f(s).unwrap_or(false))
    };
    any(
        &i.times
            .iter()
            .map(|t| format!("{}-{}", t.start_time, t.end_time))
            .collect::<Vec<_>>(),
        &|s| {
            let (a, b) = s.split_once('-')?;
            Some(minutes(a).ok()? <= minute && minute < minutes(b).ok()?)
        },
    ) && any(&i.weekdays, &|s| {
        let (a, b) = range(s, &WEEKDAYS, 0, 6, "weekday").ok()?;
        Some(a <= weekday && weekday <= b)
    }) && any(&i.days_of_month, &|s| {
        let (a, b) = range(s, &[], 1, 31, "day of the month").ok()?;
        let len = days_in_month(y, m);
        let fix = |x: i64| if x < 0 { len + 1 + x } else { x };
        Some(fix(a) <= d && d <= fix(b))
    }) && any(&i.months, &|s| {
        let (a, b) = range(s, &MONTHS, 1, 12, "month").ok()?;
        Some(a <= m && m <= b)
    }) && any(&i.years, &|s| {
        let (a, b) = range(s, &[], 0, 9999, "year").ok()?;
        Some(a <= y && y <= b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeRange;

    #[test]
    fn business_hours_on_weekdays() {
        let i = TimeInterval {
            times: vec![TimeRange {
                start_time: "09:00".into(),
                end_time: "17:00".into(),
            }],
            weekdays: vec!["monday:friday".into()],
            ..TimeInterval::default()
        };
        check(&i).unwrap();
        // 2026-11-27 is a Friday; 2026-11-29 a Sunday.
        let at = |day: i64, h: i64, m: i64| ((20_784 + day) * 86_400 + h * 3600 + m * 60) * 1000;
        assert!(contains(&i, at(0, 10, 0)));
        assert!(!contains(&i, at(0, 17, 0)));
        assert!(!contains(&i, at(0, 8, 59)));
        assert!(!contains(&i, at(2, 10, 0)));
    }

    #[test]
    fn the_last_days_of_a_month_and_bad_fields() {
        let i = TimeInterval {
            days_of_month: vec!["-2:-1".into()],
            months: vec!["february".into()],
            ..TimeInterval::default()
        };
        check(&i).unwrap();
        // 2024-02-28 and 2024-02-29 (leap year), not 2024-02-27.
        let day = |d: i64| (19_780 + d) * 86_400 * 1000;
        assert!(!contains(&i, day(0)));
        assert!(contains(&i, day(1)));
        assert!(contains(&i, day(2)));
        let bad = TimeInterval {
            weekdays: vec!["funday".into()],
            ..TimeInterval::default()
        };
        assert!(check(&bad).unwrap_err().contains("funday"));
        let backwards = TimeInterval {
            times: vec![TimeRange {
                start_time: "18:00".into(),
                end_time: "09:00".into(),
            }],
            ..TimeInterval::default()
        };
        assert!(check(&backwards).is_err());
    }
}
