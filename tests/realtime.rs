//! Realtime: the WebSocket at `/api/ws`, the event log at `/api/events`, `/metrics` and the
//! AsyncAPI document (docs/API.md §6).
//!
//! Nothing sleeps to synchronise: every wait is for a frame (with a timeout) or a poll with a
//! deadline.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn me(app: &TestApp, token: &str) -> Value {
    let resp = app.get("/api/auth/me", token).await;
    resp.expect_status(200);
    resp.body
}

async fn delete_user(app: &TestApp, token: &str, id: &str) {
    app.delete(&format!("/api/users/{id}"), token)
        .await
        .expect_status(204);
}

async fn patch_as(app: &TestApp, token: &str, id: &str, body: &Value) -> Value {
    let resp = app.patch(&format!("/api/users/{id}"), token, body).await;
    resp.expect_status(200);
    resp.body
}

/// Asserts a presence frame: envelope, `type`, `seq: null` and exactly
/// `data: {user: {id, username}, connections}`.
#[track_caller]
fn assert_presence(frame: &Value, kind: &str, user: &Value, connections: u64) {
    assert_event_envelope(frame);
    assert_eq!(frame["type"], kind, "presence frame type: {frame}");
    assert_eq!(frame["seq"], Value::Null, "presence is ephemeral: {frame}");
    assert_eq!(
        frame["data"],
        json!({"user": user, "connections": connections}),
        "presence data: {frame}"
    );
}

/// `(type, user id, connections)` of a presence frame, for order-independent comparisons.
fn presence_key(frame: &Value) -> (String, String, u64) {
    assert_event_envelope(frame);
    (
        frame["type"].as_str().unwrap_or_default().to_owned(),
        frame["data"]["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        frame["data"]["connections"].as_u64().unwrap_or(u64::MAX),
    )
}

/// Asserts `{"type":"error","code":"bad_message","message":"…"}` exactly (message non-empty).
#[track_caller]
fn assert_bad_message(frame: &Value) {
    let obj = frame
        .as_object()
        .unwrap_or_else(|| panic!("error frame should be an object: {frame}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "message", "type"],
        "error frame keys: {frame}"
    );
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "bad_message", "{frame}");
    assert!(
        frame["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message should be a non-empty string: {frame}"
    );
}

/// Reads frames until one satisfies `pred`; returns `(frames before, the match)`.
async fn read_until(
    ws: &mut WsClient,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let v = ws.next_json(what).await;
        if pred(&v) {
            return (before, v);
        }
        before.push(v);
    }
}

/// Asserts that nothing is pending on `ws`: a ping is answered by the very next frame.
async fn assert_quiet(ws: &mut WsClient) {
    let extra = ws.ping_barrier().await;
    assert!(
        extra.is_empty(),
        "[{}] unexpected frames before the pong: {extra:?}",
        ws.label
    );
}

/// The durable frames among `frames` that are not presence/control frames (same as
/// [`durable`], named for readability in assertions about "no user event").
fn user_frames(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f["type"].as_str().is_some_and(|t| t.starts_with("user.")))
        .cloned()
        .collect()
}

// ============================================================================= handshake

#[tokio::test]
async fn handshake_welcome_carries_user_and_latest_seq() {
    let app = TestApp::spawn().await;
    app.create_user("hs_viewer", "viewer").await;
    app.create_user("hs_other", "viewer").await;
    let latest = app.latest_seq().await;
    assert!(
        latest >= 2,
        "two user creations should be in the event log, latest_seq = {latest}"
    );

    let admin = me(&app, &app.admin_token).await;
    let (mut ws, welcome) = app.ws(&app.admin_token, "admin").await;
    let epoch = welcome["epoch"]
        .as_str()
        .expect("the log's epoch")
        .to_owned();
    assert!(!epoch.is_empty());
    assert_eq!(
        welcome,
        json!({"type": "welcome", "user": admin, "seq": latest, "epoch": epoch}),
        "welcome frame"
    );
    // The presence snapshot: only the admin (this connection) is online.
    let snapshot = ws.next_json("presence snapshot").await;
    assert_presence(&snapshot, "presence.joined", &actor_of(&admin), 1);
    let extra = ws.ping_barrier().await;
    assert!(
        extra.is_empty(),
        "nothing but the welcome and the snapshot should precede the pong: {extra:?}"
    );

    // A viewer is welcome too; logging in writes exactly one audit event.
    let viewer_token = app.token_for("hs_viewer").await;
    let latest = latest + 1;
    assert_eq!(
        app.latest_seq().await,
        latest,
        "a login writes one auth.login event"
    );
    let e = ws.next_event("auth.login of the viewer").await;
    assert_eq!(e["type"], "auth.login", "{e}");
    assert_eq!(e["data"]["user"]["username"], "hs_viewer", "{e}");
    let viewer = me(&app, &viewer_token).await;
    let (mut vws, vwelcome) = app.ws(&viewer_token, "viewer").await;
    assert_eq!(
        vwelcome,
        json!({"type": "welcome", "user": viewer, "seq": latest, "epoch": epoch}),
        "viewer's welcome frame (one log, one epoch)"
    );
    let mut snapshot = [
        vws.next_json("snapshot 1").await,
        vws.next_json("snapshot 2").await,
    ];
    snapshot.sort_by_key(|f| f["data"]["user"]["username"].to_string());
    assert_presence(&snapshot[0], "presence.joined", &actor_of(&admin), 1);
    assert_presence(&snapshot[1], "presence.joined", &actor_of(&viewer), 1);
    let extra = vws.ping_barrier().await;
    assert!(
        extra.is_empty(),
        "viewer: unexpected frames after the snapshot: {extra:?}"
    );
}

#[tokio::test]
async fn bad_token_is_closed_with_4401() {
    let app = TestApp::spawn().await;
    app.create_user("bt_leaver", "viewer").await;

    // A well-formed JWT with a broken signature.
    let mut parts: Vec<String> = app.admin_token.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "admin token is a JWT");
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, first);
    let forged = parts.join(".");

    // The access token of a session that has logged out.
    let session = app.login("bt_leaver", USER_PASSWORD).await;
    let (access, refresh) = assert_token_pair(&session);
    app.post(
        "/api/auth/logout",
        &access,
        &json!({"refresh_token": refresh}),
    )
    .await
    .expect_status(204);

    for (label, token) in [
        ("garbage token", "not-a-token".to_owned()),
        ("empty token", String::new()),
        ("forged signature", forged),
        ("logged-out session", access),
    ] {
        let mut ws = WsClient::connect(app.addr, label).await;
        ws.send_auth(&token).await;
        let before = ws.expect_close(4401, WS_TIMEOUT).await;
        assert!(
            before.is_empty(),
            "[{label}] no frame may precede the 4401 close: {before:?}"
        );
    }
}

