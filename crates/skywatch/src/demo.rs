//! `skywatch demo`: the server and a simulated node network in one process.
//!
//! The network's nodes each serve `/metrics` and health endpoints on their own loopback
//! port; the server scrapes them (job `nodes`, one `node` label each, so that
//! `count(up == 1)` is the node count) and serves the network's chaos controls under
//! `/demo/`; its own metrics are at its `/metrics` and recorded in its database too (job
//! `skywatch`). Once the server listens, the network's traces and log records go to its
//! own OTLP receiver on loopback (`--trace-export`, `--trace-sampling`, `--log-export`). Data goes to a fresh temporary
//! directory unless `--data` says where; Ctrl-C stops everything and removes the temporary
//! data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::up::{QueryArgs, Settings};

/// `skywatch demo` options.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Whose network to simulate, with its dashboards, alert rules, SLOs and routing:
    /// zerostate (P2P, guilds, WASM tasks, payment channels), virtengine (a CometBFT
    /// chain with marketplace, escrow, identity and ML modules) or coinjecture (dual-run
    /// parity, epoch-replay protection, IPFS pinning).
    #[arg(long, default_value = "zerostate", value_parser = profile)]
    profile: netsim::Profile,
    /// How many simulated nodes.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// The seed of the simulation: the same seed replays the same network.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How often the nodes are scraped.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    scrape_interval: Duration,
    /// The address to serve the API and the controls on.
    #[arg(long, default_value = crate::up::DEFAULT_LISTEN)]
    listen: SocketAddr,
    #[command(flatten)]
    otlp: crate::up::OtlpArgs,
    #[command(flatten)]
    web: crate::web_server::WebArgs,
    /// Keep the data in this directory instead of a temporary one removed at exit.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Chaos to start with, repeatable: kill:N, stall:N, slow:N, fail:N,
    /// partition:N+M+..., payment-failures:RATE, halt, block-time:FACTOR, or
    /// fault:NAME for one of the profile's faults (GET /demo/faults lists them).
    #[arg(long = "chaos", value_name = "SPEC")]
    chaos: Vec<String>,
    /// Extra synthetic series per node, for load tests.
    #[arg(long, default_value_t = 0)]
    load_series: usize,
    /// Simulate this much of the network's past (for example 6h) and store it before
    /// scraping starts, so that dashboards show hours at once; needs an empty data
    /// directory.
    #[arg(long, value_parser = humantime::parse_duration)]
    history: Option<Duration>,
    /// More dashboards to serve beside the shipped ones: a directory of Grafana JSON
    /// files, read again when they change.
    #[arg(long)]
    dashboards: Option<PathBuf>,
    /// Rule files to run instead of the profile's shipped rules.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// An Alertmanager configuration to route with instead of the profile's own
    /// (alertmanager/demo.yml for zerostate); `${SKYWATCH_URL}` in it is the demo's address.
    #[arg(long)]
    alertmanager_config: Option<PathBuf>,
    /// The share of the simulated requests whose traces are kept, from 0 to 1. The node a
    /// request enters decides, and every node it reaches follows (parent-based sampling),
    /// so a trace is kept whole.
    #[arg(long, default_value_t = 0.1, value_parser = sampling_ratio)]
    trace_sampling: f64,
    /// How the network's spans reach the demo's own OTLP receiver: http (POST /v1/traces
    /// on --listen), grpc (on --otlp-grpc-listen) or none.
    #[arg(long, value_enum, default_value_t = TraceExport::Http)]
    trace_export: TraceExport,
    /// How the network's log records reach the demo's own OTLP receiver: http (POST
    /// /v1/logs on --listen), grpc (on --otlp-grpc-listen) or none.
    #[arg(long, value_enum, default_value_t = TraceExport::Http)]
    log_export: TraceExport,
    /// Network-relative health settings (docs/network-health.md) instead of the
    /// profile's own (its height and peer metrics, a 1m window and for); the demo's
    /// inventory applies when they have none.
    #[arg(long = "network-health.config", value_name = "FILE")]
    network_health_config: Option<PathBuf>,
    /// The inventory of expected nodes (a file_sd target file or a list of names) instead
    /// of the demo's own, which lists its simulated nodes: leave one out to see
    /// UnexpectedNodePresent, add one to see ExpectedNodeAbsent.
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// The log filter, in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "warn")]
    log: String,
}

