//! Email: the message Alertmanager's `notify/email` makes, for the SMTP client in
//! `crate::smtp`.

use super::{Payload, Texts};
use crate::dispatch::Notification;

/// The email `e` makes of `n`: Alertmanager's subject unless a `Subject` header is
/// given, and a plain-text list of the alerts.
pub(super) fn payload(
    n: &Notification,
    e: &crate::config::EmailConfig,
    global: &crate::config::Global,
    texts: &Texts<'_>,
    external_url: &str,
) -> Payload {
    let server = crate::smtp::Server {
        smarthost: e
            .smarthost
            .clone()
            .or_else(|| global.smtp_smarthost.clone())
            .unwrap_or_default(),
        hello: e
            .hello
            .clone()
            .or_else(|| global.smtp_hello.clone())
            .unwrap_or_else(|| "localhost".into()),
        require_tls: e.require_tls.or(global.smtp_require_tls).unwrap_or(true),
        auth: e
            .auth_username
            .clone()
            .or_else(|| global.smtp_auth_username.clone())
            .map(|u| {
                (
                    u,
                    e.auth_password
                        .clone()
                        .or_else(|| global.smtp_auth_password.clone())
                        .unwrap_or_default(),
                )
            }),
    };
    // Header values are templates, as in Alertmanager; the subject's default is
    // `email.default.subject`.
    let subject = texts.or_default(
        e.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("subject"))
            .map(|(_, v)| v.as_str()),
        "email.default.subject",
    );
    let mut body = String::new();
    for a in &n.alerts {
        let state = if a.resolved(n.at) {
            "RESOLVED"
        } else {
            "FIRING"
        };
        body.push_str(&format!(
            "{state} {}\n",
            a.labels.get("alertname").cloned().unwrap_or_default()
        ));
        for (k, v) in &a.annotations {
            body.push_str(&format!("  {k}: {v}\n"));
        }
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        body.push_str(&format!(
            "  labels: {}\n  since: {}\n\n",
            labels.join(", "),
            model::format_rfc3339(a.starts_at)
        ));
    }
    body.push_str(&format!("Alerts: {}/alerts\n", external_url));
    Payload::Email(
        server,
        crate::smtp::Mail {
            from: e
                .from
                .clone()
                .or_else(|| global.smtp_from.clone())
                .unwrap_or_else(|| "skywatch@localhost".into()),
            to: e
                .to
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            subject,
            body,
        },
    )
}
