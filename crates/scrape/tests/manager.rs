//! The scrape manager against real HTTP targets on loopback: targets come up, a target
//! that stops answering goes down with its series stale, and comes back.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use model::{Labels, Matcher};
use scrape::{Config, Health, ScrapeManager};
use storage::{MemStorage, Queryable, SelectHints};

/// A target serving a counter that grows on every scrape; it can be stopped and restarted
/// on the same port.
struct Node {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicU64>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let mut node = Self {
            addr,
            hits,
            server: None,
        };
        node.serve(listener);
        node
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let hits = self.hits.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        format!(
                            "# TYPE blocks_total counter\nblocks_total{{chain=\"main\"}} {n}\n"
                        ),
                    )
                }
            }),
        );
        self.server = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    fn kill(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }

    async fn restart(&mut self) {
        // The port was ours a moment ago; the OS gives it back.
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

/// The newest sample of the series matching `matchers`, and whether it is a stale marker.
fn latest(store: &MemStorage, matchers: &[Matcher]) -> Option<(Labels, f64, bool)> {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(&SelectHints::default(), matchers).unwrap();
    let mut series = set.next()?.unwrap();
    let last = *series.samples.collect_vec().unwrap().last()?;
    Some((series.labels, last.v, model::is_stale_nan(last.v)))
}

/// Waits until `check` holds, for at most ten seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_come_up_go_down_and_come_back() {
    let mut node = Node::start().await;
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: nodes\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    static_configs:\n      - targets: ['{}']\n        labels: {{network: testnet}}\n",
            node.addr
        ),
        "test.yml",
    )
    .unwrap();
    assert!(manager.apply(&config).is_empty());
    let up = [Matcher::equal("__name__", "up")];
    let blocks = [Matcher::equal("__name__", "blocks_total")];

    eventually("the target to be up", || {
        latest(&store, &up).is_some_and(|(_, v, _)| v == 1.0)
    })
    .await;
    let (labels, value, _) = latest(&store, &blocks).unwrap();
    assert_eq!(labels.get("job"), Some("nodes"));
    assert_eq!(labels.get("instance"), Some(node.addr.to_string().as_str()));
    assert_eq!(labels.get("network"), Some("testnet"));
    assert!(value >= 1.0);
    let targets = manager.targets();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].status.health, Health::Up);
    for name in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert!(
            latest(&store, &[Matcher::equal("__name__", name)]).is_some(),
            "{name} is written"
        );
    }

    node.kill();
    eventually("the target to be down", || {
        latest(&store, &up).is_some_and(|(_, v, _)| v == 0.0)
    })
    .await;
    eventually("its series to be stale", || {
        latest(&store, &blocks).is_some_and(|(_, _, stale)| stale)
    })
    .await;
    let down = &manager.targets()[0].status;
    assert_eq!(down.health, Health::Down);
    assert!(!down.last_error.is_empty());

    node.restart().await;
    eventually("the target to be back", || {
        latest(&store, &blocks).is_some_and(|(_, v, stale)| !stale && v >= 1.0)
            && latest(&store, &up).is_some_and(|(_, v, _)| v == 1.0)
    })
    .await;

    // A configuration without the job stops its loop and marks everything stale.
    manager.apply(&Config::parse("", "empty.yml").unwrap());
    eventually("the removed target's series to be stale", || {
        latest(&store, &up).is_some_and(|(_, _, stale)| stale)
            && latest(&store, &blocks).is_some_and(|(_, _, stale)| stale)
    })
    .await;
    assert!(manager.targets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_discovery_follows_the_file() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nodes.json");
    std::fs::write(&file, "[]").unwrap();
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: files\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    file_sd_configs:\n      - files: ['{}']\n",
            dir.path().join("*.json").display()
        ),
        "test.yml",
    )
    .unwrap();
    manager.apply(&config);
    assert!(manager.targets().is_empty());
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"zone": "eu"}}}}]"#,
            node.addr
        ),
    )
    .unwrap();
    eventually("the file's target to be scraped", || {
        manager.targets().first().is_some_and(|t| {
            t.status.health == Health::Up && t.target.labels.get("zone") == Some("eu")
        })
    })
    .await;
    // A broken file keeps the targets it gave before.
    std::fs::write(&file, "[{").unwrap();
    eventually("the broken file to be read", || {
        manager.file_read_errors() > 0
    })
    .await;
    assert_eq!(manager.targets().len(), 1);
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_target_limit_reports_every_target_down_until_it_is_back_under() {
    let (a, b) = (Node::start().await, Node::start().await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nodes.json");
    let write = |targets: &[std::net::SocketAddr]| {
        let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(&file, format!(r#"[{{"targets": [{}]}}]"#, list.join(", "))).unwrap();
    };
    write(&[a.addr, b.addr]);
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: limited\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    target_limit: 1\n    file_sd_configs:\n      - files: ['{}']\n",
            file.display()
        ),
        "test.yml",
    )
    .unwrap();
    manager.apply(&config);
    let exceeded = "target_limit exceeded (number of targets: 2, limit: 1)";
    eventually("both targets down with Prometheus's error", || {
        let targets = manager.targets();
        targets.len() == 2
            && targets
                .iter()
                .all(|t| t.status.health == Health::Down && t.status.last_error == exceeded)
    })
    .await;
    assert!(manager.target_limit_exceeded() > 0);
    // Nothing was fetched from either.
    assert_eq!(
        a.hits.load(Ordering::SeqCst) + b.hits.load(Ordering::SeqCst),
        0
    );
    // One target again: it is scraped.
    write(&[a.addr]);
    eventually("the one target up", || {
        let targets = manager.targets();
        targets.len() == 1 && targets[0].status.health == Health::Up
    })
    .await;
    manager.stop().await;
}

#[tokio::test]
async fn a_job_with_oauth2_scrapes_with_the_token_its_endpoint_gives() {
    use axum::routing::{get, post};
    let tokens = Arc::new(AtomicU64::new(0));
    let issued = tokens.clone();
    let router = axum::Router::new()
        .route(
            "/token",
            post(move |body: String| {
                let issued = issued.clone();
                async move {
                    assert!(body.contains("grant_type=client_credentials"), "{body}");
                    issued.fetch_add(1, Ordering::SeqCst);
                    r#"{"access_token": "t-1", "token_type": "bearer", "expires_in": 3600}"#
                }
            }),
        )
        .route(
            "/metrics",
            get(|h: axum::http::HeaderMap| async move {
                if h.get("authorization").is_some_and(|v| v == "Bearer t-1") {
                    (axum::http::StatusCode::OK, "authorized 1\n")
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, "")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: oauth2\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    oauth2:\n      client_id: skywatch\n      client_secret: secret\n      token_url: http://{addr}/token\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
        "test.yml",
    )
    .unwrap();
    manager.apply(&config);
    eventually("the target scraped with the token", || {
        latest(&store, &[Matcher::equal("__name__", "authorized")]).is_some()
    })
    .await;
    eventually("a few scrapes", || {
        manager.targets()[0].status.health == Health::Up
    })
    .await;
    // The token is kept for its hour: one request for it.
    assert_eq!(tokens.load(Ordering::SeqCst), 1);
    manager.stop().await;
}

#[tokio::test]
async fn a_job_scrapes_through_its_proxy_with_the_headers_it_names() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    // A forward proxy on loopback that answers for every target itself, saying whether the
    // request carried the header.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) <= 2 {
                        break;
                    }
                    head.push(line.trim().to_ascii_lowercase());
                }
                let via = head[0].starts_with("get http://node.invalid:9100/metrics ");
                let header = head.iter().any(|h| h == "x-proxy-token: secret");
                let body = format!(
                    "proxied {}\nproxy_header {}\n",
                    u8::from(via),
                    u8::from(header)
                );
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = reader.get_mut().write_all(answer.as_bytes()).await;
            });
        }
    });
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: proxied\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    proxy_url: http://{proxy}\n    proxy_connect_header:\n      X-Proxy-Token: [secret]\n    static_configs:\n      - targets: ['node.invalid:9100']\n"
        ),
        "test.yml",
    )
    .unwrap();
    manager.apply(&config);
    eventually("the target scraped through the proxy", || {
        latest(&store, &[Matcher::equal("__name__", "proxied")]).is_some()
    })
    .await;
    let value = |name: &str| {
        latest(&store, &[Matcher::equal("__name__", name)])
            .unwrap()
            .1
    };
    assert_eq!((value("proxied"), value("proxy_header")), (1.0, 1.0));
    manager.stop().await;
}

