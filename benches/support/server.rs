//! Shared by the benches: starts `switchboard serve` pinned to core 0 and returns once it
//! listens. Included with `#[path]` (each bench is its own crate).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Starts the server on a free port with JSON logs; returns the child and `host:port`. Every
/// later log line goes to `on_line` on a thread that keeps draining the pipe, so the server
/// never blocks on a full one.
pub fn start_server(
    binary: &str,
    data_dir: &std::path::Path,
    admin_password: &str,
    mut on_line: impl FnMut(String) + Send + 'static,
) -> (Child, String) {
    let mut child = Command::new("taskset")
        .args(["-c", "0", binary, "serve", "--listen", "127.0.0.1:0"])
        .args(["--log-format", "json", "--data-dir"])
        .arg(data_dir)
        .env("SWITCHBOARD_ADMIN_PASSWORD", admin_password)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server (build it with cargo build --release)");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("server exited").expect("read");
        if let Ok(v) = serde_json::from_str::<Value>(&line)
            && v["fields"]["message"] == "listening"
        {
            break v["fields"]["addr"].as_str().expect("addr").to_owned();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            on_line(line);
        }
    });
    (child, addr)
}
