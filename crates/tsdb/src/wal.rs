//! The write-ahead log: every commit's new series and samples, written before they become
//! visible, so that a restart can rebuild the head.
//!
//! The log is a directory of segment files named by an 8-digit sequence number
//! (`00000001`, `00000002`, ...). A segment holds records back to back; the byte layout is
//! drawn in `docs/format/wal.md`:
//!
//! ```text
//! type u8 | payload length u32 LE | CRC-32 (IEEE) of type and payload, u32 LE | payload
//! ```
//!
//! A commit is written with one `write` call holding all its records, and a commit's samples
//! are one record, so a crash leaves either all of a commit's samples or none of them: a
//! torn record fails its length or checksum and is cut off at the next open.
//!
//! **Durability.** [`SyncPolicy::Always`] calls `fdatasync` before a commit returns: the
//! commit survives power loss. The default, [`SyncPolicy::Never`], leaves the data in the
//! kernel's page cache when the commit returns: it survives the process being killed
//! (SIGKILL, a panic, OOM) but not a power loss or kernel crash, which lose the last few
//! seconds the kernel had not yet written back. This is Prometheus's default too. Segments
//! are synced when they are finished either way.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use model::{Labels, LabelsBuilder, Sample};
use storage::StorageError;

/// When commits reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every commit is synced before it returns.
    Always,
    /// Commits are written to the kernel, which writes them back on its own schedule.
    #[default]
    Never,
}

/// Segments are cut at this size.
pub const SEGMENT_SIZE: u64 = 128 << 20;

const HEADER: usize = 9;
const TYPE_SERIES: u8 = 1;
const TYPE_SAMPLES: u8 = 2;

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// New series: their head ids and labels.
    Series(Vec<(u64, Labels)>),
    /// Samples of existing series, by head id.
    Samples(Vec<(u64, Sample)>),
}

/// Where the log was found damaged, and what was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// The offset of the first damaged byte; everything before it was replayed.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "corrupt write-ahead log {} at byte {}: {}; everything before it was recovered and the rest was cut off",
            self.path.display(),
            self.offset,
            self.message
        )
    }
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

/// Appends a record to `buf`.
pub fn encode(record: &Record, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    let kind = match record {
        Record::Series(series) => {
            put_uvarint(buf, series.len() as u64);
            for (id, labels) in series {
                put_uvarint(buf, *id);
                put_uvarint(buf, labels.len() as u64);
                for l in labels.iter() {
                    put_bytes(buf, l.name.as_bytes());
                    put_bytes(buf, l.value.as_bytes());
                }
            }
            TYPE_SERIES
        }
        Record::Samples(samples) => {
            put_uvarint(buf, samples.len() as u64);
            let base = samples.first().map_or(0, |(_, s)| s.t);
            put_varint(buf, base);
            for (id, s) in samples {
                put_uvarint(buf, *id);
                put_varint(buf, s.t.wrapping_sub(base));
                buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
            }
            TYPE_SAMPLES
        }
    };
    let len = (buf.len() - start - HEADER) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&buf[start + HEADER..]);
    buf[start] = kind;
    buf[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    buf[start + 5..start + 9].copy_from_slice(&crc.finalize().to_le_bytes());
}

/// The writer of the log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u32,
    size: u64,
    policy: SyncPolicy,
}

