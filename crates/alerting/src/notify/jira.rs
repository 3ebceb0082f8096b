//! Jira: one issue per alert group, found again by a label, as the newest Alertmanager's
//! `notify/jira` keeps it (the integration is newer than Alertmanager 0.25).
//!
//! Each notification first searches the project for the group's issue: open, or resolved
//! recently enough to reopen. None found, a firing group creates one (a resolved group
//! creates nothing); one found is updated, then moved by its workflow transition: reopened
//! when the group fires again and the issue is done, resolved when the group is resolved
//! and the issue is not. Which requests follow depends on the answers, so the whole is a
//! chain of [`Payload::Exchange`]s, every text rendered before the first request.

use serde_json::{Map, Value, json};

use super::{Payload, Request, Texts, Then, group_key_hash, join_path, truncate_runes};
use crate::config::{JiraConfig, JiraField};
use crate::dispatch::Notification;

/// The most characters of a summary; longer ones are cut as Alertmanager cuts them.
const MAX_SUMMARY: usize = 255;
/// The most characters of a description.
const MAX_DESCRIPTION: usize = 32767;

/// The search for `n`'s issue, followed by its creation or update and transition.
pub(super) fn payload(
    n: &Notification,
    c: &JiraConfig,
    texts: &Texts<'_>,
) -> Result<Payload, String> {
    let api = c
        .api_url
        .clone()
        .ok_or("jira: no api_url and no global.jira_api_url")?;
    let firing = n.alerts.iter().any(|a| !a.resolved(n.at));
    let label = format!("ALERT{{{}}}", group_key_hash(&n.group_key));
    let project = texts.text(&c.project);
    let search = request(
        reqwest::Method::POST,
        search_url(&api, c.api_type.as_deref().unwrap_or("auto"))?,
        Some(json!({
            "fields": ["status"],
            "jql": jql(c, firing, &project, &label),
            "maxResults": 2,
        })),
    );
    let create = fields(c, texts, &api, &project, &label)?;
    let mut update = create.clone();
    let (_, summary_updated) = text_field(&c.summary);
    let (_, description_updated) = text_field(&c.description);
    if !summary_updated {
        update.remove("summary");
    }
    if !description_updated {
        update.remove("description");
    }
    let plan = Plan {
        api,
        firing,
        create: json!({ "fields": create }),
        update: json!({ "fields": update }),
        reopen: c.reopen_transition.clone().unwrap_or_default(),
        resolve: c.resolve_transition.clone().unwrap_or_default(),
    };
    let note = if firing {
        format!(
            "POST {} with this issue if the search finds none, else PUT it to the issue found (and its reopen transition if it is done):\n{}",
            join_path(&plan.api, "issue")?,
            serde_json::to_string_pretty(&plan.create).unwrap_or_default()
        )
    } else {
        format!(
            "nothing if the search finds no issue, else PUT {}/issue/KEY (and its resolve transition):\n{}",
            plan.api.trim_end_matches('/'),
            serde_json::to_string_pretty(&plan.update).unwrap_or_default()
        )
    };
    Ok(Payload::Exchange(
        Box::new(search),
        Then::new(note, move |answer| plan.found(answer)),
    ))
}

/// What follows the search, every body already rendered.
struct Plan {
    api: String,
    firing: bool,
    /// The body creating the issue.
    create: Value,
    /// The body updating it: the same but for the fields not to be updated.
    update: Value,
    reopen: String,
    resolve: String,
}

