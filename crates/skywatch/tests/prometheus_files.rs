//! Prometheus files users already have, run by the real `skywatch up`: the configuration
//! Debian's `prometheus` package installs and ships as an example, and the blackbox
//! exporter's documented configuration probing through a real
//! `prometheus-blackbox-exporter`, side by side with a real Prometheus on the same probes.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Killed, free_port, get_json, start_skywatch_with, tool, tool_named, within};

/// A file a Debian package installs; fails saying what installs it.
fn installed<'a>(path: &'a str, package: &str) -> &'a Path {
    let p = Path::new(path);
    assert!(
        p.is_file(),
        "{path} is missing: install the Debian package `{package}` (scripts/install-test-deps does it)"
    );
    p
}

fn job_names(targets: &serde_json::Value) -> Vec<String> {
    let mut jobs: Vec<String> = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["labels"]["job"].as_str().unwrap().to_owned())
        .collect();
    jobs.sort();
    jobs.dedup();
    jobs
}

#[test]
fn the_configurations_debian_installs_start_skywatch_up() {
    for (path, jobs) in [
        // `rule_files:` holds only comments there (a YAML null).
        ("/etc/prometheus/prometheus.yml", vec!["node", "prometheus"]),
        (
            "/usr/share/doc/prometheus/examples/prometheus.yml",
            vec!["prometheus"],
        ),
    ] {
        let config = installed(path, "prometheus");
        let dir = tempfile::tempdir().unwrap();
        let (_server, addr) = start_skywatch_with(
            &dir.path().join("data"),
            &["--config".as_ref(), config.as_os_str()],
        );
        let client = reqwest::blocking::Client::new();
        let targets = get_json(&client, &addr, "/api/v1/targets");
        assert_eq!(job_names(&targets), jobs, "{path}: {targets}");
    }
}

/// A plain HTTP server on loopback answering 200 on `/ok` and 404 elsewhere, for the
/// blackbox exporter to probe.
fn probed_site() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // The rest of the request head.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let status = if line.starts_with("GET /ok ") {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi"
            );
        }
    });
    addr.to_string()
}