#[tokio::test]
async fn garbage_first_message_is_closed_with_4401() {
    let app = TestApp::spawn().await;
    let cases: [(&str, String); 5] = [
        ("plain text", "hello".to_owned()),
        ("truncated JSON", "{\"type\":\"auth\",".to_owned()),
        ("auth without token", json!({"type": "auth"}).to_string()),
        ("ping before auth", json!({"type": "ping"}).to_string()),
        (
            "resume before auth",
            json!({"type": "resume", "after": 0}).to_string(),
        ),
    ];
    for (label, text) in cases {
        let mut ws = WsClient::connect(app.addr, label).await;
        ws.send_text(&text).await;
        let before = ws.expect_close(4401, WS_TIMEOUT).await;
        assert!(
            before.is_empty(),
            "[{label}] no frame may precede the 4401 close: {before:?}"
        );
    }
}

#[tokio::test]
async fn late_auth_is_closed_with_4401() {
    let app = TestApp::spawn_with(&["--ws-auth-timeout-secs", "1"], &[]).await;

    // Prompt authentication still works under the short deadline.
    let (mut prompt, welcome) = app.ws(&app.admin_token, "prompt").await;
    assert_eq!(welcome["type"], "welcome");

    let mut silent = WsClient::connect(app.addr, "silent").await;
    let start = Instant::now();
    let before = silent.expect_close(4401, Duration::from_secs(5)).await;
    let elapsed = start.elapsed();
    assert!(
        before.is_empty(),
        "no frame may precede the 4401 close: {before:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after {elapsed:?}, before the 1 s auth deadline"
    );

    // The authenticated connection outlives the deadline.
    prompt.ping_barrier().await;
}

// ============================================================================= live events

#[tokio::test]
async fn two_admins_receive_user_lifecycle_events() {
    let app = TestApp::spawn().await;
    let bob = app.create_user("bob_admin", "admin").await;
    let bob_token = app.token_for("bob_admin").await;
    let latest = app.latest_seq().await;

    let (mut a, wa) = app.ws(&app.admin_token, "A").await;
    let (mut b, wb) = app.ws(&bob_token, "B").await;
    assert_eq!(welcome_seq(&wa), latest, "A's welcome seq");
    assert_eq!(welcome_seq(&wb), latest, "B's welcome seq");

    let created = app.create_user("carol", "viewer").await;
    let id = id_of(&created);
    let updated = app
        .admin_patch_user(&id, &json!({"display_name": "Carol C."}))
        .await;
    let updated_by_bob = patch_as(&app, &bob_token, &id, &json!({"role": "admin"})).await;
    delete_user(&app, &app.admin_token, &id).await;

    let admin = app.admin_actor();
    let bob_actor = actor_of(&bob);
    for ws in [&mut a, &mut b] {
        let e = ws.next_event("user.created").await;
        assert_durable_event(&e, "user.created", latest + 1, &admin, &created);
        let e = ws.next_event("user.updated").await;
        assert_durable_event(&e, "user.updated", latest + 2, &admin, &updated);
        // A role change is announced as such (the audit trail), then as the new state.
        let e = ws.next_event("user.role_changed by bob").await;
        assert_durable_event(
            &e,
            "user.role_changed",
            latest + 3,
            &bob_actor,
            &json!({"id": id, "username": "carol", "from": "viewer", "to": "admin"}),
        );
        let e = ws.next_event("user.updated by bob").await;
        assert_durable_event(&e, "user.updated", latest + 4, &bob_actor, &updated_by_bob);
        let e = ws.next_event("user.deleted").await;
        assert_durable_event(&e, "user.deleted", latest + 5, &admin, &json!({"id": id}));
        let extra = ws.ping_barrier().await;
        assert!(
            extra.iter().all(is_presence),
            "[{}] unexpected frames after the five events: {extra:?}",
            ws.label
        );
    }
}

#[tokio::test]
async fn password_change_is_user_updated_and_login_is_audited() {
    let app = TestApp::spawn().await;
    let pat = app.create_user("pat", "viewer").await;
    let id = id_of(&pat);
    let (mut ws, welcome) = app.ws(&app.admin_token, "admin").await;
    let s = welcome_seq(&welcome);

    // Admin sets a password: a user.updated with a version bump.
    let patched = app
        .admin_patch_user(&id, &json!({"password": "admin-set-pw-1"}))
        .await;
    assert!(
        patched["version"].as_i64() > pat["version"].as_i64(),
        "a password change bumps the version: {patched}"
    );
    let e = ws.next_event("user.updated (admin password)").await;
    assert_durable_event(&e, "user.updated", s + 1, &app.admin_actor(), &patched);

    // Login: one auth.login with the user as actor. Own password change: user.updated with
    // the user as actor.
    let token = app.login("pat", "admin-set-pw-1").await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let e = ws.next_event("auth.login").await;
    assert_durable_event(
        &e,
        "auth.login",
        s + 2,
        &actor_of(&pat),
        &json!({"user": actor_of(&pat), "ip": "127.0.0.1"}),
    );
    app.post(
        "/api/auth/password",
        &token,
        &json!({"current_password": "admin-set-pw-1", "new_password": "pat-own-pw-2"}),
    )
    .await
    .expect_status(204);
    let now = app.admin_get_user(&id).await;
    assert!(
        now["version"].as_i64() > patched["version"].as_i64(),
        "changing one's own password bumps the version: {now}"
    );
    let e = ws.next_event("user.updated (own password)").await;
    assert_durable_event(&e, "user.updated", s + 3, &actor_of(&pat), &now);
    assert_eq!(app.latest_seq().await, s + 3, "exactly three events");

    // A failed login is audited without an actor, whether or not the user exists.
    for who in ["pat", "nobody-here"] {
        app.try_login(who, "wrong password").await;
    }
    for (i, who) in ["pat", "nobody-here"].into_iter().enumerate() {
        let e = ws.next_event("auth.login_failed").await;
        assert_durable_event(
            &e,
            "auth.login_failed",
            s + 4 + i as i64,
            &Value::Null,
            &json!({"username": who, "ip": "127.0.0.1"}),
        );
    }
}

