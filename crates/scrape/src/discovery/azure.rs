//! `azure_sd_configs`: Azure's virtual machines, those of scale sets included, as
//! Prometheus 2.42's Azure discovery finds them through Azure Resource Manager (ARM).
//!
//! Each refresh starts anew, as Prometheus makes a new Azure client at every refresh: a
//! token for ARM (an Azure AD client-credentials grant for `OAuth`, or the managed
//! identity endpoint for `ManagedIdentity`), then the machines, the scale sets and each
//! scale set's machines (API version 2018-10-01, following `nextLink`), then each machine's
//! network interfaces. A machine is a target at the private IP of the first IP
//! configuration of its primary interface; a machine whose interface is gone (404) or
//! deallocated (no `primary`) is left out, and any other failure fails the whole refresh,
//! as Prometheus's discovery is all or nothing.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use futures_util::future::join_all;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{
    ApiClient, Nullable, Provider, Refresh, default_client, get_json, join_host_port, path_escape,
    post_form, read_json, sanitize_label_name, target,
};
use crate::config::{Duration, StaticConfig, http_client};

/// The API version of every ARM request, as the SDK packages Prometheus 2.42 uses
/// (`compute` and `network` 2018-10-01).
const API_VERSION: &str = "2018-10-01";
/// The instance metadata service's token endpoint, for a managed identity on a machine.
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// How many times a managed identity's token is asked for before the refresh fails.
const MSI_ATTEMPTS: u32 = 5;

http_client! {
    /// `azure_sd_configs`: virtual machines and scale set machines of a subscription.
    pub struct AzureSdConfig {
        /// `AzurePublicCloud` (default), `AzureChinaCloud`, `AzureGermanCloud`,
        /// `AzureUSGovernmentCloud` or `AzureStackCloud` (any case).
        #[serde(default = "default_environment")]
        pub environment: String,
        /// `OAuth` (default: a client id and secret) or `ManagedIdentity`.
        #[serde(default = "default_authentication_method")]
        pub authentication_method: String,
        /// The subscription; required.
        #[serde(default)]
        pub subscription_id: String,
        /// The Azure AD tenant; required for `OAuth`.
        #[serde(default)]
        pub tenant_id: String,
        /// The application (or, with `ManagedIdentity`, the user-assigned identity).
        #[serde(default)]
        pub client_id: String,
        /// The application's secret; required for `OAuth`.
        #[serde(default)]
        pub client_secret: String,
        /// Limits discovery to this resource group.
        #[serde(default)]
        pub resource_group: String,
        /// How often to ask again (default 5m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
        /// The port of the targets (default 80).
        #[serde(default = "default_port")]
        pub port: u16,
    }
}

fn default_environment() -> String {
    "AzurePublicCloud".into()
}

fn default_authentication_method() -> String {
    OAUTH.into()
}

fn default_refresh_interval() -> Duration {
    Duration(300_000)
}

fn default_port() -> u16 {
    80
}

const OAUTH: &str = "OAuth";
const MANAGED_IDENTITY: &str = "ManagedIdentity";

impl AzureSdConfig {
    /// Checks the section as Prometheus does when it reads it: a subscription always, a
    /// tenant, client and secret for `OAuth`, and a known authentication method.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let required = |value: &str, name: &str| {
            if value.is_empty() {
                Err(format!("azure SD configuration requires a {name}"))
            } else {
                Ok(())
            }
        };
        required(&self.subscription_id, "subscription_id")?;
        if self.authentication_method == OAUTH {
            required(&self.tenant_id, "tenant_id")?;
            required(&self.client_id, "client_id")?;
            required(&self.client_secret, "client_secret")?;
        }
        if self.authentication_method != OAUTH && self.authentication_method != MANAGED_IDENTITY {
            return Err(format!(
                "unknown authentication_type {:?}. Supported types are {OAUTH:?} or {MANAGED_IDENTITY:?}",
                self.authentication_method
            ));
        }
        self.http.check()
    }
}

/// Where a discoverer gets its token and asks ARM: an environment's endpoints, or a fake's.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// The Azure AD authority, such as `https://login.microsoftonline.com/`.
    pub(crate) active_directory: String,
    /// ARM, such as `https://management.azure.com/`: the API's base URL, and the resource
    /// the token is asked for.
    pub(crate) resource_manager: String,
    /// Where a managed identity's token comes from.
    pub(crate) managed_identity: ManagedIdentity,
}

/// A managed identity's token endpoint, as the environment variables say which one the
/// process runs beside (as adal's `getMSIType`).
#[derive(Debug, Clone)]
pub(crate) enum ManagedIdentity {
    /// The instance metadata service of a virtual machine (no `MSI_ENDPOINT`).
    Imds(String),
    /// App Service and Functions: `MSI_ENDPOINT` and `MSI_SECRET`.
    AppService {
        /// `MSI_ENDPOINT`.
        endpoint: String,
        /// `MSI_SECRET`, sent as the `secret` header.
        secret: String,
    },
    /// Cloud Shell: `MSI_ENDPOINT` without `MSI_SECRET`.
    CloudShell(String),
}

impl ManagedIdentity {
    /// The endpoint the process environment names.
    fn from_environment() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("MSI_ENDPOINT"), var("MSI_SECRET")) {
            (Some(endpoint), Some(secret)) => Self::AppService { endpoint, secret },
            (Some(endpoint), None) => Self::CloudShell(endpoint),
            (None, _) => Self::Imds(IMDS_ENDPOINT.into()),
        }
    }
}

impl Endpoints {
    /// The endpoints of the environment `name` (any case), as go-autorest names them;
    /// `AzureStackCloud` reads them from the JSON file `AZURE_ENVIRONMENT_FILEPATH` names.
    fn of_environment(name: &str) -> Result<Self, String> {
        let (active_directory, resource_manager) = match name.to_uppercase().as_str() {
            "AZURECLOUD" | "AZUREPUBLICCLOUD" => (
                "https://login.microsoftonline.com/",
                "https://management.azure.com/",
            ),
            "AZURECHINACLOUD" => (
                "https://login.chinacloudapi.cn/",
                "https://management.chinacloudapi.cn/",
            ),
            "AZUREGERMANCLOUD" => (
                "https://login.microsoftonline.de/",
                "https://management.microsoftazure.de/",
            ),
            "AZUREUSGOVERNMENT" | "AZUREUSGOVERNMENTCLOUD" => (
                "https://login.microsoftonline.us/",
                "https://management.usgovcloudapi.net/",
            ),
            "AZURESTACKCLOUD" => return Self::of_stack(),
            upper => {
                return Err(format!(
                    "autorest/azure: There is no cloud environment matching the name {upper:?}"
                ));
            }
        };
        Ok(Self {
            active_directory: active_directory.into(),
            resource_manager: resource_manager.into(),
            managed_identity: ManagedIdentity::from_environment(),
        })
    }

