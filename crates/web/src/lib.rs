//! The web configuration Prometheus and Alertmanager take with `--web.config.file`
//! (exporter-toolkit's format), and what Skywatch's listeners do with it.
//!
//! - [`Config`]: the file, parsed and checked (`Config::parse` is pure; errors name the
//!   file, line, field and fix).
//! - [`AccessConfig`]: Skywatch's extension, in a file of its own (the web configuration
//!   stays valid for Prometheus): per route class, whether it is served and what
//!   credentials it takes.
//! - [`Watched`]: both files and the certificates they name, read again when one changes
//!   (a file that no longer reads keeps the running configuration, logged).
//! - [`TlsListener`]: TLS for a listener, with the configuration current at each
//!   connection.
//! - [`Guard`] and [`protect`]: per request, the route's [`Class`] (from a classifier the
//!   caller gives: this crate knows no routes), then CORS, cross-site form posts, basic
//!   auth or bearer tokens (401 with `WWW-Authenticate: Basic`) and the configured
//!   response headers.
//!
//! ```
//! let config = web::Config::parse(
//!     "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
//!     "web.yml",
//! )
//! .unwrap();
//! assert_eq!(config.headers["X-Frame-Options"], "deny");
//! assert!(config.tls.is_none());
//! let err = web::Config::parse("basic_auth_users:\n  alice: hunter2\n", "web.yml").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "web.yml:2: basic_auth_users.alice: crypto/bcrypt: hashedSecret too short to be a \
//!      bcrypted password; give the bcrypt hash of the password (htpasswd -nBC 10 USER, or \
//!      python3 -c 'import bcrypt; print(bcrypt.hashpw(b\"PASSWORD\", bcrypt.gensalt()).decode())')"
//! );
//! ```

mod access;
mod auth;
mod config;
mod guard;
mod tls;
mod watched;

pub use access::{AccessConfig, ClassAccess};
pub use auth::{Authenticator, Credentials};
pub use config::{ClientAuth, Config, Curve, Error, TlsServerConfig, TlsVersion};
pub use guard::{Class, Classifier, Guard, GuardOptions, Refusal, protect};
pub use tls::{Alpn, TlsListener, server_config};
pub use watched::{Loaded, Watched};
