//! Hostile input: whatever a client sends, the answer is a JSON 4xx (docs/API.md §2 envelope) or a
//! clean close, never a 5xx or a crash, and afterwards `/healthz` is 200 and no data is lost.
//!
//! Covers oversize and deeply nested JSON, wrong content types, invalid UTF-8 and NUL bytes in
//! every string field, path and query, path traversal in every id and name (and what reaches
//! the disk), huge headers, slow-loris heads and bodies (with small timeouts passed as flags),
//! and WebSocket garbage, oversize frames and floods.
//!
//! Nothing sleeps to synchronise: the slow clients pace their own sends with an interval (that
//! is what is being tested) and every wait for the server is for a close or a frame, with a
//! deadline.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::files::{Multipart, files_under, sha256_hex};
use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

/// Longest any single hostile exchange may take before it counts as a hang.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Fixture, snapshot, survival
// ---------------------------------------------------------------------------------------------

/// Rows the hostile requests aim at (and must leave alone).
struct Fixture {
    user_id: String,
    file_id: String,
    link_token: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let user = app.create_user("hostile_target", "viewer").await;
    let file = app.upload_bytes("target.txt", b"precious bytes").await;
    let file_id = file["id"].as_str().expect("file id").to_owned();
    let link = app.create_link(&file_id, &json!({})).await;
    Fixture {
        user_id: user["id"].as_str().expect("user id").to_owned(),
        file_id,
        link_token: link["token"].as_str().expect("link token").to_owned(),
    }
}

/// What must not change: users, files and the fixture file's links (identity and versions).
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: Vec<Value>,
    files: Vec<Value>,
    links: Vec<Value>,
}

fn pick(list: &Value, keys: &[&str]) -> Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list without items: {list}"))
        .iter()
        .map(|item| {
            Value::Object(
                keys.iter()
                    .map(|k| ((*k).to_owned(), item[*k].clone()))
                    .collect(),
            )
        })
        .collect()
}

async fn snapshot(app: &TestApp, fx: &Fixture) -> Snapshot {
    let users = app
        .get("/api/users?per_page=200&sort=username", &app.admin_token)
        .await;
    users.expect_status(200);
    let files = app
        .get("/api/files?per_page=200&sort=name", &app.admin_token)
        .await;
    files.expect_status(200);
    let links = app
        .get(
            &format!("/api/files/{}/links", fx.file_id),
            &app.admin_token,
        )
        .await;
    links.expect_status(200);
    Snapshot {
        users: pick(
            &users.body,
            &[
                "id",
                "username",
                "email",
                "display_name",
                "role",
                "disabled",
                "version",
            ],
        ),
        files: pick(
            &files.body,
            &["id", "name", "size", "sha256", "version", "download_count"],
        ),
        links: pick(&links.body, &["token", "download_count", "max_downloads"]),
    }
}

/// The server is alive and well: `/healthz` 200 on a fresh connection, nothing changed since
/// `before`, the fixture file's bytes intact, and no panic, 5xx or internal error in its log.
async fn assert_survived(app: &TestApp, fx: &Fixture, before: &Snapshot, what: &str) {
    let health = app.get_anon("/healthz").await;
    assert_eq!(
        health.status.as_u16(),
        200,
        "{what}: /healthz afterwards: {}",
        health.text
    );
    let after = snapshot(app, fx).await;
    assert_eq!(&after, before, "{what}: data changed");
    let dl = app
        .download(
            Method::GET,
            &format!("/api/files/{}/download", fx.file_id),
            Some(&app.admin_token),
            &[("range", "bytes=0-3")],
        )
        .await;
    dl.expect_status(206);
    assert_eq!(dl.bytes, b"prec", "{what}: stored bytes changed");
    assert_clean_log(app, what);
}

#[track_caller]
fn assert_clean_log(app: &TestApp, what: &str) {
    for line in app.logs() {
        for bad in [
            "panicked",
            "request failed",
            "internal error",
            "server error",
        ] {
            assert!(
                !line.contains(bad),
                "{what}: the server logged {bad:?}: {line}"
            );
        }
    }
}

/// A JSON error envelope with a 4xx status.
#[track_caller]
fn assert_4xx(resp: &Resp, what: &str) {
    let status = resp.status.as_u16();
    assert!(
        (400..500).contains(&status),
        "{what}: expected a 4xx, got {} with body {}",
        resp.status,
        resp.text
    );
    if resp.method != Method::HEAD {
        assert_envelope(resp);
    }
}

