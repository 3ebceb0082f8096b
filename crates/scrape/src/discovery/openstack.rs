//! `openstack_sd_configs`: Nova hypervisors (`role: hypervisor`) or the network
//! interfaces of Nova instances (`role: instance`), as Prometheus's OpenStack discovery
//! finds them with gophercloud 1.1.
//!
//! Each refresh authenticates anew, as Prometheus does: the identity endpoint's version
//! is read from its path (`…/v3`) or, without one, from the version list Keystone serves
//! at its base URL; a token is asked of Keystone v3 (`POST …/v3/auth/tokens`, by
//! password, TOTP passcode or application credential, scoped to the project or domain
//! given); the compute endpoint is the first of the token's catalog with the section's
//! region and availability. Then Nova is asked for `os-hypervisors/detail`, or for
//! `os-floating-ips` and every page of `servers/detail`. Without `identity_endpoint`,
//! the credentials come from the `OS_*` environment variables, as gophercloud's
//! `AuthOptionsFromEnv` reads them.
//!
//! Keystone v2.0 is not spoken: an identity endpoint that is (or that Keystone says is
//! best reached as) v2.0 fails each refresh, saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiClient, Nullable, Provider, Refresh, join_host_port, sanitize_label_name, target,
    tls_only_client,
};
use crate::config::{Duration, StaticConfig, TlsConfig};

/// `openstack_sd_configs`: hypervisors or instances of an OpenStack region.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenstackSdConfig {
    /// `hypervisor` or `instance`; required.
    #[serde(default)]
    pub role: Option<OpenstackRole>,
    /// The region whose compute endpoint is asked; required.
    #[serde(default)]
    pub region: String,
    /// Keystone's URL, with or without its version (`https://keystone:5000/v3`); when
    /// empty, the `OS_*` environment variables give it and the credentials.
    #[serde(default)]
    pub identity_endpoint: String,
    /// The user's name (with `domain_name` or `domain_id`).
    #[serde(default)]
    pub username: String,
    /// The user's ID.
    #[serde(default)]
    pub userid: String,
    /// The user's password.
    #[serde(default)]
    pub password: String,
    /// The domain of the user (and of the project named by `project_name`).
    #[serde(default)]
    pub domain_name: String,
    /// The domain of the user, by ID.
    #[serde(default)]
    pub domain_id: String,
    /// The project to scope the token to.
    #[serde(default)]
    pub project_name: String,
    /// The project to scope the token to, by ID.
    #[serde(default)]
    pub project_id: String,
    /// An application credential, by name (with the user).
    #[serde(default)]
    pub application_credential_name: String,
    /// An application credential, by ID.
    #[serde(default)]
    pub application_credential_id: String,
    /// The application credential's secret.
    #[serde(default)]
    pub application_credential_secret: String,
    /// List the instances of every project (`instance` role; needs admin rights).
    #[serde(default)]
    pub all_tenants: bool,
    /// How often to ask again (default 1m); also each request's deadline.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Duration,
    /// The port of the targets (default 80).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Which of the catalog's endpoints to use: `public` (default), `internal` or `admin`.
    #[serde(default = "default_availability")]
    pub availability: String,
    /// TLS settings for Keystone and Nova.
    #[serde(default)]
    pub tls_config: TlsConfig,
}

/// What OpenStack discovery finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenstackRole {
    /// Nova's hypervisors.
    Hypervisor,
    /// The network interfaces of Nova's instances.
    Instance,
}

impl<'de> Deserialize<'de> for OpenstackRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "hypervisor" => Ok(Self::Hypervisor),
            "instance" => Ok(Self::Instance),
            other => Err(serde::de::Error::custom(format!(
                "unknown OpenStack SD role {other:?}; use hypervisor or instance"
            ))),
        }
    }
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

fn default_port() -> u16 {
    80
}

fn default_availability() -> String {
    "public".into()
}

impl OpenstackSdConfig {
    /// Checks the section as Prometheus does when it reads it: an availability, a role and
    /// a region. (The credentials are checked when the token is asked for, as there.)
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !matches!(self.availability.as_str(), "public" | "internal" | "admin") {
            return Err(format!(
                "unknown availability {}, must be one of admin, internal or public",
                self.availability
            ));
        }
        if self.role.is_none() {
            return Err("role missing (one of: instance, hypervisor)".into());
        }
        if self.region.is_empty() {
            return Err("openstack SD configuration requires a region".into());
        }
        tls_only_client(&self.tls_config).check()
    }
}

/// The credentials and identity endpoint, as gophercloud's `AuthOptions` holds them.
#[derive(Debug, Clone, Default, PartialEq)]
struct AuthOptions {
    identity_endpoint: String,
    username: String,
    user_id: String,
    password: String,
    passcode: String,
    tenant_id: String,
    tenant_name: String,
    domain_id: String,
    domain_name: String,
    app_cred_id: String,
    app_cred_name: String,
    app_cred_secret: String,
}

impl AuthOptions {
    fn from_config(c: &OpenstackSdConfig) -> Self {
        Self {
            identity_endpoint: c.identity_endpoint.clone(),
            username: c.username.clone(),
            user_id: c.userid.clone(),
            password: c.password.clone(),
            passcode: String::new(),
            tenant_id: c.project_id.clone(),
            tenant_name: c.project_name.clone(),
            domain_id: c.domain_id.clone(),
            domain_name: c.domain_name.clone(),
            app_cred_id: c.application_credential_id.clone(),
            app_cred_name: c.application_credential_name.clone(),
            app_cred_secret: c.application_credential_secret.clone(),
        }
    }

