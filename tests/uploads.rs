//! Resumable uploads, tus 1.0.0 (docs/API.md §5.7): discovery, creation (with data), chunked
//! round trips, resuming after a dropped connection and after a killed server, offset races,
//! checksums, limits, termination, expiry, and the upload events on the WebSocket.
//!
//! Nothing sleeps to synchronise: every wait is for a frame, a response, or a poll with a
//! deadline. (The only timed pauses shape an upload so that it lasts long enough to report
//! progress.)

mod common;

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::files::*;
use common::*;
use futures_util::StreamExt as _;
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

const MIB: u64 = 1024 * 1024;
const EVENT_WAIT: Duration = Duration::from_secs(10);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn header_u64(resp: &Resp, name: &str) -> u64 {
    resp.header(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {name}: {resp:?}"))
}

fn file_id_of(resp: &Resp) -> String {
    resp.header("switchboard-file-id")
        .unwrap_or_else(|| panic!("no Switchboard-File-Id: {resp:?}"))
        .to_owned()
}

fn upload_id_of(location: &str) -> String {
    location
        .rsplit('/')
        .next()
        .expect("location has an id")
        .to_owned()
}

/// Downloads file `id` and checks its bytes hash to `sha256`, as does its metadata.
async fn assert_file_bytes(app: &TestApp, id: &str, sha256: &str, len: u64) -> Value {
    let file = app.get_file(id).await;
    assert_eq!(file["size"], len, "{file}");
    assert_eq!(file["sha256"], sha256, "{file}");
    let dl = app
        .download(
            Method::GET,
            &format!("/api/files/{id}/download"),
            Some(&app.admin_token),
            &[],
        )
        .await;
    dl.expect_status(200);
    assert_eq!(dl.bytes.len() as u64, len);
    assert_eq!(sha256_hex(&dl.bytes), sha256, "downloaded bytes");
    file
}

/// Writes a PATCH head declaring `declared` bytes and then only `sent`, over raw TCP; returns
/// the open connection.
async fn raw_patch(
    app: &TestApp,
    location: &str,
    offset: u64,
    declared: u64,
    sent: &[u8],
) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", app.addr));
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n\
         Upload-Offset: {offset}\r\nContent-Length: {declared}\r\n\r\n",
        app.addr, app.admin_token
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(sent).await.expect("write body");
    stream.flush().await.expect("flush");
    stream
}

#[tokio::test]
async fn options_discovery_needs_neither_auth_nor_version() {
    let app = TestApp::spawn_with(&["--max-upload-bytes", "123456789"], &[]).await;
    let resp = app.send(app.req(Method::OPTIONS, "/api/uploads")).await;
    resp.expect_status(204);
    assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(resp.header("tus-version"), Some("1.0.0"));
    let ext: Vec<&str> = resp
        .header("tus-extension")
        .expect("Tus-Extension")
        .split(',')
        .collect();
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    ] {
        assert!(ext.contains(&e), "Tus-Extension lacks {e}: {ext:?}");
    }
    assert_eq!(resp.header("tus-max-size"), Some("123456789"));
    let algos: Vec<&str> = resp
        .header("tus-checksum-algorithm")
        .expect("Tus-Checksum-Algorithm")
        .split(',')
        .collect();
    assert!(algos.contains(&"sha256"), "{algos:?}");
}

#[tokio::test]
async fn requests_without_a_supported_tus_version_are_412() {
    let app = TestApp::spawn().await;
    let location = app.tus_create(10, "a.txt").await;
    let token = app.admin_token.clone();
    let requests = [
        app.req(Method::POST, "/api/uploads")
            .bearer_auth(&token)
            .header("Upload-Length", 10)
            .header("Upload-Metadata", tus_metadata("b.txt", &[])),
        app.req(Method::HEAD, &location).bearer_auth(&token),
        app.req(Method::PATCH, &location)
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/offset+octet-stream")
            .header("Upload-Offset", 0)
            .body("hello"),
        app.req(Method::DELETE, &location).bearer_auth(&token),
        app.req(Method::HEAD, &location)
            .bearer_auth(&token)
            .header("Tus-Resumable", "0.2.2"),
    ];
    for request in requests {
        let resp = app.send(request).await;
        assert_eq!(resp.status.as_u16(), 412, "{resp:?}");
        assert_eq!(resp.header("tus-version"), Some("1.0.0"), "{resp:?}");
        assert_eq!(resp.header("tus-resumable"), Some("1.0.0"), "{resp:?}");
        if resp.method != Method::HEAD {
            assert_error(&resp, 412, "unsupported_tus_version");
        }
    }
    // Nothing happened: still one upload, at offset 0.
    assert_eq!(app.tus_offset(&location).await, 0);
    let list = app.get("/api/uploads", &app.admin_token).await;
    list.expect_status(200);
    assert_eq!(list.body["total"], 1, "{}", list.body);
}

