//! Alert routing with Alertmanager's configuration: which receivers an alert goes to,
//! when notifications are muted, and the checks of the file.
//!
//! - [`config`]: the configuration file, read and checked.
//! - [`route`]: the routing tree.
//! - [`timeinterval`]: named time intervals.
//! - [`silence`]: silences, kept in a file.
//! - [`dispatch`]: grouping, muting and the notification schedule.
//! - [`notify`]: sending with retries, and the notification log.
//! - [`smtp`]: email over SMTP.
//! - [`template`]: notification templates, their data and the default texts.
//! - [`api`]: Alertmanager's v2 API for amtool, and the notification log's.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod notify;
pub mod route;
pub mod silence;
pub mod smtp;
pub mod template;
pub mod timeinterval;

pub use config::{Config, ConfigError};
pub use route::RouteNode;
