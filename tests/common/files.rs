//! Helpers for the file store tests (docs/API.md §5): deterministic generated content,
//! hand-built (streamed) multipart bodies, binary downloads, the store's `objects/` (local or
//! S3, see `store.rs`) and the data dir's `tmp/`, and WebSocket reading helpers.
//!
//! Nothing here sleeps to synchronise: waits are for frames (with timeouts) or polls with a
//! deadline.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{
    Resp, TestApp, WsClient, assert_event_envelope, assert_utc_timestamp, is_presence, poll_until,
};

/// Size of the chunks generated content is produced in.
pub const GEN_CHUNK: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-random content
// ---------------------------------------------------------------------------------------------

/// A splitmix64 byte generator: the same seed always yields the same byte sequence, however the
/// output is chunked.
pub struct Prng {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng {
            state: seed ^ 0x5DEE_CE66_D1CE_4E5B,
            word: [0; 8],
            used: 8,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `out` with the next bytes of the sequence.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() && self.used < 8 {
            out[i] = self.word[self.used];
            self.used += 1;
            i += 1;
        }
        let mut chunks = out[i..].chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rem = chunks.into_remainder();
        if !rem.is_empty() {
            self.word = self.next_u64().to_le_bytes();
            let n = rem.len();
            rem.copy_from_slice(&self.word[..n]);
            self.used = n;
        }
    }

    /// Skips `n` bytes of the sequence.
    pub fn skip(&mut self, mut n: u64) {
        let mut buf = vec![0u8; GEN_CHUNK];
        while n > 0 {
            let k = n.min(GEN_CHUNK as u64) as usize;
            self.fill(&mut buf[..k]);
            n -= k as u64;
        }
    }
}

/// The first `len` bytes generated from `seed`.
pub fn gen_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Prng::new(seed).fill(&mut out);
    out
}

/// Lowercase hex sha256 of the first `len` bytes generated from `seed`, without holding them.
pub fn gen_sha256(seed: u64, len: u64) -> String {
    let mut prng = Prng::new(seed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; GEN_CHUNK];
    let mut left = len;
    while left > 0 {
        let k = left.min(GEN_CHUNK as u64) as usize;
        prng.fill(&mut buf[..k]);
        hasher.update(&buf[..k]);
        left -= k as u64;
    }
    hex::encode(hasher.finalize())
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The first `len` bytes generated from `seed` as a stream of [`GEN_CHUNK`]-sized chunks.
pub fn gen_stream(seed: u64, len: u64) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold((Prng::new(seed), len), |(mut prng, left)| async move {
        if left == 0 {
            return None;
        }
        let k = left.min(GEN_CHUNK as u64) as usize;
        let mut buf = vec![0u8; k];
        prng.fill(&mut buf);
        Some((Ok(Bytes::from(buf)), (prng, left - k as u64)))
    })
}

// ---------------------------------------------------------------------------------------------
// multipart/form-data bodies, built by hand and streamed
// ---------------------------------------------------------------------------------------------

enum Piece {
    Static(Bytes),
    Generated { seed: u64, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Static(b) => b.len() as u64,
            Piece::Generated { len, .. } => *len,
        }
    }
}

/// A `multipart/form-data` body. File contents can be generated on the fly so a large body is
/// never held in memory.
pub struct Multipart {
    boundary: String,
    pieces: Vec<Piece>,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart::new()
    }
}