#[tokio::test]
async fn round_trip_of_50_mib_in_5_mib_chunks() {
    let app = TestApp::spawn().await;
    let len = 50 * MIB;
    let data = gen_bytes(7, len as usize);
    let sha = sha256_hex(&data);
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &app.admin_token)
                .header("Upload-Length", len)
                .header(
                    "Upload-Metadata",
                    tus_metadata("../big data.bin", &[("filetype", "application/x-demo")]),
                ),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(header_u64(&resp, "upload-offset"), 0);
    let expires = resp.header("upload-expires").expect("Upload-Expires");
    let expires = parse_http_date(expires);
    let ahead = expires - chrono::Utc::now();
    assert!(
        ahead > chrono::Duration::hours(23) && ahead <= chrono::Duration::hours(24),
        "default expiry is 24 h after the last change: {expires}"
    );
    let location = resp.header("location").expect("Location").to_owned();
    assert!(location.starts_with("/api/uploads/"), "{location}");

    let head = app.tus_head(&location).await;
    head.expect_status(200);
    assert_eq!(head.header("upload-length"), Some(len.to_string().as_str()));
    assert_eq!(head.header("cache-control"), Some("no-store"));
    assert_eq!(
        head.header("upload-metadata"),
        Some(tus_metadata("../big data.bin", &[("filetype", "application/x-demo")]).as_str())
    );

    let chunk = (5 * MIB) as usize;
    let mut file_id = None;
    for (i, part) in data.chunks(chunk).enumerate() {
        let offset = (i * chunk) as u64;
        let resp = app.tus_patch(&location, offset, part.to_vec()).await;
        resp.expect_status(204);
        assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
        let new_offset = offset + part.len() as u64;
        assert_eq!(header_u64(&resp, "upload-offset"), new_offset);
        if new_offset < len {
            assert!(resp.header("switchboard-file-id").is_none(), "{resp:?}");
            assert_eq!(app.tus_offset(&location).await, new_offset);
            let listed = app.get("/api/uploads", &app.admin_token).await;
            listed.expect_status(200);
            assert_eq!(listed.body["items"][0]["offset"], new_offset);
            assert_eq!(listed.body["items"][0]["length"], len);
            assert_eq!(listed.body["items"][0]["name"], "big data.bin");
            assert_eq!(listed.body["items"][0]["location"], location.as_str());
        } else {
            file_id = Some(file_id_of(&resp));
        }
    }
    let file_id = file_id.expect("the last PATCH names the file");
    let file = assert_file_bytes(&app, &file_id, &sha, len).await;
    assert_eq!(file["name"], "big data.bin");
    assert_eq!(file["content_type"], "application/x-demo");
    assert_eq!(file["uploaded_by"], app.admin_id.as_str());
    let files = app.list_files("").await;
    assert_eq!(files["total"], 1, "{files}");

    // Asking again after completion still says complete (a client resuming finds it done).
    let head = app.tus_head(&location).await;
    head.expect_status(200);
    assert_eq!(header_u64(&head, "upload-offset"), len);
    assert_eq!(file_id_of(&head), file_id);
    let listed = app.get("/api/uploads", &app.admin_token).await;
    assert_eq!(listed.body["total"], 0, "finished uploads are not listed");
    app.assert_no_upload_parts(Duration::from_secs(5), "after completion")
        .await;
    app.assert_tmp_empty(Duration::from_secs(5), "after completion")
        .await;
}

