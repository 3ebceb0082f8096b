//! Notifications compared with real Alertmanager 0.25 (Debian's `prometheus-alertmanager`):
//! both load the same configuration, where only the capture URLs differ, receive the same
//! alerts through `POST /api/v2/alerts`, and a capture server on loopback (HTTP and SMTP,
//! `common/capture.rs`) records every delivery. Deliveries are compared integration by
//! integration and scenario by scenario (firing, grouped, repeated, resolved, partly
//! resolved), with default texts and with custom templates from a `templates:` file.
//!
//! The integrations are a table ([`INTEGRATIONS`]); every delivery must be equal but for the
//! fields [`normalise`] lists, and the differences of those that are not are the failure.
//! The comparison table is printed either way (run with `--nocapture`). With
//! `PARITY_DUMP=<integration>`, what Alertmanager sent that integration is printed too.
//!
//! And a cutover: an incident Alertmanager opened in a fake PagerDuty is resolved by
//! Skywatch after the switch, under the same `dedup_key`.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stdout,
    reason = "the comparison table is this test's report"
)]

#[path = "common/capture.rs"]
mod capture;
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capture::{Capture, Delivery};
use common::{Killed, start_skywatch_with, tool_named};
use serde_json::{Value, json};

/// Alertmanager's external URL in these tests; Skywatch's is its own address.
const AM_EXTERNAL_URL: &str = "http://alertmanager.parity";

/// Which texts an integration is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Texts {
    /// None: each integration's defaults.
    Default,
    /// Its texts from templates defined in a `templates:` file.
    Custom,
}

/// One integration: its receiver's YAML for a capture URL (`{url}`), SMTP server
/// (`{smtp}`) or, where the URL cannot be configured, HTTPS proxy (`{proxy}`, whose CA is
/// `{ca}`), with default and with custom texts.
struct Integration {
    name: &'static str,
    default: &'static str,
    custom: &'static str,
}

