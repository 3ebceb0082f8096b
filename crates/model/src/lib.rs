//! Skywatch's data model: labels, label matchers, samples and timestamps.
//!
//! A *series* is identified by its [`Labels`], a set of name/value pairs in which
//! `__name__` holds the metric name. A *sample* is a millisecond timestamp and a float.
//! These are Prometheus's definitions, and the rules here are Prometheus's: label sets are
//! sorted by name with no duplicates and no empty values (an empty value means the label is
//! absent); a matcher's regex is anchored at both ends; `name=""` matches series without the
//! label. Staleness is a particular NaN ([`STALE_NAN`]) written when a series disappears.
//!
//! This crate is pure data at the bottom of the dependency graph: no async, and no I/O but
//! [`glob`], which lists directories as Go's `filepath.Glob` does.

mod duration;
pub mod glob;
mod labels;
mod matcher;

pub use duration::{
    civil_from_days, days_from_civil, format_duration, format_rfc3339, parse_duration,
    parse_rfc3339,
};
pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{
    MAX_COMPILED_REGEX_BYTES, MAX_REGEX_BYTES, MatchOp, Matcher, MatcherError, anchored_regex,
    matches_all, shorten,
};

/// Milliseconds since the Unix epoch, as Prometheus stores time.
pub type Timestamp = i64;

/// The bit pattern of the NaN that marks a series as stale, as Prometheus writes it.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The NaN that marks a series as stale. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// Tells whether `v` is the staleness marker (and not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One value of a series at one time.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When, in milliseconds since the Unix epoch.
    pub t: Timestamp,
    /// The value; may be NaN, ±Inf or [`STALE_NAN`].
    pub v: f64,
}

impl Sample {
    /// Returns a sample.
    pub fn new(t: Timestamp, v: f64) -> Self {
        Self { t, v }
    }
}

/// Samples are equal when their timestamps are equal and their values have the same bits,
/// so that NaNs (and the staleness marker in particular) compare as stored.
impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

impl Eq for Sample {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_a_nan_but_not_every_nan_is_stale() {
        assert!(STALE_NAN.is_nan());
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
        assert_eq!(Sample::new(1, STALE_NAN), Sample::new(1, STALE_NAN));
        assert_ne!(Sample::new(1, STALE_NAN), Sample::new(1, f64::NAN));
    }
}
