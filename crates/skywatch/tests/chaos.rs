//! The chaos and fault suite: the real `skywatch up` under faults, checked for what it must
//! never do (lose an acknowledged write, refuse to start over damaged files, panic, let one
//! bad peer hold up the others).
//!
//! - `sigkill_under_load_loses_nothing_acknowledged`: scrapes, OTLP span pushes and Loki
//!   pushes run while the server is killed with SIGKILL at seeded random moments; after
//!   each restart on the same data directory every acknowledged span and line and every
//!   sample a query returned before the kill is still there. Prints the replay times.
//! - `damaged_files_are_quarantined_and_the_rest_is_kept`: bit flips and torn tails in the
//!   three write-ahead logs, cut and damaged block files (chunks, index, meta.json, span
//!   data, log segments): the server starts, names the file and byte, moves the damage
//!   into `quarantine/`, and keeps every record before the damage and every other file.
//! - `a_full_disk_fails_writes_loudly_and_loses_nothing`: the data directory on a small
//!   tmpfs the test mounts: pushes fail naming the device while it is full, the server
//!   keeps serving, and once space returns nothing acknowledged is lost across a SIGKILL.
//! - `wall_clock_jumps_lose_nothing_and_rules_keep_evaluating`: libfaketime moves the
//!   server's wall clock an hour forward and back under scrape.
//! - `slow_and_hung_peers_hold_up_nobody`: a slow and a hung scrape target, a hung
//!   Alertmanager beside a good one, and a webhook receiver whose first delivery times out.
//!
//! Randomness is seeded (`SKYWATCH_CHAOS_SEED`, else the clock), and the seed printed.
//! `SKYWATCH_CHAOS_KILLS` sets the number of kills (3 by default; `scripts/chaos --full`
//! runs 50), `SKYWATCH_CHAOS_SECONDS` the load's longest stretch between kills. Figures go
//! to standard output as `chaos: ...` lines, which `scripts/chaos` prints.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test, printing its figures"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{Started, get_json, start_skywatch_env, start_skywatch_started, within};
use serde_json::{Value, json};

// ----------------------------------------------------------------------------------------
// Settings, randomness, peers.

/// The seed of this run: `SKYWATCH_CHAOS_SEED`, else the clock; printed so a failing run
/// can be repeated.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("SKYWATCH_CHAOS_SEED")
        .ok()
        .map(|s| s.parse().expect("SKYWATCH_CHAOS_SEED is a number"))
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("chaos: {test}: seed {seed} (SKYWATCH_CHAOS_SEED={seed} repeats it)");
    seed
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("{name}={s:?} is not a number"))
    })
}

/// SplitMix64: small, seeded, good enough to pick moments and bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// What a [`Peer`] does with a request.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Answers at once with this status and the peer's body.
    Answer(u16),
    /// Answers after this long.
    After(Duration),
    /// Never answers (holds the connection for a minute).
    Hang,
}

/// A request a peer received.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    body: String,
    at: Instant,
}

/// A small HTTP/1.1 server on a free loopback port, a thread per connection: a scrape
/// target, an Alertmanager, a webhook receiver. `act` decides each answer from the number
/// of requests before it; `body` writes the answer's body.
struct Peer {
    addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Peer {
    fn start(
        act: impl Fn(usize) -> Act + Send + Sync + 'static,
        body: impl Fn(usize) -> String + Send + Sync + 'static,
    ) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let act = Arc::new(act);
        let body = Arc::new(body);
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (act, body, seen) = (act.clone(), body.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    let mut path = String::new();
                    let mut length = 0usize;
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        if path.is_empty() {
                            path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    let mut buf = vec![0; length];
                    if reader.read_exact(&mut buf).is_err() {
                        return;
                    }
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(Request {
                            path,
                            body: String::from_utf8_lossy(&buf).into_owned(),
                            at: Instant::now(),
                        });
                        seen.len() - 1
                    };
                    let status = match act(n) {
                        Act::Answer(status) => status,
                        Act::After(d) => {
                            std::thread::sleep(d);
                            200
                        }
                        Act::Hang => {
                            std::thread::sleep(Duration::from_secs(60));
                            return;
                        }
                    };
                    let text = body(n);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                });
            }
        });
        Self { addr, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// The value a counter target serves at its `n`th scrape: distinct, and with a mantissa
/// whose bytes are unlikely to occur by chance in a write-ahead log.
fn counter_value(n: usize) -> f64 {
    n as f64 + 0.123_456_789
}

/// A scrape target serving `chaos_counter_total`, one step higher at each scrape.
fn counter_target(act: impl Fn(usize) -> Act + Send + Sync + 'static) -> Peer {
    Peer::start(act, |n| {
        format!(
            "# TYPE chaos_counter counter\nchaos_counter_total {}\n",
            counter_value(n)
        )
    })
}

/// `skywatch up`'s configuration: these targets scraped every `interval` as job `chaos`
/// (each with its own `instance`), and `rest` appended.
fn config(dir: &Path, interval: &str, timeout: &str, targets: &[&str], rest: &str) -> PathBuf {
    let path = dir.join("skywatch.yml");
    std::fs::write(
        &path,
        format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {timeout}\n  evaluation_interval: 200ms\nscrape_configs:\n  - job_name: chaos\n    static_configs:\n      - targets: {targets:?}\n{rest}"
        ),
    )
    .unwrap();
    path
}

