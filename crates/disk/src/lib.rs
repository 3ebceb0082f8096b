//! What Skywatch's stores share on disk: the series database (`tsdb`) and the span store
//! (`tracedb`) each keep a write-ahead log, encode with varints, lock their directory and
//! name their blocks the same way. The formats built on these are the stores' own
//! (`docs/format/`); this crate holds only the parts that are the same for both.
//!
//! ```
//! use disk::wal::{self, SyncPolicy, Wal};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut log = Wal::open(dir.path(), SyncPolicy::Always, 1).unwrap();
//! let mut buf = Vec::new();
//! wal::frame(&mut buf, 7, |payload| disk::varint::put_uvarint(payload, 300));
//! log.write(&buf).unwrap();
//!
//! let mut seen = Vec::new();
//! let damage = wal::read(dir.path(), true, |kind, payload| {
//!     seen.push((kind, disk::varint::Reader::new(payload).uvarint()?));
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!((seen, damage), (vec![(7, 300)], None));
//! ```

pub mod dir;
#[cfg(feature = "testing")]
pub mod testing;
pub mod varint;
pub mod wal;

use std::path::{Path, PathBuf};

/// A file system operation that failed. Retrying may help once the cause (a full disk,
/// permissions) is fixed.
#[derive(Debug)]
pub struct Error {
    /// What was being done, for example "writing".
    pub op: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The underlying error.
    pub source: std::io::Error,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps an I/O error with what was done to which path.
pub fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error {
        op,
        path: path.to_owned(),
        source,
    }
}
