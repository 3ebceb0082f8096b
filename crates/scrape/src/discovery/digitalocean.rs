//! `digitalocean_sd_configs`: DigitalOcean's droplets, as Prometheus's DigitalOcean
//! discovery finds them through the public API (`GET /v2/droplets`, every page).

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, target};
use crate::config::{Duration, http_client};

/// Where Prometheus reaches the API (godo's default base URL).
const ENDPOINT: &str = "https://api.digitalocean.com";

http_client! {
    /// `digitalocean_sd_configs`: droplets. The API token goes in `authorization`.
    pub struct DigitalOceanSdConfig {
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

impl DigitalOceanSdConfig {
    /// Checks the section as Prometheus does: the HTTP client settings only.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.check()
    }
}

/// A DigitalOcean discoverer.
pub(super) struct DigitalOcean {
    name: String,
    port: u16,
    interval: StdDuration,
    client: ApiClient,
    endpoint: String,
}

impl DigitalOcean {
    pub(super) fn new(n: usize, config: &DigitalOceanSdConfig) -> Result<Self, String> {
        Self::with_endpoint(n, config, ENDPOINT)
    }

    /// A discoverer asking `endpoint` (the API's base URL) instead of DigitalOcean's.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &DigitalOceanSdConfig,
        endpoint: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            name: format!("digitalocean_sd_configs[{n}]"),
            port: config.port,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// Every droplet, as godo lists them for Prometheus: the first page without
    /// parameters, then `page=2`, `page=3`… while `links.pages.next` is set.
    async fn droplets(&self) -> Result<Vec<Droplet>, String> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let url = match page {
                1 => format!("{}/v2/droplets", self.endpoint),
                n => format!("{}/v2/droplets?page={n}", self.endpoint),
            };
            let answer: DropletPage = get_json(self.client.get(&url).await?, &url)
                .await
                .map_err(|e| format!("listing droplets, page {page}: {e}"))?;
            all.extend(answer.droplets.0);
            let next = answer.links.pages.as_ref().map(|p| p.next.as_str());
            if next.is_none_or(str::is_empty) {
                return Ok(all);
            }
            page += 1;
        }
    }
}

impl Provider for DigitalOcean {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let mut out = Vec::new();
            for droplet in self.droplets().await? {
                // A droplet without IPv4 networks is not a target yet.
                let Some(networks) = &*droplet.networks else {
                    continue;
                };
                if networks.v4.is_empty() {
                    continue;
                }
                let first = |list: &[Network]| {
                    list.iter()
                        .find(|n| *n.kind == "public")
                        .map(|n| n.ip_address.0.clone())
                        .unwrap_or_default()
                };
                let public_ipv4 = first(&networks.v4);
                let private_ipv4 = networks
                    .v4
                    .iter()
                    .find(|n| *n.kind == "private")
                    .map(|n| n.ip_address.0.clone())
                    .unwrap_or_default();
                let mut labels: BTreeMap<String, String> = [
                    ("droplet_id", droplet.id.to_string()),
                    ("droplet_name", droplet.name.0.clone()),
                    ("image", droplet.image.slug.0.clone()),
                    ("image_name", droplet.image.name.0.clone()),
                    ("private_ipv4", private_ipv4),
                    ("public_ipv4", public_ipv4.clone()),
                    ("public_ipv6", first(&networks.v6)),
                    ("region", droplet.region.slug.0.clone()),
                    ("size", droplet.size_slug.0.clone()),
                    ("status", droplet.status.0.clone()),
                    ("vpc", droplet.vpc_uuid.0.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (format!("__meta_digitalocean_{k}"), v))
                .collect();
                // The lists are written with a comma on both ends too, so that a
                // relabelling regex need not care where in the list an item is.
                for (key, list) in [("features", &droplet.features), ("tags", &droplet.tags)] {
                    if !list.is_empty() {
                        labels.insert(
                            format!("__meta_digitalocean_{key}"),
                            format!(",{},", list.join(",")),
                        );
                    }
                }
                out.push(target(join_host_port(&public_ipv4, self.port), labels));
            }
            Ok(out)
        })
    }
}

/// A page of `GET /v2/droplets`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct DropletPage {
    droplets: Nullable<Vec<Droplet>>,
    links: Links,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Links {
    pages: Option<Pages>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Pages {
    next: Nullable<String>,
}

/// The fields of a droplet that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Droplet {
    id: u64,
    name: Nullable<String>,
    status: Nullable<String>,
    image: Nullable<Slugged>,
    size_slug: Nullable<String>,
    region: Nullable<Slugged>,
    networks: Nullable<Option<Networks>>,
    features: Nullable<Vec<String>>,
    tags: Nullable<Vec<String>>,
    vpc_uuid: Nullable<String>,
}

