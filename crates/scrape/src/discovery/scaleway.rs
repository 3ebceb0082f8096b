//! `scaleway_sd_configs`: Scaleway's servers in one zone, as Prometheus's Scaleway
//! discovery finds them: Instances (`role: instance`) through the Instance API, Elastic
//! Metal servers (`role: baremetal`) through the Baremetal API, with their offers and
//! operating systems.
//!
//! Requests carry the secret key in `X-Auth-Token` (read from `secret_key_file` at each
//! request when the key is kept there). Lists are read page by page as Scaleway's SDK
//! reads them for Prometheus: from page 1, as many pages as the first one's total count
//! and size make (the Instance API gives the count in `X-Total-Count`), stopping early at
//! an empty page.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    ApiClient, Nullable, Provider, Refresh, comma_list, join_host_port, read_json, target,
};
use crate::config::{Duration, StaticConfig, http_client};

/// The zones Scaleway's SDK names when a zone is not one.
const ZONES: &str = "fr-par-1, fr-par-2, fr-par-3, nl-ams-1, nl-ams-2, pl-waw-1, pl-waw-2";

http_client! {
    /// `scaleway_sd_configs`: Instances or Elastic Metal servers of one zone.
    pub struct ScalewaySdConfig {
        /// `instance` or `baremetal`; required.
        #[serde(default)]
        pub role: Option<ScalewayRole>,
        /// The project's ID (a UUID); required, though the lists are not filtered by it.
        #[serde(default)]
        pub project_id: String,
        /// The API's base URL (default `https://api.scaleway.com`).
        #[serde(default = "default_api_url")]
        pub api_url: String,
        /// The zone of the servers (default `fr-par-1`).
        #[serde(default = "default_zone")]
        pub zone: String,
        /// The access key (`SCW` and 17 capitals or digits); required.
        #[serde(default)]
        pub access_key: String,
        /// The secret key (a UUID); this or `secret_key_file` is required.
        #[serde(default)]
        pub secret_key: String,
        /// A file holding the secret key, read at each request; empty for none.
        #[serde(default)]
        pub secret_key_file: PathBuf,
        /// Only servers whose name contains this.
        #[serde(default)]
        pub name_filter: String,
        /// Only servers with all these tags.
        #[serde(default)]
        pub tags_filter: Vec<String>,
        /// The port of the targets (default 80).
        #[serde(default = "super::default_port")]
        pub port: u16,
        /// How often to ask again (default 1m).
        #[serde(default = "super::default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

/// Which of Scaleway's products to discover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalewayRole {
    /// Instances (`instance`).
    Instance,
    /// Elastic Metal servers (`baremetal`).
    Baremetal,
}

impl<'de> Deserialize<'de> for ScalewayRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "instance" => Ok(Self::Instance),
            "baremetal" => Ok(Self::Baremetal),
            other => Err(serde::de::Error::custom(format!(
                "unknown role {other:?}; use instance or baremetal"
            ))),
        }
    }
}

fn default_api_url() -> String {
    "https://api.scaleway.com".into()
}

fn default_zone() -> String {
    "fr-par-1".into()
}

impl ScalewaySdConfig {
    /// Checks the section as Prometheus does, its own checks first, then those of the
    /// Scaleway client it makes of the section (the formats of keys, project and zone;
    /// the secret key is not repeated in the error, as the SDK would).
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.role.is_none() {
            return Err("role missing (one of: instance, baremetal)".into());
        }
        if self.project_id.is_empty() {
            return Err("project_id is mandatory".into());
        }
        let from_file = !self.secret_key_file.as_os_str().is_empty();
        match (self.secret_key.is_empty(), from_file) {
            (true, false) => {
                return Err("one of secret_key & secret_key_file must be configured".into());
            }
            (false, true) => {
                return Err(
                    "at most one of secret_key & secret_key_file must be configured".into(),
                );
            }
            _ => {}
        }
        if self.access_key.is_empty() {
            return Err("access_key is mandatory".into());
        }
        if !is_access_key(&self.access_key) {
            return Err(format!(
                "invalid access key format '{}', expected SCWXXXXXXXXXXXXXXXXX format",
                self.access_key
            ));
        }
        if !from_file && !is_uuid(&self.secret_key) {
            return Err(
                "invalid secret key format, expected a UUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
                    .into(),
            );
        }
        if !is_uuid(&self.project_id) {
            return Err(format!(
                "invalid project ID format '{}', expected a UUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                self.project_id
            ));
        }
        if self.zone.is_empty() {
            return Err("default zone cannot be empty".into());
        }
        if region(&self.zone).is_none() {
            return Err(format!(
                "invalid default zone format '{}', available zones are: {ZONES}",
                self.zone
            ));
        }
        if self.api_url.is_empty() {
            return Err(
                "invalid url: api_url is empty; leave it out for https://api.scaleway.com".into(),
            );
        }
        if self.api_url.ends_with('/') {
            return Err(format!(
                "invalid url {} it should not have a trailing slash",
                self.api_url
            ));
        }
        self.http.check()
    }
}