/// Writes 20 changes one after another and measures, for each, the time from the REST response
/// to the event frame. docs/API.md §6: every event within 100 ms of its write. Tolerant of scheduling
/// noise on a loaded machine: the median must be within 100 ms, the worst within 500 ms.
#[tokio::test]
async fn events_arrive_within_100ms_of_the_write() {
    let app = TestApp::spawn().await;
    let user = app.create_user("prompt_target", "viewer").await;
    let (mut ws, _) = app.ws(&app.admin_token, "admin").await;
    let mut latencies = Vec::new();
    for i in 0..20 {
        let body = app
            .admin_patch_user(
                &id_of(&user),
                &json!({"display_name": format!("prompt {i}")}),
            )
            .await;
        let responded = Instant::now();
        let e = ws.next_event("user.updated").await;
        latencies.push(responded.elapsed());
        assert_eq!(e["data"], body, "{e}");
    }
    latencies.sort();
    assert!(
        latencies[latencies.len() / 2] <= Duration::from_millis(100)
            && latencies[latencies.len() - 1] <= Duration::from_millis(500),
        "event delivery after the REST response (sorted): {latencies:?}"
    );
}

// ============================================================================= resume

#[tokio::test]
async fn resume_after_reconnect_replays_missed_events() {
    let app = TestApp::spawn().await;
    let (ws, welcome) = app.ws(&app.admin_token, "first").await;
    let s = welcome_seq(&welcome);
    ws.close().await;

    // Five changes while no socket is open.
    let u1 = app.create_user("missed_one", "viewer").await;
    let u1b = app
        .admin_patch_user(&id_of(&u1), &json!({"display_name": "One"}))
        .await;
    let u2 = app.create_user("missed_two", "viewer").await;
    let u2b = app
        .admin_patch_user(&id_of(&u2), &json!({"disabled": true}))
        .await;
    delete_user(&app, &app.admin_token, &id_of(&u1)).await;
    let expected = [
        ("user.created", u1.clone()),
        ("user.updated", u1b),
        ("user.created", u2.clone()),
        ("user.updated", u2b),
        ("user.deleted", json!({"id": id_of(&u1)})),
    ];

    let (mut ws, welcome) = app.ws(&app.admin_token, "second").await;
    assert_eq!(welcome_seq(&welcome), s + 5, "welcome seq after 5 changes");
    ws.send_json(&json!({"type": "resume", "after": s})).await;
    let admin = app.admin_actor();
    for (i, (kind, data)) in (1..).zip(&expected) {
        let e = ws.next_event(&format!("replayed event {i}")).await;
        assert_durable_event(&e, kind, s + i, &admin, data);
    }

    // Live delivery continues right after the replay, without duplicates.
    let u3 = app.create_user("live_three", "viewer").await;
    let e = ws.next_event("live event after the replay").await;
    assert_durable_event(&e, "user.created", s + 6, &admin, &u3);
    let u3b = app
        .admin_patch_user(&id_of(&u3), &json!({"display_name": "Three"}))
        .await;
    let e = ws.next_event("second live event").await;
    assert_durable_event(&e, "user.updated", s + 7, &admin, &u3b);

    // Resuming at the latest seq replays nothing.
    let (mut up_to_date, _) = app.ws(&app.admin_token, "up to date").await;
    up_to_date
        .send_json(&json!({"type": "resume", "after": s + 7}))
        .await;
    let extra = up_to_date.ping_barrier().await;
    assert!(
        extra.iter().all(is_presence),
        "resume at the latest seq should replay nothing: {extra:?}"
    );
}

#[tokio::test]
async fn resume_while_a_writer_is_busy_is_gap_and_duplicate_free() {
    const WRITES: usize = 50;
    let app = Arc::new(TestApp::spawn().await);
    let target = app.create_user("busy_target", "viewer").await;
    let id = id_of(&target);
    let s = app.latest_seq().await;

    let (progress_tx, mut progress_rx) = tokio::sync::watch::channel(0usize);
    let writer = tokio::spawn({
        let app = app.clone();
        let id = id.clone();
        async move {
            let mut bodies = Vec::with_capacity(WRITES);
            for i in 0..WRITES {
                let body = app
                    .admin_patch_user(&id, &json!({"display_name": format!("busy {i}")}))
                    .await;
                bodies.push(body);
                let _ = progress_tx.send(i + 1);
            }
            bodies
        }
    });

    // Join in the middle of the writes and resume from before the first one.
    tokio::time::timeout(Duration::from_secs(60), progress_rx.wait_for(|n| *n >= 10))
        .await
        .expect("the writer should make 10 writes within 60 s")
        .expect("writer alive");
    let (mut ws, welcome) = app.ws(&app.admin_token, "resumer").await;
    let w = welcome_seq(&welcome);
    assert!(
        w >= s + 10,
        "welcome seq {w} should include the first writes"
    );
    ws.send_json(&json!({"type": "resume", "after": s})).await;
    let collector = Collector::spawn(ws);

    let bodies = writer.await.expect("writer task");
    let last = app.latest_seq().await;
    assert_eq!(last, s + WRITES as i64, "one event per PATCH");
    let collected = collector.finish(last, Duration::from_secs(30)).await;
    let frames = durable(&collected.frames);

    // Live frames may have arrived between the welcome and the resume (seq > w, in order);
    // from the first replayed frame (seq s+1) on, the stream must be exactly s+1..=last.
    let start = frames
        .iter()
        .position(|f| frame_seq(f) == Some(s + 1))
        .unwrap_or_else(|| {
            panic!(
                "the replay never sent seq {}; durable seqs received: {:?}",
                s + 1,
                frames.iter().map(frame_seq).collect::<Vec<_>>()
            )
        });
    let (pre, after_resume) = frames.split_at(start);
    eprintln!(
        "resume while writing: welcome seq {w}, resumed after {s}, {} live frames before the replay, {} after",
        pre.len(),
        after_resume.len()
    );
    if !pre.is_empty() {
        assert_gap_free(
            pre,
            w + 1,
            w + pre.len() as i64,
            "live frames before the replay",
        );
    }
    assert_gap_free(after_resume, s + 1, last, "stream after resume");
    let log = app.event_log_after(s).await;
    assert_eq!(after_resume, log.as_slice(), "socket stream vs /api/events");

    let by_version: HashMap<i64, &Value> = bodies
        .iter()
        .map(|b| (b["version"].as_i64().expect("version"), b))
        .collect();
    for frame in after_resume {
        let version = frame["data"]["version"].as_i64().expect("data.version");
        let seq = frame_seq(frame).expect("seq");
        assert_durable_event(
            frame,
            "user.updated",
            seq,
            &app.admin_actor(),
            by_version[&version],
        );
    }

    // Nothing else is pending: the next write is the next frame.
    let mut ws = collected.ws;
    let next = app
        .admin_patch_user(&id, &json!({"display_name": "after all"}))
        .await;
    let e = ws.next_event("event after the stream").await;
    assert_durable_event(&e, "user.updated", last + 1, &app.admin_actor(), &next);
}

