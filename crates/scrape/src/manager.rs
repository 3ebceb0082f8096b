//! The scrape manager: keeps one loop per target of the configuration running.
//!
//! [`ScrapeManager::apply`] takes a new configuration and reconciles: loops of targets
//! that stay (same job, URL, labels and settings) keep running with their caches and
//! staleness state; loops of targets that are gone stop and mark their series stale; new
//! targets start. Jobs with target files or discovery providers also have a task that
//! follows them ([`crate::discovery::follow`]) and reconciles that job alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use model::Labels;
use storage::Appendable;

use crate::config::{Config, GlobalConfig, ScrapeConfig, StaticConfig};
use crate::discovery::Event;
use crate::scrape_loop::{MetricMetadata, ScrapeOptions, ScrapeStatus};
use crate::target::{Target, targets};

/// A target as `/api/v1/targets` shows it.
#[derive(Debug, Clone)]
pub struct TargetState {
    /// The target.
    pub target: Target,
    /// Its last scrape.
    pub status: ScrapeStatus,
}

/// Runs the scrape loops of a configuration.
pub struct ScrapeManager {
    store: Arc<dyn Appendable>,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ScrapeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeManager").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    /// Running loops, by job and then by target identity.
    loops: BTreeMap<String, HashMap<LoopKey, Running>>,
    /// Targets relabelling dropped, by job.
    dropped: BTreeMap<String, Vec<Labels>>,
    /// Discovery tasks, by job.
    discovery: HashMap<String, tokio::task::JoinHandle<()>>,
    /// Target files that could not be read or parsed, counted.
    file_read_errors: u64,
    /// Failed refreshes of discovery providers, counted.
    discovery_errors: u64,
    /// Each job's forced error, which its loops report instead of scraping (its
    /// `target_limit` exceeded); shared with the loops, which stay across reconciles.
    forced: HashMap<String, ForcedError>,
    /// How many times a job's targets exceeded its `target_limit`.
    target_limit_exceeded: u64,
    /// The scrapes each per-scrape limit failed; shared with the loops.
    limit_counts: Arc<crate::scrape_loop::LimitCounts>,
    /// The providers failing now, by job and provider name: why, and since when.
    failing: BTreeMap<(String, String), DiscoveryFailure>,
    /// Metric metadata from every target's HELP, TYPE and UNIT lines.
    metadata: Arc<Mutex<BTreeMap<String, MetricMetadata>>>,
}

/// An error a job's loops report instead of scraping, while it is set.
pub(crate) type ForcedError = Arc<Mutex<Option<String>>>;

/// A discovery provider whose last refresh failed: the job keeps the targets the provider
/// found before, and `/targets` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFailure {
    /// The job.
    pub job: String,
    /// The provider, as the configuration names it (`consul_sd_configs[0]`).
    pub provider: String,
    /// Why the last refresh failed.
    pub error: String,
    /// When the failures began, in ms since the epoch.
    pub since: i64,
    /// How many target groups the job keeps from the provider's last success.
    pub kept_groups: usize,
}

/// What makes a loop the same loop across reloads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LoopKey {
    url: String,
    labels: Labels,
    interval: i64,
    timeout: i64,
    /// The job's other settings, as written: a change restarts its loops.
    settings: String,
}

