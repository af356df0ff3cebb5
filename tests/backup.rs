//! Backups and restore (docs/API.md §7): a backup taken under a write load restores exactly its
//! point in time; a backup killed mid-way is never listed; a second backup copies only new
//! objects; a resume across a restore gets `resync`; a damaged or newer backup is refused
//! before anything changes; the schedule logs, counts and prunes.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use common::{files::*, *};
use serde_json::{Value, json};

const BACKUP_TIMEOUT: Duration = Duration::from_secs(120);

async fn start_backup(app: &TestApp) -> Value {
    let resp = app.post("/api/backups", &app.admin_token, &json!({})).await;
    resp.expect_status(202);
    assert_eq!(resp.body["status"], "running", "{}", resp.text);
    let id = resp.body["id"].as_str().expect("backup id").to_owned();
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/backups/{id}").as_str())
    );
    resp.body
}

/// Waits (bounded) until the backup is no longer running; returns it.
async fn finished(app: &TestApp, id: &str) -> Value {
    let path = format!("/api/backups/{id}");
    let done = poll_until(BACKUP_TIMEOUT, || async {
        let resp = app.get(&path, &app.admin_token).await;
        resp.expect_status(200);
        resp.body["status"] != "running"
    })
    .await;
    let last = app.get(&path, &app.admin_token).await.body;
    assert!(
        done,
        "backup {id} still running after {BACKUP_TIMEOUT:?}: {last}"
    );
    last
}

async fn backup_now(app: &TestApp) -> Value {
    let id = start_backup(app).await["id"]
        .as_str()
        .expect("as the test set it up")
        .to_owned();
    let b = finished(app, &id).await;
    assert_eq!(b["status"], "completed", "{b}");
    b
}

async fn download(app: &TestApp, id: &str, to: &Path) {
    let resp = app
        .client
        .get(app.url(&format!("/api/backups/{id}/download")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("download request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-tar")
    );
    let bytes = resp.bytes().await.expect("download body");
    std::fs::write(to, &bytes).expect("write tar");
}

fn cli_ok(out: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every user as JSON Lines, keyed by username.
async fn users_by_name(app: &TestApp) -> BTreeMap<String, Value> {
    let resp = app
        .get("/api/users/export?format=jsonl", &app.admin_token)
        .await;
    resp.expect_status(200);
    resp.text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            (
                v["username"]
                    .as_str()
                    .expect("as the test set it up")
                    .to_owned(),
                v,
            )
        })
        .collect()
}

/// Every file of `files` downloads from `app` with the sha256 it was uploaded with.
async fn assert_files_intact(app: &TestApp, files: &[Value]) {
    for f in files {
        let id = f["id"].as_str().expect("a file id");
        let dl = app
            .download(
                reqwest::Method::GET,
                &format!("/api/files/{id}/download"),
                Some(&app.admin_token),
                &[],
            )
            .await;
        dl.expect_status(200);
        assert_eq!(
            sha256_hex(&dl.bytes),
            f["sha256"].as_str().expect("a sha256")
        );
    }
}

fn backup_dir(app: &TestApp) -> PathBuf {
    app.data_path().join("backups")
}

fn manifest_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "manifest.json"))
        .collect()
}

