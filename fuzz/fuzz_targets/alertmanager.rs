//! Fuzzes what Alertmanager's side of Skywatch reads: the configuration file (any text is
//! a configuration or an error naming the file), matchers as the API and silences take
//! them (a parsed matcher, written back with Alertmanager's quoting, parses to itself),
//! and notification templates (a template file parses or fails, and renders as text and
//! as HTML to some text or an error). Each input runs on a worker's 2 MiB stack, where
//! the API and the notifiers run.

#![no_main]

use std::collections::BTreeMap;

use alerting::config::{Config, parse_matcher, parse_matchers};
use alerting::template::{Alert, Data, Templates};
use libfuzzer_sys::fuzz_target;

/// A label name in Prometheus's classic charset: the names the round trip writes bare.
fn plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value in double quotes with Alertmanager's escapes.
fn quote(value: &str) -> String {
    let mut out = String::from('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn matchers(text: &str) {
    let Ok(matchers) = parse_matchers(text) else {
        return;
    };
    for m in matchers {
        if !plain_name(&m.name) {
            continue;
        }
        let written = format!("{}{}{}", m.name, m.op, quote(&m.value));
        match parse_matcher(&written) {
            Ok(again) => assert_eq!(again, m, "{written:?} from {text:?}"),
            Err(e) => panic!("{written:?} (from {text:?}) does not parse again: {e}"),
        }
    }
}

fn templates(text: &str) {
    let mut set = Templates::defaults();
    if set.add("fuzz.tmpl", text).is_err() {
        return;
    }
    let labels = BTreeMap::from([
        ("alertname".to_owned(), "Down".to_owned()),
        ("job".to_owned(), "node".to_owned()),
    ]);
    let mut alert = Alert::firing(labels.clone(), 1_700_000_000_000_000_000);
    alert
        .annotations
        .insert("summary".into(), "node is down".into());
    let data = Data::new("team", &labels, vec![alert], "http://localhost:9093");
    let _ = set.render(text, &data);
    let _ = set.render_html(text, &data);
}

fn run(text: &str) {
    if let Err(e) = Config::parse(text, "fuzz.yml") {
        assert_eq!(e.file, "fuzz.yml");
        assert!(!e.message.is_empty());
    }
    matchers(text);
    templates(text);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    skywatch_fuzz::on_worker_stack("the Alertmanager input", || run(text));
});
