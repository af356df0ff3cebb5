//! Files (docs/API.md §5): uploads, the store on disk, downloads with ranges and
//! conditional requests, share links, download counting under concurrency, and the upload /
//! download events on the WebSocket (docs/API.md §6).
//!
//! Nothing sleeps to synchronise: every wait is for a frame (with a timeout), for a response, or
//! a poll with a deadline. (The only timed pauses shape an upload so it lasts long enough to
//! produce progress events.)

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::files::*;
use common::*;
use futures_util::StreamExt as _;
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;

#[track_caller]
fn token_of_link(link: &Value) -> String {
    str_field(link, "token")
}

/// How long a download/upload event may take to show up on the WebSocket.
const EVENT_WAIT: Duration = Duration::from_secs(15);

fn dl_path(id: &str) -> String {
    format!("/api/files/{id}/download")
}

fn link_path(token: &str) -> String {
    format!("/d/{token}")
}

/// An RFC 3339 UTC timestamp `secs` seconds from now (negative: in the past).
fn ts_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A JSON string that is not a timestamp at all: refused as malformed (400 `bad_request`, the
/// project's convention for values of the wrong shape) or invalid (422 with `fields.<field>`).
#[track_caller]
fn assert_bad_timestamp(resp: &Resp, field: &str) {
    if resp.status.as_u16() == 400 {
        assert_error(resp, 400, "bad_request");
    } else {
        assert_fields(resp, &[field]);
    }
}

/// The `download.completed` events of the durable log for `file_id`.
async fn completed_events_for(app: &TestApp, file_id: &str) -> Vec<Value> {
    app.event_log_after(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "download.completed" && e["data"]["file_id"] == file_id)
        .collect()
}

/// Polls the link list until the link's `download_count` is `count` (panics if it goes past or
/// time runs out); returns the link.
async fn wait_link_count(app: &TestApp, file_id: &str, token: &str, count: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let link = app
            .find_link(file_id, token)
            .await
            .unwrap_or_else(|| panic!("link {token} missing from GET /api/files/{file_id}/links"));
        let got = link["download_count"].as_i64().expect("download_count");
        assert!(
            got <= count,
            "link {token}: download_count went past {count}: {link}"
        );
        if got == count {
            return link;
        }
        assert!(
            Instant::now() < deadline,
            "link {token}: download_count is {got}, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ============================================================================= upload

#[tokio::test]
async fn large_upload_round_trips_byte_exact() {
    let app = TestApp::spawn().await;
    let seed = 0x5EED_0050;
    let size = 50 * MIB + 4321;
    let expected_sha = gen_sha256(seed, size);

    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new().file_generated("random.bin", None, seed, size),
        )
        .await;
    resp.expect_status(201);
    let file = resp.body.clone();
    assert_file_shape(&file);
    let id = id_of(&file);
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/files/{id}").as_str()),
        "Location of the new file"
    );
    assert_eq!(resp.header("etag"), Some("\"1\""), "ETag is \"<version>\"");
    assert_eq!(file["name"], "random.bin");
    assert_eq!(file["size"], size);
    assert_eq!(
        file["sha256"],
        expected_sha.as_str(),
        "sha256 of the upload"
    );
    assert_eq!(
        file["content_type"], "application/octet-stream",
        "random bytes named .bin"
    );
    assert_eq!(file["uploaded_by"], app.admin_id.as_str());
    assert_eq!(file["download_count"], 0);
    assert_eq!(file["version"], 1);
    assert_eq!(file["expires_at"], Value::Null);
    assert_eq!(file["max_downloads"], Value::Null);
    assert_eq!(
        app.get_file(&id).await,
        file,
        "GET returns what POST returned"
    );

    // In the store: objects/<2 chars>/<id>, byte-exact; nothing left under tmp/.
    let object = app.object_key(&id);
    assert_eq!(
        app.env.store.digest(&object),
        Some((size, expected_sha.clone())),
        "stored object {object:?}"
    );
    assert!(
        app.tmp_files().is_empty(),
        "tmp/ should be empty once the upload is stored: {:?}",
        app.tmp_files()
    );

    // Download, compared byte by byte with the generated content while streaming.
    let response = app
        .req(Method::GET, &dl_path(&id))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download request");
    let got = read_streamed(response, Some((seed, 0))).await;
    assert_eq!(got.status.as_u16(), 200, "download status");
    assert_eq!(got.error, None, "download ended with an error");
    assert_eq!(
        got.headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(size.to_string().as_str()),
        "Content-Length of the download"
    );
    assert_eq!(got.len, size, "downloaded length");
    assert_eq!(got.mismatch_at, None, "first differing byte");
    assert_eq!(got.sha256, expected_sha, "sha256 of the downloaded bytes");

    app.wait_download_count(&id, 1, Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn upload_validation_content_type_and_limits_from_fields() {
    let app = TestApp::spawn().await;

    // No `file` part.
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new().text("name", "nothing.txt"),
        )
        .await;
    assert_fields(&resp, &["file"]);

    // Not multipart at all.
    let resp = app
        .post("/api/files", &app.admin_token, &json!({"name": "x"}))
        .await;
    assert_error(&resp, 415, "unsupported_media_type");

    // Bad limits in the form fields.
    for (field, value) in [
        ("max_downloads", "0"),
        ("max_downloads", "abc"),
        ("expires_at", "tomorrow"),
    ] {
        let resp = app
            .upload(
                &app.admin_token,
                Multipart::new()
                    .text(field, value)
                    .file("x.txt", None, &b"x"[..]),
            )
            .await;
        assert_fields(&resp, &[field]);
    }
    assert_eq!(app.list_files("").await["total"], 0, "nothing was stored");
    app.assert_store_empty(Duration::from_secs(5), "after refused uploads")
        .await;

    // Content type: the part's own type wins; octet-stream/absent is sniffed, then guessed
    // from the extension.
    let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &gen_bytes(1, 200)].concat();
    let cases: [(&str, Option<&str>, Vec<u8>, &str); 4] = [
        (
            "declared.dat",
            Some("text/csv"),
            b"a,b\n1,2\n".to_vec(),
            "text/csv",
        ),
        (
            "picture.dat",
            Some("application/octet-stream"),
            png.clone(),
            "image/png",
        ),
        ("picture-no-type.bin", None, png, "image/png"),
        (
            "notes.json",
            None,
            b"[1, 2, 3]".to_vec(),
            "application/json",
        ),
    ];
    for (name, ct, bytes, expected) in cases {
        let resp = app
            .upload(
                &app.admin_token,
                Multipart::new().file(name, ct, bytes.clone()),
            )
            .await;
        resp.expect_status(201);
        assert_eq!(
            resp.body["content_type"], expected,
            "content_type of {name} (part type {ct:?}): {}",
            resp.text
        );
        assert_eq!(resp.body["sha256"], sha256_hex(&bytes).as_str());
        let dl = app
            .download(
                Method::GET,
                &dl_path(&id_of(&resp.body)),
                Some(&app.admin_token),
                &[],
            )
            .await;
        dl.expect_status(200);
        assert!(
            dl.must_header("content-type").starts_with(expected),
            "download Content-Type of {name}"
        );
    }

    // Limits given as form fields, before or after the file part.
    let expires = ts_in(3600);
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new()
                .text("max_downloads", "2")
                .file("limited.txt", None, &b"twice only"[..])
                .text("expires_at", &expires),
        )
        .await;
    resp.expect_status(201);
    let limited = resp.body.clone();
    assert_eq!(limited["max_downloads"], 2, "{limited}");
    assert_eq!(
        parse_ts(&limited["expires_at"]),
        parse_ts(&json!(expires)),
        "expires_at from the form: {limited}"
    );
    let id = id_of(&limited);
    let link = app.create_link(&id, &json!({})).await;
    for i in 0..2 {
        let dl = app
            .download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
            .await;
        dl.expect_status(200);
        assert_eq!(dl.bytes, b"twice only", "download {i}");
    }
    app.wait_download_count(&id, 2, Duration::from_secs(10))
        .await;
    let third = app
        .download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await;
    assert_error(&third.resp(), 410, "gone");
    let via_link = app
        .download(Method::GET, &link_path(&token_of_link(&link)), None, &[])
        .await;
    assert_error(&via_link.resp(), 410, "gone");
    assert_eq!(app.get_file(&id).await["download_count"], 2);
}

