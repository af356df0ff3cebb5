//! WebSocket fan-out benchmark: N authenticated sockets, one user update, delivery latency to
//! every socket, and server RSS per idle connection.
//!
//! ```sh
//! cargo build --release --bin switchboard
//! cargo bench --bench ws_fanout -- --connections 1000 --updates 5
//! ```
//!
//! Starts the server (`--binary PATH`, default `$CARGO_TARGET_DIR/release/switchboard`, else
//! `target/release/switchboard`) pinned to core 0 and pins itself to core 1. Raises the
//! open-file limit for itself and the server it starts, so 20,000 sockets fit. Talks only to
//! 127.0.0.1 and stops by itself.
//!
//! Every socket is read from the moment its `welcome` arrives, as a panel would: a socket left
//! unread piles up the presence announcements of the connection burst in its kernel buffers.
//! Per update it also reports the CPU time the server and the generator used from sending the
//! `PATCH` until the last socket had its frame (from `/proc/<pid>/task/*/schedstat`), as a share
//! of that wall time, so it shows which side was busy.

#[path = "support/server.rs"]
mod server;

use std::{
    process::Child,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

const ADMIN_PASSWORD: &str = "bench-admin-password";
/// No update is being measured.
const NO_RUN: usize = usize::MAX;

struct Args {
    connections: usize,
    updates: usize,
    /// Handshakes in flight at once while connecting.
    concurrency: usize,
    binary: String,
}

fn default_binary() -> String {
    // cargo passes its environment on: a relative CARGO_TARGET_DIR is relative to the package
    // root, which is also the bench's working directory.
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => format!("{dir}/release/switchboard"),
        _ => format!("{}/target/release/switchboard", env!("CARGO_MANIFEST_DIR")),
    }
}

fn parse_args() -> Args {
    let mut args = Args {
        connections: 1000,
        updates: 5,
        concurrency: 200,
        binary: default_binary(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--connections" => {
                args.connections = it.next().and_then(|v| v.parse().ok()).unwrap_or(1000)
            }
            "--updates" => args.updates = it.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--concurrency" => {
                args.concurrency = it.next().and_then(|v| v.parse().ok()).unwrap_or(200)
            }
            "--binary" => args.binary = it.next().unwrap_or(args.binary),
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// Raises this process's open-file limit to at least `n` (the server is started afterwards and
/// inherits it). The hard limit can only grow with CAP_SYS_RESOURCE; without it the soft limit
/// goes as far as the hard one allows, and the run says so.
fn raise_fd_limit(n: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    let hard = current.maximum.unwrap_or(u64::MAX);
    let want = n.max(current.current.unwrap_or(0));
    let raised = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(want.max(hard)),
        },
    );
    if let Err(e) = raised {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(want.min(hard)),
                maximum: current.maximum,
            },
        );
        eprintln!("could not raise the open-file hard limit {hard} to {want}: {e}");
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < n {
        eprintln!("open-file limit {now} is below the {n} this run needs: expect failed connects");
    }
}

/// The server's soft open-file limit, as `/proc/<pid>/limits` shows it.
fn fd_limit_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Pins this thread (and the threads it starts later) to one core.
fn pin_to_core(core: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(core);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("could not pin the load generator to core {core}: {e}");
    }
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

