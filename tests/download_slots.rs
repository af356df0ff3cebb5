//! Download slots: a limited share link lets a client into a download only if that download can
//! be counted, so no admitted client is cut off near the end, on one instance or on several
//! sharing one PostgreSQL database. The cross-instance test runs only with
//! `SWITCHBOARD_TEST_DB=postgres`; otherwise it prints a note and passes without doing anything.

mod common;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use common::files::*;
use common::*;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;
/// `max_downloads` of the contended link.
const MAX: i64 = 3;
/// Concurrent clients of the contended link.
const CLIENTS: usize = 10;

/// What one client of a limited link got.
#[derive(Debug)]
enum Got {
    /// A 200, read as far as it went.
    Body(Streamed),
    /// A 429 `download_limit_in_flight` with its `Retry-After`.
    Busy,
    /// A 410 `gone`.
    Gone,
}

fn link_path(link: &Value) -> String {
    format!("/d/{}", str_field(link, "token"))
}

/// Reads a response to a download of the file generated from `seed`, checking the refusals'
/// shapes.
async fn outcome(response: reqwest::Response, seed: u64) -> Got {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if status == 200 {
        return Got::Body(read_streamed(response, Some((seed, 0))).await);
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        429 => {
            assert_eq!(
                body["error"]["code"], "download_limit_in_flight",
                "429 body: {body}"
            );
            let secs: u64 = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("429 needs an integer Retry-After: {headers:?}"));
            assert!(secs >= 1, "Retry-After >= 1, got {secs}");
            Got::Busy
        }
        410 => {
            assert_eq!(body["error"]["code"], "gone", "410 body: {body}");
            Got::Gone
        }
        other => panic!("unexpected {other} for a limited link download: {body}"),
    }
}

/// Asserts that a 200 carried the whole file, byte-exact.
#[track_caller]
fn assert_complete(s: &Streamed, size: u64, sha: &str) {
    assert!(
        s.status == 200 && s.len == size && s.error.is_none() && s.mismatch_at.is_none(),
        "an admitted download must complete, byte-exact ({size} bytes): {s:?}"
    );
    assert_eq!(s.sha256, sha, "a complete body has the file's sha256");
}

/// `CLIENTS` GETs of `urls` (round robin) at once. Each client holds its response, body unread,
/// until every client has one: the admitted downloads are all in flight while the others ask.
/// Then each reads its body to the end.
async fn concurrent_downloads(urls: &[String], seed: u64) -> Vec<Got> {
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let url = urls[i % urls.len()].clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client");
            let sent = client.get(&url).send().await;
            // Waited for even on failure, so the others are not left hanging.
            barrier.wait().await;
            let response = sent.unwrap_or_else(|e| panic!("GET {url} failed: {e:?}"));
            outcome(response, seed).await
        }));
    }
    let all = async {
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.expect("client task"));
        }
        got
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("the concurrent downloads finish within 120 s")
}

/// The link `link` of `file_id` as listed by the API of `app`.
async fn link_count(app: &TestApp, file_id: &str, link: &Value) -> i64 {
    app.find_link(file_id, &str_field(link, "token"))
        .await
        .unwrap_or_else(|| panic!("link missing from the list of file {file_id}"))["download_count"]
        .as_i64()
        .expect("download_count")
}