/// Whether `s` is an access key as the SDK checks it: `SCW` and 17 capitals or digits.
fn is_access_key(s: &str) -> bool {
    s.len() == 20
        && s.starts_with("SCW")
        && s[3..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Whether `s` is a UUID as the SDK checks it: hex digits in groups of 8-4-4-4-12.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The region of a zone written as Scaleway writes them (`fr-par-1` is in `fr-par`), or
/// none for anything else.
fn region(zone: &str) -> Option<&str> {
    let b = zone.as_bytes();
    let lower = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_lowercase);
    (b.len() == 8
        && lower(0..2)
        && b[2] == b'-'
        && lower(3..6)
        && b[6] == b'-'
        && (b'1'..=b'9').contains(&b[7]))
    .then(|| &zone[..6])
}

/// A Scaleway discoverer: one role, one zone.
pub(super) struct Scaleway {
    name: String,
    role: ScalewayRole,
    port: u16,
    interval: StdDuration,
    client: ApiClient,
    /// The zone's base URL of the role's API.
    base: String,
    secret_key: String,
    secret_key_file: Option<PathBuf>,
    name_filter: String,
    tags_filter: Vec<String>,
}

impl Scaleway {
    /// The discoverer of a section; it cannot be made when the secret key file cannot be
    /// read, as Prometheus's cannot.
    pub(super) fn new(n: usize, config: &ScalewaySdConfig) -> Result<Self, String> {
        let role = config
            .role
            .ok_or("scaleway_sd_configs: role missing (one of: instance, baremetal)")?;
        let api = match role {
            ScalewayRole::Instance => "instance",
            ScalewayRole::Baremetal => "baremetal",
        };
        let secret_key_file =
            Some(config.secret_key_file.clone()).filter(|p| !p.as_os_str().is_empty());
        if let Some(file) = &secret_key_file {
            read_key(file)?;
        }
        Ok(Self {
            name: format!("scaleway_sd_configs[{n}]"),
            role,
            port: config.port,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            base: format!("{}/{api}/v1/zones/{}", config.api_url, config.zone),
            secret_key: config.secret_key.clone(),
            secret_key_file,
            name_filter: config.name_filter.clone(),
            tags_filter: config.tags_filter.clone(),
        })
    }

    /// The key each request carries: the file's, read now, or the section's.
    fn token(&self) -> Result<String, String> {
        match &self.secret_key_file {
            Some(file) => read_key(file),
            None => Ok(self.secret_key.clone()),
        }
    }

    /// Every item of the list at `path` (below the zone), asked for with `query` and
    /// each page number.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, String> {
        let base = format!("{}/{path}", self.base);
        let mut all = Vec::new();
        let mut pages = u64::MAX;
        let mut page = 1u64;
        while page <= pages {
            let page_text = page.to_string();
            let mut params = query.to_vec();
            params.push(("page", &page_text));
            params.sort_by_key(|&(k, _)| k);
            let url = reqwest::Url::parse_with_params(&base, &params)
                .map_err(|e| format!("{base}: {e}"))?;
            let url = url.as_str();
            let response = self
                .client
                .get(url)
                .await?
                .header("X-Auth-Token", self.token()?)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            // The Instance API counts in a header, which the SDK reads over the body's.
            let header_total = match response.headers().get("x-total-count") {
                Some(count) if self.role == ScalewayRole::Instance => Some(
                    count
                        .to_str()
                        .ok()
                        .and_then(|c| c.parse::<u64>().ok())
                        .ok_or_else(|| {
                            format!("{url}: could not parse X-Total-Count header {count:?}")
                        })?,
                ),
                _ => None,
            };
            let answer: Page<T> = read_json(response, url).await?;
            let size = answer.items.0.len() as u64;
            all.extend(answer.items.0);
            if size == 0 {
                break;
            }
            if pages == u64::MAX {
                let total = header_total.unwrap_or(answer.total_count);
                pages = total.div_ceil(size);
            }
            page += 1;
        }
        Ok(all)
    }

    async fn refresh_instances(&self) -> Result<Vec<StaticConfig>, String> {
        let tags = self.tags_filter.join(",");
        let mut query = vec![("order", "creation_date_desc")];
        if !self.name_filter.is_empty() {
            query.push(("name", &self.name_filter));
        }
        if !tags.is_empty() {
            query.push(("tags", &tags));
        }
        let servers: Vec<InstanceServer> = self.list("servers", &query).await?;
        let mut out = Vec::new();
        for server in servers {
            // Only a server with a private address is a target.
            let Some(private_ip) = &server.private_ip else {
                continue;
            };
            let mut labels: BTreeMap<String, String> = [
                ("boot_type", &server.boot_type),
                ("hostname", &server.hostname),
                ("id", &server.id),
                ("name", &server.name),
                ("organization_id", &server.organization),
                ("project_id", &server.project),
                ("status", &server.state),
                ("type", &server.commercial_type),
                ("zone", &server.zone),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.0.clone()))
            .collect();
            if let Some(image) = &server.image {
                labels.insert("image_arch".into(), image.arch.0.clone());
                labels.insert("image_id".into(), image.id.0.clone());
                labels.insert("image_name".into(), image.name.0.clone());
            }
            if let Some(location) = &server.location {
                labels.insert("location_cluster_id".into(), location.cluster_id.0.clone());
                labels.insert(
                    "location_hypervisor_id".into(),
                    location.hypervisor_id.0.clone(),
                );
                labels.insert("location_node_id".into(), location.node_id.0.clone());
            }
            if let Some(group) = &server.security_group {
                labels.insert("security_group_id".into(), group.id.0.clone());
                labels.insert("security_group_name".into(), group.name.0.clone());
            }
            if let Some(region) = region(&server.zone) {
                labels.insert("region".into(), region.to_owned());
            }
            if !server.tags.is_empty() {
                labels.insert("tags".into(), comma_list(&server.tags));
            }
            if let Some(ipv6) = &server.ipv6 {
                labels.insert("public_ipv6".into(), ipv6.address.to_string());
            }
            if let Some(ipv4) = &server.public_ip {
                labels.insert("public_ipv4".into(), ipv4.address.to_string());
            }
            labels.insert("private_ipv4".into(), private_ip.clone());
            let labels = labels
                .into_iter()
                .map(|(k, v)| (format!("__meta_scaleway_instance_{k}"), v))
                .collect();
            out.push(target(join_host_port(private_ip, self.port), labels));
        }
        Ok(out)
    }

    async fn refresh_baremetal(&self) -> Result<Vec<StaticConfig>, String> {
        let mut query = vec![("order_by", "created_at_asc")];
        if !self.name_filter.is_empty() {
            query.push(("name", &self.name_filter));
        }
        for tag in &self.tags_filter {
            query.push(("tags", tag));
        }
        let servers: Vec<BaremetalServer> = self.list("servers", &query).await?;
        let offers: Vec<Offer> = self
            .list(
                "offers",
                &[("subscription_period", "unknown_subscription_period")],
            )
            .await?;
        let systems: Vec<Os> = self.list("os", &[]).await?;
        let mut out = Vec::new();
        for server in servers {
            let mut labels: BTreeMap<String, String> = [
                ("id", &server.id),
                ("name", &server.name),
                ("zone", &server.zone),
                ("status", &server.status),
                ("project_id", &server.project_id),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.0.clone()))
            .collect();
            if let Some(offer) = offers.iter().find(|o| o.id == server.offer_id) {
                labels.insert("type".into(), offer.name.0.clone());
            }
            if let Some(install) = &server.install
                && let Some(os) = systems.iter().find(|os| os.id == install.os_id)
            {
                labels.insert("os_name".into(), os.name.0.clone());
                labels.insert("os_version".into(), os.version.0.clone());
            }
            if !server.tags.is_empty() {
                labels.insert("tags".into(), comma_list(&server.tags));
            }
            // The first address of each version; the target is at the IPv4 one, or else
            // the IPv6 one (a server without either has no address).
            let mut address = None;
            for ip in server.ips.iter() {
                let ip_text = ip.address.to_string();
                match ip.version.as_str() {
                    "IPv4" | "" if !labels.contains_key("public_ipv4") => {
                        address = Some(join_host_port(&ip_text, self.port));
                        labels.insert("public_ipv4".into(), ip_text);
                    }
                    "IPv6" if !labels.contains_key("public_ipv6") => {
                        if address.is_none() {
                            address = Some(join_host_port(&ip_text, self.port));
                        }
                        labels.insert("public_ipv6".into(), ip_text);
                    }
                    "IPv4" | "" | "IPv6" => {}
                    other => return Err(format!("unknown IP version: {other}")),
                }
            }
            let labels = labels
                .into_iter()
                .map(|(k, v)| (format!("__meta_scaleway_baremetal_{k}"), v))
                .collect();
            out.push(target(address.unwrap_or_default(), labels));
        }
        Ok(out)
    }
}

