//! Authentication and session lifecycle (docs/API.md §3).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

async fn refresh(app: &TestApp, refresh_token: &str) -> Resp {
    app.post_anon(
        "/api/auth/refresh",
        &json!({ "refresh_token": refresh_token }),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> Resp {
    app.get("/api/auth/me", token).await
}

/// The access token works on `/api/auth/me`.
#[track_caller]
fn assert_token_accepted(resp: &Resp) {
    resp.expect_status(200);
    assert_user_shape(&resp.body);
}

#[tokio::test]
async fn login_returns_token_pair_and_user() {
    let app = TestApp::spawn().await;
    let resp = app.try_login("admin", ADMIN_PASSWORD).await;
    resp.expect_status(200);
    assert!(resp.content_type().starts_with("application/json"));
    let (access, _refresh) = assert_token_pair(&resp.body);
    let user = &resp.body["user"];
    assert_eq!(user["username"], "admin");
    assert_eq!(user["role"], "admin");
    assert_eq!(user["disabled"], false);
    assert_no_password_material(&resp.body["user"], &[ADMIN_PASSWORD]);
    let keys: Vec<&String> = resp.body.as_object().expect("object").keys().collect();
    for key in &keys {
        assert!(
            !key.to_ascii_lowercase().contains("password"),
            "login response has key {key}"
        );
    }

    // The JWT itself must not live longer than 15 minutes.
    let claims = jwt_claims(&access);
    let exp = claims["exp"]
        .as_i64()
        .unwrap_or_else(|| panic!("JWT without numeric exp claim: {claims}"));
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp > now && exp <= now + 900 + 5,
        "JWT exp {exp} should be within 15 minutes of now ({now})"
    );
    assert_no_password_material(&claims, &[ADMIN_PASSWORD]);
}

#[tokio::test]
async fn access_token_ttl_flag_is_honoured() {
    let app = TestApp::spawn_with(&["--access-token-ttl-secs", "60"], &[]).await;
    let body = app.login("admin", ADMIN_PASSWORD).await;
    assert_token_pair(&body);
    assert_eq!(body["expires_in"], 60, "expires_in should follow the flag");
    let claims = jwt_claims(body["access_token"].as_str().expect("access token"));
    let exp = claims["exp"].as_i64().expect("exp claim");
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp <= now + 60 + 5,
        "exp {exp} should be ~60 s from now ({now})"
    );
}

#[tokio::test]
async fn expired_access_token_is_refused() {
    let app = TestApp::spawn_with(&["--access-token-ttl-secs", "1"], &[]).await;
    let body = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    // A 1 s token must stop working; allow generous clock leeway but not forever.
    let refused = poll_until(Duration::from_secs(90), || {
        let token = token.clone();
        let app = &app;
        async move { me(app, &token).await.status.as_u16() == 401 }
    })
    .await;
    assert!(
        refused,
        "an access token with a 1 s lifetime was still accepted after 90 s"
    );
    assert_error(&me(&app, &token).await, 401, "unauthorized");
}

#[tokio::test]
async fn login_failures_are_indistinguishable() {
    let app = TestApp::spawn().await;
    app.create_user("carol", "viewer").await;
    let dave = app.create_user("dave", "viewer").await;
    app.admin_patch_user(dave["id"].as_str().expect("id"), &json!({"disabled": true}))
        .await;

    let unknown = app.try_login("nobody_here", USER_PASSWORD).await;
    let wrong_password = app.try_login("carol", "wrong-password-1").await;
    let disabled = app.try_login("dave", USER_PASSWORD).await;

    for resp in [&unknown, &wrong_password, &disabled] {
        assert_error(resp, 401, "invalid_credentials");
    }
    assert_eq!(
        unknown.text, wrong_password.text,
        "unknown user vs wrong password bodies differ"
    );
    assert_eq!(
        unknown.text, disabled.text,
        "unknown user vs disabled user bodies differ"
    );
    assert_eq!(unknown.content_type(), wrong_password.content_type());
    assert_eq!(unknown.content_type(), disabled.content_type());
}