#[tokio::test]
async fn creation_with_upload_whole_and_partial() {
    let app = TestApp::spawn().await;
    let whole = gen_bytes(11, 300_000);
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &app.admin_token)
                .header("Upload-Length", whole.len())
                .header(
                    "Upload-Metadata",
                    tus_metadata("whole.bin", &[("max_downloads", "3")]),
                )
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .body(whole.clone()),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(header_u64(&resp, "upload-offset"), whole.len() as u64);
    let id = file_id_of(&resp);
    let file = assert_file_bytes(&app, &id, &sha256_hex(&whole), whole.len() as u64).await;
    assert_eq!(file["max_downloads"], 3);

    let data = gen_bytes(12, 200_000);
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &app.admin_token)
                .header("Upload-Length", data.len())
                .header("Upload-Metadata", tus_metadata("half.bin", &[]))
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .body(data[..50_000].to_vec()),
        )
        .await;
    resp.expect_status(201);
    assert_eq!(header_u64(&resp, "upload-offset"), 50_000);
    assert!(resp.header("switchboard-file-id").is_none());
    let location = resp.header("location").expect("Location").to_owned();
    let resp = app
        .tus_patch(&location, 50_000, data[50_000..].to_vec())
        .await;
    resp.expect_status(204);
    let id = file_id_of(&resp);
    assert_file_bytes(&app, &id, &sha256_hex(&data), data.len() as u64).await;
}

#[tokio::test]
async fn metadata_and_roles_are_checked() {
    let app = TestApp::spawn().await;
    let create = |metadata: String| {
        app.tus(Method::POST, "/api/uploads", &app.admin_token)
            .header("Upload-Length", 5)
            .header("Upload-Metadata", metadata)
    };
    let resp = app
        .send(create(format!("filetype {}", b64(b"text/plain"))))
        .await;
    assert_error(&resp, 422, "validation_failed");
    assert_fields(&resp, &["filename"]);
    let resp = app.send(create("filename !!notbase64".into())).await;
    assert_error(&resp, 400, "bad_request");
    let resp = app
        .send(create(tus_metadata(
            "a.txt",
            &[
                ("expires_at", "2000-01-01T00:00:00Z"),
                ("max_downloads", "0"),
            ],
        )))
        .await;
    assert_error(&resp, 422, "validation_failed");
    assert_fields(&resp, &["expires_at", "max_downloads"]);
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &app.admin_token)
                .header("Upload-Metadata", tus_metadata("a.txt", &[])),
        )
        .await;
    assert_error(&resp, 400, "bad_request");

    app.create_user("viewer1", "viewer").await;
    let viewer = app.token_for("viewer1").await;
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &viewer)
                .header("Upload-Length", 5)
                .header("Upload-Metadata", tus_metadata("a.txt", &[])),
        )
        .await;
    assert_error(&resp, 403, "forbidden");
    assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
    let location = app.tus_create(5, "a.txt").await;
    let resp = app.send(app.tus(Method::HEAD, &location, &viewer)).await;
    assert_eq!(resp.status.as_u16(), 403);
    let resp = app
        .send(
            app.req(Method::HEAD, &location)
                .header("Tus-Resumable", "1.0.0"),
        )
        .await;
    assert_eq!(resp.status.as_u16(), 401);
    assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
    // The listing: a viewer has none of their own; the admin sees the upload.
    let mine = app.get("/api/uploads", &viewer).await;
    mine.expect_status(200);
    assert_eq!(mine.body["total"], 0, "{}", mine.body);
    let all = app.get("/api/uploads", &app.admin_token).await;
    assert_eq!(all.body["total"], 1, "{}", all.body);
    assert_eq!(all.body["items"][0]["created_by"], app.admin_id.as_str());
    // Rejected creations left nothing behind.
    assert_eq!(app.list_files("").await["total"], 0);
}

