//! The requests that cross the network, and the traces they leave: the seeds' flow from an
//! HTTP request through a P2P send, a DHT lookup, guild formation and the task's WASM
//! execution to payment settlement.
//!
//! A request is first planned, then emitted. Planning walks the flow on a virtual clock
//! (seconds from the request's start), drawing every duration and outcome from the
//! network's traffic generator and the chaos in force, and yields the request's steps in
//! the order they begin, each with its node, service, span kind, times, attributes and
//! any error. Emitting makes one OpenTelemetry span per step with the tracer of that
//! node's service, timed so that the request ends now; a step that crosses nodes gets its
//! parent through the W3C `traceparent` the sender writes into the message's metadata
//! (through the SDK's `Carrier`) and the receiver reads back, as nodes do over libp2p.
//! Planning first lets spans carry simulated durations (a slow executor's 30 s) without
//! the simulation waiting for them. Once the network logs, each step also writes a line in
//! its span (see [`crate::logs`]): info when it went well, error where the failure was
//! raised, warn where it was waited for, with the step's `component` and the `error`.
//!
//! | node | service | span | kind |
//! |---|---|---|---|
//! | A (entry) | `zerostate-api` | `POST /v1/tasks` | server |
//! | A | `zerostate-p2p` | `p2p.send task.submit` | client |
//! | B (coordinator) | `zerostate-p2p` | `p2p.handle task.submit` | server |
//! | B | `zerostate-dht` | `dht.find_providers` | client |
//! | D (a peer of B) | `zerostate-dht` | `dht.find_providers` | server |
//! | B | `zerostate-guild` | `guild.form` | internal |
//! | B | `zerostate-p2p` | `p2p.send task.assign` | producer |
//! | C (executor) | `zerostate-p2p` | `p2p.receive task.assign` | consumer |
//! | C | `zerostate-execution` | `task.execute` | internal |
//! | C | `zerostate-execution` | `wasm.execute` | internal |
//! | C | `zerostate-economic` | `payment.settle` | internal |
//! | C | `zerostate-economic` | `chain.confirm` | internal |
//!
//! Each row is a child of the one before, but for `guild.form` (a child of the handler,
//! after the lookup), `payment.settle` (of `task.execute`, after the WASM run) and the DHT
//! server (of its client). A failure records an `exception` event and an error status on
//! the span where it happened, and an error status on every span that waited for it, up to
//! the HTTP server span (status 502, 503 or 504); the flow stops there. Chaos shows in the
//! spans of its layer: P2P chaos fails sends and DHT queries (a query is retried once on
//! another peer), execution chaos fails `wasm.execute`, latency chaos makes it ten times
//! slower and often time out at 30 s, payment chaos fails `payment.settle`, consensus chaos
//! holds `chain.confirm` on a stalled node for 10 s and fails it, and API chaos delays the
//! HTTP span by 300 ms and answers every other request 503. Killed and partitioned-off
//! peers cannot be dialled.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use skywatch_sdk::log::Severity;
use skywatch_sdk::opentelemetry::logs::AnyValue;
use skywatch_sdk::opentelemetry::trace::{
    SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use skywatch_sdk::opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use skywatch_sdk::opentelemetry_sdk::Resource;
use skywatch_sdk::opentelemetry_sdk::logs::SdkLogger;
use skywatch_sdk::opentelemetry_sdk::trace::SdkTracer;
use skywatch_sdk::trace::Pipeline;

use crate::logs::{Line, Loggers};
use crate::metrics::WASM_MEMORY_LIMIT;
use crate::node::{ExecutorMode, NodeInfo};
use crate::rng::Rng;

/// The services of a node, each with a tracer and resource of its own: the libraries of
/// the seeds' node software (`libs/p2p`, `libs/guild`, `libs/execution`, `libs/economic`),
/// its HTTP API, and its DHT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The HTTP API that takes tasks.
    Api,
    /// P2P messaging between nodes.
    P2p,
    /// The Kademlia DHT.
    Dht,
    /// Guild formation.
    Guild,
    /// Task and WASM execution.
    Execution,
    /// Payment channels and settlement.
    Economic,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 6] = [
        Service::Api,
        Service::P2p,
        Service::Dht,
        Service::Guild,
        Service::Execution,
        Service::Economic,
    ];

    /// Its `service.name`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Api => "zerostate-api",
            Service::P2p => "zerostate-p2p",
            Service::Dht => "zerostate-dht",
            Service::Guild => "zerostate-guild",
            Service::Execution => "zerostate-execution",
            Service::Economic => "zerostate-economic",
        }
    }
}

