//! The Prometheus API family, so that Grafana, promtool and every Prometheus client talk to
//! Skywatch as they would to Prometheus.
//!
//! [`router`] serves `/api/v1/query` and `/api/v1/query_range` (GET, or POST with a form
//! body), answering in Prometheus's shapes: `{"status":"success","data":{"resultType":...,
//! "result":...}}`, values as `[<unix seconds>, "<value>"]`, and errors as
//! `{"status":"error","errorType":...,"error":...}` with Prometheus's HTTP codes: 400 for
//! `bad_data`, 422 for `execution`, 503 for `timeout`, 500 for `internal`.
//!
//! The API reads through `storage::Queryable` and evaluates with the PromQL engine (with
//! `block_in_place`, so that a long query does not stall other requests), within the
//! engine's timeout or a shorter one from the request's `timeout` parameter; it never names a concrete store. Also served: `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/{name}/values`, `/api/v1/format_query`,
//! `/api/v1/status/buildinfo`, `/api/v1/status/runtimeinfo`, `/api/v1/status/flags`,
//! `/api/v1/status/tsdb` (the head's figures from [`ApiState::head`]; its cardinality lists
//! cover the head's time range, or all data while the head is empty),
//! `/api/v1/metadata` (what the scraped targets' HELP, TYPE and UNIT lines say),
//! `/api/v1/query_exemplars` (the exemplars the store keeps, through
//! `storage::Queryable::select_exemplars`, for every series selector of a PromQL
//! expression, as Prometheus 2.42 with `--enable-feature=exemplar-storage` answers),
//! `/-/healthy` and `/-/ready`.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promql::engine::{Annotations, EvalError, Evaluated, Stepped, Steps};
use serde_json::{Map, Value, json};

use crate::{ApiState, HeadStats, MetricMetadata};

mod parse_errors;
mod status;
mod targets;

pub use status::WalReplay;
pub use targets::TargetMetadata;

/// Returns the API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/flags", get(flags))
        .route("/api/v1/status/tsdb", get(tsdb_status))
        .route("/api/v1/metadata", get(metadata))
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rules", get(rules))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .route("/-/healthy", get(|| async { "Skywatch is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Skywatch is Ready.\n" }))
        .merge(status::router())
        .merge(targets::router())
        .with_state(state)
}

/// An API error, as Prometheus reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// `bad_data`, `execution`, `timeout` or `internal`.
    pub kind: &'static str,
    /// The message.
    pub message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        Self {
            kind: "bad_data",
            message: message.into(),
        }
    }

    /// The error as Prometheus's `invalidParamError` words it: naming the parameter.
    fn in_param(self, param: &str) -> Self {
        Self {
            message: format!("invalid parameter {param:?}: {}", self.message),
            ..self
        }
    }
}

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        let kind = match &e {
            EvalError::BadData(_) => "bad_data",
            EvalError::TooManySamples | EvalError::Execution(_) => "execution",
            EvalError::Timeout => "timeout",
            EvalError::Storage(_) => "internal",
        };
        Self {
            kind,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = match self.kind {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = json!({"status": "error", "errorType": self.kind, "error": self.message});
        (code, axum::Json(body)).into_response()
    }
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// The parameters of a request, from the query string and a form body.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// The parameters of `query` and then of the form `body`.
    pub(crate) fn new(query: Option<String>, body: &[u8]) -> Self {
        let mut all: Vec<(String, String)> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        all.extend(form_urlencoded::parse(body).into_owned());
        Self(all)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, such as `match[]`.
    pub(crate) fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Parses a time as Prometheus does: Unix seconds (fractional allowed) or RFC 3339.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return secs.is_finite().then(|| (secs * 1000.0).round() as i64);
    }
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Parses a duration as Prometheus does: seconds (fractional allowed) or `1m30s`.
pub fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as i64);
    }
    model::parse_duration(s)
}

fn time_param(p: &Params, name: &str, default: Option<i64>) -> Result<i64, ApiError> {
    match (p.get(name), default) {
        (None | Some(""), Some(default)) => Ok(default),
        (None | Some(""), None) => Err(ApiError::bad_data(format!(
            "invalid parameter \"{name}\": cannot parse \"\" to a valid timestamp"
        ))),
        (Some(v), default) => parse_time(v).ok_or_else(|| {
            // A parameter with a default is read by Prometheus's `parseTimeParam`, which
            // wraps the error once more.
            let wrap = match default {
                Some(_) => format!("Invalid time value for '{name}': "),
                None => String::new(),
            };
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": {wrap}cannot parse \"{v}\" to a valid timestamp"
            ))
        }),
    }
}

/// The `query` parameter parsed; a refusal by the nesting or regex size limit is counted.
fn parse_query(state: &ApiState, p: &Params) -> Result<promql::ast::Expr, ApiError> {
    let q = p.get("query").unwrap_or("");
    promql::ast::parse(q).map_err(|e| {
        if let Some(limit) = promql::limits::exceeded_limit(&e) {
            state.limits.count(limit);
        }
        query_parse_error(q, &e)
    })
}

/// `n` with commas between thousands, as Prometheus writes the points limit: `11,000`.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A query that does not parse, as Prometheus reports it: with the place and wording of
/// Prometheus's parser where [`parse_errors`] can tell them, else Skywatch's message.
fn query_parse_error(query: &str, e: &promql::ast::ParseError) -> ApiError {
    let message = parse_errors::query_error(query, &e.0).unwrap_or_else(|| e.0.clone());
    ApiError::bad_data(format!("invalid parameter \"query\": {message}"))
}

/// Formats a value as Prometheus does in JSON: the shortest round-trip decimal, `NaN`,
/// `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A timestamp as Prometheus writes it: seconds as a JSON number, with a fraction only when
/// the time is not a whole second (`1700000015`, `1700000015.5`).
fn timestamp(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        serde_json::Number::from_f64(ms as f64 / 1000.0).map_or(Value::Null, Value::Number)
    }
}

fn metric(labels: &model::Labels) -> Value {
    let mut m = Map::new();
    for l in labels.iter() {
        m.insert(l.name.to_string(), Value::String(l.value.to_string()));
    }
    Value::Object(m)
}

