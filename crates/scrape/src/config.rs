//! The configuration file: a compatible subset of Prometheus's `prometheus.yml`.
//!
//! Every key this reads means what it means to Prometheus, with Prometheus's defaults, so a
//! Prometheus configuration moves in unchanged and moves out again. Skywatch's own settings
//! (where to listen and keep data) live under a `skywatch:` section, the one thing to
//! delete before handing the file to Prometheus. Unknown keys and bad values are errors
//! that name the file, line and column, and the key; cross-field mistakes (a timeout
//! longer than its interval, a duplicate job) name the line of the job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use httpclient::config::{
    Authorization, BasicAuth, HttpClientConfig, TlsConfig, TlsVersion, in_directory,
};

use serde::Deserialize;
use yaml::Spanned;

use crate::discovery::kubernetes::KubernetesSdConfig;
pub use crate::discovery::{DockerSdConfig, DockerSwarmSdConfig};
use crate::relabel::RelabelConfig;

/// A parsed and validated configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Defaults for every scrape job.
    #[serde(default)]
    pub global: GlobalConfig,
    /// Rule files (globs), read by the rule engine.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Where alerts go.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// The scrape jobs.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Files of more scrape jobs, as Prometheus 2.43 added (not supported yet: refused if
    /// set).
    #[serde(default)]
    pub scrape_config_files: Vec<NotSupported>,
    /// Prometheus's storage settings (accepted; Skywatch's TSDB takes out-of-order samples
    /// within the head's range regardless).
    #[serde(default)]
    pub storage: StorageConfig,
    /// Where Prometheus would send its own traces (not supported yet: refused if set).
    #[serde(default)]
    pub tracing: Option<TracingConfig>,
    /// Where every stored sample is also sent, with Prometheus's remote write protocol.
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Where queries also read older (or all) data, with Prometheus's remote read
    /// protocol.
    #[serde(default)]
    pub remote_read: Vec<RemoteReadConfig>,
    /// OTLP ingestion settings of Prometheus 2.47 and later (not supported yet).
    #[serde(default)]
    pub otlp: Option<NotSupported>,
    /// Go runtime settings of Prometheus 2.53 and later (not supported yet).
    #[serde(default)]
    pub runtime: Option<NotSupported>,
    /// Skywatch's own settings.
    #[serde(default)]
    pub skywatch: SkywatchConfig,
}

/// A section Prometheus reads and Skywatch does not implement yet: read, so that the file
/// loads as far as the check that names it, and never mistaken for a typo.
pub type NotSupported = Spanned<serde::de::IgnoredAny>;

/// Prometheus's `tracing` section: the server's own spans over OTLP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// `grpc` (default) or `http`.
    pub client_type: Option<String>,
    /// The OTLP endpoint, `host:port`; tracing is off without one.
    pub endpoint: Option<Spanned<String>>,
    /// The share of traces sampled.
    pub sampling_fraction: Option<f64>,
    /// Plain-text OTLP; without it, exports go over TLS with `tls_config`.
    pub insecure: bool,
    /// TLS settings (the system's roots without any); ignored with `insecure`.
    pub tls_config: Option<TlsConfig>,
    /// Headers (gRPC metadata) sent with each export.
    pub headers: BTreeMap<String, String>,
    /// `gzip`, or none.
    pub compression: Option<String>,
    /// How long an export may take.
    pub timeout: Option<Duration>,
}

impl TracingConfig {
    /// Prometheus's checks of the section. Its TLS files are read when the server starts
    /// exporting (a missing one stops it, as it stops Prometheus), not by a check, as
    /// promtool does not read them.
    fn validate(&self) -> Result<(), String> {
        for header in self.headers.keys() {
            let lower = header.to_ascii_lowercase();
            if lower == "authorization" {
                return Err(
                    "custom authorization header configuration is not yet supported".into(),
                );
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!(
                    "{header} is a reserved header. It must not be changed"
                ));
            }
        }
        match &self.endpoint {
            Some(e) if !e.value.is_empty() => {}
            _ => return Err("tracing endpoint must be set".into()),
        }
        if let Some(kind) = &self.client_type
            && kind != "grpc"
            && kind != "http"
        {
            return Err(format!(
                "expected tracing client type to be to be http or grpc, but got {kind}"
            ));
        }
        if let Some(c) = &self.compression
            && !c.is_empty()
            && c != "gzip"
        {
            return Err(format!(
                "invalid compression type {c} provided, valid options: gzip"
            ));
        }
        Ok(())
    }

    /// Whether exports are gzip-compressed.
    pub fn gzip(&self) -> bool {
        self.compression.as_deref() == Some("gzip")
    }

    /// Where spans go: the endpoint as a URL (`https`, or `http` if `insecure`).
    pub fn url(&self) -> Option<String> {
        let endpoint = self.endpoint.as_ref()?;
        let scheme = if self.insecure { "http" } else { "https" };
        Some(format!("{scheme}://{}", endpoint.value))
    }

    /// Whether spans go over OTLP/HTTP (`client_type: http`) rather than gRPC.
    pub fn is_http(&self) -> bool {
        self.client_type.as_deref() == Some("http")
    }
}

