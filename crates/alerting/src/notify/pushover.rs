//! Pushover: a message as Alertmanager 0.25's `notify/pushover` sends it, every parameter
//! in the query string of a POST with an empty `text/plain` body, to Pushover's API. That
//! version has no option for the URL (nor `device`, `ttl` or `*_file` secrets), so
//! neither has ours: it is [`API_URL`], which only tests change (`testing::point_at`).

use super::{Body, Request, Texts, truncate_runes};
use gotemplate::query_escape;

/// Where messages go.
pub(crate) const API_URL: &str = "https://api.pushover.net/1/messages.json";

/// Pushover's limits, in characters.
const MAX_TITLE: usize = 250;
const MAX_MESSAGE: usize = 1024;
const MAX_URL: usize = 512;

/// The message `p` sends to `api_url`: title, message and URL rendered and cut to
/// Pushover's limits (the message, trimmed, `(no details)` if nothing is left, rendered as
/// HTML with `html: true`), `retry` and `expire` in seconds, the parameters in the order
/// Go's `url.Values.Encode` writes them (by name) and escaped as it escapes them.
pub(super) fn request(
    p: &crate::config::PushoverConfig,
    texts: &Texts<'_>,
    api_url: &str,
) -> Request {
    let text = |t: &Option<String>| texts.text(t.as_deref().unwrap_or_default());
    let message = p
        .message
        .as_deref()
        .unwrap_or(r#"{{ template "pushover.default.message" . }}"#);
    let message = if p.html {
        texts.html(message)
    } else {
        texts.text(message)
    };
    let message = match truncate_runes(&message, MAX_MESSAGE).trim() {
        "" => "(no details)".to_owned(),
        m => m.to_owned(),
    };
    let mut parameters = vec![
        ("token", texts.text(&p.token)),
        ("user", texts.text(&p.user_key)),
        (
            "title",
            truncate_runes(
                &texts.or_default(p.title.as_deref(), "pushover.default.title"),
                MAX_TITLE,
            ),
        ),
        ("message", message),
        (
            "url",
            truncate_runes(
                &texts.or_default(p.url.as_deref(), "pushover.default.url"),
                MAX_URL,
            ),
        ),
        ("url_title", text(&p.url_title)),
        (
            "priority",
            texts.text(
                p.priority
                    .as_deref()
                    .unwrap_or(r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#),
            ),
        ),
        ("retry", p.retry_seconds().to_string()),
        ("expire", p.expire_seconds().to_string()),
        ("sound", text(&p.sound)),
    ];
    if p.html {
        parameters.push(("html", "1".into()));
    }
    parameters.sort_by_key(|(name, _)| *name);
    let query: Vec<String> = parameters
        .iter()
        .map(|(name, value)| format!("{name}={}", query_escape(value)))
        .collect();
    Request {
        method: reqwest::Method::POST,
        url: format!("{api_url}?{}", query.join("&")),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: Body::Empty,
        answer: super::Answer::Status,
    }
}

/// Where this thread's messages go: [`API_URL`], or in tests what `testing::point_at`
/// set.
pub(super) fn api_url() -> String {
    #[cfg(test)]
    if let Some(url) = testing::API_URL.with(|u| u.borrow().clone()) {
        return url;
    }
    API_URL.to_owned()
}

/// Pointing Pushover elsewhere, for tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::cell::RefCell;

    thread_local! {
        pub(super) static API_URL: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Sends this thread's Pushover messages to `url` (a test's recorder) instead of
    /// Pushover's API. A `#[tokio::test]` runs on one thread, so this holds for the
    /// deliveries it awaits and for no other test.
    pub(crate) fn point_at(url: &str) {
        API_URL.with(|u| *u.borrow_mut() = Some(url.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{CAPTURE_URL, captured, texts_at};

    /// The URL of what `p` (receiver YAML) sends in am-capture.py's scenario (`resolved`
    /// of its two alerts resolved), checking the rest of the request.
    fn sent(yaml: &str, resolved: usize) -> String {
        let n = captured(yaml, resolved);
        let texts = texts_at(&n, CAPTURE_URL);
        let r = request(&n.receiver.pushover_configs[0], &texts, API_URL);
        texts.finish().unwrap();
        assert_eq!(r.method, reqwest::Method::POST);
        assert_eq!(
            r.headers,
            [("Content-Type".to_owned(), "text/plain".to_owned())]
        );
        assert!(matches!(r.body, Body::Empty));
        r.url
    }

    // The expected URLs below are, to the byte, what Alertmanager 0.25 sent for the same
    // receiver (am-capture.py, `--resolve`, and `--resolve-all` resolving both alerts,
    // with `http_config` sending it through a proxy on loopback that answered the
    // CONNECT, played Pushover's TLS end and recorded the request).

    #[test]
    fn default_texts_are_alertmanagers_to_the_byte() {
        let yaml = "    pushover_configs:\n      - user_key: u\n        token: t\n";
        assert_eq!(
            sent(yaml, 0),
            "https://api.pushover.net/1/messages.json?expire=3600&message=Alerts+Firing%3A%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+a%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+a+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+b%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+b+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph&priority=2&retry=60&sound=&title=%5BFIRING%3A2%5D+Down+%28critical%29&token=t&url=http%3A%2F%2Falertmanager.example%2F%23%2Falerts%3Freceiver%3Dr&url_title=&user=u"
        );
        assert_eq!(
            sent(yaml, 2),
            "https://api.pushover.net/1/messages.json?expire=3600&message=Alerts+Resolved%3A%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+a%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+a+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+b%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+b+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph&priority=0&retry=60&sound=&title=%5BRESOLVED%5D+Down+%28critical%29&token=t&url=http%3A%2F%2Falertmanager.example%2F%23%2Falerts%3Freceiver%3Dr&url_title=&user=u"
        );
    }

    #[test]
    fn configured_texts_html_and_durations_are_alertmanagers_to_the_byte() {
        let yaml = r#"    pushover_configs:
      - user_key: '{{ .Receiver }}-user'
        token: 't~*k'
        title: '{{ .Status }} <b>title</b> & more'
        message: '<b>{{ .CommonLabels.alertname }}</b> {{ "<i>&</i>" }} {{ .CommonLabels.severity }} & co'
        url: 'http://runbooks/{{ .GroupLabels.alertname }}?a=b c'
        url_title: 'Runbook'
        sound: siren
        priority: '1'
        retry: 1m30.5s
        expire: 2h
        html: true
"#;
        assert_eq!(
            sent(yaml, 0),
            "https://api.pushover.net/1/messages.json?expire=7200&html=1&message=%3Cb%3EDown%3C%2Fb%3E+%26lt%3Bi%26gt%3B%26amp%3B%26lt%3B%2Fi%26gt%3B+critical+%26+co&priority=1&retry=90&sound=siren&title=firing+%3Cb%3Etitle%3C%2Fb%3E+%26+more&token=t~%2Ak&url=http%3A%2F%2Frunbooks%2FDown%3Fa%3Db+c&url_title=Runbook&user=r-user"
        );
    }

    #[test]
    fn an_empty_message_is_no_details() {
        let yaml = "    pushover_configs:\n      - user_key: u\n        token: t\n        message: '  {{ .CommonLabels.nothing }}  '\n";
        assert_eq!(
            sent(yaml, 0),
            "https://api.pushover.net/1/messages.json?expire=3600&message=%28no+details%29&priority=2&retry=60&sound=&title=%5BFIRING%3A2%5D+Down+%28critical%29&token=t&url=http%3A%2F%2Falertmanager.example%2F%23%2Falerts%3Freceiver%3Dr&url_title=&user=u"
        );
    }

    #[tokio::test]
    async fn delivered_to_the_api_url_tests_point_at_and_failures_name_pushover() {
        let (addr, mut seen) = crate::notify::testing::recorder().await;
        testing::point_at(&format!("http://{addr}/1/messages.json"));
        let yaml = "    pushover_configs:\n      - user_key: u\n        token: t\n        http_config:\n          basic_auth: {username: a, password: b}\n";
        let service = crate::notify::testing::service(yaml);
        assert_eq!(crate::notify::testing::fire_down(&service).await, 1);
        let (path, auth, body) = seen.recv().await.unwrap();
        assert_eq!(
            path,
            "/1/messages.json?expire=3600&message=it+is+down%0A%0AAlerts+Firing%3A%0ALabels%3A%0A+-+alertname+%3D+Down%0AAnnotations%3A%0A+-+summary+%3D+it+is+down%0ASource%3A&priority=2&retry=60&sound=&title=%5BFIRING%3A1%5D+Down+&token=t&url=http%3A%2F%2Fsky%2F%23%2Falerts%3Freceiver%3Dr&url_title=&user=u"
        );
        assert_eq!((auth.as_str(), body.as_str()), ("Basic YTpi", ""));
        assert_eq!(service.log.query(None, 1)[0].outcome, "sent");

        let (failing, error) = crate::notify::testing::failure(500, |a| {
            testing::point_at(&format!("http://{a}/1/messages.json"));
            yaml.to_owned()
        })
        .await;
        // Named without the query, which holds the token.
        let expected = format!("pushover: http://{failing}/1/messages.json answered 500");
        assert!(error.starts_with(&expected), "{error}");
    }
}
