//! A small node instrumented with skywatch-sdk: the SDK's main job until `skywatch demo`
//! exists.
//!
//! It serves a task API through the HTTP metrics and trace layers, keeps a P2P peer gauge,
//! message counters, a task-duration histogram and a payment-amount summary moving,
//! registers disk, peer and task-success checks behind a startup gate, and logs JSON lines
//! with trace ids; given an OTLP endpoint, it exports its spans and the same log events
//! (as OpenTelemetry log records, `/v1/logs`) there. Try:
//!
//! ```text
//! cargo run -p skywatch-sdk --example node -- --listen 127.0.0.1:9100
//! curl -s -XPOST localhost:9100/api/tasks -d 'hello'
//! curl -s localhost:9100/metrics
//! curl -s localhost:9100/health
//! ```
//!
//! The first log line, `"message":"listening"`, carries the bound address in `addr`, so
//! `--listen 127.0.0.1:0` works for tests.

#![allow(
    clippy::print_stderr,
    reason = "a command-line program reports start-up errors on stderr"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use clap::Parser;
use skywatch_sdk::health::{DiskUsage, Threshold, gauge_source, ratio_source};
use skywatch_sdk::metrics::{
    Counter, Family, Gauge, Histogram, Registry, Summary, SummaryOptions, buckets, histogram,
};
use skywatch_sdk::trace::OtlpConfig;
use skywatch_sdk::{Config, LogWriter};
use tracing::Instrument as _;

/// An example node instrumented with skywatch-sdk.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The address to serve the API, /metrics and the health endpoints on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// This node's id, written on every log line.
    #[arg(long, default_value = "node-1")]
    node_id: String,
    /// Export spans and logs over OTLP to this endpoint (for example
    /// http://127.0.0.1:4318).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Export spans only, not logs, to the OTLP endpoint.
    #[arg(long)]
    no_otlp_logs: bool,
    /// Use OTLP over gRPC instead of HTTP/protobuf.
    #[arg(long)]
    otlp_grpc: bool,
    /// The fraction of new traces to sample.
    #[arg(long, default_value_t = 1.0)]
    sample_ratio: f64,
    /// How long the simulated bootstrap keeps /readyz and /startupz failing.
    #[arg(long, default_value = "500ms", value_parser = humantime_duration)]
    bootstrap: Duration,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// The node's own metrics: one struct, registered on the registry passed in.
#[derive(Clone)]
struct NodeMetrics {
    peers: Gauge,
    messages: Family<[(&'static str, &'static str); 1], Counter>,
    tasks: Family<[(&'static str, &'static str); 1], Counter>,
    tasks_started: Counter,
    tasks_succeeded: Counter,
    task_duration: Histogram,
    payment_amount: Summary,
}

