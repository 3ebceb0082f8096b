//! `kubernetes_sd_configs`: Prometheus's Kubernetes service discovery, over the API
//! server's documented REST API (plain JSON lists, no client library).
//!
//! Each role lists its objects and turns each into targets labelled exactly as
//! Prometheus 2.42 labels them (`discovery/kubernetes/*.go`): one group per object, with
//! the object's `__meta_kubernetes_*` labels on the group and each target's own on the
//! target. The [`Provider`] contract carries groups of addresses sharing labels, so each
//! Prometheus target becomes a group of its own, its labels over its group's (a target's
//! label wins, as in Prometheus's `targetsFromGroup`); the targets and their labels are the
//! same.
//!
//! - `node`: a target per node, `<first address by type priority>:<kubelet port>`, its
//!   `instance` the node's name.
//! - `service`: a target per service port, `<service>.<namespace>.svc:<port>`.
//! - `pod`: a target per declared container port, `<pod IP>:<port>`, and one per container
//!   without ports, `<pod IP>`; init containers included; pods without an IP are skipped.
//! - `endpoints` (core/v1) and `endpointslice` (discovery.k8s.io/v1): a target per address
//!   and port, with the labels of the service of the same name (of the
//!   `kubernetes.io/service-name` label for a slice) and of the pod an address refers to,
//!   and a target per container port of such a pod that no endpoint port covers.
//! - `ingress` (networking.k8s.io/v1): a target per rule host and path, `https` when a TLS
//!   entry covers the host.
//!
//! Where the API server is: `api_server` with the inline HTTP client settings;
//! `kubeconfig_file` (the current context's server, CA, token or client certificate, basic
//! authentication); or, with neither, the in-cluster service account
//! (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`, and the token, CA and namespace
//! under `/var/run/secrets/kubernetes.io/serviceaccount`). `namespaces`, `selectors`
//! (sent as `labelSelector` and `fieldSelector`) and `attach_metadata.node` mean what they
//! mean to Prometheus.
//!
//! **Differences from Prometheus**, deliberate for now: Prometheus keeps informers that
//! watch the API; this lists every object again every [`REFRESH_INTERVAL`] (30 s), so a
//! change is seen within that time rather than at once, at the cost of one list request per
//! resource and namespace each time. A failed list fails the whole refresh, and the manager
//! keeps the targets of the last good one. Only the v1 endpoint slice and ingress APIs are
//! read (Kubernetes 1.21 and 1.19 and later); Prometheus 2.42 falls back to v1beta1 on older
//! servers. A kubeconfig's `exec` and `auth-provider` plugins are refused, and
//! `KUBERNETES_SERVICE_HOST`'s API server is reached without a proxy.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use yaml::Spanned;

use super::{Provider, Refresh};
use crate::config::{HttpClientConfig, StaticConfig, http_client};
use crate::tls::PemTls;

/// How often the objects are listed again: Prometheus watches instead (see the module
/// documentation), and has no setting for this.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Where a pod's service account credentials are mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Objects listed per request; longer lists are read in pages, as client-go's informers
/// read them.
const PAGE_SIZE: &str = "500";

/// What kind of object becomes a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Nodes: their kubelets.
    Node,
    /// Pods: their containers' ports.
    Pod,
    /// Services: their ports, by the service's DNS name.
    Service,
    /// Endpoints (core/v1): the addresses behind services.
    Endpoints,
    /// Endpoint slices (discovery.k8s.io/v1): the addresses behind services.
    EndpointSlice,
    /// Ingresses (networking.k8s.io/v1): their hosts and paths.
    Ingress,
}

impl Role {
    /// The role as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Pod => "pod",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "node" => Role::Node,
            "pod" => Role::Pod,
            "service" => Role::Service,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "ingress" => Role::Ingress,
            _ => return None,
        })
    }

    /// The roles whose selectors a configuration of this role may carry, as Prometheus
    /// allows them: the roles of the objects it lists.
    fn selector_roles(self) -> &'static [Role] {
        match self {
            Role::Node => &[Role::Node],
            Role::Pod => &[Role::Pod],
            Role::Service => &[Role::Service],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Ingress => &[Role::Ingress],
        }
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown Kubernetes SD role {s:?}; use one of pod, service, endpoints, endpointslice, node and ingress"
            ))
        })
    }
}

http_client! {
    /// `kubernetes_sd_configs`: targets from the objects of a Kubernetes cluster.
    pub struct KubernetesSdConfig {
        /// The kind of object that becomes a target (required).
        #[serde(default)]
        pub role: Option<Spanned<Role>>,
        /// The API server's URL; without it (and without `kubeconfig_file`), the pod's
        /// in-cluster service account is used.
        #[serde(default)]
        pub api_server: Option<Spanned<String>>,
        /// A kubeconfig file whose current context says where the API server is and how to
        /// authenticate.
        #[serde(default)]
        pub kubeconfig_file: Option<PathBuf>,
        /// The namespaces to look in (default: all).
        #[serde(default)]
        pub namespaces: NamespaceDiscovery,
        /// Label and field selectors, by role, sent with each list.
        #[serde(default)]
        pub selectors: Vec<SelectorConfig>,
        /// What to add from related objects.
        #[serde(default)]
        pub attach_metadata: AttachMetadata,
    }
}

/// `namespaces`: where to look.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceDiscovery {
    /// Add the namespace Skywatch's own pod runs in (in-cluster only).
    pub own_namespace: bool,
    /// The namespaces; none means all, unless `own_namespace` is set.
    pub names: Vec<String>,
}

/// One entry of `selectors`: which objects of a role to list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelectorConfig {
    /// The role whose lists this narrows.
    pub role: Option<Role>,
    /// A label selector (`app=web,tier in (a,b)`).
    pub label: String,
    /// A field selector (`spec.nodeName=n1`).
    pub field: String,
}

/// `attach_metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachMetadata {
    /// Add the labels of a target's node (roles pod, endpoints and endpointslice).
    pub node: bool,
}

impl KubernetesSdConfig {
    /// Checks the settings as Prometheus 2.42 does, with its messages.
    pub fn validate(&self) -> Result<(), String> {
        let line = self
            .role
            .as_ref()
            .map(|r| r.referenced)
            .or(self.api_server.as_ref().map(|a| a.referenced))
            .map(|at| format!("line {}: ", at.line()))
            .unwrap_or_default();
        self.check().map_err(|e| format!("{line}{e}"))
    }

