//! Ingestion rates per tenant: a token bucket each, as Loki's and Tempo's distributors keep
//! them (`ingestion_rate_mb` and `ingestion_burst_size_mb`; `ingestion_rate_limit_bytes`
//! and `ingestion_burst_size_bytes`). Loki's push and OTLP over HTTP share it.
//!
//! The tenant is whatever the client says (`X-Scope-OrgID`), so the map of buckets must not
//! grow with every name sent: a bucket that has filled up again is the same as no bucket,
//! and such buckets are dropped whenever the map grows past [`PRUNE_AT`]. What stays is
//! only the tenants that sent within the last `burst / rate` seconds (1.5 s with Loki's
//! defaults).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// The number of buckets above which full ones are dropped.
const PRUNE_AT: usize = 4096;

/// A token bucket: tokens at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per tenant: `rate` bytes a second, at most `burst` at once.
#[derive(Debug)]
pub(crate) struct Buckets {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    /// Buckets of `rate` bytes a second holding at most `burst`; a `rate` of 0 or less
    /// allows everything.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Takes `bytes` from the tenant's bucket at `now`, if it holds them. A request larger
    /// than the burst is never allowed, as in Loki.
    pub(crate) fn allow(&self, tenant: &str, bytes: f64, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let (rate, burst) = (self.rate, self.burst);
        let refill = |b: &Bucket| {
            (b.tokens + rate * now.saturating_duration_since(b.at).as_secs_f64()).min(burst)
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(tenant) {
            buckets.retain(|_, b| refill(b) < burst);
        }
        let b = buckets.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = refill(b);
        b.at = now;
        if bytes > b.tokens {
            return false;
        }
        b.tokens -= bytes;
        true
    }

    /// How many tenants have a bucket now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_tenant_gets_its_burst_then_its_rate() {
        let b = Buckets::new(100.0, 300.0);
        let t0 = Instant::now();
        assert!(b.allow("a", 300.0, t0));
        assert!(!b.allow("a", 1.0, t0), "the burst is spent");
        assert!(b.allow("b", 300.0, t0), "another tenant has its own");
        assert!(b.allow("a", 100.0, t0 + Duration::from_secs(1)));
        assert!(
            !b.allow("a", 400.0, t0 + Duration::from_secs(60)),
            "over the burst"
        );
        assert!(Buckets::new(0.0, 0.0).allow("a", 1e12, t0), "0: no limit");
    }

    #[test]
    fn tenants_named_at_random_do_not_grow_the_map() {
        let b = Buckets::new(1000.0, 1000.0);
        let t0 = Instant::now();
        // Each tenant spends a little, then its bucket refills within a second.
        for i in 0..(PRUNE_AT * 3) {
            let now = t0 + Duration::from_secs(i as u64);
            assert!(b.allow(&format!("tenant-{i}"), 10.0, now));
        }
        assert!(b.len() <= PRUNE_AT, "{} buckets", b.len());
    }
}
