//! The event log's identity (docs/API.md §6.4): `welcome` carries an `epoch` that stays the same
//! across restarts and instances; a `resume` from another epoch gets `resync`, never a replay of
//! different events under the same seqs.

mod common;

use common::*;
use serde_json::json;

fn epoch_of(welcome: &serde_json::Value) -> String {
    let e = welcome["epoch"].as_str().expect("welcome carries an epoch");
    assert!(!e.is_empty());
    e.to_owned()
}

#[tokio::test]
async fn the_epoch_is_stable_and_a_foreign_one_gets_resync() {
    let mut app = TestApp::spawn().await;
    let (ws, welcome) = app.ws(&app.admin_token, "first").await;
    let epoch = epoch_of(&welcome);
    ws.close().await;
    app.create_user("epoch_a", "viewer").await;

    // The same log, the same epoch: a resume replays what was missed.
    let (mut same, w2) = app.ws(&app.admin_token, "same-epoch").await;
    assert_eq!(epoch_of(&w2), epoch);
    let after = welcome_seq(&welcome);
    same.send_json(&json!({"type": "resume", "after": after, "epoch": epoch}))
        .await;
    let frames = same.ping_barrier().await;
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "user.created" && f["data"]["username"] == "epoch_a"),
        "the missed event was replayed: {frames:?}"
    );
    assert!(frames.iter().all(|f| f["type"] != "resync"), "{frames:?}");

    // Another epoch: resync, and nothing replayed.
    let (mut foreign, _) = app.ws(&app.admin_token, "foreign-epoch").await;
    foreign
        .send_json(&json!({"type": "resume", "after": after, "epoch": "not-this-log"}))
        .await;
    let frames = foreign.ping_barrier().await;
    let durable: Vec<_> = frames
        .iter()
        .filter(|f| f["type"] != "resync" && f["seq"].is_i64())
        .collect();
    assert!(durable.is_empty(), "replayed across epochs: {durable:?}");
    assert!(frames.iter().any(|f| f["type"] == "resync"), "{frames:?}");

    // Without an epoch (older clients) a resume works as before.
    let (mut legacy, _) = app.ws(&app.admin_token, "no-epoch").await;
    legacy
        .send_json(&json!({"type": "resume", "after": after}))
        .await;
    let frames = legacy.ping_barrier().await;
    assert!(
        frames.iter().any(|f| f["type"] == "user.created"),
        "{frames:?}"
    );

    // A restart keeps the log, so it keeps the epoch.
    app.restart().await;
    let (_ws, w3) = app.ws(&app.admin_token, "after-restart").await;
    assert_eq!(epoch_of(&w3), epoch);
}
