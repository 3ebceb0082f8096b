//! What the network's integration tests share.

use std::time::Duration;

use netsim::Options;

/// A network of `nodes` from `seed` whose ticker never fires within a test: the test moves
/// the network itself ([`netsim::Network::advance`]), so that its counts are the same at
/// every run.
pub(crate) fn quiet(nodes: usize, seed: u64) -> Options {
    Options {
        nodes,
        seed,
        tick: Duration::from_secs(3600),
        load_series: 0,
        profile: netsim::Profile::ZeroState,
    }
}
