//! The write-ahead log: every commit's new series and samples, written before they become
//! visible, so that a restart can rebuild the head.
//!
//! The segments, the record framing (type, length, CRC) and the cutting off of a damaged
//! tail are `disk::wal`'s; this module holds the three record types and their payloads, drawn
//! in `docs/format/wal.md`. A commit is written with one `write` call holding all its
//! records, and a commit's samples are one record, so a crash leaves either all of a
//! commit's samples or none of them: a torn record fails its length or checksum and is cut
//! off at the next open. [`SyncPolicy`] says when commits reach stable storage.

use std::path::{Path, PathBuf};

use model::{Labels, LabelsBuilder, Sample, Timestamp};
use storage::{Exemplar, StorageError};

pub use disk::varint::{Reader, put_bytes, put_uvarint, put_varint};
pub use disk::wal::{Damage, SEGMENT_SIZE, SyncPolicy};

const TYPE_SERIES: u8 = 1;
const TYPE_SAMPLES: u8 = 2;
const TYPE_EXEMPLARS: u8 = 3;

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// New series: their head ids and labels.
    Series(Vec<(u64, Labels)>),
    /// Samples of existing series, by head id.
    Samples(Vec<(u64, Sample)>),
    /// Exemplars of existing series, by head id, in the order they entered the ring.
    Exemplars(Vec<(u64, Exemplar)>),
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

/// A failed file operation of `disk`, as the storage contract reports it.
pub(crate) fn disk_err(e: disk::Error) -> StorageError {
    StorageError::Io {
        op: e.op,
        path: e.path.display().to_string(),
        source: e.source,
    }
}

/// Appends a record to `buf`.
pub fn encode(record: &Record, buf: &mut Vec<u8>) {
    let kind = match record {
        Record::Series(_) => TYPE_SERIES,
        Record::Samples(_) => TYPE_SAMPLES,
        Record::Exemplars(_) => TYPE_EXEMPLARS,
    };
    disk::wal::frame(buf, kind, |buf| match record {
        Record::Series(series) => {
            put_uvarint(buf, series.len() as u64);
            for (id, labels) in series {
                put_uvarint(buf, *id);
                put_labels(buf, labels);
            }
        }
        Record::Exemplars(exemplars) => put_timed(
            buf,
            exemplars,
            |e| (e.t, e.value),
            |buf, e| {
                put_labels(buf, &e.labels);
            },
        ),
        Record::Samples(samples) => put_timed(buf, samples, |s| (s.t, s.v), |_, _| {}),
    });
}

/// Writes the items of a samples or exemplars record: their count, the first one's time
/// as the base, then each one's series id, time from the base, value, and `rest`.
fn put_timed<T>(
    buf: &mut Vec<u8>,
    items: &[(u64, T)],
    time_value: impl Fn(&T) -> (Timestamp, f64),
    mut rest: impl FnMut(&mut Vec<u8>, &T),
) {
    put_uvarint(buf, items.len() as u64);
    let base = items.first().map_or(0, |(_, x)| time_value(x).0);
    put_varint(buf, base);
    for (id, x) in items {
        let (t, v) = time_value(x);
        put_uvarint(buf, *id);
        put_varint(buf, t.wrapping_sub(base));
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
        rest(buf, x);
    }
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
}

fn read_labels(r: &mut Reader<'_>) -> Result<Labels, String> {
    let n = r.uvarint()?;
    let mut b = LabelsBuilder::new();
    for _ in 0..n {
        let name = r.str()?;
        let value = r.str()?;
        b.set(name, value);
    }
    Ok(b.build())
}

/// The writer of the log.
#[derive(Debug)]
pub struct Wal(disk::wal::Wal);

impl Wal {
    /// Opens the log in `dir` for appending after [`replay`] has read it: writing goes to a
    /// new segment, so a damaged tail of the old one is never written after.
    pub fn open(dir: &Path, policy: SyncPolicy) -> Result<Self, StorageError> {
        disk::wal::Wal::open(dir, policy, 1)
            .map(Self)
            .map_err(disk_err)
    }

