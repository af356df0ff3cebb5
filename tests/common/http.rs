//! HTTP against a running [`TestApp`]: the fully read response ([`Resp`]), the request helpers
//! (`get`, `post`, `patch`, `delete`, `login`, `create_user`, …; every JSON body received is
//! recorded for secret scans), and the assertions on responses and JSON (error envelope, User
//! shape, token pair, timestamps, list items, JWT claims, string fields).

use std::time::Instant;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::launcher::TestApp;

/// Password given to every user created through [`TestApp::create_user`].
pub const USER_PASSWORD: &str = "password-123";

// ---------------------------------------------------------------------------------------------
// HTTP response wrapper
// ---------------------------------------------------------------------------------------------

/// A fully read HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON, or `Value::Null` if it is empty or not JSON.
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Panics (with the response) unless the status is `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{} {}: expected HTTP {status}, got {} with body: {}",
            self.method,
            self.url,
            self.status,
            self.text
        );
        self
    }

    /// The `access_token` of a login/refresh response.
    #[track_caller]
    pub fn access_token(&self) -> String {
        self.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {}", self.text))
            .to_owned()
    }

    #[track_caller]
    pub fn refresh_token(&self) -> String {
        self.body["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh_token in {}", self.text))
            .to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

impl TestApp {
    /// Every JSON response body received through this app's helpers.
    pub fn responses(&self) -> Vec<Value> {
        self.responses
            .lock()
            .expect("response buffer lock poisoned")
            .clone()
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends a request, reads the whole body and records it (for secret scans).
    pub async fn send(&self, request: RequestBuilder) -> Resp {
        let request = request.build().expect("build request");
        let method = request.method().clone();
        let url = request.url().to_string();
        let response = self
            .client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading body failed: {e}"));
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !body.is_null() {
            self.responses
                .lock()
                .expect("response buffer lock poisoned")
                .push(body.clone());
        }
        Resp {
            method,
            url,
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.req(Method::GET, path).bearer_auth(token))
            .await
    }

    pub async fn get_anon(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).bearer_auth(token).json(body))
            .await
    }

    pub async fn post_anon(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PATCH, path).bearer_auth(token).json(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(self.req(Method::DELETE, path).bearer_auth(token))
            .await
    }

    /// `POST /api/auth/login` without any expectation on the outcome.
    pub async fn try_login(&self, username: &str, password: &str) -> Resp {
        self.post_anon(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in and returns the response body; panics unless 200.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let resp = self.try_login(username, password).await;
        assert_eq!(
            resp.status,
            StatusCode::OK,
            "login as {username:?} failed: {} {}",
            resp.status,
            resp.text
        );
        resp.body
    }

    /// Access token of `username`, who must have password [`USER_PASSWORD`].
    pub async fn token_for(&self, username: &str) -> String {
        self.login(username, USER_PASSWORD).await["access_token"]
            .as_str()
            .expect("login response has access_token")
            .to_owned()
    }

    /// Creates a user as admin (email `<username>@example.com`, password [`USER_PASSWORD`]) and
    /// returns the created user; panics unless 201.
    pub async fn create_user(&self, username: &str, role: &str) -> Value {
        self.create_user_with(&json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": USER_PASSWORD,
            "role": role,
        }))
        .await
    }

    /// Creates a user from a full request body as admin; panics unless 201.
    pub async fn create_user_with(&self, body: &Value) -> Value {
        let resp = self.post("/api/users", &self.admin_token, body).await;
        assert_eq!(
            resp.status,
            StatusCode::CREATED,
            "creating user {body} failed: {} {}",
            resp.status,
            resp.text
        );
        resp.body
    }

    /// Creates several users concurrently (see [`TestApp::create_user`]), in input order.
    pub async fn create_users(&self, users: &[(&str, &str)]) -> Vec<Value> {
        futures_util::future::join_all(
            users
                .iter()
                .map(|(username, role)| self.create_user(username, role)),
        )
        .await
    }

    /// Until `until`: create a user named `<prefix>_<i>`, then patch its display name four
    /// times. Returns every write as `(event type it must produce, REST response body)`.
    pub async fn write_users_until(
        &self,
        prefix: &str,
        until: Instant,
    ) -> Vec<(&'static str, Value)> {
        let mut writes = Vec::new();
        let mut i = 0;
        while Instant::now() < until {
            let created = self.create_user(&format!("{prefix}_{i}"), "viewer").await;
            let id = created["id"].as_str().expect("user id").to_owned();
            writes.push(("user.created", created));
            for k in 0..4 {
                let body = json!({"display_name": format!("{prefix} #{i}.{k}")});
                writes.push(("user.updated", self.admin_patch_user(&id, &body).await));
            }
            i += 1;
        }
        writes
    }

    /// PATCH a user as admin; panics unless 200.
    pub async fn admin_patch_user(&self, id: &str, body: &Value) -> Value {
        let resp = self
            .patch(&format!("/api/users/{id}"), &self.admin_token, body)
            .await;
        resp.expect_status(200);
        resp.body
    }

    /// GET a user as admin; panics unless 200.
    pub async fn admin_get_user(&self, id: &str) -> Value {
        let resp = self
            .get(&format!("/api/users/{id}"), &self.admin_token)
            .await;
        resp.expect_status(200);
        resp.body
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

/// Asserts the status and the error envelope
/// `{"error": {"code": code, "message": "…"[, "fields": {…}]}}` with a JSON content type;
/// `fields` must be present (non-empty) exactly for `validation_failed`.
#[track_caller]
pub fn assert_error(resp: &Resp, status: u16, code: &str) {
    resp.expect_status(status);
    assert_envelope(resp);
    assert_eq!(
        resp.body["error"]["code"], code,
        "{} {}: expected error code {code:?}, body: {}",
        resp.method, resp.url, resp.text
    );
    let fields = &resp.body["error"]["fields"];
    if code == "validation_failed" {
        let map = fields.as_object().unwrap_or_else(|| {
            panic!(
                "{} {}: validation error without a fields object: {}",
                resp.method, resp.url, resp.text
            )
        });
        assert!(!map.is_empty(), "empty fields map: {}", resp.text);
        for (name, problem) in map {
            assert!(
                problem.as_str().is_some_and(|p| !p.is_empty()),
                "fields.{name} should be a non-empty string: {}",
                resp.text
            );
        }
    } else {
        assert!(
            fields.is_null(),
            "{} {}: `fields` is only for validation errors, body: {}",
            resp.method,
            resp.url,
            resp.text
        );
    }
}

/// Asserts the generic error envelope (JSON content type, `error.code` snake_case string,
/// `error.message` non-empty string) without checking status or code.
#[track_caller]
pub fn assert_envelope(resp: &Resp) {
    assert!(
        resp.content_type().starts_with("application/json"),
        "{} {}: error response content-type should be application/json, got {:?}; body: {}",
        resp.method,
        resp.url,
        resp.content_type(),
        resp.text
    );
    let error = resp.body.get("error").unwrap_or_else(|| {
        panic!(
            "{} {}: no `error` object in {} body: {:?}",
            resp.method, resp.url, resp.status, resp.text
        )
    });
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error.code must be a string: {}", resp.text));
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "error.code {code:?} is not snake_case"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message must be a non-empty string: {}",
        resp.text
    );
}

/// Asserts `error.fields` of a 422 contains every one of `names`.
#[track_caller]
pub fn assert_fields(resp: &Resp, names: &[&str]) {
    assert_error(resp, 422, "validation_failed");
    let fields = &resp.body["error"]["fields"];
    for name in names {
        assert!(
            fields.get(*name).is_some(),
            "expected fields.{name} in validation error: {}",
            resp.text
        );
    }
}

/// Asserts `v` is an RFC 3339 timestamp in UTC.
#[track_caller]
pub fn assert_utc_timestamp(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} should be an RFC 3339 string, got {v}"));
    let ts = chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{what} {s:?} is not RFC 3339: {e}"));
    assert_eq!(ts.offset().local_minus_utc(), 0, "{what} {s:?} is not UTC");
}

pub fn parse_ts(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} not RFC 3339: {e}"))
}

/// Asserts the User shape of the contract and the absence of password material.
#[track_caller]
pub fn assert_user_shape(user: &Value) {
    let obj = user
        .as_object()
        .unwrap_or_else(|| panic!("user should be an object: {user}"));
    assert!(
        user["id"].as_str().is_some_and(|s| !s.is_empty()),
        "user.id should be a non-empty string: {user}"
    );
    let username = user["username"]
        .as_str()
        .unwrap_or_else(|| panic!("user.username should be a string: {user}"));
    assert!(!username.is_empty(), "empty username: {user}");
    assert!(
        user["email"].is_string() || user["email"].is_null(),
        "user.email should be a string: {user}"
    );
    assert!(obj.contains_key("email"), "user.email missing: {user}");
    assert!(
        obj.contains_key("display_name")
            && (user["display_name"].is_string() || user["display_name"].is_null()),
        "user.display_name should be present, string or null: {user}"
    );
    assert!(
        matches!(user["role"].as_str(), Some("admin" | "viewer")),
        "user.role should be \"admin\" or \"viewer\": {user}"
    );
    assert!(
        user["disabled"].is_boolean(),
        "user.disabled should be bool: {user}"
    );
    assert!(
        user["version"].as_i64().is_some_and(|v| v >= 1),
        "user.version should be an integer >= 1: {user}"
    );
    assert_utc_timestamp(&user["created_at"], "user.created_at");
    assert_utc_timestamp(&user["updated_at"], "user.updated_at");
    assert!(
        obj.contains_key("last_login_at"),
        "user.last_login_at missing (should be null or a timestamp): {user}"
    );
    if !user["last_login_at"].is_null() {
        assert_utc_timestamp(&user["last_login_at"], "user.last_login_at");
    }
    assert_no_password_material(user, &[]);
}

/// Asserts the login/refresh response shape and returns `(access_token, refresh_token)`.
#[track_caller]
pub fn assert_token_pair(body: &Value) -> (String, String) {
    let access = body["access_token"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("access_token should be a non-empty string: {body}"));
    assert_eq!(
        access.split('.').count(),
        3,
        "access_token should be a JWT (three dot-separated parts): {access}"
    );
    assert_eq!(body["token_type"], "Bearer", "token_type: {body}");
    let expires_in = body["expires_in"]
        .as_i64()
        .unwrap_or_else(|| panic!("expires_in should be an integer: {body}"));
    assert!(
        (1..=900).contains(&expires_in),
        "expires_in should be in 1..=900 seconds, got {expires_in}"
    );
    let refresh = body["refresh_token"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("refresh_token should be a non-empty string: {body}"));
    assert_ne!(access, refresh, "access and refresh tokens must differ");
    assert_user_shape(&body["user"]);
    (access.to_owned(), refresh.to_owned())
}

/// Recursively asserts that no object key mentions a password or hash, no string looks like an
/// argon2 hash, and no string equals or contains one of `secrets`.
#[track_caller]
pub fn assert_no_password_material(v: &Value, secrets: &[&str]) {
    fn walk(v: &Value, secrets: &[&str], path: &str) -> Option<String> {
        match v {
            Value::Object(map) => map.iter().find_map(|(k, child)| {
                let lower = k.to_ascii_lowercase();
                if lower.contains("password") || lower.contains("hash") {
                    return Some(format!("key {path}.{k}"));
                }
                walk(child, secrets, &format!("{path}.{k}"))
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, child)| walk(child, secrets, &format!("{path}[{i}]"))),
            Value::String(s) => {
                if s.contains("$argon2") {
                    return Some(format!("argon2 hash at {path}"));
                }
                secrets
                    .iter()
                    .find(|secret| s.contains(**secret))
                    .map(|secret| format!("secret {secret:?} at {path}"))
            }
            _ => None,
        }
    }
    if let Some(problem) = walk(v, secrets, "$") {
        panic!("password material in response ({problem}): {v}");
    }
}

/// Asserts a `Retry-After` header holding an integer number of seconds ≥ 1 and returns it.
#[track_caller]
pub fn assert_retry_after(resp: &Resp) -> u64 {
    let value = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After header: {:?}", resp.headers));
    let secs: u64 = value
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After {value:?} is not an integer: {e}"));
    assert!(secs >= 1, "Retry-After should be >= 1, got {secs}");
    secs
}

/// The ids of the `items` of a list response.
#[track_caller]
pub fn item_ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list response without items array: {list}"))
        .iter()
        .map(|u| u["id"].as_str().expect("item has string id").to_owned())
        .collect()
}

/// The `field` (a string) of each item of a list response.
#[track_caller]
pub fn item_strings(list: &Value, field: &str) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("list response without items array: {list}"))
        .iter()
        .map(|u| {
            u[field]
                .as_str()
                .unwrap_or_else(|| panic!("item.{field} is not a string: {u}"))
                .to_owned()
        })
        .collect()
}

/// Returns the decoded JSON payload (claims) of a JWT.
#[track_caller]
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("JWT payload is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT payload is not JSON: {e}"))
}

/// `value[key]` as an owned string; panics naming the key and the value when it is not one.
#[track_caller]
pub fn str_field(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
        .to_owned()
}

/// The `id` of a user, file or any other resource.
#[track_caller]
pub fn id_of(resource: &Value) -> String {
    str_field(resource, "id")
}
