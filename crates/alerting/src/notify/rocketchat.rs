//! Rocket.Chat: `chat.postMessage` given one attachment, as the newest Alertmanager's
//! `notify/rocketchat` makes it (the integration is newer than Alertmanager 0.25).
//!
//! Rocket.Chat may answer a refused message with 200 and `"success": false`, so the
//! message is an exchange whose answer is read: anything but `"success": true` in JSON
//! fails the delivery, as it fails Alertmanager's.

use serde_json::{Value, json};

use super::{Payload, Request, Texts, Then, join_path, secret, truncate_runes};

/// `c`'s message, to `api/v1/chat.postMessage` under its `api_url`, with the user's
/// token and id (read now from their files if given so) in `X-Auth-Token` and
/// `X-User-Id`.
pub(super) fn payload(
    c: &crate::config::RocketchatConfig,
    texts: &Texts<'_>,
) -> Result<Payload, String> {
    let token = secret(&c.token, &c.token_file)?;
    let token_id = secret(&c.token_id, &c.token_id_file)?;
    let base = c.api_url.as_deref().unwrap_or("https://open.rocket.chat/");
    let url = join_path(base, "api/v1/chat.postMessage")?;
    let body = json(c, texts);
    let channel = body["channel"].as_str().unwrap_or_default().to_owned();
    let request = Request::post_json(url, body)
        .header("X-Auth-Token", token)
        .header("X-User-Id", token_id);
    let then = Then::new(
        "the answer must be JSON with \"success\": true",
        move |answer| check(&channel, answer).map(|()| Payload::Http(Vec::new())),
    );
    Ok(Payload::Exchange(Box::new(request), then))
}

/// Rocket.Chat's verdict on a message to `channel`: its answer `{"success": true}`, or
/// the error it gives.
fn check(channel: &str, answer: &str) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        success: bool,
        #[serde(default)]
        error: String,
    }
    let answer: Answer = serde_json::from_str(answer).map_err(|e| {
        format!("channel {channel:?}: could not unmarshal JSON response {answer:?}: {e}")
    })?;
    if answer.success {
        Ok(())
    } else {
        Err(format!(
            "channel {channel:?}: error response from Rocketchat: {}",
            answer.error
        ))
    }
}