/// The demo's network health: the profile's metrics, or `--network-health.config`, with
/// `--inventory` or else the demo's own inventory file, written into `data`, of every
/// simulated node.
fn network_health(
    args: &DemoArgs,
    shipped: &crate::shipped::Shipped,
    network: &netsim::Network,
    data: &std::path::Path,
) -> Result<crate::network_health::NetworkHealth, String> {
    use crate::network_health::{Inventory, NetworkHealth, Settings};
    let own = || -> Result<Inventory, String> {
        let groups: Vec<serde_json::Value> = network
            .nodes()
            .iter()
            .map(|n| {
                serde_json::json!({
                    "targets": [n.addr.to_string()],
                    "labels": {"node": format!("node-{:02}", n.id)},
                })
            })
            .collect();
        // Written before the TSDB opens (and makes) the data directory.
        std::fs::create_dir_all(data)
            .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let file = data.join("inventory.json");
        std::fs::write(&file, serde_json::Value::Array(groups).to_string())
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        Ok(Inventory {
            files: vec![file],
            nodes: Vec::new(),
        })
    };
    let (health, has_inventory) = match &args.network_health_config {
        Some(file) => {
            let settings = crate::network_health::load(file)?;
            (
                NetworkHealth::from_file(file.clone()),
                settings.inventory.is_some(),
            )
        }
        None => (
            NetworkHealth::fixed(Settings {
                height: shipped.health_metrics.height.to_owned(),
                peers: Some(shipped.health_metrics.peers.to_owned()),
                up: "up{job=\"nodes\"}".to_owned(),
                window: 60_000,
                for_: 60_000,
                ..Settings::default()
            }),
            false,
        ),
    };
    Ok(match &args.inventory {
        Some(file) => {
            if !file.is_file() {
                return Err(format!("--inventory {}: no such file", file.display()));
            }
            health.with_inventory(Inventory {
                files: vec![file.clone()],
                nodes: Vec::new(),
            })
        }
        None if has_inventory => health,
        None => health.with_inventory(own()?),
    })
}

/// How the simulated network exports its spans, or its log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TraceExport {
    /// OTLP/HTTP with protobuf bodies, to the server's main address.
    Http,
    /// OTLP/gRPC, to the server's OTLP/gRPC address.
    Grpc,
    /// No export.
    None,
}

/// Reads a profile's name.
fn profile(text: &str) -> Result<netsim::Profile, String> {
    text.parse()
}

/// Reads a sampling ratio: a number from 0 to 1.
fn sampling_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{text:?} is not a share of requests: give a number from 0 to 1, such as 0.1"
        )),
    }
}

/// Sends the network's spans, batched every second, to the server's own OTLP receiver on
/// loopback: `http` and `grpc` are the addresses the server bound.
fn trace_network(
    network: &netsim::Network,
    export: TraceExport,
    ratio: f64,
    http: SocketAddr,
    grpc: SocketAddr,
) -> Result<Option<netsim::Pipeline>, String> {
    use skywatch_sdk::trace::{BatchOptions, OtlpConfig};
    let mut otlp = match export {
        TraceExport::None => return Ok(None),
        TraceExport::Http => OtlpConfig::http(format!("http://{}", loopback(http))),
        TraceExport::Grpc => OtlpConfig::grpc(format!("http://{}", loopback(grpc))),
    };
    // The receiver is in this process: an export that takes long will not end well.
    otlp.timeout = Duration::from_secs(5);
    let batch = BatchOptions {
        delay: Duration::from_secs(1),
        ..BatchOptions::default()
    };
    let pipeline = netsim::Pipeline::otlp(&otlp, batch).map_err(|e| {
        format!(
            "cannot export the network's traces to {}: {e}",
            otlp.endpoint
        )
    })?;
    network.trace_to(&pipeline, ratio);
    Ok(Some(pipeline))
}

