//! Unit tests of the notification data, functions and default texts.

use super::*;

const T0: i64 = 1_796_580_000_000_000_000; // 2026-12-06 18:00:00 UTC

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn data() -> Data {
    let mut a = Alert::firing(
        labels(&[("alertname", "Down"), ("job", "api"), ("instance", "a:1")]),
        T0,
    );
    a.annotations = labels(&[("summary", "api down")]);
    a.generator_url = "http://prom/graph".into();
    a.fingerprint = "0123456789abcdef".into();
    let mut b = Alert::firing(
        labels(&[("alertname", "Down"), ("job", "api"), ("instance", "b:1")]),
        T0 + 60_000_000_000,
    );
    b.status = "resolved".into();
    b.annotations = labels(&[("summary", "api down")]);
    Data::new(
        "team [a]",
        &labels(&[("job", "api")]),
        vec![a, b],
        "http://am:9093",
    )
}

fn check(cases: &[(&str, &str)]) {
    let t = Templates::defaults();
    let d = data();
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = t.render(text, &d).unwrap_or_else(|e| format!("ERROR {e}"));
        if got != *want {
            wrong.push(format!("{text}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn data_is_assembled_as_alertmanager_assembles_it() {
    let d = data();
    assert_eq!(d.receiver, r"team \[a\]");
    assert_eq!(d.status, "firing");
    assert_eq!(
        d.common_labels,
        labels(&[("alertname", "Down"), ("job", "api")])
    );
    assert_eq!(d.common_annotations, labels(&[("summary", "api down")]));
}

#[test]
fn fields_and_methods_read_as_in_go() {
    check(&[
        (
            "{{ .Status }} {{ len .Alerts }} {{ len .Alerts.Firing }} {{ len .Alerts.Resolved }}",
            "firing 2 1 1",
        ),
        (
            "{{ range $i, $a := .Alerts }}{{ $i }}={{ $a.Labels.instance }} {{ end }}",
            "0=a:1 1=b:1 ",
        ),
        (
            "{{ .CommonLabels.SortedPairs }}",
            "[{alertname Down} {job api}]",
        ),
        (
            "{{ .CommonLabels.SortedPairs.Names }}|{{ .CommonLabels.Values }}",
            "[alertname job]|[Down api]",
        ),
        (
            "{{ .CommonLabels.Remove (stringSlice \"job\") }}",
            "map[alertname:Down]",
        ),
        (
            "{{ (index .Alerts 0).StartsAt }}",
            "2026-12-06 18:00:00 +0000 UTC",
        ),
        (
            "{{ (index .Alerts 1).StartsAt.Format \"15:04 Jan 2\" }}",
            "18:01 Dec 6",
        ),
        (
            "{{ printf \"%T %T\" .Alerts.Firing .CommonLabels }}",
            "[]template.Alert template.KV",
        ),
        (
            "{{ .Nope }}",
            "ERROR template: :1:3: executing \"\" at <.Nope>: can't evaluate field Nope in type *template.Data",
        ),
    ]);
}

#[test]
fn functions_behave_as_alertmanagers() {
    check(&[
        (
            "{{ toUpper \"aß\" }} {{ toLower \"AB\" }} {{ title \"hello wORLD o'neil\" }}",
            "Aß ab Hello World O'neil",
        ),
        ("{{ join \",\" (stringSlice \"a\" \"b\") }}", "a,b"),
        (
            "{{ match \"^a.c$\" \"abc\" }} {{ reReplaceAll \"(a)b\" \"${1}x\" \"abab\" }}",
            "true axax",
        ),
        ("{{ safeHtml \"<b>\" }} {{ trimSpace \"  x \" }}", "<b> x"),
        (
            "{{ date \"2006-01-02\" (index .Alerts 0).StartsAt }}",
            "2026-12-06",
        ),
        ("{{ humanizeDuration 3661 }}", "1h 1m 1s"),
        (
            "{{ reReplaceAll \"(\" \"\" \"x\" }}",
            "ERROR template: :1:3: executing \"\" at <reReplaceAll \"(\" \"\" \"x\">: error calling reReplaceAll: error parsing regexp: regex parse error:\n    (\n    ^\nerror: unclosed group",
        ),
    ]);
}

#[test]
fn default_texts_render() {
    check(&[
        ("{{ template \"__subject\" . }}", "[FIRING:1] api (Down)"),
        (
            "{{ template \"slack.default.titlelink\" . }}",
            "http://am:9093/#/alerts?receiver=team+%5C%5Ba%5C%5D",
        ),
        (
            "{{ template \"opsgenie.default.description\" . }}",
            "api down\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a:1\n - job = api\nAnnotations:\n - summary = api down\nSource: http://prom/graph\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = b:1\n - job = api\nAnnotations:\n - summary = api down\nSource: \n",
        ),
    ]);
}

#[test]
fn templates_from_files_define_and_override() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.tmpl"),
        r#"{{ define "my.title" }}{{ .Status | title }}: {{ template "my.list" . }}{{ end }}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.tmpl"),
        r#"{{ define "my.list" }}{{ range .Alerts }}{{ .Labels.instance }};{{ end }}{{ end }}{{ define "__alertmanager" }}Sky{{ end }}"#,
    )
    .unwrap();
    let t = Templates::load(dir.path(), &["*.tmpl".to_owned(), "none/*.tmpl".to_owned()]).unwrap();
    let d = data();
    assert_eq!(
        t.render(r#"{{ template "my.title" . }}"#, &d).unwrap(),
        "Firing: a:1;b:1;"
    );
    assert_eq!(
        t.render(r#"{{ template "slack.default.username" . }}"#, &d)
            .unwrap(),
        "Sky"
    );
    std::fs::write(dir.path().join("c.tmpl"), "{{ nope }}").unwrap();
    let e = Templates::load(dir.path(), &["c.tmpl".to_owned()]).unwrap_err();
    assert!(
        e.0.contains("c.tmpl:1: function \"nope\" not defined"),
        "{e}"
    );
}
