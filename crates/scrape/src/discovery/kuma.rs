//! `kuma_sd_configs`: the dataplane proxies of Kuma's meshes, as Prometheus's Kuma
//! discovery finds them through the control plane's Monitoring Assignment Discovery
//! Service (MADS v1), an xDS API.
//!
//! Prometheus's xDS client uses xDS's REST-JSON form: it POSTs a `DiscoveryRequest`,
//! written as protobuf's JSON mapping with the fields' proto names, to
//! `<server>/v3/discovery:monitoringassignments?fetch-timeout=<fetch_timeout>`, and reads
//! a `DiscoveryResponse` in the same JSON whose resources are `MonitoringAssignment`s (an
//! `Any` in JSON carries its type in `@type` beside the message's fields). No protobuf
//! bytes travel, so these messages are declared here as the JSON they are read from.
//!
//! Prometheus sends back the `version_info` and `nonce` of the last answer, so that the
//! control plane holds the request up to `fetch_timeout` until the assignments change,
//! and answers 304 if they did not. Skywatch sends Prometheus's first request at every
//! refresh instead, with neither, so that the control plane answers at once with every
//! assignment: a discovery section's providers are refreshed one after the other, and a
//! request held for two minutes would hold back the others. A 304 keeps the targets given
//! last, as Prometheus keeps them.
//!
//! The node id Prometheus sends is its host's fully qualified name (found by looking its
//! addresses up), or `prometheus` if it has no host name; Skywatch sends the host name as
//! the kernel gives it, or `prometheus`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{ApiClient, Nullable, Provider, Refresh, lock, sanitize_label_name, target};
use crate::config::{Duration, StaticConfig, http_client};

/// The type of the resources MADS v1 serves.
const MADS_V1_TYPE_URL: &str = "type.googleapis.com/kuma.observability.v1.MonitoringAssignment";
/// The last path element of the MADS v1 endpoint, after `discovery:`.
const MADS_V1_RESOURCE_TYPE: &str = "monitoringassignments";
/// How long beyond `fetch_timeout` a request may take, as Prometheus allows for the
/// connection.
const TIMEOUT_MARGIN: StdDuration = StdDuration::from_secs(15);
const PREFIX: &str = "__meta_kuma_";

http_client! {
    /// `kuma_sd_configs`: the dataplane proxies of a Kuma control plane's meshes.
    pub struct KumaSdConfig {
        /// The control plane's MADS server, an `http` or `https` URL; required.
        #[serde(default)]
        pub server: String,
        /// How often to ask again (default 15s).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
        /// How long the control plane may hold a request (default 2m).
        #[serde(default = "default_fetch_timeout")]
        pub fetch_timeout: Duration,
    }
}

fn default_refresh_interval() -> Duration {
    Duration(15_000)
}

fn default_fetch_timeout() -> Duration {
    Duration(120_000)
}

impl KumaSdConfig {
    /// Checks the section as Prometheus does, with Prometheus's errors: a server URL with
    /// a scheme and a host.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("kuma SD server must not be empty: ".into());
        }
        let no_scheme = || {
            format!(
                "kuma SD server must not be empty and have a scheme: {}",
                self.server
            )
        };
        match reqwest::Url::parse(&self.server) {
            Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => return Err(no_scheme()),
            // A URL with a scheme and a host that cannot be read (a bad port).
            Err(e) if self.server.contains("://") && !self.server.ends_with("://") => {
                return Err(format!("parse {:?}: {e}", self.server));
            }
            Err(_) => return Err(no_scheme()),
        }
        self.http.check()
    }
}

/// A Kuma discoverer.
pub(super) struct Kuma {
    name: String,
    interval: StdDuration,
    client: ApiClient,
    endpoint: String,
    client_id: String,
    /// The targets given last, kept when the control plane says nothing changed.
    last: Mutex<Vec<StaticConfig>>,
}

impl Kuma {
    pub(super) fn new(n: usize, config: &KumaSdConfig) -> Result<Self, String> {
        Self::with_client_id(n, config, &host_name())
    }

