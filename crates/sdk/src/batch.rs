//! The batching export thread behind the span [`Pipeline`](crate::trace::Pipeline) and the
//! [`LogPipeline`](crate::log::LogPipeline): a bounded queue that any number of providers
//! feed without blocking, one thread that exports what is queued in batches, one export
//! call per resource, and counts of what it did.
//!
//! Spans and log records differ only in their exporter, so the queue, the batching, the
//! flush and shutdown handshake and the counting are written once here, over an
//! [`Export`] that knows how to send one resource's items.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;

/// How a pipeline batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Items (spans or log records) waiting for export at most; an item that finds the
    /// queue full is dropped and counted (default 2048, OpenTelemetry's
    /// `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BLRP_MAX_QUEUE_SIZE`).
    pub max_queue: usize,
    /// Items exported in one batch at most; a full batch goes at once (default 512,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub max_batch: usize,
    /// How long an item waits for its batch to fill before it is exported anyway (default
    /// 5 s, `OTEL_BSP_SCHEDULE_DELAY`).
    pub delay: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            max_queue: 2048,
            max_batch: 512,
            delay: Duration::from_secs(5),
        }
    }
}

/// What a pipeline has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Items (spans or log records) the exporter accepted.
    pub exported: u64,
    /// Items dropped because the queue was full or the pipeline had shut down.
    pub dropped: u64,
    /// Items in batches the exporter failed to send.
    pub failed: u64,
    /// The exporter's last error, if its last export failed.
    pub last_error: Option<String>,
}

/// Sends one resource's items somewhere: the part of a pipeline that differs by signal.
pub(crate) trait Export: Send + 'static {
    /// What is exported.
    type Item: Send + 'static;
    /// Exports `items`, all of `resource`; an error is the exporter's, in words.
    fn export(&mut self, resource: &Resource, items: Vec<Self::Item>) -> Result<(), String>;
    /// Exports the items of several resources: by default one [`export`](Self::export)
    /// per resource. Returns how many items each call carried and how it went.
    fn export_groups(
        &mut self,
        groups: Vec<(Arc<Resource>, Vec<Self::Item>)>,
    ) -> Vec<(u64, Result<(), String>)> {
        groups
            .into_iter()
            .map(|(resource, items)| (items.len() as u64, self.export(&resource, items)))
            .collect()
    }
    /// Shuts the exporter down.
    fn shutdown(&mut self) -> Result<(), String>;
}

/// The words a pipeline uses for what it exports, in its thread's name and its errors.
#[derive(Debug)]
pub(crate) struct Names {
    /// The export thread's name.
    pub(crate) thread: &'static str,
    /// The signal, as in "the span export thread".
    pub(crate) signal: &'static str,
    /// Its items, plural, as in "3 spans".
    pub(crate) items: &'static str,
}

/// The handle of a running export thread: what providers feed and callers flush.
pub(crate) struct Batcher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// What the handles and the thread share.
struct Shared<T> {
    queue: SyncSender<Message<T>>,
    dropped: AtomicU64,
    counts: Arc<Counts>,
    names: &'static Names,
}

/// What the export thread reports.
#[derive(Default)]
struct Counts {
    exported: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// What goes through the queue.
pub(crate) enum Message<T> {
    /// An item and the resource of the provider that made it.
    Item(Arc<Resource>, T),
    /// Export everything queued before this message, then answer.
    Flush(SyncSender<Result<(), String>>),
    /// Export everything queued, shut the exporter down, answer and stop.
    Shutdown(SyncSender<Result<(), String>>),
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts the export thread over `exporter`.
    pub(crate) fn spawn<E: Export<Item = T>>(
        exporter: E,
        batch: BatchOptions,
        names: &'static Names,
    ) -> Self {
        let (queue, receiver) = std::sync::mpsc::sync_channel(batch.max_queue.max(1));
        let counts = Arc::new(Counts::default());
        let worker = Worker {
            exporter,
            batch,
            counts: counts.clone(),
            names,
            pending: Vec::new(),
            failing: false,
        };
        // Detached: the thread ends when every sender is gone or at shutdown, and holds
        // nothing that must be joined to be released.
        let spawned = std::thread::Builder::new()
            .name(names.thread.into())
            .spawn(move || {
                // What the exporter and its HTTP or gRPC client log while exporting must
                // not come back into a pipeline as telemetry: a failing log export would
                // feed itself.
                let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
                worker.run(receiver);
            });
        if let Err(e) = spawned {
            // Without its thread the queue fills and items are dropped and counted; the
            // error is kept for `stats`.
            *lock(&counts.last_error) = Some(format!("cannot start the export thread: {e}"));
        }
        Self {
            shared: Arc::new(Shared {
                queue,
                dropped: AtomicU64::new(0),
                counts,
                names,
            }),
        }
    }

