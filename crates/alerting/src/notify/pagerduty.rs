//! PagerDuty: an Events API v2 event, as Alertmanager's `notify/pagerduty` makes it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Request, Texts, group_key_hash, secret, truncate_runes};
use crate::dispatch::Notification;

/// Where Events API v1 events go: Alertmanager posts them there whatever `url` says.
const EVENTS_V1: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";

/// The event `p` sends for `n`: Events API v2 to `url` (else `global.pagerduty_url`),
/// or, with a `service_key`, Events API v1; the key read from its file if given so.
pub(super) fn request(
    n: &Notification,
    p: &crate::config::PagerdutyConfig,
    global: &crate::config::Global,
    texts: &Texts<'_>,
) -> Result<Request, String> {
    let service_key = secret(&p.service_key, &p.service_key_file)?;
    if !service_key.is_empty() {
        let body = json_v1(n, p, &texts.text(&service_key), texts);
        return Ok(Request::post_json(EVENTS_V1, body));
    }
    let routing_key = texts.text(&secret(&p.routing_key, &p.routing_key_file)?);
    if routing_key.is_empty() {
        return Err("pagerduty: routing key cannot be empty".into());
    }
    let url = p
        .url
        .clone()
        .or_else(|| global.pagerduty_url.clone())
        .unwrap_or_else(|| crate::config::PAGERDUTY_URL.into());
    Ok(Request::post_json(url, json(n, p, &routing_key, texts)))
}

/// The details of `p`'s events: Alertmanager's `firing`, `resolved`, `num_firing` and
/// `num_resolved` beside (or replaced by) the configured ones, rendered.
fn details(
    p: &crate::config::PagerdutyConfig,
    texts: &Texts<'_>,
) -> serde_json::Map<String, Value> {
    let mut details: BTreeMap<String, String> = [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    details.extend(p.details.clone());
    details
        .iter()
        .map(|(k, v)| (k.clone(), json!(texts.text(v))))
        .collect()
}

/// An Events API v1 event as Alertmanager sends one: `incident_key` the group key's
/// SHA-256, the client only when triggering, and Go's empty `event_action` and null
/// `payload` beside.
fn json_v1(
    n: &Notification,
    p: &crate::config::PagerdutyConfig,
    service_key: &str,
    texts: &Texts<'_>,
) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let firing = n.alerts.iter().any(|a| !a.resolved(n.at));
    let mut event = serde_json::Map::new();
    event.insert("service_key".into(), json!(service_key));
    event.insert("incident_key".into(), json!(group_key_hash(&n.group_key)));
    event.insert(
        "event_type".into(),
        json!(if firing { "trigger" } else { "resolve" }),
    );
    let description = truncate_runes(
        &field(&p.description, "pagerduty.default.description"),
        1024,
    );
    if !description.is_empty() {
        event.insert("description".into(), json!(description));
    }
    event.insert("event_action".into(), json!(""));
    event.insert("payload".into(), Value::Null);
    if firing {
        for (key, value) in [
            ("client", field(&p.client, "pagerduty.default.client")),
            (
                "client_url",
                field(&p.client_url, "pagerduty.default.clientURL"),
            ),
        ] {
            if !value.is_empty() {
                event.insert(key.into(), json!(value));
            }
        }
    }
    let details = details(p, texts);
    if !details.is_empty() {
        event.insert("details".into(), Value::Object(details));
    }
    Value::Object(event)
}

/// PagerDuty's Events API v2 event as Alertmanager sends it: `dedup_key` the SHA-256 of
/// the group key, severity `error` unless configured, the summary, client and details
/// rendered (Alertmanager's default texts where not configured; the default details
/// `firing`, `resolved`, `num_firing` and `num_resolved` beside the configured ones).
fn json(
    n: &Notification,
    p: &crate::config::PagerdutyConfig,
    routing_key: &str,
    texts: &Texts<'_>,
) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let plain = |text: &Option<String>| text.as_deref().map(|t| texts.text(t)).unwrap_or_default();
    let firing = n.alerts.iter().any(|a| !a.resolved(n.at));
    let details = details(p, texts);
    let client = field(&p.client, "pagerduty.default.client");
    let source = match &p.source {
        Some(s) => texts.text(s),
        None => client.clone(),
    };
    let severity = match p.severity.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => texts.text(s),
        None => "error".into(),
    };
    let mut payload = serde_json::Map::new();
    payload.insert(
        "summary".into(),
        json!(truncate_runes(
            &field(&p.description, "pagerduty.default.description"),
            1024
        )),
    );
    payload.insert("source".into(), json!(source));
    payload.insert("severity".into(), json!(severity));
    payload.insert("custom_details".into(), Value::Object(details));
    for (key, value) in [
        ("class", plain(&p.class)),
        ("component", plain(&p.component)),
        ("group", plain(&p.group)),
    ] {
        if !value.is_empty() {
            payload.insert(key.into(), json!(value));
        }
    }
    let mut event = serde_json::Map::new();
    event.insert("routing_key".into(), json!(routing_key));
    event.insert("dedup_key".into(), json!(group_key_hash(&n.group_key)));
    event.insert(
        "event_action".into(),
        json!(if firing { "trigger" } else { "resolve" }),
    );
    event.insert("payload".into(), Value::Object(payload));
    let images: Vec<Value> = p
        .images
        .iter()
        .map(|i| json!({"src": texts.text(&i.src), "alt": texts.text(&i.alt), "href": texts.text(&i.href)}))
        .filter(|i| i["src"] != "")
        .collect();
    if !images.is_empty() {
        event.insert("images".into(), json!(images));
    }
    let links: Vec<Value> = p
        .links
        .iter()
        .map(|l| json!({"href": texts.text(&l.href), "text": texts.text(&l.text)}))
        .filter(|l| l["href"] != "")
        .collect();
    if !links.is_empty() {
        event.insert("links".into(), json!(links));
    }
    event.insert("client".into(), json!(client));
    event.insert(
        "client_url".into(),
        json!(field(&p.client_url, "pagerduty.default.clientURL")),
    );
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{notifications, texts};

    #[test]
    fn pagerduty_gets_alertmanagers_event_and_dedup_key() {
        let config = "    pagerduty_configs:\n      - routing_key: k\n        url: http://x/pd\n";
        let n = &notifications(config, false)[0];
        let p = n.receiver.pagerduty_configs[0].clone();
        // sha256("{}:{alertname=\"Down\"}"): the key Alertmanager gives the group.
        let key = "af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e";
        assert_eq!(
            json(n, &p, "k", &texts(n)),
            json!({
                "routing_key": "k",
                "dedup_key": key,
                "event_action": "trigger",
                "payload": {
                    "summary": "[FIRING:1] Down (n1)",
                    "source": "Alertmanager",
                    "severity": "error",
                    "custom_details": {
                        "firing": "Labels:\n - alertname = Down\n - node = n1\nAnnotations:\n - summary = it is down\nSource: http://prom/graph\n",
                        "resolved": "",
                        "num_firing": "1",
                        "num_resolved": "0",
                    },
                },
                "client": "Alertmanager",
                "client_url": "http://sky/#/alerts?receiver=team",
            })
        );
        let n = &notifications(config, true)[0];
        let body = json(n, &p, "k", &texts(n));
        assert_eq!(body["event_action"], "resolve");
        assert_eq!(body["dedup_key"], key);
        assert_eq!(body["payload"]["summary"], "[RESOLVED] Down (n1)");
        assert_eq!(body["payload"]["custom_details"]["num_resolved"], "1");
    }
}
