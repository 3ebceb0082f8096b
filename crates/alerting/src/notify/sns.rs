//! Amazon SNS: a `Publish` call of SNS's query API, signed with Signature Version 4, as
//! Alertmanager 0.25's `notify/sns` makes it through the AWS SDK for Go (v1).
//!
//! The call goes to `api_url` (templated; `https://` added when it has no scheme), else
//! to the region's `https://sns.<region>.amazonaws.com`, at the path `/` after the URL's
//! own. The region is `sigv4.region`, else `AWS_REGION`; without either the notification
//! fails, as Alertmanager's does. The credentials are `sigv4`'s keys, else the AWS SDK's
//! chain (with `sigv4.profile`), and with `sigv4.role_arn` a role assumed through the
//! region's STS (see the `aws` crate). Alertmanager 0.25 asks STS with the chain's
//! credentials, not `sigv4`'s keys, when `api_url` is unset; Skywatch always uses the keys
//! given.

use std::collections::BTreeMap;

use super::{AwsCall, Texts, group_key_hash};
use crate::config::SnsConfig;
use crate::dispatch::Notification;

/// The most bytes of a message to a topic or an endpoint (256 KiB)...
const MAX_MESSAGE: usize = 256 * 1024;
/// ... and of an SMS, counted in bytes as Alertmanager counts them.
const MAX_SMS: usize = 1600;

/// The `Publish` call `c` makes for `n`, its texts rendered; `env` is where the region
/// is found when `sigv4.region` is unset.
pub(super) fn call(
    n: &Notification,
    c: &SnsConfig,
    texts: &Texts<'_>,
    env: &aws::Environment,
) -> Result<AwsCall, String> {
    let sigv4 = &c.sigv4;
    let value = |s: &Option<String>| s.clone().unwrap_or_default();
    let region = env
        .region(&value(&sigv4.region))
        .ok_or("sns: region not configured in sns.sigv4.region or in default credentials chain")?;
    let url = format!(
        "{}/",
        aws::endpoint(&texts.text(&value(&c.api_url)), "sns", &region)
    );
    let configured = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let mut params: Vec<(String, Vec<u8>)> = Vec::new();
    let mut param = |name: &str, value: String| params.push((name.into(), value.into_bytes()));
    let mut limit = MAX_MESSAGE;
    if let Some(topic) = configured(&c.topic_arn) {
        let topic = texts.text(&topic);
        // A FIFO topic's messages carry the group's key: SNS drops a message already
        // seen within 5 minutes, and keeps each group's messages in order.
        if topic.ends_with(".fifo") {
            let key = group_key_hash(&n.group_key);
            param("MessageDeduplicationId", key.clone());
            param("MessageGroupId", key);
        }
        param("TopicArn", topic);
    }
    if let Some(phone) = configured(&c.phone_number) {
        param("PhoneNumber", texts.text(&phone));
        limit = MAX_SMS;
    }
    if let Some(target) = configured(&c.target_arn) {
        param("TargetArn", texts.text(&target));
    }
    let mut attributes: BTreeMap<String, String> = c
        .attributes
        .iter()
        .map(|(k, v)| (texts.text(k), texts.text(v)))
        .collect();
    let subject = match c.subject.as_deref() {
        Some("") => None,
        subject => Some(texts.or_default(subject, "sns.default.subject")),
    };
    if let Some(subject) = subject {
        param("Subject", subject);
    }
    let mut message = texts
        .or_default(c.message.as_deref(), "sns.default.message")
        .into_bytes();
    // Cut at a byte, as Alertmanager cuts (even inside a character), and said so.
    if message.len() > limit {
        message.truncate(limit);
        attributes.insert("truncated".into(), "true".into());
    }
    params.push(("Message".into(), message));
    // The SDK sends the (never nil) attribute map even when it is empty, numbering its
    // entries in the order of their names.
    if attributes.is_empty() {
        params.push(("MessageAttributes".into(), Vec::new()));
    }
    for (i, (name, value)) in attributes.into_iter().enumerate() {
        let entry = format!("MessageAttributes.entry.{}", i + 1);
        params.push((format!("{entry}.Name"), name.into_bytes()));
        params.push((format!("{entry}.Value.DataType"), b"String".to_vec()));
        params.push((format!("{entry}.Value.StringValue"), value.into_bytes()));
    }
    Ok(AwsCall {
        service: "sns",
        url,
        settings: aws::Settings {
            region,
            // STS is asked at the region's endpoint, never at `api_url`.
            endpoint: String::new(),
            access_key: value(&sigv4.access_key),
            secret_key: value(&sigv4.secret_key),
            profile: value(&sigv4.profile),
            role_arn: value(&sigv4.role_arn),
        },
        operation: "Publish",
        version: "2010-03-31",
        params,
    })
}

