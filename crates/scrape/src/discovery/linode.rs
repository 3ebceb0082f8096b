//! `linode_sd_configs`: Linode's instances, as Prometheus's Linode discovery finds them
//! through the API v4 (`GET /linode/instances` and `GET /networking/ips`, every page).
//!
//! Prometheus 2.42 also polls the account's events between refreshes and lists the
//! instances again only after an event (or ten quiet polls). This provider lists them
//! at every refresh: the same targets, never staler, for a few more requests.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration as StdDuration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, target};
use crate::config::{Duration, http_client};

/// Where Prometheus reaches the API (linodego's default).
const ENDPOINT: &str = "https://api.linode.com/v4";
/// The page size Prometheus asks for.
const PAGE_SIZE: u32 = 500;

http_client! {
    /// `linode_sd_configs`: instances. The API token goes in `authorization`.
    pub struct LinodeSdConfig {
        /// The port of the targets (default 80).
        #[serde(default = "default_port")]
        pub port: u16,
        /// The separator of tags and extra addresses in their labels (default `,`).
        #[serde(default = "default_tag_separator")]
        pub tag_separator: String,
        /// How often to ask again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

fn default_port() -> u16 {
    80
}

fn default_tag_separator() -> String {
    ",".into()
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

impl LinodeSdConfig {
    /// Checks the section as Prometheus does: the HTTP client settings only.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.check()
    }
}

/// A Linode discoverer.
pub(super) struct Linode {
    name: String,
    port: u16,
    separator: String,
    interval: StdDuration,
    client: ApiClient,
    endpoint: String,
}

impl Linode {
    pub(super) fn new(n: usize, config: &LinodeSdConfig) -> Result<Self, String> {
        Self::with_endpoint(n, config, ENDPOINT)
    }

    /// A discoverer asking `endpoint` (the API's base URL, with its version) instead of
    /// Linode's.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &LinodeSdConfig,
        endpoint: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            name: format!("linode_sd_configs[{n}]"),
            port: config.port,
            separator: config.tag_separator.clone(),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// Every item of a list, as linodego reads it: the first page, then pages 2 to
    /// `pages`.
    async fn all<T: DeserializeOwned + Default>(&self, path: &str) -> Result<Vec<T>, String> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let url = match page {
                1 => format!("{}/{path}?page_size={PAGE_SIZE}", self.endpoint),
                n => format!("{}/{path}?page={n}&page_size={PAGE_SIZE}", self.endpoint),
            };
            let answer: Page<T> = get_json(self.client.get(&url).await?, &url).await?;
            all.extend(answer.data.0);
            if page >= answer.pages {
                return Ok(all);
            }
            page += 1;
        }
    }

    fn join(&self, items: &[String]) -> String {
        let sep = &self.separator;
        format!("{sep}{}{sep}", items.join(sep))
    }
}

impl Provider for Linode {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let instances: Vec<Instance> = self.all("linode/instances").await?;
            let ips: Vec<IpAddress> = self.all("networking/ips").await?;
            let rdns = |ip: &IpAddress| match ip.rdns.as_str() {
                "null" => String::new(),
                rdns => rdns.to_owned(),
            };
            let mut out = Vec::new();
            for instance in instances {
                if instance.ipv4.is_empty() {
                    continue;
                }
                let (mut public_ipv4, mut public_ipv4_rdns) = (String::new(), String::new());
                let (mut private_ipv4, mut private_ipv4_rdns) = (String::new(), String::new());
                let mut extra = Vec::new();
                // The instance's first public and first private addresses are labelled;
                // the others are listed as extra, in the order of the instance's list.
                for ip in instance.ipv4.iter() {
                    let ip = canonical(ip);
                    for detail in ips.iter().filter(|d| *d.address == ip) {
                        if detail.public && public_ipv4.is_empty() {
                            public_ipv4 = detail.address.0.clone();
                            public_ipv4_rdns = rdns(detail);
                        } else if !detail.public && private_ipv4.is_empty() {
                            private_ipv4 = detail.address.0.clone();
                            private_ipv4_rdns = rdns(detail);
                        } else {
                            extra.push(detail.address.0.clone());
                        }
                    }
                }
                let (mut public_ipv6, mut public_ipv6_rdns) = (String::new(), String::new());
                if !instance.ipv6.is_empty() {
                    let address = instance.ipv6.split('/').next().unwrap_or_default();
                    for detail in ips.iter().filter(|d| *d.address == address) {
                        public_ipv6 = detail.address.0.clone();
                        public_ipv6_rdns = rdns(detail);
                    }
                }
                let specs = instance.specs.as_ref().cloned().unwrap_or_default();
                let backups = match instance.backups.as_ref().is_some_and(|b| b.enabled) {
                    true => "enabled",
                    false => "disabled",
                };
                let mut labels: BTreeMap<String, String> = [
                    ("instance_id", instance.id.to_string()),
                    ("instance_label", instance.label.0.clone()),
                    ("image", instance.image.0.clone()),
                    ("private_ipv4", private_ipv4),
                    ("public_ipv4", public_ipv4.clone()),
                    ("public_ipv6", public_ipv6),
                    ("private_ipv4_rdns", private_ipv4_rdns),
                    ("public_ipv4_rdns", public_ipv4_rdns),
                    ("public_ipv6_rdns", public_ipv6_rdns),
                    ("region", instance.region.0.clone()),
                    ("type", instance.kind.0.clone()),
                    ("status", instance.status.0.clone()),
                    ("group", instance.group.0.clone()),
                    ("hypervisor", instance.hypervisor.0.clone()),
                    ("backups", backups.to_owned()),
                    // The API gives sizes in MiB; Prometheus labels bytes.
                    ("specs_disk_bytes", (specs.disk << 20).to_string()),
                    ("specs_memory_bytes", (specs.memory << 20).to_string()),
                    ("specs_vcpus", specs.vcpus.to_string()),
                    ("specs_transfer_bytes", (specs.transfer << 20).to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (format!("__meta_linode_{k}"), v))
                .collect();
                // Lists carry the separator on both ends too, so that a relabelling regex
                // need not care where in the list an item is.
                if !instance.tags.is_empty() {
                    labels.insert("__meta_linode_tags".into(), self.join(&instance.tags));
                }
                if !extra.is_empty() {
                    labels.insert("__meta_linode_extra_ips".into(), self.join(&extra));
                }
                out.push(target(join_host_port(&public_ipv4, self.port), labels));
            }
            Ok(out)
        })
    }
}

