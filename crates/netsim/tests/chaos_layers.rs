//! Each chaos layer burns the error budget of the objective of `slos/zerostate.yml` that
//! reads it: over a 5-minute window, the error ratio of a healthy network is well under the
//! budget, and once the layer is degraded it passes 14.4 times the budget (a fast-burn
//! page) within a bounded number of ticks. The network moves only when the test moves it,
//! so every count here is the same at every run.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the ticks each layer takes are reported for the record, beyond the bound asserted"
)]

use std::time::Duration;

mod common;

use common::quiet;
use netsim::{Layer, Network};

/// The 5-minute window of the objectives' fast-burn alerts, in one-second ticks.
const WINDOW: usize = 300;

/// The burn rate of Sloth's fast page: 2% of a 30-day budget in an hour.
const PAGE_BURN: f64 = 14.4;

/// The sum over every line of `text` of the series `name` whose labels contain every one
/// of `labels` (written `key="value"`).
fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What an objective counts in one node's exposition: (bad events, all events). For the
/// gauge-based objective, one event per node and tick, as `avg_over_time` weighs samples.
type Count = fn(&str) -> (f64, f64);

/// One layer and the objective it must burn.
struct Case {
    layer: Layer,
    /// The objective of the spec's SLO, as a ratio.
    objective: f64,
    count: Count,
    /// Ticks within which the 5-minute error ratio passes the page threshold.
    within: usize,
}

fn task_success(text: &str) -> (f64, f64) {
    let all = sum(text, "execution_tasks_total", &[]);
    (
        all - sum(text, "execution_tasks_total", &["status=\"success\""]),
        all,
    )
}

fn task_latency_p99(text: &str) -> (f64, f64) {
    let all = sum(text, "execution_task_duration_seconds_count", &[]);
    let fast = sum(
        text,
        "execution_task_duration_seconds_bucket",
        &["le=\"10.0\""],
    );
    (all - fast, all)
}

fn payment_success(text: &str) -> (f64, f64) {
    (
        sum(text, "economic_payments_total", &["outcome=\"failed\""]),
        sum(text, "economic_payments_total", &[]),
    )
}

fn message_delivery(text: &str) -> (f64, f64) {
    (
        sum(text, "p2p_messages_failed_total", &[]),
        sum(text, "p2p_messages_sent_total", &[]),
    )
}

fn consensus_sync(text: &str) -> (f64, f64) {
    let healthy = sum(
        text,
        "node_health_check_status",
        &["check=\"consensus\"", "state=\"healthy\""],
    );
    (1.0 - healthy, 1.0)
}