struct Running {
    target: Target,
    status: Arc<Mutex<ScrapeStatus>>,
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl ScrapeManager {
    /// A manager appending to `store`; nothing runs until [`apply`](Self::apply).
    pub fn new(store: Arc<dyn Appendable>) -> Self {
        Self {
            store,
            inner: Arc::default(),
        }
    }

    /// Reconciles the running loops with `config`. Must be called within a Tokio runtime.
    /// Returns the problems with targets that could not be built (the others run).
    pub fn apply(&self, config: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        let jobs: Vec<String> = config
            .scrape_configs
            .iter()
            .map(|j| j.name().to_owned())
            .collect();
        {
            let mut inner = lock(&self.inner);
            // Jobs that are gone: stop their loops. (Every job has an entry in `loops`, if
            // an empty one.) Discovery restarts below for the jobs that stay.
            let gone: Vec<String> = inner
                .loops
                .keys()
                .filter(|j| !jobs.contains(j))
                .cloned()
                .collect();
            for job in gone {
                if let Some(loops) = inner.loops.remove(&job) {
                    loops.into_values().for_each(Running::stop);
                }
                inner.dropped.remove(&job);
                inner.forced.remove(&job);
            }
            for task in inner.discovery.drain().map(|(_, t)| t) {
                task.abort();
            }
            // Discovery starts anew: a provider's failure is told again if it recurs.
            inner.failing.clear();
        }
        for job in &config.scrape_configs {
            let job = Arc::new(job.clone());
            let global = Arc::new(config.global.clone());
            let (groups, unreadable) = crate::discovery::groups_now(job.name(), &job.discovery);
            problems.extend(unreadable);
            problems.extend(reconcile(&self.inner, &self.store, &job, &global, &groups));
            let (providers, failed) = crate::discovery::providers(&job.discovery);
            for (provider, error) in failed {
                problems.push(format!("job {:?}: {provider}: {error}", job.name()));
                lock(&self.inner).failing.insert(
                    (job.name().to_owned(), provider.clone()),
                    DiscoveryFailure {
                        job: job.name().to_owned(),
                        provider,
                        error,
                        since: crate::scrape_loop::now_ms(),
                        kept_groups: 0,
                    },
                );
            }
            if !job.discovery.file_sd_configs.is_empty() || !providers.is_empty() {
                let task = tokio::spawn(discover(
                    self.inner.clone(),
                    self.store.clone(),
                    job.clone(),
                    global,
                    providers,
                ));
                lock(&self.inner)
                    .discovery
                    .insert(job.name().to_owned(), task);
            }
        }
        problems
    }

    /// Every target and its last scrape, by job.
    pub fn targets(&self) -> Vec<TargetState> {
        let inner = lock(&self.inner);
        inner
            .loops
            .values()
            .flat_map(|loops| loops.values())
            .map(|r| TargetState {
                target: r.target.clone(),
                status: lock(&r.status).clone(),
            })
            .collect()
    }

    /// The discovered label sets relabelling dropped, with their jobs.
    pub fn dropped(&self) -> Vec<(String, Labels)> {
        let inner = lock(&self.inner);
        inner
            .dropped
            .iter()
            .flat_map(|(job, sets)| sets.iter().map(move |l| (job.clone(), l.clone())))
            .collect()
    }

    /// The metadata of every metric family the targets describe, by name.
    pub fn metadata(&self) -> BTreeMap<String, MetricMetadata> {
        let shared = lock(&self.inner).metadata.clone();
        lock(&shared).clone()
    }

    /// How many times a target file could not be read or parsed.
    pub fn file_read_errors(&self) -> u64 {
        lock(&self.inner).file_read_errors
    }

    /// How many times a job's targets exceeded its `target_limit`.
    pub fn target_limit_exceeded(&self) -> u64 {
        lock(&self.inner).target_limit_exceeded
    }

    /// How many scrapes (and reconciles, for `target_limit`) each limit failed.
    pub fn limit_counts(&self) -> crate::ScrapeLimitCounts {
        let inner = lock(&self.inner);
        inner.limit_counts.snapshot(inner.target_limit_exceeded)
    }

    /// The discovery providers failing now.
    pub fn discovery_failures(&self) -> Vec<DiscoveryFailure> {
        lock(&self.inner).failing.values().cloned().collect()
    }

    /// How many times a discovery provider failed to refresh.
    pub fn discovery_errors(&self) -> u64 {
        lock(&self.inner).discovery_errors
    }

    /// Stops every loop, marking their series stale, and waits for them.
    pub async fn stop(&self) {
        let (loops, discovery) = {
            let mut inner = lock(&self.inner);
            let loops: Vec<Running> = std::mem::take(&mut inner.loops)
                .into_values()
                .flat_map(HashMap::into_values)
                .collect();
            (loops, std::mem::take(&mut inner.discovery))
        };
        for task in discovery.into_values() {
            task.abort();
        }
        let handles: Vec<_> = loops
            .into_iter()
            .map(|r| {
                let _ = r.stop.send(true);
                r.handle
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
    }
}

impl Running {
    fn stop(self) {
        let _ = self.stop.send(true);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes `job`'s running loops those of its targets from `groups`.
fn reconcile(
    inner: &Mutex<Inner>,
    store: &Arc<dyn Appendable>,
    job: &ScrapeConfig,
    global: &GlobalConfig,
    groups: &[StaticConfig],
) -> Vec<String> {
    let built = targets(job, global, groups);
    let settings = settings_of(job);
    let client = match job.http.client().and_then(|c| Ok((c, options_of(job)?))) {
        Ok((client, options)) => (client, Arc::new(options)),
        Err(e) => {
            // A file the client needs (a CA, a client certificate) cannot be read: the job
            // does not start, or keeps its loops as they were, as Prometheus fails to make
            // the scrape pool and logs why. The server and its other jobs go on.
            let problem = format!("job {:?}: {e}", job.name());
            tracing::error!("{problem}");
            return vec![problem];
        }
    };
    let (client, options) = client;
    let mut inner = lock(inner);
    let metadata = inner.metadata.clone();
    let limit_counts = inner.limit_counts.clone();
    inner
        .dropped
        .insert(job.name().to_owned(), built.dropped.clone());
    // More targets than `target_limit`: every loop of the job reports the error rather
    // than scraping, as Prometheus's scrape pool forces it on its loops.
    let unique: std::collections::HashSet<(&str, &Labels)> = built
        .active
        .iter()
        .map(|t| (t.url.as_str(), &t.labels))
        .collect();
    let exceeded = match job.target_limit.as_ref().map(|l| l.value) {
        Some(limit) if limit > 0 && unique.len() as u64 > limit => Some(format!(
            "target_limit exceeded (number of targets: {}, limit: {limit})",
            unique.len()
        )),
        _ => None,
    };
    if exceeded.is_some() {
        inner.target_limit_exceeded += 1;
    }
    let forced = inner
        .forced
        .entry(job.name().to_owned())
        .or_default()
        .clone();
    *lock(&forced) = exceeded;
    let mut old = inner.loops.remove(job.name()).unwrap_or_default();
    let mut new = HashMap::new();
    for target in built.active {
        let key = LoopKey {
            url: target.url.clone(),
            labels: target.labels.clone(),
            interval: target.interval,
            timeout: target.timeout,
            settings: settings.clone(),
        };
        if new.contains_key(&key) {
            continue;
        }
        let running = match old.remove(&key) {
            Some(r) => r,
            None => {
                let status = Arc::new(Mutex::new(ScrapeStatus::default()));
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let handle = tokio::spawn(crate::scrape_loop::run(
                    target.clone(),
                    options.clone(),
                    client.clone(),
                    store.clone(),
                    crate::scrape_loop::Shared {
                        status: status.clone(),
                        metadata: metadata.clone(),
                        forced: forced.clone(),
                        limits: limit_counts.clone(),
                    },
                    stopped,
                ));
                Running {
                    target,
                    status,
                    stop,
                    handle,
                }
            }
        };
        new.insert(key, running);
    }
    old.into_values().for_each(Running::stop);
    inner.loops.insert(job.name().to_owned(), new);
    built.errors
}

/// The settings of a job that its loops run with, beyond the target itself.
fn settings_of(job: &ScrapeConfig) -> String {
    format!(
        "{:?}|{:?}|{}|{}|{}|{}|{}|{}|{}|{:?}",
        job.metric_relabel_configs,
        job.body_size_limit,
        job.honor_labels,
        job.honor_timestamps,
        job.sample_limit,
        job.label_limit,
        job.label_name_length_limit,
        job.label_value_length_limit,
        job.scheme.as_str(),
        job.http,
    )
}

fn options_of(job: &ScrapeConfig) -> Result<ScrapeOptions, String> {
    Ok(ScrapeOptions {
        honor_labels: job.honor_labels,
        honor_timestamps: job.honor_timestamps,
        sample_limit: job.sample_limit,
        label_limit: job.label_limit,
        label_name_length_limit: job.label_name_length_limit,
        label_value_length_limit: job.label_value_length_limit,
        body_size_limit: job.body_size_limit.0,
        metric_relabel: job.metric_relabel_configs.clone(),
        auth: job.http.auth()?,
    })
}

/// Follows a job's discovery, reconciling its loops when its targets change and keeping
/// each provider's failure for `/targets`.
async fn discover(
    inner: Arc<Mutex<Inner>>,
    store: Arc<dyn Appendable>,
    job: Arc<ScrapeConfig>,
    global: Arc<GlobalConfig>,
    providers: Vec<Box<dyn crate::discovery::Provider>>,
) {
    let name = job.name().to_owned();
    crate::discovery::follow(&name, &job.discovery, providers, |event| match event {
        Event::Targets(groups) => {
            for problem in reconcile(&inner, &store, &job, &global, &groups) {
                tracing::warn!(job = %name, problem = %problem, "target not scraped");
            }
        }
        Event::Unreadable(n) => lock(&inner).file_read_errors += n as u64,
        Event::Recovered { provider } => {
            lock(&inner).failing.remove(&(name.clone(), provider));
        }
        Event::Failed {
            provider,
            error,
            kept_groups,
        } => {
            let mut inner = lock(&inner);
            inner.discovery_errors += 1;
            let key = (name.clone(), provider.clone());
            let since = inner
                .failing
                .get(&key)
                .map_or_else(crate::scrape_loop::now_ms, |f| f.since);
            inner.failing.insert(
                key,
                DiscoveryFailure {
                    job: name.clone(),
                    provider,
                    error,
                    since,
                    kept_groups,
                },
            );
        }
    })
    .await;
}
