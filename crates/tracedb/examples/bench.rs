//! The span store benchmark, run by `scripts/bench-traces`: generates traces shaped like a
//! node network's (an API request through P2P, DHT, guild formation, a task, WASM
//! execution and payment settlement; node, peer and task IDs; about 1% errors), with one
//! very large trace among them, appends them in batches as OTLP exporters send them, and
//! prints what it measured as `name value` lines:
//!
//! - spans appended per second (the appends alone, head cuts included);
//! - bytes on disk per span once the head is cut, beside the same spans' size as OTLP
//!   protobuf (one request per batch, as the `otlp` crate encodes spans);
//! - the peak resident set while appending;
//! - trace-ID lookups after reopening the store: p50 and p99 over random IDs, and the
//!   large trace's lookup time and the memory its spans take.
//!
//! With `--server URL` the batches go instead, as OTLP/HTTP protobuf requests, to a running
//! `skywatch up`'s `POST /v1/traces`, one at a time as one exporter sends them, and the
//! lookups go through its Tempo API (`GET /tempo/api/traces/{id}`, protobuf); the server's
//! disk and memory are measured by the script that started it.
//!
//! `cargo run --release -p tracedb --example bench -- (--dir DIR | --server URL)
//! [--spans N] [--large N] [--batch N] [--lookups N] [--seed N]`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "a benchmark program that reports on stdout and fails loudly"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otlp::proto::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use spans::{
    Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanStore, Status, StatusCode,
    TraceId, Window,
};
use tracedb::{Options, TraceDb};

/// SplitMix64: small, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SERVICES: [&str; 7] = ["api", "p2p", "dht", "guild", "task", "wasm", "payments"];
const NODES: u64 = 30;

struct Fixture {
    /// Resource per service and node, shared as exporters share them.
    resources: Vec<Vec<Arc<Resource>>>,
    scopes: Vec<Arc<Scope>>,
    peers: Vec<String>,
    modules: Vec<String>,
}

fn b58(rng: &mut Rng, n: usize) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn hex(rng: &mut Rng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rng.below(256)))
        .collect()
}

fn fixture(rng: &mut Rng) -> Fixture {
    let resources = SERVICES
        .iter()
        .map(|service| {
            (0..NODES)
                .map(|n| {
                    Arc::new(Resource {
                        attributes: vec![
                            KeyValue::new("service.name", *service),
                            KeyValue::new("service.namespace", "zerostate"),
                            KeyValue::new("service.version", "0.9.3"),
                            KeyValue::new("service.instance.id", format!("node-{n:02}")),
                            KeyValue::new("host.name", format!("zs-node-{n:02}.cluster.local")),
                            KeyValue::new("deployment.environment", "testnet"),
                            KeyValue::new("telemetry.sdk.language", "rust"),
                        ],
                        ..Resource::default()
                    })
                })
                .collect()
        })
        .collect();
    let scopes = SERVICES
        .iter()
        .map(|s| {
            Arc::new(Scope {
                name: format!("zerostate::{s}"),
                version: "0.9.3".into(),
                ..Scope::default()
            })
        })
        .collect();
    Fixture {
        resources,
        scopes,
        peers: (0..200)
            .map(|_| format!("12D3KooW{}", b58(rng, 44)))
            .collect(),
        modules: (0..12)
            .map(|_| format!("sha256:{}", hex(rng, 32)))
            .collect(),
    }
}

/// What the spans of one trace share.
struct TraceCtx {
    id: TraceId,
    start: u64,
    task: String,
    guild: String,
    key: String,
    channel: String,
}

fn new_trace(rng: &mut Rng, start: u64) -> TraceCtx {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&rng.next().to_le_bytes());
    id[8..].copy_from_slice(&rng.next().to_le_bytes());
    TraceCtx {
        id: TraceId(id),
        start,
        task: format!(
            "{}-{}-4{}-a{}-{}",
            hex(rng, 4),
            hex(rng, 2),
            &hex(rng, 2)[1..],
            &hex(rng, 2)[1..],
            hex(rng, 6)
        ),
        guild: format!("guild-{}", hex(rng, 4)),
        key: format!("/zs/task/{}", hex(rng, 16)),
        channel: format!("ch-{}", hex(rng, 6)),
    }
}

