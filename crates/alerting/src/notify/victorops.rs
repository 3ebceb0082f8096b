//! VictorOps (Splunk On-Call): the REST endpoint's event, as Alertmanager's
//! `notify/victorops` makes it. The incident is the group: `entity_id` is the group key's
//! SHA-256, so an incident Alertmanager opened, Skywatch recovers.

use serde_json::{Value, json};

use super::{Request, Texts, go_path_escape, group_key_hash, secret, truncate_runes};
use crate::dispatch::Notification;

/// VictorOps's limit on `state_message`, in characters.
const MAX_STATE_MESSAGE: usize = 20480;

/// The event `v` posts for `n` to `{api_url}{api_key}/{routing_key}`: the API key as
/// given (or read from its file), the routing key rendered, both escaped as Go escapes
/// a URL's path.
pub(super) fn request(
    n: &Notification,
    v: &crate::config::VictorOpsConfig,
    texts: &Texts<'_>,
) -> Result<Request, String> {
    let api_key = secret(&v.api_key, &v.api_key_file)?;
    let routing_key = texts.text(&v.routing_key);
    // Set after parsing: the configured URL or the global one, ending in `/`.
    let api = v
        .api_url
        .as_deref()
        .unwrap_or("https://alert.victorops.com/integrations/generic/20131114/alert/");
    let url = format!(
        "{api}{}/{}",
        go_path_escape(&api_key),
        go_path_escape(&routing_key)
    );
    Ok(Request::post_json(url, json(n, v, texts)))
}

/// The event: `message_type` `RECOVERY` when every alert is resolved, else the configured
/// type if it renders to `INFO`, `WARNING` or `CRITICAL`, else `CRITICAL`; the texts
/// rendered (Alertmanager's defaults where not configured) and the custom fields beside.
fn json(n: &Notification, v: &crate::config::VictorOpsConfig, texts: &Texts<'_>) -> Value {
    let message_type = texts.text(v.message_type.as_deref().unwrap_or("CRITICAL"));
    let message_type = match message_type.as_str() {
        _ if n.firing() == 0 => "RECOVERY",
        kind @ ("INFO" | "WARNING" | "CRITICAL") => kind,
        _ => "CRITICAL",
    };
    let field = |text: &Option<String>, name: &str| texts.or_default(text.as_deref(), name);
    let mut event = serde_json::Map::new();
    event.insert("message_type".into(), json!(message_type));
    event.insert("entity_id".into(), json!(group_key_hash(&n.group_key)));
    event.insert(
        "entity_display_name".into(),
        json!(field(
            &v.entity_display_name,
            "victorops.default.entity_display_name"
        )),
    );
    event.insert(
        "state_message".into(),
        json!(truncate_runes(
            &field(&v.state_message, "victorops.default.state_message"),
            MAX_STATE_MESSAGE
        )),
    );
    event.insert(
        "monitoring_tool".into(),
        json!(field(
            &v.monitoring_tool,
            "victorops.default.monitoring_tool"
        )),
    );
    for (k, value) in &v.custom_fields {
        event.insert(k.clone(), json!(texts.text(value)));
    }
    Value::Object(event)
}
