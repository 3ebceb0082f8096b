//! `/federate` and the remote read server (`POST /api/v1/read`) against a real Prometheus
//! 2.42 (Debian's `prometheus` package):
//!
//! - Prometheus scrapes Skywatch's `/federate` (`honor_labels: true`, `match[]` of one
//!   job): it takes the text, its series are Skywatch's with the external labels added,
//!   and every sample it stored is Skywatch's sample at the same timestamp; a series that
//!   went stale in Skywatch leaves `/federate`, and so gets no newer sample in Prometheus.
//! - Prometheus with `remote_read:` pointing at Skywatch answers queries over Skywatch's
//!   data as Skywatch answers them, the external labels added.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{get_json, start_prometheus, start_skywatch_with, within};
use serde_json::Value;

/// A scrape target on a free loopback port: a counter that grows by 3 every scrape, two
/// gauges, and the gauge `i="b"` only while `b` is true.
fn serve_target(b: Arc<AtomicBool>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let scrapes = AtomicU64::new(0);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let n = scrapes.fetch_add(1, Ordering::SeqCst);
            let mut body = format!(
                "# TYPE fed_requests_total counter\nfed_requests_total{{path=\"/a b\\\"c\"}} {}\n\
                 # TYPE fed_gauge gauge\nfed_gauge{{i=\"a\"}} 1.5e+06\n",
                n * 3
            );
            if b.load(Ordering::SeqCst) {
                body.push_str("fed_gauge{i=\"b\"} -0.25\n");
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Skywatch scraping the target every second as job `src`, with external label `dc`.
fn start_source(dir: &std::path::Path, target: &str) -> (common::Killed, String) {
    let config = dir.join("skywatch.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    dc: eu\n\
             scrape_configs:\n  - job_name: src\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    start_skywatch_with(
        &dir.join("skywatch"),
        &["--config".as_ref(), config.as_os_str()],
    )
}

/// Starts Prometheus on `config` and waits until it is ready.
fn start_ready_prometheus(
    client: &reqwest::blocking::Client,
    config: &std::path::Path,
    data: &std::path::Path,
) -> (common::Killed, String) {
    let (child, addr) = start_prometheus(config, data, &[]);
    within(Duration::from_secs(30), "Prometheus to be ready", || {
        client
            .get(format!("http://{addr}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    (child, addr)
}

/// A series as the JSON API writes it, as a sorted map, less the labels named in `less`.
fn series_key(metric: &Value, less: &[&str]) -> BTreeMap<String, String> {
    metric
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !less.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// The matrix answer of `query` at `time` from `addr`, by series (less `less`), each
/// with its `[t, "v"]` points.
fn matrix(
    client: &reqwest::blocking::Client,
    addr: &str,
    query: &str,
    time: f64,
    less: &[&str],
) -> BTreeMap<BTreeMap<String, String>, Vec<Value>> {
    let answer = get_json(
        client,
        addr,
        &format!("/api/v1/query?query={}&time={time}", urlencode(query)),
    );
    assert_eq!(answer["status"], "success", "{addr} {query}: {answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                series_key(&s["metric"], less),
                s["values"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn prometheus_federates_skywatch() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::new();
    let b = Arc::new(AtomicBool::new(true));
    let target = serve_target(b.clone());
    let (_skywatch, skywatch) = start_source(dir.path(), &target);

    // Without match[]: refused, naming the parameter.
    let refused = client
        .get(format!("http://{skywatch}/federate"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().unwrap().contains("match[]"));

    let prometheus_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "scrape_configs:\n  - job_name: federate\n    scrape_interval: 1s\n    honor_labels: true\n\
             \x20   metrics_path: /federate\n    params:\n      'match[]': ['{{job=\"src\"}}']\n\
             \x20   static_configs:\n      - targets: ['{skywatch}']\n"
        ),
    )
    .unwrap();
    let (_prometheus, prometheus) =
        start_ready_prometheus(&client, &prometheus_config, &dir.path().join("prometheus"));

    // The federation scrape succeeds.
    within(
        Duration::from_secs(30),
        "the federation scrape to be up",
        || {
            let up = get_json(&client, &prometheus, "/api/v1/query?query=up");
            up["data"]["result"]
                .as_array()
                .is_some_and(|r| r.iter().any(|s| s["value"][1] == "1"))
        },
    );
    // Prometheus holds Skywatch's series of the job, each with the external label.
    let instant = |addr: &str, less: &[&str]| {
        let answer = get_json(
            &client,
            addr,
            &format!("/api/v1/query?query={}", urlencode("{job=\"src\"}")),
        );
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| series_key(&s["metric"], less))
            .collect::<std::collections::BTreeSet<_>>()
    };
    within(
        Duration::from_secs(30),
        "Prometheus to hold Skywatch's series",
        || instant(&prometheus, &["dc"]) == instant(&skywatch, &[]),
    );
    let theirs = instant(&prometheus, &[]);
    assert!(theirs.len() >= 4, "{theirs:?}");
    assert!(
        theirs
            .iter()
            .all(|s| s.get("dc").map(String::as_str) == Some("eu")),
        "the external label is on every series: {theirs:?}"
    );
    assert!(
        theirs
            .iter()
            .any(|s| s.get("path").map(String::as_str) == Some("/a b\"c")),
        "escaped label values read back: {theirs:?}"
    );

    // Every sample Prometheus stored is Skywatch's at the same time.
    let time = now_s();
    let federated = matrix(&client, &prometheus, "{job=\"src\"}[10m]", time, &["dc"]);
    let source = matrix(&client, &skywatch, "{job=\"src\"}[10m]", time, &[]);
    assert_eq!(
        federated.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>()
    );
    for (series, points) in &federated {
        assert!(!points.is_empty(), "{series:?}");
        for p in points {
            assert!(
                source[series].contains(p),
                "{series:?}: Prometheus holds {p}, Skywatch does not: {:?}",
                source[series]
            );
        }
    }
    let gauge = BTreeMap::from([
        ("__name__".to_owned(), "fed_gauge".to_owned()),
        ("i".to_owned(), "a".to_owned()),
        ("instance".to_owned(), target.clone()),
        ("job".to_owned(), "src".to_owned()),
    ]);
    assert_eq!(federated[&gauge].last().unwrap()[1], "1500000");

    // The gauge `i="b"` goes stale in Skywatch: it leaves /federate, then Prometheus.
    b.store(false, Ordering::SeqCst);
    let federate_text = || {
        client
            .get(format!(
                "http://{skywatch}/federate?match[]={}",
                urlencode("{job=\"src\"}")
            ))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    within(
        Duration::from_secs(30),
        "i=\"b\" to leave /federate",
        || !federate_text().contains("i=\"b\""),
    );
    let text = federate_text();
    assert!(text.contains("# TYPE fed_gauge untyped\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("fed_gauge{i=\"a\",instance=")
                && l.contains(",dc=\"eu\"} 1.5e+06 ")),
        "{text}"
    );
    // Prometheus writes no staleness marker for a series scraped with timestamps (as
    // federated ones are), so `i="b"` ends there by getting no newer sample while `i="a"`
    // goes on, and leaves its answers after the lookback.
    within(
        Duration::from_secs(30),
        "i=\"b\" to stop in Prometheus while i=\"a\" goes on",
        || {
            let behind = get_json(
                &client,
                &prometheus,
                &format!(
                    "/api/v1/query?query={}",
                    urlencode(
                        "timestamp(fed_gauge{i=\"a\"}) - ignoring(i) timestamp(fed_gauge{i=\"b\"})"
                    )
                ),
            );
            behind["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|s| s >= 4.0)
        },
    );
}

#[test]
fn prometheus_reads_skywatch_through_remote_read() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::new();
    let target = serve_target(Arc::new(AtomicBool::new(true)));
    let (_skywatch, skywatch) = start_source(dir.path(), &target);

    let prometheus_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!("remote_read:\n  - url: http://{skywatch}/api/v1/read\n    read_recent: true\n"),
    )
    .unwrap();
    let (_prometheus, prometheus) =
        start_ready_prometheus(&client, &prometheus_config, &dir.path().join("prometheus"));

    // Skywatch has scraped a few times.
    within(Duration::from_secs(30), "five scrapes in Skywatch", || {
        let answer = get_json(
            &client,
            &skywatch,
            &format!(
                "/api/v1/query?query={}",
                urlencode("count_over_time(fed_requests_total[1m])")
            ),
        );
        answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 5.0)
    });
    let time = now_s() - 0.5;
    let start = time - 30.0;
    for query in [
        "fed_requests_total[1m]",
        "fed_gauge[1m]",
        "{job=\"src\",__name__=~\"fed_.*\"}[1m]",
    ] {
        let theirs = matrix(&client, &prometheus, query, time, &["dc"]);
        let ours = matrix(&client, &skywatch, query, time, &[]);
        assert!(!ours.is_empty(), "{query}");
        assert_eq!(theirs, ours, "{query}");
        let with_dc = matrix(&client, &prometheus, query, time, &[]);
        assert!(
            with_dc
                .keys()
                .all(|s| s.get("dc").map(String::as_str) == Some("eu")),
            "{query}: {with_dc:?}"
        );
    }
    for query in [
        "sum by (i) (fed_gauge)",
        "max_over_time(fed_requests_total[20s])",
    ] {
        let path = format!(
            "/api/v1/query_range?query={}&start={start}&end={time}&step=2",
            urlencode(query)
        );
        let theirs = get_json(&client, &prometheus, &path);
        let ours = get_json(&client, &skywatch, &path);
        assert_eq!(theirs["status"], "success", "{query}: {theirs}");
        let strip = |v: &Value| {
            let mut v = v["data"]["result"].clone();
            for s in v.as_array_mut().unwrap() {
                s["metric"].as_object_mut().unwrap().remove("dc");
            }
            v
        };
        assert_ne!(strip(&ours), Value::Array(vec![]), "{query}");
        assert_eq!(strip(&theirs), strip(&ours), "{query}");
    }
}
