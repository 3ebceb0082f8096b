//! Jaeger's query API under `/jaeger`, so that Grafana's Jaeger data source (URL
//! `http://host:9797/jaeger`) and Jaeger's own UI read Skywatch's spans unchanged.
//!
//! Served: `/api/services`, `/api/services/{service}/operations`,
//! `/api/operations?service=&spanKind=`, `/api/traces` (search: `service`, `operation`,
//! `tags` as a JSON object and `tag=key:value`, `minDuration`/`maxDuration` as Go durations,
//! `limit` (100 by default), `start`/`end` in Unix microseconds (the last two days by
//! default, or `lookback` before `end`), `traceID` repeated), `/api/traces/{id}` and
//! `/api/dependencies?endTs=&lookback=` (milliseconds; parent and child spans of different
//! services, counted).
//!
//! Answers have Jaeger's envelope (`data`, `total`, `limit`, `offset`, `errors`) and its UI
//! model, made from OTLP spans as Jaeger's own OTLP translation makes them: the resource
//! becomes the process (`service.name` its service, the other attributes its tags;
//! processes keyed `p1`, `p2`, ... in order of first use), the parent a `CHILD_OF`
//! reference and links `FOLLOWS_FROM` ones, events logs (their name as the `event` field),
//! and the scope, kind, status and trace state tags (`otel.scope.name`, `span.kind`,
//! `otel.status_code`, `error`, `otel.status_description`, `w3c.tracestate`). Times are
//! microseconds. Trace IDs print as Jaeger prints them (16 hex digits when the high half is
//! zero) and are read as 32-hex, shorter hex or base64. Errors are Jaeger's: the envelope
//! with `errors: [{code, msg}]` as `text/plain`, 400 for bad parameters, 404 for a trace
//! not found. Jaeger's adjusters (clock skew, tag sorting) are not applied: spans read
//! back as they were sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value as Json;
use spans::{Hint, Span, SpanError, SpanId, SpanKind, TraceId, Value, Window};

use crate::ApiState;
use crate::span_access::{Unavailable, now_ns, param, params, with_store};

/// The service name Jaeger gives a resource without attributes.
const NO_SERVICE: &str = "OTLPResourceNoServiceName";
/// How far back a search looks without `start` (Jaeger's default: two days).
const DEFAULT_LOOKBACK_NS: u64 = 2 * 24 * 3600 * 1_000_000_000;
/// How far back dependencies look without `lookback` (one day).
const DEFAULT_DEPENDENCY_LOOKBACK_MS: u64 = 24 * 3600 * 1000;
/// Traces a search returns without `limit`.
const DEFAULT_LIMIT: usize = 100;
/// Integers beyond JavaScript's safe range are written as strings, as Jaeger writes them.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Jaeger's query routes, under `/jaeger`.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(search))
        .route("/api/traces/{id}", get(trace))
        .route("/api/dependencies", get(dependencies))
        .with_state(Arc::new(state));
    Router::new().nest("/jaeger", api)
}

/// Jaeger's response envelope.
#[derive(Serialize)]
struct Envelope<T> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<ApiError>>,
}

/// One error in the envelope.
#[derive(Serialize)]
struct ApiError {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
}

/// A failed request, answered as Jaeger answers: the envelope with one error, as
/// `text/plain` (Go's `http.Error`).
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = Envelope::<Option<()>> {
            data: None,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![ApiError {
                code: Some(self.0.as_u16()),
                msg: self.1,
                trace_id: None,
            }]),
        };
        let text = serde_json::to_string(&body).unwrap_or_default() + "\n";
        (
            self.0,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            text,
        )
            .into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, msg.into())
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

fn ok<T: Serialize>(data: T, total: usize, errors: Option<Vec<ApiError>>) -> Response {
    let body = Envelope {
        data,
        total,
        limit: 0,
        offset: 0,
        errors,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn parse_int(params: &[(String, String)], name: &str) -> Result<Option<i64>, Failure> {
    param(params, name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                bad_request(format!(
                    "unable to parse param '{name}': {v:?} is not an integer"
                ))
            })
        })
        .transpose()
}

