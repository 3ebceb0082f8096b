//! `skywatch alert-hook`: a webhook receiver for Alertmanager (or Skywatch's own routing)
//! that runs one command when a notification brings firing alerts that match, such as
//! COINjecture's automatic rollback on a parity mismatch (docs/alert-hook.md).
//!
//! It is safe by design, because it runs something with consequences on a signal from the
//! network:
//!
//! - it listens on loopback unless told otherwise (`--listen`, default `127.0.0.1:9799`);
//! - it needs at least one `--match` (Prometheus matcher syntax; all must hold) and acts only
//!   on the *firing* alerts of a notification that match; resolved notifications and
//!   resolved alerts never run anything;
//! - the command is run directly, never through a shell, so no label value can inject
//!   anything: the alert's labels reach it as environment variables (`ALERT_<NAME>`,
//!   upper-cased, every character that is not a letter or a digit turned to `_`) and the
//!   payload on standard input;
//! - one run at a time per group key, and none within `--cooldown` (default 5m) of the
//!   last run's start for the same group key, so that a flapping alert or Alertmanager's
//!   repeated notifications do not roll back ten times;
//! - a run that outlives `--timeout` (default 60s) is killed;
//! - every run is logged (exit status, duration, the tail of its standard error) and counted
//!   on `/metrics`; `--dry-run` prints what would run and runs nothing.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `skywatch_alert_hook_notifications_total{outcome}` | counter | notifications received: `run`, `dry_run`, `resolved`, `no_match`, `busy`, `cooldown`, `invalid` |
//! | `skywatch_alert_hook_runs_total{result}` | counter | runs of the command by how they ended: `success`, `failure` (non-zero exit), `timeout`, `error` (could not start) |

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::Matcher;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How much of the command's standard error the log keeps.
const STDERR_TAIL: usize = 2048;

/// `skywatch alert-hook [OPTIONS] --match MATCHER... -- COMMAND [ARGS]...`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example: COINjecture's automatic rollback. alertmanager/coinjecture.yml sends P0 parity \
alerts (continue: true) to the webhook receiver auto-rollback, whose url is this hook:

  skywatch alert-hook --listen 127.0.0.1:9799 \\
      --match 'alertname=~\"ParityMismatch|ParityMismatchRateHigh|ParityMatchRateBelowOne\"' \\
      --match 'severity=\"P0\"' --cooldown 10m --timeout 2m \\
      -- kubectl rollout undo deployment/coinjecture-node

In the demo, the rollback is an HTTP call: -- curl -fsS -XPOST http://127.0.0.1:9797/demo/coinjecture/rollback

The command gets the first matching alert's labels as ALERT_ALERTNAME, ALERT_NODE, ... \
(upper-cased, other characters as _), SKYWATCH_GROUP_KEY, SKYWATCH_RECEIVER and \
SKYWATCH_MATCHING_ALERTS (how many firing alerts matched), and the notification's JSON on \
standard input. See docs/alert-hook.md."
)]
pub(crate) struct AlertHookArgs {
    /// Where to listen for webhook notifications (POST, any path).
    #[arg(long, default_value = "127.0.0.1:9799")]
    listen: SocketAddr,
    /// A matcher in Prometheus syntax (`alertname="ParityMismatch"`, `severity=~"P0|P1"`);
    /// repeatable, all must hold for an alert to match.
    #[arg(long = "match", value_name = "MATCHER", required = true)]
    matchers: Vec<String>,
    /// The least time between the starts of two runs for the same group key.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    cooldown: Duration,
    /// How long a run may take before it is killed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Print what would run, and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// The log level filter.
    #[arg(long, default_value = "info")]
    log: String,
    /// The command to run and its arguments, after `--`; run directly, without a shell.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// What the hook does with one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Run the command with this environment.
    Run(Vec<(String, String)>),
    /// Nothing to do, for this reason (the `outcome` label).
    Skip(&'static str),
}

/// The labels of `skywatch_alert_hook_notifications_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The labels of `skywatch_alert_hook_runs_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The hook's own metrics.
struct Metrics {
    registry: Registry,
    notifications: Family<OutcomeLabels, Counter>,
    runs: Family<ResultLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let notifications = Family::<OutcomeLabels, Counter>::default();
        let runs = Family::<ResultLabels, Counter>::default();
        registry.register(
            "skywatch_alert_hook_notifications",
            "Webhook notifications received, by what the hook did with them.",
            notifications.clone(),
        );
        registry.register(
            "skywatch_alert_hook_runs",
            "Runs of the command, by how they ended.",
            runs.clone(),
        );
        Self {
            registry,
            notifications,
            runs,
        }
    }
}

/// Per group key: whether a run is going on, and when the last one started.
#[derive(Debug, Default)]
struct Gate {
    running: bool,
    last_start: Option<Instant>,
}

