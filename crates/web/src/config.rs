//! The web configuration file, exporter-toolkit's format as Prometheus 2.42 and
//! Alertmanager 0.25 read it (`--web.config.file`): `tls_server_config`,
//! `http_server_config` and `basic_auth_users`, every other key refused by name and line.
//!
//! [`Config::parse`] is pure (text in, checked configuration out) and refuses what
//! `promtool check web-config` refuses without opening a file, plus what rustls cannot do
//! (TLS 1.0 and 1.1, CBC and RSA key-exchange cipher suites, the P-521 curve), each with
//! a sentence saying so; [`Config::check_files`] then reads the certificate, key and client
//! CA as exporter-toolkit does before it serves.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use yaml::Spanned;

/// A problem with a web configuration file: where it is and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file, as the user named it.
    pub file: String,
    /// The line (1-based) the problem is on, where it is known.
    pub line: Option<u64>,
    /// The field, as a YAML path (`tls_server_config.min_version`); empty for the file.
    pub field: String,
    /// What is wrong, in exporter-toolkit's words where it has them.
    pub message: String,
    /// What would fix it.
    pub fix: String,
}

impl Error {
    pub(crate) fn new(
        file: &str,
        line: Option<u64>,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            line,
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

impl Error {
    /// The problem without the file's name, for a line that names it already:
    /// `line 3: field: message; fix`.
    pub fn detail(&self) -> String {
        let full = self.to_string();
        let rest = full[self.file.len()..].trim_start_matches(':');
        match self.line {
            Some(_) => format!("line {rest}"),
            None => rest.trim_start().to_owned(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.message)?;
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// A checked web configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// TLS, if the file asks for it (any of `cert_file`, `key_file`, `client_auth_type`,
    /// `client_ca_file` set, as exporter-toolkit decides).
    pub tls: Option<TlsServerConfig>,
    /// `http_server_config.http2` (default true).
    pub http2: bool,
    /// `http_server_config.headers`: set on every answer.
    pub headers: BTreeMap<String, String>,
    /// `basic_auth_users`: user name to bcrypt hash.
    pub users: BTreeMap<String, String>,
}

/// `tls_server_config`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerConfig {
    /// `cert_file`, as written (relative to the file's directory until [`Config::resolve`]).
    pub cert_file: PathBuf,
    /// `key_file`.
    pub key_file: PathBuf,
    /// `client_auth_type`.
    pub client_auth: ClientAuth,
    /// `client_ca_file`.
    pub client_ca_file: Option<PathBuf>,
    /// `min_version` (default TLS 1.2).
    pub min_version: TlsVersion,
    /// `max_version` (default TLS 1.3).
    pub max_version: TlsVersion,
    /// `cipher_suites`, Go's names; empty for rustls's defaults.
    pub cipher_suites: Vec<String>,
    /// `prefer_server_cipher_suites` (default true).
    pub prefer_server_cipher_suites: bool,
    /// `curve_preferences`, in order; empty for rustls's defaults.
    pub curve_preferences: Vec<Curve>,
}

/// `client_auth_type`: Go's `tls.ClientAuthType` values, by exporter-toolkit's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (or unset): no certificate is asked for.
    NoClientCert,
    /// `RequestClientCert`: asked for, not required, not verified.
    RequestClientCert,
    /// `RequireAnyClientCert` (or the older `RequireClientCert`): required, not verified.
    RequireAnyClientCert,
    /// `VerifyClientCertIfGiven`: verified against the client CAs when given.
    VerifyClientCertIfGiven,
    /// `RequireAndVerifyClientCert`: required and verified against the client CAs.
    RequireAndVerifyClientCert,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// A key-exchange curve of `curve_preferences`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// `CurveP256`.
    P256,
    /// `CurveP384`.
    P384,
    /// `X25519`.
    X25519,
}

/// The cipher suites Go's `tls.CipherSuites()` lists (the names exporter-toolkit
/// accepts), with whether rustls implements each. TLS 1.3 suites are accepted and, as in
/// Go, not configurable: all three are always on.
pub(crate) const CIPHER_SUITES: &[(&str, bool)] = &[
    ("TLS_RSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", false),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", false),
    ("TLS_AES_128_GCM_SHA256", true),
    ("TLS_AES_256_GCM_SHA384", true),
    ("TLS_CHACHA20_POLY1305_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", true),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", true),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", true),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", true),
];

/// The response headers exporter-toolkit lets a file set, with the values it allows
/// (none listed: any value).
const HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

type Field = Option<Spanned<String>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    tls_server_config: RawTls,
    http_server_config: RawHttp,
    basic_auth_users: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    cert_file: Field,
    key_file: Field,
    client_auth_type: Field,
    client_ca_file: Field,
    cipher_suites: Vec<Spanned<String>>,
    curve_preferences: Vec<Spanned<String>>,
    min_version: Field,
    max_version: Field,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    http2: Option<bool>,
    headers: BTreeMap<String, Spanned<String>>,
}

