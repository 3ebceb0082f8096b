//! `skywatch demo --history`: hours of the simulated network's past, written as blocks
//! before the server starts, so that dashboards have a day's shape to show at once.
//!
//! The network is moved on a second at a time, as its ticker does, and every scrape
//! interval each live node's health checks are run and its exposition is read in process
//! and stored under the labels a scrape would give it (`job`, `instance`, `node`), with
//! `up` beside it. Samples are kept for one block range at a time, then written as a
//! block, so memory holds at most two hours of them.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::{Labels, LabelsBuilder, METRIC_NAME, Sample};
use textparse::{Entry, Format, Parser};

/// What [`backfill`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Backfilled {
    /// Blocks written.
    pub(crate) blocks: usize,
    /// Samples in them.
    pub(crate) samples: u64,
}

/// The samples of one block range, by series.
#[derive(Default)]
struct Window {
    series: Vec<(Labels, Vec<Sample>)>,
    /// Per node, the series text of its exposition to the series' index.
    by_text: HashMap<usize, HashMap<String, usize>>,
    /// Per node, its `up` series' index.
    up: HashMap<usize, usize>,
}

impl Window {
    fn push_exposition(
        &mut self,
        node: &netsim::NodeInfo,
        text: &str,
        t: i64,
    ) -> Result<(), String> {
        let known = self.by_text.entry(node.id).or_default();
        for entry in Parser::new(text, Format::OpenMetrics) {
            let entry = entry.map_err(|e| format!("node-{:02}'s exposition: {e}", node.id))?;
            let Entry::Sample(s) = entry else { continue };
            let index = match known.get(s.series) {
                Some(&i) => i,
                None => {
                    let mut b = target_labels(node);
                    for (k, v) in &s.labels {
                        b.set(k, v);
                    }
                    b.set(METRIC_NAME, s.name);
                    self.series.push((b.build(), Vec::new()));
                    known.insert(s.series.to_owned(), self.series.len() - 1);
                    self.series.len() - 1
                }
            };
            self.series[index].1.push(Sample::new(t, s.value));
        }
        Ok(())
    }

    fn push_up(&mut self, node: &netsim::NodeInfo, t: i64) {
        let series = &mut self.series;
        let index = *self.up.entry(node.id).or_insert_with(|| {
            let mut b = target_labels(node);
            b.set(METRIC_NAME, "up");
            series.push((b.build(), Vec::new()));
            series.len() - 1
        });
        let value = if node.alive { 1.0 } else { 0.0 };
        self.series[index].1.push(Sample::new(t, value));
    }
}

/// The labels the demo's scrape configuration gives a node's series.
fn target_labels(node: &netsim::NodeInfo) -> LabelsBuilder {
    let mut b = LabelsBuilder::new();
    b.set("job", "nodes");
    b.set("instance", &node.addr.to_string());
    b.set("node", &format!("node-{:02}", node.id));
    b
}

/// Simulates `history` of `network` ending now and writes what scraping every
/// `interval` would have stored into blocks in `data`; `progress` hears of each block.
/// It runs on the caller's task: the server it precedes has not started yet.
pub(crate) async fn backfill(
    network: &netsim::Network,
    data: &Path,
    history: Duration,
    interval: Duration,
    mut progress: impl FnMut(&tsdb::block::BlockMeta),
) -> Result<Backfilled, String> {
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let now = millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let step = millis(interval).max(1);
    let range = tsdb::db::DEFAULT_BLOCK_RANGE;
    let mut done = Backfilled::default();
    let mut window = Window::default();
    let mut window_end = i64::MIN;
    let mut flush = |window: &mut Window| -> Result<(), String> {
        let series = std::mem::take(window).series;
        let summary = tsdb::import::write_blocks(data, series, range, &mut progress)
            .map_err(|e| format!("writing the history into {}: {e}", data.display()))?;
        done.blocks += summary.blocks.len();
        done.samples += summary.blocks.iter().map(|b| b.stats.samples).sum::<u64>();
        Ok(())
    };
    let mut t = now.saturating_sub(millis(history));
    while t < now {
        if t >= window_end {
            flush(&mut window)?;
            window_end = (t.div_euclid(range) + 1) * range;
        }
        network.check_health().await;
        // Scraped through each node's own HTTP stack, so that the history's scrapes are
        // counted in `node_http_*` as the live ones are.
        let live: HashMap<usize, String> = network
            .scrape_in_process()
            .await
            .into_iter()
            .map(|(node, text)| (node.id, text))
            .collect();
        for node in network.nodes() {
            window.push_up(&node, t);
            if let Some(text) = live.get(&node.id) {
                window.push_exposition(&node, text, t)?;
            }
        }
        // The network moves a second at a time, as its ticker moves it.
        let mut left = interval.as_secs_f64();
        while left > 0.0 {
            let dt = left.min(1.0);
            network.advance(dt);
            left -= dt;
        }
        t += step;
    }
    flush(&mut window)?;
    Ok(done)
}

