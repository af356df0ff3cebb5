//! Crash safety: the real binary is killed with SIGKILL in the middle of concurrent uploads, of
//! a burst of concurrent user writes, and of event fan-out to a few hundred WebSockets (and while
//! it creates the first admin), then started again on the same data dir / database. After the
//! restart the stored state must be consistent:
//!
//! - the event log is gap-free from seq 1 to the latest (every test stays far inside the
//!   retention: 100,000 events and 7 days by default, and retention never removes an event the
//!   hub has not fanned out);
//! - every committed change has its event: for every user and file row, the events of that id
//!   carry versions 1, 2, …, the row's version, and the last one's data is the row; every
//!   `*.deleted` event's id has no row, and every id with events but no row was deleted;
//! - every request that got a success response before the kill is present, with its event
//!   carrying exactly the response body (SQLite runs in WAL mode with `synchronous=FULL`, see
//!   `db.rs`; PostgreSQL commits on its own server);
//! - the file store matches the rows: every row's object exists with the row's size and sha256,
//!   `tmp/` is empty once the server listens, and an object without a row can only be an upload
//!   that was between publishing its bytes and committing its row when the process died (or a
//!   delete between committing and removing the bytes); the sweeper removes such orphans once
//!   they are older than its grace period (an hour, judged by the object's mtime, which the
//!   publishing rename keeps from the temp file's last write);
//! - a WebSocket never received an event the recovered log does not hold identically, and
//!   resuming after the restart from the last seq it saw delivers the rest without gap or
//!   duplicate.
//!
//! Runs on SQLite by default and on PostgreSQL with `SWITCHBOARD_TEST_DB=postgres`. Nothing
//! sleeps to synchronise: kills happen once a condition holds (polled with a deadline).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::files::*;
use common::*;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// How long the load may take to reach the point where the kill happens.
const LOAD_DEADLINE: Duration = Duration::from_secs(120);
/// How long tasks talking to the killed process may take to notice.
const END_DEADLINE: Duration = Duration::from_secs(30);
/// The sweeper's grace for objects without a row (`files/service.rs`, `sweep_orphans`).
const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// A client that outlives the server process it talks to
// ---------------------------------------------------------------------------------------------

/// What a load task needs to talk to the server, owned (the `TestApp` is restarted meanwhile).
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn of(app: &TestApp) -> Api {
        Api {
            client: app.client.clone(),
            base: app.base_url(),
            token: app.admin_token.clone(),
        }
    }

    /// Sends a request; `Err` on a transport error (the server died), else status and JSON body.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.post(url).json(body)).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.patch(url).json(body)).await
    }

    async fn delete(&self, path: &str) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        self.send(self.client.delete(url)).await
    }
}

