//! Sending: the dispatcher run on a clock, each notification sent to every integration of
//! its receiver with retries and backoff, and every outcome appended to a durable
//! notification log (JSON lines) that survives restarts and answers queries.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dispatch::{Dispatcher, Notification, fingerprint};

/// What an integration is given.
enum Payload {
    /// A JSON body POSTed to the target URL.
    Http(Value),
    /// A message for an SMTP server.
    Email(crate::smtp::Server, crate::smtp::Mail),
}

/// One delivery attempt's outcome, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When the delivery ended, RFC 3339.
    pub time: String,
    /// The receiver.
    pub receiver: String,
    /// `webhook`, `slack`, `pagerduty` or `email`.
    pub integration: String,
    /// Where it went: the URL, channel or address.
    pub target: String,
    /// The group's key.
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// How many alerts fired and were resolved in it.
    pub firing: usize,
    #[allow(missing_docs, reason = "as `firing`")]
    pub resolved: usize,
    /// The alerts' names.
    pub alertnames: Vec<String>,
    /// `sent`, `failed` or `skipped` (resolved news to an integration that does not want it).
    pub outcome: String,
    /// How many tries it took.
    pub attempts: u32,
    /// The last error, if any.
    pub error: String,
}

/// The notification log: a JSON-lines file and its entries in memory.
#[derive(Debug)]
pub struct NotificationLog {
    file: Option<PathBuf>,
    entries: Mutex<Vec<LogEntry>>,
}

