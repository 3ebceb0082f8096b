//! The node-network alert rules and their runbooks, embedded: what `skywatch demo` runs
//! and serves. The same files are in the repository's `rules/node-network/` and
//! `docs/runbooks/`, where promtool reads them too.

/// The rule files, by their path under `rules/`.
pub(crate) const SHIPPED_RULES: [(&str, &str); 5] = [
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

/// The runbook of each alert, in Markdown: `(alert name, text)`.
pub(crate) const RUNBOOKS: [(&str, &str); 26] = [
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

/// The demo's Alertmanager configuration: every receiver a webhook the demo serves.
pub(crate) const DEMO_ALERTMANAGER: &str = include_str!("../../../alertmanager/demo.yml");

/// The demo network's SLO specs: a file name and the text.
pub(crate) fn shipped_slos() -> Vec<(String, String)> {
    SLOS.iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect()
}

/// The SLO specs `skywatch demo` runs.
const SLOS: &[(&str, &str)] = &[(
    "slos/zerostate.yml",
    include_str!("../../../slos/zerostate.yml"),
)];

/// The shipped rule files, parsed.
pub(crate) fn shipped_rules() -> Result<Vec<rules::RuleFile>, String> {
    SHIPPED_RULES
        .iter()
        .map(|(file, text)| rules::RuleFile::parse(text, file).map_err(|e| e.to_string()))
        .collect()
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

/// `GET /runbooks/{alert}`: the alert's runbook as text.
pub(crate) fn router() -> axum::Router {
    use axum::extract::Path;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    axum::Router::new().route(
        "/runbooks/{name}",
        axum::routing::get(|Path(name): Path<String>| async move {
            let name = name.trim_end_matches(".md");
            match RUNBOOKS.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => {
                    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], *text).into_response()
                }
                None => (
                    StatusCode::NOT_FOUND,
                    format!("no runbook for {name:?}; the runbooks are those of docs/runbooks/\n"),
                )
                    .into_response(),
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_has_its_runbook_and_unit_test_and_the_embedded_files_are_the_repositorys() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (file, text) in SHIPPED_RULES {
            let on_disk = std::fs::read_to_string(root.join("rules").join(file)).unwrap();
            assert_eq!(on_disk, text, "{file}");
        }
        let files = shipped_rules().unwrap();
        let mut alerts = Vec::new();
        for f in &files {
            let tests = std::fs::read_to_string(
                root.join("rules/node-network/tests").join(
                    f.file
                        .trim_start_matches("node-network/")
                        .replace(".yml", ".test.yml"),
                ),
            )
            .unwrap();
            for g in &f.groups {
                for r in &g.rules {
                    let rules::Kind::Alert(name) = &r.kind else {
                        continue;
                    };
                    alerts.push(name.clone());
                    for key in ["summary", "description", "runbook_url"] {
                        assert!(r.annotations.contains_key(key), "{name} has no {key}");
                    }
                    assert_eq!(
                        r.annotations["runbook_url"],
                        format!("{{{{ $externalURL }}}}/runbooks/{name}")
                    );
                    let (_, book) = RUNBOOKS
                        .iter()
                        .find(|(n, _)| n == name)
                        .unwrap_or_else(|| panic!("no runbook for {name}"));
                    assert!(book.starts_with(&format!("# {name}\n")), "{name}");
                    let on_disk =
                        std::fs::read_to_string(root.join(format!("docs/runbooks/{name}.md")))
                            .unwrap();
                    assert_eq!(&on_disk, book, "{name}");
                    // A test that expects the alert to fire, not only to stay quiet.
                    assert!(
                        tests.contains(&format!(
                            "alertname: {name}\n        exp_alerts:\n          - exp_labels:"
                        )),
                        "{name} has no unit test where it fires"
                    );
                }
            }
        }
        assert_eq!(alerts.len(), 26);
        assert_eq!(alerts.len(), RUNBOOKS.len());
        assert!(alerts.iter().any(|a| a == "Watchdog"));
    }
}
