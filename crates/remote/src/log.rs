//! A destination's queue on disk: every committed sample (and exemplar) bound for one
//! `remote_write` destination, in segment files, and the position up to which the
//! destination has acknowledged them. A restart, or an outage of the receiver, resumes from
//! that position, so nothing committed is lost. The format is drawn in
//! `docs/format/remote-write-queue.md`.
//!
//! The segments use `disk::wal`'s framing (type, length, CRC-32) and its repair: a damaged
//! tail found at open is cut off and moved into `quarantine/`, as the stores do. A damaged
//! position file is moved into `quarantine/` too, and sending starts again from the oldest
//! segment kept.
//!
//! **Exactly once, across a restart.** Shards send in parallel, so what the destination
//! has acknowledged is not a prefix of the log: the position is the first record not yet
//! wholly acknowledged, and the position file also holds, for each series with samples
//! acknowledged after that record, the timestamp of its last one. Reading again from the
//! position skips those samples: a receiver that refuses a sample older than the series'
//! newest (Prometheus answers such a request 400 and keeps nothing of it) is never sent one.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use disk::varint::{Reader, put_bytes, put_uvarint, put_varint};
use disk::wal::{self, HEADER, SyncPolicy, Wal};
use model::{Labels, Timestamp};

/// Record type: samples.
const SAMPLES: u8 = 1;
/// Record type: exemplars.
const EXEMPLARS: u8 = 2;
/// A segment is finished once it holds this many bytes, so that sent segments are deleted
/// soon.
const SEGMENT_BYTES: u64 = 16 << 20;
/// The most bytes one read of the log takes in.
const READ_BYTES: u64 = 4 << 20;
/// The position file's first bytes.
const MAGIC: &[u8; 4] = b"SWRQ";
/// The position file's version.
const VERSION: u8 = 1;
/// The position file's name.
const POSITION: &str = "position";

/// One sample or exemplar bound for the destination, its labels final (external labels
/// added, write relabelling applied).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    /// The series.
    pub series: Labels,
    /// The sample's or the exemplar's timestamp (ms).
    pub t: Timestamp,
    /// Its value.
    pub v: f64,
    /// An exemplar's own labels; `None` for a sample.
    pub exemplar: Option<Labels>,
}

impl Item {
    /// The key the position file and the shards know the item's series by: a stable hash
    /// of its labels, samples and exemplars apart.
    pub(crate) fn key(&self) -> u64 {
        let mut h = xxhash_rust::xxh64::Xxh64::new(u64::from(self.exemplar.is_some()));
        for l in self.series.iter() {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

/// Where a record starts: its segment and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Pos {
    /// The segment's number.
    pub segment: u32,
    /// The byte offset in it.
    pub offset: u64,
}

/// A record read back: where it starts and what it holds.
#[derive(Debug)]
pub(crate) struct Read {
    /// Its sequence number, for [`Log::ack`].
    pub seq: u64,
    /// The items still to send (those sent before a restart are left out).
    pub items: Vec<Item>,
}

/// What opening a queue directory found wrong and set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Samples and exemplars in the log not yet acknowledged.
    pub pending: u64,
    /// What was damaged and moved into `quarantine/`, in words.
    pub repaired: Vec<String>,
}

/// The queue directory: its writer, its reader and what the destination acknowledged.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    writer: std::sync::Mutex<Writer>,
    reader: std::sync::Mutex<Reader_>,
    /// Bytes in the segment files.
    bytes: AtomicU64,
    /// Past this many bytes, new records are refused (counted and logged).
    max_bytes: u64,
}

#[derive(Debug)]
struct Writer {
    wal: Wal,
    segment_size: u64,
}

/// The reading side: where the next read starts, the records read and not yet wholly
/// acknowledged, and the samples to skip after a restart.
#[derive(Debug)]
struct Reader_ {
    next: Pos,
    buf: Vec<u8>,
    next_seq: u64,
    /// Records read, oldest first: sequence number, start, items not yet acknowledged.
    outstanding: VecDeque<(u64, Pos, usize)>,
    /// For each series key, the last acknowledged timestamp and the record it came from.
    acked: HashMap<u64, (Timestamp, u64)>,
    /// Series keys and the timestamp up to which their samples were sent before the
    /// position was last written: skipped when read again.
    skip: HashMap<u64, Timestamp>,
    /// The position last written, so that unchanged positions are not written again.
    written: Option<Pos>,
}

