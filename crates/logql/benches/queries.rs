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

/// The nanoseconds this thread has spent on a CPU (Linux's schedstat), so that a run on a
/// machine shared with other jobs still measures the query's own work; 0 elsewhere.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn time(name: &str, runs: usize, mut f: impl FnMut() -> usize) {
    let mut times: Vec<Duration> = Vec::new();
    let mut cpu: Vec<u64> = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let (began, began_cpu) = (Instant::now(), cpu_ns());
        size = black_box(f());
        times.push(began.elapsed());
        cpu.push(cpu_ns() - began_cpu);
    }
    times.sort();
    cpu.sort_unstable();
    println!(
        "{name}: wall best {:.1} ms, median {:.1} ms; CPU best {:.1} ms, median {:.1} ms ({size} results, {runs} runs)",
        times[0].as_secs_f64() * 1e3,
        times[runs / 2].as_secs_f64() * 1e3,
        cpu[0] as f64 / 1e6,
        cpu[runs / 2] as f64 / 1e6,
    );
}

fn lines_of(v: &logql::Value) -> usize {
    match v {
        logql::Value::Streams(s) => s.iter().map(|s| s.entries.len()).sum(),
        logql::Value::Matrix(m) => m.iter().map(|s| s.points.len()).sum(),
        _ => 0,
    }
}

fn main() {
    let began = Instant::now();
    let (store, trace) = store();
    println!(
        "{LINES} lines over 1h in MemLogs, built in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    // The store's own share: visiting every line, in each direction, doing nothing.
    for direction in [logs::Direction::Forward, logs::Direction::Backward] {
        let select = logs::Select::new(
            vec![model::Matcher::equal("job", "node")],
            START,
            START + HOUR + S,
        )
        .direction(direction);
        time(&format!("MemLogs select alone, {direction:?}"), 7, || {
            let mut n = 0;
            store
                .select(&select, &mut |_, entries| {
                    n += entries.len();
                    logs::Visit::Continue
                })
                .expect("selects");
            n
        });
    }
    let count =
        logql::parse(r#"sum by (level) (count_over_time({job="node"}[1m]))"#).expect("parses");
    for step in [15, 60] {
        let params = logql::Params::range(START + 60 * S, START + HOUR, step * S);
        time(
            &format!("sum by (level) (count_over_time(...[1m])), 1h, step {step}s"),
            7,
            || lines_of(&logql::eval(&store, &count, &params).expect("evaluates")),
        );
    }
    let search = logql::parse(&format!(r#"{{job="node"}} |= "{trace}""#)).expect("parses");
    let mut params = logql::Params::range(START, START + HOUR + S, 0);
    time(
        r#"{job="node"} |= "<trace id>", 1h, backward, limit 100"#,
        7,
        || lines_of(&logql::eval(&store, &search, &params).expect("evaluates")),
    );
    // Forward, MemLogs hands out its entries without copying them: the engine's own share.
    params.direction = logs::Direction::Forward;
    time(
        r#"{job="node"} |= "<trace id>", 1h, forward, limit 100"#,
        7,
        || lines_of(&logql::eval(&store, &search, &params).expect("evaluates")),
    );
    let stats = logql::eval_with(&store, &search, &params, &logql::Limits::default())
        .expect("evaluates")
        .1;
    println!("  (read {} lines, {} bytes)", stats.lines, stats.bytes);
}
