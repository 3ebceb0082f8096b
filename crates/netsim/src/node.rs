//! One simulated node: its metrics, health checks, HTTP server and state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use skywatch_sdk::health::{
    CheckOptions, Health, HealthOptions, Outcome, Threshold, check_fn, gauge_source,
};
use skywatch_sdk::metrics::{Family, Gauge, Registry};

use skywatch_sdk::log::Severity;
use skywatch_sdk::opentelemetry::logs::AnyValue;
use skywatch_sdk::opentelemetry_sdk::logs::SdkLogger;

use crate::World;
use crate::logs::{Line, Resource, Warned};
use crate::metrics::{NodeMetrics, WASM_MEMORY_LIMIT, label, labels2};
use crate::profile::{NodeView, Profile, ProfileMetrics};

/// How a node's executor behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorMode {
    /// Tasks take about a second and almost all succeed: one in a thousand fails or
    /// times out, a tenth of the 99.5% objective of `slos/zerostate.yml`.
    Normal,
    /// Tasks take ten times longer and often time out.
    Slow,
    /// Tasks fail.
    Failing,
}

impl ExecutorMode {
    /// A task's mean duration in seconds, and the probabilities that it fails and that it
    /// times out.
    pub(crate) fn profile(self) -> (f64, f64, f64) {
        match self {
            ExecutorMode::Normal => (0.8, 0.0007, 0.0003),
            ExecutorMode::Slow => (8.0, 0.05, 0.4),
            ExecutorMode::Failing => (0.3, 0.9, 0.05),
        }
    }
}

/// The name of node `id`, as its `node` label and its traces' `service.instance.id` say it.
pub(crate) fn name(id: usize) -> String {
    format!("node-{id:02}")
}

/// A node as the controls report it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    /// Its index.
    pub id: usize,
    /// Where it serves `/metrics` and its health endpoints.
    pub addr: SocketAddr,
    /// Whether its server runs.
    pub alive: bool,
    /// Whether its chain is stopped.
    pub stalled: bool,
    /// Its executor.
    pub executor: ExecutorMode,
    /// Its block height.
    pub height: u64,
}

/// How long a degraded API keeps each request waiting: past the 250 ms bound of the API
/// latency objective, well within any scrape timeout.
const API_DELAY: Duration = Duration::from_millis(300);

/// The peers a node dials as it starts, and its P2P health check wants: enough for the
/// check to pass, so that a network is healthy from its first scrape. A network of fewer
/// than four nodes has fewer others to dial, and its nodes want every other one.
const BOOTSTRAP_PEERS: i64 = 3;

/// The peers a node of a network of `nodes` starts with and its health check wants.
fn wanted_peers(nodes: usize) -> i64 {
    BOOTSTRAP_PEERS
        .min(i64::try_from(nodes.saturating_sub(1)).unwrap_or(i64::MAX))
        .max(1)
}

/// The API chaos every node's HTTP server consults, shared by the whole network: while it
/// is on, a node answers every other request with 503 and every request 300 ms late.
#[derive(Debug, Clone, Default)]
pub(crate) struct ApiFault(Arc<AtomicBool>);

