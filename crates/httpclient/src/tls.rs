//! TLS for https scrapes: a job's `tls_config` as a rustls client configuration.
//!
//! As in Prometheus: the target's certificate is checked against `ca_file`, or the system's
//! roots without one; `server_name` is the name it must be valid for (instead of the URL's
//! host); `cert_file` and `key_file` present a client certificate; `insecure_skip_verify`
//! accepts any certificate. Files are read when the job starts, so a missing or unreadable
//! one is a configuration error naming it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::TlsConfig;

/// The TLS versions `min_version` and `max_version` allow. rustls speaks TLS 1.2 and 1.3
/// only: a range of older versions alone is refused, saying so.
fn protocol_versions(
    tls: &TlsConfig,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    use crate::config::TlsVersion;
    let min = tls.min_version.unwrap_or(TlsVersion::Tls12);
    let max = tls.max_version.unwrap_or(TlsVersion::Tls13);
    let versions: Vec<_> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect();
    if versions.is_empty() {
        return Err(format!(
            "tls_config: min_version {min:?} and max_version {max:?} leave no version Skywatch speaks; it speaks TLS12 and TLS13"
        ));
    }
    Ok(versions)
}

/// Builds the client configuration `tls` describes.
pub fn client_config(tls: &TlsConfig) -> Result<ClientConfig, String> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocol_versions(tls)?)
        .map_err(|e| format!("tls_config: {e}"))?;
    let verifier = verifier(
        provider,
        tls.insecure_skip_verify,
        tls.server_name.as_deref(),
        || match &tls.ca_file {
            Some(path) => roots_from(path),
            None => system_roots(),
        },
    )?;
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&tls.cert_file, &tls.key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let certs = certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "tls_config.key_file {}: no private key read: {e}",
                    key.display()
                )
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                format!(
                    "tls_config: the key in {} does not fit the certificate in {}: {e}",
                    tls.key_file.as_deref().unwrap_or(Path::new("")).display(),
                    cert.display()
                )
            })
        }
        (Some(_), None) => Err("tls_config: cert_file is set without key_file; set both".into()),
        (None, Some(_)) => Err("tls_config: key_file is set without cert_file; set both".into()),
    }
}

/// TLS settings given as PEM text rather than files, as a kubeconfig may hold them inline
/// (`certificate-authority-data`, `client-certificate-data`): the CA to verify the server
/// with (the system's roots without one), a client certificate and key, the name the
/// server's certificate must hold and whether to verify it at all. `what` names the
/// source in errors.
#[derive(Debug, Clone, Default)]
pub struct PemTls {
    /// Where the settings come from, for errors.
    pub what: String,
    /// The CA certificates, PEM.
    pub ca: Option<Vec<u8>>,
    /// The client certificate and its key, PEM.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate must be valid for.
    pub server_name: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// Builds the client configuration PEM settings describe.
pub fn client_config_pem(tls: &PemTls) -> Result<ClientConfig, String> {
    let what = &tls.what;
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{what}: {e}"))?;
    let verifier = verifier(
        provider,
        tls.insecure_skip_verify,
        tls.server_name.as_deref(),
        || match &tls.ca {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for cert in pem_certificates(pem, what)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("{what}: not a usable CA certificate: {e}"))?;
                }
                Ok(roots)
            }
            None => system_roots(),
        },
    )?;
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &tls.identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let certs = pem_certificates(cert, what)?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| format!("{what}: no client key read: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("{what}: the client key does not fit the certificate: {e}"))
        }
    }
}

/// How the server's certificate is checked: not at all, against `roots`, and for
/// `server_name` rather than the URL's host when one is given.
fn verifier(
    provider: Arc<CryptoProvider>,
    insecure_skip_verify: bool,
    server_name: Option<&str>,
    roots: impl FnOnce() -> Result<RootCertStore, String>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    if insecure_skip_verify {
        return Ok(Arc::new(AcceptAny(provider)));
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots()?), provider)
        .build()
        .map_err(|e| format!("tls_config: {e}"))?;
    Ok(match server_name {
        Some(name) => {
            let name = ServerName::try_from(name.to_owned())
                .map_err(|e| format!("tls_config.server_name {name:?} is not a host name: {e}"))?;
            Arc::new(ExpectName { webpki, name })
        }
        None => webpki,
    })
}

/// The PEM certificates in `pem`; at least one.
fn pem_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: cannot read certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The PEM certificates in `path`; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: cannot read certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn roots_from(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(format!(
            "tls_config: no CA certificates found on this system ({}); install ca-certificates or set ca_file",
            found
                .errors
                .first()
                .map_or("none in the usual places".to_owned(), ToString::to_string)
        ));
    }
    Ok(roots)
}

