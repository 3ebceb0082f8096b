//! The tailer over a temporary directory and `logs::MemLogs`, driven round by round with
//! `poll_once`: appends, partial lines, rotation by rename, copytruncate, files coming and
//! going, restarts from the positions file, and refusals.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use logs::{LogStore, MemLogs, Select, Visit};
use logtail::{Config, Polled, Tailer, TailerOptions};
use model::Matcher;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<MemLogs>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            store: Arc::new(MemLogs::new()),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, stages: &str) -> Config {
        self.config_for("*.log", stages)
    }

    fn config_for(&self, glob: &str, stages: &str) -> Config {
        let text = format!(
            "positions:\n  filename: {}\nscrape_configs:\n- job_name: app\n  static_configs:\n  - labels: {{job: app, __path__: '{}/{glob}'}}\n  pipeline_stages:\n{stages}",
            self.path("positions.yaml").display(),
            self.dir.path().display()
        );
        Config::parse(&text, "promtail.yaml").expect("valid config")
    }

    fn tailer(&self, stages: &str) -> Tailer {
        let config = self.config(stages);
        Tailer::new(TailerOptions {
            positions_file: config.positions_file(self.dir.path()),
            config,
            store: self.store.clone(),
        })
        .expect("tailer")
    }

    fn append(&self, name: &str, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .expect("open");
        f.write_all(text.as_bytes()).expect("write");
    }

    /// Every stored line of `file`, oldest first.
    fn lines(&self, file: &str) -> Vec<String> {
        let file = self.path(file).display().to_string();
        let mut out = Vec::new();
        self.store
            .select(
                &Select::new(vec![Matcher::equal("filename", file)], 0, i64::MAX),
                &mut |_, entries| {
                    out.extend(entries.iter().map(|e| e.line.clone()));
                    Visit::Continue
                },
            )
            .expect("select");
        out
    }
}

fn accepted(p: &Polled) -> u64 {
    p.accepted
}

#[test]
fn appended_lines_are_read_and_partial_lines_wait() {
    let f = Fixture::new();
    f.append("a.log", "one\ntwo\nthr");
    let mut t = f.tailer("");
    assert_eq!(accepted(&t.poll_once()), 2);
    assert_eq!(f.lines("a.log"), ["one", "two"]);
    // Nothing new: nothing sent; the partial line still waits.
    assert_eq!(t.poll_once(), Polled::default());
    f.append("a.log", "ee\r\nfour\n");
    assert_eq!(accepted(&t.poll_once()), 2);
    assert_eq!(f.lines("a.log"), ["one", "two", "three", "four"]);
    // Equal lines read in one round are two entries.
    f.append("a.log", "same\nsame\n");
    assert_eq!(accepted(&t.poll_once()), 2);
    assert_eq!(f.lines("a.log").len(), 6);
}

#[test]
fn rotation_by_rename_finishes_the_old_file_then_reads_the_new() {
    let f = Fixture::new();
    f.append("a.log", "1\n");
    let mut t = f.tailer("");
    t.poll_once();
    // Written before the rotation, read after it: still sent, the unfinished last line too.
    f.append("a.log", "2\n3");
    std::fs::rename(f.path("a.log"), f.path("a.log.1")).expect("rename");
    f.append("a.log", "4\n");
    t.poll_once();
    assert_eq!(f.lines("a.log"), ["1", "2", "3", "4"]);
    assert_eq!(t.files(), [f.path("a.log").display().to_string()]);
}

#[test]
fn a_glob_matching_rotated_names_does_not_send_them_twice() {
    let f = Fixture::new();
    f.append("a.log", "1\n");
    let config = f.config_for("*.log*", "");
    let mut t = Tailer::new(TailerOptions {
        positions_file: config.positions_file(f.dir.path()),
        config,
        store: f.store.clone(),
    })
    .expect("tailer");
    t.poll_once();
    f.append("a.log", "2\n");
    std::fs::rename(f.path("a.log"), f.path("a.log.1")).expect("rename");
    f.append("a.log", "3\n");
    t.poll_once();
    f.append("a.log.1", "4\n");
    t.poll_once();
    let all = |name: &str| f.lines(name);
    assert_eq!(all("a.log"), ["1", "2", "3"]);
    assert_eq!(all("a.log.1"), ["4"]);
}

