//! Sending: the dispatcher run on a clock, each notification sent to every integration of
//! its receiver with retries and backoff, and every outcome appended to a durable
//! notification log (JSON lines) that survives restarts and answers queries.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dispatch::{Dispatcher, Notification};
use crate::template::Templates;

mod texts;
use texts::Texts;

/// What an integration is given.
#[derive(Debug)]
pub enum Payload {
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
    /// What was sent, as rendered: the JSON body, or the whole email (older entries
    /// have none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rendered: String,
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
    /// The configuration's `templates:` files over Alertmanager's default texts.
    templates: std::sync::RwLock<Arc<Templates>>,
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
    /// The configuration's `templates:` files are read now; see [`Service::templates`]
    /// for checking them first.
    pub fn new(dispatcher: Dispatcher, log: NotificationLog, external_url: String) -> Self {
        let templates = Self::templates(dispatcher.config()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the notification templates are not read; the default texts are used");
            Templates::defaults()
        });
        Self {
            templates: std::sync::RwLock::new(Arc::new(templates)),
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

    /// The templates `config` names (`templates:`, already relative to its file's
    /// directory), over Alertmanager's default texts.
    pub fn templates(config: &crate::config::Config) -> Result<Templates, String> {
        Templates::load(Path::new(""), &config.templates).map_err(|e| e.to_string())
    }

    /// Routes and renders with `config` from now on; its templates are read first, and
    /// if they cannot be, nothing changes.
    pub fn reconfigure(&self, config: crate::config::Config) -> Result<(), String> {
        let templates = Self::templates(&config)?;
        lock(&self.dispatcher).reconfigure(config);
        *self.templates.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(templates);
        Ok(())
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
        texts: &Texts<'_>,
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
        // Header values are templates, as in Alertmanager; the subject's default is
        // `email.default.subject`.
        let subject = texts.or_default(
            e.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
                .map(|(_, v)| v.as_str()),
            "email.default.subject",
        );
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

    /// Where `n` goes and what it says, for its integration, its texts rendered;
    /// `Ok(None)` if the receiver has no such integration (the configuration changed
    /// meanwhile), an error if a text cannot be rendered.
    pub fn render(&self, n: &Notification) -> Result<Option<(String, Payload)>, String> {
        let global = lock(&self.dispatcher).config().global.clone();
        let templates = self
            .templates
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let resolve_timeout = global.resolve_timeout.map_or(5 * 60_000, |d| d.0);
        let texts = Texts::new(&templates, n, &self.external_url, resolve_timeout);
        let r = &n.receiver;
        let index = n.integration.index;
        let out = match n.integration.kind {
            "webhook" => r.webhook_configs.get(index).map(|w| {
                (
                    w.url.clone(),
                    Payload::Http(n.webhook_json(&self.external_url, w.max_alerts)),
                )
            }),
            "slack" => r.slack_configs.get(index).map(|s| {
                let url = s
                    .api_url
                    .clone()
                    .or_else(|| global.slack_api_url.clone())
                    .unwrap_or_default();
                (url, Payload::Http(slack_json(s, &texts)))
            }),
            "pagerduty" => r.pagerduty_configs.get(index).map(|p| {
                let url = p
                    .url
                    .clone()
                    .or_else(|| global.pagerduty_url.clone())
                    .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
                (url, Payload::Http(pagerduty_json(n, p, &texts)))
            }),
            "email" => r
                .email_configs
                .get(index)
                .map(|e| (e.to.clone(), self.email(n, e, &global, &texts))),
            _ => None,
        };
        texts.finish()?;
        Ok(out)
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
            rendered: String::new(),
        };
        match self.render(&n) {
            Err(e) => {
                entry.outcome = "failed".into();
                entry.error = e;
            }
            Ok(None) => {
                entry.outcome = "failed".into();
                entry.error = format!(
                    "receiver {:?} has no {} integration {}",
                    entry.receiver, n.integration.kind, n.integration.index
                );
            }
            Ok(Some((target, payload))) => {
                entry.target = target.clone();
                entry.rendered = match &payload {
                    Payload::Http(body) => serde_json::to_string_pretty(body).unwrap_or_default(),
                    Payload::Email(_, mail) => {
                        crate::smtp::message(mail, now_ms()).replace("\r\n", "\n")
                    }
                };
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

/// Slack's message as Alertmanager sends it: one attachment with every templated field
/// (Alertmanager's default texts where a field is not configured), `channel` and the
/// other optional keys only when they render to something.
fn slack_json(s: &crate::config::SlackConfig, texts: &Texts<'_>) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let plain = |text: &Option<String>| text.as_deref().map(|t| texts.text(t)).unwrap_or_default();
    let mut attachment = serde_json::Map::new();
    let title = truncate_runes(&field(&s.title, "slack.default.title"), 1024);
    attachment.insert("title".into(), json!(title));
    attachment.insert(
        "title_link".into(),
        json!(field(&s.title_link, "slack.default.titlelink")),
    );
    attachment.insert(
        "pretext".into(),
        json!(field(&s.pretext, "slack.default.pretext")),
    );
    attachment.insert("text".into(), json!(field(&s.text, "slack.default.text")));
    if !s.fields.is_empty() {
        let fields: Vec<Value> = s
            .fields
            .iter()
            .map(|f| {
                json!({
                    "title": texts.text(&f.title),
                    "value": texts.text(&f.value),
                    "short": f.short.unwrap_or(s.short_fields),
                })
            })
            .collect();
        attachment.insert("fields".into(), json!(fields));
    }
    if !s.actions.is_empty() {
        let actions: Vec<Value> = s.actions.iter().map(|a| slack_action(a, texts)).collect();
        attachment.insert("actions".into(), json!(actions));
    }
    attachment.insert("image_url".into(), json!(plain(&s.image_url)));
    attachment.insert("thumb_url".into(), json!(plain(&s.thumb_url)));
    attachment.insert(
        "fallback".into(),
        json!(field(&s.fallback, "slack.default.fallback")),
    );
    attachment.insert(
        "callback_id".into(),
        json!(field(&s.callback_id, "slack.default.callbackid")),
    );
    attachment.insert(
        "footer".into(),
        json!(field(&s.footer, "slack.default.footer")),
    );
    let color = match &s.color {
        Some(c) => texts.text(c),
        None => texts.text(r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#),
    };
    attachment.insert("color".into(), json!(color));
    let mrkdwn_in = if s.mrkdwn_in.is_empty() {
        vec![
            "fallback".to_owned(),
            "pretext".to_owned(),
            "text".to_owned(),
        ]
    } else {
        s.mrkdwn_in.clone()
    };
    attachment.insert("mrkdwn_in".into(), json!(mrkdwn_in));
    // Go's `omitempty` on the attachment's optional keys.
    attachment.retain(|k, v| {
        !(matches!(
            k.as_str(),
            "title" | "title_link" | "pretext" | "image_url" | "thumb_url" | "color"
        ) && v.as_str() == Some(""))
    });
    let mut body = serde_json::Map::new();
    for (key, value) in [
        ("channel", plain(&s.channel)),
        ("username", field(&s.username, "slack.default.username")),
        (
            "icon_emoji",
            field(&s.icon_emoji, "slack.default.iconemoji"),
        ),
        ("icon_url", field(&s.icon_url, "slack.default.iconurl")),
    ] {
        if !value.is_empty() {
            body.insert(key.into(), json!(value));
        }
    }
    if s.link_names {
        body.insert("link_names".into(), json!(true));
    }
    body.insert("attachments".into(), json!([attachment]));
    Value::Object(body)
}

/// A Slack action button or menu, its texts rendered, empty keys left out.
fn slack_action(a: &crate::config::SlackAction, texts: &Texts<'_>) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in [
        ("type", texts.text(&a.type_)),
        ("text", texts.text(&a.text)),
        ("url", texts.text(&a.url)),
        ("style", texts.text(&a.style)),
        ("name", texts.text(&a.name)),
        ("value", texts.text(&a.value)),
    ] {
        if !value.is_empty() || key == "type" || key == "text" {
            out.insert(key.into(), json!(value));
        }
    }
    if let Some(c) = &a.confirm {
        out.insert(
            "confirm".into(),
            json!({
                "text": texts.text(&c.text),
                "dismiss_text": texts.text(&c.dismiss_text),
                "ok_text": texts.text(&c.ok_text),
                "title": texts.text(&c.title),
            }),
        );
    }
    Value::Object(out)
}

/// PagerDuty's Events API v2 event as Alertmanager sends it: `dedup_key` the SHA-256 of
/// the group key, severity `error` unless configured, the summary, client and details
/// rendered (Alertmanager's default texts where not configured; the default details
/// `firing`, `resolved`, `num_firing` and `num_resolved` beside the configured ones).
fn pagerduty_json(
    n: &Notification,
    p: &crate::config::PagerdutyConfig,
    texts: &Texts<'_>,
) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let plain = |text: &Option<String>| text.as_deref().map(|t| texts.text(t)).unwrap_or_default();
    let firing = n.alerts.iter().any(|a| !a.resolved(n.at));
    let mut details: BTreeMap<String, String> = [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    details.extend(p.details.clone());
    let details: serde_json::Map<String, Value> = details
        .iter()
        .map(|(k, v)| (k.clone(), json!(texts.text(v))))
        .collect();
    let client = field(&p.client, "pagerduty.default.client");
    let source = match &p.source {
        Some(s) => texts.text(s),
        None => client.clone(),
    };
    let severity = match p.severity.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => texts.text(s),
        None => "error".into(),
    };
    let mut payload = serde_json::Map::new();
    payload.insert(
        "summary".into(),
        json!(truncate_runes(
            &field(&p.description, "pagerduty.default.description"),
            1024
        )),
    );
    payload.insert("source".into(), json!(source));
    payload.insert("severity".into(), json!(severity));
    payload.insert("custom_details".into(), Value::Object(details));
    for (key, value) in [
        ("class", plain(&p.class)),
        ("component", plain(&p.component)),
        ("group", plain(&p.group)),
    ] {
        if !value.is_empty() {
            payload.insert(key.into(), json!(value));
        }
    }
    let mut event = serde_json::Map::new();
    event.insert(
        "routing_key".into(),
        json!(
            texts.text(
                &p.routing_key
                    .clone()
                    .or_else(|| p.service_key.clone())
                    .unwrap_or_default()
            )
        ),
    );
    event.insert("dedup_key".into(), json!(group_key_hash(&n.group_key)));
    event.insert(
        "event_action".into(),
        json!(if firing { "trigger" } else { "resolve" }),
    );
    event.insert("payload".into(), Value::Object(payload));
    let images: Vec<Value> = p
        .images
        .iter()
        .map(|i| json!({"src": texts.text(&i.src), "alt": texts.text(&i.alt), "href": texts.text(&i.href)}))
        .collect();
    if !images.is_empty() {
        event.insert("images".into(), json!(images));
    }
    let links: Vec<Value> = p
        .links
        .iter()
        .map(|l| json!({"href": texts.text(&l.href), "text": texts.text(&l.text)}))
        .collect();
    if !links.is_empty() {
        event.insert("links".into(), json!(links));
    }
    event.insert("client".into(), json!(client));
    event.insert(
        "client_url".into(),
        json!(field(&p.client_url, "pagerduty.default.clientURL")),
    );
    Value::Object(event)
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

    /// The texts of `n` with Alertmanager's default templates, external URL `http://sky`.
    fn texts(n: &Notification) -> Texts<'static> {
        static DEFAULTS: std::sync::LazyLock<Templates> =
            std::sync::LazyLock::new(Templates::defaults);
        Texts::new(&DEFAULTS, n, "http://sky", 300_000)
    }

    #[test]
    fn slack_gets_alertmanagers_attachment() {
        let n = &notifications(
            "    slack_configs:\n      - api_url: http://x/slack\n",
            false,
        )[0];
        let r = n.receiver.slack_configs[0].clone();
        assert_eq!(
            slack_json(&r, &texts(n)),
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
            pagerduty_json(n, &p, &texts(n)),
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
        let body = pagerduty_json(n, &p, &texts(n));
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
