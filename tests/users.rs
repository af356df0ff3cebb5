//! User management (docs/API.md §2 lists, §4 users).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn user_path(user: &Value) -> String {
    format!("/api/users/{}", id_of(user))
}

#[track_caller]
fn id_of(user: &Value) -> &str {
    user["id"]
        .as_str()
        .unwrap_or_else(|| panic!("user without id: {user}"))
}

/// GET a list as admin and check the list envelope.
async fn list(app: &TestApp, query: &str) -> Value {
    let resp = app
        .get(&format!("/api/users{query}"), &app.admin_token)
        .await;
    resp.expect_status(200);
    let body = resp.body;
    assert!(body["items"].is_array(), "items should be an array: {body}");
    assert!(body["total"].is_u64(), "total should be an integer: {body}");
    assert!(body["page"].is_u64(), "page should be an integer: {body}");
    assert!(
        body["per_page"].is_u64(),
        "per_page should be an integer: {body}"
    );
    for item in body["items"].as_array().expect("items") {
        assert_user_shape(item);
    }
    body
}

async fn patch_if_match(app: &TestApp, user: &Value, if_match: &str, body: &Value) -> Resp {
    app.send(
        app.req(Method::PATCH, &user_path(user))
            .bearer_auth(&app.admin_token)
            .header("If-Match", if_match)
            .json(body),
    )
    .await
}

/// The server's ERROR/WARN log lines, for failure messages.
fn server_errors(app: &TestApp) -> String {
    app.logs()
        .into_iter()
        .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_sorted(values: &[String], descending: bool, what: &str) {
    let mut expected = values.to_vec();
    expected.sort();
    if descending {
        expected.reverse();
    }
    assert_eq!(values, expected.as_slice(), "{what} is not sorted");
}

// ----------------------------------------------------------------------------- listing

#[tokio::test]
async fn list_defaults_and_paging() {
    let app = TestApp::spawn().await;
    let names: Vec<String> = (0..12).map(|i| format!("pageuser{i:02}")).collect();
    let specs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "viewer")).collect();
    let created = app.create_users(&specs).await;

    let all = list(&app, "").await;
    assert_eq!(all["total"], 13, "12 users + admin");
    assert_eq!(all["page"], 1, "default page");
    assert_eq!(all["per_page"], 50, "default per_page");
    assert_eq!(all["items"].as_array().expect("items").len(), 13);
    assert_sorted(
        &item_strings(&all, "username"),
        false,
        "default order (username)",
    );

    let mut seen = Vec::new();
    let mut usernames = Vec::new();
    for (page, expected_len) in [(1, 5), (2, 5), (3, 3), (4, 0)] {
        let body = list(&app, &format!("?per_page=5&page={page}")).await;
        assert_eq!(body["total"], 13, "total on page {page}");
        assert_eq!(body["page"], page);
        assert_eq!(body["per_page"], 5);
        assert_eq!(
            body["items"].as_array().expect("items").len(),
            expected_len,
            "items on page {page}: {body}"
        );
        seen.extend(item_ids(&body));
        usernames.extend(item_strings(&body, "username"));
    }
    assert_sorted(&usernames, false, "usernames across pages");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 13, "pages overlap or miss users: {seen:?}");
    for user in &created {
        assert!(seen.iter().any(|id| id == id_of(user)), "missing {user}");
    }
    assert!(seen.contains(&app.admin_id));
}

