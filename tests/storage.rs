//! `--storage`: a value that names no store is refused before anything starts, and (with
//! `SWITCHBOARD_TEST_STORAGE=s3`, see `.ci/s3-server`) a bucket the server cannot use stops the
//! start with a message naming it, never the secret key, while a usable one makes `/readyz`
//! answer 200.

mod common;

use common::*;

#[tokio::test]
async fn a_storage_value_that_names_no_store_is_refused() {
    let env = TestEnv::new().await;
    for (value, says) in [
        ("gs://bucket/x", "expected `file` or `s3://bucket/prefix`"),
        ("s3://Upper/x", "is not a bucket name"),
        ("s3://bucket/a/../b", "is not a usable key prefix"),
    ] {
        let out = env
            .run_cli(
                &["serve", "--listen", "127.0.0.1:0", "--storage", value],
                "",
            )
            .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--storage {value}: {stderr}");
        assert!(
            stderr.contains("--storage") && stderr.contains(says),
            "--storage {value} should be refused saying {says:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn an_unusable_bucket_stops_the_start_and_a_usable_one_is_ready() {
    if !common::store::is_s3() {
        eprintln!(
            "note: an_unusable_bucket_stops_the_start_and_a_usable_one_is_ready skipped: \
             needs SWITCHBOARD_TEST_STORAGE=s3"
        );
        return;
    }
    let env = TestEnv::new().await;
    let missing = format!("missing-{}", uuid::Uuid::new_v4().simple());
    let out = env
        .run_cli(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--storage",
                &format!("s3://{missing}/p"),
            ],
            "",
        )
        .await;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{output}");
    assert!(
        output.contains(&format!("storage s3://{missing}/p")) && output.contains("not usable"),
        "the message names the storage it could not use: {output}"
    );
    assert!(!output.contains("listening"), "{output}");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(
        secret.is_empty() || !output.contains(&secret),
        "the secret key must never be printed: {output}"
    );

    let app = TestApp::spawn_in(env, &[], &[]).await;
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    assert_eq!(ready.status(), 200);
    assert!(
        !app.logs_text().contains(&secret) || secret.is_empty(),
        "the secret key must never be logged"
    );
}
