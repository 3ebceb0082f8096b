//! Loki's HTTP API over the log store, so that Loki's clients (Promtail, Alloy,
//! python-logging-loki) push to Skywatch and Grafana's Loki data source and `logcli` read
//! from it unchanged.
//!
//! Served:
//! - `POST /loki/api/v1/push` (and the deprecated `/api/prom/push`): snappy-compressed
//!   protobuf or JSON, optionally gzip-compressed, with structured metadata; 204 when
//!   everything was kept ([`push`] has the limits and the errors).
//! - `GET /loki/api/v1/labels` and `/label/{name}/values` (optional `query` selector;
//!   `start`, `end`, `since`, the last 6 hours by default), `GET`/`POST /series`
//!   (`match[]`, the last hour by default), `/index/stats`, `/index/volume` and
//!   `/index/volume_range` (`query`, `limit` 100, `targetLabels`, `aggregateBy`, `step`),
//!   in Loki's shapes.
//! - LogQL (`query.rs`): `/loki/api/v1/query` and `/query_range` (GET and form POST), `/tail`
//!   over WebSocket, `/detected_fields` and `/patterns`.
//! - `GET /ready` and `/loki/api/v1/status/buildinfo`.
//!
//! Times are read as Loki reads them: integers are Unix nanoseconds (or seconds, when ten
//! digits or fewer), numbers with a fraction are seconds, otherwise RFC 3339. Errors are
//! Loki's: plain text with status 400 naming the parameter. `X-Scope-OrgID` names the
//! tenant whose ingestion rate a push counts against (`fake` without it); the store holds
//! one tenant's data, so reads ignore it.
//!

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use logs::LogStore;
use model::{Labels, Matcher};
use serde_json::{Map, Value, json};

use crate::ApiState;

pub mod proto;
pub mod push;
mod query;
pub mod selector;
#[cfg(test)]
mod tests;

pub use push::{DEFAULT_TENANT, Distributor, Figures, Limits, PushError, Pushed};

const HOUR_NS: i64 = 3_600 * 1_000_000_000;
/// How many series `/index/volume` answers without `limit`.
const DEFAULT_VOLUME_LIMIT: usize = 100;

#[derive(Clone)]
struct Loki {
    distributor: Arc<Distributor>,
    build: crate::BuildInfo,
}

/// Loki's routes; none when the server keeps no logs.
pub fn router(state: ApiState) -> Router {
    let Some(distributor) = state.logs.clone() else {
        return Router::new();
    };
    let loki = Loki {
        distributor,
        build: state.build.clone(),
    };
    Router::new()
        .route("/loki/api/v1/push", post(push_route))
        .route("/api/prom/push", post(push_route))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(label_values).post(label_values),
        )
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/index/stats", get(stats).post(stats))
        .route("/loki/api/v1/index/volume", get(volume).post(volume))
        .route(
            "/loki/api/v1/index/volume_range",
            get(volume_range).post(volume_range),
        )
        .route("/loki/api/v1/query", get(query::query).post(query::query))
        .route(
            "/loki/api/v1/query_range",
            get(query::query_range).post(query::query_range),
        )
        .route("/loki/api/v1/tail", get(query::tail))
        .route(
            "/loki/api/v1/detected_fields",
            get(query::detected_fields).post(query::detected_fields),
        )
        .route(
            "/loki/api/v1/patterns",
            get(query::patterns).post(query::patterns),
        )
        .route("/ready", get(|| async { text(StatusCode::OK, "ready") }))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        // The distributor's own limit applies, with Loki's answer, not axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .with_state(loki)
}

/// A plain-text answer, as Loki writes its errors.
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// A failed request: its status and message.
struct Failure(StatusCode, String);

impl Failure {
    fn bad(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, message.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        text(self.0, &self.1)
    }
}

