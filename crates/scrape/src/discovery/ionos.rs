//! `ionos_sd_configs`: the servers of an IONOS Cloud data center, as Prometheus's IONOS
//! discovery finds them through the Cloud API v6 (one `GET
//! /cloudapi/v6/datacenters/{id}/servers` at depth 3, which nests each server's NICs and
//! volumes in the answer).
//!
//! A server is a target at its first IP address; one without any is left out. The request
//! is retried as the IONOS SDK Prometheus uses retries it: up to three tries when the API
//! answers 502, 503, 504 or 429 (after `Retry-After` seconds, at most 2s, or 100ms).
//! The labels are Prometheus 2.42's, down to its list of all of a server's addresses,
//! which can repeat one when NICs of one name are listed around another's (see
//! `prepend_as_go`).

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{
    ApiClient, Nullable, Provider, Refresh, comma_list, join_host_port, read_json,
    sanitize_label_name, target,
};
use crate::config::{Duration, StaticConfig, http_client};

/// Where Prometheus reaches the API (the SDK's default host).
const ENDPOINT: &str = "https://api.ionos.com";
/// The SDK's base path of the Cloud API v6, appended to the host.
const BASE_PATH: &str = "/cloudapi/v6";
/// The query of Prometheus's request: its depth, and the SDK's defaults for the others.
const QUERY: &str = "depth=3&limit=1000&offset=0&pretty=true";
/// How many times the SDK sends a request the API asks to be retried.
const TRIES: u32 = 3;
/// The SDK's wait before a retry, and the longest it waits.
const RETRY_WAIT: StdDuration = StdDuration::from_millis(100);
const MAX_RETRY_WAIT: StdDuration = StdDuration::from_secs(2);
/// The NIC name a NIC without one is labelled by.
const UNNAMED_NIC: &str = "unnamed";

http_client! {
    /// `ionos_sd_configs`: the servers of one data center. The account's user and
    /// password go in `basic_auth`, or its token in `authorization`.
    pub struct IonosSdConfig {
        /// The ID of the data center; required.
        #[serde(default)]
        pub datacenter_id: String,
        /// The port of the targets (default 80).
        #[serde(default = "super::default_port")]
        pub port: u16,
        /// How often to ask again (default 1m).
        #[serde(default = "super::default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

impl IonosSdConfig {
    /// Checks the section as Prometheus does: a data center is required.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.datacenter_id.is_empty() {
            return Err(
                "datacenter id can't be empty; set datacenter_id to the UUID of the data center"
                    .into(),
            );
        }
        self.http.check()
    }
}

/// An IONOS Cloud discoverer.
pub(super) struct Ionos {
    name: String,
    port: u16,
    interval: StdDuration,
    client: ApiClient,
    url: String,
}

impl Ionos {
    pub(super) fn new(n: usize, config: &IonosSdConfig) -> Result<Self, String> {
        Self::with_endpoint(n, config, ENDPOINT)
    }

    /// A discoverer asking `endpoint` (the API's host, as `https://api.ionos.com`) instead
    /// of IONOS's.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &IonosSdConfig,
        endpoint: &str,
    ) -> Result<Self, String> {
        // As the SDK makes its server URL: the base path is added unless already there.
        let base = endpoint.trim_end_matches('/');
        let base = base.strip_suffix(BASE_PATH).unwrap_or(base);
        let mut url = reqwest::Url::parse(&format!("{base}{BASE_PATH}/datacenters"))
            .map_err(|e| format!("{base}: {e}"))?;
        url.path_segments_mut()
            .map_err(|()| format!("{base}: not a base URL"))?
            .push(&config.datacenter_id)
            .push("servers");
        url.set_query(Some(QUERY));
        Ok(Self {
            name: format!("ionos_sd_configs[{n}]"),
            port: config.port,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            url: url.into(),
        })
    }

    /// The data center's servers, asked for again while the API says to retry.
    async fn servers(&self) -> Result<Servers, String> {
        let url = &self.url;
        let mut tries = 0;
        loop {
            tries += 1;
            let response = self
                .client
                .get(url)
                .await?
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let wait = match response.status().as_u16() {
                502..=504 => RETRY_WAIT,
                429 => match response.headers().get(reqwest::header::RETRY_AFTER) {
                    Some(seconds) => retry_after(seconds)
                        .ok_or_else(|| format!("{url}: cannot read Retry-After {seconds:?}"))?,
                    None => RETRY_WAIT,
                },
                _ => return read_json(response, url).await,
            };
            if tries >= TRIES {
                return read_json(response, url).await;
            }
            tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
        }
    }
}