#[cfg(test)]
mod tests {
    //! The expected bodies are what Alertmanager 0.25 sent for the same receivers and
    //! alerts (Down on instances a and b, then a resolved), captured on loopback; only
    //! the signature and its date differ between two runs.

    use std::sync::Arc;

    use super::*;
    use crate::dispatch::{Alert, Dispatcher};
    use crate::notify::{NotificationLog, Service, lock};
    use crate::silence::Silences;
    use crate::template::Templates;

    const KEYS: (&str, &str) = ("AKIDEXAMPLE", "secret");

    /// The notifications Alertmanager's capture made: alerts Down `a` and `b` firing,
    /// then (if `resolved`) `a` resolved, to `receiver`'s integrations.
    fn captured(receiver: &str, resolved: bool) -> Vec<Notification> {
        let config = crate::Config::parse(
            &format!(
                "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: r\n{receiver}"
            ),
            "am.yml",
        )
        .unwrap();
        let mut d = Dispatcher::new(config, Silences::default());
        let down = |instance: &str, ends_at| Alert {
            labels: [
                ("alertname".to_owned(), "Down".to_owned()),
                ("instance".to_owned(), instance.to_owned()),
                ("severity".to_owned(), "critical".to_owned()),
            ]
            .into(),
            annotations: [("summary".to_owned(), format!("{instance} is down"))].into(),
            starts_at: 1_000,
            ends_at,
            generator_url: "http://prometheus.example/graph".into(),
            updated_at: 1_000,
        };
        d.put(down("a", None), 1_000);
        d.put(down("b", None), 1_000);
        let first = d.flush(1_000);
        if !resolved {
            return first;
        }
        for n in &first {
            d.notified(n, true, 1_000);
        }
        d.put(down("a", Some(2_000)), 2_000);
        d.put(down("b", None), 2_000);
        d.flush(3_000)
    }

    /// The body `receiver`'s SNS integration sends for the capture's alerts, and its URL.
    fn body(receiver: &str, resolved: bool) -> (String, String) {
        static DEFAULTS: std::sync::LazyLock<Templates> =
            std::sync::LazyLock::new(Templates::defaults);
        let n = &captured(receiver, resolved)[0];
        let texts = Texts::new(&DEFAULTS, n, "http://alertmanager.example", 300_000);
        let env = aws::Environment::from([("AWS_REGION", "eu-west-1")]);
        let call = call(n, &n.receiver.sns_configs[0], &texts, &env).unwrap();
        texts.finish().unwrap();
        let params = call.params.iter().map(|(k, v)| (k.clone(), v));
        let body = aws::Call::query(call.operation, call.version, params);
        (call.url, String::from_utf8_lossy(body.body()).into_owned())
    }

    #[test]
    fn default_texts_are_alertmanagers() {
        let receiver = "    sns_configs:\n      - api_url: http://127.0.0.1:9/capture\n        topic_arn: arn:aws:sns:us-east-2:123456789012:my-topic\n        sigv4: {region: us-east-2, access_key: AKIDEXAMPLE, secret_key: secret}\n";
        let (url, firing) = body(receiver, false);
        assert_eq!(url, "http://127.0.0.1:9/capture/");
        assert_eq!(
            firing,
            "Action=Publish&Message=%0A%0AAlerts+Firing%3A%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+a%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+a+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+b%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+b+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph%0A%0A%0A%0A&MessageAttributes=&Subject=%5BFIRING%3A2%5D+Down+%28critical%29&TopicArn=arn%3Aaws%3Asns%3Aus-east-2%3A123456789012%3Amy-topic&Version=2010-03-31"
        );
        let (_, resolved) = body(receiver, true);
        assert_eq!(
            resolved,
            "Action=Publish&Message=%0A%0AAlerts+Firing%3A%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+b%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+b+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph%0A%0A%0A%0AAlerts+Resolved%3A%0ALabels%3A%0A+-+alertname+%3D+Down%0A+-+instance+%3D+a%0A+-+severity+%3D+critical%0AAnnotations%3A%0A+-+summary+%3D+a+is+down%0ASource%3A+http%3A%2F%2Fprometheus.example%2Fgraph%0A%0A%0A&MessageAttributes=&Subject=%5BFIRING%3A1%5D+Down+%28critical%29&TopicArn=arn%3Aaws%3Asns%3Aus-east-2%3A123456789012%3Amy-topic&Version=2010-03-31"
        );
    }

