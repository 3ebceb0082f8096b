//! `receivers`: each integration's section with every key Alertmanager documents, its
//! `send_resolved` default, the checks Alertmanager makes when it reads the section, and
//! the defaults it takes from `global`.
//!
//! Keys are Alertmanager 0.25's unless a field says it is newer; `msteams_configs`,
//! `jira_configs` and `rocketchat_configs` are read as the newest Alertmanager documents
//! them (Alertmanager 0.25 refuses them as unknown keys). Template texts are kept as
//! written; `None` means Alertmanager's default text for the field.

use std::collections::BTreeMap;

use httpclient::config::{HttpClientConfig, TlsConfig};
use serde::Deserialize;
use yaml::Spanned;

use super::Global;

/// The settings Alertmanager uses when neither a receiver nor `global` gives
/// `http_config`: redirects followed, HTTP/2 offered.
pub(super) fn default_http() -> HttpClientConfig {
    HttpClientConfig {
        follow_redirects: true,
        enable_http2: true,
        ..HttpClientConfig::default()
    }
}

fn yes() -> bool {
    true
}

/// A receiver: a name and its integrations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// Its name, which routes give.
    pub name: Spanned<String>,
    /// Webhooks, given Alertmanager's JSON payload.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    /// Slack incoming webhooks or the Slack API.
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    /// PagerDuty, Events API v2 (or v1 with `service_key`).
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// Email over SMTP.
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    /// Opsgenie alerts.
    #[serde(default)]
    pub opsgenie_configs: Vec<OpsgenieConfig>,
    /// VictorOps (Splunk On-Call) REST endpoint.
    #[serde(default)]
    pub victorops_configs: Vec<VictorOpsConfig>,
    /// Pushover messages.
    #[serde(default)]
    pub pushover_configs: Vec<PushoverConfig>,
    /// Amazon SNS, signed with SigV4.
    #[serde(default)]
    pub sns_configs: Vec<SnsConfig>,
    /// Telegram bot messages.
    #[serde(default)]
    pub telegram_configs: Vec<TelegramConfig>,
    /// Discord webhooks.
    #[serde(default)]
    pub discord_configs: Vec<DiscordConfig>,
    /// Webex messages.
    #[serde(default)]
    pub webex_configs: Vec<WebexConfig>,
    /// WeChat Work messages.
    #[serde(default)]
    pub wechat_configs: Vec<WechatConfig>,
    /// Microsoft Teams incoming webhooks (newer than Alertmanager 0.25).
    #[serde(default)]
    pub msteams_configs: Vec<MsTeamsConfig>,
    /// Jira issues (newer than Alertmanager 0.25).
    #[serde(default)]
    pub jira_configs: Vec<JiraConfig>,
    /// Rocket.Chat messages (newer than Alertmanager 0.25).
    #[serde(default)]
    pub rocketchat_configs: Vec<RocketchatConfig>,
}

/// `webhook_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// Where the payload is POSTed (empty when `url_file` gives it).
    #[serde(default)]
    pub url: String,
    /// A file holding the URL (newer than Alertmanager 0.25).
    #[serde(default)]
    pub url_file: Option<String>,
    /// The most alerts in one payload; 0: all.
    #[serde(default)]
    pub max_alerts: usize,
}

/// `slack_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Whether resolved alerts are sent too (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The incoming webhook; `global.slack_api_url` if neither it nor `api_url_file` is set.
    #[serde(default)]
    pub api_url: Option<String>,
    /// A file holding the webhook URL; `global.slack_api_url_file` likewise.
    #[serde(default)]
    pub api_url_file: Option<String>,
    /// The channel (`#name`) or user (`@name`).
    #[serde(default)]
    pub channel: Option<String>,
    /// The rest are Go templates over the notification, as Alertmanager documents them.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub color: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub title: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub title_link: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub pretext: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub text: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub fields: Vec<SlackField>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub short_fields: bool,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub footer: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub fallback: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub callback_id: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub icon_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub image_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub thumb_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub link_names: bool,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub mrkdwn_in: Vec<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub actions: Vec<SlackAction>,
}

/// A field of a Slack attachment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub title: String,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub value: String,
    /// Whether it is shown side by side; `short_fields` if unset.
    #[serde(default)]
    pub short: Option<bool>,
}

/// A button of a Slack attachment: a link (`url`) or a message action (`name`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct SlackAction {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub style: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub confirm: Option<SlackConfirm>,
}

/// The confirmation a Slack action asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct SlackConfirm {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub ok_text: String,
    #[serde(default)]
    pub dismiss_text: String,
}