#[tokio::test]
async fn upload_over_the_limit_is_413_and_leaves_nothing() {
    let limit = MIB;
    let app = TestApp::spawn_with(&["--max-upload-bytes", &limit.to_string()], &[]).await;

    // Sent like curl does (the response is read while the body is still going out, so an early
    // 413 is seen): declared length far over the limit; no Content-Length (chunked, the server
    // has to count while streaming); one byte over.
    let cases = [
        ("3 MiB, Content-Length", 3 * MIB, true),
        ("3 MiB, chunked", 3 * MIB, false),
        ("limit + 1, Content-Length", limit + 1, true),
        ("limit + 1, chunked", limit + 1, false),
    ];
    for (what, size, with_length) in cases {
        let form = Multipart::new().file_generated("big.bin", None, 7, size);
        let out = app.raw_upload(&app.admin_token, form, with_length).await;
        let resp = out
            .resp
            .unwrap_or_else(|| panic!("{what}: no HTTP response to an over-size upload: write error {:?}, read error {:?}", out.write_error, out.read_error));
        assert_error(&resp, 413, "payload_too_large");
    }

    let list = app.list_files("").await;
    assert_eq!(list["total"], 0, "no row after 413s: {list}");
    app.assert_store_empty(Duration::from_secs(5), "after 413s")
        .await;

    // Exactly the limit (file bytes, not request bytes) is fine.
    let file = app.upload_generated("exact.bin", 10, limit).await;
    assert_eq!(file["size"], limit);
    assert_eq!(file["sha256"], gen_sha256(10, limit).as_str());
    assert_eq!(app.list_files("").await["total"], 1);
    assert_eq!(app.object_files().len(), 1, "{:?}", app.object_files());
}

// ============================================================================= names

#[tokio::test]
async fn non_ascii_and_unsafe_names() {
    let app = TestApp::spawn().await;

    // A browser sends the raw UTF-8 filename in the part header.
    let name = "résumé 2026 – 東京.pdf";
    let pdf =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n".to_vec();
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new().file(name, Some("application/pdf"), pdf.clone()),
        )
        .await;
    resp.expect_status(201);
    let file = resp.body.clone();
    assert_eq!(file["name"], name);
    assert_eq!(file["content_type"], "application/pdf");
    let id = id_of(&file);
    for method in [Method::GET, Method::HEAD] {
        let dl = app
            .download(method.clone(), &dl_path(&id), Some(&app.admin_token), &[])
            .await;
        dl.expect_status(200);
        assert_download_headers(&dl, &file, pdf.len() as u64);
        let d = parse_disposition(dl.must_header("content-disposition"));
        assert!(
            d.filename_star_raw.as_deref().is_some_and(
                |raw| raw.contains("%E6%9D%B1%E4%BA%AC") || raw.contains("%e6%9d%b1%e4%ba%ac")
            ),
            "filename* should percent-encode 東京 as UTF-8: {d:?}"
        );
        if method == Method::GET {
            assert_eq!(dl.bytes, pdf);
        } else {
            assert!(dl.bytes.is_empty(), "HEAD has no body");
        }
    }

    // The `name` field overrides the part's filename, before or after the file part.
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new().text("name", "Überblick «final».txt").file(
                "ignored.txt",
                None,
                &b"one"[..],
            ),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(resp.body["name"], "Überblick «final».txt");
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new()
                .file("ignored-too.txt", None, &b"two"[..])
                .text("name", "après.txt"),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(resp.body["name"], "après.txt");

    // Sanitising: path components, control characters, surrounding blanks; quotes survive and
    // are escaped in the header.
    let cases: [(Multipart, &str); 7] = [
        (
            Multipart::new().file("../../etc/passwd", None, &b"p"[..]),
            "passwd",
        ),
        (
            Multipart::new().file("/var/tmp/dir/report.txt", None, &b"r"[..]),
            "report.txt",
        ),
        (
            Multipart::new()
                .text("name", "a/b/../c.txt")
                .file("x.txt", None, &b"c"[..]),
            "c.txt",
        ),
        (
            Multipart::new()
                .text("name", "bad\u{7}na\u{1b}me\u{0}.txt")
                .file("x.txt", None, &b"b"[..]),
            "badname.txt",
        ),
        (
            Multipart::new()
                .text("name", "   spaced out.txt \t ")
                .file("x.txt", None, &b"s"[..]),
            "spaced out.txt",
        ),
        (
            Multipart::new().file("C:\\Users\\me\\report.docx", None, &b"w"[..]),
            "report.docx",
        ),
        (
            Multipart::new()
                .text("name", "say \"hi\"; x=1, 100% done.txt")
                .file("x.txt", None, &b"q"[..]),
            "say \"hi\"; x=1, 100% done.txt",
        ),
    ];
    for (form, expected) in cases {
        let resp = app.upload(&app.admin_token, form).await;
        resp.expect_status(201);
        let file = resp.body.clone();
        assert_eq!(file["name"], expected, "sanitised name: {}", resp.text);
        let dl = app
            .download(
                Method::GET,
                &dl_path(&id_of(&file)),
                Some(&app.admin_token),
                &[],
            )
            .await;
        dl.expect_status(200);
        assert_download_headers(&dl, &file, dl.bytes.len() as u64);
        // The stored object is named by id, never by the client's name.
        app.object_key(&id_of(&file));
    }
    for key in app.object_files() {
        let n = key.rsplit('/').next().unwrap_or_default();
        assert!(
            !n.contains("passwd") && !n.contains(".txt") && !n.contains(".docx"),
            "objects are named by id, found {key:?}"
        );
    }

    // A name that is empty once sanitised is refused.
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new()
                .text("name", " \t\u{7} ")
                .file("x.txt", None, &b"e"[..]),
        )
        .await;
    assert_fields(&resp, &["name"]);

    // Over 255 characters: refused or cut to at most 255.
    let long = format!("{}.txt", "ä".repeat(300));
    let resp = app
        .upload(
            &app.admin_token,
            Multipart::new()
                .text("name", &long)
                .file("x.txt", None, &b"l"[..]),
        )
        .await;
    if resp.status.as_u16() == 201 {
        let got = resp.body["name"].as_str().expect("name");
        assert!(
            got.chars().count() <= 255 && !got.is_empty(),
            "a long name must be cut to at most 255 characters, got {} chars",
            got.chars().count()
        );
    } else {
        assert_fields(&resp, &["name"]);
    }
}

// ============================================================================= ranges & conditionals

