//! `--web.config.file` end to end, over TLS with certificates made at test time: every
//! route refuses a request without credentials (401) and serves one with them; client
//! certificates are required when the file says so; promtool and amtool work through
//! TLS and basic auth (amtool with its `--http.config.file`, promtool 2.42, which has no
//! such flag, with the URL's user info and Go's `SSL_CERT_FILE`); OTLP/gRPC takes the same TLS
//! and credentials; the lifecycle and admin switches answer as Prometheus; and
//! `skywatch check web-config` agrees with `promtool check web-config` on the fixtures,
//! but for the differences they name.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;

use common::{Killed, output_text, python, start_skywatch_otlp, tool};

const PASSWORD: &str = "correct horse";

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate,
/// written as PEM files into `dir`.
struct Pki {
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca = common::test_ca();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    // A subject of its own: with rcgen's default one, the same as the CA's, BoringSSL
    // (gRPC's Python client) takes the certificate for self-signed.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "skywatch test server");
    let cert = params.signed_by(&key, &ca).unwrap();
    write("server.crt", cert.pem());
    write("server.key", key.serialize_pem());
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["client".to_owned()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "skywatch test client");
    let client = params.signed_by(&client_key, &ca).unwrap();
    Pki {
        ca: write("ca.crt", ca.pem()),
        client_cert: write("client.crt", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// A web configuration with TLS, `client_auth` (empty for none) and one user, alice,
/// whose hash has bcrypt's cheapest cost (4), for speed.
fn web_config(dir: &Path, client_auth: &str) -> PathBuf {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let client = if client_auth.is_empty() {
        String::new()
    } else {
        format!("  client_auth_type: {client_auth}\n  client_ca_file: ca.crt\n")
    };
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{client}\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  alice: {hash}\n"
        ),
    )
    .unwrap();
    path
}

fn tls_client(pki: &Pki, with_cert: bool) -> reqwest::blocking::Client {
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(&pki.ca).unwrap();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = if with_cert {
        let chain = rustls::pki_types::CertificateDer::pem_file_iter(&pki.client_cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&pki.client_key).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `skywatch up` with the web configuration, a configuration file (so /-/reload has
/// something to reload), Alertmanager's API and the lifecycle switch on.
fn start(dir: &Path, web: &Path, more: &[&str]) -> (Killed, String, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let am = dir.join("alertmanager.yml");
    std::fs::write(
        &am,
        "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
    )
    .unwrap();
    let data = dir.join("data");
    let mut args: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        config.into(),
        "--alertmanager-config".into(),
        am.into(),
        "--web.config.file".into(),
        web.into(),
    ];
    args.extend(more.iter().map(Into::into));
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let (server, addr, grpc, _log) = start_skywatch_otlp(&data, &refs);
    (server, addr, grpc)
}

/// A request for `route` with its path parameters filled in and a body its handler can
/// read where it needs one.
fn request(
    client: &reqwest::blocking::Client,
    addr: &str,
    route: &api::access::Route,
) -> reqwest::blocking::RequestBuilder {
    let path = route
        .path
        .replace("{name}", "job")
        .replace("{id}", "0123456789abcdef0123456789abcdef")
        .replace("{service}", "svc")
        .replace("{tag}", "service.name")
        .replace("{uid}", "none")
        .replace("{*rest}", "a/b");
    let url = format!("https://{addr}{path}");
    let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
    let r = client.request(method, url);
    match (route.method, route.path) {
        ("POST", "/v1/traces" | "/v1/metrics" | "/v1/logs") => r
            .header("content-type", "application/x-protobuf")
            .body(Vec::new()),
        ("POST", "/loki/api/v1/push" | "/api/prom/push") => r
            .header("content-type", "application/json")
            .body(r#"{"streams":[]}"#),
        ("POST", "/api/v2/alerts") => r.header("content-type", "application/json").body("[]"),
        ("POST", _) | ("PUT", _) => r.header("content-type", "application/json").body("{}"),
        _ => r,
    }
}

#[test]
fn every_route_refuses_without_credentials_and_serves_with_them_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = web_config(dir.path(), "");
    let (mut server, addr, _grpc) = start(dir.path(), &web, &["--web.enable-lifecycle"]);
    let client = tls_client(&pki, false);
    let mut served = 0;
    // The demo's routes need the demo: tested by the classifier's unit test only.
    for route in api::access::ROUTES.iter().filter(|r| r.family != "demo") {
        let what = format!("{} {}", route.method, route.path);
        let r = request(&client, &addr, route).send().unwrap();
        assert_eq!(r.status(), 401, "{what} without credentials");
        assert_eq!(r.headers()["www-authenticate"], "Basic", "{what}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{what}");
        let r = request(&client, &addr, route)
            .header("authorization", basic("alice", "wrong"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{what} with a wrong password");
        if route.path == "/-/quit" {
            // Served last: it stops the server.
            continue;
        }
        let r = request(&client, &addr, route)
            .header("authorization", basic("alice", PASSWORD))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        // The guard lets it through and the handler answers: a 400 for a request missing
        // its parameters, a 404 for an ID that is not there, never a refusal or a failure.
        assert!(
            status != 401 && status != 403 && status < 500,
            "{what} with credentials: {status} {}",
            r.text().unwrap_or_default()
        );
        served += 1;
    }
    assert!(served > 100, "only {served} routes walked");
    // The routes users reach first answer 200 exactly.
    for path in [
        "/api/v1/query?query=1",
        "/api/v1/labels",
        "/api/v1/status/buildinfo",
        "/metrics",
        "/-/healthy",
        "/",
        "/api/v2/silences",
    ] {
        let r = client
            .get(format!("https://{addr}{path}"))
            .header("authorization", basic("alice", PASSWORD))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = client
        .post(format!("https://{addr}/-/reload"))
        .header("authorization", basic("alice", PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());
    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::blocking::get(format!("http://{addr}/-/healthy"));
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));
    // /-/quit stops the server, as Prometheus's.
    let r = client
        .post(format!("https://{addr}/-/quit"))
        .header("authorization", basic("alice", PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "Requesting termination... Goodbye!");
    common::within(
        std::time::Duration::from_secs(30),
        "the server to stop after /-/quit",
        || server.0.try_wait().unwrap().is_some(),
    );
}

/// A client that trusts only `ca` (PEM).
fn client_trusting(ca: &str) -> reqwest::blocking::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

#[test]
fn a_rewritten_certificate_serves_the_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = web_config(dir.path(), "");
    let (_server, addr, _grpc) = start(dir.path(), &web, &[]);
    let url = format!("https://{addr}/-/healthy");
    let get = |client: &reqwest::blocking::Client| {
        client
            .get(&url)
            .header("authorization", basic("alice", PASSWORD))
            .send()
    };
    // A second CA, whose certificate the server does not have yet.
    let other = common::test_ca();
    let other_client = client_trusting(&other.pem());
    assert_eq!(get(&tls_client(&pki, false)).unwrap().status(), 200);
    assert!(
        get(&other_client).is_err(),
        "served a certificate of the second CA already"
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "skywatch rotated server");
    let cert = params.signed_by(&key, &other).unwrap();
    // The key first, then the certificate: until both are written, the pair does not
    // match, and the running one is kept.
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
    common::within(
        std::time::Duration::from_secs(20),
        "a new connection to get the rewritten certificate",
        || get(&other_client).is_ok_and(|r| r.status() == 200),
    );
    assert!(
        get(&tls_client(&pki, false)).is_err(),
        "still serving the old certificate"
    );
}

#[test]
fn a_client_without_a_certificate_is_refused_when_one_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = web_config(dir.path(), "RequireAndVerifyClientCert");
    let (_server, addr, _grpc) = start(dir.path(), &web, &[]);
    let url = format!("https://{addr}/-/healthy");
    let refused = tls_client(&pki, false)
        .get(&url)
        .header("authorization", basic("alice", PASSWORD))
        .send();
    assert!(
        refused.is_err(),
        "served without a client certificate: {refused:?}"
    );
    let r = tls_client(&pki, true)
        .get(&url)
        .header("authorization", basic("alice", PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn lifecycle_and_admin_routes_are_off_without_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = web_config(dir.path(), "");
    let (_server, addr, _grpc) = start(dir.path(), &web, &[]);
    let client = tls_client(&pki, false);
    let r = client
        .post(format!("https://{addr}/-/reload"))
        .header("authorization", basic("alice", PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().unwrap(), "Lifecycle API is not enabled.\n");
    let r = client
        .put(format!("https://{addr}/-/quit"))
        .header("authorization", basic("alice", PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(format!("https://{addr}/api/v1/admin/tsdb/snapshot"))
        .header("authorization", basic("alice", PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert_eq!(body["error"], "admin APIs disabled");
    // Credentials come first, as in Prometheus.
    let r = client
        .post(format!("https://{addr}/-/reload"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// An HTTP client configuration for promtool and amtool: basic auth and the test CA.
fn http_config(dir: &Path, pki: &Pki) -> PathBuf {
    let path = dir.join("http.yml");
    std::fs::write(
        &path,
        format!(
            "basic_auth:\n  username: alice\n  password: {PASSWORD}\ntls_config:\n  ca_file: {}\n",
            pki.ca.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn promtool_and_amtool_work_through_tls_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = web_config(dir.path(), "");
    let (_server, addr, _grpc) = start(dir.path(), &web, &[]);
    let http = http_config(dir.path(), &pki);
    // promtool 2.42's `query` has no --http.config.file (2.43 added it): it takes basic
    // auth from the URL's user info, as Go's HTTP client does, and the CA from Go's
    // SSL_CERT_FILE.
    let promtool = |user_info: &str, query: &str| {
        Command::new(tool("promtool"))
            .env("SSL_CERT_FILE", &pki.ca)
            .args(["query", "instant"])
            .arg(format!("https://{user_info}{addr}"))
            .arg(query)
            .output()
            .unwrap()
    };
    let out = promtool(&format!("alice:{}@", PASSWORD.replace(' ', "%20")), "1 + 1");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains('2'),
        "{}",
        output_text(&out)
    );
    // Without the credentials, or with wrong ones, promtool is refused.
    for user_info in ["", "alice:wrong@"] {
        let out = promtool(user_info, "1");
        assert!(!out.status.success(), "{user_info}: {}", output_text(&out));
        assert!(output_text(&out).contains("401"), "{}", output_text(&out));
    }
    let amtool = common::tool_named("amtool", "prometheus-alertmanager");
    let am = |args: &[&str]| {
        Command::new(&amtool)
            .arg(format!("--alertmanager.url=https://{addr}"))
            .arg(format!("--http.config.file={}", http.display()))
            .args(args)
            .output()
            .unwrap()
    };
    let out = am(&[
        "silence",
        "add",
        "alertname=Test",
        "--comment=through TLS",
        "--author=test",
        "--duration=1h",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let out = am(&["silence", "query", "-o", "json"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("through TLS"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn otlp_grpc_takes_the_same_tls_and_credentials() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let web = web_config(dir.path(), "");
    let (_server, _addr, grpc) = start(dir.path(), &web, &[]);
    // One raw Export call with an empty request, over TLS with the test CA.
    let script = r#"
import sys, grpc
target, ca, auth = sys.argv[1], sys.argv[2], sys.argv[3]
creds = grpc.ssl_channel_credentials(open(ca, "rb").read())
channel = grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
metadata = [("authorization", auth)] if auth else []
try:
    export(b"", metadata=metadata, timeout=20)
    print("OK")
except grpc.RpcError as e:
    print(e.code().name, e.details())
"#;
    let call = |auth: &str| {
        let out = Command::new(&python)
            .args(["-c", script, &grpc])
            .arg(&pki.ca)
            .arg(auth)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", output_text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let code = |answer: &str| answer.split(' ').next().unwrap_or_default().to_owned();
    for (auth, expected) in [
        (String::new(), "UNAUTHENTICATED"),
        (basic("alice", "wrong"), "UNAUTHENTICATED"),
        (basic("alice", PASSWORD), "OK"),
    ] {
        let answer = call(&auth);
        assert_eq!(code(&answer), expected, "{auth:?}: {answer}");
    }
}

/// The fixtures: `ok-*` files both checkers accept, `bad-*` files both refuse, and
/// `rustls-*` files Prometheus accepts and Skywatch refuses, one per class of difference
/// (what rustls does not implement). TLS fixtures name `server.crt`, `server.key` and
/// `ca.crt`, made beside them at test time.
#[test]
fn check_web_config_agrees_with_promtool_on_the_fixtures() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "fixtures missing: {files:?}");
    let mut differences = 0;
    for fixture in &files {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let copy = dir.path().join(&name);
        std::fs::copy(fixture, &copy).unwrap();
        let promtool = Command::new(tool("promtool"))
            .args(["check", "web-config"])
            .arg(&copy)
            .output()
            .unwrap();
        let skywatch = Command::new(env!("CARGO_BIN_EXE_skywatch"))
            .args(["check", "web-config"])
            .arg(&copy)
            .output()
            .unwrap();
        let verdict = |o: &std::process::Output| {
            let text = output_text(o);
            let says = if text.contains(" SUCCESS") {
                "SUCCESS"
            } else {
                "FAILED"
            };
            assert_eq!(
                o.status.success(),
                says == "SUCCESS",
                "{name}: exit status and output disagree: {text}"
            );
            says
        };
        let (p, s) = (verdict(&promtool), verdict(&skywatch));
        let expected = match name.split('-').next() {
            Some("ok") => ("SUCCESS", "SUCCESS"),
            Some("bad") => ("FAILED", "FAILED"),
            Some("rustls") => {
                differences += 1;
                ("SUCCESS", "FAILED")
            }
            _ => panic!("{name}: name fixtures ok-, bad- or rustls-"),
        };
        assert_eq!(
            (p, s),
            expected,
            "{name}: promtool said {}, skywatch said {}",
            output_text(&promtool),
            output_text(&skywatch)
        );
        // Skywatch's refusal names the file and says what rustls lacks.
        if expected.0 != expected.1 {
            assert!(
                output_text(&skywatch).contains("rustls"),
                "{name}: {}",
                output_text(&skywatch)
            );
        }
    }
    assert!(differences >= 3);
}
