//! The Prometheus HTTP API, so that Grafana, promtool and every Prometheus client talk to
//! Skywatch as they would to Prometheus.
//!
//! [`router`] serves `/api/v1/query` and `/api/v1/query_range` (GET, or POST with a form
//! body), answering in Prometheus's shapes: `{"status":"success","data":{"resultType":...,
//! "result":...}}`, values as `[<unix seconds>, "<value>"]`, and errors as
//! `{"status":"error","errorType":...,"error":...}` with Prometheus's HTTP codes: 400 for
//! `bad_data`, 422 for `execution`, 503 for `timeout`, 500 for `internal`.
//!
//! The API reads through `storage::Queryable` and evaluates with the PromQL engine; it
//! never names a concrete store. Also served: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/{name}/values`, `/api/v1/format_query`, `/api/v1/status/buildinfo`,
//! `/api/v1/metadata` and `/api/v1/query_exemplars` (both empty: no metadata or exemplars
//! are stored yet), `/-/healthy` and `/-/ready`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promql::engine::{Engine, EvalError, Stepped, Steps};
use serde_json::{Map, Value, json};
use storage::Queryable;

/// What the API reads from.
#[derive(Clone)]
pub struct ApiState {
    /// The data.
    pub storage: Arc<dyn Queryable>,
    /// The PromQL engine.
    pub engine: Engine,
    /// What `/api/v1/status/buildinfo` reports.
    pub build: BuildInfo,
}

/// The build of the running server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release version.
    pub version: String,
    /// The source revision.
    pub revision: String,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}

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
        .route("/api/v1/metadata", get(|| async { success(json!({})) }))
        .route(
            "/api/v1/query_exemplars",
            get(|| async { success(json!([])) }).post(|| async { success(json!([])) }),
        )
        .route("/-/healthy", get(|| async { "Skywatch is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Skywatch is Ready.\n" }))
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
}

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        let kind = match &e {
            EvalError::BadData(_) => "bad_data",
            EvalError::TooManySamples | EvalError::Execution(_) => "execution",
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
struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: Option<String>, body: &[u8]) -> Self {
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

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn now_ms() -> i64 {
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
    promql::promqltest::parse_duration(s)
}

fn time_param(p: &Params, name: &str, default: Option<i64>) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => default.ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"\" to a valid timestamp"
            ))
        }),
        Some(v) => parse_time(v).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"{v}\" to a valid timestamp"
            ))
        }),
    }
}

fn parse_query(p: &Params) -> Result<promql::ast::Expr, ApiError> {
    let q = p.get("query").unwrap_or("");
    promql::ast::parse(q)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))
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

async fn query(State(state): State<ApiState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    let result = (|| -> Result<Value, ApiError> {
        let expr = parse_query(&p)?;
        let t = time_param(&p, "time", Some(now_ms()))?;
        let value = state
            .engine
            .eval(state.storage.as_ref(), &expr, Steps::instant(t))?;
        Ok(match value {
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
        })
    })();
    match result {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}

/// The `match[]` selectors of a request, each a list of matchers.
fn selectors(p: &Params) -> Result<Vec<Vec<model::Matcher>>, ApiError> {
    p.all("match[]")
        .map(|m| match promql::ast::parse(m) {
            Ok(promql::ast::Expr::Vector(sel)) => Ok(sel.matchers),
            Ok(_) => Err(ApiError::bad_data(format!(
                "invalid parameter \"match[]\": {m:?} is not a series selector"
            ))),
            Err(e) => Err(ApiError::bad_data(format!(
                "invalid parameter \"match[]\": {e}"
            ))),
        })
        .collect()
}

/// The `start` and `end` of a metadata request: everything when absent.
fn range_params(p: &Params) -> Result<(i64, i64), ApiError> {
    Ok((
        time_param(p, "start", Some(i64::MIN))?,
        time_param(p, "end", Some(i64::MAX))?,
    ))
}

fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}

