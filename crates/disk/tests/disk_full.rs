//! A full disk under the write-ahead log: on a small tmpfs that the test mounts itself,
//! writes fail while the disk is full, and once space returns every acknowledged record
//! reads back and nothing is damaged.
//!
//! Regression (chaos suite): a write that filled the disk left the part of its records
//! that fitted in the segment; the next write, once space returned, went after them, and
//! replay stopped at the torn bytes, losing every record acknowledged after the disk was
//! full. Mounting needs root (CI runs as root); without it the test fails saying so.

#![allow(clippy::unwrap_used, reason = "a test")]

use std::path::{Path, PathBuf};

use disk::testing::Tmpfs;

use disk::wal::{self, SyncPolicy, Wal};

fn record(n: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    wal::frame(&mut buf, 1, |p| {
        p.extend_from_slice(&n.to_le_bytes());
        // Large enough that a record is often cut by the end of the space.
        p.extend_from_slice(&[n as u8; 3000]);
    });
    buf
}

fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    while f.write_all(&[0xAB; 1000]).is_ok() {}
    filler
}

#[test]
fn a_full_disk_fails_writes_and_loses_nothing_acknowledged_once_space_returns() {
    let fs = Tmpfs::mount("256k");
    let log = fs.dir().join("wal");
    let mut wal = Wal::open(&log, SyncPolicy::Never, 1).unwrap();
    let mut acked = Vec::new();
    let mut n = 0;
    for _ in 0..10 {
        wal.write(&record(n)).unwrap();
        acked.push(n);
        n += 1;
    }
    let filler = fill(fs.dir());
    // Free a little less than a record, so that the next write is cut in the middle.
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - 2048)
        .unwrap();
    let mut failed = 0;
    for _ in 0..5 {
        match wal.write(&record(n)) {
            Ok(()) => acked.push(n),
            Err(e) => {
                failed += 1;
                let e = e.to_string();
                assert!(
                    e.contains("No space left on device") && e.contains(&log.display().to_string()),
                    "the error names the file and the cause: {e}"
                );
            }
        }
        n += 1;
    }
    assert!(failed > 0, "the disk never filled");
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..10 {
        wal.write(&record(n)).unwrap();
        acked.push(n);
        n += 1;
    }
    drop(wal);
    let mut got = Vec::new();
    let damage = wal::read(&log, false, |_, p| {
        got.push(u32::from_le_bytes([p[0], p[1], p[2], p[3]]));
        Ok(())
    })
    .unwrap();
    assert_eq!(damage, None, "a failed write left no torn record");
    assert_eq!(got, acked);
}
