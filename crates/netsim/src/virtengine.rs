//! The VirtEngine profile (the seeds' 003): a CometBFT chain with marketplace, escrow,
//! identity (VEID) and ML inference modules, and a provider daemon.
//!
//! See `docs/profiles/virtengine.md` for every family, its labels and what drives it.

use skywatch_sdk::metrics::{Gauge, RegisterError, Registry};

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
        "over a third of the validators stop signing (ValidatorDown)",
    ),
    (
        "escrow-low",
        "escrow balances drain below 1,000 tokens (EscrowBalanceLow)",
    ),
];

/// The network-wide state of the profile.
#[derive(Debug, Default)]
pub(crate) struct World {}

/// One node's VirtEngine families.
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
            "cometbft_consensus_height",
            "Height of the chain.",
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