    /// The options the `OS_*` variables give (`var` reads one; unset is empty), checked
    /// as gophercloud's `AuthOptionsFromEnv` checks them.
    fn from_env(var: impl Fn(&str) -> String) -> Result<Self, String> {
        let missing = |name: &str| format!("Missing environment variable [{name}]");
        let missing_one =
            |names: &str| format!("Missing one of the following environment variables [{names}]");
        let project_id = var("OS_PROJECT_ID");
        let project_name = var("OS_PROJECT_NAME");
        let o = Self {
            identity_endpoint: var("OS_AUTH_URL"),
            username: var("OS_USERNAME"),
            user_id: var("OS_USERID"),
            password: var("OS_PASSWORD"),
            passcode: var("OS_PASSCODE"),
            tenant_id: if project_id.is_empty() {
                var("OS_TENANT_ID")
            } else {
                project_id
            },
            tenant_name: if project_name.is_empty() {
                var("OS_TENANT_NAME")
            } else {
                project_name
            },
            domain_id: var("OS_DOMAIN_ID"),
            domain_name: var("OS_DOMAIN_NAME"),
            app_cred_id: var("OS_APPLICATION_CREDENTIAL_ID"),
            app_cred_name: var("OS_APPLICATION_CREDENTIAL_NAME"),
            app_cred_secret: var("OS_APPLICATION_CREDENTIAL_SECRET"),
        };
        if o.identity_endpoint.is_empty() {
            return Err(missing("OS_AUTH_URL"));
        }
        let no_user = o.user_id.is_empty() && o.username.is_empty();
        if no_user && o.app_cred_id.is_empty() && o.app_cred_secret.is_empty() {
            return Err(missing_one("OS_USERID, OS_USERNAME"));
        }
        if o.password.is_empty()
            && o.passcode.is_empty()
            && o.app_cred_id.is_empty()
            && o.app_cred_name.is_empty()
        {
            return Err(missing("OS_PASSWORD"));
        }
        if (!o.app_cred_id.is_empty() || !o.app_cred_name.is_empty())
            && o.app_cred_secret.is_empty()
        {
            return Err(missing("OS_APPLICATION_CREDENTIAL_SECRET"));
        }
        if o.domain_id.is_empty()
            && o.domain_name.is_empty()
            && o.tenant_id.is_empty()
            && !o.tenant_name.is_empty()
        {
            return Err(missing("OS_PROJECT_ID"));
        }
        if o.app_cred_id.is_empty() && !o.app_cred_name.is_empty() {
            if no_user {
                return Err(missing_one("OS_USERID, OS_USERNAME"));
            }
            if !o.username.is_empty() && o.domain_id.is_empty() && o.domain_name.is_empty() {
                return Err(missing_one("OS_DOMAIN_ID, OS_DOMAIN_NAME"));
            }
        }
        Ok(o)
    }

    /// The body of `POST /v3/auth/tokens`: the identity, and the scope when there is
    /// one, with gophercloud's rules and errors.
    fn token_request(&self) -> Result<Value, String> {
        let scope = self.scope()?;
        let user_in_domain = |secret: (&str, &str)| -> Result<Value, String> {
            let mut user = json!({ "name": self.username });
            if !self.domain_id.is_empty() {
                user["domain"] = json!({ "id": self.domain_id });
            } else if !self.domain_name.is_empty() {
                user["domain"] = json!({ "name": self.domain_name });
            } else {
                return Err(
                    "You must provide exactly one of DomainID or DomainName to authenticate by Username"
                        .into(),
                );
            }
            if !secret.1.is_empty() {
                user[secret.0] = json!(secret.1);
            }
            Ok(user)
        };
        let mut identity = serde_json::Map::new();
        if self.password.is_empty() && self.passcode.is_empty() {
            let missing_secret = || "You must provide an Application Credential Secret".to_owned();
            if !self.app_cred_id.is_empty() {
                if self.app_cred_secret.is_empty() {
                    return Err(missing_secret());
                }
                identity.insert("methods".into(), json!(["application_credential"]));
                identity.insert(
                    "application_credential".into(),
                    json!({ "id": self.app_cred_id, "secret": self.app_cred_secret }),
                );
            } else if !self.app_cred_name.is_empty() {
                if self.app_cred_secret.is_empty() {
                    return Err(missing_secret());
                }
                let user = if !self.user_id.is_empty() {
                    json!({ "id": self.user_id })
                } else if self.username.is_empty() {
                    return Err(
                        "Exactly one of Username and UserID must be provided for password authentication"
                            .into(),
                    );
                } else {
                    user_in_domain(("", ""))?
                };
                identity.insert("methods".into(), json!(["application_credential"]));
                identity.insert(
                    "application_credential".into(),
                    json!({ "name": self.app_cred_name, "user": user, "secret": self.app_cred_secret }),
                );
            } else {
                return Err("You must provide a password to authenticate".into());
            }
        } else {
            let mut methods = Vec::new();
            if !self.password.is_empty() {
                methods.push("password");
            }
            if !self.passcode.is_empty() {
                methods.push("totp");
            }
            identity.insert("methods".into(), json!(methods));
            let one_user =
                "Exactly one of Username and UserID must be provided for password authentication";
            let users: Vec<(&str, Value)> = if !self.username.is_empty() {
                if !self.user_id.is_empty() {
                    return Err(one_user.into());
                }
                if !self.domain_id.is_empty() && !self.domain_name.is_empty() {
                    return Err(
                        "You must provide exactly one of DomainID or DomainName to authenticate by Username"
                            .into(),
                    );
                }
                vec![
                    ("password", user_in_domain(("password", &self.password))?),
                    ("totp", user_in_domain(("passcode", &self.passcode))?),
                ]
            } else if !self.user_id.is_empty() {
                if !self.domain_id.is_empty() {
                    return Err(
                        "DomainID may not be provided when authenticating with a UserID".into(),
                    );
                }
                if !self.domain_name.is_empty() {
                    return Err(
                        "DomainName may not be provided when authenticating with a UserID".into(),
                    );
                }
                vec![
                    (
                        "password",
                        json!({ "id": self.user_id, "password": self.password }),
                    ),
                    (
                        "totp",
                        json!({ "id": self.user_id, "passcode": self.passcode }),
                    ),
                ]
            } else {
                return Err(one_user.into());
            };
            for (method, user) in users {
                if methods.contains(&method) {
                    identity.insert(method.into(), json!({ "user": user }));
                }
            }
        }
        let mut auth = json!({ "identity": identity });
        if let Some(scope) = scope {
            auth["scope"] = scope;
        }
        Ok(json!({ "auth": auth }))
    }

    /// The token's scope: the project (by ID, or by name in the domain), or else the
    /// domain given with a project name, as gophercloud's `ToTokenV3ScopeMap` makes it
    /// from these options.
    fn scope(&self) -> Result<Option<Value>, String> {
        let (project_id, project_name, domain_id, domain_name) = if !self.tenant_id.is_empty() {
            (self.tenant_id.as_str(), "", "", "")
        } else if !self.tenant_name.is_empty() {
            (
                "",
                self.tenant_name.as_str(),
                self.domain_id.as_str(),
                self.domain_name.as_str(),
            )
        } else {
            return Ok(None);
        };
        if !project_name.is_empty() {
            if !domain_id.is_empty() {
                return Ok(Some(
                    json!({ "project": { "name": project_name, "domain": { "id": domain_id } } }),
                ));
            }
            if !domain_name.is_empty() {
                return Ok(Some(
                    json!({ "project": { "name": project_name, "domain": { "name": domain_name } } }),
                ));
            }
            return Err(
                "You must provide exactly one of DomainID or DomainName in a Scope with ProjectName"
                    .into(),
            );
        }
        Ok(Some(json!({ "project": { "id": project_id } })))
    }
}

