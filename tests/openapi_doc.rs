//! The OpenAPI document must describe every REST endpoint of docs/API.md §3–§4, its auth scheme,
//! bodies and error statuses; `/api/docs` shows it.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// (path, method, must declare bearer security)
const OPERATIONS: &[(&str, &str, bool)] = &[
    ("/api/auth/login", "post", false),
    ("/api/auth/refresh", "post", false),
    ("/api/auth/logout", "post", false),
    ("/api/auth/me", "get", true),
    ("/api/auth/password", "post", true),
    ("/api/users", "get", true),
    ("/api/users", "post", true),
    ("/api/users/{id}", "get", true),
    ("/api/users/{id}", "patch", true),
    ("/api/users/{id}", "delete", true),
];

/// Statuses each operation must document.
const STATUSES: &[(&str, &str, &[&str])] = &[
    ("/api/auth/login", "post", &["200", "400", "401", "429"]),
    ("/api/auth/refresh", "post", &["200", "401"]),
    ("/api/auth/logout", "post", &["204"]),
    ("/api/auth/me", "get", &["200", "401"]),
    ("/api/auth/password", "post", &["204", "401", "422"]),
    ("/api/users", "get", &["200", "400", "401"]),
    (
        "/api/users",
        "post",
        &["201", "400", "401", "403", "409", "422"],
    ),
    ("/api/users/{id}", "get", &["200", "401", "404"]),
    (
        "/api/users/{id}",
        "patch",
        &["200", "400", "401", "403", "404", "409", "412", "422"],
    ),
    (
        "/api/users/{id}",
        "delete",
        &["204", "401", "403", "404", "409"],
    ),
];

/// Operations with a JSON request body.
const BODIES: &[(&str, &str)] = &[
    ("/api/auth/login", "post"),
    ("/api/auth/refresh", "post"),
    ("/api/auth/logout", "post"),
    ("/api/auth/password", "post"),
    ("/api/users", "post"),
    ("/api/users/{id}", "patch"),
];

async fn fetch_doc(app: &TestApp) -> Value {
    let resp = app.get_anon("/api/openapi.json").await;
    resp.expect_status(200);
    assert!(
        resp.content_type().starts_with("application/json"),
        "content-type {:?}",
        resp.content_type()
    );
    let doc = resp.body;
    let version = doc["openapi"]
        .as_str()
        .unwrap_or_else(|| panic!("no `openapi` version field"));
    assert!(version.starts_with("3."), "not OpenAPI 3: {version}");
    doc
}

/// `/api/users/{user_id}` and `/api/users/{id}` are the same path template.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Path prefixes under which `paths` are served: "" plus the path of each `servers[].url`
/// (OpenAPI paths are relative to the server URL, e.g. `servers: [{"url": "/api"}]`).
fn server_path_prefixes(doc: &Value) -> Vec<String> {
    let mut prefixes = vec![String::new()];
    for server in doc["servers"].as_array().into_iter().flatten() {
        let Some(url) = server["url"].as_str() else {
            continue;
        };
        let path = match reqwest::Url::parse(url) {
            Ok(absolute) => absolute.path().to_owned(),
            Err(_) => url.to_owned(),
        };
        prefixes.push(path.trim_end_matches('/').to_owned());
    }
    prefixes
}

/// The operation object for `path` + `method`; panics with the list of documented paths.
#[track_caller]
fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let paths = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("document has no paths object"));
    let wanted = normalize(path);
    let prefixes = server_path_prefixes(doc);
    let item = paths
        .iter()
        .find(|(p, _)| {
            prefixes
                .iter()
                .any(|prefix| normalize(&format!("{prefix}{p}")) == wanted)
        })
        .map(|(_, item)| item)
        .unwrap_or_else(|| {
            panic!(
                "path {path} missing from the OpenAPI document; documented: {:?}",
                paths.keys().collect::<Vec<_>>()
            )
        });
    let op = &item[method];
    assert!(
        op.is_object(),
        "{} {path} missing from the OpenAPI document; methods: {:?}",
        method.to_uppercase(),
        item.as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    op
}

/// The schema of the JSON media type of a request body or response object (`Null` if none).
/// Accepts media type keys with parameters, e.g. `application/json; charset=utf-8`.
fn json_schema(body: &Value) -> &Value {
    body["content"]
        .as_object()
        .and_then(|content| {
            content
                .iter()
                .find(|(media_type, _)| {
                    media_type
                        .split(';')
                        .next()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
                })
                .map(|(_, media)| &media["schema"])
        })
        .unwrap_or(&Value::Null)
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut current = v;
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let pointer = reference.trim_start_matches('#');
        match doc.pointer(pointer) {
            Some(target) => current = target,
            None => panic!("dangling $ref {reference}"),
        }
    }
    panic!("$ref chain too long at {v}")
}