/// The span names of a request that succeeds, in the order they begin.
pub const FLOW: [&str; 12] = [
    "POST /v1/tasks",
    "p2p.send task.submit",
    "p2p.handle task.submit",
    "dht.find_providers",
    "dht.find_providers",
    "guild.form",
    "p2p.send task.assign",
    "p2p.receive task.assign",
    "task.execute",
    "wasm.execute",
    "payment.settle",
    "chain.confirm",
];

/// Requests a second per node, at least one a second for the network: a sampled trace
/// every two seconds or so from the demo's 20 nodes at its default 10% sampling.
const REQUESTS_PER_NODE: f64 = 0.25;

/// How many requests the network takes in `dt` seconds.
pub(crate) fn requests(rng: &mut Rng, nodes: usize, dt: f64) -> u64 {
    rng.count(dt * (nodes as f64 * REQUESTS_PER_NODE).max(1.0))
}

/// How long an HTTP request waits while the API is degraded (as the nodes' own servers).
const API_DELAY: f64 = 0.3;
/// How long a dial to an unreachable peer takes to fail.
const DIAL_TIMEOUT: f64 = 1.0;
/// The deadline of a task: the executor kills it then.
const TASK_DEADLINE: f64 = 30.0;
/// How long a settlement waits for its block before giving up.
const CONFIRM_TIMEOUT: f64 = 10.0;
/// The share of P2P messages that fail without chaos: about one in 7,000, as the metrics.
const BASE_MESSAGE_FAILURE: f64 = 1.0 / 7000.0;
/// The members of a guild, coordinator included, where the network has them.
const GUILD_SIZE: usize = 3;

/// A node's libp2p peer id, derived from its index (the `12D3KooW` prefix of an Ed25519
/// key's identity multihash, then base58).
pub(crate) fn peer_id(node: usize) -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut rng = Rng::new(0x7065_6572 ^ node as u64);
    let mut id = String::from("12D3KooW");
    for _ in 0..44 {
        id.push(char::from(BASE58[rng.below(58) as usize]));
    }
    id
}

/// The tracers of every node's services, all feeding one pipeline.
pub(crate) struct Tracers {
    /// Per node, one tracer per service in [`Service::ALL`]'s order.
    nodes: Vec<Vec<SdkTracer>>,
}

impl Tracers {
    /// Tracers for `nodes` nodes, sampling `sample_ratio` of new traces.
    pub(crate) fn new(pipeline: &Pipeline, nodes: usize, sample_ratio: f64) -> Self {
        let nodes = (0..nodes)
            .map(|node| {
                Service::ALL
                    .iter()
                    .map(|service| {
                        pipeline
                            .provider(resource(node, service.name()), sample_ratio)
                            .tracer("netsim")
                    })
                    .collect()
            })
            .collect();
        Self { nodes }
    }

    fn get(&self, node: usize, service: Service) -> Option<&SdkTracer> {
        let index = Service::ALL.iter().position(|s| *s == service)?;
        self.nodes.get(node)?.get(index)
    }
}

/// The resource of the service named `service` on `node`: one instance per node of every
/// service. Its spans and its log records share it.
pub(crate) fn resource(node: usize, service: &'static str) -> Resource {
    let name = crate::node::name(node);
    Resource::builder_empty()
        .with_service_name(service)
        .with_attributes([
            KeyValue::new("service.namespace", "zerostate"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", name.clone()),
            KeyValue::new("host.name", name),
            KeyValue::new("deployment.environment.name", "demo"),
            KeyValue::new("zerostate.peer.id", peer_id(node)),
        ])
        .build()
}

/// What the flow sees of a node.
pub(crate) struct Peer {
    pub(crate) info: NodeInfo,
    /// Whether a partition cuts it off from the rest.
    pub(crate) cut_off: bool,
}

/// The network-wide chaos a request meets.
pub(crate) struct Conditions {
    pub(crate) payment_failure_rate: f64,
    pub(crate) message_failure_rate: f64,
    pub(crate) api_degraded: bool,
}

/// One span of a planned request.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) node: usize,
    pub(crate) service: Service,
    pub(crate) kind: SpanKind,
    pub(crate) name: &'static str,
    /// The step this one is a child of.
    pub(crate) parent: Option<usize>,
    /// The type of the P2P message that carried the parent's context here, when the
    /// parent is on another node.
    pub(crate) message: Option<&'static str>,
    /// Seconds from the request's start.
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) attributes: Vec<KeyValue>,
    /// The exception raised here: its type and message.
    pub(crate) exception: Option<(&'static str, String)>,
    /// The error status: this step's own exception, or one it waited for.
    pub(crate) error: Option<String>,
}

