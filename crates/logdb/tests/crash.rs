//! Kills a pushing process with SIGKILL and checks what survives: every entry of every push
//! that returned, each push whole or not at all, and nothing of a push never made.
//!
//! The test re-runs its own binary as the writer: with `SKYWATCH_LOG_CRASH_DIR` set, the
//! `writer` test pushes into that directory forever, its heads cut into segment files as it
//! goes (small heads: a kill often lands in a cut), and prints `acked K` after each push
//! returns. The parent reads those lines, kills the child at an arbitrary point, reopens the
//! directory and checks.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test, and a child process reporting to its parent"
)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use logdb::{LogDb, Options};
use logs::conformance::read;
use logs::{Direction, Entry, LogStore, Stream};
use model::{Labels, Matcher};

const ENV: &str = "SKYWATCH_LOG_CRASH_DIR";
/// Streams every push writes to, and entries per stream.
const STREAMS: u64 = 3;
const PER_STREAM: u64 = 5;

fn options() -> Options {
    Options {
        max_head_bytes: 8 << 10,
        chunk_target_bytes: 2 << 10,
        ..Options::default()
    }
}

/// Push `k`: `PER_STREAM` entries in each of `STREAMS` streams.
fn push(k: u64) -> Vec<Stream> {
    (0..STREAMS)
        .map(|s| Stream {
            labels: Labels::from_pairs([("job", "crash".to_owned()), ("s", s.to_string())]),
            entries: (0..PER_STREAM)
                .map(|i| {
                    Entry::new(
                        (k * PER_STREAM + i) as i64,
                        format!(
                            r#"{{"push":{k},"entry":{i},"msg":"some padding to fill chunks"}}"#
                        ),
                    )
                })
                .collect(),
        })
        .collect()
}

/// The writer, when run as the child; a no-op in a normal test run.
#[test]
fn writer() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let db = LogDb::open(&dir, options()).unwrap();
    let mut out = std::io::stdout().lock();
    for k in 1u64.. {
        let pushed = db.push(&push(k)).unwrap();
        assert_eq!(pushed.accepted, STREAMS * PER_STREAM);
        writeln!(out, "acked {k}").unwrap();
        out.flush().unwrap();
    }
}

fn kill_after(dir: &std::path::Path, acked: u64) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer", "--nocapture", "--test-threads=1"])
        .env(ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = 0;
    let mut killed = false;
    // The child runs ahead of this reader; after the kill, reading on to the end of the pipe
    // finds the last push that returned before the child died.
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if let Some(k) = line.strip_prefix("acked ") {
            last = k.parse().unwrap();
            if last >= acked && !killed {
                child.kill().unwrap();
                killed = true;
            }
        }
    }
    child.wait().unwrap();
    last
}

#[test]
fn sigkill_loses_no_acknowledged_entry_and_keeps_no_half_push() {
    for acked in [40, 150, 400] {
        let dir = tempfile::tempdir().unwrap();
        let reported = kill_after(dir.path(), acked);
        assert!(reported >= acked, "the writer stopped early at {reported}");

        let db = LogDb::open(dir.path(), options()).unwrap();
        assert!(db.figures().segments > 0, "heads were cut while pushing");
        let got = read(
            &db,
            vec![Matcher::equal("job", "crash")],
            i64::MIN,
            i64::MAX,
            Direction::Forward,
        );
        // Entries per push, over every stream; and no entry twice.
        let mut per_push: HashMap<u64, u64> = HashMap::new();
        for (_, entries) in &got {
            let mut seen = std::collections::HashSet::new();
            for e in entries {
                assert!(seen.insert(e.timestamp), "entry {} twice", e.timestamp);
                *per_push.entry(e.timestamp as u64 / PER_STREAM).or_default() += 1;
            }
        }
        for k in 1..=reported + 2 {
            let n = per_push.get(&k).copied().unwrap_or(0);
            let whole = n == STREAMS * PER_STREAM;
            assert!(whole || n == 0, "push {k} is torn: {n} entries");
            if k <= reported {
                assert!(whole, "push {k} was acknowledged but is lost");
            }
            if k > reported + 1 {
                assert_eq!(n, 0, "push {k} was never made but is there");
            }
        }
    }
}