/// Declares a section of the configuration that discovers targets and reaches them over
/// HTTP: its own keys as written, and the keys Prometheus inlines in it, the HTTP client
/// settings and the service discovery configurations, gathered into [`HttpClientConfig`]
/// and [`Discovery`]. (serde's `flatten` would lose unknown-key errors and positions.)
macro_rules! target_source {
    ($(#[doc = $doc:literal])* pub struct $name:ident { $($fields:tt)* }) => {
        config_section! {
            raw
            [
                /// Where the targets come from.
                pub discovery: Discovery,
            ]
            [
                #[serde(default)]
                static_configs: Vec<StaticConfig>,
                #[serde(default)]
                file_sd_configs: Vec<FileSdConfig>,
                #[serde(default)]
                http_sd_configs: Vec<HttpSdConfig>,
                #[serde(default)]
                dns_sd_configs: Vec<DnsSdConfig>,
                #[serde(default)]
                azure_sd_configs: Vec<crate::discovery::AzureSdConfig>,
                #[serde(default)]
                consul_sd_configs: Vec<crate::discovery::ConsulSdConfig>,
                #[serde(default)]
                digitalocean_sd_configs: Vec<crate::discovery::DigitalOceanSdConfig>,
                #[serde(default)]
                docker_sd_configs: Vec<DockerSdConfig>,
                #[serde(default)]
                dockerswarm_sd_configs: Vec<DockerSwarmSdConfig>,
                #[serde(default)]
                ec2_sd_configs: Vec<crate::discovery::Ec2SdConfig>,
                #[serde(default)]
                eureka_sd_configs: Vec<crate::discovery::EurekaSdConfig>,
                #[serde(default)]
                gce_sd_configs: Vec<crate::discovery::GceSdConfig>,
                #[serde(default)]
                hetzner_sd_configs: Vec<crate::discovery::HetznerSdConfig>,
                #[serde(default)]
                ionos_sd_configs: Vec<crate::discovery::IonosSdConfig>,
                #[serde(default)]
                kubernetes_sd_configs: Vec<KubernetesSdConfig>,
                #[serde(default)]
                kuma_sd_configs: Vec<crate::discovery::KumaSdConfig>,
                #[serde(default)]
                lightsail_sd_configs: Vec<crate::discovery::LightsailSdConfig>,
                #[serde(default)]
                linode_sd_configs: Vec<crate::discovery::LinodeSdConfig>,
                #[serde(default)]
                marathon_sd_configs: Vec<crate::discovery::MarathonSdConfig>,
                #[serde(default)]
                nerve_sd_configs: Vec<crate::discovery::ZookeeperSdConfig>,
                #[serde(default)]
                nomad_sd_configs: Vec<crate::discovery::NomadSdConfig>,
                #[serde(default)]
                openstack_sd_configs: Vec<crate::discovery::OpenstackSdConfig>,
                #[serde(default)]
                ovhcloud_sd_configs: Vec<crate::discovery::OvhcloudSdConfig>,
                #[serde(default)]
                puppetdb_sd_configs: Vec<PuppetDbSdConfig>,
                #[serde(default)]
                scaleway_sd_configs: Vec<crate::discovery::ScalewaySdConfig>,
                #[serde(default)]
                serverset_sd_configs: Vec<crate::discovery::ZookeeperSdConfig>,
                #[serde(default)]
                triton_sd_configs: Vec<crate::discovery::TritonSdConfig>,
                #[serde(default)]
                uyuni_sd_configs: Vec<crate::discovery::UyuniSdConfig>,
                #[serde(default)]
                outscale_sd_configs: Option<NotSupported>,
                #[serde(default)]
                stackit_sd_configs: Option<NotSupported>,
                #[serde(default)]
                vultr_sd_configs: Vec<crate::discovery::VultrSdConfig>,
            ]
            [
                discovery: Discovery {
                    static_configs: raw.static_configs,
                    file_sd_configs: raw.file_sd_configs,
                    http_sd_configs: raw.http_sd_configs,
                    dns_sd_configs: raw.dns_sd_configs,
                    puppetdb_sd_configs: raw.puppetdb_sd_configs,
                    hetzner_sd_configs: raw.hetzner_sd_configs,
                    digitalocean_sd_configs: raw.digitalocean_sd_configs,
                    linode_sd_configs: raw.linode_sd_configs,
                    vultr_sd_configs: raw.vultr_sd_configs,
                    ionos_sd_configs: raw.ionos_sd_configs,
                    scaleway_sd_configs: raw.scaleway_sd_configs,
                    ovhcloud_sd_configs: raw.ovhcloud_sd_configs,
                    uyuni_sd_configs: raw.uyuni_sd_configs,
                    openstack_sd_configs: raw.openstack_sd_configs,
                    triton_sd_configs: raw.triton_sd_configs,
                    azure_sd_configs: raw.azure_sd_configs,
                    gce_sd_configs: raw.gce_sd_configs,
                    ec2_sd_configs: raw.ec2_sd_configs,
                    lightsail_sd_configs: raw.lightsail_sd_configs,
                    kubernetes_sd_configs: raw.kubernetes_sd_configs,
                    docker_sd_configs: raw.docker_sd_configs,
                    dockerswarm_sd_configs: raw.dockerswarm_sd_configs,
                    consul_sd_configs: raw.consul_sd_configs,
                    kuma_sd_configs: raw.kuma_sd_configs,
                    marathon_sd_configs: raw.marathon_sd_configs,
                    nomad_sd_configs: raw.nomad_sd_configs,
                    eureka_sd_configs: raw.eureka_sd_configs,
                    serverset_sd_configs: raw.serverset_sd_configs,
                    nerve_sd_configs: raw.nerve_sd_configs,
                    unsupported: [
                        ("outscale_sd_configs", raw.outscale_sd_configs),
                        ("stackit_sd_configs", raw.stackit_sd_configs),
                    ]
                    .into_iter()
                    .filter_map(|(key, at)| at.map(|at| (key, at.referenced)))
                    .collect(),
                },
            ]
            $(#[doc = $doc])* pub struct $name { $($fields)* }
        }
    };
}

/// Declares a section of the configuration that reaches a server over HTTP: its own keys
/// and the HTTP client settings, as [`target_source!`] does. Discovery providers declare
/// their configurations with it in their own files, so every name it expands to is a
/// full path.
macro_rules! http_client {
    ($(#[doc = $doc:literal])* pub struct $name:ident { $($fields:tt)* }) => {
        $crate::config::config_section! { raw [] [] [] $(#[doc = $doc])* pub struct $name { $($fields)* } }
    };
}
pub(crate) use http_client;

macro_rules! config_section {
    ($raw:ident
        [ $($extra_field:tt)* ]
        [ $($extra_raw:tt)* ]
        [ $($extra_value:tt)* ]
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $field_doc:literal])*
                $(#[serde($($serde:tt)*)])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $( $(#[doc = $field_doc])* pub $field: $ty, )*
            /// The HTTP client settings.
            pub http: $crate::config::HttpClientConfig,
            $($extra_field)*
        }

        impl $crate::config::HttpSection for $name {
            fn http_mut(&mut self) -> &mut $crate::config::HttpClientConfig {
                &mut self.http
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(::serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Raw {
                    $( $(#[serde($($serde)*)])* $field: $ty, )*
                    #[serde(default)]
                    basic_auth: Option<$crate::config::BasicAuth>,
                    #[serde(default)]
                    authorization: Option<$crate::config::Authorization>,
                    #[serde(default)]
                    oauth2: Option<$crate::oauth2::OAuth2Config>,
                    #[serde(default)]
                    bearer_token: Option<String>,
                    #[serde(default)]
                    bearer_token_file: Option<::std::path::PathBuf>,
                    #[serde(default)]
                    tls_config: Option<$crate::config::TlsConfig>,
                    #[serde(default)]
                    proxy_url: Option<String>,
                    #[serde(default)]
                    proxy_connect_header: ::std::collections::BTreeMap<String, Vec<String>>,
                    #[serde(default = "crate::config::default_true")]
                    follow_redirects: bool,
                    #[serde(default = "crate::config::default_true")]
                    enable_http2: bool,
                    $($extra_raw)*
                }
                let $raw = <Raw as ::serde::Deserialize>::deserialize(d)?;
                Ok($name {
                    $( $field: $raw.$field, )*
                    http: $crate::config::HttpClientConfig {
                        basic_auth: $raw.basic_auth,
                        authorization: $raw.authorization,
                        oauth2: $raw.oauth2,
                        bearer_token: $raw.bearer_token,
                        bearer_token_file: $raw.bearer_token_file,
                        tls_config: $raw.tls_config.unwrap_or_default(),
                        proxy_url: $raw.proxy_url,
                        proxy_connect_header: $raw.proxy_connect_header,
                        follow_redirects: $raw.follow_redirects,
                        enable_http2: $raw.enable_http2,
                    },
                    $($extra_value)*
                })
            }
        }
    };
}

// The providers under `discovery/` declare their sections with these.
pub(crate) use config_section;

/// A section with HTTP client settings: its files are found relative to the configuration
/// file's directory.
pub trait HttpSection {
    /// The section's HTTP client settings.
    fn http_mut(&mut self) -> &mut HttpClientConfig;
}

/// Makes each relative file named by `sections`' HTTP client settings relative to `dir`.
fn http_sections_in<T: HttpSection>(sections: &mut [T], dir: &Path) {
    for section in sections {
        section.http_mut().set_directory(dir);
    }
}

/// Where a section's targets come from: listed, read from files, or discovered.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Targets listed in the file.
    pub static_configs: Vec<StaticConfig>,
    /// Targets read from files, which are watched.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Targets fetched from HTTP endpoints.
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Targets looked up in DNS.
    pub dns_sd_configs: Vec<DnsSdConfig>,
    /// Targets from PuppetDB resources.
    pub puppetdb_sd_configs: Vec<PuppetDbSdConfig>,
    /// Hetzner Cloud and Robot servers.
    pub hetzner_sd_configs: Vec<crate::discovery::HetznerSdConfig>,
    /// DigitalOcean droplets.
    pub digitalocean_sd_configs: Vec<crate::discovery::DigitalOceanSdConfig>,
    /// Linode instances.
    pub linode_sd_configs: Vec<crate::discovery::LinodeSdConfig>,
    /// Vultr instances.
    pub vultr_sd_configs: Vec<crate::discovery::VultrSdConfig>,
    /// IONOS Cloud servers.
    pub ionos_sd_configs: Vec<crate::discovery::IonosSdConfig>,
    /// Scaleway Instances or Elastic Metal servers.
    pub scaleway_sd_configs: Vec<crate::discovery::ScalewaySdConfig>,
    /// OVHcloud VPS or dedicated servers.
    pub ovhcloud_sd_configs: Vec<crate::discovery::OvhcloudSdConfig>,
    /// Systems' monitoring endpoints from a Uyuni server.
    pub uyuni_sd_configs: Vec<crate::discovery::UyuniSdConfig>,
    /// OpenStack hypervisors or instances.
    pub openstack_sd_configs: Vec<crate::discovery::OpenstackSdConfig>,
    /// Triton containers or compute nodes.
    pub triton_sd_configs: Vec<crate::discovery::TritonSdConfig>,
    /// Azure virtual machines, those of scale sets included.
    pub azure_sd_configs: Vec<crate::discovery::AzureSdConfig>,
    /// Google Compute Engine instances.
    pub gce_sd_configs: Vec<crate::discovery::GceSdConfig>,
    /// EC2 instances.
    pub ec2_sd_configs: Vec<crate::discovery::Ec2SdConfig>,
    /// Lightsail instances.
    pub lightsail_sd_configs: Vec<crate::discovery::LightsailSdConfig>,
    /// Targets discovered from a Kubernetes API server.
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    /// Containers listed by a Docker engine.
    pub docker_sd_configs: Vec<DockerSdConfig>,
    /// Services, tasks or nodes listed by a Docker Swarm manager.
    pub dockerswarm_sd_configs: Vec<DockerSwarmSdConfig>,
    /// The instances of Consul's services.
    pub consul_sd_configs: Vec<crate::discovery::ConsulSdConfig>,
    /// The dataplane proxies of Kuma's meshes.
    pub kuma_sd_configs: Vec<crate::discovery::KumaSdConfig>,
    /// Eureka app instances.
    pub eureka_sd_configs: Vec<crate::discovery::EurekaSdConfig>,
    /// Services registered in Nomad.
    pub nomad_sd_configs: Vec<crate::discovery::NomadSdConfig>,
    /// Marathon app tasks.
    pub marathon_sd_configs: Vec<crate::discovery::MarathonSdConfig>,
    /// Twitter serverset members in ZooKeeper.
    pub serverset_sd_configs: Vec<crate::discovery::ZookeeperSdConfig>,
    /// Airbnb Nerve members in ZooKeeper.
    pub nerve_sd_configs: Vec<crate::discovery::ZookeeperSdConfig>,
    /// The service discovery keys Skywatch does not implement yet, with where each is
    /// written: the configuration is refused, naming them.
    pub unsupported: Vec<(&'static str, yaml::Location)>,
}

http_client! {
    /// `http_sd_configs`: target groups fetched as JSON from a URL.
    pub struct HttpSdConfig {
        /// The URL, `http` or `https`.
        pub url: Spanned<String>,
        /// How often to fetch it (default 1m).
        #[serde(default = "default_http_sd_refresh")]
        pub refresh_interval: Duration,
    }
}

http_client! {
    /// One `remote_write` destination.
    pub struct RemoteWriteConfig {
        /// The endpoint, such as `http://host:8428/api/v1/write`.
        pub url: Spanned<String>,
        /// How long one request may take (default 30s).
        #[serde(default = "default_remote_timeout")]
        pub remote_timeout: Duration,
        /// Headers sent with every request (not the reserved ones).
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// Relabelling of each series before it is sent.
        #[serde(default)]
        pub write_relabel_configs: Vec<RelabelConfig>,
        /// The queue's name in logs and metrics (default: derived from the URL).
        #[serde(default)]
        pub name: String,
        /// Send exemplars.
        #[serde(default)]
        pub send_exemplars: bool,
        /// Send native histograms (Skywatch stores none).
        #[serde(default)]
        pub send_native_histograms: bool,
        /// Batching and retries.
        #[serde(default)]
        pub queue_config: QueueConfig,
        /// Sending metric metadata.
        #[serde(default)]
        pub metadata_config: MetadataConfig,
        /// The message sent: remote write 1.0's `prometheus.WriteRequest` (the default) or
        /// 2.0's `io.prometheus.write.v2.Request`.
        #[serde(default)]
        pub protobuf_message: ProtobufMessage,
        /// Signs each request with AWS Signature Version 4 (Amazon Managed Service for
        /// Prometheus), instead of `basic_auth`, `authorization` or `oauth2`.
        #[serde(default)]
        pub sigv4: Option<Spanned<SigV4Config>>,
    }
}

/// `remote_write.sigv4`: how requests are signed for AWS, as prometheus/common's `sigv4`
/// reads it. Empty keys are found as the AWS SDK finds them (see the `aws` crate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigV4Config {
    /// The region to sign for (default: `AWS_REGION`).
    pub region: String,
    /// The access key ID; needs `secret_key`.
    pub access_key: String,
    /// The secret access key; needs `access_key`.
    pub secret_key: String,
    /// The profile of the shared credentials file to take the keys from.
    pub profile: String,
    /// A role to assume (STS `AssumeRole`) with the credentials found.
    pub role_arn: String,
}

/// `remote_write.queue_config`, with Prometheus 2.42's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples buffered in memory per shard.
    pub capacity: usize,
    /// The most shards sending in parallel.
    pub max_shards: usize,
    /// The fewest shards.
    pub min_shards: usize,
    /// Samples per request.
    pub max_samples_per_send: usize,
    /// How long a sample waits for a request to fill.
    pub batch_send_deadline: Duration,
    /// The first retry's wait.
    pub min_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
    /// Retry on HTTP 429, as on 5xx.
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Duration(5_000),
            min_backoff: Duration(30),
            max_backoff: Duration(5_000),
            retry_on_http_429: false,
        }
    }
}

/// `remote_write.protobuf_message`: which message a destination is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ProtobufMessage {
    /// Remote write 1.0.
    #[default]
    #[serde(rename = "prometheus.WriteRequest")]
    V1,
    /// Remote write 2.0.
    #[serde(rename = "io.prometheus.write.v2.Request")]
    V2,
}

/// `remote_write.metadata_config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Send metadata.
    pub send: bool,
    /// How often.
    pub send_interval: Duration,
    /// Entries per request.
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            send: true,
            send_interval: Duration(60_000),
            max_samples_per_send: 500,
        }
    }
}

