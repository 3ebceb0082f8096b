//! The VirtEngine profile (the seeds' 003): a CometBFT chain with marketplace, escrow,
//! identity (VEID) and ML inference modules, and a provider daemon.
//!
//! Every node is a validator running the modules and a provider daemon, in a Kubernetes
//! pod (`virtengine-node-NN-0`) on a machine of its own, so it also exposes what
//! node_exporter, kube-state-metrics and cAdvisor would say of them. See
//! `docs/profiles/virtengine.md` for every family, its labels, its steady value and the
//! faults that move it.
//!
//! The values are drawn from the network (heights, peers, imported blocks), the
//! network-wide [`World`] (the validator set, the contents of each block, a clock for
//! slow waves) and the simulation's one generator, so a seed replays the same run.

use std::f64::consts::TAU;
use std::sync::atomic::AtomicU64;

use skywatch_sdk::metrics::{
    Counter, Family, Gauge, Histogram, RegisterError, Registry, histogram,
};

use crate::metrics::{FloatGauge, Labels, label, labels2};
use crate::profile::{Faults, NodeView};
use crate::rng::Rng;

/// The faults of this profile: name and what turning it on does.
pub(crate) const FAULTS: &[(&str, &str)] = &[
    (
        "consensus-stall",
        "the chain halts: no node's height moves (ConsensusStalled)",
    ),
    (
        "validator-down",
        "the validators of the first ceil(n/3)+1 nodes stop signing (ValidatorDown)",
    ),
    (
        "escrow-low",
        "every node's escrow balance drains below 1,000 tokens within a minute (EscrowBalanceLow)",
    ),
    (
        "inference-timeouts",
        "about 20% of ML inferences time out (MLInferenceTimeout)",
    ),
    (
        "provider-failures",
        "about 30% of workload starts fail, and the daemon retries them at once (ProviderHighFailureRate)",
    ),
    (
        "veid-backlog",
        "identity verifications stall: the queue grows past 100 and verdicts take over 10 s (VEIDVerificationQueue, SLOVEIDResponseTime)",
    ),
    (
        "tx-latency",
        "transactions wait: p99 submit-to-commit latency past 5 s (HighTransactionLatency)",
    ),
];

/// The fault that halts the chain; the network's tick reads it.
pub(crate) const CONSENSUS_STALL: &str = "consensus-stall";

/// Each validator's voting power.
const POWER: i64 = 10;

/// Users of the identity module, `u000` to `u049`.
const USERS: usize = 50;

/// ML models, with their requests a second per node and mean latency beyond a floor.
const MODELS: [(&str, f64, f64, f64); 3] = [
    ("fraud-score", 3.0, 0.008, 0.02),
    ("face-match", 1.5, 0.05, 0.12),
    ("doc-ocr", 1.2, 0.2, 0.4),
];

/// An inference that takes this long times out.
const INFERENCE_TIMEOUT: f64 = 5.0;

/// Workload states.
const WORKLOAD_STATES: [&str; 4] = ["running", "pending", "completed", "failed"];

/// Pod phases, as kube-state-metrics lists them.
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// CPU modes of node_exporter that the dashboards read.
const CPU_MODES: [&str; 4] = ["idle", "user", "system", "iowait"];

/// The pod's containers.
const CONTAINERS: [&str; 2] = ["virtengine", "provider-daemon"];

/// Cores of each machine.
const CPUS: usize = 4;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The machine's memory.
const MEM_TOTAL: f64 = 16.0 * GIB;

/// The root filesystem's size.
const FS_SIZE: f64 = 500.0 * GIB;

/// What each block adds to the root filesystem (blocks, state, indexes).
const BYTES_PER_BLOCK: f64 = 512.0 * 1024.0;

const BLOCK_INTERVAL_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0];
const TX_LATENCY_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];
const VEID_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];
const LEASE_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const INFERENCE_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const RTT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

type FloatCounter = Counter<f64, AtomicU64>;

/// The network-wide state of the profile.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// Simulated seconds since the start, for slow waves (node 0 moves it on).
    clock: f64,
    /// Whether each node ran at its last step.
    alive: Vec<bool>,
    /// The height whose block the fields below describe.
    block: u64,
    /// Transactions in that block.
    block_txs: u64,
    /// Its size.
    block_bytes: u64,
    /// Consensus rounds it took.
    block_rounds: i64,
    /// Which validators did not sign it.
    missed: Vec<bool>,
}

impl World {
    /// The validators that stop signing under `validator-down`: those of the first
    /// ceil(n/3)+1 nodes, more than a third of the set.
    fn down(nodes: usize) -> usize {
        (nodes.div_ceil(3) + 1).min(nodes)
    }

    /// Draws the block at `height` once, when the first node imports it.
    fn draw_block(&mut self, height: u64, nodes: usize, faults: &Faults, rng: &mut Rng) {
        if height <= self.block {
            return;
        }
        self.block = height;
        // About 40 transactions a block, in a slow wave over half an hour.
        let mean = 40.0 * (1.0 + 0.3 * (self.clock * TAU / 1800.0).sin());
        self.block_txs = rng.count(mean);
        self.block_bytes = 1_500 + self.block_txs * (300 + rng.below(120));
        let down = faults.contains("validator-down");
        self.block_rounds = if down {
            1 + rng.below(3) as i64
        } else {
            i64::from(rng.chance(0.1))
        };
        self.missed.resize(nodes, false);
        let first_down = if down { World::down(nodes) } else { 0 };
        for (id, missed) in self.missed.iter_mut().enumerate() {
            let online = self.alive.get(id).copied().unwrap_or(true) && id >= first_down;
            *missed = !online || rng.chance(0.004);
        }
    }

