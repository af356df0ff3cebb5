//! The error envelope for every kind of client mistake (docs/API.md §2).

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

fn valid_user_body() -> serde_json::Value {
    json!({"username": "valid_user", "email": "valid@example.com",
           "password": USER_PASSWORD, "role": "viewer"})
}

/// POST raw bytes with a given content type.
async fn post_raw(app: &TestApp, path: &str, token: Option<&str>, ct: &str, body: Vec<u8>) -> Resp {
    let mut req = app
        .req(Method::POST, path)
        .header("content-type", ct)
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    app.send(req).await
}

async fn user_count(app: &TestApp) -> u64 {
    let resp = app.get("/api/users", &app.admin_token).await;
    resp.expect_status(200);
    resp.body["total"].as_u64().expect("total")
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for body in [&b"{\"username\": "[..], b"not json at all", b"", b"[1, 2"] {
        let resp = post_raw(
            &app,
            "/api/users",
            Some(&app.admin_token),
            "application/json",
            body.to_vec(),
        )
        .await;
        assert_error(&resp, 400, "bad_request");
        let resp = post_raw(
            &app,
            "/api/auth/login",
            None,
            "application/json",
            body.to_vec(),
        )
        .await;
        assert_error(&resp, 400, "bad_request");
    }
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn wrong_json_types_are_400() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": 123, "email": true, "password": ["x"], "role": "viewer"}),
        )
        .await;
    assert_error(&resp, 400, "bad_request");
    // Numbers and booleans are not strings either (no silent coercion).
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": 12345, "email": "numeric@example.com",
                    "password": 123456789, "role": "viewer"}),
        )
        .await;
    assert_error(&resp, 400, "bad_request");
    let resp = app
        .post_anon("/api/auth/login", &json!({"username": 5, "password": "x"}))
        .await;
    assert_error(&resp, 400, "bad_request");
    // A JSON array where an object is expected.
    let resp = app
        .post("/api/users", &app.admin_token, &json!([valid_user_body()]))
        .await;
    assert_error(&resp, 400, "bad_request");
    // disabled must be a bool.
    let resp = app
        .patch(
            &format!("/api/users/{}", app.admin_id),
            &app.admin_token,
            &json!({"disabled": "no"}),
        )
        .await;
    assert_error(&resp, 400, "bad_request");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn missing_required_fields_are_400() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "lonely"}),
        )
        .await;
    assert_error(&resp, 400, "bad_request");
    let resp = app.post_anon("/api/auth/login", &json!({})).await;
    assert_error(&resp, 400, "bad_request");
    let resp = app.post_anon("/api/auth/refresh", &json!({})).await;
    assert_error(&resp, 400, "bad_request");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn unknown_json_fields_are_400() {
    let app = TestApp::spawn().await;
    let mut body = valid_user_body();
    body["is_superuser"] = json!(true);
    let resp = app.post("/api/users", &app.admin_token, &body).await;
    assert_error(&resp, 400, "bad_request");
    // `version` is not writable through PATCH.
    let resp = app
        .patch(
            &format!("/api/users/{}", app.admin_id),
            &app.admin_token,
            &json!({"version": 99}),
        )
        .await;
    assert_error(&resp, 400, "bad_request");
    assert_eq!(user_count(&app).await, 1);
    assert_eq!(app.admin_get_user(&app.admin_id).await["version"], 1);
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = TestApp::spawn().await;
    let json_text = serde_json::to_vec(&valid_user_body()).expect("serialize");
    let resp = post_raw(
        &app,
        "/api/users",
        Some(&app.admin_token),
        "text/plain",
        json_text.clone(),
    )
    .await;
    assert_error(&resp, 415, "unsupported_media_type");
    let login = serde_json::to_vec(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .expect("serialize");
    let resp = post_raw(&app, "/api/auth/login", None, "text/plain", login).await;
    assert_error(&resp, 415, "unsupported_media_type");
    let resp = post_raw(
        &app,
        "/api/users",
        Some(&app.admin_token),
        "application/x-www-form-urlencoded",
        b"username=x&email=y".to_vec(),
    )
    .await;
    assert_error(&resp, 415, "unsupported_media_type");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn oversize_json_body_is_413() {
    let app = TestApp::spawn().await;
    let mut body = valid_user_body();
    body["display_name"] = json!("x".repeat(1024 * 1024 + 1024));
    let bytes = serde_json::to_vec(&body).expect("serialize");
    assert!(bytes.len() > 1024 * 1024);
    let resp = post_raw(
        &app,
        "/api/users",
        Some(&app.admin_token),
        "application/json",
        bytes,
    )
    .await;
    assert_error(&resp, 413, "payload_too_large");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn json_body_limit_flag_is_honoured() {
    let app = TestApp::spawn_with(&["--json-body-limit-bytes", "1024"], &[]).await;
    let mut body = valid_user_body();
    body["display_name"] = json!("y".repeat(2048));
    let resp = app.post("/api/users", &app.admin_token, &body).await;
    assert_error(&resp, 413, "payload_too_large");
    let login = json!({"username": "admin", "password": "p".repeat(4096)});
    let resp = app.post_anon("/api/auth/login", &login).await;
    assert_error(&resp, 413, "payload_too_large");
    // A small body still works.
    app.create_user("small_enough", "viewer").await;
}

#[tokio::test]
async fn unknown_api_route_is_404_json() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::GET, "/api/users/some/deeper/path"),
        (Method::POST, "/api/does-not-exist"),
        (Method::DELETE, "/api/auth/nothing"),
    ] {
        let resp = app
            .send(app.req(method, path).bearer_auth(&app.admin_token))
            .await;
        assert_error(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::PUT, "/api/users".to_owned()),
        (Method::DELETE, "/api/users".to_owned()),
        (Method::PUT, format!("/api/users/{}", app.admin_id)),
        (Method::GET, "/api/auth/login".to_owned()),
    ] {
        let resp = app
            .send(
                app.req(method, &path)
                    .bearer_auth(&app.admin_token)
                    .json(&json!({})),
            )
            .await;
        assert_error(&resp, 405, "method_not_allowed");
    }
}

