//! `eureka_sd_configs`: the app instances a Eureka server knows, as Prometheus's Eureka
//! discovery finds them: `GET {server}/apps`, answered in XML.
//!
//! Prometheus asks for no format (Go's client sends no `Accept` header), so Eureka answers
//! in XML, and Prometheus reads it with Go's `encoding/xml`. This module reads it as that
//! does: elements are matched by local name, unknown ones are skipped, numbers and booleans
//! are Go's (`strconv`), and a metadata entry's value is its raw inner XML (entities left
//! as written). Each instance is a target at `hostName:port` (port 80 when the instance has
//! none), its `instance` label its instance ID.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use quick_xml::events::Event;

use super::{ApiClient, Provider, Refresh, get_body, join_host_port, sanitize_label_name, target};
use crate::config::{Duration, StaticConfig, http_client};

/// The path of the app list under the server's URL.
const APPS_PATH: &str = "/apps";

http_client! {
    /// `eureka_sd_configs`: a Eureka server's app instances.
    pub struct EurekaSdConfig {
        /// The Eureka server's URL (such as `http://localhost:8761/eureka`); required.
        #[serde(default)]
        pub server: Option<String>,
        /// How often to ask again (default 30s).
        #[serde(default = "default_refresh_interval")]
        pub refresh_interval: Duration,
    }
}

fn default_refresh_interval() -> Duration {
    Duration(30_000)
}

impl EurekaSdConfig {
    /// Checks the section as Prometheus does: a server URL with a scheme and a host.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let server = self.server.as_deref().unwrap_or_default();
        if server.is_empty() {
            return Err("eureka_sd: empty or null eureka server; set server".into());
        }
        match reqwest::Url::parse(server) {
            Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => {
                return Err(format!(
                    "eureka_sd: invalid eureka server URL {server:?}: it has no host"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "eureka_sd: invalid eureka server URL {server:?}: {e}"
                ));
            }
        }
        self.http.check()
    }
}

/// A Eureka discoverer.
pub(super) struct Eureka {
    name: String,
    interval: StdDuration,
    client: ApiClient,
    url: String,
}

impl Eureka {
    pub(super) fn new(n: usize, config: &EurekaSdConfig) -> Result<Self, String> {
        Ok(Self {
            name: format!("eureka_sd_configs[{n}]"),
            interval: config.refresh_interval.std(),
            client: ApiClient::new(&config.http, config.refresh_interval.std())?,
            // The path is appended to the server's URL as written, as Prometheus does.
            url: format!(
                "{}{APPS_PATH}",
                config.server.as_deref().unwrap_or_default()
            ),
        })
    }
}

impl Provider for Eureka {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let (request, url) = self.client.get_as_go(&self.url).await?;
            let body = get_body(request, &url).await?;
            let apps = std::str::from_utf8(&body)
                .map_err(|e| e.to_string())
                .and_then(applications)
                .map_err(|e| format!("{url}: {e}"))?;
            Ok(apps.iter().flat_map(targets).collect())
        })
    }
}