fn start(data: &Path, config: &Path, more: &[&str]) -> Started {
    let mut args: Vec<&OsStr> = vec![OsStr::new("--config"), config.as_os_str()];
    args.extend(more.iter().map(OsStr::new));
    start_skywatch_started(data, &args)
}

/// Kills the server with SIGKILL and reaps it.
fn kill9(server: &mut Started) {
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn enc(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

// ----------------------------------------------------------------------------------------
// Writers and readers of the three signals.

/// A 32-hex-digit trace ID for span `k` of round `round`.
fn trace_hex(round: u64, k: u64) -> String {
    format!("{:016x}{:016x}", 0xC4A0_5000_0000_0000 | round, k + 1)
}

/// A span's name as it is pushed; unique, and found as is in the span WAL.
fn span_name(round: u64, k: u64) -> String {
    format!("chaos-op-{round}-{k}-end")
}

/// A log line as it is pushed; unique, and found as is in the log WAL.
fn log_line(round: u64, k: u64) -> String {
    format!("chaos-line-{round}-{k}-end")
}

fn post_span(
    client: &reqwest::blocking::Client,
    addr: &str,
    round: u64,
    k: u64,
) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chaos"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace_hex(round, k),
            "spanId": format!("{:016x}", k + 1),
            "name": span_name(round, k),
            "kind": 2,
            "startTimeUnixNano": (now - 1_000_000).to_string(),
            "endTimeUnixNano": now.to_string(),
        }]}],
    }]});
    let r = client
        .post(format!("http://{addr}/v1/traces"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", r.text().unwrap_or_default()))
    }
}

fn post_line(
    client: &reqwest::blocking::Client,
    addr: &str,
    round: u64,
    k: u64,
) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let body = json!({"streams": [{
        "stream": {"job": "chaos", "round": round.to_string()},
        "values": [[now.to_string(), log_line(round, k)]],
    }]});
    let r = client
        .post(format!("http://{addr}/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", r.text().unwrap_or_default()))
    }
}

/// Span and log pushers running against `addr` until stopped; each keeps the numbers of
/// the pushes the server acknowledged (2xx) and the last refusal.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(Vec<u64>, Option<String>)>>,
}

impl Load {
    fn start(addr: &str, round: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = [post_span, post_line]
            .into_iter()
            .map(|post| {
                let (addr, stop) = (addr.to_owned(), stop.clone());
                std::thread::spawn(move || {
                    let client = client();
                    let mut acked = Vec::new();
                    let mut refused = None;
                    let mut k = 0;
                    while !stop.load(Ordering::Relaxed) {
                        match post(&client, &addr, round, k) {
                            Ok(()) => acked.push(k),
                            Err(e) => refused = Some(e),
                        }
                        k += 1;
                        // Bounded volume: a few hundred pushes a second at most.
                        std::thread::sleep(Duration::from_millis(3));
                    }
                    (acked, refused)
                })
            })
            .collect();
        Self { stop, threads }
    }

    /// Stops the pushers; the acknowledged span and line numbers, and the last refusals.
    fn stop(self) -> ((Vec<u64>, Vec<u64>), Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut out: Vec<(Vec<u64>, Option<String>)> = self
            .threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let (lines, line_err) = out.pop().unwrap();
        let (spans, span_err) = out.pop().unwrap();
        (
            (spans, lines),
            span_err.into_iter().chain(line_err).collect(),
        )
    }
}

/// Every span of round `round` numbered in `ks` that the server does not return by ID.
fn missing_spans(
    client: &reqwest::blocking::Client,
    addr: &str,
    round: u64,
    ks: &[u64],
) -> Vec<u64> {
    ks.iter()
        .copied()
        .filter(|&k| {
            let r = client
                .get(format!(
                    "http://{addr}/tempo/api/traces/{}",
                    trace_hex(round, k)
                ))
                .send()
                .unwrap();
            !(r.status().is_success() && r.text().unwrap().contains(&span_name(round, k)))
        })
        .collect()
}

/// The lines of round `round` the server returns, by number.
fn lines_of(client: &reqwest::blocking::Client, addr: &str, round: u64) -> BTreeSet<u64> {
    let q = enc(&format!("{{job=\"chaos\",round=\"{round}\"}}"));
    let end = (now_s() as u64 + 3600) * 1_000_000_000;
    let body = get_json(
        client,
        addr,
        &format!(
            "/loki/api/v1/query_range?query={q}&start=0&end={end}&limit=5000&direction=forward"
        ),
    );
    assert_eq!(body["status"], "success", "{body}");
    let prefix = format!("chaos-line-{round}-");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .filter_map(|v| {
            v[1].as_str()?
                .strip_prefix(&prefix)?
                .strip_suffix("-end")?
                .parse()
                .ok()
        })
        .collect()
}

/// The samples of `chaos_counter_total` of `instance` over the last `window`, at `at`, as
/// (timestamp, value) strings.
fn samples(
    client: &reqwest::blocking::Client,
    addr: &str,
    instance: &str,
    window: &str,
    at: f64,
) -> BTreeSet<(String, String)> {
    let q = enc(&format!(
        "chaos_counter_total{{instance=\"{instance}\"}}[{window}]"
    ));
    let body = get_json(client, addr, &format!("/api/v1/query?query={q}&time={at}"));
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|v| (v[0].to_string(), v[1].as_str().unwrap().to_owned()))
        .collect()
}

