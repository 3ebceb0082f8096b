//! What `serverset_sd_configs` and `nerve_sd_configs` share: their section, a ZooKeeper
//! session, and a cache of the znode trees under the configured paths that follows them
//! with watches, as Prometheus 2.42's `discovery/zookeeper` and `util/treecache` do. The
//! two providers differ only in how a znode's data becomes a target ([`serverset`] and
//! [`nerve`] parse it).
//!
//! **How the tree is followed.** Each configured path is read at start: every znode under
//! it, at any depth and the path's own znode included, with a data watch and a children
//! watch on each (ZooKeeper's one-shot watches, which every server version has). When a
//! watch fires the znode is read again, with fresh watches: its data, and its children,
//! new ones read in full and vanished ones forgotten with everything below them. Every
//! znode whose data parses as a member is a target of its own, labelled with its path; one
//! whose data does not parse (the path's own znode, usually empty) is none. So a member is
//! seen within a round trip of its change, not at an interval. The [`Provider`] contract
//! is polled, so [`ZookeeperSd::refresh`] answers the cache as it is, and asks to be asked
//! again every second.
//!
//! **Failures**, as Prometheus's tree cache has them, per path: a read that fails (the
//! connection lost mid-read, the path missing, the session expired) puts that path's tree
//! in failure; it keeps its targets, ignores its watches, and is read again in full every
//! 10 s until a read succeeds, which then forgets what vanished meanwhile. A lost
//! connection alone is no failure: the client reconnects within the session and ZooKeeper
//! sets the watches again; an expired session is, and a new session is opened for the next
//! full read. While a path is failing, refresh answers its error once the manager holds
//! the targets the cache holds (see [`ZookeeperSd::refresh`]), so the failure shows on
//! `/targets` without changing the targets Prometheus would keep.
//!
//! **Servers** are written `host` or `host:port` (port 2181 then), and are resolved once,
//! when the provider starts, as Prometheus's ZooKeeper client resolves them when the
//! discoverer is made: a name that does not resolve fails the provider until the
//! configuration is loaded again. `timeout` is the session timeout asked of the server.
//!
//! **Differences from Prometheus**: none in the targets and labels. Prometheus 2.42's
//! `prometheus_treecache_*` metrics are not exported, and a connection to an unreachable
//! server fails after the session timeout and is tried again 10 s later, where Prometheus's
//! client keeps trying and the reads wait.
//!
//! [`serverset`]: super::serverset
//! [`nerve`]: super::nerve

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration as StdDuration;

use futures_util::stream::{FuturesUnordered, Stream};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use tokio::sync::watch;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::{Provider, Refresh, join_host_port};
use crate::config::{Duration, StaticConfig};

/// How long a failing tree waits before it is read again in full, as Prometheus waits.
const RETRY: StdDuration = StdDuration::from_secs(10);
/// How often the manager is asked to read the cache: the follow loop's own tick.
const POLL: StdDuration = StdDuration::from_secs(1);
/// The port of a server written without one, as ZooKeeper's clients default it.
const DEFAULT_PORT: &str = "2181";

/// `serverset_sd_configs` and `nerve_sd_configs`: the ZooKeeper ensemble and the paths
/// whose trees hold the members.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZookeeperSdConfig {
    /// The ZooKeeper servers, `host` or `host:port`.
    #[serde(default)]
    pub servers: Vec<String>,
    /// The paths of the trees to follow: one serverset or service, or the root of many.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The session timeout (default 10s).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration(10_000)
}

impl ZookeeperSdConfig {
    /// Checks the section as Prometheus does; `kind` (`serverset`, `nerve`) names it in
    /// errors, as Prometheus's messages do.
    pub(crate) fn validate(&self, kind: &str) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err(format!(
                "{kind} SD config must contain at least one Zookeeper server"
            ));
        }
        if self.paths.is_empty() {
            return Err(format!("{kind} SD config must contain at least one path"));
        }
        if let Some(path) = self.paths.iter().find(|p| !p.starts_with('/')) {
            return Err(format!(
                "{kind} SD config paths must begin with '/': {path}"
            ));
        }
        Ok(())
    }
}

