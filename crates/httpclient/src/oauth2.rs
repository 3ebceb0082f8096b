//! OAuth 2.0 client credentials, as Prometheus's HTTP client settings use them (`oauth2:`):
//! a token fetched from `token_url`, kept until ten seconds before it expires, and sent as
//! each request's `Authorization` header.
//!
//! As Go's `clientcredentials` package, the token request is a form POST of
//! `grant_type=client_credentials`, the scopes joined by spaces and the `endpoint_params`;
//! the client authenticates with HTTP basic authentication (its id and secret URL-encoded)
//! and, if the server refuses that, with the id and secret in the form, which it then keeps
//! doing. A `client_secret_file` is read before each request, and a changed secret fetches
//! a new token.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::TlsConfig;

/// Go's `oauth2` renews a token this long before it expires.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// `oauth2`: the client credentials and where to exchange them for a token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2Config {
    /// The client's id.
    pub client_id: String,
    /// Its secret, or
    pub client_secret: Option<String>,
    /// a file holding it.
    pub client_secret_file: Option<PathBuf>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Where tokens are fetched.
    pub token_url: String,
    /// More parameters of the token request.
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings for the token URL.
    pub tls_config: TlsConfig,
    /// The proxy token requests go through.
    pub proxy_url: Option<String>,
}

