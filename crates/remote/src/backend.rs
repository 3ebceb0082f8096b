//! A query backend: queries read series from another engine's Prometheus HTTP API
//! (Prometheus, Thanos Query, Mimir, VictoriaMetrics) instead of the local store alone, so
//! that Skywatch's PromQL engine, rules, SLOs and UI run over data that engine holds.
//!
//! [`QueryBackend`] wraps the local store. Appends go to the local store (and, through it,
//! to remote write if configured); a querier over `[mint, maxt]` asks the engine:
//!
//! - `select` sends one `POST /api/v1/query` with the selector as a range selector over the
//!   whole range, `{matchers}[<maxt - mint + 1>ms]` at `time = maxt`, whose matrix answer
//!   is every raw sample in the range (the extra millisecond covers Prometheus 3's
//!   left-open ranges; samples outside `[mint, maxt]` are dropped). A series lookup (hints
//!   `func = "series"`, as `/api/v1/series` gives) asks `/api/v1/series` instead, without
//!   samples.
//! - With [`BackendOptions::remote_read`], `select` asks `<URL>/api/v1/read` with remote
//!   read's protocol instead (Prometheus, Mimir: engines that serve it), whose raw samples
//!   keep the staleness markers the query API drops.
//! - `label_names` and `label_values` ask `/api/v1/labels` and `/api/v1/label/<name>/values`
//!   with the matchers as `match[]` and the range as `start`/`end`.
//!
//! The local store's answer is merged in, so that series only Skywatch holds (the
//! recording rules' results and `ALERTS`, its own metrics) are seen too: a series both hold
//! is the engine's samples followed by the local samples after the engine's last one (the
//! tail a remote write has not delivered yet); label names and values are the union.
//!
//! A selector whose every matcher matches the empty value (`{job=~".*"}`) is sent with
//! `__name__=~".+"` added, since Prometheus refuses such selectors and every series it
//! holds has a name. An engine that fails, times out or answers an error fails the read with
//! [`StorageError::Remote`] carrying the engine's own message; its warnings become the
//! querier's.
//!
//! What the HTTP API cannot give, and so a backend cannot either: staleness markers without
//! remote read (the engine drops them from range results, so a series that ended stays
//! visible for the lookback), sample start times and exemplars (exemplars are the local
//! store's).
//!
//! Queries are synchronous and requests are not: requests run on a small runtime of the
//! backend's own, and a read waits for them, so that a query may come from any thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::{Labels, MatchOp, Matcher, Sample, Timestamp};
use serde::Deserialize;
use storage::{Appendable, Appender, Querier, Queryable, SelectHints, SeriesSet, StorageError};

/// The longest range one request asks for: Prometheus's durations stop at about 292
/// years, and no engine holds data from before 1970.
const MAX_RANGE_MS: i64 = 200 * 365 * 86_400_000;

/// The latest time a request names (9999-12-31), past which engines refuse timestamps.
const MAX_TIME_MS: i64 = 253_402_300_799_000;

/// Where the backend is and how to reach it.
#[derive(Debug, Clone)]
pub struct BackendOptions {
    /// The engine's base URL, under which `/api/v1/query` is found (for Mimir, the URL
    /// ending in its Prometheus prefix, such as `http://mimir/prometheus`).
    pub url: String,
    /// Authentication, TLS and proxy settings, as Prometheus's HTTP client configuration.
    pub http: httpclient::HttpClientConfig,
    /// How long one request may take before the read fails.
    pub timeout: Duration,
    /// Read samples with remote read (`<url>/api/v1/read`) rather than the query API.
    pub remote_read: bool,
}

/// A store whose queries read a Prometheus-API engine, merged with the local store's
/// series; appends go to the local store.
pub struct QueryBackend<S: ?Sized> {
    inner: Arc<S>,
    engine: Option<Arc<Engine>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl<S: ?Sized> std::fmt::Debug for QueryBackend<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryBackend")
            .field("url", &self.engine.as_ref().map(|e| &e.url))
            .finish_non_exhaustive()
    }
}

