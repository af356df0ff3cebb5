//! The indexed lists return exactly what the plain queries return (docs/API.md §2.2): the
//! substring search (trigram indexes), the cached totals and the keyset cursors, on random data
//! and after creates, renames and deletes. The reference is computed here, from the whole list.

mod common;

use std::collections::BTreeSet;

use common::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

/// Lower-case letters only, ASCII and not: `lower()` of SQLite folds ASCII letters only, and the
/// short-query scan uses it, so upper-case non-ASCII data would make the two paths differ.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'k', 'm', 'o', 'r', 's', 'x', 'é', 'ü', 'ж', 'ø', ' ', '_',
];

fn random_word(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

/// Every item of a list, following `next` cursors with `per_page`.
async fn walk(app: &TestApp, path: &str, per_page: u64) -> (Vec<Value>, Vec<u64>) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut totals = Vec::new();
    let mut url = format!("{path}{sep}per_page={per_page}");
    for _ in 0..1000 {
        let resp = app.get(&url, &app.admin_token).await;
        resp.expect_status(200);
        items.extend(resp.body["items"].as_array().cloned().unwrap_or_default());
        totals.push(resp.body["total"].as_u64().unwrap_or(u64::MAX));
        match resp.body["next"].as_str() {
            Some(next) => url = format!("{path}{sep}per_page={per_page}&after={next}"),
            None => return (items, totals),
        }
    }
    panic!("{path}: cursors did not end");
}