/// The key in `file`, trimmed, as Prometheus reads it for each request.
fn read_key(file: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|key| key.trim().to_owned())
        .map_err(|e| format!("unable to read auth token file {}: {e}", file.display()))
}

impl Provider for Scaleway {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            match self.role {
                ScalewayRole::Instance => self.refresh_instances().await,
                ScalewayRole::Baremetal => self.refresh_baremetal().await,
            }
        })
    }
}

/// A page of a list: its items, under the name of what is listed, and the total count.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Page<T> {
    #[serde(default)]
    total_count: u64,
    #[serde(default = "empty", alias = "servers", alias = "offers", alias = "os")]
    items: Nullable<Vec<T>>,
}

fn empty<T>() -> Nullable<Vec<T>> {
    Nullable(Vec::new())
}

/// An address as the SDK decodes it into Go's `net.IP` and Prometheus prints it: `<nil>`
/// for none (null or empty); anything else that is not an address fails the answer.
#[derive(Debug, Default)]
struct GoIp(Option<IpAddr>);

impl<'de> Deserialize<'de> for GoIp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("") => Ok(GoIp(None)),
            Some(text) => text
                .parse()
                .map(|ip| GoIp(Some(ip)))
                .map_err(|_| serde::de::Error::custom(format!("invalid IP address: {text}"))),
        }
    }
}

impl std::fmt::Display for GoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            None => f.write_str("<nil>"),
            // Go prints an IPv4-mapped IPv6 address as IPv4.
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.fmt(f),
                None => v6.fmt(f),
            },
            Some(ip) => ip.fmt(f),
        }
    }
}

