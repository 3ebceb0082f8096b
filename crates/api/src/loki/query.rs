//! LogQL through Loki's API: `/loki/api/v1/query`, `/query_range`, `/tail` (WebSocket),
//! `/detected_fields` and `/patterns`, over the log store and the `logql` engine.
//!
//! Answers are Loki's: `{"status":"success","data":{...}}` with `logql::json`'s `data`
//! (streams, matrix, vector or scalar, and `stats`), in the `categorize-labels` shape when
//! the request's `X-Loki-Response-Encoding-Flags` asks for it, as Grafana's Loki data source
//! does. A query that does not parse, a parameter out of range or a limit reached is a 400
//! with Loki's plain-text message; a store failure a 500.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use logql::{Direction, Expr, Value as LogValue};
use serde_json::{Value, json};

use super::{
    Failure, HOUR_NS, Loki, Params, default_step, labels_json, now_ns, respond, success, with_store,
};

/// The most lines a log query answers (Loki's `max_entries_limit_per_query`).
const MAX_ENTRIES: usize = 5_000;
/// How often a tail asks the store for new lines.
const TAIL_POLL: Duration = Duration::from_millis(250);
/// How far behind now a tail still looks for lines pushed late (a client's batch,
/// timestamped when its lines were written).
const TAIL_LATE_NS: i64 = 30 * 1_000_000_000;

fn limits() -> logql::Limits {
    logql::Limits {
        max_entries: MAX_ENTRIES,
        ..logql::Limits::default()
    }
}

fn parse(p: &Params) -> Result<Expr, Failure> {
    let q = p
        .get("query")
        .ok_or_else(|| Failure::bad("missing query: give a LogQL query such as {job=\"node\"}"))?;
    logql::parse(q).map_err(|e| Failure::bad(e.to_string()))
}

fn limit(p: &Params) -> Result<usize, Failure> {
    match p.get("limit") {
        None => Ok(100),
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| Failure::bad(format!("invalid limit {l:?}: give a non-negative integer"))),
    }
}

fn direction(p: &Params) -> Result<Direction, Failure> {
    match p.get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(Failure::bad(format!(
            "invalid direction {other:?}: give forward or backward"
        ))),
    }
}

/// A duration parameter: Prometheus's syntax (`5m`) or seconds (`15`, `0.5`), in ns.
fn duration(p: &Params, name: &str) -> Result<Option<i64>, Failure> {
    let Some(v) = p.get(name) else {
        return Ok(None);
    };
    let ns = match v.parse::<f64>() {
        Ok(secs) if secs.is_finite() => Some((secs * 1e9) as i64),
        _ => crate::parse_duration(v).map(|ms| ms.saturating_mul(1_000_000)),
    };
    ns.filter(|&ns| ns > 0).map(Some).ok_or_else(|| {
        Failure::bad(format!(
            "invalid {name} {v:?}: give a positive duration (5m) or seconds"
        ))
    })
}

fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim() == "categorize-labels")
}

fn eval_error(e: logql::EvalError) -> Failure {
    match e {
        logql::EvalError::Store(e) => Failure::from(e),
        other => Failure::bad(other.to_string()),
    }
}

/// Evaluates `expr` over the store on a blocking thread (through `with_store`).
async fn eval(
    loki: &Loki,
    expr: Expr,
    params: logql::Params,
) -> Result<(LogValue, logql::Stats), Failure> {
    with_store(loki, move |s| {
        logql::eval_with(s, &expr, &params, &limits()).map_err(eval_error)
    })
    .await
}

/// Evaluates and answers in Loki's shape.
async fn answer(
    loki: &Loki,
    expr: Expr,
    params: logql::Params,
    categorize: bool,
) -> Result<Response, Failure> {
    let (value, stats) = eval(loki, expr, params).await?;
    Ok(success(logql::json::data_with_stats(
        &value, &stats, categorize,
    )))
}

/// `GET`/`POST /loki/api/v1/query_range`.
pub(super) async fn query_range(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let expr = parse(&p)?;
            let (start, end) = p.bounds(HOUR_NS)?;
            let step = duration(&p, "step")?.unwrap_or_else(|| default_step(start, end));
            let params = logql::Params {
                start,
                end,
                step: if expr.is_metric() { step } else { 0 },
                interval: duration(&p, "interval")?,
                direction: direction(&p)?,
                limit: limit(&p)?,
            };
            answer(&loki, expr, params, categorize(&headers)).await
        }
        .await,
    )
}