/// A write that got a success response before the kill.
#[derive(Debug, Clone)]
enum Ack {
    /// `user.created` / `user.updated` / `file.created` with the response body.
    Wrote(&'static str, Value),
    /// `user.deleted` / `file.deleted` of this id (204).
    Deleted(&'static str, String),
}

/// What the load tasks saw: acknowledged writes, and any response that was not a success.
#[derive(Default, Clone)]
struct Outcome {
    acks: Arc<Mutex<Vec<Ack>>>,
    acked: Arc<AtomicUsize>,
    unexpected: Arc<Mutex<Vec<String>>>,
}

impl Outcome {
    fn ack(&self, ack: Ack) {
        self.acks.lock().expect("acks lock").push(ack);
        self.acked.fetch_add(1, Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Records an answer that is not `want`; returns whether it was `want`.
    fn expect(&self, what: &str, got: &(u16, Value), want: u16) -> bool {
        if got.0 == want {
            return true;
        }
        self.unexpected
            .lock()
            .expect("unexpected lock")
            .push(format!("{what}: HTTP {} {}", got.0, got.1));
        false
    }

    #[track_caller]
    fn assert_no_unexpected(&self) {
        let unexpected = self.unexpected.lock().expect("unexpected lock");
        assert!(
            unexpected.is_empty(),
            "responses other than success before the kill: {unexpected:?}"
        );
    }

    fn acks(&self) -> Vec<Ack> {
        self.acks.lock().expect("acks lock").clone()
    }
}

/// Until a request fails: create a user, patch it twice, and delete every other one.
async fn user_writer(api: Api, prefix: String, out: Outcome) {
    for i in 0.. {
        let username = format!("{prefix}_{i}");
        let body = json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": USER_PASSWORD,
            "role": "viewer",
        });
        let Ok(created) = api.post("/api/users", &body).await else {
            return;
        };
        if !out.expect("create", &created, 201) {
            return;
        }
        let id = created.1["id"].as_str().expect("user id").to_owned();
        out.ack(Ack::Wrote("user.created", created.1));
        let patches = [
            json!({"display_name": format!("{prefix} #{i}")}),
            json!({"display_name": format!("{prefix} #{i}, renamed"), "disabled": i % 3 == 0}),
        ];
        for patch in patches {
            let Ok(patched) = api.patch(&format!("/api/users/{id}"), &patch).await else {
                return;
            };
            if !out.expect("patch", &patched, 200) {
                return;
            }
            out.ack(Ack::Wrote("user.updated", patched.1));
        }
        if i % 2 == 0 {
            let Ok(deleted) = api.delete(&format!("/api/users/{id}")).await else {
                return;
            };
            if !out.expect("delete", &deleted, 204) {
                return;
            }
            out.ack(Ack::Deleted("user.deleted", id));
        }
    }
}

/// Starts `n` [`user_writer`] tasks.
fn spawn_user_writers(app: &TestApp, n: usize, out: &Outcome) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|t| tokio::spawn(user_writer(Api::of(app), format!("w{t}"), out.clone())))
        .collect()
}

/// Waits until every task has ended (they end on the first transport error after the kill).
async fn join_all_within(tasks: Vec<tokio::task::JoinHandle<()>>, what: &str) {
    let joined = tokio::time::timeout(END_DEADLINE, futures_util::future::join_all(tasks)).await;
    let results = joined.unwrap_or_else(|_| panic!("{what} did not end within {END_DEADLINE:?}"));
    for r in results {
        r.unwrap_or_else(|e| panic!("{what} task failed: {e}"));
    }
}

/// Polls `check` until it holds; panics with `what` after [`LOAD_DEADLINE`].
async fn wait_for<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(
        poll_until(LOAD_DEADLINE, check).await,
        "timed out waiting for {what}"
    );
}

// ---------------------------------------------------------------------------------------------
// Consistency after the restart
// ---------------------------------------------------------------------------------------------

/// Every item of a paged list (`per_page=200`).
async fn all_items(app: &TestApp, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let resp = app
            .get(
                &format!("{path}?per_page=200&page={page}"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        let got = resp.body["items"].as_array().expect("items").clone();
        let total = resp.body["total"].as_u64().expect("total") as usize;
        let empty = got.is_empty();
        items.extend(got);
        if empty || items.len() >= total {
            break;
        }
    }
    items
}

/// The whole event log, asserted gap-free from seq 1 to `latest_seq`.
async fn checked_log(app: &TestApp) -> Vec<Value> {
    let latest = app.latest_seq().await;
    let log = app.event_log_after(0).await;
    assert_gap_free(&log, 1, latest, "event log after the restart");
    for frame in &log {
        assert_event_envelope(frame);
    }
    log
}

/// The log's `<entity>.created|updated|deleted` events (`user` or `file`), by id, in seq order.
fn events_by_id<'a>(log: &'a [Value], entity: &str) -> BTreeMap<String, Vec<&'a Value>> {
    let kinds = ["created", "updated", "deleted"].map(|k| format!("{entity}.{k}"));
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for frame in log {
        let kind = frame["type"].as_str().unwrap_or_default();
        if kinds.iter().any(|k| k == kind) {
            by_id.entry(id_of(&frame["data"])).or_default().push(frame);
        }
    }
    by_id
}