/// A fake HTTP service discovery endpoint, answering as Prometheus's documentation says:
/// a JSON list of target groups, or whatever status it is told to.
async fn http_sd(body: Arc<std::sync::Mutex<(u16, String)>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/targets",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let (status, text) = body.lock().unwrap().clone();
            async move {
                // Prometheus tells the endpoint how often it asks.
                assert!(headers.contains_key("x-prometheus-refresh-interval-seconds"));
                assert_eq!(headers["authorization"], "Bearer sd-token");
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    text,
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn http_discovery_follows_the_endpoint_and_keeps_targets_when_it_fails() {
    let node = Node::start().await;
    let body = Arc::new(std::sync::Mutex::new((200, "[]".to_owned())));
    let sd = http_sd(body.clone()).await;
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: http\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    http_sd_configs:\n      - url: http://{sd}/targets\n        refresh_interval: 100ms\n        authorization:\n          credentials: sd-token\n    relabel_configs:\n      - source_labels: [__meta_url]\n        target_label: sd_url\n      - source_labels: [__meta_role]\n        target_label: role\n"
        ),
        "test.yml",
    )
    .unwrap();
    manager.apply(&config);
    *body.lock().unwrap() = (
        200,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"__meta_role": "validator"}}}}]"#,
            node.addr
        ),
    );
    eventually("the endpoint's target to be scraped", || {
        manager.targets().first().is_some_and(|t| {
            t.status.health == Health::Up
                && t.target.labels.get("role") == Some("validator")
                && t.target.labels.get("sd_url") == Some(format!("http://{sd}/targets").as_str())
        })
    })
    .await;
    // The endpoint fails: the targets it gave stay.
    *body.lock().unwrap() = (500, "boom".into());
    let before = manager.discovery_errors();
    eventually("the failed refresh to be counted", || {
        manager.discovery_errors() > before
    })
    .await;
    assert_eq!(manager.targets().len(), 1);
    // Why is kept for `/targets`: the job, the provider, the endpoint's answer.
    let failures = manager.discovery_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure = &failures[0];
    assert_eq!(
        (
            failure.job.as_str(),
            failure.provider.as_str(),
            failure.kept_groups
        ),
        ("http", "http_sd_configs[0]", 1)
    );
    assert!(
        failure.error.contains("500") && failure.error.contains("/targets"),
        "{failure:?}"
    );
    // It answers again, with no targets: they go, and so does the failure.
    *body.lock().unwrap() = (200, "[]".into());
    eventually("the target to go", || manager.targets().is_empty()).await;
    assert_eq!(manager.discovery_failures(), vec![]);
    manager.stop().await;
}

