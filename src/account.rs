//! Account identity: validated account ids and email addresses, and the masking used in logs.

use std::fmt;

/// GuardDuty's and Organizations' limit for the email of a member account.
const EMAIL_MIN: usize = 6;
const EMAIL_MAX: usize = 64;
/// Organizations' own limit for an account name; longer names only come from manual requests.
pub const NAME_MAX_CHARS: usize = 50;

/// A 12-digit AWS account id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() == 12 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "account id {:?} is not 12 digits",
                truncate_for_error(raw)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address that GuardDuty's CreateMembers accepts: 6–64 characters, 7-bit ASCII,
/// exactly one `@` with something on both sides. Its `Debug` form is masked so that it
/// cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

/// Characters GuardDuty's AccountDetail refuses in an email's local name: "whitespace, " ' ( )
/// < > [ ] : ' , \ | % &".
const LOCAL_REFUSED: &[char] = &[
    '"', '\'', '(', ')', '<', '>', '[', ']', ':', ',', '\\', '|', '%', '&',
];

impl Email {
    /// An address GuardDuty's CreateMembers takes (its AccountDetail rules), or what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match email_problem(raw) {
            None => Ok(Self(raw.to_owned())),
            Some(why) => Err(format!("email {} {why}", mask_email(raw))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// What GuardDuty would refuse in `raw` (AccountDetail: 6 to 64 7-bit ASCII characters, one
/// `@`, no whitespace or `" ' ( ) < > [ ] : , \ | % &` in the local name, which does not begin
/// with a dot; a domain of letters, digits, `-` and `.`, with at least one dot, not beginning
/// or ending with either).
fn email_problem(raw: &str) -> Option<String> {
    let len = raw.chars().count();
    if !(EMAIL_MIN..=EMAIL_MAX).contains(&len) {
        return Some(format!(
            "is {len} characters long, GuardDuty accepts {EMAIL_MIN} to {EMAIL_MAX}"
        ));
    }
    if !raw.is_ascii() || raw.chars().any(|c| c.is_ascii_control()) {
        return Some("must be 7-bit ASCII without control characters".to_owned());
    }
    let Some((local, domain)) = raw
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
    else {
        return Some("must contain exactly one '@' between a local name and a domain".to_owned());
    };
    if local.starts_with('.')
        || local
            .chars()
            .any(|c| c.is_ascii_whitespace() || LOCAL_REFUSED.contains(&c))
    {
        return Some(
            "has a local name GuardDuty refuses: it may not begin with a dot nor hold whitespace or \" ' ( ) < > [ ] : , \\ | % &"
                .to_owned(),
        );
    }
    let domain_chars = domain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let edges = |c: char| c == '.' || c == '-';
    if !domain_chars
        || !domain.contains('.')
        || domain.starts_with(edges)
        || domain.ends_with(edges)
    {
        return Some(
            "has a domain GuardDuty refuses: letters, digits, '-' and '.' only, at least one dot, not beginning or ending with '.' or '-'"
                .to_owned(),
        );
    }
    None
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks an email address for logs and error messages: the first character of the local part
/// and the domain survive (`j***@example.com`), enough to tell two addresses apart.
pub fn mask_email(raw: &str) -> String {
    match raw.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{}", truncate_for_error(domain))
        }
        None => "***".to_owned(),
    }
}

/// Masks every email-looking token in free text (AWS error messages can echo input).
pub fn mask_emails_in(text: &str) -> String {
    text.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
        .map(|token| {
            let end = token
                .trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',');
            if looks_like_address(end) {
                format!("{}{}", mask_email(end), &token[end.len()..])
            } else {
                token.to_owned()
            }
        })
        .collect()
}

/// An `@` with a letter or digit somewhere on each side: an address, even a malformed one,
/// is masked; a lone `@` quoted in a sentence ("one '@' between") is not.
fn looks_like_address(token: &str) -> bool {
    let alnum = |s: &str| s.chars().any(|c| c.is_alphanumeric());
    token
        .split_once('@')
        .is_some_and(|(local, domain)| alnum(local) && alnum(domain))
}

/// Makes an account name safe to put in an invitation message or a log line: control
/// characters become spaces, runs of white space fold to one, and the result is capped at
/// Organizations' 50-character limit.
pub fn sanitize_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    cap_chars(&cleaned, NAME_MAX_CHARS)
}

/// What the Organizations events put in place of a hidden account name.
const MASKED_NAME: &str = "****";

/// An account name as given or looked up, sanitized; `None` when absent, empty or masked.
pub fn clean_name(raw: Option<String>) -> Option<String> {
    raw.map(|n| sanitize_name(&n))
        .filter(|n| !n.is_empty() && n != MASKED_NAME)
}

