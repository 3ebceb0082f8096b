//! Remote write against a receiver on loopback that decodes what it gets as a remote write
//! 1.0 endpoint does (snappy, protobuf) and answers as it is told: samples arrive with the
//! external labels and write relabelling applied, in order, retried on 5xx, dropped and
//! counted on 4xx.

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
    requests: usize,
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
                    let status = state.statuses.pop_front().unwrap_or(204);
                    if status < 300 {
                        for ts in request.timeseries {
                            let labels: Vec<String> = ts
                                .labels
                                .iter()
                                .map(|l| format!("{}={}", l.name, l.value))
                                .collect();
                            for s in ts.samples {
                                state.got.push((labels.join(","), s.timestamp, s.value));
                            }
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

fn config(addr: std::net::SocketAddr) -> scrape::Config {
    scrape::Config::parse(
        &format!(
            "global:\n  external_labels:\n    cluster: eu\nremote_write:\n  - url: http://{addr}/api/v1/write\n    authorization:\n      credentials: rw-token\n    headers:\n      X-Scope-OrgID: validators\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: 'go_.*'\n        action: drop\n    queue_config:\n      max_samples_per_send: 2\n      batch_send_deadline: 50ms\n      min_backoff: 10ms\n      max_backoff: 20ms\n"
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
    let store = RemoteWrite::new(Arc::new(MemStorage::new()));
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
    // Exemplars go to the store through the transaction (not to the destinations) and
    // are read back through the wrapper.
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
    let store = RemoteWrite::new(Arc::new(MemStorage::new()));
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
