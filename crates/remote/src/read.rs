//! Remote read: queries also read the configuration's `remote_read` endpoints (another
//! Prometheus, Thanos, VictoriaMetrics, a long-term store...) with Prometheus's remote read
//! protocol (snappy-compressed protobuf `ReadRequest`, sampled `ReadResponse`), and merge
//! what they answer with the local store's series, as Prometheus does:
//!
//! - Each selector becomes one request to each endpoint, with the selector's matchers, the
//!   querier's time range and the select hints.
//! - `required_matchers`: an endpoint is read only for selectors having every one of these
//!   as an `=` matcher.
//! - `read_recent: false` (the default): an endpoint is read only for times before the
//!   local store's oldest sample; a query entirely after it reads the local store alone.
//! - `filter_external_labels: true` (the default): the server's external labels are added
//!   as `=` matchers, unless the selector already matches that label, and removed from the
//!   series answered.
//! - A series both sides hold is one series: its samples merged, one per timestamp (the
//!   local store's where both have one).
//! - An endpoint that fails does not fail the query: its error becomes a warning beside
//!   the result (`remote_read: ...`), as Prometheus's secondary queriers do.
//!
//! Label names and values (`/api/v1/labels`) come from the local store alone, as in
//! Prometheus 2.42, whose remote read has no such request.
//!
//! Queries are synchronous and requests are not: requests run on a small runtime of the
//! reader's own, and a select waits for them, so that a query may come from any thread,
//! within another runtime or not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use model::{Labels, MatchOp, Matcher, Sample, Timestamp};
use prost::Message as _;
use scrape::config::RemoteReadConfig;
use storage::{
    Appendable, Appender, Querier, Queryable, SelectHints, Series, SeriesSet, StorageError,
    VecIterator,
};

use crate::proto;

/// The oldest timestamp the local store holds, if any.
pub type StartTime = Box<dyn Fn() -> Option<Timestamp> + Send + Sync>;

/// A store whose queries also read remote read endpoints; appends go to the store.
pub struct RemoteRead<S: ?Sized> {
    inner: Arc<S>,
    start_time: StartTime,
    endpoints: RwLock<Vec<Arc<Endpoint>>>,
    runtime: std::sync::OnceLock<tokio::runtime::Runtime>,
}

impl<S: ?Sized> std::fmt::Debug for RemoteRead<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRead").finish_non_exhaustive()
    }
}

impl<S: ?Sized> RemoteRead<S> {
    /// Wraps `inner`, whose oldest sample `start_time` gives; nothing remote is read until
    /// [`apply`](Self::apply) names endpoints.
    pub fn new(inner: Arc<S>, start_time: StartTime) -> Self {
        Self {
            inner,
            start_time,
            endpoints: RwLock::default(),
            runtime: std::sync::OnceLock::new(),
        }
    }

    /// Reads `configs` from now on, with `external_labels` as the server's.
    pub fn apply(
        &self,
        configs: &[RemoteReadConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let endpoints = configs
            .iter()
            .map(|c| Endpoint::new(c, external_labels).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if !endpoints.is_empty() && self.runtime.get().is_none() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("remote-read")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start remote read: {e}"))?;
            if let Err(spare) = self.runtime.set(runtime) {
                spare.shutdown_background();
            }
        }
        *self.endpoints.write().unwrap_or_else(|e| e.into_inner()) = endpoints;
        Ok(())
    }
}

impl<S: ?Sized> Drop for RemoteRead<S> {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed within another one.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl<S: Appendable + ?Sized> Appendable for RemoteRead<S> {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.inner.appender()
    }
}

impl<S: Queryable + ?Sized> Queryable for RemoteRead<S> {
    /// Exemplars are local only: remote read has none to give.
    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[model::Matcher]],
    ) -> Result<Vec<storage::ExemplarSeries>, StorageError> {
        self.inner.select_exemplars(start, end, matcher_sets)
    }

    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        let local = self.inner.querier(mint, maxt)?;
        let endpoints = self
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (Some(runtime), false) = (self.runtime.get(), endpoints.is_empty()) else {
            return Ok(local);
        };
        let mut remotes = Vec::with_capacity(endpoints.len());
        let mut local_start = None;
        for endpoint in endpoints {
            let mut range = (mint, maxt);
            if !endpoint.read_recent {
                // As Prometheus's preferLocalStorage: only what is older than the local
                // store's oldest sample (all of it when the store is empty).
                let start = *local_start.get_or_insert_with(|| (self.start_time)());
                let start = start.unwrap_or(Timestamp::MAX);
                if mint > start {
                    continue;
                }
                range.1 = maxt.min(start);
            }
            remotes.push((endpoint, range));
        }
        if remotes.is_empty() {
            return Ok(local);
        }
        Ok(Box::new(MergeQuerier {
            local,
            remotes,
            runtime: runtime.handle().clone(),
            warnings: Mutex::default(),
        }))
    }
}