    /// The validators online (running and signing).
    fn online(&self, nodes: usize, faults: &Faults) -> usize {
        let first_down = if faults.contains("validator-down") {
            World::down(nodes)
        } else {
            0
        };
        (0..nodes)
            .filter(|&id| id >= first_down && self.alive.get(id).copied().unwrap_or(true))
            .count()
    }
}

/// A Poisson draw of mean `mean` (the generator's normal approximation above 30).
fn poisson(rng: &mut Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        return rng.count(mean);
    }
    let limit = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.next_f64();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// Uniform noise in [-1, 1).
fn noise(rng: &mut Rng) -> f64 {
    rng.next_f64() * 2.0 - 1.0
}

/// A gauge's value moved towards `target` by `pull` a second, with `jitter` of noise.
fn drift(rng: &mut Rng, value: f64, target: f64, pull: f64, jitter: f64, dt: f64) -> f64 {
    value + (target - value) * (pull * dt).min(1.0) + noise(rng) * jitter * dt.sqrt()
}

/// One node's VirtEngine families.
pub(crate) struct Metrics {
    // Consensus.
    height: Gauge,
    block_interval: Histogram,
    validators: Gauge,
    validators_power: Gauge,
    total_voting_power: Gauge,
    missing_validators: Gauge,
    missing_validators_power: Gauge,
    validator_ready: Gauge,
    validator_missed_blocks: Gauge,
    rounds: Gauge,
    num_txs: Gauge,
    total_txs: Gauge,
    block_size: Gauge,
    peers: Gauge,
    mempool_size: Gauge,
    mempool_failed: Gauge,
    syncing: Gauge,
    tx_latency: Histogram,
    // VEID.
    veid_submissions: Counter,
    veid_verifications: Family<Labels, Counter>,
    veid_verified: Family<Labels, Counter>,
    veid_pending: Gauge,
    veid_seconds: Histogram,
    user_transactions: Family<Labels, Counter>,
    // Market and escrow.
    orders_active: Gauge,
    leases_active: Gauge,
    bids_active: Gauge,
    orders_created: Gauge,
    orders_matched: Gauge,
    order_value: Family<Labels, FloatCounter>,
    escrow_balance: FloatGauge,
    settlements: FloatCounter,
    escrow_accounts: Gauge,
    // Provider daemon.
    provider_status: Family<Labels, Gauge>,
    provider_bids: Counter,
    provider_bids_won: Gauge,
    workloads: Family<Labels, Gauge>,
    workload_starts: Gauge,
    workload_failures: Gauge,
    provider_cpu: FloatGauge,
    provider_memory: FloatGauge,
    lease_operations: Family<Labels, Histogram>,
    // ML inference.
    inferences: Family<Labels, Counter>,
    inference_seconds: Family<Labels, Histogram>,
    inference_timeouts: Family<Labels, Counter>,
    inference_queue: Gauge,
    // Infrastructure.
    cpu_seconds: Family<Labels, FloatCounter>,
    mem_available: FloatGauge,
    fs_size: Family<Labels, FloatGauge>,
    fs_avail: Family<Labels, FloatGauge>,
    pod_phase: Family<Labels, Gauge>,
    net_receive: Family<Labels, Counter>,
    net_transmit: Family<Labels, Counter>,
    load1: FloatGauge,
    restarts: Family<Labels, Counter>,
    container_cpu: Family<Labels, FloatCounter>,
    container_memory: Family<Labels, FloatGauge>,
    p2p_receive: Family<Labels, Counter>,
    p2p_send: Family<Labels, Counter>,
    p2p_rtt: Histogram,
    state: State,
}

/// What a node remembers between steps.
struct State {
    /// The node's name, as its pod's says it.
    pod: String,
    /// Its place in the slow waves, so that nodes differ.
    phase: f64,
    /// Whether it ran at its last step (a dead-then-alive node restarted).
    was_alive: bool,
    height: u64,
    missed: i64,
    total_txs: i64,
    mempool: f64,
    mempool_failed: i64,
    pending: i64,
    orders_active: i64,
    orders_created: i64,
    orders_matched: i64,
    leases: i64,
    escrow: f64,
    bids_won: i64,
    running: i64,
    completed: f64,
    failed: f64,
    starts: i64,
    failures: i64,
    cpu: f64,
    memory: f64,
    machine_cpu: f64,
    available: f64,
    logs: f64,
}

fn hist(buckets: &'static [f64]) -> Histogram {
    histogram(buckets)
}

