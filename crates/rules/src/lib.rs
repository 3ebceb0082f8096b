//! Rules: Prometheus's rule files, their evaluation and their tests.
//!
//! - [`file`]: rule files read and checked as Prometheus checks them.
//! - [`template`]: the Go-template subset of alert labels and annotations.

pub mod file;
pub mod template;

pub use file::{Group, Kind, Rule, RuleFile, RuleFileError};
