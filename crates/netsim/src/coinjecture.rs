//! The COINjecture profile (the seeds' 004): a Rust consensus core, a Go daemon and
//! Python shims; dual-run parity validation, epoch-replay protection, IPFS pinning.
//!
//! Every node runs the three processes in one and exposes all their families, with the
//! seed's names. What moves them: the node's own chain (its height, a validation per
//! imported block), the network-wide [`World`] (the codec mode the rollback sets, the
//! vulnerability scans and the posture score), the faults turned on, and the network's one
//! generator. Rare events whose share an alert reads (5xx answers, rate-limit false
//! positives) are paced by an accumulator rather than drawn, so that a node's share stays
//! near its target in any five-minute window and no alert fires without a fault.
//!
//! See `docs/profiles/coinjecture.md` for every family, its labels and what drives it.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;

use skywatch_sdk::metrics::{
    Counter, Family, Gauge, Histogram, RegisterError, Registry, buckets, histogram,
};

use crate::metrics::{FloatGauge, Labels, label, labels2};
use crate::profile::{Faults, NodeView};
use crate::rng::Rng;

/// The faults of this profile: name and what turning it on does.
pub(crate) const FAULTS: &[(&str, &str)] = &[
    (
        "parity-mismatch",
        "the refactored core disagrees with the legacy one on merkle_root: mismatches grow and the match rate drops below 1 (ParityMismatch; POST /coinjecture/rollback ends it)",
    ),
    (
        "replay-bypass",
        "epoch replays get past the replay cache: epoch_replay_bypass_successful_total grows (EpochReplayBypass)",
    ),
    (
        "pin-quorum-loss",
        "ipfs-2 fails every pin: the pin quorum ratio drops to 2/3 and pin failures grow (IPFSPinQuorumLost)",
    ),
    (
        "api-errors",
        "5% of the Go daemon's HTTP requests answer 503 (APIAvailabilityBreach)",
    ),
    (
        "validation-slow",
        "block validation takes over a second at p99 (BlockValidationLatencyHigh)",
    ),
    (
        "memory-leak",
        "the Go daemon's resident memory grows about 5 MiB a second (MemoryLeakSuspected)",
    ),
    (
        "rate-limit-false-positives",
        "about 20% of the rate limiter's blocks are false positives (RateLimitFalsePositives)",
    ),
];

/// The codec modes, by their value in `codec_mode_active`.
pub(crate) const CODEC_MODES: [&str; 4] = [
    "legacy_only",
    "shadow",
    "refactored_primary",
    "refactored_only",
];

/// The codec mode of a healthy network, and the one [`crate::Chaos::heal_all`] restores.
pub(crate) const DEFAULT_CODEC_MODE: i64 = 2;

/// Hardware tiers; node `id` is of tier `id % 3`, with its typical validation time.
const TIERS: [(&str, f64); 3] = [("mobile", 0.045), ("desktop", 0.03), ("server", 0.018)];

/// The dual-run functions: comparisons a second, and the refactored (Rust) path's mean
/// time; the legacy (Python) path takes [`LEGACY_SLOWDOWN`] times as long.
const FUNCTIONS: [(&str, f64, f64); 4] = [
    ("header_hash", 3.0, 0.0002),
    ("merkle_root", 2.0, 0.0015),
    ("tx_codec", 8.0, 0.0004),
    ("state_root", 0.5, 0.004),
];

/// How many times slower the legacy path is than the refactored one.
const LEGACY_SLOWDOWN: f64 = 5.0;

/// The Go daemon's API: endpoint, method, requests a second and typical latency.
const ENDPOINTS: [(&str, &str, f64, f64); 5] = [
    ("/api/v1/blocks", "GET", 6.0, 0.012),
    ("/api/v1/tx", "POST", 4.0, 0.025),
    ("/api/v1/tx", "GET", 2.0, 0.01),
    ("/api/v1/peers", "GET", 1.0, 0.006),
    ("/health", "GET", 0.5, 0.002),
];

/// Every status code the API answers, exposed at zero from the start.
const CODES: [&str; 5] = ["200", "400", "429", "500", "503"];

/// The share of requests that answer 5xx on a healthy network: one in 20,000, a tenth
/// of the 0.05% budget of the 99.95% availability objective.
const STEADY_5XX: f64 = 0.000_05;

/// The share of requests answering 503 under the `api-errors` fault.
const FAULT_503: f64 = 0.05;

