//! [`Guard`]: what each request passes before its handler, in this order:
//!
//! 1. its route's [`Class`], from the caller's classifier (method and route template);
//! 2. a CORS preflight (`OPTIONS` with `Origin`) of a read route whose origin matches
//!    `--web.cors.origin` is answered 204 with Prometheus's CORS headers, without
//!    credentials (browsers send none with a preflight);
//! 3. a class the access file turns off is refused 403;
//! 4. on write and admin routes, a cross-site form post (a `Content-Type` a browser form
//!    can send: form, multipart or plain text, with an `Origin` other than the request's
//!    host or `Sec-Fetch-Site: cross-site`/`same-site`) is refused 403: a page elsewhere
//!    cannot make a visitor's browser silence alerts. JSON and protobuf clients, which
//!    forms cannot imitate, are unaffected;
//! 5. credentials, when the class requires them: `Authorization: Basic` checked against
//!    bcrypt hashes, or `Authorization: Bearer` against the class's tokens; else 401 with
//!    `WWW-Authenticate: Basic`;
//! 6. the handler; then CORS headers on read answers to a matching origin, and the web
//!    configuration's headers on every answer (refusals included).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::auth::Authenticator;
use crate::watched::Watched;

/// What a route does, which decides what protects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Reads: queries, the UI, dashboards, metadata, `/metrics`, health.
    Read,
    /// Ingestion: OTLP, Loki push, remote write.
    Write,
    /// Everything else that changes the server: reload, quit, admin APIs, silences, alerts
    /// posted, the demo's chaos.
    Admin,
}

impl Class {
    /// The class's name, as the access file and docs/security.md write it.
    pub fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Admin => "admin",
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, or wrong ones: 401 (gRPC UNAUTHENTICATED).
    Unauthorized,
    /// The access file turns the class off: 403 (gRPC PERMISSION_DENIED).
    Disabled(Class),
    /// A cross-site form post to a mutating route: 403.
    CrossSite,
}

impl Refusal {
    /// The refusal's sentence, for a body or a gRPC message.
    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthorized => "Unauthorized".to_owned(),
            Refusal::Disabled(c) => format!(
                "the {} routes are turned off by the access file (--web.access-config.file: {}.enabled)",
                c.name(),
                c.name()
            ),
            Refusal::CrossSite => {
                "cross-site form posts are refused on routes that change the server; \
                 send JSON or protobuf, or post from the server's own pages"
                    .to_owned()
            }
        }
    }
}

/// A route's class from its method and route template.
pub type Classifier = Arc<dyn Fn(&Method, Option<&str>) -> Class + Send + Sync>;

/// A guard's settings.
pub struct GuardOptions {
    /// The web configuration and access files.
    pub watched: Arc<Watched>,
    /// The route's class from its method and route template (`None` for a request no
    /// route matched). Must classify every route the server registers.
    pub classify: Classifier,
    /// `--web.cors.origin`, anchored; `None` sends no CORS headers.
    pub cors_origin: Option<regex::Regex>,
}

/// Checks requests as the module says.
pub struct Guard {
    options: GuardOptions,
    auth: Authenticator,
}

impl Guard {
    /// A guard with its own credential cache.
    pub fn new(options: GuardOptions) -> Arc<Guard> {
        Arc::new(Guard {
            options,
            auth: Authenticator::default(),
        })
    }

    /// The files the guard follows.
    pub fn watched(&self) -> &Arc<Watched> {
        &self.options.watched
    }

