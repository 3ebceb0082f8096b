//! `docker_sd_configs`: Prometheus's Docker service discovery, and the Docker Engine API
//! client it shares with `dockerswarm_sd_configs`.
//!
//! Each refresh lists the engine's containers (`GET /containers/json`, narrowed by the
//! configured filters) and its networks (`GET /networks`), and makes one target per
//! container, network and TCP port as Prometheus 2.42 does: the address is the
//! container's IP on that network and the port's private port; a container with no TCP
//! port gets one target on the configured `port`, or `host_networking_host` when it runs
//! in host networking mode.
//!
//! The engine is reached at `unix://PATH` (its socket), `tcp://HOST:PORT` (plain HTTP) or
//! `http(s)://HOST:PORT`. As in Prometheus, the section's HTTP client settings apply to
//! `http` and `https` hosts only. The API is asked without a version prefix, which the
//! engine answers at its own current version; every field Prometheus reads has kept its
//! shape across versions. A field missing or null in an answer reads as Go's zero value
//! (an empty string, 0, false), as Prometheus's decoder leaves it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use serde::Deserialize;
use serde_json::Value;
use yaml::Spanned;

use super::{Provider, Refresh, join_host_port};
use crate::config::{Duration, HttpClientConfig, StaticConfig, http_client};

http_client! {
    /// `docker_sd_configs`: containers listed by a Docker engine.
    pub struct DockerSdConfig {
        /// Where the engine listens: `unix:///var/run/docker.sock`, `tcp://HOST:PORT` or
        /// `http(s)://HOST:PORT`.
        pub host: Spanned<String>,
        /// The port of a container that publishes no TCP port (default 80).
        #[serde(default = "default_port")]
        pub port: u16,
        /// The address of a container in host networking mode (default `localhost`).
        #[serde(default = "default_host_networking_host")]
        pub host_networking_host: String,
        /// Filters the engine applies to the container list.
        #[serde(default)]
        pub filters: Vec<Filter>,
        /// How often to list the containers again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

/// One filter of a Docker or Docker Swarm list, as the engine's `filters` parameter takes
/// it: a name (`label`, `name`, `status`, ...) and the values any of which may match.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The filter's name.
    #[serde(default)]
    pub name: String,
    /// Its values.
    #[serde(default)]
    pub values: Vec<String>,
}

fn default_port() -> u16 {
    80
}

fn default_host_networking_host() -> String {
    "localhost".into()
}

pub(super) fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

impl DockerSdConfig {
    /// Checks the settings as Prometheus does when it reads them, and the host's scheme,
    /// which Prometheus finds wrong only when it first connects.
    pub(crate) fn validate(&self) -> Result<(), String> {
        check_host(&self.host.value)?;
        self.http.check()
    }
}

/// Checks a Docker host: `unix://`, `tcp://`, `http://` or `https://` and something after.
pub(super) fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(
            "host missing; set the Docker engine's address, such as unix:///var/run/docker.sock"
                .into(),
        );
    }
    match host.split_once("://") {
        Some(("unix" | "tcp" | "http" | "https", rest)) if !rest.is_empty() => Ok(()),
        Some(("unix" | "tcp" | "http" | "https", _)) => {
            Err(format!("host {host:?} has no address after the scheme"))
        }
        _ => Err(format!(
            "host {host:?} is not unix://PATH, tcp://HOST:PORT, http://HOST:PORT or https://HOST:PORT"
        )),
    }
}

/// The filters as the engine's `filters` query parameter takes them: a JSON object from
/// each name to an object whose keys are its values; empty when there is none.
pub(super) fn filters_json(filters: &[Filter]) -> String {
    let mut args: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for f in filters {
        for v in &f.values {
            args.entry(&f.name).or_default().insert(v, true);
        }
    }
    if args.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&args).unwrap_or_default()
    }
}

/// How requests reach the engine.
enum Transport {
    /// HTTP/1 over the engine's unix socket.
    Unix(std::path::PathBuf),
    /// HTTP over TCP, to `base` (scheme, authority and any base path).
    Http {
        client: reqwest::Client,
        base: String,
        authorization: Option<String>,
    },
}

