//! The files `skywatch demo --profile coinjecture` runs and serves; see [`crate::shipped`].
//!
//! The alerts are the seed's (004) P0-P3, in `rules/coinjecture/`; their runbooks are in
//! `docs/runbooks/coinjecture/`. The dashboards and the welcome's lines come with the
//! simulation of the profile.

use crate::shipped::{HealthMetrics, Shipped};

/// The coinjecture profile's files.
pub(crate) const COINJECTURE: Shipped = Shipped {
    health_metrics: HealthMetrics {
        height: "consensus_block_height",
        peers: "sum without (status) (p2p_peer_status{status=\"connected\"})",
    },
    rules: &RULES,
    rule_tests: "coinjecture/tests",
    runbooks: &RUNBOOKS,
    runbook_dir: "coinjecture",
    slos: &[(
        "slos/coinjecture.yml",
        include_str!("../../../slos/coinjecture.yml"),
    )],
    alertmanager: (
        "alertmanager/demo-coinjecture.yml",
        include_str!("../../../alertmanager/demo-coinjecture.yml"),
    ),
    dashboards: &COINJECTURE_DASHBOARDS,
    try_lines: &[
        "promtool query instant {base} 'min(dual_run_parity_match_rate)'",
        "promtool query instant {base} 'sum by (endpoint) (rate(http_requests_total[1m]))'",
        "curl -XPOST {base}/demo/faults/parity-mismatch   # merkle_root mismatches: ParityMismatch (P0), then the auto-rollback",
        "curl -XPOST {base}/demo/coinjecture/rollback     # codec mode to legacy_only (0), parity fault off: no more mismatches",
        "curl -XPOST '{base}/demo/coinjecture/promote?mode=2'   # back to refactored_primary",
        "curl -XPOST {base}/demo/faults/replay-bypass     # epoch replays get through: EpochReplayBypass (P0)",
        "curl -XPOST {base}/demo/faults/pin-quorum-loss   # ipfs-2 fails every pin: IPFSPinQuorumLost (P0)",
        "curl -XPOST {base}/demo/faults/api-errors        # 5% of API requests answer 503: APIAvailabilityBreach (P1)",
        "curl -XPOST {base}/demo/faults/validation-slow   # block validation p99 past 1 s: BlockValidationLatencyHigh (P1)",
        "curl -XPOST {base}/demo/faults/memory-leak       # go_daemon grows ~5 MiB/s: MemoryLeakSuspected (P1)",
        "curl -XPOST {base}/demo/faults/rate-limit-false-positives   # ~20% of blocks wrong: RateLimitFalsePositives (P2)",
        "curl -XPOST {base}/demo/chaos/heal               # every fault off, codec mode back to 2",
    ],
};

/// The profile's dashboards (uids as the seed names them).
const COINJECTURE_DASHBOARDS: [(&str, &str); 3] = [
    (
        "coinjecture/overview.json",
        include_str!("../../../dashboards/coinjecture/overview.json"),
    ),
    (
        "coinjecture/parity.json",
        include_str!("../../../dashboards/coinjecture/parity.json"),
    ),
    (
        "coinjecture/security.json",
        include_str!("../../../dashboards/coinjecture/security.json"),
    ),
];

/// The rule files, by their path under `rules/`.
const RULES: [(&str, &str); 11] = [
    (
        "coinjecture/api.yml",
        include_str!("../../../rules/coinjecture/api.yml"),
    ),
    (
        "coinjecture/deadmans-switch.yml",
        include_str!("../../../rules/coinjecture/deadmans-switch.yml"),
    ),
    (
        "coinjecture/ipfs.yml",
        include_str!("../../../rules/coinjecture/ipfs.yml"),
    ),
    (
        "coinjecture/network.yml",
        include_str!("../../../rules/coinjecture/network.yml"),
    ),
    (
        "coinjecture/p0-consensus-integrity.yml",
        include_str!("../../../rules/coinjecture/p0-consensus-integrity.yml"),
    ),
    (
        "coinjecture/parity.yml",
        include_str!("../../../rules/coinjecture/parity.yml"),
    ),
    (
        "coinjecture/performance.yml",
        include_str!("../../../rules/coinjecture/performance.yml"),
    ),
    (
        "coinjecture/rate-limiting.yml",
        include_str!("../../../rules/coinjecture/rate-limiting.yml"),
    ),
    (
        "coinjecture/resources.yml",
        include_str!("../../../rules/coinjecture/resources.yml"),
    ),
    (
        "coinjecture/security.yml",
        include_str!("../../../rules/coinjecture/security.yml"),
    ),
    (
        "coinjecture/slo.yml",
        include_str!("../../../rules/coinjecture/slo.yml"),
    ),
];

