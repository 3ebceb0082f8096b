//! Tempo's HTTP API under `/tempo`, so that Grafana's Tempo data source (URL
//! `http://host:9797/tempo`) reads Skywatch's spans unchanged.
//!
//! Served:
//! - `GET /api/traces/{id}`: the trace as Tempo 1 answered, OTLP/JSON with the resource
//!   spans under `batches`, or OTLP protobuf (`TracesData`'s encoding) with
//!   `Accept: application/protobuf`; 404 with no body when there is no such trace.
//! - `GET /api/v2/traces/{id}`: Tempo 2's `TraceByIDResponse`, `{"trace":
//!   {"resourceSpans": [...]}, "metrics": {}}` or its protobuf, which Grafana asks for.
//! - `GET /api/search`: TraceQL (`q`) or tags (`tags`, logfmt), with `minDuration`,
//!   `maxDuration`, `limit` (20), `start`, `end` (Unix seconds) and `spss` (3): Tempo's
//!   `traces[]` with `traceID`, `rootServiceName`, `rootTraceName`, `startTimeUnixNano`,
//!   `durationMs`, `serviceStats` and, for TraceQL, `spanSet`/`spanSets` (the matched spans,
//!   at most `spss` of them, with the values the query read, `matched`, and the aggregates'
//!   values), newest first, and `metrics`.
//! - `GET /api/search/tags`, `/api/v2/search/tags` (scopes `resource`, `span`,
//!   `intrinsic`), `/api/search/tag/{tag}/values` and `/api/v2/search/tag/{tag}/values`
//!   (typed values of a TraceQL identifier, filtered by `q`).
//! - `GET /api/echo` and `/api/status/buildinfo`, which Grafana calls to test the source.
//!
//! The OTLP encodings are the `otlp` crate's. Numbers that protobuf's JSON writes as
//! strings (`startTimeUnixNano`, `durationNanos`) are strings here too; unlike Tempo's
//! writer, fields at their zero value are written rather than left out. Errors are Tempo's:
//! a plain-text message with 400 for bad parameters or TraceQL (which names the byte
//! offset and what is unsupported), 503 without a span store. Grafana's streaming search
//! (gRPC) is not served: turn streaming off in the data source.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prost::Message as _;
use serde_json::{Value as Json, json};
use spans::{
    AttributeScope, KeyValue, Span, SpanError, SpanId, StatusCode as Code, TraceId, Value, Window,
};
use traceql::Query;

use crate::ApiState;
use crate::span_access::{Unavailable, now_ns, param, params, with_store};

/// Traces a search returns without `limit`.
const DEFAULT_LIMIT: usize = 20;
/// Spans shown per spanset without `spss`.
const DEFAULT_SPSS: usize = 3;
/// Tempo's root service name for a trace whose root span has not arrived.
const NO_ROOT: &str = "<root span not yet received>";
/// How far back searches that scan for tag values look without `start` and `end`: Tempo
/// then reads only its recent data.
const RECENT_NS: u64 = 24 * 3600 * 1_000_000_000;
/// The intrinsics TraceQL reads here, as `/api/v2/search/tags` lists them.
const INTRINSICS: &[&str] = &[
    "duration",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:kind",
    "span:name",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// Tempo's routes, under `/tempo`.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
        .route("/api/search", get(search))
        .route("/api/search/tags", get(tags_v1))
        .route("/api/v2/search/tags", get(tags_v2))
        .route("/api/search/tag/{tag}/values", get(tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tag_values_v2))
        .route("/api/echo", get(|| async { text(StatusCode::OK, "echo") }))
        .route("/api/status/buildinfo", get(buildinfo))
        .with_state(Arc::new(state));
    Router::new().nest("/tempo", api)
}

/// A plain-text answer, as Go's `http.Error` writes one.
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

/// A failed request: its status and message.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        text(self.0, &self.1)
    }
}

impl From<Unavailable> for Failure {
    fn from(u: Unavailable) -> Self {
        Failure(u.status(), u.message())
    }
}