fn default_remote_timeout() -> Duration {
    Duration(30_000)
}

/// Headers a remote write configuration may not set, as Prometheus lists them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Prometheus's checks of the headers a remote write or read configuration sets.
fn check_remote_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for header in headers.keys() {
        let lower = header.to_ascii_lowercase();
        if lower == "authorization" {
            return Err("the authorization header must be set with basic_auth, authorization, oauth2 or sigv4, not headers".into());
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(format!(
                "{header} is a reserved header; it must not be changed"
            ));
        }
    }
    Ok(())
}

impl RemoteWriteConfig {
    /// Prometheus's checks of a remote write destination.
    fn validate(&self) -> Result<(), String> {
        // Prometheus takes any URL Go can parse here (`localhost:9090` is one, of scheme
        // `localhost`); one that cannot be sent to fails at each send, counted.
        if self.url.value.is_empty() {
            return Err("url for remote_write is empty".into());
        }
        check_remote_headers(&self.headers)?;
        if let Some(sigv4) = &self.sigv4 {
            let line = sigv4.referenced.line();
            if sigv4.value.access_key.is_empty() != sigv4.value.secret_key.is_empty() {
                return Err(format!(
                    "line {line}: must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config (set both access_key and secret_key, or neither to use the AWS credential chain)"
                ));
            }
            let http = &self.http;
            if http.basic_auth.is_some()
                || http.authorization.is_some()
                || http.oauth2.is_some()
                || http.bearer_token.is_some()
                || http.bearer_token_file.is_some()
            {
                return Err(format!(
                    "line {line}: at most one of basic_auth, authorization, oauth2, & sigv4 must be configured (remove the others: sigv4 sets the Authorization header)"
                ));
            }
        }
        // Its TLS files are read when the server makes the destination's client (a missing
        // one stops the server from starting, as it stops Prometheus), not by a check.
        self.http.check()
    }
}

http_client! {
    /// One `remote_read` endpoint, which every query also reads.
    pub struct RemoteReadConfig {
        /// The endpoint, such as `http://host:9090/api/v1/read`.
        pub url: Spanned<String>,
        /// How long one request may take (default 1m).
        #[serde(default = "default_remote_read_timeout")]
        pub remote_timeout: Duration,
        /// Headers sent with every request (not the reserved ones).
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// Equality matchers a query's selector must all have for this endpoint to be read.
        #[serde(default)]
        pub required_matchers: BTreeMap<String, String>,
        /// Read it for times the local store also holds (default false: only for times
        /// before the local store's oldest sample).
        #[serde(default)]
        pub read_recent: bool,
        /// Select only series carrying the server's external labels, and strip them from
        /// the answer (default true).
        #[serde(default = "crate::config::default_true")]
        pub filter_external_labels: bool,
        /// The endpoint's name in logs and warnings (default: derived from the URL).
        #[serde(default)]
        pub name: String,
    }
}

fn default_remote_read_timeout() -> Duration {
    Duration(60_000)
}

impl RemoteReadConfig {
    /// Prometheus's checks of a remote read endpoint.
    fn validate(&self) -> Result<(), String> {
        if self.url.value.is_empty() {
            return Err("url for remote_read is empty".into());
        }
        check_remote_headers(&self.headers)?;
        self.http.check()
    }
}

http_client! {
    /// `puppetdb_sd_configs`: the resources a PQL query returns, one target each.
    pub struct PuppetDbSdConfig {
        /// PuppetDB's URL, `http` or `https`.
        pub url: Spanned<String>,
        /// The PQL query (resources).
        #[serde(default)]
        pub query: String,
        /// Label each target with the resource's parameters.
        #[serde(default)]
        pub include_parameters: bool,
        /// The port of the targets (default 80).
        #[serde(default = "default_puppetdb_port")]
        pub port: u16,
        /// How often to query (default 60s).
        #[serde(default = "default_http_sd_refresh")]
        pub refresh_interval: Duration,
    }
}

fn default_puppetdb_port() -> u16 {
    80
}

/// `dns_sd_configs`: targets from DNS records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    /// The names to look up.
    pub names: Vec<String>,
    /// How often to look them up again (default 30s).
    #[serde(default = "default_dns_sd_refresh")]
    pub refresh_interval: Duration,
    /// `SRV` (default), `A`, `AAAA` or `MX`.
    #[serde(default = "default_dns_type", rename = "type")]
    pub kind: String,
    /// The port of the targets, for every type but `SRV`.
    #[serde(default)]
    pub port: u16,
}

fn default_http_sd_refresh() -> Duration {
    Duration(60_000)
}

fn default_dns_sd_refresh() -> Duration {
    Duration(30_000)
}

fn default_dns_type() -> String {
    "SRV".into()
}

/// The `global` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    /// How often to scrape targets by default (Prometheus: 1m).
    pub scrape_interval: Duration,
    /// How long a scrape may take by default: as written, else 10s capped at the interval,
    /// as Prometheus does; see [`GlobalConfig::timeout`].
    pub scrape_timeout: Option<Duration>,
    /// How often to evaluate rules (Prometheus: 1m).
    pub evaluation_interval: Duration,
    /// Labels added to alerts and remote-written series.
    pub external_labels: BTreeMap<String, String>,
    /// Where Prometheus logs queries (not supported yet: refused if set).
    pub query_log_file: Option<Spanned<String>>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub body_size_limit: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub sample_limit: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub label_limit: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub label_name_length_limit: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub label_value_length_limit: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub target_limit: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub keep_dropped_targets: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub scrape_protocols: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub scrape_native_histograms: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub convert_classic_histograms_to_nhcb: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub always_scrape_classic_histograms: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub metric_name_validation_scheme: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub metric_name_escaping_scheme: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub rule_query_offset: Option<NotSupported>,
    /// A key of a later Prometheus (not supported yet: refused if set).
    pub scrape_failure_log_file: Option<NotSupported>,
}

impl GlobalConfig {
    /// The default scrape timeout.
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout
            .unwrap_or(Duration(10_000).min(self.scrape_interval))
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            scrape_interval: Duration(60_000),
            scrape_timeout: None,
            evaluation_interval: Duration(60_000),
            external_labels: BTreeMap::new(),
            query_log_file: None,
            body_size_limit: None,
            sample_limit: None,
            label_limit: None,
            label_name_length_limit: None,
            label_value_length_limit: None,
            target_limit: None,
            keep_dropped_targets: None,
            scrape_protocols: None,
            scrape_native_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            always_scrape_classic_histograms: None,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            rule_query_offset: None,
            scrape_failure_log_file: None,
        }
    }
}

/// The `alerting` section, read by the alerting side.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Relabelling of alerts before they are sent.
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// External Alertmanagers to send alerts to.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

target_source! {
    /// One entry of `alerting.alertmanagers`.
    pub struct AlertmanagerConfig {
        /// `http` or `https`.
        #[serde(default = "default_scheme")]
        pub scheme: Scheme,
        /// The path prefix of the Alertmanager API.
        #[serde(default)]
        pub path_prefix: String,
        /// How long a send may take.
        #[serde(default = "default_alertmanager_timeout")]
        pub timeout: Duration,
        /// The API version (`v2`).
        #[serde(default = "default_api_version")]
        pub api_version: String,
        /// Relabelling of the Alertmanager targets.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
    }
}

/// Prometheus's `storage` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `storage.tsdb`.
    pub tsdb: TsdbStorageConfig,
    /// `storage.exemplars`.
    pub exemplars: ExemplarsConfig,
}

/// Prometheus's `storage.exemplars` section: the size of the exemplar ring the TSDB keeps
/// for all series together (read when the server starts; a reload does not resize it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    /// The most exemplars kept; 0 or less keeps none. Prometheus's default is 100000.
    pub max_exemplars: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        Self {
            max_exemplars: 100_000,
        }
    }
}

impl ExemplarsConfig {
    /// The ring's size: `max_exemplars`, with a negative size as 0 (none kept).
    pub fn ring_size(&self) -> usize {
        usize::try_from(self.max_exemplars).unwrap_or(0)
    }
}

/// Prometheus's `storage.tsdb` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbStorageConfig {
    /// How far back out-of-order samples are accepted.
    pub out_of_order_time_window: Option<Duration>,
}

/// Skywatch's own settings, which Prometheus does not read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkywatchConfig {
    /// The address the server listens on (the `--listen` flag wins).
    pub listen_address: Option<String>,
    /// The data directory (the `--data` flag wins).
    pub data_dir: Option<PathBuf>,
    /// How long data is kept (the `--retention-time` flag wins).
    pub retention_time: Option<Duration>,
}

