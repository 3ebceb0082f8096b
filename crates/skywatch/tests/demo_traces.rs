//! `skywatch demo` traces its simulated network into its own OTLP receiver: within 30 s
//! Tempo's search finds the network's traces by service, one read back by ID (Tempo's and
//! Jaeger's APIs) holds the seeds' flow across its six services and several nodes, and
//! once payments are degraded, TraceQL finds the failed settlements, which it did not
//! before. Over gRPC as over HTTP. Its log records reach the same receiver, every
//! service's in one request a second.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the time to the first trace is reported for the record, beyond the 30 s asserted"
)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{get_json, start_demo, within};

/// Tempo's search for `query` (URL-encoded already): the traces' IDs and their services.
fn search(
    client: &reqwest::blocking::Client,
    addr: &str,
    query: &str,
) -> Vec<(String, BTreeSet<String>)> {
    let found = get_json(client, addr, &format!("/tempo/api/search?{query}&limit=50"));
    found["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("no traces in {found}"))
        .iter()
        .map(|t| {
            let services = t["serviceStats"]
                .as_object()
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default();
            (t["traceID"].as_str().unwrap().to_owned(), services)
        })
        .collect()
}

/// The TraceQL query of the failed settlements, URL-encoded.
const FAILED_SETTLEMENTS: &str =
    "q=%7B%20name%20%3D%20%22payment.settle%22%20%26%26%20status%20%3D%20error%20%7D";

/// Waits for a trace of the whole flow, found by service, and returns its ID.
fn a_whole_flow(client: &reqwest::blocking::Client, addr: &str) -> String {
    let started = Instant::now();
    let mut id = None;
    within(
        Duration::from_secs(30),
        "Tempo's search finds a trace of six services by service.name",
        || {
            id = search(client, addr, "tags=service.name%3Dzerostate-api")
                .into_iter()
                .find(|(_, services)| services.len() >= 6)
                .map(|(id, _)| id);
            id.is_some()
        },
    );
    eprintln!("a whole trace found {:?} after start", started.elapsed());
    id.unwrap()
}

#[test]
fn the_demo_traces_its_network_and_payment_chaos_shows_in_settlements() {
    let (demo, addr) = start_demo(&["--nodes", "3", "--trace-sampling", "1"]);
    let client = reqwest::blocking::Client::new();
    let id = a_whole_flow(&client, &addr);

    // Tempo's trace by ID, OTLP JSON: the flow's spans, six services, several nodes.
    let trace = get_json(&client, &addr, &format!("/tempo/api/traces/{id}"));
    let mut services = BTreeSet::new();
    let mut instances = BTreeSet::new();
    let mut names = BTreeSet::new();
    for batch in trace["batches"].as_array().unwrap() {
        let attribute = |key: &str| {
            batch["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == key)
                .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("no {key} in {batch}"))
        };
        services.insert(attribute("service.name"));
        instances.insert(attribute("service.instance.id"));
        for scope in batch["scopeSpans"].as_array().unwrap() {
            for span in scope["spans"].as_array().unwrap() {
                names.insert(span["name"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(services.len() >= 6, "{services:?}");
    assert!(instances.len() >= 2, "{instances:?}");
    for name in netsim::FLOW {
        assert!(names.contains(name), "{name} is not in {names:?}");
    }

    // Jaeger's trace by ID: the same six services as processes.
    let jaeger = get_json(&client, &addr, &format!("/jaeger/api/traces/{id}"));
    let processes: BTreeSet<&str> = jaeger["data"][0]["processes"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["serviceName"].as_str().unwrap())
        .collect();
    assert!(processes.len() >= 6, "{processes:?}");

    // No settlement has failed yet (the seed's requests do not fail without chaos)...
    assert_eq!(search(&client, &addr, FAILED_SETTLEMENTS), []);
    // ...and half of them fail once payments are degraded.
    let r = client
        .post(format!("http://{addr}/demo/chaos/payments"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    within(
        Duration::from_secs(30),
        "TraceQL finds failed settlements after payment chaos",
        || !search(&client, &addr, FAILED_SETTLEMENTS).is_empty(),
    );
    let (failed, _) = search(&client, &addr, FAILED_SETTLEMENTS).remove(0);
    let trace = get_json(&client, &addr, &format!("/tempo/api/traces/{failed}"));
    let spans: Vec<&serde_json::Value> = trace["batches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["scopeSpans"].as_array().unwrap())
        .flat_map(|s| s["spans"].as_array().unwrap())
        .collect();
    let settlement = spans
        .iter()
        .find(|s| s["name"] == "payment.settle")
        .unwrap();
    // OTLP/JSON writes enums as integers: 2 is STATUS_CODE_ERROR.
    assert_eq!(settlement["status"]["code"], 2, "{settlement}");
    let exception = settlement["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "exception")
        .unwrap_or_else(|| panic!("no exception event in {settlement}"));
    assert!(
        exception.to_string().contains("rejected the settlement"),
        "{exception}"
    );
    drop(demo);
}

#[test]
fn over_grpc_the_traces_arrive_too() {
    let (demo, addr) = start_demo(&[
        "--nodes",
        "3",
        "--trace-sampling",
        "1",
        "--trace-export",
        "grpc",
    ]);
    let client = reqwest::blocking::Client::new();
    a_whole_flow(&client, &addr);
    drop(demo);
}

/// The sum of the series of `name` in the server's own `/metrics` whose line contains
/// every one of `labels`.
fn self_metric(client: &reqwest::blocking::Client, addr: &str, name: &str, labels: &[&str]) -> f64 {
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn the_network_logs_reach_the_receiver_in_one_request_a_second() {
    let (demo, addr) = start_demo(&["--nodes", "5"]);
    let client = reqwest::blocking::Client::new();
    // Kept or refused (a server without a log store says so), every record is counted.
    let records = |client: &reqwest::blocking::Client| {
        self_metric(
            client,
            &addr,
            "skywatch_otlp_log_records_received_total",
            &[],
        ) + self_metric(
            client,
            &addr,
            "skywatch_otlp_log_records_rejected_total",
            &[],
        )
    };
    within(
        Duration::from_secs(30),
        "log records reach the receiver",
        || records(&client) >= 50.0,
    );
    let requests = self_metric(
        &client,
        &addr,
        "skywatch_otlp_requests_total",
        &["signal=\"logs\""],
    );
    // Records of 35 services in batches of a second: many records a request.
    assert!(
        records(&client) >= 5.0 * requests,
        "{} records in {requests} requests",
        records(&client)
    );
    drop(demo);
}
