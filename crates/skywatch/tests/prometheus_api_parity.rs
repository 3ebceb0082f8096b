//! Skywatch's HTTP API answers as Prometheus 2.42's does: the same requests, in the shapes
//! Grafana's Prometheus data source sends them, go to a `skywatch up` and a real
//! Prometheus (Debian's `prometheus` package) that scrape the same target with the same
//! configuration, and the answers must agree: status codes, and the keys and value types
//! of every JSON body (values where they do not depend on timing), the exact error bodies
//! of malformed queries, and gzip compression.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::io::Read as _;
use std::time::Duration;

use common::{serve_fixed, start_prometheus, start_skywatch_with, within};
use serde_json::{Value, json};

/// What the fixture target exposes: a counter, a gauge and a family with only HELP.
const EXPOSITION: &str = "\
# HELP fixture_requests_total Requests served.
# TYPE fixture_requests_total counter
fixture_requests_total{code=\"200\"} 10
fixture_requests_total{code=\"500\"} 1
# HELP fixture_temperature_celsius Temperature.
# TYPE fixture_temperature_celsius gauge
fixture_temperature_celsius 21.5
# HELP fixture_help_only A family with only HELP.
fixture_help_only 3
";

/// A JSON value's shape: objects keep their keys, arrays the set of their elements'
/// shapes, and every other value becomes its type's name.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => {
            let mut shapes: Vec<Value> = a.iter().map(shape).collect();
            shapes.sort_by_key(Value::to_string);
            shapes.dedup();
            Value::Array(shapes)
        }
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// A form body's fields; none for a GET.
type Form<'a> = Vec<(&'a str, &'a str)>;

struct Server {
    name: &'static str,
    addr: String,
}

impl Server {
    /// Sends a GET, or a POST with a form body, and returns the status and JSON body.
    fn call(
        &self,
        client: &reqwest::blocking::Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("http://{}{path}", self.addr);
        let request = if form.is_empty() {
            client.get(url)
        } else {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
        };
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} {path}: {e}: {text}", self.name));
        (status, body)
    }
}

