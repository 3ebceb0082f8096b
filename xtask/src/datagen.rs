//! `cargo xtask gen-openmetrics`: a deterministic, realistic node-network data set in
//! OpenMetrics text, for the storage benchmark.
//!
//! Each node exposes what the seed teams' nodes do: bursty counters (P2P messages and
//! bytes by type, tasks and payments by outcome), gauges (peers and sync lag as integer
//! random walks, block height climbing, WASM memory in bytes, value locked with two
//! decimals, reputation and CPU as arbitrary floats), and histograms (task duration by
//! runtime, gossip latency, payment amounts) with cumulative buckets, `_sum` and `_count`.
//! Scrapes come every 15 s per node at a per-node offset, mostly exactly on the interval,
//! one in ten a few milliseconds late or early, and one in five hundred missed.
//!
//! The file is grouped by metric family, each series' samples in time order, and ends in
//! `# EOF`: the shape `promtool tsdb create-blocks-from openmetrics` reads.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

/// A SplitMix64 generator: small, fast and the same on every machine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Options of the generator.
pub(crate) struct GenOptions {
    pub(crate) nodes: usize,
    pub(crate) hours: f64,
    pub(crate) seed: u64,
    pub(crate) out: PathBuf,
}

const INTERVAL_MS: i64 = 15_000;
const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// The scrape timestamps of one node: on the interval, sometimes jittered or missed.
fn scrape_times(rng: &mut Rng, node: usize, scrapes: usize) -> Vec<i64> {
    let offset = (node as i64 * 1_733) % INTERVAL_MS;
    let mut times = Vec::with_capacity(scrapes);
    for k in 0..scrapes {
        if rng.below(500) == 0 {
            continue;
        }
        let base = START_MS + offset + k as i64 * INTERVAL_MS;
        times.push(if rng.below(10) == 0 {
            base + rng.below(9) as i64 - 4
        } else {
            base
        });
    }
    times
}

/// A counter's increments: a base rate with bursts of ten times the rate.
fn bursty_counter(rng: &mut Rng, n: usize, rate: f64) -> Vec<f64> {
    let mut total = rng.below(10_000) as f64;
    let mut burst = 0;
    (0..n)
        .map(|_| {
            if burst == 0 && rng.below(200) == 0 {
                burst = 4 + rng.below(20);
            }
            let r = if burst > 0 {
                burst -= 1;
                rate * 10.0
            } else {
                rate
            };
            total += (r * (0.5 + rng.f())).round();
            total
        })
        .collect()
}

fn walk_int(rng: &mut Rng, n: usize, start: i64, lo: i64, hi: i64) -> Vec<f64> {
    let mut v = start;
    (0..n)
        .map(|_| {
            v = (v + rng.below(3) as i64 - 1).clamp(lo, hi);
            v as f64
        })
        .collect()
}

struct Series {
    labels: String,
    values: Vec<f64>,
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    series: Vec<(usize, Series)>,
}

fn histogram(
    rng: &mut Rng,
    n: usize,
    bounds: &[f64],
    scale: f64,
    rate: f64,
    extra: &str,
) -> Vec<Series> {
    let mut buckets = vec![0u64; bounds.len() + 1];
    let mut sum = 0.0;
    let mut rows: Vec<Vec<f64>> = vec![Vec::with_capacity(n); bounds.len() + 3];
    for _ in 0..n {
        let observations = (rate * (0.2 + 1.6 * rng.f())) as usize;
        for _ in 0..observations {
            // A log-uniform-ish value around `scale`.
            let v = scale * (rng.f() * 6.0 - 3.0).exp();
            sum += v;
            let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
            buckets[i] += 1;
        }
        let mut cumulative = 0;
        for (i, b) in buckets.iter().enumerate() {
            cumulative += b;
            rows[i].push(cumulative as f64);
        }
        rows[bounds.len() + 1].push(sum);
        rows[bounds.len() + 2].push(cumulative as f64);
    }
    let mut out = Vec::new();
    for (i, values) in rows.into_iter().enumerate() {
        let labels = if i < bounds.len() {
            format!("_bucket{{{extra}le=\"{}\"}}", bounds[i])
        } else if i == bounds.len() {
            format!("_bucket{{{extra}le=\"+Inf\"}}")
        } else if i == bounds.len() + 1 {
            format!("_sum{{{}}}", extra.trim_end_matches(','))
        } else {
            format!("_count{{{}}}", extra.trim_end_matches(','))
        };
        out.push(Series { labels, values });
    }
    out
}

const DURATION: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
const COST: &[f64] = &[0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0];

