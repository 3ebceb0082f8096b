//! Remote write against a receiver on loopback that decodes what it gets as a remote write
//! 1.0 endpoint does (snappy, protobuf) and answers as it is told: samples arrive with the
//! external labels and write relabelling applied, in order, retried on 5xx, dropped and
//! counted on 4xx; an outage and a restart of the sender in it lose nothing and send
//! nothing twice; shards keep each series in order; exemplars and metadata are sent.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::Labels;
use prost::Message as _;
use remote::RemoteWrite;
use remote::proto::WriteRequest;
use storage::{Appendable, MemStorage, Queryable as _};

#[derive(Default)]
struct Receiver {
    /// Statuses to answer with, in order; 204 once they run out.
    statuses: VecDeque<u16>,
    /// What was received with a success status: (labels, timestamp, value).
    got: Vec<(String, i64, f64)>,
    /// Exemplars received: (series, exemplar labels, timestamp).
    exemplars: Vec<(String, String, i64)>,
    /// Metadata received: (family, type, help).
    metadata: Vec<(String, i32, String)>,
    requests: usize,
    /// Answers 503 to everything while set: an outage.
    down: bool,
}

async fn receiver(state: Arc<Mutex<Receiver>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    assert_eq!(headers["content-encoding"], "snappy");
                    assert_eq!(headers["content-type"], "application/x-protobuf");
                    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
                    assert_eq!(headers["authorization"], "Bearer rw-token");
                    assert_eq!(headers["x-scope-orgid"], "validators");
                    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                    let request = WriteRequest::decode(raw.as_slice()).unwrap();
                    let mut state = state.lock().unwrap();
                    state.requests += 1;
                    let status = if state.down {
                        503
                    } else {
                        state.statuses.pop_front().unwrap_or(204)
                    };
                    if status < 300 {
                        for ts in request.timeseries {
                            let labels = joined(&ts.labels);
                            for s in ts.samples {
                                state.got.push((labels.clone(), s.timestamp, s.value));
                            }
                            for e in ts.exemplars {
                                state.exemplars.push((
                                    labels.clone(),
                                    joined(&e.labels),
                                    e.timestamp,
                                ));
                            }
                        }
                        for m in request.metadata {
                            state
                                .metadata
                                .push((m.metric_family_name, m.r#type, m.help));
                        }
                    }
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn joined(labels: &[remote::proto::Label]) -> String {
    labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect::<Vec<_>>()
        .join(",")
}

fn config(addr: std::net::SocketAddr) -> scrape::Config {
    config_with(addr, "", "")
}

/// The test destination, with more `remote_write` settings and `queue_config` settings.
fn config_with(addr: std::net::SocketAddr, more: &str, queue: &str) -> scrape::Config {
    scrape::Config::parse(
        &format!(
            "global:\n  external_labels:\n    cluster: eu\nremote_write:\n  - url: http://{addr}/api/v1/write\n    authorization:\n      credentials: rw-token\n    headers:\n      X-Scope-OrgID: validators\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'go_.*'\n        action: drop\n{more}    queue_config:\n      max_samples_per_send: 2\n      batch_send_deadline: 50ms\n      min_backoff: 10ms\n      max_backoff: 20ms\n{queue}"
        ),
        "test.yml",
    )
    .unwrap()
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what}: not within 5 s");
}

fn append(store: &RemoteWrite<MemStorage>, samples: &[(&str, i64, f64)]) {
    let mut app = store.appender();
    for (name, t, v) in samples {
        app.append(
            None,
            &Labels::from_pairs([("__name__", *name), ("node", "a")]),
            *t,
            *v,
        )
        .unwrap();
    }
    app.commit().unwrap();
}

#[tokio::test]
async fn samples_arrive_relabelled_and_in_order_retried_on_5xx() {
    let state = Arc::new(Mutex::new(Receiver {
        statuses: VecDeque::from([500, 503]),
        ..Receiver::default()
    }));
    let addr = receiver(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), dir.path().join("remote_write"));
    let c = config(addr);
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    append(
        &store,
        &[
            ("up", 1000, 1.0),
            ("go_threads", 1000, 9.0),
            ("up", 2000, 0.0),
        ],
    );
    append(&store, &[("up", 3000, 1.0)]);
    eventually("three samples to arrive", || {
        state.lock().unwrap().got.len() == 3
    })
    .await;
    let got = state.lock().unwrap().got.clone();
    let series = "__name__=up,cluster=eu,node=a".to_owned();
    assert_eq!(
        got,
        [
            (series.clone(), 1000, 1.0),
            (series.clone(), 2000, 0.0),
            (series, 3000, 1.0)
        ]
    );
    let stats = &store.stats()[0];
    // The first batch (two samples) was refused twice before it went.
    assert_eq!((stats.sent, stats.failed, stats.retried), (3, 0, 4));
    // Exemplars go to the store through the transaction (and to the destinations only
    // with send_exemplars) and are read back through the wrapper.
    let up = Labels::from_pairs([("__name__", "up"), ("node", "a")]);
    let mut app = store.appender();
    let r = app.append(None, &up, 4000, 1.0).unwrap();
    let exemplar = storage::Exemplar {
        labels: Labels::from_pairs([("trace_id", "ab")]),
        value: 1.0,
        t: 4000,
        has_timestamp: true,
    };
    app.append_exemplar(Some(r), &up, exemplar.clone()).unwrap();
    app.commit().unwrap();
    let found = store.select_exemplars(0, i64::MAX, &[&[]]).unwrap();
    assert_eq!(
        found,
        [storage::ExemplarSeries {
            series: up,
            exemplars: vec![exemplar],
        }]
    );
    store.stop();
}

#[tokio::test]
async fn a_refused_batch_is_dropped_and_counted() {
    let state = Arc::new(Mutex::new(Receiver {
        statuses: VecDeque::from([400]),
        ..Receiver::default()
    }));
    let addr = receiver(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), dir.path().join("remote_write"));
    let c = config(addr);
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    append(&store, &[("up", 1000, 1.0), ("up", 2000, 1.0)]);
    eventually("the refusal to be counted", || store.stats()[0].failed == 2).await;
    append(&store, &[("up", 3000, 1.0)]);
    eventually("the next sample to arrive", || {
        state.lock().unwrap().got.len() == 1
    })
    .await;
    assert_eq!(state.lock().unwrap().requests, 2);
    store.stop();
}

