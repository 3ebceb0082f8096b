//! `http_sd_configs`: Prometheus's HTTP service discovery.

use std::time::Duration;

use super::{ApiClient, Provider, Refresh};
use crate::config::{HttpSdConfig, StaticConfig};

/// `http_sd_configs`: a JSON list of target groups fetched from a URL, as Prometheus's
/// HTTP service discovery: the response must be 200 with `Content-Type:
/// application/json`, and each group gets `__meta_url`.
pub(super) struct HttpSd {
    name: String,
    url: String,
    interval: Duration,
    client: ApiClient,
}

impl HttpSd {
    pub(super) fn new(n: usize, config: &HttpSdConfig) -> Result<Self, String> {
        Ok(Self {
            name: format!("http_sd_configs[{n}]"),
            url: config.url.value.clone(),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
        })
    }
}

impl Provider for HttpSd {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> Duration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let response = self
                .client
                .get(&self.url)
                .header(reqwest::header::ACCEPT, "application/json")
                .header(
                    "X-Prometheus-Refresh-Interval-Seconds",
                    self.interval.as_secs().to_string(),
                )
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
            let json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(format!(
                    "{}: unsupported content type {:?}; the endpoint must answer application/json",
                    self.url,
                    response.headers().get(reqwest::header::CONTENT_TYPE)
                ));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            let mut groups: Vec<StaticConfig> = serde_json::from_slice(&body).map_err(|e| {
                format!(
                    "{}: line {}, column {}: {e}",
                    self.url,
                    e.line(),
                    e.column()
                )
            })?;
            for group in &mut groups {
                for name in group.labels.keys() {
                    crate::config::check_label_name(name)
                        .map_err(|e| format!("{}: {e}", self.url))?;
                }
                group.labels.insert("__meta_url".into(), self.url.clone());
            }
            Ok(groups)
        })
    }
}
