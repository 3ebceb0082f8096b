//! The HTTP client settings Prometheus and Alertmanager share (`basic_auth`,
//! `authorization`, `oauth2`, `bearer_token(_file)`, `tls_config`, `proxy_url`,
//! `proxy_connect_header`, `follow_redirects`, `enable_http2`), as they read and check them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The HTTP client settings Prometheus inlines in every section that makes requests
/// (scrape jobs, `alerting.alertmanagers`, service discovery, remote write and read, and
/// Alertmanager's receivers): one client
/// configuration, used the same way by each.
#[derive(Debug, Clone, Default)]
pub struct HttpClientConfig {
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// The `Authorization` header.
    pub authorization: Option<Authorization>,
    /// OAuth 2.0 client credentials.
    pub oauth2: Option<crate::oauth2::OAuth2Config>,
    /// A bearer token, as `authorization` with `credentials` (Prometheus's older form).
    pub bearer_token: Option<String>,
    /// A file holding the bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// The proxy requests go through (`http://`, `https://` or `socks5://`).
    pub proxy_url: Option<String>,
    /// Headers sent to the proxy.
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    /// Follow redirects (default true).
    pub follow_redirects: bool,
    /// Negotiate HTTP/2 over TLS (default true).
    pub enable_http2: bool,
}

/// Reads the settings as a block of their own (`http_config:`, as Alertmanager writes
/// them), with the keys, defaults and unknown-key errors of the sections that inline them
/// (scrape's `http_client!` sections read the same keys beside their own).
impl<'de> Deserialize<'de> for HttpClientConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            basic_auth: Option<BasicAuth>,
            #[serde(default)]
            authorization: Option<Authorization>,
            #[serde(default)]
            oauth2: Option<crate::oauth2::OAuth2Config>,
            #[serde(default)]
            bearer_token: Option<String>,
            #[serde(default)]
            bearer_token_file: Option<PathBuf>,
            #[serde(default)]
            tls_config: Option<TlsConfig>,
            #[serde(default)]
            proxy_url: Option<String>,
            #[serde(default)]
            proxy_connect_header: BTreeMap<String, Vec<String>>,
            #[serde(default = "default_true")]
            follow_redirects: bool,
            #[serde(default = "default_true")]
            enable_http2: bool,
        }
        let raw = Raw::deserialize(d)?;
        Ok(HttpClientConfig {
            basic_auth: raw.basic_auth,
            authorization: raw.authorization,
            oauth2: raw.oauth2,
            bearer_token: raw.bearer_token,
            bearer_token_file: raw.bearer_token_file,
            tls_config: raw.tls_config.unwrap_or_default(),
            proxy_url: raw.proxy_url,
            proxy_connect_header: raw.proxy_connect_header,
            follow_redirects: raw.follow_redirects,
            enable_http2: raw.enable_http2,
        })
    }
}

/// Serde's default of the settings that are on unless turned off.
pub fn default_true() -> bool {
    true
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    /// The oldest TLS version to accept (`TLS10` to `TLS13`; default TLS 1.2).
    pub min_version: Option<TlsVersion>,
    /// The newest TLS version to offer.
    pub max_version: Option<TlsVersion>,
}

impl TlsConfig {
    /// Makes the files named relative to `dir`, the configuration file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        for file in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file]
            .into_iter()
            .flatten()
        {
            in_directory(file, dir);
        }
    }
}

/// A TLS version as Prometheus writes it: `TLS10`, `TLS11`, `TLS12` or `TLS13`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.0.
    #[serde(rename = "TLS10")]
    Tls10,
    /// TLS 1.1.
    #[serde(rename = "TLS11")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLS12")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLS13")]
    Tls13,
}