/// `user` without `last_login_at`: a login records its time without a new version or event
/// (bookkeeping, see `auth/service.rs`), so only the admin's can differ from its last event.
fn without_login_time(user: &Value) -> Value {
    let mut user = user.clone();
    if let Some(obj) = user.as_object_mut() {
        obj.remove("last_login_at");
    }
    user
}

/// Rows and events of one entity agree: each row's events are `<entity>.created` with version
/// 1, then `<entity>.updated` with versions 2, 3, … up to the row's, the last one's data being
/// the row; an id with events and no row ends with `<entity>.deleted`, and nothing follows a
/// delete.
#[track_caller]
fn assert_rows_match_events(
    log: &[Value],
    entity: &str,
    rows: &[Value],
    normalise: fn(&Value) -> Value,
) {
    let by_id = events_by_id(log, entity);
    let created = format!("{entity}.created");
    let updated = format!("{entity}.updated");
    let deleted = format!("{entity}.deleted");
    let rows_by_id: HashMap<String, &Value> = rows.iter().map(|r| (id_of(r), r)).collect();
    assert_eq!(
        rows_by_id.len(),
        rows.len(),
        "duplicate {entity} ids in the list"
    );
    for (id, row) in &rows_by_id {
        let events = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{entity} row {id} has no event at all: {row}"));
        let version = row["version"].as_i64().expect("row version");
        let kinds: Vec<&str> = events
            .iter()
            .map(|f| f["type"].as_str().unwrap_or_default())
            .collect();
        let versions: Vec<i64> = events
            .iter()
            .map(|f| f["data"]["version"].as_i64().unwrap_or(-1))
            .collect();
        let mut want_kinds = vec![created.as_str()];
        want_kinds.resize(version as usize, updated.as_str());
        assert_eq!(
            (kinds, versions),
            (want_kinds, (1..=version).collect::<Vec<_>>()),
            "{entity} {id} (version {version}): its events should be one per committed version; events: {events:?}"
        );
        let last = events.last().expect("at least one event");
        assert_eq!(
            normalise(&last["data"]),
            normalise(row),
            "{entity} {id}: the row differs from its latest event (seq {})",
            last["seq"]
        );
    }
    for (id, events) in &by_id {
        if rows_by_id.contains_key(id) {
            continue;
        }
        let kinds: Vec<&str> = events
            .iter()
            .map(|f| f["type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            kinds.last().copied(),
            Some(deleted.as_str()),
            "{entity} {id} has events but no row, and its last event is not {deleted}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == deleted).count(),
            1,
            "{entity} {id}: more than one {deleted}: {kinds:?}"
        );
    }
}

/// Every request that got a success response is in the log (its event carrying exactly the
/// response body), and the rows reflect the last acknowledged write of each id (or a delete
/// sent after it, unanswered when the process died).
#[track_caller]
fn assert_acks_durable(log: &[Value], user_rows: &[Value], file_rows: &[Value], acks: &[Ack]) {
    let by_key: HashMap<(String, String, i64), &Value> = log
        .iter()
        .filter(|f| f["data"]["version"].is_i64())
        .map(|f| {
            let kind = f["type"].as_str().unwrap_or_default();
            let entity = kind.split('.').next().unwrap_or_default().to_owned();
            let version = f["data"]["version"].as_i64().unwrap_or(-1);
            ((entity, id_of(&f["data"]), version), f)
        })
        .collect();
    let deleted: HashSet<(String, String)> = log
        .iter()
        .filter(|f| f["type"].as_str().is_some_and(|t| t.ends_with(".deleted")))
        .map(|f| {
            (
                f["type"].as_str().unwrap_or_default().to_owned(),
                id_of(&f["data"]),
            )
        })
        .collect();
    let rows: HashMap<String, &Value> = user_rows
        .iter()
        .chain(file_rows)
        .map(|r| (id_of(r), r))
        .collect();
    let mut last_ack: HashMap<String, &Ack> = HashMap::new();
    for ack in acks {
        match ack {
            Ack::Wrote(kind, body) => {
                let entity = kind.split('.').next().unwrap_or_default().to_owned();
                let key = (
                    entity,
                    id_of(body),
                    body["version"].as_i64().expect("version"),
                );
                let frame = by_key.get(&key).unwrap_or_else(|| {
                    panic!("acknowledged {kind} is not in the log after the restart: {body}")
                });
                assert_eq!(
                    frame["type"], *kind,
                    "event of the acknowledged write {body}: {frame}"
                );
                assert_eq!(
                    &frame["data"], body,
                    "event data vs the acknowledged response"
                );
                last_ack.insert(id_of(body), ack);
            }
            Ack::Deleted(kind, id) => {
                assert!(
                    deleted.contains(&((*kind).to_owned(), id.clone())),
                    "acknowledged delete of {id} has no {kind} event"
                );
                last_ack.insert(id.clone(), ack);
            }
        }
    }
    for (id, ack) in last_ack {
        match ack {
            Ack::Deleted(kind, _) => {
                assert!(
                    !rows.contains_key(&id),
                    "{id} was deleted (204, {kind}) but its row is back"
                )
            }
            Ack::Wrote(kind, body) => {
                let Some(row) = rows.get(&id) else {
                    // Only a delete sent after it, unanswered when the process died, but
                    // committed, may have removed the row.
                    let entity = kind.split('.').next().unwrap_or_default();
                    assert!(
                        deleted.contains(&(format!("{entity}.deleted"), id.clone())),
                        "acknowledged {kind} of {id}, but no row and no delete after the restart: {body}"
                    );
                    continue;
                };
                assert!(
                    row["version"].as_i64() >= body["version"].as_i64(),
                    "{id}: row version {} is older than the acknowledged {}",
                    row["version"],
                    body["version"]
                );
            }
        }
    }
}

/// `objects/<last two characters of the id>/<id>` (see `Storage::key_for`).
fn object_key_of(id: &str) -> String {
    let fan = &id[id.len() - 2..];
    format!("objects/{fan}/{id}")
}

/// Every file row has its object with the row's size and sha256, and `tmp/` is empty; returns
/// the keys of the objects that have no row.
#[track_caller]
fn orphan_objects(app: &TestApp, file_rows: &[Value]) -> Vec<String> {
    assert!(
        app.tmp_files().is_empty(),
        "temp files left after the start: {:?}",
        app.tmp_files()
    );
    let mut expected = HashSet::new();
    for row in file_rows {
        let id = id_of(row);
        let key = object_key_of(&id);
        let stored = app.env.store.digest(&key);
        assert_eq!(
            stored,
            Some((
                row["size"].as_u64().expect("size"),
                row["sha256"].as_str().expect("sha256").to_owned()
            )),
            "file {id}: the stored object {key} differs from its row (or is missing): {row}"
        );
        expected.insert(key);
    }
    app.object_files()
        .into_iter()
        .filter(|k| !expected.contains(k))
        .collect()
}

/// Log, users and files after the restart; returns `(log, user rows, file rows, orphan objects)`.
async fn consistent_state(app: &TestApp) -> (Vec<Value>, Vec<Value>, Vec<Value>, Vec<String>) {
    let log = checked_log(app).await;
    let users = all_items(app, "/api/users").await;
    let files = all_items(app, "/api/files").await;
    assert_rows_match_events(&log, "user", &users, without_login_time);
    assert_rows_match_events(&log, "file", &files, Value::clone);
    let orphans = orphan_objects(app, &files);
    (log, users, files, orphans)
}

// ---------------------------------------------------------------------------------------------
// (1) uploads
// ---------------------------------------------------------------------------------------------

/// More than any looping upload's temp file ever holds, less than a stalled one's.
const STALLED_ON_DISK: u64 = 3 * MIB / 2;

/// Sets an object's last-modified time `age` into the past (the sweeper judges orphans by it);
/// false where the store does not allow it (S3).
fn age_object(app: &TestApp, key: &str, age: Duration) -> bool {
    app.env
        .store
        .set_modified(key, app.data_path(), SystemTime::now() - age)
        .is_some()
}

/// An object without a row, exactly as a crash between publishing and committing leaves one.
fn plant_orphan(app: &TestApp, bytes: &[u8]) -> String {
    let key = object_key_of(&uuid::Uuid::now_v7().to_string());
    app.env.store.put(&key, bytes);
    key
}

#[tokio::test]
async fn kill_during_concurrent_uploads() {
    let mut app = TestApp::spawn_with(&["--file-sweep-interval-secs", "1"], &[]).await;
    let out = Outcome::default();

    // Three 8 MiB uploads that stall after 3 MiB: certainly mid-stream when the process dies.
    // (The temp writer buffers 1 MiB, so their temp files then hold at least 2 MiB; the other
    // uploads are smaller than `STALLED_ON_DISK`.)
    let mut stalled = Vec::new();
    for k in 0..3u64 {
        let form =
            Multipart::new().file_generated(&format!("stalled-{k}.bin"), None, 0xC0DE + k, 8 * MIB);
        let req = app
            .client
            .post(app.url("/api/files"))
            .bearer_auth(&app.admin_token)
            .header(CONTENT_TYPE, form.content_type())
            .header(CONTENT_LENGTH, form.len())
            .body(reqwest::Body::wrap_stream(
                form.into_stalling_stream(3 * MIB),
            ));
        stalled.push(tokio::spawn(
            async move { req.send().await.map(|r| r.status()) },
        ));
    }
    // Three tasks uploading one file after another, and deleting every other one again, until
    // the server dies.
    let generated: Arc<Mutex<HashMap<String, (u64, u64)>>> = Arc::default();
    let mut loopers = Vec::new();
    for t in 0..3u64 {
        let (api, out, generated) = (Api::of(&app), out.clone(), generated.clone());
        loopers.push(tokio::spawn(async move {
            for i in 0u64.. {
                let (seed, len) = (t << 32 | i, 200 * KIB + (i % 5) * 300 * KIB + t);
                let form =
                    Multipart::new().file_generated(&format!("u{t}-{i}.bin"), None, seed, len);
                let req = api
                    .client
                    .post(format!("{}/api/files", api.base))
                    .header(CONTENT_TYPE, form.content_type())
                    .header(CONTENT_LENGTH, form.len())
                    .body(reqwest::Body::wrap_stream(form.into_stream()));
                let Ok(resp) = api.send(req).await else {
                    return;
                };
                if !out.expect("upload", &resp, 201) {
                    return;
                }
                let id = id_of(&resp.1);
                generated
                    .lock()
                    .expect("lock")
                    .insert(id.clone(), (seed, len));
                out.ack(Ack::Wrote("file.created", resp.1));
                // Every other file is deleted again: row first, then its bytes.
                if i % 2 == 1 {
                    let Ok(deleted) = api.delete(&format!("/api/files/{id}")).await else {
                        return;
                    };
                    if !out.expect("delete file", &deleted, 204) {
                        return;
                    }
                    out.ack(Ack::Deleted("file.deleted", id));
                }
            }
        }));
    }

    wait_for(
        "3 stalled uploads in tmp/ and 6 completed uploads",
        || async {
            let parts = app
                .tmp_files()
                .iter()
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() >= STALLED_ON_DISK))
                .count();
            parts >= 3 && out.count() >= 6
        },
    )
    .await;
    app.kill9_and_restart().await;
    // Right after the start, before anything else: interrupted uploads left no temp file.
    assert!(
        app.tmp_files().is_empty(),
        "tmp/ should be emptied at start: {:?}",
        app.tmp_files()
    );

    join_all_within(loopers, "uploaders").await;
    for s in stalled {
        let ended = tokio::time::timeout(END_DEADLINE, s)
            .await
            .expect("stalled upload should end");
        let ended = ended.expect("stalled upload task");
        assert!(
            !ended.as_ref().is_ok_and(|s| s.is_success()),
            "a stalled upload cannot have succeeded: {ended:?}"
        );
    }
    out.assert_no_unexpected();
    let acks = out.acks();
    eprintln!("uploads acknowledged before the kill: {}", acks.len());

    let (log, users, files, orphans) = consistent_state(&app).await;
    assert_acks_durable(&log, &users, &files, &acks);
    // The acknowledged bytes are the bytes that were sent.
    let generated = generated.lock().expect("lock").clone();
    for row in &files {
        let id = id_of(row);
        if let Some((seed, len)) = generated.get(&id) {
            assert_eq!(row["size"].as_u64(), Some(*len), "file {id}: size");
            assert_eq!(
                row["sha256"].as_str(),
                Some(gen_sha256(*seed, *len).as_str()),
                "file {id}: sha256"
            );
        }
    }
    // At most one orphan per looping task: an upload between its rename and its commit, or a
    // delete between its commit and the removal of the bytes.
    eprintln!("objects without a row after the kill: {orphans:?}");
    assert!(
        orphans.len() <= 3,
        "more orphan objects than uploads in flight: {orphans:?}"
    );

    // The sweeper (every second here) keeps young orphans: they may be an upload about to
    // commit on another instance sharing the store. Age the real orphans past the grace, and
    // plant one aged and one young orphan so the sweep is exercised on every run.
    let young = plant_orphan(&app, b"young orphan");
    let aged = plant_orphan(&app, b"aged orphan");
    for key in orphans.iter().chain([&aged]) {
        if !age_object(&app, key, ORPHAN_GRACE + Duration::from_secs(60)) {
            // S3 sets an object's last-modified itself: the sweep of aged orphans is covered
            // by the local-store run; here the young ones must simply stay.
            eprintln!("the store cannot backdate objects; not checking the sweep of aged orphans");
            return;
        }
    }
    wait_for("the sweeper to remove the aged orphans", || async {
        orphans
            .iter()
            .chain([&aged])
            .all(|k| !app.env.store.exists(k))
    })
    .await;
    assert!(
        app.env.store.exists(&young),
        "an orphan younger than the grace period was swept: {young}"
    );
    let files_after = all_items(&app, "/api/files").await;
    assert_eq!(files_after, files, "the sweep touched file rows");
    assert_eq!(
        orphan_objects(&app, &files_after),
        [young],
        "only the young orphan is left"
    );
}