#[tokio::test]
async fn refresh_rotates_tokens() {
    let app = TestApp::spawn().await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let (access1, refresh1) = assert_token_pair(&first);

    let resp = refresh(&app, &refresh1).await;
    resp.expect_status(200);
    let (access2, refresh2) = assert_token_pair(&resp.body);
    assert_eq!(resp.body["user"]["username"], "admin");
    assert_ne!(access1, access2, "refresh must issue a new access token");
    assert_ne!(refresh1, refresh2, "refresh must issue a new refresh token");

    assert_token_accepted(&me(&app, &access2).await);
    // The spent refresh token is refused.
    assert_error(&refresh(&app, &refresh1).await, 401, "unauthorized");
}

#[tokio::test]
async fn refresh_reuse_revokes_session() {
    let app = TestApp::spawn().await;
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let (access1, refresh1) = assert_token_pair(&first);
    let second = refresh(&app, &refresh1).await;
    second.expect_status(200);
    let (access2, refresh2) = assert_token_pair(&second.body);
    assert_token_accepted(&me(&app, &access2).await);

    // Reuse of the spent token: refused and the whole session is revoked.
    assert_error(&refresh(&app, &refresh1).await, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh2).await, 401, "unauthorized");
    assert_error(&me(&app, &access2).await, 401, "unauthorized");
    assert_error(&me(&app, &access1).await, 401, "unauthorized");
}

#[tokio::test]
async fn refresh_reuse_leaves_other_sessions_alone() {
    let app = TestApp::spawn().await;
    app.create_user("reuser", "viewer").await;
    let victim = app.login("reuser", USER_PASSWORD).await;
    let (_, victim_refresh) = assert_token_pair(&victim);
    let other = app.login("reuser", USER_PASSWORD).await;
    let (other_access, other_refresh) = assert_token_pair(&other);

    refresh(&app, &victim_refresh).await.expect_status(200);
    assert_error(&refresh(&app, &victim_refresh).await, 401, "unauthorized");

    // "revokes that whole session" — only that one.
    assert_token_accepted(&me(&app, &other_access).await);
    refresh(&app, &other_refresh).await.expect_status(200);
}

#[tokio::test]
async fn refresh_with_garbage_token_is_401() {
    let app = TestApp::spawn().await;
    assert_error(
        &refresh(&app, "not-a-refresh-token").await,
        401,
        "unauthorized",
    );
    // An access token is not a refresh token.
    assert_error(&refresh(&app, &app.admin_token).await, 401, "unauthorized");
}

#[tokio::test]
async fn logout_ends_session() {
    let app = TestApp::spawn().await;
    app.create_user("leaver", "viewer").await;
    let body = app.login("leaver", USER_PASSWORD).await;
    let (access, refresh_token) = assert_token_pair(&body);
    let other = app.token_for("leaver").await;

    let resp = app
        .post(
            "/api/auth/logout",
            &access,
            &json!({ "refresh_token": refresh_token }),
        )
        .await;
    resp.expect_status(204);
    assert!(resp.text.is_empty(), "204 must have no body: {}", resp.text);

    assert_error(&me(&app, &access).await, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh_token).await, 401, "unauthorized");
    // Another session of the same user is untouched.
    assert_token_accepted(&me(&app, &other).await);

    // Idempotent: the spent token and garbage both give 204.
    app.post(
        "/api/auth/logout",
        &app.admin_token,
        &json!({ "refresh_token": refresh_token }),
    )
    .await
    .expect_status(204);
    app.post(
        "/api/auth/logout",
        &app.admin_token,
        &json!({ "refresh_token": "garbage" }),
    )
    .await
    .expect_status(204);
}

#[tokio::test]
async fn me_returns_current_user() {
    let app = TestApp::spawn().await;
    let created = app.create_user("meuser", "viewer").await;
    assert!(
        created["last_login_at"].is_null(),
        "last_login_at should be null before the first login: {created}"
    );
    let token = app.token_for("meuser").await;
    let resp = me(&app, &token).await;
    resp.expect_status(200);
    assert_user_shape(&resp.body);
    assert_eq!(resp.body["id"], created["id"]);
    assert_eq!(resp.body["username"], "meuser");
    assert_eq!(resp.body["role"], "viewer");
    assert_eq!(resp.body["email"], "meuser@example.com");
    assert_utc_timestamp(&resp.body["last_login_at"], "last_login_at after login");

    let admin = me(&app, &app.admin_token).await;
    admin.expect_status(200);
    assert_eq!(admin.body["id"], app.admin_id.as_str());
    assert_eq!(admin.body["role"], "admin");
}

