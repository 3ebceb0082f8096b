//! Skywatch's time-series database.
pub mod block;
pub mod chunk;
pub mod db;
pub mod head;
pub mod import;
pub mod postings;
mod table;
pub mod wal;

pub use db::{Options, Tsdb};
