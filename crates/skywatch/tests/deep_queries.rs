//! Issue 21: one unauthenticated query took the whole server down (a stack overflow on
//! deep PromQL, and hundreds of MiB kept after a long regex). The real binary, scraping
//! five targets, answers each such request with a result or a 400 naming the limit, and
//! goes on answering; deep expressions in rule files and dashboards are refused at load,
//! naming the file and the limit, and the server keeps running.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{start_skywatch_logged, within};
use serde_json::Value;

/// An exporter on a free loopback port answering every request with one sample.
fn exporter() -> String {
    common::serve_fixed("text/plain; version=0.0.4", "node_ready 1\n".into())
}

/// POSTs a query as a form, as Grafana and promtool do; the status and the JSON answer.
fn post_query(client: &reqwest::blocking::Client, addr: &str, query: &str) -> (u16, Value) {
    let mut body = String::from("query=");
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() {
            body.push(char::from(b));
        } else {
            body.push_str(&format!("%{b:02X}"));
        }
    }
    let response = client
        .post(format!("http://{addr}/api/v1/query"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap_or_else(|e| panic!("the server did not answer: {e}"));
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// The value of a one-element instant vector or a scalar.
fn value(answer: &Value) -> f64 {
    let data = &answer["data"];
    let v = match data["resultType"].as_str() {
        Some("scalar") => &data["result"][1],
        _ => &data["result"][0]["value"][1],
    };
    v.as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .parse()
        .unwrap()
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn deep_parens(n: usize) -> String {
    format!("{}1{}", "(".repeat(n), ")".repeat(n))
}

fn chain(n: usize) -> String {
    vec!["1"; n].join("+")
}

/// Runs `skywatch check KIND PATH`: its exit code and all it printed.
fn check(kind: &str, path: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["check", kind])
        .arg(path)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all)
}

fn rule_file(expr: &str) -> String {
    format!(
        "groups:\n  - name: deep\n    interval: 200ms\n    rules:\n      - record: deep:sum\n        expr: '{expr}'\n"
    )
}

#[test]
fn deep_queries_get_an_answer_or_a_400_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let targets: Vec<String> = (0..5).map(|_| exporter()).collect();
    let rules = dir.path().join("deep.rules.yml");
    // Within the limit, the issue's own expression evaluates as a rule.
    std::fs::write(&rules, rule_file(&chain(10_000))).unwrap();
    let config = dir.path().join("skywatch.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 200ms\n  evaluation_interval: 200ms\nrule_files: ['{}']\nscrape_configs:\n  - job_name: nodes\n    static_configs:\n      - targets: {targets:?}\n",
            rules.display()
        ),
    )
    .unwrap();
    let dashboards = dir.path().join("dashboards");
    std::fs::create_dir(&dashboards).unwrap();
    let deep_panel = serde_json::json!({
        "title": "Deep", "uid": "deep", "schemaVersion": 39,
        "panels": [{"id": 1, "title": "Too deep", "type": "stat",
                    "gridPos": {"h": 4, "w": 6, "x": 0, "y": 0},
                    "targets": [{"expr": deep_parens(30_000), "refId": "A"}]}],
    });
    std::fs::write(dashboards.join("deep.json"), deep_panel.to_string()).unwrap();

    let (server, addr, log) = start_skywatch_logged(
        &dir.path().join("data"),
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--dashboards".as_ref(),
            dashboards.as_os_str(),
            // POST /-/reload below.
            "--web.enable-lifecycle".as_ref(),
        ],
    );
    let pid = server.0.id();
    let client = reqwest::blocking::Client::new();
    let up = || {
        let (status, body) = post_query(&client, &addr, "count(up == 1)");
        (status == 200
            && body["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty()))
        .then(|| value(&body))
    };
    within(Duration::from_secs(30), "five targets up", || {
        up() == Some(5.0)
    });

    // The dashboard was refused at load, naming its file, the panel and the limit.
    let warning = std::iter::from_fn(|| log.recv_timeout(Duration::from_secs(30)).ok())
        .find(|l| l.contains("dashboard: deep.json: ") && l.contains("limit"))
        .expect("no warning about deep.json within 30 s");
    assert!(
        warning.contains("Too deep") && warning.contains("more than the limit of 20000"),
        "{warning}"
    );

    // The three requests.
    let (status, body) = post_query(&client, &addr, &deep_parens(5_000));
    assert_eq!((status, value(&body)), (200, 1.0), "{body}");
    assert_eq!(up(), Some(5.0));
    let (status, body) = post_query(&client, &addr, &chain(10_000));
    assert_eq!((status, value(&body)), (200, 10_000.0), "{body}");
    assert_eq!(up(), Some(5.0));

    let before = resident_kib(pid);
    let alternatives: Vec<String> = (0..200_000).map(|i| format!("a{i}")).collect();
    let (status, body) = post_query(
        &client,
        &addr,
        &format!("up{{job=~\"{}\"}}", alternatives.join("|")),
    );
    assert_eq!(
        (status, &body["errorType"]),
        (400, &Value::from("bad_data"))
    );
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("label \"job\"") && error.contains("limit of 131072 bytes"),
        "{error}"
    );
    assert!(
        error.len() < 300,
        "the error repeats the regex: {error:.300}"
    );
    assert_eq!(up(), Some(5.0));
    // It took 260 MiB and kept them; now the request itself (1.9 MB of form) is all.
    let grown = resident_kib(pid).saturating_sub(before);
    assert!(grown < 32 * 1024, "the server grew by {grown} KiB");

    // Beyond the limit: a 400 naming it, and the server still answers.
    for query in [
        deep_parens(30_000),
        chain(20_001),
        format!("{}1", "-".repeat(500_000)),
    ] {
        let (status, body) = post_query(&client, &addr, &query);
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("more than the limit of 20000"), "{error}");
        assert_eq!(up(), Some(5.0));
    }

    // The 10,000-term recording rule evaluated.
    within(Duration::from_secs(30), "the deep rule recorded", || {
        let (_, body) = post_query(&client, &addr, "deep:sum");
        body["data"]["result"][0]["value"][1] == "10000"
    });

    // A rule file over the limit fails the reload, naming the file and the limit; the
    // running rules and the server go on.
    std::fs::write(&rules, rule_file(&deep_parens(30_000))).unwrap();
    let response = client
        .post(format!("http://{addr}/-/reload"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let text = response.text().unwrap();
    assert!(
        text.contains("deep.rules.yml") && text.contains("more than the limit of 20000"),
        "{text}"
    );
    assert_eq!(up(), Some(5.0));
    let (_, body) = post_query(&client, &addr, "deep:sum");
    assert_eq!(body["data"]["result"][0]["value"][1], "10000", "{body}");

    // The checks say the same.
    for (kind, path, named) in [
        ("rules", &rules, "deep.rules.yml"),
        ("dashboards", &dashboards, "deep.json"),
    ] {
        let (code, all) = check(kind, path);
        assert_eq!(code, Some(1), "check {kind}: {all}");
        assert!(
            all.contains(named) && all.contains("more than the limit of 20000"),
            "check {kind}: {all}"
        );
    }
    drop(server);
}

/// Deeply nested YAML and JSON, in every kind of file Skywatch reads, is an error naming
/// the file, never a crash: the YAML reader stops at 64 levels, the JSON one at 128.
#[test]
fn deeply_nested_files_are_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let yaml = format!("groups: {}{}\n", "[".repeat(n), "]".repeat(n));
    let json = format!("{{\"panels\": {}{}}}", "[".repeat(n), "]".repeat(n));
    let config = dir.path().join("deep.yml");
    std::fs::write(&config, &yaml).unwrap();
    let dashboards = dir.path().join("dashboards");
    std::fs::create_dir(&dashboards).unwrap();
    std::fs::write(dashboards.join("deep.json"), &json).unwrap();
    let alertmanager = dir.path().join("alertmanager.yml");
    std::fs::write(
        &alertmanager,
        format!("route: {}{}\n", "{a: ".repeat(n), "}".repeat(n)),
    )
    .unwrap();
    for (kind, file, named) in [
        ("config", &config, "deep.yml"),
        ("rules", &config, "deep.yml"),
        ("dashboards", &dashboards, "deep.json"),
        ("alertmanager", &alertmanager, "alertmanager.yml"),
    ] {
        let (code, all) = check(kind, file);
        // An exit code, not a signal, and the file named.
        assert_eq!(code, Some(1), "check {kind}: {all}");
        assert!(all.contains(named), "check {kind}: {all}");
    }
}
