//! `hetzner_sd_configs`: Hetzner's servers, as Prometheus's Hetzner discovery finds them:
//! cloud servers (`role: hcloud`) through the Hetzner Cloud API, dedicated servers
//! (`role: robot`) through the Robot web service.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{
    ApiClient, Nullable, Provider, Refresh, get_json, join_host_port, sanitize_label_name, target,
};
use crate::config::{Duration, StaticConfig, http_client};

/// Where Prometheus reaches the Hetzner Cloud API (hcloud-go's default endpoint).
const HCLOUD_ENDPOINT: &str = "https://api.hetzner.cloud/v1";
/// Where Prometheus reaches the Robot web service; it has no setting for it.
const ROBOT_ENDPOINT: &str = "https://robot-ws.your-server.de";
/// The page size hcloud-go's `All` asks for.
const HCLOUD_PER_PAGE: u32 = 50;

http_client! {
    /// `hetzner_sd_configs`: Hetzner Cloud or Robot servers. The API token (cloud) goes in
    /// `authorization`, the web service user (Robot) in `basic_auth`.
    pub struct HetznerSdConfig {
        /// `hcloud` or `robot`; required.
        #[serde(default)]
        pub role: Option<HetznerRole>,
        /// The port of the targets (default 80).
        #[serde(default = "default_port")]
        pub port: u16,
        /// How often to ask again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

/// Which of Hetzner's products to discover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HetznerRole {
    /// Cloud servers (`hcloud`).
    Hcloud,
    /// Dedicated servers (`robot`).
    Robot,
}

impl<'de> Deserialize<'de> for HetznerRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "hcloud" => Ok(Self::Hcloud),
            "robot" => Ok(Self::Robot),
            other => Err(serde::de::Error::custom(format!(
                "unknown role {other:?}; use hcloud or robot"
            ))),
        }
    }
}

impl HetznerRole {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hcloud => "hcloud",
            Self::Robot => "robot",
        }
    }
}

fn default_port() -> u16 {
    80
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

impl HetznerSdConfig {
    /// Checks the section as Prometheus does: a role is required.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.role.is_none() {
            return Err("role missing (one of: robot, hcloud)".into());
        }
        self.http.check()
    }
}

/// A Hetzner discoverer: one role, one endpoint.
pub(super) struct Hetzner {
    name: String,
    role: HetznerRole,
    port: u16,
    interval: StdDuration,
    client: ApiClient,
    endpoint: String,
}

impl Hetzner {
    pub(super) fn new(n: usize, config: &HetznerSdConfig) -> Result<Self, String> {
        let endpoint = match config.role {
            Some(HetznerRole::Robot) => ROBOT_ENDPOINT,
            _ => HCLOUD_ENDPOINT,
        };
        Self::with_endpoint(n, config, endpoint)
    }

