//! Scraping: Prometheus's configuration file, target discovery, relabelling and the scrape
//! loops that write what targets expose through `storage::Appendable`.
//!
//! - [`config`]: the configuration, a compatible subset of `prometheus.yml`, checked with
//!   errors that name the line and key.
//! - [`relabel`]: every relabelling action, as Prometheus applies them.
//! - [`target`]: targets' labels and URLs from their groups, through relabelling.
//! - [`scrape_loop`]: one target's scrapes, staleness and synthetic series.
//! - [`manager`]: the loops of a configuration, reconciled on reload and as target files
//!   change.

mod aws;
pub mod config;
pub mod discovery;
pub mod manager;
pub mod relabel;
pub mod scrape_loop;
pub mod target;

pub use config::{Config, ConfigError};
/// The shared HTTP client settings, as `scrape::client`, `scrape::oauth2` and
/// `scrape::tls` for the code that names them so.
pub use httpclient::{client, oauth2, tls};
pub use manager::{DiscoveryFailure, ScrapeManager, TargetState};
pub use scrape_loop::{Health, MetricMetadata, ScrapeLimitCounts, ScrapeStatus};