/// Every item by offset pages of 200.
async fn all_pages(app: &TestApp, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    for page in 1.. {
        let resp = app
            .get(
                &format!("{path}{sep}per_page=200&page={page}"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        let got = resp.body["items"].as_array().cloned().unwrap_or_default();
        let done = got.len() < 200;
        items.extend(got);
        if done {
            break;
        }
    }
    items
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id_of).collect()
}

fn user_matches(u: &Value, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    ["username", "email", "display_name"]
        .iter()
        .any(|f| u[f].as_str().is_some_and(|v| v.to_lowercase().contains(&q)))
}

/// Searches for random substrings of the data (with ASCII case flipped) and random words;
/// compares ids and totals with the reference.
async fn check_user_search(app: &TestApp, rng: &mut StdRng, what: &str) {
    let everyone = all_pages(app, "/api/users").await;
    let mut queries: Vec<String> = Vec::new();
    for _ in 0..25 {
        let u = &everyone[rng.random_range(0..everyone.len())];
        let field = ["username", "email", "display_name"][rng.random_range(0..3)];
        let Some(text) = u[field].as_str() else {
            continue;
        };
        let chars: Vec<char> = text.chars().collect();
        let len = rng.random_range(1..=chars.len().min(6));
        let start = rng.random_range(0..=chars.len() - len);
        let q: String = chars[start..start + len]
            .iter()
            .map(|c| {
                if rng.random_bool(0.5) {
                    c.to_ascii_uppercase()
                } else {
                    *c
                }
            })
            .collect();
        queries.push(q);
    }
    for len in [1, 2, 3, 4] {
        queries.push(random_word(rng, len));
    }
    queries.push("\"quoted\" OR x*".into());
    queries.push("%_".into());
    for q in queries {
        if q.trim().is_empty() {
            continue;
        }
        let enc: String = url_encode(&q);
        let got = all_pages(app, &format!("/api/users?q={enc}")).await;
        let want: Vec<Value> = everyone
            .iter()
            .filter(|u| user_matches(u, &q))
            .cloned()
            .collect();
        assert_eq!(ids(&got), ids(&want), "{what}: q={q:?}");
        let first = app
            .get(&format!("/api/users?q={enc}&per_page=5"), &app.admin_token)
            .await;
        assert_eq!(
            first.body["total"].as_u64(),
            Some(want.len() as u64),
            "{what}: total of q={q:?}"
        );
        for role in ["admin", "viewer"] {
            let got = all_pages(app, &format!("/api/users?q={enc}&role={role}")).await;
            let want: Vec<String> = want
                .iter()
                .filter(|u| u["role"] == role)
                .map(id_of)
                .collect();
            assert_eq!(ids(&got), want, "{what}: q={q:?} role={role}");
        }
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Cursor pages, small, for each sort, give exactly the offset pages' order; every page's
/// total is the list's size.
async fn check_cursors(app: &TestApp, base: &str, sorts: &[&str], what: &str) {
    for sort in sorts {
        let path = if sort.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?sort={sort}")
        };
        let by_offset = all_pages(app, &path).await;
        let (by_cursor, totals) = walk(app, &path, 7).await;
        assert_eq!(
            ids(&by_cursor),
            ids(&by_offset),
            "{what}: sort={sort:?}: cursor pages vs offset pages"
        );
        let unique: BTreeSet<String> = ids(&by_cursor).into_iter().collect();
        assert_eq!(unique.len(), by_cursor.len(), "{what}: no item twice");
        assert!(
            totals.iter().all(|t| *t == by_offset.len() as u64),
            "{what}: sort={sort:?}: totals {totals:?} vs {}",
            by_offset.len()
        );
    }
}

const USER_SORTS: &[&str] = &[
    "",
    "-username",
    "email",
    "display_name",
    "-display_name",
    "role",
    "-role",
    "created_at",
    "-updated_at",
    "last_login_at",
    "-last_login_at",
];

#[tokio::test]
async fn user_search_totals_and_cursors_match_the_plain_queries() {
    let app = TestApp::spawn().await;
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut created = Vec::new();
    for i in 0..40 {
        let name = format!(
            "{}{i}",
            random_word(&mut rng, 5)
                .chars()
                .filter(|c| c.is_ascii_lowercase())
                .collect::<String>()
        );
        let mut body = json!({
            // "us" keeps the username at 3 characters or more when the word has no ASCII letter.
            "username": format!("us{name}"),
            "email": format!("{}.{i}@Ex{}.org", name, random_word(&mut rng, 2).chars().filter(char::is_ascii_lowercase).collect::<String>()),
            "password": USER_PASSWORD,
            "role": if rng.random_bool(0.3) { "admin" } else { "viewer" },
        });
        if rng.random_bool(0.8) {
            body["display_name"] = json!(format!(
                "{} {}",
                random_word(&mut rng, 6).trim(),
                random_word(&mut rng, 4)
            ));
        }
        created.push(app.create_user_with(&body).await);
    }
    // Some logins, so last_login_at has values and NULLs.
    for u in created.iter().take(5) {
        app.login(&str_field(u, "username"), USER_PASSWORD).await;
    }
    check_user_search(&app, &mut rng, "fresh").await;
    check_cursors(&app, "/api/users", USER_SORTS, "fresh").await;

    // Renames, display names cleared and set, deletes: the indexes and totals follow.
    for (n, u) in created.iter().enumerate().take(12) {
        let id = id_of(u);
        match n % 4 {
            0 => {
                app.admin_patch_user(&id, &json!({"display_name": random_word(&mut rng, 7)}))
                    .await;
            }
            1 => {
                app.admin_patch_user(&id, &json!({"display_name": null}))
                    .await;
            }
            2 => {
                app.admin_patch_user(
                    &id,
                    &json!({"username": format!("renamed{n}"), "email": format!("new{n}@x.org")}),
                )
                .await;
            }
            _ => {
                app.delete(&format!("/api/users/{id}"), &app.admin_token)
                    .await
                    .expect_status(204);
            }
        }
    }
    check_user_search(&app, &mut rng, "after changes").await;
    check_cursors(&app, "/api/users", USER_SORTS, "after changes").await;

    // A cursor belongs to its sort, and garbage is a 400.
    let first = app
        .get("/api/users?per_page=2&sort=email", &app.admin_token)
        .await;
    let next = first.body["next"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let wrong = app
        .get(
            &format!("/api/users?after={next}&sort=username"),
            &app.admin_token,
        )
        .await;
    assert_error(&wrong, 400, "bad_request");
    let garbage = app.get("/api/users?after=%%%", &app.admin_token).await;
    assert_error(&garbage, 400, "bad_request");
}

#[tokio::test]
async fn file_search_totals_and_cursors_match_the_plain_queries() {
    let app = TestApp::spawn().await;
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut files = Vec::new();
    for i in 0..24 {
        let name = format!("{} {i}.txt", random_word(&mut rng, 6).trim());
        let len = rng.random_range(0..64);
        files.push(app.upload_generated(&name, i, len).await);
    }
    // Equal sizes and NULL expiries, to exercise the tie-breaker and NULL ordering.
    for f in files.iter().take(8) {
        let id = id_of(f);
        let resp = app
            .patch(
                &format!("/api/files/{id}"),
                &app.admin_token,
                &json!({"expires_at": "2099-01-01T00:00:00Z", "max_downloads": 5}),
            )
            .await;
        resp.expect_status(200);
    }
    let sorts = [
        "",
        "name",
        "-name",
        "size",
        "-size",
        "content_type",
        "download_count",
        "expires_at",
        "-expires_at",
        "updated_at",
    ];
    check_cursors(&app, "/api/files", &sorts, "files").await;
    let everyone = all_pages(&app, "/api/files").await;
    for _ in 0..20 {
        let f = &everyone[rng.random_range(0..everyone.len())];
        let chars: Vec<char> = str_field(f, "name").chars().collect();
        let len = rng.random_range(1..=chars.len().min(5));
        let start = rng.random_range(0..=chars.len() - len);
        let q: String = chars[start..start + len].iter().collect();
        if q.trim().is_empty() {
            continue;
        }
        let got = all_pages(&app, &format!("/api/files?q={}", url_encode(&q))).await;
        let lower = q.trim().to_lowercase();
        let want: Vec<Value> = everyone
            .iter()
            .filter(|f| str_field(f, "name").to_lowercase().contains(&lower))
            .cloned()
            .collect();
        assert_eq!(ids(&got), ids(&want), "files: q={q:?}");
    }
    // A rename and a delete move the search and the total.
    let renamed = id_of(&files[0]);
    app.patch(
        &format!("/api/files/{renamed}"),
        &app.admin_token,
        &json!({"name": "zzqqyy.bin"}),
    )
    .await
    .expect_status(200);
    app.delete(
        &format!("/api/files/{}", id_of(&files[1])),
        &app.admin_token,
    )
    .await
    .expect_status(204);
    let found = app.get("/api/files?q=QQy", &app.admin_token).await;
    assert_eq!(
        ids(found.body["items"].as_array().expect("items")),
        vec![renamed]
    );
    assert_eq!(found.body["total"], 1);
    let all = app.get("/api/files?per_page=1", &app.admin_token).await;
    assert_eq!(all.body["total"].as_u64(), Some(files.len() as u64 - 1));
    check_cursors(&app, "/api/files", &sorts, "files after changes").await;
}