/// The hook: its settings and its state, shared by the requests.
struct Hook {
    matchers: Vec<Matcher>,
    command: Vec<String>,
    cooldown: Duration,
    timeout: Duration,
    dry_run: bool,
    gates: Mutex<HashMap<String, Gate>>,
    metrics: Metrics,
}

/// The environment variable that carries label `name`: `ALERT_` and the name upper-cased,
/// every character that is not an ASCII letter or digit turned to `_`.
fn env_name(name: &str) -> String {
    let mut out = String::from("ALERT_");
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    out
}

/// The labels of one alert of a webhook payload, as strings.
fn alert_labels(alert: &serde_json::Value) -> BTreeMap<String, String> {
    alert["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Tells whether an alert with `labels` satisfies every matcher (a missing label is empty).
fn matches(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
}

/// What to do with `payload` (an Alertmanager webhook notification, version 4) for these
/// matchers, before the gate: the environment of the run, or why there is none.
fn decide(matchers: &[Matcher], payload: &serde_json::Value) -> Decision {
    if payload["version"].as_str().is_some_and(|v| v != "4") || !payload["alerts"].is_array() {
        return Decision::Skip("invalid");
    }
    if payload["status"] == "resolved" {
        return Decision::Skip("resolved");
    }
    let firing: Vec<BTreeMap<String, String>> = payload["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == "firing")
        .map(alert_labels)
        .filter(|labels| matches(matchers, labels))
        .collect();
    let Some(first) = firing.first() else {
        return Decision::Skip("no_match");
    };
    let mut env: Vec<(String, String)> = first
        .iter()
        .map(|(k, v)| (env_name(k), v.clone()))
        .collect();
    env.push((
        "SKYWATCH_GROUP_KEY".to_owned(),
        payload["groupKey"].as_str().unwrap_or_default().to_owned(),
    ));
    env.push((
        "SKYWATCH_RECEIVER".to_owned(),
        payload["receiver"].as_str().unwrap_or_default().to_owned(),
    ));
    env.push((
        "SKYWATCH_MATCHING_ALERTS".to_owned(),
        firing.len().to_string(),
    ));
    Decision::Run(env)
}

impl Hook {
    /// Takes the gate of `key` at `now` if no run is going on and the cooldown has passed;
    /// otherwise says why not.
    fn enter(&self, key: &str, now: Instant) -> Result<(), &'static str> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        let gate = gates.entry(key.to_owned()).or_default();
        if gate.running {
            return Err("busy");
        }
        if gate
            .last_start
            .is_some_and(|t| now.saturating_duration_since(t) < self.cooldown)
        {
            return Err("cooldown");
        }
        gate.running = true;
        gate.last_start = Some(now);
        Ok(())
    }

    /// Releases the gate of `key` after a run.
    fn leave(&self, key: &str) {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gate) = gates.get_mut(key) {
            gate.running = false;
        }
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .notifications
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Handles one notification: decides, takes the gate, and starts the run on a blocking
    /// thread (the notification is answered at once, so that Alertmanager does not retry
    /// while the command runs). Returns the outcome.
    fn receive(self: &Arc<Self>, body: &[u8]) -> &'static str {
        let payload: serde_json::Value = match serde_json::from_slice(body) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "a notification that is not JSON");
                self.count("invalid");
                return "invalid";
            }
        };
        let env = match decide(&self.matchers, &payload) {
            Decision::Run(env) => env,
            Decision::Skip(why) => {
                tracing::info!(outcome = why, group_key = %payload["groupKey"], "notification ignored");
                self.count(why);
                return why;
            }
        };
        let key = payload["groupKey"].as_str().unwrap_or_default().to_owned();
        if let Err(why) = self.enter(&key, Instant::now()) {
            tracing::info!(outcome = why, group_key = %key, "notification matched, not run");
            self.count(why);
            return why;
        }
        if self.dry_run {
            let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            println!(
                "dry run: would run {:?} for group {key:?} with {}",
                self.command,
                shown.join(" ")
            );
            tracing::info!(group_key = %key, command = ?self.command, "dry run: not run");
            self.leave(&key);
            self.count("dry_run");
            return "dry_run";
        }
        self.count("run");
        let hook = self.clone();
        let stdin = body.to_vec();
        tokio::task::spawn_blocking(move || {
            let result = hook.run(&env, &stdin, &key);
            hook.metrics
                .runs
                .get_or_create(&ResultLabels { result })
                .inc();
            hook.leave(&key);
        });
        "run"
    }

    /// Runs the command to its end or its timeout; returns the `result` label.
    fn run(&self, env: &[(String, String)], stdin: &[u8], key: &str) -> &'static str {
        let began = Instant::now();
        let Some((program, args)) = self.command.split_first() else {
            return "error";
        };
        // Its own process group, so that a timeout kills what it started too (a shell's
        // children would otherwise keep running, and keep its pipes open).
        let spawned = Command::new(program)
            .process_group(0)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(group_key = %key, command = ?self.command, error = %e, "the command could not start");
                return "error";
            }
        };
        // The pipes are drained on their own threads, so that a command that writes much
        // never blocks on a full pipe while this thread waits for it to end.
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut all = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut all);
                }
                all
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
        if let Some(mut input) = child.stdin.take() {
            // A command that does not read its input closes the pipe: not an error.
            let _ = input.write_all(stdin);
        }
        // Whether the command's output can be waited for: not when something it started
        // may still hold its pipes.
        let mut drained = true;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if began.elapsed() >= self.timeout => {
                    let group = format!("-{}", child.id());
                    let killed = Command::new("kill")
                        .args(["-KILL", "--", &group])
                        .status()
                        .is_ok_and(|s| s.success());
                    if !killed {
                        let _ = child.kill();
                        drained = false;
                    }
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    tracing::error!(group_key = %key, error = %e, "cannot wait for the command");
                    let _ = child.kill();
                    drained = false;
                    break None;
                }
            }
        };
        // After a timeout, what the command left running (if the group could not be
        // killed) may hold the pipes open: its output is not waited for.
        let (stdout, stderr) = if drained {
            (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let start = text.len().saturating_sub(STDERR_TAIL);
            let start = (start..text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            text[start..].trim_end().to_owned()
        };
        let duration = format!("{:.3}s", began.elapsed().as_secs_f64());
        let result = match status {
            None => "timeout",
            Some(s) if s.success() => "success",
            Some(_) => "failure",
        };
        let exit = status.map_or_else(|| "killed".to_owned(), |s| s.to_string());
        tracing::info!(
            group_key = %key,
            command = ?self.command,
            result,
            exit = %exit,
            duration = %duration,
            stdout_tail = %tail(&stdout),
            stderr_tail = %tail(&stderr),
            "command ran"
        );
        result
    }

    fn metrics_text(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.metrics.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The hook's HTTP routes: `GET /metrics`, and a notification on `POST` at any other path.
fn router(hook: Arc<Hook>) -> axum::Router {
    use axum::http::{Method, StatusCode, header};
    use axum::response::IntoResponse;
    let metrics = hook.clone();
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.metrics_text(),
                )
            }),
        )
        .fallback(move |method: Method, body: axum::body::Bytes| async move {
            if method != Method::POST {
                return (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "POST an Alertmanager webhook notification\n",
                )
                    .into_response();
            }
            let outcome = hook.receive(&body);
            let status = if outcome == "invalid" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (
                status,
                axum::Json(serde_json::json!({ "outcome": outcome })),
            )
                .into_response()
        })
}

