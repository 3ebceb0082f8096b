//! Network profiles: which team's metric families the nodes expose, and the faults that
//! make that team's own failures happen.
//!
//! Every profile runs the same network underneath (blocks, peers, partitions, the
//! executor and payments of [`crate::node`]), so the generic chaos controls work on all
//! of them. What a scraper sees differs: [`Profile::ZeroState`] exposes the families of
//! [`crate::metrics`]; [`Profile::VirtEngine`] and [`Profile::Coinjecture`] expose those
//! their seed documents name (see [`crate::virtengine`] and [`crate::coinjecture`]), and
//! keep ZeroState's as the model they are drawn from, unexposed. Every profile exposes
//! the node's build info, health checks and HTTP metrics.

use std::collections::BTreeSet;

use skywatch_sdk::metrics::{RegisterError, Registry};

use crate::rng::Rng;

/// Whose network the nodes simulate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// ZeroState: P2P, guilds, WASM tasks and payment channels (the seeds' 000-002).
    #[default]
    ZeroState,
    /// VirtEngine: a CometBFT chain with marketplace, escrow, identity and ML inference
    /// modules, and a provider daemon (the seeds' 003).
    VirtEngine,
    /// COINjecture: Rust core, Go daemon and Python shims, dual-run parity validation,
    /// epoch-replay protection and IPFS pinning (the seeds' 004).
    Coinjecture,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [
        Profile::ZeroState,
        Profile::VirtEngine,
        Profile::Coinjecture,
    ];

    /// Its name on the command line and in paths (`dashboards/<name>/`, `rules/<name>/`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::ZeroState => "zerostate",
            Profile::VirtEngine => "virtengine",
            Profile::Coinjecture => "coinjecture",
        }
    }

    /// Whether the network's requests cross it and leave traces ([`crate::FLOW`]): the
    /// flow is ZeroState's, so only ZeroState's network has them.
    pub fn traces(self) -> bool {
        self == Profile::ZeroState
    }

    /// The faults of this profile: name and what turning it on does.
    pub fn faults(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Profile::ZeroState => &[],
            Profile::VirtEngine => crate::virtengine::FAULTS,
            Profile::Coinjecture => crate::coinjecture::FAULTS,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!("unknown profile {s:?}: use {}", names.join(", "))
            })
    }
}

/// The profile faults turned on, by name: each profile's module reads those it knows.
pub(crate) type Faults = BTreeSet<&'static str>;

/// What a profile's metrics read of a node at each step, after the node's own step.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code, reason = "each profile reads the fields it needs")]
pub(crate) struct NodeView {
    /// The node's index.
    pub(crate) id: usize,
    /// How many nodes the network has.
    pub(crate) nodes: usize,
    /// Whether its server runs.
    pub(crate) alive: bool,
    /// Whether its chain is stopped ([`crate::Chaos::stall`]).
    pub(crate) stalled: bool,
    /// Its block height.
    pub(crate) height: u64,
    /// The network's head.
    pub(crate) head: u64,
    /// Its connected peers.
    pub(crate) peers: i64,
    /// The interval of the block it imported in this step, if it imported one.
    pub(crate) imported: Option<f64>,
    /// The seconds this step simulates.
    pub(crate) dt: f64,
}

/// A node's profile metrics.
pub(crate) enum ProfileMetrics {
    /// ZeroState's families are the node's own ([`crate::metrics::NodeMetrics`]).
    ZeroState,
    VirtEngine(Box<crate::virtengine::Metrics>),
    Coinjecture(Box<crate::coinjecture::Metrics>),
}

impl ProfileMetrics {
    /// Registers `profile`'s families in `registry`.
    pub(crate) fn register(profile: Profile, registry: &Registry) -> Result<Self, RegisterError> {
        Ok(match profile {
            Profile::ZeroState => ProfileMetrics::ZeroState,
            Profile::VirtEngine => ProfileMetrics::VirtEngine(Box::new(
                crate::virtengine::Metrics::register(registry)?,
            )),
            Profile::Coinjecture => ProfileMetrics::Coinjecture(Box::new(
                crate::coinjecture::Metrics::register(registry)?,
            )),
        })
    }

    /// Moves the profile's metrics on by one step of the node.
    pub(crate) fn step(
        &mut self,
        node: &NodeView,
        world: &mut ProfileWorld,
        faults: &Faults,
        rng: &mut Rng,
    ) {
        match self {
            ProfileMetrics::ZeroState => {}
            ProfileMetrics::VirtEngine(m) => m.step(node, &mut world.virtengine, faults, rng),
            ProfileMetrics::Coinjecture(m) => m.step(node, &mut world.coinjecture, faults, rng),
        }
    }
}

/// The network-wide state of the profiles.
#[derive(Debug, Default)]
pub(crate) struct ProfileWorld {
    pub(crate) virtengine: crate::virtengine::World,
    pub(crate) coinjecture: crate::coinjecture::World,
}