/// `GET`/`POST /loki/api/v1/query`: an instant query at `time` (now by default).
pub(super) async fn query(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let expr = parse(&p)?;
            let time = p.time("time")?.unwrap_or_else(now_ns);
            let params = logql::Params {
                direction: direction(&p)?,
                limit: limit(&p)?,
                ..logql::Params::instant(time)
            };
            answer(&loki, expr, params, categorize(&headers)).await
        }
        .await,
    )
}

/// `GET /loki/api/v1/tail` over WebSocket: the last `limit` lines since `start` (an hour
/// ago by default), then every new line as it comes, each message
/// `{"streams":[...],"dropped_entries":null}`.
pub(super) async fn tail(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let p = Params::new(raw, &headers, &[]);
    let prepared = (|| {
        let expr = parse(&p)?;
        if expr.is_metric() {
            return Err(Failure::bad(
                "tail: metric queries cannot be tailed; give a log query such as {job=\"node\"}",
            ));
        }
        let start = p.time("start")?.unwrap_or_else(|| now_ns() - HOUR_NS);
        let limit = limit(&p)?.clamp(1, MAX_ENTRIES);
        Ok((expr, start, limit))
    })();
    match prepared {
        Ok((expr, start, limit)) => {
            ws.on_upgrade(move |socket| follow(socket, loki, expr, start, limit))
        }
        Err(f) => f.into_response(),
    }
}

/// What a tail has sent among the lines it may see again: (time, labels, line).
type Seen = HashSet<(i64, String, String)>;

async fn follow(mut socket: WebSocket, loki: Loki, expr: Expr, start: i64, limit: usize) {
    let mut seen = Seen::new();
    // The first read: the newest `limit` lines since `start`, sent oldest first.
    let mut from = start;
    let mut first = true;
    loop {
        let now = now_ns();
        let params = logql::Params {
            start: from,
            end: now.saturating_add(1),
            step: 0,
            interval: None,
            direction: if first {
                Direction::Backward
            } else {
                Direction::Forward
            },
            limit: if first { limit } else { MAX_ENTRIES },
        };
        let store = loki.distributor.store().clone();
        let e = expr.clone();
        let read = tokio::task::spawn_blocking(move || {
            logql::eval_with(store.as_ref(), &e, &params, &limits())
        })
        .await;
        let streams = match read {
            Ok(Ok((LogValue::Streams(s), _))) => s,
            Ok(Ok(_)) => Vec::new(),
            Ok(Err(e)) => {
                let _ = socket
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1011,
                        reason: e.to_string().chars().take(120).collect::<String>().into(),
                    })))
                    .await;
                return;
            }
            Err(_) => return,
        };
        let (message, newest) = new_lines(&streams, &mut seen);
        first = false;
        if let Some(message) = message
            && socket
                .send(Message::Text(message.to_string().into()))
                .await
                .is_err()
        {
            return;
        }
        // The next read looks back TAIL_LATE_NS from now (and from the newest line sent,
        // for lines timed ahead of the clock), so that lines pushed late are still found
        // without reading the whole of `start`'s window again on every poll.
        let behind = newest.map_or(now, |n| n.max(now));
        from = from.max(behind.saturating_sub(TAIL_LATE_NS));
        seen.retain(|(t, _, _)| *t >= from);
        tokio::select! {
            () = tokio::time::sleep(TAIL_POLL) => {}
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The lines of `streams` not in `seen` (added to it), as one tail message oldest first,
/// and the newest time among them.
fn new_lines(streams: &[logql::StreamResult], seen: &mut Seen) -> (Option<Value>, Option<i64>) {
    let mut out = Vec::new();
    let mut newest = None;
    for s in streams {
        let key = s.labels.to_string();
        let mut values: Vec<(i64, &str)> = s
            .entries
            .iter()
            .filter(|e| seen.insert((e.timestamp, key.clone(), e.line.clone())))
            .map(|e| (e.timestamp, e.line.as_str()))
            .collect();
        if values.is_empty() {
            continue;
        }
        values.sort_by_key(|(t, _)| *t);
        newest = newest.max(values.last().map(|(t, _)| *t));
        out.push(json!({
            "stream": labels_json(&s.labels),
            "values": values.iter().map(|(t, l)| json!([t.to_string(), l])).collect::<Vec<_>>(),
        }));
    }
    if out.is_empty() {
        return (None, newest);
    }
    (
        Some(json!({"streams": out, "dropped_entries": null})),
        newest,
    )
}

/// `GET /loki/api/v1/detected_fields`: the fields of the newest `line_limit` lines (1,000 by
/// default) that the query selects: structured metadata, and what the line's JSON or logfmt
/// holds, each with its type (as Loki names them: `int`, `float`, `boolean`, `duration`,
/// `bytes`, `string`), its number of distinct values and the parser that found it.
pub(super) async fn detected_fields(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let expr = parse(&p)?;
            if expr.is_metric() {
                return Err(Failure::bad(
                    "detected_fields needs a log query such as {job=\"node\"}",
                ));
            }
            let (start, end) = p.bounds(HOUR_NS)?;
            let line_limit = match p.get("line_limit") {
                None => 1_000,
                Some(l) => l.parse::<usize>().map_err(|_| {
                    Failure::bad(format!("invalid line_limit {l:?}: give a positive integer"))
                })?,
            }
            .clamp(1, MAX_ENTRIES);
            let field_limit = match p.get("limit") {
                None => 1_000,
                Some(l) => l.parse::<usize>().map_err(|_| {
                    Failure::bad(format!("invalid limit {l:?}: give a positive integer"))
                })?,
            };
            let params = logql::Params {
                limit: line_limit,
                ..logql::Params::range(start, end, 0)
            };
            let (value, _) = eval(&loki, expr, params).await?;
            let LogValue::Streams(streams) = value else {
                return Ok(axum::Json(json!({"fields": [], "limit": field_limit})).into_response());
            };
            let mut fields: BTreeMap<String, Field> = BTreeMap::new();
            for e in streams.iter().flat_map(|s| &s.entries) {
                for l in e.metadata.iter() {
                    fields
                        .entry(l.name.to_owned())
                        .or_default()
                        .add(l.value, None);
                }
                let trimmed = e.line.trim_start();
                let (parser, pairs) = if trimmed.starts_with('{') {
                    ("json", logql::fields::json(&e.line))
                } else {
                    ("logfmt", logql::fields::logfmt(&e.line))
                };
                for (k, v) in pairs {
                    fields.entry(k).or_default().add(&v, Some(parser));
                }
                for l in e.parsed.iter().filter(|l| !l.name.starts_with("__")) {
                    fields
                        .entry(l.name.to_owned())
                        .or_default()
                        .add(l.value, None);
                }
            }
            let list: Vec<Value> = fields
                .into_iter()
                .take(field_limit)
                .map(|(label, f)| {
                    let kind = f.kind();
                    let parsers: Option<Vec<&str>> =
                        (!f.parsers.is_empty()).then(|| f.parsers.into_iter().collect());
                    json!({
                        "label": label,
                        "type": kind,
                        "cardinality": f.values.len(),
                        "parsers": parsers,
                    })
                })
                .collect();
            Ok(axum::Json(json!({"fields": list, "limit": field_limit})).into_response())
        }
        .await,
    )
}

