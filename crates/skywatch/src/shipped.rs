//! What `skywatch demo` runs and serves for each network profile, embedded: the alert
//! rules and their runbooks, the dashboards, the SLOs and the routing. The same files are
//! in the repository (`rules/`, `docs/runbooks/`, `dashboards/`, `slos/`,
//! `alertmanager/`), where promtool, amtool and Grafana read them too.
//!
//! ZeroState's files keep the paths they had before there were profiles
//! (`rules/node-network/`, `dashboards/node-network/`, `docs/runbooks/*.md`); the other
//! profiles' are under their name (`rules/virtengine/`, `docs/runbooks/virtengine/`...).

use netsim::Profile;

/// One profile's files.
pub(crate) struct Shipped {
    /// The rule files, by their path under `rules/`.
    pub(crate) rules: &'static [(&'static str, &'static str)],
    /// The rules' unit tests' directory, under `rules/`.
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "read by the test that holds each alert to its unit test"
        )
    )]
    pub(crate) rule_tests: &'static str,
    /// The runbook of each alert, in Markdown: `(alert name, text)`.
    pub(crate) runbooks: &'static [(&'static str, &'static str)],
    /// Where the runbooks are, under `docs/runbooks/` ("" for ZeroState's).
    pub(crate) runbook_dir: &'static str,
    /// The dashboards, by their path under `dashboards/`, besides Skywatch's own.
    pub(crate) dashboards: &'static [(&'static str, &'static str)],
    /// The SLO specs: path and text.
    pub(crate) slos: &'static [(&'static str, &'static str)],
    /// The demo's routing (every receiver a webhook the demo serves): path and text.
    pub(crate) alertmanager: (&'static str, &'static str),
    /// Lines of the welcome's "Try:" list, `{base}` standing for the demo's address.
    pub(crate) try_lines: &'static [&'static str],
    /// The metrics network-relative health compares nodes by (docs/network-health.md).
    pub(crate) health_metrics: HealthMetrics,
}

/// The PromQL of a node's chain height and peer count, one series per `node`.
pub(crate) struct HealthMetrics {
    /// The chain height.
    pub(crate) height: &'static str,
    /// The connected peers.
    pub(crate) peers: &'static str,
}

/// The files of `profile`.
pub(crate) fn shipped(profile: Profile) -> &'static Shipped {
    match profile {
        Profile::ZeroState => &ZEROSTATE,
        Profile::VirtEngine => &crate::shipped_virtengine::VIRTENGINE,
        Profile::Coinjecture => &crate::shipped_coinjecture::COINJECTURE,
    }
}

/// Skywatch's own dashboards, served with every profile's.
pub(crate) const SKYWATCH_DASHBOARDS: &[(&str, &str)] = &[
    (
        "skywatch/skywatch.json",
        include_str!("../../../dashboards/skywatch/skywatch.json"),
    ),
    (
        "skywatch/slos.json",
        include_str!("../../../dashboards/skywatch/slos.json"),
    ),
    (
        "skywatch/network-health.json",
        include_str!("../../../dashboards/skywatch/network-health.json"),
    ),
];

/// ZeroState's files.
pub(crate) const ZEROSTATE: Shipped = Shipped {
    rules: &ZEROSTATE_RULES,
    rule_tests: "node-network/tests",
    runbooks: &ZEROSTATE_RUNBOOKS,
    runbook_dir: "",
    dashboards: &ZEROSTATE_DASHBOARDS,
    slos: &[(
        "slos/zerostate.yml",
        include_str!("../../../slos/zerostate.yml"),
    )],
    alertmanager: (
        "alertmanager/demo.yml",
        include_str!("../../../alertmanager/demo.yml"),
    ),
    health_metrics: HealthMetrics {
        height: "chain_block_height",
        peers: "p2p_peers",
    },
    try_lines: &[
        "promtool query instant {base} 'count(up == 1)'",
        "promtool query instant {base} 'max(chain_block_height) - min(chain_block_height)'",
        "promtool query instant {base} 'sum by (status) (rate(execution_tasks_total[1m]))'",
        "curl -XPOST {base}/demo/nodes/3/kill          # node-03 goes down; its series go stale; ServiceDown fires after a minute",
        "curl -XPOST {base}/demo/nodes/3/restart       # and comes back",
        "curl -XPOST {base}/demo/nodes/5/stall         # node-05's chain stops: watch chain_sync_lag_blocks",
        "curl -XPOST {base}/demo/nodes/2/executor/fail # node-02's tasks fail",
        "curl -XPOST '{base}/demo/partition?nodes=0,1,2'   then   curl -XPOST {base}/demo/heal",
        "curl -XPOST '{base}/demo/payments/failure-rate?rate=0.5'",
        "curl -XPOST {base}/demo/chaos/payments        # half the payments fail: zerostate-payment-success pages in ~2 min",
        "curl -G {base}/tempo/api/search --data-urlencode 'q={ name = \"payment.settle\" && status = error }'   # and their traces show where",
        "curl -XPOST {base}/demo/chaos/heal            # every kind of chaos undone",
    ],
};