/// How a provider makes a target of a znode's data and path: its address and labels, or
/// why the data is no member (the znode is then no target).
pub(super) type Parse = fn(&[u8], &str) -> Result<(String, BTreeMap<String, String>), String>;

/// What the cache holds now.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// The targets of every tree, by znode path.
    targets: Vec<StaticConfig>,
    /// A failing tree's error.
    error: Option<String>,
    /// Whether every tree has been read, or has failed to be, once.
    settled: bool,
}

/// A ZooKeeper discoverer: serversets or nerve members under a set of paths.
pub(super) struct ZookeeperSd {
    name: String,
    /// What the cache's task needs, until it is started by the first refresh (which runs
    /// on the runtime that will drive it).
    start: Mutex<Option<Cache>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    cache: watch::Receiver<Snapshot>,
    /// How long the first refresh waits for the first read.
    first_wait: StdDuration,
    /// The targets refresh last answered, which the manager keeps while it fails.
    answered: Mutex<Vec<StaticConfig>>,
}

impl ZookeeperSd {
    /// A discoverer named `{key}[{n}]` whose znodes `parse` makes targets of.
    pub(super) fn new(key: &str, n: usize, config: &ZookeeperSdConfig, parse: Parse) -> Self {
        let (out, cache) = watch::channel(Snapshot::default());
        let timeout = config.timeout.std();
        Self {
            name: format!("{key}[{n}]"),
            start: Mutex::new(Some(Cache {
                servers: config.servers.clone(),
                timeout,
                parse,
                trees: config.paths.iter().map(|p| Tree::new(p)).collect(),
                client: None,
                generation: 0,
                out,
            })),
            task: Mutex::new(None),
            cache,
            first_wait: timeout.max(StdDuration::from_secs(1)),
            answered: Mutex::new(Vec::new()),
        }
    }
}

impl Drop for ZookeeperSd {
    fn drop(&mut self) {
        // Ends the cache's task, which closes the session with its client.
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

/// Locks `m`, whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Provider for ZookeeperSd {
    fn name(&self) -> &str {
        &self.name
    }

    fn refresh_interval(&self) -> StdDuration {
        POLL
    }

    /// The cache's targets. The first refresh starts the cache and waits for its first
    /// read (at most the session timeout). While a tree fails, the error is answered once
    /// the targets last answered are the cache's, so that the manager, which keeps the
    /// last targets of a failing provider, holds exactly what the cache holds; until then
    /// the cache's targets are answered.
    fn refresh(&self) -> Refresh<'_> {
        Box::pin(async move {
            let started = lock(&self.start).take();
            if let Some(cache) = started {
                *lock(&self.task) = Some(tokio::spawn(cache.run()));
                let mut settled = self.cache.clone();
                // A first read slower than this is answered by a later refresh.
                let _ =
                    tokio::time::timeout(self.first_wait, settled.wait_for(|s| s.settled)).await;
            }
            let now = self.cache.borrow().clone();
            let mut answered = lock(&self.answered);
            match now.error {
                Some(error) if *answered == now.targets => Err(error),
                _ => {
                    answered.clone_from(&now.targets);
                    Ok(now.targets)
                }
            }
        })
    }
}

/// A watch that fired: the znode it was set on, the generation of that read, and what
/// happened.
struct Fired {
    path: String,
    generation: u64,
    event: zk::WatchedEvent,
}

/// The watches of one tree, each a znode's data and children watches, whichever fires
/// first.
type Watches = FuturesUnordered<Pin<Box<dyn Future<Output = Fired> + Send>>>;

/// A znode as last read.
struct Node {
    data: Vec<u8>,
    /// Its target, if its data is a member.
    target: Option<StaticConfig>,
    /// The read that set its current watches; a watch of an earlier read is stale.
    generation: u64,
}

/// The cache of the tree under one configured path.
struct Tree {
    root: String,
    /// Every znode under `root` (itself included), by path.
    nodes: BTreeMap<String, Node>,
    watches: Watches,
    /// Why the tree is failing, if it is.
    failing: Option<String>,
    /// When it is to be read in full: at start, and 10 s after a failure.
    read_at: Option<Instant>,
}