impl From<SpanError> for Failure {
    fn from(e: SpanError) -> Self {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn bad_request(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message.into())
}

fn json_response(body: &Json) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `start` and `end` in Unix seconds, as Tempo reads them; both absent means all time.
fn window(params: &[(String, String)]) -> Result<Option<Window>, Failure> {
    let read = |name: &str| {
        param(params, name)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| bad_request(format!("invalid {name}: {v:?} is not Unix seconds")))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let (start, end) = (read("start")?, read("end")?);
    if start == 0 && end == 0 {
        return Ok(None);
    }
    if end <= start {
        return Err(bad_request(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    Ok(Some(Window {
        start: u64::from(start) * 1_000_000_000,
        end: u64::from(end) * 1_000_000_000,
    }))
}

/// The trace `id` names within the request's window, or the failure to answer.
async fn read_trace(state: &ApiState, id: &str, raw: Option<String>) -> Result<Vec<Span>, Failure> {
    let id: TraceId = id
        .parse()
        .map_err(|e: spans::IdError| bad_request(e.to_string()))?;
    let window = window(&params(raw))?.unwrap_or(Window::ALL);
    with_store(state, move |store| Ok(store.trace(&id, window)?)).await
}

/// Whether the client asked for protobuf.
fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/protobuf"))
}

fn protobuf(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/protobuf")], bytes).into_response()
}

async fn trace_v1(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    trace_by_id(&state, &id, raw, &headers, false).await
}

async fn trace_v2(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    trace_by_id(&state, &id, raw, &headers, true).await
}

/// Tempo's `TraceByIDResponse`, the fields Skywatch fills.
#[derive(prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<otlp::proto::trace::v1::TracesData>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<TraceByIdMetrics>,
}

/// Tempo's `TraceByIDMetrics`: Skywatch reports none.
#[derive(prost::Message)]
struct TraceByIdMetrics {}

/// A trace by ID in Tempo 1's shape (`batches`, or `TracesData` in protobuf) or Tempo 2's
/// (`TraceByIDResponse`).
async fn trace_by_id(
    state: &ApiState,
    id: &str,
    raw: Option<String>,
    headers: &HeaderMap,
    v2: bool,
) -> Response {
    let spans = match read_trace(state, id, raw).await {
        Ok(spans) if spans.is_empty() => return StatusCode::NOT_FOUND.into_response(),
        Ok(spans) => spans,
        Err(f) => return f.into_response(),
    };
    let data = otlp::traces::to_otlp(&spans);
    match (v2, wants_protobuf(headers)) {
        (false, true) => protobuf(data.encode_to_vec()),
        (true, true) => protobuf(
            TraceByIdResponse {
                trace: Some(data),
                metrics: Some(TraceByIdMetrics {}),
            }
            .encode_to_vec(),
        ),
        (true, false) => {
            json_response(&json!({"trace": otlp::json::write_traces(&data), "metrics": {}}))
        }
        (false, false) => {
            // Tempo 1 named the resource spans `batches`.
            let mut body = otlp::json::write_traces(&data);
            if let Some(obj) = body.as_object_mut()
                && let Some(batches) = obj.remove("resourceSpans")
            {
                obj.insert("batches".into(), batches);
            }
            json_response(&body)
        }
    }
}

/// What `/api/search` asks for.
struct Search {
    query: Option<Query>,
    tags: Vec<(String, String)>,
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    limit: usize,
    spss: usize,
    window: Window,
}

fn parse_search(params: &[(String, String)]) -> Result<Search, Failure> {
    let window = window(params)?;
    let q = param(params, "q");
    let mut tags = Vec::new();
    if let Some(logfmt) = params.iter().find(|(k, _)| k == "tags").map(|(_, v)| v) {
        if q.is_some() {
            return Err(bad_request(
                "invalid request: can't specify tags and q in the same query",
            ));
        }
        for (k, v) in logfmt_pairs(logfmt)? {
            if tags.iter().any(|(known, _)| *known == k) {
                return Err(bad_request(format!(
                    "invalid tags: tag {k} has been set twice"
                )));
            }
            tags.push((k, v));
        }
    } else if q.is_none() && window.is_none() {
        // The first Grafana versions sent each tag as its own parameter.
        const RESERVED: &[&str] = &[
            "q",
            "tags",
            "minDuration",
            "maxDuration",
            "limit",
            "spss",
            "start",
            "end",
        ];
        tags = params
            .iter()
            .filter(|(k, v)| !RESERVED.contains(&k.as_str()) && !v.is_empty())
            .cloned()
            .collect();
    }
    let duration = |name: &str| {
        param(params, name)
            .map(|v| {
                traceql::duration::parse_go_duration(v)
                    .map(|ns| ns.max(0).unsigned_abs() / 1_000_000 * 1_000_000)
                    .map_err(|e| bad_request(format!("invalid {name}: {e}")))
            })
            .transpose()
    };
    let (min_duration, max_duration) = (duration("minDuration")?, duration("maxDuration")?);
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && min > 0
        && min > max
    {
        return Err(bad_request(
            "invalid maxDuration: must be greater than minDuration",
        ));
    }
    let count = |name: &str, default: usize| {
        param(params, name)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| bad_request(format!("invalid {name}: {v:?} is not a count")))
            })
            .transpose()
            .map(|n| n.map_or(default, |n| n as usize))
    };
    let limit = count("limit", DEFAULT_LIMIT)?;
    if limit == 0 {
        return Err(bad_request("invalid limit: must be a positive number"));
    }
    let spss = match count("spss", DEFAULT_SPSS)? {
        0 => DEFAULT_SPSS,
        n => n,
    };
    let query = match q.map(str::trim) {
        Some(text) if !text.is_empty() => Some(
            text.parse::<Query>()
                .map_err(|e| bad_request(format!("invalid TraceQL query: {e}")))?,
        ),
        _ => None,
    };
    Ok(Search {
        query,
        tags,
        min_duration: min_duration.filter(|d| *d > 0),
        max_duration: max_duration.filter(|d| *d > 0),
        limit,
        spss,
        window: window.unwrap_or(Window::ALL),
    })
}

