//! Tailing local log files into a log store, configured as Promtail is.
//!
//! A node that only writes files (JSON lines, logfmt, plain text) is covered by pointing
//! `skywatch up --logs.config.file` at a Promtail configuration: each `scrape_configs` job
//! names files by a glob in `__path__`, labels them (static labels, `relabel_configs` over
//! the target's labels, `filename`), and runs each line through `pipeline_stages` (parse
//! JSON or logfmt, promote fields to labels or structured metadata, take the timestamp
//! from the line, drop noise). The lines go to a [`logs::LogStore`], not to a Loki
//! endpoint: `clients:` is read and ignored. What Promtail offers and Skywatch does not
//! (journal, syslog, service discovery, the `template`, `multiline`, `cri` stages, ...) is
//! refused by name and line when the configuration is read ([`Config::parse`]).
//!
//! The [`Tailer`] follows rotation (rename and create, copytruncate), waits for partial
//! lines to end, and keeps its positions in Promtail's positions file format, so a
//! restart, or a move from Promtail, reads on where reading stopped.
//!
//! ```
//! use std::sync::Arc;
//! use logs::{LogStore, MemLogs, Select};
//! use model::Matcher;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let log = dir.path().join("node.log");
//! std::fs::write(&log, "{\"level\":\"warn\",\"msg\":\"peer lost\",\"trace_id\":\"4bf9\"}\n").unwrap();
//! let config = logtail::Config::parse(&format!(r#"
//! scrape_configs:
//! - job_name: node
//!   static_configs:
//!   - labels: {{job: node, __path__: "{}/*.log"}}
//!   pipeline_stages:
//!   - json: {{expressions: {{level: , msg: , trace_id: }}}}
//!   - labels: {{level: }}
//!   - structured_metadata: {{trace_id: }}
//!   - output: {{source: msg}}
//! "#, dir.path().display()), "promtail.yaml").unwrap();
//!
//! let store = Arc::new(MemLogs::new());
//! let mut tailer = logtail::Tailer::new(logtail::TailerOptions {
//!     positions_file: config.positions_file(dir.path()),
//!     config,
//!     store: store.clone(),
//! }).unwrap();
//! let polled = tailer.poll_once();
//! assert_eq!(polled.accepted, 1);
//!
//! let mut got = Vec::new();
//! store.select(&Select::new(vec![Matcher::equal("job", "node")], 0, i64::MAX), &mut |labels, entries| {
//!     for e in entries {
//!         got.push((labels.to_string(), e.line.clone(), e.metadata.to_string()));
//!     }
//!     logs::Visit::Continue
//! }).unwrap();
//! let file = log.display();
//! assert_eq!(got, [(
//!     format!(r#"{{filename="{file}",job="node",level="warn"}}"#),
//!     "peer lost".to_owned(),
//!     r#"{trace_id="4bf9"}"#.to_owned(),
//! )]);
//! ```

mod config;
mod positions;
mod stages;
mod tailer;
mod targets;
mod telemetry;
mod timefmt;

pub use config::{Config, ConfigError, Positions as PositionsConfig, ScrapeConfig, StaticConfig};
pub use positions::{Position, Positions};
pub use stages::{Line, Outcome, Pipeline, State, Value};
pub use tailer::{BATCH_BYTES, Polled, Running, Tailer, TailerOptions};
pub use targets::FileTarget;
pub use telemetry::Telemetry;
