//! Sending: the dispatcher run on a clock, each notification sent to every integration of
//! its receiver with retries and backoff, and every outcome appended to a durable
//! notification log (JSON lines) that survives restarts and answers queries.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dispatch::{Alert, Dispatcher, Notification};

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
        let subject = e
            .headers
            .get("Subject")
            .cloned()
            .unwrap_or_else(|| defaults::subject(n));
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

    /// Where `n` goes and what it says, for its integration; `None` if the receiver has
    /// no such integration (the configuration changed meanwhile).
    fn payload(
        &self,
        n: &Notification,
        global: &crate::config::Global,
    ) -> Option<(String, Payload)> {
        let r = &n.receiver;
        let index = n.integration.index;
        Some(match n.integration.kind {
            "webhook" => {
                let w = r.webhook_configs.get(index)?;
                (
                    w.url.clone(),
                    Payload::Http(n.webhook_json(&self.external_url, w.max_alerts)),
                )
            }
            "slack" => {
                let s = r.slack_configs.get(index)?;
                let url = s
                    .api_url
                    .clone()
                    .or_else(|| global.slack_api_url.clone())
                    .unwrap_or_default();
                (url, Payload::Http(slack_json(n, s, &self.external_url)))
            }
            "pagerduty" => {
                let p = r.pagerduty_configs.get(index)?;
                let url = p
                    .url
                    .clone()
                    .or_else(|| global.pagerduty_url.clone())
                    .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
                (url, Payload::Http(pagerduty_json(n, p, &self.external_url)))
            }
            "email" => {
                let e = r.email_configs.get(index)?;
                (e.to.clone(), self.email(n, e, global))
            }
            _ => return None,
        })
    }

    /// Sends one notification to its integration, retrying with backoff, logs the
    /// outcome, and tells the dispatcher (whose notification log decides what is news).
    pub async fn deliver(&self, n: Notification) {
        let firing = n.firing();
        let resolved = n.resolved();
        let status = if firing > 0 { "firing" } else { "resolved" };
        let mut names: Vec<String> = n
            .alerts
            .iter()
            .filter_map(|a| a.labels.get("alertname").cloned())
            .collect();
        names.sort();
        names.dedup();
        let global = lock(&self.dispatcher).config().global.clone();
        let mut entry = LogEntry {
            time: String::new(),
            receiver: n.receiver.name.value.clone(),
            integration: n.integration.kind.into(),
            target: String::new(),
            group_key: n.group_key.clone(),
            status: status.into(),
            firing,
            resolved,
            alertnames: names,
            outcome: "sent".into(),
            attempts: 0,
            error: String::new(),
        };
        match self.payload(&n, &global) {
            None => {
                entry.outcome = "failed".into();
                entry.error = format!(
                    "receiver {:?} has no {} integration {}",
                    entry.receiver, n.integration.kind, n.integration.index
                );
            }
            Some((target, payload)) => {
                entry.target = target.clone();
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
        }
        let now = now_ms();
        lock(&self.dispatcher).notified(&n, entry.outcome == "sent", now);
        entry.time = model::format_rfc3339(now);
        if entry.outcome == "failed" {
            tracing::warn!(receiver = %entry.receiver, integration = %entry.integration, error = %entry.error, "notification failed");
        }
        self.log.append(entry);
    }
}