#[tokio::test]
async fn resume_older_than_retained_log_gets_resync() {
    let app = TestApp::spawn_with(
        &[
            "--event-retention-count",
            "3",
            "--event-sweep-interval-secs",
            "1",
        ],
        &[],
    )
    .await;
    let names: Vec<String> = (0..6).map(|i| format!("retained{i}")).collect();
    for name in &names {
        app.create_user(name, "viewer").await;
    }
    let latest = app.latest_seq().await;
    assert!(latest >= 6, "six creations logged, latest_seq = {latest}");

    let swept = poll_until(Duration::from_secs(30), || async {
        let log = app.events("?after=0&limit=1000").await;
        log["items"]
            .as_array()
            .and_then(|items| items.first())
            .and_then(frame_seq)
            .is_some_and(|first| first > 1)
    })
    .await;
    assert!(
        swept,
        "with --event-retention-count 3 the oldest events should be swept within 30 s: {}",
        app.events("?after=0&limit=1000").await
    );
    let retained = app.event_log_after(0).await;
    let first = frame_seq(&retained[0]).expect("seq");
    assert_eq!(
        frame_seq(retained.last().expect("retained events")),
        Some(latest),
        "the newest event is kept"
    );
    assert!(
        first <= latest - 2,
        "the newest 3 events must be kept, but the log starts at {first} (latest {latest})"
    );

    // Resuming inside the retained window replays it.
    let (mut inside, _) = app.ws(&app.admin_token, "inside").await;
    inside
        .send_json(&json!({"type": "resume", "after": first - 1}))
        .await;
    let mut replayed = Vec::new();
    for _ in 0..retained.len() {
        replayed.push(inside.next_event("replay of the retained log").await);
    }
    assert_eq!(replayed, retained, "replay of the retained window");

    // Older than the log, or beyond the latest seq: resync with the latest seq.
    let (mut old, _) = app.ws(&app.admin_token, "too old").await;
    old.send_json(&json!({"type": "resume", "after": 0})).await;
    assert_eq!(
        old.next_event("resync").await,
        json!({"type": "resync", "seq": latest})
    );
    let (mut future, _) = app.ws(&app.admin_token, "from the future").await;
    future
        .send_json(&json!({"type": "resume", "after": latest + 50}))
        .await;
    assert_eq!(
        future.next_event("resync").await,
        json!({"type": "resync", "seq": latest})
    );

    // Live delivery continues from there on every connection.
    let fresh = app.create_user("after_resync", "viewer").await;
    for ws in [&mut inside, &mut old, &mut future] {
        let e = ws.next_event("live event after resync").await;
        assert_durable_event(&e, "user.created", latest + 1, &app.admin_actor(), &fresh);
    }
}

/// `--event-retention-days`: events older than that are swept, whatever their seq — also ones
/// between newer events (ts runs with seq only roughly) — and the newest event stays even when
/// it is old, so `latest_seq` and resume keep their meaning.
#[tokio::test]
async fn events_older_than_the_retention_days_are_swept() {
    let app = TestApp::spawn_with(
        &[
            "--event-retention-days",
            "2",
            "--event-sweep-interval-secs",
            "1",
        ],
        &[],
    )
    .await;
    for i in 0..6 {
        app.create_user(&format!("aged{i}"), "viewer").await;
    }
    let log = app.event_log_after(0).await;
    let seqs: Vec<i64> = log.iter().filter_map(frame_seq).collect();
    let latest = *seqs.last().expect("events logged");
    // Old: the first two, one in the middle, and the newest.
    let old: BTreeSet<i64> = [seqs[0], seqs[1], seqs[seqs.len() / 2], latest].into();
    let db = app.env.connect_db().await;
    let backend = sea_orm::ConnectionTrait::get_database_backend(&db);
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE events SET created_at = $1 WHERE seq = $2",
        _ => "UPDATE events SET created_at = ? WHERE seq = ?",
    };
    let long_ago = chrono::Utc::now() - chrono::Duration::days(3);
    for seq in &old {
        sea_orm::ConnectionTrait::execute_raw(
            &db,
            sea_orm::Statement::from_sql_and_values(backend, sql, [long_ago.into(), (*seq).into()]),
        )
        .await
        .expect("age an event");
    }
    let _ = db.close().await;

    let expected: Vec<i64> = seqs
        .iter()
        .copied()
        .filter(|s| !old.contains(s) || *s == latest)
        .collect();
    let swept = poll_until(Duration::from_secs(30), || async {
        let now: Vec<i64> = app
            .event_log_after(0)
            .await
            .iter()
            .filter_map(frame_seq)
            .collect();
        now == expected
    })
    .await;
    let now: Vec<i64> = app
        .event_log_after(0)
        .await
        .iter()
        .filter_map(frame_seq)
        .collect();
    assert!(
        swept,
        "aged events {old:?} should be swept (the newest kept) within 30 s; log is {now:?}, expected {expected:?}"
    );
    assert_eq!(app.latest_seq().await, latest, "latest_seq unchanged");
}

