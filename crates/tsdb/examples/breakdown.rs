//! Prints how a data directory's chunk bytes split by metric family and value encoding:
//! `cargo run --release -p tsdb --example breakdown -- DIR`.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a diagnostic tool"
)]

use std::collections::BTreeMap;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: breakdown DIR");
    let db = tsdb::Tsdb::open(&dir, tsdb::Options::default()).unwrap();
    let mut by: BTreeMap<(String, u8), (u64, u64)> = BTreeMap::new();
    for b in db.blocks() {
        for (labels, chunks) in b.all_series() {
            let name = labels.metric_name().unwrap_or("").to_owned();
            let name = if name.ends_with("_bucket") {
                "*_bucket".into()
            } else {
                name
            };
            for c in chunks {
                let bytes = b.read_chunk(c).unwrap();
                let n = tsdb::chunk::sample_count(&bytes).unwrap();
                let e = by.entry((name.clone(), bytes[0])).or_default();
                e.0 += bytes.len() as u64;
                e.1 += u64::from(n);
            }
        }
    }
    println!(
        "{:32} {:>4} {:>10} {:>9} {:>8}",
        "family", "enc", "bytes", "samples", "B/sample"
    );
    for ((name, enc), (bytes, n)) in by {
        let enc = if enc == 1 { "xor" } else { "int" };
        println!(
            "{name:32} {enc:>4} {bytes:>10} {n:>9} {:>8.3}",
            bytes as f64 / n as f64
        );
    }
}