#[tokio::test]
async fn a_backup_under_load_restores_exactly_its_point_in_time() {
    let app = TestApp::spawn().await;
    let mut files = Vec::new();
    for i in 0..6u64 {
        files.push(
            app.upload_generated(&format!("f{i}.bin"), i, 10_000 + i * 5_000)
                .await,
        );
    }
    // Writers keep creating users while the backup runs.
    let stop = AtomicBool::new(false);
    let writer = |prefix: &'static str| {
        let stop = &stop;
        let app = &app;
        async move {
            let mut names = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) || i < 3 {
                let name = format!("{prefix}_{i}");
                app.create_user(&name, "viewer").await;
                names.push(name);
                i += 1;
            }
            names
        }
    };
    let backup = async {
        // Some writes before, some during, some after.
        let _ = app.latest_seq().await;
        let b = backup_now(&app).await;
        stop.store(true, Ordering::Relaxed);
        b
    };
    let (names_a, names_b, b) = tokio::join!(writer("load_a"), writer("load_b"), backup);
    let last_seq = b["last_seq"].as_i64().expect("last_seq");
    assert_eq!(b["objects_total"], 6, "{b}");
    let id = b["id"].as_str().expect("as the test set it up").to_owned();

    // Which writes the backup must hold: those whose event is at or before its seq.
    let log = app.event_log_after(0).await;
    let seq_of: BTreeMap<String, i64> = log
        .iter()
        .filter(|e| e["type"] == "user.created")
        .map(|e| {
            (
                e["data"]["username"]
                    .as_str()
                    .expect("as the test set it up")
                    .to_owned(),
                e["seq"].as_i64().expect("as the test set it up"),
            )
        })
        .collect();
    let all: Vec<String> = names_a.into_iter().chain(names_b).collect();
    let before: BTreeSet<&String> = all.iter().filter(|n| seq_of[*n] <= last_seq).collect();
    let after: BTreeSet<&String> = all.iter().filter(|n| seq_of[*n] > last_seq).collect();
    assert!(
        !after.is_empty(),
        "some writes must land after the snapshot"
    );

    let tar = app.data_path().join("download.tar");
    download(&app, &id, &tar).await;

    // Restore into a fresh data dir (and database), then serve it.
    let env = TestEnv::new().await;
    let mut args = vec![
        "backup",
        "restore",
        tar.to_str().expect("as the test set it up"),
    ];
    let storage = env.serve_storage_args();
    let storage: Vec<&str> = storage.iter().map(String::as_str).collect();
    args.extend(storage);
    cli_ok(&env.run_cli(&args, "").await, "backup restore");
    let restored = TestApp::spawn_in(env, &[], &[]).await;
    let users = users_by_name(&restored).await;
    for n in &before {
        assert!(
            users.contains_key(*n),
            "{n} was acknowledged before the backup's seq"
        );
    }
    for n in &after {
        assert!(!users.contains_key(*n), "{n} came after the backup's seq");
    }
    // The log is the same up to the backup's seq, and nothing after it came along.
    let restored_log = restored.event_log_after(0).await;
    let upto: Vec<&Value> = log
        .iter()
        .filter(|e| e["seq"].as_i64().expect("as the test set it up") <= last_seq)
        .collect();
    let restored_upto: Vec<&Value> = restored_log
        .iter()
        .filter(|e| e["seq"].as_i64().expect("as the test set it up") <= last_seq)
        .collect();
    assert_eq!(upto.len(), restored_upto.len());
    for (a, b) in upto.iter().zip(&restored_upto) {
        assert_eq!(a["seq"], b["seq"]);
        assert_eq!(a["type"], b["type"]);
        assert_eq!(a["data"], b["data"]);
    }
    // Every file's bytes match their sha256.
    assert_files_intact(&restored, &files).await;
    // The restored SQLite file passes an integrity check of its own.
    if !is_postgres() {
        let db = restored.data_path().join("switchboard.db");
        let conn =
            sea_orm::Database::connect(format!("sqlite://{}?mode=ro", db.display()).as_str())
                .await
                .expect("open restored db");
        let row = sea_orm::ConnectionTrait::query_one_raw(
            &conn,
            sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "PRAGMA integrity_check".to_owned(),
            ),
        )
        .await
        .expect("integrity_check")
        .expect("a row");
        let verdict: String = row.try_get_by_index(0).expect("verdict");
        assert_eq!(verdict, "ok");
        let _ = conn.close().await;
    }
}