/// The retention sweep runs while writers are busy: every write still succeeds and the live
/// stream stays gap-free.
#[tokio::test]
async fn retention_sweep_does_not_disturb_writers() {
    const WRITERS: usize = 4;
    let app = Arc::new(
        TestApp::spawn_with(
            &[
                "--event-retention-count",
                "20",
                "--event-sweep-interval-secs",
                "1",
            ],
            &[],
        )
        .await,
    );
    let mut ids = Vec::new();
    for i in 0..WRITERS {
        ids.push(id_of(
            &app.create_user(&format!("sweep{i}"), "viewer").await,
        ));
    }
    let (ws, welcome) = app.ws(&app.admin_token, "reader").await;
    let collector = Collector::spawn(ws);

    // Long enough for several sweeps (one per second).
    let until = Instant::now() + Duration::from_secs(4);
    let mut tasks = Vec::new();
    for id in ids {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failures) = (0usize, Vec::new());
            while Instant::now() < until {
                let resp = app
                    .patch(
                        &format!("/api/users/{id}"),
                        &app.admin_token,
                        &json!({"display_name": format!("sweep {ok}")}),
                    )
                    .await;
                if resp.status.as_u16() == 200 {
                    ok += 1;
                } else {
                    failures.push(format!("{} {}", resp.status, resp.text));
                }
            }
            (ok, failures)
        }));
    }
    let (mut ok, mut failures) = (0usize, Vec::new());
    for t in tasks {
        let (n, f) = t.await.expect("writer task");
        ok += n;
        failures.extend(f);
    }
    let mut problems = Vec::new();
    if !failures.is_empty() {
        problems.push(format!(
            "{} of {} writes failed while the retention sweep ran, e.g. {:?}",
            failures.len(),
            failures.len() + ok,
            failures.first()
        ));
    }
    // The reader must have received every event, gap-free (checked even if writes failed).
    let last = app.latest_seq().await;
    let collected = collector.finish(last, Duration::from_secs(30)).await;
    let seqs: Vec<i64> = durable(&collected.frames)
        .iter()
        .filter_map(frame_seq)
        .collect();
    let expected: Vec<i64> = (welcome_seq(&welcome) + 1..=last).collect();
    if seqs != expected {
        let missing: Vec<i64> = expected
            .iter()
            .copied()
            .filter(|s| !seqs.contains(s))
            .collect();
        problems.push(format!(
            "live stream during sweeps is not gap-free: expected {}..={last}, got {} frames, missing seqs {missing:?}",
            welcome_seq(&welcome) + 1,
            seqs.len()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ============================================================================= control messages

#[tokio::test]
async fn ping_subscribe_and_bad_messages() {
    let app = TestApp::spawn().await;
    let (mut a, _) = app.ws(&app.admin_token, "subscriber").await;
    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;

    // ping → pong
    let before = a.ping_barrier().await;
    assert!(
        before.iter().all(is_presence),
        "only presence frames may precede the first pong: {before:?}"
    );

    // subscribe to presence only
    a.send_json(&json!({"type": "subscribe", "topics": ["presence"]}))
        .await;
    let (before, subscribed) =
        read_until(&mut a, "subscribed", |f| f["type"] == "subscribed").await;
    assert!(before.iter().all(is_presence), "{before:?}");
    assert_eq!(
        subscribed,
        json!({"type": "subscribed", "topics": ["presence"]})
    );

    // A user change is not delivered, a presence event is.
    let viewer = app.create_user("sub_viewer", "viewer").await;
    let e = watcher
        .next_event("user.created on the unfiltered socket")
        .await;
    assert_eq!(e["type"], "user.created", "{e}");
    let vtoken = app.token_for("sub_viewer").await;
    let (_vws, _) = app.ws(&vtoken, "viewer").await;
    let (before, joined) = read_until(&mut a, "presence.joined for the viewer", |f| {
        f["type"] == "presence.joined" && f["data"]["user"]["id"] == viewer["id"]
    })
    .await;
    assert_presence(&joined, "presence.joined", &actor_of(&viewer), 1);
    let mut seen = before;
    seen.extend(a.ping_barrier().await);
    assert!(
        user_frames(&seen).is_empty(),
        "subscribed to presence only, but user events arrived: {seen:?}"
    );

    // Widen the subscription again: user events come back.
    a.send_json(&json!({"type": "subscribe", "topics": ["users", "presence"]}))
        .await;
    let (before, subscribed) =
        read_until(&mut a, "subscribed", |f| f["type"] == "subscribed").await;
    assert!(before.iter().all(is_presence), "{before:?}");
    let topics: BTreeSet<&str> = subscribed["topics"]
        .as_array()
        .unwrap_or_else(|| panic!("subscribed.topics should be an array: {subscribed}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        topics,
        BTreeSet::from(["presence", "users"]),
        "{subscribed}"
    );
    let updated = app
        .admin_patch_user(&id_of(&viewer), &json!({"display_name": "Sub"}))
        .await;
    let e = a.next_event("user.updated after re-subscribing").await;
    assert_eq!(e["type"], "user.updated", "{e}");
    assert_eq!(e["data"], updated);

    // Every documented topic is accepted.
    let all = ["users", "files", "downloads", "presence"];
    a.send_json(&json!({"type": "subscribe", "topics": all}))
        .await;
    let (before, subscribed) =
        read_until(&mut a, "subscribed", |f| f["type"] == "subscribed").await;
    assert!(before.iter().all(is_presence), "{before:?}");
    let topics: BTreeSet<&str> = subscribed["topics"]
        .as_array()
        .unwrap_or_else(|| panic!("subscribed.topics should be an array: {subscribed}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(topics, BTreeSet::from(all), "{subscribed}");

    // Bad messages get an error frame; the connection stays usable.
    a.send_text("this is not json").await;
    assert_bad_message(&a.next_event("error for invalid JSON").await);
    a.send_json(&json!({"type": "no_such_message"})).await;
    assert_bad_message(&a.next_event("error for an unknown type").await);
    let before = a.ping_barrier().await;
    assert!(before.iter().all(is_presence), "{before:?}");
}

// ============================================================================= slow consumer

#[tokio::test]
async fn slow_consumer_is_closed_with_4008_and_others_get_everything() {
    const PRODUCERS: usize = 4;
    const MAX_WRITES: usize = 20_000;
    let app = Arc::new(TestApp::spawn_with(&["--ws-queue-capacity", "8"], &[]).await);
    let slowpoke = app.create_user("slowpoke", "viewer").await;
    let mut targets = Vec::new();
    for i in 0..PRODUCERS {
        // Long emails make every frame bigger (about 1 KB).
        let name = format!("slowtarget{i}");
        let email = format!("{}{i}@example.com", "x".repeat(230));
        targets.push(
            app.create_user_with(&json!({
                "username": name, "email": email, "password": USER_PASSWORD, "role": "viewer",
            }))
            .await,
        );
    }
    let slow_token = app.token_for("slowpoke").await;

    let mut slow = WsClient::connect_with_recv_buffer(app.addr, "slow", 4096).await;
    slow.send_auth(&slow_token).await;
    let slow_welcome = slow.next_json("welcome").await;
    assert_eq!(slow_welcome["type"], "welcome", "{slow_welcome}");
    // From here on, `slow` is not read until the producers stop.

    let (fast, fast_welcome) = app.ws(&app.admin_token, "fast").await;
    let fast = Collector::spawn(fast);

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let mut producers = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let (app, stop, writes, id) = (app.clone(), stop.clone(), writes.clone(), id_of(target));
        producers.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) && writes.fetch_add(1, Ordering::SeqCst) < MAX_WRITES
            {
                // 100 four-byte characters: the longest display name allowed.
                let name = format!("{}{}", "\u{1F600}".repeat(99), n % 10);
                app.admin_patch_user(&id, &json!({"display_name": name}))
                    .await;
                n += 1;
            }
            (i, n)
        }));
    }

    // Produce until the server reports the slow consumer (metric, or its presence.left seen by
    // the fast client), bounded in time and count.
    let app_ref = &*app;
    let fast_ref = &fast;
    let writes_ref = &*writes;
    let slow_id = slowpoke["id"].clone();
    let slow_id_ref = &slow_id;
    let _ = poll_until(Duration::from_secs(120), || async move {
        let left = fast_ref
            .frames()
            .iter()
            .any(|f| f["type"] == "presence.left" && f["data"]["user"]["id"] == *slow_id_ref);
        left || writes_ref.load(Ordering::SeqCst) >= MAX_WRITES
            || metric_sum(app_ref, "switchboard_ws_slow_consumers_total").await >= 1.0
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for p in producers {
        p.await.expect("producer task");
    }
    let last = app.latest_seq().await;
    eprintln!(
        "slow consumer: stopped producing after {} writes in {:?}",
        writes.load(Ordering::SeqCst).min(MAX_WRITES),
        started.elapsed()
    );

    // The slow client is read from now on, while the fast one is collected: the server waits a
    // bounded time (15 s, `SLOW_CLOSE_WAIT` in src/realtime/ws.rs) for a stalled reader to take
    // its close frame.
    let (collected, frames) = tokio::join!(
        fast.finish(last, Duration::from_secs(60)),
        slow.expect_close(4008, Duration::from_secs(30))
    );

    // The fast client got every event, gap-free, and is still connected.
    assert_gap_free(
        &durable(&collected.frames),
        welcome_seq(&fast_welcome) + 1,
        last,
        "fast client",
    );
    let mut fast_ws = collected.ws;
    fast_ws.ping_barrier().await;

    // The slow client: whatever it got is a gap-free prefix, then close 4008.
    let got = durable(&frames);
    let s = welcome_seq(&slow_welcome);
    assert_gap_free(&got, s + 1, s + got.len() as i64, "slow client's frames");
    assert!(
        metric_sum(&app, "switchboard_ws_slow_consumers_total").await >= 1.0,
        "switchboard_ws_slow_consumers_total should count the slow consumer"
    );
}

// ============================================================================= revocation

#[tokio::test]
async fn revocation_closes_sockets_on_disable_and_logout() {
    let app = TestApp::spawn().await;
    let (mut admin_ws, _) = app.ws(&app.admin_token, "admin").await;

    // Disabled by an admin: that user's socket closes with 4401 within 1 s.
    let vera = app.create_user("rev_vera", "viewer").await;
    let token = app.token_for("rev_vera").await;
    let (mut vws, _) = app.ws(&token, "vera").await;
    vws.ping_barrier().await;
    app.admin_patch_user(&id_of(&vera), &json!({"disabled": true}))
        .await;
    vws.expect_close(4401, Duration::from_secs(1)).await;

    // Logout of one session closes that session's socket, not the other session's.
    app.create_user("rev_leaver", "viewer").await;
    let first = app.login("rev_leaver", USER_PASSWORD).await;
    let (access1, refresh1) = assert_token_pair(&first);
    let second = app.token_for("rev_leaver").await;
    let (mut ws1, _) = app.ws(&access1, "session 1").await;
    let (mut ws2, _) = app.ws(&second, "session 2").await;
    ws1.ping_barrier().await;
    app.post(
        "/api/auth/logout",
        &access1,
        &json!({"refresh_token": refresh1}),
    )
    .await
    .expect_status(204);
    ws1.expect_close(4401, Duration::from_secs(1)).await;
    ws2.ping_barrier().await;
    admin_ws.ping_barrier().await;
}

#[tokio::test]
async fn revocation_closes_sockets_on_delete_demote_password_and_refresh_reuse() {
    let app = TestApp::spawn().await;
    let (mut admin_ws, _) = app.ws(&app.admin_token, "admin").await;

    // Deleted.
    let del = app.create_user("rev_deleted", "viewer").await;
    let (mut ws, _) = app.ws(&app.token_for("rev_deleted").await, "deleted").await;
    ws.ping_barrier().await;
    delete_user(&app, &app.admin_token, &id_of(&del)).await;
    ws.expect_close(4401, Duration::from_secs(1)).await;

    // Demoted admin.
    let dem = app.create_user("rev_demoted", "admin").await;
    let (mut ws, _) = app.ws(&app.token_for("rev_demoted").await, "demoted").await;
    ws.ping_barrier().await;
    app.admin_patch_user(&id_of(&dem), &json!({"role": "viewer"}))
        .await;
    ws.expect_close(4401, Duration::from_secs(1)).await;

    // Password set by an admin.
    let pw = app.create_user("rev_pw_admin", "viewer").await;
    let (mut ws, _) = app
        .ws(&app.token_for("rev_pw_admin").await, "pw by admin")
        .await;
    ws.ping_barrier().await;
    app.admin_patch_user(&id_of(&pw), &json!({"password": "new-password-77"}))
        .await;
    ws.expect_close(4401, Duration::from_secs(1)).await;

    // Own password change: every socket of that user closes, including the changer's own.
    app.create_user("rev_pw_self", "viewer").await;
    let t1 = app.token_for("rev_pw_self").await;
    let t2 = app.token_for("rev_pw_self").await;
    let (mut ws1, _) = app.ws(&t1, "own pw, changer").await;
    let (mut ws2, _) = app.ws(&t2, "own pw, other session").await;
    ws1.ping_barrier().await;
    ws2.ping_barrier().await;
    app.post(
        "/api/auth/password",
        &t1,
        &json!({"current_password": USER_PASSWORD, "new_password": "changed-pw-88"}),
    )
    .await
    .expect_status(204);
    ws1.expect_close(4401, Duration::from_secs(1)).await;
    ws2.expect_close(4401, Duration::from_secs(1)).await;

    // Refresh-token reuse revokes the session and closes its socket.
    app.create_user("rev_reuse", "viewer").await;
    let first = app.login("rev_reuse", USER_PASSWORD).await;
    let (access1, refresh1) = assert_token_pair(&first);
    let (mut ws, _) = app.ws(&access1, "reused session").await;
    ws.ping_barrier().await;
    app.post_anon("/api/auth/refresh", &json!({"refresh_token": refresh1}))
        .await
        .expect_status(200);
    let reuse = app
        .post_anon("/api/auth/refresh", &json!({"refresh_token": refresh1}))
        .await;
    assert_error(&reuse, 401, "unauthorized");
    ws.expect_close(4401, Duration::from_secs(1)).await;

    admin_ws.ping_barrier().await;
}

// ============================================================================= presence

#[tokio::test]
async fn presence_joined_and_left_with_connection_counts() {
    let app = TestApp::spawn().await;
    let b_user = app.create_user("pres_b", "viewer").await;
    let b_token = app.token_for("pres_b").await;
    let admin = app.admin_actor();
    let b = actor_of(&b_user);

    let (mut a, _) = app.ws(&app.admin_token, "A").await;
    let own = a.next_json("A's snapshot").await;
    assert_presence(&own, "presence.joined", &admin, 1);
    assert_quiet(&mut a).await;

    // B's first connection.
    let (mut b1, _) = app.ws(&b_token, "B1").await;
    let e = a.next_json("presence.joined for B").await;
    assert_presence(&e, "presence.joined", &b, 1);
    let snapshot: BTreeSet<_> = [
        b1.next_json("B1 snapshot").await,
        b1.next_json("B1 snapshot").await,
    ]
    .iter()
    .map(presence_key)
    .collect();
    let expected: BTreeSet<_> = [
        ("presence.joined".to_owned(), app.admin_id.clone(), 1),
        ("presence.joined".to_owned(), id_of(&b_user), 1),
    ]
    .into();
    assert_eq!(snapshot, expected, "B1's presence snapshot");
    assert_quiet(&mut b1).await;

    // B's second connection: everyone else sees connections 2.
    let (mut b2, _) = app.ws(&b_token, "B2").await;
    assert_presence(
        &a.next_json("presence.joined for B2").await,
        "presence.joined",
        &b,
        2,
    );
    assert_presence(
        &b1.next_json("presence.joined for B2").await,
        "presence.joined",
        &b,
        2,
    );
    let snapshot: BTreeSet<_> = [
        b2.next_json("B2 snapshot").await,
        b2.next_json("B2 snapshot").await,
    ]
    .iter()
    .map(presence_key)
    .collect();
    let expected: BTreeSet<_> = [
        ("presence.joined".to_owned(), app.admin_id.clone(), 1),
        ("presence.joined".to_owned(), id_of(&b_user), 2),
    ]
    .into();
    assert_eq!(snapshot, expected, "B2's presence snapshot");

    // Clean close of B2 → left with 1 remaining.
    b2.close().await;
    assert_presence(
        &a.next_json("presence.left for B2").await,
        "presence.left",
        &b,
        1,
    );
    assert_presence(
        &b1.next_json("presence.left for B2").await,
        "presence.left",
        &b,
        1,
    );

    // B1 vanishes without a close frame → left with 0.
    drop(b1);
    assert_presence(
        &a.next_json("presence.left for B1").await,
        "presence.left",
        &b,
        0,
    );
    assert_quiet(&mut a).await;
}

// ============================================================================= event log

#[tokio::test]
async fn events_api_matches_socket_and_filters() {
    let app = TestApp::spawn().await;
    let bob = app.create_user("ev_bob", "admin").await;
    let bob_token = app.token_for("ev_bob").await;
    app.create_user("ev_viewer", "viewer").await;
    let viewer_token = app.token_for("ev_viewer").await;

    let (mut ws, welcome) = app.ws(&app.admin_token, "admin").await;
    let s = welcome_seq(&welcome);
    let u1 = app.create_user("ev_one", "viewer").await;
    let u2 = app
        .post(
            "/api/users",
            &bob_token,
            &json!({"username": "ev_two", "email": "ev_two@example.com",
                    "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;
    u2.expect_status(201);
    app.admin_patch_user(&id_of(&u1), &json!({"display_name": "One"}))
        .await;
    patch_as(
        &app,
        &bob_token,
        &id_of(&u2.body),
        &json!({"display_name": "Two"}),
    )
    .await;
    delete_user(&app, &app.admin_token, &id_of(&u1)).await;

    let mut frames = Vec::new();
    for i in 1..=5 {
        frames.push(ws.next_event(&format!("event {i}")).await);
    }
    assert_gap_free(&frames, s + 1, s + 5, "socket");

    // Same frames, same order.
    let log = app.events(&format!("?after={s}")).await;
    assert_eq!(log["items"], json!(frames), "/api/events vs the socket");
    assert_eq!(log["latest_seq"], s + 5);
    // Default after=0: everything, ascending.
    let all = app.events("").await;
    let all_items = all["items"].as_array().expect("items");
    assert!(
        all_items.ends_with(&frames),
        "GET /api/events without after should end with the socket's frames"
    );
    let seqs: Vec<i64> = all_items.iter().filter_map(frame_seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ascending seq: {seqs:?}"
    );
    // Viewers may read the log; anonymous callers may not.
    assert_eq!(
        app.events_as(&format!("?after={s}"), &viewer_token).await["items"],
        json!(frames)
    );
    assert_error(
        &app.get_anon(&format!("/api/events?after={s}")).await,
        401,
        "unauthorized",
    );

    // Filters.
    let of_type: Vec<Value> = frames
        .iter()
        .filter(|f| f["type"] == "user.updated")
        .cloned()
        .collect();
    assert_eq!(of_type.len(), 2);
    assert_eq!(
        app.events(&format!("?after={s}&type=user.updated")).await["items"],
        json!(of_type),
        "type filter"
    );
    let by_bob: Vec<Value> = frames
        .iter()
        .filter(|f| f["actor"]["id"] == bob["id"])
        .cloned()
        .collect();
    assert_eq!(by_bob.len(), 2);
    assert_eq!(
        app.events(&format!("?after={s}&actor={}", id_of(&bob)))
            .await["items"],
        json!(by_bob),
        "actor filter by id"
    );
    assert_eq!(
        app.events(&format!("?after={s}&actor=ev_bob")).await["items"],
        json!(by_bob),
        "actor filter by username"
    );
    assert_eq!(
        app.events(&format!("?after={s}&type=user.created&actor=ev_bob"))
            .await["items"],
        json!([frames[1]]),
        "type and actor combined"
    );

    // Paging.
    assert_eq!(
        app.events(&format!("?after={s}&limit=2")).await["items"],
        json!(frames[..2]),
        "limit"
    );
    assert_eq!(
        app.events(&format!("?before={}&limit=2", s + 5)).await["items"],
        json!([frames[3], frames[2]]),
        "before: newest first, seq < before"
    );
    app.events("?limit=1000").await;
    for bad in ["?limit=0", "?limit=1001", "?limit=abc"] {
        let resp = app
            .get(&format!("/api/events{bad}"), &app.admin_token)
            .await;
        resp.expect_status(400);
        assert_envelope(&resp);
    }
}

// ============================================================================= concurrency

#[tokio::test]
async fn concurrent_writers_every_socket_sees_the_same_log() {
    const TASKS: usize = 8;
    let app = Arc::new(TestApp::spawn().await);
    app.create_user("cw_admin", "admin").await;
    app.create_user("cw_viewer", "viewer").await;
    let tokens = [
        app.admin_token.clone(),
        app.token_for("cw_admin").await,
        app.token_for("cw_viewer").await,
    ];
    let s = app.latest_seq().await;
    let mut collectors = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (ws, welcome) = app.ws(token, &format!("socket {i}")).await;
        assert_eq!(welcome_seq(&welcome), s, "socket {i}'s welcome seq");
        collectors.push(Collector::spawn(ws));
    }

    let until = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.write_users_until(&format!("cw{t}"), until).await
        }));
    }
    let mut writes = Vec::new();
    for t in tasks {
        writes.extend(t.await.expect("writer task"));
    }
    let last = app.latest_seq().await;
    eprintln!("concurrent writers: {} writes", writes.len());
    assert_eq!(
        last - s,
        writes.len() as i64,
        "one event per successful write"
    );

    let mut streams = Vec::new();
    for c in collectors {
        let collected = c.finish(last, Duration::from_secs(60)).await;
        let d = durable(&collected.frames);
        assert_gap_free(&d, s + 1, last, &collected.ws.label);
        streams.push(d);
    }
    assert_eq!(streams[0], streams[1], "sockets 0 and 1 differ");
    assert_eq!(streams[0], streams[2], "sockets 0 and 2 differ");
    let log = app.event_log_after(s).await;
    assert_eq!(streams[0], log, "sockets vs /api/events");

    // Every REST write is exactly one event carrying the response body.
    let by_key: HashMap<(String, i64), &Value> = log
        .iter()
        .map(|f| {
            (
                (
                    id_of(&f["data"]),
                    f["data"]["version"].as_i64().unwrap_or(-1),
                ),
                f,
            )
        })
        .collect();
    assert_eq!(
        by_key.len(),
        log.len(),
        "duplicate (id, version) in the log"
    );
    for (kind, body) in &writes {
        let key = (id_of(body), body["version"].as_i64().expect("version"));
        let frame = by_key
            .get(&key)
            .unwrap_or_else(|| panic!("no event for the write {kind} {body}"));
        assert_eq!(frame["type"], *kind, "{frame}");
        assert_eq!(frame["data"], *body, "event data vs REST response");
        assert_eq!(frame["actor"], app.admin_actor());
    }
}

// ============================================================================= metrics, docs

/// Parses Prometheus text into `(name, labels, value)` samples.
fn prometheus_samples(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            Some((name.trim().to_owned(), labels.to_owned(), value))
        })
        .collect()
}

