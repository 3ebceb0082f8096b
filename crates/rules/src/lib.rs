//! Rules: Prometheus's rule files, their evaluation and their tests.
//!
//! - [`file`]: rule files read and checked as Prometheus checks them.
//! - [`template`]: the Go-template subset of alert labels and annotations.
//! - [`eval`]: a group's evaluation: recording rules, alert states, `ALERTS`.
//! - [`unittest`]: promtool's unit-test format.
//! - [`glob`]: `rule_files` patterns expanded as Go expands them.
//! - [`manager`]: the groups of the configured rule files, run at their intervals.

pub mod eval;
pub mod file;
pub use model::glob;
pub mod manager;
pub mod template;
pub mod unittest;
mod window_edge;

pub use file::{Group, Kind, Rule, RuleFile, RuleFileError};
