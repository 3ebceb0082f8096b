//! Kills an appending process with SIGKILL and checks what survives: every span of every
//! batch whose append returned, each batch whole or not at all, and nothing of a batch
//! that was never appended.
//!
//! The test re-runs its own binary as the writer: with `SKYWATCH_SPAN_CRASH_DIR` set, the
//! `writer` test appends into that directory forever, its head cut into blocks as it goes
//! and the blocks compacted, and prints `acked K` after each append returns. The parent
//! reads those lines, kills the child at an arbitrary point, reopens the directory and
//! checks.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test, and a child process reporting to its parent"
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use spans::conformance::{span, trace_id};
use spans::{Span, SpanStore, Window};
use tracedb::{Options, TraceDb};

const ENV: &str = "SKYWATCH_SPAN_CRASH_DIR";
/// Spans of a batch's own trace.
const PER_BATCH: u64 = 5;
/// The trace that gets one span from every batch, across every block.
const LONG: u64 = 0;

fn options() -> Options {
    Options {
        // Small heads: cuts happen every few dozen batches, and a kill lands in one now
        // and then.
        max_head_bytes: 4 << 10,
        ..Options::default()
    }
}

/// Batch `k`: trace `k`'s spans, and span `k` of the long trace.
fn batch(k: u64) -> Vec<Span> {
    let mut b: Vec<Span> = (0..PER_BATCH)
        .map(|n| span(k, n, "api", k * 1_000 + n, 10))
        .collect();
    b.push(span(LONG, k, "wasm", k * 1_000, 5));
    b
}

/// The writer, when run as the child; a no-op in a normal test run.
#[test]
fn writer() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let db = TraceDb::open(&dir, options()).unwrap();
    let mut out = std::io::stdout().lock();
    for k in 1u64.. {
        db.append(&batch(k)).unwrap();
        writeln!(out, "acked {k}").unwrap();
        out.flush().unwrap();
        if k % 97 == 0 {
            db.compact().unwrap();
        }
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
    // finds the last append that returned before the child died.
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if let Some(k) = line.strip_prefix("acked ") {
            last = k.parse().unwrap();
            if last >= acked && !killed {
                // SIGKILL lands wherever the writer is: encoding, writing the WAL, applying,
                // cutting a block or compacting.
                child.kill().unwrap();
                killed = true;
            }
        }
    }
    child.wait().unwrap();
    last
}

#[test]
fn sigkill_loses_no_acknowledged_span_and_keeps_no_half_batch() {
    for acked in [60, 150, 333] {
        let dir = tempfile::tempdir().unwrap();
        let reported = kill_after(dir.path(), acked);
        assert!(reported >= acked, "the writer stopped early at {reported}");

        let db = TraceDb::open(dir.path(), options()).unwrap();
        assert!(!db.blocks().is_empty(), "blocks were cut while appending");
        let long = db.trace(&trace_id(LONG), Window::ALL).unwrap();
        let long_ids: std::collections::HashSet<_> = long.iter().map(|s| s.span_id).collect();
        assert_eq!(long_ids.len(), long.len(), "a span of the long trace twice");
        for k in 1..=reported + 2 {
            let own = db.trace(&trace_id(k), Window::ALL).unwrap();
            let in_long = long_ids.contains(&spans::conformance::span_id(k));
            let whole = own.len() as u64 == PER_BATCH && in_long;
            let none = own.is_empty() && !in_long;
            assert!(
                whole || none,
                "batch {k} is torn: {} spans, long {in_long}",
                own.len()
            );
            if k <= reported {
                assert!(whole, "batch {k} was acknowledged but is lost");
            }
            if k > reported + 1 {
                assert!(none, "batch {k} was never appended but is there");
            }
        }
        let acked_long = long.len() as u64;
        assert!(
            acked_long == reported || acked_long == reported + 1,
            "{acked_long} of {reported}"
        );
    }
}