/// One endpoint: its client and settings.
struct Endpoint {
    name: String,
    url: String,
    client: reqwest::Client,
    auth: scrape::client::Auth,
    headers: Vec<(String, String)>,
    timeout: Duration,
    read_recent: bool,
    required: Vec<(String, String)>,
    external: Vec<(String, String)>,
}

impl Endpoint {
    fn new(
        config: &RemoteReadConfig,
        external_labels: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let name = if config.name.is_empty() {
            config.url.value.clone()
        } else {
            config.name.clone()
        };
        let pairs = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        Ok(Self {
            client: config
                .http
                .client()
                .map_err(|e| format!("remote_read {name}: {e}"))?,
            auth: config
                .http
                .auth()
                .map_err(|e| format!("remote_read {name}: {e}"))?,
            name,
            url: config.url.value.clone(),
            headers: pairs(&config.headers),
            timeout: config.remote_timeout.std(),
            read_recent: config.read_recent,
            required: pairs(&config.required_matchers),
            external: if config.filter_external_labels {
                pairs(external_labels)
            } else {
                Vec::new()
            },
        })
    }

    /// Whether `matchers` hold every required matcher.
    fn wanted(&self, matchers: &[Matcher]) -> bool {
        self.required.iter().all(|(name, value)| {
            matchers
                .iter()
                .any(|m| m.op == MatchOp::Equal && m.name == *name && m.value == *value)
        })
    }

    /// The request for `matchers` over `range`: the external labels added as matchers
    /// where the selector does not match the label itself; returns the names added.
    fn request(
        &self,
        range: (Timestamp, Timestamp),
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> (proto::ReadRequest, Vec<String>) {
        let mut wire: Vec<proto::LabelMatcher> = matchers
            .iter()
            .map(|m| proto::LabelMatcher {
                r#type: match m.op {
                    MatchOp::Equal => 0,
                    MatchOp::NotEqual => 1,
                    MatchOp::Regex => 2,
                    MatchOp::NotRegex => 3,
                },
                name: m.name.clone(),
                value: m.value.clone(),
            })
            .collect();
        let mut added = Vec::new();
        for (name, value) in &self.external {
            if !matchers.iter().any(|m| m.name == *name) {
                wire.push(proto::LabelMatcher {
                    r#type: 0,
                    name: name.clone(),
                    value: value.clone(),
                });
                added.push(name.clone());
            }
        }
        let query = proto::Query {
            start_timestamp_ms: range.0,
            end_timestamp_ms: range.1,
            matchers: wire,
            // Prometheus sends hints whenever its caller gives them, as its engine and
            // API always do; a caller of Skywatch's that gives none sends none, so that
            // a Prometheus endpoint does not narrow its read to an empty range.
            hints: (*hints != SelectHints::default()).then(|| proto::ReadHints {
                step_ms: hints.step,
                func: hints.func.clone().unwrap_or_default(),
                start_ms: hints.start,
                end_ms: hints.end,
                grouping: hints.grouping.clone(),
                by: hints.by,
                range_ms: hints.range,
            }),
        };
        (
            proto::ReadRequest {
                queries: vec![query],
                accepted_response_types: Vec::new(),
            },
            added,
        )
    }