/// CPU time all threads of `pid` have run so far, in ns (first field of each task's schedstat;
/// includes the kernel's network work done inside their syscalls).
fn cpu_ns(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
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

/// What the readers share: which update is being measured and when each socket saw it.
struct Probe {
    /// Index into `markers` of the update being measured, or [`NO_RUN`].
    run: AtomicUsize,
    markers: Vec<String>,
    /// Per socket: ns after `base` at which it received the measured update (0: not yet).
    received_at: Vec<AtomicU64>,
    received: AtomicUsize,
    base: Instant,
}

impl Probe {
    fn saw(&self, socket: usize, text: &str) {
        let run = self.run.load(Ordering::Acquire);
        if run == NO_RUN || !text.contains("\"user.updated\"") || !text.contains(&self.markers[run])
        {
            return;
        }
        let ns = (self.base.elapsed().as_nanos() as u64).max(1);
        if self.received_at[socket].swap(ns, Ordering::AcqRel) == 0 {
            self.received.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn main() {
    let args = parse_args();
    // Before the runtime starts: its threads inherit the affinity. One core reads every
    // socket, so a single-threaded runtime: no hand-offs between worker threads.
    pin_to_core(1);
    // Each side holds one descriptor per socket, plus a few dozen of its own.
    raise_fd_limit(args.connections as u64 + 256);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(args));
}

async fn bench(args: Args) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, addr) = start_server(&args.binary, dir.path());
    let pid = server.id();
    let server_pid = pid.to_string();
    if let Some(limit) = fd_limit_of(pid)
        && limit < args.connections as u64 + 64
    {
        eprintln!("the server may open only {limit} files: too few for this run");
    }
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

    let probe = Arc::new(Probe {
        run: AtomicUsize::new(NO_RUN),
        markers: (0..args.updates)
            .map(|run| format!("bench-marker-{run}-{}", uuid::Uuid::new_v4().simple()))
            .collect(),
        received_at: (0..args.connections).map(|_| AtomicU64::new(0)).collect(),
        received: AtomicUsize::new(0),
        base: Instant::now(),
    });

    // The idle baseline, once the password hashes' memory (login, new user) is given back;
    // `rss_idle` is measured after a pause too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kib(pid);
    let ws_url = format!("ws://{addr}/api/ws");
    let started = Instant::now();
    let step = (args.connections / 10).max(1);
    let connected = Arc::new(AtomicUsize::new(0));
    let mut last_mark = Instant::now();
    let mut opened = stream::iter(0..args.connections)
        .map(|i| {
            let url = ws_url.clone();
            let token = token.clone();
            let probe = probe.clone();
            let connected = connected.clone();
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
                connected.fetch_add(1, Ordering::Relaxed);
                // Read from now on, like a panel does (tungstenite answers pings meanwhile).
                tokio::spawn(async move {
                    while let Some(Ok(msg)) = ws.next().await {
                        if let Message::Text(t) = msg {
                            probe.saw(i, &t);
                        }
                    }
                });
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    let mut done = 0usize;
    while opened.next().await.is_some() {
        done += 1;
        if done.is_multiple_of(step) {
            let now = Instant::now();
            eprintln!(
                "{done} sockets authenticated after {:.2}s (last {step} in {:.2}s)",
                started.elapsed().as_secs_f64(),
                now.duration_since(last_mark).as_secs_f64()
            );
            last_mark = now;
        }
    }
    drop(opened);
    let connect_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} sockets authenticated in {connect_secs:.1}s",
        connected.load(Ordering::Relaxed)
    );

    // Let the presence announcements of the connection burst pass, then measure idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);

    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut maxes = Vec::new();
    let mut server_shares = Vec::new();
    let mut server_costs = Vec::new();
    for run in 0..args.updates {
        for slot in &probe.received_at {
            slot.store(0, Ordering::Relaxed);
        }
        probe.received.store(0, Ordering::Release);
        probe.run.store(run, Ordering::Release);
        let (server_cpu0, own_cpu0) = (cpu_ns(&server_pid), cpu_ns("self"));
        let t0 = Instant::now();
        let t0_ns = t0.duration_since(probe.base).as_nanos() as u64;
        let resp = http
            .patch(format!("{base}/api/users/{target_id}"))
            .bearer_auth(&token)
            .json(&json!({"display_name": probe.markers[run]}))
            .send()
            .await
            .expect("patch");
        assert!(
            resp.status().is_success(),
            "patch failed: {}",
            resp.status()
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        // Checked every millisecond, so the CPU figures end close to the last delivery.
        while probe.received.load(Ordering::Acquire) < args.connections && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (server_cpu1, own_cpu1) = (cpu_ns(&server_pid), cpu_ns("self"));
        probe.run.store(NO_RUN, Ordering::Release);
        let mut lat: Vec<f64> = probe
            .received_at
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .filter(|&ns| ns != 0)
            .map(|ns| ns.saturating_sub(t0_ns) as f64 / 1e6)
            .collect();
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
        // Over the wall time until the check loop noticed the last delivery (≤ 1 ms late).
        let wall_ns = t0.elapsed().as_nanos().max(1) as f64;
        let server_ns = server_cpu1.saturating_sub(server_cpu0) as f64;
        let server_share = server_ns / wall_ns * 100.0;
        let own_share = own_cpu1.saturating_sub(own_cpu0) as f64 / wall_ns * 100.0;
        // The server's CPU time per socket for this update (its commit included): what it
        // costs, whatever share of the core it got on a shared machine.
        let server_us_per_socket = server_ns / 1e3 / args.connections as f64;
        eprintln!(
            "update {run}: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; \
             CPU until the last delivery: server {server_share:.0} %, generator {own_share:.0} %; \
             server CPU {:.1} ms, {server_us_per_socket:.2} µs per socket",
            server_ns / 1e6
        );
        server_costs.push(server_us_per_socket);
        p50s.push(p50);
        p99s.push(p99);
        maxes.push(max);
        server_shares.push(server_share);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let per_conn = (rss_idle.saturating_sub(rss_before)) as f64 / args.connections as f64;
    println!(
        "| {} sockets | p50 {:.1} ms | p99 {:.1} ms | max {:.1} ms | RSS {} → {} KiB, {:.1} KiB per idle socket | connect {:.1} s | server CPU {:.0} %, {:.2} µs per socket | median of {} updates |",
        args.connections,
        median(p50s),
        median(p99s),
        median(maxes),
        rss_before,
        rss_idle,
        per_conn,
        connect_secs,
        median(server_shares),
        median(server_costs),
        args.updates
    );
    let _ = server.kill();
    let _ = server.wait();
}