    /// Checks a request of `class` with these headers: the class's state, cross-site
    /// form posts for write and admin, then credentials.
    pub async fn authorize(&self, class: Class, headers: &HeaderMap) -> Result<(), Refusal> {
        let loaded = self.options.watched.current();
        let Some(credentials) = loaded.credentials(class) else {
            return Err(Refusal::Disabled(class));
        };
        if class != Class::Read && cross_site_form(headers) {
            return Err(Refusal::CrossSite);
        }
        if !credentials.required() {
            return Ok(());
        }
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(Refusal::Unauthorized);
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let ok = if scheme.eq_ignore_ascii_case("basic") {
            match basic(rest.trim()) {
                Some((user, password)) => self.auth.basic(credentials, &user, &password).await,
                None => false,
            }
        } else if scheme.eq_ignore_ascii_case("bearer") {
            self.auth.bearer(credentials, rest.trim())
        } else {
            false
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::Unauthorized)
        }
    }

    fn cors(&self, headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
        let (Some(re), Some(origin)) = (&self.options.cors_origin, origin) else {
            return;
        };
        if !origin.to_str().is_ok_and(|o| re.is_match(o)) {
            return;
        }
        // Prometheus's httputil.SetCORS.
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Accept, Authorization, Content-Type, Origin"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Date"),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The user and password of a basic auth header's value.
fn basic(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Whether a request is a form post (a content type a cross-site HTML form can send)
/// coming from another site, by `Sec-Fetch-Site` or `Origin`.
fn cross_site_form(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    // A form with no enctype sends application/x-www-form-urlencoded; a fetch without a
    // body may send none at all.
    let formish = match content_type.as_deref() {
        None => true,
        Some(t) => matches!(
            t,
            "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
        ),
    };
    if !formish {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "cross-site" | "same-site");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser's cross-origin request (browsers send Origin with every POST).
        return false;
    };
    if origin == "null" {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    !origin_host.eq_ignore_ascii_case(host)
}

/// Puts `guard` in front of every route of `router` (add it after every merge: routes
/// merged later are not guarded).
pub fn protect(router: axum::Router, guard: Arc<Guard>) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(guard, check))
}

async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let method = request.method().clone();
    let origin = request.headers().get(header::ORIGIN).cloned();
    // A preflight is judged by the method it asks for: only reads are offered to other
    // origins.
    let asked = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
    let preflight = method == Method::OPTIONS && origin.is_some() && asked.is_some();
    let class = match (&asked, preflight) {
        (Some(asked), true) => (guard.options.classify)(asked, matched.as_deref()),
        _ => (guard.options.classify)(&method, matched.as_deref()),
    };
    let mut response = if preflight && class == Class::Read {
        let mut r = StatusCode::NO_CONTENT.into_response();
        guard.cors(r.headers_mut(), origin.as_ref());
        r
    } else {
        match guard.authorize(class, request.headers()).await {
            Ok(()) => {
                let mut r = next.run(request).await;
                if class == Class::Read {
                    guard.cors(r.headers_mut(), origin.as_ref());
                }
                r
            }
            Err(refusal) => refuse(&refusal),
        }
    };
    let loaded = guard.options.watched.current();
    for (name, value) in &loaded.config.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

