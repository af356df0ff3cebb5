//! The admin panel: `frontend/dist` embedded in the binary and served at `/`.
//!
//! The build output is committed and embedded so that deploying is copying one file and
//! `cargo build` needs no Node. Client-side routes (`/users`, `/files/…`) get `index.html`;
//! hashed files under `/assets/` are cached forever, everything else is revalidated.

use std::{collections::HashMap, io::Write, sync::Arc};

use bytes::Bytes;
use poem::{
    Endpoint, Request, Response,
    error::NotFoundError,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
};
use rust_embed::RustEmbed;
use tokio::sync::OnceCell;

/// `allow_missing`: a checkout without a built panel still compiles; it then serves no panel.
/// `debug-embed` (Cargo.toml): debug builds and tests embed the same bytes as release builds.
#[derive(RustEmbed)]
#[folder = "frontend/dist"]
#[allow_missing = true]
struct Dist;

/// Set on every response of the panel, so request metrics label it `panel` rather than by
/// path (one label for any number of client routes and asset names).
#[derive(Debug, Clone, Copy)]
pub struct PanelRoute;

const INDEX: &str = "index.html";
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";
/// Vite puts a content hash in every file name under `assets/`: a new build means new URLs.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Prefixes owned by the other routes. Unknown paths there stay the JSON 404 they were, rather
/// than becoming the panel, so API clients never get HTML.
const RESERVED: &[&str] = &["/api", "/d", "/healthz", "/readyz", "/metrics"];

/// The panel endpoint; cheap to clone.
#[derive(Clone)]
pub struct Panel(Arc<HashMap<String, Asset>>);

struct Asset {
    data: Bytes,
    content_type: HeaderValue,
    /// Hex of the first 128 bits of the SHA-256 rust-embed computed at build time.
    hash: String,
    html: bool,
    immutable: bool,
    compressible: bool,
    /// Compressed on first request, then kept; `None` when compression does not pay.
    gzip: OnceCell<Option<Bytes>>,
    br: OnceCell<Option<Bytes>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Br,
    Gzip,
    Identity,
}

impl Encoding {
    /// Strong ETags must differ between representations, and each encoding is one.
    fn etag_suffix(self) -> &'static str {
        match self {
            Encoding::Br => "-br",
            Encoding::Gzip => "-gzip",
            Encoding::Identity => "",
        }
    }
}

impl Default for Panel {
    fn default() -> Self {
        Self::new()
    }
}

impl Panel {
    pub fn new() -> Self {
        let files: HashMap<String, Asset> = Dist::iter()
            .filter_map(|name| Dist::get(&name).map(|file| (name.into_owned(), file)))
            .map(|(name, file)| {
                let asset = Asset::new(&name, file);
                (name, asset)
            })
            .collect();
        if !files.contains_key(INDEX) {
            tracing::warn!("frontend/dist/index.html was not embedded at build time: no panel");
        }
        Self(Arc::new(files))
    }

    /// The embedded file for a request path: an exact file, else `index.html` for client routes.
    fn resolve(&self, path: &str) -> Option<&Asset> {
        let rel = path.trim_start_matches('/');
        if let Some(asset) = self.0.get(rel) {
            return Some(asset);
        }
        let last = rel.rsplit('/').next().unwrap_or_default();
        // A missing asset or file must not turn into a 200 HTML page the browser would try to
        // run as a script or style.
        if rel == "assets" || rel.starts_with("assets/") || last.contains('.') {
            return None;
        }
        self.0.get(INDEX)
    }