/// Sends the network's log records, batched every second, to the server's own OTLP
/// receiver on loopback, as [`trace_network`] sends its spans. A receiver that refuses
/// them (a server without a log store answers 501) costs one warning: the pipeline logs
/// the first failure of a run of them, and counts the records it drops.
fn log_network(
    network: &netsim::Network,
    export: TraceExport,
    http: SocketAddr,
    grpc: SocketAddr,
) -> Result<Option<netsim::LogPipeline>, String> {
    use skywatch_sdk::trace::{BatchOptions, OtlpConfig};
    let mut otlp = match export {
        TraceExport::None => return Ok(None),
        TraceExport::Http => OtlpConfig::http(format!("http://{}", loopback(http))),
        TraceExport::Grpc => OtlpConfig::grpc(format!("http://{}", loopback(grpc))),
    };
    otlp.timeout = Duration::from_secs(5);
    let batch = BatchOptions {
        delay: Duration::from_secs(1),
        ..BatchOptions::default()
    };
    let pipeline = netsim::LogPipeline::otlp(&otlp, batch)
        .map_err(|e| format!("cannot export the network's logs to {}: {e}", otlp.endpoint))?;
    network.log_to(&pipeline);
    Ok(Some(pipeline))
}

/// `addr` as a loopback address to connect to: an unspecified address (`0.0.0.0`, `[::]`)
/// a server listens on is reached at the loopback address of its family.
fn loopback(addr: SocketAddr) -> SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

pub(crate) fn run(args: DemoArgs) -> Result<(), String> {
    crate::up::runtime()?.block_on(demo(args))
}

/// Starts the simulated network, a tick a second.
async fn start_network(
    profile: netsim::Profile,
    nodes: usize,
    seed: u64,
    load_series: usize,
) -> Result<netsim::Network, String> {
    netsim::Network::start(netsim::Options {
        nodes,
        seed,
        tick: Duration::from_secs(1),
        load_series,
        profile,
    })
    .await
    .map_err(|e| format!("cannot start the simulated network: {e}"))
}