/// Why a request failed, as its HTTP answer says.
#[derive(Debug, Clone)]
struct Failure {
    status: u16,
    message: String,
}

/// Plans one request entering at `entry`; returns its steps, the HTTP server span first.
pub(crate) fn plan(
    rng: &mut Rng,
    peers: &[Peer],
    conditions: &Conditions,
    entry: usize,
) -> Vec<Step> {
    let task = format!("task-{:06x}", rng.below(1 << 24));
    let mut plan = Plan {
        rng,
        peers,
        conditions,
        steps: Vec::new(),
        shared: vec![KeyValue::new("task.id", task)],
        requester: entry,
    };
    plan.request(entry);
    plan.steps
}

/// A request/response exchange over P2P: a client span on the sender, a server span on the
/// receiver.
struct Rpc {
    service: Service,
    client: &'static str,
    server: &'static str,
    message: &'static str,
    method: &'static str,
    protocol: &'static str,
    /// More attributes of both spans.
    attributes: &'static [(&'static str, &'static str)],
}

const SUBMIT: Rpc = Rpc {
    service: Service::P2p,
    client: "p2p.send task.submit",
    server: "p2p.handle task.submit",
    message: "task_submit",
    method: "Submit",
    protocol: "/zerostate/task/1.0.0",
    attributes: &[],
};

const FIND_PROVIDERS: Rpc = Rpc {
    service: Service::Dht,
    client: "dht.find_providers",
    server: "dht.find_providers",
    message: "dht_find_providers",
    method: "FIND_PROVIDERS",
    protocol: "/ipfs/kad/1.0.0",
    attributes: &[
        ("dht.operation", "find_providers"),
        ("dht.key", "/zerostate/runtime/wasm32-wasi"),
    ],
};

/// A one-way P2P message: a producer span on the sender, a consumer span on the receiver.
struct Topic {
    producer: &'static str,
    consumer: &'static str,
    message: &'static str,
    destination: &'static str,
}

const ASSIGN: Topic = Topic {
    producer: "p2p.send task.assign",
    consumer: "p2p.receive task.assign",
    message: "task_assign",
    destination: "/zerostate/guild/assign/1.0.0",
};

/// A request being planned.
struct Plan<'a> {
    rng: &'a mut Rng,
    peers: &'a [Peer],
    conditions: &'a Conditions,
    steps: Vec<Step>,
    /// Attributes every step of the request carries (the task, then the guild).
    shared: Vec<KeyValue>,
    /// The node the request entered at: the payer.
    requester: usize,
}