async fn metrics_text(app: &TestApp) -> String {
    let resp = app.get_anon("/metrics").await;
    resp.expect_status(200);
    resp.text
}

/// Sum of all samples of `name` (0 if absent).
async fn metric_sum(app: &TestApp, name: &str) -> f64 {
    prometheus_samples(&metrics_text(app).await)
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = TestApp::spawn().await;
    let user = app.create_user("metric_user", "viewer").await;
    let id = id_of(&user);
    for _ in 0..3 {
        app.get(&format!("/api/users/{id}"), &app.admin_token)
            .await
            .expect_status(200);
    }

    let resp = app.get_anon("/metrics").await;
    resp.expect_status(200);
    assert!(
        resp.content_type().starts_with("text/plain"),
        "Prometheus text exposition should be text/plain, got {:?}",
        resp.content_type()
    );
    let text = resp.text;
    for name in [
        "switchboard_ws_connections",
        "switchboard_ws_events_sent_total",
        "switchboard_ws_slow_consumers_total",
        "switchboard_http_requests_total",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "no `# TYPE {name}` line in /metrics:\n{text}"
        );
    }
    let samples = prometheus_samples(&text);
    let requests: Vec<&(String, String, f64)> = samples
        .iter()
        .filter(|(n, _, _)| n == "switchboard_http_requests_total")
        .collect();
    assert!(
        requests
            .iter()
            .any(|(_, labels, v)| labels.contains("route=\"")
                && labels.contains("method=\"GET\"")
                && labels.contains("status=\"200\"")
                && *v >= 3.0),
        "no switchboard_http_requests_total{{route=…,method=\"GET\",status=\"200\"}} >= 3 after three GET /api/users/{{id}}:\n{text}"
    );
    assert!(
        !text.contains(&id),
        "route labels should name the route, not the path with its id:\n{text}"
    );

    // The connection gauge follows open sockets.
    assert_eq!(metric_sum(&app, "switchboard_ws_connections").await, 0.0);
    let (mut ws, _) = app.ws(&app.admin_token, "metered").await;
    ws.ping_barrier().await;
    assert_eq!(
        metric_sum(&app, "switchboard_ws_connections").await,
        1.0,
        "one open socket"
    );
    app.create_user("metric_event", "viewer").await;
    ws.next_event("user.created").await;
    assert!(metric_sum(&app, "switchboard_ws_events_sent_total").await >= 1.0);
    ws.close().await;
    let back_to_zero = poll_until(Duration::from_secs(5), || async {
        metric_sum(&app, "switchboard_ws_connections").await == 0.0
    })
    .await;
    assert!(
        back_to_zero,
        "switchboard_ws_connections should drop back to 0 after the socket closed"
    );
}