/// An address as Go prints the `net.IP` linodego parses it into.
fn canonical(text: &str) -> String {
    text.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|_| text.to_owned())
}

/// A page of a list: `data`, and how many pages there are.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default)]
    data: Nullable<Vec<T>>,
    #[serde(default)]
    pages: u64,
}

/// The fields of an instance that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Instance {
    id: i64,
    label: Nullable<String>,
    image: Nullable<String>,
    region: Nullable<String>,
    #[serde(rename = "type")]
    kind: Nullable<String>,
    status: Nullable<String>,
    group: Nullable<String>,
    hypervisor: Nullable<String>,
    ipv4: Nullable<Vec<String>>,
    ipv6: Nullable<String>,
    tags: Nullable<Vec<String>>,
    backups: Option<Backups>,
    specs: Option<Specs>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Backups {
    enabled: bool,
}

#[derive(Default, Clone, Deserialize)]
#[serde(default)]
struct Specs {
    disk: i64,
    memory: i64,
    vcpus: i64,
    transfer: i64,
}

/// An entry of `GET /networking/ips`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct IpAddress {
    address: Nullable<String>,
    public: bool,
    rdns: Nullable<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::Query;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use serde_json::{Value, json};

    use super::super::testing::{fake_api, group, json};
    use super::*;

    /// An instance as the API documents it.
    fn instance(id: i64, label: &str, ipv4: &[&str], ipv6: Value, tags: &[&str]) -> Value {
        json!({
            "id": id, "label": label, "group": "", "status": "running", "type": "g6-standard-2",
            "region": "us-east", "image": "linode/ubuntu22.04", "hypervisor": "kvm",
            "ipv4": ipv4, "ipv6": ipv6, "tags": tags, "watchdog_enabled": true,
            "host_uuid": "3a3ddd59d9a78bb8de041391075df44de62bfec8",
            "backups": {"available": true, "enabled": id == 1, "schedule": {"day": null, "window": null}},
            "specs": {"disk": 81920, "memory": 4096, "vcpus": 2, "gpus": 0, "transfer": 4000},
            "alerts": {"cpu": 180, "io": 10000, "network_in": 10, "network_out": 10, "transfer_quota": 80}
        })
    }

    fn ip(address: &str, public: bool, rdns: Value) -> Value {
        json!({
            "address": address, "public": public, "rdns": rdns, "linode_id": 1,
            "type": if address.contains(':') { "ipv6" } else { "ipv4" },
            "region": "us-east", "gateway": null, "subnet_mask": "255.255.255.0", "prefix": 24
        })
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let failing = fail.clone();
        let instances = move |Query(q): Query<HashMap<String, String>>, h: HeaderMap| {
            let fail = *failing.lock().unwrap();
            async move {
                assert_eq!(h["authorization"], "Bearer linode-token");
                assert_eq!(q["page_size"], "500");
                if fail {
                    return json(500, json!({"errors": [{"reason": "internal"}]}));
                }
                match q.get("page").map(String::as_str) {
                    None => json(
                        200,
                        json!({
                            "data": [
                                instance(1, "validator-1", &["45.79.1.1", "192.168.1.10", "45.79.1.2"], json!("2600:3c03::f03c:91ff:fe24:3a2f/128"), &["validator", "eu"]),
                                instance(2, "no-ipv4", &[], Value::Null, &[]),
                            ],
                            "page": 1, "pages": 2, "results": 3
                        }),
                    ),
                    Some("2") => json(
                        200,
                        json!({
                            "data": [instance(3, "private-only", &["192.168.1.11"], Value::Null, &[])],
                            "page": 2, "pages": 2, "results": 3
                        }),
                    ),
                    Some(other) => panic!("page {other} was not offered"),
                }
            }
        };
        let ips = |Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!((q.get("page"), q["page_size"].as_str()), (None, "500"));
            json(
                200,
                json!({
                    "data": [
                        ip("45.79.1.1", true, json!("li1-1.members.linode.com")),
                        ip("45.79.1.2", true, Value::Null),
                        ip("192.168.1.10", false, json!("null")),
                        ip("2600:3c03::f03c:91ff:fe24:3a2f", true, json!("v6.example.com")),
                        ip("192.168.1.11", false, Value::Null),
                    ],
                    "page": 1, "pages": 1, "results": 5
                }),
            )
        };
        let base = fake_api(
            axum::Router::new()
                .route("/v4/linode/instances", get(instances))
                .route("/v4/networking/ips", get(ips)),
        )
        .await;
        let config: LinodeSdConfig = yaml::from_str(
            "port: 9100\ntag_separator: '|'\nauthorization:\n  credentials: linode-token\n",
        )
        .unwrap();
        config.validate().unwrap();
        let sd = Linode::with_endpoint(0, &config, &format!("{base}/v4")).unwrap();
        assert_eq!(sd.name(), "linode_sd_configs[0]");
        let common = [
            ("__meta_linode_group", ""),
            ("__meta_linode_hypervisor", "kvm"),
            ("__meta_linode_image", "linode/ubuntu22.04"),
            ("__meta_linode_region", "us-east"),
            ("__meta_linode_specs_disk_bytes", "85899345920"),
            ("__meta_linode_specs_memory_bytes", "4294967296"),
            ("__meta_linode_specs_transfer_bytes", "4194304000"),
            ("__meta_linode_specs_vcpus", "2"),
            ("__meta_linode_status", "running"),
            ("__meta_linode_type", "g6-standard-2"),
        ];
        let with = |own: &[(&'static str, &'static str)]| {
            let mut all = common.to_vec();
            all.extend_from_slice(own);
            all
        };
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "45.79.1.1:9100",
                    &with(&[
                        ("__meta_linode_backups", "enabled"),
                        ("__meta_linode_extra_ips", "|45.79.1.2|"),
                        ("__meta_linode_instance_id", "1"),
                        ("__meta_linode_instance_label", "validator-1"),
                        ("__meta_linode_private_ipv4", "192.168.1.10"),
                        ("__meta_linode_private_ipv4_rdns", ""),
                        ("__meta_linode_public_ipv4", "45.79.1.1"),
                        ("__meta_linode_public_ipv4_rdns", "li1-1.members.linode.com"),
                        (
                            "__meta_linode_public_ipv6",
                            "2600:3c03::f03c:91ff:fe24:3a2f"
                        ),
                        ("__meta_linode_public_ipv6_rdns", "v6.example.com"),
                        ("__meta_linode_tags", "|validator|eu|"),
                    ]),
                ),
                // Without a public address the target is ":port", as Go joins it.
                group(
                    ":9100",
                    &with(&[
                        ("__meta_linode_backups", "disabled"),
                        ("__meta_linode_instance_id", "3"),
                        ("__meta_linode_instance_label", "private-only"),
                        ("__meta_linode_private_ipv4", "192.168.1.11"),
                        ("__meta_linode_private_ipv4_rdns", ""),
                        ("__meta_linode_public_ipv4", ""),
                        ("__meta_linode_public_ipv4_rdns", ""),
                        ("__meta_linode_public_ipv6", ""),
                        ("__meta_linode_public_ipv6_rdns", ""),
                    ]),
                ),
            ]
        );
        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("500"), "{e}");
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    linode_sd_configs:\n      - authorization:\n          credentials: x\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.linode_sd_configs[0];
        assert_eq!(
            (sd.port, sd.tag_separator.as_str(), sd.refresh_interval),
            (80, ",", Duration(60_000))
        );
    }
}
