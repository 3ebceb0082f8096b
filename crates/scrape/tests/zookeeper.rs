//! Serverset and nerve discovery against a real ZooKeeper: Debian's `zookeeper` package,
//! started standalone on a free loopback port for the whole file (`scripts/install-test-deps`
//! installs it). Members are created, changed and deleted with a ZooKeeper client, and the
//! providers, made from a configuration as the scrape manager makes them, must answer the
//! exact targets and labels Prometheus 2.42 gives for the tree at each step.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scrape::Config;
use scrape::config::StaticConfig;
use scrape::discovery::{Provider, providers};
use zookeeper_client as zk;

/// Where Debian's `zookeeper` package (its `libzookeeper-java` dependency) puts the server's
/// jar, whose manifest names the jars it needs.
const JAR: &str = "/usr/share/java/zookeeper.jar";
/// How long a change may take to show; it takes a round trip.
const DEADLINE: Duration = Duration::from_secs(20);

/// A standalone ZooKeeper server on loopback, stopped when dropped.
struct ZooKeeper {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    java: PathBuf,
}

/// Runs the server of `dir`'s `zoo.cfg`, its output appended to `dir`'s `server.log`.
fn spawn(java: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    Command::new(java)
        .args(["-Xmx256m", "-cp", JAR])
        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
        .arg(dir.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl ZooKeeper {
    /// Starts the server, as Debian's `zkServer.sh` runs it (the standalone main class on
    /// the package's jar), on a port the OS picked.
    fn start() -> Self {
        let java = std::env::var_os("JAVA").map_or_else(|| PathBuf::from("java"), PathBuf::from);
        let installed = Path::new(JAR).is_file()
            && Command::new(&java)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            installed,
            "ZooKeeper is not installed ({JAR} and java are needed): run scripts/install-test-deps, or apt-get install zookeeper"
        );
        let dir = tempfile::tempdir().unwrap();
        // A port that was free a moment ago: the server binds it right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("zoo.cfg");
        std::fs::write(
            &config,
            format!(
                "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\ntickTime=2000\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = spawn(&java, dir.path());
        Self {
            child,
            port,
            dir,
            java,
        }
    }

    /// Stops the server and starts it again on the same port and data: the sessions go on
    /// when their clients reconnect in time.
    fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn(&self.java, self.dir.path());
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client, once the server answers (a JVM takes a second or more to start).
    async fn client(&mut self) -> zk::Client {
        let start = Instant::now();
        loop {
            let attempt = zk::Client::connector()
                .with_fail_eagerly()
                .connect(&self.address())
                .await;
            match attempt {
                Ok(client) => return client,
                Err(e) => {
                    let exited = self.child.try_wait().unwrap();
                    if exited.is_some() || start.elapsed() > Duration::from_secs(60) {
                        let log = std::fs::read_to_string(self.dir.path().join("server.log"))
                            .unwrap_or_default();
                        panic!(
                            "ZooKeeper did not answer ({e}; exited: {exited:?}); its log:\n{log}"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One target with its labels, as the providers answer.
fn group(address: &str, labels: &[(&str, &str)]) -> StaticConfig {
    StaticConfig {
        targets: vec![address.to_owned()],
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A serverset member the test registers.
#[derive(Clone, Copy)]
struct Serverset {
    path: &'static str,
    host: &'static str,
    port: u16,
    /// The port of an additional endpoint `admin-http` on the same host, if it has one.
    admin: Option<u16>,
    status: &'static str,
    shard: u32,
}

impl Serverset {
    /// Its JSON, as Finagle writes it.
    fn json(&self) -> String {
        let Self {
            host,
            port,
            status,
            shard,
            ..
        } = self;
        let additional = self.admin.map_or_else(
            || "{}".to_owned(),
            |p| format!(r#"{{"admin-http":{{"host":"{host}","port":{p}}}}}"#),
        );
        format!(
            r#"{{"serviceEndpoint":{{"host":"{host}","port":{port}}},"additionalEndpoints":{additional},"status":"{status}","shard":{shard}}}"#
        )
    }

    /// Its target, as Prometheus labels it.
    fn target(&self) -> StaticConfig {
        let (port, shard) = (self.port.to_string(), self.shard.to_string());
        let admin = self.admin.map(|p| p.to_string());
        let mut labels = vec![
            ("__meta_serverset_path", self.path),
            ("__meta_serverset_endpoint_host", self.host),
            ("__meta_serverset_endpoint_port", port.as_str()),
            ("__meta_serverset_status", self.status),
            ("__meta_serverset_shard", shard.as_str()),
        ];
        if let Some(admin) = &admin {
            labels.push(("__meta_serverset_endpoint_host_admin_http", self.host));
            labels.push(("__meta_serverset_endpoint_port_admin_http", admin));
        }
        group(&format!("{}:{port}", self.host), &labels)
    }

    /// Registers it, as the ephemeral znode members are.
    async fn create(&self, zk: &zk::Client) {
        create(zk, self.path, &self.json(), true).await;
    }
}

/// A nerve member at `path`: its JSON, as Nerve writes it, and its target.
fn nerve_member(path: &str, host: &str, port: u16, name: &str) -> (String, StaticConfig) {
    let json = format!(r#"{{"host":"{host}","port":{port},"name":"{name}","weight":1}}"#);
    let port = port.to_string();
    let target = group(
        &format!("{host}:{port}"),
        &[
            ("__meta_nerve_path", path),
            ("__meta_nerve_endpoint_host", host),
            ("__meta_nerve_endpoint_port", &port),
            ("__meta_nerve_endpoint_name", name),
        ],
    );
    (json, target)
}

/// Asks `provider` until it answers `want`, or fails the test with what it answered last.
async fn until(provider: &dyn Provider, want: &[StaticConfig]) {
    let start = Instant::now();
    loop {
        let got = provider.refresh().await;
        if got.as_deref() == Ok(want) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} answered {got:#?}\nwanted {want:#?}",
            provider.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates `path` with `data`, persistent or ephemeral; while the server is away (the
/// client fails requests until it has reconnected), tries again.
async fn create(client: &zk::Client, path: &str, data: &str, ephemeral: bool) {
    let mode = if ephemeral {
        zk::CreateMode::Ephemeral
    } else {
        zk::CreateMode::Persistent
    };
    let options = mode.with_acls(zk::Acls::anyone_all());
    let start = Instant::now();
    let mut lost = false;
    loop {
        match client.create(path, data.as_bytes(), &options).await {
            Ok(_) => return,
            // A create sent just before the connection went may have been made.
            Err(zk::Error::NodeExists) if lost => return,
            Err(zk::Error::ConnectionLoss) if start.elapsed() < DEADLINE => {
                lost = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("create {path}: {e}"),
        }
    }
}

#[tokio::test]
async fn serversets_and_nerve_members_are_followed_in_a_real_zookeeper() {
    let mut server = ZooKeeper::start();
    let zk = server.client().await;
    let addr = server.address();

    // Two serversets under one root, a znode that is no member, and a nerve service.
    for path in [
        "/aurora",
        "/aurora/prod",
        "/aurora/prod/web",
        "/aurora/prod/db",
    ] {
        create(&zk, path, "", false).await;
    }
    let member = |path, host, port, status, shard| Serverset {
        path,
        host,
        port,
        admin: None,
        status,
        shard,
    };
    let web0 = Serverset {
        admin: Some(9990),
        ..member(
            "/aurora/prod/web/member_0000000000",
            "10.0.0.1",
            31000,
            "ALIVE",
            0,
        )
    };
    let web1 = member(
        "/aurora/prod/web/member_0000000001",
        "10.0.0.2",
        31000,
        "STARTING",
        1,
    );
    let db0 = member(
        "/aurora/prod/db/member_0000000000",
        "10.0.1.1",
        5432,
        "ALIVE",
        0,
    );
    for m in [web0, web1, db0] {
        m.create(&zk).await;
    }
    create(&zk, "/aurora/prod/web/lock", "not json", false).await;
    for path in [
        "/nerve",
        "/nerve/services",
        "/nerve/services/api",
        "/nerve/services/api/services",
    ] {
        create(&zk, path, "", false).await;
    }
    let api0 = "/nerve/services/api/services/i-0a_api";
    let (api0_json, api_group) = nerve_member(api0, "10.0.2.1", 8080, "i-0a");
    create(&zk, api0, &api0_json, true).await;

    let config = Config::parse(
        &format!(
            "scrape_configs:
  - job_name: aurora
    serverset_sd_configs:
      - servers: ['{addr}']
        paths: [/aurora]
        timeout: 10s
  - job_name: nerve
    nerve_sd_configs:
      - servers: ['{addr}']
        paths: [/nerve/services/api/services]
  - job_name: missing
    serverset_sd_configs:
      - servers: ['{addr}']
        paths: [/missing]
"
        ),
        "p.yml",
    )
    .unwrap();
    let make = |job: usize| {
        let (mut made, failed) = providers(&config.scrape_configs[job].discovery);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(made.len(), 1);
        made.remove(0)
    };
    let (serverset, nerve, missing) = (make(0), make(1), make(2));
    assert_eq!(serverset.name(), "serverset_sd_configs[0]");
    assert_eq!(nerve.name(), "nerve_sd_configs[0]");
    assert_eq!(serverset.refresh_interval(), Duration::from_secs(1));

    // The first refresh waits for the first read: every member, at any depth, and nothing
    // for the znodes whose data is no member.
    assert_eq!(
        serverset.refresh().await.unwrap(),
        [db0.target(), web0.target(), web1.target()]
    );
    assert_eq!(
        nerve.refresh().await.unwrap(),
        std::slice::from_ref(&api_group)
    );

    // A path that does not exist fails, naming it, with no targets.
    let e = missing.refresh().await.unwrap_err();
    assert!(e.contains("path /missing does not exist"), "{e}");

    // A member that joins is seen; so is a new serverset with its members.
    let web2 = member(
        "/aurora/prod/web/member_0000000002",
        "10.0.0.3",
        31000,
        "ALIVE",
        2,
    );
    web2.create(&zk).await;
    create(&zk, "/aurora/prod/cache", "", false).await;
    let cache0 = member(
        "/aurora/prod/cache/member_0000000000",
        "10.0.3.1",
        11211,
        "ALIVE",
        0,
    );
    cache0.create(&zk).await;
    let targets = |members: &[Serverset]| members.iter().map(Serverset::target).collect::<Vec<_>>();
    until(&*serverset, &targets(&[cache0, db0, web0, web1, web2])).await;

    // A member whose data changes is labelled anew; one whose data becomes no member goes.
    let web1 = Serverset {
        status: "ALIVE",
        ..web1
    };
    zk.set_data(web1.path, web1.json().as_bytes(), None)
        .await
        .unwrap();
    zk.set_data(cache0.path, b"{", None).await.unwrap();
    until(&*serverset, &targets(&[db0, web0, web1, web2])).await;

    // A deleted member goes, and so does every member of a deleted serverset.
    zk.delete(web0.path, None).await.unwrap();
    zk.delete(db0.path, None).await.unwrap();
    zk.delete("/aurora/prod/db", None).await.unwrap();
    until(&*serverset, &targets(&[web1, web2])).await;

    // A member that comes back under the same name is seen again.
    web0.create(&zk).await;
    until(&*serverset, &targets(&[web0, web1, web2])).await;

    // Nerve members come and go the same way.
    let api1 = "/nerve/services/api/services/i-0b_api";
    let (api1_json, api1_group) = nerve_member(api1, "10.0.2.2", 8080, "i-0b");
    create(&zk, api1, &api1_json, true).await;
    until(&*nerve, &[api_group.clone(), api1_group.clone()]).await;

    // A lost connection is no failure: the targets stay while the server is down, and the
    // watches are set again when the session's client reconnects. (The restart comes when
    // no read is under way: one cut off would fail the tree for 10 s, as in Prometheus;
    // the step above ends with its one read.)
    server.restart();
    assert_eq!(
        nerve.refresh().await.unwrap(),
        [api_group.clone(), api1_group.clone()]
    );
    let api2 = "/nerve/services/api/services/i-0c_api";
    let (api2_json, api2_group) = nerve_member(api2, "10.0.2.3", 8081, "i-0c");
    create(&zk, api2, &api2_json, true).await;
    until(
        &*nerve,
        &[api_group, api1_group.clone(), api2_group.clone()],
    )
    .await;
    zk.delete(api0, None).await.unwrap();
    until(&*nerve, &[api1_group, api2_group]).await;

    // An ephemeral member goes with the session that registered it.
    drop(zk);
    until(&*nerve, &[]).await;
    until(&*serverset, &[]).await;
}
