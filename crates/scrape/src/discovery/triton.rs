//! `triton_sd_configs`: the containers (`role: container`) or compute nodes (`role: cn`)
//! of a Triton data centre, as Prometheus's Triton discovery finds them through
//! triton-cmon's discovery endpoints, `https://<endpoint>:<port>/v<version>/discover`
//! and `…/gz/discover`.
//!
//! The account is not sent: triton-cmon knows it from the client certificate in
//! `tls_config`. Each target is reached by its UUID under `dns_suffix`, at `port`, the
//! port discovery itself uses.
//!
//! Unlike Prometheus 2.42, which reads the body of any answer, an answer whose status is
//! not 2xx fails the refresh (keeping the last targets) rather than being read as an
//! empty or partial list.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{ApiClient, Nullable, Provider, Refresh, get_json, target, tls_only_client};
use crate::config::{Duration, StaticConfig, TlsConfig};

/// `triton_sd_configs`: containers or compute nodes from triton-cmon.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TritonSdConfig {
    /// The account whose containers are found; required.
    #[serde(default)]
    pub account: String,
    /// `container` (default) or `cn`.
    #[serde(default = "default_role")]
    pub role: String,
    /// The DNS suffix of the targets' names; required.
    #[serde(default)]
    pub dns_suffix: String,
    /// The discovery endpoint's host, such as `cmon.us-east-3b.triton.zone`; required.
    #[serde(default)]
    pub endpoint: String,
    /// Only the containers of these groups (all when empty).
    #[serde(default)]
    pub groups: Vec<String>,
    /// The port of discovery and of the targets (default 9163).
    #[serde(default = "default_port")]
    pub port: u16,
    /// How often to ask again (default 1m).
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Duration,
    /// TLS settings: the account's client certificate.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// The discovery API's version (default 1).
    #[serde(default = "default_version")]
    pub version: i64,
}

fn default_role() -> String {
    "container".into()
}

fn default_port() -> u16 {
    9163
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

fn default_version() -> i64 {
    1
}

impl TritonSdConfig {
    /// Checks the section as Prometheus does when it reads it.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.role != "container" && self.role != "cn" {
            return Err("triton SD configuration requires role to be 'container' or 'cn'".into());
        }
        if self.account.is_empty() {
            return Err("triton SD configuration requires an account".into());
        }
        if self.dns_suffix.is_empty() {
            return Err("triton SD configuration requires a dns_suffix".into());
        }
        if self.endpoint.is_empty() {
            return Err("triton SD configuration requires an endpoint".into());
        }
        if self.refresh_interval.0 <= 0 {
            return Err(
                "triton SD configuration requires RefreshInterval to be a positive integer".into(),
            );
        }
        tls_only_client(&self.tls_config).check()
    }
}

/// What a Triton discoverer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Container,
    ComputeNode,
}

/// A Triton discoverer.
pub(super) struct Triton {
    name: String,
    role: Role,
    dns_suffix: String,
    port: u16,
    interval: StdDuration,
    client: ApiClient,
    url: String,
}

impl Triton {
    pub(super) fn new(n: usize, config: &TritonSdConfig) -> Result<Self, String> {
        let base = format!("https://{}:{}", config.endpoint, config.port);
        Self::with_endpoint(n, config, &base)
    }