    #[test]
    fn custom_texts_attributes_and_fifo_topics_are_alertmanagers() {
        let receiver = r#"    sns_configs:
      - api_url: 'http://127.0.0.1:9/capture/'
        topic_arn: 'arn:aws:sns:us-east-2:123456789012:{{ .CommonLabels.alertname }}.fifo'
        subject: '{{ .Status }} {{ .CommonLabels.alertname }} *~'
        message: '{{ range .Alerts }}{{ .Labels.instance }} {{ .Annotations.summary }};{{ end }}'
        attributes:
          severity: '{{ .CommonLabels.severity }}'
          '{{ .GroupLabels.alertname }}': x y
          a10: '1'
          a2: '2'
        sigv4: {region: eu-west-1, access_key: AKIDEXAMPLE, secret_key: secret}
"#;
        let expected = "Action=Publish&Message=a+a+is+down%3Bb+b+is+down%3B&MessageAttributes.entry.1.Name=Down&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=x+y&MessageAttributes.entry.2.Name=a10&MessageAttributes.entry.2.Value.DataType=String&MessageAttributes.entry.2.Value.StringValue=1&MessageAttributes.entry.3.Name=a2&MessageAttributes.entry.3.Value.DataType=String&MessageAttributes.entry.3.Value.StringValue=2&MessageAttributes.entry.4.Name=severity&MessageAttributes.entry.4.Value.DataType=String&MessageAttributes.entry.4.Value.StringValue=critical&MessageDeduplicationId=af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e&MessageGroupId=af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e&Subject=firing+Down+%2A~&TopicArn=arn%3Aaws%3Asns%3Aus-east-2%3A123456789012%3ADown.fifo&Version=2010-03-31";
        for resolved in [false, true] {
            let (url, body) = body(receiver, resolved);
            assert_eq!(url, "http://127.0.0.1:9/capture/");
            assert_eq!(body, expected, "resolved: {resolved}");
        }
    }

    #[test]
    fn sms_are_cut_at_1600_bytes_even_inside_a_character() {
        let message = format!("{}é and more", "x".repeat(1599));
        let receiver = format!(
            "    sns_configs:\n      - api_url: http://127.0.0.1:9/capture\n        topic_arn: arn:aws:sns:us-east-2:123456789012:t\n        target_arn: arn:aws:sns:us-east-2:123456789012:endpoint/APNS/app/x\n        phone_number: '+15555550100'\n        subject: ''\n        message: '{message}'\n        sigv4: {{region: eu-west-1, access_key: AKIDEXAMPLE, secret_key: secret}}\n"
        );
        let (_, body) = body(&receiver, false);
        assert_eq!(
            body,
            format!(
                "Action=Publish&Message={}%C3&MessageAttributes.entry.1.Name=truncated&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=true&PhoneNumber=%2B15555550100&TargetArn=arn%3Aaws%3Asns%3Aus-east-2%3A123456789012%3Aendpoint%2FAPNS%2Fapp%2Fx&TopicArn=arn%3Aaws%3Asns%3Aus-east-2%3A123456789012%3At&Version=2010-03-31",
                "x".repeat(1599)
            )
        );
    }

    #[test]
    fn the_region_is_sigv4s_else_aws_regions_and_the_url_the_regions() {
        let receiver =
            "    sns_configs:\n      - topic_arn: arn:aws:sns:eu-west-1:123456789012:t\n";
        let n = &captured(receiver, false)[0];
        let texts = crate::notify::testing::texts(n);
        let c = &n.receiver.sns_configs[0];
        let env = aws::Environment::from([("AWS_REGION", "eu-west-1")]);
        let found = call(n, c, &texts, &env).unwrap();
        assert_eq!(found.url, "https://sns.eu-west-1.amazonaws.com/");
        assert_eq!(found.settings.region, "eu-west-1");
        let error = call(n, c, &texts, &aws::Environment::default()).unwrap_err();
        assert_eq!(
            error,
            "sns: region not configured in sns.sigv4.region or in default credentials chain"
        );
    }