impl Plan {
    /// What the search's `answer` leads to: nothing, a creation, or an update and
    /// perhaps a transition.
    fn found(&self, answer: &str) -> Result<Payload, String> {
        let result: Value = serde_json::from_str(answer)
            .map_err(|e| format!("failed to look up existing issues: {e} in {answer:?}"))?;
        let Some(issue) = result["issues"].get(0) else {
            if !self.firing {
                return Ok(Payload::Http(Vec::new()));
            }
            let url = join_path(&self.api, "issue")?;
            let create = request(reqwest::Method::POST, url, Some(self.create.clone()));
            return Ok(Payload::Http(vec![create]));
        };
        let key = issue["key"].as_str().unwrap_or_default().to_owned();
        let url = join_path(&self.api, &format!("issue/{key}"))?;
        let update = request(reqwest::Method::PUT, url, Some(self.update.clone()));
        let status = &issue["fields"]["status"];
        let done = status["statusCategory"]["key"].as_str() == Some("done");
        let transition = match (self.firing, done) {
            (true, true) => &self.reopen,
            (false, false) => &self.resolve,
            _ => "",
        };
        if key.is_empty() || status.is_null() || transition.is_empty() {
            return Ok(Payload::Http(vec![update]));
        }
        let transitions = join_path(&self.api, &format!("issue/{key}/transitions"))?;
        let name = transition.to_owned();
        Ok(Payload::Exchange(
            Box::new(update),
            Then::new(format!("transition {name:?}"), move |_| {
                let list = request(reqwest::Method::GET, transitions.clone(), None);
                let (url, name, key) = (transitions.clone(), name.clone(), key.clone());
                Ok(Payload::Exchange(
                    Box::new(list),
                    Then::new(
                        format!("POST {url} with the id of {name:?}"),
                        move |answer| {
                            let id = transition_id(answer, &name, &key)?;
                            let body = json!({ "transition": { "id": id } });
                            Ok(Payload::Http(vec![request(
                                reqwest::Method::POST,
                                url.clone(),
                                Some(body),
                            )]))
                        },
                    ),
                ))
            }),
        ))
    }
}

/// The id of transition `name` in the list Jira `answer`ed for issue `key`.
fn transition_id(answer: &str, name: &str, key: &str) -> Result<String, String> {
    let list: Value = serde_json::from_str(answer)
        .map_err(|e| format!("cannot read the transitions of issue {key}: {e}"))?;
    list["transitions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"].as_str() == Some(name))
        .map(|t| match &t["id"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        })
        .ok_or_else(|| format!("can't find transition {name} for issue {key}"))
}

/// A request to Jira's API: JSON, in English.
fn request(method: reqwest::Method, url: String, body: Option<Value>) -> Request {
    let request = Request {
        method,
        url,
        headers: Vec::new(),
        body: match body {
            Some(body) => super::Body::Json(body),
            None => super::Body::Empty,
        },
        answer: super::Answer::Status,
    };
    let request = match request.body {
        super::Body::Empty => request.header("Content-Type", "application/json"),
        _ => request,
    };
    request.header("Accept-Language", "en")
}

/// Where the search goes: API v3's `search/jql` on Jira Cloud (`api_type: cloud`, or
/// `auto` and a host under `atlassian.net`), where the older search is gone; `search`
/// under `api_url` otherwise (Jira Data Center has no `search/jql`).
fn search_url(api: &str, api_type: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(api).map_err(|e| format!("invalid api_url {api:?}: {e}"))?;
    // Go's URL.Host: the port too, when the URL gives one.
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    if api_type == "cloud" || api_type == "auto" && host.ends_with("atlassian.net") {
        Ok(join_path(api, "/search/jql")?.replacen("/rest/api/2/", "/rest/api/3/", 1))
    } else {
        join_path(api, "/search")
    }
}

/// The JQL finding the group's issue in `project` by its `label`: one not done, or,
/// while the group fires and it can be reopened, one resolved within `reopen_duration`;
/// never one resolved as `wont_fix_resolution`.
fn jql(c: &JiraConfig, firing: bool, project: &str, label: &str) -> String {
    let quote = |s: &str| gotemplate::fmt::go_quote(s, false, '"');
    let mut jql = String::new();
    if let Some(wont_fix) = c.wont_fix_resolution.as_deref().filter(|w| !w.is_empty()) {
        // `resolution != X` alone leaves out the unresolved issues (resolution EMPTY).
        jql.push_str(&format!(
            "(resolution is EMPTY or resolution != {}) and ",
            quote(wont_fix)
        ));
    }
    let reopen_minutes = c.reopen_duration.map_or(0, |d| d.0 / 60_000);
    let reopenable = c
        .reopen_transition
        .as_deref()
        .is_some_and(|t| !t.is_empty());
    if firing && reopenable && reopen_minutes > 0 {
        jql.push_str(&format!(
            "(resolutiondate is EMPTY OR resolutiondate >= -{reopen_minutes}m) and "
        ));
    } else {
        jql.push_str("statusCategory != Done and ");
    }
    jql.push_str(&format!(
        "project={} and labels={} order by status ASC,resolutiondate DESC",
        quote(project),
        quote(label)
    ));
    jql
}

