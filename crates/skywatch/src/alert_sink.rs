//! Where the rules' alerts go: Skywatch's own routing (`--alertmanager-config`) and the
//! Alertmanagers of `alerting.alertmanagers`, as Prometheus's notifier sends them.
//!
//! Each alert's labels first go through `alerting.alert_relabel_configs` (an alert they
//! drop goes nowhere). Each Alertmanager's address comes from its `static_configs` or its
//! discovery (target files or any provider, followed as a scrape job's are), relabelled with its `relabel_configs` over `__address__`, `__scheme__` and
//! `__alerts_path__` (`path_prefix` + `/api/v2/alerts`), and alerts are POSTed there with
//! its HTTP client settings (authentication, TLS, proxy, redirects) within its `timeout`.
//! Each Alertmanager has its own bounded queue and sender task, so that the rules never
//! wait for a send and a hung Alertmanager holds up no other (the chaos suite's
//! `slow_and_hung_peers_hold_up_nobody`).

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
    /// Each Alertmanager's queue, by URL, and its sender task: made at the first alerts
    /// for it, dropped (the task ending once it has sent what is queued) when discovery
    /// no longer lists it or the configuration is replaced.
    queues: std::sync::Mutex<std::collections::HashMap<String, Queue>>,
}

/// How many batches of alerts (one a rule group's evaluation) wait for one Alertmanager;
/// beyond it, new batches are dropped and counted, so that one that never answers costs
/// a bounded amount of memory while its sends time out.
pub(crate) const QUEUE_CAPACITY: usize = 256;

/// One Alertmanager's queue of alert batches (JSON bodies).
#[derive(Debug)]
struct Queue {
    send: tokio::sync::mpsc::Sender<Arc<String>>,
    /// Batches dropped because the queue was full.
    dropped: u64,
}

impl Set {
    /// Queues `body` for each of the set's Alertmanagers, starting the sender task of one
    /// seen for the first time on `runtime`. Never waits: an Alertmanager that is slow or
    /// hung holds up neither the rules nor the other Alertmanagers, as each has its own
    /// queue and task (Prometheus's notifier sends to all of them at once).
    fn enqueue(&self, body: &Arc<String>, runtime: &tokio::runtime::Handle) {
        let urls = read(&self.urls).clone();
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.retain(|url, _| urls.contains(url));
        for url in urls {
            let queue = queues.entry(url.clone()).or_insert_with(|| {
                let (send, receive) = tokio::sync::mpsc::channel(QUEUE_CAPACITY);
                runtime.spawn(deliver(
                    url.clone(),
                    self.client.clone(),
                    self.auth.clone(),
                    self.timeout,
                    receive,
                ));
                Queue { send, dropped: 0 }
            });
            if queue.send.try_send(body.clone()).is_err() {
                queue.dropped += 1;
                // Logged at the 1st, 2nd, 4th, 8th... drop: an Alertmanager that stays
                // down does not flood the log.
                if queue.dropped.is_power_of_two() {
                    tracing::warn!(
                        %url,
                        dropped = queue.dropped,
                        capacity = QUEUE_CAPACITY,
                        "alerts dropped: the Alertmanager's queue is full (it is slow or does not answer)"
                    );
                }
            }
        }
    }
}

/// Sends the batches of one Alertmanager's queue in order, each within `timeout`, until
/// the queue is dropped and empty.
async fn deliver(
    url: String,
    client: reqwest::Client,
    auth: scrape::client::Auth,
    timeout: Duration,
    mut batches: tokio::sync::mpsc::Receiver<Arc<String>>,
) {
    while let Some(body) = batches.recv().await {
        let request = client
            .post(&url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(body.as_str().to_owned());
        let request = match auth.apply(request).await {
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
                queues: std::sync::Mutex::default(),
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
    /// The runtime the Alertmanagers' sender tasks run on; the rules call
    /// [`send`](rules::manager::Notifier::send), which only queues.
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
        let text = Arc::new(body.to_string());
        for set in &external.sets {
            set.enqueue(&text, &self.runtime);
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (chaos suite): alerts were sent to each Alertmanager in turn while the
    /// rules waited, so one that never answered held up the rules and every Alertmanager
    /// after it for its whole timeout. Now each has a queue, bounded: a hung one keeps at
    /// most [`QUEUE_CAPACITY`] batches and drops the rest, counted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_alertmanager_gets_a_bounded_queue_and_holds_up_nobody() {
        // Accepts connections and never answers.
        let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = hung.local_addr().unwrap();
        let config = scrape::Config::parse(
            &format!(
                "alerting:\n  alertmanagers:\n    - timeout: 1m\n      static_configs:\n        - targets: ['{addr}']\n"
            ),
            "test.yml",
        )
        .unwrap();
        let ams = Alertmanagers::from_config(&config).unwrap();
        let set = &ams.sets[0];
        let runtime = tokio::runtime::Handle::current();
        let began = std::time::Instant::now();
        for n in 0..QUEUE_CAPACITY + 10 {
            set.enqueue(&Arc::new(format!("[{n}]")), &runtime);
        }
        assert!(
            began.elapsed() < Duration::from_secs(1),
            "queueing waited for the hung Alertmanager: {:?}",
            began.elapsed()
        );
        let queues = set.queues.lock().unwrap();
        let queue = &queues[&format!("http://{addr}/api/v2/alerts")];
        // The sender task may have taken one batch off the queue and be waiting on it.
        assert!(
            (9..=10).contains(&queue.dropped),
            "dropped {} of {} batches",
            queue.dropped,
            QUEUE_CAPACITY + 10
        );
        drop(hung);
    }
}