impl Metrics {
    /// Registers the families in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegisterError> {
        let m = Self {
            height: Gauge::default(),
            block_interval: hist(BLOCK_INTERVAL_BUCKETS),
            validators: Gauge::default(),
            validators_power: Gauge::default(),
            total_voting_power: Gauge::default(),
            missing_validators: Gauge::default(),
            missing_validators_power: Gauge::default(),
            validator_ready: Gauge::default(),
            validator_missed_blocks: Gauge::default(),
            rounds: Gauge::default(),
            num_txs: Gauge::default(),
            total_txs: Gauge::default(),
            block_size: Gauge::default(),
            peers: Gauge::default(),
            mempool_size: Gauge::default(),
            mempool_failed: Gauge::default(),
            syncing: Gauge::default(),
            tx_latency: hist(TX_LATENCY_BUCKETS),
            veid_submissions: Counter::default(),
            veid_verifications: Family::default(),
            veid_verified: Family::default(),
            veid_pending: Gauge::default(),
            veid_seconds: hist(VEID_BUCKETS),
            user_transactions: Family::default(),
            orders_active: Gauge::default(),
            leases_active: Gauge::default(),
            bids_active: Gauge::default(),
            orders_created: Gauge::default(),
            orders_matched: Gauge::default(),
            order_value: Family::default(),
            escrow_balance: FloatGauge::default(),
            settlements: FloatCounter::default(),
            escrow_accounts: Gauge::default(),
            provider_status: Family::default(),
            provider_bids: Counter::default(),
            provider_bids_won: Gauge::default(),
            workloads: Family::default(),
            workload_starts: Gauge::default(),
            workload_failures: Gauge::default(),
            provider_cpu: FloatGauge::default(),
            provider_memory: FloatGauge::default(),
            lease_operations: Family::new_with_constructor(|| histogram(LEASE_BUCKETS)),
            inferences: Family::default(),
            inference_seconds: Family::new_with_constructor(|| histogram(INFERENCE_BUCKETS)),
            inference_timeouts: Family::default(),
            inference_queue: Gauge::default(),
            cpu_seconds: Family::default(),
            mem_available: FloatGauge::default(),
            fs_size: Family::default(),
            fs_avail: Family::default(),
            pod_phase: Family::default(),
            net_receive: Family::default(),
            net_transmit: Family::default(),
            load1: FloatGauge::default(),
            restarts: Family::default(),
            container_cpu: Family::default(),
            container_memory: Family::default(),
            p2p_receive: Family::default(),
            p2p_send: Family::default(),
            p2p_rtt: hist(RTT_BUCKETS),
            state: State {
                pod: String::new(),
                phase: 0.0,
                was_alive: true,
                height: 0,
                missed: 0,
                // Running counts start where a node that has run for a while would be.
                total_txs: 0,
                mempool: 60.0,
                mempool_failed: 0,
                pending: 20,
                orders_active: 20,
                orders_created: 0,
                orders_matched: 0,
                leases: 580,
                escrow: 5e9,
                bids_won: 0,
                running: 120,
                completed: 40.0,
                failed: 1.0,
                starts: 0,
                failures: 0,
                cpu: 0.5,
                memory: 0.55,
                machine_cpu: 0.3,
                available: 0.45 * MEM_TOTAL,
                logs: 2.0 * GIB,
            },
        };
        let r = registry;
        // Consensus, with CometBFT's names.
        r.register(
            "cometbft_consensus_height",
            "Height of the chain.",
            m.height.clone(),
        )?;
        r.register(
            "cometbft_consensus_block_interval_seconds",
            "Time between this and the last block.",
            m.block_interval.clone(),
        )?;
        r.register(
            "cometbft_consensus_validators",
            "Number of validators.",
            m.validators.clone(),
        )?;
        r.register(
            "cometbft_consensus_validators_power",
            "Voting power of the validators this node sees online.",
            m.validators_power.clone(),
        )?;
        r.register(
            "cometbft_consensus_total_voting_power",
            "Voting power of the whole validator set.",
            m.total_voting_power.clone(),
        )?;
        r.register(
            "cometbft_consensus_missing_validators",
            "Number of validators who did not sign the last block.",
            m.missing_validators.clone(),
        )?;
        r.register(
            "cometbft_consensus_missing_validators_power",
            "Voting power of the validators who did not sign the last block.",
            m.missing_validators_power.clone(),
        )?;
        r.register(
            "cometbft_consensus_validator_ready",
            "1 while this node's validator signs blocks, else 0.",
            m.validator_ready.clone(),
        )?;
        r.register(
            "cometbft_consensus_validator_missed_blocks",
            "Blocks this node's validator did not sign.",
            m.validator_missed_blocks.clone(),
        )?;
        r.register(
            "cometbft_consensus_rounds",
            "Number of rounds of the last height.",
            m.rounds.clone(),
        )?;
        r.register(
            "cometbft_consensus_num_txs",
            "Number of transactions in the last block.",
            m.num_txs.clone(),
        )?;
        r.register(
            "cometbft_consensus_total_txs",
            "Total number of transactions committed.",
            m.total_txs.clone(),
        )?;
        r.register(
            "cometbft_consensus_block_size_bytes",
            "Size of the last block.",
            m.block_size.clone(),
        )?;
        r.register(
            "cometbft_p2p_peers",
            "Number of connected peers.",
            m.peers.clone(),
        )?;
        r.register(
            "cometbft_mempool_size",
            "Number of uncommitted transactions in the mempool.",
            m.mempool_size.clone(),
        )?;
        r.register(
            "cometbft_mempool_failed_txs",
            "Number of transactions the mempool refused.",
            m.mempool_failed.clone(),
        )?;
        r.register(
            "cometbft_blocksync_syncing",
            "1 while the node is catching up with the network, else 0.",
            m.syncing.clone(),
        )?;
        r.register(
            "virtengine_tx_latency_seconds",
            "Time from a transaction's submission to its commit.",
            m.tx_latency.clone(),
        )?;
        // VEID.
        r.register(
            "virtengine_veid_submissions",
            "Identity submissions received.",
            m.veid_submissions.clone(),
        )?;
        r.register(
            "virtengine_veid_verifications",
            "Identity verifications finished, by result.",
            m.veid_verifications.clone(),
        )?;
        r.register(
            "virtengine_veid_verified",
            "Identities verified, by tier.",
            m.veid_verified.clone(),
        )?;
        r.register(
            "virtengine_veid_pending_verifications",
            "Identity verifications waiting for a verdict.",
            m.veid_pending.clone(),
        )?;
        r.register(
            "virtengine_veid_submission_seconds",
            "Time from an identity submission to its verdict.",
            m.veid_seconds.clone(),
        )?;
        r.register(
            "virtengine_user_transactions",
            "Transactions by user.",
            m.user_transactions.clone(),
        )?;
        // Market and escrow.
        r.register(
            "virtengine_market_orders_active",
            "Open orders.",
            m.orders_active.clone(),
        )?;
        r.register(
            "virtengine_market_leases_active",
            "Active leases.",
            m.leases_active.clone(),
        )?;
        r.register(
            "virtengine_market_bids_active",
            "Open bids.",
            m.bids_active.clone(),
        )?;
        r.register(
            "virtengine_market_orders_created",
            "Orders created.",
            m.orders_created.clone(),
        )?;
        r.register(
            "virtengine_market_orders_matched",
            "Orders matched with a bid.",
            m.orders_matched.clone(),
        )?;
        r.register(
            "virtengine_market_order_value",
            "Value of the orders created, in USD-equivalent units.",
            m.order_value.clone(),
        )?;
        r.register(
            "virtengine_escrow_balance_total",
            "Balance held in escrow, in minor units.",
            m.escrow_balance.clone(),
        )?;
        r.register(
            "virtengine_escrow_settlements",
            "Value settled from escrow to providers, in USD-equivalent units.",
            m.settlements.clone(),
        )?;
        r.register(
            "virtengine_escrow_accounts_active",
            "Open escrow accounts.",
            m.escrow_accounts.clone(),
        )?;
        // Provider daemon.
        r.register(
            "virtengine_provider_status",
            "1 on the provider's status, 0 on the other.",
            m.provider_status.clone(),
        )?;
        r.register(
            "virtengine_provider_bids",
            "Bids the provider placed.",
            m.provider_bids.clone(),
        )?;
        r.register(
            "virtengine_provider_bids_won",
            "Bids the provider won.",
            m.provider_bids_won.clone(),
        )?;
        r.register(
            "virtengine_provider_workloads",
            "Workloads by state.",
            m.workloads.clone(),
        )?;
        r.register(
            "virtengine_provider_workload_starts",
            "Workloads started.",
            m.workload_starts.clone(),
        )?;
        r.register(
            "virtengine_provider_workload_failures",
            "Workloads that failed to start or run.",
            m.workload_failures.clone(),
        )?;
        r.register(
            "virtengine_provider_cpu_utilization",
            "Share of the provider's CPU in use, 0 to 1.",
            m.provider_cpu.clone(),
        )?;
        r.register(
            "virtengine_provider_memory_utilization",
            "Share of the provider's memory in use, 0 to 1.",
            m.provider_memory.clone(),
        )?;
        r.register(
            "virtengine_provider_lease_operation_seconds",
            "Time of lease operations, by operation.",
            m.lease_operations.clone(),
        )?;
        // ML inference.
        r.register(
            "virtengine_ml_inference_requests",
            "Inference requests, by model and result.",
            m.inferences.clone(),
        )?;
        r.register(
            "virtengine_ml_inference_seconds",
            "Inference time, by model.",
            m.inference_seconds.clone(),
        )?;
        r.register(
            "virtengine_ml_inference_timeout",
            "Inferences that timed out, by model.",
            m.inference_timeouts.clone(),
        )?;
        r.register(
            "virtengine_ml_inference_queue_depth",
            "Inference requests waiting.",
            m.inference_queue.clone(),
        )?;
        // Infrastructure: node_exporter's, kube-state-metrics' and cAdvisor's names.
        r.register(
            "node_cpu_seconds",
            "Seconds the CPUs spent in each mode.",
            m.cpu_seconds.clone(),
        )?;
        let mem_total = FloatGauge::default();
        mem_total.set(MEM_TOTAL);
        r.register(
            "node_memory_MemTotal_bytes",
            "Memory information field MemTotal_bytes.",
            mem_total,
        )?;
        r.register(
            "node_memory_MemAvailable_bytes",
            "Memory information field MemAvailable_bytes.",
            m.mem_available.clone(),
        )?;
        r.register(
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            m.fs_size.clone(),
        )?;
        r.register(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            m.fs_avail.clone(),
        )?;
        r.register(
            "node_network_receive_bytes",
            "Network device statistic receive_bytes.",
            m.net_receive.clone(),
        )?;
        r.register(
            "node_network_transmit_bytes",
            "Network device statistic transmit_bytes.",
            m.net_transmit.clone(),
        )?;
        r.register("node_load1", "1m load average.", m.load1.clone())?;
        r.register(
            "kube_pod_status_phase",
            "The pods' current phase.",
            m.pod_phase.clone(),
        )?;
        r.register(
            "kube_pod_container_status_restarts",
            "The number of container restarts per container.",
            m.restarts.clone(),
        )?;
        r.register(
            "container_cpu_usage_seconds",
            "Cumulative cpu time consumed in seconds.",
            m.container_cpu.clone(),
        )?;
        r.register(
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            m.container_memory.clone(),
        )?;
        r.register(
            "cometbft_p2p_peer_receive_bytes",
            "Bytes received from peers, by channel.",
            m.p2p_receive.clone(),
        )?;
        r.register(
            "cometbft_p2p_peer_send_bytes",
            "Bytes sent to peers, by channel.",
            m.p2p_send.clone(),
        )?;
        r.register(
            "virtengine_p2p_rtt_seconds",
            "Round trip time to peers.",
            m.p2p_rtt.clone(),
        )?;
        Ok(m)
    }
}

