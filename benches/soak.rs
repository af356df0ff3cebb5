//! Soak: a bounded run of steady mixed load against the release binary, then checks.
//!
//! ```sh
//! cargo build --release
//! cargo bench --bench soak -- --minutes 3
//! ```
//!
//! Starts `target/release/switchboard` (fresh SQLite data dir) pinned to core 0 and pins itself
//! to core 1. For `--minutes` (default 3, at most 10) it runs at once:
//!
//! - REST writes at a steady `--writes-per-sec` (default 10), in 4 lanes each cycling through
//!   create user → patch → patch with `If-Match` → patch with a stale `If-Match` (412, the only
//!   expected non-2xx) → delete;
//! - `--connections` (default 1,000) authenticated WebSockets reading everything, each checking
//!   on the fly that durable seqs arrive one by one (no gap, no duplicate);
//! - `--downloaders` (default 4) clients downloading a `--file-mib` (default 4) MiB file in a
//!   loop, each reading at `--download-mib-per-sec` (default 2, which paces the loop: 2
//!   downloads a second in all), and checking every body's length and sha256;
//! - the server's `VmRSS`, sampled every second.
//!
//! At the end it checks: no HTTP error (non-2xx other than the 412s, or a transport error), no
//! download error, every socket open and holding exactly the durable events of the log from its
//! welcome seq to the log's head (the log itself gap-free over the run, one `user.*` event per
//! successful user write and one `download.completed` per download), and RSS growth between the
//! first and the last minute below `--rss-growth-mib` (default 10) MiB. Prints a summary table;
//! exits 1 when a check fails. Talks only to 127.0.0.1 and stops by itself.

#[path = "support/server.rs"]
mod server;

use std::{
    process::Child,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

const ADMIN_PASSWORD: &str = "soak-admin-password";
const MIB: f64 = 1024.0 * 1024.0;
/// REST lanes: each runs its own create → patch → … → delete cycles.
const LANES: usize = 4;

struct Args {
    minutes: f64,
    connections: usize,
    writes_per_sec: f64,
    downloaders: usize,
    download_mib_per_sec: f64,
    file_mib: usize,
    rss_growth_mib: f64,
    binary: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        minutes: 3.0,
        connections: 1000,
        writes_per_sec: 10.0,
        downloaders: 4,
        download_mib_per_sec: 2.0,
        file_mib: 4,
        rss_growth_mib: 10.0,
        binary: format!("{}/target/release/switchboard", env!("CARGO_MANIFEST_DIR")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |what: &str| -> f64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--minutes" => args.minutes = value("--minutes"),
            "--connections" => args.connections = value("--connections") as usize,
            "--writes-per-sec" => args.writes_per_sec = value("--writes-per-sec"),
            "--downloaders" => args.downloaders = value("--downloaders") as usize,
            "--download-mib-per-sec" => args.download_mib_per_sec = value("--download-mib-per-sec"),
            "--file-mib" => args.file_mib = value("--file-mib") as usize,
            "--rss-growth-mib" => args.rss_growth_mib = value("--rss-growth-mib"),
            "--binary" => args.binary = it.next().expect("--binary needs a path"),
            _ => {} // cargo bench passes --bench
        }
    }
    assert!(
        args.minutes > 0.0 && args.minutes <= 10.0,
        "--minutes must be in (0, 10]: access tokens live 15 minutes"
    );
    assert!(args.writes_per_sec > 0.0 && args.download_mib_per_sec > 0.0);
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

/// Pins this thread (and the threads it starts later) to one core.
fn pin_to_core(core: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(core);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("could not pin the load generator to core {core}: {e}");
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User + system CPU time of a process, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12) // utime, stime (fields 14 and 15 of the whole line)
}

/// Log lines of the server at WARN or ERROR (it writes JSON lines to stdout).
#[derive(Default)]
struct ServerLog {
    warnings: AtomicU64,
    errors: AtomicU64,
    first: Mutex<Vec<String>>,
}