/// Replaces the harness's pooling client with one that opens a connection per request: the
/// tests with a one-second header timeout would otherwise race the server closing the pooled,
/// idle keep-alive connection.
fn without_keep_alive(app: &mut TestApp) {
    app.client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build reqwest client");
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1
// ---------------------------------------------------------------------------------------------

/// What a raw exchange produced.
#[derive(Debug)]
struct Raw {
    /// The status of the response, if a response head arrived.
    status: Option<u16>,
    /// The whole response as text (lossy).
    text: String,
    /// The body parsed as JSON (`Null` if it is not).
    body: Value,
    /// The server closed the connection (EOF or reset) before the deadline.
    closed: bool,
}

impl Raw {
    /// As a [`Resp`], for the envelope assertions (panics without a response).
    #[track_caller]
    fn resp(&self, what: &str) -> Resp {
        let status = self
            .status
            .unwrap_or_else(|| panic!("{what}: no HTTP response: {self:?}"));
        let (head, body) = self.text.split_once("\r\n\r\n").unwrap_or((&self.text, ""));
        let mut headers = reqwest::header::HeaderMap::new();
        for line in head.split("\r\n").skip(1) {
            if let Some((k, v)) = line.split_once(':')
                && let (Ok(k), Ok(v)) = (
                    reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                    reqwest::header::HeaderValue::from_str(v.trim()),
                )
            {
                headers.append(k, v);
            }
        }
        Resp {
            method: Method::GET,
            url: what.to_owned(),
            status: reqwest::StatusCode::from_u16(status).expect("status"),
            headers,
            text: body.to_owned(),
            body: self.body.clone(),
        }
    }
}

/// Sends `request` (written on its own task, so an early answer is seen even if the server
/// stops reading) and reads until the server closes the connection or `within` passes.
async fn raw_exchange(app: &TestApp, request: Vec<u8>, within: Duration) -> Raw {
    let stream = TcpStream::connect(app.addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", app.addr));
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + within;
    let closed = loop {
        match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
        }
    };
    writer.abort();
    parse_raw(&raw, closed)
}

fn parse_raw(raw: &[u8], closed: bool) -> Raw {
    let text = String::from_utf8_lossy(raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    Raw {
        status,
        text,
        body,
        closed,
    }
}

/// `METHOD target HTTP/1.1` with `Connection: close`, the admin's token and `extra` header
/// lines, and `body` with its `Content-Length` (when not empty).
fn raw_request(
    app: &TestApp,
    method: &str,
    target: &[u8],
    extra: &[&[u8]],
    body: &[u8],
) -> Vec<u8> {
    let mut req = Vec::new();
    req.extend_from_slice(method.as_bytes());
    req.push(b' ');
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    req.extend_from_slice(format!("Authorization: Bearer {}\r\n", app.admin_token).as_bytes());
    for line in extra {
        req.extend_from_slice(line);
        req.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PATCH") {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    req
}

/// Reads from `stream` until the server closes it (true) or `within` passes (false); the bytes
/// read are returned too.
async fn wait_closed(stream: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (false, got),
            Ok(Ok(0)) | Ok(Err(_)) => return (true, got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON operations
// ---------------------------------------------------------------------------------------------

/// Every operation that takes a JSON body, with a valid body for it.
fn json_operations(fx: &Fixture) -> Vec<(Method, String, Value)> {
    vec![
        (
            Method::POST,
            "/api/users".to_owned(),
            json!({"username": "newcomer", "email": "newcomer@example.com",
                   "display_name": "New", "password": USER_PASSWORD, "role": "viewer"}),
        ),
        (
            Method::PATCH,
            format!("/api/users/{}", fx.user_id),
            json!({"username": "renamed", "email": "renamed@example.com",
                   "display_name": "Renamed", "password": "another-password", "role": "admin"}),
        ),
        (
            Method::POST,
            "/api/auth/login".to_owned(),
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        ),
        (
            Method::POST,
            "/api/auth/refresh".to_owned(),
            json!({"refresh_token": "x.y"}),
        ),
        (
            Method::POST,
            "/api/auth/logout".to_owned(),
            json!({"refresh_token": "x.y"}),
        ),
        (
            Method::POST,
            "/api/auth/password".to_owned(),
            json!({"current_password": ADMIN_PASSWORD, "new_password": "brand-new-password"}),
        ),
        (
            Method::PATCH,
            format!("/api/files/{}", fx.file_id),
            json!({"name": "renamed.txt"}),
        ),
        (
            Method::POST,
            format!("/api/files/{}/links", fx.file_id),
            json!({"max_downloads": 3}),
        ),
        (
            Method::POST,
            "/api/files/import".to_owned(),
            json!({"url": "http://example.com/x", "name": "x.txt"}),
        ),
    ]
}

/// Sends `body` as `application/json` with the admin's token.
async fn send_json_bytes(app: &TestApp, method: &Method, path: &str, body: Vec<u8>) -> Resp {
    app.send(
        app.req(method.clone(), path)
            .bearer_auth(&app.admin_token)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Oversize, nested, wrong content types
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oversize_bodies_are_413() {
    let app = TestApp::spawn_with(&["--max-upload-bytes", "65536"], &[]).await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    // 2 MiB (the JSON limit is 1 MiB), declared and chunked, to every JSON operation.
    let big = format!("{{\"username\": \"{}\"}}", "a".repeat(2 << 20));
    for (method, path, _) in json_operations(&fx) {
        let what = format!("{method} {path}, 2 MiB with Content-Length");
        let req = raw_request(
            &app,
            method.as_str(),
            path.as_bytes(),
            &[b"Content-Type: application/json"],
            big.as_bytes(),
        );
        let out = raw_exchange(&app, req, EXCHANGE_DEADLINE).await;
        assert_error(&out.resp(&what), 413, "payload_too_large");

        let what = format!("{method} {path}, 2 MiB chunked");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            app.admin_token
        )
        .into_bytes();
        for chunk in big.as_bytes().chunks(64 * 1024) {
            req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            req.extend_from_slice(chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let out = raw_exchange(&app, req, EXCHANGE_DEADLINE).await;
        assert_error(&out.resp(&what), 413, "payload_too_large");
    }

    // An upload over --max-upload-bytes, declared and chunked: 413 and nothing kept.
    for with_length in [true, false] {
        let form = Multipart::new().file_generated("big.bin", None, 3, 1 << 20);
        let out = app.raw_upload(&app.admin_token, form, with_length).await;
        let resp = out.resp.as_ref().unwrap_or_else(|| {
            panic!(
                "no response to an oversize upload: write {:?}, read {:?}",
                out.write_error, out.read_error
            )
        });
        assert_error(resp, 413, "payload_too_large");
    }
    app.assert_tmp_empty(Duration::from_secs(5), "after oversize uploads")
        .await;
    assert_survived(&app, &fx, &before, "oversize bodies").await;
}

#[tokio::test]
async fn deeply_nested_json_is_400() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    let depth = 100_000;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("100k unclosed [", "[".repeat(depth).into_bytes()),
        (
            "100k balanced []",
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        ),
        (
            "100k nested objects",
            format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes(),
        ),
        (
            "nesting inside a field",
            format!(
                "{{\"username\": {}{}, \"password\": \"x\"}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
        ),
    ];
    for (method, path, _) in json_operations(&fx) {
        for (what, body) in &bodies {
            let resp = send_json_bytes(&app, &method, &path, body.clone()).await;
            assert_error(&resp, 400, "bad_request");
            assert!(
                !resp.text.is_empty(),
                "{method} {path} with {what}: empty body"
            );
        }
    }
    assert_survived(&app, &fx, &before, "deeply nested JSON").await;
}

#[tokio::test]
async fn wrong_content_types_are_415_or_400() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    for (method, path, body) in json_operations(&fx) {
        let json_bytes = body.to_string().into_bytes();
        for ct in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/octet-stream",
            "image/png",
            "json",
            ";;;",
        ] {
            let resp = app
                .send(
                    app.req(method.clone(), &path)
                        .bearer_auth(&app.admin_token)
                        .header("content-type", ct)
                        .body(json_bytes.clone()),
                )
                .await;
            assert_error(&resp, 415, "unsupported_media_type");
        }
        // No Content-Type at all, and one that is not even a valid header string.
        let resp = app
            .send(
                app.req(method.clone(), &path)
                    .bearer_auth(&app.admin_token)
                    .body(json_bytes.clone()),
            )
            .await;
        assert_error(&resp, 415, "unsupported_media_type");
        let req = raw_request(
            &app,
            method.as_str(),
            path.as_bytes(),
            &[b"Content-Type: application/\xff\xfejson"],
            &json_bytes,
        );
        let out = raw_exchange(&app, req, EXCHANGE_DEADLINE).await;
        let resp = out.resp(&format!("{method} {path} with a binary Content-Type"));
        assert_error(&resp, 415, "unsupported_media_type");
    }

    // Uploads: JSON or a form without a boundary or with a broken body.
    let upload = |ct: &'static str, body: &'static [u8]| {
        app.req(Method::POST, "/api/files")
            .bearer_auth(&app.admin_token)
            .header("content-type", ct)
            .body(body)
    };
    let resp = app.send(upload("application/json", b"{}")).await;
    assert_error(&resp, 415, "unsupported_media_type");
    let resp = app.send(upload("text/plain", b"hello")).await;
    assert_error(&resp, 415, "unsupported_media_type");
    let resp = app.send(upload("multipart/form-data", b"hello")).await;
    assert_error(&resp, 400, "bad_request");
    for body in [
        &b""[..],
        b"garbage",
        b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nno end",
        b"--xyz\r\n\r\n\r\n--xyz--\r\n",
        b"--xyz--\r\n",
    ] {
        let resp = app
            .send(upload("multipart/form-data; boundary=xyz", body))
            .await;
        assert_4xx(
            &resp,
            &format!("multipart body {:?}", String::from_utf8_lossy(body)),
        );
    }
    app.assert_tmp_empty(Duration::from_secs(5), "after broken uploads")
        .await;
    assert_survived(&app, &fx, &before, "wrong content types").await;
}

// ---------------------------------------------------------------------------------------------
// Invalid UTF-8 and NUL
// ---------------------------------------------------------------------------------------------

/// Every GET (and friends) that names a resource, with `{}` for the id or token.
const ID_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/users/{}"),
    ("PATCH", "/api/users/{}"),
    ("DELETE", "/api/users/{}"),
    ("GET", "/api/files/{}"),
    ("PATCH", "/api/files/{}"),
    ("DELETE", "/api/files/{}"),
    ("GET", "/api/files/{}/download"),
    ("HEAD", "/api/files/{}/download"),
    ("POST", "/api/files/{}/download-url"),
    ("GET", "/api/files/{}/links"),
    ("POST", "/api/files/{}/links"),
    ("DELETE", "/api/links/{}"),
    ("GET", "/d/{}"),
    ("HEAD", "/d/{}"),
    ("GET", "/api/d/{}"),
    ("GET", "/api/downloads/{}"),
    ("GET", "/api/tasks/{}"),
    ("DELETE", "/api/tasks/{}"),
];

/// A JSON body for the routes that need one (they must fail on the id, not the body).
fn body_for(method: &str, route: &str) -> &'static [u8] {
    match (method, route) {
        ("PATCH", r) if r.starts_with("/api/users") => b"{\"display_name\": \"x\"}",
        ("PATCH", _) => b"{\"name\": \"x.txt\"}",
        ("POST", r) if r.ends_with("/links") => b"{}",
        _ => b"",
    }
}

/// Sends every id route with `id` (raw bytes, as they go on the wire) and asserts a JSON 4xx
/// that leaks nothing.
async fn assert_id_routes_refuse(app: &TestApp, id: &[u8], secret: &str) {
    for (method, route) in ID_ROUTES {
        let (pre, post) = route.split_once("{}").expect("route has {}");
        let target = [pre.as_bytes(), id, post.as_bytes()].concat();
        let body = body_for(method, route);
        let extra: &[&[u8]] = if body.is_empty() {
            &[]
        } else {
            &[b"Content-Type: application/json"]
        };
        let what = format!("{method} {}", String::from_utf8_lossy(&target));
        let out = raw_exchange(
            app,
            raw_request(app, method, &target, extra, body),
            EXCHANGE_DEADLINE,
        )
        .await;
        let status = out
            .status
            .unwrap_or_else(|| panic!("{what}: no response: {out:?}"));
        assert!(
            (400..500).contains(&status),
            "{what}: expected a 4xx: {}",
            out.text
        );
        if *method != "HEAD" {
            assert_envelope(&out.resp(&what));
        }
        assert!(
            !out.text.contains("root:") && !out.text.contains(secret),
            "{what}: the response leaks a file: {}",
            out.text
        );
    }
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    // In JSON bodies: inside strings, as a whole string, in a key.
    for (method, path, valid) in json_operations(&fx) {
        let text = valid.to_string();
        let mut broken: Vec<Vec<u8>> = vec![
            // A key that is not UTF-8.
            [b"{\"", &b"\xc3\x28"[..], b"\": 1}"].concat(),
            // A UTF-16 surrogate encoded in UTF-8 in an extra string.
            [
                &text.as_bytes()[..text.len() - 1],
                &b", \"x\": \"\xed\xa0\x80\"}"[..],
            ]
            .concat(),
            // UTF-16LE.
            b"\xff\xfe{\x00}\x00".to_vec(),
        ];
        // A stray byte inside the first string value.
        if let Some(at) = text.find("\":\"") {
            let mut bytes = text.clone().into_bytes();
            bytes.insert(at + 3, 0xff);
            broken.push(bytes);
        }
        for body in broken {
            let resp = send_json_bytes(&app, &method, &path, body.clone()).await;
            assert_4xx(&resp, &format!("{method} {path} with {body:?}"));
        }
    }

    // Percent-encoded in queries and paths: 400 with the envelope.
    for path in [
        "/api/users?q=%ff%fe",
        "/api/users?q=%c3%28",
        "/api/users?sort=%80",
        "/api/users?role=%ed%a0%80",
        "/api/files?q=%ff",
        "/api/events?type=%ff",
        "/api/events?actor=%c0%af",
        "/api/users/%ff%fe",
        "/api/files/%c3%28",
        "/%ff",
        "/assets/%ff.js",
    ] {
        let resp = app.get(path, &app.admin_token).await;
        assert_error(&resp, 400, "bad_request");
    }
    assert_id_routes_refuse(&app, b"%ff%fe", "no-secret-here").await;

    // Raw (not percent-encoded) bytes in the request target are not HTTP at all: hyper answers
    // 400 itself, before any route, and closes the connection.
    for target in [
        &b"/api/users?q=\xff\xfe"[..],
        b"/api/users/\xc3\x28",
        b"/\xff",
    ] {
        let out = raw_exchange(
            &app,
            raw_request(&app, "GET", target, &[], b""),
            EXCHANGE_DEADLINE,
        )
        .await;
        assert_eq!(out.status, Some(400), "raw target {target:?}: {out:?}");
        assert!(out.closed, "raw target {target:?}: connection left open");
    }

    // In header values the server reads.
    let headers: &[(&str, &str, &[u8])] = &[
        ("GET", "/api/users/{user}", b"If-None-Match: \"\xff\""),
        ("PATCH", "/api/users/{user}", b"If-Match: \"\xff\xfe\""),
        (
            "GET",
            "/api/files/{file}/download",
            b"Range: bytes=\xff-\xfe",
        ),
        (
            "GET",
            "/api/files/{file}/download",
            b"If-Range: \"\xc3\x28\"",
        ),
        (
            "GET",
            "/api/files/{file}/download",
            b"If-Modified-Since: \xff",
        ),
    ];
    for (method, route, header) in headers {
        let path = route
            .replace("{user}", &fx.user_id)
            .replace("{file}", &fx.file_id);
        let body = if *method == "PATCH" {
            &b"{\"display_name\": \"x\"}"[..]
        } else {
            b""
        };
        let mut extra = vec![*header];
        if !body.is_empty() {
            extra.push(b"Content-Type: application/json");
        }
        let what = format!("{method} {path} with {:?}", String::from_utf8_lossy(header));
        let out = raw_exchange(
            &app,
            raw_request(&app, method, path.as_bytes(), &extra, body),
            EXCHANGE_DEADLINE,
        )
        .await;
        // Not ignored (a PATCH would then apply unconditionally): refused.
        assert_error(&out.resp(&what), 400, "bad_request");
    }
    assert_survived(&app, &fx, &before, "invalid UTF-8").await;
}

#[tokio::test]
async fn nul_bytes_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;

    // The multipart `name` field is sanitised, not refused: control characters are dropped.
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new()
                .text("name", "evil\u{0}name.txt")
                .file("x.txt", None, &b"n"[..]),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(resp.body["name"], "evilname.txt", "{}", resp.text);
    let id = resp.body["id"].as_str().expect("id").to_owned();
    app.object_key(&id);
    app.delete(&format!("/api/files/{id}"), &app.admin_token)
        .await
        .expect_status(204);
    // A NUL in a part's headers (its filename, its field name) is a malformed form.
    for form in [
        Multipart::new().file("nul\u{0}.txt", None, &b"f"[..]),
        Multipart::new()
            .text("na\u{0}me", "x.txt")
            .file("x.txt", None, &b"f"[..]),
    ] {
        let resp = app.upload(&app.admin_token, form).await;
        assert_error(&resp, 400, "bad_request");
    }
    app.assert_tmp_empty(Duration::from_secs(5), "after NUL uploads")
        .await;
    // A name that is nothing but NULs is no name.
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new()
                .text("name", "\u{0}\u{0}")
                .file("x.txt", None, &b"z"[..]),
        )
        .await;
    assert_fields(&resp, &["name"]);
    let before = snapshot(&app, &fx).await;

    // Every string field of every JSON body.
    for (method, path, valid) in json_operations(&fx) {
        let fields: Vec<String> = valid
            .as_object()
            .expect("object body")
            .iter()
            .filter(|(_, v)| v.is_string())
            .map(|(k, _)| k.clone())
            .collect();
        for field in fields {
            for value in ["\u{0}", "ab\u{0}cd", "admin\u{0}"] {
                let mut body = valid.clone();
                body[&field] = json!(value);
                let resp = app
                    .send(
                        app.req(method.clone(), &path)
                            .bearer_auth(&app.admin_token)
                            .json(&body),
                    )
                    .await;
                assert_4xx(&resp, &format!("{method} {path} with a NUL in {field}"));
            }
        }
    }
    // Logins without a token too (the login throttle must not count them as failures).
    for body in [
        json!({"username": "adm\u{0}in", "password": ADMIN_PASSWORD}),
        json!({"username": "\u{0}", "password": "\u{0}"}),
    ] {
        let resp = app.post_anon("/api/auth/login", &body).await;
        assert_4xx(&resp, "login with a NUL");
    }

    // Search terms and filters.
    for path in [
        "/api/users?q=a%00b",
        "/api/users?q=%00",
        "/api/users?role=admin%00",
        "/api/users?sort=username%00",
        "/api/files?q=%00",
        "/api/files?sort=name%00",
        "/api/events?type=user.created%00",
        "/api/events?actor=%00",
        "/api/tasks?page=1%00",
        "/%00",
    ] {
        let resp = app.get(path, &app.admin_token).await;
        assert_4xx(&resp, path);
    }
    // Ids and tokens in paths.
    for id in [&b"%00"[..], b"a%00b", b"%00%00%00"] {
        assert_id_routes_refuse(&app, id, "no-secret-here").await;
    }
    // The real ids with a NUL appended must not find the real rows.
    for path in [
        format!("/api/users/{}%00", fx.user_id),
        format!("/api/files/{}%00", fx.file_id),
        format!("/d/{}%00", fx.link_token),
    ] {
        let resp = app.get(&path, &app.admin_token).await;
        assert_4xx(&resp, &path);
    }
    // The WebSocket's auth token.
    let mut ws = WsClient::connect(app.addr, "nul token").await;
    ws.send_json(&json!({"type": "auth", "token": format!("{}\u{0}", app.admin_token)}))
        .await;
    ws.expect_close(4401, WS_TIMEOUT).await;

    assert_survived(&app, &fx, &before, "NUL bytes").await;
    // Still usable with the real credentials.
    app.login("admin", ADMIN_PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// Path traversal
// ---------------------------------------------------------------------------------------------

/// Every regular file under `dir` that is not where the store keeps things: the database, the
/// JWT secret, `objects/<2 chars>/<a known file id>` (and nothing under `tmp/`).
fn unexpected_files(data_dir: &Path, known_ids: &[String]) -> Vec<PathBuf> {
    files_under(data_dir)
        .into_iter()
        .filter(|path| {
            let rel = path.strip_prefix(data_dir).expect("under the data dir");
            let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
            let expected = match parts.as_slice() {
                // The server's lock on the data dir (a restore refuses while it is held).
                ["jwt_secret"] | ["switchboard.lock"] => true,
                [db] => db.starts_with("switchboard.db"),
                ["objects", shard, id] => {
                    shard.len() == 2
                        && id.ends_with(*shard)
                        && known_ids.iter().any(|k| k.as_str() == *id)
                }
                _ => false,
            };
            !expected
        })
        .collect()
}

#[tokio::test]
async fn path_traversal_never_escapes() {
    let app = TestApp::spawn_with(&["--import-allow-private"], &[]).await;
    let fx = fixture(&app).await;
    let secret = std::fs::read_to_string(app.data_path().join("jwt_secret"))
        .expect("read the JWT secret")
        .trim()
        .to_owned();
    let marker = format!("hostile-{}", uuid::Uuid::new_v4().simple());
    let outside = app
        .data_path()
        .parent()
        .expect("data dir has a parent")
        .to_path_buf();

    // File names: multipart filenames, the `name` field, PATCH and import names. Each is stored
    // as its last path component; the object is keyed by the file's id.
    let names = [
        format!("../../../../../../../../tmp/{marker}.txt"),
        format!("..\\..\\..\\..\\{marker}.txt"),
        format!("/etc/{marker}"),
        format!("objects/../../{marker}"),
        format!("%2e%2e%2f%2e%2e%2f{marker}"),
        format!("....//....//{marker}"),
        format!("C:\\..\\..\\{marker}.txt"),
        format!("./.././{marker}"),
    ];
    let mut ids = vec![fx.file_id.clone()];
    let check_name = |file: &Value, what: &str| {
        let name = file["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no name: {file}"));
        assert!(
            !name.contains('/') && !name.contains('\\') && !name.starts_with('.'),
            "{what}: stored name {name:?} keeps a path"
        );
        assert!(name.contains(&marker), "{what}: stored name {name:?}");
    };
    for name in &names {
        for form in [
            Multipart::new().file(name, None, &b"t"[..]),
            Multipart::new()
                .text("name", name)
                .file("x.txt", None, &b"t"[..]),
        ] {
            let resp = app.upload(&app.admin_token, form).await;
            resp.expect_status(201);
            check_name(&resp.body, &format!("upload named {name:?}"));
            let id = resp.body["id"].as_str().expect("id").to_owned();
            app.object_key(&id);
            ids.push(id);
        }
        let resp = app
            .patch(
                &format!("/api/files/{}", fx.file_id),
                &app.admin_token,
                &json!({"name": name}),
            )
            .await;
        resp.expect_status(200);
        check_name(&resp.body, &format!("PATCH name {name:?}"));
    }
    // Names with nothing left after the last separator are refused.
    for name in ["../", "..", "/", "..\\", "./"] {
        let resp = app
            .upload(
                &app.admin_token,
                Multipart::new()
                    .text("name", name)
                    .file("x.txt", None, &b"t"[..]),
            )
            .await;
        assert_fields(&resp, &["name"]);
        let resp = app
            .patch(
                &format!("/api/files/{}", fx.file_id),
                &app.admin_token,
                &json!({"name": name}),
            )
            .await;
        assert_fields(&resp, &["name"]);
    }
    // An import (from this server itself) with a traversal name.
    let resp = app
        .post(
            "/api/files/import",
            &app.admin_token,
            &json!({"url": app.url("/healthz"), "name": format!("../../../{marker}.json")}),
        )
        .await;
    resp.expect_status(202);
    let task_id = resp.body["task_id"].as_str().expect("task_id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let task = loop {
        let resp = app
            .get(&format!("/api/tasks/{task_id}"), &app.admin_token)
            .await;
        resp.expect_status(200);
        if matches!(
            resp.body["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            break resp.body;
        }
        assert!(
            Instant::now() < deadline,
            "import did not finish: {}",
            resp.text
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(task["status"], "completed", "{task}");
    let imported_id = task["file_id"].as_str().expect("file_id").to_owned();
    check_name(&app.get_file(&imported_id).await, "import name");
    app.object_key(&imported_id);
    ids.push(imported_id);

    // Nothing was written outside objects/ (and tmp/ is empty), nothing next to the data dir.
    app.assert_tmp_empty(Duration::from_secs(5), "after traversal names")
        .await;
    let stray = unexpected_files(app.data_path(), &ids);
    assert!(
        stray.is_empty(),
        "files outside the store's layout: {stray:?}"
    );
    for dir in [
        outside.clone(),
        PathBuf::from("/tmp"),
        PathBuf::from("/etc"),
    ] {
        let found: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().contains(&marker))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        assert!(found.is_empty(), "written outside the data dir: {found:?}");
    }

    let before = snapshot(&app, &fx).await;
    // Ids and tokens: raw `..` segments (the client must not normalise them), encoded dots and
    // slashes, backslashes, double encoding.
    for id in [
        &b"../../etc/passwd"[..],
        b"../../jwt_secret",
        b"..%2f..%2fetc%2fpasswd",
        b"%2e%2e%2f%2e%2e%2fjwt_secret",
        b"%2e%2e/%2e%2e/jwt_secret",
        b"..%5c..%5cjwt_secret",
        b"%252e%252e%252fjwt_secret",
        b"....//....//etc/passwd",
        b"..",
        b"%2e%2e",
        b".%2e/objects",
        b"objects%2f..%2f..%2fjwt_secret",
        b"%2fetc%2fpasswd",
    ] {
        assert_id_routes_refuse(&app, id, &secret).await;
        // With a real id in front, too.
        let prefixed = [fx.file_id.as_bytes(), b"/", id].concat();
        assert_id_routes_refuse(&app, &prefixed, &secret).await;
    }
    // The panel's catch-all serves embedded files or index.html, never the disk.
    for target in [
        &b"/../../jwt_secret"[..],
        b"/..%2f..%2fjwt_secret",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/assets/..%2f..%2fjwt_secret",
        b"/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        b"/assets/../../../etc/passwd",
        b"/..%5c..%5cjwt_secret",
        b"/%252e%252e/jwt_secret",
    ] {
        let what = String::from_utf8_lossy(target).into_owned();
        let out = raw_exchange(
            &app,
            raw_request(&app, "GET", target, &[], b""),
            EXCHANGE_DEADLINE,
        )
        .await;
        let status = out.status.unwrap_or_else(|| panic!("{what}: no response"));
        assert!(
            status == 200 && out.text.contains("<!doctype html>") || (400..500).contains(&status),
            "{what}: expected index.html or a 4xx: {}",
            out.text
        );
        if status >= 400 {
            assert_envelope(&out.resp(&what));
        }
        assert!(
            !out.text.contains("root:") && !out.text.contains(&secret),
            "{what}: the response leaks a file"
        );
    }
    assert_survived(&app, &fx, &before, "path traversal").await;
}

// ---------------------------------------------------------------------------------------------
// Huge headers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn huge_or_malformed_heads_get_4xx_or_a_close() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    let mib_header = [b"X-Big: ".as_slice(), &vec![b'a'; 1 << 20]].concat();
    let many: Vec<Vec<u8>> = (0..5000)
        .map(|i| format!("X-H{i}: v").into_bytes())
        .collect();
    let just_over: Vec<Vec<u8>> = (0..120)
        .map(|i| format!("X-H{i}: v").into_bytes())
        .collect();
    let long_target = [b"/api/users?q=".as_slice(), &vec![b'a'; 1 << 20]].concat();
    let cookie = [b"Cookie: ".as_slice(), &vec![b'c'; 512 * 1024]].concat();
    type Case<'a> = (&'a str, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "a 1 MiB header",
            raw_request(&app, "GET", b"/healthz", &[&mib_header], b""),
        ),
        (
            "5000 headers",
            raw_request(
                &app,
                "GET",
                b"/healthz",
                &many.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                b"",
            ),
        ),
        (
            "120 headers",
            raw_request(
                &app,
                "GET",
                b"/api/users",
                &just_over.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                b"",
            ),
        ),
        (
            "a 1 MiB request target",
            raw_request(&app, "GET", &long_target, &[], b""),
        ),
        (
            "a 512 KiB cookie",
            raw_request(&app, "GET", b"/api/users", &[&cookie], b""),
        ),
        (
            "Content-Length and chunked (smuggling)",
            raw_request(
                &app,
                "POST",
                b"/api/users",
                &[
                    b"Transfer-Encoding: chunked",
                    b"Content-Type: application/json",
                ],
                b"0\r\n\r\n",
            ),
        ),
        (
            "two Content-Lengths",
            raw_request(
                &app,
                "POST",
                b"/api/auth/login",
                &[b"Content-Length: 5", b"Content-Type: application/json"],
                b"{}",
            ),
        ),
        (
            "a header without a colon",
            raw_request(&app, "GET", b"/healthz", &[b"NoColonHere"], b""),
        ),
        (
            "a NUL in a header value",
            raw_request(&app, "GET", b"/healthz", &[b"X-Nul: a\x00b"], b""),
        ),
        (
            "not HTTP at all",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
        ),
        ("HTTP/0.9", b"GET /healthz\r\n\r\n".to_vec()),
        (
            "a bogus version",
            b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "a bogus method",
            b"G\x01T /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
    ];
    for (what, request) in cases {
        let out = raw_exchange(&app, request, EXCHANGE_DEADLINE).await;
        assert!(
            out.closed,
            "{what}: the connection was neither answered nor closed within {EXCHANGE_DEADLINE:?}"
        );
        if let Some(status) = out.status {
            assert!(
                (400..500).contains(&status),
                "{what}: expected 4xx (431, 414, 400) or a close, got {}",
                out.text.lines().next().unwrap_or_default()
            );
        }
    }
    assert_survived(&app, &fx, &before, "huge heads").await;
}

// ---------------------------------------------------------------------------------------------
// Slow loris
// ---------------------------------------------------------------------------------------------

/// The header and body timeouts these tests run with (small, so each test is quick).
const SHORT_TIMEOUT_SECS: u64 = 1;
const SHORT: Duration = Duration::from_secs(SHORT_TIMEOUT_SECS);

async fn spawn_with_short_timeouts() -> TestApp {
    let secs = SHORT_TIMEOUT_SECS.to_string();
    let args = [
        "--header-read-timeout-secs",
        secs.as_str(),
        "--body-idle-timeout-secs",
        secs.as_str(),
    ];
    let mut app = TestApp::spawn_with(&args, &[]).await;
    without_keep_alive(&mut app);
    app
}

/// Sends `head` and then `trickle` one byte per `every`, until the server closes the
/// connection; returns how long that took and what the server sent. Panics if the connection
/// is still open after `within`.
async fn trickle_until_closed(
    app: &TestApp,
    head: &[u8],
    trickle: &[u8],
    every: Duration,
    within: Duration,
) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let stream = TcpStream::connect(app.addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(head).await.expect("send the head");
    let trickle = trickle.to_vec();
    let writer = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        for byte in trickle.iter().cycle() {
            ticks.tick().await;
            if wr.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    };
    writer.abort();
    assert!(
        closed,
        "a trickling client was not cut off within {within:?}; got {:?}",
        String::from_utf8_lossy(&got)
    );
    (started.elapsed(), got)
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    let app = spawn_with_short_timeouts().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let within = Duration::from_secs(10);

    // A head sent one byte every 300 ms never completes in time: closed, without a response.
    let (took, got) = trickle_until_closed(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"X-Slow: still coming\r\n",
        Duration::from_millis(300),
        within,
    )
    .await;
    assert!(
        took >= SHORT - Duration::from_millis(100),
        "closed too early: {took:?}"
    );
    assert!(
        got.is_empty(),
        "a response to an incomplete head: {:?}",
        String::from_utf8_lossy(&got)
    );
    // Even the very first bytes: the request line itself trickles.
    let (took, _) = trickle_until_closed(
        &app,
        b"",
        b"GET /api/users HTTP/1.1\r\n",
        Duration::from_millis(300),
        within,
    )
    .await;
    assert!(
        took >= SHORT - Duration::from_millis(100),
        "closed too early: {took:?}"
    );

    // A connection that sends nothing at all.
    let started = Instant::now();
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    let (closed, got) = wait_closed(&mut silent, within).await;
    assert!(
        closed,
        "a silent connection was not closed within {within:?}"
    );
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(started.elapsed() >= SHORT - Duration::from_millis(100));

    // An idle keep-alive connection after a complete request.
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let (closed, got) = wait_closed(&mut idle, within).await;
    assert!(
        closed,
        "an idle keep-alive connection was not closed within {within:?}"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the request itself was answered: {text}"
    );

    // Many slow clients at once do not keep others out.
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let app = &app;
            async move {
                trickle_until_closed(
                    app,
                    b"POST /api/auth/login HTTP/1.1\r\n",
                    b"H",
                    Duration::from_millis(200),
                    within,
                )
                .await
            }
        })
        .collect();
    let check = async {
        for _ in 0..5 {
            let resp = app.get("/api/users", &app.admin_token).await;
            resp.expect_status(200);
        }
    };
    let (_, ()) = tokio::join!(futures_util::future::join_all(slow), check);
    assert_survived(&app, &fx, &before, "slow heads").await;
}

