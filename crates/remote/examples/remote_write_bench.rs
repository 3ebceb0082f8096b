//! One remote write sender stream, posted to each receiver given, one after the other:
//! samples/s each took. `scripts/bench-remote-write` runs it against Skywatch and
//! Prometheus 2.42.
//!
//!     remote_write_bench SERIES SAMPLES_PER_SERIES WORKERS URL...
//!
//! The stream is built before any timing: SERIES series (10 counters of each of SERIES/10
//! targets' `bench_requests_total`), each with SAMPLES_PER_SERIES samples one second apart
//! ending now, in 1.0 `WriteRequest`s of 200 series times 10 samples (2,000 samples, the
//! `max_samples_per_send` of Prometheus 2.5x), snappy-compressed. WORKERS connections send
//! at once, each its own share of the series in time order (as Prometheus's shards do), so
//! no sample arrives out of order. Every receiver gets the same bytes. A request not
//! answered 2xx fails the run, naming the answer.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example that prints its measurements"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use remote::proto;

/// Series a request carries.
const SERIES_PER_REQUEST: usize = 200;
/// Samples of each series a request carries.
const SAMPLES_PER_REQUEST: usize = 10;

fn main() {
    if let Err(e) = run() {
        eprintln!("remote_write_bench: {e}");
        std::process::exit(1);
    }
}

fn arg(args: &[String], i: usize, what: &str) -> Result<usize, String> {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("argument {i} ({what}) is missing or not a number; usage: remote_write_bench SERIES SAMPLES_PER_SERIES WORKERS URL..."))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let series = arg(&args, 0, "SERIES")?;
    let samples = arg(&args, 1, "SAMPLES_PER_SERIES")?;
    let workers = arg(&args, 2, "WORKERS")?.max(1);
    let urls = &args[3..];
    if urls.is_empty() {
        return Err("no receiver URL given".into());
    }
    let shares = stream(series, samples, workers)?;
    let total = series * samples;
    let bytes: usize = shares.iter().flatten().map(Vec::len).sum();
    println!(
        "stream: {series} series x {samples} samples = {total} samples in {} requests, {bytes} bytes compressed, {workers} connections",
        shares.iter().map(Vec::len).sum::<usize>()
    );
    for url in urls {
        let took = send(url, &shares)?;
        println!(
            "{url}: {:.0} samples/s ({total} samples in {:.2} s)",
            total as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        );
    }
    Ok(())
}

/// The requests, one list per worker, each in the order it is sent.
fn stream(series: usize, samples: usize, workers: usize) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64;
    let start = now - (samples as i64) * 1000;
    let labels = |i: usize| {
        vec![
            label("__name__", "bench_requests_total"),
            label("instance", &format!("node-{}:9100", i / 10)),
            label("job", "bench"),
            label("path", &format!("/p{}", i % 10)),
        ]
    };
    let mut shares = vec![Vec::new(); workers];
    for (w, share) in shares.iter_mut().enumerate() {
        let mine: Vec<usize> = (w..series).step_by(workers).collect();
        for k in (0..samples).step_by(SAMPLES_PER_REQUEST) {
            for group in mine.chunks(SERIES_PER_REQUEST) {
                let request = proto::WriteRequest {
                    timeseries: group
                        .iter()
                        .map(|&i| proto::TimeSeries {
                            labels: labels(i),
                            samples: (k..(k + SAMPLES_PER_REQUEST).min(samples))
                                .map(|s| proto::Sample {
                                    value: (s * (i % 7 + 1)) as f64,
                                    timestamp: start + s as i64 * 1000,
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                let body = snap::raw::Encoder::new()
                    .compress_vec(&request.encode_to_vec())
                    .map_err(|e| e.to_string())?;
                share.push(body);
            }
        }
    }
    Ok(shares)
}

fn label(name: &str, value: &str) -> proto::Label {
    proto::Label {
        name: name.into(),
        value: value.into(),
    }
}

/// Sends every worker's requests to `url` at once; how long the whole stream took.
fn send(url: &str, shares: &[Vec<Vec<u8>>]) -> Result<Duration, String> {
    let began = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                scope.spawn(move || -> Result<(), String> {
                    let client = reqwest::blocking::Client::new();
                    for body in share {
                        let answer = client
                            .post(url)
                            .header("content-type", "application/x-protobuf")
                            .header("content-encoding", "snappy")
                            .header("x-prometheus-remote-write-version", "0.1.0")
                            .body(body.clone())
                            .send()
                            .map_err(|e| format!("{url}: {e}"))?;
                        let status = answer.status();
                        if !status.is_success() {
                            let text = answer.text().unwrap_or_default();
                            return Err(format!("{url}: {status}: {text}"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| "a sender thread panicked".to_owned())?
            })
            .collect::<Result<Vec<()>, String>>()
    })?;
    Ok(began.elapsed())
}
