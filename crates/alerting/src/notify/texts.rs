//! The texts of one notification: each templated field of an integration rendered with
//! the configuration's templates over the notification's data, as Alertmanager's
//! `notify.TmplText` renders them: the first failure is kept, the field renders empty,
//! and the notification then fails with that error rather than go out half-written.

use std::cell::RefCell;

use crate::dispatch::{Notification, fingerprint};
use crate::template::{Alert, Data, Templates};

/// The templates and data one notification renders with.
pub(crate) struct Texts<'a> {
    templates: &'a Templates,
    data: Data,
    error: RefCell<Option<String>>,
}

impl<'a> Texts<'a> {
    /// The data of `n` as Alertmanager's templates see it, `resolve_timeout` (ms) giving
    /// the end of an alert sent without one.
    pub(crate) fn new(
        templates: &'a Templates,
        n: &Notification,
        external_url: &str,
        resolve_timeout: i64,
    ) -> Self {
        const NS: i64 = 1_000_000;
        let alerts = n
            .alerts
            .iter()
            .map(|a| Alert {
                status: if a.resolved(n.at) {
                    "resolved"
                } else {
                    "firing"
                }
                .into(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.starts_at.saturating_mul(NS),
                ends_at: a
                    .ends_at
                    .unwrap_or(a.updated_at.saturating_add(resolve_timeout))
                    .saturating_mul(NS),
                generator_url: a.generator_url.clone(),
                fingerprint: fingerprint(&a.labels),
            })
            .collect();
        Self {
            templates,
            data: Data::new(
                &n.receiver.name.value,
                &n.group_labels,
                alerts,
                external_url,
            ),
            error: RefCell::new(None),
        }
    }

    /// `text` rendered as text; empty if it fails (the failure is kept).
    pub(crate) fn text(&self, text: &str) -> String {
        self.keep(self.templates.render(text, &self.data))
    }

    /// `text` rendered as HTML (`ExecuteHTMLString`: values escaped); empty if it fails.
    pub(crate) fn html(&self, text: &str) -> String {
        self.keep(self.templates.render_html(text, &self.data))
    }

    /// The configured `text`, or the default template `name` if none is configured.
    pub(crate) fn or_default(&self, text: Option<&str>, name: &str) -> String {
        match text {
            Some(t) => self.text(t),
            None => self.text(&format!("{{{{ template \"{name}\" . }}}}")),
        }
    }

    fn keep(&self, rendered: Result<String, crate::template::Error>) -> String {
        rendered.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert_with(|| e.to_string());
            String::new()
        })
    }

    /// The first rendering failure, if any: the notification is not sent.
    pub(crate) fn finish(&self) -> Result<(), String> {
        match self.error.borrow().as_ref() {
            Some(e) => Err(format!("cannot render the notification's texts: {e}")),
            None => Ok(()),
        }
    }
}