    fn check(&self) -> Result<(), String> {
        let Some(role) = self.role.as_ref().map(|r| r.value) else {
            return Err(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"
                    .into(),
            );
        };
        self.http.check()?;
        let custom_http = !is_default_http(&self.http);
        let kubeconfig = self
            .kubeconfig_file
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty());
        if self.api_server.is_some() && kubeconfig.is_some() {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        if kubeconfig.is_some() && custom_http {
            return Err(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
                    .into(),
            );
        }
        if self.api_server.is_none() && custom_http {
            return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
        }
        if self.api_server.is_some() && self.namespaces.own_namespace {
            return Err(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        if kubeconfig.is_some() && self.namespaces.own_namespace {
            return Err(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        if let Some(server) = &self.api_server {
            api_base(&server.value)?;
        }
        let mut seen = Vec::new();
        for selector in &self.selectors {
            if seen.contains(&selector.role) {
                let name = selector.role.map_or("", Role::as_str);
                return Err(format!("duplicated selector role: {name}"));
            }
            seen.push(selector.role);
            let allowed = role.selector_roles();
            if !selector.role.is_some_and(|r| allowed.contains(&r)) {
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                return Err(format!(
                    "{} role supports only {} selectors",
                    role.as_str(),
                    names.join(", ")
                ));
            }
            check_field_selector(&selector.field)?;
            check_label_selector(&selector.label)?;
        }
        Ok(())
    }
}

/// Whether a section's HTTP client settings are Prometheus's defaults (no custom client).
fn is_default_http(h: &HttpClientConfig) -> bool {
    let t = &h.tls_config;
    h.basic_auth.is_none()
        && h.authorization.is_none()
        && h.oauth2.is_none()
        && h.bearer_token.is_none()
        && h.bearer_token_file.is_none()
        && h.proxy_url.is_none()
        && h.proxy_connect_header.is_empty()
        && h.follow_redirects
        && h.enable_http2
        && t.ca_file.is_none()
        && t.cert_file.is_none()
        && t.key_file.is_none()
        && t.server_name.is_none()
        && !t.insecure_skip_verify
}

/// The base URL requests go to. A server written without a scheme (`kubernetes:443`) is
/// reached over plain HTTP, as client-go reaches a host without one when no TLS is
/// configured on it (Prometheus's `api_server` client carries its TLS in its own transport).
fn api_base(server: &str) -> Result<String, String> {
    if server.is_empty() {
        return Err("api_server is empty; remove it to use the in-cluster service account".into());
    }
    let url = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("api_server {server:?} must be an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("api_server {server:?} has no host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Checks a field selector as Kubernetes parses one: terms separated by commas (`\`
/// escapes), each `field=value`, `field==value` or `field!=value`.
fn check_field_selector(selector: &str) -> Result<(), String> {
    let mut terms = Vec::new();
    let mut term = String::new();
    let mut chars = selector.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                term.push(c);
                if let Some(next) = chars.next() {
                    term.push(next);
                }
            }
            ',' => terms.push(std::mem::take(&mut term)),
            c => term.push(c),
        }
    }
    terms.push(term);
    for term in terms.iter().filter(|t| !t.is_empty()) {
        // "!=" and "==" both hold "=": a term without "=" has no operator.
        if !term.contains('=') {
            return Err(format!(
                "invalid selector: '{selector}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

/// Checks a label selector as Kubernetes parses one: requirements separated by commas,
/// each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`,
/// `key notin (v1,v2)`, `key>n` or `key<n`; keys are qualified names (an optional DNS
/// subdomain prefix and `/`), values at most 63 characters of `[A-Za-z0-9_.-]`, starting and
/// ending alphanumeric.
fn check_label_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Ok(());
    }
    let fail = |why: String| format!("unable to parse label selector {selector:?}: {why}");
    // Split at the commas outside parentheses.
    let mut requirements = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                requirements.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    requirements.push(&selector[start..]);
    for requirement in requirements {
        let r = requirement.trim();
        if r.is_empty() {
            return Err(fail("an empty requirement; remove the extra comma".into()));
        }
        if let Some(key) = r.strip_prefix('!') {
            check_label_key(key.trim()).map_err(fail)?;
            continue;
        }
        let end = r
            .find(|c: char| "!=<>(),".contains(c) || c.is_whitespace())
            .unwrap_or(r.len());
        let (key, rest) = r.split_at(end);
        check_label_key(key).map_err(fail)?;
        let rest = rest.trim_start();
        if rest.is_empty() {
            continue;
        }
        let value = ["!=", "==", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op));
        if let Some(value) = value {
            check_label_value(value.trim()).map_err(fail)?;
            continue;
        }
        if let Some(n) = rest.strip_prefix('>').or_else(|| rest.strip_prefix('<')) {
            n.trim().parse::<i64>().map_err(|_| {
                fail(format!(
                    "{:?}: for 'Gt', 'Lt' operators, the value must be an integer",
                    n.trim()
                ))
            })?;
            continue;
        }
        let set = rest
            .strip_prefix("notin")
            .or_else(|| rest.strip_prefix("in"))
            .map(str::trim_start)
            .and_then(|s| s.strip_prefix('('))
            .and_then(|s| s.trim_end().strip_suffix(')'));
        let Some(set) = set else {
            return Err(fail(format!(
                "{r:?}: expected one of =, ==, !=, in, notin, <, > after {key:?}"
            )));
        };
        if set.trim().is_empty() {
            return Err(fail(
                "for 'in', 'notin' operators, values set can't be empty".into(),
            ));
        }
        for value in set.split(',') {
            check_label_value(value.trim()).map_err(fail)?;
        }
    }
    Ok(())
}

/// A label key: `[prefix/]name`, the name at most 63 characters.
fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let subdomain = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !subdomain {
            return Err(format!(
                "key {key:?}: the prefix must be a DNS subdomain (lowercase letters, digits, '-' and '.')"
            ));
        }
    }
    if name.is_empty() || !is_label_value(name) {
        return Err(format!(
            "key {key:?}: a name must be 1 to 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn check_label_value(value: &str) -> Result<(), String> {
    if is_label_value(value) {
        Ok(())
    } else {
        Err(format!(
            "value {value:?}: at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        ))
    }
}

fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    v.is_empty()
        || (v.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

// ---------------------------------------------------------------------------------------
// The provider.

/// How requests are authenticated.
enum Auth {
    /// By the section's own HTTP client settings (with `api_server`).
    Section(Box<HttpClientConfig>),
    /// A fixed `Authorization` header (a kubeconfig's token or basic authentication).
    Header(String),
    /// A bearer token read from a file at each refresh, as service account tokens rotate.
    TokenFile(PathBuf),
    /// None.
    None,
}

impl Auth {
    fn header(&self) -> Result<Option<String>, String> {
        match self {
            Auth::Section(http) => Ok(http.authorization_header()),
            Auth::Header(h) => Ok(Some(h.clone())),
            Auth::TokenFile(path) => std::fs::read_to_string(path)
                .map(|t| Some(format!("Bearer {}", t.trim())))
                .map_err(|e| format!("{}: cannot read the token: {e}", path.display())),
            Auth::None => Ok(None),
        }
    }
}

/// The API server and how to reach it.
struct Api {
    base: String,
    client: reqwest::Client,
    auth: Auth,
}

/// Which namespaces to list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Namespaces {
    All,
    These(Vec<String>),
}

/// `kubernetes_sd_configs`: lists the objects of a role at [`REFRESH_INTERVAL`].
pub(super) struct KubernetesSd {
    name: String,
    role: Role,
    api: Api,
    namespaces: Namespaces,
    selectors: HashMap<Role, (String, String)>,
    attach_node: bool,
}

impl KubernetesSd {
    pub(super) fn new(n: usize, config: &KubernetesSdConfig) -> Result<Self, String> {
        let name = format!("kubernetes_sd_configs[{n}]");
        let role = config
            .role
            .as_ref()
            .map(|r| r.value)
            .ok_or_else(|| format!("{name}: role missing"))?;
        let kubeconfig = config
            .kubeconfig_file
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty());
        let mut own_namespace = None;
        let api = if let Some(path) = kubeconfig {
            from_kubeconfig(path)?
        } else if let Some(server) = &config.api_server {
            Api {
                base: api_base(&server.value)?,
                client: config.http.client()?,
                auth: Auth::Section(Box::new(config.http.clone())),
            }
        } else {
            let (api, namespace) = in_cluster(
                |key| std::env::var(key).ok(),
                Path::new(SERVICE_ACCOUNT_DIR),
                config.namespaces.own_namespace,
            )?;
            own_namespace = namespace;
            api
        };
        // As Prometheus's getNamespaces: no names and no own namespace means all of them.
        let ns = &config.namespaces;
        let namespaces = if ns.names.is_empty() && !ns.own_namespace {
            Namespaces::All
        } else {
            let mut names = ns.names.clone();
            names.extend(own_namespace.filter(|n| !n.is_empty()));
            Namespaces::These(names)
        };
        let selectors = config
            .selectors
            .iter()
            .filter_map(|s| Some((s.role?, (s.label.clone(), s.field.clone()))))
            .collect();
        Ok(Self {
            name,
            role,
            api,
            namespaces,
            selectors,
            attach_node: config.attach_metadata.node,
        })
    }
}

impl Provider for KubernetesSd {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> Duration {
        REFRESH_INTERVAL
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let groups = self.groups().await?;
            Ok(groups.into_iter().flat_map(Group::flatten).collect())
        })
    }
}

/// The in-cluster configuration, as client-go's `InClusterConfig` reads it: the API
/// server from the environment, the service account's token and CA from `dir`, and its
/// namespace when `own_namespace` asks for it.
fn in_cluster(
    env: impl Fn(&str) -> Option<String>,
    dir: &Path,
    own_namespace: bool,
) -> Result<(Api, Option<String>), String> {
    let (Some(host), Some(port)) = (
        env("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty()),
        env("KUBERNETES_SERVICE_PORT").filter(|p| !p.is_empty()),
    ) else {
        return Err("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined; outside a cluster, set api_server or kubeconfig_file".into());
    };
    let token = dir.join("token");
    std::fs::metadata(&token).map_err(|e| {
        format!(
            "{}: cannot read the service account token: {e}",
            token.display()
        )
    })?;
    let ca = dir.join("ca.crt");
    let ca_pem =
        std::fs::read(&ca).map_err(|e| format!("{}: cannot read the CA: {e}", ca.display()))?;
    let tls = crate::tls::client_config_pem(&PemTls {
        what: ca.display().to_string(),
        ca: Some(ca_pem),
        ..PemTls::default()
    })?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("Skywatch/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let namespace = if own_namespace {
        let file = dir.join("namespace");
        let name = std::fs::read_to_string(&file).map_err(|e| {
            format!(
                "could not determine the pod's namespace: {}: {e}",
                file.display()
            )
        })?;
        if name.is_empty() {
            return Err("could not read own namespace name (empty file)".into());
        }
        Some(name)
    } else {
        None
    };
    Ok((
        Api {
            base: format!("https://{}", join_host_port(&host, &port)),
            client,
            auth: Auth::TokenFile(token),
        },
        namespace,
    ))
}

/// The parts of a kubeconfig file this reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KubeConfig {
    clusters: Vec<NamedCluster>,
    users: Vec<NamedUser>,
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context")]
    current_context: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<serde::de::IgnoredAny>,
    auth_provider: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

/// The API server of a kubeconfig's current context, with its credentials. Relative paths
/// in the file are relative to the file's directory, as kubectl reads them.
fn from_kubeconfig(path: &Path) -> Result<Api, String> {
    let at = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{at}: cannot read it: {e}"))?;
    let config: KubeConfig = yaml::from_str(&text).map_err(|e| format!("{at}: {e}"))?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == config.current_context)
        .map(|c| &c.context)
        .ok_or_else(|| {
            format!(
                "{at}: the current context {:?} is not among the contexts; set current-context",
                config.current_context
            )
        })?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .map(|c| &c.cluster)
        .ok_or_else(|| format!("{at}: cluster {:?} is not defined", context.cluster))?;
    let no_user = User::default();
    let user = if context.user.is_empty() {
        &no_user
    } else {
        config
            .users
            .iter()
            .find(|u| u.name == context.user)
            .map(|u| &u.user)
            .ok_or_else(|| format!("{at}: user {:?} is not defined", context.user))?
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(format!(
            "{at}: user {:?} authenticates with an exec or auth-provider plugin, which Skywatch does not run; use a token or a client certificate",
            context.user
        ));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let file = |p: &PathBuf| {
        let p = dir.join(p);
        std::fs::read(&p).map_err(|e| format!("{at}: {}: cannot read it: {e}", p.display()))
    };
    let data = |what: &str, d: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map_err(|e| format!("{at}: {what} is not base64: {e}"))
    };
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(d), _) => Some(data("certificate-authority-data", d)?),
        (None, Some(p)) => Some(file(p)?),
        (None, None) => None,
    };
    let cert = match (&user.client_certificate_data, &user.client_certificate) {
        (Some(d), _) => Some(data("client-certificate-data", d)?),
        (None, Some(p)) => Some(file(p)?),
        (None, None) => None,
    };
    let key = match (&user.client_key_data, &user.client_key) {
        (Some(d), _) => Some(data("client-key-data", d)?),
        (None, Some(p)) => Some(file(p)?),
        (None, None) => None,
    };
    let identity = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(format!(
                "{at}: user {:?} has a client certificate without a key, or a key without a certificate",
                context.user
            ));
        }
    };
    let tls = crate::tls::client_config_pem(&PemTls {
        what: at.to_string(),
        ca,
        identity,
        server_name: cluster.tls_server_name.clone(),
        insecure_skip_verify: cluster.insecure_skip_tls_verify,
    })?;
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("Skywatch/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls);
    builder = match &cluster.proxy_url {
        Some(url) => builder.proxy(
            reqwest::Proxy::all(url.as_str())
                .map_err(|e| format!("{at}: proxy-url {url:?} is not a proxy URL: {e}"))?,
        ),
        None => builder.no_proxy(),
    };
    let client = builder
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let auth = match (&user.token, &user.token_file, &user.username) {
        (Some(token), _, _) if !token.is_empty() => Auth::Header(format!("Bearer {token}")),
        (_, Some(file), _) => Auth::TokenFile(dir.join(file)),
        (_, _, Some(username)) => {
            use base64::Engine as _;
            let password = user.password.as_deref().unwrap_or("");
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            Auth::Header(format!("Basic {basic}"))
        }
        _ => Auth::None,
    };
    let base = api_base(&cluster.server).map_err(|e| format!("{at}: cluster server: {e}"))?;
    Ok(Api { base, client, auth })
}

/// `host:port`, the host in brackets when it is an IPv6 address, as Go's `JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---------------------------------------------------------------------------------------
// Listing.

/// A list response: the objects, and where the next page starts.
#[derive(Debug, Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListMeta {
    #[serde(rename = "continue")]
    next: Option<String>,
}

