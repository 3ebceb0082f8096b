//! A simulated node network, instrumented with `skywatch-sdk` alone: what `skywatch demo`
//! watches, and the load the scrape benchmark scrapes.
//!
//! [`Network::start`] starts N nodes (default 20), each serving its own `/metrics` and
//! health endpoints (`/healthz`, `/readyz`, `/health`) on its own loopback port. Once a
//! tick (a second by default) the network moves on: peers come and go, blocks are made
//! and followed, tasks run and pay, channels open and settle, all drawn from one seeded
//! generator in node order, so a seed gives the same run every time (timing aside).
//!
//! Chaos, through [`Network::chaos`] or the control endpoint ([`Network::control_router`]):
//! kill and restart a node (its HTTP server stops and comes back on the same port),
//! partition a set of nodes from the rest, slow down or fail a node's executor, raise the
//! payment or message failure rate, and stall a node's chain. [`Layer`]s put these
//! together: each degrades one layer of the whole network enough to burn the error budget
//! of its objectives in `slos/zerostate.yml` at well over the 14.4x of a fast-burn page,
//! and [`Chaos::heal_all`] undoes every kind of chaos at once.
//!
//! Requests cross the network too, a few a second, and leave traces: each enters a node's
//! HTTP API and goes through a P2P send, a DHT lookup, guild formation, the task's WASM
//! execution and payment settlement on other nodes, as the seeds' flow does (see
//! [`FLOW`]). Each node runs six [`Service`]s, each with its own tracer and resource
//! (`service.name`, `service.instance.id` = the node's name, `host.name`...), and a span
//! continues its parent across nodes through the W3C `traceparent` carried in the P2P
//! message's metadata. Once [`Network::trace_to`] gives them a [`Pipeline`], the spans are
//! exported, sampled parent-based so that a trace is kept or dropped whole; chaos shows in
//! them as errors and latency in the spans of the layer it degrades. The requests draw
//! from a generator of their own, so traces change nothing in the metrics.
//!
//! Once [`Network::log_to`] gives them a [`LogPipeline`], the nodes log too, as
//! OpenTelemetry log records under the same resources as their spans (see [`logs`]): a
//! line per step of each request in that step's span (so with its trace id), errors and
//! warnings naming the failing `component` where chaos makes a request fail, and each
//! node's own `block imported` and `resource warning` lines.
//!
//! In load mode ([`Options::load_series`]) every node also exposes that many extra gauge
//! series, which change at every tick: the scrape benchmark's targets.

mod coinjecture;
mod flow;
pub mod logs;
mod metrics;
mod node;
mod profile;
mod rng;
mod virtengine;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use flow::{FLOW, Service};
pub use metrics::{NodeMetrics, WASM_MEMORY_LIMIT};
pub use node::{ExecutorMode, NodeInfo};
pub use profile::Profile;
pub use skywatch_sdk::log::LogPipeline;
pub use skywatch_sdk::trace::Pipeline;

use node::{ApiFault, Node};
use rng::Rng;

/// How to build a network.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many nodes.
    pub nodes: usize,
    /// The generator's seed.
    pub seed: u64,
    /// How often the network moves on.
    pub tick: Duration,
    /// Extra gauge series per node, for load tests (0: none).
    pub load_series: usize,
    /// Whose metric families the nodes expose.
    pub profile: Profile,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 20,
            seed: 1,
            tick: Duration::from_secs(1),
            load_series: 0,
            profile: Profile::ZeroState,
        }
    }
}

/// A running network. Dropping it stops every node.
pub struct Network {
    shared: Arc<Shared>,
    ticker: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("nodes", &self.nodes().len())
            .finish_non_exhaustive()
    }
}

/// What the ticker and the controls share.
struct Shared {
    nodes: Mutex<Vec<Node>>,
    world: Mutex<World>,
    /// Read by every node's HTTP server at each request, so kept out of the locks.
    api_fault: ApiFault,
    /// The nodes' tracers, once [`Network::trace_to`] is called.
    tracers: Mutex<Option<flow::Tracers>>,
    /// The nodes' loggers, once [`Network::log_to`] is called.
    loggers: Mutex<Option<logs::Loggers>>,
}

