//! Import from a URL (docs/API.md §5.6): a server-side download task fetching from a local
//! upstream HTTP server written here (poem), with redirects, a slow route for cancelling,
//! over-size bodies and refused addresses; tasks shared through the database: interrupted by a
//! kill -9 and retried, and (PostgreSQL only) watched, cancelled and retried through another
//! instance.
//!
//! Nothing sleeps to synchronise: every wait is for a frame (with a timeout) or a poll with a
//! deadline. (The upstream's slow route trickles bytes on a timer: that shapes the load, it does
//! not synchronise the test.)

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::files::*;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;
const FILE_SEED: u64 = 0x1A9_0A7;
/// Size of `/file`, `/unknown-length` and the end of every redirect chain.
const FILE_SIZE: u64 = 5 * MIB + 17;
const BIG_SEED: u64 = 0xB16;
/// Size of `/big` and `/big-chunked` (over the 1 MiB limit of the over-size test).
const BIG_SIZE: u64 = 3 * MIB;
const SMALL_SIZE: u64 = 1000;
/// Declared length of `/slow` (never reached: it sends 1 KiB every 20 ms).
const SLOW_SIZE: u64 = 100 * MIB;
/// The stale window the tests run with (`SWITCHBOARD_TASK_STALE_SECS`), so that a dead
/// instance's task is interrupted quickly.
const STALE_SECS: u64 = 3;

const EVENT_WAIT: Duration = Duration::from_secs(15);
const TASK_WAIT: Duration = Duration::from_secs(60);

// ============================================================================= upstream server

/// A local HTTP server the imports fetch from.
struct Upstream {
    addr: SocketAddr,
    /// Paths requested so far, in order.
    hits: Arc<Mutex<Vec<String>>>,
    /// Set when a `/slow` response body is dropped (the importer went away).
    slow_dropped: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sets its flag when dropped (kept inside the `/slow` body stream).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// 1 KiB of `s` every 20 ms, up to [`SLOW_SIZE`]; `flag` is set when the body is dropped.
fn slow_body(flag: Option<DropFlag>) -> poem::Body {
    let stream = futures_util::stream::unfold((flag, 0u64), |(flag, sent)| async move {
        if sent >= SLOW_SIZE {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let chunk = Bytes::from(vec![b's'; 1024]);
        Some((Ok::<_, std::io::Error>(chunk), (flag, sent + 1024)))
    });
    poem::Body::from_bytes_stream(stream)
}

fn generated_body(seed: u64, len: u64) -> poem::Body {
    poem::Body::from_bytes_stream(gen_stream(seed, len))
}

fn sized(resp: poem::ResponseBuilder, len: u64, body: poem::Body) -> poem::Response {
    resp.header("content-length", len.to_string())
        .header("content-type", "application/octet-stream")
        .body(body)
}

impl Upstream {
    async fn start() -> Upstream {
        use poem::listener::{Acceptor as _, Listener as _};
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind upstream");
        let addr = *acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr())
            .expect("upstream address");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let slow_dropped = Arc::new(AtomicBool::new(false));
        let (ep_hits, ep_dropped) = (hits.clone(), slow_dropped.clone());
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let hits = ep_hits.clone();
            let dropped = ep_dropped.clone();
            async move {
                let path = req.uri().path().to_owned();
                hits.lock().expect("hits").push(path.clone());
                let ok = poem::Response::builder().status(poem::http::StatusCode::OK);
                let redirect = |to: String| {
                    poem::Response::builder()
                        .status(poem::http::StatusCode::FOUND)
                        .header("location", to)
                        .body(poem::Body::empty())
                };
                match path.as_str() {
                    "/file" => sized(ok, FILE_SIZE, generated_body(FILE_SEED, FILE_SIZE)),
                    "/small" => sized(ok, SMALL_SIZE, generated_body(FILE_SEED, SMALL_SIZE)),
                    "/unknown-length" => ok
                        .header("content-type", "application/octet-stream")
                        .body(generated_body(FILE_SEED, FILE_SIZE)),
                    "/big" => sized(ok, BIG_SIZE, generated_body(BIG_SEED, BIG_SIZE)),
                    "/big-chunked" => ok.body(generated_body(BIG_SEED, BIG_SIZE)),
                    "/redirect" => redirect(format!("http://{addr}/file")),
                    "/redirect-relative" => redirect("/file".to_owned()),
                    // The first request of each `/once-slow/<key>` trickles like `/slow` (to be
                    // killed mid-fetch); the next ones serve `/file`'s content.
                    p if p.starts_with("/once-slow/") => {
                        let seen = hits
                            .lock()
                            .expect("hits")
                            .iter()
                            .filter(|h| **h == p)
                            .count();
                        if seen > 1 {
                            sized(ok, FILE_SIZE, generated_body(FILE_SEED, FILE_SIZE))
                        } else {
                            sized(ok, FILE_SIZE, slow_body(None))
                        }
                    }
                    "/slow" => sized(ok, SLOW_SIZE, slow_body(Some(DropFlag(dropped)))),
                    p if p.starts_with("/chain/") => match p["/chain/".len()..].parse::<u32>() {
                        Ok(0) => sized(ok, FILE_SIZE, generated_body(FILE_SEED, FILE_SIZE)),
                        Ok(n) => redirect(format!("/chain/{}", n - 1)),
                        Err(_) => poem::Response::builder()
                            .status(poem::http::StatusCode::BAD_REQUEST)
                            .body(poem::Body::empty()),
                    },
                    _ => poem::Response::builder()
                        .status(poem::http::StatusCode::NOT_FOUND)
                        .body("not here"),
                }
            }
        });
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run(endpoint)
                .await;
        });
        Upstream {
            addr,
            hits,
            slow_dropped,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("hits").clone()
    }
}