/// Quotes a header parameter value the way browsers do for multipart (`"` and `\` escaped).
fn quote_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Multipart {
    pub fn new() -> Multipart {
        Multipart {
            boundary: format!("----sbtest{}", uuid::Uuid::new_v4().simple()),
            pieces: Vec::new(),
        }
    }

    fn push_static(&mut self, bytes: impl Into<Bytes>) {
        self.pieces.push(Piece::Static(bytes.into()));
    }

    fn part_head(&mut self, field: &str, filename: Option<&str>, content_type: Option<&str>) {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; name={}",
            self.boundary,
            quote_param(field)
        );
        if let Some(filename) = filename {
            head.push_str("; filename=");
            head.push_str(&quote_param(filename));
        }
        head.push_str("\r\n");
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        self.push_static(head.into_bytes());
    }

    /// A text field.
    pub fn text(mut self, field: &str, value: &str) -> Multipart {
        self.part_head(field, None, None);
        self.push_static(format!("{value}\r\n").into_bytes());
        self
    }

    /// A part named `field` with the given filename, content type and bytes.
    pub fn part(
        mut self,
        field: &str,
        filename: Option<&str>,
        content_type: Option<&str>,
        bytes: impl Into<Bytes>,
    ) -> Multipart {
        self.part_head(field, filename, content_type);
        self.push_static(bytes.into());
        self.push_static(&b"\r\n"[..]);
        self
    }

    /// The `file` part with the given filename, content type and bytes.
    pub fn file(
        self,
        filename: &str,
        content_type: Option<&str>,
        bytes: impl Into<Bytes>,
    ) -> Multipart {
        self.part("file", Some(filename), content_type, bytes)
    }

    /// The `file` part with `len` bytes generated from `seed`.
    pub fn file_generated(
        mut self,
        filename: &str,
        content_type: Option<&str>,
        seed: u64,
        len: u64,
    ) -> Multipart {
        self.part_head("file", Some(filename), content_type);
        self.pieces.push(Piece::Generated { seed, len });
        self.push_static(&b"\r\n"[..]);
        self
    }

    /// The `Content-Type` header value.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    fn closing(&self) -> Bytes {
        Bytes::from(format!("--{}--\r\n", self.boundary))
    }

    /// Total body length in bytes.
    pub fn len(&self) -> u64 {
        self.pieces.iter().map(Piece::len).sum::<u64>() + self.closing().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let closing = self.closing();
        let mut pieces = self.pieces;
        pieces.push(Piece::Static(closing));
        futures_util::stream::iter(pieces).flat_map(|piece| match piece {
            Piece::Static(b) => futures_util::stream::once(async move { Ok(b) }).boxed(),
            Piece::Generated { seed, len } => gen_stream(seed, len).boxed(),
        })
    }

    /// The first `n` bytes of the body, then nothing ever again (the request stalls).
    pub fn into_stalling_stream(
        self,
        n: u64,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let head = self.into_stream();
        futures_util::stream::unfold((head.boxed(), n), |(mut inner, left)| async move {
            if left == 0 {
                return None;
            }
            match inner.next().await {
                Some(Ok(mut chunk)) => {
                    if chunk.len() as u64 > left {
                        chunk.truncate(left as usize);
                    }
                    let k = chunk.len() as u64;
                    Some((Ok(chunk), (inner, left - k)))
                }
                other => other.map(|item| (item, (inner, 0))),
            }
        })
        .chain(futures_util::stream::pending())
    }
}

impl TestApp {
    /// `POST /api/files` with `form` streamed as the body (with its exact `Content-Length`).
    pub fn upload_request(&self, token: &str, form: Multipart) -> RequestBuilder {
        let len = form.len();
        self.req(Method::POST, "/api/files")
            .bearer_auth(token)
            .header(CONTENT_TYPE, form.content_type())
            .header(CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(form.into_stream()))
    }

    /// `POST /api/files` with `form`; no expectation on the outcome.
    pub async fn upload(&self, token: &str, form: Multipart) -> Resp {
        self.send(self.upload_request(token, form)).await
    }

    /// Uploads `bytes` as `name` (no part content type) as admin; panics unless 201.
    pub async fn upload_bytes(&self, name: &str, bytes: &[u8]) -> Value {
        let resp = self
            .upload(
                &self.admin_token,
                Multipart::new().file(name, None, Bytes::copy_from_slice(bytes)),
            )
            .await;
        resp.expect_status(201);
        assert_file_shape(&resp.body);
        resp.body
    }

    /// Uploads `len` bytes generated from `seed` as `name` as admin; panics unless 201.
    pub async fn upload_generated(&self, name: &str, seed: u64, len: u64) -> Value {
        let resp = self
            .upload(
                &self.admin_token,
                Multipart::new().file_generated(name, None, seed, len),
            )
            .await;
        resp.expect_status(201);
        assert_file_shape(&resp.body);
        resp.body
    }

    /// `GET /api/files/{id}` as admin; panics unless 200.
    pub async fn get_file(&self, id: &str) -> Value {
        let resp = self
            .get(&format!("/api/files/{id}"), &self.admin_token)
            .await;
        resp.expect_status(200);
        assert_file_shape(&resp.body);
        resp.body
    }

    /// `GET /api/files{query}` as admin; panics unless 200 with a list envelope.
    pub async fn list_files(&self, query: &str) -> Value {
        let resp = self
            .get(&format!("/api/files{query}"), &self.admin_token)
            .await;
        resp.expect_status(200);
        assert_list_envelope(&resp.body);
        resp.body
    }

