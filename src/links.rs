//! Where links the server hands out point: share links and links an admin copies use the
//! request's own host unless `--public-url` is set; links sent by e-mail never trust a request's
//! `Host` (an attacker could point a victim's reset link at their own site), so they use
//! `--public-url` or the listen address (docs/SECURITY.md "Links in e-mail").

use poem::Request;

use crate::state::AppState;

/// `--public-url`, else the scheme and host the client used.
pub fn public_base(state: &AppState, req: &Request) -> String {
    if let Some(url) = &state.settings().public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// The base of links in e-mail.
pub fn mail_base(state: &AppState) -> String {
    state.settings().mail_base_url.clone()
}

/// The panel page that accepts an invitation; the token rides in the fragment, which browsers
/// never send to a server or in a `Referer`.
pub fn invitation_url(base: &str, token: &str) -> String {
    format!("{base}/invite#token={token}")
}

/// The panel page that sets a new password from a reset link.
pub fn reset_url(base: &str, token: &str) -> String {
    format!("{base}/reset#token={token}")
}
