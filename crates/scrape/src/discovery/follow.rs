//! Following a section's discovery: its target files, re-read when they change (checked
//! every second, and at their `refresh_interval` in any case), and its providers, each
//! asked again at its own interval. Scrape jobs and `alerting.alertmanagers` follow their
//! discovery the same way; what changes is told through [`Event`]s.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Provider;
use crate::config::{Discovery, StaticConfig};

/// What following a discovery finds.
#[derive(Debug)]
pub enum Event {
    /// The section's target groups now: static, from files and from every provider.
    Targets(Vec<StaticConfig>),
    /// This many target files could not be read; the groups they gave last are kept.
    Unreadable(usize),
    /// A provider's refresh failed; the groups it gave last are kept.
    Failed {
        /// The provider (`consul_sd_configs[0]`).
        provider: String,
        /// Why.
        error: String,
        /// How many groups it gave last, kept.
        kept_groups: usize,
    },
    /// A provider answered again after failing, or for the first time.
    Recovered {
        /// The provider.
        provider: String,
    },
}

/// A section's target groups now: its static ones and what its files hold, and a problem
/// for each file that cannot be read. `name` (a job's) names the section in problems.
pub fn groups_now(name: &str, discovery: &Discovery) -> (Vec<StaticConfig>, Vec<String>) {
    let mut groups = discovery.static_configs.clone();
    let mut problems = Vec::new();
    for (file, read) in read_file_sd(discovery) {
        match read {
            Ok(g) => groups.extend(g),
            Err(e) => problems.push(format!("job {name:?}: {}: {e}", file.display())),
        }
    }
    (groups, problems)
}

/// Every file a section's `file_sd_configs` name (globs expanded), with its groups or why
/// they cannot be read.
fn read_file_sd(discovery: &Discovery) -> Vec<(PathBuf, Result<Vec<StaticConfig>, String>)> {
    sd_files(discovery)
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

/// The files a section's `file_sd_configs` name now, globs expanded.
fn sd_files(discovery: &Discovery) -> impl Iterator<Item = PathBuf> + '_ {
    discovery
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

/// Follows `discovery` until the task is dropped: tells `on` the section's groups whenever
/// they change (and once at the start, files re-read in case they changed since the
/// caller read them), and each provider's failures and recoveries. A file or provider that
/// fails keeps the groups it gave last. `name` names the section in logs.
pub async fn follow(
    name: &str,
    discovery: &Discovery,
    providers: Vec<Box<dyn Provider>>,
    mut on: impl FnMut(Event),
) {
    let refresh = discovery
        .file_sd_configs
        .iter()
        .map(|sd| sd.refresh_interval.std())
        .min()
        .unwrap_or(Duration::from_secs(300));
    let stamp = || -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        sd_files(discovery)
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map_or(0, |m| m.len());
                (p, modified, len)
            })
            .collect()
    };
    let mut last = Vec::new();
    let mut last_read = tokio::time::Instant::now();
    let mut file_groups = None;
    let mut discovered: Vec<Vec<StaticConfig>> = vec![Vec::new(); providers.len()];
    let mut failing = vec![false; providers.len()];
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
        let now = stamp();
        if file_groups.is_none() || now != last || last_read.elapsed() >= refresh {
            last = now;
            last_read = tokio::time::Instant::now();
            let (groups, unreadable) = groups_now(name, discovery);
            // A file caught half-written, or broken, keeps the targets it gave last time.
            if unreadable.is_empty() {
                changed |= file_groups.as_ref() != Some(&groups);
                file_groups = Some(groups);
            } else {
                for problem in &unreadable {
                    tracing::warn!(%problem, "cannot read targets; keeping the previous ones");
                }
                on(Event::Unreadable(unreadable.len()));
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
                    if std::mem::take(&mut failing[n]) {
                        on(Event::Recovered {
                            provider: provider.name().to_owned(),
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(section = name, provider = provider.name(), %error, "discovery failed; keeping the previous targets");
                    failing[n] = true;
                    on(Event::Failed {
                        provider: provider.name().to_owned(),
                        error,
                        kept_groups: discovered[n].len(),
                    });
                }
            }
        }
        if changed {
            let mut groups = file_groups
                .clone()
                .unwrap_or_else(|| discovery.static_configs.clone());
            groups.extend(discovered.iter().flatten().cloned());
            on(Event::Targets(groups));
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