    /// A fake SNS on loopback: checks each call's signature (keys [`KEYS`], region
    /// eu-west-1), keeps its path and body, and answers `status` with SNS's XML.
    async fn fake_sns(
        status: u16,
    ) -> (
        std::net::SocketAddr,
        Arc<std::sync::Mutex<Vec<(String, Vec<String>, String)>>>,
    ) {
        use axum::http::{HeaderMap, StatusCode, Uri};
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = seen.clone();
        let app = axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let signed = aws::testing::check_signature(
                        uri.path(),
                        &headers,
                        &body,
                        KEYS,
                        ("eu-west-1", "sns"),
                        "content-length;content-type;host;x-amz-date",
                    );
                    if let Err(e) = signed {
                        return (StatusCode::FORBIDDEN, e);
                    }
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let mut names: Vec<String> = headers
                        .iter()
                        .map(|(k, v)| match k.as_str() {
                            "content-type" => format!("{k}: {}", v.to_str().unwrap_or_default()),
                            _ => k.to_string(),
                        })
                        .collect();
                    names.sort();
                    lock(&kept).push((uri.path().to_owned(), names, body));
                    let answer = match status {
                        200 => "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>",
                        _ => "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>User is not authorized to perform: SNS:Publish</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
                    };
                    (StatusCode::from_u16(status).unwrap(), answer.to_owned())
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, seen)
    }

    fn service(addr: std::net::SocketAddr) -> Service {
        let config = crate::Config::parse(
            &format!(
                "route:\n  receiver: r\n  group_wait: 0s\nreceivers:\n  - name: r\n    sns_configs:\n      - api_url: http://{addr}/sns\n        topic_arn: arn:aws:sns:eu-west-1:123456789012:ops\n        attributes: {{team: '{{{{ .CommonLabels.alertname }}}}'}}\n        sigv4: {{region: eu-west-1, access_key: {}, secret_key: {}}}\n",
                KEYS.0, KEYS.1
            ),
            "am.yml",
        )
        .unwrap();
        Service::new(
            Dispatcher::new(config, Silences::default()),
            NotificationLog::in_memory(),
            "http://sky".into(),
        )
        .with_backoff(Vec::new())
    }

    #[tokio::test]
    async fn sns_is_called_signed_through_the_service() {
        let (addr, seen) = fake_sns(200).await;
        let service = service(addr);
        assert_eq!(crate::notify::testing::fire_down(&service).await, 1);
        let entry = &service.log.query(None, 1)[0];
        assert_eq!(
            (entry.outcome.as_str(), entry.integration.as_str()),
            ("sent", "sns"),
            "{}",
            entry.error
        );
        assert_eq!(entry.target, format!("http://{addr}/sns/"));
        assert!(
            entry.rendered.starts_with(&format!(
                "POST http://{addr}/sns/ (signed for sns in eu-west-1)\nAction=Publish\nMessage=it is down\n\nAlerts Firing:\n"
            )),
            "{}",
            entry.rendered
        );
        let seen = lock(&seen).clone();
        assert_eq!(seen.len(), 1);
        let (path, headers, body) = &seen[0];
        assert_eq!(path, "/sns/");
        // Alertmanager's (the AWS SDK's) headers, but for its User-Agent, and reqwest's
        // `Accept: */*` beside; `Accept-Encoding`, which reqwest adds when the workspace
        // builds it with a decompression feature (as Go's client adds it), is not signed
        // and not compared.
        let headers: Vec<&String> = headers
            .iter()
            .filter(|h| !h.starts_with("accept-encoding"))
            .collect();
        assert_eq!(
            headers,
            [
                "accept",
                "authorization",
                "content-length",
                "content-type: application/x-www-form-urlencoded; charset=utf-8",
                "host",
                "user-agent",
                "x-amz-date"
            ]
        );
        let form: BTreeMap<String, String> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(form["Action"], "Publish");
        assert_eq!(form["TopicArn"], "arn:aws:sns:eu-west-1:123456789012:ops");
        assert_eq!(form["Subject"], "[FIRING:1]  (Down)");
        assert_eq!(form["MessageAttributes.entry.1.Name"], "team");
        assert_eq!(form["MessageAttributes.entry.1.Value.StringValue"], "Down");
        assert!(form["Message"].contains("summary = it is down"), "{body}");
    }

    #[tokio::test]
    async fn an_sns_error_names_the_integration_url_and_aws_error() {
        let (addr, seen) = fake_sns(403).await;
        let service = service(addr);
        assert_eq!(
            crate::notify::testing::outcome(&service).await,
            (
                "failed".to_owned(),
                format!(
                    "sns: http://{addr}/sns/: Publish failed: AuthorizationError: User is not authorized to perform: SNS:Publish (HTTP status 403 Forbidden)"
                )
            )
        );
        // Not tried again, by the SDK's rules: a refusal is not a 5xx or throttling.
        assert_eq!(lock(&seen).len(), 1);
    }
}