/// Checks the download contract on `path` (API download or share link) for a file holding
/// `content`: headers, HEAD, ranges, 416, multiple ranges, If-Range and If-None-Match.
async fn check_download_semantics(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    file: &Value,
    content: &[u8],
) {
    let size = content.len() as u64;
    let sha = file["sha256"].as_str().expect("sha256");
    let etag = format!("\"{sha}\"");
    let get = |headers: Vec<(&'static str, String)>| async move {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.download(Method::GET, path, token, &h).await
    };

    let full = get(vec![]).await;
    full.expect_status(200);
    assert_eq!(full.bytes, content, "{path}: full body");
    assert_download_headers(&full, file, size);
    let last_modified = full.must_header("last-modified").to_owned();

    let head = app.download(Method::HEAD, path, token, &[]).await;
    head.expect_status(200);
    assert!(head.bytes.is_empty(), "{path}: HEAD must have no body");
    assert_download_headers(&head, file, size);

    let ranges: [(String, u64, u64); 6] = [
        ("bytes=0-9".into(), 0, 9),
        ("bytes=10-".into(), 10, size - 1),
        ("bytes=-5".into(), size - 5, size - 1),
        ("bytes=3-3".into(), 3, 3),
        (
            format!("bytes={}-{}", size - 10, size + 500),
            size - 10,
            size - 1,
        ),
        (format!("bytes=-{}", size + 10), 0, size - 1),
    ];
    for (range, start, end) in ranges {
        let dl = get(vec![("range", range.clone())]).await;
        assert_eq!(
            dl.status.as_u16(),
            206,
            "{path} Range: {range} (size {size}) should be 206 bytes {start}-{end}; got {} {}",
            dl.status,
            String::from_utf8_lossy(&dl.bytes[..dl.bytes.len().min(300)])
        );
        assert_eq!(
            dl.must_header("content-range"),
            format!("bytes {start}-{end}/{size}"),
            "{path} {range}: Content-Range"
        );
        assert_eq!(
            dl.bytes,
            &content[start as usize..=end as usize],
            "{path} {range}: body"
        );
        assert_eq!(
            dl.must_header("content-length"),
            (end - start + 1).to_string(),
            "{path} {range}: Content-Length"
        );
        assert_eq!(dl.must_header("etag"), etag, "{path} {range}: ETag");
        assert_eq!(dl.must_header("accept-ranges"), "bytes");
        assert_eq!(
            dl.must_header("content-type"),
            file["content_type"].as_str().expect("content_type"),
            "{path} {range}: Content-Type of a 206 is the file's"
        );
        assert_disposition_names(
            dl.must_header("content-disposition"),
            file["name"].as_str().expect("name"),
        );
    }

    for range in [
        format!("bytes={size}-"),
        format!("bytes={}-{}", size + 100, size + 200),
    ] {
        let dl = get(vec![("range", range.clone())]).await;
        assert_error(&dl.resp(), 416, "range_not_satisfiable");
        assert_eq!(
            dl.header("content-range"),
            Some(format!("bytes */{size}").as_str()),
            "{path} {range}: Content-Range of a 416"
        );
    }

    // Several ranges (disjoint or overlapping): the whole file.
    for range in ["bytes=0-1,5-6", "bytes=0-5,3-8"] {
        let dl = get(vec![("range", range.into())]).await;
        assert_eq!(
            dl.status.as_u16(),
            200,
            "{path} Range: {range} (several ranges) should be served as 200 whole file; got {} {}",
            dl.status,
            String::from_utf8_lossy(&dl.bytes[..dl.bytes.len().min(300)])
        );
        assert_eq!(
            dl.bytes, content,
            "{path}: multi-range request gets the whole file"
        );
    }

    // If-Range.
    let dl = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", etag.clone()),
    ])
    .await;
    dl.expect_status(206);
    assert_eq!(
        dl.bytes,
        &content[..10],
        "{path}: If-Range with the current ETag"
    );
    let dl = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", format!("\"{}\"", "0".repeat(64))),
    ])
    .await;
    dl.expect_status(200);
    assert_eq!(
        dl.bytes, content,
        "{path}: If-Range with a stale ETag -> whole file"
    );
    let dl = get(vec![
        ("range", "bytes=0-9".into()),
        ("if-range", last_modified.clone()),
    ])
    .await;
    dl.expect_status(206);
    assert_eq!(
        dl.bytes,
        &content[..10],
        "{path}: If-Range with Last-Modified"
    );

    // If-None-Match.
    let dl = get(vec![("if-none-match", etag.clone())]).await;
    dl.expect_status(304);
    assert!(dl.bytes.is_empty(), "{path}: 304 has no body");
    assert_eq!(
        dl.header("etag"),
        Some(etag.as_str()),
        "{path}: 304 keeps ETag"
    );
    let dl = get(vec![("if-none-match", "\"something-else\"".into())]).await;
    dl.expect_status(200);
    assert_eq!(dl.bytes, content);
}

#[tokio::test]
async fn ranges_and_conditional_requests_on_api_and_link() {
    let app = TestApp::spawn().await;
    let content = gen_bytes(0xA11CE, 4096 + 7);
    let file = app.upload_bytes("ranges.bin", &content).await;
    let id = id_of(&file);
    assert_eq!(file["sha256"], sha256_hex(&content).as_str());

    check_download_semantics(&app, &dl_path(&id), Some(&app.admin_token), &file, &content).await;

    let link = app.create_link(&id, &json!({})).await;
    let token = token_of_link(&link);
    check_download_semantics(&app, &link_path(&token), None, &file, &content).await;

    // The link serves exactly the API's headers.
    let api = app
        .download(Method::HEAD, &dl_path(&id), Some(&app.admin_token), &[])
        .await;
    let public = app
        .download(Method::HEAD, &link_path(&token), None, &[])
        .await;
    for h in [
        "content-type",
        "content-length",
        "content-disposition",
        "etag",
        "last-modified",
        "accept-ranges",
        "cache-control",
    ] {
        assert_eq!(
            public.header(h),
            api.header(h),
            "header {h} differs between /d/{{token}} and the API download"
        );
    }
}

#[tokio::test]
async fn partial_ranges_are_not_counted_tail_ranges_are() {
    let app = TestApp::spawn().await;
    let size = 10_000u64;
    let content = gen_bytes(0xC0DE, size as usize);
    let file = app.upload_bytes("counting.bin", &content).await;
    let id = id_of(&file);
    let path = dl_path(&id);
    let token = app.admin_token.clone();
    let etag = format!("\"{}\"", file["sha256"].as_str().expect("sha"));

    // HEAD and 304 are never counted (before the WebSocket, so their events do not matter).
    app.download(Method::HEAD, &path, Some(&token), &[])
        .await
        .expect_status(200);
    app.download(
        Method::GET,
        &path,
        Some(&token),
        &[("if-none-match", etag.as_str())],
    )
    .await
    .expect_status(304);

    let (mut ws, _) = app.ws(&app.admin_token, "counting").await;

    // (range, start, end, counted)
    let plan: [(&str, u64, u64, bool); 5] = [
        ("bytes=0-99", 0, 99, false),
        ("bytes=5000-9998", 5000, 9998, false),
        ("bytes=9000-", 9000, 9999, true),
        ("bytes=-1", 9999, 9999, true),
        ("bytes=0-9999", 0, 9999, true),
    ];
    let mut counted = 0;
    let mut frames = Vec::new();
    for (range, start, end, is_counted) in plan {
        let dl = app
            .download(Method::GET, &path, Some(&token), &[("range", range)])
            .await;
        dl.expect_status(206);
        assert_eq!(dl.bytes, &content[start as usize..=end as usize], "{range}");
        if is_counted {
            counted += 1;
            // The counted download: its completed event and the file.updated after it.
            let (before, completed) = ws_until(&mut ws, EVENT_WAIT, "download.completed", |f| {
                f["type"] == "download.completed"
            })
            .await;
            frames.extend(before);
            assert_eq!(
                completed["data"]["download_count"], counted,
                "{range}: download_count in download.completed: {completed}"
            );
            let updated = ws.next_event("file.updated after download.completed").await;
            assert_eq!(updated["type"], "file.updated", "{updated}");
            assert_eq!(updated["data"]["download_count"], counted, "{updated}");
            assert_eq!(
                app.get_file(&id).await["download_count"],
                counted,
                "after {range}"
            );
        }
    }
    frames.extend(
        ws.ping_barrier()
            .await
            .into_iter()
            .filter(|f| !is_presence(f)),
    );

    // Every download started with its own range; none was aborted or completed on the side.
    let started: Vec<(Value, Value)> = frames
        .iter()
        .filter(|f| f["type"] == "download.started")
        .map(|f| {
            (
                f["data"]["range_start"].clone(),
                f["data"]["bytes_total"].clone(),
            )
        })
        .collect();
    let expected: Vec<(Value, Value)> = plan
        .iter()
        .map(|(_, s, e, _)| (json!(s), json!(e - s + 1)))
        .collect();
    assert_eq!(
        started, expected,
        "download.started (range_start, bytes_total) for each range"
    );
    let odd: Vec<&Value> = frames
        .iter()
        .filter(|f| {
            !matches!(
                f["type"].as_str(),
                Some("download.started" | "download.progress")
            )
        })
        .collect();
    assert!(odd.is_empty(), "unexpected frames: {odd:?}");

    assert_eq!(app.get_file(&id).await["download_count"], 3);
    let completed = completed_events_for(&app, &id).await;
    let counts: Vec<Value> = completed
        .iter()
        .map(|e| e["data"]["download_count"].clone())
        .collect();
    assert_eq!(
        counts,
        [json!(1), json!(2), json!(3)],
        "durable download.completed events"
    );
}

// ============================================================================= patch / delete