impl From<logs::LogError> for Failure {
    fn from(e: logs::LogError) -> Self {
        let status = match e {
            logs::LogError::Invalid { .. } => StatusCode::BAD_REQUEST,
            logs::LogError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self(status, format!("reading the log store failed: {e}"))
    }
}

async fn push_route(State(loki): State<Loki>, headers: HeaderMap, body: Body) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let tenant = header("x-scope-orgid")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_TENANT.to_owned());
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    let limit = loki.distributor.limits().max_request_body_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let status = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return text(
                status,
                &format!(
                    "the request body could not be read within {limit} bytes (max_recv_msg_size): {e}"
                ),
            );
        }
    };
    // Decoding and the store's push (a write-ahead log's sync) are blocking work.
    let d = loki.distributor.clone();
    let done = tokio::task::spawn_blocking(move || {
        let streams = d.decode(&bytes, content_type.as_deref(), content_encoding.as_deref())?;
        d.push(&tenant, streams, push::now_ns())
    })
    .await;
    match done {
        Ok(Ok(pushed)) if pushed.refused.is_empty() => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(pushed)) => text(StatusCode::BAD_REQUEST, &pushed.refused.join("\n")),
        Ok(Err(e)) => text(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            &e.message,
        ),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the push failed: {e}"),
        ),
    }
}

/// A request's parameters: the query string's, then a form body's.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(raw: Option<String>, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut all: Vec<(String, String)> =
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if form {
            all.extend(form_urlencoded::parse(body).into_owned());
        }
        Self(all)
    }

    /// The first non-empty value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A time parameter, as Loki reads it.
    fn time(&self, name: &str) -> Result<Option<i64>, Failure> {
        self.get(name)
            .map(|v| {
                parse_time(v).ok_or_else(|| {
                    Failure::bad(format!(
                        "invalid {name} {v:?}: give Unix nanoseconds, seconds with a fraction, or RFC 3339"
                    ))
                })
            })
            .transpose()
    }

    /// `[start, end]` from `start`, `end` and `since`, `default` long without them.
    fn bounds(&self, default: i64) -> Result<(i64, i64), Failure> {
        let now = now_ns();
        let end = self.time("end")?.unwrap_or(now);
        let since = match self.get("since") {
            Some(s) => model::parse_duration(s)
                .map(|ms| ms.saturating_mul(1_000_000))
                .ok_or_else(|| {
                    Failure::bad(format!(
                        "invalid since {s:?}: give a duration such as 1h or 30m"
                    ))
                })?,
            None => default,
        };
        let start = match self.time("start")? {
            Some(s) => s,
            None => end.min(now).saturating_sub(since),
        };
        if end < start {
            return Err(Failure::bad(
                "end timestamp must not be before or equal to start time",
            ));
        }
        Ok((start, end))
    }

    /// The optional `query` selector.
    fn selector(&self, name: &str) -> Result<Vec<Matcher>, Failure> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(q) => selector::parse_selector(q)
                .map_err(|e| Failure::bad(format!("invalid {name} {q:?}: {e}"))),
        }
    }
}

/// Parses a time as Loki's API does.
pub fn parse_time(value: &str) -> Option<i64> {
    if value.contains('.')
        && let Ok(secs) = value.parse::<f64>()
    {
        return secs.is_finite().then(|| (secs * 1e9).round() as i64);
    }
    if let Ok(n) = value.parse::<i64>() {
        // Ten digits or fewer are seconds, as Loki reads them.
        return Some(if value.len() <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    humantime::parse_rfc3339_weak(value)
        .ok()
        .map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        })
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Runs `f` on the store on a blocking thread (stores are synchronous and may read files).
async fn with_store<T: Send + 'static>(
    loki: &Loki,
    f: impl FnOnce(&dyn LogStore) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let store = loki.distributor.store().clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading logs failed: {e}"),
            )
        })?
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

fn respond(result: Result<Response, Failure>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The end of a window the store reads as `[start, end)`: Loki's `end` is inclusive.
fn exclusive(end: i64) -> i64 {
    end.saturating_add(1)
}

async fn labels(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let (start, end) = p.bounds(6 * HOUR_NS)?;
            let matchers = p.selector("query")?;
            let names = with_store(&loki, move |s| {
                Ok(s.label_names(&matchers, start, exclusive(end))?)
            })
            .await?;
            Ok(success(json!(names)))
        }
        .await,
    )
}