/// Every integration of Alertmanager 0.25.
const INTEGRATIONS: &[Integration] = &[
    Integration {
        name: "webhook",
        default: "webhook_configs:\n  - url: '{url}'\n",
        custom: "webhook_configs:\n  - url: '{url}'\n    max_alerts: 2\n",
    },
    Integration {
        name: "email",
        default: "email_configs:\n  - to: ops@example.org\n    from: alerts@example.org\n    smarthost: '{smtp}'\n    require_tls: false\n",
        custom: "email_configs:\n  - to: ops@example.org\n    from: alerts@example.org\n    smarthost: '{smtp}'\n    require_tls: false\n    send_resolved: true\n    headers:\n      Subject: '{{ template \"parity.title\" . }}'\n    html: '{{ template \"parity.text\" . }}'\n    text: '{{ template \"parity.text\" . }}'\n",
    },
    Integration {
        name: "slack",
        default: "slack_configs:\n  - api_url: '{url}'\n    channel: '#alerts'\n",
        custom: "slack_configs:\n  - api_url: '{url}'\n    channel: '#alerts'\n    send_resolved: true\n    title: '{{ template \"parity.title\" . }}'\n    text: '{{ template \"parity.text\" . }}'\n    pretext: 'for {{ .Receiver }}'\n    color: '{{ if eq .Status \"firing\" }}#ff0000{{ else }}#00ff00{{ end }}'\n    username: parity\n    icon_emoji: ':bell:'\n    footer: '{{ .ExternalURL }}'\n    fields:\n      - title: Severity\n        value: '{{ .CommonLabels.severity }}'\n        short: true\n    actions:\n      - type: button\n        text: 'Runbook {{ .GroupLabels.alertname }}'\n        url: 'http://runbooks/{{ .GroupLabels.alertname }}'\n",
    },
    Integration {
        name: "pagerduty",
        default: "pagerduty_configs:\n  - routing_key: parity-key\n    url: '{url}'\n",
        custom: "pagerduty_configs:\n  - routing_key: parity-key\n    url: '{url}'\n    description: '{{ template \"parity.title\" . }}'\n    severity: '{{ .CommonLabels.severity }}'\n    details:\n      text: '{{ template \"parity.text\" . }}'\n    client: 'parity {{ .Receiver }}'\n    class: '{{ .GroupLabels.alertname }}'\n    component: db\n    links:\n      - href: 'http://runbooks/{{ .GroupLabels.alertname }}'\n        text: runbook\n",
    },
    Integration {
        name: "opsgenie",
        default: "opsgenie_configs:\n  - api_key: parity-key\n    api_url: '{url}/'\n",
        custom: "opsgenie_configs:\n  - api_key: parity-key\n    api_url: '{url}/'\n    message: '{{ template \"parity.title\" . }}'\n    description: '{{ template \"parity.text\" . }}'\n    source: 'parity {{ .Receiver }}'\n    details:\n      text: '{{ template \"parity.text\" . }}'\n    responders:\n      - name: 'ops, db'\n        type: teams\n    tags: '{{ .GroupLabels.alertname }},parity'\n    priority: P2\n    update_alerts: true\n",
    },
    Integration {
        name: "victorops",
        default: "victorops_configs:\n  - api_key: parity-key\n    api_url: '{url}/'\n    routing_key: team\n",
        custom: "victorops_configs:\n  - api_key: parity-key\n    api_url: '{url}/'\n    routing_key: 'team-{{ .GroupLabels.alertname }}'\n    message_type: WARNING\n    entity_display_name: '{{ template \"parity.title\" . }}'\n    state_message: '{{ template \"parity.text\" . }}'\n    custom_fields:\n      text: '{{ template \"parity.text\" . }}'\n",
    },
    Integration {
        name: "pushover",
        default: "pushover_configs:\n  - user_key: parity-user\n    token: parity-token\n    http_config:\n      proxy_url: '{proxy}'\n      tls_config:\n        ca_file: '{ca}'\n",
        custom: "pushover_configs:\n  - user_key: parity-user\n    token: parity-token\n    title: '{{ template \"parity.title\" . }}'\n    message: '{{ template \"parity.text\" . }}'\n    http_config:\n      proxy_url: '{proxy}'\n      tls_config:\n        ca_file: '{ca}'\n",
    },
    Integration {
        name: "sns",
        default: "sns_configs:\n  - api_url: '{url}'\n    topic_arn: arn:aws:sns:us-east-1:123456789012:alerts\n    sigv4:\n      region: us-east-1\n      access_key: AKIDPARITY\n      secret_key: parity-secret\n",
        custom: "sns_configs:\n  - api_url: '{url}'\n    topic_arn: arn:aws:sns:us-east-1:123456789012:alerts\n    sigv4:\n      region: us-east-1\n      access_key: AKIDPARITY\n      secret_key: parity-secret\n    subject: '{{ template \"parity.title\" . }}'\n    message: '{{ template \"parity.text\" . }}'\n    attributes:\n      severity: '{{ .CommonLabels.severity }}'\n",
    },
    Integration {
        name: "telegram",
        default: "telegram_configs:\n  - api_url: '{url}'\n    bot_token: parity-token\n    chat_id: 42\n",
        custom: "telegram_configs:\n  - api_url: '{url}'\n    bot_token: parity-token\n    chat_id: 42\n    message: '{{ template \"parity.text\" . }}'\n",
    },
    Integration {
        name: "discord",
        default: "discord_configs:\n  - webhook_url: '{url}'\n",
        custom: "discord_configs:\n  - webhook_url: '{url}'\n    title: '{{ template \"parity.title\" . }}'\n    message: '{{ template \"parity.text\" . }}'\n",
    },
    Integration {
        name: "webex",
        default: "webex_configs:\n  - api_url: '{url}'\n    room_id: parity-room\n    http_config:\n      authorization:\n        credentials: parity-token\n",
        custom: "webex_configs:\n  - api_url: '{url}'\n    room_id: parity-room\n    message: '{{ template \"parity.text\" . }}'\n    http_config:\n      authorization:\n        credentials: parity-token\n",
    },
    Integration {
        name: "wechat",
        default: "wechat_configs:\n  - api_url: '{url}/'\n    corp_id: parity-corp\n    api_secret: parity-secret\n    to_user: ops\n    agent_id: '1000002'\n",
        custom: "wechat_configs:\n  - api_url: '{url}/'\n    corp_id: parity-corp\n    api_secret: parity-secret\n    to_user: ops\n    agent_id: '1000002'\n    send_resolved: true\n    message: '{{ template \"parity.text\" . }}'\n",
    },
];

