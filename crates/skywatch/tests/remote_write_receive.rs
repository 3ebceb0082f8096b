//! Remote write into Skywatch from real senders.
//!
//! - Prometheus 2.42 scrapes three targets and sends everything by `remote_write` (1.0) to
//!   `skywatch up`, which scrapes the same targets itself. Afterwards every series
//!   Prometheus holds is in Skywatch with every sample: `count_over_time` per series over
//!   the whole run is equal on both sides. Skywatch's own scrapes give the same series.
//!   The run lasts [`RUN`] (`SKYWATCH_PEER_SECONDS` overrides it;
//!   `scripts/remote-write-peers --full` runs the five minutes).
//! - 2.0: a request built by `remote::v2::encode_v2` posted to a live `skywatch up` is
//!   written (204 and the written headers), and reads back the same; and one `skywatch up`
//!   sending to another with `protobuf_message: io.prometheus.write.v2.Request` gives the
//!   receiver every sample the sender holds, with the families' metadata.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the run's series and samples are reported for the record (scripts/remote-write-peers)"
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{get_json, start_prometheus, start_skywatch, start_skywatch_with};
use model::Labels;
use prost::Message as _;

/// How long both scrape in CI: 45 one-second scrapes of each target.
const RUN: Duration = Duration::from_secs(45);