/// The SHA-256 of a group key in hex: Alertmanager's PagerDuty `dedup_key` (and
/// `incident_key`), so that an incident one opened the other resolves.
pub fn group_key_hash(group_key: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Slack's message as Alertmanager sends it: one attachment with the title, its link,
/// the colour (`danger` while anything fires, else `good`), the fallback and the
/// Markdown fields; `channel` and the other optional keys only when they have a value.
fn slack_json(n: &Notification, s: &crate::config::SlackConfig, external_url: &str) -> Value {
    let title = s.title.clone().unwrap_or_else(|| defaults::subject(n));
    let title = truncate_runes(&title, 1024);
    let title_link = defaults::alertmanager_url(n, external_url);
    let mut attachment = serde_json::Map::new();
    attachment.insert("title".into(), json!(title));
    attachment.insert("title_link".into(), json!(title_link));
    attachment.insert("text".into(), json!(s.text.clone().unwrap_or_default()));
    attachment.insert("fallback".into(), json!(format!("{title} | {title_link}")));
    attachment.insert("callback_id".into(), json!(""));
    attachment.insert("footer".into(), json!(""));
    attachment.insert(
        "color".into(),
        json!(if n.firing() > 0 { "danger" } else { "good" }),
    );
    attachment.insert("mrkdwn_in".into(), json!(["fallback", "pretext", "text"]));
    attachment.retain(|k, v| {
        !(matches!(k.as_str(), "title" | "title_link" | "color") && v.as_str() == Some(""))
    });
    let mut body = serde_json::Map::new();
    if let Some(channel) = s.channel.as_ref().filter(|c| !c.is_empty()) {
        body.insert("channel".into(), json!(channel));
    }
    body.insert("username".into(), json!(defaults::CLIENT));
    body.insert("attachments".into(), json!([attachment]));
    Value::Object(body)
}

/// PagerDuty's Events API v2 event as Alertmanager sends it: `dedup_key` the SHA-256 of
/// the group key, severity `error` unless configured, the summary Alertmanager's
/// subject, `source` the client, and `custom_details` the firing and resolved alerts
/// as text and their counts.
fn pagerduty_json(
    n: &Notification,
    p: &crate::config::PagerdutyConfig,
    external_url: &str,
) -> Value {
    let firing: Vec<&Alert> = n.alerts.iter().filter(|a| !a.resolved(n.at)).collect();
    let resolved: Vec<&Alert> = n.alerts.iter().filter(|a| a.resolved(n.at)).collect();
    let summary = p
        .description
        .clone()
        .unwrap_or_else(|| defaults::subject(n));
    json!({
        "routing_key": p.routing_key.clone().or_else(|| p.service_key.clone()).unwrap_or_default(),
        "dedup_key": group_key_hash(&n.group_key),
        "event_action": if firing.is_empty() { "resolve" } else { "trigger" },
        "payload": {
            "summary": truncate_runes(&summary, 1024),
            "source": defaults::CLIENT,
            "severity": p.severity.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "error".into()),
            "custom_details": {
                "firing": defaults::alert_list(&firing),
                "resolved": defaults::alert_list(&resolved),
                "num_firing": firing.len().to_string(),
                "num_resolved": resolved.len().to_string(),
            },
        },
        "client": defaults::CLIENT,
        "client_url": defaults::alertmanager_url(n, external_url),
    })
}