/// Writes the data set; returns the number of series and samples.
pub(crate) fn run(o: &GenOptions) -> Result<(usize, usize), String> {
    let mut rng = Rng(o.seed);
    let scrapes = (o.hours * 3600.0 * 1000.0 / INTERVAL_MS as f64) as usize;
    let mut families: Vec<Family> = Vec::new();
    let mut family = |name, kind, help| {
        families.push(Family {
            name,
            kind,
            help,
            series: Vec::new(),
        });
        families.len() - 1
    };
    let sent = family("p2p_messages_sent", "counter", "P2P messages sent.");
    let bytes = family("p2p_bandwidth_bytes", "counter", "P2P bytes transferred.");
    let tasks = family("tasks", "counter", "Tasks finished.");
    let payments = family("payments", "counter", "Payments settled.");
    let peers = family("p2p_peers", "gauge", "Connected peers.");
    let height = family("chain_block_height", "gauge", "Block height.");
    let lag = family(
        "chain_sync_lag_blocks",
        "gauge",
        "Blocks behind the network.",
    );
    let memory = family("wasm_memory_bytes", "gauge", "WASM memory in use.");
    let tvl = family("economy_tvl", "gauge", "Total value locked.");
    let reputation = family("economy_reputation", "gauge", "Reputation score.");
    let cpu = family("process_cpu_ratio", "gauge", "CPU use.");
    let duration = family("task_duration_seconds", "histogram", "Task duration.");
    let gossip = family(
        "gossip_latency_seconds",
        "histogram",
        "Gossip propagation latency.",
    );
    let amount = family("payment_amount", "histogram", "Payment amounts.");

    let mut times = Vec::new();
    for node in 0..o.nodes {
        let ts = scrape_times(&mut rng, node, scrapes);
        let n = ts.len();
        let node_label = format!("node=\"node-{node:03}\"");
        let mut add = |f: usize, labels: String, values: Vec<f64>, times_index: usize| {
            families[f]
                .series
                .push((times_index, Series { labels, values }));
        };
        for kind in ["gossip", "dht", "block", "tx"] {
            let rate = 5.0 + rng.below(50) as f64;
            add(
                sent,
                format!("_total{{{node_label},type=\"{kind}\"}}"),
                bursty_counter(&mut rng, n, rate),
                node,
            );
        }
        for dir in ["rx", "tx"] {
            let rate = 20_000.0 + rng.below(200_000) as f64;
            add(
                bytes,
                format!("_total{{{node_label},direction=\"{dir}\"}}"),
                bursty_counter(&mut rng, n, rate),
                node,
            );
        }
        for (status, rate) in [("success", 3.0), ("failure", 0.2), ("timeout", 0.05)] {
            add(
                tasks,
                format!("_total{{{node_label},status=\"{status}\"}}"),
                bursty_counter(&mut rng, n, rate),
                node,
            );
        }
        for (outcome, rate) in [("ok", 2.0), ("failed", 0.1)] {
            add(
                payments,
                format!("_total{{{node_label},outcome=\"{outcome}\"}}"),
                bursty_counter(&mut rng, n, rate),
                node,
            );
        }
        add(
            peers,
            format!("{{{node_label}}}"),
            walk_int(&mut rng, n, 8, 0, 50),
            node,
        );
        let mut h = 1_000_000 + rng.below(1000) as i64;
        let heights = (0..n)
            .map(|_| {
                h += rng.below(5) as i64;
                h as f64
            })
            .collect();
        add(height, format!("{{{node_label}}}"), heights, node);
        add(
            lag,
            format!("{{{node_label}}}"),
            walk_int(&mut rng, n, 0, 0, 20),
            node,
        );
        let mut m = 32i64 << 20;
        let mem = (0..n)
            .map(|_| {
                m = (m + (rng.below(1 << 20) as i64 - (1 << 19))).clamp(1 << 20, 128 << 20);
                (m / 4096 * 4096) as f64
            })
            .collect();
        add(memory, format!("{{{node_label}}}"), mem, node);
        let mut cents = 5_000_000i64;
        let locked = (0..n)
            .map(|_| {
                cents += rng.below(2001) as i64 - 1000;
                cents as f64 / 100.0
            })
            .collect();
        add(tvl, format!("{{{node_label}}}"), locked, node);
        let mut r = 0.5 + rng.f() * 0.4;
        let rep = (0..n)
            .map(|_| {
                r = (r + (rng.f() - 0.5) * 0.01).clamp(0.0, 1.0);
                r
            })
            .collect();
        add(reputation, format!("{{{node_label}}}"), rep, node);
        add(
            cpu,
            format!("{{{node_label}}}"),
            (0..n).map(|_| rng.f()).collect(),
            node,
        );
        for runtime in ["wasm", "native"] {
            for s in histogram(
                &mut rng,
                n,
                DURATION,
                0.2,
                3.0,
                &format!("{node_label},runtime=\"{runtime}\","),
            ) {
                add(duration, s.labels, s.values, node);
            }
        }
        for s in histogram(&mut rng, n, DURATION, 0.05, 20.0, &format!("{node_label},")) {
            add(gossip, s.labels, s.values, node);
        }
        for s in histogram(&mut rng, n, COST, 1.0, 2.0, &format!("{node_label},")) {
            add(amount, s.labels, s.values, node);
        }
        times.push(ts);
    }

    let file = std::fs::File::create(&o.out)
        .map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let (mut series_count, mut samples) = (0, 0);
    let mut line = String::new();
    for f in &families {
        writeln!(
            w,
            "# HELP {} {}\n# TYPE {} {}",
            f.name, f.help, f.name, f.kind
        )
        .map_err(|e| e.to_string())?;
        for (node, s) in &f.series {
            series_count += 1;
            for (t, v) in times[*node].iter().zip(&s.values) {
                line.clear();
                let _ = writeln!(
                    line,
                    "{}{} {} {}.{:03}",
                    f.name,
                    s.labels,
                    v,
                    t / 1000,
                    t % 1000
                );
                w.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
                samples += 1;
            }
        }
    }
    w.write_all(b"# EOF\n").map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())?;
    Ok((series_count, samples))
}
