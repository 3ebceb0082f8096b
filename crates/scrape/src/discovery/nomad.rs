//! `nomad_sd_configs`: the services registered in Nomad's own service catalogue, as
//! Prometheus's Nomad discovery finds them through Nomad's Go API client: the service
//! list (`GET /v1/services`), then each service's registrations
//! (`GET /v1/service/{name}`), one target each.
//!
//! As Nomad's client builds its requests: the server address gives the scheme, host and
//! any user and password (sent as basic authentication), never a path; every request
//! carries the section's `region` and `namespace` and, with `allow_stale`, `stale`.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, target};
use crate::config::{Duration, StaticConfig, http_client};

http_client! {
    /// `nomad_sd_configs`: services registered in Nomad.
    pub struct NomadSdConfig {
        /// Let any server answer, not only the leader (default true).
        #[serde(default = "crate::config::default_true")]
        pub allow_stale: bool,
        /// The namespace to look in (default `default`).
        #[serde(default = "default_namespace")]
        pub namespace: String,
        /// How often to ask again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
        /// The region to ask about (default `global`).
        #[serde(default = "default_region")]
        pub region: String,
        /// The Nomad server's address (default `http://localhost:4646`).
        #[serde(default = "default_server")]
        pub server: Option<String>,
        /// What separates the tags in `__meta_nomad_tags`, and ends it on both sides
        /// (default `,`).
        #[serde(default = "default_tag_separator")]
        pub tag_separator: String,
    }
}

fn default_namespace() -> String {
    "default".into()
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

fn default_region() -> String {
    "global".into()
}

fn default_server() -> Option<String> {
    Some("http://localhost:4646".into())
}

fn default_tag_separator() -> String {
    ",".into()
}

impl NomadSdConfig {
    /// Checks the section as Prometheus does: a server that is not blank (an explicit
    /// null or empty one).
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.server.as_deref().unwrap_or_default().trim().is_empty() {
            return Err("nomad SD configuration requires a server address".into());
        }
        self.http.check()
    }
}

/// A Nomad discoverer.
pub(super) struct Nomad {
    name: String,
    interval: StdDuration,
    client: ApiClient,
    /// The server's address, whose scheme, host and credentials each request takes.
    server: reqwest::Url,
    /// The query every request carries.
    query: String,
    tag_separator: String,
}

impl Nomad {
    pub(super) fn new(n: usize, config: &NomadSdConfig) -> Result<Self, String> {
        let address = config.server.as_deref().unwrap_or_default();
        let server = reqwest::Url::parse(address)
            .map_err(|e| format!("invalid address '{address}': {e}"))?;
        // In the order Go's url.Values encodes them: by name.
        let mut query = Vec::new();
        if !config.namespace.is_empty() {
            query.push(format!("namespace={}", go_query_escape(&config.namespace)));
        }
        if !config.region.is_empty() {
            query.push(format!("region={}", go_query_escape(&config.region)));
        }
        if config.allow_stale {
            query.push("stale=".to_owned());
        }
        Ok(Self {
            name: format!("nomad_sd_configs[{n}]"),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            server,
            query: query.join("&"),
            tag_separator: config.tag_separator.clone(),
        })
    }

    /// A GET of the API's `segments` path; the address's credentials, if any, are sent
    /// as basic authentication, as Nomad's client sends them.
    async fn get<T: serde::de::DeserializeOwned>(&self, segments: &[&str]) -> Result<T, String> {
        let mut url = self.server.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().extend(segments);
        }
        url.set_query(Some(&self.query));
        url.set_fragment(None);
        let (request, shown) = self.client.get_as_go(url.as_str()).await?;
        get_json(request, &shown).await
    }
}

impl Provider for Nomad {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let stubs: Nullable<Vec<Nullable<Namespace>>> = self.get(&["v1", "services"]).await?;
            let mut out = Vec::new();
            for stub in stubs.iter() {
                for service in stub.services.iter() {
                    let instances: Nullable<Vec<Nullable<Registration>>> = self
                        .get(&["v1", "service", &service.service_name])
                        .await
                        .map_err(|e| format!("failed to fetch services: {e}"))?;
                    out.extend(instances.iter().map(|i| self.target(i)));
                }
            }
            Ok(out)
        })
    }
}

