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

mod azure;
mod consul;
mod digitalocean;
mod dns;
mod docker;
mod dockerswarm;
mod ec2;
mod eureka;
mod follow;
mod gce;
mod hetzner;
mod http;
mod ionos;
pub mod kubernetes;
mod kuma;
mod lightsail;
mod linode;
mod marathon;
mod nerve;
mod nomad;
mod openstack;
mod ovhcloud;
mod puppetdb;
mod scaleway;
mod serverset;
mod triton;
mod uyuni;
mod vultr;
mod zookeeper;

pub use azure::AzureSdConfig;
pub use consul::ConsulSdConfig;
pub use digitalocean::DigitalOceanSdConfig;
pub use ec2::{Ec2Filter, Ec2SdConfig};
pub use gce::GceSdConfig;
pub use hetzner::{HetznerRole, HetznerSdConfig};
pub use ionos::IonosSdConfig;
pub use kuma::KumaSdConfig;
pub use lightsail::LightsailSdConfig;
pub use linode::LinodeSdConfig;
pub use openstack::{OpenstackRole, OpenstackSdConfig};
pub use ovhcloud::OvhcloudSdConfig;
pub use scaleway::{ScalewayRole, ScalewaySdConfig};
pub use triton::TritonSdConfig;
pub use uyuni::UyuniSdConfig;
pub use vultr::VultrSdConfig;
pub use zookeeper::ZookeeperSdConfig;

pub use docker::{DockerSdConfig, Filter};
pub use dockerswarm::DockerSwarmSdConfig;
pub use eureka::EurekaSdConfig;
pub use follow::{Event, follow, groups_now};
pub use marathon::MarathonSdConfig;
pub use nomad::NomadSdConfig;

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
    made.add("ec2_sd_configs", &discovery.ec2_sd_configs, ec2::Ec2::new);
    made.add(
        "lightsail_sd_configs",
        &discovery.lightsail_sd_configs,
        lightsail::Lightsail::new,
    );
    made.add(
        "ionos_sd_configs",
        &discovery.ionos_sd_configs,
        ionos::Ionos::new,
    );
    made.add(
        "scaleway_sd_configs",
        &discovery.scaleway_sd_configs,
        scaleway::Scaleway::new,
    );
    made.add(
        "ovhcloud_sd_configs",
        &discovery.ovhcloud_sd_configs,
        ovhcloud::Ovhcloud::new,
    );
    made.add(
        "openstack_sd_configs",
        &discovery.openstack_sd_configs,
        openstack::Openstack::new,
    );
    made.add(
        "triton_sd_configs",
        &discovery.triton_sd_configs,
        triton::Triton::new,
    );
    made.add(
        "uyuni_sd_configs",
        &discovery.uyuni_sd_configs,
        uyuni::Uyuni::new,
    );
    made.add(
        "azure_sd_configs",
        &discovery.azure_sd_configs,
        azure::Azure::new,
    );
    made.add("gce_sd_configs", &discovery.gce_sd_configs, gce::Gce::new);
    made.add(
        "kubernetes_sd_configs",
        &discovery.kubernetes_sd_configs,
        kubernetes::KubernetesSd::new,
    );
    made.add(
        "consul_sd_configs",
        &discovery.consul_sd_configs,
        consul::Consul::new,
    );
    made.add(
        "kuma_sd_configs",
        &discovery.kuma_sd_configs,
        kuma::Kuma::new,
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
        "eureka_sd_configs",
        &discovery.eureka_sd_configs,
        eureka::Eureka::new,
    );
    made.add(
        "nomad_sd_configs",
        &discovery.nomad_sd_configs,
        nomad::Nomad::new,
    );
    made.add(
        "marathon_sd_configs",
        &discovery.marathon_sd_configs,
        marathon::Marathon::new,
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

/// A vendor API's HTTP client: the section's client settings and authentication (a fixed
/// `Authorization` header or OAuth 2.0 tokens), and the refresh interval as each request's
/// deadline, as Prometheus sets Go's `http.Client.Timeout`.
struct ApiClient {
    client: reqwest::Client,
    auth: crate::client::Auth,
    timeout: Duration,
}

impl ApiClient {
    fn new(http: &crate::config::HttpClientConfig, interval: Duration) -> Result<Self, String> {
        Ok(Self {
            client: http.client()?,
            auth: http.auth()?,
            timeout: interval.max(Duration::from_secs(1)),
        })
    }

    /// A GET of `url`, authenticated as the section says; fails if no OAuth 2.0 token can
    /// be had.
    async fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        self.authenticated(self.client.get(url)).await
    }

    /// A GET of `url` with no authentication of the section's (a provider that signs its
    /// requests itself).
    fn unsigned_get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url).timeout(self.timeout)
    }

    /// A POST to `url` with no authentication of the section's (a provider that signs in
    /// itself).
    fn unsigned_post(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.post(url).timeout(self.timeout)
    }

    /// A GET of `url` as Go's client sends it under Prometheus's settings: a user and
    /// password in the URL go as basic authentication, in place of the section's
    /// credentials. Answers the request and the URL to name in errors, which leaves the
    /// password out.
    async fn get_as_go(&self, url: &str) -> Result<(reqwest::RequestBuilder, String), String> {
        Ok(match without_credentials(url) {
            // reqwest takes the URL's user and password for basic authentication.
            Some(shown) => (self.client.get(url).timeout(self.timeout), shown),
            None => (self.get(url).await?, url.to_owned()),
        })
    }

    /// A POST to `url`, authenticated as the section says.
    async fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        self.authenticated(self.client.post(url)).await
    }

    async fn authenticated(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, String> {
        self.auth.apply(request.timeout(self.timeout)).await
    }
}

