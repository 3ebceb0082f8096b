//! Targets: from a job's target groups to the labels and URL of each scrape, as
//! Prometheus's `PopulateLabels` builds them.
//!
//! A target starts as its group's labels plus `__address__`, and the job's defaults:
//! `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`
//! and a `__param_<name>` per URL parameter. `relabel_configs` then run; a target they
//! drop, or left without an address, is not scraped. `instance` defaults to the address,
//! and the labels starting with `__` are removed from the series' labels.

use std::collections::BTreeMap;

use model::{Labels, LabelsBuilder};

use crate::config::{GlobalConfig, ScrapeConfig, StaticConfig};
use crate::relabel::relabel;

/// A target to scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The job.
    pub job: String,
    /// The labels every series from it gets.
    pub labels: Labels,
    /// The labels it had before relabelling.
    pub discovered: Labels,
    /// What to fetch.
    pub url: String,
    /// How often, in ms.
    pub interval: i64,
    /// How long a scrape may take, in ms.
    pub timeout: i64,
}

/// The outcome of building a job's targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    /// The targets to scrape.
    pub active: Vec<Target>,
    /// The discovered label sets relabelling dropped.
    pub dropped: Vec<Labels>,
    /// Targets that could not be built, and why.
    pub errors: Vec<String>,
}

/// Builds the targets of `job` from its target groups.
pub fn targets(job: &ScrapeConfig, global: &GlobalConfig, groups: &[StaticConfig]) -> Targets {
    let mut out = Targets::default();
    let interval = job.interval(global);
    let timeout = job.timeout(global);
    for group in groups {
        for address in &group.targets {
            let mut b = LabelsBuilder::new();
            for (name, value) in &group.labels {
                b.set(name, value);
            }
            b.set("__address__", address);
            let defaults = [
                ("job", job.name().to_owned()),
                ("__scheme__", job.scheme.as_str().to_owned()),
                ("__metrics_path__", job.metrics_path.clone()),
                ("__scrape_interval__", interval.to_string()),
                ("__scrape_timeout__", timeout.to_string()),
            ];
            for (name, value) in defaults {
                if b.get(name).is_none() {
                    b.set(name, &value);
                }
            }
            for (name, values) in &job.params {
                let key = format!("__param_{name}");
                if let Some(first) = values.first()
                    && b.get(&key).is_none()
                {
                    b.set(&key, first);
                }
            }
            let discovered = b.build();
            if !relabel(&job.relabel_configs, &mut b) {
                out.dropped.push(discovered);
                continue;
            }
            match finish(job, &mut b, interval.0, timeout.0) {
                Ok(target) => out.active.push(Target {
                    discovered,
                    ..target
                }),
                Err(e) => out.errors.push(format!("job {:?}: {e}", job.name())),
            }
        }
    }
    out
}

/// The target relabelling left in `b`: its URL and final labels.
fn finish(
    job: &ScrapeConfig,
    b: &mut LabelsBuilder,
    default_interval: i64,
    default_timeout: i64,
) -> Result<Target, String> {
    let address = b
        .get("__address__")
        .filter(|a| !a.is_empty())
        .ok_or("relabelling left the target without an __address__")?
        .to_owned();
    if address.contains('/') {
        return Err(format!(
            "address {address:?} has a path; write host:port and set __metrics_path__"
        ));
    }
    if b.get("instance").is_none() {
        b.set("instance", &address);
    }
    let scheme = b.get("__scheme__").unwrap_or("http").to_owned();
    if scheme != "http" && scheme != "https" {
        return Err(format!("__scheme__ {scheme:?} is neither http nor https"));
    }
    let mut path = b.get("__metrics_path__").unwrap_or("/metrics").to_owned();
    // As Go's URL writes a path without its leading `/` after a host.
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    // Each parameter: a relabelled __param_ label wins over the configured values.
    let mut params: BTreeMap<String, Vec<String>> = job.params.clone();
    for l in b.iter() {
        if let Some(name) = l.name.strip_prefix("__param_") {
            params.insert(name.to_owned(), vec![l.value.to_string()]);
        }
    }
    let duration = |name: &str, default: i64| -> Result<i64, String> {
        match b.get(name) {
            None => Ok(default),
            Some(v) => model::parse_duration(v)
                .filter(|&ms| ms > 0)
                .ok_or_else(|| format!("{name} {v:?} is not a positive duration")),
        }
    };
    let interval = duration("__scrape_interval__", default_interval)?;
    let timeout = duration("__scrape_timeout__", default_timeout)?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout {} is longer than the interval {}",
            model::format_duration(timeout),
            model::format_duration(interval)
        ));
    }
    let mut url = format!("{scheme}://{address}{path}");
    let query: Vec<String> = params
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter()
                .map(move |v| format!("{}={}", encode(k), encode(v)))
        })
        .collect();
    if !query.is_empty() {
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    let mut labels = LabelsBuilder::new();
    for l in b.iter().filter(|l| !l.name.starts_with("__")) {
        labels.set(l.name, l.value);
    }
    Ok(Target {
        job: job.name().to_owned(),
        labels: labels.build(),
        discovered: Labels::empty(),
        url,
        interval,
        timeout,
    })
}

/// Percent-encodes a URL query component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn build(yaml: &str) -> Targets {
        let c = Config::parse(yaml, "t.yml").unwrap();
        let job = &c.scrape_configs[0];
        targets(job, &c.global, &job.discovery.static_configs)
    }

    #[test]
    fn targets_get_job_instance_and_group_labels() {
        let t = build(
            "scrape_configs:\n  - job_name: nodes\n    scrape_interval: 5s\n    params:\n      format: [prometheus]\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n        labels: {network: testnet}\n",
        );
        assert_eq!(t.active.len(), 1);
        let target = &t.active[0];
        assert_eq!(
            target.labels,
            Labels::from_pairs([
                ("instance", "127.0.0.1:9100"),
                ("job", "nodes"),
                ("network", "testnet")
            ])
        );
        assert_eq!(
            target.url,
            "http://127.0.0.1:9100/metrics?format=prometheus"
        );
        assert_eq!((target.interval, target.timeout), (5_000, 5_000));
        assert_eq!(target.discovered.get("__address__"), Some("127.0.0.1:9100"));
        assert_eq!(target.discovered.get("__scrape_interval__"), Some("5s"));
    }

    #[test]
    fn relabelling_rewrites_drops_and_reaches_the_url() {
        let t = build(
            "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['a:1', 'b:2', 'c:3']\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'c:.*'\n        action: drop\n      - source_labels: [__address__]\n        regex: '(.*):.*'\n        target_label: instance\n        replacement: '$1'\n      - source_labels: [__address__]\n        regex: 'b:2'\n        target_label: __metrics_path__\n        replacement: /probe\n      - target_label: __param_module\n        replacement: http_2xx\n",
        );
        assert_eq!(t.dropped.len(), 1);
        assert_eq!(t.active.len(), 2);
        assert_eq!(t.active[0].labels.get("instance"), Some("a"));
        assert_eq!(t.active[0].url, "http://a:1/metrics?module=http_2xx");
        assert_eq!(t.active[1].url, "http://b:2/probe?module=http_2xx");
        assert!(t.errors.is_empty());
    }

    #[test]
    fn a_target_without_address_is_an_error_not_a_scrape() {
        let t = build(
            "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['a:1']\n    relabel_configs:\n      - target_label: __address__\n        replacement: ''\n",
        );
        assert!(t.active.is_empty());
        assert_eq!(
            t.errors,
            ["job \"j\": relabelling left the target without an __address__"]
        );
    }
}
