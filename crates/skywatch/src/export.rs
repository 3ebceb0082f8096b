//! `skywatch export -o DIR`: what a server runs (or the demo runs) written as plain files
//! for real Prometheus, Alertmanager, Grafana and Kubernetes, so that the same monitoring
//! runs without Skywatch once a user outgrows one machine (docs/export.md).
//!
//! The export reads exactly what `skywatch up` reads, through the same flags (its
//! [`UpArgs`](crate::up::UpArgs) are flattened in), or with `--demo` the demo's own setup;
//! every rule file comes out as text Prometheus reads, including the rules Skywatch
//! generates itself (SLO burn rates, network health). Paths inside the directory are
//! relative, so the directory can be moved, mounted into containers or checked in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

/// `skywatch export` options.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The directory to write; created if missing. A directory holding anything is
    /// refused unless --force is given.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
    /// Write into a directory that holds files: the files the export writes are replaced
    /// (rules/, grafana/, kubernetes/ and tempo/ are emptied first); any other file, such
    /// as targets/, is kept.
    #[arg(long)]
    force: bool,
    /// Export `skywatch demo`'s setup (its rules, SLOs, network health, routing and
    /// dashboards) with its simulated nodes as targets, read from targets/nodes.json (as
    /// `skywatch netsim --targets-file` writes it), instead of the files the flags name.
    #[arg(long)]
    demo: bool,
    /// With --demo: the network profile, as `skywatch demo --profile` takes it.
    #[arg(long, default_value = "zerostate", value_parser = profile, requires = "demo")]
    profile: netsim::Profile,
    /// With --demo: how many simulated nodes the network-health inventory expects.
    #[arg(long, default_value_t = 20, requires = "demo")]
    nodes: usize,
    /// With --demo: how often the nodes are scraped and the rules evaluated.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, requires = "demo")]
    scrape_interval: Duration,
    /// The Alertmanager that the exported Prometheus sends its alerts to (host:port),
    /// when the configuration has no `alerting` section of its own.
    #[arg(long, default_value = "localhost:9093")]
    alertmanager_address: String,
    /// What `${SKYWATCH_URL}` in the Alertmanager configuration becomes (the demo's
    /// routing posts to its webhooks there).
    #[arg(long, default_value = "http://localhost:9797")]
    skywatch_url: String,
    /// The container image of the node workload in kubernetes/node.yaml: a node
    /// instrumented with the Skywatch SDK.
    #[arg(long, default_value = "registry.example.com/node:latest")]
    node_image: String,
    /// The port the node workload serves /metrics, /healthz and /readyz on.
    #[arg(long, default_value_t = 9100)]
    node_port: u16,
    #[command(flatten)]
    up: crate::up::UpArgs,
}

/// Reads a profile's name.
fn profile(text: &str) -> Result<netsim::Profile, String> {
    text.parse()
}

/// What a server runs, gathered from its files: the input of the export.
struct Setup {
    /// The Prometheus configuration as a tree, without Skywatch's own section and with
    /// `rule_files` pointing at rules/.
    config: Value,
    /// The rule files: the name under rules/ and the text.
    rules: Vec<(String, String)>,
    /// The Alertmanager configuration's text, if alerts are routed.
    alertmanager: Option<String>,
    /// The dashboards: folder ("" for General), file name and JSON.
    dashboards: Vec<(String, String, Value)>,
    /// The job the node workload's Service and ServiceMonitor stand for.
    node_job: String,
    /// The scrape interval, for the ServiceMonitor.
    scrape_interval: String,
    /// With --demo, the profile and node count, for the README's commands.
    demo: Option<(netsim::Profile, usize)>,
}