impl Plan<'_> {
    fn open(
        &mut self,
        node: usize,
        service: Service,
        kind: SpanKind,
        name: &'static str,
        parent: Option<usize>,
        t: f64,
    ) -> usize {
        self.steps.push(Step {
            node,
            service,
            kind,
            name,
            parent,
            message: None,
            start: t,
            end: t,
            attributes: self.shared.clone(),
            exception: None,
            error: None,
        });
        self.steps.len() - 1
    }

    /// Opens an internal span: work within one service.
    fn internal(
        &mut self,
        node: usize,
        service: Service,
        name: &'static str,
        parent: usize,
        t: f64,
    ) -> usize {
        self.open(node, service, SpanKind::Internal, name, Some(parent), t)
    }

    fn close(&mut self, step: usize, t: f64) {
        self.steps[step].end = t;
    }

    fn attr(&mut self, step: usize, key: &'static str, value: impl Into<Value>) {
        self.steps[step]
            .attributes
            .push(KeyValue::new(key, value.into()));
    }

    /// Raises an exception in `step`: the failure starts here.
    fn raise(&mut self, step: usize, kind: &'static str, message: String, status: u16) -> Failure {
        self.steps[step].exception = Some((kind, message.clone()));
        self.steps[step].error = Some(message.clone());
        Failure { status, message }
    }

    /// Marks `step` failed by a failure that happened below it.
    fn fail(&mut self, step: usize, failure: &Failure) {
        let slot = &mut self.steps[step].error;
        if slot.is_none() {
            *slot = Some(failure.message.clone());
        }
    }

    /// Marks `step` failed if `result` is a failure, and passes it on.
    fn outcome(&mut self, step: usize, result: Result<(), Failure>) -> Result<(), Failure> {
        if let Err(f) = &result {
            self.fail(step, f);
        }
        result
    }

    /// One network hop's latency, in seconds.
    fn latency(&mut self) -> f64 {
        0.0005 + self.rng.exponential(0.004)
    }

    fn name(&self, node: usize) -> String {
        crate::node::name(node)
    }

    /// Whether `to` can be reached from `from`: alive, and on the same side of any
    /// partition.
    fn reachable(&self, from: usize, to: usize) -> bool {
        self.peers[to].info.alive && self.peers[from].cut_off == self.peers[to].cut_off
    }

    /// A node other than those in `not`, or `None` when there is none.
    fn other(&mut self, not: &[usize]) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.peers.len()).filter(|n| !not.contains(n)).collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.below(candidates.len() as u64) as usize])
    }

    /// Whether a message sent now fails on the way (a stream reset).
    fn message_fails(&mut self) -> bool {
        let rate = BASE_MESSAGE_FAILURE + self.conditions.message_failure_rate;
        self.rng.chance(rate)
    }

    /// The HTTP request at node `a`.
    fn request(&mut self, a: usize) {
        let mut t = 0.0;
        let root = self.open(a, Service::Api, SpanKind::Server, "POST /v1/tasks", None, t);
        for (key, value) in [
            ("http.request.method", "POST"),
            ("http.route", "/v1/tasks"),
            ("url.path", "/v1/tasks"),
            ("url.scheme", "http"),
            ("user_agent.original", "zerostate-cli/0.6"),
        ] {
            self.attr(root, key, value);
        }
        let server = self.name(a);
        self.attr(root, "server.address", server);
        self.attr(root, "server.port", 8080_i64);
        t += 0.0005 + self.rng.exponential(0.001);
        let result = if self.conditions.api_degraded {
            t += API_DELAY;
            if self.rng.chance(0.5) {
                Err(self.raise(
                    root,
                    "ServiceUnavailable",
                    "the node's API is degraded: 503 Service Unavailable".into(),
                    503,
                ))
            } else {
                self.submit(root, a, &mut t)
            }
        } else {
            self.submit(root, a, &mut t)
        };
        t += 0.0003;
        let status = match &result {
            Ok(()) => 200,
            Err(f) => {
                self.fail(root, f);
                self.attr(root, "error.type", f.status.to_string());
                f.status
            }
        };
        self.attr(root, "http.response.status_code", i64::from(status));
        self.close(root, t);
    }

    /// The task sent from the entry node to a coordinator, which finds providers, forms
    /// a guild and has the task run.
    fn submit(&mut self, parent: usize, a: usize, t: &mut f64) -> Result<(), Failure> {
        match self.other(&[a]) {
            Some(b) => self.call(parent, a, b, &SUBMIT, t, |plan, handler, t| {
                plan.find_providers(handler, b, t)?;
                plan.form_guild(handler, b, t)
            }),
            // A network of one node runs everything itself.
            None => {
                self.find_providers(parent, a, t)?;
                self.form_guild(parent, a, t)
            }
        }
    }

    /// A request from `from` to `to` and its answer: the client span and, if the request
    /// gets through, the server span that runs `handle`.
    fn call(
        &mut self,
        parent: usize,
        from: usize,
        to: usize,
        rpc: &Rpc,
        t: &mut f64,
        handle: impl FnOnce(&mut Self, usize, &mut f64) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let client = self.open(
            from,
            rpc.service,
            SpanKind::Client,
            rpc.client,
            Some(parent),
            *t,
        );
        self.message_attributes(client, to, rpc.message, rpc.service);
        self.rpc_attributes(client, rpc);
        if let Err(f) = self.deliver(client, to, rpc.message, t) {
            self.close(client, *t);
            return Err(f);
        }
        let server = self.open(
            to,
            rpc.service,
            SpanKind::Server,
            rpc.server,
            Some(client),
            *t,
        );
        self.steps[server].message = Some(rpc.message);
        self.attr(server, "p2p.message.type", rpc.message);
        self.attr(server, "peer.id", peer_id(from));
        self.rpc_attributes(server, rpc);
        let handled = handle(self, server, t);
        let handled = self.outcome(server, handled);
        *t += 0.0002;
        self.close(server, *t);
        *t += self.latency();
        let handled = self.outcome(client, handled);
        self.close(client, *t);
        handled
    }

    /// A one-way message from `from` to `to`: the producer span ends once it is sent; the
    /// consumer span on `to` runs `handle`; the sender waits for the outcome to come back.
    fn send(
        &mut self,
        parent: usize,
        from: usize,
        to: usize,
        topic: &Topic,
        t: &mut f64,
        handle: impl FnOnce(&mut Self, usize, &mut f64) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let producer = self.open(
            from,
            Service::P2p,
            SpanKind::Producer,
            topic.producer,
            Some(parent),
            *t,
        );
        self.message_attributes(producer, to, topic.message, Service::P2p);
        self.attr(producer, "messaging.system", "libp2p");
        self.attr(producer, "messaging.operation.type", "send");
        self.attr(producer, "messaging.destination.name", topic.destination);
        let id = format!("{:016x}", self.rng.next_u64());
        self.attr(producer, "messaging.message.id", id.clone());
        let delivered = self.deliver(producer, to, topic.message, t);
        // The producer's work ends with the write to the stream.
        let sent = self.steps[producer].start + 0.0003 + self.rng.exponential(0.0005);
        self.close(producer, if delivered.is_ok() { sent } else { *t });
        delivered?;
        let consumer = self.open(
            to,
            Service::P2p,
            SpanKind::Consumer,
            topic.consumer,
            Some(producer),
            *t,
        );
        self.steps[consumer].message = Some(topic.message);
        self.attr(consumer, "messaging.system", "libp2p");
        self.attr(consumer, "messaging.operation.type", "process");
        self.attr(consumer, "messaging.destination.name", topic.destination);
        self.attr(consumer, "messaging.message.id", id);
        self.attr(consumer, "p2p.message.type", topic.message);
        self.attr(consumer, "peer.id", peer_id(from));
        let handled = handle(self, consumer, t);
        let handled = self.outcome(consumer, handled);
        *t += 0.0002;
        self.close(consumer, *t);
        // The outcome travels back to the sender.
        *t += self.latency();
        handled
    }

    fn rpc_attributes(&mut self, step: usize, rpc: &Rpc) {
        self.attr(step, "rpc.system", "libp2p");
        self.attr(step, "rpc.service", rpc.protocol);
        self.attr(step, "rpc.method", rpc.method);
        for (key, value) in rpc.attributes {
            self.attr(step, key, *value);
        }
    }

    /// The attributes of a span sending `message` to `to`.
    fn message_attributes(
        &mut self,
        step: usize,
        to: usize,
        message: &'static str,
        service: Service,
    ) {
        self.attr(step, "p2p.message.type", message);
        self.attr(step, "peer.id", peer_id(to));
        let node = self.name(to);
        self.attr(step, "peer.node", node);
        self.attr(step, "peer.service", service.name());
    }

    /// Gets `message` from `step`'s node to `to`, moving the clock on by the time it takes
    /// to arrive or to fail.
    fn deliver(
        &mut self,
        step: usize,
        to: usize,
        message: &'static str,
        t: &mut f64,
    ) -> Result<(), Failure> {
        let from = self.steps[step].node;
        if !self.reachable(from, to) {
            *t += DIAL_TIMEOUT;
            let peer = self.name(to);
            return Err(self.raise(
                step,
                "DialFailure",
                format!("cannot dial {peer} to send {message}: no route to the peer"),
                502,
            ));
        }
        if self.message_fails() {
            *t += 0.01 + self.rng.exponential(0.05);
            let peer = self.name(to);
            return Err(self.raise(
                step,
                "StreamReset",
                format!("the stream to {peer} was reset while sending {message}"),
                502,
            ));
        }
        *t += self.latency();
        Ok(())
    }

    /// The DHT lookup of providers for the task's runtime, asking a peer of `b` (another
    /// one if the first does not answer).
    fn find_providers(&mut self, parent: usize, b: usize, t: &mut f64) -> Result<(), Failure> {
        let mut asked = vec![b];
        for _attempt in 0..2 {
            let Some(d) = self.other(&asked) else {
                // No peer to ask: the node's own routing table answers.
                let local = self.internal(b, Service::Dht, "dht.find_providers", parent, *t);
                self.attr(local, "dht.operation", "find_providers");
                *t += 0.0005;
                self.close(local, *t);
                return Ok(());
            };
            asked.push(d);
            let result = self.call(parent, b, d, &FIND_PROVIDERS, t, |plan, server, t| {
                *t += 0.001 + plan.rng.exponential(0.01);
                let found = 1 + plan.rng.below(plan.peers.len().min(8) as u64) as i64;
                plan.attr(server, "dht.providers.found", found);
                Ok(())
            });
            if result.is_ok() {
                return Ok(());
            }
        }
        Err(Failure {
            status: 502,
            message: "no DHT peer answered FIND_PROVIDERS".into(),
        })
    }

    /// The guild that runs the task: `b` and up to two more nodes; the first other member
    /// executes.
    fn form_guild(&mut self, parent: usize, b: usize, t: &mut f64) -> Result<(), Failure> {
        let guild = format!("guild-{:04x}", self.rng.below(1 << 16));
        self.shared.push(KeyValue::new("guild.id", guild));
        let mut members = vec![b];
        while members.len() < GUILD_SIZE.min(self.peers.len()) {
            match self.other(&members) {
                Some(m) => members.push(m),
                None => break,
            }
        }
        let step = self.internal(b, Service::Guild, "guild.form", parent, *t);
        self.attr(step, "guild.size", members.len() as i64);
        let names: Vec<StringValue> = members
            .iter()
            .map(|m| StringValue::from(self.name(*m)))
            .collect();
        self.attr(step, "guild.members", Value::Array(Array::String(names)));
        *t += 0.005 + self.rng.exponential(0.02);
        let executor = members.get(1).copied().unwrap_or(b);
        let result = if executor == b {
            self.execute(step, b, t)
        } else {
            self.send(step, b, executor, &ASSIGN, t, |plan, consumer, t| {
                plan.execute(consumer, executor, t)
            })
        };
        let result = self.outcome(step, result);
        self.close(step, *t);
        result
    }

    /// The task on executor `c`: its WASM run, then the payment for it.
    fn execute(&mut self, parent: usize, c: usize, t: &mut f64) -> Result<(), Failure> {
        let task = self.internal(c, Service::Execution, "task.execute", parent, *t);
        let executor = self.name(c);
        self.attr(task, "node.id", executor);
        *t += 0.001 + self.rng.exponential(0.003);
        let wasm = self.internal(c, Service::Execution, "wasm.execute", task, *t);
        self.attr(wasm, "wasm.module", "sha256:4f1c9e2a/resize.wasm");
        self.attr(wasm, "wasm.memory.limit.bytes", WASM_MEMORY_LIMIT);
        let mode = self.peers[c].info.executor;
        let (mean, failure, timeout) = mode.profile();
        let draw = self.rng.next_f64();
        let duration = self.rng.exponential(mean);
        let memory = match mode {
            ExecutorMode::Slow => 0.7 + self.rng.next_f64() * 0.28,
            _ => 0.15 + self.rng.next_f64() * 0.4,
        };
        self.attr(
            wasm,
            "wasm.memory.bytes",
            (memory * WASM_MEMORY_LIMIT as f64) as i64,
        );
        let (code, result) = if draw < failure {
            *t += duration.min(TASK_DEADLINE);
            let f = self.raise(
                wasm,
                "WasmTrap",
                "wasm trap: unreachable instruction executed in resize.wasm".into(),
                502,
            );
            (1_i64, Err(f))
        } else if draw < failure + timeout {
            *t += TASK_DEADLINE;
            let f = self.raise(
                wasm,
                "DeadlineExceeded",
                format!("the task ran past its {TASK_DEADLINE} s deadline and was killed"),
                504,
            );
            (137, Err(f))
        } else {
            *t += duration;
            (0, Ok(()))
        };
        self.attr(wasm, "wasm.exit_code", code);
        self.close(wasm, *t);
        let result = result.and_then(|()| self.settle(task, c, t));
        let result = self.outcome(task, result);
        *t += 0.0005;
        self.close(task, *t);
        result
    }

    /// The payment from the requester to executor `c` over their channel, confirmed on
    /// chain.
    fn settle(&mut self, parent: usize, c: usize, t: &mut f64) -> Result<(), Failure> {
        let pay = self.internal(c, Service::Economic, "payment.settle", parent, *t);
        let amount = ((0.01 + self.rng.exponential(2.0)) * 10_000.0).round() / 10_000.0;
        let channel = format!("ch-{:08x}", self.rng.below(1 << 32));
        self.attr(pay, "payment.amount", amount);
        self.attr(pay, "payment.currency", "ZST");
        self.attr(pay, "payment.channel.id", channel.clone());
        self.attr(pay, "payment.payer", peer_id(self.requester));
        self.attr(pay, "payment.payee", peer_id(c));
        *t += 0.002 + self.rng.exponential(0.008);
        if self.rng.chance(self.conditions.payment_failure_rate) {
            let f = self.raise(
                pay,
                "SettlementRejected",
                format!(
                    "payment channel {channel} rejected the settlement of {amount} ZST: insufficient balance"
                ),
                502,
            );
            self.close(pay, *t);
            return Err(f);
        }
        let confirm = self.internal(c, Service::Economic, "chain.confirm", pay, *t);
        let height = self.peers[c].info.height;
        self.attr(
            confirm,
            "chain.height",
            i64::try_from(height + 1).unwrap_or(i64::MAX),
        );
        let tx = format!("0x{:016x}", self.rng.next_u64());
        self.attr(confirm, "chain.tx.hash", tx);
        let result = if self.peers[c].info.stalled {
            *t += CONFIRM_TIMEOUT;
            Err(self.raise(
                confirm,
                "ConfirmationTimeout",
                format!(
                    "the settlement was not confirmed within {CONFIRM_TIMEOUT} s: the chain is stalled at height {height}"
                ),
                504,
            ))
        } else {
            // Until the next block, about 2 s apart.
            *t += 0.2 + self.rng.next_f64() * 2.0;
            Ok(())
        };
        self.close(confirm, *t);
        *t += 0.0005;
        let result = self.outcome(pay, result);
        self.close(pay, *t);
        result
    }
}

