//! Who may talk to the server from a browser: the WebSocket `Origin` check and CORS.

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// The handshake's status (101 when upgraded) and, when refused, the response body.
async fn ws_handshake(app: &TestApp, origin: Option<&str>) -> (u16, Option<Value>) {
    let mut request = format!("ws://{}/api/ws", app.addr)
        .into_client_request()
        .expect("ws request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("origin header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => (response.status().as_u16(), None),
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| serde_json::from_slice(b).expect("refusal body is JSON"));
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("handshake failed unexpectedly: {e}"),
    }
}

#[tokio::test]
async fn websocket_origin_must_be_own_or_allowed() {
    let app = TestApp::spawn().await;
    let own = format!("http://{}", app.addr);

    // Non-browser clients (no Origin) and the panel's own origin connect.
    assert_eq!(ws_handshake(&app, None).await.0, 101);
    assert_eq!(ws_handshake(&app, Some(&own)).await.0, 101);

    // Another site's page is refused before the upgrade, with the JSON envelope.
    for evil in [
        "http://evil.example",
        "null",
        &format!("http://{}.evil.example", app.addr),
    ] {
        let (status, body) = ws_handshake(&app, Some(evil)).await;
        assert_eq!(status, 403, "Origin {evil}");
        let body = body.expect("a JSON body");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
    }
    // The server is still fine.
    app.get("/healthz", &app.admin_token)
        .await
        .expect_status(200);
    let (_ws, welcome) = app.ws(&app.admin_token, "after refusals").await;
    assert_eq!(welcome["type"], "welcome");
}

#[tokio::test]
async fn websocket_allowed_origins_are_configurable() {
    let app = TestApp::spawn_with(
        &[
            "--allowed-origins",
            "https://admin.example.com,http://localhost:5173/",
        ],
        &[],
    )
    .await;
    assert_eq!(
        ws_handshake(&app, Some("https://admin.example.com"))
            .await
            .0,
        101
    );
    assert_eq!(
        ws_handshake(&app, Some("http://LOCALHOST:5173")).await.0,
        101
    );
    assert_eq!(
        ws_handshake(&app, Some("https://other.example.com"))
            .await
            .0,
        403
    );
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.req(Method::OPTIONS, "/api/users")
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,content-type,if-match",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn().await;
    let resp = preflight(&app, "https://app.example.com").await;
    assert!(
        resp.headers().get("access-control-allow-origin").is_none(),
        "no CORS headers by default: {:?}",
        resp.headers()
    );
    let resp = app
        .req(Method::GET, "/api/users")
        .bearer_auth(&app.admin_token)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::spawn_with(&["--cors-origins", "https://app.example.com"], &[]).await;
    let resp = preflight(&app, "https://app.example.com").await;
    assert!(resp.status().is_success(), "preflight: {}", resp.status());
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let methods = resp
        .headers()
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("PATCH"), "{methods}");

    let resp = app
        .req(Method::GET, "/api/users")
        .bearer_auth(&app.admin_token)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let exposed = resp
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    // Another origin gets no permission.
    let resp = preflight(&app, "https://evil.example").await;
    assert_ne!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://evil.example")
    );
}

/// Tokens signed with the real secret but with a wrong algorithm or out-of-range time claims
/// are refused: the algorithm is pinned and `exp`, `nbf` and `iat` are all checked.
#[tokio::test]
async fn jwt_algorithm_is_pinned_and_time_claims_are_checked() {
    use base64::Engine as _;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    let app = TestApp::spawn().await;
    let secret = std::fs::read_to_string(app.env.data_dir.path().join("jwt_secret"))
        .expect("generated jwt_secret in the data dir");
    let key = EncodingKey::from_secret(secret.trim().as_bytes());
    let payload = app.admin_token.split('.').nth(1).expect("JWT payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON claims");
    let now = chrono::Utc::now().timestamp();
    let with = |changes: &[(&str, Value)]| {
        let mut c = claims.clone();
        for (k, v) in changes {
            if v.is_null() {
                c.as_object_mut().expect("claims object").remove(*k);
            } else {
                c[*k] = v.clone();
            }
        }
        c
    };
    let sign = |alg: Algorithm, c: &Value| encode(&Header::new(alg), c, &key).expect("sign");

    // Control: the same claims re-signed the right way are accepted, so the refusals below
    // are about what changed.
    let control = sign(Algorithm::HS256, &claims);
    app.get("/api/auth/me", &control).await.expect_status(200);

    let cases = [
        ("HS512", sign(Algorithm::HS512, &claims)),
        ("HS384", sign(Algorithm::HS384, &claims)),
        (
            "expired",
            sign(
                Algorithm::HS256,
                &with(&[
                    ("exp", Value::from(now - 60)),
                    ("iat", Value::from(now - 120)),
                ]),
            ),
        ),
        (
            "not yet valid",
            sign(Algorithm::HS256, &with(&[("nbf", Value::from(now + 600))])),
        ),
        (
            "issued in the future",
            sign(Algorithm::HS256, &with(&[("iat", Value::from(now + 600))])),
        ),
        (
            "no exp",
            sign(Algorithm::HS256, &with(&[("exp", Value::Null)])),
        ),
        (
            "no nbf",
            sign(Algorithm::HS256, &with(&[("nbf", Value::Null)])),
        ),
    ];
    for (what, token) in cases {
        let resp = app.get("/api/auth/me", &token).await;
        assert_eq!(resp.status.as_u16(), 401, "{what}: {}", resp.text);
        assert_eq!(resp.body["error"]["code"], "unauthorized", "{what}");
    }
}