    /// A handle whose queue of `capacity` nobody drains while the returned receiver lives:
    /// for tests of what happens when the queue is full.
    #[cfg(test)]
    pub(crate) fn stuck(capacity: usize, names: &'static Names) -> (Self, Receiver<Message<T>>) {
        let (queue, receiver) = std::sync::mpsc::sync_channel(capacity);
        let shared = Arc::new(Shared {
            queue,
            dropped: AtomicU64::new(0),
            counts: Arc::default(),
            names,
        });
        (Self { shared }, receiver)
    }

    /// Queues `item` of `resource` for export. Never blocks: when the queue is full, or
    /// the thread has stopped, the item is dropped and counted.
    pub(crate) fn offer(&self, resource: Arc<Resource>, item: T) {
        match self.shared.queue.try_send(Message::Item(resource, item)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Exports every item queued before the call, and waits for it: an error is the
    /// exporter's.
    pub(crate) fn flush(&self) -> Result<(), String> {
        self.ask(Message::Flush)
    }

    /// Exports every item queued, shuts the exporter down and stops the thread; items
    /// offered later are dropped and counted.
    pub(crate) fn shutdown(&self) -> Result<(), String> {
        self.ask(Message::Shutdown)
    }

    fn ask(&self, message: fn(SyncSender<Result<(), String>>) -> Message<T>) -> Result<(), String> {
        let stopped = || format!("the {} export thread has stopped", self.shared.names.signal);
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        // Blocks while the queue is full: the worker is draining it.
        self.shared
            .queue
            .send(message(answer))
            .map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())?
    }

    /// What the pipeline has done so far.
    pub(crate) fn stats(&self) -> PipelineStats {
        let counts = &self.shared.counts;
        PipelineStats {
            exported: counts.exported.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            failed: counts.failed.load(Ordering::Relaxed),
            last_error: lock(&counts.last_error).clone(),
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The export thread's state.
struct Worker<E: Export> {
    exporter: E,
    batch: BatchOptions,
    counts: Arc<Counts>,
    names: &'static Names,
    pending: Vec<(Arc<Resource>, E::Item)>,
    /// Whether the last export failed, so that a run of failures is logged once.
    failing: bool,
}

impl<E: Export> Worker<E> {
    fn run(mut self, queue: Receiver<Message<E::Item>>) {
        let mut deadline = Instant::now() + self.batch.delay;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match queue.recv_timeout(wait) {
                Ok(Message::Item(resource, item)) => {
                    if self.pending.is_empty() {
                        // An item waits at most `delay` from its arrival.
                        deadline = Instant::now() + self.batch.delay;
                    }
                    self.pending.push((resource, item));
                    if self.pending.len() >= self.batch.max_batch {
                        let _ = self.export();
                    }
                }
                Ok(Message::Flush(answer)) => {
                    let _ = answer.send(self.export());
                }
                Ok(Message::Shutdown(answer)) => {
                    let exported = self.export();
                    let shut = self.exporter.shutdown().map_err(|e| {
                        format!(
                            "the {} exporter failed to shut down: {e}",
                            self.names.signal
                        )
                    });
                    // Closed before the answer, so that an item offered after `shutdown`
                    // returns finds the queue closed, and is counted as dropped.
                    drop(queue);
                    let _ = answer.send(exported.and(shut));
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.export();
                    deadline = Instant::now() + self.batch.delay;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.export();
                    let _ = self.exporter.shutdown();
                    return;
                }
            }
        }
    }

    /// Exports what is pending: one export call per resource, items in the order they
    /// came.
    fn export(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut groups: Vec<(Arc<Resource>, Vec<E::Item>)> = Vec::new();
        for (resource, item) in self.pending.drain(..) {
            match groups.iter_mut().find(|(r, _)| Arc::ptr_eq(r, &resource)) {
                Some((_, items)) => items.push(item),
                None => groups.push((resource, vec![item])),
            }
        }
        let mut result = Ok(());
        for (count, exported) in self.exporter.export_groups(groups) {
            match exported {
                Ok(()) => {
                    self.counts.exported.fetch_add(count, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counts.failed.fetch_add(count, Ordering::Relaxed);
                    result = Err(format!(
                        "exporting {count} {} failed: {e}",
                        self.names.items
                    ));
                }
            }
        }
        let signal = self.names.signal;
        match &result {
            Ok(()) => {
                if self.failing {
                    tracing::info!("{signal} export works again");
                }
                self.failing = false;
                *lock(&self.counts.last_error) = None;
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(
                        error = %e,
                        "{signal} export fails; the {} are dropped",
                        self.names.items
                    );
                }
                self.failing = true;
                *lock(&self.counts.last_error) = Some(e.clone());
            }
        }
        result
    }
}