async fn label_values(
    State(loki): State<Loki>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let (start, end) = p.bounds(6 * HOUR_NS)?;
            let matchers = p.selector("query")?;
            let values = with_store(&loki, move |s| {
                Ok(s.label_values(&name, &matchers, start, exclusive(end))?)
            })
            .await?;
            Ok(success(json!(values)))
        }
        .await,
    )
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|l| (l.name.to_owned(), Value::String(l.value.to_owned())))
            .collect::<Map<String, Value>>(),
    )
}

async fn series(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let (start, end) = p.bounds(HOUR_NS)?;
            let sets = p
                .all("match[]")
                .chain(p.all("match"))
                .filter(|m| !m.is_empty())
                .map(|m| {
                    selector::parse_selector(m)
                        .map_err(|e| Failure::bad(format!("invalid match[] {m:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let found = with_store(&loki, move |s| {
                Ok(s.series(&sets, start, exclusive(end))?)
            })
            .await?;
            Ok(success(Value::Array(
                found.iter().map(labels_json).collect(),
            )))
        }
        .await,
    )
}

/// The `query` a volume or stats request must have.
fn required_selector(p: &Params) -> Result<Vec<Matcher>, Failure> {
    if p.get("query").is_none() {
        return Err(Failure::bad(
            "missing query: give a stream selector such as {job=\"node\"}",
        ));
    }
    p.selector("query")
}

async fn stats(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let (start, end) = p.bounds(HOUR_NS)?;
            let matchers = required_selector(&p)?;
            let rows = with_store(&loki, move |s| {
                Ok(s.stats(&matchers, start, exclusive(end))?)
            })
            .await?;
            let sum = |f: fn(&logs::StreamStats) -> u64| rows.iter().map(f).sum::<u64>();
            Ok(axum::Json(json!({
                "streams": rows.len(),
                "chunks": sum(|r| r.chunks),
                "entries": sum(|r| r.entries),
                "bytes": sum(|r| r.bytes),
            }))
            .into_response())
        }
        .await,
    )
}

/// How a volume request groups streams.
struct Grouping {
    /// The label names kept: `targetLabels`, or the selector's names.
    names: BTreeSet<String>,
    /// `aggregateBy=labels`: one series per label name, its value empty.
    by_label: bool,
    limit: usize,
}

impl Grouping {
    fn new(p: &Params, matchers: &[Matcher]) -> Result<Self, Failure> {
        let names: BTreeSet<String> = match p.get("targetLabels") {
            Some(t) => t
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            None => matchers.iter().map(|m| m.name.clone()).collect(),
        };
        let by_label = match p.get("aggregateBy") {
            None | Some("series") => false,
            Some("labels") => true,
            Some(other) => {
                return Err(Failure::bad(format!(
                    "invalid aggregateBy {other:?}: give series or labels"
                )));
            }
        };
        let limit = match p.get("limit") {
            None => DEFAULT_VOLUME_LIMIT,
            Some(l) => l.parse::<usize>().ok().filter(|&l| l > 0).ok_or_else(|| {
                Failure::bad(format!("invalid limit {l:?}: give a positive integer"))
            })?,
        };
        Ok(Self {
            names,
            by_label,
            limit,
        })
    }

    /// The series a stream's bytes count toward, as label pairs (`aggregateBy=labels`
    /// has empty values, which a `Labels` would drop).
    fn keys(&self, labels: &Labels) -> Vec<Key> {
        let kept = labels.iter().filter(|l| self.names.contains(l.name));
        if self.by_label {
            kept.map(|l| vec![(l.name.to_owned(), String::new())])
                .collect()
        } else {
            let key: Key = kept
                .map(|l| (l.name.to_owned(), l.value.to_owned()))
                .collect();
            if key.is_empty() {
                Vec::new()
            } else {
                vec![key]
            }
        }
    }

    /// Bytes by series over `rows`.
    fn totals(&self, rows: &[logs::StreamStats]) -> BTreeMap<Key, u64> {
        let mut totals = BTreeMap::new();
        for r in rows {
            for key in self.keys(&r.labels) {
                *totals.entry(key).or_insert(0) += r.bytes;
            }
        }
        totals
    }