// ---------------------------------------------------------------------------------------------
// (2) a burst of concurrent user writes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn kill_during_concurrent_user_writes() {
    let mut app = TestApp::spawn().await;
    let out = Outcome::default();
    let writers = spawn_user_writers(&app, 6, &out);
    wait_for("60 acknowledged user writes", || async {
        out.count() >= 60
    })
    .await;
    app.kill9_and_restart().await;
    join_all_within(writers, "user writers").await;
    out.assert_no_unexpected();
    let acks = out.acks();
    eprintln!("user writes acknowledged before the kill: {}", acks.len());

    let (log, users, files, orphans) = consistent_state(&app).await;
    assert_acks_durable(&log, &users, &files, &acks);
    assert!(orphans.is_empty(), "objects without rows: {orphans:?}");
    // Writes work after the restart and continue the sequence.
    let before = app.latest_seq().await;
    app.create_user("after_restart", "viewer").await;
    assert_eq!(app.latest_seq().await, before + 1);
    checked_log(&app).await;
}

// ---------------------------------------------------------------------------------------------
// (3) event fan-out to a few hundred WebSockets
// ---------------------------------------------------------------------------------------------

const SOCKETS: usize = 300;

/// A socket read in the background until the connection ends; `last` is its latest durable seq.
struct Reader {
    label: String,
    welcome: i64,
    last: Arc<AtomicI64>,
    task: tokio::task::JoinHandle<Vec<Value>>,
}