    /// A discoverer asking `endpoint` (the API's base URL) instead of Hetzner's.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &HetznerSdConfig,
        endpoint: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            name: format!("hetzner_sd_configs[{n}]"),
            role: config
                .role
                .ok_or("hetzner_sd_configs: role missing (one of: robot, hcloud)")?,
            port: config.port,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    /// Every page of a Hetzner Cloud list, as hcloud-go's `All` reads it: pages of 50,
    /// following `meta.pagination.next_page` until there is none.
    async fn hcloud_all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, String> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let url = format!(
                "{}/{path}?page={page}&per_page={HCLOUD_PER_PAGE}",
                self.endpoint
            );
            let answer: HcloudPage<T> = get_json(self.client.get(&url).await?, &url).await?;
            all.extend(answer.items);
            match answer.meta.pagination.and_then(|p| p.next_page) {
                Some(next) if next != 0 => page = next,
                _ => return Ok(all),
            }
        }
    }

    async fn refresh_hcloud(&self) -> Result<Vec<StaticConfig>, String> {
        let servers: Vec<HcloudServer> = self.hcloud_all("servers").await?;
        let networks: Vec<HcloudNetwork> = self.hcloud_all("networks").await?;
        let mut out = Vec::with_capacity(servers.len());
        for server in servers {
            let public_ipv4 = go_ip(&server.public_net.ipv4.ip);
            let mut labels = BTreeMap::from([
                ("__meta_hetzner_role", "hcloud".to_owned()),
                ("__meta_hetzner_server_id", server.id.to_string()),
                ("__meta_hetzner_server_name", server.name.0.clone()),
                (
                    "__meta_hetzner_datacenter",
                    server.datacenter.name.0.clone(),
                ),
                ("__meta_hetzner_public_ipv4", public_ipv4.clone()),
                (
                    "__meta_hetzner_public_ipv6_network",
                    go_network(&server.public_net.ipv6.ip),
                ),
                ("__meta_hetzner_server_status", server.status.0.clone()),
                (
                    "__meta_hetzner_hcloud_datacenter_location",
                    server.datacenter.location.name.0.clone(),
                ),
                (
                    "__meta_hetzner_hcloud_datacenter_location_network_zone",
                    server.datacenter.location.network_zone.0.clone(),
                ),
                (
                    "__meta_hetzner_hcloud_server_type",
                    server.server_type.name.0.clone(),
                ),
                (
                    "__meta_hetzner_hcloud_cpu_cores",
                    server.server_type.cores.to_string(),
                ),
                (
                    "__meta_hetzner_hcloud_cpu_type",
                    server.server_type.cpu_type.0.clone(),
                ),
                // hcloud-go reads memory as a float; Prometheus prints its integer part.
                (
                    "__meta_hetzner_hcloud_memory_size_gb",
                    (server.server_type.memory.trunc() as i64).to_string(),
                ),
                (
                    "__meta_hetzner_hcloud_disk_size_gb",
                    server.server_type.disk.to_string(),
                ),
            ])
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<String, String>>();
            if let Some(image) = &*server.image {
                for (key, value) in [
                    ("image_name", &image.name),
                    ("image_description", &image.description),
                    ("image_os_version", &image.os_version),
                    ("image_os_flavor", &image.os_flavor),
                ] {
                    labels.insert(format!("__meta_hetzner_hcloud_{key}"), value.0.clone());
                }
            }
            for private in server.private_net.iter() {
                for network in networks.iter().filter(|n| n.id == private.network) {
                    labels.insert(
                        format!(
                            "__meta_hetzner_hcloud_private_ipv4_{}",
                            sanitize_label_name(&network.name)
                        ),
                        go_ip(&private.ip),
                    );
                }
            }
            for (key, value) in server.labels.iter() {
                let key = sanitize_label_name(key);
                labels.insert(
                    format!("__meta_hetzner_hcloud_labelpresent_{key}"),
                    "true".into(),
                );
                labels.insert(format!("__meta_hetzner_hcloud_label_{key}"), value.clone());
            }
            out.push(target(join_host_port(&public_ipv4, self.port), labels));
        }
        Ok(out)
    }

    async fn refresh_robot(&self) -> Result<Vec<StaticConfig>, String> {
        let url = format!("{}/server", self.endpoint);
        let servers: Vec<RobotEntry> = get_json(self.client.get(&url).await?, &url).await?;
        let mut out = Vec::with_capacity(servers.len());
        for RobotEntry { server } in servers {
            let mut labels: BTreeMap<String, String> = [
                ("__meta_hetzner_role", "robot".to_owned()),
                ("__meta_hetzner_server_id", server.server_number.to_string()),
                ("__meta_hetzner_server_name", server.server_name.0.clone()),
                ("__meta_hetzner_datacenter", server.dc.to_lowercase()),
                ("__meta_hetzner_public_ipv4", server.server_ip.0.clone()),
                ("__meta_hetzner_server_status", server.status.0.clone()),
                ("__meta_hetzner_robot_product", server.product.0.clone()),
                (
                    "__meta_hetzner_robot_cancelled",
                    server.cancelled.to_string(),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            // The first subnet that is not IPv4 is the server's IPv6 network.
            if let Some(subnet) = server.subnet.iter().find(|s| !is_ipv4(&s.ip)) {
                labels.insert(
                    "__meta_hetzner_public_ipv6_network".into(),
                    format!("{}/{}", subnet.ip.0, subnet.mask.0),
                );
            }
            out.push(target(join_host_port(&server.server_ip, self.port), labels));
        }
        Ok(out)
    }
}

impl Provider for Hetzner {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            match self.role {
                HetznerRole::Hcloud => self.refresh_hcloud().await,
                HetznerRole::Robot => self.refresh_robot().await,
            }
            .map_err(|e| format!("role {}: {e}", self.role.as_str()))
        })
    }
}