/// The probability that a payment fails when no chaos says otherwise: one in 10,000, a
/// tenth of the budget of the 99.9% payment success objective of the shipped alert rules
/// and SLOs, so that only chaos makes them fire.
pub const DEFAULT_PAYMENT_FAILURE_RATE: f64 = 0.0001;

/// Network-wide state.
struct World {
    rng: Rng,
    /// The height of the network's head.
    head: u64,
    /// Seconds until the next block.
    next_block: f64,
    /// The probability that a payment fails.
    payment_failure_rate: f64,
    /// The share of sent P2P messages that fail on top of the rare ordinary failures.
    message_failure_rate: f64,
    /// The nodes cut off from the rest, if a partition is on.
    partition: Vec<usize>,
    /// The requests' own generator, so that they change nothing in the metrics.
    traffic: Rng,
    /// Whose metric families the nodes expose.
    profile: Profile,
    /// Whether the chain is halted: no block is made anywhere.
    halted: bool,
    /// How many times slower than usual blocks are made, network-wide (1: as usual).
    block_time: f64,
    /// The profile's faults turned on.
    faults: profile::Faults,
    /// The profiles' network-wide state.
    profiles: profile::ProfileWorld,
}

impl Network {
    /// Starts the nodes, each on a free loopback port, and the ticker.
    pub async fn start(options: Options) -> std::io::Result<Self> {
        let api_fault = ApiFault::default();
        let mut nodes = Vec::with_capacity(options.nodes);
        for id in 0..options.nodes {
            nodes.push(
                Node::start(
                    id,
                    options.nodes,
                    options.load_series,
                    api_fault.clone(),
                    options.profile,
                )
                .await?,
            );
        }
        let shared = Arc::new(Shared {
            nodes: Mutex::new(nodes),
            world: Mutex::new(World {
                rng: Rng::new(options.seed),
                head: 1,
                next_block: 0.0,
                payment_failure_rate: DEFAULT_PAYMENT_FAILURE_RATE,
                message_failure_rate: 0.0,
                partition: Vec::new(),
                traffic: Rng::new(options.seed ^ 0x7472_6166_6669_6300),
                profile: options.profile,
                halted: false,
                block_time: 1.0,
                faults: profile::Faults::new(),
                profiles: profile::ProfileWorld::default(),
            }),
            api_fault,
            tracers: Mutex::new(None),
            loggers: Mutex::new(None),
        });
        // A first tick now, so that every series has a value at the first scrape.
        tick(&shared, options.tick.as_secs_f64());
        let ticker = {
            let shared = shared.clone();
            let period = options.tick;
            tokio::spawn(async move {
                let mut t = tokio::time::interval(period);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                t.tick().await;
                loop {
                    t.tick().await;
                    tick(&shared, period.as_secs_f64());
                }
            })
        };
        Ok(Self { shared, ticker })
    }

