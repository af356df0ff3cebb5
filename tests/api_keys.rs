//! API keys (docs/API.md §3.3): scope, revocation, expiry and the owner's state, on REST and on
//! an open WebSocket.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn create_key(app: &TestApp, token: &str, body: &Value) -> Value {
    let resp = app.post("/api/keys", token, body).await;
    resp.expect_status(201);
    resp.body
}

fn secret(key: &Value) -> String {
    key["key"].as_str().expect("key").to_owned()
}

async fn user_create_as(app: &TestApp, token: &str, username: &str) -> Resp {
    app.post(
        "/api/users",
        token,
        &json!({"username": username, "email": format!("{username}@example.com"),
                "password": USER_PASSWORD, "role": "viewer"}),
    )
    .await
}

#[tokio::test]
async fn a_key_acts_with_its_scope_on_rest() {
    let app = TestApp::spawn().await;
    let viewer_key = create_key(
        &app,
        &app.admin_token,
        &json!({"name": "read", "role": "viewer"}),
    )
    .await;
    assert_eq!(viewer_key["role"], "viewer");
    assert_eq!(viewer_key["user_id"], app.admin_id.as_str());
    assert!(viewer_key["last_used_at"].is_null());
    assert!(viewer_key["expires_at"].is_null());
    let vk = secret(&viewer_key);
    assert!(vk.starts_with("sbk_"), "{vk}");

    // Reads work, writes do not.
    app.get("/api/users", &vk).await.expect_status(200);
    let me = app.get("/api/auth/me", &vk).await;
    me.expect_status(200);
    assert_eq!(me.body["username"], "admin");
    assert_error(
        &user_create_as(&app, &vk, "by_viewer_key").await,
        403,
        "forbidden",
    );

    let admin_key = create_key(
        &app,
        &app.admin_token,
        &json!({"name": "write", "role": "admin"}),
    )
    .await;
    user_create_as(&app, &secret(&admin_key), "by_admin_key")
        .await
        .expect_status(201);
    // The event names the key's owner as the actor.
    let log = app.events("?type=user.created").await;
    let last = log["items"]
        .as_array()
        .expect("items")
        .last()
        .expect("an event")
        .clone();
    assert_eq!(last["actor"]["username"], "admin");

    // The secret appears once: never in the list.
    let list = app.get("/api/keys", &app.admin_token).await;
    list.expect_status(200);
    assert_eq!(list.body["total"], 2);
    assert!(!list.text.contains(&vk), "list leaks a key: {}", list.text);
    for item in list.body["items"].as_array().expect("items") {
        assert!(item.get("key").is_none(), "{item}");
    }
    // last_used_at is recorded (off the request path).
    let used = poll_until(Duration::from_secs(5), || async {
        let l = app.get("/api/keys", &app.admin_token).await;
        l.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|k| k["id"] == viewer_key["id"] && k["last_used_at"].is_string())
    })
    .await;
    assert!(used, "last_used_at was never set");
}

#[tokio::test]
async fn scope_never_exceeds_the_owner() {
    let app = TestApp::spawn().await;
    let viewer = app.create_user("vera", "viewer").await;
    let vt = app.token_for("vera").await;
    assert_error(
        &app.post("/api/keys", &vt, &json!({"name": "x", "role": "admin"}))
            .await,
        403,
        "forbidden",
    );
    let own = create_key(&app, &vt, &json!({"name": "mine", "role": "viewer"})).await;
    assert_eq!(own["user_id"], viewer["id"]);

    // A viewer lists only their own keys; another's list is for admins.
    let listed = app.get("/api/keys", &vt).await;
    assert_eq!(listed.body["total"], 1);
    assert_error(
        &app.get(&format!("/api/keys?user_id={}", app.admin_id), &vt)
            .await,
        403,
        "forbidden",
    );
    let by_admin = app
        .get(
            &format!("/api/keys?user_id={}", viewer["id"].as_str().expect("id")),
            &app.admin_token,
        )
        .await;
    by_admin.expect_status(200);
    assert_eq!(by_admin.body["items"][0]["id"], own["id"]);

    // An admin key whose owner is demoted acts as a viewer from the next request on.
    let bo = app.create_user("bo_admin", "admin").await;
    let bt = app.token_for("bo_admin").await;
    let bk = secret(&create_key(&app, &bt, &json!({"name": "ops", "role": "admin"})).await);
    user_create_as(&app, &bk, "before_demotion")
        .await
        .expect_status(201);
    app.admin_patch_user(bo["id"].as_str().expect("id"), &json!({"role": "viewer"}))
        .await;
    assert_error(
        &user_create_as(&app, &bk, "after_demotion").await,
        403,
        "forbidden",
    );
    app.get("/api/users", &bk).await.expect_status(200);
}