impl Nomad {
    fn target(&self, i: &Registration) -> StaticConfig {
        let mut labels: BTreeMap<String, String> = [
            ("address", i.address.0.clone()),
            ("dc", i.datacenter.0.clone()),
            ("node_id", i.node_id.0.clone()),
            ("namespace", i.namespace.0.clone()),
            ("service_address", i.address.0.clone()),
            ("service_id", i.id.0.clone()),
            ("service_port", i.port.to_string()),
            ("service", i.service_name.0.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("__meta_nomad_{k}"), v))
        .collect();
        if !i.tags.is_empty() {
            let sep = &self.tag_separator;
            labels.insert(
                "__meta_nomad_tags".into(),
                format!("{sep}{}{sep}", i.tags.join(sep)),
            );
        }
        target(join_host_port(&i.address, i.port), labels)
    }
}

/// `s` as Go's `url.QueryEscape` writes a query value: letters, digits and `-_.~` as they
/// are, a space as `+`, every other byte as `%XX` (so the all-namespaces `*` is `%2A`).
fn go_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A namespace's services, as `GET /v1/services` lists them.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Namespace {
    #[serde(rename = "Services")]
    services: Nullable<Vec<Nullable<ServiceStub>>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ServiceStub {
    #[serde(rename = "ServiceName")]
    service_name: Nullable<String>,
}

