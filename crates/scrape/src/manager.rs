//! The scrape manager: keeps one loop per target of the configuration running.
//!
//! [`ScrapeManager::apply`] takes a new configuration and reconciles: loops of targets
//! that stay (same job, URL, labels and settings) keep running with their caches and
//! staleness state; loops of targets that are gone stop and mark their series stale; new
//! targets start. Jobs with `file_sd_configs` also have a discovery task that re-reads
//! the files when they change (checked every second, and every `refresh_interval` in any
//! case) and reconciles that job alone.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use model::Labels;
use storage::Appendable;

use crate::config::{Config, GlobalConfig, ScrapeConfig, StaticConfig};
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
    /// The providers failing now, by job and provider name: why, and since when.
    failing: BTreeMap<(String, String), DiscoveryFailure>,
    /// Metric metadata from every target's HELP, TYPE and UNIT lines.
    metadata: Arc<Mutex<BTreeMap<String, MetricMetadata>>>,
}

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
            let (groups, unreadable) = job_groups(&job);
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
    let options = Arc::new(options_of(job));
    let client = match job.http.client() {
        Ok(client) => client,
        Err(e) => {
            // A file the client needs (a CA, a client certificate) cannot be read: the job
            // does not start, or keeps its loops as they were, as Prometheus fails to make
            // the scrape pool and logs why. The server and its other jobs go on.
            let problem = format!("job {:?}: {e}", job.name());
            tracing::error!("{problem}");
            return vec![problem];
        }
    };
    let mut inner = lock(inner);
    let metadata = inner.metadata.clone();
    inner
        .dropped
        .insert(job.name().to_owned(), built.dropped.clone());
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
                    status.clone(),
                    metadata.clone(),
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

fn options_of(job: &ScrapeConfig) -> ScrapeOptions {
    ScrapeOptions {
        honor_labels: job.honor_labels,
        honor_timestamps: job.honor_timestamps,
        sample_limit: job.sample_limit,
        label_limit: job.label_limit,
        label_name_length_limit: job.label_name_length_limit,
        label_value_length_limit: job.label_value_length_limit,
        body_size_limit: job.body_size_limit.0,
        metric_relabel: job.metric_relabel_configs.clone(),
        authorization: job.http.authorization_header(),
    }
}

/// A job's target groups now: its static ones and what its files hold, and a problem for
/// each file that cannot be read.
fn job_groups(job: &ScrapeConfig) -> (Vec<StaticConfig>, Vec<String>) {
    let mut groups = job.discovery.static_configs.clone();
    let mut problems = Vec::new();
    for (file, read) in read_file_sd(job) {
        match read {
            Ok(g) => groups.extend(g),
            Err(e) => problems.push(format!("job {:?}: {}: {e}", job.name(), file.display())),
        }
    }
    (groups, problems)
}

/// Every file a job's `file_sd_configs` name (globs expanded), with its groups or why
/// they cannot be read.
fn read_file_sd(job: &ScrapeConfig) -> Vec<(PathBuf, Result<Vec<StaticConfig>, String>)> {
    sd_files(job)
        .map(|path| {
            let read = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|text| parse_groups(&path, &text))
                .map(|mut groups| {
                    // As Prometheus's file discovery labels each group with its file.
                    for g in &mut groups {
                        g.labels
                            .insert("__meta_filepath".into(), path.display().to_string());
                    }
                    groups
                });
            (path, read)
        })
        .collect()
}

/// The files a job's `file_sd_configs` name now, globs expanded.
fn sd_files(job: &ScrapeConfig) -> impl Iterator<Item = PathBuf> + '_ {
    job.discovery
        .file_sd_configs
        .iter()
        .flat_map(|sd| sd.files.iter())
        .flat_map(|pattern| expand(pattern))
}

/// The files matching `pattern`, whose last path element may hold `*`.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new(pattern);
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return vec![path.to_path_buf()];
    };
    if !name.contains('*') {
        return vec![path.to_path_buf()];
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parts: Vec<&str> = name.split('*').collect();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| glob_match(&parts, n))
        })
        .collect();
    found.sort();
    found
}

/// Whether `name` matches the `*`-separated `parts` of a pattern.
fn glob_match(parts: &[&str], name: &str) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    if !name.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Parses a file of target groups: JSON, or YAML for `.yml` and `.yaml` files.
fn parse_groups(path: &Path, text: &str) -> Result<Vec<StaticConfig>, String> {
    let yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let groups: Vec<StaticConfig> = if yaml {
        yaml::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(text)
            .map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))?
    };
    for g in &groups {
        for name in g.labels.keys() {
            crate::config::check_label_name(name)?;
        }
    }
    Ok(groups)
}

