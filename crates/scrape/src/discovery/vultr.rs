//! `vultr_sd_configs`: Vultr's instances, as Prometheus's Vultr discovery finds them
//! through the API v2 (`GET /v2/instances`, following the cursor).

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, target};
use crate::config::{Duration, http_client};

/// Where Prometheus reaches the API (govultr's default base URL).
const ENDPOINT: &str = "https://api.vultr.com";
/// The page size Prometheus asks for.
const PER_PAGE: &str = "100";

http_client! {
    /// `vultr_sd_configs`: instances. The API key goes in `authorization`.
    pub struct VultrSdConfig {
        /// The port of the targets (default 80).
        #[serde(default = "default_port")]
        pub port: u16,
        /// How often to ask again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

fn default_port() -> u16 {
    80
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

impl VultrSdConfig {
    /// Checks the section as Prometheus does: the HTTP client settings only.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.check()
    }
}

/// A Vultr discoverer.
pub(super) struct Vultr {
    name: String,
    port: u16,
    interval: StdDuration,
    client: ApiClient,
    endpoint: String,
}

impl Vultr {
    pub(super) fn new(n: usize, config: &VultrSdConfig) -> Result<Self, String> {
        Self::with_endpoint(n, config, ENDPOINT)
    }

    /// A discoverer asking `endpoint` (the API's base URL) instead of Vultr's.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &VultrSdConfig,
        endpoint: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            name: format!("vultr_sd_configs[{n}]"),
            port: config.port,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// Every instance: pages of 100, each asked for with the cursor the last one gave in
    /// `meta.links.next`, until that is empty.
    async fn instances(&self) -> Result<Vec<Instance>, String> {
        let base = format!("{}/v2/instances", self.endpoint);
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut query = vec![("per_page", PER_PAGE)];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let url = reqwest::Url::parse_with_params(&base, &query)
                .map_err(|e| format!("{base}: {e}"))?;
            let answer: Page = get_json(self.client.get(url.as_str()).await?, url.as_str()).await?;
            all.extend(answer.instances.0);
            match answer.meta.links {
                Some(links) if !links.next.is_empty() => cursor = links.next.0,
                _ => return Ok(all),
            }
        }
    }
}

impl Provider for Vultr {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let mut out = Vec::new();
            for i in self.instances().await? {
                let mut labels: BTreeMap<String, String> = [
                    ("id", i.id.0.clone()),
                    ("label", i.label.0.clone()),
                    ("os", i.os.0.clone()),
                    ("os_id", i.os_id.to_string()),
                    ("region", i.region.0.clone()),
                    ("plan", i.plan.0.clone()),
                    ("vcpu_count", i.vcpu_count.to_string()),
                    ("ram_mb", i.ram.to_string()),
                    ("allowed_bandwidth_gb", i.allowed_bandwidth.to_string()),
                    ("disk_gb", i.disk.to_string()),
                    ("main_ip", i.main_ip.0.clone()),
                    ("main_ipv6", i.v6_main_ip.0.clone()),
                    ("internal_ip", i.internal_ip.0.clone()),
                    ("hostname", i.hostname.0.clone()),
                    ("server_status", i.server_status.0.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (format!("__meta_vultr_instance_{k}"), v))
                .collect();
                // Lists carry a comma on both ends too, so that a relabelling regex need
                // not care where in the list an item is.
                for (key, list) in [("features", &i.features), ("tags", &i.tags)] {
                    if !list.is_empty() {
                        labels.insert(
                            format!("__meta_vultr_instance_{key}"),
                            format!(",{},", list.join(",")),
                        );
                    }
                }
                out.push(target(join_host_port(&i.main_ip, self.port), labels));
            }
            Ok(out)
        })
    }
}