impl NodeMetrics {
    fn new(registry: &Registry) -> Result<Self, skywatch_sdk::metrics::RegisterError> {
        let m = Self {
            peers: Gauge::default(),
            messages: Family::default(),
            tasks: Family::default(),
            tasks_started: Counter::default(),
            tasks_succeeded: Counter::default(),
            task_duration: histogram(buckets::DURATION_SECONDS),
            payment_amount: Summary::new(SummaryOptions::default()),
        };
        registry.register("node_p2p_peers", "Connected peers.", m.peers.clone())?;
        registry.register(
            "node_p2p_messages_sent",
            "P2P messages sent, by type.",
            m.messages.clone(),
        )?;
        registry.register("node_tasks", "Tasks finished, by outcome.", m.tasks.clone())?;
        registry.register(
            "node_tasks_started",
            "Tasks started.",
            m.tasks_started.clone(),
        )?;
        registry.register(
            "node_tasks_succeeded",
            "Tasks that succeeded.",
            m.tasks_succeeded.clone(),
        )?;
        registry.register(
            "node_task_duration_seconds",
            "Task execution time.",
            m.task_duration.clone(),
        )?;
        registry.register_summary(
            "node_payment_amount",
            "Payment amounts settled.",
            m.payment_amount.clone(),
        )?;
        Ok(m)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: NodeMetrics,
    next_task: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("node: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::new("example-node", env!("CARGO_PKG_VERSION"))
        .node_id(args.node_id.clone())
        .namespace("node")
        .sample_ratio(args.sample_ratio)
        .log_writer(LogWriter::Stdout);
    if let Some(endpoint) = args.otlp_endpoint {
        let otlp = if args.otlp_grpc {
            OtlpConfig::grpc(endpoint)
        } else {
            OtlpConfig::http(endpoint)
        };
        if !args.no_otlp_logs {
            config = config.otlp_logs(otlp.clone());
        }
        config = config.otlp(otlp);
    }
    let telemetry = skywatch_sdk::init(config)?;
    let metrics = NodeMetrics::new(telemetry.registry())?;

    let health = telemetry.health();
    let gate = health.startup_gate();
    health.register("disk", DiskUsage::new("."));
    health.register(
        "p2p",
        Threshold::below("connected peers", gauge_source(&metrics.peers), 3.0, 1.0),
    );
    health.register(
        "execution",
        Threshold::below(
            "task success ratio",
            ratio_source(&metrics.tasks_succeeded, &metrics.tasks_started),
            0.9,
            0.5,
        ),
    );
    let refresher = health.spawn_refresher(Duration::from_secs(5));

    let state = AppState {
        metrics: metrics.clone(),
        next_task: Arc::new(AtomicU64::new(1)),
    };
    let app = Router::new()
        .route("/api/tasks", post(submit_task))
        .route("/api/tasks/{id}", get(task_status))
        .route("/api/peers", get(peers))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route\n") })
        .with_state(state)
        .layer(telemetry.http_layer())
        .layer(telemetry.trace_layer())
        .merge(telemetry.router());

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, "listening");

    let simulation = tokio::spawn(simulate(metrics, gate, args.bootstrap));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    simulation.abort();
    refresher.abort();
    tracing::info!("stopped");
    telemetry.shutdown()?;
    Ok(())
}

/// Moves the P2P metrics like a small network would, after a simulated bootstrap.
async fn simulate(
    metrics: NodeMetrics,
    gate: skywatch_sdk::health::StartupGate,
    bootstrap: Duration,
) {
    async {
        tracing::info!(duration = %humantime::format_duration(bootstrap), "bootstrapping");
        tokio::time::sleep(bootstrap).await;
        metrics.peers.set(8);
    }
    .instrument(tracing::info_span!("dht.bootstrap"))
    .await;
    gate.open();
    tracing::info!("started");
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut step: i64 = 0;
    loop {
        tick.tick().await;
        step += 1;
        // A deterministic walk between 5 and 11 peers.
        metrics.peers.set(8 + (step % 7) - 3);
        metrics
            .messages
            .get_or_create(&[("type", "gossip")])
            .inc_by(3);
        metrics.messages.get_or_create(&[("type", "dht")]).inc();
    }
}

#[tracing::instrument(name = "task.submit", skip_all, fields(task_id))]
async fn submit_task(State(state): State<AppState>, body: String) -> (StatusCode, String) {
    let id = state.next_task.fetch_add(1, Ordering::Relaxed);
    tracing::Span::current().record("task_id", id);
    state.metrics.tasks_started.inc();
    let started = std::time::Instant::now();
    let ok = execute(id, body.len())
        .instrument(tracing::info_span!(
            "task.execute",
            wasm_memory_bytes = body.len() * 1024
        ))
        .await;
    state
        .metrics
        .task_duration
        .observe(started.elapsed().as_secs_f64());
    let outcome = if ok { "success" } else { "failure" };
    state
        .metrics
        .tasks
        .get_or_create(&[("outcome", outcome)])
        .inc();
    if ok {
        state.metrics.tasks_succeeded.inc();
        state
            .metrics
            .payment_amount
            .observe(0.01 * body.len() as f64);
        tracing::info!(outcome, "task finished");
        (StatusCode::CREATED, format!("{id}\n"))
    } else {
        tracing::warn!(outcome, "task failed");
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("task {id} failed: empty input\n"),
        )
    }
}

async fn execute(id: u64, input_len: usize) -> bool {
    tracing::debug!(task = id, "executing");
    tokio::task::yield_now().await;
    input_len > 0
}

async fn task_status(Path(id): Path<u64>, State(state): State<AppState>) -> (StatusCode, String) {
    if id > 0 && id < state.next_task.load(Ordering::Relaxed) {
        (StatusCode::OK, format!("task {id}: done\n"))
    } else {
        (StatusCode::NOT_FOUND, format!("no task {id}\n"))
    }
}

async fn peers(State(state): State<AppState>) -> String {
    format!("{}\n", state.metrics.peers.get())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