/// The fields of an Instance that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default)]
struct InstanceServer {
    id: Nullable<String>,
    name: Nullable<String>,
    organization: Nullable<String>,
    project: Nullable<String>,
    tags: Nullable<Vec<String>>,
    commercial_type: Nullable<String>,
    hostname: Nullable<String>,
    image: Option<Image>,
    private_ip: Option<String>,
    public_ip: Option<ServerIp>,
    state: Nullable<String>,
    location: Option<Location>,
    ipv6: Option<ServerIp>,
    boot_type: Nullable<String>,
    security_group: Option<SecurityGroup>,
    zone: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Image {
    id: Nullable<String>,
    name: Nullable<String>,
    arch: Nullable<String>,
}

/// A public address of an Instance (its IPv4 or its IPv6).
#[derive(Default, Deserialize)]
#[serde(default)]
struct ServerIp {
    address: GoIp,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Location {
    cluster_id: Nullable<String>,
    hypervisor_id: Nullable<String>,
    node_id: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SecurityGroup {
    id: Nullable<String>,
    name: Nullable<String>,
}

/// The fields of an Elastic Metal server that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default)]
struct BaremetalServer {
    id: Nullable<String>,
    project_id: Nullable<String>,
    name: Nullable<String>,
    status: Nullable<String>,
    offer_id: Nullable<String>,
    tags: Nullable<Vec<String>>,
    ips: Nullable<Vec<BaremetalIp>>,
    zone: Nullable<String>,
    install: Option<Install>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct BaremetalIp {
    address: GoIp,
    /// `IPv4` or `IPv6`; empty is IPv4, as the SDK reads it.
    version: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Install {
    os_id: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Offer {
    id: Nullable<String>,
    name: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Os {
    id: Nullable<String>,
    name: Nullable<String>,
    version: Nullable<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::json;

    use super::super::testing::{fake_api, group, json};
    use super::*;

    const PROJECT: &str = "8feda53f-15f0-447f-badf-ebe32dad2fc0";
    const ACCESS_KEY: &str = "SCW0W8NG6024YHRJ7723";
    const SECRET_KEY: &str = "6d6579e5-a5b9-49fc-a35f-b4feb9b87301";

    fn config(role: &str, more: &str) -> ScalewaySdConfig {
        let config: ScalewaySdConfig = yaml::from_str(&format!(
            "role: {role}\nproject_id: {PROJECT}\naccess_key: {ACCESS_KEY}\n{more}"
        ))
        .unwrap();
        config.validate().unwrap();
        config
    }

    /// A JSON answer with the Instance API's `X-Total-Count` header.
    fn counted(total: usize, body: serde_json::Value) -> axum::response::Response {
        (
            StatusCode::OK,
            [
                ("content-type", "application/json".to_owned()),
                ("x-total-count", total.to_string()),
            ],
            body.to_string(),
        )
            .into_response()
    }

    /// An Instance as the Instance API documents it; `more` replaces or adds fields.
    fn instance(id: &str, name: &str, more: serde_json::Value) -> serde_json::Value {
        let mut server = json!({
            "id": id, "name": name, "arch": "x86_64", "commercial_type": "DEV1-S",
            "boot_type": "local", "organization": "cb334986-b054-4725-9d3a-40850fdc6015",
            "project": "cb334986-b054-4725-9d5a-30850fdc6015", "hostname": name,
            "image": {
                "id": "45a86b35-eca6-4055-9b34-ca69845da146", "name": "Ubuntu 22.04 Jammy Jellyfish",
                "arch": "x86_64", "from_server": null, "public": true, "state": "available",
                "root_volume": {"id": "b45d391a-90d7-4f0f-8a07-80806b31be94", "volume_type": "l_ssd", "size": 10_000_000_000_u64},
                "extra_volumes": {}, "zone": "fr-par-1"
            },
            "volumes": {"0": {"id": "0dd09f67-a04a-495d-aae4-0ce437c87160", "volume_type": "l_ssd", "size": 20_000_000_000_u64}},
            "tags": ["prometheus", "validator"], "state": "running", "protected": false,
            "state_detail": "booted",
            "public_ip": {"id": "c4a7bd85-d0a6-493f-a204-456a7fb4a475", "address": "151.115.45.127", "dynamic": false},
            "ipv6": {"address": "2001:bc8:630:1e1c::1", "gateway": "2001:bc8:630:1e1c::", "netmask": "64"},
            "extra_networks": [], "dynamic_ip_required": false, "enable_ipv6": true,
            "private_ip": "10.70.60.57",
            "creation_date": "2023-01-08T21:34:35.844665+00:00",
            "bootscript": null,
            "security_group": {"id": "a6a794b7-c05b-4b20-b9fe-e17a9bb85cf0", "name": "Default security group"},
            "location": {"zone_id": "fr-par-1", "platform_id": "14", "cluster_id": "40", "hypervisor_id": "1601", "node_id": "29"},
            "maintenances": [], "allowed_actions": ["poweroff", "terminate", "reboot"],
            "placement_group": null, "private_nics": [], "zone": "fr-par-1"
        });
        for (k, v) in more.as_object().unwrap() {
            server[k] = v.clone();
        }
        server
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let failing = fail.clone();
        let base = fake_api(axum::Router::new().route(
            "/instance/v1/zones/{zone}/servers",
            get(
                move |Path(zone): Path<String>,
                      Query(q): Query<HashMap<String, String>>,
                      h: HeaderMap| {
                    let fail = *failing.lock().unwrap();
                    async move {
                        assert_eq!(zone, "nl-ams-1");
                        assert_eq!(h["x-auth-token"], SECRET_KEY);
                        assert_eq!(q["order"], "creation_date_desc");
                        assert_eq!(q["name"], "node");
                        assert_eq!(q["tags"], "prometheus,validator");
                        assert!(!q.contains_key("project") && !q.contains_key("per_page"));
                        if fail {
                            return json(500, json!({"message": "internal error", "type": "internal_error"}))
                                .into_response();
                        }
                        match q["page"].as_str() {
                            // The count is in the header; the body has none.
                            "1" => counted(3, json!({"servers": [
                                instance("93c18a61-b681-49d0-a1cc-62b43883ae89", "node-1", json!({"zone": "nl-ams-1"})),
                                // No private address: not a target.
                                instance("0b4f1d2e-5c1a-4b8e-9f1e-2a3b4c5d6e7f", "node-2", json!({"private_ip": null}))
                            ]})),
                            "2" => counted(3, json!({"servers": [
                                instance("5b6198b4-c677-41b5-9c05-04557264ae1f", "node-3", json!({
                                    "zone": "nl-ams-1", "tags": [], "image": null, "location": null,
                                    "security_group": null, "public_ip": null,
                                    "ipv6": {"address": null, "gateway": null, "netmask": "64"},
                                    "boot_type": "bootscript", "state": "stopped", "private_ip": "10.193.162.9"
                                }))
                            ]})),
                            other => panic!("page {other} was not offered"),
                        }
                    }
                },
            ),
        ))
        .await;
        let config = config(
            "instance",
            &format!(
                "secret_key: {SECRET_KEY}\nzone: nl-ams-1\napi_url: {base}\nname_filter: node\ntags_filter: [prometheus, validator]\nport: 9100\n"
            ),
        );
        let sd = Scaleway::new(0, &config).unwrap();
        assert_eq!(sd.name(), "scaleway_sd_configs[0]");
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "10.70.60.57:9100",
                    &[
                        ("__meta_scaleway_instance_boot_type", "local"),
                        ("__meta_scaleway_instance_hostname", "node-1"),
                        (
                            "__meta_scaleway_instance_id",
                            "93c18a61-b681-49d0-a1cc-62b43883ae89"
                        ),
                        ("__meta_scaleway_instance_image_arch", "x86_64"),
                        (
                            "__meta_scaleway_instance_image_id",
                            "45a86b35-eca6-4055-9b34-ca69845da146"
                        ),
                        (
                            "__meta_scaleway_instance_image_name",
                            "Ubuntu 22.04 Jammy Jellyfish"
                        ),
                        ("__meta_scaleway_instance_location_cluster_id", "40"),
                        ("__meta_scaleway_instance_location_hypervisor_id", "1601"),
                        ("__meta_scaleway_instance_location_node_id", "29"),
                        ("__meta_scaleway_instance_name", "node-1"),
                        (
                            "__meta_scaleway_instance_organization_id",
                            "cb334986-b054-4725-9d3a-40850fdc6015"
                        ),
                        ("__meta_scaleway_instance_private_ipv4", "10.70.60.57"),
                        (
                            "__meta_scaleway_instance_project_id",
                            "cb334986-b054-4725-9d5a-30850fdc6015"
                        ),
                        ("__meta_scaleway_instance_public_ipv4", "151.115.45.127"),
                        (
                            "__meta_scaleway_instance_public_ipv6",
                            "2001:bc8:630:1e1c::1"
                        ),
                        ("__meta_scaleway_instance_region", "nl-ams"),
                        (
                            "__meta_scaleway_instance_security_group_id",
                            "a6a794b7-c05b-4b20-b9fe-e17a9bb85cf0"
                        ),
                        (
                            "__meta_scaleway_instance_security_group_name",
                            "Default security group"
                        ),
                        ("__meta_scaleway_instance_status", "running"),
                        ("__meta_scaleway_instance_tags", ",prometheus,validator,"),
                        ("__meta_scaleway_instance_type", "DEV1-S"),
                        ("__meta_scaleway_instance_zone", "nl-ams-1"),
                    ],
                ),
                // No image, location, security group, tags or public IPv4; an IPv6 block
                // without an address is Go's nil IP.
                group(
                    "10.193.162.9:9100",
                    &[
                        ("__meta_scaleway_instance_boot_type", "bootscript"),
                        ("__meta_scaleway_instance_hostname", "node-3"),
                        (
                            "__meta_scaleway_instance_id",
                            "5b6198b4-c677-41b5-9c05-04557264ae1f"
                        ),
                        ("__meta_scaleway_instance_name", "node-3"),
                        (
                            "__meta_scaleway_instance_organization_id",
                            "cb334986-b054-4725-9d3a-40850fdc6015"
                        ),
                        ("__meta_scaleway_instance_private_ipv4", "10.193.162.9"),
                        (
                            "__meta_scaleway_instance_project_id",
                            "cb334986-b054-4725-9d5a-30850fdc6015"
                        ),
                        ("__meta_scaleway_instance_public_ipv6", "<nil>"),
                        ("__meta_scaleway_instance_region", "nl-ams"),
                        ("__meta_scaleway_instance_status", "stopped"),
                        ("__meta_scaleway_instance_type", "DEV1-S"),
                        ("__meta_scaleway_instance_zone", "nl-ams-1"),
                    ],
                ),
            ]
        );
        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!("{base}/instance/v1/zones/nl-ams-1/servers?"))
                && e.contains("500"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_secret_key_file_is_read_at_each_request() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret_key");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tokens = seen.clone();
        let base = fake_api(axum::Router::new().route(
            "/instance/v1/zones/fr-par-1/servers",
            get(move |h: HeaderMap| {
                tokens
                    .lock()
                    .unwrap()
                    .push(h["x-auth-token"].to_str().unwrap().to_owned());
                async { json(200, json!({"servers": [], "total_count": 0})) }
            }),
        ))
        .await;
        let yaml = format!("secret_key_file: {}\napi_url: {base}\n", file.display());
        let config = config("instance", &yaml);
        // As Prometheus, a key file that cannot be read is no discoverer.
        let e = Scaleway::new(1, &config).err().unwrap();
        assert!(e.starts_with("unable to read auth token file"), "{e}");
        std::fs::write(&file, format!("{SECRET_KEY}\n")).unwrap();
        let sd = Scaleway::new(1, &config).unwrap();
        assert_eq!(sd.refresh().await.unwrap(), vec![]);
        std::fs::write(&file, "b9b4c6f8-1d2e-4f3a-8b5c-6d7e8f9a0b1c").unwrap();
        assert_eq!(sd.refresh().await.unwrap(), vec![]);
        assert_eq!(
            *seen.lock().unwrap(),
            [SECRET_KEY, "b9b4c6f8-1d2e-4f3a-8b5c-6d7e8f9a0b1c"]
        );
    }

    /// An Elastic Metal server as the Baremetal API documents it.
    fn baremetal(
        id: &str,
        name: &str,
        ips: serde_json::Value,
        more: serde_json::Value,
    ) -> serde_json::Value {
        let mut server = json!({
            "id": id, "organization_id": "cb334986-b054-4725-9d3a-40850fdc6015",
            "project_id": "cb334986-b054-4725-9d5a-30850fdc6015", "name": name,
            "description": "", "updated_at": "2023-01-10T10:00:00Z", "created_at": "2023-01-09T10:00:00Z",
            "status": "ready", "offer_id": "bd757a6e-2c10-4d8a-a6a0-1b1f7c2e0e57", "offer_name": "EM-A210R-HDD",
            "tags": ["prometheus"], "ips": ips, "domain": format!("{id}.fr-par-2.baremetal.scw.cloud"),
            "boot_type": "normal", "zone": "fr-par-2",
            "install": {"os_id": "7e865c16-1a63-4dc7-8181-e1a10b6e6da8", "hostname": name, "ssh_key_ids": [], "status": "completed", "user": "ubuntu"},
            "ping_status": "ping_status_up", "options": [], "rescue_server": null
        });
        for (k, v) in more.as_object().unwrap() {
            server[k] = v.clone();
        }
        server
    }

    fn ip(address: &str, version: &str) -> serde_json::Value {
        json!({"id": "5fa6b1d4-0d2c-4b8e-8c0a-1f2e3d4c5b6a", "address": address, "reverse": "", "version": version, "reverse_status": "active", "reverse_status_message": ""})
    }

    #[tokio::test]
    async fn baremetal_servers_are_labelled_as_prometheus_labels_them() {
        let servers = |Query(q): Query<Vec<(String, String)>>, h: HeaderMap| {
            async move {
                assert_eq!(h["x-auth-token"], SECRET_KEY);
                // Tags one by one, as the SDK writes a list.
                let mut q = q;
                let page = q
                    .iter()
                    .position(|(k, _)| k == "page")
                    .map(|i| q.remove(i).1);
                assert_eq!(
                    q,
                    [
                        ("order_by", "created_at_asc"),
                        ("tags", "prometheus"),
                        ("tags", "metal")
                    ]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                );
                match page.as_deref() {
                    Some("1") => json(
                        200,
                        json!({"total_count": 3, "servers": [
                            baremetal("a1b2c3d4-0000-4000-8000-000000000001", "metal-1", json!([
                                ip("2001:bc8:1200:200::1", "IPv6"),
                                ip("51.159.1.10", "IPv4"),
                                ip("51.159.1.11", "IPv4"),
                                ip("2001:bc8:1200:200::2", "IPv6")
                            ]), json!({})),
                            baremetal("a1b2c3d4-0000-4000-8000-000000000002", "metal-2", json!([
                                ip("2001:bc8:1200:300::1", "IPv6")
                            ]), json!({"tags": [], "install": null, "offer_id": "unknown", "status": "delivering"}))
                        ]}),
                    ),
                    Some("2") => json(
                        200,
                        json!({"total_count": 3, "servers": [
                            baremetal("a1b2c3d4-0000-4000-8000-000000000003", "metal-3", json!(null), json!({
                                "install": {"os_id": "not-listed"}
                            }))
                        ]}),
                    ),
                    other => panic!("page {other:?} was not offered"),
                }
            }
        };
        let offers = |Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!(q["subscription_period"], "unknown_subscription_period");
            assert_eq!(q["page"], "1");
            json(
                200,
                json!({"total_count": 2, "offers": [
                    {"id": "3ab0dc29-2fd4-486e-88bf-d08fbcdfb2b8", "name": "EM-B112X-SSD", "stock": "available"},
                    {"id": "bd757a6e-2c10-4d8a-a6a0-1b1f7c2e0e57", "name": "EM-A210R-HDD", "stock": "low_stock"}
                ]}),
            )
        };
        let systems = |Query(q): Query<HashMap<String, String>>| async move {
            assert_eq!(q.keys().collect::<Vec<_>>(), ["page"]);
            json(
                200,
                json!({"total_count": 1, "os": [
                    {"id": "7e865c16-1a63-4dc7-8181-e1a10b6e6da8", "name": "Ubuntu", "version": "22.04 LTS (Jammy Jellyfish)", "enabled": true}
                ]}),
            )
        };
        let base = fake_api(
            axum::Router::new()
                .route("/baremetal/v1/zones/fr-par-2/servers", get(servers))
                .route("/baremetal/v1/zones/fr-par-2/offers", get(offers))
                .route("/baremetal/v1/zones/fr-par-2/os", get(systems)),
        )
        .await;
        let config = config(
            "baremetal",
            &format!(
                "secret_key: {SECRET_KEY}\nzone: fr-par-2\napi_url: {base}\ntags_filter: [prometheus, metal]\n"
            ),
        );
        let sd = Scaleway::new(0, &config).unwrap();
        let common = [
            (
                "__meta_scaleway_baremetal_project_id",
                "cb334986-b054-4725-9d5a-30850fdc6015",
            ),
            ("__meta_scaleway_baremetal_zone", "fr-par-2"),
        ];
        let with = |labels: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
            labels.iter().chain(&common).copied().collect()
        };
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                // The first of each version; the address is the IPv4 one.
                group(
                    "51.159.1.10:80",
                    &with(&[
                        (
                            "__meta_scaleway_baremetal_id",
                            "a1b2c3d4-0000-4000-8000-000000000001"
                        ),
                        ("__meta_scaleway_baremetal_name", "metal-1"),
                        ("__meta_scaleway_baremetal_os_name", "Ubuntu"),
                        (
                            "__meta_scaleway_baremetal_os_version",
                            "22.04 LTS (Jammy Jellyfish)"
                        ),
                        ("__meta_scaleway_baremetal_public_ipv4", "51.159.1.10"),
                        (
                            "__meta_scaleway_baremetal_public_ipv6",
                            "2001:bc8:1200:200::1"
                        ),
                        ("__meta_scaleway_baremetal_status", "ready"),
                        ("__meta_scaleway_baremetal_tags", ",prometheus,"),
                        ("__meta_scaleway_baremetal_type", "EM-A210R-HDD"),
                    ]),
                ),
                // IPv6 only; an offer that is not listed gives no type.
                group(
                    "[2001:bc8:1200:300::1]:80",
                    &with(&[
                        (
                            "__meta_scaleway_baremetal_id",
                            "a1b2c3d4-0000-4000-8000-000000000002"
                        ),
                        ("__meta_scaleway_baremetal_name", "metal-2"),
                        (
                            "__meta_scaleway_baremetal_public_ipv6",
                            "2001:bc8:1200:300::1"
                        ),
                        ("__meta_scaleway_baremetal_status", "delivering"),
                    ]),
                ),
                // No address at all: a target without one, as in Prometheus.
                group(
                    "",
                    &with(&[
                        (
                            "__meta_scaleway_baremetal_id",
                            "a1b2c3d4-0000-4000-8000-000000000003"
                        ),
                        ("__meta_scaleway_baremetal_name", "metal-3"),
                        ("__meta_scaleway_baremetal_status", "ready"),
                        ("__meta_scaleway_baremetal_tags", ",prometheus,"),
                        ("__meta_scaleway_baremetal_type", "EM-A210R-HDD"),
                    ]),
                ),
            ]
        );
    }