/// The API's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    message: String,
}

/// Where a resource is listed: its API group's path and its plural name.
#[derive(Debug, Clone, Copy)]
struct Resource {
    api: &'static str,
    plural: &'static str,
}

const NODES: Resource = Resource {
    api: "/api/v1",
    plural: "nodes",
};
const PODS: Resource = Resource {
    api: "/api/v1",
    plural: "pods",
};
const SERVICES: Resource = Resource {
    api: "/api/v1",
    plural: "services",
};
const ENDPOINTS: Resource = Resource {
    api: "/api/v1",
    plural: "endpoints",
};
const ENDPOINT_SLICES: Resource = Resource {
    api: "/apis/discovery.k8s.io/v1",
    plural: "endpointslices",
};
const INGRESSES: Resource = Resource {
    api: "/apis/networking.k8s.io/v1",
    plural: "ingresses",
};

impl KubernetesSd {
    /// Every object of `resource` in the configured namespaces (nodes have none), narrowed
    /// by the selectors of `role`.
    async fn list<T: DeserializeOwned>(
        &self,
        resource: Resource,
        role: Role,
        namespaced: bool,
    ) -> Result<Vec<T>, String> {
        let paths = match (&self.namespaces, namespaced) {
            (Namespaces::These(names), true) => names
                .iter()
                .map(|ns| format!("{}/namespaces/{ns}/{}", resource.api, resource.plural))
                .collect(),
            _ => vec![format!("{}/{}", resource.api, resource.plural)],
        };
        let (label, field) = self.selectors.get(&role).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for path in paths {
            let mut next: Option<String> = None;
            loop {
                // The serializer is not Send: it is dropped before the request is awaited.
                let query = {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    if !label.is_empty() {
                        query.append_pair("labelSelector", &label);
                    }
                    if !field.is_empty() {
                        query.append_pair("fieldSelector", &field);
                    }
                    query.append_pair("limit", PAGE_SIZE);
                    if let Some(token) = &next {
                        query.append_pair("continue", token);
                    }
                    query.finish()
                };
                let url = format!("{}{path}?{query}", self.api.base);
                let page: List<T> = self.get(&url).await?;
                out.extend(page.items);
                match page.metadata.next.filter(|t| !t.is_empty()) {
                    Some(token) => next = Some(token),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut request = self
            .api
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(REFRESH_INTERVAL);
        if let Some(auth) = self.api.auth.header()? {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Status>(&body)
                .map(|s| s.message)
                .unwrap_or_default();
            return Err(format!(
                "{url}: server returned HTTP status {status}{}{message}",
                if message.is_empty() { "" } else { ": " }
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: line {}, column {}: {e}", e.line(), e.column()))
    }

    /// The target groups of every object of the role now.
    async fn groups(&self) -> Result<Vec<Group>, String> {
        // Only the roles that join pods or addresses with nodes read them, as in Prometheus.
        let joins_nodes = matches!(self.role, Role::Pod | Role::Endpoints | Role::EndpointSlice);
        let nodes = if self.attach_node && joins_nodes {
            let nodes: Vec<Node> = self.list(NODES, Role::Node, false).await?;
            nodes
                .into_iter()
                .map(|n| (n.metadata.name.clone(), n))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(match self.role {
            Role::Node => {
                let nodes: Vec<Node> = self.list(NODES, Role::Node, false).await?;
                nodes.iter().filter_map(build_node).collect()
            }
            Role::Service => {
                let services: Vec<Service> = self.list(SERVICES, Role::Service, true).await?;
                services.iter().map(build_service).collect()
            }
            Role::Pod => {
                let pods: Vec<Pod> = self.list(PODS, Role::Pod, true).await?;
                let nodes = self.attach_node.then_some(&nodes);
                pods.iter().map(|p| build_pod(p, nodes)).collect()
            }
            Role::Ingress => {
                let ingresses: Vec<Ingress> = self.list(INGRESSES, Role::Ingress, true).await?;
                ingresses.iter().map(build_ingress).collect()
            }
            Role::Endpoints | Role::EndpointSlice => {
                let services: Vec<Service> = self.list(SERVICES, Role::Service, true).await?;
                let pods: Vec<Pod> = self.list(PODS, Role::Pod, true).await?;
                let related = Related {
                    services: services
                        .into_iter()
                        .map(|s| ((s.metadata.namespace.clone(), s.metadata.name.clone()), s))
                        .collect(),
                    pods: pods
                        .into_iter()
                        .map(|p| ((p.metadata.namespace.clone(), p.metadata.name.clone()), p))
                        .collect(),
                    nodes: self.attach_node.then_some(nodes),
                };
                if self.role == Role::Endpoints {
                    let all: Vec<Endpoints> = self.list(ENDPOINTS, Role::Endpoints, true).await?;
                    all.iter().map(|e| build_endpoints(e, &related)).collect()
                } else {
                    let all: Vec<EndpointSlice> = self
                        .list(ENDPOINT_SLICES, Role::EndpointSlice, true)
                        .await?;
                    all.iter()
                        .map(|e| build_endpoint_slice(e, &related))
                        .collect()
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// The objects, as much of them as the labels need (fields absent from the JSON are empty).

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ObjectMeta {
    name: String,
    namespace: String,
    uid: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owner_references: Vec<OwnerReference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OwnerReference {
    kind: String,
    name: String,
    controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ObjectReference {
    kind: String,
    namespace: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Node {
    metadata: ObjectMeta,
    spec: NodeSpec,
    status: NodeStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeSpec {
    #[serde(rename = "providerID")]
    provider_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NodeStatus {
    addresses: Vec<NodeAddress>,
    daemon_endpoints: DaemonEndpoints,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeAddress {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DaemonEndpoints {
    kubelet_endpoint: KubeletEndpoint,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct KubeletEndpoint {
    port: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Pod {
    metadata: ObjectMeta,
    spec: PodSpec,
    status: PodStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    node_name: String,
    containers: Vec<Container>,
    init_containers: Vec<Container>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Container {
    name: String,
    image: String,
    ports: Vec<ContainerPort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerPort {
    name: String,
    container_port: i64,
    protocol: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodStatus {
    phase: String,
    #[serde(rename = "podIP")]
    pod_ip: String,
    #[serde(rename = "hostIP")]
    host_ip: String,
    conditions: Vec<PodCondition>,
    container_statuses: Vec<ContainerStatus>,
    init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PodCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContainerStatus {
    name: String,
    #[serde(rename = "containerID")]
    container_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Service {
    metadata: ObjectMeta,
    spec: ServiceSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ServiceSpec {
    ports: Vec<ServicePort>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "clusterIP")]
    cluster_ip: String,
    external_name: String,
    #[serde(rename = "loadBalancerIP")]
    load_balancer_ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServicePort {
    name: String,
    port: i64,
    protocol: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Endpoints {
    metadata: ObjectMeta,
    subsets: Vec<EndpointSubset>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EndpointSubset {
    addresses: Vec<EndpointAddress>,
    not_ready_addresses: Vec<EndpointAddress>,
    ports: Vec<ServicePort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EndpointAddress {
    ip: String,
    hostname: String,
    node_name: Option<String>,
    target_ref: Option<ObjectReference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct EndpointSlice {
    metadata: ObjectMeta,
    address_type: String,
    endpoints: Vec<SliceEndpoint>,
    ports: Vec<SlicePort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SliceEndpoint {
    addresses: Vec<String>,
    conditions: SliceConditions,
    hostname: Option<String>,
    target_ref: Option<ObjectReference>,
    node_name: Option<String>,
    deprecated_topology: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SliceConditions {
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SlicePort {
    name: Option<String>,
    port: Option<i64>,
    protocol: Option<String>,
    app_protocol: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Ingress {
    metadata: ObjectMeta,
    spec: IngressSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IngressSpec {
    ingress_class_name: Option<String>,
    tls: Vec<IngressTls>,
    rules: Vec<IngressRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressTls {
    hosts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressRule {
    host: String,
    http: Option<IngressHttp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressHttp {
    paths: Vec<IngressPath>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IngressPath {
    path: String,
}

// ---------------------------------------------------------------------------------------
// Targets, as Prometheus builds them.

type LabelSet = BTreeMap<String, String>;

const PREFIX: &str = "__meta_kubernetes_";

/// A Prometheus target group: the object's labels, and each target's.
#[derive(Debug, Default)]
struct Group {
    labels: LabelSet,
    targets: Vec<LabelSet>,
}

impl Group {
    /// One group per target, its labels over the group's.
    fn flatten(self) -> impl Iterator<Item = StaticConfig> {
        let shared = self.labels;
        self.targets.into_iter().map(move |mut target| {
            let address = target.remove("__address__").unwrap_or_default();
            let mut labels = shared.clone();
            labels.extend(target);
            StaticConfig {
                targets: vec![address],
                labels,
            }
        })
    }
}

/// A label name from a Kubernetes key: every character but ASCII letters, digits and `_`
/// becomes `_`, as Prometheus's `SanitizeLabelName`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn set(ls: &mut LabelSet, name: &str, value: impl Into<String>) {
    ls.insert(format!("{PREFIX}{name}"), value.into());
}

/// `<kind>_label_<name>` and `<kind>_labelpresent_<name>` for each of `labels`.
fn add_labels(ls: &mut LabelSet, kind: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let name = sanitize(k);
        set(ls, &format!("{kind}_label_{name}"), v);
        set(ls, &format!("{kind}_labelpresent_{name}"), "true");
    }
}

/// `<kind>_annotation_<name>` and `<kind>_annotationpresent_<name>` for each annotation.
fn add_annotations(ls: &mut LabelSet, kind: &str, annotations: &BTreeMap<String, String>) {
    for (k, v) in annotations {
        let name = sanitize(k);
        set(ls, &format!("{kind}_annotation_{name}"), v);
        set(ls, &format!("{kind}_annotationpresent_{name}"), "true");
    }
}

fn node_labels(node: &Node) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, "node_name", &node.metadata.name);
    set(&mut ls, "node_provider_id", &node.spec.provider_id);
    add_labels(&mut ls, "node", &node.metadata.labels);
    add_annotations(&mut ls, "node", &node.metadata.annotations);
    ls
}

/// Node targets: the first address by Kubernetes's priority, at the kubelet's port; every
/// address type's first address as a label. A node without addresses has no target.
fn build_node(node: &Node) -> Option<Group> {
    let first = |kind: &str| {
        node.status
            .addresses
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.address.as_str())
    };
    let Some(address) = [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ]
    .into_iter()
    .find_map(first) else {
        tracing::warn!(node = %node.metadata.name, "no node address found; the node is not a target");
        return None;
    };
    let port = node
        .status
        .daemon_endpoints
        .kubelet_endpoint
        .port
        .to_string();
    let mut target = LabelSet::new();
    target.insert("__address__".into(), join_host_port(address, &port));
    target.insert("instance".into(), node.metadata.name.clone());
    for a in &node.status.addresses {
        let name = sanitize(&format!("{PREFIX}node_address_{}", a.kind));
        target.entry(name).or_insert_with(|| a.address.clone());
    }
    Some(Group {
        labels: node_labels(node),
        targets: vec![target],
    })
}

fn service_labels(svc: &Service) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, "service_name", &svc.metadata.name);
    set(&mut ls, "namespace", &svc.metadata.namespace);
    add_labels(&mut ls, "service", &svc.metadata.labels);
    add_annotations(&mut ls, "service", &svc.metadata.annotations);
    ls
}

/// Service targets: one per port, at the service's cluster DNS name.
fn build_service(svc: &Service) -> Group {
    let meta = &svc.metadata;
    let spec = &svc.spec;
    let targets = spec
        .ports
        .iter()
        .map(|port| {
            let number = port.port.to_string();
            let host = format!("{}.{}.svc", meta.name, meta.namespace);
            let mut t = LabelSet::new();
            t.insert("__address__".into(), join_host_port(&host, &number));
            set(&mut t, "service_port_name", &port.name);
            set(&mut t, "service_port_number", number);
            set(&mut t, "service_port_protocol", &port.protocol);
            set(&mut t, "service_type", &spec.kind);
            if spec.kind == "ExternalName" {
                set(&mut t, "service_external_name", &spec.external_name);
            } else {
                set(&mut t, "service_cluster_ip", &spec.cluster_ip);
            }
            if spec.kind == "LoadBalancer" {
                set(&mut t, "service_loadbalancer_ip", &spec.load_balancer_ip);
            }
            t
        })
        .collect();
    Group {
        labels: service_labels(svc),
        targets,
    }
}

/// The labels of a pod that every target of it carries.
fn pod_labels(pod: &Pod) -> LabelSet {
    let mut ls = LabelSet::new();
    set(&mut ls, "pod_name", &pod.metadata.name);
    set(&mut ls, "pod_ip", &pod.status.pod_ip);
    let ready = pod
        .status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map_or("unknown".to_owned(), |c| c.status.to_lowercase());
    set(&mut ls, "pod_ready", ready);
    set(&mut ls, "pod_phase", &pod.status.phase);
    set(&mut ls, "pod_node_name", &pod.spec.node_name);
    set(&mut ls, "pod_host_ip", &pod.status.host_ip);
    set(&mut ls, "pod_uid", &pod.metadata.uid);
    if let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
    {
        if !owner.kind.is_empty() {
            set(&mut ls, "pod_controller_kind", &owner.kind);
        }
        if !owner.name.is_empty() {
            set(&mut ls, "pod_controller_name", &owner.name);
        }
    }
    add_labels(&mut ls, "pod", &pod.metadata.labels);
    add_annotations(&mut ls, "pod", &pod.metadata.annotations);
    ls
}

/// The labels `attach_metadata.node` adds: the node's name and labels (not its
/// annotations), when the node is known.
fn add_node_labels(ls: &mut LabelSet, nodes: &HashMap<String, Node>, name: Option<&str>) {
    let Some(node) = name.and_then(|n| nodes.get(n)) else {
        return;
    };
    set(ls, "node_name", &node.metadata.name);
    add_labels(ls, "node", &node.metadata.labels);
}

/// Pod targets: one per container port, and one per container without ports at the bare
/// pod IP; init containers after the others. A pod without an IP yet has none.
fn build_pod(pod: &Pod, nodes: Option<&HashMap<String, Node>>) -> Group {
    let ip = &pod.status.pod_ip;
    if ip.is_empty() {
        return Group::default();
    }
    let mut labels = pod_labels(pod);
    set(&mut labels, "namespace", &pod.metadata.namespace);
    if let Some(nodes) = nodes {
        add_node_labels(&mut labels, nodes, Some(&pod.spec.node_name));
    }
    let containers = pod.spec.containers.iter().map(|c| (c, false));
    let init = pod.spec.init_containers.iter().map(|c| (c, true));
    let mut targets = Vec::new();
    for (c, is_init) in containers.chain(init) {
        let statuses = if is_init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let id = statuses
            .iter()
            .find(|s| s.name == c.name)
            .map_or("", |s| s.container_id.as_str());
        let mut base = LabelSet::new();
        set(&mut base, "pod_container_name", &c.name);
        set(&mut base, "pod_container_id", id);
        set(&mut base, "pod_container_image", &c.image);
        set(&mut base, "pod_container_init", is_init.to_string());
        if c.ports.is_empty() {
            base.insert("__address__".into(), ip.clone());
            targets.push(base);
            continue;
        }
        for port in &c.ports {
            let number = port.container_port.to_string();
            let mut t = base.clone();
            t.insert("__address__".into(), join_host_port(ip, &number));
            set(&mut t, "pod_container_port_number", number);
            set(&mut t, "pod_container_port_name", &port.name);
            set(&mut t, "pod_container_port_protocol", &port.protocol);
            targets.push(t);
        }
    }
    Group { labels, targets }
}

/// What endpoints and endpoint slices are joined with.
struct Related {
    services: HashMap<(String, String), Service>,
    pods: HashMap<(String, String), Pod>,
    /// The nodes, with `attach_metadata.node`.
    nodes: Option<HashMap<String, Node>>,
}

impl Related {
    fn pod(&self, reference: Option<&ObjectReference>) -> Option<&Pod> {
        let r = reference.filter(|r| r.kind == "Pod")?;
        self.pods.get(&(r.namespace.clone(), r.name.clone()))
    }
}

/// The pods an endpoints object or slice refers to, in order of first reference, with the
/// ports their endpoints cover.
#[derive(Default)]
struct SeenPods<'a> {
    pods: Vec<(&'a Pod, Vec<Option<i64>>)>,
}

impl<'a> SeenPods<'a> {
    fn add(&mut self, pod: &'a Pod, port: Option<i64>) {
        match self.pods.iter_mut().find(|(p, _)| std::ptr::eq(*p, pod)) {
            Some((_, ports)) => ports.push(port),
            None => self.pods.push((pod, vec![port])),
        }
    }

    /// A target for each container port of the pods that no endpoint covered.
    fn uncovered(&self, targets: &mut Vec<LabelSet>) {
        for (pod, covered) in &self.pods {
            for c in &pod.spec.containers {
                for port in &c.ports {
                    if covered.contains(&Some(port.container_port)) {
                        continue;
                    }
                    let number = port.container_port.to_string();
                    let mut t = LabelSet::new();
                    t.insert(
                        "__address__".into(),
                        join_host_port(&pod.status.pod_ip, &number),
                    );
                    set(&mut t, "pod_container_name", &c.name);
                    set(&mut t, "pod_container_image", &c.image);
                    set(&mut t, "pod_container_port_name", &port.name);
                    set(&mut t, "pod_container_port_number", number);
                    set(&mut t, "pod_container_port_protocol", &port.protocol);
                    t.extend(pod_labels(pod));
                    targets.push(t);
                }
            }
        }
    }
}

/// Endpoints targets: one per address and port (not-ready addresses too, `ready` false),
/// joined with the service of the same name and the pod each address refers to.
fn build_endpoints(eps: &Endpoints, related: &Related) -> Group {
    let meta = &eps.metadata;
    let mut labels = LabelSet::new();
    set(&mut labels, "namespace", &meta.namespace);
    set(&mut labels, "endpoints_name", &meta.name);
    if let Some(svc) = related
        .services
        .get(&(meta.namespace.clone(), meta.name.clone()))
    {
        labels.extend(service_labels(svc));
    }
    for (k, v) in &meta.labels {
        let name = sanitize(k);
        set(&mut labels, &format!("endpoints_label_{name}"), v);
        set(
            &mut labels,
            &format!("endpoints_labelpresent_{name}"),
            "true",
        );
    }
    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for subset in &eps.subsets {
        for port in &subset.ports {
            let ready = subset.addresses.iter().map(|a| (a, "true"));
            let not_ready = subset.not_ready_addresses.iter().map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let number = port.port.to_string();
                let mut t = LabelSet::new();
                t.insert("__address__".into(), join_host_port(&addr.ip, &number));
                set(&mut t, "endpoint_port_name", &port.name);
                set(&mut t, "endpoint_port_protocol", &port.protocol);
                set(&mut t, "endpoint_ready", ready);
                if let Some(r) = &addr.target_ref {
                    set(&mut t, "endpoint_address_target_kind", &r.kind);
                    set(&mut t, "endpoint_address_target_name", &r.name);
                }
                if let Some(node) = &addr.node_name {
                    set(&mut t, "endpoint_node_name", node);
                }
                if !addr.hostname.is_empty() {
                    set(&mut t, "endpoint_hostname", &addr.hostname);
                }
                if let Some(nodes) = &related.nodes {
                    add_node_labels(&mut t, nodes, addr.node_name.as_deref());
                }
                if let Some(pod) = related.pod(addr.target_ref.as_ref()) {
                    seen.add(pod, Some(port.port));
                    t.extend(pod_labels(pod));
                    // The container port the endpoint port is, if any; the protocol is
                    // the endpoint port's, as Prometheus 2.42 takes it.
                    if let Some((c, cport)) = container_port(pod, port.port) {
                        set(&mut t, "pod_container_name", &c.name);
                        set(&mut t, "pod_container_image", &c.image);
                        set(&mut t, "pod_container_port_name", &cport.name);
                        set(&mut t, "pod_container_port_number", number);
                        set(&mut t, "pod_container_port_protocol", &port.protocol);
                    }
                }
                targets.push(t);
            }
        }
    }
    seen.uncovered(&mut targets);
    Group { labels, targets }
}

/// The last container, in order, one of whose ports is `port` (each container's first
/// such port): Prometheus overwrites the labels for each container that has it.
fn container_port(pod: &Pod, port: i64) -> Option<(&Container, &ContainerPort)> {
    pod.spec
        .containers
        .iter()
        .filter_map(|c| {
            c.ports
                .iter()
                .find(|p| p.container_port == port)
                .map(|p| (c, p))
        })
        .next_back()
}

/// Endpoint slice targets: one per endpoint address and port, joined with the service the
/// slice's `kubernetes.io/service-name` label names and the pod each endpoint refers to.
fn build_endpoint_slice(eps: &EndpointSlice, related: &Related) -> Group {
    let meta = &eps.metadata;
    let mut labels = LabelSet::new();
    set(&mut labels, "namespace", &meta.namespace);
    set(&mut labels, "endpointslice_name", &meta.name);
    set(&mut labels, "endpointslice_address_type", &eps.address_type);
    if let Some(svc) = meta
        .labels
        .get("kubernetes.io/service-name")
        .and_then(|name| {
            related
                .services
                .get(&(meta.namespace.clone(), name.clone()))
        })
    {
        labels.extend(service_labels(svc));
    }
    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for ep in &eps.endpoints {
        for port in &eps.ports {
            for addr in &ep.addresses {
                let mut t = LabelSet::new();
                let address = match port.port {
                    Some(p) => join_host_port(addr, &p.to_string()),
                    None => addr.clone(),
                };
                t.insert("__address__".into(), address);
                if let Some(name) = &port.name {
                    set(&mut t, "endpointslice_port_name", name);
                }
                if let Some(protocol) = &port.protocol {
                    set(&mut t, "endpointslice_port_protocol", protocol);
                }
                if let Some(p) = port.port {
                    set(&mut t, "endpointslice_port", p.to_string());
                }
                if let Some(app) = &port.app_protocol {
                    set(&mut t, "endpointslice_port_app_protocol", app);
                }
                let c = &ep.conditions;
                for (name, value) in [
                    ("ready", c.ready),
                    ("serving", c.serving),
                    ("terminating", c.terminating),
                ] {
                    if let Some(v) = value {
                        set(
                            &mut t,
                            &format!("endpointslice_endpoint_conditions_{name}"),
                            v.to_string(),
                        );
                    }
                }
                if let Some(hostname) = &ep.hostname {
                    set(&mut t, "endpointslice_endpoint_hostname", hostname);
                }
                if let Some(r) = &ep.target_ref {
                    set(&mut t, "endpointslice_address_target_kind", &r.kind);
                    set(&mut t, "endpointslice_address_target_name", &r.name);
                }
                for (k, v) in &ep.deprecated_topology {
                    let name = sanitize(k);
                    set(
                        &mut t,
                        &format!("endpointslice_endpoint_topology_{name}"),
                        v,
                    );
                    set(
                        &mut t,
                        &format!("endpointslice_endpoint_topology_present_{name}"),
                        "true",
                    );
                }
                if let Some(nodes) = &related.nodes {
                    add_node_labels(&mut t, nodes, ep.node_name.as_deref());
                }
                if let Some(pod) = related.pod(ep.target_ref.as_ref()) {
                    seen.add(pod, port.port);
                    t.extend(pod_labels(pod));
                    // Here the protocol is the container port's, as Prometheus 2.42 takes it.
                    if let Some((c, cport)) = port.port.and_then(|p| container_port(pod, p)) {
                        set(&mut t, "pod_container_name", &c.name);
                        set(&mut t, "pod_container_image", &c.image);
                        set(&mut t, "pod_container_port_name", &cport.name);
                        set(
                            &mut t,
                            "pod_container_port_number",
                            cport.container_port.to_string(),
                        );
                        set(&mut t, "pod_container_port_protocol", &cport.protocol);
                    }
                }
                targets.push(t);
            }
        }
    }
    seen.uncovered(&mut targets);
    Group { labels, targets }
}

/// Whether `host` matches a TLS host pattern: equal, or `*.rest` with one first label of
/// any name.
fn matches_host_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p.first() == Some(&"*") && p.len() == h.len() && p[1..] == h[1..]
}

fn ingress_labels(ingress: &Ingress) -> LabelSet {
    let meta = &ingress.metadata;
    let mut ls = LabelSet::new();
    set(&mut ls, "ingress_name", &meta.name);
    set(&mut ls, "namespace", &meta.namespace);
    if let Some(class) = &ingress.spec.ingress_class_name {
        set(&mut ls, "ingress_class_name", class);
    }
    add_labels(&mut ls, "ingress", &meta.labels);
    add_annotations(&mut ls, "ingress", &meta.annotations);
    ls
}

/// Ingress targets: one per rule and path (`/` for a rule without `http`), at the rule's
/// host, `https` when a TLS entry covers the host.
fn build_ingress(ingress: &Ingress) -> Group {
    let tls_hosts: Vec<&str> = ingress
        .spec
        .tls
        .iter()
        .flat_map(|t| t.hosts.iter().map(String::as_str))
        .collect();
    let mut targets = Vec::new();
    for rule in &ingress.spec.rules {
        let scheme = if tls_hosts
            .iter()
            .any(|p| matches_host_pattern(p, &rule.host))
        {
            "https"
        } else {
            "http"
        };
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| {
                    if p.path.is_empty() {
                        "/"
                    } else {
                        p.path.as_str()
                    }
                })
                .collect(),
        };
        for path in paths {
            let mut t = LabelSet::new();
            t.insert("__address__".into(), rule.host.clone());
            set(&mut t, "ingress_scheme", scheme);
            set(&mut t, "ingress_host", &rule.host);
            set(&mut t, "ingress_path", path);
            targets.push(t);
        }
    }
    Group {
        labels: ingress_labels(ingress),
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised_character_by_character() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("prometheus.io/scrape"), "prometheus_io_scrape");
        // One multi-byte character is one `_`, as Go's regexp replaces runes.
        assert_eq!(sanitize("zoné"), "zon_");
        assert_eq!(join_host_port("::1", "80"), "[::1]:80");
    }

    #[test]
    fn selectors_are_checked_as_kubernetes_parses_them() {
        for good in [
            "",
            "foo=bar",
            "foo==bar,baz!=qux",
            "foo in (bar,baz)",
            "foo notin (bar)",
            "!foo",
            "foo",
            "app.kubernetes.io/name=web",
            "x>1,y<2",
            "foo=",
        ] {
            check_label_selector(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
        for bad in [
            "foo in ()",
            "foo bar",
            "-foo=bar",
            "foo=bar,",
            "x>a",
            "Foo.Bar/x=1",
        ] {
            assert!(check_label_selector(bad).is_err(), "{bad:?} is refused");
        }
        check_field_selector("metadata.status=Running,spec.nodeName!=n1").unwrap();
        check_field_selector("").unwrap();
        assert_eq!(
            check_field_selector("metadata.status-Running").unwrap_err(),
            "invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'"
        );
    }

    #[test]
    fn ingress_tls_hosts_match_one_wildcard_label() {
        assert!(matches_host_pattern("*.example.com", "a.example.com"));
        assert!(!matches_host_pattern("*.example.com", "a.b.example.com"));
        assert!(matches_host_pattern("example.com", "example.com"));
        assert!(!matches_host_pattern("a.example.com", "b.example.com"));
    }

    #[test]
    fn in_cluster_reads_the_environment_and_the_service_account() {
        let dir = tempfile::tempdir().unwrap();
        let no_env = |_: &str| None;
        let e = in_cluster(no_env, dir.path(), false).err().unwrap();
        assert!(e.contains("KUBERNETES_SERVICE_HOST"), "{e}");

        let env = |key: &str| match key {
            "KUBERNETES_SERVICE_HOST" => Some("fd00::1".to_owned()),
            "KUBERNETES_SERVICE_PORT" => Some("6443".to_owned()),
            _ => None,
        };
        let e = in_cluster(env, dir.path(), false).err().unwrap();
        assert!(e.contains("token"), "names the missing token: {e}");

        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["kubernetes".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("token"), "tok-1\n").unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("namespace"), "monitoring").unwrap();
        let (api, namespace) = in_cluster(env, dir.path(), true).unwrap();
        assert_eq!(api.base, "https://[fd00::1]:6443");
        assert_eq!(namespace.as_deref(), Some("monitoring"));
        assert_eq!(api.auth.header().unwrap().as_deref(), Some("Bearer tok-1"));
        // The token is read again at each request: rotated tokens are picked up.
        std::fs::write(dir.path().join("token"), "tok-2").unwrap();
        assert_eq!(api.auth.header().unwrap().as_deref(), Some("Bearer tok-2"));
        let (_, none) = in_cluster(env, dir.path(), false).unwrap();
        assert_eq!(none, None, "the namespace is read only when asked for");
    }
}
