//! Service discovery: the providers that find a job's targets at run time, behind one
//! contract, [`Provider`], that the scrape manager polls.
//!
//! A provider answers with target groups (targets and their labels, `__meta_*` included),
//! as a static group is written. The manager asks each one again at its refresh interval;
//! a provider that fails keeps the groups it gave last, as Prometheus keeps a discoverer's
//! last targets, and the failure is logged and counted. File discovery, which watches for
//! changes rather than polling, stays in the manager.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::config::{Discovery, StaticConfig};

mod dns;
mod docker;
mod dockerswarm;
mod http;

pub use docker::{DockerSdConfig, Filter};
pub use dockerswarm::DockerSwarmSdConfig;

/// The future a provider's refresh returns.
pub type Refresh<'a> = Pin<Box<dyn Future<Output = Result<Vec<StaticConfig>, String>> + Send + 'a>>;

/// A source of target groups.
pub trait Provider: Send + Sync {
    /// How logs name it: the configuration key and its index (`http_sd_configs[0]`).
    fn name(&self) -> &str;
    /// How often to ask again.
    fn refresh_interval(&self) -> Duration;
    /// The groups now, or why they cannot be had.
    fn refresh(&self) -> Refresh<'_>;
}

/// The providers a section's discovery configures (files aside).
pub fn providers(discovery: &Discovery) -> Result<Vec<Box<dyn Provider>>, String> {
    let mut out: Vec<Box<dyn Provider>> = Vec::new();
    for (n, config) in discovery.http_sd_configs.iter().enumerate() {
        out.push(Box::new(http::HttpSd::new(n, config)?));
    }
    for (n, config) in discovery.dns_sd_configs.iter().enumerate() {
        out.push(Box::new(dns::DnsSd::new(n, config)));
    }
    for (n, config) in discovery.docker_sd_configs.iter().enumerate() {
        out.push(Box::new(docker::DockerSd::new(n, config)?));
    }
    for (n, config) in discovery.dockerswarm_sd_configs.iter().enumerate() {
        out.push(Box::new(dockerswarm::DockerSwarmSd::new(n, config)?));
    }
    Ok(out)
}

/// `host:port`, the host bracketed when it is an IPv6 address, as Go's `JoinHostPort`
/// writes the addresses Prometheus's providers discover.
fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