    /// The nodes: id, address and state.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.chaos().nodes()
    }

    /// Moves the network on by `seconds` now, besides the ticker.
    pub fn advance(&self, seconds: f64) {
        tick(&self.shared, seconds);
    }

    /// What scraping every live node now would read: each node's info and its
    /// exposition in OpenMetrics text, without the HTTP round trip (to backfill history).
    pub fn expositions(&self) -> Vec<(NodeInfo, String)> {
        lock(&self.shared.nodes)
            .iter()
            .filter(|n| n.is_alive())
            .map(|n| (n.info(), n.exposition()))
            .collect()
    }

    /// Scrapes every live node now, in process: its info and its `/metrics` in
    /// OpenMetrics text, through the node's own HTTP routes and layers but no socket, so
    /// that each scrape is counted in the node's `node_http_*` as a real one is (to
    /// backfill history that looks like a scraped network's).
    pub async fn scrape_in_process(&self) -> Vec<(NodeInfo, String)> {
        use tower::ServiceExt as _;
        let scrapers: Vec<(NodeInfo, axum::Router)> = lock(&self.shared.nodes)
            .iter()
            .filter_map(|n| n.scraper().map(|app| (n.info(), app)))
            .collect();
        let mut out = Vec::with_capacity(scrapers.len());
        for (info, app) in scrapers {
            let request = axum::http::Request::get("/metrics")
                .header(
                    axum::http::header::ACCEPT,
                    "application/openmetrics-text; version=1.0.0",
                )
                .body(axum::body::Body::empty())
                .expect("a constant request is valid");
            let Ok(response) = app.oneshot(request).await;
            if !response.status().is_success() {
                continue;
            }
            let Ok(body) = axum::body::to_bytes(response.into_body(), usize::MAX).await else {
                continue;
            };
            out.push((info, String::from_utf8_lossy(&body).into_owned()));
        }
        out
    }

    /// Runs every live node's health checks now, as each node's refresher does every
    /// second: for a simulated past, which moves faster than the clock.
    pub async fn check_health(&self) {
        let checks: Vec<_> = lock(&self.shared.nodes)
            .iter()
            .filter(|n| n.is_alive())
            .map(Node::health)
            .collect();
        for health in checks {
            health.report().await;
        }
    }

    /// Exports the spans of the requests from now on through `pipeline`, sampling
    /// `sample_ratio` of them (0 to 1; each request's trace is kept or dropped whole).
    pub fn trace_to(&self, pipeline: &Pipeline, sample_ratio: f64) {
        let count = lock(&self.shared.nodes).len();
        *lock(&self.shared.tracers) = Some(flow::Tracers::new(pipeline, count, sample_ratio));
    }

    /// Exports the nodes' log lines from now on through `pipeline`: each request's lines
    /// (in the context of their spans, which [`trace_to`](Self::trace_to) exports) and each
    /// node's own; see [`logs`].
    pub fn log_to(&self, pipeline: &LogPipeline) {
        let count = lock(&self.shared.nodes).len();
        *lock(&self.shared.loggers) = Some(logs::Loggers::new(pipeline, count));
    }

    /// The controls.
    pub fn chaos(&self) -> Chaos {
        Chaos {
            shared: self.shared.clone(),
        }
    }

    /// An HTTP router over the controls:
    ///
    /// | request | effect |
    /// |---|---|
    /// | `GET /nodes` | the nodes as JSON |
    /// | `POST /nodes/{id}/kill`, `/restart` | stop or restart a node's server |
    /// | `POST /nodes/{id}/stall`, `/unstall` | stop or resume a node's chain |
    /// | `POST /nodes/{id}/executor/{normal,slow,fail}` | a node's executor |
    /// | `POST /partition?nodes=1,2,3`, `POST /heal` | cut nodes off, and join them back |
    /// | `POST /payments/failure-rate?rate=0.5` | the payment failure probability |
    /// | `POST /p2p/failure-rate?rate=0.5` | the share of P2P messages that fail |
    /// | `POST /chaos/{layer}` | degrade a [`Layer`]: `execution`, `latency`, `payments`, `p2p`, `consensus`, `api` |
    /// | `POST /chain/halt`, `/chain/resume` | stop or resume the whole chain |
    /// | `POST /chain/block-time?factor=3` | blocks that many times slower, network-wide |
    /// | `GET /faults` | the profile's faults, and which are on |
    /// | `POST /faults/{name}`, `DELETE /faults/{name}` | turn one of the profile's faults on or off |
    /// | `POST /coinjecture/rollback` | COINjecture's codec to `legacy_only`, its parity fault off ([`Chaos::coinjecture_rollback`]) |
    /// | `POST /coinjecture/promote?mode=2` | COINjecture's codec mode, 0 to 3 ([`Chaos::coinjecture_promote`]) |
    /// | `DELETE /chaos/{layer}` | undo that layer's chaos alone ([`Chaos::restore`]) |
    /// | `POST /chaos/heal` | undo every kind of chaos ([`Chaos::heal_all`]) |
    pub fn control_router(&self) -> axum::Router {
        control::router(self.chaos())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.ticker.abort();
        for node in lock(&self.shared.nodes).iter_mut() {
            node.kill();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Moves the network on by `dt` seconds.
fn tick(shared: &Shared, dt: f64) {
    let mut world = lock(&shared.world);
    let mut nodes = lock(&shared.nodes);
    let n = nodes.len();
    // A profile's consensus-stall fault halts the chain as `Chaos::halt` does.
    if !world.halted && !world.faults.contains(virtengine::CONSENSUS_STALL) {
        world.next_block -= dt;
    }
    let mut new_block = None;
    if world.next_block <= 0.0 {
        // Block intervals around 2 s, times the block-time chaos.
        let interval = (1.0 + world.rng.next_f64() * 2.0) * world.block_time;
        world.next_block = interval;
        world.head += 1;
        new_block = Some(interval);
    }
    let partition = world.partition.clone();
    // In a partition, the larger side keeps the chain going; the other falls behind.
    let rest_is_larger = n.saturating_sub(partition.len()) >= partition.len();
    // Held to the end of the tick, after the nodes' lock, as every holder of both does.
    let loggers = lock(&shared.loggers);
    let now = std::time::SystemTime::now();
    // Who is up before any node steps, so that every node sees the same network.
    let alive: Vec<usize> = nodes
        .iter()
        .filter(|node| node.is_alive())
        .map(|node| node.id)
        .collect();
    for node in nodes.iter_mut() {
        let cut_off = partition.contains(&node.id);
        // Reachable peers: those alive on the same side of a partition (a killed node is
        // no one's peer: its peers' counts drop until it is back).
        let reachable = alive
            .iter()
            .filter(|&&id| id != node.id && partition.contains(&id) == cut_off)
            .count();
        let follows_head = partition.is_empty() || cut_off != rest_is_larger;
        node.step(&mut world, dt, reachable, follows_head, new_block);
        if let Some(logger) = loggers.as_ref().and_then(|l| l.node(node.id)) {
            node.log(logger, dt, now);
        }
    }
    // Requests cross the network, each with its trace: ZeroState's flow, so its alone.
    if !world.profile.traces() {
        return;
    }
    let requests = flow::requests(&mut world.traffic, n, dt);
    let alive: Vec<usize> = nodes
        .iter()
        .filter(|n| n.is_alive())
        .map(|n| n.id)
        .collect();
    if requests == 0 || alive.is_empty() {
        return;
    }
    let peers: Vec<flow::Peer> = nodes
        .iter()
        .map(|node| flow::Peer {
            info: node.info(),
            cut_off: partition.contains(&node.id),
        })
        .collect();
    drop(nodes);
    let conditions = flow::Conditions {
        payment_failure_rate: world.payment_failure_rate,
        message_failure_rate: world.message_failure_rate,
        api_degraded: shared.api_fault.is_on(),
    };
    let tracers = lock(&shared.tracers);
    for _ in 0..requests {
        let entry = alive[world.traffic.below(alive.len() as u64) as usize];
        let steps = flow::plan(&mut world.traffic, &peers, &conditions, entry);
        // Each request ended at some moment of the tick that just passed.
        let ended = now
            .checked_sub(Duration::from_secs_f64(
                world.traffic.next_f64() * dt.clamp(0.0, 1.0),
            ))
            .unwrap_or(now);
        flow::emit(&steps, tracers.as_ref(), loggers.as_ref(), ended);
    }
}

/// The chaos controls.
#[derive(Clone)]
pub struct Chaos {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Chaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chaos").finish_non_exhaustive()
    }
}

impl Chaos {
    fn with_node<T>(&self, id: usize, f: impl FnOnce(&mut Node) -> T) -> Result<T, String> {
        let mut nodes = lock(&self.shared.nodes);
        let count = nodes.len();
        let node = nodes.get_mut(id).ok_or_else(|| {
            format!(
                "no node {id}: the network has nodes 0 to {}",
                count.saturating_sub(1)
            )
        })?;
        Ok(f(node))
    }

    /// Stops node `id`'s HTTP server: scrapes of it fail until it restarts.
    pub fn kill(&self, id: usize) -> Result<(), String> {
        self.with_node(id, Node::kill)
    }

    /// Restarts node `id`'s HTTP server on its port.
    pub async fn restart(&self, id: usize) -> Result<(), String> {
        let addr = self.with_node(id, |n| n.addr())?;
        // A server killed a moment ago may hold its port until the runtime drops its
        // aborted task: wait for that, up to a second, rather than fail.
        let mut attempts = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(format!("cannot listen on {addr} again: {e}")),
            }
        };
        self.with_node(id, |n| n.serve(listener))
    }

    /// Stops or resumes node `id`'s chain.
    pub fn stall(&self, id: usize, stalled: bool) -> Result<(), String> {
        self.with_node(id, |n| n.stalled = stalled)
    }

    /// Sets node `id`'s executor.
    pub fn executor(&self, id: usize, mode: ExecutorMode) -> Result<(), String> {
        self.with_node(id, |n| n.executor = mode)
    }

    /// Cuts `ids` off from the other nodes (an empty list heals).
    pub fn partition(&self, ids: Vec<usize>) -> Result<(), String> {
        let count = lock(&self.shared.nodes).len();
        if let Some(bad) = ids.iter().find(|&&i| i >= count) {
            return Err(format!(
                "no node {bad}: the network has nodes 0 to {}",
                count.saturating_sub(1)
            ));
        }
        lock(&self.shared.world).partition = ids;
        Ok(())
    }

    /// Sets the probability that a payment fails.
    pub fn payment_failure_rate(&self, rate: f64) -> Result<(), String> {
        lock(&self.shared.world).payment_failure_rate = probability(rate)?;
        Ok(())
    }

    /// Sets the share of sent P2P messages that fail, on top of the rare ordinary failures.
    pub fn message_failure_rate(&self, rate: f64) -> Result<(), String> {
        lock(&self.shared.world).message_failure_rate = probability(rate)?;
        Ok(())
    }

    /// Halts or resumes the whole chain: while halted, no node's height moves.
    pub fn halt(&self, halted: bool) {
        lock(&self.shared.world).halted = halted;
    }

    /// Makes blocks `factor` times slower than usual network-wide (1 is as usual): every
    /// node follows the head, only more slowly.
    pub fn block_time(&self, factor: f64) -> Result<(), String> {
        if !(factor.is_finite() && (0.1..=100.0).contains(&factor)) {
            return Err(format!(
                "a block-time factor is between 0.1 and 100, not {factor}"
            ));
        }
        lock(&self.shared.world).block_time = factor;
        Ok(())
    }

    /// Turns one of the profile's faults on or off (see [`Profile::faults`]).
    pub fn fault(&self, name: &str, on: bool) -> Result<(), String> {
        let mut world = lock(&self.shared.world);
        let profile = world.profile;
        let Some((name, _)) = profile.faults().iter().find(|(n, _)| *n == name) else {
            let names: Vec<_> = profile.faults().iter().map(|(n, _)| *n).collect();
            return Err(if names.is_empty() {
                format!("unknown fault {name:?}: the {profile} profile has none")
            } else {
                format!(
                    "unknown fault {name:?}: the {profile} profile has {}",
                    names.join(", ")
                )
            });
        };
        if on {
            world.faults.insert(name);
        } else {
            world.faults.remove(name);
        }
        Ok(())
    }

    /// The profile's faults: name, what it does, and whether it is on.
    pub fn faults(&self) -> Vec<Fault> {
        let world = lock(&self.shared.world);
        world
            .profile
            .faults()
            .iter()
            .map(|(name, does)| Fault {
                name,
                does,
                on: world.faults.contains(name),
            })
            .collect()
    }

    /// Rolls COINjecture's codec back to `legacy_only` (mode 0) network-wide and turns the
    /// `parity-mismatch` fault off, as the ParityMismatch alert's auto-rollback does: the
    /// refactored path no longer serves, so no comparison and no mismatch is counted until
    /// [`coinjecture_promote`](Self::coinjecture_promote). Refused on other profiles.
    pub fn coinjecture_rollback(&self) -> Result<(), String> {
        let mut world = lock(&self.shared.world);
        coinjecture_only(world.profile)?;
        let World {
            profiles, faults, ..
        } = &mut *world;
        profiles.coinjecture.rollback(faults);
        Ok(())
    }

    /// Sets COINjecture's codec mode network-wide: 0 `legacy_only`, 1 `shadow`, 2
    /// `refactored_primary` (a healthy network's), 3 `refactored_only`. Refused on other
    /// profiles.
    pub fn coinjecture_promote(&self, mode: i64) -> Result<(), String> {
        let mut world = lock(&self.shared.world);
        coinjecture_only(world.profile)?;
        world.profiles.coinjecture.promote(mode)
    }

    /// Turns the API chaos on or off: while it is on, every node answers every other HTTP
    /// request (scrapes included) with 503, and every request 300 ms late.
    pub fn degrade_api(&self, on: bool) {
        self.shared.api_fault.set(on);
    }

    /// Degrades `layer` across the network, with the controls above; see [`Layer`] for what
    /// each does. Chaos adds up: degrading a second layer keeps the first degraded.
    pub fn degrade(&self, layer: Layer) -> Result<(), String> {
        let count = lock(&self.shared.nodes).len();
        match layer {
            Layer::Execution => (0..count)
                .step_by(2)
                .try_for_each(|id| self.executor(id, ExecutorMode::Failing)),
            Layer::Latency => (0..count).try_for_each(|id| self.executor(id, ExecutorMode::Slow)),
            Layer::Payments => self.payment_failure_rate(0.5),
            Layer::P2p => self.message_failure_rate(0.5),
            Layer::Consensus => (0..count)
                .step_by(4)
                .try_for_each(|id| self.stall(id, true)),
            Layer::Api => {
                self.degrade_api(true);
                Ok(())
            }
        }
    }

    /// Undoes what [`degrade`](Self::degrade) did to `layer`, and only that: its
    /// executors back to normal, its rate back to the ordinary one, its chains resumed, or
    /// the API served normally.
    pub fn restore(&self, layer: Layer) -> Result<(), String> {
        let count = lock(&self.shared.nodes).len();
        match layer {
            Layer::Execution => (0..count)
                .step_by(2)
                .try_for_each(|id| self.executor(id, ExecutorMode::Normal)),
            Layer::Latency => (0..count).try_for_each(|id| self.executor(id, ExecutorMode::Normal)),
            Layer::Payments => self.payment_failure_rate(DEFAULT_PAYMENT_FAILURE_RATE),
            Layer::P2p => self.message_failure_rate(0.0),
            Layer::Consensus => (0..count)
                .step_by(4)
                .try_for_each(|id| self.stall(id, false)),
            Layer::Api => {
                self.degrade_api(false);
                Ok(())
            }
        }
    }

    /// Undoes every kind of chaos: executors back to normal, chains resumed, the partition
    /// healed, payment and message failures back to their ordinary rates, the API served
    /// normally, the profile's faults off, COINjecture's codec back to
    /// `refactored_primary`, and killed nodes restarted. An error names a node that cannot listen on
    /// its port again; the rest is healed all the same.
    pub async fn heal_all(&self) -> Result<(), String> {
        {
            let mut world = lock(&self.shared.world);
            world.partition.clear();
            world.payment_failure_rate = DEFAULT_PAYMENT_FAILURE_RATE;
            world.message_failure_rate = 0.0;
            world.halted = false;
            world.block_time = 1.0;
            world.faults.clear();
            world.profiles.coinjecture.codec_mode = coinjecture::DEFAULT_CODEC_MODE;
        }
        self.degrade_api(false);
        let dead: Vec<usize> = {
            let mut nodes = lock(&self.shared.nodes);
            for node in nodes.iter_mut() {
                node.executor = ExecutorMode::Normal;
                node.stalled = false;
            }
            nodes
                .iter()
                .filter(|n| !n.is_alive())
                .map(|n| n.id)
                .collect()
        };
        let mut errors = Vec::new();
        for id in dead {
            if let Err(e) = self.restart(id).await {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The nodes: id, address and state.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        lock(&self.shared.nodes).iter().map(Node::info).collect()
    }
}

/// A profile's fault as the controls report it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// Its name in `POST /faults/{name}`.
    pub name: &'static str,
    /// What turning it on does.
    pub does: &'static str,
    /// Whether it is on.
    pub on: bool,
}

