//! [`Watched`]: the web configuration and access files, and the certificate, key and CA
//! files they name, read again when one of them changes on disk (a stat of each per
//! request or connection; exporter-toolkit reads the whole file each time). A change that
//! no longer reads is logged and the running configuration kept, so a half-written file
//! never takes the server down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::access::{AccessConfig, ClassAccess};
use crate::auth::Credentials;
use crate::config::{Config, Error};
use crate::guard::Class;
use crate::tls::Alpn;

/// One reading of the files.
pub struct Loaded {
    /// The web configuration (empty without a file).
    pub config: Config,
    /// The access file (every class enabled, none with credentials of its own, without one).
    pub access: AccessConfig,
    http_tls: Option<Arc<rustls::ServerConfig>>,
    grpc_tls: Option<Arc<rustls::ServerConfig>>,
    read: Option<Arc<Credentials>>,
    write: Option<Arc<Credentials>>,
    admin: Option<Arc<Credentials>>,
}

impl Loaded {
    fn new(config: Config, access: AccessConfig, file: &str) -> Result<Loaded, Error> {
        let (http_tls, grpc_tls) = match &config.tls {
            Some(tls) => (
                Some(Arc::new(crate::tls::server_config(
                    tls,
                    file,
                    Alpn::Http1.protocols(),
                )?)),
                Some(Arc::new(crate::tls::server_config(
                    tls,
                    file,
                    Alpn::H2.protocols(),
                )?)),
            ),
            None => (None, None),
        };
        let credentials = |class: &ClassAccess| {
            class.enabled.then(|| {
                Arc::new(if class.own_credentials() {
                    Credentials::new(
                        class.users.clone().unwrap_or_default(),
                        class.tokens.as_deref().unwrap_or_default(),
                    )
                } else {
                    Credentials::new(config.users.clone(), &[])
                })
            })
        };
        Ok(Loaded {
            read: credentials(&access.read),
            write: credentials(&access.write),
            admin: credentials(&access.admin),
            http_tls,
            grpc_tls,
            config,
            access,
        })
    }

    /// The TLS configuration for a listener offering `alpn`, if the file asks for TLS.
    pub fn tls(&self, alpn: Alpn) -> Option<Arc<rustls::ServerConfig>> {
        match alpn {
            Alpn::Http1 => self.http_tls.clone(),
            Alpn::H2 => self.grpc_tls.clone(),
        }
    }

    /// What a class accepts; `None` when the access file turns it off.
    pub fn credentials(&self, class: Class) -> Option<&Arc<Credentials>> {
        match class {
            Class::Read => self.read.as_ref(),
            Class::Write => self.write.as_ref(),
            Class::Admin => self.admin.as_ref(),
        }
    }
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

struct State {
    stamps: Vec<(PathBuf, Stamp)>,
    current: Arc<Loaded>,
}

/// The files, read again when they change.
pub struct Watched {
    web: Option<PathBuf>,
    access: Option<PathBuf>,
    state: Mutex<State>,
}

impl Watched {
    /// Reads the web configuration at `web` and the access file at `access` (either may
    /// be absent); the first reading must succeed.
    pub fn open(web: Option<&Path>, access: Option<&Path>) -> Result<Arc<Watched>, Error> {
        let (loaded, stamps) = read(web, access)?;
        Ok(Arc::new(Watched {
            web: web.map(Path::to_path_buf),
            access: access.map(Path::to_path_buf),
            state: Mutex::new(State {
                stamps,
                current: Arc::new(loaded),
            }),
        }))
    }

    /// The current reading: the files are read again if one changed since the last.
    pub fn current(&self) -> Arc<Loaded> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let changed = state.stamps.iter().any(|(p, s)| stamp(p) != *s);
        if changed {
            match read(self.web.as_deref(), self.access.as_deref()) {
                Ok((loaded, stamps)) => {
                    tracing::info!("web configuration reloaded");
                    state.current = Arc::new(loaded);
                    state.stamps = stamps;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the web configuration changed and no longer reads; keeping the running one");
                    // Not tried again until a file changes once more.
                    state.stamps = state
                        .stamps
                        .iter()
                        .map(|(p, _)| (p.clone(), stamp(p)))
                        .collect();
                }
            }
        }
        state.current.clone()
    }
}

fn read(
    web: Option<&Path>,
    access: Option<&Path>,
) -> Result<(Loaded, Vec<(PathBuf, Stamp)>), Error> {
    let mut stamps = Vec::new();
    let mut watch = |p: &Path| stamps.push((p.to_path_buf(), stamp(p)));
    let config = match web {
        Some(path) => {
            watch(path);
            Config::load(path)?
        }
        None => Config::default(),
    };
    if let Some(tls) = &config.tls {
        watch(&tls.cert_file);
        watch(&tls.key_file);
        if let Some(ca) = &tls.client_ca_file {
            watch(ca);
        }
    }
    let access_config = match access {
        Some(path) => {
            watch(path);
            let a = AccessConfig::load(path)?;
            for class in [&a.read, &a.write, &a.admin] {
                if let Some(f) = &class.tokens_file {
                    watch(f);
                }
            }
            a
        }
        None => AccessConfig::default(),
    };
    let file = web.map(|p| p.display().to_string()).unwrap_or_default();
    Ok((Loaded::new(config, access_config, &file)?, stamps))
}
