//! Alert routing with Alertmanager's configuration: which receivers an alert goes to,
//! when notifications are muted, and the checks of the file.
//!
//! - [`config`]: the configuration file, read and checked.
//! - [`route`]: the routing tree.
//! - [`timeinterval`]: named time intervals.

pub mod config;
pub mod route;
pub mod timeinterval;

pub use config::{Config, ConfigError};
pub use route::RouteNode;