/// Span `n` of a trace, child of one of the spans before it.
fn make_span(
    rng: &mut Rng,
    fx: &Fixture,
    t: &TraceCtx,
    n: u64,
    parents: &mut Vec<(SpanId, u64)>,
) -> Span {
    let span_id = SpanId(rng.next().to_le_bytes());
    let (service, parent, start) = if n == 0 {
        (0, None, t.start)
    } else {
        // Mostly the previous span (the flow goes on), sometimes an earlier one (fan-out).
        let i = if rng.chance(0.6) {
            parents.len() - 1
        } else {
            rng.below(parents.len() as u64) as usize
        };
        let (p, p_start) = parents[i];
        (
            1 + (n as usize - 1) % 6,
            Some(p),
            p_start + 20_000 + rng.below(2_000_000),
        )
    };
    // Durations from 50 µs to about 50 ms, with nanosecond digits, as SDKs report them.
    let duration = 50_000 + rng.below(1_000) * rng.below(50_000);
    let node = rng.below(NODES) as usize;
    let error = rng.chance(0.01);
    let (name, kind, mut attributes): (&str, SpanKind, Vec<KeyValue>) = match SERVICES[service] {
        "api" => (
            "POST /api/v1/tasks",
            SpanKind::Server,
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", "/api/v1/tasks"),
                KeyValue::new(
                    "http.response.status_code",
                    if error { 500_i64 } else { 201 },
                ),
                KeyValue::new("task.id", t.task.as_str()),
            ],
        ),
        "p2p" => (
            *rng.pick(&["p2p.send", "p2p.recv", "gossip.publish"]),
            *rng.pick(&[SpanKind::Producer, SpanKind::Consumer, SpanKind::Client]),
            vec![
                KeyValue::new("peer.id", rng.pick(&fx.peers).as_str()),
                KeyValue::new(
                    "message.type",
                    *rng.pick(&["TaskOffer", "Bid", "Ack", "Result"]),
                ),
                KeyValue::new("message.bytes", (200 + rng.below(8_000)) as i64),
            ],
        ),
        "dht" => (
            *rng.pick(&["dht.find_providers", "dht.get_record", "dht.put_record"]),
            SpanKind::Client,
            vec![
                KeyValue::new("dht.key", t.key.as_str()),
                KeyValue::new("dht.hops", (1 + rng.below(6)) as i64),
                KeyValue::new("peer.id", rng.pick(&fx.peers).as_str()),
            ],
        ),
        "guild" => (
            *rng.pick(&["guild.form", "guild.vote"]),
            SpanKind::Internal,
            vec![
                KeyValue::new("guild.id", t.guild.as_str()),
                KeyValue::new("guild.size", (3 + rng.below(5)) as i64),
            ],
        ),
        "task" => (
            *rng.pick(&["task.schedule", "task.assign", "task.verify"]),
            SpanKind::Internal,
            vec![
                KeyValue::new("task.id", t.task.as_str()),
                KeyValue::new("task.attempt", (1 + u64::from(rng.chance(0.05))) as i64),
            ],
        ),
        "wasm" => (
            *rng.pick(&["wasm.instantiate", "wasm.execute"]),
            SpanKind::Internal,
            vec![
                KeyValue::new("wasm.module", rng.pick(&fx.modules).as_str()),
                KeyValue::new("wasm.fuel_used", rng.below(5_000_000) as i64),
            ],
        ),
        _ => (
            *rng.pick(&["payment.lock", "payment.settle"]),
            SpanKind::Client,
            vec![
                KeyValue::new("payment.channel", t.channel.as_str()),
                KeyValue::new("payment.amount", (rng.below(100_000) as f64) / 100.0),
                KeyValue::new("payment.currency", "ZST"),
            ],
        ),
    };
    let mut events = Vec::new();
    let mut status = Status::default();
    if error {
        let message = *rng.pick(&[
            "timeout waiting for peer",
            "insufficient funds",
            "wasm trap: out of fuel",
        ]);
        status = Status {
            code: StatusCode::Error,
            message: message.into(),
        };
        events.push(Event {
            time: start + duration / 2,
            name: "exception".into(),
            attributes: vec![
                KeyValue::new("exception.type", "zerostate::Error"),
                KeyValue::new("exception.message", message),
            ],
            dropped_attributes_count: 0,
        });
        attributes.push(KeyValue::new("error", true));
    }
    parents.push((span_id, start));
    Span {
        trace_id: t.id,
        span_id,
        parent_span_id: parent,
        trace_state: String::new(),
        flags: 1,
        name: name.into(),
        kind,
        start,
        end: start + duration,
        attributes,
        dropped_attributes_count: 0,
        events,
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
        resource: fx.resources[service][node].clone(),
        scope: fx.scopes[service].clone(),
    }
}

