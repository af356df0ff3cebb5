//! Two instances on one PostgreSQL database and one file store form one deployment for files
//! (README, "Storage on S3 and several instances"): what one instance stores the other serves,
//! a share link's download limit holds across both, and a delete through one is a 404 on the
//! other, with the bytes gone from the store.
//!
//! Runs with `SWITCHBOARD_TEST_DB=postgres`, sharing an S3 bucket prefix with
//! `SWITCHBOARD_TEST_STORAGE=s3` (see `.ci/s3-server`), or else the first instance's local
//! `objects/` (the peer's is a symlink to it, as a shared mount would be). Without PostgreSQL it
//! prints a note and passes without doing anything.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::files::*;
use common::*;
use serde_json::json;

const MIB: u64 = 1024 * 1024;
const JWT_SECRET: &str = "multi-instance-test-jwt-secret-0123456789";
/// `max_downloads` of the shared link, and the clients racing for it.
const MAX: i64 = 3;
const CLIENTS: usize = 10;
/// How long the racing clients may take in all.
const RACE_DEADLINE: Duration = Duration::from_secs(120);

/// True (after printing why) when these tests cannot run on this backend.
fn skip(test: &str) -> bool {
    if is_postgres() {
        return false;
    }
    eprintln!(
        "note: {test} skipped: two instances need a shared database (SWITCHBOARD_TEST_DB=postgres)"
    );
    true
}

/// Instance A and a peer B on the same database and the same store.
async fn pair() -> (TestApp, TestApp) {
    let a = TestApp::spawn_with(&["--jwt-secret", JWT_SECRET], &[]).await;
    let b = a.spawn_peer(&[]).await;
    if store::is_s3() {
        assert_eq!(
            a.env.store.storage_arg, b.env.store.storage_arg,
            "both instances use one bucket prefix"
        );
    } else {
        // The local variant: B's objects/ is A's (what a shared mount gives).
        let theirs = b.data_path().join("objects");
        std::fs::remove_dir(&theirs).expect("the peer's objects/ is still empty");
        std::os::unix::fs::symlink(a.data_path().join("objects"), &theirs)
            .expect("symlink objects/");
    }
    (a, b)
}

/// What one racing client ended with.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// A whole, byte-exact body.
    Complete,
    /// 410: the link is spent.
    Gone,
}

/// One client of the limited link at `url`: retries while the link answers 429 (its downloads
/// are all in flight), until it gets the whole file or 410.
async fn race(url: String, seed: u64, size: u64, sha: String) -> End {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(RACE_DEADLINE)
        .build()
        .expect("client");
    let deadline = Instant::now() + RACE_DEADLINE;
    loop {
        let response = client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        match response.status().as_u16() {
            200 => {
                let s = read_streamed(response, Some((seed, 0))).await;
                assert!(
                    s.len == size && s.error.is_none() && s.mismatch_at.is_none(),
                    "an admitted download must complete byte-exact ({size} bytes) from {url}: {s:?}"
                );
                assert_eq!(s.sha256, sha, "the body's sha256 from {url}");
                return End::Complete;
            }
            410 => return End::Gone,
            429 => {
                assert!(
                    Instant::now() < deadline,
                    "{url} still answers 429 after {RACE_DEADLINE:?}"
                );
                // The admitted downloads are being read; ask again shortly (a real client
                // would wait for Retry-After).
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => {
                let body = response.text().await.unwrap_or_default();
                panic!("unexpected {other} from {url}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn files_are_shared_by_instances_on_one_database_and_store() {
    if skip("files_are_shared_by_instances_on_one_database_and_store") {
        return;
    }
    let (a, b) = pair().await;

    // Uploaded through A (a multipart put of several parts on S3), downloaded through B.
    let seed = 0x3A11;
    let size = 12 * MIB + 777;
    let sha = gen_sha256(seed, size);
    let file = a.upload_generated("shared.bin", seed, size).await;
    let id = id_of(&file);
    assert_eq!(file["sha256"], sha.as_str());
    let key = a.object_key(&id);
    assert_eq!(
        b.env.store.digest(&key),
        Some((size, sha.clone())),
        "the store holds the upload byte-exact, seen from B's side"
    );
    let response = b
        .req(reqwest::Method::GET, &format!("/api/files/{id}/download"))
        .bearer_auth(&b.admin_token)
        .send()
        .await
        .expect("download through B");
    assert_eq!(response.status(), 200);
    let got = read_streamed(response, Some((seed, 0))).await;
    assert!(
        got.len == size && got.error.is_none() && got.mismatch_at.is_none(),
        "B serves A's upload byte-exact: {got:?}"
    );
    assert_eq!(got.sha256, sha);
    // A range through B, cut from the middle of a part.
    let range = b
        .download(
            reqwest::Method::GET,
            &format!("/api/files/{id}/download"),
            Some(&b.admin_token),
            &[("range", "bytes=9000000-9000099")],
        )
        .await;
    range.expect_status(206);
    assert_eq!(
        range.bytes,
        gen_bytes(seed, 9_000_100)[9_000_000..].to_vec()
    );

    // A link made on B, max_downloads 3; 10 clients at once, alternating A and B.
    let small_seed = 0x3A12;
    let small = 2 * MIB;
    let small_sha = gen_sha256(small_seed, small);
    let limited = b.upload_generated("limited.bin", small_seed, small).await;
    let limited_id = id_of(&limited);
    let link = b
        .post(
            &format!("/api/files/{limited_id}/links"),
            &b.admin_token,
            &json!({"max_downloads": MAX}),
        )
        .await;
    link.expect_status(201);
    let path = format!("/d/{}", str_field(&link.body, "token"));
    let urls = [a.url(&path), b.url(&path)];
    let start = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, sha, start) = (urls[i % 2].clone(), small_sha.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                race(url, small_seed, small, sha).await
            })
        })
        .collect();
    let mut ends = Vec::new();
    for task in tasks {
        ends.push(task.await.expect("client task"));
    }
    let complete = ends.iter().filter(|e| **e == End::Complete).count();
    eprintln!("{CLIENTS} clients of a link with max_downloads={MAX}: {ends:?}");
    assert_eq!(
        complete, MAX as usize,
        "exactly max_downloads complete: {ends:?}"
    );
    for app in [&a, &b] {
        let listed = app
            .find_link(&limited_id, &str_field(&link.body, "token"))
            .await
            .expect("the link is listed");
        assert_eq!(
            listed["download_count"], MAX,
            "the link's count on {}",
            app.addr
        );
        assert_eq!(
            app.get_file(&limited_id).await["download_count"],
            MAX,
            "the file's count on {}",
            app.addr
        );
        let spent = app.download(reqwest::Method::GET, &path, None, &[]).await;
        assert_eq!(spent.status, 410, "the spent link on {}", app.addr);
    }

    // Deleted through B: the object leaves the store, and A answers 404.
    b.delete(&format!("/api/files/{id}"), &b.admin_token)
        .await
        .expect_status(204);
    assert!(
        !a.object_files().contains(&key),
        "the deleted file's object {key} is still listed in the store: {:?}",
        a.object_files()
    );
    assert_error(
        &a.get(&format!("/api/files/{id}"), &a.admin_token).await,
        404,
        "not_found",
    );
    let dl = a
        .download(
            reqwest::Method::GET,
            &format!("/api/files/{id}/download"),
            Some(&a.admin_token),
            &[],
        )
        .await;
    assert_eq!(
        dl.status, 404,
        "download through A of a file deleted through B"
    );
    // The other file is untouched.
    assert_eq!(a.object_files(), vec![a.object_key(&limited_id)]);
}