impl OAuth2Config {
    /// Prometheus's checks of the section.
    pub fn check(&self) -> Result<(), String> {
        let secret = self.client_secret.as_ref().is_some_and(|s| !s.is_empty());
        let file = self
            .client_secret_file
            .as_ref()
            .is_some_and(|f| !f.as_os_str().is_empty());
        if self.client_id.is_empty() {
            return Err("oauth2 client_id must be configured".into());
        }
        if !secret && !file {
            return Err(
                "either oauth2 client_secret or client_secret_file must be configured".into(),
            );
        }
        if self.token_url.is_empty() {
            return Err("oauth2 token_url must be configured".into());
        }
        if secret && file {
            return Err(
                "at most one of oauth2 client_secret & client_secret_file must be configured"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A source of tokens for one section: its own client for the token URL, and the token
/// it holds now.
#[derive(Debug)]
pub struct TokenSource {
    config: OAuth2Config,
    client: reqwest::Client,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The secret the token was fetched with.
    secret: String,
    /// The `Authorization` header value and until when it is good.
    token: Option<(String, Option<Instant>)>,
    /// The server refused basic authentication: the credentials go in the form.
    in_params: bool,
}

/// A token endpoint's answer (RFC 6749, section 5.1).
#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl TokenSource {
    /// A source for `config`; fails if its TLS settings or proxy cannot be used.
    pub fn new(config: &OAuth2Config) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("Skywatch/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(crate::tls::client_config(&config.tls_config)?);
        builder = match &config.proxy_url {
            Some(url) => builder.proxy(
                reqwest::Proxy::all(url.as_str())
                    .map_err(|e| format!("oauth2 proxy_url {url:?} is not a proxy URL: {e}"))?,
            ),
            None => builder.no_proxy(),
        };
        Ok(Self {
            config: config.clone(),
            client: builder
                .build()
                .map_err(|e| format!("cannot build the oauth2 client: {e}"))?,
            state: tokio::sync::Mutex::default(),
        })
    }

    /// The `Authorization` header for a request now: the token held, or a new one.
    pub async fn header(&self) -> Result<String, String> {
        let secret = match (&self.config.client_secret, &self.config.client_secret_file) {
            (Some(secret), _) => secret.clone(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|s| s.trim().to_owned())
                .map_err(|e| {
                    format!(
                        "unable to read oauth2 client secret file {}: {e}",
                        file.display()
                    )
                })?,
            (None, None) => String::new(),
        };
        let mut state = self.state.lock().await;
        if state.secret != secret {
            state.token = None;
            state.secret.clone_from(&secret);
        }
        if let Some((header, expiry)) = &state.token
            && expiry.is_none_or(|e| Instant::now() + EXPIRY_DELTA < e)
        {
            return Ok(header.clone());
        }
        let (header, expiry, in_params) = self.fetch(&secret, state.in_params).await?;
        state.in_params = in_params;
        state.token = Some((header.clone(), expiry));
        Ok(header)
    }

    /// Asks the token URL for a token; answers the header, its expiry, and whether the
    /// credentials had to go in the form.
    async fn fetch(
        &self,
        secret: &str,
        in_params: bool,
    ) -> Result<(String, Option<Instant>, bool), String> {
        let c = &self.config;
        let mut form: BTreeMap<String, String> = BTreeMap::new();
        form.insert("grant_type".into(), "client_credentials".into());
        if !c.scopes.is_empty() {
            form.insert("scope".into(), c.scopes.join(" "));
        }
        for (key, value) in &c.endpoint_params {
            if form.contains_key(key) && key != "grant_type" {
                return Err(format!("oauth2: cannot overwrite parameter {key:?}"));
            }
            form.insert(key.clone(), value.clone());
        }
        if !in_params {
            match self.request(&form, Some(secret)).await {
                Ok((header, expiry)) => return Ok((header, expiry, false)),
                // As Go's auto-detection: a refusal of basic authentication is tried again
                // with the credentials in the form.
                Err(Refused::Status(_)) => {}
                Err(Refused::Other(e)) => return Err(e),
            }
        }
        form.insert("client_id".into(), c.client_id.clone());
        form.insert("client_secret".into(), secret.to_owned());
        match self.request(&form, None).await {
            Ok((header, expiry)) => Ok((header, expiry, true)),
            Err(Refused::Status(e) | Refused::Other(e)) => Err(e),
        }
    }

    async fn request(
        &self,
        form: &BTreeMap<String, String>,
        basic_secret: Option<&str>,
    ) -> Result<(String, Option<Instant>), Refused> {
        let url = &self.config.token_url;
        let cannot = |e: String| format!("oauth2: cannot fetch token from {url}: {e}");
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        if let Some(secret) = basic_secret {
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(&self.config.client_id), Some(encode(secret)));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Refused::Other(cannot(e.to_string())))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Refused::Other(cannot(e.to_string())))?;
        if !status.is_success() {
            return Err(Refused::Status(cannot(format!(
                "{status}, response: {}",
                text.trim()
            ))));
        }
        let token: TokenResponse = serde_json::from_str(&text)
            .map_err(|e| Refused::Other(cannot(format!("the answer is not JSON: {e}"))))?;
        if token.access_token.is_empty() {
            return Err(Refused::Other(
                "oauth2: server response missing access_token".into(),
            ));
        }
        let seconds = match token.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let expiry = seconds
            .filter(|s| *s > 0.0)
            .map(|s| Instant::now() + Duration::from_secs_f64(s));
        Ok((
            format!("{} {}", token_type(&token.token_type), token.access_token),
            expiry,
        ))
    }
}

/// A token request that failed: refused by the server (worth trying the other way of
/// authenticating), or otherwise.
enum Refused {
    Status(String),
    Other(String),
}

/// The scheme of a token's `Authorization` header, as Go's `Token.Type` writes it.
fn token_type(kind: &str) -> &str {
    if kind.is_empty() || kind.eq_ignore_ascii_case("bearer") {
        "Bearer"
    } else if kind.eq_ignore_ascii_case("mac") {
        "MAC"
    } else if kind.eq_ignore_ascii_case("basic") {
        "Basic"
    } else {
        kind
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;
    use axum::routing::post;

    use super::*;

    /// Each token request's Authorization header and form.
    type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

    /// A token endpoint that refuses basic authentication when `basic_ok` is false, and
    /// records each request's form and Authorization header.
    async fn token_endpoint(basic_ok: bool, seen: Seen) -> String {
        let router = axum::Router::new().route(
            "/token",
            post(move |h: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let auth = h
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    seen.lock().unwrap().push((auth.clone(), body));
                    let n = seen.lock().unwrap().len();
                    if auth.is_some() && !basic_ok {
                        return (axum::http::StatusCode::UNAUTHORIZED, "{\"error\":\"invalid_client\"}".to_owned());
                    }
                    (
                        axum::http::StatusCode::OK,
                        format!(r#"{{"access_token":"token-{n}","token_type":"bearer","expires_in":3600}}"#),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/token")
    }

    fn config(token_url: String) -> OAuth2Config {
        yaml::from_str(&format!(
            "client_id: 'my client'\nclient_secret: 's&cret'\nscopes: [read, write]\ntoken_url: {token_url}\nendpoint_params:\n  audience: skywatch\n"
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn a_token_is_fetched_with_basic_authentication_and_kept_until_it_expires() {
        let seen = Arc::default();
        let url = token_endpoint(true, Arc::clone(&seen)).await;
        let source = TokenSource::new(&config(url)).unwrap();
        assert_eq!(source.header().await.unwrap(), "Bearer token-1");
        // Kept: no second request.
        assert_eq!(source.header().await.unwrap(), "Bearer token-1");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (auth, form) = &seen[0];
        // Go URL-encodes the id and secret before basic authentication.
        assert_eq!(
            auth.as_deref(),
            Some(format!("Basic {}", b64("my+client:s%26cret")).as_str())
        );
        assert_eq!(
            form,
            "audience=skywatch&grant_type=client_credentials&scope=read+write"
        );
    }

    #[tokio::test]
    async fn a_server_refusing_basic_authentication_gets_the_credentials_in_the_form() {
        let seen = Arc::default();
        let url = token_endpoint(false, Arc::clone(&seen)).await;
        let source = TokenSource::new(&config(url)).unwrap();
        assert_eq!(source.header().await.unwrap(), "Bearer token-2");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, None);
        assert!(
            seen[1].1.contains("client_id=my+client")
                && seen[1].1.contains("client_secret=s%26cret"),
            "{}",
            seen[1].1
        );
    }

    #[tokio::test]
    async fn a_changed_secret_file_fetches_a_new_token() {
        let seen = Arc::default();
        let url = token_endpoint(true, Arc::clone(&seen)).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "one\n").unwrap();
        let mut c = config(url);
        c.client_secret = None;
        c.client_secret_file = Some(file.clone());
        let source = TokenSource::new(&c).unwrap();
        assert_eq!(source.header().await.unwrap(), "Bearer token-1");
        std::fs::write(&file, "two\n").unwrap();
        assert_eq!(source.header().await.unwrap(), "Bearer token-2");
        std::fs::remove_file(&file).unwrap();
        let e = source.header().await.unwrap_err();
        assert!(
            e.starts_with("unable to read oauth2 client secret file"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_failing_token_url_is_an_error_naming_it() {
        let c = config("http://127.0.0.1:1/token".into());
        let e = TokenSource::new(&c).unwrap().header().await.unwrap_err();
        assert!(
            e.starts_with("oauth2: cannot fetch token from http://127.0.0.1:1/token"),
            "{e}"
        );
    }

    #[test]
    fn the_section_is_checked_as_prometheus_checks_it() {
        let check = |text: &str| yaml::from_str::<OAuth2Config>(text).unwrap().check();
        assert!(check("client_id: a\nclient_secret: b\ntoken_url: http://t\n").is_ok());
        assert_eq!(
            check("client_secret: b\ntoken_url: http://t\n").unwrap_err(),
            "oauth2 client_id must be configured"
        );
        assert_eq!(
            check("client_id: a\ntoken_url: http://t\n").unwrap_err(),
            "either oauth2 client_secret or client_secret_file must be configured"
        );
        assert_eq!(
            check("client_id: a\nclient_secret: b\nclient_secret_file: f\ntoken_url: http://t\n")
                .unwrap_err(),
            "at most one of oauth2 client_secret & client_secret_file must be configured"
        );
        assert_eq!(
            check("client_id: a\nclient_secret: b\n").unwrap_err(),
            "oauth2 token_url must be configured"
        );
        assert_eq!(token_type("MAC"), "MAC");
        assert_eq!(token_type("DPoP"), "DPoP");
    }

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }
}