#[tokio::test]
async fn list_q_searches_case_insensitively() {
    let app = TestApp::spawn().await;
    let by_username = app
        .create_user_with(&json!({"username": "qqalpha", "email": "first@example.com",
            "password": USER_PASSWORD, "role": "viewer"}))
        .await;
    let by_display = app
        .create_user_with(&json!({"username": "second", "email": "second@example.com",
            "display_name": "Zeta QQBravo Person", "password": USER_PASSWORD, "role": "viewer"}))
        .await;
    let by_email = app
        .create_user_with(
            &json!({"username": "third", "email": "Someone@QQCharlie.org",
            "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;

    for (q, expected) in [
        ("QQALPHA", &by_username),
        ("qqbravo", &by_display),
        ("ZETA qqBRAVO", &by_display),
        ("qqcharlie.ORG", &by_email),
    ] {
        let resp = app
            .send(
                app.req(Method::GET, "/api/users")
                    .bearer_auth(&app.admin_token)
                    .query(&[("q", q)]),
            )
            .await;
        resp.expect_status(200);
        assert_eq!(resp.body["total"], 1, "q={q:?}: {}", resp.text);
        assert_eq!(
            item_ids(&resp.body),
            vec![id_of(expected).to_owned()],
            "q={q:?}"
        );
    }
    // A substring common to several users.
    let body = list(&app, "?q=QQ").await;
    assert_eq!(body["total"], 3, "q=QQ: {body}");
    let body = list(&app, "?q=no-such-thing-anywhere").await;
    assert_eq!(body["total"], 0);
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn list_sorts_by_username_both_ways() {
    let app = TestApp::spawn().await;
    app.create_users(&[
        ("sortcharlie", "viewer"),
        ("sortalpha", "admin"),
        ("sortecho", "viewer"),
        ("sortbravo", "viewer"),
        ("sortdelta", "viewer"),
    ])
    .await;
    let asc = item_strings(&list(&app, "?sort=username").await, "username");
    let desc = item_strings(&list(&app, "?sort=-username").await, "username");
    assert_eq!(asc.len(), 6);
    assert_sorted(&asc, false, "sort=username");
    assert_sorted(&desc, true, "sort=-username");
    let mut reversed = desc.clone();
    reversed.reverse();
    assert_eq!(asc, reversed);
    // Sorting composes with paging.
    let page2 = item_strings(
        &list(&app, "?sort=-username&per_page=2&page=2").await,
        "username",
    );
    assert_eq!(page2, desc[2..4].to_vec());
}

#[tokio::test]
async fn list_sorts_by_created_at_both_ways() {
    let app = TestApp::spawn().await;
    // Created one after another, in reverse username order, so the two orders differ.
    let mut created = Vec::new();
    for name in ["ctzulu", "ctyankee", "ctxray"] {
        created.push(app.create_user(name, "viewer").await);
    }
    let asc = list(&app, "?sort=created_at").await;
    let desc = list(&app, "?sort=-created_at").await;
    let asc_items = asc["items"].as_array().expect("items");
    let desc_items = desc["items"].as_array().expect("items");
    assert_eq!(asc_items.len(), 4);
    for pair in asc_items.windows(2) {
        assert!(
            parse_ts(&pair[0]["created_at"]) <= parse_ts(&pair[1]["created_at"]),
            "sort=created_at not ascending: {asc}"
        );
    }
    for pair in desc_items.windows(2) {
        assert!(
            parse_ts(&pair[0]["created_at"]) >= parse_ts(&pair[1]["created_at"]),
            "sort=-created_at not descending: {desc}"
        );
    }
    // The bootstrap admin was created first.
    assert_eq!(asc_items[0]["username"], "admin");
    assert_eq!(desc_items[3]["username"], "admin");
    // Where creation timestamps are distinct, the order must be creation order.
    let stamps: Vec<_> = created.iter().map(|u| parse_ts(&u["created_at"])).collect();
    if stamps.windows(2).all(|w| w[0] < w[1]) {
        let asc_names = item_strings(&asc, "username");
        assert_eq!(asc_names[1..], ["ctzulu", "ctyankee", "ctxray"]);
        let desc_names = item_strings(&desc, "username");
        assert_eq!(desc_names[..3], ["ctxray", "ctyankee", "ctzulu"]);
    }
}

#[tokio::test]
async fn list_filters_by_role_and_disabled() {
    let app = TestApp::spawn().await;
    let users = app
        .create_users(&[
            ("filt_v1", "viewer"),
            ("filt_v2", "viewer"),
            ("filt_a2", "admin"),
        ])
        .await;
    let (v1, v2, a2) = (&users[0], &users[1], &users[2]);
    app.admin_patch_user(id_of(v2), &json!({"disabled": true}))
        .await;

    let ids = |body: &Value| {
        let mut ids = item_ids(body);
        ids.sort();
        ids
    };
    let sorted = |list: &[&Value]| {
        let mut ids: Vec<String> = list.iter().map(|u| id_of(u).to_owned()).collect();
        ids.sort();
        ids
    };

    let viewers = list(&app, "?role=viewer").await;
    assert_eq!(viewers["total"], 2);
    assert_eq!(ids(&viewers), sorted(&[v1, v2]));

    let admins = list(&app, "?role=admin").await;
    assert_eq!(admins["total"], 2);
    let admin_user = app.admin_get_user(&app.admin_id).await;
    assert_eq!(ids(&admins), sorted(&[a2, &admin_user]));

    let disabled = list(&app, "?disabled=true").await;
    assert_eq!(disabled["total"], 1);
    assert_eq!(ids(&disabled), sorted(&[v2]));

    let enabled = list(&app, "?disabled=false").await;
    assert_eq!(enabled["total"], 3);
    assert_eq!(ids(&enabled), sorted(&[v1, a2, &admin_user]));

    let both = list(&app, "?role=viewer&disabled=false").await;
    assert_eq!(both["total"], 1);
    assert_eq!(ids(&both), sorted(&[v1]));
}

#[tokio::test]
async fn list_rejects_out_of_range_per_page() {
    let app = TestApp::spawn().await;
    for query in [
        "?per_page=0",
        "?per_page=201",
        "?per_page=-1",
        "?per_page=abc",
    ] {
        let resp = app
            .get(&format!("/api/users{query}"), &app.admin_token)
            .await;
        assert_error(&resp, 400, "bad_request");
    }
    // The bounds themselves are fine.
    assert_eq!(list(&app, "?per_page=200").await["per_page"], 200);
    assert_eq!(list(&app, "?per_page=1").await["per_page"], 1);
}

#[tokio::test]
async fn list_rejects_bad_page_sort_and_filter() {
    let app = TestApp::spawn().await;
    for query in [
        "?page=0",
        "?sort=password_hash",
        "?sort=-nonexistent",
        "?disabled=maybe",
    ] {
        let resp = app
            .get(&format!("/api/users{query}"), &app.admin_token)
            .await;
        assert_error(&resp, 400, "bad_request");
    }
}

// ----------------------------------------------------------------------------- get

#[tokio::test]
async fn get_user_has_etag_and_honours_if_none_match() {
    let app = TestApp::spawn().await;
    let user = app.create_user("etagged", "viewer").await;
    let path = user_path(&user);

    let resp = app.get(&path, &app.admin_token).await;
    resp.expect_status(200);
    assert_eq!(resp.body, user, "GET should return what POST returned");
    assert_eq!(resp.header("etag"), Some("\"1\""), "ETag is \"<version>\"");

    let not_modified = app
        .send(
            app.req(Method::GET, &path)
                .bearer_auth(&app.admin_token)
                .header("If-None-Match", "\"1\""),
        )
        .await;
    not_modified.expect_status(304);
    assert!(not_modified.text.is_empty(), "304 must have no body");

    let other = app
        .send(
            app.req(Method::GET, &path)
                .bearer_auth(&app.admin_token)
                .header("If-None-Match", "\"99\""),
        )
        .await;
    other.expect_status(200);

    // After a write the old ETag no longer matches.
    app.admin_patch_user(id_of(&user), &json!({"display_name": "Changed"}))
        .await;
    let after = app
        .send(
            app.req(Method::GET, &path)
                .bearer_auth(&app.admin_token)
                .header("If-None-Match", "\"1\""),
        )
        .await;
    after.expect_status(200);
    assert_eq!(after.header("etag"), Some("\"2\""));
    assert_eq!(after.body["version"], 2);
}

#[tokio::test]
async fn get_unknown_user_is_404() {
    let app = TestApp::spawn().await;
    let resp = app
        .get(
            &format!("/api/users/{}", uuid::Uuid::now_v7()),
            &app.admin_token,
        )
        .await;
    assert_error(&resp, 404, "not_found");
}

// ----------------------------------------------------------------------------- create

#[tokio::test]
async fn create_user_returns_201_location_and_version_1() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "newbie", "email": "newbie@example.com",
                    "display_name": "New Bie", "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;
    resp.expect_status(201);
    let user = &resp.body;
    assert_user_shape(user);
    assert_eq!(user["username"], "newbie");
    assert_eq!(user["email"], "newbie@example.com");
    assert_eq!(user["display_name"], "New Bie");
    assert_eq!(user["role"], "viewer");
    assert_eq!(user["disabled"], false);
    assert_eq!(user["version"], 1);
    assert!(user["last_login_at"].is_null(), "never logged in: {user}");
    assert_no_password_material(user, &[USER_PASSWORD]);

    let expected_location = format!("/api/users/{}", id_of(user));
    let location = resp
        .header("location")
        .unwrap_or_else(|| panic!("201 without Location: {:?}", resp.headers));
    assert!(
        location == expected_location || location == app.url(&expected_location),
        "Location {location:?} should be {expected_location:?}"
    );
    let fetched = app.get(&expected_location, &app.admin_token).await;
    fetched.expect_status(200);
    assert_eq!(&fetched.body, user);

    // display_name is optional and then null.
    let plain = app.create_user("plain", "admin").await;
    assert!(plain["display_name"].is_null(), "{plain}");
    assert_eq!(plain["role"], "admin");
    assert_ne!(plain["id"], user["id"]);
    // The new user can log in.
    app.login("newbie", USER_PASSWORD).await;
}

#[tokio::test]
async fn create_user_reports_every_invalid_field_at_once() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "Bad Name!", "email": "not-an-email",
                    "password": "short", "role": "viewer"}),
        )
        .await;
    assert_fields(&resp, &["username", "email", "password"]);
    assert_eq!(list(&app, "").await["total"], 1, "nothing was created");
}

