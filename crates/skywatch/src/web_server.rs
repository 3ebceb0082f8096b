//! The server's listeners made safe to expose: `--web.config.file` (exporter-toolkit's
//! format, as Prometheus and Alertmanager take it) gives TLS and basic auth to the HTTP
//! listener and the OTLP/gRPC listener alike; `--web.access-config.file` (Skywatch's)
//! turns route classes off or gives them credentials of their own;
//! `--web.enable-lifecycle` and `--web.enable-admin-api` switch Prometheus's groups of
//! admin routes on; `--web.cors.origin` is Prometheus's CORS. Every route's class comes
//! from `api::access::classify` (docs/security.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::ListenerExt as _;
use clap::Args;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The web flags of `skywatch up` and `skywatch demo`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WebArgs {
    /// A web configuration file, exporter-toolkit's format (the file Prometheus and
    /// Alertmanager take with --web.config.file): TLS, client certificates, basic auth
    /// users with bcrypt hashes, response headers; for the HTTP and OTLP/gRPC listeners.
    /// Read again when it or a certificate changes.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub(crate) config_file: Option<PathBuf>,
    /// Skywatch's access file (docs/security.md): per route class (read, write, admin),
    /// `enabled` and credentials of its own (basic_auth_users, bearer_tokens_file).
    #[arg(long = "web.access-config.file", value_name = "FILE")]
    pub(crate) access_config_file: Option<PathBuf>,
    /// Serve POST /-/reload (and /-/quit), as Prometheus's flag; without it they answer
    /// 403. Always on in `skywatch demo`.
    #[arg(long = "web.enable-lifecycle")]
    pub(crate) enable_lifecycle: bool,
    /// Serve /api/v1/admin/*, as Prometheus's flag; without it they answer 503 "admin
    /// APIs disabled". Always on in `skywatch demo`.
    #[arg(long = "web.enable-admin-api")]
    pub(crate) enable_admin_api: bool,
    /// The origins whose pages may read the API (CORS), a regex anchored at both ends,
    /// as Prometheus's flag.
    #[arg(long = "web.cors.origin", value_name = "REGEX", default_value = ".*")]
    pub(crate) cors_origin: String,
}

impl Default for WebArgs {
    fn default() -> Self {
        Self {
            config_file: None,
            access_config_file: None,
            enable_lifecycle: false,
            enable_admin_api: false,
            cors_origin: ".*".to_owned(),
        }
    }
}

/// The listeners' protection, once the flags are read.
pub(crate) struct WebSettings {
    args: WebArgs,
    guard: Arc<web::Guard>,
    tls: bool,
    /// Told by `POST /-/quit`; ends the HTTP server as the shutdown signal would.
    quit: Arc<tokio::sync::Notify>,
}

impl WebArgs {
    /// Reads the files the flags name; the demo has the lifecycle and admin switches on.
    pub(crate) fn settings(mut self, demo: bool) -> Result<WebSettings, String> {
        if demo {
            self.enable_lifecycle = true;
            self.enable_admin_api = true;
        }
        let watched = web::Watched::open(
            self.config_file.as_deref(),
            self.access_config_file.as_deref(),
        )
        .map_err(|e| format!("--web.config.file: {e}"))?;
        let cors = regex::Regex::new(&format!("^(?:{})$", self.cors_origin)).map_err(|e| {
            format!(
                "--web.cors.origin {:?}: not a regular expression: {e}",
                self.cors_origin
            )
        })?;
        let tls = watched.current().config.tls.is_some();
        let guard = web::Guard::new(web::GuardOptions {
            watched,
            classify: Arc::new(api::access::classify),
            cors_origin: Some(cors),
        });
        Ok(WebSettings {
            args: self,
            guard,
            tls,
            quit: Arc::default(),
        })
    }
}

impl WebSettings {
    /// The flags and their values, for `/api/v1/status/flags`.
    pub(crate) fn flags(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        vec![
            (
                "web.config.file",
                path(&self.args.config_file).unwrap_or_default(),
            ),
            (
                "web.access-config.file",
                path(&self.args.access_config_file).unwrap_or_default(),
            ),
            (
                "web.enable-lifecycle",
                self.args.enable_lifecycle.to_string(),
            ),
            (
                "web.enable-admin-api",
                self.args.enable_admin_api.to_string(),
            ),
            ("web.cors.origin", self.args.cors_origin.clone()),
        ]
    }

