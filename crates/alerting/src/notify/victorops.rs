//! VictorOps (Splunk On-Call): the REST endpoint's event, as Alertmanager's
//! `notify/victorops` makes it. The incident is the group: `entity_id` is the group key's
//! SHA-256, so an incident Alertmanager opened, Skywatch recovers.

use serde_json::{Value, json};

use super::{Request, Texts, go_path_escape, group_key_hash, secret, truncate_runes};
use crate::dispatch::Notification;

/// VictorOps's limit on `state_message`, in characters.
const MAX_STATE_MESSAGE: usize = 20480;

/// The event `v` posts for `n` to `{api_url}{api_key}/{routing_key}`: the API key as
/// given (or read from its file), the routing key rendered, both escaped as Go escapes
/// a URL's path.
pub(super) fn request(
    n: &Notification,
    v: &crate::config::VictorOpsConfig,
    texts: &Texts<'_>,
) -> Result<Request, String> {
    let api_key = secret(&v.api_key, &v.api_key_file)?;
    let routing_key = texts.text(&v.routing_key);
    // Set after parsing: the configured URL or the global one, ending in `/`.
    let api = v
        .api_url
        .as_deref()
        .unwrap_or("https://alert.victorops.com/integrations/generic/20131114/alert/");
    let url = format!(
        "{api}{}/{}",
        go_path_escape(&api_key),
        go_path_escape(&routing_key)
    );
    Ok(Request::post_json(url, json(n, v, texts)))
}

