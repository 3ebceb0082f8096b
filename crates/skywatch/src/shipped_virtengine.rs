//! The files `skywatch demo --profile virtengine` runs and serves; see [`crate::shipped`].

use crate::shipped::{Shipped, ZEROSTATE};

/// The virtengine profile's files.
pub(crate) const VIRTENGINE: Shipped = Shipped {
    try_lines: &[],
    ..ZEROSTATE
};
