//! The service graph processor: a request between two services is a client span and the
//! server span whose parent it is (or a producer span and its consumer span); each pair
//! found becomes one request on the edge from the client's service to the server's, as
//! Tempo's `service-graphs` processor counts them.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `traces_service_graph_request_total` | counter | requests |
//! | `traces_service_graph_request_failed_total` | counter | requests where either span has status error |
//! | `traces_service_graph_request_server_seconds` | histogram | the server span's duration |
//! | `traces_service_graph_request_client_seconds` | histogram | the client span's duration |
//! | `traces_service_graph_request_messaging_system_seconds` | histogram | producer end to consumer start (opt-in) |
//! | `traces_service_graph_connection_info` | gauge, 1 | each edge seen (opt-in) |
//!
//! Labels: `client`, `server`, `connection_type` (`messaging_system` for producer and
//! consumer, `database` for a client span with a database attribute, `virtual_node` for
//! an edge to or from an uninstrumented peer; absent for a plain request) and the
//! configured dimensions.
//!
//! The two halves of a request may come in different batches, in either order. The
//! first half to come waits in a store, keyed by trace ID and the client's span ID (the
//! server span's parent), until its other half comes or the wait runs out. When it runs
//! out, the half still makes an edge when it names a virtual node: a server span with no
//! parent was called by `user` (or by the peer its attributes name), a client span whose
//! attributes name a peer (`peer.service`, `db.name`, ...) called that peer. Otherwise it
//! is counted as expired. The store holds at most `max_items` halves; spans that would
//! add more are dropped and counted.

use std::collections::{BTreeMap, HashMap};

use model::Timestamp;
use spans::{KeyValue, Span, SpanId, SpanKind, StatusCode, TraceId};

use crate::attributes::{find_text, sanitize_label_name};
use crate::config::{
    Config, SERVICE_GRAPHS, SERVICE_GRAPHS_CONNECTION_INFO, SERVICE_GRAPHS_LATENCY,
    SERVICE_GRAPHS_REQUEST, ServiceGraphsConfig,
};
use crate::registry::{MetricId, Registry};
use crate::span_metrics::{kind_label, multiplier, trace_id_label};

/// The name of the request counter.
pub const REQUEST_TOTAL: &str = "traces_service_graph_request_total";
/// The name of the failed request counter.
pub const REQUEST_FAILED_TOTAL: &str = "traces_service_graph_request_failed_total";
/// The name of the server latency histogram.
pub const REQUEST_SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
/// The name of the client latency histogram.
pub const REQUEST_CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";
/// The name of the messaging system latency histogram.
pub const REQUEST_MESSAGING_SYSTEM_SECONDS: &str =
    "traces_service_graph_request_messaging_system_seconds";
/// The name of the connection info gauge.
pub const CONNECTION_INFO: &str = "traces_service_graph_connection_info";

const VIRTUAL_NODE: &str = "virtual_node";
const MESSAGING_SYSTEM: &str = "messaging_system";
const DATABASE: &str = "database";

/// A request's key: its trace, and the client span's ID (`None` for a server span without
/// a parent, which no client span can complete).
type EdgeKey = (TraceId, Option<SpanId>);

/// Half of a request, or both.
#[derive(Debug, Clone, Default)]
struct Edge {
    /// Its place in the store's queue.
    seq: u64,
    expires: Timestamp,
    root: bool,
    connection_type: &'static str,
    client: String,
    server: String,
    client_seconds: f64,
    server_seconds: f64,
    client_end: u64,
    server_start: u64,
    /// The kind of the last span added.
    kind: SpanKind,
    failed: bool,
    dimensions: BTreeMap<String, String>,
    peer: String,
    weight: f64,
    /// The request's trace, for the histograms' exemplars.
    trace_id: TraceId,
}

impl Edge {
    fn complete(&self) -> bool {
        !self.client.is_empty() && !self.server.is_empty()
    }
}

/// Which half a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A configured dimension and the labels it makes.
#[derive(Debug)]
struct Dimension {
    attribute: String,
    label: String,
    client_key: String,
    client_label: String,
    server_key: String,
    server_label: String,
}

/// The processor's own figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GraphCounts {
    /// Halves stored (Tempo's `service_graphs_edges`).
    pub(crate) edges: u64,
    /// Halves that expired unpaired and named no virtual node, by the kind of their span.
    pub(crate) expired: BTreeMap<&'static str, u64>,
    /// Spans dropped because the store was full.
    pub(crate) dropped_spans: u64,
    /// Halves waiting now.
    pub(crate) waiting: u64,
}