/// Runs `skywatch export`.
pub(crate) fn run(args: ExportArgs) -> Result<(), String> {
    let setup = if args.demo {
        demo_setup(&args)?
    } else {
        up_setup(&args)?
    };
    let files = bundle(&setup, &args)?;
    prepare(&args.output, args.force)?;
    for (path, text) in &files {
        let path = args.output.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    print_summary(&args.output, &setup, &files);
    Ok(())
}

/// The files and directories the export writes, which --force replaces.
const WRITTEN: [&str; 9] = [
    "prometheus.yml",
    "alertmanager.yml",
    "docker-compose.yml",
    "README.md",
    "rules",
    "grafana",
    "kubernetes",
    "tempo",
    "targets/README.md",
];

/// Makes `dir` ready: created if missing; refused if it holds anything, unless `force`,
/// when what an earlier export wrote is removed (a rule file left behind would still be
/// loaded by `rules/*.yml`).
fn prepare(dir: &Path, force: bool) -> Result<(), String> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied && !force {
        return Err(format!(
            "{} is not empty: give an empty or new directory, or --force to replace what an \
             earlier export wrote there",
            dir.display()
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "{} is a file: give a directory to write into",
            dir.display()
        ));
    }
    for name in WRITTEN {
        let path = dir.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.is_file() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// The setup `skywatch up` would run with these flags.
fn up_setup(args: &ExportArgs) -> Result<Setup, String> {
    let up = &args.up;
    let (parsed, text, base) = match &up.config {
        Some(path) => {
            let (parsed, text) = crate::up::load(path)?;
            let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            (parsed, text, base)
        }
        None => (scrape::Config::default(), String::new(), PathBuf::from(".")),
    };
    let mut config: Value = if text.trim().is_empty() {
        json!({})
    } else {
        yaml::from_str(&text).map_err(|e| format!("{}: {e}", display(up.config.as_deref())))?
    };
    if !config.is_object() {
        config = json!({});
    }
    let mut rules = Vec::new();
    let paths = rules::manager::resolve(&base, &parsed.rule_files)?;
    for path in &paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the rule file {}: {e}", path.display()))?;
        rules::RuleFile::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
        let name = path.file_name().map_or_else(
            || "rules.yml".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        rules.push((name, text));
    }
    if let Some(dir) = up.slos.as_deref().filter(|d| !d.is_dir()) {
        return Err(format!(
            "--slos {}: not a directory; give the directory of SLO spec files",
            dir.display()
        ));
    }
    let slos = crate::slos::SloSet::new(up.slos.clone(), Vec::new());
    rules.extend(slo_rules(&slos)?);
    if let Some(file) = &up.network_health_config {
        let nh = crate::network_health::NetworkHealth::from_file(file.clone());
        rules.push(("network-health.yml".to_owned(), nh.generate()?.0));
    }
    let alertmanager = match &up.alertmanager_config {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--alertmanager-config {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let dashboards = match &up.dashboards {
        Some(dir) if !dir.is_dir() => {
            return Err(format!(
                "--dashboards {}: not a directory; give the directory of Grafana dashboard JSON files",
                dir.display()
            ));
        }
        Some(dir) => dashboards_of(&dashboards::Library::open(dir), &dir.display().to_string())?,
        None => Vec::new(),
    };
    let node_job = parsed
        .scrape_configs
        .first()
        .map_or_else(|| "node".to_owned(), |c| c.job_name.value.clone());
    let scrape_interval = model::format_duration(parsed.global.scrape_interval.0);
    finish_config(
        &mut config,
        alertmanager.is_some(),
        &args.alertmanager_address,
    );
    Ok(Setup {
        config,
        rules: unique_names(rules),
        alertmanager: alertmanager.map(|t| t.replace("${SKYWATCH_URL}", &args.skywatch_url)),
        dashboards,
        node_job,
        scrape_interval,
        demo: None,
    })
}

/// The setup `skywatch demo --profile P` runs, its nodes read from targets/nodes.json.
fn demo_setup(args: &ExportArgs) -> Result<Setup, String> {
    let up = &args.up;
    let given = [
        ("--config", up.config.is_some()),
        ("--slos", up.slos.is_some()),
        ("--dashboards", up.dashboards.is_some()),
        ("--alertmanager-config", up.alertmanager_config.is_some()),
        (
            "--network-health.config",
            up.network_health_config.is_some(),
        ),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
        return Err(format!(
            "--demo exports the demo's own setup: leave out {flag}, or leave out --demo to \
             export the files the flags name"
        ));
    }
    let shipped = crate::shipped::shipped(args.profile);
    let interval =
        model::format_duration(i64::try_from(args.scrape_interval.as_millis()).unwrap_or(i64::MAX));
    let mut config = json!({
        "global": {
            "scrape_interval": interval,
            // Rules follow the data as closely as it comes, as in the demo.
            "evaluation_interval": interval,
        },
        "scrape_configs": [{
            "job_name": "nodes",
            "file_sd_configs": [{"files": [NODE_TARGETS], "refresh_interval": "30s"}],
        }],
    });
    finish_config(&mut config, true, &args.alertmanager_address);
    let mut rules: Vec<(String, String)> = shipped
        .rules
        .iter()
        .map(|(path, text)| (path.replace('/', "-"), (*text).to_owned()))
        .collect();
    let slos = crate::slos::SloSet::new(None, shipped.slos());
    rules.extend(slo_rules(&slos)?);
    // The demo's network health, its inventory the node names the demo gives its nodes.
    let health = crate::network_health::NetworkHealth::fixed(crate::network_health::Settings {
        height: shipped.health_metrics.height.to_owned(),
        peers: Some(shipped.health_metrics.peers.to_owned()),
        up: "up{job=\"nodes\"}".to_owned(),
        window: 60_000,
        for_: 60_000,
        ..crate::network_health::Settings::default()
    })
    .with_inventory(crate::network_health::Inventory {
        files: Vec::new(),
        nodes: (0..args.nodes).map(|id| format!("node-{id:02}")).collect(),
    });
    rules.push(("network-health.yml".to_owned(), health.generate()?.0));
    let library = dashboards::Library::fixed(shipped.all_dashboards());
    Ok(Setup {
        config,
        rules: unique_names(rules),
        alertmanager: Some(
            shipped
                .alertmanager
                .1
                .replace("${SKYWATCH_URL}", &args.skywatch_url),
        ),
        dashboards: dashboards_of(&library, "the demo's dashboards")?,
        node_job: "nodes".to_owned(),
        scrape_interval: interval,
        demo: Some((args.profile, args.nodes)),
    })
}

/// Where the demo's node targets are read from, relative to prometheus.yml.
const NODE_TARGETS: &str = "targets/nodes.json";

/// The SLOs' generated rule files, named `slo-<spec file's stem>.yml`.
fn slo_rules(slos: &crate::slos::SloSet) -> Result<Vec<(String, String)>, String> {
    Ok(slos
        .generate()?
        .1
        .into_iter()
        .map(|(file, text)| {
            let stem = Path::new(&file)
                .file_stem()
                .map_or_else(|| "slos".to_owned(), |s| s.to_string_lossy().into_owned());
            (format!("slo-{stem}.yml"), text)
        })
        .collect())
}

/// The names made unique: a second `a.yml` becomes `a-2.yml`, and so on.
fn unique_names(files: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    files
        .into_iter()
        .map(|(name, text)| {
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), "yml"));
            let mut candidate = format!("{stem}.{ext}");
            let mut n = 1;
            while !seen.insert(candidate.clone()) {
                n += 1;
                candidate = format!("{stem}-{n}.{ext}");
            }
            (candidate, text)
        })
        .collect()
}

/// The configuration made Prometheus's: Skywatch's own section left out, the rule files
/// those under rules/, and an Alertmanager to send to when routing is exported and the
/// configuration names none.
fn finish_config(config: &mut Value, routed: bool, alertmanager: &str) {
    let Some(map) = config.as_object_mut() else {
        return;
    };
    map.remove("skywatch");
    map.insert("rule_files".to_owned(), json!(["rules/*.yml"]));
    let has_alerting = map
        .get("alerting")
        .and_then(|a| a.get("alertmanagers"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if routed && !has_alerting {
        let alerting = map.entry("alerting").or_insert_with(|| json!({}));
        if let Some(a) = alerting.as_object_mut() {
            a.insert(
                "alertmanagers".to_owned(),
                json!([{"static_configs": [{"targets": [alertmanager]}]}]),
            );
        }
    }
}

/// The dashboards of `library`, or its problems naming `source`.
fn dashboards_of(
    library: &dashboards::Library,
    source: &str,
) -> Result<Vec<(String, String, Value)>, String> {
    let problems = library.problems();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{source}: fix these dashboards (or move them out) first:\n{}",
            list.join("\n")
        ));
    }
    let mut out: Vec<(String, String, Value)> = library
        .dashboards()
        .into_iter()
        .map(|d| {
            let file = Path::new(&d.file).file_name().map_or_else(
                || format!("{}.json", d.uid),
                |f| f.to_string_lossy().into_owned(),
            );
            (d.folder, file, d.json)
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(out)
}

fn display(path: Option<&Path>) -> String {
    path.map_or_else(
        || "the configuration".to_owned(),
        |p| p.display().to_string(),
    )
}

/// Every file of the export: path under DIR and text.
fn bundle(setup: &Setup, args: &ExportArgs) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    let header = "# Generated by `skywatch export` (docs/export.md).\n";
    files.insert(
        "prometheus.yml".to_owned(),
        format!("{header}{}", to_yaml(&setup.config)?),
    );
    for (name, text) in &setup.rules {
        files.insert(format!("rules/{name}"), text.clone());
    }
    if let Some(am) = &setup.alertmanager {
        files.insert("alertmanager.yml".to_owned(), am.clone());
    }
    grafana(setup, &mut files)?;
    kubernetes(setup, args, &files.clone(), &mut files)?;
    files.insert("docker-compose.yml".to_owned(), docker_compose(setup)?);
    files.insert("tempo/tempo.yml".to_owned(), to_yaml(&tempo_config())?);
    if setup.demo.is_some() {
        files.insert("targets/README.md".to_owned(), TARGETS_README.to_owned());
    }
    files.insert("README.md".to_owned(), readme(setup, args));
    Ok(files)
}

fn to_yaml(value: &Value) -> Result<String, String> {
    yaml::to_string(value).map_err(|e| format!("cannot write YAML: {e}"))
}

/// Several objects as one YAML stream.
fn to_yaml_stream(values: &[Value]) -> Result<String, String> {
    let docs = values.iter().map(to_yaml).collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

/// The Grafana data source uids the provisioning gives, which dashboards may name.
const PROMETHEUS_UID: &str = "prometheus";
const TEMPO_UID: &str = "tempo";
const LOKI_UID: &str = "loki";

/// Grafana's provisioning: the data sources (Prometheus the default, Tempo and Loki with
/// traces and logs linked both ways) and one dashboard provider per folder.
fn grafana(setup: &Setup, files: &mut BTreeMap<String, String>) -> Result<(), String> {
    let datasources = json!({
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": "http://localhost:9090",
                "isDefault": true,
                "editable": false,
                "jsonData": {
                    "httpMethod": "POST",
                    "timeInterval": setup.scrape_interval,
                    "exemplarTraceIdDestinations": [
                        {"name": "trace_id", "datasourceUid": TEMPO_UID},
                    ],
                },
            },
            {
                "name": "Tempo",
                "type": "tempo",
                "uid": TEMPO_UID,
                "access": "proxy",
                "url": "http://localhost:3200",
                "editable": false,
                "jsonData": {
                    "tracesToLogsV2": {"datasourceUid": LOKI_UID, "filterByTraceID": true},
                    "serviceMap": {"datasourceUid": PROMETHEUS_UID},
                    "nodeGraph": {"enabled": true},
                },
            },
            {
                "name": "Loki",
                "type": "loki",
                "uid": LOKI_UID,
                "access": "proxy",
                "url": "http://localhost:3100",
                "editable": false,
                "jsonData": {
                    "derivedFields": [{
                        "name": "trace_id",
                        "matcherRegex": "\"trace_id\":\"(\\w+)\"",
                        "url": "$${__value.raw}",
                        "datasourceUid": TEMPO_UID,
                    }],
                },
            },
        ],
    });
    files.insert(
        "grafana/provisioning/datasources/datasources.yml".to_owned(),
        to_yaml(&datasources)?,
    );
    let folders: std::collections::BTreeSet<&str> = setup
        .dashboards
        .iter()
        .map(|(f, _, _)| f.as_str())
        .collect();
    let providers: Vec<Value> = folders
        .iter()
        .map(|folder| {
            let dir = if folder.is_empty() { "general" } else { folder };
            json!({
                "name": format!("skywatch-{dir}"),
                "orgId": 1,
                "folder": folder,
                "type": "file",
                "disableDeletion": false,
                "allowUiUpdates": false,
                "updateIntervalSeconds": 30,
                "options": {"path": format!("{GRAFANA_DASHBOARDS}/{dir}")},
            })
        })
        .collect();
    files.insert(
        "grafana/provisioning/dashboards/dashboards.yml".to_owned(),
        to_yaml(&json!({"apiVersion": 1, "providers": providers}))?,
    );
    for (folder, file, dashboard) in &setup.dashboards {
        let dir = if folder.is_empty() { "general" } else { folder };
        let text = serde_json::to_string_pretty(dashboard).map_err(|e| e.to_string())?;
        files.insert(format!("grafana/dashboards/{dir}/{file}"), text + "\n");
    }
    Ok(())
}