async fn query(
    State(state): State<ApiState>,
    request: Parts,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &body);
    let result = async {
        let expr = parse_query(&state, &p)?;
        let t = time_param(&p, "time", Some(now_ms()))?;
        let Evaluated { value, annotations } =
            evaluate(&state, &request, &p, expr, Steps::instant(t)).await?;
        let data = match value {
            Stepped::Scalar(v) => {
                json!({"resultType": "scalar", "result": [timestamp(t), format_value(v.first().copied().unwrap_or(f64::NAN))]})
            }
            Stepped::String(s) => json!({"resultType": "string", "result": [timestamp(t), s]}),
            Stepped::Vector(series) => {
                let result: Vec<Value> = series
                    .iter()
                    .filter_map(|s| {
                        let p = s.points.first()?;
                        Some(json!({"metric": metric(&s.labels), "value": [timestamp(p.t), format_value(p.v)]}))
                    })
                    .collect();
                json!({"resultType": "vector", "result": result})
            }
            Stepped::Matrix(series) => json!({"resultType": "matrix", "result": matrix(
                series.iter().map(|s| (&s.labels, s.points.iter().map(|p| (p.t, p.v))))
            )}),
        };
        Ok((data, annotations))
    };
    respond_annotated(result.await)
}

/// A query's answer: its data, and its warnings and infos when there are any.
fn respond_annotated(result: Result<(Value, Annotations), ApiError>) -> Response {
    match result {
        Ok((data, annotations)) => {
            let mut body = json!({"status": "success", "data": data});
            if !annotations.warnings.is_empty() {
                body["warnings"] = json!(annotations.warnings);
            }
            if !annotations.infos.is_empty() {
                body["infos"] = json!(annotations.infos);
            }
            axum::Json(body).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Series as a `matrix` result: `[{"metric": {...}, "values": [[t, "v"], ...]}, ...]`.
fn matrix<'a, P: Iterator<Item = (i64, f64)>>(
    series: impl Iterator<Item = (&'a model::Labels, P)>,
) -> Value {
    Value::Array(
        series
            .map(|(labels, points)| {
                let values: Vec<Value> = points
                    .map(|(t, v)| json!([timestamp(t), format_value(v)]))
                    .collect();
                json!({"metric": metric(labels), "values": values})
            })
            .collect(),
    )
}

/// Evaluates `expr` (synchronous work that may read disk; see [`blocking`]), within the
/// request's `timeout` if it asks for one shorter than the engine's.
async fn evaluate(
    state: &ApiState,
    request: &Parts,
    p: &Params,
    expr: promql::ast::Expr,
    steps: Steps,
) -> Result<Evaluated, ApiError> {
    let mut engine = state.engine;
    if let Some(text) = p.get("timeout").filter(|t| !t.is_empty()) {
        let ms = parse_duration(text).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"timeout\": cannot parse \"{text}\" to a valid duration"
            ))
        })?;
        engine = engine.with_timeout(std::time::Duration::from_millis(ms.unsigned_abs()));
    }
    let began = std::time::Instant::now();
    // At most `--query-max-concurrency` queries run at once; the wait for a place counts
    // against the query's timeout, as in Prometheus.
    let timeout = engine.options().timeout;
    let Some(_permit) = state.limits.admit(timeout).await else {
        return Err(ApiError {
            kind: "timeout",
            message: format!("query timed out in query queue ({TIMEOUT_NAMED})"),
        });
    };
    if let Some(t) = timeout {
        engine = engine.with_timeout(t.saturating_sub(began.elapsed()));
    }
    let result = blocking(|| engine.eval_annotated(state.storage.as_ref(), &expr, steps));
    match &result {
        Err(EvalError::TooManySamples) => state.limits.count("query-max-samples"),
        Err(EvalError::Timeout) => state.limits.count("query-timeout"),
        _ => {}
    }
    // The query log, as Prometheus writes it: the query, its times, how it went, and
    // the request it came with; nothing is made of them when no log is open.
    if let Some(log) = state.query_log.current() {
        let client_ip = request
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        log.log(&promql::query_log::Entry {
            query: p.get("query").unwrap_or_default(),
            start: steps.start,
            end: steps.end,
            // An instant query has no step, as Prometheus logs it.
            step: if request.uri.path().ends_with("/query_range") {
                steps.step
            } else {
                0
            },
            error: result.as_ref().err().map(ToString::to_string),
            took: began.elapsed(),
            origin: promql::query_log::Origin::Http {
                client_ip: &client_ip,
                method: request.method.as_str(),
                path: request.uri.path(),
            },
        });
    }
    result.map_err(|e| {
        let limit = match e {
            EvalError::TooManySamples => Some(format!(
                "limit: --query-max-samples={}",
                engine.options().max_samples
            )),
            EvalError::Timeout => Some(TIMEOUT_NAMED.to_owned()),
            _ => None,
        };
        let mut error = ApiError::from(e);
        if let Some(limit) = limit {
            error.message = format!("{} ({limit})", error.message);
        }
        error
    })
}

/// What sets a query's time limit, as the timeout errors name it.
const TIMEOUT_NAMED: &str = "limit: --query-timeout, or the request's shorter timeout";

/// Runs synchronous work (evaluation, storage reads) from a handler. On a multi-threaded
/// runtime the worker thread hands its other tasks off first (`block_in_place`), so other
/// requests keep being served while the work runs where the request arrived, with no hop
/// to another thread; on a current-thread runtime, as in tests, it runs inline.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The `match[]` selectors of a request, each a list of matchers, as Prometheus's
/// `parseMatchersParam` reads them: each a series selector, and each with a matcher that
/// does not match the empty value. `/api/v1/series` names the parameter in its errors;
/// `/api/v1/labels` and `/api/v1/label/{name}/values` do not (`named` false), as in
/// Prometheus.
pub(crate) fn selectors(p: &Params, named: bool) -> Result<Vec<Vec<model::Matcher>>, ApiError> {
    let sets = p
        .all("match[]")
        .map(|m| match selector(m) {
            Err(e) if named => Err(e.in_param("match[]")),
            other => other,
        })
        .collect::<Result<Vec<_>, _>>()?;
    if sets
        .iter()
        .any(|set| set.iter().all(model::Matcher::matches_empty))
    {
        let e = ApiError::bad_data("match[] must contain at least one non-empty matcher");
        return Err(if named { e.in_param("match[]") } else { e });
    }
    Ok(sets)
}