impl Wal {
    /// Opens the log in `dir` for appending after [`replay`] has read it: writing goes to a
    /// new segment, so a damaged tail of the old one is never written after.
    pub fn open(dir: &Path, policy: SyncPolicy) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let next = segments(dir)?.last().map_or(1, |(n, _)| n + 1);
        let (file, path) = create_segment(dir, next)?;
        sync_dir(dir)?;
        drop(path);
        Ok(Self {
            dir: dir.to_owned(),
            file,
            segment: next,
            size: 0,
            policy,
        })
    }

    /// Writes encoded records (one commit) with one call, syncing as the policy says.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if self.size > 0 && self.size + bytes.len() as u64 > SEGMENT_SIZE {
            self.cut()?;
        }
        let path = segment_path(&self.dir, self.segment);
        self.file
            .write_all(bytes)
            .map_err(io_err("writing", &path))?;
        self.size += bytes.len() as u64;
        if self.policy == SyncPolicy::Always {
            self.file.sync_data().map_err(io_err("syncing", &path))?;
        }
        Ok(())
    }

    /// Finishes the current segment (synced) and starts the next one. Returns the number of
    /// the new segment.
    pub fn cut(&mut self) -> Result<u32, StorageError> {
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_all().map_err(io_err("syncing", &path))?;
        let (file, _) = create_segment(&self.dir, self.segment + 1)?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.segment += 1;
        self.size = 0;
        Ok(self.segment)
    }

    /// Deletes every segment numbered below `segment`, after their content was persisted
    /// elsewhere (in a block and a checkpoint segment).
    pub fn remove_before(&self, segment: u32) -> Result<(), StorageError> {
        for (n, path) in segments(&self.dir)? {
            if n < segment {
                fs::remove_file(&path).map_err(io_err("removing", &path))?;
            }
        }
        sync_dir(&self.dir)
    }
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn create_segment(dir: &Path, n: u32) -> Result<(File, PathBuf), StorageError> {
    let path = segment_path(dir, n);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err("creating", &path))?;
    Ok((file, path))
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

/// The segments in `dir`, in order.
pub fn segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("reading", dir))?;
        let name = entry.file_name();
        if let Some(n) = name
            .to_str()
            .filter(|n| n.len() == 8)
            .and_then(|n| n.parse().ok())
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every record of the log in order without changing anything, calling `apply` for
/// each, and stops at the first damaged record, which it returns.
pub fn scan(dir: &Path, apply: impl FnMut(Record)) -> Result<Option<Damage>, StorageError> {
    read(dir, apply, false)
}

/// Reads every record of the log in order, calling `apply` for each.
///
/// Reading stops at the first damaged record: the segment is truncated there, later
/// segments are removed, and the damage is returned, so that the log can be written after
/// again and the next open does not report the same damage. Everything before the damage
/// has been applied.
pub fn replay(dir: &Path, apply: impl FnMut(Record)) -> Result<Option<Damage>, StorageError> {
    read(dir, apply, true)
}

fn read(
    dir: &Path,
    mut apply: impl FnMut(Record),
    repair: bool,
) -> Result<Option<Damage>, StorageError> {
    let segments = segments(dir)?;
    for (i, (_, path)) in segments.iter().enumerate() {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err("reading", path))?;
        let mut offset = 0usize;
        while offset < bytes.len() {
            match decode(&bytes[offset..]) {
                Ok((record, used)) => {
                    apply(record);
                    offset += used;
                }
                Err(message) => {
                    let damage = Damage {
                        path: path.clone(),
                        offset: offset as u64,
                        message,
                    };
                    if !repair {
                        return Ok(Some(damage));
                    }
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(offset as u64))
                        .map_err(io_err("truncating", path))?;
                    for (_, later) in &segments[i + 1..] {
                        fs::remove_file(later).map_err(io_err("removing", later))?;
                    }
                    return Ok(Some(damage));
                }
            }
        }
    }
    Ok(None)
}

/// Decodes the record at the start of `bytes`; returns it and its size.
pub fn decode(bytes: &[u8]) -> Result<(Record, usize), String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "a record header needs {HEADER} bytes, {} remain",
            bytes.len()
        ));
    }
    let kind = bytes[0];
    let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    let crc = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Err(format!(
            "record of {len} bytes is cut off after {}",
            bytes.len() - HEADER
        ));
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader {
        bytes: payload,
        pos: 0,
    };
    let record = match kind {
        TYPE_SERIES => {
            let n = r.uvarint()?;
            let mut series = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                let id = r.uvarint()?;
                let nl = r.uvarint()?;
                let mut b = LabelsBuilder::new();
                for _ in 0..nl {
                    let name = r.str()?;
                    let value = r.str()?;
                    b.set(name, value);
                }
                series.push((id, b.build()));
            }
            Record::Series(series)
        }
        TYPE_SAMPLES => {
            let n = r.uvarint()?;
            let mut samples = Vec::with_capacity(n.min(1 << 16) as usize);
            let base = r.varint()?;
            for _ in 0..n {
                let id = r.uvarint()?;
                let t = base.wrapping_add(r.varint()?);
                let v = f64::from_bits(r.u64()?);
                samples.push((id, Sample::new(t, v)));
            }
            Record::Samples(samples)
        }
        other => return Err(format!("unknown record type {other}")),
    };
    if r.pos != payload.len() {
        return Err("record payload has trailing bytes".into());
    }
    Ok((record, HEADER + len))
}