/// `s` cut to `max` characters as Alertmanager cuts: the first `max - 1` and `…`.
fn truncate_runes(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max <= 3 {
        return s.chars().take(max).collect();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Alertmanager's default texts (its `default.tmpl`), written out for the integrations'
/// defaults until templates render them.
mod defaults {
    use super::{Alert, Notification};

    /// `__alertmanager`: the client's name in PagerDuty events and Slack's username.
    pub(super) const CLIENT: &str = "Alertmanager";

    /// `__subject`: `[FIRING:2] Down node-1 (critical)`: the status (with the count of
    /// firing alerts), the group labels' values by name, then in parentheses the values
    /// of the common labels that are not group labels.
    pub(super) fn subject(n: &Notification) -> String {
        let firing = n.firing();
        let status = if firing > 0 {
            format!("FIRING:{firing}")
        } else {
            "RESOLVED".to_owned()
        };
        let group: Vec<&str> = n.group_labels.values().map(String::as_str).collect();
        let common = common_labels(&n.alerts);
        let mut out = format!("[{status}] {} ", group.join(" "));
        if common.len() > n.group_labels.len() {
            let rest: Vec<&str> = common
                .iter()
                .filter(|(k, _)| !n.group_labels.contains_key(*k))
                .map(|(_, v)| v.as_str())
                .collect();
            out.push_str(&format!("({})", rest.join(" ")));
        }
        out
    }

    /// The labels every alert has with the same value.
    fn common_labels(alerts: &[Alert]) -> crate::dispatch::LabelSet {
        let mut it = alerts.iter();
        let Some(first) = it.next() else {
            return crate::dispatch::LabelSet::new();
        };
        let mut out = first.labels.clone();
        for a in it {
            out.retain(|k, v| a.labels.get(k) == Some(v));
        }
        out
    }

    /// `__alertmanagerURL`: the alerts page filtered on the receiver.
    pub(super) fn alertmanager_url(n: &Notification, external_url: &str) -> String {
        let receiver: String =
            form_urlencoded::byte_serialize(n.receiver.name.value.as_bytes()).collect();
        format!("{external_url}/#/alerts?receiver={receiver}")
    }

    /// `__text_alert_list`: each alert's labels, annotations and source.
    pub(super) fn alert_list(alerts: &[&Alert]) -> String {
        let mut out = String::new();
        for a in alerts {
            out.push_str("Labels:\n");
            for (k, v) in &a.labels {
                out.push_str(&format!(" - {k} = {v}\n"));
            }
            out.push_str("Annotations:\n");
            for (k, v) in &a.annotations {
                out.push_str(&format!(" - {k} = {v}\n"));
            }
            out.push_str(&format!("Source: {}\n", a.generator_url));
        }
        out
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
        assert_eq!(notifications.len(), 2, "one per integration");
        for n in notifications {
            service.deliver(n).await;
        }
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
            lines.contains(&"Subject: [FIRING:1] Down ".to_owned()),
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

    /// The notifications of one alert `Down` firing (and, if `resolved`, resolved),
    /// made by a dispatcher over `receiver`'s YAML.
    fn notifications(receiver: &str, resolved: bool) -> Vec<Notification> {
        let config = crate::Config::parse(
            &format!(
                "route:\n  receiver: team\n  group_by: [alertname]\n  group_wait: 0s\nreceivers:\n  - name: team\n{receiver}"
            ),
            "am.yml",
        )
        .unwrap();
        let mut d = Dispatcher::new(config, Silences::default());
        let down = |ends_at| Alert {
            labels: [
                ("alertname".to_owned(), "Down".to_owned()),
                ("node".to_owned(), "n1".to_owned()),
            ]
            .into(),
            annotations: [("summary".to_owned(), "it is down".to_owned())].into(),
            starts_at: 1_000,
            ends_at,
            generator_url: "http://prom/graph".into(),
            updated_at: 1_000,
        };
        d.put(down(None), 1_000);
        let first = d.flush(1_000);
        for n in &first {
            d.notified(n, true, 1_000);
        }
        if !resolved {
            return first;
        }
        d.put(down(Some(2_000)), 2_000);
        d.flush(400_000)
    }

    #[test]
    fn slack_gets_alertmanagers_attachment() {
        let n = &notifications(
            "    slack_configs:\n      - api_url: http://x/slack\n",
            false,
        )[0];
        let r = n.receiver.slack_configs[0].clone();
        assert_eq!(
            slack_json(n, &r, "http://sky"),
            json!({
                "username": "Alertmanager",
                "attachments": [{
                    "title": "[FIRING:1] Down (n1)",
                    "title_link": "http://sky/#/alerts?receiver=team",
                    "text": "",
                    "fallback": "[FIRING:1] Down (n1) | http://sky/#/alerts?receiver=team",
                    "callback_id": "",
                    "footer": "",
                    "color": "danger",
                    "mrkdwn_in": ["fallback", "pretext", "text"],
                }],
            })
        );
    }

    #[test]
    fn pagerduty_gets_alertmanagers_event_and_dedup_key() {
        let config = "    pagerduty_configs:\n      - routing_key: k\n        url: http://x/pd\n";
        let n = &notifications(config, false)[0];
        let p = n.receiver.pagerduty_configs[0].clone();
        // sha256("{}:{alertname=\"Down\"}"): the key Alertmanager gives the group.
        let key = "af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e";
        assert_eq!(
            pagerduty_json(n, &p, "http://sky"),
            json!({
                "routing_key": "k",
                "dedup_key": key,
                "event_action": "trigger",
                "payload": {
                    "summary": "[FIRING:1] Down (n1)",
                    "source": "Alertmanager",
                    "severity": "error",
                    "custom_details": {
                        "firing": "Labels:\n - alertname = Down\n - node = n1\nAnnotations:\n - summary = it is down\nSource: http://prom/graph\n",
                        "resolved": "",
                        "num_firing": "1",
                        "num_resolved": "0",
                    },
                },
                "client": "Alertmanager",
                "client_url": "http://sky/#/alerts?receiver=team",
            })
        );
        let n = &notifications(config, true)[0];
        let body = pagerduty_json(n, &p, "http://sky");
        assert_eq!(body["event_action"], "resolve");
        assert_eq!(body["dedup_key"], key);
        assert_eq!(body["payload"]["summary"], "[RESOLVED] Down (n1)");
        assert_eq!(body["payload"]["custom_details"]["num_resolved"], "1");
    }

    #[test]
    fn long_texts_are_cut_as_alertmanager_cuts_them() {
        assert_eq!(truncate_runes("abcdef", 6), "abcdef");
        assert_eq!(truncate_runes("abcdéfg", 6), "abcdé…");
        assert_eq!(truncate_runes("abcdef", 3), "abc");
    }
}