/// `pagerduty_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The Events API v2 integration key.
    #[serde(default)]
    pub routing_key: Option<String>,
    /// A file holding the routing key.
    #[serde(default)]
    pub routing_key_file: Option<String>,
    /// The Events API v1 key.
    #[serde(default)]
    pub service_key: Option<String>,
    /// A file holding the service key.
    #[serde(default)]
    pub service_key_file: Option<String>,
    /// The Events API URL; `global.pagerduty_url` if unset (set after parsing).
    #[serde(default)]
    pub url: Option<String>,
    /// The rest are Go templates over the notification, as Alertmanager documents them.
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub client_url: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub description: Option<String>,
    /// Custom details; Alertmanager's `firing`, `resolved`, `num_firing` and
    /// `num_resolved` are added unless given.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub images: Vec<PagerdutyImage>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub links: Vec<PagerdutyLink>,
    /// The event's source; `client` if unset.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub severity: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub class: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub component: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
    pub group: Option<String>,
}

/// An image of a PagerDuty event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct PagerdutyImage {
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub alt: String,
    #[serde(default)]
    pub href: String,
}

/// A link of a PagerDuty event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct PagerdutyLink {
    #[serde(default)]
    pub href: String,
    #[serde(default)]
    pub text: String,
}

/// `email_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Whether resolved alerts are sent too (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// The recipients, comma-separated.
    #[serde(default)]
    pub to: String,
    /// The sender; `global.smtp_from` if unset (set after parsing).
    #[serde(default)]
    pub from: Option<String>,
    /// The name given in EHLO; `global.smtp_hello` (`localhost`) if unset.
    #[serde(default)]
    pub hello: Option<String>,
    /// `host:port` of the SMTP server; `global.smtp_smarthost` if unset.
    #[serde(default)]
    pub smarthost: Option<String>,
    /// SMTP AUTH credentials; the `global.smtp_auth_*` ones if unset.
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "as `auth_username`")]
    pub auth_password: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "as `auth_username`")]
    pub auth_password_file: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "as `auth_username`")]
    pub auth_secret: Option<String>,
    #[serde(default)]
    #[allow(missing_docs, reason = "as `auth_username`")]
    pub auth_identity: Option<String>,
    /// Extra headers, `Subject` among them, keyed as MIME canonicalises them.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The HTML body (a template); Alertmanager's `email.default.html` if unset.
    #[serde(default)]
    pub html: Option<String>,
    /// The text body (a template); none if unset.
    #[serde(default)]
    pub text: Option<String>,
    /// Whether STARTTLS is required; `global.smtp_require_tls` (true) if unset.
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// TLS settings for the SMTP connection.
    #[serde(default)]
    pub tls_config: TlsConfig,
}

/// `opsgenie_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct OpsgenieConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The API key; `global.opsgenie_api_key(_file)` if neither it nor the file is set.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// The API URL; `global.opsgenie_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub responders: Vec<OpsgenieResponder>,
    #[serde(default)]
    pub actions: Option<String>,
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub update_alerts: bool,
}

/// A responder of an Opsgenie alert: one of `id`, `name` or `username`, and a type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct OpsgenieResponder {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub username: String,
    #[serde(default, rename = "type")]
    pub type_: String,
}

/// `victorops_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct VictorOpsConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The API key; `global.victorops_api_key(_file)` if neither it nor the file is set.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// The API URL; `global.victorops_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub routing_key: String,
    /// `CRITICAL` if unset.
    #[serde(default)]
    pub message_type: Option<String>,
    #[serde(default)]
    pub state_message: Option<String>,
    #[serde(default)]
    pub entity_display_name: Option<String>,
    #[serde(default)]
    pub monitoring_tool: Option<String>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
}

/// `pushover_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct PushoverConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub user_key: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_title: Option<String>,
    #[serde(default)]
    pub sound: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    /// How often an emergency message is repeated, a Go duration (`1m` if unset).
    #[serde(default)]
    pub retry: Option<String>,
    /// How long it is repeated, a Go duration (`1h` if unset).
    #[serde(default)]
    pub expire: Option<String>,
    #[serde(default)]
    pub html: bool,
}

impl PushoverConfig {
    /// `retry` in whole seconds, as Alertmanager sends it (1 minute if unset).
    pub fn retry_seconds(&self) -> i64 {
        whole_seconds(&self.retry, 60)
    }

    /// `expire` in whole seconds, as Alertmanager sends it (1 hour if unset).
    pub fn expire_seconds(&self) -> i64 {
        whole_seconds(&self.expire, 3600)
    }
}

/// A checked Go duration in whole seconds, cut toward zero as Go's `int64(d.Seconds())`.
fn whole_seconds(duration: &Option<String>, default: i64) -> i64 {
    match duration {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "Go's int64 conversion truncates too"
        )]
        Some(d) => go_duration("", d).map_or(default, |s| s.trunc() as i64),
        None => default,
    }
}

