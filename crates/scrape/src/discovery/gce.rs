//! `gce_sd_configs`: Google Compute Engine instances of one project and zone, as
//! Prometheus 2.42's GCE discovery finds them through the Compute Engine API v1
//! (`instances.list`, following `nextPageToken`), a target at the private IP of each
//! instance's first network interface.
//!
//! The section has no credentials of its own: as Prometheus (Google's
//! `google.DefaultClient`), the discoverer finds Google's application default credentials
//! when it is made, in this order:
//!
//! 1. the JSON file `GOOGLE_APPLICATION_CREDENTIALS` names;
//! 2. gcloud's well-known file, `$HOME/.config/gcloud/application_default_credentials.json`;
//! 3. the GCE metadata server (`GCE_METADATA_HOST`, or 169.254.169.254).
//!
//! A service account key (`"type": "service_account"`) signs an OAuth 2.0 JWT bearer
//! assertion (RS256, RFC 7523) for the compute read-only scope and exchanges it at the
//! key's `token_uri`; gcloud's user credentials (`authorized_user`) exchange their refresh
//! token; on GCE, the metadata server gives the instance's service account's token. A
//! token is kept until ten seconds before it expires, as Go's `oauth2` keeps it.
//!
//! The assertion is signed with the `jsonwebtoken` crate (over aws-lc-rs, the crypto
//! rustls already brings): the most used Rust JWT crate, maintained, and it reads the
//! PKCS#8 PEM keys Google issues, so no key parsing or signing is written here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    Nullable, Provider, Refresh, default_client, get_json, path_escape, post_form,
    sanitize_label_name, target,
};
use crate::config::Duration;

/// The Compute Engine API's base URL (google-api-go-client's `compute/v1`).
const COMPUTE_ENDPOINT: &str = "https://compute.googleapis.com/compute/v1/";
/// The scope Prometheus asks its tokens for.
const SCOPE: &str = "https://www.googleapis.com/auth/compute.readonly";
/// Google's token endpoint, where a credentials file names none.
const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The metadata server's address, where `GCE_METADATA_HOST` names none.
const METADATA_HOST: &str = "169.254.169.254";
/// Go's `oauth2` renews a token this long before it expires.
const EXPIRY_DELTA: StdDuration = StdDuration::from_secs(10);
/// Where Google's error about missing credentials sends the reader.
const ADC_DOCS: &str =
    "https://developers.google.com/accounts/docs/application-default-credentials";

/// `gce_sd_configs`: the instances of a project's zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GceSdConfig {
    /// The Google Cloud project; required.
    #[serde(default)]
    pub project: String,
    /// The zone of the instances; required (one section per zone).
    #[serde(default)]
    pub zone: String,
    /// An `instances.list` filter expression, such as `labels.env = prod`.
    #[serde(default)]
    pub filter: String,
    /// How often to ask again (default 60s).
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Duration,
    /// The port of the targets (default 80).
    #[serde(default = "default_port")]
    pub port: u16,
    /// What the tags are joined and wrapped with (default `,`).
    #[serde(default = "default_tag_separator")]
    pub tag_separator: String,
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

fn default_port() -> u16 {
    80
}

fn default_tag_separator() -> String {
    ",".into()
}

impl GceSdConfig {
    /// Checks the section as Prometheus does when it reads it: a project and a zone.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.project.is_empty() {
            return Err("GCE SD configuration requires a project".into());
        }
        if self.zone.is_empty() {
            return Err("GCE SD configuration requires a zone".into());
        }
        Ok(())
    }
}

/// What of the process environment Google's default credentials are found with: the
/// process's own, or a test's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub(crate) credentials_file: Option<PathBuf>,
    /// `HOME`, where gcloud keeps its well-known file.
    pub(crate) home: Option<PathBuf>,
    /// `GCE_METADATA_HOST`: the metadata server's `host:port`.
    pub(crate) metadata_host: Option<String>,
}

impl Environment {
    fn of_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Self {
            credentials_file: var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            metadata_host: var("GCE_METADATA_HOST").and_then(|v| v.into_string().ok()),
        }
    }
}

/// Where tokens come from.
enum Source {
    /// A service account's key: signed assertions, exchanged at `token_url`.
    ServiceAccount {
        email: String,
        key_id: String,
        key: jsonwebtoken::EncodingKey,
        token_url: String,
    },
    /// gcloud's user credentials: a refresh token, exchanged at `token_url`.
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_url: String,
    },
    /// The metadata server's token of the instance's default service account; `searched`
    /// is the well-known file that was not there, for the error when there is no server.
    Metadata { url: String, searched: PathBuf },
}

