//! A write-ahead log: checksummed records in numbered segment files, read back in order,
//! with a damaged tail cut off.
//!
//! The log is a directory of segment files named by an 8-digit sequence number
//! (`00000001`, `00000002`, ...). A segment holds records back to back:
//!
//! ```text
//! type u8 | payload length u32 LE | CRC-32 (IEEE) of type and payload, u32 LE | payload
//! ```
//!
//! What a record's type and payload mean is the store's (`docs/format/wal.md` for series,
//! `docs/format/traces.md` for spans). A store writes each commit with one [`Wal::write`]
//! call, so a crash leaves the commit's records either whole or torn, and a torn record
//! fails its length or checksum and is cut off at the next open.
//!
//! **Durability.** [`SyncPolicy::Always`] calls `fdatasync` before a write returns: it
//! survives power loss. The default, [`SyncPolicy::Never`], leaves the data in the
//! kernel's page cache when the write returns: it survives the process being killed
//! (SIGKILL, a panic, OOM) but not a power loss or kernel crash, which lose the last few
//! seconds the kernel had not yet written back. This is Prometheus's default too. Segments
//! are synced when they are finished either way.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::{Error, dir, io_err};

/// When writes reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every write is synced before it returns.
    Always,
    /// Writes go to the kernel, which writes them back on its own schedule.
    #[default]
    Never,
}

/// Segments are cut at this size.
pub const SEGMENT_SIZE: u64 = 128 << 20;

/// Bytes of a record's header: type, length, CRC.
pub const HEADER: usize = 9;

/// Where the log was found damaged, and what was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// The offset of the first damaged byte; everything before it was read.
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

/// Appends a record of type `kind` to `buf`, its payload written by `payload`.
pub fn frame(buf: &mut Vec<u8>, kind: u8, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    payload(buf);
    let len = (buf.len() - start - HEADER) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&buf[start + HEADER..]);
    buf[start] = kind;
    buf[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    buf[start + 5..start + 9].copy_from_slice(&crc.finalize().to_le_bytes());
}

/// Checks the record at the start of `bytes`; returns its type, its payload and its size.
pub fn unframe(bytes: &[u8]) -> Result<(u8, &[u8], usize), String> {
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
    Ok((kind, payload, HEADER + len))
}

/// The writer of a log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u32,
    size: u64,
    policy: SyncPolicy,
    /// A failed write left bytes after `size` that are not yet cut back.
    torn: bool,
}

impl Wal {
    /// Opens the log in `dir` for appending after [`read`] has read it: writing goes to a
    /// new segment numbered after every existing one and at least `at_least`, so a damaged
    /// tail of an old segment is never written after and numbers never repeat.
    pub fn open(dir: &Path, policy: SyncPolicy, at_least: u32) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let next = segments(dir)?
            .last()
            .map_or(1, |(n, _)| n + 1)
            .max(at_least);
        let file = create_segment(dir, next)?;
        dir::sync(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            file,
            segment: next,
            size: 0,
            policy,
            torn: false,
        })
    }

    /// Writes encoded records (one commit) with one call, syncing as the policy says.
    ///
    /// A write that fails (a full disk) may have written part of the records: the segment
    /// is cut back to its size before the write, so that the next write starts on a record
    /// boundary. Were the torn bytes left, replay would stop at them and lose every later,
    /// acknowledged, record. If cutting back fails too, every later write tries it again
    /// first and fails until it succeeds.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let path = segment_path(&self.dir, self.segment);
        if self.torn {
            self.file
                .set_len(self.size)
                .map_err(io_err("cutting back a partial write to", &path))?;
            self.torn = false;
        }
        if self.size > 0 && self.size + bytes.len() as u64 > SEGMENT_SIZE {
            self.cut()?;
        }
        let path = segment_path(&self.dir, self.segment);
        if let Err(e) = self.file.write_all(bytes) {
            self.torn = self.file.set_len(self.size).is_err();
            return Err(io_err("writing", &path)(e));
        }
        self.size += bytes.len() as u64;
        if self.policy == SyncPolicy::Always
            && let Err(e) = self.file.sync_data()
        {
            // Not known to be on disk, so not acknowledged: taken back as a failed write.
            self.torn = self.file.set_len(self.size - bytes.len() as u64).is_err();
            self.size -= bytes.len() as u64;
            return Err(io_err("syncing", &path)(e));
        }
        Ok(())
    }

    /// Finishes the current segment (synced) and starts the next one. Returns the number of
    /// the new segment.
    pub fn cut(&mut self) -> Result<u32, Error> {
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_all().map_err(io_err("syncing", &path))?;
        self.file = create_segment(&self.dir, self.segment + 1)?;
        dir::sync(&self.dir)?;
        self.segment += 1;
        self.size = 0;
        Ok(self.segment)
    }

    /// Syncs the current segment.
    pub fn sync(&self) -> Result<(), Error> {
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_all().map_err(io_err("syncing", &path))
    }

    /// Deletes every segment numbered below `segment`, after their content was persisted
    /// elsewhere.
    pub fn remove_before(&self, segment: u32) -> Result<(), Error> {
        remove_before(&self.dir, segment)
    }
}

