//! Two-factor sign-in with TOTP (docs/API.md §3.4). Codes are computed here from the secret the
//! server hands out (RFC 6238: SHA-1, 6 digits, 30 s steps).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn totp(secret: &str) -> totp_rs::Totp {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .expect("totp")
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// Enrols `token`'s user; returns the secret and the recovery codes. The confirming code is the
/// current step's.
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let start = app.post("/api/auth/mfa/totp", token, &json!({})).await;
    start.expect_status(200);
    let secret = start.body["secret"].as_str().expect("secret").to_owned();
    let uri = start.body["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=Switchboard"), "{uri}");
    let code = totp(&secret).generate(now()).to_string();
    let confirmed = app
        .post("/api/auth/mfa/totp/confirm", token, &json!({"code": code}))
        .await;
    confirmed.expect_status(200);
    let codes: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Password step: must answer with a challenge, not tokens.
async fn challenge(app: &TestApp, username: &str, password: &str) -> String {
    let resp = app.try_login(username, password).await;
    resp.expect_status(200);
    assert_eq!(resp.body["mfa_required"], true, "{}", resp.text);
    assert!(resp.body.get("access_token").is_none(), "{}", resp.text);
    assert!(
        resp.body["expires_in"]
            .as_u64()
            .is_some_and(|s| s > 0 && s <= 600)
    );
    resp.body["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned()
}

async fn answer(app: &TestApp, challenge: &str, code: &str) -> Resp {
    app.post_anon(
        "/api/auth/mfa",
        &json!({"challenge": challenge, "code": code}),
    )
    .await
}

#[tokio::test]
async fn enrolment_then_two_step_login() {
    let app = TestApp::spawn().await;
    app.create_user("tess", "viewer").await;
    let t = app.token_for("tess").await;
    let status = app.get("/api/auth/mfa", &t).await;
    assert_eq!(status.body["totp_enabled"], false);

    // A wrong first code does not turn the factor on.
    let start = app.post("/api/auth/mfa/totp", &t, &json!({})).await;
    let wrong = app
        .post("/api/auth/mfa/totp/confirm", &t, &json!({"code": "000000"}))
        .await;
    if totp(start.body["secret"].as_str().expect("secret"))
        .generate(now())
        .to_string()
        != "000000"
    {
        assert_error(&wrong, 422, "validation_failed");
        assert!(wrong.body["error"]["fields"]["code"].is_string());
    }
    assert_eq!(
        app.get("/api/auth/mfa", &t).await.body["totp_enabled"],
        false
    );
    // Still a plain login meanwhile.
    assert!(app.login("tess", USER_PASSWORD).await["access_token"].is_string());

    let (secret, recovery) = enrol(&app, &t).await;
    let status = app.get("/api/auth/mfa", &t).await;
    assert_eq!(status.body["totp_enabled"], true);
    assert_eq!(status.body["recovery_codes_left"], 10);
    // Enrolling again while on is a conflict.
    assert_error(
        &app.post("/api/auth/mfa/totp", &t, &json!({})).await,
        409,
        "mfa_already_enabled",
    );

    // A wrong password still gets the one 401; a right one gets a challenge.
    assert_error(
        &app.try_login("tess", "wrong-password").await,
        401,
        "invalid_credentials",
    );
    let ch = challenge(&app, "tess", USER_PASSWORD).await;
    // The challenge is not an access token.
    assert_error(&app.get("/api/auth/me", &ch).await, 401, "unauthorized");
    assert_error(&answer(&app, &ch, "12345").await, 401, "invalid_mfa_code");

    // The confirming code's step is spent; the next step's code (inside the skew window) works.
    let confirm_step_code = totp(&secret).generate(now()).to_string();
    let next = totp(&secret).generate(now() + 30).to_string();
    if confirm_step_code != next {
        assert_error(
            &answer(&app, &ch, &confirm_step_code).await,
            401,
            "invalid_mfa_code",
        );
    }
    let ok = answer(&app, &ch, &next).await;
    ok.expect_status(200);
    let (access, _) = assert_token_pair(&ok.body);
    assert_eq!(
        app.get("/api/auth/me", &access).await.body["username"],
        "tess"
    );

    // Replayed, the same code is refused, even with a fresh challenge.
    let ch2 = challenge(&app, "tess", USER_PASSWORD).await;
    assert_error(&answer(&app, &ch2, &next).await, 401, "invalid_mfa_code");

    // A recovery code works once, with or without its dash and in any case.
    let code = recovery[0].to_uppercase().replace('-', "");
    answer(&app, &ch2, &code).await.expect_status(200);
    let ch3 = challenge(&app, "tess", USER_PASSWORD).await;
    assert_error(
        &answer(&app, &ch3, &recovery[0]).await,
        401,
        "invalid_mfa_code",
    );
    answer(&app, &ch3, &recovery[1]).await.expect_status(200);
    assert_eq!(
        app.get("/api/auth/mfa", &t).await.body["recovery_codes_left"],
        8
    );
}

#[tokio::test]
async fn wrong_codes_are_throttled() {
    let app = TestApp::spawn_with(&["--login-max-failures-per-user", "3"], &[]).await;
    app.create_user("theo", "viewer").await;
    let t = app.token_for("theo").await;
    let (secret, _) = enrol(&app, &t).await;
    let ch = challenge(&app, "theo", USER_PASSWORD).await;
    for _ in 0..3 {
        assert_error(
            &answer(&app, &ch, "not-a-code").await,
            401,
            "invalid_mfa_code",
        );
    }
    // Now even the right code waits.
    let right = totp(&secret).generate(now() + 30).to_string();
    let blocked = answer(&app, &ch, &right).await;
    assert_error(&blocked, 429, "rate_limited");
    assert_retry_after(&blocked);
}

#[tokio::test]
async fn forged_or_foreign_challenges_are_refused() {
    let app = TestApp::spawn().await;
    app.create_user("uma", "viewer").await;
    let t = app.token_for("uma").await;
    let (secret, _) = enrol(&app, &t).await;
    let code = totp(&secret).generate(now() + 30).to_string();
    // An access token is not a challenge, nor is garbage.
    assert_error(&answer(&app, &t, &code).await, 401, "unauthorized");
    assert_error(&answer(&app, "x.y.z", &code).await, 401, "unauthorized");
    assert_error(
        &app.post_anon("/api/auth/mfa", &json!({"challenge": 1, "code": "1"}))
            .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn turning_off_needs_the_password_and_admins_can_reset() {
    let app = TestApp::spawn().await;
    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;
    let user = app.create_user("val", "viewer").await;
    let uid = user["id"].as_str().expect("id");
    let t = app.token_for("val").await;
    enrol(&app, &t).await;
    let on = ws_until(&mut watcher, "mfa.enabled", |f| f["type"] == "mfa.enabled").await;
    assert_eq!(on["data"]["id"], uid);

    let wrong = app
        .req(reqwest::Method::DELETE, "/api/auth/mfa/totp")
        .bearer_auth(&t)
        .json(&json!({"password": "not-it"}));
    let wrong = app.send(wrong).await;
    assert_error(&wrong, 422, "validation_failed");
    assert!(wrong.body["error"]["fields"]["password"].is_string());
    let off = app
        .req(reqwest::Method::DELETE, "/api/auth/mfa/totp")
        .bearer_auth(&t)
        .json(&json!({"password": USER_PASSWORD}));
    app.send(off).await.expect_status(204);
    assert!(app.login("val", USER_PASSWORD).await["access_token"].is_string());

    // Enrolled again, then reset by an admin: the event says so, and the password alone works.
    enrol(&app, &t).await;
    let viewer_reset = app.delete(&format!("/api/users/{uid}/mfa"), &t).await;
    assert_error(&viewer_reset, 403, "forbidden");
    let status = app
        .get(&format!("/api/users/{uid}/mfa"), &app.admin_token)
        .await;
    assert_eq!(status.body["totp_enabled"], true);
    app.delete(&format!("/api/users/{uid}/mfa"), &app.admin_token)
        .await
        .expect_status(204);
    let reset = ws_until(&mut watcher, "mfa.disabled reset", |f| {
        f["type"] == "mfa.disabled" && f["data"]["reason"] == "reset"
    })
    .await;
    assert_eq!(reset["actor"]["username"], "admin");
    assert!(app.login("val", USER_PASSWORD).await["access_token"].is_string());
    assert_error(
        &app.delete(&format!("/api/users/{uid}/mfa"), &app.admin_token)
            .await,
        404,
        "not_found",
    );
}

async fn ws_until(ws: &mut WsClient, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws.next_json_within(left, what).await;
        if pred(&frame) {
            return frame;
        }
    }
}

#[tokio::test]
async fn admins_must_enrol_when_required() {
    let app = TestApp::spawn_with(&["--require-mfa-for-admins"], &[]).await;
    // The harness logged in before the flag mattered to it: its token is an admin's.
    let t = app.login("admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let blocked = app.get("/api/users", &t).await;
    assert_error(&blocked, 403, "mfa_enrollment_required");
    assert_error(
        &app.get("/api/files", &t).await,
        403,
        "mfa_enrollment_required",
    );
    let status = app.get("/api/auth/mfa", &t).await;
    status.expect_status(200);
    assert_eq!(status.body["required"], true);
    assert_eq!(status.body["totp_enabled"], false);
    app.get("/api/auth/me", &t).await.expect_status(200);
    // No live stream either.
    let mut ws = WsClient::connect(app.addr, "pending-admin").await;
    ws.send_auth(&t).await;
    ws.expect_close(4401, Duration::from_secs(3)).await;

    enrol(&app, &t).await;
    app.get("/api/users", &t).await.expect_status(200);
}

#[tokio::test]
async fn viewers_are_not_asked_to_enrol() {
    let app = TestApp::spawn_with(&["--require-mfa-for-admins"], &[]).await;
    // The admin is held at enrolment, so the viewer comes from the CLI.
    let out = app
        .run_cli(
            &["user", "create", "--username", "wren", "--role", "viewer"],
            USER_PASSWORD,
        )
        .await;
    assert!(out.status.success(), "{out:?}");
    let t = app.token_for("wren").await;
    app.get("/api/users", &t).await.expect_status(200);
    assert_eq!(app.get("/api/auth/mfa", &t).await.body["required"], false);
}