impl ApiFault {
    pub(crate) fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    pub(crate) fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub(crate) struct Node {
    pub(crate) id: usize,
    addr: SocketAddr,
    registry: Registry,
    health: Health,
    metrics: NodeMetrics,
    /// The families of the network's profile, beside (or instead of) `metrics`.
    profile: ProfileMetrics,
    /// How many nodes the network has.
    nodes: usize,
    /// The RED metrics of the node's HTTP server (`node_http_*`).
    http: Arc<skywatch_sdk::http::HttpMetrics>,
    api_fault: ApiFault,
    /// Requests answered while the API is degraded: which of them fail alternates.
    degraded_requests: Arc<AtomicU64>,
    /// Load mode's gauges, made once.
    load: Vec<Gauge>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Runs the health checks every second, so that the health metrics stay current.
    refresher: tokio::task::JoinHandle<()>,
    pub(crate) stalled: bool,
    pub(crate) executor: ExecutorMode,
    height: u64,
    peers: i64,
    /// The peers its P2P health check wants.
    wanted: i64,
    /// The height of the last `block imported` line.
    logged_height: u64,
    /// The last resource warnings, in [`Resource::ALL`]'s order.
    warned: [Warned; 3],
    channels_active: i64,
    value_locked: f64,
    reputation: f64,
}

impl Node {
    /// Builds node `id` and starts serving it on a free loopback port.
    pub(crate) async fn start(
        id: usize,
        nodes: usize,
        load_series: usize,
        api_fault: ApiFault,
        profile: Profile,
    ) -> std::io::Result<Self> {
        let registry = Registry::new();
        // ZeroState's families are the model every profile draws from; only ZeroState's
        // nodes expose them.
        let model = if profile == Profile::ZeroState {
            registry.clone()
        } else {
            Registry::new()
        };
        let metrics = NodeMetrics::register(&model).map_err(std::io::Error::other)?;
        let profile =
            ProfileMetrics::register(profile, &registry).map_err(std::io::Error::other)?;
        let http = Arc::new(
            skywatch_sdk::http::HttpMetrics::new(&registry, Some("node"))
                .map_err(std::io::Error::other)?,
        );
        // Before the first check reads it: a node starts connected to its bootstrap peers.
        let wanted = wanted_peers(nodes);
        metrics.peers.set(wanted);
        let build = skywatch_sdk::metrics::BuildInfo::new("node", env!("CARGO_PKG_VERSION"));
        build
            .register(&registry, Some("node"))
            .map_err(std::io::Error::other)?;
        let mut load = Vec::with_capacity(load_series);
        if load_series > 0 {
            let family = Family::<Vec<(&'static str, String)>, Gauge>::default();
            registry
                .register(
                    "load_series",
                    "Synthetic series for load tests.",
                    family.clone(),
                )
                .map_err(std::io::Error::other)?;
            for i in 0..load_series {
                load.push(
                    family
                        .get_or_create(&vec![
                            ("shard", (i % 100).to_string()),
                            ("slot", (i / 100).to_string()),
                        ])
                        .clone(),
                );
            }
        }
        let health = Health::new(HealthOptions::default());
        // Checks read gauges: cheap enough to run at every ask, so that a simulated past
        // moving faster than the clock has a result for each of its moments.
        let fresh = || CheckOptions {
            cache_for: std::time::Duration::ZERO,
            ..CheckOptions::default()
        };
        health.register_with(
            "p2p",
            fresh(),
            Threshold::below(
                "connected peers",
                gauge_source(&metrics.peers),
                wanted as f64,
                1.0,
            ),
        );
        health.register_with(
            "consensus",
            fresh(),
            Threshold::above(
                "sync lag in blocks",
                gauge_source(&metrics.sync_lag),
                5.0,
                20.0,
            ),
        );
        let memory = metrics.wasm_memory.clone();
        health.register_with(
            "execution",
            fresh(),
            check_fn(move || {
                let used = memory.get();
                async move {
                    let share = used as f64 / WASM_MEMORY_LIMIT as f64;
                    if share >= 0.95 {
                        Outcome::unhealthy("WASM memory at the limit")
                    } else if share >= 0.8 {
                        Outcome::degraded("WASM memory above 80% of the limit")
                    } else {
                        Outcome::healthy("executing")
                    }
                    .with_detail("wasm_memory_bytes", used)
                }
            }),
        );
        health.register_metrics(&registry, Some("node"));
        let refresher = health.spawn_refresher(std::time::Duration::from_secs(1));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut node = Self {
            id,
            addr,
            registry,
            health,
            metrics,
            profile,
            nodes,
            http,
            api_fault,
            degraded_requests: Arc::default(),
            load,
            server: None,
            refresher,
            stalled: false,
            executor: ExecutorMode::Normal,
            height: 1,
            peers: wanted,
            wanted,
            logged_height: 1,
            warned: Default::default(),
            channels_active: 0,
            value_locked: 0.0,
            reputation: 0.9,
        };
        node.serve(listener);
        Ok(node)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node's metrics as its `/metrics` serves them in OpenMetrics.
    pub(crate) fn exposition(&self) -> String {
        self.registry
            .encode(skywatch_sdk::metrics::Format::OpenMetrics)
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.server.is_some()
    }

    /// Serves the node on `listener`. Its connections belong to the server's task, so that
    /// [`kill`](Self::kill) closes them too, as a crashed process would: a kept-alive
    /// connection of a scraper must not outlive the node.
    ///
    /// Every request, scrapes included, goes through the SDK's metrics layer and then
    /// through the API chaos, so that what the chaos does is counted: a failed scrape's 503
    /// is in the counters the next scrape reads.
    pub(crate) fn serve(&mut self, listener: tokio::net::TcpListener) {
        self.kill();
        let app = self.app();
        self.server = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "a simulated node cannot accept");
                        continue;
                    }
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
                // Reap the connections that ended.
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// The node's HTTP routes with their layers: what its server serves.
    fn app(&self) -> axum::Router {
        skywatch_sdk::metrics_router(self.registry.clone())
            .merge(skywatch_sdk::health::router(self.health.clone()))
            .layer(axum::middleware::from_fn_with_state(
                (self.api_fault.clone(), self.degraded_requests.clone()),
                degraded_api,
            ))
            .layer(skywatch_sdk::http::MetricsLayer::new(self.http.clone()))
    }

    /// A scrape of the node served in process, without a socket: the request goes
    /// through the same routes and layers as one over the network (so it is counted in
    /// `node_http_*`, as every real scrape is). `None` for a node that is down.
    pub(crate) fn scraper(&self) -> Option<axum::Router> {
        self.is_alive().then(|| self.app())
    }

    /// Stops the node's server.
    pub(crate) fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// The node's health checks.
    pub(crate) fn health(&self) -> Health {
        self.health.clone()
    }

    pub(crate) fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.id,
            addr: self.addr,
            alive: self.server.is_some(),
            stalled: self.stalled,
            executor: self.executor,
            height: self.height,
        }
    }