/// The targets of one app: one for each instance.
fn targets(app: &Application) -> Vec<StaticConfig> {
    app.instances
        .iter()
        .map(|i| {
            let port = i.port.as_ref().map_or(80, |p| p.port);
            let mut labels: BTreeMap<String, String> = [
                ("app_instance_hostname", i.host_name.clone()),
                ("app_instance_homepage_url", i.home_page_url.clone()),
                ("app_instance_statuspage_url", i.status_page_url.clone()),
                ("app_instance_healthcheck_url", i.health_check_url.clone()),
                ("app_instance_ip_addr", i.ip_addr.clone()),
                ("app_instance_vip_address", i.vip_address.clone()),
                (
                    "app_instance_secure_vip_address",
                    i.secure_vip_address.clone(),
                ),
                ("app_instance_status", i.status.clone()),
                ("app_instance_country_id", i.country_id.to_string()),
                ("app_instance_id", i.instance_id.clone()),
                ("app_name", app.name.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (format!("__meta_eureka_{k}"), v))
            .collect();
            // Prometheus names the target by its instance ID (an empty one leaves the
            // address to name it, as an unset label would).
            labels.insert("instance".into(), i.instance_id.clone());
            for (key, port) in [("port", &i.port), ("secure_port", &i.secure_port)] {
                if let Some(p) = port {
                    let at = format!("__meta_eureka_app_instance_{key}");
                    labels.insert(format!("{at}_enabled"), p.enabled.to_string());
                    labels.insert(at, p.port.to_string());
                }
            }
            if let Some(dc) = &i.data_center_info {
                labels.insert(
                    "__meta_eureka_app_instance_datacenterinfo_name".into(),
                    dc.name.clone(),
                );
                metadata_labels(
                    &mut labels,
                    "__meta_eureka_app_instance_datacenterinfo_metadata_",
                    dc.metadata.as_deref(),
                );
            }
            metadata_labels(
                &mut labels,
                "__meta_eureka_app_instance_metadata_",
                i.metadata.as_deref(),
            );
            target(join_host_port(&i.host_name, port), labels)
        })
        .collect()
}

/// Labels each metadata entry: its sanitized name after `prefix`, its raw content.
fn metadata_labels(
    labels: &mut BTreeMap<String, String>,
    prefix: &str,
    items: Option<&[(String, String)]>,
) {
    for (name, content) in items.unwrap_or_default() {
        labels.insert(
            format!("{prefix}{}", sanitize_label_name(name)),
            content.clone(),
        );
    }
}

/// The fields of the app list that Prometheus reads.
#[derive(Debug, Default, PartialEq)]
struct Application {
    name: String,
    instances: Vec<Instance>,
}

#[derive(Debug, Default, PartialEq)]
struct Instance {
    host_name: String,
    home_page_url: String,
    status_page_url: String,
    health_check_url: String,
    ip_addr: String,
    vip_address: String,
    secure_vip_address: String,
    status: String,
    port: Option<Port>,
    secure_port: Option<Port>,
    data_center_info: Option<DataCenterInfo>,
    metadata: Option<Vec<(String, String)>>,
    country_id: i64,
    instance_id: String,
}

#[derive(Debug, Default, PartialEq)]
struct Port {
    port: i64,
    enabled: bool,
}

#[derive(Debug, Default, PartialEq)]
struct DataCenterInfo {
    name: String,
    metadata: Option<Vec<(String, String)>>,
}

/// The apps of an app list (`<applications>`), read as Go's `encoding/xml` reads them
/// into Prometheus's structs: the fields it declares are read (a number or boolean that
/// does not parse fails the whole list, as it fails Go's decoder), every other element is
/// skipped, and a repeated element updates the same field again.
fn applications(text: &str) -> Result<Vec<Application>, String> {
    let root = document(text)?;
    let mut apps = Vec::new();
    for child in &root.children {
        match child.name.as_str() {
            "versions__delta" => {
                go_int(child)?;
            }
            "application" => apps.push(application(child)?),
            _ => {}
        }
    }
    Ok(apps)
}

fn application(el: &Element<'_>) -> Result<Application, String> {
    let mut app = Application::default();
    for child in &el.children {
        match child.name.as_str() {
            "name" => app.name = child.text.clone(),
            "instance" => app.instances.push(instance(child)?),
            _ => {}
        }
    }
    Ok(app)
}

fn instance(el: &Element<'_>) -> Result<Instance, String> {
    let mut i = Instance::default();
    for child in &el.children {
        let text = || child.text.clone();
        match child.name.as_str() {
            "hostName" => i.host_name = text(),
            "homePageUrl" => i.home_page_url = text(),
            "statusPageUrl" => i.status_page_url = text(),
            "healthCheckUrl" => i.health_check_url = text(),
            "ipAddr" => i.ip_addr = text(),
            "vipAddress" => i.vip_address = text(),
            "secureVipAddress" => i.secure_vip_address = text(),
            "status" => i.status = text(),
            "instanceId" => i.instance_id = text(),
            "countryId" => i.country_id = go_int(child)?,
            "isCoordinatingDiscoveryServer" => {
                go_bool(child, &child.text)?;
            }
            "port" => port(i.port.get_or_insert_default(), child)?,
            "securePort" => port(i.secure_port.get_or_insert_default(), child)?,
            "metadata" => i.metadata.get_or_insert_default().extend(metadata(child)),
            "dataCenterInfo" => {
                let dc = i.data_center_info.get_or_insert_default();
                for grandchild in &child.children {
                    match grandchild.name.as_str() {
                        "name" => dc.name = grandchild.text.clone(),
                        "metadata" => dc
                            .metadata
                            .get_or_insert_default()
                            .extend(metadata(grandchild)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(i)
}

/// A port element: its number as character data, `enabled` as an attribute (left as it
/// was when the attribute is absent, as Go leaves a field it finds nothing for).
fn port(port: &mut Port, el: &Element<'_>) -> Result<(), String> {
    port.port = go_int(el)?;
    if let Some((_, value)) = el.attributes.iter().find(|(name, _)| name == "enabled") {
        port.enabled = go_bool(el, value)?;
    }
    Ok(())
}

/// A metadata element's entries: each child's local name and raw inner XML.
fn metadata<'e>(el: &'e Element<'_>) -> impl Iterator<Item = (String, String)> + 'e {
    el.children
        .iter()
        .map(|c| (c.name.clone(), c.inner.to_owned()))
}

/// An element's character data as Go reads it into an `int`: none is 0; otherwise the
/// trimmed text must be a decimal integer (so blank text is an error, as it is to Go).
fn go_int(el: &Element<'_>) -> Result<i64, String> {
    if el.text.is_empty() {
        return Ok(0);
    }
    el.text.trim().parse().map_err(|_| {
        format!(
            "<{}>: cannot read {:?} as an integer",
            el.name,
            el.text.trim()
        )
    })
}

/// A value as Go reads it into a `bool`: none is false; otherwise one of the words of
/// Go's `strconv.ParseBool`, trimmed.
fn go_bool(el: &Element<'_>, value: &str) -> Result<bool, String> {
    if value.is_empty() {
        return Ok(false);
    }
    match value.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("<{}>: cannot read {other:?} as a boolean", el.name)),
    }
}

/// An element as Go's decoder hands it to the structs it fills.
#[derive(Debug, Default)]
struct Element<'a> {
    /// The local name (after any namespace prefix).
    name: String,
    /// Attributes by local name, entities resolved, in document order.
    attributes: Vec<(String, String)>,
    /// The character data directly inside (not in children), entities and CDATA resolved.
    text: String,
    /// The child elements.
    children: Vec<Element<'a>>,
    /// Everything between the start and end tags, as written.
    inner: &'a str,
}

/// The document's first element, read whole. What follows it is not read, as Go's
/// `Decoder.Decode` stops there; what precedes it (a declaration, comments) is skipped.
fn document(text: &str) -> Result<Element<'_>, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    // Open elements, each with where its content starts.
    let mut open: Vec<(Element<'_>, usize)> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
        let end = reader.buffer_position() as usize;
        let done = match event {
            Event::Start(start) => {
                open.push((element(&start)?, end));
                None
            }
            Event::Empty(start) => Some(element(&start)?),
            Event::End(_) => {
                let (mut el, from) = open.pop().ok_or("an end tag closes nothing")?;
                // The end tag is the last `</` before where the reader stands.
                let to = text[..end].rfind("</").unwrap_or(from).max(from);
                el.inner = &text[from..to];
                Some(el)
            }
            Event::Text(t) => {
                if let Some((el, _)) = open.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
                None
            }
            Event::CData(t) => {
                if let Some((el, _)) = open.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
                None
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c,
                    None => match &*r.xml10_content() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("invalid character entity &{other};")),
                    },
                };
                if let Some((el, _)) = open.last_mut() {
                    el.text.push(c);
                }
                None
            }
            Event::Eof => return Err("unexpected end of the document".into()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => None,
        };
        if let Some(el) = done {
            match open.last_mut() {
                Some((parent, _)) => parent.children.push(el),
                None => return Ok(el),
            }
        }
    }
}

/// An element of `start`, its name and attributes.
fn element<'a>(start: &quick_xml::events::BytesStart<'_>) -> Result<Element<'a>, String> {
    let mut attributes = Vec::new();
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(|e| e.to_string())?;
        // Whitespace in the value becomes spaces, which Go keeps; the one attribute read
        // (`enabled`) is trimmed before it is parsed, so it reads the same.
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        attributes.push((
            attr.key.local_name().as_ref().to_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        name: start.local_name().as_ref().to_owned(),
        attributes,
        ..Element::default()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;
    use axum::routing::get;

    use super::super::testing::{fake_api, group, section};
    use super::*;

    /// An app list as a Eureka server writes it: two apps, one instance on AWS with
    /// metadata, one on IPv6 without a port, one without an instance ID.
    const APPS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<applications>
  <versions__delta>1</versions__delta>
  <apps__hashcode>UP_2_STARTING_1_</apps__hashcode>
  <application>
    <name>ORDERS</name>
    <instance>
      <instanceId>orders-1.internal:orders:8080</instanceId>
      <hostName>orders-1.internal</hostName>
      <app>ORDERS</app>
      <ipAddr>10.0.1.17</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">443</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.AmazonInfo">
        <name>Amazon</name>
        <metadata>
          <availability-zone>eu-west-1a</availability-zone>
          <instance-id>i-0a1b2c3d4e5f</instance-id>
          <local-ipv4>10.0.1.17</local-ipv4>
        </metadata>
      </dataCenterInfo>
      <leaseInfo>
        <renewalIntervalInSecs>30</renewalIntervalInSecs>
        <durationInSecs>90</durationInSecs>
        <registrationTimestamp>1596003469304</registrationTimestamp>
      </leaseInfo>
      <metadata>
        <prometheus.scrape>true</prometheus.scrape>
        <prometheus.path>/actuator/prometheus</prometheus.path>
        <management.port>8081</management.port>
        <owner>payments &amp; billing</owner>
      </metadata>
      <homePageUrl>http://orders-1.internal:8080/</homePageUrl>
      <statusPageUrl>http://orders-1.internal:8080/actuator/info</statusPageUrl>
      <healthCheckUrl>http://orders-1.internal:8080/actuator/health</healthCheckUrl>
      <vipAddress>orders</vipAddress>
      <secureVipAddress>orders</secureVipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <lastUpdatedTimestamp>1596003469304</lastUpdatedTimestamp>
      <lastDirtyTimestamp>1596003469304</lastDirtyTimestamp>
      <actionType>ADDED</actionType>
    </instance>
    <instance>
      <instanceId>orders-2</instanceId>
      <hostName>fd00::12</hostName>
      <app>ORDERS</app>
      <ipAddr>fd00::12</ipAddr>
      <status>OUT_OF_SERVICE</status>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name>
      </dataCenterInfo>
      <metadata class="java.util.Collections$EmptyMap"/>
      <vipAddress>orders</vipAddress>
    </instance>
  </application>
  <application>
    <name>BILLING</name>
    <instance>
      <hostName>billing.internal</hostName>
      <app>BILLING</app>
      <ipAddr>10.0.2.5</ipAddr>
      <status><![CDATA[STARTING]]></status>
      <port enabled="false">9090</port>
      <countryId>1</countryId>
      <metadata>
        <nested><a>1</a></nested>
      </metadata>
    </instance>
  </application>
</applications>
"#;

    /// The targets Prometheus 2.42 makes of [`APPS`].
    fn expected() -> Vec<StaticConfig> {
        vec![
            group(
                "orders-1.internal:8080",
                &[
                    ("__meta_eureka_app_instance_country_id", "1"),
                    (
                        "__meta_eureka_app_instance_datacenterinfo_metadata_availability_zone",
                        "eu-west-1a",
                    ),
                    (
                        "__meta_eureka_app_instance_datacenterinfo_metadata_instance_id",
                        "i-0a1b2c3d4e5f",
                    ),
                    (
                        "__meta_eureka_app_instance_datacenterinfo_metadata_local_ipv4",
                        "10.0.1.17",
                    ),
                    ("__meta_eureka_app_instance_datacenterinfo_name", "Amazon"),
                    (
                        "__meta_eureka_app_instance_healthcheck_url",
                        "http://orders-1.internal:8080/actuator/health",
                    ),
                    (
                        "__meta_eureka_app_instance_homepage_url",
                        "http://orders-1.internal:8080/",
                    ),
                    ("__meta_eureka_app_instance_hostname", "orders-1.internal"),
                    (
                        "__meta_eureka_app_instance_id",
                        "orders-1.internal:orders:8080",
                    ),
                    ("__meta_eureka_app_instance_ip_addr", "10.0.1.17"),
                    (
                        "__meta_eureka_app_instance_metadata_management_port",
                        "8081",
                    ),
                    (
                        "__meta_eureka_app_instance_metadata_owner",
                        "payments &amp; billing",
                    ),
                    (
                        "__meta_eureka_app_instance_metadata_prometheus_path",
                        "/actuator/prometheus",
                    ),
                    (
                        "__meta_eureka_app_instance_metadata_prometheus_scrape",
                        "true",
                    ),
                    ("__meta_eureka_app_instance_port", "8080"),
                    ("__meta_eureka_app_instance_port_enabled", "true"),
                    ("__meta_eureka_app_instance_secure_port", "443"),
                    ("__meta_eureka_app_instance_secure_port_enabled", "false"),
                    ("__meta_eureka_app_instance_secure_vip_address", "orders"),
                    ("__meta_eureka_app_instance_status", "UP"),
                    (
                        "__meta_eureka_app_instance_statuspage_url",
                        "http://orders-1.internal:8080/actuator/info",
                    ),
                    ("__meta_eureka_app_instance_vip_address", "orders"),
                    ("__meta_eureka_app_name", "ORDERS"),
                    ("instance", "orders-1.internal:orders:8080"),
                ],
            ),
            group(
                "[fd00::12]:80",
                &[
                    ("__meta_eureka_app_instance_country_id", "0"),
                    ("__meta_eureka_app_instance_datacenterinfo_name", "MyOwn"),
                    ("__meta_eureka_app_instance_healthcheck_url", ""),
                    ("__meta_eureka_app_instance_homepage_url", ""),
                    ("__meta_eureka_app_instance_hostname", "fd00::12"),
                    ("__meta_eureka_app_instance_id", "orders-2"),
                    ("__meta_eureka_app_instance_ip_addr", "fd00::12"),
                    ("__meta_eureka_app_instance_secure_vip_address", ""),
                    ("__meta_eureka_app_instance_status", "OUT_OF_SERVICE"),
                    ("__meta_eureka_app_instance_statuspage_url", ""),
                    ("__meta_eureka_app_instance_vip_address", "orders"),
                    ("__meta_eureka_app_name", "ORDERS"),
                    ("instance", "orders-2"),
                ],
            ),
            group(
                "billing.internal:9090",
                &[
                    ("__meta_eureka_app_instance_country_id", "1"),
                    ("__meta_eureka_app_instance_healthcheck_url", ""),
                    ("__meta_eureka_app_instance_homepage_url", ""),
                    ("__meta_eureka_app_instance_hostname", "billing.internal"),
                    ("__meta_eureka_app_instance_id", ""),
                    ("__meta_eureka_app_instance_ip_addr", "10.0.2.5"),
                    ("__meta_eureka_app_instance_metadata_nested", "<a>1</a>"),
                    ("__meta_eureka_app_instance_port", "9090"),
                    ("__meta_eureka_app_instance_port_enabled", "false"),
                    ("__meta_eureka_app_instance_secure_vip_address", ""),
                    ("__meta_eureka_app_instance_status", "STARTING"),
                    ("__meta_eureka_app_instance_statuspage_url", ""),
                    ("__meta_eureka_app_instance_vip_address", ""),
                    ("__meta_eureka_app_name", "BILLING"),
                    ("instance", ""),
                ],
            ),
        ]
    }

    /// What the fake server answers: a status and a body.
    type Answer = Arc<Mutex<(u16, &'static str)>>;

    async fn eureka_api(answer: Answer) -> String {
        fake_api(axum::Router::new().route(
            "/eureka/apps",
            get(move |h: HeaderMap| {
                let (status, body) = *answer.lock().unwrap();
                async move {
                    // Basic auth from the section; no format asked for, so Eureka
                    // answers in XML.
                    assert_eq!(h["authorization"], "Basic ZXVyZWthOnNlY3JldA==");
                    let accept = h.get("accept").map(|v| v.to_str().unwrap().to_owned());
                    assert!(!accept.unwrap_or_default().contains("json"));
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/xml")],
                        body,
                    )
                }
            }),
        ))
        .await
    }

    fn config(text: &str) -> EurekaSdConfig {
        section(text, EurekaSdConfig::validate)
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let answer: Answer = Arc::new(Mutex::new((200, APPS)));
        let base = eureka_api(answer.clone()).await;
        let first = config(&format!(
            "server: {base}/eureka\nbasic_auth:\n  username: eureka\n  password: secret\n"
        ));
        let sd = Eureka::new(0, &first).unwrap();
        assert_eq!(sd.name(), "eureka_sd_configs[0]");
        assert_eq!(sd.refresh().await.unwrap(), expected());

        *answer.lock().unwrap() = (
            200,
            "<applications>\n  <versions__delta>1</versions__delta>\n  <apps__hashcode/>\n</applications>",
        );
        assert_eq!(sd.refresh().await.unwrap(), vec![]);

        *answer.lock().unwrap() = (500, "");
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.contains(&format!("{base}/eureka/apps")) && e.contains("500"),
            "{e}"
        );

        *answer.lock().unwrap() = (200, "<applications><application></applications>");
        let e = sd.refresh().await.unwrap_err();
        assert!(e.starts_with(&format!("{base}/eureka/apps: ")), "{e}");

        // A user and password in the server's URL are sent in place of the section's
        // credentials, as Go's client sends them; errors leave the password out.
        let with_user = base.replace("http://", "http://eureka:secret@");
        let sd = Eureka::new(
            1,
            &config(&format!(
                "server: {with_user}/eureka\nauthorization:\n  credentials: unused\n"
            )),
        )
        .unwrap();
        *answer.lock().unwrap() = (200, APPS);
        assert_eq!(sd.refresh().await.unwrap(), expected());
        *answer.lock().unwrap() = (500, "");
        let e = sd.refresh().await.unwrap_err();
        assert!(e.starts_with(&format!("{base}/eureka/apps: ")), "{e}");
    }

    /// Checks what the app list `xml` reads as: its instances' fields, or the error.
    fn check(xml: &str, expect: Result<Vec<Instance>, &str>) {
        let got = applications(xml).map(|apps| {
            apps.into_iter()
                .flat_map(|a| a.instances)
                .collect::<Vec<_>>()
        });
        match (got, expect) {
            (Ok(got), Ok(expect)) => assert_eq!(got, expect, "{xml}"),
            (Err(got), Err(expect)) => assert!(got.contains(expect), "{xml}: {got}"),
            (got, expect) => panic!("{xml}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn the_app_list_is_read_as_go_reads_it() {
        let one = |body: &str| {
            format!(
                "<applications><application><instance>{body}</instance></application></applications>"
            )
        };
        // Entities and character references in text are resolved; in metadata they are
        // kept as written; namespace prefixes are dropped.
        check(
            &one(
                "<hostName>a&amp;b&#x41;&#66;</hostName><x:status xmlns:x='urn:x'>UP</x:status><metadata><k>&lt;v&gt;</k></metadata>",
            ),
            Ok(vec![Instance {
                host_name: "a&bAB".into(),
                status: "UP".into(),
                metadata: Some(vec![("k".into(), "&lt;v&gt;".into())]),
                ..Instance::default()
            }]),
        );
        // Text of nested elements is not the element's; a repeated element updates the
        // field again, and a port without `enabled` keeps what it had.
        check(
            &one(
                "<ipAddr>10.0.0.1<x>y</x></ipAddr><port enabled='true'>80</port><port> 81 </port><countryId>-2</countryId>",
            ),
            Ok(vec![Instance {
                ip_addr: "10.0.0.1".into(),
                port: Some(Port {
                    port: 81,
                    enabled: true,
                }),
                country_id: -2,
                ..Instance::default()
            }]),
        );
        // Empty numbers are zero, blank ones and words are errors, as they are to Go.
        check(
            &one("<countryId></countryId><port enabled=''/>"),
            Ok(vec![Instance {
                port: Some(Port::default()),
                ..Instance::default()
            }]),
        );
        check(
            &one("<countryId> </countryId>"),
            Err("<countryId>: cannot read \"\" as an integer"),
        );
        check(
            &one("<port enabled='yes'>80</port>"),
            Err("cannot read \"yes\" as a boolean"),
        );
        check(
            &one("<isCoordinatingDiscoveryServer>no</isCoordinatingDiscoveryServer>"),
            Err("as a boolean"),
        );
        check(
            "<applications><versions__delta>x</versions__delta></applications>",
            Err("versions__delta"),
        );
        // Only the first element is read; malformed XML and unknown entities are errors.
        check("<applications/><trailing", Ok(vec![]));
        check(&one("<hostName>&nbsp;</hostName>"), Err("&nbsp;"));
        check("<applications><application>", Err("unexpected end"));
        check("<applications></application>", Err("application"));
        check("", Err("unexpected end"));
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    eureka_sd_configs:\n      - server: http://eureka:8761/eureka\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.eureka_sd_configs[0];
        assert_eq!(sd.refresh_interval, Duration(30_000));
        assert_eq!(sd.server.as_deref(), Some("http://eureka:8761/eureka"));
        assert!(c.scrape_configs[0].discovery.is_dynamic());
    }

    #[test]
    fn prometheus_example_configuration_loads() {
        // documentation/examples/prometheus-eureka.yml, its comments left out.
        let c = crate::Config::parse(
            r#"
scrape_configs:
  - job_name: 'prometheus'
    static_configs:
      - targets: ['localhost:9090']
  - job_name: 'eureka'
    eureka_sd_configs:
      - server: http://localhost:8761/eureka
    relabel_configs:
"#,
            "prometheus-eureka.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[1].discovery.eureka_sd_configs[0];
        assert_eq!(sd.server.as_deref(), Some("http://localhost:8761/eureka"));
        let (providers, failed) = crate::discovery::providers(&c.scrape_configs[1].discovery);
        assert_eq!((providers.len(), failed.len()), (1, 0));
        assert_eq!(providers[0].name(), "eureka_sd_configs[0]");
    }

    #[test]
    fn the_server_is_checked_as_prometheus_checks_it() {
        let parse = |section: &str| {
            crate::Config::parse(
                &format!(
                    "scrape_configs:\n  - job_name: a\n    eureka_sd_configs:\n      - {section}\n"
                ),
                "p.yml",
            )
            .map_err(|e| e.message)
        };
        for (section, error) in [
            (
                "refresh_interval: 1m",
                "eureka_sd_configs[0]: eureka_sd: empty or null eureka server",
            ),
            ("server: ''", "eureka_sd: empty or null eureka server"),
            (
                "server: localhost:8761",
                "eureka_sd: invalid eureka server URL \"localhost:8761\"",
            ),
            (
                "server: /eureka",
                "eureka_sd: invalid eureka server URL \"/eureka\"",
            ),
            (
                "server: http://e\n        authorization:\n          type: Basic",
                "authorization type cannot be \"Basic\"",
            ),
        ] {
            let e = parse(section).unwrap_err();
            assert!(e.contains(error), "{section}: {e}");
        }
        parse("server: https://eureka.example.com:8443").unwrap();
    }
}
