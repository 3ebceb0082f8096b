//! LogQL conformance: every feature the crate claims, over a fixed corpus
//! (`fixtures/corpus.txt`), each case's answer worked out by hand from Loki's documentation
//! (the URL or rule is in the comment above each case) and its source where the docs are
//! silent.
//!
//! Answers are rendered as text so that a case reads as what Loki would show:
//! - log queries: one line per entry, `@<seconds> <line>`, in answer order across streams
//!   (or `@<seconds> {labels} <line>` for the cases that check labels);
//! - instant metric queries: `{labels} <value>` per sample;
//! - range metric queries: `{labels} <value>@<seconds> ...` per series.
//!
//! Seconds are counted from the corpus's base time.

use logs::{Direction, Entry, LogStore, MemLogs, Stream};
use model::{Labels, LabelsBuilder};

const S: i64 = 1_000_000_000;
/// The corpus's time zero: 2023-11-14T22:13:20Z.
const BASE: i64 = 1_700_000_000 * S;

fn corpus() -> MemLogs {
    let text = include_str!("fixtures/corpus.txt");
    let store = MemLogs::new();
    let mut streams: Vec<Stream> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(sel) = line.strip_prefix("stream ") {
            let expr = logql::parse(sel).unwrap_or_else(|e| panic!("corpus line {}: {e}", n + 1));
            let labels = Labels::from_pairs(
                expr.selector_matchers()
                    .iter()
                    .map(|m| (m.name.clone(), m.value.clone())),
            );
            streams.push(Stream {
                labels,
                entries: Vec::new(),
            });
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let secs: i64 = parts.next().and_then(|s| s.parse().ok()).expect("seconds");
        let meta = parts.next().expect("metadata");
        let body = parts.next().expect("line").replace("\\e", "\x1b");
        let mut metadata = LabelsBuilder::new();
        if meta != "-" {
            for kv in meta.split(',') {
                let (k, v) = kv.split_once('=').expect("k=v");
                metadata.set(k, v);
            }
        }
        streams
            .last_mut()
            .expect("an entry before any stream")
            .entries
            .push(Entry::new(BASE + secs * S, body).with_metadata(metadata.build()));
    }
    let pushed = store.push(&streams).expect("push");
    assert!(pushed.refused.is_empty(), "{:?}", pushed.refused);
    store
}

/// A log query over `[start, end)` seconds, backward, limit 100.
fn logs(start: i64, end: i64) -> logql::Params {
    logql::Params::range(BASE + start * S, BASE + end * S, 0)
}

fn forward(mut p: logql::Params, limit: usize) -> logql::Params {
    p.direction = Direction::Forward;
    p.limit = limit;
    p
}

fn limit(mut p: logql::Params, limit: usize) -> logql::Params {
    p.limit = limit;
    p
}

/// An instant metric query at `t` seconds.
fn instant(t: i64) -> logql::Params {
    logql::Params::instant(BASE + t * S)
}

/// A range metric query.
fn range(start: i64, end: i64, step: i64) -> logql::Params {
    logql::Params::range(BASE + start * S, BASE + end * S, step * S)
}

fn secs(ns: i64) -> String {
    let d = ns - BASE;
    if d % S == 0 {
        (d / S).to_string()
    } else {
        format!("{}", d as f64 / S as f64)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Show {
    Lines,
    Labels,
}

fn render(v: &logql::Value, show: Show, direction: Direction) -> Vec<String> {
    match v {
        logql::Value::Streams(streams) => {
            let mut entries: Vec<(i64, usize, String)> = Vec::new();
            for s in streams {
                for e in &s.entries {
                    let text = match show {
                        Show::Lines => format!("@{} {}", secs(e.timestamp), e.line),
                        Show::Labels => format!("@{} {} {}", secs(e.timestamp), s.labels, e.line),
                    };
                    entries.push((e.timestamp, entries.len(), text));
                }
            }
            // Answer order: by time in the query's direction (the streams interleave).
            let backward = direction == Direction::Backward;
            entries.sort_by_key(|(t, i, _)| (if backward { -t } else { *t }, *i));
            entries.into_iter().map(|(_, _, t)| t).collect()
        }
        logql::Value::Vector(samples) => samples
            .iter()
            .map(|s| format!("{} {}", s.labels, logql::json::format_value(s.value)))
            .collect(),
        logql::Value::Matrix(series) => series
            .iter()
            .map(|s| {
                let points: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, v)| format!("{}@{}", logql::json::format_value(*v), secs(*t)))
                    .collect();
                format!("{} {}", s.labels, points.join(" "))
            })
            .collect(),
        logql::Value::Scalar(x) => vec![format!("scalar {}", logql::json::format_value(*x))],
    }
}