/// Evaluates the SLOs' budget rules over the history just written in `data` (from
/// `start` to `end`, at each group's interval, `default_interval` where it sets none)
/// and writes what they record as blocks beside it, so that budgets have a past when
/// the server starts: the shortest window's error ratio (which the period's ratio
/// averages), the period's ratio, and every meta recording. The longer windows are
/// left to the live server: each would read all the history at every step. Returns the
/// samples written.
pub(crate) fn record_slos(
    data: &Path,
    slos: &[slo::Slo],
    start: i64,
    end: i64,
    default_interval: i64,
) -> Result<u64, String> {
    let failed = |e: storage::StorageError| format!("recording the SLOs' history: {e}");
    let db = tsdb::Tsdb::open(data, tsdb::db::Options::default()).map_err(failed)?;
    let store = Recording {
        base: &db,
        recorded: storage::MemStorage::new(),
    };
    let engine = promql::engine::Engine::new(promql::engine::EngineOptions::default());
    let ctx = rules::eval::Context {
        external_labels: Default::default(),
        external_url: String::new(),
        query_log: Default::default(),
    };
    let mut groups = Vec::new();
    for s in slos {
        let windows = s.recorded_windows();
        let kept = [
            slo::generate::sli_metric(windows[0]),
            slo::generate::sli_metric(s.period),
        ];
        let text = slo::generate::rule_file(&slo::generate::groups(s), &s.file);
        let file = rules::RuleFile::parse(&text, &s.file).map_err(|e| e.to_string())?;
        for mut g in file.groups.into_iter().take(2) {
            g.rules.retain(|r| {
                matches!(r.kind, rules::Kind::Record(_))
                    && (!r.name().starts_with("slo:sli_error:")
                        || kept.iter().any(|k| k == r.name()))
            });
            groups.push(rules::eval::GroupState::new(
                &file.file,
                &g,
                default_interval,
            ));
        }
    }
    for g in &mut groups {
        // Evaluations on the group's own grid, as the server's would fall.
        let mut t = (start.div_euclid(g.interval) + 1) * g.interval;
        while t < end {
            g.eval(t, &store, &engine, &ctx);
            t += g.interval;
        }
    }
    let Recording { recorded, .. } = store;
    // Closed before the blocks are written beside its own, and before the server opens it.
    drop(db);
    let querier = storage::Queryable::querier(&recorded, start, end).map_err(failed)?;
    let series = querier
        .select(&storage::SelectHints::default(), &[])
        .map_err(failed)?
        .map(|s| {
            let mut s = s.map_err(failed)?;
            Ok((s.labels, s.samples.collect_vec().map_err(failed)?))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let summary = tsdb::import::write_blocks(data, series, tsdb::db::DEFAULT_BLOCK_RANGE, |_| {})
        .map_err(failed)?;
    Ok(summary.blocks.iter().map(|b| b.stats.samples).sum())
}

/// The history's blocks beneath what the rules have recorded so far: they read both and
/// write to the recordings.
struct Recording<'a> {
    base: &'a tsdb::Tsdb,
    recorded: storage::MemStorage,
}

impl storage::Queryable for Recording<'_> {
    fn querier(
        &self,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn storage::Querier + '_>, storage::StorageError> {
        Ok(Box::new(Both(
            self.base.querier(mint, maxt)?,
            self.recorded.querier(mint, maxt)?,
        )))
    }
}