/// `sns_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct SnsConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The SNS API URL; the region's if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub sigv4: SigV4Config,
    #[serde(default)]
    pub topic_arn: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub target_arn: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// AWS Signature Version 4 settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct SigV4Config {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub secret_key: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub role_arn: Option<String>,
}

/// `telegram_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct TelegramConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The Bot API URL; `global.telegram_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub bot_token: String,
    #[serde(default)]
    pub chat_id: i64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub disable_notifications: bool,
    /// `HTML` if unset.
    #[serde(default)]
    pub parse_mode: Option<String>,
}

/// `discord_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct DiscordConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `webex_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct WebexConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings, which must give `authorization` (the bot's token).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The messages API URL; `global.webex_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub room_id: String,
}

/// `wechat_configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct WechatConfig {
    /// Whether resolved alerts are sent too (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// `global.wechat_api_secret` if unset.
    #[serde(default)]
    pub api_secret: Option<String>,
    /// `global.wechat_api_corp_id` if unset.
    #[serde(default)]
    pub corp_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// `global.wechat_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub to_user: Option<String>,
    #[serde(default)]
    pub to_party: Option<String>,
    #[serde(default)]
    pub to_tag: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// `text` or `markdown`; `text` if unset.
    #[serde(default)]
    pub message_type: Option<String>,
}

/// `msteams_configs` (newer than Alertmanager 0.25).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct MsTeamsConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// `jira_configs` (newer than Alertmanager 0.25).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct JiraConfig {
    /// Whether resolved alerts are sent too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// The Jira API URL; `global.jira_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    /// `auto`, `cloud` or `datacenter`; `auto` if unset.
    #[serde(default)]
    pub api_type: Option<String>,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub summary: Option<JiraField>,
    #[serde(default)]
    pub description: Option<JiraField>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub issue_type: String,
    #[serde(default)]
    pub reopen_transition: Option<String>,
    #[serde(default)]
    pub resolve_transition: Option<String>,
    #[serde(default)]
    pub wont_fix_resolution: Option<String>,
    #[serde(default)]
    pub reopen_duration: Option<super::Duration>,
    /// Custom fields, as written (any YAML value).
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// A Jira text field: a template, or a template and whether updates rewrite it.
#[derive(Debug, Clone)]
pub enum JiraField {
    /// `summary: '{{ ... }}'`.
    Template(String),
    /// `summary: { template: ..., enable_update: false }`.
    Full(JiraFieldConfig),
}

impl<'de> Deserialize<'de> for JiraField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Field;
        impl<'de> serde::de::Visitor<'de> for Field {
            type Value = JiraField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a template, or a map of template and enable_update")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<JiraField, E> {
                Ok(JiraField::Template(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<JiraField, A::Error> {
                JiraFieldConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(JiraField::Full)
            }
        }
        d.deserialize_any(Field)
    }
}

/// A Jira text field written as a map: Alertmanager refuses other keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraFieldConfig {
    /// The text's template; Alertmanager's default if unset.
    #[serde(default)]
    pub template: Option<String>,
    /// Whether an update of the issue rewrites the field (default true).
    #[serde(default)]
    pub enable_update: Option<bool>,
}

/// `rocketchat_configs` (newer than Alertmanager 0.25).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct RocketchatConfig {
    /// Whether resolved alerts are sent too (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// The HTTP client settings; `global.http_config` if unset (set after parsing).
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    /// `global.rocketchat_api_url` if unset.
    #[serde(default)]
    pub api_url: Option<String>,
    /// `global.rocketchat_token_id(_file)` if neither is set.
    #[serde(default)]
    pub token_id: Option<String>,
    #[serde(default)]
    pub token_id_file: Option<String>,
    /// `global.rocketchat_token(_file)` if neither is set.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_link: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<RocketchatField>,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default)]
    pub emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub thumb_url: Option<String>,
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub actions: Vec<RocketchatAction>,
}

/// A field of a Rocket.Chat attachment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct RocketchatField {
    #[serde(default)]
    pub short: Option<bool>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub value: String,
}

/// A button of a Rocket.Chat attachment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "named as in Alertmanager's documentation")]
pub struct RocketchatAction {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub msg: String,
}

/// `a` and `b` both set is an error: `at most one of a & b must be configured`.
fn at_most_one(a: (&str, bool), b: (&str, bool)) -> Result<(), String> {
    if a.1 && b.1 {
        return Err(format!(
            "at most one of {} & {} must be configured; remove one",
            a.0, b.0
        ));
    }
    Ok(())
}

