//! Sending: the dispatcher run on a clock, each notification sent to every integration of
//! its receiver with retries and backoff, and every outcome appended to a durable
//! notification log (JSON lines) that survives restarts and answers queries.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dispatch::{Dispatcher, Notification};
use crate::template::Templates;

mod email;
mod jira;
mod msteams;
mod pagerduty;
mod rocketchat;
mod slack;
mod texts;
use texts::Texts;

/// What an integration is given: the requests it makes, in order, or a mail.
#[derive(Debug)]
pub enum Payload {
    /// HTTP requests, made one after the other through the integration's client
    /// (`http_config`); the delivery fails at the first that does not succeed.
    Http(Vec<Request>),
    /// A request whose answer decides what is sent next (Jira looks its issue up before
    /// creating or updating it; Rocket.Chat answers a failure with 200 and
    /// `"success": false`): made through the integration's client, then its answer given
    /// to [`Then`], whose payload is sent in turn.
    Exchange(Box<Request>, Then),
    /// A message for an SMTP server.
    Email(crate::smtp::Server, crate::smtp::Mail),
}

/// One HTTP request of an integration.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST` mostly.
    pub method: reqwest::Method,
    /// Where it goes.
    pub url: String,
    /// Headers beside those of `http_config` and the body's `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// What it carries.
    pub body: Body,
}

/// A request's body.
#[derive(Debug, Clone)]
pub enum Body {
    /// None.
    Empty,
    /// JSON, `Content-Type: application/json`.
    Json(Value),
    /// A form, `Content-Type: application/x-www-form-urlencoded`, fields in this order.
    Form(Vec<(String, String)>),
}

/// What follows a request of [`Payload::Exchange`]: given the answer's body (the
/// status was a success), the next payload, or an error that fails the delivery.
#[derive(Clone)]
pub struct Then {
    /// What follows, as people read it (shown by [`Payload::describe`]).
    pub note: String,
    next: Arc<Next>,
}

/// The function of a [`Then`].
type Next = dyn Fn(&str) -> Result<Payload, String> + Send + Sync;

impl Then {
    /// `next` after the answer, described by `note`.
    pub fn new(
        note: impl Into<String>,
        next: impl Fn(&str) -> Result<Payload, String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            note: note.into(),
            next: Arc::new(next),
        }
    }

    /// What follows an answer whose body is `answer`.
    pub fn next(&self, answer: &str) -> Result<Payload, String> {
        (self.next)(answer)
    }
}

impl std::fmt::Debug for Then {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Then").field("note", &self.note).finish()
    }
}

impl Request {
    /// A POST of `body` as JSON to `url`.
    pub fn post_json(url: impl Into<String>, body: Value) -> Self {
        Self {
            method: reqwest::Method::POST,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Json(body),
        }
    }

    /// The same with header `name: value` too.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The request made with `client`, its body and headers set.
    fn build(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut r = client.request(self.method.clone(), &self.url);
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        match &self.body {
            Body::Empty => r,
            Body::Json(v) => r
                .header("content-type", "application/json")
                .body(serde_json::to_vec(v).unwrap_or_default()),
            Body::Form(fields) => r
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish(),
                ),
        }
    }
}

impl Payload {
    /// Where it goes: the first request's URL, or the mail's recipients.
    pub fn target(&self) -> String {
        match self {
            Payload::Http(requests) => requests.first().map(|r| r.url.clone()).unwrap_or_default(),
            Payload::Exchange(request, _) => request.url.clone(),
            Payload::Email(_, mail) => mail.to.join(", "),
        }
    }

    /// What is sent, as people read it: each request's method, URL, own headers and body
    /// (JSON indented), or the whole mail; `now` (ms) dates the mail.
    pub fn describe(&self, now: i64) -> String {
        let describe = |r: &Request| {
            let mut out = format!("{} {}\n", r.method, r.url);
            for (k, v) in &r.headers {
                out.push_str(&format!("{k}: {v}\n"));
            }
            match &r.body {
                Body::Empty => {}
                Body::Json(v) => {
                    out.push_str(&serde_json::to_string_pretty(v).unwrap_or_default());
                    out.push('\n');
                }
                Body::Form(fields) => {
                    for (k, v) in fields {
                        out.push_str(&format!("{k}={v}\n"));
                    }
                }
            }
            out
        };
        match self {
            Payload::Http(requests) => requests.iter().map(describe).collect::<Vec<_>>().join("\n"),
            Payload::Exchange(request, then) => {
                format!("{}\nthen {}\n", describe(request), then.note)
            }
            Payload::Email(server, mail) => format!(
                "SMTP {} (MAIL FROM {})\n{}",
                server.smarthost,
                mail.from,
                crate::smtp::message(mail, now).replace("\r\n", "\n")
            ),
        }
    }
}