/// Where the dashboards are inside Grafana's container (docker-compose.yml mounts
/// grafana/dashboards there, and the Kubernetes ConfigMaps are mounted there too).
const GRAFANA_DASHBOARDS: &str = "/var/lib/grafana/dashboards";

/// A name Kubernetes takes (RFC 1123 label): lower case letters, digits and `-`.
fn k8s_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    if out.is_empty() {
        "skywatch".to_owned()
    } else {
        out.trim_end_matches('-').to_owned()
    }
}

/// The labels every exported Kubernetes object carries.
fn k8s_labels(name: &str) -> Value {
    json!({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "skywatch-export",
    })
}

/// A Deployment of one container serving on `port`, probed on `live` and `ready`, with
/// `volumes` (name, ConfigMap, mount path) mounted read-only.
struct Workload<'a> {
    name: &'a str,
    image: &'a str,
    args: Vec<String>,
    port: u16,
    port_name: &'a str,
    live: &'a str,
    ready: &'a str,
    volumes: Vec<(String, String, String)>,
}

impl Workload<'_> {
    /// The Deployment and its Service.
    fn objects(&self) -> [Value; 2] {
        let labels = k8s_labels(self.name);
        let probe = |path: &str, delay: u32| {
            json!({
                "httpGet": {"path": path, "port": self.port_name},
                "initialDelaySeconds": delay,
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": 3,
            })
        };
        let mut container = json!({
            "name": self.name,
            "image": self.image,
            "ports": [{"name": self.port_name, "containerPort": self.port, "protocol": "TCP"}],
            "livenessProbe": probe(self.live, 10),
            "readinessProbe": probe(self.ready, 5),
            "volumeMounts": self.volumes.iter().map(|(v, _, path)| json!({
                "name": v, "mountPath": path, "readOnly": true,
            })).collect::<Vec<_>>(),
        });
        if !self.args.is_empty() {
            container["args"] = json!(self.args);
        }
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": self.name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [container],
                        "volumes": self.volumes.iter().map(|(v, map, _)| json!({
                            "name": v, "configMap": {"name": map},
                        })).collect::<Vec<_>>(),
                    },
                },
            },
        });
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": self.name},
                "ports": [{
                    "name": self.port_name,
                    "port": self.port,
                    "targetPort": self.port_name,
                    "protocol": "TCP",
                }],
            },
        });
        [deployment, service]
    }
}