    /// Sends `request` and decodes the one result.
    async fn read(&self, request: proto::ReadRequest) -> Result<proto::QueryResult, String> {
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .map_err(|e| format!("cannot compress the request: {e}"))?;
        let mut http = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Encoding", "snappy")
            .header("Accept-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0");
        for (name, value) in &self.headers {
            http = http.header(name, value);
        }
        let http = self.auth.apply(http).await?;
        let response = http
            .body(body)
            .send()
            .await
            .map_err(|e| format!("error sending request: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("error reading response: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "remote server {} returned HTTP status {status}: {}",
                self.url,
                String::from_utf8_lossy(&bytes).trim()
            ));
        }
        decode_response(&bytes)
    }
}

/// Decodes the body of a remote read answer (a snappy-compressed `ReadResponse`) to its
/// one result, with Prometheus's errors. The body comes from another server: any bytes
/// are a result or an error.
pub fn decode_response(bytes: &[u8]) -> Result<proto::QueryResult, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(bytes)
        .map_err(|e| format!("error reading response: not snappy-compressed: {e}"))?;
    let mut response = proto::ReadResponse::decode(raw.as_slice())
        .map_err(|e| format!("unable to unmarshal response body: {e}"))?;
    if response.results.len() != 1 {
        return Err(format!("responses: want 1, got {}", response.results.len()));
    }
    Ok(response.results.swap_remove(0))
}

/// The local querier and the endpoints to read, each over its range.
struct MergeQuerier<'a> {
    local: Box<dyn Querier + 'a>,
    remotes: Vec<(Arc<Endpoint>, (Timestamp, Timestamp))>,
    runtime: tokio::runtime::Handle,
    warnings: Mutex<Vec<String>>,
}

impl MergeQuerier<'_> {
    fn warn(&self, text: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&text) {
            w.push(text);
        }
    }

    /// Every wanted endpoint's series for `matchers`, sorted by labels, read at once.
    fn remote_series(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> BTreeMap<Labels, Vec<Sample>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut asked = 0;
        for (endpoint, range) in &self.remotes {
            if !endpoint.wanted(matchers) {
                continue;
            }
            let (request, added) = endpoint.request(*range, hints, matchers);
            let (endpoint, range, tx) = (endpoint.clone(), *range, tx.clone());
            asked += 1;
            self.runtime.spawn(async move {
                let answer = endpoint.read(request).await;
                let _ = tx.send((endpoint, range, added, answer));
            });
        }
        drop(tx);
        let mut out: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for _ in 0..asked {
            let Ok((endpoint, (lo, hi), added, answer)) = rx.recv() else {
                break;
            };
            let result = match answer {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint.name, error = %e, "remote read failed");
                    self.warn(format!("remote_read: {e}"));
                    continue;
                }
            };
            for series in result.timeseries {
                let labels = Labels::from_pairs(
                    series
                        .labels
                        .into_iter()
                        .filter(|l| !added.contains(&l.name))
                        .map(|l| (l.name, l.value)),
                );
                let samples = series
                    .samples
                    .into_iter()
                    .filter(|s| (lo..=hi).contains(&s.timestamp))
                    .map(|s| Sample::new(s.timestamp, s.value));
                let kept = out.entry(labels).or_default();
                kept.extend(samples);
            }
        }
        // A series lookup (`/api/v1/series`) is answered without samples by Prometheus;
        // otherwise a series without samples in range is none.
        let lookup = hints.func.as_deref() == Some("series");
        out.retain(|_, samples| {
            samples.sort_by_key(|s| s.t);
            samples.dedup_by_key(|s| s.t);
            lookup || !samples.is_empty()
        });
        out
    }
}