fn start_server(binary: &str, data_dir: &std::path::Path, log: Arc<ServerLog>) -> (Child, String) {
    // Counting warnings and errors as the lines go by.
    server::start_server(binary, data_dir, ADMIN_PASSWORD, move |line| {
        let counter = if line.contains("\"level\":\"ERROR\"") {
            &log.errors
        } else if line.contains("\"level\":\"WARN\"") {
            &log.warnings
        } else {
            return;
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = log.first.lock()
            && first.len() < 5
        {
            first.push(line);
        }
    })
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn gen_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// HTTP outcomes of the REST lanes.
#[derive(Default)]
struct Rest {
    ok: AtomicU64,
    /// Successful writes that record a `user.*` event (everything but the expected 412s).
    events: AtomicU64,
    expected_412: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    /// Milliseconds per request: creates (which hash a password) and the rest.
    create_ms: Mutex<Vec<f64>>,
    other_ms: Mutex<Vec<f64>>,
}

impl Rest {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_errors.lock()
            && first.len() < 10
        {
            first.push(what);
        }
    }
}

/// One request; `want` is the expected status. Returns the JSON body when it matched.
async fn call(rest: &Rest, what: &str, req: reqwest::RequestBuilder, want: u16) -> Option<Value> {
    let t0 = Instant::now();
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            rest.error(format!("{what}: {e}"));
            return None;
        }
    };
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let took = if what == "create" {
        &rest.create_ms
    } else {
        &rest.other_ms
    };
    if let Ok(mut l) = took.lock() {
        l.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    if status != want {
        rest.error(format!("{what}: HTTP {status} (expected {want}) {body}"));
        return None;
    }
    rest.ok.fetch_add(1, Ordering::Relaxed);
    if status == 412 {
        rest.expected_412.fetch_add(1, Ordering::Relaxed);
    } else {
        rest.events.fetch_add(1, Ordering::Relaxed);
    }
    Some(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A lane: create → patch → patch (If-Match) → stale patch (412) → delete, one request per tick.
async fn rest_lane(
    lane: usize,
    http: reqwest::Client,
    base: String,
    token: String,
    period: Duration,
    stop: Arc<AtomicBool>,
    rest: Arc<Rest>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let auth = format!("Bearer {token}");
    for i in 0.. {
        let username = format!("soak{lane}_{i}");
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let body = json!({"username": username, "email": format!("{username}@soak.example"),
                          "password": "soak-password", "role": "viewer"});
        let req = http
            .post(format!("{base}/api/users"))
            .header("authorization", &auth);
        let Some(user) = call(&rest, "create", req.json(&body), 201).await else {
            continue;
        };
        let url = format!(
            "{base}/api/users/{}",
            user["id"].as_str().unwrap_or_default()
        );
        let steps: [(&str, Option<&str>, u16); 3] = [
            ("patch", None, 200),
            ("patch if-match", Some("\"2\""), 200),
            ("stale patch", Some("\"1\""), 412),
        ];
        for (what, if_match, want) in steps {
            tick.tick().await;
            let mut req = http.patch(&url).header("authorization", &auth);
            if let Some(tag) = if_match {
                req = req.header("if-match", tag);
            }
            let patch = json!({"display_name": format!("{username} {what}")});
            call(&rest, what, req.json(&patch), want).await;
        }
        tick.tick().await;
        let req = http.delete(&url).header("authorization", &auth);
        call(&rest, "delete", req, 204).await;
    }
}

/// Download outcomes.
#[derive(Default)]
struct Downloads {
    ok: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Downloads {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_errors.lock()
            && first.len() < 10
        {
            first.push(what);
        }
    }
}

/// Downloads the file again and again, reading at `bytes_per_sec`, checking length and sha256.
#[allow(clippy::too_many_arguments)]
async fn downloader(
    http: reqwest::Client,
    url: String,
    token: String,
    size: u64,
    sha256: String,
    bytes_per_sec: f64,
    stop: Arc<AtomicBool>,
    downloads: Arc<Downloads>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut resp = match http.get(&url).bearer_auth(&token).send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                downloads.error(format!("download: HTTP {}", r.status()));
                continue;
            }
            Err(e) => {
                downloads.error(format!("download: {e}"));
                continue;
            }
        };
        let started = Instant::now();
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    got += chunk.len() as u64;
                    hasher.update(&chunk);
                    // Pace the reading: the server streams only as fast as the client drains.
                    let due = Duration::from_secs_f64(got as f64 / bytes_per_sec);
                    tokio::time::sleep_until((started + due).into()).await;
                }
                Ok(None) => break,
                Err(e) => {
                    downloads.error(format!("download body after {got} bytes: {e}"));
                    break;
                }
            }
        }
        let digest = hex::encode(hasher.finalize());
        if got != size || digest != sha256 {
            downloads.error(format!("download: {got} bytes, sha256 {digest}"));
            continue;
        }
        downloads.ok.fetch_add(1, Ordering::Relaxed);
        downloads.bytes.fetch_add(got, Ordering::Relaxed);
    }
}

