//! How long a right and a wrong password take to check, for `scripts/bench-auth-timing`:
//! `cargo run --release -p web --example auth_timing -- [COST] [TRIES]` (default cost 10,
//! bcrypt's and htpasswd's default, and 1,000 tries of each kind). What is measured is
//! said in `tests/measure/mod.rs`, which the test `tests/timing.rs` runs too.

#![allow(
    clippy::print_stdout,
    reason = "an example that prints its measurements"
)]
#![allow(
    clippy::unwrap_used,
    reason = "an example: a failure should stop it loudly"
)]

#[path = "../tests/measure/mod.rs"]
mod measure;

fn main() {
    let mut args = std::env::args().skip(1);
    let cost: u32 = args.next().map_or(10, |a| a.parse().unwrap());
    let tries: usize = args.next().map_or(1000, |a| a.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(measure::measure(cost, tries));
    println!("{report}");
}