/// The root filesystem's labels.
fn filesystem() -> Labels {
    vec![
        ("device", "/dev/nvme0n1p1".to_owned()),
        ("mountpoint", "/".to_owned()),
        ("fstype", "ext4".to_owned()),
    ]
}

/// A container's labels.
fn container(pod: &str, name: &str) -> Labels {
    vec![
        ("namespace", "virtengine".to_owned()),
        ("pod", pod.to_owned()),
        ("container", name.to_owned()),
    ]
}

fn int(v: f64) -> i64 {
    v.round() as i64
}

impl Metrics {
    /// Moves the families on by one step of `node`. A node that is down does nothing; one
    /// that comes back counts a restart of its pod's `virtengine` container.
    pub(crate) fn step(
        &mut self,
        node: &NodeView,
        world: &mut World,
        faults: &Faults,
        rng: &mut Rng,
    ) {
        // A step longer than 10 s (the first tick of a test's quiet network) counts as 10 s:
        // the flows below are rates, and an hour of them at once would leave the gauges
        // far from their steady values.
        let view = NodeView {
            dt: node.dt.min(10.0),
            ..*node
        };
        let node = &view;
        let dt = node.dt;
        if node.id == 0 {
            world.clock += dt;
        }
        world.alive.resize(node.nodes, true);
        world.alive[node.id] = node.alive;
        if self.state.pod.is_empty() {
            self.first_step(node);
        }
        if !node.alive {
            self.state.was_alive = false;
            return;
        }
        if !self.state.was_alive {
            self.state.was_alive = true;
            self.restarts
                .get_or_create(&container(&self.state.pod, "virtengine"))
                .inc();
        }
        let clock = world.clock;
        let wave = |period: f64, phase: f64| (clock * TAU / period + phase).sin();
        let phase = self.state.phase;
        let slow = wave(1800.0, phase);
        self.consensus(node, world, faults, rng);
        self.veid(node, faults, rng, slow);
        self.market(node, faults, rng, slow);
        self.provider(node, faults, rng, wave(900.0, phase));
        self.inference(node, faults, rng);
        self.infrastructure(node, rng, wave(600.0, phase));
    }

