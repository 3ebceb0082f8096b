//! The simulated network over real loopback HTTP: nodes serve their metrics and health,
//! chaos kills and restarts them, and a seed replays the same network.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use common::quiet;
use netsim::{ExecutorMode, Network};

async fn get(url: String) -> Result<(u16, String), reqwest::Error> {
    let response = reqwest::Client::new().get(url).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// The value of the first line of `metrics` that starts with `series`.
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_serve_their_layers_and_health() {
    let net = Network::start(quiet(5, 1)).await.unwrap();
    for _ in 0..30 {
        net.advance(1.0);
    }
    let nodes = net.nodes();
    assert_eq!(nodes.len(), 5);
    let (status, metrics) = get(format!("http://{}/metrics", nodes[0].addr))
        .await
        .unwrap();
    assert_eq!(status, 200);
    for family in [
        "p2p_peers",
        "p2p_messages_sent_total{type=\"gossip\"}",
        "p2p_bandwidth_bytes_total{direction=\"tx\"}",
        "p2p_dht_operations_total",
        "chain_block_height",
        "chain_block_interval_seconds_bucket",
        "execution_tasks_total{status=\"success\"}",
        "execution_task_duration_seconds_bucket",
        "execution_wasm_memory_limit_bytes",
        "economic_payment_channels{state=\"active\"}",
        "economic_payments_total{outcome=\"success\"}",
        "economic_value_locked",
        "node_build_info",
    ] {
        assert!(
            metrics.contains(family),
            "{family} missing from:\n{metrics}"
        );
    }
    assert!(value(&metrics, "chain_block_height") > 1.0);
    assert_eq!(
        value(&metrics, "execution_wasm_memory_limit_bytes"),
        134_217_728.0
    );
    let (status, health) = get(format!("http://{}/health", nodes[0].addr))
        .await
        .unwrap();
    assert_eq!(status, 200, "{health}");
    assert!(health.contains("\"p2p\""), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kills_restarts_stalls_and_partitions() {
    let net = Network::start(quiet(4, 2)).await.unwrap();
    let chaos = net.chaos();
    let addr = net.nodes()[1].addr;
    chaos.kill(1).unwrap();
    assert!(!net.nodes()[1].alive);
    assert!(
        get(format!("http://{addr}/metrics")).await.is_err(),
        "a killed node answers"
    );
    chaos.restart(1).await.unwrap();
    let (status, _) = get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(status, 200);

    chaos.stall(2, true).unwrap();
    let before = net.nodes()[2].height;
    for _ in 0..20 {
        net.advance(1.0);
    }
    assert_eq!(
        net.nodes()[2].height,
        before,
        "a stalled chain does not move"
    );
    assert!(net.nodes()[0].height > before);

    chaos.executor(3, ExecutorMode::Failing).unwrap();
    assert_eq!(net.nodes()[3].executor, ExecutorMode::Failing);
    chaos.partition(vec![0]).unwrap();
    let cut = net.nodes()[0].height;
    for _ in 0..20 {
        net.advance(1.0);
    }
    assert_eq!(
        net.nodes()[0].height,
        cut,
        "the smaller side of a partition falls behind"
    );
    assert!(net.nodes()[1].height > cut);
    assert!(chaos.kill(9).unwrap_err().contains("no node 9"));
    assert!(chaos.payment_failure_rate(2.0).is_err());
}

/// Regression (issue 17): a killed node stayed every other node's reachable peer, so
/// `p2p_peers` (and the "Peers per node" panel) never moved when a node went down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_no_longer_its_peers_peer() {
    let net = Network::start(quiet(4, 3)).await.unwrap();
    let peers = |i: usize| {
        let addr = net.nodes()[i].addr;
        async move {
            value(
                &get(format!("http://{addr}/metrics")).await.unwrap().1,
                "p2p_peers",
            )
        }
    };
    for _ in 0..30 {
        net.advance(1.0);
    }
    for i in 0..4 {
        assert_eq!(peers(i).await, 3.0, "node {i} of four, all up");
    }
    net.chaos().kill(3).unwrap();
    for _ in 0..30 {
        net.advance(1.0);
    }
    for i in 0..3 {
        assert_eq!(peers(i).await, 2.0, "node {i}, with node 3 down");
    }
    net.chaos().restart(3).await.unwrap();
    for _ in 0..30 {
        net.advance(1.0);
    }
    for i in 0..4 {
        assert_eq!(peers(i).await, 3.0, "node {i}, with node 3 back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_replays_the_same_network() {
    let heights = |net: &Network| net.nodes().iter().map(|n| n.height).collect::<Vec<_>>();
    let (a, b) = (
        Network::start(quiet(3, 42)).await.unwrap(),
        Network::start(quiet(3, 42)).await.unwrap(),
    );
    let c = Network::start(quiet(3, 43)).await.unwrap();
    for _ in 0..50 {
        a.advance(0.5);
        b.advance(0.5);
        c.advance(0.5);
    }
    assert_eq!(heights(&a), heights(&b));
    let metrics = |net: &Network| {
        let addr = net.nodes()[0].addr;
        async move { get(format!("http://{addr}/metrics")).await.unwrap().1 }
    };
    let (ma, mb, mc) = (metrics(&a).await, metrics(&b).await, metrics(&c).await);
    let tasks = "execution_tasks_total{status=\"success\"}";
    assert_eq!(value(&ma, tasks), value(&mb, tasks));
    assert_ne!(
        (
            value(&ma, tasks),
            value(&ma, "p2p_bandwidth_bytes_total{direction=\"tx\"}")
        ),
        (
            value(&mc, tasks),
            value(&mc, "p2p_bandwidth_bytes_total{direction=\"tx\"}")
        ),
        "another seed, another network"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_endpoint_drives_the_chaos() {
    let net = Network::start(quiet(3, 5)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = listener.local_addr().unwrap();
    let router = net.control_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let post = |path: &str| client.post(format!("http://{control}{path}")).send();
    assert_eq!(post("/nodes/1/kill").await.unwrap().status(), 200);
    assert!(!net.nodes()[1].alive);
    assert_eq!(post("/nodes/1/restart").await.unwrap().status(), 200);
    assert!(net.nodes()[1].alive);
    assert_eq!(post("/nodes/2/executor/slow").await.unwrap().status(), 200);
    assert_eq!(net.nodes()[2].executor, ExecutorMode::Slow);
    let bad = post("/nodes/7/kill").await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.text().await.unwrap(),
        "no node 7: the network has nodes 0 to 2\n"
    );
    assert_eq!(post("/partition?nodes=0,1").await.unwrap().status(), 200);
    assert_eq!(post("/heal").await.unwrap().status(), 200);
    assert_eq!(
        post("/payments/failure-rate?rate=0.5")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("/p2p/failure-rate?rate=0.5").await.unwrap().status(),
        200
    );
    assert_eq!(post("/chaos/consensus").await.unwrap().status(), 200);
    assert!(net.nodes()[0].stalled);
    let bad = post("/chaos/disk").await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.text().await.unwrap(),
        "unknown layer \"disk\": use execution, latency, payments, p2p, consensus, api (or heal)\n"
    );
    assert_eq!(post("/chaos/execution").await.unwrap().status(), 200);
    assert_eq!(net.nodes()[0].executor, ExecutorMode::Failing);
    assert_eq!(post("/chaos/heal").await.unwrap().status(), 200);
    assert!(!net.nodes()[0].stalled);
    assert_eq!(net.nodes()[0].executor, ExecutorMode::Normal);
    assert_eq!(post("/nodes/2/executor/slow").await.unwrap().status(), 200);
    let nodes: serde_json::Value = serde_json::from_str(
        &client
            .get(format!("http://{control}/nodes"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(nodes.as_array().unwrap().len(), 3);
    assert_eq!(nodes[2]["executor"], "slow");
}
