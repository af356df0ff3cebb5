//! `GET /api/stats` (docs/API.md §7.1): counts follow every change, uploads and downloads land
//! in the current hour and day, the busiest files are ordered by downloads, sockets count as
//! online, and bad parameters are a 400.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn stats(app: &TestApp, query: &str) -> Value {
    let resp = app
        .get(&format!("/api/stats{query}"), &app.admin_token)
        .await;
    resp.expect_status(200);
    resp.body
}

fn last(series: &Value) -> &Value {
    series
        .as_array()
        .and_then(|a| a.last())
        .expect("a non-empty series")
}

#[tokio::test]
async fn counts_series_and_busiest_files_follow_the_writes() {
    let app = TestApp::spawn().await;
    let s = stats(&app, "").await;
    assert_eq!(s["users"], 1, "{s}");
    assert_eq!(s["admins"], 1);
    assert_eq!(s["disabled"], 0);
    assert_eq!(s["files"], 0);
    assert_eq!(s["bytes_stored"], 0);
    assert_eq!(s["downloads_today"], 0);
    assert_eq!(s["hourly"].as_array().map(Vec::len), Some(24));
    assert_eq!(s["daily"].as_array().map(Vec::len), Some(30));
    assert_eq!(s["busiest_files"], json!([]));
    // Points are consecutive hours and days, oldest first.
    let hours: Vec<chrono::DateTime<chrono::FixedOffset>> = s["hourly"]
        .as_array()
        .expect("hourly")
        .iter()
        .map(|p| parse_ts(&p["start"]))
        .collect();
    for pair in hours.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::Duration::hours(1));
    }

    // Users: counted again after each change.
    let viewer = app.create_user("stats_viewer", "viewer").await;
    app.create_user("stats_admin", "admin").await;
    app.admin_patch_user(
        viewer["id"].as_str().expect("id"),
        &json!({"disabled": true}),
    )
    .await;
    let s = stats(&app, "").await;
    assert_eq!(
        (
            s["users"].clone(),
            s["admins"].clone(),
            s["disabled"].clone()
        ),
        (json!(3), json!(2), json!(1))
    );

    // Files and uploads.
    let a = app.upload_generated("a.bin", 1, 1_000).await;
    let b = app.upload_generated("b.bin", 2, 3_000).await;
    let s = stats(&app, "").await;
    assert_eq!(s["files"], 2);
    assert_eq!(s["bytes_stored"], 4_000);
    assert_eq!(s["uploads_today"], 2);
    assert_eq!(last(&s["hourly"])["uploads"], 2);
    assert_eq!(last(&s["hourly"])["upload_bytes"], 4_000);
    assert_eq!(last(&s["daily"])["upload_bytes"], 4_000);

    // Downloads: counted when complete; the busiest file first.
    for (file, times) in [(&b, 2), (&a, 1)] {
        let id = file["id"].as_str().expect("id");
        for _ in 0..times {
            app.download(
                reqwest::Method::GET,
                &format!("/api/files/{id}/download"),
                Some(&app.admin_token),
                &[],
            )
            .await
            .expect_status(200);
        }
    }
    app.wait_download_count(b["id"].as_str().expect("id"), 2, Duration::from_secs(10))
        .await;
    let s = stats(&app, "").await;
    assert_eq!(s["downloads_today"], 3, "{s}");
    assert_eq!(last(&s["hourly"])["downloads"], 3);
    assert_eq!(last(&s["hourly"])["download_bytes"], 2 * 3_000 + 1_000);
    let busiest: Vec<(&str, i64)> = s["busiest_files"]
        .as_array()
        .expect("busiest_files")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().expect("name"),
                f["download_count"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(busiest, vec![("b.bin", 2), ("a.bin", 1)]);
    // A deleted file leaves the counts (its traffic stays in the series).
    app.delete(
        &format!("/api/files/{}", a["id"].as_str().expect("id")),
        &app.admin_token,
    )
    .await
    .expect_status(204);
    let s = stats(&app, "").await;
    assert_eq!(s["files"], 1);
    assert_eq!(s["bytes_stored"], 3_000);
    assert_eq!(s["downloads_today"], 3);

    // Another time zone moves day boundaries, not the counts of the current hour.
    let east = stats(&app, "?tz_offset_minutes=840").await;
    assert_eq!(last(&east["hourly"])["downloads"], 3);
    assert_eq!(east["daily"].as_array().map(Vec::len), Some(30));
}

#[tokio::test]
async fn sockets_count_as_online_and_everyone_signed_in_may_read() {
    let app = TestApp::spawn().await;
    let (_ws, _) = app.ws(&app.admin_token, "online").await;
    let s = stats(&app, "").await;
    assert_eq!(s["online"], 1, "{s}");
    assert_eq!(s["admins_online"], 1);
    app.create_user("watcher", "viewer").await;
    let viewer = app.token_for("watcher").await;
    let resp = app.get("/api/stats", &viewer).await;
    resp.expect_status(200);
    assert_error(&app.get_anon("/api/stats").await, 401, "unauthorized");
    for bad in [
        "?tz_offset_minutes=900",
        "?tz_offset_minutes=-841",
        "?tz_offset_minutes=-9223372036854775808",
        "?tz_offset_minutes=x",
    ] {
        let resp = app.get(&format!("/api/stats{bad}"), &app.admin_token).await;
        assert_eq!(resp.status, 400, "{bad}: {}", resp.text);
        assert_envelope(&resp);
    }
}
