//! Every shipped dashboard draws real data on a live demo, for every network profile: a
//! `skywatch demo --profile P` with an hour of history runs until its nodes are scraped
//! live, its rules have been evaluated and its own series have rates, and then
//! `ui/tests/dashboards-data.mjs` opens each of its dashboards in headless Chromium and
//! checks every panel: no error, drawn, values, and at least two distinct values unless
//! `ui/tests/constant-panels/P.json` lists the panel with why (and a listed panel must
//! still be constant). Screenshots go to `target/tmp/dashboards-data/P`.
//!
//! One test per profile, so that one profile can be run alone:
//! `cargo test -p skywatch --test dashboards_live zerostate`.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the script's line per dashboard is reported for the record"
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{get_json, start_demo};
use netsim::Profile;

/// The test of each profile, by name: a new profile does not compile until it has one.
#[test]
fn every_profile_has_a_test() {
    for profile in Profile::ALL {
        let test: fn() = match profile {
            Profile::ZeroState => zerostate,
            Profile::VirtEngine => virtengine,
            Profile::Coinjecture => coinjecture,
        };
        let _ = test;
    }
}

#[test]
fn zerostate() {
    dashboards_draw_real_data(Profile::ZeroState);
}

#[test]
fn virtengine() {
    dashboards_draw_real_data(Profile::VirtEngine);
}

#[test]
fn coinjecture() {
    dashboards_draw_real_data(Profile::Coinjecture);
}

/// How many nodes the demo runs.
const NODES: usize = 4;
/// The node the test kills, and the one whose chain it stalls.
const KILLED: usize = 3;
const STALLED: usize = 2;

/// One profile's demo and browser at a time: two of them at once on a two-core machine
/// slow each other past the waits above, which are for one.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn dashboards_draw_real_data(profile: Profile) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    common::chromium();
    let nodes = NODES.to_string();
    let (demo, addr) = start_demo(&[
        "--profile",
        profile.name(),
        "--nodes",
        &nodes,
        "--history",
        "1h",
        "--scrape-interval",
        "15s",
    ]);
    let client = reqwest::blocking::Client::new();
    let began = Instant::now();
    // Polls `done` until it holds; fails with its last reason after `limit` from the start.
    let wait = |what: &str, limit: Duration, done: &mut dyn FnMut() -> Result<(), String>| {
        while let Err(why) = done() {
            assert!(
                began.elapsed() < limit,
                "{profile}: {what} not within {limit:?}: {why}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };

    // Every node scraped live.
    wait("every node scraped", Duration::from_secs(60), &mut || {
        let v = get_json(&client, &addr, "/api/v1/targets");
        let targets = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = targets
            .iter()
            .filter(|t| t["labels"]["job"] == "nodes" && t["health"] == "up")
            .count();
        (up == NODES).then_some(()).ok_or_else(|| v.to_string())
    });
    // One node killed, one stalled and a tenth of the payments failing, with the demo's
    // chaos controls (the network's own, under every profile), so that the panels of
    // failures (nodes up, sync lag, peers, reputation, resource warnings, alerts) have
    // something to show: what stays constant even so is listed with why. A query the
    // server refuses, so that its responses are not all of one status.
    for action in [
        format!("nodes/{KILLED}/kill"),
        format!("nodes/{STALLED}/stall"),
        "payments/failure-rate?rate=0.1".to_owned(),
    ] {
        let r = client
            .post(format!("http://{addr}/demo/{action}"))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{action}: {}", r.text().unwrap());
    }
    // The SLO dashboard opens on a profile's first SLO. ZeroState's (task success) has its
    // failures; VirtEngine's and COINjecture's first is API availability, and their APIs
    // answer almost no 5xx when healthy, so that it would show no error over the test's
    // hour: a short burst of API errors (the network's API chaos, and COINjecture's own
    // `api-errors` fault for its daemon's API), held until a scrape has counted it, then
    // undone, well before any of that SLO's alerts could fire.
    let burst = match profile {
        Profile::ZeroState => None,
        Profile::VirtEngine => Some((
            "chaos/api",
            "sum(increase(node_http_requests_total{job=\"nodes\",status=\"5xx\"}[2m])) > 0",
        )),
        Profile::Coinjecture => Some((
            "faults/api-errors",
            "sum(increase(http_requests_total{job=\"nodes\",code=~\"5..\"}[2m])) > 0",
        )),
    };
    if let Some((control, counted)) = burst {
        let url = format!("http://{addr}/demo/{control}");
        assert!(client.post(&url).send().unwrap().status().is_success());
        wait(
            "the API errors scraped",
            Duration::from_secs(90),
            &mut || {
                let encoded: String = counted
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                let v = get_json(&client, &addr, &format!("/api/v1/query?query={encoded}"));
                let some = v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty());
                some.then_some(()).ok_or_else(|| v.to_string())
            },
        );
        assert!(client.delete(&url).send().unwrap().status().is_success());
    }
    let refuse = || {
        let refused = client
            .get(format!("http://{addr}/api/v1/query"))
            .send()
            .unwrap();
        assert_eq!(refused.status(), 400, "a query without its expression");
    };
    refuse();
    // Recorded before the second refusal below, so that the second is an increase.
    wait(
        "the server's first refusal recorded",
        Duration::from_secs(120),
        &mut || {
            let query =
                "skywatch_http_requests_total%7Bjob%3D%22skywatch%22%2Cstatus!~%222.*%22%7D";
            let v = get_json(&client, &addr, &format!("/api/v1/query?query={query}"));
            let some = v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
            some.then_some(()).ok_or_else(|| v.to_string())
        },
    );
    // Every rule group evaluated live, and the alerts API answering with the deadman's
    // switch firing (the alert list panels are checked against it).
    wait("rules evaluated", Duration::from_secs(90), &mut || {
        let v = get_json(&client, &addr, "/api/v1/rules");
        let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
        let pending = groups
            .iter()
            .filter(|g| {
                g["lastEvaluation"]
                    .as_str()
                    .is_none_or(|t| t.starts_with("0001"))
            })
            .count();
        let alerts = get_json(&client, &addr, "/api/v1/alerts");
        let watchdog = alerts["data"]["alerts"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["labels"]["alertname"] == "Watchdog" && a["state"] == "firing")
        });
        (!groups.is_empty() && pending == 0 && watchdog)
            .then_some(())
            .ok_or_else(|| {
                format!(
                    "{} groups, {pending} not evaluated, Watchdog firing: {watchdog}",
                    groups.len()
                )
            })
    });
    // The server's own series are live only (the history has none of them): wait until a
    // rate of its HTTP requests holds two finite values 30 s apart, so the dashboards'
    // finer steps hold more than two.
    wait(
        "the server's own rates",
        Duration::from_secs(210),
        &mut || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let path = format!(
                "/api/v1/query_range?query=sum(rate(skywatch_http_requests_total%7Bjob%3D%22skywatch%22%7D%5B1m%5D))&step=30&start={}&end={now}",
                now - 3600
            );
            let v = get_json(&client, &addr, &path);
            let finite = v["data"]["result"][0]["values"]
                .as_array()
                .map_or(0, |values| {
                    values
                        .iter()
                        .filter(|p| {
                            p[1].as_str()
                                .and_then(|v| v.parse::<f64>().ok())
                                .is_some_and(f64::is_finite)
                        })
                        .count()
                });
            (finite >= 2).then_some(()).ok_or_else(|| v.to_string())
        },
    );
    // Refused again, and waited for until the server has scraped itself since: a
    // counter's first sample is no increase, so only then do its responses over the hour
    // count some of another status than success.
    refuse();
    wait(
        "the server's refusals scraped",
        Duration::from_secs(240),
        &mut || {
            let query = "increase(skywatch_http_requests_total%7Bjob%3D%22skywatch%22%2Cstatus!~%222.*%22%7D%5B1h%5D)%20%3E%200";
            let v = get_json(&client, &addr, &format!("/api/v1/query?query={query}"));
            let some = v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty());
            some.then_some(()).ok_or_else(|| v.to_string())
        },
    );
    // The killed node absent from the demo's inventory, firing, so that the network
    // health dashboard's alerts have something to count.
    wait(
        "ExpectedNodeAbsent firing for the killed node",
        Duration::from_secs(300),
        &mut || {
            let v = get_json(&client, &addr, "/api/v1/alerts");
            let firing = v["data"]["alerts"].as_array().is_some_and(|a| {
                a.iter().any(|a| {
                    a["labels"]["alertname"] == "ExpectedNodeAbsent" && a["state"] == "firing"
                })
            });
            firing.then_some(()).ok_or_else(|| "not yet".to_owned())
        },
    );
    eprintln!("{profile}: the demo is live after {:?}", began.elapsed());
    if profile == Profile::ZeroState {
        active_alerts_match_the_alerts_api(&client, &addr);
    }

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("dashboards-data")
        .join(profile.name());
    // Over the demo's hour of history, whatever a dashboard's own range (the SLO
    // dashboard's is the SLOs' 30 days, one step of which is that hour).
    let out = common::dashboards_script(&addr, profile.name(), &shots, "1h", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{profile}: dashboards without real data:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(demo);
}

