//! `GET /api/ws`: the only transport-aware part of realtime. Authenticates the first message,
//! registers with the hub, then pumps the connection's queue to the socket and answers the
//! client (ping, resume, subscribe), with heartbeats and session re-checks.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, Stream, StreamExt, stream::SplitSink, task::AtomicWaker};
use poem::{
    IntoResponse, handler,
    web::{
        Data,
        websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream},
    },
};

use super::{
    event::{Actor, ClientMessage, CloseCode, ServerMessage, Topic, TopicSet},
    hub::{CloseSignal, Hub, Outbound},
    log,
};
use crate::{
    auth::{guard, sessions::Principal},
    state::AppState,
    users::{dto::User, service as users},
};

/// Durable live frames wait this long after `welcome` for the client's first message, so a
/// `resume` sent as soon as `welcome` arrives replays before anything live (docs/API.md §6).
const HOLD_LIVE: Duration = Duration::from_millis(250);
/// Server heartbeat period; a peer silent for twice this long is dropped.
const HEARTBEAT: Duration = Duration::from_secs(30);
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Events per query while replaying a `resume`.
const REPLAY_BATCH: u64 = 500;
/// Frames written to the socket are gathered up to this many bytes before a write: a socket
/// with several frames ready gets them in one syscall. (tungstenite keeps the buffer's capacity,
/// so this also bounds what a connection that once had a backlog holds on to.)
const WRITE_BUFFER: usize = 8 * 1024;
/// Queued frames gathered into one flush at most, so one backlogged connection does not hold
/// the worker for long.
const BATCH_FRAMES: usize = 64;
/// Largest client message accepted (client messages are tiny).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Client messages a connection may send at once, and per second after that (a token bucket).
/// The panel sends three or four when it connects (auth, resume, subscribe) and then a ping
/// every 25 s, so this is ~500 times what a real client needs, while every message costs the
/// server a reply or, for `resume`, database reads: a client beyond it is broken or hostile.
const CLIENT_BURST: f64 = 100.0;
const CLIENT_RATE_PER_SEC: f64 = 20.0;
/// How long a client that broke the rules gets to answer our close frame before the socket is
/// dropped (so the close frame is not lost to a reset while its unread messages pile up).
const VIOLATION_LINGER: Duration = Duration::from_secs(1);

#[handler]
pub async fn endpoint(
    req: &poem::Request,
    ws: WebSocket,
    state: Data<&AppState>,
) -> poem::Result<impl IntoResponse> {
    let settings = &state.settings();
    if !crate::origin::websocket_allowed(
        req,
        settings.public_url.as_deref(),
        &settings.allowed_origins,
    ) {
        tracing::info!(origin = ?req.headers().get("origin"), "websocket refused: origin not allowed");
        return Err(crate::error::ApiError::from(crate::error::Error::Forbidden(
            "this origin may not open the WebSocket (see --allowed-origins)",
        ))
        .into());
    }
    let state = state.clone();
    // Small buffers: an idle connection should cost kilobytes, not the 128 KiB defaults.
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = 4096;
    config.write_buffer_size = WRITE_BUFFER;
    config.max_message_size = Some(MAX_CLIENT_MESSAGE);
    config.max_frame_size = Some(MAX_CLIENT_MESSAGE);
    Ok(ws
        .config(config)
        .on_upgrade(move |socket| async move { run(socket, state).await }))
}

type Sink = SplitSink<WebSocketStream, Message>;

/// Lets a connection task poll a source only when that source woke it. The task is woken for
/// every queued frame; without a gate each wake would also re-poll the socket's read side and
/// the heartbeat timer, down to registering the same wakers again, for every socket and event.
struct Gate {
    shared: Arc<GateShared>,
    /// Given to the gated source: wakes the task and opens the gate.
    waker: Waker,
}

struct GateShared {
    open: AtomicBool,
    task: AtomicWaker,
}

