//! Sessions (docs/API.md §3.5): a user lists and ends their own, an admin anyone's; an ended
//! session's tokens are refused and its sockets close with 4401.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn login_as(app: &TestApp, username: &str, agent: &str) -> Value {
    let req = app
        .req(reqwest::Method::POST, "/api/auth/login")
        .header("user-agent", agent)
        .json(&json!({"username": username, "password": USER_PASSWORD}));
    let resp = app.send(req).await;
    resp.expect_status(200);
    resp.body
}

fn access(body: &Value) -> String {
    body["access_token"].as_str().expect("access").to_owned()
}

fn refresh_of(body: &Value) -> String {
    body["refresh_token"].as_str().expect("refresh").to_owned()
}

async fn my_sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.get("/api/auth/sessions", token).await;
    resp.expect_status(200);
    assert_eq!(
        resp.body["total"].as_u64(),
        resp.body["items"].as_array().map(|a| a.len() as u64)
    );
    resp.body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_user_sees_and_ends_their_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("sam", "viewer").await;
    let laptop = login_as(&app, "sam", "Laptop/1.0").await;
    let phone = login_as(&app, "sam", "Phone/2.0").await;
    let sessions = my_sessions(&app, &access(&laptop)).await;
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop/1.0");
    let other = sessions
        .iter()
        .find(|s| s["current"] == false)
        .expect("the phone");
    assert_eq!(other["user_agent"], "Phone/2.0");
    assert_eq!(other["ip"], "127.0.0.1");
    for key in ["id", "user_id", "created_at", "last_used_at", "expires_at"] {
        assert!(other[key].is_string(), "{key} in {other}");
    }
    assert!(!other.to_string().contains(&refresh_of(&phone)));

    let (mut phone_ws, _) = app.ws(&access(&phone), "phone").await;
    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;
    let id = other["id"].as_str().expect("id");
    app.delete(&format!("/api/sessions/{id}"), &access(&laptop))
        .await
        .expect_status(204);
    phone_ws.expect_close(4401, Duration::from_secs(2)).await;
    assert_error(
        &app.get("/api/auth/me", &access(&phone)).await,
        401,
        "unauthorized",
    );
    assert_error(
        &app.post_anon(
            "/api/auth/refresh",
            &json!({"refresh_token": refresh_of(&phone)}),
        )
        .await,
        401,
        "unauthorized",
    );
    app.get("/api/auth/me", &access(&laptop))
        .await
        .expect_status(200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let ended = loop {
        let f = watcher
            .next_json_within(
                deadline.saturating_duration_since(tokio::time::Instant::now()),
                "session.revoked",
            )
            .await;
        if f["type"] == "session.revoked" {
            break f;
        }
    };
    assert_eq!(ended["data"]["id"], id);
    assert_eq!(ended["data"]["reason"], "ended");
    assert_error(
        &app.delete(&format!("/api/sessions/{id}"), &access(&laptop))
            .await,
        404,
        "not_found",
    );

    // "Sign out everywhere else".
    let tablet = login_as(&app, "sam", "Tablet/3.0").await;
    let (mut tablet_ws, _) = app.ws(&access(&tablet), "tablet").await;
    app.delete("/api/auth/sessions", &access(&laptop))
        .await
        .expect_status(204);
    tablet_ws.expect_close(4401, Duration::from_secs(2)).await;
    let left = my_sessions(&app, &access(&laptop)).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
}

#[tokio::test]
async fn admins_list_and_end_anyones_sessions() {
    let app = TestApp::spawn().await;
    let u = app
        .create_users(&[("pat", "viewer"), ("quin", "viewer")])
        .await;
    let pat_id = u[0]["id"].as_str().expect("id");
    let pat = login_as(&app, "pat", "A/1").await;
    login_as(&app, "pat", "B/1").await;
    let quin = login_as(&app, "quin", "Q/1").await;

    // Viewers see only their own.
    assert_error(
        &app.get(&format!("/api/users/{pat_id}/sessions"), &access(&quin))
            .await,
        403,
        "forbidden",
    );
    let pats = my_sessions(&app, &access(&pat)).await;
    assert_error(
        &app.delete(
            &format!("/api/sessions/{}", pats[0]["id"].as_str().expect("id")),
            &access(&quin),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &app.delete(&format!("/api/users/{pat_id}/sessions"), &access(&quin))
            .await,
        403,
        "forbidden",
    );

    let listed = app
        .get(&format!("/api/users/{pat_id}/sessions"), &app.admin_token)
        .await;
    listed.expect_status(200);
    assert_eq!(listed.body["total"], 2);
    assert!(
        listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|s| s["current"] == false && s["user_id"] == pat_id)
    );

    let (mut pat_ws, _) = app.ws(&access(&pat), "pat").await;
    app.delete(&format!("/api/users/{pat_id}/sessions"), &app.admin_token)
        .await
        .expect_status(204);
    pat_ws.expect_close(4401, Duration::from_secs(2)).await;
    assert_eq!(
        app.get(&format!("/api/users/{pat_id}/sessions"), &app.admin_token)
            .await
            .body["total"],
        0
    );
    // Others are untouched.
    app.get("/api/auth/me", &access(&quin))
        .await
        .expect_status(200);
    assert_error(
        &app.get("/api/users/missing/sessions", &app.admin_token)
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/api/auth/sessions?per_page=0", &access(&quin))
            .await,
        400,
        "bad_request",
    );
}