impl Tree {
    fn new(root: &str) -> Self {
        Self {
            root: root.to_owned(),
            nodes: BTreeMap::new(),
            watches: Watches::new(),
            failing: None,
            read_at: Some(Instant::now()),
        }
    }

    /// Whether the tree is to be read in full by `now`.
    fn due(&self, now: Instant) -> bool {
        self.read_at.is_some_and(|at| at <= now)
    }

    /// Puts the tree in failure: it is read again in full in 10 s.
    fn fail(&mut self, error: String) {
        tracing::warn!(path = %self.root, %error, "ZooKeeper discovery failed; keeping the targets, reading the tree again in 10s");
        self.failing = Some(error);
        self.watches = Watches::new();
        self.read_at = Some(Instant::now() + RETRY);
    }
}

/// The session and the trees, followed by one task.
struct Cache {
    servers: Vec<String>,
    timeout: StdDuration,
    parse: Parse,
    trees: Vec<Tree>,
    client: Option<zk::Client>,
    /// The last read's generation (every read of a znode has a new one).
    generation: u64,
    out: watch::Sender<Snapshot>,
}

impl Cache {
    /// Follows the trees until the task is aborted.
    async fn run(mut self) {
        let ensemble = match resolve(&self.servers).await {
            Ok(ensemble) => ensemble,
            Err(error) => {
                // As Prometheus fails to make the discoverer: no targets, nothing to retry.
                tracing::warn!(%error, "ZooKeeper discovery cannot start");
                self.out.send_replace(Snapshot {
                    targets: Vec::new(),
                    error: Some(error),
                    settled: true,
                });
                return;
            }
        };
        loop {
            self.read_due(&ensemble).await;
            self.publish();
            let next_read = self.trees.iter().filter_map(|t| t.read_at).min();
            let trees = &mut self.trees;
            let fired = std::future::poll_fn(|cx| {
                for (i, tree) in trees.iter_mut().enumerate() {
                    if let Poll::Ready(Some(fired)) = Pin::new(&mut tree.watches).poll_next(cx) {
                        return Poll::Ready(Some((i, fired)));
                    }
                }
                Poll::Pending
            });
            let fired = match next_read {
                Some(at) => tokio::time::timeout_at(at, fired).await.ok().flatten(),
                None => fired.await,
            };
            if let Some((i, fired)) = fired {
                self.handle(i, fired).await;
            }
        }
    }