/// Makes the spans of a planned request, timed so that it ends at `now`, and writes its
/// log lines, one per step in the step's span. Without tracers, the lines have no trace
/// context; without loggers, none is written.
pub(crate) fn emit(
    steps: &[Step],
    tracers: Option<&Tracers>,
    loggers: Option<&Loggers>,
    now: SystemTime,
) {
    let Some(root) = steps.first() else { return };
    let start = now
        .checked_sub(Duration::from_secs_f64(root.end.max(0.0)))
        .unwrap_or(now);
    let at = |offset: f64| start + Duration::from_secs_f64(offset.max(0.0));
    let mut contexts: Vec<Context> = Vec::with_capacity(steps.len());
    for step in steps {
        let parent = match step.parent.and_then(|p| contexts.get(p)) {
            None => Context::new(),
            Some(parent) => match step.message {
                // The parent is on another node: the sender writes its context into the
                // message's metadata, as a libp2p node writes it into a stream's, and the
                // receiver reads it back.
                Some(_) => {
                    let mut metadata = BTreeMap::<String, String>::new();
                    skywatch_sdk::trace::inject_context(parent, &mut metadata);
                    skywatch_sdk::trace::extract(&metadata)
                }
                None => parent.clone(),
            },
        };
        let cx = match tracers.and_then(|t| t.get(step.node, step.service)) {
            Some(tracer) => {
                let span = tracer
                    .span_builder(step.name)
                    .with_kind(step.kind.clone())
                    .with_start_time(at(step.start))
                    .with_attributes(step.attributes.clone())
                    .start_with_context(tracer, &parent);
                let cx = parent.with_span(span);
                let span = cx.span();
                if let Some((kind, message)) = &step.exception {
                    span.add_event_with_timestamp(
                        "exception",
                        at(step.end),
                        vec![
                            KeyValue::new("exception.type", *kind),
                            KeyValue::new("exception.message", message.clone()),
                        ],
                    );
                }
                if let Some(message) = &step.error {
                    span.set_status(Status::error(message.clone()));
                }
                cx
            }
            None => parent,
        };
        if let Some(logger) = loggers.and_then(|l| l.service(step.node, step.service)) {
            log_step(logger, step, &cx, at(step.end));
        }
        contexts.push(cx);
    }
    // A child comes after its parent: in reverse, every span ends before its parent.
    if tracers.is_some() {
        for (step, cx) in steps.iter().zip(&contexts).rev() {
            cx.span().end_with_timestamp(at(step.end));
        }
    }
}