    async fn respond(&self, req: &Request) -> Response {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header(header::ALLOW, "GET, HEAD")
                .finish();
        }
        let Some(asset) = self.resolve(req.uri().path()) else {
            return StatusCode::NOT_FOUND.into();
        };
        let (body, encoding) = asset.variant(req.headers()).await;
        let etag = format!("\"{}{}\"", asset.hash, encoding.etag_suffix());
        let cache = if asset.immutable {
            IMMUTABLE
        } else {
            "no-cache"
        };
        let mut resp = Response::builder()
            .header(header::ETAG, etag.as_str())
            .header(header::CACHE_CONTROL, cache)
            .header(header::VARY, "Accept-Encoding");
        if asset.html {
            resp = resp.header(header::CONTENT_SECURITY_POLICY, CSP);
        }
        if if_none_match_hits(req.headers(), &etag) {
            return resp.status(StatusCode::NOT_MODIFIED).finish();
        }
        if encoding != Encoding::Identity {
            resp = resp.header(
                header::CONTENT_ENCODING,
                if encoding == Encoding::Br {
                    "br"
                } else {
                    "gzip"
                },
            );
        }
        // The body has a known length, so HEAD gets the right Content-Length; hyper sends no
        // body for HEAD.
        resp.header(header::CONTENT_TYPE, asset.content_type.clone())
            .body(body)
    }
}

impl Endpoint for Panel {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        let reserved = RESERVED.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if reserved {
            // Exactly what the router answered before the panel existed.
            return Err(NotFoundError.into());
        }
        let mut resp = self.respond(&req).await;
        let headers = resp.headers_mut();
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        resp.set_data(PanelRoute);
        Ok(resp)
    }
}

impl Asset {
    fn new(name: &str, file: rust_embed::EmbeddedFile) -> Self {
        let data = match file.data {
            std::borrow::Cow::Borrowed(b) => Bytes::from_static(b),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        };
        let mime = mime_guess::from_path(name).first_or_octet_stream();
        let textual = mime.type_() == "text"
            || ["javascript", "json", "xml"].contains(&mime.subtype().as_str())
            || mime.suffix().is_some_and(|s| s == "json" || s == "xml");
        let content_type = if textual && mime.get_param("charset").is_none() {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        Self {
            data,
            content_type: HeaderValue::from_str(&content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            hash: hex::encode(&file.metadata.sha256_hash()[..16]),
            html: mime.subtype() == "html",
            immutable: name.starts_with("assets/"),
            // Images, fonts and archives are compressed already.
            compressible: textual || mime.subtype() == "wasm",
            gzip: OnceCell::new(),
            br: OnceCell::new(),
        }
    }

    /// The body in the encoding the client prefers most among those worth sending.
    async fn variant(&self, headers: &HeaderMap) -> (Bytes, Encoding) {
        for encoding in preferences(headers) {
            let cell = match encoding {
                Encoding::Identity => break,
                _ if !self.compressible => break,
                Encoding::Br => &self.br,
                Encoding::Gzip => &self.gzip,
            };
            let data = self.data.clone();
            // Off the runtime: brotli at quality 11 takes a while on a large bundle, and only
            // the first request pays it (concurrent ones wait on the same cell).
            let compressed = cell
                .get_or_init(|| async move {
                    tokio::task::spawn_blocking(move || compress(encoding, &data))
                        .await
                        .ok()
                        .flatten()
                })
                .await;
            if let Some(body) = compressed {
                return (body.clone(), encoding);
            }
        }
        (self.data.clone(), Encoding::Identity)
    }
}

/// `Some` only if the result is smaller than the input.
fn compress(encoding: Encoding, data: &[u8]) -> Option<Bytes> {
    let result = match encoding {
        Encoding::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(data).and_then(|()| enc.finish())
        }
        Encoding::Br => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                size_hint: data.len(),
                ..Default::default()
            };
            let mut out = Vec::new();
            brotli::BrotliCompress(&mut &data[..], &mut out, &params).map(|_| out)
        }
        Encoding::Identity => return None,
    };
    match result {
        Ok(out) if out.len() < data.len() => Some(Bytes::from(out)),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, ?encoding, "compressing a panel file failed");
            None
        }
    }
}