#[tokio::test]
async fn a_second_backup_copies_only_new_objects_and_delete_collects_them() {
    let app = TestApp::spawn().await;
    for i in 0..5u64 {
        app.upload_generated(&format!("a{i}.bin"), 100 + i, 4_096)
            .await;
    }
    let first = backup_now(&app).await;
    assert_eq!(first["objects_copied"], 5, "{first}");
    assert_eq!(first["objects_reused"], 0, "{first}");
    for i in 0..2u64 {
        app.upload_generated(&format!("b{i}.bin"), 200 + i, 4_096)
            .await;
    }
    let second = backup_now(&app).await;
    assert_eq!(second["objects_total"], 7, "{second}");
    assert_eq!(second["objects_copied"], 2, "{second}");
    assert_eq!(second["objects_reused"], 5, "{second}");
    assert_eq!(second["bytes_copied"], 2 * 4_096, "{second}");
    let objects = || files_under(&backup_dir(&app).join("objects")).len();
    assert_eq!(objects(), 7, "every distinct object once");

    let list = app.get("/api/backups", &app.admin_token).await;
    list.expect_status(200);
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .expect("as the test set it up")
        .iter()
        .map(|b| b["id"].as_str().expect("as the test set it up"))
        .collect();
    assert_eq!(
        ids,
        vec![
            second["id"].as_str().expect("as the test set it up"),
            first["id"].as_str().expect("as the test set it up")
        ]
    );

    // The first backup's objects are all in the second: deleting it removes none.
    let (mut ws, _) = app.ws(&app.admin_token, "deletes").await;
    let first_id = first["id"].as_str().expect("as the test set it up");
    app.delete(&format!("/api/backups/{first_id}"), &app.admin_token)
        .await
        .expect_status(204);
    assert_eq!(objects(), 7);
    let ev = ws.next_event("backup.deleted").await;
    assert_eq!(ev["type"], "backup.deleted");
    assert_eq!(ev["data"]["id"], first_id);
    // Deleting the last one removes every object.
    let second_id = second["id"].as_str().expect("as the test set it up");
    app.delete(&format!("/api/backups/{second_id}"), &app.admin_token)
        .await
        .expect_status(204);
    assert_eq!(objects(), 0);
    for path in [
        format!("/api/backups/{second_id}"),
        format!("/api/backups/{second_id}/download"),
        "/api/backups/not-an-id".to_owned(),
    ] {
        assert_error(&app.get(&path, &app.admin_token).await, 404, "not_found");
    }
    assert_error(
        &app.delete(&format!("/api/backups/{second_id}"), &app.admin_token)
            .await,
        404,
        "not_found",
    );
    // Viewers may not.
    app.create_user("watcher", "viewer").await;
    let viewer = app.token_for("watcher").await;
    assert_error(&app.get("/api/backups", &viewer).await, 403, "forbidden");
    assert_error(
        &app.post("/api/backups", &viewer, &json!({})).await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn a_backup_killed_mid_way_is_never_listed() {
    // A slow backup (64 KiB/s over ~400 KiB of objects), so it is surely mid-way when killed.
    let mut app = TestApp::spawn_with(&["--backup-max-bytes-per-sec", "65536"], &[]).await;
    for i in 0..4u64 {
        app.upload_generated(&format!("k{i}.bin"), 300 + i, 100_000)
            .await;
    }
    let (mut ws, _) = app.ws(&app.admin_token, "progress").await;
    let id = start_backup(&app).await["id"]
        .as_str()
        .expect("as the test set it up")
        .to_owned();
    // Wait for it to be copying objects.
    loop {
        let ev = ws.next_event("backup.progress").await;
        if ev["type"] == "backup.progress" && ev["data"]["phase"] == "objects" {
            assert_eq!(ev["data"]["id"], id.as_str());
            assert_eq!(ev["seq"], Value::Null, "progress is ephemeral");
            break;
        }
    }
    let status = app.stop_with_signal("KILL").await;
    assert!(!status.success());
    assert!(
        manifest_files(&backup_dir(&app)).is_empty(),
        "no manifest, so no backup"
    );
    let out = app.run_cli(&["backup", "list"], "").await;
    let listed = cli_ok(&out, "backup list");
    assert!(
        !listed.contains(&id),
        "an interrupted backup is listed:\n{listed}"
    );

    app.start_again().await;
    let list = app.get("/api/backups", &app.admin_token).await;
    list.expect_status(200);
    assert_eq!(list.body["items"], json!([]), "{}", list.text);
    // The next backup completes, and finds what the dead one had fully copied.
    let b = backup_now(&app).await;
    assert_eq!(b["objects_total"], 4);
    assert_eq!(
        b["objects_copied"].as_u64().expect("as the test set it up")
            + b["objects_reused"].as_u64().expect("as the test set it up"),
        4
    );
}

#[tokio::test]
async fn a_resume_across_a_restore_gets_resync() {
    let mut app = TestApp::spawn().await;
    app.create_user("before_backup", "viewer").await;
    let out = app.run_cli(&["backup", "create"], "").await;
    let printed = cli_ok(&out, "backup create");
    let id = printed
        .lines()
        .find_map(|l| l.strip_prefix("backup "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the id is printed")
        .to_owned();
    // Later writes, seen by an open panel.
    app.create_user("after_backup", "viewer").await;
    let (ws, welcome) = app.ws(&app.admin_token, "before-restore").await;
    let seen = welcome_seq(&welcome);
    let epoch = welcome["epoch"]
        .as_str()
        .expect("as the test set it up")
        .to_owned();
    ws.close().await;

    app.stop().await;
    // Refused while… nothing runs now: the restore goes ahead, by id from the default location.
    cli_ok(
        &app.run_cli(&["backup", "restore", &id], "").await,
        "backup restore",
    );
    app.start_again().await;

    let (mut ws, welcome) = app.ws(&app.admin_token, "after-restore").await;
    assert_ne!(
        welcome["epoch"].as_str().expect("as the test set it up"),
        epoch,
        "a restore gives a new epoch"
    );
    ws.send_json(&json!({"type": "resume", "after": seen, "epoch": epoch}))
        .await;
    let frames = ws.ping_barrier().await;
    assert!(frames.iter().any(|f| f["type"] == "resync"), "{frames:?}");
    assert!(
        frames
            .iter()
            .all(|f| f["type"] == "resync" || !f["seq"].is_i64()),
        "nothing replayed across a restore: {frames:?}"
    );
    let users = users_by_name(&app).await;
    assert!(users.contains_key("before_backup"));
    assert!(!users.contains_key("after_backup"));
}

#[tokio::test]
async fn a_damaged_or_newer_backup_is_refused_before_anything_changes() {
    let mut app = TestApp::spawn().await;
    app.upload_generated("x.bin", 7, 8_192).await;
    let b = backup_now(&app).await;
    let id = b["id"].as_str().expect("as the test set it up").to_owned();
    let tar = app.data_path().join("b.tar");
    download(&app, &id, &tar).await;

    // While the server runs, a restore is refused.
    let out = app.run_cli(&["backup", "restore", &id], "").await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("running"),
        "{out:?}"
    );

    app.create_user("kept", "viewer").await;
    app.stop().await;
    let unpack = |name: &str| {
        let dir = app.data_path().join(name);
        std::fs::create_dir_all(&dir).expect("as the test set it up");
        tar::Archive::new(std::fs::File::open(&tar).expect("as the test set it up"))
            .unpack(&dir)
            .expect("as the test set it up");
        dir
    };
    // One flipped byte in an object.
    let damaged = unpack("damaged");
    let object = files_under(&damaged.join("objects"))
        .pop()
        .expect("an object");
    let mut bytes = std::fs::read(&object).expect("as the test set it up");
    bytes[0] ^= 0xff;
    std::fs::write(&object, bytes).expect("as the test set it up");
    let out = app
        .run_cli(
            &[
                "backup",
                "restore",
                damaged.to_str().expect("as the test set it up"),
            ],
            "",
        )
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sha256"),
        "{out:?}"
    );
    // A backup from a newer schema.
    let newer = unpack("newer");
    let path = newer.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("as the test set it up"))
            .expect("as the test set it up");
    manifest["schema"]["migrations"]
        .as_array_mut()
        .expect("as the test set it up")
        .push(json!("m29990101_000001_from_the_future"));
    std::fs::write(
        &path,
        serde_json::to_vec(&manifest).expect("as the test set it up"),
    )
    .expect("as the test set it up");
    let out = app
        .run_cli(
            &[
                "backup",
                "restore",
                newer.to_str().expect("as the test set it up"),
            ],
            "",
        )
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer schema"),
        "{out:?}"
    );

    // Nothing changed: the user created after the backup is still there.
    app.start_again().await;
    assert!(users_by_name(&app).await.contains_key("kept"));
}