/// Caps a string at `max` characters (not bytes, so it never splits a UTF-8 sequence),
/// marking the cut with an ellipsis.
pub fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Keeps error messages readable when the offending input is huge.
pub fn truncate_for_error(raw: &str) -> String {
    cap_chars(raw, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_must_be_exactly_twelve_digits() {
        assert!(AccountId::parse("111122223333").is_ok());
        for bad in [
            "11112222333",
            "1111222233334",
            "11112222333a",
            "",
            " 111122223333",
            "１１１１２２２２３３３３",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn email_follows_guardduty_constraints() {
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("new.account+gd@example.com").is_ok());
        assert!(Email::parse("first.last-1@sub.example-corp.com").is_ok());
        for bad in [
            "a@b.c",
            "no-at-sign.example.com",
            "two@@example.com",
            "a@b@example.com",
            "@example.com",
            "user@",
            "ünicode@example.com",
            "sp ace@example.com",
            // AccountDetail's rules for the local name and the domain.
            ".dot@example.com",
            "a(b)@example.com",
            "per%cent@example.com",
            "o'neil@example.com",
            "tab\tx@example.com",
            "user@localhost",
            "user@-example.com",
            "user@example.com.",
            "user@exa_mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(60));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn email_errors_and_debug_never_show_the_address() {
        let err =
            Email::parse(&format!("secret.person{}@example.com", "x".repeat(60))).unwrap_err();
        assert!(!err.contains("secret.person"), "{err}");
        let email = Email::parse("secret.person@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "s***@example.com");
    }

    #[test]
    fn mask_email_keeps_first_letter_and_domain() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("not-an-email"), "***");
    }

    #[test]
    fn emails_inside_free_text_are_masked() {
        assert_eq!(
            mask_emails_in("Invalid email \"jane@example.com\", retry with bob@corp.example"),
            "Invalid email \"j***@example.com\", retry with b***@corp.example"
        );
    }

    #[test]
    fn email_length_limits_are_inclusive() {
        assert!(Email::parse("a@b.cd").is_ok(), "6 characters");
        let at_max = format!("{}@example.com", "a".repeat(64 - 12));
        assert_eq!(at_max.len(), 64);
        assert!(Email::parse(&at_max).is_ok(), "64 characters");
        assert!(
            Email::parse(&format!("a{at_max}")).is_err(),
            "65 characters"
        );
        assert!(Email::parse("a@b\u{7}cd").is_err(), "a control character");
    }

    #[test]
    fn emails_are_masked_between_quotes_commas_and_tabs() {
        assert_eq!(
            mask_emails_in("'ann@x.org',bob@y.org\tcat@z.org"),
            "'a***@x.org',b***@y.org\tc***@z.org"
        );
        assert_eq!(mask_emails_in("no address here"), "no address here");
    }

    #[test]
    fn an_at_sign_quoted_in_a_sentence_is_not_an_address() {
        assert_eq!(
            mask_emails_in("must contain exactly one '@' between a@b.example and \"@\""),
            "must contain exactly one '@' between a***@b.example and \"@\""
        );
    }

    #[test]
    fn the_character_after_an_address_with_a_long_domain_survives_the_mask() {
        // A domain of 40 characters is kept whole; what follows the address is not part of it.
        let domain = format!("{}.example.com", "d".repeat(28));
        assert_eq!(domain.len(), 40);
        for after in [" ", "\"", "'", ","] {
            assert_eq!(
                mask_emails_in(&format!("to ann@{domain}{after}next")),
                format!("to a***@{domain}{after}next"),
                "{after:?}"
            );
        }
    }

    #[test]
    fn a_masked_empty_or_missing_name_is_no_name() {
        assert_eq!(clean_name(None), None);
        assert_eq!(clean_name(Some("****".into())), None);
        assert_eq!(clean_name(Some(" \n ".into())), None);
        assert_eq!(
            clean_name(Some(" Pay\nments ".into())),
            Some("Pay ments".into())
        );
    }

    #[test]
    fn cap_chars_keeps_what_fits_and_marks_a_cut() {
        assert_eq!(cap_chars("abc", 3), "abc");
        assert_eq!(cap_chars("abcd", 3), "ab…");
        let long = "x".repeat(41);
        assert_eq!(truncate_for_error(&long), format!("{}…", "x".repeat(39)));
        assert_eq!(truncate_for_error("short"), "short");
    }

    #[test]
    fn ids_and_emails_show_as_themselves_where_meant_to() {
        let id = AccountId::parse("111122223333").unwrap();
        assert_eq!(id.to_string(), "111122223333");
        let email = Email::parse("jane@example.com").unwrap();
        assert_eq!(email.as_str(), "jane@example.com");
        assert_eq!(email.masked(), "j***@example.com");
    }

    #[test]
    fn sanitize_name_removes_control_characters_and_caps_length() {
        assert_eq!(sanitize_name("Payments\n\tProd\u{7}"), "Payments Prod");
        let capped = sanitize_name(&"ü".repeat(500));
        assert_eq!(capped.chars().count(), NAME_MAX_CHARS);
        assert!(capped.ends_with('…'));
    }
}