/// ZeroState's dashboards.
const ZEROSTATE_DASHBOARDS: [(&str, &str); 5] = [
    (
        "node-network/network-overview.json",
        include_str!("../../../dashboards/node-network/network-overview.json"),
    ),
    (
        "node-network/execution-performance.json",
        include_str!("../../../dashboards/node-network/execution-performance.json"),
    ),
    (
        "node-network/economic-activity.json",
        include_str!("../../../dashboards/node-network/economic-activity.json"),
    ),
    (
        "node-network/chain-consensus.json",
        include_str!("../../../dashboards/node-network/chain-consensus.json"),
    ),
    (
        "node-network/system-health.json",
        include_str!("../../../dashboards/node-network/system-health.json"),
    ),
];

/// ZeroState's rule files, by their path under `rules/`.
const ZEROSTATE_RULES: [(&str, &str); 5] = [
    (
        "node-network/network.yml",
        include_str!("../../../rules/node-network/network.yml"),
    ),
    (
        "node-network/execution.yml",
        include_str!("../../../rules/node-network/execution.yml"),
    ),
    (
        "node-network/economic.yml",
        include_str!("../../../rules/node-network/economic.yml"),
    ),
    (
        "node-network/system.yml",
        include_str!("../../../rules/node-network/system.yml"),
    ),
    (
        "node-network/sla.yml",
        include_str!("../../../rules/node-network/sla.yml"),
    ),
];

/// The runbook of each of ZeroState's alerts, in Markdown: `(alert name, text)`.
const ZEROSTATE_RUNBOOKS: [(&str, &str); 26] = [
    (
        "LowPeerConnections",
        include_str!("../../../docs/runbooks/LowPeerConnections.md"),
    ),
    (
        "CriticalPeerConnections",
        include_str!("../../../docs/runbooks/CriticalPeerConnections.md"),
    ),
    (
        "HighMessageFailureRate",
        include_str!("../../../docs/runbooks/HighMessageFailureRate.md"),
    ),
    (
        "HighBandwidthUsage",
        include_str!("../../../docs/runbooks/HighBandwidthUsage.md"),
    ),
    (
        "HealthCheckFailures",
        include_str!("../../../docs/runbooks/HealthCheckFailures.md"),
    ),
    (
        "HighTaskFailureRate",
        include_str!("../../../docs/runbooks/HighTaskFailureRate.md"),
    ),
    (
        "CriticalTaskFailureRate",
        include_str!("../../../docs/runbooks/CriticalTaskFailureRate.md"),
    ),
    (
        "HighTaskDuration",
        include_str!("../../../docs/runbooks/HighTaskDuration.md"),
    ),
    (
        "HighMemoryUsage",
        include_str!("../../../docs/runbooks/HighMemoryUsage.md"),
    ),
    (
        "TaskTimeoutRate",
        include_str!("../../../docs/runbooks/TaskTimeoutRate.md"),
    ),
    (
        "NoActiveGuilds",
        include_str!("../../../docs/runbooks/NoActiveGuilds.md"),
    ),
    ("TVLDrop", include_str!("../../../docs/runbooks/TVLDrop.md")),
    (
        "HighBlacklistRate",
        include_str!("../../../docs/runbooks/HighBlacklistRate.md"),
    ),
    (
        "CriticalBlacklistRate",
        include_str!("../../../docs/runbooks/CriticalBlacklistRate.md"),
    ),
    (
        "PaymentFailureRate",
        include_str!("../../../docs/runbooks/PaymentFailureRate.md"),
    ),
    (
        "LowActiveChannels",
        include_str!("../../../docs/runbooks/LowActiveChannels.md"),
    ),
    (
        "HighDisputeRate",
        include_str!("../../../docs/runbooks/HighDisputeRate.md"),
    ),
    (
        "SettlementFailures",
        include_str!("../../../docs/runbooks/SettlementFailures.md"),
    ),
    (
        "ServiceDown",
        include_str!("../../../docs/runbooks/ServiceDown.md"),
    ),
    (
        "HighSystemLatency",
        include_str!("../../../docs/runbooks/HighSystemLatency.md"),
    ),
    (
        "ComponentHealthDegraded",
        include_str!("../../../docs/runbooks/ComponentHealthDegraded.md"),
    ),
    (
        "HighErrorRate",
        include_str!("../../../docs/runbooks/HighErrorRate.md"),
    ),
    (
        "Watchdog",
        include_str!("../../../docs/runbooks/Watchdog.md"),
    ),
    (
        "SLAViolation_TaskExecution",
        include_str!("../../../docs/runbooks/SLAViolation_TaskExecution.md"),
    ),
    (
        "SLAViolation_Availability",
        include_str!("../../../docs/runbooks/SLAViolation_Availability.md"),
    ),
    (
        "SLAViolation_PaymentSuccess",
        include_str!("../../../docs/runbooks/SLAViolation_PaymentSuccess.md"),
    ),
];