fn parse_duration(params: &[(String, String)], name: &str) -> Result<Option<u64>, Failure> {
    param(params, name)
        .map(|v| {
            traceql::duration::parse_go_duration(v)
                .map(|ns| ns.max(0).unsigned_abs())
                .map_err(|e| bad_request(format!("unable to parse param '{name}': {e}")))
        })
        .transpose()
}

/// Microseconds (Jaeger's unit) to nanoseconds.
fn us_to_ns(us: i64) -> u64 {
    us.max(0).unsigned_abs().saturating_mul(1_000)
}

async fn services(State(state): State<Arc<ApiState>>) -> Response {
    let result: Result<_, Failure> = with_store(&state, |store| {
        Ok(store.tag_values(
            Window::ALL,
            spans::AttributeScope::Resource,
            spans::SERVICE_NAME,
            usize::MAX,
        )?)
    })
    .await;
    match result {
        Ok(names) => ok(names.iter().collect::<Vec<_>>(), names.len(), None),
        Err(f) => f.into_response(),
    }
}

async fn service_operations(
    State(state): State<Arc<ApiState>>,
    Path(service): Path<String>,
) -> Response {
    let result: Result<_, Failure> = with_store(&state, move |store| {
        Ok(store.operations(Window::ALL, &service)?)
    })
    .await;
    match result {
        Ok(ops) => {
            let names: BTreeSet<&str> = ops.iter().map(|(name, _)| name.as_str()).collect();
            ok(&names, names.len(), None)
        }
        Err(f) => f.into_response(),
    }
}

/// An operation with its kind, as `/api/operations` lists it.
#[derive(Serialize)]
struct Operation {
    name: String,
    #[serde(rename = "spanKind")]
    span_kind: &'static str,
}

/// A span kind as Jaeger writes it: empty for unspecified.
fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        other => other.as_str(),
    }
}

async fn operations(State(state): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let params = params(raw);
    let Some(service) = param(&params, "service").map(str::to_owned) else {
        return bad_request("parameter 'service' is required").into_response();
    };
    let kind = param(&params, "spanKind").map(str::to_owned);
    let result: Result<_, Failure> = with_store(&state, move |store| {
        Ok(store.operations(Window::ALL, &service)?)
    })
    .await;
    match result {
        Ok(ops) => {
            let data: Vec<Operation> = ops
                .into_iter()
                .filter(|(_, k)| kind.as_deref().is_none_or(|want| kind_name(*k) == want))
                .map(|(name, k)| Operation {
                    name,
                    span_kind: kind_name(k),
                })
                .collect();
            let total = data.len();
            ok(data, total, None)
        }
        Err(f) => f.into_response(),
    }
}

/// What a search asks for.
struct Search {
    service: String,
    operation: Option<String>,
    tags: Vec<(String, String)>,
    /// Span start times, inclusive, in nanoseconds.
    start: u64,
    end: u64,
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    limit: usize,
}

