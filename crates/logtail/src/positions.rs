//! The positions file: how far each file has been read, so a restart resumes there.
//!
//! It is Promtail's format, so a user moving in keeps Promtail's file (and nothing is read
//! twice) and Promtail can read Skywatch's:
//!
//! ```yaml
//! positions:
//!   "/var/log/app.log": "2048"
//!   "skywatch-file-id:/var/log/app.log": "2049:131075"
//! ```
//!
//! A file's value is the byte offset after the last line handed to the log store. Beside
//! it, under `skywatch-file-id:<path>`, Skywatch keeps the file's device and inode, so that
//! a file replaced while Skywatch was stopped (rotated) is read from its start rather than
//! from an offset into another file. (Promtail keeps such keys as they are and drops them
//! when it cleans up, as no file has that name.) The file is written whole to a temporary
//! name, synced, and renamed over the old one, so a crash leaves the old or the new.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

const ID_PREFIX: &str = "skywatch-file-id:";

/// Where a file was read to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The byte offset after the last line handed to the store.
    pub offset: u64,
    /// The file's device and inode, if known (Promtail's files do not say).
    pub id: Option<(u64, u64)>,
}

/// The positions of every tailed file, and the file they are kept in.
#[derive(Debug)]
pub struct Positions {
    path: PathBuf,
    entries: BTreeMap<String, Position>,
    /// Entries Skywatch does not use (Promtail's journal cursors...), kept as they are.
    others: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    positions: BTreeMap<String, String>,
}

impl Positions {
    /// Reads the positions file at `path`; a missing file is no positions. A damaged one
    /// is an error naming it, unless `ignore_invalid` (then every file starts over).
    pub fn load(path: &Path, ignore_invalid: bool) -> Result<Self, String> {
        let mut p = Self {
            path: path.to_owned(),
            entries: BTreeMap::new(),
            others: BTreeMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(p),
            Err(e) => {
                return Err(format!(
                    "{}: cannot read the positions file: {e}",
                    path.display()
                ));
            }
        };
        let file: File = match yaml::from_str(&text) {
            Ok(f) => f,
            Err(_) if ignore_invalid => {
                tracing::warn!(file = %path.display(), "ignoring the damaged positions file (ignore_invalid_yaml); every file is read from its start");
                return Ok(p);
            }
            Err(e) => {
                return Err(format!(
                    "{}: invalid positions file: {e}; fix or delete it, or set positions.ignore_invalid_yaml",
                    path.display()
                ));
            }
        };
        let mut ids = BTreeMap::new();
        for (k, v) in file.positions {
            if let Some(file) = k.strip_prefix(ID_PREFIX) {
                if let Some((dev, ino)) = v.split_once(':')
                    && let (Ok(dev), Ok(ino)) = (dev.parse(), ino.parse())
                {
                    ids.insert(file.to_owned(), (dev, ino));
                }
            } else if let Ok(offset) = v.parse::<u64>() {
                p.entries.insert(k, Position { offset, id: None });
            } else {
                p.others.insert(k, v);
            }
        }
        for (file, id) in ids {
            if let Some(e) = p.entries.get_mut(&file) {
                e.id = Some(id);
            }
        }
        Ok(p)
    }

    /// The file the positions are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position of `file`.
    pub fn get(&self, file: &str) -> Option<Position> {
        self.entries.get(file).copied()
    }

    /// Sets the position of `file`.
    pub fn put(&mut self, file: &str, position: Position) {
        self.entries.insert(file.to_owned(), position);
    }

    /// Forgets `file`.
    pub fn remove(&mut self, file: &str) {
        self.entries.remove(file);
    }

    /// The files with a position.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Writes the positions to their file atomically (a temporary file, synced, renamed).
    pub fn save(&self) -> std::io::Result<()> {
        let mut text = String::from("positions:\n");
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
        for (k, v) in &self.others {
            text.push_str(&format!("  {}: {}\n", quote(k), quote(v)));
        }
        for (k, p) in &self.entries {
            text.push_str(&format!("  {}: \"{}\"\n", quote(k), p.offset));
            if let Some((dev, ino)) = p.id {
                text.push_str(&format!(
                    "  {}: \"{dev}:{ino}\"\n",
                    quote(&format!("{ID_PREFIX}{k}"))
                ));
            }
        }
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_promtails_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/positions.yaml");
        // Promtail's own file: offsets only, and a journal cursor Skywatch keeps as is.
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &path,
            "positions:\n  /var/log/a.log: \"120\"\n  journal-x: \"s=abc\"\n",
        )
        .expect("write");
        let mut p = Positions::load(&path, false).expect("load");
        assert_eq!(
            p.get("/var/log/a.log"),
            Some(Position {
                offset: 120,
                id: None
            })
        );
        p.put(
            "/var/log/b \"q\".log",
            Position {
                offset: 7,
                id: Some((2049, 13)),
            },
        );
        p.remove("/var/log/a.log");
        p.save().expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "positions:\n  \"journal-x\": \"s=abc\"\n  \"/var/log/b \\\"q\\\".log\": \"7\"\n  \"skywatch-file-id:/var/log/b \\\"q\\\".log\": \"2049:13\"\n"
        );
        let p = Positions::load(&path, false).expect("reload");
        assert_eq!(p.files().collect::<Vec<_>>(), ["/var/log/b \"q\".log"]);
        assert_eq!(
            p.get("/var/log/b \"q\".log"),
            Some(Position {
                offset: 7,
                id: Some((2049, 13))
            })
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_unless_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("positions.yaml");
        std::fs::write(&path, "positions: [what\n").expect("write");
        let e = Positions::load(&path, false).expect_err("damaged");
        assert!(
            e.contains("invalid positions file") && e.contains("ignore_invalid_yaml"),
            "{e}"
        );
        let p = Positions::load(&path, true).expect("ignored");
        assert_eq!(p.files().count(), 0);
    }
}