/// The `templates:` file of the custom runs.
const TEMPLATES: &str = r#"{{ define "parity.title" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.alertname }} for {{ .CommonLabels.integration }}{{ end }}
{{ define "parity.text" }}{{ range .Alerts }}{{ .Status }}: {{ .Labels.alertname }} {{ .Labels.instance }} {{ .Annotations.summary }} since {{ .StartsAt.Format "2006-01-02T15:04:05Z07:00" }}
{{ end }}Firing {{ len .Alerts.Firing }}, resolved {{ len .Alerts.Resolved }}; receiver {{ .Receiver }}; common {{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}{{ end }}
"#;

/// The scenarios: each an alert name, and which of its deliveries is compared.
const SCENARIOS: &[(&str, &str, usize)] = &[
    ("firing", "ParityFiring", 0),
    ("grouped", "ParityGrouped", 0),
    ("repeated", "ParityRepeated", 1),
    ("resolved", "ParityFiring", 1),
    ("partly resolved", "ParityGrouped", 1),
];

/// Whether an integration tells of resolved alerts in a run (Alertmanager's defaults:
/// false for email, Slack and WeChat; the custom runs turn it on for them).
fn sends_resolved(integration: &str, texts: Texts) -> bool {
    texts == Texts::Custom || !matches!(integration, "email" | "slack" | "wechat")
}

/// The whole configuration for `system`, over the receivers of `integrations`.
fn config(
    capture: &Capture,
    system: &str,
    texts: Texts,
    integrations: &[&Integration],
    templates: &Path,
) -> String {
    // One receiver per integration and alert name, `<integration>-<alertname>`, whose
    // URL (or recipient) names the alert: each delivery says which scenario it is of,
    // whether or not its texts are rendered.
    let mut routes = String::new();
    let mut receivers = String::new();
    for i in integrations {
        for name in ["ParityFiring", "ParityGrouped", "ParityRepeated"] {
            let repeat = if name == "ParityRepeated" {
                "      repeat_interval: 2s\n"
            } else {
                ""
            };
            routes.push_str(&format!(
                "    - matchers: ['integration=\"{0}\"', 'alertname=\"{name}\"']\n      receiver: {0}-{name}\n{repeat}",
                i.name
            ));
            let snippet = match texts {
                Texts::Default => i.default,
                Texts::Custom => i.custom,
            }
            .replace("{url}", &format!("{}/{name}", capture.url(system, i.name)))
            .replace(
                "{proxy}",
                &capture.proxy(system, &format!("{}/{name}", i.name)),
            )
            .replace("{ca}", &capture.ca_file().display().to_string())
            .replace("{smtp}", &capture.smtp(system))
            .replace("ops@example.org", &format!("{name}@example.org"));
            receivers.push_str(&format!("  - name: {}-{name}\n", i.name));
            for line in snippet.lines() {
                receivers.push_str(&format!("    {line}\n"));
            }
        }
    }
    let templates = match texts {
        Texts::Default => String::new(),
        Texts::Custom => format!("templates:\n  - '{}'\n", templates.display()),
    };
    format!(
        "global:\n  resolve_timeout: 5m\n{templates}route:\n  receiver: none\n  group_by: [alertname, integration]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n{routes}receivers:\n  - name: none\n{receivers}"
    )
}

/// Starts Alertmanager 0.25 on 127.0.0.1:0 with `config`; returns it and its address,
/// read from its `msg="Listening on" address=127.0.0.1:PORT` log line.
fn start_alertmanager(config: &Path, storage: &Path) -> (Killed, String) {
    let mut child = Command::new(tool_named(
        "prometheus-alertmanager",
        "prometheus-alertmanager",
    ))
    .arg(format!("--config.file={}", config.display()))
    .arg(format!("--storage.path={}", storage.display()))
    .arg("--web.listen-address=127.0.0.1:0")
    .arg(format!("--web.external-url={AM_EXTERNAL_URL}"))
    .arg("--cluster.listen-address=")
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let child = Killed(child);
    let mut seen = Vec::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "Alertmanager stopped before listening:\n{}",
                seen.join("\n")
            );
        };
        if line.contains("msg=\"Listening on\"")
            && let Some(addr) = line.split("address=").nth(1)
        {
            break addr.trim().to_owned();
        }
        seen.push(line);
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// POSTs alerts to `/api/v2/alerts` at `addr`.
fn post_alerts(client: &reqwest::blocking::Client, addr: &str, alerts: &Value) {
    let r = client
        .post(format!("http://{addr}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alerts.to_string())
        .send()
        .unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "POST /api/v2/alerts to {addr}: {status}: {}",
        r.text().unwrap_or_default()
    );
}

/// The alerts of every scenario for `integrations`, starting at `starts_at`; resolved
/// (`ParityFiring`, and `ParityGrouped` on instance c) at `ends_at` if given.
fn alerts(integrations: &[&Integration], starts_at: &str, ends_at: Option<&str>) -> Value {
    let mut out = Vec::new();
    for i in integrations {
        let alert = |name: &str, instance: &str, resolved: bool| {
            let mut a = json!({
                "labels": {"alertname": name, "integration": i.name, "severity": "critical", "instance": instance, "job": "node"},
                "annotations": {"summary": format!("{instance} is down"), "description": "It answers no scrape."},
                "startsAt": starts_at,
                "generatorURL": "http://prometheus.parity/graph?g0.expr=up%3D%3D0",
            });
            if resolved && let Some(e) = ends_at {
                a["endsAt"] = json!(e);
            }
            a
        };
        out.push(alert("ParityFiring", "a", true));
        out.push(alert("ParityRepeated", "a", false));
        for instance in ["a", "b", "c"] {
            out.push(alert("ParityGrouped", instance, instance == "c"));
        }
    }
    Value::Array(out)
}

/// The scenario alert name a delivery is about, from its path or recipient; none for a
/// GET (such as WeChat's token request).
fn scenario_of(d: &Delivery) -> Option<&'static str> {
    if d.method == "GET" {
        return None;
    }
    let at = format!("{} {:?}", d.path, d.envelope);
    ["ParityFiring", "ParityGrouped", "ParityRepeated"]
        .into_iter()
        .find(|name| at.contains(&format!("/{name}")) || at.contains(&format!("<{name}@")))
}