impl Querier for MergeQuerier<'_> {
    fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        let remote = self.remote_series(hints, matchers);
        let local = self.local.select(hints, matchers)?;
        if remote.is_empty() {
            return Ok(local);
        }
        Ok(Box::new(Merge {
            local: local.peekable(),
            remote: remote.into_iter().peekable(),
        }))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        self.local.label_names(matchers)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        self.local.label_values(name, matchers)
    }

    fn take_warnings(&self) -> Vec<String> {
        let mut out = self.local.take_warnings();
        out.append(&mut self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}

/// The local series and the remote ones, in label order, one series per label set.
struct Merge<'a> {
    local: std::iter::Peekable<SeriesSet<'a>>,
    remote: std::iter::Peekable<std::collections::btree_map::IntoIter<Labels, Vec<Sample>>>,
}

impl<'a> Iterator for Merge<'a> {
    type Item = Result<Series<'a>, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.local.peek(), self.remote.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) | (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(Ok(l)), Some((r, _))) => l.labels.cmp(r),
        };
        match order {
            std::cmp::Ordering::Less => self.local.next(),
            std::cmp::Ordering::Greater => {
                let (labels, samples) = self.remote.next()?;
                Some(Ok(Series {
                    labels,
                    samples: Box::new(VecIterator::new(samples)),
                }))
            }
            std::cmp::Ordering::Equal => {
                let (_, remote) = self.remote.next()?;
                let Some(Ok(mut local)) = self.local.next() else {
                    return None;
                };
                Some(merge_samples(&mut local, remote).map(|samples| Series {
                    labels: local.labels,
                    samples: Box::new(VecIterator::new(samples)),
                }))
            }
        }
    }
}

