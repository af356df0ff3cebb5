//! ZIP bundles (docs/API.md §5.7): `POST /api/files/archive` and the ticket URL of
//! `POST /api/files/archive-url`. Archives are unpacked with the system's `unzip` and compared
//! byte for byte with what was uploaded; counting, aborts and events are watched on the API and
//! the WebSocket.
//!
//! Nothing sleeps to synchronise: waits are for frames, responses, or polls with a deadline. (The
//! only timed pauses pace a client's reads so a transfer lasts long enough to report progress.)

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::files::*;
use common::*;
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;
const UNZIP: &str = "/usr/bin/unzip";
const EVENT_WAIT: Duration = Duration::from_secs(15);

/// An uploaded file and the bytes it should unpack to.
struct Uploaded {
    file: Value,
    bytes: Vec<u8>,
}

impl Uploaded {
    fn id(&self) -> String {
        id_of(&self.file)
    }
}

async fn upload(app: &TestApp, name: &str, bytes: Vec<u8>) -> Uploaded {
    let file = app.upload_bytes(name, &bytes).await;
    assert_eq!(file["sha256"], sha256_hex(&bytes), "{file}");
    Uploaded { file, bytes }
}

/// Same names (twice, and once in other case), a non-ASCII name, an empty file and a 24 MiB one
/// (last, so a paused client holds the server well before the end of the archive).
async fn upload_set(app: &TestApp) -> Vec<(Uploaded, &'static str)> {
    vec![
        (
            upload(app, "notes.txt", b"first notes\n".to_vec()).await,
            "notes.txt",
        ),
        (
            upload(app, "notes.txt", b"second notes, other bytes\n".to_vec()).await,
            "notes (2).txt",
        ),
        (
            upload(app, "NOTES.TXT", b"third".to_vec()).await,
            "NOTES (3).TXT",
        ),
        (
            upload(app, "résumé 日本語.txt", "ünïcødé ✓\n".as_bytes().to_vec()).await,
            "résumé 日本語.txt",
        ),
        (upload(app, "empty.dat", Vec::new()).await, "empty.dat"),
        (
            upload(app, "big.bin", gen_bytes(0x21B, 24 * MIB as usize)).await,
            "big.bin",
        ),
    ]
}

fn ids_of<'a>(files: impl IntoIterator<Item = &'a Uploaded>) -> Vec<String> {
    files.into_iter().map(Uploaded::id).collect()
}

fn archive_request(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
    let mut req = app.req(Method::POST, "/api/files/archive").json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req
}

async fn start_archive(app: &TestApp, body: &Value) -> reqwest::Response {
    let response = archive_request(app, Some(&app.admin_token), body)
        .send()
        .await
        .expect("archive request");
    assert_eq!(response.status().as_u16(), 200, "archive status");
    response
}

/// Reads the rest of `stream` into `path`, after `head`; returns the archive's length.
async fn save(
    head: &[u8],
    mut stream: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    path: &Path,
) -> u64 {
    let mut out = std::fs::File::create(path).expect("create archive file");
    out.write_all(head).expect("write archive");
    let mut len = head.len() as u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("archive body chunk");
        out.write_all(&chunk).expect("write archive");
        len += chunk.len() as u64;
    }
    out.sync_all().expect("sync archive");
    len
}

/// `unzip` in a UTF-8 locale (so UTF-8 entry names come out as they are).
fn unzip(args: &[&str]) -> std::process::Output {
    Command::new(UNZIP)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("running {UNZIP}: {e}"))
}

