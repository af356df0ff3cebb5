//! File names: sanitising what clients send, and the RFC 6266 `Content-Disposition` header.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

const MAX_NAME_CHARS: usize = 255;

/// A display-safe file name: the last path component only, no control or bidi-override
/// characters, trimmed, at most 255 characters. `None` when nothing usable is left.
pub fn sanitize(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(trimmed.chars().take(MAX_NAME_CHARS).collect())
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// RFC 5987 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ascii fallback>"; filename*=UTF-8''<encoded>` (RFC 6266 §4.3).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The content type to store: the part's own unless it is missing or generic, then what the
/// first bytes look like, then what the name's extension says.
pub fn content_type(declared: Option<&str>, head: &[u8], name: &str) -> String {
    if let Some(d) = declared
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("application/octet-stream"))
        .filter(|d| d.parse::<mime_guess::mime::Mime>().is_ok())
    {
        return d.to_owned();
    }
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    mime_guess::from_path(name)
        .first()
        .map(|m| m.essence_str().to_owned())
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_paths_controls_and_dots() {
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitize("C:\\Users\\a\\b.txt").as_deref(), Some("b.txt"));
        assert_eq!(
            sanitize("a\u{0}b\nc\u{202E}.txt").as_deref(),
            Some("abc.txt")
        );
        assert_eq!(sanitize("  ..hidden "), Some("hidden".to_owned()));
        assert_eq!(sanitize("/"), None);
        assert_eq!(sanitize("   "), None);
        assert_eq!(
            sanitize(&"é".repeat(300)).map(|s| s.chars().count()),
            Some(255)
        );
    }

    #[test]
    fn disposition_has_ascii_fallback_and_utf8_name() {
        let h = content_disposition("résumé \"v2\" 100%.pdf");
        assert_eq!(
            h,
            "attachment; filename=\"r_sum_ _v2_ 100_.pdf\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22%20100%25.pdf"
        );
    }

    #[test]
    fn content_type_prefers_declared_then_sniffed_then_extension() {
        assert_eq!(content_type(Some("text/csv"), b"a,b", "x.bin"), "text/csv");
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            content_type(Some("application/octet-stream"), png, "x"),
            "image/png"
        );
        assert_eq!(content_type(None, b"hello", "notes.txt"), "text/plain");
        assert_eq!(
            content_type(None, b"\0\x01", "blob"),
            "application/octet-stream"
        );
    }
}