/// Writes the line of `step`, in its span `cx`, at `time`: info when it went well, error
/// where the failure was raised, warn where it was waited for.
fn log_step(logger: &SdkLogger, step: &Step, cx: &Context, time: SystemTime) {
    let (done, failed) = messages(step);
    let mut attributes = Vec::with_capacity(3);
    if let Some(task) = step
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "task.id")
    {
        attributes.push(("task_id", AnyValue::from(task.value.to_string())));
    }
    let (severity, body) = match (&step.exception, &step.error) {
        (Some((kind, message)), _) => {
            attributes.push(("error", AnyValue::from(message.clone())));
            attributes.push(("error_type", AnyValue::from(*kind)));
            (Severity::Error, failed)
        }
        (None, Some(message)) => {
            attributes.push(("error", AnyValue::from(message.clone())));
            (Severity::Warn, failed)
        }
        (None, None) => (Severity::Info, done),
    };
    let span = cx.span();
    crate::logs::write(
        logger,
        Line {
            severity,
            body,
            node: step.node,
            component: component(step),
            time,
            span: Some(span.span_context()),
            attributes,
        },
    );
}

/// What a step's line says when it went well, and when it failed.
fn messages(step: &Step) -> (&'static str, &'static str) {
    match (step.name, &step.kind) {
        ("POST /v1/tasks", _) => ("task submitted", "task request failed"),
        ("p2p.send task.submit", _) => (
            "task sent to the coordinator",
            "task submission to the coordinator failed",
        ),
        ("p2p.handle task.submit", _) => {
            ("task accepted for coordination", "task coordination failed")
        }
        ("dht.find_providers", SpanKind::Server) => {
            ("provider lookup answered", "provider lookup failed")
        }
        ("dht.find_providers", _) => ("providers found", "provider lookup failed"),
        ("guild.form", _) => ("guild formed", "guild could not run the task"),
        ("p2p.send task.assign", _) => ("task assigned to the executor", "task assignment failed"),
        ("p2p.receive task.assign", _) => ("task assignment received", "assigned task failed"),
        ("task.execute", _) => ("task executed", "task failed"),
        ("wasm.execute", _) => ("wasm module ran", "wasm execution failed"),
        ("payment.settle", _) => ("payment settled", "payment failed"),
        ("chain.confirm", _) => ("settlement confirmed", "settlement not confirmed"),
        (other, _) => (other, other),
    }
}

