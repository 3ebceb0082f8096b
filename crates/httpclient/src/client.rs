//! The HTTP client of a section that makes requests (a scrape job, an Alertmanager, an
//! HTTP service discovery): one [`HttpClientConfig`] read the same way everywhere, made
//! into a reqwest client and the `Authorization` header its requests carry.

use std::path::Path;

use crate::config::HttpClientConfig;

impl HttpClientConfig {
    /// A client with these settings: TLS, proxy, redirects and HTTP/2.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("Skywatch/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(1)
            .tls_backend_preconfigured(crate::tls::client_config(&self.tls_config)?)
            .redirect(if self.follow_redirects {
                // Go's client gives up after 10 redirects, as reqwest's default does.
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            });
        if !self.enable_http2 {
            builder = builder.http1_only();
        }
        // As Go's client without a proxy_url: no proxy (Prometheus ignores HTTP_PROXY).
        builder = match &self.proxy_url {
            Some(url) => {
                let mut headers = reqwest::header::HeaderMap::new();
                for (name, values) in &self.proxy_connect_header {
                    let name =
                        reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            format!("proxy_connect_header: {name:?} is not a header name")
                        })?;
                    for value in values {
                        let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                            format!("proxy_connect_header: the value of {name} is not a header value")
                        })?;
                        headers.append(name.clone(), value);
                    }
                }
                builder.proxy(
                    reqwest::Proxy::all(url.as_str())
                        .map_err(|e| format!("proxy_url {url:?} is not a proxy URL: {e}"))?
                        .headers(headers),
                )
            }
            None => builder.no_proxy(),
        };
        builder
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))
    }

    /// How each request is authenticated: a header made now (secret files read now), or
    /// OAuth 2.0 tokens fetched as they are needed. Fails if the OAuth 2.0 client cannot
    /// be made (its TLS files).
    pub fn auth(&self) -> Result<Auth, String> {
        if let Some(oauth2) = &self.oauth2 {
            return Ok(Auth::OAuth2(std::sync::Arc::new(
                crate::oauth2::TokenSource::new(oauth2)?,
            )));
        }
        Ok(self.authorization_header().map_or(Auth::None, Auth::Header))
    }

    /// The `Authorization` header of each request, reading secret files now (as
    /// Prometheus reads them at each request; the callers ask at each reload).
    pub fn authorization_header(&self) -> Option<String> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|e| {
                    tracing::warn!(file = %p.display(), error = %e, "cannot read a secret file");
                    String::new()
                })
        };
        if let Some(basic) = &self.basic_auth {
            let password = match (&basic.password, &basic.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(f)) => read(f),
                (None, None) => String::new(),
            };
            let token = base64(format!("{}:{password}", basic.username).as_bytes());
            return Some(format!("Basic {token}"));
        }
        if let Some(auth) = &self.authorization {
            let credentials = match (&auth.credentials, &auth.credentials_file) {
                (Some(c), _) => c.clone(),
                (None, Some(f)) => read(f),
                (None, None) => String::new(),
            };
            let kind = match auth.kind.trim() {
                "" => "Bearer",
                kind => kind,
            };
            return Some(format!("{kind} {credentials}"));
        }
        match (&self.bearer_token, &self.bearer_token_file) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Some(file)) => Some(format!("Bearer {}", read(file))),
            (None, None) => None,
        }
    }
}

/// How a section's requests are authenticated.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// Not at all.
    #[default]
    None,
    /// With this `Authorization` header.
    Header(String),
    /// With OAuth 2.0 client credentials' tokens.
    OAuth2(std::sync::Arc<crate::oauth2::TokenSource>),
}

impl Auth {
    /// `request` with its `Authorization` header; fails if no OAuth 2.0 token can be had.
    pub async fn apply(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, String> {
        Ok(match self {
            Auth::None => request,
            Auth::Header(h) => request.header(reqwest::header::AUTHORIZATION, h),
            Auth::OAuth2(source) => {
                request.header(reqwest::header::AUTHORIZATION, source.header().await?)
            }
        })
    }
}

/// Standard base64, for basic authentication.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }
}
