//! Helpers shared by the integration tests that run real programs.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Returns the path of a program on `PATH`, or fails saying which package provides it.
pub(crate) fn require_tool(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: install the Debian package `{package}` \
                 (scripts/install-test-deps does it)"
            )
        })
}

/// The example node, started on a free loopback port and killed when dropped.
pub(crate) struct ExampleNode {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ExampleNode {
    /// Starts `target/<profile>/examples/node` with `args` after `--listen 127.0.0.1:0`.
    pub(crate) fn start(args: &[&str]) -> Self {
        // Test binaries live in target/<profile>/deps; `cargo test` builds the examples into
        // target/<profile>/examples before running any test.
        let exe = std::env::current_exe().unwrap();
        let node = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(|profile| profile.join("examples").join("node"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "the example node is not built next to {exe:?}: run the tests with `cargo test`"
                )
            });
        let mut child = Command::new(node)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the node exited before logging its address")
                .unwrap();
            let json: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if json["message"] == "listening" {
                break json["addr"].as_str().unwrap().parse().unwrap();
            }
        };
        // Keep draining the node's log so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    /// Returns `http://<addr><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ExampleNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
