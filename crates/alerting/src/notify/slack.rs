//! Slack: an incoming webhook (or `chat.postMessage`) given one attachment, as
//! Alertmanager's `notify/slack` makes it.

use serde_json::{Value, json};

use super::Texts;
use super::truncate_runes;

/// Slack's message as Alertmanager sends it: one attachment with every templated field
/// (Alertmanager's default texts where a field is not configured), `channel` and the
/// other optional keys only when they render to something.
pub(super) fn json(s: &crate::config::SlackConfig, texts: &Texts<'_>) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let plain = |text: &Option<String>| text.as_deref().map(|t| texts.text(t)).unwrap_or_default();
    let mut attachment = serde_json::Map::new();
    let title = truncate_runes(&field(&s.title, "slack.default.title"), 1024);
    attachment.insert("title".into(), json!(title));
    attachment.insert(
        "title_link".into(),
        json!(field(&s.title_link, "slack.default.titlelink")),
    );
    attachment.insert(
        "pretext".into(),
        json!(field(&s.pretext, "slack.default.pretext")),
    );
    attachment.insert("text".into(), json!(field(&s.text, "slack.default.text")));
    if !s.fields.is_empty() {
        let fields: Vec<Value> = s
            .fields
            .iter()
            .map(|f| {
                json!({
                    "title": texts.text(&f.title),
                    "value": texts.text(&f.value),
                    "short": f.short.unwrap_or(s.short_fields),
                })
            })
            .collect();
        attachment.insert("fields".into(), json!(fields));
    }
    if !s.actions.is_empty() {
        let actions: Vec<Value> = s.actions.iter().map(|a| action(a, texts)).collect();
        attachment.insert("actions".into(), json!(actions));
    }
    attachment.insert("image_url".into(), json!(plain(&s.image_url)));
    attachment.insert("thumb_url".into(), json!(plain(&s.thumb_url)));
    attachment.insert(
        "fallback".into(),
        json!(field(&s.fallback, "slack.default.fallback")),
    );
    attachment.insert(
        "callback_id".into(),
        json!(field(&s.callback_id, "slack.default.callbackid")),
    );
    attachment.insert(
        "footer".into(),
        json!(field(&s.footer, "slack.default.footer")),
    );
    let color = match &s.color {
        Some(c) => texts.text(c),
        None => texts.text(r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#),
    };
    attachment.insert("color".into(), json!(color));
    let mrkdwn_in = if s.mrkdwn_in.is_empty() {
        vec![
            "fallback".to_owned(),
            "pretext".to_owned(),
            "text".to_owned(),
        ]
    } else {
        s.mrkdwn_in.clone()
    };
    attachment.insert("mrkdwn_in".into(), json!(mrkdwn_in));
    // Go's `omitempty` on the attachment's optional keys.
    attachment.retain(|k, v| {
        !(matches!(
            k.as_str(),
            "title" | "title_link" | "pretext" | "image_url" | "thumb_url" | "color"
        ) && v.as_str() == Some(""))
    });
    let mut body = serde_json::Map::new();
    for (key, value) in [
        ("channel", plain(&s.channel)),
        ("username", field(&s.username, "slack.default.username")),
        (
            "icon_emoji",
            field(&s.icon_emoji, "slack.default.iconemoji"),
        ),
        ("icon_url", field(&s.icon_url, "slack.default.iconurl")),
    ] {
        if !value.is_empty() {
            body.insert(key.into(), json!(value));
        }
    }
    if s.link_names {
        body.insert("link_names".into(), json!(true));
    }
    body.insert("attachments".into(), json!([attachment]));
    Value::Object(body)
}

/// A Slack action button or menu, its texts rendered, empty keys left out.
fn action(a: &crate::config::SlackAction, texts: &Texts<'_>) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in [
        ("type", texts.text(&a.type_)),
        ("text", texts.text(&a.text)),
        ("url", texts.text(&a.url)),
        ("style", texts.text(&a.style)),
        ("name", texts.text(&a.name)),
        ("value", texts.text(&a.value)),
    ] {
        if !value.is_empty() || key == "type" || key == "text" {
            out.insert(key.into(), json!(value));
        }
    }
    if let Some(c) = &a.confirm {
        out.insert(
            "confirm".into(),
            json!({
                "text": texts.text(&c.text),
                "dismiss_text": texts.text(&c.dismiss_text),
                "ok_text": texts.text(&c.ok_text),
                "title": texts.text(&c.title),
            }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{notifications, texts};

    #[test]
    fn slack_gets_alertmanagers_attachment() {
        let n = &notifications(
            "    slack_configs:\n      - api_url: http://x/slack\n",
            false,
        )[0];
        let r = n.receiver.slack_configs[0].clone();
        assert_eq!(
            json(&r, &texts(n)),
            json!({
                "username": "Alertmanager",
                "attachments": [{
                    "title": "[FIRING:1] Down (n1)",
                    "title_link": "http://sky/#/alerts?receiver=team",
                    "text": "",
                    "fallback": "[FIRING:1] Down (n1) | http://sky/#/alerts?receiver=team",
                    "callback_id": "",
                    "footer": "",
                    "color": "danger",
                    "mrkdwn_in": ["fallback", "pretext", "text"],
                }],
            })
        );
    }
}
