//! A capture server on loopback for notification tests: an HTTP server that records every
//! request (method, path, headers, body) and answers as each integration's service answers
//! (Slack `ok`, PagerDuty 202 with JSON, SNS's XML, WeChat's token...), keeping PagerDuty
//! incidents by `dedup_key` as PagerDuty does; and minimal ESMTP servers (EHLO, AUTH PLAIN,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT; no STARTTLS) that record each message.
//!
//! Requests are told apart by path: `/<system>/<integration>/...`, so that one server serves
//! Alertmanager and Skywatch at once; each system gets its own SMTP port.
//!
//! For an integration whose URL cannot be configured (Pushover in Alertmanager 0.25), an
//! HTTPS proxy per system and integration ([`Capture::proxy`]): it answers `CONNECT`, speaks
//! TLS with a certificate for the requested host signed by the capture's own CA
//! ([`Capture::ca_file`]), and records what comes through as if sent to
//! `/<system>/<integration>/<path>`.

#![allow(dead_code, reason = "each test binary uses only some of the helpers")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// One request or message received.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The first path segment (`am`, `sky`), or the SMTP server's name.
    pub(crate) system: String,
    /// The second path segment (`slack`...), or `email`.
    pub(crate) integration: String,
    /// `POST`, `GET`..., or `SMTP`.
    pub(crate) method: String,
    /// The path after `/<system>/<integration>`, with the query.
    pub(crate) path: String,
    /// Header names in lower case (for mail, the message's headers).
    pub(crate) headers: BTreeMap<String, String>,
    /// The body (for mail, the message's body after its headers).
    pub(crate) body: String,
    /// For mail: the envelope, `MAIL FROM` and `RCPT TO` addresses, and AUTH's user.
    pub(crate) envelope: Vec<String>,
    /// When it arrived.
    pub(crate) at: Instant,
}

/// What PagerDuty knows of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incident {
    /// `triggered` or `resolved`.
    pub(crate) status: String,
    /// The systems (`am`, `sky`) that sent its events, in order.
    pub(crate) events: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    deliveries: Vec<Delivery>,
    incidents: BTreeMap<String, Incident>,
}

/// The running capture server; it stops with the test process.
pub(crate) struct Capture {
    /// The HTTP server's address.
    pub(crate) http: SocketAddr,
    smtp: BTreeMap<String, SocketAddr>,
    state: Arc<Mutex<State>>,
    /// The CA that signs the proxy's certificates, its PEM file in `dir`.
    ca: Arc<crate::common::TestCa>,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Handle,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Capture {
    /// Starts the HTTP server and one SMTP server per name in `smtp`, on 127.0.0.1:0.
    pub(crate) fn start(smtp: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let names: Vec<String> = smtp.iter().map(|s| (*s).to_owned()).collect();
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the capture server");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let http = listener.local_addr().unwrap();
                let s = shared.clone();
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let s = s.clone();
                        async move { answer(&s, method, uri, headers, body) }
                    },
                );
                tokio::spawn(async move { axum::serve(listener, app).await });
                let mut smtp = BTreeMap::new();
                for name in names {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    smtp.insert(name.clone(), listener.local_addr().unwrap());
                    let s = shared.clone();
                    tokio::spawn(async move {
                        while let Ok((conn, _)) = listener.accept().await {
                            let (s, name) = (s.clone(), name.clone());
                            tokio::spawn(async move {
                                let _ = smtp_session(conn, &s, &name).await;
                            });
                        }
                    });
                }
                tx.send((http, smtp, tokio::runtime::Handle::current()))
                    .unwrap();
                std::future::pending::<()>().await;
            });
        });
        let (http, smtp, runtime) = rx.recv().expect("the capture server starts");
        let ca = crate::common::test_ca();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Self {
            http,
            smtp,
            state,
            ca: Arc::new(ca),
            dir,
            runtime,
        }
    }

    /// The PEM file of the CA that signs the proxy's certificates, for `tls_config.ca_file`.
    pub(crate) fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Starts an HTTPS proxy whose traffic is recorded as `system`'s to `integration`;
    /// returns its URL, for `http_config.proxy_url`.
    pub(crate) fn proxy(&self, system: &str, integration: &str) -> String {
        let listener = self
            .runtime
            .block_on(async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() });
        let addr = listener.local_addr().unwrap();
        let (state, ca) = (self.state.clone(), self.ca.clone());
        let prefix = format!("/{system}/{integration}");
        self.runtime.spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (state, ca, prefix) = (state.clone(), ca.clone(), prefix.clone());
                tokio::spawn(async move {
                    let _ = proxy_session(conn, &state, &ca, &prefix).await;
                });
            }
        });
        format!("http://{addr}")
    }

    /// `http://127.0.0.1:PORT/<system>/<integration>`.
    pub(crate) fn url(&self, system: &str, integration: &str) -> String {
        format!("http://{}/{system}/{integration}", self.http)
    }

    /// The SMTP server named `name`, as `host:port`.
    pub(crate) fn smtp(&self, name: &str) -> String {
        self.smtp[name].to_string()
    }

    /// Everything received so far, in order.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).deliveries.clone()
    }

    /// PagerDuty's incidents by `dedup_key`.
    pub(crate) fn incidents(&self) -> BTreeMap<String, Incident> {
        lock(&self.state).incidents.clone()
    }
}

