//! Calling AWS as the AWS SDK for Go (v1) does, which Prometheus 2.42 and Alertmanager
//! 0.25 use: finding the region and credentials as the SDK's session finds them, assuming
//! a role through STS, and signing with Signature Version 4 (the `aws-sigv4` crate).
//!
//! An AWS API call is a `POST` of a form (the query protocol: EC2, STS, SNS) or of JSON
//! (the JSON 1.1 protocol: Lightsail), signed for the service and region with the
//! credentials found, sent to the configured endpoint or the service's regional one, and
//! retried as the SDK's default retryer retries ([`Aws`], [`Call`]). A request made
//! elsewhere can be signed as it is ([`Signer`], for `remote_write.sigv4`). Its users: EC2
//! and Lightsail discovery (the `scrape` crate), remote write (`remote`) and Amazon SNS
//! notifications (`alerting`).
//!
//! Architecture Invariant: this crate depends on no Skywatch crate but `httpclient`, so
//! that scraping, remote write and alerting can all call AWS without depending on each
//! other.
//!
//! ```
//! // Go's `url.Values.Encode`: keys sorted, a space `+`, `*` escaped, `~` not.
//! let call = aws::Call::query("Publish", "2010-03-31", vec![("Message".into(), "a b*~")]);
//! assert_eq!(call.body(), b"Action=Publish&Message=a+b%2A~&Version=2010-03-31");
//! ```
//!
//! The region is the caller's (`region` of a section). Without one, discovery reads
//! `AWS_REGION` and then asks the EC2 instance metadata service (IMDS) when it first
//! refreshes (Prometheus asks IMDS when it loads the configuration and refuses the
//! configuration if that fails; Skywatch lets it load, and the discovery fails, saying
//! why, until a region is found); remote write and SNS read `AWS_REGION` only, as the
//! SDK's session does.
//!
//! Credentials, in the SDK's order:
//! 1. the section's `access_key` and `secret_key`;
//! 2. with the section's `profile`, that profile of the shared credentials file;
//! 3. `AWS_ACCESS_KEY_ID` (or `AWS_ACCESS_KEY`), `AWS_SECRET_ACCESS_KEY` (or
//!    `AWS_SECRET_KEY`) and `AWS_SESSION_TOKEN`;
//! 4. the profile `AWS_PROFILE` names (else `default`) of the shared credentials file
//!    (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`);
//! 5. the ECS container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
//!    `_FULL_URI`), else the instance profile's credentials from IMDS (v2 token, falling
//!    back to v1);
//!
//! and with `role_arn`, those credentials assume the role through STS (`AssumeRole`, 15
//! minutes, at the section's `endpoint` when it has one, as the SDK's session sends every
//! service there). Not done: web identity tokens (`AWS_WEB_IDENTITY_TOKEN_FILE`, refused
//! with a message), profiles of `~/.aws/config` (`AWS_SDK_LOAD_CONFIG`) and profiles that
//! assume roles, SSO or run a credential process (refused with a message), FIPS and
//! dual-stack endpoints.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Deserialize;

use httpclient::HttpClientConfig;

/// How many times the SDK's default retryer tries a call again.
const MAX_RETRIES: u32 = 3;
/// The SDK's shortest wait before a retry; it doubles with each one.
const RETRY_DELAY: Duration = Duration::from_millis(30);
/// Where IMDS answers unless `AWS_EC2_METADATA_SERVICE_ENDPOINT` says otherwise.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Where ECS answers a relative container credentials URI.
const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// How long the SDK waits for IMDS.
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long an assumed role's credentials last, as the SDK asks for them (15 minutes);
/// they are used for 10, so that a refresh never signs with credentials about to expire.
const ASSUME_ROLE_SECONDS: u64 = 900;
const ASSUMED_ROLE_REUSE: Duration = Duration::from_secs(600);

