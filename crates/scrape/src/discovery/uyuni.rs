//! `uyuni_sd_configs`: the monitoring endpoints of systems managed by Uyuni (or SUSE
//! Manager), as Prometheus's Uyuni discovery finds them through the server's XML-RPC API
//! at `<server>/rpc/api`.
//!
//! Each refresh makes the calls Prometheus 2.42 makes, in its order:
//! `auth.login` (only when the session token is older than half its 10 minutes),
//! `system.listSystemGroupsForSystemsWithEntitlement` (the systems with the entitlement,
//! and their groups), then `system.monitoring.listEndpoints` and
//! `system.getNetworkForSystems` for those systems. Every endpoint is a target at
//! `<hostname>:<port>`. A failed call after login forgets the token, so the next refresh
//! logs in again.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use super::{ApiClient, Provider, Refresh, target};
use crate::config::{Duration, StaticConfig, http_client};

mod xmlrpc;

use xmlrpc::{Param, Value};

/// The API's path under the server URL.
const API_PATH: &str = "rpc/api";
/// How long a session token is asked for; Prometheus logs in again at half of it.
const TOKEN_LIFETIME: StdDuration = StdDuration::from_secs(600);

http_client! {
    /// `uyuni_sd_configs`: systems with monitoring endpoints, from a Uyuni server. The API
    /// takes `username` and `password`; the HTTP client settings apply to the requests.
    pub struct UyuniSdConfig {
        /// The server's URL, such as `https://uyuni.example.com`; required.
        #[serde(default)]
        pub server: String,
        /// The API user; required.
        #[serde(default)]
        pub username: String,
        /// The API user's password; required.
        #[serde(default)]
        pub password: String,
        /// The entitlement systems must have (default `monitoring_entitled`).
        #[serde(default = "default_entitlement")]
        pub entitlement: String,
        /// What joins a system's group names in `__meta_uyuni_groups` (default `,`).
        #[serde(default = "default_separator")]
        pub separator: String,
        /// How often to ask again (default 1m).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

fn default_entitlement() -> String {
    "monitoring_entitled".into()
}

fn default_separator() -> String {
    ",".into()
}

fn default_refresh_interval() -> Duration {
    Duration(60_000)
}

impl UyuniSdConfig {
    /// Checks the section as Prometheus does when it reads it: a server URL that parses,
    /// a username and a password.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.server.is_empty() {
            return Err("Uyuni SD configuration requires server host".into());
        }
        go_url_check(&self.server).map_err(|e| {
            format!(
                "Uyuni Server URL is not valid: parse {:?}: {e}",
                self.server
            )
        })?;
        if self.username.is_empty() {
            return Err("Uyuni SD configuration requires a username".into());
        }
        if self.password.is_empty() {
            return Err("Uyuni SD configuration requires a password".into());
        }
        self.http.check()
    }
}

/// Refuses what Go's `url.Parse` refuses, which is all Prometheus checks of the server at
/// load: control characters, a colon before any scheme, and bad `%` escapes. A URL that
/// parses there but cannot be reached (no scheme) fails each refresh, as in Prometheus.
fn go_url_check(url: &str) -> Result<(), String> {
    if url.chars().any(|c| c.is_ascii_control()) {
        return Err("net/url: invalid control character in URL".into());
    }
    if url.starts_with(':') {
        return Err("missing protocol scheme".into());
    }
    let bytes = url.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let escape = bytes.get(i + 1..i + 3);
            if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                let shown: String = url[i..].chars().take(3).collect();
                return Err(format!("invalid URL escape {shown:?}"));
            }
        }
    }
    Ok(())
}

/// A Uyuni discoverer.
pub(super) struct Uyuni {
    name: String,
    interval: StdDuration,
    client: ApiClient,
    /// The API's URL: the server's with `/rpc/api` joined to its path.
    url: String,
    username: String,
    password: String,
    entitlement: String,
    separator: String,
    /// The session token and when to log in again.
    session: Mutex<Option<(String, Instant)>>,
}

impl Uyuni {
    pub(super) fn new(n: usize, config: &UyuniSdConfig) -> Result<Self, String> {
        let mut url = reqwest::Url::parse(&config.server)
            .map_err(|e| format!("server {:?} is not a URL: {e}", config.server))?;
        // Go's path.Join: the path's segments, cleaned, then rpc/api.
        let path: Vec<&str> = url
            .path()
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .chain(API_PATH.split('/'))
            .collect();
        let path = format!("/{}", path.join("/"));
        url.set_path(&path);
        Ok(Self {
            name: format!("uyuni_sd_configs[{n}]"),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            url: url.to_string(),
            username: config.username.clone(),
            password: config.password.clone(),
            entitlement: config.entitlement.clone(),
            separator: config.separator.clone(),
            session: Mutex::new(None),
        })
    }