impl<S: ?Sized> QueryBackend<S> {
    /// Wraps `inner`; queries read the engine `options` names, or `inner` alone without
    /// one. Fails if the URL or the client settings are invalid.
    pub fn new(inner: Arc<S>, options: Option<BackendOptions>) -> Result<Self, String> {
        let Some(options) = options else {
            return Ok(Self {
                inner,
                engine: None,
                runtime: None,
            });
        };
        let engine = Engine::new(&options)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("query-backend")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the query backend's client: {e}"))?;
        Ok(Self {
            inner,
            engine: Some(Arc::new(engine)),
            runtime: Some(runtime),
        })
    }

    /// The engine's URL, if queries read one.
    pub fn url(&self) -> Option<&str> {
        self.engine.as_deref().map(|e| e.url.as_str())
    }
}

impl<S: ?Sized> Drop for QueryBackend<S> {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed within another one.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl<S: Appendable + ?Sized> Appendable for QueryBackend<S> {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.inner.appender()
    }
}

impl<S: Queryable + ?Sized> Queryable for QueryBackend<S> {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        let local = self.inner.querier(mint, maxt)?;
        let (Some(engine), Some(runtime)) = (&self.engine, &self.runtime) else {
            return Ok(local);
        };
        Ok(Box::new(BackendQuerier {
            local,
            engine: engine.clone(),
            runtime: runtime.handle().clone(),
            range: (mint, maxt),
            warnings: Mutex::default(),
        }))
    }

    /// Exemplars are the local store's: the engines' exemplar APIs differ.
    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[Matcher]],
    ) -> Result<Vec<storage::ExemplarSeries>, StorageError> {
        self.inner.select_exemplars(start, end, matcher_sets)
    }
}

/// The engine: its URL and client.
struct Engine {
    url: String,
    client: reqwest::Client,
    auth: httpclient::Auth,
    timeout: Duration,
    remote_read: bool,
}

impl Engine {
    fn new(options: &BackendOptions) -> Result<Self, String> {
        let url = options.url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| format!("--query.backend {url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!(
                "--query.backend {url:?} must be an http:// or https:// URL with a host, such as http://prometheus:9090"
            ));
        }
        Ok(Self {
            client: options
                .http
                .client()
                .map_err(|e| format!("query backend {url}: {e}"))?,
            auth: options
                .http
                .auth()
                .map_err(|e| format!("query backend {url}: {e}"))?,
            url,
            timeout: options.timeout,
            remote_read: options.remote_read,
        })
    }

    fn error(&self, message: String) -> StorageError {
        StorageError::Remote {
            endpoint: self.url.clone(),
            message,
        }
    }

    /// Sends `form` to `path` under the engine's URL and returns the answer's `data` and
    /// warnings, or the engine's error. The form is posted, so that long selectors fit,
    /// except to label values, which Prometheus answers on GET only.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: String,
    ) -> Result<(T, Vec<String>), String> {
        let request = if path.ends_with("/values") {
            self.client.get(format!("{}{path}?{form}", self.url))
        } else {
            self.client
                .post(format!("{}{path}", self.url))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form)
        };
        let request = request
            .timeout(self.timeout)
            .header("Accept", "application/json");
        let request = self.auth.apply(request).await?;
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("{path} timed out after {:?}", self.timeout)
            } else {
                format!("{path}: cannot send the request: {e}")
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{path}: cannot read the answer: {e}"))?;
        decode(path, status.as_u16(), &bytes)
    }

    /// Reads `matchers` over `[mint, maxt]` with remote read.
    async fn read(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matchers: &[Matcher],
    ) -> Result<crate::proto::QueryResult, String> {
        let request = crate::proto::ReadRequest {
            queries: vec![crate::proto::Query {
                start_timestamp_ms: mint,
                end_timestamp_ms: maxt,
                matchers: crate::read::wire_matchers(matchers),
                hints: None,
            }],
            accepted_response_types: Vec::new(),
        };
        let url = format!("{}/api/v1/read", self.url);
        let http = self.client.post(&url).timeout(self.timeout);
        crate::read::send(self.auth.apply(http).await?, &url, &request)
            .await
            .map_err(|e| format!("/api/v1/read: {e}"))
    }

    /// Runs `call` on `runtime` and waits for it.
    fn blocking<T: serde::de::DeserializeOwned + Send + 'static>(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        path: String,
        form: String,
    ) -> Result<(T, Vec<String>), StorageError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = self.clone();
        runtime.spawn(async move {
            let _ = tx.send(engine.call::<T>(&path, form).await);
        });
        rx.recv()
            .map_err(|_| self.error("the request was abandoned".into()))?
            .map_err(|e| self.error(e))
    }
}