    /// The `limit` largest series, largest first.
    fn top(&self, totals: BTreeMap<Key, u64>) -> Vec<(Key, u64)> {
        let mut v: Vec<(Key, u64)> = totals.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(self.limit);
        v
    }
}

/// A volume series' labels, sorted by name.
type Key = Vec<(String, String)>;

fn key_json(key: &Key) -> Value {
    Value::Object(
        key.iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A sample time as Prometheus's JSON writes it: seconds, as a number.
fn seconds(ns: i64) -> Value {
    json!(ns as f64 / 1e9)
}

async fn volume(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let (start, end) = p.bounds(HOUR_NS)?;
            let matchers = required_selector(&p)?;
            let grouping = Grouping::new(&p, &matchers)?;
            let rows = with_store(&loki, move |s| {
                Ok(s.stats(&matchers, start, exclusive(end))?)
            })
            .await?;
            let result: Vec<Value> = grouping
                .top(grouping.totals(&rows))
                .into_iter()
                .map(|(metric, bytes)| {
                    json!({"metric": key_json(&metric), "value": [seconds(end), bytes.to_string()]})
                })
                .collect();
            Ok(success(json!({"resultType": "vector", "result": result})))
        }
        .await,
    )
}

/// The step of a range without `step`, as Loki picks it: about 250 points, at least 1s.
fn default_step(start: i64, end: i64) -> i64 {
    let secs = ((end - start) as f64 / 1e9 / 250.0).ceil().max(1.0);
    secs as i64 * 1_000_000_000
}

/// The most points a range answer may have, as Prometheus and Loki limit them.
const MAX_POINTS: i64 = 11_000;

async fn volume_range(
    State(loki): State<Loki>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &headers, &body);
    respond(
        async {
            let (start, end) = p.bounds(HOUR_NS)?;
            let matchers = required_selector(&p)?;
            let grouping = Grouping::new(&p, &matchers)?;
            let step = match p.get("step") {
                None => default_step(start, end),
                Some(s) => crate::parse_duration(s)
                    .filter(|&ms| ms > 0)
                    .map(|ms| ms.saturating_mul(1_000_000))
                    .ok_or_else(|| {
                        Failure::bad(format!(
                            "invalid step {s:?}: give a positive duration (5m) or seconds"
                        ))
                    })?,
            };
            if (end - start) / step > MAX_POINTS {
                return Err(Failure::bad(format!(
                    "exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)"
                )));
            }
            // One read per step: each point is the bytes of the step that ends at it.
            let (series, points) = with_store(&loki, move |s| {
                let total = s.stats(&matchers, start, exclusive(end))?;
                let top = grouping.top(grouping.totals(&total));
                let wanted: BTreeSet<Key> = top.iter().map(|(l, _)| l.clone()).collect();
                let mut points: BTreeMap<Key, Vec<(i64, u64)>> = BTreeMap::new();
                let mut t = start;
                while t <= end {
                    let rows = s.stats(&matchers, t.saturating_sub(step) + 1, exclusive(t))?;
                    for (key, bytes) in grouping.totals(&rows) {
                        if wanted.contains(&key) && bytes > 0 {
                            points.entry(key).or_default().push((t, bytes));
                        }
                    }
                    t = t.saturating_add(step);
                }
                Ok((top, points))
            })
            .await?;
            let result: Vec<Value> = series
                .iter()
                .filter_map(|(metric, _)| {
                    let values: Vec<Value> = points
                        .get(metric)?
                        .iter()
                        .map(|(t, b)| json!([seconds(*t), b.to_string()]))
                        .collect();
                    Some(json!({"metric": key_json(metric), "values": values}))
                })
                .collect();
            Ok(success(json!({"resultType": "matrix", "result": result})))
        }
        .await,
    )
}

async fn buildinfo(State(loki): State<Loki>) -> Response {
    axum::Json(json!({
        "version": loki.build.version,
        "revision": loki.build.revision,
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
    .into_response()
}