    /// Calls `method` with `params` and reads the answer's value with `read`; what it
    /// reads, or why it cannot (named by the API's URL and the method).
    async fn call<T>(
        &self,
        method: &str,
        params: &[Param<'_>],
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, String> {
        let at = format!("POST {} {method}", self.url);
        let response = self
            .client
            .post(&self.url)
            .await?
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(xmlrpc::method_call(method, params))
            .send()
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "{at}: request error: bad status code - {}",
                status.as_u16()
            ));
        }
        let body = response.bytes().await.map_err(|e| format!("{at}: {e}"))?;
        let body = std::str::from_utf8(&body).map_err(|e| format!("{at}: {e}"))?;
        xmlrpc::response(body)
            .and_then(|value| read(&value))
            .map_err(|e| format!("{at}: {e}"))
    }

    /// A session token: the one held while it is fresh, else a new one from `auth.login`.
    async fn token(&self) -> Result<String, String> {
        let held = self.lock().clone();
        if let Some((token, renew_at)) = held
            && Instant::now() < renew_at
        {
            return Ok(token);
        }
        let token = self
            .call(
                "auth.login",
                &[
                    Param::Str(&self.username),
                    Param::Str(&self.password),
                    Param::Int(TOKEN_LIFETIME.as_secs() as i64),
                ],
                Value::string,
            )
            .await
            .map_err(|e| format!("unable to login to Uyuni API: {e}"))?;
        *self.lock() = Some((token.clone(), Instant::now() + TOKEN_LIFETIME / 2));
        Ok(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(String, Instant)>> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The endpoints of the entitled systems, as targets.
    async fn targets(&self, token: &str) -> Result<Vec<StaticConfig>, String> {
        let groups = self
            .call(
                "system.listSystemGroupsForSystemsWithEntitlement",
                &[Param::Str(token), Param::Str(&self.entitlement)],
                system_groups,
            )
            .await
            .map_err(|e| {
                format!(
                    "unable to get the managed system groups information of monitored clients: {e}"
                )
            })?;
        let ids: Vec<i64> = groups.keys().copied().collect();
        let endpoints = self
            .call(
                "system.monitoring.listEndpoints",
                &[Param::Str(token), Param::Ints(&ids)],
                endpoints,
            )
            .await
            .map_err(|e| format!("unable to get endpoints information: {e}"))?;
        let networks = self
            .call(
                "system.getNetworkForSystems",
                &[Param::Str(token), Param::Ints(&ids)],
                networks,
            )
            .await
            .map_err(|e| format!("unable to get the systems network information: {e}"))?;
        let none = Network::default();
        Ok(endpoints
            .into_iter()
            .map(|endpoint| {
                let network = networks.get(&endpoint.system_id).unwrap_or(&none);
                let group_names = groups
                    .get(&endpoint.system_id)
                    .map_or(&[][..], Vec::as_slice);
                self.target(endpoint, group_names, network)
            })
            .collect())
    }

    /// One endpoint's target and labels, as Prometheus labels it: every label is set,
    /// empty when Uyuni gives nothing.
    fn target(&self, endpoint: Endpoint, groups: &[String], network: &Network) -> StaticConfig {
        // Prometheus writes the address with Sprintf("%s:%d"): an IPv6 host unbracketed.
        let address = format!("{}:{}", network.hostname, endpoint.port);
        let scheme = if endpoint.tls_enabled {
            "https"
        } else {
            "http"
        };
        let labels: BTreeMap<String, String> = [
            ("minion_hostname", network.hostname.clone()),
            ("primary_fqdn", network.primary_fqdn.clone()),
            ("system_id", endpoint.system_id.to_string()),
            ("groups", groups.join(&self.separator)),
            ("endpoint_name", endpoint.endpoint_name),
            ("exporter", endpoint.exporter_name),
            ("proxy_module", endpoint.module),
            ("metrics_path", endpoint.path),
            ("scheme", scheme.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("__meta_uyuni_{k}"), v))
        .collect();
        target(address, labels)
    }
}

impl Provider for Uyuni {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let token = self.token().await?;
            let targets = self.targets(&token).await;
            if targets.is_err() {
                // The token may be what failed: log in again next time.
                *self.lock() = None;
            }
            targets
        })
    }
}