impl Log {
    /// Opens (creating) the queue directory `dir`: repairs a damaged tail, reads the
    /// position, and starts a new segment for writing.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Opened), disk::Error> {
        fs::create_dir_all(dir).map_err(disk::io_err("creating", dir))?;
        let mut repaired = Vec::new();
        if let Some(damage) = wal::read(dir, true, |_, _| Ok(()))? {
            repaired.push(damage.to_string());
        }
        let (mut start, skip) = match read_position(&dir.join(POSITION)) {
            Ok(found) => found.unwrap_or_default(),
            Err(why) => {
                let store = dir.parent().unwrap_or(dir);
                let to = disk::dir::quarantine(store, &dir.join(POSITION))?;
                repaired.push(format!(
                    "the remote write queue's position file {} is damaged ({why}); it was moved to {} and sending starts again from the oldest segment kept",
                    dir.join(POSITION).display(),
                    to.display()
                ));
                (Pos::default(), HashMap::new())
            }
        };
        let segments = wal::segments(dir)?;
        // A position in a segment that is gone (moved aside) resumes at the next one kept.
        if let Some((n, _)) = segments.iter().find(|(n, _)| *n >= start.segment) {
            if *n != start.segment {
                start = Pos {
                    segment: *n,
                    offset: 0,
                };
            }
        } else if let Some((n, _)) = segments.first() {
            start = Pos {
                segment: *n,
                offset: 0,
            };
        }
        let mut bytes = 0;
        let mut pending = 0u64;
        for (n, path) in &segments {
            let len = fs::metadata(path)
                .map_err(disk::io_err("reading", path))?
                .len();
            bytes += len;
            if *n < start.segment {
                continue;
            }
            let from = if *n == start.segment { start.offset } else { 0 };
            pending += count_items(path, from)?;
        }
        wal::remove_before(dir, start.segment)?;
        let wal = Wal::open(dir, SyncPolicy::Never, start.segment.max(1))?;
        // With no segment at the position (a new log), reading starts at the one just made.
        if let Some((n, _)) = wal::segments(dir)?
            .into_iter()
            .find(|(n, _)| *n >= start.segment)
            && n != start.segment
        {
            start = Pos {
                segment: n,
                offset: 0,
            };
        }
        let log = Self {
            dir: dir.to_owned(),
            writer: std::sync::Mutex::new(Writer {
                wal,
                segment_size: 0,
            }),
            reader: std::sync::Mutex::new(Reader_ {
                next: start,
                buf: Vec::new(),
                next_seq: 0,
                outstanding: VecDeque::new(),
                acked: HashMap::new(),
                skip,
                written: Some(start),
            }),
            bytes: AtomicU64::new(bytes),
            max_bytes,
        };
        Ok((log, Opened { pending, repaired }))
    }

    /// Bytes in the segment files.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Appends `items` as one record (samples and exemplars apart). Returns false, writing
    /// nothing, when the log already holds its most bytes.
    pub(crate) fn append(&self, items: &[Item]) -> Result<bool, disk::Error> {
        let mut buf = Vec::new();
        let (exemplars, samples): (Vec<&Item>, Vec<&Item>) =
            items.iter().partition(|i| i.exemplar.is_some());
        for (kind, items) in [(SAMPLES, samples), (EXEMPLARS, exemplars)] {
            if !items.is_empty() {
                wal::frame(&mut buf, kind, |b| encode(b, &items));
            }
        }
        if buf.is_empty() {
            return Ok(true);
        }
        if self.bytes() + buf.len() as u64 > self.max_bytes {
            return Ok(false);
        }
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if w.segment_size > 0 && w.segment_size + buf.len() as u64 > SEGMENT_BYTES {
            w.wal.cut()?;
            w.segment_size = 0;
        }
        w.wal.write(&buf)?;
        w.segment_size += buf.len() as u64;
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Reads the records after the last read, up to a few MiB of them; an empty answer
    /// means the reader is at the end. A damaged record (found after the open, which
    /// repairs) ends its segment: it is logged and reading goes on at the next one.
    pub(crate) fn read(&self) -> Result<Vec<Read>, disk::Error> {
        let mut r = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let segment = r.next.segment;
            let out = self.read_segment(&mut r)?;
            if !out.is_empty() || r.next.segment == segment {
                return Ok(out);
            }
        }
    }

    /// Reads the records after the last read in the current segment; at its end, moves
    /// on to the next segment if there is one.
    fn read_segment(&self, r: &mut Reader_) -> Result<Vec<Read>, disk::Error> {
        let path = self.dir.join(format!("{:08}", r.next.segment));
        let mut fresh = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                let at = r.next.offset + r.buf.len() as u64;
                f.seek(SeekFrom::Start(at))
                    .map_err(disk::io_err("reading", &path))?;
                f.take(READ_BYTES)
                    .read_to_end(&mut fresh)
                    .map_err(disk::io_err("reading", &path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(disk::io_err("reading", &path)(e)),
        }
        r.buf.extend_from_slice(&fresh);
        let mut out = Vec::new();
        let mut used = 0;
        while let Some(len) = complete(&r.buf[used..]) {
            let start = Pos {
                segment: r.next.segment,
                offset: r.next.offset + used as u64,
            };
            let decoded =
                wal::unframe(&r.buf[used..]).and_then(|(kind, payload, _)| decode(kind, payload));
            used += len;
            let items = match decoded {
                Ok(items) => items,
                Err(why) => {
                    tracing::error!(segment = %path.display(), offset = start.offset, error = %why, "a remote write queue record is damaged; its samples are not sent");
                    Vec::new()
                }
            };
            out.push(r.track(start, items));
        }
        r.buf.drain(..used);
        r.next.offset += used as u64;
        if out.is_empty() && fresh.is_empty() {
            // At the end of this segment: move on once the writer has.
            let later = wal::segments(&self.dir)?
                .into_iter()
                .map(|(n, _)| n)
                .find(|n| *n > r.next.segment);
            match later {
                Some(n) => {
                    if !r.buf.is_empty() {
                        tracing::error!(segment = %path.display(), offset = r.next.offset, bytes = r.buf.len(), "a remote write queue segment ends in a torn record; its samples are not sent");
                    }
                    r.buf.clear();
                    r.next = Pos {
                        segment: n,
                        offset: 0,
                    };
                }
                None => {
                    // Caught up: what was sent before the restart is behind.
                    r.skip = HashMap::new();
                }
            }
        }
        Ok(out)
    }

    /// Records that the destination accepted `sent` (sequence number, series key,
    /// timestamp of each item), moves the position on past records wholly acknowledged,
    /// writes it, and deletes the segments before it.
    pub(crate) fn ack(&self, sent: &[(u64, u64, Timestamp)]) -> Result<(), disk::Error> {
        let mut r = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let Some(first) = r.outstanding.front().map(|o| o.0) else {
            return Ok(());
        };
        for (seq, key, t) in sent {
            if let Some(o) = seq
                .checked_sub(first)
                .and_then(|i| r.outstanding.get_mut(i as usize))
            {
                o.2 = o.2.saturating_sub(1);
            }
            r.acked.insert(*key, (*t, *seq));
        }
        while r.outstanding.front().is_some_and(|o| o.2 == 0) {
            r.outstanding.pop_front();
        }
        let position = r.position();
        let front = r.outstanding.front().map_or(r.next_seq, |o| o.0);
        r.acked.retain(|_, (_, seq)| *seq >= front);
        if r.written == Some(position) && r.acked.is_empty() && r.skip.is_empty() {
            return Ok(());
        }
        let previous = r.written;
        // Samples skipped since the restart stay skipped should another restart come
        // before the reader has passed them.
        let mut sent: HashMap<u64, Timestamp> = r.skip.clone();
        for (key, (t, _)) in &r.acked {
            let e = sent.entry(*key).or_insert(*t);
            *e = (*e).max(*t);
        }
        write_position(&self.dir, position, &sent)?;
        r.written = Some(position);
        drop(r);
        if previous.is_none_or(|p| p.segment < position.segment) {
            self.remove_before(position.segment)?;
        }
        Ok(())
    }

    /// Starts reading again from the position, as a restart would: for a new queue that
    /// takes over the log from a stopped one whose shards did not send everything read.
    pub(crate) fn rewind(&self) {
        let mut r = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let position = r.position();
        let acked = std::mem::take(&mut r.acked);
        r.skip = acked.into_iter().map(|(k, (t, _))| (k, t)).collect();
        r.outstanding.clear();
        r.buf.clear();
        r.next = position;
    }

    fn remove_before(&self, segment: u32) -> Result<(), disk::Error> {
        let mut freed = 0;
        for (n, path) in wal::segments(&self.dir)? {
            if n < segment {
                freed += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            }
        }
        wal::remove_before(&self.dir, segment)?;
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(freed))
            });
        Ok(())
    }
}