impl HttpClientConfig {
    /// Makes the files these settings name relative to `dir`, the configuration file's
    /// directory, where they are relative, as Prometheus reads them.
    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
        if let Some(file) = &mut self.bearer_token_file {
            in_directory(file, dir);
        }
        if let Some(file) = self
            .authorization
            .as_mut()
            .and_then(|a| a.credentials_file.as_mut())
        {
            in_directory(file, dir);
        }
        if let Some(file) = self
            .basic_auth
            .as_mut()
            .and_then(|a| a.password_file.as_mut())
        {
            in_directory(file, dir);
        }
        if let Some(oauth2) = &mut self.oauth2 {
            let tls = &mut oauth2.tls_config;
            for file in [
                &mut oauth2.client_secret_file,
                &mut tls.ca_file,
                &mut tls.cert_file,
                &mut tls.key_file,
            ]
            .into_iter()
            .flatten()
            {
                in_directory(file, dir);
            }
        }
    }

    /// Checks that the files promtool's `check config` requires of a scrape job exist: the
    /// credentials (or bearer token) file and the client certificate and key. The CA file is
    /// read only when the job's client is made, as Prometheus reads it.
    pub fn check_files(&self) -> Result<(), String> {
        let exists = |what: &str, path: &Option<PathBuf>| match path {
            Some(p) if !p.as_os_str().is_empty() => std::fs::metadata(p)
                .map(|_| ())
                .map_err(|e| format!("error checking {what} {:?}: {e}", p.display().to_string())),
            _ => Ok(()),
        };
        let credentials = self
            .authorization
            .as_ref()
            .and_then(|a| a.credentials_file.clone())
            .or_else(|| self.bearer_token_file.clone());
        exists(
            "authorization credentials or bearer token file",
            &credentials,
        )?;
        exists("client cert file", &self.tls_config.cert_file)?;
        exists("client key file", &self.tls_config.key_file)
    }

    /// Checks the settings without reading the files they name: a service discovery's
    /// client, whose files Prometheus reads when it starts discovering (a missing one fails
    /// that discovery, not the configuration).
    pub fn check(&self) -> Result<(), String> {
        let tls = &self.tls_config;
        match (&tls.cert_file, &tls.key_file) {
            (Some(cert), None) => {
                return Err(format!(
                    "client cert file {:?} specified without client key file; set key_file",
                    cert.display().to_string()
                ));
            }
            (None, Some(key)) => {
                return Err(format!(
                    "client key file {:?} specified without client cert file; set cert_file",
                    key.display().to_string()
                ));
            }
            _ => {}
        }
        if let Some(oauth2) = &self.oauth2 {
            if self.basic_auth.is_some() || self.authorization.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
            if self.bearer_token.is_some() || self.bearer_token_file.is_some() {
                return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
            }
            oauth2.check()?;
        }
        if !self.proxy_connect_header.is_empty()
            && self.proxy_url.as_deref().is_none_or(str::is_empty)
        {
            return Err(
                "if proxy_connect_header is configured proxy_url must also be configured".into(),
            );
        }
        for name in self.proxy_connect_header.keys() {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("proxy_connect_header: {name:?} is not a header name"))?;
        }
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err("bearer_token and bearer_token_file are both set; use one".into());
        }
        if self.basic_auth.is_some() && bearer {
            return Err("basic_auth and bearer_token are both set; use one".into());
        }
        if let Some(auth) = &self.basic_auth
            && auth.password.is_some()
            && auth.password_file.is_some()
        {
            return Err("basic_auth has both password and password_file; use one".into());
        }
        if let Some(auth) = &self.authorization {
            if bearer {
                return Err(
                    "authorization and bearer_token are both set; use authorization alone".into(),
                );
            }
            if self.basic_auth.is_some() {
                return Err("basic_auth and authorization are both set; use one".into());
            }
            if auth.kind.trim().eq_ignore_ascii_case("basic") {
                return Err(
                    "authorization type cannot be \"Basic\"; use basic_auth instead".into(),
                );
            }
            if auth.credentials.is_some() && auth.credentials_file.is_some() {
                return Err(
                    "authorization has both credentials and credentials_file; use one".into(),
                );
            }
        }
        if let Some(proxy) = &self.proxy_url {
            reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| format!("proxy_url {proxy:?} is not a proxy URL: {e}"))?;
        }
        Ok(())
    }
}

fn default_auth_type() -> String {
    "Bearer".into()
}

/// `path` relative to `dir` if it is relative, as Prometheus's `SetDirectory` makes it.
pub fn in_directory(path: &mut PathBuf, dir: &Path) {
    if !path.as_os_str().is_empty() && path.is_relative() {
        *path = dir.join(&*path);
    }
}
