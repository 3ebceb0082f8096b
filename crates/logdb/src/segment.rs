//! Segment files: the chunks one cut of the head produced, for every stream it held, and an
//! index saying whose they are, where they lie, what time they span, how many entries and
//! bytes they hold, and which tokens their lines may contain.
//!
//! A segment is written once, under a temporary name, synced and renamed into place, and
//! never changed after; retention deletes whole segments, oldest first. Opening a segment
//! reads its index only: chunks are read (one `pread` each) when a query needs them.
//! `docs/format/logs.md` draws every byte.

use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use disk::varint::{Reader, put_bytes, put_uvarint, put_varint};
use logs::{Entry, Labels, LogError};

use crate::bloom::Bloom;
use crate::chunk::{self, Encoded};

const MAGIC: &[u8; 8] = b"SWLOGSG1";
const TAIL: &[u8; 4] = b"SWLG";
const FOOTER: usize = 16;

/// An open segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    file: File,
    /// Bytes of the file.
    pub(crate) size: u64,
    /// The first WAL segment not in this segment: every earlier one is.
    pub(crate) wal_before: u32,
    /// The latest timestamp of its chunks.
    pub(crate) max_time: i64,
}

/// A chunk's entry in its segment's index, held in memory for every chunk of the store.
#[derive(Debug)]
pub(crate) struct ChunkMeta {
    pub(crate) segment: Arc<Segment>,
    offset: u64,
    len: u32,
    raw_len: u32,
    crc: u32,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) entries: u32,
    pub(crate) bytes: u64,
    pub(crate) bloom: Bloom,
}

fn corrupt(path: &Path, offset: u64, message: impl std::fmt::Display) -> LogError {
    LogError::Corrupt(format!(
        "log segment {} at byte {offset}: {message}; move the file away to open the store without it",
        path.display()
    ))
}

pub(crate) fn io(op: &str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let what = format!("{op} {}", path.display());
    move |e| LogError::Io(std::io::Error::new(e.kind(), format!("{what}: {e}")))
}

impl ChunkMeta {
    /// Reads and decodes the chunk.
    pub(crate) fn read(&self) -> Result<Vec<Entry>, LogError> {
        let path = &self.segment.path;
        let mut buf = vec![0; self.len as usize];
        self.segment
            .file
            .read_exact_at(&mut buf, self.offset)
            .map_err(io("reading", path))?;
        if crc32fast::hash(&buf) != self.crc {
            return Err(corrupt(path, self.offset, "chunk checksum mismatch"));
        }
        chunk::decode(&buf, self.raw_len as usize).map_err(|m| corrupt(path, self.offset, m))
    }
}

/// A chunk's index entry as read, before its segment is known whole.
struct Parsed {
    offset: u64,
    len: u32,
    raw_len: u32,
    crc: u32,
    min_time: i64,
    span: u64,
    entries: u32,
    bytes: u64,
    bloom: Bloom,
}

/// Writes a segment: chunks as they come, then the index.
pub(crate) struct Writer {
    tmp: PathBuf,
    /// Removes `tmp` if the writer is dropped before renaming it (a write failed), so that
    /// failed cuts do not pile up partial files.
    unfinished: disk::dir::Unfinished,
    path: PathBuf,
    out: std::io::BufWriter<File>,
    offset: u64,
    streams: Vec<Labels>,
    index: Vec<u8>,
    chunks: u64,
}

impl Writer {
    /// Starts `<dir>/<id>.seg` under a temporary name.
    pub(crate) fn new(dir: &Path) -> Result<Self, LogError> {
        let id = disk::dir::new_block_id();
        let path = dir.join(format!("{id}.seg"));
        let tmp = dir.join(format!("{id}.seg.tmp"));
        let file = File::create(&tmp).map_err(io("creating", &tmp))?;
        let unfinished = disk::dir::Unfinished::new(tmp.clone());
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(io("writing", &tmp))?;
        Ok(Self {
            tmp,
            unfinished,
            path,
            out,
            offset: MAGIC.len() as u64,
            streams: Vec::new(),
            index: Vec::new(),
            chunks: 0,
        })
    }

    /// Starts a stream: the chunks added next are its.
    pub(crate) fn stream(&mut self, labels: &Labels) {
        self.streams.push(labels.clone());
    }