#[tokio::test]
async fn create_user_with_unknown_role_is_422() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "roleless", "email": "roleless@example.com",
                    "password": USER_PASSWORD, "role": "superuser"}),
        )
        .await;
    assert_fields(&resp, &["role"]);
    assert_eq!(list(&app, "").await["total"], 1, "nothing was created");
}

#[tokio::test]
async fn create_user_enforces_username_rules() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(33);
    for bad in [
        "ab",
        long.as_str(),
        "Alice",
        "has space",
        "emoji😀x",
        "semi;colon",
    ] {
        let resp = app
            .post(
                "/api/users",
                &app.admin_token,
                &json!({"username": bad, "email": "u@example.com",
                        "password": USER_PASSWORD, "role": "viewer"}),
            )
            .await;
        assert_fields(&resp, &["username"]);
    }
    let max = "b".repeat(32);
    for (i, good) in ["abc", max.as_str(), "a.b_c-9"].iter().enumerate() {
        let resp = app
            .post(
                "/api/users",
                &app.admin_token,
                &json!({"username": good, "email": format!("good{i}@example.com"),
                        "password": USER_PASSWORD, "role": "viewer"}),
            )
            .await;
        resp.expect_status(201);
        assert_eq!(resp.body["username"], *good);
    }
}

#[tokio::test]
async fn create_user_enforces_password_length() {
    let app = TestApp::spawn().await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "sevenpw", "email": "sevenpw@example.com",
                    "password": "1234567", "role": "viewer"}),
        )
        .await;
    assert_fields(&resp, &["password"]);
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "eightpw", "email": "eightpw@example.com",
                    "password": "12345678", "role": "viewer"}),
        )
        .await;
    resp.expect_status(201);
    app.login("eightpw", "12345678").await;
}

