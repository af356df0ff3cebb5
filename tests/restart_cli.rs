//! Persistence across restarts, graceful shutdown and the CLI subcommands (docs/API.md §1).

mod common;

use std::process::Output;

use common::*;
use serde_json::json;

#[track_caller]
fn assert_cli_ok(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "`{what}` should exit 0; stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn assert_cli_failed(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "`{what}` should fail; stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "`{what}` failed without a message on stderr"
    );
}

#[track_caller]
fn assert_cli_output_lacks(out: &Output, secret: &str) {
    for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !String::from_utf8_lossy(stream).contains(secret),
            "the password appears on the CLI's {name}"
        );
    }
}

#[tokio::test]
async fn users_survive_restart() {
    let mut app = TestApp::spawn().await;
    let user = app.create_user("durable", "viewer").await;
    let id = user["id"].as_str().expect("id").to_owned();
    let patched = app
        .admin_patch_user(&id, &json!({"display_name": "Still Here"}))
        .await;
    assert_eq!(patched["version"], 2);
    let before_list = app.get("/api/users", &app.admin_token).await;
    before_list.expect_status(200);

    app.restart().await;

    let after = app.admin_get_user(&id).await;
    assert_eq!(after, patched, "user changed across restart");
    let after_list = app.get("/api/users", &app.admin_token).await;
    after_list.expect_status(200);
    // The harness logs in as admin again after the restart, which moves admin's
    // last_login_at; everything else must be identical.
    let without_login_time = |list: &serde_json::Value| {
        let mut list = list.clone();
        for item in list["items"].as_array_mut().expect("items") {
            item.as_object_mut()
                .expect("user object")
                .remove("last_login_at");
        }
        list
    };
    assert_eq!(
        without_login_time(&after_list.body),
        without_login_time(&before_list.body)
    );
    // The password hash survived too.
    app.login("durable", USER_PASSWORD).await;
}

#[tokio::test]
async fn tokens_survive_restart() {
    let mut app = TestApp::spawn().await;
    app.create_user("keeper", "viewer").await;
    let login = app.login("keeper", USER_PASSWORD).await;
    let (access, refresh) = assert_token_pair(&login);

    app.restart().await;

    // The JWT secret is generated once and kept in the data dir, so tokens stay valid.
    let me = app.get("/api/auth/me", &access).await;
    me.expect_status(200);
    assert_eq!(me.body["username"], "keeper");
    let refreshed = app
        .post_anon("/api/auth/refresh", &json!({"refresh_token": refresh}))
        .await;
    refreshed.expect_status(200);
    assert_token_pair(&refreshed.body);
}

#[tokio::test]
async fn sigterm_exits_zero() {
    let mut app = TestApp::spawn().await;
    let url = app.url("/api/auth/me");
    let status = app.stop().await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}; output:\n{}",
        app.logs_text()
    );
    // Nothing listens any more.
    let after = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(url)
        .send()
        .await;
    assert!(after.is_err(), "server still answers after exit: {after:?}");
}

#[tokio::test]
async fn sigint_exits_zero() {
    let mut app = TestApp::spawn().await;
    let status = app.stop_with_signal("INT").await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGINT: {status}; output:\n{}",
        app.logs_text()
    );
}

#[tokio::test]
async fn migrate_exits_zero_on_fresh_and_migrated_database() {
    let env = TestEnv::new().await;
    let out = env.run_cli(&["migrate"], "").await;
    assert_cli_ok(&out, "switchboard migrate (fresh)");
    if env.database_url.is_none() {
        assert!(
            env.data_dir.path().join("switchboard.db").exists(),
            "migrate should create <data-dir>/switchboard.db"
        );
    }
    let out = env.run_cli(&["migrate"], "").await;
    assert_cli_ok(&out, "switchboard migrate (again)");

    // The server starts on the migrated database and bootstraps the admin.
    let app = TestApp::spawn_in(env, &[], &[]).await;
    let out = app.run_cli(&["migrate"], "").await;
    assert_cli_ok(&out, "switchboard migrate (while serving)");
    app.get("/api/users", &app.admin_token)
        .await
        .expect_status(200);
}

#[tokio::test]
async fn cli_user_create_then_login() {
    let app = TestApp::spawn().await;
    let password = "cli-pass-4711";
    let out = app
        .run_cli(
            &[
                "user",
                "create",
                "--username",
                "cliuser",
                "--role",
                "viewer",
                "--email",
                "cli@example.com",
            ],
            &format!("{password}\n"),
        )
        .await;
    assert_cli_ok(&out, "user create");
    assert_cli_output_lacks(&out, password);

    let login = app.login("cliuser", password).await;
    assert_token_pair(&login);
    assert_eq!(login["user"]["role"], "viewer");
    assert_eq!(login["user"]["email"], "cli@example.com");
    let list = app.get("/api/users?q=cliuser", &app.admin_token).await;
    list.expect_status(200);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["version"], 1);
}

