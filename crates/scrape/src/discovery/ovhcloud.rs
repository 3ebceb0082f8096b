//! `ovhcloud_sd_configs`: OVHcloud's VPS (`service: vps`) or dedicated servers (`service:
//! dedicated_server`), as Prometheus's OVHcloud discovery finds them through OVH's API:
//! the list of names, then each server's details and IP addresses.
//!
//! Each request is signed as OVH's API requires and OVH's Go client signs it: the
//! application key in `X-Ovh-Application`, the consumer key in `X-Ovh-Consumer`, a
//! timestamp of the API's clock (asked of `/auth/time` once a refresh, and kept as an
//! offset from ours) in `X-Ovh-Timestamp`, and in `X-Ovh-Signature` `$1$` and the SHA-1,
//! in hex, of `secret+consumer key+method+URL+body+timestamp`.
//!
//! A server is a target at its last IPv4 address, or else its last IPv6 one, with no port
//! (the scrape adds the scheme's), and `instance` set to its name. A server whose details
//! or addresses cannot be had is left out, and logged, as Prometheus leaves it out.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha1::{Digest, Sha1};

use super::{ApiClient, Nullable, Provider, Refresh, read_json, target};
use crate::config::{Duration, HttpClientConfig, StaticConfig};

/// How long a request may take: the timeout OVH's Go client sets.
const TIMEOUT: StdDuration = StdDuration::from_secs(180);

/// The API endpoints OVH's Go client knows by name.
const ENDPOINTS: [(&str, &str); 7] = [
    ("ovh-eu", "https://eu.api.ovh.com/1.0"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0"),
];

/// `ovhcloud_sd_configs`: the VPS or dedicated servers of an OVHcloud account. (It has no
/// HTTP client settings: Prometheus's has none.)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvhcloudSdConfig {
    /// The API: a name OVH's client knows (default `ovh-eu`) or a URL (one with a `/`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// The application key; required.
    #[serde(default)]
    pub application_key: String,
    /// The application secret; required.
    #[serde(default)]
    pub application_secret: String,
    /// The consumer key; required.
    #[serde(default)]
    pub consumer_key: String,
    /// `vps` or `dedicated_server`; required.
    #[serde(default)]
    pub service: String,
    /// How often to ask again (default 1m).
    #[serde(default = "super::default_refresh_interval")]
    pub refresh_interval: Duration,
}

fn default_endpoint() -> String {
    "ovh-eu".into()
}

impl OvhcloudSdConfig {
    /// Checks the section as Prometheus does (the endpoint's name is checked when the
    /// discoverer is made).
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (value, what) in [
            (&self.endpoint, "endpoint"),
            (&self.application_key, "application key"),
            (&self.application_secret, "application secret"),
            (&self.consumer_key, "consumer key"),
        ] {
            if value.is_empty() {
                return Err(format!("{what} can not be empty"));
            }
        }
        Service::of(&self.service).map(|_| ())
    }
}

/// Which of OVHcloud's products to discover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Vps,
    DedicatedServer,
}

impl Service {
    fn of(name: &str) -> Result<Self, String> {
        match name {
            "vps" => Ok(Self::Vps),
            "dedicated_server" => Ok(Self::DedicatedServer),
            other => Err(format!(
                "unknown service: {other}; use vps or dedicated_server"
            )),
        }
    }

    /// Where the API lists the service's servers.
    fn path(self) -> &'static str {
        match self {
            Self::Vps => "/vps",
            Self::DedicatedServer => "/dedicated/server",
        }
    }
}

/// An OVHcloud discoverer.
pub(super) struct Ovhcloud {
    name: String,
    service: Service,
    interval: StdDuration,
    client: ApiClient,
    /// The API's base URL, as the signature writes it.
    endpoint: String,
    application_key: String,
    application_secret: String,
    consumer_key: String,
}

