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
                .await?
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    use serde_json::json;

    use super::super::testing::{fake_api, json};
    use super::*;

    #[tokio::test]
    async fn oauth2_tokens_authenticate_the_discovery_requests() {
        let base = fake_api(
            axum::Router::new()
                .route(
                    "/token",
                    post(|| async {
                        json(
                            200,
                            json!({"access_token": "sd-token", "token_type": "bearer", "expires_in": 60}),
                        )
                    }),
                )
                .route(
                    "/targets",
                    get(|h: HeaderMap| async move {
                        if h.get("authorization").is_some_and(|v| v == "Bearer sd-token") {
                            json(200, json!([{"targets": ["n1:9100"]}]))
                        } else {
                            json(401, json!({"error": "no token"}))
                        }
                    }),
                ),
        )
        .await;
        let text = format!(
            "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: {base}/targets\n        oauth2:\n          client_id: skywatch\n          client_secret: s\n          token_url: {base}/token\n"
        );
        let config = crate::Config::parse(&text, "p.yml").unwrap();
        let sd = HttpSd::new(0, &config.scrape_configs[0].discovery.http_sd_configs[0]).unwrap();
        let groups = sd.refresh().await.unwrap();
        assert_eq!(groups[0].targets, ["n1:9100"]);
    }
}