/// A text field's template (`None`: Alertmanager's default) and whether an update
/// rewrites it.
fn text_field(f: &Option<JiraField>) -> (Option<&str>, bool) {
    match f {
        None => (None, true),
        Some(JiraField::Template(t)) => (Some(t), true),
        Some(JiraField::Full(f)) => (f.template.as_deref(), f.enable_update.unwrap_or(true)),
    }
}

/// The issue's fields as Alertmanager sends them: project, type, summary, the group's
/// label beside the configured ones (sorted), the description and priority when they
/// render to something, and the configured fields over all of these.
fn fields(
    c: &JiraConfig,
    texts: &Texts<'_>,
    api: &str,
    project: &str,
    label: &str,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    out.insert("project".into(), json!({ "key": project }));
    out.insert("issuetype".into(), name_only(texts.text(&c.issue_type)));
    let summary = texts.or_default(text_field(&c.summary).0, "jira.default.summary");
    out.insert(
        "summary".into(),
        json!(truncate_runes(&summary, MAX_SUMMARY)),
    );
    let description = texts.or_default(text_field(&c.description).0, "jira.default.description");
    let description = truncate_runes(&description, MAX_DESCRIPTION);
    if api_v3(api) {
        // API v3 takes the Atlassian Document Format: the text must be JSON.
        let description = description.trim();
        if !description.is_empty() {
            let adf: Value = serde_json::from_str(description)
                .map_err(|e| format!("jira: description template: invalid JSON for API v3: {e}"))?;
            out.insert("description".into(), adf);
        }
    } else if !description.is_empty() {
        out.insert("description".into(), json!(description));
    }
    let mut labels: Vec<String> = c.labels.iter().map(|l| texts.text(l)).collect();
    labels.push(label.to_owned());
    labels.sort();
    out.insert("labels".into(), json!(labels));
    let priority = texts.or_default(c.priority.as_deref(), "jira.default.priority");
    if !priority.is_empty() {
        out.insert("priority".into(), name_only(priority));
    }
    for (key, value) in &c.fields {
        out.insert(texts.text(key), templated(value, texts));
    }
    Ok(out)
}

/// `{"name": name}`, or `{}` for an empty name (Go's `omitempty` on both id and name).
fn name_only(name: String) -> Value {
    if name.is_empty() {
        json!({})
    } else {
        json!({ "name": name })
    }
}

/// Whether `api` is Jira's API v3 (its path ends in `/3`), whose descriptions are ADF.
fn api_v3(api: &str) -> bool {
    reqwest::Url::parse(api).is_ok_and(|u| u.path().trim_end_matches('/').ends_with("/3"))
}