/// The matchers of the series selector `text` (`match[]`, `match_target`); a selector
/// without a non-empty matcher (`{}`) has none.
fn selector(text: &str) -> Result<Vec<model::Matcher>, ApiError> {
    // Prometheus reads a selector with a grammar of its own, which refuses everything
    // else (`up offset 5m`, `up[5m]`) where it stops being a selector.
    if let Some(e) = parse_errors::selector_error(text) {
        return Err(ApiError::bad_data(e));
    }
    match &promql::ast::parse(text) {
        Ok(promql::ast::Expr::Vector(sel)) => Ok(sel.matchers.clone()),
        Ok(_) => Err(ApiError::bad_data(format!(
            "{text:?} is not a series selector"
        ))),
        // `{}` and `{job=""}` read as selectors; the callers refuse them or not.
        Err(e)
            if e.0
                .ends_with("vector selector must contain at least one non-empty matcher") =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(ApiError::bad_data(e.0.clone())),
    }
}

/// The `start` and `end` of a metadata or exemplars request: everything when absent.
fn range_params(p: &Params) -> Result<(i64, i64), ApiError> {
    Ok((
        time_param(p, "start", Some(i64::MIN))?,
        time_param(p, "end", Some(i64::MAX))?,
    ))
}

fn respond(result: Result<Value, ApiError>) -> Response {
    respond_annotated(result.map(|data| (data, Annotations::default())))
}

async fn series(State(state): State<ApiState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    respond_annotated((|| {
        let sets = selectors(&p, true)?;
        if sets.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let (start, end) = range_params(&p)?;
        blocking(|| {
            let querier = state.storage.querier(start, end).map_err(internal)?;
            // As Prometheus's: a lookup that needs no samples (a remote read endpoint
            // is sent these hints).
            let hints = storage::SelectHints {
                start,
                end,
                func: Some("series".into()),
                ..storage::SelectHints::default()
            };
            let mut found = std::collections::BTreeSet::new();
            for matchers in &sets {
                let set = querier.select(&hints, matchers).map_err(internal)?;
                for s in set {
                    found.insert(s.map_err(internal)?.labels);
                }
            }
            let notes = Annotations {
                warnings: querier.take_warnings(),
                ..Annotations::default()
            };
            Ok((Value::Array(found.iter().map(metric).collect()), notes))
        })
    })())
}

/// `/api/v1/query_exemplars`: the exemplars in `[start, end]` of the series every selector
/// of `query` selects, as Prometheus's `queryExemplars`: `start` and `end` default to all
/// time, the query's errors are not prefixed with the parameter's name, and an expression
/// without a selector (`1 + 1`) answers `204 No Content`, with no body, as Prometheus
/// answers a handler that returns no data.
async fn query_exemplars(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &body);
    let result = (|| {
        let (start, end) = range_params(&p)?;
        if end < start {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start timestamp",
            ));
        }
        let q = p.get("query").unwrap_or("");
        let expr = promql::ast::parse(q).map_err(|e| {
            ApiError::bad_data(parse_errors::query_error(q, &e.0).unwrap_or_else(|| e.0.clone()))
        })?;
        let selectors = expr.selectors();
        if selectors.is_empty() {
            return Ok(None);
        }
        let sets: Vec<&[model::Matcher]> = selectors.iter().map(|s| &s.matchers[..]).collect();
        let found =
            blocking(|| state.storage.select_exemplars(start, end, &sets)).map_err(|e| {
                ApiError {
                    kind: "execution",
                    message: e.to_string(),
                }
            })?;
        Ok(Some(Value::Array(
            found
                .iter()
                .map(|s| {
                    let exemplars: Vec<Value> = s
                        .exemplars
                        .iter()
                        .map(|e| {
                            json!({
                                "labels": metric(&e.labels),
                                "value": format_value(e.value),
                                "timestamp": timestamp(e.t),
                            })
                        })
                        .collect();
                    json!({"seriesLabels": metric(&s.series), "exemplars": exemplars})
                })
                .collect(),
        )))
    })();
    match result {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        other => respond(other.map(Option::unwrap_or_default)),
    }
}

async fn labels(State(state): State<ApiState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    respond((|| {
        let sets = selectors(&p, false)?;
        let (start, end) = range_params(&p)?;
        let querier = state.storage.querier(start, end).map_err(internal)?;
        let mut names = std::collections::BTreeSet::new();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        for matchers in sets {
            names.extend(querier.label_names(&matchers).map_err(internal)?);
        }
        Ok(json!(names))
    })())
}

async fn label_values(
    State(state): State<ApiState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = Params::new(raw, &[]);
    respond((|| {
        let sets = selectors(&p, false)?;
        let (start, end) = range_params(&p)?;
        let querier = state.storage.querier(start, end).map_err(internal)?;
        let mut values = std::collections::BTreeSet::new();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        for matchers in sets {
            values.extend(querier.label_values(&name, &matchers).map_err(internal)?);
        }
        Ok(json!(values))
    })())
}

async fn format_query(RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    let q = p.get("query").unwrap_or("");
    respond(
        promql::ast::format(q)
            .map(Value::String)
            .map_err(|e| query_parse_error(q, &e)),
    )
}