/// Deletes every segment in `dir` numbered below `segment`; a missing `dir` has none.
pub fn remove_before(dir: &Path, segment: u32) -> Result<(), Error> {
    let doomed: Vec<PathBuf> = segments(dir)?
        .into_iter()
        .filter(|(n, _)| *n < segment)
        .map(|(_, p)| p)
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    for path in doomed {
        fs::remove_file(&path).map_err(io_err("removing", &path))?;
    }
    dir::sync(dir)
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn create_segment(dir: &Path, n: u32) -> Result<File, Error> {
    let path = segment_path(dir, n);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err("creating", &path))
}

/// The segments in `dir`, in order; none if `dir` does not exist.
pub fn segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, Error> {
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

/// Reads every record of the log in order, calling `apply` with each record's type and
/// payload, and stops at the first damaged record (cut off, failing its checksum, or
/// refused by `apply`), which it returns; everything before it has been applied.
///
/// With `repair`, the damaged segment is truncated at the damage (the bytes before it are
/// never rewritten) and later segments are taken out of the log, so that the log can be
/// written after again and the next open does not report the same damage. What is taken
/// out is not deleted: the cut-off bytes (as `<segment>.from-<offset>`) and the later
/// segments go into `quarantine/` beside `dir` ([`crate::dir::quarantine`]). Without
/// `repair`, nothing changes.
pub fn read(
    dir: &Path,
    repair: bool,
    mut apply: impl FnMut(u8, &[u8]) -> Result<(), String>,
) -> Result<Option<Damage>, Error> {
    let segments = segments(dir)?;
    for (i, (_, path)) in segments.iter().enumerate() {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err("reading", path))?;
        let mut offset = 0usize;
        while offset < bytes.len() {
            let step = unframe(&bytes[offset..])
                .and_then(|(kind, payload, used)| apply(kind, payload).map(|()| used));
            match step {
                Ok(used) => offset += used,
                Err(message) => {
                    let damage = Damage {
                        path: path.clone(),
                        offset: offset as u64,
                        message,
                    };
                    if repair {
                        // The bytes cut off and the later segments are moved aside, not
                        // deleted: what follows the damage may still be worth a look.
                        let store = dir.parent().unwrap_or(dir);
                        let tail = dir.join(format!(
                            "{}.from-{offset}",
                            path.file_name().map_or_else(
                                || "segment".into(),
                                |n| n.to_string_lossy().into_owned()
                            )
                        ));
                        fs::write(&tail, &bytes[offset..]).map_err(io_err("writing", &tail))?;
                        crate::dir::quarantine(store, &tail)?;
                        OpenOptions::new()
                            .write(true)
                            .open(path)
                            .and_then(|f| f.set_len(offset as u64))
                            .map_err(io_err("truncating", path))?;
                        for (_, later) in &segments[i + 1..] {
                            crate::dir::quarantine(store, later)?;
                        }
                    }
                    return Ok(Some(damage));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads() -> Vec<Vec<u8>> {
        vec![b"first".to_vec(), vec![], vec![7; 300]]
    }

    fn write_all(dir: &Path, payloads: &[Vec<u8>]) {
        let mut wal = Wal::open(dir, SyncPolicy::Always, 1).unwrap();
        for p in payloads {
            let mut buf = Vec::new();
            frame(&mut buf, 1, |b| b.extend_from_slice(p));
            wal.write(&buf).unwrap();
        }
    }

    fn read_all(dir: &Path, repair: bool) -> (Vec<Vec<u8>>, Option<Damage>) {
        let mut got = Vec::new();
        let damage = read(dir, repair, |kind, p| {
            assert_eq!(kind, 1);
            got.push(p.to_vec());
            Ok(())
        })
        .unwrap();
        (got, damage)
    }

    #[test]
    fn records_round_trip_across_opens_and_numbers_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &payloads()[..2]);
        write_all(dir.path(), &payloads()[2..]);
        assert_eq!(read_all(dir.path(), true), (payloads(), None));
        let wal = Wal::open(dir.path(), SyncPolicy::Never, 9).unwrap();
        wal.remove_before(9).unwrap();
        let numbers: Vec<u32> = segments(dir.path()).unwrap().iter().map(|s| s.0).collect();
        assert_eq!(numbers, [9]);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &payloads());
        let (_, path) = segments(dir.path()).unwrap().remove(0);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (got, damage) = read_all(dir.path(), false);
        assert_eq!(got.len(), 2);
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            len - 3,
            "reading alone repairs nothing"
        );
        let damage = damage.unwrap();
        assert!(
            damage
                .to_string()
                .contains(&format!("{} at byte", path.display()))
        );
        let (got, _) = read_all(dir.path(), true);
        assert_eq!(got.len(), 2);
        assert_eq!(fs::metadata(&path).unwrap().len(), damage.offset);
        assert_eq!(read_all(dir.path(), true).1, None, "the damage was cut off");
    }

    #[test]
    fn what_a_repair_cuts_off_is_kept_in_quarantine() {
        let store = tempfile::tempdir().unwrap();
        let dir = store.path().join("wal");
        write_all(&dir, &payloads());
        write_all(&dir, &payloads());
        let (_, first) = segments(&dir).unwrap().remove(0);
        let bytes = fs::read(&first).unwrap();
        // A bit flipped in the second record's checksum.
        let at = HEADER + 5 + HEADER;
        let mut flipped = bytes.clone();
        flipped[at - 1] ^= 0x10;
        fs::write(&first, &flipped).unwrap();
        let (got, damage) = read_all(&dir, true);
        assert_eq!(got, payloads()[..1]);
        let damage = damage.unwrap();
        assert_eq!(damage.offset, (HEADER + 5) as u64);
        let quarantine = store.path().join(crate::dir::QUARANTINE);
        let cut = quarantine.join(format!("00000001.from-{}", damage.offset));
        assert_eq!(fs::read(cut).unwrap(), flipped[HEADER + 5..]);
        assert!(
            quarantine.join("00000002").is_file(),
            "the later segment is kept aside"
        );
        assert_eq!(segments(&dir).unwrap().len(), 1);
    }

    #[test]
    fn a_record_the_store_refuses_is_damage_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &payloads());
        let mut n = 0;
        let damage = read(dir.path(), false, |_, _| {
            n += 1;
            if n == 2 {
                Err("not a record".into())
            } else {
                Ok(())
            }
        })
        .unwrap()
        .unwrap();
        assert_eq!(damage.offset, (HEADER + 5) as u64);
        assert_eq!(damage.message, "not a record");
    }
}
