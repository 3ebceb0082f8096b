//! The files `skywatch demo --profile virtengine` runs and serves; see [`crate::shipped`].

use crate::shipped::{Shipped, ZEROSTATE};

/// The virtengine profile's files.
pub(crate) const VIRTENGINE: Shipped = Shipped {
    dashboards: &VIRTENGINE_DASHBOARDS,
    try_lines: &[
        "promtool query instant {base} 'max(cometbft_consensus_height) - min(cometbft_consensus_height)'",
        "promtool query instant {base} 'sum(cometbft_consensus_validators_power) / sum(cometbft_consensus_total_voting_power)'",
        "promtool query instant {base} 'min(virtengine_escrow_balance_total)'",
        "curl {base}/demo/faults                                  # the faults, and which are on",
        "curl -XPOST {base}/demo/faults/consensus-stall     # the chain halts: ConsensusStalled pending after 5 minutes, firing after 10",
        "curl -XPOST {base}/demo/faults/validator-down      # over a third of the validators stop signing: ValidatorDown fires after 2 minutes",
        "curl -XPOST {base}/demo/faults/escrow-low          # escrow drains under 1e9 within a minute: EscrowBalanceLow fires after 10 more",
        "curl -XPOST {base}/demo/faults/inference-timeouts  # a fifth of the inferences time out: MLInferenceTimeout fires after 5 minutes",
        "curl -XPOST {base}/demo/faults/provider-failures   # 30% of workload starts fail in a restart storm: ProviderHighFailureRate fires after 15 minutes",
        "curl -XPOST {base}/demo/faults/veid-backlog        # the VEID queue passes 100 within a minute: VEIDVerificationQueue fires after 15",
        "curl -XPOST {base}/demo/faults/tx-latency          # tx p99 past 5 s within a minute: HighTransactionLatency fires after 10",
        "curl -XDELETE {base}/demo/faults/escrow-low        # one fault off",
        "curl -XPOST {base}/demo/chaos/heal                 # every fault and every kind of chaos undone",
    ],
    ..ZEROSTATE
};

/// The virtengine profile's dashboards.
const VIRTENGINE_DASHBOARDS: [(&str, &str); 7] = [
    (
        "virtengine/virtengine-overview.json",
        include_str!("../../../dashboards/virtengine/virtengine-overview.json"),
    ),
    (
        "virtengine/provider-daemon.json",
        include_str!("../../../dashboards/virtengine/provider-daemon.json"),
    ),
    (
        "virtengine/business-metrics.json",
        include_str!("../../../dashboards/virtengine/business-metrics.json"),
    ),
    (
        "virtengine/veid-module.json",
        include_str!("../../../dashboards/virtengine/veid-module.json"),
    ),
    (
        "virtengine/market-module.json",
        include_str!("../../../dashboards/virtengine/market-module.json"),
    ),
    (
        "virtengine/ml-inference.json",
        include_str!("../../../dashboards/virtengine/ml-inference.json"),
    ),
    (
        "virtengine/infrastructure.json",
        include_str!("../../../dashboards/virtengine/infrastructure.json"),
    ),
];
