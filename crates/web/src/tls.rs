//! TLS for the server's listeners: a `tls_server_config` made into a rustls server
//! configuration, and [`TlsListener`], which accepts TCP connections, completes their
//! handshakes concurrently (a slow client holds up no one) and hands the TLS streams to
//! axum. The configuration comes from [`crate::Watched`], so a certificate and key
//! rewritten on disk serve the next connection, as exporter-toolkit re-reads them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use crate::config::{ClientAuth, Curve, Error, TlsServerConfig, TlsVersion};

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the rustls server configuration `tls` describes, reading its files; `file`
/// names the web configuration in errors, `alpn` the protocols to offer.
pub fn server_config(
    tls: &TlsServerConfig,
    file: &str,
    alpn: &[&[u8]],
) -> Result<rustls::ServerConfig, Error> {
    let read = |path: &std::path::Path, field: &str| {
        std::fs::read(path).map_err(|e| {
            Error::new(
                file,
                None,
                format!("tls_server_config.{field}"),
                format!("cannot read {}: {e}", path.display()),
                "give a readable PEM file (relative paths start at the web configuration's directory)",
            )
        })
    };
    let cert_pem = read(&tls.cert_file, "cert_file")?;
    let key_pem = read(&tls.key_file, "key_file")?;
    let load_error = |field: &str, message: String| {
        Error::new(
            file,
            None,
            format!("tls_server_config.{field}"),
            format!("failed to load X509KeyPair: {message}"),
            "give the PEM certificate chain in cert_file and its PEM private key in key_file",
        )
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| load_error("cert_file", format!("{}: {e}", tls.cert_file.display())))?;
    if chain.is_empty() {
        return Err(load_error(
            "cert_file",
            format!("{}: no certificate in the file", tls.cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| load_error("key_file", format!("{}: {e}", tls.key_file.display())))?;

    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    select_suites(&mut provider, &tls.cipher_suites);
    if !tls.curve_preferences.is_empty() {
        let all = provider.kx_groups.clone();
        provider.kx_groups = tls
            .curve_preferences
            .iter()
            .filter_map(|c| {
                let name = match c {
                    Curve::P256 => rustls::NamedGroup::secp256r1,
                    Curve::P384 => rustls::NamedGroup::secp384r1,
                    Curve::X25519 => rustls::NamedGroup::X25519,
                };
                all.iter().find(|g| g.name() == name).copied()
            })
            .collect();
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_version..=tls.max_version).contains(v))
    .map(|(_, v)| v)
    .collect();
    let provider = Arc::new(provider);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            Error::new(
                file,
                None,
                "tls_server_config.cipher_suites",
                format!("no cipher suite is left for the versions asked: {e}"),
                "list a suite of every version between min_version and max_version",
            )
        })?;
    let verifier = client_verifier(tls, file, &read, &provider)?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| load_error("key_file", e.to_string()))?;
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Keeps TLS 1.3's suites (as in Go, they are not configurable) and, if `names` lists
/// any, only the TLS 1.2 suites it names (Go's names, which are rustls's).
fn select_suites(provider: &mut CryptoProvider, names: &[String]) {
    if names.is_empty() {
        return;
    }
    provider.cipher_suites.retain(|s| {
        s.version() == &rustls::version::TLS13 || names.contains(&format!("{:?}", s.suite()))
    });
}

/// Reads a file the configuration names, or says which field named it.
type ReadFile<'a> = &'a dyn Fn(&std::path::Path, &str) -> Result<Vec<u8>, Error>;

