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

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{Discovery, StaticConfig};

mod digitalocean;
mod dns;
mod docker;
mod dockerswarm;
mod follow;
mod hetzner;
mod http;
pub mod kubernetes;
mod linode;
mod nerve;
mod puppetdb;
mod serverset;
mod vultr;
mod zookeeper;

pub use digitalocean::DigitalOceanSdConfig;
pub use hetzner::{HetznerRole, HetznerSdConfig};
pub use linode::LinodeSdConfig;
pub use vultr::VultrSdConfig;
pub use zookeeper::ZookeeperSdConfig;

pub use docker::{DockerSdConfig, Filter};
pub use dockerswarm::DockerSwarmSdConfig;
pub use follow::{Event, follow, groups_now};

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

/// The providers a section's discovery configures (files aside), and those that could not
/// be made, by name and why (a missing credentials file, no in-cluster configuration):
/// those fail as Prometheus's discoverers fail to start, while the others run.
pub fn providers(discovery: &Discovery) -> (Vec<Box<dyn Provider>>, Vec<Unmade>) {
    let mut made = Made::default();
    sections(discovery, &mut made);
    (made.providers, made.failed)
}

/// How many provider sections `discovery` has (files and static targets aside).
pub fn provider_count(discovery: &Discovery) -> usize {
    let mut count = Count(0);
    sections(discovery, &mut count);
    count.0
}

/// What is done with each kind of provider section.
trait Sections {
    /// Takes the sections of `key`, each made into a provider by `make`.
    fn add<C, P: Provider + 'static>(
        &mut self,
        key: &str,
        configs: &[C],
        make: impl Fn(usize, &C) -> Result<P, String>,
    );
}

/// Every provider section of `discovery`, told to `made`: the one list of providers.
fn sections(discovery: &Discovery, made: &mut impl Sections) {
    made.add(
        "http_sd_configs",
        &discovery.http_sd_configs,
        http::HttpSd::new,
    );
    made.add(
        "puppetdb_sd_configs",
        &discovery.puppetdb_sd_configs,
        puppetdb::PuppetDb::new,
    );
    made.add(
        "hetzner_sd_configs",
        &discovery.hetzner_sd_configs,
        hetzner::Hetzner::new,
    );
    made.add(
        "digitalocean_sd_configs",
        &discovery.digitalocean_sd_configs,
        digitalocean::DigitalOcean::new,
    );
    made.add(
        "linode_sd_configs",
        &discovery.linode_sd_configs,
        linode::Linode::new,
    );
    made.add(
        "vultr_sd_configs",
        &discovery.vultr_sd_configs,
        vultr::Vultr::new,
    );
    made.add(
        "kubernetes_sd_configs",
        &discovery.kubernetes_sd_configs,
        kubernetes::KubernetesSd::new,
    );
    made.add("dns_sd_configs", &discovery.dns_sd_configs, |n, c| {
        Ok(dns::DnsSd::new(n, c))
    });
    made.add(
        "docker_sd_configs",
        &discovery.docker_sd_configs,
        docker::DockerSd::new,
    );
    made.add(
        "dockerswarm_sd_configs",
        &discovery.dockerswarm_sd_configs,
        dockerswarm::DockerSwarmSd::new,
    );
    made.add(
        "serverset_sd_configs",
        &discovery.serverset_sd_configs,
        |n, c| {
            Ok(zookeeper::ZookeeperSd::new(
                "serverset_sd_configs",
                n,
                c,
                serverset::parse_member,
            ))
        },
    );
    made.add("nerve_sd_configs", &discovery.nerve_sd_configs, |n, c| {
        Ok(zookeeper::ZookeeperSd::new(
            "nerve_sd_configs",
            n,
            c,
            nerve::parse_member,
        ))
    });
}

/// A provider that could not be made: its name (`kubernetes_sd_configs[0]`) and why.
pub type Unmade = (String, String);

