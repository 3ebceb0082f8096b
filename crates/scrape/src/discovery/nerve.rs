//! `nerve_sd_configs`: services registered in ZooKeeper by Airbnb's Nerve, as Prometheus
//! 2.42 discovers them. The trees are followed as [`super::zookeeper`] describes; this is
//! how one member znode's JSON becomes a target.
//!
//! Nerve writes a member as `{"host": "10.0.0.1", "port": 8080, "name": "i-0abc"}` (other
//! keys, such as `weight` or `labels`, are ignored; keys match in any case, as Go reads
//! them). Its target is `host:port`, labelled `__meta_nerve_path` (the member znode's full
//! path), `__meta_nerve_endpoint_host`, `__meta_nerve_endpoint_port` and
//! `__meta_nerve_endpoint_name`, `""` or `0` where the JSON has nothing. Data that is not
//! such JSON (the service's own znode) is no target.

use std::collections::BTreeMap;

use serde::de::MapAccess;

use super::join_host_port;
use super::zookeeper::{GoStruct, go_int, go_string, go_unmarshal, skip};

/// A member's target: its address and labels, or why `data` is no member.
pub(super) fn parse_member(
    data: &[u8],
    path: &str,
) -> Result<(String, BTreeMap<String, String>), String> {
    let member: Member =
        go_unmarshal(data).map_err(|e| format!("error unmarshaling nerve member {path:?}: {e}"))?;
    let labels = [
        ("path", path.to_owned()),
        ("endpoint_host", member.host.clone()),
        ("endpoint_port", member.port.to_string()),
        ("endpoint_name", member.name),
    ]
    .into_iter()
    .map(|(k, v)| (format!("__meta_nerve_{k}"), v))
    .collect();
    Ok((join_host_port(&member.host, member.port), labels))
}

/// A Nerve member, as Prometheus's `nerveMember` reads it.
#[derive(Default)]
struct Member {
    host: String,
    port: i64,
    name: String,
}

impl GoStruct for Member {
    fn field<'de, A: MapAccess<'de>>(&mut self, field: &str, map: &mut A) -> Result<(), A::Error> {
        match field {
            "host" => go_string(map, &mut self.host),
            "port" => go_int(map, &mut self.port),
            "name" => go_string(map, &mut self.name),
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
        check_member(parse_member, "__meta_nerve_", (data, path), address, labels);
    }

    #[test]
    fn members_are_labelled_as_prometheus_labels_them() {
        // As Nerve's ZooKeeper reporter writes one.
        check(
            r#"{"host":"10.0.1.7","port":8080,"name":"i-0f1e2d3c","weight":1,"labels":{"az":"us-east-1a"}}"#,
            "/nerve/services/web/services/i-0f1e2d3c_web",
            "10.0.1.7:8080",
            &[
                ("path", "/nerve/services/web/services/i-0f1e2d3c_web"),
                ("endpoint_host", "10.0.1.7"),
                ("endpoint_port", "8080"),
                ("endpoint_name", "i-0f1e2d3c"),
            ],
        );
        check(
            r#"{"Host":"fd00::7","PORT":9100}"#,
            "/n/m",
            "[fd00::7]:9100",
            &[
                ("path", "/n/m"),
                ("endpoint_host", "fd00::7"),
                ("endpoint_port", "9100"),
                ("endpoint_name", ""),
            ],
        );
    }

    #[test]
    fn data_that_is_no_member_is_no_target() {
        for data in ["", "{", r#"{"port":"80"}"#, r#"{"name":7}"#, r#"["h",1]"#] {
            let e = parse_member(data.as_bytes(), "/n").unwrap_err();
            assert!(
                e.starts_with("error unmarshaling nerve member \"/n\": "),
                "{e}"
            );
        }
    }
}
