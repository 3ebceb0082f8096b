//! `marathon_sd_configs`: the tasks of Marathon's apps, as Prometheus's Marathon discovery
//! finds them: `GET {server}/v2/apps/?embed=apps.tasks` of one of the servers, picked at
//! random each time, and a target for each port of each task.
//!
//! A task's ports are the app's port mappings (`container.portMappings`, or before
//! Marathon 1.5 `container.docker.portMappings`), else its port definitions, else the
//! task's own ports; a port of 0 is the task's port at the same index. In a container
//! network, a target is the task's first IP address and the container port. DC/OS's
//! `auth_token` is sent as `Authorization: token=...`.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{
    ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, sanitize_label_name, target,
};
use crate::config::{Duration, StaticConfig, http_client};

/// The app list, with each app's tasks, under a server's URL.
const APPS_PATH: &str = "/v2/apps/?embed=apps.tasks";

http_client! {
    /// `marathon_sd_configs`: Marathon app tasks.
    pub struct MarathonSdConfig {
        /// Marathon's URLs; at least one. Each refresh asks one of them, at random.
        #[serde(default)]
        pub servers: Vec<String>,
        /// How often to ask again (default 30s).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
        /// A DC/OS authentication token, sent as `Authorization: token=...`.
        #[serde(default)]
        pub auth_token: Option<String>,
        /// A file holding the token, read at each request.
        #[serde(default)]
        pub auth_token_file: Option<PathBuf>,
    }
}

fn default_refresh_interval() -> Duration {
    Duration(30_000)
}

impl MarathonSdConfig {
    /// The token, if one is set (an empty one is none, as Prometheus counts it).
    fn token(&self) -> Option<&str> {
        self.auth_token.as_deref().filter(|t| !t.is_empty())
    }

    /// The token's file, if one is set.
    fn token_file(&self) -> Option<&PathBuf> {
        self.auth_token_file
            .as_ref()
            .filter(|f| !f.as_os_str().is_empty())
    }

    /// Checks the section as Prometheus does, with its messages: servers, and one way to
    /// authenticate.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("marathon_sd: must contain at least one Marathon server".into());
        }
        let token = self.token().is_some() || self.token_file().is_some();
        if self.token().is_some() && self.token_file().is_some() {
            return Err(
                "marathon_sd: at most one of auth_token & auth_token_file must be configured"
                    .into(),
            );
        }
        let http = &self.http;
        if http.basic_auth.is_some() && token {
            return Err("marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured".into());
        }
        let bearer = http.bearer_token.as_deref().is_some_and(|t| !t.is_empty())
            || http
                .bearer_token_file
                .as_ref()
                .is_some_and(|f| !f.as_os_str().is_empty());
        if bearer && token {
            return Err("marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured".into());
        }
        if http.authorization.is_some() && token {
            return Err("marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured".into());
        }
        http.check()
    }
}

/// How a request is authenticated beyond the HTTP client settings.
enum Token {
    None,
    Inline(String),
    /// Read at each request, trimmed, as Prometheus reads it.
    File(PathBuf),
}

/// A Marathon discoverer.
pub(super) struct Marathon {
    name: String,
    interval: StdDuration,
    client: ApiClient,
    servers: Vec<String>,
    token: Token,
}

impl Marathon {
    pub(super) fn new(n: usize, config: &MarathonSdConfig) -> Result<Self, String> {
        let token = match (config.token(), config.token_file()) {
            (Some(token), _) => Token::Inline(token.to_owned()),
            (None, Some(file)) => {
                // The file must be there from the start, as Prometheus requires.
                read_token(file)?;
                Token::File(file.clone())
            }
            (None, None) => Token::None,
        };
        Ok(Self {
            name: format!("marathon_sd_configs[{n}]"),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            servers: config.servers.clone(),
            token,
        })
    }

    /// The app list's URL at one of the servers, picked at random.
    fn apps_url(&self) -> String {
        let pick = std::hash::RandomState::new().hash_one(()) as usize;
        let server = &self.servers[pick % self.servers.len().max(1)];
        format!("{server}{APPS_PATH}")
    }
}

