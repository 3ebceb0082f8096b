//! Email over SMTP for `email_configs`: a client for what a smarthost needs (EHLO,
//! STARTTLS with the system's certificates, AUTH PLAIN, one message to several
//! recipients), every refusal reported with the server's own words.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// What to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The sender's address.
    pub from: String,
    /// The recipients' addresses.
    pub to: Vec<String>,
    /// The subject line.
    pub subject: String,
    /// The text, plain.
    pub body: String,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct Server {
    /// `host:port`.
    pub smarthost: String,
    /// The name given in EHLO.
    pub hello: String,
    /// Whether to refuse a server that does not offer STARTTLS (Alertmanager's default).
    pub require_tls: bool,
    /// The user and password for AUTH PLAIN, if any.
    pub auth: Option<(String, String)>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Conn {
    io: BufReader<Box<dyn Stream>>,
}

impl Conn {
    /// Reads a reply (several lines for `250-`), checks its code is one of `ok`.
    async fn reply(&mut self, ok: &[u16], after: &str) -> Result<String, String> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .io
                .read_line(&mut line)
                .await
                .map_err(|e| format!("reading the reply to {after}: {e}"))?;
            if n == 0 {
                return Err(format!("the server closed the connection after {after}"));
            }
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        let code: u16 = text.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if ok.contains(&code) {
            Ok(text)
        } else {
            Err(format!("the server answered {after} with: {}", text.trim()))
        }
    }

    async fn command(&mut self, line: &str, ok: &[u16], shown: &str) -> Result<String, String> {
        self.io
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| format!("sending {shown}: {e}"))?;
        self.reply(ok, shown).await
    }
}

fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The message as sent after DATA: headers, a blank line, the body with lines starting
/// with a dot doubled, and CRLF line ends.
pub fn message(mail: &Mail, now_ms: i64) -> String {
    let date = rfc2822(now_ms);
    let mut out = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{now_ms}.{}@skywatch>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        mail.from,
        mail.to.join(", "),
        mail.subject.replace(['\r', '\n'], " "),
        std::process::id()
    );
    for line in mail.body.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

fn rfc2822(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = model::civil_from_days(days);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}, {d} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err(
            "no CA certificates found on this system for STARTTLS; install ca-certificates".into(),
        );
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Sends `mail` through `server`.
pub async fn send(server: &Server, mail: &Mail, now_ms: i64) -> Result<(), String> {
    let host = server
        .smarthost
        .rsplit_once(':')
        .map_or(server.smarthost.as_str(), |(h, _)| h)
        .to_owned();
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&server.smarthost),
    )
    .await
    .map_err(|_| format!("connecting to {} timed out", server.smarthost))?
    .map_err(|e| format!("cannot connect to {}: {e}", server.smarthost))?;
    let mut c = Conn {
        io: BufReader::new(Box::new(tcp)),
    };
    c.reply(&[220], "the greeting").await?;
    let ehlo = format!("EHLO {}", server.hello);
    let features = c.command(&ehlo, &[250], "EHLO").await?;
    if features.to_uppercase().contains("STARTTLS") {
        c.command("STARTTLS", &[220], "STARTTLS").await?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("{host:?} is not a host name for TLS: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config()?));
        let plain = c.io.into_inner();
        let tls = connector
            .connect(name, plain)
            .await
            .map_err(|e| format!("TLS with {}: {e}", server.smarthost))?;
        c = Conn {
            io: BufReader::new(Box::new(tls)),
        };
        c.command(&ehlo, &[250], "EHLO after STARTTLS").await?;
    } else if server.require_tls {
        return Err(format!(
            "{} does not offer STARTTLS and require_tls is set; set require_tls: false to send in the clear",
            server.smarthost
        ));
    }
    if let Some((user, password)) = &server.auth {
        let token = base64(format!("\0{user}\0{password}").as_bytes());
        c.command(&format!("AUTH PLAIN {token}"), &[235], "AUTH")
            .await?;
    }
    c.command(&format!("MAIL FROM:<{}>", mail.from), &[250], "MAIL FROM")
        .await?;
    for to in &mail.to {
        c.command(
            &format!("RCPT TO:<{to}>"),
            &[250, 251],
            &format!("RCPT TO {to}"),
        )
        .await?;
    }
    c.command("DATA", &[354], "DATA").await?;
    let body = format!("{}.", message(mail, now_ms));
    c.command(&body, &[250], "the message").await?;
    let _ = c.command("QUIT", &[221], "QUIT").await;
    Ok(())
}