/// Runs `skywatch alert-hook` until interrupted.
pub(crate) fn run(args: AlertHookArgs) -> Result<(), String> {
    let matchers = args
        .matchers
        .iter()
        .map(|m| alerting::config::parse_matcher(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--match: {e}"))?;
    let hook = Arc::new(Hook {
        matchers,
        command: args.command,
        cooldown: args.cooldown,
        timeout: args.timeout,
        dry_run: args.dry_run,
        gates: Mutex::default(),
        metrics: Metrics::new(),
    });
    let _telemetry = crate::up::init_telemetry(&args.log)?;
    crate::up::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(addr = %addr, command = ?hook.command, dry_run = hook.dry_run, "listening");
        axum::serve(listener, router(hook))
            .with_graceful_shutdown(crate::up::shutdown_signal())
            .await
            .map_err(|e| format!("serving: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matchers(list: &[&str]) -> Vec<Matcher> {
        list.iter()
            .map(|m| alerting::config::parse_matcher(m).unwrap())
            .collect()
    }

    fn payload(status: &str, alerts: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "version": "4", "groupKey": "{}/{severity=\"P0\"}:{component=\"parity\"}",
            "status": status, "receiver": "auto-rollback", "alerts": alerts,
        })
    }

    fn hook(cooldown: Duration) -> Hook {
        Hook {
            matchers: matchers(&[r#"alertname="ParityMismatch""#]),
            command: vec!["true".to_owned()],
            cooldown,
            timeout: Duration::from_secs(1),
            dry_run: false,
            gates: Mutex::default(),
            metrics: Metrics::new(),
        }
    }

    #[test]
    fn label_names_become_upper_case_variables_with_underscores() {
        assert_eq!(env_name("alertname"), "ALERT_ALERTNAME");
        assert_eq!(env_name("node"), "ALERT_NODE");
        assert_eq!(env_name("sloth-id.x"), "ALERT_SLOTH_ID_X");
        assert_eq!(env_name("é"), "ALERT__");
    }

    #[test]
    fn only_firing_alerts_that_satisfy_every_matcher_run_with_their_labels() {
        let m = matchers(&[r#"alertname="ParityMismatch""#, r#"severity=~"P0|P1""#]);
        let p = payload(
            "firing",
            serde_json::json!([
                {"status": "resolved", "labels": {"alertname": "ParityMismatch", "severity": "P0", "node": "node-09"}},
                {"status": "firing", "labels": {"alertname": "ParityMismatch", "severity": "P2", "node": "node-08"}},
                {"status": "firing", "labels": {"alertname": "ParityMismatch", "severity": "P0", "node": "node-01", "function": "merkle_root"}},
                {"status": "firing", "labels": {"alertname": "ParityMismatch", "severity": "P1", "node": "node-02"}},
            ]),
        );
        let Decision::Run(env) = decide(&m, &p) else {
            panic!("no run for {p}");
        };
        let env: BTreeMap<_, _> = env.into_iter().collect();
        assert_eq!(env["ALERT_NODE"], "node-01");
        assert_eq!(env["ALERT_FUNCTION"], "merkle_root");
        assert_eq!(env["ALERT_ALERTNAME"], "ParityMismatch");
        assert_eq!(env["SKYWATCH_MATCHING_ALERTS"], "2");
        assert_eq!(env["SKYWATCH_RECEIVER"], "auto-rollback");
        assert!(env["SKYWATCH_GROUP_KEY"].contains("parity"));
    }

    #[test]
    fn resolved_unmatched_and_malformed_notifications_run_nothing() {
        let m = matchers(&[r#"alertname="ParityMismatch""#]);
        let alert =
            serde_json::json!([{"status": "firing", "labels": {"alertname": "ParityMismatch"}}]);
        assert_eq!(
            decide(&m, &payload("resolved", alert.clone())),
            Decision::Skip("resolved")
        );
        let other = serde_json::json!([{"status": "firing", "labels": {"alertname": "NodeDown"}}]);
        assert_eq!(
            decide(&m, &payload("firing", other)),
            Decision::Skip("no_match")
        );
        let mut v3 = payload("firing", alert);
        v3["version"] = "3".into();
        assert_eq!(decide(&m, &v3), Decision::Skip("invalid"));
        assert_eq!(
            decide(&m, &serde_json::json!({"status": "firing"})),
            Decision::Skip("invalid")
        );
    }

    #[test]
    fn a_missing_label_is_empty_for_the_matchers() {
        let m = matchers(&[r#"team="""#]);
        let p = payload(
            "firing",
            serde_json::json!([{"status": "firing", "labels": {"alertname": "X"}}]),
        );
        assert!(matches!(decide(&m, &p), Decision::Run(_)));
    }

    #[test]
    fn one_run_at_a_time_and_none_within_the_cooldown_per_group_key() {
        let h = hook(Duration::from_secs(300));
        let t0 = Instant::now();
        assert_eq!(h.enter("a", t0), Ok(()));
        assert_eq!(h.enter("a", t0), Err("busy"));
        // Another group key has its own gate.
        assert_eq!(h.enter("b", t0), Ok(()));
        h.leave("a");
        assert_eq!(h.enter("a", t0 + Duration::from_secs(299)), Err("cooldown"));
        assert_eq!(h.enter("a", t0 + Duration::from_secs(300)), Ok(()));
    }

    #[test]
    fn a_run_reports_success_failure_timeout_and_a_missing_program() {
        let mut h = hook(Duration::ZERO);
        assert_eq!(h.run(&[], b"{}", "k"), "success");
        h.command = vec!["sh".into(), "-c".into(), "echo bad >&2; exit 3".into()];
        assert_eq!(h.run(&[], b"{}", "k"), "failure");
        h.command = vec!["sleep".into(), "5".into()];
        h.timeout = Duration::from_millis(200);
        let began = Instant::now();
        assert_eq!(h.run(&[], b"{}", "k"), "timeout");
        assert!(began.elapsed() < Duration::from_secs(4), "not killed");
        h.command = vec!["/nonexistent/skywatch-test-program".into()];
        assert_eq!(h.run(&[], b"{}", "k"), "error");
    }

    #[test]
    fn the_command_gets_the_environment_and_the_payload_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut h = hook(Duration::ZERO);
        h.command = vec![
            "sh".into(),
            "-c".into(),
            format!("{{ echo \"$ALERT_NODE\"; cat; }} > {}", out.display()),
        ];
        let env = vec![("ALERT_NODE".to_owned(), "node-01; rm -rf /".to_owned())];
        assert_eq!(h.run(&env, br#"{"version":"4"}"#, "k"), "success");
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text, "node-01; rm -rf /\n{\"version\":\"4\"}");
    }
}