async fn buildinfo(State(state): State<ApiState>) -> Response {
    success(json!({
        "version": state.build.version,
        "revision": state.build.revision,
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

async fn runtimeinfo(State(state): State<ApiState>) -> Response {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    success(json!({
        "startTime": rfc3339(state.runtime.start_time),
        "CWD": cwd,
        "reloadConfigSuccess": true,
        "lastConfigTime": rfc3339(state.runtime.start_time),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": threads,
        "GOMEMLIMIT": i64::MAX,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": state.runtime.storage_retention,
    }))
}

fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

async fn flags(State(state): State<ApiState>) -> Response {
    success(json!(state.flags))
}

/// How many entries each list of `/api/v1/status/tsdb` has unless `limit` says otherwise.
const TSDB_STATUS_LIMIT: usize = 10;

/// `/api/v1/status/tsdb`: the head's figures and its cardinality, in Prometheus's shape:
/// the series per metric name, the distinct values and bytes of values per label name, and
/// the series per label pair, each the `limit` largest.
async fn tsdb_status(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::new(raw, &[]);
    let limit = match p.get("limit") {
        None => TSDB_STATUS_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return ApiError::bad_data(format!(
                    "invalid parameter \"limit\": {v:?} is not a positive integer"
                ))
                .into_response();
            }
        },
    };
    let head = state.head.as_ref().map(|f| f());
    let storage = state.local.clone();
    let result = blocking(move || -> Result<Value, ApiError> {
        let (mint, maxt) = head
            .and_then(|h| h.time_range)
            .unwrap_or((i64::MIN, i64::MAX));
        let querier = storage.querier(mint, maxt).map_err(internal)?;
        let all = [
            model::Matcher::new(model::MatchOp::Regex, model::METRIC_NAME, ".+")
                .map_err(|e| ApiError::bad_data(e.to_string()))?,
        ];
        let mut series = 0usize;
        let mut by_name: HashMap<String, u64> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        let mut values: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        for s in querier
            .select(&storage::SelectHints::default(), &all)
            .map_err(internal)?
        {
            let s = s.map_err(internal)?;
            series += 1;
            for l in s.labels.iter() {
                if l.name == model::METRIC_NAME {
                    *by_name.entry(l.value.to_string()).or_default() += 1;
                }
                *by_pair
                    .entry(format!("{}={}", l.name, l.value))
                    .or_default() += 1;
                values
                    .entry(l.name.to_string())
                    .or_default()
                    .insert(l.value.to_string());
            }
        }
        let head = head.unwrap_or(HeadStats {
            num_series: series,
            ..HeadStats::default()
        });
        let value_counts = values.iter().map(|(n, v)| (n.clone(), v.len() as u64));
        let value_bytes = values
            .iter()
            .map(|(n, v)| (n.clone(), v.iter().map(|x| x.len() as u64).sum()));
        let (min_time, max_time) = head
            .time_range
            .map_or((None, None), |(a, b)| (Some(a), Some(b)));
        Ok(json!({
            "headStats": {
                "numSeries": head.num_series,
                "numLabelPairs": by_pair.len(),
                "chunkCount": head.chunk_count,
                "minTime": min_time,
                "maxTime": max_time,
            },
            "seriesCountByMetricName": top(by_name, limit),
            "labelValueCountByLabelName": top(value_counts, limit),
            "memoryInBytesByLabelName": top(value_bytes, limit),
            "seriesCountByLabelValuePair": top(by_pair, limit),
        }))
    });
    respond(result)
}

/// The `limit` largest entries, largest first (ties by name), as `{"name", "value"}`.
fn top(entries: impl IntoIterator<Item = (String, u64)>, limit: usize) -> Value {
    let mut v: Vec<(String, u64)> = entries.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    Value::Array(
        v.into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError {
        kind: "internal",
        message: e.to_string(),
    }
}

/// `/api/v1/targets`, in Prometheus's shape, with its `state` and `scrapePool` filters.
/// The alerts of the rules, or none, as Prometheus answers without rule files.
async fn alerts(State(state): State<ApiState>) -> Response {
    success(
        state
            .alerts
            .as_ref()
            .map_or_else(|| json!({"alerts": []}), |f| f()),
    )
}

async fn rules(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::new(raw, &[]);
    let kind = p.get("type").unwrap_or("");
    if !matches!(kind, "" | "alert" | "record") {
        return ApiError::bad_data(format!(
            "invalid parameter \"type\": {kind:?} is not alert or record"
        ))
        .into_response();
    }
    success(
        state
            .rules
            .as_ref()
            .map_or_else(|| json!({"groups": []}), |f| f(kind)),
    )
}

async fn targets(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::new(raw, &[]);
    let which = p.get("state").unwrap_or("any");
    if !matches!(which, "active" | "dropped" | "any") {
        return ApiError::bad_data(format!(
            "invalid parameter \"state\": {which:?} is not one of active, dropped, any"
        ))
        .into_response();
    }
    let pool = p.get("scrapePool").filter(|s| !s.is_empty());
    let all = state.targets.as_ref().map(|f| f()).unwrap_or_default();
    let in_pool = |job: &str| pool.is_none_or(|p| p == job);
    let active: Vec<Value> = all
        .active
        .iter()
        .filter(|t| which != "dropped" && in_pool(&t.scrape_pool))
        .map(|t| {
            json!({
                "discoveredLabels": metric(&t.discovered_labels),
                "labels": metric(&t.labels),
                "scrapePool": t.scrape_pool,
                "scrapeUrl": t.scrape_url,
                "globalUrl": t.scrape_url,
                "lastError": t.last_error,
                "lastScrape": if t.last_scrape == 0 { "0001-01-01T00:00:00Z".to_owned() } else { rfc3339(t.last_scrape) },
                "lastScrapeDuration": t.last_scrape_duration,
                "health": t.health,
                "scrapeInterval": model::format_duration(t.scrape_interval),
                "scrapeTimeout": model::format_duration(t.scrape_timeout),
            })
        })
        .collect();
    let mut dropped_counts: BTreeMap<&str, usize> = BTreeMap::new();
    let dropped: Vec<Value> = all
        .dropped
        .iter()
        .filter(|(job, _)| which != "active" && in_pool(job))
        .map(|(job, labels)| {
            *dropped_counts.entry(job).or_default() += 1;
            json!({"discoveredLabels": metric(labels)})
        })
        .collect();
    // Skywatch's own field (Prometheus only logs these): why a job's discovery fails,
    // while the job keeps the targets found before.
    let failures: Vec<Value> = all
        .discovery_failures
        .iter()
        .filter(|f| in_pool(&f.scrape_pool))
        .map(|f| {
            json!({
                "scrapePool": f.scrape_pool,
                "provider": f.provider,
                "error": f.error,
                "since": rfc3339(f.since),
                "keptGroups": f.kept_groups,
            })
        })
        .collect();
    success(json!({
        "activeTargets": active,
        "droppedTargets": dropped,
        "droppedTargetCounts": dropped_counts,
        "discoveryFailures": failures,
    }))
}

/// `/api/v1/metadata`: each metric family's type, help and unit, as Prometheus answers
/// it (a list per name), with its `metric` and `limit` parameters.
async fn metadata(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::new(raw, &[]);
    let limit = match p.get("limit").filter(|l| !l.is_empty()) {
        None => usize::MAX,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n <= 0 => usize::MAX,
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Err(_) => {
                return ApiError::bad_data(format!(
                    "invalid parameter \"limit\": {l:?} is not a number"
                ))
                .into_response();
            }
        },
    };
    let wanted = p.get("metric").filter(|m| !m.is_empty());
    let all = state.metadata.as_ref().map(|f| f()).unwrap_or_default();
    let mut out = Map::new();
    for (name, m) in all
        .into_iter()
        .filter(|(name, _)| wanted.is_none_or(|w| w == name))
        .take(limit)
    {
        out.insert(
            name,
            json!([{"type": m.type_name(), "help": m.help, "unit": m.unit}]),
        );
    }
    success(Value::Object(out))
}

/// `POST /-/reload`: re-reads the configuration; a bad one is refused and the running one
/// kept, as in Prometheus.
async fn reload(State(state): State<ApiState>) -> Response {
    match &state.reload {
        None => (
            StatusCode::NOT_FOUND,
            "Skywatch runs without a configuration file: there is nothing to reload.\n",
        )
            .into_response(),
        Some(f) => match blocking(|| f()) {
            Ok(()) => (StatusCode::OK, "").into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}\n"),
            )
                .into_response(),
        },
    }
}