/// `key=value` pairs of logfmt (values quoted with `"` when they hold spaces).
fn logfmt_pairs(s: &str) -> Result<Vec<(String, String)>, Failure> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let key_len = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        if key.is_empty() {
            let pos = s.len() - rest.len();
            return Err(bad_request(format!(
                "invalid tags: unexpected '=' at pos {}",
                pos + 1
            )));
        }
        rest = &rest[key_len..];
        let value = if let Some(after) = rest.strip_prefix('=') {
            if let Some(quoted) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let end = loop {
                    match chars.next() {
                        None => {
                            return Err(bad_request(format!(
                                "invalid tags: unterminated quoted value for {key}"
                            )));
                        }
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => {
                            if let Some((_, c)) = chars.next() {
                                value.push(match c {
                                    'n' => '\n',
                                    't' => '\t',
                                    other => other,
                                });
                            }
                        }
                        Some((_, c)) => value.push(c),
                    }
                };
                rest = &quoted[end + 1..];
                value
            } else {
                let len = after.find(char::is_whitespace).unwrap_or(after.len());
                rest = &after[len..];
                after[..len].to_owned()
            }
        } else {
            String::new()
        };
        out.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    Ok(out)
}

/// The trace's root span: its first span without a parent.
fn root(trace: &[Span]) -> Option<&Span> {
    trace.iter().find(|s| s.is_root())
}

/// The first start and last end of the trace's spans.
fn bounds(trace: &[Span]) -> (u64, u64) {
    let start = trace.iter().map(|s| s.start).min().unwrap_or(0);
    let end = trace.iter().map(|s| s.end.max(s.start)).max().unwrap_or(0);
    (start, end)
}