/// The process environment as the AWS SDK reads it, taken when a client is made (a test
/// gives its own, `Environment::from([("AWS_REGION", "eu-west-1")])`).
#[derive(Debug, Clone, Default)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    /// The `AWS_*` variables and `HOME` of this process.
    pub fn of_process() -> Self {
        Self(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_") || k == "HOME")
                .collect(),
        )
    }

    /// A variable's value, unless it is unset or empty (as the SDK reads them).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The region of a section that has `configured` (empty if none): that one, else
    /// `AWS_REGION`'s, as the SDK's session finds it (without asking IMDS).
    pub fn region(&self, configured: &str) -> Option<String> {
        match configured {
            "" => self.get("AWS_REGION").map(str::to_owned),
            region => Some(region.to_owned()),
        }
    }

    /// The first of `keys` that is set.
    fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Environment {
    fn from(vars: [(&str, &str); N]) -> Self {
        Self(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

/// A section's AWS settings, as EC2 and Lightsail discovery, `remote_write.sigv4` and
/// `sns_configs` have them (the last two without `endpoint`). Empty is unset.
#[derive(Clone, Default)]
pub struct Settings {
    /// `region`.
    pub region: String,
    /// `endpoint`: where the service and STS are called (default: their regional ones).
    pub endpoint: String,
    /// `access_key`.
    pub access_key: String,
    /// `secret_key`.
    pub secret_key: String,
    /// `profile`.
    pub profile: String,
    /// `role_arn`.
    pub role_arn: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &if self.secret_key.is_empty() {
                    ""
                } else {
                    "<secret>"
                },
            )
            .field("profile", &self.profile)
            .field("role_arn", &self.role_arn)
            .finish()
    }
}

/// A request to an AWS API: its protocol's headers and body. Every call is a `POST` to
/// the endpoint's path (`/` mostly).
pub struct Call {
    /// What the error messages call it (`DescribeInstances`).
    pub operation: &'static str,
    content_type: &'static str,
    target: Option<String>,
    body: Vec<u8>,
}

impl Call {
    /// A call of the query protocol (EC2, STS, SNS): `Action`, `Version` and `params` as
    /// a form, its keys sorted and its values escaped as Go's `url.Values.Encode` writes
    /// them. A value is bytes, as a Go string is: it need not be UTF-8.
    pub fn query<V: AsRef<[u8]>>(
        operation: &'static str,
        version: &str,
        params: impl IntoIterator<Item = (String, V)>,
    ) -> Self {
        let mut form: Vec<(String, Vec<u8>)> = params
            .into_iter()
            .map(|(k, v)| (k, v.as_ref().to_vec()))
            .collect();
        form.push(("Action".into(), operation.as_bytes().to_vec()));
        form.push(("Version".into(), version.as_bytes().to_vec()));
        form.sort_by(|a, b| a.0.cmp(&b.0));
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k.as_bytes()), query_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        Self {
            operation,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            target: None,
            body: body.into_bytes(),
        }
    }

    /// A call of the JSON 1.1 protocol: `X-Amz-Target` names the operation, the body is
    /// its input (`{}` for none).
    pub fn json(operation: &'static str, target_prefix: &str, input: &str) -> Self {
        Self {
            operation,
            content_type: "application/x-amz-json-1.1",
            target: Some(format!("{target_prefix}.{operation}")),
            body: input.as_bytes().to_vec(),
        }
    }

    /// The body, as sent.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// Escapes `s` as Go's `url.QueryEscape` does: letters, digits and `-_.~` stay, a space
/// is `+`, every other byte is `%XX`.
fn query_escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A failed call: where it went and what failed, with the service's error code when it
/// answered one.
#[derive(Debug)]
pub struct CallError {
    /// The service's error code (`AuthFailure`), empty when it gave none.
    code: String,
    message: String,
}

impl CallError {
    /// The service's error code (`AuthFailure`), empty when it answered none.
    pub fn code(&self) -> &str {
        &self.code
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for CallError {
    fn from(message: String) -> Self {
        Self {
            code: String::new(),
            message,
        }
    }
}

/// Where credentials come from once found: fixed ones are kept until the service refuses
/// them; those of a container endpoint or IMDS are asked for at each refresh (they rotate).
#[derive(Clone)]
enum Source {
    Fixed(Credentials),
    Container { url: String, token: Option<String> },
    InstanceProfile,
}

/// What a discovery keeps between refreshes.
#[derive(Default)]
struct State {
    /// The region found without the section's (`AWS_REGION` or IMDS).
    region: Option<String>,
    /// Where credentials come from, once found.
    source: Option<Source>,
    /// The role's credentials and when they were had.
    assumed: Option<(Credentials, Instant)>,
}

/// The region, endpoint and credentials one refresh calls with.
pub struct Session {
    /// The region: the section's, `AWS_REGION`'s or IMDS's.
    pub region: String,
    /// The API's base URL.
    pub endpoint: String,
    credentials: Credentials,
}

impl Session {
    /// The URL every call is posted to, as errors name it.
    pub fn url(&self) -> String {
        format!("{}/", self.endpoint)
    }
}

/// An AWS API client for one section (a discovery, an SNS integration): the service, the
/// section's settings and HTTP client, and what it has found so far (the region, where
/// credentials come from, an assumed role's credentials).
pub struct Aws {
    /// The signing name and endpoint prefix (`ec2`, `lightsail`, `sns`).
    service: &'static str,
    /// How the region error names the section (`EC2`, `Lightsail`).
    kind: &'static str,
    settings: Settings,
    /// The section's HTTP client: its TLS, proxy and redirect settings. Its
    /// `authorization` and `basic_auth` are never sent, as the SDK's signature takes the
    /// `Authorization` header before Prometheus's client would set it.
    client: reqwest::Client,
    /// Each call's deadline (for discovery, the refresh interval, as for the other
    /// providers); at least a second.
    timeout: Duration,
    /// IMDS and the container endpoint are asked without the section's proxy or TLS.
    local: reqwest::Client,
    env: Environment,
    state: Mutex<State>,
}

impl fmt::Debug for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aws")
            .field("service", &self.service)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Aws {
    /// A client of `service` (its signing name and endpoint prefix; `kind` names it in
    /// errors) with a section's `settings`, calling through the client `http` makes, each
    /// call within `timeout`; `env` is the environment the SDK would read.
    pub fn new(
        (service, kind): (&'static str, &'static str),
        settings: Settings,
        (http, timeout): (&HttpClientConfig, Duration),
        env: Environment,
    ) -> Result<Self, String> {
        let local = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            service,
            kind,
            settings,
            client: http.client()?,
            timeout: timeout.max(Duration::from_secs(1)),
            local,
            env,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the state half-written: each
        // field is replaced whole.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets the credentials, so that the next refresh finds them again.
    fn forget_credentials(&self) {
        let mut state = self.state();
        state.source = None;
        state.assumed = None;
    }

    /// The region, endpoint and credentials to call with now.
    pub async fn session(&self) -> Result<Session, String> {
        let region = self.region().await?;
        let endpoint = endpoint(&self.settings.endpoint, self.service, &region);
        let credentials = self.credentials(&region).await?;
        Ok(Session {
            region,
            endpoint,
            credentials,
        })
    }

    /// The section's region, else `AWS_REGION`, else the instance's, from IMDS.
    async fn region(&self) -> Result<String, String> {
        if !self.settings.region.is_empty() {
            return Ok(self.settings.region.clone());
        }
        if let Some(region) = self.state().region.clone() {
            return Ok(region);
        }
        let region = match self.env.get("AWS_REGION") {
            Some(region) => region.to_owned(),
            None => {
                let document = self
                    .imds("dynamic/instance-identity/document")
                    .await
                    .map_err(|e| {
                        format!(
                            "{} SD configuration requires a region (none is set, nor AWS_REGION, and the instance metadata service did not say: {e})",
                            self.kind
                        )
                    })?;
                #[derive(Deserialize)]
                struct Identity {
                    #[serde(default)]
                    region: String,
                }
                match serde_json::from_str::<Identity>(&document) {
                    Ok(Identity { region }) if !region.is_empty() => region,
                    _ => {
                        return Err(format!(
                            "{} SD configuration requires a region (none is set, nor AWS_REGION, and the instance identity document names none)",
                            self.kind
                        ));
                    }
                }
            }
        };
        self.state().region = Some(region.clone());
        Ok(region)
    }

    /// The credentials to sign with now.
    async fn credentials(&self, region: &str) -> Result<Credentials, String> {
        if self.settings.role_arn.is_empty() {
            return self.source_credentials().await;
        }
        if let Some((credentials, at)) = self.state().assumed.clone()
            && at.elapsed() < ASSUMED_ROLE_REUSE
        {
            return Ok(credentials);
        }
        let source = self.source_credentials().await?;
        let credentials = self.assume_role(region, source).await?;
        self.state().assumed = Some((credentials.clone(), Instant::now()));
        Ok(credentials)
    }

    /// The credentials of the chain, before any role is assumed.
    async fn source_credentials(&self) -> Result<Credentials, String> {
        let known = self.state().source.clone();
        let source = match known {
            Some(source) => source,
            None => {
                let source = self.find_source()?;
                self.state().source = Some(source.clone());
                source
            }
        };
        match source {
            Source::Fixed(credentials) => Ok(credentials),
            Source::Container { url, token } => self.container_credentials(&url, token).await,
            Source::InstanceProfile => self.instance_profile_credentials().await,
        }
    }

    /// Where the credentials come from, in the SDK's order.
    fn find_source(&self) -> Result<Source, String> {
        let s = &self.settings;
        if !s.access_key.is_empty() || !s.secret_key.is_empty() {
            if s.access_key.is_empty() || s.secret_key.is_empty() {
                return Err("EmptyStaticCreds: static credentials are empty (set both access_key and secret_key)".into());
            }
            return Ok(Source::Fixed(credentials(
                &s.access_key,
                &s.secret_key,
                None,
            )));
        }
        let env = &self.env;
        if s.profile.is_empty() {
            let id = env.first(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]);
            let secret = env.first(&["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"]);
            if let (Some(id), Some(secret)) = (id, secret) {
                let token = env.get("AWS_SESSION_TOKEN").map(str::to_owned);
                return Ok(Source::Fixed(credentials(id, secret, token)));
            }
            if env.get("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
                return Err("AWS_WEB_IDENTITY_TOKEN_FILE is set: web identity credentials are not supported by Skywatch yet; give access_key and secret_key, a profile, or an instance role".into());
            }
        }
        let (profile, explicit) = match (s.profile.as_str(), env.get("AWS_PROFILE")) {
            ("", None) => ("default", false),
            ("", Some(p)) => (p, true),
            (p, _) => (p, true),
        };
        let file = self.credentials_file();
        if let Some(section) = read_profile(file.as_ref(), profile) {
            let id = section.get("aws_access_key_id").filter(|v| !v.is_empty());
            let secret = section
                .get("aws_secret_access_key")
                .filter(|v| !v.is_empty());
            if let (Some(id), Some(secret)) = (id, secret) {
                let token = section.get("aws_session_token").cloned();
                return Ok(Source::Fixed(credentials(id, secret, token)));
            }
            if let Some(key) = [
                "role_arn",
                "source_profile",
                "credential_source",
                "credential_process",
                "sso_start_url",
                "sso_session",
                "web_identity_token_file",
            ]
            .into_iter()
            .find(|k| section.contains_key(*k))
            {
                return Err(format!(
                    "profile {profile:?} uses {key}, which Skywatch does not support yet; give the profile aws_access_key_id and aws_secret_access_key, or use role_arn in the section"
                ));
            }
        } else if explicit {
            let file = file.map(|f| f.display().to_string()).unwrap_or_default();
            return Err(format!(
                "could not create aws session: SharedConfigProfileNotExistsError: failed to get profile {profile:?} from {file:?}"
            ));
        }
        if let Some(relative) = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            return Ok(Source::Container {
                url: format!("{ECS_ENDPOINT}{relative}"),
                token: None,
            });
        }
        if let Some(full) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            return Ok(Source::Container {
                url: full.to_owned(),
                token: env
                    .get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                    .map(str::to_owned),
            });
        }
        Ok(Source::InstanceProfile)
    }

    /// The shared credentials file.
    fn credentials_file(&self) -> Option<PathBuf> {
        match self.env.get("AWS_SHARED_CREDENTIALS_FILE") {
            Some(file) => Some(file.into()),
            None => self
                .env
                .get("HOME")
                .map(|home| PathBuf::from(home).join(".aws").join("credentials")),
        }
    }

    /// Credentials from the ECS container endpoint.
    async fn container_credentials(
        &self,
        url: &str,
        token: Option<String>,
    ) -> Result<Credentials, String> {
        let mut request = self.local.get(url).timeout(Duration::from_secs(5));
        if let Some(token) = token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let body = local_text(request, url).await?;
        role_credentials(&body).map_err(|e| format!("{url}: {e}"))
    }

    /// The instance profile's credentials, from IMDS.
    async fn instance_profile_credentials(&self) -> Result<Credentials, String> {
        let why = |e: String| {
            format!(
                "NoCredentialProviders: no valid providers in chain (no keys in the section, environment or shared credentials file; the instance metadata service: {e})"
            )
        };
        let roles = self
            .imds("meta-data/iam/security-credentials/")
            .await
            .map_err(why)?;
        let role = roles.lines().next().unwrap_or_default().trim();
        if role.is_empty() {
            return Err(why("no instance role".into()));
        }
        let body = self
            .imds(&format!("meta-data/iam/security-credentials/{role}"))
            .await
            .map_err(why)?;
        role_credentials(&body).map_err(why)
    }

    /// A path under `/latest/` of IMDS, asked with an IMDSv2 token when one is given
    /// (else as IMDSv1, as the SDK falls back).
    async fn imds(&self, path: &str) -> Result<String, String> {
        if self
            .env
            .get("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err("EC2 IMDS access disabled via AWS_EC2_METADATA_DISABLED".into());
        }
        let base = self
            .env
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or(IMDS_ENDPOINT)
            .trim_end_matches('/');
        let token_url = format!("{base}/latest/api/token");
        let token = self
            .local
            .put(&token_url)
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
            .timeout(IMDS_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("{token_url}: {e}"))?;
        let token = match token.status().is_success() {
            true => token.text().await.ok(),
            false => None,
        };
        let url = format!("{base}/latest/{path}");
        let mut request = self.local.get(&url).timeout(IMDS_TIMEOUT);
        if let Some(token) = token {
            request = request.header("x-aws-ec2-metadata-token", token);
        }
        local_text(request, &url).await
    }

    /// Assumes `role_arn` with `source`, as the SDK's `stscreds` provider does.
    async fn assume_role(&self, region: &str, source: Credentials) -> Result<Credentials, String> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let call = Call::query(
            "AssumeRole",
            "2011-06-15",
            vec![
                ("RoleArn".into(), self.settings.role_arn.clone()),
                ("RoleSessionName".into(), nanos.to_string()),
                ("DurationSeconds".into(), ASSUME_ROLE_SECONDS.to_string()),
            ],
        );
        let session = Session {
            region: region.to_owned(),
            endpoint: endpoint(&self.settings.endpoint, "sts", region),
            credentials: source,
        };
        let body = self
            .send("sts", &session.url(), &session, &call)
            .await
            .map_err(|e| format!("could not assume role {:?}: {e}", self.settings.role_arn))?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            assume_role_result: AssumeRoleResult,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct AssumeRoleResult {
            credentials: RoleCredentials,
        }
        let answer: Response = read_xml(&body, &session.url())?;
        let c = answer.assume_role_result.credentials;
        Ok(credentials(&c.access_key_id, &c.secret_access_key, c.token))
    }

    /// Calls the service at the session's endpoint.
    pub async fn call(&self, session: &Session, call: &Call) -> Result<Vec<u8>, CallError> {
        self.send(self.service, &session.url(), session, call).await
    }

    /// Calls the service at `url` (an endpoint given per call, such as SNS's templated
    /// `api_url`), signed for the session's region.
    pub async fn call_at(
        &self,
        url: &str,
        session: &Session,
        call: &Call,
    ) -> Result<Vec<u8>, CallError> {
        self.send(self.service, url, session, call).await
    }

    /// Calls the discovery's service for its instances. Credentials it refuses
    /// (`AuthFailure`, `UnauthorizedOperation`) are forgotten, to be found again at the
    /// next refresh, as Prometheus then makes its client anew.
    pub async fn list(&self, session: &Session, call: &Call) -> Result<Vec<u8>, CallError> {
        let answer = self.call(session, call).await;
        if let Err(e) = &answer
            && matches!(e.code.as_str(), "AuthFailure" | "UnauthorizedOperation")
        {
            self.forget_credentials();
        }
        answer
    }

    /// Signs and sends `call` to `service`, retrying as the SDK's default retryer does:
    /// up to three more times after a failure to connect, a 5xx status or throttling,
    /// waiting 30ms, 60ms, 120ms.
    async fn send(
        &self,
        service: &str,
        url: &str,
        session: &Session,
        call: &Call,
    ) -> Result<Vec<u8>, CallError> {
        let mut retries = 0;
        loop {
            let result = self.send_once(service, session, call, url).await;
            match result {
                Err((e, true)) if retries < MAX_RETRIES => {
                    tokio::time::sleep(RETRY_DELAY * 2u32.pow(retries)).await;
                    retries += 1;
                    tracing::debug!(url, error = %e, retries, "retrying an AWS call");
                }
                Err((e, _)) => return Err(e),
                Ok(body) => return Ok(body),
            }
        }
    }

    /// One attempt; an error says whether to retry.
    async fn send_once(
        &self,
        service: &str,
        session: &Session,
        call: &Call,
        url: &str,
    ) -> Result<Vec<u8>, (CallError, bool)> {
        let mut headers = vec![
            ("content-length", call.body.len().to_string()),
            ("content-type", call.content_type.to_owned()),
        ];
        if let Some(target) = &call.target {
            headers.push(("x-amz-target", target.clone()));
        }
        let signed = signature_headers(
            &session.credentials,
            &session.region,
            service,
            ("POST", url),
            &headers,
            &call.body,
            SystemTime::now(),
        )
        .map_err(|e| (CallError::from(format!("{url}: {e}")), false))?;
        let mut request = self
            .client
            .post(url)
            .timeout(self.timeout)
            .body(call.body.clone());
        // reqwest writes the content-length it signed itself.
        for (name, value) in headers.iter().filter(|(n, _)| *n != "content-length") {
            request = request.header(*name, value);
        }
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| (CallError::from(format!("{url}: {e}")), true))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| (CallError::from(format!("{url}: {e}")), true))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let (code, message) = service_error(&body);
        let throttled = status.as_u16() == 429
            || matches!(
                code.as_str(),
                "Throttling"
                    | "ThrottlingException"
                    | "ThrottledException"
                    | "RequestThrottledException"
                    | "TooManyRequestsException"
                    | "ProvisionedThroughputExceededException"
                    | "TransactionInProgressException"
                    | "RequestLimitExceeded"
                    | "BandwidthLimitExceeded"
                    | "LimitExceededException"
                    | "RequestThrottled"
                    | "SlowDown"
                    | "PriorRequestNotComplete"
                    | "EC2ThrottledException"
            );
        let retry = throttled || status.is_server_error();
        let text = match (code.is_empty(), message.is_empty()) {
            (true, _) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                format!(
                    "{url}: {} failed: HTTP status {status}: {}",
                    call.operation,
                    text.trim()
                )
            }
            (false, true) => format!(
                "{url}: {} failed: {code} (HTTP status {status})",
                call.operation
            ),
            (false, false) => format!(
                "{url}: {} failed: {code}: {message} (HTTP status {status})",
                call.operation
            ),
        };
        Err((
            CallError {
                code,
                message: text,
            },
            retry,
        ))
    }
}

