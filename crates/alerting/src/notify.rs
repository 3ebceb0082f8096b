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

mod discord;
mod email;
mod jira;
mod msteams;
mod opsgenie;
mod pagerduty;
mod pushover;
mod rocketchat;
mod slack;
mod sns;
mod telegram;
mod texts;
mod victorops;
mod webex;
mod wechat;
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
    Email(Box<crate::smtp::Server>, crate::smtp::Mail),
    /// An AWS API call, signed with Signature Version 4 when it is sent.
    Aws(AwsCall),
}

/// One call of an AWS API of the query protocol (SNS's `Publish`), sent through the
/// integration's client (`http_config`'s TLS and proxy; its credentials are not used, as
/// the signature is the `Authorization`), signed with credentials found as the AWS SDK
/// finds them, and retried as the SDK retries (5xx answers and throttling).
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// The service as it signs (`sns`).
    pub service: &'static str,
    /// Where it goes: the configured API URL or the service's in the region, with the
    /// path `/` appended as the SDK appends it.
    pub url: String,
    /// The region (found already), keys, profile and role to sign with.
    pub settings: aws::Settings,
    /// The API's `Action` (`Publish`).
    pub operation: &'static str,
    /// The API's `Version` (`2010-03-31`).
    pub version: &'static str,
    /// The other parameters, sent sorted by name. Values are bytes, as Go's strings are:
    /// a message cut as Alertmanager cuts it may end inside a character.
    pub params: Vec<(String, Vec<u8>)>,
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
    /// What makes its answer a success, and what is read from it.
    pub answer: Answer,
}