    /// Creates a share link as admin; panics unless 201.
    pub async fn create_link(&self, file_id: &str, body: &Value) -> Value {
        let resp = self
            .post(
                &format!("/api/files/{file_id}/links"),
                &self.admin_token,
                body,
            )
            .await;
        resp.expect_status(201);
        resp.body
    }

    /// The share links of a file (`GET /api/files/{id}/links` as admin).
    pub async fn list_links(&self, file_id: &str) -> Value {
        let resp = self
            .get(&format!("/api/files/{file_id}/links"), &self.admin_token)
            .await;
        resp.expect_status(200);
        assert_list_envelope(&resp.body);
        resp.body
    }

    /// The link `token` of `file_id` as listed by `GET /api/files/{id}/links`.
    pub async fn find_link(&self, file_id: &str, token: &str) -> Option<Value> {
        let list = self.list_links(file_id).await;
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|l| l["token"] == token)
            .cloned()
    }

    /// Sends a request and reads the whole body as bytes; panics on a transport error.
    pub async fn fetch(&self, request: RequestBuilder) -> Download {
        let request = request.build().expect("build request");
        let method = request.method().clone();
        let url = request.url().to_string();
        let response = self
            .client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading body failed: {e}"))
            .to_vec();
        Download {
            method,
            url,
            status,
            headers,
            bytes,
        }
    }

    /// GET (or another method) `path` with optional bearer token and extra headers, read whole.
    pub async fn download(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Download {
        let mut req = self.req(method, path);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.fetch(req).await
    }

    /// The data dir of this app.
    pub fn data_path(&self) -> &Path {
        self.env.data_dir.path()
    }

    /// The keys of every stored object (`objects/<2 chars>/<id>`), on either backend (the data
    /// dir's local store, or the test's prefix of the S3 bucket).
    pub fn object_files(&self) -> Vec<String> {
        self.env
            .store
            .list("objects")
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// The bytes stored under `key`, or `None` if there is no such object.
    pub fn read_object(&self, key: &str) -> Option<Vec<u8>> {
        self.env.store.read(key)
    }

    /// Every regular file under `<data-dir>/tmp` (uploads are staged there on every backend).
    pub fn tmp_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_path().join("tmp"))
    }

    /// Waits (up to `within`) until neither the store's `objects/` nor `tmp/` holds a file;
    /// panics with the leftovers otherwise.
    pub async fn assert_store_empty(&self, within: Duration, what: &str) {
        let empty = poll_until(within, || async {
            self.object_files().is_empty() && self.tmp_files().is_empty()
        })
        .await;
        assert!(
            empty,
            "{what}: files left in the store after {within:?}: objects {:?}, tmp {:?}",
            self.object_files(),
            self.tmp_files()
        );
    }

    /// Waits (up to `within`) until `tmp/` holds no file; panics with the leftovers otherwise.
    pub async fn assert_tmp_empty(&self, within: Duration, what: &str) {
        let empty = poll_until(within, || async { self.tmp_files().is_empty() }).await;
        assert!(
            empty,
            "{what}: files left under tmp/ after {within:?}: {:?}",
            self.tmp_files()
        );
    }

    /// The key of file `id`'s stored object, `objects/<2 chars>/<id>`; panics unless it exists
    /// exactly once.
    pub fn object_key(&self, id: &str) -> String {
        let all = self.object_files();
        let found: Vec<&String> = all
            .iter()
            .filter(|k| k.rsplit('/').next() == Some(id))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected exactly one object named {id} under objects/, found {found:?} (all: {all:?})"
        );
        let key = found[0].clone();
        let parts: Vec<&str> = key.split('/').collect();
        assert!(
            parts.len() == 3 && parts[0] == "objects" && parts[1].chars().count() == 2,
            "object {key:?} should be at objects/<2 chars>/<id>"
        );
        key
    }

    /// Polls `GET /api/files/{id}` until `download_count` reaches `count` (panics after
    /// `within`), then returns the file.
    pub async fn wait_download_count(&self, id: &str, count: i64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let file = self.get_file(id).await;
            let got = file["download_count"].as_i64().expect("download_count");
            if got == count {
                return file;
            }
            assert!(
                got < count,
                "file {id}: download_count went past {count}: {file}"
            );
            if Instant::now() >= deadline {
                panic!("file {id}: download_count is {got}, expected {count} within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// What a raw HTTP/1.1 exchange produced (see [`TestApp::raw_upload`]).
#[derive(Debug)]
pub struct RawOutcome {
    /// The response, if a complete head arrived (body as far as it was received).
    pub resp: Option<Resp>,
    /// Why writing the request stopped early, if it did.
    pub write_error: Option<String>,
    /// Why reading the response stopped with an error, if it did.
    pub read_error: Option<String>,
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body as far as it goes.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find_subslice(raw, b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if raw.len() < size + 2 {
            break;
        }
        raw = &raw[size + 2..];
    }
    out
}

/// Parses a raw HTTP/1.1 response (head and whatever body arrived).
fn parse_raw_response(raw: &[u8], url: &str) -> Option<Resp> {
    let end = find_subslice(raw, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let code: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':')?;
        let name = reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()).ok()?;
        let value = reqwest::header::HeaderValue::from_str(v.trim()).ok()?;
        headers.append(name, value);
    }
    let rest = &raw[end + 4..];
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body_bytes = if chunked {
        dechunk(rest)
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    let text = String::from_utf8_lossy(&body_bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Some(Resp {
        method: Method::POST,
        url: url.to_owned(),
        status: StatusCode::from_u16(code).ok()?,
        headers,
        text,
        body,
    })
}

impl TestApp {
    /// `POST /api/files` with `form` over a raw TCP connection, the way curl sends it: the body
    /// is written while the response is read, so a response sent before the body was fully
    /// received (an early rejection) is seen even if the server then closes the connection and
    /// writing the rest fails. `Content-Length` or, without it, chunked transfer encoding.
    pub async fn raw_upload(
        &self,
        token: &str,
        form: Multipart,
        with_content_length: bool,
    ) -> RawOutcome {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.addr));
        let (mut rd, mut wr) = stream.into_split();
        let mut head = format!(
            "POST /api/files HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: {}\r\n",
            self.addr,
            form.content_type()
        );
        if with_content_length {
            head.push_str(&format!("Content-Length: {}\r\n", form.len()));
        } else {
            head.push_str("Transfer-Encoding: chunked\r\n");
        }
        head.push_str("\r\n");
        let body = form.into_stream();
        let writer = tokio::spawn(async move {
            let mut body = Box::pin(body);
            wr.write_all(head.as_bytes())
                .await
                .map_err(|e| format!("{e:?}"))?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| format!("{e:?}"))?;
                if with_content_length {
                    wr.write_all(&chunk).await.map_err(|e| format!("{e:?}"))?;
                } else {
                    let framed = [
                        format!("{:x}\r\n", chunk.len()).as_bytes(),
                        &chunk[..],
                        b"\r\n",
                    ]
                    .concat();
                    wr.write_all(&framed).await.map_err(|e| format!("{e:?}"))?;
                }
            }
            if !with_content_length {
                wr.write_all(b"0\r\n\r\n")
                    .await
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok::<_, String>(wr)
        });
        let mut raw = Vec::new();
        let mut read_error = None;
        let mut buf = vec![0u8; 64 * 1024];
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                    Err(e) => {
                        read_error = Some(format!("{e:?}"));
                        break;
                    }
                }
            }
        })
        .await;
        assert!(
            read.is_ok(),
            "POST /api/files (raw): no end of response within 60 s; got {} bytes: {:?}",
            raw.len(),
            String::from_utf8_lossy(&raw[..raw.len().min(500)])
        );
        let write_error = if writer.is_finished() {
            match writer.await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e),
                Err(e) => Some(format!("writer task: {e}")),
            }
        } else {
            writer.abort();
            Some("still writing when the response ended".to_owned())
        };
        RawOutcome {
            resp: parse_raw_response(&raw, &self.url("/api/files")),
            write_error,
            read_error,
        }
    }
}