/// The OTLP request an exporter would send for the batch: spans grouped by resource and
/// scope, as the OTLP crate writes them.
fn otlp_request(batch: &[Span]) -> Vec<u8> {
    otlp::traces::to_otlp(batch).encode_to_vec()
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Args {
    dir: PathBuf,
    /// A running server's base URL: the spans go to its OTLP/HTTP receiver and are looked
    /// up through its Tempo API, instead of a store opened in `dir`.
    server: Option<String>,
    spans: u64,
    large: u64,
    batch: usize,
    lookups: usize,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::new(),
        server: None,
        spans: 1_000_000,
        large: 100_000,
        batch: 500,
        lookups: 1_000,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(&value),
            "--server" => a.server = Some(value.trim_end_matches('/').to_owned()),
            "--spans" => a.spans = num(),
            "--large" => a.large = num(),
            "--batch" => a.batch = num() as usize,
            "--lookups" => a.lookups = num() as usize,
            "--seed" => a.seed = num(),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        !a.dir.as_os_str().is_empty() || a.server.is_some(),
        "--dir or --server is required"
    );
    a
}

/// Where the batches go: a store this program opens, or a server's OTLP/HTTP receiver.
enum Sink {
    Store(TraceDb),
    Server {
        client: reqwest::blocking::Client,
        url: String,
    },
}

impl Sink {
    fn append(&self, batch: &[Span], request: &[u8]) {
        match self {
            Self::Store(db) => db.append(batch).unwrap(),
            Self::Server { client, url } => {
                let r = client
                    .post(format!("{url}/v1/traces"))
                    .header("content-type", "application/x-protobuf")
                    .body(request.to_vec())
                    .send()
                    .unwrap();
                let status = r.status();
                let body = r.bytes().unwrap();
                assert!(status.is_success(), "POST /v1/traces: {status}: {body:?}");
                // A partial success would mean spans were refused: the figures would lie.
                let answer = ExportTraceServiceResponse::decode(body.as_ref()).unwrap();
                if let Some(partial) = answer.partial_success {
                    assert_eq!(partial.rejected_spans, 0, "{}", partial.error_message);
                }
            }
        }
    }

    /// The spans of trace `id`, counted.
    fn trace(&self, id: &TraceId) -> usize {
        match self {
            Self::Store(db) => db.trace(id, Window::ALL).unwrap().len(),
            Self::Server { client, url } => {
                let r = client
                    .get(format!("{url}/tempo/api/traces/{id}"))
                    .header("accept", "application/protobuf")
                    .send()
                    .unwrap();
                if r.status() == reqwest::StatusCode::NOT_FOUND {
                    return 0;
                }
                assert!(r.status().is_success(), "GET trace {id}: {}", r.status());
                let body = r.bytes().unwrap();
                // Tempo's answer is an OTLP `TracesData`, the same fields as the request.
                let trace = otlp::proto::trace::v1::TracesData::decode(body.as_ref()).unwrap();
                trace
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum()
            }
        }
    }
}