    /// Reads in full every tree that is due, over the session (a new one if it has
    /// ended, or there is none yet).
    async fn read_due(&mut self, ensemble: &str) {
        let now = Instant::now();
        if !self.trees.iter().any(|t| t.due(now)) {
            return;
        }
        let client = match self.client.take() {
            Some(c) if !c.state().is_terminated() => Ok(c),
            _ => zk::Client::connector()
                .with_session_timeout(self.timeout)
                .connect(ensemble)
                .await
                .map_err(|e| format!("cannot connect to ZooKeeper at {ensemble}: {e}")),
        };
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                for tree in self.trees.iter_mut() {
                    if tree.due(now) {
                        tree.fail(error.clone());
                    }
                }
                return;
            }
        };
        for tree in self.trees.iter_mut() {
            if !tree.due(now) {
                continue;
            }
            // A fresh read: the tree as it is now replaces the one held (watches
            // included), or, if it fails, the one held is kept.
            let mut nodes = BTreeMap::new();
            let mut watches = Watches::new();
            let mut reader = Reader {
                client: &client,
                root: &tree.root,
                parse: self.parse,
                generation: &mut self.generation,
            };
            match reader
                .read(&mut nodes, &mut watches, tree.root.clone())
                .await
            {
                Ok(()) => {
                    if tree.failing.take().is_some() {
                        tracing::info!(path = %tree.root, "ZooKeeper discovery read the tree again");
                    }
                    tree.nodes = nodes;
                    tree.watches = watches;
                    tree.read_at = None;
                }
                Err(error) => tree.fail(error),
            }
        }
        self.client = Some(client);
    }

    /// Reads again the znode a watch of tree `i` fired for.
    async fn handle(&mut self, i: usize, fired: Fired) {
        let tree = &mut self.trees[i];
        if tree.failing.is_some() {
            return;
        }
        if fired.event.event_type == zk::EventType::Session {
            tree.fail(format!(
                "lost the ZooKeeper session ({:?})",
                fired.event.session_state
            ));
            return;
        }
        // A watch of a znode read again since, or forgotten, is stale: the current read's
        // watches follow it.
        if tree.nodes.get(&fired.path).map(|n| n.generation) != Some(fired.generation) {
            return;
        }
        let Some(client) = &self.client else { return };
        let mut reader = Reader {
            client,
            root: &tree.root,
            parse: self.parse,
            generation: &mut self.generation,
        };
        if let Err(error) = reader
            .read(&mut tree.nodes, &mut tree.watches, fired.path)
            .await
        {
            tree.fail(error);
        }
    }

    /// Tells the cache's state to the provider.
    fn publish(&self) {
        let mut targets = BTreeMap::new();
        for tree in &self.trees {
            for (path, node) in &tree.nodes {
                if let Some(target) = &node.target {
                    targets.insert(path, target);
                }
            }
        }
        let snapshot = Snapshot {
            targets: targets.into_values().cloned().collect(),
            error: self
                .trees
                .iter()
                .find_map(|t| t.failing.as_ref().map(|e| format!("{}: {e}", t.root))),
            settled: self
                .trees
                .iter()
                .all(|t| t.failing.is_some() || t.read_at.is_none()),
        };
        self.out.send_if_modified(|old| {
            let changed = old.targets != snapshot.targets
                || old.error != snapshot.error
                || old.settled != snapshot.settled;
            *old = snapshot;
            changed
        });
    }
}

/// Reads znodes of one tree into its nodes and watches.
struct Reader<'a> {
    client: &'a zk::Client,
    root: &'a str,
    parse: Parse,
    generation: &'a mut u64,
}

impl Reader<'_> {
    /// Reads `path` (data and children, watching both), and every child of it not held
    /// yet, in full; forgets the children that are gone. A znode that is gone is
    /// forgotten with everything below it; the tree's own root gone is a failure.
    async fn read(
        &mut self,
        nodes: &mut BTreeMap<String, Node>,
        watches: &mut Watches,
        path: String,
    ) -> Result<(), String> {
        let mut pending = vec![path];
        while let Some(path) = pending.pop() {
            let read = match self.client.get_and_watch_data(&path).await {
                Ok(data) => (self.client.get_and_watch_children(&path).await).map(|c| (data, c)),
                Err(e) => Err(e),
            };
            let ((data, _, data_watch), (children, _, child_watch)) = match read {
                Ok(read) => read,
                Err(zk::Error::NoNode) => {
                    forget(nodes, &path);
                    if path == self.root {
                        return Err(format!("path {path} does not exist"));
                    }
                    continue;
                }
                Err(e) => return Err(format!("{path}: {e}")),
            };
            *self.generation += 1;
            let generation = *self.generation;
            let node = nodes.entry(path.clone()).or_insert_with(|| Node {
                data: Vec::new(),
                target: None,
                generation,
            });
            if node.target.is_none() || node.data != data {
                node.target = (self.parse)(&data, &path)
                    .map_err(|e| tracing::debug!(%path, error = %e, "znode is no member"))
                    .ok()
                    .map(|(address, labels)| super::target(address, labels));
                node.data = data;
            }
            node.generation = generation;
            let listed: HashSet<&str> = children.iter().map(String::as_str).collect();
            let prefix = format!("{path}/");
            let gone: Vec<String> = nodes
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .map(|(p, _)| p)
                .filter(|p| {
                    !p[prefix.len()..].contains('/') && !listed.contains(&p[prefix.len()..])
                })
                .cloned()
                .collect();
            for child in gone {
                forget(nodes, &child);
            }
            for child in &children {
                // Go's tree cache joins paths the same way: a root of "/" makes "//x",
                // which ZooKeeper refuses, and the tree fails as it does in Prometheus.
                let child = format!("{path}/{child}");
                if !nodes.contains_key(&child) {
                    pending.push(child);
                }
            }
            watches.push(Box::pin(async move {
                let event = tokio::select! {
                    event = data_watch.changed() => event,
                    event = child_watch.changed() => event,
                };
                Fired {
                    path,
                    generation,
                    event,
                }
            }));
        }
        Ok(())
    }
}