#[tokio::test]
async fn the_schedule_backs_up_logs_counts_and_keeps_the_newest() {
    let env = TestEnv::new().await;
    let location = env.data_dir.path().join("elsewhere");
    let location = location.to_str().expect("as the test set it up").to_owned();
    let mut app = TestApp::spawn_in(env, &["--backup-to", &location], &[]).await;
    backup_now(&app).await;
    backup_now(&app).await;
    assert_eq!(manifest_files(Path::new(&location)).len(), 2);
    app.stop().await;
    // Every 2 s, counted from the newest backup; keep one.
    app.set_args(&[
        "--backup-to",
        &location,
        "--backup-every",
        "2s",
        "--backup-keep",
        "1",
    ]);
    app.start_again().await;
    let ok = poll_until(BACKUP_TIMEOUT, || async {
        app.logs_text().contains("old backups deleted")
    })
    .await;
    assert!(ok, "no scheduled backup and pruning:\n{}", app.logs_text());
    let scheduled_line = app.logs().into_iter().any(|l| {
        serde_json::from_str::<Value>(&l).is_ok_and(|v| {
            v["fields"]["message"] == "backup completed" && v["fields"]["trigger"] == "schedule"
        })
    });
    assert!(scheduled_line, "{}", app.logs_text());
    let metrics = app.get_anon("/metrics").await;
    let scheduled = metrics
        .text
        .lines()
        .find(|l| {
            l.starts_with("switchboard_backups_total")
                && l.contains("trigger=\"schedule\"")
                && l.contains("outcome=\"completed\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(scheduled >= 1.0, "{}", metrics.text);
    // Retention leaves the newest only (a next run may be under way: its manifest comes last).
    let list = app.get("/api/backups", &app.admin_token).await;
    let complete: Vec<&Value> = list.body["items"]
        .as_array()
        .expect("as the test set it up")
        .iter()
        .filter(|b| b["status"] == "completed")
        .collect();
    assert!(complete.len() <= 2, "{}", list.text);
    assert!(
        complete.iter().all(|b| b["trigger"] == "schedule"),
        "{}",
        list.text
    );
}

/// With `SWITCHBOARD_TEST_STORAGE=s3` (CI's S3 stage): backups into the same S3-compatible
/// server the file tests use, incremental there too, and restored from it by id.
#[tokio::test]
async fn backups_to_an_s3_bucket_are_incremental_and_restore_by_id() {
    if !common::store::is_s3() {
        eprintln!("skipped: runs with SWITCHBOARD_TEST_STORAGE=s3");
        return;
    }
    let env = TestEnv::new().await;
    let location = format!(
        "{}/bk",
        env.store.storage_arg.clone().expect("an S3 location")
    );
    let app = TestApp::spawn_in(env, &["--backup-to", &location], &[]).await;
    let mut files = Vec::new();
    for i in 0..3u64 {
        files.push(
            app.upload_generated(&format!("s{i}.bin"), 500 + i, 70_000)
                .await,
        );
    }
    let first = backup_now(&app).await;
    assert_eq!(first["objects_copied"], 3, "{first}");
    assert_eq!(app.env.store.list("bk/objects").len(), 3);
    let second = backup_now(&app).await;
    assert_eq!(second["objects_copied"], 0, "{second}");
    assert_eq!(second["objects_reused"], 3, "{second}");
    assert_eq!(app.env.store.list("bk/objects").len(), 3);

    let id = second["id"].as_str().expect("as the test set it up");
    let fresh = TestEnv::new().await;
    let storage = fresh.serve_storage_args();
    let mut args = vec!["backup", "restore", id, "--from", &location];
    args.extend(storage.iter().map(String::as_str));
    cli_ok(&fresh.run_cli(&args, "").await, "backup restore from S3");
    let restored = TestApp::spawn_in(fresh, &[], &[]).await;
    assert_files_intact(&restored, &files).await;
}