/// Appends `n` samples (t = 1..=n) of each of `series` series, one commit per timestamp.
fn append_many(store: &RemoteWrite<MemStorage>, series: usize, from: i64, to: i64) {
    for t in from..=to {
        let mut app = store.appender();
        for s in 0..series {
            let name = format!("s{s}");
            app.append(
                None,
                &Labels::from_pairs([("__name__", name.as_str()), ("node", "a")]),
                t,
                t as f64,
            )
            .unwrap();
        }
        app.commit().unwrap();
    }
}

/// Every series got exactly the timestamps `from..=to`, in order.
fn check_each_series(got: &[(String, i64, f64)], series: usize, from: i64, to: i64) {
    for s in 0..series {
        let name = format!("__name__=s{s},cluster=eu,node=a");
        let times: Vec<i64> = got.iter().filter(|g| g.0 == name).map(|g| g.1).collect();
        assert_eq!(times, (from..=to).collect::<Vec<_>>(), "series {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_restart_in_it_lose_nothing_and_send_nothing_twice() {
    let state = Arc::new(Mutex::new(Receiver::default()));
    let addr = receiver(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let queues = dir.path().join("remote_write");
    let c = config_with(
        addr,
        "",
        "      min_shards: 4\n      max_shards: 4\n      capacity: 10\n",
    );
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), queues.clone());
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    append_many(&store, 8, 1, 20);
    eventually("the first samples to arrive", || {
        state.lock().unwrap().got.len() == 8 * 20
    })
    .await;
    assert_eq!(store.stats()[0].shards, 4);
    // The receiver goes down; samples keep coming and wait on disk.
    state.lock().unwrap().down = true;
    append_many(&store, 8, 21, 60);
    eventually("sends to fail", || store.stats()[0].retried > 0).await;
    store.shutdown(Duration::from_secs(5)).await;
    // The sender restarts during the outage and takes more samples.
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), queues);
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    assert!(store.stats()[0].pending > 0, "{:?}", store.stats());
    append_many(&store, 8, 61, 80);
    state.lock().unwrap().down = false;
    eventually("every sample to arrive", || {
        state.lock().unwrap().got.len() >= 8 * 80
    })
    .await;
    // A moment more: nothing further (no duplicate) comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = state.lock().unwrap().got.clone();
    assert_eq!(got.len(), 8 * 80);
    check_each_series(&got, 8, 1, 80);
    eventually("nothing to be pending", || store.stats()[0].pending == 0).await;
    store.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_queue_config_resumes_the_same_log() {
    let state = Arc::new(Mutex::new(Receiver {
        down: true,
        ..Receiver::default()
    }));
    let addr = receiver(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), dir.path().join("remote_write"));
    let c = config_with(addr, "", "      min_shards: 2\n");
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    append_many(&store, 3, 1, 10);
    eventually("sends to fail", || store.stats()[0].retried > 0).await;
    let c = config_with(addr, "", "      min_shards: 3\n");
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    state.lock().unwrap().down = false;
    eventually("every sample to arrive", || {
        state.lock().unwrap().got.len() >= 3 * 10
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = state.lock().unwrap().got.clone();
    check_each_series(&got, 3, 1, 10);
    assert_eq!(store.stats()[0].shards, 3);
    store.stop();
}

#[tokio::test]
async fn exemplars_and_metadata_are_sent_when_asked() {
    let state = Arc::new(Mutex::new(Receiver::default()));
    let addr = receiver(state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), dir.path().join("remote_write"));
    store.set_metadata_source(Arc::new(|| {
        vec![remote::Metadata {
            family: "up".into(),
            kind: "gauge".into(),
            help: "Whether the target answered.".into(),
            unit: String::new(),
        }]
    }));
    let c = config_with(
        addr,
        "    send_exemplars: true\n    metadata_config:\n      send_interval: 100ms\n",
        "",
    );
    store
        .apply(&c.remote_write, &c.global.external_labels)
        .unwrap();
    let up = Labels::from_pairs([("__name__", "up"), ("node", "a")]);
    let mut app = store.appender();
    let r = app.append(None, &up, 4000, 1.0).unwrap();
    let exemplar = storage::Exemplar {
        labels: Labels::from_pairs([("trace_id", "ab")]),
        value: 1.0,
        t: 4000,
        has_timestamp: true,
    };
    app.append_exemplar(Some(r), &up, exemplar).unwrap();
    app.commit().unwrap();
    eventually("the exemplar and the metadata to arrive", || {
        let s = state.lock().unwrap();
        !s.exemplars.is_empty() && !s.metadata.is_empty()
    })
    .await;
    let s = state.lock().unwrap();
    assert_eq!(
        s.exemplars[0],
        (
            "__name__=up,cluster=eu,node=a".to_owned(),
            "trace_id=ab".to_owned(),
            4000
        )
    );
    assert_eq!(
        s.metadata[0],
        (
            "up".to_owned(),
            2,
            "Whether the target answered.".to_owned()
        )
    );
    drop(s);
    let stats = &store.stats()[0];
    assert_eq!((stats.sent, stats.exemplars), (1, 1));
    assert!(stats.metadata >= 1);
    store.stop();
}