/// Every regular file under `dir`, recursively (empty when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// Binary responses
// ---------------------------------------------------------------------------------------------

/// A fully read response with a binary body.
#[derive(Debug, Clone)]
pub struct Download {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Download {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The header, panicking (with the response) if it is missing.
    #[track_caller]
    pub fn must_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| {
            panic!(
                "{} {}: no {name} header in {} response; headers: {:?}",
                self.method, self.url, self.status, self.headers
            )
        })
    }

    /// As a [`Resp`] (text/JSON view), for the error assertions.
    pub fn resp(&self) -> Resp {
        let text = String::from_utf8_lossy(&self.bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            method: self.method.clone(),
            url: self.url.clone(),
            status: self.status,
            headers: self.headers.clone(),
            text,
            body,
        }
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Download {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{} {}: expected HTTP {status}, got {} with body: {}",
            self.method,
            self.url,
            self.status,
            String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(2000)])
        );
        self
    }
}

/// The outcome of a download read as a stream (hashed, optionally compared with generated
/// content) without holding the body.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Body bytes received.
    pub len: u64,
    pub sha256: String,
    /// Offset of the first byte that differs from the expected generated content.
    pub mismatch_at: Option<u64>,
    /// The error that ended the body early, if any.
    pub error: Option<String>,
}

