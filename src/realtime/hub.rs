//! The hub: one task that owns the registry of connections and fans events out to them.
//!
//! It knows nothing of HTTP. Services tell it "the log advanced to seq N" after they commit; the
//! hub reads the new events from the log in order, serialises each once, and offers the text to
//! every interested connection's bounded queue. A connection whose queue is full never slows
//! anyone else down: it catches up from the log when it has room, or is closed with 4008 if it
//! stays full. Ephemeral events (progress, presence) skip the log.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU16, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};

use super::{
    event::{Actor, CloseCode, EventType, Revoke, Topic, TopicSet, frame_text},
    log,
};
use crate::{db::Db, metrics};

/// Events read from the log per query while catching up.
const LOG_BATCH: u64 = 500;
/// A connection whose queue stays full this long is closed with 4008.
const LAG_LIMIT: Duration = Duration::from_secs(3);
/// How often lagging connections are offered a catch-up.
const LAG_CHECK: Duration = Duration::from_millis(20);
/// How often presence changes are announced (coalesced per user)...
const PRESENCE_BATCH: Duration = Duration::from_millis(200);
/// ...or less often with many sockets: each announcement costs one write per socket (~10 µs of
/// the server's core on loopback, docs/BENCHMARKS.md), so during a burst of 10,000 connects a
/// 200 ms round left little time for the connects themselves. 50 µs per socket keeps presence
/// at no more than about a fifth of a core; below 4,000 sockets the interval stays 200 ms.
const PRESENCE_PER_SOCKET: Duration = Duration::from_micros(50);

fn presence_interval(sockets: usize) -> Duration {
    PRESENCE_BATCH
        .max(PRESENCE_PER_SOCKET.saturating_mul(u32::try_from(sockets).unwrap_or(u32::MAX)))
}

/// What a connection's queue carries: shared, already-serialised text.
#[derive(Debug, Clone)]
pub enum Outbound {
    Durable {
        seq: i64,
        text: Arc<str>,
    },
    Ephemeral {
        text: Arc<str>,
    },
    /// The queue overflowed: replay `(after, upto]` from the log, then continue with the queue.
    CatchUp {
        after: i64,
        upto: i64,
    },
}

/// Set by the hub to make a connection close itself with a code, right away.
#[derive(Debug, Default)]
pub struct CloseSignal {
    code: AtomicU16,
    notify: Notify,
}

impl CloseSignal {
    pub fn close(&self, code: CloseCode) {
        // The first reason wins.
        let _ = self
            .code
            .compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire);
        // Every waiter: the connection's loop keeps one registered, and a write that waits for
        // the socket has its own.
        self.notify.notify_waiters();
    }

    /// The code asked for, or 0.
    pub fn code(&self) -> u16 {
        self.code.load(Ordering::Acquire)
    }

    /// Resolves once [`Self::close`] was called; returns the code.
    pub async fn wait(&self) -> CloseCode {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a close between the two still wakes us.
            notified.as_mut().enable();
            if let Some(code) = CloseCode::from_code(self.code.load(Ordering::Acquire)) {
                return code;
            }
            notified.await;
        }
    }
}

/// A registered connection, as the connection sees it.
pub struct Registration {
    pub id: u64,
    pub queue: mpsc::Receiver<Outbound>,
    pub close: Arc<CloseSignal>,
    /// Every durable event with a larger seq will arrive through `queue`.
    pub live_after: i64,
    /// `presence.joined` frames for everyone online, this connection included (not announced
    /// to it again).
    pub presence: Vec<Arc<str>>,
}

enum Command {
    Register {
        id: u64,
        user: Actor,
        session_id: String,
        sender: mpsc::Sender<Outbound>,
        close: Arc<CloseSignal>,
        reply: oneshot::Sender<(i64, Vec<Arc<str>>)>,
    },
    Unregister(u64),
    SetTopics(u64, TopicSet),
    LogAdvanced(i64),
    Ephemeral(EventType, Arc<str>),
    Revoke(Revoke),
    CloseAll(CloseCode),
}

/// Handle to the hub task; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    next_id: Arc<AtomicU64>,
    /// Highest seq fanned out so far.
    fanned_out: Arc<AtomicI64>,
    queue_capacity: usize,
}