/// Verifies the certificate for the configured `server_name` rather than the URL's host.
#[derive(Debug)]
struct ExpectName {
    webpki: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for ExpectName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted, though the handshake's signatures
/// are still checked (the connection is encrypted, to whoever answers).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::server::WebPkiClientVerifier;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A certificate authority, and files of what it signed, in a temporary directory.
    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
        dir: tempfile::TempDir,
    }

    impl Ca {
        fn new() -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let issuer =
                CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("ca.pem"), issuer.pem()).unwrap();
            Self { issuer, dir }
        }

        fn ca_file(&self) -> PathBuf {
            self.dir.path().join("ca.pem")
        }

        /// Signs a certificate for `names`; returns its DER, its key's DER and the paths of
        /// both as PEM files named after `file`.
        fn sign(
            &self,
            names: &[&str],
            file: &str,
        ) -> (
            CertificateDer<'static>,
            PrivateKeyDer<'static>,
            PathBuf,
            PathBuf,
        ) {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &self.issuer)
                .unwrap();
            let (cert_path, key_path) = (
                self.dir.path().join(format!("{file}.pem")),
                self.dir.path().join(format!("{file}-key.pem")),
            );
            std::fs::write(&cert_path, cert.pem()).unwrap();
            std::fs::write(&key_path, key.serialize_pem()).unwrap();
            let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
            (cert.der().clone(), key, cert_path, key_path)
        }
    }

    /// Serves `tls_up 1` over TLS, signed by `ca` for `names`; asks for a client
    /// certificate signed by `ca` if `client_auth`.
    async fn serve(ca: &Ca, names: &[&str], client_auth: bool) -> SocketAddr {
        let (cert, key, _, _) = ca.sign(names, "server");
        let provider = Arc::new(aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            roots.add(ca.issuer.der().clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(vec![cert], key).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.ends_with(b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = "tls_up 1\n";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        addr
    }

    /// GETs `/metrics` from `addr` over TLS with `tls`: the body, or the error with its
    /// causes.
    async fn scrape(addr: SocketAddr, tls: &TlsConfig) -> Result<String, String> {
        fn chain(e: &dyn std::error::Error) -> String {
            let mut text = e.to_string();
            let mut cause = e.source();
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
        let client = crate::config::HttpClientConfig {
            tls_config: tls.clone(),
            follow_redirects: true,
            enable_http2: true,
            ..Default::default()
        }
        .client()?;
        let response = client
            .get(format!("https://{addr}/metrics"))
            .send()
            .await
            .map_err(|e| chain(&e))?;
        response.text().await.map_err(|e| chain(&e))
    }

    #[tokio::test]
    async fn a_target_is_verified_against_ca_file_and_rejected_by_another_ca() {
        let ca = Ca::new();
        let addr = serve(&ca, &["127.0.0.1"], false).await;
        let trusted = TlsConfig {
            ca_file: Some(ca.ca_file()),
            ..TlsConfig::default()
        };
        assert_eq!(scrape(addr, &trusted).await.unwrap(), "tls_up 1\n");

        let other = Ca::new();
        let untrusted = TlsConfig {
            ca_file: Some(other.ca_file()),
            ..TlsConfig::default()
        };
        let err = scrape(addr, &untrusted).await.unwrap_err();
        assert!(err.contains("invalid peer certificate"), "{err}");
        // insecure_skip_verify accepts it all the same.
        let insecure = TlsConfig {
            insecure_skip_verify: true,
            ..untrusted
        };
        assert_eq!(scrape(addr, &insecure).await.unwrap(), "tls_up 1\n");
    }

    #[tokio::test]
    async fn server_name_is_the_name_the_certificate_must_hold() {
        let ca = Ca::new();
        let addr = serve(&ca, &["node-7.example"], false).await;
        let by_address = TlsConfig {
            ca_file: Some(ca.ca_file()),
            ..TlsConfig::default()
        };
        let err = scrape(addr, &by_address).await.unwrap_err();
        assert!(err.contains("not valid for name \"127.0.0.1\""), "{err}");
        let by_name = TlsConfig {
            server_name: Some("node-7.example".into()),
            ..by_address
        };
        assert_eq!(scrape(addr, &by_name).await.unwrap(), "tls_up 1\n");
    }

    #[tokio::test]
    async fn a_client_certificate_is_presented_when_configured() {
        let ca = Ca::new();
        let addr = serve(&ca, &["127.0.0.1"], true).await;
        let (_, _, cert_file, key_file) = ca.sign(&["skywatch"], "client");
        let without = TlsConfig {
            ca_file: Some(ca.ca_file()),
            ..TlsConfig::default()
        };
        assert!(scrape(addr, &without).await.is_err());
        let with = TlsConfig {
            cert_file: Some(cert_file),
            key_file: Some(key_file),
            ..without
        };
        assert_eq!(scrape(addr, &with).await.unwrap(), "tls_up 1\n");
    }

    #[test]
    fn min_and_max_version_choose_the_protocols() {
        use crate::config::TlsVersion;
        let with = |min, max| TlsConfig {
            min_version: min,
            max_version: max,
            ..TlsConfig::default()
        };
        assert_eq!(protocol_versions(&with(None, None)).unwrap().len(), 2);
        assert_eq!(
            protocol_versions(&with(Some(TlsVersion::Tls13), None)).unwrap()[0].version,
            rustls::ProtocolVersion::TLSv1_3
        );
        assert_eq!(
            protocol_versions(&with(Some(TlsVersion::Tls10), Some(TlsVersion::Tls12)))
                .unwrap()
                .len(),
            1
        );
        assert!(protocol_versions(&with(None, Some(TlsVersion::Tls11))).is_err());
    }

    #[test]
    fn bad_settings_name_the_file_or_field() {
        let ca = Ca::new();
        let missing = ca.dir.path().join("nope.pem");
        let err = client_config(&TlsConfig {
            ca_file: Some(missing.clone()),
            ..TlsConfig::default()
        })
        .unwrap_err();
        assert!(err.contains(&missing.display().to_string()), "{err}");

        let not_pem = ca.dir.path().join("empty.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let err = client_config(&TlsConfig {
            ca_file: Some(not_pem),
            ..TlsConfig::default()
        })
        .unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");

        let err = client_config(&TlsConfig {
            cert_file: Some(ca.ca_file()),
            ..TlsConfig::default()
        })
        .unwrap_err();
        assert_eq!(
            err,
            "tls_config: cert_file is set without key_file; set both"
        );
    }
}
