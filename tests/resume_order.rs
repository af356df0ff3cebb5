//! docs/API.md §6: every connection's durable stream is strictly increasing by seq and gap-free
//! from its resume point, however and whenever `resume` arrives, on one instance or two.
//!
//! Writers change a user through every instance while clients connect to a random instance,
//! resume from the last seq they saw, read for a while and go away, over and over. Each client
//! checks its stream seq by seq. With `SWITCHBOARD_TEST_DB=postgres` there are two instances
//! (one writer on each, clients on both); on SQLite one.

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

use common::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

const JWT_SECRET: &str = "resume-order-test-jwt-secret-0123456789";
const WRITES_PER_INSTANCE: usize = 120;
const CLIENTS: usize = 8;
/// A client waiting this long for its next frame while writes are still due has been stalled.
const FRAME_WAIT: Duration = Duration::from_secs(10);
/// A client with no target leaves after this long without a frame (the writers are done).
const IDLE_WAIT: Duration = Duration::from_secs(2);

/// When a client sends its `resume`.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Right behind `auth`, before `welcome` arrived (often in the same TCP segment).
    WithAuth,
    /// As soon as `welcome` arrives (what the bundled panel does).
    AfterWelcome,
    /// A little after `welcome` (a busy client), within the server's hold.
    Shortly(u64),
    /// Only after live frames have already arrived.
    Late,
}

/// What one client has seen so far: every durable seq up to `seen`, in order.
struct Client {
    label: String,
    seen: i64,
    rounds: usize,
    resyncs: usize,
}

fn durable_seq(frame: &Value) -> Option<i64> {
    frame_seq(frame).filter(|_| frame["type"].as_str().is_some_and(|t| t.contains('.')))
}

impl Client {
    /// A durable frame on a connection whose previous durable frame was `prev`: it must be
    /// exactly the next seq.
    fn accept(&mut self, prev: &mut i64, frame: &Value, when: When) {
        let Some(seq) = durable_seq(frame) else {
            return;
        };
        assert_eq!(
            seq,
            *prev + 1,
            "[{}] round {} (resume {when:?}): expected seq {} next, got {frame}",
            self.label,
            self.rounds,
            *prev + 1
        );
        *prev = seq;
        self.seen = self.seen.max(seq);
    }
}

/// One connection: connect, authenticate, resume from `client.seen` at moment `when`, then read
/// `frames` durable frames (or until `until`, if given, is reached).
async fn round(
    client: &mut Client,
    addr: std::net::SocketAddr,
    token: &str,
    when: When,
    frames: usize,
    until: Option<i64>,
) {
    client.rounds += 1;
    let label = format!("{} r{}", client.label, client.rounds);
    let mut ws = WsClient::connect(addr, &label).await;
    ws.send_auth(token).await;
    let resume = json!({"type": "resume", "after": client.seen});
    if matches!(when, When::WithAuth) {
        ws.send_json(&resume).await;
    }
    let welcome = ws.next_json("welcome").await;
    assert_eq!(welcome["type"], "welcome", "[{label}] {welcome}");
    let w = welcome_seq(&welcome);
    // The durable seq this connection delivered last: the resume point once `resume` is in.
    let mut prev = client.seen;
    match when {
        When::WithAuth => {}
        When::AfterWelcome => ws.send_json(&resume).await,
        When::Shortly(ms) => {
            // Client think time (not synchronisation): the resume is simply sent later.
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ws.send_json(&resume).await;
        }
        When::Late => {
            // Wait for the first live frame, then resume: what was sent live before the
            // resume is gap-free from the welcome seq on.
            let mut live = w;
            let first = loop {
                match ws.read(Duration::from_millis(1500)).await {
                    Some(WsRead::Json(f)) if durable_seq(&f).is_some() => break Some(f),
                    Some(WsRead::Json(_)) => continue,
                    Some(other) => panic!("[{label}] connection ended early: {other:?}"),
                    None => break None,
                }
            };
            if let Some(f) = &first {
                let seq = durable_seq(f).unwrap_or_default();
                assert_eq!(
                    seq,
                    w + 1,
                    "[{label}] first live frame after welcome {w}: {f}"
                );
                live = seq;
            }
            ws.send_json(&resume).await;
            if first.is_some() && client.seen < w {
                // Events (seen, w] can no longer come in order: the server must say so.
                loop {
                    let f = ws.next_json_within(FRAME_WAIT, "resync").await;
                    if f["type"] == "resync" {
                        break;
                    }
                    if let Some(seq) = durable_seq(&f) {
                        assert_eq!(seq, live + 1, "[{label}] live stream before resync: {f}");
                        live = seq;
                    }
                }
                client.resyncs += 1;
                // The client refetched its state: it is now as far as the connection.
                client.seen = live;
            } else if first.is_some() {
                client.seen = client.seen.max(live);
            }
            // Without a live frame this was an ordinary resume: the replay starts after `seen`.
            prev = client.seen;
        }
    }
    let mut got = 0;
    loop {
        if until.is_some_and(|u| client.seen >= u) || (until.is_none() && got >= frames) {
            break;
        }
        let wait = if until.is_some() {
            FRAME_WAIT
        } else {
            IDLE_WAIT
        };
        let f = match ws.read(wait).await {
            Some(WsRead::Json(f)) => f,
            Some(other) => panic!("[{label}] connection ended: {other:?}"),
            None if until.is_none() => break,
            None => panic!(
                "[{label}] stalled at seq {} waiting for {until:?}",
                client.seen
            ),
        };
        assert_ne!(
            f["type"], "resync",
            "[{label}] resume {when:?} after {}: the log still holds it",
            client.seen
        );
        if durable_seq(&f).is_some() {
            client.accept(&mut prev, &f, when);
            got += 1;
        }
    }
    // Half the time the client vanishes without a close frame.
    if client.rounds.is_multiple_of(2) {
        ws.close().await;
    } else {
        drop(ws);
    }
}