/// The group names of each system, by system id, from
/// `system.listSystemGroupsForSystemsWithEntitlement` (a later entry for a system
/// replaces an earlier one, as in Prometheus's map).
fn system_groups(answer: &Value) -> Result<BTreeMap<i64, Vec<String>>, String> {
    let mut out = BTreeMap::new();
    for system in answer.array()? {
        let names = system
            .member("system_groups")?
            .array()?
            .iter()
            .map(|group| {
                // Prometheus reads the group's id too: one that is not an int fails.
                group.member("id")?.int()?;
                group.member("name")?.string()
            })
            .collect::<Result<_, _>>()?;
        out.insert(system.member("id")?.int()?, names);
    }
    Ok(out)
}

/// One of `system.monitoring.listEndpoints`' endpoints: the fields Prometheus reads.
struct Endpoint {
    system_id: i64,
    endpoint_name: String,
    port: i64,
    path: String,
    module: String,
    exporter_name: String,
    tls_enabled: bool,
}

fn endpoints(answer: &Value) -> Result<Vec<Endpoint>, String> {
    answer
        .array()?
        .iter()
        .map(|e| {
            Ok(Endpoint {
                system_id: e.member("system_id")?.int()?,
                endpoint_name: e.member("endpoint_name")?.string()?,
                port: e.member("port")?.int()?,
                path: e.member("path")?.string()?,
                module: e.member("module")?.string()?,
                exporter_name: e.member("exporter_name")?.string()?,
                tls_enabled: e.member("tls_enabled")?.bool()?,
            })
        })
        .collect()
}

/// One of `system.getNetworkForSystems`' entries: the fields Prometheus reads.
#[derive(Default)]
struct Network {
    hostname: String,
    primary_fqdn: String,
}

