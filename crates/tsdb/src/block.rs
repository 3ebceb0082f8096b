//! Persisted blocks: immutable directories holding the chunks of a time range and an index
//! over them.
//!
//! ```text
//! <data>/<block id>/
//!     meta.json   id, time range, counts, compaction level and sources
//!     index       symbols, series (labels and chunk metas), postings
//!     chunks      the encoded chunks, each with its length and CRC
//! ```
//!
//! The byte layouts are drawn in `docs/format/block.md`. A block is written into
//! `<id>.tmp`, synced, and renamed into place, so a crash never leaves a half-written block
//! under a block's name; leftover `.tmp` directories are removed at open. The index is read
//! into memory when the block opens; chunks are read from the file when a query needs
//! them, and each read verifies the chunk's checksum.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{Labels, LabelsBuilder, Matcher, Timestamp};
use serde::{Deserialize, Serialize};
use storage::StorageError;

use crate::postings::Postings;
use crate::wal::{Reader, io_err, put_uvarint, put_varint};

const INDEX_MAGIC: &[u8; 8] = b"SKYWIDX1";
const CHUNKS_MAGIC: &[u8; 8] = b"SKYWCHK1";

/// What `meta.json` says about a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version, 1.
    pub version: u32,
    /// The block's id, also its directory name.
    pub id: String,
    /// The oldest sample's timestamp.
    pub min_time: Timestamp,
    /// The newest sample's timestamp.
    pub max_time: Timestamp,
    /// Counts.
    pub stats: BlockStats,
    /// How the block was made.
    pub compaction: Compaction,
}

/// Counts of a block's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlockStats {
    /// Series.
    pub series: u64,
    /// Samples.
    pub samples: u64,
    /// Chunks.
    pub chunks: u64,
}

/// The compaction history of a block.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head or imported; one more than its sources' for a merge.
    pub level: u32,
    /// The ids of the blocks merged into this one (empty at level 1).
    pub sources: Vec<String>,
}

/// Where a chunk is in a block's chunks file, and its time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First timestamp.
    pub mint: Timestamp,
    /// Last timestamp.
    pub maxt: Timestamp,
    /// Offset of the chunk's record in the chunks file.
    pub offset: u64,
}

/// A chunk to write: its time range and bytes.
#[derive(Debug, Clone)]
pub struct ChunkData {
    /// First timestamp.
    pub mint: Timestamp,
    /// Last timestamp.
    pub maxt: Timestamp,
    /// The encoded chunk.
    pub bytes: Arc<[u8]>,
}

#[derive(Debug)]
struct BlockSeries {
    labels: Labels,
    chunks: Vec<ChunkMeta>,
}

/// An open block.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    series: Vec<BlockSeries>,
    postings: Postings,
    chunks: File,
    size: u64,
}

/// Returns a new block id: the creation time in milliseconds, the process id and a counter,
/// in hex, so ids sort by creation.
pub fn new_id() -> String {
    disk::dir::new_block_id()
}

fn corrupt(path: &Path, offset: u64, message: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        path: path.display().to_string(),
        offset,
        message: message.into(),
    }
}

/// Writes a block into `parent` from series sorted by labels, each with chunks in time
/// order, and returns its meta. A write that fails (a full disk) removes what it wrote,
/// so that retrying does not pile up partial blocks.
pub fn write(
    parent: &Path,
    series: impl IntoIterator<Item = (Labels, Vec<ChunkData>)>,
    compaction: Compaction,
) -> Result<BlockMeta, StorageError> {
    let id = new_id();
    let tmp = parent.join(format!("{id}.tmp"));
    let written = write_into(parent, &tmp, id, series, compaction);
    if written.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    written
}