/// `url` with a `/` at its end, as gophercloud's `NormalizeURL` writes endpoints.
fn normalize(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// The identity service's base URL: `endpoint` without query, fragment, or anything from
/// the first version element of its path on (`v3`, `v2.0/`), as gophercloud's
/// `BaseEndpoint` cuts it.
fn identity_base(endpoint: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|e| format!("identity endpoint {endpoint:?} is not a URL: {e}"))?;
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().to_owned();
    let bytes = path.as_bytes();
    let version = (0..bytes.len()).find(|&i| {
        bytes[i] == b'v'
            && bytes
                .get(i + 1)
                .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
    });
    if let Some(at) = version {
        url.set_path(&path[..at]);
    }
    Ok(normalize(url.as_str()))
}

/// An OpenStack discoverer.
pub(super) struct Openstack {
    name: String,
    role: OpenstackRole,
    region: String,
    availability: String,
    port: u16,
    all_tenants: bool,
    interval: StdDuration,
    client: ApiClient,
    auth: AuthOptions,
    /// The identity endpoint as given, with a `/` at its end.
    identity_endpoint: String,
    /// Its base, where Keystone lists its versions.
    identity_base: String,
}

impl Openstack {
    pub(super) fn new(n: usize, config: &OpenstackSdConfig) -> Result<Self, String> {
        Self::with_env(n, config, |name| std::env::var(name).unwrap_or_default())
    }

    /// A discoverer whose `OS_*` variables are read by `var` (when the section has no
    /// identity endpoint).
    fn with_env(
        n: usize,
        config: &OpenstackSdConfig,
        var: impl Fn(&str) -> String,
    ) -> Result<Self, String> {
        let auth = if config.identity_endpoint.is_empty() {
            AuthOptions::from_env(var)?
        } else {
            AuthOptions::from_config(config)
        };
        let interval = config.refresh_interval.std();
        Ok(Self {
            name: format!("openstack_sd_configs[{n}]"),
            role: config
                .role
                .ok_or("role missing (one of: instance, hypervisor)")?,
            region: config.region.clone(),
            availability: config.availability.clone(),
            port: config.port,
            all_tenants: config.all_tenants,
            interval,
            client: ApiClient::new(&tls_only_client(&config.tls_config), interval)?,
            identity_base: identity_base(&auth.identity_endpoint)?,
            identity_endpoint: normalize(&auth.identity_endpoint),
            auth,
        })
    }

    /// Sends `request` (a `method` of `url`), expecting one of the `ok` statuses, as
    /// gophercloud does; the answer's headers and body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        ok: &[u16],
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), String> {
        let request = request.header(reqwest::header::ACCEPT, "application/json");
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        if !ok.contains(&status) {
            let expected: Vec<String> = ok.iter().map(u16::to_string).collect();
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
            return Err(format!(
                "Expected HTTP response code [{}] when accessing [{method} {url}], but got {status} instead: {}",
                expected.join(" "),
                text.trim()
            ));
        }
        Ok((headers, body.to_vec()))
    }

    /// A GET of Nova's `url` with the token, read as JSON.
    async fn nova<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        url: &str,
    ) -> Result<T, String> {
        let request = self.client.unsigned_get(url).header("X-Auth-Token", token);
        let (_, body) = self.send(request, "GET", url, &[200]).await?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
    }

    /// The Keystone v3 endpoint: the identity endpoint if it names v3, else the one
    /// Keystone lists as best, as gophercloud's `ChooseVersion` picks it.
    async fn keystone_v3(&self) -> Result<String, String> {
        let v2 = |at: &str| {
            format!(
                "identity endpoint {at} is Keystone v2.0, which Skywatch does not speak; give the v3 endpoint"
            )
        };
        if self.identity_endpoint.ends_with("/v2.0/") {
            return Err(v2(&self.identity_endpoint));
        }
        if self.identity_endpoint.ends_with("/v3/") {
            return Ok(self.identity_endpoint.clone());
        }
        let base = &self.identity_base;
        let (_, body) = self
            .send(self.client.unsigned_get(base), "GET", base, &[200, 300])
            .await?;
        let versions: Versions =
            serde_json::from_slice(&body).map_err(|e| format!("GET {base}: {e}"))?;
        // (id, priority, is v3): the versions gophercloud knows.
        let known = [("v2.0", 20, false), ("v3", 30, true)];
        let mut best: Option<(i32, bool, String, String)> = None;
        for value in versions.versions.values.iter() {
            let href = value
                .links
                .iter()
                .rev()
                .find(|l| *l.rel == "self")
                .map_or_else(String::new, |l| normalize(&l.href));
            for (id, priority, v3) in known {
                if !value.id.contains(id) {
                    continue;
                }
                if href == self.identity_endpoint {
                    return if v3 { Ok(href) } else { Err(v2(&href)) };
                }
                let good = matches!(
                    value.status.to_lowercase().as_str(),
                    "current" | "supported" | "stable"
                );
                if good && best.as_ref().is_none_or(|b| priority > b.0) {
                    best = Some((priority, v3, href.clone(), value.id.0.clone()));
                }
            }
        }
        match best {
            None => Err(format!(
                "No supported version available from endpoint {base}"
            )),
            Some((_, _, href, id)) if href.is_empty() => Err(format!(
                "Endpoint missing in version {id} response from {base}"
            )),
            Some((_, false, href, _)) => Err(v2(&href)),
            Some((_, true, href, _)) => Ok(href),
        }
    }

    /// A token from Keystone v3, and the compute endpoint its catalog names for the
    /// region and availability.
    async fn authenticate(&self) -> Result<(String, String), String> {
        let keystone = self
            .keystone_v3()
            .await
            .map_err(|e| format!("could not authenticate to OpenStack: {e}"))?;
        let body = self
            .auth
            .token_request()
            .map_err(|e| format!("could not authenticate to OpenStack: {e}"))?;
        let url = format!("{keystone}auth/tokens");
        let request = self
            .client
            .unsigned_post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let (headers, body) = self
            .send(request, "POST", &url, &[201, 202])
            .await
            .map_err(|e| format!("could not authenticate to OpenStack: {e}"))?;
        let token = headers
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| format!("could not authenticate to OpenStack: POST {url}: {e}"))?;
        let compute = answer
            .token
            .catalog
            .iter()
            .filter(|entry| *entry.kind == "compute")
            .flat_map(|entry| entry.endpoints.iter())
            .find(|e| {
                *e.interface == self.availability
                    && (*e.region == self.region || *e.region_id == self.region)
            })
            .map(|e| normalize(&e.url))
            .ok_or(
                "could not create OpenStack compute session: No suitable endpoint could be found in the service catalog.",
            )?;
        Ok((token, compute))
    }

    async fn hypervisors(&self, token: &str, compute: &str) -> Result<Vec<StaticConfig>, String> {
        let url = format!("{compute}os-hypervisors/detail");
        let page: HypervisorPage = self.nova(token, &url).await?;
        let mut out = Vec::new();
        for h in page.hypervisors.iter() {
            let id = h
                .check()
                .map_err(|e| format!("could not extract hypervisors: GET {url}: {e}"))?;
            let labels: BTreeMap<String, String> = [
                ("hypervisor_id", id),
                ("hypervisor_hostname", h.hypervisor_hostname.0.clone()),
                ("hypervisor_host_ip", h.host_ip.0.clone()),
                ("hypervisor_status", h.status.0.clone()),
                ("hypervisor_state", h.state.0.clone()),
                ("hypervisor_type", h.hypervisor_type.0.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (format!("__meta_openstack_{k}"), v))
            .collect();
            out.push(target(join_host_port(&h.host_ip, self.port), labels));
        }
        Ok(out)
    }

    async fn instances(&self, token: &str, compute: &str) -> Result<Vec<StaticConfig>, String> {
        let url = format!("{compute}os-floating-ips");
        let page: FloatingIpPage = self
            .nova(token, &url)
            .await
            .map_err(|e| format!("could not extract floatingips: {e}"))?;
        // The floating IPs bound to an instance's fixed address; the floating
        // addresses themselves are not targets.
        let mut floating: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        let mut floating_present: BTreeSet<&str> = BTreeSet::new();
        for ip in page.floating_ips.iter() {
            if ip.instance_id.is_empty() || ip.fixed_ip.is_empty() {
                continue;
            }
            floating.insert(
                (ip.instance_id.as_str(), ip.fixed_ip.as_str()),
                ip.ip.as_str(),
            );
            floating_present.insert(ip.ip.as_str());
        }
        let mut url = format!("{compute}servers/detail");
        if self.all_tenants {
            url.push_str("?all_tenants=true");
        }
        let mut out = Vec::new();
        loop {
            let page: ServerPage = self
                .nova(token, &url)
                .await
                .map_err(|e| format!("could not extract instances: {e}"))?;
            if page.servers.is_empty() {
                break;
            }
            for server in page.servers.iter() {
                self.server_targets(server, &floating, &floating_present, &mut out);
            }
            match page.servers_links.iter().rev().find(|l| *l.rel == "next") {
                Some(next) if !next.href.is_empty() => url = next.href.0.clone(),
                _ => break,
            }
        }
        Ok(out)
    }

    /// A target for each fixed address of `server`, as Prometheus makes them; a server
    /// without addresses or a flavor ID has none.
    fn server_targets(
        &self,
        server: &Server,
        floating: &BTreeMap<(&str, &str), &str>,
        floating_present: &BTreeSet<&str>,
        out: &mut Vec<StaticConfig>,
    ) {
        if server.addresses.is_empty() {
            tracing::info!(instance = %server.id.0, "OpenStack instance has no IP address");
            return;
        }
        let Some(flavor) = server.flavor.get("id").and_then(Value::as_str) else {
            tracing::warn!(instance = %server.id.0, "OpenStack instance's flavor has no id string; skipped");
            return;
        };
        let mut labels: BTreeMap<String, String> = [
            ("instance_id", server.id.0.clone()),
            ("instance_status", server.status.0.clone()),
            ("instance_name", server.name.0.clone()),
            ("project_id", server.tenant_id.0.clone()),
            ("user_id", server.user_id.0.clone()),
            ("instance_flavor", flavor.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("__meta_openstack_{k}"), v))
        .collect();
        for (key, value) in server.metadata.iter() {
            labels.insert(
                format!("__meta_openstack_tag_{}", sanitize_label_name(key)),
                value.0.clone(),
            );
        }
        for (pool, addresses) in server.addresses.iter() {
            let Some(addresses) = addresses.as_array() else {
                tracing::warn!(instance = %server.id.0, "OpenStack address pool is not an array; skipped");
                continue;
            };
            for address in addresses {
                let Some(addr) = address.get("addr").and_then(Value::as_str) else {
                    tracing::warn!(instance = %server.id.0, "OpenStack address has no addr string; skipped");
                    continue;
                };
                if floating_present.contains(addr) {
                    continue;
                }
                let mut labels = labels.clone();
                labels.insert("__meta_openstack_address_pool".into(), pool.clone());
                labels.insert("__meta_openstack_private_ip".into(), addr.to_owned());
                if let Some(public) = floating.get(&(server.id.0.as_str(), addr)) {
                    labels.insert("__meta_openstack_public_ip".into(), (*public).to_owned());
                }
                out.push(target(join_host_port(addr, self.port), labels));
            }
        }
    }
}

