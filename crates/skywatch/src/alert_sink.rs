//! Where the rules' alerts go: Skywatch's own routing (`--alertmanager-config`) and the
//! Alertmanagers of `alerting.alertmanagers`, as Prometheus's notifier sends them.
//!
//! Each alert's labels first go through `alerting.alert_relabel_configs` (an alert they
//! drop goes nowhere). Each Alertmanager's address comes from its `static_configs` or its
//! discovery (target files or any provider, followed as a scrape job's are), relabelled with its `relabel_configs` over `__address__`, `__scheme__` and
//! `__alerts_path__` (`path_prefix` + `/api/v2/alerts`), and alerts are POSTed there with
//! its HTTP client settings (authentication, TLS, proxy, redirects) within its `timeout`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use model::LabelsBuilder;
use scrape::config::{AlertmanagerConfig, StaticConfig};
use scrape::relabel::{RelabelConfig, relabel};

/// The alerts' destinations, as one configuration names them; replaced on reload.
#[derive(Debug, Default)]
pub(crate) struct Alertmanagers {
    /// `alerting.alert_relabel_configs`.
    relabel: Vec<RelabelConfig>,
    /// One per entry of `alerting.alertmanagers`.
    sets: Vec<Arc<Set>>,
    /// The tasks following the sets' discovery, stopped when this is replaced.
    followers: Vec<tokio::task::AbortHandle>,
}

impl Drop for Alertmanagers {
    fn drop(&mut self) {
        for follower in &self.followers {
            follower.abort();
        }
    }
}

/// An entry of `alerting.alertmanagers`: its client and the URLs its targets give now.
#[derive(Debug)]
struct Set {
    /// `alerting.alertmanagers[n]`, for logs.
    name: String,
    config: AlertmanagerConfig,
    client: reqwest::Client,
    auth: scrape::client::Auth,
    timeout: Duration,
    /// Replaced when its discovery finds other Alertmanagers.
    urls: RwLock<Vec<String>>,
}

impl Set {
    /// The alerts URLs of `groups`' targets, relabelled with the entry's `relabel_configs`
    /// as Prometheus's notifier relabels them; an address that is not a host (and port)
    /// is an error.
    fn urls_of(&self, groups: &[StaticConfig]) -> Result<Vec<String>, String> {
        let am = &self.config;
        let alerts_path =
            format!("/{}/api/v2/alerts", am.path_prefix.trim_matches('/')).replace("//", "/");
        let mut urls = Vec::new();
        for group in groups {
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
                        "{}: {address:?} is not a valid hostname",
                        self.name
                    ));
                }
                urls.push(format!(
                    "{}://{address}{}",
                    labels.get("__scheme__").unwrap_or("http"),
                    labels.get("__alerts_path__").unwrap_or("/api/v2/alerts")
                ));
            }
        }
        Ok(urls)
    }
}

impl Alertmanagers {
    /// The destinations `config` names, or why one cannot be reached. Those found by
    /// discovery are followed once [`follow_discovery`](Self::follow_discovery) starts.
    pub(crate) fn from_config(config: &scrape::Config) -> Result<Self, String> {
        let mut sets = Vec::new();
        for (n, am) in config.alerting.alertmanagers.iter().enumerate() {
            let name = format!("alerting.alertmanagers[{n}]");
            let client = am.http.client().map_err(|e| format!("{name}: {e}"))?;
            let auth = am.http.auth().map_err(|e| format!("{name}: {e}"))?;
            let set = Set {
                name,
                config: am.clone(),
                client,
                auth,
                timeout: am.timeout.std(),
                urls: RwLock::default(),
            };
            *write(&set.urls) = set.urls_of(&am.discovery.static_configs)?;
            sets.push(Arc::new(set));
        }
        Ok(Self {
            relabel: config.alerting.alert_relabel_configs.clone(),
            sets,
            followers: Vec::new(),
        })
    }

    /// Starts following the discovery of each entry that has any (files or providers),
    /// as Prometheus's notifier follows its Alertmanagers: the URLs change as they are
    /// found; a failing discovery keeps the last ones.
    pub(crate) fn follow_discovery(mut self, runtime: &tokio::runtime::Handle) -> Self {
        for set in &self.sets {
            if !set.config.discovery.is_dynamic() {
                continue;
            }
            let (providers, failed) = scrape::discovery::providers(&set.config.discovery);
            for (provider, error) in failed {
                tracing::error!(alertmanagers = %set.name, %provider, %error, "cannot discover Alertmanagers");
            }
            let set = set.clone();
            let task = runtime.spawn(async move {
                let name = set.name.clone();
                scrape::discovery::follow(&name, &set.config.discovery, providers, |event| {
                    if let scrape::discovery::Event::Targets(groups) = event {
                        match set.urls_of(&groups) {
                            Ok(urls) => {
                                tracing::info!(alertmanagers = %name, count = urls.len(), "Alertmanagers discovered");
                                *write(&set.urls) = urls;
                            }
                            Err(e) => tracing::error!(error = %e, "discovered Alertmanagers not used"),
                        }
                    }
                })
                .await;
            });
            self.followers.push(task.abort_handle());
        }
        self
    }

    /// The URLs alerts are POSTed to, as `/api/v1/alertmanagers` lists them.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.sets
            .iter()
            .flat_map(|s| read(&s.urls).clone())
            .collect()
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
        if external.urls().is_empty() {
            return;
        }
        let text = body.to_string();
        self.runtime.block_on(async {
            for set in &external.sets {
                let urls = read(&set.urls).clone();
                for url in &urls {
                    let request = set
                        .client
                        .post(url)
                        .timeout(set.timeout)
                        .header("content-type", "application/json")
                        .body(text.clone());
                    let request = match set.auth.apply(request).await {
                        Ok(request) => request,
                        Err(e) => {
                            tracing::warn!(%url, error = %e, "cannot send alerts to an Alertmanager");
                            continue;
                        }
                    };
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
            }
        });
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
