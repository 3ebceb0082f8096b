//! Prometheus's `humanize`, `humanize1024` and `humanizeDuration`, which Alertmanager's
//! templates have too (`humanizeDuration`, since 0.27): four significant digits, as Go's
//! `%.4g`, with SI or binary prefixes.

use crate::fmt::go_g;

/// The largest magnitude Go converts from a float to an int64 without overflow.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// SI prefixes up from 1 and down from 1.
const SI_UP: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
const SI_DOWN: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

/// `v` with four significant digits and the prefix that brings it within `[1, base)`:
/// divided by `base` per prefix of `up` while at least `base`, or multiplied per prefix
/// of `down` while under 1.
fn prefixed(v: f64, base: f64, up: &[&str], down: &[&str]) -> String {
    let mut x = v;
    let mut prefix = "";
    if x.abs() >= 1.0 {
        for p in up {
            if x.abs() < base {
                break;
            }
            prefix = p;
            x /= base;
        }
    } else {
        for p in down {
            if x.abs() >= 1.0 {
                break;
            }
            prefix = p;
            x *= base;
        }
    }
    format!("{}{prefix}", go_g(x, 4))
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    prefixed(v, 1000.0, &SI_UP, &SI_DOWN)
}

/// Prometheus's `humanize1024`: binary prefixes, four significant digits.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    prefixed(
        v,
        1024.0,
        &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"],
        &[],
    )
}

/// Prometheus's `humanizeDuration` of seconds: `1d 2h 3m 4s`, `1.5s`, `250ms`.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let a = v.abs();
        // Go converts a float beyond int64 to int64's minimum on amd64, where
        // Prometheus is built; Rust would saturate to the maximum.
        let whole = if a < I64_LIMIT { a as i64 } else { i64::MIN };
        let (s, m, h, d) = (
            whole % 60,
            (whole / 60) % 60,
            (whole / 3600) % 24,
            whole / 86400,
        );
        return if d != 0 {
            format!("{sign}{d}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_g(a, 4))
        };
    }
    format!("{}s", prefixed(v, 1000.0, &[], &SI_DOWN))
}