/// All property names of a schema, following `$ref` and `allOf`.
fn property_names(doc: &Value, schema: &Value) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(parts) = schema[key].as_array() {
            for part in parts {
                names.extend(property_names(doc, part));
            }
        }
    }
    names
}

/// The bearer scheme names declared in components.securitySchemes.
fn bearer_schemes(doc: &Value) -> Vec<String> {
    doc["components"]["securitySchemes"]
        .as_object()
        .map(|schemes| {
            schemes
                .iter()
                .filter(|(_, s)| {
                    s["type"] == "http"
                        && s["scheme"]
                            .as_str()
                            .is_some_and(|x| x.eq_ignore_ascii_case("bearer"))
                })
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The effective security requirements of an operation (its own, else the document's).
fn effective_security<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Vec<Value>> {
    op.get("security")
        .or_else(|| doc.get("security"))
        .and_then(Value::as_array)
}

#[tokio::test]
async fn openapi_document_lists_every_endpoint() {
    let app = TestApp::spawn().await;
    let doc = fetch_doc(&app).await;
    for (path, method, _) in OPERATIONS {
        let op = operation(&doc, path, method);
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
}

#[tokio::test]
async fn openapi_declares_bearer_security_on_protected_operations() {
    let app = TestApp::spawn().await;
    let doc = fetch_doc(&app).await;
    let schemes = bearer_schemes(&doc);
    assert!(
        !schemes.is_empty(),
        "no http bearer scheme in components.securitySchemes: {}",
        doc["components"]["securitySchemes"]
    );
    for (path, method, protected) in OPERATIONS {
        let op = operation(&doc, path, method);
        let security = effective_security(&doc, op);
        let requires_bearer = security.is_some_and(|reqs| {
            !reqs.is_empty()
                && reqs.iter().all(|req| {
                    req.as_object()
                        .is_some_and(|r| !r.is_empty() && r.keys().any(|k| schemes.contains(k)))
                })
        });
        if *protected {
            assert!(
                requires_bearer,
                "{method} {path} should declare the bearer security scheme, has {security:?}"
            );
        } else if *path != "/api/auth/logout" {
            assert!(
                !requires_bearer,
                "{method} {path} must be callable without a token, declares {security:?}"
            );
        }
    }
}

#[tokio::test]
async fn openapi_documents_error_statuses() {
    let app = TestApp::spawn().await;
    let doc = fetch_doc(&app).await;
    for (path, method, statuses) in STATUSES {
        let op = operation(&doc, path, method);
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        for status in *statuses {
            let response = responses.get(*status).unwrap_or_else(|| {
                panic!(
                    "{method} {path} does not document {status}; documents {:?}",
                    responses.keys().collect::<Vec<_>>()
                )
            });
            let response = resolve(&doc, response);
            if status.starts_with('4') {
                // Error responses carry the JSON envelope.
                let schema = json_schema(response);
                assert!(
                    schema.is_object(),
                    "{method} {path} {status} should have an application/json body schema: {response}"
                );
                let props = property_names(&doc, schema);
                assert!(
                    props.iter().any(|p| p == "error"),
                    "{method} {path} {status} body schema should have an `error` property, has {props:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn openapi_documents_bodies_and_user_schema() {
    let app = TestApp::spawn().await;
    let doc = fetch_doc(&app).await;
    for (path, method) in BODIES {
        let op = operation(&doc, path, method);
        let body = resolve(&doc, &op["requestBody"]);
        assert!(
            json_schema(body).is_object(),
            "{method} {path} should document an application/json request body: {body}"
        );
    }
    let create = operation(&doc, "/api/users", "post");
    let create_props = property_names(&doc, json_schema(resolve(&doc, &create["requestBody"])));
    for field in ["username", "email", "password", "role"] {
        assert!(
            create_props.iter().any(|p| p == field),
            "create-user request schema lacks {field}: {create_props:?}"
        );
    }

    // The User response schema: every field, no password material.
    let get = operation(&doc, "/api/users/{id}", "get");
    let ok = resolve(&doc, &get["responses"]["200"]);
    let user_props = property_names(&doc, json_schema(ok));
    for field in [
        "id",
        "username",
        "email",
        "display_name",
        "role",
        "disabled",
        "version",
        "created_at",
        "updated_at",
        "last_login_at",
    ] {
        assert!(
            user_props.iter().any(|p| p == field),
            "User schema lacks {field}: {user_props:?}"
        );
    }
    for prop in &user_props {
        let lower = prop.to_ascii_lowercase();
        assert!(
            !lower.contains("password") && !lower.contains("hash"),
            "User schema exposes {prop}"
        );
    }

    let list = operation(&doc, "/api/users", "get");
    let list_ok = resolve(&doc, &list["responses"]["200"]);
    let list_props = property_names(&doc, json_schema(list_ok));
    for field in ["items", "total", "page", "per_page"] {
        assert!(
            list_props.iter().any(|p| p == field),
            "list schema lacks {field}: {list_props:?}"
        );
    }
    let params: Vec<String> = list["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| resolve(&doc, p)["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    for param in ["page", "per_page", "q", "sort", "role", "disabled"] {
        assert!(
            params.iter().any(|p| p == param),
            "GET /api/users does not document ?{param}: {params:?}"
        );
    }
}

/// Panics unless every `null` in `value` sits where `schema` says `nullable: true`.
fn assert_nulls_documented(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    match value {
        Value::Null => assert_eq!(
            schema["nullable"],
            json!(true),
            "{at} is null in a response, but its schema does not allow null: {schema}"
        ),
        Value::Object(fields) => {
            for (name, field) in fields {
                if let Some(field_schema) = schema["properties"].get(name) {
                    assert_nulls_documented(doc, field_schema, field, &format!("{at}.{name}"));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_nulls_documented(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

/// Real responses full of `null`s (no display name, never logged in, no limits) and a real
/// download match the document: each `null` is documented as nullable, and the file's own
/// `Content-Type` is covered by the documented media type (both found by `.ci/fuzz`).
#[tokio::test]
async fn responses_with_nulls_and_downloads_match_the_document() {
    let app = TestApp::spawn().await;
    let doc = fetch_doc(&app).await;
    let user = app.create_user("no_extras", "viewer").await;
    let user_id = user["id"].as_str().expect("user id");
    let file = app.upload_bytes("notes.txt", b"plain text").await;
    let file_id = file["id"].as_str().expect("file id");
    app.create_link(file_id, &json!({})).await;
    let cases = [
        ("/api/users/{id}", format!("/api/users/{user_id}")),
        ("/api/users", "/api/users".to_owned()),
        ("/api/files/{id}", format!("/api/files/{file_id}")),
        ("/api/files", "/api/files".to_owned()),
        (
            "/api/files/{id}/links",
            format!("/api/files/{file_id}/links"),
        ),
    ];
    for (template, path) in cases {
        let resp = app.get(&path, &app.admin_token).await;
        resp.expect_status(200);
        let documented = resolve(&doc, &operation(&doc, template, "get")["responses"]["200"]);
        assert_nulls_documented(&doc, json_schema(documented), &resp.body, &path);
    }

    let download = format!("/api/files/{file_id}/download");
    let resp = app
        .send(
            app.req(Method::GET, &download)
                .bearer_auth(&app.admin_token),
        )
        .await;
    resp.expect_status(200);
    let received = resp.content_type().split(';').next().unwrap_or("").trim();
    assert!(received.starts_with("text/plain"), "{received:?}");
    let (main, sub) = received.split_once('/').expect("a media type");
    let op = operation(&doc, "/api/files/{id}/download", "get");
    let documented: Vec<&String> = op["responses"]["200"]["content"]
        .as_object()
        .map(|content| content.keys().collect())
        .unwrap_or_default();
    assert!(
        documented.iter().any(|media| {
            let (m, s) = media.split_once('/').unwrap_or(("", ""));
            (m == "*" || m == main) && (s == "*" || s == sub)
        }),
        "a download sent {received}, the document lists {documented:?}"
    );
}

#[tokio::test]
async fn docs_page_is_html() {
    let app = TestApp::spawn().await;
    // A browser follows redirects (e.g. to a trailing slash), so this client does too.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build reqwest client");
    let resp = client
        .get(app.url("/api/docs"))
        .send()
        .await
        .expect("GET /api/docs");
    assert_eq!(resp.status().as_u16(), 200, "GET /api/docs status");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "content-type {content_type:?}"
    );
    let text = resp.text().await.expect("read /api/docs body");
    assert!(
        text.to_ascii_lowercase().contains("<html"),
        "not an HTML page: {}",
        &text[..text.len().min(500)]
    );
}