#[test]
fn the_api_answers_as_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    let target = serve_fixed("text/plain; version=0.0.4", EXPOSITION.into());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:9']\n      path_prefix: /am\n\
             scrape_configs:\n  - job_name: fixture\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          zone: a\n"
        ),
    )
    .unwrap();
    let (_prometheus, prometheus_addr) =
        start_prometheus(&config, &dir.path().join("prometheus"), &[]);
    let (_skywatch, skywatch_addr) = start_skywatch_with(
        &dir.path().join("skywatch"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let prometheus = Server {
        name: "prometheus",
        addr: prometheus_addr,
    };
    let skywatch = Server {
        name: "skywatch",
        addr: skywatch_addr,
    };
    let client = reqwest::blocking::Client::new();
    // Both have scraped the target four times: a rate needs two samples before the
    // queries' end, which is now rounded down to the second.
    for server in [&prometheus, &skywatch] {
        within(Duration::from_secs(60), server.name, || {
            let (_, body) = server.call(
                &client,
                "/api/v1/query?query=count_over_time(up%7Bjob%3D%22fixture%22%7D%5B1m%5D)",
                &[],
            );
            body["data"]["result"][0]["value"][1]
                .as_str()
                .is_some_and(|n| n.parse::<f64>().is_ok_and(|n| n >= 4.0))
        });
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (end, start) = (now.to_string(), (now - 60).to_string());
    let range = format!("start={start}&end={end}");
    let (start, end) = (start.as_str(), end.as_str());
    // Requests as Grafana's data source makes them; `true` where the values must agree
    // too, not only the shapes.
    let requests: Vec<(String, Form<'_>, bool)> = vec![
        (
            "/api/v1/query".into(),
            vec![("query", "fixture_requests_total"), ("time", end)],
            false,
        ),
        (
            "/api/v1/query_range".into(),
            vec![
                ("query", "sum by (code) (rate(fixture_requests_total[1m]))"),
                ("start", start),
                ("end", end),
                ("step", "5"),
            ],
            false,
        ),
        (
            "/api/v1/query".into(),
            vec![
                ("query", "scalar(fixture_temperature_celsius)"),
                ("time", end),
            ],
            false,
        ),
        (format!("/api/v1/labels?{range}"), vec![], true),
        (
            format!("/api/v1/labels?{range}&match[]=fixture_requests_total"),
            vec![],
            true,
        ),
        (format!("/api/v1/label/job/values?{range}"), vec![], true),
        (
            format!("/api/v1/label/code/values?{range}&match[]=fixture_requests_total"),
            vec![],
            true,
        ),
        (
            format!("/api/v1/series?{range}&match[]=fixture_requests_total"),
            vec![],
            true,
        ),
        (
            "/api/v1/series".into(),
            vec![
                ("match[]", "fixture_temperature_celsius"),
                ("start", start),
                ("end", end),
            ],
            true,
        ),
        ("/api/v1/metadata".into(), vec![], true),
        (
            "/api/v1/metadata?metric=fixture_temperature_celsius".into(),
            vec![],
            true,
        ),
        (
            "/api/v1/query_exemplars".into(),
            vec![
                ("query", "fixture_requests_total"),
                ("start", start),
                ("end", end),
            ],
            true,
        ),
        ("/api/v1/status/buildinfo".into(), vec![], false),
        ("/api/v1/status/config".into(), vec![], false),
        ("/api/v1/status/walreplay".into(), vec![], false),
        ("/api/v1/alertmanagers".into(), vec![], true),
        (
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22fixture%22%7D".into(),
            vec![],
            false,
        ),
        (
            "/api/v1/targets/metadata?metric=fixture_temperature_celsius".into(),
            vec![],
            true,
        ),
        (
            "/api/v1/targets/metadata?metric=fixture_help_only".into(),
            vec![],
            true,
        ),
        ("/api/v1/targets/metadata?limit=x".into(), vec![], true),
    ];
    let mut differences = Vec::new();
    for (path, form, exact) in &requests {
        let (p_status, p_body) = prometheus.call(&client, path, form);
        let (s_status, s_body) = skywatch.call(&client, path, form);
        let same = if *exact {
            p_body == s_body
        } else {
            shape(&p_body) == shape(&s_body)
        };
        if p_status != s_status || !same {
            differences.push(format!(
                "{path} {form:?}:\n  prometheus {p_status} {p_body}\n  skywatch   {s_status} {s_body}"
            ));
        }
    }

    // Malformed queries: the whole error body, as Grafana shows it.
    for query in [
        "sum(",
        "up{job=}",
        "up{job~\"a\"}",
        "rate(up)",
        "foo(up)",
        "up[5x]",
        "1 +",
        "sum by (job up)",
        "up @ x",
        "sum(rate(up[5m])) by",
        "abs(up, up)",
        "up offset 5m offset 5m",
        "up[5m 1m]",
        "1 == 1",
        "count_values(1, up)",
        "",
    ] {
        let form = [("query", query), ("time", end)];
        let p = prometheus.call(&client, "/api/v1/query", &form);
        let s = skywatch.call(&client, "/api/v1/query", &form);
        if p != s {
            differences.push(format!(
                "query {query:?}:\n  prometheus {p:?}\n  skywatch   {s:?}"
            ));
        }
    }
    for selector in ["up+1", "up offset 5m", "{}"] {
        let path = format!(
            "/api/v1/series?match[]={}",
            form_urlencoded::byte_serialize(selector.as_bytes()).collect::<String>()
        );
        let p = prometheus.call(&client, &path, &[]);
        let s = skywatch.call(&client, &path, &[]);
        if p != s {
            differences.push(format!(
                "match[] {selector:?}:\n  prometheus {p:?}\n  skywatch   {s:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );

    // Both compress an API answer when asked; Skywatch's own /metrics is compressed once.
    let raw = reqwest::blocking::Client::builder()
        .no_gzip()
        .build()
        .unwrap();
    let gunzip = |bytes: &[u8]| {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut out)
            .unwrap();
        out
    };
    for server in [&prometheus, &skywatch] {
        let response = raw
            .get(format!("http://{}/api/v1/series?match[]=up", server.addr))
            .header("accept-encoding", "gzip")
            .send()
            .unwrap();
        assert_eq!(
            response.headers()["content-encoding"],
            "gzip",
            "{}",
            server.name
        );
        let body: Value = serde_json::from_str(&gunzip(&response.bytes().unwrap())).unwrap();
        assert_eq!(body["status"], "success", "{}", server.name);
    }
    let metrics = raw
        .get(format!("http://{}/metrics", skywatch.addr))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(metrics.headers()["content-encoding"], "gzip");
    let text = gunzip(&metrics.bytes().unwrap());
    assert!(text.starts_with("# "), "{}", &text[..text.len().min(200)]);
    let head = raw
        .head(format!("http://{}/api/v1/status/buildinfo", skywatch.addr))
        .header("accept-encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().unwrap().is_empty());

    // The configuration shown is the file Skywatch loaded.
    let (_, body) = skywatch.call(&client, "/api/v1/status/config", &[]);
    assert_eq!(
        body["data"]["yaml"],
        json!(std::fs::read_to_string(&config).unwrap())
    );
}
