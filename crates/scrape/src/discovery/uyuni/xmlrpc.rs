//! The XML-RPC that Uyuni's API speaks, as far as Prometheus's client (kolo/xmlrpc) speaks
//! it: method calls of strings, integers and integer arrays, and answers of any XML-RPC
//! value, read as that client reads them.
//!
//! quick-xml tokenises; this module only knows XML-RPC's elements. Where the client is
//! lenient, so is this reader: an untyped `<value>` is its trimmed text, an empty value
//! (`<value/>`, `<int/>`, `<nil/>`) is the zero value of whatever is asked of it, unknown
//! struct members are ignored and missing ones are zero. A `<fault>` answer is an error
//! `Fault(code): text`, as the client words it.

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// A parameter of a method call: the kinds Uyuni's discovery sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Param<'a> {
    /// `<string>`.
    Str(&'a str),
    /// `<int>`.
    Int(i64),
    /// `<array>` of `<int>`.
    Ints(&'a [i64]),
}

/// The body of a call of `method` with `params`, written as kolo/xmlrpc writes it.
pub(super) fn method_call(method: &str, params: &[Param<'_>]) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>{method}</methodName><params>"#
    );
    for param in params {
        out.push_str("<param><value>");
        match param {
            Param::Str(s) => {
                out.push_str("<string>");
                out.push_str(&escape(*s));
                out.push_str("</string>");
            }
            Param::Int(i) => out.push_str(&format!("<int>{i}</int>")),
            Param::Ints(list) => {
                out.push_str("<array><data>");
                for i in *list {
                    out.push_str(&format!("<value><int>{i}</int></value>"));
                }
                out.push_str("</data></array>");
            }
        }
        out.push_str("</value></param>");
    }
    out.push_str("</params></methodCall>");
    out
}

/// An XML-RPC value as read from an answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    /// An empty value: the zero value of any type.
    Nil,
    /// `<int>`, `<i4>`, `<i8>`.
    Int(i64),
    /// `<boolean>`.
    Bool(bool),
    /// `<double>`.
    Double(f64),
    /// `<string>`, `<base64>` (as written), `<dateTime.iso8601>` (as written), or the
    /// trimmed text of an untyped value.
    Str(String),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`: members in the order written.
    Struct(Vec<(String, Value)>),
}

/// The zero value members that are absent are read as.
static NIL: Value = Value::Nil;

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Int(_) => "int",
            Value::Bool(_) => "boolean",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
        }
    }

    fn mismatch(&self, want: &str) -> String {
        format!("type mismatch: cannot read {} as {want}", self.kind())
    }

    /// The value as a string ("" when empty).
    pub(super) fn string(&self) -> Result<String, String> {
        match self {
            Value::Nil => Ok(String::new()),
            Value::Str(s) => Ok(s.clone()),
            other => Err(other.mismatch("string")),
        }
    }

    /// The value as an integer (0 when empty).
    pub(super) fn int(&self) -> Result<i64, String> {
        match self {
            Value::Nil => Ok(0),
            Value::Int(i) => Ok(*i),
            other => Err(other.mismatch("int")),
        }
    }

    /// The value as a boolean (false when empty).
    pub(super) fn bool(&self) -> Result<bool, String> {
        match self {
            Value::Nil => Ok(false),
            Value::Bool(b) => Ok(*b),
            other => Err(other.mismatch("boolean")),
        }
    }

    /// The value as an array (none when empty).
    pub(super) fn array(&self) -> Result<&[Value], String> {
        match self {
            Value::Nil => Ok(&[]),
            Value::Array(items) => Ok(items),
            other => Err(other.mismatch("array")),
        }
    }

    /// The member `name` of a struct: the last of that name, or an empty value when there
    /// is none (or the value itself is empty).
    pub(super) fn member(&self, name: &str) -> Result<&Value, String> {
        match self {
            Value::Nil => Ok(&NIL),
            Value::Struct(members) => Ok(members
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or(&NIL, |(_, v)| v)),
            other => Err(other.mismatch("struct")),
        }
    }
}

/// The value an answer carries: its first `<value>`, or the error its `<fault>` reports.
pub(super) fn response(body: &str) -> Result<Value, String> {
    let mut tokens = Tokens::read(body)?;
    let mut fault = false;
    loop {
        match tokens.next()? {
            Token::Start(name) if name == "value" => break,
            Token::Start(name) if name == "fault" => fault = true,
            _ => {}
        }
    }
    let value = tokens.value()?;
    if fault {
        return Err(format!(
            "Fault({}): {}",
            value.member("faultCode")?.int()?,
            value.member("faultString")?.string()?
        ));
    }
    Ok(value)
}

/// What the reader needs of XML: elements and their text, entities resolved.
#[derive(Debug, PartialEq)]
enum Token {
    Start(String),
    End,
    Text(String),
}

/// An answer's tokens, read ahead of time (answers are small and whole).
struct Tokens {
    list: std::vec::IntoIter<Token>,
}

impl Tokens {
    fn read(body: &str) -> Result<Self, String> {
        let mut reader = Reader::from_str(body);
        reader.config_mut().expand_empty_elements = true;
        let mut list = Vec::new();
        let mut text: Option<String> = None;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("invalid XML at byte {}: {e}", reader.error_position()))?;
            let piece = match &event {
                Event::Text(t) => Some(t.xml10_content().into_owned()),
                Event::CData(t) => Some(t.xml10_content().into_owned()),
                Event::GeneralRef(r) => Some(match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => resolve_predefined_entity(r)
                        .ok_or_else(|| format!("unknown entity &{};", &**r))?
                        .to_owned(),
                    Err(e) => return Err(format!("invalid character reference: {e}")),
                }),
                _ => None,
            };
            if let Some(piece) = piece {
                text.get_or_insert_default().push_str(&piece);
                continue;
            }
            if let Some(text) = text.take() {
                list.push(Token::Text(text));
            }
            match event {
                Event::Start(e) => list.push(Token::Start(e.local_name().as_ref().to_owned())),
                Event::End(_) => list.push(Token::End),
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(Self {
            list: list.into_iter(),
        })
    }

    fn next(&mut self) -> Result<Token, String> {
        self.list
            .next()
            .ok_or_else(|| "the answer ends before its value does".to_owned())
    }

    /// The next element's name, whitespace skipped; `None` at the end of the enclosing one.
    fn next_element(&mut self) -> Result<Option<String>, String> {
        loop {
            match self.next()? {
                Token::Start(name) => return Ok(Some(name)),
                Token::End => return Ok(None),
                Token::Text(_) => {}
            }
        }
    }

    /// Skips the rest of the element open now, its children included.
    fn skip(&mut self) -> Result<(), String> {
        let mut depth = 0;
        loop {
            match self.next()? {
                Token::Start(_) => depth += 1,
                Token::End if depth == 0 => return Ok(()),
                Token::End => depth -= 1,
                Token::Text(_) => {}
            }
        }
    }

    /// The value whose `<value>` was just read, through its `</value>`.
    fn value(&mut self) -> Result<Value, String> {
        let kind = loop {
            match self.next()? {
                Token::End => return Ok(Value::Nil),
                Token::Start(kind) => break kind,
                Token::Text(t) if !t.trim().is_empty() => {
                    let value = Value::Str(t.trim().to_owned());
                    self.skip()?;
                    return Ok(value);
                }
                Token::Text(_) => {}
            }
        };
        let value = match kind.as_str() {
            "struct" => self.members()?,
            "array" => self.items()?,
            scalar => self.scalar(scalar)?,
        };
        self.skip()?;
        Ok(value)
    }

    /// A struct's members, through `</struct>`.
    fn members(&mut self) -> Result<Value, String> {
        let mut members = Vec::new();
        while let Some(element) = self.next_element()? {
            if element != "member" {
                return Err(format!("<{element}> in a struct, where a <member> belongs"));
            }
            if self.next_element()?.as_deref() != Some("name") {
                return Err("a struct member without a <name>".into());
            }
            let name = match self.next()? {
                Token::Text(name) => name,
                _ => return Err("a struct member with an empty <name>".into()),
            };
            self.skip()?;
            let mut value = Value::Nil;
            while let Some(element) = self.next_element()? {
                if element == "value" {
                    value = self.value()?;
                } else {
                    self.skip()?;
                }
            }
            members.push((name, value));
        }
        Ok(Value::Struct(members))
    }

    /// An array's items, through `</array>`.
    fn items(&mut self) -> Result<Value, String> {
        let mut items = Vec::new();
        while let Some(element) = self.next_element()? {
            if element != "data" {
                return Err(format!("<{element}> in an array, where <data> belongs"));
            }
            while let Some(element) = self.next_element()? {
                if element != "value" {
                    return Err(format!(
                        "<{element}> in an array's data, where <value> belongs"
                    ));
                }
                items.push(self.value()?);
            }
        }
        Ok(Value::Array(items))
    }

    /// A scalar of type `kind`, through its end tag.
    fn scalar(&mut self, kind: &str) -> Result<Value, String> {
        let text = match self.next()? {
            Token::End => return Ok(Value::Nil),
            Token::Text(text) => text,
            Token::Start(name) => return Err(format!("<{name}> inside <{kind}>")),
        };
        let value = match kind {
            "int" | "i4" | "i8" => Value::Int(
                text.trim()
                    .parse()
                    .map_err(|e| format!("<{kind}>{text}</{kind}>: {e}"))?,
            ),
            "boolean" => Value::Bool(match text.trim() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                other => return Err(format!("<boolean>{other}</boolean> is not a boolean")),
            }),
            "double" => Value::Double(
                text.trim()
                    .parse()
                    .map_err(|e| format!("<double>{text}</double>: {e}"))?,
            ),
            "string" | "base64" | "dateTime.iso8601" => Value::Str(text),
            other => return Err(format!("unsupported type <{other}>")),
        };
        self.skip()?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_written_as_kolo_xmlrpc_writes_them() {
        assert_eq!(
            method_call(
                "auth.login",
                &[Param::Str("gopher"), Param::Str("a<&>b"), Param::Int(600)]
            ),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>auth.login</methodName><params>"#,
                "<param><value><string>gopher</string></value></param>",
                "<param><value><string>a&lt;&amp;&gt;b</string></value></param>",
                "<param><value><int>600</int></value></param>",
                "</params></methodCall>"
            )
        );
        assert_eq!(
            method_call("m", &[Param::Ints(&[1, 2]), Param::Ints(&[])]),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>m</methodName><params>"#,
                "<param><value><array><data><value><int>1</int></value><value><int>2</int></value></data></array></value></param>",
                "<param><value><array><data></data></array></value></param>",
                "</params></methodCall>"
            )
        );
    }

    #[test]
    fn answers_are_read_as_kolo_xmlrpc_reads_them() {
        let check = |body: &str, want: Value| {
            assert_eq!(
                response(&format!(
                    "<?xml version=\"1.0\"?>\n<methodResponse><params><param>{body}</param></params></methodResponse>"
                )),
                Ok(want),
                "{body}"
            );
        };
        check(
            "<value>\n\t\ta token\n\t</value>",
            Value::Str("a token".into()),
        );
        check(
            "<value><string> a &amp; b </string></value>",
            Value::Str(" a & b ".into()),
        );
        check(
            "<value><string><![CDATA[<x>]]>&#65;</string></value>",
            Value::Str("<x>A".into()),
        );
        check("<value/>", Value::Nil);
        check("<value><string/></value>", Value::Nil);
        check("<value><nil/></value>", Value::Nil);
        check("<value><i4>-7</i4></value>", Value::Int(-7));
        check(
            "<value><i8>10000000000</i8></value>",
            Value::Int(10_000_000_000),
        );
        check("<value><boolean>1</boolean></value>", Value::Bool(true));
        check("<value><double>1.5</double></value>", Value::Double(1.5));
        check(
            "<value><array><data>\n<value><int>1</int></value>\n<value>two</value>\n</data></array></value>",
            Value::Array(vec![Value::Int(1), Value::Str("two".into())]),
        );
        check(
            "<value><struct>\n<member><name>a</name><value><int>1</int></value></member>\n<member><name>b</name><value/></member>\n</struct></value>",
            Value::Struct(vec![("a".into(), Value::Int(1)), ("b".into(), Value::Nil)]),
        );
    }

    #[test]
    fn members_are_read_as_go_fields_are_filled() {
        let v = Value::Struct(vec![
            ("id".into(), Value::Int(1)),
            ("id".into(), Value::Int(2)),
        ]);
        assert_eq!(v.member("id").unwrap().int(), Ok(2));
        assert_eq!(v.member("name").unwrap().string(), Ok(String::new()));
        assert!(v.member("id").unwrap().string().is_err());
        assert!(Value::Int(1).member("id").is_err());
    }

    #[test]
    fn faults_and_bad_answers_are_errors() {
        let fault = "<?xml version=\"1.0\"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>2950</int></value></member><member><name>faultString</name><value><string>Either the password or username is incorrect.</string></value></member></struct></value></fault></methodResponse>";
        assert_eq!(
            response(fault),
            Err("Fault(2950): Either the password or username is incorrect.".into())
        );
        assert!(response("").is_err());
        assert!(response("<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>").is_err());
        assert!(response("<methodResponse><params><param><value><struct><int>1</int></struct></value></param></params></methodResponse>").is_err());
        assert!(response("<methodResponse><params><param><value><bogus>1</bogus></value></param></params></methodResponse>").is_err());
        assert!(response("<methodResponse><value>").is_err());
        assert!(response("<a></b>").is_err());
    }
}
