//! `skywatch tsdb`: import data into a TSDB directory and inspect one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use model::{Labels, LabelsBuilder, METRIC_NAME, Sample};
use textparse::{Entry, Format, Parser};

/// `skywatch tsdb ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TsdbCommand {
    /// Import samples into blocks in a data directory.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Show what a data directory holds: series, samples, bytes, time range.
    Stats(StatsArgs),
}

/// `skywatch tsdb import ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Import an OpenMetrics text file with timestamped samples, ending in `# EOF` (the
    /// input of `promtool tsdb create-blocks-from openmetrics`).
    Openmetrics(ImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The OpenMetrics file to read.
    file: PathBuf,
    /// The data directory to write blocks into (created if missing).
    dir: PathBuf,
    /// The time range of each block.
    #[arg(long, default_value = "2h", value_parser = parse_duration)]
    block_duration: Duration,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The data directory.
    dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (for example 2h or 90m)"))?;
    if d.as_millis() == 0 {
        return Err("must be at least 1ms".into());
    }
    Ok(d)
}

pub(crate) fn run(cmd: TsdbCommand) -> Result<(), String> {
    match cmd {
        TsdbCommand::Import(ImportCommand::Openmetrics(args)) => import(&args),
        TsdbCommand::Stats(args) => stats(&args),
    }
}

/// Parses an OpenMetrics file into series, keyed by the raw series text of each line so
/// that a repeated series costs a hash lookup, not a label set.
fn parse_file(path: &Path, input: &str) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
    let mut by_text: HashMap<&str, usize> = HashMap::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut parser = Parser::new(input, Format::OpenMetrics);
    while let Some(entry) = parser.next() {
        let entry = entry
            .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))?;
        let Entry::Sample(s) = entry else { continue };
        let Some(t) = s.timestamp else {
            return Err(format!(
                "{}:{}: the sample of {} has no timestamp: imported samples need one (as for promtool)",
                path.display(),
                parser.line(),
                s.series
            ));
        };
        let index = match by_text.get(s.series) {
            Some(&i) => i,
            None => {
                let mut b = LabelsBuilder::new();
                for (k, v) in &s.labels {
                    b.set(k, v);
                }
                b.set(METRIC_NAME, s.name);
                let labels = b.build();
                let i = *by_labels.entry(labels.clone()).or_insert_with(|| {
                    series.push((labels, Vec::new()));
                    series.len() - 1
                });
                by_text.insert(s.series, i);
                i
            }
        };
        series[index].1.push(Sample::new(t, s.value));
    }
    Ok(series)
}

fn import(args: &ImportArgs) -> Result<(), String> {
    let started = Instant::now();
    let input = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let series = parse_file(&args.file, &input)?;
    drop(input);
    let samples: usize = series.iter().map(|(_, s)| s.len()).sum();
    if !args.quiet {
        eprintln!(
            "parsed {samples} samples of {} series in {:.1?}",
            series.len(),
            started.elapsed()
        );
    }
    let range = i64::try_from(args.block_duration.as_millis()).unwrap_or(i64::MAX);
    let quiet = args.quiet;
    let summary = tsdb::import::write_blocks(&args.dir, series, range, |meta| {
        if !quiet {
            eprintln!(
                "wrote block {} [{} .. {}]: {} series, {} samples",
                meta.id,
                format_ts(meta.min_time),
                format_ts(meta.max_time),
                meta.stats.series,
                meta.stats.samples
            );
        }
    })
    .map_err(|e| format!("writing blocks into {}: {e}", args.dir.display()))?;
    if summary.duplicates > 0 {
        eprintln!(
            "warning: dropped {} samples whose series already had a sample at the same timestamp (the first was kept)",
            summary.duplicates
        );
    }
    if !args.quiet {
        eprintln!(
            "imported {} samples into {} blocks in {} in {:.1?}",
            samples as u64 - summary.duplicates,
            summary.blocks.len(),
            args.dir.display(),
            started.elapsed()
        );
    }
    Ok(())
}

fn format_ts(ms: i64) -> String {
    let Ok(ms) = u64::try_from(ms) else {
        return format!("{ms}ms");
    };
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn stats(args: &StatsArgs) -> Result<(), String> {
    let i = tsdb::import::inspect(&args.dir)
        .map_err(|e| format!("cannot inspect {}: {e}", args.dir.display()))?;
    if args.json {
        let mut value = serde_json::to_value(&i).map_err(|e| e.to_string())?;
        value["bytes"] = i.bytes().into();
        value["bytes_per_sample"] = i.bytes_per_sample().into();
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let mut out = String::new();
    let range = match (i.min_time, i.max_time) {
        (Some(lo), Some(hi)) => format!(
            "{} .. {} ({})",
            format_ts(lo),
            format_ts(hi),
            humantime::format_duration(Duration::from_millis(u64::try_from(hi - lo).unwrap_or(0)))
        ),
        _ => "empty".into(),
    };
    let _ = writeln!(out, "Directory:        {}", args.dir.display());
    let _ = writeln!(out, "Time range:       {range}");
    let _ = writeln!(out, "Blocks:           {}", i.blocks.len());
    let _ = writeln!(out, "Series:           {}", i.series);
    let _ = writeln!(
        out,
        "Samples:          {} ({} in the WAL)",
        i.samples, i.wal_samples
    );
    let _ = writeln!(out, "Chunks:           {}", i.chunks);
    let _ = writeln!(
        out,
        "Bytes on disk:    {} (blocks {}, WAL {})",
        i.bytes(),
        i.block_bytes,
        i.wal_bytes
    );
    let _ = writeln!(
        out,
        "Bytes per sample: {}",
        i.bytes_per_sample()
            .map_or("-".into(), |b| format!("{b:.3}"))
    );
    if let Some(d) = &i.wal_damage {
        let _ = writeln!(out, "WAL damage:       {d}");
    }
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_series_by_labels_whatever_their_written_order() {
        let input = "# TYPE up gauge\nup{a=\"1\",b=\"2\"} 1 10\nup{b=\"2\",a=\"1\"} 2 20\nup 3 30.5\n# EOF\n";
        let series = parse_file(Path::new("x.om"), input).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(
            series[0].1,
            vec![Sample::new(10_000, 1.0), Sample::new(20_000, 2.0)]
        );
        assert_eq!(series[1].1, vec![Sample::new(30_500, 3.0)]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err = parse_file(Path::new("x.om"), "up 1\n# EOF\n").unwrap_err();
        assert_eq!(
            err,
            "x.om:1: the sample of up has no timestamp: imported samples need one (as for promtool)"
        );
        let err = parse_file(Path::new("x.om"), "up{a=1} 1 2\n# EOF\n").unwrap_err();
        assert_eq!(err, "x.om:1:6: expected a quoted value for label \"a\"");
    }
}