/// A Docker Engine API client: GET requests answered with JSON lists.
pub(super) struct DockerApi {
    host: String,
    transport: Transport,
    timeout: StdDuration,
}

impl DockerApi {
    /// A client for `host` (checked by [`check_host`]); `http` applies to `http(s)` hosts;
    /// a request that takes longer than `timeout` fails.
    pub(super) fn new(
        host: &str,
        http: &HttpClientConfig,
        timeout: StdDuration,
    ) -> Result<Self, String> {
        check_host(host)?;
        let transport = match host.split_once("://") {
            Some(("unix", path)) => Transport::Unix(path.into()),
            Some(("tcp", rest)) => Transport::Http {
                // As the Docker client Prometheus uses: plain HTTP, no client settings.
                client: HttpClientConfig::default().client()?,
                base: format!("http://{}", rest.trim_end_matches('/')),
                authorization: None,
            },
            _ => Transport::Http {
                client: http.client()?,
                base: host.trim_end_matches('/').to_owned(),
                authorization: http.authorization_header(),
            },
        };
        Ok(Self {
            host: host.to_owned(),
            transport,
            timeout: timeout.max(StdDuration::from_secs(1)),
        })
    }

    /// `GET path`, with the filters if any, answered with a JSON list (a null answer is an
    /// empty list, as Go decodes it).
    pub(super) async fn list(&self, path: &str, filters: &str) -> Result<Vec<Value>, String> {
        let uri = if filters.is_empty() {
            path.to_owned()
        } else {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("filters", filters)
                .finish();
            format!("{path}?{query}")
        };
        let what = format!("{} GET {path}", self.host);
        let (status, body) = tokio::time::timeout(self.timeout, self.get(&uri))
            .await
            .map_err(|_| format!("{what}: no answer within {:?}", self.timeout))?
            .map_err(|e| format!("{what}: {e}"))?;
        if !(200..300).contains(&status) {
            // The engine explains its errors as {"message": "..."}.
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(format!("{what}: HTTP status {status}: {message}"));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(Value::Null) => Ok(Vec::new()),
            Ok(_) => Err(format!("{what}: the answer is not a JSON list")),
            Err(e) => Err(format!("{what}: the answer is not JSON: {e}")),
        }
    }

    /// The status and body of `GET uri`.
    async fn get(&self, uri: &str) -> Result<(u16, Vec<u8>), String> {
        match &self.transport {
            Transport::Http {
                client,
                base,
                authorization,
            } => {
                let mut request = client
                    .get(format!("{base}{uri}"))
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(auth) = authorization {
                    request = request.header(reqwest::header::AUTHORIZATION, auth);
                }
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                Ok((status, body.to_vec()))
            }
            Transport::Unix(path) => get_unix(path, uri).await,
        }
    }
}

#[cfg(unix)]
async fn get_unix(path: &std::path::Path, uri: &str) -> Result<(u16, Vec<u8>), String> {
    use http_body_util::BodyExt as _;

    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    // The connection is driven beside the request; it ends when the sender is dropped.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "Docker socket connection closed with an error");
        }
    });
    let request = hyper::Request::get(uri)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::ACCEPT, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("Skywatch/", env!("CARGO_PKG_VERSION")),
        )
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body.to_vec()))
}

#[cfg(not(unix))]
async fn get_unix(path: &std::path::Path, _uri: &str) -> Result<(u16, Vec<u8>), String> {
    Err(format!(
        "{}: unix sockets are not available on this system",
        path.display()
    ))
}

