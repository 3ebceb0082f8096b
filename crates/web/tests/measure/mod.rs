//! Timing a right and a wrong password, shared by `examples/auth_timing.rs` (the figures
//! `scripts/bench-auth-timing` prints) and `tests/timing.rs` (a looser bound, on every
//! run). Tries of each kind are interleaved (right, wrong, unknown user, right, ...) so
//! that load on the machine falls on all kinds alike; medians are compared.
//!
//! - fresh: every try runs bcrypt (an authenticator without its cache): a right password,
//!   a wrong one, and an unknown user (checked against the dummy hash);
//! - repeated: the same right and the same wrong password sent again and again through
//!   the whole guard (`web::protect` over a one-route router), as a retrying client does:
//!   both are answered from the cache.

#![allow(dead_code, reason = "the example and the test use different parts")]
#![allow(
    clippy::unwrap_used,
    reason = "a measurement: a failure should stop it loudly"
)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tower::ServiceExt as _;

/// The medians of one measurement's kinds.
pub(crate) struct Figures {
    /// What was measured.
    pub(crate) name: &'static str,
    /// Kind name to the median of its tries.
    pub(crate) medians: Vec<(&'static str, Duration)>,
}

impl Figures {
    /// The median of `kind`.
    pub(crate) fn median(&self, kind: &str) -> Duration {
        self.medians.iter().find(|(k, _)| *k == kind).unwrap().1
    }

    /// The ratio of two kinds' medians.
    pub(crate) fn ratio(&self, a: &str, b: &str) -> f64 {
        self.median(a).as_secs_f64() / self.median(b).as_secs_f64()
    }
}

/// Both measurements.
pub(crate) struct Report {
    pub(crate) cost: u32,
    pub(crate) tries: usize,
    pub(crate) fresh: Figures,
    pub(crate) repeated: Figures,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bcrypt cost {}, {} tries of each kind, interleaved; medians:",
            self.cost, self.tries
        )?;
        for m in [&self.fresh, &self.repeated] {
            write!(f, "  {:<9}", m.name)?;
            for (kind, d) in &m.medians {
                write!(f, " {kind} {:>10.1?}", d)?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "  wrong/right: fresh {:.3}, repeated {:.3}; unknown-user/right (fresh) {:.3}",
            self.fresh.ratio("wrong", "right"),
            self.repeated.ratio("wrong", "right"),
            self.fresh.ratio("unknown", "right"),
        )
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Measures `tries` of each kind at bcrypt `cost`.
pub(crate) async fn measure(cost: u32, tries: usize) -> Report {
    let hash = bcrypt::hash("right password", cost).unwrap();

    // Fresh: the authenticator without its cache.
    let credentials = Arc::new(web::Credentials::new(
        BTreeMap::from([("alice".to_owned(), hash.clone())]),
        &[],
    ));
    let auth = web::Authenticator::new(false);
    // The dummy hash is made on first need: once, before measuring.
    assert!(!auth.basic(&credentials, "nobody", "x").await);
    let kinds: [(&str, &str, &str, bool); 3] = [
        ("right", "alice", "right password", true),
        ("wrong", "alice", "wrong password", false),
        ("unknown", "mallory", "right password", false),
    ];
    let mut times = vec![Vec::with_capacity(tries); kinds.len()];
    for _ in 0..tries {
        for (i, (_, user, password, ok)) in kinds.iter().enumerate() {
            let began = Instant::now();
            let got = auth.basic(&credentials, user, password).await;
            times[i].push(began.elapsed());
            assert_eq!(got, *ok);
        }
    }
    let fresh = Figures {
        name: "fresh",
        medians: kinds
            .iter()
            .zip(times)
            .map(|((k, ..), t)| (*k, median(t)))
            .collect(),
    };

    // Repeated: through the guard, whose cache answers both.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(&file, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let guard = web::Guard::new(web::GuardOptions {
        watched: web::Watched::open(Some(&file), None).unwrap(),
        classify: Arc::new(|_: &http::Method, _: Option<&str>| web::Class::Read),
        cors_origin: None,
    });
    let app = web::protect(
        axum::Router::new().route("/", axum::routing::get(|| async { "ok" })),
        guard,
    );
    let send = |authorization: String| {
        let app = app.clone();
        async move {
            let request = http::Request::get("/")
                .header(http::header::AUTHORIZATION, authorization)
                .body(axum::body::Body::empty())
                .unwrap();
            let began = Instant::now();
            let status = app.oneshot(request).await.unwrap().status();
            (began.elapsed(), status)
        }
    };
    let kinds = [
        ("right", "right password", 200),
        ("wrong", "wrong password", 401),
    ];
    // The first try of each fills the cache.
    for (_, password, _) in kinds {
        send(basic("alice", password)).await;
    }
    let mut times = vec![Vec::with_capacity(tries); kinds.len()];
    for _ in 0..tries {
        for (i, (_, password, status)) in kinds.iter().enumerate() {
            let (took, got) = send(basic("alice", password)).await;
            times[i].push(took);
            assert_eq!(got.as_u16(), *status);
        }
    }
    let repeated = Figures {
        name: "repeated",
        medians: kinds
            .iter()
            .zip(times)
            .map(|((k, ..), t)| (*k, median(t)))
            .collect(),
    };
    Report {
        cost,
        tries,
        fresh,
        repeated,
    }
}