/// Whether some span of `trace` has tag `key` = `value` as Tempo's tag search reads it:
/// `name`, `http.method`, `http.url`, the root's name and service and the well-known
/// resource attributes (`service.name`, `cluster`, `namespace`, `pod`, `container`,
/// `k8s.*.name`) contain `value`; `status.code` and `http.status_code` equal it; any other
/// key is a span or resource attribute equal to it.
fn tag_matches(trace: &[Span], key: &str, value: &str) -> bool {
    let contains = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| s.contains(value));
    let any = |f: &dyn Fn(&Span) -> bool| trace.iter().any(f);
    match key {
        "name" => any(&|s| s.name.contains(value)),
        "root.name" => root(trace).is_some_and(|r| r.name.contains(value)),
        "root.service.name" => root(trace).is_some_and(|r| r.service_name().contains(value)),
        "http.method" | "http.url" => any(&|s| contains(spans::attribute(&s.attributes, key))),
        "service.name" | "cluster" | "namespace" | "pod" | "container" | "k8s.cluster.name"
        | "k8s.namespace.name" | "k8s.pod.name" | "k8s.container.name" => {
            any(&|s| contains(spans::attribute(&s.resource.attributes, key)))
        }
        "status.code" => {
            let code = match value.to_ascii_lowercase().as_str() {
                "error" | "status_code_error" | "2" => Code::Error,
                "ok" | "status_code_ok" | "1" => Code::Ok,
                _ => Code::Unset,
            };
            any(&|s| s.status.code == code)
        }
        _ => any(&|s| {
            [&s.attributes, &s.resource.attributes]
                .iter()
                .any(|attrs| spans::attribute(attrs, key).is_some_and(|v| v.to_text() == value))
        }),
    }
}

/// Attribute values as OTLP/JSON writes them (`{"key": .., "value": {"intValue": "3"}}`),
/// through the `otlp` crate's writer (carried by a span), so that search results and
/// traces write values one way.
fn attributes_json(attributes: Vec<KeyValue>) -> Json {
    let mut carrier = Span::new(TraceId([1; 16]), SpanId([1; 8]), "", 0, 0);
    carrier.attributes = attributes;
    otlp::json::write_traces(&otlp::traces::to_otlp(&[carrier]))
        .pointer("/resourceSpans/0/scopeSpans/0/spans/0/attributes")
        .cloned()
        .unwrap_or_else(|| json!([]))
}

/// One trace's entry in a search answer; `None` when the search does not match it.
fn search_entry(trace: &[Span], q: &Search) -> Option<(u64, Json)> {
    let (start, end) = bounds(trace);
    let duration = end - start;
    if q.min_duration.is_some_and(|d| duration < d) || q.max_duration.is_some_and(|d| duration > d)
    {
        return None;
    }
    if !q.tags.iter().all(|(k, v)| tag_matches(trace, k, v)) {
        return None;
    }
    let root = root(trace);
    let mut stats: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for s in trace {
        let e = stats.entry(s.service_name()).or_default();
        e.0 += 1;
        e.1 += u32::from(s.status.code == Code::Error);
    }
    let mut entry = json!({
        "traceID": trace.first().map(|s| s.trace_id.to_string()).unwrap_or_default(),
        "rootServiceName": root.map_or(NO_ROOT, Span::service_name),
        "rootTraceName": root.map_or("", |r| r.name.as_str()),
        "startTimeUnixNano": start.to_string(),
        "durationMs": u32::try_from(duration / 1_000_000).unwrap_or(u32::MAX),
        "serviceStats": stats.into_iter().map(|(svc, (spans, errors))| {
            let mut s = json!({"spanCount": spans});
            if errors > 0 {
                s["errorCount"] = errors.into();
            }
            (svc.to_owned(), s)
        }).collect::<serde_json::Map<_, _>>(),
    });
    if let Some(query) = &q.query {
        let found = query.eval(trace);
        if found.spansets.is_empty() {
            return None;
        }
        let sets: Vec<Json> = found
            .spansets
            .iter()
            .map(|ss| {
                let spans: Vec<Json> = ss
                    .spans
                    .iter()
                    .take(q.spss)
                    .filter_map(|&i| {
                        let s = trace.get(i)?;
                        let mut span = json!({
                            "spanID": s.span_id.to_string(),
                            "name": s.name,
                            "startTimeUnixNano": s.start.to_string(),
                            "durationNanos": s.duration().to_string(),
                        });
                        let values = found.span_attributes(i);
                        if !values.is_empty() {
                            span["attributes"] = attributes_json(
                                values
                                    .into_iter()
                                    .map(|(k, v)| KeyValue::new(k, v))
                                    .collect(),
                            );
                        }
                        Some(span)
                    })
                    .collect();
                let mut set = json!({"spans": spans, "matched": ss.spans.len()});
                if !ss.attributes.is_empty() {
                    set["attributes"] = attributes_json(
                        ss.attributes
                            .iter()
                            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                            .collect(),
                    );
                }
                set
            })
            .collect();
        entry["spanSet"] = sets[0].clone();
        entry["spanSets"] = Json::Array(sets);
    }
    Some((start, entry))
}