// Two worker threads: the clients' own think time must not stretch under the writers' load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_streams_in_order_without_gaps_whenever_it_resumes() {
    let a = TestApp::spawn_with(&["--jwt-secret", JWT_SECRET], &[]).await;
    let mut apps = vec![Arc::new(a)];
    if is_postgres() {
        let b = apps[0].spawn_peer(&[]).await;
        apps.push(Arc::new(b));
    }
    let target = apps[0].create_user("resume_target", "viewer").await;
    let target_id = id_of(&target);
    let start = apps[0].latest_seq().await;
    let token = apps[0].admin_token.clone();
    let addrs: Vec<_> = apps.iter().map(|a| a.addr).collect();

    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = apps
        .iter()
        .enumerate()
        .map(|(i, app)| {
            let app = app.clone();
            let id = target_id.clone();
            tokio::spawn(async move {
                for n in 0..WRITES_PER_INSTANCE {
                    app.admin_patch_user(&id, &json!({"display_name": format!("w{i} {n}")}))
                        .await;
                }
            })
        })
        .collect();

    let seed: u64 = rand::rng().random();
    eprintln!("resume order test seed: {seed}");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let addrs = addrs.clone();
            let token = token.clone();
            let writing = writing.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(c as u64));
                // Start a little behind, as a client that was away would.
                let back = rng.random_range(0..5).min(start);
                let mut client = Client {
                    label: format!("client {c}"),
                    seen: start - back,
                    rounds: 0,
                    resyncs: 0,
                };
                while writing.load(Ordering::Acquire) {
                    let addr = addrs[rng.random_range(0..addrs.len())];
                    let when = match rng.random_range(0..4) {
                        0 => When::WithAuth,
                        1 => When::AfterWelcome,
                        2 => When::Shortly(rng.random_range(0..50)),
                        _ => When::Late,
                    };
                    let frames = rng.random_range(1..25);
                    round(&mut client, addr, &token, when, frames, None).await;
                }
                client
            })
        })
        .collect();

    for w in writers {
        w.await.expect("writer task");
    }
    let last = apps[0].latest_seq().await;
    assert_eq!(
        last,
        start + (WRITES_PER_INSTANCE * apps.len()) as i64,
        "one event per write"
    );
    writing.store(false, Ordering::Release);
    let mut total_rounds = 0;
    let mut total_resyncs = 0;
    for (i, c) in clients.into_iter().enumerate() {
        let mut client = c.await.expect("client task");
        // Finally every client catches up to the end, resuming right after welcome.
        let addr = addrs[i % addrs.len()];
        round(&mut client, addr, &token, When::AfterWelcome, 0, Some(last)).await;
        assert_eq!(client.seen, last, "[{}] caught up", client.label);
        total_rounds += client.rounds;
        total_resyncs += client.resyncs;
    }
    eprintln!(
        "{total_rounds} connections over {} instance(s), {total_resyncs} late resumes answered resync",
        apps.len()
    );
    assert!(
        total_rounds > CLIENTS * 2,
        "clients reconnected: {total_rounds}"
    );
}
