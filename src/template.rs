//! The invitation message template: parsed once at start, rendered per account and region.

use crate::account::{cap_chars, sanitize_name};

/// GuardDuty documents no length limit for the invitation message; the message ends up in
/// an email, so it is capped at a size no legitimate template needs.
pub const MESSAGE_MAX_CHARS: usize = 1000;

pub const DEFAULT_TEMPLATE: &str =
    "Your AWS account has been added to the organization's GuardDuty \
administrator in {region}. Accept this invitation so that GuardDuty protects the account.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    AccountId,
    AccountName,
    Region,
    DetectorId,
}

impl Placeholder {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "account_id" => Some(Self::AccountId),
            "account_name" => Some(Self::AccountName),
            "region" => Some(Self::Region),
            "detector_id" => Some(Self::DetectorId),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Text(String),
    Field(Placeholder),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown placeholder {{{name}}} at character {position}; known: {{account_id}}, {{account_name}}, {{region}}, {{detector_id}}")]
    UnknownPlaceholder { name: String, position: usize },
    #[error("unclosed '{{' at character {position} (write '{{{{' for a literal brace)")]
    Unclosed { position: usize },
    #[error("unmatched '}}' at character {position} (write '}}}}' for a literal brace)")]
    Unmatched { position: usize },
    #[error("the template is empty")]
    Empty,
}

/// What one rendering needs.
pub struct Values<'a> {
    pub account_id: &'a str,
    pub account_name: &'a str,
    pub region: &'a str,
    pub detector_id: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageTemplate {
    segments: Vec<Segment>,
}

impl MessageTemplate {
    /// Parses `{name}` placeholders; `{{` and `}}` stand for literal braces.
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        if raw.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut segments = Vec::new();
        let mut text = String::new();
        let mut chars = raw.chars().enumerate().peekable();
        while let Some((pos, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, n)) => name.push(n),
                            None => return Err(TemplateError::Unclosed { position: pos }),
                        }
                    }
                    let field = Placeholder::from_name(name.trim()).ok_or_else(|| {
                        TemplateError::UnknownPlaceholder {
                            name: cap_chars(&name, 40),
                            position: pos,
                        }
                    })?;
                    if !text.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut text)));
                    }
                    segments.push(Segment::Field(field));
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(TemplateError::Unmatched { position: pos }),
                other => text.push(other),
            }
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        Ok(Self { segments })
    }

    /// True when the rendered message differs between accounts, which means each account
    /// needs its own InviteMembers call (one call carries one message).
    pub fn varies_per_account(&self) -> bool {
        self.segments.iter().any(|s| {
            matches!(
                s,
                Segment::Field(Placeholder::AccountId | Placeholder::AccountName)
            )
        })
    }

    /// Renders the message. Values from events are sanitized (no control characters, names
    /// capped) and the whole message is capped, so no input can break the invitation.
    pub fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Field(Placeholder::AccountId) => {
                    out.push_str(&sanitize_name(values.account_id))
                }
                Segment::Field(Placeholder::AccountName) => {
                    out.push_str(&sanitize_name(values.account_name))
                }
                Segment::Field(Placeholder::Region) => out.push_str(&sanitize_name(values.region)),
                Segment::Field(Placeholder::DetectorId) => {
                    out.push_str(&sanitize_name(values.detector_id))
                }
            }
        }
        cap_chars(&out, MESSAGE_MAX_CHARS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(name: &'a str) -> Values<'a> {
        Values {
            account_id: "111122223333",
            account_name: name,
            region: "eu-west-1",
            detector_id: "d1",
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t = MessageTemplate::parse(
            "{account_name} ({account_id}) in {region}, detector {detector_id}",
        )
        .unwrap();
        assert_eq!(
            t.render(&values("Payments")),
            "Payments (111122223333) in eu-west-1, detector d1"
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        let t = MessageTemplate::parse("{{literal}} {region} }}").unwrap();
        assert_eq!(t.render(&values("x")), "{literal} eu-west-1 }");
    }

    #[test]
    fn unknown_placeholder_is_named_in_the_error() {
        let err = MessageTemplate::parse("Hello {acount_id}").unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholder {
                name: "acount_id".into(),
                position: 6
            }
        );
        assert!(err.to_string().contains("{acount_id}"));
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert_eq!(
            MessageTemplate::parse("Hi {region").unwrap_err(),
            TemplateError::Unclosed { position: 3 }
        );
        assert_eq!(
            MessageTemplate::parse("Hi } there").unwrap_err(),
            TemplateError::Unmatched { position: 3 }
        );
        assert_eq!(
            MessageTemplate::parse("  ").unwrap_err(),
            TemplateError::Empty
        );
    }

    #[test]
    fn default_template_is_valid_and_the_same_for_every_account() {
        let t = MessageTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        assert!(!t.varies_per_account());
        assert!(t.render(&values("x")).contains("eu-west-1"));
    }

    #[test]
    fn a_template_naming_the_account_varies_per_account_and_one_naming_the_region_does_not() {
        for raw in ["Hi {account_id}", "Hi {account_name} in {region}"] {
            assert!(
                MessageTemplate::parse(raw).unwrap().varies_per_account(),
                "{raw}"
            );
        }
        for raw in [
            "In {region}, detector {detector_id}",
            "{{account_id}} is literal",
        ] {
            assert!(
                !MessageTemplate::parse(raw).unwrap().varies_per_account(),
                "{raw}"
            );
        }
    }

    #[test]
    fn hostile_account_names_cannot_break_the_message() {
        let t = MessageTemplate::parse("Welcome {account_name}!").unwrap();
        let rendered = t.render(&values(&format!(
            "evil\r\nBcc: x@example.com\u{0}{}",
            "ß".repeat(100_000)
        )));
        assert!(!rendered.chars().any(char::is_control), "{rendered:?}");
        assert!(rendered.chars().count() <= MESSAGE_MAX_CHARS);
        assert!(rendered.starts_with("Welcome evil Bcc: x@example.com"));
    }

    #[test]
    fn message_is_capped_at_the_limit() {
        let t = MessageTemplate::parse(&"x".repeat(5000)).unwrap();
        assert_eq!(t.render(&values("n")).chars().count(), MESSAGE_MAX_CHARS);
    }
}
