//! The generator's cost: spans observed per second (both processors, batches of 1,000
//! spans shaped like the node network's: 10 services, 20 operations, client and server
//! pairs, internal spans, a few attributes each), and a collection of every series into a
//! store that drops what it is given, so that the generator's own cost is what is timed.
//! Run with `cargo bench -p spanmetrics`; Criterion prints the throughput.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use model::{Labels, Timestamp};
use spanmetrics::{Config, SpanMetrics};
use spans::{KeyValue, Resource, Span, SpanId, SpanKind, Status, StatusCode, TraceId};
use storage::{AppendError, Appendable, Appender, MemStorage, SeriesRef, StorageError};

/// A store that takes every sample and keeps none.
struct Discard;

impl Appendable for Discard {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(Discard)
    }
}

impl Appender for Discard {
    fn append(
        &mut self,
        _: Option<SeriesRef>,
        labels: &Labels,
        _: Timestamp,
        _: f64,
    ) -> Result<SeriesRef, AppendError> {
        Ok(SeriesRef::MIN.saturating_add(black_box(labels.len()) as u64))
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}

/// 1,000 spans in 250 traces: a server span of one service, its client call to the
/// next, that service's server span and an internal span.
fn batch() -> Vec<Span> {
    let resources: Vec<Arc<Resource>> = (0..10)
        .map(|i| {
            let mut r = Resource::service(&format!("node-service-{i}"));
            r.attributes.push(KeyValue::new(
                "service.instance.id",
                format!("12D3KooW{i:04}"),
            ));
            r.attributes
                .push(KeyValue::new("host.name", format!("host-{i}")));
            Arc::new(r)
        })
        .collect();
    let mut out = Vec::with_capacity(1000);
    for t in 0..250u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&t.to_be_bytes());
        let trace = TraceId(id);
        let (a, b) = (t as usize % 10, (t as usize + 1) % 10);
        let op = format!("operation-{}", t % 20);
        let start = 1_700_000_000_000_000_000 + u64::from(t) * 1_000_000;
        let mut mk = |span: u8, parent: Option<u8>, kind, r: usize, ms: u64| {
            let mut s = Span::new(trace, SpanId([span; 8]), &op, start, start + ms * 1_000_000);
            s.parent_span_id = parent.map(|p| SpanId([p; 8]));
            s.kind = kind;
            s.resource = Arc::clone(&resources[r]);
            s.attributes = vec![
                KeyValue::new("peer.id", "12D3KooWAbCdEf"),
                KeyValue::new("message.type", "dht.find_node"),
                KeyValue::new("bytes", 512_i64),
            ];
            if t % 17 == 0 {
                s.status = Status {
                    code: StatusCode::Error,
                    message: "timeout".into(),
                };
            }
            out.push(s);
        };
        mk(1, None, SpanKind::Server, a, 40);
        mk(2, Some(1), SpanKind::Client, a, 30);
        mk(3, Some(2), SpanKind::Server, b, 20);
        mk(4, Some(3), SpanKind::Internal, b, 5);
    }
    out
}

fn bench(c: &mut Criterion) {
    let spans = batch();
    let metrics = SpanMetrics::new(Config::default(), Arc::new(MemStorage::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("spanmetrics");
    group.throughput(Throughput::Elements(spans.len() as u64));
    group.bench_function("observe 1000 spans", |b| {
        b.iter(|| metrics.observe_at(black_box(&spans), 1_700_000_000_000));
    });
    group.finish();

    // Every series stays active however long the run.
    let mut config = Config::default();
    config.registry.stale_duration = std::time::Duration::from_secs(1 << 40);
    let metrics = SpanMetrics::new(config, Arc::new(Discard)).unwrap_or_else(|e| panic!("{e}"));
    metrics.observe_at(&spans, 1_700_000_000_000);
    let series = metrics.stats().active_series;
    let mut group = c.benchmark_group("spanmetrics");
    group.throughput(Throughput::Elements(series));
    let mut t = 1_700_000_000_000;
    group.bench_function(format!("collect {series} series"), |b| {
        b.iter(|| {
            t += 15_000;
            metrics.collect(t).unwrap_or_else(|e| panic!("{e}"))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