/// A page of `GET /v2/instances`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Page {
    instances: Nullable<Vec<Instance>>,
    meta: Meta,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Meta {
    links: Option<Links>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Links {
    next: Nullable<String>,
}

/// The fields of an instance that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Instance {
    id: Nullable<String>,
    label: Nullable<String>,
    os: Nullable<String>,
    os_id: i64,
    region: Nullable<String>,
    plan: Nullable<String>,
    vcpu_count: i64,
    ram: i64,
    allowed_bandwidth: i64,
    disk: i64,
    main_ip: Nullable<String>,
    v6_main_ip: Nullable<String>,
    internal_ip: Nullable<String>,
    hostname: Nullable<String>,
    server_status: Nullable<String>,
    features: Nullable<Vec<String>>,
    tags: Nullable<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::Query;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use serde_json::json;

    use super::super::testing::{fake_api, group, json};
    use super::*;

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let failing = fail.clone();
        let base = fake_api(axum::Router::new().route(
            "/v2/instances",
            get(move |Query(q): Query<HashMap<String, String>>, h: HeaderMap| {
                let fail = *failing.lock().unwrap();
                async move {
                    assert_eq!(h["authorization"], "Bearer vultr-key");
                    assert_eq!(q["per_page"], "100");
                    if fail {
                        return json(500, json!({"error": "internal", "status": 500}));
                    }
                    match q.get("cursor").map(String::as_str) {
                        None => json(200, json!({
                            "instances": [{
                                "id": "cb676a46-66fd-4dfb-b839-443f2e6c0b60", "os": "Ubuntu 22.04 LTS x64",
                                "ram": 2048, "disk": 55, "main_ip": "149.28.1.1", "vcpu_count": 1,
                                "region": "ewr", "plan": "vc2-1c-2gb", "date_created": "2023-01-01T00:00:00+00:00",
                                "status": "active", "allowed_bandwidth": 2000, "netmask_v4": "255.255.254.0",
                                "gateway_v4": "149.28.0.1", "power_status": "running", "server_status": "ok",
                                "v6_network": "2001:19f0:5:1::", "v6_main_ip": "2001:19f0:5:1:5400:4ff:fe1f:1",
                                "v6_network_size": 64, "label": "validator-1", "internal_ip": "10.1.96.3",
                                "kvm": "https://my.vultr.com/subs/vps/novnc/api.php?data=x", "hostname": "validator-1",
                                "tag": "", "tags": ["validator", "mainnet"], "os_id": 1743, "app_id": 0,
                                "image_id": "", "firewall_group_id": "", "features": ["ipv6", "auto_backups"]
                            }],
                            "meta": {"total": 2, "links": {"next": "bmV4dF9fMg==", "prev": ""}}
                        })),
                        Some("bmV4dF9fMg==") => json(200, json!({
                            "instances": [{
                                "id": "fd4d3d9e-4a2e-4b8c-9c1e-5c9d0a0e2b11", "os": "Debian 12 x64",
                                "ram": 1024, "disk": 25, "main_ip": "45.77.1.2", "vcpu_count": 1,
                                "region": "ams", "plan": "vc2-1c-1gb", "allowed_bandwidth": 1000,
                                "server_status": "installingbooting", "v6_main_ip": "", "label": "",
                                "internal_ip": "", "hostname": "sentry", "os_id": 2136,
                                "tags": [], "features": []
                            }],
                            "meta": {"total": 2, "links": {"next": "", "prev": "cHJldl9fMQ=="}}
                        })),
                        Some(other) => panic!("cursor {other} was not offered"),
                    }
                }
            }),
        ))
        .await;
        let config: VultrSdConfig =
            yaml::from_str("port: 9100\nauthorization:\n  credentials: vultr-key\n").unwrap();
        config.validate().unwrap();
        let sd = Vultr::with_endpoint(0, &config, &base).unwrap();
        assert_eq!(sd.name(), "vultr_sd_configs[0]");
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "149.28.1.1:9100",
                    &[
                        ("__meta_vultr_instance_allowed_bandwidth_gb", "2000"),
                        ("__meta_vultr_instance_disk_gb", "55"),
                        ("__meta_vultr_instance_features", ",ipv6,auto_backups,"),
                        ("__meta_vultr_instance_hostname", "validator-1"),
                        (
                            "__meta_vultr_instance_id",
                            "cb676a46-66fd-4dfb-b839-443f2e6c0b60"
                        ),
                        ("__meta_vultr_instance_internal_ip", "10.1.96.3"),
                        ("__meta_vultr_instance_label", "validator-1"),
                        ("__meta_vultr_instance_main_ip", "149.28.1.1"),
                        (
                            "__meta_vultr_instance_main_ipv6",
                            "2001:19f0:5:1:5400:4ff:fe1f:1"
                        ),
                        ("__meta_vultr_instance_os", "Ubuntu 22.04 LTS x64"),
                        ("__meta_vultr_instance_os_id", "1743"),
                        ("__meta_vultr_instance_plan", "vc2-1c-2gb"),
                        ("__meta_vultr_instance_ram_mb", "2048"),
                        ("__meta_vultr_instance_region", "ewr"),
                        ("__meta_vultr_instance_server_status", "ok"),
                        ("__meta_vultr_instance_tags", ",validator,mainnet,"),
                        ("__meta_vultr_instance_vcpu_count", "1"),
                    ],
                ),
                group(
                    "45.77.1.2:9100",
                    &[
                        ("__meta_vultr_instance_allowed_bandwidth_gb", "1000"),
                        ("__meta_vultr_instance_disk_gb", "25"),
                        ("__meta_vultr_instance_hostname", "sentry"),
                        (
                            "__meta_vultr_instance_id",
                            "fd4d3d9e-4a2e-4b8c-9c1e-5c9d0a0e2b11"
                        ),
                        ("__meta_vultr_instance_internal_ip", ""),
                        ("__meta_vultr_instance_label", ""),
                        ("__meta_vultr_instance_main_ip", "45.77.1.2"),
                        ("__meta_vultr_instance_main_ipv6", ""),
                        ("__meta_vultr_instance_os", "Debian 12 x64"),
                        ("__meta_vultr_instance_os_id", "2136"),
                        ("__meta_vultr_instance_plan", "vc2-1c-1gb"),
                        ("__meta_vultr_instance_ram_mb", "1024"),
                        ("__meta_vultr_instance_region", "ams"),
                        ("__meta_vultr_instance_server_status", "installingbooting"),
                        ("__meta_vultr_instance_vcpu_count", "1"),
                    ],
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
            "scrape_configs:\n  - job_name: a\n    vultr_sd_configs:\n      - authorization:\n          credentials: x\n        port: 9100\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.vultr_sd_configs[0];
        assert_eq!((sd.port, sd.refresh_interval), (9100, Duration(60_000)));
    }
}