    /// An Azure Stack's endpoints, from its environment file.
    fn of_stack() -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct File {
            #[serde(default)]
            active_directory_endpoint: String,
            #[serde(default)]
            resource_manager_endpoint: String,
        }
        let path = std::env::var("AZURE_ENVIRONMENT_FILEPATH").unwrap_or_default();
        let text = std::fs::read(&path).map_err(|e| {
            format!("cannot read the Azure Stack environment file {path:?} (AZURE_ENVIRONMENT_FILEPATH): {e}")
        })?;
        let file: File = serde_json::from_slice(&text)
            .map_err(|e| format!("the Azure Stack environment file {path:?}: {e}"))?;
        Ok(Self {
            active_directory: file.active_directory_endpoint,
            resource_manager: file.resource_manager_endpoint,
            managed_identity: ManagedIdentity::from_environment(),
        })
    }
}

/// How the discoverer authenticates to ARM.
enum Credentials {
    /// An application's client id and secret, exchanged at the tenant's token endpoint.
    ClientSecret {
        token_url: String,
        client_id: String,
        secret: String,
    },
    /// A managed identity (a user-assigned one if the client id is set).
    ManagedIdentity {
        endpoint: ManagedIdentity,
        client_id: String,
    },
}

/// An Azure discoverer.
pub(super) struct Azure {
    name: String,
    subscription_id: String,
    tenant_id: String,
    resource_group: String,
    port: u16,
    interval: StdDuration,
    /// ARM's client: the section's HTTP client settings; its `Authorization` is the token.
    client: ApiClient,
    /// The token endpoints' client, as adal's own sender.
    token_client: reqwest::Client,
    credentials: Credentials,
    /// ARM's base URL without its trailing `/`.
    arm: String,
    /// ARM's base URL as written, the resource of the token.
    resource: String,
}

impl Azure {
    pub(super) fn new(n: usize, config: &AzureSdConfig) -> Result<Self, String> {
        let endpoints = Endpoints::of_environment(&config.environment)
            .map_err(|e| format!("could not create Azure client: {e}"))?;
        Self::with_endpoints(n, config, endpoints)
    }

    /// A discoverer asking `endpoints` (the token endpoints and ARM) instead of an
    /// environment's.
    pub(crate) fn with_endpoints(
        n: usize,
        config: &AzureSdConfig,
        endpoints: Endpoints,
    ) -> Result<Self, String> {
        let credentials = if config.authentication_method == MANAGED_IDENTITY {
            Credentials::ManagedIdentity {
                endpoint: endpoints.managed_identity,
                client_id: config.client_id.clone(),
            }
        } else {
            // As adal's OAuth configuration: the tenant's token URL resolved against the
            // authority, with API version 1.0 (the `resource` form of the grant).
            let authority = reqwest::Url::parse(&endpoints.active_directory).map_err(|e| {
                format!(
                    "could not create Azure client: active directory endpoint {:?}: {e}",
                    endpoints.active_directory
                )
            })?;
            let token_url = authority
                .join(&format!(
                    "{}/oauth2/token?api-version=1.0",
                    config.tenant_id
                ))
                .map_err(|e| format!("could not create Azure client: tenant_id: {e}"))?;
            Credentials::ClientSecret {
                token_url: token_url.into(),
                client_id: config.client_id.clone(),
                secret: config.client_secret.clone(),
            }
        };
        Ok(Self {
            name: format!("azure_sd_configs[{n}]"),
            subscription_id: config.subscription_id.clone(),
            tenant_id: config.tenant_id.clone(),
            resource_group: config.resource_group.clone(),
            port: config.port,
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            token_client: default_client()?,
            credentials,
            arm: endpoints.resource_manager.trim_end_matches('/').to_owned(),
            resource: endpoints.resource_manager,
        })
    }

    /// A token for ARM, asked for anew (Prometheus's client, made at each refresh, holds
    /// none yet).
    async fn token(&self) -> Result<String, String> {
        let answer: TokenAnswer = match &self.credentials {
            Credentials::ClientSecret {
                token_url,
                client_id,
                secret,
            } => {
                let request = post_form(
                    &self.token_client,
                    token_url,
                    &[
                        ("client_id", client_id.as_str()),
                        ("client_secret", secret),
                        ("grant_type", "client_credentials"),
                        ("resource", &self.resource),
                    ],
                )
                .timeout(self.client.timeout);
                get_json(request, token_url).await?
            }
            Credentials::ManagedIdentity {
                endpoint,
                client_id,
            } => self.managed_identity_token(endpoint, client_id).await?,
        };
        if answer.access_token.is_empty() {
            return Err("the token endpoint answered no access_token".into());
        }
        Ok(format!("Bearer {}", answer.access_token))
    }