// ----------------------------------------------------------------------------------------
// 1. SIGKILL under load.

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let mut rng = Rng(seed("sigkill"));
    let kills = env_number("SKYWATCH_CHAOS_KILLS", 3);
    let longest = env_number("SKYWATCH_CHAOS_SECONDS", 2).max(1) * 1000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let target = counter_target(|_| Act::Answer(200));
    let config = config(dir.path(), "100ms", "100ms", &[&target.addr], "");
    // Small span heads: cuts into blocks happen under the load, and kills land in them.
    let args = ["--traces-head-size", "64KB"];
    let client = client();
    let mut server = start(&data, &config, &args);
    // Round r's acknowledged spans and lines, and the samples read before its kill.
    let mut acked: Vec<(Vec<u64>, Vec<u64>)> = Vec::new();
    let mut read: BTreeSet<(String, String)> = BTreeSet::new();
    let mut replays = Vec::new();
    for round in 0..kills {
        let load = Load::start(&server.addr, round);
        let moment = Duration::from_millis(rng.range(200, longest));
        std::thread::sleep(moment);
        // What a query returns now was written; the kill follows at once.
        let at = now_s();
        read.extend(samples(&client, &server.addr, &target.addr, "1d", at));
        kill9(&mut server);
        let ((spans, lines), _) = load.stop();
        acked.push((spans, lines));
        server = start(&data, &config, &args);
        let replay = get_json(&client, &server.addr, "/api/v1/status/walreplay");
        replays.push(server.took);
        println!(
            "chaos: kill {} after {moment:?}: {} spans and {} lines acknowledged; restarted in {:?} (WAL segments {}..{})",
            round + 1,
            acked[round as usize].0.len(),
            acked[round as usize].1.len(),
            server.took,
            replay["data"]["min"],
            replay["data"]["max"],
        );
        for line in &server.early {
            assert!(
                !line.contains("corrupt") && !line.contains("quarantin"),
                "a SIGKILL must leave nothing damaged: {line}"
            );
        }
        // This round whole; earlier rounds' lines (one query each) too.
        let (spans, _) = &acked[round as usize];
        let lost = missing_spans(&client, &server.addr, round, spans);
        assert!(
            lost.is_empty(),
            "kill {}: acknowledged spans lost: {lost:?}",
            round + 1
        );
        for (r, (_, lines)) in acked.iter().enumerate() {
            let have = lines_of(&client, &server.addr, r as u64);
            let lost: Vec<u64> = lines
                .iter()
                .filter(|k| !have.contains(k))
                .copied()
                .collect();
            assert!(
                lost.is_empty(),
                "after kill {}: round {r}'s acknowledged lines lost: {lost:?}",
                round + 1
            );
        }
        let have = samples(&client, &server.addr, &target.addr, "1d", at);
        let lost: Vec<_> = read.difference(&have).collect();
        assert!(
            lost.is_empty(),
            "after kill {}: samples read before it are lost: {lost:?}",
            round + 1
        );
    }
    // Every round's spans, once more, after the last restart.
    for (r, (spans, _)) in acked.iter().enumerate() {
        let lost = missing_spans(&client, &server.addr, r as u64, spans);
        assert!(
            lost.is_empty(),
            "round {r}: acknowledged spans lost: {lost:?}"
        );
    }
    replays.sort();
    println!(
        "chaos: sigkill: {kills} kills survived; checked {} spans, {} lines, {} samples; lost 0; restart (replay) median {:?}, max {:?}",
        acked.iter().map(|a| a.0.len()).sum::<usize>(),
        acked.iter().map(|a| a.1.len()).sum::<usize>(),
        read.len(),
        replays[replays.len() / 2],
        replays.last().unwrap()
    );
}

// ----------------------------------------------------------------------------------------
// 2. Damaged files.

/// Copies the directory `from` to `to` (`cp -a`).
fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The files in `dir` and below whose path ends with `suffix`, sorted.
fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .map(Result::unwrap)
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The newest non-empty WAL segment in `wal`.
fn last_segment(wal: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().len() == 8 && std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    segs.pop()
        .unwrap_or_else(|| panic!("no WAL content in {}", wal.display()))
}

/// Of `markers` (written to the WAL in this order, each in its own record), those whose
/// record lies wholly before `offset` in `segment`: marker i's record ends before marker
/// i+1's record starts, which is before where marker i+1's bytes are. Markers in earlier
/// segments are all before; a marker not found is in a later segment.
fn before_damage(
    wal: &Path,
    segment: &Path,
    offset: usize,
    markers: &[(u64, Vec<u8>)],
) -> Vec<u64> {
    let bytes = std::fs::read(segment).unwrap();
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let earlier: Vec<Vec<u8>> = std::fs::read_dir(wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().len() == 8 && p.as_path() < segment)
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let mut out = Vec::new();
    for (i, (k, m)) in markers.iter().enumerate() {
        if earlier.iter().any(|b| find(b, m).is_some()) {
            out.push(*k);
            continue;
        }
        let next = markers.get(i + 1).and_then(|(_, n)| find(&bytes, n));
        if find(&bytes, m).is_some() && next.is_some_and(|p| p < offset) {
            out.push(*k);
        }
    }
    out
}