    /// Adds a chunk of the current stream.
    pub(crate) fn chunk(&mut self, c: &Encoded) -> Result<(), LogError> {
        let stream = self
            .streams
            .len()
            .checked_sub(1)
            .ok_or_else(|| LogError::Corrupt("a chunk was written before its stream".into()))?;
        self.out
            .write_all(&c.data)
            .map_err(io("writing", &self.tmp))?;
        let i = &mut self.index;
        put_uvarint(i, stream as u64);
        put_uvarint(i, self.offset);
        put_uvarint(i, c.data.len() as u64);
        put_uvarint(i, c.raw_len as u64);
        i.extend_from_slice(&crc32fast::hash(&c.data).to_le_bytes());
        put_varint(i, c.min_time);
        put_uvarint(i, c.max_time.wrapping_sub(c.min_time) as u64);
        put_uvarint(i, c.entries);
        put_uvarint(i, c.bytes);
        put_uvarint(i, c.bloom.encoded_len() as u64);
        c.bloom.encode(i);
        self.offset += c.data.len() as u64;
        self.chunks += 1;
        Ok(())
    }

    /// Writes the index and footer, syncs, renames the file into place and syncs the
    /// directory. Returns the final path.
    pub(crate) fn finish(mut self, wal_before: u32) -> Result<PathBuf, LogError> {
        let mut index = Vec::with_capacity(self.index.len() + 64 * self.streams.len());
        put_uvarint(&mut index, u64::from(wal_before));
        put_uvarint(&mut index, self.streams.len() as u64);
        for l in &self.streams {
            put_uvarint(&mut index, l.len() as u64);
            for p in l.iter() {
                put_bytes(&mut index, p.name.as_bytes());
                put_bytes(&mut index, p.value.as_bytes());
            }
        }
        put_uvarint(&mut index, self.chunks);
        index.extend_from_slice(&self.index);
        let mut footer = Vec::with_capacity(FOOTER);
        footer.extend_from_slice(&self.offset.to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&index).to_le_bytes());
        footer.extend_from_slice(TAIL);
        let tmp = self.tmp.clone();
        self.out.write_all(&index).map_err(io("writing", &tmp))?;
        self.out.write_all(&footer).map_err(io("writing", &tmp))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io("writing", &tmp)(e.into_error()))?;
        file.sync_all().map_err(io("syncing", &tmp))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(io("renaming", &tmp))?;
        self.unfinished.done();
        if let Some(dir) = self.path.parent() {
            disk::dir::sync(dir).map_err(|e| io(e.op, &e.path)(e.source))?;
        }
        Ok(self.path)
    }
}

/// A stream's labels and its chunks in one segment.
pub(crate) type StreamChunks = (Labels, Vec<ChunkMeta>);

