//! What the nodes log: OpenTelemetry log records through the SDK's [`LogPipeline`], each
//! under the resource of the node's service that writes it, as a node running the SDK
//! would export them.
//!
//! Every step of a request writes one line in its span's context (so the line carries
//! the span's trace and span ids): info when it went well, error where a failure was
//! raised (naming the failing `component` and the `error`), warn on the steps that waited
//! for a failure below them. Besides, each node's own process (`zerostate-node`) writes
//! periodic lines: `block imported` (with `height` and `peers`) as blocks reach it, and
//! `resource warning` lines while a health check's threshold is crossed (WASM memory at
//! 80% of the limit, a sync lag over 5 blocks, fewer peers than the node wants), at warn
//! past the degraded threshold and at error past the unhealthy one, once when the
//! threshold is crossed and again every [`REPEAT`] seconds while it stays crossed: the
//! lines the System health dashboard's resource-warnings panel lists.
//!
//! The records are emitted straight to each service's logger (the OpenTelemetry Logs API,
//! which the SDK's `tracing` bridge calls too) rather than through `tracing` events: the
//! simulator speaks for every node from one process, with one resource per node and
//! service, and its lines must not reach the demo's own log.

use std::time::SystemTime;

use skywatch_sdk::log::{LogPipeline, Severity};
use skywatch_sdk::opentelemetry::logs::LoggerProvider as _;
use skywatch_sdk::opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _};
use skywatch_sdk::opentelemetry::trace::SpanContext;
use skywatch_sdk::opentelemetry_sdk::logs::SdkLogger;

use crate::flow::Service;

/// The `service.name` of a node's own process, which writes the node-wide lines.
pub const NODE_SERVICE: &str = "zerostate-node";

/// How often a resource warning is repeated while its threshold stays crossed, in seconds.
pub(crate) const REPEAT: f64 = 30.0;

/// The loggers of every node: one per service, and the node's own.
pub(crate) struct Loggers {
    /// Per node, one logger per service in [`Service::ALL`]'s order, then the node's own.
    nodes: Vec<Vec<SdkLogger>>,
}

impl Loggers {
    /// Loggers for `nodes` nodes, all feeding `pipeline`.
    pub(crate) fn new(pipeline: &LogPipeline, nodes: usize) -> Self {
        let nodes = (0..nodes)
            .map(|node| {
                Service::ALL
                    .iter()
                    .map(|s| s.name())
                    .chain([NODE_SERVICE])
                    .map(|service| {
                        pipeline
                            .provider(crate::flow::resource(node, service))
                            .logger("netsim")
                    })
                    .collect()
            })
            .collect();
        Self { nodes }
    }

    /// The logger of `service` on `node`.
    pub(crate) fn service(&self, node: usize, service: Service) -> Option<&SdkLogger> {
        let index = Service::ALL.iter().position(|s| *s == service)?;
        self.nodes.get(node)?.get(index)
    }

    /// The logger of `node`'s own process.
    pub(crate) fn node(&self, node: usize) -> Option<&SdkLogger> {
        self.nodes.get(node)?.last()
    }
}

/// One line to write.
pub(crate) struct Line<'a> {
    pub(crate) severity: Severity,
    pub(crate) body: &'a str,
    /// The node that writes it: its `node` attribute.
    pub(crate) node: usize,
    /// The part of the node it is about: `execution`, `p2p`, `payments`, `consensus`...
    pub(crate) component: &'static str,
    /// When it happened.
    pub(crate) time: SystemTime,
    /// The span it was written in, if any.
    pub(crate) span: Option<&'a SpanContext>,
    /// More attributes.
    pub(crate) attributes: Vec<(&'static str, AnyValue)>,
}

/// Writes `line` with `logger`.
pub(crate) fn write(logger: &SdkLogger, line: Line<'_>) {
    let mut record = logger.create_log_record();
    record.set_timestamp(line.time);
    record.set_severity_number(line.severity);
    record.set_severity_text(line.severity.name());
    record.set_body(AnyValue::from(line.body.to_owned()));
    record.add_attribute("node", crate::node::name(line.node));
    record.add_attribute("component", line.component);
    record.add_attributes(line.attributes);
    // A line outside a span takes the context current on the thread, which the simulation
    // never attaches: it has none.
    if let Some(sc) = line.span.filter(|sc| sc.is_valid()) {
        record.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
    }
    logger.emit(record);
}

/// A resource whose health check threshold a node watches, for its warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    WasmMemory,
    SyncLag,
    Peers,
}

impl Resource {
    pub(crate) const ALL: [Resource; 3] =
        [Resource::WasmMemory, Resource::SyncLag, Resource::Peers];

    /// The component it belongs to.
    pub(crate) fn component(self) -> &'static str {
        match self {
            Resource::WasmMemory => "execution",
            Resource::SyncLag => "consensus",
            Resource::Peers => "p2p",
        }
    }

    /// Its `resource` attribute.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Resource::WasmMemory => "wasm_memory",
            Resource::SyncLag => "sync_lag",
            Resource::Peers => "peers",
        }
    }
}

/// What a node remembers of its last warning about one resource.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Warned {
    /// The severity of the last warning, while the threshold stays crossed.
    severity: Option<Severity>,
    /// Seconds since it was written.
    since: f64,
}

impl Warned {
    /// Moves on by `dt` seconds in state `now` (`None`: within the threshold) and returns
    /// whether a warning is due: when the threshold is first crossed, when the severity
    /// changes, and every [`REPEAT`] seconds while it stays crossed.
    pub(crate) fn due(&mut self, now: Option<Severity>, dt: f64) -> bool {
        self.since += dt;
        let due = match (self.severity, now) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(before), Some(now)) => before != now || self.since >= REPEAT,
        };
        self.severity = now;
        if due {
            self.since = 0.0;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_due_on_crossing_on_change_and_every_repeat() {
        let mut w = Warned::default();
        assert!(!w.due(None, 1.0));
        assert!(w.due(Some(Severity::Warn), 1.0), "crossing");
        assert!(!w.due(Some(Severity::Warn), 1.0));
        assert!(w.due(Some(Severity::Error), 1.0), "worse");
        assert!(!w.due(Some(Severity::Error), REPEAT - 1.0));
        assert!(w.due(Some(Severity::Error), 1.0), "repeated");
        assert!(!w.due(None, 1.0));
        assert!(w.due(Some(Severity::Error), 1.0), "crossed again");
    }
}