fn line<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line()).filter(|&l| l > 0)
}

fn text(f: &Field) -> &str {
    f.as_ref().map_or("", |s| s.value.as_str())
}

impl Config {
    /// Reads and checks the text of a web configuration file; `file` names it in errors.
    /// Opens no file: [`Config::check_files`] reads the certificate, key and CA.
    pub fn parse(text_in: &str, file: &str) -> Result<Config, Error> {
        let raw: RawConfig = yaml::from_str(text_in).map_err(|e| {
            Error::new(
                file,
                None,
                "",
                e.to_string(),
                "the keys are tls_server_config, http_server_config and basic_auth_users \
                 (exporter-toolkit's docs/web-configuration.md)",
            )
        })?;
        let mut headers = BTreeMap::new();
        for (name, value) in &raw.http_server_config.headers {
            let field = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = HEADERS.iter().find(|(h, _)| h == name) else {
                let names: Vec<_> = HEADERS.iter().map(|(h, _)| *h).collect();
                return Err(Error::new(
                    file,
                    line(value),
                    field,
                    format!("HTTP header {name:?} can not be configured"),
                    format!("the headers that can be set are {}", names.join(", ")),
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.value.as_str()) {
                return Err(Error::new(
                    file,
                    line(value),
                    field,
                    format!(
                        "invalid value for {name}. Expected one of: {allowed:?}, but got: {:?}",
                        value.value
                    ),
                    format!("write one of {}", allowed.join(", ")),
                ));
            }
            headers.insert(name.clone(), value.value.clone());
        }
        let mut users = BTreeMap::new();
        for (user, hash) in &raw.basic_auth_users {
            if let Err(message) = bcrypt_cost(&hash.value) {
                return Err(Error::new(
                    file,
                    line(hash),
                    format!("basic_auth_users.{user}"),
                    message,
                    "give the bcrypt hash of the password (htpasswd -nBC 10 USER, or \
                     python3 -c 'import bcrypt; print(bcrypt.hashpw(b\"PASSWORD\", bcrypt.gensalt()).decode())')",
                ));
            }
            users.insert(user.clone(), hash.value.clone());
        }
        let tls = parse_tls(&raw.tls_server_config, file)?;
        Ok(Config {
            tls,
            http2: raw.http_server_config.http2.unwrap_or(true),
            headers,
            users,
        })
    }

    /// Reads the file at `path` and checks it, then what it names ([`Config::check_files`]),
    /// with relative paths taken from the file's directory.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let (file, text) = read_file(path, "web configuration file")?;
        let mut config = Config::parse(&text, &file)?;
        config.resolve(path.parent().unwrap_or(Path::new(".")));
        config.check_files(&file)?;
        Ok(config)
    }

    /// Takes relative file paths from `dir`, as exporter-toolkit's `SetDirectory` does.
    pub fn resolve(&mut self, dir: &Path) {
        if let Some(tls) = &mut self.tls {
            for p in [&mut tls.cert_file, &mut tls.key_file] {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
            if let Some(p) = &mut tls.client_ca_file
                && p.is_relative()
            {
                *p = dir.join(&*p);
            }
        }
    }

    /// Reads the certificate, key and client CA the configuration names and builds the
    /// TLS configuration from them, as exporter-toolkit does before serving; `file` names
    /// the configuration in errors.
    pub fn check_files(&self, file: &str) -> Result<(), Error> {
        if let Some(tls) = &self.tls {
            crate::tls::server_config(tls, file, &[])?;
        }
        Ok(())
    }
}

/// The file's name, as errors give it, and its text; `what` names it in the error.
pub(crate) fn read_file(path: &Path, what: &str) -> Result<(String, String), Error> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(e) => Err(Error::new(
            &file,
            None,
            "",
            format!("cannot read the file: {e}"),
            format!("give the path of a readable {what}"),
        )),
    }
}

