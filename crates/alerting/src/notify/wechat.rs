//! WeChat Work: an access token asked for with the corporation's id and secret, kept two
//! hours, then the message posted with it, as Alertmanager 0.25's `notify/wechat` does.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Answer, Request, Texts};
use gotemplate::query_escape;

/// How long a token is used before another is asked for, as Alertmanager keeps it.
const TOKEN_KEPT: Duration = Duration::from_secs(2 * 60 * 60);

/// The two requests `w` makes: `GET {api_url}gettoken?corpid=…&corpsecret=…` (both
/// templated, as Alertmanager renders them), skipped while the integration keeps a
/// token, and `POST {api_url}message/send?access_token=…`, the token put in by
/// [`Answer::Token`], judged by the answer's code.
pub(super) fn requests(w: &crate::config::WechatConfig, texts: &Texts<'_>) -> Vec<Request> {
    let api_url = w
        .api_url
        .as_deref()
        .unwrap_or("https://qyapi.weixin.qq.com/cgi-bin/");
    let secret = texts.text(w.api_secret.as_deref().unwrap_or_default());
    let corp_id = texts.text(w.corp_id.as_deref().unwrap_or_default());
    let token = url(
        api_url,
        "gettoken",
        vec![
            ("corpid".into(), query_escape(&corp_id)),
            ("corpsecret".into(), query_escape(&secret)),
        ],
    );
    let mut query: Vec<(String, String)> = form_urlencoded::parse(query_of(api_url).as_bytes())
        .filter(|(k, _)| k != "access_token")
        .map(|(k, v)| (k.into_owned(), query_escape(&v)))
        .collect();
    query.push(("access_token".into(), "{access_token}".into()));
    vec![
        Request::get(token).answer(Answer::Token {
            field: "access_token",
            keep: TOKEN_KEPT,
        }),
        Request::post_json(url(api_url, "message/send", query), json(w, texts))
            .answer(Answer::Wechat),
    ]
}

/// The message: its text under `text` or `markdown` by `message_type` (the other
/// present and empty: Go's `omitempty` leaves structs in), `safe` "0", and the
/// recipients and agent, rendered, only when not empty.
fn json(w: &crate::config::WechatConfig, texts: &Texts<'_>) -> Value {
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let kind = w.message_type.as_deref().unwrap_or("text");
    let message = field(&w.message, "wechat.default.message");
    let (text, markdown) = if kind == "markdown" {
        (String::new(), message)
    } else {
        (message, String::new())
    };
    let mut body = Map::new();
    body.insert("text".into(), json!({ "content": text }));
    for (key, value) in [
        ("touser", field(&w.to_user, "wechat.default.to_user")),
        ("toparty", field(&w.to_party, "wechat.default.to_party")),
        ("totag", field(&w.to_tag, "wechat.default.to_tag")),
        ("agentid", field(&w.agent_id, "wechat.default.agent_id")),
        ("safe", "0".to_owned()),
        ("msgtype", kind.to_owned()),
    ] {
        if !value.is_empty() {
            body.insert(key.into(), json!(value));
        }
    }
    body.insert("markdown".into(), json!({ "content": markdown }));
    Value::Object(body)
}

