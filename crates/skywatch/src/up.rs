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
    /// The log filter, in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
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
        retention_time: args
            .retention_time
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
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

    let api = api::router(api::ApiState {
        storage: db.clone(),
        engine: promql::engine::Engine::default(),
        build: api::BuildInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: std::env::var("SKYWATCH_BUILD_REVISION").unwrap_or_default(),
        },
    });
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