impl Ovhcloud {
    /// The discoverer of a section; it cannot be made of an endpoint name OVH's client
    /// does not know, which Prometheus reports at each refresh.
    pub(super) fn new(n: usize, config: &OvhcloudSdConfig) -> Result<Self, String> {
        let endpoint = if config.endpoint.contains('/') {
            config.endpoint.clone()
        } else {
            ENDPOINTS
                .iter()
                .find(|(name, _)| *name == config.endpoint)
                .map(|(_, url)| (*url).to_owned())
                .ok_or_else(|| {
                    format!(
                        "unknown endpoint '{}', consider checking 'Endpoints' list of using an URL",
                        config.endpoint
                    )
                })?
        };
        // OVH's Go client: Go's default client, which follows redirects and speaks HTTP/2.
        let http = HttpClientConfig {
            follow_redirects: true,
            enable_http2: true,
            ..HttpClientConfig::default()
        };
        Ok(Self {
            name: format!("ovhcloud_sd_configs[{n}]"),
            service: Service::of(&config.service)?,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&http, TIMEOUT)?,
            endpoint,
            application_key: config.application_key.clone(),
            application_secret: config.application_secret.clone(),
            consumer_key: config.consumer_key.clone(),
        })
    }

    /// A GET of `url`, with the application key and JSON asked for (unsigned).
    fn request(&self, url: &str) -> reqwest::RequestBuilder {
        self.client
            .unsigned_get(url)
            .header("X-Ovh-Application", &self.application_key)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// The API's answer to a GET of `path` (below the endpoint); `offset` is how far our
    /// clock is ahead of the API's, in nanoseconds, or none for an unsigned request.
    async fn get<T: DeserializeOwned + Default>(
        &self,
        path: &str,
        offset: Option<i128>,
    ) -> Result<T, String> {
        let url = format!("{}{path}", self.endpoint);
        let mut request = self.request(&url);
        if let Some(offset) = offset {
            let timestamp = (unix_nanos(SystemTime::now()) - offset).div_euclid(1_000_000_000);
            request = request
                .header("X-Ovh-Timestamp", timestamp.to_string())
                .header("X-Ovh-Consumer", &self.consumer_key)
                .header(
                    "X-Ovh-Signature",
                    signature(
                        &self.application_secret,
                        &self.consumer_key,
                        &url,
                        timestamp,
                    ),
                );
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        // As OVH's client, a success without a body leaves the answer empty.
        if response.status().is_success() && response.content_length() == Some(0) {
            return Ok(T::default());
        }
        read_json(response, &url).await
    }

    /// How far our clock is ahead of the API's, in nanoseconds.
    async fn clock_offset(&self) -> Result<i128, String> {
        let server: i64 = self.get("/auth/time", None).await?;
        Ok(unix_nanos(SystemTime::now()) - i128::from(server) * 1_000_000_000)
    }

    /// A server's addresses, as Prometheus parses them: addresses and `/32` blocks, the
    /// unspecified address left out; none at all is an error.
    async fn addresses(&self, server_path: &str, offset: i128) -> Result<Vec<IpAddr>, String> {
        let list: Vec<Nullable<String>> = self
            .get(&format!("{server_path}/ips"), Some(offset))
            .await?;
        parse_ips(list.iter().map(|ip| ip.as_str()))
    }

    /// One server's labels, or why it has none.
    async fn server(&self, name: &str, offset: i128) -> Result<StaticConfig, String> {
        let path = format!("{}/{}", self.service.path(), query_escape(name));
        let (prefix, mut labels) = match self.service {
            Service::Vps => {
                let vps: Vps = self.get(&path, Some(offset)).await?;
                ("__meta_ovhcloud_vps_", vps.labels())
            }
            Service::DedicatedServer => {
                let server: DedicatedServer = self.get(&path, Some(offset)).await?;
                ("__meta_ovhcloud_dedicated_server_", server.labels())
            }
        };
        let ips = self.addresses(&path, offset).await?;
        // The last address of each version.
        let ipv4 = ips.iter().rfind(|ip| ip.is_ipv4());
        let ipv6 = ips.iter().rfind(|ip| ip.is_ipv6());
        let text = |ip: Option<&IpAddr>| ip.map(IpAddr::to_string).unwrap_or_default();
        let address = text(ipv4.or(ipv6));
        labels.insert("ipv4", text(ipv4));
        labels.insert("ipv6", text(ipv6));
        let instance = labels.get("name").cloned().unwrap_or_default();
        let mut labels: BTreeMap<String, String> = labels
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect();
        labels.insert("instance".into(), instance);
        Ok(target(address, labels))
    }
}

impl Provider for Ovhcloud {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            // OVH's client asks the API's time before its first signed request.
            let offset = self.clock_offset().await?;
            let names: Vec<Nullable<String>> = self.get(self.service.path(), Some(offset)).await?;
            let mut out = Vec::with_capacity(names.len());
            for name in names.iter() {
                match self.server(name, offset).await {
                    Ok(target) => out.push(target),
                    Err(error) => tracing::warn!(
                        provider = %self.name, server = %name.0, %error,
                        "could not get the server's details; it is left out"
                    ),
                }
            }
            Ok(out)
        })
    }
}