/// Refuses the COINjecture controls on another profile.
fn coinjecture_only(profile: Profile) -> Result<(), String> {
    if profile == Profile::Coinjecture {
        Ok(())
    } else {
        Err(format!(
            "the codec mode is COINjecture's: this network runs the {profile} profile"
        ))
    }
}

/// Checks that `rate` is a probability.
fn probability(rate: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("a failure rate is between 0 and 1, not {rate}"))
    }
}

/// A layer of the network that [`Chaos::degrade`] can degrade, each so that the objectives
/// of `slos/zerostate.yml` reading it burn their error budget at well over 14.4x, the
/// burn rate of a fast-burn page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Every other node's executor fails (nodes 0, 2, 4...): about half of all tasks fail
    /// or time out (`execution_tasks_total{status!="success"}`).
    Execution,
    /// Every executor is slow: tasks take ten times longer, so about 29% of them take
    /// over 10 s (`execution_task_duration_seconds`) and 45% fail or time out.
    Latency,
    /// Half the payments fail (`economic_payments_total{outcome="failed"}`).
    Payments,
    /// Half the P2P messages sent fail (`p2p_messages_failed_total`).
    P2p,
    /// Every fourth node's chain stalls (nodes 0, 4, 8...): their sync lag grows, and
    /// their consensus health check degrades within about five blocks
    /// (`node_health_check_status{check="consensus"}`).
    Consensus,
    /// Every node's HTTP server answers every other request with 503 and every request
    /// 300 ms late (`node_http_requests_total`, `node_http_request_duration_seconds`);
    /// half the scrapes fail, so `up` is 0 half the time.
    Api,
}

