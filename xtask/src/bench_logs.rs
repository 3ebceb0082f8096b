//! `cargo xtask bench-logs`: issue 16's log benchmark, end to end through `skywatch up`.
//!
//! It starts the given `skywatch up` on loopback with an empty data directory, generates node
//! logs (JSON lines as the SDK writes them: level, component, message, height, peers,
//! duration, and a trace and span ID on most lines, from a fixed number of distinct trace
//! IDs, each trace's lines close together in time as a request's are), pushes them through
//! Loki's push API as Loki's clients do (snappy-compressed protobuf, batches of lines, a
//! few clients at once), and then asks the Loki query API a needle query
//! (`{job="node"} |= "<trace id>"` over the whole data) and a metric query
//! (`sum by (level) (count_over_time({job="node"}[1m]))` over the last hour). It prints lines/s
//! ingested, bytes per line on disk (once the server has stopped) beside the raw lines' bytes,
//! the server's peak RSS, and p50/p99 of both queries.
//!
//! Streams are `{job="node", node, level}`: 4 levels × the nodes. The generated data ends a
//! minute before the start, so every line is inside any retention.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::datagen::Rng;

/// The benchmark's settings.
struct Options {
    skywatch: PathBuf,
    lines: u64,
    trace_ids: u64,
    nodes: u64,
    hours: f64,
    batch: usize,
    clients: usize,
    needles: usize,
    runs: usize,
    seed: u64,
    keep: Option<PathBuf>,
}

const USAGE: &str = "usage: cargo xtask bench-logs --skywatch PATH [--lines N] [--trace-ids N] \
[--nodes N] [--hours H] [--batch N] [--clients N] [--needles N] [--runs N] [--seed S] [--keep DIR]";

/// Parses the flags and runs the benchmark.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut o = Options {
        skywatch: PathBuf::new(),
        lines: 10_000_000,
        trace_ids: 50_000,
        nodes: 20,
        hours: 24.0,
        batch: 2_000,
        clients: 2,
        needles: 50,
        runs: 20,
        seed: 1,
        keep: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--skywatch" => o.skywatch = PathBuf::from(value),
            "--lines" => o.lines = value.parse().map_err(|e| bad(&e))?,
            "--trace-ids" => o.trace_ids = value.parse().map_err(|e| bad(&e))?,
            "--nodes" => o.nodes = value.parse().map_err(|e| bad(&e))?,
            "--hours" => o.hours = value.parse().map_err(|e| bad(&e))?,
            "--batch" => o.batch = value.parse().map_err(|e| bad(&e))?,
            "--clients" => o.clients = value.parse().map_err(|e| bad(&e))?,
            "--needles" => o.needles = value.parse().map_err(|e| bad(&e))?,
            "--runs" => o.runs = value.parse().map_err(|e| bad(&e))?,
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            "--keep" => o.keep = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if o.skywatch.as_os_str().is_empty() {
        return Err(format!("--skywatch is required\n{USAGE}"));
    }
    if o.lines == 0 || o.trace_ids == 0 || o.nodes == 0 || o.batch == 0 || o.clients == 0 {
        return Err("--lines, --trace-ids, --nodes, --batch and --clients must be positive".into());
    }
    bench(&o)
}

/// Loki's push messages (`pkg/push/push.proto`), as its clients send them.
mod proto {
    #![allow(
        missing_docs,
        unreachable_pub,
        reason = "wire messages, named by the protocol"
    )]

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub line: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

const LEVELS: [(&str, &str, u64); 4] = [
    ("debug", "DEBUG", 10),
    ("info", "INFO", 78),
    ("warn", "WARN", 9),
    ("error", "ERROR", 3),
];

const COMPONENTS: [(&str, &[&str]); 7] = [
    (
        "consensus",
        &[
            "block imported",
            "vote cast",
            "round advanced",
            "proposal received",
        ],
    ),
    (
        "p2p",
        &[
            "peer connected",
            "peer disconnected",
            "message sent",
            "gossip relayed",
        ],
    ),
    (
        "execution",
        &["task executed", "wasm module loaded", "executor busy"],
    ),
    (
        "payments",
        &["payment settled", "escrow updated", "invoice created"],
    ),
    (
        "dht",
        &["lookup completed", "record stored", "bucket refreshed"],
    ),
    (
        "api",
        &["request served", "request rejected", "slow request"],
    ),
    (
        "storage",
        &["compaction finished", "snapshot written", "disk usage high"],
    ),
];

/// The generated data: push bodies, and what the queries need to know of them.
struct Data {
    bodies: Vec<Vec<u8>>,
    raw_bytes: u64,
    lines: u64,
    start_ns: i64,
    end_ns: i64,
}

