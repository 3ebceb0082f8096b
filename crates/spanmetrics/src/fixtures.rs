//! Spans written briefly for the tests, and the collected samples written as text to
//! compare with what a test expects.

use std::sync::Arc;

use model::Timestamp;
use spans::{KeyValue, Resource, Span, SpanId, SpanKind, Status, StatusCode, TraceId, Value};

use crate::config::Config;
use crate::registry::{Registry, RegistryOptions, Sample, SampleKind};

/// A span of `service` named `name`: trace 1, span 1, no parent, from 0 for 10 ms.
pub(crate) fn span(service: &str, name: &str, kind: SpanKind) -> Span {
    let mut s = Span::new(TraceId([1; 16]), SpanId([1; 8]), name, 0, 10_000_000);
    s.kind = kind;
    if !service.is_empty() {
        s.resource = Arc::new(Resource::service(service));
    }
    s
}

/// Builder-style edits of a test span.
pub(crate) trait Edit {
    fn ids(self, trace: u8, id: u8, parent: Option<u8>) -> Self;
    fn ms(self, start: u64, duration: u64) -> Self;
    fn status(self, code: StatusCode, message: &str) -> Self;
    fn attr(self, key: &str, value: impl Into<Value>) -> Self;
    fn resource_attr(self, key: &str, value: impl Into<Value>) -> Self;
}

impl Edit for Span {
    fn ids(mut self, trace: u8, id: u8, parent: Option<u8>) -> Self {
        self.trace_id = TraceId([trace; 16]);
        self.span_id = SpanId([id; 8]);
        self.parent_span_id = parent.map(|p| SpanId([p; 8]));
        self
    }

    fn ms(mut self, start: u64, duration: u64) -> Self {
        self.start = start * 1_000_000;
        self.end = (start + duration) * 1_000_000;
        self
    }

    fn status(mut self, code: StatusCode, message: &str) -> Self {
        self.status = Status {
            code,
            message: message.into(),
        };
        self
    }

    fn attr(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    fn resource_attr(mut self, key: &str, value: impl Into<Value>) -> Self {
        Arc::make_mut(&mut self.resource)
            .attributes
            .push(KeyValue::new(key, value));
        self
    }
}

/// A registry as `config` sets it up.
pub(crate) fn registry(config: &Config) -> Registry {
    Registry::new(RegistryOptions {
        external_labels: Vec::new(),
        max_active_series: config.max_active_series,
        stale_ms: 900_000,
        max_label_name_length: 1024,
        max_label_value_length: 2048,
    })
}

/// The current values among `samples` of the series whose name starts with `prefix`, one
/// `labels value` line each, sorted.
pub(crate) fn dump(samples: &[Sample], prefix: &str) -> String {
    let mut lines: Vec<String> = samples
        .iter()
        .filter(|s| s.kind == SampleKind::Value)
        .filter(|s| {
            s.labels
                .metric_name()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .map(|s| format!("{} {}", s.labels, s.v))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Collects `registry` at one time, in ms.
pub(crate) fn collect(registry: &mut Registry, now: Timestamp) -> Vec<Sample> {
    registry.collect(now)
}

/// Compares text line by line, ignoring the indentation of `expect`.
#[track_caller]
pub(crate) fn assert_lines(got: &str, expect: &str) {
    let want: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let got_lines: Vec<&str> = got.lines().collect();
    assert_eq!(got_lines, want, "\ngot:\n{got}\n");
}