fn write_into(
    parent: &Path,
    tmp: &Path,
    id: String,
    series: impl IntoIterator<Item = (Labels, Vec<ChunkData>)>,
    compaction: Compaction,
) -> Result<BlockMeta, StorageError> {
    fs::create_dir_all(tmp).map_err(io_err("creating", tmp))?;

    let chunks_path = tmp.join("chunks");
    let mut chunks_file =
        BufWriter::new(File::create(&chunks_path).map_err(io_err("creating", &chunks_path))?);
    chunks_file
        .write_all(CHUNKS_MAGIC)
        .map_err(io_err("writing", &chunks_path))?;
    let mut offset = CHUNKS_MAGIC.len() as u64;
    let mut stats = BlockStats::default();
    let (mut min_time, mut max_time) = (Timestamp::MAX, Timestamp::MIN);
    let mut written: Vec<(Labels, Vec<ChunkMeta>)> = Vec::new();
    let mut record = Vec::new();
    for (labels, chunks) in series {
        if chunks.is_empty() {
            continue;
        }
        let mut metas = Vec::with_capacity(chunks.len());
        for c in chunks {
            // Scaled-integer chunks are re-encoded here rather than when the head seals them:
            // sealing happens under the head's lock, for every series at once at a block
            // boundary, while writing a block happens off the commit path.
            let bytes = crate::chunk::optimize(&c.bytes);
            let c = ChunkData {
                bytes: bytes.map_or(c.bytes, Into::into),
                ..c
            };
            record.clear();
            put_uvarint(&mut record, c.bytes.len() as u64);
            record.extend_from_slice(&c.bytes);
            record.extend_from_slice(&crc32fast::hash(&c.bytes).to_le_bytes());
            chunks_file
                .write_all(&record)
                .map_err(io_err("writing", &chunks_path))?;
            metas.push(ChunkMeta {
                mint: c.mint,
                maxt: c.maxt,
                offset,
            });
            offset += record.len() as u64;
            stats.chunks += 1;
            stats.samples += u64::from(crate::chunk::sample_count(&c.bytes).unwrap_or(0));
            min_time = min_time.min(c.mint);
            max_time = max_time.max(c.maxt);
        }
        stats.series += 1;
        written.push((labels, metas));
    }
    let chunks_file = chunks_file
        .into_inner()
        .map_err(|e| io_err("writing", &chunks_path)(e.into_error()))?;
    chunks_file
        .sync_all()
        .map_err(io_err("syncing", &chunks_path))?;

    let index_path = tmp.join("index");
    let index = encode_index(&written);
    let mut f = File::create(&index_path).map_err(io_err("creating", &index_path))?;
    f.write_all(&index)
        .map_err(io_err("writing", &index_path))?;
    f.sync_all().map_err(io_err("syncing", &index_path))?;

    let meta = BlockMeta {
        version: 1,
        id: id.clone(),
        min_time,
        max_time,
        stats,
        compaction,
    };
    let meta_path = tmp.join("meta.json");
    let json =
        serde_json::to_vec_pretty(&meta).map_err(|e| io_err("encoding", &meta_path)(e.into()))?;
    let mut f = File::create(&meta_path).map_err(io_err("creating", &meta_path))?;
    f.write_all(&json).map_err(io_err("writing", &meta_path))?;
    f.sync_all().map_err(io_err("syncing", &meta_path))?;
    File::open(tmp)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", tmp))?;

    let dest = parent.join(&id);
    fs::rename(tmp, &dest).map_err(io_err("renaming", tmp))?;
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", parent))?;
    Ok(meta)
}

