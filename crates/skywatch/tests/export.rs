//! `skywatch export` (docs/export.md) checked by the tools that read its files: promtool
//! and amtool for Prometheus's and Alertmanager's, kubernetes-validate (PyPI, in the test
//! venv) for the Kubernetes manifests of built-in kinds, shape tests for the Prometheus
//! Operator's objects and Grafana's provisioning, and end to end, a real Prometheus 2.42
//! run on the exported prometheus.yml beside `skywatch demo`, firing the same alerts for
//! a killed node. The HA example (docs/ha.md) passes the same tools.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{get_json, output_text, start_demo, start_prometheus, tool, tool_named, within};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `skywatch export` with `args`; its output, or a failure with it.
fn export(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .arg("export")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skywatch export: {}",
        output_text(&out)
    );
    output_text(&out)
}

fn as_refs(a: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    a.iter().map(std::ffi::OsString::as_os_str).collect()
}

/// Runs a tool, failing with its output unless it succeeds.
fn check(tool: PathBuf, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(&tool).args(args).output().unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{} {args:?}: {text}", tool.display());
    text
}

fn amtool() -> PathBuf {
    tool_named("amtool", "prometheus-alertmanager")
}

/// The YAML file at `path` as a tree.
fn read_yaml(path: &Path) -> Value {
    yaml::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The documents of a YAML stream.
fn read_stream(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    yaml::documents(&text)
        .into_iter()
        .map(|(_, d)| yaml::from_str(d).unwrap())
        .collect()
}

/// Writes a file_sd target file of `nodes` nodes (unreachable ports are fine to check).
fn write_targets(dir: &Path, nodes: usize) {
    let groups: Vec<Value> = (0..nodes)
        .map(|i| {
            serde_json::json!({
                "targets": [format!("127.0.0.1:{}", 1 + i)],
                "labels": {"node": format!("node-{i:02}")},
            })
        })
        .collect();
    std::fs::create_dir_all(dir.join("targets")).unwrap();
    std::fs::write(
        dir.join("targets/nodes.json"),
        Value::Array(groups).to_string(),
    )
    .unwrap();
}

/// The rule files under `dir/rules`, sorted.
fn rule_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// promtool and amtool on an export: the configuration (which checks the rule files),
/// every rule file, the Alertmanager configuration.
fn promtool_and_amtool_pass(dir: &Path) {
    let config = check(
        tool("promtool"),
        &[
            "check".as_ref(),
            "config".as_ref(),
            dir.join("prometheus.yml").as_os_str(),
        ],
    );
    assert!(config.contains("SUCCESS"), "{config}");
    let files = rule_files(dir);
    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), "rules".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let rules = check(tool("promtool"), &args);
    assert_eq!(rules.matches("SUCCESS").count(), files.len(), "{rules}");
    let am = check(
        amtool(),
        &[
            "check-config".as_ref(),
            dir.join("alertmanager.yml").as_os_str(),
        ],
    );
    assert!(am.contains("SUCCESS"), "{am}");
}