impl Wake for GateShared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.open.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Gate {
    fn new() -> Self {
        let shared = Arc::new(GateShared {
            // Open: the source has not been polled yet.
            open: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(shared.clone());
        Self { shared, waker }
    }

    /// Polls `source` with the gate's waker if it woke us since it last returned `Pending`
    /// (or has not returned `Pending` yet); `Pending` otherwise.
    fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        source: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.shared.task.register(cx.waker());
        // Closed before polling: a wake that comes during or after the poll opens it again.
        if !self.shared.open.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let polled = source(&mut Context::from_waker(&self.waker));
        if polled.is_ready() {
            // A source that yielded may have more without waking anyone.
            self.shared.open.store(true, Ordering::Release);
        }
        polled
    }
}

/// A stream behind a [`Gate`].
struct Gated<S> {
    inner: S,
    gate: Gate,
}

impl<S> Gated<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            gate: Gate::new(),
        }
    }
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        this.gate.poll(cx, |cx| inner.poll_next_unpin(cx))
    }
}

struct Connection {
    sink: Sink,
    close: Arc<CloseSignal>,
    /// Highest durable seq delivered (or covered by the live boundary).
    last: i64,
    /// Lowest durable seq sent so far: what was sent is `first_sent..=last` without a gap, so a
    /// later `resume` can only be honoured in order if it asks for nothing before it.
    first_sent: Option<i64>,
    topics: TopicSet,
}

impl Connection {
    /// Queues a durable frame (seq must be above `last`); see [`Self::feed`].
    async fn feed_durable(&mut self, seq: i64, text: String) -> bool {
        self.first_sent.get_or_insert(seq);
        self.last = seq;
        self.feed(text).await
    }

    /// Sends one text frame; false if the peer is gone or the hub asked us to close meanwhile.
    async fn send(&mut self, text: String) -> bool {
        self.feed(text).await && self.flush().await
    }

    /// Queues one text frame in the write buffer (written once it holds `WRITE_BUFFER` bytes,
    /// or by [`Self::flush`]); false if the peer is gone or the hub asked us to close.
    async fn feed(&mut self, text: String) -> bool {
        // Biased: the close signal is only looked at when the socket makes us wait, so a frame
        // that goes straight out costs no waiter registration.
        tokio::select! {
            biased;
            r = self.sink.feed(Message::Text(text)) => r.is_ok(),
            _ = self.close.wait() => false,
        }
    }

    /// Writes everything fed so far to the socket.
    async fn flush(&mut self) -> bool {
        tokio::select! {
            biased;
            r = self.sink.flush() => r.is_ok(),
            _ = self.close.wait() => false,
        }
    }

    async fn send_control(&mut self, msg: &ServerMessage) -> bool {
        self.send(msg.to_text()).await
    }
}

async fn close_with(sink: &mut Sink, code: CloseCode) {
    // A slow consumer's close frame queues behind everything its socket still holds: give the
    // client time to drain that backlog, so it learns the code (and resumes) rather than
    // seeing the connection vanish.
    let wait = if code == CloseCode::SlowConsumer {
        SLOW_CLOSE_WAIT
    } else {
        CLOSE_WAIT
    };
    close_within(sink, code.code(), code.reason(), wait).await;
}

/// How long sending a close frame may take before the socket is simply dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
const SLOW_CLOSE_WAIT: Duration = Duration::from_secs(15);

async fn close_within(sink: &mut Sink, code: u16, reason: &str, wait: Duration) {
    let frame = Message::Close(Some((code.into(), reason.to_owned())));
    // A peer that stopped reading must not hold the task for long.
    let _ = tokio::time::timeout(wait, async {
        let _ = sink.send(frame).await;
        let _ = sink.close().await;
    })
    .await;
}

/// A client that broke the protocol's rules, closed with a standard RFC 6455 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    /// More messages than the rate limit allows: 1008 (policy violation).
    RateLimited,
    /// A message over `MAX_CLIENT_MESSAGE`: 1009 (message too big).
    TooBig,
    /// A text message that is not UTF-8: 1007 (invalid frame payload data).
    NotUtf8,
    /// Any other framing error: 1002 (protocol error).
    Protocol,
}

impl Violation {
    /// The violation behind a read error, if the client caused it; `None` for a connection
    /// that was merely dropped (I/O errors keep their kind; poem reports protocol errors as
    /// `Other` with tungstenite's message, and a TCP close without a close frame as
    /// "Connection reset without closing handshake").
    fn of(e: &std::io::Error) -> Option<Self> {
        if e.kind() != std::io::ErrorKind::Other {
            return None;
        }
        let text = e.to_string();
        if text.contains("Connection reset without closing handshake") {
            return None;
        }
        Some(if text.starts_with("Space limit exceeded") {
            Self::TooBig
        } else if text.starts_with("UTF-8 encoding error") {
            Self::NotUtf8
        } else {
            Self::Protocol
        })
    }

