//! Entity tags for optimistic concurrency: `ETag: "<version>"`, `If-Match`, `If-None-Match`.

use crate::error::{Error, Result};

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// `Some(version)` the client requires, `None` for no header or `*`.
pub fn parse_if_match(header: Option<&str>) -> Result<Option<i64>> {
    let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| Error::BadRequest("If-Match must be an entity tag such as \"3\"".into()))
}

/// Whether an `If-None-Match` header matches the current version (→ 304).
pub fn if_none_match_hits(header: Option<&str>, version: i64) -> bool {
    let Some(raw) = header else { return false };
    let current = etag(version);
    raw.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t.strip_prefix("W/") == Some(current.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_parsing() {
        assert_eq!(parse_if_match(None).ok(), Some(None));
        assert_eq!(parse_if_match(Some("*")).ok(), Some(None));
        assert_eq!(parse_if_match(Some("\"7\"")).ok(), Some(Some(7)));
        assert_eq!(parse_if_match(Some("W/\"7\"")).ok(), Some(Some(7)));
        assert!(parse_if_match(Some("7")).is_err());
    }

    #[test]
    fn if_none_match() {
        assert!(if_none_match_hits(Some("\"1\", \"2\""), 2));
        assert!(!if_none_match_hits(Some("\"1\""), 2));
        assert!(!if_none_match_hits(None, 2));
    }
}