/// Appends a section: payload length u32 LE, CRC-32 of the payload u32 LE, payload.
fn put_section(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fn encode_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let symbols: BTreeSet<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().flat_map(|l| [l.name, l.value]))
        .collect();
    let symbols: Vec<&str> = symbols.into_iter().collect();
    let sym = |s: &str| symbols.binary_search(&s).unwrap_or(0) as u64;

    let mut out = INDEX_MAGIC.to_vec();
    let mut payload = Vec::new();
    put_uvarint(&mut payload, symbols.len() as u64);
    for s in &symbols {
        put_uvarint(&mut payload, s.len() as u64);
        payload.extend_from_slice(s.as_bytes());
    }
    put_section(&mut out, &payload);

    payload.clear();
    put_uvarint(&mut payload, series.len() as u64);
    for (labels, chunks) in series {
        put_uvarint(&mut payload, labels.len() as u64);
        for l in labels.iter() {
            put_uvarint(&mut payload, sym(l.name));
            put_uvarint(&mut payload, sym(l.value));
        }
        put_uvarint(&mut payload, chunks.len() as u64);
        let (mut prev_maxt, mut prev_offset) = (0i64, 0u64);
        for (i, c) in chunks.iter().enumerate() {
            put_varint(
                &mut payload,
                if i == 0 {
                    c.mint
                } else {
                    c.mint.wrapping_sub(prev_maxt)
                },
            );
            put_uvarint(&mut payload, c.maxt.wrapping_sub(c.mint) as u64);
            put_uvarint(&mut payload, c.offset.wrapping_sub(prev_offset));
            prev_maxt = c.maxt;
            prev_offset = c.offset;
        }
    }
    put_section(&mut out, &payload);

    let mut postings = Postings::default();
    for (i, (labels, _)) in series.iter().enumerate() {
        postings.add(i as u64, labels);
    }
    payload.clear();
    let names: BTreeSet<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().map(|l| l.name))
        .collect();
    let pairs: Vec<(&str, &str, &[u64])> = names
        .iter()
        .flat_map(|n| postings.values(n).map(move |(v, ids)| (*n, v, ids)))
        .collect();
    put_uvarint(&mut payload, pairs.len() as u64);
    for (name, value, ids) in pairs {
        put_uvarint(&mut payload, sym(name));
        put_uvarint(&mut payload, sym(value));
        put_uvarint(&mut payload, ids.len() as u64);
        let mut prev = 0;
        for &id in ids {
            put_uvarint(&mut payload, id - prev);
            prev = id;
        }
    }
    put_section(&mut out, &payload);
    out
}

impl Block {
    /// Opens the block in `dir`, reading its meta and index.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let meta_path = dir.join("meta.json");
        let json = fs::read(&meta_path).map_err(io_err("reading", &meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&json).map_err(|e| {
            corrupt(
                &meta_path,
                e.column() as u64,
                format!("invalid meta.json: {e}"),
            )
        })?;
        if meta.version != 1 {
            return Err(corrupt(
                &meta_path,
                0,
                format!("unknown block format version {}", meta.version),
            ));
        }
        let index_path = dir.join("index");
        let index = fs::read(&index_path).map_err(io_err("reading", &index_path))?;
        let (series, postings) = decode_index(&index)
            .map_err(|(offset, message)| corrupt(&index_path, offset, message))?;
        let chunks_path = dir.join("chunks");
        let chunks = File::open(&chunks_path).map_err(io_err("opening", &chunks_path))?;
        let mut magic = [0; 8];
        chunks
            .read_exact_at(&mut magic, 0)
            .map_err(io_err("reading", &chunks_path))?;
        if &magic != CHUNKS_MAGIC {
            return Err(corrupt(
                &chunks_path,
                0,
                "not a Skywatch chunks file (bad magic)",
            ));
        }
        let size = [&meta_path, &index_path, &chunks_path]
            .iter()
            .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        let block = Self {
            dir: dir.to_owned(),
            meta,
            series,
            postings,
            chunks,
            size,
        };
        // The chunk written last ends the file: reading it finds a chunks file cut short at
        // open, not at the first query that reaches it. Chunks are otherwise checked when read.
        if let Some(last) = block
            .series
            .iter()
            .flat_map(|s| s.chunks.iter())
            .max_by_key(|c| c.offset)
        {
            block.read_chunk(last)?;
        }
        Ok(block)
    }

    /// The block's meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The series matching `matchers` with chunks overlapping `[mint, maxt]`, by labels.
    pub fn select(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matchers: &[Matcher],
    ) -> Vec<(Labels, Vec<ChunkMeta>)> {
        // Series are stored sorted by labels and ids are their positions: already in order.
        self.postings
            .select(matchers)
            .into_iter()
            .filter_map(|id| self.series.get(id as usize))
            .map(|s| {
                let chunks = s
                    .chunks
                    .iter()
                    .filter(|c| c.maxt >= mint && c.mint <= maxt)
                    .copied()
                    .collect();
                (s.labels.clone(), chunks)
            })
            .filter(|(_, c): &(Labels, Vec<ChunkMeta>)| !c.is_empty())
            .collect()
    }