fn storage_error(e: storage::StorageError) -> ApiError {
    ApiError {
        kind: "internal",
        message: e.to_string(),
    }
}

async fn series(State(state): State<ApiState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    respond((|| {
        let sets = selectors(&p)?;
        if sets.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let (start, end) = range_params(&p)?;
        let querier = state.storage.querier(start, end).map_err(storage_error)?;
        let mut found = std::collections::BTreeSet::new();
        for matchers in &sets {
            let set = querier
                .select(&storage::SelectHints::default(), matchers)
                .map_err(storage_error)?;
            for s in set {
                found.insert(s.map_err(storage_error)?.labels);
            }
        }
        Ok(Value::Array(found.iter().map(metric).collect()))
    })())
}

async fn labels(State(state): State<ApiState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let p = Params::new(raw, &body);
    respond((|| {
        let sets = selectors(&p)?;
        let (start, end) = range_params(&p)?;
        let querier = state.storage.querier(start, end).map_err(storage_error)?;
        let mut names = std::collections::BTreeSet::new();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        for matchers in sets {
            names.extend(querier.label_names(&matchers).map_err(storage_error)?);
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
        let sets = selectors(&p)?;
        let (start, end) = range_params(&p)?;
        let querier = state.storage.querier(start, end).map_err(storage_error)?;
        let mut values = std::collections::BTreeSet::new();
        let sets = if sets.is_empty() {
            vec![Vec::new()]
        } else {
            sets
        };
        for matchers in sets {
            values.extend(
                querier
                    .label_values(&name, &matchers)
                    .map_err(storage_error)?,
            );
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
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}"))),
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

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS: i64 = 11_000;

async fn query_range(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let p = Params::new(raw, &body);
    let result = (|| -> Result<Value, ApiError> {
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
        if (end - start) / step > MAX_POINTS {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let expr = parse_query(&p)?;
        let steps = Steps { start, end, step };
        let value = state.engine.eval(state.storage.as_ref(), &expr, steps)?;
        let series = match value {
            Stepped::Scalar(v) => vec![(
                model::Labels::empty(),
                steps.times().zip(v).collect::<Vec<_>>(),
            )],
            Stepped::Vector(series) => series
                .into_iter()
                .map(|s| (s.labels, s.points.iter().map(|p| (p.t, p.v)).collect()))
                .collect(),
            Stepped::String(_) => {
                return Err(ApiError::bad_data(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector",
                ));
            }
        };
        let result: Vec<Value> = series
            .iter()
            .map(|(labels, points)| {
                let values: Vec<Value> = points
                    .iter()
                    .map(|(t, v)| json!([timestamp(*t), format_value(*v)]))
                    .collect();
                json!({"metric": metric(labels), "values": values})
            })
            .collect();
        Ok(json!({"resultType": "matrix", "result": result}))
    })();
    match result {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use storage::{Appendable, MemStorage};
    use tower::ServiceExt as _;

    fn app() -> Router {
        let store = MemStorage::new();
        let mut a = store.appender();
        for (i, job) in ["api", "db"].iter().enumerate() {
            let labels = model::Labels::from_pairs([("__name__", "up"), ("job", job)]);
            for t in 0..10 {
                a.append(None, &labels, t * 15_000, (i + 1) as f64).unwrap();
            }
        }
        a.commit().unwrap();
        router(ApiState {
            storage: Arc::new(store),
            engine: Engine::default(),
            build: BuildInfo {
                version: "1.2.3".into(),
                revision: "abc".into(),
            },
        })
    }

    async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
        let response = app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
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
        let response = app.clone().oneshot(get("/-/ready")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn errors_have_prometheus_types_and_codes() {
        let app = app();
        for (uri, code, kind, message) in [
            (
                "/api/v1/query?query=sum(",
                400,
                "bad_data",
                "invalid parameter \"query\": parse error",
            ),
            (
                "/api/v1/query?query=up&time=yesterday",
                400,
                "bad_data",
                "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp",
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