target_source! {
    /// One scrape job.
    pub struct ScrapeConfig {
        /// The job's name, the `job` label of its targets; unique.
        pub job_name: Spanned<String>,
        /// How often to scrape (default: the global one).
        pub scrape_interval: Option<Duration>,
        /// How long a scrape may take (default: the global one, at most the interval).
        pub scrape_timeout: Option<Duration>,
        /// The path to scrape (default `/metrics`).
        #[serde(default = "default_metrics_path")]
        pub metrics_path: String,
        /// `http` (default) or `https`.
        #[serde(default = "default_scheme")]
        pub scheme: Scheme,
        /// URL parameters of each scrape.
        #[serde(default)]
        pub params: BTreeMap<String, Vec<String>>,
        /// Keep the scraped labels when they clash with the target's (default: prefix them
        /// with `exported_`).
        #[serde(default)]
        pub honor_labels: bool,
        /// Use the timestamps the target gives (default true).
        #[serde(default = "default_true")]
        pub honor_timestamps: bool,
        /// Fail a scrape that has more samples than this after relabelling (0: no limit).
        #[serde(default)]
        pub sample_limit: usize,
        /// Fail a scrape with a series of more labels than this (0: no limit).
        #[serde(default)]
        pub label_limit: usize,
        /// Fail a scrape with a label name longer than this (0: no limit).
        #[serde(default)]
        pub label_name_length_limit: usize,
        /// Fail a scrape with a label value longer than this (0: no limit).
        #[serde(default)]
        pub label_value_length_limit: usize,
        /// Fail a scrape whose body is larger than this many bytes, uncompressed (0: no
        /// limit). Prometheus writes it with a unit (`10MB`); so may this.
        #[serde(default)]
        pub body_size_limit: ByteSize,
        /// Fail every scrape of the job when relabelling leaves more targets than this (0: no
        /// limit; not supported yet: refused if set).
        #[serde(default)]
        pub target_limit: Option<Spanned<u64>>,
        /// Relabelling of targets, before scraping.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
        /// Relabelling of scraped series, before storing.
        #[serde(default)]
        pub metric_relabel_configs: Vec<RelabelConfig>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub scrape_protocols: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub fallback_scrape_protocol: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub scrape_classic_histograms: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub always_scrape_classic_histograms: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub scrape_native_histograms: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub convert_classic_histograms_to_nhcb: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub native_histogram_bucket_limit: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub native_histogram_min_bucket_factor: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub keep_dropped_targets: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub enable_compression: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub track_timestamps_staleness: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub metric_name_validation_scheme: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub metric_name_escaping_scheme: Option<NotSupported>,
        /// A key of a later Prometheus (not supported yet: refused if set).
        #[serde(default)]
        pub scrape_failure_log_file: Option<NotSupported>,
    }
}

impl ScrapeConfig {
    /// A job of `name` scraping `groups` with Prometheus's defaults and `interval` (or the
    /// global one).
    pub fn new(name: &str, interval: Option<Duration>, groups: Vec<StaticConfig>) -> Self {
        Self {
            job_name: Spanned {
                value: name.to_owned(),
                referenced: yaml::Location::UNKNOWN,
                defined: yaml::Location::UNKNOWN,
            },
            scrape_interval: interval,
            scrape_timeout: None,
            metrics_path: default_metrics_path(),
            scheme: Scheme::Http,
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            sample_limit: 0,
            target_limit: None,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: ByteSize::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            scrape_protocols: None,
            fallback_scrape_protocol: None,
            scrape_classic_histograms: None,
            always_scrape_classic_histograms: None,
            scrape_native_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            native_histogram_bucket_limit: None,
            native_histogram_min_bucket_factor: None,
            keep_dropped_targets: None,
            enable_compression: None,
            track_timestamps_staleness: None,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            scrape_failure_log_file: None,
            http: HttpClientConfig {
                follow_redirects: true,
                enable_http2: true,
                ..HttpClientConfig::default()
            },
            discovery: Discovery {
                static_configs: groups,
                ..Discovery::default()
            },
        }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.job_name.value
    }
}

/// A group of targets and the labels they share.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` of each target.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels for every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs`: target groups read from JSON or YAML files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// The files, with `*` globs in the last path element, as Prometheus allows.
    pub files: Vec<String>,
    /// How often to re-read them (default 5m); changes are also picked up when they
    /// happen.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Duration,
}

/// `http` or `https`, in any case (Prometheus lowercases it when it builds the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl<'de> Deserialize<'de> for Scheme {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.to_ascii_lowercase().as_str() {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            _ => Err(serde::de::Error::custom(format!(
                "scheme {text:?} is neither http nor https"
            ))),
        }
    }
}