/// A secret given inline or in a file (read now, surrounding white space trimmed, as
/// Alertmanager reads `*_file` secrets at each notification); empty if neither.
pub(crate) fn secret(inline: &Option<String>, file: &Option<String>) -> Result<String, String> {
    match (inline.as_deref().filter(|s| !s.is_empty()), file) {
        (Some(s), _) => Ok(s.to_owned()),
        (None, Some(f)) if !f.is_empty() => std::fs::read_to_string(f)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("cannot read the secret file {f}: {e}")),
        _ => Ok(String::new()),
    }
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

/// How long one request of a notification may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP clients by receiver, integration kind and index.
type Clients =
    std::collections::HashMap<(String, &'static str, usize), (reqwest::Client, httpclient::Auth)>;

/// The dispatcher, the log and the integrations' HTTP clients, run together.
#[derive(Debug)]
pub struct Service {
    /// Alerts, silences, groups.
    pub dispatcher: Mutex<Dispatcher>,
    /// What was sent.
    pub log: NotificationLog,
    /// The server's address for links, as `externalURL`.
    pub external_url: String,
    /// Each HTTP integration's client and authentication, by receiver, kind and index,
    /// made at its first notification and dropped when the configuration changes.
    clients: Mutex<Clients>,
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
            clients: Mutex::default(),
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
        lock(&self.clients).clear();
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

    /// What `n` sends through its integration, its texts rendered; `Ok(None)` if the
    /// receiver has no such integration (the configuration changed meanwhile), an error
    /// if a text or a secret file cannot be read.
    pub fn render(&self, n: &Notification) -> Result<Option<Rendered>, String> {
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
        let http = |c: &Option<httpclient::config::HttpClientConfig>| c.clone().unwrap_or_default();
        let out = match n.integration.kind {
            "webhook" => match r.webhook_configs.get(index) {
                Some(w) => Some(Rendered {
                    payload: Payload::Http(vec![Request::post_json(
                        secret(&Some(w.url.clone()), &w.url_file)?,
                        n.webhook_json(&self.external_url, w.max_alerts),
                    )]),
                    http: http(&w.http_config),
                }),
                None => None,
            },
            "slack" => match r.slack_configs.get(index) {
                Some(s) => {
                    let url = match secret(&s.api_url, &s.api_url_file)? {
                        url if url.is_empty() => {
                            secret(&global.slack_api_url, &global.slack_api_url_file)?
                        }
                        url => url,
                    };
                    Some(Rendered {
                        payload: Payload::Http(vec![Request::post_json(
                            url,
                            slack::json(s, &texts),
                        )]),
                        http: http(&s.http_config),
                    })
                }
                None => None,
            },
            "pagerduty" => match r.pagerduty_configs.get(index) {
                Some(p) => Some(Rendered {
                    payload: Payload::Http(vec![pagerduty::request(n, p, &global, &texts)?]),
                    http: http(&p.http_config),
                }),
                None => None,
            },
            "msteams" => match r.msteams_configs.get(index) {
                Some(c) => Some(Rendered {
                    payload: Payload::Http(vec![msteams::request(n, c, &texts)?]),
                    http: http(&c.http_config),
                }),
                None => None,
            },
            "jira" => match r.jira_configs.get(index) {
                Some(c) => Some(Rendered {
                    payload: jira::payload(n, c, &texts)?,
                    http: http(&c.http_config),
                }),
                None => None,
            },
            "rocketchat" => match r.rocketchat_configs.get(index) {
                Some(c) => Some(Rendered {
                    payload: rocketchat::payload(c, &texts)?,
                    http: http(&c.http_config),
                }),
                None => None,
            },
            "email" => r.email_configs.get(index).map(|e| Rendered {
                payload: email::payload(n, e, &global, &texts, &self.external_url),
                http: Default::default(),
            }),
            _ => None,
        };
        texts.finish()?;
        Ok(out)
    }

    /// The client and authentication of `n`'s integration, made from `http` the first
    /// time and kept until the configuration changes.
    fn client(
        &self,
        n: &Notification,
        http: &httpclient::config::HttpClientConfig,
    ) -> Result<(reqwest::Client, httpclient::Auth), String> {
        let key = (
            n.receiver.name.value.clone(),
            n.integration.kind,
            n.integration.index,
        );
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let made = (http.client()?, http.auth()?);
        lock(&self.clients).insert(key, made.clone());
        Ok(made)
    }

    /// Makes `payload`'s requests one after the other (an exchange's answer deciding what
    /// follows), or sends its mail.
    async fn send(&self, n: &Notification, rendered: &Rendered) -> Result<(), String> {
        if let Payload::Email(server, mail) = &rendered.payload {
            return crate::smtp::send(server, mail, now_ms()).await;
        }
        let client = self.client(n, &rendered.http)?;
        let mut next = self.step(n, &client, &rendered.payload).await?;
        while let Some(payload) = next {
            next = self.step(n, &client, &payload).await?;
        }
        Ok(())
    }

    /// Makes request `r` of integration `kind`; the answer's body if its status is a
    /// success, else an error naming the integration, the URL and the answer.
    async fn make(
        kind: &str,
        client: &reqwest::Client,
        auth: &httpclient::Auth,
        r: &Request,
    ) -> Result<String, String> {
        let fail = |e: String| format!("{kind} to {}: {e}", r.url);
        let request = auth.apply(r.build(client).timeout(TIMEOUT)).await?;
        let resp = request.send().await.map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| fail(e.to_string()))?;
        if status.is_success() {
            return Ok(text);
        }
        let text: String = text.chars().take(200).collect();
        Err(fail(format!("answered {status}: {}", text.trim())))
    }

    /// Makes `payload`'s requests; for an exchange, what its answer says comes next.
    async fn step(
        &self,
        n: &Notification,
        (client, auth): &(reqwest::Client, httpclient::Auth),
        payload: &Payload,
    ) -> Result<Option<Payload>, String> {
        let make = |r| Self::make(n.integration.kind, client, auth, r);
        match payload {
            Payload::Http(requests) => {
                for r in requests {
                    make(r).await?;
                }
                Ok(None)
            }
            Payload::Exchange(request, then) => {
                let answer = make(request).await?;
                then.next(&answer)
                    .map(Some)
                    .map_err(|e| format!("{} to {}: {e}", n.integration.kind, request.url))
            }
            Payload::Email(..) => Err(format!(
                "{}: an email cannot follow an HTTP answer",
                n.integration.kind
            )),
        }
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
            Ok(Some(rendered)) => {
                entry.target = rendered.payload.target();
                entry.rendered = rendered.payload.describe(now_ms());
                let mut tries = std::iter::once(Duration::ZERO).chain(self.backoff.iter().copied());
                loop {
                    let Some(delay) = tries.next() else {
                        entry.outcome = "failed".into();
                        break;
                    };
                    tokio::time::sleep(delay).await;
                    entry.attempts += 1;
                    match self.send(&n, &rendered).await {
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

/// A notification rendered: what it sends, and the HTTP client settings it is sent with.
#[derive(Debug)]
pub struct Rendered {
    /// The requests or the mail.
    pub payload: Payload,
    /// The integration's `http_config` (the defaults for email).
    pub http: httpclient::config::HttpClientConfig,
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

/// `base` with `elem` joined to its path as Go's `URL.JoinPath` joins it (the path
/// cleaned of `.`, `..` and doubled slashes, a trailing slash of `elem` kept); `base`
/// unchanged but for its path. `base` was checked to be a URL when the file was read.
fn join_path(base: &str, elem: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("invalid URL {base:?}: {e}"))?;
    let mut parts: Vec<&str> = Vec::new();
    for part in url.path().split('/').chain(elem.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let mut path = format!("/{}", parts.join("/"));
    if elem.ends_with('/') && !path.ends_with('/') {
        path.push('/');
    }
    url.set_path(&path);
    Ok(url.to_string())
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

/// What the integrations' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::dispatch::Alert;
    use crate::silence::Silences;

    /// The notifications of one alert `Down` firing (and, if `resolved`, resolved),
    /// made by a dispatcher over `receiver`'s YAML.
    pub(crate) fn notifications(receiver: &str, resolved: bool) -> Vec<Notification> {
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
    pub(crate) fn texts(n: &Notification) -> Texts<'static> {
        static DEFAULTS: std::sync::LazyLock<Templates> =
            std::sync::LazyLock::new(Templates::defaults);
        Texts::new(&DEFAULTS, n, "http://sky", 300_000)
    }

    /// A request a [`fake`] endpoint received.
    #[derive(Debug, Clone)]
    pub(crate) struct Received {
        pub(crate) method: String,
        /// The path and query.
        pub(crate) uri: String,
        pub(crate) headers: axum::http::HeaderMap,
        pub(crate) body: String,
    }

    impl Received {
        /// Header `name`'s value, empty if absent.
        pub(crate) fn header(&self, name: &str) -> String {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        }
    }

    /// A fake HTTP endpoint on loopback: each request is sent on the channel and
    /// answered with the status and body `answer` gives for it.
    pub(crate) async fn fake(
        answer: impl Fn(&Received) -> (u16, String) + Clone + Send + Sync + 'static,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<Received>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: String| {
                let tx = tx.clone();
                let answer = answer.clone();
                async move {
                    let received = Received {
                        method: method.to_string(),
                        uri: uri.to_string(),
                        headers,
                        body,
                    };
                    let (status, body) = answer(&received);
                    let _ = tx.send(received);
                    let status = axum::http::StatusCode::from_u16(status)
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                    (status, body)
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, rx)
    }

    /// A fake HTTP endpoint on loopback that answers 200 and sends each request's
    /// path, `Authorization` header and body.
    pub(crate) async fn recorder() -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<(String, String, String)>,
    ) {
        let (addr, mut received) = fake(|_| (200, "ok".into())).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(r) = received.recv().await {
                if tx
                    .send((r.uri.clone(), r.header("authorization"), r.body))
                    .is_err()
                {
                    break;
                }
            }
        });
        (addr, rx)
    }

    /// A service whose one route (group by `alertname`, no group wait) goes to receiver
    /// `team`, whose integrations are `receiver`'s YAML; external URL `http://sky`, no
    /// waits between tries.
    pub(crate) fn service(receiver: &str) -> Service {
        let config = crate::Config::parse(
            &format!(
                "route:\n  receiver: team\n  group_by: [alertname]\n  group_wait: 0s\nreceivers:\n  - name: team\n{receiver}"
            ),
            "am.yml",
        )
        .unwrap();
        Service::new(
            Dispatcher::new(config, Silences::default()),
            NotificationLog::in_memory(),
            "http://sky".into(),
        )
        .with_backoff(Vec::new())
    }

    /// Fires alert `Down` in `service` as [`fire_down`] does; the outcome and error of
    /// its delivery, as logged.
    pub(crate) async fn outcome(service: &Service) -> (String, String) {
        fire_down(service).await;
        let entry = service.log.query(None, 1).remove(0);
        (entry.outcome, entry.error)
    }

    /// Fires alert `Down` (summary `it is down`) now in `service` and delivers what is
    /// due at once; returns how many notifications were delivered.
    pub(crate) async fn fire_down(service: &Service) -> usize {
        let now = now_ms();
        let due = {
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
        let count = due.len();
        for n in due {
            service.deliver(n).await;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let sent = testing::fire_down(&service).await;
        assert_eq!(sent, 2, "one per integration");
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

    #[tokio::test]
    async fn http_config_credentials_and_secret_files_are_used() {
        let (addr, mut requests) = testing::recorder().await;
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("url");
        std::fs::write(&url_file, format!("http://{addr}/from-file\n")).unwrap();
        let config = crate::Config::parse(
            &format!(
                "route:\n  receiver: r\n  group_wait: 0s\nreceivers:\n  - name: r\n    webhook_configs:\n      - url_file: {}\n        http_config:\n          basic_auth: {{username: u, password: p}}\n",
                url_file.display()
            ),
            "am.yml",
        )
        .unwrap();
        let service = Service::new(
            Dispatcher::new(config, Silences::default()),
            NotificationLog::in_memory(),
            "http://sky".into(),
        );
        testing::fire_down(&service).await;
        let (path, auth, body) = requests.recv().await.unwrap();
        assert_eq!(path, "/from-file");
        assert_eq!(auth, "Basic dTpw", "base64 of u:p");
        assert!(body.contains("\"receiver\":\"r\""), "{body}");
        assert_eq!(service.log.query(None, 1)[0].outcome, "sent");
    }

    #[test]
    fn paths_are_joined_as_gos_url_join_path_joins_them() {
        for (base, elem, joined) in [
            (
                "https://open.rocket.chat/",
                "api/v1/chat.postMessage",
                "https://open.rocket.chat/api/v1/chat.postMessage",
            ),
            (
                "https://open.rocket.chat",
                "api/v1/chat.postMessage",
                "https://open.rocket.chat/api/v1/chat.postMessage",
            ),
            (
                "http://jira/rest/api/2/",
                "/search",
                "http://jira/rest/api/2/search",
            ),
            (
                "http://jira/a//b/../c?x=1",
                "issue/",
                "http://jira/a/c/issue/?x=1",
            ),
        ] {
            assert_eq!(join_path(base, elem).unwrap(), joined);
        }
    }

    #[test]
    fn long_texts_are_cut_as_alertmanager_cuts_them() {
        assert_eq!(truncate_runes("abcdef", 6), "abcdef");
        assert_eq!(truncate_runes("abcdéfg", 6), "abcdé…");
        assert_eq!(truncate_runes("abcdef", 3), "abc");
    }
}