#[tokio::test]
async fn password_change_ends_all_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("changer", "viewer").await;
    let s1 = app.login("changer", USER_PASSWORD).await;
    let (access1, refresh1) = assert_token_pair(&s1);
    let access2 = app.token_for("changer").await;

    let resp = app
        .post(
            "/api/auth/password",
            &access1,
            &json!({"current_password": USER_PASSWORD, "new_password": "brand-new-pass-1"}),
        )
        .await;
    resp.expect_status(204);
    assert!(resp.text.is_empty(), "204 must have no body: {}", resp.text);

    assert_error(&me(&app, &access1).await, 401, "unauthorized");
    assert_error(&me(&app, &access2).await, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh1).await, 401, "unauthorized");
    assert_error(
        &app.try_login("changer", USER_PASSWORD).await,
        401,
        "invalid_credentials",
    );
    let new_session = app.login("changer", "brand-new-pass-1").await;
    assert_token_pair(&new_session);
}

#[tokio::test]
async fn password_change_with_wrong_current_is_422() {
    let app = TestApp::spawn().await;
    app.create_user("forgetful", "viewer").await;
    let token = app.token_for("forgetful").await;
    let resp = app
        .post(
            "/api/auth/password",
            &token,
            &json!({"current_password": "not-my-password", "new_password": "another-pass-9"}),
        )
        .await;
    assert_fields(&resp, &["current_password"]);
    // Nothing changed.
    assert_error(
        &app.try_login("forgetful", "another-pass-9").await,
        401,
        "invalid_credentials",
    );
    app.login("forgetful", USER_PASSWORD).await;
}