    /// A discoverer asking `base` (scheme, host and port) instead of
    /// `https://<endpoint>:<port>`.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &TritonSdConfig,
        base: &str,
    ) -> Result<Self, String> {
        let (role, path) = match config.role.as_str() {
            "container" => (Role::Container, "discover"),
            "cn" => (Role::ComputeNode, "gz/discover"),
            other => return Err(format!("unknown role '{other}' in configuration")),
        };
        let mut url = format!("{base}/v{}/{path}", config.version);
        if !config.groups.is_empty() {
            url.push_str("?groups=");
            url.push_str(&query_escape(&config.groups.join(",")));
        }
        let interval = config.refresh_interval.std();
        Ok(Self {
            name: format!("triton_sd_configs[{n}]"),
            role,
            dns_suffix: config.dns_suffix.clone(),
            port: config.port,
            interval,
            client: ApiClient::new(&tls_only_client(&config.tls_config), interval)?,
            url,
        })
    }

    async fn containers(&self) -> Result<Vec<StaticConfig>, String> {
        let answer: Containers = get_json(self.client.unsigned_get(&self.url), &self.url).await?;
        Ok(answer
            .containers
            .iter()
            .map(|c| {
                let mut labels: BTreeMap<String, String> = [
                    ("machine_id", &c.vm_uuid),
                    ("machine_alias", &c.vm_alias),
                    ("machine_brand", &c.vm_brand),
                    ("machine_image", &c.vm_image_uuid),
                    ("server_id", &c.server_uuid),
                ]
                .into_iter()
                .map(|(k, v)| (format!("__meta_triton_{k}"), v.0.clone()))
                .collect();
                if !c.groups.is_empty() {
                    labels.insert(
                        "__meta_triton_groups".into(),
                        format!(",{},", c.groups.join(",")),
                    );
                }
                target(self.address(&c.vm_uuid), labels)
            })
            .collect())
    }

    async fn compute_nodes(&self) -> Result<Vec<StaticConfig>, String> {
        let answer: ComputeNodes = get_json(self.client.unsigned_get(&self.url), &self.url).await?;
        Ok(answer
            .cns
            .iter()
            .map(|cn| {
                let labels = BTreeMap::from([
                    ("__meta_triton_machine_id".into(), cn.server_uuid.0.clone()),
                    (
                        "__meta_triton_machine_alias".into(),
                        cn.server_hostname.0.clone(),
                    ),
                ]);
                target(self.address(&cn.server_uuid), labels)
            })
            .collect())
    }

    /// `<uuid>.<dns_suffix>:<port>`, as Prometheus writes it.
    fn address(&self, uuid: &str) -> String {
        format!("{uuid}.{}:{}", self.dns_suffix, self.port)
    }
}

impl Provider for Triton {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            match self.role {
                Role::Container => self.containers().await,
                Role::ComputeNode => self.compute_nodes().await,
            }
        })
    }
}

/// `s` escaped as Go's `url.QueryEscape` escapes it: letters, digits and `-_.~` kept,
/// spaces as `+`, every other byte as `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `GET /v<version>/discover`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Containers {
    containers: Nullable<Vec<Container>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Container {
    groups: Nullable<Vec<String>>,
    server_uuid: Nullable<String>,
    vm_alias: Nullable<String>,
    vm_brand: Nullable<String>,
    vm_image_uuid: Nullable<String>,
    vm_uuid: Nullable<String>,
}