    /// A managed identity's token, asked for as adal asks each kind of endpoint, and asked
    /// again (up to five times, waiting 2s, 6s, 14s, 30s) when the endpoint is not ready,
    /// as adal's `retryForIMDS` does.
    async fn managed_identity_token(
        &self,
        endpoint: &ManagedIdentity,
        client_id: &str,
    ) -> Result<TokenAnswer, String> {
        let pairs = |version: Option<&'static str>, client_key: &'static str| {
            let mut pairs = Vec::with_capacity(3);
            if let Some(version) = version {
                pairs.push(("api-version", version));
            }
            if !client_id.is_empty() {
                pairs.push((client_key, client_id));
            }
            pairs.push(("resource", self.resource.as_str()));
            pairs
        };
        // The query replaces the endpoint's own, as adal sets it.
        let with_query = |base: &str, pairs: Vec<(&str, &str)>| {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let path = base.split_once('?').map_or(base, |(path, _)| path);
            format!("{path}?{query}")
        };
        let (url, request) = match endpoint {
            ManagedIdentity::Imds(base) => {
                let url = with_query(base, pairs(Some("2018-02-01"), "client_id"));
                let request = self.token_client.get(&url).header("Metadata", "true");
                (url, request)
            }
            ManagedIdentity::AppService { endpoint, secret } => {
                let url = with_query(endpoint, pairs(Some("2017-09-01"), "clientid"));
                let request = self.token_client.get(&url).header("secret", secret);
                (url, request)
            }
            ManagedIdentity::CloudShell(endpoint) => {
                let request = post_form(&self.token_client, endpoint, &pairs(None, "client_id"))
                    .header("Metadata", "true");
                (endpoint.clone(), request)
            }
        };
        let request = request.timeout(self.client.timeout);
        let mut delay = StdDuration::ZERO;
        let mut attempt = 1;
        loop {
            let Some(again) = request.try_clone() else {
                return Err(format!("{url}: the request cannot be repeated"));
            };
            let retry = match again.send().await {
                Ok(response) if !msi_retries(response.status().as_u16()) => {
                    return read_json(response, &url).await;
                }
                Ok(response) => format!("server returned HTTP status {}", response.status()),
                Err(e) => e.to_string(),
            };
            if attempt == MSI_ATTEMPTS {
                return Err(format!(
                    "{url}: no token after {MSI_ATTEMPTS} attempts: {retry}"
                ));
            }
            delay = (delay + StdDuration::from_secs(2u64.pow(attempt))).min(MSI_MAX_DELAY);
            tracing::debug!(%url, error = %retry, ?delay, "asking for a managed identity token again");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// A GET of ARM's `url` with the token.
    fn arm_get(&self, url: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .client
            .get(url)
            .timeout(self.client.timeout)
            .header(reqwest::header::AUTHORIZATION, token)
    }

    /// Every item of an ARM list at `path`, following each page's `nextLink` until a page
    /// has none, as the SDK's list pages do.
    async fn list<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<Vec<T>, String> {
        let mut url = format!("{}{path}?api-version={API_VERSION}", self.arm);
        let mut all = Vec::new();
        loop {
            let page: ListPage<T> = get_json(self.arm_get(&url, token), &url).await?;
            all.extend(page.value.0);
            if page.next_link.is_empty() {
                return Ok(all);
            }
            url = page.next_link.0;
        }
    }

    /// The subscription's path, or its resource group's if the section names one.
    fn scope(&self) -> String {
        let subscription = format!("/subscriptions/{}", path_escape(&self.subscription_id));
        if self.resource_group.is_empty() {
            subscription
        } else {
            format!(
                "{subscription}/resourceGroups/{}",
                path_escape(&self.resource_group)
            )
        }
    }

    /// The machines of the subscription (or resource group) and of its scale sets.
    async fn machines(&self, token: &str) -> Result<Vec<Machine>, String> {
        let scope = self.scope();
        let vms: Vec<Vm> = self
            .list(
                &format!("{scope}/providers/Microsoft.Compute/virtualMachines"),
                token,
            )
            .await
            .map_err(|e| format!("could not get virtual machines: {e}"))?;
        let mut machines: Vec<Machine> = vms.into_iter().map(|vm| Machine::of(vm, "")).collect();
        let scale_sets: Vec<ScaleSet> = self
            .list(
                &format!("{scope}/providers/Microsoft.Compute/virtualMachineScaleSets"),
                token,
            )
            .await
            .map_err(|e| format!("could not get virtual machine scale sets: {e}"))?;
        for scale_set in scale_sets {
            // As Prometheus, the scale set's resource group is taken from its id (so in
            // lower case), its name as given.
            let group = ResourceId::parse(&scale_set.id).map_err(|e| {
                format!(
                    "could not get virtual machine scale set vms: could not parse scale set ID: {e}"
                )
            })?;
            let path = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines",
                path_escape(&self.subscription_id),
                path_escape(&group.resource_group),
                path_escape(&scale_set.name),
            );
            let vms: Vec<Vm> = self
                .list(&path, token)
                .await
                .map_err(|e| format!("could not get virtual machine scale set vms: {e}"))?;
            machines.extend(vms.into_iter().map(|vm| Machine::of(vm, &scale_set.name)));
        }
        Ok(machines)
    }

    /// The network interface `id`, or `None` if ARM has it no more (404).
    async fn interface(&self, id: &str, token: &str) -> Result<Option<Interface>, String> {
        let url = format!("{}{id}?api-version={API_VERSION}", self.arm);
        let response = self
            .arm_get(&url, token)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        read_json(response, &url).await.map(Some)
    }

    /// The target of `machine`, or `None` if it has none (deallocated, its interface gone,
    /// no primary interface).
    async fn machine_target(
        &self,
        machine: &Machine,
        token: &str,
    ) -> Result<Option<StaticConfig>, String> {
        let resource = ResourceId::parse(&machine.id)?;
        let mut labels: BTreeMap<String, String> = [
            ("subscription_id", self.subscription_id.clone()),
            ("tenant_id", self.tenant_id.clone()),
            ("machine_id", machine.id.clone()),
            ("machine_name", machine.name.clone()),
            ("machine_computer_name", machine.computer_name.clone()),
            ("machine_os_type", machine.os_type.clone()),
            ("machine_location", machine.location.clone()),
            ("machine_resource_group", resource.resource_group),
            ("machine_size", machine.size.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("__meta_azure_{k}"), v))
        .collect();
        if !machine.scale_set.is_empty() {
            labels.insert(
                "__meta_azure_machine_scale_set".into(),
                machine.scale_set.clone(),
            );
        }
        for (key, value) in &machine.tags {
            labels.insert(
                format!("__meta_azure_machine_tag_{}", sanitize_label_name(key)),
                value.0.clone(),
            );
        }
        for id in &machine.interfaces {
            let Some(interface) = self.interface(id, token).await? else {
                tracing::warn!(name = %id, "Network interface does not exist");
                return Ok(None);
            };
            let Some(properties) = interface.properties else {
                continue;
            };
            // Azure says nothing of a deallocated machine but leaves its interface's
            // `primary` out, which is how Prometheus tells.
            let Some(primary) = properties.primary else {
                tracing::debug!(machine = %machine.name, "Skipping deallocated virtual machine");
                return Ok(None);
            };
            if !primary {
                continue;
            }
            // Only the first IP configuration counts, as in Prometheus.
            if let Some(ip) = properties.ip_configurations.first() {
                let ip = ip.properties.as_ref();
                if let Some(public) = ip
                    .and_then(|p| p.public_ip_address.as_ref())
                    .and_then(|p| p.properties.as_ref())
                    .and_then(|p| p.ip_address.as_ref())
                {
                    labels.insert("__meta_azure_machine_public_ip".into(), public.clone());
                }
                return match ip.and_then(|p| p.private_ip_address.as_ref()) {
                    Some(private) => {
                        labels.insert("__meta_azure_machine_private_ip".into(), private.clone());
                        Ok(Some(target(join_host_port(private, self.port), labels)))
                    }
                    None => Err(format!(
                        "unable to find a private IP for VM {}",
                        machine.name
                    )),
                };
            }
        }
        Ok(None)
    }
}

/// adal waits at most this long between two managed identity token requests.
const MSI_MAX_DELAY: StdDuration = StdDuration::from_secs(60);

/// Whether a managed identity endpoint's `status` is worth asking again, as adal lists
/// them: 404, 408, 410, 429 and every 5xx.
fn msi_retries(status: u16) -> bool {
    matches!(status, 404 | 408 | 410 | 429) || (500..600).contains(&status)
}

impl Provider for Azure {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let token = self
                .token()
                .await
                .map_err(|e| format!("could not get an Azure token: {e}"))?;
            let machines = self.machines(&token).await?;
            // The interfaces are asked for all machines at once, as Prometheus asks them in
            // a goroutine per machine: those requests are most of a refresh's time.
            let targets = join_all(
                machines
                    .iter()
                    .map(|machine| self.machine_target(machine, &token)),
            )
            .await;
            let mut out = Vec::with_capacity(targets.len());
            for found in targets {
                match found {
                    Ok(Some(group)) => out.push(group),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(format!("unable to complete Azure service discovery: {e}"));
                    }
                }
            }
            Ok(out)
        })
    }
}