/// Records a request and answers it as the integration's service would.
fn answer(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut parts = uri.path().trim_start_matches('/').splitn(3, '/');
    let system = parts.next().unwrap_or_default().to_owned();
    let integration = parts.next().unwrap_or_default().to_owned();
    let rest = format!(
        "/{}{}",
        parts.next().unwrap_or_default(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut st = lock(state);
    st.deliveries.push(Delivery {
        system: system.clone(),
        integration: integration.clone(),
        method: method.to_string(),
        path: rest.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        envelope: Vec::new(),
        at: Instant::now(),
    });
    let json = |status: StatusCode, v: serde_json::Value| {
        (
            status,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    match integration.as_str() {
        "slack" => (StatusCode::OK, "ok").into_response(),
        "pagerduty" => {
            let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let key = event["dedup_key"].as_str().unwrap_or_default().to_owned();
            let action = event["event_action"].as_str().unwrap_or_default().to_owned();
            let incident = st.incidents.entry(key.clone()).or_insert(Incident {
                status: String::new(),
                events: Vec::new(),
            });
            incident.status = if action == "resolve" {
                "resolved".into()
            } else {
                "triggered".into()
            };
            incident.events.push((system, action));
            json(
                StatusCode::ACCEPTED,
                serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": key}),
            )
        }
        "opsgenie" => json(
            StatusCode::ACCEPTED,
            serde_json::json!({"result": "Request will be processed", "took": 0.01, "requestId": "capture"}),
        ),
        "victorops" => json(
            StatusCode::OK,
            serde_json::json!({"result": "success", "entity_id": "capture"}),
        ),
        "telegram" => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "result": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}}}),
        ),
        "wechat" if rest.contains("/gettoken") => json(
            StatusCode::OK,
            serde_json::json!({"errcode": 0, "errmsg": "ok", "access_token": "capture-token", "expires_in": 7200}),
        ),
        "wechat" => json(StatusCode::OK, serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        "sns" => (
            StatusCode::OK,
            [("content-type", "text/xml")],
            "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>capture</MessageId></PublishResult><ResponseMetadata><RequestId>capture</RequestId></ResponseMetadata></PublishResponse>",
        )
            .into_response(),
        "discord" => StatusCode::NO_CONTENT.into_response(),
        "pushover" => json(
            StatusCode::OK,
            serde_json::json!({"status": 1, "request": "capture"}),
        ),
        _ => json(StatusCode::OK, serde_json::json!({})),
    }
}

/// One proxied connection: `CONNECT host:port`, then TLS as `host`, then HTTP/1.1
/// requests, each recorded and answered as [`answer`] answers `prefix` + its path.
async fn proxy_session(
    conn: tokio::net::TcpStream,
    state: &Mutex<State>,
    ca: &crate::common::TestCa,
    prefix: &str,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(conn);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let target = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let host = target.rsplit_once(':').map_or(target.as_str(), |(h, _)| h);
    conn.get_mut()
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    let config = crate::common::tls_server_config(ca, host);
    let tls = tokio_rustls::TlsAcceptor::from(config)
        .accept(conn.into_inner())
        .await?;
    let mut tls = BufReader::new(tls);
    loop {
        let mut request_line = String::new();
        if tls.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = HeaderMap::new();
        loop {
            let mut line = String::new();
            tls.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && let (Ok(k), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(k.trim().as_bytes()),
                    axum::http::HeaderValue::from_str(v.trim()),
                )
            {
                headers.append(k, v);
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        tokio::io::AsyncReadExt::read_exact(&mut tls, &mut body).await?;
        let uri: Uri = format!("{prefix}{path}").parse().unwrap_or_default();
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let response = answer(state, method, uri, headers, Bytes::from(body));
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/plain")
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        tls.get_mut().write_all(head.as_bytes()).await?;
        tls.get_mut().write_all(&body).await?;
        tls.get_mut().flush().await?;
    }
}

/// One SMTP session: enough ESMTP for Alertmanager's and Skywatch's senders.
async fn smtp_session(
    conn: tokio::net::TcpStream,
    state: &Mutex<State>,
    name: &str,
) -> std::io::Result<()> {
    let (read, mut write) = conn.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 capture ESMTP\r\n").await?;
    let mut envelope = Vec::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-capture\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n",
            "HELO" | "NOOP" => b"250 ok\r\n",
            "RSET" => {
                envelope.clear();
                b"250 ok\r\n"
            }
            "AUTH" => {
                envelope.push(command.clone());
                b"235 2.7.0 Authentication successful\r\n"
            }
            "MAIL" | "RCPT" => {
                envelope.push(command.clone());
                b"250 ok\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data.as_str(), ""));
                // Folded header lines are unfolded.
                let mut headers = BTreeMap::new();
                let mut last = String::new();
                for h in head.split("\r\n") {
                    if h.starts_with([' ', '\t']) {
                        if let Some(v) = headers.get_mut(&last) {
                            *v = format!("{v} {}", h.trim());
                        }
                    } else if let Some((k, v)) = h.split_once(':') {
                        last = k.trim().to_lowercase();
                        headers.insert(last.clone(), v.trim().to_owned());
                    }
                }
                lock(state).deliveries.push(Delivery {
                    system: name.to_owned(),
                    integration: "email".into(),
                    method: "SMTP".into(),
                    path: String::new(),
                    headers,
                    body: body.to_owned(),
                    envelope: std::mem::take(&mut envelope),
                    at: Instant::now(),
                });
                b"250 ok: queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}
