//! Skywatch's span store: what `skywatch up` and `skywatch demo` keep traces in, behind
//! the [`spans::SpanStore`] contract.
//!
//! Spans arrive in batches (one OTLP request each). A batch is written to a write-ahead
//! log, then added to the *head*, an in-memory map from trace ID to the trace's spans.
//! When the head is large or old enough it is *cut*: its spans, sorted by trace ID and
//! start, are written into an immutable *block*, a directory holding the spans in columnar,
//! zstd-compressed pages, a sorted trace-ID index, a bloom filter over the IDs, and a
//! summary of the services, span names and attributes present. Looking a trace up asks
//! each block's bloom filter first, so only the blocks that hold the trace (and about one
//! in a hundred others) have their index read. Blocks are merged by compaction and deleted
//! by retention, by age and by size. This is the shape of Grafana Tempo's storage, and the
//! defaults of [`Options`] are Tempo's where it has them.
//!
//! ```
//! use spans::{Span, SpanId, SpanStore, TraceId, Window};
//! use tracedb::{Options, TraceDb};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = TraceDb::open(dir.path(), Options::default()).unwrap();
//! let trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
//! let mut root = Span::new(trace, SpanId([1; 8]), "GET /api/tasks", 1_000, 9_000);
//! root.resource = spans::Resource::service("api").into();
//! db.append(&[root]).unwrap();
//! db.cut().unwrap(); // the head becomes a block
//!
//! let found = db.trace(&trace, Window::ALL).unwrap();
//! assert_eq!(found[0].name, "GET /api/tasks");
//! assert_eq!(db.stats().blocks, 1);
//! drop(db);
//!
//! // Reopened, it reads the block.
//! let db = TraceDb::open(dir.path(), Options::default()).unwrap();
//! assert_eq!(db.trace(&trace, Window::ALL).unwrap()[0].service_name(), "api");
//! ```
//!
//! The on-disk format is drawn byte by byte in `docs/format/traces.md`.

mod block;
mod bloom;
mod db;
mod head;
mod page;
mod row;
mod tags;
mod wal;

pub use block::{Block, BlockMeta, Compaction};
pub use db::{Options, Stats, TraceDb};
pub use tags::MAX_VALUES_PER_KEY;
pub use wal::{Damage, SEGMENT_SIZE, SyncPolicy};

#[cfg(test)]
mod tests;