    fn close_code(self) -> CloseCode {
        match self {
            Self::RateLimited => CloseCode::RateLimited,
            Self::TooBig => CloseCode::TooBig,
            Self::NotUtf8 => CloseCode::InvalidData,
            Self::Protocol => CloseCode::ProtocolError,
        }
    }
}

/// Client messages allowed: `CLIENT_BURST` at once, refilled at `CLIENT_RATE_PER_SEC`.
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new() -> Self {
        Self {
            tokens: CLIENT_BURST,
            refilled: Instant::now(),
        }
    }

    /// Takes a token for one message; false when none is left.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * CLIENT_RATE_PER_SEC;
        self.tokens = (self.tokens + earned).min(CLIENT_BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

async fn authenticate(
    state: &AppState,
    first: Option<Message>,
) -> Option<(Principal, serde_json::Value)> {
    let Some(Message::Text(text)) = first else {
        return None;
    };
    let Ok(ClientMessage::Auth { token }) = serde_json::from_str(&text) else {
        return None;
    };
    // An admin who must still enrol a second factor gets no live stream either.
    let principal = guard::resolve(state, &token)
        .await
        .ok()
        .filter(|p| !p.mfa_pending)?;
    let user = users::get(state.db().conn(), &principal.user_id)
        .await
        .ok()?;
    Some((principal, User::from(user).to_json()))
}

async fn run(socket: WebSocketStream, state: AppState) {
    let realtime = state.realtime().clone();
    let _active = realtime.tracker().enter();
    let (mut sink, stream) = socket.split();
    let mut stream = Gated::new(stream);

    let first = tokio::time::timeout(realtime.settings().auth_timeout, stream.next()).await;
    let first = match first {
        Ok(Some(Ok(msg))) => Some(msg),
        _ => None,
    };
    let Some((principal, user_json)) = authenticate(&state, first).await else {
        close_with(&mut sink, CloseCode::Unauthorized).await;
        return;
    };
    let actor = Actor {
        id: principal.user_id.clone(),
        username: principal.username.clone(),
    };
    let Some(hub) = realtime.hub().cloned() else {
        close_with(&mut sink, CloseCode::GoingAway).await;
        return;
    };
    let Some(mut reg) = hub.register(actor, principal.session_id.clone()).await else {
        close_with(&mut sink, CloseCode::GoingAway).await;
        return;
    };
    let _online = realtime.tracker().online(
        &principal.user_id,
        principal.role == crate::users::Role::Admin,
    );
    let mut conn = Connection {
        sink,
        close: reg.close.clone(),
        last: reg.live_after,
        first_sent: None,
        topics: TopicSet::ALL,
    };
    let welcome = ServerMessage::Welcome {
        user: user_json,
        seq: reg.live_after,
        epoch: realtime.epoch().to_owned(),
    };
    // The welcome and the presence snapshot leave in one write.
    let mut ok = conn.feed(welcome.to_text()).await;
    for frame in std::mem::take(&mut reg.presence) {
        ok = ok && conn.feed(frame.to_string()).await;
    }
    ok = ok && conn.flush().await;

    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let beat_gate = Gate::new();
    let mut last_heard = Instant::now();
    let mut close_code = None;
    let mut violation = None;
    let mut bucket = TokenBucket::new();
    // The queue is not read until the client's first message or HOLD_LIVE, whichever is first;
    // meanwhile it fills, and a full one becomes a catch-up from the log, so nothing is lost.
    let mut holding = true;
    let hold = tokio::time::sleep(HOLD_LIVE);
    // Made once, not on every turn of the loop, and polled only once it woke us: a turn for a
    // queued frame then does not lock the close signal's waiter list.
    let close = reg.close.clone();
    let closed = close.wait();
    let close_gate = Gate::new();
    // A socket opened with an API key that expires closes when it does.
    let key_expiry = principal
        .key
        .as_ref()
        .and_then(|k| k.expires_at)
        .map(|t| (t - chrono::Utc::now()).to_std().unwrap_or_default());
    let expired = tokio::time::sleep(key_expiry.unwrap_or(Duration::from_secs(365 * 24 * 3600)));
    tokio::pin!(hold, closed, expired);
    while ok {
        tokio::select! {
            biased;
            code = std::future::poll_fn(|cx| close_gate.poll(cx, |cx| closed.as_mut().poll(cx))) => {
                close_code = Some(code);
                break;
            }
            () = &mut hold, if holding => holding = false,
            () = &mut expired, if key_expiry.is_some() => {
                close_code = Some(CloseCode::Unauthorized);
                break;
            }
            out = reg.queue.recv(), if !holding => match out {
                Some(first) => ok = deliver(&state, &mut conn, &mut reg.queue, first).await,
                None => {
                    close_code = Some(CloseCode::SlowConsumer);
                    break;
                }
            },
            incoming = stream.next() => {
                last_heard = Instant::now();
                if matches!(incoming, Some(Ok(ref m)) if !m.is_close()) && !bucket.take() {
                    violation = Some(Violation::RateLimited);
                    break;
                }
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        ok = handle_client(&state, &hub, &mut conn, reg.id, &text).await;
                        holding = false;
                    }
                    Some(Err(e)) => {
                        violation = Violation::of(&e);
                        if violation.is_none() {
                            tracing::info!(user = %principal.username, error = %e, "websocket dropped by the client");
                        }
                        break;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        ok = bad_message(&mut conn, "binary frames are not supported: send JSON text frames").await;
                        holding = false;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    // Pings are answered by the protocol layer; pongs only count as life.
                    Some(Ok(_)) => {}
                }
            }
            _ = std::future::poll_fn(|cx| beat_gate.poll(cx, |cx| heartbeat.poll_tick(cx))) => {
                if last_heard.elapsed() > IDLE_LIMIT {
                    close_code = Some(CloseCode::IdleTimeout);
                    break;
                }
                // Catches revocations this instance was not told about (e.g. the CLI).
                if guard::check_session(&state, &principal).await.is_err() {
                    close_code = Some(CloseCode::Unauthorized);
                    break;
                }
                ok = tokio::select! {
                    r = conn.sink.send(Message::Ping(Vec::new())) => r.is_ok(),
                    _ = conn.close.wait() => false,
                };
            }
        }
    }
    hub.unregister(reg.id);
    if let Some(v) = violation {
        tracing::info!(user = %principal.username, violation = ?v, "websocket closed: client broke the protocol");
        close_with(&mut conn.sink, v.close_code()).await;
        // Read (and drop) what the client still sends until it answers our close: closing the
        // socket with unread data would reset it, and the client might never see the code.
        let _ = tokio::time::timeout(VIOLATION_LINGER, async {
            while let Some(Ok(msg)) = stream.next().await {
                if msg.is_close() {
                    break;
                }
            }
        })
        .await;
        return;
    }
    // The hub may have asked us to close while we were sending.
    let code = close_code.or_else(|| CloseCode::from_code(conn.close.code()));
    if let Some(code) = code {
        close_with(&mut conn.sink, code).await;
    }
}

