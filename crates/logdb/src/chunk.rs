//! A chunk: a run of one stream's entries in timestamp order, encoded column by column and
//! compressed with zstd as one frame.
//!
//! Columns compress better than entries one after another: the timestamps' deltas are
//! small and alike, the lengths are alike, and the lines, back to back, let zstd find the
//! same JSON keys, messages and trace IDs line after line. Structured metadata, which
//! repeats its names on every line and often its values (a trace's lines share its ID), is
//! a dictionary of distinct label sets and a reference per entry.

use std::collections::HashMap;

use disk::varint::{Reader, put_bytes, put_uvarint, put_varint};
use logs::{Entry, Labels};

use crate::bloom::{self, Bloom};

/// The zstd level chunks are written with. Measured on node-like JSON lines (the `bench`
/// example's `--sweep`, 1 MiB chunks): level 3 stores them in 19% more bytes than level 9,
/// level 6 in 5% more; level 12 saves 1.6% more for a third more time.
pub(crate) const LEVEL: i32 = 9;

/// A chunk ready to be written: its bytes and what the segment's index says about it.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The zstd frame.
    pub(crate) data: Vec<u8>,
    /// Bytes of the uncompressed columns.
    pub(crate) raw_len: usize,
    /// The first and last timestamps.
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    /// Entries.
    pub(crate) entries: u64,
    /// Bytes of their lines.
    pub(crate) bytes: u64,
    /// The filter over the lines' tokens.
    pub(crate) bloom: Bloom,
}

/// Encodes `entries`, which are sorted by timestamp and not empty.
pub(crate) fn encode(entries: &[Entry], level: i32) -> Result<Encoded, String> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err("a chunk needs entries".into());
    };
    let mut raw = Vec::new();
    put_uvarint(&mut raw, entries.len() as u64);
    let mut prev = first.timestamp;
    put_varint(&mut raw, prev);
    for e in &entries[1..] {
        put_varint(&mut raw, e.timestamp.wrapping_sub(prev));
        prev = e.timestamp;
    }
    let mut bytes = 0u64;
    // A line that holds its own timestamp's text (a JSON or logfmt line shipped with its
    // time as the entry's) is kept without it, and the text written again when read.
    let cut: Vec<(Option<TimeText>, std::borrow::Cow<'_, str>)> = entries
        .iter()
        .map(|e| strip_time(e.timestamp, &e.line))
        .collect();
    for (e, (_, line)) in entries.iter().zip(&cut) {
        put_uvarint(&mut raw, line.len() as u64);
        bytes += e.line.len() as u64;
    }
    for (_, line) in &cut {
        raw.extend_from_slice(line.as_bytes());
    }
    for (text, _) in &cut {
        put_uvarint(
            &mut raw,
            text.map_or(0, |t| ((t.offset as u64) << 1 | u64::from(t.trimmed)) + 1),
        );
    }
    let mut dict: HashMap<&Labels, usize> = HashMap::new();
    let mut order: Vec<&Labels> = Vec::new();
    let refs: Vec<usize> = entries
        .iter()
        .map(|e| {
            if e.metadata.is_empty() {
                0
            } else {
                *dict.entry(&e.metadata).or_insert_with(|| {
                    order.push(&e.metadata);
                    order.len()
                })
            }
        })
        .collect();
    put_uvarint(&mut raw, order.len() as u64);
    for m in &order {
        put_uvarint(&mut raw, m.len() as u64);
        for l in m.iter() {
            put_bytes(&mut raw, l.name.as_bytes());
            put_bytes(&mut raw, l.value.as_bytes());
        }
    }
    for r in refs {
        put_uvarint(&mut raw, r as u64);
    }
    let data =
        zstd::bulk::compress(&raw, level).map_err(|e| format!("compressing a chunk: {e}"))?;
    let bloom = Bloom::build(&bloom::keys_of(entries.iter().map(|e| e.line.as_str())));
    Ok(Encoded {
        data,
        raw_len: raw.len(),
        min_time: first.timestamp,
        max_time: last.timestamp,
        entries: entries.len() as u64,
        bytes,
        bloom,
    })
}

/// Decodes a chunk of `raw_len` uncompressed bytes; errors name the byte of the
/// uncompressed columns where decoding failed.
pub(crate) fn decode(data: &[u8], raw_len: usize) -> Result<Vec<Entry>, String> {
    let raw = zstd::bulk::decompress(data, raw_len).map_err(|e| format!("decompressing: {e}"))?;
    if raw.len() != raw_len {
        return Err(format!(
            "decompressed to {} bytes, the index says {raw_len}",
            raw.len()
        ));
    }
    let mut r = Reader::new(&raw);
    let n = r.usize()?;
    // A count can be at most one entry per byte of the columns: bounds what a corrupt
    // count reserves.
    if n > raw_len {
        return Err(format!("{n} entries in a chunk of {raw_len} bytes"));
    }
    let mut times = Vec::with_capacity(n);
    let mut t = r.varint()?;
    times.push(t);
    for _ in 1..n {
        t = t.wrapping_add(r.varint()?);
        times.push(t);
    }
    let mut lens = Vec::with_capacity(n);
    for _ in 0..n {
        lens.push(r.usize()?);
    }
    let mut out = Vec::with_capacity(n);
    for (t, len) in times.into_iter().zip(lens) {
        let at = r.pos();
        let line = std::str::from_utf8(r.take(len)?)
            .map_err(|_| format!("invalid UTF-8 in the line at byte {at}"))?;
        out.push(Entry::new(t, line));
    }
    for e in &mut out {
        let at = r.pos();
        let code = r.uvarint()?;
        if code == 0 {
            continue;
        }
        let (offset, trimmed) = ((code - 1) >> 1, (code - 1) & 1 == 1);
        let text = time_text(e.timestamp, trimmed)
            .ok_or_else(|| format!("timestamp text at byte {at} for a time it cannot write"))?;
        let offset = usize::try_from(offset)
            .ok()
            .filter(|&o| e.line.is_char_boundary(o))
            .ok_or_else(|| {
                format!("timestamp text offset {offset} at byte {at} is outside its line")
            })?;
        e.line.insert_str(offset, &text);
    }
    let d = r.usize()?;
    let mut dict = Vec::with_capacity(d.min(n));
    for _ in 0..d {
        let k = r.usize()?;
        let mut pairs = Vec::with_capacity(k.min(64));
        for _ in 0..k {
            pairs.push((r.str()?, r.str()?));
        }
        dict.push(Labels::from_pairs(pairs));
    }
    for e in &mut out {
        let at = r.pos();
        match r.usize()? {
            0 => {}
            i => {
                e.metadata = dict.get(i - 1).cloned().ok_or_else(|| {
                    format!("metadata reference {i} at byte {at} is out of range")
                })?;
            }
        }
    }
    if !r.is_empty() {
        return Err(format!("trailing bytes after byte {}", r.pos()));
    }
    Ok(out)
}