/// Google's application default credentials, and the token they gave last.
struct Credentials {
    source: Source,
    client: reqwest::Client,
    timeout: StdDuration,
    /// The `Authorization` header and when its token expires (never, if not said).
    token: tokio::sync::Mutex<Option<(String, Option<Instant>)>>,
}

/// A credentials file: the fields of the kinds Skywatch reads.
#[derive(Deserialize)]
struct CredentialsFile {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    token_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    refresh_token: String,
}

/// A token endpoint's answer, Google's and the metadata server's.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: i64,
}

/// The claims of a service account's assertion, as Go's `jws.ClaimSet` writes them.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
}

impl Credentials {
    /// Finds the credentials as `google.FindDefaultCredentials` does, in `env`.
    fn find(env: &Environment, timeout: StdDuration) -> Result<Self, String> {
        let source = match &env.credentials_file {
            Some(file) => Self::read(file).map_err(|e| {
                format!("google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: {e}")
            })?,
            None => {
                let well_known = env
                    .home
                    .clone()
                    .unwrap_or_default()
                    .join(".config/gcloud/application_default_credentials.json");
                match std::fs::metadata(&well_known) {
                    Ok(_) => Self::read(&well_known).map_err(|e| {
                        format!(
                            "google: error getting credentials using well-known file ({}): {e}",
                            well_known.display()
                        )
                    })?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Source::Metadata {
                        url: format!(
                            "http://{}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}",
                            env.metadata_host.as_deref().unwrap_or(METADATA_HOST),
                            form_urlencoded::byte_serialize(SCOPE.as_bytes()).collect::<String>(),
                        ),
                        searched: well_known,
                    },
                    Err(e) => {
                        return Err(format!(
                            "google: error getting credentials using well-known file ({}): {e}",
                            well_known.display()
                        ));
                    }
                }
            }
        };
        Ok(Self {
            source,
            client: default_client()?,
            timeout,
            token: tokio::sync::Mutex::default(),
        })
    }

    /// The credentials `file` holds.
    fn read(file: &Path) -> Result<Source, String> {
        let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let file: CredentialsFile = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        let token_url = if file.token_uri.is_empty() {
            GOOGLE_TOKEN_URL.to_owned()
        } else {
            file.token_uri
        };
        match file.kind.as_str() {
            "service_account" => Ok(Source::ServiceAccount {
                key: jsonwebtoken::EncodingKey::from_rsa_pem(file.private_key.as_bytes()).map_err(
                    |e| format!("private key should be a PEM PKCS1 or PKCS8 RSA key: {e}"),
                )?,
                email: file.client_email,
                key_id: file.private_key_id,
                token_url,
            }),
            "authorized_user" => Ok(Source::AuthorizedUser {
                client_id: file.client_id,
                client_secret: file.client_secret,
                refresh_token: file.refresh_token,
                token_url,
            }),
            kind @ ("external_account" | "impersonated_service_account") => Err(format!(
                "credential type {kind:?} is not supported by Skywatch; use a service account key, gcloud's user credentials or the metadata server"
            )),
            "" => Err("missing 'type' field in credentials".into()),
            kind => Err(format!("unknown credential type: {kind:?}")),
        }
    }

    /// The `Authorization` header for a request now: the token held, or a new one.
    async fn header(&self) -> Result<String, String> {
        let mut held = self.token.lock().await;
        if let Some((header, expiry)) = &*held
            && expiry.is_none_or(|e| Instant::now() + EXPIRY_DELTA < e)
        {
            return Ok(header.clone());
        }
        let answer = self.fetch().await?;
        if answer.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".into());
        }
        let header = format!("Bearer {}", answer.access_token);
        let expiry = u64::try_from(answer.expires_in)
            .ok()
            .filter(|s| *s > 0)
            .map(|s| Instant::now() + StdDuration::from_secs(s));
        *held = Some((header.clone(), expiry));
        Ok(header)
    }

    /// Asks the source for a new token.
    async fn fetch(&self) -> Result<TokenAnswer, String> {
        let form = |url: &str, pairs: &[(&str, &str)]| {
            post_form(&self.client, url, pairs).timeout(self.timeout)
        };
        let cannot = |e: String| format!("oauth2: cannot fetch token: {e}");
        match &self.source {
            Source::ServiceAccount {
                email,
                key_id,
                key,
                token_url,
            } => {
                // Issued ten seconds ago, as Go's `jws` dates it, for clocks a little ahead.
                let iat = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .saturating_sub(10);
                let claims = Claims {
                    iss: email,
                    scope: SCOPE,
                    aud: token_url,
                    exp: iat + 3600,
                    iat,
                };
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some(key_id.clone());
                let assertion = jsonwebtoken::encode(&header, &claims, key)
                    .map_err(|e| cannot(format!("cannot sign the assertion: {e}")))?;
                let request = form(
                    token_url,
                    &[
                        ("assertion", assertion.as_str()),
                        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ],
                );
                get_json(request, token_url).await.map_err(cannot)
            }
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_url,
            } => {
                let request = form(
                    token_url,
                    &[
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret),
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh_token),
                    ],
                );
                get_json(request, token_url).await.map_err(cannot)
            }
            Source::Metadata { url, searched } => {
                let request = self
                    .client
                    .get(url)
                    .timeout(self.timeout)
                    .header("Metadata-Flavor", "Google");
                let answer: TokenAnswer = get_json(request, url).await.map_err(|e| {
                    format!(
                        "google: could not find default credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, {} does not exist, and the GCE metadata server gave no token ({e}). See {ADC_DOCS} for more information.",
                        searched.display()
                    )
                })?;
                if answer.expires_in == 0 || answer.access_token.is_empty() {
                    return Err("oauth2/google: incomplete token received from metadata".into());
                }
                Ok(answer)
            }
        }
    }
}