/// The run's length: [`RUN`], or `SKYWATCH_PEER_SECONDS`.
fn run_length() -> Duration {
    std::env::var("SKYWATCH_PEER_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(RUN, Duration::from_secs)
}

/// A target on loopback with `series` counters and a gauge, all moving on every scrape.
fn exporter(series: usize) -> String {
    common::serve_counted("text/plain; version=0.0.4", move |n| {
        let mut body =
            String::from("# HELP work_done_total Work done.\n# TYPE work_done_total counter\n");
        for i in 0..series {
            body += &format!("work_done_total{{kind=\"k{i}\"}} {}\n", n * (i + 1));
        }
        body + &format!("# TYPE queue_depth gauge\nqueue_depth {}\n", n % 7)
    })
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `count_over_time` of every series matching `selector` (label matchers, without
/// braces) over `range` at `time`, by its labels (name included) without `drop`: one query
/// per metric name, since `count_over_time` drops the name.
fn counts(
    client: &reqwest::blocking::Client,
    addr: &str,
    selector: &str,
    range: u64,
    time: f64,
    drop: &str,
) -> BTreeMap<String, u64> {
    let names = get_json(client, addr, "/api/v1/label/__name__/values");
    let mut out = BTreeMap::new();
    for name in names["data"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "query",
                &format!("count_over_time({{__name__=\"{name}\",{selector}}}[{range}s])"),
            )
            .append_pair("time", &format!("{time:.3}"))
            .finish();
        let answer = get_json(client, addr, &format!("/api/v1/query?{query}"));
        assert_eq!(answer["status"], "success", "{addr} {query}: {answer}");
        for s in answer["data"]["result"].as_array().unwrap() {
            let mut labels = s["metric"].as_object().unwrap().clone();
            labels.remove(drop);
            labels.insert("__name__".into(), name.into());
            let key = serde_json::Value::Object(labels).to_string();
            let n = s["value"][1].as_str().unwrap().parse().unwrap();
            out.insert(key, n);
        }
    }
    out
}

#[test]
fn prometheus_remote_write_to_skywatch_loses_no_series_and_no_sample() {
    let run = run_length();
    let dir = tempfile::tempdir().unwrap();
    let targets: Vec<String> = (0..3).map(|_| exporter(10)).collect();
    let scrape = format!(
        "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{}]\n",
        targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sky_config = dir.path().join("skywatch.yml");
    std::fs::write(
        &sky_config,
        format!("global:\n  scrape_interval: 1s\n{scrape}"),
    )
    .unwrap();
    let (_skywatch, sky) = start_skywatch_with(
        &dir.path().join("sky"),
        &["--config".as_ref(), sky_config.as_os_str()],
    );
    // Prometheus's series arrive with `sender="prometheus"`, apart from Skywatch's own
    // scrapes of the same targets.
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    sender: prometheus\n{scrape}\
             remote_write:\n  - url: http://{sky}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n    metadata_config:\n      send_interval: 5s\n"
        ),
    )
    .unwrap();
    let (_prometheus, prom) = start_prometheus(&prom_config, &dir.path().join("prom"), &[]);
    let began = now_s();
    std::thread::sleep(run);
    // The samples up to a moment past the run, on both sides; the range covers the run.
    let at = now_s() - 2.0;
    let range = (at - began).ceil() as u64 + 30;
    let client = reqwest::blocking::Client::new();
    let theirs = counts(&client, &prom, "job=~\".+\"", range, at, "");
    // Prometheus starts scraping a few seconds into the run.
    let expected_scrapes = run.as_secs() * 2 / 3;
    let target_series = theirs
        .keys()
        .filter(|k| k.contains("work_done_total"))
        .count();
    assert_eq!(
        target_series, 30,
        "Prometheus scraped 3 targets of 10 counters: {theirs:?}"
    );
    assert!(
        theirs.values().all(|&n| n >= expected_scrapes),
        "Prometheus scraped about every second: {theirs:?}"
    );
    // Everything Prometheus holds up to `at` arrives, every series with every sample.
    let mut ours = BTreeMap::new();
    let waited = std::time::Instant::now();
    while waited.elapsed() < Duration::from_secs(60) {
        ours = counts(&client, &sky, "sender=\"prometheus\"", range, at, "sender");
        if ours == theirs {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let missing: Vec<_> = theirs
        .iter()
        .filter(|(k, n)| ours.get(*k) != Some(n))
        .map(|(k, n)| format!("{k}: Prometheus {n}, Skywatch {:?}", ours.get(k)))
        .collect();
    assert!(
        missing.is_empty() && ours.len() == theirs.len(),
        "{} of {} series differ:\n{}",
        missing.len(),
        theirs.len(),
        missing.join("\n")
    );
    // Skywatch's own scrapes of the same targets give the same target series, each sample
    // of a one-second interval: counted over the run's second half, when both scrape (they
    // scrape at their own offsets, so a count may differ by the scrape in flight at either
    // end).
    let half = run.as_secs() / 2;
    let own = counts(&client, &sky, "job=\"node\",sender=\"\"", half, at, "");
    let prometheus_own = counts(&client, &prom, "job=\"node\"", half, at, "");
    for (series, n) in prometheus_own
        .iter()
        .filter(|(k, _)| k.contains("work_done_total"))
    {
        let mine = own
            .get(series)
            .unwrap_or_else(|| panic!("Skywatch did not scrape {series}: {own:?}"));
        assert!(
            mine.abs_diff(*n) <= 2,
            "{series}: Prometheus {n}, Skywatch's own {mine}"
        );
    }
    // The receiver counted what it took.
    let received = common::metric_value(
        &client,
        &sky,
        "skywatch_remote_write_samples_received_total",
    )
    .unwrap();
    let total: u64 = theirs.values().sum();
    assert!(
        received >= total as f64,
        "received {received}, Prometheus holds {total}"
    );
    eprintln!(
        "{} series, {total} samples over {}s, all equal",
        theirs.len(),
        run.as_secs()
    );
}

#[test]
fn a_v2_request_round_trips_through_a_live_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = start_skywatch(&dir.path().join("data"));
    let now = (now_s() * 1000.0) as i64;
    let series: Vec<remote::v2::Series> = (0..5)
        .map(|i| remote::v2::Series {
            labels: Labels::from_pairs([("__name__", "orders_total"), ("shop", &format!("s{i}"))]),
            samples: (0..10)
                .map(|k| (now - 10_000 + k * 1000, (k * i) as f64))
                .collect(),
            exemplars: vec![(
                Labels::from_pairs([("trace_id", &format!("{i:032x}"))]),
                1.0,
                now - 1000,
            )],
            kind: "counter".into(),
            help: "Orders taken.".into(),
            unit: String::new(),
            created_timestamp: now - 60_000,
        })
        .collect();
    let body = snap::raw::Encoder::new()
        .compress_vec(&remote::v2::encode_v2(&series).encode_to_vec())
        .unwrap();

    let client = reqwest::blocking::Client::new();
    let post = |body: Vec<u8>| {
        client
            .post(format!("http://{addr}/api/v1/write"))
            .header("content-type", remote::v2::CONTENT_TYPE)
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "2.0.0")
            .body(body)
            .send()
            .unwrap()
    };
    let answer = post(body);
    assert_eq!(answer.status(), 204, "{:?}", answer.text());
    let header = |a: &reqwest::blocking::Response, name: &str| {
        a.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for (name, want) in [
        ("x-prometheus-remote-write-samples-written", "50"),
        ("x-prometheus-remote-write-histograms-written", "0"),
        ("x-prometheus-remote-write-exemplars-written", "5"),
    ] {
        assert_eq!(header(&answer, name).as_deref(), Some(want), "{name}");
    }
    let result = counts(&client, &addr, "shop=~\".+\"", 60, now_s(), "");
    assert_eq!(result.len(), 5, "{result:?}");
    assert!(result.values().all(|&n| n == 10), "{result:?}");
    let metadata = get_json(&client, &addr, "/api/v1/metadata?metric=orders_total");
    assert_eq!(metadata["data"]["orders_total"][0]["help"], "Orders taken.");
    // A series' newest sample sent again is accepted and stored once (a sender's retry
    // of its last batch is harmless); the older ones would be out of order, as in
    // Prometheus.
    let last: Vec<remote::v2::Series> = series
        .iter()
        .map(|s| remote::v2::Series {
            labels: s.labels.clone(),
            samples: s.samples.last().into_iter().copied().collect(),
            ..remote::v2::Series::default()
        })
        .collect();
    let again = post(
        snap::raw::Encoder::new()
            .compress_vec(&remote::v2::encode_v2(&last).encode_to_vec())
            .unwrap(),
    );
    assert_eq!(again.status(), 204, "{:?}", again.text());
    let result = counts(&client, &addr, "shop=~\".+\"", 60, now_s(), "");
    assert!(result.values().all(|&n| n == 10), "{result:?}");
    // An older sample for a series is out of order: 400, naming the series, not a retry.
    let late = remote::v2::encode_v2(&[remote::v2::Series {
        labels: Labels::from_pairs([("__name__", "orders_total"), ("shop", "s1")]),
        samples: vec![(now - 20_000, 1.0)],
        ..remote::v2::Series::default()
    }]);
    let refused = post(
        snap::raw::Encoder::new()
            .compress_vec(&late.encode_to_vec())
            .unwrap(),
    );
    assert_eq!(refused.status(), 400);
    assert_eq!(
        header(&refused, "x-prometheus-remote-write-samples-written").as_deref(),
        Some("0")
    );
    let text = refused.text().unwrap();
    assert!(
        text.contains("out of order sample for orders_total{shop=\"s1\"}"),
        "{text}"
    );
}

#[test]
fn skywatch_sends_remote_write_2_0_to_skywatch_with_every_sample_and_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, receiver) = start_skywatch(&dir.path().join("receiver"));
    let target = exporter(4);
    let config = dir.path().join("sender.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    sender: skywatch\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\n\
             remote_write:\n  - url: http://{receiver}/api/v1/write\n    protobuf_message: io.prometheus.write.v2.Request\n\
             \x20   queue_config:\n      batch_send_deadline: 200ms\n"
        ),
    )
    .unwrap();
    let (_sender, sender) = start_skywatch_with(
        &dir.path().join("sender"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    let began = now_s();
    std::thread::sleep(Duration::from_secs(8));
    let at = now_s() - 1.0;
    let range = (at - began).ceil() as u64 + 10;
    let theirs = counts(&client, &sender, "job=\"node\"", range, at, "");
    assert_eq!(
        theirs
            .keys()
            .filter(|k| k.contains("work_done_total"))
            .count(),
        4,
        "{theirs:?}"
    );
    assert!(theirs.values().all(|&n| n >= 4), "{theirs:?}");
    let mut ours = BTreeMap::new();
    common::within(
        Duration::from_secs(30),
        "the receiver has every sample",
        || {
            ours = counts(
                &client,
                &receiver,
                "sender=\"skywatch\"",
                range,
                at,
                "sender",
            );
            ours == theirs
        },
    );
    // 2.0 carries each series' metadata beside it.
    let metadata = get_json(
        &client,
        &receiver,
        "/api/v1/metadata?metric=work_done_total",
    );
    assert_eq!(
        metadata["data"]["work_done_total"][0]["help"], "Work done.",
        "{metadata}"
    );
    assert_eq!(metadata["data"]["work_done_total"][0]["type"], "counter");
    // And only beside it: 1.0 would have sent it apart, in requests the sender counts.
    let text = client
        .get(format!("http://{sender}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let apart: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("prometheus_remote_storage_metadata_total{"))
        .collect();
    assert!(
        !apart.is_empty()
            && apart
                .iter()
                .all(|l| l.ends_with(" 0") || l.ends_with(" 0.0")),
        "{apart:?}"
    );
}

#[test]
fn a_sender_over_the_ingestion_rate_is_told_to_retry_later_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &[
            "--remote-write-ingestion-rate-mb".as_ref(),
            "0.000001".as_ref(),
            "--remote-write-ingestion-burst-size-mb".as_ref(),
            "0.00001".as_ref(),
        ],
    );
    let request = remote::v2::encode_v2(&[remote::v2::Series {
        labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]),
        samples: vec![(1000, 1.0)],
        ..remote::v2::Series::default()
    }]);
    let client = reqwest::blocking::Client::new();
    let answer = client
        .post(format!("http://{addr}/api/v1/write"))
        .header("content-type", remote::v2::CONTENT_TYPE)
        .header("content-encoding", "snappy")
        .body(
            snap::raw::Encoder::new()
                .compress_vec(&request.encode_to_vec())
                .unwrap(),
        )
        .send()
        .unwrap();
    assert_eq!(answer.status(), 429);
    let text = answer.text().unwrap();
    assert!(text.contains("--remote-write-ingestion-rate-mb"), "{text}");
    let refused = common::metric_value(
        &client,
        &addr,
        "skywatch_limit_exceeded_total{limit=\"remote-write-ingestion-rate-mb\"}",
    );
    assert_eq!(refused, Some(1.0));
    let flags = get_json(&client, &addr, "/api/v1/status/flags");
    assert_eq!(flags["data"]["remote-write-ingestion-rate-mb"], "0.000001");
}