/// Forgets `path` and everything below it.
fn forget(nodes: &mut BTreeMap<String, Node>, path: &str) {
    nodes.remove(path);
    let prefix = format!("{path}/");
    let below: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .map(|(p, _)| p.clone())
        .collect();
    for p in below {
        nodes.remove(&p);
    }
}

/// The ensemble's connection string: every server's addresses, each `addr:port`, as
/// Prometheus's client resolves the servers once (`host` alone is on port 2181). A server
/// that does not resolve fails them all, as it fails Prometheus's.
async fn resolve(servers: &[String]) -> Result<String, String> {
    let mut found = Vec::new();
    for server in servers {
        let written = if server.contains(':') {
            server.clone()
        } else {
            format!("{server}:{DEFAULT_PORT}")
        };
        let (host, port) = split_host_port(&written)
            .ok_or_else(|| format!("ZooKeeper server {server:?}: not host:port"))?;
        let addrs = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("ZooKeeper server {server:?}: lookup {host}: {e}"))?;
        found.extend(addrs.map(|a| join_host_port(&a.ip().to_string(), port)));
    }
    if found.is_empty() {
        return Err(format!("no hosts found for ZooKeeper servers {servers:?}"));
    }
    Ok(found.join(","))
}

/// `host` and `port` of `host:port` or `[host]:port`, as Go's `net.SplitHostPort`.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return (!host.contains(']') && !port.contains(':')).then_some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    (!host.contains(':') && !host.contains('[') && !host.contains(']')).then_some((host, port))
}

// --- Members as Go's encoding/json reads them --------------------------------------------

/// A Go struct that JSON is decoded into as Go's `json.Unmarshal` decodes: object keys
/// match field names in any case, unknown keys are skipped, `null` leaves a field as it
/// was, a key written twice decodes twice (into what the first left), and a value of the
/// wrong type is an error.
pub(super) trait GoStruct {
    /// Decodes the value of key `field` (folded as Go folds names, see [`fold`]) from
    /// `map` into `self`; skips a key `self` has no field for.
    fn field<'de, A: MapAccess<'de>>(&mut self, field: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Decodes `data` into a zero `T` as `json.Unmarshal` does: the whole of it one JSON
/// value, `null` leaving `T` zero. Invalid UTF-8 becomes U+FFFD, as Go reads it.
pub(super) fn go_unmarshal<T: GoStruct + Default>(data: &[u8]) -> Result<T, serde_json::Error> {
    let text = String::from_utf8_lossy(data);
    let mut value = T::default();
    let mut de = serde_json::Deserializer::from_str(&text);
    Fill(&mut value).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A key folded as Go's `encoding/json` matches keys to field names: ASCII letters in
/// lower case, and the Kelvin sign and long s as `k` and `s`, which Go's fold equates.
fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{212a}' => 'k',
            '\u{17f}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Decodes a JSON object into an existing Go struct.
pub(super) struct Fill<'a, T>(pub(super) &'a mut T);

impl<'de, T: GoStruct> DeserializeSeed<'de> for Fill<'_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: GoStruct> Visitor<'de> for Fill<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            self.0.field(&fold(&key), &mut map)?;
        }
        Ok(())
    }
}

/// Decodes a JSON object into a Go `map[string]T` field: each key's value decoded into a
/// zero `T` and put in the map (a key written twice: the later value); `null` empties it.
pub(super) struct FillMap<'a, T>(pub(super) &'a mut BTreeMap<String, T>);

impl<'de, T: GoStruct + Default> DeserializeSeed<'de> for FillMap<'_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: GoStruct + Default> Visitor<'de> for FillMap<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let mut value = T::default();
            map.next_value_seed(Fill(&mut value))?;
            self.0.insert(key, value);
        }
        Ok(())
    }
}