impl Layer {
    /// Every layer.
    pub const ALL: [Layer; 6] = [
        Layer::Execution,
        Layer::Latency,
        Layer::Payments,
        Layer::P2p,
        Layer::Consensus,
        Layer::Api,
    ];

    /// Its name in the control endpoint's path.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Execution => "execution",
            Layer::Latency => "latency",
            Layer::Payments => "payments",
            Layer::P2p => "p2p",
            Layer::Consensus => "consensus",
            Layer::Api => "api",
        }
    }
}

impl std::str::FromStr for Layer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layer::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Layer::ALL.iter().map(|l| l.name()).collect();
                format!("unknown layer {s:?}: use {} (or heal)", names.join(", "))
            })
    }
}

mod control {
    //! The chaos controls over HTTP.

    use axum::extract::{Path, Query, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};

    use super::{Chaos, ExecutorMode, Layer};

    pub(super) fn router(chaos: Chaos) -> axum::Router {
        axum::Router::new()
            .route("/nodes", get(nodes))
            .route("/nodes/{id}/{action}", post(node_action))
            .route("/nodes/{id}/executor/{mode}", post(executor))
            .route("/partition", post(partition))
            .route("/heal", post(heal))
            .route("/payments/failure-rate", post(failure_rate))
            .route("/p2p/failure-rate", post(message_failure_rate))
            .route("/chaos/{layer}", post(layer).delete(restore))
            .route("/chain/halt", post(halt))
            .route("/chain/resume", post(resume))
            .route("/chain/block-time", post(block_time))
            .route("/faults", get(faults))
            .route("/faults/{name}", post(fault_on).delete(fault_off))
            .route("/coinjecture/rollback", post(rollback))
            .route("/coinjecture/promote", post(promote))
            .with_state(chaos)
    }