impl Reader_ {
    /// Numbers a record read at `start` and keeps it outstanding until its items are
    /// acknowledged; items sent before a restart are dropped from it.
    fn track(&mut self, start: Pos, mut items: Vec<Item>) -> Read {
        if !self.skip.is_empty() {
            items.retain(|i| self.skip.get(&i.key()).is_none_or(|t| i.t > *t));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outstanding.push_back((seq, start, items.len()));
        while self.outstanding.front().is_some_and(|o| o.2 == 0) {
            self.outstanding.pop_front();
        }
        Read { seq, items }
    }

    /// The first record not wholly acknowledged, or where the next read starts.
    fn position(&self) -> Pos {
        self.outstanding.front().map_or(
            Pos {
                segment: self.next.segment,
                offset: self.next.offset,
            },
            |o| o.1,
        )
    }
}

/// The length of the whole record at the start of `bytes`, if all of it is there.
fn complete(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..HEADER)?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    (bytes.len() >= HEADER + len).then_some(HEADER + len)
}

/// Counts the items in a segment from `offset` on (a damaged record counts none).
fn count_items(path: &Path, offset: u64) -> Result<u64, disk::Error> {
    let bytes = fs::read(path).map_err(disk::io_err("reading", path))?;
    let mut at = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let mut n = 0;
    while let Ok((_, payload, used)) = wal::unframe(&bytes[at..]) {
        n += Reader::new(payload).uvarint().unwrap_or(0);
        at += used;
    }
    Ok(n)
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
}