/// A ConfigMap of `data`.
fn config_map(name: &str, data: BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": k8s_labels(name)},
        "data": data,
    })
}

/// kubernetes/: the node workload (Deployment and Service probed on the SDK's /healthz
/// and /readyz), Prometheus, Alertmanager and Grafana run from ConfigMaps of the exported
/// files, and for the Prometheus Operator a ServiceMonitor of the nodes and a
/// PrometheusRule per rule file.
fn kubernetes(
    setup: &Setup,
    args: &ExportArgs,
    written: &BTreeMap<String, String>,
    files: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let node = k8s_name(&setup.node_job);
    let node_workload = Workload {
        name: &node,
        image: &args.node_image,
        args: Vec::new(),
        port: args.node_port,
        port_name: "metrics",
        live: "/healthz",
        ready: "/readyz",
        volumes: Vec::new(),
    };
    files.insert(
        "kubernetes/node.yaml".to_owned(),
        to_yaml_stream(&node_workload.objects())?,
    );

    let under = |prefix: &str| -> BTreeMap<String, String> {
        written
            .iter()
            .filter_map(|(p, t)| {
                let name = p.strip_prefix(prefix)?;
                (!name.contains('/')).then(|| (name.to_owned(), t.clone()))
            })
            .collect()
    };
    let mut maps = vec![
        config_map(
            "prometheus-config",
            BTreeMap::from([(
                "prometheus.yml".to_owned(),
                in_cluster(written, "prometheus.yml", &node),
            )]),
        ),
        config_map("prometheus-rules", under("rules/")),
        config_map(
            "grafana-datasources",
            under("grafana/provisioning/datasources/")
                .into_iter()
                .map(|(name, text)| (name, in_cluster_urls(&text)))
                .collect(),
        ),
        config_map(
            "grafana-dashboard-providers",
            under("grafana/provisioning/dashboards/"),
        ),
    ];
    let mut grafana_volumes = vec![
        (
            "datasources".to_owned(),
            "grafana-datasources".to_owned(),
            "/etc/grafana/provisioning/datasources".to_owned(),
        ),
        (
            "providers".to_owned(),
            "grafana-dashboard-providers".to_owned(),
            "/etc/grafana/provisioning/dashboards".to_owned(),
        ),
    ];
    let folders: std::collections::BTreeSet<&str> = setup
        .dashboards
        .iter()
        .map(|(f, _, _)| f.as_str())
        .collect();
    for folder in folders {
        let dir = if folder.is_empty() { "general" } else { folder };
        let name = k8s_name(&format!("grafana-dashboards-{dir}"));
        maps.push(config_map(
            &name,
            under(&format!("grafana/dashboards/{dir}/")),
        ));
        grafana_volumes.push((
            k8s_name(&format!("dashboards-{dir}")),
            name,
            format!("{GRAFANA_DASHBOARDS}/{dir}"),
        ));
    }
    let mut objects = Vec::new();
    if setup.alertmanager.is_some() {
        let text = written.get("alertmanager.yml").cloned().unwrap_or_default();
        maps.push(config_map(
            "alertmanager-config",
            BTreeMap::from([("alertmanager.yml".to_owned(), text)]),
        ));
        objects.extend(
            Workload {
                name: "alertmanager",
                image: ALERTMANAGER_IMAGE,
                args: vec!["--config.file=/etc/alertmanager/alertmanager.yml".to_owned()],
                port: 9093,
                port_name: "web",
                live: "/-/healthy",
                ready: "/-/ready",
                volumes: vec![(
                    "config".to_owned(),
                    "alertmanager-config".to_owned(),
                    "/etc/alertmanager".to_owned(),
                )],
            }
            .objects(),
        );
    }
    files.insert(
        "kubernetes/configmaps.yaml".to_owned(),
        to_yaml_stream(&maps)?,
    );
    objects.extend(
        Workload {
            name: "prometheus",
            image: PROMETHEUS_IMAGE,
            args: vec![
                "--config.file=/etc/prometheus/prometheus.yml".to_owned(),
                "--storage.tsdb.path=/prometheus".to_owned(),
                "--web.enable-lifecycle".to_owned(),
            ],
            port: 9090,
            port_name: "web",
            live: "/-/healthy",
            ready: "/-/ready",
            volumes: vec![
                (
                    "config".to_owned(),
                    "prometheus-config".to_owned(),
                    "/etc/prometheus".to_owned(),
                ),
                (
                    "rules".to_owned(),
                    "prometheus-rules".to_owned(),
                    "/etc/prometheus/rules".to_owned(),
                ),
            ],
        }
        .objects(),
    );
    objects.extend(
        Workload {
            name: "grafana",
            image: GRAFANA_IMAGE,
            args: Vec::new(),
            port: 3000,
            port_name: "web",
            live: "/api/health",
            ready: "/api/health",
            volumes: grafana_volumes,
        }
        .objects(),
    );
    files.insert(
        "kubernetes/monitoring.yaml".to_owned(),
        to_yaml_stream(&objects)?,
    );

    let service_monitor = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": node, "labels": k8s_labels(&node)},
        "spec": {
            "jobLabel": "app.kubernetes.io/name",
            "selector": {"matchLabels": {"app.kubernetes.io/name": node}},
            "endpoints": [{
                "port": "metrics",
                "path": "/metrics",
                "interval": setup.scrape_interval,
                // The rules group and alert by `node`: each pod is a node.
                "relabelings": [{
                    "sourceLabels": ["__meta_kubernetes_pod_name"],
                    "targetLabel": "node",
                    "action": "replace",
                }],
            }],
        },
    });
    files.insert(
        "kubernetes/servicemonitor.yaml".to_owned(),
        to_yaml(&service_monitor)?,
    );
    let mut rules = Vec::new();
    for (name, text) in &setup.rules {
        let file: Value = yaml::from_str(text).map_err(|e| format!("rules/{name}: {e}"))?;
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
        rules.push(json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": k8s_name(stem), "labels": k8s_labels(&k8s_name(stem))},
            "spec": {"groups": file.get("groups").cloned().unwrap_or_else(|| json!([]))},
        }));
    }
    files.insert(
        "kubernetes/prometheusrules.yaml".to_owned(),
        to_yaml_stream(&rules)?,
    );
    Ok(())
}