    /// Every series with all its chunks, by labels.
    pub fn all_series(&self) -> impl Iterator<Item = (&Labels, &[ChunkMeta])> {
        self.series.iter().map(|s| (&s.labels, s.chunks.as_slice()))
    }

    /// Reads a chunk and checks its checksum: one read for a chunk of the usual size (its
    /// length, data and checksum within [`CHUNK_READ`] bytes), a second for a longer one.
    pub fn read_chunk(&self, meta: &ChunkMeta) -> Result<Vec<u8>, StorageError> {
        let path = self.dir.join("chunks");
        let mut buf = vec![0u8; CHUNK_READ];
        let n =
            read_at_most(&self.chunks, &mut buf, meta.offset).map_err(io_err("reading", &path))?;
        let mut r = Reader::new(&buf[..n.min(10)]);
        let len = r.uvarint().map_err(|m| corrupt(&path, meta.offset, m))? as usize;
        if len > 1 << 20 {
            return Err(corrupt(
                &path,
                meta.offset,
                format!("chunk length {len} is implausible"),
            ));
        }
        let start = r.pos;
        let end = start + len + 4;
        if end > n {
            let have = n;
            buf.resize(end, 0);
            self.chunks
                .read_exact_at(&mut buf[have..], meta.offset + have as u64)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        corrupt(&path, meta.offset, "chunk cut off by the end of the file")
                    }
                    _ => io_err("reading", &path)(e),
                })?;
        }
        let crc = u32::from_le_bytes([
            buf[start + len],
            buf[start + len + 1],
            buf[start + len + 2],
            buf[start + len + 3],
        ]);
        buf.truncate(start + len);
        buf.drain(..start);
        if crc32fast::hash(&buf) != crc {
            return Err(corrupt(&path, meta.offset, "chunk checksum mismatch"));
        }
        Ok(buf)
    }
}

/// How many bytes a chunk read asks for at once: a chunk of 120 samples, its length and
/// checksum fit in it as a rule, so most chunks take one system call.
const CHUNK_READ: usize = 512;

fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Decodes an index file; an error carries the byte offset and what is wrong.
fn decode_index(bytes: &[u8]) -> Result<(Vec<BlockSeries>, Postings), (u64, String)> {
    if bytes.get(..8) != Some(INDEX_MAGIC.as_slice()) {
        return Err((0, "not a Skywatch index file (bad magic)".into()));
    }
    let mut pos = 8usize;
    let mut section = |name: &str| -> Result<(&[u8], usize), (u64, String)> {
        let start = pos;
        let header = bytes
            .get(pos..pos + 8)
            .ok_or((pos as u64, format!("{name} section header cut off")))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let payload = bytes
            .get(pos + 8..pos + 8 + len)
            .ok_or((pos as u64, format!("{name} section of {len} bytes cut off")))?;
        if crc32fast::hash(payload) != crc {
            return Err((start as u64, format!("{name} section checksum mismatch")));
        }
        pos += 8 + len;
        Ok((payload, start + 8))
    };
    let at = |base: usize, r: &Reader<'_>, m: String| ((base + r.pos) as u64, m);

    let (payload, base) = section("symbols")?;
    let mut r = Reader::new(payload);
    let n = r.uvarint().map_err(|m| at(base, &r, m))?;
    let mut symbols: Vec<&str> = Vec::with_capacity(n.min(1 << 20) as usize);
    for _ in 0..n {
        symbols.push(r.str().map_err(|m| at(base, &r, m))?);
    }
    let symbol = |r: &Reader<'_>, i: u64, base: usize| {
        symbols
            .get(i as usize)
            .copied()
            .ok_or_else(|| at(base, r, format!("symbol {i} out of range")))
    };

    let (payload, base) = section("series")?;
    let mut r = Reader::new(payload);
    let n = r.uvarint().map_err(|m| at(base, &r, m))?;
    let mut series = Vec::with_capacity(n.min(1 << 20) as usize);
    for _ in 0..n {
        let nl = r.uvarint().map_err(|m| at(base, &r, m))?;
        let mut b = LabelsBuilder::new();
        for _ in 0..nl {
            let name = r.uvarint().map_err(|m| at(base, &r, m))?;
            let value = r.uvarint().map_err(|m| at(base, &r, m))?;
            b.set(symbol(&r, name, base)?, symbol(&r, value, base)?);
        }
        let nc = r.uvarint().map_err(|m| at(base, &r, m))?;
        let mut chunks = Vec::with_capacity(nc.min(1 << 16) as usize);
        let (mut prev_maxt, mut prev_offset) = (0i64, 0u64);
        for i in 0..nc {
            let d = r.varint().map_err(|m| at(base, &r, m))?;
            let mint = if i == 0 { d } else { prev_maxt.wrapping_add(d) };
            let maxt = mint.wrapping_add(r.uvarint().map_err(|m| at(base, &r, m))? as i64);
            let offset = prev_offset.wrapping_add(r.uvarint().map_err(|m| at(base, &r, m))?);
            chunks.push(ChunkMeta { mint, maxt, offset });
            prev_maxt = maxt;
            prev_offset = offset;
        }
        series.push(BlockSeries {
            labels: b.build(),
            chunks,
        });
    }

    let (payload, base) = section("postings")?;
    let mut r = Reader::new(payload);
    // Postings are rebuilt from the series, which hold the same information; the section is
    // still read and checked so that damage is reported where it is.
    let pairs = r.uvarint().map_err(|m| at(base, &r, m))?;
    for _ in 0..pairs {
        r.uvarint().map_err(|m| at(base, &r, m))?;
        r.uvarint().map_err(|m| at(base, &r, m))?;
        let k = r.uvarint().map_err(|m| at(base, &r, m))?;
        for _ in 0..k {
            r.uvarint().map_err(|m| at(base, &r, m))?;
        }
    }
    let mut postings = Postings::default();
    for (i, s) in series.iter().enumerate() {
        postings.add(i as u64, &s.labels);
    }
    Ok((series, postings))
}

