//! PromQL for Skywatch.
//!
//! So far this crate holds [`ast`], the syntax tree the engine will evaluate (parsed by
//! promql-parser and converted to types this crate owns), and [`promqltest`], the parser of
//! the `.test` script language in which Prometheus writes its PromQL acceptance suite
//! (`../shared/promql-testdata`): the oracle the engine will be run against. The engine
//! itself, over any `storage::Queryable`, comes next.

mod aggregate;
pub mod ast;
mod binary;
pub mod engine;
mod functions;
mod instant;
pub mod limits;
pub mod promqltest;
pub mod query_log;
pub mod runner;