    fn outcome(r: Result<(), String>) -> Response {
        match r {
            Ok(()) => (StatusCode::OK, "ok\n").into_response(),
            Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        }
    }

    async fn nodes(State(chaos): State<Chaos>) -> Response {
        axum::Json(chaos.nodes()).into_response()
    }

    async fn node_action(
        State(chaos): State<Chaos>,
        Path((id, action)): Path<(usize, String)>,
    ) -> Response {
        outcome(match action.as_str() {
            "kill" => chaos.kill(id),
            "restart" => chaos.restart(id).await,
            "stall" => chaos.stall(id, true),
            "unstall" => chaos.stall(id, false),
            other => Err(format!(
                "unknown action {other:?}: use kill, restart, stall or unstall"
            )),
        })
    }

    async fn executor(
        State(chaos): State<Chaos>,
        Path((id, mode)): Path<(usize, String)>,
    ) -> Response {
        let mode = match mode.as_str() {
            "normal" => ExecutorMode::Normal,
            "slow" => ExecutorMode::Slow,
            "fail" => ExecutorMode::Failing,
            other => {
                return outcome(Err(format!(
                    "unknown executor mode {other:?}: use normal, slow or fail"
                )));
            }
        };
        outcome(chaos.executor(id, mode))
    }

    #[derive(serde::Deserialize)]
    struct Nodes {
        nodes: String,
    }

