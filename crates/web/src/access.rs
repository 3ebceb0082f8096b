//! Skywatch's access file (`--web.access-config.file`), an extension kept out of the
//! web configuration so that file stays valid for Prometheus and Alertmanager (which
//! refuse unknown keys): per route class, whether it is served and which credentials it
//! takes.
//!
//! ```yaml
//! read:                      # queries, UI, dashboards, metadata, /metrics, health
//!   bearer_tokens_file: grafana.tokens
//! write:                     # OTLP, Loki push, remote write
//!   bearer_tokens_file: ingest.tokens
//! admin:                     # reload, quit, admin API, silences, alerts POST, demo chaos
//!   enabled: false
//! ```
//!
//! A class without `basic_auth_users` and `bearer_tokens_file` takes the web
//! configuration's `basic_auth_users` (open if there are none); a class with either
//! takes only those. `bearer_tokens_file` holds one token a line (blank lines and `#`
//! comments skipped), each at least 16 characters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use yaml::Spanned;

use crate::config::{Error, bcrypt_cost};

/// The shortest bearer token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// The access file, checked, its token files read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessConfig {
    /// `read`.
    pub read: ClassAccess,
    /// `write`.
    pub write: ClassAccess,
    /// `admin`.
    pub admin: ClassAccess,
}

/// One class's section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassAccess {
    /// `enabled` (default true): false answers the class's routes 403.
    pub enabled: bool,
    /// `basic_auth_users`: user name to bcrypt hash; `None` when absent.
    pub users: Option<BTreeMap<String, String>>,
    /// The tokens of `bearer_tokens_file`; `None` when absent.
    pub tokens: Option<Vec<String>>,
    /// `bearer_tokens_file`, resolved.
    pub tokens_file: Option<PathBuf>,
}

impl Default for ClassAccess {
    fn default() -> Self {
        Self {
            enabled: true,
            users: None,
            tokens: None,
            tokens_file: None,
        }
    }
}

impl ClassAccess {
    /// Whether the section names credentials of its own.
    pub fn own_credentials(&self) -> bool {
        self.users.is_some() || self.tokens.is_some()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    read: RawClass,
    write: RawClass,
    admin: RawClass,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawClass {
    enabled: Option<bool>,
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    bearer_tokens_file: Option<Spanned<String>>,
}

impl AccessConfig {
    /// Reads the access file's text; `file` names it in errors. Token files are not read.
    pub fn parse(text: &str, file: &str) -> Result<AccessConfig, Error> {
        let raw: Raw = yaml::from_str(text).map_err(|e| {
            Error::new(
                file,
                None,
                "",
                e.to_string(),
                "the keys are read, write and admin, each with enabled, basic_auth_users \
                 and bearer_tokens_file (docs/security.md)",
            )
        })?;
        let class = |name: &str, raw: RawClass| -> Result<ClassAccess, Error> {
            let users = match raw.basic_auth_users {
                None => None,
                Some(users) => {
                    let mut out = BTreeMap::new();
                    for (user, hash) in users {
                        if let Err(message) = bcrypt_cost(&hash.value) {
                            return Err(Error::new(
                                file,
                                Some(hash.referenced.line()),
                                format!("{name}.basic_auth_users.{user}"),
                                message,
                                "give the bcrypt hash of the password (htpasswd -nBC 10 USER)",
                            ));
                        }
                        out.insert(user, hash.value);
                    }
                    Some(out)
                }
            };
            Ok(ClassAccess {
                enabled: raw.enabled.unwrap_or(true),
                users,
                tokens: None,
                tokens_file: raw.bearer_tokens_file.map(|f| PathBuf::from(f.value)),
            })
        };
        Ok(AccessConfig {
            read: class("read", raw.read)?,
            write: class("write", raw.write)?,
            admin: class("admin", raw.admin)?,
        })
    }

    /// Reads the file at `path`, then its token files (relative to its directory).
    pub fn load(path: &Path) -> Result<AccessConfig, Error> {
        let (file, text) = crate::config::read_file(path, "access file")?;
        let mut config = AccessConfig::parse(&text, &file)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for (name, class) in [
            ("read", &mut config.read),
            ("write", &mut config.write),
            ("admin", &mut config.admin),
        ] {
            if let Some(f) = &mut class.tokens_file {
                if f.is_relative() {
                    *f = dir.join(&*f);
                }
                class.tokens = Some(read_tokens(f, &file, name)?);
            }
        }
        Ok(config)
    }
}

fn read_tokens(path: &Path, file: &str, class: &str) -> Result<Vec<String>, Error> {
    let field = format!("{class}.bearer_tokens_file");
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            file,
            None,
            &field,
            format!("cannot read {}: {e}", path.display()),
            "give a readable file of tokens, one a line",
        )
    })?;
    let mut tokens = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.len() < MIN_TOKEN_LEN {
            return Err(Error::new(
                file,
                None,
                &field,
                format!(
                    "{} line {}: the token has {} characters, fewer than {MIN_TOKEN_LEN}: too easy to guess",
                    path.display(),
                    n + 1,
                    t.len()
                ),
                "use random tokens of 32 characters or more (openssl rand -hex 32)",
            ));
        }
        tokens.push(t.to_owned());
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_default_to_enabled_without_credentials() {
        let c = AccessConfig::parse("admin:\n  enabled: false\n", "a.yml")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.admin.enabled);
        assert!(c.read.enabled && c.write.enabled);
        assert!(!c.read.own_credentials());
    }

    #[test]
    fn unknown_keys_and_bad_hashes_are_refused_by_name() {
        let e = AccessConfig::parse("writes: {}\n", "a.yml").err();
        assert!(e.is_some_and(|e| e.message.contains("writes")));
        let e = AccessConfig::parse("write:\n  basic_auth_users:\n    bob: x\n", "a.yml")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.field, "write.basic_auth_users.bob");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn short_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("t"), "# tokens\n\nshort\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("a.yml"),
            "write:\n  bearer_tokens_file: t\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = AccessConfig::load(&dir.path().join("a.yml"))
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(e.message.contains("line 3"), "{e}");
    }
}