#[tokio::test]
async fn patch_with_if_match_and_new_name_in_content_disposition() {
    let app = TestApp::spawn().await;
    let file = app.upload_bytes("before.txt", b"hello world\n").await;
    let id = id_of(&file);
    let path = format!("/api/files/{id}");

    let got = app.get(&path, &app.admin_token).await;
    got.expect_status(200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    let not_modified = app
        .send(
            app.req(Method::GET, &path)
                .bearer_auth(&app.admin_token)
                .header("if-none-match", "\"1\""),
        )
        .await;
    not_modified.expect_status(304);

    let patch_if = |if_match: &'static str, body: Value| {
        let req = app
            .req(Method::PATCH, &path)
            .bearer_auth(&app.admin_token)
            .header("if-match", if_match)
            .json(&body);
        app.send(req)
    };

    let new_name = "après – nouveau 東京.txt";
    let resp = patch_if("\"1\"", json!({"name": new_name})).await;
    resp.expect_status(200);
    let v2 = resp.body.clone();
    assert_file_shape(&v2);
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["name"], new_name);
    assert_eq!(v2["sha256"], file["sha256"]);
    assert_eq!(v2["created_at"], file["created_at"]);
    assert!(parse_ts(&v2["updated_at"]) >= parse_ts(&file["updated_at"]));

    let stale = patch_if(
        "\"1\"",
        json!({"name": "overwrite.txt", "max_downloads": 9}),
    )
    .await;
    assert_error(&stale, 412, "version_mismatch");
    assert_eq!(stale.body["current"], v2, "412 carries the current file");
    assert_eq!(app.get_file(&id).await, v2, "nothing changed after 412");

    let dl = app
        .download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await;
    dl.expect_status(200);
    assert_download_headers(&dl, &v2, 12);

    // Limits set and cleared; each write bumps the version.
    let expires = ts_in(7200);
    let resp = patch_if("\"2\"", json!({"expires_at": expires, "max_downloads": 5})).await;
    resp.expect_status(200);
    assert_eq!(resp.body["version"], 3);
    assert_eq!(resp.body["max_downloads"], 5);
    assert_eq!(
        parse_ts(&resp.body["expires_at"]),
        parse_ts(&json!(expires))
    );
    let resp = app
        .patch(
            &path,
            &app.admin_token,
            &json!({"expires_at": null, "max_downloads": null}),
        )
        .await;
    resp.expect_status(200);
    let v4 = resp.body.clone();
    assert_eq!(v4["version"], 4);
    assert_eq!(v4["expires_at"], Value::Null);
    assert_eq!(v4["max_downloads"], Value::Null);
    assert_eq!(v4["name"], new_name, "untouched fields stay");

    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": " \t "}), "name"),
        (json!({"max_downloads": 0}), "max_downloads"),
        (json!({"max_downloads": -3}), "max_downloads"),
    ] {
        let resp = app.patch(&path, &app.admin_token, &body).await;
        assert_fields(&resp, &[field]);
    }
    // A string that is no timestamp at all: malformed (400) or invalid (422 fields.expires_at).
    let resp = app
        .patch(
            &path,
            &app.admin_token,
            &json!({"expires_at": "next tuesday"}),
        )
        .await;
    assert_bad_timestamp(&resp, "expires_at");
    assert_eq!(
        app.get_file(&id).await,
        v4,
        "refused patches change nothing"
    );

    let resp = app
        .patch(
            "/api/files/no-such-file",
            &app.admin_token,
            &json!({"name": "x"}),
        )
        .await;
    assert_error(&resp, 404, "not_found");
}

#[tokio::test]
async fn delete_removes_row_bytes_and_links() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "delete").await;
    let content = gen_bytes(0xDE1, 100_000);
    let file = app.upload_bytes("doomed.bin", &content).await;
    let id = id_of(&file);
    let object = app.object_key(&id);
    assert!(app.env.store.exists(&object));
    let link = app.create_link(&id, &json!({})).await;
    let token = token_of_link(&link);
    let (_, created) = ws_until(&mut ws, EVENT_WAIT, "file.created", |f| {
        f["type"] == "file.created"
    })
    .await;
    assert_eq!(created["data"], file);

    let resp = app
        .delete(&format!("/api/files/{id}"), &app.admin_token)
        .await;
    resp.expect_status(204);
    assert!(resp.text.is_empty(), "204 has no body");

    let (_, deleted) = ws_until(&mut ws, EVENT_WAIT, "file.deleted", |f| {
        f["type"] == "file.deleted"
    })
    .await;
    assert_durable(&deleted, "file.deleted");
    assert_eq!(deleted["data"], json!({"id": id}));
    assert_eq!(deleted["actor"], admin_actor(&app));

    assert_error(
        &app.get(&format!("/api/files/{id}"), &app.admin_token).await,
        404,
        "not_found",
    );
    let dl = app
        .download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await;
    assert_error(&dl.resp(), 404, "not_found");
    let head = app
        .download(Method::HEAD, &dl_path(&id), Some(&app.admin_token), &[])
        .await;
    head.expect_status(404);
    let public = app
        .download(Method::GET, &link_path(&token), None, &[])
        .await;
    assert_error(&public.resp(), 410, "gone");
    assert_error(
        &app.delete(&format!("/api/files/{id}"), &app.admin_token)
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.post(
            &format!("/api/files/{id}/links"),
            &app.admin_token,
            &json!({}),
        )
        .await,
        404,
        "not_found",
    );
    assert_eq!(app.list_files("").await["total"], 0);
    let gone = poll_until(Duration::from_secs(5), || async {
        !app.env.store.exists(&object)
    })
    .await;
    assert!(gone, "the stored object {object:?} should be removed");
    app.assert_store_empty(Duration::from_secs(5), "after delete")
        .await;
}

// ============================================================================= roles

