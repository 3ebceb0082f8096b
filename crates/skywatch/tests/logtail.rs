//! `skywatch up --logs.config.file` end to end: a Promtail configuration tailing a JSON-lines
//! file in a temporary directory; the streams appear in Loki's `/series` and `/index/stats`
//! with the labels the pipeline gave them, the lines read back through
//! `/loki/api/v1/query_range` with their timestamps and structured metadata, and the
//! positions file is written when the server stops.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A server tailing a JSON-lines file of three lines (one appended after the start) with
/// a Promtail pipeline; the directory, the server, its address, the file and the
/// positions file.
fn tail() -> (
    tempfile::TempDir,
    common::Killed,
    String,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("node.log");
    std::fs::write(
        &file,
        format!(
            "{{\"ts\":\"{}\",\"level\":\"info\",\"msg\":\"block imported\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}}\n\
             {{\"ts\":\"{}\",\"level\":\"warn\",\"msg\":\"peer lost\"}}\n",
            rfc3339(0),
            rfc3339(1)
        ),
    )
    .unwrap();
    let config = dir.path().join("promtail.yaml");
    let positions = dir.path().join("positions.yaml");
    std::fs::write(
        &config,
        format!(
            r#"server:
  http_listen_port: 9080
positions:
  filename: {positions}
  sync_period: 1s
clients:
  - url: http://localhost:3100/loki/api/v1/push
scrape_configs:
- job_name: node
  static_configs:
  - targets: [localhost]
    labels:
      job: node
      __path__: {logs}/*.log
  pipeline_stages:
  - json:
      expressions: {{ts: , level: , msg: , trace_id: }}
  - timestamp: {{source: ts, format: RFC3339}}
  - labels: {{level: }}
  - structured_metadata: {{trace_id: }}
  - output: {{source: msg}}
"#,
            positions = positions.display(),
            logs = logs.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (server, addr) =
        common::start_skywatch_with(&data, &["--logs.config.file".as_ref(), config.as_os_str()]);

    // A line appended while the server runs is read too.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(
            format!(
                "{{\"ts\":\"{}\",\"level\":\"warn\",\"msg\":\"peer back\"}}\n",
                rfc3339(2)
            )
            .as_bytes(),
        )
        .unwrap();

    (dir, server, addr, file, positions)
}

fn get(client: &reqwest::blocking::Client, url: &str, query: &[(&str, &str)]) -> Value {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let res = client.get(format!("{url}?{query}")).send().unwrap();
    let status = res.status();
    let text = res.text().unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// The first line's time, in Unix seconds: ten minutes ago, within the store's retention
/// and Loki's `reject_old_samples_max_age`.
fn t0() -> u64 {
    static T0: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 600
    })
}

/// The time `k` seconds after the first line's, as the lines write it.
fn rfc3339(k: u64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t0() + k),
    )
    .to_string()
}

/// The time `k` seconds after the first line's, in Unix nanoseconds.
fn ns(k: u64) -> String {
    ((t0() + k) * 1_000_000_000).to_string()
}

#[test]
fn tailed_streams_are_indexed_with_their_labels_and_positions_saved() {
    let (_dir, server, addr, file, positions) = tail();
    let client = reqwest::blocking::Client::new();
    let base = format!("http://{addr}/loki/api/v1");
    let selector = r#"{job="node"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = get(
            &client,
            &format!("{base}/index/stats"),
            &[("query", selector), ("start", &ns(0)), ("end", &ns(100))],
        );
        if stats["entries"] == 3 {
            // The lines are the `msg` fields the output stage kept.
            let bytes = "block imported".len() + "peer lost".len() + "peer back".len();
            assert_eq!(stats["bytes"], bytes, "{stats}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lines did not arrive: {stats}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let filename = file.display().to_string();
    let series = get(
        &client,
        &format!("{base}/series"),
        &[("match[]", selector), ("start", &ns(0)), ("end", &ns(100))],
    );
    assert_eq!(
        series["data"],
        serde_json::json!([
            {"filename": filename, "job": "node", "level": "info"},
            {"filename": filename, "job": "node", "level": "warn"},
        ])
    );
    let flags = get(&client, &format!("http://{addr}/api/v1/status/flags"), &[]);
    assert_eq!(
        flags["data"]["logs.config.file"],
        file.parent()
            .and_then(|logs| logs.parent())
            .unwrap()
            .join("promtail.yaml")
            .display()
            .to_string()
    );
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "skywatch_logtail_sent_entries_total 3"),
        "{metrics}"
    );

    // Stopping writes the positions: the whole file was read.
    drop(server);
    let size = std::fs::metadata(&file).unwrap().len();
    let saved = std::fs::read_to_string(&positions).unwrap();
    assert!(
        saved.contains(&format!("\"{filename}\": \"{size}\"")),
        "{saved}"
    );
}

#[test]
fn tailed_lines_read_back_through_query_range() {
    let (_dir, _server, addr, file, _positions) = tail();
    let client = reqwest::blocking::Client::new();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("query", r#"{job="node"}"#),
            ("start", &ns(0)),
            ("end", &ns(100)),
            ("direction", "forward"),
        ])
        .finish();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body: Value = loop {
        let res = client
            .get(format!("http://{addr}/loki/api/v1/query_range?{query}"))
            .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
            .send()
            .unwrap();
        let status = res.status();
        let text = res.text().unwrap();
        assert!(status.is_success(), "{status} {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let lines: usize = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum();
        if lines == 3 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the lines did not arrive: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let filename = file.display().to_string();
    let mut streams: Vec<(Value, Value)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stream"].clone(), s["values"].clone()))
        .collect();
    streams.sort_by_key(|(labels, _)| labels["level"].as_str().unwrap_or("").to_owned());
    assert_eq!(
        streams,
        [
            (
                serde_json::json!({"filename": filename, "job": "node", "level": "info"}),
                // Loki's categorized shape: each line's structured metadata (and parsed
                // labels) as a third element, an empty object when it has none.
                serde_json::json!([[ns(0), "block imported", {"structuredMetadata": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}}]]),
            ),
            (
                serde_json::json!({"filename": filename, "job": "node", "level": "warn"}),
                serde_json::json!([[ns(1), "peer lost", {}], [ns(2), "peer back", {}]]),
            ),
        ]
    );
}
