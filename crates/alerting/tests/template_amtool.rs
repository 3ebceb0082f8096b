//! Notification templates rendered by Skywatch and by the real Alertmanager 0.25
//! (`amtool template render`, from Debian's `prometheus-alertmanager`) for the same data:
//! every function, every default template (text, and the email HTML as `html`), and
//! templates defined across files. The outputs must be equal to the byte.
//!
//! Debian's amtool does not embed Alertmanager's default templates: the package ships them
//! beside the binary, and the test finds them through `dpkg -L` and passes them first, as
//! Alertmanager's `FromGlobs` parses them first.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use alerting::template::{Alert, Data, Templates};

/// 2026-12-06 18:00:00 UTC.
const T0: i64 = 1_796_580_000_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The data: one firing and one resolved alert, values with characters HTML and URLs
/// escape.
fn data() -> Data {
    let a = Alert {
        status: "firing".into(),
        labels: labels(&[
            ("alertname", "DiskFull"),
            ("job", "node"),
            ("instance", "db-1:9100"),
            ("severity", "page"),
            ("team", "a&b <ops>"),
        ]),
        annotations: labels(&[("summary", "Disk \"/\" is 95% full"), ("runbook", "x+y")]),
        starts_at: T0,
        ends_at: T0 + 300_000_000_000,
        generator_url: "http://prom.example:9090/graph?g0.expr=up&g0.tab=1".into(),
        fingerprint: "1a2b3c4d5e6f7a8b".into(),
    };
    let b = Alert {
        status: "resolved".into(),
        labels: labels(&[
            ("alertname", "DiskFull"),
            ("job", "node"),
            ("instance", "db-2:9100"),
            ("team", "a&b <ops>"),
        ]),
        annotations: labels(&[("summary", "Disk \"/\" is 95% full")]),
        starts_at: T0 - 3_600_000_000_000,
        ends_at: T0 + 1_500_000_000,
        generator_url: String::new(),
        fingerprint: "0000000000000001".into(),
    };
    Data::new(
        "team-a pager",
        &labels(&[("alertname", "DiskFull"), ("job", "node")]),
        vec![a, b],
        "http://am.example:9093/am",
    )
}

fn rfc3339(ns: i64) -> String {
    model::format_rfc3339(ns / 1_000_000)
}

/// The data as amtool's `--template.data` reads it (`template.Data`'s JSON).
fn data_json(d: &Data) -> String {
    let alerts: Vec<serde_json::Value> = d
        .alerts
        .iter()
        .map(|a| {
            serde_json::json!({
                "status": a.status, "labels": a.labels, "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at), "endsAt": rfc3339(a.ends_at),
                "generatorURL": a.generator_url, "fingerprint": a.fingerprint,
            })
        })
        .collect();
    serde_json::json!({
        "receiver": d.receiver, "status": d.status, "alerts": alerts,
        "groupLabels": d.group_labels, "commonLabels": d.common_labels,
        "commonAnnotations": d.common_annotations, "externalURL": d.external_url,
    })
    .to_string()
}

/// Alertmanager's own default templates, as Debian's package ships them.
fn default_templates() -> Vec<PathBuf> {
    let out = Command::new("dpkg")
        .args(["-L", "prometheus-alertmanager"])
        .output()
        .expect("dpkg must run to find prometheus-alertmanager's default templates");
    let list = String::from_utf8_lossy(&out.stdout);
    let found: Vec<PathBuf> = ["default.tmpl", "email.tmpl"]
        .iter()
        .filter_map(|name| {
            list.lines()
                .find(|l| l.ends_with(&format!("/{name}")))
                .map(PathBuf::from)
        })
        .collect();
    assert_eq!(
        found.len(),
        2,
        "Debian's prometheus-alertmanager must be installed (it ships amtool and the default templates)"
    );
    found
}

fn amtool() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("amtool"))
            .find(|f| f.is_file())
    });
    found.expect("amtool not found: install Debian's prometheus-alertmanager")
}

struct Oracle {
    amtool: PathBuf,
    globs: Vec<PathBuf>,
    data_file: PathBuf,
}