/// `api_url` with `path` appended to its path and its query replaced by `query`
/// (escaped values), sorted by key as Go's `url.Values.Encode` sorts.
fn url(api_url: &str, path: &str, mut query: Vec<(String, String)>) -> String {
    let (rest, fragment) = api_url
        .split_once('#')
        .map_or((api_url, None), |(r, f)| (r, Some(f)));
    let base = rest.split('?').next().unwrap_or_default();
    query.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={v}", query_escape(k)))
        .collect();
    let mut out = format!("{base}{path}?{}", query.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The query of `url`, if any.
fn query_of(url: &str) -> &str {
    let rest = url.split('#').next().unwrap_or_default();
    rest.split_once('?').map_or("", |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{CAPTURED_TEMPLATES, captured, captured_texts};

    fn check(yaml: &str, resolved: bool, templates: Option<&str>) -> Vec<Request> {
        let n = captured(yaml, usize::from(resolved));
        let texts = captured_texts(&n, templates);
        let r = requests(&n.receiver.wechat_configs[0], &texts);
        texts.finish().unwrap();
        r
    }

    fn body(r: &Request) -> &Value {
        match &r.body {
            super::super::Body::Json(v) => v,
            other => panic!("wechat posts JSON, not {other:?}"),
        }
    }

    // Alertmanager 0.25's requests below are those am-capture.py printed (`wc.yml`:
    // api_url '{url}/cgi-bin/', corp_id corp1, api_secret 'sec ret&', to_user ops,
    // agent_id '1000002', send_resolved true; its token answer `tok/+1`, which it
    // asked for once for both notifications and sent as `access_token=tok%2F%2B1`).
    #[test]
    fn default_texts_firing_and_resolved_are_alertmanagers() {
        let yaml = "    wechat_configs:\n      - api_url: http://cap/cgi-bin/\n        corp_id: corp1\n        api_secret: 'sec ret&'\n        to_user: ops\n        agent_id: '1000002'\n        send_resolved: true\n";
        let firing = check(yaml, false, None);
        assert_eq!(firing.len(), 2);
        assert_eq!(firing[0].method, reqwest::Method::GET);
        assert_eq!(
            firing[0].url,
            "http://cap/cgi-bin/gettoken?corpid=corp1&corpsecret=sec+ret%26"
        );
        assert!(matches!(firing[0].body, super::super::Body::Empty));
        assert_eq!(
            firing[0].answer,
            Answer::Token {
                field: "access_token",
                keep: TOKEN_KEPT
            }
        );
        assert_eq!(firing[1].method, reqwest::Method::POST);
        assert_eq!(
            firing[1].url,
            "http://cap/cgi-bin/message/send?access_token={access_token}"
        );
        assert_eq!(firing[1].answer, Answer::Wechat);
        assert_eq!(
            body(&firing[1]),
            &json!({
                "text": {"content": "[FIRING:2] Down (critical)\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\n\nAlertmanagerUrl:\nhttp://alertmanager.example/#/alerts?receiver=r"},
                "touser": "ops",
                "agentid": "1000002",
                "safe": "0",
                "msgtype": "text",
                "markdown": {"content": ""}
            })
        );
        assert_eq!(
            body(&check(yaml, true, None)[1])["text"]["content"],
            "[FIRING:1] Down (critical)\n\nAlerts Firing:\nLabels:\n - alertname = Down\n - instance = b\n - severity = critical\nAnnotations:\n - summary = b is down\nSource: http://prometheus.example/graph\n\nAlerts Resolved:\nLabels:\n - alertname = Down\n - instance = a\n - severity = critical\nAnnotations:\n - summary = a is down\nSource: http://prometheus.example/graph\n\nAlertmanagerUrl:\nhttp://alertmanager.example/#/alerts?receiver=r"
        );
    }

    // `wc2.yml`: markdown, a templated to_party, to_tag, the custom text.
    #[test]
    fn custom_texts_and_markdown_are_alertmanagers() {
        let yaml = "    wechat_configs:\n      - api_url: http://cap/cgi-bin/\n        corp_id: corp1\n        api_secret: sec\n        to_party: '{{ .GroupLabels.alertname }}'\n        to_tag: t1\n        message_type: markdown\n        message: '{{ template \"my.text\" . }}'\n";
        let r = check(yaml, false, Some(CAPTURED_TEMPLATES));
        assert_eq!(
            r[0].url,
            "http://cap/cgi-bin/gettoken?corpid=corp1&corpsecret=sec"
        );
        assert_eq!(
            body(&r[1]),
            &json!({
                "text": {"content": ""},
                "toparty": "Down",
                "totag": "t1",
                "safe": "0",
                "msgtype": "markdown",
                "markdown": {"content": "firing: a a is down <i>&\"'\nfiring: b b is down <i>&\"'\n"}
            })
        );
    }

    #[test]
    fn a_numeric_agent_id_is_taken_as_text_as_go_yaml_takes_it() {
        let yaml = "    wechat_configs:\n      - corp_id: c\n        api_secret: s\n        agent_id: 1000002\n";
        let r = check(yaml, false, None);
        assert_eq!(body(&r[1])["agentid"], "1000002");
        assert_eq!(
            r[1].url,
            "https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token={access_token}"
        );
    }

    #[test]
    fn an_api_urls_own_query_is_kept_sorted_as_go_sorts_it() {
        assert_eq!(
            url(
                "http://cap/cgi-bin/?z=1&b=a b",
                "message/send",
                vec![
                    ("z".into(), "1".into()),
                    ("b".into(), query_escape("a b")),
                    ("access_token".into(), "{access_token}".into()),
                ]
            ),
            "http://cap/cgi-bin/message/send?access_token={access_token}&b=a+b&z=1"
        );
        assert_eq!(query_of("http://cap/?a=1#f"), "a=1");
    }

    /// Delivers the notification of a new alert `Down` to the service's receiver
    /// `times` times.
    async fn deliver(service: &crate::notify::Service, times: usize) {
        let due = crate::notify::testing::due_down(service);
        for _ in 0..times {
            for n in &due {
                service.deliver(n.clone()).await;
            }
        }
    }

    #[tokio::test]
    async fn the_token_is_asked_for_once_kept_and_asked_again_when_expired() {
        let answers = std::sync::Arc::new(std::sync::Mutex::new(vec![
            r#"{"errcode":0,"errmsg":"ok"}"#,
            r#"{"errcode":42001,"errmsg":"access_token expired"}"#,
            r#"{"errcode":0,"errmsg":"ok"}"#,
        ]));
        let (addr, mut requests) = crate::notify::testing::recorder_answering(move |path| {
            if path.contains("/gettoken") {
                let token = if path.contains("corpsecret=s2") {
                    "t/2"
                } else {
                    "t1"
                };
                (
                    200,
                    format!(r#"{{"errcode":0,"access_token":"{token}","expires_in":7200}}"#),
                )
            } else {
                let mut answers = answers.lock().unwrap();
                (200, answers.remove(0).to_owned())
            }
        })
        .await;
        let service = crate::notify::testing::service(&format!(
            "    wechat_configs:\n      - api_url: http://{addr}/cgi-bin/\n        corp_id: c\n        api_secret: s1\n        to_user: ops\n        http_config:\n          basic_auth: {{username: u, password: p}}\n"
        ));
        deliver(&service, 2).await;
        let mut seen = Vec::new();
        while let Ok(r) = requests.try_recv() {
            seen.push(r);
        }
        let paths: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/cgi-bin/gettoken?corpid=c&corpsecret=s1",
                "/cgi-bin/message/send?access_token=t1",
                // Kept for the second notification, which WeChat says expired...
                "/cgi-bin/message/send?access_token=t1",
                // ...so its next try asks again.
                "/cgi-bin/gettoken?corpid=c&corpsecret=s1",
                "/cgi-bin/message/send?access_token=t1",
            ]
        );
        assert!(seen.iter().all(|(_, auth, _)| auth == "Basic dTpw"));
        let body: Value = serde_json::from_str(&seen[1].2).unwrap();
        assert_eq!(body["touser"], "ops");
        assert_eq!(body["msgtype"], "text");
        let log = service.log.query(None, 10);
        assert!(log.iter().all(|e| e.outcome == "sent"), "{log:?}");
        assert_eq!(log[0].attempts, 2);
        assert!(
            log[0]
                .rendered
                .contains("message/send?access_token={access_token}")
        );
        // A new configuration starts without a token, as Alertmanager's reload does.
        let config = crate::Config::parse(
            &format!(
                "route:\n  receiver: r\n  group_wait: 0s\nreceivers:\n  - name: r\n    wechat_configs:\n      - api_url: http://{addr}/cgi-bin/\n        corp_id: c\n        api_secret: s2\n"
            ),
            "am.yml",
        )
        .unwrap();
        service.reconfigure(config).unwrap();
        assert!(crate::notify::lock(&service.tokens).is_empty());
    }

    #[tokio::test]
    async fn failures_name_wechat_and_the_url_without_the_secret() {
        let (addr, _requests) = crate::notify::testing::recorder_answering(|path| {
            if path.contains("corpsecret=bad") {
                (
                    200,
                    r#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_owned(),
                )
            } else if path.contains("/gettoken") {
                (200, r#"{"access_token":"t"}"#.to_owned())
            } else if path.contains("/old/") {
                (200, r#"{"code":81013,"error":"user not found"}"#.to_owned())
            } else {
                (
                    200,
                    r#"{"errcode":81013,"errmsg":"user & party & tag all invalid"}"#.to_owned(),
                )
            }
        })
        .await;
        let service = crate::notify::testing::service(&format!(
            "    wechat_configs:\n      - api_url: http://{addr}/a/\n        corp_id: c\n        api_secret: bad\n      - api_url: http://{addr}/b/\n        corp_id: c\n        api_secret: good\n      - api_url: http://{addr}/old/\n        corp_id: c\n        api_secret: good\n        send_resolved: true\n"
        ));
        deliver(&service, 1).await;
        let log = service.log.query(None, 10);
        let error = |prefix: &str| {
            log.iter()
                .find(|e| e.target.contains(prefix))
                .map(|e| (e.outcome.clone(), e.error.clone()))
                .unwrap()
        };
        assert_eq!(
            error("/a/"),
            (
                "failed".into(),
                format!(
                    "wechat: http://{addr}/a/gettoken answered 200 OK: no access_token in {{\"errcode\":40001,\"errmsg\":\"invalid credential\"}}"
                )
            )
        );
        assert_eq!(
            error("/b/"),
            (
                "failed".into(),
                format!(
                    "wechat: http://{addr}/b/message/send answered 200 OK: user & party & tag all invalid (errcode 81013)"
                )
            )
        );
        assert_eq!(
            error("/old/").1,
            format!(
                "wechat: http://{addr}/old/message/send answered 200 OK: user not found (code 81013)"
            )
        );
    }
}