    /// What depends on the node's id: its pod's labels, and series known from the start.
    fn first_step(&mut self, node: &NodeView) {
        let s = &mut self.state;
        s.pod = format!("virtengine-node-{:02}-0", node.id);
        s.phase = node.id as f64 * 0.9;
        s.height = node.height;
        // Running counts as a node that has run for a while would have them.
        let age = 50_000 + node.id as i64 * 1_337;
        s.total_txs = age * 20;
        s.orders_created = age;
        s.orders_matched = age * 97 / 100;
        s.starts = age / 20;
        s.failures = s.starts * 3 / 200;
        s.bids_won = age / 5;
        self.provider_bids.inc_by((age / 2) as u64);
        s.mempool_failed = age / 100;
        s.escrow = 3.5e9 + 3e9 * (node.id as f64 * 0.37).fract();
        self.fs_size.get_or_create(&filesystem()).set(FS_SIZE);
        for phase in PHASES {
            let mut labels = vec![
                ("namespace", "virtengine".to_owned()),
                ("pod", s.pod.clone()),
            ];
            labels.push(("phase", phase.to_owned()));
            self.pod_phase
                .get_or_create(&labels)
                .set(i64::from(phase == "Running"));
        }
        for c in CONTAINERS {
            let _ = self.restarts.get_or_create(&container(&s.pod, c));
        }
        for status in ["active", "inactive"] {
            self.provider_status
                .get_or_create(&label("status", status))
                .set(i64::from(status == "active"));
        }
        for result in ["approved", "rejected"] {
            let _ = self
                .veid_verifications
                .get_or_create(&label("result", result));
        }
        for tier in ["1", "2", "3"] {
            let _ = self.veid_verified.get_or_create(&label("tier", tier));
        }
        // The users this node serves, each a series from the start (at 0 until they act).
        for user in (node.id..USERS).step_by(node.nodes.max(1)) {
            let _ = self
                .user_transactions
                .get_or_create(&label("user", &format!("u{user:03}")));
        }
        let _ = self.order_value.get_or_create(&label("denom", "uve"));
        for (model, ..) in MODELS {
            let _ = self
                .inference_timeouts
                .get_or_create(&label("model", model));
            for result in ["success", "error"] {
                let _ = self
                    .inferences
                    .get_or_create(&labels2("model", model, "result", result));
            }
        }
    }