/// Encodings in the client's order of preference (`Accept-Encoding` q-values; on a tie br, then
/// gzip, then identity), always including identity: a client that refuses identity still gets
/// an answer rather than a 406.
fn preferences(headers: &HeaderMap) -> Vec<Encoding> {
    let mut explicit: [Option<f32>; 3] = [None; 3];
    let mut star = None;
    let mut any = false;
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        any = true;
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| {
                let (key, value) = p.split_once('=')?;
                key.trim().eq_ignore_ascii_case("q").then(|| value.trim())
            })
            .map_or(1.0, |v| {
                v.parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0)
            });
        match name.as_str() {
            "br" => explicit[0] = Some(q),
            "gzip" | "x-gzip" => explicit[1] = Some(q),
            "identity" => explicit[2] = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    if !any {
        return vec![Encoding::Identity];
    }
    // Unlisted codings are not acceptable, except identity (RFC 9110 §12.5.3), which then ranks
    // last: `br;q=0.9, gzip;q=0.8` asks for br.
    let mut ranked: Vec<(Encoding, f32)> = [Encoding::Br, Encoding::Gzip, Encoding::Identity]
        .into_iter()
        .enumerate()
        .map(|(i, e)| (e, explicit[i].or(star).unwrap_or(0.0)))
        .filter(|&(_, q)| q > 0.0)
        .collect();
    // Stable: equal q keeps the server's order.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut order: Vec<Encoding> = ranked.into_iter().map(|(e, _)| e).collect();
    if !order.contains(&Encoding::Identity) {
        order.push(Encoding::Identity);
    }
    order
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2).
fn if_none_match_hits(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(accept: Option<&str>) -> Vec<Encoding> {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(a).expect("header"),
            );
        }
        preferences(&headers)
    }

    #[test]
    fn accept_encoding_negotiation() {
        use Encoding::*;
        assert_eq!(prefs(None), vec![Identity]);
        assert_eq!(
            prefs(Some("gzip, deflate, br, zstd")),
            vec![Br, Gzip, Identity]
        );
        assert_eq!(
            prefs(Some("gzip;q=1.0, br;q=0.5")),
            vec![Gzip, Br, Identity]
        );
        assert_eq!(prefs(Some("br;q=0, gzip")), vec![Gzip, Identity]);
        assert_eq!(prefs(Some("identity;q=0, *")), vec![Br, Gzip, Identity]);
        assert_eq!(prefs(Some("*;q=0.5, identity")), vec![Identity, Br, Gzip]);
        assert_eq!(prefs(Some("GZIP; Q=0.8")), vec![Gzip, Identity]);
        assert_eq!(prefs(Some("x-gzip")), vec![Gzip, Identity]);
        assert_eq!(
            prefs(Some("br;q=0.9, gzip;q=0.8")),
            vec![Br, Gzip, Identity]
        );
        assert_eq!(prefs(Some("identity, gzip;q=0.5")), vec![Identity, Gzip]);
        assert_eq!(prefs(Some("gzip;q=bogus")), vec![Identity]);
        assert_eq!(prefs(Some("")), vec![Identity]);
    }

    #[test]
    fn if_none_match_is_weak_and_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(if_none_match_hits(&headers, "\"b\""));
        assert!(if_none_match_hits(&headers, "\"a\""));
        assert!(!if_none_match_hits(&headers, "\"c\""));
    }

    #[test]
    fn client_routes_fall_back_but_files_do_not() {
        let panel = Panel::new();
        if panel.0.get(INDEX).is_none() {
            return;
        }
        assert!(panel.resolve("/").is_some_and(|a| a.html));
        assert!(panel.resolve("/users").is_some_and(|a| a.html));
        assert!(panel.resolve("/files/").is_some_and(|a| a.html));
        assert!(panel.resolve("/assets/nope.js").is_none());
        assert!(panel.resolve("/assets/nope").is_none());
        assert!(panel.resolve("/robots.txt").is_none());
    }
}
