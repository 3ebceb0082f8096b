//! The limits the API enforces across its families, and the count of every refusal.
//!
//! - Queries: at most `query_max_concurrency` PromQL queries run at once (Prometheus's
//!   `--query.max-concurrency`, 20). The others wait in a queue, as in Prometheus's
//!   `ActiveQueryTracker`, and their wait counts against their timeout: a query still
//!   queued when it runs out fails with Prometheus's `query timed out in query queue`.
//!   Waiting costs a parked task and its request, no thread; the queue is bounded by the
//!   timeout.
//! - Range queries: at most `query_max_points_per_series` steps (Prometheus's 11,000).
//! - OTLP: `otlp_ingestion_rate_bytes` a second per tenant (`X-Scope-OrgID`, or
//!   the client's address without one), with bursts of `otlp_ingestion_burst_bytes`, as
//!   Tempo's `ingestion_rate_limit_bytes` and `ingestion_burst_size_bytes`; the HTTP
//!   routes and (through the receiver's gate) gRPC share the buckets.
//!
//! - Remote write: `remote_write_ingestion_rate_bytes` a second per sender (the same
//!   tenants), with bursts of `remote_write_ingestion_burst_bytes`; none by default, as
//!   Prometheus's receiver has none. A refusal is HTTP 429, which senders retry.
//!
//! [`Limiter::exceeded`] counts each refusal by the name of the flag that sets the limit;
//! the server shows them as `skywatch_limit_exceeded_total{limit}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::rate::Buckets;

/// The limits' settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The most PromQL queries evaluated at once; the others wait.
    pub query_max_concurrency: usize,
    /// The most points a range query may give each series.
    pub query_max_points_per_series: i64,
    /// The bytes a second an OTLP tenant may send over HTTP; 0 for no limit.
    pub otlp_ingestion_rate_bytes: f64,
    /// The most bytes an OTLP tenant may send at once.
    pub otlp_ingestion_burst_bytes: f64,
    /// The bytes a second a remote write sender may send; 0 for no limit.
    pub remote_write_ingestion_rate_bytes: f64,
    /// The most bytes a remote write sender may send at once.
    pub remote_write_ingestion_burst_bytes: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            query_max_concurrency: 20,
            query_max_points_per_series: 11_000,
            otlp_ingestion_rate_bytes: 15.0 * MIB,
            otlp_ingestion_burst_bytes: 20.0 * MIB,
            remote_write_ingestion_rate_bytes: 0.0,
            remote_write_ingestion_burst_bytes: 64.0 * MIB,
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The limits in force, the query queue, and what was refused.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    queries: tokio::sync::Semaphore,
    /// Queries running or waiting.
    active: AtomicUsize,
    otlp: Buckets,
    remote_write: Buckets,
    exceeded: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// A query's place among those running; the place is given back when it drops.
#[derive(Debug)]
pub(crate) struct QueryPermit<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    _active: Active<'a>,
}