struct Conn {
    user: Actor,
    session_id: String,
    topics: TopicSet,
    sender: mpsc::Sender<Outbound>,
    close: Arc<CloseSignal>,
    /// Presence counts its snapshot showed, until the next announcement.
    seen: HashMap<String, usize>,
    /// Highest durable seq put in its queue (or covered by a catch-up).
    queued_upto: i64,
    /// Since when its queue has been full; live frames are withheld meanwhile.
    lagging_since: Option<Instant>,
}

struct HubTask {
    db: Db,
    conns: HashMap<u64, Conn>,
    /// user id → (username, open connections on this instance)
    presence: HashMap<String, (String, usize)>,
    /// user id → (username, connections last announced): changes are announced in batches, so
    /// a thousand tabs opening at once cost one event, not a thousand times a thousand.
    announced: HashMap<String, (String, usize)>,
    dirty: Vec<String>,
    last: i64,
    fanned_out: Arc<AtomicI64>,
    /// Connections with `lagging_since` set: the run loop asks before every command, and
    /// scanning all connections there made each command cost O(connections).
    lagging: usize,
    /// Presence announcements, for the other instances (the facade forwards them).
    presence_out: Option<mpsc::UnboundedSender<(EventType, Arc<str>)>>,
}

impl Hub {
    /// Starts the hub task. `queue_capacity` bounds each connection's queue; presence
    /// announcements are also sent to `presence_out`.
    pub async fn start(
        db: Db,
        queue_capacity: usize,
        presence_out: Option<mpsc::UnboundedSender<(EventType, Arc<str>)>>,
    ) -> crate::error::Result<Self> {
        let last = log::head(db.conn()).await?;
        let (commands, rx) = mpsc::unbounded_channel();
        let fanned_out = Arc::new(AtomicI64::new(last));
        let task = HubTask {
            db,
            conns: HashMap::new(),
            presence: HashMap::new(),
            announced: HashMap::new(),
            dirty: Vec::new(),
            last,
            fanned_out: fanned_out.clone(),
            lagging: 0,
            presence_out,
        };
        tokio::spawn(task.run(rx));
        Ok(Self {
            commands,
            next_id: Arc::new(AtomicU64::new(1)),
            fanned_out,
            queue_capacity: queue_capacity.max(1),
        })
    }

    fn send(&self, cmd: Command) {
        // Fails only once the hub task has ended (shutdown); nothing left to deliver to then.
        let _ = self.commands.send(cmd);
    }

    /// The highest seq delivered to connections so far.
    pub fn fanned_out(&self) -> i64 {
        self.fanned_out.load(Ordering::Acquire)
    }

    /// The log has grown to at least `seq` (called after commit, and by the cross-instance
    /// listener).
    pub fn log_advanced(&self, seq: i64) {
        self.send(Command::LogAdvanced(seq));
    }

    /// Delivers an already-serialised ephemeral frame to local connections.
    pub fn deliver_ephemeral(&self, kind: EventType, text: String) {
        self.send(Command::Ephemeral(kind, text.into()));
    }

    pub fn revoke(&self, target: Revoke) {
        self.send(Command::Revoke(target));
    }

    pub fn close_all(&self, code: CloseCode) {
        self.send(Command::CloseAll(code));
    }

    pub fn set_topics(&self, id: u64, topics: TopicSet) {
        self.send(Command::SetTopics(id, topics));
    }

    pub fn unregister(&self, id: u64) {
        self.send(Command::Unregister(id));
    }

    pub async fn register(&self, user: Actor, session_id: String) -> Option<Registration> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, queue) = mpsc::channel(self.queue_capacity);
        let close = Arc::new(CloseSignal::default());
        let (reply, answer) = oneshot::channel();
        self.send(Command::Register {
            id,
            user,
            session_id,
            sender,
            close: close.clone(),
            reply,
        });
        let (live_after, presence) = answer.await.ok()?;
        Some(Registration {
            id,
            queue,
            close,
            live_after,
            presence,
        })
    }
}