#[tokio::test]
async fn password_change_with_short_new_password_is_422() {
    let app = TestApp::spawn().await;
    app.create_user("shorty", "viewer").await;
    let token = app.token_for("shorty").await;
    let resp = app
        .post(
            "/api/auth/password",
            &token,
            &json!({"current_password": USER_PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_fields(&resp, &["new_password"]);
    assert_token_accepted(&me(&app, &token).await);
    app.login("shorty", USER_PASSWORD).await;
}

#[tokio::test]
async fn login_throttled_per_username() {
    let app = TestApp::spawn_with(&["--login-max-failures-per-user", "3"], &[]).await;
    app.create_user("target", "viewer").await;
    for attempt in 1..=3 {
        let resp = app
            .try_login("target", &format!("wrong-password-{attempt}"))
            .await;
        assert_error(&resp, 401, "invalid_credentials");
    }
    // Locked: even the right password is refused.
    let locked = app.try_login("target", USER_PASSWORD).await;
    assert_error(&locked, 429, "rate_limited");
    let secs = assert_retry_after(&locked);
    assert!(secs <= 900, "Retry-After {secs} exceeds the 900 s window");
    assert_error(
        &app.try_login("target", "wrong-password-4").await,
        429,
        "rate_limited",
    );

    // Other usernames are not affected by this username's lock.
    app.create_user("bystander", "viewer").await;
    app.login("bystander", USER_PASSWORD).await;
    app.login("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn successful_login_clears_username_failures() {
    let app = TestApp::spawn_with(&["--login-max-failures-per-user", "3"], &[]).await;
    app.create_user("clearme", "viewer").await;
    for _ in 0..2 {
        assert_error(
            &app.try_login("clearme", "wrong-password").await,
            401,
            "invalid_credentials",
        );
    }
    app.login("clearme", USER_PASSWORD).await;
    // Counter reset: two more failures are still only 401s, not 429.
    for _ in 0..2 {
        assert_error(
            &app.try_login("clearme", "wrong-password").await,
            401,
            "invalid_credentials",
        );
    }
    app.login("clearme", USER_PASSWORD).await;
}

#[tokio::test]
async fn login_throttled_per_ip() {
    let app = TestApp::spawn_with(&["--login-max-failures-per-ip", "4"], &[]).await;
    for i in 0..4 {
        let resp = app.try_login(&format!("ghost{i}"), "wrong-password").await;
        assert_error(&resp, 401, "invalid_credentials");
    }
    let blocked = app.try_login("ghost_fresh", "wrong-password").await;
    assert_error(&blocked, 429, "rate_limited");
    assert_retry_after(&blocked);
    // The right password from the same address is refused too while blocked.
    let admin = app.try_login("admin", ADMIN_PASSWORD).await;
    assert_error(&admin, 429, "rate_limited");
    assert_retry_after(&admin);
}

#[tokio::test]
async fn disabled_user_sessions_end() {
    let app = TestApp::spawn().await;
    let user = app.create_user("soon_disabled", "viewer").await;
    let body = app.login("soon_disabled", USER_PASSWORD).await;
    let (access, refresh_token) = assert_token_pair(&body);
    assert_token_accepted(&me(&app, &access).await);

    app.admin_patch_user(user["id"].as_str().expect("id"), &json!({"disabled": true}))
        .await;
    assert_error(&me(&app, &access).await, 401, "unauthorized");
    assert_error(&app.get("/api/users", &access).await, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh_token).await, 401, "unauthorized");
}

#[tokio::test]
async fn deleted_user_sessions_end() {
    let app = TestApp::spawn().await;
    let user = app.create_user("soon_deleted", "viewer").await;
    let body = app.login("soon_deleted", USER_PASSWORD).await;
    let (access, refresh_token) = assert_token_pair(&body);
    assert_token_accepted(&me(&app, &access).await);

    app.delete(
        &format!("/api/users/{}", user["id"].as_str().expect("id")),
        &app.admin_token,
    )
    .await
    .expect_status(204);
    assert_error(&me(&app, &access).await, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh_token).await, 401, "unauthorized");
}

#[tokio::test]
async fn demoted_admin_sessions_end() {
    let app = TestApp::spawn().await;
    let b = app.create_user("second_admin", "admin").await;
    let body = app.login("second_admin", USER_PASSWORD).await;
    let (access, refresh_token) = assert_token_pair(&body);
    assert_token_accepted(&me(&app, &access).await);

    app.admin_patch_user(b["id"].as_str().expect("id"), &json!({"role": "viewer"}))
        .await;
    assert_error(&me(&app, &access).await, 401, "unauthorized");
    // In particular the old admin token cannot write any more.
    let write = app
        .post(
            "/api/users",
            &access,
            &json!({"username": "sneaky", "email": "sneaky@example.com",
                    "password": USER_PASSWORD, "role": "admin"}),
        )
        .await;
    assert_error(&write, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh_token).await, 401, "unauthorized");

    // A fresh login yields a viewer.
    let again = app.login("second_admin", USER_PASSWORD).await;
    assert_eq!(again["user"]["role"], "viewer");
}

#[tokio::test]
async fn admin_set_password_ends_sessions() {
    let app = TestApp::spawn().await;
    let user = app.create_user("reset_me", "viewer").await;
    let body = app.login("reset_me", USER_PASSWORD).await;
    let (access, refresh_token) = assert_token_pair(&body);

    let updated = app
        .admin_patch_user(
            user["id"].as_str().expect("id"),
            &json!({"password": "admin-chosen-pw"}),
        )
        .await;
    assert_user_shape(&updated);
    assert_eq!(updated["version"], 2);

    assert_error(&me(&app, &access).await, 401, "unauthorized");
    assert_error(&refresh(&app, &refresh_token).await, 401, "unauthorized");
    assert_error(
        &app.try_login("reset_me", USER_PASSWORD).await,
        401,
        "invalid_credentials",
    );
    app.login("reset_me", "admin-chosen-pw").await;
}

#[tokio::test]
async fn viewer_can_read_but_not_write_users() {
    let app = TestApp::spawn().await;
    let viewer = app.create_user("looker", "viewer").await;
    let target = app.create_user("touched", "viewer").await;
    let token = app.token_for("looker").await;
    let target_path = format!("/api/users/{}", target["id"].as_str().expect("id"));
    let own_path = format!("/api/users/{}", viewer["id"].as_str().expect("id"));

    let list = app.get("/api/users", &token).await;
    list.expect_status(200);
    assert_eq!(list.body["total"], 3);
    let got = app.get(&target_path, &token).await;
    got.expect_status(200);
    assert_eq!(got.body, target);

    let create = app
        .post(
            "/api/users",
            &token,
            &json!({"username": "made_by_viewer", "email": "mbv@example.com",
                    "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;
    assert_error(&create, 403, "forbidden");
    assert_error(
        &app.patch(&target_path, &token, &json!({"display_name": "hacked"}))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.patch(&own_path, &token, &json!({"role": "admin"}))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.patch(&own_path, &token, &json!({"display_name": "Me"}))
            .await,
        403,
        "forbidden",
    );
    assert_error(&app.delete(&target_path, &token).await, 403, "forbidden");

    // Nothing happened.
    assert_eq!(
        app.admin_get_user(target["id"].as_str().expect("id")).await,
        target
    );
    let viewer_now = app.admin_get_user(viewer["id"].as_str().expect("id")).await;
    for field in ["role", "display_name", "disabled", "username", "email"] {
        assert_eq!(
            viewer_now[field], viewer[field],
            "viewer changed its own {field}"
        );
    }
    let list = app.get("/api/users", &app.admin_token).await;
    assert_eq!(list.body["total"], 3, "viewer managed to create a user");
}

#[tokio::test]
async fn no_password_material_in_any_response() {
    let app = TestApp::spawn().await;
    let new_pw = "second-secret-pw";
    let changed_pw = "third-secret-pw";
    let created = app.create_user("scanned", "viewer").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/users/{id}");

    app.get(&path, &app.admin_token).await.expect_status(200);
    app.get("/api/users?q=scan", &app.admin_token)
        .await
        .expect_status(200);
    app.patch(&path, &app.admin_token, &json!({"password": new_pw}))
        .await
        .expect_status(200);
    let login = app.login("scanned", new_pw).await;
    let (_, refresh_token) = assert_token_pair(&login);
    let refreshed = refresh(&app, &refresh_token).await;
    refreshed.expect_status(200);
    let access = refreshed.access_token();
    me(&app, &access).await.expect_status(200);
    app.post(
        "/api/auth/password",
        &access,
        &json!({"current_password": new_pw, "new_password": changed_pw}),
    )
    .await
    .expect_status(204);
    let login = app.login("scanned", changed_pw).await;
    let access = login["access_token"].as_str().expect("token").to_owned();
    app.get("/api/users", &access).await.expect_status(200);
    app.get("/api/users?sort=-created_at&per_page=200", &app.admin_token)
        .await
        .expect_status(200);
    // A failed login also must not echo anything back.
    assert_error(
        &app.try_login("scanned", "wrong-secret-pw").await,
        401,
        "invalid_credentials",
    );

    let secrets = [
        ADMIN_PASSWORD,
        USER_PASSWORD,
        new_pw,
        changed_pw,
        "wrong-secret-pw",
    ];
    let responses = app.responses();
    assert!(
        responses.len() >= 10,
        "expected the flow's JSON bodies to be recorded"
    );
    for body in &responses {
        assert_no_password_material(body, &secrets);
    }
}

#[tokio::test]
async fn secrets_never_appear_in_logs() {
    let mut app = TestApp::spawn().await;
    let wrong = "wrong-pw-f00dfeed";
    let user_pw = "user-pw-5eed1e55";
    let new_pw = "new-pw-c0ffee99";
    app.create_user_with(&json!({"username": "logged", "email": "logged@example.com",
                                  "password": user_pw, "role": "viewer"}))
        .await;
    assert_error(
        &app.try_login("logged", wrong).await,
        401,
        "invalid_credentials",
    );
    assert_error(
        &app.try_login("no_such_user", wrong).await,
        401,
        "invalid_credentials",
    );
    let login = app.login("logged", user_pw).await;
    let (access, refresh_token) = assert_token_pair(&login);
    app.post(
        "/api/auth/password",
        &access,
        &json!({"current_password": user_pw, "new_password": new_pw}),
    )
    .await
    .expect_status(204);
    assert_error(&refresh(&app, &refresh_token).await, 401, "unauthorized");

    // Stop the server so every line it wrote has been collected.
    let status = app.stop().await;
    assert_eq!(status.code(), Some(0), "exit status on SIGTERM");
    let logs = app.logs_text();
    assert!(
        logs.contains("listening"),
        "log collection is broken: {logs}"
    );
    // The generated JWT secret (SQLite runs keep it in the data dir).
    let jwt_secret = std::fs::read_to_string(app.env.data_dir.path().join("jwt_secret"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let mut secrets = vec![
        ADMIN_PASSWORD,
        wrong,
        user_pw,
        new_pw,
        refresh_token.as_str(),
        access.as_str(),
    ];
    if jwt_secret.len() >= 16 {
        secrets.push(jwt_secret.as_str());
    }
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "secret {secret:?} appears in the server logs:\n{logs}"
        );
    }
}