/// One query counted as active until it drops.
#[derive(Debug)]
struct Active<'a>(&'a AtomicUsize);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limiter {
    /// A limiter with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            queries: tokio::sync::Semaphore::new(limits.query_max_concurrency.max(1)),
            active: AtomicUsize::new(0),
            otlp: Buckets::new(
                limits.otlp_ingestion_rate_bytes,
                limits.otlp_ingestion_burst_bytes,
            ),
            remote_write: Buckets::new(
                limits.remote_write_ingestion_rate_bytes,
                limits.remote_write_ingestion_burst_bytes,
            ),
            exceeded: Mutex::default(),
            limits,
        }
    }

    /// The settings.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Queries running or waiting now (Prometheus's `prometheus_engine_queries`).
    pub fn active_queries(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// How many times each limit refused something, by the flag that sets it.
    pub fn exceeded(&self) -> BTreeMap<&'static str, u64> {
        self.exceeded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counts one refusal by `limit`.
    pub fn count(&self, limit: &'static str) {
        *self
            .exceeded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(limit)
            .or_default() += 1;
    }

    /// Waits for a place to run a query, at most `timeout` (none: as long as it takes).
    /// `None` when the wait ran out; the refusal is counted under `query-timeout`.
    pub(crate) async fn admit(&self, timeout: Option<Duration>) -> Option<QueryPermit<'_>> {
        self.active.fetch_add(1, Ordering::Relaxed);
        let active = Active(&self.active);
        let permit = match self.queries.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                // Every place is taken: the query waits its turn (the semaphore is fair).
                self.count("query-max-concurrency");
                let wait = self.queries.acquire();
                let acquired = match timeout {
                    Some(t) => tokio::time::timeout(t, wait).await.ok(),
                    None => Some(wait.await),
                };
                match acquired {
                    Some(Ok(p)) => p,
                    _ => {
                        self.count("query-timeout");
                        return None;
                    }
                }
            }
        };
        Some(QueryPermit {
            _permit: permit,
            _active: active,
        })
    }

    /// Takes `bytes` from the OTLP tenant's budget; when it does not hold them, the
    /// refusal (HTTP 429, gRPC `RESOURCE_EXHAUSTED`) naming the tenant and the flags,
    /// counted under `otlp-ingestion-rate-mb`. The binary hands it to the receiver as its
    /// gRPC gate ([`otlp::ReceiverOptions::admit`]); the HTTP routes call it themselves.
    pub fn admit_otlp(&self, tenant: &str, bytes: usize) -> Result<(), otlp::ExportError> {
        if self.otlp.allow(tenant, bytes as f64, Instant::now()) {
            return Ok(());
        }
        self.count("otlp-ingestion-rate-mb");
        let l = &self.limits;
        Err(otlp::ExportError::RateLimited {
            message: format!(
                "ingestion rate limit exceeded for tenant {tenant:?} (limit: {} bytes/s, burst {} bytes) \
                 while sending {bytes} bytes; retry later, send less, or raise the limit \
                 (--otlp-ingestion-rate-mb, --otlp-ingestion-burst-size-mb)",
                l.otlp_ingestion_rate_bytes as u64, l.otlp_ingestion_burst_bytes as u64,
            ),
        })
    }
}

impl Limiter {
    /// Takes `bytes` from the remote write sender's budget; when it does not hold them,
    /// the refusal (HTTP 429, which senders retry after backing off) naming the tenant and
    /// the flags, counted under `remote-write-ingestion-rate-mb`.
    pub fn admit_remote_write(&self, tenant: &str, bytes: usize) -> Result<(), String> {
        if self
            .remote_write
            .allow(tenant, bytes as f64, Instant::now())
        {
            return Ok(());
        }
        self.count("remote-write-ingestion-rate-mb");
        let l = &self.limits;
        Err(format!(
            "ingestion rate limit exceeded for sender {tenant:?} (limit: {} bytes/s, burst {} bytes) \
             while sending {bytes} bytes; retry later, send less, or raise the limit \
             (--remote-write-ingestion-rate-mb, --remote-write-ingestion-burst-size-mb)",
            l.remote_write_ingestion_rate_bytes as u64, l.remote_write_ingestion_burst_bytes as u64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_query_over_the_concurrency_waits_and_times_out_in_the_queue() {
        let limiter = Limiter::new(Limits {
            query_max_concurrency: 1,
            ..Limits::default()
        });
        let first = limiter.admit(None).await.expect("a free place");
        assert_eq!(limiter.active_queries(), 1);
        assert!(
            limiter
                .admit(Some(Duration::from_millis(20)))
                .await
                .is_none()
        );
        assert_eq!(limiter.active_queries(), 1, "the timed-out one left");
        drop(first);
        assert_eq!(limiter.active_queries(), 0);
        let again = limiter.admit(Some(Duration::from_millis(20))).await;
        assert!(again.is_some(), "a freed place is taken at once");
        assert_eq!(
            limiter.exceeded(),
            BTreeMap::from([("query-max-concurrency", 1), ("query-timeout", 1)])
        );
    }

    #[tokio::test]
    async fn a_waiting_query_runs_when_a_place_frees() {
        let limiter = std::sync::Arc::new(Limiter::new(Limits {
            query_max_concurrency: 1,
            ..Limits::default()
        }));
        let first = limiter.admit(None).await.unwrap();
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(
                async move { limiter.admit(Some(Duration::from_secs(60))).await.is_some() },
            )
        };
        // The waiter is queued once it has counted itself active.
        let deadline = Instant::now() + Duration::from_secs(10);
        while limiter.active_queries() < 2 {
            assert!(Instant::now() < deadline, "the waiter never queued");
            tokio::task::yield_now().await;
        }
        drop(first);
        assert!(waiter.await.unwrap());
    }
}