/// A series' local samples and `remote`'s, in time order, the local one where both have a
/// timestamp.
fn merge_samples(local: &mut Series<'_>, remote: Vec<Sample>) -> Result<Vec<Sample>, StorageError> {
    let local = local.samples.collect_vec()?;
    let mut out = Vec::with_capacity(local.len() + remote.len());
    let (mut l, mut r) = (local.into_iter().peekable(), remote.into_iter().peekable());
    loop {
        let next = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => l.next(),
            (None, Some(_)) => r.next(),
            (Some(a), Some(b)) if a.t < b.t => l.next(),
            (Some(a), Some(b)) if a.t > b.t => r.next(),
            _ => {
                r.next();
                l.next()
            }
        };
        out.extend(next);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use super::*;
    use storage::MemStorage;

    /// What the fake endpoint was asked: each request's headers and decoded body.
    type Asked = Arc<Mutex<Vec<(axum::http::HeaderMap, proto::ReadRequest)>>>;

    /// A remote read endpoint on loopback, on its own thread, answering every query with
    /// `series` (labels, samples) filtered by the query's `=` matchers and range, or with
    /// `status` and a text if it is not 200.
    fn fake_endpoint(series: Vec<(Labels, Vec<(i64, f64)>)>, status: u16) -> (String, Asked) {
        let asked: Asked = Arc::default();
        let seen = asked.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/api/v1/read", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/api/v1/read",
                    axum::routing::post(
                        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                            let (series, seen) = (series.clone(), seen.clone());
                            async move {
                                let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                                let request = proto::ReadRequest::decode(raw.as_slice()).unwrap();
                                seen.lock().unwrap().push((headers, request.clone()));
                                if status != 200 {
                                    return (
                                        axum::http::StatusCode::from_u16(status).unwrap(),
                                        b"store unavailable\n".to_vec(),
                                    );
                                }
                                let q = &request.queries[0];
                                let timeseries = series
                                    .iter()
                                    .filter(|(labels, _)| {
                                        q.matchers.iter().all(|m| {
                                            m.r#type != 0
                                                || labels.get(&m.name).unwrap_or("") == m.value
                                        })
                                    })
                                    .map(|(labels, samples)| proto::TimeSeries {
                                        labels: proto::labels(labels),
                                        samples: samples
                                            .iter()
                                            .filter(|(t, _)| {
                                                (q.start_timestamp_ms..=q.end_timestamp_ms)
                                                    .contains(t)
                                            })
                                            .map(|&(timestamp, value)| proto::Sample {
                                                value,
                                                timestamp,
                                            })
                                            .collect(),
                                        exemplars: Vec::new(),
                                    })
                                    .collect();
                                let response = proto::ReadResponse {
                                    results: vec![proto::QueryResult { timeseries }],
                                };
                                let body = snap::raw::Encoder::new()
                                    .compress_vec(&response.encode_to_vec())
                                    .unwrap();
                                (axum::http::StatusCode::OK, body)
                            }
                        },
                    ),
                );
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        (url, asked)
    }

    fn config(yaml: &str) -> Vec<RemoteReadConfig> {
        scrape::Config::parse(yaml, "p.yml").unwrap().remote_read
    }

    /// A sample to store: its labels, time and value.
    type Stored<'a> = (&'a [(&'a str, &'a str)], i64, f64);

    /// A series found: its labels as text and its samples.
    type Found = Vec<(String, Vec<(i64, f64)>)>;

    fn local(samples: &[Stored<'_>]) -> Arc<MemStorage> {
        let store = Arc::new(MemStorage::new());
        let mut app = store.appender();
        for (labels, t, v) in samples {
            app.append(None, &Labels::from_pairs(labels.iter().copied()), *t, *v)
                .unwrap();
        }
        app.commit().unwrap();
        store
    }

    /// Every series `matchers` select over `[mint, maxt]`, with its samples, and the
    /// warnings.
    fn select(
        store: &RemoteRead<MemStorage>,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> (Found, Vec<String>) {
        let q = store.querier(mint, maxt).unwrap();
        let hints = SelectHints {
            start: mint,
            end: maxt,
            step: 15_000,
            func: Some("rate".into()),
            range: 60_000,
            grouping: vec!["job".into()],
            by: true,
        };
        let found = q
            .select(&hints, matchers)
            .unwrap()
            .map(|s| {
                let mut s = s.unwrap();
                let samples = s.samples.collect_vec().unwrap();
                (
                    s.labels.to_string(),
                    samples.iter().map(|s| (s.t, s.v)).collect(),
                )
            })
            .collect();
        (found, q.take_warnings())
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn queries_merge_the_local_store_with_what_the_endpoint_answers() {
        let (url, asked) = fake_endpoint(
            vec![
                (
                    labels(&[("__name__", "up"), ("job", "a"), ("replica", "r1")]),
                    vec![(1_000, 1.0), (2_000, 1.0), (9_000, 5.0)],
                ),
                (
                    labels(&[("__name__", "up"), ("job", "b"), ("replica", "r1")]),
                    vec![(1_000, 0.0)],
                ),
                (
                    labels(&[("__name__", "up"), ("job", "c"), ("replica", "r2")]),
                    vec![(1_000, 7.0)],
                ),
            ],
            200,
        );
        // The local store starts at 5000 and holds job "a" too, at 2000 and 5000.
        let store = RemoteRead::new(
            local(&[
                (&[("__name__", "up"), ("job", "a")], 2_000, 2.0),
                (&[("__name__", "up"), ("job", "a")], 5_000, 3.0),
            ]),
            Box::new(|| Some(2_000)),
        );
        let external = BTreeMap::from([("replica".to_owned(), "r1".to_owned())]);
        store
            .apply(
                &config(&format!(
                    "remote_read:\n  - url: {url}\n    read_recent: true\n    headers:\n      X-Scope-OrgID: tenant\n"
                )),
                &external,
            )
            .unwrap();
        let (found, warnings) = select(&store, 0, 10_000, &[Matcher::equal("__name__", "up")]);
        assert!(warnings.is_empty(), "{warnings:?}");
        // The external label is matched and stripped; job "a" is one series, the local
        // sample kept where both have one; replica r2 is not this server's.
        assert_eq!(
            found,
            vec![
                (
                    r#"up{job="a"}"#.to_owned(),
                    vec![(1_000, 1.0), (2_000, 2.0), (5_000, 3.0), (9_000, 5.0)]
                ),
                (r#"up{job="b"}"#.to_owned(), vec![(1_000, 0.0)]),
            ]
        );
        let asked = asked.lock().unwrap();
        let (headers, request) = &asked[0];
        assert_eq!(headers["content-encoding"], "snappy");
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["x-prometheus-remote-read-version"], "0.1.0");
        assert_eq!(headers["x-scope-orgid"], "tenant");
        assert_eq!(
            request.queries,
            vec![proto::Query {
                start_timestamp_ms: 0,
                end_timestamp_ms: 10_000,
                matchers: vec![
                    proto::LabelMatcher {
                        r#type: 0,
                        name: "__name__".into(),
                        value: "up".into()
                    },
                    proto::LabelMatcher {
                        r#type: 0,
                        name: "replica".into(),
                        value: "r1".into()
                    },
                ],
                hints: Some(proto::ReadHints {
                    step_ms: 15_000,
                    func: "rate".into(),
                    start_ms: 0,
                    end_ms: 10_000,
                    grouping: vec!["job".into()],
                    by: true,
                    range_ms: 60_000,
                }),
            }]
        );
        assert!(request.accepted_response_types.is_empty());
    }

    #[test]
    fn without_read_recent_only_what_is_older_than_the_local_store_is_read() {
        let (url, asked) = fake_endpoint(
            vec![(
                labels(&[("__name__", "up")]),
                vec![(1_000, 1.0), (3_000, 9.0)],
            )],
            200,
        );
        let store = RemoteRead::new(
            local(&[(&[("__name__", "up")], 2_000, 2.0)]),
            Box::new(|| Some(2_000)),
        );
        store
            .apply(
                &config(&format!("remote_read:\n  - url: {url}\n")),
                &BTreeMap::new(),
            )
            .unwrap();
        let up = [Matcher::equal("__name__", "up")];
        // [0, 4000] reads the endpoint up to the local store's start only.
        let (found, _) = select(&store, 0, 4_000, &up);
        assert_eq!(found[0].1, vec![(1_000, 1.0), (2_000, 2.0)]);
        assert_eq!(
            asked.lock().unwrap()[0].1.queries[0].end_timestamp_ms,
            2_000
        );
        // A range after the local start does not ask the endpoint at all.
        let (found, _) = select(&store, 2_001, 4_000, &up);
        assert!(found.is_empty());
        assert_eq!(asked.lock().unwrap().len(), 1);
        // An empty local store: everything is read.
        let empty = RemoteRead::new(Arc::new(MemStorage::new()), Box::new(|| None));
        empty
            .apply(
                &config(&format!("remote_read:\n  - url: {url}\n")),
                &BTreeMap::new(),
            )
            .unwrap();
        let (found, _) = select(&empty, 0, 4_000, &up);
        assert_eq!(found[0].1, vec![(1_000, 1.0), (3_000, 9.0)]);
    }

    #[test]
    fn required_matchers_and_filter_external_labels_choose_what_is_asked() {
        let (url, asked) = fake_endpoint(
            vec![(
                labels(&[("__name__", "up"), ("job", "node"), ("replica", "r1")]),
                vec![(1_000, 1.0)],
            )],
            200,
        );
        let store = RemoteRead::new(Arc::new(MemStorage::new()), Box::new(|| None));
        let external = BTreeMap::from([("replica".to_owned(), "r1".to_owned())]);
        store
            .apply(
                &config(&format!(
                    "remote_read:\n  - url: {url}\n    filter_external_labels: false\n    required_matchers:\n      job: node\n"
                )),
                &external,
            )
            .unwrap();
        let (found, _) = select(&store, 0, 4_000, &[Matcher::equal("__name__", "up")]);
        assert!(found.is_empty());
        assert!(asked.lock().unwrap().is_empty());
        let (found, _) = select(
            &store,
            0,
            4_000,
            &[
                Matcher::equal("__name__", "up"),
                Matcher::equal("job", "node"),
            ],
        );
        // Without filtering, the external label is neither asked for nor stripped.
        assert_eq!(found[0].0, r#"up{job="node",replica="r1"}"#);
        assert_eq!(asked.lock().unwrap()[0].1.queries[0].matchers.len(), 2);
    }

    #[test]
    fn an_endpoint_that_fails_becomes_a_warning_and_the_local_answer_stands() {
        let (url, _) = fake_endpoint(Vec::new(), 503);
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/api/v1/read", l.local_addr().unwrap())
        };
        let store = RemoteRead::new(
            local(&[(&[("__name__", "up")], 1_000, 1.0)]),
            Box::new(|| Some(1_000)),
        );
        store
            .apply(
                &config(&format!(
                    "remote_read:\n  - url: {url}\n  - url: {closed}\n    read_recent: true\n"
                )),
                &BTreeMap::new(),
            )
            .unwrap();
        let (found, warnings) = select(&store, 0, 4_000, &[Matcher::equal("__name__", "up")]);
        assert_eq!(found, vec![("up{}".to_owned(), vec![(1_000, 1.0)])]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings.iter().any(|w| w
                == &format!(
                    "remote_read: remote server {url} returned HTTP status 503 Service Unavailable: store unavailable"
                )),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("remote_read: error sending request")),
            "{warnings:?}"
        );
    }

    #[test]
    fn an_answer_body_is_one_result_or_an_error_saying_what_it_is_not() {
        let snappy = |m: &proto::ReadResponse| {
            snap::raw::Encoder::new()
                .compress_vec(&m.encode_to_vec())
                .unwrap()
        };
        let one = proto::ReadResponse {
            results: vec![proto::QueryResult::default()],
        };
        assert_eq!(
            decode_response(&snappy(&one)),
            Ok(proto::QueryResult::default())
        );
        let two = proto::ReadResponse {
            results: vec![proto::QueryResult::default(); 2],
        };
        assert_eq!(
            decode_response(&snappy(&two)).unwrap_err(),
            "responses: want 1, got 2"
        );
        let e = decode_response(b"\xff\xff\xff\xff\xff\xff").unwrap_err();
        assert!(e.contains("not snappy-compressed"), "{e}");
        let e =
            decode_response(&snap::raw::Encoder::new().compress_vec(b"\x0a").unwrap()).unwrap_err();
        assert!(e.contains("unable to unmarshal"), "{e}");
    }

    #[test]
    fn the_configuration_is_read_with_prometheus_defaults_and_checks() {
        let c = &config("remote_read:\n  - url: http://lts:9090/api/v1/read\n")[0];
        assert_eq!(c.remote_timeout.std(), Duration::from_secs(60));
        assert!(!c.read_recent && c.filter_external_labels && c.required_matchers.is_empty());
        for (text, error) in [
            (
                "remote_read:\n  - url: ''\n",
                "url for remote_read is empty",
            ),
            (
                "remote_read:\n  - url: http://a\n    headers: {Authorization: x}\n",
                "the authorization header must be set with basic_auth",
            ),
            (
                "remote_read:\n  - url: http://a\n    headers: {X-Prometheus-Remote-Read-Version: x}\n",
                "X-Prometheus-Remote-Read-Version is a reserved header",
            ),
            (
                "remote_read:\n  - url: http://a\n    name: x\n  - url: http://b\n    name: x\n",
                "line 4: remote_read[1]: another remote_read is named \"x\"",
            ),
        ] {
            let e = scrape::Config::parse(text, "p.yml").unwrap_err().message;
            assert!(e.contains(error), "{text}: {e}");
        }
    }
}
