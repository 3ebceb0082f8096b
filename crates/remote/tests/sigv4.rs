//! `remote_write.sigv4`: a destination on loopback checks each request's signature the way
//! AWS does. It reads the credential scope and signed headers from the `Authorization`
//! header, computes the signature again with `aws-sigv4` from the request it received (its
//! method, path, the headers named, the body) and the keys it knows, and compares; a request
//! signed with another key, region, service, time or body does not match.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use model::Labels;
use remote::RemoteWrite;
use storage::{Appendable, MemStorage};

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "eu-west-1";

/// A request as the destination received it.
struct Received {
    method: String,
    path: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

/// A destination that passes every request it gets to the test.
async fn destination() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Received>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Received {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                });
                axum::http::StatusCode::NO_CONTENT
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

/// `20240102T030405Z` as a time.
fn amz_time(text: &str) -> SystemTime {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15);
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap())
}

/// The `Authorization` header AWS expects for `request` signed by `secret` for `region`
/// and `service`, over the headers the request says it signed.
fn expected_authorization(request: &Received, secret: &str, region: &str, service: &str) -> String {
    let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
    let authorization = header("authorization");
    let signed_names = authorization
        .split(", ")
        .find_map(|p| p.strip_prefix("SignedHeaders="))
        .unwrap()
        .to_owned();
    let signed: Vec<(String, String)> = signed_names
        .split(';')
        .map(|name| (name.to_owned(), header(name)))
        .collect();
    let host = header("host");
    let url = format!("http://{host}{}", request.path);
    let identity = Credentials::new(KEY_ID, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(amz_time(&header("x-amz-date")))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        &request.method,
        &url,
        signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&request.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (headers, _) = instructions.into_parts();
    headers
        .into_iter()
        .find(|h| h.name() == "authorization")
        .unwrap()
        .value()
        .to_owned()
}

#[tokio::test]
async fn each_request_is_signed_as_aws_checks_it() {
    let (addr, mut requests) = destination().await;
    let config = scrape::Config::parse(
        &format!(
            "remote_write:\n  - url: http://{addr}/workspaces/ws-1/api/v1/remote_write\n    headers:\n      X-Scope-OrgID: validators\n    sigv4:\n      region: {REGION}\n      access_key: {KEY_ID}\n      secret_key: {SECRET}\n    queue_config:\n      batch_send_deadline: 10ms\n"
        ),
        "test.yml",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), dir.path().join("remote_write"));
    store
        .apply(&config.remote_write, &Default::default())
        .unwrap();
    let mut app = store.appender();
    app.append(None, &Labels::from_pairs([("__name__", "up")]), 1000, 1.0)
        .unwrap();
    app.commit().unwrap();
    let request = tokio::time::timeout(Duration::from_secs(10), requests.recv())
        .await
        .expect("no request within 10s")
        .unwrap();
    store.stop();

    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/workspaces/ws-1/api/v1/remote_write");
    let authorization = request.headers["authorization"].to_str().unwrap();
    let date = request.headers["x-amz-date"].to_str().unwrap();
    assert_eq!(date.len(), 16, "x-amz-date {date}");
    // The credential scope names the key, the day, the region and the service `aps`.
    let scope = format!(
        "Credential={KEY_ID}/{}/{REGION}/aps/aws4_request,",
        &date[..8]
    );
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 {scope}")),
        "{authorization}"
    );
    // The remote write headers, the configured one and the host are all signed.
    let signed = authorization
        .split(", ")
        .find_map(|p| p.strip_prefix("SignedHeaders="))
        .unwrap();
    for name in [
        "content-encoding",
        "content-length",
        "content-type",
        "host",
        "x-amz-date",
        "x-prometheus-remote-write-version",
        "x-scope-orgid",
    ] {
        assert!(
            signed.split(';').any(|n| n == name),
            "{name} unsigned: {signed}"
        );
    }
    // As Prometheus's signer, no payload hash header is sent for `aps`; were it sent, it
    // would have to be the body's.
    assert!(request.headers.get("x-amz-content-sha256").is_none());
    assert_eq!(
        authorization,
        expected_authorization(&request, SECRET, REGION, "aps")
    );
    // The check is not vacuous: another key, region or service gives another signature.
    assert_ne!(
        authorization,
        expected_authorization(&request, "another-secret", REGION, "aps")
    );
    assert_ne!(
        authorization,
        expected_authorization(&request, SECRET, "us-east-1", "aps")
    );
    assert_ne!(
        authorization,
        expected_authorization(&request, SECRET, REGION, "execute-api")
    );
}

#[test]
fn a_destination_without_a_region_is_refused_by_name() {
    // Only when AWS_REGION is not set for the test run, as the AWS chain would read it.
    if std::env::var_os("AWS_REGION").is_some() {
        return;
    }
    let config = scrape::Config::parse(
        "remote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n    sigv4:\n      access_key: a\n      secret_key: b\n",
        "test.yml",
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let dir = tempfile::tempdir().unwrap();
    let store = RemoteWrite::new(Arc::new(MemStorage::new()), dir.path().join("remote_write"));
    let error = store
        .apply(&config.remote_write, &Default::default())
        .unwrap_err();
    assert!(error.contains("region not configured in sigv4"), "{error}");
}