/// One registration of a service, as `GET /v1/service/{name}` lists them.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Registration {
    #[serde(rename = "ID")]
    id: Nullable<String>,
    #[serde(rename = "ServiceName")]
    service_name: Nullable<String>,
    #[serde(rename = "Namespace")]
    namespace: Nullable<String>,
    #[serde(rename = "NodeID")]
    node_id: Nullable<String>,
    #[serde(rename = "Datacenter")]
    datacenter: Nullable<String>,
    #[serde(rename = "Tags")]
    tags: Nullable<Vec<String>>,
    #[serde(rename = "Address")]
    address: Nullable<String>,
    #[serde(rename = "Port")]
    port: i64,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, RawQuery};
    use axum::http::HeaderMap;
    use axum::routing::get;
    use serde_json::json;

    use super::super::testing::{fake_api, group, json, section};
    use super::*;

    /// What the fake Nomad expects of each request, and which request fails: the
    /// service `list` or a `service`'s registrations.
    #[derive(Clone)]
    struct Expect {
        query: &'static str,
        authorization: &'static str,
        fail: &'static str,
    }

    /// A Nomad agent's service catalogue: two namespaces, a service with two
    /// registrations (one on IPv6), one with none, one without tags.
    async fn nomad_api(expect: Arc<Mutex<Expect>>) -> String {
        let check = move |h: &HeaderMap, q: Option<String>| {
            let e = expect.lock().unwrap().clone();
            assert_eq!(q.as_deref(), Some(e.query));
            assert_eq!(h["authorization"], e.authorization);
            e.fail
        };
        let services = {
            let check = check.clone();
            move |h: HeaderMap, RawQuery(q): RawQuery| {
                let fail = check(&h, q);
                async move {
                    if fail == "list" {
                        return json(200, json!({"not": "a list"}));
                    }
                    json(
                        200,
                        json!([
                            {"Namespace": "default", "Services": [
                                {"ServiceName": "hashicups", "Tags": ["metrics", "v1"]},
                                {"ServiceName": "redis", "Tags": []}
                            ]},
                            {"Namespace": "ops", "Services": [
                                {"ServiceName": "node exporter", "Tags": null}
                            ]}
                        ]),
                    )
                }
            }
        };
        let service = move |Path(name): Path<String>, h: HeaderMap, RawQuery(q): RawQuery| {
            let fail = check(&h, q);
            async move {
                match name.as_str() {
                    "hashicups" => json(
                        200,
                        json!([
                            {
                                "ID": "_nomad-task-6a1d5f0a-7362-3f5d-9baf-5ed438918e50-group-hashicups-hashicups-http",
                                "ServiceName": "hashicups", "Namespace": "default",
                                "NodeID": "d92fdc3c-9c2b-298a-e8f4-c33f3a449f09", "Datacenter": "dc1",
                                "JobID": "dashboard", "AllocID": "6a1d5f0a-7362-3f5d-9baf-5ed438918e50",
                                "Tags": ["metrics", "v1"], "Address": "10.0.0.4", "Port": 30456,
                                "CreateIndex": 226, "ModifyIndex": 226
                            },
                            {
                                "ID": "_nomad-task-0b8e-group-hashicups-hashicups-http",
                                "ServiceName": "hashicups", "Namespace": "default",
                                "NodeID": "5cd2b5f4-3e8a-11ee-be56-0242ac120002", "Datacenter": "dc2",
                                "JobID": "dashboard", "AllocID": "0b8e",
                                "Tags": ["metrics"], "Address": "2001:db8::5", "Port": 25112,
                                "CreateIndex": 231, "ModifyIndex": 231
                            }
                        ]),
                    ),
                    "redis" if fail == "service" => {
                        json(500, json!("rpc error: Permission denied"))
                    }
                    "redis" => json(200, json!([])),
                    "node exporter" => json(
                        200,
                        json!([{
                            "ID": "_nomad-task-77aa-group-node-node-exporter-metrics",
                            "ServiceName": "node exporter", "Namespace": "ops",
                            "NodeID": "9e4f", "Datacenter": "dc1", "JobID": "node", "AllocID": "77aa",
                            "Tags": null, "Address": "10.0.0.9", "Port": 9100,
                            "CreateIndex": 12, "ModifyIndex": 12
                        }]),
                    ),
                    other => panic!("service {other} was not listed"),
                }
            }
        };
        fake_api(
            axum::Router::new()
                .route("/v1/services", get(services))
                .route("/v1/service/{name}", get(service)),
        )
        .await
    }

    /// The targets of `hashicups`, their tags joined by `sep`.
    fn hashicups(sep: &str) -> Vec<StaticConfig> {
        let (tags, second_tags) = (
            format!("{sep}metrics{sep}v1{sep}"),
            format!("{sep}metrics{sep}"),
        );
        let mut first = vec![
            ("__meta_nomad_address", "10.0.0.4"),
            ("__meta_nomad_dc", "dc1"),
            ("__meta_nomad_namespace", "default"),
            (
                "__meta_nomad_node_id",
                "d92fdc3c-9c2b-298a-e8f4-c33f3a449f09",
            ),
            ("__meta_nomad_service", "hashicups"),
            ("__meta_nomad_service_address", "10.0.0.4"),
            (
                "__meta_nomad_service_id",
                "_nomad-task-6a1d5f0a-7362-3f5d-9baf-5ed438918e50-group-hashicups-hashicups-http",
            ),
            ("__meta_nomad_service_port", "30456"),
        ];
        first.push(("__meta_nomad_tags", &tags));
        vec![
            group("10.0.0.4:30456", &first),
            group(
                "[2001:db8::5]:25112",
                &[
                    ("__meta_nomad_address", "2001:db8::5"),
                    ("__meta_nomad_dc", "dc2"),
                    ("__meta_nomad_namespace", "default"),
                    (
                        "__meta_nomad_node_id",
                        "5cd2b5f4-3e8a-11ee-be56-0242ac120002",
                    ),
                    ("__meta_nomad_service", "hashicups"),
                    ("__meta_nomad_service_address", "2001:db8::5"),
                    (
                        "__meta_nomad_service_id",
                        "_nomad-task-0b8e-group-hashicups-hashicups-http",
                    ),
                    ("__meta_nomad_service_port", "25112"),
                    ("__meta_nomad_tags", &second_tags),
                ],
            ),
        ]
    }

    /// The targets of the whole catalogue, tags joined by `sep`.
    fn catalogue(sep: &str) -> Vec<StaticConfig> {
        let mut all = hashicups(sep);
        all.push(node_exporter());
        all
    }

    fn node_exporter() -> StaticConfig {
        group(
            "10.0.0.9:9100",
            &[
                ("__meta_nomad_address", "10.0.0.9"),
                ("__meta_nomad_dc", "dc1"),
                ("__meta_nomad_namespace", "ops"),
                ("__meta_nomad_node_id", "9e4f"),
                ("__meta_nomad_service", "node exporter"),
                ("__meta_nomad_service_address", "10.0.0.9"),
                (
                    "__meta_nomad_service_id",
                    "_nomad-task-77aa-group-node-node-exporter-metrics",
                ),
                ("__meta_nomad_service_port", "9100"),
            ],
        )
    }

    fn config(text: &str) -> NomadSdConfig {
        section(text, NomadSdConfig::validate)
    }

    #[tokio::test]
    async fn registrations_are_labelled_as_prometheus_labels_them() {
        let expect = Arc::new(Mutex::new(Expect {
            query: "namespace=default&region=global&stale=",
            authorization: "Bearer nomad-token",
            fail: "",
        }));
        let base = nomad_api(expect.clone()).await;
        let sd = Nomad::new(
            0,
            &config(&format!(
                "server: {base}\nauthorization:\n  credentials: nomad-token\n"
            )),
        )
        .unwrap();
        assert_eq!(sd.name(), "nomad_sd_configs[0]");
        assert_eq!(sd.refresh().await.unwrap(), catalogue(","));

        // A service list that is not one fails the refresh, naming the URL.
        expect.lock().unwrap().fail = "list";
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!(
                "{base}/v1/services?namespace=default&region=global&stale=: line 1"
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_section_says_what_each_request_asks_and_the_address_its_path_is_not() {
        let expect = Arc::new(Mutex::new(Expect {
            query: "namespace=%2A&region=eu+west",
            // The address's user and password, in place of the section's authorization.
            authorization: "Basic bm9tYWQ6czNjcmV0",
            fail: "",
        }));
        let base = nomad_api(expect.clone()).await;
        let with_user = base.replace("http://", "http://nomad:s3cret@");
        let sd = Nomad::new(
            1,
            &config(&format!(
                "server: {with_user}/ui/jobs\nallow_stale: false\nnamespace: '*'\nregion: eu west\ntag_separator: '|'\nauthorization:\n  credentials: unused\n"
            )),
        )
        .unwrap();
        assert_eq!(sd.refresh().await.unwrap(), catalogue("|"));

        // A registration list that fails fails the refresh, naming its URL (without
        // the password).
        expect.lock().unwrap().fail = "service";
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!(
                "failed to fetch services: {base}/v1/service/redis?namespace=%2A&region=eu+west: server returned HTTP status 500"
            )),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    nomad_sd_configs:\n      - {}\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.nomad_sd_configs[0];
        assert!(sd.allow_stale);
        assert_eq!(
            (
                sd.namespace.as_str(),
                sd.region.as_str(),
                sd.server.as_deref(),
                sd.tag_separator.as_str(),
                sd.refresh_interval
            ),
            (
                "default",
                "global",
                Some("http://localhost:4646"),
                ",",
                Duration(60_000)
            )
        );
    }

    #[test]
    fn prometheus_example_configuration_loads() {
        // documentation/examples/prometheus-nomad.yml, its comments left out.
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: "prometheus"
    static_configs:
      - targets: ["localhost:9090"]
  - job_name: 'nomad_sd'
    nomad_sd_configs:
      - server: 'http://localhost:4646'
    relabel_configs:
      - source_labels: [__meta_nomad_service]
        target_label: job
"#,
            "prometheus-nomad.yml",
        )
        .unwrap();
        let discovery = &c.scrape_configs[1].discovery;
        assert_eq!(
            discovery.nomad_sd_configs[0].server.as_deref(),
            Some("http://localhost:4646")
        );
        let (providers, failed) = crate::discovery::providers(discovery);
        assert_eq!((providers.len(), failed.len()), (1, 0));
    }

    #[test]
    fn the_server_is_checked_as_prometheus_checks_it() {
        let parse = |section: &str| {
            crate::Config::parse(
                &format!(
                    "scrape_configs:\n  - job_name: a\n    nomad_sd_configs:\n      - {section}\n"
                ),
                "p.yml",
            )
            .map_err(|e| e.message)
        };
        for section in ["server: ' '", "server: ''", "server: null"] {
            let e = parse(section).unwrap_err();
            assert!(
                e.ends_with(
                    "nomad_sd_configs[0]: nomad SD configuration requires a server address"
                ),
                "{section}: {e}"
            );
        }
        let e = parse("server: http://n\n        bearer_token: a\n        bearer_token_file: b")
            .unwrap_err();
        assert!(e.contains("bearer_token and bearer_token_file"), "{e}");
        // An address Go's URL parser takes but no request can use fails each refresh,
        // not the configuration; one it cannot parse fails the provider.
        let c = parse("server: localhost:4646").unwrap();
        let (providers, failed) = crate::discovery::providers(&c.scrape_configs[0].discovery);
        assert_eq!((providers.len(), failed.len()), (1, 0));
        let c = parse("server: 'http://[::1'").unwrap();
        let (_, failed) = crate::discovery::providers(&c.scrape_configs[0].discovery);
        assert!(
            failed[0].1.starts_with("invalid address 'http://[::1'"),
            "{failed:?}"
        );
    }
}
