//! Email over SMTP for `email_configs`, as Alertmanager sends it with Go's `net/smtp`:
//! EHLO, implicit TLS on port 465 or STARTTLS (required unless `require_tls: false`),
//! AUTH by the server's first offered mechanism of CRAM-MD5, PLAIN and LOGIN, `MAIL FROM`
//! with `BODY=8BITMIME` and `SMTPUTF8` where offered, one message to several recipients,
//! every refusal reported with the server's own words.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The sender's address, for `MAIL FROM`.
    pub from: String,
    /// The recipients' addresses, for `RCPT TO`.
    pub to: Vec<String>,
    /// The headers, in order, their values as rendered (encoded when written).
    pub headers: Vec<(String, String)>,
    /// The plain-text part, if any.
    pub text: Option<String>,
    /// The HTML part, if any.
    pub html: Option<String>,
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
    /// TLS settings, for port 465 and STARTTLS.
    pub tls: httpclient::config::TlsConfig,
    /// The credentials for AUTH, if a user is given.
    pub auth: Option<Credentials>,
}

/// `auth_*` of an email integration.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `auth_username`.
    pub username: String,
    /// `auth_password`, or its file's text.
    pub password: String,
    /// `auth_identity`, for PLAIN.
    pub identity: String,
    /// `auth_secret`, for CRAM-MD5.
    pub secret: String,
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