async fn search(State(state): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let q = match parse_search(&params(raw)) {
        Ok(q) => q,
        Err(f) => return f.into_response(),
    };
    let result: Result<_, Failure> = with_store(&state, move |store| {
        let hint = q.query.as_ref().map(Query::hint).unwrap_or_default();
        let mut found = Vec::new();
        let mut inspected = 0u64;
        store.scan(q.window, &hint, &mut |trace| {
            inspected += 1;
            found.extend(search_entry(trace, &q));
            if found.len() >= q.limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        // Newest first, as Tempo and Grafana order results.
        found.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1["traceID"].as_str().cmp(&b.1["traceID"].as_str()))
        });
        Ok((found, inspected))
    })
    .await;
    match result {
        Ok((found, inspected)) => json_response(&json!({
            "traces": found.into_iter().map(|(_, entry)| entry).collect::<Vec<_>>(),
            "metrics": {"inspectedTraces": inspected, "completedJobs": 1, "totalJobs": 1},
        })),
        Err(f) => f.into_response(),
    }
}

/// Which scopes a tags request asks for: `resource`, `span`, `intrinsic`, or all.
fn scopes(params: &[(String, String)], all: &[&'static str]) -> Result<Vec<&'static str>, Failure> {
    match param(params, "scope") {
        None | Some("all") => Ok(all.to_vec()),
        Some(s @ ("resource" | "span" | "intrinsic")) => Ok(vec![match s {
            "resource" => "resource",
            "span" => "span",
            _ => "intrinsic",
        }]),
        Some(other) => Err(bad_request(format!(
            "invalid scope: {other:?}; use resource, span, intrinsic or all"
        ))),
    }
}

/// The recent window that scans default to without `start` and `end`.
fn scan_window(params: &[(String, String)]) -> Result<Window, Failure> {
    Ok(window(params)?.unwrap_or_else(|| {
        let now = now_ns();
        Window {
            start: now.saturating_sub(RECENT_NS),
            end: now,
        }
    }))
}

/// The spans a `q` filter selects from one trace, or all of them without one.
fn selected(trace: &[Span], filter: Option<&Query>) -> Vec<usize> {
    match filter {
        None => (0..trace.len()).collect(),
        Some(q) => {
            let mut all: Vec<usize> = q
                .eval(trace)
                .spansets
                .into_iter()
                .flat_map(|ss| ss.spans)
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

/// A `q` filter for tag requests: Tempo ignores one it cannot parse.
fn tag_filter(params: &[(String, String)]) -> Option<Query> {
    param(params, "q").and_then(|q| q.parse().ok())
}

/// Tag names by scope: the store's, or those of the spans `q` selects.
async fn tag_names(
    state: &ApiState,
    params: &[(String, String)],
) -> Result<(BTreeSet<String>, BTreeSet<String>), Failure> {
    let filter = tag_filter(params);
    let window = match &filter {
        Some(_) => scan_window(params)?,
        None => window(params)?.unwrap_or(Window::ALL),
    };
    with_store(state, move |store| {
        let Some(q) = filter else {
            let names = store.tag_names(window)?;
            return Ok((names.resource, names.span));
        };
        let (mut resource, mut span) = (BTreeSet::new(), BTreeSet::new());
        store.scan(window, &q.hint(), &mut |trace| {
            for i in selected(trace, Some(&q)) {
                resource.extend(trace[i].resource.attributes.iter().map(|a| a.key.clone()));
                span.extend(trace[i].attributes.iter().map(|a| a.key.clone()));
            }
            ControlFlow::Continue(())
        })?;
        Ok((resource, span))
    })
    .await
}

async fn tags_v1(State(state): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let params = params(raw);
    let result = async {
        let scopes = scopes(&params, &["resource", "span"])?;
        let (resource, span) = tag_names(&state, &params).await?;
        let mut names = BTreeSet::new();
        for scope in scopes {
            match scope {
                "resource" => names.extend(resource.iter().cloned()),
                "span" => names.extend(span.iter().cloned()),
                _ => names.extend(INTRINSICS.iter().map(|s| s.to_string())),
            }
        }
        Ok::<_, Failure>(names)
    }
    .await;
    match result {
        Ok(names) => json_response(&json!({"tagNames": names, "metrics": {}})),
        Err(f) => f.into_response(),
    }
}

async fn tags_v2(State(state): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let params = params(raw);
    let result = async {
        let scopes = scopes(&params, &["resource", "span", "intrinsic"])?;
        let (resource, span) = tag_names(&state, &params).await?;
        let out: Vec<Json> = scopes
            .into_iter()
            .map(|scope| {
                let tags: Vec<String> = match scope {
                    "resource" => resource.iter().cloned().collect(),
                    "span" => span.iter().cloned().collect(),
                    _ => INTRINSICS.iter().map(|s| s.to_string()).collect(),
                };
                json!({"name": scope, "tags": tags})
            })
            .collect();
        Ok::<_, Failure>(out)
    }
    .await;
    match result {
        Ok(scopes) => json_response(&json!({"scopes": scopes, "metrics": {}})),
        Err(f) => f.into_response(),
    }
}

/// How many values tag value requests return without `limit`.
fn value_limit(params: &[(String, String)]) -> Result<usize, Failure> {
    param(params, "limit")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| bad_request(format!("invalid limit: {v:?} is not a count")))
        })
        .transpose()
        .map(|n| n.filter(|n| *n > 0).unwrap_or(usize::MAX))
}

async fn tag_values_v1(
    State(state): State<Arc<ApiState>>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = params(raw);
    let setup = window(&params).and_then(|w| Ok((w.unwrap_or(Window::ALL), value_limit(&params)?)));
    let (window, limit) = match setup {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    let result: Result<_, Failure> = with_store(&state, move |store| {
        let mut values = store.tag_values(window, AttributeScope::Resource, &tag, limit)?;
        values.extend(store.tag_values(window, AttributeScope::Span, &tag, limit)?);
        Ok(values.into_iter().take(limit).collect::<Vec<_>>())
    })
    .await;
    match result {
        Ok(values) => json_response(&json!({"tagValues": values, "metrics": {}})),
        Err(f) => f.into_response(),
    }
}

/// A typed tag value, as `/api/v2/search/tag/{tag}/values` lists it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Typed {
    kind: &'static str,
    value: String,
}

/// Typed values of attribute value `v` (an array gives its elements).
fn typed(v: &Value, out: &mut BTreeSet<Typed>) {
    let kind = match v {
        Value::String(_) => "string",
        Value::Int(_) => "int",
        Value::Double(_) => "float",
        Value::Bool(_) => "bool",
        Value::Array(items) => {
            items.iter().for_each(|i| typed(i, out));
            return;
        }
        _ => return,
    };
    out.insert(Typed {
        kind,
        value: v.to_text(),
    });
}

/// What a v2 tag names: an attribute (its scope, `None` for both) or an intrinsic.
enum TagTarget {
    Attribute(Option<AttributeScope>, String),
    Intrinsic(fn(&[Span], &Span) -> Option<String>),
    Keywords(&'static [&'static str]),
    Nothing,
}

fn tag_target(tag: &str) -> TagTarget {
    if let Some(name) = tag.strip_prefix("resource.") {
        return TagTarget::Attribute(Some(AttributeScope::Resource), name.to_owned());
    }
    if let Some(name) = tag.strip_prefix("span.") {
        return TagTarget::Attribute(Some(AttributeScope::Span), name.to_owned());
    }
    if let Some(name) = tag.strip_prefix('.') {
        return TagTarget::Attribute(None, name.to_owned());
    }
    match tag {
        "name" | "span:name" => TagTarget::Intrinsic(|_, s| Some(s.name.clone())),
        "statusMessage" | "span:statusMessage" => {
            TagTarget::Intrinsic(|_, s| Some(s.status.message.clone()).filter(|m| !m.is_empty()))
        }
        "rootName" | "trace:rootName" => {
            TagTarget::Intrinsic(|t, _| root(t).map(|r| r.name.clone()))
        }
        "rootServiceName" | "trace:rootService" => {
            TagTarget::Intrinsic(|t, _| root(t).map(|r| r.service_name().to_owned()))
        }
        "instrumentation:name" => {
            TagTarget::Intrinsic(|_, s| Some(s.scope.name.clone()).filter(|n| !n.is_empty()))
        }
        "instrumentation:version" => {
            TagTarget::Intrinsic(|_, s| Some(s.scope.version.clone()).filter(|n| !n.is_empty()))
        }
        "status" | "span:status" => TagTarget::Keywords(&["error", "ok", "unset"]),
        "kind" | "span:kind" => TagTarget::Keywords(&[
            "client",
            "consumer",
            "internal",
            "producer",
            "server",
            "unspecified",
        ]),
        _ => TagTarget::Nothing,
    }
}

async fn tag_values_v2(
    State(state): State<Arc<ApiState>>,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = params(raw);
    let setup = scan_window(&params).and_then(|w| Ok((w, value_limit(&params)?)));
    let (window, limit) = match setup {
        Ok(x) => x,
        Err(f) => return f.into_response(),
    };
    let filter = tag_filter(&params);
    let target = tag_target(&tag);
    let result: Result<_, Failure> = match target {
        TagTarget::Nothing => Ok(BTreeSet::new()),
        TagTarget::Keywords(words) => Ok(words
            .iter()
            .map(|w| Typed {
                kind: "keyword",
                value: (*w).to_owned(),
            })
            .collect()),
        target => {
            with_store(&state, move |store| {
                let mut out = BTreeSet::new();
                let hint = filter.as_ref().map(Query::hint).unwrap_or_default();
                store.scan(window, &hint, &mut |trace| {
                    for i in selected(trace, filter.as_ref()) {
                        let s = &trace[i];
                        match &target {
                            TagTarget::Attribute(scope, key) => {
                                let found = match scope {
                                    Some(AttributeScope::Span) => {
                                        spans::attribute(&s.attributes, key)
                                    }
                                    Some(AttributeScope::Resource) => {
                                        spans::attribute(&s.resource.attributes, key)
                                    }
                                    None => spans::attribute(&s.attributes, key)
                                        .or_else(|| spans::attribute(&s.resource.attributes, key)),
                                };
                                if let Some(v) = found {
                                    typed(v, &mut out);
                                }
                            }
                            TagTarget::Intrinsic(read) => {
                                if let Some(v) = read(trace, s) {
                                    out.insert(Typed {
                                        kind: "string",
                                        value: v,
                                    });
                                }
                            }
                            TagTarget::Keywords(_) | TagTarget::Nothing => {}
                        }
                    }
                    if out.len() >= limit {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })?;
                Ok(out)
            })
            .await
        }
    };
    match result {
        Ok(values) => {
            let list: Vec<Json> = values
                .into_iter()
                .take(limit)
                .map(|t| json!({"type": t.kind, "value": t.value}))
                .collect();
            json_response(&json!({"tagValues": list, "metrics": {}}))
        }
        Err(f) => f.into_response(),
    }
}

async fn buildinfo(State(state): State<Arc<ApiState>>) -> Response {
    // Grafana compares the version with Tempo's to decide on streaming (gRPC, which is not
    // served): a Skywatch version (0.x) keeps it off, and an empty one would not parse.
    let version = if state.build.version.is_empty() {
        "0.0.0"
    } else {
        state.build.version.as_str()
    };
    json_response(&json!({
        "version": version,
        "revision": state.build.revision,
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

#[cfg(test)]
mod tests;