/// A configured field's value with every string (keys too) rendered; a rendered value
/// that reads as YAML other than a string (a number, a list, a map, a null) is sent as
/// that value, as Alertmanager's `DeepCopyWithTemplate` sends it.
fn templated(value: &Value, texts: &Texts<'_>) -> Value {
    match value {
        Value::String(s) => {
            let rendered = texts.text(s);
            match yaml::from_str::<Value>(&rendered) {
                Ok(Value::String(_)) | Err(_) => Value::String(rendered),
                Ok(parsed) => parsed,
            }
        }
        Value::Array(items) => items.iter().map(|v| templated(v, texts)).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (texts.text(k), templated(v, texts)))
            .collect(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{self, notifications, texts};

    /// The label of the test group's issue: `ALERT{` the SHA-256 of its group key `}`.
    fn label() -> String {
        format!("ALERT{{{}}}", group_key_hash("{}:{alertname=\"Down\"}"))
    }

    /// `receiver`'s Jira payload for alert `Down` firing (or resolved).
    fn plan(receiver: &str, resolved: bool) -> (Request, Then) {
        let notes = notifications(receiver, resolved);
        let n = notes.last().unwrap();
        let texts = texts(n);
        let payload = payload(n, &n.receiver.jira_configs[0], &texts).unwrap();
        texts.finish().unwrap();
        match payload {
            Payload::Exchange(search, then) => (*search, then),
            other => panic!("{other:?}"),
        }
    }

    fn body(r: &Request) -> Value {
        match &r.body {
            crate::notify::Body::Json(v) => v.clone(),
            crate::notify::Body::Empty => Value::Null,
            other => panic!("{other:?}"),
        }
    }

    /// The requests of `payload`, each exchange answered by `answers` in turn.
    fn requests(payload: Payload, answers: &[&str]) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        let mut next = Some(payload);
        let mut answers = answers.iter();
        while let Some(p) = next.take() {
            match p {
                Payload::Http(rs) => out.extend(
                    rs.iter()
                        .map(|r| (r.method.to_string(), r.url.clone(), body(r))),
                ),
                Payload::Exchange(r, then) => {
                    out.push((r.method.to_string(), r.url.clone(), body(&r)));
                    next = Some(then.next(answers.next().unwrap()).unwrap());
                }
                other => panic!("Jira sends only HTTP requests: {other:?}"),
            }
        }
        out
    }

    const DEFAULT: &str = "    jira_configs:\n      - api_url: http://jira/rest/api/2\n        project: OPS\n        issue_type: Bug\n";

    /// `jira.default.description` for alert `Down` (node n1, summary `it is down`).
    fn description(resolved: bool) -> String {
        let list = "\nLabels:\n  - alertname = Down\n  - node = n1\n\nAnnotations:\n  - summary = it is down\n\nSource: http://prom/graph\n\n";
        if resolved {
            format!("\n\n\n# Alerts Resolved:\n{list}\n\n")
        } else {
            format!("\n\n# Alerts Firing:\n{list}\n\n\n")
        }
    }

    #[test]
    fn a_firing_group_without_an_issue_creates_one() {
        let (search, then) = plan(DEFAULT, false);
        assert_eq!(search.url, "http://jira/rest/api/2/search");
        assert_eq!(
            search.headers,
            [("Accept-Language".to_owned(), "en".to_owned())]
        );
        assert_eq!(
            body(&search),
            json!({
                "fields": ["status"],
                "jql": format!("statusCategory != Done and project=\"OPS\" and labels=\"{}\" order by status ASC,resolutiondate DESC", label()),
                "maxResults": 2,
            })
        );
        let Payload::Http(create) = then.next(r#"{"issues":[]}"#).unwrap() else {
            panic!()
        };
        assert_eq!(
            (create[0].method.as_str(), create[0].url.as_str()),
            ("POST", "http://jira/rest/api/2/issue")
        );
        assert_eq!(
            body(&create[0]),
            json!({"fields": {
                "project": {"key": "OPS"},
                "issuetype": {"name": "Bug"},
                "summary": "[FIRING:1] Down (n1)",
                "description": description(false),
                "labels": [label()],
            }})
        );
    }

    #[test]
    fn a_resolved_group_without_an_issue_sends_nothing_more() {
        let (_, then) = plan(DEFAULT, true);
        assert!(matches!(then.next(r#"{"issues":[]}"#), Ok(Payload::Http(r)) if r.is_empty()));
        assert!(
            then.next("<html>")
                .unwrap_err()
                .starts_with("failed to look up existing issues")
        );
    }

    #[test]
    fn a_resolved_group_updates_and_resolves_its_issue() {
        let receiver = format!(
            "{DEFAULT}        resolve_transition: Done\n        reopen_transition: Reopen\n        summary:\n          enable_update: false\n"
        );
        let (search, then) = plan(&receiver, true);
        let found = r#"{"issues":[{"key":"OPS-7","fields":{"status":{"name":"Open","statusCategory":{"key":"new"}}}}]}"#;
        let transitions =
            r#"{"transitions":[{"id":"11","name":"Start"},{"id":"31","name":"Done"}]}"#;
        let sent = requests(
            Payload::Exchange(Box::new(search), then),
            &[found, "", transitions],
        );
        let fields = json!({
            "project": {"key": "OPS"},
            "issuetype": {"name": "Bug"},
            "description": description(true),
            "labels": [label()],
        });
        assert_eq!(
            sent,
            [
                (
                    "POST".into(),
                    "http://jira/rest/api/2/search".into(),
                    json!({
                        "fields": ["status"],
                        "jql": format!("statusCategory != Done and project=\"OPS\" and labels=\"{}\" order by status ASC,resolutiondate DESC", label()),
                        "maxResults": 2,
                    })
                ),
                (
                    "PUT".into(),
                    "http://jira/rest/api/2/issue/OPS-7".into(),
                    json!({"fields": fields})
                ),
                (
                    "GET".into(),
                    "http://jira/rest/api/2/issue/OPS-7/transitions".into(),
                    Value::Null
                ),
                (
                    "POST".into(),
                    "http://jira/rest/api/2/issue/OPS-7/transitions".into(),
                    json!({"transition": {"id": "31"}})
                ),
            ]
        );
    }

    #[test]
    fn a_firing_group_reopens_its_done_issue_and_a_missing_transition_is_an_error() {
        let receiver = format!(
            "{DEFAULT}        reopen_transition: Reopen\n        reopen_duration: 90m\n        wont_fix_resolution: \"Won't Do\"\n"
        );
        let (search, then) = plan(&receiver, false);
        assert_eq!(
            body(&search)["jql"],
            format!(
                "(resolution is EMPTY or resolution != \"Won't Do\") and (resolutiondate is EMPTY OR resolutiondate >= -90m) and project=\"OPS\" and labels=\"{}\" order by status ASC,resolutiondate DESC",
                label()
            )
        );
        let found =
            r#"{"issues":[{"key":"OPS-3","fields":{"status":{"statusCategory":{"key":"done"}}}}]}"#;
        let Payload::Exchange(update, then) = then.next(found).unwrap() else {
            panic!()
        };
        assert_eq!(update.url, "http://jira/rest/api/2/issue/OPS-3");
        let Payload::Exchange(list, then) = then.next("").unwrap() else {
            panic!()
        };
        assert_eq!(
            (list.method.as_str(), list.headers.clone()),
            (
                "GET",
                vec![
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                    ("Accept-Language".to_owned(), "en".to_owned())
                ]
            )
        );
        assert_eq!(
            then.next(r#"{"transitions":[{"id":"5","name":"Close"}]}"#)
                .unwrap_err(),
            "can't find transition Reopen for issue OPS-3"
        );
        // An open issue of a firing group is only updated.
        let (_, then) = plan(&receiver, false);
        let open = r#"{"issues":[{"key":"OPS-3","fields":{"status":{"statusCategory":{"key":"indeterminate"}}}}]}"#;
        assert!(
            matches!(then.next(open), Ok(Payload::Http(r)) if r.len() == 1 && r[0].method == reqwest::Method::PUT)
        );
    }

    #[test]
    fn configured_texts_labels_priority_and_fields_are_rendered() {
        let receiver = "    jira_configs:\n      - api_url: https://acme.atlassian.net/rest/api/2/\n        project: '{{ .CommonLabels.node }}'\n        issue_type: Incident\n        summary: '{{ .Status }}: {{ .CommonAnnotations.summary }}'\n        description:\n          template: '{{ .CommonLabels.alertname }}'\n        labels: [alertmanager, '{{ .CommonLabels.node }}']\n        priority: '{{ if eq .Status \"firing\" }}High{{ end }}'\n        fields:\n          components: [{name: Monitoring}]\n          customfield_10001: '{{ .CommonLabels.node }}'\n          customfield_10002: '{{ len .Alerts }}'\n          '{{ .CommonLabels.alertname }}_field': '[a, b]'\n          customfield_10003: ''\n          customfield_10004: 7\n";
        let (search, then) = plan(receiver, false);
        assert_eq!(
            search.url,
            "https://acme.atlassian.net/rest/api/3/search/jql"
        );
        assert!(
            body(&search)["jql"]
                .as_str()
                .unwrap()
                .contains("project=\"n1\"")
        );
        let Payload::Http(create) = then.next(r#"{"issues":[]}"#).unwrap() else {
            panic!()
        };
        assert_eq!(create[0].url, "https://acme.atlassian.net/rest/api/2/issue");
        let mut labels = vec!["alertmanager".to_owned(), "n1".to_owned(), label()];
        labels.sort();
        assert_eq!(
            body(&create[0]),
            json!({"fields": {
                "project": {"key": "n1"},
                "issuetype": {"name": "Incident"},
                "summary": "firing: it is down",
                "description": "Down",
                "labels": labels,
                "priority": {"name": "High"},
                "components": [{"name": "Monitoring"}],
                "customfield_10001": "n1",
                "customfield_10002": 1,
                "Down_field": ["a", "b"],
                "customfield_10003": null,
                "customfield_10004": 7,
            }})
        );
    }

    #[test]
    fn api_v3_descriptions_are_json_and_the_priority_follows_severity() {
        let adf = r#"{"type":"doc","version":1,"content":[]}"#;
        let receiver = format!(
            "    jira_configs:\n      - api_url: http://jira/rest/api/3\n        project: OPS\n        issue_type: Bug\n        api_type: datacenter\n        description: '  {adf}  '\n"
        );
        let (search, then) = plan(&receiver, false);
        assert_eq!(search.url, "http://jira/rest/api/3/search");
        let Payload::Http(create) = then.next(r#"{"issues":[]}"#).unwrap() else {
            panic!()
        };
        assert_eq!(
            body(&create[0])["fields"]["description"],
            serde_json::from_str::<Value>(adf).unwrap()
        );

        let notes = notifications(
            "    jira_configs:\n      - api_url: http://jira/rest/api/3\n        project: OPS\n        issue_type: Bug\n        description: not json\n",
            false,
        );
        let texts = texts(&notes[0]);
        let err = payload(&notes[0], &notes[0].receiver.jira_configs[0], &texts).unwrap_err();
        assert!(
            err.starts_with("jira: description template: invalid JSON for API v3"),
            "{err}"
        );

        let data = |severities: &[&str]| {
            let alerts = severities
                .iter()
                .map(|s| crate::template::Alert {
                    status: "firing".into(),
                    labels: [("severity".to_owned(), (*s).to_owned())].into(),
                    ..crate::template::Alert::firing(Default::default(), 0)
                })
                .collect();
            crate::template::Data::new("r", &Default::default(), alerts, "http://sky")
        };
        let templates = crate::template::Templates::defaults();
        let priority = |s: &[&str]| {
            templates
                .render(r#"{{ template "jira.default.priority" . }}"#, &data(s))
                .unwrap()
        };
        assert_eq!(priority(&["info", "warning"]), "Medium");
        assert_eq!(priority(&["critical", "warning", "info"]), "High");
        assert_eq!(priority(&["info"]), "Low");
        assert_eq!(priority(&["none"]), "");
    }

    #[tokio::test]
    async fn jira_is_asked_with_http_config_credentials_and_its_issue_created() {
        let (addr, mut received) = testing::fake(|r| match r.uri.as_str() {
            "/rest/api/2/search" => (200, r#"{"issues":[]}"#.into()),
            _ => (201, r#"{"id":"1","key":"OPS-1"}"#.into()),
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "pat\n").unwrap();
        let service = testing::service(&format!(
            "    jira_configs:\n      - api_url: http://{addr}/rest/api/2/\n        project: OPS\n        issue_type: Bug\n        http_config:\n          basic_auth: {{username: me@example.org, password_file: {}}}\n",
            password.display()
        ));
        let outcome = testing::outcome(&service).await;
        let search = received.recv().await.unwrap();
        assert_eq!(
            (search.method.as_str(), search.uri.as_str()),
            ("POST", "/rest/api/2/search")
        );
        let create = received.recv().await.unwrap();
        assert_eq!(
            (create.method.as_str(), create.uri.as_str()),
            ("POST", "/rest/api/2/issue")
        );
        for r in [&search, &create] {
            assert_eq!(r.header("authorization"), "Basic bWVAZXhhbXBsZS5vcmc6cGF0");
            assert_eq!(r.header("accept-language"), "en");
            assert_eq!(r.header("content-type"), "application/json");
        }
        let issue: Value = serde_json::from_str(&create.body).unwrap();
        assert_eq!(issue["fields"]["summary"], "[FIRING:1] Down ");
        assert_eq!(outcome, ("sent".to_owned(), String::new()));
    }

    #[tokio::test]
    async fn a_refused_issue_fails_naming_jira_and_the_url() {
        let (addr, _received) = testing::fake(|r| match r.uri.as_str() {
            "/search" => (200, r#"{"issues":[]}"#.into()),
            _ => (
                400,
                r#"{"errors":{"project":"project is required"}}"#.into(),
            ),
        })
        .await;
        let service = testing::service(&format!(
            "    jira_configs:\n      - api_url: http://{addr}\n        project: OPS\n        issue_type: Bug\n"
        ));
        assert_eq!(
            testing::outcome(&service).await,
            (
                "failed".to_owned(),
                format!(
                    "jira: http://{addr}/issue answered 400 Bad Request: {{\"errors\":{{\"project\":\"project is required\"}}}}"
                )
            )
        );
    }
}