/// The service graph processor; see the module's docs.
#[derive(Debug)]
pub(crate) struct ServiceGraphs {
    config: ServiceGraphsConfig,
    dimensions: Vec<Dimension>,
    wait_ms: i64,
    edges: HashMap<EdgeKey, Edge>,
    /// The waiting halves in the order they came, which is the order they expire in.
    queue: BTreeMap<u64, EdgeKey>,
    next_seq: u64,
    request_total: Option<MetricId>,
    request_failed_total: Option<MetricId>,
    server_seconds: Option<MetricId>,
    client_seconds: Option<MetricId>,
    messaging_seconds: Option<MetricId>,
    connection_info: Option<MetricId>,
    counts: GraphCounts,
}

impl ServiceGraphs {
    /// The processor, if the configuration runs it or one of its metrics.
    pub(crate) fn new(config: &Config, registry: &mut Registry) -> Option<Self> {
        let all = config.has(SERVICE_GRAPHS);
        let request = all || config.has(SERVICE_GRAPHS_REQUEST);
        let latency = all || config.has(SERVICE_GRAPHS_LATENCY);
        let info = config.has(SERVICE_GRAPHS_CONNECTION_INFO);
        if !(request || latency || info) {
            return None;
        }
        let mut c = config.service_graphs.clone();
        if c.enable_virtual_node_label {
            c.dimensions.push(VIRTUAL_NODE.into());
        }
        let dimensions = c
            .dimensions
            .iter()
            .map(|d| {
                let (client_key, server_key) = if c.enable_client_server_prefix {
                    (format!("client_{d}"), format!("server_{d}"))
                } else {
                    (d.clone(), d.clone())
                };
                Dimension {
                    attribute: d.clone(),
                    label: sanitize_label_name(d),
                    client_label: sanitize_label_name(&client_key),
                    server_label: sanitize_label_name(&server_key),
                    client_key,
                    server_key,
                }
            })
            .collect();
        let buckets = c.histogram_buckets.clone();
        let messaging = latency && c.enable_messaging_system_latency_histogram;
        Some(Self {
            wait_ms: i64::try_from(c.wait.as_millis()).unwrap_or(i64::MAX),
            config: c,
            dimensions,
            edges: HashMap::new(),
            queue: BTreeMap::new(),
            next_seq: 0,
            request_total: request.then(|| registry.counter(REQUEST_TOTAL)),
            request_failed_total: request.then(|| registry.counter(REQUEST_FAILED_TOTAL)),
            server_seconds: latency.then(|| registry.histogram(REQUEST_SERVER_SECONDS, &buckets)),
            client_seconds: latency.then(|| registry.histogram(REQUEST_CLIENT_SECONDS, &buckets)),
            messaging_seconds: messaging
                .then(|| registry.histogram(REQUEST_MESSAGING_SYSTEM_SECONDS, &buckets)),
            connection_info: info.then(|| registry.gauge(CONNECTION_INFO)),
            counts: GraphCounts::default(),
        })
    }

    /// Pairs a batch's client, server, producer and consumer spans with what waits.
    pub(crate) fn observe(&mut self, registry: &mut Registry, spans: &[Span], now: Timestamp) {
        for span in spans {
            let (side, messaging) = match span.kind {
                SpanKind::Client => (Side::Client, false),
                SpanKind::Producer => (Side::Client, true),
                SpanKind::Server => (Side::Server, false),
                SpanKind::Consumer => (Side::Server, true),
                SpanKind::Internal | SpanKind::Unspecified => continue,
            };
            // A resource without `service.name` makes no edges.
            let Some(service) = find_text("service.name", &[&span.resource.attributes]) else {
                continue;
            };
            let key = match side {
                Side::Client => (span.trace_id, Some(span.span_id)),
                Side::Server => (span.trace_id, span.parent_span_id),
            };
            self.upsert(registry, key, now, |g, e| {
                g.update(e, span, side, messaging, service);
            });
        }
    }