#[tokio::test]
async fn viewer_can_read_and_download_but_not_write() {
    let app = TestApp::spawn().await;
    app.create_user("file_viewer", "viewer").await;
    let viewer = app.token_for("file_viewer").await;
    let content = gen_bytes(0x71E, 5000);
    let file = app.upload_bytes("shared.bin", &content).await;
    let id = id_of(&file);
    let link = app.create_link(&id, &json!({})).await;
    let token = token_of_link(&link);

    // Writes are refused.
    let resp = app
        .upload(
            &viewer,
            Multipart::new().file("viewer.txt", None, &b"nope"[..]),
        )
        .await;
    assert_error(&resp, 403, "forbidden");
    assert_error(
        &app.patch(
            &format!("/api/files/{id}"),
            &viewer,
            &json!({"name": "mine.bin"}),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.delete(&format!("/api/files/{id}"), &viewer).await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(&format!("/api/files/{id}/links"), &viewer, &json!({}))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.delete(&format!("/api/links/{token}"), &viewer).await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/api/files/import",
            &viewer,
            &json!({"url": "http://example.com/x"}),
        )
        .await,
        403,
        "forbidden",
    );

    // Reads and downloads work.
    let list = app.get("/api/files", &viewer).await;
    list.expect_status(200);
    assert_eq!(item_ids(&list.body), std::slice::from_ref(&id));
    let got = app.get(&format!("/api/files/{id}"), &viewer).await;
    got.expect_status(200);
    assert_eq!(got.body, file);
    let links = app.get(&format!("/api/files/{id}/links"), &viewer).await;
    links.expect_status(200);
    assert_eq!(
        item_strings(&links.body, "token"),
        std::slice::from_ref(&token)
    );
    let dl = app
        .download(Method::GET, &dl_path(&id), Some(&viewer), &[])
        .await;
    dl.expect_status(200);
    assert_eq!(dl.bytes, content);
    assert_download_headers(&dl, &file, content.len() as u64);
    let dl = app
        .download(
            Method::GET,
            &dl_path(&id),
            Some(&viewer),
            &[("range", "bytes=-10")],
        )
        .await;
    dl.expect_status(206);
    assert_eq!(dl.bytes, &content[content.len() - 10..]);

    // Nothing changed; the viewer's refused upload left nothing behind.
    let after = app.get_file(&id).await;
    assert_eq!(after["name"], "shared.bin");
    assert_eq!(after["version"], 1);
    assert_eq!(app.list_files("").await["total"], 1);
    assert_eq!(app.object_files().len(), 1, "{:?}", app.object_files());
    app.download(Method::GET, &link_path(&token), None, &[])
        .await
        .expect_status(200);

    // Without a token: 401 (the public link excepted).
    assert_error(&app.get_anon("/api/files").await, 401, "unauthorized");
    let anon = app.download(Method::GET, &dl_path(&id), None, &[]).await;
    assert_error(&anon.resp(), 401, "unauthorized");
    let resp = app
        .send(
            app.req(Method::POST, "/api/files")
                .header(CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body("--x--\r\n"),
        )
        .await;
    assert_error(&resp, 401, "unauthorized");
}

// ============================================================================= share links

#[tokio::test]
async fn share_link_downloads_without_auth_and_counts() {
    let app = TestApp::spawn().await;
    let content = gen_bytes(0x1111, 64 * 1024 + 3);
    let file = app.upload_bytes("linked.bin", &content).await;
    let id = id_of(&file);

    let resp = app
        .post(
            &format!("/api/files/{id}/links"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    resp.expect_status(201);
    let link = resp.body.clone();
    assert_link_shape(&link);
    let token = token_of_link(&link);
    assert_eq!(link["url"], format!("{}/d/{token}", app.base_url()));
    assert_eq!(link["file_id"], id.as_str());
    assert_eq!(link["expires_at"], Value::Null);
    assert_eq!(link["max_downloads"], Value::Null);
    assert_eq!(link["download_count"], 0);
    assert_eq!(link["created_by"], app.admin_id.as_str());
    let listed = app.list_links(&id).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(
        listed["items"][0], link,
        "GET links returns what POST returned"
    );

    let dl = app
        .download(Method::GET, &link_path(&token), None, &[])
        .await;
    dl.expect_status(200);
    assert_eq!(dl.bytes, content);
    assert_download_headers(&dl, &file, content.len() as u64);
    app.wait_download_count(&id, 1, Duration::from_secs(10))
        .await;
    wait_link_count(&app, &id, &token, 1).await;

    // An API download counts on the file only.
    app.download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await
        .expect_status(200);
    app.wait_download_count(&id, 2, Duration::from_secs(10))
        .await;

    // HEAD and a partial range are not counted; a tail range is, on both.
    app.download(Method::HEAD, &link_path(&token), None, &[])
        .await
        .expect_status(200);
    app.download(
        Method::GET,
        &link_path(&token),
        None,
        &[("range", "bytes=0-9")],
    )
    .await
    .expect_status(206);
    let tail = app
        .download(
            Method::GET,
            &link_path(&token),
            None,
            &[("range", "bytes=-1")],
        )
        .await;
    tail.expect_status(206);
    assert_eq!(tail.bytes, &content[content.len() - 1..]);
    app.wait_download_count(&id, 3, Duration::from_secs(10))
        .await;
    wait_link_count(&app, &id, &token, 2).await;

    // A bearer token on the public route changes nothing, a bad one is not required.
    app.download(
        Method::GET,
        &link_path(&token),
        None,
        &[("authorization", "Bearer not-a-token")],
    )
    .await
    .expect_status(200);
    app.wait_download_count(&id, 4, Duration::from_secs(10))
        .await;
    let completed = completed_events_for(&app, &id).await;
    let vias: Vec<&str> = completed
        .iter()
        .map(|e| e["data"]["via"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        vias,
        ["link", "api", "link", "link"],
        "download.completed via"
    );
    for e in &completed {
        if e["data"]["via"] == "link" {
            assert_eq!(e["actor"], Value::Null, "a link download has no actor: {e}");
        }
    }
}

#[tokio::test]
async fn share_link_url_uses_public_url() {
    let app = TestApp::spawn_with(&["--public-url", "https://files.example.com"], &[]).await;
    let file = app.upload_bytes("pub.txt", b"public").await;
    let link = app.create_link(&id_of(&file), &json!({})).await;
    assert_link_shape(&link);
    assert_eq!(
        link["url"],
        format!("https://files.example.com/d/{}", token_of_link(&link))
    );
}

#[tokio::test]
async fn share_link_validation_expiry_and_deletion() {
    let app = TestApp::spawn().await;
    let content = b"expiring content".to_vec();
    let file = app.upload_bytes("expiring.txt", &content).await;
    let id = id_of(&file);
    let links = format!("/api/files/{id}/links");

    for (body, field) in [
        (json!({"expires_at": ts_in(-60)}), "expires_at"),
        (json!({"max_downloads": 0}), "max_downloads"),
        (json!({"max_downloads": -1}), "max_downloads"),
    ] {
        let resp = app.post(&links, &app.admin_token, &body).await;
        assert_fields(&resp, &[field]);
    }
    let resp = app
        .post(&links, &app.admin_token, &json!({"expires_at": "soon"}))
        .await;
    assert_bad_timestamp(&resp, "expires_at");
    assert_eq!(app.list_links(&id).await["total"], 0, "no link was created");
    assert_error(
        &app.post(
            "/api/files/no-such-file/links",
            &app.admin_token,
            &json!({}),
        )
        .await,
        404,
        "not_found",
    );

    // Unknown tokens are gone.
    let unknown = app
        .download(
            Method::GET,
            "/d/this-token-does-not-exist-0123456789",
            None,
            &[],
        )
        .await;
    assert_error(&unknown.resp(), 410, "gone");

    // A short-lived link works, then answers 410 once expired (not before).
    let expires = ts_in(3);
    let expires_at = parse_ts(&json!(expires)).with_timezone(&chrono::Utc);
    let link = app
        .create_link(&id, &json!({"expires_at": expires, "max_downloads": 100}))
        .await;
    assert_link_shape(&link);
    assert_eq!(parse_ts(&link["expires_at"]), parse_ts(&json!(expires)));
    assert_eq!(link["max_downloads"], 100);
    let token = token_of_link(&link);
    let dl = app
        .download(Method::GET, &link_path(&token), None, &[])
        .await;
    dl.expect_status(200);
    assert_eq!(dl.bytes, content);
    let early_410 = std::cell::Cell::new(None);
    let expired = poll_until(Duration::from_secs(20), || async {
        let head = app
            .download(Method::HEAD, &link_path(&token), None, &[])
            .await;
        let status = head.status.as_u16();
        if status == 410 && chrono::Utc::now() < expires_at - chrono::Duration::milliseconds(200) {
            early_410.set(Some(chrono::Utc::now()));
        }
        assert!(
            status == 200 || status == 410,
            "HEAD of an expiring link: {status}"
        );
        status == 410
    })
    .await;
    assert!(expired, "the link should answer 410 after {expires}");
    assert_eq!(
        early_410.get(),
        None,
        "410 before the link expired at {expires}"
    );
    let dl = app
        .download(Method::GET, &link_path(&token), None, &[])
        .await;
    assert_error(&dl.resp(), 410, "gone");
    // The file itself is unaffected.
    app.download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await
        .expect_status(200);

    // Deleting a link.
    let link = app.create_link(&id, &json!({})).await;
    let token = token_of_link(&link);
    app.download(Method::GET, &link_path(&token), None, &[])
        .await
        .expect_status(200);
    let resp = app
        .delete(&format!("/api/links/{token}"), &app.admin_token)
        .await;
    resp.expect_status(204);
    let dl = app
        .download(Method::GET, &link_path(&token), None, &[])
        .await;
    assert_error(&dl.resp(), 410, "gone");
    let head = app
        .download(Method::HEAD, &link_path(&token), None, &[])
        .await;
    head.expect_status(410);
    assert!(
        app.find_link(&id, &token).await.is_none(),
        "a deleted link is no longer listed"
    );
    app.download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await
        .expect_status(200);
}

#[derive(Debug)]
enum Outcome {
    Transport(String),
    Refused(u16, Value),
    Body(Streamed),
}

#[tokio::test]
async fn link_max_downloads_is_never_exceeded_under_concurrency() {
    let app = TestApp::spawn().await;
    let seed = 0x20C0;
    let size = 16 * MIB;
    let sha = gen_sha256(seed, size);
    let file = app.upload_generated("popular.bin", seed, size).await;
    let id = id_of(&file);
    let link = app.create_link(&id, &json!({"max_downloads": 3})).await;
    assert_eq!(link["max_downloads"], 3);
    let url = app.url(&link_path(&token_of_link(&link)));

    const CLIENTS: usize = 20;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        let url = url.clone();
        let ready_tx = ready_tx.clone();
        let mut go_rx = go_rx.clone();
        tasks.push(tokio::spawn(async move {
            let sent = client.get(&url).send().await;
            // Every client holds its response (headers received, body unread) until all have
            // one, so the downloads overlap.
            let _ = ready_tx.send(i);
            let response = match sent {
                Ok(r) => r,
                Err(e) => return Outcome::Transport(format!("{e:?}")),
            };
            let _ = go_rx.wait_for(|go| *go).await;
            let status = response.status().as_u16();
            if status == 200 {
                Outcome::Body(read_streamed(response, Some((seed, 0))).await)
            } else {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = response.json().await.unwrap_or(Value::Null);
                Outcome::Refused(status, json!({"body": body, "retry_after": retry_after}))
            }
        }));
    }
    drop(ready_tx);
    let mut ready = HashSet::new();
    let all_ready = tokio::time::timeout(Duration::from_secs(60), async {
        while ready.len() < CLIENTS {
            match ready_rx.recv().await {
                Some(i) => {
                    ready.insert(i);
                }
                None => break,
            }
        }
    })
    .await;
    assert!(
        all_ready.is_ok() && ready.len() == CLIENTS,
        "only {} of {CLIENTS} clients got a response head within 60 s",
        ready.len()
    );
    go_tx.send(true).expect("release the clients");

    let mut complete = 0;
    let mut outcomes = Vec::new();
    for task in tasks {
        let outcome = task.await.expect("client task");
        match &outcome {
            Outcome::Body(s) if s.status.as_u16() == 200 && s.len == size && s.error.is_none() => {
                assert_eq!(s.mismatch_at, None, "a complete body must be byte-exact");
                assert_eq!(s.sha256, sha, "a complete body must have the file's sha256");
                complete += 1;
            }
            Outcome::Body(s) => assert!(
                s.len < size,
                "a download that is not complete must be cut short: {s:?}"
            ),
            Outcome::Refused(410, v) => {
                assert_eq!(v["body"]["error"]["code"], "gone", "410 body: {v}");
            }
            Outcome::Refused(429, v) => {
                assert_eq!(
                    v["body"]["error"]["code"], "download_limit_in_flight",
                    "429 body: {v}"
                );
                let secs: u64 = v["retry_after"]
                    .as_str()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or_else(|| panic!("429 needs an integer Retry-After: {v}"));
                assert!(secs >= 1, "Retry-After >= 1: {v}");
            }
            Outcome::Refused(status, v) => panic!("unexpected refusal {status}: {v}"),
            Outcome::Transport(_) => {}
        }
        outcomes.push(outcome);
    }
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Transport(e) => format!("transport error {e}"),
            Outcome::Refused(s, _) => format!("{s}"),
            Outcome::Body(s) => format!("200 with {} bytes (error {:?})", s.len, s.error),
        })
        .collect();
    eprintln!("outcomes of {CLIENTS} concurrent link downloads: {summary:?}");
    assert_eq!(
        complete, 3,
        "exactly max_downloads complete bodies; outcomes: {summary:?}"
    );

    app.wait_download_count(&id, 3, Duration::from_secs(10))
        .await;
    wait_link_count(&app, &id, &token_of_link(&link), 3).await;
    let dl = app
        .download(Method::GET, &link_path(&token_of_link(&link)), None, &[])
        .await;
    assert_error(&dl.resp(), 410, "gone");
    assert_eq!(completed_events_for(&app, &id).await.len(), 3);
    assert_eq!(app.get_file(&id).await["download_count"], 3);
    assert_eq!(
        app.find_link(&id, &token_of_link(&link))
            .await
            .expect("link")["download_count"],
        3
    );
}

#[tokio::test]
async fn lowering_the_limit_mid_download_cuts_the_extra_downloads() {
    let app = TestApp::spawn().await;
    let seed = 0x10E7;
    let size = 16 * MIB;
    let file = app.upload_generated("shrinking.bin", seed, size).await;
    let id = id_of(&file);
    let (mut ws, _) = app.ws(&app.admin_token, "limit").await;

    // Three downloads start while there is no limit, and hold their bodies.
    const CLIENTS: usize = 3;
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut responses = Vec::new();
    for _ in 0..CLIENTS {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let response = client
            .get(app.url(&dl_path(&id)))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .expect("download request");
        assert_eq!(response.status().as_u16(), 200);
        responses.push((client, response));
    }
    // Then the file is limited to one download.
    let patched = app
        .patch(
            &format!("/api/files/{id}"),
            &app.admin_token,
            &json!({"max_downloads": 1}),
        )
        .await;
    patched.expect_status(200);
    assert_eq!(patched.body["max_downloads"], 1);

    let mut tasks = Vec::new();
    for (client, response) in responses {
        let mut go_rx = go_rx.clone();
        tasks.push(tokio::spawn(async move {
            let _ = go_rx.wait_for(|go| *go).await;
            let got = read_streamed(response, Some((seed, 0))).await;
            drop(client);
            got
        }));
    }
    go_tx.send(true).expect("release");
    let mut complete = 0;
    let mut summary = Vec::new();
    for task in tasks {
        let got = task.await.expect("client task");
        summary.push(format!("{} bytes, error {:?}", got.len, got.error));
        if got.len == size && got.error.is_none() {
            assert_eq!(got.sha256, gen_sha256(seed, size), "complete body");
            complete += 1;
        } else {
            assert!(
                got.len < size,
                "an extra download must be cut short: {got:?}"
            );
        }
    }
    assert_eq!(
        complete, 1,
        "only one download may complete once max_downloads is 1: {summary:?}"
    );
    app.wait_download_count(&id, 1, Duration::from_secs(10))
        .await;

    // Every download ended visibly: one completed, the others aborted.
    let mut completed = 0;
    let mut aborted = 0;
    let deadline = Instant::now() + EVENT_WAIT;
    while completed + aborted < CLIENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = ws.next_json_within(left, "download end events").await;
        match f["type"].as_str() {
            Some("download.completed") => completed += 1,
            Some("download.aborted") => {
                assert!(
                    f["data"]["bytes_sent"].as_u64().is_some_and(|b| b < size),
                    "an aborted download did not send the whole file: {f}"
                );
                aborted += 1;
            }
            _ => {}
        }
    }
    assert_eq!((completed, aborted), (1, CLIENTS - 1));
    assert_eq!(app.get_file(&id).await["download_count"], 1);
    let dl = app
        .download(Method::GET, &dl_path(&id), Some(&app.admin_token), &[])
        .await;
    assert_error(&dl.resp(), 410, "gone");
}