/// An integration's API URL: its own, else `global`'s, else Alertmanager's `default`, ending
/// in `/` as Alertmanager makes it.
fn api_url(own: &Option<String>, global: &Option<String>, default: &str) -> String {
    let mut url = own
        .clone()
        .or_else(|| global.clone())
        .unwrap_or_else(|| default.to_owned());
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

/// A secret given inline or in a file, taken from `global` (both forms) where neither is
/// set here; `missing` is the error when `global` has neither.
fn inherit_secret(
    own: (&mut Option<String>, &mut Option<String>),
    global: (&Option<String>, &Option<String>),
    missing: impl FnOnce() -> String,
) -> Result<(), String> {
    if set(own.0) || set(own.1) {
        return Ok(());
    }
    if !set(global.0) && !set(global.1) {
        return Err(missing());
    }
    own.0.clone_from(global.0);
    own.1.clone_from(global.1);
    Ok(())
}

fn set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

/// Checks a URL as Alertmanager's configuration reads one: `http` or `https`, with a host.
pub(super) fn check_url(field: &str, url: &str) -> Result<(), String> {
    // Go's url.Parse: a scheme is letters, digits, `+`, `-` and `.` before the first `:`,
    // starting with a letter; anything else before it leaves the scheme empty.
    let scheme = match url.find(':') {
        Some(i)
            if url[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                && url[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            &url[..i]
        }
        _ => "",
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{field}: unsupported scheme {scheme:?} for URL {url:?}: write http:// or https:// and the host"
        ));
    }
    let rest = &url[scheme.len() + 1..];
    let authority = rest
        .strip_prefix("//")
        .map_or("", |r| r.split(['/', '?', '#']).next().unwrap_or_default());
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err(format!("{field}: missing host for URL {url:?}"));
    }
    // A port, if any, is digits (after an IPv6 address's `]`).
    let after = host.rsplit_once(']').map_or(host, |(_, p)| p);
    if let Some((_, port)) = after.rsplit_once(':')
        && !port.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("{field}: invalid port {port:?} in URL {url:?}"));
    }
    if url.chars().any(|c| c.is_control() || c == ' ') && host.contains(' ') {
        return Err(format!("{field}: invalid character in host of {url:?}"));
    }
    Ok(())
}

/// A URL whose value is a secret: Alertmanager also accepts `<secret>`, which it writes
/// in place of one.
fn check_secret_url(field: &str, url: &str) -> Result<(), String> {
    if url == "<secret>" {
        return Ok(());
    }
    check_url(field, url)
}

/// `host:port` as Go's net.SplitHostPort reads it; empty means unset.
pub(super) fn check_host_port(field: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    let port = if let Some(rest) = s.strip_prefix('[') {
        let (_, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{field}: address {s:?}: missing ']' in address"))?;
        after.strip_prefix(':').ok_or_else(|| {
            format!("{field}: address {s:?}: missing port in address; write host:port")
        })?
    } else {
        let (host, port) = s.rsplit_once(':').ok_or_else(|| {
            format!("{field}: address {s:?}: missing port in address; write host:port, such as smtp.example.org:587")
        })?;
        if host.contains(':') {
            return Err(format!(
                "{field}: address {s:?}: too many colons in address; write [ipv6]:port"
            ));
        }
        port
    };
    if port.is_empty() {
        return Err(format!(
            "{field}: address {s:?}: port cannot be empty; write host:port"
        ));
    }
    Ok(())
}

/// A duration as Go's time.ParseDuration reads it, in seconds: `90s`, `1m30s`, `1.5h`, `0`.
fn go_duration(field: &str, s: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "{field}: time: invalid duration {s:?}; write a number and a unit, such as 30s, 1m or 1h30m"
        )
    };
    let sign = if s.starts_with('-') { -1.0 } else { 1.0 };
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (times, per) = match &rest[..unit_len] {
            "ns" => (1.0, 1e9),
            "us" | "µs" | "μs" => (1.0, 1e6),
            "ms" => (1.0, 1e3),
            "s" => (1.0, 1.0),
            "m" => (60.0, 1.0),
            "h" => (3600.0, 1.0),
            _ => return Err(bad()),
        };
        seconds += number.parse::<f64>().map_err(|_| bad())? * times / per;
        rest = &rest[unit_len..];
    }
    Ok(sign * seconds)
}

/// Fills unset HTTP client settings from `global.http_config` (or the defaults).
fn fill_http(http: &mut Option<HttpClientConfig>, global: &Global) {
    if http.is_none() {
        *http = Some(global.http_config.clone().unwrap_or_else(default_http));
    }
}

/// Checks a receiver's HTTP client settings, if given.
fn check_http(field: &str, http: &Option<HttpClientConfig>) -> Result<(), String> {
    match http {
        Some(h) => h.check().map_err(|e| format!("{field}.http_config: {e}")),
        None => Ok(()),
    }
}