/// Re-reads a job's files when they change, and at its refresh interval regardless, and
/// asks each provider again at its own interval; reconciles the job's loops when anything
/// was read. A file or provider that fails keeps the targets it gave last.
async fn discover(
    inner: Arc<Mutex<Inner>>,
    store: Arc<dyn Appendable>,
    job: Arc<ScrapeConfig>,
    global: Arc<GlobalConfig>,
    providers: Vec<Box<dyn crate::discovery::Provider>>,
) {
    let refresh = job
        .discovery
        .file_sd_configs
        .iter()
        .map(|sd| sd.refresh_interval.std())
        .min()
        .unwrap_or(Duration::from_secs(300));
    let stamp = |job: &ScrapeConfig| -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        sd_files(job)
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map_or(0, |m| m.len());
                (p, modified, len)
            })
            .collect()
    };
    // Nothing seen yet: the first check re-reads the files, in case they changed between
    // `apply` reading them and this task starting, and asks every provider.
    let mut last = Vec::new();
    let mut last_read = tokio::time::Instant::now();
    let mut file_groups = None;
    let mut discovered: Vec<Vec<StaticConfig>> = vec![Vec::new(); providers.len()];
    let mut due: Vec<tokio::time::Instant> = vec![tokio::time::Instant::now(); providers.len()];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        if !first {
            tick.tick().await;
        }
        first = false;
        let mut changed = false;
        let now = stamp(&job);
        if file_groups.is_none() || now != last || last_read.elapsed() >= refresh {
            last = now;
            last_read = tokio::time::Instant::now();
            let (groups, unreadable) = job_groups(&job);
            // A file caught half-written, or broken, keeps the targets it gave last time.
            if unreadable.is_empty() {
                changed |= file_groups.as_ref() != Some(&groups);
                file_groups = Some(groups);
            } else {
                for problem in &unreadable {
                    tracing::warn!(%problem, "cannot read targets; keeping the previous ones");
                }
                lock(&inner).file_read_errors += unreadable.len() as u64;
            }
        }
        for (n, provider) in providers.iter().enumerate() {
            if tokio::time::Instant::now() < due[n] {
                continue;
            }
            due[n] = tokio::time::Instant::now() + provider.refresh_interval();
            match provider.refresh().await {
                Ok(groups) => {
                    changed |= discovered[n] != groups;
                    discovered[n] = groups;
                    let key = (job.name().to_owned(), provider.name().to_owned());
                    lock(&inner).failing.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(job = job.name(), provider = provider.name(), error = %e, "discovery failed; keeping the previous targets");
                    let mut inner = lock(&inner);
                    inner.discovery_errors += 1;
                    let key = (job.name().to_owned(), provider.name().to_owned());
                    let since = inner
                        .failing
                        .get(&key)
                        .map_or_else(crate::scrape_loop::now_ms, |f| f.since);
                    inner.failing.insert(
                        key,
                        DiscoveryFailure {
                            job: job.name().to_owned(),
                            provider: provider.name().to_owned(),
                            error: e,
                            since,
                            kept_groups: discovered[n].len(),
                        },
                    );
                }
            }
        }
        if !changed {
            continue;
        }
        let mut groups = file_groups
            .clone()
            .unwrap_or_else(|| job.discovery.static_configs.clone());
        groups.extend(discovered.iter().flatten().cloned());
        for problem in reconcile(&inner, &store, &job, &global, &groups) {
            tracing::warn!(job = job.name(), problem = %problem, "target not scraped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_in_the_last_element() {
        let parts = |p: &'static str| p.split('*').collect::<Vec<_>>();
        assert!(glob_match(&parts("*.json"), "nodes.json"));
        assert!(glob_match(&parts("nodes-*.yml"), "nodes-a.yml"));
        assert!(!glob_match(&parts("nodes-*.yml"), "nodes.yml"));
        assert!(glob_match(&parts("a*b*c"), "a-b-c"));
        assert!(!glob_match(&parts("a*b*c"), "a-c"));
    }

    #[test]
    fn target_files_parse_as_json_or_yaml() {
        let json = r#"[{"targets": ["a:1"], "labels": {"zone": "x"}}]"#;
        let groups = parse_groups(Path::new("t.json"), json).unwrap();
        assert_eq!(groups[0].targets, ["a:1"]);
        let yaml = "- targets: ['b:2']\n";
        assert_eq!(
            parse_groups(Path::new("t.yml"), yaml).unwrap()[0].targets,
            ["b:2"]
        );
        let bad = parse_groups(Path::new("t.json"), "[{\"targets\": [1]}]").unwrap_err();
        assert!(bad.starts_with("line 1, column"), "{bad}");
        let label = parse_groups(
            Path::new("t.json"),
            r#"[{"targets": ["a:1"], "labels": {"1x": "y"}}]"#,
        )
        .unwrap_err();
        assert!(label.contains("not a valid label name"), "{label}");
    }
}
