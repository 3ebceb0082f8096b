//! The SLOs a server runs: the specs of `--slos DIR` (read again when a file in it
//! changes) and those the program ships (the demo's). Their generated rules run beside the
//! configuration's rule files, one rule file per spec file, and `/api/v1/slos` reads the
//! set last applied.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// A generated rule file: the spec file it comes from, and its text.
pub(crate) type GeneratedFile = (String, String);

/// The SLO specs of a server.
pub(crate) struct SloSet {
    dir: Option<PathBuf>,
    /// Spec files that come with the program: a name and the text.
    shipped: Vec<(String, String)>,
    current: RwLock<Arc<Vec<slo::Slo>>>,
    /// What the directory held when last read: each file's path, length and time.
    seen: Mutex<Vec<(PathBuf, u64, Option<SystemTime>)>>,
}

impl SloSet {
    pub(crate) fn new(dir: Option<PathBuf>, shipped: Vec<(String, String)>) -> Self {
        Self {
            dir,
            shipped,
            current: RwLock::default(),
            seen: Mutex::default(),
        }
    }

    /// Whether there is a directory to watch.
    pub(crate) fn watched(&self) -> bool {
        self.dir.is_some()
    }

    /// The SLOs last applied.
    pub(crate) fn current(&self) -> Arc<Vec<slo::Slo>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes `slos` the SLOs served, once their rules run.
    pub(crate) fn set(&self, slos: Vec<slo::Slo>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(slos);
    }

    /// Reads every spec: the SLOs and one rule file per spec file, or every problem.
    pub(crate) fn read(&self) -> Result<(Vec<slo::Slo>, Vec<rules::RuleFile>), String> {
        let (slos, texts) = self.generate()?;
        let rule_files = texts
            .into_iter()
            .map(|(file, text)| rules::RuleFile::parse(&text, &file).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((slos, rule_files))
    }

    /// Reads every spec: the SLOs and the text of one rule file per spec file, named
    /// after it (what `skywatch export` writes), or every problem.
    pub(crate) fn generate(&self) -> Result<(Vec<slo::Slo>, Vec<GeneratedFile>), String> {
        let defaults = slo::Defaults::default();
        let mut slos = Vec::new();
        let mut problems = Vec::new();
        for (name, text) in &self.shipped {
            match slo::load(text, name, &defaults) {
                Ok(s) => slos.extend(s),
                Err(e) => problems.push(e.to_string()),
            }
        }
        if let Some(dir) = &self.dir {
            *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = fingerprint(dir);
            match crate::slo_cmd::load_specs(std::slice::from_ref(dir), &defaults) {
                Ok(s) => slos.extend(s),
                Err(p) => problems.extend(p),
            }
        }
        for s in &slos {
            problems.extend(
                slo::check::problems(s)
                    .into_iter()
                    .filter(|p| p.breaks_rules)
                    .map(|p| p.message),
            );
        }
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        // One rule file per spec file, named after it, in the order the SLOs were read.
        let mut files: Vec<(String, Vec<slo::generate::Group>)> = Vec::new();
        for s in &slos {
            let groups = slo::generate::groups(s);
            match files.iter_mut().find(|(f, _)| *f == s.file) {
                Some((_, g)) => g.extend(groups),
                None => files.push((s.file.clone(), groups)),
            }
        }
        let texts = files
            .into_iter()
            .map(|(file, groups)| {
                let text = slo::generate::rule_file(&groups, &file);
                (file, text)
            })
            .collect();
        Ok((slos, texts))
    }

    /// Whether the directory's files changed since it was last read.
    pub(crate) fn changed(&self) -> bool {
        let Some(dir) = &self.dir else { return false };
        fingerprint(dir) != *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn fingerprint(dir: &std::path::Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out: Vec<_> = crate::slo_cmd::spec_files(&[dir.to_path_buf()])
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect();
    out.sort();
    out
}