/// `GET /v<version>/gz/discover`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ComputeNodes {
    cns: Nullable<Vec<ComputeNode>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ComputeNode {
    server_uuid: Nullable<String>,
    server_hostname: Nullable<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::RawQuery;
    use axum::routing::get;
    use serde_json::json;

    use super::super::testing::{assert_refused, fake_api, group, json, parse_section};
    use super::*;

    fn config(text: &str) -> TritonSdConfig {
        let c: TritonSdConfig = yaml::from_str(text).unwrap();
        c.validate().unwrap();
        c
    }

    /// A fake triton-cmon: containers (in groups when asked), compute nodes; bad
    /// answers while `fail` says which.
    async fn cmon(fail: Arc<Mutex<u8>>) -> String {
        let containers = move |RawQuery(q): RawQuery| {
            let fail = *fail.lock().unwrap();
            async move {
                match fail {
                    1 => return json(500, json!({"code": "InternalError", "message": "boom"})),
                    2 => {
                        return (
                            axum::http::StatusCode::OK,
                            [("content-type", "application/json")],
                            "{\"containers\": [".to_owned(),
                        );
                    }
                    _ => {}
                }
                let all = vec![
                    json!({"server_uuid": "44454c4c-5000-104d-8037-b7c04f5a5131", "vm_alias": "prometheus-0",
                           "vm_brand": "lx", "vm_image_uuid": "7b5981c4-1889-11e7-b4c5-3f3bdfc9b88b",
                           "vm_uuid": "ad466fbf-46a2-4027-9b64-8d3cdb7e9072", "cached": false,
                           "groups": ["foo", "bar"]}),
                    json!({"server_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6", "vm_alias": null,
                           "vm_brand": "joyent", "vm_image_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6",
                           "vm_uuid": "b1a0a8ea-36d1-4d0e-a1d1-8d9ae0d13d75", "cached": true}),
                ];
                match q.as_deref() {
                    None => json(200, json!({"containers": all})),
                    Some("groups=foo%2Cbar") => json(200, json!({"containers": [all[0]]})),
                    Some(other) => panic!("query {other}"),
                }
            }
        };
        fake_api(
            axum::Router::new()
                .route("/v1/discover", get(containers))
                .route(
                    "/v1/gz/discover",
                    get(|| async {
                        json(200, json!({"cns": [
                            {"server_uuid": "44454c4c-5000-104d-8037-b7c04f5a5131", "server_hostname": "headnode"},
                            {"server_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6"}
                        ]}))
                    }),
                ),
        )
        .await
    }

    #[tokio::test]
    async fn containers_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(0));
        let base = cmon(fail.clone()).await;
        let c =
            config("account: testAccount\ndns_suffix: triton.example.com\nendpoint: 127.0.0.1\n");
        let sd = Triton::with_endpoint(0, &c, &base).unwrap();
        assert_eq!(sd.name(), "triton_sd_configs[0]");
        let prometheus = group(
            "ad466fbf-46a2-4027-9b64-8d3cdb7e9072.triton.example.com:9163",
            &[
                ("__meta_triton_groups", ",foo,bar,"),
                ("__meta_triton_machine_alias", "prometheus-0"),
                ("__meta_triton_machine_brand", "lx"),
                (
                    "__meta_triton_machine_id",
                    "ad466fbf-46a2-4027-9b64-8d3cdb7e9072",
                ),
                (
                    "__meta_triton_machine_image",
                    "7b5981c4-1889-11e7-b4c5-3f3bdfc9b88b",
                ),
                (
                    "__meta_triton_server_id",
                    "44454c4c-5000-104d-8037-b7c04f5a5131",
                ),
            ],
        );
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                prometheus.clone(),
                // No groups: no groups label; a null alias is empty.
                group(
                    "b1a0a8ea-36d1-4d0e-a1d1-8d9ae0d13d75.triton.example.com:9163",
                    &[
                        ("__meta_triton_machine_alias", ""),
                        ("__meta_triton_machine_brand", "joyent"),
                        (
                            "__meta_triton_machine_id",
                            "b1a0a8ea-36d1-4d0e-a1d1-8d9ae0d13d75"
                        ),
                        (
                            "__meta_triton_machine_image",
                            "a5894692-bd32-4ca1-908a-e2dda3c3a5e6"
                        ),
                        (
                            "__meta_triton_server_id",
                            "a5894692-bd32-4ca1-908a-e2dda3c3a5e6"
                        ),
                    ],
                ),
            ]
        );
        let c = config(
            "account: testAccount\ndns_suffix: triton.example.com\nendpoint: 127.0.0.1\ngroups: [foo, bar]\n",
        );
        let grouped = Triton::with_endpoint(0, &c, &base).unwrap();
        assert_eq!(grouped.refresh().await.unwrap(), vec![prometheus]);

        let url = format!("{base}/v1/discover");
        *fail.lock().unwrap() = 1;
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!("{url}: server returned HTTP status 500")),
            "{e}"
        );
        *fail.lock().unwrap() = 2;
        let e = sd.refresh().await.unwrap_err();
        assert!(e.starts_with(&format!("{url}: line 1")), "{e}");
    }

    #[tokio::test]
    async fn compute_nodes_are_labelled_as_prometheus_labels_them() {
        let base = cmon(Arc::new(Mutex::new(0))).await;
        let c = config(
            "account: admin\nrole: cn\ndns_suffix: cmon.example.com\nendpoint: 127.0.0.1\nport: 9100\n",
        );
        let sd = Triton::with_endpoint(0, &c, &base).unwrap();
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "44454c4c-5000-104d-8037-b7c04f5a5131.cmon.example.com:9100",
                    &[
                        ("__meta_triton_machine_alias", "headnode"),
                        (
                            "__meta_triton_machine_id",
                            "44454c4c-5000-104d-8037-b7c04f5a5131"
                        ),
                    ],
                ),
                group(
                    "a5894692-bd32-4ca1-908a-e2dda3c3a5e6.cmon.example.com:9100",
                    &[
                        ("__meta_triton_machine_alias", ""),
                        (
                            "__meta_triton_machine_id",
                            "a5894692-bd32-4ca1-908a-e2dda3c3a5e6"
                        ),
                    ],
                ),
            ]
        );
    }

    #[test]
    fn discovery_is_asked_where_prometheus_asks() {
        let c = config(
            "account: a\ndns_suffix: s\nendpoint: cmon.us-east-3b.triton.zone\ngroups: [web, \"db team\"]\nversion: 2\n",
        );
        assert_eq!(
            Triton::new(0, &c).unwrap().url,
            "https://cmon.us-east-3b.triton.zone:9163/v2/discover?groups=web%2Cdb+team"
        );
        let c =
            config("account: a\nrole: cn\ndns_suffix: s\nendpoint: cmon.example.com\nport: 443\n");
        assert_eq!(
            Triton::new(0, &c).unwrap().url,
            "https://cmon.example.com:443/v1/gz/discover"
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        // config/testdata/conf.good.yml's service-triton.
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: service-triton\n    triton_sd_configs:\n      - account: \"testAccount\"\n        dns_suffix: \"triton.example.com\"\n        endpoint: \"triton.example.com\"\n        port: 9163\n        refresh_interval: 1m\n        version: 1\n        tls_config:\n          cert_file: valid_cert_file\n          key_file: valid_key_file\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.triton_sd_configs[0];
        assert_eq!(
            (sd.role.as_str(), sd.port, sd.refresh_interval, sd.version),
            ("container", 9163, Duration(60_000), 1)
        );
        assert!(c.scrape_configs[0].discovery.is_dynamic());
        // The TLS files are found beside the configuration file.
        let mut c = c;
        c.set_directory(std::path::Path::new("conf"));
        let tls = &c.scrape_configs[0].discovery.triton_sd_configs[0].tls_config;
        assert_eq!(
            (tls.cert_file.as_deref(), tls.key_file.as_deref()),
            (
                Some(std::path::Path::new("conf/valid_cert_file")),
                Some(std::path::Path::new("conf/valid_key_file"))
            )
        );
    }

    #[test]
    fn what_prometheus_refuses_is_refused() {
        let parse = |section: &str| parse_section("triton_sd_configs", section);
        for (section, want) in [
            (
                "role: vm\n        account: a\n        dns_suffix: s\n        endpoint: e",
                "triton SD configuration requires role to be 'container' or 'cn'",
            ),
            (
                "dns_suffix: s\n        endpoint: e",
                "triton SD configuration requires an account",
            ),
            (
                "account: a\n        endpoint: e",
                "triton SD configuration requires a dns_suffix",
            ),
            (
                "account: a\n        dns_suffix: s",
                "triton SD configuration requires an endpoint",
            ),
            (
                "account: a\n        dns_suffix: s\n        endpoint: e\n        refresh_interval: 0s",
                "triton SD configuration requires RefreshInterval to be a positive integer",
            ),
        ] {
            assert_refused("triton_sd_configs", section, want);
        }
        let e = parse("account: a\n        dns_suffix: s\n        endpoint: e\n        group: [x]")
            .unwrap_err();
        assert!(e.message.contains("group"), "{e}");
    }
}