/// An address as Prometheus prints hcloud-go's parsed `net.IP`: `<nil>` when there is
/// none (a server without a public IPv4), as Go prints a nil IP.
fn go_ip(text: &str) -> String {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        Ok(ip) => ip.to_string(),
        Err(_) => "<nil>".into(),
    }
}

/// A CIDR block as Prometheus prints hcloud-go's parsed `*net.IPNet`: the network address
/// (host bits cleared) and prefix, or `<nil>` when there is none.
fn go_network(text: &str) -> String {
    let parsed = text.split_once('/').and_then(|(ip, prefix)| {
        let prefix: u32 = prefix.parse().ok()?;
        match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                Some(format!(
                    "{}/{prefix}",
                    std::net::Ipv4Addr::from(u32::from(v4) & mask)
                ))
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                Some(format!(
                    "{}/{prefix}",
                    std::net::Ipv6Addr::from(u128::from(v6) & mask)
                ))
            }
            _ => None,
        }
    });
    parsed.unwrap_or_else(|| "<nil>".into())
}

/// Whether Go's `net.ParseIP(text).To4()` is an address: IPv4, or IPv4 mapped in IPv6.
fn is_ipv4(text: &str) -> bool {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => true,
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_some(),
        Err(_) => false,
    }
}

/// A page of a Hetzner Cloud list: the items under the resource's name, and `meta`.
#[derive(Deserialize)]
struct HcloudPage<T> {
    #[serde(alias = "servers", alias = "networks", default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    meta: HcloudMeta,
}

#[derive(Default, Deserialize)]
struct HcloudMeta {
    #[serde(default)]
    pagination: Option<HcloudPagination>,
}

#[derive(Deserialize)]
struct HcloudPagination {
    #[serde(default)]
    next_page: Option<u64>,
}