#[tokio::test]
async fn cli_user_create_admin_can_administer() {
    let app = TestApp::spawn().await;
    let out = app
        .run_cli(
            &[
                "user",
                "create",
                "--username",
                "cliadmin",
                "--role",
                "admin",
            ],
            "cli-admin-pass\n",
        )
        .await;
    assert_cli_ok(&out, "user create --role admin");
    let login = app.login("cliadmin", "cli-admin-pass").await;
    assert_eq!(login["user"]["role"], "admin");
    let token = login["access_token"].as_str().expect("token");
    let resp = app
        .post(
            "/api/users",
            token,
            &json!({"username": "made_by_cli_admin", "email": "mbca@example.com",
                    "password": USER_PASSWORD, "role": "viewer"}),
        )
        .await;
    resp.expect_status(201);
}

#[tokio::test]
async fn cli_user_create_rejects_invalid_input() {
    let app = TestApp::spawn().await;
    let out = app
        .run_cli(
            &[
                "user",
                "create",
                "--username",
                "tooshort",
                "--role",
                "viewer",
            ],
            "short\n",
        )
        .await;
    assert_cli_failed(&out, "user create with a 5-char password");
    assert_error(
        &app.try_login("tooshort", "short").await,
        401,
        "invalid_credentials",
    );

    let out = app
        .run_cli(
            &["user", "create", "--username", "admin", "--role", "viewer"],
            "long-enough-pass\n",
        )
        .await;
    assert_cli_failed(&out, "user create of an existing username");
    // The existing admin is untouched.
    app.login("admin", ADMIN_PASSWORD).await;

    let out = app
        .run_cli(
            &[
                "user",
                "create",
                "--username",
                "Bad Name",
                "--role",
                "viewer",
            ],
            "long-enough-pass\n",
        )
        .await;
    assert_cli_failed(&out, "user create with an invalid username");

    let list = app.get("/api/users", &app.admin_token).await;
    assert_eq!(list.body["total"], 1, "no user should have been created");
}

#[tokio::test]
async fn cli_set_password_then_login() {
    let app = TestApp::spawn().await;
    app.create_user("pwcli", "viewer").await;
    let new_password = "set-by-cli-99";
    let out = app
        .run_cli(
            &["user", "set-password", "--username", "pwcli"],
            &format!("{new_password}\n"),
        )
        .await;
    assert_cli_ok(&out, "user set-password");
    assert_cli_output_lacks(&out, new_password);

    app.login("pwcli", new_password).await;
    assert_error(
        &app.try_login("pwcli", USER_PASSWORD).await,
        401,
        "invalid_credentials",
    );
}

#[tokio::test]
async fn cli_set_password_ends_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("pwsession", "viewer").await;
    let login = app.login("pwsession", USER_PASSWORD).await;
    let (access, refresh) = assert_token_pair(&login);
    let out = app
        .run_cli(
            &["user", "set-password", "--username", "pwsession"],
            "another-cli-pass\n",
        )
        .await;
    assert_cli_ok(&out, "user set-password");
    // docs/API.md §3: when a password changes, that user's sessions end at once.
    assert_error(&app.get("/api/auth/me", &access).await, 401, "unauthorized");
    assert_error(
        &app.post_anon("/api/auth/refresh", &json!({"refresh_token": refresh}))
            .await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn cli_set_password_fails_for_unknown_user_or_short_password() {
    let app = TestApp::spawn().await;
    let out = app
        .run_cli(
            &["user", "set-password", "--username", "nobody_at_all"],
            "whatever-pass-1\n",
        )
        .await;
    assert_cli_failed(&out, "user set-password for an unknown user");

    let out = app
        .run_cli(&["user", "set-password", "--username", "admin"], "short\n")
        .await;
    assert_cli_failed(&out, "user set-password with a 5-char password");
    app.login("admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn generated_jwt_secret_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TestApp::spawn().await;
    // Without --jwt-secret the server generates one and stores it in the data dir (mode 0600).
    // Its file name is not part of the contract, so check every top-level file that is not
    // the SQLite database.
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(app.env.data_dir.path()).expect("read data dir") {
        let entry = entry.expect("data dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata().expect("metadata");
        if !meta.is_file() || name.starts_with("switchboard.db") {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{name} in the data dir is readable by others (mode {mode:o})"
        );
        checked.push(name);
    }
    assert!(
        !checked.is_empty(),
        "no generated secret file found in the data dir"
    );
}

/// Global options (`--data-dir`, `--database-url`, `--log-format`) work before or after the
/// subcommand; `serve`'s own options before another subcommand are refused, not ignored.
#[tokio::test]
async fn global_options_go_anywhere_serve_options_only_with_serve() {
    let env = TestEnv::new().await;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(env.storage_args()).arg("migrate");
    scrub_env(&mut cmd);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run switchboard");
    assert_cli_ok(&out, "switchboard --data-dir DIR migrate");
    if env.database_url.is_none() {
        assert!(env.data_dir.path().join("switchboard.db").exists());
    }

    let out = env
        .run_cli(&["--listen", "127.0.0.1:0", "migrate"], "")
        .await;
    assert_cli_failed(&out, "switchboard --listen ADDR migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--listen") && stderr.contains("switchboard serve --listen"),
        "the message says where the option goes: {stderr}"
    );
}
