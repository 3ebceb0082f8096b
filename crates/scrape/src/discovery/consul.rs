//! `consul_sd_configs`: the instances of Consul's services, as Prometheus's Consul
//! discovery finds them through Consul's HTTP API, with the requests HashiCorp's Go client
//! (`consul/api` 1.18, which Prometheus 2.42 uses) makes for it.
//!
//! Each refresh asks:
//!
//! - `GET /v1/agent/self`, once, for the agent's datacenter when `datacenter` is not set
//!   (it labels the targets);
//! - `GET /v1/catalog/services`, the service names and their tags, unless the section
//!   lists `services` and no `tags` (then those names are asked for directly);
//! - `GET /v1/health/service/<name>` for each service kept: its instances, their nodes
//!   and their checks, one `tag` parameter per configured tag.
//!
//! With the query parameters Prometheus sends: `dc` (the configured datacenter), one
//! `node-meta=key:value` per `node_meta` entry, `ns`, `partition`, `stale` (when
//! `allow_stale`), `tag` and `wait=120000ms`, and the token as `X-Consul-Token`.
//!
//! Prometheus makes these blocking queries: it sends the `X-Consul-Index` it saw last as
//! `index`, so that Consul holds the request up to the two minutes of `wait` until
//! something changes, and asks again no sooner than `refresh_interval` later. Skywatch
//! polls instead: every refresh sends Prometheus's first request (no `index`, so Consul
//! answers at once and `wait` does nothing) and reads the whole state. A discovery
//! section's providers are refreshed one after the other, so a request held for two
//! minutes would hold back every other provider and target file of the section; a poll
//! at `refresh_interval` sees a change as soon as Prometheus's ticker lets it see it,
//! at the price of reading unchanged answers again. As no request is held, each has the
//! refresh interval as its deadline, as the other providers' have (Prometheus allows its
//! blocking queries 2m15s).
//!
//! A refresh that cannot read the agent, the catalog or any service's instances fails
//! whole, and the manager keeps the targets given last; Prometheus keeps the last
//! targets of the one service that failed and goes on with the others.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use futures_util::StreamExt as _;
use serde::Deserialize;

use super::{ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, lock, target};
use crate::config::{BasicAuth, Duration, HttpClientConfig, StaticConfig, http_client};

/// The `wait` Prometheus asks Consul's blocking queries to hold at most (its
/// `watchTimeout`, two minutes, written as the Go client writes it).
const WAIT: &str = "120000ms";
/// How many services' instances are asked for at once.
const CONCURRENT_REQUESTS: usize = 16;
const PREFIX: &str = "__meta_consul_";

http_client! {
    /// `consul_sd_configs`: the instances of a Consul catalog's services.
    pub struct ConsulSdConfig {
        /// The agent or server, `host:port`, or a URL (`https://host:8501/prefix`) whose
        /// scheme and path prefix are used (default `localhost:8500`).
        #[serde(default = "default_server")]
        pub server: String,
        /// The ACL token, sent as `X-Consul-Token`.
        #[serde(default)]
        pub token: String,
        /// The datacenter to ask for; the agent's own when empty.
        #[serde(default)]
        pub datacenter: String,
        /// The namespace (Consul Enterprise).
        #[serde(default)]
        pub namespace: String,
        /// The admin partition (Consul Enterprise).
        #[serde(default)]
        pub partition: String,
        /// What joins the tags in `__meta_consul_tags` and surrounds them (default `,`).
        #[serde(default = "default_tag_separator")]
        pub tag_separator: String,
        /// `http` (default) or `https`.
        #[serde(default = "default_scheme")]
        pub scheme: String,
        /// Basic authentication's user: the older form of `basic_auth`.
        #[serde(default)]
        pub username: String,
        /// Basic authentication's password: the older form of `basic_auth`.
        #[serde(default)]
        pub password: String,
        /// Let any Consul server answer, not only the leader (default true).
        #[serde(default = "crate::config::default_true")]
        pub allow_stale: bool,
        /// How often to ask again (default 30s).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
        /// The services whose instances are targets; all of them when empty.
        #[serde(default)]
        pub services: Vec<String>,
        /// Tags an instance must all have.
        #[serde(default)]
        pub tags: Vec<String>,
        /// Node metadata the instances' nodes must have.
        #[serde(default)]
        pub node_meta: BTreeMap<String, String>,
    }
}

fn default_server() -> String {
    "localhost:8500".into()
}

fn default_tag_separator() -> String {
    ",".into()
}

fn default_scheme() -> String {
    "http".into()
}

fn default_refresh_interval() -> Duration {
    Duration(30_000)
}