fn now_ns() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(d.as_nanos()).expect("nanoseconds since 1970 fit in i64")
}

fn trace_id(seed: u64, n: u64) -> String {
    let mut r = Rng(seed ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
    format!("{:016x}{:016x}", r.next(), r.next())
}

/// Generates every line, in time order, and encodes them into push bodies of `batch` lines.
fn generate(o: &Options) -> Data {
    use prost::Message as _;
    use std::fmt::Write as _;

    let end_ns = now_ns() - 60_000_000_000;
    let span_ns = (o.hours * 3600.0 * 1e9) as i64;
    let start_ns = end_ns - span_ns;
    let step = span_ns / i64::try_from(o.lines).expect("line count fits in i64");
    let mut rng = Rng(o.seed);
    let mut bodies = Vec::new();
    let mut raw_bytes = 0u64;
    let streams = (o.nodes as usize) * LEVELS.len();
    let mut pending: Vec<Vec<proto::EntryAdapter>> = vec![Vec::new(); streams];
    let mut in_batch = 0;
    let mut height = 1_000_000u64;
    let flush = |pending: &mut Vec<Vec<proto::EntryAdapter>>, bodies: &mut Vec<Vec<u8>>| {
        let mut request = proto::PushRequest::default();
        for (i, entries) in pending.iter_mut().enumerate() {
            if entries.is_empty() {
                continue;
            }
            let (node, level) = (i / LEVELS.len() + 1, LEVELS[i % LEVELS.len()].0);
            request.streams.push(proto::StreamAdapter {
                labels: format!("{{job=\"node\", level=\"{level}\", node=\"node-{node:02}\"}}"),
                entries: std::mem::take(entries),
            });
        }
        let body = request.encode_to_vec();
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&body)
            .expect("snappy compresses any buffer");
        bodies.push(compressed);
    };
    for i in 0..o.lines {
        let ts = start_ns + i as i64 * step + rng.below(step.max(1) as u64) as i64;
        let node = rng.below(o.nodes) as usize;
        let mut pick = rng.below(100);
        let level = LEVELS
            .iter()
            .position(|l| {
                let hit = pick < l.2;
                pick = pick.saturating_sub(l.2);
                hit
            })
            .unwrap_or(1);
        let (component, messages) = COMPONENTS[rng.below(COMPONENTS.len() as u64) as usize];
        let message = messages[rng.below(messages.len() as u64) as usize];
        if i % 500 == 0 {
            height += 1;
        }
        let secs = ts / 1_000_000_000;
        let mut line = String::with_capacity(320);
        let _ = write!(
            line,
            "{{\"timestamp\":\"{}.{:09}Z\",\"level\":\"{}\",\"message\":\"{message}\",\"target\":\"node::{component}\",\"component\":\"{component}\",\"node\":\"node-{:02}\",\"height\":{height},\"peers\":{},\"duration_ms\":{:.3}",
            format_time(secs),
            ts % 1_000_000_000,
            LEVELS[level].1,
            node + 1,
            20 + rng.below(30),
            rng.f() * 250.0,
        );
        // Most lines belong to a request; a trace's lines are close together in time.
        if rng.below(10) < 7 {
            let current = i * o.trace_ids / o.lines;
            let t = (current + rng.below(3)).min(o.trace_ids - 1);
            let _ = write!(
                line,
                ",\"trace_id\":\"{}\",\"span_id\":\"{:016x}\"",
                trace_id(o.seed, t),
                rng.next()
            );
        }
        if level >= 2 {
            let _ = write!(
                line,
                ",\"error\":\"{component} degraded: retry {} of 5\"",
                rng.below(5) + 1
            );
        }
        line.push('}');
        raw_bytes += line.len() as u64;
        pending[node * LEVELS.len() + level].push(proto::EntryAdapter {
            timestamp: Some(proto::Timestamp {
                seconds: secs,
                nanos: (ts % 1_000_000_000) as i32,
            }),
            line,
        });
        in_batch += 1;
        if in_batch == o.batch {
            flush(&mut pending, &mut bodies);
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        flush(&mut pending, &mut bodies);
    }
    Data {
        bodies,
        raw_bytes,
        lines: o.lines,
        start_ns,
        end_ns,
    }
}

/// RFC 3339 date and time of `secs` since the epoch, UTC, without the fraction.
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `skywatch up` on loopback, and the address it listens on.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(skywatch: &Path, data: &Path) -> Result<Self, String> {
        let mut child = Command::new(skywatch)
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--otlp-grpc-listen",
                "127.0.0.1:0",
                // Loki's per-tenant ingestion rate (4 MB/s by default) would refuse the
                // benchmark's pushes: what is measured is how fast the store takes them.
                "--logs-ingestion-rate-mb",
                "100000",
                "--logs-ingestion-burst-size-mb",
                "100000",
            ])
            .arg("--data")
            .arg(data)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", skywatch.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut addr = None;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["message"] == "listening" {
                addr = entry["addr"].as_str().map(str::to_owned);
                break;
            }
        }
        // The server's later lines are drained so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        match addr {
            Some(addr) => Ok(Self { child, addr }),
            None => {
                let status = child.wait().map_err(|e| e.to_string())?;
                Err(format!(
                    "{} up stopped before listening ({status})",
                    skywatch.display()
                ))
            }
        }
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Stops the server as an operator would (SIGTERM), so that it closes its stores.
    fn stop(mut self) -> Result<(), String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("skywatch up exited with {status} at SIGTERM"))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One query through Loki's API; the number of lines (streams) or series it answered.
