//! A wrong password costs what a right one costs: bcrypt's cheapest cost (4) for speed,
//! 300 interleaved tries of each kind, medians within 0.8..1.25 of each other when every
//! try runs bcrypt, and within 0.5..2 when both are answered from the cache (lookups of a
//! few microseconds, where a loaded machine's noise is a larger share). The figures at
//! the default cost over 1,000 tries: `scripts/bench-auth-timing`.

#![allow(clippy::unwrap_used, reason = "a test")]
#![allow(
    clippy::print_stdout,
    reason = "the figures are printed for the record"
)]

mod measure;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_right_passwords_take_the_same_time() {
    let report = measure::measure(4, 300).await;
    println!("{report}");
    for (a, b, (low, high), figures) in [
        ("wrong", "right", (0.8, 1.25), &report.fresh),
        ("unknown", "right", (0.8, 1.25), &report.fresh),
        ("wrong", "right", (0.5, 2.0), &report.repeated),
    ] {
        let ratio = figures.ratio(a, b);
        assert!(
            (low..=high).contains(&ratio),
            "{} {a}/{b} = {ratio:.3}, outside {low}..{high}:\n{report}",
            figures.name
        );
    }
}
