//! Test support for the stores' tests (the `testing` feature): a full disk on demand.

#![allow(
    clippy::unwrap_used,
    reason = "test support: a failure should stop the test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a given size mounted on a new temporary directory, unmounted (lazily, so
/// that a file still open does not keep it) when dropped. Mounting needs root (CI runs
/// as root); without it [`Tmpfs::mount`] fails the test saying so.
pub struct Tmpfs {
    dir: PathBuf,
    _holder: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's `size=` option: `16m`).
    pub fn mount(size: &str) -> Self {
        let holder = tempfile::tempdir().unwrap();
        let dir = holder.path().join("small");
        std::fs::create_dir(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it, which needs root (CI runs as root): mount said {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            _holder: holder,
        }
    }

    /// The mounted directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
