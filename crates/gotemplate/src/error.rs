//! Why a template does not parse or run, in Go's words.

/// Why a template does not parse or run, as Go's `text/template` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub(crate) message: String,
    pub(crate) at: Where,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Where {
    /// Not tied to the text.
    Nowhere,
    /// A parse error on this line (from 1) of the text being parsed.
    Line(usize),
    /// A run-time error at this byte of a parsed text (`source`, in the order the texts
    /// were parsed), in this node, in the named template (`None`: the template the
    /// execution started with).
    Node {
        source: usize,
        pos: usize,
        context: String,
        template: Option<String>,
    },
}

impl TemplateError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            at: Where::Nowhere,
        }
    }

    /// Go's message without the template's name and position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether parsing failed (rather than running).
    pub fn is_parse_error(&self) -> bool {
        matches!(self.at, Where::Line(_))
    }

    /// Which parsed text a run-time error points into (0 for the first text parsed).
    pub fn source(&self) -> Option<usize> {
        match self.at {
            Where::Node { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Go's full text, `template: NAME:LINE:COL: executing "T" at <NODE>: MESSAGE`, for
    /// an error in the text `text` parsed under the name `name`; `prefix_len` bytes that
    /// the caller put before the text on its first line count in the column, and `main`
    /// names the template the execution started with.
    pub fn go_text(&self, name: &str, text: &str, prefix_len: usize, main: &str) -> String {
        match &self.at {
            Where::Nowhere => self.message.clone(),
            Where::Line(line) => format!("template: {name}:{line}: {}", self.message),
            Where::Node {
                pos,
                context,
                template,
                ..
            } => {
                let before = &text[..(*pos).min(text.len())];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => pos - nl - 1,
                    None => pos + prefix_len,
                };
                format!(
                    "template: {name}:{line}:{col}: executing {:?} at <{context}>: {}",
                    template.as_deref().unwrap_or(main),
                    self.message
                )
            }
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Where::Nowhere => f.write_str(&self.message),
            Where::Line(line) => write!(f, "line {line}: {}", self.message),
            Where::Node { context, .. } => write!(f, "at <{context}>: {}", self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

pub(crate) fn err<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError::new(message))
}

/// How deep parentheses, blocks and `template` calls may nest. Parsing and running a
/// template recurse once per level, on whatever thread runs it; no real template comes
/// near this, and a template from outside cannot overflow the stack. (Go allows 100,000
/// levels of `template` calls; the message says this limit instead.)
pub const MAX_TEMPLATE_DEPTH: usize = 100;

pub(crate) fn too_deep<T>() -> Result<T, TemplateError> {
    err(format!(
        "the template nests parentheses and if, range or with blocks more than {MAX_TEMPLATE_DEPTH} levels deep, the limit"
    ))
}