    /// Applies `update` to the half waiting under `key`, or to a new one; a request that
    /// is then complete is counted and leaves the store.
    fn upsert(
        &mut self,
        registry: &mut Registry,
        key: EdgeKey,
        now: Timestamp,
        update: impl FnOnce(&Self, &mut Edge),
    ) {
        if let Some(mut edge) = self.edges.remove(&key) {
            update(self, &mut edge);
            if edge.complete() {
                self.queue.remove(&edge.seq);
                self.complete(registry, &edge, now);
            } else {
                self.edges.insert(key, edge);
            }
            return;
        }
        let mut edge = Edge {
            root: key.1.is_none(),
            weight: 1.0,
            ..Edge::default()
        };
        update(self, &mut edge);
        if edge.complete() {
            self.counts.edges += 1;
            self.complete(registry, &edge, now);
            return;
        }
        if self.edges.len() >= self.config.max_items {
            self.counts.dropped_spans += 1;
            return;
        }
        self.counts.edges += 1;
        edge.seq = self.next_seq;
        edge.expires = now.saturating_add(self.wait_ms);
        self.next_seq += 1;
        self.queue.insert(edge.seq, key);
        self.edges.insert(key, edge);
    }

    /// Adds one span's half to an edge.
    fn update(&self, e: &mut Edge, span: &Span, side: Side, messaging: bool, service: String) {
        e.kind = span.kind;
        e.trace_id = span.trace_id;
        e.connection_type = if messaging { MESSAGING_SYSTEM } else { "" };
        e.failed |= span.status.code == StatusCode::Error;
        e.weight = multiplier(&self.config.span_multiplier_key, span);
        let seconds = span.duration() as f64 / 1e9;
        let lists: [&[KeyValue]; 2] = [&span.resource.attributes, &span.attributes];
        for d in &self.dimensions {
            if let Some(v) = find_text(&d.attribute, &lists) {
                let key = match side {
                    Side::Client => &d.client_key,
                    Side::Server => &d.server_key,
                };
                e.dimensions.insert(key.clone(), v);
            }
        }
        // The peer is read from the span's own attributes only.
        if let Some(peer) = self
            .config
            .peer_attributes
            .iter()
            .find_map(|k| find_text(k, &[&span.attributes]))
        {
            e.peer = peer;
        }
        match side {
            Side::Client => {
                e.client = service;
                e.client_seconds = seconds;
                e.client_end = span.end;
                self.database(e, &lists, seconds);
            }
            Side::Server => {
                e.server = service;
                e.server_seconds = seconds;
                e.server_start = span.start;
            }
        }
    }

    /// A client span with a database attribute calls a database, which sends no spans:
    /// its server is named after the peer (`peer.service`, `server.address`,
    /// `network.peer.address[:network.peer.port]`) or the database, and the request is
    /// complete at once, with the client's duration as the server's.
    fn database(&self, e: &mut Edge, lists: &[&[KeyValue]; 2], seconds: f64) {
        let Some(db) = self
            .config
            .database_name_attributes
            .iter()
            .find_map(|k| find_text(k, lists))
        else {
            return;
        };
        e.connection_type = DATABASE;
        e.server_seconds = seconds;
        let name = find_text("peer.service", lists)
            .or_else(|| find_text("server.address", lists))
            .or_else(|| {
                find_text("network.peer.address", lists).map(|host| {
                    match find_text("network.peer.port", lists) {
                        Some(port) => format!("{host}:{port}"),
                        None => host,
                    }
                })
            })
            .unwrap_or(db);
        if !name.is_empty() {
            e.server = name;
        }
    }

    /// Ends the halves whose wait ran out by `now`: those naming a virtual node become
    /// edges, the others are counted as expired.
    pub(crate) fn expire(&mut self, registry: &mut Registry, now: Timestamp) {
        while let Some(entry) = self.queue.first_entry() {
            let key = *entry.get();
            let Some(edge) = self.edges.get(&key) else {
                entry.remove();
                continue;
            };
            if edge.expires > now {
                break;
            }
            entry.remove();
            if let Some(edge) = self.edges.remove(&key) {
                self.expired(registry, edge, now);
            }
        }
    }