/// The client settings of a section whose only client key is `tls_config` (OpenStack,
/// Triton): Prometheus gives those a plain Go transport with the TLS settings, which
/// follows redirects, uses no proxy, sends no `Authorization` and speaks HTTP/1.1.
fn tls_only_client(tls: &crate::config::TlsConfig) -> crate::config::HttpClientConfig {
    crate::config::HttpClientConfig {
        tls_config: tls.clone(),
        follow_redirects: true,
        enable_http2: false,
        ..Default::default()
    }
}

/// Makes the files of a section's `tls_config` relative to `dir`, the configuration
/// file's directory, as the sections with full client settings make theirs.
pub(crate) fn tls_in_directory(tls: &mut crate::config::TlsConfig, dir: &std::path::Path) {
    let mut http = tls_only_client(tls);
    http.set_directory(dir);
    *tls = http.tls_config;
}

/// `url` without its user and password, if it has either.
fn without_credentials(url: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(url).ok()?;
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    // Neither can fail: a URL with credentials has a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(url.into())
}

/// One target and its labels, as a group of its own: the cloud providers label each
/// target apart, as Prometheus's discoverers give one label set per target.
fn target(address: String, labels: BTreeMap<String, String>) -> StaticConfig {
    StaticConfig {
        targets: vec![address],
        labels,
    }
}

/// The port most providers' targets default to, as their Prometheus configurations do.
fn default_port() -> u16 {
    80
}

/// The refresh interval most providers default to, as their Prometheus configurations do.
fn default_refresh_interval() -> crate::config::Duration {
    crate::config::Duration(60_000)
}

/// A list with a comma on both ends too, as Prometheus writes lists in labels (tags, IP
/// addresses), so that a relabelling regex need not care where in the list an item is.
fn comma_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from(",");
    for item in items {
        out.push_str(item.as_ref());
        out.push(',');
    }
    if items.is_empty() {
        out.push(',');
    }
    out
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
    let body = get_body(request, url).await?;
    parse_json(&body, url)
}

/// Sends `request` to `url` (named in errors) and reads its body, which must come with a
/// 2xx status, as [`get_json`] requires.
async fn get_body(request: reqwest::RequestBuilder, url: &str) -> Result<Vec<u8>, String> {
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    read_body(response, url).await
}

/// Reads the JSON answer `response` to a request of `url` (named in errors), as
/// [`get_json`] does, for a provider that looks at the response first (to retry it).
async fn read_json<T: DeserializeOwned>(
    response: reqwest::Response,
    url: &str,
) -> Result<T, String> {
    let body = read_body(response, url).await?;
    parse_json(&body, url)
}

/// The body of `response` to a request of `url`, if its status is 2xx.
async fn read_body(response: reqwest::Response, url: &str) -> Result<Vec<u8>, String> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!(
            "{url}: server returned HTTP status {status}: {}",
            text.trim()
        ));
    }
    Ok(body.into())
}

/// `body`, the answer of `url`, as JSON.
fn parse_json<T: DeserializeOwned>(body: &[u8], url: &str) -> Result<T, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("{url}: line {}, column {}: {e}", e.line(), e.column()))
}

/// The value behind `m`: a provider's state stays usable after a panic elsewhere left its
/// lock poisoned, since each value it holds is written whole.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A client as Go's default one, which the cloud vendors' SDKs use where Prometheus gives
/// them no client of its own (Azure's and Google's token requests, Google's API): the
/// system's roots, and the proxy the environment names (`HTTPS_PROXY`, `NO_PROXY`), as Go's
/// `ProxyFromEnvironment`.
fn default_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent(concat!("Skywatch/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(crate::tls::client_config(
            &crate::config::TlsConfig::default(),
        )?)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// A POST of the form `pairs` (in their order) to `url`, as Go's `PostForm` sends the
/// cloud SDKs' token requests.
fn post_form(
    client: &reqwest::Client,
    url: &str,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
}

/// `s` escaped as one segment of a URL path, as the vendors' Go SDKs escape the names they
/// put in paths (Go's `QueryEscape` with `%20` for a space): `/` and `?` included.
fn path_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
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

    /// A provider's section read from `text` and checked by `check` (its `validate`).
    pub(super) fn section<T: serde::de::DeserializeOwned>(
        text: &str,
        check: impl Fn(&T) -> Result<(), String>,
    ) -> T {
        let section: T = yaml::from_str(text).unwrap();
        check(&section).unwrap();
        section
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

    /// The error of a configuration whose one scrape job has one `key` section, written
    /// as YAML's flow or block `section`.
    pub(super) fn config_error(key: &str, section: &str) -> String {
        let text = format!("scrape_configs:\n  - job_name: sd\n    {key}:\n      - {section}\n");
        match crate::Config::parse(&text, "p.yml") {
            Ok(_) => panic!("{key}: {section} was accepted"),
            Err(e) => e.message,
        }
    }

    /// A configuration of one job whose `key` section is `section` (its later lines
    /// indented by eight spaces, as a list item's keys), or why it is refused.
    pub(super) fn parse_section(
        key: &str,
        section: &str,
    ) -> Result<crate::Config, crate::ConfigError> {
        crate::Config::parse(
            &format!("scrape_configs:\n  - job_name: a\n    {key}:\n      - {section}\n"),
            "p.yml",
        )
    }

    /// Asserts that a job with that section is refused, the message ending `key[0]: want`.
    pub(super) fn assert_refused(key: &str, section: &str, want: &str) {
        let e = parse_section(key, section).unwrap_err();
        assert!(
            e.message.ends_with(&format!("{key}[0]: {want}")),
            "{section}: {e}"
        );
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
