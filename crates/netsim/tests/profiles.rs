//! Network profiles and the network-wide chaos: each profile exposes its own families
//! and not ZeroState's, a halted chain holds every height, slower blocks still reach
//! every node, and a profile's faults are named or refused with the list.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use common::quiet;
use netsim::{Network, Profile};

#[tokio::test]
async fn each_profile_exposes_its_own_families_and_not_zerostates() {
    for (profile, own) in [
        (Profile::ZeroState, "chain_block_height"),
        (Profile::VirtEngine, "cometbft_consensus_height"),
        (Profile::Coinjecture, "consensus_block_height"),
    ] {
        let net = Network::start(netsim::Options {
            profile,
            ..quiet(3, 1)
        })
        .await
        .unwrap();
        net.advance(5.0);
        let (_, text) = net.expositions().remove(0);
        assert!(
            text.contains(&format!("\n{own}")),
            "{profile}: no {own} in\n{text}"
        );
        // Every profile keeps the node's own health and build info.
        assert!(text.contains("node_health_check_status"), "{profile}");
        assert_eq!(
            text.contains("p2p_messages_sent_total"),
            profile == Profile::ZeroState,
            "{profile}: ZeroState's families only in its own profile"
        );
    }
}

#[tokio::test]
async fn a_halted_chain_holds_every_height_and_slow_blocks_still_reach_every_node() {
    let net = Network::start(quiet(4, 1)).await.unwrap();
    net.advance(10.0);
    let chaos = net.chaos();
    chaos.halt(true);
    let before: Vec<u64> = net.nodes().iter().map(|n| n.height).collect();
    for _ in 0..20 {
        net.advance(1.0);
    }
    assert_eq!(
        net.nodes().iter().map(|n| n.height).collect::<Vec<_>>(),
        before
    );
    chaos.halt(false);
    chaos.block_time(5.0).unwrap();
    for _ in 0..60 {
        net.advance(1.0);
    }
    let after: Vec<u64> = net.nodes().iter().map(|n| n.height).collect();
    // Blocks of 5 to 15 s over a minute: a few, on every node alike.
    let moved = after[0] - before[0];
    assert!(
        (3..=13).contains(&moved),
        "{moved} blocks in a minute at 5x"
    );
    assert!(after.iter().all(|&h| h == after[0]), "{after:?}");
    assert!(
        chaos
            .block_time(0.0)
            .unwrap_err()
            .contains("between 0.1 and 100")
    );
}

#[tokio::test]
async fn a_profiles_faults_are_listed_turned_on_and_off_and_unknown_ones_refused() {
    let net = Network::start(netsim::Options {
        profile: Profile::VirtEngine,
        ..quiet(3, 1)
    })
    .await
    .unwrap();
    let chaos = net.chaos();
    let first = chaos.faults()[0].name;
    chaos.fault(first, true).unwrap();
    assert!(chaos.faults().iter().any(|f| f.name == first && f.on));
    let e = chaos.fault("meteor-strike", true).unwrap_err();
    assert!(
        e.contains("the virtengine profile has") && e.contains(first),
        "{e}"
    );
    chaos.heal_all().await.unwrap();
    assert!(chaos.faults().iter().all(|f| !f.on));
    let zs = Network::start(quiet(1, 1)).await.unwrap();
    let e = zs.chaos().fault(first, true).unwrap_err();
    assert!(e.contains("the zerostate profile has none"), "{e}");
}

#[tokio::test]
async fn an_in_process_scrape_is_counted_as_a_real_one_and_skips_a_dead_node() {
    let net = Network::start(quiet(2, 1)).await.unwrap();
    net.chaos().kill(1).unwrap();
    let requests = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("node_http_requests_total{") && l.contains("/metrics"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let first = net.scrape_in_process().await;
    assert_eq!(first.len(), 1, "the dead node is not scraped");
    let second = net.scrape_in_process().await;
    // Each scrape's response holds the requests counted before it.
    assert_eq!(
        requests(&second[0].1),
        requests(&first[0].1) + 1.0,
        "{}",
        second[0].1
    );
    assert!(second[0].1.ends_with("# EOF\n"), "OpenMetrics text");
}
