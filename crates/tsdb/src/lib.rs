//! Skywatch's time-series database.
pub mod chunk;