/// How an answer is judged, as each Alertmanager integration judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx status succeeds (Alertmanager's `Retrier`).
    Status,
    /// JSON with `"ok": true` succeeds, whatever the status; otherwise its `description`
    /// and `error_code` are the error (Telegram's Bot API, as the telebot library reads it).
    Telegram,
    /// Status 200 and JSON whose `code` (Alertmanager 0.25's name) and `errcode` (the
    /// API's, which later Alertmanager versions read) are 0 or absent succeed; 42001 (the
    /// token expired) also forgets the integration's kept token (WeChat).
    Wechat,
    /// The JSON answer's string `field` is a token, whatever the status: the integration
    /// keeps it for `keep` (until the configuration changes) and later requests of the
    /// same notification carry it, URL-encoded, in place of `{field}` in their URL. While
    /// a token is kept this request is not made (WeChat's `gettoken`).
    Token {
        /// The answer's key, and the placeholder's name.
        field: &'static str,
        /// How long the token is used before it is asked for again.
        keep: Duration,
    },
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
            answer: Answer::Status,
        }
    }

    /// A GET of `url`, no body.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: Body::Empty,
            answer: Answer::Status,
        }
    }

    /// The same judged by `answer`.
    pub fn answer(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }

    /// The same with header `name: value` too.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The request made with `client` to `url` (this request's, a token put in), its
    /// body and headers set.
    fn build(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        let mut r = client.request(self.method.clone(), url);
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
    /// Where it goes: the last request's URL (a token asked for first is not where the
    /// notification goes), or the mail's recipients.
    pub fn target(&self) -> String {
        match self {
            Payload::Http(requests) => requests.last().map(|r| r.url.clone()).unwrap_or_default(),
            Payload::Exchange(request, _) => request.url.clone(),
            Payload::Email(_, mail) => mail.to.join(", "),
            Payload::Aws(call) => call.url.clone(),
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
            Payload::Aws(call) => {
                let mut params: Vec<_> = call.params.iter().collect();
                params.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out = format!(
                    "POST {} (signed for {} in {})\nAction={}\n",
                    call.url, call.service, call.settings.region, call.operation
                );
                for (k, v) in params {
                    out.push_str(&format!("{k}={}\n", String::from_utf8_lossy(v)));
                }
                out.push_str(&format!("Version={}\n", call.version));
                out
            }
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
    /// What was sent, as rendered: each request's method, URL, headers and body, or
    /// the whole email (older entries have none).
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

/// An integration: its receiver's name, its kind and its index.
type IntegrationKey = (String, &'static str, usize);

/// HTTP clients by integration.
type Clients = std::collections::HashMap<IntegrationKey, (reqwest::Client, httpclient::Auth)>;

/// Tokens an integration was given ([`Answer::Token`]) and when, by integration.
type Tokens = std::collections::HashMap<IntegrationKey, (String, std::time::Instant)>;

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
    /// Each integration's kept token, dropped when the configuration changes as
    /// Alertmanager drops it with the integration when it reloads.
    tokens: Mutex<Tokens>,
    /// Each AWS integration's client, which keeps the credentials it found (an assumed
    /// role's for 10 minutes), made and dropped as `clients` are.
    aws: Mutex<std::collections::HashMap<IntegrationKey, Arc<aws::Aws>>>,
    /// Delays between tries of a failed delivery.
    backoff: Vec<Duration>,
    /// The configuration's `templates:` files over Alertmanager's default texts.
    templates: std::sync::RwLock<Arc<Templates>>,
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
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
            tokens: Mutex::default(),
            aws: Mutex::default(),
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
        lock(&self.tokens).clear();
        lock(&self.aws).clear();
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
        // Integration `index` of `r.$configs`, if it has one, as `$payload` says, sent
        // with its `http_config`.
        macro_rules! integration {
            ($configs:ident, |$c:ident| $payload:expr) => {
                match r.$configs.get(index) {
                    Some($c) => Some(Rendered {
                        payload: $payload,
                        http: $c.http_config.clone().unwrap_or_default(),
                    }),
                    None => None,
                }
            };
        }
        let post = |url: String, body: Value| Payload::Http(vec![Request::post_json(url, body)]);
        let out = match n.integration.kind {
            "webhook" => integration!(webhook_configs, |c| post(
                secret(&Some(c.url.clone()), &c.url_file)?,
                n.webhook_json(&self.external_url, c.max_alerts),
            )),
            "email" => match r.email_configs.get(index) {
                Some(e) => Some(Rendered {
                    payload: email::payload(e, &texts)?,
                    http: Default::default(),
                }),
                None => None,
            },
            "pagerduty" => integration!(pagerduty_configs, |c| Payload::Http(vec![
                pagerduty::request(n, c, &global, &texts)?
            ])),
            "opsgenie" => integration!(opsgenie_configs, |c| Payload::Http(opsgenie::requests(
                n, c, &texts
            )?)),
            "wechat" => integration!(wechat_configs, |c| Payload::Http(wechat::requests(
                c, &texts
            ))),
            "slack" => integration!(slack_configs, |c| {
                let url = match secret(&c.api_url, &c.api_url_file)? {
                    url if url.is_empty() => {
                        secret(&global.slack_api_url, &global.slack_api_url_file)?
                    }
                    url => url,
                };
                post(url, slack::json(c, &texts))
            }),
            "victorops" => integration!(victorops_configs, |c| Payload::Http(vec![
                victorops::request(n, c, &texts)?
            ])),
            "pushover" => integration!(pushover_configs, |c| Payload::Http(vec![
                pushover::request(c, &texts, &pushover::api_url())
            ])),
            "sns" => integration!(sns_configs, |c| Payload::Aws(sns::call(
                n,
                c,
                &texts,
                &aws::Environment::of_process()
            )?)),
            "telegram" => integration!(telegram_configs, |c| Payload::Http(vec![
                telegram::request(c, &texts)
            ])),
            "discord" => integration!(discord_configs, |c| post(
                c.webhook_url.clone().unwrap_or_default(),
                discord::json(n, c, &texts)
            )),
            "webex" => integration!(webex_configs, |c| Payload::Http(vec![webex::request(
                c, &texts
            )])),
            "msteams" => integration!(msteams_configs, |c| Payload::Http(vec![msteams::request(
                n, c, &texts
            )?])),
            "jira" => integration!(jira_configs, |c| jira::payload(n, c, &texts)?),
            "rocketchat" => integration!(rocketchat_configs, |c| rocketchat::payload(c, &texts)?),
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
        let key = integration_key(n);
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        let made = (http.client()?, http.auth()?);
        lock(&self.clients).insert(key, made.clone());
        Ok(made)
    }

    /// The AWS client of `n`'s integration for `call`, made with `http` the first time
    /// and kept until the configuration changes.
    fn aws(
        &self,
        n: &Notification,
        call: &AwsCall,
        http: &httpclient::config::HttpClientConfig,
    ) -> Result<Arc<aws::Aws>, String> {
        let key = integration_key(n);
        if let Some(c) = lock(&self.aws).get(&key) {
            return Ok(c.clone());
        }
        let made = Arc::new(aws::Aws::new(
            (call.service, call.service),
            call.settings.clone(),
            (http, TIMEOUT),
            aws::Environment::of_process(),
        )?);
        lock(&self.aws).insert(key, made.clone());
        Ok(made)
    }

    /// Makes `payload`'s requests one after the other (an exchange's answer deciding what
    /// follows), makes its AWS call or sends its mail. An error names the integration and
    /// the URL without its query, which may hold credentials.
    async fn send(&self, n: &Notification, rendered: &Rendered) -> Result<(), Failure> {
        match &rendered.payload {
            Payload::Email(server, mail) => {
                return Ok(crate::smtp::send(server, mail, now_ms()).await?);
            }
            Payload::Aws(call) => return Ok(self.call_aws(n, call, &rendered.http).await?),
            Payload::Http(_) | Payload::Exchange(..) => {}
        }
        let client = self.client(n, &rendered.http)?;
        let mut token = None;
        let mut next = self.step(n, &client, &rendered.payload, &mut token).await?;
        while let Some(payload) = next {
            next = self.step(n, &client, &payload, &mut token).await?;
        }
        Ok(())
    }

    /// Makes `call`, signed.
    async fn call_aws(
        &self,
        n: &Notification,
        call: &AwsCall,
        http: &httpclient::config::HttpClientConfig,
    ) -> Result<(), String> {
        let failed = |e: String| format!("{}: {e}", call.service);
        let client = self.aws(n, call, http).map_err(failed)?;
        let session = client.session().await.map_err(failed)?;
        let params = call.params.iter().map(|(k, v)| (k.clone(), v));
        let body = aws::Call::query(call.operation, call.version, params);
        client
            .call_at(&call.url, &session, &body)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    /// Makes `payload`'s requests; for an exchange, what its answer says comes next.
    /// `token` is the token an earlier request was given ([`Answer::Token`]).
    async fn step(
        &self,
        n: &Notification,
        client: &(reqwest::Client, httpclient::Auth),
        payload: &Payload,
        token: &mut Option<(&'static str, String)>,
    ) -> Result<Option<Payload>, Failure> {
        match payload {
            Payload::Http(requests) => {
                for r in requests {
                    self.make(n, client, r, token).await?;
                }
                Ok(None)
            }
            Payload::Exchange(request, then) => {
                let answer = self.make(n, client, request, token).await?;
                let shown = request.url.split('?').next().unwrap_or_default();
                Ok(then
                    .next(&answer)
                    .map(Some)
                    .map_err(|e| format!("{}: {shown}: {e}", n.integration.kind))?)
            }
            Payload::Email(..) | Payload::Aws(_) => Err(Failure::from(format!(
                "{}: only HTTP requests can follow an HTTP answer",
                n.integration.kind
            ))),
        }
    }

    /// Makes request `r` of `n`'s integration, its answer judged as `r.answer` says;
    /// the answer's body. A token request whose token is kept is not made.
    async fn make(
        &self,
        n: &Notification,
        (client, auth): &(reqwest::Client, httpclient::Auth),
        r: &Request,
        token: &mut Option<(&'static str, String)>,
    ) -> Result<String, Failure> {
        let key = integration_key(n);
        let kind = n.integration.kind;
        let mut url = r.url.clone();
        if let Some((field, value)) = token.as_ref() {
            url = url.replace(&format!("{{{field}}}"), &gotemplate::query_escape(value));
        }
        // Named without its query, which may hold secrets (Pushover's token, WeChat's
        // corpsecret).
        let shown = url.split('?').next().unwrap_or_default().to_owned();
        if let Answer::Token { field, keep } = r.answer {
            let kept = lock(&self.tokens)
                .get(&key)
                .filter(|(_, at)| at.elapsed() <= keep)
                .map(|(value, _)| value.clone());
            if let Some(value) = kept {
                *token = Some((field, value));
                return Ok(String::new());
            }
        }
        let request = auth.apply(r.build(client, &url).timeout(TIMEOUT)).await?;
        let resp = request
            .send()
            .await
            .map_err(|e| format!("{kind}: {shown}: {}", e.without_url()))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let judged = judge(r.answer, status, &text);
        if r.answer == Answer::Wechat && matches!(judged, Err((Some(42001), _))) {
            lock(&self.tokens).remove(&key);
        }
        match judged {
            Ok(Some(value)) => {
                if let Answer::Token { field, .. } = r.answer {
                    lock(&self.tokens).insert(key, (value.clone(), std::time::Instant::now()));
                    *token = Some((field, value));
                }
            }
            Ok(None) => {}
            Err((code, e)) => {
                return Err(Failure {
                    retry: retry(r.answer, status, code),
                    message: format!("{kind}: {shown} answered {status}: {e}"),
                });
            }
        }
        Ok(text)
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
                entry.target = redact(&rendered.payload.target());
                entry.rendered = redact(&rendered.payload.describe(now_ms()));
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
                        Err(Failure { retry, message }) => {
                            entry.error = message;
                            // An answer that would be the same again is not asked again.
                            if !retry {
                                entry.outcome = "failed".into();
                                break;
                            }
                        }
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

/// Which integration `n` is for.
fn integration_key(n: &Notification) -> IntegrationKey {
    (
        n.receiver.name.value.clone(),
        n.integration.kind,
        n.integration.index,
    )
}

/// Whether an answer (`status`, body `text`) is a success as `answer` judges it: the
/// token it gives, if any; or the answer's own error code (WeChat's, Telegram's) and
/// what went wrong.
fn judge(
    answer: Answer,
    status: reqwest::StatusCode,
    text: &str,
) -> Result<Option<String>, (Option<i64>, String)> {
    let short = || {
        let cut: String = text.trim().chars().take(200).collect();
        cut
    };
    let json = || {
        serde_json::from_str::<Value>(text)
            .map_err(|_| (None, format!("not the JSON expected: {}", short())))
    };
    let code = |v: &Value, key: &str| v.get(key).and_then(Value::as_i64).unwrap_or(0);
    let string = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match answer {
        Answer::Status if status.is_success() => Ok(None),
        Answer::Status => Err((None, short())),
        Answer::Telegram => {
            let v = json()?;
            if v.get("ok") == Some(&Value::Bool(true)) {
                return Ok(None);
            }
            let error = code(&v, "error_code");
            Err((
                Some(error),
                format!("{} (error_code {error})", string(&v, "description")),
            ))
        }
        Answer::Wechat if status != reqwest::StatusCode::OK => Err((None, short())),
        Answer::Wechat => {
            let v = json()?;
            match (code(&v, "code"), code(&v, "errcode")) {
                (0, 0) => Ok(None),
                (0, error) => Err((
                    Some(error),
                    format!("{} (errcode {error})", string(&v, "errmsg")),
                )),
                (error, _) => Err((
                    Some(error),
                    format!("{} (code {error})", string(&v, "error")),
                )),
            }
        }
        Answer::Token { field, .. } => {
            let v = json()?;
            match string(&v, field) {
                value if value.is_empty() => Err((None, format!("no {field} in {}", short()))),
                value => Ok(Some(value)),
            }
        }
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

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug)]
struct Failure {
    retry: bool,
    message: String,
}

/// A failure before any answer (a connection, a secret file, TLS): tried again.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            retry: true,
            message,
        }
    }
}

/// Whether an answer that failed as `answer` judges it (`status`, the answer's own error
/// `code`) is worth asking again, as each Alertmanager integration decides: a 5xx or 429
/// status (Alertmanager's `Retrier`), any Telegram failure, WeChat's expired token (42001).
fn retry(answer: Answer, status: reqwest::StatusCode, code: Option<i64>) -> bool {
    match answer {
        Answer::Status => {
            status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        }
        Answer::Telegram => true,
        Answer::Wechat => code == Some(42001) || status.is_server_error(),
        Answer::Token { .. } => status.is_server_error(),
    }
}

/// `text` (a notification as [`Payload::describe`] writes it, or a URL) with the secrets
/// integrations send in the clear written `<secret>`, for the notification log, which the
/// API serves: credentials in headers (`Authorization`, Opsgenie's `GenieKey`,
/// Rocket.Chat's `X-Auth-Token` and `X-User-Id`), in query strings (Pushover's `token` and
/// `user`, WeChat's `corpsecret` and `access_token`), in paths (Telegram's `bot<token>`,
/// VictorOps's API key before the routing key) and in bodies (PagerDuty's `routing_key` and
/// `service_key`). `skywatch test notifications` shows them, as the user's own.
pub fn redact(text: &str) -> String {
    static RULES: std::sync::LazyLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::LazyLock::new(|| {
            [
                (r"(?mi)^(authorization: (?:\S+ )?)\S+$", "${1}<secret>"),
                (r"(?mi)^(x-auth-token|x-user-id): .*$", "${1}: <secret>"),
                (
                    // A `{placeholder}` for a token asked for first is not one.
                    r"([?&](?:token|user|corpsecret|access_token)=)[^&\s{][^&\s]*",
                    "${1}<secret>",
                ),
                (r"(/bot)[^/\s]+(/)", "${1}<secret>${2}"),
                (
                    r#"("(?:routing_key|service_key)": ")[^"]*(")"#,
                    "${1}<secret>${2}",
                ),
                (
                    r"(/integrations/generic/\d+/alert/)[^/\s]+(/)",
                    "${1}<secret>${2}",
                ),
            ]
            .into_iter()
            .filter_map(|(re, with)| Some((regex::Regex::new(re).ok()?, with)))
            .collect()
        });
    RULES.iter().fold(text.to_owned(), |t, (re, with)| {
        re.replace_all(&t, *with).into_owned()
    })
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

/// `s` escaped as Go's `url.URL.String` escapes a path: letters, digits, `-_.~` and
/// `$&+,/:;=@` kept, every other byte as `%XX`.
fn go_path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
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

    /// The `templates:` file of the custom-text runs of `am-capture.py`.
    pub(crate) const CAPTURED_TEMPLATES: &str = r#"{{ define "my.title" }}[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }} <b>&{{ end }}
{{ define "my.text" }}{{ range .Alerts }}{{ .Status }}: {{ .Labels.instance }} {{ .Annotations.summary }} <i>&"'
{{ end }}{{ end }}
{{ define "esc.text" }}{{ "<b>&\"'" }} {{ .CommonAnnotations.summary }} {{ .GroupLabels.alertname | safeHtml }}{{ end }}
"#;

    /// The texts of `n` as `am-capture.py`'s Alertmanager renders them: external URL
    /// `http://alertmanager.example`, the default templates and the `templates:` file
    /// `file` if given.
    pub(crate) fn captured_texts(n: &Notification, file: Option<&str>) -> Texts<'static> {
        let mut templates = Templates::defaults();
        if let Some(text) = file {
            templates.add("captured.tmpl", text).unwrap();
        }
        let templates: &'static Templates = Box::leak(Box::new(templates));
        Texts::new(templates, n, "http://alertmanager.example", 300_000)
    }

    /// The texts of `n` with Alertmanager's default templates, external URL `http://sky`.
    pub(crate) fn texts(n: &Notification) -> Texts<'static> {
        texts_at(n, "http://sky")
    }

    /// The same with external URL `external_url`.
    pub(crate) fn texts_at(n: &Notification, external_url: &str) -> Texts<'static> {
        static DEFAULTS: std::sync::LazyLock<Templates> =
            std::sync::LazyLock::new(Templates::defaults);
        Texts::new(&DEFAULTS, n, external_url, 300_000)
    }

    /// A configuration routing every alert to receiver `r` (`receiver`'s YAML), grouped
    /// by `alertname` at once.
    fn config_r(receiver: &str) -> crate::Config {
        crate::Config::parse(
            &format!(
                "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 0s\nreceivers:\n  - name: r\n{receiver}"
            ),
            "am.yml",
        )
        .unwrap()
    }

    /// The external URL `am-capture.py` gives Alertmanager.
    pub(crate) const CAPTURE_URL: &str = "http://alertmanager.example";

    /// The notification of `am-capture.py`'s scenario, to compare with what it printed:
    /// receiver `r` (`receiver`'s YAML) grouping by `alertname`, alerts `Down` of
    /// `instance` `a` and `b` (severity `critical`, summary `a is down`, generator URL
    /// `http://prometheus.example/graph`) firing; with `resolved` 1, `a` then resolved
    /// (`--resolve`), with 2 both at once (`--resolve-all`, a variant of the script).
    pub(crate) fn captured(receiver: &str, resolved: usize) -> Notification {
        let mut d = Dispatcher::new(config_r(receiver), Silences::default());
        let down = |instance: &str, ends_at, updated_at| Alert {
            labels: [
                ("alertname", "Down"),
                ("instance", instance),
                ("severity", "critical"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
            annotations: [("summary".to_owned(), format!("{instance} is down"))].into(),
            starts_at: 1_000,
            ends_at,
            generator_url: "http://prometheus.example/graph".into(),
            updated_at,
        };
        d.put(down("a", None, 1_000), 1_000);
        d.put(down("b", None, 1_000), 1_000);
        let mut sent = d.flush(1_000);
        if resolved > 0 {
            for n in &sent {
                d.notified(n, true, 1_000);
            }
            // Both sent again, as am-capture.py does, ended or still firing.
            for (i, instance) in ["a", "b"].into_iter().enumerate() {
                d.put(
                    down(instance, (i < resolved).then_some(2_000), 2_000),
                    2_000,
                );
            }
            // The group's next turn, after group_interval (5m).
            sent = d.flush(301_000);
        }
        sent.remove(0)
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
                    (status, [("content-type", "application/json")], body)
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
        recorder_answering(|_| (200, "ok".to_owned())).await
    }

    /// The same answering each request as `answer` says from its path and query: a
    /// status and a body.
    pub(crate) async fn recorder_answering(
        answer: impl Fn(&str) -> (u16, String) + Clone + Send + Sync + 'static,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<(String, String, String)>,
    ) {
        let (addr, mut received) = fake(move |r| answer(&r.uri)).await;
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

    /// Fires alert `Down` in `service` as [`fire_down`] does; the outcome and error of
    /// its delivery, as logged.
    pub(crate) async fn outcome(service: &Service) -> (String, String) {
        fire_down(service).await;
        let entry = service.log.query(None, 1).remove(0);
        (entry.outcome, entry.error)
    }

    /// A service (external URL `http://sky`, a failed delivery tried three times 1 ms apart) routing every alert
    /// to receiver `r` with `receiver`'s integrations, grouped by `alertname` at once.
    pub(crate) fn service(receiver: &str) -> Service {
        Service::new(
            Dispatcher::new(config_r(receiver), Silences::default()),
            NotificationLog::in_memory(),
            "http://sky".into(),
        )
        .with_backoff(vec![Duration::from_millis(1), Duration::from_millis(1)])
    }

    /// The error of alert `Down` delivered, and failing, to receiver `r` with
    /// `receiver(address)`'s integrations, address that of an endpoint answering `status`.
    pub(crate) async fn failure(
        status: u16,
        receiver: impl Fn(std::net::SocketAddr) -> String,
    ) -> (std::net::SocketAddr, String) {
        let (addr, _seen) = recorder_answering(move |_| (status, "{}".to_owned())).await;
        let service = service(&receiver(addr));
        fire_down(&service).await;
        let entry = service.log.query(None, 1).remove(0);
        assert_eq!(entry.outcome, "failed");
        (addr, entry.error)
    }

    /// Fires alert `Down` (summary `it is down`) now in `service`; the notifications due
    /// at once.
    pub(crate) fn due_down(service: &Service) -> Vec<Notification> {
        let now = now_ms();
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
    }

    /// The same, delivered; how many notifications were delivered.
    pub(crate) async fn fire_down(service: &Service) -> usize {
        let due = due_down(service);
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
            lines.iter().any(|l| l.contains("summary =3D it is down")),
            "Alertmanager's default HTML, quoted-printable: {lines:?}"
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

    #[tokio::test]
    async fn a_refusal_is_not_asked_again_and_an_outage_is() {
        for (status, attempts) in [(400, 1), (429, 3), (503, 3)] {
            let (addr, _seen) = testing::recorder_answering(move |_| (status, "{}".into())).await;
            let service = testing::service(&format!(
                "    webhook_configs:\n      - url: http://{addr}/hook\n"
            ));
            testing::fire_down(&service).await;
            let entry = service.log.query(None, 1).remove(0);
            assert_eq!(
                (entry.outcome.as_str(), entry.attempts),
                ("failed", attempts),
                "{status}: {}",
                entry.error
            );
        }
    }

    #[test]
    fn the_log_keeps_no_credentials() {
        let described = "POST https://api.pushover.net/1/messages.json?message=hi&token=tok1&user=usr1\nContent-Type: text/plain\n\nPOST http://og/v2/alerts\nAuthorization: GenieKey key1\nX-Auth-Token: rc1\n{\n  \"routing_key\": \"rk1\",\n  \"summary\": \"token=shown\"\n}\nPOST https://api.telegram.org/botbt1/sendMessage\nGET http://wx/cgi-bin/gettoken?corpid=c&corpsecret=cs1\nPOST https://alert.victorops.com/integrations/generic/20131114/alert/vk1/team\n";
        let redacted = redact(described);
        for secret in ["tok1", "usr1", "key1", "rc1", "rk1", "bt1", "cs1", "vk1"] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        for kept in [
            "message=hi",
            "corpid=c",
            "GenieKey <secret>",
            "\"summary\": \"token=shown\"",
            "/team",
        ] {
            assert!(redacted.contains(kept), "{kept} not in {redacted}");
        }
    }

    #[test]
    fn long_texts_are_cut_as_alertmanager_cuts_them() {
        assert_eq!(truncate_runes("abcdef", 6), "abcdef");
        assert_eq!(truncate_runes("abcdéfg", 6), "abcdé…");
        assert_eq!(truncate_runes("abcdef", 3), "abc");
    }
}