/// `unzip -t` passes, and the entry names in archive order.
fn check_archive(path: &Path) -> Vec<String> {
    let p = path.to_str().expect("utf-8 path");
    let tested = unzip(&["-t", p]);
    let report = String::from_utf8_lossy(&tested.stdout).into_owned()
        + &String::from_utf8_lossy(&tested.stderr);
    assert!(
        tested.status.success() && report.contains("No errors detected"),
        "unzip -t failed ({}): {report}",
        tested.status
    );
    assert!(
        !report.contains("warning"),
        "unzip -t warned about the archive: {report}"
    );
    let listed = unzip(&["-Z1", p]);
    assert!(listed.status.success(), "unzip -Z1: {listed:?}");
    String::from_utf8(listed.stdout)
        .expect("utf-8 listing")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Unpacks `archive` into a fresh directory and returns every file in it with its bytes.
fn unpack(archive: &Path, into: &Path) -> HashMap<String, Vec<u8>> {
    let out = unzip(&[
        "-q",
        archive.to_str().expect("utf-8 path"),
        "-d",
        into.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "unzip: {out:?}");
    files_under(into)
        .into_iter()
        .map(|p: PathBuf| {
            let rel = p
                .strip_prefix(into)
                .expect("under the target")
                .to_str()
                .expect("utf-8 name")
                .to_owned();
            let bytes = std::fs::read(&p).expect("read unpacked file");
            (rel, bytes)
        })
        .collect()
}

/// Whether the archive ends with ZIP64 end records (signature `PK\x06\x06` near the end).
fn has_zip64_end(path: &Path) -> bool {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(path).expect("open archive");
    let len = f.metadata().expect("metadata").len();
    let tail = len.min(256);
    f.seek(SeekFrom::Start(len - tail)).expect("seek");
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).expect("read tail");
    buf.windows(4).any(|w| w == b"PK\x06\x06")
}

async fn counts(app: &TestApp, ids: &[String]) -> Vec<i64> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            app.get_file(id).await["download_count"]
                .as_i64()
                .expect("download_count"),
        );
    }
    out
}

async fn completed_events_for(app: &TestApp, file_id: &str) -> Vec<Value> {
    app.event_log_after(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "download.completed" && e["data"]["file_id"] == file_id)
        .collect()
}

/// Reads from `stream` until at least `n` bytes came; returns them.
async fn read_at_least(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    n: usize,
) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let chunk = stream
            .next()
            .await
            .expect("more archive body")
            .expect("archive body chunk");
        got.extend_from_slice(&chunk);
    }
    got
}

// ============================================================================= the archive

#[tokio::test]
async fn archive_unpacks_byte_exact_with_unique_names_and_counts_only_once_complete() {
    let app = TestApp::spawn().await;
    let set = upload_set(&app).await;
    let ids = ids_of(set.iter().map(|(u, _)| u));
    let dir = tempfile::tempdir().expect("tempdir");

    let response = start_archive(&app, &json!({"ids": ids, "name": "Bundle 2026"})).await;
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {headers:?}"))
    };
    assert_eq!(header("content-type"), "application/zip");
    assert_disposition_names(header("content-disposition"), "Bundle 2026.zip");
    assert_eq!(header("cache-control"), "private, no-cache");

    // Part way through (the server is held back by the client), nothing is counted yet.
    let mut stream = response.bytes_stream();
    let head = read_at_least(&mut stream, MIB as usize).await;
    assert_eq!(&head[..4], b"PK\x03\x04", "starts with a local file header");
    assert_eq!(counts(&app, &ids).await, vec![0; ids.len()]);
    assert!(completed_events_for(&app, &ids[0]).await.is_empty());

    let path = dir.path().join("bundle.zip");
    let len = save(&head, stream, &path).await;
    let data: u64 = set.iter().map(|(u, _)| u.bytes.len() as u64).sum();
    assert!(
        len > data && len < data + 4096,
        "stored entries: the archive ({len} bytes) is the data ({data}) plus small headers"
    );

    // Every file counted exactly once, with its own download.completed, as the admin, via "api".
    for id in &ids {
        app.wait_download_count(id, 1, Duration::from_secs(10))
            .await;
        let events = completed_events_for(&app, id).await;
        assert_eq!(
            events.len(),
            1,
            "one download.completed for {id}: {events:?}"
        );
        assert_eq!(events[0]["data"]["via"], "api");
        assert_eq!(events[0]["actor"], admin_actor(&app));
    }

    // unzip agrees it is whole, lists the deduplicated names in order, and unpacks the bytes.
    let expected: Vec<&str> = set.iter().map(|(_, name)| *name).collect();
    assert_eq!(check_archive(&path), expected);
    assert!(
        !has_zip64_end(&path),
        "a small archive needs no ZIP64 records"
    );
    let unpacked = unpack(&path, &dir.path().join("out"));
    assert_eq!(unpacked.len(), set.len(), "{:?}", unpacked.keys());
    for (uploaded, name) in &set {
        let got = unpacked
            .get(*name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", unpacked.keys()));
        assert_eq!(got.len(), uploaded.bytes.len(), "{name}: length");
        assert_eq!(sha256_hex(got), uploaded.file["sha256"], "{name}: sha256");
        assert!(got == &uploaded.bytes, "{name}: bytes differ");
    }

    // A second archive is a second download of each file.
    let response = start_archive(&app, &json!({"ids": [ids[0], ids[4]]})).await;
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .expect("content-disposition")
        .to_owned();
    let default_name = format!("files-{}.zip", chrono::Utc::now().format("%Y-%m-%d"));
    assert_disposition_names(&disposition, &default_name);
    let path = dir.path().join("second.zip");
    save(&[], response.bytes_stream(), &path).await;
    assert_eq!(check_archive(&path), ["notes.txt", "empty.dat"]);
    app.wait_download_count(&ids[0], 2, Duration::from_secs(10))
        .await;
    app.wait_download_count(&ids[4], 2, Duration::from_secs(10))
        .await;
    assert_eq!(counts(&app, &ids[1..4]).await, vec![1, 1, 1]);
}