/// prometheus.yml for the cluster: the node job found through the Kubernetes API (the
/// node workload's endpoints) rather than a target file, `node` being the pod's name.
fn in_cluster(written: &BTreeMap<String, String>, file: &str, node: &str) -> String {
    let text = written.get(file).cloned().unwrap_or_default();
    let Ok(mut config) = yaml::from_str::<Value>(&text) else {
        return text;
    };
    if let Some(jobs) = config
        .get_mut("scrape_configs")
        .and_then(Value::as_array_mut)
    {
        for job in jobs.iter_mut() {
            let uses_targets_file = job
                .get("file_sd_configs")
                .and_then(|f| f.get(0))
                .and_then(|f| f.get("files"))
                .and_then(|f| f.get(0))
                .and_then(Value::as_str)
                == Some(NODE_TARGETS);
            if uses_targets_file && let Some(j) = job.as_object_mut() {
                j.remove("file_sd_configs");
                j.insert(
                    "kubernetes_sd_configs".to_owned(),
                    json!([{"role": "endpoints"}]),
                );
                j.insert(
                    "relabel_configs".to_owned(),
                    json!([
                        {
                            "source_labels": ["__meta_kubernetes_service_name"],
                            "regex": node,
                            "action": "keep",
                        },
                        {
                            "source_labels": ["__meta_kubernetes_pod_name"],
                            "target_label": "node",
                        },
                    ]),
                );
            }
        }
    }
    if let Some(a) = config.get_mut("alerting") {
        *a = json!({"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]});
    }
    yaml::to_string(&config).unwrap_or(text)
}

/// The data sources' addresses in the cluster: the Services' names for localhost.
fn in_cluster_urls(text: &str) -> String {
    text.replace("http://localhost:9090", "http://prometheus:9090")
        .replace("http://localhost:3200", "http://tempo:3200")
        .replace("http://localhost:3100", "http://loki:3100")
}

/// The images of the stack, at the versions the export is tested against (Prometheus
/// 2.42, Alertmanager 0.25).
const PROMETHEUS_IMAGE: &str = "prom/prometheus:v2.42.0";
const ALERTMANAGER_IMAGE: &str = "prom/alertmanager:v0.25.0";
const GRAFANA_IMAGE: &str = "grafana/grafana:10.4.2";
const TEMPO_IMAGE: &str = "grafana/tempo:2.4.1";
const LOKI_IMAGE: &str = "grafana/loki:2.9.6";

/// docker-compose.yml: the seeds' stack (Prometheus, Alertmanager, Grafana, Tempo, Loki)
/// on the host's network, so that prometheus.yml's addresses (localhost, the demo's
/// loopback nodes) mean the same inside and outside the containers.
fn docker_compose(setup: &Setup) -> Result<String, String> {
    let mut services = serde_json::Map::new();
    let mut prometheus = json!({
        "image": PROMETHEUS_IMAGE,
        "network_mode": "host",
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--web.enable-lifecycle",
        ],
        "volumes": ["./:/etc/prometheus:ro", "prometheus-data:/prometheus"],
        "restart": "unless-stopped",
    });
    if setup.alertmanager.is_some() {
        prometheus["depends_on"] = json!(["alertmanager"]);
        services.insert(
            "alertmanager".to_owned(),
            json!({
                "image": ALERTMANAGER_IMAGE,
                "network_mode": "host",
                "command": ["--config.file=/etc/alertmanager/alertmanager.yml"],
                "volumes": ["./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"],
                "restart": "unless-stopped",
            }),
        );
    }
    services.insert("prometheus".to_owned(), prometheus);
    services.insert(
        "grafana".to_owned(),
        json!({
            "image": GRAFANA_IMAGE,
            "network_mode": "host",
            "environment": {"GF_AUTH_ANONYMOUS_ENABLED": "true"},
            "volumes": [
                "./grafana/provisioning:/etc/grafana/provisioning:ro",
                format!("./grafana/dashboards:{GRAFANA_DASHBOARDS}:ro"),
            ],
            "depends_on": ["prometheus", "tempo", "loki"],
            "restart": "unless-stopped",
        }),
    );
    services.insert(
        "tempo".to_owned(),
        json!({
            "image": TEMPO_IMAGE,
            "network_mode": "host",
            "command": ["-config.file=/etc/tempo/tempo.yml"],
            "volumes": ["./tempo/tempo.yml:/etc/tempo/tempo.yml:ro", "tempo-data:/var/tempo"],
            "restart": "unless-stopped",
        }),
    );
    services.insert(
        "loki".to_owned(),
        json!({
            "image": LOKI_IMAGE,
            "network_mode": "host",
            "command": ["-config.file=/etc/loki/local-config.yaml"],
            "volumes": ["loki-data:/loki"],
            "restart": "unless-stopped",
        }),
    );
    let compose = json!({
        "services": services,
        "volumes": {"prometheus-data": {}, "tempo-data": {}, "loki-data": {}},
    });
    Ok(format!(
        "# Generated by `skywatch export` (docs/export.md). Every service uses the host's\n\
         # network: Prometheus {addr}, Alertmanager :9093, Grafana :3000, Tempo :3200 (OTLP\n\
         # :4317/:4318), Loki :3100.\n{}",
        to_yaml(&compose)?,
        addr = ":9090",
    ))
}

/// Tempo's configuration: OTLP in over gRPC and HTTP, blocks on local disk.
fn tempo_config() -> Value {
    json!({
        "server": {"http_listen_port": 3200},
        "distributor": {"receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": "0.0.0.0:4317"},
            "http": {"endpoint": "0.0.0.0:4318"},
        }}}},
        "storage": {"trace": {
            "backend": "local",
            "wal": {"path": "/var/tempo/wal"},
            "local": {"path": "/var/tempo/blocks"},
        }},
    })
}

