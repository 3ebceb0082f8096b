//! Webex: a message posted to a room, as Alertmanager 0.25's `notify/webex` makes it.
//! The bot's token is `http_config.authorization`, which the integration's client adds.

use serde_json::{Map, Value, json};

use super::{Request, Texts};

/// The longest message Webex takes, in bytes.
const MAX_MESSAGE_BYTES: usize = 7439;

/// The message `w` posts to its `api_url` (`global.webex_api_url` by default): the
/// rendered text as `markdown`, cut to 7439 bytes, and `roomId`.
pub(super) fn request(w: &crate::config::WebexConfig, texts: &Texts<'_>) -> Request {
    let message = texts.or_default(w.message.as_deref(), "webex.default.message");
    let mut body = Map::new();
    body.insert(
        "markdown".into(),
        json!(truncate_bytes(&message, MAX_MESSAGE_BYTES)),
    );
    if !w.room_id.is_empty() {
        body.insert("roomId".into(), json!(w.room_id));
    }
    let url = w
        .api_url
        .as_deref()
        .unwrap_or("https://webexapis.com/v1/messages");
    Request::post_json(url, Value::Object(body))
}

/// `s` cut to `max` bytes as Alertmanager's `TruncateInBytes` cuts: whole characters
/// within `max - 3` bytes and `…` (three bytes); dots only if `max` is under 3.
fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    if max < 3 {
        return ".".repeat(max);
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{CAPTURED_TEMPLATES, captured, captured_texts};

    fn check(yaml: &str, resolved: bool, templates: Option<&str>) -> Request {
        let n = captured(yaml, usize::from(resolved));
        let texts = captured_texts(&n, templates);
        let r = request(&n.receiver.webex_configs[0], &texts);
        texts.finish().unwrap();
        r
    }

    fn body(r: &Request) -> &Value {
        match &r.body {
            super::super::Body::Json(v) => v,
            other => panic!("webex sends JSON, not {other:?}"),
        }
    }

    const DEFAULT: &str = "    webex_configs:\n      - api_url: http://cap/v1/messages\n        room_id: room1\n        http_config:\n          authorization:\n            credentials: webex-token\n";

    // Alertmanager 0.25's bodies below are those am-capture.py printed (`wx.yml`:
    // api_url '{url}/v1/messages', room_id room1, authorization credentials
    // webex-token, which it sent as `Authorization: Bearer webex-token`).
    #[test]
    fn default_texts_firing_and_resolved_are_alertmanagers() {
        let firing = check(DEFAULT, false, None);
        assert_eq!(firing.url, "http://cap/v1/messages");
        assert_eq!(firing.method, reqwest::Method::POST);
        assert!(
            firing.headers.is_empty(),
            "the token comes from http_config"
        );
        assert_eq!(
            body(&firing),
            &json!({
                "markdown": "\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\n\n",
                "roomId": "room1"
            })
        );
        assert_eq!(
            body(&check(DEFAULT, true, None)),
            &json!({
                "markdown": "\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\n\n\n",
                "roomId": "room1"
            })
        );
    }

    #[test]
    fn custom_texts_are_alertmanagers() {
        let yaml = "    webex_configs:\n      - api_url: http://cap/v1/messages\n        room_id: room1\n        message: '{{ template \"my.text\" . }}'\n        http_config:\n          authorization:\n            type: Bot\n            credentials: webex-token\n";
        assert_eq!(
            body(&check(yaml, false, Some(CAPTURED_TEMPLATES))),
            &json!({"markdown": "firing: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n", "roomId": "room1"})
        );
        assert_eq!(
            body(&check(yaml, true, Some(CAPTURED_TEMPLATES))),
            &json!({"markdown": "resolved: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n", "roomId": "room1"})
        );
    }

    #[test]
    fn long_messages_are_cut_in_bytes_as_alertmanager_cuts() {
        assert_eq!(truncate_bytes("abcdef", 6), "abcdef");
        assert_eq!(truncate_bytes("abcdefg", 6), "abc…");
        assert_eq!(truncate_bytes("aéééé", 7), "aé…", "no character is split");
        assert_eq!(truncate_bytes("abcdef", 3), "…");
        assert_eq!(truncate_bytes("abcdef", 2), "..");
        let long = "é".repeat(5000);
        let cut = truncate_bytes(&long, MAX_MESSAGE_BYTES);
        assert!(cut.len() <= MAX_MESSAGE_BYTES && cut.ends_with("é…"));
    }

    #[tokio::test]
    async fn delivered_through_the_service_with_the_token_from_its_file() {
        let (addr, mut requests) = crate::notify::testing::recorder().await;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "from-file\n").unwrap();
        let service = crate::notify::testing::service(&format!(
            "    webex_configs:\n      - api_url: http://{addr}/v1/messages\n        room_id: room1\n        http_config:\n          authorization:\n            credentials_file: {}\n",
            token.display()
        ));
        crate::notify::testing::fire_down(&service).await;
        let (path, auth, body) = requests.recv().await.unwrap();
        assert_eq!(path, "/v1/messages");
        assert_eq!(auth, "Bearer from-file");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["roomId"], "room1");
        assert!(
            body["markdown"]
                .as_str()
                .unwrap()
                .starts_with("it is down\n")
        );
        assert_eq!(service.log.query(None, 1)[0].outcome, "sent");
    }

    #[tokio::test]
    async fn a_refusal_names_webex_and_the_url() {
        let (addr, _requests) = crate::notify::testing::recorder_answering(|_| {
            (
                401,
                r#"{"message":"The request requires a valid access token"}"#.to_owned(),
            )
        })
        .await;
        let service = crate::notify::testing::service(&format!(
            "    webex_configs:\n      - api_url: http://{addr}/v1/messages\n        room_id: room1\n        http_config:\n          authorization:\n            credentials: wrong\n"
        ));
        assert_eq!(
            crate::notify::testing::outcome(&service).await,
            (
                "failed".to_owned(),
                format!(
                    "webex: http://{addr}/v1/messages answered 401 Unauthorized: {{\"message\":\"The request requires a valid access token\"}}"
                )
            )
        );
    }
}
