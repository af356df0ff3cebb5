//! `POST /api/users/import` (docs/API.md §4.4): users in bulk from CSV or JSON Lines — every
//! problem of every row reported by line, dry runs, both modes, a `user.created` per user and
//! live `import.*` events, imported argon2/bcrypt hashes upgraded to argon2id at first login, and
//! a lossless round trip through `GET /api/users/export?password_hashes=true`.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const CSV: &str = "text/csv";
const JSONL: &str = "application/x-ndjson";
/// The password behind [`argon2id_hash`] and the bcrypt hashes below.
const IMPORTED_PASSWORD: &str = "imported-pass-1";

async fn import_as(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    body: &str,
) -> Resp {
    app.send(
        app.req(Method::POST, &format!("/api/users/import{query}"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_owned()),
    )
    .await
}

async fn import(app: &TestApp, query: &str, content_type: &str, body: &str) -> Resp {
    import_as(app, &app.admin_token, query, content_type, body).await
}

/// The 200 report, checked for shape: `{import_id, created, skipped, errors}`.
#[track_caller]
fn report(resp: &Resp) -> (u64, u64, Vec<Value>) {
    resp.expect_status(200);
    let body = &resp.body;
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("report is not an object: {}", resp.text))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["created", "errors", "import_id", "skipped"],
        "{}",
        resp.text
    );
    assert!(body["import_id"].as_str().is_some_and(|s| !s.is_empty()));
    let errors = body["errors"].as_array().expect("errors").clone();
    for e in &errors {
        assert!(e["line"].as_u64().is_some_and(|l| l >= 1), "{e}");
        assert!(e["field"].is_string() || e["field"].is_null(), "{e}");
        assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    (
        body["created"].as_u64().expect("created"),
        body["skipped"].as_u64().expect("skipped"),
        errors,
    )
}