// ============================================================================= events

#[tokio::test]
async fn client_disconnect_mid_download_is_aborted_and_not_counted() {
    let app = TestApp::spawn().await;
    let seed = 0xAB0;
    let size = 32 * MIB;
    let file = app.upload_generated("abandoned.bin", seed, size).await;
    let id = id_of(&file);
    let (mut ws, _) = app.ws(&app.admin_token, "abort").await;

    let response = app
        .req(Method::GET, &dl_path(&id))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download request");
    assert_eq!(response.status().as_u16(), 200, "download status");
    let mut stream = response.bytes_stream();
    let mut got = 0usize;
    while got < MIB as usize {
        let chunk = stream.next().await.expect("more body").expect("body chunk");
        got += chunk.len();
    }
    drop(stream); // the client goes away

    let (before, started) = ws_until(&mut ws, EVENT_WAIT, "download.started", |f| {
        f["type"] == "download.started"
    })
    .await;
    assert!(
        before.is_empty(),
        "frames before download.started: {before:?}"
    );
    assert_ephemeral(
        &started,
        "download.started",
        &[
            "download_id",
            "file_id",
            "via",
            "bytes_total",
            "range_start",
        ],
    );
    let download_id = started["data"]["download_id"].clone();
    assert_eq!(
        started["data"],
        json!({"download_id": download_id, "file_id": id, "via": "api",
               "bytes_total": size, "range_start": 0})
    );
    let (between, aborted) = ws_until(&mut ws, Duration::from_secs(30), "download.aborted", |f| {
        f["type"] == "download.aborted"
    })
    .await;
    for f in &between {
        assert_eq!(
            f["type"], "download.progress",
            "only progress before the abort: {f}"
        );
        assert_eq!(f["data"]["download_id"], download_id);
    }
    assert_ephemeral(
        &aborted,
        "download.aborted",
        &[
            "download_id",
            "file_id",
            "bytes_sent",
            "bytes_total",
            "reason",
        ],
    );
    assert_eq!(aborted["data"]["download_id"], download_id);
    assert_eq!(aborted["data"]["file_id"], id.as_str());
    assert_eq!(aborted["data"]["bytes_total"], size);
    let sent = aborted["data"]["bytes_sent"].as_u64().expect("bytes_sent");
    assert!(
        sent >= got as u64 && sent < size,
        "bytes_sent {sent} should be between what the client read ({got}) and the size"
    );
    assert!(
        aborted["data"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "reason: {aborted}"
    );

    // Not counted: no durable event, count 0; the next full download is the first one.
    let extra = ws.ping_barrier().await;
    assert!(
        extra.iter().all(is_presence),
        "nothing after the abort: {extra:?}"
    );
    assert_eq!(app.get_file(&id).await["download_count"], 0);
    assert!(completed_events_for(&app, &id).await.is_empty());
    let response = app
        .req(Method::GET, &dl_path(&id))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download request");
    let full = read_streamed(response, Some((seed, 0))).await;
    assert_eq!((full.len, full.mismatch_at), (size, None));
    let (_, completed) = ws_until(&mut ws, EVENT_WAIT, "download.completed", |f| {
        f["type"] == "download.completed"
    })
    .await;
    assert_eq!(completed["data"]["download_count"], 1, "{completed}");
    app.wait_download_count(&id, 1, Duration::from_secs(10))
        .await;
}

/// Asserts the frames of one download on the WebSocket: `download.started`, progress, then
/// `download.completed` immediately followed by `file.updated`. Returns the completed frame.
async fn assert_download_sequence(
    app: &TestApp,
    ws: &mut WsClient,
    file_id: &str,
    via: &str,
    size: u64,
    count: i64,
    actor: &Value,
) -> Value {
    let (before, completed) = ws_until(ws, EVENT_WAIT, "download.completed", |f| {
        f["type"] == "download.completed"
    })
    .await;
    let started = before
        .first()
        .unwrap_or_else(|| panic!("no download.started before download.completed"));
    assert_ephemeral(
        started,
        "download.started",
        &[
            "download_id",
            "file_id",
            "via",
            "bytes_total",
            "range_start",
        ],
    );
    let download_id = started["data"]["download_id"].clone();
    assert!(download_id.is_string(), "download_id: {started}");
    assert_eq!(
        started["data"],
        json!({"download_id": download_id, "file_id": file_id, "via": via,
               "bytes_total": size, "range_start": 0}),
        "download.started data"
    );
    let mut last_sent = 0;
    for f in &before[1..] {
        assert_ephemeral(
            f,
            "download.progress",
            &[
                "download_id",
                "file_id",
                "bytes_sent",
                "bytes_total",
                "bytes_per_sec",
            ],
        );
        assert_eq!(f["data"]["download_id"], download_id, "{f}");
        assert_eq!(f["data"]["file_id"], file_id, "{f}");
        assert_eq!(f["data"]["bytes_total"], size, "{f}");
        let sent = f["data"]["bytes_sent"].as_u64().expect("bytes_sent");
        assert!(sent >= last_sent && sent <= size, "bytes_sent {sent}: {f}");
        last_sent = sent;
        assert!(f["data"]["bytes_per_sec"].is_number(), "{f}");
    }

    let seq = assert_durable(&completed, "download.completed");
    assert_eq!(&completed["actor"], actor, "download.completed actor");
    let data = &completed["data"];
    let keys: HashSet<&str> = data
        .as_object()
        .expect("data")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "download_id",
            "file_id",
            "via",
            "bytes",
            "duration_ms",
            "download_count"
        ]),
        "download.completed data keys: {completed}"
    );
    assert_eq!(data["download_id"], download_id);
    assert_eq!(data["file_id"], file_id);
    assert_eq!(data["via"], via);
    assert_eq!(data["bytes"], size);
    assert!(
        data["duration_ms"].as_u64().is_some(),
        "duration_ms: {completed}"
    );
    if via == "api" {
        assert_eq!(data["download_count"], count, "{completed}");
    }

    let updated = ws.next_event("file.updated after download.completed").await;
    assert_eq!(
        assert_durable(&updated, "file.updated"),
        seq + 1,
        "file.updated immediately follows download.completed: {updated}"
    );
    assert_eq!(updated["data"]["download_count"], count, "{updated}");
    assert_eq!(updated["data"], app.get_file(file_id).await);

    // The durable log holds the same pair.
    let log = app.events(&format!("?after={}&limit=2", seq - 1)).await;
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.first(), Some(&completed), "event log at seq {seq}");
    assert_eq!(items.get(1), Some(&updated), "event log at seq {}", seq + 1);
    completed
}

