//! Discord: a webhook execution carrying one embed, as Alertmanager 0.25's
//! `notify/discord` makes it.

use serde_json::{Value, json};

use super::Texts;
use crate::dispatch::Notification;

/// The embed's colour while any alert fires (Discord's dark red).
const COLOR_RED: u32 = 0x992D22;
/// The embed's colour when all are resolved (green).
const COLOR_GREEN: u32 = 0x2ECC71;

/// The webhook body `d` sends for `n`: an empty `content` and one embed whose title and
/// description are the rendered texts, cut nowhere (0.25 does not truncate; Discord
/// itself refuses a title over 256 or a description over 4096 characters).
pub(super) fn json(n: &Notification, d: &crate::config::DiscordConfig, texts: &Texts<'_>) -> Value {
    let color = if n.firing() > 0 {
        COLOR_RED
    } else {
        COLOR_GREEN
    };
    json!({
        "content": "",
        "embeds": [{
            "title": texts.or_default(d.title.as_deref(), "discord.default.title"),
            "description": texts.or_default(d.message.as_deref(), "discord.default.message"),
            "color": color,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{CAPTURED_TEMPLATES, captured, captured_texts};

    fn check(yaml: &str, resolved: bool, templates: Option<&str>) -> Value {
        let n = captured(yaml, usize::from(resolved));
        let texts = captured_texts(&n, templates);
        let body = json(&n, &n.receiver.discord_configs[0], &texts);
        texts.finish().unwrap();
        body
    }

    // Alertmanager 0.25's bodies below are those am-capture.py printed (`dc.yml`:
    // webhook_url '{url}/api/webhooks/1/x'; then title and message from templates).
    #[test]
    fn default_texts_firing_and_resolved_are_alertmanagers() {
        let yaml = "    discord_configs:\n      - webhook_url: http://cap/api/webhooks/1/x\n";
        assert_eq!(
            check(yaml, false, None),
            json!({
                "content": "",
                "embeds": [{
                    "title": "[FIRING:2] Down (critical)",
                    "description": "\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\n\n",
                    "color": 10038562
                }]
            })
        );
        assert_eq!(
            check(yaml, true, None),
            json!({
                "content": "",
                "embeds": [{
                    "title": "[FIRING:1] Down (critical)",
                    "description": "\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\n\n\n",
                    "color": 10038562
                }]
            })
        );
    }

    #[test]
    fn custom_texts_are_alertmanagers_and_all_resolved_is_green() {
        let yaml = "    discord_configs:\n      - webhook_url: http://cap/api/webhooks/1/x\n        title: '{{ template \"my.title\" . }}'\n        message: '{{ template \"my.text\" . }}'\n";
        assert_eq!(
            check(yaml, false, Some(CAPTURED_TEMPLATES)),
            json!({
                "content": "",
                "embeds": [{
                    "title": "[FIRING] Down <b>&",
                    "description": "firing: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n",
                    "color": 10038562
                }]
            })
        );
        assert_eq!(
            check(yaml, true, Some(CAPTURED_TEMPLATES))["embeds"][0]["description"],
            "resolved: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n"
        );
        // Not captured (am-capture.py resolves one alert of two): with every alert
        // resolved, Alertmanager's `Alerts.Status()` is resolved, hence green.
        let n = &crate::notify::testing::notifications(
            "    discord_configs:\n      - webhook_url: http://cap/x\n",
            true,
        )[0];
        let texts = crate::notify::testing::texts(n);
        let body = json(n, &n.receiver.discord_configs[0], &texts);
        assert_eq!(body["embeds"][0]["color"], 3066993);
        assert_eq!(body["embeds"][0]["title"], "[RESOLVED] Down (n1)");
    }

    #[tokio::test]
    async fn delivered_through_the_service_and_a_refusal_names_discord_and_the_url() {
        let (addr, mut requests) = crate::notify::testing::recorder_answering(|path| {
            if path.contains("/refused") {
                (
                    400,
                    r#"{"message": "Invalid Webhook Token", "code": 50027}"#.to_owned(),
                )
            } else {
                (204, String::new())
            }
        })
        .await;
        let service = crate::notify::testing::service(&format!(
            "    discord_configs:\n      - webhook_url: http://{addr}/api/webhooks/1/x\n      - webhook_url: http://{addr}/refused\n"
        ));
        crate::notify::testing::fire_down(&service).await;
        let mut seen = [
            requests.recv().await.unwrap(),
            requests.recv().await.unwrap(),
        ];
        seen.sort();
        let (path, _, body) = &seen[0];
        assert_eq!(path, "/api/webhooks/1/x");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["embeds"][0]["title"], "[FIRING:1] Down ");
        assert_eq!(body["embeds"][0]["color"], 10038562);
        let log = service.log.query(None, 10);
        let sent = log.iter().find(|e| e.target.ends_with("/x")).unwrap();
        assert_eq!(sent.outcome, "sent", "{}", sent.error);
        let refused = log.iter().find(|e| e.target.ends_with("/refused")).unwrap();
        assert_eq!(refused.outcome, "failed");
        assert_eq!(
            refused.error,
            format!(
                "discord: http://{addr}/refused answered 400 Bad Request: {{\"message\": \"Invalid Webhook Token\", \"code\": 50027}}"
            )
        );
    }
}
