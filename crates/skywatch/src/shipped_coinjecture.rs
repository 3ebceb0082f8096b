//! The files `skywatch demo --profile coinjecture` runs and serves; see [`crate::shipped`].

use crate::shipped::{Shipped, ZEROSTATE};

/// The coinjecture profile's files.
pub(crate) const COINJECTURE: Shipped = Shipped {
    try_lines: &[],
    ..ZEROSTATE
};