fn read_labels(r: &mut Reader<'_>) -> Result<Labels, String> {
    let n = r.usize()?;
    let mut pairs = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let name = std::str::from_utf8(r.bytes()?).map_err(|e| e.to_string())?;
        let value = std::str::from_utf8(r.bytes()?).map_err(|e| e.to_string())?;
        pairs.push((name, value));
    }
    Ok(Labels::from_pairs(pairs))
}

/// A record's payload: the count, then each item.
fn encode(buf: &mut Vec<u8>, items: &[&Item]) {
    put_uvarint(buf, items.len() as u64);
    for item in items {
        put_labels(buf, &item.series);
        if let Some(e) = &item.exemplar {
            put_labels(buf, e);
        }
        put_varint(buf, item.t);
        buf.extend_from_slice(&item.v.to_bits().to_le_bytes());
    }
}

fn decode(kind: u8, payload: &[u8]) -> Result<Vec<Item>, String> {
    if kind != SAMPLES && kind != EXEMPLARS {
        return Err(format!("unknown record type {kind}"));
    }
    let mut r = Reader::new(payload);
    let n = r.usize()?;
    let mut items = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let series = read_labels(&mut r)?;
        let exemplar = if kind == EXEMPLARS {
            Some(read_labels(&mut r)?)
        } else {
            None
        };
        let t = r.varint()?;
        let v = f64::from_bits(r.u64_le()?);
        items.push(Item {
            series,
            t,
            v,
            exemplar,
        });
    }
    if !r.is_empty() {
        return Err(format!(
            "{} bytes after the last item",
            payload.len() - r.pos()
        ));
    }
    Ok(items)
}