/// Writes `first` and whatever else the queue already holds (up to `BATCH_FRAMES`) with one
/// flush: a backlogged socket gets its frames in one write instead of one write each. False
/// when the connection should end.
async fn deliver(
    state: &AppState,
    conn: &mut Connection,
    queue: &mut tokio::sync::mpsc::Receiver<Outbound>,
    first: Outbound,
) -> bool {
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(out) = next.take() {
        taken += 1;
        let ok = match out {
            Outbound::Durable { seq, text } if seq > conn.last => {
                conn.feed_durable(seq, text.to_string()).await
            }
            Outbound::Durable { .. } => true,
            Outbound::Ephemeral { text } => conn.feed(text.to_string()).await,
            Outbound::CatchUp { after, upto } => {
                // Replayed after what is fed so far, so the order stays that of the queue.
                let from = after.max(conn.last);
                let ok = replay(state, conn, from, upto).await;
                conn.last = conn.last.max(upto);
                ok
            }
        };
        if !ok {
            return false;
        }
        // A close asked for meanwhile goes first, as it would between two turns of the loop.
        if taken < BATCH_FRAMES && conn.close.code() == 0 {
            next = queue.try_recv().ok();
        }
    }
    conn.flush().await
}

/// Answers one client message; false when the connection should end.
async fn handle_client(
    state: &AppState,
    hub: &Hub,
    conn: &mut Connection,
    id: u64,
    text: &str,
) -> bool {
    let msg = match serde_json::from_str::<ClientMessage>(text) {
        Ok(m) => m,
        Err(e) => return bad_message(conn, &format!("not a valid client message: {e}")).await,
    };
    match msg {
        ClientMessage::Ping => conn.send_control(&ServerMessage::Pong).await,
        ClientMessage::Auth { .. } => bad_message(conn, "already authenticated").await,
        ClientMessage::Subscribe { topics } => {
            let mut set = 0u8;
            for t in &topics {
                match Topic::parse(t) {
                    Some(topic) => set |= topic.bit(),
                    None => return bad_message(conn, &format!("unknown topic '{t}'")).await,
                }
            }
            conn.topics = TopicSet(set);
            hub.set_topics(id, conn.topics);
            let reply = ServerMessage::Subscribed {
                topics: conn.topics.names(),
            };
            conn.send_control(&reply).await
        }
        ClientMessage::Resume { after, epoch } => {
            // Seqs of another log (before a restore) say nothing about this one.
            if epoch.is_some_and(|e| e != state.realtime().epoch()) {
                return conn
                    .send_control(&ServerMessage::Resync { seq: conn.last })
                    .await;
            }
            resume(state, conn, after).await
        }
    }
}