/// An image or a region: a slug and a name.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Slugged {
    slug: Nullable<String>,
    name: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Networks {
    v4: Nullable<Vec<Network>>,
    v6: Nullable<Vec<Network>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Network {
    ip_address: Nullable<String>,
    #[serde(rename = "type")]
    kind: Nullable<String>,
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
    async fn droplets_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let failing = fail.clone();
        let base = fake_api(axum::Router::new().route(
            "/v2/droplets",
            get(move |Query(q): Query<HashMap<String, String>>, h: HeaderMap| {
                let fail = *failing.lock().unwrap();
                async move {
                    assert_eq!(h["authorization"], "Bearer do-token");
                    if fail {
                        return json(503, json!({"id": "service_unavailable", "message": "try later"}));
                    }
                    match q.get("page").map(String::as_str) {
                        None => json(200, json!({
                            "droplets": [{
                                "id": 3164444, "name": "validator-1", "memory": 1024, "vcpus": 1, "disk": 25,
                                "locked": false, "status": "active",
                                "features": ["backups", "ipv6", "virtio"],
                                "image": {"id": 6918990, "name": "14.04 x64", "distribution": "Ubuntu", "slug": "ubuntu-16-04-x64"},
                                "size_slug": "s-1vcpu-1gb",
                                "networks": {
                                    "v4": [
                                        {"ip_address": "10.128.192.124", "netmask": "255.255.0.0", "gateway": "nil", "type": "private"},
                                        {"ip_address": "104.236.32.182", "netmask": "255.255.192.0", "gateway": "104.236.0.1", "type": "public"}
                                    ],
                                    "v6": [{"ip_address": "2604:a880:0:1010::18a:a001", "netmask": 64, "gateway": "2604:a880:0:1010::1", "type": "public"}]
                                },
                                "region": {"name": "New York 3", "slug": "nyc3"},
                                "tags": ["monitor", "validator"],
                                "vpc_uuid": "f9b0769c-e118-42fb-a0c4-fed15ef69662"
                            }, {
                                "id": 3164445, "name": "building", "status": "new",
                                "image": {"slug": "ubuntu-16-04-x64"}, "region": {"slug": "nyc3"},
                                "networks": {"v4": [], "v6": []}, "tags": [], "features": []
                            }],
                            "links": {"pages": {"next": "https://api.digitalocean.com/v2/droplets?page=2", "last": "https://api.digitalocean.com/v2/droplets?page=2"}},
                            "meta": {"total": 3}
                        })),
                        Some("2") => json(200, json!({
                            "droplets": [{
                                "id": 3164450, "name": "validator-2", "status": "off",
                                "features": [], "image": {"name": "Debian 12", "slug": null},
                                "size_slug": "s-2vcpu-4gb",
                                "networks": {"v4": [{"ip_address": "104.131.186.241", "netmask": "255.255.240.0", "gateway": "104.131.176.1", "type": "public"}], "v6": []},
                                "region": {"slug": "ams3"}, "tags": null, "vpc_uuid": null
                            }],
                            "links": {"pages": {"first": "https://api.digitalocean.com/v2/droplets?page=1", "prev": "https://api.digitalocean.com/v2/droplets?page=1"}},
                            "meta": {"total": 3}
                        })),
                        Some(other) => panic!("page {other} was not offered"),
                    }
                }
            }),
        ))
        .await;
        let config: DigitalOceanSdConfig =
            yaml::from_str("port: 9100\nauthorization:\n  credentials: do-token\n").unwrap();
        config.validate().unwrap();
        let sd = DigitalOcean::with_endpoint(0, &config, &base).unwrap();
        assert_eq!(sd.name(), "digitalocean_sd_configs[0]");
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "104.236.32.182:9100",
                    &[
                        ("__meta_digitalocean_droplet_id", "3164444"),
                        ("__meta_digitalocean_droplet_name", "validator-1"),
                        ("__meta_digitalocean_features", ",backups,ipv6,virtio,"),
                        ("__meta_digitalocean_image", "ubuntu-16-04-x64"),
                        ("__meta_digitalocean_image_name", "14.04 x64"),
                        ("__meta_digitalocean_private_ipv4", "10.128.192.124"),
                        ("__meta_digitalocean_public_ipv4", "104.236.32.182"),
                        (
                            "__meta_digitalocean_public_ipv6",
                            "2604:a880:0:1010::18a:a001"
                        ),
                        ("__meta_digitalocean_region", "nyc3"),
                        ("__meta_digitalocean_size", "s-1vcpu-1gb"),
                        ("__meta_digitalocean_status", "active"),
                        ("__meta_digitalocean_tags", ",monitor,validator,"),
                        (
                            "__meta_digitalocean_vpc",
                            "f9b0769c-e118-42fb-a0c4-fed15ef69662"
                        ),
                    ],
                ),
                // The droplet without IPv4 networks is left out, as Prometheus leaves it.
                group(
                    "104.131.186.241:9100",
                    &[
                        ("__meta_digitalocean_droplet_id", "3164450"),
                        ("__meta_digitalocean_droplet_name", "validator-2"),
                        ("__meta_digitalocean_image", ""),
                        ("__meta_digitalocean_image_name", "Debian 12"),
                        ("__meta_digitalocean_private_ipv4", ""),
                        ("__meta_digitalocean_public_ipv4", "104.131.186.241"),
                        ("__meta_digitalocean_public_ipv6", ""),
                        ("__meta_digitalocean_region", "ams3"),
                        ("__meta_digitalocean_size", "s-2vcpu-4gb"),
                        ("__meta_digitalocean_status", "off"),
                        ("__meta_digitalocean_vpc", ""),
                    ],
                ),
            ]
        );
        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("page 1") && e.contains("503"), "{e}");
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    digitalocean_sd_configs:\n      - bearer_token: x\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.digitalocean_sd_configs[0];
        assert_eq!((sd.port, sd.refresh_interval), (80, Duration(60_000)));
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    digitalocean_sd_configs:\n      - bearer_token: x\n        bearer_token_file: y\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("digitalocean_sd_configs[0]: bearer_token and bearer_token_file"),
            "{e}"
        );
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    digitalocean_sd_configs:\n      - role: droplet\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(e.message.contains("role"), "an unknown key: {e}");
    }
}