    fn expired(&mut self, registry: &mut Registry, mut e: Edge, now: Timestamp) {
        e.connection_type = VIRTUAL_NODE;
        let virtual_label = self.config.enable_virtual_node_label;
        if e.client.is_empty() {
            // Only a server span without a parent was called from outside: by the peer
            // it names, or by a user.
            if e.root {
                e.client = if e.peer.is_empty() {
                    "user".into()
                } else {
                    e.peer.clone()
                };
                if virtual_label {
                    e.dimensions.insert(VIRTUAL_NODE.into(), "client".into());
                }
                self.complete(registry, &e, now);
                return;
            }
        } else if e.server.is_empty() && !e.peer.is_empty() {
            e.server = e.peer.clone();
            if virtual_label {
                e.dimensions.insert(VIRTUAL_NODE.into(), "server".into());
            }
            self.complete(registry, &e, now);
            return;
        }
        *self.counts.expired.entry(kind_label(e.kind)).or_default() += 1;
    }

    /// Counts a complete request.
    fn complete(&self, registry: &mut Registry, e: &Edge, now: Timestamp) {
        let mut set = registry.labels();
        set.add("client", &e.client);
        set.add("server", &e.server);
        set.add("connection_type", e.connection_type);
        let value = |k: &str| e.dimensions.get(k).map_or("", String::as_str);
        for d in &self.dimensions {
            if !self.config.enable_client_server_prefix {
                set.add(&d.label, value(&d.attribute));
            } else if self.config.enable_virtual_node_label && d.attribute == VIRTUAL_NODE {
                set.add(VIRTUAL_NODE, value(VIRTUAL_NODE));
            } else {
                set.add(&d.client_label, value(&d.client_key));
                set.add(&d.server_label, value(&d.server_key));
            }
        }
        let labels = set.build();
        let w = e.weight;
        let trace_id = trace_id_label(&e.trace_id);
        let trace_id = Some(trace_id.as_str());
        if let Some(id) = self.request_total {
            registry.inc(id, &labels, w, now);
        }
        if let (Some(id), true) = (self.request_failed_total, e.failed) {
            registry.inc(id, &labels, w, now);
        }
        if let Some(id) = self.server_seconds {
            registry.observe(id, &labels, e.server_seconds, w, now, trace_id);
        }
        if let Some(id) = self.client_seconds {
            registry.observe(id, &labels, e.client_seconds, w, now, trace_id);
        }
        if let Some(id) = self.messaging_seconds {
            // Clocks that disagree (the consumer starting before the producer ends) make
            // no observation.
            if e.connection_type == MESSAGING_SYSTEM && e.client_end < e.server_start {
                let seconds = (e.server_start - e.client_end) as f64 / 1e9;
                registry.observe(id, &labels, seconds, w, now, trace_id);
            }
        }
        if let Some(id) = self.connection_info {
            registry.set(id, &labels, 1.0, now);
        }
    }