/// The component a step belongs to, as chaos names layers: confirmation waits on the
/// chain, so it is consensus's; settlement is the payments'.
fn component(step: &Step) -> &'static str {
    if step.name == "chain.confirm" {
        return "consensus";
    }
    match step.service {
        Service::Api => "api",
        Service::P2p => "p2p",
        Service::Dht => "dht",
        Service::Guild => "guild",
        Service::Execution => "execution",
        Service::Economic => "payments",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<Peer> {
        (0..n)
            .map(|id| Peer {
                info: NodeInfo {
                    id,
                    addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    alive: true,
                    stalled: false,
                    executor: ExecutorMode::Normal,
                    height: 10,
                },
                cut_off: false,
            })
            .collect()
    }

    const CALM: Conditions = Conditions {
        payment_failure_rate: 0.0,
        message_failure_rate: 0.0,
        api_degraded: false,
    };

    #[test]
    fn a_request_that_succeeds_walks_the_whole_flow_in_order() {
        let mut rng = Rng::new(3);
        let steps = plan(&mut rng, &peers(5), &CALM, 0);
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        assert_eq!(names, FLOW);
        assert!(steps.iter().all(|s| s.error.is_none()), "{steps:?}");
        // Children begin and end within their parents; the root spans the request.
        for s in &steps[1..] {
            let p = &steps[s.parent.unwrap()];
            assert!(p.start <= s.start && s.start <= s.end, "{s:?} in {p:?}");
            if p.kind != SpanKind::Producer {
                assert!(s.end <= p.end, "{s:?} ends after {p:?}");
            }
        }
        assert_eq!(steps[0].start, 0.0);
        // A step that crosses nodes names its message; one on the same node does not.
        for s in &steps[1..] {
            let p = &steps[s.parent.unwrap()];
            assert_eq!(s.message.is_some(), s.node != p.node, "{s:?}");
        }
    }

    #[test]
    fn a_network_of_one_node_runs_the_flow_without_messages() {
        let mut rng = Rng::new(3);
        let steps = plan(&mut rng, &peers(1), &CALM, 0);
        assert!(steps.iter().all(|s| s.node == 0 && s.message.is_none()));
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "POST /v1/tasks",
                "dht.find_providers",
                "guild.form",
                "task.execute",
                "wasm.execute",
                "payment.settle",
                "chain.confirm"
            ]
        );
    }

    #[test]
    fn an_unreachable_coordinator_fails_the_send_and_the_request() {
        let mut rng = Rng::new(3);
        let mut p = peers(2);
        p[1].info.alive = false;
        let steps = plan(&mut rng, &p, &CALM, 0);
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        assert_eq!(names, ["POST /v1/tasks", "p2p.send task.submit"]);
        assert_eq!(steps[1].exception.as_ref().unwrap().0, "DialFailure");
        assert!(steps[1].end - steps[1].start >= DIAL_TIMEOUT - 1e-9);
        assert!(steps[0].error.is_some() && steps[0].exception.is_none());
        assert!(
            steps[0]
                .attributes
                .contains(&KeyValue::new("http.response.status_code", 502_i64))
        );
    }

    #[test]
    fn peer_ids_look_like_libp2p_ones_and_differ_by_node() {
        let a = peer_id(0);
        assert_eq!(a.len(), 52);
        assert!(a.starts_with("12D3KooW"));
        assert_eq!(a, peer_id(0));
        assert_ne!(a, peer_id(1));
    }
}
