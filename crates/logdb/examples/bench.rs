//! Measures the log store on node-like logs: push throughput, bytes on disk per line against
//! the raw lines, a trace-ID needle query, and memory per stream.
//!
//! ```text
//! cargo run --release -p logdb --example bench [LINES] [--sweep]
//! ```
//!
//! The lines are what a blockchain node's JSON logger writes: time, level, component, a
//! message from a few dozen templates with numbers in them, a trace ID, the node and the
//! chain height. Twenty nodes are twenty streams (`job="node"`, `node="node-NN"`). Trace
//! IDs come from a pool of `LINES / 40` (5,000 for 200,000 lines): a trace is live for its
//! forty lines, with
//! fifty traces live at once, each crossing three nodes, as requests crossing a network do. `--sweep` repeats the
//! size measurement for several zstd levels and chunk sizes. Everything is generated from a
//! fixed seed, so runs compare.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark printing its figures"
)]

use std::time::{Duration, Instant};

use logdb::{LogDb, Options};
use logs::{Entry, LogStore, Select, Stream, Visit};
use model::{Labels, Matcher};

/// xorshift64*: a fixed, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NODES: u64 = 20;
const LIVE_TRACES: usize = 50;
const LINES_PER_TRACE: u32 = 40;
const NODES_PER_TRACE: usize = 3;

const COMPONENTS: [&str; 6] = ["p2p", "consensus", "executor", "payments", "rpc", "mempool"];

fn message(rng: &mut Rng, component: &str) -> (&'static str, String) {
    let n = rng.below(1000);
    let ms = rng.below(5000) as f64 / 10.0;
    let (level, msg) = match (component, rng.below(6)) {
        ("p2p", 0) => ("info", format!("peer connected peers={}", 8 + n % 40)),
        ("p2p", 1) => ("warn", format!("peer dropped reason=timeout after={ms}ms")),
        ("p2p", _) => (
            "debug",
            format!("gossip message received size={} topic=blocks", n * 37),
        ),
        ("consensus", 0) => (
            "info",
            format!("block imported txs={} took={ms}ms", n % 300),
        ),
        ("consensus", 1) => ("info", format!("vote cast round={}", n % 7)),
        ("consensus", 2) => ("warn", "proposal timeout, moving to next round".to_owned()),
        ("consensus", _) => (
            "debug",
            format!("prevote received from validator-{}", n % 64),
        ),
        ("executor", 0) => (
            "error",
            format!("task failed: wasm trap: out of fuel after {ms}ms"),
        ),
        ("executor", _) => (
            "info",
            format!("task completed task_id=t-{n} duration={ms}ms"),
        ),
        ("payments", 0) => ("warn", format!("settlement retry attempt={}", 1 + n % 5)),
        ("payments", _) => (
            "info",
            format!("payment settled amount={}.{:02} currency=USDC", n, n % 100),
        ),
        ("rpc", _) => (
            "info",
            format!("request handled method=eth_getBlockByNumber status=200 took={ms}ms"),
        ),
        (_, _) => ("debug", format!("tx admitted pool_size={}", 1000 + n)),
    };
    (level, msg)
}

/// The lines, per push of 1,000, as streams.
fn generate(lines: usize) -> Vec<Vec<Stream>> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let trace_pool = (lines / LINES_PER_TRACE as usize).max(1);
    let ids: Vec<String> = (0..trace_pool)
        .map(|_| format!("{:016x}{:016x}", rng.next(), rng.next()))
        .collect();
    let mut next_id = 0;
    // A live trace: its ID, its lines so far, and the nodes it crosses.
    let mut live: Vec<(usize, u32, [u64; NODES_PER_TRACE])> = Vec::new();
    let mut t: i64 = 1_796_000_000_000_000_000;
    let mut height = 1_200_000u64;
    let mut pushes = Vec::new();
    let mut batch: Vec<Vec<Entry>> = vec![Vec::new(); NODES as usize];
    for i in 0..lines {
        while live.len() < LIVE_TRACES {
            let nodes = [rng.below(NODES), rng.below(NODES), rng.below(NODES)];
            live.push((next_id % trace_pool, 0, nodes));
            next_id += 1;
        }
        let slot = rng.below(LIVE_TRACES as u64) as usize;
        let id = &ids[live[slot].0];
        live[slot].1 += 1;
        t += rng.below(2_000_000) as i64;
        if rng.below(2_000) == 0 {
            height += 1;
        }
        let node = live[slot].2[rng.below(NODES_PER_TRACE as u64) as usize];
        let component = COMPONENTS[rng.below(COMPONENTS.len() as u64) as usize];
        let (level, msg) = message(&mut rng, component);
        let secs = t / 1_000_000_000;
        let line = format!(
            r#"{{"ts":"{}.{:03}Z","level":"{level}","component":"{component}","msg":"{msg}","trace_id":"{id}","node":"node-{node:02}","height":{height}}}"#,
            secs,
            (t / 1_000_000) % 1000,
        );
        batch[node as usize].push(Entry::new(t, line));
        if live[slot].1 >= LINES_PER_TRACE {
            live.swap_remove(slot);
        }
        if (i + 1) % 1_000 == 0 || i + 1 == lines {
            let streams = batch
                .iter_mut()
                .enumerate()
                .filter(|(_, e)| !e.is_empty())
                .map(|(n, e)| Stream {
                    labels: Labels::from_pairs([
                        ("job", "node".to_owned()),
                        ("node", format!("node-{n:02}")),
                    ]),
                    entries: std::mem::take(e),
                })
                .collect();
            pushes.push(streams);
        }
    }
    pushes
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