/// `text` with quoted-printable soft line breaks and `=XX` escapes decoded, so that mail
/// bodies compare as text.
fn unquote_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A delivery as compared: method, path, headers and body (JSON parsed, forms and mail
/// taken apart), with the fields that may differ replaced by a placeholder:
/// - headers `host`, `user-agent`, `content-length`, `accept`, `accept-encoding`,
///   `connection`, and AWS's signature headers `authorization`, `x-amz-date` (SNS only);
/// - the external URL (each system's own) wherever it occurs (query strings are
///   compared decoded);
/// - mail: the `date` and `message-id` headers, and MIME boundaries.
fn normalise(d: &Delivery, external_url: &str) -> Value {
    let body = if d.method == "SMTP" && d.body.contains("quoted-printable") {
        unquote_printable(&d.body)
    } else {
        d.body.clone()
    };
    let body = body.replace(external_url, "<externalURL>");
    let mut headers: BTreeMap<String, String> = d
        .headers
        .iter()
        .filter(|(k, _)| {
            let ignored = matches!(
                k.as_str(),
                "host"
                    | "user-agent"
                    | "content-length"
                    | "accept"
                    | "accept-encoding"
                    | "connection"
                    | "date"
                    | "message-id"
            );
            let signature =
                d.integration == "sns" && matches!(k.as_str(), "authorization" | "x-amz-date");
            !ignored && !signature
        })
        .map(|(k, v)| (k.clone(), v.replace(external_url, "<externalURL>")))
        .collect();
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let body = if d.method == "SMTP" {
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .map(|b| b.trim_matches('"').to_owned());
        if let Some(b) = boundary {
            headers.insert(
                "content-type".into(),
                content_type.replace(&b, "<boundary>"),
            );
            json!(body.replace(&b, "<boundary>"))
        } else {
            json!(body)
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let form: BTreeMap<String, String> = form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        json!(form)
    } else {
        serde_json::from_str(&body).unwrap_or(json!(body))
    };
    // A query string is compared decoded, as a map, the external URL replaced in it.
    let (path, query) = d.path.split_once('?').unwrap_or((&d.path, ""));
    let query: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.replace(external_url, "<externalURL>")))
        .collect();
    json!({
        "method": d.method,
        "path": path,
        "query": query,
        "envelope": d.envelope,
        "headers": headers,
        "body": body,
    })
}