/// The message as Alertmanager sends it: empty texts left out (Go's `omitempty`),
/// fields always saying whether they are short, buttons always saying they are
/// neither web views nor messages in the chat window.
fn json(c: &crate::config::RocketchatConfig, texts: &Texts<'_>) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let plain = |text: &Option<String>| text.as_deref().map(|t| texts.text(t)).unwrap_or_default();
    let color = match &c.color {
        Some(color) => texts.text(color),
        None => texts.text(r#"{{ if eq .Status "firing" }}red{{ else }}green{{ end }}"#),
    };
    let mut attachment = non_empty([
        (
            "title",
            truncate_runes(&field(&c.title, "rocketchat.default.title"), 1024),
        ),
        (
            "title_link",
            field(&c.title_link, "rocketchat.default.titlelink"),
        ),
        ("text", field(&c.text, "rocketchat.default.text")),
        ("image_url", plain(&c.image_url)),
        ("thumb_url", plain(&c.thumb_url)),
        ("color", color),
    ]);
    if !c.fields.is_empty() {
        let fields: Vec<Value> = c
            .fields
            .iter()
            .map(|f| {
                let mut out = non_empty([
                    ("title", texts.text(&f.title)),
                    ("value", texts.text(&f.value)),
                ]);
                out.insert("short".into(), json!(f.short.unwrap_or(c.short_fields)));
                Value::Object(out)
            })
            .collect();
        attachment.insert("fields".into(), json!(fields));
    }
    if !c.actions.is_empty() {
        let actions: Vec<Value> = c
            .actions
            .iter()
            .map(|a| {
                // Only buttons exist; a configured `type` is ignored.
                let mut out = non_empty([
                    ("type", "button".to_owned()),
                    ("text", texts.text(&a.text)),
                    ("url", texts.text(&a.url)),
                    ("msg", texts.text(&a.msg)),
                ]);
                out.insert("is_webview".into(), json!(false));
                out.insert("msg_in_chat_window".into(), json!(false));
                Value::Object(out)
            })
            .collect();
        attachment.insert("actions".into(), json!(actions));
    }
    let mut body = non_empty([
        ("channel", plain(&c.channel)),
        ("emoji", field(&c.emoji, "rocketchat.default.emoji")),
        ("avatar", field(&c.icon_url, "rocketchat.default.iconurl")),
    ]);
    body.insert("attachments".into(), json!([attachment]));
    Value::Object(body)
}

/// The pairs whose value is not empty, as a JSON object.
fn non_empty<const N: usize>(pairs: [(&str, String); N]) -> serde_json::Map<String, Value> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{self, notifications, texts};

    /// `receiver`'s request for alert `Down` firing (or resolved), checked to go to
    /// `http://x/api/v1/chat.postMessage` with tokens `t` and `id`; its body.
    fn body(receiver: &str, resolved: bool) -> Value {
        let notes = notifications(receiver, resolved);
        let n = notes.last().unwrap();
        let texts = texts(n);
        let payload = payload(&n.receiver.rocketchat_configs[0], &texts).unwrap();
        texts.finish().unwrap();
        let Payload::Exchange(r, _) = payload else {
            panic!("{payload:?}")
        };
        assert_eq!(r.url, "http://x/api/v1/chat.postMessage");
        assert_eq!(
            r.headers,
            [
                ("X-Auth-Token".to_owned(), "t".to_owned()),
                ("X-User-Id".to_owned(), "id".to_owned())
            ]
        );
        match r.body {
            crate::notify::Body::Json(body) => body,
            other => panic!("{other:?}"),
        }
    }

    const DEFAULT: &str = "    rocketchat_configs:\n      - api_url: http://x\n        token: t\n        token_id: id\n        send_resolved: true\n";

    #[test]
    fn rocketchat_gets_alertmanagers_attachment() {
        assert_eq!(
            body(DEFAULT, false),
            json!({"attachments": [{
                "title": "[FIRING:1] Down (n1)",
                "title_link": "http://sky/#/alerts?receiver=team",
                "color": "red",
            }]})
        );
        assert_eq!(
            body(DEFAULT, true),
            json!({"attachments": [{
                "title": "[RESOLVED] Down (n1)",
                "title_link": "http://sky/#/alerts?receiver=team",
                "color": "green",
            }]})
        );
    }

    #[test]
    fn rocketchat_texts_fields_and_buttons_can_be_configured() {
        let receiver = format!(
            "{DEFAULT}        channel: '#ops'\n        emoji: ':fire:'\n        icon_url: http://x/i.png\n        title: '{{{{ .Status }}}}'\n        title_link: ''\n        text: '{{{{ .CommonAnnotations.summary }}}}'\n        color: '#ff0000'\n        image_url: http://x/img.png\n        thumb_url: http://x/thumb.png\n        short_fields: true\n        link_names: true\n        fields:\n          - title: node\n            value: '{{{{ .CommonLabels.node }}}}'\n          - title: long\n            short: false\n          - value: v\n        actions:\n          - type: menu\n            text: Silence\n            url: 'http://sky/#/silences/new'\n          - text: Ack\n            msg: ack\n"
        );
        assert_eq!(
            body(&receiver, true),
            json!({
                "channel": "#ops",
                "emoji": ":fire:",
                "avatar": "http://x/i.png",
                "attachments": [{
                    "title": "resolved",
                    "text": "it is down",
                    "image_url": "http://x/img.png",
                    "thumb_url": "http://x/thumb.png",
                    "color": "#ff0000",
                    "fields": [
                        {"title": "node", "value": "n1", "short": true},
                        {"title": "long", "short": false},
                        {"value": "v", "short": true},
                    ],
                    "actions": [
                        {"type": "button", "text": "Silence", "url": "http://sky/#/silences/new", "is_webview": false, "msg_in_chat_window": false},
                        {"type": "button", "text": "Ack", "msg": "ack", "is_webview": false, "msg_in_chat_window": false},
                    ],
                }],
            })
        );
    }

    #[test]
    fn rocketchat_answers_are_read() {
        assert_eq!(check("#ops", r#"{"success":true,"message":{}}"#), Ok(()));
        assert_eq!(
            check("#ops", r#"{"success":false,"error":"error-not-allowed"}"#),
            Err(r##"channel "#ops": error response from Rocketchat: error-not-allowed"##.into())
        );
        assert!(
            check("", "ok")
                .unwrap_err()
                .starts_with(r#"channel "": could not unmarshal JSON response "ok": "#)
        );
    }

    #[tokio::test]
    async fn rocketchat_is_sent_with_the_tokens_from_their_files() {
        let (addr, mut received) = testing::fake(|r| {
            let ok = r.header("x-auth-token") == "secret" && r.header("x-user-id") == "me";
            (200, format!(r#"{{"success":{ok}}}"#))
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (token, id) = (dir.path().join("token"), dir.path().join("id"));
        std::fs::write(&token, "secret\n").unwrap();
        std::fs::write(&id, "me\n").unwrap();
        let service = testing::service(&format!(
            "    rocketchat_configs:\n      - api_url: http://{addr}/chat/\n        token_file: {}\n        token_id_file: {}\n        channel: '#ops'\n",
            token.display(),
            id.display()
        ));
        let outcome = testing::outcome(&service).await;
        let r = received.recv().await.unwrap();
        assert_eq!(
            (r.method.as_str(), r.uri.as_str()),
            ("POST", "/chat/api/v1/chat.postMessage")
        );
        assert_eq!(r.header("content-type"), "application/json");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["channel"], "#ops");
        assert_eq!(body["attachments"][0]["title"], "[FIRING:1] Down ");
        assert_eq!(outcome, ("sent".to_owned(), String::new()));
    }

    #[tokio::test]
    async fn a_refusal_with_status_200_fails_naming_rocketchat_and_the_url() {
        let (addr, _received) =
            testing::fake(|_| (200, r#"{"success":false,"error":"no such room"}"#.into())).await;
        let service = testing::service(&format!(
            "    rocketchat_configs:\n      - api_url: http://{addr}\n        token: t\n        token_id: id\n"
        ));
        assert_eq!(
            testing::outcome(&service).await,
            (
                "failed".to_owned(),
                format!(
                    "rocketchat: http://{addr}/api/v1/chat.postMessage: channel \"\": error response from Rocketchat: no such room"
                )
            )
        );
    }
}
