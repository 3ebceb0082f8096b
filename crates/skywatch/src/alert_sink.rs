//! Where the rules' alerts go: Skywatch's own routing (`--alertmanager-config`) and the
//! Alertmanagers of `alerting.alertmanagers`, as Prometheus's notifier sends them.
//!
//! Each alert's labels first go through `alerting.alert_relabel_configs` (an alert they
//! drop goes nowhere). Each Alertmanager's address comes from its `static_configs`,
//! relabelled with its `relabel_configs` over `__address__`, `__scheme__` and
//! `__alerts_path__` (`path_prefix` + `/api/v2/alerts`), and alerts are POSTed there with
//! its HTTP client settings (authentication, TLS, proxy, redirects) within its `timeout`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use model::LabelsBuilder;
use scrape::relabel::{RelabelConfig, relabel};

/// The alerts' destinations, as one configuration names them; replaced on reload.
#[derive(Debug, Default)]
pub(crate) struct Alertmanagers {
    /// `alerting.alert_relabel_configs`.
    relabel: Vec<RelabelConfig>,
    targets: Vec<Target>,
}

#[derive(Debug)]
struct Target {
    url: String,
    client: reqwest::Client,
    authorization: Option<String>,
    timeout: Duration,
}

impl Alertmanagers {
    /// The destinations `config` names, or why one cannot be reached.
    pub(crate) fn from_config(config: &scrape::Config) -> Result<Self, String> {
        let mut targets = Vec::new();
        for (n, am) in config.alerting.alertmanagers.iter().enumerate() {
            let client = am
                .http
                .client()
                .map_err(|e| format!("alerting.alertmanagers[{n}]: {e}"))?;
            let authorization = am.http.authorization_header();
            let alerts_path =
                format!("/{}/api/v2/alerts", am.path_prefix.trim_matches('/')).replace("//", "/");
            for group in &am.discovery.static_configs {
                for address in &group.targets {
                    let mut b = LabelsBuilder::new();
                    for (name, value) in &group.labels {
                        b.set(name, value);
                    }
                    b.set("__address__", address);
                    b.set("__scheme__", am.scheme.as_str());
                    b.set("__alerts_path__", &alerts_path);
                    if !relabel(&am.relabel_configs, &mut b) {
                        continue;
                    }
                    let labels = b.build();
                    let Some(address) = labels.get("__address__").filter(|a| !a.is_empty()) else {
                        continue;
                    };
                    if address.contains('/') {
                        return Err(format!(
                            "alerting.alertmanagers[{n}]: {address:?} is not a valid hostname"
                        ));
                    }
                    targets.push(Target {
                        url: format!(
                            "{}://{address}{}",
                            labels.get("__scheme__").unwrap_or("http"),
                            labels.get("__alerts_path__").unwrap_or("/api/v2/alerts")
                        ),
                        client: client.clone(),
                        authorization: authorization.clone(),
                        timeout: am.timeout.std(),
                    });
                }
            }
        }
        Ok(Self {
            relabel: config.alerting.alert_relabel_configs.clone(),
            targets,
        })
    }

    /// The URLs alerts are POSTed to, as `/api/v1/alertmanagers` lists them.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.url.clone()).collect()
    }

    /// `alerts` with their labels relabelled; those the relabelling drops are left out.
    fn relabelled(&self, alerts: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
        if self.relabel.is_empty() {
            return alerts;
        }
        alerts
            .into_iter()
            .filter_map(|mut alert| {
                let mut b = LabelsBuilder::new();
                if let Some(labels) = alert["labels"].as_object() {
                    for (name, value) in labels {
                        b.set(name, value.as_str().unwrap_or_default());
                    }
                }
                if !relabel(&self.relabel, &mut b) {
                    return None;
                }
                let labels: serde_json::Map<String, serde_json::Value> = b
                    .build()
                    .iter()
                    .map(|l| (l.name.to_owned(), l.value.into()))
                    .collect();
                alert["labels"] = labels.into();
                Some(alert)
            })
            .collect()
    }
}

/// Sends the rules' alerts to Skywatch's own routing and to the external Alertmanagers.
pub(crate) struct AlertSink {
    pub(crate) own: Option<Arc<alerting::notify::Service>>,
    /// Replaced when the configuration is reloaded.
    pub(crate) external: RwLock<Arc<Alertmanagers>>,
    /// The runtime the sends run on: the rules call [`send`](rules::manager::Notifier::send)
    /// on a blocking thread, which waits for them.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl rules::manager::Notifier for AlertSink {
    fn send(&self, alerts: Vec<serde_json::Value>) {
        let external = self
            .external
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let alerts = external.relabelled(alerts);
        if alerts.is_empty() {
            return;
        }
        let body = serde_json::Value::Array(alerts);
        if let Some(own) = &self.own
            && let Err(e) = own.receive(&body)
        {
            tracing::error!(error = %e, "the rules' alerts were refused by the router");
        }
        if external.targets.is_empty() {
            return;
        }
        let text = body.to_string();
        self.runtime.block_on(async {
            for target in &external.targets {
                let mut request = target
                    .client
                    .post(&target.url)
                    .timeout(target.timeout)
                    .header("content-type", "application/json")
                    .body(text.clone());
                if let Some(auth) = &target.authorization {
                    request = request.header(reqwest::header::AUTHORIZATION, auth);
                }
                let url = &target.url;
                match request.send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::warn!(%url, status = %r.status(), "an Alertmanager refused alerts")
                    }
                    Err(e) => {
                        tracing::warn!(%url, error = %e, "cannot send alerts to an Alertmanager")
                    }
                }
            }
        });
    }
}