fn read_token(file: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|t| t.trim().to_owned())
        .map_err(|e| format!("unable to read auth token file {}: {e}", file.display()))
}

impl Provider for Marathon {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let url = self.apps_url();
            let token = match &self.token {
                Token::None => None,
                Token::Inline(token) => Some(token.clone()),
                Token::File(file) => Some(read_token(file)?),
            };
            let (request, url) = match token {
                // DC/OS wants `token=`, not a scheme. It replaces any other Authorization
                // header, as Prometheus sets it last; the checks leave only the URL's user
                // and password to replace.
                Some(token) => {
                    let url = super::without_credentials(&url).unwrap_or(url);
                    let request = self
                        .client
                        .get(&url)
                        .await?
                        .header(reqwest::header::AUTHORIZATION, format!("token={token}"));
                    (request, url)
                }
                None => self.client.get_as_go(&url).await?,
            };
            let list: AppList = get_json(request, &url).await?;
            Ok(list.apps.iter().flat_map(targets).collect())
        })
    }
}

/// The targets of an app's tasks, each with the app's labels.
fn targets(app: &App) -> Vec<StaticConfig> {
    let mut group: BTreeMap<String, String> = BTreeMap::from([
        ("__meta_marathon_app".to_owned(), app.id.0.clone()),
        (
            "__meta_marathon_image".to_owned(),
            app.container.docker.image.0.clone(),
        ),
    ]);
    for (name, value) in app.labels.iter() {
        group.insert(
            format!("__meta_marathon_app_label_{}", sanitize_label_name(name)),
            value.0.clone(),
        );
    }

    let container_net = app
        .networks
        .first()
        .is_some_and(|n| n.mode.as_str() == "container");
    let (mut ports, port_labels, prefix): (Vec<u32>, Vec<&Labels>, &str) =
        if !app.container.port_mappings.is_empty() {
            let (p, l) = port_mappings(&app.container.port_mappings, container_net);
            (p, l, "port_mapping_label_")
        } else if !app.container.docker.port_mappings.is_empty() {
            let (p, l) = port_mappings(&app.container.docker.port_mappings, container_net);
            (p, l, "port_mapping_label_")
        } else if !app.port_definitions.is_empty() {
            // Without requirePorts, a definition's port is a service port, not the one
            // listened on: that is the task's.
            let (p, l) = app
                .port_definitions
                .iter()
                .map(|d| (if *app.require_ports { *d.port } else { 0 }, &d.labels.0))
                .unzip();
            (p, l, "port_definition_label_")
        } else {
            (Vec::new(), Vec::new(), "")
        };

    let mut out = Vec::new();
    for task in app.tasks.iter() {
        // With neither mappings nor definitions, the first task with ports gives the
        // ports of every task, as Prometheus takes them (they are the same for all).
        if ports.is_empty() && !task.ports.is_empty() {
            ports = task.ports.0.clone();
        }
        for (i, &port) in ports.iter().enumerate() {
            let port = if port == 0 && task.ports.len() == ports.len() {
                task.ports[i]
            } else {
                port
            };
            let host = match task.ip_addresses.first() {
                Some(ip) if container_net => &ip.address.0,
                _ => &task.host.0,
            };
            let mut labels = group.clone();
            labels.insert("__meta_marathon_task".into(), task.id.0.clone());
            labels.insert("__meta_marathon_port_index".into(), i.to_string());
            // Ports taken from a task have no labels.
            if let Some(port_labels) = port_labels.get(i) {
                for (name, value) in port_labels.iter() {
                    labels.insert(
                        format!("__meta_marathon_{prefix}{}", sanitize_label_name(name)),
                        value.0.clone(),
                    );
                }
            }
            out.push(target(join_host_port(host, port), labels));
        }
    }
    out
}