/// The paths (`body.alerts[0].status`) where `a` and `b` differ.
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                differences(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{at}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{at}[{i}]"), out);
            }
        }
        _ if a != b => out.push(at.trim_start_matches('.').to_owned()),
        _ => {}
    }
}

/// What a table cell says of one integration and scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Equal,
    Differs(Vec<String>),
    /// Neither sent anything, as expected.
    NoneSent,
    Missing(&'static str),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Equal => write!(f, "equal"),
            Cell::NoneSent => write!(f, "equal (none sent)"),
            Cell::Differs(fields) => {
                let shown: Vec<&str> = fields.iter().take(4).map(String::as_str).collect();
                let more = fields.len().saturating_sub(4);
                write!(f, "differs in {}", shown.join(", "))?;
                if more > 0 {
                    write!(f, " (+{more})")?;
                }
                Ok(())
            }
            Cell::Missing(what) => write!(f, "{what}"),
        }
    }
}

/// Polls `f` every 50 ms until it holds or `limit` has passed; says whether it held.
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let began = Instant::now();
    loop {
        if f() {
            return true;
        }
        if began.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs every scenario for every integration with `texts`; returns the table's rows and
/// the failures.
fn run(texts: Texts) -> (Vec<(String, Vec<Cell>)>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("parity.tmpl");
    std::fs::write(&templates, TEMPLATES).unwrap();
    let capture = Capture::start(&["am", "sky"]);
    let captured: Vec<&Integration> = INTEGRATIONS.iter().collect();
    let am_config = dir.path().join("am.yml");
    std::fs::write(
        &am_config,
        config(&capture, "am", texts, &captured, &templates),
    )
    .unwrap();
    let sky_config = dir.path().join("sky.yml");
    std::fs::write(
        &sky_config,
        config(&capture, "sky", texts, &captured, &templates),
    )
    .unwrap();
    let (am, am_addr) = start_alertmanager(&am_config, &dir.path().join("am-data"));
    let (sky, sky_addr) = start_skywatch_with(
        &dir.path().join("sky-data"),
        &["--alertmanager-config".as_ref(), sky_config.as_os_str()],
    );
    let sky_url = format!("http://{sky_addr}");
    let client = reqwest::blocking::Client::new();

    // Started now, as a second: both receive exactly the same times.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rfc3339 = |secs: u64| model::format_rfc3339(i64::try_from(secs).unwrap() * 1000);
    let started = rfc3339(now);
    post_alerts(&client, &am_addr, &alerts(&captured, &started, None));
    post_alerts(&client, &sky_addr, &alerts(&captured, &started, None));

    let count = |system: &str, integration: &str, name: &str| {
        capture
            .deliveries()
            .iter()
            .filter(|d| d.system == system && d.integration == integration)
            .filter(|d| scenario_of(d) == Some(name))
            .count()
    };
    let all_have = |wanted: &[(&str, usize)], resolved_only: bool| {
        let systems: Vec<(&str, &Vec<&Integration>)> = vec![("am", &captured), ("sky", &captured)];
        systems.iter().all(|(system, list)| {
            list.iter().all(|i| {
                (resolved_only && !sends_resolved(i.name, texts))
                    || wanted
                        .iter()
                        .all(|(name, n)| count(system, i.name, name) >= *n)
            })
        })
    };
    // The first notifications, and the first repeat (2 s later), from both.
    wait_for(Duration::from_secs(20), || {
        all_have(
            &[
                ("ParityFiring", 1),
                ("ParityGrouped", 1),
                ("ParityRepeated", 2),
            ],
            false,
        )
    });
    // Then one alert resolves, and one of the group's three.
    let ended = rfc3339(now + 1);
    post_alerts(
        &client,
        &am_addr,
        &alerts(&captured, &started, Some(&ended)),
    );
    post_alerts(
        &client,
        &sky_addr,
        &alerts(&captured, &started, Some(&ended)),
    );
    let resolved_at = Instant::now();
    wait_for(Duration::from_secs(20), || {
        all_have(&[("ParityFiring", 2), ("ParityGrouped", 2)], true)
    });
    // Integrations that do not send resolved alerts must send nothing more: both systems
    // have flushed every group at least twice (1 s group interval) within 3 s.
    let waited = resolved_at.elapsed();
    if waited < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_secs(3) - waited);
    }
    let deliveries = capture.deliveries();
    drop(am);
    drop(sky);
    // `PARITY_DUMP=<integration>` prints what Alertmanager sent it, normalised: the
    // reference when an integration is being written.
    if let Ok(dump) = std::env::var("PARITY_DUMP") {
        for d in deliveries
            .iter()
            .filter(|d| d.system == "am" && d.integration == dump)
        {
            println!(
                "Alertmanager, {texts:?} texts:\n{}\n",
                serde_json::to_string_pretty(&normalise(d, AM_EXTERNAL_URL)).unwrap()
            );
        }
    }

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for i in INTEGRATIONS {
        let mut cells = Vec::new();
        for (scenario, name, nth) in SCENARIOS {
            let cell = {
                let nth_of = |system: &str| {
                    deliveries
                        .iter()
                        .filter(|d| d.system == system && d.integration == i.name)
                        .filter(|d| scenario_of(d) == Some(*name))
                        .nth(*nth)
                };
                match (nth_of("am"), nth_of("sky")) {
                    (None, None) => Cell::NoneSent,
                    (Some(_), None) => Cell::Missing("Skywatch sent nothing"),
                    (None, Some(_)) => Cell::Missing("only Skywatch sent one"),
                    (Some(a), Some(s)) => {
                        let (a, s) = (normalise(a, AM_EXTERNAL_URL), normalise(s, &sky_url));
                        let mut diff = Vec::new();
                        differences(&a, &s, "", &mut diff);
                        if diff.is_empty() {
                            Cell::Equal
                        } else {
                            let shown = format!(
                                "{} {texts:?} {scenario}: differs in {}\n--- Alertmanager\n{}\n+++ Skywatch\n{}",
                                i.name,
                                diff.join(", "),
                                serde_json::to_string_pretty(&a).unwrap(),
                                serde_json::to_string_pretty(&s).unwrap()
                            );
                            failures.push(shown);
                            Cell::Differs(diff)
                        }
                    }
                }
            };
            if let Cell::Missing(_) = cell {
                failures.push(format!("{} {texts:?} {scenario}: {cell}", i.name));
            }
            cells.push(cell);
        }
        rows.push((i.name.to_owned(), cells));
    }
    (rows, failures)
}