    fn consensus(&mut self, node: &NodeView, world: &mut World, faults: &Faults, rng: &mut Rng) {
        let dt = node.dt;
        let s = &mut self.state;
        let total = node.nodes as i64;
        let stalled_chain = faults.contains(CONSENSUS_STALL);
        let slow_txs = faults.contains("tx-latency");
        if let Some(interval) = node.imported {
            world.draw_block(node.height, node.nodes, faults, rng);
            self.block_interval.observe(interval);
            let blocks = node.height.saturating_sub(s.height).max(1) as i64;
            s.total_txs += world.block_txs as i64 * blocks;
            self.num_txs.set(world.block_txs as i64);
            self.block_size.set(world.block_bytes as i64);
            self.rounds.set(world.block_rounds);
            if world.missed.get(node.id).copied().unwrap_or(false) {
                s.missed += 1;
            }
            // The transactions submitted through this node that this block commits.
            for _ in 0..poisson(rng, 8.0) {
                let latency = if slow_txs {
                    2.0 + rng.exponential(3.0)
                } else {
                    0.2 + rng.exponential(0.4)
                };
                self.tx_latency.observe(latency);
            }
            // The block takes what it commits out of the mempool.
            s.mempool = (s.mempool - world.block_txs as f64 * 0.6).max(0.0);
        } else if stalled_chain {
            // No block: consensus goes round after round.
            self.rounds
                .set(1 + (world.clock / 6.0) as i64 % 8 + rng.below(2) as i64);
        }
        s.height = node.height;
        self.height
            .set(i64::try_from(node.height).unwrap_or(i64::MAX));
        self.total_txs.set(s.total_txs);
        let online = world.online(node.nodes, faults) as i64;
        let missing = world.missed.iter().filter(|&&m| m).count() as i64;
        self.validators.set(total);
        self.total_voting_power.set(total * POWER);
        self.validators_power.set(online * POWER);
        self.missing_validators.set(missing);
        self.missing_validators_power.set(missing * POWER);
        let signing = !(faults.contains("validator-down") && node.id < World::down(node.nodes));
        self.validator_ready.set(i64::from(signing));
        self.validator_missed_blocks.set(s.missed);
        // Peers come and go: a few connections are always being redialled.
        let redialling = if node.peers > 4 {
            poisson(rng, 0.4).min(2) as i64
        } else {
            0
        };
        self.peers.set(node.peers - redialling);
        // Transactions arrive about as fast as blocks commit them, and pile up when they
        // do not.
        let arriving = if stalled_chain || slow_txs {
            25.0
        } else {
            12.0
        };
        s.mempool += poisson(rng, arriving * dt) as f64;
        if !stalled_chain && !slow_txs {
            s.mempool = drift(rng, s.mempool, 60.0, 0.05, 3.0, dt).max(0.0);
        }
        self.mempool_size.set(int(s.mempool));
        s.mempool_failed += poisson(rng, 0.05 * dt) as i64;
        self.mempool_failed.set(s.mempool_failed);
        self.syncing
            .set(i64::from(node.head.saturating_sub(node.height) > 2));
        // P2P traffic: consensus votes and blocks on 0x20, transactions on 0x30.
        let peers = node.peers.max(0) as f64;
        for (ch, per_peer) in [("0x20", 6_000.0), ("0x30", 2_500.0)] {
            let wobble = 1.0 + 0.2 * noise(rng);
            self.p2p_receive
                .get_or_create(&label("chID", ch))
                .inc_by((per_peer * peers * dt * wobble) as u64);
            self.p2p_send
                .get_or_create(&label("chID", ch))
                .inc_by((per_peer * peers * dt * wobble * 0.95) as u64);
        }
        for _ in 0..poisson(rng, 2.0 * dt) {
            self.p2p_rtt.observe(0.008 + rng.exponential(0.03));
        }
    }