/// A server that speaks enough SMTP to take one message, for tests.
#[cfg(test)]
pub(crate) mod fake {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// Takes one connection; hands back every line the client sent.
    pub(crate) async fn server(offer_tls: bool) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let mut seen = Vec::new();
            write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line.clone());
                let reply: &[u8] = if in_data {
                    if line == "." {
                        in_data = false;
                        b"250 queued\r\n"
                    } else {
                        continue;
                    }
                } else if line.starts_with("EHLO") {
                    if offer_tls {
                        b"250-fake\r\n250 STARTTLS\r\n"
                    } else {
                        b"250-fake\r\n250 AUTH PLAIN\r\n"
                    }
                } else if line.starts_with("AUTH PLAIN") {
                    b"235 ok\r\n"
                } else if line.starts_with("RCPT TO:<nobody@") {
                    b"550 no such user\r\n"
                } else if line == "DATA" {
                    in_data = true;
                    b"354 go on\r\n"
                } else if line == "QUIT" {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else {
                    b"250 ok\r\n"
                };
                write.write_all(reply).await.unwrap();
            }
            seen
        });
        (addr, task)
    }
}

#[cfg(test)]
mod tests {
    use super::fake::server as fake_server;
    use super::*;

    fn mail(to: &[&str]) -> Mail {
        Mail {
            from: "skywatch@example.org".into(),
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            subject: "[FIRING:1] ServiceDown".into(),
            body: "node-03 is down\n.a line with a dot\n".into(),
        }
    }

    #[tokio::test]
    async fn a_message_goes_to_every_recipient_with_auth() {
        let (addr, server) = fake_server(false).await;
        let s = Server {
            smarthost: addr,
            hello: "sky".into(),
            require_tls: false,
            auth: Some(("ops".into(), "secret".into())),
        };
        send(
            &s,
            &mail(&["a@example.org", "b@example.org"]),
            1_795_990_000_000,
        )
        .await
        .unwrap();
        let seen = server.await.unwrap();
        assert_eq!(seen[0], "EHLO sky");
        assert_eq!(seen[1], format!("AUTH PLAIN {}", base64(b"\0ops\0secret")));
        assert_eq!(seen[2], "MAIL FROM:<skywatch@example.org>");
        assert_eq!(
            &seen[3..5],
            ["RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>"]
        );
        assert!(
            seen.contains(&"Subject: [FIRING:1] ServiceDown".to_owned()),
            "{seen:?}"
        );
        assert!(
            seen.contains(&"Date: Sun, 29 Nov 2026 22:06:40 +0000".to_owned()),
            "{seen:?}"
        );
        assert!(
            seen.contains(&"..a line with a dot".to_owned()),
            "dot-stuffed: {seen:?}"
        );
        assert_eq!(seen.last().unwrap(), "QUIT");
    }

    #[tokio::test]
    async fn refusals_say_what_the_server_said() {
        let (addr, _server) = fake_server(false).await;
        let s = Server {
            smarthost: addr,
            hello: "sky".into(),
            require_tls: false,
            auth: None,
        };
        let e = send(&s, &mail(&["nobody@example.org"]), 0)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "the server answered RCPT TO nobody@example.org with: 550 no such user"
        );
        let (addr, _server) = fake_server(false).await;
        let s = Server {
            smarthost: addr.clone(),
            hello: "sky".into(),
            require_tls: true,
            auth: None,
        };
        let e = send(&s, &mail(&["a@example.org"]), 0).await.unwrap_err();
        assert!(
            e.contains("does not offer STARTTLS and require_tls is set"),
            "{e}"
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