/// A GCE discoverer.
pub(super) struct Gce {
    name: String,
    project: String,
    zone: String,
    filter: String,
    port: u16,
    tag_separator: String,
    interval: StdDuration,
    /// The API's base URL, ending in `/`.
    endpoint: String,
    client: reqwest::Client,
    credentials: Credentials,
}

impl Gce {
    pub(super) fn new(n: usize, config: &GceSdConfig) -> Result<Self, String> {
        Self::with_endpoint(n, config, COMPUTE_ENDPOINT, &Environment::of_process())
    }

    /// A discoverer asking `endpoint` (the API's base URL) instead of Google's, with the
    /// credentials `env` leads to.
    pub(crate) fn with_endpoint(
        n: usize,
        config: &GceSdConfig,
        endpoint: &str,
        env: &Environment,
    ) -> Result<Self, String> {
        let interval = config.refresh_interval.std();
        let timeout = interval.max(StdDuration::from_secs(1));
        let setting_up =
            |e: String| format!("error setting up communication with GCE service: {e}");
        Ok(Self {
            name: format!("gce_sd_configs[{n}]"),
            project: config.project.clone(),
            zone: config.zone.clone(),
            filter: config.filter.clone(),
            port: config.port,
            tag_separator: config.tag_separator.clone(),
            interval,
            endpoint: format!("{}/", endpoint.trim_end_matches('/')),
            client: default_client().map_err(setting_up)?,
            credentials: Credentials::find(env, timeout).map_err(setting_up)?,
        })
    }

    /// Every instance of the zone the filter keeps, page after page, as the API client's
    /// `Pages` asks for them: each page with the last one's `nextPageToken`.
    async fn instances(&self) -> Result<Vec<Instance>, String> {
        let base = format!(
            "{}projects/{}/zones/{}/instances",
            self.endpoint,
            path_escape(&self.project),
            path_escape(&self.zone)
        );
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            // In the order Go's `url.Values` encodes them: sorted.
            let mut query = vec![("alt", "json")];
            if !self.filter.is_empty() {
                query.push(("filter", &self.filter));
            }
            if !page_token.is_empty() {
                query.push(("pageToken", &page_token));
            }
            query.push(("prettyPrint", "false"));
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish();
            let url = format!("{base}?{query}");
            let request = self
                .client
                .get(&url)
                .timeout(self.credentials.timeout)
                .header(
                    reqwest::header::AUTHORIZATION,
                    self.credentials.header().await?,
                );
            let page: InstanceList = get_json(request, &url).await?;
            all.extend(page.items.0);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token.0;
        }
    }

    /// The labels of `instance`, and its address; `None` for one without interfaces.
    fn target(&self, instance: Instance) -> Option<crate::config::StaticConfig> {
        let primary = instance.network_interfaces.first()?;
        let mut labels: BTreeMap<String, String> = [
            ("project", self.project.clone()),
            ("zone", instance.zone.0),
            ("instance_id", instance.id.to_string()),
            ("instance_name", instance.name.0),
            ("instance_status", instance.status.0),
            ("machine_type", instance.machine_type.0),
            ("network", primary.network.0.clone()),
            ("subnetwork", primary.subnetwork.0.clone()),
            ("private_ip", primary.network_ip.0.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("__meta_gce_{k}"), v))
        .collect();
        for interface in instance.network_interfaces.iter() {
            labels.insert(
                format!(
                    "__meta_gce_interface_ipv4_{}",
                    sanitize_label_name(&interface.name)
                ),
                interface.network_ip.0.clone(),
            );
        }
        // The separator wraps the list too, so that a relabelling regex need not care
        // where in the list a tag is.
        if let Some(tags) = &instance.tags
            && !tags.items.is_empty()
        {
            let separator = &self.tag_separator;
            labels.insert(
                "__meta_gce_tags".into(),
                format!("{separator}{}{separator}", tags.items.join(separator)),
            );
        }
        if let Some(metadata) = &instance.metadata {
            for item in metadata.items.iter() {
                if let Some(value) = &item.value {
                    labels.insert(
                        format!("__meta_gce_metadata_{}", sanitize_label_name(&item.key)),
                        value.clone(),
                    );
                }
            }
        }
        for (key, value) in instance.labels.iter() {
            labels.insert(
                format!("__meta_gce_label_{}", sanitize_label_name(key)),
                value.clone(),
            );
        }
        if let Some(access) = primary.access_configs.first()
            && access.kind.0 == "ONE_TO_ONE_NAT"
        {
            labels.insert("__meta_gce_public_ip".into(), access.nat_ip.0.clone());
        }
        // Not bracketed for IPv6: Prometheus writes `ip:port` as it is.
        let address = format!("{}:{}", primary.network_ip.0, self.port);
        Some(target(address, labels))
    }
}