fn networks(answer: &Value) -> Result<BTreeMap<i64, Network>, String> {
    let mut out = BTreeMap::new();
    for n in answer.array()? {
        // Prometheus reads the address too: one that is not a string fails.
        n.member("ip")?.string()?;
        let network = Network {
            hostname: n.member("hostname")?.string()?,
            primary_fqdn: n.member("primary_fqdn")?.string()?,
        };
        out.insert(n.member("system_id")?.int()?, network);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;
    use axum::routing::post;

    use super::super::testing::{assert_refused, fake_api, group, parse_section};
    use super::*;

    /// An XML-RPC answer carrying `value`.
    fn answer(value: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n<params>\n<param>\n{value}\n</param>\n</params>\n</methodResponse>\n"
        )
    }

    /// A call's body as Prometheus's client writes it.
    fn call(method: &str, params: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>"#
        )
    }

    fn string(s: &str) -> String {
        format!("<param><value><string>{s}</string></value></param>")
    }

    const IDS: &str = "<param><value><array><data><value><int>1000010000</int></value><value><int>1000010001</int></value><value><int>1000010002</int></value></data></array></value></param>";

    /// The server's answer to each call, in the shapes Uyuni's API documentation gives.
    fn uyuni_answer(body: &str) -> (u16, String) {
        let token = string("5b4e4e5d1f8d0c1b2a3e");
        if body
            == call(
                "auth.login",
                &format!(
                    "{}{}<param><value><int>600</int></value></param>",
                    string("gopher"),
                    string("hole")
                ),
            )
        {
            return (
                200,
                answer("<value><string>5b4e4e5d1f8d0c1b2a3e</string></value>"),
            );
        }
        if body
            == call(
                "system.listSystemGroupsForSystemsWithEntitlement",
                &format!("{token}{}", string("monitoring_entitled")),
            )
        {
            return (200, answer(
                "<value><array><data>
<value><struct>
  <member><name>id</name><value><i4>1000010000</i4></value></member>
  <member><name>system_groups</name><value><array><data>
    <value><struct><member><name>id</name><value><i4>7</i4></value></member><member><name>name</name><value><string>web</string></value></member><member><name>subscribed</name><value><i4>1</i4></value></member><member><name>system_group_name</name><value><string>web</string></value></member></struct></value>
    <value><struct><member><name>id</name><value><i4>9</i4></value></member><member><name>name</name><value><string>production</string></value></member><member><name>subscribed</name><value><i4>1</i4></value></member><member><name>system_group_name</name><value><string>production</string></value></member></struct></value>
  </data></array></value></member>
</struct></value>
<value><struct>
  <member><name>id</name><value><i4>1000010001</i4></value></member>
  <member><name>system_groups</name><value><array><data>
    <value><struct><member><name>id</name><value><i4>9</i4></value></member><member><name>name</name><value><string>production</string></value></member></struct></value>
  </data></array></value></member>
</struct></value>
<value><struct>
  <member><name>id</name><value><i4>1000010002</i4></value></member>
  <member><name>system_groups</name><value><array><data></data></array></value></member>
</struct></value>
</data></array></value>",
            ));
        }
        if body == call("system.monitoring.listEndpoints", &format!("{token}{IDS}")) {
            return (
                200,
                answer(
                    "<value><array><data>
<value><struct>
  <member><name>system_id</name><value><i4>1000010000</i4></value></member>
  <member><name>endpoint_name</name><value><string>node_exporter</string></value></member>
  <member><name>exporter_name</name><value><string>node_exporter</string></value></member>
  <member><name>module</name><value><string></string></value></member>
  <member><name>path</name><value><string>/metrics</string></value></member>
  <member><name>port</name><value><i4>9100</i4></value></member>
  <member><name>tls_enabled</name><value><boolean>0</boolean></value></member>
</struct></value>
<value><struct>
  <member><name>system_id</name><value><i4>1000010000</i4></value></member>
  <member><name>endpoint_name</name><value><string>apache_exporter</string></value></member>
  <member><name>exporter_name</name><value><string>apache_exporter</string></value></member>
  <member><name>module</name><value><string>apache</string></value></member>
  <member><name>path</name><value><string>/proxy</string></value></member>
  <member><name>port</name><value><i4>9999</i4></value></member>
  <member><name>tls_enabled</name><value><boolean>1</boolean></value></member>
</struct></value>
<value><struct>
  <member><name>system_id</name><value><i4>1000010001</i4></value></member>
  <member><name>endpoint_name</name><value><string>postgres_exporter</string></value></member>
  <member><name>exporter_name</name><value><string>postgres_exporter</string></value></member>
  <member><name>port</name><value><i4>9187</i4></value></member>
  <member><name>tls_enabled</name><value><boolean>0</boolean></value></member>
</struct></value>
</data></array></value>",
                ),
            );
        }
        if body == call("system.getNetworkForSystems", &format!("{token}{IDS}")) {
            return (
                200,
                answer(
                    "<value><array><data>
<value><struct>
  <member><name>system_id</name><value><i4>1000010000</i4></value></member>
  <member><name>ip</name><value><string>192.168.122.10</string></value></member>
  <member><name>hostname</name><value><string>web-1.example.com</string></value></member>
  <member><name>primary_fqdn</name><value><string>web-1.prod.example.com</string></value></member>
</struct></value>
<value><struct>
  <member><name>system_id</name><value><i4>1000010001</i4></value></member>
  <member><name>ip</name><value><string>192.168.122.11</string></value></member>
  <member><name>hostname</name><value><string>db-1.example.com</string></value></member>
</struct></value>
</data></array></value>",
                ),
            );
        }
        panic!("unexpected call {body}");
    }

    /// A fake Uyuni server: answers the calls above, or 500 while `fail` holds; counts
    /// the calls by method.
    async fn uyuni_api(fail: Arc<Mutex<bool>>, calls: Arc<Mutex<Vec<String>>>) -> String {
        fake_api(axum::Router::new().route(
            "/uyuni/rpc/api",
            post(move |h: HeaderMap, body: String| {
                let fail = *fail.lock().unwrap();
                let calls = calls.clone();
                async move {
                    assert_eq!(h["content-type"], "text/xml");
                    // The section's HTTP client settings apply (a proxy in front of Uyuni).
                    assert_eq!(h["authorization"], "Basic cHJveHk6c2VjcmV0");
                    let method = body
                        .split("<methodName>")
                        .nth(1)
                        .and_then(|s| s.split('<').next())
                        .unwrap_or_default();
                    calls.lock().unwrap().push(method.to_owned());
                    let (status, body) = if fail {
                        (500, String::new())
                    } else {
                        uyuni_answer(&body)
                    };
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "text/xml")],
                        body,
                    )
                }
            }),
        ))
        .await
    }

    fn config(server: &str) -> UyuniSdConfig {
        let c: UyuniSdConfig = yaml::from_str(&format!(
            "server: {server}\nusername: gopher\npassword: hole\nbasic_auth:\n  username: proxy\n  password: secret\n"
        ))
        .unwrap();
        c.validate().unwrap();
        c
    }

    #[tokio::test]
    async fn endpoints_are_labelled_as_prometheus_labels_them() {
        let fail = Arc::new(Mutex::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let base = uyuni_api(fail.clone(), calls.clone()).await;
        // A path on the server is kept, as Go's path.Join keeps it.
        let sd = Uyuni::new(0, &config(&format!("{base}/uyuni/"))).unwrap();
        assert_eq!(sd.name(), "uyuni_sd_configs[0]");
        let meta = |host: &str,
                    fqdn: &str,
                    id: &str,
                    groups: &str,
                    name: &str,
                    module: &str,
                    path: &str,
                    scheme: &str| {
            vec![
                ("__meta_uyuni_endpoint_name", name.to_owned()),
                ("__meta_uyuni_exporter", name.to_owned()),
                ("__meta_uyuni_groups", groups.to_owned()),
                ("__meta_uyuni_metrics_path", path.to_owned()),
                ("__meta_uyuni_minion_hostname", host.to_owned()),
                ("__meta_uyuni_primary_fqdn", fqdn.to_owned()),
                ("__meta_uyuni_proxy_module", module.to_owned()),
                ("__meta_uyuni_scheme", scheme.to_owned()),
                ("__meta_uyuni_system_id", id.to_owned()),
            ]
        };
        let want = [
            (
                "web-1.example.com:9100",
                meta(
                    "web-1.example.com",
                    "web-1.prod.example.com",
                    "1000010000",
                    "web,production",
                    "node_exporter",
                    "",
                    "/metrics",
                    "http",
                ),
            ),
            (
                "web-1.example.com:9999",
                meta(
                    "web-1.example.com",
                    "web-1.prod.example.com",
                    "1000010000",
                    "web,production",
                    "apache_exporter",
                    "apache",
                    "/proxy",
                    "https",
                ),
            ),
            (
                // No primary FQDN, no module and no path: empty labels.
                "db-1.example.com:9187",
                meta(
                    "db-1.example.com",
                    "",
                    "1000010001",
                    "production",
                    "postgres_exporter",
                    "",
                    "",
                    "http",
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
        // The token is kept: the second refresh does not log in.
        assert_eq!(sd.refresh().await.unwrap(), want);
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "auth.login",
                "system.listSystemGroupsForSystemsWithEntitlement",
                "system.monitoring.listEndpoints",
                "system.getNetworkForSystems",
                "system.listSystemGroupsForSystemsWithEntitlement",
                "system.monitoring.listEndpoints",
                "system.getNetworkForSystems",
            ]
        );

        // A failing server: the error names the URL and the call, and the token is
        // forgotten, so the next refresh logs in again.
        calls.lock().unwrap().clear();
        *fail.lock().unwrap() = true;
        let e = sd.refresh().await.unwrap_err();
        assert_eq!(
            e,
            format!(
                "unable to get the managed system groups information of monitored clients: POST {base}/uyuni/rpc/api system.listSystemGroupsForSystemsWithEntitlement: request error: bad status code - 500"
            )
        );
        let e = sd.refresh().await.unwrap_err();
        assert_eq!(
            e,
            format!(
                "unable to login to Uyuni API: POST {base}/uyuni/rpc/api auth.login: request error: bad status code - 500"
            )
        );
        *fail.lock().unwrap() = false;
        assert_eq!(sd.refresh().await.unwrap(), want);
        assert_eq!(calls.lock().unwrap()[2], "auth.login");
    }

    #[tokio::test]
    async fn faults_and_bad_answers_fail_the_refresh() {
        let stage = Arc::new(Mutex::new(0));
        let now = stage.clone();
        let base = fake_api(axum::Router::new().route(
            "/rpc/api",
            post(move |body: String| {
                let stage = *now.lock().unwrap();
                async move {
                    let method = |m: &str| body.contains(&format!("<methodName>{m}</methodName>"));
                    if method("auth.login") {
                        return if stage == 3 {
                            answer("<value><int>7</int></value>")
                        } else {
                            answer("<value>a token</value>")
                        };
                    }
                    match stage {
                        0 => "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>-1</int></value></member><member><name>faultString</name><value><string>redstone.xmlrpc.XmlRpcFault: Could not find method</string></value></member></struct></value></fault></methodResponse>".to_owned(),
                        1 => answer("<value><struct><member><name>id</name><value><i4>1</i4></value></member></struct></value>"),
                        _ if method("system.listSystemGroupsForSystemsWithEntitlement") => answer("<value><array><data></data></array></value>"),
                        _ => "not xml".to_owned(),
                    }
                }
            }),
        ))
        .await;
        let sd = Uyuni::new(0, &config(&base)).unwrap();
        let at = format!("POST {base}/rpc/api");
        for (n, want) in [
            format!("unable to get the managed system groups information of monitored clients: {at} system.listSystemGroupsForSystemsWithEntitlement: Fault(-1): redstone.xmlrpc.XmlRpcFault: Could not find method"),
            format!("unable to get the managed system groups information of monitored clients: {at} system.listSystemGroupsForSystemsWithEntitlement: type mismatch: cannot read struct as array"),
            format!("unable to get endpoints information: {at} system.monitoring.listEndpoints: the answer ends before its value does"),
            format!("unable to login to Uyuni API: {at} auth.login: type mismatch: cannot read int as string"),
        ]
        .into_iter()
        .enumerate()
        {
            *stage.lock().unwrap() = n;
            assert_eq!(sd.refresh().await.unwrap_err(), want);
        }
    }

    #[test]
    fn prometheus_example_reads_and_validates() {
        // documentation/examples/prometheus-uyuni.yml
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: 'prometheus'
    static_configs:
      - targets: ['localhost:9090']
  - job_name: 'uyuni'
    uyuni_sd_configs:
      - server: http://uyuni-project.org
        username: gopher
        password: hole
    relabel_configs:
      - source_labels: [__meta_uyuni_exporter]
        target_label: exporter
      - source_labels: [__meta_uyuni_groups]
        target_label: groups
      - source_labels: [__meta_uyuni_minion_hostname]
        target_label: hostname
      - source_labels: [__meta_uyuni_primary_fqdn]
        regex: (.+)
        target_label: hostname
      - source_labels: [hostname, __address__]
        regex: (.*);.*:(.*)
        replacement: ${1}:${2}
        target_label: __address__
      - source_labels: [__meta_uyuni_metrics_path]
        regex: (.+)
        target_label: __metrics_path__
      - source_labels: [__meta_uyuni_proxy_module]
        target_label: __param_module
"#,
            "prometheus-uyuni.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[1].discovery.uyuni_sd_configs[0];
        assert_eq!(
            (
                sd.entitlement.as_str(),
                sd.separator.as_str(),
                sd.refresh_interval
            ),
            ("monitoring_entitled", ",", Duration(60_000))
        );
        assert!(c.scrape_configs[1].discovery.is_dynamic());
        let sd = Uyuni::new(0, sd).unwrap();
        assert_eq!(sd.url, "http://uyuni-project.org/rpc/api");
    }

    #[test]
    fn what_prometheus_refuses_is_refused() {
        let check = |section: &str, want: &str| assert_refused("uyuni_sd_configs", section, want);
        check(
            "username: u\n        password: p",
            "Uyuni SD configuration requires server host",
        );
        // config/testdata/uyuni_no_server.bad.yml
        check("server:", "Uyuni SD configuration requires server host");
        check(
            "server: http://uyuni\n        password: p",
            "Uyuni SD configuration requires a username",
        );
        check(
            "server: http://uyuni\n        username: u",
            "Uyuni SD configuration requires a password",
        );
        check(
            "server: \"http://uyuni/%zz\"\n        username: u\n        password: p",
            "Uyuni Server URL is not valid: parse \"http://uyuni/%zz\": invalid URL escape \"%zz\"",
        );
        let e =
            parse_section("uyuni_sd_configs", "server: http://u\n        usename: u").unwrap_err();
        assert!(e.message.contains("usename"), "{e}");
        // Keys with their own values: entitlement, separator, refresh_interval.
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    uyuni_sd_configs:\n      - server: https://uyuni.example.com/\n        username: u\n        password: p\n        entitlement: container_build_host\n        separator: ';'\n        refresh_interval: 5m\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.uyuni_sd_configs[0];
        assert_eq!(
            (
                sd.entitlement.as_str(),
                sd.separator.as_str(),
                sd.refresh_interval
            ),
            ("container_build_host", ";", Duration(300_000))
        );
    }
}
