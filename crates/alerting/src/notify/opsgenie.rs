//! Opsgenie: the Alert API v2 requests Alertmanager's `notify/opsgenie` makes. A firing
//! group creates (or, Opsgenie deduplicating by alias, updates) an alert whose alias is the
//! group key's SHA-256; with `update_alerts` its message and description are then set
//! too; a resolved group closes the alert by that alias. So an alert Alertmanager opened,
//! Skywatch closes.

use serde_json::{Value, json};

use super::{Request, Texts, group_key_hash, secret, truncate_runes};
use crate::dispatch::Notification;

/// Opsgenie's limit on an alert's message, in characters.
const MAX_MESSAGE: usize = 130;

/// The requests `o` makes for `n`, each with header `Authorization: GenieKey {key}`, the
/// key (read from its file if given so) rendered as a template as Alertmanager renders it.
pub(super) fn requests(
    n: &Notification,
    o: &crate::config::OpsgenieConfig,
    texts: &Texts<'_>,
) -> Result<Vec<Request>, String> {
    let alias = group_key_hash(&n.group_key);
    // Set after parsing: the configured URL or the global one, ending in `/`.
    let api = o.api_url.as_deref().unwrap_or("https://api.opsgenie.com/");
    let alert = format!("{api}v2/alerts/{alias}");
    let source = texts.or_default(o.source.as_deref(), "opsgenie.default.source");
    let mut requests = if n.firing() == 0 {
        vec![Request::post_json(
            format!("{alert}/close?identifierType=alias"),
            json!({ "source": source }),
        )]
    } else {
        let create = create(o, texts, &alias, source);
        let mut requests = Vec::new();
        if o.update_alerts {
            // Go's `omitempty`: an empty message or description is sent as `{}`.
            let only = |key: &str| match create.get(key) {
                Some(v) if v != "" => json!({ key: v }),
                _ => json!({}),
            };
            for key in ["message", "description"] {
                requests.push(Request {
                    method: reqwest::Method::PUT,
                    ..Request::post_json(format!("{alert}/{key}?identifierType=alias"), only(key))
                });
            }
        }
        requests.insert(0, Request::post_json(format!("{api}v2/alerts"), create));
        requests
    };
    let key = texts.text(&secret(&o.api_key, &o.api_key_file)?);
    for r in &mut requests {
        r.headers
            .push(("Authorization".into(), format!("GenieKey {key}")));
    }
    Ok(requests)
}

/// The body that creates the alert: the common labels as details under the configured
/// ones, responders (a `teams` responder split into one `team` per name), tags and
/// actions split at commas, and the optional keys left out when they render empty, as
/// Go's `omitempty` leaves them out.
fn create(
    o: &crate::config::OpsgenieConfig,
    texts: &Texts<'_>,
    alias: &str,
    source: String,
) -> Value {
    let text = |t: &Option<String>| texts.text(t.as_deref().unwrap_or_default());
    let mut details = texts.common_labels().clone();
    for (k, v) in &o.details {
        details.insert(k.clone(), texts.text(v));
    }
    let mut body = serde_json::Map::new();
    body.insert("alias".into(), json!(alias));
    body.insert(
        "message".into(),
        json!(truncate_runes(
            &texts.or_default(o.message.as_deref(), "opsgenie.default.message"),
            MAX_MESSAGE
        )),
    );
    let description = texts.or_default(o.description.as_deref(), "opsgenie.default.description");
    if !description.is_empty() {
        body.insert("description".into(), json!(description));
    }
    body.insert("details".into(), json!(details));
    body.insert("source".into(), json!(source));
    let responders: Vec<Value> = o
        .responders
        .iter()
        .flat_map(|r| responders(r, texts))
        .collect();
    if !responders.is_empty() {
        body.insert("responders".into(), json!(responders));
    }
    for (key, value) in [
        ("tags", json!(split(&text(&o.tags)))),
        ("note", json!(text(&o.note))),
        ("priority", json!(text(&o.priority))),
        ("entity", json!(text(&o.entity))),
        ("actions", json!(split(&text(&o.actions)))),
    ] {
        if value != "" && value != json!([]) {
            body.insert(key.into(), value);
        }
    }
    Value::Object(body)
}