/// The resource group of a resource id, as Prometheus reads it: the id must be
/// `/subscriptions/S/resourceGroups/G/providers/P/T/N` (or that and `/T/N` more).
struct ResourceId {
    /// In lower case, as Prometheus labels it.
    resource_group: String,
}

impl ResourceId {
    fn parse(id: &str) -> Result<Self, String> {
        let parts: Vec<&str> = id.split('/').collect();
        if parts.len() != 9 && parts.len() != 11 {
            return Err(format!(
                "invalid ID '{id}'. Refusing to create azureResource"
            ));
        }
        Ok(Self {
            resource_group: parts[4].to_lowercase(),
        })
    }
}

/// A machine, standalone or of a scale set, with what Prometheus labels.
struct Machine {
    id: String,
    name: String,
    computer_name: String,
    location: String,
    os_type: String,
    size: String,
    /// The scale set's name, or empty.
    scale_set: String,
    tags: BTreeMap<String, Nullable<String>>,
    /// The ids of its network interfaces.
    interfaces: Vec<String>,
}

impl Machine {
    fn of(vm: Vm, scale_set: &str) -> Self {
        let properties = vm.properties.unwrap_or_default();
        Self {
            id: vm.id.0,
            name: vm.name.0,
            computer_name: properties
                .os_profile
                .map(|p| p.computer_name.0)
                .unwrap_or_default(),
            location: vm.location.0,
            os_type: properties
                .storage_profile
                .and_then(|p| p.os_disk)
                .map(|d| d.os_type.0)
                .unwrap_or_default(),
            size: properties
                .hardware_profile
                .map(|p| p.vm_size.0)
                .unwrap_or_default(),
            scale_set: scale_set.to_owned(),
            tags: vm.tags.0,
            interfaces: properties
                .network_profile
                .map(|p| p.network_interfaces.0.into_iter().map(|n| n.id.0).collect())
                .unwrap_or_default(),
        }
    }
}

/// A token endpoint's answer (Azure AD's and the managed identity endpoints'): the
/// token is all Prometheus uses, for one refresh.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
}

/// A page of an ARM list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: DeserializeOwned"))]
struct ListPage<T> {
    #[serde(default)]
    value: Nullable<Vec<T>>,
    #[serde(default)]
    next_link: Nullable<String>,
}