#[tokio::test]
async fn wrong_offset_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let location = app.tus_create(1000, "a.bin").await;
    let resp = app.tus_patch(&location, 10, vec![1; 100]).await;
    assert_error(&resp, 409, "offset_mismatch");
    assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
    let resp = app.tus_patch(&location, 0, vec![1; 100]).await;
    resp.expect_status(204);
    let resp = app.tus_patch(&location, 0, vec![1; 100]).await;
    assert_error(&resp, 409, "offset_mismatch");
    assert_eq!(app.tus_offset(&location).await, 100);
    // A body of the wrong type, and a missing or malformed offset.
    let resp = app
        .send(
            app.tus(Method::PATCH, &location, &app.admin_token)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header("Upload-Offset", 100)
                .body(vec![1; 10]),
        )
        .await;
    assert_error(&resp, 415, "unsupported_media_type");
    let resp = app
        .send(
            app.tus(Method::PATCH, &location, &app.admin_token)
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .header("Upload-Offset", "ten")
                .body(vec![1; 10]),
        )
        .await;
    assert_error(&resp, 400, "bad_request");
    assert_eq!(app.tus_offset(&location).await, 100);
    let resp = app.tus_patch("/api/uploads/nope", 0, vec![1]).await;
    assert_error(&resp, 404, "not_found");
}

#[tokio::test]
async fn resumes_after_the_client_drops_mid_chunk() {
    let app = TestApp::spawn().await;
    let len = 8 * MIB;
    let data = gen_bytes(21, len as usize);
    let location = app.tus_create(len, "dropped.bin").await;
    let sent = 3 * MIB as usize;
    // Declares 5 MiB, sends 3 MiB, then goes away.
    let stream = raw_patch(&app, &location, 0, 5 * MIB, &data[..sent]).await;
    drop(stream);
    let durable = poll_until(Duration::from_secs(10), || async {
        app.tus_offset(&location).await == sent as u64
    })
    .await;
    assert!(
        durable,
        "the bytes received before the drop are kept: offset {}",
        app.tus_offset(&location).await
    );
    let resp = app
        .tus_patch(&location, sent as u64, data[sent..].to_vec())
        .await;
    resp.expect_status(204);
    let id = file_id_of(&resp);
    assert_file_bytes(&app, &id, &sha256_hex(&data), len).await;
    app.assert_no_upload_parts(Duration::from_secs(5), "after completion")
        .await;
}

#[tokio::test]
async fn resumes_after_the_server_is_killed() {
    let mut app = TestApp::spawn().await;
    let len = 6 * MIB;
    let data = gen_bytes(31, len as usize);
    let location = app.tus_create(len, "killed.bin").await;
    let first = (2 * MIB) as usize;
    app.tus_patch(&location, 0, data[..first].to_vec())
        .await
        .expect_status(204);
    // A PATCH in flight (1 of its 4 MiB sent) when the server dies.
    let stream = raw_patch(
        &app,
        &location,
        first as u64,
        4 * MIB,
        &data[first..first + MIB as usize],
    )
    .await;
    let staging = poll_until(Duration::from_secs(10), || async {
        !app.tmp_files().is_empty()
    })
    .await;
    assert!(staging, "the in-flight PATCH should be staging its bytes");
    app.kill9_and_restart().await;
    drop(stream);
    assert_eq!(
        app.tus_offset(&location).await,
        first as u64,
        "only committed PATCHes count"
    );
    app.assert_tmp_empty(Duration::from_secs(5), "after the restart")
        .await;
    let resp = app
        .tus_patch(&location, first as u64, data[first..].to_vec())
        .await;
    resp.expect_status(204);
    let id = file_id_of(&resp);
    assert_file_bytes(&app, &id, &sha256_hex(&data), len).await;
    assert_eq!(app.list_files("").await["total"], 1);
}

