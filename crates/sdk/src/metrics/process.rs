//! Process metrics with the names every Prometheus client library uses: CPU time, resident
//! and virtual memory, open and maximum file descriptors, threads and start time.
//!
//! They are read from `/proc/self` at scrape time, so they cost nothing between scrapes. On
//! systems without `/proc` the collector exposes nothing rather than wrong values.

use std::fs;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Collects `process_*` metrics for the current process.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessCollector;

impl ProcessCollector {
    /// Returns the collector; register it with [`super::Registry::register_collector`].
    pub fn new() -> Self {
        Self
    }
}

/// One reading of `/proc/self`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: f64,
    pub(crate) resident_bytes: f64,
    pub(crate) virtual_bytes: f64,
    pub(crate) threads: f64,
    pub(crate) start_time_seconds: f64,
    pub(crate) open_fds: Option<f64>,
    pub(crate) max_fds: Option<f64>,
}

impl ProcessStats {
    pub(crate) fn read() -> Option<Self> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_boot_time(&s))?;
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as f64;
        let mut stats = parse_stat(&stat, ticks, page, boot_time)?;
        stats.open_fds = fs::read_dir("/proc/self/fd")
            .ok()
            // The directory handle used for reading is itself an open fd: don't count it.
            .map(|d| d.count().saturating_sub(1) as f64);
        stats.max_fds = fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_fds(&s));
        Some(stats)
    }
}

/// Parses `/proc/self/stat`; see proc(5). The command name may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str, ticks: f64, page: f64, boot_time: f64) -> Option<ProcessStats> {
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_ascii_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    let field = |n: usize| f.get(n - 3)?.parse::<f64>().ok();
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) / ticks,
        threads: field(20)?,
        start_time_seconds: boot_time + field(22)? / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page,
        open_fds: None,
        max_fds: None,
    })
}

fn parse_boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn parse_max_fds(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(f64::INFINITY)
    } else {
        soft.parse().ok()
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(s) = ProcessStats::read() else {
            return Ok(());
        };
        let counter = ConstCounter::new(s.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            counter.metric_type(),
        )?)?;
        let mut gauge = |name: &str, help: &str, value: f64| -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            s.resident_bytes,
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            s.virtual_bytes,
        )?;
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            s.start_time_seconds,
        )?;
        gauge(
            "process_threads",
            "Number of OS threads in the process.",
            s.threads,
        )?;
        if let Some(open) = s.open_fds {
            gauge("process_open_fds", "Number of open file descriptors.", open)?;
        }
        if let Some(max) = s.max_fds {
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_hostile_command_name() {
        // Fields 3..=24 after a command name containing ") (".
        let stat = "42 (a) (b c) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 7 0 1000 \
                    123456789 2000 18446744073709551615";
        let s = parse_stat(stat, 100.0, 4096.0, 1_700_000_000.0).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7.0);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(s.virtual_bytes, 123_456_789.0);
        assert_eq!(s.resident_bytes, 2000.0 * 4096.0);
    }

    #[test]
    fn parses_limits_and_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
        assert_eq!(
            parse_boot_time("cpu  1 2\nbtime 1699999999\n"),
            Some(1_699_999_999.0)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let s = ProcessStats::read().unwrap();
        assert!(s.resident_bytes > 1e5, "{s:?}");
        assert!(s.threads >= 1.0);
        assert!(s.open_fds.unwrap() >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0 * 365.0);
    }
}
