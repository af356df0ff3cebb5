//! WebSockets and the event log: [`WsClient`] on `/api/ws` (connect, auth, reads with a
//! timeout, close), the frame helpers (`frame_seq`, `durable`, `assert_event_envelope`,
//! `assert_durable_event`, `assert_gap_free`, …), [`TestApp::ws`] and the `/api/events` helpers,
//! and a [`Collector`] that reads a WebSocket in the background.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::http::assert_utc_timestamp;
use super::launcher::TestApp;

/// Default wait for one expected WebSocket frame.
pub const WS_TIMEOUT: Duration = Duration::from_secs(10);

/// What reading a WebSocket produced.
#[derive(Debug, Clone)]
pub enum WsRead {
    /// A text frame, parsed as JSON.
    Json(Value),
    /// A close frame: its code (`None` when it carried none) and reason.
    Close(Option<u16>, String),
    /// The connection ended without a close frame (EOF or error).
    Ended(String),
}

/// A WebSocket client connection to `/api/ws`.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    /// Name used in failure messages.
    pub label: String,
    /// Set once a close frame or the end of the stream was read.
    pub ended: Option<WsRead>,
}

impl WsClient {
    /// Opens a WebSocket to `ws://addr/api/ws` (no auth message sent yet).
    pub async fn connect(addr: SocketAddr, label: &str) -> WsClient {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("[{label}] TCP connect to {addr}: {e}"));
        WsClient::handshake(tcp, addr, label).await
    }

    /// Like [`WsClient::connect`], with the socket's receive buffer set to `bytes` before
    /// connecting (for slow-consumer tests: the kernel can then hold only a few frames).
    pub async fn connect_with_recv_buffer(addr: SocketAddr, label: &str, bytes: u32) -> WsClient {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .unwrap_or_else(|e| panic!("[{label}] create socket: {e}"));
        socket
            .set_recv_buffer_size(bytes)
            .unwrap_or_else(|e| panic!("[{label}] set_recv_buffer_size({bytes}): {e}"));
        let tcp = socket
            .connect(addr)
            .await
            .unwrap_or_else(|e| panic!("[{label}] TCP connect to {addr}: {e}"));
        WsClient::handshake(tcp, addr, label).await
    }

    async fn handshake(tcp: tokio::net::TcpStream, addr: SocketAddr, label: &str) -> WsClient {
        let url = format!("ws://{addr}/api/ws");
        let handshake = tokio_tungstenite::client_async(url.as_str(), tcp);
        let (stream, _response) = match tokio::time::timeout(WS_TIMEOUT, handshake).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => panic!("[{label}] WebSocket handshake with {url} failed: {e}"),
            Err(_) => panic!("[{label}] WebSocket handshake with {url} timed out"),
        };
        WsClient {
            stream,
            label: label.to_owned(),
            ended: None,
        }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let label = &self.label;
        match tokio::time::timeout(WS_TIMEOUT, self.stream.send(Message::text(text))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("[{label}] sending {text:?} failed: {e}"),
            Err(_) => panic!("[{label}] sending {text:?} timed out"),
        }
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends `{"type":"auth","token":token}`.
    pub async fn send_auth(&mut self, token: &str) {
        self.send_json(&json!({"type": "auth", "token": token}))
            .await;
    }

    /// Reads the next text frame, close frame or end of stream; `None` if nothing arrives
    /// within `within`. WebSocket ping/pong frames are skipped (tungstenite answers pings).
    /// Cancel-safe. Panics on a binary frame or a text frame that is not JSON.
    pub async fn read(&mut self, within: Duration) -> Option<WsRead> {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        if let Some(ended) = &self.ended {
            return Some(ended.clone());
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            let read = match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!(
                            "[{}] server sent a text frame that is not JSON ({e}): {:?}",
                            self.label,
                            text.as_str()
                        )
                    });
                    return Some(WsRead::Json(value));
                }
                Some(Ok(Message::Binary(bytes))) => panic!(
                    "[{}] server sent a binary frame ({} bytes); every message must be a JSON text frame",
                    self.label,
                    bytes.len()
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(f) => WsRead::Close(Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                    None => WsRead::Close(None, String::new()),
                },
                Some(Err(e)) => WsRead::Ended(format!("error: {e}")),
                None => WsRead::Ended("end of stream".to_owned()),
            };
            self.ended = Some(read.clone());
            return Some(read);
        }
    }

    /// The next JSON frame within `within`; panics (naming `what`) on timeout or close.
    pub async fn next_json_within(&mut self, within: Duration, what: &str) -> Value {
        match self.read(within).await {
            Some(WsRead::Json(v)) => v,
            Some(other) => panic!(
                "[{}] waiting for {what}: connection ended instead: {other:?}",
                self.label
            ),
            None => panic!(
                "[{}] waiting for {what}: nothing arrived within {within:?}",
                self.label
            ),
        }
    }

    /// The next JSON frame (any type) within [`WS_TIMEOUT`].
    pub async fn next_json(&mut self, what: &str) -> Value {
        self.next_json_within(WS_TIMEOUT, what).await
    }

    /// The next JSON frame whose type is not `presence.*` (presence frames are skipped).
    pub async fn next_event(&mut self, what: &str) -> Value {
        loop {
            let v = self.next_json(what).await;
            if !is_presence(&v) {
                return v;
            }
        }
    }

    /// Reads until a close frame arrives within `within` and asserts its code; returns the JSON
    /// frames read before it.
    pub async fn expect_close(&mut self, code: u16, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Some(WsRead::Json(v)) => before.push(v),
                Some(WsRead::Close(got, reason)) => {
                    assert_eq!(
                        got,
                        Some(code),
                        "[{}] expected close code {code}, got close frame {got:?} (reason {reason:?}) after {} frames",
                        self.label,
                        before.len()
                    );
                    return before;
                }
                Some(WsRead::Ended(how)) => panic!(
                    "[{}] expected close code {code}, but the connection ended without a close frame ({how}) after {} frames",
                    self.label,
                    before.len()
                ),
                None => panic!(
                    "[{}] expected close code {code} within {within:?}; still open after {} frames (last: {:?})",
                    self.label,
                    before.len(),
                    before.last()
                ),
            }
        }
    }

    /// Sends `{"type":"ping"}` and returns every JSON frame received before the
    /// `{"type":"pong"}`, which must arrive within [`WS_TIMEOUT`].
    pub async fn ping_barrier(&mut self) -> Vec<Value> {
        self.send_json(&json!({"type": "ping"})).await;
        let mut before = Vec::new();
        loop {
            let v = self.next_json("pong").await;
            if v == json!({"type": "pong"}) {
                return before;
            }
            before.push(v);
        }
    }

    /// Sends a close frame (code 1000) and reads until the server's close or the end.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WS_TIMEOUT, self.stream.close(None)).await;
        let deadline = tokio::time::Instant::now() + WS_TIMEOUT;
        while self.ended.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.read(left).await.is_none() {
                break;
            }
        }
    }
}