/// The runbook of each alert, in Markdown: `(alert name, text)`.
const RUNBOOKS: [(&str, &str); 59] = [
    (
        "APIAvailabilityBreach",
        include_str!("../../../docs/runbooks/coinjecture/APIAvailabilityBreach.md"),
    ),
    (
        "APIMajorOutage",
        include_str!("../../../docs/runbooks/coinjecture/APIMajorOutage.md"),
    ),
    (
        "APIEndpointErrorRateHigh",
        include_str!("../../../docs/runbooks/coinjecture/APIEndpointErrorRateHigh.md"),
    ),
    (
        "APILatencyP99High",
        include_str!("../../../docs/runbooks/coinjecture/APILatencyP99High.md"),
    ),
    (
        "APILatencyAboveObjective",
        include_str!("../../../docs/runbooks/coinjecture/APILatencyAboveObjective.md"),
    ),
    (
        "APIEndpointLatencyHigh",
        include_str!("../../../docs/runbooks/coinjecture/APIEndpointLatencyHigh.md"),
    ),
    (
        "APITrafficAbsent",
        include_str!("../../../docs/runbooks/coinjecture/APITrafficAbsent.md"),
    ),
    (
        "APIHealthEndpointFailing",
        include_str!("../../../docs/runbooks/coinjecture/APIHealthEndpointFailing.md"),
    ),
    (
        "APIClientErrorRateHigh",
        include_str!("../../../docs/runbooks/coinjecture/APIClientErrorRateHigh.md"),
    ),
    (
        "Watchdog",
        include_str!("../../../docs/runbooks/coinjecture/Watchdog.md"),
    ),
    (
        "NodesJobAbsent",
        include_str!("../../../docs/runbooks/coinjecture/NodesJobAbsent.md"),
    ),
    (
        "ParityMetricsAbsent",
        include_str!("../../../docs/runbooks/coinjecture/ParityMetricsAbsent.md"),
    ),
    (
        "ReplayProtectionMetricsAbsent",
        include_str!("../../../docs/runbooks/coinjecture/ReplayProtectionMetricsAbsent.md"),
    ),
    (
        "IPFSPinFailureRateHigh",
        include_str!("../../../docs/runbooks/coinjecture/IPFSPinFailureRateHigh.md"),
    ),
    (
        "NodeDown",
        include_str!("../../../docs/runbooks/coinjecture/NodeDown.md"),
    ),
    (
        "NodesMostlyDown",
        include_str!("../../../docs/runbooks/coinjecture/NodesMostlyDown.md"),
    ),
    (
        "NodeHeightStalled",
        include_str!("../../../docs/runbooks/coinjecture/NodeHeightStalled.md"),
    ),
    (
        "NodeHeightBehind",
        include_str!("../../../docs/runbooks/coinjecture/NodeHeightBehind.md"),
    ),
    (
        "P2PPeersLow",
        include_str!("../../../docs/runbooks/coinjecture/P2PPeersLow.md"),
    ),
    (
        "P2PNodeIsolated",
        include_str!("../../../docs/runbooks/coinjecture/P2PNodeIsolated.md"),
    ),
    (
        "P2PNetworkPeersLow",
        include_str!("../../../docs/runbooks/coinjecture/P2PNetworkPeersLow.md"),
    ),
    (
        "P2PBannedPeersHigh",
        include_str!("../../../docs/runbooks/coinjecture/P2PBannedPeersHigh.md"),
    ),
    (
        "ParityMismatch",
        include_str!("../../../docs/runbooks/coinjecture/ParityMismatch.md"),
    ),
    (
        "ParityMatchRateBelowOne",
        include_str!("../../../docs/runbooks/coinjecture/ParityMatchRateBelowOne.md"),
    ),
    (
        "ParityMismatchRateHigh",
        include_str!("../../../docs/runbooks/coinjecture/ParityMismatchRateHigh.md"),
    ),
    (
        "IPFSPinQuorumLost",
        include_str!("../../../docs/runbooks/coinjecture/IPFSPinQuorumLost.md"),
    ),
    (
        "IPFSPinNodesBelowTwoThirds",
        include_str!("../../../docs/runbooks/coinjecture/IPFSPinNodesBelowTwoThirds.md"),
    ),
    (
        "SystemHealthCritical",
        include_str!("../../../docs/runbooks/coinjecture/SystemHealthCritical.md"),
    ),
    (
        "ConsensusChainHalted",
        include_str!("../../../docs/runbooks/coinjecture/ConsensusChainHalted.md"),
    ),
    (
        "DualRunComparisonsStalled",
        include_str!("../../../docs/runbooks/coinjecture/DualRunComparisonsStalled.md"),
    ),
    (
        "CodecModeLegacyOnly",
        include_str!("../../../docs/runbooks/coinjecture/CodecModeLegacyOnly.md"),
    ),
    (
        "CodecModeInconsistent",
        include_str!("../../../docs/runbooks/coinjecture/CodecModeInconsistent.md"),
    ),
    (
        "RefactoredSpeedupLow",
        include_str!("../../../docs/runbooks/coinjecture/RefactoredSpeedupLow.md"),
    ),
    (
        "RefactoredSlowerThanLegacy",
        include_str!("../../../docs/runbooks/coinjecture/RefactoredSlowerThanLegacy.md"),
    ),
    (
        "BlockValidationLatencyHigh",
        include_str!("../../../docs/runbooks/coinjecture/BlockValidationLatencyHigh.md"),
    ),
    (
        "BlockValidationLatencyWarning",
        include_str!("../../../docs/runbooks/coinjecture/BlockValidationLatencyWarning.md"),
    ),
    (
        "HeaderHashLatencyHigh",
        include_str!("../../../docs/runbooks/coinjecture/HeaderHashLatencyHigh.md"),
    ),
    (
        "MerkleRootLatencyHigh",
        include_str!("../../../docs/runbooks/coinjecture/MerkleRootLatencyHigh.md"),
    ),
    (
        "CachePersistLatencyHigh",
        include_str!("../../../docs/runbooks/coinjecture/CachePersistLatencyHigh.md"),
    ),
    (
        "CachePersistStalled",
        include_str!("../../../docs/runbooks/coinjecture/CachePersistStalled.md"),
    ),
    (
        "RateLimitFalsePositives",
        include_str!("../../../docs/runbooks/coinjecture/RateLimitFalsePositives.md"),
    ),
    (
        "RateLimitBlockingHigh",
        include_str!("../../../docs/runbooks/coinjecture/RateLimitBlockingHigh.md"),
    ),
    (
        "APIThrottledRequestsHigh",
        include_str!("../../../docs/runbooks/coinjecture/APIThrottledRequestsHigh.md"),
    ),
    (
        "MemoryLeakSuspected",
        include_str!("../../../docs/runbooks/coinjecture/MemoryLeakSuspected.md"),
    ),
    (
        "MemoryUsageHigh",
        include_str!("../../../docs/runbooks/coinjecture/MemoryUsageHigh.md"),
    ),
    (
        "MemoryExhaustionPredicted",
        include_str!("../../../docs/runbooks/coinjecture/MemoryExhaustionPredicted.md"),
    ),
    (
        "CPUUsageHigh",
        include_str!("../../../docs/runbooks/coinjecture/CPUUsageHigh.md"),
    ),
    (
        "ProcessRestarted",
        include_str!("../../../docs/runbooks/coinjecture/ProcessRestarted.md"),
    ),
    (
        "ComponentMetricsMissing",
        include_str!("../../../docs/runbooks/coinjecture/ComponentMetricsMissing.md"),
    ),
    (
        "EpochReplayBypass",
        include_str!("../../../docs/runbooks/coinjecture/EpochReplayBypass.md"),
    ),
    (
        "CriticalVulnerabilityDetected",
        include_str!("../../../docs/runbooks/coinjecture/CriticalVulnerabilityDetected.md"),
    ),
    (
        "HighVulnerabilitiesOpen",
        include_str!("../../../docs/runbooks/coinjecture/HighVulnerabilitiesOpen.md"),
    ),
    (
        "SecurityPostureScoreLow",
        include_str!("../../../docs/runbooks/coinjecture/SecurityPostureScoreLow.md"),
    ),
    (
        "SecurityPostureScoreCritical",
        include_str!("../../../docs/runbooks/coinjecture/SecurityPostureScoreCritical.md"),
    ),
    (
        "EpochReplayAttackSurge",
        include_str!("../../../docs/runbooks/coinjecture/EpochReplayAttackSurge.md"),
    ),
    (
        "SecurityLayerRejectionsSpike",
        include_str!("../../../docs/runbooks/coinjecture/SecurityLayerRejectionsSpike.md"),
    ),
    (
        "RateLimitAbuseSurge",
        include_str!("../../../docs/runbooks/coinjecture/RateLimitAbuseSurge.md"),
    ),
    (
        "SLOBudgetExhausted",
        include_str!("../../../docs/runbooks/coinjecture/SLOBudgetExhausted.md"),
    ),
    (
        "ErrorBudgetLow",
        include_str!("../../../docs/runbooks/coinjecture/ErrorBudgetLow.md"),
    ),
];
