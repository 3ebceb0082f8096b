//! Times the two queries issue 16 names over an hour of 400,000 node lines in `MemLogs`:
//! `sum by (level) (count_over_time({job="node"}[1m]))` as Grafana asks it (a range query
//! over the hour, step 15 s, and step 60 s), and a search for one trace id,
//! `{job="node"} |= "<trace id>"` (backward, limit 100). Run with
//! `cargo bench -p logql --bench queries`; it prints the best and median of several runs.
#![expect(
    clippy::print_stdout,
    reason = "a benchmark reports its timings on stdout"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use logs::{Entry, LogStore, MemLogs, Stream};
use model::Labels;

const S: i64 = 1_000_000_000;
const LINES: usize = 400_000;
const START: i64 = 1_700_000_000 * S;
const HOUR: i64 = 3_600 * S;

/// A deterministic generator (xorshift64*), so that every run reads the same lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn store() -> (MemLogs, String) {
    let levels = ["info", "info", "info", "debug", "warn", "error"];
    let instances = 10;
    let mut rng = Rng(0x5eed);
    let mut streams: Vec<Stream> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut wanted = String::new();
    for i in 0..LINES {
        let ts = START + (i as i64) * HOUR / LINES as i64;
        let r = rng.next();
        let instance = (r % instances) as usize;
        let level = levels[((r >> 8) % levels.len() as u64) as usize];
        let trace = format!("{:016x}{:016x}", rng.next(), rng.next());
        if i == LINES / 2 {
            wanted = trace.clone();
        }
        let json = instance.is_multiple_of(2);
        let line = if json {
            format!(
                r#"{{"level":"{level}","msg":"block imported","height":{i},"latency_ms":{},"trace_id":"{trace}"}}"#,
                r % 900
            )
        } else {
            format!(
                r#"level={level} msg="block imported" height={i} latency_ms={} trace_id={trace}"#,
                r % 900
            )
        };
        let key = (instance, level);
        let at = *index.entry(key).or_insert_with(|| {
            streams.push(Stream {
                labels: Labels::from_pairs([
                    ("job", "node"),
                    ("instance", &format!("n{instance}")),
                    ("level", level),
                    ("format", if json { "json" } else { "logfmt" }),
                ]),
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        streams[at].entries.push(
            Entry::new(ts, line).with_metadata(Labels::from_pairs([("trace_id", trace.as_str())])),
        );
    }
    let store = MemLogs::with_window(2 * HOUR);
    let pushed = store.push(&streams).expect("pushes");
    assert_eq!(pushed.accepted as usize, LINES);
    (store, wanted)
}

fn time(name: &str, runs: usize, mut f: impl FnMut() -> usize) {
    let mut times: Vec<Duration> = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let began = Instant::now();
        size = black_box(f());
        times.push(began.elapsed());
    }
    times.sort();
    println!(
        "{name}: best {:.1} ms, median {:.1} ms ({size} results, {runs} runs)",
        times[0].as_secs_f64() * 1e3,
        times[runs / 2].as_secs_f64() * 1e3
    );
}

fn main() {
    let began = Instant::now();
    let (store, trace) = store();
    println!(
        "{LINES} lines over 1h in MemLogs, built in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let count =
        logql::parse(r#"sum by (level) (count_over_time({job="node"}[1m]))"#).expect("parses");
    for step in [15, 60] {
        let params = logql::Params::range(START + 60 * S, START + HOUR, step * S);
        time(
            &format!("sum by (level) (count_over_time(...[1m])), 1h, step {step}s"),
            7,
            || match logql::eval(&store, &count, &params).expect("evaluates") {
                logql::Value::Matrix(m) => m.iter().map(|s| s.points.len()).sum(),
                _ => 0,
            },
        );
    }
    let search = logql::parse(&format!(r#"{{job="node"}} |= "{trace}""#)).expect("parses");
    let params = logql::Params::range(START, START + HOUR + S, 0);
    time(
        "{job=\"node\"} |= \"<trace id>\", 1h, backward, limit 100",
        7,
        || match logql::eval(&store, &search, &params).expect("evaluates") {
            logql::Value::Streams(s) => s.iter().map(|s| s.entries.len()).sum(),
            _ => 0,
        },
    );
    let stats = logql::eval_with(&store, &search, &params, &logql::Limits::default())
        .expect("evaluates")
        .1;
    println!("  (read {} lines, {} bytes)", stats.lines, stats.bytes);
}
