//! The reference store: every trace in a map, in memory. Simple enough to be obviously
//! right; the conformance suite runs against it first.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::{PoisonError, RwLock};

use crate::{
    AttributeScope, Hint, Span, SpanError, SpanKind, SpanStore, TagNames, TraceId, Window,
    attribute, normalize, validate,
};

/// Spans in memory, lost at exit.
#[derive(Debug, Default)]
pub struct MemSpans {
    traces: RwLock<HashMap<TraceId, Vec<Span>>>,
}

impl MemSpans {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SpanStore for MemSpans {
    fn append(&self, spans: &[Span]) -> Result<(), SpanError> {
        validate(spans)?;
        let mut traces = self.traces.write().unwrap_or_else(PoisonError::into_inner);
        let mut touched = BTreeSet::new();
        for s in spans {
            traces.entry(s.trace_id).or_default().push(s.clone());
            touched.insert(s.trace_id);
        }
        for id in touched {
            if let Some(t) = traces.get_mut(&id) {
                normalize(t);
            }
        }
        Ok(())
    }

    fn trace(&self, id: &TraceId, window: Window) -> Result<Vec<Span>, SpanError> {
        let traces = self.traces.read().unwrap_or_else(PoisonError::into_inner);
        Ok(traces
            .get(id)
            .filter(|t| t.iter().any(|s| window.overlaps(s.start, s.end)))
            .cloned()
            .unwrap_or_default())
    }

    fn scan(
        &self,
        window: Window,
        hint: &Hint,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<(), SpanError> {
        let traces = self.traces.read().unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<(u64, &Vec<Span>)> = traces
            .values()
            .filter(|t| t.iter().any(|s| window.overlaps(s.start, s.end)))
            .filter(|t| hint.matches(t))
            .map(|t| (t.iter().map(|s| s.end.max(s.start)).max().unwrap_or(0), t))
            .collect();
        found.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1[0].trace_id.cmp(&b.1[0].trace_id))
        });
        for (_, t) in found {
            if visit(t).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn tag_names(&self, window: Window) -> Result<TagNames, SpanError> {
        let traces = self.traces.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = TagNames::default();
        for s in traces.values().flatten() {
            if window.overlaps(s.start, s.end) {
                out.resource
                    .extend(s.resource.attributes.iter().map(|a| a.key.clone()));
                out.span.extend(s.attributes.iter().map(|a| a.key.clone()));
            }
        }
        Ok(out)
    }

    fn tag_values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        limit: usize,
    ) -> Result<BTreeSet<String>, SpanError> {
        let traces = self.traces.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = BTreeSet::new();
        for s in traces.values().flatten() {
            if !window.overlaps(s.start, s.end) {
                continue;
            }
            if let Some(v) = attribute(s.attributes_in(scope), key) {
                out.insert(v.to_text());
            }
        }
        Ok(out.into_iter().take(limit).collect())
    }

    fn operations(
        &self,
        window: Window,
        service: &str,
    ) -> Result<BTreeSet<(String, SpanKind)>, SpanError> {
        let traces = self.traces.read().unwrap_or_else(PoisonError::into_inner);
        Ok(traces
            .values()
            .flatten()
            .filter(|s| window.overlaps(s.start, s.end) && s.service_name() == service)
            .map(|s| (s.name.clone(), s.kind))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    crate::conformance_tests!(super::MemSpans::new());
}