    /// Writes encoded records (one commit) with one call, syncing as the policy says.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.0.write(bytes).map_err(disk_err)
    }

    /// Finishes the current segment (synced) and starts the next one. Returns the number of
    /// the new segment.
    pub fn cut(&mut self) -> Result<u32, StorageError> {
        self.0.cut().map_err(disk_err)
    }

    /// Deletes every segment numbered below `segment`, after their content was persisted
    /// elsewhere (in a block and a checkpoint segment).
    pub fn remove_before(&self, segment: u32) -> Result<(), StorageError> {
        self.0.remove_before(segment).map_err(disk_err)
    }
}

/// The segments in `dir`, in order.
pub fn segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, StorageError> {
    disk::wal::segments(dir).map_err(disk_err)
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
    disk::wal::read(dir, repair, |kind, payload| {
        apply(decode_payload(kind, payload)?);
        Ok(())
    })
    .map_err(disk_err)
}

/// Decodes the record at the start of `bytes`; returns it and its size.
pub fn decode(bytes: &[u8]) -> Result<(Record, usize), String> {
    let (kind, payload, used) = disk::wal::unframe(bytes)?;
    Ok((decode_payload(kind, payload)?, used))
}

fn decode_payload(kind: u8, payload: &[u8]) -> Result<Record, String> {
    let mut r = Reader::new(payload);
    let record = match kind {
        TYPE_SERIES => {
            let n = r.uvarint()?;
            let mut series = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                let id = r.uvarint()?;
                series.push((id, read_labels(&mut r)?));
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
                let v = f64::from_bits(r.u64_le()?);
                samples.push((id, Sample::new(t, v)));
            }
            Record::Samples(samples)
        }
        TYPE_EXEMPLARS => {
            let n = r.uvarint()?;
            let mut exemplars = Vec::with_capacity(n.min(1 << 16) as usize);
            let base = r.varint()?;
            for _ in 0..n {
                let id = r.uvarint()?;
                let t = base.wrapping_add(r.varint()?);
                let value = f64::from_bits(r.u64_le()?);
                let labels = read_labels(&mut r)?;
                // As Prometheus's replay: whether the time was the exemplar's own is not
                // logged.
                exemplars.push((
                    id,
                    Exemplar {
                        labels,
                        value,
                        t,
                        has_timestamp: false,
                    },
                ));
            }
            Record::Exemplars(exemplars)
        }
        other => return Err(format!("unknown record type {other}")),
    };
    if r.pos != payload.len() {
        return Err("record payload has trailing bytes".into());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

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
    fn exemplar_records_round_trip_with_their_bytes() {
        let record = Record::Exemplars(vec![
            (
                3,
                Exemplar {
                    labels: Labels::from_pairs([("trace_id", "ab")]),
                    value: 0.5,
                    t: 1000,
                    has_timestamp: false,
                },
            ),
            (
                1,
                Exemplar {
                    labels: Labels::empty(),
                    value: -1.0,
                    t: 999,
                    has_timestamp: false,
                },
            ),
        ]);
        let mut buf = Vec::new();
        encode(&record, &mut buf);
        // The payload as docs/format/wal.md draws it, after the 9-byte frame header.
        let mut payload = vec![2, 0xd0, 0x0f]; // count 2, base 1000 (zigzag varint)
        payload.extend([3, 0]); // id 3, delta 0
        payload.extend(0.5f64.to_bits().to_le_bytes());
        payload.extend([1, 8]); // one label, "trace_id"
        payload.extend(b"trace_id");
        payload.extend([2]);
        payload.extend(b"ab");
        payload.extend([1, 1]); // id 1, delta -1
        payload.extend((-1.0f64).to_bits().to_le_bytes());
        payload.extend([0]); // no labels
        assert!(buf.ends_with(&payload), "{buf:?}");
        assert_eq!(decode(&buf).unwrap(), (record, buf.len()));
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