impl Shipped {
    /// The SLO specs: a file name and the text.
    pub(crate) fn slos(&self) -> Vec<(String, String)> {
        self.slos
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect()
    }

    /// The rule files, parsed.
    pub(crate) fn rules(&self) -> Result<Vec<rules::RuleFile>, String> {
        self.rules
            .iter()
            .map(|(file, text)| rules::RuleFile::parse(text, file).map_err(|e| e.to_string()))
            .collect()
    }

    /// The dashboards the demo serves: the profile's and Skywatch's own.
    pub(crate) fn all_dashboards(&self) -> Vec<(&'static str, &'static str)> {
        self.dashboards
            .iter()
            .chain(SKYWATCH_DASHBOARDS)
            .copied()
            .collect()
    }
}

/// The demo's webhook receiver: `POST /demo/webhook/{receiver}` keeps the payload (the
/// last 200), `GET /demo/webhook` lists them, newest first, with their receiver.
pub(crate) fn webhook_router() -> axum::Router {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<std::collections::VecDeque<serde_json::Value>>> = Arc::default();
    let keep = got.clone();
    axum::Router::new()
        .route(
            "/webhook/{receiver}",
            axum::routing::post(
                move |axum::extract::Path(receiver): axum::extract::Path<String>,
                      axum::Json(payload): axum::Json<serde_json::Value>| async move {
                    let mut list = keep.lock().unwrap_or_else(|e| e.into_inner());
                    list.push_front(serde_json::json!({"receiver": receiver, "payload": payload}));
                    list.truncate(200);
                },
            ),
        )
        .route(
            "/webhook",
            axum::routing::get(move || async move {
                let list = got.lock().unwrap_or_else(|e| e.into_inner());
                axum::Json(serde_json::Value::Array(list.iter().cloned().collect()))
            }),
        )
}

