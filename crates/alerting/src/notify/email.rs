//! Email: the message Alertmanager's `notify/email` makes, for the SMTP client in
//! `crate::smtp`: the headers (`To`, `From` and `Subject` among them, each a template),
//! and a `multipart/alternative` body with the `text` part, if configured, and the
//! `html` part (Alertmanager's default HTML unless configured).

use super::{Payload, Texts, secret};

/// The mail `e` sends for `n`; fails if a text cannot be rendered, a secret file
/// cannot be read or the addresses are not addresses, as Alertmanager fails.
pub(super) fn payload(
    e: &crate::config::EmailConfig,
    texts: &Texts<'_>,
) -> Result<Payload, String> {
    let password = secret(&e.auth_password, &e.auth_password_file)?;
    let server = crate::smtp::Server {
        smarthost: e.smarthost.clone().unwrap_or_default(),
        hello: e.hello.clone().unwrap_or_else(|| "localhost".into()),
        require_tls: e.require_tls.unwrap_or(true),
        tls: e.tls_config.clone(),
        auth: e
            .auth_username
            .clone()
            .filter(|u| !u.is_empty())
            .map(|username| crate::smtp::Credentials {
                username,
                password,
                identity: e.auth_identity.clone().unwrap_or_default(),
                secret: e.auth_secret.clone().unwrap_or_default(),
            }),
    };
    let from_text = texts.text(e.from.as_deref().unwrap_or_default());
    let to_text = texts.text(&e.to);
    let from =
        crate::smtp::addresses(&from_text).map_err(|e| format!("parse 'from' addresses: {e}"))?;
    let [from] = from.as_slice() else {
        return Err(format!(
            "must be exactly one 'from' address (got: {})",
            from.len()
        ));
    };
    let to = crate::smtp::addresses(&to_text).map_err(|e| format!("parse 'to' addresses: {e}"))?;
    // Alertmanager's headers: the configured ones, and `Subject`, `To` and `From` unless
    // configured, each rendered as a template.
    let mut headers: Vec<(String, String)> = e
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), texts.text(v)))
        .collect();
    for (name, value) in [
        ("Subject", None),
        ("To", Some(to_text)),
        ("From", Some(from_text)),
    ] {
        if !headers.iter().any(|(k, _)| k == name) {
            let value = match value {
                Some(v) => v,
                None => texts.or_default(None, "email.default.subject"),
            };
            headers.push((name.to_owned(), value));
        }
    }
    let text = e
        .text
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| texts.text(t));
    let html = match e.html.as_deref() {
        None => Some(texts.html(r#"{{ template "email.default.html" . }}"#)),
        Some("") => None,
        Some(t) => Some(texts.html(t)),
    };
    Ok(Payload::Email(
        Box::new(server),
        crate::smtp::Mail {
            from: from.clone(),
            to,
            headers,
            text,
            html,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{notifications, texts};

    fn mail(receiver: &str) -> crate::smtp::Mail {
        let n = &notifications(receiver, false)[0];
        let e = n.receiver.email_configs[0].clone();
        match payload(&e, &texts(n)).unwrap() {
            Payload::Email(_, mail) => mail,
            other => panic!("not a mail: {other:?}"),
        }
    }

    #[test]
    fn the_headers_and_parts_are_alertmanagers() {
        let m = mail(
            "    email_configs:\n      - to: 'Ops <ops@example.org>, dev@example.org'\n        from: 'Alerts <am@example.org>'\n        smarthost: smtp.example.org:25\n",
        );
        assert_eq!(m.from, "am@example.org");
        assert_eq!(m.to, ["ops@example.org", "dev@example.org"]);
        assert_eq!(
            m.headers,
            [
                ("Subject".to_owned(), "[FIRING:1] Down (n1)".to_owned()),
                (
                    "To".to_owned(),
                    "Ops <ops@example.org>, dev@example.org".to_owned()
                ),
                ("From".to_owned(), "Alerts <am@example.org>".to_owned()),
            ]
        );
        assert_eq!(m.text, None, "no text part unless configured");
        let html = m.html.unwrap();
        assert!(html.contains("<!DOCTYPE html"), "{html}");
        assert!(html.contains("it is down"), "{html}");
    }

    #[test]
    fn configured_texts_and_headers_are_templates() {
        let m = mail(
            "    email_configs:\n      - to: ops@example.org\n        from: am@example.org\n        smarthost: smtp.example.org:25\n        headers:\n          subject: 'Down: {{ .CommonLabels.node }}'\n          X-Team: db\n        text: '{{ len .Alerts }} alert <b>'\n        html: '{{ .CommonAnnotations.summary }} <b>{{ \"<i>\" }}</b>'\n",
        );
        assert_eq!(
            m.headers[..2],
            [
                ("Subject".to_owned(), "Down: n1".to_owned()),
                ("X-Team".to_owned(), "db".to_owned()),
            ]
        );
        assert_eq!(m.text.as_deref(), Some("1 alert <b>"));
        assert_eq!(
            m.html.as_deref(),
            Some("it is down <b>&lt;i&gt;</b>"),
            "html/template escapes values, not the template's own markup"
        );
    }

    #[test]
    fn bad_addresses_are_refused_as_alertmanager_refuses_them() {
        let n = &notifications(
            "    email_configs:\n      - to: ops@example.org\n        from: 'a@example.org, b@example.org'\n        smarthost: smtp.example.org:25\n",
            false,
        )[0];
        let e = n.receiver.email_configs[0].clone();
        let err = payload(&e, &texts(n)).unwrap_err();
        assert_eq!(err, "must be exactly one 'from' address (got: 2)");
    }
}
