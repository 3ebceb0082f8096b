//! `puppetdb_sd_configs`: the resources a PQL query returns from PuppetDB, one target per
//! resource at `certname:port`, as Prometheus 2.42's PuppetDB discovery.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{ApiClient, Provider, Refresh, join_host_port, sanitize_label_name as sanitize};
use crate::config::{PuppetDbSdConfig, StaticConfig};

/// One resource of PuppetDB's `/pdb/query/v4` answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Resource {
    certname: String,
    resource: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    exported: bool,
    tags: Vec<String>,
    file: String,
    environment: String,
    parameters: BTreeMap<String, serde_json::Value>,
}

pub(super) struct PuppetDb {
    name: String,
    url: String,
    query: String,
    port: u16,
    include_parameters: bool,
    interval: Duration,
    client: ApiClient,
}

impl PuppetDb {
    pub(super) fn new(n: usize, config: &PuppetDbSdConfig) -> Result<Self, String> {
        Ok(Self {
            name: format!("puppetdb_sd_configs[{n}]"),
            url: format!("{}/pdb/query/v4", config.url.value.trim_end_matches('/')),
            query: config.query.clone(),
            port: config.port,
            include_parameters: config.include_parameters,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
        })
    }

    fn groups(&self, resources: Vec<Resource>) -> Vec<StaticConfig> {
        resources
            .into_iter()
            .map(|r| {
                let mut labels = BTreeMap::from([
                    ("__meta_puppetdb_query".to_owned(), self.query.clone()),
                    ("__meta_puppetdb_certname".to_owned(), r.certname.clone()),
                    ("__meta_puppetdb_resource".to_owned(), r.resource),
                    ("__meta_puppetdb_type".to_owned(), r.kind),
                    ("__meta_puppetdb_title".to_owned(), r.title),
                    (
                        "__meta_puppetdb_exported".to_owned(),
                        r.exported.to_string(),
                    ),
                    ("__meta_puppetdb_file".to_owned(), r.file),
                    ("__meta_puppetdb_environment".to_owned(), r.environment),
                ]);
                if !r.tags.is_empty() {
                    labels.insert(
                        "__meta_puppetdb_tags".to_owned(),
                        format!(",{},", r.tags.join(",")),
                    );
                }
                if self.include_parameters {
                    let mut parameters = BTreeMap::new();
                    parameter_labels(&r.parameters, "", &mut parameters);
                    for (name, value) in parameters {
                        labels.insert(format!("__meta_puppetdb_parameter_{name}"), value);
                    }
                }
                StaticConfig {
                    targets: vec![join_host_port(&r.certname, self.port)],
                    labels,
                }
            })
            .collect()
    }
}

/// Resource parameters as labels, as Prometheus flattens them: scalars as written (numbers
/// as Go's `%g`), lists joined with `,`, maps flattened with their key as a prefix; empty
/// values are left out.
fn parameter_labels(
    parameters: &BTreeMap<String, serde_json::Value>,
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) {
    use serde_json::Value;
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => n.as_f64().map(go_float),
        _ => None,
    };
    for (key, value) in parameters {
        let text = match value {
            Value::Array(items) if items.is_empty() => continue,
            Value::Array(items) => items
                .iter()
                .map(|v| scalar(v).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(","),
            Value::Object(map) => {
                let map: BTreeMap<String, Value> =
                    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                parameter_labels(
                    &map,
                    &format!("{prefix}{}", sanitize(&format!("{key}_"))),
                    out,
                );
                continue;
            }
            other => match scalar(other) {
                Some(text) => text,
                None => continue,
            },
        };
        if !text.is_empty() {
            out.insert(format!("{prefix}{}", sanitize(key)), text);
        }
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest digits that read
/// back, in exponent form when the decimal exponent is below -4 or at least 6.
fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest digits that read back: `1.2345e5`.
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

impl Provider for PuppetDb {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let body = serde_json::json!({ "query": self.query }).to_string();
            let request = self
                .client
                .post(&self.url)
                .await?
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            let response = request
                .send()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(format!(
                    "{}: server returned HTTP status {}",
                    self.url,
                    response.status()
                ));
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let json = matches!(
                content_type.replace(' ', "").as_str(),
                "application/json"
                    | "application/json;charset=utf-8"
                    | "application/json;charset=\"utf-8\""
            );
            if !json {
                return Err(format!(
                    "{}: unsupported content type {content_type:?}",
                    self.url
                ));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            let resources: Vec<Resource> =
                serde_json::from_slice(&body).map_err(|e| format!("{}: {e}", self.url))?;
            Ok(self.groups(resources))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_shortest_g() {
        for (v, go) in [
            (1.0, "1"),
            (123456.0, "123456"),
            (1_000_000.0, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(go_float(v), go, "{v}");
        }
    }
}
