//! Helpers shared by the integration tests that run the real `skywatch` binary.

#![allow(dead_code, reason = "each test binary uses only some of the helpers")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed and reaped when dropped, so a failing test leaves no server behind.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    /// Asks the process to stop (SIGTERM), so that it cleans up after itself (the demo
    /// removes its temporary data directory), and kills it if it has not stopped within
    /// a few seconds.
    fn drop(&mut self) {
        // Already reaped (a test killed it itself): nothing to stop.
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let asked = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while asked && std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Python of the clients' virtual environment (`$SKYWATCH_PYTHON_VENV`, else
/// `target/python-otlp`: the OpenTelemetry Python SDK and python-logging-loki); fails
/// saying how to make it.
pub(crate) fn python() -> PathBuf {
    let venv = std::env::var_os("SKYWATCH_PYTHON_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/python-otlp"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/install-test-deps, which installs the OpenTelemetry Python SDK and python-logging-loki there",
        python.display()
    );
    python
}

/// Starts `skywatch up` on a free loopback port over `db` and returns it with the address
/// it logged as listening on. Its later log lines are drained so it never blocks on stderr.
pub(crate) fn start_skywatch(db: &Path) -> (Killed, String) {
    start_skywatch_with(db, &[])
}

/// As [`start_skywatch`], with more arguments.
pub(crate) fn start_skywatch_with(db: &Path, args: &[&std::ffi::OsStr]) -> (Killed, String) {
    // Dropping the log leaves its thread draining the lines.
    let (child, addr, _log) = start_skywatch_logged(db, args);
    (child, addr)
}

/// As [`start_skywatch_with`], with the server's later log lines (JSON) for the test to read.
pub(crate) fn start_skywatch_logged(
    db: &Path,
    args: &[&std::ffi::OsStr],
) -> (Killed, String, std::sync::mpsc::Receiver<String>) {
    let (child, addr, _grpc, log) = start_skywatch_otlp(db, args);
    (child, addr, log)
}

/// As [`start_skywatch_logged`], with the address of its OTLP/gRPC listener (on a free
/// loopback port too) after the HTTP one.
pub(crate) fn start_skywatch_otlp(
    db: &Path,
    args: &[&std::ffi::OsStr],
) -> (Killed, String, String, std::sync::mpsc::Receiver<String>) {
    let s = start_skywatch_started(db, args);
    (s.child, s.addr, s.grpc, s.log)
}

/// A `skywatch up` started by [`start_skywatch_started`].
pub(crate) struct Started {
    pub(crate) child: Killed,
    /// The HTTP listener's address.
    pub(crate) addr: String,
    /// The OTLP/gRPC listener's address.
    pub(crate) grpc: String,
    /// The log lines (JSON) written before it listened: opening the stores, recovery.
    pub(crate) early: Vec<String>,
    /// The later log lines.
    pub(crate) log: std::sync::mpsc::Receiver<String>,
    /// From the start of the process to its listening: opening the stores and replaying
    /// their write-ahead logs, mostly.
    pub(crate) took: Duration,
}

/// Starts `skywatch up` over `db` with `args` on free loopback ports, and returns it once
/// it listens, with what it logged until then; fails with those lines if it exits first.
pub(crate) fn start_skywatch_started(db: &Path, args: &[&std::ffi::OsStr]) -> Started {
    start_skywatch_env(db, args, &[])
}

/// As [`start_skywatch_started`], with these environment variables set.
pub(crate) fn start_skywatch_env(
    db: &Path,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &std::ffi::OsStr)],
) -> Started {
    let began = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(db)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let child = Killed(child);
    let mut grpc = String::new();
    let mut early = Vec::new();
    let addr = loop {
        let Some(line) = lines.next().map(Result::unwrap) else {
            panic!("skywatch up exited before listening:\n{}", early.join("\n"));
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
            early.push(line);
            continue;
        };
        if json["message"] == "OTLP/gRPC listening" {
            grpc = json["addr"].as_str().unwrap().to_owned();
        }
        if json["message"] == "listening" {
            break json["addr"].as_str().unwrap().to_owned();
        }
        early.push(line);
    };
    let took = began.elapsed();
    let (send, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            // The test may have stopped reading; the lines are still drained.
            let _ = send.send(line);
        }
    });
    Started {
        child,
        addr,
        grpc,
        early,
        log,
        took,
    }
}

