//! The store's tests: the conformance suite three ways (heads only, persisted into
//! segments, persisted and reopened), and what the contract leaves to the store: limits,
//! retention, chunk skipping, recovery.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Mutex;
use std::time::Duration;

use logs::conformance::{Subject, read};
use logs::{Direction, Entry, LogStore, Reason, Select, Stream, Visit};
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

const SEC: i64 = 1_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn stream(pairs: &[(&str, &str)], entries: Vec<Entry>) -> Stream {
    Stream {
        labels: labels(pairs),
        entries,
    }
}

fn job(v: &str) -> Vec<Matcher> {
    vec![Matcher::equal("job", v)]
}

#[test]
fn long_lines_and_streams_past_the_limit_are_refused_alone() {
    let db = fresh(Options {
        max_line_bytes: 10,
        max_streams: 2,
        ..Options::default()
    });
    let pushed = db
        .push(&[
            stream(
                &[("job", "a")],
                vec![Entry::new(1, "short"), Entry::new(2, "x".repeat(11))],
            ),
            stream(&[("job", "b")], vec![Entry::new(1, "b")]),
            stream(
                &[("job", "c")],
                vec![Entry::new(1, "c"), Entry::new(2, "c2")],
            ),
            stream(&[("job", "a")], vec![Entry::new(3, "a again")]),
        ])
        .unwrap();
    assert_eq!(pushed.accepted, 3);
    let refused: Vec<(usize, usize, Reason)> = pushed
        .refused
        .iter()
        .map(|r| (r.stream, r.entry, r.reason.clone()))
        .collect();
    assert_eq!(
        refused,
        [
            (
                0,
                1,
                Reason::LineTooLong {
                    size: 11,
                    limit: 10
                }
            ),
            (2, 0, Reason::StreamLimit { limit: 2 }),
            (2, 1, Reason::StreamLimit { limit: 2 }),
        ]
    );
    assert!(refused[1].2.to_string().contains("max_streams"));
    assert_eq!(db.figures().streams, 2);
}

#[test]
fn entries_older_than_retention_are_refused() {
    let db = fresh(Options {
        retention_age: Some(Duration::from_secs(3600)),
        ..Options::default()
    });
    let pushed = db
        .push(&[stream(&[("job", "a")], vec![Entry::new(1, "1970")])])
        .unwrap();
    assert!(
        matches!(pushed.refused[0].reason, Reason::BeyondRetention { .. }),
        "{pushed:?}"
    );
}

/// `n` cuts of one stream `job=a`, cut `k` holding entries at `k * 1000 s`.
fn cuts(db: &LogDb, n: i64) {
    for k in 0..n {
        let entries = (0..100)
            .map(|i| Entry::new(k * 1000 * SEC + i * SEC, format!("cut {k} line {i}")))
            .collect();
        db.push(&[
            stream(&[("job", "a")], entries),
            stream(
                &[("job", format!("only{k}").as_str())],
                vec![Entry::new(k * 1000 * SEC, "x")],
            ),
        ])
        .unwrap();
        db.cut().unwrap();
    }
}