impl ConsulSdConfig {
    /// Checks the section as Prometheus does, with Prometheus's errors.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.server.trim().is_empty() {
            return Err("consul SD configuration requires a server address".into());
        }
        let http = self.client_settings()?;
        // As Prometheus checks it, before `bearer_token` becomes `authorization`: a token
        // with a bearer token is allowed, and both headers are sent.
        if !self.token.is_empty() && (http.authorization.is_some() || http.oauth2.is_some()) {
            return Err(
                "at most one of consul SD token, authorization, or oauth2 can be configured".into(),
            );
        }
        http.check()
    }

    /// The HTTP client settings, `username` and `password` made into `basic_auth` as
    /// Prometheus makes them.
    fn client_settings(&self) -> Result<HttpClientConfig, String> {
        let mut http = self.http.clone();
        if !self.username.is_empty() || !self.password.is_empty() {
            if http.basic_auth.is_some() {
                return Err("at most one of consul SD configuration username and password and basic auth can be configured".into());
            }
            http.basic_auth = Some(BasicAuth {
                username: self.username.clone(),
                password: Some(self.password.clone()),
                password_file: None,
            });
        }
        Ok(http)
    }
}

/// The environment variables Consul's Go client reads, which Prometheus's discovery
/// therefore reads too where the section leaves a setting empty.
mod vars {
    /// The ACL token.
    pub(super) const TOKEN: &str = "CONSUL_HTTP_TOKEN";
    /// A file holding the ACL token; it wins over `CONSUL_HTTP_TOKEN`.
    pub(super) const TOKEN_FILE: &str = "CONSUL_HTTP_TOKEN_FILE";
    /// `https` when true, for an empty `scheme`.
    pub(super) const SSL: &str = "CONSUL_HTTP_SSL";
    /// The namespace.
    pub(super) const NAMESPACE: &str = "CONSUL_NAMESPACE";
    /// The admin partition.
    pub(super) const PARTITION: &str = "CONSUL_PARTITION";
}

/// A Consul discoverer.
pub(super) struct Consul {
    name: String,
    interval: StdDuration,
    client: ApiClient,
    /// `scheme://host:port` and the path prefix, if any.
    base: String,
    token: String,
    datacenter: String,
    namespace: String,
    partition: String,
    tag_separator: String,
    allow_stale: bool,
    services: Vec<String>,
    tags: Vec<String>,
    node_meta: BTreeMap<String, String>,
    /// The agent's datacenter, once asked for.
    agent_datacenter: Mutex<Option<String>>,
}

impl Consul {
    pub(super) fn new(n: usize, config: &ConsulSdConfig) -> Result<Self, String> {
        Self::with_env(n, config, &|key| std::env::var(key).ok())
    }