/// A virtual machine, or a scale set's: the fields Prometheus reads.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Vm {
    id: Nullable<String>,
    name: Nullable<String>,
    location: Nullable<String>,
    tags: Nullable<BTreeMap<String, Nullable<String>>>,
    properties: Option<VmProperties>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VmProperties {
    os_profile: Option<OsProfile>,
    storage_profile: Option<StorageProfile>,
    hardware_profile: Option<HardwareProfile>,
    network_profile: Option<NetworkProfile>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsProfile {
    computer_name: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct StorageProfile {
    os_disk: Option<OsDisk>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsDisk {
    os_type: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct HardwareProfile {
    vm_size: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NetworkProfile {
    network_interfaces: Nullable<Vec<Reference>>,
}

/// A reference to another resource: its id.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Reference {
    id: Nullable<String>,
}

/// A scale set: its id (for its resource group) and name.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ScaleSet {
    id: Nullable<String>,
    name: Nullable<String>,
}

/// A network interface.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Interface {
    properties: Option<InterfaceProperties>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct InterfaceProperties {
    primary: Option<bool>,
    ip_configurations: Nullable<Vec<IpConfiguration>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct IpConfiguration {
    properties: Option<IpConfigurationProperties>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct IpConfigurationProperties {
    #[serde(rename = "privateIPAddress")]
    private_ip_address: Option<String>,
    #[serde(rename = "publicIPAddress")]
    public_ip_address: Option<PublicIp>,
}

/// A public IP address resource, as an interface's IP configuration embeds it.
#[derive(Default, Deserialize)]
#[serde(default)]
struct PublicIp {
    properties: Option<PublicIpProperties>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct PublicIpProperties {
    #[serde(rename = "ipAddress")]
    ip_address: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Method, Uri};
    use serde_json::{Value, json};

    use super::super::testing::{fake_api, group, json};
    use super::*;

    const SUB: &str = "11aaaa11-a11a-111a-a111-1111a1111a11";

    fn config(text: &str) -> AzureSdConfig {
        let config: AzureSdConfig = yaml::from_str(text).unwrap();
        config.validate().unwrap();
        config
    }

    /// The endpoints of a fake at `base`: Azure AD and ARM both, IMDS at its documented path.
    fn endpoints(base: &str) -> Endpoints {
        Endpoints {
            active_directory: format!("{base}/"),
            resource_manager: format!("{base}/"),
            managed_identity: ManagedIdentity::Imds(format!(
                "{base}/metadata/identity/oauth2/token"
            )),
        }
    }

    /// A virtual machine as ARM lists it (2018-10-01), with `nics` (id, primary) as its
    /// network profile references them.
    fn vm(id: &str, name: &str, os: &str, size: &str, tags: Value, nics: &[&str]) -> Value {
        json!({
            "id": id,
            "name": name,
            "type": "Microsoft.Compute/virtualMachines",
            "location": "westeurope",
            "tags": tags,
            "properties": {
                "vmId": "0f47b100-583c-48e3-a4c0-aefc2bf5a4b4",
                "hardwareProfile": {"vmSize": size},
                "storageProfile": {
                    "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"},
                    "osDisk": {"osType": os, "name": format!("{name}_OsDisk_1"), "createOption": "FromImage", "caching": "ReadWrite", "diskSizeGB": 30},
                    "dataDisks": []
                },
                "osProfile": {"computerName": name, "adminUsername": "azureuser", "secrets": []},
                "networkProfile": {
                    "networkInterfaces": nics.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()
                },
                "provisioningState": "Succeeded"
            }
        })
    }

    /// A network interface as ARM answers it; `primary` is left out for a deallocated
    /// machine's, and `public` is an embedded public IP address resource.
    fn nic(id: &str, primary: Option<bool>, private: &str, public: Option<&str>) -> Value {
        let mut public_ip = json!({"id": format!("{id}-pip")});
        if let Some(address) = public {
            public_ip["properties"] =
                json!({"ipAddress": address, "publicIPAllocationMethod": "Static"});
        }
        let mut properties = json!({
            "provisioningState": "Succeeded",
            "ipConfigurations": [{
                "name": "ipconfig1",
                "id": format!("{id}/ipConfigurations/ipconfig1"),
                "properties": {
                    "privateIPAddress": private,
                    "privateIPAllocationMethod": "Dynamic",
                    "publicIPAddress": public_ip,
                    "subnet": {"id": "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"},
                    "primary": true,
                    "privateIPAddressVersion": "IPv4"
                }
            }],
            "macAddress": "00-0D-3A-2D-5B-1C",
            "enableAcceleratedNetworking": false
        });
        if let Some(primary) = primary {
            properties["primary"] = json!(primary);
        }
        json!({"name": "nic", "id": id, "type": "Microsoft.Network/networkInterfaces", "location": "westeurope", "properties": properties})
    }

    fn rg_path(group: &str) -> String {
        format!("/subscriptions/{SUB}/resourceGroups/{group}")
    }

    /// A fake Azure AD and ARM: a token for the application's secret; machines on two
    /// pages, a scale set of one machine, and their interfaces. It records each ARM
    /// request, checks the token on each, and answers 500 for `fail` paths.
    async fn azure_api(requests: Arc<Mutex<Vec<String>>>, fail: Arc<Mutex<String>>) -> String {
        let web = rg_path("RG-Web");
        let scale = rg_path("rg-scale");
        let vm1 = format!("{web}/providers/Microsoft.Compute/virtualMachines/web-1");
        let vm2 = format!("{web}/providers/Microsoft.Compute/virtualMachines/win-2");
        let vm3 = format!("{web}/providers/Microsoft.Compute/virtualMachines/stopped-3");
        let vm4 = format!("{web}/providers/Microsoft.Compute/virtualMachines/gone-4");
        let ss_vm = format!(
            "{scale}/providers/Microsoft.Compute/virtualMachineScaleSets/api-ss/virtualMachines/0"
        );
        let nic_web = web.clone();
        let nic = move |name: &str| {
            format!("{nic_web}/providers/Microsoft.Network/networkInterfaces/{name}")
        };
        let ss_nic = format!("{ss_vm}/networkInterfaces/api-ss-nic");
        let vms_path = format!("/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines");
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let (vm1, vm2, vm3, vm4, ss_vm) = (
                vm1.clone(),
                vm2.clone(),
                vm3.clone(),
                vm4.clone(),
                ss_vm.clone(),
            );
            let (nic, ss_nic, vms_path) = (nic.clone(), ss_nic.clone(), vms_path.clone());
            let requests = requests.clone();
            let fail = fail.lock().unwrap().clone();
            async move {
                let path = uri.path().to_owned();
                let query: HashMap<String, String> =
                    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                let host = headers["host"].to_str().unwrap().to_owned();
                if path == "/tenant-b2/oauth2/token" {
                    assert_eq!(method, Method::POST);
                    assert_eq!(uri.query(), Some("api-version=1.0"));
                    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
                    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                        .into_owned()
                        .collect();
                    assert_eq!(form.len(), 4, "{form:?}");
                    assert_eq!(form["grant_type"], "client_credentials");
                    assert_eq!(form["client_id"], "app-333");
                    assert_eq!(form["client_secret"], "mysecret");
                    assert_eq!(form["resource"], format!("http://{host}/"));
                    if fail == "token" {
                        return json(
                            401,
                            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
                        );
                    }
                    return json(
                        200,
                        json!({
                            "token_type": "Bearer", "expires_in": "3599", "ext_expires_in": "3599",
                            "expires_on": "1700000000", "not_before": "1699996100",
                            "resource": format!("http://{host}/"), "access_token": "arm-token"
                        }),
                    );
                }
                assert_eq!(method, Method::GET);
                assert_eq!(headers["authorization"], "Bearer arm-token", "{uri}");
                assert_eq!(query["api-version"], "2018-10-01", "{uri}");
                requests.lock().unwrap().push(uri.to_string());
                if fail == path {
                    return json(
                        500,
                        json!({"error": {"code": "InternalServerError", "message": "Encountered internal server error."}}),
                    );
                }
                if path == vms_path {
                    return match query.get("$skiptoken").map(String::as_str) {
                        None => json(
                            200,
                            json!({
                                "value": [vm(&vm1, "web-1", "Linux", "Standard_B1s",
                                    json!({"cost-center": "ops", "prometheus": ""}),
                                    &[&nic("web-1-backup"), &nic("web-1-nic")])],
                                "nextLink": format!("http://{host}{vms_path}?api-version=2018-10-01&%24skiptoken=page2")
                            }),
                        ),
                        Some("page2") => json(
                            200,
                            json!({
                                "value": [
                                    vm(&vm2, "win-2", "Windows", "Standard_D2s_v3", Value::Null, &[&nic("win-2-nic")]),
                                    vm(&vm3, "stopped-3", "Linux", "Standard_B1s", json!({}), &[&nic("stopped-3-nic")]),
                                    vm(&vm4, "gone-4", "Linux", "Standard_B1s", json!({}), &[&nic("gone-4-nic")])
                                ]
                            }),
                        ),
                        Some(other) => panic!("skiptoken {other} was not offered"),
                    };
                }
                if path
                    == format!(
                        "/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachineScaleSets"
                    )
                {
                    return json(
                        200,
                        json!({"value": [{
                            "id": format!("{}/providers/Microsoft.Compute/virtualMachineScaleSets/api-ss", rg_path("RG-Scale")),
                            "name": "api-ss", "type": "Microsoft.Compute/virtualMachineScaleSets",
                            "location": "westeurope", "sku": {"name": "Standard_B1s", "tier": "Standard", "capacity": 1},
                            "properties": {"upgradePolicy": {"mode": "Manual"}, "provisioningState": "Succeeded"}
                        }]}),
                    );
                }
                if path
                    == format!(
                        "{}/providers/Microsoft.Compute/virtualMachineScaleSets/api-ss/virtualMachines",
                        rg_path("rg-scale")
                    )
                {
                    let mut machine = vm(
                        &ss_vm,
                        "api-ss_0",
                        "Linux",
                        "Standard_B1s",
                        json!({"tier": "api"}),
                        &[&ss_nic],
                    );
                    machine["type"] =
                        json!("Microsoft.Compute/virtualMachineScaleSets/virtualMachines");
                    machine["instanceId"] = json!("0");
                    machine["properties"]["osProfile"]["computerName"] = json!("api-ss000000");
                    return json(200, json!({"value": [machine]}));
                }
                if path == nic("web-1-backup") {
                    return json(200, nic_answer(&path, Some(false), "10.0.1.4", None));
                }
                if path == nic("web-1-nic") {
                    return json(200, nic_answer(&path, Some(true), "10.0.0.4", None));
                }
                if path == nic("win-2-nic") {
                    return json(
                        200,
                        nic_answer(&path, Some(true), "10.0.0.5", Some("20.61.1.2")),
                    );
                }
                if path == nic("stopped-3-nic") {
                    return json(200, nic_answer(&path, None, "10.0.0.6", None));
                }
                if path == nic("gone-4-nic") {
                    return json(
                        404,
                        json!({"error": {"code": "NotFound", "message": "Resource was not found."}}),
                    );
                }
                if path == ss_nic {
                    return json(200, nic_answer(&path, Some(true), "10.1.0.4", None));
                }
                panic!("unexpected request {uri}");
            }
        };
        fake_api(axum::Router::new().fallback(handler)).await
    }

    fn nic_answer(id: &str, primary: Option<bool>, private: &str, public: Option<&str>) -> Value {
        nic(id, primary, private, public)
    }

    const OAUTH_SECTION: &str = "subscription_id: 11aaaa11-a11a-111a-a111-1111a1111a11\ntenant_id: tenant-b2\nclient_id: app-333\nclient_secret: mysecret\nport: 9100\n";

    #[tokio::test]
    async fn machines_and_scale_sets_are_labelled_as_prometheus_labels_them() {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(Mutex::new(String::new()));
        let base = azure_api(requests.clone(), fail.clone()).await;
        let sd = Azure::with_endpoints(0, &config(OAUTH_SECTION), endpoints(&base)).unwrap();
        assert_eq!(sd.name(), "azure_sd_configs[0]");
        assert_eq!(sd.refresh_interval(), StdDuration::from_secs(300));
        let web = rg_path("RG-Web");
        let common = |id: &str, name: &str, computer: &str, os: &str, size: &str, group: &str| {
            vec![
                ("__meta_azure_machine_computer_name", computer.to_owned()),
                ("__meta_azure_machine_id", id.to_owned()),
                ("__meta_azure_machine_location", "westeurope".to_owned()),
                ("__meta_azure_machine_name", name.to_owned()),
                ("__meta_azure_machine_os_type", os.to_owned()),
                ("__meta_azure_machine_resource_group", group.to_owned()),
                ("__meta_azure_machine_size", size.to_owned()),
                ("__meta_azure_subscription_id", SUB.to_owned()),
                ("__meta_azure_tenant_id", "tenant-b2".to_owned()),
            ]
        };
        let labelled = |address: &str,
                        mut labels: Vec<(&'static str, String)>,
                        more: &[(&'static str, &str)]| {
            labels.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            group(address, &labels)
        };
        let ss_vm = format!(
            "{}/providers/Microsoft.Compute/virtualMachineScaleSets/api-ss/virtualMachines/0",
            rg_path("rg-scale")
        );
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                labelled(
                    "10.0.0.4:9100",
                    common(
                        &format!("{web}/providers/Microsoft.Compute/virtualMachines/web-1"),
                        "web-1",
                        "web-1",
                        "Linux",
                        "Standard_B1s",
                        "rg-web"
                    ),
                    &[
                        ("__meta_azure_machine_private_ip", "10.0.0.4"),
                        ("__meta_azure_machine_tag_cost_center", "ops"),
                        ("__meta_azure_machine_tag_prometheus", ""),
                    ],
                ),
                labelled(
                    "10.0.0.5:9100",
                    common(
                        &format!("{web}/providers/Microsoft.Compute/virtualMachines/win-2"),
                        "win-2",
                        "win-2",
                        "Windows",
                        "Standard_D2s_v3",
                        "rg-web"
                    ),
                    &[
                        ("__meta_azure_machine_private_ip", "10.0.0.5"),
                        ("__meta_azure_machine_public_ip", "20.61.1.2"),
                    ],
                ),
                labelled(
                    "10.1.0.4:9100",
                    common(
                        &ss_vm,
                        "api-ss_0",
                        "api-ss000000",
                        "Linux",
                        "Standard_B1s",
                        "rg-scale"
                    ),
                    &[
                        ("__meta_azure_machine_private_ip", "10.1.0.4"),
                        ("__meta_azure_machine_scale_set", "api-ss"),
                        ("__meta_azure_machine_tag_tier", "api"),
                    ],
                ),
            ]
        );
        // The lists in order, then every interface (asked for at once, so sorted here).
        let mut seen = requests.lock().unwrap().clone();
        seen[4..].sort();
        let nic = |name: &str| {
            format!(
                "{web}/providers/Microsoft.Network/networkInterfaces/{name}?api-version=2018-10-01"
            )
        };
        let mut nics = vec![
            nic("gone-4-nic"),
            nic("stopped-3-nic"),
            nic("web-1-backup"),
            nic("web-1-nic"),
            nic("win-2-nic"),
            format!("{ss_vm}/networkInterfaces/api-ss-nic?api-version=2018-10-01"),
        ];
        nics.sort();
        let mut expected = vec![
            format!(
                "/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2018-10-01"
            ),
            format!(
                "/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2018-10-01&%24skiptoken=page2"
            ),
            format!(
                "/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2018-10-01"
            ),
            format!(
                "{}/providers/Microsoft.Compute/virtualMachineScaleSets/api-ss/virtualMachines?api-version=2018-10-01",
                rg_path("rg-scale")
            ),
        ];
        expected.extend(nics);
        assert_eq!(seen, expected);

        // Failures fail the refresh, naming what was asked for.
        for (path, context) in [
            (
                format!("/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"),
                "could not get virtual machines",
            ),
            (
                format!("/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachineScaleSets"),
                "could not get virtual machine scale sets",
            ),
            (
                format!("{web}/providers/Microsoft.Network/networkInterfaces/win-2-nic"),
                "unable to complete Azure service discovery",
            ),
        ] {
            *fail.lock().unwrap() = path.clone();
            let e = sd.refresh().await.unwrap_err();
            assert!(
                e.starts_with(context) && e.contains(&format!("{base}{path}")) && e.contains("500"),
                "{e}"
            );
        }
        *fail.lock().unwrap() = "token".into();
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.contains(&format!("{base}/tenant-b2/oauth2/token?api-version=1.0"))
                && e.contains("401"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_managed_identity_asks_its_endpoint_and_a_resource_group_narrows_the_lists() {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let handler = move |uri: Uri, headers: HeaderMap| {
            let requests = seen.clone();
            async move {
                let host = headers["host"].to_str().unwrap().to_owned();
                requests.lock().unwrap().push(uri.to_string());
                let group = rg_path("my-resource-group");
                match uri.path() {
                    "/metadata/identity/oauth2/token" => {
                        assert_eq!(headers["metadata"], "true");
                        let resource: String =
                            form_urlencoded::byte_serialize(format!("http://{host}/").as_bytes())
                                .collect();
                        assert_eq!(
                            uri.query().unwrap(),
                            format!(
                                "api-version=2018-02-01&client_id=identity-44&resource={resource}"
                            )
                        );
                        json(
                            200,
                            json!({
                                "access_token": "msi-token", "refresh_token": "", "expires_in": "86399",
                                "expires_on": "1700086399", "not_before": "1700000000",
                                "resource": format!("http://{host}/"), "token_type": "Bearer"
                            }),
                        )
                    }
                    path if path
                        == format!("{group}/providers/Microsoft.Compute/virtualMachines") =>
                    {
                        assert_eq!(headers["authorization"], "Bearer msi-token");
                        // A machine without tags, OS profile or hardware profile.
                        json(
                            200,
                            json!({"value": [{
                                "id": format!("{group}/providers/Microsoft.Compute/virtualMachines/bare"),
                                "name": "bare", "type": "Microsoft.Compute/virtualMachines", "location": "northeurope",
                                "properties": {
                                    "storageProfile": {"osDisk": {"osType": "Linux"}},
                                    "networkProfile": {"networkInterfaces": [{"id": format!("{group}/providers/Microsoft.Network/networkInterfaces/bare-nic")}]}
                                }
                            }]}),
                        )
                    }
                    path if path
                        == format!(
                            "{group}/providers/Microsoft.Compute/virtualMachineScaleSets"
                        ) =>
                    {
                        json(200, json!({"value": []}))
                    }
                    path if path
                        == format!(
                            "{group}/providers/Microsoft.Network/networkInterfaces/bare-nic"
                        ) =>
                    {
                        json(200, nic(path, Some(true), "fd00::4", None))
                    }
                    _ => panic!("unexpected request {uri}"),
                }
            }
        };
        let base = fake_api(axum::Router::new().fallback(handler)).await;
        let section = config(
            "authentication_method: ManagedIdentity\nsubscription_id: 11aaaa11-a11a-111a-a111-1111a1111a11\nclient_id: identity-44\nresource_group: my-resource-group\n",
        );
        let sd = Azure::with_endpoints(1, &section, endpoints(&base)).unwrap();
        let group_path = rg_path("my-resource-group");
        let id = format!("{group_path}/providers/Microsoft.Compute/virtualMachines/bare");
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![group(
                "[fd00::4]:80",
                &[
                    ("__meta_azure_machine_computer_name", ""),
                    ("__meta_azure_machine_id", &id),
                    ("__meta_azure_machine_location", "northeurope"),
                    ("__meta_azure_machine_name", "bare"),
                    ("__meta_azure_machine_os_type", "Linux"),
                    ("__meta_azure_machine_private_ip", "fd00::4"),
                    ("__meta_azure_machine_resource_group", "my-resource-group"),
                    ("__meta_azure_machine_size", ""),
                    ("__meta_azure_subscription_id", SUB),
                    ("__meta_azure_tenant_id", ""),
                ],
            )]
        );
        assert_eq!(requests.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn app_service_and_cloud_shell_identities_ask_as_adal_asks() {
        let handler = |method: Method, uri: Uri, headers: HeaderMap, body: String| async move {
            match (uri.path(), method) {
                ("/msi/token", Method::GET) => {
                    assert_eq!(headers["secret"], "app-secret");
                    assert_eq!(
                        uri.query().unwrap(),
                        "api-version=2017-09-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
                    );
                    json(
                        200,
                        json!({"access_token": "app-token", "expires_on": "09/14/2017 00:00:00 PM +00:00", "resource": "https://management.azure.com/", "token_type": "Bearer"}),
                    )
                }
                ("/shell/token", Method::POST) => {
                    assert_eq!(headers["metadata"], "true");
                    assert_eq!(
                        body,
                        "client_id=user-1&resource=https%3A%2F%2Fmanagement.azure.com%2F"
                    );
                    json(
                        200,
                        json!({"access_token": "shell-token", "token_type": "Bearer"}),
                    )
                }
                _ => panic!("unexpected request {uri}"),
            }
        };
        let base = fake_api(axum::Router::new().fallback(handler)).await;
        let identity = |managed_identity, client: &str| {
            let section = config(&format!(
                "authentication_method: ManagedIdentity\nsubscription_id: s\nclient_id: '{client}'\n"
            ));
            let endpoints = Endpoints {
                active_directory: "https://login.microsoftonline.com/".into(),
                resource_manager: "https://management.azure.com/".into(),
                managed_identity,
            };
            Azure::with_endpoints(0, &section, endpoints).unwrap()
        };
        let app = identity(
            ManagedIdentity::AppService {
                endpoint: format!("{base}/msi/token"),
                secret: "app-secret".into(),
            },
            "",
        );
        assert_eq!(app.token().await.unwrap(), "Bearer app-token");
        let shell = identity(
            ManagedIdentity::CloudShell(format!("{base}/shell/token")),
            "user-1",
        );
        assert_eq!(shell.token().await.unwrap(), "Bearer shell-token");
    }

    #[tokio::test]
    async fn a_primary_interface_without_a_private_ip_fails_the_refresh() {
        let handler = |uri: Uri| async move {
            let group = rg_path("g");
            match uri.path() {
                "/t/oauth2/token" => json(200, json!({"access_token": "a"})),
                p if p.ends_with("/virtualMachines") => json(
                    200,
                    json!({"value": [
                        vm(&format!("{group}/providers/Microsoft.Compute/virtualMachines/v"), "v", "Linux", "A1", json!({}),
                           &[&format!("{group}/providers/Microsoft.Network/networkInterfaces/n")])
                    ]}),
                ),
                p if p.ends_with("/virtualMachineScaleSets") => json(200, json!({"value": []})),
                p => json(
                    200,
                    json!({"id": p, "properties": {"primary": true, "ipConfigurations": [{"name": "c", "properties": {}}]}}),
                ),
            }
        };
        let base = fake_api(axum::Router::new().fallback(handler)).await;
        let section = config("subscription_id: s\ntenant_id: t\nclient_id: c\nclient_secret: x\n");
        let sd = Azure::with_endpoints(0, &section, endpoints(&base)).unwrap();
        assert_eq!(
            sd.refresh().await.unwrap_err(),
            "unable to complete Azure service discovery: unable to find a private IP for VM v"
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        // Prometheus's own test configuration (config/testdata/conf.good.yml).
        let c = crate::Config::parse(
            "scrape_configs:
  - job_name: service-azure
    azure_sd_configs:
      - environment: AzurePublicCloud
        authentication_method: OAuth
        subscription_id: 11AAAA11-A11A-111A-A111-1111A1111A11
        resource_group: my-resource-group
        tenant_id: BBBB222B-B2B2-2B22-B222-2BB2222BB2B2
        client_id: 333333CC-3C33-3333-CCC3-33C3CCCCC33C
        client_secret: mysecret
        port: 9100
",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.azure_sd_configs[0];
        assert_eq!(sd.resource_group, "my-resource-group");
        assert_eq!((sd.port, sd.refresh_interval), (9100, Duration(300_000)));
        assert!(c.scrape_configs[0].discovery.is_dynamic());
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    azure_sd_configs:\n      - subscription_id: s\n        authentication_method: ManagedIdentity\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.azure_sd_configs[0];
        assert_eq!(
            (
                sd.environment.as_str(),
                sd.port,
                sd.refresh_interval,
                sd.tenant_id.as_str()
            ),
            ("AzurePublicCloud", 80, Duration(300_000), "")
        );
        let (made, failed) = crate::discovery::providers(&c.scrape_configs[0].discovery);
        assert_eq!((made.len(), failed.len()), (1, 0));
    }

    #[test]
    fn what_prometheus_refuses_is_refused() {
        let check = |section: &str| {
            crate::Config::parse(
                &format!(
                    "scrape_configs:\n  - job_name: a\n    azure_sd_configs:\n      - {}\n",
                    section.replace('\n', "\n        ")
                ),
                "p.yml",
            )
            .unwrap_err()
            .to_string()
        };
        // Prometheus's bad configurations (config/testdata/azure_*.bad.yml) and their errors.
        for (section, error) in [
            (
                "tenant_id: t\nclient_id: c\nclient_secret: x",
                "azure_sd_configs[0]: azure SD configuration requires a subscription_id",
            ),
            (
                "subscription_id: s\nclient_id: c\nclient_secret: x",
                "azure SD configuration requires a tenant_id",
            ),
            (
                "subscription_id: s\ntenant_id: t\nclient_secret: x",
                "azure SD configuration requires a client_id",
            ),
            (
                "subscription_id: s\ntenant_id: t\nclient_id: c",
                "azure SD configuration requires a client_secret",
            ),
            (
                "subscription_id: s\nauthentication_method: invalid",
                "unknown authentication_type \"invalid\". Supported types are \"OAuth\" or \"ManagedIdentity\"",
            ),
            (
                "subscription_id: s\nauthentication_method: ManagedIdentity\nmachine: x",
                "machine",
            ),
        ] {
            let e = check(section);
            assert!(e.contains(error), "{section}: {e}");
        }
    }

    #[test]
    fn environments_are_go_autorest_s() {
        let public = Endpoints::of_environment("azurecloud").unwrap();
        assert_eq!(
            (
                public.active_directory.as_str(),
                public.resource_manager.as_str()
            ),
            (
                "https://login.microsoftonline.com/",
                "https://management.azure.com/"
            )
        );
        let china = Endpoints::of_environment("AzureChinaCloud").unwrap();
        assert_eq!(
            china.resource_manager,
            "https://management.chinacloudapi.cn/"
        );
        let section = config(
            "environment: AzureMoonCloud\nsubscription_id: s\nauthentication_method: ManagedIdentity\n",
        );
        assert_eq!(
            Azure::new(0, &section).err().unwrap(),
            "could not create Azure client: autorest/azure: There is no cloud environment matching the name \"AZUREMOONCLOUD\""
        );
    }
}