    /// Moves the node on by `dt` seconds: `reachable` peers are up and on its side of any
    /// partition; `follows_head` says whether blocks reach it; `new_block` is the interval
    /// of a block the network just made.
    pub(crate) fn step(
        &mut self,
        world: &mut World,
        dt: f64,
        reachable: usize,
        follows_head: bool,
        new_block: Option<f64>,
    ) {
        let alive = self.server.is_some();
        let m = &self.metrics;
        let rng = &mut world.rng;
        // P2P: peers drift towards what is reachable (a dead node has none).
        let target = if alive { reachable.min(12) as i64 } else { 0 };
        let drift = (target - self.peers).signum();
        if drift != 0 || rng.chance(0.1) {
            self.peers = (self.peers + drift + if rng.chance(0.5) { 0 } else { -drift.abs() })
                .clamp(0, target.max(0));
            if self.peers < target && rng.chance(0.7) {
                self.peers += 1;
            }
        }
        m.peers.set(self.peers);
        let active = (self.peers * 2).max(0);
        m.connections
            .get_or_create(&label("state", "active"))
            .set(active);
        m.connections
            .get_or_create(&label("state", "idle"))
            .set(rng.below(4) as i64);
        m.connection_pool.set(active + 4);
        m.relay_circuits.set(rng.below(3) as i64);
        if self.peers > 0 {
            let per_peer = dt * self.peers as f64;
            for kind in ["gossip", "task", "payment", "dht"] {
                let sent = rng.count(per_peer * 3.0);
                let received = rng.count(per_peer * 3.0);
                m.messages_sent
                    .get_or_create(&label("type", kind))
                    .inc_by(sent);
                m.messages_received
                    .get_or_create(&label("type", kind))
                    .inc_by(received);
                // Exposed at zero from the start, as Prometheus advises for known labels:
                // a failure rate is 0, not absent, before the first failure. About one
                // message in 7,000 fails; P2P chaos fails its share of what is sent.
                let failed = m.messages_failed.get_or_create(&label("type", kind));
                if rng.chance(0.005) {
                    failed.inc();
                }
                if world.message_failure_rate > 0.0 {
                    failed.inc_by(
                        rng.count(sent as f64 * world.message_failure_rate)
                            .min(sent),
                    );
                }
            }
            m.bandwidth
                .get_or_create(&label("direction", "tx"))
                .inc_by(rng.count(per_peer * 40_000.0));
            m.bandwidth
                .get_or_create(&label("direction", "rx"))
                .inc_by(rng.count(per_peer * 38_000.0));
            for _ in 0..rng.count(dt * 2.0) {
                m.health_check_latency
                    .observe(0.002 + rng.exponential(0.02));
                m.gossip_propagation.observe(0.01 + rng.exponential(0.15));
            }
            for op in ["put", "get", "find_peer", "find_providers"] {
                let n = rng.count(dt * 2.0);
                let failed = u64::from(rng.chance(0.03));
                m.dht
                    .get_or_create(&labels2("operation", op, "result", "success"))
                    .inc_by(n);
                m.dht
                    .get_or_create(&labels2("operation", op, "result", "failure"))
                    .inc_by(failed);
            }
        }
        // Consensus: blocks reach the node unless its chain is stalled or it is cut off.
        let mut imported = None;
        if let Some(interval) = new_block
            && follows_head
            && !self.stalled
        {
            imported = Some(interval);
            self.height = world.head;
            m.block_interval.observe(interval);
            m.transactions.inc_by(rng.count(40.0));
        }
        m.block_height.set(self.height as i64);
        m.sync_lag
            .set(world.head.saturating_sub(self.height) as i64);
        m.validators.set(16);
        // Execution.
        let (mean_duration, failure, timeout) = self.executor.profile();
        let tasks = if alive { rng.count(dt * 1.5) } else { 0 };
        for _ in 0..tasks {
            let duration = rng.exponential(mean_duration);
            m.task_duration.observe(duration);
            let draw = rng.next_f64();
            let (status, code) = if draw < failure {
                ("failure", "1")
            } else if draw < failure + timeout {
                ("timeout", "137")
            } else {
                ("success", "0")
            };
            m.tasks.get_or_create(&label("status", status)).inc();
            m.wasm_exit_codes.get_or_create(&label("code", code)).inc();
            if status == "success" {
                m.receipts.inc();
                m.task_cost.observe(0.01 + rng.exponential(0.5));
            }
        }
        m.active_tasks
            .set(if alive { rng.below(6) as i64 } else { 0 });
        let memory = match self.executor {
            ExecutorMode::Slow => 0.7 + rng.next_f64() * 0.28,
            _ => 0.15 + rng.next_f64() * 0.4,
        };
        m.wasm_memory
            .set((memory * WASM_MEMORY_LIMIT as f64) as i64);
        m.guilds.set(1 + rng.below(4) as i64);
        if rng.chance(0.05 * dt) {
            m.guild_events
                .get_or_create(&label("event", "formed"))
                .inc();
        }
        if rng.chance(0.04 * dt) {
            m.guild_events
                .get_or_create(&label("event", "dissolved"))
                .inc();
        }
        // Economics.
        if alive && rng.chance(0.2 * dt) {
            self.channels_active += 1;
            self.value_locked += 10.0 + rng.exponential(50.0);
        }
        if self.channels_active > 2 && rng.chance(0.15 * dt) {
            self.channels_active -= 1;
            self.value_locked = (self.value_locked - 10.0 - rng.exponential(30.0)).max(0.0);
            m.settlements.inc();
        }
        if rng.chance(0.01 * dt) {
            m.disputes.inc();
        }
        m.channels
            .get_or_create(&label("state", "active"))
            .set(self.channels_active);
        m.channels
            .get_or_create(&label("state", "opening"))
            .set(rng.below(3) as i64);
        m.channels
            .get_or_create(&label("state", "closed"))
            .set(m.settlements.get() as i64);
        m.channels
            .get_or_create(&label("state", "disputed"))
            .set(m.disputes.get() as i64);
        m.value_locked.set(self.value_locked);
        let payments = if alive { rng.count(dt * 2.0) } else { 0 };
        let mut failed = 0;
        for _ in 0..payments {
            let outcome = if rng.chance(world.payment_failure_rate) {
                failed += 1;
                "failed"
            } else {
                "success"
            };
            m.payments.get_or_create(&label("outcome", outcome)).inc();
            m.payment_amount.observe(0.01 + rng.exponential(2.0));
        }
        let target_reputation = if failed > 0 { 0.5 } else { 0.95 };
        self.reputation += (target_reputation - self.reputation) * 0.05 * dt;
        m.reputation.set(self.reputation);
        m.blacklisted.set(if rng.chance(0.02) { 1 } else { 0 });
        // Load mode: every series changes at every tick.
        for gauge in &self.load {
            gauge.set(rng.below(1000) as i64);
        }
        let view = NodeView {
            id: self.id,
            nodes: self.nodes,
            alive,
            stalled: self.stalled,
            height: self.height,
            head: world.head,
            peers: self.peers,
            imported,
            dt,
        };
        let World {
            rng,
            faults,
            profiles,
            ..
        } = world;
        self.profile.step(&view, profiles, faults, rng);
    }
}