/// Skips the value of a key no field matches.
pub(super) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// Decodes a JSON string into a Go `string` field; `null` leaves it.
pub(super) fn go_string<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &mut String,
) -> Result<(), A::Error> {
    if let Some(s) = map.next_value::<Option<String>>()? {
        *field = s;
    }
    Ok(())
}

/// Decodes a JSON integer into a Go `int` field (64 bits); `null` leaves it. A fraction
/// or exponent is an error, as Go parses an `int` from the number's text.
pub(super) fn go_int<'de, A: MapAccess<'de>>(map: &mut A, field: &mut i64) -> Result<(), A::Error> {
    if let Some(n) = map.next_value::<Option<GoInt>>()? {
        *field = n.0;
    }
    Ok(())
}

/// A JSON number written as an integer that fits in 64 bits.
struct GoInt(i64);

impl<'de> Deserialize<'de> for GoInt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GoInt;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<GoInt, E> {
                Ok(GoInt(n))
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<GoInt, E> {
                i64::try_from(n)
                    .map(GoInt)
                    .map_err(|_| E::custom(format!("number {n} overflows int")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Checks that `parse` makes the target `address` of `data` at `path`, with exactly
/// `labels` (names without `prefix`): the providers' member tests.
#[cfg(test)]
pub(super) fn check_member(
    parse: Parse,
    prefix: &str,
    (data, path): (&str, &str),
    address: &str,
    labels: &[(&str, &str)],
) {
    let (got_address, got) = parse(data.as_bytes(), path).unwrap();
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (format!("{prefix}{k}"), (*v).to_owned()))
        .collect();
    assert_eq!((got_address.as_str(), got), (address, want), "{data}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_reads_with_prometheus_defaults() {
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    serverset_sd_configs:\n      - servers: [zk1:2181, zk2]\n        paths: [/aurora/jobs]\n    nerve_sd_configs:\n      - servers: [localhost]\n        paths: [/monitoring]\n        timeout: 3s\n",
            "p.yml",
        )
        .unwrap();
        let d = &c.scrape_configs[0].discovery;
        let s = &d.serverset_sd_configs[0];
        assert_eq!(
            (s.servers.as_slice(), s.paths.as_slice(), s.timeout),
            (
                ["zk1:2181".to_owned(), "zk2".to_owned()].as_slice(),
                ["/aurora/jobs".to_owned()].as_slice(),
                Duration(10_000)
            )
        );
        assert_eq!(d.nerve_sd_configs[0].timeout, Duration(3_000));
        assert!(d.is_dynamic());
    }

    #[test]
    fn prometheus_conf_good_nerve_job_parses() {
        // The nerve job of Prometheus 2.42's config/testdata/conf.good.yml.
        let c = crate::Config::parse(
            "scrape_configs:\n  - job_name: service-nerve\n    nerve_sd_configs:\n      - servers:\n          - localhost\n        paths:\n          - /monitoring\n",
            "p.yml",
        )
        .unwrap();
        let sd = &c.scrape_configs[0].discovery.nerve_sd_configs[0];
        assert_eq!((sd.servers.len(), sd.paths.len()), (1, 1));
    }

    #[test]
    fn sections_are_refused_as_prometheus_refuses_them() {
        for (key, body, error) in [
            (
                "serverset",
                "paths: [/a]",
                "serverset_sd_configs[0]: serverset SD config must contain at least one Zookeeper server",
            ),
            (
                "nerve",
                "servers: [zk]",
                "nerve_sd_configs[0]: nerve SD config must contain at least one path",
            ),
            (
                "nerve",
                "servers: [zk]\n        paths: [/a, b/c]",
                "nerve_sd_configs[0]: nerve SD config paths must begin with '/': b/c",
            ),
        ] {
            let text = format!(
                "scrape_configs:\n  - job_name: a\n    {key}_sd_configs:\n      - {body}\n"
            );
            let e = crate::Config::parse(&text, "p.yml").unwrap_err().message;
            assert!(e.contains(error), "{e}");
        }
        let e = crate::Config::parse(
            "scrape_configs:\n  - job_name: a\n    serverset_sd_configs:\n      - servers: [zk]\n        paths: [/a]\n        refresh_interval: 1m\n",
            "p.yml",
        )
        .unwrap_err()
        .message;
        assert!(e.contains("refresh_interval"), "{e}");
    }

    #[test]
    fn servers_split_as_go_splits_them() {
        assert_eq!(split_host_port("zk1:2181"), Some(("zk1", "2181")));
        assert_eq!(split_host_port("[::1]:2181"), Some(("::1", "2181")));
        assert_eq!(split_host_port("::1:2181"), None);
        assert_eq!(split_host_port("[::1]"), None);
    }

    #[tokio::test]
    async fn servers_resolve_once_with_the_default_port() {
        assert_eq!(
            resolve(&["127.0.0.1".into(), "[::1]:2182".into()])
                .await
                .unwrap(),
            "127.0.0.1:2181,[::1]:2182"
        );
        let e = resolve(&["127.0.0.1".into(), "a:b:c".into()])
            .await
            .unwrap_err();
        assert!(e.contains("\"a:b:c\": not host:port"), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_does_not_resolve_fails_the_provider() {
        let config: ZookeeperSdConfig =
            yaml::from_str("servers: ['name.invalid']\npaths: [/a]\n").unwrap();
        let sd = ZookeeperSd::new("serverset_sd_configs", 0, &config, |_, _| {
            Err("unused".into())
        });
        assert_eq!(sd.name(), "serverset_sd_configs[0]");
        let e = sd.refresh().await.unwrap_err();
        assert!(e.contains("lookup name.invalid"), "{e}");
        // It stays failed: Prometheus does not retry either.
        assert!(sd.refresh().await.is_err());
    }

    #[derive(Default, Debug, PartialEq)]
    struct Point {
        name: String,
        x: i64,
        inner: Option<Box<Point>>,
    }

    impl GoStruct for Point {
        fn field<'de, A: MapAccess<'de>>(&mut self, f: &str, map: &mut A) -> Result<(), A::Error> {
            match f {
                "name" => go_string(map, &mut self.name),
                "x" => go_int(map, &mut self.x),
                "inner" => map.next_value_seed(Fill(&mut **self.inner.get_or_insert_default())),
                _ => skip(map),
            }
        }
    }

    #[test]
    fn json_decodes_as_go_decodes_it() {
        let p = |s: &str| go_unmarshal::<Point>(s.as_bytes());
        let point = |name: &str, x| Point {
            name: name.into(),
            x,
            inner: None,
        };
        assert_eq!(p(r#"{"name": "a", "x": 1}"#).unwrap(), point("a", 1));
        // Keys in any case; the later of two wins; null leaves a field; unknown keys skip.
        assert_eq!(
            p(r#"{"NAME": "a", "Name": "b", "X": null, "y": [1, {}]}"#).unwrap(),
            point("b", 0)
        );
        assert_eq!(p("null").unwrap(), point("", 0));
        assert_eq!(fold("\u{17f}TATU\u{17f}"), "status");
        assert_eq!(fold("\u{212a}ey\u{e9}"), "key\u{e9}");
        // A nested object written twice decodes into what the first left.
        let twice = p(r#"{"inner": {"name": "a", "x": 1}, "inner": {"x": 2}}"#).unwrap();
        assert_eq!(twice.inner.as_deref(), Some(&point("a", 2)));
        for bad in [
            "",
            "[]",
            r#"{"x": 1.0}"#,
            r#"{"x": 1e3}"#,
            r#"{"x": "1"}"#,
            r#"{"x": 9223372036854775808}"#,
            r#"{"name": 1}"#,
            r#"{"inner": []}"#,
            r#"{} {}"#,
            "\u{feff}{}",
        ] {
            assert!(p(bad).is_err(), "{bad:?} decoded");
        }
        assert_eq!(p(r#"{"x": -9223372036854775808}"#).unwrap().x, i64::MIN);
        let lossy = go_unmarshal::<Point>(b"{\"name\": \"a\xffb\"}").unwrap();
        assert_eq!(lossy.name, "a\u{fffd}b");
    }
}
