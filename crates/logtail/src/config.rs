//! Promtail's configuration file, the subset Skywatch follows: `positions`,
//! `target_config`, and `scrape_configs` with `static_configs`, `relabel_configs` and
//! `pipeline_stages`. `server` and `clients` are read and ignored (Skywatch serves its own
//! API and keeps the lines in its own store); every other key, and every Promtail feature
//! Skywatch does not implement, is refused with its line, so a configuration never runs
//! differently from what it says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use yaml::Spanned;

use crate::stages::{self, Pipeline};

/// A key Promtail reads that Skywatch refuses; kept only for its line.
type Refused = Option<Spanned<IgnoredAny>>;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where positions are kept and how often they are written.
    pub positions: Positions,
    /// How often the file globs are evaluated again, in milliseconds.
    pub target_sync_period_ms: i64,
    /// The jobs, in the file's order.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// What the file says that Skywatch reads and ignores (`server`, `clients`), one
    /// sentence each, for the caller to log.
    pub notes: Vec<String>,
}

/// `positions:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    /// `filename`: the positions file; `None` puts it in the data directory.
    pub filename: Option<PathBuf>,
    /// `sync_period`, in milliseconds: how often positions are written (and at stop).
    pub sync_period_ms: i64,
    /// `ignore_invalid_yaml`: a damaged positions file is ignored (every file is read from
    /// its start) instead of stopping the tailer.
    pub ignore_invalid_yaml: bool,
}

/// One `scrape_configs` entry.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// `job_name`.
    pub job_name: String,
    /// `static_configs`: target groups, each a label set with `__path__` among them.
    pub static_configs: Vec<StaticConfig>,
    /// `relabel_configs`, run over each target's labels before `__path__` is read.
    pub relabel_configs: Vec<scrape::relabel::RelabelConfig>,
    /// `pipeline_stages`, compiled.
    pub pipeline: Pipeline,
}

/// One `static_configs` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticConfig {
    /// `targets`: each becomes `__address__` (Promtail's are `localhost`).
    pub targets: Vec<String>,
    /// `labels`, with `__path__` (a glob), `__path_exclude__` and `__host__` among them.
    pub labels: BTreeMap<String, String>,
}

/// A configuration that cannot be used: the file and what is wrong, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// What is wrong, with the line where known, and what would fix it.
    pub message: String,
}