/// The responders one configured responder gives: none if all its fields render empty
/// (responders filled from labels that are absent), one `team` per comma-separated name
/// (each rendered again, as Alertmanager does) for type `teams`, else itself. The type
/// is sent as configured: Alertmanager checks it lowercased but sends it unchanged.
fn responders(r: &crate::config::OpsgenieResponder, texts: &Texts<'_>) -> Vec<Value> {
    let [id, name, username, kind] = [&r.id, &r.name, &r.username, &r.type_].map(|t| texts.text(t));
    if [&id, &name, &username, &kind].iter().all(|s| s.is_empty()) {
        return Vec::new();
    }
    if kind == "teams" {
        return split(&name)
            .iter()
            .map(|team| json!({"name": texts.text(team), "type": texts.text("team")}))
            .collect();
    }
    let mut responder = serde_json::Map::new();
    for (key, value) in [("id", id), ("name", name), ("username", username)] {
        if !value.is_empty() {
            responder.insert(key.into(), json!(value));
        }
    }
    responder.insert("type".into(), json!(kind));
    vec![Value::Object(responder)]
}

/// `s` trimmed and split at commas, empty parts dropped (the parts keep their own
/// spaces): Alertmanager's `safeSplit`.
fn split(s: &str) -> Vec<String> {
    s.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Body;
    use crate::notify::testing::{CAPTURE_URL, captured, texts_at};

    /// A request's method, URL, own headers and JSON body.
    type Sent = (String, String, Vec<(String, String)>, Value);

    /// What `o` (receiver YAML) sends in am-capture.py's scenario (`resolved` of its two
    /// alerts resolved): each request's method, URL, own headers and JSON body.
    fn sent(yaml: &str, resolved: usize) -> Vec<Sent> {
        let n = captured(yaml, resolved);
        let texts = texts_at(&n, CAPTURE_URL);
        let requests = requests(&n, &n.receiver.opsgenie_configs[0], &texts).unwrap();
        texts.finish().unwrap();
        requests
            .into_iter()
            .map(|r| {
                let Body::Json(body) = r.body else {
                    panic!("{:?} is not JSON", r.body)
                };
                (r.method.to_string(), r.url, r.headers, body)
            })
            .collect()
    }

    /// Alertmanager's alias for the group `{}:{alertname="Down"}`.
    const ALIAS: &str = "af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e";

    fn genie_key(key: &str) -> Vec<(String, String)> {
        vec![("Authorization".into(), format!("GenieKey {key}"))]
    }

    // The expected requests below are what Alertmanager 0.25 sent for the same receiver
    // (am-capture.py, `--resolve`, and `--resolve-all` resolving both alerts), but for
    // the capture server's address.

    #[test]
    fn default_texts_create_then_close_the_alert_by_alias() {
        let yaml =
            "    opsgenie_configs:\n      - api_key: k\n        api_url: 'http://x/capture/'\n";
        let source = "http://alertmanager.example/#/alerts?receiver=r";
        let create = |message: &str, description: &str| {
            vec![(
                "POST".to_owned(),
                "http://x/capture/v2/alerts".to_owned(),
                genie_key("k"),
                json!({
                    "alias": ALIAS,
                    "message": message,
                    "description": description,
                    "details": {"alertname": "Down", "severity": "critical"},
                    "source": source,
                }),
            )]
        };
        assert_eq!(
            sent(yaml, 0),
            create(
                "[FIRING:2] Down (critical)",
                "\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n"
            )
        );
        assert_eq!(
            sent(yaml, 1),
            create(
                "[FIRING:1] Down (critical)",
                "\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\n"
            )
        );
        assert_eq!(
            sent(yaml, 2),
            vec![(
                "POST".to_owned(),
                format!("http://x/capture/v2/alerts/{ALIAS}/close?identifierType=alias"),
                genie_key("k"),
                json!({"source": source}),
            )]
        );
    }

    #[test]
    fn configured_texts_responders_tags_and_updates_are_alertmanagers() {
        let yaml = r#"    opsgenie_configs:
      - api_key: '{{ .GroupLabels.alertname }}-key'
        api_url: 'http://x/capture/'
        message: '{{ .CommonLabels.alertname }} message that is long enough to be cut at one hundred and thirty runes by Alertmanager, so it needs more and more and more and more words, éé and more'
        description: 'desc {{ .Status }}'
        source: 'src {{ .Receiver }}'
        details:
          team: 'db {{ .Status }}'
          alertname: overridden
        entity: 'ent {{ .GroupLabels.alertname }}'
        responders:
          - name: 'a, b,,c '
            type: teams
          - id: '{{ .CommonLabels.nothing }}'
            type: '{{ .CommonLabels.nothing }}'
          - username: joe
            type: User
          - id: abc
            type: escalation
        actions: ' x, y,,z '
        tags: 'one, two ,three'
        note: 'note {{ .Status }}'
        priority: P2
        update_alerts: true
"#;
        let message = "Down message that is long enough to be cut at one hundred and thirty runes by Alertmanager, so it needs more and more and more an…";
        let update = |what: &str, body: Value| {
            (
                "PUT".to_owned(),
                format!("http://x/capture/v2/alerts/{ALIAS}/{what}?identifierType=alias"),
                genie_key("Down-key"),
                body,
            )
        };
        assert_eq!(
            sent(yaml, 0),
            vec![
                (
                    "POST".to_owned(),
                    "http://x/capture/v2/alerts".to_owned(),
                    genie_key("Down-key"),
                    json!({
                        "alias": ALIAS,
                        "message": message,
                        "description": "desc firing",
                        "details": {"alertname": "overridden", "severity": "critical", "team": "db firing"},
                        "source": "src r",
                        "responders": [
                            {"name": "a", "type": "team"},
                            {"name": " b", "type": "team"},
                            {"name": "c", "type": "team"},
                            {"username": "joe", "type": "User"},
                            {"id": "abc", "type": "escalation"},
                        ],
                        "tags": ["one", " two ", "three"],
                        "note": "note firing",
                        "priority": "P2",
                        "entity": "ent Down",
                        "actions": ["x", " y", "z"],
                    }),
                ),
                update("message", json!({"message": message})),
                update("description", json!({"description": "desc firing"})),
            ]
        );
        assert_eq!(
            sent(yaml, 2),
            vec![(
                "POST".to_owned(),
                format!("http://x/capture/v2/alerts/{ALIAS}/close?identifierType=alias"),
                genie_key("Down-key"),
                json!({"source": "src r"}),
            )]
        );
    }

    #[test]
    fn empty_texts_are_left_out_as_go_leaves_them_out() {
        // Not captured: Go's `omitempty` on description, and `{}` for an empty update.
        let yaml = "    opsgenie_configs:\n      - api_key: k\n        api_url: 'http://x/'\n        description: ''\n        update_alerts: true\n";
        let sent = sent(yaml, 0);
        assert_eq!(sent[0].3.get("description"), None);
        assert_eq!(sent[2].3, json!({}));
    }

    #[tokio::test]
    async fn delivered_with_the_key_from_its_file_and_failures_name_opsgenie() {
        let (addr, mut seen) = crate::notify::testing::recorder().await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "from-file\n").unwrap();
        let yaml = format!(
            "    opsgenie_configs:\n      - api_key_file: {}\n        api_url: 'http://{addr}/og'\n        update_alerts: true\n",
            key.display()
        );
        let service = crate::notify::testing::service(&yaml);
        assert_eq!(crate::notify::testing::fire_down(&service).await, 1);
        let alias = seen.recv().await.unwrap();
        assert_eq!(alias.0, "/og/v2/alerts");
        assert_eq!(alias.1, "GenieKey from-file");
        let body: Value = serde_json::from_str(&alias.2).unwrap();
        assert_eq!(body["message"], "[FIRING:1] Down ");
        assert_eq!(body["details"], json!({"alertname": "Down"}));
        let message = seen.recv().await.unwrap();
        assert_eq!(
            (message.0.as_str(), message.1.as_str()),
            (
                &*format!(
                    "/og/v2/alerts/{}/message?identifierType=alias",
                    body["alias"].as_str().unwrap()
                ),
                "GenieKey from-file"
            )
        );
        assert!(
            seen.recv()
                .await
                .unwrap()
                .0
                .ends_with("/description?identifierType=alias")
        );
        assert_eq!(service.log.query(None, 1)[0].outcome, "sent");

        let (failing, error) = crate::notify::testing::failure(503, |a| {
            format!("    opsgenie_configs:\n      - api_key: k\n        api_url: 'http://{a}/'\n")
        })
        .await;
        let expected = format!("opsgenie: http://{failing}/v2/alerts answered 503");
        assert!(error.starts_with(&expected), "{error}");
    }
}