/// An answer of the Prometheus HTTP API.
#[derive(Deserialize)]
struct Answer<T> {
    status: String,
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    warnings: Vec<String>,
}

/// Reads an answer of the Prometheus HTTP API: its data and warnings, or the engine's
/// error in its own words.
fn decode<T: serde::de::DeserializeOwned>(
    path: &str,
    status: u16,
    body: &[u8],
) -> Result<(T, Vec<String>), String> {
    let answer: Answer<T> = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let shown: String = text.chars().take(200).collect();
            return Err(if (200..300).contains(&status) {
                format!("{path}: the answer is not the Prometheus API's JSON ({e}): {shown}")
            } else {
                format!("{path}: HTTP status {status}: {shown}")
            });
        }
    };
    match (answer.status.as_str(), answer.data) {
        ("success", Some(data)) => Ok((data, answer.warnings)),
        ("success", None) => Err(format!("{path}: the answer has no data")),
        _ => Err(format!(
            "{path}: {} (HTTP status {status}, errorType {})",
            answer.error, answer.error_type
        )),
    }
}

/// A matrix answer's data.
#[derive(Deserialize)]
struct Matrix {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<MatrixSeries>,
}

/// One series of a matrix answer.
#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A value as the API writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Milliseconds as the API's seconds, exactly (`1700000000.123`).
fn seconds(t: Timestamp) -> String {
    format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000))
}

/// A PromQL string literal of `text`.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The selector of `matchers`, `__name__=~".+"` added if each matches the empty value.
fn selector(matchers: &[Matcher]) -> String {
    let mut parts: Vec<String> = matchers
        .iter()
        .map(|m| format!("{}{}{}", m.name, m.op, quote(&m.value)))
        .collect();
    if matchers.iter().all(Matcher::matches_empty) {
        parts.push(format!(
            "{}{}{}",
            model::METRIC_NAME,
            MatchOp::Regex,
            quote(".+")
        ));
    }
    format!("{{{}}}", parts.join(","))
}

/// The times a request over `[mint, maxt]` names: within what engines accept.
fn clamp(mint: Timestamp, maxt: Timestamp) -> (Timestamp, Timestamp) {
    let hi = maxt.clamp(0, MAX_TIME_MS);
    (mint.clamp(0, hi), hi)
}

/// The range a range selector over `[mint, maxt]` covers: as [`clamp`], and at most
/// [`MAX_RANGE_MS`] long, ending no later than a day after `now` if it would be longer
/// (as for a read with no bounds).
fn clamp_range(mint: Timestamp, maxt: Timestamp, now: Timestamp) -> (Timestamp, Timestamp) {
    let (lo, mut hi) = clamp(mint, maxt);
    if hi - lo > MAX_RANGE_MS {
        hi = hi.min(now.saturating_add(86_400_000)).max(lo);
    }
    (lo.max(hi - MAX_RANGE_MS), hi)
}

/// Milliseconds since the epoch.
fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            Timestamp::try_from(d.as_millis()).unwrap_or(Timestamp::MAX)
        })
}

/// A querier over the engine and the local store.
struct BackendQuerier<'a> {
    local: Box<dyn Querier + 'a>,
    engine: Arc<Engine>,
    runtime: tokio::runtime::Handle,
    range: (Timestamp, Timestamp),
    warnings: Mutex<Vec<String>>,
}