#[tokio::test]
async fn asyncapi_document_describes_the_protocol() {
    let app = TestApp::spawn().await;
    let resp = app.get_anon("/api/asyncapi.json").await;
    resp.expect_status(200);
    assert!(
        resp.content_type().starts_with("application/json"),
        "content-type {:?}",
        resp.content_type()
    );
    let doc = &resp.body;
    assert!(
        doc["asyncapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "asyncapi should be a 3.x version string: {}",
        doc["asyncapi"]
    );
    let channels = doc["channels"]
        .as_object()
        .unwrap_or_else(|| panic!("channels should be an object: {}", resp.text));
    assert!(!channels.is_empty(), "no channels");
    assert!(
        channels
            .values()
            .any(|c| c["messages"].as_object().is_some_and(|m| !m.is_empty())),
        "no channel lists messages: {}",
        resp.text
    );
    assert!(
        doc["components"]["messages"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
            || channels
                .values()
                .any(|c| c["messages"].as_object().is_some_and(|m| m.len() > 3)),
        "messages should be listed: {}",
        resp.text
    );
    assert!(
        resp.text.contains("/api/ws"),
        "the channel address /api/ws should appear"
    );
    for message in [
        "auth",
        "welcome",
        "resume",
        "resync",
        "ping",
        "pong",
        "subscribe",
        "subscribed",
        "error",
        "user.created",
        "user.updated",
        "user.deleted",
        "presence.joined",
        "presence.left",
    ] {
        assert!(
            resp.text.contains(&format!("\"{message}\"")),
            "the message type {message:?} is not described in the AsyncAPI document"
        );
    }
}

// ============================================================================= shutdown

#[tokio::test]
async fn sigterm_closes_sockets_with_1001_and_exits_0() {
    let mut app = TestApp::spawn().await;
    app.create_user("term_viewer", "viewer").await;
    let vtoken = app.token_for("term_viewer").await;
    let (mut a, _) = app.ws(&app.admin_token, "admin").await;
    let (mut v, _) = app.ws(&vtoken, "viewer").await;
    a.ping_barrier().await;
    v.ping_barrier().await;

    let (status, _, _) = tokio::join!(
        app.stop(),
        a.expect_close(1001, Duration::from_secs(30)),
        v.expect_close(1001, Duration::from_secs(30)),
    );
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}; output:\n{}",
        app.logs_text()
    );
}