    /// A discoverer that names itself `client_id` to the control plane.
    pub(crate) fn with_client_id(
        n: usize,
        config: &KumaSdConfig,
        client_id: &str,
    ) -> Result<Self, String> {
        let mut client = ApiClient::new(&config.http, config.refresh_interval.std())?;
        // The control plane may hold a request for `fetch_timeout`.
        client.timeout = config.fetch_timeout.std() + TIMEOUT_MARGIN;
        Ok(Self {
            name: format!("kuma_sd_configs[{n}]"),
            interval: config.refresh_interval.std(),
            client,
            endpoint: endpoint(&config.server, config.fetch_timeout)?,
            client_id: client_id.to_owned(),
            last: Mutex::new(Vec::new()),
        })
    }

    /// Every monitoring assignment's targets, or `None` if nothing changed.
    async fn fetch(&self) -> Result<Option<Vec<StaticConfig>>, String> {
        let url = &self.endpoint;
        let request = DiscoveryRequest {
            node: NodeId {
                id: &self.client_id,
            },
            type_url: MADS_V1_TYPE_URL,
        };
        let response = self
            .client
            .post(url)
            .await?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(serde_json::to_vec(&request).map_err(|e| format!("{url}: {e}"))?)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        match response.status().as_u16() {
            304 => return Ok(None),
            200 => {}
            status => {
                return Err(format!(
                    "{url}: non 200 status '{status}' response during xDS fetch"
                ));
            }
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        let answer: DiscoveryResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: line {}, column {}: {e}", e.line(), e.column()))?;
        if let Some(other) = answer
            .resources
            .iter()
            .find(|r| r.kind.as_str() != MADS_V1_TYPE_URL)
        {
            return Err(format!(
                "{url}: unable to resolve {:?}: a resource is not a MonitoringAssignment",
                other.kind.0
            ));
        }
        if answer.type_url.as_str() != MADS_V1_TYPE_URL {
            return Err(format!(
                "{url}: received invalid typeURL for Kuma MADS v1 Resource: {}",
                answer.type_url.0
            ));
        }
        Ok(Some(
            answer
                .resources
                .iter()
                .flat_map(|r| targets(&r.assignment))
                .collect(),
        ))
    }
}

impl Provider for Kuma {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            match self.fetch().await? {
                Some(targets) => {
                    *lock(&self.last) = targets.clone();
                    Ok(targets)
                }
                None => Ok(lock(&self.last).clone()),
            }
        })
    }
}

/// The MADS endpoint under `server`: its path joined with `v3/discovery:...` as Go's
/// `path.Join` joins them, and `fetch-timeout` as the only query parameter.
fn endpoint(server: &str, fetch_timeout: Duration) -> Result<String, String> {
    let mut url = reqwest::Url::parse(server).map_err(|e| format!("parse {server:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(
            "kuma_sd: invalid xDS server URL protocol. must be either 'http' or 'https'".into(),
        );
    }
    let mut path: Vec<&str> = Vec::new();
    let server_path = url.path().to_owned();
    let resource = format!("discovery:{MADS_V1_RESOURCE_TYPE}");
    for segment in server_path.split('/').chain(["v3", &resource]) {
        match segment {
            "" | "." => {}
            ".." => {
                path.pop();
            }
            segment => path.push(segment),
        }
    }
    let joined = format!("/{}", path.join("/"));
    url.set_path(&joined);
    url.set_fragment(None);
    url.query_pairs_mut()
        .clear()
        .append_pair("fetch-timeout", &fetch_timeout.to_string());
    Ok(url.into())
}

/// The host's name, as the kernel gives it, or `prometheus` as Prometheus names itself
/// when it has none.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "prometheus".into())
}