/// GETs `path` from the server at `addr` and parses the JSON answer.
pub(crate) fn get_json(
    client: &reqwest::blocking::Client,
    addr: &str,
    path: &str,
) -> serde_json::Value {
    let text = client
        .get(format!("http://{addr}{path}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// The value of the sample line of `/metrics` at `addr` that starts with `series` (name
/// and labels as written), if there is one.
pub(crate) fn metric_value(
    client: &reqwest::blocking::Client,
    addr: &str,
    series: &str,
) -> Option<f64> {
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Serves `body` as `content_type` to every request on a free loopback port, one
/// connection at a time, until the process ends; returns the address. A scrape target
/// whose answer never changes.
pub(crate) fn serve_fixed(content_type: &'static str, body: String) -> String {
    serve_counted(content_type, move |_| body.clone())
}

/// Serves `body(n)` as `content_type` to the `n`th request (from 0) on a free loopback
/// port, one connection at a time, until the process ends; returns the address. A scrape
/// target whose answer changes with every scrape.
pub(crate) fn serve_counted(
    content_type: &'static str,
    body: impl Fn(usize) -> String + Send + 'static,
) -> String {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            // The request's head, up to its blank line.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let body = body(n);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// A loopback port free now, for a peer (Prometheus, an exporter) that must be told its
/// port; Skywatch itself binds port 0.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a finished command printed: its standard output, then its standard error.
pub(crate) fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Where `name` is on the PATH; fails saying which Debian package to install if it is not.
pub(crate) fn tool_named(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: install the Debian package `{package}` (scripts/install-test-deps does it)"))
}

/// Where `name` is on the PATH; fails saying what to install if it is not.
pub(crate) fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: install the Debian package `prometheus` (scripts/install-test-deps does it)"))
}

/// Starts Prometheus with `config` and more `args` on a free loopback port; returns it and
/// the address it logged as listening on.
pub(crate) fn start_prometheus(config: &Path, data: &Path, args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let child = Killed(child);
    let addr = loop {
        let line = lines
            .next()
            .expect("prometheus exited before listening")
            .unwrap();
        if line.contains("msg=\"Listening on\"")
            && let Some(addr) = line.split("address=").nth(1)
        {
            break addr.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// Starts `skywatch demo` on a free port with `args`; returns it and its address, read
/// from the first line it prints.
pub(crate) fn start_demo(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let child = Killed(child);
    // Any history is simulated first, and said so, before the welcome names the address.
    let welcome = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("Skywatch demo:"))
        .expect("the demo stopped before it said where it listens");
    let addr = welcome
        .rsplit("http://")
        .next()
        .expect("the welcome names the address")
        .to_owned();
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// Polls `f` every 100 ms until it holds; fails naming `what` after `limit`.
pub(crate) fn within(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let began = Instant::now();
    while !f() {
        assert!(began.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `.yml` fixtures in `tests/{dir}` of this crate, sorted by name; fails if there are
/// fewer than `at_least`, which would mean they went missing.
pub(crate) fn yaml_fixtures(dir: &str, at_least: usize) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= at_least,
        "the fixtures are missing: {files:?}"
    );
    files
}

/// A certificate authority of a test's own, for servers on loopback that speak TLS.
pub(crate) type TestCa = rcgen::CertifiedIssuer<'static, rcgen::KeyPair>;

/// A new CA; write `ca.pem()` to a file for a client's `tls_config.ca_file`.
pub(crate) fn test_ca() -> TestCa {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A TLS server configuration with a certificate for `host` signed by `ca`.
pub(crate) fn tls_server_config(ca: &TestCa, host: &str) -> std::sync::Arc<rustls::ServerConfig> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    std::sync::Arc::new(config)
}

/// The rule files `files`, with time running `factor` times faster, written into `out`:
/// every duration of a range (`[5m]`, `[1h:1m]`), an `offset`, a rule's `for` and
/// `keep_firing_for` and a group's `interval` divided by `factor` (kept at 1 ms at least),
/// so that the shipped rules' own expressions go pending and fire within a test's minute
/// instead of an hour. Numbers that stand for seconds in an expression (`time() - x >
/// 300`, `predict_linear(x[1h], 3600)`) are left as they are. The files are written as
/// JSON, which is YAML; each expression must still parse. Returns the written paths.
pub(crate) fn compressed_rules(files: &[PathBuf], factor: u32, out: &Path) -> Vec<PathBuf> {
    use serde_json::Value;
    let scale = |text: &str| -> String {
        let ms =
            parse_duration_ms(text).unwrap_or_else(|| panic!("{text:?} is not a PromQL duration"));
        format!("{}ms", (ms / i64::from(factor)).max(1))
    };
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let mut doc: Value =
                yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for group in doc["groups"].as_array_mut().into_iter().flatten() {
                if let Some(i) = group.get("interval").and_then(Value::as_str) {
                    group["interval"] = Value::from(scale(i));
                }
                for rule in group["rules"].as_array_mut().into_iter().flatten() {
                    for key in ["for", "keep_firing_for"] {
                        if let Some(d) = rule.get(key).and_then(Value::as_str) {
                            rule[key] = Value::from(scale(d));
                        }
                    }
                    let expr = match &rule["expr"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let compressed = compress_expr(&expr, &scale);
                    promql::ast::parse(&compressed).unwrap_or_else(|e| {
                        panic!("{}: {compressed:?} (from {expr:?}): {e:?}", file.display())
                    });
                    rule["expr"] = Value::from(compressed);
                }
            }
            let path = out.join(file.file_name().unwrap());
            std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
            path
        })
        .collect()
}

/// A PromQL duration (`1h30m`, `90s`, `500ms`) in milliseconds.
pub(crate) fn parse_duration_ms(text: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = [
            ("ms", 1),
            ("s", 1_000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
            ("w", 604_800_000),
            ("y", 31_536_000_000),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))
        .map(|(u, ms)| (ms, u.len()))?;
        total += n * unit;
        rest = &rest[len..];
    }
    Some(total)
}

/// `expr` with each duration of a range or subquery (`[5m]`, `[1h:30s]`) and of an
/// `offset` rewritten by `scale`; string literals are left alone.
pub(crate) fn compress_expr(expr: &str, scale: &dyn Fn(&str) -> String) -> String {
    let bytes = expr.as_bytes();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        match c {
            '"' | '\'' | '`' => {
                // A string literal, copied whole (escapes included).
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] as char != c {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push_str(&expr[start..i]);
            }
            '[' => {
                let end = expr[i..].find(']').map_or(bytes.len(), |e| i + e);
                let inside = &expr[i + 1..end];
                let scaled: Vec<String> = inside
                    .split(':')
                    .map(|d| {
                        if d.trim().is_empty() {
                            String::new()
                        } else {
                            scale(d.trim())
                        }
                    })
                    .collect();
                out.push('[');
                out.push_str(&scaled.join(":"));
                out.push(']');
                i = end + 1;
            }
            _ if expr[i..].starts_with("offset")
                && (i == 0
                    || !(bytes[i - 1] as char).is_alphanumeric() && bytes[i - 1] != b'_')
                && expr[i + 6..].starts_with(char::is_whitespace) =>
            {
                let after = i + 6;
                let ws = expr[after..]
                    .find(|c: char| !c.is_whitespace())
                    .map_or(bytes.len(), |w| after + w);
                let neg = expr[ws..].starts_with('-');
                let d_start = if neg { ws + 1 } else { ws };
                let d_end = expr[d_start..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .map_or(bytes.len(), |e| d_start + e);
                out.push_str(&expr[i..d_start]);
                out.push_str(&scale(&expr[d_start..d_end]));
                i = d_end;
            }
            _ => {
                let len = expr[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&expr[i..i + len]);
                i += len;
            }
        }
    }
    out
}

/// The alerts named `name` in `/api/v1/alerts`, with their state.
pub(crate) fn alert_states(
    client: &reqwest::blocking::Client,
    addr: &str,
    name: &str,
) -> Vec<String> {
    get_json(client, addr, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .map(|a| a["state"].as_str().unwrap().to_owned())
        .collect()
}

/// The receivers of the demo's own webhooks (`GET /demo/webhook`) that got a firing
/// notification of `name`, sorted.
pub(crate) fn receivers_of(
    client: &reqwest::blocking::Client,
    addr: &str,
    name: &str,
) -> Vec<String> {
    let mut out: Vec<String> = get_json(client, addr, "/demo/webhook")
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["payload"]["alerts"].as_array().is_some_and(|alerts| {
                alerts
                    .iter()
                    .any(|a| a["labels"]["alertname"] == name && a["status"] == "firing")
            })
        })
        .map(|p| p["receiver"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Starts `skywatch alert-hook` with `args`; returns it and the address it listens on.
pub(crate) fn start_alert_hook(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["alert-hook", "--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let child = Killed(child);
    let addr = loop {
        let line = lines.next().expect("the hook exited").unwrap();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        if json["message"] == "listening" {
            break json["addr"].as_str().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// The `.yml` files directly in `dir`, sorted by name.
pub(crate) fn yml_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// Headless Chromium (`$CHROMIUM`, else Debian's `/usr/bin/chromium`); fails saying how
/// to install it.
pub(crate) fn chromium() -> PathBuf {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "{} is missing: the dashboards test needs headless Chromium (Debian package \
         `chromium`; scripts/install-test-deps installs it), or CHROMIUM set to another build",
        chromium.display()
    );
    chromium
}

/// Runs `ui/tests/dashboards-data.mjs` over the server at `addr` for `profile` over the
/// last `range`, its screenshots in `shots` (emptied first), with `env` set; returns its
/// output and prints its standard output.
#[allow(
    clippy::print_stderr,
    reason = "the script's line per dashboard is reported for the record"
)]
pub(crate) fn dashboards_script(
    addr: &str,
    profile: &str,
    shots: &Path,
    range: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    // Only this run's screenshots: a failure's from an earlier run would mislead.
    let _ = std::fs::remove_dir_all(shots);
    let out = Command::new("node")
        .arg("tests/dashboards-data.mjs")
        .arg(format!("http://{addr}"))
        .arg(profile)
        .arg(shots)
        .arg(range)
        .env("CHROMIUM", chromium())
        .envs(env.iter().copied())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui"))
        .output()
        .expect("node runs (Node.js 20, which building the UI needs too)");
    eprintln!(
        "{}screenshots in {}",
        String::from_utf8_lossy(&out.stdout),
        shots.display()
    );
    out
}

/// Sends `batch` (labels, time, value) to the remote write receiver of the Prometheus at
/// `prometheus`, with remote write 1.0; fails if it refuses them.
pub(crate) fn remote_write(
    client: &reqwest::blocking::Client,
    prometheus: &str,
    batch: &[(model::Labels, i64, f64)],
) {
    let response = client
        .post(format!("http://{prometheus}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(remote::encode(batch))
        .send()
        .unwrap();
    assert!(
        response.status().is_success(),
        "Prometheus refused the samples: {}",
        response.text().unwrap()
    );
}