    #[tokio::test]
    async fn an_unknown_ip_version_or_bad_answer_fails_the_refresh() {
        let answer = Arc::new(Mutex::new(json!({})));
        let body = answer.clone();
        let base = fake_api(axum::Router::new().route(
            "/baremetal/v1/zones/fr-par-1/{list}",
            get(move |Path(list): Path<String>| {
                let body = body.lock().unwrap().clone();
                async move {
                    match list.as_str() {
                        "servers" => json(200, body),
                        _ => json(200, json!({"total_count": 0})),
                    }
                }
            }),
        ))
        .await;
        let config = config(
            "baremetal",
            &format!("secret_key: {SECRET_KEY}\napi_url: {base}\n"),
        );
        let sd = Scaleway::new(0, &config).unwrap();
        *answer.lock().unwrap() = json!({"total_count": 1, "servers": [
            baremetal("a1b2c3d4-0000-4000-8000-000000000001", "metal-1", json!([ip("192.0.2.9", "IPv5")]), json!({}))
        ]});
        assert_eq!(sd.refresh().await.unwrap_err(), "unknown IP version: IPv5");
        *answer.lock().unwrap() = json!({"total_count": 1, "servers": [
            baremetal("a1b2c3d4-0000-4000-8000-000000000001", "metal-1", json!([ip("192.0.2", "IPv4")]), json!({}))
        ]});
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!(
                "{base}/baremetal/v1/zones/fr-par-1/servers?order_by=created_at_asc&page=1: "
            )) && e.contains("invalid IP address: 192.0.2"),
            "{e}"
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let mut c = crate::Config::parse(
            &format!("scrape_configs:\n  - job_name: a\n    scaleway_sd_configs:\n      - role: instance\n        project_id: {PROJECT}\n        access_key: {ACCESS_KEY}\n        secret_key_file: key\n"),
            "conf/p.yml",
        )
        .unwrap();
        c.set_directory(std::path::Path::new("conf"));
        let sd = &c.scrape_configs[0].discovery.scaleway_sd_configs[0];
        assert_eq!(sd.role, Some(ScalewayRole::Instance));
        assert_eq!(
            (
                sd.api_url.as_str(),
                sd.zone.as_str(),
                sd.port,
                sd.refresh_interval
            ),
            ("https://api.scaleway.com", "fr-par-1", 80, Duration(60_000))
        );
        assert!((sd.name_filter.is_empty(), sd.tags_filter.is_empty()) == (true, true));
        // The key file is found beside the configuration.
        assert_eq!(sd.secret_key_file, std::path::Path::new("conf/key"));
    }

    #[test]
    fn prometheus_example_configuration_is_valid() {
        // documentation/examples/prometheus-scaleway.yml
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: 'prometheus'
    scaleway_sd_configs:
      - role: instance
        project_id: 11111111-1111-1111-1111-111111111111
        access_key: SCWXXXXXXXXXXXXXXXXX
        secret_key: 11111111-1111-1111-1111-111111111111
    relabel_configs:
      - source_labels: [__meta_scaleway_instance_tags]
        regex: '.*,prometheus,.*'
        action: keep
      - source_labels: [__meta_scaleway_instance_public_ipv6]
        target_label: __address__
        replacement: '[$1]:9090'
      - source_labels: [__meta_scaleway_instance_zone]
        target_label: scw_zone

  - job_name: 'node'
    scaleway_sd_configs:
      - role: baremetal
        project_id: 11111111-1111-1111-1111-111111111111
        zone: fr-par-2
        access_key: SCWXXXXXXXXXXXXXXXXX
        secret_key: 11111111-1111-1111-1111-111111111111
    relabel_configs:
      - source_labels: [__meta_scaleway_baremetal_status]
        regex: '(delivering|out_of_stock)'
        action: drop
      - source_labels: [__meta_scaleway_baremetal_public_ipv6]
        target_label: __address__
        replacement: '[$1]:9100'
"#,
            "prometheus-scaleway.yml",
        )
        .unwrap();
        let roles: Vec<_> = c
            .scrape_configs
            .iter()
            .map(|job| job.discovery.scaleway_sd_configs[0].role)
            .collect();
        assert_eq!(
            roles,
            [Some(ScalewayRole::Instance), Some(ScalewayRole::Baremetal)]
        );
    }

    #[test]
    fn the_section_is_checked_as_prometheus_checks_it() {
        let check = |section: &str| {
            crate::Config::parse(
                &format!(
                    "scrape_configs:\n  - job_name: a\n    scaleway_sd_configs:\n      - {}\n",
                    section.replace('\n', "\n        ")
                ),
                "p.yml",
            )
            .map(|_| ())
            .map_err(|e| e.message)
        };
        let good = format!(
            "role: instance\nproject_id: {PROJECT}\naccess_key: {ACCESS_KEY}\nsecret_key: {SECRET_KEY}"
        );
        assert_eq!(check(&good), Ok(()));
        for (section, error) in [
            (
                good.replace("role: instance", "role: vm"),
                "unknown role \"vm\"",
            ),
            (
                good.replace("role: instance\n", ""),
                "scaleway_sd_configs[0]: role missing (one of: instance, baremetal)",
            ),
            (
                good.replace(&format!("project_id: {PROJECT}\n"), ""),
                "scaleway_sd_configs[0]: project_id is mandatory",
            ),
            (
                good.replace(&format!("\nsecret_key: {SECRET_KEY}"), ""),
                "one of secret_key & secret_key_file must be configured",
            ),
            (
                format!("{good}\nsecret_key_file: key"),
                "at most one of secret_key & secret_key_file must be configured",
            ),
            (
                good.replace(&format!("access_key: {ACCESS_KEY}\n"), ""),
                "access_key is mandatory",
            ),
            (
                good.replace(ACCESS_KEY, "SCWlower0000000000000"),
                "invalid access key format 'SCWlower0000000000000'",
            ),
            (
                good.replace(SECRET_KEY, "not-a-uuid"),
                "invalid secret key format, expected a UUID",
            ),
            (
                good.replace(PROJECT, "my-project"),
                "invalid project ID format 'my-project'",
            ),
            (format!("{good}\nzone: ''"), "default zone cannot be empty"),
            (
                format!("{good}\nzone: paris"),
                "invalid default zone format 'paris', available zones are: fr-par-1,",
            ),
            (
                format!("{good}\napi_url: https://api.scaleway.com/"),
                "invalid url https://api.scaleway.com/ it should not have a trailing slash",
            ),
            (
                format!("{good}\nbearer_token: a\nbearer_token_file: b"),
                "bearer_token and bearer_token_file are both set",
            ),
        ] {
            let e = check(&section).unwrap_err();
            assert!(e.contains(error), "{section}: {e}");
        }
        // A key kept in a file is not checked until it is read; an unlisted zone of the
        // right form is taken.
        assert_eq!(
            check(&format!(
                "{}\nsecret_key_file: /k\nzone: it-mil-1",
                good.replace(&format!("\nsecret_key: {SECRET_KEY}"), "")
            )),
            Ok(())
        );
    }
}