/// What one socket saw, checked as frames arrive.
struct Socket {
    welcome: i64,
    /// Latest durable seq received.
    last: AtomicI64,
    durable: AtomicU64,
    frames: AtomicU64,
    /// A durable seq that was not `last + 1`, or the connection ended.
    problem: Mutex<Option<String>>,
    ended: AtomicBool,
}

impl Socket {
    fn fail(&self, what: String) {
        if let Ok(mut p) = self.problem.lock()
            && p.is_none()
        {
            *p = Some(what);
        }
    }
}

#[derive(serde::Deserialize)]
struct Frame {
    seq: Option<i64>,
}

async fn open_socket(
    url: String,
    token: String,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    i64,
) {
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = 4096;
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false)
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
            let v: Value = serde_json::from_str(t.as_str()).expect("welcome json");
            return (ws, v["seq"].as_i64().expect("welcome seq"));
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() {
    let args = parse_args();
    // Before the runtime starts its threads: they inherit the affinity.
    pin_to_core(1);
    raise_fd_limit(args.connections as u64 * 2 + 1024);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let passed = runtime.block_on(soak(args));
    std::process::exit(if passed { 0 } else { 1 });
}

async fn soak(args: Args) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_log = Arc::new(ServerLog::default());
    let (mut server, addr) = start_server(&args.binary, dir.path(), server_log.clone());
    let pid = server.id();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
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

    // The file to download.
    let size = args.file_mib * 1024 * 1024;
    let content = gen_bytes(size);
    let sha256 = hex::encode(Sha256::digest(&content));
    let boundary = "soak-boundary-7d0c2e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"soak.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    drop(content);
    let file: Value = http
        .post(format!("{base}/api/files"))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("upload json");
    assert_eq!(
        file["sha256"].as_str(),
        Some(sha256.as_str()),
        "upload: {file}"
    );
    let file_url = format!(
        "{base}/api/files/{}/download",
        file["id"].as_str().expect("id")
    );

    // The sockets.
    let started = Instant::now();
    let ws_url = format!("ws://{addr}/api/ws");
    let opened: Vec<_> = stream::iter(0..args.connections)
        .map(|_| open_socket(ws_url.clone(), token.clone()))
        .buffer_unordered(100)
        .collect()
        .await;
    eprintln!(
        "{} sockets authenticated in {:.1}s",
        opened.len(),
        started.elapsed().as_secs_f64()
    );
    let mut sockets = Vec::new();
    for (mut ws, welcome) in opened {
        let socket = Arc::new(Socket {
            welcome,
            last: AtomicI64::new(welcome),
            durable: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            problem: Mutex::new(None),
            ended: AtomicBool::new(false),
        });
        sockets.push(socket.clone());
        tokio::spawn(async move {
            // tungstenite answers the server's pings while reading.
            while let Some(msg) = ws.next().await {
                let text = match msg {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Close(frame)) => {
                        socket.fail(format!("closed by the server: {frame:?}"));
                        break;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        socket.fail(format!("connection error: {e}"));
                        break;
                    }
                };
                socket.frames.fetch_add(1, Ordering::Relaxed);
                let Ok(Frame { seq: Some(seq) }) = serde_json::from_str::<Frame>(text.as_str())
                else {
                    continue;
                };
                let last = socket.last.load(Ordering::Relaxed);
                if seq != last + 1 {
                    socket.fail(format!("seq {seq} after {last}"));
                }
                socket.last.store(seq.max(last), Ordering::Relaxed);
                socket.durable.fetch_add(1, Ordering::Relaxed);
            }
            socket.ended.store(true, Ordering::Relaxed);
        });
    }
    // Every socket holds the events after its own welcome seq; the log is checked from the
    // earliest of them.
    let first_welcome = sockets.iter().map(|s| s.welcome).min().unwrap_or(0);

    // The load.
    let stop = Arc::new(AtomicBool::new(false));
    let rest = Arc::new(Rest::default());
    let downloads = Arc::new(Downloads::default());
    let lane_period = Duration::from_secs_f64(LANES as f64 / args.writes_per_sec);
    let mut tasks = Vec::new();
    for lane in 0..LANES {
        tasks.push(tokio::spawn(rest_lane(
            lane,
            http.clone(),
            base.clone(),
            token.clone(),
            lane_period,
            stop.clone(),
            rest.clone(),
        )));
    }
    for _ in 0..args.downloaders {
        tasks.push(tokio::spawn(downloader(
            http.clone(),
            file_url.clone(),
            token.clone(),
            size as u64,
            sha256.clone(),
            args.download_mib_per_sec * MIB,
            stop.clone(),
            downloads.clone(),
        )));
    }

    // RSS every second for the whole run.
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    let load_started = Instant::now();
    let cpu_before = cpu_ticks(pid);
    let mut rss_mib: Vec<f64> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while load_started.elapsed() < duration {
        tick.tick().await;
        rss_mib.push(proc_status_kib(pid, "VmRSS:") as f64 / 1024.0);
        let n = rss_mib.len();
        if n.is_multiple_of(30) {
            eprintln!(
                "{n:>4}s  RSS {:.1} MiB  writes {}  downloads {}  errors {}",
                rss_mib[n - 1],
                rest.ok.load(Ordering::Relaxed),
                downloads.ok.load(Ordering::Relaxed),
                rest.errors.load(Ordering::Relaxed) + downloads.errors.load(Ordering::Relaxed)
            );
        }
    }
    let load_secs = load_started.elapsed().as_secs_f64();
    let server_cpu = (cpu_ticks(pid) - cpu_before) as f64 / 100.0 / load_secs * 100.0;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let rss_peak = proc_status_kib(pid, "VmHWM:") as f64 / 1024.0;

    // The log's head, then every socket must reach it.
    let page: Value = http
        .get(format!("{base}/api/events?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("events json");
    let head = page["latest_seq"].as_i64().expect("latest_seq");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && sockets
            .iter()
            .any(|s| s.last.load(Ordering::Relaxed) < head && !s.ended.load(Ordering::Relaxed))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The log over the run: gap-free, and one event per write and per download.
    let mut log_problems = Vec::new();
    let (mut user_events, mut completed) = (0u64, 0u64);
    let mut cursor = first_welcome;
    while cursor < head {
        let page: Value = http
            .get(format!("{base}/api/events?after={cursor}&limit=1000"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("events json");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            log_problems.push(format!("the log ends at {cursor}, head is {head}"));
            break;
        }
        for item in items {
            let seq = item["seq"].as_i64().unwrap_or(-1);
            if seq != cursor + 1 && log_problems.len() < 5 {
                log_problems.push(format!("log: seq {seq} after {cursor}"));
            }
            cursor = seq;
            let kind = item["type"].as_str().unwrap_or_default();
            if kind.starts_with("user.") {
                user_events += 1;
            } else if kind == "download.completed" {
                completed += 1;
            }
        }
    }
    let rest_events = rest.events.load(Ordering::Relaxed);
    let downloads_ok = downloads.ok.load(Ordering::Relaxed);
    if user_events != rest_events {
        log_problems.push(format!(
            "{user_events} user events in the log for {rest_events} successful user writes"
        ));
    }
    if completed != downloads_ok {
        log_problems.push(format!(
            "{completed} download.completed in the log for {downloads_ok} downloads"
        ));
    }

    // Sockets: each must hold exactly (welcome, head], in order, and still be open.
    let mut socket_problems = Vec::new();
    let mut frames_total = 0u64;
    for (i, s) in sockets.iter().enumerate() {
        frames_total += s.frames.load(Ordering::Relaxed);
        let (last, durable) = (
            s.last.load(Ordering::Relaxed),
            s.durable.load(Ordering::Relaxed),
        );
        let problem = s.problem.lock().ok().and_then(|p| p.clone());
        let want = (head - s.welcome) as u64;
        if problem.is_some() || last != head || durable != want {
            socket_problems.push(format!(
                "socket {i}: {durable} durable events, last seq {last}, expected {want} up to {head}; {problem:?}"
            ));
        }
    }

    // Memory: the first minute against the last (each at most a third of the run).
    let window = 60.min(rss_mib.len() / 3).max(1);
    let first_min = mean(&rss_mib[..window.min(rss_mib.len())]);
    let last_min = mean(&rss_mib[rss_mib.len().saturating_sub(window)..]);
    let growth = last_min - first_min;

    let sorted = |l: &Mutex<Vec<f64>>| {
        let mut l = l.lock().map(|l| l.clone()).unwrap_or_default();
        l.sort_by(f64::total_cmp);
        l
    };
    let (create_ms, other_ms) = (sorted(&rest.create_ms), sorted(&rest.other_ms));
    let rest_errors = rest.errors.load(Ordering::Relaxed);
    let download_errors = downloads.errors.load(Ordering::Relaxed);
    let events_run = head - first_welcome;
    let checks = [
        (
            "HTTP errors (REST)",
            rest_errors == 0,
            format!("{rest_errors}"),
        ),
        (
            "download errors",
            download_errors == 0,
            format!("{download_errors}"),
        ),
        (
            "event log gap-free, one event per write/download",
            log_problems.is_empty(),
            format!("{events_run} events ({user_events} user.*, {completed} download.completed)"),
        ),
        (
            "sockets with every durable event, in order, once",
            socket_problems.is_empty(),
            format!(
                "{} of {}",
                sockets.len() - socket_problems.len(),
                sockets.len()
            ),
        ),
        (
            "RSS growth first → last minute",
            growth < args.rss_growth_mib,
            format!(
                "{first_min:.1} → {last_min:.1} MiB ({growth:+.1} MiB, {:+.1} %; bound < {} MiB)",
                growth / first_min * 100.0,
                args.rss_growth_mib
            ),
        ),
    ];

    println!();
    println!(
        "soak: {:.1} min, {} sockets, {} writes/s, {} downloaders × {} MiB/s of a {} MiB file",
        load_secs / 60.0,
        args.connections,
        args.writes_per_sec,
        args.downloaders,
        args.download_mib_per_sec,
        args.file_mib
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| REST requests ok (of which expected 412) | {} ({}) |",
        rest.ok.load(Ordering::Relaxed),
        rest.expected_412.load(Ordering::Relaxed)
    );
    for (what, lat) in [
        ("create (argon2id)", &create_ms),
        ("patch / delete", &other_ms),
    ] {
        println!(
            "| REST latency {what} p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
            percentile(lat, 0.5),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
    }
    println!(
        "| downloads ok | {downloads_ok} ({:.0} MiB) |",
        downloads.bytes.load(Ordering::Relaxed) as f64 / MIB
    );
    println!("| durable events in the run | {events_run} |");
    println!(
        "| frames received by all sockets | {frames_total} ({:.0}/s) |",
        frames_total as f64 / load_secs
    );
    println!(
        "| server RSS min / max / peak (VmHWM) | {:.1} / {:.1} / {rss_peak:.1} MiB |",
        rss_mib.iter().copied().fold(f64::INFINITY, f64::min),
        rss_mib.iter().copied().fold(0.0, f64::max)
    );
    println!("| server CPU (core 0) | {server_cpu:.0} % |");
    println!(
        "| server log WARN / ERROR lines | {} / {} |",
        server_log.warnings.load(Ordering::Relaxed),
        server_log.errors.load(Ordering::Relaxed)
    );
    println!();
    println!("| check | result | value |");
    println!("|---|---|---|");
    for (name, ok, value) in &checks {
        println!(
            "| {name} | {} | {value} |",
            if *ok { "pass" } else { "FAIL" }
        );
    }
    let mut details: Vec<String> = Vec::new();
    details.extend(
        rest.first_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
    );
    details.extend(
        downloads
            .first_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
    );
    details.extend(log_problems);
    details.extend(socket_problems.into_iter().take(10));
    details.extend(
        server_log
            .first
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
    );
    for d in &details {
        eprintln!("  {d}");
    }

    let _ = server.kill();
    let _ = server.wait();
    checks.iter().all(|(_, ok, _)| *ok)
}