/// The ports of port mappings, and their labels: in a container network the container
/// port, otherwise the host port (0 when Marathon picks it: the task's then).
fn port_mappings(mappings: &[PortMapping], container_net: bool) -> (Vec<u32>, Vec<&Labels>) {
    mappings
        .iter()
        .map(|m| {
            let port = if container_net {
                m.container_port.0
            } else {
                m.host_port.0
            };
            (port, &m.labels.0)
        })
        .unzip()
}

/// Labels as Marathon writes them; a null value is empty, as Go reads it.
type Labels = BTreeMap<String, Nullable<String>>;

/// `GET /v2/apps/?embed=apps.tasks`: the fields Prometheus reads.
#[derive(Default, Deserialize)]
#[serde(default)]
struct AppList {
    apps: Nullable<Vec<App>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct App {
    id: Nullable<String>,
    tasks: Nullable<Vec<Task>>,
    labels: Nullable<Labels>,
    container: Nullable<Container>,
    #[serde(rename = "portDefinitions")]
    port_definitions: Nullable<Vec<PortDefinition>>,
    networks: Nullable<Vec<Network>>,
    #[serde(rename = "requirePorts")]
    require_ports: Nullable<bool>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Task {
    id: Nullable<String>,
    host: Nullable<String>,
    ports: Nullable<Vec<u32>>,
    #[serde(rename = "ipAddresses")]
    ip_addresses: Nullable<Vec<IpAddress>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct IpAddress {
    #[serde(rename = "ipAddress")]
    address: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Container {
    docker: Nullable<DockerContainer>,
    #[serde(rename = "portMappings")]
    port_mappings: Nullable<Vec<PortMapping>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DockerContainer {
    image: Nullable<String>,
    #[serde(rename = "portMappings")]
    port_mappings: Nullable<Vec<PortMapping>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct PortMapping {
    labels: Nullable<Labels>,
    #[serde(rename = "containerPort")]
    container_port: Nullable<u32>,
    #[serde(rename = "hostPort")]
    host_port: Nullable<u32>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct PortDefinition {
    labels: Nullable<Labels>,
    port: Nullable<u32>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Network {
    mode: Nullable<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::RawQuery;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use serde_json::json;

    use super::super::testing::{fake_api, group, json, section};
    use super::*;

    /// An app list as Marathon answers it with its tasks: port definitions on host
    /// networking, port mappings (Marathon 1.5's and the older Docker ones), a container
    /// network, ports from tasks only, and an app without tasks.
    fn apps() -> serde_json::Value {
        json!({"apps": [
            {
                "id": "/prometheus/node-exporter", "cmd": "node_exporter", "instances": 2,
                "labels": {"team": "infra", "prometheus.io/scrape": "true"},
                "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "metrics", "labels": {"metrics": "/metrics"}}],
                "requirePorts": false, "networks": [{"mode": "host"}],
                "tasksRunning": 2, "tasksStaged": 0,
                "tasks": [
                    {"id": "prometheus_node-exporter.5e0d8e6a-1c2b-11ee-9c1a-0242ac110002", "host": "agent-1.mesos",
                     "ports": [31001], "ipAddresses": [{"ipAddress": "10.0.4.11", "protocol": "IPv4"}],
                     "state": "TASK_RUNNING", "appId": "/prometheus/node-exporter"},
                    {"id": "prometheus_node-exporter.5e0db57b-1c2b-11ee-9c1a-0242ac110002", "host": "agent-2.mesos",
                     "ports": [31002], "state": "TASK_RUNNING", "appId": "/prometheus/node-exporter"}
                ]
            },
            {
                "id": "/web/frontend", "labels": {},
                "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                    "portMappings": [
                        {"containerPort": 8080, "hostPort": 0, "servicePort": 10101, "protocol": "tcp", "labels": {"metrics": "/metrics", "name": "http"}},
                        {"containerPort": 9090, "hostPort": 0, "servicePort": 10102, "protocol": "tcp"}
                    ]},
                "networks": [{"mode": "container/bridge"}], "requirePorts": false,
                "tasks": [{"id": "web_frontend.8a1f", "host": "agent-2.mesos", "ports": [31500, 31501],
                           "ipAddresses": [{"ipAddress": "172.17.0.2", "protocol": "IPv4"}]}]
            },
            {
                "id": "/db/cassandra",
                "container": {"type": "MESOS", "docker": {"image": "cassandra:4"},
                    "portMappings": [{"containerPort": 7199, "labels": {"metrics": "/jmx"}}]},
                "networks": [{"name": "dcos", "mode": "container"}],
                "tasks": [{"id": "db_cassandra.11aa", "host": "agent-3.mesos", "ports": [],
                           "ipAddresses": [{"ipAddress": "9.0.3.4", "protocol": "IPv4"}]}]
            },
            {
                "id": "/legacy/api",
                "container": {"type": "DOCKER", "docker": {"image": "legacy/api:2", "network": "BRIDGE",
                    "portMappings": [{"containerPort": 80, "hostPort": 31800, "servicePort": 10001, "labels": null}]}},
                "tasks": [{"id": "legacy_api.22bb", "host": "fd00::7", "ports": [31800]}]
            },
            {
                "id": "/batch/worker", "portDefinitions": [], "container": null,
                "tasks": [
                    {"id": "batch_worker.1", "host": "agent-4.mesos", "ports": [31900]},
                    {"id": "batch_worker.2", "host": "agent-5.mesos", "ports": [31950]}
                ]
            },
            {"id": "/idle", "tasks": [], "labels": {"team": "none"}}
        ]})
    }

    /// The targets Prometheus 2.42 makes of [`apps`].
    fn expected() -> Vec<StaticConfig> {
        let node = |task: &str, address: &str| {
            group(
                address,
                &[
                    ("__meta_marathon_app", "/prometheus/node-exporter"),
                    ("__meta_marathon_app_label_prometheus_io_scrape", "true"),
                    ("__meta_marathon_app_label_team", "infra"),
                    ("__meta_marathon_image", ""),
                    ("__meta_marathon_port_definition_label_metrics", "/metrics"),
                    ("__meta_marathon_port_index", "0"),
                    ("__meta_marathon_task", task),
                ],
            )
        };
        let plain = |app: &str, image: &str, task: &str, address: &str| {
            group(
                address,
                &[
                    ("__meta_marathon_app", app),
                    ("__meta_marathon_image", image),
                    ("__meta_marathon_port_index", "0"),
                    ("__meta_marathon_task", task),
                ],
            )
        };
        vec![
            node(
                "prometheus_node-exporter.5e0d8e6a-1c2b-11ee-9c1a-0242ac110002",
                "agent-1.mesos:31001",
            ),
            node(
                "prometheus_node-exporter.5e0db57b-1c2b-11ee-9c1a-0242ac110002",
                "agent-2.mesos:31002",
            ),
            group(
                "agent-2.mesos:31500",
                &[
                    ("__meta_marathon_app", "/web/frontend"),
                    ("__meta_marathon_image", "nginx:1.25"),
                    ("__meta_marathon_port_index", "0"),
                    ("__meta_marathon_port_mapping_label_metrics", "/metrics"),
                    ("__meta_marathon_port_mapping_label_name", "http"),
                    ("__meta_marathon_task", "web_frontend.8a1f"),
                ],
            ),
            group(
                "agent-2.mesos:31501",
                &[
                    ("__meta_marathon_app", "/web/frontend"),
                    ("__meta_marathon_image", "nginx:1.25"),
                    ("__meta_marathon_port_index", "1"),
                    ("__meta_marathon_task", "web_frontend.8a1f"),
                ],
            ),
            group(
                "9.0.3.4:7199",
                &[
                    ("__meta_marathon_app", "/db/cassandra"),
                    ("__meta_marathon_image", "cassandra:4"),
                    ("__meta_marathon_port_index", "0"),
                    ("__meta_marathon_port_mapping_label_metrics", "/jmx"),
                    ("__meta_marathon_task", "db_cassandra.11aa"),
                ],
            ),
            plain(
                "/legacy/api",
                "legacy/api:2",
                "legacy_api.22bb",
                "[fd00::7]:31800",
            ),
            plain("/batch/worker", "", "batch_worker.1", "agent-4.mesos:31900"),
            // The second task takes the first task's ports, as Prometheus gives them.
            plain("/batch/worker", "", "batch_worker.2", "agent-5.mesos:31900"),
        ]
    }

    /// A fake Marathon: the app list, or `fail`'s answer; records the Authorization
    /// header of each request.
    async fn marathon_api(fail: Arc<Mutex<Option<u16>>>, seen: Arc<Mutex<Vec<String>>>) -> String {
        fake_api(axum::Router::new().route(
            "/v2/apps/",
            get(move |h: HeaderMap, RawQuery(q): RawQuery| {
                let fail = *fail.lock().unwrap();
                let auth = h
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push(auth.unwrap_or_default());
                async move {
                    assert_eq!(q.as_deref(), Some("embed=apps.tasks"));
                    match fail {
                        Some(200) => json(200, json!({"apps": "none"})),
                        Some(status) => json(status, json!({"message": "Internal error"})),
                        None => json(200, apps()),
                    }
                }
            }),
        ))
        .await
    }

    fn config(text: &str) -> MarathonSdConfig {
        section(text, MarathonSdConfig::validate)
    }

    #[tokio::test]
    async fn tasks_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let base = marathon_api(fail.clone(), seen.clone()).await;
        let sd = Marathon::new(
            0,
            &config(&format!(
                "servers: [{base}]\nbasic_auth:\n  username: prometheus\n  password: pw\n"
            )),
        )
        .unwrap();
        assert_eq!(sd.name(), "marathon_sd_configs[0]");
        assert_eq!(sd.refresh().await.unwrap(), expected());
        assert_eq!(seen.lock().unwrap()[0], "Basic cHJvbWV0aGV1czpwdw==");

        *fail.lock().unwrap() = Some(503);
        let e = sd.refresh().await.unwrap_err();
        let url = format!("{base}/v2/apps/?embed=apps.tasks");
        assert!(
            e.starts_with(&format!("{url}: ")) && e.contains("503"),
            "{e}"
        );
        *fail.lock().unwrap() = Some(200);
        let e = sd.refresh().await.unwrap_err();
        assert!(e.starts_with(&format!("{url}: line 1")), "{e}");
    }

    #[tokio::test]
    async fn the_auth_token_is_sent_as_dcos_wants_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let base = marathon_api(Arc::new(Mutex::new(None)), seen.clone()).await;
        let sd =
            Marathon::new(0, &config(&format!("servers: [{base}]\nauth_token: abc\n"))).unwrap();
        sd.refresh().await.unwrap();
        // It replaces a user and password in the server's URL.
        let with_user = base.replace("http://", "http://u:p@");
        let sd = Marathon::new(
            0,
            &config(&format!("servers: [{with_user}]\nauth_token: abc\n")),
        )
        .unwrap();
        sd.refresh().await.unwrap();

        // A token file is read at each request, trimmed.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "first\n").unwrap();
        let yaml = format!("servers: [{base}]\nauth_token_file: {}\n", file.display());
        let sd = Marathon::new(1, &config(&yaml)).unwrap();
        sd.refresh().await.unwrap();
        std::fs::write(&file, "  second  ").unwrap();
        sd.refresh().await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["token=abc", "token=abc", "token=first", "token=second"]
        );

        // A file that is gone fails the refresh; one missing at the start fails the
        // provider.
        std::fs::remove_file(&file).unwrap();
        let e = sd.refresh().await.unwrap_err();
        assert!(e.starts_with("unable to read auth token file"), "{e}");
        let e = Marathon::new(1, &config(&yaml)).err().unwrap();
        assert!(e.starts_with("unable to read auth token file"), "{e}");
    }

    #[test]
    fn each_refresh_asks_one_server_at_random() {
        let sd = Marathon::new(
            0,
            &config("servers: ['http://m1:8080', 'http://m2:8080/']\n"),
        )
        .unwrap();
        let asked: std::collections::BTreeSet<String> = (0..200).map(|_| sd.apps_url()).collect();
        // The path is appended to the server as written.
        assert_eq!(
            asked.into_iter().collect::<Vec<_>>(),
            [
                "http://m1:8080/v2/apps/?embed=apps.tasks",
                "http://m2:8080//v2/apps/?embed=apps.tasks",
            ]
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let mut c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    marathon_sd_configs:\n      - servers: ['http://marathon.mesos:8080']\n        auth_token_file: secrets/token\n",
            "p.yml",
        )
        .unwrap();
        let discovery = &mut c.scrape_configs[0].discovery;
        discovery.set_directory(std::path::Path::new("/etc/prometheus"));
        let sd = &discovery.marathon_sd_configs[0];
        assert_eq!(sd.refresh_interval, Duration(30_000));
        assert_eq!(sd.auth_token, None);
        // Relative to the configuration file, as Prometheus reads it.
        assert_eq!(
            sd.auth_token_file.as_deref(),
            Some(std::path::Path::new("/etc/prometheus/secrets/token"))
        );
    }

    #[test]
    fn prometheus_example_configuration_loads() {
        // documentation/examples/prometheus-marathon.yml, its comments left out.
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: "prometheus"
    static_configs:
      - targets: ["localhost:9090"]
  - job_name: "marathon"
    marathon_sd_configs:
      - servers:
          - http://marathon.mesos:8080
        refresh_interval: 60s
    relabel_configs:
      - source_labels:
          [
            __meta_marathon_port_mapping_label_metrics,
            __meta_marathon_port_definition_label_metrics,
          ]
        regex: (\/.+;|;\/.+)
        action: keep
      - source_labels: [__meta_marathon_port_mapping_label_metrics]
        regex: (\/.+)
        target_label: __metrics_path__
      - source_labels: [__meta_marathon_port_definition_label_metrics]
        regex: (\/.+)
        target_label: __metrics_path__
"#,
            "prometheus-marathon.yml",
        )
        .unwrap();
        let discovery = &c.scrape_configs[1].discovery;
        let sd = &discovery.marathon_sd_configs[0];
        assert_eq!(sd.servers, ["http://marathon.mesos:8080"]);
        assert_eq!(sd.refresh_interval, Duration(60_000));
        let (providers, failed) = crate::discovery::providers(discovery);
        assert_eq!((providers.len(), failed.len()), (1, 0));
    }

    #[test]
    fn the_section_is_checked_as_prometheus_checks_it() {
        let parse = |section: &str| {
            crate::Config::parse(
                &format!("scrape_configs:\n  - job_name: a\n    marathon_sd_configs:\n      - {section}\n"),
                "p.yml",
            )
            .map_err(|e| e.message)
        };
        let at = "\n        ";
        for (section, error) in [
            (
                "refresh_interval: 1m".to_owned(),
                "marathon_sd_configs[0]: marathon_sd: must contain at least one Marathon server",
            ),
            (
                "servers: []".to_owned(),
                "must contain at least one Marathon server",
            ),
            (
                format!("servers: [http://m]{at}auth_token: a{at}auth_token_file: f"),
                "at most one of auth_token & auth_token_file must be configured",
            ),
            (
                format!("servers: [http://m]{at}auth_token_file: f{at}basic_auth: {{username: u}}"),
                "at most one of basic_auth, auth_token & auth_token_file must be configured",
            ),
            (
                format!("servers: [http://m]{at}auth_token: a{at}bearer_token: b"),
                "at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured",
            ),
            (
                format!(
                    "servers: [http://m]{at}auth_token: a{at}authorization: {{credentials: c}}"
                ),
                "at most one of auth_token, auth_token_file & authorization must be configured",
            ),
            (
                format!("servers: [http://m]{at}authorization: {{type: basic}}"),
                "authorization type cannot be \"Basic\"",
            ),
        ] {
            let e = parse(&section).unwrap_err();
            assert!(e.contains(error), "{section}: {e}");
        }
        // An empty token is none, as Prometheus counts it.
        parse(&format!(
            "servers: [http://m]{at}auth_token: ''{at}basic_auth: {{username: u}}"
        ))
        .unwrap();
    }
}