    fn veid(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng, slow: f64) {
        let dt = node.dt;
        let s = &mut self.state;
        let backlog = faults.contains("veid-backlog");
        // About two submissions a second; under a backlog clients retry as well.
        let mut submitted = poisson(rng, (2.0 + 0.4 * slow) * dt);
        if backlog {
            submitted += poisson(rng, 3.0 * dt);
        }
        self.veid_submissions.inc_by(submitted);
        s.pending += submitted as i64;
        // Verdicts: each waiting submission about a tenth a second, which holds the queue
        // near 20; under a backlog the verifiers manage two a second, each late.
        let verdicts = if backlog {
            poisson(rng, 2.0 * dt)
        } else {
            poisson(rng, 0.1 * s.pending as f64 * dt)
        }
        .min(s.pending.max(0) as u64);
        s.pending -= verdicts as i64;
        for _ in 0..verdicts {
            let seconds = if backlog {
                15.0 + rng.next_f64() * 45.0
            } else {
                0.3 + rng.exponential(1.2)
            };
            self.veid_seconds.observe(seconds);
            let approved = rng.chance(0.92);
            self.veid_verifications
                .get_or_create(&label(
                    "result",
                    if approved { "approved" } else { "rejected" },
                ))
                .inc();
            if approved {
                let draw = rng.next_f64();
                let tier = if draw < 0.6 {
                    "1"
                } else if draw < 0.9 {
                    "2"
                } else {
                    "3"
                };
                self.veid_verified.get_or_create(&label("tier", tier)).inc();
            }
        }
        self.veid_pending.set(s.pending);
        // The node's users: user u acts about 0.5 * 0.88^u times a second, so the light
        // ones show up over the first hour.
        for user in (node.id..USERS).step_by(node.nodes.max(1)) {
            let rate = 0.5 * 0.88f64.powi(user as i32);
            let n = poisson(rng, rate * dt);
            if n > 0 {
                self.user_transactions
                    .get_or_create(&label("user", &format!("u{user:03}")))
                    .inc_by(n);
            }
        }
    }

    fn market(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng, slow: f64) {
        let dt = node.dt;
        let s = &mut self.state;
        // About an order a second; 97% find a bid, the rest expire.
        let created = poisson(rng, (1.0 + 0.3 * slow) * dt);
        let mut matched = 0;
        let mut value = 0.0;
        for _ in 0..created {
            value += 5.0 + rng.exponential(20.0);
            if rng.chance(0.97) {
                matched += 1;
            }
        }
        s.orders_created += created as i64;
        s.orders_matched += matched;
        self.orders_created.set(s.orders_created);
        self.orders_matched.set(s.orders_matched);
        self.order_value
            .get_or_create(&label("denom", "uve"))
            .inc_by(value);
        // Open orders wait about 20 s for their bids.
        s.orders_active += created as i64;
        s.orders_active -= poisson(rng, s.orders_active as f64 * 0.05 * dt)
            .min(s.orders_active.max(0) as u64) as i64;
        self.orders_active.set(s.orders_active);
        self.bids_active
            .set(s.orders_active * 3 + rng.below(6) as i64);
        // Leases last about ten minutes.
        let lease_ops = self.lease_operations.clone();
        for _ in 0..matched {
            lease_ops
                .get_or_create(&label("operation", "create"))
                .observe(0.1 + rng.exponential(0.25));
        }
        let closed = poisson(rng, s.leases as f64 * dt / 600.0).min(s.leases.max(0) as u64);
        for _ in 0..closed {
            lease_ops
                .get_or_create(&label("operation", "close"))
                .observe(0.05 + rng.exponential(0.1));
        }
        for _ in 0..poisson(rng, 0.3 * dt) {
            lease_ops
                .get_or_create(&label("operation", "update"))
                .observe(0.08 + rng.exponential(0.15));
        }
        s.leases += matched - closed as i64;
        self.leases_active.set(s.leases);
        // Escrow: each lease pays out as it runs; deposits keep the balance near its
        // level, unless it drains.
        let settled = s.leases as f64 * dt * (0.004 + 0.001 * noise(rng));
        self.settlements.inc_by(settled);
        if faults.contains("escrow-low") {
            s.escrow = (s.escrow * 0.9f64.powf(dt)).max(4e7 + 1e7 * rng.next_f64());
        } else {
            let level = 3.5e9 + 3e9 * (node.id as f64 * 0.37).fract() + 4e8 * slow;
            s.escrow = drift(rng, s.escrow, level, 0.01, 3e7, dt).clamp(2.05e9, 7.95e9);
        }
        self.escrow_balance.set(s.escrow);
        self.escrow_accounts
            .set(s.leases + s.orders_active + 40 + rng.below(5) as i64);
    }

    fn provider(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng, wave: f64) {
        let dt = node.dt;
        let s = &mut self.state;
        let failing = faults.contains("provider-failures");
        let bids = poisson(rng, 0.5 * dt);
        self.provider_bids.inc_by(bids);
        for _ in 0..bids {
            if rng.chance(0.4) {
                s.bids_won += 1;
            }
        }
        self.provider_bids_won.set(s.bids_won);
        // A start every 10 s; 1.5% fail. Failing, 30% fail and the daemon retries each
        // at once: a restart storm of about 8 starts a second.
        let (starts, failure) = if failing {
            (poisson(rng, 8.0 * dt), 0.3)
        } else {
            (poisson(rng, 0.1 * dt), 0.015)
        };
        let mut failed = 0;
        for _ in 0..starts {
            if rng.chance(failure) {
                failed += 1;
            }
        }
        s.starts += starts as i64;
        s.failures += failed;
        self.workload_starts.set(s.starts);
        self.workload_failures.set(s.failures);
        if !failing {
            s.running += starts as i64 - failed;
        }
        let done = poisson(rng, s.running as f64 * dt / 1200.0).min(s.running.max(0) as u64);
        s.running -= done as i64;
        s.completed = s.completed * (1.0 - dt / 600.0).max(0.0) + done as f64;
        s.failed = s.failed * (1.0 - dt / 300.0).max(0.0) + failed as f64;
        let pending = if failing {
            5 + rng.below(10)
        } else {
            rng.below(4)
        };
        for (state, value) in
            WORKLOAD_STATES
                .iter()
                .zip([s.running, pending as i64, int(s.completed), int(s.failed)])
        {
            self.workloads
                .get_or_create(&label("state", state))
                .set(value);
        }
        s.cpu = drift(rng, s.cpu, 0.5 + 0.12 * wave, 0.05, 0.01, dt).clamp(0.31, 0.69);
        s.memory = drift(rng, s.memory, 0.55 + 0.08 * wave, 0.05, 0.006, dt).clamp(0.41, 0.69);
        self.provider_cpu.set(s.cpu);
        self.provider_memory.set(s.memory);
    }

