//! `GET /api/users/export` (docs/API.md §4.3): every user matching the filters, streamed as CSV or
//! JSON Lines, across more than one internal batch (500), and never any password material.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const COLUMNS: [&str; 9] = [
    "id",
    "username",
    "email",
    "display_name",
    "role",
    "disabled",
    "created_at",
    "updated_at",
    "last_login_at",
];

/// Every user of the list endpoint with these filters, by id.
async fn listed(app: &TestApp, filters: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut page = 1;
    loop {
        let resp = app
            .get(
                &format!("/api/users?per_page=200&page={page}{filters}"),
                &app.admin_token,
            )
            .await;
        resp.expect_status(200);
        let items = resp.body["items"].as_array().expect("items").clone();
        for u in &items {
            out.insert(u["id"].as_str().expect("id").to_owned(), u.clone());
        }
        if items.len() < 200 {
            return out;
        }
        page += 1;
    }
}

async fn export(app: &TestApp, query: &str) -> Resp {
    app.get(&format!("/api/users/export{query}"), &app.admin_token)
        .await
}

#[tokio::test]
async fn csv_and_jsonl_exports_match_the_list_across_batches() {
    let app = TestApp::spawn().await;
    // 505 users beside the admin: more than one batch of 500.
    for chunk in (0..505).collect::<Vec<_>>().chunks(40) {
        let names: Vec<String> = chunk.iter().map(|i| format!("exp_{i:03}")).collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .enumerate()
            .map(|(k, n)| (n.as_str(), if k % 10 == 0 { "admin" } else { "viewer" }))
            .collect();
        app.create_users(&pairs).await;
    }
    let quoted = app
        .create_user_with(
            &serde_json::json!({"username": "quoted", "email": "quoted@example.com",
            "display_name": "Lovelace, \"Ada\"", "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;

    let csv_resp = export(&app, "").await;
    csv_resp.expect_status(200);
    assert!(
        csv_resp.content_type().starts_with("text/csv"),
        "{}",
        csv_resp.content_type()
    );
    assert!(
        csv_resp
            .header("content-disposition")
            .is_some_and(|d| d.contains("users.csv"))
    );
    assert!(
        !csv_resp.text.contains("argon2"),
        "password material in the export"
    );
    let mut reader = csv::Reader::from_reader(csv_resp.text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, COLUMNS);
    let all = listed(&app, "").await;
    let mut seen = 0;
    let mut last_id = String::new();
    for row in reader.records() {
        let row = row.expect("a well-formed CSV row");
        let id = row[0].to_owned();
        assert!(id > last_id, "rows in id order");
        last_id = id.clone();
        let user = &all[&id];
        assert_eq!(row[1], user["username"]);
        assert_eq!(row[2], user["email"]);
        assert_eq!(&row[3], user["display_name"].as_str().unwrap_or(""));
        assert_eq!(row[4], user["role"]);
        assert_eq!(row[5], user["disabled"].to_string());
        let created: chrono::DateTime<chrono::Utc> = row[6].parse().expect("created_at");
        let listed_created: chrono::DateTime<chrono::Utc> = user["created_at"]
            .as_str()
            .expect("created")
            .parse()
            .expect("time");
        assert_eq!(
            created.timestamp_millis(),
            listed_created.timestamp_millis()
        );
        seen += 1;
    }
    assert_eq!(seen, all.len());
    assert_eq!(seen, 507);
    assert!(csv_resp.text.contains("\"Lovelace, \"\"Ada\"\"\""));

    // JSON Lines with a filter: exactly the list's users, each as the User object.
    let jsonl = export(&app, "?format=jsonl&role=admin").await;
    jsonl.expect_status(200);
    assert!(jsonl.content_type().starts_with("application/x-ndjson"));
    let admins = listed(&app, "&role=admin").await;
    let lines: Vec<Value> = jsonl
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), admins.len());
    for u in &lines {
        assert_eq!(u, &admins[u["id"].as_str().expect("id")]);
        assert_user_shape(u);
    }
    let q = export(&app, "?format=jsonl&q=quoted").await;
    let only: Vec<&str> = q.text.lines().collect();
    assert_eq!(only.len(), 1);
    assert!(only[0].contains(quoted["id"].as_str().expect("id")));
}

#[tokio::test]
async fn export_is_for_admins_and_checks_its_parameters() {
    let app = TestApp::spawn().await;
    app.create_user("vik", "viewer").await;
    let vt = app.token_for("vik").await;
    assert_error(&app.get("/api/users/export", &vt).await, 403, "forbidden");
    assert_error(&export(&app, "?format=xml").await, 400, "bad_request");
    assert_error(&export(&app, "?role=owner").await, 400, "bad_request");
    assert_error(&export(&app, "?disabled=maybe").await, 400, "bad_request");
    // An empty result is just the header row.
    let none = export(&app, "?q=nobody-matches-this").await;
    none.expect_status(200);
    assert_eq!(none.text, format!("{}\n", COLUMNS.join(",")));
    assert_eq!(
        export(&app, "?format=jsonl&q=nobody-matches-this")
            .await
            .text,
        ""
    );
}