struct Case {
    query: &'static str,
    params: logql::Params,
    show: Show,
    want: &'static [&'static str],
}

fn lines(query: &'static str, params: logql::Params, want: &'static [&'static str]) -> Case {
    Case {
        query,
        params,
        show: Show::Lines,
        want,
    }
}

fn labeled(query: &'static str, params: logql::Params, want: &'static [&'static str]) -> Case {
    Case {
        query,
        params,
        show: Show::Labels,
        want,
    }
}

fn run(cases: &[Case]) {
    let store = corpus();
    let mut failures = Vec::new();
    for c in cases {
        let got = match logql::parse(c.query) {
            Err(e) => vec![format!("parse error: {e}")],
            Ok(expr) => match logql::eval(&store, &expr, &c.params) {
                Ok(v) => render(&v, c.show, c.params.direction),
                Err(e) => vec![format!("error: {e}")],
            },
        };
        if got != c.want {
            failures.push(format!(
                "query: {}\n  want: {:#?}\n  got:  {:#?}",
                c.query, c.want, got
            ));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// Stream selectors: https://grafana.com/docs/loki/latest/query/log_queries/#log-stream-selector
#[test]
fn stream_selectors() {
    run(&[
        // `=`: the api stream's three lines, newest first (backward is the default).
        lines(r#"{job="api"}"#, logs(0, 100), &[
            "@32 10.0.0.2 - POST /peers 200 7ms",
            "@22 10.0.0.1 - GET /tasks 500 95ms",
            r#"@12 {"_entry":"GET /tasks 200 12ms","app":"api","method":"GET"}"#,
        ]),
        // `!=` with `=`: the node stream of n2 only.
        lines(r#"{job="node", instance!="n1"}"#, logs(0, 100), &[
            "@80 \x1b[31mlevel=error\x1b[0m msg=\"colored\"",
            r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
            r#"@35 level=info msg="block imported" height=102 duration=50ms bytes=3KB"#,
            r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#,
            r#"@15 level=info msg="block imported" height=100 duration=150ms bytes=1KB trace_id=t5"#,
        ]),
        // `=~` is anchored: `n.*` takes n1 and n2, not a1; `!~` likewise.
        lines(r#"{job=~"node|api", instance=~"n.*"} |= "peer lost""#, logs(0, 100), &[
            r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#,
            r#"@20 {"level":"error","msg":"peer lost","height":101,"latency":"2s","size":"20MB","peer":{"id":"p2","rtt":1.5}}"#,
        ]),
        lines(r#"{job=~".+", job!~"node|api"}"#, logs(0, 100), &[
            "@35 total=15",
            "@25 total=5",
            "@15 total=20",
            "@5 total=10",
        ]),
        // A selector must have a matcher that no empty value satisfies.
        lines(r#"{job!~"node|api"}"#, logs(0, 100), &[
            "parse error: parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
        ]),
        // The window is [start, end): 15 is in, 35 is out.
        lines(r#"{job="counter"}"#, logs(15, 35), &["@25 total=5", "@15 total=20"]),
        // Forward with a limit gives the oldest lines across streams; backward the newest.
        lines(r#"{job="node"}"#, forward(logs(0, 100), 2), &[
            r#"@10 {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
            r#"@15 level=info msg="block imported" height=100 duration=150ms bytes=1KB trace_id=t5"#,
        ]),
        lines(r#"{job="node"} != "{""#, limit(logs(0, 100), 2), &[
            "@80 \x1b[31mlevel=error\x1b[0m msg=\"colored\"",
            r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
        ]),
        // Streams are grouped by all their labels, structured metadata included.
        labeled(r#"{instance="n1"} |= "block imported""#, logs(0, 100), &[
            r#"@30 {format="json",instance="n1",job="node",trace_id="t3"} {"level":"info","msg":"block imported","height":102,"latency":"300ms","size":"2KiB","peer":{"id":"p1","rtt":0.25}}"#,
            r#"@10 {format="json",instance="n1",job="node",trace_id="t1"} {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
        ]),
    ]);
}

