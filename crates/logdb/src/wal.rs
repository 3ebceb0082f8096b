//! The write-ahead log: the accepted entries of every push, written before they become
//! visible, so that a restart rebuilds the head.
//!
//! The segments, the record framing (type, length, CRC) and the cutting off of a damaged
//! tail are `disk::wal`'s. A push is one record written with one `write` call, so a crash
//! leaves a push whole in the log or torn, and a torn record fails its length or checksum
//! and is cut off at the next open. A record holds only what the push accepted, each
//! stream's labels inline (segments are deleted after a cut, so a record cannot refer to
//! a stream defined in an earlier one). `docs/format/logs.md` draws every byte.

use disk::varint::{Reader, put_bytes, put_uvarint, put_varint};
use logs::{Entry, Labels};

const TYPE_PUSH: u8 = 1;

/// Appends one record holding `streams` (labels and accepted entries) to `buf`.
pub(crate) fn encode<'a>(
    streams: impl ExactSizeIterator<Item = (&'a Labels, Vec<&'a Entry>)>,
    buf: &mut Vec<u8>,
) {
    disk::wal::frame(buf, TYPE_PUSH, |buf| {
        put_uvarint(buf, streams.len() as u64);
        for (labels, entries) in streams {
            put_labels(buf, labels);
            put_uvarint(buf, entries.len() as u64);
            for e in entries {
                put_varint(buf, e.timestamp);
                put_bytes(buf, e.line.as_bytes());
                put_labels(buf, &e.metadata);
            }
        }
    });
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels.iter() {
        put_bytes(buf, l.name.as_bytes());
        put_bytes(buf, l.value.as_bytes());
    }
}

fn labels(r: &mut Reader<'_>) -> Result<Labels, String> {
    let n = r.usize()?;
    let mut pairs = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        pairs.push((r.str()?, r.str()?));
    }
    Ok(Labels::from_pairs(pairs))
}

/// Decodes a record's payload into its streams.
pub(crate) fn decode(kind: u8, payload: &[u8]) -> Result<Vec<(Labels, Vec<Entry>)>, String> {
    if kind != TYPE_PUSH {
        return Err(format!("unknown record type {kind}"));
    }
    let mut r = Reader::new(payload);
    let n = r.usize()?;
    let mut out = Vec::with_capacity(n.min(1 << 12));
    for _ in 0..n {
        let l = labels(&mut r)?;
        if l.is_empty() {
            return Err(format!("a stream without labels before byte {}", r.pos()));
        }
        let m = r.usize()?;
        let mut entries = Vec::with_capacity(m.min(1 << 16));
        for _ in 0..m {
            let timestamp = r.varint()?;
            let line = r.str()?.to_owned();
            let metadata = labels(&mut r)?;
            entries.push(Entry {
                timestamp,
                line,
                metadata,
            });
        }
        out.push((l, entries));
    }
    if !r.is_empty() {
        return Err(format!("trailing bytes after byte {}", r.pos()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_round_trip() {
        let a = Labels::from_pairs([("job", "node")]);
        let b = Labels::from_pairs([("job", "api"), ("level", "warn")]);
        let e1 = Entry::new(-1, "x").with_metadata(Labels::from_pairs([("span_id", "1")]));
        let e2 = Entry::new(7, "ünïcode");
        let mut buf = Vec::new();
        encode(
            vec![(&a, vec![&e1, &e2]), (&b, vec![])].into_iter(),
            &mut buf,
        );
        let (kind, payload, used) = disk::wal::unframe(&buf).unwrap();
        assert_eq!(used, buf.len());
        let got = decode(kind, payload).unwrap();
        assert_eq!(got, vec![(a, vec![e1, e2]), (b, vec![])]);
        assert!(decode(2, payload).is_err());
        assert!(decode(kind, &payload[..payload.len() - 1]).is_err());
    }
}