impl BackendQuerier<'_> {
    fn warn(&self, warnings: Vec<String>) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        for text in warnings {
            if !w.contains(&text) {
                w.push(text);
            }
        }
    }

    /// A form of `pairs`, each matcher set as `match[]`, the range as `start` and `end`.
    fn form(&self, pairs: &[(&str, String)], matchers: &[Matcher]) -> String {
        let (lo, hi) = clamp(self.range.0, self.range.1);
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            form.append_pair(k, v);
        }
        if !matchers.is_empty() {
            form.append_pair("match[]", &selector(matchers));
        }
        form.append_pair("start", &seconds(lo));
        form.append_pair("end", &seconds(hi));
        form.finish()
    }

    /// The engine's series for `matchers` with their samples in range by remote read,
    /// sorted by labels.
    fn read_series(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Sample>)>, StorageError> {
        let (mint, maxt) = self.range;
        let (tx, rx) = std::sync::mpsc::channel();
        let (engine, owned) = (self.engine.clone(), matchers.to_vec());
        self.runtime.spawn(async move {
            let _ = tx.send(engine.read(mint, maxt, &owned).await);
        });
        let result = rx
            .recv()
            .map_err(|_| self.engine.error("the request was abandoned".into()))?
            .map_err(|e| self.engine.error(e))?;
        let mut out: Vec<(Labels, Vec<Sample>)> = result
            .timeseries
            .into_iter()
            .map(|series| {
                let labels =
                    Labels::from_pairs(series.labels.into_iter().map(|l| (l.name, l.value)));
                let mut samples: Vec<Sample> = series
                    .samples
                    .into_iter()
                    .filter(|s| (mint..=maxt).contains(&s.timestamp))
                    .map(|s| Sample::new(s.timestamp, s.value))
                    .collect();
                samples.sort_by_key(|s| s.t);
                samples.dedup_by_key(|s| s.t);
                (labels, samples)
            })
            .filter(|(_, samples)| !samples.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The engine's series for `matchers` with their samples in range, sorted by labels.
    fn remote_series(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Sample>)>, StorageError> {
        if self.engine.remote_read {
            return self.read_series(matchers);
        }
        let (mint, maxt) = self.range;
        let (lo, hi) = clamp_range(mint, maxt, now_ms());
        if mint > maxt || maxt < 0 {
            return Ok(Vec::new());
        }
        let query = format!("{}[{}ms]", selector(matchers), hi - lo + 1);
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("query", &query);
        form.append_pair("time", &seconds(hi));
        let (matrix, warnings): (Matrix, _) =
            self.engine
                .blocking(&self.runtime, "/api/v1/query".into(), form.finish())?;
        self.warn(warnings);
        if matrix.result_type != "matrix" {
            return Err(self.engine.error(format!(
                "/api/v1/query answered {query} with a {}, not a matrix",
                matrix.result_type
            )));
        }
        let mut out = Vec::with_capacity(matrix.result.len());
        for series in matrix.result {
            let labels = Labels::from_pairs(series.metric);
            let mut samples = Vec::with_capacity(series.values.len());
            for (t, v) in series.values {
                let t = (t * 1000.0).round() as Timestamp;
                let v = parse_value(&v).ok_or_else(|| {
                    self.engine.error(format!(
                        "/api/v1/query: {labels} has the value {v:?} at {t}, which is not a number"
                    ))
                })?;
                if (mint..=maxt).contains(&t) {
                    samples.push(Sample::new(t, v));
                }
            }
            samples.sort_by_key(|s| s.t);
            samples.dedup_by_key(|s| s.t);
            if !samples.is_empty() {
                out.push((labels, samples));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The engine's series for `matchers`, without samples (`/api/v1/series`).
    fn remote_lookup(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Sample>)>, StorageError> {
        let form = self.form(&[], matchers);
        let (found, warnings): (Vec<BTreeMap<String, String>>, _) =
            self.engine
                .blocking(&self.runtime, "/api/v1/series".into(), form)?;
        self.warn(warnings);
        let mut out: Vec<(Labels, Vec<Sample>)> = found
            .into_iter()
            .map(|m| (Labels::from_pairs(m), Vec::new()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    /// The sorted union of the engine's answer at `path` and `local`.
    fn union(
        &self,
        path: String,
        matchers: &[Matcher],
        local: Vec<String>,
    ) -> Result<Vec<String>, StorageError> {
        let form = self.form(&[], matchers);
        let (mut names, warnings): (Vec<String>, _) =
            self.engine.blocking(&self.runtime, path, form)?;
        self.warn(warnings);
        names.extend(local);
        names.sort();
        names.dedup();
        Ok(names)
    }
}

impl Querier for BackendQuerier<'_> {
    fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        let remote = if hints.func.as_deref() == Some("series") {
            self.remote_lookup(matchers)?
        } else {
            self.remote_series(matchers)?
        };
        let local = self.local.select(hints, matchers)?;
        if remote.is_empty() {
            return Ok(local);
        }
        Ok(Box::new(crate::read::Merge {
            local: local.peekable(),
            remote: remote.into_iter().peekable(),
            combine: after_last,
        }))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let local = self.local.label_names(matchers)?;
        self.union("/api/v1/labels".into(), matchers, local)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let local = self.local.label_values(name, matchers)?;
        let segment: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        self.union(format!("/api/v1/label/{segment}/values"), matchers, local)
    }

    fn take_warnings(&self) -> Vec<String> {
        let mut out = self.local.take_warnings();
        out.append(&mut self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}

/// The engine's samples of a series, then the local ones after the engine's last.
fn after_last(mut remote: Vec<Sample>, local: Vec<Sample>) -> Vec<Sample> {
    let last = remote.last().map_or(Timestamp::MIN, |s| s.t);
    remote.extend(local.into_iter().filter(|s| s.t > last));
    remote
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use super::*;

    #[test]
    fn selectors_quote_values_and_always_have_a_matcher_that_needs_a_value() {
        let re = |n: &str, v: &str| Matcher::new(MatchOp::Regex, n, v).unwrap();
        assert_eq!(
            selector(&[Matcher::equal("__name__", "up"), re("job", "a\\.b|\"c\"")]),
            r#"{__name__="up",job=~"a\\.b|\"c\""}"#
        );
        assert_eq!(
            selector(&[re("job", ".*")]),
            r#"{job=~".*",__name__=~".+"}"#
        );
        assert_eq!(selector(&[]), r#"{__name__=~".+"}"#);
    }

    #[test]
    fn times_are_exact_seconds_within_what_engines_accept() {
        assert_eq!(seconds(1_700_000_000_123), "1700000000.123");
        assert_eq!(seconds(5), "0.005");
        assert_eq!(clamp(i64::MIN, i64::MAX), (0, MAX_TIME_MS));
        assert_eq!(clamp(-5, 10_000), (0, 10_000));
        assert_eq!(clamp(1_000, 2_000), (1_000, 2_000));
        let now = 1_700_000_000_000;
        assert_eq!(clamp_range(i64::MIN, i64::MAX, now), (0, now + 86_400_000));
        assert_eq!(clamp_range(-5, 10_000, now), (0, 10_000));
        let far = MAX_TIME_MS - 1;
        assert_eq!(clamp_range(far - 5, far, now), (far - 5, far));
    }

    #[test]
    fn answers_give_data_and_warnings_or_the_engines_own_error() {
        let ok = br#"{"status":"success","data":["a","b"],"warnings":["w"]}"#;
        let (data, warnings): (Vec<String>, _) = decode("/api/v1/labels", 200, ok).unwrap();
        assert_eq!(
            (data, warnings),
            (vec!["a".into(), "b".into()], vec!["w".into()])
        );
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        let e = decode::<Vec<String>>("/api/v1/query", 400, bad).unwrap_err();
        assert_eq!(
            e,
            "/api/v1/query: parse error at char 3 (HTTP status 400, errorType bad_data)"
        );
        let e = decode::<Vec<String>>("/api/v1/query", 502, b"Bad Gateway\n").unwrap_err();
        assert_eq!(e, "/api/v1/query: HTTP status 502: Bad Gateway");
        let e = decode::<Vec<String>>("/api/v1/query", 200, b"<html>").unwrap_err();
        assert!(e.contains("not the Prometheus API's JSON"), "{e}");
    }

    #[test]
    fn values_are_read_as_the_api_writes_them() {
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_value("1e-3"), Some(0.001));
        assert_eq!(parse_value("x"), None);
    }

    #[test]
    fn a_series_both_hold_is_the_engines_then_the_local_tail() {
        let s = |t: i64, v: f64| Sample::new(t, v);
        let pairs = |v: Vec<Sample>| v.iter().map(|s| (s.t, s.v)).collect::<Vec<_>>();
        let merged = after_last(
            vec![s(1_000, 1.0), s(2_000, 2.0)],
            vec![s(1_500, 9.0), s(2_000, 9.0), s(3_000, 3.0)],
        );
        assert_eq!(
            pairs(merged),
            vec![(1_000, 1.0), (2_000, 2.0), (3_000, 3.0)]
        );
        assert_eq!(
            pairs(after_last(Vec::new(), vec![s(5, 5.0)])),
            vec![(5, 5.0)]
        );
    }
}
