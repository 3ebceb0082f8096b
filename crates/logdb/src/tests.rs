//! The store's tests: the conformance suite three ways (heads only, persisted into
//! segments, persisted and reopened), and what the contract leaves to the store: limits,
//! retention, chunk skipping, recovery.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Mutex;

use logs::conformance::Subject;
use logs::{Entry, LogStore, Select, Stream, Visit};
use model::{Labels, Matcher};

use crate::{LogDb, Options};

/// A store in a temporary directory, deleted with it.
struct Fresh {
    db: LogDb,
    _dir: tempfile::TempDir,
}

fn fresh(options: Options) -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    Fresh {
        db: LogDb::open(dir.path(), options).unwrap(),
        _dir: dir,
    }
}

impl std::ops::Deref for Fresh {
    type Target = LogDb;
    fn deref(&self) -> &LogDb {
        &self.db
    }
}

macro_rules! delegate {
    ($t:ty) => {
        impl LogStore for $t {
            fn push(&self, s: &[Stream]) -> Result<logs::Pushed, logs::LogError> {
                self.with(|d| d.push(s))
            }
            fn select(
                &self,
                s: &Select,
                v: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
            ) -> Result<(), logs::LogError> {
                self.with(|d| d.select(s, v))
            }
            fn series(
                &self,
                m: &[Vec<Matcher>],
                a: i64,
                b: i64,
            ) -> Result<Vec<Labels>, logs::LogError> {
                self.with(|d| d.series(m, a, b))
            }
            fn stats(
                &self,
                m: &[Matcher],
                a: i64,
                b: i64,
            ) -> Result<Vec<logs::StreamStats>, logs::LogError> {
                self.with(|d| d.stats(m, a, b))
            }
        }
    };
}

/// Heads only: nothing is ever cut.
struct HeadOnly(Fresh);
impl HeadOnly {
    fn with<R>(&self, f: impl FnOnce(&LogDb) -> R) -> R {
        f(&self.0)
    }
}
delegate!(HeadOnly);
impl Subject for HeadOnly {}

/// `persist` cuts every head into chunks in a segment file.
struct Cut(Fresh);
impl Cut {
    fn with<R>(&self, f: impl FnOnce(&LogDb) -> R) -> R {
        f(&self.0)
    }
}
delegate!(Cut);
impl Subject for Cut {
    fn persist(&self) {
        self.0.cut().unwrap();
    }
}

/// `persist` reopens the store from its directory: the first time as after a crash (the
/// heads come back from the WAL), then after a clean close (from segment files).
struct Reopened {
    db: Mutex<(Option<LogDb>, u32)>,
    dir: tempfile::TempDir,
}
impl Reopened {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = LogDb::open(dir.path(), small()).unwrap();
        Self {
            db: Mutex::new((Some(db), 0)),
            dir,
        }
    }
    fn with<R>(&self, f: impl FnOnce(&LogDb) -> R) -> R {
        let g = self.db.lock().unwrap();
        f(g.0.as_ref().unwrap())
    }
}
delegate!(Reopened);
impl Subject for Reopened {
    fn persist(&self) {
        let mut g = self.db.lock().unwrap();
        let db = g.0.take().unwrap();
        if g.1.is_multiple_of(2) {
            db.crash();
        } else {
            drop(db);
        }
        g.1 += 1;
        g.0 = Some(LogDb::open(self.dir.path(), small()).unwrap());
    }
}

fn small() -> Options {
    Options {
        // Several chunks per stream in the larger cases.
        chunk_target_bytes: 4 << 10,
        ..Options::default()
    }
}

mod heads {
    logs::conformance_tests!(super::HeadOnly(super::fresh(super::small())));
}

mod cut {
    logs::conformance_tests!(super::Cut(super::fresh(super::small())));
}

mod reopened {
    logs::conformance_tests!(super::Reopened::new());
}