impl Scheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A duration, in milliseconds, written as Prometheus writes durations (`15s`, `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Duration {
    /// As a `std::time::Duration`.
    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.unsigned_abs())
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&model::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        model::parse_duration(&s).map(Duration).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{s:?} is not a duration: write a number and a unit, such as 15s, 1m30s or 500ms"
            ))
        })
    }
}

/// A size in bytes, written with a unit (`512KB`, `10MB`, `1GiB`, `100B`), as Prometheus
/// requires: a bare number is refused, as Prometheus refuses it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!(
                "{text} has no unit; write {text}B, {text}KB or {text}MB, as Prometheus requires"
            )));
        }
        parse_byte_size(&text).map(ByteSize).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a size: write a number and a unit such as 512KB or 10MB"
            ))
        })
    }
}

/// Parses `10MB`, `512KiB`, `1GB` or `1024B`, as Prometheus's units package does:
/// KB, MB, GB and TB are powers of 1024, like KiB, MiB, GiB and TiB.
pub fn parse_byte_size(s: &str) -> Option<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let scale: u64 = match s[digits..].trim() {
        "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(scale)
}

pub(crate) fn default_true() -> bool {
    true
}

fn default_scheme() -> Scheme {
    Scheme::Http
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_refresh_interval() -> Duration {
    Duration(5 * 60_000)
}

fn default_alertmanager_timeout() -> Duration {
    Duration(10_000)
}

fn default_api_version() -> String {
    "v2".into()
}

/// A configuration that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// What is wrong, with the line and column where known.
    pub message: String,
}

impl Config {
    /// Reads and checks the configuration file at `path`; the files it names are found
    /// relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            message: format!("cannot read it: {e}"),
        })?;
        let mut config = Self::parse(&text, &path.display().to_string())?;
        config.set_directory(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Makes every relative file the configuration names (TLS files, credentials, target
    /// files) relative to `dir`, the configuration file's directory, as Prometheus reads
    /// them. Rule files are resolved where they are loaded.
    pub fn set_directory(&mut self, dir: &Path) {
        if dir.as_os_str().is_empty() {
            return;
        }
        if let Some(file) = &mut self.global.query_log_file
            && !file.value.is_empty()
            && Path::new(&file.value).is_relative()
        {
            file.value = dir.join(&file.value).to_string_lossy().into_owned();
        }
        for job in &mut self.scrape_configs {
            job.http.set_directory(dir);
            job.discovery.set_directory(dir);
        }
        for am in &mut self.alerting.alertmanagers {
            am.http.set_directory(dir);
            am.discovery.set_directory(dir);
        }
        http_sections_in(&mut self.remote_write, dir);
        http_sections_in(&mut self.remote_read, dir);
        if let Some(tls) = self.tracing.as_mut().and_then(|t| t.tls_config.as_mut()) {
            tls.set_directory(dir);
        }
    }

    /// Parses and checks a configuration; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError {
            file: file.to_owned(),
            message,
        };
        // An empty file is an empty configuration, as for Prometheus.
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = yaml::from_str(text).map_err(|e| error(e.to_string()))?;
        config.validate().map_err(error)?;
        Ok(config)
    }

    /// What `promtool check config` checks beyond loading: the files each scrape job's
    /// HTTP client names exist. The server itself reads them when a job starts.
    pub fn check_files(&self) -> Result<(), String> {
        for job in &self.scrape_configs {
            job.http.check_files().map_err(|e| {
                format!(
                    "line {}: job {:?}: {e}",
                    job.job_name.referenced.line(),
                    job.name()
                )
            })?;
        }
        Ok(())
    }

    /// Checks what serde cannot: cross-field rules, as Prometheus checks them.
    fn validate(&self) -> Result<(), String> {
        let g = &self.global;
        if g.timeout() > g.scrape_interval {
            return Err(format!(
                "global: scrape_timeout ({}) is longer than scrape_interval ({}); make it at most the interval",
                g.timeout(),
                g.scrape_interval
            ));
        }
        for name in g.external_labels.keys() {
            check_label_name(name).map_err(|e| format!("global.external_labels: {e}"))?;
        }
        for file in &self.rule_files {
            // Prometheus's pattern: a `*` only in the last path element.
            if let Some(star) = file.find('*')
                && file[star..].contains('/')
            {
                return Err(format!(
                    "rule_files: invalid rule file path {file:?}: a * may only be in the file name, not a directory"
                ));
            }
        }
        let mut seen: BTreeMap<&str, &Spanned<String>> = BTreeMap::new();
        for job in &self.scrape_configs {
            let at = format!(
                "line {}: job {:?}",
                job.job_name.referenced.line(),
                job.name()
            );
            if job.name().is_empty() {
                return Err(format!("{at}: job_name is empty; give the job a name"));
            }
            if let Some(first) = seen.insert(job.name(), &job.job_name) {
                return Err(format!(
                    "{at}: a job of this name is already defined on line {}; job names must be unique",
                    first.referenced.line()
                ));
            }
            let interval = job.interval(g);
            let timeout = job.timeout(g);
            if timeout > interval {
                return Err(format!(
                    "{at}: scrape_timeout ({timeout}) is longer than scrape_interval ({interval}); make it at most the interval"
                ));
            }
            if interval.0 <= 0 {
                return Err(format!("{at}: scrape_interval must be positive"));
            }
            // The job's files are read when its scrape pool starts, as Prometheus reads them:
            // a missing CA fails that job (logged), not the server. `check_files` is
            // promtool's stricter look.
            job.http.check().map_err(|e| format!("{at}: {e}"))?;
            for (key, found) in [
                ("scrape_protocols", &job.scrape_protocols),
                ("fallback_scrape_protocol", &job.fallback_scrape_protocol),
                ("scrape_classic_histograms", &job.scrape_classic_histograms),
                (
                    "always_scrape_classic_histograms",
                    &job.always_scrape_classic_histograms,
                ),
                ("scrape_native_histograms", &job.scrape_native_histograms),
                (
                    "convert_classic_histograms_to_nhcb",
                    &job.convert_classic_histograms_to_nhcb,
                ),
                (
                    "native_histogram_bucket_limit",
                    &job.native_histogram_bucket_limit,
                ),
                (
                    "native_histogram_min_bucket_factor",
                    &job.native_histogram_min_bucket_factor,
                ),
                ("keep_dropped_targets", &job.keep_dropped_targets),
                ("enable_compression", &job.enable_compression),
                (
                    "track_timestamps_staleness",
                    &job.track_timestamps_staleness,
                ),
                (
                    "metric_name_validation_scheme",
                    &job.metric_name_validation_scheme,
                ),
                (
                    "metric_name_escaping_scheme",
                    &job.metric_name_escaping_scheme,
                ),
                ("scrape_failure_log_file", &job.scrape_failure_log_file),
            ] {
                if let Some(found) = found {
                    return Err(format!("{at}: {}", later_key(key, found.referenced)));
                }
            }
            job.discovery
                .validate(job.relabel_configs.is_empty())
                .map_err(|e| format!("{at}: {e}"))?;
        }
        for (n, am) in self.alerting.alertmanagers.iter().enumerate() {
            let at = format!("alerting.alertmanagers[{n}]");
            // Read when the server makes the client, as for remote write.
            am.http.check().map_err(|e| format!("{at}: {e}"))?;
            am.discovery
                .validate(am.relabel_configs.is_empty())
                .map_err(|e| format!("{at}: {e}"))?;
            if am.api_version != "v2" {
                return Err(format!(
                    "{at}: api_version {:?} is not supported; Skywatch speaks Alertmanager's API v2, the only one Alertmanager 0.27 and later serve",
                    am.api_version
                ));
            }
        }
        for (key, at) in [
            ("global.body_size_limit", &g.body_size_limit),
            ("global.sample_limit", &g.sample_limit),
            ("global.label_limit", &g.label_limit),
            ("global.label_name_length_limit", &g.label_name_length_limit),
            (
                "global.label_value_length_limit",
                &g.label_value_length_limit,
            ),
            ("global.target_limit", &g.target_limit),
            ("global.keep_dropped_targets", &g.keep_dropped_targets),
            ("global.scrape_protocols", &g.scrape_protocols),
            (
                "global.scrape_native_histograms",
                &g.scrape_native_histograms,
            ),
            (
                "global.convert_classic_histograms_to_nhcb",
                &g.convert_classic_histograms_to_nhcb,
            ),
            (
                "global.always_scrape_classic_histograms",
                &g.always_scrape_classic_histograms,
            ),
            (
                "global.metric_name_validation_scheme",
                &g.metric_name_validation_scheme,
            ),
            (
                "global.metric_name_escaping_scheme",
                &g.metric_name_escaping_scheme,
            ),
            ("global.rule_query_offset", &g.rule_query_offset),
            ("global.scrape_failure_log_file", &g.scrape_failure_log_file),
        ] {
            if let Some(at) = at {
                return Err(later_key(key, at.referenced));
            }
        }
        for (key, found) in [("otlp", &self.otlp), ("runtime", &self.runtime)] {
            if let Some(found) = found {
                return Err(later_key(key, found.referenced));
            }
        }
        if let Some(tracing) = &self.tracing {
            tracing.validate().map_err(|e| format!("tracing: {e}"))?;
        }
        let mut names = BTreeMap::new();
        for (n, rw) in self.remote_write.iter().enumerate() {
            let at = format!("line {}: remote_write[{n}]", rw.url.referenced.line());
            rw.validate().map_err(|e| format!("{at}: {e}"))?;
            if !rw.name.is_empty() && names.insert(rw.name.clone(), n).is_some() {
                return Err(format!(
                    "{at}: another remote_write is named {:?}; give each a unique name",
                    rw.name
                ));
            }
        }
        let mut names = BTreeMap::new();
        for (n, rr) in self.remote_read.iter().enumerate() {
            let at = format!("line {}: remote_read[{n}]", rr.url.referenced.line());
            rr.validate().map_err(|e| format!("{at}: {e}"))?;
            if !rr.name.is_empty() && names.insert(rr.name.clone(), n).is_some() {
                return Err(format!(
                    "{at}: another remote_read is named {:?}; give each a unique name",
                    rr.name
                ));
            }
        }
        if let Some(first) = self.scrape_config_files.first() {
            return Err(not_supported("scrape_config_files", first.referenced));
        }
        Ok(())
    }
}

/// The error for a key of a Prometheus later than 2.42, which Skywatch follows.
fn later_key(key: &str, at: yaml::Location) -> String {
    format!(
        "line {}: {key} is a key of Prometheus 2.43 and later, not supported by Skywatch yet; remove it, or run this configuration with Prometheus",
        at.line()
    )
}

/// The error for a key Prometheus reads and Skywatch does not implement yet.
fn not_supported(key: &str, at: yaml::Location) -> String {
    format!(
        "line {}: {key} is not supported by Skywatch yet; remove it, or run this configuration with Prometheus",
        at.line()
    )
}

/// A `file_sd_configs` file name as Prometheus allows it: a `.json`, `.yml` or `.yaml`
/// file, with at most one `*`, in the file name (`^[^*]*(\*[^/]*)?\.(json|yml|yaml)$`).
fn check_file_sd_name(name: &str) -> Result<(), String> {
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    let extension_ok = matches!(extension, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML");
    let glob_ok = match stem.find('*') {
        None => true,
        Some(i) => !stem[i + 1..].contains(['*', '/']),
    };
    if extension_ok && glob_ok {
        Ok(())
    } else {
        Err(format!(
            "path name {name:?} is not valid for file discovery: name a .json, .yml or .yaml file, with at most one * in the file name"
        ))
    }
}

/// Checks an endpoint's URL: `http` or `https`, with a host.
fn check_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("url {url:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("url {url:?} has no host"));
    }
    Ok(())
}

impl Discovery {
    /// Makes the files the section names relative to `dir`, the configuration file's
    /// directory, where they are relative: target files and the providers' client files.
    pub fn set_directory(&mut self, dir: &Path) {
        for sd in &mut self.file_sd_configs {
            for file in &mut sd.files {
                if !file.is_empty() && Path::new(file.as_str()).is_relative() {
                    *file = dir.join(file.as_str()).to_string_lossy().into_owned();
                }
            }
        }
        http_sections_in(&mut self.http_sd_configs, dir);
        http_sections_in(&mut self.puppetdb_sd_configs, dir);
        http_sections_in(&mut self.hetzner_sd_configs, dir);
        http_sections_in(&mut self.digitalocean_sd_configs, dir);
        http_sections_in(&mut self.linode_sd_configs, dir);
        http_sections_in(&mut self.vultr_sd_configs, dir);
        http_sections_in(&mut self.ionos_sd_configs, dir);
        http_sections_in(&mut self.scaleway_sd_configs, dir);
        for sd in &mut self.scaleway_sd_configs {
            in_directory(&mut sd.secret_key_file, dir);
        }
        http_sections_in(&mut self.uyuni_sd_configs, dir);
        for sd in &mut self.openstack_sd_configs {
            crate::discovery::tls_in_directory(&mut sd.tls_config, dir);
        }
        for sd in &mut self.triton_sd_configs {
            crate::discovery::tls_in_directory(&mut sd.tls_config, dir);
        }
        http_sections_in(&mut self.azure_sd_configs, dir);
        http_sections_in(&mut self.ec2_sd_configs, dir);
        http_sections_in(&mut self.lightsail_sd_configs, dir);
        http_sections_in(&mut self.kubernetes_sd_configs, dir);
        for sd in &mut self.kubernetes_sd_configs {
            if let Some(file) = &mut sd.kubeconfig_file {
                in_directory(file, dir);
            }
        }
        http_sections_in(&mut self.docker_sd_configs, dir);
        http_sections_in(&mut self.dockerswarm_sd_configs, dir);
        http_sections_in(&mut self.consul_sd_configs, dir);
        http_sections_in(&mut self.kuma_sd_configs, dir);
        http_sections_in(&mut self.marathon_sd_configs, dir);
        for sd in &mut self.marathon_sd_configs {
            if let Some(file) = &mut sd.auth_token_file {
                in_directory(file, dir);
            }
        }
        http_sections_in(&mut self.nomad_sd_configs, dir);
        http_sections_in(&mut self.eureka_sd_configs, dir);
    }

    /// The HTTP client settings of the providers whose clients are their own (not the
    /// shared vendor API client), by key: these do not take `oauth2` yet.
    fn own_client_sections<'a>(&'a self, out: &mut Vec<(&'static str, &'a HttpClientConfig)>) {
        out.extend(
            (self
                .kubernetes_sd_configs
                .iter()
                .map(|c| ("kubernetes_sd_configs", &c.http)))
            .chain(
                self.docker_sd_configs
                    .iter()
                    .map(|c| ("docker_sd_configs", &c.http)),
            )
            .chain(
                self.dockerswarm_sd_configs
                    .iter()
                    .map(|c| ("dockerswarm_sd_configs", &c.http)),
            )
            // Azure's requests carry its own OAuth token, AWS's their signature.
            .chain(
                self.azure_sd_configs
                    .iter()
                    .map(|c| ("azure_sd_configs", &c.http)),
            )
            .chain(
                self.ec2_sd_configs
                    .iter()
                    .map(|c| ("ec2_sd_configs", &c.http)),
            )
            .chain(
                self.lightsail_sd_configs
                    .iter()
                    .map(|c| ("lightsail_sd_configs", &c.http)),
            ),
        );
    }

    /// Whether targets are found at run time (files or providers), not only listed.
    pub fn is_dynamic(&self) -> bool {
        !self.file_sd_configs.is_empty() || crate::discovery::provider_count(self) > 0
    }

    /// Checks the providers' settings; `static_addresses` says whether static targets must
    /// be `host:port` now (a section without relabelling), as Prometheus checks them.
    pub fn validate(&self, static_addresses: bool) -> Result<(), String> {
        let mut own_clients = Vec::new();
        self.own_client_sections(&mut own_clients);
        if let Some(key) = own_clients
            .iter()
            .find_map(|(key, http)| http.oauth2.is_some().then_some(key))
        {
            return Err(format!(
                "oauth2 in {key} is not supported by Skywatch yet; use authorization or basic_auth"
            ));
        }
        if let Some((key, at)) = self.unsupported.first() {
            return Err(format!(
                "line {}: {key} is not supported by Skywatch yet; list the targets in static_configs or file_sd_configs, or serve them to http_sd_configs",
                at.line()
            ));
        }
        for group in &self.static_configs {
            for target in &group.targets {
                if static_addresses {
                    check_target(target).map_err(|e| format!("static_configs: {e}"))?;
                }
            }
            for name in group.labels.keys() {
                check_label_name(name).map_err(|e| format!("static_configs: {e}"))?;
            }
        }
        for sd in &self.file_sd_configs {
            if sd.files.is_empty() {
                return Err("file_sd_configs: files is empty".into());
            }
            for file in &sd.files {
                check_file_sd_name(file).map_err(|e| format!("file_sd_configs: {e}"))?;
            }
        }
        for sd in &self.http_sd_configs {
            let at = format!("line {}: http_sd_configs", sd.url.referenced.line());
            check_http_url(&sd.url.value).map_err(|e| format!("{at}: {e}"))?;
            sd.http.check().map_err(|e| format!("{at}: {e}"))?;
        }
        for sd in &self.puppetdb_sd_configs {
            let at = format!("line {}: puppetdb_sd_configs", sd.url.referenced.line());
            check_http_url(&sd.url.value).map_err(|e| format!("{at}: {e}"))?;
            if sd.query.is_empty() {
                return Err(format!(
                    "{at}: query is missing; write a PQL query of resources"
                ));
            }
            sd.http.check().map_err(|e| format!("{at}: {e}"))?;
        }
        for (n, sd) in self.hetzner_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("hetzner_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.digitalocean_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("digitalocean_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.linode_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("linode_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.eureka_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("eureka_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.nomad_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("nomad_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.marathon_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("marathon_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.vultr_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("vultr_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.ionos_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("ionos_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.scaleway_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("scaleway_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.ovhcloud_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("ovhcloud_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.consul_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("consul_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.kuma_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("kuma_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.openstack_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("openstack_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.triton_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("triton_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.uyuni_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("uyuni_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.azure_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("azure_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.gce_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("gce_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.ec2_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("ec2_sd_configs[{n}]: {e}"))?;
        }
        for (n, sd) in self.lightsail_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("lightsail_sd_configs[{n}]: {e}"))?;
        }
        for (key, configs) in [
            ("serverset", &self.serverset_sd_configs),
            ("nerve", &self.nerve_sd_configs),
        ] {
            for (n, sd) in configs.iter().enumerate() {
                sd.validate(key)
                    .map_err(|e| format!("{key}_sd_configs[{n}]: {e}"))?;
            }
        }
        for sd in &self.dns_sd_configs {
            if sd.names.is_empty() {
                return Err("dns_sd_configs: names is empty; list at least one name".into());
            }
            match sd.kind.to_ascii_uppercase().as_str() {
                "SRV" => {}
                "A" | "AAAA" | "MX" if sd.port == 0 => {
                    return Err(format!(
                        "dns_sd_configs: type {} needs a port; set port",
                        sd.kind
                    ));
                }
                "A" | "AAAA" | "MX" => {}
                other => {
                    return Err(format!(
                        "dns_sd_configs: type {other:?} is not one of SRV, A, AAAA and MX"
                    ));
                }
            }
        }
        for (n, sd) in self.kubernetes_sd_configs.iter().enumerate() {
            sd.validate()
                .map_err(|e| format!("kubernetes_sd_configs[{n}]: {e}"))?;
        }
        for sd in &self.docker_sd_configs {
            sd.validate().map_err(|e| {
                format!("line {}: docker_sd_configs: {e}", sd.host.referenced.line())
            })?;
        }
        for sd in &self.dockerswarm_sd_configs {
            sd.validate().map_err(|e| {
                format!(
                    "line {}: dockerswarm_sd_configs: {e}",
                    sd.host.referenced.line()
                )
            })?;
        }
        Ok(())
    }
}

impl ScrapeConfig {
    /// The job's scrape interval.
    pub fn interval(&self, global: &GlobalConfig) -> Duration {
        // 0s is unset, as Prometheus reads it.
        match self.scrape_interval {
            Some(i) if i.0 != 0 => i,
            _ => global.scrape_interval,
        }
    }

    /// The job's scrape timeout: its own, or the global one capped at the interval.
    pub fn timeout(&self, global: &GlobalConfig) -> Duration {
        match self.scrape_timeout {
            Some(t) if t.0 != 0 => t,
            _ => global.timeout().min(self.interval(global)),
        }
    }
}

/// Checks a label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn check_label_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = matches!(bytes.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid label name: use letters, digits and _, not starting with a digit"
        ))
    }
}

/// Checks a static target: `host:port`, with no scheme or path.
fn check_target(target: &str) -> Result<(), String> {
    if target.contains("://") {
        return Err(format!(
            "target {target:?} has a scheme; write host:port and set the job's scheme"
        ));
    }
    if target.contains('/') {
        return Err(format!(
            "target {target:?} has a path; write host:port and set the job's metrics_path"
        ));
    }
    if target.is_empty() {
        return Err("an empty target; write host:port".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
global:
  scrape_interval: 15s
  external_labels:
    cluster: demo
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: nodes
    scrape_interval: 5s
    static_configs:
      - targets: ["127.0.0.1:9100", "127.0.0.1:9101"]
        labels:
          network: testnet
    relabel_configs:
      - source_labels: [__address__]
        regex: "(.*):(.*)"
        target_label: port
        replacement: "$2"
  - job_name: self
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:9797"]
skywatch:
  listen_address: 127.0.0.1:9797
"#;

    #[test]
    fn a_prometheus_configuration_parses_with_prometheus_defaults() {
        let c = Config::parse(GOOD, "prometheus.yml").unwrap();
        assert_eq!(c.global.scrape_interval, Duration(15_000));
        assert_eq!(c.global.timeout(), Duration(10_000));
        let short = Config::parse("global:\n  scrape_interval: 5s\n", "p.yml").unwrap();
        assert_eq!(
            short.global.timeout(),
            Duration(5_000),
            "capped at the interval"
        );
        assert_eq!(c.global.evaluation_interval, Duration(60_000));
        assert_eq!(c.scrape_configs.len(), 2);
        let nodes = &c.scrape_configs[0];
        assert_eq!(nodes.name(), "nodes");
        assert_eq!(nodes.interval(&c.global), Duration(5_000));
        // The global timeout is capped at the job's shorter interval.
        assert_eq!(nodes.timeout(&c.global), Duration(5_000));
        assert_eq!(nodes.metrics_path, "/metrics");
        assert_eq!(nodes.scheme, Scheme::Http);
        assert!(nodes.honor_timestamps);
        assert!(!nodes.honor_labels);
        assert_eq!(nodes.discovery.static_configs[0].targets.len(), 2);
        assert_eq!(c.skywatch.listen_address.as_deref(), Some("127.0.0.1:9797"));
        assert_eq!(
            Config::parse("", "empty.yml").unwrap().scrape_configs.len(),
            0
        );
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        let unknown = Config::parse(
            "scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
            "p.yml",
        )
        .unwrap_err();
        assert_eq!(unknown.file, "p.yml");
        assert!(unknown.message.contains("scrape_intervall"), "{unknown}");
        assert!(unknown.message.contains('3'), "names line 3: {unknown}");

        let duration =
            Config::parse("global:\n  scrape_interval: 15 seconds\n", "p.yml").unwrap_err();
        assert!(
            duration
                .message
                .contains("\"15 seconds\" is not a duration"),
            "{duration}"
        );
        assert!(duration.message.contains('2'), "{duration}");

        let twice = Config::parse(
            "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n",
            "p.yml",
        )
        .unwrap_err();
        assert_eq!(
            twice.message,
            "line 4: job \"a\": a job of this name is already defined on line 2; job names must be unique"
        );

        let timeout = Config::parse(
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            timeout
                .message
                .starts_with("line 2: job \"a\": scrape_timeout (10s) is longer"),
            "{timeout}"
        );

        let scheme = Config::parse(
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"http://x:1\"]\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(scheme.message.contains("has a scheme"), "{scheme}");

        // A scrape job's files are read when the job starts, as Prometheus reads them: a
        // missing CA loads. promtool's look (`check_files`) wants the credentials file and
        // the client certificate and key, not the CA.
        let tls = Config::parse(
            "scrape_configs:\n  - job_name: a\n    scheme: https\n    tls_config:\n      ca_file: no/such/ca.pem\n",
            "p.yml",
        )
        .unwrap();
        tls.check_files().unwrap();
        let token = Config::parse(
            "scrape_configs:\n  - job_name: a\n    bearer_token_file: no/such/token\n",
            "p.yml",
        )
        .unwrap();
        let e = token.check_files().unwrap_err();
        assert!(
            e.starts_with("line 2: job \"a\": error checking authorization credentials or bearer token file \"no/such/token\""),
            "{e}"
        );
        let cert = Config::parse(
            "scrape_configs:\n  - job_name: a\n    tls_config:\n      cert_file: no/such/cert.pem\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            cert.message.contains(
                "client cert file \"no/such/cert.pem\" specified without client key file"
            ),
            "{cert}"
        );
    }

    #[test]
    fn the_files_a_configuration_names_are_found_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prometheus.yml");
        std::fs::write(
            &file,
            "scrape_configs:\n  - job_name: a\n    tls_config:\n      ca_file: certs/ca.pem\n    authorization:\n      credentials_file: /etc/token\n    file_sd_configs:\n      - files: ['targets/*.json']\n    http_sd_configs:\n      - url: http://sd/\n        basic_auth:\n          username: u\n          password_file: secret\nalerting:\n  alertmanagers:\n    - bearer_token_file: am-token\n      static_configs:\n        - targets: ['am:9093']\nremote_write:\n  - url: http://rw/\n    tls_config:\n      cert_file: rw.pem\n      key_file: rw.key\n",
        )
        .unwrap();
        let c = Config::load(&file).unwrap();
        let beside = |name: &str| Some(dir.path().join(name));
        let job = &c.scrape_configs[0];
        assert_eq!(job.http.tls_config.ca_file, beside("certs/ca.pem"));
        // An absolute path stays as written.
        assert_eq!(
            job.http.authorization.as_ref().unwrap().credentials_file,
            Some(PathBuf::from("/etc/token"))
        );
        assert_eq!(
            job.discovery.file_sd_configs[0].files,
            [dir.path().join("targets/*.json").to_string_lossy()]
        );
        let sd = &job.discovery.http_sd_configs[0].http;
        assert_eq!(
            sd.basic_auth.as_ref().unwrap().password_file,
            beside("secret")
        );
        let am = &c.alerting.alertmanagers[0].http;
        assert_eq!(am.bearer_token_file, beside("am-token"));
        let rw = &c.remote_write[0].http.tls_config;
        assert_eq!(
            (rw.cert_file.clone(), rw.key_file.clone()),
            (beside("rw.pem"), beside("rw.key"))
        );
    }

    #[test]
    fn lists_and_maps_holding_only_comments_are_empty_as_for_prometheus() {
        // The shape of the prometheus.yml Debian installs: a `rule_files:` whose entries
        // are all commented out is a YAML null, which Prometheus reads as no files.
        let c = Config::parse(
            "global:\n  external_labels:\nrule_files:\n  # - \"first_rules.yml\"\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n        labels:\n          team:\n",
            "prometheus.yml",
        )
        .unwrap();
        assert!(c.rule_files.is_empty() && c.global.external_labels.is_empty());
        assert_eq!(
            c.scrape_configs[0].discovery.static_configs[0].labels["team"],
            ""
        );
    }

    #[test]
    fn every_prometheus_key_is_read_and_what_is_missing_says_so() {
        // The HTTP client settings, limits and sections Prometheus 2.42 documents load.
        let c = Config::parse(
            "global:\n  query_log_file: ''\nstorage:\n  tsdb:\n    out_of_order_time_window: 10m\n  exemplars:\n    max_exemplars: 100\nalerting:\n  alertmanagers:\n    - follow_redirects: false\n      enable_http2: false\n      api_version: v2\n      static_configs: [{targets: ['am:9093']}]\nscrape_configs:\n  - job_name: a\n    bearer_token_file: token\n    follow_redirects: true\n    enable_http2: true\n    proxy_url: http://proxy:3128\n    target_limit: 0\n    body_size_limit: 10MB\n",
            "p.yml",
        )
        .unwrap();
        assert_eq!(c.storage.exemplars.ring_size(), 100);
        let defaults = Config::parse("storage:\n  exemplars: {}\n", "p.yml").unwrap();
        assert_eq!(defaults.storage.exemplars.ring_size(), 100_000);
        assert_eq!(Config::default().storage.exemplars.ring_size(), 100_000);
        let job = &c.scrape_configs[0];
        assert_eq!(
            job.http.bearer_token_file.as_deref(),
            Some(Path::new("token"))
        );
        assert_eq!(job.http.proxy_url.as_deref(), Some("http://proxy:3128"));
        assert!(job.http.follow_redirects && job.http.enable_http2);
        let am = &c.alerting.alertmanagers[0];
        assert!(!am.http.follow_redirects && !am.http.enable_http2);
        assert_eq!(am.http.authorization_header(), None);

        // A provider not implemented yet (of a later Prometheus) is named as such, never
        // "unknown".
        for key in ["outscale", "stackit"] {
            let text =
                format!("scrape_configs:\n  - job_name: a\n    {key}_sd_configs:\n      - {{}}\n");
            let e = Config::parse(&text, "p.yml").unwrap_err().message;
            assert!(
                e.contains(&format!(
                    "line 4: {key}_sd_configs is not supported by Skywatch yet"
                )),
                "{e}"
            );
        }
        for (text, key) in [
            ("otlp:\n  promote_resource_attributes: [a]\n", "otlp"),
            ("global:\n  label_limit: 30\n", "global.label_limit"),
            (
                "scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusText0.0.4]\n",
                "scrape_protocols",
            ),
            (
                "scrape_config_files: ['jobs/*.yml']\n",
                "scrape_config_files",
            ),
            (
                "scrape_configs:\n  - job_name: a\n    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n        oauth2: {client_id: a, client_secret: b, token_url: 'http://t'}\n",
                "oauth2 in docker_sd_configs",
            ),
        ] {
            let e = Config::parse(text, "p.yml").unwrap_err().message;
            assert!(
                e.contains(&format!("{key} is not supported by Skywatch yet"))
                    || e.contains(&format!(
                        "{key} is a key of Prometheus 2.43 and later, not supported"
                    )),
                "{e}"
            );
        }
    }

    #[test]
    fn the_tracing_section_is_read_and_checked_as_prometheus_does() {
        let c = Config::parse(
            "tracing:\n  endpoint: localhost:4317\n  sampling_fraction: 0.25\n",
            "p.yml",
        )
        .unwrap();
        let t = c.tracing.unwrap();
        assert_eq!(t.url().as_deref(), Some("https://localhost:4317"));
        assert!(!t.is_http());
        let bad = |text: &str| Config::parse(text, "p.yml").unwrap_err().message;
        assert!(bad("tracing:\n  sampling_fraction: 1\n").contains("tracing endpoint must be set"));
        assert!(
            bad("tracing:\n  endpoint: c:4317\n  client_type: udp\n")
                .contains("expected tracing client type to be to be http or grpc, but got udp")
        );
        assert!(
            bad("tracing:\n  endpoint: c:4317\n  headers: {Authorization: a}\n")
                .contains("custom authorization header configuration is not yet supported")
        );
        assert!(
            bad("tracing:\n  endpoint: c:4317\n  headers: {User-Agent: a}\n")
                .contains("User-Agent is a reserved header. It must not be changed")
        );
        let c = Config::parse(
            "tracing:\n  endpoint: c:4317\n  compression: gzip\n  headers: {x-token: a}\n  tls_config: {ca_file: ca.pem, insecure_skip_verify: true}\n",
            "p.yml",
        )
        .unwrap();
        let t = c.tracing.unwrap();
        assert!(t.gzip());
        assert_eq!(t.headers["x-token"], "a");
        assert!(t.tls_config.unwrap().insecure_skip_verify);
    }

    #[test]
    fn sigv4_is_read_and_checked_as_prometheus_does() {
        let c = Config::parse(
            "remote_write:\n  - url: http://x/api/v1/write\n    sigv4:\n      region: eu-west-1\n      profile: p\n      role_arn: arn:aws:iam::1:role/r\n",
            "p.yml",
        )
        .unwrap();
        let sigv4 = &c.remote_write[0].sigv4.as_ref().unwrap().value;
        assert_eq!(
            (
                sigv4.region.as_str(),
                sigv4.profile.as_str(),
                sigv4.role_arn.as_str()
            ),
            ("eu-west-1", "p", "arn:aws:iam::1:role/r")
        );
        let bad = |text: &str| Config::parse(text, "p.yml").unwrap_err().message;
        for (keys, message) in [
            (
                "access_key: a",
                "remote_write[0]: line 4: must provide a AWS SigV4 Access key and Secret Key",
            ),
            (
                "secret_key: s",
                "remote_write[0]: line 4: must provide a AWS SigV4 Access key and Secret Key",
            ),
        ] {
            let e = bad(&format!(
                "remote_write:\n  - url: http://x/api/v1/write\n    sigv4:\n      {keys}\n"
            ));
            assert!(e.contains(message), "{e}");
        }
        for auth in [
            "basic_auth: {username: u, password: p}",
            "authorization: {credentials: c}",
            "bearer_token: t",
            "oauth2: {client_id: a, client_secret: b, token_url: 'http://t'}",
        ] {
            let e = bad(&format!(
                "remote_write:\n  - url: http://x/api/v1/write\n    sigv4: {{region: eu-west-1}}\n    {auth}\n"
            ));
            assert!(
                e.contains("remote_write[0]: line 3: at most one of basic_auth, authorization, oauth2, & sigv4 must be configured"),
                "{auth}: {e}"
            );
        }
        let e = bad(
            "remote_write:\n  - url: http://x/api/v1/write\n    sigv4: {region: eu}\n    sigv4: {region: us}\n",
        );
        assert!(!e.is_empty());
    }

    #[test]
    fn checks_prometheus_makes_are_made() {
        let bad = |text: &str| Config::parse(text, "p.yml").unwrap_err().message;
        let oauth2 = "oauth2: {client_id: a, client_secret: b, token_url: 'http://t'}";
        let c = Config::parse(
            &format!("scrape_configs:\n  - job_name: a\n    {oauth2}\n"),
            "p.yml",
        )
        .unwrap();
        assert_eq!(
            c.scrape_configs[0].http.oauth2.as_ref().unwrap().client_id,
            "a"
        );
        assert!(
            bad(&format!(
                "scrape_configs:\n  - job_name: a\n    {oauth2}\n    bearer_token: x\n"
            ))
            .contains("at most one of basic_auth, oauth2, bearer_token & bearer_token_file")
        );
        assert!(
            bad("remote_write:\n  - url: http://rw/\n    oauth2: {client_id: a, token_url: 'http://t'}\n")
                .contains("either oauth2 client_secret or client_secret_file must be configured")
        );
        let job = "scrape_configs:\n  - job_name: a\n";
        assert!(
            bad(&format!(
                "{job}    bearer_token: a\n    bearer_token_file: b\n"
            ))
            .contains("bearer_token and bearer_token_file")
        );
        assert!(
            bad(&format!("{job}    authorization:\n      type: Basic\n"))
                .contains("use basic_auth instead")
        );
        assert!(bad(&format!("{job}    body_size_limit: 100\n")).contains("100 has no unit"));
        assert!(bad("tracing:\n  sampling_fraction: 1\n").contains("endpoint must be set"));
        assert!(
            bad(&format!(
                "{job}    file_sd_configs:\n      - files: ['sd/*/a.json']\n"
            ))
            .contains("not valid for file discovery")
        );
        assert!(
            bad(&format!(
                "{job}    file_sd_configs:\n      - files: ['targets.txt']\n"
            ))
            .contains("not valid for file discovery")
        );
        assert!(bad(&format!("{job}    static_configs:\n      -\n")).contains("null entry"));
        assert!(
            bad(&format!(
                "{job}    http_sd_configs:\n      - url: ftp://x/\n"
            ))
            .contains("must start with http:// or https://")
        );
        // A URL as a target is refused only where no relabelling could move it, as the
        // blackbox exporter's configuration does.
        assert!(
            bad(&format!(
                "{job}    static_configs:\n      - targets: ['http://x']\n"
            ))
            .contains("has a scheme")
        );
        Config::parse(
            &format!("{job}    static_configs:\n      - targets: ['http://x']\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n"),
            "p.yml",
        )
        .unwrap();
    }

    #[test]
    fn kubernetes_discovery_is_checked_as_prometheus_checks_it() {
        // The cases of Prometheus 2.42's config/testdata/kubernetes_*.yml: the settings
        // under one kubernetes_sd_configs entry, and what the error says (None: accepted).
        let cases: &[(&str, Option<&str>)] = &[
            ("role: endpoints", None),
            ("role: endpoints\nkubeconfig_file: kube/config", None),
            (
                "role: pod\nselectors:\n  - role: pod\n    label: 'foo in (bar,baz)'\n    field: metadata.status=Running",
                None,
            ),
            (
                "role: endpoints\nselectors:\n  - {role: pod, label: foo=bar, field: metadata.status=Running}\n  - {role: service, label: foo=bar}\n  - {role: endpoints, field: metadata.status=Running}",
                None,
            ),
            (
                "role: ingress\nselectors: [{role: ingress, label: foo=bar}]",
                None,
            ),
            (
                "role: node\nselectors: [{role: node, label: foo=bar}]",
                None,
            ),
            (
                "role: service\nselectors: [{role: service, label: foo=bar}]",
                None,
            ),
            (
                "role: endpointslice\nselectors: [{role: endpointslice, label: foo=bar}]",
                None,
            ),
            (
                "api_server: http://k:443\nrole: node\nattach_metadata: {node: true}",
                None,
            ),
            (
                "role: endpoints\napi_server: https://localhost:1234\nnamespaces: {own_namespace: true}",
                Some("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"),
            ),
            (
                "role: pod\napi_server: https://localhost:1234\nauthorization: {credentials: '1234'}\nbasic_auth: {username: user, password: password}",
                Some("basic_auth and authorization are both set"),
            ),
            (
                "role: node\napi_server: https://localhost:1234\nbearer_token: '1234'\nbearer_token_file: somefile",
                Some("bearer_token and bearer_token_file are both set"),
            ),
            (
                "role: pod\napi_server: https://localhost:1234\nbearer_token: '1234'\nbasic_auth: {username: user, password: password}",
                Some("basic_auth and bearer_token are both set"),
            ),
            (
                "role: pod\nauthorization: {credentials: '1234'}",
                Some(
                    "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
                ),
            ),
            (
                "role: endpoints\napi_server: https://localhost:1234\nkubeconfig_file: kube/config",
                Some("cannot use 'kubeconfig_file' and 'api_server' simultaneously"),
            ),
            (
                "role: endpoints\nkubeconfig_file: kube/config\nbasic_auth: {username: user, password: password}",
                Some(
                    "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
                ),
            ),
            (
                "role: endpoints\nkubeconfig_file: kube/config\nnamespaces: {own_namespace: true}",
                Some("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"),
            ),
            (
                "api_server: kubernetes:443\nrole: endpoints\nnamespaces: {foo: bar}",
                Some("unknown field `foo`"),
            ),
            (
                "api_server: kubernetes:443\nrole: vacation",
                Some("unknown Kubernetes SD role \"vacation\""),
            ),
            (
                "api_server: kubernetes:443",
                Some("role missing (one of: pod, service"),
            ),
            (
                "role: endpoints\nselectors:\n  - {role: pod, label: foo=bar}\n  - {role: pod, label: foo=bar}",
                Some("duplicated selector role: pod"),
            ),
            (
                "role: endpoints\nselectors: [{role: node, label: foo=bar}]",
                Some("endpoints role supports only pod, service, endpoints selectors"),
            ),
            (
                "role: endpoints\nselectors: [{role: pod, field: metadata.status-Running}]",
                Some("invalid selector: 'metadata.status-Running'"),
            ),
            (
                "role: pod\nselectors: [{role: pod, label: 'foo in ()'}]",
                Some("values set can't be empty"),
            ),
            (
                "role: ingress\nselectors: [{role: node, label: foo=bar}]",
                Some("ingress role supports only ingress selectors"),
            ),
            (
                "role: node\nselectors: [{role: pod, label: foo=bar}]",
                Some("node role supports only node selectors"),
            ),
            (
                "role: pod\nselectors: [{role: node, label: foo=bar}]",
                Some("pod role supports only pod selectors"),
            ),
            (
                "role: service\nselectors: [{role: pod, label: foo=bar}]",
                Some("service role supports only service selectors"),
            ),
            (
                "role: pod\napi_server: ftp://x",
                Some("must be an http:// or https:// URL"),
            ),
            (
                "role: pod\nrefresh_interval: 1m",
                Some("unknown field `refresh_interval`"),
            ),
        ];
        for (settings, want) in cases {
            let indented = settings.replace('\n', "\n        ");
            let text = format!(
                "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - {indented}\n"
            );
            match (Config::parse(&text, "p.yml"), want) {
                (Ok(_), None) => {}
                (Err(e), Some(want)) => assert!(e.message.contains(want), "{settings}: {e}"),
                (Ok(_), Some(want)) => panic!("{settings}: accepted, want {want:?}"),
                (Err(e), None) => panic!("{settings}: {e}"),
            }
        }
        let c = Config::parse(
            "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: https://k8s:6443\n        namespaces: {names: [a, b]}\n        attach_metadata: {node: true}\n        selectors: [{role: pod, label: app=web}]\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.kubernetes_sd_configs[0];
        assert_eq!(sd.namespaces.names, ["a", "b"]);
        assert!(sd.attach_metadata.node);
        assert_eq!(sd.selectors[0].label, "app=web");
        assert!(sd.http.follow_redirects && sd.http.enable_http2);
        // Alertmanagers may be found by any discovery, as Prometheus finds them.
        let am = Config::parse(
            "alerting:\n  alertmanagers:\n    - kubernetes_sd_configs: [{role: pod}]\n",
            "p.yml",
        )
        .unwrap();
        assert!(am.alerting.alertmanagers[0].discovery.is_dynamic());
    }

    #[test]
    fn docker_swarm_and_dns_discovery_are_read_and_checked_as_prometheus_does() {
        let job = "scrape_configs:\n  - job_name: a\n";
        let c = Config::parse(
            &format!("{job}    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n    dockerswarm_sd_configs:\n      - host: http://manager:2375\n        role: tasks\n        basic_auth: {{username: u, password: p}}\n        filters: [{{name: desired-state, values: [running]}}]\n    dns_sd_configs:\n      - names: [_node._tcp.example.com]\n"),
            "p.yml",
        )
        .unwrap();
        let d = &c.scrape_configs[0].discovery;
        let docker = &d.docker_sd_configs[0];
        assert_eq!(docker.port, 80);
        assert_eq!(docker.host_networking_host, "localhost");
        assert_eq!(docker.refresh_interval, Duration(60_000));
        assert!(docker.filters.is_empty());
        let swarm = &d.dockerswarm_sd_configs[0];
        assert_eq!(swarm.role, "tasks");
        assert_eq!(swarm.filters[0].values, ["running"]);
        assert_eq!(
            swarm.http.authorization_header().as_deref(),
            Some("Basic dTpw")
        );
        assert_eq!(d.dns_sd_configs[0].kind, "SRV");
        assert_eq!(d.dns_sd_configs[0].refresh_interval, Duration(30_000));

        let bad = |text: &str| {
            Config::parse(&format!("{job}{text}"), "p.yml")
                .unwrap_err()
                .message
        };
        assert_eq!(
            bad("    docker_sd_configs:\n      - host: ''\n"),
            "line 2: job \"a\": line 4: docker_sd_configs: host missing; set the Docker engine's address, such as unix:///var/run/docker.sock"
        );
        assert!(
            bad("    docker_sd_configs:\n      - host: ssh://me@box\n")
                .contains("is not unix://PATH, tcp://HOST:PORT")
        );
        assert!(
            bad("    docker_sd_configs:\n      - host: tcp://d:2375\n        hostt: x\n")
                .contains("hostt")
        );
        assert!(
            bad("    docker_sd_configs:\n      - host: tcp://d:2375\n        filters: [{name: a, value: [b]}]\n")
                .contains("value")
        );
        assert_eq!(
            bad("    dockerswarm_sd_configs:\n      - host: tcp://d:2375\n"),
            "line 2: job \"a\": line 4: dockerswarm_sd_configs: role missing (one of: tasks, services, nodes)"
        );
        assert_eq!(
            bad(
                "    dockerswarm_sd_configs:\n      - host: tcp://d:2375\n        role: containers\n"
            ),
            "line 2: job \"a\": line 4: dockerswarm_sd_configs: invalid role \"containers\", expected tasks, services, or nodes"
        );
        assert!(
            bad("    dockerswarm_sd_configs:\n      - host: tcp://d:2375\n        role: nodes\n        bearer_token: a\n        bearer_token_file: b\n")
                .contains("bearer_token and bearer_token_file")
        );
        assert!(
            bad("    dns_sd_configs:\n      - names: [example.com]\n        type: A\n")
                .contains("needs a port")
        );
        assert!(
            bad("    dns_sd_configs:\n      - names: [example.com]\n        type: TXT\n")
                .contains("not one of SRV")
        );
    }

    #[test]
    fn sizes_take_prometheus_units() {
        assert_eq!(parse_byte_size("1024B"), Some(1024));
        assert_eq!(parse_byte_size("1024"), None, "Prometheus wants a unit");
        assert_eq!(parse_byte_size("10MB"), Some(10 << 20));
        assert_eq!(parse_byte_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_byte_size("10 parsecs"), None);
    }
}
