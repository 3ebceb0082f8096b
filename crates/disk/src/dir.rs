//! A data directory's lock and the blocks in it.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::{Error, io_err};

/// Takes the exclusive `flock` of `<dir>/lock`, failing at once if another process (or
/// another open in this one) holds it. The kernel releases it when the returned file is
/// closed or the process ends, however it ends.
pub fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening", &path))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(Error {
            op: "locking",
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the data directory is in use by another Skywatch process; stop it or use another directory",
            ),
        }),
        Err(e) => Err(io_err("locking", &path)(e.into())),
    }
}

/// Syncs a directory, so that files created, renamed or removed in it stay so.
pub fn sync(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

/// Returns a new block ID: the creation time in milliseconds, the process ID and a counter,
/// in 20 hex digits, so that IDs sort by creation.
pub fn new_block_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "{ms:012x}{:04x}{:04x}",
        std::process::id() & 0xffff,
        COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// The block directories in `dir`: subdirectories holding a `meta.json`, `wal` aside. A
/// `<id>.tmp` directory is a block whose writing was interrupted, never renamed into place
/// and never used: it is deleted.
pub fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("reading", dir))? {
        let entry = entry.map_err(io_err("reading", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name == "wal" {
            continue;
        }
        if name.ends_with(".tmp") {
            fs::remove_dir_all(&path).map_err(io_err("removing", &path))?;
        } else if path.join("meta.json").exists() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// A block directory or file being written under a temporary name: removed when dropped
/// unless [`Unfinished::done`] was called once it was renamed into place, so that a write
/// that fails part-way (a full disk) leaves nothing behind to keep the disk full.
#[derive(Debug)]
pub struct Unfinished(Option<PathBuf>);

impl Unfinished {
    /// Guards `path`.
    pub fn new(path: PathBuf) -> Self {
        Self(Some(path))
    }

    /// The write is finished: nothing is removed.
    pub fn done(&mut self) {
        self.0 = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// The directory, beside a store's blocks and WAL, that damaged files are moved into.
pub const QUARANTINE: &str = "quarantine";

/// Moves the damaged file or block directory `path` into `<dir>/quarantine/` (made if
/// needed) under its own name, or with `.1`, `.2`, ... appended if that name is taken,
/// and returns where it went. Nothing is deleted: an operator can inspect the damage, or
/// remove it to free the space. The rename stays on the file system, so it is atomic, and
/// both directories are synced.
pub fn quarantine(dir: &Path, path: &Path) -> Result<PathBuf, Error> {
    let into = dir.join(QUARANTINE);
    fs::create_dir_all(&into).map_err(io_err("creating", &into))?;
    let name = path
        .file_name()
        .map_or_else(|| "damaged".into(), |n| n.to_string_lossy().into_owned());
    let mut to = into.join(&name);
    let mut n = 0;
    while to.exists() {
        n += 1;
        to = into.join(format!("{name}.{n}"));
    }
    fs::rename(path, &to).map_err(io_err("quarantining", path))?;
    sync(&into)?;
    if let Some(parent) = path.parent() {
        sync(parent)?;
    }
    Ok(to)
}

/// A damaged file or block that a store moved aside when it opened, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Where it was.
    pub from: PathBuf,
    /// Where it is now, under `quarantine/`.
    pub to: PathBuf,
    /// The error that opening it gave (naming the file and byte offset).
    pub reason: String,
}

impl std::fmt::Display for Quarantined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}; moved {} to {}: its data is not served; delete it once inspected",
            self.reason,
            self.from.display(),
            self.to.display()
        )
    }
}