/// A `Retry-After` header in seconds, as the SDK reads it (Go's `ParseDuration` of the
/// value and `s`, so a fraction is allowed).
fn retry_after(value: &reqwest::header::HeaderValue) -> Option<StdDuration> {
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    StdDuration::try_from_secs_f64(seconds).ok()
}

impl Provider for Ionos {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let servers = self.servers().await?;
            Ok(servers
                .items
                .iter()
                .filter_map(|server| self.target(&servers.id, server))
                .collect())
        })
    }
}

impl Ionos {
    /// The target of `server`, of the collection `servers_id`; none when it has no IP.
    fn target(&self, servers_id: &str, server: &Server) -> Option<StaticConfig> {
        let (ips, by_nic) = addresses(&server.entities.nics.items);
        let first = ips.first()?;
        let properties = &server.properties;
        let mut labels: BTreeMap<String, String> = [
            ("availability_zone", &properties.availability_zone),
            ("cpu_family", &properties.cpu_family),
            ("servers_id", &Nullable(servers_id.to_owned())),
            ("id", &server.id),
            ("lifecycle", &server.metadata.state),
            ("name", &properties.name),
            ("state", &properties.vm_state),
            ("type", &properties.kind),
        ]
        .into_iter()
        .map(|(k, v)| (format!("__meta_ionos_server_{k}"), v.0.clone()))
        .collect();
        labels.insert("__meta_ionos_server_ip".into(), comma_list(&ips));
        for (name, nic_ips) in &by_nic {
            labels.insert(
                format!("__meta_ionos_server_nic_ip_{}", sanitize_label_name(name)),
                comma_list(nic_ips),
            );
        }
        if let Some(cdrom) = &properties.boot_cdrom {
            labels.insert(
                "__meta_ionos_server_boot_cdrom_id".into(),
                cdrom.id.0.clone(),
            );
        }
        if let Some(volume) = &properties.boot_volume {
            labels.insert(
                "__meta_ionos_server_boot_volume_id".into(),
                volume.id.0.clone(),
            );
        }
        // The image of the first attached volume, when it has one.
        if let Some(image) = server
            .entities
            .volumes
            .items
            .first()
            .and_then(|v| v.properties.image.as_ref())
        {
            labels.insert("__meta_ionos_server_boot_image_id".into(), image.clone());
        }
        Some(target(join_host_port(first, self.port), labels))
    }
}

/// A server's addresses: all of them, and those of each NIC name.
///
/// Each NIC's addresses go before those of the NICs listed before it, in the list of all
/// and in that of its name, as Prometheus gathers them: with Go's `append` onto the NIC's
/// decoded list, so both lists can share its spare capacity, and the second write shows
/// through in the first (see [`prepend_as_go`]).
fn addresses(nics: &[Nic]) -> (Vec<&str>, BTreeMap<&str, Vec<&str>>) {
    let mut ips: Vec<&str> = Vec::new();
    let mut by_nic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for nic in nics {
        let name = nic.properties.name.as_deref().unwrap_or(UNNAMED_NIC);
        let nic_ips: Vec<&str> = nic.properties.ips.iter().map(String::as_str).collect();
        let named = by_nic.entry(name).or_default();
        ips = prepend_as_go(&nic_ips, &ips, named);
        named.splice(0..0, nic_ips.iter().copied());
    }
    (ips, by_nic)
}

/// The list of all a server's addresses once a NIC's `nic` are put before the `all`
/// found so far, as Prometheus 2.42 (built with Go 1.19) leaves it.
///
/// Prometheus appends `all`, then the addresses of the NIC's name so far (`named`, which
/// are among `all`), to the NIC's own decoded list. When `all` fits in the spare capacity
/// Go's JSON decoder gave that list, both appends write into the same array, and the list
/// of all then reads `nic`, `named`, and the rest of `all` after as many items as `named`
/// has: an address can show twice and another not at all. Otherwise the lists are apart
/// and it is `nic` then `all`, as intended.
fn prepend_as_go<'a>(nic: &[&'a str], all: &[&'a str], named: &[&'a str]) -> Vec<&'a str> {
    let mut out = nic.to_vec();
    if nic.len() + all.len() <= go_json_capacity(nic.len()) {
        out.extend_from_slice(named);
        out.extend_from_slice(&all[named.len().min(all.len())..]);
    } else {
        out.extend_from_slice(all);
    }
    out
}