const TARGETS_README: &str = "\
# Targets

`nodes.json` lists the demo's nodes in Prometheus's file_sd format; prometheus.yml reads it
and notices when it changes. `skywatch netsim --targets-file targets/nodes.json` writes it
(and keeps the nodes running); `skywatch demo --data D` writes the same list to
`D/inventory.json`.
";

/// README.md: what is there and how to run it.
fn readme(setup: &Setup, args: &ExportArgs) -> String {
    let source = match setup.demo {
        Some((profile, nodes)) => {
            format!("the setup of `skywatch demo --profile {profile}` ({nodes} simulated nodes)")
        }
        None => "the files `skywatch up` was given".to_owned(),
    };
    let nodes = match setup.demo {
        Some((profile, nodes)) => format!(
            "The nodes: start the simulated network and let it write its targets here:\n\n\
             ```sh\nskywatch netsim --profile {profile} --nodes {nodes} --targets-file targets/nodes.json\n```\n\n"
        ),
        None => String::new(),
    };
    let rules: Vec<String> = setup
        .rules
        .iter()
        .map(|(n, _)| format!("  - `rules/{n}`"))
        .collect();
    format!(
        "# Monitoring exported by Skywatch\n\n\
         Generated by `skywatch export` from {source}. Everything Skywatch ran is here as the\n\
         files Prometheus, Alertmanager, Grafana and Kubernetes read; see Skywatch's\n\
         docs/export.md for what maps to what.\n\n\
         ## What is here\n\n\
         - `prometheus.yml`: scrape configs, `rule_files: [rules/*.yml]`, alerting{am_note}.\n\
         - `rules/`: every rule file, the generated SLO and network-health rules included:\n{rules}\n\
         - `alertmanager.yml`: the routing tree, receivers and inhibitions{skywatch_url}.\n\
         - `grafana/provisioning/datasources/datasources.yml`: Prometheus (default, uid\n  `{PROMETHEUS_UID}`), Tempo (`{TEMPO_UID}`) and Loki (`{LOKI_UID}`).\n\
         - `grafana/provisioning/dashboards/dashboards.yml` and `grafana/dashboards/`: {dashboards}\n  dashboards, one provider per folder.\n\
         - `docker-compose.yml`: Prometheus, Alertmanager, Grafana, Tempo and Loki on the host's\n  network; `tempo/tempo.yml` is Tempo's configuration.\n\
         - `kubernetes/`: `node.yaml` (a Deployment of image `{image}` probed on the SDK's\n  `/healthz` and `/readyz`, and its Service), `monitoring.yaml` (Prometheus,\n  Alertmanager, Grafana), `configmaps.yaml` (the files above), and for the Prometheus\n  Operator `servicemonitor.yaml` and `prometheusrules.yaml`.\n\n\
         ## Run it\n\n\
         {nodes}\
         Check the files:\n\n\
         ```sh\npromtool check config prometheus.yml      # checks rules/*.yml too\n\
         amtool check-config alertmanager.yml\n```\n\n\
         Run the stack (Grafana on http://localhost:3000, Prometheus on :9090):\n\n\
         ```sh\ndocker compose up -d\n```\n\n\
         Or Prometheus alone, from this directory (paths are relative to it):\n\n\
         ```sh\nprometheus --config.file=prometheus.yml\n```\n\n\
         On Kubernetes (with the Prometheus Operator, apply `servicemonitor.yaml` and\n\
         `prometheusrules.yaml` instead of `monitoring.yaml`'s Prometheus):\n\n\
         ```sh\nkubectl apply -f kubernetes/\n```\n",
        am_note = if setup.alertmanager.is_some() {
            format!(" to `{}`", args.alertmanager_address)
        } else {
            String::new()
        },
        rules = rules.join("\n"),
        skywatch_url = if setup.demo.is_some() {
            format!(
                " (its webhooks post to `{}`, the demo's own receivers)",
                args.skywatch_url
            )
        } else {
            String::new()
        },
        dashboards = setup.dashboards.len(),
        image = args.node_image,
    )
}

