//! The panel's API types are generated from the committed `frontend/openapi.json`; this test
//! fails when the server's document differs from it, so API drift is a visible diff.
//! `UPDATE_OPENAPI=1` rewrites the file instead.

mod common;

use std::path::PathBuf;

use common::*;

const REFRESH: &str = "UPDATE_OPENAPI=1 cargo test --test openapi_frontend, \
                       then `cd frontend && npm run gen:api`, and commit both";

#[tokio::test]
async fn committed_openapi_matches_the_server() {
    let app = TestApp::spawn().await;
    let resp = app.get_anon("/api/openapi.json").await;
    resp.expect_status(200);
    assert!(resp.body.is_object(), "not a JSON document: {}", resp.text);
    // poem-openapi serves `serde_json::to_string_pretty` of its document, in declaration order
    // (paths, operations, properties) with sorted schema names and tags: deterministic. Taken as
    // text, not re-rendered from a `serde_json::Value`, which would sort every object's keys.
    let served = format!("{}\n", resp.text.trim_end());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("frontend/openapi.json");

    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &served).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }

    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nCreate it with: {REFRESH}",
            path.display()
        )
    });
    if committed == served {
        return;
    }
    let same_content =
        serde_json::from_str::<serde_json::Value>(&committed).is_ok_and(|c| c == resp.body);
    let kind = if same_content {
        "the same content, formatted or ordered differently"
    } else {
        "a different document"
    };
    let first_difference = committed
        .lines()
        .zip(served.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("line {}:\n  committed: {a}\n  served:    {b}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "one is a prefix of the other ({} vs {} lines)",
                committed.lines().count(),
                served.lines().count()
            )
        });
    panic!(
        "frontend/openapi.json is out of date with the server's /api/openapi.json ({kind}).\n\
         First difference at {first_difference}\n\
         Refresh it with: {REFRESH}"
    );
}