/// 10 clients race for a 2 MiB file behind a link with `max_downloads=3`, spread over `apps`
/// (instances on one database). Every client gets the whole file or a clean refusal, and every
/// complete body is counted; further downloads then spend the link exactly.
async fn contended_link(apps: &[&TestApp], seed: u64) {
    let app = apps[0];
    let size = 2 * MIB;
    let sha = gen_sha256(seed, size);
    let file = app.upload_generated("contended.bin", seed, size).await;
    let id = id_of(&file);
    let link = app.create_link(&id, &json!({"max_downloads": MAX})).await;
    let path = link_path(&link);
    let urls: Vec<String> = apps.iter().map(|a| a.url(&path)).collect();

    let got = concurrent_downloads(&urls, seed).await;
    let summary: Vec<String> = got
        .iter()
        .map(|g| match g {
            Got::Body(s) => format!("200 with {} bytes (error {:?})", s.len, s.error),
            Got::Busy => "429".to_owned(),
            Got::Gone => "410".to_owned(),
        })
        .collect();
    eprintln!("outcomes of {CLIENTS} concurrent link downloads: {summary:?}");
    let mut complete = 0;
    for g in &got {
        if let Got::Body(s) = g {
            assert_complete(s, size, &sha);
            complete += 1;
        }
    }
    assert!(
        complete <= MAX,
        "at most max_downloads complete bodies: {summary:?}"
    );
    // The count commits before the last chunk goes out, so it is visible by now.
    assert_eq!(
        link_count(app, &id, &link).await,
        complete,
        "every complete body is counted, nothing else: {summary:?}"
    );

    // The rest of the link, one download at a time, then 410 on every instance.
    loop {
        let response = app
            .client
            .get(app.url(&path))
            .send()
            .await
            .expect("download request");
        match outcome(response, seed).await {
            Got::Body(s) => {
                assert_complete(&s, size, &sha);
                complete += 1;
                assert!(complete <= MAX, "more than max_downloads complete bodies");
            }
            Got::Gone => break,
            Got::Busy => panic!("429 with nothing in flight: a slot was left behind"),
        }
    }
    assert_eq!(complete, MAX, "the link serves exactly max_downloads");
    for a in apps {
        let response = a.client.get(a.url(&path)).send().await.expect("request");
        assert!(matches!(outcome(response, seed).await, Got::Gone));
    }
    assert_eq!(link_count(app, &id, &link).await, MAX);
    assert_eq!(app.get_file(&id).await["download_count"], MAX);
    let completed = app
        .event_log_after(0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "download.completed" && e["data"]["file_id"] == id.as_str())
        .count();
    assert_eq!(completed, MAX as usize, "one download.completed per count");
}

#[tokio::test]
async fn a_limited_link_admits_only_downloads_it_can_count() {
    let app = TestApp::spawn().await;
    contended_link(&[&app], 0x5107).await;
}

#[tokio::test]
async fn a_limited_link_admits_only_downloads_it_can_count_across_instances() {
    if !is_postgres() {
        eprintln!(
            "note: a_limited_link_admits_only_downloads_it_can_count_across_instances skipped: \
             multi-instance tests need a shared database (SWITCHBOARD_TEST_DB=postgres)"
        );
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_peer(&[]).await;
    share_objects(&a, &b);
    contended_link(&[&a, &b], 0x5108).await;
}

/// Instances that serve files share `objects/` (README, "Deploying on PostgreSQL with several
/// instances"): point `b`'s at `a`'s.
fn share_objects(a: &TestApp, b: &TestApp) {
    if common::store::is_s3() {
        return; // one bucket prefix already
    }
    let theirs = b.data_path().join("objects");
    std::fs::remove_dir(&theirs).expect("the peer's objects/ is still empty");
    std::os::unix::fs::symlink(a.data_path().join("objects"), &theirs).expect("symlink objects/");
}

#[tokio::test]
async fn an_aborted_download_frees_its_slot() {
    let app = TestApp::spawn().await;
    let seed = 0x510A;
    // Large enough that the socket buffers cannot take the whole file while the client waits.
    let size = 16 * MIB;
    let sha = gen_sha256(seed, size);
    let file = app.upload_generated("abandoned.bin", seed, size).await;
    let id = id_of(&file);
    let link = app.create_link(&id, &json!({"max_downloads": 1})).await;
    let path = link_path(&link);

    // A takes the only slot and reads part of the file.
    let response = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .expect("download request");
    assert_eq!(
        response.status().as_u16(),
        200,
        "the first client is admitted"
    );
    let mut stream = response.bytes_stream();
    let mut read = 0;
    while read < 256 * 1024 {
        read += stream
            .next()
            .await
            .expect("more body")
            .expect("body chunk")
            .len();
    }
    // While A holds it, nobody else gets in.
    let response = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .expect("request");
    assert!(matches!(outcome(response, seed).await, Got::Busy));

    // A goes away: its slot is freed, well before its lease could lapse (60 s).
    drop(stream);
    let admitted = RefCell::new(None);
    let freed = poll_until(Duration::from_secs(20), || {
        let (app, path, admitted) = (&app, &path, &admitted);
        async move {
            let response = app.client.get(app.url(path)).send().await.expect("request");
            match outcome(response, seed).await {
                Got::Busy => false,
                other => {
                    *admitted.borrow_mut() = Some(other);
                    true
                }
            }
        }
    })
    .await;
    assert!(freed, "an aborted download's slot is freed within 20 s");
    match admitted.into_inner() {
        Some(Got::Body(s)) => assert_complete(&s, size, &sha),
        other => panic!("the next client is admitted and completes: {other:?}"),
    }
    assert_eq!(link_count(&app, &id, &link).await, 1);
    let response = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .expect("request");
    assert!(matches!(outcome(response, seed).await, Got::Gone));
}
