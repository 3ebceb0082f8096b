//! The example node's `/metrics` passes `promtool check metrics`, Prometheus's own parser
//! and linter (Debian package `prometheus`).

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{ExampleNode, require_tool};

/// Runs `promtool check metrics` on `exposition`; returns success and what it printed.
fn promtool_check(exposition: &str) -> (bool, String) {
    let promtool = require_tool("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[test]
fn example_node_metrics_pass_promtool_check_metrics() {
    let node = ExampleNode::start(&["--bootstrap", "0s"]);
    let client = reqwest::blocking::Client::new();
    // Exercise every kind of series: both task outcomes, a matched and an unmatched route,
    // and the health checks.
    for body in ["hello", ""] {
        client
            .post(node.url("/api/tasks"))
            .body(body)
            .send()
            .unwrap();
    }
    client.get(node.url("/api/tasks/1")).send().unwrap();
    client.get(node.url("/no/such/route")).send().unwrap();
    client.get(node.url("/health")).send().unwrap();

    let exposition = client
        .get(node.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for family in [
        "node_build_info{",
        "node_http_requests_total{method=\"POST\",route=\"/api/tasks\",status=\"2xx\"} 1",
        "node_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"4xx\"} 1",
        "node_http_request_duration_seconds_bucket{",
        "node_task_duration_seconds_bucket{le=\"0.0001\"}",
        "node_payment_amount{quantile=\"0.99\"}",
        "node_tasks_total{outcome=\"failure\"} 1",
        "node_health_check_status{check=\"disk\",state=\"healthy\"}",
        "process_cpu_seconds_total ",
        "process_open_fds ",
    ] {
        assert!(
            exposition.contains(family),
            "{family} missing from\n{exposition}"
        );
    }
    let (ok, printed) = promtool_check(&exposition);
    assert!(
        ok && printed.is_empty(),
        "promtool check metrics failed:\n{printed}\n---\n{exposition}"
    );
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    // Guards the test above: promtool must be judging, not waving everything through.
    let (ok, printed) = promtool_check("# TYPE x counter\nx{a=\"b} 1\n");
    assert!(!ok, "promtool accepted a broken exposition: {printed}");
}