/// The capacity Go 1.19's `encoding/json` gives a slice of `n` items it decodes: 4, then
/// half as much again each time it is full (none for an empty list).
fn go_json_capacity(n: usize) -> usize {
    let mut capacity = 0;
    while capacity < n {
        capacity = (capacity + capacity / 2).max(4);
    }
    capacity
}

/// The answer of `GET /datacenters/{id}/servers`: the collection and its servers.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Servers {
    id: Nullable<String>,
    items: Nullable<Vec<Server>>,
}

/// The fields of a server that Prometheus labels, as the depth-3 answer nests them.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Server {
    id: Nullable<String>,
    metadata: Nullable<Metadata>,
    properties: Nullable<ServerProperties>,
    entities: Nullable<ServerEntities>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Metadata {
    state: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ServerProperties {
    name: Nullable<String>,
    availability_zone: Nullable<String>,
    vm_state: Nullable<String>,
    cpu_family: Nullable<String>,
    #[serde(rename = "type")]
    kind: Nullable<String>,
    boot_cdrom: Option<Reference>,
    boot_volume: Option<Reference>,
}

/// A resource another one refers to (a server's boot CD-ROM or volume).
#[derive(Default, Deserialize)]
#[serde(default)]
struct Reference {
    id: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ServerEntities {
    nics: Nullable<Collection<Nic>>,
    volumes: Nullable<Collection<Volume>>,
}

#[derive(Deserialize)]
#[serde(default)]
struct Collection<T> {
    items: Nullable<Vec<T>>,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Self {
            items: Nullable(Vec::new()),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Nic {
    properties: Nullable<NicProperties>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct NicProperties {
    /// `None` when the NIC has no name (absent or null), which is labelled `unnamed`.
    name: Option<String>,
    ips: Nullable<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Volume {
    properties: Nullable<VolumeProperties>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct VolumeProperties {
    image: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, Query};
    use axum::http::HeaderMap;
    use axum::routing::get;
    use serde_json::json;

    use super::super::testing::{fake_api, group, json};
    use super::*;

    const DATACENTER: &str = "8feda53f-15f0-447f-badf-ebe32dad2fc0";

    fn config(text: &str) -> IonosSdConfig {
        let config: IonosSdConfig = yaml::from_str(text).unwrap();
        config.validate().unwrap();
        config
    }

    /// A NIC as the depth-3 answer nests it.
    fn nic(name: serde_json::Value, ips: serde_json::Value) -> serde_json::Value {
        json!({
            "id": "17ecc866-4a08-4ada-858f-7b726a5f5070", "type": "nic",
            "metadata": {"etag": "f6a82276c6fdb460811d3789e54e0054", "state": "AVAILABLE"},
            "properties": {
                "name": name, "mac": "02:01:93:80:fa:a4", "ips": ips, "dhcp": true, "lan": 1,
                "firewallActive": false, "firewallType": "INGRESS", "deviceNumber": 2, "pciSlot": 7
            },
            "entities": {"firewallrules": {"id": "17ecc866/firewallrules", "type": "collection"}}
        })
    }

    /// The servers of the data center, as the Cloud API documents the depth-3 answer: one
    /// without NICs, one with three NICs (two unnamed), a boot volume and an image.
    fn servers() -> serde_json::Value {
        json!({
            "id": format!("{DATACENTER}/servers"), "type": "collection",
            "href": format!("https://api.ionos.com/cloudapi/v6/datacenters/{DATACENTER}/servers"),
            "items": [
                {
                    "id": "d6bf44ee-f7e8-4e19-8716-96fdd18cc697", "type": "server",
                    "metadata": {"etag": "3bd2cf1f190fdba8502ba8c0cc79433e", "createdDate": "2019-09-02T11:51:53Z", "state": "AVAILABLE"},
                    "properties": {
                        "name": "no-network", "cores": 2, "ram": 4096, "availabilityZone": "AUTO",
                        "vmState": "SHUTOFF", "bootCdrom": null, "bootVolume": null,
                        "cpuFamily": "INTEL_SKYLAKE", "type": "ENTERPRISE"
                    },
                    "entities": {
                        "volumes": {"id": "d6bf44ee/volumes", "type": "collection", "items": []},
                        "nics": {"id": "d6bf44ee/nics", "type": "collection", "items": []}
                    }
                },
                {
                    "id": "b501942c-4e08-43e6-8ec1-00e59c64e0e4", "type": "server",
                    "metadata": {"etag": "fe405a5f2e041d506086ee0c2159b678", "state": "AVAILABLE"},
                    "properties": {
                        "name": "validator-1", "cores": 4, "ram": 8192, "availabilityZone": "ZONE_2",
                        "vmState": "RUNNING",
                        "bootCdrom": null,
                        "bootVolume": {"id": "4b3a7d6c-0d2a-4f52-8d5e-3c5f3c2a1b0e", "type": "volume"},
                        "cpuFamily": "AMD_OPTERON", "type": "ENTERPRISE"
                    },
                    "entities": {
                        "volumes": {"id": "b501942c/volumes", "type": "collection", "items": [
                            {"id": "4b3a7d6c-0d2a-4f52-8d5e-3c5f3c2a1b0e", "type": "volume",
                             "properties": {"name": "root", "type": "SSD", "size": 50, "image": "7c1c1d3a-5e3f-11ed-9b6a-0242ac120002", "bus": "VIRTIO", "deviceNumber": 1}},
                            {"id": "9e0d5c55-3b55-4c9e-9f4b-2d0a9d3f6d3b", "type": "volume",
                             "properties": {"name": "data", "type": "HDD", "size": 500, "image": null, "bus": "VIRTIO", "deviceNumber": 2}}
                        ]},
                        "nics": {"id": "b501942c/nics", "type": "collection", "items": [
                            nic(json!(null), json!(["85.215.238.118"])),
                            nic(json!("metrics-lan"), json!(["10.7.222.5"])),
                            nic(json!(null), json!(["185.56.150.9", "185.56.150.10"]))
                        ]}
                    }
                },
                {
                    "id": "523415e6-ff8c-4dc0-86d3-09c256039b30", "type": "server",
                    "metadata": {"etag": "2d7b4c1e2bd1d40ab8b9b8a3ff3d7a93", "state": "BUSY"},
                    "properties": {
                        "name": "sentry-1", "cores": 1, "ram": 1024, "availabilityZone": "ZONE_1",
                        "vmState": "RUNNING",
                        "bootCdrom": {"id": "0e4d57f9-cd78-11e9-b88c-525400f64d8d", "type": "image"},
                        "bootVolume": null, "cpuFamily": "INTEL_SKYLAKE", "type": "CUBE"
                    },
                    "entities": {
                        "volumes": {"id": "523415e6/volumes", "type": "collection", "items": [
                            {"id": "f3b0d3c4-1a2b-4c5d-8e9f-0a1b2c3d4e5f", "type": "volume", "properties": {"name": "scratch", "image": null}}
                        ]},
                        "nics": {"id": "523415e6/nics", "type": "collection", "items": [
                            nic(json!("public"), json!(["85.215.248.84"]))
                        ]}
                    }
                }
            ]
        })
    }

    #[tokio::test]
    async fn servers_are_labelled_as_prometheus_labels_them() {
        // The status of the next answers: a 503 is retried, a 500 is not.
        let statuses = Arc::new(Mutex::new(vec![200]));
        let answers = statuses.clone();
        let base = fake_api(axum::Router::new().route(
            "/cloudapi/v6/datacenters/{id}/servers",
            get(
                move |Path(id): Path<String>,
                      Query(q): Query<HashMap<String, String>>,
                      h: HeaderMap| {
                    let status = {
                        let mut statuses = answers.lock().unwrap();
                        if statuses.len() > 1 { statuses.remove(0) } else { statuses[0] }
                    };
                    async move {
                        assert_eq!(id, DATACENTER);
                        assert_eq!(h["authorization"], "Bearer jwt");
                        assert_eq!(h["accept"], "application/json");
                        let query: Vec<_> = ["depth", "limit", "offset", "pretty"]
                            .iter()
                            .map(|k| q[*k].as_str())
                            .collect();
                        assert_eq!(query, ["3", "1000", "0", "true"]);
                        match status {
                            200 => json(200, servers()),
                            status => json(status, json!({"httpStatus": status, "messages": [{"errorCode": "000", "message": "try again"}]})),
                        }
                    }
                },
            ),
        ))
        .await;
        let config = config(&format!(
            "datacenter_id: {DATACENTER}\nport: 9100\nbearer_token: jwt\n"
        ));
        let sd = Ionos::with_endpoint(0, &config, &base).unwrap();
        assert_eq!(sd.name(), "ionos_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(60));
        let servers_id = format!("{DATACENTER}/servers");
        let expected = vec![
            group(
                "185.56.150.9:9100",
                &[
                    ("__meta_ionos_server_availability_zone", "ZONE_2"),
                    (
                        "__meta_ionos_server_boot_image_id",
                        "7c1c1d3a-5e3f-11ed-9b6a-0242ac120002",
                    ),
                    (
                        "__meta_ionos_server_boot_volume_id",
                        "4b3a7d6c-0d2a-4f52-8d5e-3c5f3c2a1b0e",
                    ),
                    ("__meta_ionos_server_cpu_family", "AMD_OPTERON"),
                    (
                        "__meta_ionos_server_id",
                        "b501942c-4e08-43e6-8ec1-00e59c64e0e4",
                    ),
                    // The unnamed NICs around a named one: Prometheus 2.42's list of all
                    // repeats the first NIC's address where the named NIC's belongs.
                    (
                        "__meta_ionos_server_ip",
                        ",185.56.150.9,185.56.150.10,85.215.238.118,85.215.238.118,",
                    ),
                    ("__meta_ionos_server_lifecycle", "AVAILABLE"),
                    ("__meta_ionos_server_name", "validator-1"),
                    ("__meta_ionos_server_nic_ip_metrics_lan", ",10.7.222.5,"),
                    (
                        "__meta_ionos_server_nic_ip_unnamed",
                        ",185.56.150.9,185.56.150.10,85.215.238.118,",
                    ),
                    ("__meta_ionos_server_servers_id", &servers_id),
                    ("__meta_ionos_server_state", "RUNNING"),
                    ("__meta_ionos_server_type", "ENTERPRISE"),
                ],
            ),
            group(
                "85.215.248.84:9100",
                &[
                    ("__meta_ionos_server_availability_zone", "ZONE_1"),
                    (
                        "__meta_ionos_server_boot_cdrom_id",
                        "0e4d57f9-cd78-11e9-b88c-525400f64d8d",
                    ),
                    ("__meta_ionos_server_cpu_family", "INTEL_SKYLAKE"),
                    (
                        "__meta_ionos_server_id",
                        "523415e6-ff8c-4dc0-86d3-09c256039b30",
                    ),
                    ("__meta_ionos_server_ip", ",85.215.248.84,"),
                    ("__meta_ionos_server_lifecycle", "BUSY"),
                    ("__meta_ionos_server_name", "sentry-1"),
                    ("__meta_ionos_server_nic_ip_public", ",85.215.248.84,"),
                    ("__meta_ionos_server_servers_id", &servers_id),
                    ("__meta_ionos_server_state", "RUNNING"),
                    ("__meta_ionos_server_type", "CUBE"),
                ],
            ),
        ];
        assert_eq!(sd.refresh().await.unwrap(), expected);

        // A 503 is asked again, as the SDK retries it.
        *statuses.lock().unwrap() = vec![503, 502, 200];
        assert_eq!(sd.refresh().await.unwrap(), expected);

        // Three 503s in a row, or a 500, fail the refresh, naming the URL.
        for failing in [vec![503, 503, 503, 200], vec![500]] {
            *statuses.lock().unwrap() = failing;
            let e = sd.refresh().await.unwrap_err();
            assert!(
                e.contains(&format!(
                    "/cloudapi/v6/datacenters/{DATACENTER}/servers?depth=3"
                )) && e.contains("try again"),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn a_bad_answer_fails_naming_the_url() {
        let base = fake_api(axum::Router::new().route(
            "/cloudapi/v6/datacenters/{id}/servers",
            get(|h: HeaderMap| async move {
                // user:secret
                assert_eq!(h["authorization"], "Basic dXNlcjpzZWNyZXQ=");
                "{\"items\": [" // cut short
            }),
        ))
        .await;
        let config = config(&format!(
            "datacenter_id: {DATACENTER}\nbasic_auth:\n  username: user\n  password: secret\n"
        ));
        let sd = Ionos::with_endpoint(0, &config, &format!("{base}/cloudapi/v6")).unwrap();
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!("{base}/cloudapi/v6/datacenters/")),
            "{e}"
        );
        assert!(e.contains("EOF"), "{e}");
    }

    /// Checks the addresses gathered from `nics`, each written `name=ip,ip` (`-` for a
    /// NIC without a name): all of them, and those of each name.
    fn check(specs: &[&str], all: &str, named: &[(&str, &str)]) {
        let nics: Vec<Nic> = specs
            .iter()
            .map(|spec| {
                let (name, ips) = spec.split_once('=').unwrap();
                Nic {
                    properties: Nullable(NicProperties {
                        name: (name != "-").then(|| name.to_owned()),
                        ips: Nullable(
                            ips.split(',')
                                .filter(|ip| !ip.is_empty())
                                .map(str::to_owned)
                                .collect(),
                        ),
                    }),
                }
            })
            .collect();
        let (ips, by_nic) = addresses(&nics);
        let by_nic: Vec<(&str, String)> = by_nic.iter().map(|(k, v)| (*k, comma_list(v))).collect();
        let named: Vec<(&str, String)> = named.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        assert_eq!(
            (comma_list(&ips), by_nic),
            (all.to_owned(), named),
            "{specs:?}"
        );
    }

    #[test]
    fn addresses_are_gathered_as_prometheus_gathers_them() {
        // Prometheus's own test data: later NICs first.
        check(
            &["-=x", "-=y", "metrics=z"],
            ",z,y,x,",
            &[("metrics", ",z,"), ("unnamed", ",y,x,")],
        );
        // A name between two NICs of another: Go's shared array shows through.
        check(
            &["-=a", "b=b", "-=c"],
            ",c,a,a,",
            &[("b", ",b,"), ("unnamed", ",c,a,")],
        );
        // The NIC's list is full (4 of 4): a new array, the intended order.
        check(
            &["-=a", "b=b", "-=c,d,e,f"],
            ",c,d,e,f,b,a,",
            &[("b", ",b,"), ("unnamed", ",c,d,e,f,a,")],
        );
        // A NIC without addresses adds none (and a server without any is no target).
        check(&["x="], ",,", &[("x", ",,")]);
        assert_eq!(
            [0, 1, 4, 5, 6, 7, 10, 14].map(go_json_capacity),
            [0, 4, 4, 6, 6, 9, 13, 19]
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            &format!("scrape_configs:\n  - job_name: a\n    ionos_sd_configs:\n      - datacenter_id: {DATACENTER}\n"),
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.ionos_sd_configs[0];
        assert_eq!(sd.datacenter_id, DATACENTER);
        assert_eq!((sd.port, sd.refresh_interval), (80, Duration(60_000)));
        let sd = Ionos::new(0, sd).unwrap();
        assert_eq!(
            sd.url,
            format!("https://api.ionos.com/cloudapi/v6/datacenters/{DATACENTER}/servers?{QUERY}")
        );
    }

    #[test]
    fn prometheus_example_configuration_is_valid() {
        // documentation/examples/prometheus-ionos.yml
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: "node"
    ionos_sd_configs:
      - basic_auth:
          username: username
          password: password
        datacenter_id: 11111111-1111-1111-1111-111111111111
        port: 9100
    relabel_configs:
      - source_labels: [__meta_ionos_server_lifecycle]
        action: keep
        regex: "AVAILABLE"
      - source_labels: [__meta_ionos_server_state]
        action: keep
        regex: "RUNNING"
      - source_labels: [__meta_ionos_server_name]
        target_label: instance
      - source_labels: [__meta_ionos_availability_zone]
        target_label: ionos_zone
"#,
            "prometheus-ionos.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.ionos_sd_configs[0];
        assert_eq!(sd.port, 9100);
        assert!(c.scrape_configs[0].discovery.is_dynamic());
    }

    #[test]
    fn a_data_center_is_required() {
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ionos_sd_configs:\n      - port: 9100\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("ionos_sd_configs[0]: datacenter id can't be empty"),
            "{e}"
        );
        let e = crate::Config::parse(
            &format!("scrape_configs:\n  - job_name: a\n    ionos_sd_configs:\n      - datacenter_id: {DATACENTER}\n        basic_auth: {{username: u}}\n        authorization: {{credentials: t}}\n"),
            "p.yml",
        )
        .unwrap_err();
        assert!(e.message.contains("basic_auth and authorization"), "{e}");
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ionos_sd_configs:\n      - datacenter: x\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(e.message.contains("datacenter"), "{e}");
    }
}