#[tokio::test]
async fn client_leaving_mid_archive_counts_nothing_and_frees_the_slots() {
    let app = TestApp::spawn().await;
    let small = upload(&app, "small.txt", b"small".to_vec()).await;
    let big = upload(&app, "big.bin", gen_bytes(0xB16, 24 * MIB as usize)).await;
    // A limit of one: the abandoned archive must give its slot back.
    app.patch(
        &format!("/api/files/{}", big.id()),
        &app.admin_token,
        &json!({"max_downloads": 1}),
    )
    .await
    .expect_status(200);
    let ids = vec![small.id(), big.id()];
    let (mut ws, _) = app.ws(&app.admin_token, "abort").await;

    let response = start_archive(&app, &json!({"ids": ids})).await;
    let mut stream = response.bytes_stream();
    read_at_least(&mut stream, MIB as usize).await;
    drop(stream); // the client goes away

    // Both files had started; both end aborted, neither completed.
    let mut started = HashMap::new();
    let mut aborted = HashMap::new();
    while aborted.len() < 2 {
        let f = ws.next_json_within(EVENT_WAIT, "download.aborted").await;
        let data = &f["data"];
        match f["type"].as_str() {
            Some("download.started") => {
                assert_eq!(data["via"], "api", "{f}");
                started.insert(str_field(data, "file_id"), data["download_id"].clone());
            }
            Some("download.aborted") => {
                let file_id = str_field(data, "file_id");
                assert_eq!(
                    started.get(&file_id),
                    Some(&data["download_id"]),
                    "aborted after its start: {f}"
                );
                assert_eq!(data["reason"], "client_gone", "{f}");
                aborted.insert(file_id, data.clone());
            }
            Some("download.progress") | Some("presence.joined") | Some("presence.left") => {}
            _ => panic!("unexpected frame while the archive streams: {f}"),
        }
    }
    assert_eq!(aborted[&small.id()]["bytes_sent"], 5);
    let big_sent = aborted[&big.id()]["bytes_sent"]
        .as_u64()
        .expect("bytes_sent");
    assert!(big_sent < 24 * MIB, "big.bin was not all sent: {big_sent}");
    let extra = ws.ping_barrier().await;
    assert!(extra.iter().all(is_presence), "nothing after: {extra:?}");
    assert_eq!(counts(&app, &ids).await, vec![0, 0]);
    for id in &ids {
        assert!(completed_events_for(&app, id).await.is_empty());
    }

    // The slot is free again (polled: the abandoned stream lets go of it asynchronously).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("again.zip");
    let mut done = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done {
        let response = archive_request(&app, Some(&app.admin_token), &json!({"ids": ids}))
            .send()
            .await
            .expect("archive request");
        match response.status().as_u16() {
            200 => {
                save(&[], response.bytes_stream(), &path).await;
                done = true;
            }
            429 => assert!(Instant::now() < deadline, "the slot was never freed"),
            other => panic!("unexpected status {other}"),
        }
        if !done {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    assert_eq!(check_archive(&path), ["small.txt", "big.bin"]);
    for id in &ids {
        app.wait_download_count(id, 1, Duration::from_secs(10))
            .await;
    }
    // Exhausted now: 410 before any byte.
    let resp = app
        .send(archive_request(
            &app,
            Some(&app.admin_token),
            &json!({"ids": ids}),
        ))
        .await;
    assert_error(&resp, 410, "gone");
}

#[tokio::test]
async fn a_limit_reached_while_streaming_counts_no_file_of_the_archive() {
    let app = TestApp::spawn().await;
    let other = upload(&app, "other.txt", b"counted only with the rest".to_vec()).await;
    let big = upload(&app, "big.bin", gen_bytes(0x1A5, 24 * MIB as usize)).await;
    let ids = vec![other.id(), big.id()];
    let (mut ws, _) = app.ws(&app.admin_token, "limit").await;

    let response = start_archive(&app, &json!({"ids": ids})).await;
    let mut stream = response.bytes_stream();
    let mut got = read_at_least(&mut stream, MIB as usize).await;

    // Meanwhile big.bin is downloaded on its own and then limited to that one download.
    let single = app
        .download(
            Method::GET,
            &format!("/api/files/{}/download", big.id()),
            Some(&app.admin_token),
            &[],
        )
        .await;
    single.expect_status(200);
    app.wait_download_count(&big.id(), 1, Duration::from_secs(10))
        .await;
    app.patch(
        &format!("/api/files/{}", big.id()),
        &app.admin_token,
        &json!({"max_downloads": 1}),
    )
    .await
    .expect_status(200);

    // The archive then ends with an error instead of its central directory.
    let mut failed = false;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => got.extend_from_slice(&c),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the archive must not end cleanly");
    assert!(
        !got[got.len().saturating_sub(64)..]
            .windows(4)
            .any(|w| w == b"PK\x05\x06"),
        "no end of central directory was sent"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let partial = dir.path().join("partial.zip");
    std::fs::write(&partial, &got).expect("write");
    let tested = unzip(&["-t", partial.to_str().expect("utf-8")]);
    assert!(!tested.status.success(), "unzip must refuse a cut archive");

    // Neither file counted by the archive; both of its downloads end as limit_reached.
    let mut reasons = HashMap::new();
    let mut archive_ids = Vec::new();
    while reasons.len() < 2 {
        let f = ws.next_json_within(EVENT_WAIT, "download.aborted").await;
        match f["type"].as_str() {
            // The archive's two entries started before the single download did.
            Some("download.started") if archive_ids.len() < 2 => {
                archive_ids.push(f["data"]["download_id"].clone());
            }
            Some("download.aborted") => {
                assert!(archive_ids.contains(&f["data"]["download_id"]), "{f}");
                reasons.insert(
                    str_field(&f["data"], "file_id"),
                    f["data"]["reason"].clone(),
                );
            }
            _ => {}
        }
    }
    assert_eq!(reasons[&other.id()], "limit_reached");
    assert_eq!(reasons[&big.id()], "limit_reached");
    assert_eq!(counts(&app, &ids).await, vec![0, 1]);
    assert!(completed_events_for(&app, &other.id()).await.is_empty());
}

#[tokio::test]
async fn bad_requests_are_refused_before_any_byte() {
    let app = TestApp::spawn().await;
    let a = upload(&app, "a.txt", b"a".to_vec()).await;
    let limited = upload(&app, "limited.bin", gen_bytes(0x11, 8 * MIB as usize)).await;
    app.patch(
        &format!("/api/files/{}", limited.id()),
        &app.admin_token,
        &json!({"max_downloads": 1}),
    )
    .await
    .expect_status(200);
    let post = |body: Value| {
        let app = &app;
        async move {
            app.send(archive_request(app, Some(&app.admin_token), &body))
                .await
        }
    };

    // Unknown id (even next to a known one) → 404.
    let resp = post(json!({"ids": [a.id(), "no-such-file"]})).await;
    assert_error(&resp, 404, "not_found");
    // Empty, duplicated or too many ids, or a name with nothing usable → 422 on the field.
    for (body, fields) in [
        (json!({"ids": []}), vec!["ids"]),
        (json!({"ids": [a.id(), a.id()]}), vec!["ids"]),
        (
            json!({"ids": (0..1001).map(|i| format!("f{i}")).collect::<Vec<_>>()}),
            vec!["ids"],
        ),
        (json!({"ids": [a.id()], "name": "../"}), vec!["name"]),
        (json!({"ids": [], "name": " "}), vec!["ids", "name"]),
    ] {
        let resp = post(body.clone()).await;
        assert_fields(&resp, &fields);
    }
    // Malformed bodies → 400; no credentials → 401; a GET is not a download.
    for body in [
        json!({"ids": [a.id()], "extra": 1}),
        json!({"ids": [5]}),
        json!({"ids": a.id()}),
        json!({}),
    ] {
        assert_error(&post(body).await, 400, "bad_request");
    }
    let resp = app
        .send(archive_request(&app, None, &json!({"ids": [a.id()]})))
        .await;
    assert_error(&resp, 401, "unauthorized");

    // While the only remaining download of a limited file is in flight → 429; once it is
    // counted, the file is exhausted → 410.
    let single = app
        .req(
            Method::GET,
            &format!("/api/files/{}/download", limited.id()),
        )
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download");
    assert_eq!(single.status().as_u16(), 200);
    let mut single = single.bytes_stream();
    let head = read_at_least(&mut single, 64 * 1024).await;
    let resp = post(json!({"ids": [a.id(), limited.id()]})).await;
    assert_error(&resp, 429, "download_limit_in_flight");
    assert_retry_after(&resp);
    let mut len = head.len();
    while let Some(chunk) = single.next().await {
        len += chunk.expect("chunk").len();
    }
    assert_eq!(len as u64, 8 * MIB);
    app.wait_download_count(&limited.id(), 1, Duration::from_secs(10))
        .await;
    let resp = post(json!({"ids": [a.id(), limited.id()]})).await;
    assert_error(&resp, 410, "gone");
    // None of the refused archives counted anything.
    assert_eq!(counts(&app, &[a.id()]).await, vec![0]);
}

// ============================================================================= ticket URLs

#[tokio::test]
async fn archive_url_streams_without_authorization_and_opens_only_its_archive() {
    let app = TestApp::spawn().await;
    let one = upload(&app, "one.txt", b"one".to_vec()).await;
    let two = upload(&app, "two.txt", b"two!".to_vec()).await;
    app.create_user("vera", "viewer").await;
    let login = app.login("vera", USER_PASSWORD).await;
    let token = login["access_token"].as_str().expect("access_token");
    let ids = vec![one.id(), two.id()];

    let resp = app
        .post(
            "/api/files/archive-url",
            token,
            &json!({"ids": ids, "name": "pair"}),
        )
        .await;
    resp.expect_status(200);
    let url = str_field(&resp.body, "url");
    let prefix = format!("{}/api/archives/", app.base_url());
    assert!(url.starts_with(&prefix), "{url}");
    let path = url[app.base_url().len()..].to_owned();
    let expires = chrono::DateTime::parse_from_rfc3339(&str_field(&resp.body, "expires_at"))
        .expect("expires_at")
        .with_timezone(&chrono::Utc);
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::seconds(60) && ttl <= chrono::Duration::seconds(121),
        "expires_at about two minutes ahead: {}",
        resp.body
    );

    // A plain GET, no Authorization: the archive, counted for vera.
    let dl = app.download(Method::GET, &path, None, &[]).await;
    dl.expect_status(200);
    assert_eq!(dl.must_header("content-type"), "application/zip");
    assert_disposition_names(dl.must_header("content-disposition"), "pair.zip");
    let dir = tempfile::tempdir().expect("tempdir");
    let zip = dir.path().join("pair.zip");
    std::fs::write(&zip, &dl.bytes).expect("write archive");
    assert_eq!(check_archive(&zip), ["one.txt", "two.txt"]);
    let unpacked = unpack(&zip, &dir.path().join("out"));
    assert_eq!(unpacked["one.txt"], one.bytes);
    assert_eq!(unpacked["two.txt"], two.bytes);
    for id in &ids {
        app.wait_download_count(id, 1, Duration::from_secs(10))
            .await;
        let events = completed_events_for(&app, id).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["actor"]["username"], "vera");
        assert_eq!(events[0]["data"]["via"], "api");
    }

    // Until it expires the same URL works again (like download URLs: retries, resumed tabs).
    app.download(Method::GET, &path, None, &[])
        .await
        .expect_status(200);
    app.wait_download_count(&ids[0], 2, Duration::from_secs(10))
        .await;

    // Single-purpose: an archive ticket is not a file ticket, a file ticket not an archive
    // ticket, and access tokens, forged or truncated tickets are neither.
    let archive_ticket = &path["/api/archives/".len()..];
    let resp = app
        .download(
            Method::GET,
            &format!("/api/downloads/{archive_ticket}"),
            None,
            &[],
        )
        .await
        .resp();
    assert_error(&resp, 404, "not_found");
    let file_url = app
        .post(
            &format!("/api/files/{}/download-url", one.id()),
            token,
            &json!({}),
        )
        .await;
    file_url.expect_status(200);
    let file_ticket = str_field(&file_url.body, "url")
        .rsplit('/')
        .next()
        .expect("ticket")
        .to_owned();
    for bad in [
        file_ticket,
        token.to_owned(),
        "garbage".to_owned(),
        archive_ticket[..archive_ticket.len() - 2].to_owned(),
    ] {
        let resp = app
            .download(Method::GET, &format!("/api/archives/{bad}"), None, &[])
            .await
            .resp();
        assert_error(&resp, 401, "unauthorized");
    }

    // Checked when asked for: unknown → 404, bad body → 422, no credentials → 401.
    let resp = app
        .post(
            "/api/files/archive-url",
            token,
            &json!({"ids": [one.id(), "nope"]}),
        )
        .await;
    assert_error(&resp, 404, "not_found");
    let resp = app
        .post("/api/files/archive-url", token, &json!({"ids": []}))
        .await;
    assert_fields(&resp, &["ids"]);
    let resp = app
        .post_anon("/api/files/archive-url", &json!({"ids": ids}))
        .await;
    assert_error(&resp, 401, "unauthorized");

    // The session ends: the URL stops working at once.
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
    assert_eq!(counts(&app, &ids).await, vec![2, 2]);
}

// ============================================================================= events

#[tokio::test]
async fn websocket_shows_each_file_of_the_archive_as_a_download() {
    let app = TestApp::spawn().await;
    let small = upload(&app, "small.txt", b"hello".to_vec()).await;
    let empty = upload(&app, "empty.txt", Vec::new()).await;
    let big_size = 8 * MIB;
    let big = upload(&app, "big.bin", gen_bytes(0xE4E, big_size as usize)).await;
    let files = [(&small, 5u64), (&empty, 0), (&big, big_size)];
    let ids = ids_of(files.iter().map(|(u, _)| *u));
    let (mut ws, _) = app.ws(&app.admin_token, "events").await;

    // Read at a bounded pace (~1.5 s) so progress reports are due.
    let response = start_archive(&app, &json!({"ids": ids})).await;
    let mut stream = response.bytes_stream();
    let mut len = 0usize;
    let started_at = Instant::now();
    while let Some(chunk) = stream.next().await {
        len += chunk.expect("chunk").len();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let secs = started_at.elapsed().as_secs_f64();
    assert!(len as u64 > big_size);

    // Per file: started, progress, then (only after all of them) completed + file.updated.
    let mut started: Vec<Value> = Vec::new();
    let mut progress: HashMap<String, Vec<Value>> = HashMap::new();
    let mut completed: Vec<Value> = Vec::new();
    while completed.len() < files.len() {
        let f = ws.next_json_within(EVENT_WAIT, "archive events").await;
        match f["type"].as_str() {
            Some("download.started") => {
                assert_ephemeral(
                    &f,
                    "download.started",
                    &[
                        "download_id",
                        "file_id",
                        "via",
                        "bytes_total",
                        "range_start",
                    ],
                );
                assert!(completed.is_empty(), "started after a completion: {f}");
                started.push(f);
            }
            Some("download.progress") => {
                let file_id = str_field(&f["data"], "file_id");
                progress.entry(file_id).or_default().push(f);
            }
            Some("download.completed") => {
                let seq = assert_durable(&f, "download.completed");
                assert_eq!(started.len(), files.len(), "all started before: {f}");
                let updated = ws.next_event("file.updated after download.completed").await;
                assert_eq!(assert_durable(&updated, "file.updated"), seq + 1);
                assert_eq!(updated["data"]["id"], f["data"]["file_id"]);
                assert_eq!(updated["data"]["download_count"], 1);
                completed.push(f);
            }
            Some("presence.joined") | Some("presence.left") => {}
            _ => panic!("unexpected frame: {f}"),
        }
    }
    for (i, (uploaded, size)) in files.iter().enumerate() {
        let id = uploaded.id();
        let start = &started[i];
        let download_id = start["data"]["download_id"].clone();
        assert_eq!(
            start["data"],
            json!({"download_id": download_id, "file_id": id, "via": "api",
                   "bytes_total": size, "range_start": 0}),
            "files start in archive order"
        );
        let mut last = 0;
        for p in progress.get(&id).map(Vec::as_slice).unwrap_or_default() {
            assert_ephemeral(
                p,
                "download.progress",
                &[
                    "download_id",
                    "file_id",
                    "bytes_sent",
                    "bytes_total",
                    "bytes_per_sec",
                ],
            );
            assert_eq!(p["data"]["download_id"], download_id, "{p}");
            assert_eq!(p["data"]["bytes_total"], *size, "{p}");
            let sent = p["data"]["bytes_sent"].as_u64().expect("bytes_sent");
            assert!(sent >= last && sent <= *size, "{p}");
            last = sent;
        }
        let done = completed
            .iter()
            .find(|c| c["data"]["file_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no download.completed for {id}"));
        assert_eq!(done["actor"], admin_actor(&app));
        let data = &done["data"];
        assert_eq!(data["download_id"], download_id);
        assert_eq!(data["via"], "api");
        assert_eq!(data["bytes"], *size);
        assert_eq!(data["download_count"], 1);
        assert!(data["duration_ms"].is_u64(), "{done}");
    }
    let big_progress = progress.get(&big.id()).map(Vec::len).unwrap_or(0);
    assert!(
        big_progress > 0,
        "a {secs:.1} s archive should report the big file's progress"
    );
    let all: usize = progress.values().map(Vec::len).sum();
    assert!(
        all as f64 <= secs * 4.0 * files.len() as f64 + 3.0,
        "at most 4 progress reports per second per download: {all} in {secs:.1} s"
    );
    let extra = ws.ping_barrier().await;
    assert!(extra.iter().all(is_presence), "nothing after: {extra:?}");
}

// ============================================================================= ZIP64

/// A file over 4 GiB needs ZIP64: the archive still tests and unpacks with `unzip`. Heavy (about
/// 13 GiB of disk and a few minutes): `cargo test --test files_archive -- --ignored`.
#[tokio::test]
#[ignore = "writes about 13 GiB; run explicitly"]
async fn a_file_over_4_gib_is_archived_with_zip64() {
    let app = TestApp::spawn_with(&["--max-upload-bytes", "5000000000"], &[]).await;
    let size = (4 << 30) + 3 * MIB + 17;
    let seed = 0x64;
    let huge = app.upload_generated("huge.bin", seed, size).await;
    let small = upload(&app, "after.txt", b"after the huge one".to_vec()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.zip");
    let response = start_archive(&app, &json!({"ids": [id_of(&huge), small.id()]})).await;
    let len = save(&[], response.bytes_stream(), &path).await;
    assert!(len > size, "{len}");
    app.wait_download_count(&id_of(&huge), 1, Duration::from_secs(10))
        .await;
    assert!(
        has_zip64_end(&path),
        "an archive over 4 GiB has ZIP64 end records"
    );
    assert_eq!(check_archive(&path), ["huge.bin", "after.txt"]);
    let out = dir.path().join("out");
    let extracted = unzip(&[
        "-q",
        path.to_str().expect("utf-8"),
        "-d",
        out.to_str().expect("utf-8"),
    ]);
    assert!(extracted.status.success(), "unzip: {extracted:?}");
    std::fs::remove_file(&path).expect("remove archive");
    let (got_len, got_sha) = sha256_of_file(&out.join("huge.bin"));
    assert_eq!((got_len, got_sha), (size, gen_sha256(seed, size)));
    assert_eq!(
        std::fs::read(out.join("after.txt")).expect("after.txt"),
        small.bytes
    );
}

fn sha256_of_file(path: &Path) -> (u64, String) {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    (len, hex::encode(hasher.finalize()))
}

// ============================================================================= OpenAPI

#[tokio::test]
async fn archive_operations_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let resp = app.get_anon("/api/openapi.json").await;
    resp.expect_status(200);
    let doc = &resp.body;
    let paths = doc["paths"].as_object().expect("paths");
    let op = |path: &str, method: &str| -> &Value {
        let found = paths
            .iter()
            .find(|(p, _)| p.ends_with(path))
            .unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()));
        let op = &found.1[method];
        assert!(op.is_object(), "{method} {path}: {}", found.1);
        op
    };
    let archive = op("/files/archive", "post");
    assert_eq!(archive["operationId"], "download_archive");
    assert!(archive["security"].is_array(), "bearer auth: {archive}");
    let body_types = archive["requestBody"]["content"]
        .as_object()
        .expect("request body content");
    assert!(
        body_types.keys().any(|k| k.starts_with("application/json")),
        "{archive}"
    );
    let ok = &archive["responses"]["200"];
    assert_eq!(
        ok["content"]["application/zip"]["schema"]["format"], "binary",
        "{ok}"
    );
    let headers = ok["headers"].as_object().expect("headers");
    assert!(
        headers
            .keys()
            .any(|h| h.eq_ignore_ascii_case("content-disposition")),
        "{ok}"
    );
    for status in ["400", "401", "404", "410", "422", "429"] {
        assert!(
            archive["responses"][status].is_object(),
            "POST /files/archive documents {status}"
        );
    }
    let url = op("/files/archive-url", "post");
    assert_eq!(url["operationId"], "create_archive_url");
    assert!(url["security"].is_array(), "bearer auth: {url}");
    let ticket = op("/archives/{ticket}", "get");
    assert_eq!(ticket["operationId"], "download_archive_with_ticket");
    assert!(
        ticket["responses"]["200"]["content"]["application/zip"].is_object(),
        "{ticket}"
    );
    assert!(ticket["responses"]["401"].is_object(), "{ticket}");
}
