//! Telegram: a Bot API `sendMessage` call, as Alertmanager 0.25's `notify/telegram` makes
//! it through the telebot library (v3.1.2): a JSON object of strings posted to
//! `{api_url}/bot{token}/sendMessage`, judged by its `ok` and not by its status.

use serde_json::{Map, Value, json};

use super::{Answer, Request, Texts, truncate_runes};

/// The longest message Telegram takes, in characters.
const MAX_MESSAGE_RUNES: usize = 4096;

/// The `sendMessage` call `t` makes: every value a string, as telebot sends them;
/// `parse_mode` HTML unless configured (and left out if configured empty), the text then
/// rendered as HTML (values escaped); `disable_notification` only when set; link
/// previews always off, as Alertmanager asks.
pub(super) fn request(t: &crate::config::TelegramConfig, texts: &Texts<'_>) -> Request {
    let parse_mode = t.parse_mode.as_deref().unwrap_or("HTML");
    let message = t
        .message
        .as_deref()
        .unwrap_or(r#"{{ template "telegram.default.message" . }}"#);
    let text = if parse_mode == "HTML" {
        texts.html(message)
    } else {
        texts.text(message)
    };
    let mut body = Map::new();
    body.insert("chat_id".into(), json!(t.chat_id.to_string()));
    body.insert(
        "text".into(),
        json!(truncate_runes(&text, MAX_MESSAGE_RUNES)),
    );
    if !parse_mode.is_empty() {
        body.insert("parse_mode".into(), json!(parse_mode));
    }
    body.insert("disable_web_page_preview".into(), json!("true"));
    if t.disable_notifications {
        body.insert("disable_notification".into(), json!("true"));
    }
    let api_url = t.api_url.as_deref().unwrap_or("https://api.telegram.org");
    Request::post_json(
        format!("{api_url}/bot{}/sendMessage", t.bot_token),
        Value::Object(body),
    )
    .answer(Answer::Telegram)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{CAPTURED_TEMPLATES, captured, captured_texts};

    /// The request for the receiver `yaml` (its alerts resolved or not, the capture's
    /// templates or none): URL and body.
    fn check(yaml: &str, resolved: bool, templates: Option<&str>) -> (String, Value) {
        let n = captured(yaml, usize::from(resolved));
        let texts = captured_texts(&n, templates);
        let r = request(&n.receiver.telegram_configs[0], &texts);
        texts.finish().unwrap();
        assert_eq!(r.method, reqwest::Method::POST);
        assert_eq!(r.answer, Answer::Telegram);
        assert!(r.headers.is_empty());
        let super::super::Body::Json(body) = r.body else {
            panic!("telegram sends JSON")
        };
        (r.url, body)
    }

    // Alertmanager 0.25's bodies below are those am-capture.py printed (`tg.yml`:
    // api_url '{url}', bot_token tok, chat_id 42; then the custom texts).
    #[test]
    fn default_texts_firing_and_resolved_are_alertmanagers() {
        let yaml = "    telegram_configs:\n      - api_url: http://cap/capture\n        bot_token: tok\n        chat_id: 42\n";
        let (url, firing) = check(yaml, false, None);
        assert_eq!(url, "http://cap/capture/bottok/sendMessage");
        assert_eq!(
            firing,
            json!({
                "chat_id": "42",
                "disable_web_page_preview": "true",
                "parse_mode": "HTML",
                "text": "\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\n\n"
            })
        );
        let (_, resolved) = check(yaml, true, None);
        assert_eq!(
            resolved["text"],
            "\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\n\n\n"
        );
    }

    #[test]
    fn custom_texts_modes_and_silence_are_alertmanagers() {
        let yaml = "    telegram_configs:\n      - api_url: http://cap/capture\n        bot_token: tok\n        chat_id: -100123\n        disable_notifications: true\n        parse_mode: Markdown\n        message: '{{ template \"my.text\" . }}'\n";
        let (_, firing) = check(yaml, false, Some(CAPTURED_TEMPLATES));
        assert_eq!(
            firing,
            json!({
                "chat_id": "-100123",
                "disable_notification": "true",
                "disable_web_page_preview": "true",
                "parse_mode": "Markdown",
                "text": "firing: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n"
            })
        );
        let (_, resolved) = check(yaml, true, Some(CAPTURED_TEMPLATES));
        assert_eq!(
            resolved["text"],
            "resolved: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n"
        );
        // HTML mode escapes values, not the template's own text.
        let yaml = "    telegram_configs:\n      - api_url: http://cap/capture\n        bot_token: tok\n        chat_id: 42\n        message: '{{ template \"my.text\" . }}{{ template \"esc.text\" . }}'\n";
        let (_, html) = check(yaml, false, Some(CAPTURED_TEMPLATES));
        assert_eq!(
            html["text"],
            "firing: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n&lt;b&gt;&amp;&#34;&#39;  Down"
        );
        assert_eq!(html["parse_mode"], "HTML");
        // An empty parse_mode is not sent (telebot's ModeDefault).
        let yaml = "    telegram_configs:\n      - api_url: http://cap/capture\n        bot_token: tok\n        chat_id: 42\n        parse_mode: ''\n";
        assert_eq!(check(yaml, false, None).1.get("parse_mode"), None);
    }

    #[test]
    fn long_messages_are_cut_to_4096_characters() {
        let yaml = format!(
            "    telegram_configs:\n      - api_url: http://cap\n        bot_token: tok\n        chat_id: 42\n        message: {}\n",
            "é".repeat(5000)
        );
        let (_, body) = check(&yaml, false, None);
        let text = body["text"].as_str().unwrap();
        assert_eq!(text.chars().count(), 4096);
        assert!(text.ends_with("é…"), "{text}");
    }

    /// Telegram's answer to a sent message.
    const SENT: &str =
        r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":42,"type":"private"}}}"#;

    #[tokio::test]
    async fn delivered_through_the_service_and_judged_by_ok_not_status() {
        // Telebot reads only the body: a 500 saying `ok` is a success (as 0.25 took it
        // under am-capture.py --status 500).
        let (addr, mut requests) =
            crate::notify::testing::recorder_answering(|_| (500, SENT.to_owned())).await;
        let service = crate::notify::testing::service(&format!(
            "    telegram_configs:\n      - api_url: http://{addr}/tg\n        bot_token: '123:abc'\n        chat_id: 42\n        http_config:\n          basic_auth: {{username: u, password: p}}\n"
        ));
        crate::notify::testing::fire_down(&service).await;
        let (path, auth, body) = requests.recv().await.unwrap();
        assert_eq!(path, "/tg/bot123:abc/sendMessage");
        assert_eq!(auth, "Basic dTpw", "http_config's credentials");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["chat_id"], "42");
        assert_eq!(body["parse_mode"], "HTML");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains("summary = it is down")
        );
        let entry = &service.log.query(None, 1)[0];
        assert_eq!(entry.outcome, "sent", "{}", entry.error);
    }

    #[tokio::test]
    async fn an_answer_not_ok_fails_naming_telegram_the_url_and_the_description() {
        let (addr, _requests) = crate::notify::testing::recorder_answering(|_| {
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
                    .to_owned(),
            )
        })
        .await;
        let service = crate::notify::testing::service(&format!(
            "    telegram_configs:\n      - api_url: http://{addr}\n        bot_token: tok\n        chat_id: 42\n"
        ));
        crate::notify::testing::fire_down(&service).await;
        let entry = &service.log.query(None, 1)[0];
        assert_eq!((entry.outcome.as_str(), entry.attempts), ("failed", 3));
        assert_eq!(
            entry.error,
            format!(
                "telegram: http://{addr}/bottok/sendMessage answered 400 Bad Request: Bad Request: chat not found (error_code 400)"
            )
        );
    }
}
