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

pub fn username(u: &str) -> Option<String> {
    let len = u.chars().count();
    if !(3..=32).contains(&len) {
        return Some("must be 3 to 32 characters".into());
    }
    if !u
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Some("may only contain a-z, 0-9, '_', '.' and '-'".into());
    }
    None
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn email(e: &str) -> Option<String> {
    let bad = Some("must be a valid email address".to_owned());
    if e.len() > EMAIL_MAX || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
    let len = p.chars().count();
    if len < PASSWORD_MIN {
        Some(format!("must be at least {PASSWORD_MIN} characters"))
    } else if len > PASSWORD_MAX {
        Some(format!("must be at most {PASSWORD_MAX} characters"))
    } else {
        None
    }
}

pub fn display_name(d: &str) -> Option<String> {
    if d.chars().count() > DISPLAY_NAME_MAX {
        Some(format!("must be at most {DISPLAY_NAME_MAX} characters"))
    } else if d.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

pub fn role(r: &str, problems: &mut Problems) -> Option<Role> {
    let parsed = r.parse().ok();
    if parsed.is_none() {
        problems.add("role", Some("must be 'admin' or 'viewer'".into()));
    }
    parsed
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