fn parse_tls(raw: &RawTls, file: &str) -> Result<Option<TlsServerConfig>, Error> {
    let version = |f: &Field, name: &str, default: TlsVersion| -> Result<TlsVersion, Error> {
        let Some(s) = f else { return Ok(default) };
        let field = format!("tls_server_config.{name}");
        match s.value.as_str() {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            v @ ("TLS10" | "TLS11") => Err(Error::new(
                file,
                line(s),
                field,
                format!(
                    "{v} is valid for Prometheus but Skywatch's TLS (rustls) implements only TLS12 and TLS13"
                ),
                "write TLS12 or TLS13",
            )),
            v => Err(Error::new(
                file,
                line(s),
                field,
                format!("unknown TLS version: {v}"),
                "write TLS12 or TLS13",
            )),
        }
    };
    let min_version = version(&raw.min_version, "min_version", TlsVersion::Tls12)?;
    let max_version = version(&raw.max_version, "max_version", TlsVersion::Tls13)?;
    let mut cipher_suites = Vec::new();
    for s in &raw.cipher_suites {
        let field = "tls_server_config.cipher_suites";
        match CIPHER_SUITES.iter().find(|(n, _)| *n == s.value) {
            None => {
                return Err(Error::new(
                    file,
                    line(s),
                    field,
                    format!("unknown cipher: {}", s.value),
                    "use Go's names of secure suites, such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                ));
            }
            Some((_, false)) => {
                let ok: Vec<_> = CIPHER_SUITES
                    .iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(n, _)| *n)
                    .collect();
                return Err(Error::new(
                    file,
                    line(s),
                    field,
                    format!(
                        "{} is valid for Prometheus but Skywatch's TLS (rustls) does not implement it (no CBC or RSA key exchange)",
                        s.value
                    ),
                    format!("choose among {}", ok.join(", ")),
                ));
            }
            Some((name, true)) => cipher_suites.push((*name).to_owned()),
        }
    }
    let mut curve_preferences = Vec::new();
    for s in &raw.curve_preferences {
        let field = "tls_server_config.curve_preferences";
        curve_preferences.push(match s.value.as_str() {
            "CurveP256" => Curve::P256,
            "CurveP384" => Curve::P384,
            "X25519" => Curve::X25519,
            "CurveP521" => {
                return Err(Error::new(
                    file,
                    line(s),
                    field,
                    "CurveP521 is valid for Prometheus but Skywatch's TLS (rustls) does not implement it",
                    "choose among CurveP256, CurveP384 and X25519",
                ));
            }
            v => {
                return Err(Error::new(
                    file,
                    line(s),
                    field,
                    format!("unknown curve: {v}"),
                    "choose among CurveP256, CurveP384 and X25519",
                ));
            }
        });
    }
    let (cert, key, auth, ca) = (
        text(&raw.cert_file),
        text(&raw.key_file),
        text(&raw.client_auth_type),
        text(&raw.client_ca_file),
    );
    if cert.is_empty() && key.is_empty() && auth.is_empty() && ca.is_empty() {
        return Ok(None);
    }
    let block_line = [
        &raw.cert_file,
        &raw.key_file,
        &raw.client_auth_type,
        &raw.client_ca_file,
    ]
    .into_iter()
    .flatten()
    .filter_map(line)
    .min();
    if cert.is_empty() {
        return Err(Error::new(
            file,
            block_line,
            "tls_server_config.cert_file",
            "missing cert_file",
            "give the server's certificate (PEM), or remove tls_server_config to serve plain HTTP",
        ));
    }
    if key.is_empty() {
        return Err(Error::new(
            file,
            block_line,
            "tls_server_config.key_file",
            "missing key_file",
            "give the certificate's private key (PEM)",
        ));
    }
    let client_auth = match auth {
        "" | "NoClientCert" => ClientAuth::NoClientCert,
        "RequestClientCert" => ClientAuth::RequestClientCert,
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        other => {
            return Err(Error::new(
                file,
                raw.client_auth_type.as_ref().and_then(line),
                "tls_server_config.client_auth_type",
                format!("Invalid ClientAuth: {other}"),
                "write NoClientCert, RequestClientCert, RequireAnyClientCert, \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            ));
        }
    };
    if !ca.is_empty() && client_auth == ClientAuth::NoClientCert {
        return Err(Error::new(
            file,
            raw.client_ca_file.as_ref().and_then(line),
            "tls_server_config.client_ca_file",
            "Client CA's have been configured without a Client Auth Policy",
            "set client_auth_type (RequireAndVerifyClientCert, for example) or remove client_ca_file",
        ));
    }
    if min_version > max_version {
        return Err(Error::new(
            file,
            raw.min_version.as_ref().and_then(line),
            "tls_server_config.min_version",
            "min_version is above max_version: no version is left to speak",
            "lower min_version or raise max_version",
        ));
    }
    Ok(Some(TlsServerConfig {
        cert_file: PathBuf::from(cert),
        key_file: PathBuf::from(key),
        client_auth,
        client_ca_file: (!ca.is_empty()).then(|| PathBuf::from(ca)),
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites.unwrap_or(true),
        curve_preferences,
    }))
}

/// Checks a bcrypt hash as Go's `bcrypt.Cost` does (exporter-toolkit's check of
/// `basic_auth_users`), with its messages; the cost on success.
pub(crate) fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let b = hash.as_bytes();
    if b.len() < 59 {
        return Err("crypto/bcrypt: hashedSecret too short to be a bcrypted password".into());
    }
    if b[0] != b'$' {
        return Err(format!(
            "crypto/bcrypt: bcrypt hashes must start with '$', but hashedSecret started with '{}'",
            char::from(b[0])
        ));
    }
    if b[1] > b'2' {
        return Err(format!(
            "crypto/bcrypt: bcrypt algorithm version '{}' requested is newer than current version '2'",
            char::from(b[1])
        ));
    }
    let rest = if b[2] == b'$' { &b[3..] } else { &b[4..] };
    let cost: u32 = std::str::from_utf8(&rest[..2])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "strconv.Atoi: parsing {:?}: invalid syntax",
                String::from_utf8_lossy(&rest[..2])
            )
        })?;
    if !(4..=31).contains(&cost) {
        return Err(format!(
            "crypto/bcrypt: cost {cost} is outside allowed range (4,31)"
        ));
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

    fn refused(text: &str) -> Error {
        match Config::parse(text, "web.yml") {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_file_is_plain_http_without_users() {
        let c = Config::parse("", "web.yml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.tls, None);
        assert!(c.http2);
        assert!(c.users.is_empty());
    }

    #[test]
    fn full_file_reads_with_exporter_toolkit_defaults() {
        let text = format!(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: {HASH}\n"
        );
        let c = Config::parse(&text, "web.yml").unwrap_or_else(|e| panic!("{e}"));
        let tls = c.tls.unwrap_or_else(|| panic!("no TLS"));
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::Tls12);
        assert_eq!(tls.max_version, TlsVersion::Tls13);
        assert!(tls.prefer_server_cipher_suites);
        assert_eq!(tls.curve_preferences, vec![Curve::X25519]);
        assert!(!c.http2);
        assert_eq!(c.users.get("alice").map(String::as_str), Some(HASH));
    }

    #[test]
    fn errors_name_file_line_field_and_fix() {
        let e = refused("http_server_config:\n  headers:\n    X-Frame-Options: bad\n");
        assert_eq!(e.line, Some(3));
        assert_eq!(e.field, "http_server_config.headers.X-Frame-Options");
        assert_eq!(
            e.to_string(),
            "web.yml:3: http_server_config.headers.X-Frame-Options: invalid value for X-Frame-Options. \
             Expected one of: [\"deny\", \"sameorigin\"], but got: \"bad\"; write one of deny, sameorigin"
        );
        assert_eq!(
            e.detail(),
            "line 3: http_server_config.headers.X-Frame-Options: invalid value for X-Frame-Options. \
             Expected one of: [\"deny\", \"sameorigin\"], but got: \"bad\"; write one of deny, sameorigin"
        );
        let e = refused("basic_auth_users:\n  alice: nothash\n");
        assert_eq!(
            e.message,
            "crypto/bcrypt: hashedSecret too short to be a bcrypted password"
        );
        assert_eq!(e.line, Some(2));
        let e = refused("tls_server_config:\n  cert_file: a.crt\n");
        assert_eq!(e.message, "missing key_file");
        let e = refused("tls_server_config:\n  client_auth_type: Bogus\n");
        assert_eq!(e.message, "missing cert_file");
        let e = refused(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Bogus\n",
        );
        assert_eq!(e.message, "Invalid ClientAuth: Bogus");
        assert_eq!(e.line, Some(4));
        let e = refused("foo: 1\n");
        assert!(e.message.contains("foo"), "{e}");
        let e = refused("tls_server_config:\n  min_version: TLS14\n");
        assert_eq!(e.message, "unknown TLS version: TLS14");
    }

    #[test]
    fn bcrypt_cost_follows_go() {
        assert_eq!(bcrypt_cost(HASH), Ok(10));
        assert_eq!(
            bcrypt_cost(&HASH.replace("$10$", "$03$")),
            Err("crypto/bcrypt: cost 3 is outside allowed range (4,31)".into())
        );
        assert!(bcrypt_cost(&HASH.replace("$2y", "$3y")).is_err());
    }
}