#[tokio::test]
async fn stalled_request_bodies_get_408() {
    let app = spawn_with_short_timeouts().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let within = Duration::from_secs(10);

    let user_json = br#"{"username": "slowpoke", "email": "slow@example.com", "password": "password-123", "role": "viewer"}"#;
    let head = |extra: &str| {
        format!(
            "POST /api/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\n{extra}\r\n",
            app.admin_token
        )
        .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "a body that stops half way",
            [
                head(&format!("Content-Length: {}\r\n", user_json.len())),
                user_json[..20].to_vec(),
            ]
            .concat(),
            Vec::new(),
        ),
        (
            "a chunked body that stops",
            [
                head("Transfer-Encoding: chunked\r\n"),
                format!("14\r\n{}\r\n", String::from_utf8_lossy(&user_json[..20])).into_bytes(),
            ]
            .concat(),
            Vec::new(),
        ),
        (
            "a body sent one byte every 1.5 s",
            head(&format!("Content-Length: {}\r\n", user_json.len())),
            user_json.to_vec(),
        ),
    ];
    for (what, first, trickle) in cases {
        let (took, got) = if trickle.is_empty() {
            let started = Instant::now();
            let mut stream = TcpStream::connect(app.addr).await.expect("connect");
            stream.write_all(&first).await.expect("send");
            let (closed, got) = wait_closed(&mut stream, within).await;
            assert!(closed, "{what}: not closed within {within:?}");
            (started.elapsed(), got)
        } else {
            trickle_until_closed(&app, &first, &trickle, SHORT + SHORT / 2, within).await
        };
        assert!(
            took >= SHORT - Duration::from_millis(100),
            "{what}: closed too early: {took:?}"
        );
        let out = parse_raw(&got, true);
        let resp = out.resp(what);
        assert_error(&resp, 408, "request_timeout");
        assert_eq!(resp.header("connection"), Some("close"), "{what}");
    }

    // An upload that stalls: 408, nothing kept.
    let form = Multipart::new().file_generated("stalled.bin", None, 5, 256 * 1024);
    let len = form.len();
    let started = Instant::now();
    let resp = app
        .send(
            app.req(Method::POST, "/api/files")
                .bearer_auth(&app.admin_token)
                .header("content-type", form.content_type())
                .header("content-length", len)
                .body(reqwest::Body::wrap_stream(
                    form.into_stalling_stream(100 * 1024),
                )),
        )
        .await;
    assert_error(&resp, 408, "request_timeout");
    assert!(
        started.elapsed() < within,
        "the stalled upload took {:?}",
        started.elapsed()
    );
    app.assert_tmp_empty(Duration::from_secs(5), "after a stalled upload")
        .await;
    let users = app.get("/api/users?q=slowpoke", &app.admin_token).await;
    assert_eq!(
        users.body["total"], 0,
        "a timed-out request created a user: {}",
        users.text
    );
    let files = app.list_files("?q=stalled").await;
    assert_eq!(
        files["total"], 0,
        "a timed-out upload created a file: {files}"
    );
    assert_survived(&app, &fx, &before, "stalled bodies").await;
}