fn main() {
    let a = args();
    let mut rng = Rng(a.seed);
    let fx = fixture(&mut rng);
    let sink = match &a.server {
        Some(url) => Sink::Server {
            client: reqwest::blocking::Client::new(),
            url: url.clone(),
        },
        None => Sink::Store(TraceDb::open(&a.dir, Options::default()).unwrap()),
    };

    // Traces start over an hour; the large trace's spans are spread through the run,
    // a few in every batch, as a long-running request's would be. A server keeps spans
    // for a retention period, so its traces are of the last hour.
    let base = match sink {
        Sink::Store(_) => 1_767_225_600_000_000_000u64,
        Sink::Server { .. } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            now.as_nanos() as u64 - 3_600_000_000_000
        }
    };
    let normal = a.spans - a.large;
    let traces = (normal as f64 / 27.5) as u64;
    let step = 3_600_000_000_000 / traces.max(1);
    let large_ctx = new_trace(&mut rng, base);
    let mut large_parents = Vec::new();
    let mut large_made = 0u64;
    let per_batch_large = (a.large * a.batch as u64).div_ceil(a.spans.max(1)).max(1);

    let mut ids = Vec::new();
    let mut batch: Vec<Span> = Vec::with_capacity(a.batch + 64);
    let mut made = 0u64;
    let mut otlp_bytes = 0u64;
    let mut append_time = Duration::ZERO;
    let mut batches = 0u64;
    // The append that crosses the head's size limit cuts it into a block before it returns.
    let mut slowest = Duration::ZERO;
    let mut parents = Vec::new();
    let mut t = 0u64;
    let started = Instant::now();
    while made < normal || large_made < a.large {
        // One trace at a time into the batch; a full batch goes out with a few spans of the
        // large trace.
        if made < normal {
            let start = base + t * step + rng.below(step);
            let ctx = new_trace(&mut rng, start);
            t += 1;
            let len = (5 + rng.below(46)).min(normal - made);
            parents.clear();
            for n in 0..len {
                batch.push(make_span(&mut rng, &fx, &ctx, n, &mut parents));
            }
            ids.push(ctx.id);
            made += len;
        }
        if batch.len() >= a.batch || made == normal {
            let n = if made == normal {
                (a.batch as u64).min(a.large - large_made)
            } else {
                per_batch_large.min(a.large - large_made)
            };
            for _ in 0..n {
                batch.push(make_span(
                    &mut rng,
                    &fx,
                    &large_ctx,
                    large_made,
                    &mut large_parents,
                ));
                large_made += 1;
            }
            if batch.is_empty() {
                continue;
            }
            let request = otlp_request(&batch);
            otlp_bytes += request.len() as u64;
            let t0 = Instant::now();
            sink.append(&batch, &request);
            let took = t0.elapsed();
            append_time += took;
            slowest = slowest.max(took);
            batches += 1;
            batch.clear();
        }
    }
    let t0 = Instant::now();
    if let Sink::Store(db) = &sink {
        db.close().unwrap();
    }
    let close_time = t0.elapsed();
    let total = started.elapsed();
    let peak_kib = status_kib("VmHWM:");
    let spans = made + large_made;

    println!("spans {spans}");
    println!("traces {}", ids.len() + 1);
    println!("batches {batches}");
    println!("append_seconds {:.3}", append_time.as_secs_f64());
    println!(
        "spans_per_second {:.0}",
        spans as f64 / append_time.as_secs_f64()
    );
    println!("slowest_append_seconds {:.3}", slowest.as_secs_f64());
    println!("close_seconds {:.3}", close_time.as_secs_f64());
    println!("run_seconds {:.3}", total.as_secs_f64());
    println!("otlp_bytes {otlp_bytes}");
    println!(
        "otlp_bytes_per_span {:.2}",
        otlp_bytes as f64 / spans as f64
    );
    // A server's disk and memory are its own: the script measures them.
    let sink = match sink {
        Sink::Store(db) => {
            println!("blocks {}", db.stats().blocks);
            drop(db);
            let disk = dir_bytes(&a.dir);
            println!("disk_bytes {disk}");
            println!("bytes_per_span {:.2}", disk as f64 / spans as f64);
            println!("disk_over_otlp {:.4}", disk as f64 / otlp_bytes as f64);
            println!("peak_rss_bytes {}", peak_kib * 1024);
            // Lookups on the store reopened: the page cache is warm, as on a server that
            // just wrote these blocks.
            let t0 = Instant::now();
            let db = TraceDb::open(&a.dir, Options::default()).unwrap();
            println!("open_seconds {:.3}", t0.elapsed().as_secs_f64());
            Sink::Store(db)
        }
        server => server,
    };
    let mut times = Vec::with_capacity(a.lookups);
    for _ in 0..a.lookups {
        let id = ids[rng.below(ids.len() as u64) as usize];
        let t0 = Instant::now();
        let found = sink.trace(&id);
        times.push(t0.elapsed());
        assert!(found >= 5, "trace {id} has {found} spans");
    }
    times.sort();
    println!(
        "lookup_p50_ms {:.3}",
        percentile(&times, 0.5).as_secs_f64() * 1e3
    );
    println!(
        "lookup_p99_ms {:.3}",
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "lookup_max_ms {:.3}",
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    let mut missing = TraceId([0xab; 16]);
    let mut miss_times = Vec::new();
    for _ in 0..a.lookups {
        missing.0[..8].copy_from_slice(&rng.next().to_le_bytes());
        let t0 = Instant::now();
        assert_eq!(sink.trace(&missing), 0);
        miss_times.push(t0.elapsed());
    }
    miss_times.sort();
    println!(
        "missing_p99_ms {:.3}",
        percentile(&miss_times, 0.99).as_secs_f64() * 1e3
    );
    if a.large > 0 {
        let before = status_kib("VmRSS:");
        let t0 = Instant::now();
        let found = sink.trace(&large_ctx.id);
        let took = t0.elapsed();
        let after = status_kib("VmRSS:");
        assert_eq!(found as u64, a.large);
        println!("large_trace_spans {found}");
        println!("large_lookup_ms {:.1}", took.as_secs_f64() * 1e3);
        if let Sink::Store(_) = sink {
            println!(
                "large_trace_rss_bytes {}",
                (after.saturating_sub(before)) * 1024
            );
        }
    }
    if let Sink::Store(_) = sink {
        println!("final_peak_rss_bytes {}", status_kib("VmHWM:") * 1024);
    }
}