#[tokio::test]
async fn puppetdb_discovery_labels_each_resource_as_prometheus_does() {
    let node = Node::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pdb = listener.local_addr().unwrap();
    // PuppetDB's /pdb/query/v4 answer for a resource query, as its documentation shows.
    let answer = serde_json::json!([{
        "certname": "127.0.0.1",
        "resource": "49af83866dc5a1518968b68e58a25319107afe11",
        "type": "Class",
        "title": "Node_exporter",
        "exported": false,
        "tags": ["node_exporter", "class"],
        "file": "/etc/puppetlabs/code/site.pp",
        "environment": "production",
        "parameters": {
            "port": 9100,
            "big": 1000000,
            "collectors": ["cpu", "disk"],
            "empty": "",
            "settings": {"web.listen": "0.0.0.0", "tls": true}
        }
    }]);
    let app = axum::Router::new().route(
        "/pdb/query/v4",
        axum::routing::post(move |body: String| {
            let answer = answer.clone();
            async move {
                let query: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(query["query"], "resources { type = \"Class\" }");
                (
                    [("content-type", "application/json; charset=utf-8")],
                    answer.to_string(),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: puppet\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    puppetdb_sd_configs:\n      - url: http://{pdb}\n        query: 'resources {{ type = \"Class\" }}'\n        include_parameters: true\n        port: {}\n        refresh_interval: 100ms\n    relabel_configs:\n      - regex: __meta_puppetdb_(.+)\n        action: labelmap\n",
            node.addr.port()
        ),
        "test.yml",
    )
    .unwrap();
    manager.apply(&config);
    eventually("the resource's target to be scraped", || {
        manager
            .targets()
            .first()
            .is_some_and(|t| t.status.health == Health::Up)
    })
    .await;
    let target = &manager.targets()[0].target;
    let labels: Vec<(String, String)> = target
        .labels
        .iter()
        .map(|l| (l.name.to_owned(), l.value.to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("certname", "127.0.0.1"),
        ("environment", "production"),
        ("exported", "false"),
        ("file", "/etc/puppetlabs/code/site.pp"),
        ("instance", &node.addr.to_string()),
        ("job", "puppet"),
        ("parameter_big", "1e+06"),
        ("parameter_collectors", "cpu,disk"),
        ("parameter_port", "9100"),
        ("parameter_settings_tls", "true"),
        ("parameter_settings_web_listen", "0.0.0.0"),
        ("query", "resources { type = \"Class\" }"),
        ("resource", "49af83866dc5a1518968b68e58a25319107afe11"),
        ("tags", ",node_exporter,class,"),
        ("title", "Node_exporter"),
        ("type", "Class"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, expected);
    manager.stop().await;
}

/// A fake Docker Engine API: `GET /containers/json` answers what it is told (a status and
/// a body), `GET /networks` one bridge network.
async fn docker_engine(containers: Arc<std::sync::Mutex<(u16, String)>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/containers/json",
            axum::routing::get(move || {
                let (status, text) = containers.lock().unwrap().clone();
                async move {
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        text,
                    )
                }
            }),
        )
        .route(
            "/networks",
            axum::routing::get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"[{"Name": "eth", "Id": "net1", "Scope": "local", "Labels": {}}]"#,
                )
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_discovery_scrapes_labelled_containers_as_eth_docker_configures_it() {
    let node = Node::start().await;
    // Two containers on one network: the node, labelled for scraping, its IP and port
    // those of the loopback exporter; and a database that is not labelled.
    let containers = format!(
        r#"[
          {{"Id": "abc", "Names": ["/execution"], "Labels": {{"prometheus.scrape": "true"}},
            "Ports": [{{"PrivatePort": {port}, "Type": "tcp"}}],
            "HostConfig": {{"NetworkMode": "eth"}},
            "NetworkSettings": {{"Networks": {{"eth": {{"NetworkID": "net1", "IPAddress": "127.0.0.1"}}}}}}}},
          {{"Id": "def", "Names": ["/postgres"], "Labels": {{}},
            "Ports": [{{"PrivatePort": 5432, "Type": "tcp"}}],
            "HostConfig": {{"NetworkMode": "eth"}},
            "NetworkSettings": {{"Networks": {{"eth": {{"NetworkID": "net1", "IPAddress": "127.0.0.1"}}}}}}}}
        ]"#,
        port = node.addr.port()
    );
    let answer = Arc::new(std::sync::Mutex::new((200, containers)));
    let engine = docker_engine(answer.clone()).await;
    let store = Arc::new(MemStorage::new());
    let manager = ScrapeManager::new(store.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n  - job_name: docker\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    docker_sd_configs:\n      - host: tcp://{engine}\n        refresh_interval: 100ms\n    relabel_configs:\n      - source_labels: [__meta_docker_container_label_prometheus_scrape]\n        regex: 'true'\n        action: keep\n      - source_labels: [__meta_docker_container_name]\n        regex: '/(.*)'\n        target_label: instance\n      - source_labels: [__meta_docker_network_name]\n        target_label: network\n"
        ),
        "test.yml",
    )
    .unwrap();
    assert!(manager.apply(&config).is_empty());
    let blocks = [Matcher::equal("__name__", "blocks_total")];
    eventually("the labelled container to be scraped", || {
        latest(&store, &blocks).is_some_and(|(_, v, _)| v >= 1.0)
    })
    .await;
    let (labels, _, _) = latest(&store, &blocks).unwrap();
    assert_eq!(
        labels.to_string(),
        r#"blocks_total{chain="main",instance="execution",job="docker",network="eth"}"#
    );
    let targets = manager.targets();
    assert_eq!(targets.len(), 1, "the unlabelled container is dropped");
    assert_eq!(
        targets[0].target.url,
        format!("http://{}/metrics", node.addr)
    );
    assert_eq!(manager.dropped().len(), 1);

    // The engine fails: the container stays a target.
    answer.lock().unwrap().0 = 500;
    let before = manager.discovery_errors();
    eventually("the failed refresh to be counted", || {
        manager.discovery_errors() > before
    })
    .await;
    assert_eq!(manager.targets().len(), 1);
    assert_eq!(manager.targets()[0].status.health, Health::Up);
    manager.stop().await;
}