/// A JSON field as Go reads it into a string: the string, or empty.
pub(super) fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A JSON object's entries, none if it is not one.
pub(super) fn entries(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

/// A JSON list's items, none if it is not one.
pub(super) fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// A label name made from a Docker label's key: every character that cannot be in a
/// label name becomes `_`, as Prometheus's `SanitizeLabelName` does (one per character,
/// not per byte).
pub(super) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Labels of each network by ID, named `{prefix}network_*`, as Prometheus's
/// `getNetworksLabels`.
pub(super) async fn network_labels(
    api: &DockerApi,
    prefix: &str,
) -> Result<HashMap<String, BTreeMap<String, String>>, String> {
    let mut out = HashMap::new();
    for network in api.list("/networks", "").await? {
        let mut labels = BTreeMap::from([
            (format!("{prefix}network_id"), text(&network["Id"])),
            (format!("{prefix}network_name"), text(&network["Name"])),
            (format!("{prefix}network_scope"), text(&network["Scope"])),
            (
                format!("{prefix}network_internal"),
                network["Internal"].as_bool().unwrap_or(false).to_string(),
            ),
            (
                format!("{prefix}network_ingress"),
                network["Ingress"].as_bool().unwrap_or(false).to_string(),
            ),
        ]);
        for (k, v) in entries(&network["Labels"]) {
            labels.insert(format!("{prefix}network_label_{}", sanitize(k)), text(v));
        }
        out.insert(text(&network["Id"]), labels);
    }
    Ok(out)
}

/// One target: its address and labels, as a group of one.
pub(super) fn target(address: String, labels: BTreeMap<String, String>) -> StaticConfig {
    StaticConfig {
        targets: vec![address],
        labels,
    }
}

const PREFIX: &str = "__meta_docker_";

/// `docker_sd_configs`: the containers of a Docker engine.
pub(super) struct DockerSd {
    name: String,
    api: DockerApi,
    filters: String,
    port: u16,
    host_networking_host: String,
    interval: StdDuration,
}

impl DockerSd {
    pub(super) fn new(n: usize, config: &DockerSdConfig) -> Result<Self, String> {
        let interval = config.refresh_interval.std();
        Ok(Self {
            name: format!("docker_sd_configs[{n}]"),
            api: DockerApi::new(&config.host.value, &config.http, interval)?,
            filters: filters_json(&config.filters),
            port: config.port,
            host_networking_host: config.host_networking_host.clone(),
            interval,
        })
    }

    async fn targets(&self) -> Result<Vec<StaticConfig>, String> {
        let containers = self
            .api
            .list("/containers/json", &self.filters)
            .await
            .map_err(|e| format!("listing containers: {e}"))?;
        let networks = network_labels(&self.api, PREFIX)
            .await
            .map_err(|e| format!("listing networks: {e}"))?;
        let mut out = Vec::new();
        for c in &containers {
            let Some(name) = items(&c["Names"]).first() else {
                continue;
            };
            let network_mode = text(&c["HostConfig"]["NetworkMode"]);
            let mut common = BTreeMap::from([
                (format!("{PREFIX}container_id"), text(&c["Id"])),
                (format!("{PREFIX}container_name"), text(name)),
                (
                    format!("{PREFIX}container_network_mode"),
                    network_mode.clone(),
                ),
            ]);
            for (k, v) in entries(&c["Labels"]) {
                common.insert(format!("{PREFIX}container_label_{}", sanitize(k)), text(v));
            }
            for (_, network) in entries(&c["NetworkSettings"]["Networks"]) {
                let ip = text(&network["IPAddress"]);
                let mut base = common.clone();
                base.insert(format!("{PREFIX}network_ip"), ip.clone());
                if let Some(labels) = networks.get(&text(&network["NetworkID"])) {
                    base.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                let mut added = false;
                for port in items(&c["Ports"]) {
                    if port["Type"].as_str() != Some("tcp") {
                        continue;
                    }
                    let private = port["PrivatePort"].as_u64().unwrap_or(0);
                    let public = port["PublicPort"].as_u64().unwrap_or(0);
                    let mut labels = base.clone();
                    labels.insert(format!("{PREFIX}port_private"), private.to_string());
                    if public > 0 {
                        labels.insert(format!("{PREFIX}port_public"), public.to_string());
                        labels.insert(format!("{PREFIX}port_public_ip"), text(&port["IP"]));
                    }
                    out.push(target(join_host_port(&ip, private), labels));
                    added = true;
                }
                if !added {
                    // No TCP port: the configured one; a container in host networking
                    // mode has no ports of its own, and Prometheus 2.42 gives it the
                    // configured host as the whole address.
                    let address = if network_mode == "host" {
                        self.host_networking_host.clone()
                    } else {
                        join_host_port(&ip, self.port)
                    };
                    out.push(target(address, base));
                }
            }
        }
        Ok(out)
    }
}

impl Provider for DockerSd {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(self.targets())
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a fake engine answers, and the queries it was asked.
    #[derive(Default)]
    pub(in crate::discovery) struct Engine {
        pub(in crate::discovery) answers: HashMap<&'static str, (u16, String)>,
        pub(in crate::discovery) queries: Vec<(String, String)>,
    }

    /// A fake Docker Engine API: each path answers as `engine` says, recording queries.
    pub(in crate::discovery) fn engine_router(engine: Arc<Mutex<Engine>>) -> axum::Router {
        let handler = move |uri: axum::http::Uri| {
            let engine = engine.clone();
            async move {
                let mut engine = engine.lock().unwrap();
                let query = uri.query().unwrap_or_default().to_owned();
                engine.queries.push((uri.path().to_owned(), query));
                let (status, body) = engine
                    .answers
                    .get(uri.path())
                    .cloned()
                    .unwrap_or((404, r#"{"message":"page not found"}"#.into()));
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        };
        axum::Router::new().fallback(handler)
    }

    pub(in crate::discovery) async fn serve_tcp(engine: Arc<Mutex<Engine>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, engine_router(engine)).await.unwrap();
        });
        format!("tcp://{addr}")
    }

    const CONTAINERS: &str = r#"[
      {"Id": "c1", "Names": ["/web"], "Image": "nginx",
       "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                 {"PrivatePort": 9100, "Type": "tcp"},
                 {"PrivatePort": 53, "Type": "udp"}],
       "Labels": {"prometheus.scrape": "true", "com.example/tëam": "ops"},
       "HostConfig": {"NetworkMode": "bridge"},
       "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n1", "IPAddress": "172.17.0.2"}}}},
      {"Id": "c2", "Names": ["/host-agent"], "Ports": [], "Labels": null,
       "HostConfig": {"NetworkMode": "host"},
       "NetworkSettings": {"Networks": {"host": {"NetworkID": "n2", "IPAddress": ""}}}},
      {"Id": "c3", "Names": ["/dns", "/alias"], "Ports": [{"PrivatePort": 53, "Type": "udp"}],
       "HostConfig": {"NetworkMode": "app"},
       "NetworkSettings": {"Networks": {"app": {"NetworkID": "n3", "IPAddress": "fd00::5"}}}},
      {"Id": "c4", "Names": [], "NetworkSettings": {"Networks": {"app": {"NetworkID": "n3"}}}}
    ]"#;

    const NETWORKS: &str = r#"[
      {"Name": "bridge", "Id": "n1", "Scope": "local", "Driver": "bridge", "Internal": false,
       "Ingress": false, "Labels": {}},
      {"Name": "host", "Id": "n2", "Scope": "local", "Driver": "host"},
      {"Name": "app", "Id": "n3", "Scope": "swarm", "Internal": true, "Ingress": false,
       "Labels": {"com.example.env": "prod"}}
    ]"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("__meta_docker_{k}"), (*v).to_owned()))
            .collect()
    }

    fn expected() -> Vec<StaticConfig> {
        let web = [
            ("container_id", "c1"),
            ("container_name", "/web"),
            ("container_network_mode", "bridge"),
            ("container_label_prometheus_scrape", "true"),
            ("container_label_com_example_t_am", "ops"),
            ("network_id", "n1"),
            ("network_name", "bridge"),
            ("network_scope", "local"),
            ("network_internal", "false"),
            ("network_ingress", "false"),
            ("network_ip", "172.17.0.2"),
        ];
        let with = |base: &[(&'static str, &'static str)],
                    more: &[(&'static str, &'static str)]| {
            labels(&[base, more].concat())
        };
        vec![
            target(
                "172.17.0.2:80".into(),
                with(
                    &web,
                    &[
                        ("port_private", "80"),
                        ("port_public", "8080"),
                        ("port_public_ip", "0.0.0.0"),
                    ],
                ),
            ),
            target(
                "172.17.0.2:9100".into(),
                with(&web, &[("port_private", "9100")]),
            ),
            target(
                "localhost".into(),
                labels(&[
                    ("container_id", "c2"),
                    ("container_name", "/host-agent"),
                    ("container_network_mode", "host"),
                    ("network_id", "n2"),
                    ("network_name", "host"),
                    ("network_scope", "local"),
                    ("network_internal", "false"),
                    ("network_ingress", "false"),
                    ("network_ip", ""),
                ]),
            ),
            target(
                "[fd00::5]:9999".into(),
                labels(&[
                    ("container_id", "c3"),
                    ("container_name", "/dns"),
                    ("container_network_mode", "app"),
                    ("network_id", "n3"),
                    ("network_name", "app"),
                    ("network_scope", "swarm"),
                    ("network_internal", "true"),
                    ("network_ingress", "false"),
                    ("network_label_com_example_env", "prod"),
                    ("network_ip", "fd00::5"),
                ]),
            ),
        ]
    }

    fn config(host: &str, extra: &str) -> DockerSdConfig {
        let text = format!(
            "scrape_configs:\n  - job_name: d\n    docker_sd_configs:\n      - host: {host}\n{extra}"
        );
        let c = crate::Config::parse(&text, "p.yml").unwrap();
        c.scrape_configs[0].discovery.docker_sd_configs[0].clone()
    }

    fn engine() -> Arc<Mutex<Engine>> {
        let mut engine = Engine::default();
        engine
            .answers
            .insert("/containers/json", (200, CONTAINERS.into()));
        engine.answers.insert("/networks", (200, NETWORKS.into()));
        Arc::new(Mutex::new(engine))
    }

    #[tokio::test]
    async fn containers_become_one_target_per_network_and_tcp_port_with_prometheus_labels() {
        let engine = engine();
        let host = serve_tcp(engine.clone()).await;
        let sd = DockerSd::new(
            0,
            &config(
                &host,
                "        port: 9999\n        filters:\n          - name: label\n            values: [prometheus.scrape=true, a=b]\n          - name: status\n            values: [running]\n",
            ),
        )
        .unwrap();
        assert_eq!(sd.name(), "docker_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(60));
        assert_eq!(sd.refresh().await.unwrap(), expected());
        let queries = engine.lock().unwrap().queries.clone();
        let containers = queries
            .iter()
            .find(|(path, _)| path == "/containers/json")
            .unwrap();
        let filters: Vec<(String, String)> = form_urlencoded::parse(containers.1.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            filters,
            [(
                "filters".to_owned(),
                r#"{"label":{"a=b":true,"prometheus.scrape=true":true},"status":{"running":true}}"#
                    .to_owned()
            )]
        );
        assert!(queries.contains(&("/networks".to_owned(), String::new())));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_engine_is_reached_over_its_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let engine = engine();
        tokio::spawn(async move {
            axum::serve(listener, engine_router(engine)).await.unwrap();
        });
        let host = format!("unix://{}", socket.display());
        let sd = DockerSd::new(0, &config(&host, "        port: 9999\n")).unwrap();
        assert_eq!(sd.refresh().await.unwrap(), expected());
    }

    #[tokio::test]
    async fn an_engine_error_fails_the_refresh_naming_it() {
        let engine = engine();
        engine.lock().unwrap().answers.insert(
            "/networks",
            (500, r#"{"message":"the daemon is shutting down"}"#.into()),
        );
        let host = serve_tcp(engine).await;
        let sd = DockerSd::new(0, &config(&host, "")).unwrap();
        let e = sd.refresh().await.unwrap_err();
        assert_eq!(
            e,
            format!(
                "listing networks: {host} GET /networks: HTTP status 500: the daemon is shutting down"
            )
        );
    }

    #[test]
    fn label_names_are_sanitized_per_character_and_filters_encoded_as_the_engine_reads_them() {
        assert_eq!(sanitize("com.example/tëam-1"), "com_example_t_am_1");
        assert_eq!(filters_json(&[]), "");
        assert_eq!(
            filters_json(&[Filter {
                name: "name".into(),
                values: vec![]
            }]),
            "",
            "a filter without values filters nothing"
        );
    }
}
