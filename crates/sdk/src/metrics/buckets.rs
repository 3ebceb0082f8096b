//! The standard histogram bucket sets of a node network.
//!
//! The seed teams standardised on four sets so that one dashboard query aggregates across
//! every service: durations from 100 µs to 10 s, sizes from 1 KB to 1 GB, costs from 0.001 to
//! 1000 units and counts from 1 to 1000. Each is a 1-2.5-5 or power-of-four progression, dense
//! enough for `histogram_quantile` to interpolate within a few percent.

/// Durations in seconds, 100 µs to 10 s.
pub const DURATION_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Sizes in bytes, 1 KiB to 1 GiB in powers of four.
pub const BYTES: &[f64] = &[
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// Costs in the network's unit of account, 0.001 to 1000.
pub const COST: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0,
    100.0, 250.0, 500.0, 1000.0,
];

/// Counts of things, 1 to 1000.
pub const COUNT: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_increasing_and_span_their_ranges() {
        for (set, lo, hi) in [
            (DURATION_SECONDS, 0.0001, 10.0),
            (BYTES, 1024.0, 1024.0 * 1024.0 * 1024.0),
            (COST, 0.001, 1000.0),
            (COUNT, 1.0, 1000.0),
        ] {
            assert!(set.windows(2).all(|w| w[0] < w[1]), "{set:?}");
            assert_eq!(set.first(), Some(&lo));
            assert_eq!(set.last(), Some(&hi));
        }
    }
}