struct Size {
    raw: u64,
    disk: u64,
    lines: u64,
    push: Duration,
    close: Duration,
}

fn size(pushes: &[Vec<Stream>], options: Options) -> (Size, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = LogDb::open(dir.path(), options).unwrap();
    let start = Instant::now();
    let mut lines = 0;
    let mut raw = 0;
    for p in pushes {
        let pushed = db.push(p).unwrap();
        assert!(pushed.refused.is_empty(), "{:?}", pushed.refused.first());
        lines += pushed.accepted;
        raw += p
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len() as u64 + 1)
            .sum::<u64>();
    }
    let push = start.elapsed();
    let start = Instant::now();
    db.close().unwrap();
    let close = start.elapsed();
    drop(db);
    let disk = dir_bytes(dir.path());
    (
        Size {
            raw,
            disk,
            lines,
            push,
            close,
        },
        dir,
    )
}

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let pushes = generate(lines);

    if args.iter().any(|a| a == "--sweep") {
        println!("level  chunk      bytes/line  ratio   write s");
        for level in [3, 6, 9, 12, 15, 19] {
            for chunk in [256 << 10, 1 << 20, 4 << 20] {
                let options = Options {
                    compression_level: level,
                    chunk_target_bytes: chunk,
                    ..Options::default()
                };
                let (s, _dir) = size(&pushes, options);
                println!(
                    "{level:>5}  {:>5} KiB  {:>10.2}  {:>5.1}x  {:>7.2}",
                    chunk >> 10,
                    s.disk as f64 / s.lines as f64,
                    s.raw as f64 / s.disk as f64,
                    (s.push + s.close).as_secs_f64()
                );
            }
        }
        return;
    }

    let (s, dir) = size(&pushes, Options::default());
    println!("lines:             {}", s.lines);
    println!(
        "raw bytes:         {} ({:.1} per line)",
        s.raw,
        s.raw as f64 / s.lines as f64
    );
    println!(
        "bytes on disk:     {} ({:.2} per line)",
        s.disk,
        s.disk as f64 / s.lines as f64
    );
    println!("smaller than raw:  {:.1}x", s.raw as f64 / s.disk as f64);
    let figures = LogDb::open(dir.path(), Options::default())
        .unwrap()
        .figures();
    println!(
        "of which filters:  {} bytes ({:.2} per line) in {} chunks",
        figures.bloom_bytes,
        figures.bloom_bytes as f64 / s.lines as f64,
        figures.chunks
    );
    println!(
        "push:              {:.0} lines/s in pushes of 1,000 ({:.2} s; close and last cut {:.2} s)",
        s.lines as f64 / s.push.as_secs_f64(),
        s.push.as_secs_f64(),
        s.close.as_secs_f64()
    );
    println!(
        "with compression:  {:.0} lines/s (pushes, then the cut of every line into chunks)",
        s.lines as f64 / (s.push + s.close).as_secs_f64()
    );

    // A trace-ID needle over everything, as `{job="node"} |= "<id>"` asks.
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    let chunks = db.figures().chunks;
    let mut rng = Rng(99);
    let mut times = Vec::new();
    let mut read = 0;
    let queries = 50;
    for _ in 0..queries {
        // An ID from the middle of the run.
        let p = &pushes[pushes.len() / 2 + rng.below(pushes.len() as u64 / 4) as usize];
        let line = &p[0].entries[0].line;
        let at = line.find("trace_id\":\"").unwrap() + 11;
        let id = line[at..at + 32].to_owned();
        let mut select = Select::new(vec![Matcher::equal("job", "node")], i64::MIN, i64::MAX);
        select.contains = vec![id.clone()];
        let before = db.figures().chunks_read;
        let start = Instant::now();
        let mut found = 0;
        db.select(&select, &mut |_, batch| {
            found += batch.iter().filter(|e| e.line.contains(&id)).count();
            Visit::Continue
        })
        .unwrap();
        times.push(start.elapsed());
        read += db.figures().chunks_read - before;
        assert!(found > 0);
    }
    times.sort();
    println!(
        "needle query:      p50 {:.2} ms, p99 {:.2} ms; {:.1} of {chunks} chunks decompressed per query ({:.1}% skipped)",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 99 / 100].as_secs_f64() * 1e3,
        read as f64 / f64::from(queries),
        100.0 - 100.0 * read as f64 / f64::from(queries) / chunks as f64
    );
    drop(db);

    // Memory per stream: a store with 200,000 streams of one entry each.
    let streams = 200_000;
    let mem_dir = tempfile::tempdir().unwrap();
    let db = LogDb::open(mem_dir.path(), Options::default()).unwrap();
    let before = rss();
    for chunk in 0..streams / 1_000 {
        let batch: Vec<Stream> = (0..1_000)
            .map(|i| Stream {
                labels: Labels::from_pairs([
                    ("job", "node".to_owned()),
                    ("pod", format!("pod-{:06}", chunk * 1_000 + i)),
                ]),
                entries: vec![Entry::new(1, "started")],
            })
            .collect();
        db.push(&batch).unwrap();
    }
    let heads = rss();
    db.cut().unwrap();
    let cut = rss();
    println!(
        "memory per stream: {:.0} bytes with its head, {:.0} bytes with one chunk on disk ({streams} streams, resident set)",
        (heads - before) as f64 / f64::from(streams),
        (cut.max(before) - before) as f64 / f64::from(streams)
    );
}
