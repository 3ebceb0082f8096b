//! `ec2_sd_configs`: EC2 instances, as Prometheus 2.42's EC2 discovery finds them through
//! the EC2 query API: `DescribeInstances` (following `NextToken`, with the section's
//! filters) for the instances, and `DescribeAvailabilityZones` once, for the zone IDs.
//!
//! Each instance with a private IP address is a target at that address and the section's
//! port. How the calls are signed, and where the region and credentials come from, is in
//! [`super::aws`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::{Provider, Refresh, join_host_port, sanitize_label_name, target};
use crate::aws::{Aws, Call, Environment, Session, aws_sd_config, read_xml};
use crate::config::StaticConfig;

/// The EC2 API version the SDK of Prometheus 2.42 speaks.
const VERSION: &str = "2016-11-15";

aws_sd_config! {
    /// `ec2_sd_configs`: EC2 instances. The HTTP client settings' `authorization` and
    /// `basic_auth` are never sent: requests carry their AWS signature instead.
    pub struct Ec2SdConfig {
        /// Filters of `DescribeInstances`.
        #[serde(default)]
        pub filters: Vec<Ec2Filter>,
    }
}

/// One filter of `DescribeInstances`: a name and the values it matches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Filter {
    /// The filter's name (`tag:Name`, `instance-state-name`).
    #[serde(default)]
    pub name: String,
    /// The values it matches; at least one.
    #[serde(default)]
    pub values: Vec<String>,
}

impl Ec2SdConfig {
    /// Checks the section as Prometheus does: every filter has values. (Prometheus also
    /// refuses a section without a region when the instance metadata service cannot name
    /// one; Skywatch asks it when the discovery runs.)
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.filters.iter().any(|f| f.values.is_empty()) {
            return Err("EC2 SD configuration filter values cannot be empty".into());
        }
        self.http.check()
    }
}

/// An EC2 discoverer.
pub(super) struct Ec2 {
    name: String,
    port: u16,
    interval: StdDuration,
    filters: Vec<Ec2Filter>,
    aws: Aws,
    /// This account's zone names and their IDs (`eu-west-2a` → `euw2-az2`), once
    /// `DescribeAvailabilityZones` has answered: Prometheus asks until it has them, then
    /// keeps them until the configuration is loaded again.
    zone_ids: Mutex<Option<HashMap<String, String>>>,
}

impl Ec2 {
    pub(super) fn new(n: usize, config: &Ec2SdConfig) -> Result<Self, String> {
        Self::with_environment(n, config, Environment::of_process())
    }

    /// A discoverer that reads `env` for what the AWS SDK reads from the environment.
    pub(super) fn with_environment(
        n: usize,
        config: &Ec2SdConfig,
        env: Environment,
    ) -> Result<Self, String> {
        let interval = config.refresh_interval.std();
        Ok(Self {
            name: format!("ec2_sd_configs[{n}]"),
            port: config.port,
            interval,
            filters: config.filters.clone(),
            aws: Aws::new(("ec2", "EC2"), config.aws(), (&config.http, interval), env)?,
            zone_ids: Mutex::default(),
        })
    }

