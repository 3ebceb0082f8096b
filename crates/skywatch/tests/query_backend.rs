//! `skywatch up --query.backend` over a real Prometheus 2.42 (Debian's `prometheus`
//! package): Prometheus scrapes a profile's simulated nodes (`skywatch netsim`) and
//! evaluates the profile's rule files, the SLO rules `skywatch slo generate` writes and the
//! network-health rules; a `skywatch up` that scrapes nothing, named that Prometheus as its
//! query backend and given the same rules, SLOs and the shipped dashboards, answers from
//! Prometheus's data: its API agrees with Prometheus's, its rules evaluate without error,
//! and `ui/tests/dashboards-data.mjs` (headless Chromium, in its errors-only mode) finds no
//! panel error on any dashboard. Screenshots go to `target/tmp/query-backend/PROFILE`.
//!
//! One test per profile, so that one can be run alone:
//! `cargo test -p skywatch --test query_backend zerostate`. A second test checks what
//! the backend store itself does against Prometheus: samples, label APIs, series lookups,
//! the engine's errors and a backend that does not answer.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the script's line per dashboard is reported for the record"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Killed, get_json, start_prometheus, start_skywatch_with, within};
use model::{Labels, Matcher};
use netsim::Profile;
use serde_json::Value;
use storage::{Queryable, SelectHints};

/// How many nodes each network runs.
const NODES: usize = 4;

/// One profile at a time: two Prometheus, two servers and two browsers at once on a
/// two-core machine slow each other past the waits.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn zerostate() {
    dashboards_answer_from_prometheus(Profile::ZeroState, Read::QueryApi);
}

#[test]
fn virtengine() {
    dashboards_answer_from_prometheus(Profile::VirtEngine, Read::QueryApi);
}

#[test]
fn coinjecture() {
    dashboards_answer_from_prometheus(Profile::Coinjecture, Read::RemoteRead);
}

/// How the server reads Prometheus's samples: each way serves some profiles' dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The query API (the default).
    QueryApi,
    /// Remote read (`--query.backend.remote-read`).
    RemoteRead,
}

/// The test of each profile, by name: a new profile does not compile until it has one.
#[test]
fn every_profile_has_a_test() {
    for profile in Profile::ALL {
        let test: fn() = match profile {
            Profile::ZeroState => zerostate,
            Profile::VirtEngine => virtengine,
            Profile::Coinjecture => coinjecture,
        };
        let _ = test;
    }
}

/// The repository's directory.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A profile's directory under `rules/` and `dashboards/`, its SLO spec, and its network
/// health metrics (height, peers), as `crates/skywatch/src/shipped*.rs` names them.
fn files_of(profile: Profile) -> (&'static str, &'static str, &'static str, &'static str) {
    match profile {
        Profile::ZeroState => (
            "node-network",
            "slos/zerostate.yml",
            "chain_block_height",
            "p2p_peers",
        ),
        Profile::VirtEngine => (
            "virtengine",
            "slos/virtengine.yml",
            "cometbft_consensus_height",
            "cometbft_p2p_peers",
        ),
        Profile::Coinjecture => (
            "coinjecture",
            "slos/coinjecture.yml",
            "consensus_block_height",
            "sum without (status) (p2p_peer_status{status=\"connected\"})",
        ),
    }
}

/// Runs `skywatch ARGS` to completion; returns its standard output, failing with its
/// standard error.
fn skywatch(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skywatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `skywatch netsim` for `profile` writing its nodes to `targets`; returns it once
/// the file is written.
fn start_netsim(profile: Profile, targets: &Path) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["netsim", "--profile", profile.name(), "--nodes"])
        .arg(NODES.to_string())
        .arg("--targets-file")
        .arg(targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    within(Duration::from_secs(20), "netsim's targets file", || {
        targets.is_file()
    });
    child
}

