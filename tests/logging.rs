//! Log output: plain text without terminal escape codes when stdout is not a terminal (a file,
//! a pipe, journald), and a client that drops its WebSocket is logged as a dropped connection,
//! not as a protocol violation.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The first start logs the generated admin password; read the text log through a pipe until
/// that line and check it is plain `key=value` text.
#[tokio::test]
async fn text_logs_through_a_pipe_have_no_escape_codes() {
    let env = TestEnv::new().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "text"])
        .args(env.storage_args());
    scrub_env(&mut cmd);
    cmd.env_remove("SWITCHBOARD_ADMIN_PASSWORD")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn switchboard");
    let stdout = child.stdout.take().expect("piped stdout");
    // Read on a thread, bounded by the channel's timeout below.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let found = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let done = line.contains("listening");
                lines.push(line);
                if done {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no 'listening' line; output:\n{}", lines.join("\n"));
    let text = lines.join("\n");
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in a piped log:\n{text:?}"
    );
    let admin = lines
        .iter()
        .find(|l| l.contains("created initial admin user"))
        .unwrap_or_else(|| panic!("no admin line in:\n{text}"));
    let password = admin
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("password="))
        .unwrap_or_else(|| panic!("no password=… field in {admin:?}"));
    assert_eq!(password.len(), 24, "{admin:?}");
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{admin:?}"
    );
}

/// A socket whose TCP connection simply goes away broke no rule.
#[tokio::test]
async fn a_dropped_websocket_is_not_a_protocol_violation() {
    let app = TestApp::spawn().await;
    app.create_user("dropper", "viewer").await;
    let dropper_token = app.token_for("dropper").await;
    let (mut watcher, _) = app.ws(&app.admin_token, "watcher").await;
    let (dropper, _) = app.ws(&dropper_token, "dropper").await;
    let joined =
        |f: &Value, kind: &str| f["type"] == kind && f["data"]["user"]["username"] == "dropper";
    loop {
        let f = watcher.next_json("presence.joined of dropper").await;
        if joined(&f, "presence.joined") {
            break;
        }
    }
    // No close frame: the TCP connection just ends.
    drop(dropper);
    loop {
        let f = watcher.next_json("presence.left of dropper").await;
        if joined(&f, "presence.left") {
            break;
        }
    }
    // The log line is written before the hub hears of the drop, but read from the pipe on
    // another thread: wait for it.
    let logged = poll_until(Duration::from_secs(10), || async {
        app.logs_text().contains("websocket dropped by the client")
    })
    .await;
    let logs = app.logs_text();
    assert!(logged, "the drop is logged as such:\n{logs}");
    assert!(
        !logs.contains("broke the protocol"),
        "a dropped connection is not a protocol violation:\n{logs}"
    );
}