fn refuse(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
        Refusal::Disabled(_) | Refusal::CrossSite => StatusCode::FORBIDDEN,
    };
    let mut r = Response::new(Body::from(format!("{}\n", refusal.message())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if *refusal == Refusal::Unauthorized {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    fn guarded(web: &str, access: Option<&str>) -> (tempfile::TempDir, axum::Router) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let web_path = dir.path().join("web.yml");
        std::fs::write(&web_path, web).unwrap_or_else(|e| panic!("{e}"));
        let access_path = access.map(|a| {
            let p = dir.path().join("access.yml");
            std::fs::write(&p, a).unwrap_or_else(|e| panic!("{e}"));
            p
        });
        let watched = Watched::open(Some(&web_path), access_path.as_deref())
            .unwrap_or_else(|e| panic!("{e}"));
        let guard = Guard::new(GuardOptions {
            watched,
            classify: Arc::new(|m: &Method, p: Option<&str>| match (m, p) {
                (_, Some("/write")) => Class::Write,
                (&Method::POST, Some("/admin")) => Class::Admin,
                _ => Class::Read,
            }),
            cors_origin: Some(regex::Regex::new("^(?:.*)$").unwrap_or_else(|e| panic!("{e}"))),
        });
        let router = axum::Router::new()
            .route("/read", axum::routing::get(|| async { "read" }))
            .route("/write", axum::routing::post(|| async { "written" }))
            .route("/admin", axum::routing::post(|| async { "done" }));
        (dir, protect(router, guard))
    }

    fn users(password: &str) -> String {
        let hash = bcrypt::hash(password, 4).unwrap_or_else(|e| panic!("{e}"));
        format!(
            "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        )
    }

    async fn send(app: &axum::Router, r: http::request::Builder) -> Response {
        app.clone()
            .oneshot(r.body(Body::empty()).unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| match e {})
    }

    fn basic_header(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[tokio::test]
    async fn basic_auth_guards_every_class_and_headers_go_on_every_answer() {
        let (_dir, app) = guarded(&users("pw"), None);
        for (method, path) in [("GET", "/read"), ("POST", "/write"), ("POST", "/admin")] {
            let r = send(&app, Request::builder().method(method).uri(path)).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic");
            assert_eq!(r.headers()["x-frame-options"], "deny");
            let r = send(
                &app,
                Request::builder()
                    .method(method)
                    .uri(path)
                    .header(header::AUTHORIZATION, basic_header("alice", "wrong")),
            )
            .await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            let r = send(
                &app,
                Request::builder()
                    .method(method)
                    .uri(path)
                    .header(header::AUTHORIZATION, basic_header("alice", "pw")),
            )
            .await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()["x-frame-options"], "deny");
        }
    }

    #[tokio::test]
    async fn classes_take_their_own_credentials_or_are_off() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tokens = dir.path().join("write.tokens");
        std::fs::write(&tokens, "0123456789abcdef0123\n").unwrap_or_else(|e| panic!("{e}"));
        let access = format!(
            "write:\n  bearer_tokens_file: {}\nadmin:\n  enabled: false\n",
            tokens.display()
        );
        let (_d, app) = guarded(&users("pw"), Some(&access));
        let as_alice = basic_header("alice", "pw");
        let r = send(
            &app,
            Request::get("/read").header(header::AUTHORIZATION, &as_alice),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        // The write class takes only its tokens.
        let r = send(
            &app,
            Request::post("/write").header(header::AUTHORIZATION, &as_alice),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = send(
            &app,
            Request::post("/write").header(header::AUTHORIZATION, "Bearer 0123456789abcdef0123"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = send(
            &app,
            Request::post("/admin").header(header::AUTHORIZATION, &as_alice),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn cross_site_form_posts_are_refused_on_mutating_routes_only() {
        let (_d, app) = guarded("", None);
        let form = |path: &str, origin: &str| {
            Request::post(path)
                .header(header::HOST, "sky:9797")
                .header(header::ORIGIN, origin)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        };
        let r = send(&app, form("/admin", "http://evil.example")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = send(&app, form("/admin", "http://sky:9797")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = send(
            &app,
            Request::post("/write")
                .header(header::ORIGIN, "http://evil.example")
                .header(header::CONTENT_TYPE, "application/json"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = send(
            &app,
            Request::post("/write")
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "text/plain"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn cors_answers_read_preflights_and_marks_read_answers() {
        let (_d, app) = guarded(&users("pw"), None);
        let r = send(
            &app,
            Request::options("/read")
                .header(header::ORIGIN, "http://grafana")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://grafana"
        );
        let r = send(
            &app,
            Request::options("/admin")
                .header(header::ORIGIN, "http://grafana")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST"),
        )
        .await;
        assert!(
            !r.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }

    #[tokio::test]
    async fn a_rewritten_file_applies_to_the_next_request() {
        let (dir, app) = guarded(&users("one"), None);
        let r = send(
            &app,
            Request::get("/read").header(header::AUTHORIZATION, basic_header("alice", "one")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        // A different length, so the change shows even within the file system's
        // timestamp granularity.
        std::fs::write(dir.path().join("web.yml"), format!("{}\n", users("two")))
            .unwrap_or_else(|e| panic!("{e}"));
        let r = send(
            &app,
            Request::get("/read").header(header::AUTHORIZATION, basic_header("alice", "one")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}