impl Provider for Openstack {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let (token, compute) = self.authenticate().await?;
            match self.role {
                OpenstackRole::Hypervisor => self.hypervisors(&token, &compute).await,
                OpenstackRole::Instance => self.instances(&token, &compute).await,
            }
        })
    }
}

/// Keystone's version list.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Versions {
    versions: VersionValues,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct VersionValues {
    values: Nullable<Vec<VersionValue>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct VersionValue {
    id: Nullable<String>,
    status: Nullable<String>,
    links: Nullable<Vec<Link>>,
}

/// A link of Keystone's or Nova's lists.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Link {
    href: Nullable<String>,
    rel: Nullable<String>,
}

/// The answer to a token request: the parts read.
#[derive(Default, Deserialize)]
#[serde(default)]
struct TokenAnswer {
    token: Token,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Token {
    catalog: Nullable<Vec<CatalogEntry>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CatalogEntry {
    #[serde(rename = "type")]
    kind: Nullable<String>,
    endpoints: Nullable<Vec<Endpoint>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Endpoint {
    interface: Nullable<String>,
    region: Nullable<String>,
    region_id: Nullable<String>,
    url: Nullable<String>,
}

/// `GET os-hypervisors/detail`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct HypervisorPage {
    hypervisors: Nullable<Vec<Hypervisor>>,
}

/// A hypervisor: the fields labelled, and those gophercloud insists on the type of.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Hypervisor {
    id: Value,
    cpu_info: Value,
    hypervisor_version: Value,
    free_disk_gb: Value,
    local_gb: Value,
    host_ip: Nullable<String>,
    hypervisor_hostname: Nullable<String>,
    status: Nullable<String>,
    state: Nullable<String>,
    hypervisor_type: Nullable<String>,
}

impl Hypervisor {
    /// Fails where gophercloud 1.1's reading of a hypervisor fails (a CPU description that
    /// is not JSON, a version or size that is not a number, an ID that is neither a
    /// number nor a string: absent ones included); the ID, as text.
    fn check(&self) -> Result<String, String> {
        match &self.cpu_info {
            Value::Object(_) => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => {
                serde_json::from_str::<Option<serde_json::Map<String, Value>>>(s)
                    .map_err(|e| format!("cpu_info: {e}"))?;
            }
            other => return Err(format!("CPUInfo has unexpected type: {}", go_type(other))),
        }
        for (name, value) in [
            ("Hypervisor version", &self.hypervisor_version),
            ("Free disk GB", &self.free_disk_gb),
            ("Local GB", &self.local_gb),
        ] {
            if !value.is_number() {
                return Err(format!("{name} has unexpected type: {}", go_type(value)));
            }
        }
        match &self.id {
            Value::String(s) => Ok(s.clone()),
            // Go reads a JSON number as a float and prints its integer part.
            Value::Number(n) => Ok(n
                .as_i64()
                .unwrap_or_else(|| n.as_f64().unwrap_or_default() as i64)
                .to_string()),
            other => Err(format!("ID has unexpected type: {}", go_type(other))),
        }
    }
}

/// How Go's `%T` names the type `encoding/json` gives a JSON value.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `GET os-floating-ips`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct FloatingIpPage {
    floating_ips: Nullable<Vec<FloatingIp>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct FloatingIp {
    fixed_ip: Nullable<String>,
    instance_id: Nullable<String>,
    ip: Nullable<String>,
}

/// A page of `GET servers/detail`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ServerPage {
    servers: Nullable<Vec<Server>>,
    servers_links: Nullable<Vec<Link>>,
}