/// Appends an unsigned LEB128 varint.
pub fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a zigzag-encoded signed varint.
pub fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Reads the encodings of [`put_uvarint`], [`put_varint`] and [`put_bytes`].
#[derive(Debug)]
pub struct Reader<'a> {
    /// The bytes being read.
    pub bytes: &'a [u8],
    /// The read position.
    pub pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads an unsigned varint.
    pub fn uvarint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(format!("varint cut off at byte {}", self.pos));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!(
            "varint longer than 10 bytes before byte {}",
            self.pos
        ))
    }

    /// Reads a signed varint.
    pub fn varint(&mut self) -> Result<i64, String> {
        let z = self.uvarint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Result<u64, String> {
        let b = self
            .bytes
            .get(self.pos..self.pos + 8)
            .ok_or_else(|| format!("8 bytes cut off at byte {}", self.pos))?;
        self.pos += 8;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.uvarint()? as usize;
        let b = self
            .bytes
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or_else(|| format!("string of {len} bytes cut off at byte {}", self.pos))?;
        self.pos += len;
        Ok(b)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, String> {
        let at = self.pos;
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| format!("invalid UTF-8 in string at byte {at}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records() -> Vec<Record> {
        vec![
            Record::Series(vec![
                (1, Labels::from_pairs([("__name__", "up"), ("job", "a")])),
                (2, Labels::from_pairs([("__name__", "up"), ("job", "ü")])),
            ]),
            Record::Samples(vec![
                (1, Sample::new(1000, 1.0)),
                (2, Sample::new(999, model::STALE_NAN)),
            ]),
            Record::Samples(vec![]),
        ]
    }

    fn write_all(dir: &Path, records: &[Record]) {
        let mut wal = Wal::open(dir, SyncPolicy::Always).unwrap();
        for r in records {
            let mut buf = Vec::new();
            encode(r, &mut buf);
            wal.write(&buf).unwrap();
        }
    }

    fn read_all(dir: &Path) -> (Vec<Record>, Option<Damage>) {
        let mut got = Vec::new();
        let damage = replay(dir, |r| got.push(r)).unwrap();
        (got, damage)
    }

    #[test]
    fn records_round_trip_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &records()[..2]);
        write_all(dir.path(), &records()[2..]);
        let (got, damage) = read_all(dir.path());
        assert_eq!(damage, None);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], records()[0]);
        match (&got[1], &records()[1]) {
            (Record::Samples(a), Record::Samples(b)) => assert_eq!(a, b),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &records());
        let (_, path) = segments(dir.path()).unwrap().remove(0);
        let len = fs::metadata(&path).unwrap().len();
        // A crash in the middle of the last write.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (got, damage) = read_all(dir.path());
        assert_eq!(got.len(), 2);
        let damage = damage.unwrap();
        assert_eq!(damage.path, path);
        assert!(
            damage
                .to_string()
                .contains(&format!("{} at byte", path.display())),
            "{damage}"
        );
        assert_eq!(read_all(dir.path()).1, None, "the damage was cut off");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_flipped_byte_keeps_every_record_before_it(at in 0usize..200, bit in 0u8..8) {
            let dir = tempfile::tempdir().unwrap();
            write_all(dir.path(), &records());
            let (_, path) = segments(dir.path()).unwrap().remove(0);
            let mut bytes = fs::read(&path).unwrap();
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            fs::write(&path, &bytes).unwrap();
            let (got, damage) = read_all(dir.path());
            let damage = damage.expect("a flipped bit is always detected");
            prop_assert!(damage.offset as usize <= at);
            // Every record wholly before the damaged one survives.
            let mut buf = Vec::new();
            let mut intact = 0;
            for r in records() {
                encode(&r, &mut buf);
                if buf.len() <= damage.offset as usize { intact += 1; }
            }
            prop_assert_eq!(got.len(), intact);
        }
    }
}