/// Regression (issue 17): the "Active alerts" stat of ZeroState's system health dashboard
/// did not match `/alerts`: it counted firing alerts only, while `/alerts` lists pending
/// ones too. Its queries, asked at one instant, give the firing and the pending alerts
/// `/api/v1/alerts` lists (asked again until both answers are of the same evaluation).
fn active_alerts_match_the_alerts_api(client: &reqwest::blocking::Client, addr: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../dashboards/node-network/system-health.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panel = json["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Active alerts")
        .expect("the system health dashboard has its Active alerts stat");
    let targets = panel["targets"].as_array().unwrap();
    let began = Instant::now();
    loop {
        let alerts = get_json(client, addr, "/api/v1/alerts");
        let listed = |state: &str| {
            alerts["data"]["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["state"] == state)
                .count()
        };
        let expected: Vec<(String, String)> = ["firing", "pending"]
            .into_iter()
            .map(|s| (s.to_owned(), listed(s).to_string()))
            .collect();
        let shown: Vec<(String, String)> = targets
            .iter()
            .map(|t| {
                let expr = t["expr"].as_str().unwrap();
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", expr)
                    .finish();
                let v = get_json(client, addr, &format!("/api/v1/query?{query}"));
                let value = v["data"]["result"][0]["value"][1]
                    .as_str()
                    .unwrap_or_else(|| panic!("{expr}: {v}"))
                    .to_owned();
                (t["legendFormat"].as_str().unwrap().to_owned(), value)
            })
            .collect();
        if shown == expected {
            return;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "Active alerts does not match the alerts API: the stat shows {shown:?}, \
             /api/v1/alerts lists {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