impl Oracle {
    fn render(&self, text: &str, html: bool) -> Result<String, String> {
        let mut cmd = Command::new(&self.amtool);
        cmd.args(["template", "render"]);
        for g in &self.globs {
            cmd.arg(format!("--template.glob={}", g.display()));
        }
        cmd.arg(format!("--template.text={text}"));
        cmd.arg(format!("--template.data={}", self.data_file.display()));
        if html {
            cmd.arg("--template.type=html");
        }
        let out = cmd.output().expect("amtool runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// Texts that exercise every function, the data's fields and methods, and Go's
/// builtins on them.
const TEXTS: &[&str] = &[
    "{{ .Receiver }}|{{ .Status }}|{{ .ExternalURL }}|{{ len .Alerts }}",
    "{{ range .Alerts }}{{ .Status }} {{ .Fingerprint }} {{ .GeneratorURL }};{{ end }}",
    "{{ range $i, $a := .Alerts.Firing }}{{ $i }}:{{ $a.Labels.instance }}{{ end }}|{{ range .Alerts.Resolved }}{{ .Labels.instance }}{{ end }}",
    "{{ (index .Alerts 0).StartsAt }}|{{ (index .Alerts 1).EndsAt }}|{{ (index .Alerts 0).StartsAt.Unix }}",
    r#"{{ (index .Alerts 0).StartsAt.Format "2006-01-02T15:04:05Z07:00 Mon Jan _2 3:04PM" }}"#,
    "{{ .GroupLabels }}|{{ .CommonLabels }}|{{ .CommonAnnotations }}",
    "{{ .CommonLabels.SortedPairs }}|{{ .CommonLabels.Names }}|{{ .CommonLabels.Values }}",
    "{{ .CommonLabels.SortedPairs.Names }}|{{ .CommonLabels.SortedPairs.Values }}",
    r#"{{ .CommonLabels.Remove (stringSlice "job" "nope") }}|{{ .CommonLabels.Remove .GroupLabels.Names }}"#,
    r#"{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }},{{ end }}"#,
    r#"{{ toUpper "déjà vu ß" }}|{{ toLower "ÉCOLE ΣΑΣ" }}"#,
    r#"{{ title "hello wORLD foo_bar baz-qux o'neil 3am a.b c;d ßx" }}"#,
    r#"{{ join ", " .CommonLabels.Values }}|{{ .GroupLabels.Names | join "+" }}"#,
    r#"{{ match "^db-[0-9]+" (index .Alerts 0).Labels.instance }}|{{ match "x" "y" }}"#,
    r#"{{ reReplaceAll ":[0-9]+$" "" (index .Alerts 0).Labels.instance }}|{{ reReplaceAll "(\\w+)-(\\d)" "${2}_$1" "db-1 db-2" }}"#,
    r#"{{ safeHtml "<b>x</b>" }}|{{ stringSlice "a" "b" }}|{{ len (stringSlice) }}"#,
    r#"{{ printf "%s=%q %d %5.2f %v" "a" "b" 42 3.14159 true }}|{{ print 1 2 "x" }}|{{ html "<a&b>" }}|{{ urlquery "a b&c" }}|{{ js "it's" }}"#,
    r#"{{ if and (eq .Status "firing") (gt (len .Alerts) 1) }}many{{ else }}few{{ end }}|{{ with .Alerts.Resolved }}{{ len . }}{{ end }}|{{ not .Receiver }}"#,
    r#"{{ range $k, $v := .CommonLabels }}{{ $k }}:{{ $v }} {{ end }}|{{ index .CommonLabels "job" }}|{{ .CommonLabels.nope }}|"#,
    r#"{{ define "local" }}[{{ . }}]{{ end }}{{ template "local" .Status }}{{ block "blk" . }}{{ .Receiver }}{{ end }}"#,
    r#"{{ template "my.title" . }}|{{ template "my.list" .Alerts }}"#,
    r#"{{ template "pagerduty.default.instances" .Alerts }}|{{ template "__text_alert_list" .Alerts.Resolved }}"#,
];

/// Every default template's name.
const DEFAULTS: &[&str] = &[
    "__alertmanager",
    "__alertmanagerURL",
    "__subject",
    "__description",
    "slack.default.title",
    "slack.default.username",
    "slack.default.fallback",
    "slack.default.callbackid",
    "slack.default.pretext",
    "slack.default.titlelink",
    "slack.default.iconemoji",
    "slack.default.iconurl",
    "slack.default.text",
    "slack.default.footer",
    "pagerduty.default.description",
    "pagerduty.default.client",
    "pagerduty.default.clientURL",
    "pagerduty.default.instances",
    "opsgenie.default.message",
    "opsgenie.default.description",
    "opsgenie.default.source",
    "wechat.default.message",
    "wechat.default.to_user",
    "wechat.default.to_party",
    "wechat.default.to_tag",
    "wechat.default.agent_id",
    "victorops.default.state_message",
    "victorops.default.entity_display_name",
    "victorops.default.monitoring_tool",
    "pushover.default.title",
    "pushover.default.message",
    "pushover.default.url",
    "sns.default.subject",
    "sns.default.message",
    "telegram.default.message",
    "discord.default.title",
    "discord.default.message",
    "webex.default.message",
    "email.default.subject",
    "email.default.html",
];

/// Our own templates file, as a user's `templates:` file.
const USER_TMPL: &str = r#"{{ define "my.title" }}{{ .Status | toUpper }} {{ .CommonLabels.alertname }} ({{ len .Alerts.Firing }}){{ end }}
{{ define "my.list" }}{{ range . }}- {{ .Labels.instance }} {{ .Annotations.summary }}
{{ end }}{{ end }}
"#;

/// The text without its first HTML comment.
fn drop_comment(s: &str) -> String {
    match (s.find("<!--"), s.find("-->")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &s[..a], &s[b + 3..]),
        _ => s.to_owned(),
    }
}

fn compare(data: &Data, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user.tmpl");
    std::fs::write(&user, USER_TMPL).unwrap();
    let data_file = dir.path().join("data.json");
    std::fs::write(&data_file, data_json(data)).unwrap();
    let mut globs = default_templates();
    globs.push(user);
    let oracle = Oracle {
        amtool: amtool(),
        globs,
        data_file,
    };
    let ours = Templates::load(Path::new(dir.path()), &["user.tmpl".to_owned()]).unwrap();
    let mut cases: Vec<(String, bool)> = TEXTS.iter().map(|t| ((*t).to_owned(), false)).collect();
    for name in DEFAULTS {
        cases.push((format!("{{{{ template {name:?} . }}}}"), false));
    }
    cases.push((r#"{{ template "email.default.html" . }}"#.to_owned(), true));
    cases.push((
        r#"<a href="{{ .ExternalURL }}/x?r={{ .Receiver }}" title="{{ .Status }}">{{ .CommonLabels.team }} {{ safeHtml "<i>" }}</a><!-- c -->"#
            .to_owned(),
        true,
    ));
    let mut differ = Vec::new();
    for (text, html) in &cases {
        let theirs = oracle.render(text, *html);
        let mine = if *html {
            ours.render_html(text, data)
        } else {
            ours.render(text, data)
        };
        // As text, the email keeps its leading license comment, which is ours rather
        // than Alertmanager's (HTML output drops it, as Go's html/template does).
        let (theirs, mine) = if text.contains("email.default.html") && !*html {
            (
                theirs.map(|t| drop_comment(&t)),
                mine.map(|m| drop_comment(&m)),
            )
        } else {
            (theirs, mine)
        };
        match (&theirs, &mine) {
            (Ok(t), Ok(m)) if t == m => {}
            (Ok(t), Ok(m)) => differ.push(format!(
                "{label} {text} (html: {html})\n  amtool   {t:?}\n  skywatch {m:?}"
            )),
            (Ok(t), Err(e)) => differ.push(format!(
                "{label} {text}: amtool renders {t:?}, skywatch fails: {e}"
            )),
            // Both refuse (`pagerduty.default.instances` ranges over alerts, not the data).
            (Err(_), Err(_)) => {}
            (Err(e), Ok(m)) => differ.push(format!(
                "{label} {text}: amtool fails: {e}, skywatch renders {m:?}"
            )),
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} renderings differ from Alertmanager 0.25's:\n{}",
        differ.len(),
        cases.len(),
        differ.join("\n")
    );
}

#[test]
fn templates_render_as_alertmanager_renders_them() {
    compare(&data(), "firing+resolved");
}

#[test]
fn a_resolved_group_renders_as_alertmanager_renders_it() {
    let mut d = data();
    d.alerts.retain(|a| a.status == "resolved");
    d = Data::new(
        "team-a pager",
        &d.group_labels.clone(),
        d.alerts,
        &d.external_url,
    );
    compare(&d, "resolved");
}