/// Reads `response`'s body chunk by chunk: hashes it and (with `expect`) compares it with the
/// content generated from `(seed, offset)`.
pub async fn read_streamed(response: reqwest::Response, expect: Option<(u64, u64)>) -> Streamed {
    let status = response.status();
    let headers = response.headers().clone();
    let mut prng = expect.map(|(seed, offset)| {
        let mut p = Prng::new(seed);
        p.skip(offset);
        p
    });
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut mismatch_at = None;
    let mut error = None;
    let mut expected = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => {
                hasher.update(&chunk);
                if let Some(prng) = prng.as_mut() {
                    expected.resize(chunk.len(), 0);
                    prng.fill(&mut expected);
                    if mismatch_at.is_none()
                        && let Some(i) = chunk.iter().zip(&expected).position(|(a, b)| a != b)
                    {
                        mismatch_at = Some(len + i as u64);
                    }
                }
                len += chunk.len() as u64;
            }
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Streamed {
        status,
        headers,
        len,
        sha256: hex::encode(hasher.finalize()),
        mismatch_at,
        error,
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes and headers
// ---------------------------------------------------------------------------------------------

/// Asserts the File shape of the contract.
#[track_caller]
pub fn assert_file_shape(file: &Value) {
    let obj = file
        .as_object()
        .unwrap_or_else(|| panic!("file should be an object: {file}"));
    for key in [
        "id",
        "name",
        "size",
        "content_type",
        "sha256",
        "uploaded_by",
        "created_at",
        "updated_at",
        "download_count",
        "expires_at",
        "max_downloads",
        "version",
    ] {
        assert!(obj.contains_key(key), "file.{key} missing: {file}");
    }
    assert!(
        file["id"].as_str().is_some_and(|s| !s.is_empty()),
        "file.id should be a non-empty string: {file}"
    );
    assert!(
        file["name"].as_str().is_some_and(|s| !s.is_empty()),
        "file.name should be a non-empty string: {file}"
    );
    assert!(
        file["size"].as_i64().is_some_and(|s| s >= 0),
        "file.size should be an integer >= 0: {file}"
    );
    assert!(
        file["content_type"].as_str().is_some_and(|s| !s.is_empty()),
        "file.content_type should be a non-empty string: {file}"
    );
    let sha = file["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("file.sha256 should be a string: {file}"));
    assert!(
        sha.len() == 64
            && sha
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "file.sha256 should be 64 lowercase hex digits: {file}"
    );
    assert!(
        file["uploaded_by"].is_string() || file["uploaded_by"].is_null(),
        "file.uploaded_by should be a string or null: {file}"
    );
    assert_utc_timestamp(&file["created_at"], "file.created_at");
    assert_utc_timestamp(&file["updated_at"], "file.updated_at");
    assert!(
        file["download_count"].as_i64().is_some_and(|c| c >= 0),
        "file.download_count should be an integer >= 0: {file}"
    );
    if !file["expires_at"].is_null() {
        assert_utc_timestamp(&file["expires_at"], "file.expires_at");
    }
    assert!(
        file["max_downloads"].is_null() || file["max_downloads"].as_i64().is_some_and(|m| m >= 1),
        "file.max_downloads should be null or an integer >= 1: {file}"
    );
    assert!(
        file["version"].as_i64().is_some_and(|v| v >= 1),
        "file.version should be an integer >= 1: {file}"
    );
}

/// Asserts the share link shape of the contract.
#[track_caller]
pub fn assert_link_shape(link: &Value) {
    let obj = link
        .as_object()
        .unwrap_or_else(|| panic!("link should be an object: {link}"));
    for key in [
        "token",
        "url",
        "file_id",
        "expires_at",
        "max_downloads",
        "download_count",
        "created_at",
        "created_by",
    ] {
        assert!(obj.contains_key(key), "link.{key} missing: {link}");
    }
    let token = link["token"]
        .as_str()
        .unwrap_or_else(|| panic!("link.token should be a string: {link}"));
    assert!(
        token.len() >= 16,
        "link.token should be long enough not to be guessed: {link}"
    );
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "link.token should be URL-safe: {link}"
    );
    assert!(
        link["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/d/{token}"))),
        "link.url should end with /d/<token>: {link}"
    );
    assert!(
        link["download_count"].as_i64().is_some_and(|c| c >= 0),
        "link.download_count should be an integer >= 0: {link}"
    );
    assert_utc_timestamp(&link["created_at"], "link.created_at");
    if !link["expires_at"].is_null() {
        assert_utc_timestamp(&link["expires_at"], "link.expires_at");
    }
}

