//! `skywatch up`: the server. For now it serves a data directory through the Prometheus
//! HTTP API; scraping, rules and the UI join it with later work.
//!
//! Components, wired here because this is the only crate that names concrete types:
//! - storage: the TSDB in `--data`, whose head and WAL take appends and whose blocks are cut,
//!   compacted and aged out by a maintenance task every minute (on a blocking thread: the
//!   TSDB's calls are synchronous and may do I/O);
//! - query: the PromQL engine over the TSDB;
//! - HTTP: the API router, the server's own `/metrics`, and RED metrics of every request.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

/// `skywatch up` options.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The data directory (created if missing).
    #[arg(long, default_value = "./skywatch-data")]
    data: PathBuf,
    /// The address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:9797")]
    listen: SocketAddr,
    /// Delete blocks whose data is older than this (for example 15d); keep everything if
    /// unset.
    #[arg(long, value_parser = humantime::parse_duration)]
    retention_time: Option<Duration>,
    /// The longest a query may run before it fails (a request's `timeout` parameter can
    /// only shorten it).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    query_timeout: Duration,
    /// The most samples a query may hold in memory; a query needing more fails.
    #[arg(long, default_value_t = 50_000_000)]
    query_max_samples: usize,
    /// How far back an instant selector looks for a series' latest sample.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    query_lookback_delta: Duration,
    /// Drop the metric name at the end of a query rather than at each operation, as
    /// Prometheus's `promql-delayed-name-removal` feature does.
    #[arg(long)]
    query_delayed_name_removal: bool,
    /// The log filter, in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

impl UpArgs {
    /// The flags and their values, as `/api/v1/status/flags` reports them.
    fn flags(&self) -> std::collections::BTreeMap<String, String> {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        [
            ("data", self.data.display().to_string()),
            ("listen", self.listen.to_string()),
            (
                "retention-time",
                self.retention_time.map(duration).unwrap_or_default(),
            ),
            ("query-timeout", duration(self.query_timeout)),
            ("query-max-samples", self.query_max_samples.to_string()),
            ("query-lookback-delta", duration(self.query_lookback_delta)),
            (
                "query-delayed-name-removal",
                self.query_delayed_name_removal.to_string(),
            ),
            ("log", self.log.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn run(args: UpArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(args))
}

async fn serve(args: UpArgs) -> Result<(), String> {
    let telemetry = skywatch_sdk::init(
        skywatch_sdk::Config::new("skywatch", env!("CARGO_PKG_VERSION"))
            .namespace("skywatch")
            .log_filter(args.log.clone())
            .log_writer(skywatch_sdk::LogWriter::Stderr),
    )
    .map_err(|e| e.to_string())?;

    let options = tsdb::Options {
        retention_time: args.retention_time.map(millis),
        ..tsdb::Options::default()
    };
    let dir = args.data.clone();
    let db = tokio::task::spawn_blocking(move || tsdb::Tsdb::open(dir, options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!(
                "cannot open the data directory {}: {e}",
                args.data.display()
            )
        })?;
    if let Some(damage) = db.wal_damage() {
        tracing::warn!(%damage, "recovered from a damaged write-ahead log");
    }
    let db = Arc::new(db);
    tracing::info!(
        data = %args.data.display(),
        blocks = db.blocks().len(),
        head_series = db.head().series_count(),
        "opened the data directory"
    );

    let maintenance = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let db = db.clone();
                match tokio::task::spawn_blocking(move || db.maintain()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "storage maintenance failed"),
                    Err(e) => tracing::error!(error = %e, "storage maintenance panicked"),
                }
            }
        })
    };

    let engine = promql::engine::Engine::new(promql::engine::EngineOptions {
        timeout: Some(args.query_timeout),
        max_samples: args.query_max_samples,
        lookback: millis(args.query_lookback_delta),
        delayed_name_removal: args.query_delayed_name_removal,
        ..promql::engine::EngineOptions::default()
    });
    let mut state = api::ApiState::new(db.clone(), engine);
    state.build = api::BuildInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        revision: std::env::var("SKYWATCH_BUILD_REVISION").unwrap_or_default(),
    };
    state.runtime = api::RuntimeInfo {
        start_time: promql::ast::system_time_ms(std::time::SystemTime::now()),
        storage_retention: args
            .retention_time
            .map(|d| humantime::format_duration(d).to_string())
            .unwrap_or_default(),
    };
    state.flags = args.flags();
    state.head = Some({
        let db = db.clone();
        Arc::new(move || api::HeadStats {
            num_series: db.head().series_count(),
            chunk_count: db.head().chunk_count(),
            time_range: db.head().time_range(),
        })
    });
    let api = api::router(state);
    let app = api
        .layer(telemetry.http_layer())
        .merge(skywatch_sdk::metrics_router(telemetry.registry().clone()));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %addr, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    maintenance.abort();
    tracing::info!("stopped");
    drop(telemetry);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