/// The table as Markdown.
fn table(texts: Texts, rows: &[(String, Vec<Cell>)]) -> String {
    let mut out = format!(
        "\n### {texts:?} texts\n\n| integration | {} |\n|---|{}\n",
        SCENARIOS
            .iter()
            .map(|s| s.0)
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(SCENARIOS.len())
    );
    for (name, cells) in rows {
        out.push_str(&format!(
            "| {name} | {} |\n",
            cells
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    out
}

#[test]
fn notifications_match_alertmanager_0_25() {
    let mut failures = Vec::new();
    let mut tables = String::new();
    for texts in [Texts::Default, Texts::Custom] {
        let (rows, f) = run(texts);
        tables.push_str(&table(texts, &rows));
        failures.extend(f);
    }
    println!("{tables}");
    assert!(
        failures.is_empty(),
        "{} differences from Alertmanager 0.25:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn an_incident_alertmanager_opened_is_resolved_by_skywatch() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::start(&[]);
    let config = |system: &str| {
        format!(
            "route:\n  receiver: pager\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  routes:\n    - matchers: ['team=\"db\"']\nreceivers:\n  - name: pager\n    pagerduty_configs:\n      - routing_key: cutover-key\n        url: '{}'\n",
            capture.url(system, "pagerduty")
        )
    };
    let am_config = dir.path().join("am.yml");
    std::fs::write(&am_config, config("am")).unwrap();
    let sky_config = dir.path().join("sky.yml");
    std::fs::write(&sky_config, config("sky")).unwrap();
    let client = reqwest::blocking::Client::new();
    let alert = |ends_at: Option<&str>| {
        let mut a = json!({
            "labels": {"alertname": "DiskFull", "team": "db", "instance": "db-1"},
            "annotations": {"summary": "db-1's disk is full"},
            "startsAt": "2026-01-01T00:00:00Z",
        });
        if let Some(e) = ends_at {
            a["endsAt"] = json!(e);
        }
        json!([a])
    };

    // Alertmanager opens the incident, and is stopped.
    let (am, am_addr) = start_alertmanager(&am_config, &dir.path().join("am-data"));
    post_alerts(&client, &am_addr, &alert(None));
    assert!(
        wait_for(Duration::from_secs(15), || !capture.incidents().is_empty()),
        "Alertmanager opened no incident"
    );
    drop(am);
    let opened = capture.incidents();
    let (key, incident) = opened.iter().next().unwrap();
    assert_eq!(incident.status, "triggered");

    // Skywatch takes over: the alert fires there too (PagerDuty folds the trigger into the
    // open incident, as the key is the same), then resolves.
    let (sky, sky_addr) = start_skywatch_with(
        &dir.path().join("sky-data"),
        &["--alertmanager-config".as_ref(), sky_config.as_os_str()],
    );
    post_alerts(&client, &sky_addr, &alert(None));
    assert!(
        wait_for(Duration::from_secs(15), || {
            capture
                .deliveries()
                .iter()
                .any(|d| d.system == "sky" && d.integration == "pagerduty")
        }),
        "Skywatch sent no event"
    );
    post_alerts(&client, &sky_addr, &alert(Some("2026-01-01T01:00:00Z")));
    assert!(
        wait_for(Duration::from_secs(15), || {
            capture.incidents()[key].status == "resolved"
        }),
        "Skywatch did not resolve Alertmanager's incident {key}: {:?}",
        capture.incidents()
    );
    drop(sky);
    let incidents = capture.incidents();
    assert_eq!(
        incidents.len(),
        1,
        "Skywatch opened an incident of its own instead: {incidents:?}"
    );
    assert_eq!(
        incidents[key].events.last(),
        Some(&("sky".to_owned(), "resolve".to_owned()))
    );
}
