//! Which web origins may talk to the server from a browser: the WebSocket `Origin` check and
//! the optional CORS policy of the REST API.
//!
//! Browsers send `Origin` on every WebSocket handshake but, unlike `fetch`, do not enforce
//! CORS on it: without this check any page the admin visits could open a socket to the
//! server. Clients that are not browsers send no `Origin` and are let through; they need a
//! token anyway.

use poem::{Request, http::HeaderMap, middleware::Cors};

/// `scheme://host[:port]`, lower-cased, without a trailing slash; `*` stays `*`.
pub fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

pub fn normalise_all(origins: &[String]) -> Vec<String> {
    origins
        .iter()
        .map(|o| normalise(o))
        .filter(|o| !o.is_empty())
        .collect()
}

/// `true` when the request carries no `Origin`, or one that is the server's own (the `Host` it
/// was reached at, or `public_url`), or one of `allowed`.
pub fn websocket_allowed(req: &Request, public_url: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = header(req.headers(), "origin") else {
        return true;
    };
    let origin = normalise(origin);
    if allowed.iter().any(|a| a == "*" || *a == origin) {
        return true;
    }
    if public_url.is_some_and(|p| normalise(p) == origin) {
        return true;
    }
    // Same origin: the authority of `Origin` equals the `Host` the browser connected to.
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let host = header(req.headers(), "host").map(str::to_ascii_lowercase);
    matches!((authority, host), (Some(a), Some(h)) if a == h)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The CORS middleware for `origins` (`*`: any origin). No credentials: the API uses bearer
/// tokens, never cookies.
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::new()
        .allow_credentials(false)
        .allow_methods(["GET", "HEAD", "POST", "PATCH", "DELETE"])
        .allow_headers([
            "authorization",
            "content-type",
            "if-match",
            "if-none-match",
            "if-range",
            "range",
            // tus (resumable uploads)
            "tus-resumable",
            "upload-length",
            "upload-offset",
            "upload-metadata",
            "upload-checksum",
            "upload-defer-length",
        ])
        .expose_headers([
            "etag",
            "location",
            "retry-after",
            "content-disposition",
            "content-range",
            "accept-ranges",
            "tus-resumable",
            "tus-version",
            "tus-extension",
            "tus-max-size",
            "tus-checksum-algorithm",
            "upload-offset",
            "upload-length",
            "upload-metadata",
            "upload-expires",
            "switchboard-file-id",
        ])
        .max_age(600);
    if !origins.iter().any(|o| o == "*") {
        cors = cors.allow_origins(origins.iter().map(String::as_str));
    }
    cors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&str>, host: &str) -> Request {
        let mut b = Request::builder().header("host", host);
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.finish()
    }

    #[test]
    fn same_origin_and_no_origin_pass() {
        assert!(websocket_allowed(&req(None, "a:1"), None, &[]));
        assert!(websocket_allowed(
            &req(Some("http://a:1"), "a:1"),
            None,
            &[]
        ));
        assert!(websocket_allowed(
            &req(Some("HTTPS://A:1/"), "a:1"),
            None,
            &[]
        ));
    }

    #[test]
    fn other_origins_only_when_listed() {
        let evil = req(Some("http://evil.example"), "a:1");
        assert!(!websocket_allowed(&evil, None, &[]));
        assert!(!websocket_allowed(
            &req(Some("http://a:1.evil.example"), "a:1"),
            None,
            &[]
        ));
        assert!(websocket_allowed(
            &evil,
            None,
            &normalise_all(&["http://evil.example/".into()])
        ));
        assert!(websocket_allowed(&evil, None, &["*".into()]));
        assert!(websocket_allowed(
            &req(Some("https://admin.example.com"), "10.0.0.5:8080"),
            Some("https://Admin.example.com/"),
            &[]
        ));
    }
}
