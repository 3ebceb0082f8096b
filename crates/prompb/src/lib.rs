//! Prometheus's remote protocols' messages and remote write's receiving side, apart from
//! the sending side (`remote`, which reads the scrape configuration) so that the API
//! serves the receiver without depending on scraping.
//!
//! - [`proto`]: remote write 1.0's `prometheus.WriteRequest` and remote read's messages.
//! - [`v2`]: remote write 2.0's `io.prometheus.write.v2.Request`, and [`v2::encode_v2`].
//! - [`receive`]: decodes either write message and appends it to a
//!   [`storage::Appendable`], deciding what the specifications' answers are.

pub mod proto;
pub mod receive;
pub mod v2;
