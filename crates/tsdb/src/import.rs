//! Bulk loading and inspection of data directories, without a running database.
//!
//! [`write_blocks`] turns series held in memory into persisted blocks aligned to the block
//! range, as `promtool tsdb create-blocks-from` does: for backfilling history or importing
//! an OpenMetrics dump. [`inspect`] reads a directory's blocks and WAL without changing
//! anything, for `skywatch tsdb stats`.

use std::collections::BTreeSet;
use std::path::Path;

use model::{Labels, Sample, Timestamp};
use serde::Serialize;
use storage::StorageError;

use crate::block::{self, Block, BlockMeta, ChunkData, Compaction};
use crate::chunk::{ChunkEncoder, MAX_SAMPLES, ValueHint};
use crate::wal::{self, Record};

/// What [`write_blocks`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// The blocks written, oldest first.
    pub blocks: Vec<BlockMeta>,
    /// Samples dropped because their series already had a sample at that timestamp (the
    /// first one is kept).
    pub duplicates: u64,
}

/// Encodes samples (in time order, no duplicate timestamps) as chunks.
pub fn encode_chunks(samples: &[Sample]) -> Vec<ChunkData> {
    let finish = |e: &ChunkEncoder| ChunkData {
        mint: e.min_time(),
        maxt: e.max_time(),
        bytes: e.bytes().into(),
    };
    let mut out = Vec::new();
    let mut hint = ValueHint::Integer(0);
    let mut current: Option<ChunkEncoder> = None;
    for &s in samples {
        if let Some(e) = &mut current {
            if e.append(s) {
                continue;
            }
            hint = e.next_hint(e.count() < MAX_SAMPLES);
            out.push(finish(e));
        }
        current = Some(ChunkEncoder::new(s, hint));
    }
    out.extend(current.as_ref().map(finish));
    out
}

/// Writes `series` into blocks in `dir`, one per block range that holds samples.
///
/// Samples are sorted by time per series; of several with the same timestamp the first
/// is kept and the others counted. `progress` is called after each block is written.
pub fn write_blocks(
    dir: &Path,
    mut series: Vec<(Labels, Vec<Sample>)>,
    block_range: i64,
    mut progress: impl FnMut(&BlockMeta),
) -> Result<ImportSummary, StorageError> {
    std::fs::create_dir_all(dir).map_err(wal::io_err("creating", dir))?;
    let mut summary = ImportSummary::default();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut lo, mut hi) = (Timestamp::MAX, Timestamp::MIN);
    for (_, samples) in &mut series {
        samples.sort_by_key(|s| s.t);
        let before = samples.len();
        samples.dedup_by_key(|s| s.t);
        summary.duplicates += (before - samples.len()) as u64;
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            lo = lo.min(first.t);
            hi = hi.max(last.t);
        }
    }
    if lo > hi {
        return Ok(summary);
    }
    let mut start = lo.div_euclid(block_range).saturating_mul(block_range);
    while start <= hi {
        let end = start.saturating_add(block_range);
        let window = series.iter().filter_map(|(labels, samples)| {
            let a = samples.partition_point(|s| s.t < start);
            let b = samples.partition_point(|s| s.t < end);
            (a < b).then(|| (labels.clone(), encode_chunks(&samples[a..b])))
        });
        let meta = block::write(
            dir,
            window,
            Compaction {
                level: 1,
                sources: Vec::new(),
            },
        )?;
        if meta.stats.series > 0 {
            progress(&meta);
            summary.blocks.push(meta);
        } else {
            // Nothing fell in this range: remove the empty block again.
            let path = dir.join(&meta.id);
            std::fs::remove_dir_all(&path).map_err(wal::io_err("removing", &path))?;
        }
        if end <= start {
            break;
        }
        start = end;
    }
    Ok(summary)
}

/// What a data directory holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Inspection {
    /// Every block's meta, oldest first.
    pub blocks: Vec<BlockMeta>,
    /// Distinct series across blocks and WAL.
    pub series: u64,
    /// Samples in blocks and WAL.
    pub samples: u64,
    /// Chunks in blocks.
    pub chunks: u64,
    /// Oldest timestamp, if any sample.
    pub min_time: Option<Timestamp>,
    /// Newest timestamp, if any sample.
    pub max_time: Option<Timestamp>,
    /// Bytes of block files.
    pub block_bytes: u64,
    /// Bytes of WAL segments.
    pub wal_bytes: u64,
    /// Samples in the WAL.
    pub wal_samples: u64,
    /// Damage found in the WAL, if any.
    pub wal_damage: Option<String>,
}