/// Signs requests made elsewhere, as prometheus/common's sigv4 round tripper does for
/// remote write to Amazon Managed Service for Prometheus (service `aps`): the method, URL, headers and body of
/// each request, with the configuration's keys, else the credential chain above (its
/// `profile`), and with `role_arn`, an assumed role's.
///
/// The region is the section's, else `AWS_REGION`'s; without either the destination is
/// refused, as Prometheus refuses it (it does not ask the instance metadata service).
/// Credentials are found at the first request rather than when the configuration is
/// loaded, so a configuration without any loads and its requests fail, saying why.
pub struct Signer {
    aws: Aws,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("region", &self.aws.settings.region)
            .finish_non_exhaustive()
    }
}

/// The headers Prometheus leaves unsigned, as a proxy or tracer may change them; and those
/// the signature itself sets.
const UNSIGNED: &[&str] = &["uber-trace-id", "authorization", "user-agent"];

impl Signer {
    /// A signer for `service` (`aps`) with a `sigv4` section's `settings` (its `endpoint`
    /// unused: STS is asked at the region's); `http` is the destination's client settings,
    /// through which STS is asked for a role's credentials, each call within `timeout`.
    pub fn new(
        service: &'static str,
        mut settings: Settings,
        http: &HttpClientConfig,
        timeout: Duration,
    ) -> Result<Self, String> {
        let env = Environment::of_process();
        settings.region = env.region(&settings.region).ok_or(
            "sigv4: region not configured in sigv4 or in default credentials chain (set sigv4.region or AWS_REGION)",
        )?;
        settings.endpoint.clear();
        Ok(Self {
            aws: Aws::new((service, "SigV4"), settings, (http, timeout), env)?,
        })
    }