/// Line filters: https://grafana.com/docs/loki/latest/query/log_queries/#line-filter-expression
#[test]
fn line_filters() {
    run(&[
        // `|=`: contains, case-sensitive.
        lines(r#"{job="node"} |= "block""#, logs(0, 100), &[
            r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
            r#"@35 level=info msg="block imported" height=102 duration=50ms bytes=3KB"#,
            r#"@30 {"level":"info","msg":"block imported","height":102,"latency":"300ms","size":"2KiB","peer":{"id":"p1","rtt":0.25}}"#,
            r#"@15 level=info msg="block imported" height=100 duration=150ms bytes=1KB trace_id=t5"#,
            r#"@10 {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
        ]),
        // `!=`: does not contain.
        lines(r#"{job="node"} != "block" != "peer""#, logs(0, 100), &[
            "@80 \x1b[31mlevel=error\x1b[0m msg=\"colored\"",
            r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
            "@40 panic: runtime error",
        ]),
        // `|~`: an RE2 regex, unanchored.
        lines(r#"{job="node"} |~ "peer (lost|found)" |~ "^level""#, logs(0, 100), &[
            r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#,
        ]),
        // `!~`: does not match.
        lines(r#"{job="node"} !~ "info|error""#, logs(0, 100), &[
            r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
            r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
        ]),
        // Filters chain: every one must hold.
        lines(r#"{job="node"} |= "block" != "slow" |= "102""#, logs(0, 100), &[
            r#"@35 level=info msg="block imported" height=102 duration=50ms bytes=3KB"#,
            r#"@30 {"level":"info","msg":"block imported","height":102,"latency":"300ms","size":"2KiB","peer":{"id":"p1","rtt":0.25}}"#,
        ]),
        // `or` in a positive filter: either string.
        lines(r#"{job="node"} |= "warn" or "debug""#, logs(0, 100), &[
            r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
            r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
        ]),
        // `or` in a negative filter: neither (Loki rewrites `!= a or b` as `!= a != b`,
        // syntax/ast.go newOrLineFilterExpr).
        lines(r#"{job="node"} != "info" or "error""#, logs(0, 100), &[
            r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
            r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
        ]),
        // `(?i)` makes a regex case-insensitive; backquoted strings are raw.
        lines(r#"{job="node"} |~ `(?i)PANIC:`"#, logs(0, 100), &["@40 panic: runtime error"]),
        // `|>`: a pattern over the whole line; `<_>` matches any non-empty text.
        lines(r#"{job="api"} |> "<_> - <_> /tasks <_>""#, logs(0, 100), &[
            "@22 10.0.0.1 - GET /tasks 500 95ms",
        ]),
        lines(r#"{job="api"} !> "<_> - <_>""#, logs(0, 100), &[
            r#"@12 {"_entry":"GET /tasks 200 12ms","app":"api","method":"GET"}"#,
        ]),
        // An empty `|=` keeps every line.
        lines(r#"{job="counter"} |= """#, logs(0, 20), &["@15 total=20", "@5 total=10"]),
    ]);
}

/// `Select::contains` hints: only strings every kept line certainly contains.
#[test]
fn contains_hints() {
    let hints = |q: &str| logql::parse(q).expect("parses").contains_hints();
    // Single-valued `|=` before anything rewrites the line; a parser does not rewrite it.
    assert_eq!(
        hints(r#"{a="b"} |= "x" |~ "y" |= "z" | json |= "w" | line_format "{{.a}}" |= "v""#),
        ["x", "z", "w"]
    );
    // `or`, negative and empty filters promise nothing.
    assert!(hints(r#"{a="b"} |= "x" or "y" != "z" |= """#).is_empty());
    // unpack and decolorize rewrite the line too.
    assert_eq!(hints(r#"{a="b"} |= "x" | unpack |= "y""#), ["x"]);
    assert_eq!(hints(r#"{a="b"} | decolorize |= "y""#), Vec::<String>::new());
    // A metric query's hints are its selector's.
    assert_eq!(hints(r#"sum(count_over_time({a="b"} |= "err" [1m]))"#), ["err"]);
}
