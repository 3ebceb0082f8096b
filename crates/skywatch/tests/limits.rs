//! Limits that fail loudly, through the real binary: each trips, names itself in what the
//! client or `/targets` sees, is counted on `/metrics`, and leaves the server serving.
//! The scrape limits are checked against a real Prometheus 2.42 scraping the same target
//! with the same configuration.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::time::{Duration, Instant};

use common::{
    get_json, metric_value as metric, serve_fixed, start_prometheus, start_skywatch_with,
};
use serde_json::Value;

/// Polls `f` until it returns `Some`, for at most 30 seconds.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The active target of `job`, once it has been scraped.
fn target(client: &reqwest::blocking::Client, addr: &str, job: &str) -> Option<Value> {
    let body = get_json(client, addr, "/api/v1/targets");
    body["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["scrapePool"] == job && t["health"] != "unknown")
        .cloned()
}

/// The value of an instant query's single sample, if it has one.
fn single(client: &reqwest::blocking::Client, addr: &str, query: &str) -> Option<String> {
    let body = get_json(
        client,
        addr,
        &format!("/api/v1/query?query={}", urlencode(query)),
    );
    body["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_owned)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn scrape_limits_fail_the_scrape_as_prometheus_2_42_does() {
    // Five series, each with labels a and b (with job and instance: five labels).
    let body: String = (0..5)
        .map(|i| format!("m{{a=\"{i}\",b=\"x\"}} {i}\n"))
        .collect();
    let exporter = serve_fixed("text/plain; version=0.0.4", body);
    let job = |name: &str, limit: &str| {
        format!(
            "  - job_name: {name}\n    scrape_interval: 500ms\n    {limit}\n    static_configs:\n      - targets: ['{exporter}']\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 500ms\nscrape_configs:\n{}{}{}{}{}",
        job("samples", "sample_limit: 3"),
        job("labels", "label_limit: 4"),
        job("names", "label_name_length_limit: 1"),
        job("values", "label_value_length_limit: 1"),
        job("body", "body_size_limit: 10B"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, &config).unwrap();
    let (_skywatch, sky) = start_skywatch_with(
        &dir.path().join("skywatch"),
        &["--config".as_ref(), file.as_os_str()],
    );
    let (_prometheus, prom) = start_prometheus(&file, &dir.path().join("prometheus"), &[]);
    let client = reqwest::blocking::Client::new();

    for (job, failed) in [
        ("samples", true),
        ("labels", true),
        // `instance` is a longer name than 1.
        ("names", true),
        ("values", true),
        ("body", true),
    ] {
        let theirs = eventually("Prometheus to scrape", || target(&client, &prom, job));
        let ours = eventually("Skywatch to scrape", || target(&client, &sky, job));
        assert_eq!(ours["health"], theirs["health"], "{job}: {ours} {theirs}");
        assert_eq!(ours["health"], if failed { "down" } else { "up" }, "{job}");
        let (their_error, our_error) = (
            theirs["lastError"].as_str().unwrap(),
            ours["lastError"].as_str().unwrap(),
        );
        if failed {
            // Prometheus's words first; Skywatch's may say more after them.
            let words = their_error.split(" (").next().unwrap();
            assert!(
                !words.is_empty() && our_error.starts_with(words),
                "{job}: Prometheus says {their_error:?}, Skywatch {our_error:?}"
            );
        }
        // The synthetic series agree once both have scraped and stored them.
        for series in [
            "up",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
        ] {
            let q = format!("{series}{{job=\"{job}\"}}");
            let theirs = eventually("Prometheus's series", || single(&client, &prom, &q));
            let ours = eventually("Skywatch's series", || single(&client, &sky, &q));
            assert_eq!(ours, theirs, "{q}");
        }
    }

    // Counted under Prometheus's names, on both.
    for name in [
        "prometheus_target_scrapes_exceeded_sample_limit_total",
        "prometheus_target_scrapes_exceeded_body_size_limit_total",
        "prometheus_target_scrape_pool_exceeded_label_limits_total",
    ] {
        for addr in [&prom, &sky] {
            let n = eventually(name, || metric(&client, addr, name).filter(|n| *n > 0.0));
            assert!(n >= 1.0, "{addr} {name}");
        }
    }
}

#[test]
fn the_head_series_limit_refuses_new_series_and_existing_ones_keep_their_samples() {
    let small = serve_fixed("text/plain; version=0.0.4", "small 1\n".into());
    let big: String = (0..50).map(|i| format!("big{{i=\"{i}\"}} {i}\n")).collect();
    let big = serve_fixed("text/plain; version=0.0.4", big);
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.json");
    let write_targets = |jobs: &[(&str, &str)]| {
        let groups: Vec<String> = jobs
            .iter()
            .map(|(job, addr)| {
                format!(r#"{{"targets": ["{addr}"], "labels": {{"job": "{job}"}}}}"#)
            })
            .collect();
        std::fs::write(&targets, format!("[{}]", groups.join(","))).unwrap();
    };
    write_targets(&[("small", &small)]);
    let file = dir.path().join("skywatch.yml");
    std::fs::write(
        &file,
        format!(
            "global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: t\n    file_sd_configs:\n      - files: ['{}']\n",
            targets.display()
        ),
    )
    .unwrap();
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &[
            "--config".as_ref(),
            file.as_os_str(),
            "--tsdb-max-head-series".as_ref(),
            "20".as_ref(),
        ],
    );
    let client = reqwest::blocking::Client::new();
    // The small target's series and its five synthetic ones fit.
    eventually("the small target's sample", || {
        single(&client, &addr, "small")
    });
    write_targets(&[("small", &small), ("big", &big)]);
    let error = eventually("the big target to fail", || {
        let body = get_json(&client, &addr, "/api/v1/targets");
        body["data"]["activeTargets"]
            .as_array()?
            .iter()
            .find(|t| t["labels"]["job"] == "big" && t["health"] == "down")
            .map(|t| t["lastError"].as_str().unwrap().to_owned())
    });
    assert!(
        error.contains("series limit of 20") && error.contains("--tsdb-max-head-series"),
        "{error}"
    );
    let refused = eventually("the refusals counted", || {
        metric(
            &client,
            &addr,
            "skywatch_limit_exceeded_total{limit=\"tsdb-max-head-series\"}",
        )
        .filter(|n| *n > 0.0)
    });
    assert!(refused >= 1.0);
    // The small target's series keeps taking samples: its count over time grows.
    let count = || {
        single(&client, &addr, "count_over_time(small[1h])")
            .map(|v| v.parse::<f64>().unwrap())
            .unwrap_or(0.0)
    };
    let before = count();
    eventually("more samples of an existing series", || {
        (count() > before + 1.0).then_some(())
    });
    let flags = get_json(&client, &addr, "/api/v1/status/flags");
    for flag in [
        "tsdb-max-head-series",
        "query-max-concurrency",
        "query-max-points-per-series",
        "otlp-ingestion-rate-mb",
        "otlp-ingestion-burst-size-mb",
    ] {
        assert!(flags["data"][flag].is_string(), "{flag}: {flags}");
    }
    assert_eq!(flags["data"]["tsdb-max-head-series"], "20");
}

#[test]
fn query_limits_name_themselves_and_are_counted_by_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &[
            "--query-max-points-per-series".as_ref(),
            "100".as_ref(),
            "--query-max-concurrency".as_ref(),
            "2".as_ref(),
        ],
    );
    let client = reqwest::blocking::Client::new();
    let body = get_json(
        &client,
        &addr,
        "/api/v1/query_range?query=1&start=0&end=1000&step=1",
    );
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("exceeded maximum resolution of 100 points per timeseries")
            && error.contains("--query-max-points-per-series"),
        "{error}"
    );
    let deep = vec!["1"; 20_001].join("+");
    let response = client
        .post(format!("http://{addr}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("query={}", urlencode(&deep)))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("more than the limit of 20000"),
        "{body}"
    );
    for limit in ["query-max-points-per-series", "query-max-depth"] {
        let series = format!("skywatch_limit_exceeded_total{{limit=\"{limit}\"}}");
        assert_eq!(metric(&client, &addr, &series), Some(1.0), "{series}");
    }
    assert_eq!(
        metric(&client, &addr, "prometheus_engine_queries_concurrent_max"),
        Some(2.0)
    );
    // And it answers the next query.
    assert_eq!(
        single(&client, &addr, "vector(1) + 1").as_deref(),
        Some("2")
    );
}