#[tokio::test]
async fn create_user_duplicate_username_is_409() {
    let app = TestApp::spawn().await;
    app.create_user("dupuser", "viewer").await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "dupuser", "email": "other@example.com",
                    "password": USER_PASSWORD, "role": "admin"}),
        )
        .await;
    assert_error(&resp, 409, "username_taken");
    assert_eq!(list(&app, "").await["total"], 2);
}

#[tokio::test]
async fn create_user_duplicate_email_ignoring_case_is_409() {
    let app = TestApp::spawn().await;
    app.create_user_with(
        &json!({"username": "mixed1", "email": "Mixed.Case@Example.com",
        "password": USER_PASSWORD, "role": "viewer"}),
    )
    .await;
    let resp = app
        .post(
            "/api/users",
            &app.admin_token,
            &json!({"username": "mixed2", "email": "mixed.case@example.COM",
                    "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;
    assert_error(&resp, 409, "email_taken");
    assert_eq!(list(&app, "").await["total"], 2);
}

// ----------------------------------------------------------------------------- patch

#[tokio::test]
async fn patch_updates_only_given_fields() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user_with(
            &json!({"username": "partial", "email": "partial@example.com",
            "display_name": "Original Name", "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;

    let resp = app
        .patch(
            &user_path(&user),
            &app.admin_token,
            &json!({"display_name": "New Name"}),
        )
        .await;
    resp.expect_status(200);
    assert_eq!(
        resp.header("etag"),
        Some("\"2\""),
        "PATCH returns the new ETag"
    );
    let v2 = resp.body;
    assert_user_shape(&v2);
    assert_eq!(v2["display_name"], "New Name");
    assert_eq!(v2["version"], 2);
    for field in ["id", "username", "email", "role", "disabled", "created_at"] {
        assert_eq!(v2[field], user[field], "{field} should be unchanged");
    }
    assert!(parse_ts(&v2["updated_at"]) >= parse_ts(&user["updated_at"]));
    assert_eq!(app.admin_get_user(id_of(&user)).await, v2);

    // null clears display_name.
    let v3 = app
        .admin_patch_user(id_of(&user), &json!({"display_name": null}))
        .await;
    assert!(
        v3["display_name"].is_null(),
        "display_name not cleared: {v3}"
    );
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["username"], "partial");
    assert_eq!(app.admin_get_user(id_of(&user)).await, v3);

    // The password is untouched by these writes.
    app.login("partial", USER_PASSWORD).await;
}

#[tokio::test]
async fn patch_can_change_every_field() {
    let app = TestApp::spawn().await;
    let user = app.create_user("changeall", "viewer").await;
    let updated = app
        .admin_patch_user(
            id_of(&user),
            &json!({"username": "renamed", "email": "Renamed@Example.com",
                    "display_name": "Re Named", "role": "admin", "disabled": true,
                    "password": "new-password-77"}),
        )
        .await;
    assert_user_shape(&updated);
    assert_eq!(updated["username"], "renamed");
    assert!(
        updated["email"]
            .as_str()
            .is_some_and(|e| e.eq_ignore_ascii_case("renamed@example.com")),
        "{updated}"
    );
    assert_eq!(updated["display_name"], "Re Named");
    assert_eq!(updated["role"], "admin");
    assert_eq!(updated["disabled"], true);
    assert_eq!(updated["version"], 2, "one write, one version");

    let enabled = app
        .admin_patch_user(id_of(&user), &json!({"disabled": false}))
        .await;
    assert_eq!(enabled["version"], 3);
    let login = app.login("renamed", "new-password-77").await;
    assert_eq!(login["user"]["role"], "admin");
}

#[tokio::test]
async fn patch_with_current_if_match_succeeds() {
    let app = TestApp::spawn().await;
    let user = app.create_user("matcher", "viewer").await;
    let resp = patch_if_match(&app, &user, "\"1\"", &json!({"display_name": "Matched"})).await;
    resp.expect_status(200);
    assert_eq!(resp.body["version"], 2);
    assert_eq!(resp.body["display_name"], "Matched");
    assert_eq!(resp.header("etag"), Some("\"2\""));
    let resp = patch_if_match(&app, &user, "\"2\"", &json!({"display_name": "Again"})).await;
    resp.expect_status(200);
    assert_eq!(resp.body["version"], 3);
}

#[tokio::test]
async fn patch_with_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user_with(&json!({"username": "stale", "email": "stale@example.com",
            "display_name": "First", "password": USER_PASSWORD, "role": "viewer"}))
        .await;
    let v2 = app
        .admin_patch_user(id_of(&user), &json!({"display_name": "Second"}))
        .await;

    let resp = patch_if_match(
        &app,
        &user,
        "\"1\"",
        &json!({"display_name": "Overwrite", "role": "admin", "password": "sneaky-pass-1"}),
    )
    .await;
    assert_error(&resp, 412, "version_mismatch");
    let current = &resp.body["current"];
    assert_user_shape(current);
    assert_eq!(current, &v2, "412 body carries the current user");

    let after = app.admin_get_user(id_of(&user)).await;
    assert_eq!(&after, current, "nothing changed after 412");
    assert_eq!(after["display_name"], "Second");
    assert_eq!(after["role"], "viewer");
    app.login("stale", USER_PASSWORD).await;
}

#[tokio::test]
async fn patch_with_malformed_if_match_is_400() {
    let app = TestApp::spawn().await;
    let user = app.create_user("badmatch", "viewer").await;
    let resp = patch_if_match(&app, &user, "not-a-version", &json!({"display_name": "X"})).await;
    assert_error(&resp, 400, "bad_request");
    assert_eq!(app.admin_get_user(id_of(&user)).await, user);
}

#[tokio::test]
async fn patch_validation_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user("validpatch", "viewer").await;
    let resp = app
        .patch(
            &user_path(&user),
            &app.admin_token,
            &json!({"username": "X Y", "email": "nope", "display_name": "Fine"}),
        )
        .await;
    assert_fields(&resp, &["username", "email"]);
    let resp = app
        .patch(
            &user_path(&user),
            &app.admin_token,
            &json!({"password": "short"}),
        )
        .await;
    assert_fields(&resp, &["password"]);
    let resp = app
        .patch(
            &user_path(&user),
            &app.admin_token,
            &json!({"role": "root"}),
        )
        .await;
    assert_fields(&resp, &["role"]);
    assert_eq!(app.admin_get_user(id_of(&user)).await, user);
}

#[tokio::test]
async fn patch_duplicate_username_or_email_is_409() {
    let app = TestApp::spawn().await;
    let users = app
        .create_users(&[("first_one", "viewer"), ("second_one", "viewer")])
        .await;
    let (a, b) = (&users[0], &users[1]);
    let resp = app
        .patch(
            &user_path(b),
            &app.admin_token,
            &json!({"username": "first_one"}),
        )
        .await;
    assert_error(&resp, 409, "username_taken");
    let resp = app
        .patch(
            &user_path(b),
            &app.admin_token,
            &json!({"email": "FIRST_ONE@example.com"}),
        )
        .await;
    assert_error(&resp, 409, "email_taken");
    assert_eq!(app.admin_get_user(id_of(b)).await, *b);
    assert_eq!(app.admin_get_user(id_of(a)).await, *a);
    // Setting one's own current values is not a conflict.
    let same = app
        .admin_patch_user(id_of(b), &json!({"username": "second_one"}))
        .await;
    assert_eq!(same["username"], "second_one");
}

#[tokio::test]
async fn patch_unknown_user_is_404() {
    let app = TestApp::spawn().await;
    let resp = app
        .patch(
            &format!("/api/users/{}", uuid::Uuid::now_v7()),
            &app.admin_token,
            &json!({"display_name": "Ghost"}),
        )
        .await;
    assert_error(&resp, 404, "not_found");
}

// ----------------------------------------------------------------------------- delete

#[tokio::test]
async fn delete_user_then_404() {
    let app = TestApp::spawn().await;
    let user = app.create_user("doomed", "viewer").await;
    let path = user_path(&user);

    let resp = app.delete(&path, &app.admin_token).await;
    resp.expect_status(204);
    assert!(resp.text.is_empty(), "204 must have no body: {}", resp.text);

    assert_error(&app.delete(&path, &app.admin_token).await, 404, "not_found");
    assert_error(&app.get(&path, &app.admin_token).await, 404, "not_found");
    assert_error(
        &app.patch(&path, &app.admin_token, &json!({"display_name": "zombie"}))
            .await,
        404,
        "not_found",
    );
    let all = list(&app, "").await;
    assert_eq!(all["total"], 1);
    assert!(!item_ids(&all).contains(&id_of(&user).to_owned()));
    assert_error(
        &app.try_login("doomed", USER_PASSWORD).await,
        401,
        "invalid_credentials",
    );
    // The username is free again.
    app.create_user("doomed", "viewer").await;
}

// ----------------------------------------------------------------------------- admin guards
//
// `last_admin` vs `self_lockout`: any caller of a user write is an *enabled* admin (disabled
// users' tokens are refused). So when the target is a different user, the caller itself is an
// enabled admin and the target can never be the last enabled admin. Through the API, removing
// the last enabled admin is therefore only reachable
//   (a) as a self action, which the contract answers with `self_lockout`, or
//   (b) as a race: two admins removing each other at the same time, where only one may win
//       (`concurrent_mutual_removal_keeps_an_admin`).
// The sequential tests below check that the guard does not over-block legitimate actions.

#[tokio::test]
async fn admin_cannot_delete_self() {
    let app = TestApp::spawn().await;
    let resp = app
        .delete(&format!("/api/users/{}", app.admin_id), &app.admin_token)
        .await;
    assert_error(&resp, 409, "self_lockout");
    // Also when another admin exists (so it is not about being the last one).
    app.create_user("other_admin", "admin").await;
    let resp = app
        .delete(&format!("/api/users/{}", app.admin_id), &app.admin_token)
        .await;
    assert_error(&resp, 409, "self_lockout");
    let me = app.admin_get_user(&app.admin_id).await;
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn admin_cannot_demote_self() {
    let app = TestApp::spawn().await;
    app.create_user("other_admin", "admin").await;
    let before = app.admin_get_user(&app.admin_id).await;
    let resp = app
        .patch(
            &format!("/api/users/{}", app.admin_id),
            &app.admin_token,
            &json!({"role": "viewer"}),
        )
        .await;
    assert_error(&resp, 409, "self_lockout");
    assert_eq!(app.admin_get_user(&app.admin_id).await, before);
}

#[tokio::test]
async fn admin_cannot_disable_self() {
    let app = TestApp::spawn().await;
    let before = app.admin_get_user(&app.admin_id).await;
    let resp = app
        .patch(
            &format!("/api/users/{}", app.admin_id),
            &app.admin_token,
            &json!({"disabled": true}),
        )
        .await;
    assert_error(&resp, 409, "self_lockout");
    assert_eq!(app.admin_get_user(&app.admin_id).await, before);
    // Harmless self edits are fine.
    let renamed = app
        .admin_patch_user(&app.admin_id, &json!({"display_name": "The Admin"}))
        .await;
    assert_eq!(renamed["display_name"], "The Admin");
}

#[tokio::test]
async fn second_admin_can_demote_first_admin() {
    let app = TestApp::spawn().await;
    let b = app.create_user("admin_b", "admin").await;
    let b_token = app.token_for("admin_b").await;
    let a_path = format!("/api/users/{}", app.admin_id);

    // B demotes A: allowed, B remains an enabled admin.
    let resp = app
        .patch(&a_path, &b_token, &json!({"role": "viewer"}))
        .await;
    resp.expect_status(200);
    assert_eq!(resp.body["role"], "viewer");
    assert_error(
        &app.get("/api/users", &app.admin_token).await,
        401,
        "unauthorized",
    );

    // B is now the only enabled admin; self actions are refused.
    let b_path = user_path(&b);
    assert_error(
        &app.patch(&b_path, &b_token, &json!({"disabled": true}))
            .await,
        409,
        "self_lockout",
    );
    assert_error(
        &app.patch(&b_path, &b_token, &json!({"role": "viewer"}))
            .await,
        409,
        "self_lockout",
    );
    assert_error(&app.delete(&b_path, &b_token).await, 409, "self_lockout");

    // Deleting the (now viewer) A is fine.
    app.delete(&a_path, &b_token).await.expect_status(204);
    let admins = app.get("/api/users?role=admin", &b_token).await;
    admins.expect_status(200);
    assert_eq!(admins.body["total"], 1);
}

#[tokio::test]
async fn disabled_admin_does_not_count_but_can_be_removed() {
    let app = TestApp::spawn().await;
    let b = app.create_user("admin_b", "admin").await;
    let c = app.create_user("admin_c", "admin").await;
    // A disables B and demotes C: A stays the last enabled admin, which is allowed.
    let b2 = app
        .admin_patch_user(id_of(&b), &json!({"disabled": true}))
        .await;
    assert_eq!(b2["disabled"], true);
    let c2 = app
        .admin_patch_user(id_of(&c), &json!({"role": "viewer"}))
        .await;
    assert_eq!(c2["role"], "viewer");
    // B is a disabled admin: it is not "the last enabled admin", so deleting it works.
    app.delete(&user_path(&b), &app.admin_token)
        .await
        .expect_status(204);
    let enabled_admins = list(&app, "?role=admin&disabled=false").await;
    assert_eq!(item_ids(&enabled_admins), vec![app.admin_id.clone()]);
}

/// Two enabled admins remove each other at the same moment: at most one may win, there must
/// always be an enabled admin left, and the loser gets `last_admin` (its request passed
/// authentication first) or `unauthorized` (it was already demoted). Repeated with demote,
/// disable and delete.
#[tokio::test]
async fn concurrent_mutual_removal_keeps_an_admin() {
    let app = TestApp::spawn().await;
    let mut survivor_token = app.admin_token.clone();
    let mut survivor_id = app.admin_id.clone();
    let ops = ["demote", "disable", "delete"];
    for round in 0..9 {
        let op = ops[round % ops.len()];
        let name = format!("racer{round}");
        let created = app
            .post(
                "/api/users",
                &survivor_token,
                &json!({"username": name, "email": format!("{name}@example.com"),
                        "password": USER_PASSWORD, "role": "admin"}),
            )
            .await;
        created.expect_status(201);
        let other_id = id_of(&created.body).to_owned();
        let other_token = app.token_for(&name).await;

        let act = |token: String, target: String| {
            let app = &app;
            async move {
                let path = format!("/api/users/{target}");
                match op {
                    "demote" => app.patch(&path, &token, &json!({"role": "viewer"})).await,
                    "disable" => app.patch(&path, &token, &json!({"disabled": true})).await,
                    _ => app.delete(&path, &token).await,
                }
            }
        };
        let (r1, r2) = tokio::join!(
            act(survivor_token.clone(), other_id.clone()),
            act(other_token.clone(), survivor_id.clone())
        );
        let ok = |r: &Resp| matches!(r.status.as_u16(), 200 | 204);
        assert!(
            !(ok(&r1) && ok(&r2)),
            "round {round} ({op}): both admins removed each other: {} / {}",
            r1.text,
            r2.text
        );
        for r in [&r1, &r2] {
            if !ok(r) {
                let code = r.body["error"]["code"].as_str().unwrap_or_default();
                assert!(
                    (r.status.as_u16() == 409 && code == "last_admin")
                        || (r.status.as_u16() == 401 && code == "unauthorized"),
                    "round {round} ({op}): loser should get 409 last_admin or 401, got {} {}\n\
                     server errors:\n{}",
                    r.status,
                    r.text,
                    server_errors(&app)
                );
                assert_envelope(r);
            }
        }
        assert!(
            ok(&r1) || ok(&r2),
            "round {round} ({op}): neither removal succeeded: {} / {}",
            r1.text,
            r2.text
        );
        if ok(&r2) {
            survivor_token = other_token;
            survivor_id = other_id;
        }
        let enabled_admins = app
            .get("/api/users?role=admin&disabled=false", &survivor_token)
            .await;
        enabled_admins.expect_status(200);
        assert_eq!(
            item_ids(&enabled_admins.body),
            vec![survivor_id.clone()],
            "round {round} ({op}): exactly the winner should remain an enabled admin"
        );
    }
}