/// Opens every block in `blocks` with `open`; a block that fails to open with damage
/// (`damaged` says which errors are: a bad meta, index or chunks file, not a file system
/// error that a retry may cure) is moved into `<dir>/quarantine/` and listed, so that the
/// store opens with the rest. Any other error stops the open, as does one moving a block
/// aside (made an `E` by `disk_err`).
pub fn open_or_quarantine<B, E: std::fmt::Display>(
    dir: &Path,
    blocks: &[PathBuf],
    mut open: impl FnMut(&Path) -> Result<B, E>,
    damaged: impl Fn(&E) -> bool,
    disk_err: impl Fn(Error) -> E,
) -> Result<(Vec<B>, Vec<Quarantined>), E> {
    let mut opened = Vec::new();
    let mut moved = Vec::new();
    for path in blocks {
        match open(path) {
            Ok(b) => opened.push(b),
            Err(e) if damaged(&e) => {
                let to = quarantine(dir, path).map_err(&disk_err)?;
                moved.push(Quarantined {
                    from: path.clone(),
                    to,
                    reason: e.to_string(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok((opened, moved))
}

/// What a compacted block says about itself: its ID, the IDs it replaces, its directory.
pub trait Replaces {
    /// The block's ID.
    fn id(&self) -> &str;
    /// The IDs of the blocks it replaces.
    fn sources(&self) -> &[String];
    /// Its directory.
    fn dir(&self) -> &Path;
    /// Its compaction level: 1 for a block cut from a head.
    fn level(&self) -> u32;
}

/// The compaction level and sources of the block merging `sources`: one level above the
/// highest, and every block they replace, directly or through earlier merges, so that the
/// merge's result names everything an interrupted merge may leave behind.
pub fn merged<B, T>(sources: &[B]) -> (u32, Vec<String>)
where
    B: std::ops::Deref<Target = T>,
    T: Replaces + ?Sized,
{
    let mut ids: Vec<String> = sources
        .iter()
        .flat_map(|b| std::iter::once(b.id().to_owned()).chain(b.sources().iter().cloned()))
        .collect();
    ids.sort();
    ids.dedup();
    let level = sources.iter().map(|b| b.level()).max().unwrap_or(1) + 1;
    (level, ids)
}

/// Deletes the blocks another block lists as its sources and returns the rest: a
/// compaction interrupted after writing its result but before deleting its sources leaves
/// both, and the result wins.
pub fn drop_replaced<B, T>(blocks: Vec<B>) -> Result<Vec<B>, Error>
where
    B: std::ops::Deref<Target = T>,
    T: Replaces + ?Sized,
{
    let replaced: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.sources().iter().cloned())
        .collect();
    let (stale, live): (Vec<_>, Vec<_>) =
        blocks.into_iter().partition(|b| replaced.contains(b.id()));
    for b in stale {
        fs::remove_dir_all(b.dir()).map_err(io_err("removing", b.dir()))?;
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        let e = lock(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another Skywatch process"), "{e}");
        drop(first);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn block_ids_are_distinct_and_sort_by_creation() {
        let a = new_block_id();
        let b = new_block_id();
        assert_eq!(a.len(), 20);
        assert!(a < b, "{a} {b}");
    }

    struct B(&'static str, Vec<String>, PathBuf);

    impl Replaces for B {
        fn id(&self) -> &str {
            self.0
        }
        fn sources(&self) -> &[String] {
            &self.1
        }
        fn dir(&self) -> &Path {
            &self.2
        }
        fn level(&self) -> u32 {
            1 + self.1.len() as u32
        }
    }

    #[test]
    fn leftovers_and_replaced_blocks_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c.tmp", "wal", "empty"] {
            fs::create_dir(dir.path().join(name)).unwrap();
        }
        for name in ["a", "b", "c.tmp"] {
            fs::write(dir.path().join(name).join("meta.json"), "{}").unwrap();
        }
        let found = block_dirs(dir.path()).unwrap();
        assert_eq!(found, [dir.path().join("a"), dir.path().join("b")]);
        assert!(!dir.path().join("c.tmp").exists());
        let blocks = vec![
            Box::new(B("a", vec![], found[0].clone())),
            Box::new(B("b", vec!["a".into()], found[1].clone())),
        ];
        assert_eq!(merged(&blocks), (3, vec!["a".to_owned(), "b".to_owned()]));
        let live = drop_replaced(blocks).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].0, "b");
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn a_block_that_fails_to_open_is_moved_into_quarantine_and_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["good", "bad"] {
            fs::create_dir(dir.path().join(name)).unwrap();
            fs::write(dir.path().join(name).join("meta.json"), name).unwrap();
        }
        // A block of the same name quarantined before: the new one does not replace it.
        fs::create_dir_all(dir.path().join("quarantine/bad")).unwrap();
        let found = block_dirs(dir.path()).unwrap();
        let (opened, moved) = open_or_quarantine(
            dir.path(),
            &found,
            |p| {
                let text = fs::read_to_string(p.join("meta.json")).unwrap();
                if text == "bad" {
                    Err(format!(
                        "corrupt data in {} at byte 0",
                        p.join("meta.json").display()
                    ))
                } else {
                    Ok(text)
                }
            },
            |e| e.starts_with("corrupt"),
            |e| e.to_string(),
        )
        .unwrap();
        assert_eq!(opened, ["good"]);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].to, dir.path().join("quarantine/bad.1"));
        assert!(moved[0].to.join("meta.json").is_file());
        assert!(!dir.path().join("bad").exists());
        let said = moved[0].to_string();
        assert!(said.contains("meta.json at byte 0; moved"), "{said}");
        assert_eq!(block_dirs(dir.path()).unwrap(), [dir.path().join("good")]);
    }

    #[test]
    fn an_unfinished_write_is_removed_unless_done() {
        let dir = tempfile::tempdir().unwrap();
        let (block, file, kept) = (
            dir.path().join("b.tmp"),
            dir.path().join("f.tmp"),
            dir.path().join("k.tmp"),
        );
        fs::create_dir(&block).unwrap();
        fs::write(block.join("data"), "partial").unwrap();
        fs::write(&file, "partial").unwrap();
        fs::write(&kept, "whole").unwrap();
        drop(Unfinished::new(block.clone()));
        drop(Unfinished::new(file.clone()));
        let mut done = Unfinished::new(kept.clone());
        done.done();
        drop(done);
        assert!(!block.exists() && !file.exists());
        assert!(kept.exists());
    }
}
