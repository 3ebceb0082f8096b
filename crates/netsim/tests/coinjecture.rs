//! The COINjecture profile against its catalog (`docs/profiles/coinjecture.md`): a healthy
//! network keeps every value its alerts read inside their bounds, each fault pushes those
//! values past the bounds within a minute, and the rollback stops the mismatches.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use common::quiet;
use netsim::{Network, Profile};

/// One scrape of every live node: each node's samples, as (name, labels, value).
struct Scrape(Vec<Vec<(String, String, f64)>>);

impl Scrape {
    fn of(net: &Network) -> Self {
        Self(
            net.expositions()
                .into_iter()
                .map(|(_, text)| {
                    text.lines()
                        .filter(|l| !l.starts_with('#') && !l.is_empty())
                        .map(|l| {
                            let (series, value) = l.rsplit_once(' ').unwrap();
                            let (name, labels) = match series.split_once('{') {
                                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                                None => (series, ""),
                            };
                            (name.to_owned(), labels.to_owned(), value.parse().unwrap())
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// Each node's sum of `name`'s samples carrying every `k="v"` of `labels`.
    fn per_node(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.0
            .iter()
            .map(|samples| {
                samples
                    .iter()
                    .filter(|(n, l, _)| {
                        n == name
                            && labels
                                .iter()
                                .all(|(k, v)| l.split(',').any(|p| p == format!("{k}=\"{v}\"")))
                    })
                    .map(|(_, _, v)| v)
                    .sum()
            })
            .collect()
    }

    /// The network's sum.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.per_node(name, labels).iter().sum()
    }
}

async fn coinjecture(nodes: usize, seed: u64) -> Network {
    Network::start(netsim::Options {
        profile: Profile::Coinjecture,
        ..quiet(nodes, seed)
    })
    .await
    .unwrap()
}

fn advance(net: &Network, seconds: usize) {
    for _ in 0..seconds {
        net.advance(1.0);
    }
}

/// The share of `histogram`'s observations between two scrapes that took over `bound`
/// seconds (`bound` one of its buckets): over 1% puts its p99 past `bound`.
fn share_over(before: &Scrape, after: &Scrape, histogram: &str, bound: &str) -> f64 {
    let count = format!("{histogram}_count");
    let bucket = format!("{histogram}_bucket");
    let all = after.sum(&count, &[]) - before.sum(&count, &[]);
    let within = after.sum(&bucket, &[("le", bound)]) - before.sum(&bucket, &[("le", bound)]);
    assert!(all > 0.0, "no {histogram} observed");
    (all - within) / all
}

/// The share of API requests answering 5xx between two scrapes.
fn share_5xx(before: &Scrape, after: &Scrape) -> f64 {
    let delta = |labels: &[(&str, &str)]| {
        after.sum("http_requests_total", labels) - before.sum("http_requests_total", labels)
    };
    (delta(&[("code", "500")]) + delta(&[("code", "503")])) / delta(&[])
}

/// The share of rate-limit blocks that were false positives between two scrapes.
fn false_positive_share(before: &Scrape, after: &Scrape) -> f64 {
    let delta = |name| after.sum(name, &[]) - before.sum(name, &[]);
    delta("rate_limit_false_positives_total") / delta("rate_limit_blocked_total")
}

#[tokio::test]
async fn a_healthy_network_keeps_every_steady_value_in_range_and_moving() {
    // The demo's twenty nodes for half an hour: the nodes' rare 5xx must not fall together.
    let nodes = 20;
    let net = coinjecture(nodes, 7).await;
    advance(&net, 60);
    let first = Scrape::of(&net);
    let mut scrapes = vec![Scrape::of(&net)];
    for _ in 0..60 {
        advance(&net, 30);
        let now = Scrape::of(&net);
        for (name, want) in [
            ("dual_run_parity_match_rate", 1.0),
            ("ipfs_pin_quorum_success_ratio", 1.0),
            ("codec_mode_active", 2.0),
            ("epoch_replay_bypass_successful_total", 0.0),
            ("dual_run_mismatches_total", 0.0),
            ("ipfs_pin_failure_total", 0.0),
            ("security_vulnerabilities", 0.0),
        ] {
            let labels: &[(&str, &str)] = if name == "security_vulnerabilities" {
                &[("severity", "critical")]
            } else {
                &[]
            };
            let got = now.per_node(name, labels);
            assert!(got.iter().all(|&v| v == want), "{name}: {got:?}");
        }
        for score in now.per_node("security_posture_score", &[]) {
            assert!((85.0..=97.0).contains(&score), "posture {score}");
        }
        for (component, mib) in [
            ("consensus_core", 300.0),
            ("go_daemon", 150.0),
            ("python_shims", 200.0),
        ] {
            for bytes in now.per_node("process_resident_memory_bytes", &[("component", component)])
            {
                let got = bytes / 1024.0 / 1024.0;
                assert!((got - mib).abs() < mib * 0.2, "{component}: {got} MiB");
            }
        }
        // The five minutes before, as a five-minute rate reads them: network-wide well
        // inside the 0.05% budget of 99.95%, and each node inside it too.
        if let Some(before) = scrapes.len().checked_sub(10).map(|i| &scrapes[i]) {
            let share = share_5xx(before, &now);
            assert!(share < 0.0002, "5xx share {share}");
            let per_node = |s: &Scrape, code| s.per_node("http_requests_total", &[("code", code)]);
            let all = |s: &Scrape| s.per_node("http_requests_total", &[]);
            for i in 0..nodes {
                let failed = per_node(&now, "500")[i] + per_node(&now, "503")[i]
                    - per_node(before, "500")[i]
                    - per_node(before, "503")[i];
                let share = failed / (all(&now)[i] - all(before)[i]);
                assert!(share < 0.0005, "node {i}: 5xx share {share}");
            }
        }
        scrapes.push(now);
    }
    let last = scrapes.pop().unwrap();
    // Half an hour: the tails and shares the alerts read stay well inside their bounds.
    assert!(share_5xx(&first, &last) < 0.0002);
    // Under 1% past 0.1 s: histogram_quantile puts the p99 under 0.1 s, far from 0.25.
    assert!(share_over(&first, &last, "block_validation_duration_seconds", "0.1") < 0.01);
    assert!(share_over(&first, &last, "http_request_duration_seconds", "0.1") < 0.01);
    let fp = false_positive_share(&first, &last);
    assert!(fp < 0.03, "false positives {fp}");
    let blocked = (last.sum("rate_limit_blocked_total", &[])
        - first.sum("rate_limit_blocked_total", &[]))
        / (last.sum("http_requests_total", &[]) - first.sum("http_requests_total", &[]));
    assert!((0.005..0.015).contains(&blocked), "blocked {blocked}");
    // And everything a panel draws moves.
    for counter in [
        "consensus_block_height",
        "dual_run_comparisons_total",
        "epoch_replay_detected_total",
        "ipfs_pin_success_total",
        "rate_limit_accepted_total",
        "codec_mode_requests_total",
        "process_cpu_seconds_total",
        "security_layer_rejections_total",
        "rate_limit_false_positives_total",
    ] {
        assert!(
            last.sum(counter, &[]) > first.sum(counter, &[]),
            "{counter} did not move"
        );
    }
    // One 5xx in 20,000 requests: a few dozen in half an hour on twenty nodes.
    let failed = last.sum("http_requests_total", &[("code", "500")])
        + last.sum("http_requests_total", &[("code", "503")])
        - first.sum("http_requests_total", &[("code", "500")])
        - first.sum("http_requests_total", &[("code", "503")]);
    assert!((10.0..60.0).contains(&failed), "{failed} 5xx");
}

#[tokio::test]
async fn process_families_appear_once_with_their_component() {
    let net = coinjecture(2, 1).await;
    net.advance(1.0);
    let (_, text) = net.expositions().remove(0);
    for family in ["process_resident_memory_bytes", "process_cpu_seconds"] {
        assert_eq!(
            text.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family} in\n{text}"
        );
    }
    let samples: Vec<_> = text.lines().filter(|l| l.starts_with("process_")).collect();
    assert_eq!(samples.len(), 6, "{samples:?}");
    assert!(
        samples.iter().all(|l| l.contains("component=\"")),
        "{samples:?}"
    );
}

#[tokio::test]
async fn a_seed_replays_the_same_coinjecture_run() {
    let families = |net: &Network| {
        let (_, text) = net.expositions().remove(0);
        text.lines()
            .filter(|l| {
                [
                    "dual_run_",
                    "http_requests_total",
                    "ipfs_",
                    "security_",
                    "process_",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (a, b) = (coinjecture(3, 11).await, coinjecture(3, 11).await);
    advance(&a, 30);
    advance(&b, 30);
    assert_eq!(families(&a), families(&b));
}

/// A fault's check: the network's scrapes before the fault and after its minute, and
/// whether what the alert reads is past its bound.
type Check = fn(&Scrape, &Scrape) -> Result<(), String>;

#[tokio::test]
async fn each_fault_moves_what_its_alert_reads_past_its_threshold_within_a_minute() {
    let checks: [(&str, Check); 7] = [
        ("parity-mismatch", |before, after| {
            let new = after.sum("dual_run_mismatches_total", &[("function", "merkle_root")])
                - before.sum("dual_run_mismatches_total", &[]);
            let rates = after.per_node("dual_run_parity_match_rate", &[]);
            (new > 0.0 && rates.iter().all(|&r| r < 1.0))
                .then_some(())
                .ok_or(format!("{new} new mismatches, match rates {rates:?}"))
        }),
        ("replay-bypass", |_, after| {
            let bypasses = after.sum("epoch_replay_bypass_successful_total", &[]);
            (bypasses > 0.0)
                .then_some(())
                .ok_or(format!("{bypasses} bypasses"))
        }),
        ("pin-quorum-loss", |before, after| {
            let quorum = after.per_node("ipfs_pin_quorum_success_ratio", &[]);
            let failed = after.sum("ipfs_pin_failure_total", &[("ipfs_node", "ipfs-2")])
                - before.sum("ipfs_pin_failure_total", &[]);
            (failed > 0.0 && quorum.iter().all(|&q| q < 0.7))
                .then_some(())
                .ok_or(format!("{failed} failures, quorum {quorum:?}"))
        }),
        ("api-errors", |before, after| {
            // Over five minutes (four healthy, one faulty), as the alert's window reads
            // them: past the 0.05% budget of 99.95%.
            let share = share_5xx(before, after);
            (share > 0.0005 * 10.0)
                .then_some(())
                .ok_or(format!("5xx share {share}"))
        }),
        ("validation-slow", |before, after| {
            let share = share_over(before, after, "block_validation_duration_seconds", "1.0");
            (share > 0.05)
                .then_some(())
                .ok_or(format!("{share} of validations over 1 s"))
        }),
        ("memory-leak", |_, after| {
            let mib: Vec<f64> = after
                .per_node(
                    "process_resident_memory_bytes",
                    &[("component", "go_daemon")],
                )
                .iter()
                .map(|b| b / 1024.0 / 1024.0)
                .collect();
            // A minute at ~5 MiB/s on top of ~150 MiB.
            mib.iter()
                .all(|&m| m > 150.0 + 200.0)
                .then_some(())
                .ok_or(format!("go_daemon at {mib:?} MiB"))
        }),
        ("rate-limit-false-positives", |_, _| Ok(())),
    ];
    for (fault, check) in checks {
        let net = coinjecture(10, 3).await;
        advance(&net, 240);
        let before = Scrape::of(&net);
        net.chaos().fault(fault, true).unwrap();
        let at_fault = Scrape::of(&net);
        advance(&net, 60);
        let after = Scrape::of(&net);
        if let Err(e) = check(&before, &after) {
            panic!("{fault}: {e}");
        }
        if fault == "rate-limit-false-positives" {
            // Over the fault's minute: about 20% of blocks, far past the ~1% of steady.
            let share = false_positive_share(&at_fault, &after);
            assert!(share > 0.1, "false positive share {share}");
        }
        // The healthy four minutes before kept it quiet.
        assert_eq!(
            before.sum("dual_run_mismatches_total", &[])
                + before.sum("epoch_replay_bypass_successful_total", &[])
                + before.sum("ipfs_pin_failure_total", &[]),
            0.0,
            "{fault}"
        );
        net.chaos().heal_all().await.unwrap();
        assert!(net.chaos().faults().iter().all(|f| !f.on));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollback_stops_new_mismatches_and_sets_codec_mode_0() {
    let net = coinjecture(5, 9).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = listener.local_addr().unwrap();
    let router = net.control_router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let post = |path: &str| client.post(format!("http://{control}{path}")).send();
    assert_eq!(post("/faults/parity-mismatch").await.unwrap().status(), 200);
    advance(&net, 60);
    let mismatched = Scrape::of(&net);
    assert!(mismatched.sum("dual_run_mismatches_total", &[]) > 0.0);

    assert_eq!(post("/coinjecture/rollback").await.unwrap().status(), 200);
    assert!(
        net.chaos()
            .faults()
            .iter()
            .all(|f| f.name != "parity-mismatch" || !f.on)
    );
    advance(&net, 1);
    let rolled_back = Scrape::of(&net);
    advance(&net, 120);
    let later = Scrape::of(&net);
    for name in ["dual_run_mismatches_total", "dual_run_comparisons_total"] {
        assert_eq!(later.sum(name, &[]), rolled_back.sum(name, &[]), "{name}");
    }
    assert!(
        later
            .per_node("codec_mode_active", &[])
            .iter()
            .all(|&m| m == 0.0)
    );
    // The last minute held no comparison: the match rate reads 1 again.
    assert!(
        later
            .per_node("dual_run_parity_match_rate", &[])
            .iter()
            .all(|&r| r == 1.0)
    );
    assert!(
        later.sum("codec_mode_requests_total", &[("mode", "legacy_only")])
            > rolled_back.sum("codec_mode_requests_total", &[("mode", "legacy_only")])
    );

    let bad = post("/coinjecture/promote?mode=7").await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("0 to 3"));
    assert_eq!(
        post("/coinjecture/promote?mode=2").await.unwrap().status(),
        200
    );
    advance(&net, 30);
    let promoted = Scrape::of(&net);
    assert!(
        promoted.sum("dual_run_comparisons_total", &[])
            > later.sum("dual_run_comparisons_total", &[])
    );
    assert_eq!(
        promoted.sum("dual_run_mismatches_total", &[]),
        later.sum("dual_run_mismatches_total", &[])
    );
    assert!(
        promoted
            .per_node("codec_mode_active", &[])
            .iter()
            .all(|&m| m == 2.0)
    );

    // Healing restores refactored_primary too.
    net.chaos().coinjecture_rollback().unwrap();
    net.chaos().heal_all().await.unwrap();
    net.advance(1.0);
    assert!(
        Scrape::of(&net)
            .per_node("codec_mode_active", &[])
            .iter()
            .all(|&m| m == 2.0)
    );
}

#[tokio::test]
async fn the_codec_controls_are_refused_on_other_profiles() {
    let net = Network::start(quiet(1, 1)).await.unwrap();
    let e = net.chaos().coinjecture_rollback().unwrap_err();
    assert!(e.contains("zerostate profile"), "{e}");
    assert!(net.chaos().coinjecture_promote(2).is_err());
}
