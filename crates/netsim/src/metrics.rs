//! The metric families a simulated node exposes: the layers the seed teams instrument.
//!
//! | layer | families |
//! |---|---|
//! | P2P | `p2p_peers`, `p2p_connections{state}`, `p2p_bandwidth_bytes_total{direction}`, `p2p_messages_{sent,received,failed}_total{type}`, `p2p_health_check_latency_seconds`, `p2p_gossip_propagation_seconds`, `p2p_connection_pool_size`, `p2p_relay_circuits`, `p2p_dht_operations_total{operation,result}` |
//! | consensus | `chain_block_height`, `chain_block_interval_seconds`, `chain_validators`, `chain_sync_lag_blocks`, `chain_transactions_total` |
//! | execution | `execution_tasks_total{status}`, `execution_task_duration_seconds`, `execution_active_tasks`, `execution_guilds_active`, `execution_guild_events_total{event}`, `execution_wasm_memory_bytes`, `execution_wasm_memory_limit_bytes`, `execution_wasm_exit_codes_total{code}`, `execution_receipts_total`, `execution_task_cost` |
//! | economics | `economic_payment_channels{state}`, `economic_value_locked`, `economic_payments_total{outcome}`, `economic_payment_amount`, `economic_reputation_score`, `economic_blacklisted_peers`, `economic_disputes_total`, `economic_settlements_total` |
//!
//! Every node also exposes `node_build_info`, the process metrics of the SDK, its health
//! checks (`node_health_*`) and the RED metrics of its HTTP server (`node_http_*`: every
//! scrape and health request, by method, route and status class).

use skywatch_sdk::metrics::{
    Counter, Family, Gauge, Histogram, RegisterError, Registry, Unit, buckets, histogram,
};

/// A label set: name and value pairs.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// A gauge holding a float.
pub(crate) type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// One node's metrics.
#[derive(Clone)]
pub struct NodeMetrics {
    pub(crate) peers: Gauge,
    pub(crate) connections: Family<Labels, Gauge>,
    pub(crate) bandwidth: Family<Labels, Counter>,
    pub(crate) messages_sent: Family<Labels, Counter>,
    pub(crate) messages_received: Family<Labels, Counter>,
    pub(crate) messages_failed: Family<Labels, Counter>,
    pub(crate) health_check_latency: Histogram,
    pub(crate) gossip_propagation: Histogram,
    pub(crate) connection_pool: Gauge,
    pub(crate) relay_circuits: Gauge,
    pub(crate) dht: Family<Labels, Counter>,
    pub(crate) block_height: Gauge,
    pub(crate) block_interval: Histogram,
    pub(crate) validators: Gauge,
    pub(crate) sync_lag: Gauge,
    pub(crate) transactions: Counter,
    pub(crate) tasks: Family<Labels, Counter>,
    pub(crate) task_duration: Histogram,
    pub(crate) active_tasks: Gauge,
    pub(crate) guilds: Gauge,
    pub(crate) guild_events: Family<Labels, Counter>,
    pub(crate) wasm_memory: Gauge,
    pub(crate) wasm_exit_codes: Family<Labels, Counter>,
    pub(crate) receipts: Counter,
    pub(crate) task_cost: Histogram,
    pub(crate) channels: Family<Labels, Gauge>,
    pub(crate) value_locked: FloatGauge,
    pub(crate) payments: Family<Labels, Counter>,
    pub(crate) payment_amount: Histogram,
    pub(crate) reputation: FloatGauge,
    pub(crate) blacklisted: Gauge,
    pub(crate) disputes: Counter,
    pub(crate) settlements: Counter,
}

/// The WASM memory limit of an execution, in bytes (the seeds' 128 MB).
pub const WASM_MEMORY_LIMIT: i64 = 128 * 1024 * 1024;

/// Gossip and health-check latency buckets: 1 ms to 10 s.
const LATENCY_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Block interval buckets: 0.5 s to 60 s.
const BLOCK_INTERVAL_SECONDS: &[f64] = &[0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0];