/// `(line, field, code)` of each error entry.
fn triples(errors: &[Value]) -> Vec<(u64, Option<String>, String)> {
    errors
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["field"].as_str().map(str::to_owned),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

fn t(line: u64, field: &str, code: &str) -> (u64, Option<String>, String) {
    (line, Some(field.to_owned()), code.to_owned())
}

async fn user_total(app: &TestApp) -> u64 {
    let resp = app.get("/api/users?per_page=1", &app.admin_token).await;
    resp.expect_status(200);
    resp.body["total"].as_u64().expect("total")
}

/// Every user of the list, by username.
async fn users_by_name(app: &TestApp) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut page = 1;
    loop {
        let resp = app
            .get(
                &format!("/api/users?per_page=200&page={page}"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        let items = resp.body["items"].as_array().expect("items").clone();
        for u in &items {
            out.insert(str_field(u, "username"), u.clone());
        }
        if items.len() < 200 {
            return out;
        }
        page += 1;
    }
}

/// The fields an import recreates.
fn importable(u: &Value) -> Value {
    json!({"username": u["username"], "email": u["email"], "display_name": u["display_name"],
           "role": u["role"], "disabled": u["disabled"]})
}

/// An argon2id hash of [`IMPORTED_PASSWORD`] with the server's parameters (the crate's
/// defaults: 19 MiB, 2 passes), computed once so 10,000 rows need no hashing.
fn argon2id_hash() -> String {
    use argon2::{PasswordHasher as _, password_hash::SaltString};
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(IMPORTED_PASSWORD.as_bytes(), &salt)
        .expect("argon2id")
        .to_string()
}

/// The stored hash of one user, read through the export (the only way it leaves the server).
async fn stored_hash(app: &TestApp, username: &str) -> Option<String> {
    let resp = app
        .get(
            &format!("/api/users/export?format=jsonl&password_hashes=true&q={username}"),
            &app.admin_token,
        )
        .await;
    resp.expect_status(200);
    let found: Vec<Value> = resp
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .filter(|u: &Value| u["username"] == username)
        .collect();
    assert_eq!(found.len(), 1, "{}", resp.text);
    found[0]["password_hash"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn ten_thousand_rows_with_fifty_bad_ones() {
    let app = TestApp::spawn().await;
    let hash = argon2id_hash();
    // Every 200th row is bad in one of five ways; the good ones carry a precomputed hash (quoted:
    // its parameters contain commas).
    let mut csv =
        String::from("username,email,display_name,role,disabled,password,password_hash\n");
    let mut bad: BTreeMap<u64, &str> = BTreeMap::new();
    for i in 0..10_000u64 {
        let line = i + 2;
        let (mut email, mut role, mut disabled, mut password, mut pw_hash) = (
            format!("bulk{i}@example.com"),
            if i % 7 == 0 { "admin" } else { "viewer" },
            if i % 11 == 0 { "true" } else { "false" },
            String::new(),
            hash.clone(),
        );
        if i % 200 == 100 {
            let field = match (i / 200) % 5 {
                0 => {
                    email = "not-an-email".into();
                    "email"
                }
                1 => {
                    role = "owner";
                    "role"
                }
                2 => {
                    password = "short".into();
                    pw_hash = String::new();
                    "password"
                }
                3 => {
                    disabled = "maybe";
                    "disabled"
                }
                _ => {
                    pw_hash = "md5:0123456789abcdef".into();
                    "password_hash"
                }
            };
            bad.insert(line, field);
        }
        csv.push_str(&format!(
            "bulk_{i:05},{email},\"Bulk, \"\"User\"\" {i}\",{role},{disabled},{password},\"{pw_hash}\"\n"
        ));
    }
    assert_eq!(bad.len(), 50);
    // Well over the JSON body limit (1 MiB), which must not apply here.
    assert!(csv.len() > 1024 * 1024, "{} bytes", csv.len());
    let expected: Vec<(u64, Option<String>, String)> = bad
        .iter()
        .map(|(line, field)| {
            let code = match *field {
                "password" => "too_short",
                _ => "invalid",
            };
            t(*line, field, code)
        })
        .collect();

    // Dry run: exactly those 50 lines, nothing written.
    let (created, skipped, errors) =
        report(&import(&app, "?dry_run=true&mode=skip_invalid", CSV, &csv).await);
    assert_eq!((created, skipped), (9_950, 50));
    assert_eq!(triples(&errors), expected);
    let (created, skipped, errors) = report(&import(&app, "?dry_run=true", CSV, &csv).await);
    assert_eq!((created, skipped, errors.len()), (0, 10_000, 50));
    assert_eq!(user_total(&app).await, 1);

    // All or nothing (the default): nothing.
    let (created, skipped, errors) = report(&import(&app, "", CSV, &csv).await);
    assert_eq!((created, skipped), (0, 10_000));
    assert_eq!(triples(&errors), expected);
    assert_eq!(user_total(&app).await, 1);

    // Skip invalid: 9,950 users, each a `user.created` on the socket, then `import.finished`.
    let (mut ws, _) = app.ws(&app.admin_token, "import-watcher").await;
    let watcher = tokio::spawn(async move {
        let mut created = 0u64;
        let mut imports: Vec<Value> = Vec::new();
        let mut sample = None;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let finished = imports.iter().any(|f| f["type"] == "import.finished");
            if finished && created >= 9_950 {
                return (created, imports, sample);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = ws
                .next_json_within(left, "user.created and import.* events")
                .await;
            match frame["type"].as_str() {
                Some("user.created")
                    if frame["data"]["username"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("bulk_")) =>
                {
                    created += 1;
                    sample.get_or_insert(frame);
                }
                Some(t) if t.starts_with("import.") => imports.push(frame),
                _ => {}
            }
        }
    });
    let started = Instant::now();
    let resp = import(&app, "?mode=skip_invalid", CSV, &csv).await;
    let elapsed = started.elapsed();
    let (created, skipped, errors) = report(&resp);
    assert_eq!((created, skipped), (9_950, 50));
    assert_eq!(triples(&errors), expected);
    println!(
        "imported 9,950 of 10,000 rows (with hashes) in {elapsed:?}: {:.0} rows/s",
        10_000.0 / elapsed.as_secs_f64()
    );
    let import_id = str_field(&resp.body, "import_id");

    let (events, imports, sample) = watcher.await.expect("watcher");
    assert_eq!(events, 9_950);
    let sample = sample.expect("a user.created");
    assert_event_envelope(&sample);
    assert_eq!(sample["actor"], app.admin_actor());
    assert_user_shape(&sample["data"]);
    let ours: Vec<&Value> = imports
        .iter()
        .filter(|f| f["data"]["import_id"] == import_id.as_str())
        .collect();
    assert_eq!(
        ours.first().map(|f| &f["type"]),
        Some(&json!("import.started"))
    );
    let finished = ours.last().expect("import.finished");
    assert_eq!(finished["type"], "import.finished");
    assert_eq!(
        finished["data"],
        json!({"import_id": import_id, "dry_run": false, "mode": "skip_invalid",
               "rows_total": 10_000, "rows_done": 10_000, "created": 9_950, "skipped": 50,
               "errors": 50})
    );
    for f in &ours {
        assert_event_envelope(f);
        assert!(f["seq"].is_null(), "import events are ephemeral: {f}");
        assert_eq!(f["actor"], app.admin_actor());
    }
    let progress = ours
        .iter()
        .filter(|f| f["type"] == "import.progress")
        .count();
    assert!(
        progress as f64 <= elapsed.as_secs_f64() * 4.0 + 1.0,
        "{progress} progress events in {elapsed:?}"
    );

    assert_eq!(user_total(&app).await, 1 + 9_950);
    let users = users_by_name(&app).await;
    assert_eq!(
        importable(&users["bulk_00007"]),
        json!({"username": "bulk_00007", "email": "bulk7@example.com",
               "display_name": "Bulk, \"User\" 7", "role": "admin", "disabled": false})
    );
    assert_eq!(users["bulk_00011"]["disabled"], true);
    assert!(!users.contains_key("bulk_00100"));
    // The imported hash works as it is.
    app.login("bulk_00001", IMPORTED_PASSWORD).await;
}

#[tokio::test]
async fn duplicates_in_the_file_and_existing_users_are_reported_by_line() {
    let app = TestApp::spawn().await;
    app.create_user("taken_user", "viewer").await;
    // Line 8's quoted note (a column the import ignores) spans two lines: the next row starts
    // on line 10.
    let csv = "username,email,password,note\n\
               alice,alice@example.com,password-123\n\
               bob,bob@example.com,\n\
               alice,other@example.com,\n\
               carol,ALICE@Example.COM,\n\
               taken_user,new@example.com,\n\
               dave,Taken_User@EXAMPLE.com,\n\
               erin,erin@example.com,,\"two\n\
               lines\"\n\
               Frank,frank@example,x,\n";
    let expected = vec![
        t(4, "username", "duplicate"),
        t(5, "email", "duplicate"),
        t(6, "username", "taken"),
        t(7, "email", "taken"),
        t(10, "username", "invalid"),
        t(10, "email", "invalid"),
        t(10, "password", "too_short"),
    ];
    let (created, skipped, errors) =
        report(&import(&app, "?dry_run=true&mode=skip_invalid", CSV, csv).await);
    assert_eq!((created, skipped), (3, 5));
    assert_eq!(triples(&errors), expected);
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 2")),
        "{errors:?}"
    );
    assert!(
        errors[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 2")),
        "{errors:?}"
    );

    let (created, skipped, errors) = report(&import(&app, "?mode=all_or_nothing", CSV, csv).await);
    assert_eq!((created, skipped), (0, 8));
    assert_eq!(triples(&errors), expected);
    assert_eq!(user_total(&app).await, 2);

    let (created, skipped, errors) = report(&import(&app, "?mode=skip_invalid", CSV, csv).await);
    assert_eq!((created, skipped), (3, 5));
    assert_eq!(triples(&errors), expected);
    let users = users_by_name(&app).await;
    assert_eq!(
        users.keys().map(String::as_str).collect::<Vec<_>>(),
        ["admin", "alice", "bob", "erin", "taken_user"]
    );
    app.login("alice", "password-123").await;
    // bob has no password: the ordinary 401, never a 500.
    assert_error(
        &app.try_login("bob", "password-123").await,
        401,
        "invalid_credentials",
    );

    // Importing the same file again: now every good row is taken.
    let (created, skipped, errors) = report(&import(&app, "?mode=skip_invalid", CSV, csv).await);
    assert_eq!((created, skipped), (0, 8));
    let taken: BTreeSet<u64> = errors
        .iter()
        .filter(|e| e["code"] == "taken")
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(taken, BTreeSet::from([2, 3, 6, 7, 8]));
}

#[tokio::test]
async fn imported_bcrypt_and_argon2i_hashes_log_in_and_are_upgraded_to_argon2id() {
    let app = TestApp::spawn().await;
    let bcrypt_b = bcrypt::hash(IMPORTED_PASSWORD, 4).expect("bcrypt");
    assert!(bcrypt_b.starts_with("$2b$04$"), "{bcrypt_b}");
    // PHP's `$2y$` is the same algorithm.
    let bcrypt_y = bcrypt::hash(IMPORTED_PASSWORD, 5)
        .expect("bcrypt")
        .replacen("$2b$", "$2y$", 1);
    let argon2i = {
        use argon2::{PasswordHasher as _, password_hash::SaltString};
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 2, 1, None).expect("params"),
        )
        .hash_password(IMPORTED_PASSWORD.as_bytes(), &salt)
        .expect("argon2i")
        .to_string()
    };
    let lines = [
        json!({"username": "bc_b", "email": "bc_b@example.com", "password_hash": bcrypt_b}),
        json!({"username": "bc_y", "email": "bc_y@example.com", "password_hash": bcrypt_y}),
        json!({"username": "a2i", "email": "a2i@example.com", "password_hash": argon2i}),
        json!({"username": "nopw", "email": "nopw@example.com", "password_hash": null}),
        json!({"username": "bad_hash", "email": "bad@example.com", "password_hash": "plain"}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let (created, skipped, errors) =
        report(&import(&app, "?format=jsonl&mode=skip_invalid", JSONL, &body).await);
    assert_eq!((created, skipped), (4, 1));
    assert_eq!(triples(&errors), vec![t(5, "password_hash", "invalid")]);

    for (username, before) in [
        ("bc_b", "$2b$04$"),
        ("bc_y", "$2y$05$"),
        ("a2i", "$argon2i$"),
    ] {
        let stored = stored_hash(&app, username).await.expect("hash");
        assert!(stored.starts_with(before), "{username}: {stored}");
        assert_error(
            &app.try_login(username, "wrong-password").await,
            401,
            "invalid_credentials",
        );
        // A failed login leaves the hash alone.
        assert_eq!(
            stored_hash(&app, username).await.as_deref(),
            Some(stored.as_str())
        );
        let body = app.login(username, IMPORTED_PASSWORD).await;
        assert_token_pair(&body);
        let upgraded = stored_hash(&app, username).await.expect("hash");
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{username} after login: {upgraded}"
        );
        // The upgraded hash is the same password.
        app.login(username, IMPORTED_PASSWORD).await;
        assert_error(
            &app.try_login(username, "wrong-password").await,
            401,
            "invalid_credentials",
        );
    }
    // No password: nothing verifies, and nothing to export.
    assert_eq!(stored_hash(&app, "nopw").await, None);
    assert_error(
        &app.try_login("nopw", IMPORTED_PASSWORD).await,
        401,
        "invalid_credentials",
    );
    assert_error(
        &app.try_login("nopw", "!").await,
        401,
        "invalid_credentials",
    );
}

/// Export (with hashes) from one server, import into a fresh one: the same users, who log in
/// with their old passwords. Once as CSV, once as JSON Lines.
#[tokio::test]
async fn export_then_import_into_another_server_is_lossless() {
    let source = TestApp::spawn().await;
    let mk = |username: &str, email: &str, display_name: Value, role: &str| {
        json!({"username": username, "email": email, "display_name": display_name,
               "password": USER_PASSWORD, "role": role})
    };
    for body in [
        mk(
            "rt_ann",
            "ann@example.com",
            json!("Ann, \"the\" Admin"),
            "admin",
        ),
        mk(
            "rt_bob",
            "bob@example.com",
            json!("Bøb Ünïcode ✓"),
            "viewer",
        ),
        mk("rt_cid", "cid@example.com", json!("Cid"), "viewer"),
        mk("rt_dee", "Dee.Mixed@Example.COM", Value::Null, "viewer"),
    ] {
        source.create_user_with(&body).await;
    }
    let cid = users_by_name(&source).await["rt_cid"].clone();
    source
        .admin_patch_user(&id_of(&cid), &json!({"disabled": true}))
        .await;
    let wanted: BTreeMap<String, Value> = users_by_name(&source)
        .await
        .iter()
        .map(|(k, u)| (k.clone(), importable(u)))
        .collect();
    assert_eq!(wanted.len(), 5);

    for (format, content_type) in [("csv", CSV), ("jsonl", JSONL)] {
        let exported = source
            .get(
                &format!("/api/users/export?format={format}&password_hashes=true"),
                &source.admin_token,
            )
            .await;
        exported.expect_status(200);
        assert!(exported.text.contains("$argon2id$"), "{}", exported.text);

        let target = TestApp::spawn().await;
        let resp = import(
            &target,
            &format!("?format={format}&mode=skip_invalid"),
            content_type,
            &exported.text,
        )
        .await;
        let (created, skipped, errors) = report(&resp);
        // The bootstrap admin exists on both: its row is the one skipped.
        assert_eq!((created, skipped), (4, 1), "{format}: {}", resp.text);
        let admin_line = exported
            .text
            .lines()
            .position(|l| l.contains("admin@switchboard.local"))
            .expect("admin row") as u64
            + 1;
        assert_eq!(
            triples(&errors),
            vec![
                t(admin_line, "username", "taken"),
                t(admin_line, "email", "taken")
            ],
            "{format}"
        );
        let got: BTreeMap<String, Value> = users_by_name(&target)
            .await
            .iter()
            .map(|(k, u)| (k.clone(), importable(u)))
            .collect();
        assert_eq!(got, wanted, "{format}");
        // Old passwords work on the new server; the disabled user stays locked out.
        target.login("rt_ann", USER_PASSWORD).await;
        target.login("rt_dee", USER_PASSWORD).await;
        assert_error(
            &target.try_login("rt_cid", USER_PASSWORD).await,
            401,
            "invalid_credentials",
        );
    }

    // Without the flag the export still carries no password material.
    let plain = source
        .get("/api/users/export?format=jsonl", &source.admin_token)
        .await;
    plain.expect_status(200);
    for line in plain.text.lines() {
        assert_no_password_material(&serde_json::from_str(line).expect("JSON line"), &[]);
    }
    let viewer = source.token_for("rt_bob").await;
    assert_error(
        &source
            .get("/api/users/export?password_hashes=true", &viewer)
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &source
            .get(
                "/api/users/export?password_hashes=maybe",
                &source.admin_token,
            )
            .await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn bad_requests_roles_and_unreadable_rows() {
    let app = TestApp::spawn().await;
    let csv = "username,email\nzed,zed@example.com\n";
    // Who may import.
    let anon = app
        .send(
            app.req(Method::POST, "/api/users/import")
                .header("content-type", CSV)
                .body(csv),
        )
        .await;
    assert_error(&anon, 401, "unauthorized");
    app.create_user("vic", "viewer").await;
    let viewer = app.token_for("vic").await;
    assert_error(
        &import_as(&app, &viewer, "", CSV, csv).await,
        403,
        "forbidden",
    );

    // Parameters.
    for query in ["?format=xml", "?mode=some", "?dry_run=maybe"] {
        assert_error(&import(&app, query, CSV, csv).await, 400, "bad_request");
    }
    // A CSV without a username (or email) column, or not UTF-8: the whole request.
    assert_error(
        &import(&app, "", CSV, "name,email\nzed,zed@example.com\n").await,
        400,
        "bad_request",
    );
    assert_error(
        &import(&app, "", CSV, "username\nzed\n").await,
        400,
        "bad_request",
    );
    let latin1 = app
        .send(
            app.req(Method::POST, "/api/users/import")
                .bearer_auth(&app.admin_token)
                .header("content-type", CSV)
                .body(b"username,email\nz\xe9d,zed@example.com\n".to_vec()),
        )
        .await;
    assert_error(&latin1, 400, "bad_request");
    // Empty files and a header alone import nothing; any content type is read.
    for (query, body, content_type) in [
        ("", "", CSV),
        ("?format=jsonl", "", JSONL),
        ("", "Username,EMAIL,id\n", "application/octet-stream"),
        ("?format=jsonl", "\n  \n", "application/jsonl"),
    ] {
        let (created, skipped, errors) = report(&import(&app, query, content_type, body).await);
        assert_eq!(
            (created, skipped, errors.len()),
            (0, 0, 0),
            "{query} {body:?}"
        );
    }

    // JSON Lines: a line that is not an object is a row error with no field.
    let jsonl = "{\"username\":\"zed\",\"email\":\"zed@example.com\",\"disabled\":true}\n\
                 [1, 2]\n\
                 \n\
                 not json\n\
                 \"zed\"\n\
                 {\"username\":7,\"email\":\"ok@example.com\",\"role\":\"admin\"}\n";
    let (created, skipped, errors) =
        report(&import(&app, "?format=jsonl&mode=skip_invalid", JSONL, jsonl).await);
    assert_eq!((created, skipped), (1, 4));
    let none = |line| (line, None, "invalid_json".to_owned());
    assert_eq!(
        triples(&errors),
        vec![none(2), none(4), none(5), t(6, "username", "invalid")]
    );
    let zed = &users_by_name(&app).await["zed"];
    assert_eq!(zed["disabled"], true);
    assert_eq!(zed["role"], "viewer");

    // Over 64 MiB: a 413 in the envelope.
    let huge = "a".repeat(64 * 1024 * 1024 + 1);
    assert_error(
        &import(&app, "", CSV, &huge).await,
        413,
        "payload_too_large",
    );
}