/// Moves `net` on a tick and counts what `case` counts across the nodes.
async fn tick(net: &Network, case: &Case) -> (f64, f64) {
    net.advance(1.0);
    net.check_health().await;
    net.expositions()
        .iter()
        .map(|(_, text)| (case.count)(text))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Runs `case` on a fresh network: returns the healthy 5-minute error ratio, the ratio
/// when it passed the page threshold, and the ticks that took.
async fn burn(case: &Case) -> (f64, f64, usize) {
    let net = Network::start(quiet(20, 1)).await.unwrap();
    // Cumulative (bad, all) after each tick: counters as read, gauges summed tick by tick.
    let mut totals: Vec<(f64, f64)> = Vec::new();
    let mut push = |(bad, all): (f64, f64)| {
        let last = totals.last().copied().unwrap_or_default();
        totals.push(if case.layer == Layer::Consensus {
            (last.0 + bad, last.1 + all)
        } else {
            (bad, all)
        });
        let (end, start) = (
            totals[totals.len() - 1],
            totals[totals.len().saturating_sub(WINDOW + 1)],
        );
        (end.0 - start.0) / (end.1 - start.1)
    };
    let mut healthy = f64::NAN;
    for _ in 0..=WINDOW {
        healthy = push(tick(&net, case).await);
    }
    net.chaos().degrade(case.layer).unwrap();
    let threshold = PAGE_BURN * (1.0 - case.objective);
    let mut now = healthy;
    for ticks in 1..=case.within {
        now = push(tick(&net, case).await);
        if now > threshold {
            return (healthy, now, ticks);
        }
    }
    panic!(
        "{:?}: the 5-minute error ratio is {now} after {} ticks, not above {threshold}",
        case.layer, case.within
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_layer_burns_its_objective_past_the_fast_page() {
    let cases = [
        // zerostate-task-success, 99.5%: half the executors fail.
        Case {
            layer: Layer::Execution,
            objective: 0.995,
            count: task_success,
            within: 60,
        },
        // zerostate-task-latency-p99, 99% within 10 s: tasks ten times slower.
        Case {
            layer: Layer::Latency,
            objective: 0.99,
            count: task_latency_p99,
            within: 200,
        },
        // zerostate-payment-success, 99.9%.
        Case {
            layer: Layer::Payments,
            objective: 0.999,
            count: payment_success,
            within: 15,
        },
        // zerostate-p2p-message-delivery, 99.9%.
        Case {
            layer: Layer::P2p,
            objective: 0.999,
            count: message_delivery,
            within: 15,
        },
        // zerostate-consensus-sync, 99.9%: a quarter of the chains stall, and their
        // health checks degrade once they are five blocks behind.
        Case {
            layer: Layer::Consensus,
            objective: 0.999,
            count: consensus_sync,
            within: 45,
        },
    ];
    for case in &cases {
        let budget = 1.0 - case.objective;
        let (healthy, burning, ticks) = burn(case).await;
        assert!(
            healthy < budget / 2.0,
            "{:?}: a healthy network's error ratio {healthy} is not well under the budget {budget}",
            case.layer
        );
        assert!(burning > PAGE_BURN * budget, "{burning}");
        eprintln!(
            "{:?}: healthy {healthy:.6} ({:.2}x), past {PAGE_BURN}x after {ticks} ticks",
            case.layer,
            healthy / budget
        );
    }
}

/// GETs `/metrics` from `addr`, answering the status.
async fn scrape(client: &reqwest::Client, addr: std::net::SocketAddr) -> (u16, String) {
    let response = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_layer_fails_every_other_request_late_and_the_nodes_count_it() {
    let net = Network::start(quiet(3, 1)).await.unwrap();
    let client = reqwest::Client::new();
    let addr = net.nodes()[0].addr;
    for _ in 0..4 {
        assert_eq!(scrape(&client, addr).await.0, 200);
    }
    net.chaos().degrade(Layer::Api).unwrap();
    let began = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(scrape(&client, addr).await.0);
    }
    assert_eq!(statuses, [503, 200, 503, 200]);
    assert!(began.elapsed() >= Duration::from_millis(4 * 300));
    net.chaos().heal_all().await.unwrap();
    // What the objectives read, counted by the SDK's layer once each answer is sent, so
    // read until the eight requests above are all in: 2 answered 503 (api-availability,
    // 99.9%: over 14.4x the budget), 4 slower than 250 ms (api-latency, 99%: over 14.4x).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = scrape(&client, addr).await;
        assert_eq!(status, 200);
        if sum(&text, "node_http_requests_total", &[]) >= 8.0 {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
    };
    let all = sum(&text, "node_http_requests_total", &[]);
    let failed = sum(&text, "node_http_requests_total", &["status=\"5xx\""]);
    let fast = sum(
        &text,
        "node_http_request_duration_seconds_bucket",
        &["le=\"0.25\""],
    );
    assert_eq!((failed, all - fast), (2.0, 4.0), "{text}");
    assert!(failed / all > PAGE_BURN * 0.001, "{failed} of {all}");
    assert!((all - fast) / all > PAGE_BURN * 0.01, "{all} - {fast}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heal_undoes_every_layer_and_restarts_killed_nodes() {
    let net = Network::start(quiet(8, 3)).await.unwrap();
    let chaos = net.chaos();
    for layer in Layer::ALL {
        chaos.degrade(layer).unwrap();
    }
    chaos.kill(5).unwrap();
    chaos.partition(vec![6, 7]).unwrap();
    let nodes = net.nodes();
    assert!(
        nodes
            .iter()
            .all(|n| n.executor == netsim::ExecutorMode::Slow)
    );
    assert_eq!(
        nodes
            .iter()
            .filter(|n| n.stalled)
            .map(|n| n.id)
            .collect::<Vec<_>>(),
        [0, 4]
    );
    chaos.heal_all().await.unwrap();
    let nodes = net.nodes();
    assert!(nodes.iter().all(|n| n.alive && !n.stalled));
    assert!(
        nodes
            .iter()
            .all(|n| n.executor == netsim::ExecutorMode::Normal)
    );
    // Healed: a 5-minute window after it reads no failed payment or message beyond the
    // ordinary ones, and every chain follows the head.
    let before = net.expositions();
    for _ in 0..WINDOW {
        net.advance(1.0);
    }
    let after = net.expositions();
    let delta = |count: fn(&str) -> (f64, f64)| {
        let total = |e: &[(netsim::NodeInfo, String)]| {
            e.iter()
                .map(|(_, t)| count(t))
                .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
        };
        let (a, b) = (total(&after), total(&before));
        (a.0 - b.0) / (a.1 - b.1)
    };
    assert!(delta(payment_success) < 0.0005);
    assert!(delta(message_delivery) < 0.0005);
    assert!(delta(task_success) < 0.0025);
    let heights: Vec<u64> = net.nodes().iter().map(|n| n.height).collect();
    assert!(heights.windows(2).all(|w| w[0] == w[1]), "{heights:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_a_layer_undoes_it_alone() {
    let net = Network::start(quiet(8, 3)).await.unwrap();
    let chaos = net.chaos();
    chaos.degrade(Layer::Consensus).unwrap();
    chaos.degrade(Layer::Execution).unwrap();
    chaos.restore(Layer::Consensus).unwrap();
    let nodes = net.nodes();
    assert!(nodes.iter().all(|n| !n.stalled), "the chains resumed");
    assert_eq!(
        nodes
            .iter()
            .filter(|n| n.executor == netsim::ExecutorMode::Failing)
            .count(),
        4,
        "the executors' chaos stays"
    );
    chaos.restore(Layer::Execution).unwrap();
    assert!(
        net.nodes()
            .iter()
            .all(|n| n.executor == netsim::ExecutorMode::Normal)
    );
}