impl Node {
    /// Writes the node's own lines for the `dt` seconds just simulated, at `now`: a
    /// `block imported` line when its chain moved, and a `resource warning` while one of
    /// its health checks' thresholds is crossed. A node that is down writes nothing.
    pub(crate) fn log(&mut self, logger: &SdkLogger, dt: f64, now: std::time::SystemTime) {
        if self.server.is_none() {
            return;
        }
        if self.height > self.logged_height {
            self.logged_height = self.height;
            crate::logs::write(
                logger,
                Line {
                    severity: Severity::Info,
                    body: "block imported",
                    node: self.id,
                    component: "consensus",
                    time: now,
                    span: None,
                    attributes: vec![
                        ("height", AnyValue::from(self.height as i64)),
                        ("peers", AnyValue::from(self.peers)),
                    ],
                },
            );
        }
        for (resource, warned) in Resource::ALL.into_iter().zip(&mut self.warned) {
            let (value, threshold, severity, body) = match resource {
                Resource::WasmMemory => {
                    let share = self.metrics.wasm_memory.get() as f64 / WASM_MEMORY_LIMIT as f64;
                    let severity = (share >= 0.95)
                        .then_some(Severity::Error)
                        .or((share >= 0.8).then_some(Severity::Warn));
                    (
                        share,
                        0.8,
                        severity,
                        "resource warning: WASM memory above 80% of the limit",
                    )
                }
                Resource::SyncLag => {
                    let lag = self.metrics.sync_lag.get() as f64;
                    let severity = (lag > 20.0)
                        .then_some(Severity::Error)
                        .or((lag > 5.0).then_some(Severity::Warn));
                    (
                        lag,
                        5.0,
                        severity,
                        "resource warning: chain sync lag above 5 blocks",
                    )
                }
                Resource::Peers => {
                    let peers = self.peers as f64;
                    let severity = (peers < 1.0)
                        .then_some(Severity::Error)
                        .or((peers < self.wanted as f64).then_some(Severity::Warn));
                    (
                        peers,
                        self.wanted as f64,
                        severity,
                        "resource warning: fewer connected peers than wanted",
                    )
                }
            };
            // Asked at every tick, so that a threshold no longer crossed is forgotten.
            let due = warned.due(severity, dt);
            let Some(severity) = severity.filter(|_| due) else {
                continue;
            };
            crate::logs::write(
                logger,
                Line {
                    severity,
                    body,
                    node: self.id,
                    component: resource.component(),
                    time: now,
                    span: None,
                    attributes: vec![
                        ("resource", AnyValue::from(resource.name())),
                        ("value", AnyValue::from(value)),
                        ("threshold", AnyValue::from(threshold)),
                    ],
                },
            );
        }
    }
}

/// The API chaos in front of a node's routes: while it is on, every request waits
/// [`API_DELAY`] and every other one is answered 503.
async fn degraded_api(
    axum::extract::State((fault, served)): axum::extract::State<(ApiFault, Arc<AtomicU64>)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !fault.is_on() {
        return next.run(request).await;
    }
    tokio::time::sleep(API_DELAY).await;
    if served.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable: the simulated API is degraded (POST /chaos/heal)\n",
        )
            .into_response();
    }
    next.run(request).await
}

impl Drop for Node {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}