impl Provider for Gce {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let instances = self
                .instances()
                .await
                .map_err(|e| format!("error retrieving refresh targets from gce: {e}"))?;
            Ok(instances
                .into_iter()
                .filter_map(|instance| self.target(instance))
                .collect())
        })
    }
}

/// A page of `instances.list`.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct InstanceList {
    items: Nullable<Vec<Instance>>,
    next_page_token: Nullable<String>,
}

/// The fields of an instance that Prometheus labels.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Instance {
    #[serde(deserialize_with = "uint64_string")]
    id: u64,
    name: Nullable<String>,
    status: Nullable<String>,
    zone: Nullable<String>,
    machine_type: Nullable<String>,
    network_interfaces: Nullable<Vec<NetworkInterface>>,
    tags: Option<Tags>,
    metadata: Option<Metadata>,
    labels: Nullable<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NetworkInterface {
    name: Nullable<String>,
    network: Nullable<String>,
    subnetwork: Nullable<String>,
    #[serde(rename = "networkIP")]
    network_ip: Nullable<String>,
    access_configs: Nullable<Vec<AccessConfig>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct AccessConfig {
    #[serde(rename = "type")]
    kind: Nullable<String>,
    #[serde(rename = "natIP")]
    nat_ip: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Tags {
    items: Nullable<Vec<String>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Metadata {
    items: Nullable<Vec<MetadataItem>>,
}

/// A metadata item; its value may be null, and such an item is not labelled.
#[derive(Default, Deserialize)]
#[serde(default)]
struct MetadataItem {
    key: Nullable<String>,
    value: Option<String>,
}

/// A `uint64` as the API writes it, in a JSON string (Go's `,string`); a number or null
/// is read too.
fn uint64_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(0),
        Some(serde_json::Value::String(s)) => s.parse().map_err(serde::de::Error::custom),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a uint64"))),
        Some(other) => Err(serde::de::Error::custom(format!("{other} is not a uint64"))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Method, Uri};
    use serde_json::{Value, json};

    use super::super::testing::{fake_api, group, json};
    use super::*;

    const EMAIL: &str = "prometheus@my-project.iam.gserviceaccount.com";
    const API: &str = "https://www.googleapis.com/compute/v1/projects/my-project";

    fn config(text: &str) -> GceSdConfig {
        let config: GceSdConfig = yaml::from_str(text).unwrap();
        config.validate().unwrap();
        config
    }

    fn query(uri: &Uri) -> HashMap<String, String> {
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    /// An instance as `instances.list` answers it, with `interfaces` as given.
    fn instance(id: &str, name: &str, status: &str, interfaces: Value) -> Value {
        json!({
            "kind": "compute#instance",
            "id": id,
            "creationTimestamp": "2023-01-10T08:00:00.000-08:00",
            "name": name,
            "machineType": format!("{API}/zones/us-central1-a/machineTypes/e2-medium"),
            "status": status,
            "zone": format!("{API}/zones/us-central1-a"),
            "canIpForward": false,
            "networkInterfaces": interfaces,
            "tags": {"fingerprint": "42WmSpB8rSM="},
            "selfLink": format!("{API}/zones/us-central1-a/instances/{name}")
        })
    }

    fn interface(name: &str, network: &str, ip: &str, access: Value) -> Value {
        json!({
            "kind": "compute#networkInterface",
            "network": format!("{API}/global/networks/{network}"),
            "subnetwork": format!("https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1/subnetworks/{network}"),
            "networkIP": ip,
            "name": name,
            "accessConfigs": access,
            "fingerprint": "ZFh1YKyRm0c=",
            "stackType": "IPV4_ONLY"
        })
    }

    /// A fake Google: the token endpoint, which checks the assertion's signature with
    /// `public` (PEM) and counts the tokens it gives, and the compute API, which lists
    /// three instances on two pages and answers 500 once `fail` is set.
    async fn google(public: String, tokens: Arc<AtomicUsize>, fail: Arc<Mutex<bool>>) -> String {
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let public = public.clone();
            let tokens = tokens.clone();
            let fail = *fail.lock().unwrap();
            async move {
                let host = headers["host"].to_str().unwrap().to_owned();
                if uri.path() == "/token" {
                    assert_eq!(method, Method::POST);
                    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
                    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                        .into_owned()
                        .collect();
                    assert_eq!(form.len(), 2);
                    assert_eq!(
                        form["grant_type"],
                        "urn:ietf:params:oauth:grant-type:jwt-bearer"
                    );
                    let mut validation =
                        jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                    validation.set_audience(&[format!("http://{host}/token")]);
                    validation.set_issuer(&[EMAIL]);
                    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
                    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
                    let Ok(assertion) =
                        jsonwebtoken::decode::<Value>(&form["assertion"], &key, &validation)
                    else {
                        return json(
                            400,
                            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                        );
                    };
                    assert_eq!(assertion.header.kid.as_deref(), Some("0e1f2a3b4c5d"));
                    let claims = assertion.claims;
                    assert_eq!(claims["scope"], SCOPE);
                    let (iat, exp) = (
                        claims["iat"].as_u64().unwrap(),
                        claims["exp"].as_u64().unwrap(),
                    );
                    assert_eq!(exp - iat, 3600);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    assert!(iat <= now - 9 && iat + 60 > now, "iat {iat}, now {now}");
                    tokens.fetch_add(1, Ordering::SeqCst);
                    return json(
                        200,
                        json!({"access_token": "ya29.c.b0Aaek", "expires_in": 3599, "token_type": "Bearer"}),
                    );
                }
                assert_eq!(method, Method::GET);
                assert_eq!(
                    uri.path(),
                    "/compute/v1/projects/my-project/zones/us-central1-a/instances"
                );
                assert_eq!(headers["authorization"], "Bearer ya29.c.b0Aaek");
                if fail {
                    return json(
                        500,
                        json!({"error": {"code": 500, "message": "Internal error. Please try again.", "errors": [{"message": "Internal error. Please try again.", "domain": "global", "reason": "backendError"}]}}),
                    );
                }
                let q = query(&uri);
                assert_eq!(
                    (q["alt"].as_str(), q["prettyPrint"].as_str()),
                    ("json", "false")
                );
                assert_eq!(q["filter"], "labels.env = \"prod\"");
                let list = |items: Value, next: Option<&str>| {
                    let mut list = json!({
                        "kind": "compute#instanceList",
                        "id": "projects/my-project/zones/us-central1-a/instances",
                        "items": items,
                        "selfLink": format!("{API}/zones/us-central1-a/instances")
                    });
                    if let Some(next) = next {
                        list["nextPageToken"] = json!(next);
                    }
                    list
                };
                match q.get("pageToken").map(String::as_str) {
                    None => {
                        assert_eq!(
                            uri.query().unwrap(),
                            "alt=json&filter=labels.env+%3D+%22prod%22&prettyPrint=false"
                        );
                        let mut node = instance(
                            "4567890123456789012",
                            "node-1",
                            "RUNNING",
                            json!([
                                interface(
                                    "nic0",
                                    "default",
                                    "10.128.0.2",
                                    json!([{
                                        "kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT", "name": "External NAT",
                                        "natIP": "34.72.1.2", "networkTier": "PREMIUM"
                                    }])
                                ),
                                interface("nic1", "monitoring-vpc", "10.10.0.5", json!([])),
                            ]),
                        );
                        node["tags"] = json!({"items": ["http-server", "monitoring"], "fingerprint": "FYLDgkTKlA4="});
                        node["metadata"] = json!({"kind": "compute#metadata", "fingerprint": "IAmXmTvT9Kk=", "items": [
                            {"key": "startup-script", "value": "#! /bin/bash\necho hi"},
                            {"key": "enable-oslogin", "value": "TRUE"},
                            {"key": "unset", "value": null}
                        ]});
                        node["labels"] = json!({"env": "prod", "team-name": "sre"});
                        json(200, list(json!([node]), Some("Cg0IwfLwlAYQ8P6IvAM")))
                    }
                    Some("Cg0IwfLwlAYQ8P6IvAM") => {
                        let mut stopped = instance(
                            "781234",
                            "batch-2",
                            "TERMINATED",
                            json!([interface(
                                "nic0",
                                "default",
                                "10.128.0.3",
                                json!([{"type": "DIRECT_IPV6", "name": "v6"}])
                            )]),
                        );
                        stopped["metadata"] =
                            json!({"kind": "compute#metadata", "fingerprint": "x"});
                        let bare = instance("9", "no-network-3", "PROVISIONING", json!([]));
                        json(200, list(json!([stopped, bare]), None))
                    }
                    Some(other) => panic!("page token {other} was not offered"),
                }
            }
        };
        fake_api(axum::Router::new().fallback(handler)).await
    }

    /// A new RSA key: its private half (PKCS#8 PEM, as Google issues keys) and public half.
    fn rsa_key() -> (String, String) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        (key.serialize_pem(), key.public_key_pem())
    }

    /// Writes a service account key file of `private` for `token_uri` in `dir`.
    fn service_account(dir: &Path, private: &str, token_uri: &str) -> PathBuf {
        let file = dir.join("key.json");
        let body = json!({
            "type": "service_account",
            "project_id": "my-project",
            "private_key_id": "0e1f2a3b4c5d",
            "private_key": private,
            "client_email": EMAIL,
            "client_id": "113287367541289563201",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/prometheus%40my-project.iam.gserviceaccount.com"
        });
        std::fs::write(&file, body.to_string()).unwrap();
        file
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(Mutex::new(false));
        let (private, public) = rsa_key();
        let base = google(public, tokens.clone(), fail.clone()).await;
        let file = service_account(dir.path(), &private, &format!("{base}/token"));
        let env = Environment {
            credentials_file: Some(file),
            ..Environment::default()
        };
        let section = config(
            "project: my-project\nzone: us-central1-a\nfilter: 'labels.env = \"prod\"'\nport: 9100\n",
        );
        let sd = Gce::with_endpoint(0, &section, &format!("{base}/compute/v1/"), &env).unwrap();
        assert_eq!(sd.name(), "gce_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(60));
        let zone = format!("{API}/zones/us-central1-a");
        let machine = format!("{API}/zones/us-central1-a/machineTypes/e2-medium");
        let network = format!("{API}/global/networks/default");
        let subnetwork = "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1/subnetworks/default";
        let expected = vec![
            group(
                "10.128.0.2:9100",
                &[
                    ("__meta_gce_instance_id", "4567890123456789012"),
                    ("__meta_gce_instance_name", "node-1"),
                    ("__meta_gce_instance_status", "RUNNING"),
                    ("__meta_gce_interface_ipv4_nic0", "10.128.0.2"),
                    ("__meta_gce_interface_ipv4_nic1", "10.10.0.5"),
                    ("__meta_gce_label_env", "prod"),
                    ("__meta_gce_label_team_name", "sre"),
                    ("__meta_gce_machine_type", &machine),
                    ("__meta_gce_metadata_enable_oslogin", "TRUE"),
                    (
                        "__meta_gce_metadata_startup_script",
                        "#! /bin/bash\necho hi",
                    ),
                    ("__meta_gce_network", &network),
                    ("__meta_gce_private_ip", "10.128.0.2"),
                    ("__meta_gce_project", "my-project"),
                    ("__meta_gce_public_ip", "34.72.1.2"),
                    ("__meta_gce_subnetwork", subnetwork),
                    ("__meta_gce_tags", ",http-server,monitoring,"),
                    ("__meta_gce_zone", &zone),
                ],
            ),
            group(
                "10.128.0.3:9100",
                &[
                    ("__meta_gce_instance_id", "781234"),
                    ("__meta_gce_instance_name", "batch-2"),
                    ("__meta_gce_instance_status", "TERMINATED"),
                    ("__meta_gce_interface_ipv4_nic0", "10.128.0.3"),
                    ("__meta_gce_machine_type", &machine),
                    ("__meta_gce_network", &network),
                    ("__meta_gce_private_ip", "10.128.0.3"),
                    ("__meta_gce_project", "my-project"),
                    ("__meta_gce_subnetwork", subnetwork),
                    ("__meta_gce_zone", &zone),
                ],
            ),
        ];
        assert_eq!(sd.refresh().await.unwrap(), expected);
        // The token is kept until it expires.
        assert_eq!(sd.refresh().await.unwrap(), expected);
        assert_eq!(tokens.load(Ordering::SeqCst), 1);

        // An assertion signed with another key is refused by the token endpoint.
        let other = tempfile::tempdir().unwrap();
        let env = Environment {
            credentials_file: Some(service_account(
                other.path(),
                &rsa_key().0,
                &format!("{base}/token"),
            )),
            ..Environment::default()
        };
        let forged = Gce::with_endpoint(0, &section, &format!("{base}/compute/v1/"), &env).unwrap();
        let e = forged.refresh().await.unwrap_err();
        assert!(
            e.contains(&format!("{base}/token"))
                && e.contains("400")
                && e.contains("Invalid JWT Signature"),
            "{e}"
        );
        assert_eq!(tokens.load(Ordering::SeqCst), 1);

        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with("error retrieving refresh targets from gce: ")
                && e.contains(&format!(
                    "{base}/compute/v1/projects/my-project/zones/us-central1-a/instances?alt=json"
                ))
                && e.contains("500"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn on_gce_the_metadata_server_gives_the_token() {
        let handler = |uri: Uri, headers: HeaderMap| async move {
            match uri.path() {
                "/computeMetadata/v1/instance/service-accounts/default/token" => {
                    assert_eq!(headers["metadata-flavor"], "Google");
                    assert_eq!(
                        uri.query(),
                        Some("scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcompute.readonly")
                    );
                    json(
                        200,
                        json!({"access_token": "ya29.metadata", "expires_in": 3599, "token_type": "Bearer"}),
                    )
                }
                "/compute/v1/projects/p-1/zones/europe-west1-b/instances" => {
                    assert_eq!(headers["authorization"], "Bearer ya29.metadata");
                    assert_eq!(uri.query(), Some("alt=json&prettyPrint=false"));
                    let mut node = instance(
                        "1",
                        "web",
                        "RUNNING",
                        json!([interface(
                            "nic0",
                            "default",
                            "10.132.0.9",
                            json!([{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}])
                        )]),
                    );
                    node["tags"] = json!({"items": ["web"]});
                    json(
                        200,
                        json!({"kind": "compute#instanceList", "items": [node]}),
                    )
                }
                _ => panic!("unexpected request {uri}"),
            }
        };
        let base = fake_api(axum::Router::new().fallback(handler)).await;
        let home = tempfile::tempdir().unwrap();
        let env = Environment {
            credentials_file: None,
            home: Some(home.path().to_owned()),
            metadata_host: Some(base.trim_start_matches("http://").to_owned()),
        };
        let section = config("project: p-1\nzone: europe-west1-b\ntag_separator: '|'\n");
        let sd = Gce::with_endpoint(0, &section, &format!("{base}/compute/v1"), &env).unwrap();
        let zone = format!("{API}/zones/us-central1-a");
        let machine = format!("{API}/zones/us-central1-a/machineTypes/e2-medium");
        let network = format!("{API}/global/networks/default");
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![group(
                "10.132.0.9:80",
                &[
                    ("__meta_gce_instance_id", "1"),
                    ("__meta_gce_instance_name", "web"),
                    ("__meta_gce_instance_status", "RUNNING"),
                    ("__meta_gce_interface_ipv4_nic0", "10.132.0.9"),
                    ("__meta_gce_machine_type", &machine),
                    ("__meta_gce_network", &network),
                    ("__meta_gce_private_ip", "10.132.0.9"),
                    ("__meta_gce_project", "p-1"),
                    // A one-to-one NAT without an address yet is labelled empty.
                    ("__meta_gce_public_ip", ""),
                    (
                        "__meta_gce_subnetwork",
                        "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1/subnetworks/default"
                    ),
                    ("__meta_gce_tags", "|web|"),
                    ("__meta_gce_zone", &zone),
                ],
            )]
        );
    }

    #[tokio::test]
    async fn without_credentials_or_metadata_server_the_refresh_says_so() {
        // A loopback port nothing listens on any more.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let home = tempfile::tempdir().unwrap();
        let env = Environment {
            credentials_file: None,
            home: Some(home.path().to_owned()),
            metadata_host: Some(closed.to_string()),
        };
        let sd = Gce::with_endpoint(
            0,
            &config("project: p\nzone: z\n"),
            "http://127.0.0.1:1/",
            &env,
        )
        .unwrap();
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.contains("google: could not find default credentials")
                && e.contains("application_default_credentials.json does not exist")
                && e.contains(&format!(
                    "http://{closed}/computeMetadata/v1/instance/service-accounts/default/token"
                ))
                && e.contains(ADC_DOCS),
            "{e}"
        );
    }

    #[tokio::test]
    async fn gcloud_user_credentials_are_read_from_the_well_known_file() {
        let handler = |method: Method, uri: Uri, headers: HeaderMap, body: String| async move {
            match (method, uri.path()) {
                (Method::POST, "/token") => {
                    assert_eq!(
                        body,
                        "client_id=764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com&client_secret=d-FL95Q19q7MQmFpd7hHD0Ty&grant_type=refresh_token&refresh_token=1%2F%2F0gLbr8nQ"
                    );
                    json(
                        200,
                        json!({"access_token": "ya29.user", "expires_in": 3599, "scope": "https://www.googleapis.com/auth/cloud-platform", "token_type": "Bearer"}),
                    )
                }
                (Method::GET, "/compute/v1/projects/p/zones/z/instances") => {
                    assert_eq!(headers["authorization"], "Bearer ya29.user");
                    json(200, json!({"kind": "compute#instanceList"}))
                }
                _ => panic!("unexpected request {uri}"),
            }
        };
        let base = fake_api(axum::Router::new().fallback(handler)).await;
        let home = tempfile::tempdir().unwrap();
        let gcloud = home.path().join(".config/gcloud");
        std::fs::create_dir_all(&gcloud).unwrap();
        std::fs::write(
            gcloud.join("application_default_credentials.json"),
            json!({
                "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty",
                "refresh_token": "1//0gLbr8nQ",
                "token_uri": format!("{base}/token"),
                "type": "authorized_user"
            })
            .to_string(),
        )
        .unwrap();
        let env = Environment {
            home: Some(home.path().to_owned()),
            ..Environment::default()
        };
        let sd = Gce::with_endpoint(
            0,
            &config("project: p\nzone: z\n"),
            &format!("{base}/compute/v1/"),
            &env,
        )
        .unwrap();
        assert_eq!(sd.refresh().await.unwrap(), vec![]);
    }

    #[test]
    fn a_credentials_file_that_cannot_be_used_stops_the_discoverer() {
        let dir = tempfile::tempdir().unwrap();
        let section = config("project: p\nzone: z\n");
        let made = |contents: Option<&str>| {
            let file = dir.path().join("credentials.json");
            if let Some(contents) = contents {
                std::fs::write(&file, contents).unwrap();
            }
            let env = Environment {
                credentials_file: Some(file),
                ..Environment::default()
            };
            Gce::with_endpoint(0, &section, COMPUTE_ENDPOINT, &env)
                .err()
                .unwrap()
        };
        let e = made(None);
        assert!(e.starts_with("error setting up communication with GCE service: google: error getting credentials using GOOGLE_APPLICATION_CREDENTIALS environment variable: ") && e.contains("credentials.json"), "{e}");
        assert!(made(Some("{}")).ends_with("missing 'type' field in credentials"));
        assert!(
            made(Some(r#"{"type": "external_account"}"#))
                .contains("credential type \"external_account\" is not supported")
        );
        assert!(
            made(Some(
                r#"{"type": "service_account", "private_key": "nope"}"#
            ))
            .contains("private key should be a PEM")
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults_and_checks() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: gce\n    gce_sd_configs:\n      - project: my-project\n        zone: us-central1-a\n",
            "p.yml",
        )
        .unwrap();
        let discovery = &c.scrape_configs[0].discovery;
        let sd = &discovery.gce_sd_configs[0];
        assert_eq!(
            (
                sd.filter.as_str(),
                sd.refresh_interval,
                sd.port,
                sd.tag_separator.as_str()
            ),
            ("", Duration(60_000), 80, ",")
        );
        assert!(discovery.is_dynamic());
        for (section, error) in [
            (
                "zone: z",
                "gce_sd_configs[0]: GCE SD configuration requires a project",
            ),
            (
                "project: p",
                "gce_sd_configs[0]: GCE SD configuration requires a zone",
            ),
            (
                "project: p\n        zone: z\n        basic_auth: {username: u}",
                "basic_auth",
            ),
        ] {
            let e = crate::Config::parse(
                &format!(
                    "scrape_configs:\n  - job_name: gce\n    gce_sd_configs:\n      - {section}\n"
                ),
                "p.yml",
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(error), "{e}");
        }
    }
}