/// Waits until Prometheus at `addr` is ready to answer.
fn wait_ready(client: &reqwest::blocking::Client, addr: &str) {
    within(Duration::from_secs(30), "Prometheus to be ready", || {
        client
            .get(format!("http://{addr}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
}

/// An instant query's answer at `addr`, at `time` (seconds) if given.
fn query(client: &reqwest::blocking::Client, addr: &str, expr: &str, time: Option<f64>) -> Value {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("query", expr);
    if let Some(t) = time {
        form.append_pair("time", &format!("{t:.3}"));
    }
    get_json(client, addr, &format!("/api/v1/query?{}", form.finish()))
}

/// The result of an instant query, sorted by labels, each as (labels, value).
fn vector(answer: &Value) -> Vec<(String, String)> {
    assert_eq!(answer["status"], "success", "{answer}");
    let mut out: Vec<(String, String)> = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"].to_string(),
                s["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn dashboards_answer_from_prometheus(profile: Profile, read: Read) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let began = Instant::now();
    common::chromium();
    let (dir_name, slo_spec, height, peers) = files_of(profile);
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let client = reqwest::blocking::Client::new();

    // The network, and the rule files both servers run: the profile's, its SLOs' and
    // network health's, generated by the commands users run.
    let targets = d.join("targets.json");
    let _netsim = start_netsim(profile, &targets);
    let slos = d.join("slos");
    std::fs::create_dir(&slos).unwrap();
    std::fs::copy(repo.join(slo_spec), slos.join("slos.yml")).unwrap();
    let slo_rules = d.join("slo-rules.yml");
    skywatch(&[
        "slo".as_ref(),
        "generate".as_ref(),
        "-o".as_ref(),
        slo_rules.as_os_str(),
        slos.join("slos.yml").as_os_str(),
    ]);
    let inventory: Vec<String> = (0..NODES).map(|i| format!("node-{i:02}")).collect();
    let health = d.join("network-health.yml");
    std::fs::write(
        &health,
        format!(
            "node_label: node\nheight: '{height}'\npeers: '{peers}'\nup: 'up{{job=\"nodes\"}}'\n\
             inventory:\n  nodes: [{}]\n",
            inventory.join(", ")
        ),
    )
    .unwrap();
    let health_rules = d.join("network-health-rules.yml");
    std::fs::write(
        &health_rules,
        skywatch(&[
            "network-health".as_ref(),
            "rules".as_ref(),
            health.as_os_str(),
        ]),
    )
    .unwrap();
    let profile_rules = common::yml_files_in(&repo.join("rules").join(dir_name));
    assert!(!profile_rules.is_empty(), "no rule files for {profile}");
    let rule_list = |files: &[PathBuf]| -> String {
        files
            .iter()
            .map(|f| format!("  - {}\n", f.display()))
            .collect()
    };

    // Prometheus scrapes and evaluates everything.
    let prometheus_config = d.join("prometheus.yml");
    let mut prometheus_rules = profile_rules.clone();
    prometheus_rules.extend([slo_rules.clone(), health_rules.clone()]);
    std::fs::write(
        &prometheus_config,
        format!(
            "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n\
             scrape_configs:\n  - job_name: nodes\n    file_sd_configs:\n      - files: [{}]\n\
             rule_files:\n{}",
            targets.display(),
            rule_list(&prometheus_rules)
        ),
    )
    .unwrap();
    let (_prometheus, prometheus) = start_prometheus(&prometheus_config, &d.join("prom"), &[]);
    wait_ready(&client, &prometheus);
    within(
        Duration::from_secs(30),
        "Prometheus to scrape every node and record the SLOs",
        || {
            let up = query(&client, &prometheus, "count(up{job=\"nodes\"} == 1)", None);
            let slo = query(&client, &prometheus, "count({sloth_id!=\"\"})", None);
            up["data"]["result"][0]["value"][1].as_str() == Some(NODES.to_string().as_str())
                && slo["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
        },
    );

    // Skywatch scrapes nothing and answers from Prometheus, with the profile's rules (its
    // SLOs' and network health's come from --slos and --network-health.config).
    let config = d.join("skywatch.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 2s\nrule_files:\n{}",
            rule_list(&profile_rules)
        ),
    )
    .unwrap();
    let dashboards = d.join("dashboards");
    for sub in [dir_name, "skywatch"] {
        let to = dashboards.join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(repo.join("dashboards").join(sub)).unwrap() {
            let e = e.unwrap().path();
            std::fs::copy(&e, to.join(e.file_name().unwrap())).unwrap();
        }
    }
    let backend = format!("http://{prometheus}");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--query.backend".as_ref(),
        backend.as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--dashboards".as_ref(),
        dashboards.as_os_str(),
        "--slos".as_ref(),
        slos.as_os_str(),
        "--network-health.config".as_ref(),
        health.as_os_str(),
    ];
    if read == Read::RemoteRead {
        args.push("--query.backend.remote-read".as_ref());
    }
    let (_skywatch, addr) = start_skywatch_with(&d.join("skywatch-data"), &args);

    // The groups of the evaluation interval evaluated over Prometheus's data; the SLOs'
    // groups, of a minute, are checked after the dashboards.
    within(
        Duration::from_secs(30),
        "the 2 s rule groups evaluated",
        || {
            rule_health(&client, &addr)
                .0
                .iter()
                .all(|(_, interval)| *interval > 2.0)
        },
    );
    // Its answers are Prometheus's: the series of the nodes, counted by name at one time,
    // the label values and the series API.
    let at = {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        (now.as_millis() / 1000) as f64 - 1.0
    };
    // (Not the alerts' series: both servers evaluate the alerts, each at its own times.)
    let counted = "count by (__name__) ({job=\"nodes\",__name__!~\"ALERTS.*\"})";
    let theirs = vector(&query(&client, &prometheus, counted, Some(at)));
    let ours = vector(&query(&client, &addr, counted, Some(at)));
    assert!(theirs.len() > 10, "{theirs:?}");
    assert_eq!(ours, theirs, "{counted} at {at}");
    let up = vector(&query(&client, &addr, "up{job=\"nodes\"}", Some(at)));
    assert_eq!(up.len(), NODES, "{up:?}");
    let nodes = get_json(&client, &addr, "/api/v1/label/node/values");
    for node in &inventory {
        assert!(
            nodes["data"].as_array().unwrap().iter().any(|n| n == node),
            "{node} missing from {nodes}"
        );
    }
    let series = get_json(&client, &addr, "/api/v1/series?match[]=up");
    assert_eq!(series["data"].as_array().unwrap().len(), NODES, "{series}");

    eprintln!(
        "{profile}: live over the backend after {:?}",
        began.elapsed()
    );

    // Every dashboard, in the browser: no panel error.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("query-backend")
        .join(profile.name());
    let out = common::dashboards_script(
        &addr,
        profile.name(),
        &shots,
        "5m",
        &[("DASHBOARDS_CHECK", "errors")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{profile}: dashboards checked after {:?}", began.elapsed());
    assert!(
        out.status.success(),
        "{profile}: dashboards with panel errors over the query backend:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dashboards_checked = stdout.lines().filter(|l| l.starts_with("ok")).count();
    assert!(dashboards_checked >= 4, "{stdout}");

    // Every rule group, the SLOs' too, evaluated over Prometheus's data without an error.
    within(
        Duration::from_secs(60),
        "every rule group evaluated",
        || rule_health(&client, &addr).0.is_empty(),
    );
    let (_, broken) = rule_health(&client, &addr);
    assert!(
        broken.is_empty(),
        "rules failing over the backend: {broken:?}"
    );
    eprintln!("{profile}: done after {:?}", began.elapsed());
}

/// The rule groups of the server at `addr` not evaluated yet (name, interval in seconds),
/// and the rules whose last evaluation failed, with the error.
fn rule_health(
    client: &reqwest::blocking::Client,
    addr: &str,
) -> (Vec<(String, f64)>, Vec<String>) {
    let v = get_json(client, addr, "/api/v1/rules");
    let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
    assert!(!groups.is_empty(), "no rule groups: {v}");
    let waiting = groups
        .iter()
        .filter(|g| {
            g["lastEvaluation"]
                .as_str()
                .is_none_or(|t| t.starts_with("0001"))
        })
        .map(|g| {
            let name = g["name"].as_str().unwrap_or_default().to_owned();
            (name, g["interval"].as_f64().unwrap_or_default())
        })
        .collect();
    let broken = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["health"] == "err")
        .map(|r| format!("{}: {}", r["name"], r["lastError"]))
        .collect();
    (waiting, broken)
}

/// Series found: each one's labels as text and its samples.
type Found = Vec<(String, Vec<(i64, f64)>)>;

/// Every series `matchers` select from `store` over `[mint, maxt]` with `hints`, as
/// (labels, samples).
fn selected(
    store: &dyn Queryable,
    mint: i64,
    maxt: i64,
    hints: &SelectHints,
    matchers: &[Matcher],
) -> Result<Found, storage::StorageError> {
    let q = store.querier(mint, maxt)?;
    let mut out = Vec::new();
    for s in q.select(hints, matchers)? {
        let mut s = s?;
        let samples = s.samples.collect_vec()?;
        out.push((
            s.labels.to_string(),
            samples.iter().map(|s| (s.t, s.v)).collect(),
        ));
    }
    Ok(out)
}

#[test]
fn the_backend_store_reads_raw_samples_labels_and_errors_from_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::new();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global: {}\n").unwrap();
    let (_prometheus, prometheus) = start_prometheus(
        &config,
        &dir.path().join("prom"),
        &[
            "--web.enable-remote-write-receiver",
            "--query.max-samples=500",
            "--storage.remote.read-sample-limit=500",
        ],
    );
    wait_ready(&client, &prometheus);
    // Two counters and a gauge every 10 s over 5 minutes, values with fractions, NaN and
    // infinities; a series that ended, marked stale; and one series too big for the
    // engine's sample limits.
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        * 1_000
        - 600_000;
    let counter = |job: &str| Labels::from_pairs([("__name__", "sent_total"), ("job", job)]);
    let gauge = Labels::from_pairs([("__name__", "temperature"), ("job", "a"), ("zone", "z1")]);
    let big = Labels::from_pairs([("__name__", "big"), ("job", "a")]);
    let mut batch = Vec::new();
    for i in 0..30_i64 {
        let t = t0 + i * 10_000;
        batch.push((counter("a"), t, i as f64 * 1.25));
        batch.push((counter("b"), t, i as f64 * 0.5));
        let v = match i {
            7 => f64::NAN,
            8 => f64::INFINITY,
            9 => f64::NEG_INFINITY,
            _ => 20.0 + i as f64 / 3.0,
        };
        batch.push((gauge.clone(), t, v));
    }
    for i in 0..600_i64 {
        batch.push((big.clone(), t0 + i * 500, 1.0));
    }
    let ended = Labels::from_pairs([("__name__", "ended"), ("job", "c")]);
    batch.push((ended.clone(), t0, 1.0));
    batch.push((ended.clone(), t0 + 10_000, model::STALE_NAN));
    common::remote_write(&client, &prometheus, &batch);

    // Held locally only: a recorded series, and a tail of counter a past Prometheus's last
    // sample (and one inside its range, which Prometheus's sample hides).
    let local = std::sync::Arc::new(storage::MemStorage::new());
    {
        use storage::Appendable as _;
        let mut app = local.appender();
        let recorded = Labels::from_pairs([("__name__", "job:sent:rate1m"), ("job", "a")]);
        app.append(None, &recorded, t0 + 60_000, 0.125).unwrap();
        app.append(None, &counter("a"), t0 + 10_000, 99.0).unwrap();
        app.append(None, &counter("a"), t0 + 300_000, 40.0).unwrap();
        app.commit().unwrap();
    }
    // Both ways of reading samples: the query API and remote read.
    for remote_read in [false, true] {
        let store = remote::QueryBackend::new(
            local.clone(),
            Some(remote::BackendOptions {
                url: format!("http://{prometheus}/"),
                http: httpclient::HttpClientConfig::default(),
                timeout: Duration::from_secs(10),
                remote_read,
            }),
        )
        .unwrap();
        let hints = SelectHints::default();
        let name = |n: &str| Matcher::equal("__name__", n);

        // The range is closed at both ends, samples are exact, series sorted by labels, the
        // local tail follows Prometheus's last sample.
        let (mint, maxt) = (t0 + 20_000, t0 + 300_000);
        let found = selected(&store, mint, maxt, &hints, &[name("sent_total")]).unwrap();
        let expected = |job: &str, per: f64, tail: Option<(i64, f64)>| {
            let mut samples: Vec<(i64, f64)> = (2..30)
                .map(|i: i64| (t0 + i * 10_000, i as f64 * per))
                .collect();
            samples.extend(tail);
            (format!("sent_total{{job=\"{job}\"}}"), samples)
        };
        assert_eq!(
            found,
            vec![
                expected("a", 1.25, Some((t0 + 300_000, 40.0))),
                expected("b", 0.5, None)
            ]
        );
        // Special values arrive bit for bit where the API can write them.
        let temps = selected(&store, t0, maxt, &hints, &[name("temperature")]).unwrap();
        let values: Vec<f64> = temps[0].1.iter().map(|s| s.1).collect();
        assert!(values[7].is_nan());
        assert_eq!(values[8..10], [f64::INFINITY, f64::NEG_INFINITY]);
        assert_eq!(values[10], 20.0 + 10.0 / 3.0);
        // Regex and negative matchers, and a selector that only matches empty values.
        let re = |n: &str, v: &str| Matcher::new(model::MatchOp::Regex, n, v).unwrap();
        let not = |n: &str, v: &str| Matcher::new(model::MatchOp::NotEqual, n, v).unwrap();
        let names = |found: Found| -> Vec<String> { found.into_iter().map(|(l, _)| l).collect() };
        assert_eq!(
            names(
                selected(
                    &store,
                    t0,
                    maxt,
                    &hints,
                    &[re("job", "a"), not("__name__", "big")]
                )
                .unwrap()
            ),
            [
                "job:sent:rate1m{job=\"a\"}",
                "sent_total{job=\"a\"}",
                "temperature{job=\"a\",zone=\"z1\"}"
            ]
        );
        assert_eq!(
            names(
                selected(
                    &store,
                    t0,
                    maxt,
                    &hints,
                    &[re("zone", ".*"), re("job", "b|c")]
                )
                .unwrap()
            ),
            ["ended{job=\"c\"}", "sent_total{job=\"b\"}"]
        );
        // A series lookup has the series without samples.
        let lookup = SelectHints {
            func: Some("series".into()),
            ..SelectHints::default()
        };
        let series = selected(&store, t0, maxt, &lookup, &[name("temperature")]).unwrap();
        assert_eq!(
            series,
            [("temperature{job=\"a\",zone=\"z1\"}".to_owned(), Vec::new())]
        );
        // Label names and values follow the matchers; the local ones join them.
        let q = store.querier(t0, maxt).unwrap();
        assert_eq!(
            q.label_names(&[Matcher::equal("job", "a")]).unwrap(),
            ["__name__", "job", "zone"]
        );
        assert_eq!(q.label_values("job", &[]).unwrap(), ["a", "b", "c"]);
        assert_eq!(
            q.label_values("__name__", &[Matcher::equal("job", "a")])
                .unwrap(),
            ["big", "job:sent:rate1m", "sent_total", "temperature"]
        );
        assert_eq!(
            q.label_values("zone", &[name("sent_total")]).unwrap(),
            Vec::<String>::new()
        );
        // The engine's refusal is the read's error, in its words.
        let e = selected(&store, t0, maxt, &hints, &[name("big")]).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, storage::StorageError::Remote { .. })
                && text.contains(&format!("query backend http://{prometheus}"))
                && text.contains(if remote_read {
                    "exceeded sample limit (500)"
                } else {
                    "too many samples"
                }),
            "{text}"
        );
        // Staleness markers come through remote read bit for bit; the query API drops them.
        let found = selected(&store, t0, maxt, &hints, &[name("ended")]).unwrap();
        let bits: Vec<(i64, u64)> = found[0].1.iter().map(|s| (s.0, s.1.to_bits())).collect();
        if remote_read {
            assert_eq!(
                bits,
                [
                    (t0, 1.0_f64.to_bits()),
                    (t0 + 10_000, model::STALE_NAN.to_bits())
                ]
            );
        } else {
            assert_eq!(bits, [(t0, 1.0_f64.to_bits())]);
        }
    }

    // An engine that never answers fails the read at the timeout, naming it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let store = remote::QueryBackend::new(
        std::sync::Arc::new(storage::MemStorage::new()),
        Some(remote::BackendOptions {
            url: format!("http://{}", silent.local_addr().unwrap()),
            http: httpclient::HttpClientConfig::default(),
            timeout: Duration::from_millis(500),
            remote_read: false,
        }),
    )
    .unwrap();
    let up = [Matcher::equal("__name__", "up")];
    let e = selected(&store, t0, t0 + 1_000, &SelectHints::default(), &up)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/api/v1/query timed out after 500ms"), "{e}");
    // A URL that is not one is refused at start.
    let e = remote::QueryBackend::new(
        std::sync::Arc::new(storage::MemStorage::new()),
        Some(remote::BackendOptions {
            url: "prometheus:9090".into(),
            http: httpclient::HttpClientConfig::default(),
            timeout: Duration::from_secs(1),
            remote_read: false,
        }),
    )
    .unwrap_err();
    assert!(e.contains("must be an http:// or https:// URL"), "{e}");
}