impl Inspection {
    /// All bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.block_bytes + self.wal_bytes
    }

    /// Bytes on disk per sample, if there are samples.
    pub fn bytes_per_sample(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.bytes() as f64 / self.samples as f64)
    }
}

/// Reads what the data directory `dir` holds, changing nothing.
pub fn inspect(dir: &Path) -> Result<Inspection, StorageError> {
    if !dir.is_dir() {
        return Err(StorageError::Io {
            op: "reading",
            path: dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let mut out = Inspection::default();
    let mut series: BTreeSet<Labels> = BTreeSet::new();
    let extend = |lo: Timestamp, hi: Timestamp, out: &mut Inspection| {
        out.min_time = Some(out.min_time.map_or(lo, |t| t.min(lo)));
        out.max_time = Some(out.max_time.map_or(hi, |t| t.max(hi)));
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(wal::io_err("reading", dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").is_file() && p.extension().is_none())
        .collect();
    entries.sort();
    for path in entries {
        let block = Block::open(&path)?;
        let meta = block.meta().clone();
        series.extend(block.all_series().map(|(l, _)| l.clone()));
        out.samples += meta.stats.samples;
        out.chunks += meta.stats.chunks;
        out.block_bytes += block.size();
        extend(meta.min_time, meta.max_time, &mut out);
        out.blocks.push(meta);
    }
    out.blocks.sort_by_key(|m| (m.min_time, m.max_time));
    let wal_dir = dir.join("wal");
    for (_, path) in wal::segments(&wal_dir)? {
        out.wal_bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
    }
    let mut wal_range: Option<(Timestamp, Timestamp)> = None;
    let damage = wal::scan(&wal_dir, |r| match r {
        Record::Series(s) => series.extend(s.into_iter().map(|(_, l)| l)),
        Record::Samples(s) => {
            out.wal_samples += s.len() as u64;
            for (_, x) in s {
                wal_range = Some(wal_range.map_or((x.t, x.t), |(a, b)| (a.min(x.t), b.max(x.t))));
            }
        }
        // Exemplars are not samples: `tsdb stats` counts series and samples only.
        Record::Exemplars(_) => {}
    })?;
    if let Some((lo, hi)) = wal_range {
        extend(lo, hi, &mut out);
    }
    out.samples += out.wal_samples;
    out.wal_damage = damage.map(|d| d.to_string());
    out.series = series.len() as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_range_and_read_back_through_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let hour = 3_600_000;
        let series = vec![
            (
                Labels::from_pairs([("__name__", "b")]),
                (0..300)
                    .map(|i| Sample::new(i * 60_000, i as f64))
                    .collect(),
            ),
            (
                Labels::from_pairs([("__name__", "a")]),
                vec![
                    Sample::new(hour, 1.0),
                    Sample::new(hour, 2.0),
                    Sample::new(0, 0.5),
                ],
            ),
        ];
        let mut seen = 0;
        let summary = write_blocks(dir.path(), series, 2 * hour, |_| seen += 1).unwrap();
        assert_eq!(summary.duplicates, 1);
        assert_eq!(seen, 3, "five hours make three two-hour blocks");
        assert_eq!(
            summary
                .blocks
                .iter()
                .map(|b| (b.min_time, b.stats.series))
                .collect::<Vec<_>>(),
            [(0, 2), (2 * hour, 1), (4 * hour, 1)]
        );
        let inspection = inspect(dir.path()).unwrap();
        assert_eq!((inspection.series, inspection.samples), (2, 302));
        assert_eq!(
            (inspection.min_time, inspection.max_time),
            (Some(0), Some(299 * 60_000))
        );
        let db = crate::Tsdb::open(dir.path(), crate::Options::default()).unwrap();
        let all = storage::conformance::select_all(&db, 0, i64::MAX, &[]);
        assert_eq!(all[0].1, vec![Sample::new(0, 0.5), Sample::new(hour, 1.0)]);
        assert_eq!(all[1].1.len(), 300);
    }
}