/// Writes the position file: magic, version, segment, offset, the acknowledged series,
/// CRC-32 of all before it. Written to a temporary file and renamed over the old one, so
/// a crash leaves one or the other whole.
fn write_position(dir: &Path, at: Pos, sent: &HashMap<u64, Timestamp>) -> Result<(), disk::Error> {
    let mut buf = Vec::with_capacity(32 + sent.len() * 16);
    buf.extend_from_slice(MAGIC);
    buf.push(VERSION);
    buf.extend_from_slice(&at.segment.to_le_bytes());
    buf.extend_from_slice(&at.offset.to_le_bytes());
    put_uvarint(&mut buf, sent.len() as u64);
    for (key, t) in sent {
        buf.extend_from_slice(&key.to_le_bytes());
        put_varint(&mut buf, *t);
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join("position.tmp");
    fs::write(&tmp, &buf).map_err(disk::io_err("writing", &tmp))?;
    let path = dir.join(POSITION);
    fs::rename(&tmp, &path).map_err(disk::io_err("renaming", &path))
}

/// Reads the position file; `None` when there is none yet, an error saying what is wrong
/// when it is damaged.
#[allow(
    clippy::type_complexity,
    reason = "a position and its skip list, read together"
)]
fn read_position(path: &Path) -> Result<Option<(Pos, HashMap<u64, Timestamp>)>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let Some(body_len) = bytes.len().checked_sub(4).filter(|n| *n >= 17) else {
        return Err(format!("{} bytes is too short", bytes.len()));
    };
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    if &r.array::<4>()? != MAGIC {
        return Err("it does not start with SWRQ".into());
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(format!("version {version} is not known (1 is)"));
    }
    let segment = r.u32_le()?;
    let offset = r.u64_le()?;
    let n = r.usize()?;
    let mut skip = HashMap::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let key = r.u64_le()?;
        skip.insert(key, r.varint()?);
    }
    if !r.is_empty() {
        return Err(format!(
            "{} bytes after the last series",
            body.len() - r.pos()
        ));
    }
    Ok(Some((Pos { segment, offset }, skip)))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a failed unwrap in a test is a test failure with a backtrace"
    )]

    use super::*;

    fn item(name: &str, t: i64) -> Item {
        Item {
            series: Labels::from_pairs([("__name__", name)]),
            t,
            v: t as f64,
            exemplar: None,
        }
    }

    fn read_all(log: &Log) -> Vec<Read> {
        let mut all = Vec::new();
        loop {
            let got = log.read().unwrap();
            if got.is_empty() {
                return all;
            }
            all.extend(got);
        }
    }

    #[test]
    fn what_is_acknowledged_is_not_read_again_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("q");
        {
            let (log, opened) = Log::open(&q, u64::MAX).unwrap();
            assert_eq!(opened.pending, 0);
            log.append(&[item("a", 1), item("b", 1)]).unwrap();
            log.append(&[item("a", 2), item("b", 2)]).unwrap();
            let reads = read_all(&log);
            assert_eq!(reads.len(), 2);
            // Series a of both records acknowledged, b of neither.
            let a = item("a", 0).key();
            log.ack(&[(reads[0].seq, a, 1), (reads[1].seq, a, 2)])
                .unwrap();
        }
        let (log, opened) = Log::open(&q, u64::MAX).unwrap();
        assert_eq!(opened.pending, 4, "the records from the position on");
        let again: Vec<Item> = read_all(&log).into_iter().flat_map(|r| r.items).collect();
        assert_eq!(again, vec![item("b", 1), item("b", 2)]);
    }

    #[test]
    fn a_damaged_position_file_is_quarantined_and_sending_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("q");
        {
            let (log, _) = Log::open(&q, u64::MAX).unwrap();
            log.append(&[item("a", 1)]).unwrap();
            let reads = read_all(&log);
            log.ack(&[(reads[0].seq, item("a", 0).key(), 1)]).unwrap();
            log.append(&[item("a", 2)]).unwrap();
        }
        let mut bytes = fs::read(q.join(POSITION)).unwrap();
        bytes[6] ^= 0xff;
        fs::write(q.join(POSITION), bytes).unwrap();
        let (log, opened) = Log::open(&q, u64::MAX).unwrap();
        assert!(
            opened.repaired[0].contains("checksum mismatch"),
            "{opened:?}"
        );
        assert!(dir.path().join("quarantine").read_dir().unwrap().count() == 1);
        let again: Vec<Item> = read_all(&log).into_iter().flat_map(|r| r.items).collect();
        assert_eq!(again, vec![item("a", 1), item("a", 2)]);
    }

    #[test]
    fn a_full_log_refuses_records() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = Log::open(&dir.path().join("q"), 100).unwrap();
        assert!(log.append(&[item("a", 1)]).unwrap());
        let many: Vec<Item> = (0..10).map(|t| item("a", t)).collect();
        assert!(!log.append(&many).unwrap());
        let read: usize = read_all(&log).iter().map(|r| r.items.len()).sum();
        assert_eq!(read, 1);
    }

    #[test]
    fn exemplars_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = Log::open(&dir.path().join("q"), u64::MAX).unwrap();
        let mut e = item("a", 5);
        e.exemplar = Some(Labels::from_pairs([("trace_id", "abc")]));
        log.append(&[item("a", 5), e.clone()]).unwrap();
        let got: Vec<Item> = read_all(&log).into_iter().flat_map(|r| r.items).collect();
        assert_eq!(got, vec![item("a", 5), e]);
    }
}