/// Locks, taking over a lock a panicking thread left.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl NotificationLog {
    /// The log kept in `file`, with what it already holds; a damaged line is skipped.
    pub fn open(file: &Path) -> Result<Self, String> {
        let entries = match std::fs::read_to_string(file) {
            Ok(text) => text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
        };
        Ok(Self {
            file: Some(file.to_path_buf()),
            entries: Mutex::new(entries),
        })
    }

    /// A log in memory only.
    pub fn in_memory() -> Self {
        Self {
            file: None,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Appends an entry, to the file first.
    pub fn append(&self, entry: LogEntry) {
        if let Some(file) = &self.file {
            let line = serde_json::to_string(&entry).unwrap_or_default();
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = written {
                tracing::error!(file = %file.display(), error = %e, "cannot write the notification log");
            }
        }
        lock(&self.entries).push(entry);
    }

    /// The newest entries first, of `receiver` if given, at most `limit`.
    pub fn query(&self, receiver: Option<&str>, limit: usize) -> Vec<LogEntry> {
        lock(&self.entries)
            .iter()
            .rev()
            .filter(|e| receiver.is_none_or(|r| e.receiver == r))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// The dispatcher, the log and an HTTP client, run together.
#[derive(Debug)]
pub struct Service {
    /// Alerts, silences, groups.
    pub dispatcher: Mutex<Dispatcher>,
    /// What was sent.
    pub log: NotificationLog,
    /// The server's address for links, as `externalURL`.
    pub external_url: String,
    client: reqwest::Client,
    /// Delays between tries of a failed delivery.
    backoff: Vec<Duration>,
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

impl Service {
    /// A service over `dispatcher`, logging to `log`.
    pub fn new(dispatcher: Dispatcher, log: NotificationLog, external_url: String) -> Self {
        Self {
            dispatcher: Mutex::new(dispatcher),
            log,
            external_url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            backoff: vec![
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(8),
            ],
        }
    }

    /// The same with other delays between tries (tests use short ones).
    pub fn with_backoff(mut self, backoff: Vec<Duration>) -> Self {
        self.backoff = backoff;
        self
    }

    /// Takes alerts in Alertmanager's JSON shape, now.
    pub fn receive(&self, body: &Value) -> Result<usize, String> {
        lock(&self.dispatcher).receive_json(body, now_ms())
    }

    /// Flushes the groups that are due and sends, for ever: every 250 ms, or sooner when
    /// a group is due.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = now_ms();
            let (due, next) = {
                let mut d = lock(&self.dispatcher);
                (d.flush(now), d.next_due())
            };
            for n in due {
                let me = self.clone();
                tokio::spawn(async move { me.deliver(n).await });
            }
            let wait = next.map_or(250, |t| (t - now_ms()).clamp(10, 250));
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }

    /// The email `e` makes of `n`: Alertmanager's subject unless a `Subject` header is
    /// given, and a plain-text list of the alerts.
    fn email(
        &self,
        n: &Notification,
        e: &crate::config::EmailConfig,
        global: &crate::config::Global,
    ) -> Payload {
        let firing = n.firing();
        let server = crate::smtp::Server {
            smarthost: e
                .smarthost
                .clone()
                .or_else(|| global.smtp_smarthost.clone())
                .unwrap_or_default(),
            hello: e
                .hello
                .clone()
                .or_else(|| global.smtp_hello.clone())
                .unwrap_or_else(|| "localhost".into()),
            require_tls: e.require_tls.or(global.smtp_require_tls).unwrap_or(true),
            auth: e
                .auth_username
                .clone()
                .or_else(|| global.smtp_auth_username.clone())
                .map(|u| {
                    (
                        u,
                        e.auth_password
                            .clone()
                            .or_else(|| global.smtp_auth_password.clone())
                            .unwrap_or_default(),
                    )
                }),
        };
        let subject = e.headers.get("Subject").cloned().unwrap_or_else(|| {
            let group: Vec<&str> = n.group_labels.values().map(String::as_str).collect();
            if firing > 0 {
                format!("[FIRING:{firing}] {}", group.join(" "))
            } else {
                format!("[RESOLVED] {}", group.join(" "))
            }
        });
        let mut body = String::new();
        for a in &n.alerts {
            let state = if a.resolved(n.at) {
                "RESOLVED"
            } else {
                "FIRING"
            };
            body.push_str(&format!(
                "{state} {}\n",
                a.labels.get("alertname").cloned().unwrap_or_default()
            ));
            for (k, v) in &a.annotations {
                body.push_str(&format!("  {k}: {v}\n"));
            }
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            body.push_str(&format!(
                "  labels: {}\n  since: {}\n\n",
                labels.join(", "),
                model::format_rfc3339(a.starts_at)
            ));
        }
        body.push_str(&format!("Alerts: {}/alerts\n", self.external_url));
        Payload::Email(
            server,
            crate::smtp::Mail {
                from: e
                    .from
                    .clone()
                    .or_else(|| global.smtp_from.clone())
                    .unwrap_or_else(|| "skywatch@localhost".into()),
                to: e
                    .to
                    .split(',')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect(),
                subject,
                body,
            },
        )
    }

    /// Sends one notification to each of its receiver's integrations.
    pub async fn deliver(&self, n: Notification) {
        let firing = n.firing();
        let resolved = n.alerts.len() - firing;
        let status = if firing > 0 { "firing" } else { "resolved" };
        let mut names: Vec<String> = n
            .alerts
            .iter()
            .filter_map(|a| a.labels.get("alertname").cloned())
            .collect();
        names.sort();
        names.dedup();
        let global = lock(&self.dispatcher).config().global.clone();
        // Slack's title and PagerDuty's summary unless configured: `[FIRING:2] Down, Lag`.
        let headline = format!(
            "[{}:{}] {}",
            status.to_uppercase(),
            n.alerts.len(),
            names.join(", ")
        );
        let r = &n.receiver;
        let mut jobs: Vec<(&str, String, bool, Payload)> = Vec::new();
        for w in &r.webhook_configs {
            jobs.push((
                "webhook",
                w.url.clone(),
                w.send_resolved,
                Payload::Http(n.webhook_json(&self.external_url, w.max_alerts)),
            ));
        }
        for s in &r.slack_configs {
            let url = s
                .api_url
                .clone()
                .or_else(|| global.slack_api_url.clone())
                .unwrap_or_default();
            let lines: Vec<String> = n
                .alerts
                .iter()
                .map(|a| {
                    let text = a
                        .annotations
                        .get("summary")
                        .or_else(|| a.annotations.get("description"))
                        .cloned()
                        .unwrap_or_default();
                    format!(
                        "• {} {}",
                        a.labels.get("alertname").cloned().unwrap_or_default(),
                        text
                    )
                })
                .collect();
            let title = s.title.clone().unwrap_or_else(|| headline.clone());
            let body = json!({
                "channel": s.channel,
                "username": "Skywatch",
                "text": format!("*{title}*\n{}", s.text.clone().unwrap_or_else(|| lines.join("\n"))),
            });
            jobs.push(("slack", url, s.send_resolved, Payload::Http(body)));
        }
        for p in &r.pagerduty_configs {
            let url = p
                .url
                .clone()
                .or_else(|| global.pagerduty_url.clone())
                .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
            let severity = p.severity.clone().unwrap_or_else(|| {
                match n
                    .alerts
                    .first()
                    .and_then(|a| a.labels.get("severity"))
                    .map(String::as_str)
                {
                    Some("critical") => "critical",
                    Some("warning") => "warning",
                    Some("info") => "info",
                    _ => "error",
                }
                .into()
            });
            let summary = p.description.clone().unwrap_or_else(|| headline.clone());
            let body = json!({
                "routing_key": p.routing_key.clone().or_else(|| p.service_key.clone()).unwrap_or_default(),
                "event_action": if firing > 0 { "trigger" } else { "resolve" },
                "dedup_key": fingerprint(&std::collections::BTreeMap::from([("group".to_owned(), n.group_key.clone())])),
                "payload": {
                    "summary": summary,
                    "source": self.external_url,
                    "severity": severity,
                    "custom_details": n.webhook_json(&self.external_url, 0)["alerts"].clone(),
                },
                "client": "Skywatch",
                "client_url": self.external_url,
            });
            jobs.push(("pagerduty", url, p.send_resolved, Payload::Http(body)));
        }
        for e in &r.email_configs {
            jobs.push((
                "email",
                e.to.clone(),
                e.send_resolved,
                self.email(&n, e, &global),
            ));
        }
        for (integration, target, send_resolved, payload) in jobs {
            let mut entry = LogEntry {
                time: String::new(),
                receiver: r.name.value.clone(),
                integration: integration.into(),
                target: target.clone(),
                group_key: n.group_key.clone(),
                status: status.into(),
                firing,
                resolved,
                alertnames: names.clone(),
                outcome: "sent".into(),
                attempts: 0,
                error: String::new(),
            };
            if firing == 0 && !send_resolved {
                entry.outcome = "skipped".into();
            } else {
                let mut tries = std::iter::once(Duration::ZERO).chain(self.backoff.iter().copied());
                loop {
                    let Some(delay) = tries.next() else {
                        entry.outcome = "failed".into();
                        break;
                    };
                    tokio::time::sleep(delay).await;
                    entry.attempts += 1;
                    let attempt = match &payload {
                        Payload::Http(body) => match self
                            .client
                            .post(&target)
                            .header("content-type", "application/json")
                            .body(serde_json::to_vec(body).unwrap_or_default())
                            .send()
                            .await
                        {
                            Ok(resp) if resp.status().is_success() => Ok(()),
                            Ok(resp) => Err(format!("{target} answered {}", resp.status())),
                            Err(e) => Err(format!("{target}: {e}")),
                        },
                        Payload::Email(server, mail) => {
                            crate::smtp::send(server, mail, now_ms()).await
                        }
                    };
                    match attempt {
                        Ok(()) => {
                            entry.error.clear();
                            break;
                        }
                        Err(e) => entry.error = e,
                    }
                }
            }
            entry.time = model::format_rfc3339(now_ms());
            if entry.outcome == "failed" {
                tracing::warn!(receiver = %entry.receiver, integration, error = %entry.error, "notification failed");
            }
            self.log.append(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::Alert;
    use crate::silence::Silences;

    #[tokio::test]
    async fn deliveries_retry_and_log_failures_and_mail_goes_out() {
        let (smtp, mailbox) = crate::smtp::fake::server(false).await;
        // A port nothing listens on, for the webhook.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = crate::Config::parse(
            &format!(
                "global:\n  smtp_from: sky@example.org\n  smtp_require_tls: false\nroute:\n  receiver: r\n  group_wait: 0s\n  group_by: [alertname]\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://{closed}/hook\n    email_configs:\n      - to: ops@example.org\n        smarthost: {smtp}\n"
            ),
            "am.yml",
        )
        .unwrap();
        let service = Service::new(
            Dispatcher::new(config, Silences::default()),
            NotificationLog::in_memory(),
            "http://sky".into(),
        )
        .with_backoff(vec![Duration::from_millis(10), Duration::from_millis(10)]);
        let now = now_ms();
        let notifications = {
            let mut d = lock(&service.dispatcher);
            d.put(
                Alert {
                    labels: [("alertname".to_owned(), "Down".to_owned())].into(),
                    annotations: [("summary".to_owned(), "it is down".to_owned())].into(),
                    starts_at: now,
                    ends_at: None,
                    generator_url: String::new(),
                    updated_at: now,
                },
                now,
            );
            d.flush(now)
        };
        assert_eq!(notifications.len(), 1);
        service
            .deliver(notifications.into_iter().next().unwrap())
            .await;
        let log = service.log.query(None, 10);
        let webhook = log.iter().find(|e| e.integration == "webhook").unwrap();
        assert_eq!((webhook.outcome.as_str(), webhook.attempts), ("failed", 3));
        assert!(
            webhook.error.contains(&closed.to_string()),
            "{}",
            webhook.error
        );
        let email = log.iter().find(|e| e.integration == "email").unwrap();
        assert_eq!(
            (email.outcome.as_str(), email.attempts),
            ("sent", 1),
            "{}",
            email.error
        );
        let lines = mailbox.await.unwrap();
        assert!(
            lines.contains(&"Subject: [FIRING:1] Down".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"  summary: it is down".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"RCPT TO:<ops@example.org>".to_owned()),
            "{lines:?}"
        );
    }
}