/// Nanoseconds since the Unix epoch (negative before it).
fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The `X-Ovh-Signature` of a GET of `url` (without a body) at `timestamp`.
fn signature(secret: &str, consumer_key: &str, url: &str, timestamp: i128) -> String {
    let digest = Sha1::digest(format!("{secret}+{consumer_key}+GET+{url}++{timestamp}"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("$1${hex}")
}

/// `name` escaped as Go's `url.QueryEscape` escapes it for the server's path: letters,
/// digits and `-_.~` kept, a space as `+`, anything else as `%XX`.
fn query_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
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

/// A server's addresses, as Prometheus's `parseIPList` reads the API's list: each an
/// address or a block (only a `/32` block counts, as its address, whatever the version),
/// the unspecified address left out. Anything else, or nothing left, is an error.
fn parse_ips<'a>(list: impl Iterator<Item = &'a str>) -> Result<Vec<IpAddr>, String> {
    let bad = || "could not parse IP addresses from list".to_owned();
    let mut out = Vec::new();
    for text in list {
        let ip = match text.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let (ip, bits) = text.rsplit_once('/').ok_or_else(bad)?;
                let ip: IpAddr = ip.parse().map_err(|_| bad())?;
                // Go's `Atoi`: a sign and leading zeros are allowed.
                let bits: i64 = bits.parse().map_err(|_| bad())?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if !(0..=max).contains(&bits) {
                    return Err(bad());
                }
                if bits != 32 {
                    continue;
                }
                ip
            }
        };
        if !ip.is_unspecified() {
            out.push(ip);
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The fields of a VPS that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Vps {
    zone: Nullable<String>,
    model: Nullable<VpsModel>,
    display_name: Nullable<String>,
    cluster: Nullable<String>,
    state: Nullable<String>,
    name: Nullable<String>,
    netboot_mode: Nullable<String>,
    memory_limit: Nullable<i64>,
    offer_type: Nullable<String>,
    vcore: Nullable<i64>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct VpsModel {
    /// Sic: the API's spelling.
    #[serde(rename = "maximumAdditionnalIp")]
    maximum_additional_ip: Nullable<i64>,
    offer: Nullable<String>,
    datacenter: Nullable<Vec<String>>,
    vcore: Nullable<i64>,
    version: Nullable<String>,
    name: Nullable<String>,
    disk: Nullable<i64>,
    memory: Nullable<i64>,
}

impl Vps {
    /// The labels (without their prefix) of everything but the addresses.
    fn labels(&self) -> BTreeMap<&'static str, String> {
        let model = &self.model;
        BTreeMap::from([
            ("offer", model.offer.0.clone()),
            // Go's `%+v` of a list of strings: `[gra1 gra2]`.
            ("datacenter", format!("[{}]", model.datacenter.join(" "))),
            ("model_vcore", model.vcore.to_string()),
            (
                "maximum_additional_ip",
                model.maximum_additional_ip.to_string(),
            ),
            ("version", model.version.0.clone()),
            ("model_name", model.name.0.clone()),
            ("disk", model.disk.to_string()),
            ("memory", model.memory.to_string()),
            ("zone", self.zone.0.clone()),
            ("display_name", self.display_name.0.clone()),
            ("cluster", self.cluster.0.clone()),
            ("state", self.state.0.clone()),
            ("name", self.name.0.clone()),
            ("netboot_mode", self.netboot_mode.0.clone()),
            ("memory_limit", self.memory_limit.to_string()),
            ("offer_type", self.offer_type.0.clone()),
            ("vcore", self.vcore.to_string()),
        ])
    }
}

/// The fields of a dedicated server that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DedicatedServer {
    state: Nullable<String>,
    commercial_range: Nullable<String>,
    link_speed: Nullable<i64>,
    rack: Nullable<String>,
    no_intervention: Nullable<bool>,
    os: Nullable<String>,
    support_level: Nullable<String>,
    server_id: Nullable<i64>,
    reverse: Nullable<String>,
    datacenter: Nullable<String>,
    name: Nullable<String>,
}

impl DedicatedServer {
    /// The labels (without their prefix) of everything but the addresses.
    fn labels(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("state", self.state.0.clone()),
            ("commercial_range", self.commercial_range.0.clone()),
            ("link_speed", self.link_speed.to_string()),
            ("rack", self.rack.0.clone()),
            ("no_intervention", self.no_intervention.to_string()),
            ("os", self.os.0.clone()),
            ("support_level", self.support_level.0.clone()),
            ("server_id", self.server_id.to_string()),
            ("reverse", self.reverse.0.clone()),
            ("datacenter", self.datacenter.0.clone()),
            ("name", self.name.0.clone()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Uri};
    use serde_json::json;

    use super::super::testing::{fake_api, group, json};
    use super::*;

    const APPLICATION_KEY: &str = "TDPKJdwZwAQPwKX2";
    const APPLICATION_SECRET: &str = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk";
    const CONSUMER_KEY: &str = "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY";
    /// How far the fake API's clock is ahead of ours.
    const SKEW: i64 = 1000;

    /// A fake OVH API under `/1.0`: `/auth/time` answers its clock; every other request
    /// must be signed as OVH checks it, and is answered from `answers` by path (404 if
    /// none). It records the paths asked for.
    async fn ovh_api(
        answers: Arc<Mutex<HashMap<String, (u16, serde_json::Value)>>>,
        asked: Arc<Mutex<Vec<String>>>,
    ) -> String {
        let handler = move |uri: Uri, h: HeaderMap| {
            let answers = answers.clone();
            let asked = asked.clone();
            async move {
                assert_eq!(h["x-ovh-application"], APPLICATION_KEY);
                assert_eq!(h["accept"], "application/json");
                let now = (unix_nanos(SystemTime::now()) / 1_000_000_000) as i64 + SKEW;
                let path = uri.path().to_owned();
                asked.lock().unwrap().push(path.clone());
                if path == "/1.0/auth/time" {
                    assert!(!h.contains_key("x-ovh-signature"));
                    return json(200, json!(now));
                }
                assert_eq!(h["x-ovh-consumer"], CONSUMER_KEY);
                let timestamp: i64 = h["x-ovh-timestamp"].to_str().unwrap().parse().unwrap();
                assert!(
                    (timestamp - now).abs() <= 10,
                    "{timestamp} is not the API's time {now}"
                );
                let url = format!("http://{}{}", h["host"].to_str().unwrap(), uri);
                let expected = signature(
                    APPLICATION_SECRET,
                    CONSUMER_KEY,
                    &url,
                    i128::from(timestamp),
                );
                if h["x-ovh-signature"] != expected.as_str() {
                    return json(
                        400,
                        json!({"class": "Client::BadRequest", "message": "Invalid signature"}),
                    );
                }
                match answers.lock().unwrap().get(&path) {
                    Some((status, body)) => json(*status, body.clone()),
                    None => json(
                        404,
                        json!({"message": format!("The requested object ({path}) does not exist")}),
                    ),
                }
            }
        };
        fake_api(axum::Router::new().fallback(handler)).await
    }

    fn config(service: &str, endpoint: &str) -> OvhcloudSdConfig {
        let config: OvhcloudSdConfig = yaml::from_str(&format!(
            "service: {service}\nendpoint: {endpoint}\napplication_key: {APPLICATION_KEY}\napplication_secret: {APPLICATION_SECRET}\nconsumer_key: {CONSUMER_KEY}\n"
        ))
        .unwrap();
        config.validate().unwrap();
        config
    }

    fn answers(
        list: &[(&str, u16, serde_json::Value)],
    ) -> Arc<Mutex<HashMap<String, (u16, serde_json::Value)>>> {
        Arc::new(Mutex::new(
            list.iter()
                .map(|(path, status, body)| ((*path).to_owned(), (*status, body.clone())))
                .collect(),
        ))
    }

    #[tokio::test]
    async fn vps_are_labelled_as_prometheus_labels_them() {
        let answers = answers(&[
            (
                "/1.0/vps",
                200,
                json!(["abc", "vps-5ab1c2d3.vps.ovh.net", "gone"]),
            ),
            (
                "/1.0/vps/abc",
                200,
                json!({
                    "offerType": "ssd", "monitoringIpBlocks": [], "displayName": "validator abc",
                    "zone": "Region OpenStack: os-gra2", "cluster": "cluster_test", "slaMonitoring": false,
                    "name": "abc", "vcore": 2, "state": "running", "keymap": null, "netbootMode": "local",
                    "model": {
                        "name": "vps-value-1-2-40", "availableOptions": [], "maximumAdditionnalIp": 16,
                        "offer": "VPS abc", "disk": 40, "version": "2019v1", "vcore": 1, "memory": 2048,
                        "datacenter": ["gra1", "gra3"]
                    },
                    "memoryLimit": 4096
                }),
            ),
            (
                "/1.0/vps/abc/ips",
                200,
                json!([
                    "192.0.2.1/32",
                    "2001:0db1:0000:0000:0000:0000:0000:0001/64",
                    "198.51.100.7"
                ]),
            ),
            (
                "/1.0/vps/vps-5ab1c2d3.vps.ovh.net",
                200,
                json!({
                    "offerType": "ssd", "displayName": "vps-5ab1c2d3.vps.ovh.net", "zone": "Region OpenStack: os-bhs5",
                    "cluster": "", "name": "vps-5ab1c2d3.vps.ovh.net", "vcore": 1, "state": "stopped",
                    "keymap": null, "netbootMode": "rescue", "memoryLimit": null,
                    "model": {"name": "vps-starter-1-2-20", "maximumAdditionnalIp": 0, "offer": "VPS Starter", "disk": 20, "version": "2019v1", "vcore": 1, "memory": 2048, "datacenter": null}
                }),
            ),
            (
                "/1.0/vps/vps-5ab1c2d3.vps.ovh.net/ips",
                200,
                json!(["2001:41d0:801:1000:0:0:0:1b3", "0.0.0.0"]),
            ),
        ]);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let base = ovh_api(answers.clone(), asked.clone()).await;
        let sd = Ovhcloud::new(0, &config("vps", &format!("{base}/1.0"))).unwrap();
        assert_eq!(sd.name(), "ovhcloud_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(60));
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "198.51.100.7",
                    &[
                        ("__meta_ovhcloud_vps_cluster", "cluster_test"),
                        ("__meta_ovhcloud_vps_datacenter", "[gra1 gra3]"),
                        ("__meta_ovhcloud_vps_disk", "40"),
                        ("__meta_ovhcloud_vps_display_name", "validator abc"),
                        ("__meta_ovhcloud_vps_ipv4", "198.51.100.7"),
                        ("__meta_ovhcloud_vps_ipv6", ""),
                        ("__meta_ovhcloud_vps_maximum_additional_ip", "16"),
                        ("__meta_ovhcloud_vps_memory", "2048"),
                        ("__meta_ovhcloud_vps_memory_limit", "4096"),
                        ("__meta_ovhcloud_vps_model_name", "vps-value-1-2-40"),
                        ("__meta_ovhcloud_vps_model_vcore", "1"),
                        ("__meta_ovhcloud_vps_name", "abc"),
                        ("__meta_ovhcloud_vps_netboot_mode", "local"),
                        ("__meta_ovhcloud_vps_offer", "VPS abc"),
                        ("__meta_ovhcloud_vps_offer_type", "ssd"),
                        ("__meta_ovhcloud_vps_state", "running"),
                        ("__meta_ovhcloud_vps_vcore", "2"),
                        ("__meta_ovhcloud_vps_version", "2019v1"),
                        ("__meta_ovhcloud_vps_zone", "Region OpenStack: os-gra2"),
                        ("instance", "abc"),
                    ],
                ),
                // IPv6 only: the target is the bare address, as in Prometheus.
                group(
                    "2001:41d0:801:1000::1b3",
                    &[
                        ("__meta_ovhcloud_vps_cluster", ""),
                        ("__meta_ovhcloud_vps_datacenter", "[]"),
                        ("__meta_ovhcloud_vps_disk", "20"),
                        (
                            "__meta_ovhcloud_vps_display_name",
                            "vps-5ab1c2d3.vps.ovh.net"
                        ),
                        ("__meta_ovhcloud_vps_ipv4", ""),
                        ("__meta_ovhcloud_vps_ipv6", "2001:41d0:801:1000::1b3"),
                        ("__meta_ovhcloud_vps_maximum_additional_ip", "0"),
                        ("__meta_ovhcloud_vps_memory", "2048"),
                        ("__meta_ovhcloud_vps_memory_limit", "0"),
                        ("__meta_ovhcloud_vps_model_name", "vps-starter-1-2-20"),
                        ("__meta_ovhcloud_vps_model_vcore", "1"),
                        ("__meta_ovhcloud_vps_name", "vps-5ab1c2d3.vps.ovh.net"),
                        ("__meta_ovhcloud_vps_netboot_mode", "rescue"),
                        ("__meta_ovhcloud_vps_offer", "VPS Starter"),
                        ("__meta_ovhcloud_vps_offer_type", "ssd"),
                        ("__meta_ovhcloud_vps_state", "stopped"),
                        ("__meta_ovhcloud_vps_vcore", "1"),
                        ("__meta_ovhcloud_vps_version", "2019v1"),
                        ("__meta_ovhcloud_vps_zone", "Region OpenStack: os-bhs5"),
                        ("instance", "vps-5ab1c2d3.vps.ovh.net"),
                    ],
                ),
                // "gone" has no details (404): left out.
            ]
        );
        assert_eq!(
            *asked.lock().unwrap(),
            [
                "/1.0/auth/time",
                "/1.0/vps",
                "/1.0/vps/abc",
                "/1.0/vps/abc/ips",
                "/1.0/vps/vps-5ab1c2d3.vps.ovh.net",
                "/1.0/vps/vps-5ab1c2d3.vps.ovh.net/ips",
                "/1.0/vps/gone",
            ]
        );
        // A list the API refuses fails the refresh, naming the URL.
        answers.lock().unwrap().insert(
            "/1.0/vps".into(),
            (500, json!({"message": "Internal server error"})),
        );
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!("{base}/1.0/vps: ")) && e.contains("500"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn dedicated_servers_are_labelled_as_prometheus_labels_them() {
        let answers = answers(&[
            (
                "/1.0/dedicated/server",
                200,
                json!(["ns3012345.ip-1-2-3.eu", "ns2"]),
            ),
            (
                "/1.0/dedicated/server/ns3012345.ip-1-2-3.eu",
                200,
                json!({
                    "ip": "1.2.3.4", "newUpgradeSystem": true, "commercialRange": "Advance-1 Gen 2",
                    "rack": "G123B45", "rescueMail": null, "supportLevel": "pro", "bootId": 1,
                    "linkSpeed": 1000, "professionalUse": false, "monitoring": true, "noIntervention": false,
                    "name": "ns3012345.ip-1-2-3.eu", "rootDevice": null, "state": "ok", "datacenter": "gra3",
                    "os": "debian11_64", "reverse": "ns3012345.ip-1-2-3.eu.", "serverId": 1234567
                }),
            ),
            (
                "/1.0/dedicated/server/ns3012345.ip-1-2-3.eu/ips",
                200,
                json!([
                    "1.2.3.4/32",
                    "2001:41d0:203:3ab4::/64",
                    "2001:41d0:203:3ab4::1"
                ]),
            ),
            (
                "/1.0/dedicated/server/ns2",
                200,
                json!({"name": "ns2", "state": "hacked", "noIntervention": true}),
            ),
            // No address that counts: left out.
            (
                "/1.0/dedicated/server/ns2/ips",
                200,
                json!(["192.0.2.0/24"]),
            ),
        ]);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let base = ovh_api(answers, asked).await;
        let sd = Ovhcloud::new(1, &config("dedicated_server", &format!("{base}/1.0"))).unwrap();
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![group(
                "1.2.3.4",
                &[
                    (
                        "__meta_ovhcloud_dedicated_server_commercial_range",
                        "Advance-1 Gen 2"
                    ),
                    ("__meta_ovhcloud_dedicated_server_datacenter", "gra3"),
                    ("__meta_ovhcloud_dedicated_server_ipv4", "1.2.3.4"),
                    (
                        "__meta_ovhcloud_dedicated_server_ipv6",
                        "2001:41d0:203:3ab4::1"
                    ),
                    ("__meta_ovhcloud_dedicated_server_link_speed", "1000"),
                    (
                        "__meta_ovhcloud_dedicated_server_name",
                        "ns3012345.ip-1-2-3.eu"
                    ),
                    ("__meta_ovhcloud_dedicated_server_no_intervention", "false"),
                    ("__meta_ovhcloud_dedicated_server_os", "debian11_64"),
                    ("__meta_ovhcloud_dedicated_server_rack", "G123B45"),
                    (
                        "__meta_ovhcloud_dedicated_server_reverse",
                        "ns3012345.ip-1-2-3.eu."
                    ),
                    ("__meta_ovhcloud_dedicated_server_server_id", "1234567"),
                    ("__meta_ovhcloud_dedicated_server_state", "ok"),
                    ("__meta_ovhcloud_dedicated_server_support_level", "pro"),
                    ("instance", "ns3012345.ip-1-2-3.eu"),
                ],
            )]
        );
    }

    #[tokio::test]
    async fn without_the_api_time_nothing_is_asked() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let base = fake_api(axum::Router::new().fallback(move |uri: Uri| {
            seen.lock().unwrap().push(uri.path().to_owned());
            async { json(503, json!({"message": "Service Unavailable"})) }
        }))
        .await;
        let sd = Ovhcloud::new(0, &config("vps", &format!("{base}/1.0"))).unwrap();
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!("{base}/1.0/auth/time: ")) && e.contains("503"),
            "{e}"
        );
        assert_eq!(*asked.lock().unwrap(), ["/1.0/auth/time"]);
    }

    #[test]
    fn requests_are_signed_as_ovh_signs_them() {
        // sha1("secret+consumer+GET+url++timestamp"), computed apart.
        assert_eq!(
            signature(
                APPLICATION_SECRET,
                CONSUMER_KEY,
                "https://eu.api.ovh.com/1.0/vps",
                1_672_531_200
            ),
            "$1$e303dd24c28fa088d41589b354ba8c94e1bf2331"
        );
        assert_eq!(query_escape("ns1.ip-1-2-3.eu"), "ns1.ip-1-2-3.eu");
        assert_eq!(query_escape("a b/c+é~"), "a+b%2Fc%2B%C3%A9~");
    }

    #[test]
    fn addresses_are_parsed_as_prometheus_parses_them() {
        let check = |list: &[&str], expect: Result<&[&str], ()>| {
            let got = parse_ips(list.iter().copied())
                .map(|ips| ips.iter().map(IpAddr::to_string).collect::<Vec<_>>());
            match expect {
                Ok(ips) => assert_eq!(
                    got,
                    Ok(ips.iter().map(|s| (*s).to_owned()).collect()),
                    "{list:?}"
                ),
                Err(()) => assert_eq!(
                    got,
                    Err("could not parse IP addresses from list".into()),
                    "{list:?}"
                ),
            }
        };
        // Prometheus's own cases (ovhcloud_test.go).
        check(&["A.b"], Err(()));
        check(&["0.0.0.0"], Err(()));
        check(&[""], Err(()));
        check(
            &["2001:0db8:0000:0000:0000:0000:0000:0001"],
            Ok(&["2001:db8::1"]),
        );
        check(&["bbb:cccc:1111"], Err(()));
        check(&["192.0.2.1/23"], Err(()));
        check(&["192.0.2.1/32"], Ok(&["192.0.2.1"]));
        // Blocks other than /32 are passed over, whatever the version; a bad one fails.
        check(
            &["192.0.2.1/24", "2001:db8::/32", "::", "198.51.100.1"],
            Ok(&["2001:db8::", "198.51.100.1"]),
        );
        check(&["192.0.2.1/33", "198.51.100.1"], Err(()));
        check(&["198.51.100.1", "nonsense"], Err(()));
        check(
            &["::ffff:192.0.2.1", "192.0.2.2/+32"],
            Ok(&["::ffff:192.0.2.1", "192.0.2.2"]),
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ovhcloud_sd_configs:\n      - service: vps\n        application_key: k\n        application_secret: s\n        consumer_key: c\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.ovhcloud_sd_configs[0];
        assert_eq!(
            (sd.endpoint.as_str(), sd.refresh_interval),
            ("ovh-eu", Duration(60_000))
        );
        assert_eq!(
            Ovhcloud::new(0, sd).unwrap().endpoint,
            "https://eu.api.ovh.com/1.0"
        );
        let mut sd = sd.clone();
        sd.endpoint = "soyoustart-ca".into();
        assert_eq!(
            Ovhcloud::new(0, &sd).unwrap().endpoint,
            "https://ca.api.soyoustart.com/1.0"
        );
        sd.endpoint = "ovh-mars".into();
        assert_eq!(
            Ovhcloud::new(0, &sd).err().unwrap(),
            "unknown endpoint 'ovh-mars', consider checking 'Endpoints' list of using an URL"
        );
    }

    #[test]
    fn prometheus_example_configuration_is_valid() {
        // documentation/examples/prometheus-ovhcloud.yml
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: 'ovhcloud'
    ovhcloud_sd_configs:
      - service: vps
        endpoint: ovh-eu
        application_key: XXX
        application_secret: XXX
        consumer_key: XXX
        refresh_interval: 1m
      - service: dedicated_server
        endpoint: ovh-eu
        application_key: XXX
        application_secret: XXX
        consumer_key: XXX
        refresh_interval: 1m
"#,
            "prometheus-ovhcloud.yml",
        )
        .unwrap();
        let discovery = &c.scrape_configs[0].discovery;
        let (providers, failed) = super::super::providers(discovery);
        assert!(failed.is_empty(), "{failed:?}");
        let names: Vec<&str> = providers.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["ovhcloud_sd_configs[0]", "ovhcloud_sd_configs[1]"]);
    }

    #[test]
    fn the_section_is_checked_as_prometheus_checks_it() {
        let good = "service: vps\napplication_key: k\napplication_secret: s\nconsumer_key: c";
        let check = |section: &str| {
            crate::Config::parse(
                &format!(
                    "scrape_configs:\n  - job_name: a\n    ovhcloud_sd_configs:\n      - {}\n",
                    section.replace('\n', "\n        ")
                ),
                "p.yml",
            )
            .map(|_| ())
            .map_err(|e| e.message)
        };
        assert_eq!(check(good), Ok(()));
        for (section, error) in [
            (
                format!("{good}\nendpoint: ''"),
                "ovhcloud_sd_configs[0]: endpoint can not be empty",
            ),
            (
                good.replace("application_key: k\n", ""),
                "application key can not be empty",
            ),
            (
                good.replace("application_secret: s\n", ""),
                "application secret can not be empty",
            ),
            (
                good.replace("\nconsumer_key: c", ""),
                "consumer key can not be empty",
            ),
            (
                good.replace("service: vps\n", ""),
                "unknown service: ; use vps or dedicated_server",
            ),
            (good.replace("vps", "cloud"), "unknown service: cloud"),
            (format!("{good}\nbasic_auth: {{username: u}}"), "basic_auth"),
        ] {
            let e = check(&section).unwrap_err();
            assert!(e.contains(error), "{section}: {e}");
        }
    }
}