    async fn partition(State(chaos): State<Chaos>, Query(q): Query<Nodes>) -> Response {
        let ids: Result<Vec<usize>, _> = q
            .nodes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().parse::<usize>())
            .collect();
        match ids {
            Ok(ids) => outcome(chaos.partition(ids)),
            Err(e) => outcome(Err(format!("nodes: {e}: write ids like 1,2,3"))),
        }
    }

    async fn heal(State(chaos): State<Chaos>) -> Response {
        outcome(chaos.partition(Vec::new()))
    }

    #[derive(serde::Deserialize)]
    struct Rate {
        rate: f64,
    }

    async fn failure_rate(State(chaos): State<Chaos>, Query(q): Query<Rate>) -> Response {
        outcome(chaos.payment_failure_rate(q.rate))
    }

    async fn message_failure_rate(State(chaos): State<Chaos>, Query(q): Query<Rate>) -> Response {
        outcome(chaos.message_failure_rate(q.rate))
    }

    async fn halt(State(chaos): State<Chaos>) -> Response {
        chaos.halt(true);
        outcome(Ok(()))
    }

    async fn resume(State(chaos): State<Chaos>) -> Response {
        chaos.halt(false);
        outcome(Ok(()))
    }

    #[derive(serde::Deserialize)]
    struct Factor {
        factor: f64,
    }

    async fn block_time(State(chaos): State<Chaos>, Query(q): Query<Factor>) -> Response {
        outcome(chaos.block_time(q.factor))
    }

    async fn faults(State(chaos): State<Chaos>) -> Response {
        axum::Json(chaos.faults()).into_response()
    }

    async fn fault_on(State(chaos): State<Chaos>, Path(name): Path<String>) -> Response {
        outcome(chaos.fault(&name, true))
    }

    async fn fault_off(State(chaos): State<Chaos>, Path(name): Path<String>) -> Response {
        outcome(chaos.fault(&name, false))
    }

    async fn rollback(State(chaos): State<Chaos>) -> Response {
        outcome(chaos.coinjecture_rollback())
    }

    #[derive(serde::Deserialize)]
    struct Mode {
        mode: i64,
    }

    async fn promote(State(chaos): State<Chaos>, Query(q): Query<Mode>) -> Response {
        outcome(chaos.coinjecture_promote(q.mode))
    }

    async fn restore(State(chaos): State<Chaos>, Path(layer): Path<String>) -> Response {
        outcome(layer.parse::<Layer>().and_then(|l| chaos.restore(l)))
    }

    async fn layer(State(chaos): State<Chaos>, Path(layer): Path<String>) -> Response {
        if layer == "heal" {
            return outcome(chaos.heal_all().await);
        }
        outcome(layer.parse::<Layer>().and_then(|l| chaos.degrade(l)))
    }
}
