//! From a job's `static_configs` to the files it tails, as Promtail's file target manager
//! does: each target's labels (the group's, with `__address__` set to the target) go
//! through `relabel_configs`; a dropped target, one without `__path__`, and one whose
//! `__host__` is not this machine are left out; labels starting with `__` are removed; the
//! `__path__` glob is expanded (doublestar's syntax: `*`, `?`, `[...]`, `{a,b}` and `**`
//! for any number of directories) and the files matching `__path_exclude__` are left out.
//! Each file gets the target's labels plus `filename`, its path.

use std::collections::BTreeMap;

use model::{Labels, LabelsBuilder};

use crate::config::ScrapeConfig;

/// A file to tail, with its stream labels and the job whose pipeline its lines go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    /// The file's path, as the glob gave it.
    pub path: String,
    /// The target's labels and `filename`.
    pub labels: Labels,
    /// The index of its job in the configuration.
    pub job: usize,
}

/// The files the jobs name now, by path; a path two targets name goes to the first (its
/// position is one, so two tailers of it would fight), and the second is reported.
pub(crate) fn discover(
    jobs: &[ScrapeConfig],
    host: &str,
) -> (BTreeMap<String, FileTarget>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for group in &job.static_configs {
            let targets: Vec<&str> = if group.targets.is_empty() {
                vec![""]
            } else {
                group.targets.iter().map(String::as_str).collect()
            };
            for target in targets {
                let mut lb = LabelsBuilder::new();
                for (k, v) in &group.labels {
                    lb.set(k, v);
                }
                if !target.is_empty() {
                    lb.set("__address__", target);
                }
                if !scrape::relabel::relabel(&job.relabel_configs, &mut lb) {
                    continue;
                }
                if lb.get("__host__").is_some_and(|h| h != host) {
                    continue;
                }
                let Some(path) = lb.get("__path__").map(str::to_owned) else {
                    continue;
                };
                let exclude = lb.get("__path_exclude__").map(str::to_owned);
                let internal: Vec<String> = lb
                    .iter()
                    .filter(|l| l.name.starts_with("__"))
                    .map(|l| l.name.to_owned())
                    .collect();
                for n in internal {
                    lb.remove(&n);
                }
                let matched = match glob(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        problems.push(format!("job {:?}: __path__ {path:?}: {e}", job.job_name));
                        continue;
                    }
                };
                for file in matched {
                    if let Some(ex) = &exclude
                        && path_matches(ex, &file)
                    {
                        continue;
                    }
                    if let Some(existing) = files.get(&file) {
                        let existing: &FileTarget = existing;
                        if existing.job != j || existing.labels != with_filename(&lb, &file) {
                            problems.push(format!(
                                "{file} is matched by two targets (jobs {:?} and {:?}); it is tailed once, for the first",
                                jobs[existing.job].job_name, job.job_name
                            ));
                        }
                        continue;
                    }
                    let labels = with_filename(&lb, &file);
                    files.insert(
                        file.clone(),
                        FileTarget {
                            path: file,
                            labels,
                            job: j,
                        },
                    );
                }
            }
        }
    }
    (files, problems)
}

fn with_filename(lb: &LabelsBuilder, file: &str) -> Labels {
    let mut lb = lb.clone();
    lb.set("filename", file);
    lb.build()
}

/// This machine's name, for `__host__`: `$HOSTNAME`, else the kernel's, as Promtail reads it.
pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_default()
}

/// `{a,b}` alternatives expanded, innermost last; a pattern without braces is itself.
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_owned()];
    };
    let bytes = pattern.as_bytes();
    let mut depth = 0;
    let mut parts = Vec::new();
    let mut start = open + 1;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    parts.push(&pattern[start..i]);
                    let (head, tail) = (&pattern[..open], &pattern[i + 1..]);
                    return parts
                        .iter()
                        .flat_map(|p| expand_braces(&format!("{head}{p}{tail}")))
                        .collect();
                }
            }
            b',' if depth == 1 => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    // An unclosed brace is a literal.
    vec![pattern.to_owned()]
}