async fn demo(args: DemoArgs) -> Result<(), String> {
    let telemetry = crate::up::init_telemetry(&args.log)?;
    let shipped = crate::shipped::shipped(args.profile);
    let mut library = dashboards::Library::fixed(shipped.all_dashboards());
    if let Some(dir) = &args.dashboards {
        if !dir.is_dir() {
            return Err(format!(
                "--dashboards {}: not a directory; give a directory of Grafana dashboard JSON files",
                dir.display()
            ));
        }
        library = library.with_dir(dir);
    }
    let network = start_network(args.profile, args.nodes, args.seed, args.load_series).await?;
    for spec in &args.chaos {
        apply_chaos(&network.chaos(), spec)?;
    }
    let (data, _temporary) = match &args.data {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("skywatch-demo-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary data directory: {e}"))?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    if let Some(history) = args.history.filter(|h| !h.is_zero()) {
        write_history(&network, &data, history, args.scrape_interval, shipped).await?;
    }
    let network_health = network_health(&args, shipped, &network, &data)?;
    let interval = scrape::config::Duration(
        i64::try_from(args.scrape_interval.as_millis()).unwrap_or(i64::MAX),
    );
    let mut config = scrape::Config::default();
    config.global.scrape_interval = interval;
    // Rules follow the data as closely as it comes.
    config.global.evaluation_interval = interval;
    let groups = network
        .nodes()
        .iter()
        .map(|n| scrape::config::StaticConfig {
            targets: vec![n.addr.to_string()],
            labels: BTreeMap::from([("node".to_owned(), format!("node-{:02}", n.id))]),
        })
        .collect();
    config
        .scrape_configs
        .push(scrape::config::ScrapeConfig::new("nodes", None, groups));
    let settings = Settings {
        data: data.clone(),
        listen: args.listen,
        otlp: args.otlp.clone(),
        retention_time: None,
        query: QueryArgs::default(),
        limits: crate::up::LimitArgs::default(),
        config,
        config_file: None,
        config_text: String::new(),
        log: args.log.clone(),
        extra_routes: Some(
            axum::Router::new()
                .nest(
                    "/demo",
                    network
                        .control_router()
                        .merge(crate::shipped::webhook_router()),
                )
                .merge(crate::shipped::router(shipped)),
        ),
        dashboards: std::sync::Arc::new(library),
        self_job: Some("skywatch".to_owned()),
        shipped_rules: std::sync::Arc::new(if args.rules.is_empty() {
            shipped.rules()?
        } else {
            rules::manager::load_all(&args.rules).map_err(|p| p.join("\n"))?
        }),
        slos: std::sync::Arc::new(crate::slos::SloSet::new(None, shipped.slos())),
        network_health: Some(std::sync::Arc::new(network_health)),
        // The lifecycle and admin switches are on in the demo.
        web: std::sync::Arc::new(args.web.clone().settings(true)?),
        alertmanager: Some(match &args.alertmanager_config {
            Some(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| format!("--alertmanager-config {}: {e}", path.display()))?,
                path.display().to_string(),
            ),
            None => (
                shipped.alertmanager.1.to_owned(),
                shipped.alertmanager.0.to_owned(),
            ),
        }),
    };
    let nodes = args.nodes;
    let profile = args.profile;
    let kept = args.data.is_some();
    let (trace_export, sampling) = (args.trace_export, args.trace_sampling);
    let log_export = args.log_export;
    let mut pipeline = None;
    let mut log_pipeline = None;
    let result = crate::up::serve(
        settings,
        &telemetry,
        crate::up::shutdown_signal(),
        |addr, grpc| {
            // Before the welcome, so that traces flow by the time it is read.
            match trace_network(&network, trace_export, sampling, addr, grpc) {
                Ok(p) => pipeline = p,
                Err(e) => tracing::error!("{e}"),
            }
            match log_network(&network, log_export, addr, grpc) {
                Ok(p) => log_pipeline = p,
                Err(e) => tracing::error!("{e}"),
            }
            let traces = pipeline.is_some().then_some(sampling);
            let logs = log_pipeline.is_some();
            print_welcome(profile, addr, grpc, nodes, traces, logs, &data, kept);
        },
    )
    .await;
    drop(network);
    // Their threads export what is left, if the receiver is still there, and stop.
    drop(pipeline);
    drop(log_pipeline);
    println!("\nStopped.");
    drop(telemetry);
    result
}

/// Backfills `history` into `data`, which must hold nothing yet, saying how it goes.
async fn write_history(
    network: &netsim::Network,
    data: &std::path::Path,
    history: Duration,
    interval: Duration,
    shipped: &crate::shipped::Shipped,
) -> Result<(), String> {
    let occupied = std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(format!(
            "--history writes the past into an empty data directory, and {} has data; \
             leave out --history or --data",
            data.display()
        ));
    }
    println!(
        "Simulating {} of history, scraped every {}...",
        humantime::format_duration(history),
        humantime::format_duration(interval)
    );
    let started = std::time::Instant::now();
    let done = crate::history::backfill(network, data, history, interval, |block| {
        println!(
            "  wrote a block of {} series and {} samples",
            block.stats.series, block.stats.samples
        );
    })
    .await?;
    println!(
        "  {} samples in {} blocks, in {:.1?}",
        done.samples,
        done.blocks,
        started.elapsed()
    );
    // The SLOs' budgets over the same past, evaluated as the server will evaluate them.
    let started = std::time::Instant::now();
    let slos = crate::slos::SloSet::new(None, shipped.slos()).read()?.0;
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let end = millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let samples =
        crate::history::record_slos(data, &slos, end - millis(history), end, millis(interval))?;
    println!(
        "  the budgets of {} SLOs over it: {samples} samples, in {:.1?}",
        slos.len(),
        started.elapsed()
    );
    Ok(())
}