/// Asserts `{items: [...], total, page, per_page}`.
#[track_caller]
pub fn assert_list_envelope(body: &Value) {
    assert!(body["items"].is_array(), "items should be an array: {body}");
    assert!(body["total"].is_u64(), "total should be an integer: {body}");
    assert!(body["page"].is_u64(), "page should be an integer: {body}");
    assert!(
        body["per_page"].is_u64(),
        "per_page should be an integer: {body}"
    );
}

/// A parsed `Content-Disposition` header.
#[derive(Debug, Clone, Default)]
pub struct Disposition {
    /// `attachment` / `inline` (lowercased).
    pub kind: String,
    /// The plain `filename` parameter (quoted-string unescaped).
    pub filename: Option<String>,
    /// The raw `filename*` parameter value.
    pub filename_star_raw: Option<String>,
    /// The `filename*` parameter decoded (charset must be UTF-8).
    pub filename_star: Option<String>,
}

/// Parses `Content-Disposition` (RFC 6266): type, `filename`, `filename*`. Panics on syntax that
/// a strict client would reject.
#[track_caller]
pub fn parse_disposition(header: &str) -> Disposition {
    let bytes = header.as_bytes();
    let mut i = 0;
    let read_token = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && !matches!(bytes[*i], b';' | b'=' | b' ' | b'\t' | b'"') {
            *i += 1;
        }
        header[start..*i].to_owned()
    };
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && matches!(bytes[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let mut out = Disposition {
        kind: read_token(&mut i).to_ascii_lowercase(),
        ..Disposition::default()
    };
    loop {
        skip_ws(&mut i);
        if i >= bytes.len() {
            break;
        }
        assert_eq!(
            bytes[i], b';',
            "Content-Disposition {header:?}: expected ';' at byte {i}"
        );
        i += 1;
        skip_ws(&mut i);
        let name = read_token(&mut i).to_ascii_lowercase();
        skip_ws(&mut i);
        assert!(
            i < bytes.len() && bytes[i] == b'=',
            "Content-Disposition {header:?}: parameter {name:?} without '='"
        );
        i += 1;
        skip_ws(&mut i);
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            let rest = &header[i..];
            let mut chars = rest.char_indices();
            while let Some((k, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            v.push(e);
                        }
                    }
                    '"' => {
                        i += k + 1;
                        closed = true;
                        break;
                    }
                    c => v.push(c),
                }
            }
            assert!(
                closed,
                "Content-Disposition {header:?}: unterminated quoted string"
            );
            v
        } else {
            let start = i;
            while i < bytes.len() && !matches!(bytes[i], b';' | b' ' | b'\t') {
                i += 1;
            }
            header[start..i].to_owned()
        };
        match name.as_str() {
            "filename" => out.filename = Some(value),
            "filename*" => {
                let mut parts = value.splitn(3, '\'');
                let charset = parts.next().unwrap_or_default();
                let _lang = parts.next().unwrap_or_else(|| {
                    panic!("filename* {value:?} is not charset'lang'value (RFC 8187)")
                });
                let encoded = parts.next().unwrap_or_else(|| {
                    panic!("filename* {value:?} is not charset'lang'value (RFC 8187)")
                });
                assert!(
                    charset.eq_ignore_ascii_case("utf-8"),
                    "filename* charset should be UTF-8: {value:?}"
                );
                assert!(
                    encoded
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"%!#$&+-.^_`|~".contains(&b)),
                    "filename* value may only hold attr-chars and %XX escapes (RFC 8187): {value:?}"
                );
                let decoded = percent_encoding::percent_decode_str(encoded)
                    .decode_utf8()
                    .unwrap_or_else(|e| panic!("filename* {value:?} is not UTF-8: {e}"))
                    .into_owned();
                out.filename_star_raw = Some(value.clone());
                out.filename_star = Some(decoded);
            }
            _ => {}
        }
    }
    out
}

