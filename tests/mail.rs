//! Invitations and password resets by e-mail (docs/API.md §3.6, §4.2), through a real SMTP server
//! process on loopback; links are read out of the received messages.

mod common;

use std::time::Duration;

use common::{smtp::*, *};
use serde_json::{Value, json};

const MAIL_WAIT: Duration = Duration::from_secs(10);
const PUBLIC: &str = "http://panel.example.test";

async fn with_mail(extra: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let mut args = vec![
        "--smtp-url",
        url.as_str(),
        "--public-url",
        PUBLIC,
        "--smtp-from",
        "Switchboard <noreply@example.test>",
    ];
    args.extend_from_slice(extra);
    let app = TestApp::spawn_with(&args, &[]).await;
    (app, sink)
}

async fn invite(app: &TestApp, email: &str, role: &str) -> Value {
    let resp = app
        .post(
            "/api/invitations",
            &app.admin_token,
            &json!({"email": email, "role": role}),
        )
        .await;
    resp.expect_status(201);
    resp.body
}

async fn accept(app: &TestApp, token: &str, username: &str, password: &str) -> Resp {
    app.post_anon(
        "/api/invitations/accept",
        &json!({"token": token, "username": username, "password": password}),
    )
    .await
}

fn token_of(url: &str) -> String {
    url.split_once("#token=")
        .expect("token in url")
        .1
        .to_owned()
}

async fn frame_of(ws: &mut WsClient, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let f = ws.next_json_within(left, kind).await;
        if f["type"] == kind {
            return f;
        }
    }
}

#[tokio::test]
async fn an_invitation_is_mailed_accepted_once_and_live() {
    let (app, sink) = with_mail(&[]).await;
    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;
    let inv = invite(&app, "New.Person@Example.com", "admin").await;
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["email_sent"], true);
    assert_eq!(inv["role"], "admin");
    assert_eq!(inv["invited_by"], app.admin_id.as_str());
    let url = inv["url"].as_str().expect("url");
    assert!(url.contains("/invite#token="), "{url}");

    let invited = frame_of(&mut watcher, "user.invited").await;
    assert_eq!(invited["data"]["id"], inv["id"]);
    assert!(
        !invited.to_string().contains(&token_of(url)),
        "the token leaked into an event"
    );

    let mail = sink.wait_for("New.Person@Example.com", 1, MAIL_WAIT).await;
    assert_eq!(mail["subject"], "You are invited to Switchboard");
    assert!(
        mail["from"]
            .as_str()
            .expect("from")
            .contains("noreply@example.test")
    );
    assert!(
        mail["html"]
            .as_str()
            .expect("an HTML part")
            .contains("/invite#token=")
    );
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains(&format!("{PUBLIC}/invite#token=")), "{text}");
    let token = link_token(&mail, "/invite#token=");
    assert_eq!(
        token,
        token_of(url),
        "the mailed link and the copied one are the same"
    );

    let preview = app
        .post_anon("/api/invitations/inspect", &json!({"token": token}))
        .await;
    preview.expect_status(200);
    assert_eq!(preview.body["email"], "New.Person@Example.com");
    assert_eq!(preview.body["role"], "admin");

    // A taken username is a 409 and leaves the invitation usable.
    let taken = accept(&app, &token, "admin", USER_PASSWORD).await;
    assert_error(&taken, 409, "username_taken");
    let short = accept(&app, &token, "newbie", "short").await;
    assert_error(&short, 422, "validation_failed");

    let accepted = accept(&app, &token, "newbie", USER_PASSWORD).await;
    accepted.expect_status(201);
    let (access, _) = assert_token_pair(&accepted.body);
    assert_eq!(accepted.body["user"]["email"], "New.Person@Example.com");
    assert_eq!(accepted.body["user"]["role"], "admin");
    app.get("/api/users", &access).await.expect_status(200);

    let created = frame_of(&mut watcher, "user.created").await;
    assert_eq!(created["data"]["username"], "newbie");
    let done = frame_of(&mut watcher, "user.invitation_accepted").await;
    assert_eq!(done["data"]["id"], inv["id"]);
    assert_eq!(done["data"]["user_id"], accepted.body["user"]["id"]);
    assert!(done["seq"].as_i64() > created["seq"].as_i64());

    // Single use.
    let again = accept(&app, &token, "newbie2", USER_PASSWORD).await;
    assert_error(&again, 410, "gone");
    assert_error(
        &app.post_anon("/api/invitations/inspect", &json!({"token": token}))
            .await,
        410,
        "gone",
    );
    let pending = app.get("/api/invitations", &app.admin_token).await;
    assert_eq!(pending.body["total"], 0);
    let all = app
        .get("/api/invitations?status=all", &app.admin_token)
        .await;
    assert_eq!(all.body["items"][0]["status"], "accepted");
    assert_eq!(all.body["items"][0]["user_id"], accepted.body["user"]["id"]);
}

