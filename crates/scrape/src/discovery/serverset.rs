//! `serverset_sd_configs`: Twitter serversets (Finagle, Aurora) in ZooKeeper, as
//! Prometheus 2.42 discovers them. The trees are followed as [`super::zookeeper`]
//! describes; this is how one member znode's JSON becomes a target.
//!
//! A member is written as
//! `{"serviceEndpoint": {"host": "10.0.0.1", "port": 8080}, "additionalEndpoints":
//! {"admin": {"host": "10.0.0.1", "port": 9990}}, "status": "ALIVE", "shard": 0}`
//! (keys in any case, as Go reads them). Its target is the service endpoint's
//! `host:port`, labelled
//!
//! - `__meta_serverset_path`: the member znode's full path;
//! - `__meta_serverset_endpoint_host`, `__meta_serverset_endpoint_port`: the service
//!   endpoint's;
//! - `__meta_serverset_endpoint_host_<name>`, `__meta_serverset_endpoint_port_<name>`:
//!   each additional endpoint's, its name made a label name (`_` for every character but
//!   letters, digits and `_`);
//! - `__meta_serverset_status`, `__meta_serverset_shard`.
//!
//! Every label is there for every member, `""` or `0` where the JSON has nothing. Data that
//! is not such JSON (the serverset's own znode, a Thrift-encoded member) is no target.
//!
//! **Difference from Prometheus**: when two additional endpoints' names make the same label
//! name (`a-b` and `a.b`), Prometheus labels with whichever its map iteration gives last,
//! at random; Skywatch with the one whose name sorts last.

use std::collections::BTreeMap;

use serde::de::MapAccess;

use super::zookeeper::{Fill, FillMap, GoStruct, go_int, go_string, go_unmarshal, skip};
use super::{join_host_port, sanitize_label_name};

/// The labels' common prefix.
const PREFIX: &str = "__meta_serverset_";

/// A member's target: its address and labels, or why `data` is no member.
pub(super) fn parse_member(
    data: &[u8],
    path: &str,
) -> Result<(String, BTreeMap<String, String>), String> {
    let member: Member = go_unmarshal(data)
        .map_err(|e| format!("error unmarshaling serverset member {path:?}: {e}"))?;
    let endpoint = &member.service_endpoint;
    let mut labels = BTreeMap::new();
    let mut label = |name: &str, value: String| labels.insert(format!("{PREFIX}{name}"), value);
    label("path", path.to_owned());
    label("endpoint_host", endpoint.host.clone());
    label("endpoint_port", endpoint.port.to_string());
    for (name, other) in &member.additional_endpoints {
        let name = sanitize_label_name(name);
        label(&format!("endpoint_host_{name}"), other.host.clone());
        label(&format!("endpoint_port_{name}"), other.port.to_string());
    }
    label("status", member.status);
    label("shard", member.shard.to_string());
    Ok((join_host_port(&endpoint.host, endpoint.port), labels))
}

/// A serverset member, as Prometheus's `serversetMember` reads it.
#[derive(Default)]
struct Member {
    service_endpoint: Endpoint,
    additional_endpoints: BTreeMap<String, Endpoint>,
    status: String,
    shard: i64,
}

impl GoStruct for Member {
    fn field<'de, A: MapAccess<'de>>(&mut self, field: &str, map: &mut A) -> Result<(), A::Error> {
        match field {
            "serviceendpoint" => map.next_value_seed(Fill(&mut self.service_endpoint)),
            "additionalendpoints" => map.next_value_seed(FillMap(&mut self.additional_endpoints)),
            "status" => go_string(map, &mut self.status),
            "shard" => go_int(map, &mut self.shard),
            _ => skip(map),
        }
    }
}

/// An endpoint of a member.
#[derive(Default)]
struct Endpoint {
    host: String,
    port: i64,
}

impl GoStruct for Endpoint {
    fn field<'de, A: MapAccess<'de>>(&mut self, field: &str, map: &mut A) -> Result<(), A::Error> {
        match field {
            "host" => go_string(map, &mut self.host),
            "port" => go_int(map, &mut self.port),
            _ => skip(map),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::zookeeper::check_member;
    use super::*;

    /// Checks that `data` at `path` is the target `address` with exactly `labels`.
    fn check(data: &str, path: &str, address: &str, labels: &[(&str, &str)]) {
        check_member(parse_member, PREFIX, (data, path), address, labels);
    }

    #[test]
    fn a_member_with_additional_endpoints() {
        // As Finagle's ZooKeeper announcer writes one.
        check(
            r#"{"serviceEndpoint":{"host":"10.1.2.3","port":31010},"additionalEndpoints":{"aurora":{"host":"10.1.2.3","port":31010},"health":{"host":"10.1.2.3","port":31011},"admin-http":{"host":"admin.local","port":9990}},"status":"ALIVE","shard":3}"#,
            "/aurora/www-data/prod/hello/member_0000000042",
            "10.1.2.3:31010",
            &[
                ("path", "/aurora/www-data/prod/hello/member_0000000042"),
                ("endpoint_host", "10.1.2.3"),
                ("endpoint_port", "31010"),
                ("endpoint_host_admin_http", "admin.local"),
                ("endpoint_port_admin_http", "9990"),
                ("endpoint_host_aurora", "10.1.2.3"),
                ("endpoint_port_aurora", "31010"),
                ("endpoint_host_health", "10.1.2.3"),
                ("endpoint_port_health", "31011"),
                ("status", "ALIVE"),
                ("shard", "3"),
            ],
        );
    }

    #[test]
    fn absent_fields_are_zero_and_keys_match_in_any_case() {
        check(
            r#"{"ServiceEndpoint":{"HOST":"2001:db8::1","Port":80},"extra":[1,2]}"#,
            "/s/m",
            "[2001:db8::1]:80",
            &[
                ("path", "/s/m"),
                ("endpoint_host", "2001:db8::1"),
                ("endpoint_port", "80"),
                ("status", ""),
                ("shard", "0"),
            ],
        );
        // JSON null is a member too, of zero values, as Go decodes it.
        check(
            "null",
            "/s/n",
            ":0",
            &[
                ("path", "/s/n"),
                ("endpoint_host", ""),
                ("endpoint_port", "0"),
                ("status", ""),
                ("shard", "0"),
            ],
        );
    }

    #[test]
    fn data_that_is_no_member_is_no_target() {
        for data in [
            "",
            "serverset",
            "[]",
            r#"{"serviceEndpoint":{"host":"a","port":"80"}}"#,
            r#"{"serviceEndpoint":{"host":"a","port":80.5}}"#,
            r#"{"shard":"1"}"#,
            r#"{"additionalEndpoints":[]}"#,
        ] {
            let e = parse_member(data.as_bytes(), "/s").unwrap_err();
            assert!(
                e.starts_with("error unmarshaling serverset member \"/s\": "),
                "{e}"
            );
        }
    }
}