const DEFAULT_SYNC_PERIOD_MS: i64 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    clients: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    client: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    positions: RawPositions,
    #[serde(default)]
    target_config: RawTargetConfig,
    #[serde(default)]
    scrape_configs: Vec<RawScrapeConfig>,
    #[serde(default)]
    limits_config: Refused,
    #[serde(default)]
    options: Refused,
    #[serde(default)]
    tracing: Refused,
    #[serde(default)]
    global: Refused,
    #[serde(default)]
    wal: Refused,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPositions {
    filename: String,
    sync_period: Option<Spanned<String>>,
    ignore_invalid_yaml: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTargetConfig {
    sync_period: Option<Spanned<String>>,
    stdin: Refused,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScrapeConfig {
    job_name: Spanned<String>,
    #[serde(default)]
    static_configs: Vec<RawStaticConfig>,
    #[serde(default)]
    relabel_configs: Vec<scrape::relabel::RelabelConfig>,
    #[serde(default)]
    pipeline_stages: Vec<Spanned<stages::RawStage>>,
    #[serde(default)]
    encoding: Option<Spanned<String>>,
    #[serde(default)]
    decompression: Refused,
    #[serde(default)]
    journal: Refused,
    #[serde(default)]
    syslog: Refused,
    #[serde(default)]
    gcplog: Refused,
    #[serde(default)]
    windows_events: Refused,
    #[serde(default)]
    kafka: Refused,
    #[serde(default)]
    gelf: Refused,
    #[serde(default)]
    cloudflare: Refused,
    #[serde(default)]
    heroku_drain: Refused,
    #[serde(default)]
    loki_push_api: Refused,
    #[serde(default)]
    azure_event_hubs: Refused,
    #[serde(default)]
    file_sd_configs: Refused,
    #[serde(default)]
    kubernetes_sd_configs: Refused,
    #[serde(default)]
    docker_sd_configs: Refused,
    #[serde(default)]
    consul_sd_configs: Refused,
    #[serde(default)]
    consulagent_sd_configs: Refused,
    #[serde(default)]
    dns_sd_configs: Refused,
    #[serde(default)]
    digitalocean_sd_configs: Refused,
    #[serde(default)]
    dockerswarm_sd_configs: Refused,
    #[serde(default)]
    serverset_sd_configs: Refused,
    #[serde(default)]
    nerve_sd_configs: Refused,
    #[serde(default)]
    marathon_sd_configs: Refused,
    #[serde(default)]
    gce_sd_configs: Refused,
    #[serde(default)]
    ec2_sd_configs: Refused,
    #[serde(default)]
    openstack_sd_configs: Refused,
    #[serde(default)]
    azure_sd_configs: Refused,
    #[serde(default)]
    triton_sd_configs: Refused,
    #[serde(default)]
    limits_config: Refused,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawStaticConfig {
    targets: Vec<String>,
    labels: BTreeMap<String, String>,
}

impl Config {
    /// Reads and checks the configuration file at `path`. A relative positions file is
    /// taken relative to the working directory, as Promtail takes it.
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
        let raw: RawConfig = if text.trim().is_empty() {
            yaml::from_str("{}").map_err(|e| error(e.to_string()))?
        } else {
            yaml::from_str(text).map_err(|e| error(e.to_string()))?
        };
        raw.check().map_err(error)
    }

    /// The positions file: `positions.filename`, or `logtail-positions.yaml` in the data
    /// directory `data`.
    pub fn positions_file(&self, data: &Path) -> PathBuf {
        self.positions
            .filename
            .clone()
            .unwrap_or_else(|| data.join("logtail-positions.yaml"))
    }
}

/// The error for a Promtail key Skywatch does not implement.
pub(crate) fn not_supported(key: &str, line: u64) -> String {
    format!(
        "line {line}: {key} is not supported by Skywatch's file tailer; remove it, or run this part of the configuration with Promtail"
    )
}

fn refuse(key: &str, value: &Refused) -> Result<(), String> {
    match value {
        Some(v) => Err(not_supported(key, v.referenced.line())),
        None => Ok(()),
    }
}

fn duration(key: &str, value: &Option<Spanned<String>>) -> Result<i64, String> {
    let Some(v) = value else {
        return Ok(DEFAULT_SYNC_PERIOD_MS);
    };
    match model::parse_duration(&v.value) {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(format!(
            "line {}: {key}: {:?} is not a positive duration; write one such as 10s or 1m",
            v.referenced.line(),
            v.value
        )),
    }
}

impl RawConfig {
    fn check(self) -> Result<Config, String> {
        refuse("limits_config", &self.limits_config)?;
        refuse("options", &self.options)?;
        refuse("tracing", &self.tracing)?;
        refuse("global", &self.global)?;
        refuse("wal", &self.wal)?;
        refuse("target_config.stdin", &self.target_config.stdin)?;
        let mut notes = Vec::new();
        if let Some(s) = &self.server {
            notes.push(format!(
                "line {}: server is ignored: Skywatch serves its own API on --listen",
                s.referenced.line()
            ));
        }
        for (key, c) in [("clients", &self.clients), ("client", &self.client)] {
            if let Some(c) = c {
                notes.push(format!(
                    "line {}: {key} is ignored: tailed lines go to Skywatch's own log store, not to a Loki push endpoint",
                    c.referenced.line()
                ));
            }
        }
        let positions = Positions {
            filename: (!self.positions.filename.is_empty())
                .then(|| PathBuf::from(&self.positions.filename)),
            sync_period_ms: duration("positions.sync_period", &self.positions.sync_period)?,
            ignore_invalid_yaml: self.positions.ignore_invalid_yaml,
        };
        let target_sync_period_ms =
            duration("target_config.sync_period", &self.target_config.sync_period)?;
        let mut scrape_configs: Vec<ScrapeConfig> = Vec::new();
        for job in self.scrape_configs {
            let line = job.job_name.referenced.line();
            let name = job.job_name.value.clone();
            if name.is_empty() {
                return Err(format!(
                    "line {line}: a scrape config needs a job_name; give it one"
                ));
            }
            if scrape_configs.iter().any(|j| j.job_name == name) {
                return Err(format!(
                    "line {line}: job_name {name:?} is used twice; give each scrape config its own"
                ));
            }
            let checked = job
                .check()
                .map_err(|e| format!("scrape config {name:?}: {e}"))?;
            scrape_configs.push(checked);
        }
        Ok(Config {
            positions,
            target_sync_period_ms,
            scrape_configs,
            notes,
        })
    }
}

impl RawScrapeConfig {
    fn check(self) -> Result<ScrapeConfig, String> {
        for (key, value) in [
            ("decompression", &self.decompression),
            ("journal", &self.journal),
            ("syslog", &self.syslog),
            ("gcplog", &self.gcplog),
            ("windows_events", &self.windows_events),
            ("kafka", &self.kafka),
            ("gelf", &self.gelf),
            ("cloudflare", &self.cloudflare),
            ("heroku_drain", &self.heroku_drain),
            ("loki_push_api", &self.loki_push_api),
            ("azure_event_hubs", &self.azure_event_hubs),
            ("file_sd_configs", &self.file_sd_configs),
            ("kubernetes_sd_configs", &self.kubernetes_sd_configs),
            ("docker_sd_configs", &self.docker_sd_configs),
            ("consul_sd_configs", &self.consul_sd_configs),
            ("consulagent_sd_configs", &self.consulagent_sd_configs),
            ("dns_sd_configs", &self.dns_sd_configs),
            ("digitalocean_sd_configs", &self.digitalocean_sd_configs),
            ("dockerswarm_sd_configs", &self.dockerswarm_sd_configs),
            ("serverset_sd_configs", &self.serverset_sd_configs),
            ("nerve_sd_configs", &self.nerve_sd_configs),
            ("marathon_sd_configs", &self.marathon_sd_configs),
            ("gce_sd_configs", &self.gce_sd_configs),
            ("ec2_sd_configs", &self.ec2_sd_configs),
            ("openstack_sd_configs", &self.openstack_sd_configs),
            ("azure_sd_configs", &self.azure_sd_configs),
            ("triton_sd_configs", &self.triton_sd_configs),
            ("limits_config", &self.limits_config),
        ] {
            refuse(key, value)?;
        }
        if let Some(enc) = &self.encoding {
            let e = enc.value.to_ascii_lowercase().replace(['-', '_'], "");
            if !e.is_empty() && e != "utf8" {
                return Err(format!(
                    "line {}: encoding {:?} is not supported: Skywatch reads files as UTF-8 (invalid bytes become U+FFFD); convert the file or remove the key",
                    enc.referenced.line(),
                    enc.value
                ));
            }
        }
        for group in &self.static_configs {
            for name in group.labels.keys() {
                check_label_name(name).map_err(|e| format!("static_configs labels: {e}"))?;
            }
        }
        let pipeline = Pipeline::compile(&self.pipeline_stages)?;
        Ok(ScrapeConfig {
            job_name: self.job_name.value,
            static_configs: self
                .static_configs
                .into_iter()
                .map(|s| StaticConfig {
                    targets: s.targets,
                    labels: s.labels,
                })
                .collect(),
            relabel_configs: self.relabel_configs,
            pipeline,
        })
    }
}

/// Checks a label name as Loki does: letters, digits and `_`, not starting with a digit.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match Config::parse(text, "promtail.yaml") {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_promtails_example() {
        let text = r#"
server:
  http_listen_port: 9080
  grpc_listen_port: 0
positions:
  filename: /tmp/positions.yaml
  sync_period: 5s
clients:
  - url: http://localhost:3100/loki/api/v1/push
scrape_configs:
- job_name: system
  static_configs:
  - targets:
      - localhost
    labels:
      job: varlogs
      __path__: /var/log/*log
  relabel_configs:
  - source_labels: [__path__]
    regex: '/var/log/(.*)\.log'
    target_label: file
  pipeline_stages:
  - json:
      expressions:
        level:
        msg: message
  - labels:
      level:
"#;
        let c = Config::parse(text, "promtail.yaml").expect("valid");
        assert_eq!(
            c.positions,
            Positions {
                filename: Some("/tmp/positions.yaml".into()),
                sync_period_ms: 5_000,
                ignore_invalid_yaml: false
            }
        );
        assert_eq!(c.target_sync_period_ms, 10_000);
        assert_eq!(c.scrape_configs.len(), 1);
        let job = &c.scrape_configs[0];
        assert_eq!(job.job_name, "system");
        assert_eq!(job.static_configs[0].targets, ["localhost"]);
        assert_eq!(job.static_configs[0].labels["__path__"], "/var/log/*log");
        assert_eq!(job.relabel_configs.len(), 1);
        assert_eq!(job.pipeline.len(), 2);
        assert_eq!(c.notes.len(), 2);
        assert!(
            c.notes[0].starts_with("line 3: server is ignored"),
            "{:?}",
            c.notes
        );
        assert!(
            c.notes[1].starts_with("line 9: clients is ignored"),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn empty_file_tails_nothing() {
        let c = Config::parse("# nothing yet\n", "p.yaml").expect("valid");
        assert!(c.scrape_configs.is_empty());
        assert_eq!(
            c.positions_file(Path::new("data")),
            Path::new("data/logtail-positions.yaml")
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let e = error("positions:\n  filename: x\n  sync_perod: 1s\n");
        assert!(e.contains("sync_perod") && e.contains("line 3"), "{e}");
        let e = error("scrape_configs:\n- job_name: a\n  static_config: []\n");
        assert!(e.contains("static_config") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn unsupported_promtail_keys_are_refused_by_name() {
        let e = error("scrape_configs:\n- job_name: a\n  journal:\n    max_age: 12h\n");
        assert_eq!(
            e,
            "promtail.yaml: scrape config \"a\": line 4: journal is not supported by Skywatch's file tailer; remove it, or run this part of the configuration with Promtail"
        );
        let e = error("limits_config:\n  readline_rate: 10\n");
        assert!(e.contains("limits_config is not supported"), "{e}");
        // Promtail takes every Prometheus discovery (Loki's EC2 guide uses this one).
        let e = error("scrape_configs:\n- job_name: a\n  ec2_sd_configs:\n  - region: us-east-2\n");
        assert!(e.contains("ec2_sd_configs is not supported"), "{e}");
        let e = error("scrape_configs:\n- job_name: a\n  encoding: UTF-16\n");
        assert!(
            e.contains("line 3: encoding \"UTF-16\" is not supported"),
            "{e}"
        );
    }

    #[test]
    fn checks_jobs_and_durations() {
        let e = error("scrape_configs:\n- job_name: a\n- job_name: a\n");
        assert!(e.contains("line 3: job_name \"a\" is used twice"), "{e}");
        let e = error("positions:\n  sync_period: soon\n");
        assert!(
            e.contains("line 2: positions.sync_period: \"soon\" is not a positive duration"),
            "{e}"
        );
        let e = error("scrape_configs:\n- job_name: a\n  static_configs:\n  - labels: {0bad: x}\n");
        assert!(e.contains("\"0bad\" is not a valid label name"), "{e}");
        let e = error(
            "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - action: hashmod\n    target_label: x\n",
        );
        assert!(e.contains("hashmod requires non-zero modulus"), "{e}");
    }
}