fn parse_search(params: &[(String, String)]) -> Result<Search, Failure> {
    let end = parse_int(params, "end")?.map_or_else(now_ns, us_to_ns);
    let start = match parse_int(params, "start")? {
        Some(us) => us_to_ns(us),
        None => {
            // Jaeger's UI sends `lookback` (`1h`, or `custom` with `start`); the server's
            // default is two days.
            let lookback = param(params, "lookback")
                .and_then(|l| traceql::duration::parse_go_duration(l).ok())
                .map_or(DEFAULT_LOOKBACK_NS, |ns| ns.max(0).unsigned_abs());
            end.saturating_sub(lookback)
        }
    };
    let mut tags = Vec::new();
    for (k, v) in params {
        if k == "tag" {
            let Some((key, value)) = v.split_once(':') else {
                return Err(bad_request(format!(
                    "malformed 'tag' parameter, expecting key:value, received: {v}"
                )));
            };
            tags.push((key.to_owned(), value.to_owned()));
        } else if k == "tags" && !v.is_empty() {
            let map: BTreeMap<String, String> = serde_json::from_str(v).map_err(|e| {
                bad_request(format!(
                    "malformed 'tags' parameter, cannot unmarshal JSON: {e}"
                ))
            })?;
            tags.extend(map);
        }
    }
    let limit = match parse_int(params, "limit")? {
        Some(n) => usize::try_from(n).unwrap_or(0),
        None => DEFAULT_LIMIT,
    };
    let min_duration = parse_duration(params, "minDuration")?;
    let max_duration = parse_duration(params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && min > 0
        && max > 0
        && max < min
    {
        return Err(bad_request(
            "'maxDuration' should be greater than 'minDuration'",
        ));
    }
    let service = param(params, "service").unwrap_or_default().to_owned();
    if service.is_empty() {
        return Err(bad_request("parameter 'service' is required"));
    }
    Ok(Search {
        service,
        operation: param(params, "operation").map(str::to_owned),
        tags,
        start,
        end,
        min_duration: min_duration.filter(|d| *d > 0),
        max_duration: max_duration.filter(|d| *d > 0),
        limit,
    })
}

/// Whether one span meets every condition of the search, as Jaeger's stores check it.
fn span_matches(s: &Span, q: &Search) -> bool {
    if service_of(s) != q.service
        || q.operation.as_ref().is_some_and(|op| *op != s.name)
        || s.start < q.start
        || s.start > q.end
        || q.min_duration.is_some_and(|d| s.duration() < d)
        || q.max_duration.is_some_and(|d| s.duration() > d)
    {
        return false;
    }
    q.tags.iter().all(|(key, value)| {
        let text = |kv: &KeyValueRef<'_>| kv.key == key && kv.text() == *value;
        span_tags(s).iter().any(text)
            || s.resource
                .attributes
                .iter()
                .any(|a| a.key == *key && a.value.to_text() == *value)
            || s.events.iter().any(|e| log_fields(e).iter().any(text))
    })
}

async fn search(State(state): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let params = params(raw);
    let ids: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "traceID")
        .map(|(_, v)| v.as_str())
        .collect();
    if !ids.is_empty() {
        return traces_by_id(&state, &params, &ids).await;
    }
    let q = match parse_search(&params) {
        Ok(q) => q,
        Err(f) => return f.into_response(),
    };
    let result: Result<_, Failure> = with_store(&state, move |store| {
        let hint = Hint {
            service: Some(q.service.clone()),
            span_name: q.operation.clone(),
            min_span_duration: q.min_duration,
            ..Hint::default()
        };
        let mut found = Vec::new();
        if q.limit > 0 {
            store.scan(
                Window {
                    start: q.start,
                    end: q.end,
                },
                &hint,
                &mut |trace| {
                    if trace.iter().any(|s| span_matches(s, &q)) {
                        found.push(to_jaeger(trace));
                    }
                    if found.len() >= q.limit {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            )?;
        }
        Ok(found)
    })
    .await;
    match result {
        Ok(traces) => ok(traces, 0, None),
        Err(f) => f.into_response(),
    }
}

/// `/api/traces?traceID=...`: each trace, and an error for each one not found.
async fn traces_by_id(state: &ApiState, params: &[(String, String)], ids: &[&str]) -> Response {
    let mut parsed = Vec::new();
    for id in ids {
        match id.parse::<TraceId>() {
            Ok(t) => parsed.push(t),
            Err(e) => {
                return bad_request(format!("cannot parse traceID param: {e}")).into_response();
            }
        }
    }
    let window = match window(params) {
        Ok(w) => w,
        Err(f) => return f.into_response(),
    };
    let result: Result<_, Failure> = with_store(state, move |store| {
        let mut traces = Vec::new();
        let mut errors = Vec::new();
        for id in parsed {
            let spans = store.trace(&id, window)?;
            if spans.is_empty() {
                errors.push(ApiError {
                    code: None,
                    msg: "trace not found".into(),
                    trace_id: Some(jaeger_trace_id(&id)),
                });
            } else {
                traces.push(to_jaeger(&spans));
            }
        }
        Ok((traces, errors))
    })
    .await;
    match result {
        Ok((traces, errors)) => ok(traces, 0, (!errors.is_empty()).then_some(errors)),
        Err(f) => f.into_response(),
    }
}

/// The optional `start` and `end` (microseconds) of a trace lookup.
fn window(params: &[(String, String)]) -> Result<Window, Failure> {
    Ok(Window {
        start: parse_int(params, "start")?.map_or(0, us_to_ns),
        end: parse_int(params, "end")?.map_or(u64::MAX, us_to_ns),
    })
}

async fn trace(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let id = match id.parse::<TraceId>() {
        Ok(id) => id,
        Err(e) => return bad_request(e.to_string()).into_response(),
    };
    let window = match window(&params(raw)) {
        Ok(w) => w,
        Err(f) => return f.into_response(),
    };
    let result: Result<_, Failure> =
        with_store(&state, move |store| Ok(store.trace(&id, window)?)).await;
    match result {
        Ok(spans) if spans.is_empty() => {
            Failure(StatusCode::NOT_FOUND, "trace not found".into()).into_response()
        }
        Ok(spans) => ok(vec![to_jaeger(&spans)], 0, None),
        Err(f) => f.into_response(),
    }
}

/// A dependency link: spans of `child` whose parent is a span of `parent`.
#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Dependency {
    parent: String,
    child: String,
    #[serde(rename = "callCount")]
    call_count: u64,
}

async fn dependencies(State(state): State<Arc<ApiState>>, RawQuery(raw): RawQuery) -> Response {
    let params = params(raw);
    let (end_ms, lookback_ms) = match (parse_int(&params, "endTs"), parse_int(&params, "lookback"))
    {
        (Ok(end), Ok(lookback)) => (
            end.map_or_else(|| now_ns() / 1_000_000, |e| e.max(0).unsigned_abs()),
            lookback.map_or(DEFAULT_DEPENDENCY_LOOKBACK_MS, |l| l.max(0).unsigned_abs()),
        ),
        (Err(f), _) | (_, Err(f)) => return f.into_response(),
    };
    let service = param(&params, "service").map(str::to_owned);
    let window = Window {
        start: end_ms.saturating_sub(lookback_ms).saturating_mul(1_000_000),
        end: end_ms.saturating_mul(1_000_000),
    };
    let result: Result<_, Failure> = with_store(&state, move |store| {
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        store.scan(window, &Hint::default(), &mut |trace| {
            let by_id: HashMap<SpanId, &Span> = trace.iter().map(|s| (s.span_id, s)).collect();
            for s in trace {
                let Some(parent) = s.parent_span_id.and_then(|p| by_id.get(&p)) else {
                    continue;
                };
                let (from, to) = (service_of(parent), service_of(s));
                if from != to {
                    *counts.entry((from.to_owned(), to.to_owned())).or_default() += 1;
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(counts)
    })
    .await;
    match result {
        Ok(counts) => {
            let data: Vec<Dependency> = counts
                .into_iter()
                .filter(|((p, c), _)| service.as_ref().is_none_or(|s| s == p || s == c))
                .map(|((parent, child), call_count)| Dependency {
                    parent,
                    child,
                    call_count,
                })
                .collect();
            ok(data, 0, None)
        }
        Err(f) => f.into_response(),
    }
}

/// A trace in Jaeger's UI model.
#[derive(Serialize)]
struct JaegerTrace {
    #[serde(rename = "traceID")]
    trace_id: String,
    spans: Vec<JaegerSpan>,
    processes: BTreeMap<String, Process>,
    warnings: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    operation_name: String,
    references: Vec<Reference>,
    start_time: u64,
    duration: u64,
    tags: Vec<Tag>,
    logs: Vec<Log>,
    #[serde(rename = "processID")]
    process_id: String,
    warnings: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Reference {
    #[serde(rename = "refType")]
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Serialize, PartialEq)]
struct Process {
    #[serde(rename = "serviceName")]
    service_name: String,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
struct Log {
    timestamp: u64,
    fields: Vec<Tag>,
}

#[derive(Serialize, PartialEq)]
struct Tag {
    key: String,
    #[serde(rename = "type")]
    kind: &'static str,
    value: Json,
}

/// A tag before it is written: its key and the value it holds.
struct KeyValueRef<'a> {
    key: &'a str,
    value: TagValue<'a>,
}

enum TagValue<'a> {
    Attr(&'a Value),
    Str(&'a str),
    Bool(bool),
}

impl KeyValueRef<'_> {
    /// The value as Jaeger's search compares it (`AsString`).
    fn text(&self) -> String {
        match &self.value {
            TagValue::Attr(v) => v.to_text(),
            TagValue::Str(s) => (*s).to_owned(),
            TagValue::Bool(b) => b.to_string(),
        }
    }

    fn to_tag(&self) -> Tag {
        let (kind, value) = match &self.value {
            TagValue::Str(s) => ("string", Json::from(*s)),
            TagValue::Bool(b) => ("bool", Json::from(*b)),
            TagValue::Attr(v) => match v {
                Value::String(s) => ("string", Json::from(s.as_str())),
                Value::Bool(b) => ("bool", Json::from(*b)),
                Value::Int(i) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
                    ("int64", Json::from(*i))
                }
                Value::Int(i) => ("int64", Json::from(i.to_string())),
                Value::Double(d) => ("float64", Json::from(*d)),
                Value::Bytes(_) => ("binary", Json::from(v.to_text())),
                Value::Empty => ("string", Json::from("")),
                Value::Array(_) | Value::Map(_) => ("string", Json::from(v.to_text())),
            },
        };
        Tag {
            key: self.key.to_owned(),
            kind,
            value,
        }
    }
}

/// A span's tags as Jaeger's OTLP translation makes them: the scope's name and version,
/// the attributes, then the kind, status and trace state.
fn span_tags(s: &Span) -> Vec<KeyValueRef<'_>> {
    let mut tags = Vec::with_capacity(s.attributes.len() + 6);
    let str_tag = |key, v| KeyValueRef {
        key,
        value: TagValue::Str(v),
    };
    if !s.scope.name.is_empty() {
        tags.push(str_tag("otel.scope.name", &s.scope.name));
    }
    if !s.scope.version.is_empty() {
        tags.push(str_tag("otel.scope.version", &s.scope.version));
    }
    tags.extend(s.attributes.iter().map(|a| KeyValueRef {
        key: &a.key,
        value: TagValue::Attr(&a.value),
    }));
    if s.kind != SpanKind::Unspecified {
        tags.push(str_tag("span.kind", s.kind.as_str()));
    }
    match s.status.code {
        spans::StatusCode::Ok => tags.push(str_tag("otel.status_code", "OK")),
        spans::StatusCode::Error => {
            tags.push(str_tag("otel.status_code", "ERROR"));
            tags.push(KeyValueRef {
                key: "error",
                value: TagValue::Bool(true),
            });
        }
        spans::StatusCode::Unset => {}
    }
    if !s.status.message.is_empty() {
        tags.push(str_tag("otel.status_description", &s.status.message));
    }
    if !s.trace_state.is_empty() {
        tags.push(str_tag("w3c.tracestate", &s.trace_state));
    }
    tags
}

/// An event's fields: its name as `event` (unless an attribute has that key), then its
/// attributes.
fn log_fields(e: &spans::Event) -> Vec<KeyValueRef<'_>> {
    let mut fields = Vec::with_capacity(e.attributes.len() + 1);
    if !e.name.is_empty() && !e.attributes.iter().any(|a| a.key == "event") {
        fields.push(KeyValueRef {
            key: "event",
            value: TagValue::Str(&e.name),
        });
    }
    fields.extend(e.attributes.iter().map(|a| KeyValueRef {
        key: &a.key,
        value: TagValue::Attr(&a.value),
    }));
    fields
}

/// The service Jaeger names a span's process by.
fn service_of(s: &Span) -> &str {
    if s.resource.attributes.is_empty() {
        NO_SERVICE
    } else {
        s.service_name()
    }
}

/// A trace ID as Jaeger prints it: 16 hex digits when its high half is zero, else 32.
fn jaeger_trace_id(id: &TraceId) -> String {
    let full = id.to_string();
    if id.0[..8] == [0; 8] {
        full[16..].to_owned()
    } else {
        full
    }
}

fn process(s: &Span) -> Process {
    Process {
        service_name: service_of(s).to_owned(),
        tags: s
            .resource
            .attributes
            .iter()
            .filter(|a| a.key != spans::SERVICE_NAME)
            .map(|a| {
                KeyValueRef {
                    key: &a.key,
                    value: TagValue::Attr(&a.value),
                }
                .to_tag()
            })
            .collect(),
    }
}

/// A span's references: its parent (`CHILD_OF`) first, then its links (`FOLLOWS_FROM`,
/// or `CHILD_OF` when the link's `opentracing.ref_type` says `child_of`); a link to the
/// parent sets the parent reference's type instead.
fn references(s: &Span, trace_id: &str) -> Vec<Reference> {
    let mut refs = Vec::with_capacity(s.links.len() + 1);
    if let Some(parent) = s.parent_span_id {
        refs.push(Reference {
            ref_type: "CHILD_OF",
            trace_id: trace_id.to_owned(),
            span_id: parent.to_string(),
        });
    }
    for link in &s.links {
        let child_of = spans::attribute(&link.attributes, "opentracing.ref_type")
            .and_then(Value::as_str)
            == Some("child_of");
        let ref_type = if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" };
        if link.trace_id == s.trace_id && Some(link.span_id) == s.parent_span_id {
            if let Some(first) = refs.first_mut() {
                first.ref_type = ref_type;
            }
            continue;
        }
        refs.push(Reference {
            ref_type,
            trace_id: jaeger_trace_id(&link.trace_id),
            span_id: link.span_id.to_string(),
        });
    }
    refs
}

/// One trace in Jaeger's UI model.
fn to_jaeger(trace: &[Span]) -> JaegerTrace {
    let trace_id = trace
        .first()
        .map(|s| jaeger_trace_id(&s.trace_id))
        .unwrap_or_default();
    let mut keys: Vec<(Process, String)> = Vec::new();
    let spans = trace
        .iter()
        .map(|s| {
            let p = process(s);
            let process_id = match keys.iter().find(|(known, _)| *known == p) {
                Some((_, key)) => key.clone(),
                None => {
                    let key = format!("p{}", keys.len() + 1);
                    keys.push((p, key.clone()));
                    key
                }
            };
            JaegerSpan {
                trace_id: trace_id.clone(),
                span_id: s.span_id.to_string(),
                operation_name: s.name.clone(),
                references: references(s, &trace_id),
                start_time: s.start / 1_000,
                duration: s.duration() / 1_000,
                tags: span_tags(s).iter().map(KeyValueRef::to_tag).collect(),
                logs: s
                    .events
                    .iter()
                    .map(|e| Log {
                        timestamp: e.time / 1_000,
                        fields: log_fields(e).iter().map(KeyValueRef::to_tag).collect(),
                    })
                    .collect(),
                process_id,
                warnings: None,
            }
        })
        .collect();
    JaegerTrace {
        trace_id,
        spans,
        processes: keys.into_iter().map(|(p, k)| (k, p)).collect(),
        warnings: None,
    }
}

#[cfg(test)]
mod tests;