impl NodeMetrics {
    /// Registers a node's families in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, RegisterError> {
        let m = Self {
            peers: Gauge::default(),
            connections: Family::default(),
            bandwidth: Family::default(),
            messages_sent: Family::default(),
            messages_received: Family::default(),
            messages_failed: Family::default(),
            health_check_latency: histogram(LATENCY_SECONDS),
            gossip_propagation: histogram(LATENCY_SECONDS),
            connection_pool: Gauge::default(),
            relay_circuits: Gauge::default(),
            dht: Family::default(),
            block_height: Gauge::default(),
            block_interval: histogram(BLOCK_INTERVAL_SECONDS),
            validators: Gauge::default(),
            sync_lag: Gauge::default(),
            transactions: Counter::default(),
            tasks: Family::default(),
            task_duration: histogram(buckets::DURATION_SECONDS),
            active_tasks: Gauge::default(),
            guilds: Gauge::default(),
            guild_events: Family::default(),
            wasm_memory: Gauge::default(),
            wasm_exit_codes: Family::default(),
            receipts: Counter::default(),
            task_cost: histogram(buckets::COST),
            channels: Family::default(),
            value_locked: FloatGauge::default(),
            payments: Family::default(),
            payment_amount: histogram(buckets::COST),
            reputation: FloatGauge::default(),
            blacklisted: Gauge::default(),
            disputes: Counter::default(),
            settlements: Counter::default(),
        };
        let r = registry;
        r.register("p2p_peers", "Connected peers.", m.peers.clone())?;
        r.register(
            "p2p_connections",
            "Connections by state.",
            m.connections.clone(),
        )?;
        r.register_with_unit(
            "p2p_bandwidth",
            "Bytes sent (tx) and received (rx).",
            Unit::Bytes,
            m.bandwidth.clone(),
        )?;
        r.register(
            "p2p_messages_sent",
            "Messages sent, by type.",
            m.messages_sent.clone(),
        )?;
        r.register(
            "p2p_messages_received",
            "Messages received, by type.",
            m.messages_received.clone(),
        )?;
        r.register(
            "p2p_messages_failed",
            "Messages that could not be delivered, by type.",
            m.messages_failed.clone(),
        )?;
        r.register_with_unit(
            "p2p_health_check_latency",
            "Round trip of peer health checks.",
            Unit::Seconds,
            m.health_check_latency.clone(),
        )?;
        r.register_with_unit(
            "p2p_gossip_propagation",
            "Time for a gossip message to reach this node.",
            Unit::Seconds,
            m.gossip_propagation.clone(),
        )?;
        r.register(
            "p2p_connection_pool_size",
            "Connections held in the pool.",
            m.connection_pool.clone(),
        )?;
        r.register(
            "p2p_relay_circuits",
            "Open circuit-relay circuits.",
            m.relay_circuits.clone(),
        )?;
        r.register(
            "p2p_dht_operations",
            "DHT operations by operation and result.",
            m.dht.clone(),
        )?;
        r.register(
            "chain_block_height",
            "The newest block this node has.",
            m.block_height.clone(),
        )?;
        r.register_with_unit(
            "chain_block_interval",
            "Time between consecutive blocks.",
            Unit::Seconds,
            m.block_interval.clone(),
        )?;
        r.register(
            "chain_validators",
            "Validators in the active set.",
            m.validators.clone(),
        )?;
        r.register(
            "chain_sync_lag_blocks",
            "Blocks this node is behind the network's head.",
            m.sync_lag.clone(),
        )?;
        r.register(
            "chain_transactions",
            "Transactions included.",
            m.transactions.clone(),
        )?;
        r.register(
            "execution_tasks",
            "Tasks executed, by status.",
            m.tasks.clone(),
        )?;
        r.register_with_unit(
            "execution_task_duration",
            "Task execution time.",
            Unit::Seconds,
            m.task_duration.clone(),
        )?;
        r.register(
            "execution_active_tasks",
            "Tasks executing now.",
            m.active_tasks.clone(),
        )?;
        r.register(
            "execution_guilds_active",
            "Guilds this node is in.",
            m.guilds.clone(),
        )?;
        r.register(
            "execution_guild_events",
            "Guild lifecycle events.",
            m.guild_events.clone(),
        )?;
        r.register_with_unit(
            "execution_wasm_memory",
            "Memory of the running WASM executions.",
            Unit::Bytes,
            m.wasm_memory.clone(),
        )?;
        let limit = Gauge::<i64>::default();
        limit.set(WASM_MEMORY_LIMIT);
        r.register_with_unit(
            "execution_wasm_memory_limit",
            "The memory limit of a WASM execution.",
            Unit::Bytes,
            limit,
        )?;
        r.register(
            "execution_wasm_exit_codes",
            "WASM executions by exit code.",
            m.wasm_exit_codes.clone(),
        )?;
        r.register(
            "execution_receipts",
            "Execution receipts generated.",
            m.receipts.clone(),
        )?;
        r.register(
            "execution_task_cost",
            "Cost of each task.",
            m.task_cost.clone(),
        )?;
        r.register(
            "economic_payment_channels",
            "Payment channels by lifecycle state.",
            m.channels.clone(),
        )?;
        r.register(
            "economic_value_locked",
            "Value locked in this node's channels.",
            m.value_locked.clone(),
        )?;
        r.register(
            "economic_payments",
            "Payments by outcome.",
            m.payments.clone(),
        )?;
        r.register(
            "economic_payment_amount",
            "Amount of each payment.",
            m.payment_amount.clone(),
        )?;
        r.register(
            "economic_reputation_score",
            "This node's reputation, 0 to 1.",
            m.reputation.clone(),
        )?;
        r.register(
            "economic_blacklisted_peers",
            "Peers this node refuses.",
            m.blacklisted.clone(),
        )?;
        r.register(
            "economic_disputes",
            "Channel disputes raised.",
            m.disputes.clone(),
        )?;
        r.register(
            "economic_settlements",
            "Channel settlements.",
            m.settlements.clone(),
        )?;
        // Outcomes exposed at zero from the start, as Prometheus advises for known labels:
        // a failure ratio is 0, not absent, before the first failure.
        for status in ["success", "failure", "timeout"] {
            let _ = m.tasks.get_or_create(&label("status", status));
        }
        for code in ["0", "1", "137"] {
            let _ = m.wasm_exit_codes.get_or_create(&label("code", code));
        }
        for outcome in ["success", "failed"] {
            let _ = m.payments.get_or_create(&label("outcome", outcome));
        }
        Ok(m)
    }
}

/// One label.
pub(crate) fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_owned())]
}

/// Two labels.
pub(crate) fn labels2(a: &'static str, av: &str, b: &'static str, bv: &str) -> Labels {
    vec![(a, av.to_owned()), (b, bv.to_owned())]
}