#[tokio::test]
async fn websocket_shows_upload_and_download_event_sequences() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "events").await;

    // Upload ~4 MiB at a bounded pace (~1 s) so progress events are due.
    let seed = 0xE7E;
    let size = 4 * MIB;
    let form = Multipart::new().file_generated("events.bin", None, seed, size);
    let len = form.len();
    let ct = form.content_type();
    let paced = form.into_stream().then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(15)).await;
        chunk
    });
    let started_at = Instant::now();
    let resp = app
        .send(
            app.req(Method::POST, "/api/files")
                .bearer_auth(&app.admin_token)
                .header(CONTENT_TYPE, ct)
                .header(CONTENT_LENGTH, len)
                .body(reqwest::Body::wrap_stream(paced)),
        )
        .await;
    let upload_secs = started_at.elapsed().as_secs_f64();
    resp.expect_status(201);
    let file = resp.body.clone();
    let id = id_of(&file);

    let (before, created) = ws_until(&mut ws, EVENT_WAIT, "file.created", |f| {
        f["type"] == "file.created"
    })
    .await;
    let started = before
        .first()
        .unwrap_or_else(|| panic!("no upload.started before file.created"));
    assert_ephemeral(
        started,
        "upload.started",
        &["upload_id", "file_id", "name", "bytes_total", "range_start"],
    );
    let upload_id = started["data"]["upload_id"].clone();
    assert!(upload_id.is_string(), "{started}");
    assert_eq!(
        started["data"],
        json!({"upload_id": upload_id, "file_id": id, "name": "events.bin", "bytes_total": len,
               "range_start": 0}),
        "upload.started data"
    );
    let progress = &before[1..];
    assert!(
        !progress.is_empty(),
        "a {upload_secs:.1} s upload should report progress; frames: {before:?}"
    );
    assert!(
        progress.len() as f64 <= upload_secs * 4.0 + 2.0,
        "at most 4 upload.progress per second: {} in {upload_secs:.1} s",
        progress.len()
    );
    let mut last = 0;
    for f in progress {
        assert_ephemeral(
            f,
            "upload.progress",
            &[
                "upload_id",
                "file_id",
                "bytes_sent",
                "bytes_total",
                "bytes_per_sec",
            ],
        );
        assert_eq!(f["data"]["upload_id"], upload_id, "{f}");
        assert_eq!(f["data"]["file_id"], id.as_str(), "{f}");
        assert_eq!(f["data"]["bytes_total"], len, "{f}");
        let sent = f["data"]["bytes_sent"].as_u64().expect("bytes_sent");
        assert!(sent >= last && sent <= len, "bytes_sent {sent}: {f}");
        last = sent;
        assert!(f["data"]["bytes_per_sec"].is_number(), "{f}");
    }
    assert_durable(&created, "file.created");
    assert_eq!(created["actor"], admin_actor(&app));
    assert_eq!(created["data"], file, "file.created carries the File");

    // A full API download.
    let dl = app
        .req(Method::GET, &dl_path(&id))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download");
    let got = read_streamed(dl, Some((seed, 0))).await;
    assert_eq!((got.len, got.mismatch_at), (size, None));
    assert_download_sequence(&app, &mut ws, &id, "api", size, 1, &admin_actor(&app)).await;

    // A full link download: no actor.
    let link = app.create_link(&id, &json!({})).await;
    let dl = app
        .req(Method::GET, &link_path(&token_of_link(&link)))
        .send()
        .await
        .expect("download");
    let got = read_streamed(dl, Some((seed, 0))).await;
    assert_eq!((got.len, got.mismatch_at), (size, None));
    assert_download_sequence(&app, &mut ws, &id, "link", size, 2, &Value::Null).await;

    let extra = ws.ping_barrier().await;
    let extra: Vec<&Value> = extra.iter().filter(|f| !is_presence(f)).collect();
    assert!(extra.is_empty(), "unexpected frames: {extra:?}");
}

// ============================================================================= crash safety

