//! Cutting the head into a block on a full disk: on a small tmpfs that the test mounts
//! itself, the cut fails naming the cause, every sample stays readable, no partial block is
//! left, and once space returns the cut succeeds and a restart finds everything.
//!
//! Regression (chaos suite): the head gave up the data before the block was written, so a
//! block write that failed hid it from queries, and the next successful cut's checkpoint
//! deleted it from the WAL for good. Mounting needs root (CI runs as root); without it the
//! test fails saying so.

#![allow(clippy::unwrap_used, reason = "a test")]

use std::io::Write as _;
use std::path::Path;

use disk::testing::Tmpfs;

use model::{Labels, Timestamp};
use storage::Appendable;
use tsdb::{Options, Tsdb};

const HOUR: i64 = 3_600_000;

/// Every sample of every series, as (labels, timestamps).
fn everything(db: &Tsdb) -> Vec<(Labels, Vec<Timestamp>)> {
    storage::conformance::select_all(db, Timestamp::MIN, Timestamp::MAX, &[])
        .into_iter()
        .map(|(l, s)| (l, s.iter().map(|s| s.t).collect()))
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_cut_on_a_full_disk_fails_keeps_every_sample_and_succeeds_once_space_returns() {
    let fs = Tmpfs::mount("2m");
    let data = fs.dir().join("db");
    let db = Tsdb::open(&data, Options::default()).unwrap();
    // Five hours of two series, a sample a minute: the first two-hour range can be cut.
    let mut app = db.appender();
    for t in (0..5 * HOUR).step_by(60_000) {
        for i in 0..2 {
            let labels = Labels::from_pairs([("__name__", "up"), ("i", &i.to_string())]);
            app.append(None, &labels, t, t as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let before = everything(&db);
    assert_eq!(before.len(), 2);

    let filler = fs.dir().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0; 4096]).is_ok() {}
    drop(f);
    let e = db.cut().unwrap_err().to_string();
    assert!(e.contains("No space left on device"), "{e}");
    assert_eq!(everything(&db), before, "a failed cut hides no sample");
    assert_eq!(
        leftovers(&data),
        Vec::<String>::new(),
        "no partial block is left"
    );
    assert!(db.blocks().is_empty());

    std::fs::remove_file(&filler).unwrap();
    let cut = db.cut().unwrap();
    assert!(!cut.is_empty(), "the cut succeeds once space returns");
    assert_eq!(everything(&db), before);
    drop(db);
    let db = Tsdb::open(&data, Options::default()).unwrap();
    assert_eq!(db.wal_damage(), None);
    assert_eq!(everything(&db), before, "after a restart too");
}