/// Writes `bytes` back into `path` after `f` changed them.
fn damage(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// The imported history: one sample a minute of `chaos_history` over five hours long ago,
/// three 2-hour blocks.
const HISTORY_START: i64 = 1_700_000_000 - 1_700_000_000 % 7200;
const HISTORY_SAMPLES: i64 = 300;

fn import_history(bin: &str, data: &Path, dir: &Path) {
    let mut om = String::from("# TYPE chaos_history gauge\n");
    for i in 0..HISTORY_SAMPLES {
        om.push_str(&format!("chaos_history {i} {}\n", HISTORY_START + 60 * i));
    }
    om.push_str("# EOF\n");
    let file = dir.join("history.om");
    std::fs::write(&file, om).unwrap();
    let out = Command::new(bin)
        .args(["tsdb", "import", "openmetrics", "--quiet"])
        .arg(&file)
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
}

/// The imported samples the server has, by value.
fn history(client: &reqwest::blocking::Client, addr: &str) -> BTreeSet<i64> {
    let q = enc("chaos_history[6h]");
    let at = HISTORY_START + 60 * HISTORY_SAMPLES;
    let body = get_json(client, addr, &format!("/api/v1/query?query={q}&time={at}"));
    body["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|v| v[1].as_str().unwrap().parse().unwrap())
        .collect()
}

/// What the fixture holds: spans and lines of rounds 0 and 1 in blocks and segment files
/// (two clean stops), of round 2 in the WALs (a SIGKILL), the scraped values read before
/// the kill, and the imported history in TSDB blocks.
struct Fixture {
    data: PathBuf,
    config: PathBuf,
    spans: Vec<Vec<u64>>,
    lines: Vec<Vec<u64>>,
    scraped: BTreeSet<(String, String)>,
    scraped_at: f64,
    target: Peer,
}

fn fixture(dir: &Path) -> Fixture {
    let bin = env!("CARGO_BIN_EXE_skywatch");
    let data = dir.join("fixture");
    import_history(bin, &data, dir);
    let target = counter_target(|_| Act::Answer(200));
    let config = config(dir, "100ms", "100ms", &[&target.addr], "");
    let client = client();
    let (mut spans, mut lines) = (Vec::new(), Vec::new());
    let mut scraped = BTreeSet::new();
    let mut scraped_at = 0.0;
    for round in 0..3u64 {
        let mut server = start(&data, &config, &[]);
        let mut acked = (Vec::new(), Vec::new());
        for k in 0..40 {
            if post_span(&client, &server.addr, round, k).is_ok() {
                acked.0.push(k);
            }
            if post_line(&client, &server.addr, round, k).is_ok() {
                acked.1.push(k);
            }
        }
        spans.push(acked.0);
        lines.push(acked.1);
        if round < 2 {
            // A clean stop: the span head becomes a block, the log heads a segment file.
            drop(server);
        } else {
            within(Duration::from_secs(10), "20 scrapes", || {
                samples(&client, &server.addr, &target.addr, "1d", now_s()).len() >= 20
            });
            scraped_at = now_s();
            scraped = samples(&client, &server.addr, &target.addr, "1d", scraped_at);
            kill9(&mut server);
        }
    }
    for (what, n) in [("/traces", 2), ("/logs/chunks", 2)] {
        let found = std::fs::read_dir(data.join(&what[1..])).unwrap().count();
        assert!(
            found >= n,
            "{what}: {found} entries, want {n} blocks or segments"
        );
    }
    Fixture {
        data,
        config,
        spans,
        lines,
        scraped,
        scraped_at,
        target,
    }
}

/// One kind of damage: its name, the file it damages (from the data directory) and how.
struct Case {
    name: &'static str,
    /// Returns the damaged file and the byte offset of the damage.
    apply: fn(&Path, &mut Rng) -> (PathBuf, usize),
    /// What the server's log says: the WAL's cut or the quarantine.
    says: &'static str,
}

fn flip_wal(wal: &Path, rng: &mut Rng) -> (PathBuf, usize) {
    let seg = last_segment(wal);
    let len = std::fs::metadata(&seg).unwrap().len();
    // In the second half, so that there is something before the damage to keep.
    let at = rng.range(len / 2, len) as usize;
    let bit = rng.range(0, 8);
    damage(&seg, |b| b[at] ^= 1 << bit);
    (seg, at)
}

fn tear_wal(wal: &Path, rng: &mut Rng) -> (PathBuf, usize) {
    let seg = last_segment(wal);
    let len = std::fs::metadata(&seg).unwrap().len();
    let at = rng.range(len * 3 / 4, len) as usize;
    damage(&seg, |b| b.truncate(at));
    (seg, at)
}

/// A block directory (one with `meta.json`) of `dir`, picked by `rng`.
fn some_block(dir: &Path, rng: &mut Rng) -> PathBuf {
    let blocks: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    assert!(blocks.len() >= 2, "{}: {blocks:?}", dir.display());
    let mut blocks = blocks;
    blocks.sort();
    blocks[rng.range(0, blocks.len() as u64) as usize].clone()
}

fn cut_file(path: PathBuf, rng: &mut Rng) -> (PathBuf, usize) {
    let len = std::fs::metadata(&path).unwrap().len();
    let at = rng.range(len / 2, len) as usize;
    damage(&path, |b| b.truncate(at));
    (path, at)
}

fn flip_file(path: PathBuf, from: u64, rng: &mut Rng) -> (PathBuf, usize) {
    let len = std::fs::metadata(&path).unwrap().len();
    let at = rng.range(from.min(len - 1), len) as usize;
    damage(&path, |b| b[at] ^= 0x20);
    (path, at)
}

const CASES: &[Case] = &[
    Case {
        name: "series WAL bit flip",
        apply: |d, r| flip_wal(&d.join("wal"), r),
        says: "corrupt write-ahead log",
    },
    Case {
        name: "series WAL torn tail",
        apply: |d, r| tear_wal(&d.join("wal"), r),
        says: "corrupt write-ahead log",
    },
    Case {
        name: "span WAL bit flip",
        apply: |d, r| flip_wal(&d.join("traces/wal"), r),
        says: "corrupt write-ahead log",
    },
    Case {
        name: "span WAL torn tail",
        apply: |d, r| tear_wal(&d.join("traces/wal"), r),
        says: "corrupt write-ahead log",
    },
    Case {
        name: "log WAL bit flip",
        apply: |d, r| flip_wal(&d.join("logs/wal"), r),
        says: "corrupt write-ahead log",
    },
    Case {
        name: "log WAL torn tail",
        apply: |d, r| tear_wal(&d.join("logs/wal"), r),
        says: "corrupt write-ahead log",
    },
    Case {
        name: "series block chunks cut",
        apply: |d, r| cut_file(some_block(d, r).join("chunks"), r),
        says: "quarantine",
    },
    Case {
        name: "series block index bit flip",
        apply: |d, r| flip_file(some_block(d, r).join("index"), 0, r),
        says: "quarantine",
    },
    Case {
        name: "series block meta.json cut",
        apply: |d, r| cut_file(some_block(d, r).join("meta.json"), r),
        says: "quarantine",
    },
    Case {
        name: "span block index bit flip",
        apply: |d, r| flip_file(some_block(&d.join("traces"), r).join("index"), 8, r),
        says: "quarantine",
    },
    Case {
        name: "span block data cut",
        apply: |d, r| cut_file(some_block(&d.join("traces"), r).join("data"), r),
        says: "quarantine",
    },
    Case {
        name: "span block meta.json cut",
        apply: |d, r| cut_file(some_block(&d.join("traces"), r).join("meta.json"), r),
        says: "quarantine",
    },
    Case {
        name: "log segment cut",
        apply: |d, r| {
            let segs = files_under(&d.join("logs/chunks"), ".seg");
            cut_file(segs[r.range(0, segs.len() as u64) as usize].clone(), r)
        },
        says: "quarantine",
    },
];

#[test]
fn damaged_files_are_quarantined_and_the_rest_is_kept() {
    let mut rng = Rng(seed("damage"));
    let dir = tempfile::tempdir().unwrap();
    let fx = fixture(dir.path());
    let client = client();
    let all_history: BTreeSet<i64> = (0..HISTORY_SAMPLES).collect();
    for (n, case) in CASES.iter().enumerate() {
        let data = dir.path().join(format!("case-{n}"));
        copy_dir(&fx.data, &data);
        let (file, at) = (case.apply)(&data, &mut rng);
        let server = start(&data, &fx.config, &[]);
        let said: Vec<&String> = server
            .early
            .iter()
            .filter(|l| l.contains(case.says) && l.contains(&*file.to_string_lossy()))
            .collect();
        assert!(
            !said.is_empty(),
            "{}: nothing logged names {} and {:?}:\n{}",
            case.name,
            file.display(),
            case.says,
            server.early.join("\n")
        );
        assert!(
            said.iter().any(|l| l.contains("at byte")),
            "{}: the offset is not named: {said:?}",
            case.name
        );
        let quarantined = files_under(&data, "");
        assert!(
            quarantined
                .iter()
                .any(|p| p.to_string_lossy().contains("/quarantine/")),
            "{}: nothing was moved into quarantine/",
            case.name
        );
        // What is kept: everything the damaged store held before the damage, everything
        // the other stores held. Spans and lines: rounds 0 and 1 are in blocks and
        // segments, round 2 in the WALs.
        let wal_case = case.says == "corrupt write-ahead log";
        let span_wal = data.join("traces/wal");
        let log_wal = data.join("logs/wal");
        let damaged_block = !wal_case && file.starts_with(data.join("traces"));
        let damaged_segment = !wal_case && file.starts_with(data.join("logs"));
        for round in 0..3u64 {
            let want_spans: Vec<u64> = if wal_case && file.starts_with(&span_wal) && round == 2 {
                let markers: Vec<(u64, Vec<u8>)> = fx.spans[2]
                    .iter()
                    .map(|&k| (k, span_name(2, k).into_bytes()))
                    .collect();
                before_damage(&span_wal, &file, at, &markers)
            } else if damaged_block && round < 2 {
                // One of the two blocks is gone whole; the other must be complete.
                let missing =
                    missing_spans(&client, &server.addr, round, &fx.spans[round as usize]);
                assert!(
                    missing.is_empty() || missing.len() == fx.spans[round as usize].len(),
                    "{}: a block is kept whole or quarantined whole: round {round} lost {missing:?}",
                    case.name
                );
                continue;
            } else {
                fx.spans[round as usize].clone()
            };
            let lost = missing_spans(&client, &server.addr, round, &want_spans);
            assert!(
                lost.is_empty(),
                "{}: round {round}: spans lost: {lost:?}",
                case.name
            );
            let have = lines_of(&client, &server.addr, round);
            let want_lines: Vec<u64> = if wal_case && file.starts_with(&log_wal) && round == 2 {
                let markers: Vec<(u64, Vec<u8>)> = fx.lines[2]
                    .iter()
                    .map(|&k| (k, log_line(2, k).into_bytes()))
                    .collect();
                before_damage(&log_wal, &file, at, &markers)
            } else if damaged_segment && round < 2 {
                let kept = fx.lines[round as usize]
                    .iter()
                    .filter(|k| have.contains(k))
                    .count();
                assert!(
                    kept == 0 || kept == fx.lines[round as usize].len(),
                    "{}: a segment is kept whole or quarantined whole: round {round} kept {kept}",
                    case.name
                );
                continue;
            } else {
                fx.lines[round as usize].clone()
            };
            let lost: Vec<u64> = want_lines
                .iter()
                .filter(|k| !have.contains(k))
                .copied()
                .collect();
            assert!(
                lost.is_empty(),
                "{}: round {round}: lines lost: {lost:?}",
                case.name
            );
        }
        // Series: the history in blocks (a quarantined block loses its own two hours
        // only), the scraped samples in the WAL (all, unless the WAL is the damaged file:
        // then those whose record precedes the damage).
        let kept = history(&client, &server.addr);
        if !wal_case && !damaged_block && !damaged_segment {
            // Exactly one block's two hours (120 one-minute samples, 60 in the last) gone.
            let lost: BTreeSet<i64> = all_history.difference(&kept).copied().collect();
            let block = lost.first().map_or(0, |v| v / 120);
            let its: BTreeSet<i64> =
                (block * 120..(block * 120 + 120).min(HISTORY_SAMPLES)).collect();
            assert_eq!(
                lost, its,
                "{}: the damaged block is quarantined whole, every other kept",
                case.name
            );
        } else {
            assert_eq!(
                kept, all_history,
                "{}: the series blocks are kept",
                case.name
            );
        }
        let have = samples(&client, &server.addr, &fx.target.addr, "1d", fx.scraped_at);
        let want: BTreeSet<(String, String)> = if wal_case && file.starts_with(data.join("wal")) {
            let by_value: BTreeMap<u64, (String, String)> = fx
                .scraped
                .iter()
                .map(|(t, v)| {
                    let n = v.parse::<f64>().unwrap().floor() as u64;
                    (n, (t.clone(), v.clone()))
                })
                .collect();
            let markers: Vec<(u64, Vec<u8>)> = by_value
                .keys()
                .map(|&n| (n, counter_value(n as usize).to_le_bytes().to_vec()))
                .collect();
            before_damage(&data.join("wal"), &file, at, &markers)
                .into_iter()
                .map(|n| by_value[&n].clone())
                .collect()
        } else {
            fx.scraped.clone()
        };
        let lost: Vec<_> = want.difference(&have).collect();
        assert!(
            lost.is_empty(),
            "{}: scraped samples lost: {lost:?}",
            case.name
        );
        println!(
            "chaos: damage: {}: {} at byte {at}: started in {:?}, damage named and moved aside, {} of {} scraped samples before it kept",
            case.name,
            file.strip_prefix(&data).unwrap().display(),
            server.took,
            want.len(),
            fx.scraped.len()
        );
    }
}

// ----------------------------------------------------------------------------------------
// 3. A full disk.

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the disk-full test mounts a small tmpfs, which needs root (CI runs as root): mount said {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    while f.write_all(&[0; 4096]).is_ok() {}
    let _ = f.write_all(&[0; 1]);
}

#[test]
fn a_full_disk_fails_writes_loudly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    let _fs = Tmpfs::mount(&mount, "16m");
    let data = mount.join("data");
    let target = counter_target(|_| Act::Answer(200));
    let config = config(dir.path(), "100ms", "100ms", &[&target.addr], "");
    // Span heads cut into blocks every 32 KB: block writes meet the full disk too.
    let args = ["--traces-head-size", "32KB"];
    let client = client();
    let mut server = start(&data, &config, &args);
    let mut acked: (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
    let mut k = 0u64;
    let mut push = |addr: &str, acked: &mut (Vec<u64>, Vec<u64>)| -> Vec<String> {
        let mut refused = Vec::new();
        for _ in 0..50 {
            match post_span(&client, addr, 0, k) {
                Ok(()) => acked.0.push(k),
                Err(e) => refused.push(e),
            }
            match post_line(&client, addr, 0, k) {
                Ok(()) => acked.1.push(k),
                Err(e) => refused.push(e),
            }
            k += 1;
        }
        refused
    };
    assert_eq!(push(&server.addr, &mut acked), Vec::<String>::new());
    let filler = mount.join("filler");
    fill(&filler);
    let refused = push(&server.addr, &mut acked);
    assert!(
        !refused.is_empty(),
        "writes on a full disk were all acknowledged"
    );
    for e in &refused {
        assert!(
            e.starts_with('5') && e.contains("No space left on device"),
            "a refusal names the cause: {e}"
        );
    }
    println!(
        "chaos: disk full: {} of 100 pushes refused, for example {:?}",
        refused.len(),
        refused[0]
    );
    // The server still serves: queries answer, and it has not died.
    let body = get_json(&client, &server.addr, "/api/v1/query?query=up");
    assert_eq!(body["status"], "success", "{body}");
    assert!(
        server.child.0.try_wait().unwrap().is_none(),
        "the server died of a full disk"
    );
    // Space returns: writes go through again.
    std::fs::remove_file(&filler).unwrap();
    within(Duration::from_secs(10), "pushes accepted again", || {
        push(&server.addr, &mut acked).is_empty()
    });
    assert_eq!(push(&server.addr, &mut acked), Vec::<String>::new());
    within(Duration::from_secs(10), "scrapes again", || {
        samples(&client, &server.addr, &target.addr, "1m", now_s()).len() > 5
    });
    let at = now_s();
    let read = samples(&client, &server.addr, &target.addr, "1d", at);
    kill9(&mut server);
    let server = start(&data, &config, &args);
    for line in &server.early {
        assert!(
            !line.contains("corrupt"),
            "the full disk left damage behind: {line}"
        );
    }
    let lost = missing_spans(&client, &server.addr, 0, &acked.0);
    assert!(lost.is_empty(), "acknowledged spans lost: {lost:?}");
    let have = lines_of(&client, &server.addr, 0);
    let lost: Vec<u64> = acked
        .1
        .iter()
        .filter(|k| !have.contains(k))
        .copied()
        .collect();
    assert!(lost.is_empty(), "acknowledged lines lost: {lost:?}");
    let have = samples(&client, &server.addr, &target.addr, "1d", at);
    let lost: Vec<_> = read.difference(&have).collect();
    assert!(lost.is_empty(), "samples lost: {lost:?}");
    println!(
        "chaos: disk full: recovered; {} spans, {} lines and {} samples checked after a SIGKILL, lost 0",
        acked.0.len(),
        acked.1.len(),
        read.len()
    );
}

// ----------------------------------------------------------------------------------------
// 4. Clock jumps.

/// libfaketime's preload library; fails naming the install script if it is missing.
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .unwrap()
        .map(|e| e.unwrap().path().join("faketime/libfaketime.so.1"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("libfaketime is not installed: install the Debian package `libfaketime` (scripts/install-test-deps does it)")
    })
}

#[test]
fn wall_clock_jumps_lose_nothing_and_rules_keep_evaluating() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let target = counter_target(|_| Act::Answer(200));
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: chaos\n    interval: 200ms\n    rules:\n      - record: chaos:evaluations\n        expr: vector(1)\n",
    )
    .unwrap();
    let config = config(
        dir.path(),
        "100ms",
        "100ms",
        &[&target.addr],
        "rule_files: [rules.yml]\n",
    );
    // libfaketime reads the offset from this file at every call (no cache): "+0" now.
    let clock = dir.path().join("faketime");
    std::fs::write(&clock, "+0\n").unwrap();
    let faketime = libfaketime();
    let Started {
        child: mut server,
        addr,
        log: lines,
        ..
    } = start_skywatch_env(
        &data,
        &[OsStr::new("--config"), config.as_os_str()],
        &[
            ("LD_PRELOAD", faketime.as_os_str()),
            ("FAKETIME_TIMESTAMP_FILE", clock.as_os_str()),
            ("FAKETIME_NO_CACHE", OsStr::new("1")),
            // Only the wall clock jumps; timers and timeouts keep the monotonic one.
            ("FAKETIME_DONT_FAKE_MONOTONIC", OsStr::new("1")),
        ],
    );
    // Its later log, kept for a look for panics.
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines {
            kept.lock().unwrap().push(line);
        }
    });
    let client = client();
    let evaluated = || -> String {
        get_json(&client, &addr, "/api/v1/rules")["data"]["groups"][0]["lastEvaluation"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    // Everything stored, read at a fixed time far enough ahead to see every jump.
    let horizon = now_s() + 4.0 * 3600.0;
    let stored = |metric: &str| -> BTreeSet<(String, String)> {
        let q = enc(&format!("{metric}[12h]"));
        get_json(
            &client,
            &addr,
            &format!("/api/v1/query?query={q}&time={horizon}"),
        )["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().clone())
            .map(|v| (v[0].to_string(), v[1].as_str().unwrap().to_owned()))
            .collect()
    };
    within(Duration::from_secs(10), "scrapes and evaluations", || {
        stored("chaos_counter_total").len() > 5 && stored("chaos:evaluations").len() > 5
    });
    let mut figures = Vec::new();
    let mut kept = stored("chaos_counter_total");
    for (jump, name) in [
        ("+3600", "an hour forward"),
        ("+0", "back an hour"),
        ("-3600", "another hour back"),
    ] {
        std::fs::write(&clock, format!("{jump}\n")).unwrap();
        let (scrapes, last) = (target.requests().len(), evaluated());
        // Scrapes and rule evaluations go on; after a jump back the samples they make are
        // older than the newest stored and refused as out of order (as Prometheus refuses
        // them without an out-of-order window) until the clock passes it again.
        within(
            Duration::from_secs(10),
            &format!("scrapes and evaluations go on after {name}"),
            || target.requests().len() > scrapes + 10 && evaluated() != last,
        );
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "the server died after {name}"
        );
        let now = stored("chaos_counter_total");
        let lost: Vec<_> = kept.difference(&now).collect();
        assert!(lost.is_empty(), "after {name}: samples lost: {lost:?}");
        figures.push(format!(
            "{name}: {} scrapes since, {} samples stored",
            target.requests().len() - scrapes,
            now.len()
        ));
        kept = now;
    }
    let forward = stored("chaos:evaluations");
    let panicked: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("panic"))
        .cloned()
        .collect();
    assert!(panicked.is_empty(), "{panicked:?}");
    assert!(forward.len() > 5, "the rule recorded: {forward:?}");
    println!("chaos: clock: {}", figures.join("; "));
}