// ============================================================================= helpers

/// Asserts the Task shape of the contract.
#[track_caller]
fn assert_task_shape(task: &Value) {
    let obj = task
        .as_object()
        .unwrap_or_else(|| panic!("task should be an object: {task}"));
    for key in [
        "task_id",
        "kind",
        "status",
        "url",
        "name",
        "file_id",
        "bytes_received",
        "bytes_total",
        "error",
        "created_at",
        "created_by",
        "updated_at",
        "instance",
        "retry_of",
    ] {
        assert!(obj.contains_key(key), "task.{key} missing: {task}");
    }
    assert!(
        task["instance"].as_str().is_some_and(|s| !s.is_empty()),
        "instance: {task}"
    );
    assert!(
        task["retry_of"].is_null() || task["retry_of"].as_str().is_some_and(|s| !s.is_empty()),
        "retry_of: {task}"
    );
    assert_utc_timestamp(&task["updated_at"], "task.updated_at");
    assert!(
        task["task_id"].as_str().is_some_and(|s| !s.is_empty()),
        "task_id: {task}"
    );
    assert_eq!(task["kind"], "import", "{task}");
    assert!(
        matches!(
            task["status"].as_str(),
            Some("queued" | "running" | "completed" | "failed" | "cancelled" | "interrupted")
        ),
        "task.status: {task}"
    );
    assert!(
        task["file_id"].as_str().is_some_and(|s| !s.is_empty()),
        "file_id: {task}"
    );
    assert!(
        task["bytes_received"].as_u64().is_some(),
        "bytes_received: {task}"
    );
    assert!(
        task["bytes_total"].is_null() || task["bytes_total"].as_u64().is_some(),
        "bytes_total: {task}"
    );
    assert!(
        task["error"].is_null() || task["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error: {task}"
    );
    assert_utc_timestamp(&task["created_at"], "task.created_at");
}

/// `POST /api/files/import` as admin; panics unless 202; returns the Task.
async fn start_import(app: &TestApp, body: &Value) -> Value {
    let resp = app.post("/api/files/import", &app.admin_token, body).await;
    resp.expect_status(202);
    assert_task_shape(&resp.body);
    assert_eq!(resp.body["url"], body["url"], "task.url");
    assert_eq!(resp.body["created_by"], app.admin_id.as_str());
    assert_eq!(resp.body["error"], Value::Null);
    assert!(
        matches!(
            resp.body["status"].as_str(),
            Some("queued" | "running" | "completed")
        ),
        "a new task: {}",
        resp.text
    );
    resp.body
}

async fn get_task(app: &TestApp, id: &str) -> Value {
    let resp = app.get(&format!("/api/tasks/{id}"), &app.admin_token).await;
    resp.expect_status(200);
    assert_task_shape(&resp.body);
    resp.body
}

/// Polls the task until it is completed, failed, cancelled or interrupted; returns it.
async fn wait_task_done(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + TASK_WAIT;
    loop {
        let task = get_task(app, id).await;
        if matches!(
            task["status"].as_str(),
            Some("completed" | "failed" | "cancelled" | "interrupted")
        ) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} did not finish within {TASK_WAIT:?}: {task}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls the task until it is running with bytes received (as recorded in the database, which
/// any instance reads); returns it.
async fn wait_task_receiving(app: &TestApp, id: &str) -> Value {
    let last = std::cell::RefCell::new(Value::Null);
    let receiving = poll_until(Duration::from_secs(20), || async {
        let task = get_task(app, id).await;
        let ok = task["status"] == "running" && task["bytes_received"].as_u64() > Some(0);
        *last.borrow_mut() = task;
        ok
    })
    .await;
    let task = last.into_inner();
    assert!(
        receiving,
        "task {id} should be running and receiving: {task}"
    );
    task
}

/// `POST /api/tasks/{id}/retry` as admin; panics unless 202 with the new task (same URL and
/// name, `retry_of` the old one, a new `file_id`, `Location` its URL); returns it.
async fn retry_task(app: &TestApp, old: &Value) -> Value {
    let id = str_field(old, "task_id");
    let resp = app
        .post(
            &format!("/api/tasks/{id}/retry"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    resp.expect_status(202);
    let task = resp.body.clone();
    assert_task_shape(&task);
    assert_ne!(task["task_id"], old["task_id"], "a retry is a new task");
    assert_ne!(
        task["file_id"], old["file_id"],
        "a retry gets a new file id"
    );
    assert_eq!(task["retry_of"], id.as_str(), "{task}");
    assert_eq!(task["url"], old["url"], "{task}");
    assert_eq!(task["name"], old["name"], "{task}");
    assert_eq!(task["created_by"], app.admin_id.as_str());
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/tasks/{}", str_field(&task, "task_id")).as_str())
    );
    task
}

/// Asserts that a retry of `task` is refused with 409 `task_not_retryable`.
async fn assert_not_retryable(app: &TestApp, task: &Value) {
    let id = str_field(task, "task_id");
    let resp = app
        .post(
            &format!("/api/tasks/{id}/retry"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    assert_error(&resp, 409, "task_not_retryable");
}

/// Asserts a failed task: status failed, an error message, and no file.
async fn assert_failed_without_file(app: &TestApp, task: &Value, what: &str) {
    let done = wait_task_done(app, &str_field(task, "task_id")).await;
    assert_eq!(done["status"], "failed", "{what}: {done}");
    assert!(
        done["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: a failed task explains why: {done}"
    );
    let resp = app
        .get(
            &format!("/api/files/{}", str_field(task, "file_id")),
            &app.admin_token,
        )
        .await;
    assert_error(&resp, 404, "not_found");
}

/// Reads the WebSocket until the `download.completed` or `download.aborted` of `task`; returns
/// (the task's frames before it, that frame, every frame before it).
async fn task_frames(
    ws: &mut WsClient,
    task: &str,
    until: &str,
) -> (Vec<Value>, Value, Vec<Value>) {
    let task_value = json!(task);
    let (before, end) = ws_until(ws, EVENT_WAIT, until, |f| {
        f["type"] == until && f["data"]["download_id"] == task_value
    })
    .await;
    let own = before
        .iter()
        .filter(|f| f["data"]["download_id"] == task_value)
        .cloned()
        .collect();
    (own, end, before)
}

/// Asserts the download.started and download.progress frames of an import.
#[track_caller]
fn assert_import_progress(own: &[Value], task: &Value, bytes_total: Option<u64>) {
    let started = own
        .first()
        .unwrap_or_else(|| panic!("no download.started for task {task}"));
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
    assert_eq!(
        started["data"],
        json!({"download_id": task["task_id"], "file_id": task["file_id"], "via": "import",
               "bytes_total": bytes_total, "range_start": 0}),
        "download.started of the import"
    );
    let mut last = 0;
    for f in &own[1..] {
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
        assert_eq!(f["data"]["file_id"], task["file_id"], "{f}");
        assert_eq!(f["data"]["bytes_total"], json!(bytes_total), "{f}");
        let sent = f["data"]["bytes_sent"].as_u64().expect("bytes_sent");
        assert!(sent >= last, "bytes_sent goes backwards: {f}");
        if let Some(total) = bytes_total {
            assert!(sent <= total, "bytes_sent past bytes_total: {f}");
        }
        last = sent;
    }
}

/// Downloads file `id` and compares it with the generated content.
async fn assert_file_content(app: &TestApp, id: &str, seed: u64, size: u64) {
    let response = app
        .req(Method::GET, &format!("/api/files/{id}/download"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download");
    let got = read_streamed(response, Some((seed, 0))).await;
    assert_eq!(got.status.as_u16(), 200, "download of {id}");
    assert_eq!(
        (got.len, got.mismatch_at, got.error),
        (size, None, None),
        "imported content of {id}"
    );
}

/// Asserts the 422 of a refused import URL: `url_forbidden`, or `validation_failed` with
/// `fields.url`.
#[track_caller]
fn assert_url_refused(resp: &Resp, url: &str) {
    assert_eq!(
        resp.status.as_u16(),
        422,
        "import of {url:?} should be refused with 422, got {} {}",
        resp.status,
        resp.text
    );
    assert_envelope(resp);
    let code = resp.body["error"]["code"].as_str().unwrap_or_default();
    match code {
        "url_forbidden" => {}
        "validation_failed" => assert!(
            resp.body["error"]["fields"]["url"].is_string(),
            "import of {url:?}: validation error without fields.url: {}",
            resp.text
        ),
        other => panic!(
            "import of {url:?}: expected code url_forbidden or validation_failed, got {other:?}: {}",
            resp.text
        ),
    }
}

// ============================================================================= tests

#[tokio::test]
async fn import_streams_into_the_store_with_events() {
    let upstream = Upstream::start().await;
    let app = TestApp::spawn_with(&["--import-allow-private"], &[]).await;
    let (mut ws, _) = app.ws(&app.admin_token, "import").await;

    let url = upstream.url("/file");
    let task = start_import(&app, &json!({"url": url, "name": "imported.bin"})).await;
    assert_eq!(task["name"], "imported.bin");
    let tid = str_field(&task, "task_id");
    let fid = str_field(&task, "file_id");

    let (own, completed, before) = task_frames(&mut ws, &tid, "download.completed").await;
    let created: Vec<&Value> = before
        .iter()
        .filter(|f| f["type"] == "file.created")
        .collect();
    let own: Vec<Value> = own
        .into_iter()
        .filter(|f| f["type"] != "file.created")
        .collect();
    assert_import_progress(&own, &task, Some(FILE_SIZE));
    assert_eq!(
        created.len(),
        1,
        "one file.created before download.completed: {before:?}"
    );
    let created = created[0];
    let created_seq = assert_durable(created, "file.created");
    let file = created["data"].clone();
    assert_file_shape(&file);
    assert_eq!(file["id"], fid.as_str(), "the file gets the task's file_id");
    assert_eq!(file["name"], "imported.bin");
    assert_eq!(file["size"], FILE_SIZE);
    assert_eq!(file["sha256"], gen_sha256(FILE_SEED, FILE_SIZE).as_str());
    assert_eq!(file["download_count"], 0);
    assert_eq!(created["actor"], admin_actor(&app));

    let completed_seq = assert_durable(&completed, "download.completed");
    assert!(completed_seq > created_seq, "file.created comes first");
    assert_eq!(completed["actor"], admin_actor(&app));
    let data = &completed["data"];
    assert_eq!(data["download_id"], tid.as_str());
    assert_eq!(data["file_id"], fid.as_str());
    assert_eq!(data["via"], "import");
    assert_eq!(data["bytes"], FILE_SIZE);
    assert_eq!(data["download_count"], 0);
    assert!(data["duration_ms"].as_u64().is_some(), "{completed}");

    let done = wait_task_done(&app, &tid).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["bytes_received"], FILE_SIZE);
    assert_eq!(done["bytes_total"], FILE_SIZE);
    assert_eq!(done["file_id"], fid.as_str());
    assert_eq!(done["error"], Value::Null);
    assert_eq!(done["retry_of"], Value::Null);
    assert_not_retryable(&app, &done).await;
    let tasks = app.get("/api/tasks", &app.admin_token).await;
    tasks.expect_status(200);
    assert_list_envelope(&tasks.body);
    assert!(
        tasks.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["task_id"] == tid.as_str() && t["status"] == "completed"),
        "finished tasks stay listed: {}",
        tasks.text
    );

    assert_eq!(app.get_file(&fid).await["sha256"], file["sha256"]);
    assert_file_content(&app, &fid, FILE_SEED, FILE_SIZE).await;
    assert_eq!(app.object_files().len(), 1, "{:?}", app.object_files());
    app.assert_tmp_empty(Duration::from_secs(5), "after an import")
        .await;
    assert_eq!(
        upstream.hits(),
        ["/file"],
        "exactly one fetch of the upstream"
    );

    // Unknown length: bytes_total null in the events, content still exact.
    let task = start_import(
        &app,
        &json!({"url": upstream.url("/unknown-length"), "name": "chunked.bin"}),
    )
    .await;
    let (own, completed, _) =
        task_frames(&mut ws, &str_field(&task, "task_id"), "download.completed").await;
    let own: Vec<Value> = own
        .into_iter()
        .filter(|f| f["type"] != "file.created")
        .collect();
    assert_import_progress(&own, &task, None);
    assert_eq!(completed["data"]["bytes"], FILE_SIZE);
    let done = wait_task_done(&app, &str_field(&task, "task_id")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_file_content(&app, &str_field(&task, "file_id"), FILE_SEED, FILE_SIZE).await;

    // Only http and https, even with private addresses allowed.
    for url in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1/",
    ] {
        let resp = app
            .post("/api/files/import", &app.admin_token, &json!({"url": url}))
            .await;
        assert_fields(&resp, &["url"]);
    }
    assert_eq!(app.list_files("").await["total"], 2);
}

#[tokio::test]
async fn import_follows_redirects_up_to_the_limit() {
    let upstream = Upstream::start().await;
    let app = TestApp::spawn_with(
        &["--import-allow-private", "--import-max-redirects", "2"],
        &[],
    )
    .await;

    for path in ["/redirect", "/redirect-relative", "/chain/2"] {
        let task = start_import(&app, &json!({"url": upstream.url(path)})).await;
        let done = wait_task_done(&app, &str_field(&task, "task_id")).await;
        assert_eq!(done["status"], "completed", "import of {path}: {done}");
        let file = app.get_file(&str_field(&task, "file_id")).await;
        assert_eq!(file["size"], FILE_SIZE, "{path}");
        assert!(
            file["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && !n.contains('/')),
            "a name is derived from the URL: {file}"
        );
        assert_file_content(&app, &str_field(&task, "file_id"), FILE_SEED, FILE_SIZE).await;
    }

    let hits_before = upstream.hits().len();
    let task = start_import(&app, &json!({"url": upstream.url("/chain/3")})).await;
    assert_failed_without_file(&app, &task, "three redirects with a limit of two").await;
    assert_eq!(
        upstream.hits()[hits_before..],
        ["/chain/3", "/chain/2", "/chain/1"],
        "two redirects are followed, the third is not"
    );
    assert_eq!(app.list_files("").await["total"], 3);
}

#[tokio::test]
async fn import_is_listed_while_running_and_cancel_stops_it() {
    let upstream = Upstream::start().await;
    let app = TestApp::spawn_with(&["--import-allow-private"], &[]).await;
    let (mut ws, _) = app.ws(&app.admin_token, "cancel").await;

    let task = start_import(
        &app,
        &json!({"url": upstream.url("/slow"), "name": "never.bin"}),
    )
    .await;
    let tid = str_field(&task, "task_id");
    let fid = str_field(&task, "file_id");

    let (_, started) = ws_until(&mut ws, EVENT_WAIT, "download.started", |f| {
        f["type"] == "download.started"
    })
    .await;
    assert_eq!(
        started["data"],
        json!({"download_id": tid, "file_id": fid, "via": "import",
               "bytes_total": SLOW_SIZE, "range_start": 0})
    );

    // Running, with bytes arriving, and listed.
    let last = std::cell::RefCell::new(Value::Null);
    let progressed = poll_until(Duration::from_secs(20), || async {
        let task = get_task(&app, &tid).await;
        let ok = task["status"] == "running" && task["bytes_received"].as_u64() > Some(0);
        *last.borrow_mut() = task;
        ok
    })
    .await;
    let running = last.into_inner();
    assert!(progressed, "the slow import should be running: {running}");
    assert_eq!(running["bytes_total"], SLOW_SIZE);
    let list = app.get("/api/tasks", &app.admin_token).await;
    list.expect_status(200);
    assert_list_envelope(&list.body);
    let listed: Vec<&Value> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["task_id"] == tid.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "the running task is listed: {}", list.text);
    assert_eq!(listed[0]["status"], "running");
    assert_eq!(
        file_status(&app, &fid).await,
        404,
        "no file while the import runs"
    );

    assert_not_retryable(&app, &running).await;

    let resp = app
        .delete(&format!("/api/tasks/{tid}"), &app.admin_token)
        .await;
    resp.expect_status(204);

    let (_, aborted) = ws_until(&mut ws, EVENT_WAIT, "download.aborted", |f| {
        f["type"] == "download.aborted"
    })
    .await;
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
    assert_eq!(aborted["data"]["download_id"], tid.as_str());
    assert_eq!(aborted["data"]["file_id"], fid.as_str());
    assert_eq!(aborted["data"]["bytes_total"], SLOW_SIZE);
    assert!(
        aborted["data"]["bytes_sent"]
            .as_u64()
            .is_some_and(|b| b > 0 && b < SLOW_SIZE),
        "{aborted}"
    );

    let done = wait_task_done(&app, &tid).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let stopped = poll_until(Duration::from_secs(10), || async {
        upstream.slow_dropped.load(Ordering::SeqCst)
    })
    .await;
    assert!(stopped, "cancelling must stop fetching from the upstream");

    assert_eq!(file_status(&app, &fid).await, 404, "file never appears");
    assert_eq!(app.list_files("").await["total"], 0);
    app.assert_store_empty(Duration::from_secs(5), "after cancel")
        .await;
    let extra = ws.ping_barrier().await;
    assert!(
        !extra.iter().any(|f| f["type"] == "file.created"),
        "no file.created after cancel: {extra:?}"
    );
    assert_eq!(file_status(&app, &fid).await, 404, "file never appears");
    app.delete(&format!("/api/tasks/{tid}"), &app.admin_token)
        .await
        .expect_status(204);

    // A cancelled task can be retried: a new task fetching the same URL.
    let retried = retry_task(&app, &done).await;
    let rid = str_field(&retried, "task_id");
    wait_task_receiving(&app, &rid).await;
    app.delete(&format!("/api/tasks/{rid}"), &app.admin_token)
        .await
        .expect_status(204);
    let done = wait_task_done(&app, &rid).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert_eq!(
        file_status(&app, &str_field(&retried, "file_id")).await,
        404
    );
    app.assert_store_empty(Duration::from_secs(5), "after the retry's cancel")
        .await;

    assert_error(
        &app.delete("/api/tasks/no-such-task", &app.admin_token)
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.post(
            "/api/tasks/no-such-task/retry",
            &app.admin_token,
            &json!({}),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/api/tasks/no-such-task", &app.admin_token).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn import_refuses_private_addresses_and_other_schemes_without_the_flag() {
    let upstream = Upstream::start().await;
    let app = TestApp::spawn().await;
    let port = upstream.addr.port();

    for url in [
        upstream.url("/file"),
        format!("http://localhost:{port}/file"),
        format!("http://[::1]:{port}/file"),
        format!("http://0.0.0.0:{port}/file"),
        "http://10.1.2.3/x".to_owned(),
        "http://192.168.0.1/x".to_owned(),
        "http://172.16.5.4/x".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://224.0.0.1/x".to_owned(),
        "https://192.0.2.10/x".to_owned(),
        "http://[fe80::1]/x".to_owned(),
        "http://[fd00::1]/x".to_owned(),
    ] {
        let resp = app
            .post("/api/files/import", &app.admin_token, &json!({"url": url}))
            .await;
        assert_url_refused(&resp, &url);
    }

    for url in [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://example.com/",
        "javascript:alert(1)",
        "not a url",
        "",
        "http://",
    ] {
        let resp = app
            .post("/api/files/import", &app.admin_token, &json!({"url": url}))
            .await;
        assert_fields(&resp, &["url"]);
    }

    let tasks = app.get("/api/tasks", &app.admin_token).await;
    tasks.expect_status(200);
    assert_eq!(
        tasks.body["total"], 0,
        "no task was created: {}",
        tasks.text
    );
    assert_eq!(app.list_files("").await["total"], 0);
    assert!(
        upstream.hits().is_empty(),
        "the upstream must never be contacted: {:?}",
        upstream.hits()
    );
}

#[tokio::test]
async fn import_over_the_size_limit_fails_and_leaves_nothing() {
    let upstream = Upstream::start().await;
    let app = TestApp::spawn_with(
        &[
            "--import-allow-private",
            "--max-upload-bytes",
            &MIB.to_string(),
        ],
        &[],
    )
    .await;
    let (mut ws, _) = app.ws(&app.admin_token, "oversize").await;

    for path in ["/big", "/big-chunked"] {
        let task = start_import(&app, &json!({"url": upstream.url(path)})).await;
        let (_, aborted, _) =
            task_frames(&mut ws, &str_field(&task, "task_id"), "download.aborted").await;
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
        assert_eq!(aborted["data"]["file_id"], task["file_id"]);
        assert!(
            aborted["data"]["bytes_sent"]
                .as_u64()
                .is_some_and(|b| b <= MIB + 64 * 1024),
            "the fetch stops at the limit: {aborted}"
        );
        assert_failed_without_file(&app, &task, path).await;
    }

    let task = start_import(&app, &json!({"url": upstream.url("/missing")})).await;
    assert_failed_without_file(&app, &task, "upstream 404").await;
    // A failed task can be retried (and fails the same way here).
    let retried = retry_task(&app, &task).await;
    assert_failed_without_file(&app, &retried, "retried upstream 404").await;

    let extra = ws.ping_barrier().await;
    assert!(
        !extra.iter().any(|f| f["type"] == "file.created"),
        "no file.created: {extra:?}"
    );
    assert_eq!(app.list_files("").await["total"], 0);
    app.assert_store_empty(Duration::from_secs(5), "after failed imports")
        .await;

    // Under the limit works.
    let task = start_import(&app, &json!({"url": upstream.url("/small")})).await;
    let done = wait_task_done(&app, &str_field(&task, "task_id")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_file_content(&app, &str_field(&task, "file_id"), FILE_SEED, SMALL_SIZE).await;
}

/// Status of `GET /api/files/{id}` as admin.
async fn file_status(app: &TestApp, id: &str) -> u16 {
    app.get(&format!("/api/files/{id}"), &app.admin_token)
        .await
        .status
        .as_u16()
}

/// Kill -9 of the server mid-import: after the restart the task is `interrupted` (on SQLite at
/// once, the only instance there is; on PostgreSQL once its heartbeat is stale), never running
/// forever, and a retry imports the URL whole.
#[tokio::test]
async fn an_import_killed_mid_fetch_is_interrupted_and_retried() {
    let upstream = Upstream::start().await;
    let stale = STALE_SECS.to_string();
    let mut app = TestApp::spawn_with(
        &["--import-allow-private"],
        &[("SWITCHBOARD_TASK_STALE_SECS", &stale)],
    )
    .await;
    let url = upstream.url("/once-slow/restart");
    let task = start_import(&app, &json!({"url": url, "name": "resumed.bin"})).await;
    let tid = str_field(&task, "task_id");
    let running = wait_task_receiving(&app, &tid).await;

    app.kill9_and_restart().await;
    let first = get_task(&app, &tid).await;
    if !is_postgres() {
        assert_eq!(
            first["status"], "interrupted",
            "at start on SQLite: {first}"
        );
    }
    let last = std::cell::RefCell::new(first);
    let interrupted = poll_until(Duration::from_secs(STALE_SECS + 5), || async {
        let task = get_task(&app, &tid).await;
        let ok = task["status"] == "interrupted";
        *last.borrow_mut() = task;
        ok
    })
    .await;
    let old = last.into_inner();
    assert!(interrupted, "the killed import is interrupted: {old}");
    assert!(
        old["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{old}"
    );
    assert_eq!(old["instance"], running["instance"], "{old}");
    assert_eq!(old["name"], "resumed.bin");
    assert!(
        old["bytes_received"]
            .as_u64()
            .is_some_and(|b| b > 0 && b < FILE_SIZE),
        "the progress recorded before the kill stays: {old}"
    );
    let list = app.get("/api/tasks", &app.admin_token).await;
    list.expect_status(200);
    assert!(
        list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["task_id"] == tid.as_str() && t["status"] == "interrupted"),
        "listed as interrupted: {}",
        list.text
    );
    assert_error(
        &app.delete(&format!("/api/tasks/{tid}"), &app.admin_token)
            .await,
        409,
        "task_finished",
    );
    assert_eq!(file_status(&app, &str_field(&task, "file_id")).await, 404);
    app.assert_store_empty(Duration::from_secs(5), "after the restart")
        .await;

    let retried = retry_task(&app, &old).await;
    assert_ne!(
        retried["instance"], old["instance"],
        "run by the new process"
    );
    let rid = str_field(&retried, "task_id");
    let done = wait_task_done(&app, &rid).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["bytes_received"], FILE_SIZE);
    let file = app.get_file(&str_field(&retried, "file_id")).await;
    assert_eq!(file["name"], "resumed.bin");
    assert_eq!(file["sha256"], gen_sha256(FILE_SEED, FILE_SIZE).as_str());
    assert_file_content(&app, &str_field(&retried, "file_id"), FILE_SEED, FILE_SIZE).await;
    assert_not_retryable(&app, &done).await;
    assert_eq!(get_task(&app, &tid).await["status"], "interrupted");
    assert_eq!(app.list_files("").await["total"], 1);
    assert_eq!(
        upstream.hits(),
        ["/once-slow/restart", "/once-slow/restart"]
    );
}

/// Two instances on one PostgreSQL database: an import started on A is listed and watched on
/// B, cancelled through B (A's fetch stops within about a second), and when A is killed mid-
/// import B shows it interrupted within the stale window and retries it. Skipped on SQLite.
#[tokio::test]
async fn tasks_are_shared_by_the_instances_of_one_database() {
    if !is_postgres() {
        eprintln!(
            "note: tasks_are_shared_by_the_instances_of_one_database skipped: it needs a shared database (SWITCHBOARD_TEST_DB=postgres)"
        );
        return;
    }
    let upstream = Upstream::start().await;
    let stale = STALE_SECS.to_string();
    let mut a = TestApp::spawn_with(
        &["--import-allow-private"],
        &[("SWITCHBOARD_TASK_STALE_SECS", &stale)],
    )
    .await;
    let b = a.spawn_peer(&[]).await;
    let (mut watch, _) = b.ws(&b.admin_token, "watch@B").await;

    // Started on A, listed and watched on B.
    let task = start_import(
        &a,
        &json!({"url": upstream.url("/slow"), "name": "never.bin"}),
    )
    .await;
    let tid = str_field(&task, "task_id");
    let fid = str_field(&task, "file_id");
    let a_instance = task["instance"].clone();
    let tid_value = json!(tid);
    ws_until(
        &mut watch,
        EVENT_WAIT,
        "download.started on B",
        event_is("download.started", "download_id", &tid_value),
    )
    .await;
    let first = wait_task_receiving(&b, &tid).await;
    assert_eq!(first["instance"], a_instance, "{first}");
    assert_eq!(first["bytes_total"], SLOW_SIZE);
    let before = first["bytes_received"].as_u64().unwrap_or_default();
    let progressed = poll_until(Duration::from_secs(10), || async {
        get_task(&b, &tid).await["bytes_received"].as_u64() > Some(before)
    })
    .await;
    assert!(progressed, "B sees A's progress");
    let list = b.get("/api/tasks", &b.admin_token).await;
    list.expect_status(200);
    assert!(
        list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|t| t["task_id"] == tid.as_str() && t["status"] == "running"),
        "B lists A's running task: {}",
        list.text
    );

    // Cancelled through B: A's fetch stops.
    let asked = Instant::now();
    b.delete(&format!("/api/tasks/{tid}"), &b.admin_token)
        .await
        .expect_status(204);
    let stopped = poll_until(Duration::from_secs(10), || async {
        upstream.slow_dropped.load(Ordering::SeqCst)
    })
    .await;
    let took = asked.elapsed();
    assert!(stopped, "a cancel through B must stop A's fetch");
    eprintln!("cancel through B stopped A's fetch after {took:?}");
    assert!(
        took <= Duration::from_secs(2),
        "A's fetch should stop within about a second of the cancel through B, took {took:?}"
    );
    let (_, aborted) = ws_until(
        &mut watch,
        EVENT_WAIT,
        "download.aborted on B",
        event_is("download.aborted", "download_id", &tid_value),
    )
    .await;
    assert_eq!(aborted["data"]["reason"], "cancelled", "{aborted}");
    for app in [&a, &b] {
        assert_eq!(wait_task_done(app, &tid).await["status"], "cancelled");
        assert_eq!(file_status(app, &fid).await, 404, "file never appears");
    }
    a.assert_store_empty(Duration::from_secs(5), "A after the cancel through B")
        .await;
    a.delete(&format!("/api/tasks/{tid}"), &a.admin_token)
        .await
        .expect_status(204);

    // A killed mid-import: B shows the task interrupted within the stale window.
    let url = upstream.url("/once-slow/peer");
    let task = start_import(&a, &json!({"url": url, "name": "peer.bin"})).await;
    let tid = str_field(&task, "task_id");
    wait_task_receiving(&b, &tid).await;
    a.stop_with_signal("KILL").await;
    let killed = Instant::now();
    let last = std::cell::RefCell::new(Value::Null);
    let interrupted = poll_until(Duration::from_secs(STALE_SECS + 5), || async {
        let task = get_task(&b, &tid).await;
        let ok = task["status"] == "interrupted";
        *last.borrow_mut() = task;
        ok
    })
    .await;
    let took = killed.elapsed();
    let old = last.into_inner();
    assert!(
        interrupted,
        "B shows the dead instance's task interrupted: {old}"
    );
    eprintln!("B showed A's task interrupted {took:?} after the kill");
    assert!(
        took <= Duration::from_secs(STALE_SECS + 2),
        "within the {STALE_SECS} s stale window (plus a heartbeat), took {took:?}"
    );
    assert_eq!(old["instance"], a_instance);
    assert_error(
        &b.delete(&format!("/api/tasks/{tid}"), &b.admin_token).await,
        409,
        "task_finished",
    );
    let a_tmp = a.tmp_files();
    assert!(
        !a_tmp.is_empty(),
        "the killed fetch left its temp file in A's data dir"
    );

    // Retried through B: B runs it to the end; A's temp file is A's to clean.
    let retried = retry_task(&b, &old).await;
    assert_ne!(retried["instance"], a_instance, "run by B");
    let done = wait_task_done(&b, &str_field(&retried, "task_id")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let file = b.get_file(&str_field(&retried, "file_id")).await;
    assert_eq!(file["sha256"], gen_sha256(FILE_SEED, FILE_SIZE).as_str());
    assert_eq!(file["name"], "peer.bin");
    assert_file_content(&b, &str_field(&retried, "file_id"), FILE_SEED, FILE_SIZE).await;
    assert_eq!(a.tmp_files(), a_tmp, "B never touches A's temp files");
    b.assert_tmp_empty(Duration::from_secs(5), "B after the retry")
        .await;
}