/// Opens a segment and reads its index: the segment, and each stream's labels with its
/// chunks.
pub(crate) fn open(path: &Path) -> Result<(Arc<Segment>, Vec<StreamChunks>), LogError> {
    let file = File::open(path).map_err(io("opening", path))?;
    let size = file.metadata().map_err(io("reading", path))?.len();
    if size < (MAGIC.len() + FOOTER) as u64 {
        return Err(corrupt(
            path,
            0,
            format!("{size} bytes is too short for a segment"),
        ));
    }
    let mut head = [0; 8];
    file.read_exact_at(&mut head, 0)
        .map_err(io("reading", path))?;
    if &head != MAGIC {
        return Err(corrupt(path, 0, "not a log segment (bad magic)"));
    }
    let mut footer = [0; FOOTER];
    let footer_at = size - FOOTER as u64;
    file.read_exact_at(&mut footer, footer_at)
        .map_err(io("reading", path))?;
    let mut r = Reader::new(&footer);
    let (index_at, crc, tail) = (|| Ok::<_, String>((r.u64_le()?, r.u32_le()?, r.array::<4>()?)))()
        .map_err(|m| corrupt(path, footer_at, m))?;
    if &tail != TAIL || index_at < MAGIC.len() as u64 || index_at > footer_at {
        return Err(corrupt(
            path,
            footer_at,
            "bad footer (the file was cut short?)",
        ));
    }
    let mut index = vec![0; (footer_at - index_at) as usize];
    file.read_exact_at(&mut index, index_at)
        .map_err(io("reading", path))?;
    if crc32fast::hash(&index) != crc {
        return Err(corrupt(path, index_at, "index checksum mismatch"));
    }
    let at = |r: &Reader<'_>| index_at + r.pos() as u64;
    let mut r = Reader::new(&index);
    let wal_before = r.u32v().map_err(|m| corrupt(path, index_at, m))?;
    let n = r.usize().map_err(|m| corrupt(path, at(&r), m))?;
    let mut streams: Vec<(Labels, Vec<ChunkMeta>)> = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let k = r.usize().map_err(|m| corrupt(path, at(&r), m))?;
        let mut pairs = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            let name = r.str().map_err(|m| corrupt(path, at(&r), m))?;
            let value = r.str().map_err(|m| corrupt(path, at(&r), m))?;
            pairs.push((name, value));
        }
        streams.push((Labels::from_pairs(pairs), Vec::new()));
    }
    let chunks = r.usize().map_err(|m| corrupt(path, at(&r), m))?;
    let mut parsed = Vec::with_capacity(chunks.min(1 << 16));
    for _ in 0..chunks {
        let start = at(&r);
        let mut one = || -> Result<(usize, Parsed), String> {
            let stream = r.usize()?;
            let p = Parsed {
                offset: r.uvarint()?,
                len: r.u32v()?,
                raw_len: r.u32v()?,
                crc: r.u32_le()?,
                min_time: r.varint()?,
                span: r.uvarint()?,
                entries: r.u32v()?,
                bytes: r.uvarint()?,
                bloom: Bloom::decode(r.bytes()?)?,
            };
            if stream >= streams.len() {
                return Err(format!(
                    "chunk of stream {stream}, of {} streams",
                    streams.len()
                ));
            }
            if p.offset < MAGIC.len() as u64 || p.offset + u64::from(p.len) > index_at {
                return Err(format!(
                    "chunk at {}+{} lies outside the chunk data",
                    p.offset, p.len
                ));
            }
            Ok((stream, p))
        };
        parsed.push(one().map_err(|m| corrupt(path, start, m))?);
    }
    if !r.is_empty() {
        return Err(corrupt(path, at(&r), "trailing bytes after the index"));
    }
    let max_of = |p: &Parsed| p.min_time.wrapping_add(p.span as i64);
    let segment = Arc::new(Segment {
        path: path.to_owned(),
        file,
        size,
        wal_before,
        max_time: parsed.iter().map(|(_, p)| max_of(p)).max().unwrap_or(0),
    });
    for (stream, p) in parsed {
        streams[stream].1.push(ChunkMeta {
            segment: segment.clone(),
            offset: p.offset,
            len: p.len,
            raw_len: p.raw_len,
            crc: p.crc,
            min_time: p.min_time,
            max_time: max_of(&p),
            entries: p.entries,
            bytes: p.bytes,
            bloom: p.bloom,
        });
    }
    Ok((segment, streams))
}

/// The segment files in `dir`, oldest first; a `.tmp` file (a write interrupted before its
/// rename) is deleted.
pub(crate) fn list(dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("reading", dir))? {
        let entry = entry.map_err(io("reading", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".seg.tmp") {
            fs::remove_file(&path).map_err(io("removing", &path))?;
        } else if name.ends_with(".seg") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_and_damage_names_the_file_and_byte() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs([("job", "a")]);
        let b = Labels::from_pairs([("job", "b")]);
        let ea = vec![Entry::new(1, "one"), Entry::new(2, "two")];
        let eb = vec![Entry::new(-3, "minus three")];
        let mut w = Writer::new(dir.path()).unwrap();
        w.stream(&a);
        w.chunk(&chunk::encode(&ea, 3).unwrap()).unwrap();
        w.chunk(&chunk::encode(&ea[1..], 3).unwrap()).unwrap();
        w.stream(&b);
        w.chunk(&chunk::encode(&eb, 3).unwrap()).unwrap();
        let path = w.finish(7).unwrap();
        assert_eq!(list(dir.path()).unwrap(), std::slice::from_ref(&path));
        let (seg, streams) = open(&path).unwrap();
        assert_eq!((seg.wal_before, seg.max_time), (7, 2));
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].0, a);
        assert_eq!(streams[0].1.len(), 2);
        assert_eq!(streams[0].1[0].read().unwrap(), ea);
        assert_eq!(streams[1].1[0].read().unwrap(), eb);

        let mut bytes = fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let (_, streams) = open(&path).unwrap();
        let e = streams[0].1[0].read().unwrap_err().to_string();
        assert!(e.contains("at byte 8: chunk checksum mismatch"), "{e}");
        bytes.truncate(bytes.len() - 3);
        fs::write(&path, &bytes).unwrap();
        let e = open(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
    }
}