    fn zone_ids(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, String>>> {
        // The map is replaced whole; a panic elsewhere cannot leave it half-written.
        self.zone_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Learns the zone IDs unless they are known. A failure (the credentials may lack
    /// `ec2:DescribeAvailabilityZones`) is logged and the IDs are left empty.
    async fn learn_zone_ids(&self, session: &Session) {
        if self.zone_ids().is_some() {
            return;
        }
        let call = Call::query(
            "DescribeAvailabilityZones",
            VERSION,
            Vec::<(String, String)>::new(),
        );
        let answer = match self.aws.call(session, &call).await {
            Ok(body) => read_xml::<DescribeAvailabilityZones>(&body, &session.url()),
            Err(e) => Err(e.to_string()),
        };
        match answer {
            Ok(zones) => {
                *self.zone_ids() = Some(
                    zones
                        .availability_zone_info
                        .item
                        .into_iter()
                        .map(|z| (z.zone_name, z.zone_id))
                        .collect(),
                );
            }
            Err(e) => {
                tracing::debug!(discovery = %self.name, error = %e, "unable to describe availability zones");
            }
        }
    }

    /// Every reservation, page by page, until an answer has no `NextToken`.
    async fn reservations(&self, session: &Session) -> Result<Vec<Reservation>, String> {
        let mut params = Vec::new();
        for (i, filter) in self.filters.iter().enumerate() {
            params.push((format!("Filter.{}.Name", i + 1), filter.name.clone()));
            for (j, value) in filter.values.iter().enumerate() {
                params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), value.clone()));
            }
        }
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut page_params = params.clone();
            if let Some(token) = &token {
                page_params.push(("NextToken".into(), token.clone()));
            }
            let call = Call::query("DescribeInstances", VERSION, page_params);
            let body = self
                .aws
                .list(session, &call)
                .await
                .map_err(|e| format!("could not describe instances: {e}"))?;
            let page: DescribeInstances = read_xml(&body, &session.url())
                .map_err(|e| format!("could not describe instances: {e}"))?;
            all.extend(page.reservation_set.item);
            match page.next_token {
                // A token given twice would page forever.
                Some(next) if !next.is_empty() && token.as_ref() != Some(&next) => {
                    token = Some(next)
                }
                _ => return Ok(all),
            }
        }
    }

    /// The target of `instance`, if it has a private IP address.
    fn target(
        &self,
        region: &str,
        owner: Option<&String>,
        i: Instance,
        zone_ids: Option<&HashMap<String, String>>,
    ) -> Option<StaticConfig> {
        let private_ip = i.private_ip_address?;
        let mut labels = BTreeMap::new();
        let mut set = |key: &str, value: String| {
            labels.insert(format!("__meta_ec2_{key}"), value);
        };
        set("instance_id", i.instance_id);
        set("region", region.to_owned());
        if let Some(owner) = owner {
            set("owner_id", owner.clone());
        }
        set("private_ip", private_ip.clone());
        if let Some(dns) = i.private_dns_name {
            set("private_dns_name", dns);
        }
        if let Some(platform) = i.platform {
            set("platform", platform);
        }
        if let Some(ip) = i.ip_address {
            set("public_ip", ip);
            set("public_dns_name", i.dns_name.unwrap_or_default());
        }
        set("ami", i.image_id);
        let zone_id = zone_ids
            .and_then(|ids| ids.get(&i.placement.availability_zone))
            .cloned();
        if zone_id.is_none() && zone_ids.is_some() {
            tracing::debug!(discovery = %self.name, az = %i.placement.availability_zone, "availability zone ID not found");
        }
        set("availability_zone", i.placement.availability_zone);
        set("availability_zone_id", zone_id.unwrap_or_default());
        set("instance_state", i.instance_state.name);
        set("instance_type", i.instance_type);
        if let Some(lifecycle) = i.instance_lifecycle {
            set("instance_lifecycle", lifecycle);
        }
        if let Some(arch) = i.architecture {
            set("architecture", arch);
        }
        if let Some(vpc) = i.vpc_id {
            set("vpc_id", vpc);
            set("primary_subnet_id", i.subnet_id.unwrap_or_default());
            // The interfaces' subnets, each once, in EC2's order; their IPv6 addresses.
            let mut subnets: Vec<String> = Vec::new();
            let mut ipv6 = Vec::new();
            for interface in i.network_interface_set.item {
                let Some(subnet) = interface.subnet_id else {
                    continue;
                };
                if !subnets.contains(&subnet) {
                    subnets.push(subnet);
                }
                ipv6.extend(
                    interface
                        .ipv6_addresses_set
                        .item
                        .into_iter()
                        .map(|a| a.ipv6_address),
                );
            }
            // Lists carry a comma on both ends, so that a relabelling regex need not
            // care where in the list an item is.
            set("subnet_id", format!(",{},", subnets.join(",")));
            if !ipv6.is_empty() {
                set("ipv6_addresses", format!(",{},", ipv6.join(",")));
            }
        }
        for tag in i.tag_set.item {
            if let (Some(key), Some(value)) = (tag.key, tag.value) {
                set(&format!("tag_{}", sanitize_label_name(&key)), value);
            }
        }
        Some(target(join_host_port(&private_ip, self.port), labels))
    }
}

impl Provider for Ec2 {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        self.interval
    }

    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let session = self.aws.session().await?;
            self.learn_zone_ids(&session).await;
            let reservations = self.reservations(&session).await?;
            let zone_ids = self.zone_ids().clone();
            let mut out = Vec::new();
            for r in reservations {
                for instance in r.instances_set.item {
                    out.extend(self.target(
                        &session.region,
                        r.owner_id.as_ref(),
                        instance,
                        zone_ids.as_ref(),
                    ));
                }
            }
            Ok(out)
        })
    }
}

/// The `item`s of an EC2 list (`<tagSet><item>…</item></tagSet>`).
#[derive(Deserialize)]
struct Items<T> {
    #[serde(default = "Vec::new")]
    item: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Self { item: Vec::new() }
    }
}

/// `DescribeAvailabilityZonesResponse`.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DescribeAvailabilityZones {
    availability_zone_info: Items<Zone>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Zone {
    zone_name: String,
    zone_id: String,
}

