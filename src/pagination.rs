//! List conventions of docs/API.md §2: `page`, `per_page` (max 200), `sort=field|-field`, `q`.

use crate::error::{Error, Result};

pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;
/// Databases take signed 64-bit offsets; a page starting past this is refused, not sent.
const MAX_OFFSET: u64 = i64::MAX as u64;

#[derive(Debug, Clone, Copy)]
pub struct PageParams {
    pub page: u64,
    pub per_page: u64,
}

impl PageParams {
    pub fn parse(page: Option<u64>, per_page: Option<u64>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(Error::BadRequest("page must be at least 1".into()));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Error::BadRequest(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        if (page - 1)
            .checked_mul(per_page)
            .is_none_or(|offset| offset > MAX_OFFSET)
        {
            return Err(Error::BadRequest(format!(
                "page is too large for per_page {per_page}"
            )));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// Resolves `sort` against the allowed `(name, column)` pairs; `-name` means descending.
pub fn parse_sort<C: Copy>(
    sort: Option<&str>,
    allowed: &[(&str, C)],
    default: C,
) -> Result<(C, bool)> {
    let Some(raw) = sort.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((default, false));
    };
    let (name, desc) = match raw.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (raw.strip_prefix('+').unwrap_or(raw), false),
    };
    allowed
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| (*c, desc))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            Error::BadRequest(format!(
                "cannot sort by '{name}'; use one of: {}",
                names.join(", ")
            ))
        })
}

/// `%q%` for a case-insensitive LIKE, with `\` escaping the wildcards in `q`.
pub fn contains_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds() {
        assert!(PageParams::parse(Some(0), None).is_err());
        assert!(PageParams::parse(None, Some(201)).is_err());
        assert!(PageParams::parse(None, Some(0)).is_err());
        assert!(PageParams::parse(Some(u64::MAX), Some(200)).is_err());
        assert!(PageParams::parse(Some((1 << 62) + 1), Some(2)).is_err());
        let last = PageParams::parse(Some(1 << 62), Some(2)).expect("offset 2^63 - 2 fits");
        assert_eq!(last.offset(), (1 << 63) - 2);
        let p = PageParams::parse(Some(3), Some(20)).expect("valid");
        assert_eq!(p.offset(), 40);
    }

    #[test]
    fn sort_and_pattern() {
        let allowed = [("a", 1), ("b", 2)];
        assert_eq!(parse_sort(Some("-b"), &allowed, 1).ok(), Some((2, true)));
        assert_eq!(parse_sort(None, &allowed, 1).ok(), Some((1, false)));
        assert!(parse_sort(Some("c"), &allowed, 1).is_err());
        assert_eq!(contains_pattern("A_b%"), "%a\\_b\\%%");
    }
}