#[tokio::test]
async fn slow_but_steady_bodies_still_work() {
    let app = spawn_with_short_timeouts().await;
    let started = Instant::now();

    // An upload trickling in 4 KiB every 200 ms takes well over the 1 s idle timeout in all.
    let content = common::files::gen_bytes(11, 64 * 1024);
    let form = Multipart::new().file("steady.bin", None, Bytes::from(content.clone()));
    let len = form.len();
    let content_type = form.content_type();
    let whole: Vec<u8> = form
        .into_stream()
        .map(|chunk| chunk.expect("generated chunk").to_vec())
        .concat()
        .await;
    assert_eq!(whole.len() as u64, len);
    let paced = |bytes: Vec<u8>, size: usize| {
        let chunks: Vec<Bytes> = bytes.chunks(size).map(Bytes::copy_from_slice).collect();
        futures_util::stream::unfold(
            (
                chunks.into_iter(),
                tokio::time::interval(Duration::from_millis(200)),
            ),
            |(mut chunks, mut ticks)| async move {
                ticks.tick().await;
                let chunk = chunks.next()?;
                Some((Ok::<_, std::io::Error>(chunk), (chunks, ticks)))
            },
        )
    };
    let resp = app
        .send(
            app.req(Method::POST, "/api/files")
                .bearer_auth(&app.admin_token)
                .header("content-type", content_type)
                .header("content-length", len)
                .body(reqwest::Body::wrap_stream(paced(whole, 4096))),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(resp.body["sha256"], sha256_hex(&content), "{}", resp.text);
    assert!(
        started.elapsed() > 3 * SHORT,
        "the upload was not slow enough to prove anything: {:?}",
        started.elapsed()
    );

    // A JSON body, 8 bytes every 200 ms (about 3 s).
    let body = json!({"username": "steady", "email": "steady@example.com",
                      "password": USER_PASSWORD, "role": "viewer"})
    .to_string()
    .into_bytes();
    let len = body.len();
    let resp = app
        .send(
            app.req(Method::POST, "/api/users")
                .bearer_auth(&app.admin_token)
                .header("content-type", "application/json")
                .header("content-length", len)
                .body(reqwest::Body::wrap_stream(paced(body, 8))),
        )
        .await;
    resp.expect_status(201);
    assert_clean_log(&app, "steady bodies");
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

type RawWs = tokio_tungstenite::WebSocketStream<TcpStream>;

/// What the raw socket read next.
#[derive(Debug)]
enum Got {
    Json(Value),
    Close(Option<u16>, String),
    Ended(String),
    Nothing,
}

async fn raw_ws(app: &TestApp) -> RawWs {
    let tcp = TcpStream::connect(app.addr).await.expect("connect");
    let url = format!("ws://{}/api/ws", app.addr);
    let (ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
        .await
        .expect("WebSocket handshake");
    ws
}

/// An authenticated raw socket, past its welcome.
async fn raw_ws_authed(app: &TestApp) -> RawWs {
    let mut ws = raw_ws(app).await;
    ws.send(Message::text(
        json!({"type": "auth", "token": app.admin_token}).to_string(),
    ))
    .await
    .expect("send auth");
    match read_ws(&mut ws, WS_TIMEOUT).await {
        Got::Json(v) if v["type"] == "welcome" => ws,
        other => panic!("expected the welcome, got {other:?}"),
    }
}

async fn read_ws(ws: &mut RawWs, within: Duration) -> Got {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Got::Nothing,
            Ok(None) => return Got::Ended("end of stream".into()),
            Ok(Some(Err(e))) => return Got::Ended(e.to_string()),
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                    panic!("server sent non-JSON text ({e}): {:?}", t.as_str())
                });
                // Other connections of the same user come and go.
                if !is_presence(&v) {
                    return Got::Json(v);
                }
            }
            Ok(Some(Ok(Message::Close(f)))) => {
                return match f {
                    Some(f) => Got::Close(Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                    None => Got::Close(None, String::new()),
                };
            }
            Ok(Some(Ok(Message::Binary(b)))) => panic!("server sent a binary frame: {b:?}"),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Reads until a close frame with `code` arrives; returns the JSON frames before it.
async fn expect_ws_close(ws: &mut RawWs, code: u16, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + EXCHANGE_DEADLINE;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match read_ws(ws, left).await {
            Got::Json(v) => before.push(v),
            Got::Close(got, reason) => {
                assert_eq!(got, Some(code), "{what}: close reason {reason:?}");
                assert!(!reason.is_empty(), "{what}: a close frame without a reason");
                return before;
            }
            Got::Ended(how) => panic!(
                "{what}: expected close {code}, the connection ended without one ({how}) after {} frames",
                before.len()
            ),
            Got::Nothing => panic!(
                "{what}: expected close {code}, still open after {} frames",
                before.len()
            ),
        }
    }
}

/// Sends `{"type":"ping"}` and expects the pong (after skipping `skip`-able frames).
async fn ws_still_answers(ws: &mut RawWs, what: &str) {
    ws.send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap_or_else(|e| panic!("{what}: send ping: {e}"));
    loop {
        match read_ws(ws, WS_TIMEOUT).await {
            Got::Json(v) if v["type"] == "pong" => return,
            Got::Json(v) if v["type"] == "error" || is_presence(&v) => continue,
            other => panic!("{what}: expected a pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn websocket_garbage_is_answered_or_closed_cleanly() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let mut ws = raw_ws_authed(&app).await;

    // Each of these gets a `bad_message` error and the connection stays usable.
    let garbage: Vec<(&str, Message)> = vec![
        ("a binary frame", Message::binary(vec![0u8, 159, 146, 150])),
        ("an empty binary frame", Message::binary(Vec::<u8>::new())),
        ("not JSON", Message::text("hello there")),
        ("an empty text frame", Message::text("")),
        ("JSON null", Message::text("null")),
        ("a JSON array", Message::text("[1, 2, 3]")),
        (
            "an unknown type",
            Message::text(r#"{"type": "launch_missiles"}"#),
        ),
        ("no type", Message::text(r#"{"after": 1}"#)),
        (
            "a wrong field type",
            Message::text(r#"{"type": "resume", "after": "yesterday"}"#),
        ),
        (
            "a huge number",
            Message::text(r#"{"type": "resume", "after": 1e400}"#),
        ),
        (
            "an unknown topic",
            Message::text(r#"{"type": "subscribe", "topics": ["secrets"]}"#),
        ),
        (
            "extra fields",
            Message::text(r#"{"type": "resume", "after": 0, "evil": true}"#),
        ),
        (
            "a second auth",
            Message::text(r#"{"type": "auth", "token": "x"}"#),
        ),
        ("a NUL", Message::text("{\"type\": \"ping\u{0}\"}")),
        ("deep nesting", Message::text("[".repeat(60_000))),
    ];
    for (what, msg) in garbage {
        ws.send(msg)
            .await
            .unwrap_or_else(|e| panic!("{what}: send: {e}"));
        match read_ws(&mut ws, WS_TIMEOUT).await {
            Got::Json(v) => {
                assert_eq!(v["type"], "error", "{what}: {v}");
                assert_eq!(v["code"], "bad_message", "{what}: {v}");
            }
            other => panic!("{what}: expected an error message, got {other:?}"),
        }
    }
    ws_still_answers(&mut ws, "after garbage").await;

    // Not UTF-8 at the protocol level: 1007.
    let mut ws = raw_ws_authed(&app).await;
    ws.send(Message::Frame(Frame::message(
        Bytes::from_static(b"{\"type\": \"\xff\xfe\"}"),
        OpCode::Data(Data::Text),
        true,
    )))
    .await
    .expect("send invalid UTF-8");
    expect_ws_close(&mut ws, 1007, "invalid UTF-8 text").await;

    // A reserved opcode: 1002.
    let mut ws = raw_ws_authed(&app).await;
    ws.send(Message::Frame(Frame::message(
        Bytes::from_static(b"??"),
        OpCode::Data(Data::Reserved(3)),
        true,
    )))
    .await
    .expect("send a reserved opcode");
    expect_ws_close(&mut ws, 1002, "reserved opcode").await;

    // A continuation without a start: 1002.
    let mut ws = raw_ws_authed(&app).await;
    ws.send(Message::Frame(Frame::message(
        Bytes::from_static(b"tail"),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .expect("send a stray continuation");
    expect_ws_close(&mut ws, 1002, "stray continuation").await;

    // Garbage instead of the auth message: 4401.
    for first in [
        Message::binary(vec![1u8, 2, 3]),
        Message::text("garbage"),
        Message::text(r#"{"type": "ping"}"#),
    ] {
        let mut ws = raw_ws(&app).await;
        ws.send(first).await.expect("send");
        expect_ws_close(&mut ws, 4401, "garbage before auth").await;
    }

    let mut ws = raw_ws_authed(&app).await;
    ws_still_answers(&mut ws, "a new connection").await;
    assert_survived(&app, &fx, &before, "WebSocket garbage").await;
}

#[tokio::test]
async fn websocket_oversize_frames_are_closed_1009() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;

    let big = 70 * 1024;
    for (what, msg) in [
        ("an oversize text frame", Message::text("x".repeat(big))),
        ("an oversize binary frame", Message::binary(vec![7u8; big])),
        (
            "an oversize JSON message",
            Message::text(
                json!({"type": "subscribe", "topics": vec!["users"; big / 8]}).to_string(),
            ),
        ),
    ] {
        let mut ws = raw_ws_authed(&app).await;
        ws.send(msg)
            .await
            .unwrap_or_else(|e| panic!("{what}: send: {e}"));
        expect_ws_close(&mut ws, 1009, what).await;
    }
    // Small fragments adding up to more than the limit.
    let mut ws = raw_ws_authed(&app).await;
    let piece = Bytes::from(vec![b'y'; 16 * 1024]);
    let mut frames = vec![Frame::message(
        piece.clone(),
        OpCode::Data(Data::Text),
        false,
    )];
    frames
        .extend((0..5).map(|_| Frame::message(piece.clone(), OpCode::Data(Data::Continue), false)));
    frames.push(Frame::message(piece, OpCode::Data(Data::Continue), true));
    for frame in frames {
        if ws.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    expect_ws_close(&mut ws, 1009, "fragments over the limit").await;

    // Before authenticating, an oversize first message is a failed auth.
    let mut ws = raw_ws(&app).await;
    ws.send(Message::text("x".repeat(big))).await.expect("send");
    expect_ws_close(&mut ws, 4401, "oversize first message").await;

    let mut ws = raw_ws_authed(&app).await;
    ws_still_answers(&mut ws, "a new connection").await;
    assert_survived(&app, &fx, &before, "oversize frames").await;
}

/// Sends `count` copies of `msg` as fast as the socket takes them while reading what comes
/// back; returns the JSON frames read before the close and the close code.
async fn flood(ws: RawWs, msg: Message, count: usize) -> (Vec<Value>, Option<u16>, Duration) {
    let started = Instant::now();
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        for _ in 0..count {
            if sink.feed(msg.clone()).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
    });
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + EXCHANGE_DEADLINE;
    let code = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!(
                "flood: no close within {EXCHANGE_DEADLINE:?} ({} frames)",
                frames.len()
            ),
            Ok(Some(Ok(Message::Text(t)))) => {
                frames.push(serde_json::from_str(t.as_str()).expect("JSON frame"));
            }
            Ok(Some(Ok(Message::Close(f)))) => break f.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("flood: connection ended without a close frame: {e}"),
            Ok(None) => panic!("flood: connection ended without a close frame"),
        }
    };
    writer.abort();
    (frames, code, started.elapsed())
}

#[tokio::test]
async fn websocket_floods_are_rate_limited() {
    let app = TestApp::spawn().await;
    let fx = fixture(&app).await;
    let before = snapshot(&app, &fx).await;
    let (mut bystander, _) = app.ws(&app.admin_token, "bystander").await;

    // 10,000 pings as fast as possible: a burst is answered, then 1008.
    let attacker = raw_ws_authed(&app).await;
    let ping = Message::text(r#"{"type":"ping"}"#);
    let ((frames, code, took), pongs_meanwhile) =
        tokio::join!(flood(attacker, ping, 10_000), async {
            // The bystander is served while the flood goes on.
            bystander.ping_barrier().await
        });
    assert_eq!(code, Some(1008), "flood of pings");
    let pongs = frames.iter().filter(|f| f["type"] == "pong").count();
    let allowed = 100 + (took.as_secs_f64() * 20.0).ceil() as usize + 1;
    assert!(
        (100..=allowed).contains(&pongs),
        "{pongs} pongs in {took:?} (burst 100, 20/s allowed: at most {allowed})"
    );
    assert!(
        pongs_meanwhile.iter().all(is_presence),
        "{pongs_meanwhile:?}"
    );

    // WebSocket-level pings and garbage count too.
    for (what, msg) in [
        ("protocol pings", Message::Ping(Bytes::from_static(b"hi"))),
        ("binary frames", Message::binary(vec![1u8; 10])),
        ("invalid JSON", Message::text("{{{{")),
        ("resumes", Message::text(r#"{"type":"resume","after":0}"#)),
    ] {
        let attacker = raw_ws_authed(&app).await;
        let (_, code, _) = flood(attacker, msg, 10_000).await;
        assert_eq!(code, Some(1008), "flood of {what}");
    }

    // A client within the limits is never cut off: 90 pings at once, then 40 more at 14/s.
    let mut steady = raw_ws_authed(&app).await;
    let mut ticks = tokio::time::interval(Duration::from_millis(70));
    for i in 0..130 {
        if i >= 90 {
            ticks.tick().await;
        }
        steady
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .unwrap_or_else(|e| panic!("steady ping {i}: {e}"));
    }
    let mut pongs = 0;
    while pongs < 130 {
        match read_ws(&mut steady, WS_TIMEOUT).await {
            Got::Json(v) if v["type"] == "pong" => pongs += 1,
            Got::Json(_) => {}
            other => panic!("a steady client was cut off after {pongs} pongs: {other:?}"),
        }
    }

    // Others still get live events.
    let user = app.create_user("after_the_flood", "viewer").await;
    loop {
        let frame = bystander.next_event("user.created after the flood").await;
        if frame["type"] == "user.created" {
            assert_eq!(frame["data"]["id"], user["id"]);
            break;
        }
    }
    app.delete(
        &format!("/api/users/{}", user["id"].as_str().expect("id")),
        &app.admin_token,
    )
    .await
    .expect_status(204);
    assert_survived(&app, &fx, &before, "WebSocket floods").await;
}