    /// Signs `request`: adds `authorization`, `x-amz-date` and, with temporary
    /// credentials, `x-amz-security-token`. Every header it has is signed but those
    /// [`UNSIGNED`]; `content-length` is signed as the body's length, which the client sends.
    pub async fn sign(&self, request: &mut reqwest::Request) -> Result<(), String> {
        let session = self
            .aws
            .session()
            .await
            .map_err(|e| format!("could not get SigV4 credentials: {e}"))?;
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        let mut headers: Vec<(&str, String)> = request
            .headers()
            .iter()
            .filter(|(name, _)| !UNSIGNED.contains(&name.as_str()))
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?.to_owned())))
            .collect();
        if !body.is_empty() && !headers.iter().any(|(n, _)| *n == "content-length") {
            headers.push(("content-length", body.len().to_string()));
        }
        let signed = signature_headers(
            &session.credentials,
            &session.region,
            self.aws.service,
            (request.method().as_str(), request.url().as_str()),
            &headers,
            body,
            SystemTime::now(),
        )?;
        for (name, value) in signed {
            let value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|e| format!("cannot sign the request: {e}"))?;
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

/// The API's base URL: `configured` (given `https://` when it has no scheme, as the SDK
/// does), else the service's regional endpoint.
pub fn endpoint(configured: &str, service: &str, region: &str) -> String {
    let url = if configured.is_empty() {
        let domain = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{service}.{region}.{domain}")
    } else if configured.contains("://") {
        configured.to_owned()
    } else {
        format!("https://{configured}")
    };
    url.trim_end_matches('/').to_owned()
}

