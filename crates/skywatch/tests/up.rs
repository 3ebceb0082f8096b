//! `skywatch up` serves a data directory made by `skywatch tsdb import` through the
//! Prometheus HTTP API: the real binary, on a free loopback port.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use common::start_skywatch;
use std::process::Command;

#[test]
fn up_serves_imported_data_through_the_api() {
    let bin = env!("CARGO_BIN_EXE_skywatch");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.om");
    let mut om = String::from("# TYPE rx counter\n");
    for i in 0..=20 {
        om.push_str(&format!(
            "rx_total{{node=\"a\"}} {} {}\n",
            i * 30,
            1_700_000_000 + i * 15
        ));
    }
    om.push_str("# EOF\n");
    std::fs::write(&data, om).unwrap();
    let db = dir.path().join("db");
    let status = Command::new(bin)
        .args(["tsdb", "import", "openmetrics", "--quiet"])
        .arg(&data)
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());

    let (server, addr) = start_skywatch(&db);

    let client = reqwest::blocking::Client::new();
    let get = |path: &str| common::get_json(&client, &addr, path);
    // 30 per 15 s is 2 per second.
    let body = get("/api/v1/query?query=rate(rx_total%5B2m%5D)&time=1700000300");
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(
        body["data"]["result"][0]["metric"],
        serde_json::json!({"node": "a"})
    );
    let value = &body["data"]["result"][0]["value"];
    assert_eq!(value[0], 1_700_000_300);
    let rate: f64 = value[1].as_str().unwrap().parse().unwrap();
    assert!((rate - 2.0).abs() < 1e-9, "{rate}");
    let body = get("/api/v1/query_range?query=rx_total&start=1700000000&end=1700000030&step=15");
    assert_eq!(
        body["data"]["result"][0]["values"],
        serde_json::json!([
            [1_700_000_000, "0"],
            [1_700_000_015, "30"],
            [1_700_000_030, "60"]
        ])
    );
    let body = get("/api/v1/query?query=rate(");
    assert_eq!(
        (body["status"].as_str(), body["errorType"].as_str()),
        (Some("error"), Some("bad_data"))
    );
    // The status pages: cardinality of the imported series (the head is empty, so they
    // count all data), the flags the server runs with, and when it started.
    let body = get("/api/v1/status/tsdb");
    assert_eq!(
        body["data"]["seriesCountByMetricName"],
        serde_json::json!([{"name": "rx_total", "value": 1}]),
        "{body}"
    );
    assert_eq!(body["data"]["headStats"]["numSeries"], 0);
    let body = get("/api/v1/status/flags");
    assert_eq!(body["data"]["query-timeout"], "2m", "{body}");
    assert_eq!(body["data"]["data"], db.display().to_string());
    assert_eq!(body["data"]["traces-retention-time"], "14days", "{body}");
    assert_eq!(body["data"]["logs-max-line-size"], "262144B", "{body}");
    assert_eq!(body["data"]["logs-ingestion-rate-mb"], "4", "{body}");
    let body = get("/api/v1/status/runtimeinfo");
    assert!(
        body["data"]["startTime"]
            .as_str()
            .unwrap()
            .starts_with("20"),
        "{body}"
    );
    drop(server);
}
