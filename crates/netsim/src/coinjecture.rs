//! The COINjecture profile (the seeds' 004): a Rust consensus core, a Go daemon and
//! Python shims; dual-run parity validation, epoch-replay protection, IPFS pinning.
//!
//! See `docs/profiles/coinjecture.md` for every family, its labels and what drives it.

use skywatch_sdk::metrics::{Gauge, RegisterError, Registry};

use crate::profile::{Faults, NodeView};
use crate::rng::Rng;

/// The faults of this profile: name and what turning it on does.
pub(crate) const FAULTS: &[(&str, &str)] = &[
    (
        "parity-mismatch",
        "the refactored core disagrees with the legacy one (ParityMismatch)",
    ),
    (
        "replay-bypass",
        "an epoch replay gets past the replay cache (EpochReplayBypass)",
    ),
    (
        "pin-quorum-loss",
        "IPFS pins fail on a third of the pinning nodes (PinQuorumLost)",
    ),
];

/// The network-wide state of the profile.
#[derive(Debug, Default)]
pub(crate) struct World {}

/// One node's COINjecture families.
pub(crate) struct Metrics {
    height: Gauge,
}

impl Metrics {
    /// Registers the families in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegisterError> {
        let m = Self {
            height: Gauge::default(),
        };
        registry.register(
            "consensus_block_height",
            "Height of the node's chain.",
            m.height.clone(),
        )?;
        Ok(m)
    }

    /// Moves the families on by one step of `node`.
    pub(crate) fn step(
        &mut self,
        node: &NodeView,
        _world: &mut World,
        _faults: &Faults,
        _rng: &mut Rng,
    ) {
        self.height
            .set(i64::try_from(node.height).unwrap_or(i64::MAX));
    }
}