/// A server: the fields Prometheus reads.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Server {
    id: Nullable<String>,
    tenant_id: Nullable<String>,
    user_id: Nullable<String>,
    name: Nullable<String>,
    status: Nullable<String>,
    flavor: Nullable<serde_json::Map<String, Value>>,
    addresses: Nullable<serde_json::Map<String, Value>>,
    metadata: Nullable<BTreeMap<String, Nullable<String>>>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Query, RawQuery};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};

    use super::super::testing::{assert_refused, fake_api, group, json, parse_section};
    use super::*;

    fn config(text: &str) -> OpenstackSdConfig {
        let c: OpenstackSdConfig = yaml::from_str(text).unwrap();
        c.validate().unwrap();
        c
    }

    /// A Keystone token answer whose catalog has compute endpoints at `nova` in two
    /// regions and for each interface, as Keystone v3 writes catalogs.
    fn token_answer(nova: &str) -> serde_json::Value {
        serde_json::json!({"token": {
            "methods": ["password"],
            "expires_at": "2024-05-01T18:30:59.000000Z",
            "issued_at": "2024-05-01T17:30:59.000000Z",
            "user": {"domain": {"id": "default", "name": "Default"}, "id": "9349aff8be7545ac9d2f1d00999a23cd", "name": "prometheus"},
            "project": {"domain": {"id": "default", "name": "Default"}, "id": "fcad67a6189847c4aecfa3c81a05783b", "name": "monitoring"},
            "catalog": [
                {"id": "4363ae44", "type": "identity", "name": "keystone", "endpoints": [
                    {"id": "39dc322c", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "http://keystone.invalid:5000"}
                ]},
                {"id": "b7f2a5b1", "type": "compute", "name": "nova", "endpoints": [
                    {"id": "e2ffee80", "interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": format!("{nova}/two")},
                    {"id": "e2ffee81", "interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{nova}/internal")},
                    {"id": "e2ffee82", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{nova}/public")}
                ]}
            ]
        }})
    }

    /// Answers a token request: asserts what Prometheus sends and gives a token.
    fn issue_token(
        h: &HeaderMap,
        body: &str,
        want: &serde_json::Value,
    ) -> (StatusCode, [(&'static str, &'static str); 2], String) {
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["accept"], "application/json");
        assert!(h.get("x-auth-token").is_none());
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(&sent, want);
        let nova = format!("http://{}/compute/v2.1", h["host"].to_str().unwrap());
        (
            StatusCode::CREATED,
            [
                ("content-type", "application/json"),
                ("x-subject-token", "gAAAAABtoken"),
            ],
            token_answer(&nova).to_string(),
        )
    }

    fn nova_auth(h: &HeaderMap) {
        assert_eq!(h["x-auth-token"], "gAAAAABtoken");
        assert_eq!(h["accept"], "application/json");
    }

    fn server(
        id: &str,
        name: &str,
        flavor: serde_json::Value,
        addresses: serde_json::Value,
        metadata: serde_json::Value,
    ) -> serde_json::Value {
        serde_json::json!({
            "id": id, "name": name, "status": "ACTIVE",
            "tenant_id": "fcad67a6189847c4aecfa3c81a05783b", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
            "hostId": "29d3c8c896a45aa4c34e52247875d7fefc3d94bbcc9f622b5d204362",
            "created": "2024-05-01T16:56:37Z", "updated": "2024-05-01T16:56:40Z",
            "image": "", "flavor": flavor, "addresses": addresses, "metadata": metadata,
            "accessIPv4": "", "accessIPv6": "", "progress": 0, "key_name": null,
            "links": [{"href": format!("http://nova.invalid/v2.1/servers/{id}"), "rel": "self"}],
            "OS-EXT-STS:vm_state": "active", "security_groups": [{"name": "default"}]
        })
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let failing = fail.clone();
        let want_token = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "prometheus", "password": "s3cret", "domain": {"name": "Default"}
            }}},
            "scope": {"project": {"name": "monitoring", "domain": {"name": "Default"}}}
        }});
        let router = axum::Router::new()
            // Keystone, without a version in the endpoint: its version list first.
            .route(
                "/identity/",
                get(|h: HeaderMap| async move {
                    let base = format!("http://{}/identity", h["host"].to_str().unwrap());
                    json(300, serde_json::json!({"versions": {"values": [
                        {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                         "links": [{"rel": "self", "href": format!("{base}/v3/")}],
                         "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]},
                        {"id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
                         "links": [{"rel": "self", "href": format!("{base}/v2.0/")}]}
                    ]}}))
                }),
            )
            .route(
                "/identity/v3/auth/tokens",
                post(move |h: HeaderMap, body: String| {
                    let fail = *failing.lock().unwrap();
                    let want = want_token.clone();
                    async move {
                        if fail {
                            return (
                                StatusCode::UNAUTHORIZED,
                                [("content-type", "application/json"), ("x-subject-token", "")],
                                r#"{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}"#.to_owned(),
                            );
                        }
                        issue_token(&h, &body, &want)
                    }
                }),
            )
            .route(
                "/compute/v2.1/public/os-floating-ips",
                get(|h: HeaderMap| async move {
                    nova_auth(&h);
                    json(200, serde_json::json!({"floating_ips": [
                        {"fixed_ip": "10.0.0.32", "id": "217bdf6a", "instance_id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "ip": "10.10.10.2", "pool": "public"},
                        {"fixed_ip": "10.0.0.34", "id": 2, "instance_id": "9e5476bd-a4ec-4653-93d6-72c93aa682bb", "ip": "10.10.10.4", "pool": "public"},
                        {"fixed_ip": null, "id": "9c47dcba", "instance_id": null, "ip": "10.10.10.9", "pool": "public"}
                    ]}))
                }),
            )
            .route(
                "/compute/v2.1/public/servers/detail",
                get(|h: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                    nova_auth(&h);
                    assert_eq!(q["all_tenants"], "true");
                    let host = h["host"].to_str().unwrap().to_owned();
                    let private = |ips: &[&str]| {
                        ips.iter()
                            .map(|ip| serde_json::json!({"version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:0b:b2:a5"}))
                            .collect::<Vec<_>>()
                    };
                    match q.get("marker").map(String::as_str) {
                        None => json(200, serde_json::json!({
                            "servers": [
                                server("ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "herp", serde_json::json!({"id": "1", "links": []}),
                                    serde_json::json!({"private": [
                                        {"version": 4, "addr": "10.0.0.32", "OS-EXT-IPS:type": "fixed"},
                                        {"version": 4, "addr": "10.10.10.2", "OS-EXT-IPS:type": "floating"}
                                    ]}), serde_json::json!({})),
                                server("9e5476bd-a4ec-4653-93d6-72c93aa682ba", "derp", serde_json::json!({"id": "1", "links": []}),
                                    serde_json::json!({"private": private(&["10.0.0.31"])}), serde_json::json!(null)),
                                // No address: no target.
                                server("0d5f1c41-0000-4000-8000-000000000001", "booting", serde_json::json!({"id": "1"}),
                                    serde_json::json!({}), serde_json::json!({})),
                            ],
                            "servers_links": [{"rel": "next", "href": format!("http://{host}/compute/v2.1/public/servers/detail?all_tenants=true&marker=0d5f1c41")}]
                        })),
                        Some("0d5f1c41") => json(200, serde_json::json!({
                            "servers": [
                                server("9e5476bd-a4ec-4653-93d6-72c93aa682bb", "merp", serde_json::json!({"id": "4", "links": []}),
                                    serde_json::json!({
                                        "private": private(&["10.0.0.33", "10.0.0.34"]),
                                        "v6": [{"version": 6, "addr": "2001:db8::5", "OS-EXT-IPS:type": "fixed"}]
                                    }),
                                    serde_json::json!({"env": "prod", "team-name": "observability"})),
                                // A flavor without its id (as later microversions write it): skipped.
                                server("0d5f1c41-0000-4000-8000-000000000002", "noflavor",
                                    serde_json::json!({"original_name": "m1.small", "vcpus": 1}),
                                    serde_json::json!({"private": private(&["10.0.0.40"])}), serde_json::json!({})),
                            ],
                            "servers_links": []
                        })),
                        Some(other) => panic!("marker {other} was not offered"),
                    }
                }),
            );
        let base = fake_api(router).await;
        let c = config(&format!(
            "role: instance\nregion: RegionOne\nidentity_endpoint: {base}/identity\nusername: prometheus\npassword: s3cret\ndomain_name: Default\nproject_name: monitoring\nall_tenants: true\nport: 9100\n"
        ));
        let sd = Openstack::new(0, &c).unwrap();
        assert_eq!(sd.name(), "openstack_sd_configs[0]");
        let common = |id: &str, name: &str, flavor: &str| {
            vec![
                ("__meta_openstack_instance_flavor", flavor.to_owned()),
                ("__meta_openstack_instance_id", id.to_owned()),
                ("__meta_openstack_instance_name", name.to_owned()),
                ("__meta_openstack_instance_status", "ACTIVE".to_owned()),
                (
                    "__meta_openstack_project_id",
                    "fcad67a6189847c4aecfa3c81a05783b".to_owned(),
                ),
                (
                    "__meta_openstack_user_id",
                    "9349aff8be7545ac9d2f1d00999a23cd".to_owned(),
                ),
            ]
        };
        let with = |mut labels: Vec<(&'static str, String)>, more: &[(&'static str, &str)]| {
            labels.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
            labels
        };
        let herp = common("ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "herp", "1");
        let derp = common("9e5476bd-a4ec-4653-93d6-72c93aa682ba", "derp", "1");
        let merp = with(
            common("9e5476bd-a4ec-4653-93d6-72c93aa682bb", "merp", "4"),
            &[
                ("__meta_openstack_tag_env", "prod"),
                ("__meta_openstack_tag_team_name", "observability"),
            ],
        );
        let want = [
            (
                "10.0.0.32:9100",
                with(
                    herp,
                    &[
                        ("__meta_openstack_address_pool", "private"),
                        ("__meta_openstack_private_ip", "10.0.0.32"),
                        ("__meta_openstack_public_ip", "10.10.10.2"),
                    ],
                ),
            ),
            (
                "10.0.0.31:9100",
                with(
                    derp,
                    &[
                        ("__meta_openstack_address_pool", "private"),
                        ("__meta_openstack_private_ip", "10.0.0.31"),
                    ],
                ),
            ),
            (
                "10.0.0.33:9100",
                with(
                    merp.clone(),
                    &[
                        ("__meta_openstack_address_pool", "private"),
                        ("__meta_openstack_private_ip", "10.0.0.33"),
                    ],
                ),
            ),
            (
                "10.0.0.34:9100",
                with(
                    merp.clone(),
                    &[
                        ("__meta_openstack_address_pool", "private"),
                        ("__meta_openstack_private_ip", "10.0.0.34"),
                        ("__meta_openstack_public_ip", "10.10.10.4"),
                    ],
                ),
            ),
            (
                "[2001:db8::5]:9100",
                with(
                    merp,
                    &[
                        ("__meta_openstack_address_pool", "v6"),
                        ("__meta_openstack_private_ip", "2001:db8::5"),
                    ],
                ),
            ),
        ];
        let want: Vec<StaticConfig> = want
            .iter()
            .map(|(address, labels)| {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                group(address, &labels)
            })
            .collect();
        assert_eq!(sd.refresh().await.unwrap(), want);

        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!("could not authenticate to OpenStack: Expected HTTP response code [201 202] when accessing [POST {base}/identity/v3/auth/tokens], but got 401 instead")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn hypervisors_are_labelled_as_prometheus_labels_them() {
        let bad = Arc::new(Mutex::new(0));
        let state = bad.clone();
        let want_token = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"id": "0ca8f6", "password": "s3cret"}}},
            "scope": {"project": {"id": "fcad67a6189847c4aecfa3c81a05783b"}}
        }});
        let router = axum::Router::new()
            .route(
                "/identity/v3/auth/tokens",
                post(move |h: HeaderMap, body: String| {
                    let want = want_token.clone();
                    async move { issue_token(&h, &body, &want) }
                }),
            )
            .route(
                "/compute/v2.1/internal/os-hypervisors/detail",
                get(move |h: HeaderMap, RawQuery(q): RawQuery| {
                    let bad = *state.lock().unwrap();
                    async move {
                        nova_auth(&h);
                        assert_eq!(q, None);
                        let hypervisor = |id: serde_json::Value, name: &str, ip: &str, status: &str, state: &str| serde_json::json!({
                            "id": id, "hypervisor_hostname": name, "host_ip": ip, "status": status, "state": state,
                            "hypervisor_type": "QEMU", "hypervisor_version": 2012000, "vcpus": 24, "vcpus_used": 18,
                            "memory_mb": 96484, "memory_mb_used": 24064, "free_ram_mb": 72420, "local_gb": 399, "local_gb_used": 84,
                            "free_disk_gb": 315, "disk_available_least": 304, "current_workload": 1, "running_vms": 10,
                            "cpu_info": "{\"vendor\": \"Intel\", \"model\": \"IvyBridge\", \"arch\": \"x86_64\", \"features\": [\"pge\", \"avx\"], \"topology\": {\"cores\": 6, \"threads\": 2, \"sockets\": 1}}",
                            "service": {"host": name, "id": 16, "disabled_reason": null}
                        });
                        match bad {
                            0 => json(200, serde_json::json!({"hypervisors": [
                                hypervisor(serde_json::json!(1), "nc14.cloud.com", "172.16.70.14", "enabled", "up"),
                                hypervisor(serde_json::json!("c1a8e8ad-3a49-4f7a-9d0c-3bbdbb21f6a4"), "nc15.cloud.com", "fd00::15", "disabled", "down"),
                            ]})),
                            1 => {
                                let mut h = hypervisor(serde_json::json!(3), "nc16.cloud.com", "172.16.70.16", "enabled", "up");
                                h["cpu_info"] = serde_json::Value::Null;
                                json(200, serde_json::json!({"hypervisors": [h]}))
                            }
                            2 => json(500, serde_json::json!({"computeFault": {"code": 500, "message": "Unexpected API Error."}})),
                            _ => (StatusCode::OK, [("content-type", "application/json")], "{\"hypervisors\": [".to_owned()),
                        }
                    }
                }),
            );
        let base = fake_api(router).await;
        let c = config(&format!(
            "role: hypervisor\nregion: RegionOne\navailability: internal\nidentity_endpoint: {base}/identity/v3\nuserid: 0ca8f6\npassword: s3cret\nproject_id: fcad67a6189847c4aecfa3c81a05783b\n"
        ));
        let sd = Openstack::new(0, &c).unwrap();
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "172.16.70.14:80",
                    &[
                        ("__meta_openstack_hypervisor_host_ip", "172.16.70.14"),
                        ("__meta_openstack_hypervisor_hostname", "nc14.cloud.com"),
                        ("__meta_openstack_hypervisor_id", "1"),
                        ("__meta_openstack_hypervisor_state", "up"),
                        ("__meta_openstack_hypervisor_status", "enabled"),
                        ("__meta_openstack_hypervisor_type", "QEMU"),
                    ]
                ),
                group(
                    "[fd00::15]:80",
                    &[
                        ("__meta_openstack_hypervisor_host_ip", "fd00::15"),
                        ("__meta_openstack_hypervisor_hostname", "nc15.cloud.com"),
                        (
                            "__meta_openstack_hypervisor_id",
                            "c1a8e8ad-3a49-4f7a-9d0c-3bbdbb21f6a4"
                        ),
                        ("__meta_openstack_hypervisor_state", "down"),
                        ("__meta_openstack_hypervisor_status", "disabled"),
                        ("__meta_openstack_hypervisor_type", "QEMU"),
                    ]
                ),
            ]
        );
        let url = format!("{base}/compute/v2.1/internal/os-hypervisors/detail");
        *bad.lock().unwrap() = 1;
        let e = sd.refresh().await.unwrap_err();
        assert_eq!(
            e,
            format!("could not extract hypervisors: GET {url}: CPUInfo has unexpected type: <nil>")
        );
        *bad.lock().unwrap() = 2;
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!(
                "Expected HTTP response code [200] when accessing [GET {url}], but got 500 instead"
            )),
            "{e}"
        );
        *bad.lock().unwrap() = 3;
        let e = sd.refresh().await.unwrap_err();
        assert!(e.starts_with(&format!("GET {url}: EOF")), "{e}");
    }

    #[tokio::test]
    async fn a_catalog_without_the_region_fails() {
        let router = axum::Router::new().route(
            "/v3/auth/tokens",
            post(|h: HeaderMap, body: String| async move {
                let want: serde_json::Value = serde_json::from_str(&body).unwrap();
                issue_token(&h, &body, &want)
            }),
        );
        let base = fake_api(router).await;
        let c = config(&format!(
            "role: instance\nregion: RegionThree\nidentity_endpoint: {base}/v3/\nusername: u\npassword: p\ndomain_id: default\n"
        ));
        let e = Openstack::new(0, &c).unwrap().refresh().await.unwrap_err();
        assert_eq!(
            e,
            "could not create OpenStack compute session: No suitable endpoint could be found in the service catalog."
        );
    }

    #[test]
    fn token_requests_are_made_as_gophercloud_makes_them() {
        let opts = |f: &dyn Fn(&mut AuthOptions)| {
            let mut o = AuthOptions::default();
            f(&mut o);
            o.token_request()
        };
        assert_eq!(
            opts(&|o| {
                o.app_cred_id = "21dced0f".into();
                o.app_cred_secret = "secret".into();
            }),
            Ok(serde_json::json!({"auth": {"identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": "21dced0f", "secret": "secret"}
            }}}))
        );
        assert_eq!(
            opts(&|o| {
                o.app_cred_name = "monitoring".into();
                o.app_cred_secret = "secret".into();
                o.username = "prometheus".into();
                o.domain_id = "default".into();
            }),
            Ok(serde_json::json!({"auth": {"identity": {
                "methods": ["application_credential"],
                "application_credential": {"name": "monitoring", "secret": "secret",
                    "user": {"name": "prometheus", "domain": {"id": "default"}}}
            }}}))
        );
        // A project by name in the user's domain, by ID.
        assert_eq!(
            opts(&|o| {
                o.username = "prometheus".into();
                o.password = "p".into();
                o.domain_id = "default".into();
                o.tenant_name = "monitoring".into();
            }),
            Ok(serde_json::json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {"name": "prometheus", "password": "p", "domain": {"id": "default"}}}},
                "scope": {"project": {"name": "monitoring", "domain": {"id": "default"}}}
            }}))
        );
        // A passcode (OS_PASSCODE) adds the TOTP method.
        assert_eq!(
            opts(&|o| {
                o.user_id = "0ca8f6".into();
                o.password = "p".into();
                o.passcode = "123456".into();
            }),
            Ok(serde_json::json!({"auth": {"identity": {
                "methods": ["password", "totp"],
                "password": {"user": {"id": "0ca8f6", "password": "p"}},
                "totp": {"user": {"id": "0ca8f6", "passcode": "123456"}}
            }}}))
        );
        for (f, want) in [
            (
                &(|_: &mut AuthOptions| {}) as &dyn Fn(&mut AuthOptions),
                "You must provide a password to authenticate",
            ),
            (
                &|o: &mut AuthOptions| o.password = "p".into(),
                "Exactly one of Username and UserID must be provided for password authentication",
            ),
            (
                &|o: &mut AuthOptions| {
                    o.password = "p".into();
                    o.username = "u".into();
                },
                "You must provide exactly one of DomainID or DomainName to authenticate by Username",
            ),
            (
                &|o: &mut AuthOptions| {
                    o.password = "p".into();
                    o.username = "u".into();
                    o.user_id = "i".into();
                },
                "Exactly one of Username and UserID must be provided for password authentication",
            ),
            (
                &|o: &mut AuthOptions| {
                    o.password = "p".into();
                    o.user_id = "i".into();
                    o.domain_name = "d".into();
                },
                "DomainName may not be provided when authenticating with a UserID",
            ),
            (
                &|o: &mut AuthOptions| o.app_cred_id = "a".into(),
                "You must provide an Application Credential Secret",
            ),
            (
                &|o: &mut AuthOptions| {
                    o.password = "p".into();
                    o.user_id = "i".into();
                    o.tenant_name = "t".into();
                },
                "You must provide exactly one of DomainID or DomainName in a Scope with ProjectName",
            ),
        ] {
            assert_eq!(opts(f), Err(want.to_owned()));
        }
    }

    #[test]
    fn credentials_come_from_the_environment_without_an_identity_endpoint() {
        let env = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            move |name: &str| vars.get(name).cloned().unwrap_or_default()
        };
        let o = AuthOptions::from_env(env(&[
            ("OS_AUTH_URL", "https://keystone.example.com:5000/v3"),
            ("OS_USERNAME", "prometheus"),
            ("OS_PASSWORD", "p"),
            ("OS_TENANT_NAME", "old"),
            ("OS_PROJECT_NAME", "monitoring"),
            ("OS_DOMAIN_NAME", "Default"),
        ]))
        .unwrap();
        assert_eq!(
            (
                o.identity_endpoint.as_str(),
                o.tenant_name.as_str(),
                o.domain_name.as_str()
            ),
            (
                "https://keystone.example.com:5000/v3",
                "monitoring",
                "Default"
            )
        );
        for (vars, want) in [
            (&[][..], "Missing environment variable [OS_AUTH_URL]"),
            (
                &[("OS_AUTH_URL", "u")][..],
                "Missing one of the following environment variables [OS_USERID, OS_USERNAME]",
            ),
            (
                &[("OS_AUTH_URL", "u"), ("OS_USERNAME", "n")][..],
                "Missing environment variable [OS_PASSWORD]",
            ),
            (
                &[
                    ("OS_AUTH_URL", "u"),
                    ("OS_USERNAME", "n"),
                    ("OS_APPLICATION_CREDENTIAL_NAME", "a"),
                ][..],
                "Missing environment variable [OS_APPLICATION_CREDENTIAL_SECRET]",
            ),
            (
                &[
                    ("OS_AUTH_URL", "u"),
                    ("OS_USERNAME", "n"),
                    ("OS_PASSWORD", "p"),
                    ("OS_PROJECT_NAME", "t"),
                ][..],
                "Missing environment variable [OS_PROJECT_ID]",
            ),
            (
                &[
                    ("OS_AUTH_URL", "u"),
                    ("OS_USERNAME", "n"),
                    ("OS_APPLICATION_CREDENTIAL_NAME", "a"),
                    ("OS_APPLICATION_CREDENTIAL_SECRET", "s"),
                ][..],
                "Missing one of the following environment variables [OS_DOMAIN_ID, OS_DOMAIN_NAME]",
            ),
        ] {
            assert_eq!(AuthOptions::from_env(env(vars)), Err(want.to_owned()));
        }
        // A section without identity_endpoint takes the variables when it starts.
        let c = config("role: instance\nregion: RegionOne\n");
        let e = Openstack::with_env(0, &c, env(&[])).err().unwrap();
        assert_eq!(e, "Missing environment variable [OS_AUTH_URL]");
        let sd = Openstack::with_env(
            0,
            &c,
            env(&[
                (
                    "OS_AUTH_URL",
                    "https://keystone.example.com/identity/v3?x=1",
                ),
                ("OS_USERID", "0ca8f6"),
                ("OS_PASSWORD", "p"),
            ]),
        )
        .unwrap();
        assert_eq!(sd.identity_base, "https://keystone.example.com/identity/");
    }

    #[test]
    fn the_identity_base_is_cut_as_gophercloud_cuts_it() {
        for (endpoint, base) in [
            ("http://keystone:5000", "http://keystone:5000/"),
            ("http://keystone:5000/v3", "http://keystone:5000/"),
            ("http://keystone:5000/v2.0/", "http://keystone:5000/"),
            (
                "https://cloud.example.com/identity/v3/",
                "https://cloud.example.com/identity/",
            ),
            (
                "https://cloud.example.com/identity/",
                "https://cloud.example.com/identity/",
            ),
        ] {
            assert_eq!(identity_base(endpoint).unwrap(), base, "{endpoint}");
        }
    }

    #[test]
    fn what_prometheus_refuses_is_refused() {
        let parse = |section: &str| parse_section("openstack_sd_configs", section);
        // config/testdata/openstack_role.bad.yml, openstack_availability.bad.yml
        let e = parse("role: invalid").unwrap_err();
        assert!(
            e.message.contains("unknown OpenStack SD role \"invalid\""),
            "{e}"
        );
        for (section, want) in [
            (
                "availability: invalid",
                "unknown availability invalid, must be one of admin, internal or public",
            ),
            (
                "region: RegionOne",
                "role missing (one of: instance, hypervisor)",
            ),
            (
                "role: hypervisor",
                "openstack SD configuration requires a region",
            ),
            (
                "role: hypervisor\n        region: r\n        tls_config:\n          cert_file: c",
                "client cert file \"c\" specified without client key file; set key_file",
            ),
        ] {
            assert_refused("openstack_sd_configs", section, want);
        }
        let e = parse("role: instance\n        region: r\n        projectname: x").unwrap_err();
        assert!(e.message.contains("projectname"), "{e}");
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        // config/testdata/conf.good.yml's service-openstack.
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: service-openstack\n    openstack_sd_configs:\n      - role: instance\n        region: RegionOne\n        port: 80\n        refresh_interval: 1m\n        tls_config:\n          ca_file: valid_ca_file\n          cert_file: valid_cert_file\n          key_file: valid_key_file\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.openstack_sd_configs[0];
        assert_eq!(sd.role, Some(OpenstackRole::Instance));
        assert_eq!(
            (
                sd.port,
                sd.refresh_interval,
                sd.availability.as_str(),
                sd.all_tenants
            ),
            (80, Duration(60_000), "public", false)
        );
        assert!(c.scrape_configs[0].discovery.is_dynamic());
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    openstack_sd_configs:\n      - role: hypervisor\n        region: RegionOne\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.openstack_sd_configs[0];
        assert_eq!((sd.port, sd.refresh_interval), (80, Duration(60_000)));
    }
}
