//! The files `skywatch demo --profile virtengine` runs and serves; see [`crate::shipped`].
//! The rules, runbooks, SLOs and routing are VirtEngine's own (`rules/virtengine/`,
//! `docs/runbooks/virtengine/`, `slos/virtengine.yml`, `alertmanager/demo-virtengine.yml`).

use crate::shipped::{HealthMetrics, Shipped};

/// The virtengine profile's files.
pub(crate) const VIRTENGINE: Shipped = Shipped {
    health_metrics: HealthMetrics {
        height: "cometbft_consensus_height",
        peers: "cometbft_p2p_peers",
    },
    rules: &RULES,
    rule_tests: "virtengine/tests",
    runbooks: &RUNBOOKS,
    runbook_dir: "virtengine",
    slos: &[(
        "slos/virtengine.yml",
        include_str!("../../../slos/virtengine.yml"),
    )],
    alertmanager: (
        "alertmanager/demo-virtengine.yml",
        include_str!("../../../alertmanager/demo-virtengine.yml"),
    ),
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
};

/// The rule files, by their path under `rules/`.
const RULES: [(&str, &str); 5] = [
    (
        "virtengine/critical.yml",
        include_str!("../../../rules/virtengine/critical.yml"),
    ),
    (
        "virtengine/warning.yml",
        include_str!("../../../rules/virtengine/warning.yml"),
    ),
    (
        "virtengine/slo.yml",
        include_str!("../../../rules/virtengine/slo.yml"),
    ),
    (
        "virtengine/business.yml",
        include_str!("../../../rules/virtengine/business.yml"),
    ),
    (
        "virtengine/infrastructure.yml",
        include_str!("../../../rules/virtengine/infrastructure.yml"),
    ),
];

/// The runbook of each alert, in Markdown: `(alert name, text)`.
const RUNBOOKS: [(&str, &str); 28] = [
    (
        "ConsensusStalled",
        include_str!("../../../docs/runbooks/virtengine/ConsensusStalled.md"),
    ),
    (
        "ValidatorDown",
        include_str!("../../../docs/runbooks/virtengine/ValidatorDown.md"),
    ),
    (
        "EscrowBalanceLow",
        include_str!("../../../docs/runbooks/virtengine/EscrowBalanceLow.md"),
    ),
    (
        "ServiceDown",
        include_str!("../../../docs/runbooks/virtengine/ServiceDown.md"),
    ),
    (
        "HighTransactionLatency",
        include_str!("../../../docs/runbooks/virtengine/HighTransactionLatency.md"),
    ),
    (
        "VEIDVerificationQueue",
        include_str!("../../../docs/runbooks/virtengine/VEIDVerificationQueue.md"),
    ),
    (
        "ProviderHighFailureRate",
        include_str!("../../../docs/runbooks/virtengine/ProviderHighFailureRate.md"),
    ),
    (
        "MLInferenceTimeout",
        include_str!("../../../docs/runbooks/virtengine/MLInferenceTimeout.md"),
    ),
    (
        "ValidatorMissingBlocks",
        include_str!("../../../docs/runbooks/virtengine/ValidatorMissingBlocks.md"),
    ),
    (
        "ConsensusRoundsHigh",
        include_str!("../../../docs/runbooks/virtengine/ConsensusRoundsHigh.md"),
    ),
    (
        "NodeSyncing",
        include_str!("../../../docs/runbooks/virtengine/NodeSyncing.md"),
    ),
    (
        "NodeNoPeers",
        include_str!("../../../docs/runbooks/virtengine/NodeNoPeers.md"),
    ),
    (
        "MempoolBacklog",
        include_str!("../../../docs/runbooks/virtengine/MempoolBacklog.md"),
    ),
    (
        "SLOVEIDResponseTime",
        include_str!("../../../docs/runbooks/virtengine/SLOVEIDResponseTime.md"),
    ),
    (
        "SLOOrderMatchingSuccess",
        include_str!("../../../docs/runbooks/virtengine/SLOOrderMatchingSuccess.md"),
    ),
    (
        "OrderMatchingSLABreachRisk",
        include_str!("../../../docs/runbooks/virtengine/OrderMatchingSLABreachRisk.md"),
    ),
    (
        "SettlementVolumeDrop",
        include_str!("../../../docs/runbooks/virtengine/SettlementVolumeDrop.md"),
    ),
    (
        "OrderVolumeDrop",
        include_str!("../../../docs/runbooks/virtengine/OrderVolumeDrop.md"),
    ),
    (
        "VEIDRejectionSpike",
        include_str!("../../../docs/runbooks/virtengine/VEIDRejectionSpike.md"),
    ),
    (
        "HostHighCpuLoad",
        include_str!("../../../docs/runbooks/virtengine/HostHighCpuLoad.md"),
    ),
    (
        "HostMemoryPressure",
        include_str!("../../../docs/runbooks/virtengine/HostMemoryPressure.md"),
    ),
    (
        "HostDiskFillingUp",
        include_str!("../../../docs/runbooks/virtengine/HostDiskFillingUp.md"),
    ),
    (
        "HostDiskSpaceLow",
        include_str!("../../../docs/runbooks/virtengine/HostDiskSpaceLow.md"),
    ),
    (
        "ProviderCPUPressure",
        include_str!("../../../docs/runbooks/virtengine/ProviderCPUPressure.md"),
    ),
    (
        "ProviderMemoryPressure",
        include_str!("../../../docs/runbooks/virtengine/ProviderMemoryPressure.md"),
    ),
    (
        "PodCrashLooping",
        include_str!("../../../docs/runbooks/virtengine/PodCrashLooping.md"),
    ),
    (
        "PodNotRunning",
        include_str!("../../../docs/runbooks/virtengine/PodNotRunning.md"),
    ),
    (
        "Watchdog",
        include_str!("../../../docs/runbooks/virtengine/Watchdog.md"),
    ),
];

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