#[tokio::test]
async fn of_two_patches_at_the_same_offset_exactly_one_lands() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "watcher").await;
    let len = 2 * MIB;
    let data = Bytes::from(gen_bytes(41, len as usize));
    let location = app.tus_create(len, "race.bin").await;
    let upload_id = json!(upload_id_of(&location));
    let (go, wait) = tokio::sync::watch::channel(false);
    // Each body sends half, then waits until both requests are past their offset check
    // (each has announced upload.started), so both race for the commit.
    let body = |mut wait: tokio::sync::watch::Receiver<bool>| {
        let half = data.len() / 2;
        let (a, b) = (data.slice(..half), data.slice(half..));
        let rest = async move {
            let _ = wait.wait_for(|go| *go).await;
            Ok::<_, std::io::Error>(b)
        };
        reqwest::Body::wrap_stream(
            futures_util::stream::iter([Ok::<_, std::io::Error>(a)])
                .chain(futures_util::stream::once(rest)),
        )
    };
    let patch = |wait| {
        app.send(
            app.tus(Method::PATCH, &location, &app.admin_token)
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .header(CONTENT_LENGTH, len)
                .header("Upload-Offset", 0)
                .body(body(wait)),
        )
    };
    let release = async {
        for n in 0..2 {
            ws_until(&mut ws, EVENT_WAIT, &format!("upload.started #{n}"), |f| {
                event_is("upload.started", "upload_id", &upload_id)(f)
            })
            .await;
        }
        go.send(true).expect("bodies waiting");
    };
    let (r1, r2, ()) = tokio::join!(patch(wait.clone()), patch(wait), release);
    let mut statuses = [r1.status.as_u16(), r2.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 409], "{r1:?}\n{r2:?}");
    let winner = if r1.status == 204 { &r1 } else { &r2 };
    let loser = if r1.status == 204 { &r2 } else { &r1 };
    assert_error(loser, 409, "offset_mismatch");
    let id = file_id_of(winner);
    assert_file_bytes(&app, &id, &sha256_hex(&data), len).await;
    assert_eq!(app.list_files("").await["total"], 1);
    app.assert_no_upload_parts(Duration::from_secs(5), "after the race")
        .await;
}

#[tokio::test]
async fn a_checksum_mismatch_is_460_and_keeps_nothing() {
    let app = TestApp::spawn().await;
    let data = gen_bytes(51, 100_000);
    let location = app.tus_create(data.len() as u64, "sum.bin").await;
    let patch = |offset: u64, body: &[u8], checksum: String| {
        app.send(
            app.tus_patch_request(&location, offset, body.to_vec())
                .header("Upload-Checksum", checksum),
        )
    };
    let (a, b) = data.split_at(60_000);
    let wrong = format!("sha256 {}", b64(&Sha256::digest(b"something else")));
    let resp = patch(0, a, wrong).await;
    assert_eq!(resp.status.as_u16(), 460, "{resp:?}");
    assert_eq!(resp.body["error"]["code"], "checksum_mismatch", "{resp:?}");
    assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(app.tus_offset(&location).await, 0);
    let resp = patch(0, a, "md5 AAAA".into()).await;
    assert_error(&resp, 400, "bad_request");
    assert_eq!(app.tus_offset(&location).await, 0);
    app.assert_tmp_empty(Duration::from_secs(5), "after the mismatch")
        .await;

    let resp = patch(0, a, format!("sha256 {}", b64(&Sha256::digest(a)))).await;
    resp.expect_status(204);
    assert_eq!(header_u64(&resp, "upload-offset"), 60_000);
    let sha1 = b64(&sha1::Sha1::digest(b));
    let resp = patch(60_000, b, format!("sha1 {sha1}")).await;
    resp.expect_status(204);
    assert_file_bytes(
        &app,
        &file_id_of(&resp),
        &sha256_hex(&data),
        data.len() as u64,
    )
    .await;
}

#[tokio::test]
async fn over_the_limit_is_413_and_keeps_nothing() {
    let app = TestApp::spawn_with(&["--max-upload-bytes", "1048576"], &[]).await;
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &app.admin_token)
                .header("Upload-Length", MIB + 1)
                .header("Upload-Metadata", tus_metadata("big.bin", &[])),
        )
        .await;
    assert_error(&resp, 413, "payload_too_large");
    assert_eq!(
        app.get("/api/uploads", &app.admin_token).await.body["total"],
        0
    );

    let location = app.tus_create(1000, "small.bin").await;
    // Declared too long up front.
    let resp = app.tus_patch(&location, 0, vec![7; 1001]).await;
    assert_error(&resp, 413, "payload_too_large");
    assert_eq!(app.tus_offset(&location).await, 0);
    // Too long only while streaming (chunked, no Content-Length).
    let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![7u8; 300])));
    let resp = app
        .send(
            app.tus(Method::PATCH, &location, &app.admin_token)
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .header("Upload-Offset", 0)
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                ))),
        )
        .await;
    assert_error(&resp, 413, "payload_too_large");
    assert_eq!(app.tus_offset(&location).await, 0);
    // Creation with more data than Upload-Length: no upload at all.
    let resp = app
        .send(
            app.tus(Method::POST, "/api/uploads", &app.admin_token)
                .header("Upload-Length", 10)
                .header("Upload-Metadata", tus_metadata("x.bin", &[]))
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .body(vec![1; 11]),
        )
        .await;
    assert_error(&resp, 413, "payload_too_large");
    assert_eq!(
        app.get("/api/uploads", &app.admin_token).await.body["total"],
        1
    );
    app.assert_no_upload_parts(Duration::from_secs(5), "after the refusals")
        .await;
    app.assert_tmp_empty(Duration::from_secs(5), "after the refusals")
        .await;
}