impl Receiver {
    /// Checks every integration as Alertmanager does when it reads it, then fills what
    /// `global` gives, failing as Alertmanager does when neither gives a required value.
    /// `at` names the receiver in errors (`receivers[2]`).
    pub(super) fn check_and_fill(&mut self, at: &str, global: &Global) -> Result<(), String> {
        if self.name.value.is_empty() {
            return Err(format!("{at}: missing name in receiver; give it a name"));
        }
        for (j, c) in self.webhook_configs.iter_mut().enumerate() {
            let f = format!("{at}.webhook_configs[{j}]");
            check_http(&f, &c.http_config)?;
            at_most_one(("url", !c.url.is_empty()), ("url_file", set(&c.url_file)))?;
            if c.url.is_empty() && !set(&c.url_file) {
                return Err(format!("{f}: missing URL in webhook config; set url"));
            }
            if !c.url.is_empty() {
                check_secret_url(&format!("{f}.url"), &c.url)?;
            }
            fill_http(&mut c.http_config, global);
        }
        for (j, c) in self.email_configs.iter_mut().enumerate() {
            let f = format!("{at}.email_configs[{j}]");
            if c.to.is_empty() {
                return Err(format!("{f}: missing to address in email config; set to"));
            }
            check_host_port(
                &format!("{f}.smarthost"),
                c.smarthost.as_deref().unwrap_or(""),
            )?;
            at_most_one(
                ("auth_password", set(&c.auth_password)),
                ("auth_password_file", set(&c.auth_password_file)),
            )
            .map_err(|e| format!("{f}: {e}"))?;
            let mut canonical = BTreeMap::new();
            for (name, value) in std::mem::take(&mut c.headers) {
                let key = canonical_header(&name);
                if canonical.insert(key.clone(), value).is_some() {
                    return Err(format!(
                        "{f}.headers: duplicate header {key:?} in email config (header names ignore case)"
                    ));
                }
            }
            c.headers = canonical;
            if !set(&c.smarthost) {
                if !set(&global.smtp_smarthost) {
                    return Err(format!(
                        "{f}: no global SMTP smarthost set; set smarthost or global.smtp_smarthost"
                    ));
                }
                c.smarthost.clone_from(&global.smtp_smarthost);
            }
            if !set(&c.from) {
                if !set(&global.smtp_from) {
                    return Err(format!(
                        "{f}: no global SMTP from set; set from or global.smtp_from"
                    ));
                }
                c.from.clone_from(&global.smtp_from);
            }
            if !set(&c.hello) {
                c.hello = Some(
                    global
                        .smtp_hello
                        .clone()
                        .unwrap_or_else(|| "localhost".into()),
                );
            }
            if !set(&c.auth_username) {
                c.auth_username.clone_from(&global.smtp_auth_username);
            }
            if !set(&c.auth_password) && !set(&c.auth_password_file) {
                c.auth_password.clone_from(&global.smtp_auth_password);
                c.auth_password_file
                    .clone_from(&global.smtp_auth_password_file);
            }
            if !set(&c.auth_secret) {
                c.auth_secret.clone_from(&global.smtp_auth_secret);
            }
            if !set(&c.auth_identity) {
                c.auth_identity.clone_from(&global.smtp_auth_identity);
            }
            if c.require_tls.is_none() {
                c.require_tls = Some(global.smtp_require_tls.unwrap_or(true));
            }
        }
        for (j, c) in self.slack_configs.iter_mut().enumerate() {
            let f = format!("{at}.slack_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_secret_url(&format!("{f}.api_url"), url)?;
            }
            at_most_one(
                ("api_url", c.api_url.is_some()),
                ("api_url_file", set(&c.api_url_file)),
            )
            .map_err(|e| format!("{f}: {e}"))?;
            for (k, field) in c.fields.iter().enumerate() {
                if field.title.is_empty() {
                    return Err(format!(
                        "{f}.fields[{k}]: missing title in Slack field configuration"
                    ));
                }
                if field.value.is_empty() {
                    return Err(format!(
                        "{f}.fields[{k}]: missing value in Slack field configuration"
                    ));
                }
            }
            for (k, action) in c.actions.iter_mut().enumerate() {
                let a = format!("{f}.actions[{k}]");
                if action.type_.is_empty() {
                    return Err(format!("{a}: missing type in Slack action configuration"));
                }
                if action.text.is_empty() {
                    return Err(format!("{a}: missing text in Slack action configuration"));
                }
                if !action.url.is_empty() {
                    // A link button: Alertmanager drops the message-action keys.
                    action.name.clear();
                    action.value.clear();
                    action.confirm = None;
                } else if action.name.is_empty() {
                    return Err(format!(
                        "{a}: missing name or url in Slack action configuration"
                    ));
                }
                if let Some(confirm) = &action.confirm
                    && confirm.text.is_empty()
                {
                    return Err(format!(
                        "{a}.confirm: missing text in Slack confirmation configuration"
                    ));
                }
            }
            fill_http(&mut c.http_config, global);
            if c.api_url.is_none() && !set(&c.api_url_file) {
                if global.slack_api_url.is_none() && !set(&global.slack_api_url_file) {
                    return Err(format!(
                        "{f}: no global Slack API URL set either inline or in a file; set api_url or global.slack_api_url"
                    ));
                }
                c.api_url.clone_from(&global.slack_api_url);
                c.api_url_file.clone_from(&global.slack_api_url_file);
            }
        }
        for (j, c) in self.pushover_configs.iter_mut().enumerate() {
            let f = format!("{at}.pushover_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if c.user_key.is_empty() {
                return Err(format!(
                    "{f}: missing user key in Pushover config; set user_key"
                ));
            }
            if c.token.is_empty() {
                return Err(format!("{f}: missing token in Pushover config; set token"));
            }
            for (key, value) in [("retry", &c.retry), ("expire", &c.expire)] {
                if let Some(v) = value {
                    go_duration(&format!("{f}.{key}"), v)?;
                }
            }
            fill_http(&mut c.http_config, global);
        }
        for (j, c) in self.pagerduty_configs.iter_mut().enumerate() {
            let f = format!("{at}.pagerduty_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.url {
                check_url(&format!("{f}.url"), url)?;
            }
            if !set(&c.routing_key)
                && !set(&c.service_key)
                && !set(&c.routing_key_file)
                && !set(&c.service_key_file)
            {
                return Err(format!(
                    "{f}: missing service or routing key in PagerDuty config; set routing_key"
                ));
            }
            at_most_one(
                ("routing_key", set(&c.routing_key)),
                ("routing_key_file", set(&c.routing_key_file)),
            )
            .and_then(|()| {
                at_most_one(
                    ("service_key", set(&c.service_key)),
                    ("service_key_file", set(&c.service_key_file)),
                )
            })
            .map_err(|e| format!("{f}: {e}"))?;
            if !set(&c.source) {
                c.source.clone_from(&c.client);
            }
            fill_http(&mut c.http_config, global);
            if c.url.is_none() {
                c.url = Some(
                    global
                        .pagerduty_url
                        .clone()
                        .unwrap_or_else(|| super::PAGERDUTY_URL.into()),
                );
            }
        }
        for (j, c) in self.opsgenie_configs.iter_mut().enumerate() {
            let f = format!("{at}.opsgenie_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            at_most_one(
                ("api_key", set(&c.api_key)),
                ("api_key_file", set(&c.api_key_file)),
            )
            .map_err(|e| format!("{f}: {e}"))?;
            for (k, r) in c.responders.iter().enumerate() {
                if r.id.is_empty() && r.username.is_empty() && r.name.is_empty() {
                    return Err(format!(
                        "{f}.responders[{k}]: an Opsgenie responder has to have at least one of id, username or name specified"
                    ));
                }
                // Checked lowercased but kept as written: Alertmanager 0.25 lowercases a
                // copy and sends the type as configured.
                if !r.type_.contains("{{")
                    && !["team", "teams", "user", "escalation", "schedule"]
                        .contains(&r.type_.to_lowercase().as_str())
                {
                    return Err(format!(
                        "{f}.responders[{k}]: type {:?} does not match valid options team, teams, user, escalation, schedule",
                        r.type_
                    ));
                }
            }
            fill_http(&mut c.http_config, global);
            c.api_url = Some(api_url(
                &c.api_url,
                &global.opsgenie_api_url,
                "https://api.opsgenie.com/",
            ));
            inherit_secret(
                (&mut c.api_key, &mut c.api_key_file),
                (&global.opsgenie_api_key, &global.opsgenie_api_key_file),
                || {
                    format!(
                        "{f}: no global OpsGenie API Key set either inline or in a file; set api_key or global.opsgenie_api_key"
                    )
                },
            )?;
        }
        for (j, c) in self.wechat_configs.iter_mut().enumerate() {
            let f = format!("{at}.wechat_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            let kind = c.message_type.get_or_insert_with(|| "text".into());
            if kind.is_empty() {
                *kind = "text".into();
            }
            if kind != "text" && kind != "markdown" {
                return Err(format!(
                    "{f}.message_type: WeChat message type {kind:?} does not match valid options text, markdown"
                ));
            }
            fill_http(&mut c.http_config, global);
            c.api_url = Some(api_url(
                &c.api_url,
                &global.wechat_api_url,
                "https://qyapi.weixin.qq.com/cgi-bin/",
            ));
            if !set(&c.api_secret) {
                if !set(&global.wechat_api_secret) {
                    return Err(format!(
                        "{f}: no global Wechat ApiSecret set; set api_secret or global.wechat_api_secret"
                    ));
                }
                c.api_secret.clone_from(&global.wechat_api_secret);
            }
            if !set(&c.corp_id) {
                if !set(&global.wechat_api_corp_id) {
                    return Err(format!(
                        "{f}: no global Wechat CorpID set; set corp_id or global.wechat_api_corp_id"
                    ));
                }
                c.corp_id.clone_from(&global.wechat_api_corp_id);
            }
        }
        for (j, c) in self.victorops_configs.iter_mut().enumerate() {
            let f = format!("{at}.victorops_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            if c.routing_key.is_empty() {
                return Err(format!(
                    "{f}: missing Routing key in VictorOps config; set routing_key"
                ));
            }
            at_most_one(
                ("api_key", set(&c.api_key)),
                ("api_key_file", set(&c.api_key_file)),
            )
            .map_err(|e| format!("{f}: {e}"))?;
            for reserved in [
                "routing_key",
                "message_type",
                "state_message",
                "entity_display_name",
                "monitoring_tool",
                "entity_id",
                "entity_state",
            ] {
                if c.custom_fields.contains_key(reserved) {
                    return Err(format!(
                        "{f}.custom_fields: {reserved} cannot be used as it conflicts with the fixed/static fields"
                    ));
                }
            }
            fill_http(&mut c.http_config, global);
            c.api_url = Some(api_url(
                &c.api_url,
                &global.victorops_api_url,
                "https://alert.victorops.com/integrations/generic/20131114/alert/",
            ));
            inherit_secret(
                (&mut c.api_key, &mut c.api_key_file),
                (&global.victorops_api_key, &global.victorops_api_key_file),
                || {
                    format!(
                        "{f}: no global VictorOps API Key set; set api_key or global.victorops_api_key"
                    )
                },
            )?;
        }
        for (j, c) in self.sns_configs.iter_mut().enumerate() {
            let f = format!("{at}.sns_configs[{j}]");
            check_http(&f, &c.http_config)?;
            let s = &c.sigv4;
            if set(&s.access_key) != set(&s.secret_key) {
                return Err(format!(
                    "{f}.sigv4: must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"
                ));
            }
            // Alertmanager 0.25's test, kept as it is: it refuses none or two of the three,
            // and accepts one or all three.
            let (target, topic, phone) = (
                !set(&c.target_arn),
                !set(&c.topic_arn),
                !set(&c.phone_number),
            );
            if (target != topic) != phone {
                return Err(format!(
                    "{f}: must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"
                ));
            }
            fill_http(&mut c.http_config, global);
        }
        for (j, c) in self.telegram_configs.iter_mut().enumerate() {
            let f = format!("{at}.telegram_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            if c.bot_token.is_empty() {
                return Err(format!("{f}: missing bot_token on telegram_config"));
            }
            if c.chat_id == 0 {
                return Err(format!("{f}: missing chat_id on telegram_config"));
            }
            if let Some(mode) = &c.parse_mode
                && !["", "Markdown", "MarkdownV2", "HTML"].contains(&mode.as_str())
            {
                return Err(format!(
                    "{f}.parse_mode: unknown parse_mode {mode:?} on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"
                ));
            }
            fill_http(&mut c.http_config, global);
            if c.api_url.is_none() {
                c.api_url = Some(
                    global
                        .telegram_api_url
                        .clone()
                        .unwrap_or_else(|| "https://api.telegram.org".into()),
                );
            }
        }
        for (j, c) in self.discord_configs.iter_mut().enumerate() {
            let f = format!("{at}.discord_configs[{j}]");
            check_http(&f, &c.http_config)?;
            match &c.webhook_url {
                Some(url) => check_secret_url(&format!("{f}.webhook_url"), url)?,
                None => {
                    return Err(format!(
                        "{f}: no discord webhook URL provided; set webhook_url"
                    ));
                }
            }
            fill_http(&mut c.http_config, global);
        }
        for (j, c) in self.webex_configs.iter_mut().enumerate() {
            let f = format!("{at}.webex_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            if c.room_id.is_empty() {
                return Err(format!("{f}: missing room_id on webex_config"));
            }
            if c.http_config
                .as_ref()
                .is_none_or(|h| h.authorization.is_none())
            {
                return Err(format!(
                    "{f}: missing webex_configs.http_config.authorization; give the bot's token as http_config.authorization.credentials"
                ));
            }
            if c.api_url.is_none() {
                c.api_url = Some(
                    global
                        .webex_api_url
                        .clone()
                        .unwrap_or_else(|| "https://webexapis.com/v1/messages".into()),
                );
            }
        }
        for (j, c) in self.msteams_configs.iter_mut().enumerate() {
            let f = format!("{at}.msteams_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.webhook_url {
                check_secret_url(&format!("{f}.webhook_url"), url)?;
            }
            at_most_one(
                ("webhook_url", c.webhook_url.is_some()),
                ("webhook_url_file", set(&c.webhook_url_file)),
            )
            .map_err(|e| format!("{f}: {e}"))?;
            if c.webhook_url.is_none() && !set(&c.webhook_url_file) {
                return Err(format!(
                    "{f}: one of webhook_url or webhook_url_file must be configured"
                ));
            }
            fill_http(&mut c.http_config, global);
        }
        for (j, c) in self.jira_configs.iter_mut().enumerate() {
            let f = format!("{at}.jira_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            if c.project.is_empty() {
                return Err(format!("{f}: missing project in jira_config"));
            }
            if c.issue_type.is_empty() {
                return Err(format!("{f}: missing issue_type in jira_config"));
            }
            let kind = c.api_type.get_or_insert_with(|| "auto".into());
            if !["auto", "cloud", "datacenter"].contains(&kind.as_str()) {
                return Err(format!(
                    "{f}.api_type: unknown api_type {kind:?} on jira_config, must be auto, cloud or datacenter"
                ));
            }
            fill_http(&mut c.http_config, global);
            if c.api_url.is_none() {
                if global.jira_api_url.is_none() {
                    return Err(format!(
                        "{f}: no global Jira Cloud URL set; set api_url or global.jira_api_url"
                    ));
                }
                c.api_url.clone_from(&global.jira_api_url);
            }
        }
        for (j, c) in self.rocketchat_configs.iter_mut().enumerate() {
            let f = format!("{at}.rocketchat_configs[{j}]");
            check_http(&f, &c.http_config)?;
            if let Some(url) = &c.api_url {
                check_url(&format!("{f}.api_url"), url)?;
            }
            at_most_one(
                ("token", c.token.is_some()),
                ("token_file", set(&c.token_file)),
            )
            .and_then(|()| {
                at_most_one(
                    ("token_id", c.token_id.is_some()),
                    ("token_id_file", set(&c.token_id_file)),
                )
            })
            .map_err(|e| format!("{f}: {e}"))?;
            fill_http(&mut c.http_config, global);
            if c.api_url.is_none() {
                c.api_url = Some(
                    global
                        .rocketchat_api_url
                        .clone()
                        .unwrap_or_else(|| "https://open.rocket.chat/".into()),
                );
            }
            if c.token_id.is_none() && !set(&c.token_id_file) {
                c.token_id.clone_from(&global.rocketchat_token_id);
                c.token_id_file.clone_from(&global.rocketchat_token_id_file);
                if c.token_id.is_none() && !set(&c.token_id_file) {
                    return Err(format!(
                        "{f}: no global Rocketchat TokenID set either inline or in a file; set token_id or global.rocketchat_token_id"
                    ));
                }
            }
            if c.token.is_none() && !set(&c.token_file) {
                c.token.clone_from(&global.rocketchat_token);
                c.token_file.clone_from(&global.rocketchat_token_file);
                if c.token.is_none() && !set(&c.token_file) {
                    return Err(format!(
                        "{f}: no global Rocketchat Token set either inline or in a file; set token or global.rocketchat_token"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A header name as Go's textproto.CanonicalMIMEHeaderKey writes it: `content-type` is
/// `Content-Type`. Names with characters outside a token are kept as they are.
fn canonical_header(name: &str) -> String {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.chars().all(token) {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_host_ports_and_durations_are_read_as_alertmanager_reads_them() {
        for ok in [
            "http://a",
            "https://hooks.slack.com/services/X",
            "HTTP://a:80/x",
            "http://u:p@h:1/",
        ] {
            check_url("url", ok).unwrap();
        }
        for bad in [
            "",
            "url",
            "hooks.slack.com/x",
            "ftp://a",
            "http://",
            "http://a:b/",
        ] {
            assert!(check_url("url", bad).is_err(), "{bad}");
        }
        for ok in ["", "localhost:25", "[::1]:25"] {
            check_host_port("smarthost", ok).unwrap();
        }
        for bad in ["localhost", "localhost:", "::1:25"] {
            assert!(check_host_port("smarthost", bad).is_err(), "{bad}");
        }
        for ok in ["1m", "1h30m", "1.5h", "0", "300ms"] {
            go_duration("retry", ok).unwrap();
        }
        for bad in ["1d", "", "m", "1"] {
            assert!(go_duration("retry", bad).is_err(), "{bad}");
        }
        for (duration, seconds) in [
            ("1m", 60.0),
            ("1h30m", 5400.0),
            ("-1.5s", -1.5),
            ("300ms", 0.3),
        ] {
            assert_eq!(go_duration("retry", duration), Ok(seconds), "{duration}");
        }
        assert_eq!(canonical_header("content-TYPE"), "Content-Type");
    }
}
