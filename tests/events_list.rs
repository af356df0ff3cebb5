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

fn ts_of(e: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(e["ts"].as_str().expect("event has ts"))
        .expect("event ts is RFC 3339")
        .with_timezone(&chrono::Utc)
}

fn rfc3339(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `since`/`until` (docs/API.md §6.6): pages of a date range, alone and with `type` (lists and
/// prefixes) and `actor`, both directions, every page size, match filtering the whole log by
/// `ts` — also where `ts` runs a little out of seq order (as across instances' clocks) and
/// across days of the log. Bad timestamps and `since > until` are 400s.
#[tokio::test]
async fn event_date_ranges_match_the_whole_log() {
    let app = TestApp::spawn().await;
    let second = app.create_user("range-admin", "admin").await;
    let second_id = id_of(&second);
    let second_token = app.token_for("range-admin").await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(app.create_user(&format!("ranged{i:02}"), "viewer").await);
    }
    for step in 0..36 {
        let token = if step % 3 == 0 {
            &second_token
        } else {
            &app.admin_token
        };
        let user = &users[step % users.len()];
        app.patch(
            &format!("/api/users/{}", id_of(user)),
            token,
            &json!({"display_name": format!("range step {step}")}),
        )
        .await
        .expect_status(200);
        if step % 8 == 5 {
            app.upload_bytes(&format!("range-{step}.txt"), b"ranged bytes")
                .await;
        }
    }
    for user in users.iter().take(2) {
        app.delete(&format!("/api/users/{}", id_of(user)), &second_token)
            .await
            .expect_status(204);
    }

    // Timestamps chosen here: ten events a day, 30 s apart, every fourth one 50 s early (20 s
    // before the event preceding it in seq), on consecutive days from 2026-12-01.
    let base = chrono::DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
        .expect("base ts")
        .with_timezone(&chrono::Utc);
    let stamp = |seq: i64| {
        let day = chrono::Duration::days(seq / 10);
        let within = chrono::Duration::seconds(30 * (seq % 10));
        let early = if seq % 4 == 3 {
            chrono::Duration::seconds(50)
        } else {
            chrono::Duration::zero()
        };
        base + day + within - early
    };
    let before_rewrite = whole_log(&app).await;
    let db = app.env.connect_db().await;
    for e in &before_rewrite {
        let seq = e["seq"].as_i64().expect("durable seq");
        let backend = sea_orm::ConnectionTrait::get_database_backend(&db);
        let sql = match backend {
            sea_orm::DbBackend::Postgres => "UPDATE events SET created_at = $1 WHERE seq = $2",
            _ => "UPDATE events SET created_at = ? WHERE seq = ?",
        };
        sea_orm::ConnectionTrait::execute_raw(
            &db,
            sea_orm::Statement::from_sql_and_values(backend, sql, [stamp(seq).into(), seq.into()]),
        )
        .await
        .expect("set an event's created_at");
    }
    let _ = db.close().await;

    let log = whole_log(&app).await;
    assert_eq!(log.len(), before_rewrite.len());
    assert!(log.len() >= 50, "log too short: {}", log.len());
    for e in &log {
        let seq = e["seq"].as_i64().expect("seq");
        assert_eq!(ts_of(e), stamp(seq), "ts of seq {seq} as rewritten");
    }
    let last_seq = log.last().and_then(|e| e["seq"].as_i64()).expect("last");
    let admin_id = app.admin_id.clone();

    type Pred = Box<dyn Fn(&Value) -> bool>;
    let day = |d: i64| base + chrono::Duration::days(d);
    type Ts = chrono::DateTime<chrono::Utc>;
    let ranges: Vec<(Option<Ts>, Option<Ts>)> = vec![
        // Whole days, as the panel asks (local midnight to the next).
        (
            Some(day(1) - chrono::Duration::hours(8)),
            Some(day(2) - chrono::Duration::hours(8)),
        ),
        // One side only.
        (Some(day(3)), None),
        (None, Some(day(2))),
        // Exactly on events: `since` inclusive, `until` exclusive, also among the early ones.
        (Some(stamp(12)), Some(stamp(17))),
        (Some(stamp(23)), Some(stamp(27))),
        (
            Some(stamp(11)),
            Some(stamp(11) + chrono::Duration::milliseconds(1)),
        ),
        // Bounds that fall between an early event and the one before it in seq (22 is later
        // than 23): a window taken from `ts` alone would miss one of them.
        (
            Some(stamp(23) + chrono::Duration::seconds(10)),
            Some(stamp(26)),
        ),
        (
            Some(stamp(20)),
            Some(stamp(22) - chrono::Duration::seconds(10)),
        ),
        // Inside a day's cluster, within the slack of its neighbours.
        (
            Some(stamp(32) + chrono::Duration::seconds(5)),
            Some(stamp(36) - chrono::Duration::seconds(5)),
        ),
        // Between clusters, before the log, after the log, equal bounds: nothing.
        (
            Some(day(1) + chrono::Duration::hours(2)),
            Some(day(1) + chrono::Duration::hours(20)),
        ),
        (None, Some(base - chrono::Duration::days(400))),
        (Some(stamp(last_seq) + chrono::Duration::seconds(1)), None),
        (Some(stamp(14)), Some(stamp(14))),
        // Everything.
        (
            Some(base - chrono::Duration::days(1)),
            Some(day(last_seq / 10 + 2)),
        ),
    ];
    let types: Vec<(&str, Pred)> = vec![
        ("", Box::new(|_| true)),
        (
            "&type=user.updated",
            Box::new(|e| e["type"] == "user.updated"),
        ),
        (
            "&type=user.created,user.deleted",
            Box::new(|e| e["type"] == "user.created" || e["type"] == "user.deleted"),
        ),
        (
            "&type=file.*",
            Box::new(|e| e["type"].as_str().is_some_and(|t| t.starts_with("file."))),
        ),
        (
            "&type=user.*,auth.login",
            Box::new(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("user.") || t == "auth.login")
            }),
        ),
    ];
    let actors: Vec<(String, Pred)> = vec![
        (String::new(), Box::new(|_| true)),
        (format!("&actor={second_id}"), {
            let id = second_id.clone();
            Box::new(move |e| actor_field(e, "id").as_deref() == Some(id.as_str()))
        }),
        ("&actor=admin".into(), {
            let id = admin_id.clone();
            Box::new(move |e| {
                actor_field(e, "username").as_deref() == Some("admin")
                    || actor_field(e, "id").as_deref() == Some(id.as_str())
            })
        }),
    ];

    let mut nonempty = 0;
    for (since, until) in &ranges {
        let mut range = String::new();
        if let Some(s) = since {
            range.push_str(&format!("&since={}", rfc3339(*s)));
        }
        if let Some(u) = until {
            range.push_str(&format!("&until={}", rfc3339(*u)));
        }
        let in_range = |e: &Value| {
            let ts = ts_of(e);
            since.is_none_or(|s| ts >= s) && until.is_none_or(|u| ts < u)
        };
        for (type_filter, type_pred) in &types {
            for (actor_filter, actor_pred) in &actors {
                let filter = format!("{range}{type_filter}{actor_filter}");
                let expected: Vec<i64> = log
                    .iter()
                    .filter(|e| in_range(e) && type_pred(e) && actor_pred(e))
                    .filter_map(|e| e["seq"].as_i64())
                    .collect();
                if !expected.is_empty() {
                    nonempty += 1;
                }
                for limit in [1, 3, 1000] {
                    let up = walk(&app, &filter, limit, false).await;
                    assert_eq!(up, expected, "ascending {filter} limit {limit}");
                    let mut down = walk(&app, &filter, limit, true).await;
                    down.reverse();
                    assert_eq!(down, expected, "newest first {filter} limit {limit}");
                }
            }
        }
    }
    assert!(nonempty >= 40, "too few non-empty cases: {nonempty}");

    // Offsets other than Z, percent-encoded: the same instant.
    let plus_one = (stamp(12) + chrono::Duration::hours(1))
        .with_timezone(&chrono::FixedOffset::east_opt(3600).expect("offset"))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        .replace('+', "%2B");
    let shifted = walk(&app, &format!("&since={plus_one}"), 1000, false).await;
    let expected: Vec<i64> = log
        .iter()
        .filter(|e| ts_of(e) >= stamp(12) + chrono::Duration::hours(1))
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(shifted, expected, "since with a +01:00 offset");

    // Bad parameters: 400 with the error envelope.
    for query in [
        "since=yesterday",
        "until=2026-12-01",
        "since=2026-13-01T00:00:00Z",
        "until=2026-12-01T00:00:00",
        // An unencoded `+` is a space.
        "since=2026-12-01T00:00:00+01:00",
        "since=2026-12-03T00:00:00Z&until=2026-12-02T00:00:00Z",
        "since=2026-12-02T00:00:00.001Z&until=2026-12-02T00:00:00Z&type=user.updated&actor=admin",
    ] {
        let resp = app
            .get(&format!("/api/events?{query}"), &app.admin_token)
            .await;
        resp.expect_status(400);
        assert_eq!(
            resp.body["error"]["code"], "bad_request",
            "{query}: {:?}",
            resp.body
        );
        assert!(
            resp.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{query}: {:?}",
            resp.body
        );
    }
}
