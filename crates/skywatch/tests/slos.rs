//! The objectives of `slos/zerostate.yml` measure what they say, on a live `skywatch demo`
//! through its Prometheus API: every SLO's error ratio query, over a 5-minute window, has a
//! value and is well under its budget on the healthy network, and after the chaos controls
//! (`POST /demo/chaos/{layer}`) the objectives of the degraded layers pass 14.4 times their
//! budget, the burn rate of a fast-burn page.
//!
//! The demo starts with two minutes of simulated history, so that the healthy windows
//! hold thousands of events (a 99.9% objective cannot be judged on a few hundred) and
//! the chaos still outweighs them within seconds. The `latency` layer is left to netsim's
//! own test: slowed tasks pass the 99% objective's page threshold over a full window only
//! after about two and a half minutes.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the measured ratios are reported for the record, beyond the bounds asserted"
)]

mod common;

use std::time::{Duration, Instant};

use common::{get_json, start_demo};

/// The burn rate of Sloth's fast page: 2% of a 30-day budget in an hour.
const PAGE_BURN: f64 = 14.4;

/// The demo's SLOs, read as the server reads them.
fn spec() -> Vec<slo::Slo> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../slos/zerostate.yml");
    let text = std::fs::read_to_string(path).unwrap();
    slo::load(&text, "slos/zerostate.yml", &slo::Defaults::default()).unwrap()
}

/// The expression of the SLO's 5-minute SLI recording rule, as the server runs it.
fn error_ratio_query(slo: &slo::Slo) -> String {
    let sli = &slo::generate::groups(slo)[0];
    let rule = &sli.rules[0];
    assert_eq!(rule.name, "slo:sli_error:ratio_rate5m", "{}", slo.id);
    rule.expr.clone()
}

/// Every SLO's 5-minute error ratio now, by name; `None` where the query has no value.
fn ratios(
    client: &reqwest::blocking::Client,
    addr: &str,
    slos: &[slo::Slo],
) -> Vec<(String, Option<f64>)> {
    slos.iter()
        .map(|slo| {
            let query: String =
                form_urlencoded::byte_serialize(error_ratio_query(slo).as_bytes()).collect();
            let v = get_json(client, addr, &format!("/api/v1/query?query={query}"));
            assert_eq!(v["status"], "success", "{}: {v}", slo.name);
            let result = v["data"]["result"].as_array().unwrap();
            assert!(result.len() <= 1, "{}: {v}", slo.name);
            let value = result
                .first()
                .map(|s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap());
            (slo.name.clone(), value.filter(|v| v.is_finite()))
        })
        .collect()
}

/// Polls every 200 ms until `done` holds of the ratios; fails after `limit` with them.
fn ratios_until(
    client: &reqwest::blocking::Client,
    addr: &str,
    slos: &[slo::Slo],
    limit: Duration,
    what: &str,
    done: impl Fn(&[(String, Option<f64>)]) -> bool,
) -> (Vec<(String, Option<f64>)>, Duration) {
    let began = Instant::now();
    loop {
        let now = ratios(client, addr, slos);
        if done(&now) {
            return (now, began.elapsed());
        }
        assert!(
            began.elapsed() < limit,
            "{what}: not within {limit:?}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The chaos layers the test degrades, and the objectives each must burn.
const BURNS: &[(&str, &[&str])] = &[
    ("execution", &["task-success"]),
    ("payments", &["payment-success"]),
    ("p2p", &["p2p-message-delivery"]),
    ("consensus", &["consensus-sync"]),
    (
        "api",
        &["api-availability", "api-latency", "node-availability"],
    ),
];

#[test]
fn each_objective_has_budget_when_healthy_and_burns_past_the_page_under_chaos() {
    let slos = spec();
    assert!(slos.iter().all(|s| s.service == "zerostate"));
    assert!(slos.len() >= 8, "{} SLOs", slos.len());
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (demo, addr) = start_demo(&["--history", "2m", "--scrape-interval", "1s"]);
    let client = reqwest::blocking::Client::new();
    // The history has budgets: half a minute before the demo started, inside the
    // simulated past, the budget rules had recorded a value for the SLOs whose metrics
    // the history holds (every one but the nodes' HTTP API, which it does not serve).
    let past = get_json(
        &client,
        &addr,
        &format!(
            "/api/v1/query?query=slo%3Aperiod_error_budget_remaining%3Aratio&time={}",
            before - 30.0
        ),
    );
    let recorded: Vec<&str> = past["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["sloth_id"].as_str().unwrap())
        .collect();
    for s in slos.iter().filter(|s| !s.name.starts_with("api-")) {
        assert!(
            recorded.contains(&s.id.as_str()),
            "{} has no budget in the history: {past}",
            s.id
        );
    }
    // The nodes' HTTP metrics start with the live scrapes (the history is not served
    // over HTTP): every query has a value a few scrapes in.
    let (healthy, _) = ratios_until(
        &client,
        &addr,
        &slos,
        Duration::from_secs(30),
        "every SLO's error ratio has a value",
        |r| r.iter().all(|(_, v)| v.is_some()),
    );
    for (slo, (name, ratio)) in slos.iter().zip(&healthy) {
        let ratio = ratio.unwrap();
        eprintln!(
            "healthy {name}: {ratio:.6} ({:.3}x the budget {:.4})",
            ratio / slo.error_budget(),
            slo.error_budget()
        );
        assert!(
            ratio < slo.error_budget() / 2.0,
            "{name}: the healthy error ratio {ratio} is not well under the budget {}",
            slo.error_budget()
        );
    }

    let chaos = |layer: &str| {
        let r = client
            .post(format!("http://{addr}/demo/chaos/{layer}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{layer}: {}", r.text().unwrap());
    };
    for (layer, _) in BURNS {
        chaos(layer);
    }
    let burned: Vec<&slo::Slo> = BURNS
        .iter()
        .flat_map(|(_, names)| names.iter())
        .map(|name| slos.iter().find(|s| s.name == *name).unwrap())
        .collect();
    let (burning, took) = ratios_until(
        &client,
        &addr,
        &slos,
        Duration::from_secs(50),
        "every degraded layer's objectives past 14.4x their budget",
        |r| {
            burned.iter().all(|slo| {
                r.iter()
                    .find(|(n, _)| *n == slo.name)
                    .and_then(|(_, v)| *v)
                    .is_some_and(|v| v > PAGE_BURN * slo.error_budget())
            })
        },
    );
    eprintln!("past 14.4x {took:?} after the chaos:");
    for (slo, (name, ratio)) in slos.iter().zip(&burning) {
        let ratio = ratio.unwrap_or(f64::NAN);
        eprintln!(
            "  {name}: {ratio:.6} ({:.1}x the budget)",
            ratio / slo.error_budget()
        );
    }

    chaos("heal");
    drop(demo);
}