#[tokio::test]
async fn invitations_expire_and_can_be_revoked() {
    let (app, _sink) = with_mail(&["--invitation-ttl-secs", "1"]).await;
    let inv = invite(&app, "late@example.com", "viewer").await;
    let token = token_of(inv["url"].as_str().expect("url"));
    // Waiting for the clock, not for the server.
    let expires: chrono::DateTime<chrono::Utc> = inv["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("time");
    let wait =
        (expires - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    let late = accept(&app, &token, "late", USER_PASSWORD).await;
    assert_error(&late, 410, "gone");
    // An expired invitation no longer blocks a new one for the address.
    let again = app
        .post(
            "/api/invitations",
            &app.admin_token,
            &json!({"email": "late@example.com", "role": "viewer", "expires_in_days": 2}),
        )
        .await;
    again.expect_status(201);
    let id = again.body["id"].as_str().expect("id");

    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;
    app.delete(&format!("/api/invitations/{id}"), &app.admin_token)
        .await
        .expect_status(204);
    let revoked = frame_of(&mut watcher, "user.invitation_revoked").await;
    assert_eq!(revoked["data"]["id"], id);
    let t2 = token_of(again.body["url"].as_str().expect("url"));
    let after = accept(&app, &t2, "late", USER_PASSWORD).await;
    assert_error(&after, 410, "gone");
    assert_error(
        &app.delete(&format!("/api/invitations/{id}"), &app.admin_token)
            .await,
        409,
        "invitation_not_pending",
    );
    assert_error(
        &app.delete("/api/invitations/nope", &app.admin_token).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn invitation_requests_are_checked() {
    let app = TestApp::spawn().await;
    app.create_user("vic", "viewer").await;
    let vt = app.token_for("vic").await;
    let t = &app.admin_token;
    assert_error(
        &app.post(
            "/api/invitations",
            &vt,
            &json!({"email": "a@example.com", "role": "viewer"}),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(&app.get("/api/invitations", &vt).await, 403, "forbidden");
    assert_error(
        &app.post(
            "/api/invitations",
            t,
            &json!({"email": "VIC@example.com", "role": "viewer"}),
        )
        .await,
        409,
        "email_taken",
    );
    let bad = app
        .post(
            "/api/invitations",
            t,
            &json!({"email": "nope", "role": "boss"}),
        )
        .await;
    assert_error(&bad, 422, "validation_failed");
    assert!(
        bad.body["error"]["fields"]["email"].is_string()
            && bad.body["error"]["fields"]["role"].is_string()
    );
    assert_error(
        &app.post(
            "/api/invitations",
            t,
            &json!({"email": "a@example.com", "role": "viewer", "expires_in_days": 0}),
        )
        .await,
        422,
        "validation_failed",
    );

    // No mail server: the link is still there to copy, and works.
    let inv = app
        .post(
            "/api/invitations",
            t,
            &json!({"email": "a@example.com", "role": "viewer"}),
        )
        .await;
    inv.expect_status(201);
    assert_eq!(inv.body["email_sent"], false);
    assert_error(
        &app.post(
            "/api/invitations",
            t,
            &json!({"email": "A@example.com", "role": "viewer"}),
        )
        .await,
        409,
        "invitation_pending",
    );
    let token = token_of(inv.body["url"].as_str().expect("url"));
    accept(&app, &token, "anna", USER_PASSWORD)
        .await
        .expect_status(201);
    for bogus in [
        "",
        "abc",
        "x.y",
        &format!("{}.{}", "0".repeat(32), "A".repeat(43)),
    ] {
        assert_error(
            &app.post_anon("/api/invitations/inspect", &json!({"token": bogus}))
                .await,
            410,
            "gone",
        );
    }
}

#[tokio::test]
async fn a_reset_link_by_mail_sets_a_new_password_once() {
    let (app, sink) = with_mail(&[]).await;
    app.create_user("rita", "viewer").await;
    let old = app.login("rita", USER_PASSWORD).await;
    let (old_access, old_refresh) = assert_token_pair(&old);

    // Unknown first, then known: the answers are the same.
    let unknown = app
        .post_anon("/api/auth/reset", &json!({"email": "nobody@example.com"}))
        .await;
    let known = app
        .post_anon("/api/auth/reset", &json!({"email": "RITA@example.com"}))
        .await;
    assert_eq!(unknown.status, 202);
    assert_eq!(known.status, 202);
    assert_eq!(unknown.text, known.text);
    let mail = sink.wait_for("rita@example.com", 1, MAIL_WAIT).await;
    assert_eq!(mail["subject"], "Reset your Switchboard password");
    assert!(
        mail["text"]
            .as_str()
            .expect("text")
            .contains(&format!("{PUBLIC}/reset#token="))
    );
    assert!(sink.messages_to("nobody@example.com").is_empty());
    let token = link_token(&mail, "/reset#token=");

    let weak = app
        .post_anon(
            "/api/auth/reset/confirm",
            &json!({"token": token, "new_password": "short"}),
        )
        .await;
    assert_error(&weak, 422, "validation_failed");
    app.post_anon(
        "/api/auth/reset/confirm",
        &json!({"token": token, "new_password": "brand-new-pass-1"}),
    )
    .await
    .expect_status(204);
    // Every session ended; the new password works, the old one does not.
    assert_error(
        &app.get("/api/auth/me", &old_access).await,
        401,
        "unauthorized",
    );
    assert_error(
        &app.post_anon("/api/auth/refresh", &json!({"refresh_token": old_refresh}))
            .await,
        401,
        "unauthorized",
    );
    assert_error(
        &app.try_login("rita", USER_PASSWORD).await,
        401,
        "invalid_credentials",
    );
    app.login("rita", "brand-new-pass-1").await;
    // Single use.
    let again = app
        .post_anon(
            "/api/auth/reset/confirm",
            &json!({"token": token, "new_password": "another-pass-2"}),
        )
        .await;
    assert_error(&again, 410, "gone");
    // A disabled user gets no mail (and the same 202).
    let u = app.create_user("dora", "viewer").await;
    app.admin_patch_user(u["id"].as_str().expect("id"), &json!({"disabled": true}))
        .await;
    app.post_anon("/api/auth/reset", &json!({"email": "dora@example.com"}))
        .await
        .expect_status(202);
    app.post_anon("/api/auth/reset", &json!({"email": "rita@example.com"}))
        .await
        .expect_status(202);
    sink.wait_for("rita@example.com", 2, MAIL_WAIT).await;
    assert!(sink.messages_to("dora@example.com").is_empty());
}

#[tokio::test]
async fn reset_links_expire_and_requests_are_throttled() {
    let app = TestApp::spawn_with(&["--reset-ttl-secs", "1", "--reset-max-per-ip", "3"], &[]).await;
    let u = app.create_user("ross", "viewer").await;
    let uid = u["id"].as_str().expect("id");
    let vt = app.token_for("ross").await;
    assert_error(
        &app.post(&format!("/api/users/{uid}/reset-link"), &vt, &json!({}))
            .await,
        403,
        "forbidden",
    );
    let link = app
        .post(
            &format!("/api/users/{uid}/reset-link"),
            &app.admin_token,
            &json!({}),
        )
        .await;
    link.expect_status(201);
    let url = link.body["url"].as_str().expect("url");
    assert!(url.contains("/reset#token="), "{url}");
    let expires: chrono::DateTime<chrono::Utc> = link.body["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("time");
    let wait =
        (expires - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    let late = app
        .post_anon(
            "/api/auth/reset/confirm",
            &json!({"token": token_of(url), "new_password": "brand-new-pass-1"}),
        )
        .await;
    assert_error(&late, 410, "gone");
    app.login("ross", USER_PASSWORD).await;

    for _ in 0..3 {
        app.post_anon("/api/auth/reset", &json!({"email": "ross@example.com"}))
            .await
            .expect_status(202);
    }
    let blocked = app
        .post_anon("/api/auth/reset", &json!({"email": "other@example.com"}))
        .await;
    assert_error(&blocked, 429, "rate_limited");
    assert_retry_after(&blocked);
    assert_error(
        &app.post_anon(
            "/api/auth/reset/confirm",
            &json!({"token": "garbage", "new_password": "brand-new-pass-1"}),
        )
        .await,
        410,
        "gone",
    );
}

#[tokio::test]
async fn an_admin_copied_reset_link_works_without_mail() {
    let app = TestApp::spawn().await;
    let u = app.create_user("cara", "viewer").await;
    let link = app
        .post(
            &format!("/api/users/{}/reset-link", u["id"].as_str().expect("id")),
            &app.admin_token,
            &json!({}),
        )
        .await;
    link.expect_status(201);
    let token = token_of(link.body["url"].as_str().expect("url"));
    app.post_anon(
        "/api/auth/reset/confirm",
        &json!({"token": token, "new_password": "brand-new-pass-1"}),
    )
    .await
    .expect_status(204);
    app.login("cara", "brand-new-pass-1").await;
    assert_error(
        &app.post(
            &format!("/api/users/{}/reset-link", "missing"),
            &app.admin_token,
            &json!({}),
        )
        .await,
        404,
        "not_found",
    );
}
