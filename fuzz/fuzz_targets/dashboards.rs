//! Fuzzes Grafana dashboard JSON as the library imports it: any text becomes one dashboard
//! or a problem naming the file, whose checks (queries, panels, variables) and drawing
//! report (what the UI draws of each panel) end without panicking; a dashboard that loads
//! has a uid and a page under `/d/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fn run(text: &str) {
    let library = dashboards::Library::fixed([("fuzz.json", text)]);
    let problems = library.problems();
    assert!(
        problems.iter().all(|p| p.file == "fuzz.json"),
        "{problems:?}"
    );
    let loaded = library.dashboards();
    let valid = serde_json::from_str::<serde_json::Value>(text).is_ok();
    assert_eq!(
        loaded.len(),
        usize::from(valid),
        "JSON loads as one dashboard"
    );
    for d in &loaded {
        assert!(d.url().starts_with("/d/"), "{}", d.url());
        assert!(library.get(&d.uid).is_some());
        let _ = dashboards::drawing(&d.json);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    skywatch_fuzz::on_worker_stack("the dashboard", || run(text));
});