fn query_range(
    client: &reqwest::blocking::Client,
    addr: &str,
    query: &str,
    start: i64,
    end: i64,
    step: Option<&str>,
) -> Result<(Duration, usize), String> {
    let mut params = vec![
        ("query", query.to_owned()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("limit", "1000".to_owned()),
    ];
    if let Some(step) = step {
        params.push(("step", step.to_owned()));
    }
    let began = Instant::now();
    let query_string = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let response = client
        .get(format!(
            "http://{addr}/loki/api/v1/query_range?{query_string}"
        ))
        .send()
        .map_err(|e| format!("{query}: {e}"))?;
    let status = response.status();
    let body = response.text().map_err(|e| format!("{query}: {e}"))?;
    let took = began.elapsed();
    if !status.is_success() {
        return Err(format!("{query}: {status}: {body}"));
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{query}: {e}: {body}"))?;
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    let n = if v["data"]["resultType"] == "streams" {
        result
            .iter()
            .map(|s| s["values"].as_array().map_or(0, Vec::len))
            .sum()
    } else {
        result.len()
    };
    Ok((took, n))
}

fn bench(o: &Options) -> Result<(), String> {
    let work = match &o.keep {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("bench-logs-{}", std::process::id())),
    };
    let data_dir = work.join("data");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    eprintln!("generating {} lines...", o.lines);
    let began = Instant::now();
    let data = generate(o);
    eprintln!(
        "generated {} push bodies ({:.1} MB of raw lines) in {:.1} s",
        data.bodies.len(),
        data.raw_bytes as f64 / 1e6,
        began.elapsed().as_secs_f64()
    );

    let server = Server::start(&o.skywatch, &data_dir)?;
    let idle_kib = server.status_kib("VmRSS");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    eprintln!("pushing to http://{}/loki/api/v1/push...", server.addr);
    let next = Arc::new(Mutex::new(0usize));
    let bodies = Arc::new(data.bodies);
    let began = Instant::now();
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.clients)
            .map(|_| {
                let (next, bodies, client, addr) = (&next, &bodies, &client, &server.addr);
                s.spawn(move || -> Result<(), String> {
                    loop {
                        let i = {
                            let mut n = next.lock().map_err(|e| e.to_string())?;
                            let i = *n;
                            *n += 1;
                            i
                        };
                        let Some(body) = bodies.get(i) else {
                            return Ok(());
                        };
                        let response = client
                            .post(format!("http://{addr}/loki/api/v1/push"))
                            .header("content-type", "application/x-protobuf")
                            .body(body.clone())
                            .send()
                            .map_err(|e| format!("push {i}: {e}"))?;
                        if !response.status().is_success() {
                            let status = response.status();
                            let text = response.text().unwrap_or_default();
                            return Err(format!("push {i}: {status}: {text}"));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("a pushing thread panicked").err())
            .collect()
    });
    let push_seconds = began.elapsed().as_secs_f64();
    if let Some(e) = errors.first() {
        return Err(e.clone());
    }
    let peak_ingest_kib = server.status_kib("VmHWM");
    let after_ingest_kib = server.status_kib("VmRSS");

    eprintln!("querying...");
    let mut rng = Rng(o.seed ^ 0xfeed);
    let mut needle_ms = Vec::new();
    let mut needle_lines = 0;
    for _ in 0..o.needles {
        let id = trace_id(o.seed, rng.below(o.trace_ids));
        let q = format!("{{job=\"node\"}} |= \"{id}\"");
        let (took, n) = query_range(
            &client,
            &server.addr,
            &q,
            data.start_ns,
            data.end_ns + 1,
            None,
        )?;
        if n == 0 {
            return Err(format!("{q} found no line: the data holds every trace ID"));
        }
        needle_lines += n;
        needle_ms.push(took.as_secs_f64() * 1e3);
    }
    let metric = "sum by (level) (count_over_time({job=\"node\"}[1m]))";
    let mut metric_ms = Vec::new();
    let hour = 3_600_000_000_000;
    let mut series = 0;
    for _ in 0..o.runs {
        let (took, n) = query_range(
            &client,
            &server.addr,
            metric,
            data.end_ns - hour,
            data.end_ns,
            Some("60"),
        )?;
        series = n;
        metric_ms.push(took.as_secs_f64() * 1e3);
    }
    if series != LEVELS.len() {
        return Err(format!(
            "{metric} answered {series} series, not one per level ({})",
            LEVELS.len()
        ));
    }
    let peak_kib = server.status_kib("VmHWM");
    server.stop()?;
    let logs_dir = data_dir.join("logs");
    let disk = if logs_dir.exists() {
        dir_bytes(&logs_dir)
    } else {
        dir_bytes(&data_dir)
    };

    needle_ms.sort_by(f64::total_cmp);
    metric_ms.sort_by(f64::total_cmp);
    let lines = data.lines as f64;
    let raw_per_line = data.raw_bytes as f64 / lines;
    let disk_per_line = disk as f64 / lines;
    println!(
        "\n{} node-log lines ({} trace IDs, {} streams, {:.0} h), pushed as snappy protobuf in batches of {} by {} clients\n",
        data.lines,
        o.trace_ids,
        o.nodes as usize * LEVELS.len(),
        o.hours,
        o.batch,
        o.clients
    );
    let rows = [
        (
            "lines/s ingested".to_owned(),
            format!("{:.0}", lines / push_seconds),
            format!("{push_seconds:.1} s of pushes"),
        ),
        (
            "bytes per line on disk".to_owned(),
            format!("{disk_per_line:.2}"),
            format!(
                "raw {raw_per_line:.1} B/line: {:.1}x smaller (goal >= 15x); after the server stopped",
                raw_per_line / disk_per_line
            ),
        ),
        (
            "server peak RSS".to_owned(),
            format!("{} MiB", peak_kib / 1024),
            format!(
                "{} MiB idle, {} MiB after ingest (peak {} MiB during it)",
                idle_kib / 1024,
                after_ingest_kib / 1024,
                peak_ingest_kib / 1024
            ),
        ),
        (
            "needle p50 / p99".to_owned(),
            format!(
                "{:.0} / {:.0} ms",
                percentile(&needle_ms, 0.5),
                percentile(&needle_ms, 0.99)
            ),
            format!(
                "{} trace IDs over all {:.0} h, {} lines found; goal < 500 ms",
                o.needles, o.hours, needle_lines
            ),
        ),
        (
            "metric p50 / p99".to_owned(),
            format!(
                "{:.0} / {:.0} ms",
                percentile(&metric_ms, 0.5),
                percentile(&metric_ms, 0.99)
            ),
            format!("{metric} over 1 h, step 1m, {} runs; goal < 500 ms", o.runs),
        ),
    ];
    for (label, value, note) in rows {
        println!("{label:24}{value:>16}   {note}");
    }
    let ok = raw_per_line / disk_per_line >= 15.0
        && percentile(&needle_ms, 0.99) < 500.0
        && percentile(&metric_ms, 0.99) < 500.0;
    println!(
        "\ngoals (>= 15x smaller than raw, both queries p99 < 500 ms): {}",
        if ok { "met" } else { "NOT met" }
    );
    if o.keep.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00");
        // 2026-12-07T10:30:15Z, by `date -u -d @1796639415`.
        assert_eq!(format_time(1_796_639_415), "2026-12-07T10:30:15");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00");
    }

    #[test]
    fn generated_bodies_hold_every_line_in_batches() {
        let o = Options {
            skywatch: PathBuf::new(),
            lines: 10_000,
            trace_ids: 100,
            nodes: 3,
            hours: 1.0,
            batch: 1_000,
            clients: 1,
            needles: 0,
            runs: 0,
            seed: 7,
            keep: None,
        };
        let data = generate(&o);
        assert_eq!(data.bodies.len(), 10);
        let mut lines = 0;
        for body in &data.bodies {
            use prost::Message as _;
            let raw = snap::raw::Decoder::new()
                .decompress_vec(body)
                .expect("snappy");
            let request = proto::PushRequest::decode(raw.as_slice()).expect("protobuf");
            for s in &request.streams {
                assert!(
                    s.labels.starts_with("{job=\"node\", level=\""),
                    "{}",
                    s.labels
                );
                for e in &s.entries {
                    let v: serde_json::Value = serde_json::from_str(&e.line).expect("JSON line");
                    assert!(
                        v["level"].is_string() && v["component"].is_string(),
                        "{}",
                        e.line
                    );
                }
                lines += s.entries.len();
            }
        }
        assert_eq!(lines, 10_000);
    }
}