/// True for `presence.*` frames.
pub fn is_presence(frame: &Value) -> bool {
    frame["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("presence."))
}

/// The `seq` of a durable event frame (`None` for anything else).
pub fn frame_seq(frame: &Value) -> Option<i64> {
    frame.get("seq").and_then(Value::as_i64)
}

/// The durable event frames (non-null `seq`) of `frames`, in order.
pub fn durable(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| frame_seq(f).is_some())
        .cloned()
        .collect()
}

/// Asserts the envelope of an event frame: exactly the keys `type, seq, ts, actor, data`,
/// `ts` RFC 3339 UTC, `actor` null or exactly `{id, username}` strings, `data` an object.
#[track_caller]
pub fn assert_event_envelope(frame: &Value) {
    let obj = frame
        .as_object()
        .unwrap_or_else(|| panic!("event frame should be an object: {frame}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["actor", "data", "seq", "ts", "type"],
        "event frame keys: {frame}"
    );
    assert!(frame["type"].is_string(), "type must be a string: {frame}");
    assert!(
        frame["seq"].is_null() || frame["seq"].as_i64().is_some_and(|s| s >= 1),
        "seq must be null or a positive integer: {frame}"
    );
    assert_utc_timestamp(&frame["ts"], "event ts");
    let actor = &frame["actor"];
    if !actor.is_null() {
        let a = actor
            .as_object()
            .unwrap_or_else(|| panic!("actor must be null or an object: {frame}"));
        assert_eq!(
            a.len(),
            2,
            "actor must be exactly {{id, username}}: {frame}"
        );
        assert!(
            actor["id"].is_string() && actor["username"].is_string(),
            "actor must be {{id, username}} strings: {frame}"
        );
    }
    assert!(frame["data"].is_object(), "data must be an object: {frame}");
}

/// Asserts a durable event frame exactly: envelope, `type`, `seq`, `actor` and `data`.
#[track_caller]
pub fn assert_durable_event(frame: &Value, kind: &str, seq: i64, actor: &Value, data: &Value) {
    assert_event_envelope(frame);
    let expected = json!({
        "type": kind,
        "seq": seq,
        "ts": frame["ts"].clone(),
        "actor": actor,
        "data": data,
    });
    assert_eq!(frame, &expected, "unexpected event frame");
}

/// Asserts `frames` are durable events with seq `first, first+1, …` (gap-free, no duplicates)
/// ending at `last`.
#[track_caller]
pub fn assert_gap_free(frames: &[Value], first: i64, last: i64, what: &str) {
    let seqs: Vec<Option<i64>> = frames.iter().map(frame_seq).collect();
    let expected: Vec<Option<i64>> = (first..=last).map(Some).collect();
    if seqs != expected {
        let mismatch = seqs
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(seqs.len().min(expected.len()));
        panic!(
            "{what}: expected seq {first}..={last} ({} events) gap-free, got {} frames; first difference at index {mismatch}: got {:?}, expected {:?}; seqs around it: {:?}",
            expected.len(),
            seqs.len(),
            seqs.get(mismatch),
            expected.get(mismatch),
            &seqs[mismatch.saturating_sub(3)..(mismatch + 4).min(seqs.len())]
        );
    }
}

/// A user's actor object `{id, username}` from a User.
pub fn actor_of(user: &Value) -> Value {
    json!({"id": user["id"], "username": user["username"]})
}

impl TestApp {
    /// `ws://…/api/ws` with an auth message for `token`; asserts the first frame is a
    /// `welcome` and returns it. Frames after the welcome are left unread.
    pub async fn ws(&self, token: &str, label: &str) -> (WsClient, Value) {
        ws_auth(self.addr, token, label).await
    }

    /// The actor object of the bootstrap admin.
    pub fn admin_actor(&self) -> Value {
        json!({"id": self.admin_id, "username": "admin"})
    }

    /// `GET /api/events{query}` with `token`; panics unless 200.
    pub async fn events_as(&self, query: &str, token: &str) -> Value {
        let resp = self.get(&format!("/api/events{query}"), token).await;
        resp.expect_status(200);
        assert!(
            resp.body["items"].is_array() && resp.body["latest_seq"].is_i64(),
            "GET /api/events{query}: expected {{items, latest_seq}}, got {}",
            resp.text
        );
        resp.body
    }

    /// `GET /api/events{query}` as admin.
    pub async fn events(&self, query: &str) -> Value {
        self.events_as(query, &self.admin_token).await
    }

    /// `latest_seq` of `GET /api/events`.
    pub async fn latest_seq(&self) -> i64 {
        self.events("?limit=1").await["latest_seq"]
            .as_i64()
            .expect("latest_seq is an integer")
    }

    /// Every event of the log with seq > `after`, read page by page (limit 1000).
    pub async fn event_log_after(&self, after: i64) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut cursor = after;
        loop {
            let page = self.events(&format!("?after={cursor}&limit=1000")).await;
            let items = page["items"].as_array().expect("items array").clone();
            let latest = page["latest_seq"].as_i64().expect("latest_seq");
            let Some(last) = items.last().and_then(frame_seq) else {
                return out;
            };
            cursor = last;
            out.extend(items);
            if cursor >= latest {
                return out;
            }
        }
    }
}