#[tokio::test]
async fn missing_token_is_401() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/api/users".to_owned()),
        (Method::GET, format!("/api/users/{}", app.admin_id)),
        (Method::GET, "/api/auth/me".to_owned()),
    ] {
        let resp = app.send(app.req(method, &path)).await;
        assert_error(&resp, 401, "unauthorized");
    }
    let resp = app.post_anon("/api/users", &valid_user_body()).await;
    assert_error(&resp, 401, "unauthorized");
    let resp = app
        .send(app.req(Method::DELETE, &format!("/api/users/{}", app.admin_id)))
        .await;
    assert_error(&resp, 401, "unauthorized");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn invalid_tokens_are_401() {
    let app = TestApp::spawn().await;
    let real = app.admin_token.clone();
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "admin token is not a JWT");

    // Tampered signature.
    let mut sig = parts[2].clone().into_bytes();
    let last = sig.len() / 2;
    sig[last] = if sig[last] == b'A' { b'B' } else { b'A' };
    let tampered_sig = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(sig).expect("ascii")
    );
    // Unsigned token: {"alg":"none","typ":"JWT"} with the real claims.
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    parts[2] = String::new();
    let no_sig = parts.join(".");

    for token in [
        "garbage",
        "a.b.c",
        tampered_sig.as_str(),
        alg_none.as_str(),
        no_sig.as_str(),
    ] {
        let resp = app.get("/api/users", token).await;
        assert_error(&resp, 401, "unauthorized");
    }
    // Not a Bearer scheme.
    let resp = app
        .send(
            app.req(Method::GET, "/api/auth/me")
                .header("authorization", format!("Basic {real}")),
        )
        .await;
    assert_error(&resp, 401, "unauthorized");
    // The real token still works.
    app.get("/api/auth/me", &real).await.expect_status(200);
}

/// A sweep over many different failures: each one has the JSON envelope.
#[tokio::test]
async fn every_error_has_the_envelope() {
    let app = TestApp::spawn().await;
    let viewer = app.create_user("sweeper", "viewer").await;
    let viewer_token = app.token_for("sweeper").await;
    let unknown = format!("/api/users/{}", uuid::Uuid::now_v7());
    let viewer_path = format!("/api/users/{}", viewer["id"].as_str().expect("id"));

    let mut responses = Vec::new();
    responses.push(app.get("/api/auth/me", "bogus").await);
    responses.push(app.get(&unknown, &app.admin_token).await);
    responses.push(app.delete(&unknown, &app.admin_token).await);
    responses.push(app.get("/api/users?per_page=0", &app.admin_token).await);
    responses.push(
        app.patch(&viewer_path, &viewer_token, &json!({"display_name": "x"}))
            .await,
    );
    responses.push(app.try_login("sweeper", "wrong-password").await);
    responses.push(
        app.post("/api/users", &app.admin_token, &json!({"username": "Bad!"}))
            .await,
    );
    responses.push(
        app.post_anon("/api/auth/refresh", &json!({"refresh_token": "nope"}))
            .await,
    );
    responses.push(
        app.post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "sweeper", "email": "sweeper2@example.com",
                    "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await,
    );
    responses.push(
        app.send(
            app.req(Method::PATCH, "/api/users/x")
                .bearer_auth(&app.admin_token),
        )
        .await,
    );
    responses.push(app.get_anon("/api/nothing-here").await);

    for resp in &responses {
        assert!(
            resp.status.is_client_error(),
            "{} {}: expected a 4xx, got {} {}",
            resp.method,
            resp.url,
            resp.status,
            resp.text
        );
        assert_envelope(resp);
        let error = resp.body["error"].as_object().expect("error object");
        for key in error.keys() {
            assert!(
                ["code", "message", "fields"].contains(&key.as_str()),
                "unexpected key error.{key}: {}",
                resp.text
            );
        }
    }
}

/// A page whose offset does not fit the database's signed 64-bit integers is a 400. It used to
/// reach the driver, which panicked on the conversion: the connection closed with no response
/// at all (found by `.ci/fuzz`).
#[tokio::test]
async fn page_past_the_largest_offset_is_400() {
    let app = TestApp::spawn().await;
    let file = app.upload_bytes("a.txt", b"a").await;
    let links = format!("/api/files/{}/links", file["id"].as_str().expect("file id"));
    for list in ["/api/users", "/api/files", links.as_str(), "/api/tasks"] {
        for query in [
            "page=184467440737095518",
            "page=18446744073709551615",
            // (page - 1) * per_page = 2^63, one past i64::MAX.
            "page=46116860184273881&per_page=200",
        ] {
            let resp = app.get(&format!("{list}?{query}"), &app.admin_token).await;
            assert_error(&resp, 400, "bad_request");
        }
        // The last page whose offset still fits is served, and is empty.
        let resp = app
            .get(
                &format!("{list}?page=46116860184273880&per_page=200"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        assert_eq!(resp.body["items"], json!([]), "{list}");
    }
}
