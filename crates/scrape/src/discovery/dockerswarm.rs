//! `dockerswarm_sd_configs`: Prometheus's Docker Swarm service discovery.
//!
//! A swarm manager's API is the Docker Engine API ([`super::docker::DockerApi`]); the
//! `role` picks what becomes a target, as in Prometheus 2.42:
//!
//! - `services`: one target per service virtual IP and published TCP port (the IP and
//!   the published port), or per virtual IP on the configured `port` when none is TCP.
//! - `tasks`: one target per task and TCP port the task publishes on its node (the node's
//!   address), and per network address of the task and TCP port of its service (or the
//!   configured `port` when its service publishes none).
//! - `nodes`: one target per node, its address on the configured `port`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration as StdDuration;

use serde_json::Value;
use yaml::Spanned;

use super::docker::{
    DockerApi, Filter, check_host, default_refresh_interval, entries, filters_json, items,
    network_labels, sanitize, target, text,
};
use super::{Provider, Refresh, join_host_port};
use crate::config::{Duration, StaticConfig, http_client};

http_client! {
    /// `dockerswarm_sd_configs`: services, tasks or nodes listed by a swarm manager.
    pub struct DockerSwarmSdConfig {
        /// Where the manager's engine listens, as `docker_sd_configs`' `host`.
        pub host: Spanned<String>,
        /// `services`, `tasks` or `nodes`.
        #[serde(default)]
        pub role: String,
        /// The port of targets that publish no TCP port, and of nodes (default 80).
        #[serde(default = "default_port")]
        pub port: u16,
        /// Filters the manager applies to the list of the role.
        #[serde(default)]
        pub filters: Vec<Filter>,
        /// How often to list again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

fn default_port() -> u16 {
    80
}

impl DockerSwarmSdConfig {
    /// Checks the settings as Prometheus does when it reads them, and the host's scheme.
    pub(crate) fn validate(&self) -> Result<(), String> {
        check_host(&self.host.value)?;
        match self.role.as_str() {
            "services" | "tasks" | "nodes" => {}
            "" => return Err("role missing (one of: tasks, services, nodes)".into()),
            other => {
                return Err(format!(
                    "invalid role {other:?}, expected tasks, services, or nodes"
                ));
            }
        }
        self.http.check()
    }
}

const PREFIX: &str = "__meta_dockerswarm_";

/// What a swarm discovery lists.
#[derive(Debug, Clone, Copy)]
enum Role {
    Services,
    Tasks,
    Nodes,
}

/// `dockerswarm_sd_configs`: the services, tasks or nodes of a swarm.
pub(super) struct DockerSwarmSd {
    name: String,
    api: DockerApi,
    role: Role,
    filters: String,
    port: u16,
    interval: StdDuration,
}

impl DockerSwarmSd {
    pub(super) fn new(n: usize, config: &DockerSwarmSdConfig) -> Result<Self, String> {
        let role = match config.role.as_str() {
            "services" => Role::Services,
            "tasks" => Role::Tasks,
            "nodes" => Role::Nodes,
            other => return Err(format!("dockerswarm_sd_configs: invalid role {other:?}")),
        };
        let interval = config.refresh_interval.std();
        Ok(Self {
            name: format!("dockerswarm_sd_configs[{n}]"),
            api: DockerApi::new(&config.host.value, &config.http, interval)?,
            role,
            filters: filters_json(&config.filters),
            port: config.port,
            interval,
        })
    }

    async fn services(&self) -> Result<Vec<StaticConfig>, String> {
        let services = self
            .api
            .list("/services", &self.filters)
            .await
            .map_err(|e| format!("listing swarm services: {e}"))?;
        let networks = network_labels(&self.api, PREFIX)
            .await
            .map_err(|e| format!("listing swarm networks: {e}"))?;
        let mut out = Vec::new();
        for s in &services {
            let spec = &s["Spec"];
            let container = &spec["TaskTemplate"]["ContainerSpec"];
            let mut common = BTreeMap::from([
                (format!("{PREFIX}service_id"), text(&s["ID"])),
                (format!("{PREFIX}service_name"), text(&spec["Name"])),
                (
                    format!("{PREFIX}service_task_container_hostname"),
                    text(&container["Hostname"]),
                ),
                (
                    format!("{PREFIX}service_task_container_image"),
                    text(&container["Image"]),
                ),
                (format!("{PREFIX}service_mode"), service_mode(s).into()),
            ]);
            if !s["UpdateStatus"].is_null() {
                common.insert(
                    format!("{PREFIX}service_updating_status"),
                    text(&s["UpdateStatus"]["State"]),
                );
            }
            for (k, v) in entries(&spec["Labels"]) {
                common.insert(format!("{PREFIX}service_label_{}", sanitize(k)), text(v));
            }
            for vip in items(&s["Endpoint"]["VirtualIPs"]) {
                let ip = ip_of_cidr(&text(&vip["Addr"]))?;
                let mut base = common.clone();
                if let Some(labels) = networks.get(&text(&vip["NetworkID"])) {
                    base.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                let mut added = false;
                for port in tcp_ports(&s["Endpoint"]["Ports"]) {
                    let mut labels = base.clone();
                    labels.insert(
                        format!("{PREFIX}service_endpoint_port_name"),
                        text(&port["Name"]),
                    );
                    labels.insert(
                        format!("{PREFIX}service_endpoint_port_publish_mode"),
                        text(&port["PublishMode"]),
                    );
                    out.push(target(join_host_port(&ip, published_port(port)), labels));
                    added = true;
                }
                if !added {
                    out.push(target(join_host_port(&ip, self.port), base));
                }
            }
        }
        Ok(out)
    }

    async fn tasks(&self) -> Result<Vec<StaticConfig>, String> {
        let tasks = self
            .api
            .list("/tasks", &self.filters)
            .await
            .map_err(|e| format!("listing swarm tasks: {e}"))?;
        // Every service and node, unfiltered, for the labels of the tasks' own.
        let mut services: HashMap<String, (BTreeMap<String, String>, &Value)> = HashMap::new();
        let service_list = self
            .api
            .list("/services", "")
            .await
            .map_err(|e| format!("listing swarm services: {e}"))?;
        for s in &service_list {
            let mut labels = BTreeMap::from([
                (format!("{PREFIX}service_id"), text(&s["ID"])),
                (format!("{PREFIX}service_name"), text(&s["Spec"]["Name"])),
                (format!("{PREFIX}service_mode"), service_mode(s).into()),
            ]);
            for (k, v) in entries(&s["Spec"]["Labels"]) {
                labels.insert(format!("{PREFIX}service_label_{}", sanitize(k)), text(v));
            }
            services.insert(text(&s["ID"]), (labels, &s["Endpoint"]["Ports"]));
        }
        let nodes: HashMap<String, BTreeMap<String, String>> = self
            .api
            .list("/nodes", "")
            .await
            .map_err(|e| format!("listing swarm nodes: {e}"))?
            .iter()
            .map(|n| (text(&n["ID"]), node_labels(n, false)))
            .collect();
        let networks = network_labels(&self.api, PREFIX)
            .await
            .map_err(|e| format!("listing swarm networks: {e}"))?;
        let mut out = Vec::new();
        for t in &tasks {
            let status = &t["Status"];
            let mut common = BTreeMap::from([
                (format!("{PREFIX}task_id"), text(&t["ID"])),
                (
                    format!("{PREFIX}task_desired_state"),
                    text(&t["DesiredState"]),
                ),
                (format!("{PREFIX}task_state"), text(&status["State"])),
                (
                    format!("{PREFIX}task_slot"),
                    t["Slot"].as_i64().unwrap_or(0).to_string(),
                ),
            ]);
            if !status["ContainerStatus"].is_null() {
                common.insert(
                    format!("{PREFIX}task_container_id"),
                    text(&status["ContainerStatus"]["ContainerID"]),
                );
            }
            for (k, v) in entries(&t["Spec"]["ContainerSpec"]["Labels"]) {
                common.insert(format!("{PREFIX}container_label_{}", sanitize(k)), text(v));
            }
            let service = services.get(&text(&t["ServiceID"]));
            if let Some((labels, _)) = service {
                common.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(labels) = nodes.get(&text(&t["NodeID"])) {
                common.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            // Ports the task publishes on its node's address (host mode).
            let node_address = common
                .get(&format!("{PREFIX}node_address"))
                .cloned()
                .unwrap_or_default();
            for port in tcp_ports(&status["PortStatus"]["Ports"]) {
                let mut labels = common.clone();
                labels.insert(
                    format!("{PREFIX}task_port_publish_mode"),
                    text(&port["PublishMode"]),
                );
                out.push(target(
                    join_host_port(&node_address, published_port(port)),
                    labels,
                ));
            }
            for attachment in items(&t["NetworksAttachments"]) {
                let network = networks.get(&text(&attachment["Network"]["ID"]));
                for address in items(&attachment["Addresses"]) {
                    let ip = ip_of_cidr(&text(address))?;
                    let mut base = common.clone();
                    if let Some(labels) = network {
                        base.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                    let mut added = false;
                    for port in service.into_iter().flat_map(|(_, ports)| tcp_ports(ports)) {
                        let mut labels = base.clone();
                        labels.insert(
                            format!("{PREFIX}task_port_publish_mode"),
                            text(&port["PublishMode"]),
                        );
                        out.push(target(join_host_port(&ip, published_port(port)), labels));
                        added = true;
                    }
                    if !added {
                        out.push(target(join_host_port(&ip, self.port), base));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn nodes(&self) -> Result<Vec<StaticConfig>, String> {
        let nodes = self
            .api
            .list("/nodes", &self.filters)
            .await
            .map_err(|e| format!("listing swarm nodes: {e}"))?;
        Ok(nodes
            .iter()
            .map(|n| {
                target(
                    join_host_port(&text(&n["Status"]["Addr"]), self.port),
                    node_labels(n, true),
                )
            })
            .collect())
    }

    async fn targets(&self) -> Result<Vec<StaticConfig>, String> {
        match self.role {
            Role::Services => self.services().await,
            Role::Tasks => self.tasks().await,
            Role::Nodes => self.nodes().await,
        }
    }
}

impl Provider for DockerSwarmSd {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(self.targets())
    }
}

/// A node's labels. The `nodes` role has the engine version and the manager status too;
/// the labels tasks get from their node do not, as in Prometheus.
fn node_labels(n: &Value, full: bool) -> BTreeMap<String, String> {
    let description = &n["Description"];
    let mut labels = BTreeMap::from([
        (format!("{PREFIX}node_id"), text(&n["ID"])),
        (format!("{PREFIX}node_role"), text(&n["Spec"]["Role"])),
        (
            format!("{PREFIX}node_availability"),
            text(&n["Spec"]["Availability"]),
        ),
        (
            format!("{PREFIX}node_hostname"),
            text(&description["Hostname"]),
        ),
        (
            format!("{PREFIX}node_platform_architecture"),
            text(&description["Platform"]["Architecture"]),
        ),
        (
            format!("{PREFIX}node_platform_os"),
            text(&description["Platform"]["OS"]),
        ),
        (format!("{PREFIX}node_status"), text(&n["Status"]["State"])),
        (format!("{PREFIX}node_address"), text(&n["Status"]["Addr"])),
    ]);
    if full {
        labels.insert(
            format!("{PREFIX}node_engine_version"),
            text(&description["Engine"]["EngineVersion"]),
        );
        let manager = &n["ManagerStatus"];
        if !manager.is_null() {
            labels.insert(
                format!("{PREFIX}node_manager_leader"),
                manager["Leader"].as_bool().unwrap_or(false).to_string(),
            );
            labels.insert(
                format!("{PREFIX}node_manager_reachability"),
                text(&manager["Reachability"]),
            );
            labels.insert(
                format!("{PREFIX}node_manager_address"),
                text(&manager["Addr"]),
            );
        }
    }
    for (k, v) in entries(&n["Spec"]["Labels"]) {
        labels.insert(format!("{PREFIX}node_label_{}", sanitize(k)), text(v));
    }
    labels
}

/// `global`, `replicated`, or empty for other modes, as Prometheus names them.
fn service_mode(s: &Value) -> &'static str {
    let mode = &s["Spec"]["Mode"];
    if !mode["Global"].is_null() {
        "global"
    } else if !mode["Replicated"].is_null() {
        "replicated"
    } else {
        ""
    }
}

/// The TCP entries of a list of port configurations.
fn tcp_ports(ports: &Value) -> impl Iterator<Item = &Value> {
    items(ports)
        .iter()
        .filter(|p| p["Protocol"].as_str() == Some("tcp"))
}

fn published_port(port: &Value) -> u64 {
    port["PublishedPort"].as_u64().unwrap_or(0)
}

/// The address of `ip/prefix`, written as Go writes an IP (an IPv4-mapped IPv6 address
/// as IPv4); an address that is not in CIDR form fails the refresh, as in Prometheus.
fn ip_of_cidr(cidr: &str) -> Result<String, String> {
    let bad = || format!("error while parsing address {cidr:?}: not an address/prefix");
    let (ip, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::discovery::docker::tests::{Engine, serve_tcp};

    const SERVICES: &str = r#"[
      {"ID": "s1", "Spec": {"Name": "api", "Labels": {"prometheus.job": "api"},
        "TaskTemplate": {"ContainerSpec": {"Image": "api:1", "Hostname": "api-host"}},
        "Mode": {"Replicated": {"Replicas": 2}}},
       "UpdateStatus": {"State": "updating"},
       "Endpoint": {"Ports": [{"Name": "http", "Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 30080, "PublishMode": "ingress"},
                              {"Name": "dns", "Protocol": "udp", "TargetPort": 53, "PublishedPort": 30053, "PublishMode": "ingress"}],
                    "VirtualIPs": [{"NetworkID": "ingress", "Addr": "10.0.0.7/24"}]}},
      {"ID": "s2", "Spec": {"Name": "agent", "Mode": {"Global": {}},
        "TaskTemplate": {"ContainerSpec": {"Image": "agent:2"}}},
       "Endpoint": {"VirtualIPs": [{"NetworkID": "overlay", "Addr": "10.1.0.3/16"}]}}
    ]"#;

    const NETWORKS: &str = r#"[
      {"Name": "ingress", "Id": "ingress", "Scope": "swarm", "Ingress": true},
      {"Name": "backend", "Id": "overlay", "Scope": "swarm", "Labels": {"tier": "db"}}
    ]"#;

    const NODES: &str = r#"[
      {"ID": "m1", "Spec": {"Role": "manager", "Availability": "active", "Labels": {"zone": "a"}},
       "Description": {"Hostname": "node-1", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                       "Engine": {"EngineVersion": "24.0.5"}},
       "Status": {"State": "ready", "Addr": "192.168.1.10"},
       "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "192.168.1.10:2377"}},
      {"ID": "w1", "Spec": {"Role": "worker", "Availability": "drain"},
       "Description": {"Hostname": "node-2", "Platform": {"Architecture": "aarch64", "OS": "linux"},
                       "Engine": {"EngineVersion": "24.0.5"}},
       "Status": {"State": "down", "Addr": "192.168.1.11"}}
    ]"#;

    const TASKS: &str = r#"[
      {"ID": "t1", "ServiceID": "s1", "NodeID": "w1", "Slot": 1, "DesiredState": "running",
       "Spec": {"ContainerSpec": {"Labels": {"com.example.role": "web"}}},
       "Status": {"State": "running", "ContainerStatus": {"ContainerID": "cid1"},
                  "PortStatus": {"Ports": [{"Protocol": "tcp", "PublishedPort": 9100, "PublishMode": "host"}]}},
       "NetworksAttachments": [{"Network": {"ID": "overlay"}, "Addresses": ["10.1.0.9/16"]}]},
      {"ID": "t2", "ServiceID": "s2", "NodeID": "m1", "DesiredState": "shutdown",
       "Status": {"State": "complete"},
       "NetworksAttachments": [{"Network": {"ID": "overlay"}, "Addresses": ["10.1.0.10/16"]}]}
    ]"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
            .collect()
    }

    async fn discover(role: &str) -> Result<Vec<StaticConfig>, String> {
        let mut engine = Engine::default();
        for (path, body) in [
            ("/services", SERVICES),
            ("/networks", NETWORKS),
            ("/nodes", NODES),
            ("/tasks", TASKS),
        ] {
            engine.answers.insert(path, (200, body.into()));
        }
        let host = serve_tcp(Arc::new(Mutex::new(engine))).await;
        let text = format!(
            "scrape_configs:\n  - job_name: d\n    dockerswarm_sd_configs:\n      - host: {host}\n        role: {role}\n        port: 9323\n"
        );
        let c = crate::Config::parse(&text, "p.yml").unwrap();
        let sd = DockerSwarmSd::new(0, &c.scrape_configs[0].discovery.dockerswarm_sd_configs[0])
            .unwrap();
        sd.refresh().await
    }

    #[tokio::test]
    async fn services_are_targets_per_virtual_ip_and_published_tcp_port() {
        let api = [
            ("service_id", "s1"),
            ("service_name", "api"),
            ("service_mode", "replicated"),
            ("service_updating_status", "updating"),
            ("service_label_prometheus_job", "api"),
            ("service_task_container_hostname", "api-host"),
            ("service_task_container_image", "api:1"),
            ("network_id", "ingress"),
            ("network_name", "ingress"),
            ("network_scope", "swarm"),
            ("network_internal", "false"),
            ("network_ingress", "true"),
            ("service_endpoint_port_name", "http"),
            ("service_endpoint_port_publish_mode", "ingress"),
        ];
        let agent = [
            ("service_id", "s2"),
            ("service_name", "agent"),
            ("service_mode", "global"),
            ("service_task_container_hostname", ""),
            ("service_task_container_image", "agent:2"),
            ("network_id", "overlay"),
            ("network_name", "backend"),
            ("network_scope", "swarm"),
            ("network_internal", "false"),
            ("network_ingress", "false"),
            ("network_label_tier", "db"),
        ];
        assert_eq!(
            discover("services").await.unwrap(),
            [
                target("10.0.0.7:30080".into(), labels(&api)),
                target("10.1.0.3:9323".into(), labels(&agent)),
            ]
        );
    }

    #[tokio::test]
    async fn nodes_are_targets_on_the_configured_port() {
        let manager = [
            ("node_id", "m1"),
            ("node_role", "manager"),
            ("node_availability", "active"),
            ("node_hostname", "node-1"),
            ("node_platform_architecture", "x86_64"),
            ("node_platform_os", "linux"),
            ("node_engine_version", "24.0.5"),
            ("node_status", "ready"),
            ("node_address", "192.168.1.10"),
            ("node_manager_leader", "true"),
            ("node_manager_reachability", "reachable"),
            ("node_manager_address", "192.168.1.10:2377"),
            ("node_label_zone", "a"),
        ];
        let worker = [
            ("node_id", "w1"),
            ("node_role", "worker"),
            ("node_availability", "drain"),
            ("node_hostname", "node-2"),
            ("node_platform_architecture", "aarch64"),
            ("node_platform_os", "linux"),
            ("node_engine_version", "24.0.5"),
            ("node_status", "down"),
            ("node_address", "192.168.1.11"),
        ];
        assert_eq!(
            discover("nodes").await.unwrap(),
            [
                target("192.168.1.10:9323".into(), labels(&manager)),
                target("192.168.1.11:9323".into(), labels(&worker)),
            ]
        );
    }

    #[tokio::test]
    async fn tasks_are_targets_on_their_node_and_their_networks() {
        let t1 = [
            ("task_id", "t1"),
            ("task_desired_state", "running"),
            ("task_state", "running"),
            ("task_slot", "1"),
            ("task_container_id", "cid1"),
            ("container_label_com_example_role", "web"),
            ("service_id", "s1"),
            ("service_name", "api"),
            ("service_mode", "replicated"),
            ("service_label_prometheus_job", "api"),
            ("node_id", "w1"),
            ("node_role", "worker"),
            ("node_availability", "drain"),
            ("node_hostname", "node-2"),
            ("node_platform_architecture", "aarch64"),
            ("node_platform_os", "linux"),
            ("node_status", "down"),
            ("node_address", "192.168.1.11"),
        ];
        let on_network = [
            ("network_id", "overlay"),
            ("network_name", "backend"),
            ("network_scope", "swarm"),
            ("network_internal", "false"),
            ("network_ingress", "false"),
            ("network_label_tier", "db"),
        ];
        let t2 = [
            ("task_id", "t2"),
            ("task_desired_state", "shutdown"),
            ("task_state", "complete"),
            ("task_slot", "0"),
            ("service_id", "s2"),
            ("service_name", "agent"),
            ("service_mode", "global"),
            ("node_id", "m1"),
            ("node_role", "manager"),
            ("node_availability", "active"),
            ("node_hostname", "node-1"),
            ("node_platform_architecture", "x86_64"),
            ("node_platform_os", "linux"),
            ("node_status", "ready"),
            ("node_address", "192.168.1.10"),
            ("node_label_zone", "a"),
        ];
        assert_eq!(
            discover("tasks").await.unwrap(),
            [
                target(
                    "192.168.1.11:9100".into(),
                    labels(&[&t1[..], &[("task_port_publish_mode", "host")]].concat())
                ),
                target(
                    "10.1.0.9:30080".into(),
                    labels(
                        &[
                            &t1[..],
                            &on_network[..],
                            &[("task_port_publish_mode", "ingress")]
                        ]
                        .concat()
                    )
                ),
                target(
                    "10.1.0.10:9323".into(),
                    labels(&[&t2[..], &on_network[..]].concat())
                ),
            ]
        );
    }

    #[test]
    fn addresses_are_read_as_go_parses_cidrs() {
        assert_eq!(ip_of_cidr("10.0.0.7/24").unwrap(), "10.0.0.7");
        assert_eq!(ip_of_cidr("fd00::1/64").unwrap(), "fd00::1");
        assert_eq!(ip_of_cidr("::ffff:10.0.0.1/120").unwrap(), "10.0.0.1");
        assert!(ip_of_cidr("10.0.0.7").is_err());
        assert!(ip_of_cidr("10.0.0.7/33").is_err());
    }
}