/// The fields of a Hetzner Cloud server that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudServer {
    id: u64,
    name: Nullable<String>,
    status: Nullable<String>,
    public_net: HcloudPublicNet,
    private_net: Nullable<Vec<HcloudPrivateNet>>,
    server_type: HcloudServerType,
    datacenter: HcloudDatacenter,
    image: Nullable<Option<HcloudImage>>,
    labels: Nullable<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudPublicNet {
    ipv4: Nullable<HcloudAddress>,
    ipv6: Nullable<HcloudAddress>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudAddress {
    ip: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudPrivateNet {
    network: u64,
    ip: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudServerType {
    name: Nullable<String>,
    cores: i64,
    cpu_type: Nullable<String>,
    memory: f64,
    disk: i64,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudDatacenter {
    name: Nullable<String>,
    location: HcloudLocation,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudLocation {
    name: Nullable<String>,
    network_zone: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudImage {
    name: Nullable<String>,
    description: Nullable<String>,
    os_version: Nullable<String>,
    os_flavor: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct HcloudNetwork {
    id: u64,
    name: Nullable<String>,
}

/// One entry of Robot's `GET /server`: the server, wrapped.
#[derive(Deserialize)]
struct RobotEntry {
    server: RobotServer,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RobotServer {
    server_ip: Nullable<String>,
    server_number: i64,
    server_name: Nullable<String>,
    dc: Nullable<String>,
    status: Nullable<String>,
    product: Nullable<String>,
    cancelled: bool,
    subnet: Nullable<Vec<RobotSubnet>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RobotSubnet {
    ip: Nullable<String>,
    mask: Nullable<String>,
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

    fn config(text: &str) -> HetznerSdConfig {
        let config: HetznerSdConfig = yaml::from_str(text).unwrap();
        config.validate().unwrap();
        config
    }

    /// A fake Hetzner Cloud API: servers on two pages of the documented list answer,
    /// networks on one; it checks the token and answers 500 once `fail` is set.
    async fn hcloud_api(fail: Arc<Mutex<bool>>) -> String {
        let server_pages = move |Query(q): Query<HashMap<String, String>>, h: HeaderMap| {
            let fail = *fail.lock().unwrap();
            async move {
                assert_eq!(h["authorization"], "Bearer hcloud-token");
                assert_eq!(q["per_page"], "50");
                if fail {
                    return json(500, json!({"error": {"code": "server_error"}}));
                }
                match q["page"].as_str() {
                    "1" => json(
                        200,
                        json!({
                            "servers": [{
                                "id": 42, "name": "validator-1", "status": "running",
                                "public_net": {
                                    "ipv4": {"id": 1, "ip": "1.2.3.4", "blocked": false, "dns_ptr": "v1.example.com"},
                                    "ipv6": {"id": 2, "ip": "2001:db8:0:3df1::/64", "blocked": false, "dns_ptr": []},
                                    "floating_ips": [], "firewalls": []
                                },
                                "private_net": [{"network": 4711, "ip": "10.0.0.2", "alias_ips": [], "mac_address": "86:00:ff:2a:7d:e1"}],
                                "server_type": {"id": 1, "name": "cpx11", "cores": 2, "cpu_type": "shared", "memory": 2.0, "disk": 40},
                                "datacenter": {"id": 1, "name": "fsn1-dc14", "location": {"id": 1, "name": "fsn1", "network_zone": "eu-central"}},
                                "image": {"id": 4711, "name": "ubuntu-22.04", "description": "Ubuntu 22.04", "os_flavor": "ubuntu", "os_version": "22.04"},
                                "labels": {"chain": "main", "node-role": "validator"}
                            }],
                            "meta": {"pagination": {"page": 1, "per_page": 50, "previous_page": null, "next_page": 2, "last_page": 2, "total_entries": 2}}
                        }),
                    ),
                    "2" => json(
                        200,
                        json!({
                            "servers": [{
                                "id": 43, "name": "validator-2", "status": "starting",
                                "public_net": {"ipv4": null, "ipv6": {"ip": "2001:db8:0:3df2::/64"}},
                                "private_net": [],
                                "server_type": {"name": "cx22", "cores": 2, "cpu_type": "shared", "memory": 0.5, "disk": 20},
                                "datacenter": {"name": "nbg1-dc3", "location": {"name": "nbg1", "network_zone": "eu-central"}},
                                "image": null,
                                "labels": {}
                            }],
                            "meta": {"pagination": {"page": 2, "per_page": 50, "previous_page": 1, "next_page": null, "last_page": 2, "total_entries": 2}}
                        }),
                    ),
                    other => panic!("page {other} was not offered"),
                }
            }
        };
        let networks = |Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!(q["page"], "1");
            json(
                200,
                json!({
                    "networks": [
                        {"id": 4711, "name": "validators-net", "ip_range": "10.0.0.0/16"},
                        {"id": 4712, "name": "other", "ip_range": "10.1.0.0/16"}
                    ],
                    "meta": {"pagination": {"page": 1, "per_page": 50, "next_page": null}}
                }),
            )
        };
        fake_api(
            axum::Router::new()
                .route("/v1/servers", get(server_pages))
                .route("/v1/networks", get(networks)),
        )
        .await
    }

    #[tokio::test]
    async fn cloud_servers_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let base = hcloud_api(fail.clone()).await;
        let config =
            config("role: hcloud\nport: 9100\nauthorization:\n  credentials: hcloud-token\n");
        let sd = Hetzner::with_endpoint(0, &config, &format!("{base}/v1")).unwrap();
        assert_eq!(sd.name(), "hetzner_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(60));
        let groups = sd.refresh().await.unwrap();
        assert_eq!(
            groups,
            vec![
                group(
                    "1.2.3.4:9100",
                    &[
                        ("__meta_hetzner_datacenter", "fsn1-dc14"),
                        ("__meta_hetzner_hcloud_cpu_cores", "2"),
                        ("__meta_hetzner_hcloud_cpu_type", "shared"),
                        ("__meta_hetzner_hcloud_datacenter_location", "fsn1"),
                        (
                            "__meta_hetzner_hcloud_datacenter_location_network_zone",
                            "eu-central"
                        ),
                        ("__meta_hetzner_hcloud_disk_size_gb", "40"),
                        ("__meta_hetzner_hcloud_image_description", "Ubuntu 22.04"),
                        ("__meta_hetzner_hcloud_image_name", "ubuntu-22.04"),
                        ("__meta_hetzner_hcloud_image_os_flavor", "ubuntu"),
                        ("__meta_hetzner_hcloud_image_os_version", "22.04"),
                        ("__meta_hetzner_hcloud_label_chain", "main"),
                        ("__meta_hetzner_hcloud_label_node_role", "validator"),
                        ("__meta_hetzner_hcloud_labelpresent_chain", "true"),
                        ("__meta_hetzner_hcloud_labelpresent_node_role", "true"),
                        ("__meta_hetzner_hcloud_memory_size_gb", "2"),
                        (
                            "__meta_hetzner_hcloud_private_ipv4_validators_net",
                            "10.0.0.2"
                        ),
                        ("__meta_hetzner_hcloud_server_type", "cpx11"),
                        ("__meta_hetzner_public_ipv4", "1.2.3.4"),
                        ("__meta_hetzner_public_ipv6_network", "2001:db8:0:3df1::/64"),
                        ("__meta_hetzner_role", "hcloud"),
                        ("__meta_hetzner_server_id", "42"),
                        ("__meta_hetzner_server_name", "validator-1"),
                        ("__meta_hetzner_server_status", "running"),
                    ],
                ),
                // No public IPv4 and no image: Prometheus 2.42 prints Go's nil IP.
                group(
                    "<nil>:9100",
                    &[
                        ("__meta_hetzner_datacenter", "nbg1-dc3"),
                        ("__meta_hetzner_hcloud_cpu_cores", "2"),
                        ("__meta_hetzner_hcloud_cpu_type", "shared"),
                        ("__meta_hetzner_hcloud_datacenter_location", "nbg1"),
                        (
                            "__meta_hetzner_hcloud_datacenter_location_network_zone",
                            "eu-central"
                        ),
                        ("__meta_hetzner_hcloud_disk_size_gb", "20"),
                        ("__meta_hetzner_hcloud_memory_size_gb", "0"),
                        ("__meta_hetzner_hcloud_server_type", "cx22"),
                        ("__meta_hetzner_public_ipv4", "<nil>"),
                        ("__meta_hetzner_public_ipv6_network", "2001:db8:0:3df2::/64"),
                        ("__meta_hetzner_role", "hcloud"),
                        ("__meta_hetzner_server_id", "43"),
                        ("__meta_hetzner_server_name", "validator-2"),
                        ("__meta_hetzner_server_status", "starting"),
                    ],
                ),
            ]
        );
        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("role hcloud") && e.contains("500"), "{e}");
    }

    #[tokio::test]
    async fn dedicated_servers_come_from_robot() {
        let status = Arc::new(Mutex::new(200));
        let answer = status.clone();
        let base = fake_api(axum::Router::new().route(
            "/server",
            get(move |h: HeaderMap| {
                let status = *answer.lock().unwrap();
                async move {
                    // robot-user:robot-pass
                    assert_eq!(h["authorization"], "Basic cm9ib3QtdXNlcjpyb2JvdC1wYXNz");
                    json(
                        status,
                        json!([
                            {"server": {
                                "server_ip": "123.123.123.123", "server_ipv6_net": "2a01:f48:111:4221::",
                                "server_number": 321, "server_name": "server1", "product": "DS 3000",
                                "dc": "NBG1-DC1", "traffic": "5 TB", "status": "ready", "cancelled": false,
                                "paid_until": "2010-09-02",
                                "ip": ["123.123.123.123"],
                                "subnet": [
                                    {"ip": "123.123.123.0", "mask": "29"},
                                    {"ip": "2a01:4f8:111:4221::", "mask": "64"}
                                ]
                            }},
                            {"server": {
                                "server_ip": "123.123.123.124", "server_number": 421,
                                "server_name": "server2", "product": "X5", "dc": "FSN1-DC10",
                                "status": "in process", "cancelled": true, "subnet": null
                            }}
                        ]),
                    )
                }
            }),
        ))
        .await;
        let config =
            config("role: robot\nbasic_auth:\n  username: robot-user\n  password: robot-pass\n");
        let sd = Hetzner::with_endpoint(1, &config, &base).unwrap();
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "123.123.123.123:80",
                    &[
                        ("__meta_hetzner_datacenter", "nbg1-dc1"),
                        ("__meta_hetzner_public_ipv4", "123.123.123.123"),
                        (
                            "__meta_hetzner_public_ipv6_network",
                            "2a01:4f8:111:4221::/64"
                        ),
                        ("__meta_hetzner_robot_cancelled", "false"),
                        ("__meta_hetzner_robot_product", "DS 3000"),
                        ("__meta_hetzner_role", "robot"),
                        ("__meta_hetzner_server_id", "321"),
                        ("__meta_hetzner_server_name", "server1"),
                        ("__meta_hetzner_server_status", "ready"),
                    ],
                ),
                group(
                    "123.123.123.124:80",
                    &[
                        ("__meta_hetzner_datacenter", "fsn1-dc10"),
                        ("__meta_hetzner_public_ipv4", "123.123.123.124"),
                        ("__meta_hetzner_robot_cancelled", "true"),
                        ("__meta_hetzner_robot_product", "X5"),
                        ("__meta_hetzner_role", "robot"),
                        ("__meta_hetzner_server_id", "421"),
                        ("__meta_hetzner_server_name", "server2"),
                        ("__meta_hetzner_server_status", "in process"),
                    ],
                ),
            ]
        );
        *status.lock().unwrap() = 401;
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("role robot") && e.contains("401"), "{e}");
    }

    #[test]
    fn the_role_is_checked_as_prometheus_checks_it() {
        // config/testdata/hetzner_role.bad.yml
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    hetzner_sd_configs:\n      - role: invalid\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(e.message.contains("unknown role \"invalid\""), "{e}");
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    hetzner_sd_configs:\n      - port: 9100\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            e.message
                .ends_with("hetzner_sd_configs[0]: role missing (one of: robot, hcloud)"),
            "{e}"
        );
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    hetzner_sd_configs:\n      - role: hcloud\n        refresh_interval: 30s\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.hetzner_sd_configs[0];
        assert_eq!(sd.role, Some(HetznerRole::Hcloud));
        assert_eq!((sd.port, sd.refresh_interval), (80, Duration(30_000)));
    }
}