async fn query_range(
    State(state): State<ApiState>,
    request: Parts,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &body);
    let result = async {
        let start = time_param(&p, "start", None)?;
        let end = time_param(&p, "end", None)?;
        if end < start {
            return Err(ApiError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        let step_text = p.get("step").unwrap_or("");
        let step = parse_duration(step_text).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"step\": cannot parse \"{step_text}\" to a valid duration"
            ))
        })?;
        if step <= 0 {
            return Err(ApiError::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // Prometheus refuses more than 11,000 points per series, in these words.
        let max_points = state.limits.limits().query_max_points_per_series;
        if (end - start) / step > max_points {
            state.limits.count("query-max-points-per-series");
            return Err(ApiError::bad_data(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX) (limit: --query-max-points-per-series)",
                thousands(max_points)
            )));
        }
        let expr = parse_query(&state, &p)?;
        let steps = Steps { start, end, step };
        let Evaluated { value, annotations } = evaluate(&state, &request, &p, expr, steps).await?;
        let series = match value {
            Stepped::Scalar(v) => vec![(
                model::Labels::empty(),
                steps.times().zip(v).collect::<Vec<_>>(),
            )],
            Stepped::Vector(series) => series
                .into_iter()
                .map(|s| (s.labels, s.points.iter().map(|p| (p.t, p.v)).collect()))
                .collect(),
            Stepped::String(_) | Stepped::Matrix(_) => {
                let kind = if matches!(value, Stepped::String(_)) {
                    "string"
                } else {
                    "range vector"
                };
                return Err(ApiError::bad_data(format!(
                    "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
                )));
            }
        };
        let result = matrix(
            series
                .iter()
                .map(|(labels, points)| (labels, points.iter().copied())),
        );
        Ok((
            json!({"resultType": "matrix", "result": result}),
            annotations,
        ))
    };
    respond_annotated(result.await)
}

/// What the tests of every family start from: an API over an empty store.
#[cfg(test)]
mod test_support {
    use std::sync::Arc;

    use promql::engine::Engine;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    /// State over an empty store, with no hooks set.
    pub(crate) fn state() -> ApiState {
        ApiState::new(Arc::new(storage::MemStorage::new()), Engine::default())
    }