/// Asserts `Content-Disposition: attachment` with a `filename*` decoding to `name` and a
/// printable ASCII `filename` fallback; returns the parsed header.
#[track_caller]
pub fn assert_disposition_names(header: &str, name: &str) -> Disposition {
    let d = parse_disposition(header);
    assert_eq!(d.kind, "attachment", "Content-Disposition {header:?}");
    assert_eq!(
        d.filename_star.as_deref(),
        Some(name),
        "Content-Disposition {header:?}: filename* should decode to the file name"
    );
    let fallback = d
        .filename
        .as_deref()
        .unwrap_or_else(|| panic!("Content-Disposition {header:?}: no ASCII filename= fallback"));
    assert!(
        !fallback.is_empty() && fallback.chars().all(|c| (' '..='~').contains(&c)),
        "Content-Disposition {header:?}: filename= fallback should be non-empty printable ASCII, got {fallback:?}"
    );
    assert!(
        !fallback.contains('/') && !fallback.contains('\\'),
        "Content-Disposition {header:?}: filename= fallback must not contain path separators"
    );
    if name.is_ascii() && !name.contains('"') && !name.contains('\\') {
        assert_eq!(
            fallback, name,
            "Content-Disposition {header:?}: a plain ASCII name is its own fallback"
        );
    }
    d
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
#[track_caller]
pub fn parse_http_date(s: &str) -> chrono::DateTime<chrono::Utc> {
    assert!(s.ends_with(" GMT"), "HTTP date {s:?} should end with GMT");
    chrono::DateTime::parse_from_rfc2822(s)
        .unwrap_or_else(|e| panic!("{s:?} is not an HTTP date: {e}"))
        .with_timezone(&chrono::Utc)
}

/// Asserts the download headers of the contract for `file`, for a response carrying
/// `content_length` bytes.
#[track_caller]
pub fn assert_download_headers(dl: &Download, file: &Value, content_length: u64) {
    let sha = file["sha256"].as_str().expect("file.sha256");
    assert_eq!(
        dl.must_header("etag"),
        format!("\"{sha}\""),
        "{} {}: ETag should be the quoted sha256",
        dl.method,
        dl.url
    );
    assert_eq!(
        dl.must_header("accept-ranges"),
        "bytes",
        "{} {}: Accept-Ranges",
        dl.method,
        dl.url
    );
    assert_eq!(
        dl.must_header("content-length"),
        content_length.to_string(),
        "{} {}: Content-Length",
        dl.method,
        dl.url
    );
    assert_eq!(
        dl.must_header("content-type"),
        file["content_type"].as_str().expect("content_type"),
        "{} {}: Content-Type should be the file's content_type",
        dl.method,
        dl.url
    );
    let cache = dl.must_header("cache-control").to_ascii_lowercase();
    let directives: Vec<&str> = cache.split(',').map(str::trim).collect();
    assert!(
        directives.contains(&"private") && directives.contains(&"no-cache"),
        "{} {}: Cache-Control should be `private, no-cache`, got {cache:?}",
        dl.method,
        dl.url
    );
    let last_modified = parse_http_date(dl.must_header("last-modified"));
    let created = super::parse_ts(&file["created_at"]).with_timezone(&chrono::Utc);
    assert_eq!(
        last_modified.timestamp(),
        created.timestamp(),
        "{} {}: Last-Modified should be created_at ({created}) to the second",
        dl.method,
        dl.url
    );
    assert_disposition_names(
        dl.must_header("content-disposition"),
        file["name"].as_str().expect("file.name"),
    );
}

// ---------------------------------------------------------------------------------------------
// WebSocket helpers
// ---------------------------------------------------------------------------------------------

/// Reads frames until one satisfies `pred`; returns `(non-presence frames before, the match)`.
/// Each frame must arrive within `per_frame`.
pub async fn ws_until(
    ws: &mut WsClient,
    per_frame: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let v = ws.next_json_within(per_frame, what).await;
        if pred(&v) {
            return (before, v);
        }
        if !is_presence(&v) {
            before.push(v);
        }
    }
}