fn client_verifier(
    tls: &TlsServerConfig,
    file: &str,
    read: ReadFile<'_>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let verified =
        |optional: bool| -> Result<Arc<dyn ClientCertVerifier>, Error> {
            let mut roots = rustls::RootCertStore::empty();
            match &tls.client_ca_file {
                Some(path) => {
                    let pem = read(path, "client_ca_file")?;
                    for cert in CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert.map_err(|e| {
                        Error::new(
                            file,
                            None,
                            "tls_server_config.client_ca_file",
                            format!("{}: {e}", path.display()),
                            "give the PEM certificates of the CAs that sign client certificates",
                        )
                    })?;
                        // Go's AppendCertsFromPEM skips what it cannot parse; so does this.
                        let _ = roots.add(cert);
                    }
                }
                // Without client_ca_file, Go verifies client certificates against the
                // system's roots.
                None => {
                    for cert in rustls_native_certs::load_native_certs().certs {
                        let _ = roots.add(cert);
                    }
                }
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if optional {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder.build().map(|v| v as Arc<dyn ClientCertVerifier>).map_err(|e| {
            Error::new(
                file,
                None,
                "tls_server_config.client_ca_file",
                format!("no usable client CA: {e}"),
                "give client_ca_file with the CA certificates that sign client certificates",
            )
        })
        };
    Ok(match tls.client_auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert => Arc::new(AnyCert {
            provider: provider.clone(),
            mandatory: false,
        }),
        ClientAuth::RequireAnyClientCert => Arc::new(AnyCert {
            provider: provider.clone(),
            mandatory: true,
        }),
        ClientAuth::VerifyClientCertIfGiven => verified(true)?,
        ClientAuth::RequireAndVerifyClientCert => verified(false)?,
    })
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: a client certificate is asked
/// for (required, if `mandatory`) and not verified, beyond the handshake's own proof that
/// the client holds its key.
#[derive(Debug)]
struct AnyCert {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Which protocols a listener offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/1.1 only (the main listener: axum here speaks HTTP/1).
    Http1,
    /// HTTP/2 only (gRPC).
    H2,
}

impl Alpn {
    pub(crate) fn protocols(self) -> &'static [&'static [u8]] {
        match self {
            Alpn::Http1 => &[b"http/1.1"],
            Alpn::H2 => &[b"h2"],
        }
    }
}

/// A TCP listener whose connections are TLS, with the configuration [`crate::Watched`]
/// holds at each connection's start.
pub struct TlsListener {
    tcp: TcpListener,
    watched: Arc<crate::Watched>,
    alpn: Alpn,
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    send: tokio::sync::mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Serves TLS on `tcp` with the configuration `watched` holds.
    pub fn new(tcp: TcpListener, watched: Arc<crate::Watched>, alpn: Alpn) -> Self {
        let (send, ready) = tokio::sync::mpsc::channel(64);
        Self {
            tcp,
            watched,
            alpn,
            ready,
            send,
        }
    }

    /// The next connection whose handshake completed, with its peer's address. Failed
    /// handshakes are logged at debug level and skipped; accept errors are retried.
    pub async fn next(&mut self) -> (TlsStream<TcpStream>, SocketAddr) {
        loop {
            tokio::select! {
                Some(done) = self.ready.recv() => return done,
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, peer)) => self.handshake(tcp, peer),
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::error!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    fn handshake(&self, tcp: TcpStream, peer: SocketAddr) {
        let Some(config) = self.watched.current().tls(self.alpn) else {
            tracing::error!("TLS is no longer configured; refusing the connection");
            return;
        };
        let send = self.send.clone();
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = send.send((stream, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.next().await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suites_are_picked_by_go_names() {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        let all = provider.cipher_suites.len();
        select_suites(&mut provider, &[]);
        assert_eq!(provider.cipher_suites.len(), all);
        select_suites(
            &mut provider,
            &["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()],
        );
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(tls12, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert!(provider.cipher_suites.len() > 1, "TLS 1.3's suites stay");
    }

    #[test]
    fn every_accepted_suite_name_is_one_rustls_has() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let names: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()).replace("TLS13_", "TLS_"))
            .collect();
        for (name, implemented) in crate::config::CIPHER_SUITES {
            assert_eq!(names.iter().any(|n| n == name), *implemented, "{name}");
        }
    }
}
