//! The files `skywatch demo --profile coinjecture` runs and serves; see [`crate::shipped`].

use crate::shipped::{Shipped, ZEROSTATE};

/// The coinjecture profile's files.
pub(crate) const COINJECTURE: Shipped = Shipped {
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
    ..ZEROSTATE
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
