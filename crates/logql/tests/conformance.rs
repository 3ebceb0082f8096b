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
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Stream selectors: https://grafana.com/docs/loki/latest/query/log_queries/#log-stream-selector
#[test]
fn stream_selectors() {
    run(&[
        // `=`: the api stream's three lines, newest first (backward is the default).
        lines(
            r#"{job="api"}"#,
            logs(0, 100),
            &[
                "@32 10.0.0.2 - POST /peers 200 7ms",
                "@22 10.0.0.1 - GET /tasks 500 95ms",
                r#"@12 {"_entry":"GET /tasks 200 12ms","app":"api","method":"GET"}"#,
            ],
        ),
        // `!=` with `=`: the node stream of n2 only.
        lines(
            r#"{job="node", instance!="n1"}"#,
            logs(0, 100),
            &[
                "@80 \x1b[31mlevel=error\x1b[0m msg=\"colored\"",
                r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
                r#"@35 level=info msg="block imported" height=102 duration=50ms bytes=3KB"#,
                r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#,
                r#"@15 level=info msg="block imported" height=100 duration=150ms bytes=1KB trace_id=t5"#,
            ],
        ),
        // `=~` is anchored: `n.*` takes n1 and n2, not a1; `!~` likewise.
        lines(
            r#"{job=~"node|api", instance=~"n.*"} |= "peer lost""#,
            logs(0, 100),
            &[
                r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#,
                r#"@20 {"level":"error","msg":"peer lost","height":101,"latency":"2s","size":"20MB","peer":{"id":"p2","rtt":1.5}}"#,
            ],
        ),
        lines(
            r#"{job=~".+", job!~"node|api"}"#,
            logs(0, 100),
            &["@35 total=15", "@25 total=5", "@15 total=20", "@5 total=10"],
        ),
        // A selector must have a matcher that no empty value satisfies.
        lines(
            r#"{job!~"node|api"}"#,
            logs(0, 100),
            &[
                "parse error: parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ],
        ),
        // The window is [start, end): 15 is in, 35 is out.
        lines(
            r#"{job="counter"}"#,
            logs(15, 35),
            &["@25 total=5", "@15 total=20"],
        ),
        // Forward with a limit gives the oldest lines across streams; backward the newest.
        lines(
            r#"{job="node"}"#,
            forward(logs(0, 100), 2),
            &[
                r#"@10 {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
                r#"@15 level=info msg="block imported" height=100 duration=150ms bytes=1KB trace_id=t5"#,
            ],
        ),
        lines(
            r#"{job="node"} != "{""#,
            limit(logs(0, 100), 2),
            &[
                "@80 \x1b[31mlevel=error\x1b[0m msg=\"colored\"",
                r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
            ],
        ),
        // Streams are grouped by all their labels, structured metadata included.
        labeled(
            r#"{instance="n1"} |= "block imported""#,
            logs(0, 100),
            &[
                r#"@30 {format="json",instance="n1",job="node",trace_id="t3"} {"level":"info","msg":"block imported","height":102,"latency":"300ms","size":"2KiB","peer":{"id":"p1","rtt":0.25}}"#,
                r#"@10 {format="json",instance="n1",job="node",trace_id="t1"} {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
            ],
        ),
    ]);
}

/// `interval` (query_range's parameter for log queries): per stream, only lines at least
/// this far apart: 5 is kept, 15 is too close, 25 is kept, 35 too close.
#[test]
fn interval() {
    let mut p = forward(logs(0, 100), 100);
    p.interval = Some(15 * S);
    run(&[lines(
        r#"{job="counter"}"#,
        p,
        &["@5 total=10", "@25 total=5"],
    )]);
}

/// Line filters: https://grafana.com/docs/loki/latest/query/log_queries/#line-filter-expression
#[test]
fn line_filters() {
    run(&[
        // `|=`: contains, case-sensitive.
        lines(
            r#"{job="node"} |= "block""#,
            logs(0, 100),
            &[
                r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
                r#"@35 level=info msg="block imported" height=102 duration=50ms bytes=3KB"#,
                r#"@30 {"level":"info","msg":"block imported","height":102,"latency":"300ms","size":"2KiB","peer":{"id":"p1","rtt":0.25}}"#,
                r#"@15 level=info msg="block imported" height=100 duration=150ms bytes=1KB trace_id=t5"#,
                r#"@10 {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
            ],
        ),
        // `!=`: does not contain.
        lines(
            r#"{job="node"} != "block" != "peer""#,
            logs(0, 100),
            &[
                "@80 \x1b[31mlevel=error\x1b[0m msg=\"colored\"",
                r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
                "@40 panic: runtime error",
            ],
        ),
        // `|~`: an RE2 regex, unanchored.
        lines(
            r#"{job="node"} |~ "peer (lost|found)" |~ "^level""#,
            logs(0, 100),
            &[r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#],
        ),
        // `!~`: does not match.
        lines(
            r#"{job="node"} !~ "info|error""#,
            logs(0, 100),
            &[
                r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
                r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
            ],
        ),
        // Filters chain: every one must hold.
        lines(
            r#"{job="node"} |= "block" != "slow" |= "102""#,
            logs(0, 100),
            &[
                r#"@35 level=info msg="block imported" height=102 duration=50ms bytes=3KB"#,
                r#"@30 {"level":"info","msg":"block imported","height":102,"latency":"300ms","size":"2KiB","peer":{"id":"p1","rtt":0.25}}"#,
            ],
        ),
        // `or` in a positive filter: either string.
        lines(
            r#"{job="node"} |= "warn" or "debug""#,
            logs(0, 100),
            &[
                r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
                r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
            ],
        ),
        // `or` in a negative filter: neither (Loki rewrites `!= a or b` as `!= a != b`,
        // syntax/ast.go newOrLineFilterExpr).
        lines(
            r#"{job="node"} != "info" or "error""#,
            logs(0, 100),
            &[
                r#"@70 {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
                r#"@65 level=debug msg="gossip" height=x duration=abc empty="#,
            ],
        ),
        // `(?i)` makes a regex case-insensitive; backquoted strings are raw.
        lines(
            r#"{job="node"} |~ `(?i)PANIC:`"#,
            logs(0, 100),
            &["@40 panic: runtime error"],
        ),
        // `|>`: a pattern over the whole line; `<_>` matches any non-empty text.
        lines(
            r#"{job="api"} |> "<_> - <_> /tasks <_>""#,
            logs(0, 100),
            &["@22 10.0.0.1 - GET /tasks 500 95ms"],
        ),
        lines(
            r#"{job="api"} !> "<_> - <_>""#,
            logs(0, 100),
            &[r#"@12 {"_entry":"GET /tasks 200 12ms","app":"api","method":"GET"}"#],
        ),
        // An empty `|=` keeps every line.
        lines(
            r#"{job="counter"} |= """#,
            logs(0, 20),
            &["@15 total=20", "@5 total=10"],
        ),
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
    assert_eq!(
        hints(r#"{a="b"} | decolorize |= "y""#),
        Vec::<String>::new()
    );
    // A metric query's hints are its selector's.
    assert_eq!(
        hints(r#"sum(count_over_time({a="b"} |= "err" [1m]))"#),
        ["err"]
    );
}

/// Parsers: https://grafana.com/docs/loki/latest/query/log_queries/#parser-expression
#[test]
fn parsers() {
    run(&[
        // json: every field, nested objects flattened with `_`, arrays skipped, a field
        // the stream already has renamed `_extracted`, and a line that is no JSON object
        // marked with __error__ (#json).
        lines(
            r#"{instance="n1"} | json | line_format "{{.level}},{{.peer_id}},{{.peer_rtt}},{{.job_extracted}},{{.__error__}}""#,
            logs(0, 100),
            &[
                "@70 warn,,,worker,",
                "@40 ,,,,JSONParserErr",
                "@30 info,p1,0.25,,",
                "@20 error,p2,1.5,,",
                "@10 info,p1,0.5,,",
            ],
        ),
        labeled(
            r#"{instance="n1"} | json"#,
            forward(logs(0, 100), 1),
            &[
                r#"@10 {format="json",height="100",instance="n1",job="node",latency="120ms",level="info",msg="block imported",peer_id="p1",peer_rtt="0.5",size="1KB",trace_id="t1"} {"level":"info","msg":"block imported","height":100,"latency":"120ms","size":"1KB","peer":{"id":"p1","rtt":0.5}}"#,
            ],
        ),
        // The error's details are jsonparser's message (pkg/logql/log/parser.go addErrLabel).
        labeled(
            r#"{instance="n1"} |= "panic" | json"#,
            logs(0, 100),
            &[
                r#"@40 {__error__="JSONParserErr",__error_details__="Value looks like object, but can't find closing '}' symbol",format="json",instance="n1",job="node"} panic: runtime error"#,
            ],
        ),
        // `| __error__=""` drops the lines a parser could not read (#pipeline-errors).
        lines(
            r#"{instance="n1"} | json | __error__="" | line_format "{{.level}}""#,
            logs(0, 100),
            &["@70 warn", "@30 info", "@20 error", "@10 info"],
        ),
        // json with expressions: `a="b.c"`, `t="tags[0]"`, an object as its text, a missing
        // path as empty (#json, "Using json with parameters").
        lines(
            r#"{instance="n1"} | json lvl="level", rtt="peer.rtt", first_tag="tags[0]", peer="peer" | line_format "{{.lvl}},{{.rtt}},{{.first_tag}},{{.peer}}""#,
            logs(0, 100),
            &[
                "@70 warn,,a,",
                "@40 ,,,",
                r#"@30 info,0.25,,{"id":"p1","rtt":0.25}"#,
                r#"@20 error,1.5,,{"id":"p2","rtt":1.5}"#,
                r#"@10 info,0.5,,{"id":"p1","rtt":0.5}"#,
            ],
        ),
        labeled(
            r#"{instance="n1"} |= "slow" | json job"#,
            logs(0, 100),
            &[
                r#"@70 {format="json",instance="n1",job="node",job_extracted="worker",trace_id="t4"} {"level":"warn","msg":"slow block","height":103,"latency":"1m30s","size":"512B","job":"worker","tags":["a","b"]}"#,
            ],
        ),
        // logfmt: quoted values unquoted, keys sanitised (`[31mlevel` is `_31mlevel`), empty
        // values skipped (#logfmt).
        lines(
            r#"{instance="n2"} | logfmt | line_format "{{.level}},{{.msg}},{{.duration}},{{.trace_id}},{{._31mlevel}},{{.__error__}}""#,
            logs(0, 100),
            &[
                "@80 ,colored,,,error,",
                "@65 debug,gossip,abc,,,",
                "@35 info,block imported,50ms,,,",
                "@25 error,peer lost,3s,t2,,",
                "@15 info,block imported,150ms,t5,,",
            ],
        ),
        // --keep-empty keeps `empty=` as a label: 7 labels without it, 8 with.
        lines(
            r#"{instance="n2"} |= "gossip" | logfmt | line_format "{{ len . }}""#,
            logs(0, 100),
            &["@65 7"],
        ),
        lines(
            r#"{instance="n2"} |= "gossip" | logfmt --keep-empty | line_format "{{ len . }}""#,
            logs(0, 100),
            &["@65 8"],
        ),
        // --strict stops at the first malformed pair with LogfmtParserErr and the decoder's
        // position (pkg/logql/log/logfmt/decode.go); without it the pair is skipped quietly.
        lines(
            r#"{instance="n1"} |= "peer lost" | logfmt --strict | line_format "{{.__error__}}: {{.__error_details__}}""#,
            logs(0, 100),
            &[r#"@20 LogfmtParserErr: logfmt syntax error at pos 2 : unexpected '"'"#],
        ),
        lines(
            r#"{instance="n1"} |= "peer lost" | logfmt | line_format "[{{.__error__}}]""#,
            logs(0, 100),
            &["@20 []"],
        ),
        // logfmt with expressions: only these keys, renamed.
        lines(
            r#"{instance="n2"} | logfmt lvl="level", duration | line_format "{{.lvl}},{{.duration}},{{.msg}}""#,
            logs(0, 100),
            &[
                "@80 ,,",
                "@65 debug,abc,",
                "@35 info,50ms,",
                "@25 error,3s,",
                "@15 info,150ms,",
            ],
        ),
        // regexp: named groups become labels; a line that does not match gets none (#regular-expression).
        lines(
            r#"{job="api"} | regexp "(?P<method>GET|POST) (?P<path>\\S+) (?P<status>\\d+)" | line_format "{{.method}},{{.path}},{{.status}}""#,
            logs(0, 100),
            &[
                "@32 POST,/peers,200",
                "@22 GET,/tasks,500",
                "@12 GET,/tasks,200",
            ],
        ),
        // pattern: captures between literals; when a literal is missing, the capture before
        // it takes the rest of the line (pkg/logql/log/pattern Matches) (#pattern).
        lines(
            r#"{job="api"} | pattern "<ip> - <method> <path> <status> <_>" | line_format "{{.ip}},{{.method}},{{.path}},{{.status}}""#,
            logs(0, 100),
            &[
                "@32 10.0.0.2,POST,/peers,200",
                "@22 10.0.0.1,GET,/tasks,500",
                r#"@12 {"_entry":"GET /tasks 200 12ms","app":"api","method":"GET"},,,"#,
            ],
        ),
        // A name a parser already set on the line is not set again by a later one (Loki's
        // RecordExtracted): json's app="api" stays; first, regexp's app="app" does.
        lines(
            r#"{job="api"} |= "_entry" | json | regexp "\"(?P<app>[a-z]+)\":" | line_format "{{.app}}""#,
            logs(0, 100),
            &["@12 api"],
        ),
        lines(
            r#"{job="api"} |= "_entry" | regexp "\"(?P<app>[a-z]+)\":" | json | line_format "{{.app}} {{.method}}""#,
            logs(0, 100),
            &["@12 app GET"],
        ),
        // unpack: string fields become labels and `_entry` the line; a line that is no
        // object gets JSONParserErr (#unpack).
        labeled(
            r#"{job="api"} | unpack"#,
            logs(0, 100),
            &[
                r#"@32 {__error__="JSONParserErr",__error_details__="expecting json object(6), but it is not",instance="a1",job="api"} 10.0.0.2 - POST /peers 200 7ms"#,
                r#"@22 {__error__="JSONParserErr",__error_details__="expecting json object(6), but it is not",instance="a1",job="api"} 10.0.0.1 - GET /tasks 500 95ms"#,
                r#"@12 {app="api",instance="a1",job="api",method="GET"} GET /tasks 200 12ms"#,
            ],
        ),
    ]);
}

/// Label filters: https://grafana.com/docs/loki/latest/query/log_queries/#label-filter-expression
#[test]
fn label_filters() {
    run(&[
        // A stream label filters like a parsed one.
        lines(
            r#"{job="node"} | instance="n2" |= "peer""#,
            logs(0, 100),
            &[r#"@25 level=error msg="peer lost" height=101 duration=3s bytes=2MB trace_id=t2"#],
        ),
        // Structured metadata filters like a label; so does a parsed field of the same name.
        lines(
            r#"{job="node"} | trace_id="t2" | line_format "{{.trace_id}}""#,
            logs(0, 100),
            &["@20 t2"],
        ),
        lines(
            r#"{job="node"} | logfmt | trace_id="t2" | line_format "{{.trace_id}}""#,
            logs(0, 100),
            &["@25 t2", "@20 t2"],
        ),
        // Numbers: a missing label fails the filter; a value that is no number passes it
        // with __error__=LabelFilterErr.
        lines(
            r#"{job="node"} | logfmt | height >= 102 | line_format "{{.height}},{{.__error__}}""#,
            logs(0, 100),
            &["@65 x,LabelFilterErr", "@35 102,"],
        ),
        lines(
            r#"{instance="n1"} | json | height == 101 | line_format "{{.height}}""#,
            logs(0, 100),
            &["@20 101"],
        ),
        lines(
            r#"{instance="n1"} | json | height != 101 | line_format "{{.height}}""#,
            logs(0, 100),
            &["@70 103", "@30 102", "@10 100"],
        ),
        // Durations compare as durations: 1m30s > 300ms > 250ms > 120ms.
        lines(
            r#"{instance="n1"} | json | latency > 250ms | line_format "{{.latency}}""#,
            logs(0, 100),
            &["@70 1m30s", "@30 300ms", "@20 2s"],
        ),
        lines(
            r#"{instance="n1"} | json | latency >= 2s and latency < 1m | line_format "{{.latency}}""#,
            logs(0, 100),
            &["@20 2s"],
        ),
        // Bytes: 2KiB is 2048, 1.5KB 1500, 1KB 1000 (SI and IEC units as go-humanize reads them).
        lines(
            r#"{instance="n1"} | json | size > 1.5KB | line_format "{{.size}}""#,
            logs(0, 100),
            &["@30 2KiB", "@20 20MB"],
        ),
        lines(
            r#"{instance="n1"} | json | size <= 1KiB | line_format "{{.size}}""#,
            logs(0, 100),
            &["@70 512B", "@10 1KB"],
        ),
        // `or`, `and` and parentheses; `and` binds tighter than `or`.
        lines(
            r#"{instance="n1"} | json | level="error" or (level="info" and height > 101) | line_format "{{.height}}""#,
            logs(0, 100),
            &["@30 102", "@20 101"],
        ),
        lines(
            r#"{instance="n1"} | json | level="warn" or level="info" and height > 101 | line_format "{{.height}}""#,
            logs(0, 100),
            &["@70 103", "@30 102"],
        ),
        // A comma or a space also means `and`.
        lines(
            r#"{instance="n1"} | json | level="info", height > 100 | line_format "{{.height}}""#,
            logs(0, 100),
            &["@30 102"],
        ),
        lines(
            r#"{instance="n1"} | json | level="info" height > 100 | line_format "{{.height}}""#,
            logs(0, 100),
            &["@30 102"],
        ),
        // Regex matchers are anchored, as in selectors.
        lines(
            r#"{instance="n1"} | json | msg=~".*block.*", msg!~".*imported" | line_format "{{.msg}}""#,
            logs(0, 100),
            &["@70 slow block"],
        ),
        lines(
            r#"{instance="n1"} | json | msg=~"block" | line_format "{{.msg}}""#,
            logs(0, 100),
            &[],
        ),
        // __error__ filters like a label.
        lines(
            r#"{instance="n1"} | json | __error__!="""#,
            logs(0, 100),
            &["@40 panic: runtime error"],
        ),
    ]);
}

/// Formats: https://grafana.com/docs/loki/latest/query/log_queries/#line-format-expression
/// and the template functions: https://grafana.com/docs/loki/latest/query/template_functions/
#[test]
fn formats() {
    run(&[
        lines(
            r#"{instance="n1"} | json | __error__="" | line_format "{{.level | ToUpper}} {{.msg | trunc 4}} {{default \"-\" .peer_id}} {{add 1 (int .height)}}""#,
            logs(0, 100),
            &[
                "@70 WARN slow - 104",
                "@30 INFO bloc p1 103",
                "@20 ERROR peer p2 102",
                "@10 INFO bloc p1 101",
            ],
        ),
        // __timestamp__ and __line__.
        lines(
            r#"{job="counter"} | line_format "{{ __timestamp__ | unixEpoch }} {{ __line__ | replace \"total\" \"t\" }} {{ printf \"%05.1f\" 2.5 }}""#,
            logs(0, 20),
            &["@15 1700000015 t=20 002.5", "@5 1700000005 t=10 002.5"],
        ),
        // label_format: `dst=src` renames, `dst="{{...}}"` templates (#labels-format-expression).
        labeled(
            r#"{job="counter"} | logfmt | label_format n=total, kind="{{.job}}-x""#,
            logs(0, 10),
            &[r#"@5 {job="counter",kind="counter-x",n="10"} total=10"#],
        ),
        // Renames run in order and skip a missing source; templates read the labels as
        // they are at the stage's first template (pkg/logql/log/fmt.go LabelsFormatter).
        labeled(
            r#"{job="counter"} | logfmt | label_format n=missing, total2="{{.total}}""#,
            logs(0, 10),
            &[r#"@5 {job="counter",total="10",total2="10"} total=10"#],
        ),
        labeled(
            r#"{job="counter"} | logfmt | label_format n=total, m="{{.n}}-{{.total}}""#,
            logs(0, 10),
            &[r#"@5 {job="counter",m="10-",n="10"} total=10"#],
        ),
        // A template that fails marks the line with TemplateFormatErr and leaves it as it is.
        lines(
            r#"{job="counter"} | line_format "{{ div 1 0 }}" | line_format "{{ __line__ }} {{ .__error__ }}""#,
            logs(0, 10),
            &["@5 total=10 TemplateFormatErr"],
        ),
        // drop: names, or names whose value matches (#drop-labels-expression).
        labeled(
            r#"{instance="n1"} |= "peer lost" | json | drop level, msg, latency, size, height, peer_id="p9", peer_rtt"#,
            logs(0, 100),
            &[
                r#"@20 {format="json",instance="n1",job="node",peer_id="p2",trace_id="t2"} {"level":"error","msg":"peer lost","height":101,"latency":"2s","size":"20MB","peer":{"id":"p2","rtt":1.5}}"#,
            ],
        ),
        labeled(
            r#"{instance="n1"} |= "panic" | json | drop __error__, __error_details__"#,
            logs(0, 100),
            &[r#"@40 {format="json",instance="n1",job="node"} panic: runtime error"#],
        ),
        // keep: only these, stream labels included (#keep-labels-expression).
        labeled(
            r#"{instance="n1"} |= "peer lost" | json | keep level, job, peer_id="p2", peer_rtt="9""#,
            logs(0, 100),
            &[
                r#"@20 {job="node",level="error",peer_id="p2"} {"level":"error","msg":"peer lost","height":101,"latency":"2s","size":"20MB","peer":{"id":"p2","rtt":1.5}}"#,
            ],
        ),
        // decolorize removes ANSI escapes, so logfmt then reads `level` (#removing-color-codes).
        lines(
            r#"{instance="n2"} |= "colored" | decolorize | logfmt | line_format "{{.level}} {{__line__}}""#,
            logs(0, 100),
            &[r#"@80 error level=error msg="colored""#],
        ),
    ]);
}

/// Log range aggregations: https://grafana.com/docs/loki/latest/query/metric_queries/#log-range-aggregations
/// Each step t aggregates the lines in (t - range, t] (Loki's range vector iterator).
#[test]
fn log_range_aggregations() {
    run(&[
        lines(
            r#"count_over_time({job="counter"}[1m])"#,
            instant(60),
            &[r#"{job="counter"} 4"#],
        ),
        // The window is open on the left, closed on the right: (15, 35] holds 25 and 35.
        lines(
            r#"count_over_time({job="counter"}[20s])"#,
            instant(35),
            &[r#"{job="counter"} 2"#],
        ),
        lines(
            r#"rate({job="counter"}[20s])"#,
            instant(35),
            &[r#"{job="counter"} 0.1"#],
        ),
        // Bytes are the lines' lengths: 8 + 8 + 7 + 8.
        lines(
            r#"bytes_over_time({job="counter"}[1m])"#,
            instant(60),
            &[r#"{job="counter"} 31"#],
        ),
        lines(
            r#"bytes_rate({job="counter"}[1m])"#,
            instant(60),
            &[r#"{job="counter"} 0.5166666666666667"#],
        ),
        // Structured metadata is part of a sample's labels: one series per trace id.
        lines(
            r#"count_over_time({instance="n1"}[100s])"#,
            instant(100),
            &[
                r#"{format="json",instance="n1",job="node"} 1"#,
                r#"{format="json",instance="n1",job="node",trace_id="t1"} 1"#,
                r#"{format="json",instance="n1",job="node",trace_id="t2"} 1"#,
                r#"{format="json",instance="n1",job="node",trace_id="t3"} 1"#,
                r#"{format="json",instance="n1",job="node",trace_id="t4"} 1"#,
            ],
        ),
        // absent_over_time: 1 with the selector's equality labels when nothing matched.
        lines(
            r#"absent_over_time({job="nothing", level=~".+"}[1m])"#,
            instant(60),
            &[r#"{job="nothing"} 1"#],
        ),
        lines(r#"absent_over_time({job="counter"}[1m])"#, instant(60), &[]),
        lines(
            r#"absent_over_time({job="counter"}[1m])"#,
            instant(200),
            &[r#"{job="counter"} 1"#],
        ),
        // Range queries: one point per step where the window holds lines.
        lines(
            r#"count_over_time({job="counter"}[10s])"#,
            range(0, 40, 10),
            &[r#"{job="counter"} 1@10 1@20 1@30 1@40"#],
        ),
        lines(
            r#"count_over_time({job="counter"}[20s])"#,
            range(0, 40, 10),
            &[r#"{job="counter"} 1@10 2@20 2@30 2@40"#],
        ),
        // offset moves the window back: at t it is (t - 10s - range, t - 10s] (#offset-modifier).
        lines(
            r#"count_over_time({job="counter"}[10s] offset 10s)"#,
            range(0, 40, 10),
            &[r#"{job="counter"} 1@20 1@30 1@40"#],
        ),
        // The range may follow the pipeline, or the selector with the pipeline after it.
        lines(
            r#"count_over_time({job="node"} |= "peer lost" [100s])"#,
            instant(100),
            &[
                r#"{format="json",instance="n1",job="node",trace_id="t2"} 1"#,
                r#"{format="logfmt",instance="n2",job="node"} 1"#,
            ],
        ),
        lines(
            r#"count_over_time({job="node"}[100s] |= "peer lost" | instance="n2")"#,
            instant(100),
            &[r#"{format="logfmt",instance="n2",job="node"} 1"#],
        ),
        lines(
            r#"sum(rate({job="counter"}[10s]))"#,
            range(0, 40, 10),
            &["{} 0.1@10 0.1@20 0.1@30 0.1@40"],
        ),
    ]);
}

/// Unwrapped range aggregations: https://grafana.com/docs/loki/latest/query/metric_queries/#unwrapped-range-aggregations
/// The counter stream's values are 10, 20, 5, 15 at 5, 15, 25, 35 s; the unwrapped label
/// leaves the series' labels.
#[test]
fn unwrapped_range_aggregations() {
    run(&[
        lines(
            r#"sum_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 50"#],
        ),
        lines(
            r#"avg_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 12.5"#],
        ),
        lines(
            r#"min_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 5"#],
        ),
        lines(
            r#"max_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 20"#],
        ),
        lines(
            r#"first_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 10"#],
        ),
        lines(
            r#"last_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 15"#],
        ),
        // Population variance: mean 12.5, squared deviations 6.25 + 56.25 + 56.25 + 6.25 = 125, / 4.
        lines(
            r#"stdvar_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 31.25"#],
        ),
        lines(
            r#"stddev_over_time({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 5.5901699437494745"#],
        ),
        // φ-quantile with interpolation between ranks: sorted 5 10 15 20, rank 1.5 → 12.5.
        lines(
            r#"quantile_over_time(0.5, {job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 12.5"#],
        ),
        lines(
            r#"quantile_over_time(1, {job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 20"#],
        ),
        // rate of an unwrapped range: the sum per second (50 / 100 s).
        lines(
            r#"rate({job="counter"} | logfmt | unwrap total [100s])"#,
            instant(100),
            &[r#"{job="counter"} 0.5"#],
        ),
        // rate_counter: the increase with the reset at 25 s (15 - 10 + 20 = 25) extrapolated
        // from the 30 s sampled to 40 s (5 s at the start, where the first point lies past
        // 1.1 average intervals; 5 s to the end), per second of the 60 s range: 25 × (40/30)
        // / 60, computed in that order as Loki does, which rounds 5/9 down in the last digit.
        lines(
            r#"rate_counter({job="counter"} | logfmt | unwrap total [1m])"#,
            instant(40),
            &[r#"{job="counter"} 0.5555555555555555"#],
        ),
        // Conversions: durations in seconds, bytes in bytes; by/without on the functions
        // that allow grouping.
        lines(
            r#"max_over_time({instance="n1"} | json | unwrap duration(latency) [100s]) by (job)"#,
            instant(100),
            &[r#"{job="node"} 90"#],
        ),
        lines(
            r#"min_over_time({instance="n1"} | json | unwrap duration_seconds(latency) [100s]) by (job)"#,
            instant(100),
            &[r#"{job="node"} 0.12"#],
        ),
        lines(
            r#"max_over_time({instance="n1"} | json | unwrap bytes(size) [100s]) by (job)"#,
            instant(100),
            &[r#"{job="node"} 20000000"#],
        ),
        lines(
            r#"min_over_time({instance="n1"} | json | unwrap bytes(size) [100s]) without (format, instance, trace_id, level, msg, height, latency, peer_id, peer_rtt, job_extracted)"#,
            instant(100),
            &[r#"{job="node"} 512"#],
        ),
        // A value that does not convert marks the sample with SampleExtractionErr; a label
        // filter after unwrap drops it.
        lines(
            r#"max_over_time({job="node"} | logfmt | unwrap duration(duration) | __error__="" [100s]) by (job)"#,
            instant(100),
            &[r#"{job="node"} 3"#],
        ),
        // The unwrap may come before the range or after it.
        lines(
            r#"sum_over_time({job="counter"}[100s] | logfmt | unwrap total)"#,
            instant(100),
            &[r#"{job="counter"} 50"#],
        ),
    ]);
}

/// Vector aggregations: https://grafana.com/docs/loki/latest/query/metric_queries/#built-in-aggregation-operators
#[test]
fn vector_aggregations() {
    run(&[
        lines(
            r#"sum by (level) (count_over_time({job="node"} | json | __error__="" [100s]))"#,
            instant(100),
            &[
                r#"{level="error"} 1"#,
                r#"{level="info"} 2"#,
                r#"{level="warn"} 1"#,
            ],
        ),
        // logfmt reads nothing from the JSON lines: they count under no level.
        lines(
            r#"sum by (level) (count_over_time({job="node"} | logfmt [100s]))"#,
            instant(100),
            &[
                "{} 6",
                r#"{level="debug"} 1"#,
                r#"{level="error"} 1"#,
                r#"{level="info"} 2"#,
            ],
        ),
        lines(
            r#"sum(count_over_time({job="node"}[100s]))"#,
            instant(100),
            &["{} 10"],
        ),
        // Grouping by a structured metadata label: the line without one counts under {}.
        lines(
            r#"sum by (trace_id) (count_over_time({instance="n1"}[100s]))"#,
            instant(100),
            &[
                "{} 1",
                r#"{trace_id="t1"} 1"#,
                r#"{trace_id="t2"} 1"#,
                r#"{trace_id="t3"} 1"#,
                r#"{trace_id="t4"} 1"#,
            ],
        ),
        lines(
            r#"count(count_over_time({instance="n1"}[100s]))"#,
            instant(100),
            &["{} 5"],
        ),
        // without, written before or after the call.
        lines(
            r#"sum without (instance, format, trace_id) (count_over_time({job="node"}[100s]))"#,
            instant(100),
            &[r#"{job="node"} 10"#],
        ),
        lines(
            r#"sum(count_over_time({job="node"}[100s])) without (instance, format, trace_id)"#,
            instant(100),
            &[r#"{job="node"} 10"#],
        ),
        // node: five series of 1 (one per trace id) and one of 5; api: one of 3.
        lines(
            r#"avg by (job) (count_over_time({job=~"node|api"}[100s]))"#,
            instant(100),
            &[r#"{job="api"} 3"#, r#"{job="node"} 1.6666666666666667"#],
        ),
        lines(
            r#"max by (job) (count_over_time({job=~"node|api"}[100s]))"#,
            instant(100),
            &[r#"{job="api"} 3"#, r#"{job="node"} 5"#],
        ),
        lines(
            r#"min by (job) (count_over_time({job=~"node|api"}[100s]))"#,
            instant(100),
            &[r#"{job="api"} 3"#, r#"{job="node"} 1"#],
        ),
        // counter 4 and api 3: mean 3.5, population variance 0.25.
        lines(
            r#"stdvar(count_over_time({job=~"counter|api"}[100s]))"#,
            instant(100),
            &["{} 0.25"],
        ),
        lines(
            r#"stddev(count_over_time({job=~"counter|api"}[100s]))"#,
            instant(100),
            &["{} 0.5"],
        ),
        // topk/bottomk keep the samples' own labels.
        lines(
            r#"topk(1, count_over_time({job=~"node|api|counter"}[100s]))"#,
            instant(100),
            &[r#"{format="logfmt",instance="n2",job="node"} 5"#],
        ),
        lines(
            r#"bottomk(1, count_over_time({job=~"api|counter"}[100s]))"#,
            instant(100),
            &[r#"{instance="a1",job="api"} 3"#],
        ),
        lines(
            r#"topk by (job) (1, count_over_time({job=~"node|api|counter"}[100s]))"#,
            instant(100),
            &[
                r#"{format="logfmt",instance="n2",job="node"} 5"#,
                r#"{instance="a1",job="api"} 3"#,
                r#"{job="counter"} 4"#,
            ],
        ),
        // sort and sort_desc order an instant vector by value.
        lines(
            r#"sort_desc(count_over_time({job=~"api|counter"}[100s]))"#,
            instant(100),
            &[r#"{job="counter"} 4"#, r#"{instance="a1",job="api"} 3"#],
        ),
        lines(
            r#"sort(count_over_time({job=~"api|counter"}[100s]))"#,
            instant(100),
            &[r#"{instance="a1",job="api"} 3"#, r#"{job="counter"} 4"#],
        ),
    ]);
}

/// Binary operators: https://grafana.com/docs/loki/latest/query/#binary-operators (as
/// PromQL's: https://prometheus.io/docs/prometheus/latest/querying/operators/).
#[test]
fn binary_operators() {
    run(&[
        lines(
            r#"count_over_time({job="counter"}[100s]) * 2 + 1"#,
            instant(100),
            &[r#"{job="counter"} 9"#],
        ),
        // Precedence as PromQL's; `^` groups from the right.
        lines("1 + 2 * 3", instant(100), &["scalar 7"]),
        lines("2 ^ 3 ^ 2", instant(100), &["scalar 512"]),
        lines("(1 + 2) * 3", instant(100), &["scalar 9"]),
        lines("-1 + 5 % 3", instant(100), &["scalar 1"]),
        // A literal in a range query is a series with no labels.
        lines("2", range(0, 20, 10), &["{} 2@0 2@10 2@20"]),
        // Comparisons filter; with bool they give 0 or 1.
        lines(
            r#"count_over_time({job=~"api|counter"}[100s]) > 3"#,
            instant(100),
            &[r#"{job="counter"} 4"#],
        ),
        lines(
            r#"count_over_time({job=~"api|counter"}[100s]) > bool 3"#,
            instant(100),
            &[r#"{instance="a1",job="api"} 0"#, r#"{job="counter"} 1"#],
        ),
        lines(
            r#"3 < count_over_time({job=~"api|counter"}[100s])"#,
            instant(100),
            &[r#"{job="counter"} 4"#],
        ),
        lines("1 == bool 1", instant(100), &["scalar 1"]),
        // Vector to vector, matched on all labels: the four lines with "error" of ten.
        lines(
            r#"sum by (job) (count_over_time({job="node"}[100s])) / sum by (job) (count_over_time({job="node"} |= "error" [100s]))"#,
            instant(100),
            &[r#"{job="node"} 2.5"#],
        ),
        // on + group_left: many-to-one.
        lines(
            r#"sum by (instance, job) (count_over_time({job="node"}[100s])) / on(job) group_left sum by (job) (count_over_time({job="node"}[100s]))"#,
            instant(100),
            &[
                r#"{instance="n1",job="node"} 0.5"#,
                r#"{instance="n2",job="node"} 0.5"#,
            ],
        ),
        // group_left(label) copies a label of the "one" side; label_replace makes it.
        lines(
            r#"sum by (instance, job) (count_over_time({job="node"}[100s])) * on(job) group_left(kind) label_replace(sum by (job) (count_over_time({job="node"}[100s])), "kind", "k-$1", "job", "(.*)")"#,
            instant(100),
            &[
                r#"{instance="n1",job="node",kind="k-node"} 50"#,
                r#"{instance="n2",job="node",kind="k-node"} 50"#,
            ],
        ),
        // group_right: one-to-many, the right side's labels.
        lines(
            r#"sum by (job) (count_over_time({job="node"}[100s])) - on(job) group_right sum by (instance, job) (count_over_time({job="node"}[100s]))"#,
            instant(100),
            &[
                r#"{instance="n1",job="node"} 5"#,
                r#"{instance="n2",job="node"} 5"#,
            ],
        ),
        // ignoring: match on the rest.
        lines(
            r#"sum by (instance, job) (count_over_time({job="node"}[100s])) / ignoring(instance) group_left sum by (job) (count_over_time({job="node"}[100s]))"#,
            instant(100),
            &[
                r#"{instance="n1",job="node"} 0.5"#,
                r#"{instance="n2",job="node"} 0.5"#,
            ],
        ),
        // One-to-one matching refuses two left series for one right.
        lines(
            r#"count_over_time({job="node"}[100s]) + on(job) sum by (job) (count_over_time({job="node"}[100s]))"#,
            instant(100),
            &[
                r#"error: multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); the match group is {job="node"}"#,
            ],
        ),
        // Set operators.
        lines(
            r#"count_over_time({job=~"api|counter"}[100s]) and count_over_time({job="api"}[100s])"#,
            instant(100),
            &[r#"{instance="a1",job="api"} 3"#],
        ),
        lines(
            r#"count_over_time({job="api"}[100s]) or count_over_time({job="counter"}[100s])"#,
            instant(100),
            &[r#"{instance="a1",job="api"} 3"#, r#"{job="counter"} 4"#],
        ),
        lines(
            r#"count_over_time({job=~"api|counter"}[100s]) unless on(job) count_over_time({job="api"}[100s])"#,
            instant(100),
            &[r#"{job="counter"} 4"#],
        ),
        // vector() answers when nothing else does (#functions).
        lines(
            r#"sum(count_over_time({job="nothing"}[1m])) or vector(0)"#,
            instant(100),
            &["{} 0"],
        ),
        lines(
            r#"label_replace(count_over_time({job="counter"}[100s]), "svc", "$1-svc", "job", "(c.*)")"#,
            instant(100),
            &[r#"{job="counter",svc="counter-svc"} 4"#],
        ),
        // A regex that does not match leaves the labels alone.
        lines(
            r#"label_replace(count_over_time({job="counter"}[100s]), "svc", "$1", "job", "x(.*)")"#,
            instant(100),
            &[r#"{job="counter"} 4"#],
        ),
    ]);
}

/// Limits: each error names its limit (Loki's `max_query_series`,
/// `max_entries_limit_per_query`, and the 11,000 points of a range query).
#[test]
fn limits_name_themselves() {
    let store = corpus();
    let q = logql::parse(r#"count_over_time({job="node"}[100s])"#).expect("parses");
    let limits = logql::Limits {
        max_series: 2,
        ..logql::Limits::default()
    };
    let e = logql::eval_with(&store, &q, &instant(100), &limits).expect_err("6 series > 2");
    assert_eq!(
        e.to_string(),
        "maximum number of series (2) reached for a single query; add stream selectors or aggregate (sum by (...)) to return fewer, or raise max_query_series"
    );
    // Aggregated, the same lines fit.
    let q = logql::parse(r#"sum by (job) (count_over_time({job="node"}[100s]))"#).expect("parses");
    assert!(logql::eval_with(&store, &q, &instant(100), &limits).is_ok());

    let q = logql::parse(r#"{job="node"}"#).expect("parses");
    let e = logql::eval(&store, &q, &limit(logs(0, 100), 6000)).expect_err("over 5000");
    assert_eq!(
        e.to_string(),
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (6000 > 5000)"
    );

    let q = logql::parse(r#"rate({job="node"}[1m])"#).expect("parses");
    let e = logql::eval(&store, &q, &range(0, 20_000, 1)).expect_err("20,001 steps");
    assert_eq!(
        e.to_string(),
        "exceeded maximum resolution of 11000 points per timeseries (20001 asked); increase the step or shorten the range"
    );
}

/// Log queries are range queries: Loki refuses them as instant queries.
#[test]
fn instant_log_queries_are_refused() {
    let store = corpus();
    let q = logql::parse(r#"{job="api"}"#).expect("parses");
    let e = logql::eval(&store, &q, &instant(100)).expect_err("instant");
    assert_eq!(
        e.to_string(),
        "log queries are not supported as an instant query type, please change your query to a range query type"
    );
}

/// A metric query over lines a stage failed on is an error that says how to skip them
/// (https://grafana.com/docs/loki/latest/query/#pipeline-errors).
#[test]
fn pipeline_errors_fail_metric_queries() {
    let store = corpus();
    let q = logql::parse(
        r#"max_over_time({job="node"} | logfmt | unwrap duration(duration) [100s]) by (job)"#,
    )
    .expect("parses");
    let e = logql::eval(&store, &q, &instant(100)).expect_err("abc is no duration");
    assert!(
        e.to_string().starts_with(
            r#"pipeline error: 'SampleExtractionErr' for series: '{__error__="SampleExtractionErr",__error_details__="time: invalid duration \"abc\"",job="node"}'."#
        ),
        "{e}"
    );
    let q = logql::parse(r#"count_over_time({job="node"} | json [100s])"#).expect("parses");
    let e = logql::eval(&store, &q, &instant(100)).expect_err("logfmt lines are no JSON");
    assert!(
        e.to_string()
            .starts_with("pipeline error: 'JSONParserErr' for series: "),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(r#"(e.g | __error__!="JSONParserErr")"#),
        "{e}"
    );
}

/// The `data` object of /loki/api/v1/query(_range):
/// https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time
#[test]
fn json_answers() {
    use serde_json::json;
    let store = corpus();
    let answer = |q: &str, p: &logql::Params, categorize: bool| {
        let expr = logql::parse(q).expect("parses");
        let (value, stats) =
            logql::eval_with(&store, &expr, p, &logql::Limits::default()).expect("evaluates");
        logql::json::data_with_stats(&value, &stats, categorize)
    };

    let d = answer(r#"{job="counter"}"#, &logs(0, 20), false);
    assert_eq!(d["resultType"], "streams");
    assert_eq!(
        d["result"],
        json!([{"stream": {"job": "counter"}, "values": [
            ["1700000015000000000", "total=20"],
            ["1700000005000000000", "total=10"],
        ]}])
    );
    assert_eq!(d["stats"]["summary"]["totalEntriesReturned"], 2);
    assert_eq!(d["stats"]["summary"]["totalLinesProcessed"], 2);
    assert!(d.get("encodingFlags").is_none());

    // Default shape: every label on the stream. Categorised: stream labels on the stream,
    // metadata and parsed labels on each entry.
    let q = r#"{instance="n1"} |= "peer lost" | json level"#;
    let line = r#"{"level":"error","msg":"peer lost","height":101,"latency":"2s","size":"20MB","peer":{"id":"p2","rtt":1.5}}"#;
    let d = answer(q, &logs(0, 100), false);
    assert_eq!(
        d["result"],
        json!([{"stream": {"format": "json", "instance": "n1", "job": "node", "level": "error", "trace_id": "t2"},
                "values": [["1700000020000000000", line]]}])
    );
    let d = answer(q, &logs(0, 100), true);
    assert_eq!(d["encodingFlags"], json!(["categorize-labels"]));
    assert_eq!(
        d["result"],
        json!([{"stream": {"format": "json", "instance": "n1", "job": "node"},
                "values": [["1700000020000000000", line,
                    {"structuredMetadata": {"trace_id": "t2"}, "parsed": {"level": "error"}}]]}])
    );

    let d = answer(
        r#"count_over_time({job="counter"}[10s])"#,
        &range(0, 20, 10),
        false,
    );
    assert_eq!(d["resultType"], "matrix");
    assert_eq!(
        d["result"],
        json!([{"metric": {"job": "counter"}, "values": [[1700000010, "1"], [1700000020, "1"]]}])
    );
    let d = answer(r#"bytes_rate({job="counter"}[1m])"#, &instant(60), false);
    assert_eq!(d["resultType"], "vector");
    assert_eq!(
        d["result"],
        json!([{"metric": {"job": "counter"}, "value": [1700000060, "0.5166666666666667"]}])
    );
    let d = answer("1 / 0", &instant(60), false);
    assert_eq!(d["resultType"], "scalar");
    assert_eq!(d["result"][1], "+Inf");
}

/// Ranges and offsets near the limits of 64-bit nanoseconds saturate rather than wrap.
#[test]
fn extreme_ranges_do_not_overflow() {
    let store = corpus();
    for q in [
        r#"count_over_time({job="counter"}[290y] offset 290y)"#,
        r#"count_over_time({job="counter"}[290y] offset -290y)"#,
        r#"rate_counter({job="counter"} | logfmt | unwrap total [290y])"#,
    ] {
        let expr = logql::parse(q).expect("parses");
        assert!(
            logql::eval(&store, &expr, &range(0, 100, 50)).is_ok(),
            "{q}"
        );
    }
    // 292 years and more do not fit in 64-bit nanoseconds: a parse error.
    assert!(logql::parse(r#"rate({job="counter"}[300y])"#).is_err());
}