    /// A discoverer whose client reads the environment through `lookup`, as Consul's Go
    /// client reads it: for the token (`CONSUL_HTTP_TOKEN_FILE`, then `CONSUL_HTTP_TOKEN`)
    /// unless the section sets one, the namespace and partition, and the scheme.
    pub(crate) fn with_env(
        n: usize,
        config: &ConsulSdConfig,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let env = |key: &str| lookup(key).unwrap_or_default();
        let mut scheme = config.scheme.clone();
        if scheme.is_empty() {
            scheme = if go_bool(&env(vars::SSL)) {
                "https"
            } else {
                "http"
            }
            .into();
        }
        // As Consul's client reads `server`: a scheme, if written, wins over `scheme` when
        // it is `https`, and what follows the host is a prefix of every path (without its
        // trailing `/`, which Go's client would double).
        let mut address = config.server.as_str();
        let mut prefix = "";
        if let Some((written, rest)) = config.server.split_once("://") {
            match written {
                "http" => {}
                "https" => scheme = "https".into(),
                "unix" => {
                    return Err(format!(
                        "server {:?}: Skywatch does not reach Consul over a unix socket; use its HTTP address",
                        config.server
                    ));
                }
                other => return Err(format!("Unknown protocol scheme: {other}")),
            }
            (address, prefix) = rest.split_once('/').map_or((rest, ""), |(host, path)| {
                (host, path.trim_end_matches('/'))
            });
        }
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "scheme {scheme:?} is neither http nor https; Skywatch reaches Consul over HTTP"
            ));
        }
        let base = if prefix.is_empty() {
            format!("{scheme}://{address}")
        } else {
            format!("{scheme}://{address}/{prefix}")
        };
        reqwest::Url::parse(&base).map_err(|e| format!("server {:?}: {e}", config.server))?;
        let token = if !config.token.is_empty() && config.token != env(vars::TOKEN) {
            config.token.clone()
        } else if !env(vars::TOKEN_FILE).is_empty() {
            let file = env(vars::TOKEN_FILE);
            match std::fs::read_to_string(&file) {
                Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
                Ok(_) => config.token.clone(),
                Err(e) => return Err(format!("Error loading token file {file} : {e}")),
            }
        } else {
            env(vars::TOKEN)
        };
        let or_env = |value: &str, key: &str| {
            if value.is_empty() {
                env(key)
            } else {
                value.to_owned()
            }
        };
        let mut services = Vec::new();
        for service in &config.services {
            if !services.contains(service) {
                services.push(service.clone());
            }
        }
        Ok(Self {
            name: format!("consul_sd_configs[{n}]"),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.client_settings()?, config.refresh_interval.std())?,
            base,
            token,
            datacenter: config.datacenter.clone(),
            namespace: or_env(&config.namespace, vars::NAMESPACE),
            partition: or_env(&config.partition, vars::PARTITION),
            tag_separator: config.tag_separator.clone(),
            allow_stale: config.allow_stale,
            services,
            tags: config.tags.clone(),
            node_meta: config.node_meta.clone(),
            agent_datacenter: Mutex::new(None),
        })
    }

    /// The URL of `path` under the server, with the parameters every request carries (the
    /// configured datacenter, namespace and partition) and, for a catalog or health
    /// query, its options: node metadata, `stale`, `tags` and `wait`. Keys are sorted, as
    /// Go writes them.
    fn url(&self, path: &[&str], query: Option<&[String]>) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| format!("{}: {e}", self.base))?;
        url.path_segments_mut()
            .map_err(|()| format!("{} cannot have a path", self.base))?
            .pop_if_empty()
            .extend(path);
        {
            let mut pairs = url.query_pairs_mut();
            if !self.datacenter.is_empty() {
                pairs.append_pair("dc", &self.datacenter);
            }
            if query.is_some() {
                for (key, value) in &self.node_meta {
                    pairs.append_pair("node-meta", &format!("{key}:{value}"));
                }
            }
            if !self.namespace.is_empty() {
                pairs.append_pair("ns", &self.namespace);
            }
            if !self.partition.is_empty() {
                pairs.append_pair("partition", &self.partition);
            }
            if let Some(tags) = query {
                if self.allow_stale {
                    pairs.append_pair("stale", "");
                }
                for tag in tags {
                    pairs.append_pair("tag", tag);
                }
                pairs.append_pair("wait", WAIT);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// A GET of `url`, with the token.
    async fn get<T: serde::de::DeserializeOwned>(&self, url: &reqwest::Url) -> Result<T, String> {
        let mut request = self.client.get(url.as_str()).await?;
        if !self.token.is_empty() {
            request = request.header("X-Consul-Token", &self.token);
        }
        get_json(request, url.as_str()).await
    }

    /// The datacenter the targets are labelled with: the configured one, or the agent's.
    async fn datacenter(&self) -> Result<String, String> {
        if !self.datacenter.is_empty() {
            return Ok(self.datacenter.clone());
        }
        if let Some(dc) = lock(&self.agent_datacenter).clone() {
            return Ok(dc);
        }
        let url = self.url(&["v1", "agent", "self"], None)?;
        let info: serde_json::Value = self.get(&url).await?;
        let dc = match &info["Config"]["Datacenter"] {
            serde_json::Value::String(dc) => dc.clone(),
            serde_json::Value::Null => {
                return Err(format!(
                    "{url}: invalid value '<nil>' for Config.Datacenter"
                ));
            }
            other => {
                return Err(format!(
                    "{url}: invalid value '{other}' for Config.Datacenter"
                ));
            }
        };
        *lock(&self.agent_datacenter) = Some(dc.clone());
        Ok(dc)
    }

    /// The services to ask for: those listed, or the catalog's that have the tags.
    async fn service_names(&self) -> Result<Vec<String>, String> {
        if !self.services.is_empty() && self.tags.is_empty() {
            return Ok(self.services.clone());
        }
        let url = self.url(&["v1", "catalog", "services"], Some(&[]))?;
        let catalog: BTreeMap<String, Nullable<Vec<String>>> = self.get(&url).await?;
        Ok(catalog
            .into_iter()
            .filter(|(name, tags)| self.should_watch(name, tags))
            .map(|(name, _)| name)
            .collect())
    }

    /// Whether the service `name`, whose instances have `tags` between them, is one to
    /// ask for: listed (or none listed) and with every configured tag.
    fn should_watch(&self, name: &str, tags: &[String]) -> bool {
        (self.services.is_empty() || self.services.iter().any(|s| s == name))
            && self.tags.iter().all(|t| tags.contains(t))
    }

    /// The targets of the service `name`: one per instance the health endpoint lists.
    async fn service(&self, name: &str, dc: &str) -> Result<Vec<StaticConfig>, String> {
        let url = self.url(&["v1", "health", "service", name], Some(&self.tags))?;
        let entries: Vec<ServiceEntry> = self.get(&url).await?;
        Ok(entries
            .iter()
            .map(|entry| self.target(name, dc, entry))
            .collect())
    }

    /// One instance as a target, labelled as Prometheus labels it: the service name and
    /// datacenter (Prometheus's group labels) with the instance's own.
    fn target(&self, name: &str, dc: &str, entry: &ServiceEntry) -> StaticConfig {
        let (node, service) = (&*entry.node, &*entry.service);
        let sep = &self.tag_separator;
        // The separator on both ends too, so that a relabelling regex need not care where
        // in the list a tag is.
        let tags = format!("{sep}{}{sep}", service.tags.join(sep.as_str()));
        // The service's address if it has one: it may be registered for another host.
        let host = if service.address.is_empty() {
            &node.address
        } else {
            &service.address
        };
        let mut labels: BTreeMap<String, String> = [
            ("service", name.to_owned()),
            ("dc", dc.to_owned()),
            ("address", node.address.0.clone()),
            ("node", node.node.0.clone()),
            ("namespace", service.namespace.0.clone()),
            ("partition", service.partition.0.clone()),
            ("tags", tags),
            ("service_address", service.address.0.clone()),
            ("service_port", service.port.to_string()),
            ("service_id", service.id.0.clone()),
            ("health", aggregated_status(&entry.checks)),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{PREFIX}{k}"), v))
        .collect();
        for (prefix, map) in [
            ("metadata_", &node.meta),
            ("service_metadata_", &service.meta),
            ("tagged_address_", &node.tagged_addresses),
        ] {
            for (key, value) in map.iter() {
                labels.insert(
                    format!("{PREFIX}{prefix}{}", super::sanitize_label_name(key)),
                    value.clone(),
                );
            }
        }
        target(join_host_port(host, service.port), labels)
    }
}

impl Provider for Consul {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let dc = self.datacenter().await?;
            let names = self.service_names().await?;
            let dc = dc.as_str();
            let requests: Vec<_> = names.iter().map(|name| self.service(name, dc)).collect();
            let answers: Vec<_> = futures_util::stream::iter(requests)
                .buffered(CONCURRENT_REQUESTS)
                .collect()
                .await;
            let mut out = Vec::new();
            for answer in answers {
                out.extend(answer?);
            }
            Ok(out)
        })
    }
}