#[tokio::test]
async fn kill_during_upload_leaves_nothing_after_restart() {
    let mut app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "crash").await;

    let form = Multipart::new().file_generated("interrupted.bin", None, 0xDEAD, 8 * MIB);
    let len = form.len();
    let ct = form.content_type();
    let body = reqwest::Body::wrap_stream(form.into_stalling_stream(2 * MIB));
    let request = app
        .req(Method::POST, "/api/files")
        .bearer_auth(&app.admin_token)
        .header(CONTENT_TYPE, ct)
        .header(CONTENT_LENGTH, len)
        .body(body);
    let upload = tokio::spawn(async move { request.send().await });

    let (_, started) = ws_until(&mut ws, EVENT_WAIT, "upload.started", |f| {
        f["type"] == "upload.started"
    })
    .await;
    assert_eq!(started["data"]["name"], "interrupted.bin");
    let part_written = poll_until(Duration::from_secs(15), || async {
        app.tmp_files().iter().any(|p| {
            p.extension().is_some_and(|e| e == "part")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
    })
    .await;
    assert!(
        part_written,
        "a non-empty tmp/*.part should exist while the upload is in flight: {:?}",
        app.tmp_files()
    );

    app.kill9_and_restart().await;

    let outcome = tokio::time::timeout(Duration::from_secs(30), upload)
        .await
        .expect("the interrupted upload should end")
        .expect("upload task");
    assert!(
        outcome.is_err(),
        "the upload cannot have succeeded: {outcome:?}"
    );
    assert!(
        app.tmp_files().is_empty(),
        "tmp/ should be emptied at start: {:?}",
        app.tmp_files()
    );
    assert!(app.object_files().is_empty(), "{:?}", app.object_files());
    let list = app.list_files("").await;
    assert_eq!(list["total"], 0, "no file after the crash: {list}");
    assert!(list["items"].as_array().expect("items").is_empty());

    // The store works after the restart.
    let file = app.upload_bytes("after-crash.txt", b"fine").await;
    let dl = app
        .download(
            Method::GET,
            &dl_path(&id_of(&file)),
            Some(&app.admin_token),
            &[],
        )
        .await;
    dl.expect_status(200);
    assert_eq!(dl.bytes, b"fine");
}

// ============================================================================= listing

#[tokio::test]
async fn list_search_sort_and_paging() {
    let app = TestApp::spawn().await;
    let a = app.upload_bytes("alpha.txt", &[b'a'; 10]).await;
    let b = app.upload_bytes("Beta-Report.TXT", &[b'b'; 30]).await;
    let c = app.upload_bytes("gamma.log", &[b'c'; 20]).await;

    let all = app.list_files("").await;
    assert_eq!(all["total"], 3);
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 50);
    for item in all["items"].as_array().expect("items") {
        assert_file_shape(item);
    }
    let created: Vec<_> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|f| parse_ts(&f["created_at"]))
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "default order is -created_at: {all}"
    );

    let found = app.list_files("?q=bEtA-rEp").await;
    assert_eq!(
        item_ids(&found),
        [id_of(&b)],
        "q is a case-insensitive substring"
    );
    assert_eq!(found["total"], 1);
    let found = app.list_files("?q=.t").await;
    assert_eq!(found["total"], 2, "{found}");

    assert_eq!(
        item_ids(&app.list_files("?sort=size").await),
        [id_of(&a), id_of(&c), id_of(&b)]
    );
    assert_eq!(
        item_ids(&app.list_files("?sort=-size").await),
        [id_of(&b), id_of(&c), id_of(&a)]
    );
    let page = app.list_files("?sort=size&per_page=2&page=2").await;
    assert_eq!(item_ids(&page), [id_of(&b)]);
    assert_eq!(page["total"], 3);
    assert_eq!(page["per_page"], 2);
    assert_eq!(page["page"], 2);

    assert_error(
        &app.get("/api/files/no-such-file", &app.admin_token).await,
        404,
        "not_found",
    );
    let dl = app
        .download(
            Method::GET,
            &dl_path("no-such-file"),
            Some(&app.admin_token),
            &[],
        )
        .await;
    assert_error(&dl.resp(), 404, "not_found");
}

#[tokio::test]
async fn empty_file_uploads_downloads_and_counts() {
    let app = TestApp::spawn().await;
    let file = app.upload_bytes("empty.txt", b"").await;
    assert_eq!(file["size"], 0);
    assert_eq!(file["sha256"], sha256_hex(b""));
    let id = id_of(&file);
    let resp = app
        .post(
            &format!("/api/files/{id}/links"),
            &app.admin_token,
            &json!({"max_downloads": 2}),
        )
        .await;
    resp.expect_status(201);
    let token = token_of_link(&resp.body);

    let dl = app
        .download(Method::GET, &link_path(&token), None, &[])
        .await;
    dl.expect_status(200);
    assert!(dl.bytes.is_empty());
    assert_eq!(dl.must_header("content-length"), "0");
    // Counted, on the file and on the link (read while the link still serves: an exhausted
    // link may be swept at any moment).
    app.wait_download_count(&id, 1, Duration::from_secs(10))
        .await;
    wait_link_count(&app, &id, &token, 1).await;
    // The second and last permitted download, then the limit holds.
    app.download(Method::GET, &link_path(&token), None, &[])
        .await
        .expect_status(200);
    app.wait_download_count(&id, 2, Duration::from_secs(10))
        .await;
    app.download(Method::GET, &link_path(&token), None, &[])
        .await
        .expect_status(410);

    // No byte range of an empty file is satisfiable.
    app.download(
        Method::GET,
        &dl_path(&id),
        Some(&app.admin_token),
        &[("range", "bytes=0-")],
    )
    .await
    .expect_status(416);
}

#[tokio::test]
async fn download_url_streams_without_authorization_until_the_session_ends() {
    let app = TestApp::spawn().await;
    let content = gen_bytes(0xD0_0D, 300 * 1024 + 7);
    let file = app.upload_bytes("ticket.bin", &content).await;
    let id = id_of(&file);
    app.create_user("vera", "viewer").await;
    let login = app.login("vera", USER_PASSWORD).await;
    let token = login["access_token"].as_str().expect("access_token");

    let resp = app
        .post(&format!("/api/files/{id}/download-url"), token, &json!({}))
        .await;
    resp.expect_status(200);
    let url = resp.body["url"].as_str().expect("url").to_owned();
    let prefix = format!("{}/api/downloads/", app.base_url());
    assert!(url.starts_with(&prefix), "{url}");
    let path = url[app.base_url().len()..].to_owned();
    let expires = parse_rfc3339(&resp.body["expires_at"]);
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::seconds(60) && ttl <= chrono::Duration::seconds(121),
        "expires_at about two minutes ahead: {}",
        resp.body
    );

    // A plain GET with no Authorization: the whole file, the usual headers, counted as "api".
    let dl = app.download(Method::GET, &path, None, &[]).await;
    dl.expect_status(200);
    assert_eq!(dl.bytes, content);
    assert_download_headers(&dl, &file, content.len() as u64);
    let counted = app
        .wait_download_count(&id, 1, Duration::from_secs(10))
        .await;
    assert_eq!(counted["download_count"], 1);
    let events = completed_events_for(&app, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["via"], "api");
    assert_eq!(events[0]["actor"]["username"], "vera");

    // Ranges and HEAD work through it too.
    let part = app
        .download(Method::GET, &path, None, &[("range", "bytes=10-19")])
        .await;
    part.expect_status(206);
    assert_eq!(part.bytes, content[10..20]);
    app.download(Method::HEAD, &path, None, &[])
        .await
        .expect_status(200);

    // Unknown file → 404 when asking; forged, truncated or access tokens are not tickets.
    app.post("/api/files/nope/download-url", token, &json!({}))
        .await
        .expect_status(404);
    for bad in [
        "garbage".to_owned(),
        token.to_owned(),
        path["/api/downloads/".len()..path.len() - 2].to_owned(),
    ] {
        let resp = app
            .download(Method::GET, &format!("/api/downloads/{bad}"), None, &[])
            .await
            .resp();
        assert_error(&resp, 401, "unauthorized");
    }

    // The session ends (logout): the URL stops working at once.
    let refresh = login["refresh_token"].as_str().expect("refresh_token");
    app.post(
        "/api/auth/logout",
        token,
        &json!({"refresh_token": refresh}),
    )
    .await
    .expect_status(204);
    let resp = app.download(Method::GET, &path, None, &[]).await.resp();
    assert_error(&resp, 401, "unauthorized");
    assert_eq!(app.get_file(&id).await["download_count"], 1);
}

fn parse_rfc3339(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn files_can_be_listed_by_uploader() {
    let app = TestApp::spawn().await;
    app.create_user("up_admin", "admin").await;
    let other = app.token_for("up_admin").await;
    let mine = app.upload_bytes("mine.txt", b"mine").await;
    let theirs = app
        .upload(
            &other,
            Multipart::new().file("theirs.txt", Some("text/plain"), &b"theirs"[..]),
        )
        .await;
    theirs.expect_status(201);
    let by_admin = app
        .list_files(&format!("?uploaded_by={}", app.admin_id))
        .await;
    assert_eq!(by_admin["total"], 1);
    assert_eq!(by_admin["items"][0]["id"], mine["id"]);
    let uid = theirs.body["uploaded_by"].as_str().expect("uploader");
    let by_other = app.list_files(&format!("?uploaded_by={uid}")).await;
    assert_eq!(by_other["total"], 1);
    assert_eq!(by_other["items"][0]["id"], theirs.body["id"]);
    assert_eq!(app.list_files("?uploaded_by=nobody").await["total"], 0);
    assert_eq!(app.list_files("").await["total"], 2);
}