/// Says what was written, and how to check it.
fn print_summary(dir: &Path, setup: &Setup, files: &BTreeMap<String, String>) {
    let groups_and_rules = setup
        .rules
        .iter()
        .filter_map(|(_, t)| rules::RuleFile::parse(t, "").ok())
        .fold((0, 0), |(g, r), f| {
            (
                g + f.groups.len(),
                r + f.groups.iter().map(|g| g.rules.len()).sum::<usize>(),
            )
        });
    let folders: std::collections::BTreeSet<&str> = setup
        .dashboards
        .iter()
        .map(|(f, _, _)| f.as_str())
        .collect();
    let k8s = files
        .iter()
        .filter(|(p, _)| p.starts_with("kubernetes/"))
        .map(|(_, t)| t.matches("\nkind: ").count() + usize::from(t.starts_with("kind: ")))
        .sum::<usize>();
    println!("Exported {} files to {}:", files.len(), dir.display());
    println!("  prometheus.yml");
    println!(
        "  rules/                 {} files, {} groups, {} rules",
        setup.rules.len(),
        groups_and_rules.0,
        groups_and_rules.1
    );
    if setup.alertmanager.is_some() {
        println!("  alertmanager.yml");
    }
    println!(
        "  grafana/               3 data sources, {} dashboards in {} folders",
        setup.dashboards.len(),
        folders.len()
    );
    println!("  kubernetes/            {k8s} objects");
    println!("  docker-compose.yml     the stack: prometheus, alertmanager, grafana, tempo, loki");
    println!("  README.md              what is there and how to run it");
    if let Some((profile, nodes)) = setup.demo {
        println!(
            "\nThe nodes: skywatch netsim --profile {profile} --nodes {nodes} --targets-file {}",
            dir.join(NODE_TARGETS).display()
        );
    }
    println!(
        "Check: promtool check config {}; amtool check-config {}",
        dir.join("prometheus.yml").display(),
        dir.join("alertmanager.yml").display()
    );
}
