//! Skywatch's log store: what `skywatch up` keeps logs in, behind the [`logs::LogStore`]
//! contract.
//!
//! Lines arrive in pushes, grouped in *streams* identified by their label sets, as Loki
//! has them. A push's accepted entries are written to a write-ahead log, then added to
//! their streams' *heads* in memory. When the heads are large or old enough they are *cut*:
//! each stream's entries become *chunks* (its lines' timestamps, lengths, text and
//! structured metadata in columns, compressed with zstd), written with every other
//! stream's chunks of the same cut into one immutable *segment* file, whose index gives
//! each chunk's stream, time range, entry and byte counts, and a bloom filter over its
//! lines' tokens. A query picks streams by label postings, chunks by time range and, for
//! `|=` needles, by bloom filter, and decompresses only what the visit reaches. Retention
//! deletes whole segments, by age and by size. This is the shape of Loki's ingester and
//! chunk store in one process, and the defaults of [`Options`] are Loki's where it has them.
//!
//! ```
//! use logs::{Entry, LogStore, Select, Stream, Visit};
//! use logdb::{LogDb, Options};
//! use model::{Labels, Matcher};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = LogDb::open(dir.path(), Options::default()).unwrap();
//! let labels = Labels::from_pairs([("job", "node")]);
//! let entry = Entry::new(1_000, r#"{"level":"warn","msg":"peer dropped"}"#);
//! db.push(&[Stream { labels, entries: vec![entry] }]).unwrap();
//! db.cut().unwrap(); // the head becomes a chunk in a segment file
//! assert_eq!(db.figures().chunks, 1);
//! drop(db);
//!
//! // Reopened, it reads the chunk.
//! let db = LogDb::open(dir.path(), Options::default()).unwrap();
//! let mut lines = Vec::new();
//! let select = Select::new(vec![Matcher::equal("job", "node")], 0, 2_000);
//! db.select(&select, &mut |_, batch| {
//!     lines.extend(batch.iter().map(|e| e.line.clone()));
//!     Visit::Continue
//! })
//! .unwrap();
//! assert_eq!(lines, [r#"{"level":"warn","msg":"peer dropped"}"#]);
//! ```
//!
//! **Figures** (`cargo run --release -p logdb --example bench`, 200,000 node-like JSON
//! lines of 193 bytes with trace IDs from a pool of 5,000, twenty streams, on a shared
//! two-core machine): 16.8 bytes per line on disk, 11.4 times smaller than the raw lines
//! (bloom filters 0.4 bytes of it); pushes of 1,000 lines take 310,000 to 650,000 lines/s
//! into the WAL and heads, 87,000 to 110,000 lines/s counting the compression of every line
//! into chunks (runs vary with the other work on the machine); a trace-ID needle over
//! everything skips 92% of the chunks (each trace's lines lie in the few chunks of the
//! nodes it crossed, while they were current) and answers in 6 to 10 ms at the median; a
//! stream costs about 290 bytes of resident memory with a one-line head, 670 after a cut
//! left it one chunk (its index entry and filter, and heap the freed heads left). zstd level 9 and
//! 1 MiB chunks were chosen by `--sweep`: level 3 stores 19% more bytes, level 12 saves
//! 1.6% more for a third more time; 256 KiB chunks store 9% more, 4 MiB 2.5% fewer.
//!
//! The on-disk format is drawn byte by byte in `docs/format/logs.md`.

mod bloom;
mod chunk;
mod db;
mod index;
mod segment;
mod wal;

pub use db::{DEFAULT_LEVEL, LogDb, LogDbFigures, Options};
pub use disk::wal::{Damage, SyncPolicy};

#[cfg(test)]
mod tests;
