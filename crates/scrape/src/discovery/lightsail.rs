//! `lightsail_sd_configs`: Lightsail instances, as Prometheus 2.42's Lightsail discovery
//! finds them through the Lightsail API (JSON protocol): one `GetInstances`, whose
//! `nextPageToken` Prometheus does not follow.
//!
//! Each instance with a private IP address is a target at that address and the section's
//! port. How the call is signed, and where the region and credentials come from, is in
//! [`super::aws`].

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{Nullable, Provider, Refresh, join_host_port, sanitize_label_name, target};
use crate::aws::{Aws, Call, Environment, aws_sd_config};

/// The prefix of the Lightsail API's `X-Amz-Target` (its version, 2016-11-28).
const TARGET_PREFIX: &str = "Lightsail_20161128";

aws_sd_config! {
    /// `lightsail_sd_configs`: Lightsail instances. The HTTP client settings'
    /// `authorization` and `basic_auth` are never sent: requests carry their AWS
    /// signature instead.
    pub struct LightsailSdConfig {}
}

impl LightsailSdConfig {
    /// Checks the section as Prometheus does: only the HTTP client settings. (Prometheus
    /// also refuses a section without a region when the instance metadata service cannot
    /// name one; Skywatch asks it when the discovery runs.)
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.check()
    }
}

/// A Lightsail discoverer.
pub(super) struct Lightsail {
    name: String,
    port: u16,
    interval: StdDuration,
    aws: Aws,
}

impl Lightsail {
    pub(super) fn new(n: usize, config: &LightsailSdConfig) -> Result<Self, String> {
        Self::with_environment(n, config, Environment::of_process())
    }

    /// A discoverer that reads `env` for what the AWS SDK reads from the environment.
    pub(super) fn with_environment(
        n: usize,
        config: &LightsailSdConfig,
        env: Environment,
    ) -> Result<Self, String> {
        let interval = config.refresh_interval.std();
        Ok(Self {
            name: format!("lightsail_sd_configs[{n}]"),
            port: config.port,
            interval,
            aws: Aws::new(
                ("lightsail", "Lightsail"),
                config.aws(),
                (&config.http, interval),
                env,
            )?,
        })
    }
}

impl Provider for Lightsail {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let session = self.aws.session().await?;
            let call = Call::json("GetInstances", TARGET_PREFIX, "{}");
            let body = self
                .aws
                .list(&session, &call)
                .await
                .map_err(|e| format!("could not get instances: {e}"))?;
            let answer: GetInstances = serde_json::from_slice(&body).map_err(|e| {
                format!(
                    "could not get instances: {}: line {}, column {}: {e}",
                    session.url(),
                    e.line(),
                    e.column()
                )
            })?;
            let mut out = Vec::new();
            for i in answer.instances.0 {
                let Some(private_ip) = i.private_ip_address else {
                    continue;
                };
                let mut labels: BTreeMap<String, String> = [
                    ("availability_zone", i.location.0.availability_zone.0),
                    ("blueprint_id", i.blueprint_id.0),
                    ("bundle_id", i.bundle_id.0),
                    ("instance_name", i.name.0),
                    ("instance_state", i.state.0.name.0),
                    ("instance_support_code", i.support_code.0),
                    ("private_ip", private_ip.clone()),
                    ("region", session.region.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (format!("__meta_lightsail_{k}"), v))
                .collect();
                if let Some(ip) = i.public_ip_address {
                    labels.insert("__meta_lightsail_public_ip".into(), ip);
                }
                // Lists carry a comma on both ends too, so that a relabelling regex need
                // not care where in the list an item is.
                if !i.ipv6_addresses.is_empty() {
                    labels.insert(
                        "__meta_lightsail_ipv6_addresses".into(),
                        format!(",{},", i.ipv6_addresses.join(",")),
                    );
                }
                for tag in i.tags.0 {
                    if let (Some(key), Some(value)) = (tag.key, tag.value) {
                        labels.insert(
                            format!("__meta_lightsail_tag_{}", sanitize_label_name(&key)),
                            value,
                        );
                    }
                }
                out.push(target(join_host_port(&private_ip, self.port), labels));
            }
            Ok(out)
        })
    }
}

/// The answer of `GetInstances`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct GetInstances {
    instances: Nullable<Vec<Instance>>,
}

