//! Skywatch's time-series database.
pub mod chunk;
pub mod wal;