/// The targets of one monitoring assignment, labelled as Prometheus labels them: the
/// assignment's labels win over a target's own, and the target's name is its instance.
fn targets(assignment: &MonitoringAssignment) -> Vec<StaticConfig> {
    let user_labels = |labels: &BTreeMap<String, String>| {
        labels
            .iter()
            .map(|(k, v)| {
                (
                    format!("{PREFIX}label_{}", sanitize_label_name(k)),
                    v.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let common = user_labels(&assignment.labels);
    assignment
        .targets
        .iter()
        .map(|t| {
            let mut labels: BTreeMap<String, String> = user_labels(&t.labels)
                .into_iter()
                .chain(common.iter().cloned())
                .collect();
            for (name, value) in [
                ("__meta_kuma_mesh", &assignment.mesh),
                ("__meta_kuma_service", &assignment.service),
                ("__meta_kuma_dataplane", &t.name),
                ("instance", &t.name),
                ("__scheme__", &t.scheme),
                ("__metrics_path__", &t.metrics_path),
            ] {
                labels.insert(name.to_owned(), value.0.clone());
            }
            target(t.address.0.clone(), labels)
        })
        .collect()
}

/// The `DiscoveryRequest` Prometheus sends first: its node's id and the resource type,
/// fields left empty being left out as protobuf's JSON mapping leaves them out.
#[derive(serde::Serialize)]
struct DiscoveryRequest<'a> {
    node: NodeId<'a>,
    type_url: &'a str,
}

#[derive(serde::Serialize)]
struct NodeId<'a> {
    id: &'a str,
}

/// The fields of a `DiscoveryResponse` that are read. Protobuf's JSON mapping accepts a
/// field's proto name and its lowerCamelCase name alike.
#[derive(Default, Deserialize)]
#[serde(default)]
struct DiscoveryResponse {
    resources: Nullable<Vec<Resource>>,
    #[serde(alias = "typeUrl")]
    type_url: Nullable<String>,
}

/// A resource: an `Any`, its type in `@type` and the message's fields beside it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Resource {
    #[serde(rename = "@type")]
    kind: Nullable<String>,
    #[serde(flatten)]
    assignment: MonitoringAssignment,
}

/// `kuma.observability.v1.MonitoringAssignment`: a service of a mesh and its targets.
#[derive(Default, Deserialize)]
#[serde(default)]
struct MonitoringAssignment {
    mesh: Nullable<String>,
    service: Nullable<String>,
    targets: Nullable<Vec<MadsTarget>>,
    labels: Nullable<BTreeMap<String, String>>,
}

/// `MonitoringAssignment.Target`: one dataplane proxy to scrape.
#[derive(Default, Deserialize)]
#[serde(default)]
struct MadsTarget {
    name: Nullable<String>,
    scheme: Nullable<String>,
    address: Nullable<String>,
    #[serde(alias = "metricsPath")]
    metrics_path: Nullable<String>,
    labels: Nullable<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Method, Uri};
    use serde_json::json;

    use super::super::testing::{config_error, fake_api, group};
    use super::*;

    /// The assignments of a control plane with two meshes, as Kuma writes them:
    /// protobuf's JSON with the proto field names, each resource an `Any`.
    fn assignments() -> serde_json::Value {
        json!({
            "version_info": "5c2b4f1e-ab1c-4b7e-9f77-3ad7e6c1f0a2",
            "resources": [
                {
                    "@type": MADS_V1_TYPE_URL,
                    "mesh": "metrics",
                    "service": "prometheus",
                    "targets": [
                        {
                            "name": "prometheus-01", "scheme": "http", "address": "10.1.4.32:9090",
                            "metrics_path": "/custom-metrics",
                            "labels": {"commit_hash": "620506a88", "team": "overridden"}
                        },
                        {
                            "name": "prometheus-02", "scheme": "https", "address": "10.1.4.33:9090",
                            "labels": {"commit_hash": "3513bba00"}
                        }
                    ],
                    "labels": {"kuma.io/zone": "us-east-1", "team": "infra"}
                },
                {
                    "@type": MADS_V1_TYPE_URL,
                    "mesh": "metrics",
                    "service": "grafana",
                    "targets": [],
                    "labels": {"kuma.io/zone": "us-east-1", "team": "infra"}
                },
                {
                    "@type": MADS_V1_TYPE_URL,
                    "mesh": "data",
                    "service": "elasticsearch",
                    "targets": [
                        {"name": "elasticsearch-01", "address": "10.1.1.1", "metricsPath": "/_prometheus/metrics", "labels": {"role": "ml"}}
                    ]
                }
            ],
            "type_url": MADS_V1_TYPE_URL,
            "nonce": "1"
        })
    }

    fn expected() -> Vec<StaticConfig> {
        vec![
            group(
                "10.1.4.32:9090",
                &[
                    ("__meta_kuma_dataplane", "prometheus-01"),
                    ("__meta_kuma_label_commit_hash", "620506a88"),
                    ("__meta_kuma_label_kuma_io_zone", "us-east-1"),
                    ("__meta_kuma_label_team", "infra"),
                    ("__meta_kuma_mesh", "metrics"),
                    ("__meta_kuma_service", "prometheus"),
                    ("__metrics_path__", "/custom-metrics"),
                    ("__scheme__", "http"),
                    ("instance", "prometheus-01"),
                ],
            ),
            group(
                "10.1.4.33:9090",
                &[
                    ("__meta_kuma_dataplane", "prometheus-02"),
                    ("__meta_kuma_label_commit_hash", "3513bba00"),
                    ("__meta_kuma_label_kuma_io_zone", "us-east-1"),
                    ("__meta_kuma_label_team", "infra"),
                    ("__meta_kuma_mesh", "metrics"),
                    ("__meta_kuma_service", "prometheus"),
                    ("__metrics_path__", ""),
                    ("__scheme__", "https"),
                    ("instance", "prometheus-02"),
                ],
            ),
            group(
                "10.1.1.1",
                &[
                    ("__meta_kuma_dataplane", "elasticsearch-01"),
                    ("__meta_kuma_label_role", "ml"),
                    ("__meta_kuma_mesh", "data"),
                    ("__meta_kuma_service", "elasticsearch"),
                    ("__metrics_path__", "/_prometheus/metrics"),
                    ("__scheme__", ""),
                    ("instance", "elasticsearch-01"),
                ],
            ),
        ]
    }

    #[tokio::test]
    async fn monitoring_assignments_are_labelled_as_prometheus_labels_them() {
        let answer = Arc::new(Mutex::new((200, assignments().to_string())));
        let requests = Arc::new(Mutex::new(0));
        let (answering, counting) = (answer.clone(), requests.clone());
        let base = fake_api(axum::Router::new().fallback(
            move |method: Method, uri: Uri, h: HeaderMap, body: String| {
                *counting.lock().unwrap() += 1;
                assert_eq!(method, Method::POST);
                assert_eq!(
                    uri.to_string(),
                    "/mads/v3/discovery:monitoringassignments?fetch-timeout=1m30s"
                );
                assert_eq!(h["content-type"], "application/json");
                assert_eq!(h["accept"], "application/json");
                assert_eq!(h["authorization"], "Bearer mads-token");
                // Prometheus's first request, every time.
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                    json!({"node": {"id": "test-client"}, "type_url": MADS_V1_TYPE_URL})
                );
                let (status, body) = answering.lock().unwrap().clone();
                async move {
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }
            },
        ))
        .await;
        let config: KumaSdConfig = yaml::from_str(&format!(
            "server: {base}/mads/\nfetch_timeout: 90s\nauthorization:\n  credentials: mads-token\n"
        ))
        .unwrap();
        config.validate().unwrap();
        let sd = Kuma::with_client_id(0, &config, "test-client").unwrap();
        assert_eq!(sd.name(), "kuma_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(15));
        assert_eq!(sd.refresh().await.unwrap(), expected());

        // Nothing changed: the targets given last stay.
        *answer.lock().unwrap() = (304, String::new());
        assert_eq!(sd.refresh().await.unwrap(), expected());
        assert_eq!(*requests.lock().unwrap(), 2);

        let url = format!("{base}/mads/v3/discovery:monitoringassignments?fetch-timeout=1m30s");
        for (status, body, error) in [
            (
                500,
                String::new(),
                format!("{url}: non 200 status '500' response during xDS fetch"),
            ),
            (200, "{\"resources\": [".into(), format!("{url}: line 1")),
            (
                200,
                json!({"resources": [], "type_url": "type.googleapis.com/some.api.v1.Monitoring"})
                    .to_string(),
                format!(
                    "{url}: received invalid typeURL for Kuma MADS v1 Resource: type.googleapis.com/some.api.v1.Monitoring"
                ),
            ),
            (
                200,
                json!({"resources": [{"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster"}], "type_url": MADS_V1_TYPE_URL})
                    .to_string(),
                format!("{url}: unable to resolve"),
            ),
        ] {
            *answer.lock().unwrap() = (status, body);
            let e = sd.refresh().await.unwrap_err();
            assert!(e.starts_with(&error), "{e}");
        }

        // No assignments: no targets.
        *answer.lock().unwrap() = (
            200,
            json!({"versionInfo": "2", "resources": [], "typeUrl": MADS_V1_TYPE_URL}).to_string(),
        );
        assert_eq!(sd.refresh().await.unwrap(), vec![]);
    }

    #[test]
    fn the_endpoint_is_joined_as_prometheus_joins_it() {
        for (server, timeout, expected) in [
            (
                "http://kuma-control-plane.kuma-system.svc:5676",
                120_000,
                "http://kuma-control-plane.kuma-system.svc:5676/v3/discovery:monitoringassignments?fetch-timeout=2m",
            ),
            (
                "https://cp:5676/a/b/../c/?x=1#top",
                1_500,
                "https://cp:5676/a/c/v3/discovery:monitoringassignments?fetch-timeout=1s500ms",
            ),
        ] {
            assert_eq!(endpoint(server, Duration(timeout)).unwrap(), expected);
        }
        let config: KumaSdConfig = yaml::from_str("server: ftp://cp:5676\n").unwrap();
        config.validate().unwrap();
        let e = Kuma::new(0, &config).err().unwrap();
        assert_eq!(
            e,
            "kuma_sd: invalid xDS server URL protocol. must be either 'http' or 'https'"
        );
        assert!(!host_name().is_empty());
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: kuma-dataplanes\n    kuma_sd_configs:\n      - server: http://kuma-control-plane.kuma-system.svc:5676\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.kuma_sd_configs[0];
        assert_eq!(sd.server, "http://kuma-control-plane.kuma-system.svc:5676");
        assert_eq!(
            (sd.refresh_interval, sd.fetch_timeout),
            (Duration(15_000), Duration(120_000))
        );
        assert!(c.scrape_configs[0].discovery.is_dynamic());
    }

    #[test]
    fn what_prometheus_refuses_is_refused() {
        let check = |section: &str, expected: &str| {
            let e = config_error("kuma_sd_configs", section);
            assert!(e.contains(expected), "{section}: {e}");
        };
        check(
            "{}",
            "kuma_sd_configs[0]: kuma SD server must not be empty: ",
        );
        for server in ["localhost:5676", "kuma-cp", "http://", "/v3"] {
            check(
                &format!("server: '{server}'"),
                &format!(
                    "kuma_sd_configs[0]: kuma SD server must not be empty and have a scheme: {server}"
                ),
            );
        }
        check(
            "server: 'http://cp:port'",
            "kuma_sd_configs[0]: parse \"http://cp:port\"",
        );
        check(
            "{server: 'http://cp:5676', basic_auth: {username: u}, authorization: {credentials: c}}",
            "kuma_sd_configs[0]: basic_auth and authorization are both set",
        );
        // A key of a later Prometheus is unknown to 2.42.
        check(
            "{server: 'http://cp:5676', client_id: prometheus-1}",
            "unknown field `client_id`",
        );
    }
}
