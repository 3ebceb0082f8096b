//! The web UI in a real browser: `ui/tests/browser.mjs` drives headless Chromium through
//! the explore and targets pages of a live `skywatch demo`, fails on any console error,
//! and saves screenshots under `target/tmp/ui-screenshots`.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "how long each page took to be ready is reported for the record"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{get_json, start_demo};

#[test]
fn the_pages_render_in_chromium_without_errors() {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} is missing: the UI test needs headless Chromium (Debian package `chromium`; \
         scripts/install-test-deps installs it), or CHROMIUM set to another build",
        chromium.display()
    );
    let (demo, addr) = start_demo(&["--nodes", "3", "--scrape-interval", "1s"]);
    // Data to draw: every node up and two scrapes of its counters.
    let client = reqwest::blocking::Client::new();
    let began = Instant::now();
    loop {
        let v = get_json(
            &client,
            &addr,
            "/api/v1/query?query=count(rate(p2p_messages_sent_total%5B1m%5D)%20%3E%3D%200)%20and%20count(up%20%3D%3D%201)%20%3D%3D%203",
        );
        if v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the demo had no rates to draw after 20 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    // Only this run's screenshots: a failure's from an earlier run would mislead.
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg("tests/browser.mjs")
        .arg(format!("http://{addr}"))
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .current_dir(&ui)
        .output()
        .expect("node runs (Node.js 20, which building the UI needs too)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}screenshots in {}", shots.display());
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shots.join("targets-dark.png").exists());
    drop(demo);
}
