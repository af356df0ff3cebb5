//! WebSocket fan-out benchmark: N authenticated sockets, one user update, delivery latency to
//! every socket, and server RSS per idle connection.
//!
//! ```sh
//! cargo build --release
//! taskset -c 1 cargo bench --bench ws_fanout -- --connections 1000 --updates 5
//! ```
//!
//! The server (`target/release/switchboard`) is started pinned to core 0; run this generator
//! pinned to core 1. Talks only to 127.0.0.1 and stops by itself.

#[path = "support/server.rs"]
mod server;

use std::{
    process::Child,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

const ADMIN_PASSWORD: &str = "bench-admin-password";

struct Args {
    connections: usize,
    updates: usize,
    binary: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        connections: 1000,
        updates: 5,
        binary: format!("{}/target/release/switchboard", env!("CARGO_MANIFEST_DIR")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--connections" => {
                args.connections = it.next().and_then(|v| v.parse().ok()).unwrap_or(1000)
            }
            "--updates" => args.updates = it.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--binary" => args.binary = it.next().unwrap_or(args.binary),
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

fn raise_fd_limit(n: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    let want = n.max(current.current.unwrap_or(0));
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(want.max(current.maximum.unwrap_or(0))),
        },
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn start_server(binary: &str, data_dir: &std::path::Path) -> (Child, String) {
    server::start_server(binary, data_dir, ADMIN_PASSWORD, |_| {})
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    raise_fd_limit(args.connections as u64 * 2 + 1024);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, addr) = start_server(&args.binary, dir.path());
    let pid = server.id();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");

    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    let target: Value = http
        .post(format!("{base}/api/users"))
        .bearer_auth(&token)
        .json(
            &json!({"username": "target", "email": "target@bench.example",
                      "password": "bench-password", "role": "viewer"}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("create json");
    let target_id = target["id"].as_str().expect("id").to_owned();

    let rss_before = rss_kib(pid);
    // Each socket reports when it sees the update carrying the current marker.
    let received: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let current_marker: Arc<Mutex<String>> = Arc::default();
    let ws_url = format!("ws://{addr}/api/ws");
    let started = Instant::now();
    let sockets: Vec<_> = stream::iter(0..args.connections)
        .map(|_| {
            let url = ws_url.clone();
            let token = token.clone();
            async move {
                let mut config = WebSocketConfig::default();
                config.read_buffer_size = 4096;
                let (mut ws, _) =
                    tokio_tungstenite::connect_async_with_config(url, Some(config), false)
                        .await
                        .expect("connect");
                ws.send(Message::text(
                    json!({"type": "auth", "token": token}).to_string(),
                ))
                .await
                .expect("auth");
                loop {
                    let msg = ws.next().await.expect("open").expect("frame");
                    if let Message::Text(t) = msg
                        && t.contains("\"welcome\"")
                    {
                        break;
                    }
                }
                ws
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    eprintln!(
        "{} sockets authenticated in {:.1}s",
        sockets.len(),
        started.elapsed().as_secs_f64()
    );

    for (i, mut ws) in sockets.into_iter().enumerate() {
        let received = received.clone();
        let marker = current_marker.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg
                    && t.contains("\"user.updated\"")
                {
                    let now = Instant::now();
                    let m = marker.lock().map(|m| m.clone()).unwrap_or_default();
                    if !m.is_empty()
                        && t.contains(&m)
                        && let Ok(mut r) = received.lock()
                    {
                        r.push((i, now));
                    }
                }
            }
        });
    }
    // Let the presence announcements of the connection burst pass, then measure idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);

    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut maxes = Vec::new();
    for run in 0..args.updates {
        let marker = format!("bench-marker-{run}-{}", uuid::Uuid::new_v4().simple());
        if let Ok(mut r) = received.lock() {
            r.clear();
        }
        if let Ok(mut m) = current_marker.lock() {
            *m = marker.clone();
        }
        let t0 = Instant::now();
        let resp = http
            .patch(format!("{base}/api/users/{target_id}"))
            .bearer_auth(&token)
            .json(&json!({"display_name": marker}))
            .send()
            .await
            .expect("patch");
        assert!(
            resp.status().is_success(),
            "patch failed: {}",
            resp.status()
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = received.lock().map(|r| r.len()).unwrap_or(0);
            if n >= args.connections || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut lat: Vec<f64> = received
            .lock()
            .map(|r| {
                r.iter()
                    .map(|(_, t)| t.duration_since(t0).as_secs_f64() * 1e3)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            lat.len(),
            args.connections,
            "not every socket got update {run}"
        );
        lat.sort_by(f64::total_cmp);
        let (p50, p99, max) = (
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            percentile(&lat, 1.0),
        );
        eprintln!("update {run}: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
        p50s.push(p50);
        p99s.push(p99);
        maxes.push(max);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let per_conn = (rss_idle.saturating_sub(rss_before)) as f64 / args.connections as f64;
    println!(
        "| {} sockets | p50 {:.1} ms | p99 {:.1} ms | max {:.1} ms | RSS {} → {} KiB, {:.1} KiB per idle socket | median of {} updates |",
        args.connections,
        median(p50s),
        median(p99s),
        median(maxes),
        rss_before,
        rss_idle,
        per_conn,
        args.updates
    );
    let _ = server.kill();
    let _ = server.wait();
}