/// `DescribeInstancesResponse`: a page of reservations.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DescribeInstances {
    reservation_set: Items<Reservation>,
    next_token: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Reservation {
    owner_id: Option<String>,
    instances_set: Items<Instance>,
}

/// The fields of an instance that Prometheus labels. An element that is absent is
/// `None`, as it is `nil` to the SDK; an empty one (`<privateDnsName/>`) is `Some("")`.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Instance {
    instance_id: String,
    image_id: String,
    instance_state: InstanceState,
    private_dns_name: Option<String>,
    dns_name: Option<String>,
    instance_type: String,
    placement: Placement,
    platform: Option<String>,
    subnet_id: Option<String>,
    vpc_id: Option<String>,
    private_ip_address: Option<String>,
    ip_address: Option<String>,
    architecture: Option<String>,
    instance_lifecycle: Option<String>,
    tag_set: Items<Tag>,
    network_interface_set: Items<NetworkInterface>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct InstanceState {
    name: String,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Placement {
    availability_zone: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Tag {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NetworkInterface {
    subnet_id: Option<String>,
    ipv6_addresses_set: Items<Ipv6Address>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Ipv6Address {
    ipv6_address: String,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post, put};

    use super::super::testing::{fake_api, group};
    use super::*;
    use crate::config::Duration;
    use aws::testing::check_signature;

    /// A fake of the EC2 query API (and of STS and IMDS, which the credentials may
    /// need) on one loopback port.
    #[derive(Default)]
    struct Fake {
        /// The key, secret and session token EC2 calls must be signed with.
        ec2: (&'static str, &'static str, Option<&'static str>),
        /// The key and secret `AssumeRole` must be signed with.
        sts: (&'static str, &'static str),
        /// The region calls are signed for.
        region: &'static str,
        /// Each EC2 or STS call's form, as sent.
        calls: Mutex<Vec<String>>,
        /// An answer to give instead of EC2's.
        fail: Mutex<Option<(u16, &'static str)>>,
        /// An answer to give to DescribeAvailabilityZones instead.
        fail_zones: Mutex<Option<(u16, &'static str)>>,
    }

    fn xml(status: u16, body: impl Into<String>) -> (StatusCode, String) {
        (StatusCode::from_u16(status).unwrap(), body.into())
    }

    fn ec2_error(code: &str, message: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
        )
    }

    impl Fake {
        fn answer(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, String) {
            let form: BTreeMap<String, String> =
                form_urlencoded::parse(body).into_owned().collect();
            let action = form.get("Action").cloned().unwrap_or_default();
            assert_eq!(
                headers["content-type"],
                "application/x-www-form-urlencoded; charset=utf-8"
            );
            let signed = if action == "AssumeRole" {
                check_signature(
                    "/",
                    headers,
                    body,
                    self.sts,
                    (self.region, "sts"),
                    "content-length;content-type;host;x-amz-date",
                )
            } else {
                let (key, secret, token) = self.ec2;
                let headers_signed = match token {
                    Some(token) => {
                        assert_eq!(headers["x-amz-security-token"], token);
                        "content-length;content-type;host;x-amz-date;x-amz-security-token"
                    }
                    None => "content-length;content-type;host;x-amz-date",
                };
                check_signature(
                    "/",
                    headers,
                    body,
                    (key, secret),
                    (self.region, "ec2"),
                    headers_signed,
                )
            };
            if let Err(e) = signed {
                return xml(403, ec2_error("SignatureDoesNotMatch", &e));
            }
            self.calls
                .lock()
                .unwrap()
                .push(String::from_utf8(body.to_vec()).unwrap());
            match action.as_str() {
                "AssumeRole" => xml(200, ASSUME_ROLE),
                "DescribeAvailabilityZones" => match *self.fail_zones.lock().unwrap() {
                    Some((status, body)) => xml(status, body),
                    None => xml(200, ZONES),
                },
                "DescribeInstances" => match *self.fail.lock().unwrap() {
                    Some((status, body)) => xml(status, body),
                    None => match form.get("NextToken").map(String::as_str) {
                        None => xml(200, PAGE_1),
                        Some("eyJ2IjoxLCJjIjoicGFnZS0yIn0=") => xml(200, PAGE_2),
                        Some(other) => panic!("token {other} was not given"),
                    },
                },
                other => panic!("unexpected action {other}"),
            }
        }
    }

    async fn serve(fake: Arc<Fake>) -> String {
        let api = fake.clone();
        let imds_token = |h: &HeaderMap| {
            assert_eq!(h["x-aws-ec2-metadata-token"], "imds-token");
        };
        fake_api(
            axum::Router::new()
                .route(
                    "/",
                    post(move |h: HeaderMap, body: Bytes| {
                        let api = api.clone();
                        async move { api.answer(&h, &body) }
                    }),
                )
                .route(
                    "/latest/api/token",
                    put(|h: HeaderMap| async move {
                        assert_eq!(h["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
                        "imds-token"
                    }),
                )
                .route(
                    "/latest/dynamic/instance-identity/document",
                    get(move |h: HeaderMap| async move {
                        imds_token(&h);
                        r#"{"accountId":"123456789012","architecture":"x86_64","availabilityZone":"eu-west-1a","imageId":"ami-0abcdef1234567890","instanceId":"i-0aaaaaaaaaaaaaaaa","instanceType":"t3.small","pendingTime":"2023-01-10T16:46:19Z","privateIp":"10.0.0.5","region":"eu-west-1","version":"2017-09-30"}"#
                    }),
                )
                .route(
                    "/latest/meta-data/iam/security-credentials/",
                    get(move |h: HeaderMap| async move {
                        imds_token(&h);
                        "prometheus-discovery"
                    }),
                )
                .route(
                    "/latest/meta-data/iam/security-credentials/prometheus-discovery",
                    get(move |h: HeaderMap| async move {
                        imds_token(&h);
                        r#"{"Code":"Success","LastUpdated":"2023-01-10T16:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDSEXAMPLE","SecretAccessKey":"imds/secret","Token":"imds-session-token","Expiration":"2023-01-10T22:00:00Z"}"#
                    }),
                ),
        )
        .await
    }

    const ZONES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>e23c5a54-a29c-43ee-8b55-example</requestId>
    <availabilityZoneInfo>
        <item>
            <zoneName>eu-west-1a</zoneName>
            <zoneState>available</zoneState>
            <regionName>eu-west-1</regionName>
            <messageSet/>
            <zoneId>euw1-az3</zoneId>
            <zoneType>availability-zone</zoneType>
        </item>
        <item>
            <zoneName>eu-west-1b</zoneName>
            <zoneState>available</zoneState>
            <regionName>eu-west-1</regionName>
            <messageSet/>
            <zoneId>euw1-az1</zoneId>
            <zoneType>availability-zone</zoneType>
        </item>
    </availabilityZoneInfo>
</DescribeAvailabilityZonesResponse>"#;

    /// Two instances labelled and one without a private address; more on the next page.
    const PAGE_1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-1234567890abcdef0</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>i-1234567890abcdef0</instanceId>
                    <imageId>ami-0abcdef1234567890</imageId>
                    <instanceState><code>16</code><name>running</name></instanceState>
                    <privateDnsName>ip-10-0-1-12.eu-west-1.compute.internal</privateDnsName>
                    <dnsName>ec2-54-194-252-215.eu-west-1.compute.amazonaws.com</dnsName>
                    <reason/>
                    <keyName>my_keypair</keyName>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>m5.large</instanceType>
                    <launchTime>2023-01-10T16:46:19.000Z</launchTime>
                    <placement><availabilityZone>eu-west-1a</availabilityZone><groupName/><tenancy>default</tenancy></placement>
                    <platform>windows</platform>
                    <monitoring><state>disabled</state></monitoring>
                    <subnetId>subnet-0a1b2c3d</subnetId>
                    <vpcId>vpc-11112222</vpcId>
                    <privateIpAddress>10.0.1.12</privateIpAddress>
                    <ipAddress>54.194.252.215</ipAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet><item><groupId>sg-0598c7d356eba48d7</groupId><groupName>web</groupName></item></groupSet>
                    <architecture>x86_64</architecture>
                    <rootDeviceType>ebs</rootDeviceType>
                    <rootDeviceName>/dev/xvda</rootDeviceName>
                    <blockDeviceMapping>
                        <item><deviceName>/dev/xvda</deviceName><ebs><volumeId>vol-1234567890abcdef0</volumeId><status>attached</status><deleteOnTermination>true</deleteOnTermination></ebs></item>
                    </blockDeviceMapping>
                    <instanceLifecycle>spot</instanceLifecycle>
                    <spotInstanceRequestId>sir-abcd1234</spotInstanceRequestId>
                    <virtualizationType>hvm</virtualizationType>
                    <clientToken/>
                    <tagSet>
                        <item><key>Name</key><value>web-1</value></item>
                        <item><key>aws:autoscaling:groupName</key><value>web-asg</value></item>
                        <item><key>empty</key><value/></item>
                    </tagSet>
                    <hypervisor>xen</hypervisor>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-551ba033</networkInterfaceId>
                            <subnetId>subnet-0a1b2c3d</subnetId>
                            <vpcId>vpc-11112222</vpcId>
                            <description>Primary network interface</description>
                            <ownerId>123456789012</ownerId>
                            <status>in-use</status>
                            <macAddress>02:dd:2c:5e:01:69</macAddress>
                            <privateIpAddress>10.0.1.12</privateIpAddress>
                            <privateDnsName>ip-10-0-1-12.eu-west-1.compute.internal</privateDnsName>
                            <sourceDestCheck>true</sourceDestCheck>
                            <ipv6AddressesSet><item><ipv6Address>2a05:d018:1:2::10</ipv6Address></item></ipv6AddressesSet>
                        </item>
                        <item>
                            <networkInterfaceId>eni-662cb144</networkInterfaceId>
                            <subnetId>subnet-0e0f0a0b</subnetId>
                            <vpcId>vpc-11112222</vpcId>
                            <privateIpAddress>10.0.3.9</privateIpAddress>
                            <ipv6AddressesSet>
                                <item><ipv6Address>2a05:d018:1:3::20</ipv6Address></item>
                                <item><ipv6Address>2a05:d018:1:3::21</ipv6Address></item>
                            </ipv6AddressesSet>
                        </item>
                        <item>
                            <networkInterfaceId>eni-773dc255</networkInterfaceId>
                            <subnetId>subnet-0a1b2c3d</subnetId>
                            <vpcId>vpc-11112222</vpcId>
                            <privateIpAddress>10.0.1.30</privateIpAddress>
                            <ipv6AddressesSet/>
                        </item>
                    </networkInterfaceSet>
                    <ebsOptimized>false</ebsOptimized>
                </item>
                <item>
                    <instanceId>i-0fedcba9876543210</instanceId>
                    <imageId>ami-0fedcba9876543210</imageId>
                    <instanceState><code>80</code><name>stopped</name></instanceState>
                    <privateDnsName/>
                    <dnsName/>
                    <instanceType>t4g.micro</instanceType>
                    <placement><availabilityZone>eu-west-1b</availabilityZone></placement>
                    <privateIpAddress>10.0.2.7</privateIpAddress>
                    <architecture>arm64</architecture>
                    <tagSet/>
                    <networkInterfaceSet/>
                </item>
                <item>
                    <instanceId>i-0aaaaaaaaaaaaaaaa</instanceId>
                    <imageId>ami-0abcdef1234567890</imageId>
                    <instanceState><code>48</code><name>terminated</name></instanceState>
                    <privateDnsName/>
                    <dnsName/>
                    <instanceType>t3.small</instanceType>
                    <placement><availabilityZone>eu-west-1a</availabilityZone></placement>
                    <tagSet/>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
    <nextToken>eyJ2IjoxLCJjIjoicGFnZS0yIn0=</nextToken>
</DescribeInstancesResponse>"#;

    /// The last page: an instance in a zone DescribeAvailabilityZones did not name.
    const PAGE_2: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>9a8b7c6d-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-0badc0ffee0ddf00d</reservationId>
            <ownerId>123456789012</ownerId>
            <requesterId>940372691376</requesterId>
            <instancesSet>
                <item>
                    <instanceId>i-0c0c0c0c0c0c0c0c0</instanceId>
                    <imageId>ami-0c0c0c0c0c0c0c0c0</imageId>
                    <instanceState><code>16</code><name>running</name></instanceState>
                    <privateDnsName>ip-10-0-4-4.eu-west-1.compute.internal</privateDnsName>
                    <dnsName/>
                    <instanceType>c6i.xlarge</instanceType>
                    <placement><availabilityZone>eu-west-1c</availabilityZone></placement>
                    <subnetId>subnet-0c0c0c0c</subnetId>
                    <vpcId>vpc-11112222</vpcId>
                    <privateIpAddress>10.0.4.4</privateIpAddress>
                    <tagSet><item><key>no-value</key></item></tagSet>
                    <networkInterfaceSet>
                        <item><networkInterfaceId>eni-0c</networkInterfaceId><subnetId>subnet-0c0c0c0c</subnetId><privateIpAddress>10.0.4.4</privateIpAddress></item>
                    </networkInterfaceSet>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
</DescribeInstancesResponse>"#;

    const ASSUME_ROLE: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:1673370000000000000</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/discovery/1673370000000000000</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAROLEEXAMPLE</AccessKeyId>
      <SecretAccessKey>role/secret</SecretAccessKey>
      <SessionToken>role-session-token</SessionToken>
      <Expiration>2023-01-10T17:01:19Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-example</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#;

    fn section(yaml: &str) -> Ec2SdConfig {
        let config: Ec2SdConfig = yaml::from_str(yaml).unwrap();
        config.validate().unwrap();
        config
    }

    /// An environment with nothing the SDK would find credentials in.
    fn empty_environment(home: &std::path::Path) -> Environment {
        Environment::from([
            ("HOME", home.to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ])
    }

    /// The labels every instance has, and those of the first page's first instance.
    fn web_1(region: &str, zone_id: &str) -> StaticConfig {
        group(
            "10.0.1.12:9100",
            &[
                ("__meta_ec2_ami", "ami-0abcdef1234567890"),
                ("__meta_ec2_architecture", "x86_64"),
                ("__meta_ec2_availability_zone", "eu-west-1a"),
                ("__meta_ec2_availability_zone_id", zone_id),
                ("__meta_ec2_instance_id", "i-1234567890abcdef0"),
                ("__meta_ec2_instance_lifecycle", "spot"),
                ("__meta_ec2_instance_state", "running"),
                ("__meta_ec2_instance_type", "m5.large"),
                (
                    "__meta_ec2_ipv6_addresses",
                    ",2a05:d018:1:2::10,2a05:d018:1:3::20,2a05:d018:1:3::21,",
                ),
                ("__meta_ec2_owner_id", "123456789012"),
                ("__meta_ec2_platform", "windows"),
                ("__meta_ec2_primary_subnet_id", "subnet-0a1b2c3d"),
                (
                    "__meta_ec2_private_dns_name",
                    "ip-10-0-1-12.eu-west-1.compute.internal",
                ),
                ("__meta_ec2_private_ip", "10.0.1.12"),
                (
                    "__meta_ec2_public_dns_name",
                    "ec2-54-194-252-215.eu-west-1.compute.amazonaws.com",
                ),
                ("__meta_ec2_public_ip", "54.194.252.215"),
                ("__meta_ec2_region", region),
                ("__meta_ec2_subnet_id", ",subnet-0a1b2c3d,subnet-0e0f0a0b,"),
                ("__meta_ec2_tag_Name", "web-1"),
                ("__meta_ec2_tag_aws_autoscaling_groupName", "web-asg"),
                ("__meta_ec2_tag_empty", ""),
                ("__meta_ec2_vpc_id", "vpc-11112222"),
            ],
        )
    }

    #[tokio::test]
    async fn instances_are_labelled_as_prometheus_labels_them() {
        let fake = Arc::new(Fake {
            ec2: (
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                None,
            ),
            region: "eu-west-1",
            ..Fake::default()
        });
        let base = serve(fake.clone()).await;
        let home = tempfile::tempdir().unwrap();
        let config = section(&format!(
            "region: eu-west-1\nendpoint: {base}\naccess_key: AKIDEXAMPLE\nsecret_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\nport: 9100\nfilters:\n  - name: tag:Environment\n    values: [prod, staging]\n  - name: instance-state-name\n    values: [running, stopped]\n"
        ));
        let sd = Ec2::with_environment(0, &config, empty_environment(home.path())).unwrap();
        assert_eq!(sd.name(), "ec2_sd_configs[0]");
        let expected = vec![
            web_1("eu-west-1", "euw1-az3"),
            group(
                "10.0.2.7:9100",
                &[
                    ("__meta_ec2_ami", "ami-0fedcba9876543210"),
                    ("__meta_ec2_architecture", "arm64"),
                    ("__meta_ec2_availability_zone", "eu-west-1b"),
                    ("__meta_ec2_availability_zone_id", "euw1-az1"),
                    ("__meta_ec2_instance_id", "i-0fedcba9876543210"),
                    ("__meta_ec2_instance_state", "stopped"),
                    ("__meta_ec2_instance_type", "t4g.micro"),
                    ("__meta_ec2_owner_id", "123456789012"),
                    ("__meta_ec2_private_dns_name", ""),
                    ("__meta_ec2_private_ip", "10.0.2.7"),
                    ("__meta_ec2_region", "eu-west-1"),
                ],
            ),
            group(
                "10.0.4.4:9100",
                &[
                    ("__meta_ec2_ami", "ami-0c0c0c0c0c0c0c0c0"),
                    ("__meta_ec2_availability_zone", "eu-west-1c"),
                    ("__meta_ec2_availability_zone_id", ""),
                    ("__meta_ec2_instance_id", "i-0c0c0c0c0c0c0c0c0"),
                    ("__meta_ec2_instance_state", "running"),
                    ("__meta_ec2_instance_type", "c6i.xlarge"),
                    ("__meta_ec2_owner_id", "123456789012"),
                    ("__meta_ec2_primary_subnet_id", "subnet-0c0c0c0c"),
                    (
                        "__meta_ec2_private_dns_name",
                        "ip-10-0-4-4.eu-west-1.compute.internal",
                    ),
                    ("__meta_ec2_private_ip", "10.0.4.4"),
                    ("__meta_ec2_region", "eu-west-1"),
                    ("__meta_ec2_subnet_id", ",subnet-0c0c0c0c,"),
                    ("__meta_ec2_vpc_id", "vpc-11112222"),
                ],
            ),
        ];
        assert_eq!(sd.refresh().await.unwrap(), expected);
        let filters = "Filter.1.Name=tag%3AEnvironment&Filter.1.Value.1=prod&Filter.1.Value.2=staging&Filter.2.Name=instance-state-name&Filter.2.Value.1=running&Filter.2.Value.2=stopped";
        assert_eq!(
            *fake.calls.lock().unwrap(),
            [
                "Action=DescribeAvailabilityZones&Version=2016-11-15".to_owned(),
                format!("Action=DescribeInstances&{filters}&Version=2016-11-15"),
                format!(
                    "Action=DescribeInstances&{filters}&NextToken=eyJ2IjoxLCJjIjoicGFnZS0yIn0%3D&Version=2016-11-15"
                ),
            ]
        );

        // The zone IDs are kept: the next refresh asks for the instances only.
        fake.calls.lock().unwrap().clear();
        assert_eq!(sd.refresh().await.unwrap(), expected);
        assert!(
            fake.calls
                .lock()
                .unwrap()
                .iter()
                .all(|c| c.starts_with("Action=DescribeInstances&"))
        );

        // A failing API fails the refresh, naming the URL, after the SDK's three retries.
        fake.calls.lock().unwrap().clear();
        *fake.fail.lock().unwrap() = Some((
            503,
            "<Response><Errors><Error><Code>Unavailable</Code><Message>The server is overloaded &amp; cannot answer</Message></Error></Errors></Response>",
        ));
        let e = sd.refresh().await.unwrap_err();
        assert_eq!(
            e,
            format!(
                "could not describe instances: {base}/: DescribeInstances failed: Unavailable: The server is overloaded & cannot answer (HTTP status 503 Service Unavailable)"
            )
        );
        assert_eq!(fake.calls.lock().unwrap().len(), 4);

        // So does an answer that is not XML.
        *fake.fail.lock().unwrap() = Some((200, "{\"not\": \"xml\"}"));
        let e = sd.refresh().await.unwrap_err();
        assert!(
            e.starts_with(&format!(
                "could not describe instances: {base}/: cannot read the answer"
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn zone_ids_are_asked_for_until_they_are_had() {
        let fake = Arc::new(Fake {
            ec2: ("AKIDEXAMPLE", "secret", None),
            region: "eu-west-1",
            ..Fake::default()
        });
        *fake.fail_zones.lock().unwrap() = Some((
            403,
            "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors></Response>",
        ));
        let base = serve(fake.clone()).await;
        let home = tempfile::tempdir().unwrap();
        let config = section(&format!(
            "region: eu-west-1\nendpoint: {base}\naccess_key: AKIDEXAMPLE\nsecret_key: secret\nport: 9100\n"
        ));
        let sd = Ec2::with_environment(0, &config, empty_environment(home.path())).unwrap();
        // Without the IDs, every instance is labelled with an empty one.
        let targets = sd.refresh().await.unwrap();
        assert_eq!(targets[0], web_1("eu-west-1", ""));
        assert!(
            targets
                .iter()
                .all(|t| t.labels["__meta_ec2_availability_zone_id"].is_empty())
        );
        *fake.fail_zones.lock().unwrap() = None;
        assert_eq!(
            sd.refresh().await.unwrap()[0],
            web_1("eu-west-1", "euw1-az3")
        );
        let zone_calls = |fake: &Fake| {
            fake.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.starts_with("Action=DescribeAvailabilityZones"))
                .count()
        };
        assert_eq!(zone_calls(&fake), 2);
        sd.refresh().await.unwrap();
        assert_eq!(zone_calls(&fake), 2);
    }

    #[tokio::test]
    async fn region_and_credentials_come_from_the_instance_metadata_service() {
        let fake = Arc::new(Fake {
            ec2: ("ASIAIMDSEXAMPLE", "imds/secret", Some("imds-session-token")),
            region: "eu-west-1",
            ..Fake::default()
        });
        let base = serve(fake.clone()).await;
        let home = tempfile::tempdir().unwrap();
        let config = section(&format!("endpoint: {base}\nport: 9100\n"));
        let env = Environment::from([
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", base.as_str()),
        ]);
        let sd = Ec2::with_environment(0, &config, env).unwrap();
        assert_eq!(
            sd.refresh().await.unwrap()[0],
            web_1("eu-west-1", "euw1-az3")
        );
    }

    #[tokio::test]
    async fn a_profiles_credentials_assume_the_role_at_the_endpoint() {
        let fake = Arc::new(Fake {
            ec2: ("ASIAROLEEXAMPLE", "role/secret", Some("role-session-token")),
            sts: ("AKIDPROFILE", "profile/secret"),
            region: "us-east-2",
            ..Fake::default()
        });
        let base = serve(fake.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default\n\n[discovery]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile/secret\n",
        )
        .unwrap();
        let config = section(&format!(
            "region: us-east-2\nendpoint: {base}\nprofile: discovery\nrole_arn: arn:aws:iam::123456789012:role/discovery\n"
        ));
        // The section's profile is read even with keys in the environment.
        let env = Environment::from([
            ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let sd = Ec2::with_environment(0, &config, env).unwrap();
        let targets = sd.refresh().await.unwrap();
        assert_eq!(targets[0].labels["__meta_ec2_region"], "us-east-2");
        let calls = fake.calls.lock().unwrap().clone();
        let assume: BTreeMap<String, String> = form_urlencoded::parse(calls[0].as_bytes())
            .into_owned()
            .collect();
        assert_eq!(assume["Action"], "AssumeRole");
        assert_eq!(
            assume["RoleArn"],
            "arn:aws:iam::123456789012:role/discovery"
        );
        assert_eq!(assume["DurationSeconds"], "900");
        assert_eq!(assume["Version"], "2011-06-15");
        assert!(assume["RoleSessionName"].parse::<u128>().is_ok());
        // The role's credentials are kept for the next refresh; once EC2 refuses them,
        // the next refresh assumes the role again.
        let assumed = |fake: &Fake| {
            fake.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.starts_with("Action=AssumeRole"))
                .count()
        };
        sd.refresh().await.unwrap();
        assert_eq!(assumed(&fake), 1);
        *fake.fail.lock().unwrap() = Some((
            401,
            "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors></Response>",
        ));
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("AuthFailure"), "{e}");
        *fake.fail.lock().unwrap() = None;
        sd.refresh().await.unwrap();
        assert_eq!(assumed(&fake), 2);
    }

    #[tokio::test]
    async fn missing_regions_and_credentials_fail_the_refresh_saying_why() {
        let home = tempfile::tempdir().unwrap();
        let refresh = |yaml: &str, env: Environment| {
            let sd = Ec2::with_environment(0, &section(yaml), env).unwrap();
            async move { sd.refresh().await.unwrap_err() }
        };
        let e = refresh(
            "access_key: a\nsecret_key: b\n",
            empty_environment(home.path()),
        )
        .await;
        assert!(
            e.starts_with("EC2 SD configuration requires a region (none is set, nor AWS_REGION, and the instance metadata service did not say: EC2 IMDS access disabled"),
            "{e}"
        );
        let e = refresh(
            "region: eu-west-1\naccess_key: a\n",
            empty_environment(home.path()),
        )
        .await;
        assert!(e.starts_with("EmptyStaticCreds"), "{e}");
        let e = refresh(
            "region: eu-west-1\nprofile: nope\n",
            empty_environment(home.path()),
        )
        .await;
        assert!(
            e.contains("SharedConfigProfileNotExistsError: failed to get profile \"nope\""),
            "{e}"
        );
        let e = refresh("region: eu-west-1\n", empty_environment(home.path())).await;
        assert!(e.starts_with("NoCredentialProviders"), "{e}");
    }

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ec2_sd_configs:\n      - region: eu-west-1\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.ec2_sd_configs[0];
        assert_eq!(
            (sd.port, sd.refresh_interval, sd.region.as_str()),
            (80, Duration(60_000), "eu-west-1")
        );
        assert!(sd.endpoint.is_empty() && sd.filters.is_empty() && sd.role_arn.is_empty());
        assert!(sd.http.follow_redirects && sd.http.enable_http2);

        // Every key Prometheus documents.
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ec2_sd_configs:\n      - region: us-east-1\n        endpoint: https://ec2.example.com\n        access_key: AKID\n        secret_key: s\n        profile: p\n        role_arn: arn:aws:iam::1:role/r\n        refresh_interval: 30s\n        port: 9100\n        filters:\n          - name: tag:Name\n            values: [a, b]\n        proxy_url: http://proxy:3128\n        follow_redirects: false\n        enable_http2: false\n        tls_config:\n          insecure_skip_verify: true\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.ec2_sd_configs[0];
        assert_eq!(sd.refresh_interval, Duration(30_000));
        assert_eq!(sd.filters[0].values, ["a", "b"]);
    }

    #[test]
    fn prometheus_refusals_are_refused() {
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ec2_sd_configs:\n      - region: eu-west-1\n        filters:\n          - name: tag:Name\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("ec2_sd_configs[0]: EC2 SD configuration filter values cannot be empty"),
            "{}",
            e.message
        );
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    ec2_sd_configs:\n      - region: eu-west-1\n        regoin: x\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(e.message.contains("regoin"), "{}", e.message);
    }
}