/// The share of requests the rate limiter blocks, and how they split by reason.
const BLOCKED: f64 = 0.01;
const BLOCK_REASONS: [(&str, f64); 3] = [("burst", 0.6), ("quota", 0.3), ("abuse", 0.1)];

/// The share of blocks that are false positives, steady and under the fault.
const STEADY_FALSE_POSITIVES: f64 = 0.01;
const FAULT_FALSE_POSITIVES: f64 = 0.2;

/// The IPFS nodes every pin goes to; `pin-quorum-loss` fails the last.
const IPFS_NODES: [&str; 3] = ["ipfs-0", "ipfs-1", "ipfs-2"];

/// The three processes: name, resident memory in MiB, CPU share.
const COMPONENTS: [(&str, f64, f64); 3] = [
    ("consensus_core", 300.0, 0.35),
    ("go_daemon", 150.0, 0.12),
    ("python_shims", 200.0, 0.2),
];

/// Vulnerability severities, with each open finding's cost to the posture score.
const SEVERITIES: [(&str, f64); 4] = [
    ("critical", 25.0),
    ("high", 8.0),
    ("medium", 1.5),
    ("low", 0.5),
];

/// Steps of history the rolling ratios (parity match rate, pin quorum) read: a minute at
/// the usual 1 s tick.
const WINDOW: usize = 60;

/// Blocks per epoch: the replay cache is pruned at each new epoch.
const EPOCH_BLOCKS: u64 = 30;

/// MiB in bytes.
const MIB: f64 = 1024.0 * 1024.0;

/// The network-wide state of the profile.
#[derive(Debug)]
pub(crate) struct World {
    /// The active codec mode, an index of [`CODEC_MODES`].
    pub(crate) codec_mode: i64,
    /// Open findings by component (as [`COMPONENTS`]) and severity (as [`SEVERITIES`]).
    vulnerabilities: [[i64; 4]; 3],
    /// Seconds until the next vulnerability scan changes a finding.
    next_scan: f64,
    /// The posture score's compliance drift (patch age, config checks), 0 to 1.5 points.
    drift: f64,
    /// The composite posture score, 0 to 100.
    posture: f64,
}

impl Default for World {
    fn default() -> Self {
        let mut world = Self {
            codec_mode: DEFAULT_CODEC_MODE,
            vulnerabilities: [[0, 0, 1, 2], [0, 0, 1, 2], [0, 0, 1, 2]],
            next_scan: 300.0,
            drift: 0.5,
            posture: 0.0,
        };
        world.posture = world.score(&Faults::new());
        world
    }
}

impl World {
    /// Rolls the codec back to `legacy_only` and ends the parity fault: the refactored path
    /// no longer serves, so nothing is compared and no mismatch is counted.
    pub(crate) fn rollback(&mut self, faults: &mut Faults) {
        self.codec_mode = 0;
        faults.remove("parity-mismatch");
    }

