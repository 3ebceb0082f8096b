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

use serde::Deserialize;
use yaml::Spanned;

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
    /// Prometheus's storage settings (accepted; Skywatch's TSDB takes out-of-order samples
    /// within the head's range regardless).
    #[serde(default)]
    pub storage: StorageConfig,
    /// Skywatch's own settings.
    #[serde(default)]
    pub skywatch: SkywatchConfig,
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

/// One entry of `alerting.alertmanagers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The Alertmanagers.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Relabelling of the Alertmanager targets.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
}

/// Prometheus's `storage` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `storage.tsdb`.
    pub tsdb: TsdbStorageConfig,
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

/// One scrape job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// The `Authorization` header.
    pub authorization: Option<Authorization>,
    /// TLS settings for `https`.
    pub tls_config: Option<TlsConfig>,
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
    /// Targets listed in the file.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Targets read from files, which are watched.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Relabelling of targets, before scraping.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabelling of scraped series, before storing.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
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
            basic_auth: None,
            authorization: None,
            tls_config: None,
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: ByteSize::default(),
            static_configs: groups,
            file_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
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

/// HTTP basic authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user.
    pub username: String,
    /// The password, or
    pub password: Option<String>,
    /// a file holding it.
    pub password_file: Option<PathBuf>,
}

/// The `Authorization` header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    #[serde(default = "default_auth_type", rename = "type")]
    pub kind: String,
    /// The credentials, or
    pub credentials: Option<String>,
    /// a file holding them.
    pub credentials_file: Option<PathBuf>,
}

/// TLS settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificate to verify the target with.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// The name to verify the target's certificate against.
    pub server_name: Option<String>,
    /// Do not verify the target's certificate.
    pub insecure_skip_verify: bool,
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
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

/// A size in bytes, written as a number or with a unit (`512KB`, `10MB`, `1GiB`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => return Ok(ByteSize(n)),
            Raw::Text(t) => t,
        };
        parse_byte_size(&text).map(ByteSize).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a size: write bytes, or a number and a unit such as 512KB or 10MB"
            ))
        })
    }
}

/// Parses `10MB`, `512KiB`, `1GB` or `1024` (bytes), as Prometheus's units package does:
/// KB, MB, GB and TB are powers of 1024, like KiB, MiB, GiB and TiB.
fn parse_byte_size(s: &str) -> Option<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let scale: u64 = match s[digits..].trim() {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(scale)
}

fn default_true() -> bool {
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

fn default_auth_type() -> String {
    "Bearer".into()
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
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
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
            if !job.metrics_path.starts_with('/') {
                return Err(format!(
                    "{at}: metrics_path {:?} must start with /",
                    job.metrics_path
                ));
            }
            if job.basic_auth.is_some() && job.authorization.is_some() {
                return Err(format!(
                    "{at}: basic_auth and authorization are both set; use one"
                ));
            }
            if let Some(auth) = &job.basic_auth
                && auth.password.is_some()
                && auth.password_file.is_some()
            {
                return Err(format!(
                    "{at}: basic_auth has both password and password_file; use one"
                ));
            }
            if let Some(auth) = &job.authorization
                && auth.credentials.is_some()
                && auth.credentials_file.is_some()
            {
                return Err(format!(
                    "{at}: authorization has both credentials and credentials_file; use one"
                ));
            }
            if let Some(tls) = &job.tls_config {
                // Reads the files it names: a missing CA or key is found now, not at the
                // first scrape.
                crate::tls::client_config(tls).map_err(|e| format!("{at}: {e}"))?;
            }
            for group in &job.static_configs {
                for target in &group.targets {
                    check_target(target).map_err(|e| format!("{at}: static_configs: {e}"))?;
                }
                for name in group.labels.keys() {
                    check_label_name(name).map_err(|e| format!("{at}: static_configs: {e}"))?;
                }
            }
            for sd in &job.file_sd_configs {
                if sd.files.is_empty() {
                    return Err(format!("{at}: file_sd_configs: files is empty"));
                }
            }
        }
        Ok(())
    }
}

impl ScrapeConfig {
    /// The job's scrape interval.
    pub fn interval(&self, global: &GlobalConfig) -> Duration {
        self.scrape_interval.unwrap_or(global.scrape_interval)
    }

    /// The job's scrape timeout: its own, or the global one capped at the interval.
    pub fn timeout(&self, global: &GlobalConfig) -> Duration {
        match self.scrape_timeout {
            Some(t) => t,
            None => global.timeout().min(self.interval(global)),
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
        assert_eq!(nodes.static_configs[0].targets.len(), 2);
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

        let tls = Config::parse(
            "scrape_configs:\n  - job_name: a\n    scheme: https\n    tls_config:\n      ca_file: no/such/ca.pem\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            tls.message
                .starts_with("line 2: job \"a\": no/such/ca.pem: cannot read"),
            "{tls}"
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
        assert_eq!(c.scrape_configs[0].static_configs[0].labels["team"], "");
    }

    #[test]
    fn sizes_take_prometheus_units() {
        assert_eq!(parse_byte_size("1024"), Some(1024));
        assert_eq!(parse_byte_size("10MB"), Some(10 << 20));
        assert_eq!(parse_byte_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_byte_size("10 parsecs"), None);
    }
}