/// One detected field: its distinct values and the parsers that found it.
#[derive(Default)]
struct Field {
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
}

impl Field {
    fn add(&mut self, value: &str, parser: Option<&'static str>) {
        if self.values.len() < 10_000 {
            self.values.insert(value.to_owned());
        }
        if let Some(p) = parser {
            self.parsers.insert(p);
        }
    }

    /// The narrowest of Loki's types every value has.
    fn kind(&self) -> &'static str {
        let all = |f: fn(&str) -> bool| !self.values.is_empty() && self.values.iter().all(|v| f(v));
        if all(|v| v.parse::<i64>().is_ok()) {
            "int"
        } else if all(|v| v.parse::<f64>().is_ok()) {
            "float"
        } else if all(|v| v == "true" || v == "false") {
            "boolean"
        } else if all(|v| crate::parse_duration(v).is_some() && v.parse::<f64>().is_err()) {
            "duration"
        } else if all(is_bytes) {
            "bytes"
        } else {
            "string"
        }
    }
}

/// A size as Loki's bytes label filters read it: a number and a unit (`10KB`, `1.5 MiB`).
fn is_bytes(v: &str) -> bool {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    !n.is_empty()
        && n.parse::<f64>().is_ok()
        && matches!(
            unit.trim().to_ascii_uppercase().as_str(),
            "B" | "KB" | "MB" | "GB" | "TB" | "KIB" | "MIB" | "GIB" | "TIB"
        )
}