fn credentials(id: &str, secret: &str, token: Option<String>) -> Credentials {
    Credentials::new(id, secret, token, None, "skywatch")
}

/// The headers that sign a `method` request of `body` to `url` with `headers` (each one
/// signed):
/// `authorization`, `x-amz-date` and, with a session token, `x-amz-security-token`.
fn signature_headers(
    credentials: &Credentials,
    region: &str,
    service: &str,
    (method, url): (&str, &str),
    headers: &[(&str, String)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, String> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

/// The error code and message of a failed call's answer: the query protocol's XML
/// (`<Errors><Error><Code>`, or `<ErrorResponse><Error><Code>`) or the JSON protocol's
/// `__type` (after any `#`) and `message`.
fn service_error(body: &[u8]) -> (String, String) {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Json {
        #[serde(rename = "__type")]
        kind: String,
        message: Option<String>,
        #[serde(rename = "Message")]
        capital_message: Option<String>,
    }
    if let Ok(json) = serde_json::from_slice::<Json>(body) {
        let code = json.kind.rsplit('#').next().unwrap_or_default().to_owned();
        let message = json.message.or(json.capital_message).unwrap_or_default();
        return (code, message);
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct Xml {
        errors: Option<Errors>,
        error: Option<Detail>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct Errors {
        error: Detail,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct Detail {
        code: String,
        message: String,
    }
    let xml = std::str::from_utf8(body)
        .ok()
        .and_then(|text| quick_xml::de::from_str::<Xml>(text).ok())
        .unwrap_or_default();
    let detail = xml
        .errors
        .map(|e| e.error)
        .or(xml.error)
        .unwrap_or_default();
    (detail.code, detail.message)
}

/// An XML answer read into `T`; an error names `url`.
pub fn read_xml<T: serde::de::DeserializeOwned>(body: &[u8], url: &str) -> Result<T, String> {
    let text =
        std::str::from_utf8(body).map_err(|e| format!("{url}: the answer is not UTF-8: {e}"))?;
    quick_xml::de::from_str(text).map_err(|e| format!("{url}: cannot read the answer: {e}"))
}

/// Temporary credentials as IMDS, ECS and STS write them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(alias = "SessionToken")]
    token: Option<String>,
}

/// The credentials of an IMDS or ECS answer.
fn role_credentials(body: &str) -> Result<Credentials, String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "Code")]
        code: Option<String>,
        #[serde(flatten)]
        credentials: RoleCredentials,
    }
    let answer: Answer =
        serde_json::from_str(body).map_err(|e| format!("cannot read the credentials: {e}"))?;
    if let Some(code) = answer.code.filter(|c| c != "Success") {
        return Err(format!("the credentials were not given: {code}"));
    }
    let c = answer.credentials;
    Ok(credentials(&c.access_key_id, &c.secret_access_key, c.token))
}