fn spawn_reader(mut ws: WsClient, welcome: i64) -> Reader {
    let last = Arc::new(AtomicI64::new(welcome));
    let seen = last.clone();
    let label = ws.label.clone();
    let task = tokio::spawn(async move {
        let mut frames = Vec::new();
        // Ends with the connection (the kill); the bound only keeps a hung socket from hanging
        // the test.
        while let Some(WsRead::Json(frame)) = ws.read(LOAD_DEADLINE + END_DEADLINE).await {
            if let Some(seq) = frame_seq(&frame) {
                seen.store(seq, Ordering::SeqCst);
            }
            frames.push(frame);
        }
        frames
    });
    Reader {
        label,
        welcome,
        last,
        task,
    }
}

#[tokio::test]
async fn kill_during_websocket_fan_out() {
    use futures_util::StreamExt as _;
    let mut app = TestApp::spawn().await;
    let (addr, token) = (app.addr, app.admin_token.clone());
    let readers: Vec<Reader> = futures_util::stream::iter(0..SOCKETS)
        .map(|i| {
            let token = token.clone();
            async move {
                let (ws, welcome) = ws_auth(addr, &token, &format!("ws{i}")).await;
                spawn_reader(ws, welcome_seq(&welcome))
            }
        })
        .buffered(32)
        .collect()
        .await;

    let out = Outcome::default();
    let writers = spawn_user_writers(&app, 3, &out);
    // Kill once every socket is live and the writers are well under way.
    wait_for(
        "every socket to receive events and 30 acknowledged writes",
        || async {
            out.count() >= 30
                && readers
                    .iter()
                    .all(|r| r.last.load(Ordering::SeqCst) > r.welcome)
        },
    )
    .await;
    app.kill9_and_restart().await;
    join_all_within(writers, "user writers").await;
    out.assert_no_unexpected();

    let (log, users, files, orphans) = consistent_state(&app).await;
    assert_acks_durable(&log, &users, &files, &out.acks());
    assert!(orphans.is_empty(), "objects without rows: {orphans:?}");
    let head = log.len() as i64;

    // What each socket received before the kill: gap-free, in order, and exactly what the
    // recovered log holds (nothing was sent that the crash took back).
    let mut resume_from = Vec::new();
    let mut received_total = 0;
    for r in readers {
        let frames = tokio::time::timeout(END_DEADLINE, r.task)
            .await
            .unwrap_or_else(|_| panic!("[{}] reader did not end after the kill", r.label))
            .expect("reader task");
        let got = durable(&frames);
        let last = got.last().and_then(frame_seq).unwrap_or(r.welcome);
        assert!(
            last <= head,
            "[{}] received seq {last}, but the log after the restart ends at {head}",
            r.label
        );
        assert_gap_free(&got, r.welcome + 1, last, &r.label);
        for frame in &got {
            let seq = frame_seq(frame).expect("seq");
            assert_eq!(
                frame,
                &log[seq as usize - 1],
                "[{}] seq {seq}: sent vs recovered log",
                r.label
            );
        }
        received_total += got.len();
        resume_from.push((r.label, last));
    }
    let lasts: Vec<i64> = resume_from.iter().map(|(_, last)| *last).collect();
    eprintln!(
        "{received_total} durable frames received before the kill; last seq per socket {}..={}, log head after the restart {head}",
        lasts.iter().min().unwrap_or(&0),
        lasts.iter().max().unwrap_or(&0)
    );

    // Each socket reconnects and resumes from the last seq it saw: the rest, no gap, no duplicate.
    let (addr, token) = (app.addr, app.admin_token.clone());
    let log = &log;
    futures_util::stream::iter(resume_from)
        .for_each_concurrent(32, |(label, last)| {
            let token = token.clone();
            async move {
                let label = format!("{label}-resumed");
                let (mut ws, welcome) = ws_auth(addr, &token, &label).await;
                assert_eq!(
                    welcome_seq(&welcome),
                    head,
                    "[{label}] welcome seq after the restart"
                );
                ws.send_json(&json!({"type": "resume", "after": last}))
                    .await;
                let replayed = durable(&ws.ping_barrier().await);
                assert_gap_free(&replayed, last + 1, head, &label);
                for frame in &replayed {
                    let seq = frame_seq(frame).expect("seq");
                    assert_eq!(
                        frame,
                        &log[seq as usize - 1],
                        "[{label}] replayed seq {seq}"
                    );
                }
                ws.close().await;
            }
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// (4) the first start: the initial admin and its event
// ---------------------------------------------------------------------------------------------

/// The server's output lines, read on a thread.
fn output_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills and reaps `child`.
fn kill9(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether the server logs "listening" before its output ends (it exited), within `within`.
fn listens(lines: &std::sync::mpsc::Receiver<String>, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("\"message\":\"listening\"") => return true,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("the server neither listened nor exited within {within:?}")
            }
        }
    }
}

/// The initial admin and its `user.created` event are one transaction: whatever point the first
/// start dies at, the next start leaves an admin whose creation is in the log, and the log
/// gap-free. On PostgreSQL the process is killed while its event write waits for a lock the
/// test holds; on SQLite (one writer: no lock to hold between the two writes) the event write
/// is made to fail instead, which must fail the start rather than leave an unlogged admin.
#[tokio::test]
async fn kill_while_creating_the_first_admin() {
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
    let env = TestEnv::new().await;
    let migrated = env.run_cli(&["migrate"], "").await;
    assert!(migrated.status.success(), "migrate failed: {migrated:?}");
    let db = env.connect_db().await;

    if is_postgres() {
        // Hold the event_seq row: the server's first event write waits for it.
        let holder = db.begin().await.expect("begin");
        holder
            .execute_unprepared("SELECT last FROM event_seq WHERE id = 1 FOR UPDATE")
            .await
            .expect("lock event_seq");
        let mut child = env.spawn_server();
        let waiting = poll_until(LOAD_DEADLINE, || async {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE event_seq%'",
                ))
                .await
                .expect("pg_stat_activity")
                .expect("one row");
            row.try_get_by_index::<i64>(0).expect("count") > 0
        })
        .await;
        kill9(&mut child);
        assert!(waiting, "the server never waited for the event_seq lock");
        holder.rollback().await.expect("release event_seq");
    } else {
        // The server's first event write fails.
        let trigger = "CREATE TRIGGER crash_test_no_events BEFORE UPDATE ON event_seq \
                       BEGIN SELECT RAISE(ABORT, 'injected failure'); END";
        db.execute_unprepared(trigger)
            .await
            .expect("create trigger");
        let mut child = env.spawn_server();
        let lines = output_lines(&mut child);
        let listening = listens(&lines, LOAD_DEADLINE);
        kill9(&mut child);
        assert!(
            !listening,
            "the server started although the initial admin's event could not be written"
        );
        db.execute_unprepared("DROP TRIGGER crash_test_no_events")
            .await
            .expect("drop trigger");
    }
    let _ = db.close().await;

    let app = TestApp::spawn_in(env, &[], &[]).await;
    let (log, users, _, _) = consistent_state(&app).await;
    assert_eq!(users.len(), 1, "exactly the admin: {users:?}");
    let user_events: Vec<&Value> = log
        .iter()
        .filter(|f| f["type"].as_str().is_some_and(|t| t.starts_with("user.")))
        .collect();
    assert_eq!(
        user_events.len(),
        1,
        "exactly the admin's creation: {log:?}"
    );
    assert_eq!(log[0]["type"], "user.created", "the first event: {log:?}");
    assert_eq!(log[0]["data"]["username"], "admin");
}