/// The event: `message_type` `RECOVERY` when every alert is resolved, else the configured
/// type if it renders to `INFO`, `WARNING` or `CRITICAL`, else `CRITICAL`; the texts
/// rendered (Alertmanager's defaults where not configured) and the custom fields beside.
fn json(n: &Notification, v: &crate::config::VictorOpsConfig, texts: &Texts<'_>) -> Value {
    let message_type = texts.text(v.message_type.as_deref().unwrap_or("CRITICAL"));
    let message_type = match message_type.as_str() {
        _ if n.firing() == 0 => "RECOVERY",
        kind @ ("INFO" | "WARNING" | "CRITICAL") => kind,
        _ => "CRITICAL",
    };
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let mut event = serde_json::Map::new();
    event.insert("message_type".into(), json!(message_type));
    event.insert("entity_id".into(), json!(group_key_hash(&n.group_key)));
    event.insert(
        "entity_display_name".into(),
        json!(field(
            &v.entity_display_name,
            "victorops.default.entity_display_name"
        )),
    );
    event.insert(
        "state_message".into(),
        json!(truncate_runes(
            &field(&v.state_message, "victorops.default.state_message"),
            MAX_STATE_MESSAGE
        )),
    );
    event.insert(
        "monitoring_tool".into(),
        json!(field(
            &v.monitoring_tool,
            "victorops.default.monitoring_tool"
        )),
    );
    for (k, value) in &v.custom_fields {
        event.insert(k.clone(), json!(texts.text(value)));
    }
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Body;
    use crate::notify::testing::{CAPTURE_URL, captured, texts_at};

    /// What `v` (receiver YAML) sends in am-capture.py's scenario (`resolved` of its two
    /// alerts resolved): the URL and the JSON body.
    fn sent(yaml: &str, resolved: usize) -> (String, Value) {
        let n = captured(yaml, resolved);
        let texts = texts_at(&n, CAPTURE_URL);
        let r = request(&n, &n.receiver.victorops_configs[0], &texts).unwrap();
        texts.finish().unwrap();
        assert!(r.headers.is_empty(), "{:?}", r.headers);
        let Body::Json(body) = r.body else {
            panic!("{:?} is not JSON", r.body)
        };
        (r.url, body)
    }

    /// Alertmanager's entity for the group `{}:{alertname="Down"}`.
    const ENTITY: &str = "af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e";

    // The expected events below are what Alertmanager 0.25 sent for the same receiver
    // (am-capture.py, `--resolve`, and `--resolve-all` resolving both alerts), but for
    // the capture server's address.

    #[test]
    fn default_texts_trigger_and_recover_the_groups_entity() {
        let yaml = "    victorops_configs:\n      - api_key: k\n        api_url: 'http://x/capture/'\n        routing_key: team\n";
        let event = |kind: &str, name: &str, state: &str| {
            (
                "http://x/capture/k/team".to_owned(),
                json!({
                    "entity_display_name": name,
                    "entity_id": ENTITY,
                    "message_type": kind,
                    "monitoring_tool": "Alertmanager",
                    "state_message": state,
                }),
            )
        };
        assert_eq!(
            sent(yaml, 0),
            event(
                "CRITICAL",
                "[FIRING:2] Down (critical)",
                "\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n"
            )
        );
        assert_eq!(
            sent(yaml, 2),
            event(
                "RECOVERY",
                "[RESOLVED] Down (critical)",
                "\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n"
            )
        );
    }

    #[test]
    fn configured_texts_custom_fields_and_an_unknown_type_are_alertmanagers() {
        let yaml = r#"    victorops_configs:
      - api_key: 'k y'
        api_url: 'http://x/capture/'
        routing_key: 'team-{{ .GroupLabels.alertname }}'
        message_type: '{{ if eq .Status "firing" }}warning{{ end }}'
        state_message: 'state {{ .Status }}'
        entity_display_name: 'name {{ .Status }}'
        monitoring_tool: 'tool'
        custom_fields:
          extra: 'x {{ .Status }}'
          other: plain
"#;
        let event = |kind: &str, status: &str| {
            (
                "http://x/capture/k%20y/team-Down".to_owned(),
                json!({
                    "entity_display_name": format!("name {status}"),
                    "entity_id": ENTITY,
                    "extra": format!("x {status}"),
                    "message_type": kind,
                    "monitoring_tool": "tool",
                    "other": "plain",
                    "state_message": format!("state {status}"),
                }),
            )
        };
        // `warning` is no type VictorOps knows (its types are upper case): CRITICAL.
        assert_eq!(sent(yaml, 1), event("CRITICAL", "firing"));
        assert_eq!(sent(yaml, 2), event("RECOVERY", "resolved"));
        let known = yaml.replace("warning", "WARNING");
        assert_eq!(sent(&known, 0).1["message_type"], "WARNING");
    }

    #[test]
    fn keys_are_escaped_as_go_escapes_a_path() {
        // Captured too: Alertmanager posted to `/capture/a/b%3Fc/r:%C3%A9%25`.
        let yaml = "    victorops_configs:\n      - api_key: 'a/b?c'\n        api_url: 'http://x/'\n        routing_key: 'r:é%'\n";
        assert_eq!(sent(yaml, 0).0, "http://x/a/b%3Fc/r:%C3%A9%25");
    }

    #[tokio::test]
    async fn delivered_with_the_key_from_its_file_and_failures_name_victorops() {
        let (addr, mut seen) = crate::notify::testing::recorder().await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "from-file\n").unwrap();
        let yaml = format!(
            "    victorops_configs:\n      - api_key_file: {}\n        api_url: 'http://{addr}/vo'\n        routing_key: team\n",
            key.display()
        );
        let service = crate::notify::testing::service(&yaml);
        assert_eq!(crate::notify::testing::fire_down(&service).await, 1);
        let (path, auth, body) = seen.recv().await.unwrap();
        assert_eq!((path.as_str(), auth.as_str()), ("/vo/from-file/team", ""));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["entity_display_name"], "[FIRING:1] Down ");
        assert_eq!(
            body["state_message"],
            "it is down\nAlerts Firing:\nLabels:\n - alertname = Down\nAnnotations:\n - summary = it is down\nSource: \n\n"
        );
        assert_eq!(service.log.query(None, 1)[0].outcome, "sent");

        let (failing, error) = crate::notify::testing::failure(400, |a| {
            format!("    victorops_configs:\n      - api_key: k\n        api_url: 'http://{a}/'\n        routing_key: team\n")
        })
        .await;
        let expected = format!("victorops: http://{failing}/k/team answered 400");
        assert!(error.starts_with(&expected), "{error}");
    }
}