#[test]
fn retention_deletes_whole_oldest_segments_by_age_and_by_size() {
    // Written without retention (the entries are from 1970), then reopened with it.
    let dir = tempfile::tempdir().unwrap();
    cuts(&LogDb::open(dir.path(), Options::default()).unwrap(), 5);
    let db = LogDb::open(
        dir.path(),
        Options {
            retention_age: Some(Duration::from_secs(2500)),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(db.figures().segments, 5);
    // Now is 5,000 s: segments whose newest entry is before 2,500 s go (cuts 0, 1 and 2,
    // whose newest entries are at 99 s, 1,099 s and 2,099 s).
    assert_eq!(db.apply_retention(5_000 * SEC).unwrap(), 3);
    let f = db.figures();
    assert_eq!(
        (f.segments, f.streams),
        (2, 3),
        "the streams of deleted cuts are forgotten"
    );
    let got = read(&db, job("a"), 0, i64::MAX, Direction::Forward);
    assert_eq!(got[0].1.len(), 200);
    assert_eq!(got[0].1[0].timestamp, 3000 * SEC);
    assert_eq!(
        std::fs::read_dir(db.dir().join("chunks")).unwrap().count(),
        2
    );

    let sized = fresh(Options {
        retention_bytes: Some(1),
        ..Options::default()
    });
    cuts(&sized, 3);
    sized
        .push(&[stream(
            &[("job", "a")],
            vec![Entry::new(5000 * SEC, "head")],
        )])
        .unwrap();
    assert_eq!(
        sized.apply_retention(0).unwrap(),
        3,
        "every segment, never the head"
    );
    let got = read(&*sized, job("a"), 0, i64::MAX, Direction::Forward);
    assert_eq!(got[0].1.len(), 1);
}

/// Node-like lines: 100 traces of 20 lines each, in one stream, cut into many chunks.
fn traced(db: &LogDb) -> Vec<String> {
    let ids: Vec<String> = (0..100u64)
        .map(|i| format!("{:016x}{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15), !i))
        .collect();
    let entries: Vec<Entry> = (0..2_000i64)
        .map(|i| {
            let id = &ids[(i / 20) as usize];
            Entry::new(
                i * SEC,
                format!(r#"{{"level":"info","msg":"step {i}","trace_id":"{id}"}}"#),
            )
        })
        .collect();
    db.push(&[stream(&[("job", "node")], entries)]).unwrap();
    db.cut().unwrap();
    ids
}

#[test]
fn a_trace_id_needle_decompresses_only_the_chunks_that_may_hold_it() {
    let db = fresh(Options {
        chunk_target_bytes: 2 << 10,
        ..Options::default()
    });
    let ids = traced(&db);
    let chunks = db.figures().chunks;
    assert!(chunks > 50, "{chunks} chunks");
    let mut select = Select::new(job("node"), 0, i64::MAX);
    select.contains = vec![ids[42].clone()];
    let before = db.figures().chunks_read;
    let mut found = 0;
    db.select(&select, &mut |_, batch| {
        found += batch.iter().filter(|e| e.line.contains(&ids[42])).count();
        Visit::Continue
    })
    .unwrap();
    let read = db.figures().chunks_read - before;
    assert_eq!(found, 20);
    assert!(read <= 3, "{read} of {chunks} chunks decompressed");
}

#[test]
fn a_visit_that_moves_on_decompresses_nothing_more_of_the_stream() {
    let db = fresh(Options {
        chunk_target_bytes: 2 << 10,
        ..Options::default()
    });
    traced(&db);
    let before = db.figures().chunks_read;
    let mut first = None;
    db.select(
        &Select::new(job("node"), 0, i64::MAX).direction(Direction::Backward),
        &mut |_, batch| {
            first = Some(batch[0].timestamp);
            Visit::NextStream
        },
    )
    .unwrap();
    assert_eq!(first, Some(1_999 * SEC));
    assert_eq!(db.figures().chunks_read - before, 1);
}

#[test]
fn stats_count_whole_chunks_by_meta_and_cut_ones_exactly() {
    let db = fresh(Options {
        chunk_target_bytes: 2 << 10,
        ..Options::default()
    });
    traced(&db);
    let before = db.figures().chunks_read;
    let all = db.stats(&job("node"), 0, i64::MAX).unwrap();
    assert_eq!(all[0].entries, 2_000);
    assert_eq!(db.figures().chunks_read, before, "no chunk decompressed");
    let part = db.stats(&job("node"), 10 * SEC, 1_010 * SEC).unwrap();
    assert_eq!(part[0].entries, 1_000);
    assert!(db.figures().chunks_read - before <= 2);
}

#[test]
fn full_heads_are_cut_in_the_background_and_read_back_whole() {
    let db = fresh(Options {
        max_head_bytes: 8 << 10,
        chunk_target_bytes: 2 << 10,
        ..Options::default()
    });
    for k in 0..200i64 {
        let entries = (0..10)
            .map(|i| Entry::new(k * 10 + i, format!("push {k} entry {i} padding padding")))
            .collect();
        db.push(&[stream(&[("job", "a")], entries)]).unwrap();
    }
    db.maintain().unwrap();
    let f = db.figures();
    // About 66 KiB of lines against an 8 KiB limit: however late the background writes
    // come (pushes wait once the new heads reach twice the limit), several cuts happen.
    assert!(f.segments >= 3, "{f:?}");
    let got = read(&*db, job("a"), 0, i64::MAX, Direction::Forward);
    let ts: Vec<i64> = got[0].1.iter().map(|e| e.timestamp).collect();
    assert_eq!(ts, (0..2_000).collect::<Vec<_>>());
}

/// Cuts the last `n` bytes off the file at `path`.
fn cut_short(path: &std::path::Path, n: u64) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len - n)
        .unwrap();
}

#[test]
fn a_torn_wal_tail_is_cut_off_and_reported_and_the_rest_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    for k in 0..3 {
        db.push(&[stream(
            &[("job", "a")],
            vec![Entry::new(k, format!("line {k}"))],
        )])
        .unwrap();
    }
    db.crash();
    let (_, seg) = disk::wal::segments(&dir.path().join("wal"))
        .unwrap()
        .pop()
        .unwrap();
    cut_short(&seg, 2);
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    let damage = db.wal_damage().unwrap().to_string();
    assert!(damage.contains(&seg.display().to_string()), "{damage}");
    let got = read(&db, job("a"), 0, 10, Direction::Forward);
    let lines: Vec<&str> = got[0].1.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["line 0", "line 1"]);
}

/// Regression (chaos suite): a damaged segment file used to stop the open, taking every
/// other segment and the WAL offline with it.
#[test]
fn a_damaged_segment_file_is_quarantined_and_the_rest_opens() {
    let dir = tempfile::tempdir().unwrap();
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    for k in 0..3 {
        db.push(&[stream(
            &[("job", "a")],
            vec![Entry::new(k, format!("line {k}"))],
        )])
        .unwrap();
        if k < 2 {
            db.cut().unwrap();
        }
    }
    db.crash();
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let damaged = &files[1];
    cut_short(damaged, 5);
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    let q = db.quarantined();
    assert_eq!(q.len(), 1);
    assert!(
        q[0].reason.contains(&damaged.display().to_string()),
        "{}",
        q[0]
    );
    assert_eq!(
        q[0].to,
        dir.path()
            .join("quarantine")
            .join(damaged.file_name().unwrap())
    );
    let got = read(&db, job("a"), 0, 10, Direction::Forward);
    let lines: Vec<&str> = got[0].1.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        lines,
        ["line 0", "line 2"],
        "the other segment and the WAL are kept"
    );
}

#[test]
fn out_of_order_entries_across_cuts_and_reopens_merge_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    let l = [("job", "a")];
    db.push(&[stream(&l, vec![Entry::new(10, "a"), Entry::new(30, "c")])])
        .unwrap();
    db.cut().unwrap();
    db.push(&[stream(
        &l,
        vec![
            Entry::new(20, "b"),
            Entry::new(30, "c"),
            Entry::new(30, "d"),
        ],
    )])
    .unwrap();
    drop(db);
    let db = LogDb::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.figures().segments, 2);
    for (direction, want) in [
        (Direction::Forward, vec!["a", "b", "c", "d"]),
        (Direction::Backward, vec!["d", "c", "b", "a"]),
    ] {
        let got = read(&db, job("a"), 0, 100, direction);
        let lines: Vec<&str> = got[0].1.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, want);
    }
    let stats = db.stats(&job("a"), 0, 100).unwrap();
    assert_eq!(stats[0].chunks, 2);
}