/// Predicate: an event of type `kind` whose `data[key] == value`.
pub fn event_is<'a>(kind: &'a str, key: &'a str, value: &'a Value) -> impl Fn(&Value) -> bool + 'a {
    move |f: &Value| f["type"] == kind && &f["data"][key] == value
}

/// Asserts an ephemeral event: envelope, type, `seq: null`, and that `data` holds exactly the
/// keys `keys`.
#[track_caller]
pub fn assert_ephemeral(frame: &Value, kind: &str, keys: &[&str]) {
    assert_event_envelope(frame);
    assert_eq!(frame["type"], kind, "event type: {frame}");
    assert_eq!(frame["seq"], Value::Null, "{kind} is ephemeral: {frame}");
    let mut got: Vec<&str> = frame["data"]
        .as_object()
        .expect("data object")
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{kind} data keys: {frame}");
}

/// Asserts a durable event: envelope, type, integer seq; returns the seq.
#[track_caller]
pub fn assert_durable(frame: &Value, kind: &str) -> i64 {
    assert_event_envelope(frame);
    assert_eq!(frame["type"], kind, "event type: {frame}");
    frame["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("{kind} is durable and must carry a seq: {frame}"))
}

/// `{"id": …, "username": "admin"}` — the actor of the bootstrap admin.
pub fn admin_actor(app: &TestApp) -> Value {
    json!({"id": app.admin_id, "username": "admin"})
}

// ---------------------------------------------------------------------------------------------
// Resumable uploads (tus 1.0.0)
// ---------------------------------------------------------------------------------------------

/// `Upload-Metadata` for `filename` plus extra `(key, value)` pairs, base64-encoded.
pub fn tus_metadata(filename: &str, extra: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    std::iter::once(format!("filename {}", b64(filename)))
        .chain(extra.iter().map(|(k, v)| format!("{k} {}", b64(v))))
        .collect::<Vec<_>>()
        .join(",")
}

impl TestApp {
    /// A tus request: `Tus-Resumable: 1.0.0` and the bearer token.
    pub fn tus(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.req(method, path)
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
    }

    /// `POST /api/uploads` as admin for `length` bytes named `filename`; panics unless 201 and
    /// returns the `Location`.
    pub async fn tus_create(&self, length: u64, filename: &str) -> String {
        let resp = self
            .send(
                self.tus(Method::POST, "/api/uploads", &self.admin_token)
                    .header("Upload-Length", length)
                    .header("Upload-Metadata", tus_metadata(filename, &[])),
            )
            .await;
        resp.expect_status(201);
        assert_eq!(resp.header("tus-resumable"), Some("1.0.0"), "{resp:?}");
        resp.header("location")
            .unwrap_or_else(|| panic!("201 without Location: {resp:?}"))
            .to_owned()
    }

    /// A tus PATCH of `body` at `offset` (with its `Content-Length`), as admin.
    pub fn tus_patch_request(&self, location: &str, offset: u64, body: Vec<u8>) -> RequestBuilder {
        self.tus(Method::PATCH, location, &self.admin_token)
            .header(CONTENT_TYPE, "application/offset+octet-stream")
            .header("Upload-Offset", offset)
            .body(body)
    }

    /// Sends [`TestApp::tus_patch_request`].
    pub async fn tus_patch(&self, location: &str, offset: u64, body: Vec<u8>) -> Resp {
        self.send(self.tus_patch_request(location, offset, body))
            .await
    }

    /// `HEAD {location}` as admin.
    pub async fn tus_head(&self, location: &str) -> Resp {
        self.send(self.tus(Method::HEAD, location, &self.admin_token))
            .await
    }

    /// The upload's `Upload-Offset` by HEAD; panics unless 200.
    pub async fn tus_offset(&self, location: &str) -> u64 {
        let resp = self.tus_head(location).await;
        resp.expect_status(200);
        resp.header("upload-offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("HEAD without a numeric Upload-Offset: {resp:?}"))
    }

    /// Keys of the stored part objects of unfinished resumable uploads (`uploads/**` in the
    /// store, local or S3).
    pub fn upload_part_files(&self) -> Vec<String> {
        self.env
            .store
            .list("uploads")
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// Waits (up to `within`) until no upload part object is stored; panics otherwise.
    pub async fn assert_no_upload_parts(&self, within: Duration, what: &str) {
        let empty = poll_until(within, || async { self.upload_part_files().is_empty() }).await;
        assert!(
            empty,
            "{what}: upload parts left after {within:?}: {:?}",
            self.upload_part_files()
        );
    }
}