    /// The processor's figures.
    pub(crate) fn counts(&self) -> GraphCounts {
        GraphCounts {
            waiting: self.edges.len() as u64,
            ..self.counts.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{Edit, assert_lines, collect, dump, registry, span};

    /// A processor with `config` and its registry, fed batches at given times (ms).
    struct Graph {
        registry: Registry,
        graphs: ServiceGraphs,
    }

    impl Graph {
        fn new(config: &Config) -> Self {
            let mut registry = registry(config);
            let graphs = ServiceGraphs::new(config, &mut registry).unwrap();
            Self { registry, graphs }
        }

        fn feed(&mut self, now: Timestamp, spans: &[Span]) -> &mut Self {
            self.graphs.observe(&mut self.registry, spans, now);
            self
        }

        fn expire(&mut self, now: Timestamp) -> &mut Self {
            self.graphs.expire(&mut self.registry, now);
            self
        }

        /// The values of the series named `prefix...`.
        fn dump(&mut self, prefix: &str) -> String {
            dump(&collect(&mut self.registry, 60_000), prefix)
        }
    }

    fn client(service: &str, id: u8) -> Span {
        span(service, "call", SpanKind::Client).ids(1, id, Some(100))
    }

    fn server(service: &str, id: u8, parent: u8) -> Span {
        span(service, "serve", SpanKind::Server).ids(1, id, Some(parent))
    }

    #[test]
    fn a_client_and_its_server_make_one_request_in_either_order_across_batches() {
        let config = Config::default();
        let mut g = Graph::new(&config);
        g.feed(0, &[client("api", 1).ms(0, 300)])
            .feed(1000, &[server("store", 2, 1).ms(50, 150)])
            // The server half first, this time, and failed.
            .feed(2000, &[server("store", 4, 3).status(StatusCode::Error, "")])
            .feed(3000, &[client("api", 3)])
            // An internal span and a span of no service make no edge.
            .feed(
                3000,
                &[span("api", "x", SpanKind::Internal), server("", 6, 5)],
            );
        assert_lines(
            &g.dump("traces_service_graph_request_"),
            r#"
            traces_service_graph_request_client_seconds_bucket{client="api",le="+Inf",server="store"} 2
            traces_service_graph_request_client_seconds_bucket{client="api",le="0.1",server="store"} 1
            traces_service_graph_request_client_seconds_bucket{client="api",le="0.2",server="store"} 1
            traces_service_graph_request_client_seconds_bucket{client="api",le="0.4",server="store"} 2
            traces_service_graph_request_client_seconds_bucket{client="api",le="0.8",server="store"} 2
            traces_service_graph_request_client_seconds_bucket{client="api",le="1.6",server="store"} 2
            traces_service_graph_request_client_seconds_bucket{client="api",le="12.8",server="store"} 2
            traces_service_graph_request_client_seconds_bucket{client="api",le="3.2",server="store"} 2
            traces_service_graph_request_client_seconds_bucket{client="api",le="6.4",server="store"} 2
            traces_service_graph_request_client_seconds_count{client="api",server="store"} 2
            traces_service_graph_request_client_seconds_sum{client="api",server="store"} 0.31
            traces_service_graph_request_failed_total{client="api",server="store"} 1
            traces_service_graph_request_server_seconds_bucket{client="api",le="+Inf",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="0.1",server="store"} 1
            traces_service_graph_request_server_seconds_bucket{client="api",le="0.2",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="0.4",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="0.8",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="1.6",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="12.8",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="3.2",server="store"} 2
            traces_service_graph_request_server_seconds_bucket{client="api",le="6.4",server="store"} 2
            traces_service_graph_request_server_seconds_count{client="api",server="store"} 2
            traces_service_graph_request_server_seconds_sum{client="api",server="store"} 0.16
            traces_service_graph_request_total{client="api",server="store"} 2
            "#,
        );
        let counts = g.graphs.counts();
        assert_eq!((counts.edges, counts.waiting), (2, 0));
    }

    #[test]
    fn producer_and_consumer_are_a_messaging_system_edge() {
        let mut config = Config::default();
        config
            .service_graphs
            .enable_messaging_system_latency_histogram = true;
        let mut g = Graph::new(&config);
        let producer = span("scheduler", "publish task", SpanKind::Producer)
            .ids(1, 1, None)
            .ms(0, 5);
        let consumer = span("worker", "run task", SpanKind::Consumer)
            .ids(1, 2, Some(1))
            .ms(305, 40);
        g.feed(0, &[consumer, producer]);
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"traces_service_graph_request_total{client="scheduler",connection_type="messaging_system",server="worker"} 1"#,
        );
        assert_lines(
            &g.dump("traces_service_graph_request_messaging_system_seconds_sum"),
            r#"traces_service_graph_request_messaging_system_seconds_sum{client="scheduler",connection_type="messaging_system",server="worker"} 0.3"#,
        );
    }

    #[test]
    fn a_database_call_is_complete_without_a_server_span() {
        let mut g = Graph::new(&Config::default());
        g.feed(
            0,
            &[
                // Named by the peer, the address with its port, or the database.
                client("payments", 1)
                    .attr("db.system", "postgresql")
                    .attr("db.name", "ledger")
                    .ms(0, 20),
                client("payments", 2)
                    .attr("db.system", "redis")
                    .attr("network.peer.address", "10.0.0.7")
                    .attr("network.peer.port", 6379_i64),
                client("payments", 3)
                    .attr("db.name", "ledger")
                    .attr("peer.service", "ledger-db"),
            ],
        );
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"
            traces_service_graph_request_total{client="payments",connection_type="database",server="10.0.0.7:6379"} 1
            traces_service_graph_request_total{client="payments",connection_type="database",server="ledger"} 1
            traces_service_graph_request_total{client="payments",connection_type="database",server="ledger-db"} 1
            "#,
        );
        assert_lines(
            &g.dump("traces_service_graph_request_server_seconds_sum"),
            r#"
            traces_service_graph_request_server_seconds_sum{client="payments",connection_type="database",server="10.0.0.7:6379"} 0.01
            traces_service_graph_request_server_seconds_sum{client="payments",connection_type="database",server="ledger"} 0.02
            traces_service_graph_request_server_seconds_sum{client="payments",connection_type="database",server="ledger-db"} 0.01
            "#,
        );
        assert_eq!(g.graphs.counts().waiting, 0);
    }