    /// `POST /-/quit` (and `PUT`), as Prometheus's: the server stops as on SIGTERM. Off
    /// without `--web.enable-lifecycle` (`api::access::switch`).
    pub(crate) fn quit_router(&self) -> axum::Router {
        let quit = self.quit.clone();
        let handler = move || {
            let quit = quit.clone();
            async move {
                tracing::info!("termination requested through /-/quit");
                // A permit is kept if the server is not waiting yet.
                quit.notify_one();
                "Requesting termination... Goodbye!"
            }
        };
        axum::Router::new().route("/-/quit", axum::routing::post(handler.clone()).put(handler))
    }

    /// `app` behind the switches and the guard: add after every route is merged.
    pub(crate) fn protect(&self, app: axum::Router) -> axum::Router {
        let app = api::access::switch(
            app,
            api::access::Switches {
                lifecycle: self.args.enable_lifecycle,
                admin_api: self.args.enable_admin_api,
            },
        );
        web::protect(app, self.guard.clone())
    }

    /// Serves `app` on `listener` (TLS if the web configuration asks) until `shutdown`.
    pub(crate) async fn serve_http(
        &self,
        listener: tokio::net::TcpListener,
        app: axum::Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        // The client's address is kept for the query log.
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let quit = self.quit.clone();
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = quit.notified() => {}
            }
        };
        if self.tls {
            let tls =
                web::TlsListener::new(listener, self.guard.watched().clone(), web::Alpn::Http1);
            axum::serve(tls.tap_io(|_| {}), service)
                .with_graceful_shutdown(shutdown)
                .await
        } else {
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
        .map_err(|e| e.to_string())
    }

    /// Serves OTLP/gRPC on `listener` with the same TLS and the write class's
    /// credentials (refused calls end UNAUTHENTICATED or PERMISSION_DENIED).
    pub(crate) async fn serve_grpc(
        &self,
        listener: tokio::net::TcpListener,
        receiver: Arc<otlp::Receiver>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), String> {
        let guard = self.guard.clone();
        let authorize: otlp::grpc::Authorize = Arc::new(move |headers| {
            let guard = guard.clone();
            Box::pin(async move {
                guard.authorize(web::Class::Write, &headers).await.map_err(
                    |refusal| match refusal {
                        web::Refusal::Unauthorized => tonic::Status::unauthenticated(
                            "missing or wrong credentials: send authorization metadata \
                             (Basic or Bearer) the web configuration accepts for writes",
                        ),
                        other => tonic::Status::permission_denied(other.message()),
                    },
                )
            })
        });
        if self.tls {
            let tls = web::TlsListener::new(listener, self.guard.watched().clone(), web::Alpn::H2);
            let incoming = futures_util::stream::unfold(tls, |mut tls| async move {
                let (stream, _) = tls.next().await;
                Some((Ok::<_, std::io::Error>(GrpcTls(stream)), tls))
            });
            otlp::grpc::serve_with(Box::pin(incoming), receiver, Some(authorize), shutdown).await
        } else {
            otlp::grpc::serve_with(
                tonic::transport::server::TcpIncoming::from(listener),
                receiver,
                Some(authorize),
                shutdown,
            )
            .await
        }
    }
}