impl HubTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        // A missed notification must not strand events: re-check the log head now and then.
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lag_tick = tokio::time::interval(LAG_CHECK);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut presence_tick = tokio::time::interval(PRESENCE_BATCH);
        presence_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                _ = presence_tick.tick(), if !self.dirty.is_empty() => {
                    self.announce_presence();
                    presence_tick.reset_after(presence_interval(self.conns.len()));
                }
                _ = lag_tick.tick(), if self.lagging > 0 => self.serve_laggards(),
                _ = poll.tick() => {
                    if let Ok(head) = log::head(self.db.conn()).await {
                        self.catch_up(head).await;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Register {
                id,
                user,
                session_id,
                sender,
                close,
                reply,
            } => {
                self.presence
                    .entry(user.id.clone())
                    .or_insert_with(|| (user.username.clone(), 0))
                    .1 += 1;
                self.dirty.push(user.id.clone());
                metrics::ws_connections(1);
                self.conns.insert(
                    id,
                    Conn {
                        user,
                        session_id,
                        topics: TopicSet::ALL,
                        sender,
                        close,
                        seen: HashMap::new(),
                        queued_upto: self.last,
                        lagging_since: None,
                    },
                );
                // Everyone online now, this connection included. The next announcement skips
                // what this snapshot already told it, so nothing arrives twice.
                let seen: HashMap<String, usize> = self
                    .presence
                    .iter()
                    .map(|(uid, (_, n))| (uid.clone(), *n))
                    .collect();
                let snapshot = self
                    .presence
                    .iter()
                    .map(|(uid, (name, n))| {
                        presence_frame(
                            EventType::PresenceJoined,
                            &Actor {
                                id: uid.clone(),
                                username: name.clone(),
                            },
                            *n,
                        )
                    })
                    .collect();
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.seen = seen;
                }
                let _ = reply.send((self.last, snapshot));
            }
            Command::Unregister(id) => self.remove(id),
            Command::SetTopics(id, topics) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.topics = topics;
                }
            }
            Command::LogAdvanced(seq) => self.catch_up(seq).await,
            Command::Ephemeral(kind, text) => {
                self.fan_out(kind.topic(), Outbound::Ephemeral { text });
            }
            Command::Revoke(target) => {
                let ids: Vec<u64> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| match &target {
                        Revoke::User(uid) => c.user.id == *uid,
                        Revoke::Session(sid) => c.session_id == *sid,
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.close(id, CloseCode::Unauthorized);
                }
            }
            Command::CloseAll(code) => {
                let ids: Vec<u64> = self.conns.keys().copied().collect();
                for id in ids {
                    self.close(id, code);
                }
            }
        }
    }

    /// Reads and fans out every event up to `upto`, in order.
    async fn catch_up(&mut self, upto: i64) {
        while self.last < upto {
            let rows = match log::range(self.db.conn(), self.last, upto, LOG_BATCH).await {
                Ok(rows) => rows,
                Err(e) => {
                    // Retried on the next notification or poll; nothing is skipped.
                    tracing::warn!(error = %e, "reading the event log failed");
                    return;
                }
            };
            let Some(last_row) = rows.last() else {
                // Nothing visible up to `upto`: either retention swept it (skip ahead) or it
                // is not visible yet (wait for the next notification or poll; never skip).
                let swept = match log::oldest(self.db.conn()).await {
                    Ok(oldest) => oldest.is_none_or(|o| o > upto),
                    Err(_) => false,
                };
                if swept {
                    self.last = upto;
                }
                break;
            };
            let last_seq = last_row.seq;
            for row in &rows {
                let topic = EventType::parse(&row.kind).map_or(Topic::Users, EventType::topic);
                let text: Arc<str> = log::to_frame(row).into();
                self.fan_out(topic, Outbound::Durable { seq: row.seq, text });
            }
            self.last = last_seq;
        }
        self.fanned_out.store(self.last, Ordering::Release);
    }

    fn fan_out(&mut self, topic: Topic, msg: Outbound) {
        self.fan_out_except(topic, msg, |_| false);
    }

    /// Offers `msg` to every interested connection. A full queue does not block anyone: that
    /// connection becomes *lagging* and stops receiving live frames; it is sent a
    /// [`Outbound::CatchUp`] (replay from the log) as soon as it has room again, and closed with
    /// 4008 if it stays full for [`LAG_LIMIT`].
    fn fan_out_except(&mut self, topic: Topic, msg: Outbound, skip: impl Fn(&Conn) -> bool) {
        let durable_seq = match &msg {
            Outbound::Durable { seq, .. } => Some(*seq),
            _ => None,
        };
        let mut gone = Vec::new();
        let mut sent = 0u64;
        let now = Instant::now();
        for (id, conn) in self.conns.iter_mut() {
            if conn.lagging_since.is_some() || !conn.topics.contains(topic) || skip(conn) {
                continue;
            }
            match conn.sender.try_send(msg.clone()) {
                Ok(()) => {
                    sent += 1;
                    if let Some(seq) = durable_seq {
                        conn.queued_upto = seq;
                    }
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    conn.lagging_since = Some(now);
                    self.lagging += 1;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        metrics::ws_events_sent(sent);
        for id in gone {
            self.remove(id);
        }
    }

    /// Offers each lagging connection a catch-up to the current position, or closes it with
    /// 4008 once it has been full for too long.
    fn serve_laggards(&mut self) {
        let now = Instant::now();
        let upto = self.last;
        let mut slow = Vec::new();
        for (id, conn) in self.conns.iter_mut() {
            let Some(since) = conn.lagging_since else {
                continue;
            };
            if now.duration_since(since) > LAG_LIMIT {
                slow.push(*id);
                continue;
            }
            let catch_up = Outbound::CatchUp {
                after: conn.queued_upto,
                upto,
            };
            match conn.sender.try_send(catch_up) {
                Ok(()) => {
                    conn.lagging_since = None;
                    self.lagging -= 1;
                    conn.queued_upto = upto;
                }
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => slow.push(*id),
            }
        }
        for id in slow {
            metrics::ws_slow_consumer();
            self.close(id, CloseCode::SlowConsumer);
        }
    }

    fn close(&mut self, id: u64, code: CloseCode) {
        if let Some(conn) = self.conns.get(&id) {
            conn.close.close(code);
        }
        self.remove(id);
    }

    fn remove(&mut self, id: u64) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        if conn.lagging_since.is_some() {
            self.lagging -= 1;
        }
        metrics::ws_connections(-1);
        if let Some(entry) = self.presence.get_mut(&conn.user.id) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                self.presence.remove(&conn.user.id);
            }
        }
        self.dirty.push(conn.user.id);
    }

    /// Announces each user whose connection count changed since the last announcement:
    /// `presence.joined` when it grew, `presence.left` when it shrank.
    fn announce_presence(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for user_id in dirty {
            let (username, now) = match self.presence.get(&user_id) {
                Some((name, n)) => (name.clone(), *n),
                None => match self.announced.get(&user_id) {
                    Some((name, _)) => (name.clone(), 0),
                    None => continue,
                },
            };
            let before = self.announced.get(&user_id).map_or(0, |(_, n)| *n);
            let kind = match now.cmp(&before) {
                std::cmp::Ordering::Greater => EventType::PresenceJoined,
                std::cmp::Ordering::Less => EventType::PresenceLeft,
                std::cmp::Ordering::Equal => continue,
            };
            if now == 0 {
                self.announced.remove(&user_id);
            } else {
                self.announced
                    .insert(user_id.clone(), (username.clone(), now));
            }
            let user = Actor {
                id: user_id,
                username,
            };
            let text = presence_frame(kind, &user, now);
            if let Some(out) = &self.presence_out {
                let _ = out.send((kind, text.clone()));
            }
            let uid = user.id.clone();
            self.fan_out_except(Topic::Presence, Outbound::Ephemeral { text }, |c| {
                c.seen.get(&uid) == Some(&now)
            });
        }
        for conn in self.conns.values_mut() {
            if !conn.seen.is_empty() {
                conn.seen.clear();
            }
        }
    }
}

pub(crate) fn presence_frame(kind: EventType, user: &Actor, connections: usize) -> Arc<str> {
    let data =
        json!({"user": {"id": user.id, "username": user.username}, "connections": connections});
    frame_text(kind.as_str(), None, Utc::now(), None, &data.to_string()).into()
}

#[cfg(test)]
mod presence_tests {
    use super::*;

    #[test]
    fn presence_interval_grows_only_with_many_sockets() {
        assert_eq!(presence_interval(0), PRESENCE_BATCH);
        assert_eq!(presence_interval(3_999), PRESENCE_BATCH);
        assert_eq!(presence_interval(10_000), Duration::from_millis(500));
        assert_eq!(presence_interval(20_000), Duration::from_secs(1));
        assert!(presence_interval(usize::MAX) >= Duration::from_secs(1));
    }
}