/// The message as Alertmanager writes it after DATA (before dot-stuffing): each header
/// `Name: value` with the value Q-encoded where it is not plain ASCII, then
/// `Message-Id` (unless a header gives it), `Date`, `Content-Type` and `MIME-Version`,
/// and the `multipart/alternative` body: the text part, then the HTML part, each
/// quoted-printable; CRLF line ends.
pub fn message(mail: &Mail, now_ms: i64) -> String {
    let unique = unique(now_ms);
    let boundary = &unique[..60];
    let mut out = String::new();
    for (name, value) in &mail.headers {
        out.push_str(&format!("{name}: {}\r\n", q_encode(value)));
    }
    if !mail.headers.iter().any(|(k, _)| k == "Message-Id") {
        let random = u64::from_str_radix(&unique[..16], 16).unwrap_or_default();
        out.push_str(&format!(
            "Message-Id: <{}.{random}@{}>\r\n",
            i128::from(now_ms) * 1_000_000,
            hostname()
        ));
    }
    out.push_str(&format!("Date: {}\r\n", rfc2822(now_ms)));
    out.push_str(&format!(
        "Content-Type: multipart/alternative;  boundary={boundary}\r\nMIME-Version: 1.0\r\n\r\n"
    ));
    let mut first = true;
    for (content_type, part) in [("text/plain", &mail.text), ("text/html", &mail.html)] {
        let Some(part) = part else { continue };
        out.push_str(if first { "" } else { "\r\n" });
        first = false;
        out.push_str(&format!(
            "--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: {content_type}; charset=UTF-8\r\n\r\n"
        ));
        out.push_str(&quoted_printable(part));
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    out
}

/// 64 hex digits that differ from one call to the next: the MIME boundary and the
/// random part of the `Message-Id`.
fn unique(now_ms: i64) -> String {
    use sha2::Digest as _;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    sha2::Sha256::digest(format!("{now_ms}.{nanos}.{n}.{}", std::process::id()).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// This machine's name, for the `Message-Id`, as Go's `os.Hostname` gives it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A header value as Go's `mime.QEncoding.Encode("utf-8", value)` writes it: unchanged if
/// it is printable ASCII (or tabs), else RFC 2047 encoded words of at most 75
/// characters, never splitting a character.
pub fn q_encode(value: &str) -> String {
    if !value
        .bytes()
        .any(|b| !(b' '..=b'~').contains(&b) && b != b'\t')
    {
        return value.to_owned();
    }
    const OPEN: &str = "=?utf-8?q?";
    const MAX: usize = 75 - "=?UTF-8?q?".len() - "?=".len();
    let mut out = String::from(OPEN);
    let mut len = 0;
    for c in value.chars() {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let plain =
            bytes.len() == 1 && (b' '..=b'~').contains(&bytes[0]) && !b"=?_".contains(&bytes[0]);
        let width = if plain { 1 } else { 3 * bytes.len() };
        if len + width > MAX {
            out.push_str("?= ");
            out.push_str(OPEN);
            len = 0;
        }
        for &b in bytes {
            match b {
                b' ' => out.push('_'),
                b'!'..=b'~' if !b"=?_".contains(&b) => out.push(char::from(b)),
                _ => out.push_str(&format!("={b:02X}")),
            }
        }
        len += width;
    }
    out.push_str("?=");
    out
}

/// `text` quoted-printable as Go's `mime/quotedprintable` writer writes it: lines of at
/// most 76 characters with soft breaks, line ends as CRLF, white space before a line end
/// encoded.
pub fn quoted_printable(text: &str) -> String {
    const MAX: usize = 76;
    let mut out = String::new();
    let mut line: Vec<u8> = Vec::new();
    let mut cr = false;
    fn flush(out: &mut String, line: &mut Vec<u8>) {
        out.push_str(&String::from_utf8_lossy(line));
        line.clear();
    }
    fn encode(out: &mut String, line: &mut Vec<u8>, b: u8) {
        if MAX - 1 - line.len() < 3 {
            line.extend_from_slice(b"=\r\n");
            flush(out, line);
        }
        line.extend_from_slice(format!("={b:02X}").as_bytes());
    }
    fn last_space(out: &mut String, line: &mut Vec<u8>) {
        if let Some(&b) = line.last()
            && (b == b' ' || b == b'\t')
        {
            line.pop();
            encode(out, line, b);
        }
    }
    for &b in text.as_bytes() {
        match b {
            b'\n' | b'\r' => {
                if cr && b == b'\n' {
                    cr = false;
                    continue;
                }
                cr = b == b'\r';
                last_space(&mut out, &mut line);
                line.extend_from_slice(b"\r\n");
                flush(&mut out, &mut line);
            }
            b'!'..=b'~' if b != b'=' => {
                if line.len() == MAX - 1 {
                    line.extend_from_slice(b"=\r\n");
                    flush(&mut out, &mut line);
                }
                line.push(b);
                cr = false;
            }
            b' ' | b'\t' => {
                if line.len() == MAX - 1 {
                    line.extend_from_slice(b"=\r\n");
                    flush(&mut out, &mut line);
                }
                line.push(b);
                cr = false;
            }
            _ => {
                encode(&mut out, &mut line, b);
                cr = false;
            }
        }
    }
    last_space(&mut out, &mut line);
    flush(&mut out, &mut line);
    out
}

/// The addresses of a list as Go's `mail.ParseAddressList` reads one: `a@b`,
/// `Name <a@b>`, `"Name, Jr." <a@b>`, separated by commas.
pub fn addresses(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut angle) = (false, false);
    let mut items = Vec::new();
    for c in list.chars() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    for item in items {
        let item = item.trim();
        let address = match (item.rfind('<'), item.ends_with('>')) {
            (Some(i), true) => item[i + 1..item.len() - 1].trim(),
            (None, false) => item,
            _ => return Err(format!("mail: expected closing angle bracket in {item:?}")),
        };
        if item.is_empty() {
            return Err("mail: no address".into());
        }
        match address.rsplit_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !address.contains(char::is_whitespace) =>
            {
                out.push(address.to_owned());
            }
            _ => return Err(format!("mail: missing @ in addr-spec {address:?}")),
        }
    }
    Ok(out)
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
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The host of `host:port`, without an IPv6 address's brackets.
fn host_of(smarthost: &str) -> &str {
    smarthost
        .rsplit_once(':')
        .map_or(smarthost, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// `stream` wrapped in TLS with `server`'s settings, verifying the smarthost's host
/// unless `tls_config.server_name` names another.
async fn tls(server: &Server, stream: Box<dyn Stream>) -> Result<Box<dyn Stream>, String> {
    let host = server
        .tls
        .server_name
        .clone()
        .unwrap_or_else(|| host_of(&server.smarthost).to_owned());
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("{host:?} is not a host name for TLS: {e}"))?;
    let config = httpclient::tls::client_config(&server.tls)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS with {}: {e}", server.smarthost))?;
    Ok(Box::new(tls))
}

/// The extensions an EHLO reply offers, upper case, each with its parameters.
fn extensions(reply: &str) -> Vec<(String, String)> {
    reply
        .lines()
        .skip(1)
        .map(|l| {
            let l = l.get(4..).unwrap_or_default().trim();
            let (name, params) = l.split_once(' ').unwrap_or((l, ""));
            (name.to_uppercase(), params.to_owned())
        })
        .collect()
}

/// HMAC-MD5 of `challenge` with `secret`, in hex: CRAM-MD5's answer.
fn cram_md5(secret: &str, challenge: &[u8]) -> String {
    use md5::Digest as _;
    let mut key = secret.as_bytes().to_vec();
    if key.len() > 64 {
        key = md5::Md5::digest(&key).to_vec();
    }
    key.resize(64, 0);
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = md5::Md5::digest([pad(0x36).as_slice(), challenge].concat());
    let outer = md5::Md5::digest([pad(0x5c).as_slice(), inner.as_slice()].concat());
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Authenticates with the first of the server's mechanisms (`offered`) that Alertmanager
/// knows and the credentials allow: CRAM-MD5 (with `auth_secret`), PLAIN (only over TLS
/// or to localhost, as Go allows it), LOGIN.
async fn authenticate(
    c: &mut Conn,
    credentials: &Credentials,
    offered: &str,
    encrypted: bool,
    host: &str,
) -> Result<(), String> {
    let decode = |reply: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(reply.get(4..).unwrap_or_default().trim())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    for mech in offered.split(' ') {
        match mech {
            "CRAM-MD5" => {
                if credentials.secret.is_empty() {
                    errors.push("missing secret for CRAM-MD5 auth mechanism");
                    continue;
                }
                let challenge = decode(&c.command("AUTH CRAM-MD5", &[334], "AUTH").await?);
                let answer = format!(
                    "{} {}",
                    credentials.username,
                    cram_md5(&credentials.secret, &challenge)
                );
                c.command(&base64(answer.as_bytes()), &[235], "AUTH CRAM-MD5")
                    .await?;
                return Ok(());
            }
            "PLAIN" => {
                if !encrypted && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
                    return Err("*smtp.plainAuth auth: unencrypted connection; use TLS (require_tls) or another mechanism".into());
                }
                let token = base64(
                    format!(
                        "{}\0{}\0{}",
                        credentials.identity, credentials.username, credentials.password
                    )
                    .as_bytes(),
                );
                c.command(&format!("AUTH PLAIN {token}"), &[235], "AUTH")
                    .await?;
                return Ok(());
            }
            "LOGIN" => {
                let mut reply = c.command("AUTH LOGIN", &[334, 235], "AUTH").await?;
                while reply.starts_with("334") {
                    let answer = match String::from_utf8_lossy(&decode(&reply))
                        .to_lowercase()
                        .as_str()
                    {
                        "username:" => credentials.username.clone(),
                        "password:" => credentials.password.clone(),
                        _ => return Err("AUTH LOGIN: unexpected server challenge".into()),
                    };
                    reply = c
                        .command(&base64(answer.as_bytes()), &[334, 235], "AUTH LOGIN")
                        .await?;
                }
                return Ok(());
            }
            _ => {}
        }
    }
    Err(match errors.first() {
        Some(e) => format!("find auth mechanism: {e}"),
        None => format!("find auth mechanism: unknown auth mechanism: {offered}"),
    })
}

/// Sends `mail` through `server`.
pub async fn send(server: &Server, mail: &Mail, now_ms: i64) -> Result<(), String> {
    let host = host_of(&server.smarthost).to_owned();
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&server.smarthost),
    )
    .await
    .map_err(|_| format!("connecting to {} timed out", server.smarthost))?
    .map_err(|e| format!("cannot connect to {}: {e}", server.smarthost))?;
    // Port 465 speaks TLS from the start, as Alertmanager assumes.
    let implicit_tls = server.smarthost.ends_with(":465");
    let stream: Box<dyn Stream> = if implicit_tls {
        tls(server, Box::new(tcp)).await?
    } else {
        Box::new(tcp)
    };
    let mut c = Conn {
        io: BufReader::new(stream),
    };
    c.reply(&[220], "the greeting").await?;
    let ehlo = format!("EHLO {}", server.hello);
    let mut features = extensions(&c.command(&ehlo, &[250], "EHLO").await?);
    let offers =
        |features: &[(String, String)], name: &str| features.iter().any(|(n, _)| n == name);
    let mut encrypted = implicit_tls;
    if server.require_tls && !implicit_tls {
        if !offers(&features, "STARTTLS") {
            return Err(format!(
                "'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension; set require_tls: false to send in the clear",
                server.smarthost
            ));
        }
        c.command("STARTTLS", &[220], "STARTTLS").await?;
        let plain = c.io.into_inner();
        c = Conn {
            io: BufReader::new(tls(server, plain).await?),
        };
        encrypted = true;
        features = extensions(&c.command(&ehlo, &[250], "EHLO after STARTTLS").await?);
    }
    if let Some(credentials) = &server.auth
        && let Some((_, offered)) = features.iter().find(|(n, _)| n == "AUTH")
    {
        authenticate(&mut c, credentials, offered, encrypted, &host).await?;
    }
    let mut mail_from = format!("MAIL FROM:<{}>", mail.from);
    if offers(&features, "8BITMIME") {
        mail_from.push_str(" BODY=8BITMIME");
    }
    if offers(&features, "SMTPUTF8") {
        mail_from.push_str(" SMTPUTF8");
    }
    c.command(&mail_from, &[250], "MAIL FROM").await?;
    for to in &mail.to {
        c.command(
            &format!("RCPT TO:<{to}>"),
            &[250, 251],
            &format!("RCPT TO {to}"),
        )
        .await?;
    }
    c.command("DATA", &[354], "DATA").await?;
    // Dot-stuffed, as Go's textproto.DotWriter writes it.
    let mut body = String::new();
    for line in message(mail, now_ms).split_inclusive("\r\n") {
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
    }
    if !body.ends_with("\r\n") {
        body.push_str("\r\n");
    }
    body.push('.');
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
                        b"250-fake\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n"
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
            headers: vec![("Subject".into(), "[FIRING:1] ServiceDown".into())],
            text: Some("node-03 is down\n.a line with a dot\n".into()),
            html: None,
        }
    }

    fn smarthost(addr: String, require_tls: bool, auth: Option<Credentials>) -> Server {
        Server {
            smarthost: addr,
            hello: "sky".into(),
            require_tls,
            tls: Default::default(),
            auth,
        }
    }

    #[tokio::test]
    async fn a_message_goes_to_every_recipient_with_auth() {
        let (addr, server) = fake_server(false).await;
        let s = smarthost(
            addr,
            false,
            Some(Credentials {
                username: "ops".into(),
                password: "secret".into(),
                identity: String::new(),
                secret: String::new(),
            }),
        );
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
        assert_eq!(seen[2], "MAIL FROM:<skywatch@example.org> BODY=8BITMIME");
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

    #[test]
    fn header_values_are_q_encoded_as_go_encodes_them() {
        assert_eq!(q_encode("[FIRING:1] Down"), "[FIRING:1] Down");
        assert_eq!(
            q_encode("Störung_1 = ?"),
            "=?utf-8?q?St=C3=B6rung=5F1_=3D_=3F?="
        );
        // Encoded words of at most 75 characters, a character never split.
        let long = q_encode(&"é".repeat(30));
        let words: Vec<&str> = long.split(' ').collect();
        assert_eq!(words.len(), 3, "{long}");
        assert!(words.iter().all(|w| w.len() <= 75), "{long}");
        assert_eq!(words[0].len(), "=?utf-8?q?".len() + 10 * 6 + 2);
    }

    #[test]
    fn bodies_are_quoted_printable_as_go_writes_them() {
        assert_eq!(quoted_printable("a=b\nc \nd\t"), "a=3Db\r\nc=20\r\nd=09");
        assert_eq!(quoted_printable("ü"), "=C3=BC");
        let long = quoted_printable(&"x".repeat(80));
        assert_eq!(long, format!("{}=\r\n{}", "x".repeat(75), "x".repeat(5)));
        assert_eq!(quoted_printable("a\r\nb"), "a\r\nb");
    }

    #[test]
    fn messages_are_multipart_as_alertmanagers() {
        let mut m = mail(&["a@example.org"]);
        m.html = Some("<p>down</p>".into());
        let text = message(&m, 1_795_990_000_000);
        let boundary = text
            .split("boundary=")
            .nth(1)
            .and_then(|b| b.split("\r\n").next())
            .unwrap();
        assert_eq!(boundary.len(), 60);
        assert!(
            text.starts_with(
                "Subject: [FIRING:1] ServiceDown\r\nMessage-Id: <1795990000000000000."
            ),
            "{text}"
        );
        assert!(text.contains("\r\nDate: Sun, 29 Nov 2026 22:06:40 +0000\r\nContent-Type: multipart/alternative;  boundary="), "{text}");
        let body = text.split_once("MIME-Version: 1.0\r\n\r\n").unwrap().1;
        assert_eq!(
            body.replace(boundary, "B"),
            "--B\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nnode-03 is down\r\n.a line with a dot\r\n\r\n--B\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>down</p>\r\n--B--\r\n"
        );
    }

    #[test]
    fn address_lists_are_read_as_go_reads_them() {
        assert_eq!(
            addresses(r#"Ops <ops@example.org>, "Doe, J." <j@example.org>,x@y"#).unwrap(),
            ["ops@example.org", "j@example.org", "x@y"]
        );
        assert!(addresses("nobody").unwrap_err().contains("missing @"));
        assert!(addresses("").is_err());
    }

    #[test]
    fn cram_md5_answers_as_rfc_2195_says() {
        // RFC 2195's example.
        assert_eq!(
            cram_md5(
                "tanstaaftanstaaf",
                b"<1896.697170952@postoffice.reston.mci.net>"
            ),
            "b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[tokio::test]
    async fn refusals_say_what_the_server_said() {
        let (addr, _server) = fake_server(false).await;
        let s = smarthost(addr, false, None);
        let e = send(&s, &mail(&["nobody@example.org"]), 0)
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "the server answered RCPT TO nobody@example.org with: 550 no such user"
        );
        let (addr, _server) = fake_server(false).await;
        let s = smarthost(addr, true, None);
        let e = send(&s, &mail(&["a@example.org"]), 0).await.unwrap_err();
        assert!(
            e.contains("does not advertise the STARTTLS extension"),
            "{e}"
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