impl disk::dir::Replaces for Block {
    fn id(&self) -> &str {
        &self.meta.id
    }
    fn sources(&self) -> &[String] {
        &self.meta.compaction.sources
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn level(&self) -> u32 {
        self.meta.compaction.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkEncoder, ValueHint};
    use model::Sample;

    fn chunk(samples: &[(i64, f64)]) -> ChunkData {
        let mut enc = ChunkEncoder::new(
            Sample::new(samples[0].0, samples[0].1),
            ValueHint::Integer(0),
        );
        for &(t, v) in &samples[1..] {
            assert!(enc.append(Sample::new(t, v)));
        }
        ChunkData {
            mint: enc.min_time(),
            maxt: enc.max_time(),
            bytes: enc.bytes().into(),
        }
    }

    fn sample_block(dir: &Path) -> BlockMeta {
        let a = Labels::from_pairs([("__name__", "a"), ("zone", "eu")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        write(
            dir,
            [
                (a, vec![chunk(&[(0, 1.0), (10, 2.0)]), chunk(&[(20, 3.0)])]),
                (b, vec![chunk(&[(5, 0.5)])]),
            ],
            Compaction {
                level: 1,
                sources: vec![],
            },
        )
        .unwrap()
    }

    #[test]
    fn a_written_block_opens_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let meta = sample_block(dir.path());
        assert_eq!((meta.min_time, meta.max_time), (0, 20));
        assert_eq!(
            meta.stats,
            BlockStats {
                series: 2,
                samples: 4,
                chunks: 3
            }
        );
        let block = Block::open(&dir.path().join(&meta.id)).unwrap();
        let found = block.select(15, 100, &[Matcher::equal("zone", "eu")]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1.len(), 1);
        let bytes = block.read_chunk(&found[0].1[0]).unwrap();
        let samples: Vec<Sample> = crate::chunk::iter(&bytes)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(samples, vec![Sample::new(20, 3.0)]);
        assert!(!dir.path().join(format!("{}.tmp", meta.id)).exists());
    }

    #[test]
    fn chunks_longer_than_one_read_read_back_and_a_cut_one_is_named() {
        // Values without a pattern take about 8 bytes a sample: far over one read.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (i * 15_000, f64::from_bits(x >> 2))
            })
            .collect();
        let long = chunk(&samples);
        assert!(long.bytes.len() > CHUNK_READ, "{}", long.bytes.len());
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::from_pairs([("__name__", "noise")]);
        let meta = write(
            dir.path(),
            [(labels, vec![long.clone(), chunk(&[(2_000_000, 1.0)])])],
            Compaction {
                level: 1,
                sources: vec![],
            },
        )
        .unwrap();
        let block_dir = dir.path().join(&meta.id);
        let block = Block::open(&block_dir).unwrap();
        let metas = block.all_series().next().unwrap().1.to_vec();
        assert_eq!(block.read_chunk(&metas[0]).unwrap(), long.bytes.to_vec());
        assert_eq!(
            crate::chunk::iter(&block.read_chunk(&metas[1]).unwrap())
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
            vec![Sample::new(2_000_000, 1.0)]
        );

        // The file cut in the middle of the long chunk: that chunk is named as cut off.
        let chunks = block_dir.join("chunks");
        let file = fs::OpenOptions::new().write(true).open(&chunks).unwrap();
        file.set_len(metas[0].offset + CHUNK_READ as u64 + 10)
            .unwrap();
        let err = block.read_chunk(&metas[0]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "corrupt data in {} at byte {}: chunk cut off by the end of the file",
                chunks.display(),
                metas[0].offset
            )
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any flipped bit is caught: opening fails naming the index or meta file, or the
        /// damaged chunk fails to read naming the chunks file and its offset while every
        /// other chunk still reads back intact.
        #[test]
        fn any_flipped_bit_is_reported_and_the_rest_stays_readable(
            file in proptest::sample::select(vec!["index", "chunks"]),
            at in 0usize..10_000,
            bit in 0u8..8,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let meta = sample_block(dir.path());
            let block_dir = dir.path().join(&meta.id);
            let intact = Block::open(&block_dir).unwrap();
            let chunks: Vec<(ChunkMeta, Vec<u8>)> = intact
                .all_series()
                .flat_map(|(_, c)| c.to_vec())
                .map(|c| (c, intact.read_chunk(&c).unwrap()))
                .collect();
            let path = block_dir.join(file);
            let mut bytes = fs::read(&path).unwrap();
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            fs::write(&path, &bytes).unwrap();
            match Block::open(&block_dir) {
                Err(e) => {
                    let e = e.to_string();
                    proptest::prop_assert!(e.starts_with(&format!("corrupt data in {}", path.display())), "{}", e);
                }
                Ok(block) => {
                    proptest::prop_assert_eq!(file, "chunks");
                    let mut damaged = 0;
                    for (c, want) in &chunks {
                        match block.read_chunk(c) {
                            Ok(got) => proptest::prop_assert_eq!(&got, want),
                            Err(e) => {
                                damaged += 1;
                                let e = e.to_string();
                                let want = format!("corrupt data in {} at byte {}:", path.display(), c.offset);
                                proptest::prop_assert!(e.starts_with(&want), "{} does not start with {}", e, want);
                            }
                        }
                    }
                    // Only a flip in the 8-byte magic could go unnoticed, and that fails open.
                    proptest::prop_assert_eq!(damaged, 1);
                }
            }
        }
    }

    #[test]
    fn damaged_index_and_chunks_name_the_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let meta = sample_block(dir.path());
        let block_dir = dir.path().join(&meta.id);
        let index = block_dir.join("index");
        let mut bytes = fs::read(&index).unwrap();
        let at = bytes.len() - 3;
        bytes[at] ^= 0x40;
        fs::write(&index, &bytes).unwrap();
        let err = Block::open(&block_dir).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("corrupt data in {} at byte ", index.display())),
            "{err}"
        );
        assert!(err.contains("postings section checksum mismatch"), "{err}");

        let meta = sample_block(dir.path());
        let block_dir = dir.path().join(&meta.id);
        let block = Block::open(&block_dir).unwrap();
        let chunks = block_dir.join("chunks");
        let mut bytes = fs::read(&chunks).unwrap();
        bytes[12] ^= 0x01;
        fs::write(&chunks, &bytes).unwrap();
        let first = block.all_series().next().unwrap().1[0];
        let err = block.read_chunk(&first).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "corrupt data in {} at byte 8: chunk checksum mismatch",
                chunks.display()
            )
        );
    }
}