async fn bad_message(conn: &mut Connection, message: &str) -> bool {
    let err = ServerMessage::Error {
        code: "bad_message".into(),
        message: message.into(),
    };
    conn.send_control(&err).await
}

/// Replays `(after, conn.last]` from the log; the queue then continues after `conn.last`. The
/// stream stays strictly increasing: if durable frames after `after`'s successor were already
/// sent (a `resume` that came after live delivery began), the missed ones cannot be sent in
/// order any more, and the client is told to `resync` instead.
async fn resume(state: &AppState, conn: &mut Connection, after: i64) -> bool {
    let db = state.db().conn();
    let (head, oldest) = match (log::head(db).await, log::oldest(db).await) {
        (Ok(h), Ok(o)) => (h, o),
        _ => return bad_message(conn, "event log unavailable, try again").await,
    };
    let lost = match oldest {
        Some(oldest) => after + 1 < oldest,
        None => after < head,
    };
    if after < 0 || after > head || lost {
        return conn
            .send_control(&ServerMessage::Resync { seq: conn.last })
            .await;
    }
    if after >= conn.last {
        // The client has seen at least as far as this connection (e.g. on another instance):
        // skip what it has.
        conn.last = after;
        return true;
    }
    match conn.first_sent {
        // Everything up to `after` it has, everything from there to `last` it was sent.
        Some(first) if after >= first - 1 => true,
        Some(_) => {
            conn.send_control(&ServerMessage::Resync { seq: conn.last })
                .await
        }
        None => {
            let upto = conn.last;
            let ok = replay(state, conn, after, upto).await;
            conn.last = conn.last.max(upto);
            ok
        }
    }
}

/// Sends the logged events `(after, upto]` that match the connection's topics, in order.
async fn replay(state: &AppState, conn: &mut Connection, after: i64, upto: i64) -> bool {
    let db = state.db().conn();
    let mut cursor = after;
    while cursor < upto {
        let rows = match log::range(db, cursor, upto, REPLAY_BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                // Without these events the stream would have a gap: end it, the client resumes.
                tracing::warn!(error = %e, "replay failed");
                return false;
            }
        };
        let Some(last) = rows.last().map(|r| r.seq) else {
            break;
        };
        for row in &rows {
            let wanted = super::event::EventType::parse(&row.kind)
                .is_none_or(|k| conn.topics.contains(k.topic()));
            if wanted && !conn.feed_durable(row.seq, log::to_frame(row)).await {
                return false;
            }
        }
        // One write per batch read (and whenever the write buffer fills).
        if !conn.flush().await {
            return false;
        }
        cursor = last;
    }
    true
}
