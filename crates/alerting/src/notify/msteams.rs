//! Microsoft Teams: an incoming webhook given a MessageCard, as the newest Alertmanager's
//! `notify/msteams` makes it (the integration is newer than Alertmanager 0.25).

use serde_json::{Value, json};

use super::{Request, Texts, secret};
use crate::dispatch::Notification;

/// The card's colour while any alert of the group fires: red.
const FIRING: &str = "8C1A1A";
/// The card's colour once every alert is resolved: green.
const RESOLVED: &str = "2DC72D";

/// The card `c` posts for `n` to its `webhook_url` (or the URL in `webhook_url_file`,
/// read now).
pub(super) fn request(
    n: &Notification,
    c: &crate::config::MsTeamsConfig,
    texts: &Texts<'_>,
) -> Result<Request, String> {
    let url = secret(&c.webhook_url, &c.webhook_url_file)?;
    Ok(Request::post_json(url, json(n, c, texts)))
}

/// The MessageCard: every key always present, the colour by the group's status (grey
/// only for a group without alerts, which is never sent).
fn json(n: &Notification, c: &crate::config::MsTeamsConfig, texts: &Texts<'_>) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let firing = n.alerts.iter().any(|a| !a.resolved(n.at));
    json!({
        "@context": "http://schema.org/extensions",
        "type": "MessageCard",
        "title": field(&c.title, "msteams.default.title"),
        "summary": field(&c.summary, "msteams.default.summary"),
        "text": field(&c.text, "msteams.default.text"),
        "themeColor": if firing { FIRING } else { RESOLVED },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{self, notifications, texts};

    /// The text of `msteams.default.text` for alert `Down` (node n1, summary `it is
    /// down`) under `heading`, as Alertmanager's default template writes it.
    fn default_text(heading: &str) -> String {
        let list = "\nLabels:\n  - alertname = Down\n  - node = n1\n\nAnnotations:\n  - summary = it is down\n\nSource: http://prom/graph\n\n";
        match heading {
            "Firing" => format!("\n\n# Alerts Firing:\n{list}\n\n\n"),
            _ => format!("\n\n\n# Alerts Resolved:\n{list}\n\n"),
        }
    }

    fn check(receiver: &str, resolved: bool, expect: Value) {
        let notes = notifications(receiver, resolved);
        let n = notes.last().unwrap();
        let c = &n.receiver.msteams_configs[0];
        let texts = texts(n);
        let r = request(n, c, &texts).unwrap();
        texts.finish().unwrap();
        assert_eq!(r.url, "http://x/teams");
        match r.body {
            crate::notify::Body::Json(body) => assert_eq!(body, expect),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn teams_gets_alertmanagers_message_card() {
        let receiver = "    msteams_configs:\n      - webhook_url: http://x/teams\n";
        check(
            receiver,
            false,
            json!({
                "@context": "http://schema.org/extensions",
                "type": "MessageCard",
                "title": "[FIRING:1] Down (n1)",
                "summary": "[FIRING:1] Down (n1)",
                "text": default_text("Firing"),
                "themeColor": "8C1A1A",
            }),
        );
        check(
            receiver,
            true,
            json!({
                "@context": "http://schema.org/extensions",
                "type": "MessageCard",
                "title": "[RESOLVED] Down (n1)",
                "summary": "[RESOLVED] Down (n1)",
                "text": default_text("Resolved"),
                "themeColor": "2DC72D",
            }),
        );
    }

    #[test]
    fn teams_texts_can_be_configured() {
        check(
            "    msteams_configs:\n      - webhook_url: http://x/teams\n        title: '{{ .Status }}'\n        summary: '{{ .CommonLabels.node }}'\n        text: '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'\n",
            true,
            json!({
                "@context": "http://schema.org/extensions",
                "type": "MessageCard",
                "title": "resolved",
                "summary": "n1",
                "text": "it is down",
                "themeColor": "2DC72D",
            }),
        );
    }

    /// The default text's two sections, for the notification Alertmanager sent when
    /// of alerts `Down` (instances a and b, critical) a was resolved: measured by
    /// rendering the newest Alertmanager's `msteams.default.text` and
    /// `jira.default.priority` definitions with Alertmanager 0.25's template engine (a
    /// Slack text through am-capture.py), as 0.25 has no Teams integration.
    #[test]
    fn default_text_has_alertmanagers_sections_for_firing_and_resolved_alerts() {
        let alert = |instance: &str, status: &str| crate::template::Alert {
            status: status.into(),
            labels: [
                ("alertname", "Down"),
                ("instance", instance),
                ("severity", "critical"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
            annotations: [("summary".to_owned(), format!("{instance} is down"))].into(),
            generator_url: "http://prometheus.example/graph".into(),
            ..crate::template::Alert::firing(Default::default(), 0)
        };
        let data = crate::template::Data::new(
            "r",
            &[("alertname".to_owned(), "Down".to_owned())].into(),
            vec![alert("b", "firing"), alert("a", "resolved")],
            "http://alertmanager.example",
        );
        let templates = crate::template::Templates::defaults();
        let render = |name: &str| {
            templates
                .render(&format!("{{{{ template \"{name}\" . }}}}"), &data)
                .unwrap()
        };
        let expect = "\n\n# Alerts Firing:\n\nLabels:\n  - alertname = Down\n  - instance = b\n  - severity = critical\n\nAnnotations:\n  - summary = b is down\n\nSource: http://prometheus.example/graph\n\n\n\n\n# Alerts Resolved:\n\nLabels:\n  - alertname = Down\n  - instance = a\n  - severity = critical\n\nAnnotations:\n  - summary = a is down\n\nSource: http://prometheus.example/graph\n\n\n\n";
        assert_eq!(render("msteams.default.text"), expect);
        assert_eq!(render("jira.default.description"), expect);
        assert_eq!(
            render("msteams.default.title"),
            "[FIRING:1] Down (critical)"
        );
        assert_eq!(render("jira.default.priority"), "High");
    }

    #[tokio::test]
    async fn teams_is_sent_to_the_url_in_its_file_with_http_config_credentials() {
        let (addr, mut received) = testing::fake(|_| (200, "1".into())).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, format!("http://{addr}/webhookb2/abc\n")).unwrap();
        let service = testing::service(&format!(
            "    msteams_configs:\n      - webhook_url_file: {}\n        http_config:\n          authorization: {{credentials: tok}}\n",
            file.display()
        ));
        let outcome = testing::outcome(&service).await;
        let r = received.recv().await.unwrap();
        assert_eq!(
            (r.method.as_str(), r.uri.as_str()),
            ("POST", "/webhookb2/abc")
        );
        assert_eq!(r.header("authorization"), "Bearer tok");
        assert_eq!(r.header("content-type"), "application/json");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["title"], "[FIRING:1] Down ");
        assert_eq!(body["themeColor"], "8C1A1A");
        assert_eq!(outcome, ("sent".to_owned(), String::new()));
    }

    #[tokio::test]
    async fn a_refused_card_fails_naming_teams_and_the_url() {
        let (addr, _received) = testing::fake(|_| (400, "Bad payload".into())).await;
        let service = testing::service(&format!(
            "    msteams_configs:\n      - webhook_url: http://{addr}/hook\n"
        ));
        assert_eq!(
            testing::outcome(&service).await,
            (
                "failed".to_owned(),
                format!("msteams: http://{addr}/hook answered 400 Bad Request: Bad payload")
            )
        );
    }
}