#[test]
fn every_demo_profile_exports_files_promtool_and_amtool_accept() {
    for (profile, rules_dir) in [
        ("zerostate", "node-network"),
        ("virtengine", "virtengine"),
        ("coinjecture", "coinjecture"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        let summary = export(&[
            "--demo".as_ref(),
            "--profile".as_ref(),
            profile.as_ref(),
            "--nodes".as_ref(),
            "4".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(summary.contains("Exported "), "{summary}");
        assert!(summary.contains("--targets-file"), "{summary}");
        write_targets(&out, 4);
        promtool_and_amtool_pass(&out);
        // Every shipped rule file, the SLOs' and network health's generated ones.
        let names: Vec<String> = rule_files(&out)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let shipped = std::fs::read_dir(repo().join("rules").join(rules_dir))
            .unwrap()
            .filter(|e| {
                let p = e.as_ref().unwrap().path();
                p.is_file() && p.extension().is_some_and(|x| x == "yml")
            })
            .count();
        let prefix = format!("{rules_dir}-");
        assert_eq!(
            names.iter().filter(|n| n.starts_with(&prefix)).count(),
            shipped,
            "{profile}: {names:?}"
        );
        assert!(names.iter().any(|n| n.starts_with("slo-")), "{names:?}");
        assert!(
            names.contains(&"network-health.yml".to_owned()),
            "{names:?}"
        );
        let health = std::fs::read_to_string(out.join("rules/network-health.yml")).unwrap();
        assert!(
            health.contains("node-03"),
            "the inventory of 4 nodes: {health}"
        );
        // The webhooks point at the demo, not at a placeholder.
        let am = std::fs::read_to_string(out.join("alertmanager.yml")).unwrap();
        assert!(!am.contains("${SKYWATCH_URL}"), "{am}");
        // The configuration: Prometheus's keys only.
        let config = read_yaml(&out.join("prometheus.yml"));
        assert_eq!(config["rule_files"], serde_json::json!(["rules/*.yml"]));
        assert_eq!(
            config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
            "localhost:9093"
        );
        assert_eq!(config["global"]["evaluation_interval"], "5s");
    }
}

#[test]
fn an_up_command_line_exports_its_files_and_a_full_directory_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    let rules = repo().join("rules/node-network");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 10s\n  external_labels: {{cluster: prod}}\n\
             rule_files:\n  - {}/*.yml\n\
             scrape_configs:\n  - job_name: validators\n    static_configs:\n      - targets: ['127.0.0.1:9']\n\
             remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n\
             skywatch:\n  listen_address: 127.0.0.1:0\n",
            rules.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("export");
    let args = |force: bool| {
        let mut a: Vec<std::ffi::OsString> = vec![
            "-o".into(),
            out.clone().into(),
            "--config".into(),
            config.clone().into(),
            "--slos".into(),
            repo().join("slos").into(),
            "--dashboards".into(),
            repo().join("dashboards").into(),
            "--alertmanager-config".into(),
            repo().join("alertmanager/node-network.yml").into(),
            "--network-health.config".into(),
            repo().join("rules/network-health/settings.yml").into(),
            // A server-only flag is taken too: the same command line as `up`.
            "--retention-time".into(),
            "15d".into(),
        ];
        if force {
            a.push("--force".into());
        }
        a
    };
    export(&as_refs(&args(false)));
    promtool_and_amtool_pass(&out);
    let written = read_yaml(&out.join("prometheus.yml"));
    assert!(written.get("skywatch").is_none(), "{written}");
    assert_eq!(written["global"]["external_labels"]["cluster"], "prod");
    assert_eq!(
        written["remote_write"][0]["url"],
        "http://127.0.0.1:9/api/v1/write"
    );
    assert_eq!(written["scrape_configs"][0]["job_name"], "validators");
    let names: BTreeSet<String> = rule_files(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "network.yml",
        "sla.yml",
        "network-health.yml",
        "slo-zerostate.yml",
        "slo-virtengine.yml",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    // Every dashboard of the directory, in its folder.
    let mut dashboards = 0;
    for folder in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let folder = folder.unwrap().path();
        for f in std::fs::read_dir(&folder).unwrap() {
            let f = f.unwrap().path();
            let exported = out
                .join("grafana/dashboards")
                .join(folder.file_name().unwrap())
                .join(f.file_name().unwrap());
            assert!(exported.is_file(), "{} missing", exported.display());
            let a: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            let b: Value =
                serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
            assert_eq!(a, b, "{}", f.display());
            dashboards += 1;
        }
    }
    assert!(dashboards >= 15, "{dashboards}");
    // The node workload is named after the first job, so `job` stays the same.
    let node = read_stream(&out.join("kubernetes/node.yaml"));
    assert_eq!(node[1]["metadata"]["name"], "validators");

    // A second export into the same directory is refused, saying what to do...
    std::fs::write(out.join("rules/stale.yml"), "groups: []\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .arg("export")
        .args(args(false))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let e = output_text(&refused);
    assert!(e.contains("is not empty") && e.contains("--force"), "{e}");
    assert!(out.join("rules/stale.yml").is_file(), "nothing touched");
    // ... and with --force, replaces what the export wrote, stale files included, and
    // keeps the rest.
    std::fs::create_dir_all(out.join("targets")).unwrap();
    std::fs::write(out.join("targets/mine.json"), "[]").unwrap();
    export(&as_refs(&args(true)));
    assert!(!out.join("rules/stale.yml").exists());
    assert!(out.join("targets/mine.json").is_file());
    assert!(out.join("rules/network.yml").is_file());
}

#[test]
fn bad_flags_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
            .arg("export")
            .args(["-o", dir.path().join("x").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        output_text(&out)
    };
    let e = run(&["--demo", "--config", "prometheus.yml"]);
    assert!(e.contains("leave out --config"), "{e}");
    let e = run(&["--slos", "/nonexistent-slos"]);
    assert!(
        e.contains("--slos /nonexistent-slos: not a directory"),
        "{e}"
    );
    let e = run(&["--profile", "virtengine"]);
    assert!(e.contains("--demo"), "--profile needs --demo: {e}");
    assert!(
        !dir.path().join("x").exists(),
        "nothing written on a refusal"
    );
}

/// The venv's kubernetes-validate (scripts/install-test-deps installs it from PyPI).
fn kubernetes_validate() -> PathBuf {
    let python = common::python();
    let bin = python.parent().unwrap().join("kubernetes-validate");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/install-test-deps, which installs kubernetes-validate from PyPI into the test venv",
        bin.display()
    );
    bin
}

#[test]
fn the_kubernetes_manifests_validate_and_the_operators_objects_have_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    export(&[
        "--demo".as_ref(),
        "--nodes".as_ref(),
        "3".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    let k8s = out.join("kubernetes");
    // Built-in kinds: against Kubernetes's own schemas, unknown fields refused.
    let builtin = ["node.yaml", "monitoring.yaml", "configmaps.yaml"];
    for file in builtin {
        let text = check(
            kubernetes_validate(),
            &["--strict".as_ref(), k8s.join(file).as_os_str()],
        );
        let objects = read_stream(&k8s.join(file)).len();
        assert_eq!(
            text.matches(" passed for resource ").count(),
            objects,
            "{file}: {text}"
        );
    }
    // The validator refuses what is wrong: a probe's field misspelt.
    let broken = dir.path().join("broken.yaml");
    let node_text = std::fs::read_to_string(k8s.join("node.yaml")).unwrap();
    std::fs::write(
        &broken,
        node_text.replacen("periodSeconds", "periodSecond", 1),
    )
    .unwrap();
    let refused = Command::new(kubernetes_validate())
        .args(["--strict".as_ref(), broken.as_os_str()])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{}", output_text(&refused));
    let node = read_stream(&k8s.join("node.yaml"));
    let kinds: Vec<&str> = node.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    let container = &node[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "metrics");
    // The operator's objects: the ServiceMonitor selects the node Service, on a port it has.
    let sm = read_yaml(&k8s.join("servicemonitor.yaml"));
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["kind"], "ServiceMonitor");
    let service = &node[1];
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&service["metadata"]["labels"][k], v, "the selector's {k}");
    }
    let port = sm["spec"]["endpoints"][0]["port"].as_str().unwrap();
    assert!(
        service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == port),
        "{port}"
    );
    assert_eq!(sm["spec"]["endpoints"][0]["interval"], "5s");
    // One PrometheusRule per rule file; each one's groups are a rule file promtool takes.
    let rules = read_stream(&k8s.join("prometheusrules.yaml"));
    assert_eq!(rules.len(), rule_files(&out).len());
    let mut names = BTreeSet::new();
    for (i, r) in rules.iter().enumerate() {
        assert_eq!(r["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(r["kind"], "PrometheusRule");
        let name = r["metadata"]["name"].as_str().unwrap();
        assert!(
            name.len() <= 63
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name} is not an RFC 1123 name"
        );
        assert!(names.insert(name.to_owned()), "{name} twice");
        let file = dir.path().join(format!("extracted-{i}.yml"));
        std::fs::write(
            &file,
            yaml::to_string(&serde_json::json!({"groups": r["spec"]["groups"]})).unwrap(),
        )
        .unwrap();
        check(
            tool("promtool"),
            &["check".as_ref(), "rules".as_ref(), file.as_os_str()],
        );
        assert!(
            !r["spec"]["groups"].as_array().unwrap().is_empty(),
            "{name}"
        );
    }
    // The ConfigMaps hold the files: every rule file, the dashboards of every folder.
    let maps = read_stream(&k8s.join("configmaps.yaml"));
    let by_name: BTreeMap<&str, &Value> = maps
        .iter()
        .map(|m| (m["metadata"]["name"].as_str().unwrap(), &m["data"]))
        .collect();
    assert_eq!(
        by_name["prometheus-rules"].as_object().unwrap().len(),
        rule_files(&out).len()
    );
    let in_cluster: Value = yaml::from_str(
        by_name["prometheus-config"]["prometheus.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        in_cluster["scrape_configs"][0]["kubernetes_sd_configs"][0]["role"],
        "endpoints"
    );
    // Only the node job is found another way; the rest is the exported file's. (Debian's
    // promtool is built without Kubernetes discovery, so it cannot check this one.)
    let relabel = &in_cluster["scrape_configs"][0]["relabel_configs"];
    assert_eq!(relabel[0]["action"], "keep");
    assert_eq!(relabel[0]["regex"], "nodes");
    assert_eq!(relabel[1]["target_label"], "node");
    let exported = read_yaml(&out.join("prometheus.yml"));
    assert_eq!(in_cluster["rule_files"], exported["rule_files"]);
    assert_eq!(in_cluster["global"], exported["global"]);
    assert_eq!(
        in_cluster["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
        "alertmanager:9093"
    );
    assert!(by_name.keys().any(|k| k.starts_with("grafana-dashboards-")));
}

#[test]
fn grafana_provisioning_and_docker_compose_have_their_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    export(&["--demo".as_ref(), "-o".as_ref(), out.as_os_str()]);
    // Data sources: Grafana's provisioning fields (apiVersion 1, name, type, uid, access,
    // url), one default, every type the stack has.
    let ds = read_yaml(&out.join("grafana/provisioning/datasources/datasources.yml"));
    assert_eq!(ds["apiVersion"], 1);
    let list = ds["datasources"].as_array().unwrap();
    let types: BTreeSet<&str> = list.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(types, BTreeSet::from(["prometheus", "tempo", "loki"]));
    for d in list {
        for field in ["name", "uid", "url", "access"] {
            assert!(d[field].is_string(), "{field} of {d}");
        }
        assert!(["proxy", "direct"].contains(&d["access"].as_str().unwrap()));
        assert!(d["url"].as_str().unwrap().starts_with("http://"), "{d}");
    }
    assert_eq!(list.iter().filter(|d| d["isDefault"] == true).count(), 1);
    let uids: BTreeSet<&str> = list.iter().map(|d| d["uid"].as_str().unwrap()).collect();
    for d in list {
        // Links between data sources name uids that exist.
        let text = d["jsonData"].to_string();
        for uid in text.split("\"datasourceUid\":\"").skip(1) {
            let uid = uid.split('"').next().unwrap();
            assert!(uids.contains(uid), "{uid} in {text}");
        }
    }
    // Dashboard providers: one per folder, each a file provider whose path holds the
    // folder's dashboards once docker-compose.yml mounts grafana/dashboards.
    let providers = read_yaml(&out.join("grafana/provisioning/dashboards/dashboards.yml"));
    assert_eq!(providers["apiVersion"], 1);
    let compose = read_yaml(&out.join("docker-compose.yml"));
    let grafana_mounts: Vec<(String, String)> = compose["services"]["grafana"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut parts = v.as_str().unwrap().split(':');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect();
    let mut dashboards = 0;
    for p in providers["providers"].as_array().unwrap() {
        assert_eq!(p["type"], "file");
        assert!(p["name"].is_string() && p["folder"].is_string(), "{p}");
        let path = p["options"]["path"].as_str().unwrap();
        let (host, container) = grafana_mounts
            .iter()
            .find(|(_, c)| path.starts_with(c.as_str()))
            .unwrap_or_else(|| panic!("{path} is not mounted"));
        let local = out
            .join(host)
            .join(path[container.len()..].trim_start_matches('/'));
        let files: Vec<_> = std::fs::read_dir(&local).unwrap().collect();
        assert!(!files.is_empty(), "{}", local.display());
        for f in files {
            let json: Value =
                serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
            assert!(json["panels"].is_array() && json["uid"].is_string());
            dashboards += 1;
        }
    }
    // zerostate's five and Skywatch's own three.
    assert_eq!(dashboards, 8);
    // docker compose: the seeds' services, every mounted file there.
    let services: BTreeSet<&str> = compose["services"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(["alertmanager", "grafana", "loki", "prometheus", "tempo"])
    );
    for (name, s) in compose["services"].as_object().unwrap() {
        assert!(s["image"].is_string(), "{name}");
        for v in s["volumes"].as_array().unwrap() {
            let source = v.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(out.join(source).exists(), "{name} mounts {source}");
            } else {
                assert!(compose["volumes"].get(source).is_some(), "{name}: {source}");
            }
        }
    }
}

#[test]
fn the_ha_example_passes_promtool_and_amtool() {
    let ha = repo().join("examples/ha");
    for replica in ["skywatch-a.yml", "skywatch-b.yml"] {
        let text = check(
            tool("promtool"),
            &[
                "check".as_ref(),
                "config".as_ref(),
                ha.join(replica).as_os_str(),
            ],
        );
        assert!(text.contains("SUCCESS"), "{text}");
    }
    // The same file but for the replica label.
    let [a, b] = ["skywatch-a.yml", "skywatch-b.yml"].map(|f| read_yaml(&ha.join(f)));
    assert_eq!(a["global"]["external_labels"]["replica"], "a");
    assert_eq!(b["global"]["external_labels"]["replica"], "b");
    let without = |mut v: Value| {
        v["global"]["external_labels"]
            .as_object_mut()
            .unwrap()
            .remove("replica");
        v
    };
    assert_eq!(without(a), without(b));
    let am = check(
        amtool(),
        &[
            "check-config".as_ref(),
            ha.join("alertmanager.yml").as_os_str(),
        ],
    );
    assert!(am.contains("SUCCESS"), "{am}");
}

/// The firing alerts of a Prometheus-API server, as label sets, those of `node` and the
/// Watchdog.
fn firing(client: &reqwest::blocking::Client, addr: &str, node: &str) -> BTreeSet<String> {
    get_json(client, addr, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter(|a| a["labels"]["node"] == node || a["labels"]["alertname"] == "Watchdog")
        .map(|a| a["labels"].to_string())
        .collect()
}

#[test]
fn prometheus_on_the_demo_export_fires_the_same_alerts_as_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data");
    let (_demo, addr) = start_demo(&["--nodes", "5", "--data", data.to_str().unwrap()]);
    let out = dir.path().join("export");
    export(&[
        "--demo".as_ref(),
        "--nodes".as_ref(),
        "5".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    // The demo lists its nodes as file_sd groups: the exported Prometheus scrapes them.
    std::fs::create_dir_all(out.join("targets")).unwrap();
    std::fs::copy(data.join("inventory.json"), out.join("targets/nodes.json")).unwrap();
    let prom_data = dir.path().join("prometheus-data");
    let (_prometheus, prom) = start_prometheus(&out.join("prometheus.yml"), &prom_data, &[]);
    let client = reqwest::blocking::Client::new();
    within(Duration::from_secs(20), "Prometheus is ready", || {
        client
            .get(format!("http://{prom}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    within(
        Duration::from_secs(20),
        "Prometheus scrapes the 5 nodes",
        || {
            get_json(
                &client,
                &prom,
                "/api/v1/query?query=count(up%7Bjob%3D%22nodes%22%7D%3D%3D1)",
            )["data"]["result"][0]["value"][1]
                == "5"
        },
    );
    let rules = get_json(&client, &prom, "/api/v1/rules");
    let groups = rules["data"]["groups"].as_array().unwrap().len();
    assert!(groups >= 6, "every rule file is loaded: {groups} groups");
    // A node killed through the demo's controls.
    let killed = client
        .post(format!("http://{addr}/demo/nodes/3/kill"))
        .send()
        .unwrap();
    assert!(killed.status().is_success());
    // ServiceDown waits a minute (`for: 1m`) in both; then both fire the same alerts for
    // the node, with the same labels.
    let mut ours = BTreeSet::new();
    let down = |set: &BTreeSet<String>| {
        set.iter()
            .any(|a| a.contains("\"alertname\":\"ServiceDown\""))
    };
    within(
        Duration::from_secs(120),
        "the same alerts fire in both",
        || {
            ours = firing(&client, &addr, "node-03");
            let theirs = firing(&client, &prom, "node-03");
            down(&ours) && ours == theirs
        },
    );
    assert!(ours.iter().any(|a| a.contains("Watchdog")), "{ours:?}");
}