    /// GETs `uri` and returns the status and the JSON body.
    pub(crate) async fn get(app: &Router, uri: &str) -> (u16, Value) {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{uri}: {e}: {}", String::from_utf8_lossy(&bytes)));
        (status, body)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use promql::engine::Engine;

    use super::*;
    use crate::{ActiveTarget, BuildInfo, DiscoveryFailure, RuntimeInfo, Targets};
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use storage::{Appendable, MemStorage};
    use tower::ServiceExt as _;

    fn app() -> Router {
        app_with(Engine::default())
    }

    fn app_with(engine: Engine) -> Router {
        router(state_with(engine))
    }

    /// The state [`app_with`] serves: two `up` series over ten scrapes.
    fn state_with(engine: Engine) -> ApiState {
        let store = MemStorage::new();
        let mut a = store.appender();
        for (i, job) in ["api", "db"].iter().enumerate() {
            let labels = model::Labels::from_pairs([("__name__", "up"), ("job", job)]);
            for t in 0..10 {
                a.append(None, &labels, t * 15_000, (i + 1) as f64).unwrap();
            }
        }
        a.commit().unwrap();
        let mut state = ApiState::new(Arc::new(store), engine);
        state.build = BuildInfo {
            version: "1.2.3".into(),
            revision: "abc".into(),
        };
        state.runtime = RuntimeInfo {
            start_time: 1_700_000_000_000,
            storage_retention: "15d".into(),
        };
        state.flags = BTreeMap::from([("listen".to_owned(), "127.0.0.1:9797".to_owned())]);
        state.metadata = Some(Arc::new(|| {
            BTreeMap::from([
                (
                    "up".to_owned(),
                    MetricMetadata {
                        kind: "gauge".into(),
                        help: "Whether the target is up.".into(),
                        unit: String::new(),
                    },
                ),
                (
                    "help_only".to_owned(),
                    MetricMetadata {
                        kind: String::new(),
                        help: "Only HELP.".into(),
                        unit: String::new(),
                    },
                ),
            ])
        }));
        state
    }

    async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
        let response = app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        if bytes.is_empty() {
            return (status, Value::Null);
        }
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn exemplars_answer_by_selector_and_range_with_prometheus_errors() {
        let store = MemStorage::new();
        let mut a = store.appender();
        for (job, t, trace) in [
            ("api", 1_000, "a1"),
            ("api", 2_500, "a2"),
            ("db", 2_000, "d1"),
        ] {
            let labels = model::Labels::from_pairs([("__name__", "req_total"), ("job", job)]);
            a.append(None, &labels, t, 1.0).unwrap();
            let e = storage::Exemplar {
                labels: model::Labels::from_pairs([("trace_id", trace)]),
                value: t as f64 / 1000.0,
                t,
                has_timestamp: true,
            };
            a.append_exemplar(None, &labels, e).unwrap();
        }
        a.commit().unwrap();
        let app = router(ApiState::new(Arc::new(store), Engine::default()));
        let api = |job: &str, exemplars: Value| json!({"seriesLabels": {"__name__": "req_total", "job": job}, "exemplars": exemplars});
        let e = |trace: &str, value: &str, t: Value| json!({"labels": {"trace_id": trace}, "value": value, "timestamp": t});
        for (query, code, data) in [
            (
                "query=req_total",
                200,
                json!([
                    api(
                        "api",
                        json!([e("a1", "1", json!(1)), e("a2", "2.5", json!(2.5))])
                    ),
                    api("db", json!([e("d1", "2", json!(2))])),
                ]),
            ),
            (
                "query=rate(req_total%7Bjob%3D%22api%22%7D%5B5m%5D)%20%2B%20req_total%7Bjob%3D%22db%22%7D&start=2&end=3",
                200,
                json!([
                    api("api", json!([e("a2", "2.5", json!(2.5))])),
                    api("db", json!([e("d1", "2", json!(2))]))
                ]),
            ),
            ("query=nothing", 200, json!([])),
            ("query=1%2B1", 204, Value::Null),
            (
                "query=req_total&start=3&end=2",
                400,
                json!("end timestamp must not be before start timestamp"),
            ),
            (
                "query=req_total&start=x",
                400,
                json!(
                    "invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp"
                ),
            ),
            (
                "query=sum(",
                400,
                json!("1:5: parse error: unclosed left parenthesis"),
            ),
        ] {
            let (status, body) = call(
                &app,
                Request::get(format!("/api/v1/query_exemplars?{query}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(status.as_u16(), code, "{query}: {body}");
            let got = match code {
                200 => &body["data"],
                204 => &body,
                _ => &body["error"],
            };
            assert_eq!(got, &data, "{query}");
        }
    }

    #[tokio::test]
    async fn instant_queries_answer_in_prometheus_shapes() {
        let app = app();
        let (status, body) = call(
            &app,
            Request::get("/api/v1/query?query=up&time=60")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "api"}, "value": [60, "1"]},
                {"metric": {"__name__": "up", "job": "db"}, "value": [60, "2"]},
            ]}})
        );
        let (_, body) = call(
            &app,
            Request::get("/api/v1/query?query=1%2B1&time=1.5")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            body["data"],
            json!({"resultType": "scalar", "result": [1.5, "2"]})
        );
        let form = Request::post("/api/v1/query")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("query=sum(up)&time=1970-01-01T00:00:30Z"))
            .unwrap();
        let (status, body) = call(&app, form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["result"][0]["metric"], json!({}));
    }

    #[tokio::test]
    async fn an_instant_range_selector_returns_the_raw_samples() {
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let (status, body) = call(
            &app(),
            get("/api/v1/query?query=up%7Bjob%3D%22db%22%7D%5B30s%5D&time=45"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"],
            json!({"resultType": "matrix", "result": [
                {"metric": {"__name__": "up", "job": "db"}, "values": [[30, "2"], [45, "2"]]},
            ]})
        );
        let (status, body) = call(
            &app(),
            get("/api/v1/query_range?query=up%5B30s%5D&start=0&end=60&step=15"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["error"],
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
        );
    }

    #[tokio::test]
    async fn annotations_come_with_the_data() {
        let (status, body) = call(
            &app(),
            Request::get("/api/v1/query?query=quantile(2,%20rate(up%5B1m%5D))&time=120")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["warnings"],
            json!(["PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)"])
        );
        assert_eq!(
            body["infos"],
            json!([
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:18)"
            ])
        );
        assert_eq!(body["data"]["resultType"], "vector");
    }

    #[tokio::test]
    async fn range_queries_return_matrices() {
        let (status, body) = call(
            &app(),
            Request::get(
                "/api/v1/query_range?query=up%7Bjob%3D%22api%22%7D&start=0&end=30&step=15s",
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["data"],
            json!({"resultType": "matrix", "result": [
                {"metric": {"__name__": "up", "job": "api"}, "values": [[0, "1"], [15, "1"], [30, "1"]]},
            ]})
        );
    }

    #[tokio::test]
    async fn metadata_endpoints() {
        let app = app();
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let (_, body) = call(&app, get("/api/v1/labels")).await;
        assert_eq!(body["data"], json!(["__name__", "job"]));
        let (_, body) = call(&app, get("/api/v1/label/job/values")).await;
        assert_eq!(body["data"], json!(["api", "db"]));
        let (_, body) = call(&app, get("/api/v1/series?match[]=up%7Bjob%3D%22db%22%7D")).await;
        assert_eq!(body["data"], json!([{"__name__": "up", "job": "db"}]));
        let (status, body) = call(&app, get("/api/v1/series")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "no match[] parameter provided");
        let (_, body) = call(&app, get("/api/v1/format_query?query=sum%20by(job)(up)")).await;
        assert_eq!(body["data"], "sum by (job) (up)");
        let (_, body) = call(&app, get("/api/v1/status/buildinfo")).await;
        assert_eq!(body["data"]["version"], "1.2.3");
        let (_, body) = call(&app, get("/api/v1/metadata?metric=up")).await;
        assert_eq!(
            body["data"],
            json!({"up": [{"type": "gauge", "help": "Whether the target is up.", "unit": ""}]})
        );
        let (_, body) = call(&app, get("/api/v1/metadata?metric=other")).await;
        assert_eq!(body["data"], json!({}));
        // Regression: a family with HELP and no TYPE had type "", where Prometheus says
        // "unknown" (found by tests/prometheus_api_parity.rs).
        let (_, body) = call(&app, get("/api/v1/metadata?metric=help_only")).await;
        assert_eq!(
            body["data"],
            json!({"help_only": [{"type": "unknown", "help": "Only HELP.", "unit": ""}]})
        );
        let response = app.clone().oneshot(get("/-/ready")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn status_endpoints() {
        let app = app();
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let (_, body) = call(&app, get("/api/v1/status/runtimeinfo")).await;
        assert_eq!(body["data"]["startTime"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["data"]["storageRetention"], "15d");
        let (_, body) = call(&app, get("/api/v1/status/flags")).await;
        assert_eq!(body["data"], json!({"listen": "127.0.0.1:9797"}));
        // Without a head, every series counts.
        let (status, body) = call(&app, get("/api/v1/status/tsdb")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["headStats"]["numSeries"], 2);
        assert_eq!(
            body["data"]["seriesCountByMetricName"],
            json!([{"name": "up", "value": 2}])
        );
        assert_eq!(
            body["data"]["labelValueCountByLabelName"],
            json!([{"name": "job", "value": 2}, {"name": "__name__", "value": 1}])
        );
        assert_eq!(
            body["data"]["seriesCountByLabelValuePair"][0],
            json!({"name": "__name__=up", "value": 2})
        );
        let (_, body) = call(&app, get("/api/v1/status/tsdb?limit=1")).await;
        assert_eq!(
            body["data"]["seriesCountByLabelValuePair"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (status, _) = call(&app, get("/api/v1/status/tsdb?limit=x")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn targets_and_reload() {
        let store = MemStorage::new();
        let mut state = ApiState::new(Arc::new(store), Engine::default());
        state.targets = Some(Arc::new(|| Targets {
            active: vec![ActiveTarget {
                discovered_labels: model::Labels::from_pairs([("__address__", "n1:9100")]),
                labels: model::Labels::from_pairs([("instance", "n1:9100"), ("job", "nodes")]),
                scrape_pool: "nodes".into(),
                scrape_url: "http://n1:9100/metrics".into(),
                last_error: String::new(),
                last_scrape: 1_700_000_000_000,
                last_scrape_duration: 0.25,
                health: "up",
                scrape_interval: 5_000,
                scrape_timeout: 5_000,
            }],
            dropped: vec![(
                "nodes".into(),
                model::Labels::from_pairs([("__address__", "n9:9100")]),
            )],
            discovery_failures: vec![DiscoveryFailure {
                scrape_pool: "nodes".into(),
                provider: "consul_sd_configs[0]".into(),
                error: "http://consul:8500/v1/catalog/services: connection refused".into(),
                since: 1_700_000_000_000,
                kept_groups: 1,
            }],
        }));
        let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reloads.clone();
        state.reload = Some(Arc::new(move || {
            match counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Ok(()),
                _ => Err("p.yml: line 3: bad".into()),
            }
        }));
        let app = router(state);
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let (status, body) = call(&app, get("/api/v1/targets")).await;
        assert_eq!(status, StatusCode::OK);
        let t = &body["data"]["activeTargets"][0];
        assert_eq!(t["health"], "up");
        assert_eq!(t["scrapePool"], "nodes");
        assert_eq!(t["scrapeInterval"], "5s");
        assert_eq!(t["lastScrape"], "2023-11-14T22:13:20.000Z");
        assert_eq!(t["labels"], json!({"instance": "n1:9100", "job": "nodes"}));
        assert_eq!(
            body["data"]["droppedTargets"],
            json!([{"discoveredLabels": {"__address__": "n9:9100"}}])
        );
        assert_eq!(body["data"]["droppedTargetCounts"], json!({"nodes": 1}));
        assert_eq!(
            body["data"]["discoveryFailures"],
            json!([{
                "scrapePool": "nodes",
                "provider": "consul_sd_configs[0]",
                "error": "http://consul:8500/v1/catalog/services: connection refused",
                "since": "2023-11-14T22:13:20.000Z",
                "keptGroups": 1,
            }])
        );
        let (_, body) = call(&app, get("/api/v1/targets?state=dropped")).await;
        assert_eq!(body["data"]["activeTargets"], json!([]));
        let (_, body) = call(&app, get("/api/v1/targets?scrapePool=other")).await;
        assert_eq!(body["data"]["activeTargets"], json!([]));
        assert_eq!(body["data"]["discoveryFailures"], json!([]));
        let (status, _) = call(&app, get("/api/v1/targets?state=some")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let post = || Request::post("/-/reload").body(Body::empty()).unwrap();
        let ok = app.clone().oneshot(post()).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        let bad = app.clone().oneshot(post()).await.unwrap();
        assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = bad.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&text[..], b"failed to reload config: p.yml: line 3: bad\n");
    }

    #[tokio::test]
    async fn each_query_limit_names_itself_is_counted_and_leaves_the_api_serving() {
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let mut state = state_with(Engine::new(promql::engine::EngineOptions {
            max_samples: 5,
            ..Default::default()
        }));
        state.limits = Arc::new(crate::limits::Limiter::new(crate::limits::Limits {
            query_max_concurrency: 1,
            query_max_points_per_series: 100,
            ..Default::default()
        }));
        let limits = state.limits.clone();
        let app = router(state);
        let served = |app: Router| async move {
            let (status, body) = call(&app, get("/api/v1/query?query=1&time=0")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        };
        // Long queries go as a form, as Grafana sends them: a URI has a length limit.
        let form = |q: &str| {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", q)
                .finish();
            Request::post("/api/v1/query")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap()
        };
        let deep = vec!["1"; promql::limits::MAX_DEPTH + 1].join("+");
        let long_regex = format!("up{{job=~\"{}\"}}", "a".repeat(model::MAX_REGEX_BYTES + 1));
        for (request, code, named, limit) in [
            (
                get("/api/v1/query?query=up&time=150"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "--query-max-samples=5",
                "query-max-samples",
            ),
            (
                get("/api/v1/query_range?query=1&start=0&end=101&step=1"),
                StatusCode::BAD_REQUEST,
                "exceeded maximum resolution of 100 points per timeseries",
                "query-max-points-per-series",
            ),
            (
                form(&deep),
                StatusCode::BAD_REQUEST,
                "more than the limit of 20000",
                "query-max-depth",
            ),
            (
                form(&long_regex),
                StatusCode::BAD_REQUEST,
                "more than the limit of 131072 bytes",
                "query-max-regex-bytes",
            ),
        ] {
            let (status, body) = call(&app, request).await;
            assert_eq!(status, code, "{body}");
            let error = body["error"].as_str().unwrap();
            assert!(error.contains(named), "{error}");
            assert_eq!(limits.exceeded().get(limit), Some(&1), "{limit}");
            served(app.clone()).await;
        }
        // With the one place taken, a query waits, then times out in the queue.
        let held = limits.admit(None).await.unwrap();
        let (status, body) = call(&app, get("/api/v1/query?query=1&time=0&timeout=50ms")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(
            body["error"],
            "query timed out in query queue (limit: --query-timeout, or the request's shorter timeout)"
        );
        assert_eq!(limits.exceeded().get("query-max-concurrency"), Some(&1));
        assert_eq!(limits.exceeded().get("query-timeout"), Some(&1));
        // Other routes are served meanwhile, and queries again once the place is free.
        let (status, _) = call(&app, get("/api/v1/labels")).await;
        assert_eq!(status, StatusCode::OK);
        drop(held);
        served(app).await;
        assert_eq!(limits.active_queries(), 0);
    }

    #[tokio::test]
    async fn over_limit_queries_fail_as_in_prometheus() {
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let small = app_with(Engine::new(promql::engine::EngineOptions {
            max_samples: 5,
            ..Default::default()
        }));
        let (status, body) = call(&small, get("/api/v1/query?query=up&time=150")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errorType"], "execution");
        assert_eq!(
            body["error"],
            "query processing would load too many samples into memory in query execution (limit: --query-max-samples=5)"
        );
        let (status, body) = call(
            &app(),
            get("/api/v1/query_range?query=up&start=0&end=150&step=15&timeout=0s"),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(
            body,
            json!({"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation (limit: --query-timeout, or the request's shorter timeout)"})
        );
        let (status, body) = call(&app(), get("/api/v1/query?query=up&timeout=soon")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"],
            "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"
        );
    }

    /// Regression: parse errors had no position and promql-parser's wording (`parse
    /// error: invalid promql query`); every endpoint that parses PromQL now answers as
    /// Prometheus 2.42 does, the series endpoints' `match[]` as a selector alone.
    #[tokio::test]
    async fn parse_errors_are_placed_and_worded_as_prometheus_does() {
        let app = app();
        for (uri, error) in [
            (
                "/api/v1/query?query=sum%20by%20(job%20up)",
                "invalid parameter \"query\": 1:13: parse error: unexpected identifier \"up\" in grouping opts, expected \",\" or \")\"",
            ),
            (
                "/api/v1/query_range?query=rate(up)&start=0&end=60&step=15",
                "invalid parameter \"query\": 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
            (
                "/api/v1/format_query?query=1%20%2B",
                "invalid parameter \"query\": 1:4: parse error: unexpected end of input",
            ),
            (
                "/api/v1/series?match[]=up%2B1",
                "invalid parameter \"match[]\": 1:3: parse error: unexpected <op:+>",
            ),
            (
                "/api/v1/series?match[]=up%20offset%205m",
                "invalid parameter \"match[]\": 1:4: parse error: unexpected <offset>",
            ),
            (
                "/api/v1/series?match[]=%7B%7D",
                "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher",
            ),
            (
                "/api/v1/labels?match[]=rate(up%5B5m%5D)",
                "1:5: parse error: unexpected \"(\"",
            ),
            (
                "/api/v1/label/job/values?match[]=%7Bjob%3D~%22.*%22%7D",
                "match[] must contain at least one non-empty matcher",
            ),
        ] {
            let (status, body) = call(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert_eq!(
                body,
                json!({"status": "error", "errorType": "bad_data", "error": error}),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn errors_have_prometheus_types_and_codes() {
        let app = app();
        for (uri, code, kind, message) in [
            (
                "/api/v1/query?query=sum(",
                400,
                "bad_data",
                "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis",
            ),
            (
                "/api/v1/query?query=foo(up)",
                400,
                "bad_data",
                "invalid parameter \"query\": 1:1: parse error: unknown function with name \"foo\"",
            ),
            (
                "/api/v1/query_range?query=up&start=0&step=15",
                400,
                "bad_data",
                "invalid parameter \"end\": cannot parse \"\" to a valid timestamp",
            ),
            (
                "/api/v1/query?query=up&time=yesterday",
                400,
                "bad_data",
                "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp",
            ),
            (
                "/api/v1/query_range?query=up&start=10&end=0&step=1",
                400,
                "bad_data",
                "end timestamp must not be before start time",
            ),
            (
                "/api/v1/query_range?query=up&start=0&end=100000&step=1",
                400,
                "bad_data",
                "exceeded maximum resolution of 11,000 points",
            ),
            (
                "/api/v1/query_range?query=up&start=0&end=10&step=0",
                400,
                "bad_data",
                "zero or negative query resolution step",
            ),
            (
                "/api/v1/query?query=up%20%2B%20on()%20up&time=60",
                422,
                "execution",
                "found duplicate series for the match group {}",
            ),
        ] {
            let (status, body) = call(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(status.as_u16(), code, "{uri}: {body}");
            assert_eq!(body["status"], "error");
            assert_eq!(body["errorType"], kind, "{uri}");
            assert!(
                body["error"].as_str().unwrap().starts_with(message)
                    || body["error"].as_str().unwrap().contains(message),
                "{uri}: {body}"
            );
        }
    }
}