/// A TLS connection for tonic, which wants its `Connected`.
struct GrpcTls(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl tonic::transport::server::Connected for GrpcTls {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for GrpcTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    //! Every route the server's routers register has a class in `api::access::ROUTES`,
    //! and docs/security.md lists each with it. The routes are collected from the
    //! routers' sources (axum cannot list a router's routes): every `.route("...")` in
    //! the files that build the server's routers, with the prefix each is nested under,
    //! and the UI's pages.

    use std::collections::BTreeSet;
    use std::path::Path;

    /// The files whose routers the server merges, the prefix each is nested under, for
    /// the paths that start with the third field (`shipped.rs` has one router nested
    /// under `/demo` and one not).
    const ROUTER_FILES: &[(&str, &str, &str)] = &[
        ("crates/api/src/prometheus/mod.rs", "", "/"),
        ("crates/api/src/prometheus/status.rs", "", "/"),
        ("crates/api/src/prometheus/targets.rs", "", "/"),
        ("crates/api/src/slo.rs", "", "/"),
        ("crates/api/src/federate.rs", "", "/"),
        ("crates/api/src/remote_read/mod.rs", "", "/"),
        ("crates/api/src/remote_write.rs", "", "/"),
        ("crates/api/src/otlp.rs", "", "/"),
        ("crates/api/src/jaeger.rs", "/jaeger", "/"),
        ("crates/api/src/tempo.rs", "/tempo", "/"),
        ("crates/api/src/loki/mod.rs", "", "/"),
        ("crates/alerting/src/api.rs", "", "/"),
        ("crates/dashboards/src/library.rs", "", "/"),
        ("crates/skywatch/src/health.rs", "", "/"),
        ("crates/skywatch/src/network_health.rs", "", "/"),
        ("crates/skywatch/src/web_server.rs", "", "/"),
        ("crates/skywatch/src/shipped.rs", "/demo", "/webhook"),
        ("crates/skywatch/src/shipped.rs", "", "/runbooks"),
        ("crates/netsim/src/lib.rs", "/demo", "/"),
        ("crates/ui/src/lib.rs", "", "/"),
    ];

    /// The method names of axum's routing functions.
    const METHODS: &[(&str, &str)] = &[
        ("get", "GET"),
        ("post", "POST"),
        ("put", "PUT"),
        ("delete", "DELETE"),
        ("patch", "PATCH"),
    ];

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("no workspace root"))
    }

    /// `(method, path)` of every `.route("path", ...)` outside test modules, the methods
    /// read from the routing calls inside that `.route(...)`.
    fn routes_in(text: &str, prefix: &str, only: &str) -> BTreeSet<(String, String)> {
        let code = text
            .split("#[cfg(test)]\nmod tests {")
            .next()
            .unwrap_or(text);
        let mut out = BTreeSet::new();
        let re = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).unwrap_or_else(|e| panic!("{e}"));
        for c in re.captures_iter(code) {
            let (Some(all), Some(path)) = (c.get(0), c.get(1)) else {
                continue;
            };
            if !path.as_str().starts_with(only) {
                continue;
            }
            // The call's arguments: up to the parenthesis that closes `.route(`.
            let open = all.start() + ".route".len();
            let mut depth = 0usize;
            let mut end = code.len();
            for (i, ch) in code[open..].char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let body = &code[all.end()..end];
            let path = format!("{prefix}{}", path.as_str());
            let mut found = false;
            for (call, method) in METHODS {
                let called = regex::Regex::new(&format!(r"(^|[^A-Za-z0-9_]){call}\("))
                    .unwrap_or_else(|e| panic!("{e}"));
                if called.is_match(body) {
                    found = true;
                    out.insert(((*method).to_owned(), path.clone()));
                }
            }
            // A method router made by a helper (`route(Signal::Traces)`): the methods
            // cannot be read here; the path must be listed with some method.
            if !found {
                out.insert(("*".to_owned(), path));
            }
        }
        out
    }

    fn registered() -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (file, prefix, only) in ROUTER_FILES {
            let text = std::fs::read_to_string(root().join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            all.extend(routes_in(&text, prefix, only));
        }
        // The UI's pages are registered in a loop.
        for page in ui::PAGES {
            all.insert(("GET".to_owned(), (*page).to_owned()));
        }
        // `/` is registered with a closure named `page`.
        all.insert(("GET".to_owned(), "/".to_owned()));
        // The server's own /metrics, from the SDK's router.
        all.insert(("GET".to_owned(), "/metrics".to_owned()));
        all
    }

    #[test]
    fn every_registered_route_has_a_class() {
        let registered = registered();
        assert!(
            registered.len() > 80,
            "only {} routes found",
            registered.len()
        );
        let listed: BTreeSet<(String, String)> = api::access::ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        let listed_paths: BTreeSet<&str> = listed.iter().map(|(_, p)| p.as_str()).collect();
        let any_method: BTreeSet<&str> = registered
            .iter()
            .filter(|(m, _)| m == "*")
            .map(|(_, p)| p.as_str())
            .collect();
        let unclassified: Vec<_> = registered
            .iter()
            .filter(|(m, p)| {
                if m == "*" {
                    !listed_paths.contains(p.as_str())
                } else {
                    !listed.contains(&(m.clone(), p.clone()))
                }
            })
            .collect();
        assert!(
            unclassified.is_empty(),
            "routes without a class: add them to api::access::ROUTES and docs/security.md: {unclassified:?}"
        );
        let gone: Vec<_> = listed
            .difference(&registered)
            .filter(|(_, p)| !any_method.contains(p.as_str()))
            .collect();
        assert!(
            gone.is_empty(),
            "api::access::ROUTES lists routes no router registers: {gone:?}"
        );
    }

    #[test]
    fn docs_security_lists_every_route_with_its_class() {
        let docs = std::fs::read_to_string(root().join("docs/security.md"))
            .unwrap_or_else(|e| panic!("docs/security.md: {e}"));
        let missing: Vec<String> = api::access::ROUTES
            .iter()
            .map(|r| format!("| {} | `{}` | {} |", r.method, r.path, r.class.name()))
            .filter(|row| !docs.contains(row.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/security.md lacks these rows:\n{}",
            missing.join("\n")
        );
    }
}
