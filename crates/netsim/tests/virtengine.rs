//! The VirtEngine profile: a healthy network keeps every value the shipped alerts read on
//! the quiet side of their thresholds, and each fault pushes what its alert reads past the
//! threshold within a minute. Windows are those of the alerts (5 minutes, or an hour), read
//! from expositions taken as a scrape would.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::quiet;
use netsim::{Network, Profile};

/// One node's samples: series text (name and labels as exposed) to value.
#[derive(Debug, Clone, Default)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut out = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            out.insert(series.to_owned(), value.parse::<f64>().unwrap());
        }
        Scrape(out)
    }

    /// The sum of the series of `name` whose labels include every one of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|(_, v)| v).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = (&'a String, f64)> + 'a {
        self.0.iter().filter_map(move |(series, &v)| {
            let rest = series.strip_prefix(name)?;
            if !(rest.is_empty() || rest.starts_with('{')) {
                return None;
            }
            labels
                .iter()
                .all(|(k, val)| rest.contains(&format!("{k}=\"{val}\"")))
                .then_some((series, v))
        })
    }

    /// A histogram's buckets (upper bound, cumulative count) among `labels`.
    fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let mut out: Vec<(f64, f64)> = self
            .matching(&bucket, labels)
            .map(|(series, v)| {
                let le = series.split("le=\"").nth(1).unwrap();
                let le = le.split('"').next().unwrap();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (le, v)
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// Every live node's scrape, by node id.
fn scrape(net: &Network) -> BTreeMap<usize, Scrape> {
    net.expositions()
        .into_iter()
        .map(|(info, text)| (info.id, Scrape::parse(&text)))
        .collect()
}

fn advance(net: &Network, seconds: usize) {
    for _ in 0..seconds {
        net.advance(1.0);
    }
}

/// `histogram_quantile` over the increase of a histogram between two scrapes, as
/// Prometheus interpolates it.
fn quantile(q: f64, before: &[(f64, f64)], after: &[(f64, f64)]) -> f64 {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .zip(before)
        .map(|(a, b)| (a.0, a.1 - b.1))
        .collect();
    let total = delta.last().unwrap().1;
    assert!(total > 0.0, "no observations in the window");
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in &delta {
        if count >= rank {
            if le.is_infinite() {
                return lower.0;
            }
            return lower.0 + (le - lower.0) * (rank - lower.1) / (count - lower.1);
        }
        lower = (le, count);
    }
    unreachable!()
}

fn virtengine(nodes: usize, seed: u64) -> netsim::Options {
    netsim::Options {
        profile: Profile::VirtEngine,
        ..quiet(nodes, seed)
    }
}

const MODELS: [&str; 3] = ["fraud-score", "face-match", "doc-ocr"];

#[tokio::test]
async fn a_healthy_network_keeps_every_alert_quiet_for_an_hour_and_its_values_move() {
    let nodes = 8;
    let net = Network::start(virtengine(nodes, 3)).await.unwrap();
    advance(&net, 60);
    let start = scrape(&net);
    let mut five_minutes_ago = start.clone();
    // Per node and family, every value seen: no family may stay on one value.
    let mut seen: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for minute in 1..=60 {
        advance(&net, 60);
        let now = scrape(&net);
        assert_eq!(now.len(), nodes);
        for (id, s) in &now {
            let at = format!("node {id} at minute {minute}");
            for (series, v) in &s.0 {
                if *id == 0 {
                    seen.entry(series.clone()).or_default().insert(v.to_bits());
                }
            }
            assert_eq!(s.sum("cometbft_consensus_validators", &[]), nodes as f64);
            assert_eq!(
                s.sum("cometbft_consensus_validators_power", &[]),
                s.sum("cometbft_consensus_total_voting_power", &[]),
                "{at}"
            );
            assert_eq!(s.sum("cometbft_consensus_validator_ready", &[]), 1.0);
            let escrow = s.sum("virtengine_escrow_balance_total", &[]);
            assert!((2e9..=8e9).contains(&escrow), "{at}: escrow {escrow}");
            let pending = s.sum("virtengine_veid_pending_verifications", &[]);
            assert!((3.0..=50.0).contains(&pending), "{at}: pending {pending}");
            let cpu = s.sum("virtengine_provider_cpu_utilization", &[]);
            assert!((0.3..=0.7).contains(&cpu), "{at}: cpu {cpu}");
            let memory = s.sum("virtengine_provider_memory_utilization", &[]);
            assert!((0.4..=0.7).contains(&memory), "{at}: memory {memory}");
            assert_eq!(s.sum("cometbft_blocksync_syncing", &[]), 0.0, "{at}");
            assert_eq!(
                s.sum("virtengine_provider_status", &[("status", "active")]),
                1.0
            );
            assert_eq!(s.sum("kube_pod_status_phase", &[("phase", "Running")]), 1.0);
            assert_eq!(s.sum("kube_pod_status_phase", &[]), 1.0);
            assert_eq!(s.sum("kube_pod_container_status_restarts_total", &[]), 0.0);
            let available = s.sum("node_memory_MemAvailable_bytes", &[])
                / s.sum("node_memory_MemTotal_bytes", &[]);
            assert!((0.25..0.65).contains(&available), "{at}: {available}");
            let disk = s.sum("node_filesystem_avail_bytes", &[])
                / s.sum("node_filesystem_size_bytes", &[]);
            assert!((0.5..0.7).contains(&disk), "{at}: disk {disk}");
            assert!(
                s.sum("virtengine_market_orders_matched", &[])
                    <= s.sum("virtengine_market_orders_created", &[])
            );
            assert!(
                s.sum("virtengine_provider_bids_won", &[])
                    <= s.sum("virtengine_provider_bids_total", &[])
            );
        }
        if minute % 5 == 0 {
            for (id, s) in &now {
                let was = &five_minutes_ago[id];
                let at = format!("node {id}, the 5 minutes to minute {minute}");
                // ConsensusStalled, HighTransactionLatency, MLInferenceTimeout.
                assert!(
                    s.sum("cometbft_consensus_height", &[])
                        > was.sum("cometbft_consensus_height", &[]),
                    "{at}"
                );
                let p99 = quantile(
                    0.99,
                    &was.buckets("virtengine_tx_latency_seconds", &[]),
                    &s.buckets("virtengine_tx_latency_seconds", &[]),
                );
                assert!((1.0..5.0).contains(&p99), "{at}: tx p99 {p99}");
                assert_eq!(
                    s.sum("virtengine_ml_inference_timeout_total", &[]),
                    was.sum("virtengine_ml_inference_timeout_total", &[]),
                    "{at}"
                );
            }
            five_minutes_ago = now.clone();
        }
    }
    // The hour's windows: ProviderHighFailureRate, SLOVEIDResponseTime and order matching.
    let end = scrape(&net);
    let delta = |name: &str, labels: &[(&str, &str)]| -> f64 {
        end.values().map(|s| s.sum(name, labels)).sum::<f64>()
            - start.values().map(|s| s.sum(name, labels)).sum::<f64>()
    };
    for (id, s) in &end {
        let d = |name: &str| s.sum(name, &[]) - start[id].sum(name, &[]);
        let failure =
            d("virtengine_provider_workload_failures") / d("virtengine_provider_workload_starts");
        assert!(failure < 0.1, "node {id}: workload failure ratio {failure}");
        let won = d("virtengine_provider_bids_won") / d("virtengine_provider_bids_total");
        assert!((0.3..0.5).contains(&won), "node {id}: bids won {won}");
    }
    let in_time = delta(
        "virtengine_veid_submission_seconds_bucket",
        &[("le", "10.0")],
    ) / delta("virtengine_veid_submission_seconds_count", &[]);
    assert!(in_time >= 0.99, "VEID verdicts within 10 s: {in_time}");
    let matched = delta("virtengine_market_orders_matched", &[])
        / delta("virtengine_market_orders_created", &[]);
    assert!((0.95..0.99).contains(&matched), "orders matched {matched}");
    // Daily active users: the users each node serves show up over the hour.
    let active = |s: &BTreeMap<usize, Scrape>| {
        s.values()
            .flat_map(|s| s.matching("virtengine_user_transactions_total", &[]))
            .filter(|(_, v)| *v > 0.0)
            .count()
    };
    assert!(
        active(&start) < active(&end),
        "{} then {}",
        active(&start),
        active(&end)
    );
    // Every series of node 0 moves, but those that hold one value on a healthy network.
    let constant: Vec<&String> = seen
        .iter()
        .filter(|(_, values)| values.len() < 2)
        .map(|(series, _)| series)
        .collect();
    let allowed = [
        "cometbft_consensus_validators",
        "cometbft_consensus_validators_power",
        "cometbft_consensus_total_voting_power",
        "cometbft_consensus_validator_ready",
        "cometbft_blocksync_syncing",
        "virtengine_provider_status",
        "kube_pod_status_phase",
        "kube_pod_container_status_restarts_total",
        "node_memory_MemTotal_bytes",
        "node_filesystem_size_bytes",
        "virtengine_ml_inference_timeout_total",
        "node_build_info",
        "node_health_",
        "node_http_",
        "_bucket{",
        // No timeouts, so no inference histogram sample reaches the 5 s bucket alone.
    ];
    let unexpected: Vec<_> = constant
        .iter()
        .filter(|s| !allowed.iter().any(|a| s.starts_with(a) || s.contains(a)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "constant over an hour: {unexpected:#?}"
    );
}

/// Starts a network of 6 nodes, runs it healthy for `healthy` seconds after a first
/// scrape, then turns `fault` on for `faulty` seconds: the scrapes before and after.
async fn window(
    fault: &str,
    healthy: usize,
    faulty: usize,
) -> (Network, BTreeMap<usize, Scrape>, BTreeMap<usize, Scrape>) {
    let net = Network::start(virtengine(6, 5)).await.unwrap();
    advance(&net, 30);
    let before = scrape(&net);
    advance(&net, healthy);
    net.chaos().fault(fault, true).unwrap();
    advance(&net, faulty);
    let after = scrape(&net);
    (net, before, after)
}

#[tokio::test]
async fn consensus_stall_halts_every_height() {
    let (net, _, at) = window("consensus-stall", 60, 1).await;
    advance(&net, 300);
    let after = scrape(&net);
    for (id, s) in &after {
        let height = |s: &Scrape| s.sum("cometbft_consensus_height", &[]);
        // increase(cometbft_consensus_height[5m]) == 0
        assert_eq!(height(s), height(&at[id]), "node {id}");
        assert!(s.sum("cometbft_consensus_rounds", &[]) >= 1.0);
        assert!(s.sum("cometbft_mempool_size", &[]) > 1000.0);
    }
    net.chaos().fault("consensus-stall", false).unwrap();
    advance(&net, 30);
    let resumed = scrape(&net);
    assert!(
        resumed[&0].sum("cometbft_consensus_height", &[])
            > after[&0].sum("cometbft_consensus_height", &[])
    );
}

#[tokio::test]
async fn validator_down_takes_more_than_a_third_of_the_power() {
    let (_net, before, after) = window("validator-down", 30, 60).await;
    let ready = after
        .values()
        .filter(|s| s.sum("cometbft_consensus_validator_ready", &[]) == 1.0)
        .count() as f64;
    // count(ready == 1) < count(ready) * 0.67
    assert!(ready < after.len() as f64 * 0.67, "{ready} ready");
    for (id, s) in &after {
        let share = s.sum("cometbft_consensus_validators_power", &[])
            / s.sum("cometbft_consensus_total_voting_power", &[]);
        assert!(share < 2.0 / 3.0, "node {id}: {share}");
        assert!(s.sum("cometbft_consensus_missing_validators", &[]) >= 3.0);
    }
    let missed = |s: &Scrape| s.sum("cometbft_consensus_validator_missed_blocks", &[]);
    assert!(missed(&after[&0]) >= missed(&before[&0]) + 10.0);
    // Node 5 is not among the first ceil(6/3)+1: it signs, missing a rare block at most.
    assert!(missed(&after[&5]) - missed(&before[&5]) < 3.0);
    assert_eq!(
        after[&5].sum("cometbft_consensus_validator_ready", &[]),
        1.0
    );
}

#[tokio::test]
async fn escrow_low_drains_every_balance_under_a_billion() {
    let (_net, _, after) = window("escrow-low", 30, 60).await;
    for (id, s) in &after {
        let balance = s.sum("virtengine_escrow_balance_total", &[]);
        assert!(balance < 1e9 && balance > 0.0, "node {id}: {balance}");
    }
}

#[tokio::test]
async fn inference_timeouts_time_out_a_fifth_of_every_model() {
    let (_net, before, after) = window("inference-timeouts", 240, 60).await;
    for (id, s) in &after {
        for model in MODELS {
            let m = [("model", model)];
            // rate(virtengine_ml_inference_timeout_total[5m]) > 0.01
            let rate = (s.sum("virtengine_ml_inference_timeout_total", &m)
                - before[id].sum("virtengine_ml_inference_timeout_total", &m))
                / 300.0;
            assert!(rate > 0.01, "node {id}, {model}: {rate}/s");
        }
    }
}

#[tokio::test]
async fn provider_failures_push_the_hours_failure_ratio_past_a_tenth() {
    let (_net, before, after) = window("provider-failures", 3540, 60).await;
    for (id, s) in &after {
        let d = |name: &str| s.sum(name, &[]) - before[id].sum(name, &[]);
        // rate(failures[1h]) / rate(starts[1h]) > 0.1
        let ratio =
            d("virtengine_provider_workload_failures") / d("virtengine_provider_workload_starts");
        assert!(ratio > 0.1, "node {id}: {ratio}");
    }
}

#[tokio::test]
async fn veid_backlog_grows_the_queue_and_breaks_the_response_time_objective() {
    let (_net, before, after) = window("veid-backlog", 3540, 60).await;
    let delta = |name: &str, labels: &[(&str, &str)]| -> f64 {
        after.values().map(|s| s.sum(name, labels)).sum::<f64>()
            - before.values().map(|s| s.sum(name, labels)).sum::<f64>()
    };
    for (id, s) in &after {
        let pending = s.sum("virtengine_veid_pending_verifications", &[]);
        assert!(pending > 100.0, "node {id}: {pending}");
    }
    let in_time = delta(
        "virtengine_veid_submission_seconds_bucket",
        &[("le", "10.0")],
    ) / delta("virtengine_veid_submission_seconds_count", &[]);
    assert!(in_time < 0.99, "{in_time}");
}

#[tokio::test]
async fn tx_latency_takes_the_p99_past_five_seconds() {
    let (_net, before, after) = window("tx-latency", 240, 60).await;
    for (id, s) in &after {
        let p99 = quantile(
            0.99,
            &before[id].buckets("virtengine_tx_latency_seconds", &[]),
            &s.buckets("virtengine_tx_latency_seconds", &[]),
        );
        assert!(p99 > 5.0, "node {id}: {p99}");
    }
}

#[tokio::test]
async fn a_restarted_node_counts_one_restart_of_its_pod() {
    let net = Network::start(virtengine(3, 1)).await.unwrap();
    advance(&net, 5);
    let chaos = net.chaos();
    chaos.kill(1).unwrap();
    advance(&net, 5);
    chaos.restart(1).await.unwrap();
    advance(&net, 5);
    let s = &scrape(&net)[&1];
    let restarts = |c: &str| {
        s.sum(
            "kube_pod_container_status_restarts_total",
            &[("pod", "virtengine-node-01-0"), ("container", c)],
        )
    };
    assert_eq!(restarts("virtengine"), 1.0);
    assert_eq!(restarts("provider-daemon"), 0.0);
    assert_eq!(
        scrape(&net)[&0].sum("kube_pod_container_status_restarts_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn a_seed_replays_the_same_values() {
    let families = |net: &Network| -> Vec<String> {
        net.expositions()
            .into_iter()
            .flat_map(|(_, text)| {
                text.lines()
                    .filter(|l| {
                        l.starts_with("virtengine_")
                            || l.starts_with("cometbft_")
                            || l.starts_with("node_cpu")
                    })
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>()
            })
            .collect()
    };
    let a = Network::start(virtengine(3, 9)).await.unwrap();
    let b = Network::start(virtengine(3, 9)).await.unwrap();
    advance(&a, 120);
    advance(&b, 120);
    assert_eq!(families(&a), families(&b));
}