    #[test]
    fn unpaired_halves_wait_then_make_virtual_nodes_or_expire() {
        let mut config = Config::default();
        config.service_graphs.enable_virtual_node_label = true;
        let mut g = Graph::new(&config);
        let root = span("api", "GET /", SpanKind::Server).ids(1, 1, None);
        let from_peer = span("api", "GET /", SpanKind::Server)
            .ids(2, 1, None)
            .attr("peer.service", "browser");
        let to_peer = client("api", 3).attr("peer.service", "payments-provider");
        let lost_client = client("api", 4);
        let lost_server = server("store", 5, 99);
        g.feed(
            0,
            &[root, from_peer, to_peer, lost_client, lost_server.clone()],
        );
        // Within the wait (10 s) nothing is decided.
        g.expire(9_999);
        assert_eq!(g.dump("traces_service_graph_request_total"), "");
        assert_eq!(g.graphs.counts().waiting, 5);
        g.expire(10_000);
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"
            traces_service_graph_request_total{client="api",connection_type="virtual_node",server="payments-provider",virtual_node="server"} 1
            traces_service_graph_request_total{client="browser",connection_type="virtual_node",server="api",virtual_node="client"} 1
            traces_service_graph_request_total{client="user",connection_type="virtual_node",server="api",virtual_node="client"} 1
            "#,
        );
        let counts = g.graphs.counts();
        assert_eq!(counts.waiting, 0);
        assert_eq!(
            counts.expired,
            BTreeMap::from([("SPAN_KIND_CLIENT", 1), ("SPAN_KIND_SERVER", 1)])
        );
        // The other half of an expired one comes too late: it waits anew.
        g.feed(11_000, &[client("api", 99)]);
        assert_eq!(g.graphs.counts().waiting, 1);
    }

    #[test]
    fn halves_past_max_items_are_dropped_and_counted() {
        let mut config = Config::default();
        config.service_graphs.max_items = 2;
        let mut g = Graph::new(&config);
        g.feed(0, &[client("api", 1), client("api", 2), client("api", 3)]);
        // A database call is complete at once and needs no room.
        g.feed(0, &[client("api", 4).attr("db.name", "ledger")]);
        // The waiting halves still pair.
        g.feed(0, &[server("store", 11, 1)]);
        let counts = g.graphs.counts();
        assert_eq!(
            (counts.dropped_spans, counts.waiting, counts.edges),
            (1, 1, 3)
        );
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"
            traces_service_graph_request_total{client="api",connection_type="database",server="ledger"} 1
            traces_service_graph_request_total{client="api",server="store"} 1
            "#,
        );
    }

    #[test]
    fn dimensions_are_read_from_both_sides_with_or_without_prefixes() {
        let mut config = Config::default();
        config.service_graphs.dimensions = vec!["deployment.environment".into()];
        let pair = [
            client("api", 1).resource_attr("deployment.environment", "prod"),
            server("store", 2, 1).resource_attr("deployment.environment", "staging"),
        ];
        let mut g = Graph::new(&config);
        g.feed(0, &pair);
        // Without prefixes, the server's value (the last to come) wins.
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"traces_service_graph_request_total{client="api",deployment_environment="staging",server="store"} 1"#,
        );

        config.service_graphs.enable_client_server_prefix = true;
        let mut g = Graph::new(&config);
        g.feed(0, &pair);
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"traces_service_graph_request_total{client="api",client_deployment_environment="prod",server="store",server_deployment_environment="staging"} 1"#,
        );
    }

    #[test]
    fn connection_info_and_sampling_ratio() {
        let mut config = Config::default();
        config
            .processors
            .insert("service-graphs-connection-info".into());
        config.service_graphs.span_multiplier_key = "sampling.ratio".into();
        let mut g = Graph::new(&config);
        g.feed(
            0,
            &[
                client("api", 1),
                server("store", 2, 1).attr("sampling.ratio", 0.25),
            ],
        );
        assert_lines(
            &g.dump("traces_service_graph_connection_info"),
            r#"traces_service_graph_connection_info{client="api",server="store"} 1"#,
        );
        // The edge counts as the last half's ratio says: four requests.
        assert_lines(
            &g.dump("traces_service_graph_request_total"),
            r#"traces_service_graph_request_total{client="api",server="store"} 4"#,
        );
    }
}