/// Connects to `addr`, authenticates with `token` and returns the client and the welcome.
pub async fn ws_auth(addr: SocketAddr, token: &str, label: &str) -> (WsClient, Value) {
    let mut ws = WsClient::connect(addr, label).await;
    ws.send_auth(token).await;
    let welcome = ws.next_json("welcome").await;
    assert_eq!(
        welcome["type"], "welcome",
        "[{label}] first frame after auth should be the welcome: {welcome}"
    );
    (ws, welcome)
}

/// The `seq` of a welcome frame.
#[track_caller]
pub fn welcome_seq(welcome: &Value) -> i64 {
    welcome["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("welcome.seq should be an integer: {welcome}"))
}

/// A WebSocket read continuously by a background task, so the server never sees it as slow.
pub struct Collector {
    label: String,
    target: Arc<std::sync::atomic::AtomicI64>,
    frames: Arc<Mutex<Vec<Value>>>,
    handle: tokio::task::JoinHandle<(WsClient, Option<WsRead>)>,
}

/// What a [`Collector`] gathered.
pub struct Collected {
    pub ws: WsClient,
    /// Every JSON frame read (including presence and pongs), in order.
    pub frames: Vec<Value>,
}

impl Collector {
    /// Starts reading `ws` in the background.
    pub fn spawn(mut ws: WsClient) -> Collector {
        use std::sync::atomic::Ordering;
        let label = ws.label.clone();
        let target = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (task_target, task_frames) = (target.clone(), frames.clone());
        let handle = tokio::spawn(async move {
            let mut last_seq = i64::MIN;
            loop {
                if last_seq >= task_target.load(Ordering::SeqCst) {
                    return (ws, None);
                }
                match ws.read(Duration::from_millis(50)).await {
                    None => continue,
                    Some(WsRead::Json(v)) => {
                        if let Some(seq) = frame_seq(&v) {
                            last_seq = last_seq.max(seq);
                        }
                        task_frames.lock().expect("frames lock").push(v);
                    }
                    Some(end) => return (ws, Some(end)),
                }
            }
        });
        Collector {
            label,
            target,
            frames,
            handle,
        }
    }

    /// A snapshot of the frames read so far.
    pub fn frames(&self) -> Vec<Value> {
        self.frames.lock().expect("frames lock").clone()
    }

    /// Waits (up to `within`) until a durable event with seq ≥ `last_seq` was read, and returns
    /// the connection with everything read. Panics if the connection ended or time ran out.
    pub async fn finish(self, last_seq: i64, within: Duration) -> Collected {
        self.target
            .store(last_seq, std::sync::atomic::Ordering::SeqCst);
        let label = self.label.clone();
        let mut handle = self.handle;
        let (ws, end) = match tokio::time::timeout(within, &mut handle).await {
            Ok(joined) => joined.unwrap_or_else(|e| panic!("[{label}] collector task failed: {e}")),
            Err(_) => {
                handle.abort();
                let frames = self.frames.lock().expect("frames lock").clone();
                let last = durable(&frames).last().cloned();
                panic!(
                    "[{label}] did not receive seq {last_seq} within {within:?}; read {} frames, last durable: {last:?}",
                    frames.len()
                );
            }
        };
        let frames = self.frames.lock().expect("frames lock").clone();
        if let Some(end) = end {
            let last = durable(&frames).last().and_then(frame_seq);
            panic!(
                "[{label}] connection ended ({end:?}) before seq {last_seq} arrived; last durable seq read: {last:?}"
            );
        }
        Collected { ws, frames }
    }
}
