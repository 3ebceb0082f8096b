//! Pushover: a message as Alertmanager 0.25's `notify/pushover` sends it, every parameter
//! in the query string of a POST with an empty `text/plain` body, to Pushover's API. That
//! version has no option for the URL (nor `device`, `ttl` or `*_file` secrets), so
//! neither has ours: it is [`API_URL`], which only tests change (`testing::point_at`).

use super::{Body, Request, Texts, go_query_escape, truncate_runes};

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
        .map(|(name, value)| format!("{name}={}", go_query_escape(value)))
        .collect();
    Request {
        method: reqwest::Method::POST,
        url: format!("{api_url}?{}", query.join("&")),
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: Body::Empty,
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