/// The body of a successful answer from IMDS or the container endpoint.
async fn local_text(request: reqwest::RequestBuilder, url: &str) -> Result<String, String> {
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP status {status}"));
    }
    response.text().await.map_err(|e| format!("{url}: {e}"))
}

/// The keys of `profile` in the shared credentials file, if the file has it (a file that
/// cannot be read is skipped, as the SDK skips it).
fn read_profile(file: Option<&PathBuf>, profile: &str) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(file?).ok()?;
    let mut found = None;
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim());
            if current == Some(profile) {
                found.get_or_insert_with(BTreeMap::new);
            }
            continue;
        }
        if current != Some(profile) {
            continue;
        }
        if let (Some((key, value)), Some(keys)) = (line.split_once('='), found.as_mut()) {
            keys.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    found
}

#[cfg(any(test, feature = "testing"))]
pub mod testing {
    //! A check of Signature Version 4 written from AWS's specification, apart from the
    //! `aws-sigv4` crate, for the fakes of AWS APIs to verify what they are sent (other
    //! crates' tests have it with the `testing` feature).

    use hmac::{Hmac, KeyInit, Mac};
    use http::HeaderMap;
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Checks that a `POST` to `path` (without a query) with `headers` and `body` is
    /// signed for `service` in `region` by `key_id` with `secret`, signing exactly
    /// `signed_headers`. Answers what is wrong, for the fake to fail the request with.
    pub fn check_signature(
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        (key_id, secret): (&str, &str),
        (region, service): (&str, &str),
        signed_headers: &str,
    ) -> Result<(), String> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(format!("no {name} header"))
        };
        let authorization = header("authorization")?;
        let amz_date = header("x-amz-date")?;
        let date = &amz_date[..8];
        let fields = authorization
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or("not AWS4-HMAC-SHA256")?;
        let mut parts = fields.split(", ");
        let credential = parts.next().and_then(|p| p.strip_prefix("Credential="));
        let signed = parts.next().and_then(|p| p.strip_prefix("SignedHeaders="));
        let signature = parts.next().and_then(|p| p.strip_prefix("Signature="));
        let scope = format!("{date}/{region}/{service}/aws4_request");
        if credential != Some(&format!("{key_id}/{scope}")) {
            return Err(format!("credential {credential:?}, not {key_id}/{scope}"));
        }
        if signed != Some(signed_headers) {
            return Err(format!("signed headers {signed:?}, not {signed_headers}"));
        }
        let mut canonical = format!("POST\n{path}\n\n");
        for name in signed_headers.split(';') {
            canonical.push_str(&format!("{name}:{}\n", header(name)?.trim()));
        }
        canonical.push_str(&format!(
            "\n{signed_headers}\n{}",
            hex(&Sha256::digest(body))
        ));
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), date);
        for part in [region, service, "aws4_request"] {
            key = hmac(&key, part);
        }
        let expected = hex(&hmac(&key, &to_sign));
        if signature != Some(expected.as_str()) {
            return Err(format!("signature {signature:?}, not {expected}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bodies_are_written_as_go_writes_url_values() {
        let call = Call::query(
            "DescribeInstances",
            "2016-11-15",
            vec![
                ("Filter.1.Name".into(), "tag:Name"),
                ("Filter.1.Value.1".into(), "web *"),
                ("NextToken".into(), "a/b+c=~"),
            ],
        );
        assert_eq!(
            String::from_utf8(call.body).unwrap(),
            "Action=DescribeInstances&Filter.1.Name=tag%3AName&Filter.1.Value.1=web+%2A&NextToken=a%2Fb%2Bc%3D~&Version=2016-11-15"
        );
        // A Go string cut inside a character (as Alertmanager cuts SNS messages) is sent
        // byte for byte.
        let cut = Call::query(
            "Publish",
            "2010-03-31",
            vec![("Message".into(), &b"x\xc3"[..])],
        );
        assert_eq!(
            cut.body(),
            b"Action=Publish&Message=x%C3&Version=2010-03-31"
        );
    }

    #[test]
    fn signatures_agree_with_the_independent_check() {
        let credentials = credentials("AKIDEXAMPLE", "secret", None);
        let body = b"Action=Publish&Version=2010-03-31";
        let headers = [
            ("content-length", body.len().to_string()),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
        ];
        let signed = signature_headers(
            &credentials,
            "eu-west-1",
            "sns",
            ("POST", "http://127.0.0.1:9/capture/"),
            &headers,
            body,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let mut map = http::HeaderMap::new();
        for (name, value) in headers.iter().map(|(n, v)| (*n, v.clone())).chain(signed) {
            map.insert(name, value.parse().unwrap());
        }
        map.insert("host", "127.0.0.1:9".parse().unwrap());
        assert_eq!(map["x-amz-date"], "20231114T221320Z");
        let check = |path, key: (&str, &str)| {
            testing::check_signature(
                path,
                &map,
                body,
                key,
                ("eu-west-1", "sns"),
                "content-length;content-type;host;x-amz-date",
            )
        };
        check("/capture/", ("AKIDEXAMPLE", "secret")).unwrap();
        assert!(check("/", ("AKIDEXAMPLE", "secret")).is_err());
        assert!(check("/capture/", ("AKIDEXAMPLE", "other")).is_err());
    }

    #[test]
    fn endpoints_are_the_sections_or_the_regions() {
        assert_eq!(
            endpoint("", "ec2", "eu-west-1"),
            "https://ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint("", "lightsail", "cn-north-1"),
            "https://lightsail.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint("ec2.local:4566", "ec2", "x"),
            "https://ec2.local:4566"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:1/", "ec2", "x"),
            "http://127.0.0.1:1"
        );
    }

    #[test]
    fn service_errors_are_read_from_either_protocol() {
        assert_eq!(
            service_error(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>b7c2b8e3</RequestID></Response>"),
            ("AuthFailure".into(), "AWS was not able to validate the provided access credentials".into())
        );
        assert_eq!(
            service_error(b"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>"),
            ("AccessDenied".into(), "not authorized".into())
        );
        assert_eq!(
            service_error(br#"{"__type":"com.amazonaws.lightsail#AccessDeniedException","code":"AccessDenied","message":"denied"}"#),
            ("AccessDeniedException".into(), "denied".into())
        );
        assert_eq!(service_error(b"oops"), (String::new(), String::new()));
    }

    #[test]
    fn profiles_are_read_from_the_shared_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n[prod]\naws_access_key_id=AKIDPROD\naws_secret_access_key=s2\naws_session_token = tok\n",
        )
        .unwrap();
        let prod = read_profile(Some(&file), "prod").unwrap();
        assert_eq!(prod["aws_access_key_id"], "AKIDPROD");
        assert_eq!(prod["aws_session_token"], "tok");
        assert!(read_profile(Some(&file), "nope").is_none());
        assert!(read_profile(Some(&dir.path().join("none")), "default").is_none());
    }
}