/// The one status Consul's Go client gives an instance's checks, the worst of them:
/// `maintenance` if a node or service maintenance check is among them, then `critical`,
/// `warning`, `passing` (also for no checks at all); `""` if a check has any other status.
fn aggregated_status(checks: &[Check]) -> String {
    let (mut maintenance, mut critical, mut warning) = (false, false, false);
    for check in checks {
        if check.check_id.as_str() == "_node_maintenance"
            || check.check_id.starts_with("_service_maintenance:")
        {
            maintenance = true;
            continue;
        }
        match check.status.as_str() {
            "passing" => {}
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return String::new(),
        }
    }
    match () {
        () if maintenance => "maintenance",
        () if critical => "critical",
        () if warning => "warning",
        () => "passing",
    }
    .into()
}

/// `s` read as Go's `strconv.ParseBool` reads it, false if it is not a boolean.
fn go_bool(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// One instance in `GET /v1/health/service/<name>`.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ServiceEntry {
    node: Nullable<Node>,
    service: Nullable<AgentService>,
    checks: Nullable<Vec<Check>>,
}

/// The fields of a node that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Node {
    node: Nullable<String>,
    address: Nullable<String>,
    tagged_addresses: Nullable<BTreeMap<String, String>>,
    meta: Nullable<BTreeMap<String, String>>,
}

/// The fields of a service instance that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct AgentService {
    #[serde(rename = "ID")]
    id: Nullable<String>,
    tags: Nullable<Vec<String>>,
    address: Nullable<String>,
    meta: Nullable<BTreeMap<String, String>>,
    port: i64,
    namespace: Nullable<String>,
    partition: Nullable<String>,
}