#[test]
fn copytruncate_reads_from_the_start_again() {
    let f = Fixture::new();
    f.append("a.log", "first\nsecond\n");
    let mut t = f.tailer("");
    t.poll_once();
    std::fs::copy(f.path("a.log"), f.path("a.log.1")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(f.path("a.log"))
        .expect("truncate");
    f.append("a.log", "third\n");
    t.poll_once();
    assert_eq!(f.lines("a.log"), ["first", "second", "third"]);
}

#[test]
fn files_come_and_go_with_the_glob() {
    let f = Fixture::new();
    let mut t = f.tailer("");
    assert_eq!(t.poll_once(), Polled::default());
    f.append("b.log", "hello\n");
    f.append("b.txt", "not matched\n");
    assert_eq!(accepted(&t.poll_once()), 1);
    assert_eq!(t.files(), [f.path("b.log").display().to_string()]);
    std::fs::remove_file(f.path("b.log")).expect("remove");
    t.poll_once();
    assert!(t.files().is_empty());
    t.save_positions().expect("save");
    let positions = std::fs::read_to_string(f.path("positions.yaml")).expect("positions");
    assert_eq!(positions, "positions:\n");
}

#[test]
fn a_restart_resumes_from_the_positions_file() {
    let f = Fixture::new();
    f.append("a.log", "1\n2\n");
    let mut t = f.tailer("");
    t.poll_once();
    t.save_positions().expect("save");
    drop(t);
    let positions = std::fs::read_to_string(f.path("positions.yaml")).expect("positions");
    let file = f.path("a.log").display().to_string();
    assert!(
        positions.contains(&format!("\"{file}\": \"4\"")),
        "{positions}"
    );
    assert!(
        positions.contains(&format!("\"skywatch-file-id:{file}\": \"")),
        "{positions}"
    );

    f.append("a.log", "3\n");
    let mut t = f.tailer("");
    assert_eq!(accepted(&t.poll_once()), 1);
    assert_eq!(f.lines("a.log"), ["1", "2", "3"]);
    t.save_positions().expect("save");
    drop(t);

    // Replaced while stopped (same name, another inode): read from its start.
    std::fs::rename(f.path("a.log"), f.path("a.log.1")).expect("rename");
    f.append("a.log", "new\n");
    let mut t = f.tailer("");
    assert_eq!(accepted(&t.poll_once()), 1);
    assert_eq!(f.lines("a.log"), ["1", "2", "3", "new"]);
}

#[test]
fn promtails_positions_file_is_taken_over() {
    let f = Fixture::new();
    f.append("a.log", "sent by promtail\nnot yet\n");
    std::fs::write(
        f.path("positions.yaml"),
        format!("positions:\n  {}: \"17\"\n", f.path("a.log").display()),
    )
    .expect("write");
    let mut t = f.tailer("");
    t.poll_once();
    assert_eq!(f.lines("a.log"), ["not yet"]);
}

#[test]
fn pipelines_label_and_drop_lines() {
    let f = Fixture::new();
    f.append(
        "a.log",
        "level=info msg=ok\nlevel=debug msg=noise\nlevel=error msg=\"bad thing\"\n",
    );
    let mut t = f.tailer(
        "  - logfmt: {mapping: {level: , msg: }}\n  - drop: {source: level, expression: debug}\n  - labels: {level: }\n  - labeldrop: [job]\n",
    );
    let polled = t.poll_once();
    assert_eq!((polled.lines, polled.accepted, polled.dropped), (3, 2, 1));
    let series = f.store.series(&[], 0, i64::MAX).expect("series");
    let file = f.path("a.log").display().to_string();
    let names: Vec<String> = series.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            format!(r#"{{filename="{file}",level="error"}}"#),
            format!(r#"{{filename="{file}",level="info"}}"#),
        ]
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode_registry(&mut text, &{
        let mut r = prometheus_client::registry::Registry::default();
        r.register_collector(Box::new(t.telemetry()));
        r
    })
    .expect("encode");
    assert!(
        text.contains(r#"skywatch_logtail_dropped_lines_total{reason="drop_stage"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("skywatch_logtail_sent_entries_total 2"),
        "{text}"
    );
    assert!(
        text.contains("skywatch_logtail_files_active_total 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "skywatch_logtail_read_lines_total{{path=\"{file}\"}} 3"
        )),
        "{text}"
    );
}

#[test]
fn refused_entries_are_counted_and_not_retried() {
    let f = Fixture::new();
    // Timestamps from the lines: the second is far behind the first, past the store's
    // out-of-order window.
    f.append("a.log", "2000000000 new\n1000000000 old\n");
    let mut t = f.tailer(
        "  - regex: {expression: '^(?P<ts>\\d+)'}\n  - timestamp: {source: ts, format: Unix}\n",
    );
    let polled = t.poll_once();
    assert_eq!((polled.accepted, polled.refused), (1, 1));
    assert_eq!(t.poll_once(), Polled::default());
    assert_eq!(f.lines("a.log"), ["2000000000 new"]);
}

#[test]
fn a_running_tailer_saves_its_positions_at_stop() {
    let f = Fixture::new();
    f.append("a.log", "x\n");
    let t = f.tailer("");
    let running = t
        .spawn(std::time::Duration::from_secs(3600))
        .expect("spawn");
    running.stop().expect("stop");
    assert_eq!(f.lines("a.log"), ["x"]);
    let positions = std::fs::read_to_string(f.path("positions.yaml")).expect("positions");
    assert!(positions.contains("\": \"2\"\n"), "{positions}");
}
