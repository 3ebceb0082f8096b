//! The tailer's own metrics, named after Promtail's with `skywatch_logtail_` for
//! `promtail_`, so Promtail's dashboards port by renaming:
//!
//! | metric | type | Promtail's | what |
//! |---|---|---|---|
//! | `skywatch_logtail_read_bytes_total{path}` | counter | `promtail_read_bytes_total` | bytes read from a file |
//! | `skywatch_logtail_read_lines_total{path}` | counter | `promtail_read_lines_total` | lines read from a file |
//! | `skywatch_logtail_files_active_total` | gauge | `promtail_files_active_total` | files followed now |
//! | `skywatch_logtail_sent_entries_total` | counter | `promtail_sent_entries_total` | entries the store took |
//! | `skywatch_logtail_refused_entries_total` | counter | `promtail_dropped_entries_total` | entries the store refused (logged) |
//! | `skywatch_logtail_dropped_lines_total{reason}` | counter | `logentry_dropped_lines_total` | lines a pipeline dropped |
//! | `skywatch_logtail_push_failures_total` | counter | | pushes the store failed (read again) |
//! | `skywatch_logtail_positions_write_failures_total` | counter | | positions file writes that failed |
//!
//! A file's series go when the file is forgotten. Counting takes the tailer's own small
//! locks (per batch, not per line), never the registry's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The tailer's counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    files: Mutex<BTreeMap<String, (u64, u64)>>,
    dropped: Mutex<BTreeMap<String, u64>>,
    active: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) push_errors: AtomicU64,
    pub(crate) position_errors: AtomicU64,
}

impl Stats {
    pub(crate) fn count(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, path: &str, bytes: u64) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.entry(path.to_owned()).or_default().0 += bytes;
    }

    pub(crate) fn lines(&self, path: &str, lines: u64) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.entry(path.to_owned()).or_default().1 += lines;
    }

    pub(crate) fn forget(&self, path: &str) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.remove(path);
    }

    pub(crate) fn dropped(&self, reason: &str) {
        let mut dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        *dropped.entry(reason.to_owned()).or_default() += 1;
    }

    pub(crate) fn set_active(&self, n: usize) {
        self.active.store(n as u64, Ordering::Relaxed);
    }
}

/// A `prometheus-client` collector of a tailer's counters; see the module's docs.
#[derive(Debug, Clone)]
pub struct Telemetry(pub(crate) Arc<Stats>);

fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// A counter family with one label; no series when `series` is empty.
fn family(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    series: &[(&str, u64)],
) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, v) in series {
        ConstCounter::new(*v).encode(m.encode_family(&[(label, *value)])?)?;
    }
    Ok(())
}

impl Collector for Telemetry {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.0;
        let files = s.files.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let dropped = s.dropped.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let bytes: Vec<_> = files.iter().map(|(p, (b, _))| (p.as_str(), *b)).collect();
        family(
            &mut e,
            "skywatch_logtail_read_bytes",
            "Bytes read from a tailed file.",
            "path",
            &bytes,
        )?;
        let lines: Vec<_> = files.iter().map(|(p, (_, l))| (p.as_str(), *l)).collect();
        family(
            &mut e,
            "skywatch_logtail_read_lines",
            "Lines read from a tailed file.",
            "path",
            &lines,
        )?;
        ConstGauge::new(i64::try_from(s.active.load(Ordering::Relaxed)).unwrap_or(i64::MAX))
            .encode(e.encode_descriptor(
                "skywatch_logtail_files_active_total",
                "Files being tailed.",
                None,
                MetricType::Gauge,
            )?)?;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut e,
            "skywatch_logtail_sent_entries",
            "Entries the log store took.",
            load(&s.sent),
        )?;
        counter(
            &mut e,
            "skywatch_logtail_refused_entries",
            "Entries the log store refused (each is logged with its file and line).",
            load(&s.refused),
        )?;
        let dropped: Vec<_> = dropped.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        family(
            &mut e,
            "skywatch_logtail_dropped_lines",
            "Lines a pipeline stage dropped, by the stage's reason.",
            "reason",
            &dropped,
        )?;
        counter(
            &mut e,
            "skywatch_logtail_push_failures",
            "Batches the log store failed to take; their lines are read again.",
            load(&s.push_errors),
        )?;
        counter(
            &mut e,
            "skywatch_logtail_positions_write_failures",
            "Writes of the positions file that failed.",
            load(&s.position_errors),
        )
    }
}