#[tokio::test]
async fn keys_cannot_manage_account_security() {
    let app = TestApp::spawn().await;
    let k = secret(
        &create_key(
            &app,
            &app.admin_token,
            &json!({"name": "ci", "role": "admin"}),
        )
        .await,
    );
    for (path, body) in [
        ("/api/keys", json!({"name": "child", "role": "viewer"})),
        (
            "/api/auth/password",
            json!({"current_password": ADMIN_PASSWORD, "new_password": "another-pass-1"}),
        ),
        ("/api/auth/mfa/totp", json!({})),
    ] {
        let resp = app.post(path, &k, &body).await;
        assert_error(&resp, 403, "forbidden");
    }
    assert_error(
        &app.delete("/api/auth/sessions", &k).await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn revoking_a_key_refuses_it_and_closes_its_socket() {
    let app = TestApp::spawn().await;
    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;
    let key = create_key(
        &app,
        &app.admin_token,
        &json!({"name": "bot", "role": "viewer"}),
    )
    .await;
    let created = watcher.next_event("key.created").await;
    assert_eq!(created["type"], "key.created");
    assert_eq!(created["data"]["id"], key["id"]);
    assert_eq!(created["data"]["name"], "bot");
    assert!(created["data"].get("key").is_none(), "{created}");
    assert!(!created.to_string().contains(&secret(&key)));

    let (mut bot, welcome) = app.ws(&secret(&key), "bot").await;
    assert_eq!(welcome["user"]["username"], "admin");
    let id = key["id"].as_str().expect("id");
    app.delete(&format!("/api/keys/{id}"), &app.admin_token)
        .await
        .expect_status(204);
    bot.expect_close(4401, Duration::from_secs(2)).await;
    assert_error(
        &app.get("/api/users", &secret(&key)).await,
        401,
        "unauthorized",
    );
    let revoked = watcher.next_event("key.revoked").await;
    assert_eq!(revoked["type"], "key.revoked");
    assert_eq!(revoked["data"]["id"], key["id"]);
    // Gone from the list; a second delete is a 404.
    assert_eq!(
        app.get("/api/keys", &app.admin_token).await.body["total"],
        0
    );
    assert_error(
        &app.delete(&format!("/api/keys/{id}"), &app.admin_token)
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn only_the_owner_or_an_admin_revokes() {
    let app = TestApp::spawn().await;
    app.create_users(&[("kim", "viewer"), ("lee", "viewer")])
        .await;
    let kim = app.token_for("kim").await;
    let lee = app.token_for("lee").await;
    let key = create_key(&app, &kim, &json!({"name": "k", "role": "viewer"})).await;
    let path = format!("/api/keys/{}", key["id"].as_str().expect("id"));
    assert_error(&app.delete(&path, &lee).await, 404, "not_found");
    app.get("/api/users", &secret(&key))
        .await
        .expect_status(200);
    app.delete(&path, &app.admin_token).await.expect_status(204);
    assert_error(
        &app.get("/api/users", &secret(&key)).await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn an_expiring_key_stops_and_its_socket_closes() {
    let app = TestApp::spawn().await;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let key = create_key(
        &app,
        &app.admin_token,
        &json!({"name": "short", "role": "viewer", "expires_at": expires.to_rfc3339()}),
    )
    .await;
    let k = secret(&key);
    app.get("/api/users", &k).await.expect_status(200);
    let (mut ws, _) = app.ws(&k, "short-lived").await;
    ws.expect_close(4401, Duration::from_secs(6)).await;
    assert!(chrono::Utc::now() >= expires);
    assert_error(&app.get("/api/users", &k).await, 401, "unauthorized");
    // Still listed, with its expiry, so the owner sees why it stopped.
    let list = app.get("/api/keys", &app.admin_token).await;
    assert_eq!(list.body["items"][0]["id"], key["id"]);
}

#[tokio::test]
async fn disabling_the_owner_stops_their_keys_and_sockets() {
    let app = TestApp::spawn().await;
    let user = app.create_user("owner", "viewer").await;
    let t = app.token_for("owner").await;
    let k = secret(&create_key(&app, &t, &json!({"name": "k", "role": "viewer"})).await);
    let (mut ws, _) = app.ws(&k, "owner-key").await;
    app.admin_patch_user(user["id"].as_str().expect("id"), &json!({"disabled": true}))
        .await;
    ws.expect_close(4401, Duration::from_secs(2)).await;
    assert_error(&app.get("/api/users", &k).await, 401, "unauthorized");
    // Enabled again, the key works again (it was not revoked).
    app.admin_patch_user(
        user["id"].as_str().expect("id"),
        &json!({"disabled": false}),
    )
    .await;
    app.get("/api/users", &k).await.expect_status(200);
}

#[tokio::test]
async fn bad_key_requests_are_clear_errors() {
    let app = TestApp::spawn().await;
    let t = &app.admin_token;
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    for (body, field) in [
        (json!({"name": "", "role": "viewer"}), "name"),
        (json!({"name": "x".repeat(65), "role": "viewer"}), "name"),
        (json!({"name": "ok", "role": "owner"}), "role"),
        (
            json!({"name": "ok", "role": "viewer", "expires_at": past}),
            "expires_at",
        ),
    ] {
        let resp = app.post("/api/keys", t, &body).await;
        assert_error(&resp, 422, "validation_failed");
        assert!(
            resp.body["error"]["fields"][field].is_string(),
            "{}",
            resp.text
        );
    }
    assert_error(
        &app.post("/api/keys", t, &json!({"name": 5, "role": "viewer"}))
            .await,
        400,
        "bad_request",
    );
    assert_error(
        &app.post(
            "/api/keys",
            t,
            &json!({"name": "a", "role": "viewer", "x": 1}),
        )
        .await,
        400,
        "bad_request",
    );
    assert_eq!(
        app.get("/api/keys", t).await.body["total"],
        0,
        "nothing was created"
    );
    // A made-up key, and a real key id with a wrong secret, are the same 401.
    let k = secret(&create_key(&app, t, &json!({"name": "real", "role": "viewer"})).await);
    let forged = format!("{}{}", &k[..k.len() - 4], "AAAA");
    assert_error(&app.get("/api/users", &forged).await, 401, "unauthorized");
    assert_error(
        &app.get(
            "/api/users",
            &format!("sbk_{}_{}", "0".repeat(32), "A".repeat(43)),
        )
        .await,
        401,
        "unauthorized",
    );
}
