//! Skywatch keeps and answers exemplars as Prometheus 2.42 does with
//! `--enable-feature=exemplar-storage`: both scrape the same OpenMetrics target, whose
//! counter and histogram buckets carry exemplars (with and without timestamps, one with
//! labels too long to keep, one timed to a tenth of a millisecond, which Prometheus
//! truncates rather than rounds), and their `/api/v1/query_exemplars` answers must be equal:
//! series labels, exemplar labels, values, and timestamps where the exemplar carries one
//! (one without takes its scrape's time, which differs between the two servers).

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::time::Duration;

use common::{serve_fixed, start_prometheus, start_skywatch_with, within};
use serde_json::Value;

/// The target's exposition, its exemplars timed from `t` (Unix seconds).
fn exposition(t: u64) -> String {
    let long = "x".repeat(130);
    format!(
        "# HELP fixture_requests Requests served.\n\
         # TYPE fixture_requests counter\n\
         fixture_requests_total{{code=\"200\"}} 10 # {{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"}} 1 {t}.5\n\
         fixture_requests_total{{code=\"500\"}} 1 # {{trace_id=\"5bf92f3577b34da6a3ce929d0e0e4736\"}} 1.25 {t}.25\n\
         # TYPE fixture_latency_seconds histogram\n\
         fixture_latency_seconds_bucket{{le=\"0.1\"}} 3 # {{trace_id=\"6bf92f3577b34da6a3ce929d0e0e4736\"}} 0.05 {t}.1239\n\
         fixture_latency_seconds_bucket{{le=\"1\"}} 5 # {{trace_id=\"7bf92f3577b34da6a3ce929d0e0e4736\",empty=\"\"}} 0.5 {t}\n\
         fixture_latency_seconds_bucket{{le=\"+Inf\"}} 6 # {{trace_id=\"8bf92f3577b34da6a3ce929d0e0e4736\"}} 2.5\n\
         fixture_latency_seconds_sum 4.2\n\
         fixture_latency_seconds_count 6\n\
         # TYPE fixture_long counter\n\
         fixture_long_total 1 # {{trace_id=\"{long}\"}} 1 {t}\n\
         # TYPE fixture_plain gauge\n\
         fixture_plain 1\n\
         # EOF\n"
    )
}

struct Server {
    name: &'static str,
    addr: String,
}

impl Server {
    fn get(&self, client: &reqwest::blocking::Client, query: &str) -> (u16, Value) {
        self.get_range(client, &[("query", query)])
    }

    fn get_range(
        &self,
        client: &reqwest::blocking::Client,
        params: &[(&str, &str)],
    ) -> (u16, Value) {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let url = format!("http://{}/api/v1/query_exemplars?{query}", self.addr);
        let response = client.get(url).send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        // Prometheus answers a request without data (no selector) with no body.
        if status == 204 && text.is_empty() {
            return (status, Value::Null);
        }
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} {params:?}: {e}: {text}", self.name));
        (status, body)
    }
}

/// An answer with the timestamp of the exemplar that carried none in the exposition (the
/// `+Inf` bucket's: its first scrape's time, which differs between the servers) replaced
/// by `"scrape time"`. There must be one such exemplar, however often the target repeated
/// it.
fn comparable(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(series) = body["data"].as_array_mut() {
        for s in series {
            if s["seriesLabels"]["le"] == "+Inf" {
                let exemplars = s["exemplars"].as_array_mut().unwrap();
                assert_eq!(exemplars.len(), 1, "{s}");
                exemplars[0]["timestamp"] = "scrape time".into();
            }
        }
    }
    body
}

#[test]
fn exemplars_are_kept_and_answered_as_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = now - 30;
    let target = serve_fixed(
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        exposition(t),
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: fixture\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          zone: a\n"
        ),
    )
    .unwrap();
    let (_prometheus, prometheus_addr) = start_prometheus(
        &config,
        &dir.path().join("prometheus"),
        &["--enable-feature=exemplar-storage"],
    );
    let (_skywatch, skywatch_addr) = start_skywatch_with(
        &dir.path().join("skywatch"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let servers = [
        Server {
            name: "prometheus",
            addr: prometheus_addr,
        },
        Server {
            name: "skywatch",
            addr: skywatch_addr,
        },
    ];
    let client = reqwest::blocking::Client::new();
    // Both have scraped the target three times, so every exemplar came again twice.
    for server in &servers {
        within(Duration::from_secs(60), server.name, || {
            let body = common::get_json(
                &client,
                &server.addr,
                "/api/v1/query?query=count_over_time(up%7Bjob%3D%22fixture%22%7D%5B1m%5D)",
            );
            body["data"]["result"][0]["value"][1]
                .as_str()
                .is_some_and(|n| n.parse::<f64>().is_ok_and(|n| n >= 3.0))
        });
    }

    let queries = [
        "fixture_requests_total",
        "fixture_latency_seconds_bucket",
        "fixture_latency_seconds_bucket{le=~\"0.1|1\"}",
        "sum(rate(fixture_latency_seconds_bucket[5m])) / on() group_left sum(fixture_requests_total{code=\"500\"})",
        "fixture_long_total",
        "fixture_plain",
        "{job=\"fixture\"}",
        "1 + 1",
        "sum(",
        "",
    ];
    for query in queries {
        let [(p_status, p_body), (s_status, s_body)] =
            [&servers[0], &servers[1]].map(|s| s.get(&client, query));
        assert_eq!(
            (s_status, comparable(&s_body)),
            (p_status, comparable(&p_body)),
            "{query:?}:\nprometheus: {p_body}\nskywatch:   {s_body}"
        );
    }
    // The exact answer, for one query, so that an agreement on nothing cannot pass.
    let (_, body) = servers[1].get(&client, "fixture_requests_total{code=\"200\"}");
    assert_eq!(
        body["data"],
        serde_json::json!([{
            "seriesLabels": {"__name__": "fixture_requests_total", "code": "200", "instance": target, "job": "fixture", "zone": "a"},
            "exemplars": [{
                "labels": {"span_id": "00f067aa0ba902b7", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
                "value": "1",
                "timestamp": t as f64 + 0.5,
            }],
        }])
    );

    // Both count what their rings hold, under Prometheus's names.
    let figures = |server: &Server| -> Vec<String> {
        let text = client
            .get(format!("http://{}/metrics", server.addr))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("prometheus_tsdb_exemplar_exemplars_in_storage ")
                    || l.starts_with("prometheus_tsdb_exemplar_max_exemplars ")
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(figures(&servers[1]), figures(&servers[0]));
    assert_eq!(figures(&servers[1]).len(), 2);

    // Ranges and their errors.
    let (start, end, late) = (format!("{t}.2"), format!("{t}.4"), (now + 3600).to_string());
    for params in [
        vec![
            ("query", "{job=\"fixture\"}"),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ],
        vec![
            ("query", "fixture_requests_total"),
            ("start", late.as_str()),
        ],
        vec![
            ("query", "fixture_requests_total"),
            ("start", end.as_str()),
            ("end", start.as_str()),
        ],
        vec![("query", "fixture_requests_total"), ("end", "yesterday")],
    ] {
        let [p, s] = [&servers[0], &servers[1]].map(|server| server.get_range(&client, &params));
        assert_eq!(s, p, "{params:?}");
    }
}