    /// Sets the codec mode (0 to 3, as [`CODEC_MODES`]).
    pub(crate) fn promote(&mut self, mode: i64) -> Result<(), String> {
        if !(0..CODEC_MODES.len() as i64).contains(&mode) {
            return Err(format!(
                "a codec mode is 0 to 3 ({}), not {mode}",
                CODEC_MODES
                    .iter()
                    .enumerate()
                    .map(|(i, m)| format!("{i} {m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.codec_mode = mode;
        Ok(())
    }

    /// Moves the network-wide state on by `dt` seconds: scans open and close low and
    /// medium findings every few minutes, and the compliance drift wanders.
    fn step(&mut self, dt: f64, faults: &Faults, rng: &mut Rng) {
        self.next_scan -= dt;
        if self.next_scan <= 0.0 {
            self.next_scan = 240.0 + rng.next_f64() * 360.0;
            let component = rng.below(3) as usize;
            let severity = 2 + rng.below(2) as usize;
            let (low, high) = if severity == 2 { (0, 2) } else { (1, 4) };
            let open = &mut self.vulnerabilities[component][severity];
            *open = if rng.chance(0.5) {
                *open + 1
            } else {
                *open - 1
            }
            .clamp(low, high);
        }
        self.drift = (self.drift + (rng.next_f64() - 0.5) * 0.1 * dt.sqrt()).clamp(0.0, 1.5);
        self.posture = self.score(faults);
    }

    /// The composite posture score: 100 less each open finding's cost, the drift, and
    /// the cost of an active exploit or a broken quorum.
    fn score(&self, faults: &Faults) -> f64 {
        let findings: f64 = self
            .vulnerabilities
            .iter()
            .flat_map(|c| {
                c.iter()
                    .zip(SEVERITIES)
                    .map(|(&n, (_, cost))| n as f64 * cost)
            })
            .sum();
        let incidents = if faults.contains("replay-bypass") {
            20.0
        } else {
            0.0
        } + if faults.contains("pin-quorum-loss") {
            5.0
        } else {
            0.0
        };
        (100.0 - findings - self.drift - incidents).clamp(0.0, 100.0)
    }
}

/// A histogram family with fixed buckets.
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// A counter of seconds.
type FloatCounter = Counter<f64, AtomicU64>;

/// One node's COINjecture families.
pub(crate) struct Metrics {
    height: Gauge,
    validation: HistogramFamily,
    header_hash: Histogram,
    merkle_root: Histogram,
    match_rate: FloatGauge,
    comparisons: Family<Labels, Counter>,
    mismatches: Family<Labels, Counter>,
    replay_detected: Counter,
    replay_bypass: Counter,
    memory: Family<Labels, Gauge>,
    cpu: Family<Labels, FloatCounter>,
    http_requests: Family<Labels, Counter>,
    http_duration: HistogramFamily,
    peer_status: Family<Labels, Gauge>,
    pin_quorum: FloatGauge,
    pin_success: Family<Labels, Counter>,
    pin_failure: Family<Labels, Counter>,
    accepted: Counter,
    blocked: Family<Labels, Counter>,
    false_positives: Counter,
    rejections: Family<Labels, Counter>,
    legacy: HistogramFamily,
    refactored: HistogramFamily,
    codec_mode: Gauge,
    codec_requests: Family<Labels, Counter>,
    cache_persist: Histogram,
    replay_cache: Gauge,
    vulnerabilities: Family<Labels, Gauge>,
    posture: FloatGauge,
    /// The node's hardware tier, an index of [`TIERS`].
    tier: usize,
    /// Comparisons and mismatches of the last [`WINDOW`] steps.
    parity: VecDeque<(u64, u64)>,
    /// Pin replicas made and failed in the last [`WINDOW`] steps.
    pins: VecDeque<(u64, u64)>,
    /// Each process's resident memory in MiB, leak aside.
    resident: [f64; 3],
    /// What the Go daemon has leaked, in MiB.
    leaked: f64,
    disconnected: i64,
    banned: i64,
    cache_entries: i64,
    epoch: u64,
    /// Accumulators pacing the rare events: 5xx answers and false positives. Each node
    /// starts at its own phase, so that the nodes' rare events do not all fall together.
    carry_5xx: f64,
    carry_false_positives: f64,
    /// Whether the node has made its first step (and taken its phase).
    started: bool,
}

/// Buckets of block validation and of API latency, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Buckets of header hashing, in seconds.
const HEADER_HASH_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01];
/// Buckets of the merkle root computation, in seconds.
const MERKLE_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05];
/// Buckets of the cache's persistence, in seconds.
const PERSIST_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5];

impl Metrics {
    /// Registers the families in `registry`, every known label set at zero.
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegisterError> {
        let m = Self {
            height: Gauge::default(),
            validation: Family::new_with_constructor(|| histogram(LATENCY_BUCKETS)),
            header_hash: histogram(HEADER_HASH_BUCKETS),
            merkle_root: histogram(MERKLE_BUCKETS),
            match_rate: FloatGauge::default(),
            comparisons: Family::default(),
            mismatches: Family::default(),
            replay_detected: Counter::default(),
            replay_bypass: Counter::default(),
            memory: Family::default(),
            cpu: Family::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(|| histogram(LATENCY_BUCKETS)),
            peer_status: Family::default(),
            pin_quorum: FloatGauge::default(),
            pin_success: Family::default(),
            pin_failure: Family::default(),
            accepted: Counter::default(),
            blocked: Family::default(),
            false_positives: Counter::default(),
            rejections: Family::default(),
            legacy: Family::new_with_constructor(|| histogram(buckets::DURATION_SECONDS)),
            refactored: Family::new_with_constructor(|| histogram(buckets::DURATION_SECONDS)),
            codec_mode: Gauge::default(),
            codec_requests: Family::default(),
            cache_persist: histogram(PERSIST_BUCKETS),
            replay_cache: Gauge::default(),
            vulnerabilities: Family::default(),
            posture: FloatGauge::default(),
            tier: 0,
            parity: VecDeque::with_capacity(WINDOW + 1),
            pins: VecDeque::with_capacity(WINDOW + 1),
            resident: COMPONENTS.map(|(_, mib, _)| mib),
            leaked: 0.0,
            disconnected: 1,
            banned: 0,
            cache_entries: 400,
            epoch: 0,
            carry_5xx: 0.0,
            carry_false_positives: 0.0,
            started: false,
        };
        let r = registry;
        // Consensus core.
        r.register(
            "consensus_block_height",
            "Height of the node's chain.",
            m.height.clone(),
        )?;
        r.register(
            "block_validation_duration_seconds",
            "Time to validate a block, by hardware tier.",
            m.validation.clone(),
        )?;
        r.register(
            "header_hash_duration_seconds",
            "Time to hash a block header.",
            m.header_hash.clone(),
        )?;
        r.register(
            "merkle_root_duration_seconds",
            "Time to compute a merkle root.",
            m.merkle_root.clone(),
        )?;
        r.register(
            "dual_run_parity_match_rate",
            "Share of dual-run comparisons of the last minute where legacy and refactored agree (1 when none ran).",
            m.match_rate.clone(),
        )?;
        r.register(
            "dual_run_comparisons",
            "Dual-run comparisons of the legacy and refactored paths, by function.",
            m.comparisons.clone(),
        )?;
        r.register(
            "dual_run_mismatches",
            "Dual-run comparisons where the legacy and refactored paths disagree, by function.",
            m.mismatches.clone(),
        )?;
        r.register(
            "epoch_replay_detected",
            "Epoch replays caught by the replay cache.",
            m.replay_detected.clone(),
        )?;
        r.register(
            "epoch_replay_bypass_successful",
            "Epoch replays that got past the replay cache.",
            m.replay_bypass.clone(),
        )?;
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of each COINjecture process.",
            m.memory.clone(),
        )?;
        r.register(
            "process_cpu_seconds",
            "CPU time of each COINjecture process.",
            m.cpu.clone(),
        )?;
        // Go daemon.
        r.register(
            "http_requests",
            "Requests the Go daemon's API answered, by endpoint, method and status code.",
            m.http_requests.clone(),
        )?;
        r.register(
            "http_request_duration_seconds",
            "Latency of the Go daemon's API, by endpoint.",
            m.http_duration.clone(),
        )?;
        r.register("p2p_peer_status", "Peers by status.", m.peer_status.clone())?;
        r.register(
            "ipfs_pin_quorum_success_ratio",
            "Share of the last minute's pin replicas that succeeded (1 when none were made).",
            m.pin_quorum.clone(),
        )?;
        r.register(
            "ipfs_pin_success",
            "Pins that succeeded, by IPFS node.",
            m.pin_success.clone(),
        )?;
        r.register(
            "ipfs_pin_failure",
            "Pins that failed, by IPFS node.",
            m.pin_failure.clone(),
        )?;
        r.register(
            "rate_limit_accepted",
            "Requests the rate limiter let through.",
            m.accepted.clone(),
        )?;
        r.register(
            "rate_limit_blocked",
            "Requests the rate limiter blocked, by reason.",
            m.blocked.clone(),
        )?;
        r.register(
            "rate_limit_false_positives",
            "Blocked requests later found legitimate.",
            m.false_positives.clone(),
        )?;
        r.register(
            "security_layer_rejections",
            "Requests rejected, by the security layer that rejected them.",
            m.rejections.clone(),
        )?;
        // Python shims.
        r.register(
            "dual_run_legacy_duration_seconds",
            "Latency of the legacy (Python) path, by function.",
            m.legacy.clone(),
        )?;
        r.register(
            "dual_run_refactored_duration_seconds",
            "Latency of the refactored (Rust) path, by function.",
            m.refactored.clone(),
        )?;
        r.register(
            "codec_mode_active",
            "The active codec mode: 0 legacy_only, 1 shadow, 2 refactored_primary, 3 refactored_only.",
            m.codec_mode.clone(),
        )?;
        r.register(
            "codec_mode_requests",
            "Requests served, by the codec mode that served them.",
            m.codec_requests.clone(),
        )?;
        r.register(
            "cache_persist_duration_seconds",
            "Time to persist the replay cache.",
            m.cache_persist.clone(),
        )?;
        r.register(
            "epoch_replay_cache_size",
            "Entries in the epoch replay cache.",
            m.replay_cache.clone(),
        )?;
        // Security posture.
        r.register(
            "security_vulnerabilities",
            "Open findings of the last vulnerability scan, by component and severity.",
            m.vulnerabilities.clone(),
        )?;
        r.register(
            "security_posture_score",
            "Composite security posture score, 0 to 100.",
            m.posture.clone(),
        )?;
        // Known label sets at zero from the start: a rate of mismatches or failures is 0,
        // not absent, before the first one.
        for (function, _, _) in FUNCTIONS {
            let l = label("function", function);
            let _ = m.comparisons.get_or_create(&l);
            let _ = m.mismatches.get_or_create(&l);
        }
        for (endpoint, method, _, _) in ENDPOINTS {
            for code in CODES {
                let _ = m
                    .http_requests
                    .get_or_create(&http_labels(endpoint, method, code));
            }
        }
        for node in IPFS_NODES {
            let _ = m.pin_success.get_or_create(&label("ipfs_node", node));
            let _ = m.pin_failure.get_or_create(&label("ipfs_node", node));
        }
        for (reason, _) in BLOCK_REASONS {
            let _ = m.blocked.get_or_create(&label("reason", reason));
        }
        for layer in ["signature", "epoch_replay", "rate_limit", "schema"] {
            let _ = m.rejections.get_or_create(&label("layer", layer));
        }
        for mode in CODEC_MODES {
            let _ = m.codec_requests.get_or_create(&label("mode", mode));
        }
        m.match_rate.set(1.0);
        m.pin_quorum.set(1.0);
        m.codec_mode.set(DEFAULT_CODEC_MODE);
        Ok(m)
    }

    /// Moves the families on by one step of `node`. The first node's step also moves the
    /// network-wide `world`, once a tick; a node that is down moves nothing of its own.
    pub(crate) fn step(
        &mut self,
        node: &NodeView,
        world: &mut World,
        faults: &Faults,
        rng: &mut Rng,
    ) {
        let dt = node.dt;
        if node.id == 0 {
            world.step(dt, faults, rng);
        }
        if !node.alive {
            return;
        }
        if !self.started {
            // The node's phase, spread by the golden ratio.
            self.started = true;
            let phase = (node.id as f64 * 0.618_034).fract();
            self.carry_5xx = phase;
            self.carry_false_positives = phase;
        }
        self.tier = node.id % TIERS.len();
        self.height
            .set(i64::try_from(node.height).unwrap_or(i64::MAX));
        self.consensus(node, faults, rng);
        self.dual_run(dt, world.codec_mode, faults, rng);
        let requests = self.api(dt, faults, rng);
        self.codec_mode.set(world.codec_mode);
        let mode = CODEC_MODES
            .get(usize::try_from(world.codec_mode).unwrap_or(0))
            .copied()
            .unwrap_or(CODEC_MODES[0]);
        self.codec_requests
            .get_or_create(&label("mode", mode))
            .inc_by(requests);
        self.security(node, faults, rng);
        self.pinning(node, faults, rng);
        self.processes(dt, faults, rng);
        self.peers(node, rng);
        for (c, (component, _, _)) in COMPONENTS.iter().enumerate() {
            for (s, (severity, _)) in SEVERITIES.iter().enumerate() {
                self.vulnerabilities
                    .get_or_create(&labels2("component", component, "severity", severity))
                    .set(world.vulnerabilities[c][s]);
            }
        }
        self.posture.set(world.posture);
    }

    /// Block validation per imported block, header hashing, merkle roots and the replay
    /// cache's persistence.
    fn consensus(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng) {
        let dt = node.dt;
        if node.imported.is_some() {
            let (tier, typical) = TIERS[self.tier];
            let took = if faults.contains("validation-slow") {
                1.1 + rng.exponential(0.6)
            } else {
                typical * 0.7 + rng.exponential(typical * 0.3)
            };
            self.validation
                .get_or_create(&label("tier", tier))
                .observe(took);
        }
        for _ in 0..poisson(rng, dt * 4.0) {
            self.header_hash.observe(0.00012 + rng.exponential(0.00018));
        }
        for _ in 0..poisson(rng, dt * 2.0) {
            self.merkle_root.observe(0.0009 + rng.exponential(0.0015));
        }
        for _ in 0..poisson(rng, dt * 2.0) {
            self.cache_persist.observe(0.0015 + rng.exponential(0.004));
        }
    }

    /// The dual run: in shadow and refactored_primary modes both paths run and are
    /// compared; legacy_only runs the legacy path alone, refactored_only the refactored.
    fn dual_run(&mut self, dt: f64, mode: i64, faults: &Faults, rng: &mut Rng) {
        let legacy_runs = mode <= 2;
        let refactored_runs = mode >= 1;
        let compares = legacy_runs && refactored_runs;
        let (mut compared, mut mismatched) = (0, 0);
        for (function, per_second, mean) in FUNCTIONS {
            let n = poisson(rng, dt * per_second);
            let l = label("function", function);
            if legacy_runs {
                let legacy = self.legacy.get_or_create(&l);
                for _ in 0..n {
                    legacy.observe(mean * LEGACY_SLOWDOWN * (0.5 + rng.exponential(0.5)));
                }
            }
            if refactored_runs {
                let refactored = self.refactored.get_or_create(&l);
                for _ in 0..n {
                    refactored.observe(mean * (0.5 + rng.exponential(0.5)));
                }
            }
            if !compares || n == 0 {
                continue;
            }
            self.comparisons.get_or_create(&l).inc_by(n);
            compared += n;
            if function == "merkle_root" && faults.contains("parity-mismatch") {
                // About one merkle root in twenty disagrees, and at least one a step.
                let m = poisson(rng, n as f64 * 0.05).clamp(1, n);
                self.mismatches.get_or_create(&l).inc_by(m);
                mismatched += m;
            }
        }
        self.parity.push_back((compared, mismatched));
        if self.parity.len() > WINDOW {
            self.parity.pop_front();
        }
        let (c, m) = self
            .parity
            .iter()
            .fold((0, 0), |(c, m), &(dc, dm)| (c + dc, m + dm));
        self.match_rate.set(if c == 0 {
            1.0
        } else {
            1.0 - m as f64 / c as f64
        });
    }

    /// The Go daemon's API and its rate limiter; returns the requests served.
    fn api(&mut self, dt: f64, faults: &Faults, rng: &mut Rng) -> u64 {
        let false_positive_share = if faults.contains("rate-limit-false-positives") {
            FAULT_FALSE_POSITIVES
        } else {
            STEADY_FALSE_POSITIVES
        };
        let mut served = 0;
        for (endpoint, method, per_second, typical) in ENDPOINTS {
            let n = poisson(rng, dt * per_second);
            let mut left = n;
            let limited = endpoint != "/health";
            let blocked = if limited {
                poisson(rng, n as f64 * BLOCKED).min(left)
            } else {
                0
            };
            left -= blocked;
            for _ in 0..blocked {
                let draw = rng.next_f64();
                let mut at = 0.0;
                let reason = BLOCK_REASONS
                    .iter()
                    .find(|(_, share)| {
                        at += share;
                        draw < at
                    })
                    .map_or("abuse", |(r, _)| r);
                self.blocked.get_or_create(&label("reason", reason)).inc();
            }
            if blocked > 0 {
                self.rejections
                    .get_or_create(&label("layer", "rate_limit"))
                    .inc_by(blocked);
                self.carry_false_positives +=
                    blocked as f64 * false_positive_share * (0.5 + rng.next_f64());
                let whole = self.carry_false_positives.floor();
                self.carry_false_positives -= whole;
                self.false_positives.inc_by(whole as u64);
            }
            if limited {
                self.accepted.inc_by(n - blocked);
            }
            // 5xx: a steady trickle, paced so that no five minutes hold a burst, and 503s
            // under the fault.
            self.carry_5xx += left as f64 * STEADY_5XX * (0.5 + rng.next_f64());
            let mut failed = (self.carry_5xx.floor() as u64).min(left);
            self.carry_5xx -= failed as f64;
            let steady_failed = failed;
            let unavailable = if faults.contains("api-errors") {
                poisson(rng, left as f64 * FAULT_503).min(left - failed)
            } else {
                0
            };
            failed += unavailable;
            left -= failed;
            let invalid = if method == "POST" {
                poisson(rng, n as f64 * 0.005).min(left)
            } else {
                0
            };
            left -= invalid;
            if invalid > 0 {
                self.rejections
                    .get_or_create(&label("layer", "schema"))
                    .inc_by(invalid);
            }
            let (code500, code503) = if steady_failed > 0 && rng.chance(0.5) {
                (steady_failed, unavailable)
            } else {
                (0, unavailable + steady_failed)
            };
            for (code, count) in [
                ("200", left),
                ("400", invalid),
                ("429", blocked),
                ("500", code500),
                ("503", code503),
            ] {
                if count > 0 {
                    self.http_requests
                        .get_or_create(&http_labels(endpoint, method, code))
                        .inc_by(count);
                }
            }
            let duration = self
                .http_duration
                .get_or_create(&label("endpoint", endpoint));
            for _ in 0..n {
                duration.observe(typical * 0.6 + rng.exponential(typical * 0.5));
            }
            served += n;
        }
        served
    }

    /// Epoch-replay protection: replays caught (a few an hour, many more while an attack
    /// gets through), bypasses, signature rejections and the replay cache.
    fn security(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng) {
        let dt = node.dt;
        let attacked = faults.contains("replay-bypass");
        let detected = poisson(rng, dt * if attacked { 0.3 } else { 3.0 / 3600.0 });
        self.replay_detected.inc_by(detected);
        self.rejections
            .get_or_create(&label("layer", "epoch_replay"))
            .inc_by(detected);
        if attacked {
            self.replay_bypass.inc_by(poisson(rng, dt * 0.1));
        }
        self.rejections
            .get_or_create(&label("layer", "signature"))
            .inc_by(poisson(rng, dt * 0.05));
        let epoch = node.height / EPOCH_BLOCKS;
        if epoch != self.epoch {
            // A new epoch prunes the entries of the one before last.
            self.epoch = epoch;
            self.cache_entries /= 3;
        }
        self.cache_entries += i64::try_from(poisson(rng, dt * 12.0)).unwrap_or(0);
        self.replay_cache.set(self.cache_entries);
    }

    /// IPFS pinning: each pin goes to every IPFS node, about one a second and one per
    /// imported block.
    fn pinning(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng) {
        let pins = poisson(rng, node.dt) + u64::from(node.imported.is_some());
        let lost = faults.contains("pin-quorum-loss");
        let (mut made, mut failed) = (0, 0);
        for (i, ipfs) in IPFS_NODES.iter().enumerate() {
            let l = label("ipfs_node", ipfs);
            if lost && i == IPFS_NODES.len() - 1 {
                self.pin_failure.get_or_create(&l).inc_by(pins);
                failed += pins;
            } else {
                self.pin_success.get_or_create(&l).inc_by(pins);
                made += pins;
            }
        }
        self.pins.push_back((made, failed));
        if self.pins.len() > WINDOW {
            self.pins.pop_front();
        }
        let (ok, bad) = self
            .pins
            .iter()
            .fold((0, 0), |(o, b), &(dm, df)| (o + dm, b + df));
        self.pin_quorum.set(if ok + bad == 0 {
            1.0
        } else {
            ok as f64 / (ok + bad) as f64
        });
    }

    /// The three processes' memory (with the leak) and CPU.
    fn processes(&mut self, dt: f64, faults: &Faults, rng: &mut Rng) {
        let leaking = faults.contains("memory-leak");
        // A leak ends with a restart of the daemon when the fault goes.
        self.leaked = if leaking {
            self.leaked + 5.0 * dt * (0.8 + 0.4 * rng.next_f64())
        } else {
            0.0
        };
        for (i, (component, base, cpu)) in COMPONENTS.iter().enumerate() {
            let l = label("component", component);
            let resident = &mut self.resident[i];
            // Pulled back towards its base (at most all the way, for a long step), with noise.
            *resident +=
                (base - *resident) * (0.05 * dt).min(1.0) + (rng.next_f64() - 0.5) * base * 0.02;
            let leak = if *component == "go_daemon" {
                self.leaked
            } else {
                0.0
            };
            self.memory
                .get_or_create(&l)
                .set(((*resident + leak) * MIB) as i64);
            let busy = if leaking && *component == "go_daemon" {
                2.0
            } else {
                1.0
            };
            self.cpu
                .get_or_create(&l)
                .inc_by(dt * cpu * busy * (0.7 + 0.6 * rng.next_f64()));
        }
    }

    /// Peers by status: connected as the node's own P2P layer says, a few disconnected
    /// and, now and then, one banned.
    fn peers(&mut self, node: &NodeView, rng: &mut Rng) {
        if rng.chance(0.2 * node.dt) {
            self.disconnected =
                (self.disconnected + if rng.chance(0.5) { 1 } else { -1 }).clamp(0, 4);
        }
        if rng.chance(0.01 * node.dt) {
            self.banned = (self.banned + if rng.chance(0.5) { 1 } else { -1 }).clamp(0, 2);
        }
        for (status, count) in [
            ("connected", node.peers),
            ("disconnected", self.disconnected),
            ("banned", self.banned),
        ] {
            self.peer_status
                .get_or_create(&label("status", status))
                .set(count);
        }
    }
}

/// The labels of an API request.
fn http_labels(endpoint: &str, method: &str, code: &str) -> Labels {
    vec![
        ("code", code.to_owned()),
        ("endpoint", endpoint.to_owned()),
        ("method", method.to_owned()),
    ]
}

/// A Poisson draw of mean `mean`: exact (Knuth's) below 30, where the generator's normal
/// approximation would round rare events away, and that approximation above.
fn poisson(rng: &mut Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean >= 30.0 {
        return rng.count(mean);
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.next_f64();
    while p > limit {
        k += 1;
        p *= rng.next_f64();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_draws_have_their_mean_even_when_rare() {
        let mut rng = Rng::new(3);
        for mean in [0.01, 0.5, 4.0, 50.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| poisson(&mut rng, mean)).sum();
            let got = total as f64 / n as f64;
            assert!(
                (got - mean).abs() < mean * 0.1 + 0.005,
                "mean {mean}: drew {got}"
            );
        }
    }

    #[test]
    fn promote_refuses_unknown_modes_and_rollback_ends_the_parity_fault() {
        let mut world = World::default();
        assert_eq!(world.codec_mode, 2);
        assert!(world.promote(4).unwrap_err().contains("0 to 3"));
        let mut faults = Faults::new();
        faults.insert("parity-mismatch");
        world.rollback(&mut faults);
        assert_eq!(world.codec_mode, 0);
        assert!(faults.is_empty());
        world.promote(2).unwrap();
        assert_eq!(world.codec_mode, 2);
    }

    #[test]
    fn the_nodes_rare_5xx_do_not_fall_together() {
        // Twenty nodes from their first step at the demo's 1 s tick, for half an hour.
        let mut rng = Rng::new(1);
        let mut world = World::default();
        let faults = Faults::new();
        let mut nodes: Vec<Metrics> = (0..20)
            .map(|_| Metrics::register(&Registry::new()).unwrap())
            .collect();
        let failed = |nodes: &[Metrics]| -> u64 {
            let mut total = 0;
            for m in nodes {
                for (endpoint, method, _, _) in ENDPOINTS {
                    for code in ["500", "503"] {
                        total += m
                            .http_requests
                            .get_or_create(&http_labels(endpoint, method, code))
                            .get();
                    }
                }
            }
            total
        };
        let mut windows = Vec::new();
        for step in 0..1800_u64 {
            if step % 300 == 0 {
                windows.push(failed(&nodes));
            }
            for (id, m) in nodes.iter_mut().enumerate() {
                let view = NodeView {
                    id,
                    nodes: 20,
                    alive: true,
                    stalled: false,
                    height: step / 2,
                    head: step / 2,
                    peers: 12,
                    imported: (step % 2 == 0).then_some(2.0),
                    dt: 1.0,
                };
                m.step(&view, &mut world, &faults, &mut rng);
            }
        }
        windows.push(failed(&nodes));
        let per_window: Vec<u64> = windows.windows(2).map(|w| w[1] - w[0]).collect();
        // About four in five minutes (20 nodes, ~4,000 requests each, one in 20,000):
        // twenty at once is every node's pacing in step.
        assert!(per_window.iter().all(|&n| n <= 10), "{per_window:?}");
        assert!(per_window.iter().sum::<u64>() >= 10, "{per_window:?}");
    }

    #[test]
    fn the_steady_posture_score_is_about_92() {
        let world = World::default();
        assert!((90.0..=95.0).contains(&world.posture), "{}", world.posture);
    }
}