#[tokio::test]
async fn termination_deletes_the_upload_and_its_bytes() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "watcher").await;
    let location = app.tus_create(10_000, "gone.bin").await;
    let upload_id = json!(upload_id_of(&location));
    app.tus_patch(&location, 0, vec![3; 4000])
        .await
        .expect_status(204);
    assert!(!app.upload_part_files().is_empty(), "a part is stored");
    let resp = app
        .send(app.tus(Method::DELETE, &location, &app.admin_token))
        .await;
    resp.expect_status(204);
    assert_eq!(resp.header("tus-resumable"), Some("1.0.0"));
    let (_, aborted) = ws_until(&mut ws, EVENT_WAIT, "upload.aborted", |f| {
        event_is("upload.aborted", "upload_id", &upload_id)(f)
    })
    .await;
    assert_ephemeral(
        &aborted,
        "upload.aborted",
        &[
            "upload_id",
            "file_id",
            "bytes_sent",
            "bytes_total",
            "reason",
        ],
    );
    assert_eq!(aborted["data"]["reason"], "cancelled");
    assert_eq!(aborted["data"]["bytes_sent"], 4000);
    let resp = app.tus_head(&location).await;
    assert_eq!(resp.status.as_u16(), 404);
    let resp = app.tus_patch(&location, 4000, vec![3; 10]).await;
    assert_error(&resp, 404, "not_found");
    let resp = app
        .send(app.tus(Method::DELETE, &location, &app.admin_token))
        .await;
    assert_error(&resp, 404, "not_found");
    app.assert_no_upload_parts(Duration::from_secs(5), "after termination")
        .await;
    assert_eq!(
        app.get("/api/uploads", &app.admin_token).await.body["total"],
        0
    );
}

#[tokio::test]
async fn expired_uploads_are_swept_with_their_parts() {
    let app = TestApp::spawn_with(
        &[
            "--upload-expiry-secs",
            "2",
            "--file-sweep-interval-secs",
            "1",
        ],
        &[],
    )
    .await;
    let (mut ws, _) = app.ws(&app.admin_token, "watcher").await;
    let location = app.tus_create(10_000, "stale.bin").await;
    let upload_id = json!(upload_id_of(&location));
    let resp = app.tus_patch(&location, 0, vec![5; 2000]).await;
    resp.expect_status(204);
    let expires = parse_http_date(resp.header("upload-expires").expect("Upload-Expires"));
    assert!(
        expires <= chrono::Utc::now() + chrono::Duration::seconds(3),
        "{expires}"
    );
    assert!(!app.upload_part_files().is_empty(), "a part is stored");
    let (_, aborted) = ws_until(&mut ws, EVENT_WAIT, "upload.aborted", |f| {
        event_is("upload.aborted", "upload_id", &upload_id)(f)
    })
    .await;
    assert_eq!(aborted["data"]["reason"], "expired", "{aborted}");
    let resp = app.tus_head(&location).await;
    assert_eq!(resp.status.as_u16(), 404, "{resp:?}");
    assert_eq!(
        app.get("/api/uploads", &app.admin_token).await.body["total"],
        0
    );
    app.assert_no_upload_parts(Duration::from_secs(5), "after expiry")
        .await;
    assert_eq!(app.list_files("").await["total"], 0);
}

