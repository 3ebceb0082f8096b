//! Recording cost of the SDK's metrics next to bare `prometheus-client`.
//!
//! The SDK's counters, gauges and histograms are `prometheus-client`'s own types, registered
//! through [`skywatch_sdk::metrics::Registry`]; this benchmark keeps that true by measuring
//! both side by side (target: the SDK within 1.2x of bare). Summaries have no bare
//! counterpart and are measured on their own. `cargo xtask bench-sdk` prints the ratios.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus_client::metrics::counter::Counter as BareCounter;
use prometheus_client::metrics::family::Family as BareFamily;
use prometheus_client::metrics::histogram::Histogram as BareHistogram;
use skywatch_sdk::metrics::{Counter, Family, Registry, Summary, buckets, histogram};

type Labels = [(&'static str, &'static str); 2];
const LABELS: Labels = [("type", "gossip"), ("peer", "p-1")];

fn counters(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    let bare = BareCounter::<u64>::default();
    g.bench_function("bare", |b| b.iter(|| black_box(&bare).inc()));
    let registry = Registry::new();
    let sdk = Counter::<u64>::default();
    registry.register("sent", "Sent.", sdk.clone()).unwrap();
    g.bench_function("sdk", |b| b.iter(|| black_box(&sdk).inc()));
    g.finish();

    let mut g = c.benchmark_group("family_counter_inc");
    let bare = BareFamily::<Labels, BareCounter>::default();
    g.bench_function("bare", |b| {
        b.iter(|| bare.get_or_create(black_box(&LABELS)).inc())
    });
    let sdk = Family::<Labels, Counter>::default();
    registry.register("recv", "Received.", sdk.clone()).unwrap();
    g.bench_function("sdk", |b| {
        b.iter(|| sdk.get_or_create(black_box(&LABELS)).inc())
    });
    g.finish();
}

fn histograms(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    let bare = BareHistogram::new(buckets::DURATION_SECONDS.iter().copied());
    g.bench_function("bare", |b| b.iter(|| bare.observe(black_box(0.042))));
    let registry = Registry::new();
    let sdk = histogram(buckets::DURATION_SECONDS);
    registry.register("lat", "Latency.", sdk.clone()).unwrap();
    g.bench_function("sdk", |b| b.iter(|| sdk.observe(black_box(0.042))));
    g.finish();
}

fn summaries(c: &mut Criterion) {
    let mut g = c.benchmark_group("summary_observe");
    let s = Summary::default();
    let mut v = 0.001;
    g.bench_function("sdk", |b| {
        b.iter(|| {
            // Spread observations over four decades so the sketch is not trivially hot.
            v = if v > 10.0 { 0.001 } else { v * 1.01 };
            s.observe(black_box(v));
        })
    });
    g.finish();
}

criterion_group!(benches, counters, histograms, summaries);
criterion_main!(benches);
