//! Scraping: Prometheus's configuration file, target discovery, relabelling and the scrape
//! loops that write what targets expose through `storage::Appendable`.
//!
//! - [`config`]: the configuration, a compatible subset of `prometheus.yml`, checked with
//!   errors that name the line and key.
//! - [`relabel`]: every relabelling action, as Prometheus applies them.

pub mod config;
pub mod relabel;

pub use config::{Config, ConfigError};