/// A check of an instance or its node.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Check {
    #[serde(rename = "CheckID")]
    check_id: Nullable<String>,
    status: Nullable<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Uri};
    use serde_json::json;

    use super::super::testing::{config_error, fake_api, group};
    use super::*;

    /// A fake Consul agent: answers each path from `answers` (404 for others) and logs
    /// every request as `path?query token=... auth=...`.
    struct Fake {
        base: String,
        log: Arc<Mutex<Vec<String>>>,
        answers: Arc<Mutex<HashMap<String, (u16, String)>>>,
    }

    impl Fake {
        async fn new(answers: &[(&str, serde_json::Value)]) -> Self {
            let log = Arc::new(Mutex::new(Vec::new()));
            let answers = Arc::new(Mutex::new(
                answers
                    .iter()
                    .map(|(path, body)| ((*path).to_owned(), (200, body.to_string())))
                    .collect::<HashMap<_, _>>(),
            ));
            let (logged, answering) = (log.clone(), answers.clone());
            let base = fake_api(axum::Router::new().fallback(
                move |uri: Uri, headers: HeaderMap| {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map_or("-", |v| v.to_str().unwrap())
                            .to_owned()
                    };
                    logged.lock().unwrap().push(format!(
                        "{} token={} auth={}",
                        uri.path_and_query().unwrap(),
                        header("x-consul-token"),
                        header("authorization"),
                    ));
                    let (status, body) = answering
                        .lock()
                        .unwrap()
                        .get(uri.path())
                        .cloned()
                        .unwrap_or((404, format!("no fake for {}", uri.path())));
                    async move {
                        (
                            axum::http::StatusCode::from_u16(status).unwrap(),
                            [
                                ("content-type", "application/json"),
                                ("x-consul-index", "7"),
                            ],
                            body,
                        )
                    }
                },
            ))
            .await;
            Self { base, log, answers }
        }

        /// The requests since the last call, sorted (services are asked for at once).
        fn requests(&self) -> Vec<String> {
            let mut log = std::mem::take(&mut *self.log.lock().unwrap());
            log.sort();
            log
        }

        /// A discoverer of the fake at `server` (`{base}`, its URL, or `{host}`, its
        /// `host:port`, and what follows), with
        /// the rest of the section in `yaml`, reading no environment.
        fn discoverer(&self, server: &str, yaml: &str) -> Consul {
            let server = server
                .replace("{base}", &self.base)
                .replace("{host}", self.base.trim_start_matches("http://"));
            let config = config(&format!("server: {server}\n{yaml}"));
            Consul::with_env(0, &config, &|_| None).unwrap()
        }

        fn answer(&self, path: &str, status: u16, body: &str) {
            self.answers
                .lock()
                .unwrap()
                .insert(path.to_owned(), (status, body.to_owned()));
        }
    }

    fn config(yaml: &str) -> ConsulSdConfig {
        let config: ConsulSdConfig = yaml::from_str(yaml).unwrap();
        config.validate().unwrap();
        config
    }

    /// Two instances of `web`, as Consul's health endpoint lists them: one registered
    /// with its own address, metadata and checks, one with the node's address and
    /// nothing optional.
    fn web_instances() -> serde_json::Value {
        json!([
            {
                "Node": {
                    "ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": "node-1",
                    "Address": "10.1.10.12", "Datacenter": "dc1",
                    "TaggedAddresses": {"lan": "10.1.10.12", "lan_ipv4": "10.1.10.12", "wan": "198.51.100.7"},
                    "Meta": {"rack-name": "2304", "consul-network-segment": ""},
                    "CreateIndex": 13, "ModifyIndex": 14
                },
                "Service": {
                    "ID": "web-1", "Service": "web", "Tags": ["prod", "v1"],
                    "Address": "10.1.10.20",
                    "TaggedAddresses": {"lan_ipv4": {"Address": "10.1.10.20", "Port": 8080}},
                    "Meta": {"version": "1.0.0", "team.name": "infra"},
                    "Port": 8080, "Weights": {"Passing": 10, "Warning": 1},
                    "EnableTagOverride": false, "Namespace": "default", "Partition": "default",
                    "CreateIndex": 15, "ModifyIndex": 15
                },
                "Checks": [
                    {"Node": "node-1", "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing", "ServiceID": ""},
                    {"Node": "node-1", "CheckID": "service:web-1", "Name": "HTTP", "Status": "warning", "ServiceID": "web-1"}
                ]
            },
            {
                "Node": {"ID": "", "Node": "node-2", "Address": "2001:db8::2", "Datacenter": "dc1", "TaggedAddresses": null, "Meta": null},
                "Service": {"ID": "web-2", "Service": "web", "Tags": null, "Address": "", "Meta": null, "Port": 9090},
                "Checks": [
                    {"Node": "node-2", "CheckID": "serfHealth", "Status": "critical"},
                    {"Node": "node-2", "CheckID": "_service_maintenance:web-2", "Status": "critical"}
                ]
            }
        ])
    }

    /// The labels of `web_instances`' targets, `dc` and the tag list as given.
    fn web_targets(dc: &str, tags: &str, sep: &str) -> Vec<StaticConfig> {
        let empty_tags = format!("{sep}{sep}");
        vec![
            group(
                "10.1.10.20:8080",
                &[
                    ("__meta_consul_address", "10.1.10.12"),
                    ("__meta_consul_dc", dc),
                    ("__meta_consul_health", "warning"),
                    ("__meta_consul_metadata_consul_network_segment", ""),
                    ("__meta_consul_metadata_rack_name", "2304"),
                    ("__meta_consul_namespace", "default"),
                    ("__meta_consul_node", "node-1"),
                    ("__meta_consul_partition", "default"),
                    ("__meta_consul_service", "web"),
                    ("__meta_consul_service_address", "10.1.10.20"),
                    ("__meta_consul_service_id", "web-1"),
                    ("__meta_consul_service_metadata_team_name", "infra"),
                    ("__meta_consul_service_metadata_version", "1.0.0"),
                    ("__meta_consul_service_port", "8080"),
                    ("__meta_consul_tagged_address_lan", "10.1.10.12"),
                    ("__meta_consul_tagged_address_lan_ipv4", "10.1.10.12"),
                    ("__meta_consul_tagged_address_wan", "198.51.100.7"),
                    ("__meta_consul_tags", tags),
                ],
            ),
            group(
                "[2001:db8::2]:9090",
                &[
                    ("__meta_consul_address", "2001:db8::2"),
                    ("__meta_consul_dc", dc),
                    ("__meta_consul_health", "maintenance"),
                    ("__meta_consul_namespace", ""),
                    ("__meta_consul_node", "node-2"),
                    ("__meta_consul_partition", ""),
                    ("__meta_consul_service", "web"),
                    ("__meta_consul_service_address", ""),
                    ("__meta_consul_service_id", "web-2"),
                    ("__meta_consul_service_port", "9090"),
                    ("__meta_consul_tags", &empty_tags),
                ],
            ),
        ]
    }

    #[tokio::test]
    async fn every_service_of_the_catalog_is_labelled_as_prometheus_labels_it() {
        let fake = Fake::new(&[
            (
                "/v1/agent/self",
                json!({"Config": {"Datacenter": "test-dc", "NodeName": "agent-1", "Server": true}, "Member": {}}),
            ),
            (
                "/v1/catalog/services",
                json!({"web": ["prod", "v1"], "db": ["primary"], "consul": []}),
            ),
            ("/v1/health/service/web", web_instances()),
            (
                "/v1/health/service/db",
                json!([{
                    "Node": {"Node": "node-3", "Address": "10.1.10.13", "TaggedAddresses": {}, "Meta": {}},
                    "Service": {"ID": "db", "Service": "db", "Tags": ["primary"], "Address": "", "Meta": {}, "Port": 5432},
                    "Checks": []
                }]),
            ),
            ("/v1/health/service/consul", json!([])),
        ])
        .await;
        let sd = fake.discoverer(
            "{host}",
            "token: fake-token\nnode_meta:\n  rack_name: '2304'\n",
        );
        assert_eq!(sd.name(), "consul_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(30));
        let mut expected = vec![group(
            "10.1.10.13:5432",
            &[
                ("__meta_consul_address", "10.1.10.13"),
                ("__meta_consul_dc", "test-dc"),
                ("__meta_consul_health", "passing"),
                ("__meta_consul_namespace", ""),
                ("__meta_consul_node", "node-3"),
                ("__meta_consul_partition", ""),
                ("__meta_consul_service", "db"),
                ("__meta_consul_service_address", ""),
                ("__meta_consul_service_id", "db"),
                ("__meta_consul_service_port", "5432"),
                ("__meta_consul_tags", ",primary,"),
            ],
        )];
        expected.extend(web_targets("test-dc", ",prod,v1,", ","));
        assert_eq!(sd.refresh().await.unwrap(), expected);
        let query = "node-meta=rack_name%3A2304&stale=&wait=120000ms token=fake-token auth=-";
        assert_eq!(
            fake.requests(),
            [
                "/v1/agent/self token=fake-token auth=-".to_owned(),
                format!("/v1/catalog/services?{query}"),
                format!("/v1/health/service/consul?{query}"),
                format!("/v1/health/service/db?{query}"),
                format!("/v1/health/service/web?{query}"),
            ]
        );

        // The agent's datacenter is asked for once; a service gone is gone.
        fake.answer("/v1/catalog/services", 200, r#"{"web": ["prod"]}"#);
        assert_eq!(
            sd.refresh().await.unwrap(),
            web_targets("test-dc", ",prod,v1,", ",")
        );
        assert_eq!(fake.requests().len(), 2);

        // A failing catalog fails the refresh, naming the URL; the manager keeps the
        // targets given last.
        fake.answer("/v1/catalog/services", 500, "rpc error: No cluster leader");
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.contains(&format!("{}/v1/catalog/services?", fake.base))
                && e.contains("500")
                && e.contains("No cluster leader"),
            "{e}"
        );
        fake.answer("/v1/catalog/services", 200, r#"{"web": ["prod"]}"#);
        fake.answer("/v1/health/service/web", 200, "[{\"Node\": ");
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("/v1/health/service/web?"), "{e}");
    }

    #[tokio::test]
    async fn listed_services_with_tags_are_filtered_from_the_catalog() {
        let fake = Fake::new(&[
            (
                "/v1/catalog/services",
                json!({"web": ["prod", "v1", "canary"], "db": ["prod"], "api": ["prod", "v1"]}),
            ),
            ("/v1/health/service/web", web_instances()),
        ])
        .await;
        let sd = fake.discoverer(
            "{base}",
            "datacenter: dc2\nnamespace: team-a\npartition: part-1\nallow_stale: false\n\
             tag_separator: '|'\nservices: [web, db]\ntags: [prod, v1]\nusername: consul\npassword: s3cret\n",
        );
        assert_eq!(
            sd.refresh().await.unwrap(),
            web_targets("dc2", "|prod|v1|", "|")
        );
        let options = "dc=dc2&ns=team-a&partition=part-1";
        let auth = "token=- auth=Basic Y29uc3VsOnMzY3JldA==";
        assert_eq!(
            fake.requests(),
            [
                format!("/v1/catalog/services?{options}&wait=120000ms {auth}"),
                format!("/v1/health/service/web?{options}&tag=prod&tag=v1&wait=120000ms {auth}"),
            ]
        );
    }

    #[tokio::test]
    async fn listed_services_are_asked_for_directly_under_the_servers_path_prefix() {
        let fake = Fake::new(&[
            (
                "/consul/v1/agent/self",
                json!({"Config": {"Datacenter": "eu-1"}}),
            ),
            ("/consul/v1/health/service/web", web_instances()),
            ("/consul/v1/health/service/db", json!([])),
        ])
        .await;
        let sd = fake.discoverer(
            "{base}/consul/",
            "services: [web, db, web]\nauthorization:\n  credentials: gateway-token\n",
        );
        assert_eq!(
            sd.refresh().await.unwrap(),
            web_targets("eu-1", ",prod,v1,", ",")
        );
        let tail = "stale=&wait=120000ms token=- auth=Bearer gateway-token";
        assert_eq!(
            fake.requests(),
            [
                "/consul/v1/agent/self token=- auth=Bearer gateway-token".to_owned(),
                format!("/consul/v1/health/service/db?{tail}"),
                format!("/consul/v1/health/service/web?{tail}"),
            ]
        );
        fake.answer("/consul/v1/health/service/db", 503, "");
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.contains("/consul/v1/health/service/db?") && e.contains("503"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_agent_without_a_datacenter_is_an_error() {
        let fake =
            Fake::new(&[("/v1/agent/self", json!({"Config": {"NotDatacenter": "x"}}))]).await;
        let sd = fake.discoverer("{base}", "");
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.ends_with("/v1/agent/self: invalid value '<nil>' for Config.Datacenter"),
            "{e}"
        );
        fake.answer("/v1/agent/self", 500, "");
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("/v1/agent/self") && e.contains("500"), "{e}");
    }

    #[test]
    fn the_client_reads_the_environment_as_consuls_go_client_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "file-token\n").unwrap();
        let file = file.to_string_lossy().into_owned();
        // The section, and the environment as `KEY=value` lines.
        let made = |yaml: &str, vars: &[&str]| {
            let vars: Vec<(&str, &str)> = vars.iter().filter_map(|v| v.split_once('=')).collect();
            let lookup = |key: &str| {
                vars.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            };
            Consul::with_env(0, &config(yaml), &lookup)
                .map(|sd| (sd.base, sd.token, sd.namespace, sd.partition))
        };
        let env = [
            "CONSUL_HTTP_TOKEN=env-token",
            "CONSUL_NAMESPACE=env-ns",
            "CONSUL_PARTITION=env-part",
        ];
        let own = |base: &str, token: &str, ns: &str, part: &str| {
            (
                base.to_owned(),
                token.to_owned(),
                ns.to_owned(),
                part.to_owned(),
            )
        };
        assert_eq!(
            made("{}", &env).unwrap(),
            own("http://localhost:8500", "env-token", "env-ns", "env-part")
        );
        assert_eq!(
            made("token: mine\nnamespace: ns\npartition: p\n", &env).unwrap(),
            own("http://localhost:8500", "mine", "ns", "p")
        );
        // The token file wins over the token of the environment, not over the section's.
        let token_file = format!("CONSUL_HTTP_TOKEN_FILE={file}");
        let with_file = ["CONSUL_HTTP_TOKEN=env-token", token_file.as_str()];
        assert_eq!(made("{}", &with_file).unwrap().1, "file-token");
        assert_eq!(made("token: mine\n", &with_file).unwrap().1, "mine");
        let e = made("{}", &["CONSUL_HTTP_TOKEN_FILE=/nonexistent/consul-token"]).unwrap_err();
        assert!(
            e.starts_with("Error loading token file /nonexistent/consul-token : "),
            "{e}"
        );
        // An https server, by the server's scheme, the section's or the environment's.
        assert_eq!(
            made("server: https://consul.example.com:8501\n", &[])
                .unwrap()
                .0,
            "https://consul.example.com:8501"
        );
        assert_eq!(
            made("scheme: https\nserver: http://c:8500\n", &[])
                .unwrap()
                .0,
            "https://c:8500"
        );
        assert_eq!(
            made("scheme: ''\n", &["CONSUL_HTTP_SSL=true"]).unwrap().0,
            "https://localhost:8500"
        );
        for (server, error) in [
            ("ftp://c:8500", "Unknown protocol scheme: ftp"),
            ("unix:///run/consul.sock", "unix socket"),
        ] {
            let e = made(&format!("server: {server}\n"), &[]).unwrap_err();
            assert!(e.contains(error), "{e}");
        }
    }

    #[test]
    fn checks_aggregate_to_the_worst_status() {
        let checks = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(id, status)| Check {
                    check_id: Nullable((*id).to_owned()),
                    status: Nullable((*status).to_owned()),
                })
                .collect::<Vec<_>>()
        };
        for (list, expected) in [
            (&[][..], "passing"),
            (&[("a", "passing")][..], "passing"),
            (&[("a", "passing"), ("b", "warning")][..], "warning"),
            (&[("a", "critical"), ("b", "warning")][..], "critical"),
            (
                &[("_node_maintenance", "critical"), ("b", "passing")][..],
                "maintenance",
            ),
            (
                &[("a", "critical"), ("_service_maintenance:web", "x")][..],
                "maintenance",
            ),
            (&[("a", "passing"), ("b", "unknown")][..], ""),
        ] {
            assert_eq!(aggregated_status(&checks(list)), expected, "{list:?}");
        }
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: consul\n    consul_sd_configs:\n      - {}\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.consul_sd_configs[0];
        assert_eq!(sd.server, "localhost:8500");
        assert_eq!(
            (sd.scheme.as_str(), sd.tag_separator.as_str()),
            ("http", ",")
        );
        assert!(sd.allow_stale);
        assert_eq!(sd.refresh_interval, Duration(30_000));
        assert!(sd.services.is_empty() && sd.tags.is_empty() && sd.node_meta.is_empty());
        assert!(sd.token.is_empty() && sd.datacenter.is_empty());
        assert!(c.scrape_configs[0].discovery.is_dynamic());

        // The example of Prometheus's documentation: a job per section of services.
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: consul\n    consul_sd_configs:\n      - server: 'consul.service.consul:8500'\n        services: ['nginx', 'cache', 'mysql']\n        tags: ['canary']\n        node_meta:\n          rack: '123'\n        allow_stale: false\n        refresh_interval: 1m\n    relabel_configs:\n      - source_labels: [__meta_consul_tags]\n        regex: '.*,prod,.*'\n        action: keep\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.consul_sd_configs[0];
        assert_eq!(sd.services, ["nginx", "cache", "mysql"]);
        assert_eq!(sd.node_meta["rack"], "123");
        assert_eq!(sd.refresh_interval, Duration(60_000));
        assert!(!sd.allow_stale);
    }

    #[test]
    fn what_prometheus_refuses_is_refused() {
        let check = |section: &str, expected: &str| {
            let e = config_error("consul_sd_configs", section);
            assert!(e.contains(expected), "{section}: {e}");
        };
        check(
            "server: ' '",
            "consul_sd_configs[0]: consul SD configuration requires a server address",
        );
        check(
            "{username: u, basic_auth: {username: v}}",
            "consul_sd_configs[0]: at most one of consul SD configuration username and password and basic auth can be configured",
        );
        check(
            "{token: t, authorization: {credentials: c}}",
            "consul_sd_configs[0]: at most one of consul SD token, authorization, or oauth2 can be configured",
        );
        check(
            "{password: p, bearer_token: b}",
            "consul_sd_configs[0]: basic_auth and bearer_token are both set",
        );
        // A key of a later Prometheus is unknown to 2.42.
        check("{path_prefix: /consul}", "unknown field `path_prefix`");
        // As 2.42: a token beside a bearer token is allowed, both headers sent.
        crate::Config::parse(
            "scrape_configs:\n  - job_name: consul\n    consul_sd_configs:\n      - {token: t, bearer_token: b}\n",
            "p.yml",
        )
        .unwrap();
    }
}