// ----------------------------------------------------------------------------------------
// 5. Slow and hung peers.

#[test]
fn slow_and_hung_peers_hold_up_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fast = counter_target(|_| Act::Answer(200));
    let slow = counter_target(|_| Act::After(Duration::from_secs(3)));
    let hung = counter_target(|_| Act::Hang);
    // Alertmanagers: a hung one listed first, then a good one.
    let hung_am = Peer::start(|_| Act::Hang, |_| String::new());
    let good_am = Peer::start(|_| Act::Answer(200), |_| String::new());
    // A webhook receiver whose first delivery hangs past the 10 s a delivery may take.
    let hook = Peer::start(
        |n| if n == 0 { Act::Hang } else { Act::Answer(200) },
        |_| String::new(),
    );
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: chaos\n    interval: 200ms\n    rules:\n      - alert: ChaosAlways\n        expr: vector(1)\n",
    )
    .unwrap();
    let config = config(
        dir.path(),
        "500ms",
        "300ms",
        &[&fast.addr, &slow.addr, &hung.addr],
        &format!(
            "rule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}', '{}']\n",
            hung_am.addr, good_am.addr
        ),
    );
    let routing = dir.path().join("alertmanager.yml");
    std::fs::write(
        &routing,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{}/hook\n",
            hook.addr
        ),
    )
    .unwrap();
    let server = start(
        &data,
        &config,
        &["--alertmanager-config", routing.to_str().unwrap()],
    );
    let client = client();
    let addr = server.addr.clone();
    // Scrapes: the slow and hung targets are down with a timeout named, the fast one up
    // and scraped at its interval.
    let targets = || -> BTreeMap<String, (String, String)> {
        get_json(&client, &addr, "/api/v1/targets")["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["labels"]["instance"].as_str().unwrap().to_owned(),
                    (
                        t["health"].as_str().unwrap().to_owned(),
                        t["lastError"].as_str().unwrap_or("").to_owned(),
                    ),
                )
            })
            .collect()
    };
    within(Duration::from_secs(10), "every target scraped once", || {
        targets().values().all(|(h, _)| h != "unknown")
    });
    let t = targets();
    assert_eq!(t[&fast.addr].0, "up", "{t:?}");
    for peer in [&slow, &hung] {
        let (health, error) = &t[&peer.addr];
        assert_eq!(health, "down", "{t:?}");
        assert!(
            error.contains("deadline") || error.contains("timed out") || error.contains("timeout"),
            "a timed-out scrape says so: {error:?}"
        );
    }
    let began = Instant::now();
    let before = fast.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    let fast_scrapes = fast.requests().len() - before;
    assert!(
        fast_scrapes >= 4,
        "the fast target was scraped {fast_scrapes} times in 3 s, at 500 ms"
    );
    let up = |instance: &str| -> String {
        let q = enc(&format!("up{{instance=\"{instance}\"}}"));
        get_json(&client, &addr, &format!("/api/v1/query?query={q}"))["data"]["result"][0]["value"]
            [1]
        .as_str()
        .unwrap_or("")
        .to_owned()
    };
    assert_eq!(
        (up(&fast.addr), up(&slow.addr), up(&hung.addr)),
        ("1".into(), "0".into(), "0".into())
    );

    // Alertmanagers: the good one gets the alert at the rules' pace although the hung one
    // (first in the list) never answers within its 10 s.
    within(
        Duration::from_secs(10),
        "the good Alertmanager gets alerts",
        || !good_am.requests().is_empty(),
    );
    let first = good_am.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    let posts = good_am.requests().len() - first;
    assert!(
        posts >= 5,
        "the good Alertmanager got {posts} posts in 3 s at a 200 ms evaluation interval: the hung one holds it up"
    );
    assert!(
        good_am.requests()[0].body.contains("ChaosAlways"),
        "{:?}",
        good_am.requests()[0]
    );
    // Rules keep evaluating at their interval while the hung Alertmanager hangs.
    let rules = get_json(&client, &addr, "/api/v1/rules");
    let last = rules["data"]["groups"][0]["lastEvaluation"]
        .as_str()
        .unwrap()
        .to_owned();
    within(
        Duration::from_secs(2),
        "the rule group evaluates again",
        || {
            get_json(&client, &addr, "/api/v1/rules")["data"]["groups"][0]["lastEvaluation"]
                != last.as_str()
        },
    );

    // The webhook: its first delivery times out (10 s), is retried, and goes through once;
    // the notification log holds exactly one entry for it, sent, after two attempts.
    within(
        Duration::from_secs(30),
        "the webhook delivery retried",
        || hook.requests().len() >= 2,
    );
    let log_file = data.join("notifications.jsonl");
    within(Duration::from_secs(10), "the delivery logged", || {
        std::fs::read_to_string(&log_file).is_ok_and(|t| t.contains("\"sent\""))
    });
    // No second delivery follows the success before the repeat interval (an hour).
    std::thread::sleep(Duration::from_secs(2));
    let requests = hook.requests();
    assert_eq!(
        requests.len(),
        2,
        "delivered once after the timeout: {requests:?}"
    );
    assert_eq!(requests[1].path, "/hook");
    assert!(requests[1].body.contains("ChaosAlways"));
    let entries: Vec<Value> = std::fs::read_to_string(&log_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (
            entries[0]["outcome"].as_str(),
            entries[0]["attempts"].as_u64()
        ),
        (Some("sent"), Some(2)),
        "{}",
        entries[0]
    );
    println!(
        "chaos: peers: fast target {fast_scrapes} scrapes in 3 s beside a slow and a hung one; good Alertmanager {posts} posts in 3 s beside a hung one; webhook delivered once after a {:?} timeout (checked in {:?})",
        requests[1].at - requests[0].at,
        began.elapsed()
    );
    drop(server);
}