/// `GET /runbooks/{alert}`: the alert's runbook as text, among `runbooks`.
pub(crate) fn router(shipped: &'static Shipped) -> axum::Router {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    axum::Router::new().route(
        "/runbooks/{name}",
        axum::routing::get(move |Path(name): Path<String>| async move {
            let name = name.trim_end_matches(".md");
            let text = shipped
                .runbooks
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| *text)
                .or_else(|| crate::network_health::runbook(name));
            match text {
                Some(text) => {
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
                }
                None => (
                    StatusCode::NOT_FOUND,
                    format!(
                        "no runbook for {name:?}; the runbooks are those of docs/runbooks/{}\n",
                        shipped.runbook_dir
                    ),
                )
                    .into_response(),
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The alerts a unit test file expects to fire: each `alert_rule_test` with at least
    /// one expected alert.
    fn alerts_tested_firing(text: &str) -> Vec<String> {
        #[derive(serde::Deserialize)]
        struct File {
            tests: Vec<Test>,
        }
        #[derive(serde::Deserialize)]
        struct Test {
            #[serde(default)]
            alert_rule_test: Vec<AlertTest>,
        }
        #[derive(serde::Deserialize)]
        struct AlertTest {
            alertname: String,
            #[serde(default)]
            exp_alerts: Vec<serde_json::Value>,
        }
        let file: File = yaml::from_str(text).unwrap();
        file.tests
            .into_iter()
            .flat_map(|t| t.alert_rule_test)
            .filter(|t| !t.exp_alerts.is_empty())
            .map(|t| t.alertname)
            .collect()
    }

    #[test]
    fn every_alert_has_its_runbook_and_unit_test_and_the_embedded_files_are_the_repositorys() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for profile in Profile::ALL {
            let shipped = shipped(profile);
            for (file, text) in shipped.rules {
                let on_disk = std::fs::read_to_string(root.join("rules").join(file)).unwrap();
                assert_eq!(&on_disk, text, "{file}");
            }
            for (file, text) in shipped.all_dashboards() {
                let on_disk = std::fs::read_to_string(root.join("dashboards").join(file)).unwrap();
                assert_eq!(on_disk, text, "{file}");
            }
            for (file, text) in shipped.slos.iter().chain([&shipped.alertmanager]) {
                let on_disk = std::fs::read_to_string(root.join(file)).unwrap();
                assert_eq!(&on_disk, text, "{file}");
            }
            let mut alerts = Vec::new();
            for f in &shipped.rules().unwrap() {
                let base = std::path::Path::new(&f.file).file_name().unwrap();
                let test_file = root
                    .join("rules")
                    .join(shipped.rule_tests)
                    .join(base.to_string_lossy().replace(".yml", ".test.yml"));
                let tested = alerts_tested_firing(
                    &std::fs::read_to_string(&test_file)
                        .unwrap_or_else(|e| panic!("{}: {e}", test_file.display())),
                );
                for g in &f.groups {
                    for r in &g.rules {
                        let rules::Kind::Alert(name) = &r.kind else {
                            continue;
                        };
                        alerts.push(name.clone());
                        for key in ["summary", "description", "runbook_url"] {
                            assert!(
                                r.annotations.contains_key(key),
                                "{profile}: {name} has no {key}"
                            );
                        }
                        assert_eq!(
                            r.annotations["runbook_url"],
                            format!("{{{{ $externalURL }}}}/runbooks/{name}"),
                            "{profile}: {name}"
                        );
                        let (_, book) = shipped
                            .runbooks
                            .iter()
                            .find(|(n, _)| n == name)
                            .unwrap_or_else(|| panic!("{profile}: no runbook for {name}"));
                        assert!(
                            book.starts_with(&format!("# {name}\n")),
                            "{profile}: {name}"
                        );
                        let on_disk = std::fs::read_to_string(
                            root.join("docs/runbooks")
                                .join(shipped.runbook_dir)
                                .join(format!("{name}.md")),
                        )
                        .unwrap();
                        assert_eq!(&on_disk, book, "{profile}: {name}");
                        // A test that expects the alert to fire, not only to stay quiet.
                        assert!(
                            tested.contains(name),
                            "{profile}: {name} has no unit test where it fires in {}",
                            test_file.display()
                        );
                    }
                }
            }
            alerts.sort();
            alerts.dedup();
            let mut books: Vec<_> = shipped
                .runbooks
                .iter()
                .map(|(n, _)| n.to_string())
                .collect();
            books.sort();
            assert_eq!(
                alerts, books,
                "{profile}: a runbook for each alert, and no other"
            );
            assert!(
                alerts.iter().any(|a| a == "Watchdog"),
                "{profile}: no Watchdog"
            );
            if profile == Profile::ZeroState {
                assert_eq!(alerts.len(), 26);
            }
        }
    }
}