/// Waits until `url` answers 200.
fn wait_ready(client: &reqwest::blocking::Client, url: &str, what: &str) {
    within(Duration::from_secs(60), what, || {
        client
            .get(url)
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
}

/// `query`'s answer at the server as `{labels: value}`.
fn instant(
    client: &reqwest::blocking::Client,
    addr: &str,
    query: &str,
) -> BTreeMap<BTreeMap<String, String>, String> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish();
    let answer = client
        .post(format!("http://{addr}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["status"], "success", "{query} at {addr}: {answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = serde_json::from_value(s["metric"].clone()).unwrap();
            (labels, s["value"][1].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The shapes of the example configurations Prometheus 2.42 ships (our own files, endpoints
/// on a closed loopback port): each starts `skywatch up`, its job listed, the discovery
/// failing quietly until its API answers. (The agent example's shape, a job and a
/// remote write, is every case's.)
#[test]
fn the_example_configurations_discovery_shapes_start_skywatch_up() {
    let closed = "127.0.0.1:1";
    for (name, job) in [
        (
            "docker",
            format!("docker_sd_configs:\n      - host: tcp://{closed}\n"),
        ),
        (
            "dockerswarm",
            format!(
                "dockerswarm_sd_configs:\n      - host: http://{closed}\n        role: tasks\n"
            ),
        ),
        (
            "kubernetes",
            format!(
                "kubernetes_sd_configs:\n      - role: pod\n        api_server: http://{closed}\n"
            ),
        ),
        (
            // prometheus-kubernetes.yml outside a cluster: no in-cluster configuration, and
            // the service account's CA and token missing. Prometheus starts, logging that
            // it cannot make the job's client or its discovery; so does Skywatch.
            "kubernetes-nodes",
            "scheme: https\n    tls_config:\n      ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token\n    kubernetes_sd_configs:\n      - role: node\n".to_owned(),
        ),
        (
            "puppetdb",
            format!(
                "puppetdb_sd_configs:\n      - url: http://{closed}\n        query: 'resources {{ type = \"Class\" }}'\n        tls_config:\n          ca_file: missing-ca.pem\n"
            ),
        ),
        (
            "http",
            format!("http_sd_configs:\n      - url: http://{closed}/targets\n"),
        ),
        (
            "eureka",
            format!("eureka_sd_configs:\n      - server: http://{closed}/eureka\n"),
        ),
        (
            "marathon",
            format!("marathon_sd_configs:\n      - servers: ['http://{closed}']\n        refresh_interval: 60s\n"),
        ),
        (
            "nomad",
            format!("nomad_sd_configs:\n      - server: http://{closed}\n"),
        ),
        (
            "uyuni",
            format!("uyuni_sd_configs:\n      - server: http://{closed}\n        username: gopher\n        password: hole\n"),
        ),
        // The cloud providers whose API's address is fixed reach it through a proxy on a
        // closed loopback port here: the test stays off the network.
        (
            "digitalocean",
            format!("digitalocean_sd_configs:\n      - authorization:\n          credentials: token\n        proxy_url: http://{closed}\n"),
        ),
        (
            "hetzner",
            format!("hetzner_sd_configs:\n      - role: hcloud\n        authorization:\n          credentials: token\n        proxy_url: http://{closed}\n      - role: robot\n        basic_auth:\n          username: u\n          password: p\n        proxy_url: http://{closed}\n"),
        ),
        (
            "linode",
            format!("linode_sd_configs:\n      - authorization:\n          credentials: token\n        proxy_url: http://{closed}\n"),
        ),
        (
            "vultr",
            format!("vultr_sd_configs:\n      - authorization:\n          credentials: token\n        proxy_url: http://{closed}\n"),
        ),
        (
            "ionos",
            format!("ionos_sd_configs:\n      - basic_auth:\n          username: u\n          password: p\n        datacenter_id: 11111111-1111-1111-1111-111111111111\n        port: 9100\n        proxy_url: http://{closed}\n"),
        ),
        (
            "scaleway",
            format!("scaleway_sd_configs:\n      - role: instance\n        project_id: 11111111-1111-1111-1111-111111111111\n        access_key: SCWXXXXXXXXXXXXXXXXX\n        secret_key: 11111111-1111-1111-1111-111111111111\n        api_url: http://{closed}\n      - role: baremetal\n        zone: fr-par-2\n        project_id: 11111111-1111-1111-1111-111111111111\n        access_key: SCWXXXXXXXXXXXXXXXXX\n        secret_key: 11111111-1111-1111-1111-111111111111\n        api_url: http://{closed}\n"),
        ),
        (
            "ovhcloud",
            format!("ovhcloud_sd_configs:\n      - service: vps\n        endpoint: http://{closed}/1.0\n        application_key: k\n        application_secret: s\n        consumer_key: c\n      - service: dedicated_server\n        endpoint: http://{closed}/1.0\n        application_key: k\n        application_secret: s\n        consumer_key: c\n"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: {name}\n    {job}remote_write:\n  - url: http://{closed}/api/v1/write\n"
            ),
        )
        .unwrap();
        let (_server, addr) = start_skywatch_with(
            &dir.path().join("data"),
            &["--config".as_ref(), config.as_os_str()],
        );
        let client = reqwest::blocking::Client::new();
        let status = get_json(&client, &addr, "/api/v1/status/config");
        assert!(
            status["data"]["yaml"]
                .as_str()
                .unwrap()
                .contains(&format!("job_name: {name}")),
            "{name}: {status}"
        );
        let ready = client.get(format!("http://{addr}/-/ready")).send().unwrap();
        assert!(ready.status().is_success(), "{name}");
        if name == "kubernetes-nodes" {
            // Why the job has no targets is on /targets.
            let targets = get_json(&client, &addr, "/api/v1/targets");
            let failure = &targets["data"]["discoveryFailures"][0];
            assert_eq!(failure["provider"], "kubernetes_sd_configs[0]", "{targets}");
            assert!(
                failure["error"]
                    .as_str()
                    .unwrap()
                    .contains("in-cluster configuration"),
                "{targets}"
            );
        }
    }
}

#[test]
fn the_blackbox_exporters_configuration_probes_as_prometheus_does() {
    let blackbox_config = installed(
        "/etc/prometheus/blackbox.yml",
        "prometheus-blackbox-exporter",
    );
    let blackbox_port = free_port();
    let _blackbox = Killed(
        Command::new(tool_named(
            "prometheus-blackbox-exporter",
            "prometheus-blackbox-exporter",
        ))
        .arg(format!("--config.file={}", blackbox_config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{blackbox_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let site = probed_site();
    // The configuration of the blackbox exporter's README, with loopback targets: URLs as
    // targets, moved into the `target` parameter by relabelling.
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: 'blackbox'
    metrics_path: /probe
    params:
      module: [http_2xx]  # Look for a HTTP 200 response.
    static_configs:
      - targets:
        - http://{site}/ok
        - http://{site}/missing
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{blackbox_port}  # The blackbox exporter's real hostname:port.
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, &config).unwrap();

    let client = reqwest::blocking::Client::new();
    wait_ready(
        &client,
        &format!("http://127.0.0.1:{blackbox_port}/metrics"),
        "the blackbox exporter to start",
    );
    let prometheus_port = free_port();
    let _prometheus = Killed(
        Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prometheus").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let prometheus = format!("127.0.0.1:{prometheus_port}");
    let (_skywatch, skywatch) = start_skywatch_with(
        &dir.path().join("skywatch"),
        &["--config".as_ref(), file.as_os_str()],
    );
    wait_ready(
        &client,
        &format!("http://{prometheus}/-/ready"),
        "Prometheus to start",
    );

    // Both have probed each site.
    for addr in [&prometheus, &skywatch] {
        within(Duration::from_secs(60), "two probes to be stored", || {
            instant(&client, addr, "probe_success").len() == 2
        });
    }
    for query in [
        "up",
        "probe_success",
        "probe_http_status_code",
        "count by (__name__, instance, job) ({job=\"blackbox\"})",
    ] {
        let ours = instant(&client, &skywatch, query);
        let theirs = instant(&client, &prometheus, query);
        assert_eq!(ours, theirs, "{query}");
    }
    let success = instant(&client, &skywatch, "probe_success");
    let ok = BTreeMap::from([
        ("__name__".to_owned(), "probe_success".to_owned()),
        ("instance".to_owned(), format!("http://{site}/ok")),
        ("job".to_owned(), "blackbox".to_owned()),
    ]);
    assert_eq!(success[&ok], "1", "{success:?}");
}

/// Each request a collector received: its path, headers (lower-case names) and body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<(String, String)>, Vec<u8>)>>>;

/// A fake OTLP/HTTP collector on loopback: records each request's path and body, answers
/// 200 with an empty export response.
fn otlp_collector() -> (String, Received) {
    otlp_collector_over(None)
}

/// As [`otlp_collector`], over TLS with `tls` when given.
fn otlp_collector_over(tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> (String, Received) {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let stream: Box<dyn ReadWrite> = match &tls {
                Some(config) => Box::new(rustls::StreamOwned::new(
                    rustls::ServerConnection::new(config.clone()).unwrap(),
                    stream,
                )),
                None => Box::new(stream),
            };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut length = 0;
            let mut headers = Vec::new();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                if let Some((name, value)) = header.split_once(':') {
                    let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    if name == "content-length" {
                        length = value.parse().unwrap_or(0);
                    }
                    headers.push((name, value));
                }
                header.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            recorded.lock().unwrap().push((path, headers, body));
            let stream = reader.get_mut();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.flush();
        }
    });
    (addr, seen)
}

/// A connection a collector reads and answers.
trait ReadWrite: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> ReadWrite for T {}

/// A CA's certificate file in `dir`, and a server configuration with a certificate it
/// signed for 127.0.0.1.
fn tls_server(dir: &Path) -> (std::path::PathBuf, std::sync::Arc<rustls::ServerConfig>) {
    let ca = common::test_ca();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    (ca_file, common::tls_server_config(&ca, "127.0.0.1"))
}

/// Starts Skywatch with `tracing` (the section's body, indented), queries it, and waits
/// for the query's span at `seen`; returns the headers of that export and its body, as
/// sent (gzip-compressed or not).
fn traced_query(tracing: &str, seen: &Received) -> (Vec<(String, String)>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, format!("tracing:\n{tracing}")).unwrap();
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    let answer = get_json(&client, &addr, "/api/v1/query?query=vector(1)");
    assert_eq!(answer["status"], "success");
    let query_span = |(path, headers, body): &(String, Vec<(String, String)>, Vec<u8>)| {
        let gzip = headers
            .iter()
            .any(|(n, v)| n == "content-encoding" && v == "gzip");
        let mut plain = body.clone();
        if gzip {
            plain.clear();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(body.as_slice()),
                &mut plain,
            )
            .unwrap();
        }
        path == "/v1/traces"
            && plain
                .windows("/api/v1/query".len())
                .any(|w| w == b"/api/v1/query")
    };
    within(
        Duration::from_secs(30),
        "the query's span at the collector",
        || seen.lock().unwrap().iter().any(query_span),
    );
    let seen = seen.lock().unwrap();
    let (_, headers, body) = seen.iter().find(|r| query_span(r)).unwrap();
    (headers.clone(), body.clone())
}

#[test]
fn tracing_headers_gzip_and_a_ca_file_reach_an_https_collector() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_file, server) = tls_server(dir.path());
    let (collector, seen) = otlp_collector_over(Some(server));
    let (headers, _) = traced_query(
        &format!(
            "  client_type: http\n  endpoint: {collector}\n  sampling_fraction: 1\n  compression: gzip\n  headers:\n    X-Scope-OrgID: validators\n    foo: bar\n  tls_config:\n    ca_file: {}\n",
            ca_file.display()
        ),
        &seen,
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-scope-orgid"), Some("validators"), "{headers:?}");
    assert_eq!(header("foo"), Some("bar"), "{headers:?}");
    assert_eq!(header("content-encoding"), Some("gzip"), "{headers:?}");
}

#[test]
fn tracing_with_insecure_skip_verify_reaches_a_collector_of_an_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (_, server) = tls_server(dir.path());
    let (collector, seen) = otlp_collector_over(Some(server));
    traced_query(
        &format!(
            "  client_type: http\n  endpoint: {collector}\n  sampling_fraction: 1\n  tls_config:\n    insecure_skip_verify: true\n"
        ),
        &seen,
    );
}

#[test]
fn the_tracing_section_sends_the_servers_own_spans_over_otlp() {
    let (collector, seen) = otlp_collector();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "tracing:\n  client_type: http\n  endpoint: {collector}\n  insecure: true\n  sampling_fraction: 1\n  timeout: 5s\n"
        ),
    )
    .unwrap();
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    let answer = get_json(&client, &addr, "/api/v1/query?query=vector(1)");
    assert_eq!(answer["status"], "success");
    // The batch exporter sends within seconds; the query's span names its route.
    within(
        Duration::from_secs(30),
        "the query's span at the collector",
        || {
            seen.lock().unwrap().iter().any(|(path, _, body)| {
                path == "/v1/traces"
                    && body
                        .windows("/api/v1/query".len())
                        .any(|w| w == b"/api/v1/query")
            })
        },
    );
}

#[test]
fn queries_and_rule_evaluations_go_to_the_query_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: logged\n    interval: 1s\n    rules:\n      - record: one\n        expr: vector(1)\n",
    )
    .unwrap();
    // Named relative to the configuration, as Prometheus finds it.
    std::fs::write(
        &config,
        "global:\n  query_log_file: queries.log\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    let answer = get_json(
        &client,
        &addr,
        "/api/v1/query?query=vector(2)&time=1700000000",
    );
    assert_eq!(answer["status"], "success");
    let log = dir.path().join("queries.log");
    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    within(
        Duration::from_secs(15),
        "the query and a rule evaluation logged",
        || {
            let lines = lines();
            lines.iter().any(|l| l["params"]["query"] == "vector(2)")
                && lines.iter().any(|l| l["ruleGroup"]["name"] == "logged")
        },
    );
    let lines = lines();
    let query = lines
        .iter()
        .find(|l| l["params"]["query"] == "vector(2)")
        .unwrap();
    assert_eq!(
        query["params"],
        serde_json::json!({"query": "vector(2)", "start": "2023-11-14T22:13:20.000Z", "end": "2023-11-14T22:13:20.000Z", "step": 0})
    );
    assert_eq!(
        query["httpRequest"],
        serde_json::json!({"clientIP": "127.0.0.1", "method": "GET", "path": "/api/v1/query"})
    );
    let rule = lines
        .iter()
        .find(|l| l["ruleGroup"]["name"] == "logged")
        .unwrap();
    assert_eq!(rule["params"]["query"], "vector(1)");
    assert!(
        rule["ruleGroup"]["file"]
            .as_str()
            .unwrap()
            .ends_with("rules.yml"),
        "{rule}"
    );
}
