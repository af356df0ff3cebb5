//! Input rules for users, collected per field so a 422 reports every problem at once.

use std::collections::BTreeMap;

use super::Role;
use crate::error::{Error, Result};

pub const PASSWORD_MIN: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap.
pub const PASSWORD_MAX: usize = 1024;
pub const DISPLAY_NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

/// Accumulates field problems.
#[derive(Default)]
pub struct Problems(BTreeMap<String, String>);

impl Problems {
    pub fn add(&mut self, field: &str, problem: Option<String>) {
        if let Some(p) = problem {
            self.0.entry(field.to_owned()).or_insert(p);
        }
    }

    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }
}

/// A broken rule: a stable `code` (what the import report shows, docs/API.md §4.4) and the
/// message a 422 shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
}

impl Problem {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

pub fn username(u: &str) -> Option<String> {
    username_problem(u).map(|p| p.message)
}

pub fn username_problem(u: &str) -> Option<Problem> {
    let len = u.chars().count();
    if !(3..=32).contains(&len) {
        let code = if len < 3 { "too_short" } else { "too_long" };
        return Some(Problem::new(code, "must be 3 to 32 characters"));
    }
    if !u
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Some(Problem::new(
            "invalid",
            "may only contain a-z, 0-9, '_', '.' and '-'",
        ));
    }
    None
}

pub fn email(e: &str) -> Option<String> {
    email_problem(e).map(|p| p.message)
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn email_problem(e: &str) -> Option<Problem> {
    let message = "must be a valid email address";
    if e.len() > EMAIL_MAX {
        return Some(Problem::new("too_long", message));
    }
    let bad = Some(Problem::new("invalid", message));
    if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad;
    }
    let Some((local, domain)) = e.split_once('@') else {
        return bad;
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return bad;
    }
    None
}

pub fn password(p: &str) -> Option<String> {
    password_problem(p).map(|p| p.message)
}

pub fn password_problem(p: &str) -> Option<Problem> {
    let len = p.chars().count();
    if len < PASSWORD_MIN {
        Some(Problem::new(
            "too_short",
            format!("must be at least {PASSWORD_MIN} characters"),
        ))
    } else if len > PASSWORD_MAX {
        Some(Problem::new(
            "too_long",
            format!("must be at most {PASSWORD_MAX} characters"),
        ))
    } else {
        None
    }
}

pub fn display_name(d: &str) -> Option<String> {
    display_name_problem(d).map(|p| p.message)
}

pub fn display_name_problem(d: &str) -> Option<Problem> {
    if d.chars().count() > DISPLAY_NAME_MAX {
        Some(Problem::new(
            "too_long",
            format!("must be at most {DISPLAY_NAME_MAX} characters"),
        ))
    } else if d.chars().any(char::is_control) {
        Some(Problem::new(
            "invalid",
            "must not contain control characters",
        ))
    } else {
        None
    }
}

pub fn role(r: &str, problems: &mut Problems) -> Option<Role> {
    let parsed = role_problem(r);
    if let Err(p) = &parsed {
        problems.add("role", Some(p.message.clone()));
    }
    parsed.ok()
}

pub fn role_problem(r: &str) -> std::result::Result<Role, Problem> {
    r.parse()
        .map_err(|_| Problem::new("invalid", "must be 'admin' or 'viewer'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("ab").is_some());
        assert!(username("abc").is_none());
        assert!(username("a.b-c_9").is_none());
        assert!(username("Abc").is_some());
        assert!(username(&"a".repeat(33)).is_some());
        let code = |u: &str| username_problem(u).map(|p| p.code);
        assert_eq!(code("ab"), Some("too_short"));
        assert_eq!(code(&"a".repeat(33)), Some("too_long"));
        assert_eq!(code("Abc"), Some("invalid"));
    }

    #[test]
    fn emails() {
        assert!(email("a@b.co").is_none());
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.de", "a@.co", "a@b..co",
        ] {
            assert!(email(bad).is_some(), "{bad}");
        }
    }
}