    fn inference(&mut self, node: &NodeView, faults: &Faults, rng: &mut Rng) {
        let dt = node.dt;
        let timeouts = faults.contains("inference-timeouts");
        for (model, rate, floor, mean) in MODELS {
            let model_label = label("model", model);
            let histogram = self.inference_seconds.get_or_create(&model_label).clone();
            let (mut ok, mut errors, mut timed_out) = (0, 0, 0);
            for _ in 0..poisson(rng, rate * dt) {
                if timeouts && rng.chance(0.2) {
                    timed_out += 1;
                    histogram.observe(INFERENCE_TIMEOUT);
                } else {
                    histogram.observe((floor + rng.exponential(mean)).min(INFERENCE_TIMEOUT * 0.9));
                    if rng.chance(0.003) {
                        errors += 1;
                    } else {
                        ok += 1;
                    }
                }
            }
            self.inferences
                .get_or_create(&labels2("model", model, "result", "success"))
                .inc_by(ok);
            self.inferences
                .get_or_create(&labels2("model", model, "result", "error"))
                .inc_by(errors + timed_out);
            self.inference_timeouts
                .get_or_create(&model_label)
                .inc_by(timed_out);
        }
        let depth = if timeouts { 25.0 } else { 3.0 };
        self.inference_queue.set(poisson(rng, depth) as i64);
    }

    fn infrastructure(&mut self, node: &NodeView, rng: &mut Rng, wave: f64) {
        let dt = node.dt;
        let s = &mut self.state;
        // The machine: busy 25-45% of the time.
        s.machine_cpu =
            drift(rng, s.machine_cpu, 0.33 + 0.08 * wave, 0.05, 0.01, dt).clamp(0.2, 0.55);
        for cpu in 0..CPUS {
            let busy = (s.machine_cpu + 0.05 * noise(rng)).clamp(0.05, 0.9);
            let system = busy * 0.2;
            let iowait = 0.01 + 0.01 * rng.next_f64();
            let user = busy - system;
            for (mode, share) in CPU_MODES
                .iter()
                .zip([1.0 - busy - iowait, user, system, iowait])
            {
                self.cpu_seconds
                    .get_or_create(&labels2("cpu", &cpu.to_string(), "mode", mode))
                    .inc_by(share * dt);
            }
        }
        self.load1
            .set((s.machine_cpu * CPUS as f64 * (1.0 + 0.15 * noise(rng))).max(0.0));
        s.available = drift(
            rng,
            s.available,
            (0.45 + 0.06 * wave) * MEM_TOTAL,
            0.05,
            0.01 * GIB,
            dt,
        )
        .clamp(0.3 * MEM_TOTAL, 0.6 * MEM_TOTAL);
        self.mem_available.set(s.available);
        // The disk fills as the chain grows; logs come and go with rotation.
        s.logs = drift(rng, s.logs, 2.0 * GIB, 0.002, 0.02 * GIB, dt).clamp(0.5 * GIB, 4.0 * GIB);
        let used = 0.35 * FS_SIZE + node.height as f64 * BYTES_PER_BLOCK + s.logs;
        self.fs_avail
            .get_or_create(&filesystem())
            .set((FS_SIZE - used).max(0.0));
        let rx = (1.5e6 + 4e5 * wave + 2e5 * noise(rng)) * dt;
        let tx = (1.2e6 + 3e5 * wave + 2e5 * noise(rng)) * dt;
        self.net_receive
            .get_or_create(&label("device", "eth0"))
            .inc_by(rx.max(0.0) as u64);
        self.net_transmit
            .get_or_create(&label("device", "eth0"))
            .inc_by(tx.max(0.0) as u64);
        // The pod: the node's process takes most of the machine's CPU, the daemon a bit.
        for (name, cores, memory) in [
            ("virtengine", s.machine_cpu * CPUS as f64 * 0.8, 3.6 * GIB),
            ("provider-daemon", 0.15 + 0.1 * s.cpu, 0.45 * GIB),
        ] {
            let labels = container(&s.pod, name);
            self.container_cpu
                .get_or_create(&labels)
                .inc_by(cores * (1.0 + 0.1 * noise(rng)) * dt);
            self.container_memory
                .get_or_create(&labels)
                .set(memory * (1.0 + 0.05 * wave + 0.02 * noise(rng)));
        }
    }
}