/// The providers made so far, and those that could not be.
#[derive(Default)]
struct Made {
    providers: Vec<Box<dyn Provider>>,
    failed: Vec<Unmade>,
}

impl Sections for Made {
    fn add<C, P: Provider + 'static>(
        &mut self,
        key: &str,
        configs: &[C],
        make: impl Fn(usize, &C) -> Result<P, String>,
    ) {
        for (n, config) in configs.iter().enumerate() {
            match make(n, config) {
                Ok(provider) => self.providers.push(Box::new(provider)),
                Err(e) => self.failed.push((format!("{key}[{n}]"), e)),
            }
        }
    }
}

/// Counts sections.
struct Count(usize);

impl Sections for Count {
    fn add<C, P: Provider + 'static>(
        &mut self,
        _: &str,
        configs: &[C],
        _: impl Fn(usize, &C) -> Result<P, String>,
    ) {
        self.0 += configs.len();
    }
}

/// A vendor API's HTTP client: the section's client settings and `Authorization` header,
/// and the refresh interval as each request's deadline, as Prometheus sets Go's
/// `http.Client.Timeout`.
struct ApiClient {
    client: reqwest::Client,
    authorization: Option<String>,
    timeout: Duration,
}

impl ApiClient {
    fn new(http: &crate::config::HttpClientConfig, interval: Duration) -> Result<Self, String> {
        Ok(Self {
            client: http.client()?,
            authorization: http.authorization_header(),
            timeout: interval.max(Duration::from_secs(1)),
        })
    }

    /// A GET of `url`, authenticated as the section says.
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.authenticated(self.client.get(url))
    }

    /// A POST to `url`, authenticated as the section says.
    fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.authenticated(self.client.post(url))
    }

    fn authenticated(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.timeout(self.timeout);
        match &self.authorization {
            Some(auth) => request.header(reqwest::header::AUTHORIZATION, auth),
            None => request,
        }
    }
}

/// One target and its labels, as a group of its own: the cloud providers label each
/// target apart, as Prometheus's discoverers give one label set per target.
fn target(address: String, labels: BTreeMap<String, String>) -> StaticConfig {
    StaticConfig {
        targets: vec![address],
        labels,
    }
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

/// A label name made of `s`: every character but letters, digits and `_` becomes `_`, as
/// Prometheus's `strutil.SanitizeLabelName` makes names of tags and network names.
fn sanitize_label_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Sends `request` to `url` (named in errors) and reads its JSON answer. Anything but a 2xx
/// status is an error, as it is to the vendors' SDKs: the refresh fails and the manager
/// keeps the last targets; the next refresh tries again.
async fn get_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<T, String> {
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!(
            "{url}: server returned HTTP status {status}: {}",
            text.trim()
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| format!("{url}: line {}, column {}: {e}", e.line(), e.column()))
}

/// A JSON value that reads `null` as the zero value, as Go's `encoding/json` leaves a
/// field it finds null: the vendors' APIs write `null` for an absent image, tag list or
/// address, and Prometheus then labels with `""`. (A missing field is `#[serde(default)]`.)
#[derive(Debug, Default, Clone, PartialEq)]
struct Nullable<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}

impl<T> std::ops::Deref for Nullable<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod testing {
    //! What the providers' tests share: a fake vendor API on loopback.

    /// Serves `router` on a loopback port the OS picks; answers its base URL.
    pub(super) async fn fake_api(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    /// A target group of one target, as the providers answer.
    pub(super) fn group(address: &str, labels: &[(&str, &str)]) -> crate::config::StaticConfig {
        crate::config::StaticConfig {
            targets: vec![address.to_owned()],
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A JSON answer with `status`.
    pub(super) fn json(
        status: u16,
        body: serde_json::Value,
    ) -> (
        axum::http::StatusCode,
        [(&'static str, &'static str); 1],
        String,
    ) {
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body.to_string(),
        )
    }
}