/// Applies one `--chaos` spec; an error names the spec.
fn apply_chaos(chaos: &netsim::Chaos, spec: &str) -> Result<(), String> {
    chaos_action(chaos, spec).map_err(|e| format!("--chaos {spec:?}: {e}"))
}

fn chaos_action(chaos: &netsim::Chaos, spec: &str) -> Result<(), String> {
    let bad = || {
        "write kill:N, stall:N, slow:N, fail:N, partition:N+M, payment-failures:RATE, halt, \
         block-time:FACTOR or fault:NAME"
            .to_owned()
    };
    if spec == "halt" {
        chaos.halt(true);
        return Ok(());
    }
    let (what, arg) = spec.split_once(':').ok_or_else(bad)?;
    let node = || arg.parse::<usize>().map_err(|_| bad());
    match what {
        "kill" => chaos.kill(node()?),
        "stall" => chaos.stall(node()?, true),
        "slow" => chaos.executor(node()?, netsim::ExecutorMode::Slow),
        "fail" => chaos.executor(node()?, netsim::ExecutorMode::Failing),
        "partition" => chaos.partition(
            arg.split('+')
                .map(|n| n.parse::<usize>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        ),
        "payment-failures" => chaos.payment_failure_rate(arg.parse::<f64>().map_err(|_| bad())?),
        "block-time" => chaos.block_time(arg.parse::<f64>().map_err(|_| bad())?),
        "fault" => chaos.fault(arg, true),
        _ => Err(bad()),
    }
}

#[allow(clippy::too_many_arguments, reason = "each is one line of the welcome")]
fn print_welcome(
    profile: netsim::Profile,
    addr: SocketAddr,
    grpc: SocketAddr,
    nodes: usize,
    traces: Option<f64>,
    logs: bool,
    data: &std::path::Path,
    kept: bool,
) {
    let base = format!("http://{addr}");
    let where_data = if kept {
        format!("{} (kept)", data.display())
    } else {
        format!("{} (removed at exit)", data.display())
    };
    let traces = match traces {
        Some(_) if !profile.traces() => format!(
            "none: the {profile} profile simulates no requests (zerostate's does); {base}/traces takes your own over OTLP"
        ),
        Some(ratio) => format!(
            "{base}/traces  (the network's requests, {}% sampled; Grafana's Tempo data source at {base}/tempo, Jaeger's at {base}/jaeger)",
            ratio * 100.0
        ),
        None => "none exported (--trace-export none)".to_owned(),
    };
    let logs = if logs {
        "the nodes' log records, with trace ids, sent over OTLP to this server".to_owned()
    } else {
        "none exported (--log-export none)".to_owned()
    };
    let shipped = crate::shipped::shipped(profile);
    let try_lines: String = shipped
        .try_lines
        .iter()
        .map(|l| format!("  {}\n", l.replace("{base}", &base)))
        .collect();
    println!(
        "Skywatch demo: {nodes} simulated {profile} nodes, scraped by Skywatch at {base}

  Dashboards {base}/dashboards
  Explore    {base}/explore?q=up
  Targets    {base}/targets
  API        {base}/api/v1/query?query=count(up%3D%3D1)
  SLOs       {base}/slos  (those of {slos}, by error budget left; GET {base}/api/v1/slos)
  Alerts     {base}/alerts  (the rules of {rules}, the SLOs' burn-rate alerts and network health's; Watchdog always fires)
  Health     {base}/health  (each node's own report, and the network view: heights, lag, peers, the inventory)
  Notified   {base}/notifications  (what {routing} sent where; amtool --alertmanager.url={base} works)
  Received   {base}/demo/webhook  (the demo's own webhook receivers)
  Runbooks   {base}/runbooks/Watchdog
  Metrics    {base}/metrics  (the server's own)
  OTLP       {base}/v1/traces, /v1/metrics, /v1/logs (HTTP); {grpc} (gRPC)
  Traces     {traces}
  Logs       {logs}
  Nodes      {base}/demo/nodes
  Faults     {base}/demo/faults  (the {profile} profile's own failures: POST {base}/demo/faults/NAME)
  Data       {where_data}

Try:
{try_lines}
Ctrl-C stops it.",
        slos = shipped
            .slos
            .iter()
            .map(|(f, _)| *f)
            .collect::<Vec<_>>()
            .join(", "),
        rules = shipped
            .rules
            .first()
            .and_then(|(f, _)| f.split_once('/'))
            .map_or_else(|| "rules/".to_owned(), |(dir, _)| format!("rules/{dir}")),
        routing = shipped.alertmanager.0,
    );
}

/// `skywatch netsim` options.
#[derive(Debug, Args)]
pub(crate) struct NetsimArgs {
    /// Whose network to simulate: zerostate, virtengine or coinjecture.
    #[arg(long, default_value = "zerostate", value_parser = profile)]
    profile: netsim::Profile,
    /// How many simulated nodes.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// The seed of the simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Extra synthetic series per node, for load tests.
    #[arg(long, default_value_t = 0)]
    load_series: usize,
    /// Write the nodes as a file_sd target file here (JSON), for any Prometheus-style
    /// scraper to read.
    #[arg(long)]
    targets_file: Option<PathBuf>,
    /// Serve the chaos controls on this address.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Export the network's traces and logs over OTLP/HTTP to this collector (Skywatch, an
    /// OpenTelemetry Collector, or for traces alone Tempo or Jaeger: `http://host:4318`).
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// The share of the requests whose traces are kept, from 0 to 1, when exported.
    #[arg(long, default_value_t = 0.1, value_parser = sampling_ratio)]
    trace_sampling: f64,
}

/// `skywatch netsim`: the simulated network alone, for benchmarks or another scraper.
pub(crate) fn run_netsim(args: NetsimArgs) -> Result<(), String> {
    crate::up::runtime()?.block_on(async {
        let network = start_network(args.profile, args.nodes, args.seed, args.load_series).await?;
        let _pipelines = match &args.otlp_endpoint {
            Some(endpoint) => {
                let otlp = skywatch_sdk::trace::OtlpConfig::http(endpoint.clone());
                let pipeline = netsim::Pipeline::otlp(&otlp, Default::default())
                    .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
                network.trace_to(&pipeline, args.trace_sampling);
                let logs = netsim::LogPipeline::otlp(&otlp, Default::default())
                    .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
                network.log_to(&logs);
                Some((pipeline, logs))
            }
            None => None,
        };
        let groups: Vec<serde_json::Value> = network
            .nodes()
            .iter()
            .map(|n| {
                serde_json::json!({
                    "targets": [n.addr.to_string()],
                    "labels": {"node": format!("node-{:02}", n.id)},
                })
            })
            .collect();
        if let Some(file) = &args.targets_file {
            // Written whole then renamed, so that a watcher never reads half of it.
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, serde_json::Value::Array(groups).to_string())
                .and_then(|()| std::fs::rename(&tmp, file))
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        }
        let listener = tokio::net::TcpListener::bind(args.control)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.control))?;
        let control = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "{} simulated nodes ({} extra series each); controls at http://{control}/nodes",
            args.nodes, args.load_series
        );
        axum::serve(listener, network.control_router())
            .with_graceful_shutdown(crate::up::shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_embeds_every_dashboard_of_the_repository_without_problems() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
        let on_disk = dashboards::Library::open(&dir);
        let embedded = dashboards::Library::fixed(
            netsim::Profile::ALL
                .iter()
                .flat_map(|&p| crate::shipped::shipped(p).dashboards.iter().copied())
                .chain(crate::shipped::SKYWATCH_DASHBOARDS.iter().copied())
                .collect::<BTreeMap<_, _>>(),
        );
        assert_eq!(embedded.problems(), []);
        let files = |l: &dashboards::Library| -> Vec<String> {
            l.dashboards().into_iter().map(|d| d.file).collect()
        };
        assert_eq!(files(&embedded), files(&on_disk));
        assert!(files(&embedded).len() >= 4);
    }

    #[test]
    fn a_sampling_ratio_is_a_share_and_a_bad_one_says_so() {
        for (text, ratio) in [("0", 0.0), ("0.1", 0.1), ("1", 1.0)] {
            assert_eq!(sampling_ratio(text), Ok(ratio));
        }
        for text in ["1.5", "-0.1", "10%", "NaN"] {
            let e = sampling_ratio(text).unwrap_err();
            assert!(e.contains("from 0 to 1"), "{e}");
            assert!(e.contains(text), "{e}");
        }
    }

    #[test]
    fn the_network_exports_to_the_loopback_address_of_an_unspecified_listen() {
        for (listen, connect) in [
            ("0.0.0.0:9797", "127.0.0.1:9797"),
            ("[::]:4317", "[::1]:4317"),
            ("127.0.0.1:9797", "127.0.0.1:9797"),
            ("10.1.2.3:80", "10.1.2.3:80"),
        ] {
            assert_eq!(
                loopback(listen.parse().unwrap()),
                connect.parse::<SocketAddr>().unwrap()
            );
        }
    }

    /// Regression: `skywatch demo --data DIR` with a DIR that did not exist yet failed
    /// with "cannot write DIR/inventory.json", the inventory being written before the
    /// TSDB made the directory.
    #[tokio::test]
    async fn the_inventory_is_written_into_a_data_directory_not_made_yet() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: DemoArgs,
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("new/data");
        let cli = <Cli as clap::Parser>::try_parse_from(["demo", "--nodes", "2"]).unwrap();
        let network = start_network(netsim::Profile::ZeroState, 2, 1, 0)
            .await
            .unwrap();
        let shipped = crate::shipped::shipped(netsim::Profile::ZeroState);
        network_health(&cli.args, shipped, &network, &data).unwrap();
        let inventory = std::fs::read_to_string(data.join("inventory.json")).unwrap();
        assert!(inventory.contains("node-01"), "{inventory}");
    }

    #[tokio::test]
    async fn history_is_refused_over_existing_data() {
        let network = start_network(netsim::Profile::ZeroState, 1, 1, 0)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wal")).unwrap();
        let e = write_history(
            &network,
            dir.path(),
            Duration::from_secs(60),
            Duration::from_secs(15),
            crate::shipped::shipped(netsim::Profile::ZeroState),
        )
        .await
        .unwrap_err();
        assert!(e.contains("into an empty data directory"), "{e}");
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
    }

    #[tokio::test]
    async fn chaos_flags_reach_the_network_and_bad_ones_say_how_to_write_them() {
        let network = start_network(netsim::Profile::ZeroState, 3, 1, 0)
            .await
            .unwrap();
        let chaos = network.chaos();
        for spec in [
            "kill:1",
            "stall:0",
            "slow:2",
            "partition:0+1",
            "payment-failures:0.5",
        ] {
            apply_chaos(&chaos, spec).unwrap();
        }
        let nodes = network.nodes();
        assert!(!nodes[1].alive);
        assert!(nodes[0].stalled);
        assert_eq!(nodes[2].executor, netsim::ExecutorMode::Slow);
        let bad = apply_chaos(&chaos, "explode:1").unwrap_err();
        assert!(
            bad.starts_with("--chaos \"explode:1\": write kill:N"),
            "{bad}"
        );
        let missing = apply_chaos(&chaos, "kill:9").unwrap_err();
        assert!(missing.contains("no node 9"), "{missing}");
        let shapeless = apply_chaos(&chaos, "kill").unwrap_err();
        assert!(
            shapeless.starts_with("--chaos \"kill\": write"),
            "{shapeless}"
        );
    }
}
