//! `GET /api/events` pages and filters (docs/API.md §6.6) return exactly what filtering the whole
//! log returns: by type, by actor id and by actor username (also a username the actor no longer
//! has), both directions, every page size. The reference is the unfiltered log, read here.

mod common;

use common::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

/// The whole log, ascending, read unfiltered with the largest page.
async fn whole_log(app: &TestApp) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let resp = app
            .get(
                &format!("/api/events?after={after}&limit=1000"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        let page = resp.body["items"].as_array().cloned().unwrap_or_default();
        let Some(last) = page.last().map(|e| e["seq"].as_i64().unwrap_or(0)) else {
            return items;
        };
        items.extend(page);
        after = last;
    }
}

/// Every item matching `filter`, walking pages of `limit` by seq in one direction.
async fn walk(app: &TestApp, filter: &str, limit: u64, newest_first: bool) -> Vec<i64> {
    let mut seqs = Vec::new();
    let mut bound = if newest_first { i64::MAX } else { 0 };
    for _ in 0..10_000 {
        let dir = if newest_first { "before" } else { "after" };
        let resp = app
            .get(
                &format!("/api/events?{dir}={bound}&limit={limit}{filter}"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        let page: Vec<i64> = resp.body["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["seq"].as_i64()).collect())
            .unwrap_or_default();
        assert!(page.len() as u64 <= limit, "page longer than limit {limit}");
        let Some(&last) = page.last() else {
            return seqs;
        };
        seqs.extend(page);
        bound = last;
    }
    panic!("walk of {filter} did not end");
}

fn actor_field(e: &Value, key: &str) -> Option<String> {
    e["actor"][key].as_str().map(str::to_owned)
}

#[tokio::test]
async fn event_filters_and_pages_match_the_whole_log() {
    let app = TestApp::spawn().await;
    let seed: u64 = rand::rng().random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    // A second admin, later renamed, so its events carry two usernames.
    let second = app.create_user("second-admin", "admin").await;
    let second_id = id_of(&second);
    let mut second_token = app.token_for("second-admin").await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.create_user(&format!("member{i:02}"), "viewer").await);
    }
    for step in 0..60 {
        let by_second = rng.random_bool(0.4);
        let token = if by_second {
            second_token.clone()
        } else {
            app.admin_token.clone()
        };
        let user = &users[rng.random_range(0..users.len())];
        let resp = app
            .patch(
                &format!("/api/users/{}", id_of(user)),
                &token,
                &json!({"display_name": format!("step {step}")}),
            )
            .await;
        resp.expect_status(200);
        if step == 30 {
            app.admin_patch_user(&second_id, &json!({"username": "renamed-admin"}))
                .await;
            second_token = app.token_for("renamed-admin").await;
        }
    }
    for user in users.iter().take(3) {
        app.delete(&format!("/api/users/{}", id_of(user)), &second_token)
            .await
            .expect_status(204);
    }

    let log = whole_log(&app).await;
    let seqs: Vec<i64> = log.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "log not ascending");
    let admin_id = app.admin_id.clone();

    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (String::new(), Box::new(|_| true)),
        (
            "&type=user.updated".into(),
            Box::new(|e| e["type"] == "user.updated"),
        ),
        (
            "&type=user.deleted".into(),
            Box::new(|e| e["type"] == "user.deleted"),
        ),
        ("&type=no.such".into(), Box::new(|_| false)),
        (format!("&actor={second_id}"), {
            let id = second_id.clone();
            Box::new(move |e| actor_field(e, "id").as_deref() == Some(id.as_str()))
        }),
        (
            "&actor=second-admin".into(),
            Box::new(|e| actor_field(e, "username").as_deref() == Some("second-admin")),
        ),
        (
            "&actor=renamed-admin".into(),
            Box::new(|e| actor_field(e, "username").as_deref() == Some("renamed-admin")),
        ),
        ("&actor=admin&type=user.updated".to_owned(), {
            let id = admin_id.clone();
            Box::new(move |e| {
                e["type"] == "user.updated"
                    && (actor_field(e, "username").as_deref() == Some("admin")
                        || actor_field(e, "id").as_deref() == Some(id.as_str()))
            })
        }),
        (format!("&actor={second_id}&type=user.deleted"), {
            let id = second_id.clone();
            Box::new(move |e| {
                e["type"] == "user.deleted" && actor_field(e, "id").as_deref() == Some(id.as_str())
            })
        }),
    ];
    for (filter, pred) in &cases {
        let expected: Vec<i64> = log
            .iter()
            .filter(|e| pred(e))
            .filter_map(|e| e["seq"].as_i64())
            .collect();
        if filter.contains("actor") && !filter.contains("type") {
            assert!(!expected.is_empty(), "{filter} matches nothing: weak case");
        }
        for limit in [1, 3, 7, 1000] {
            let up = walk(&app, filter, limit, false).await;
            assert_eq!(up, expected, "ascending {filter} limit {limit}");
            let mut down = walk(&app, filter, limit, true).await;
            down.reverse();
            assert_eq!(down, expected, "newest first {filter} limit {limit}");
        }
        // A page from the middle: exactly the next `limit` matches after that seq.
        if let Some(&mid) = expected.get(expected.len() / 2) {
            let resp = app
                .get(
                    &format!("/api/events?after={mid}&limit=5{filter}"),
                    &app.admin_token,
                )
                .await;
            let got: Vec<i64> = resp.body["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e["seq"].as_i64()).collect())
                .unwrap_or_default();
            let want: Vec<i64> = expected
                .iter()
                .copied()
                .filter(|&s| s > mid)
                .take(5)
                .collect();
            assert_eq!(got, want, "middle page of {filter}");
        }
    }
}