/// The fields of an instance that Prometheus labels. An absent or null address or tag
/// value is `None`, as it is `nil` to the SDK.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Instance {
    name: Nullable<String>,
    support_code: Nullable<String>,
    location: Nullable<Location>,
    blueprint_id: Nullable<String>,
    bundle_id: Nullable<String>,
    private_ip_address: Option<String>,
    public_ip_address: Option<String>,
    ipv6_addresses: Nullable<Vec<String>>,
    state: Nullable<State>,
    tags: Nullable<Vec<Tag>>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Location {
    availability_zone: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct State {
    name: Nullable<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use serde_json::json;

    use super::super::testing::{fake_api, group, json};
    use super::*;
    use crate::config::Duration;
    use aws::testing::check_signature;

    fn section(yaml: &str) -> LightsailSdConfig {
        let config: LightsailSdConfig = yaml::from_str(yaml).unwrap();
        config.validate().unwrap();
        config
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let calls = Arc::new(Mutex::new(0));
        let fail = Arc::new(Mutex::new(None::<(u16, &'static str)>));
        let (counted, failing) = (calls.clone(), fail.clone());
        let base = fake_api(axum::Router::new().route(
            "/",
            post(move |h: HeaderMap, body: Bytes| {
                *counted.lock().unwrap() += 1;
                let fail = *failing.lock().unwrap();
                async move {
                    assert_eq!(h["content-type"], "application/x-amz-json-1.1");
                    assert_eq!(h["x-amz-target"], "Lightsail_20161128.GetInstances");
                    assert_eq!(&body[..], b"{}");
                    if let Err(e) = check_signature(
                        "/",
                        &h,
                        &body,
                        ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                        ("us-east-2", "lightsail"),
                        "content-length;content-type;host;x-amz-date;x-amz-target",
                    ) {
                        return json(
                            403,
                            json!({"__type": "InvalidSignatureException", "message": e}),
                        );
                    }
                    if let Some((status, body)) = fail {
                        return (
                            axum::http::StatusCode::from_u16(status).unwrap(),
                            [("content-type", "application/x-amz-json-1.1")],
                            body.to_owned(),
                        );
                    }
                    json(200, json!({
                        "instances": [
                            {
                                "name": "web-1",
                                "arn": "arn:aws:lightsail:us-east-2:123456789012:Instance/244ad76f-8aad-4741-809f-12345EXAMPLE",
                                "supportCode": "123456789012/i-0123456789abcdef0",
                                "createdAt": 1673370000.0,
                                "location": {"availabilityZone": "us-east-2a", "regionName": "us-east-2"},
                                "resourceType": "Instance",
                                "tags": [
                                    {"key": "Name", "value": "web"},
                                    {"key": "lightsail:team", "value": "infra"},
                                    {"key": "key-only"}
                                ],
                                "blueprintId": "ubuntu_22_04",
                                "blueprintName": "Ubuntu",
                                "bundleId": "nano_3_0",
                                "addOns": [],
                                "isStaticIp": false,
                                "privateIpAddress": "172.26.1.10",
                                "publicIpAddress": "3.17.1.10",
                                "ipv6Addresses": ["2600:1f16:1:2::a", "2600:1f16:1:2::b"],
                                "ipAddressType": "dualstack",
                                "hardware": {"cpuCount": 2, "ramSizeInGb": 0.5},
                                "networking": {"monthlyTransfer": {"gbPerMonthAllocated": 1024}, "ports": []},
                                "state": {"code": 16, "name": "running"},
                                "username": "ubuntu",
                                "sshKeyName": "LightsailDefaultKeyPair"
                            },
                            {
                                "name": "db-1",
                                "supportCode": "123456789012/i-0fedcba9876543210",
                                "location": {"availabilityZone": "us-east-2b", "regionName": "us-east-2"},
                                "tags": null,
                                "blueprintId": "debian_12",
                                "bundleId": "micro_3_0",
                                "privateIpAddress": "172.26.2.20",
                                "ipv6Addresses": [],
                                "ipAddressType": "ipv4",
                                "state": {"code": 80, "name": "stopped"}
                            },
                            {
                                "name": "starting",
                                "supportCode": "123456789012/i-0aaaaaaaaaaaaaaaa",
                                "location": {"availabilityZone": "us-east-2a", "regionName": "us-east-2"},
                                "blueprintId": "debian_12",
                                "bundleId": "micro_3_0",
                                "state": {"code": 0, "name": "pending"}
                            }
                        ],
                        "nextPageToken": "Prometheus 2.42 asks for one page only"
                    }))
                }
            }),
        ))
        .await;
        let home = tempfile::tempdir().unwrap();
        let env = Environment::from([
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_REGION", "us-east-2"),
        ]);
        let sd = Lightsail::with_environment(
            0,
            &section(&format!("endpoint: {base}\nport: 9100\n")),
            env,
        )
        .unwrap();
        assert_eq!(sd.name(), "lightsail_sd_configs[0]");
        assert_eq!(
            sd.refresh().await.unwrap(),
            vec![
                group(
                    "172.26.1.10:9100",
                    &[
                        ("__meta_lightsail_availability_zone", "us-east-2a"),
                        ("__meta_lightsail_blueprint_id", "ubuntu_22_04"),
                        ("__meta_lightsail_bundle_id", "nano_3_0"),
                        ("__meta_lightsail_instance_name", "web-1"),
                        ("__meta_lightsail_instance_state", "running"),
                        (
                            "__meta_lightsail_instance_support_code",
                            "123456789012/i-0123456789abcdef0"
                        ),
                        (
                            "__meta_lightsail_ipv6_addresses",
                            ",2600:1f16:1:2::a,2600:1f16:1:2::b,"
                        ),
                        ("__meta_lightsail_private_ip", "172.26.1.10"),
                        ("__meta_lightsail_public_ip", "3.17.1.10"),
                        ("__meta_lightsail_region", "us-east-2"),
                        ("__meta_lightsail_tag_Name", "web"),
                        ("__meta_lightsail_tag_lightsail_team", "infra"),
                    ],
                ),
                group(
                    "172.26.2.20:9100",
                    &[
                        ("__meta_lightsail_availability_zone", "us-east-2b"),
                        ("__meta_lightsail_blueprint_id", "debian_12"),
                        ("__meta_lightsail_bundle_id", "micro_3_0"),
                        ("__meta_lightsail_instance_name", "db-1"),
                        ("__meta_lightsail_instance_state", "stopped"),
                        (
                            "__meta_lightsail_instance_support_code",
                            "123456789012/i-0fedcba9876543210"
                        ),
                        ("__meta_lightsail_private_ip", "172.26.2.20"),
                        ("__meta_lightsail_region", "us-east-2"),
                    ],
                ),
            ]
        );
        assert_eq!(*calls.lock().unwrap(), 1);

        // A refused call fails the refresh, naming the URL, and is not retried.
        *fail.lock().unwrap() = Some((
            400,
            r#"{"__type":"AccessDeniedException","code":"AccessDenied","docs":"https://lightsail.aws.amazon.com/ls/docs","message":"User is not authorized to perform lightsail:GetInstances","tip":""}"#,
        ));
        let e = sd.refresh().await.unwrap_err();
        assert_eq!(
            e,
            format!(
                "could not get instances: {base}/: GetInstances failed: AccessDeniedException: User is not authorized to perform lightsail:GetInstances (HTTP status 400 Bad Request)"
            )
        );
        assert_eq!(*calls.lock().unwrap(), 2);
        // So does an answer that is not JSON.
        *fail.lock().unwrap() = Some((200, "<html>"));
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!(
                "could not get instances: {base}/: line 1, column 1"
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_region_is_required() {
        let home = tempfile::tempdir().unwrap();
        let env = Environment::from([
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let sd = Lightsail::with_environment(0, &section("access_key: a\nsecret_key: b\n"), env)
            .unwrap();
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with("Lightsail SD configuration requires a region"),
            "{e}"
        );
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    lightsail_sd_configs:\n      - region: us-east-2\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.lightsail_sd_configs[0];
        assert_eq!(
            (sd.port, sd.refresh_interval, sd.region.as_str()),
            (80, Duration(60_000), "us-east-2")
        );
        assert!(sd.endpoint.is_empty() && sd.profile.is_empty() && sd.role_arn.is_empty());

        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    lightsail_sd_configs:\n      - region: us-east-2\n        endpoint: lightsail.example.com\n        access_key: AKID\n        secret_key: s\n        profile: p\n        role_arn: arn:aws:iam::1:role/r\n        refresh_interval: 5m\n        port: 9100\n        follow_redirects: false\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.lightsail_sd_configs[0];
        assert_eq!((sd.port, sd.refresh_interval), (9100, Duration(300_000)));

        // Lightsail has no filters.
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    lightsail_sd_configs:\n      - region: us-east-2\n        filters: []\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(e.message.contains("filters"), "{}", e.message);
    }
}