impl storage::Appendable for Recording<'_> {
    fn appender(&self) -> Box<dyn storage::Appender + '_> {
        self.recorded.appender()
    }
}

/// Two queriers over disjoint series, read as one.
struct Both<'a>(
    Box<dyn storage::Querier + 'a>,
    Box<dyn storage::Querier + 'a>,
);

impl storage::Querier for Both<'_> {
    fn select(
        &self,
        hints: &storage::SelectHints,
        matchers: &[model::Matcher],
    ) -> Result<storage::SeriesSet<'_>, storage::StorageError> {
        let mut all = self
            .0
            .select(hints, matchers)?
            .chain(self.1.select(hints, matchers)?)
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Box::new(all.into_iter().map(Ok)))
    }

    fn label_names(
        &self,
        matchers: &[model::Matcher],
    ) -> Result<Vec<String>, storage::StorageError> {
        let mut names = self.0.label_names(matchers)?;
        names.extend(self.1.label_names(matchers)?);
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[model::Matcher],
    ) -> Result<Vec<String>, storage::StorageError> {
        let mut values = self.0.label_values(name, matchers)?;
        values.extend(self.1.label_values(name, matchers)?);
        values.sort();
        values.dedup();
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_is_stored_under_the_scrape_labels_a_scrape_interval_apart() {
        let network = netsim::Network::start(netsim::Options {
            nodes: 2,
            ..netsim::Options::default()
        })
        .await
        .unwrap();
        network.chaos().kill(1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut blocks = Vec::new();
        let done = backfill(
            &network,
            dir.path(),
            Duration::from_secs(600),
            Duration::from_secs(15),
            |b| blocks.push(b.clone()),
        )
        .await
        .unwrap();
        assert_eq!(done.blocks, blocks.len());
        assert!((1..=2).contains(&done.blocks), "{blocks:?}");
        let db = tsdb::Tsdb::open(dir.path(), tsdb::Options::default()).unwrap();
        let newest = blocks.iter().map(|b| b.max_time).max().unwrap();
        let oldest = blocks.iter().map(|b| b.min_time).min().unwrap();
        assert_eq!(newest - oldest, 39 * 15_000);
        let q = |expr: &str| -> Vec<(String, f64)> {
            let engine = promql::engine::Engine::new(promql::engine::EngineOptions::default());
            let expr = promql::ast::parse(expr).unwrap();
            match engine
                .eval(&db, &expr, promql::engine::Steps::instant(newest))
                .unwrap()
            {
                promql::engine::Stepped::Vector(v) => {
                    let mut v: Vec<_> = v
                        .into_iter()
                        .map(|s| (s.labels.to_string(), s.points[0].v))
                        .collect();
                    // By node: the instances' ports come in any order.
                    v.sort_by(|a, b| b.1.total_cmp(&a.1));
                    v
                }
                other => panic!("{other:?}"),
            }
        };
        // 600 s at 15 s: 40 scrapes; node 0 up in each, node 1 down in each (sorted so).
        let addr = |id: usize| network.nodes()[id].addr.to_string();
        assert_eq!(
            q("sum_over_time(up[10m])"),
            [
                (
                    format!(r#"{{instance="{}",job="nodes",node="node-00"}}"#, addr(0)),
                    40.0
                ),
                (
                    format!(r#"{{instance="{}",job="nodes",node="node-01"}}"#, addr(1)),
                    0.0
                ),
            ]
        );
        // The node's own series, its counters growing over the simulated ten minutes.
        let grown = q(r#"delta(chain_block_height{node="node-00"}[10m])"#);
        assert_eq!(grown.len(), 1, "{grown:?}");
        assert!(grown[0].1 > 100.0, "blocks come about every 2 s: {grown:?}");
        assert!(q(r#"chain_block_height{node="node-01"}"#).is_empty());
        // Health checks ran for each scrape, as the live nodes' refreshers run them.
        let checked = q(
            r#"count_over_time(node_health_check_status{node="node-00",check="p2p",state="healthy"}[10m])"#,
        );
        assert_eq!(checked.len(), 1, "{checked:?}");
        assert_eq!(checked[0].1, 40.0);
    }
}
