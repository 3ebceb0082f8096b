//! The one HTTP client configuration of Skywatch, as Prometheus's `common/config` defines
//! it: the settings (`config.rs`, read and checked as Prometheus checks them), the reqwest
//! client and `Authorization` header they make (`client.rs`), TLS through rustls
//! (`tls.rs`), and OAuth 2.0 client credentials (`oauth2.rs`). Scrape jobs, service
//! discovery, `alerting.alertmanagers`, remote write and read, the server's own trace
//! export and Alertmanager's receivers all use it, so that a setting means the same
//! everywhere.

pub mod client;
pub mod config;
pub mod oauth2;
pub mod tls;

pub use client::Auth;
pub use config::{Authorization, BasicAuth, HttpClientConfig, TlsConfig, TlsVersion};
