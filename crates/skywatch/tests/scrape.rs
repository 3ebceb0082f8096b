//! `skywatch up --config`: the real binary scrapes what its configuration names, shows
//! its targets, reloads a good configuration and refuses a bad one; `skywatch check
//! config` says which files are valid.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::start_skywatch_with;

fn config(job: &str, targets_file: &std::path::Path) -> String {
    format!(
        "global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: {job}\n    file_sd_configs:\n      - files: ['{}']\n",
        targets_file.display()
    )
}

/// Polls `f` until it returns `Some`, for at most 15 seconds.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_scrapes_its_targets_and_reloads_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.json");
    std::fs::write(&targets, "[]").unwrap();
    let file = dir.path().join("skywatch.yml");
    std::fs::write(&file, config("self", &targets)).unwrap();
    let (server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &[
            "--config".as_ref(),
            file.as_os_str(),
            // POST /-/reload below.
            "--web.enable-lifecycle".as_ref(),
        ],
    );
    // The server scrapes itself, once the targets file names it.
    std::fs::write(&targets, format!(r#"[{{"targets": ["{addr}"]}}]"#)).unwrap();

    let client = reqwest::blocking::Client::new();
    let get = |path: &str| common::get_json(&client, &addr, path);
    let target = eventually("the target to be up", || {
        let body = get("/api/v1/targets");
        let t = body["data"]["activeTargets"][0].clone();
        (t["health"] == "up").then_some(t)
    });
    assert_eq!(target["scrapePool"], "self");
    assert_eq!(target["scrapeUrl"], format!("http://{addr}/metrics"));
    assert_eq!(target["scrapeInterval"], "200ms");
    let up = eventually("up to be queryable", || {
        let body = get("/api/v1/query?query=up");
        body["data"]["result"][0].as_object().cloned()
    });
    assert_eq!(up["value"][1], "1");
    assert_eq!(up["metric"]["job"], "self");
    assert_eq!(up["metric"]["instance"], addr.as_str());
    // The server's own metrics were scraped too, with their metadata.
    let own = get("/api/v1/query?query=count(skywatch_http_requests_total)");
    assert_eq!(own["status"], "success", "{own}");
    let metadata = get("/api/v1/metadata?metric=skywatch_http_requests");
    assert_eq!(
        metadata["data"]["skywatch_http_requests"][0]["type"], "counter",
        "{metadata}"
    );

    // A bad configuration is refused, naming the line; the running one stays.
    std::fs::write(&file, "scrape_configs:\n  - job_name: x\n    bogus: 1\n").unwrap();
    let refused = client
        .post(format!("http://{addr}/-/reload"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 500);
    let text = refused.text().unwrap();
    assert!(text.contains("line 3") && text.contains("bogus"), "{text}");
    assert_eq!(
        get("/api/v1/targets")["data"]["activeTargets"][0]["scrapePool"],
        "self"
    );

    // A good one replaces it.
    std::fs::write(&file, config("renamed", &targets)).unwrap();
    let ok = client
        .post(format!("http://{addr}/-/reload"))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    eventually("the renamed job to be scraped", || {
        let body = get("/api/v1/targets");
        let t = &body["data"]["activeTargets"];
        (t.as_array().unwrap().len() == 1 && t[0]["scrapePool"] == "renamed").then_some(())
    });
    drop(server);
}

#[test]
fn check_config_says_which_files_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "scrape_configs:\n  - job_name: nodes\n    static_configs:\n      - targets: ['127.0.0.1:9100']\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "global:\n  scrape_interval: soon\n").unwrap();
    let run = |file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_skywatch"))
            .args(["check", "config"])
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = run(&good);
    assert!(ok.status.success());
    let out = String::from_utf8(ok.stdout).unwrap();
    assert!(
        out.contains("SUCCESS: 1 scrape jobs, 1 static targets"),
        "{out}"
    );
    let failed = run(&bad);
    assert_eq!(failed.status.code(), Some(1));
    let out = String::from_utf8(failed.stdout).unwrap();
    assert!(
        out.contains("FAILED")
            && out.contains("line 2")
            && out.contains("\"soon\" is not a duration"),
        "{out}"
    );
}