/// `GET /loki/api/v1/patterns`: the lines the query selects (the newest 5,000) grouped by
/// their shape (each word holding a digit, and each quoted or hex identifier, becomes
/// `<_>`), the most frequent first, each with its count per `step`. Loki mines patterns
/// with Drain in its ingesters; this is a simpler grouping over the stored lines, so
/// patterns may be coarser or finer than Loki's.
pub(super) async fn patterns(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let expr = parse(&p)?;
            if expr.is_metric() {
                return Err(Failure::bad(
                    "patterns needs a log query such as {job=\"node\"}",
                ));
            }
            let (start, end) = p.bounds(HOUR_NS)?;
            let step = duration(&p, "step")?.unwrap_or_else(|| default_step(start, end));
            let params = logql::Params {
                limit: MAX_ENTRIES,
                ..logql::Params::range(start, end, 0)
            };
            let (value, _) = eval(&loki, expr, params).await?;
            let mut groups: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
            if let LogValue::Streams(streams) = value {
                for e in streams.iter().flat_map(|s| &s.entries) {
                    let bucket = start + (e.timestamp - start).div_euclid(step) * step;
                    *groups
                        .entry(pattern_of(&e.line))
                        .or_default()
                        .entry(bucket)
                        .or_insert(0) += 1;
                }
            }
            let mut ranked: Vec<(String, BTreeMap<i64, u64>, u64)> = groups
                .into_iter()
                .map(|(p, s)| {
                    let total = s.values().sum();
                    (p, s, total)
                })
                .collect();
            ranked.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
            ranked.truncate(100);
            let data: Vec<Value> = ranked
                .into_iter()
                .map(|(pattern, samples, _)| {
                    json!({
                        "pattern": pattern,
                        "samples": samples
                            .into_iter()
                            .map(|(t, n)| json!([t / 1_000_000_000, n]))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(success(Value::Array(data)))
        }
        .await,
    )
}

/// A line's shape: runs of word characters that hold a digit become `<_>`, as do quoted
/// strings of 16 or more characters (identifiers); neighbouring `<_>` joined by
/// punctuation (times, addresses, versions) become one.
fn pattern_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let variable = word.chars().any(|c| c.is_ascii_digit())
            || (word.len() >= 16 && word.chars().all(|c| c.is_ascii_hexdigit()));
        if variable {
            // `<_>` followed only by joining punctuation since: one variable.
            let joined = out
                .trim_end_matches(['.', ':', '-', '/', '+', '_'])
                .ends_with("<_>")
                && out.ends_with(['.', ':', '-', '/', '+', '_']);
            if joined {
                let keep = out.trim_end_matches(['.', ':', '-', '/', '+', '_']).len();
                out.truncate(keep);
            } else {
                out.push_str("<_>");
            }
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in line.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_hide_numbers_ids_and_times() {
        assert_eq!(
            pattern_of("block imported height=1234 peers=31 took 2.5ms"),
            "block imported height=<_> peers=<_> took <_>"
        );
        assert_eq!(
            pattern_of(
                r#"{"ts":"2026-12-07T10:30:15.123Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","msg":"done"}"#
            ),
            r#"{"ts":"<_>","trace_id":"<_>","msg":"done"}"#
        );
        assert_eq!(pattern_of("peer 10.0.0.7:30303 lost"), "peer <_> lost");
        assert_eq!(pattern_of("deadbeefdeadbeef ok"), "<_> ok");
    }

    #[test]
    fn field_types_are_the_narrowest_all_values_share() {
        let field = |values: &[&str]| {
            let mut f = Field::default();
            for v in values {
                f.add(v, None);
            }
            f.kind()
        };
        assert_eq!(field(&["1", "20"]), "int");
        assert_eq!(field(&["1", "2.5"]), "float");
        assert_eq!(field(&["true", "false"]), "boolean");
        assert_eq!(field(&["10ms", "1m30s"]), "duration");
        assert_eq!(field(&["10KB", "1.5 MiB"]), "bytes");
        assert_eq!(field(&["10KB", "abc"]), "string");
    }

    #[test]
    fn a_tail_sends_each_line_once_oldest_first() {
        let entry = |t: i64, line: &str| logql::ResultEntry {
            timestamp: t,
            line: line.into(),
            stream: model::Labels::from_pairs([("job", "node")]),
            metadata: model::Labels::empty(),
            parsed: model::Labels::empty(),
        };
        let streams = vec![logql::StreamResult {
            labels: model::Labels::from_pairs([("job", "node")]),
            entries: vec![entry(20, "b"), entry(10, "a")],
        }];
        let mut seen = Seen::new();
        let (message, newest) = new_lines(&streams, &mut seen);
        let message = message.expect("two new lines");
        assert_eq!(newest, Some(20));
        assert_eq!(
            message["streams"][0]["values"],
            json!([["10", "a"], ["20", "b"]])
        );
        assert_eq!(message["dropped_entries"], Value::Null);
        let (again, _) = new_lines(&streams, &mut seen);
        assert!(again.is_none(), "lines already sent are not sent again");
    }
}
