//! Kills a writing process with SIGKILL and checks what survives: every sample of every
//! commit that returned, each transaction all or nothing, and no sample that was never
//! committed.
//!
//! The test re-runs its own binary as the writer: with `SKYWATCH_CRASH_DIR` set, the
//! `writer` test ingests into that directory forever, cutting blocks as it goes, and prints
//! `committed K` after each commit returns. The parent reads those lines, kills the child at
//! an arbitrary point, reopens the directory and checks.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test, and a child process reporting to its parent"
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use model::{Labels, Matcher};
use storage::{Appendable, Queryable, SelectHints};
use tsdb::{Options, Tsdb};

const SERIES: i64 = 20;
const BLOCK_RANGE: i64 = 1_000;
const ENV: &str = "SKYWATCH_CRASH_DIR";

fn labels(name: &str, i: i64) -> Labels {
    Labels::from_pairs([("__name__", name), ("i", &i.to_string())])
}

fn options() -> Options {
    Options {
        block_range: BLOCK_RANGE,
        ..Options::default()
    }
}

/// The writer, when run as the child; a no-op in a normal test run.
#[test]
fn writer() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let db = Tsdb::open(&dir, options()).unwrap();
    let mut out = std::io::stdout().lock();
    for k in 1i64.. {
        // A transaction that is never committed: its samples must never be found.
        let mut never = db.appender();
        never
            .append(None, &labels("never", k % 3), k * 100, 1.0)
            .unwrap();
        let mut app = db.appender();
        for i in 0..SERIES {
            app.append(None, &labels("data", i), k * 100, k as f64)
                .unwrap();
        }
        app.commit().unwrap();
        never.rollback();
        writeln!(out, "committed {k}").unwrap();
        out.flush().unwrap();
        if k % 25 == 0 {
            db.cut().unwrap();
        }
    }
}

fn kill_after(dir: &std::path::Path, commits: i64) -> i64 {
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
    // finds the last commit that returned before the child died.
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if let Some(k) = line.strip_prefix("committed ") {
            last = k.parse().unwrap();
            if last >= commits && !killed {
                // SIGKILL lands wherever the writer is: appending, writing the WAL, applying,
                // cutting a block or checkpointing.
                child.kill().unwrap();
                killed = true;
            }
        }
    }
    child.wait().unwrap();
    last
}

#[test]
fn sigkill_loses_no_committed_sample_and_shows_no_uncommitted_one() {
    for commits in [40, 77, 130] {
        let dir = tempfile::tempdir().unwrap();
        let reported = kill_after(dir.path(), commits);
        assert!(
            reported >= commits,
            "the writer stopped early at {reported}"
        );

        let db = Tsdb::open(dir.path(), options()).unwrap();
        assert!(!db.blocks().is_empty(), "blocks were cut during ingestion");
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        let series = q
            .select(
                &SelectHints::default(),
                &[Matcher::equal("__name__", "data")],
            )
            .unwrap();
        let mut per_k: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
        let mut found = 0;
        for s in series {
            let mut s = s.unwrap();
            found += 1;
            let samples = s.samples.collect_vec().unwrap();
            for (j, x) in samples.iter().enumerate() {
                assert_eq!(
                    x.t,
                    (j as i64 + 1) * 100,
                    "{}: a gap or duplicate",
                    s.labels
                );
                assert_eq!(x.v, (j + 1) as f64);
                *per_k.entry(j as i64 + 1).or_default() += 1;
            }
        }
        assert_eq!(found, SERIES);
        let last = *per_k.keys().last().unwrap();
        assert!(
            last >= reported,
            "commit {reported} returned but only {last} survived"
        );
        // A commit in flight at the kill may or may not have made it, but never in part.
        assert!(last <= reported + 1, "{last} survived, {reported} returned");
        assert!(
            per_k.values().all(|n| *n == SERIES),
            "a torn transaction: {per_k:?}"
        );
        let mut never = q
            .select(
                &SelectHints::default(),
                &[Matcher::equal("__name__", "never")],
            )
            .unwrap();
        assert!(never.next().is_none(), "an uncommitted sample survived");
    }
}