/// Where a line held its entry's timestamp as text, and in which form.
#[derive(Debug, Clone, Copy)]
struct TimeText {
    offset: usize,
    /// Go's `RFC3339Nano` (trailing zeros of the fraction trimmed) rather than nine digits.
    trimmed: bool,
}

/// The line without the first occurrence of its timestamp's RFC 3339 text (nine digits of
/// fraction, or Go's `RFC3339Nano`), and where it was.
fn strip_time(timestamp: i64, line: &str) -> (Option<TimeText>, std::borrow::Cow<'_, str>) {
    for trimmed in [false, true] {
        let Some(text) = time_text(timestamp, trimmed) else {
            break;
        };
        if let Some(offset) = line.find(&text) {
            let mut rest = String::with_capacity(line.len() - text.len());
            rest.push_str(&line[..offset]);
            rest.push_str(&line[offset + text.len()..]);
            return (Some(TimeText { offset, trimmed }), rest.into());
        }
    }
    (None, line.into())
}

/// `timestamp` (Unix nanoseconds) in RFC 3339, UTC: `2026-12-07T10:30:15.123456789Z`, or as
/// Go's `RFC3339Nano` writes it (`...15.1234Z`, `...15Z`) when `trimmed`. `None` before
/// 1970.
fn time_text(timestamp: i64, trimmed: bool) -> Option<String> {
    if timestamp < 0 {
        return None;
    }
    let (secs, nanos) = (timestamp / 1_000_000_000, timestamp % 1_000_000_000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let fraction = format!("{nanos:09}");
    let fraction = if trimmed {
        fraction.trim_end_matches('0')
    } else {
        &fraction
    };
    if !fraction.is_empty() {
        text.push('.');
        text.push_str(fraction);
    }
    text.push('Z');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_metadata_shared() {
        let meta = Labels::from_pairs([("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
        let entries = vec![
            Entry::new(-5, "before the epoch").with_metadata(meta.clone()),
            Entry::new(10, "héllo"),
            Entry::new(10, "same time").with_metadata(meta),
            Entry::new(i64::MAX, ""),
        ];
        let c = encode(&entries, LEVEL).unwrap();
        assert_eq!((c.min_time, c.max_time, c.entries), (-5, i64::MAX, 4));
        assert_eq!(
            c.bytes,
            entries.iter().map(|e| e.line.len() as u64).sum::<u64>()
        );
        assert_eq!(decode(&c.data, c.raw_len).unwrap(), entries);
        let e = decode(&c.data, c.raw_len + 1).unwrap_err();
        assert!(e.contains("the index says"), "{e}");
    }

    #[test]
    fn a_line_holding_its_own_timestamp_is_kept_without_it() {
        // 2026-12-07T10:30:15.123456789Z, by `date -u -d @1796639415`.
        let t = 1_796_639_415_123_456_789;
        assert_eq!(
            time_text(t, false).unwrap(),
            "2026-12-07T10:30:15.123456789Z"
        );
        assert_eq!(
            time_text(t - 456_789, true).unwrap(),
            "2026-12-07T10:30:15.123Z"
        );
        assert_eq!(
            time_text(1_796_639_415_000_000_000, true).unwrap(),
            "2026-12-07T10:30:15Z"
        );
        assert_eq!(
            time_text(951_782_400_000_000_000, false).unwrap(),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(time_text(-1, false), None);
        let entries = vec![
            Entry::new(
                t,
                r#"{"timestamp":"2026-12-07T10:30:15.123456789Z","level":"INFO"}"#,
            ),
            Entry::new(t + 1, "ts=2026-12-07T10:30:15.12345679Z msg=\"Go's form\""),
            Entry::new(t + 2, "not its own time: 2026-12-07T10:30:15.123456789Z"),
            Entry::new(t + 3, "héllo 2026-12-07T10:30:15.123456792Z é"),
            Entry::new(-7, "1969-12-31T23:59:59.999999993Z before the epoch"),
        ];
        let c = encode(&entries, LEVEL).unwrap();
        assert_eq!(decode(&c.data, c.raw_len).unwrap(), entries);
        let (cut, rest) = strip_time(entries[1].timestamp, &entries[1].line);
        assert!(cut.unwrap().trimmed);
        assert_eq!(rest, "ts= msg=\"Go's form\"");
        assert!(
            strip_time(entries[2].timestamp, &entries[2].line)
                .0
                .is_none()
        );
    }
}