#[tokio::test]
async fn progress_pause_and_completion_events() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "watcher").await;
    let len = 2 * MIB;
    let data = Bytes::from(gen_bytes(61, len as usize));
    let location = app.tus_create(len, "events.bin").await;
    let upload_id = json!(upload_id_of(&location));
    let half = (len / 2) as usize;

    // First half, paced so that it lasts long enough to report progress.
    let pieces: Vec<Bytes> = (0..8)
        .map(|i| data.slice(i * half / 8..(i + 1) * half / 8))
        .collect();
    let paced = futures_util::stream::iter(pieces).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    let resp = app
        .send(
            app.tus(Method::PATCH, &location, &app.admin_token)
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .header(CONTENT_LENGTH, half)
                .header("Upload-Offset", 0)
                .body(reqwest::Body::wrap_stream(paced)),
        )
        .await;
    resp.expect_status(204);
    let (before, paused) = ws_until(&mut ws, EVENT_WAIT, "upload.paused", |f| {
        event_is("upload.paused", "upload_id", &upload_id)(f)
    })
    .await;
    let started = before
        .iter()
        .find(|f| f["type"] == "upload.started")
        .unwrap_or_else(|| panic!("no upload.started before upload.paused: {before:?}"));
    assert_ephemeral(
        started,
        "upload.started",
        &["upload_id", "file_id", "name", "bytes_total", "range_start"],
    );
    let file_id = started["data"]["file_id"].clone();
    assert_eq!(
        started["data"],
        json!({"upload_id": upload_id, "file_id": file_id, "name": "events.bin",
               "bytes_total": len, "range_start": 0})
    );
    let progress: Vec<&Value> = before
        .iter()
        .filter(|f| f["type"] == "upload.progress")
        .collect();
    assert!(
        !progress.is_empty(),
        "a paced PATCH reports progress: {before:?}"
    );
    for p in &progress {
        assert_eq!(p["data"]["upload_id"], upload_id);
        assert_eq!(p["data"]["bytes_total"], len);
        assert!(
            p["data"]["bytes_sent"]
                .as_u64()
                .is_some_and(|b| b <= half as u64)
        );
    }
    assert_ephemeral(
        &paused,
        "upload.paused",
        &["upload_id", "file_id", "bytes_sent", "bytes_total"],
    );
    assert_eq!(
        paused["data"],
        json!({"upload_id": upload_id, "file_id": file_id, "bytes_sent": half,
               "bytes_total": len})
    );

    // Second half: started at the offset, then the file.
    let resp = app
        .tus_patch(&location, half as u64, data[half..].to_vec())
        .await;
    resp.expect_status(204);
    assert_eq!(json!(file_id_of(&resp)), file_id);
    let (before, created) = ws_until(&mut ws, EVENT_WAIT, "file.created", |f| {
        f["type"] == "file.created"
    })
    .await;
    assert_durable(&created, "file.created");
    assert_eq!(created["data"]["id"], file_id);
    assert_eq!(created["data"]["sha256"], sha256_hex(&data).as_str());
    assert_eq!(created["actor"], admin_actor(&app));
    let started = before
        .iter()
        .find(|f| f["type"] == "upload.started")
        .unwrap_or_else(|| panic!("no second upload.started: {before:?}"));
    assert_eq!(started["data"]["range_start"], half);
    assert!(
        before
            .iter()
            .all(|f| f["type"] != "upload.paused" && f["type"] != "upload.aborted"),
        "a completing PATCH neither pauses nor aborts: {before:?}"
    );
}

#[tokio::test]
async fn a_dropped_patch_announces_a_pause_at_the_durable_offset() {
    let app = TestApp::spawn().await;
    let (mut ws, _) = app.ws(&app.admin_token, "watcher").await;
    let location = app.tus_create(4 * MIB, "drop.bin").await;
    let upload_id = json!(upload_id_of(&location));
    let data = gen_bytes(71, MIB as usize);
    drop(raw_patch(&app, &location, 0, 2 * MIB, &data).await);
    let (_, paused) = ws_until(&mut ws, EVENT_WAIT, "upload.paused", |f| {
        event_is("upload.paused", "upload_id", &upload_id)(f)
    })
    .await;
    assert_eq!(paused["data"]["bytes_sent"], MIB, "{paused}");
    assert_eq!(app.tus_offset(&location).await, MIB);
}