/// The regular files `pattern` matches, sorted and without repeats.
pub(crate) fn glob(pattern: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in expand_braces(pattern) {
        glob_one(&p, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn glob_one(pattern: &str, out: &mut Vec<String>) -> Result<(), String> {
    let bad = |e: model::glob::BadPattern| format!("{e}; fix the glob");
    let parts: Vec<&str> = pattern.split('/').collect();
    let Some(at) = parts.iter().position(|p| *p == "**") else {
        for f in model::glob::glob(pattern).map_err(bad)? {
            if std::fs::metadata(&f).is_ok_and(|m| m.is_file()) {
                out.push(f);
            }
        }
        return Ok(());
    };
    let base = parts[..at].join("/");
    let rest = parts[at + 1..].join("/");
    let bases = if base.is_empty() && pattern.starts_with('/') {
        vec!["/".to_owned()]
    } else if base.is_empty() {
        vec![".".to_owned()]
    } else if model::glob::has_meta(&base) {
        model::glob::glob(&base).map_err(bad)?
    } else {
        vec![base]
    };
    for b in bases {
        let mut dirs = Vec::new();
        walk(&b, &mut dirs, 0);
        for d in dirs {
            if rest.is_empty() {
                // `dir/**` is every file under dir.
                if let Ok(entries) = std::fs::read_dir(&d) {
                    for e in entries.flatten() {
                        let p = model::glob::join(&d, &e.file_name().to_string_lossy());
                        if std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
                            out.push(p);
                        }
                    }
                }
            } else {
                glob_one(&model::glob::join(&d, &rest), out)?;
            }
        }
    }
    Ok(())
}

/// `dir` and every directory under it (not following links to directories past a depth
/// that only a loop reaches).
fn walk(dir: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 32 || !std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return;
    }
    out.push(dir.to_owned());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        walk(&model::glob::join(dir, &n), out, depth + 1);
    }
}

/// Whether `path` matches `pattern` component by component, `**` standing for any number
/// of components (doublestar's `PathMatch`).
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    expand_braces(pattern).iter().any(|p| {
        let pat: Vec<&str> = p.split('/').collect();
        let parts: Vec<&str> = path.split('/').collect();
        components_match(&pat, &parts)
    })
}

fn components_match(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|i| components_match(rest, &parts[i..])),
        Some((p, rest)) => match parts.split_first() {
            Some((name, more)) => {
                model::glob::matches(p, name).unwrap_or(false) && components_match(rest, more)
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn braces_expand() {
        assert_eq!(expand_braces("a/{b,c}/*.{log,txt}").len(), 4);
        assert_eq!(expand_braces("a{b"), ["a{b"]);
        assert_eq!(expand_braces("{x,{y,z}}"), ["x", "y", "z"]);
    }

    #[test]
    fn exclusion_patterns_match_paths() {
        assert!(path_matches("/var/log/*.gz", "/var/log/a.gz"));
        assert!(!path_matches("/var/log/*.gz", "/var/log/x/a.gz"));
        assert!(path_matches("/var/log/**/*.gz", "/var/log/x/y/a.gz"));
        assert!(path_matches("/var/log/**/*.gz", "/var/log/a.gz"));
        assert!(path_matches("/var/log/{a,b}.log", "/var/log/b.log"));
    }

    #[test]
    fn targets_are_relabelled_globbed_and_labelled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_string_lossy().into_owned();
        for f in [
            "app/a.log",
            "app/b.log",
            "app/b.log.gz",
            "app/deep/c.log",
            "other/x.log",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, "").expect("write");
        }
        let text = format!(
            r#"
scrape_configs:
- job_name: app
  static_configs:
  - targets: [localhost]
    labels:
      job: app
      __path__: {root}/app/**/*.log*
      __path_exclude__: {root}/app/*.gz
  relabel_configs:
  - source_labels: [__path__]
    regex: '.*/(app)/.*'
    target_label: service
  - source_labels: [__address__]
    target_label: host
- job_name: other
  static_configs:
  - labels: {{job: other, __path__: '{root}/other/*.log', __host__: not-this-machine}}
  - labels: {{job: dropped, __path__: '{root}/other/*.log'}}
  relabel_configs:
  - source_labels: [job]
    regex: dropped
    action: drop
"#
        );
        let config = Config::parse(&text, "p.yaml").expect("valid");
        let (files, problems) = discover(&config.scrape_configs, "this-machine");
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<(String, String)> = files
            .values()
            .map(|f| {
                (
                    f.path.strip_prefix(&root).unwrap_or(&f.path).to_owned(),
                    f.labels.to_string(),
                )
            })
            .collect();
        let labels = |file: &str| {
            format!(r#"{{filename="{root}{file}",host="localhost",job="app",service="app"}}"#)
        };
        assert_eq!(
            got,
            [
                ("/app/a.log".to_owned(), labels("/app/a.log")),
                ("/app/b.log".to_owned(), labels("/app/b.log")),
                ("/app/deep/c.log".to_owned(), labels("/app/deep/c.log")),
            ]
        );
    }
}
