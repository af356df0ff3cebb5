//! `resume` replay throughput: one socket asks for the events after `--after` and reads until
//! the frame with seq `--upto`; prints events/s. Run by `benches/events_scale.py` against a
//! server it seeded; talks only to the given loopback address and stops by itself.
//!
//! ```sh
//! cargo bench --bench events_replay -- --addr 127.0.0.1:PORT --token JWT --after N --upto M
//! ```

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

struct Args {
    addr: String,
    token: String,
    after: i64,
    upto: i64,
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: String::new(),
        token: String::new(),
        after: 0,
        upto: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let v = || -> String { String::new() };
        match a.as_str() {
            "--addr" => args.addr = it.next().unwrap_or_else(v),
            "--token" => args.token = it.next().unwrap_or_else(v),
            "--after" => args.after = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--upto" => args.upto = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => {} // cargo bench passes --bench
        }
    }
    assert!(
        !args.addr.is_empty() && args.upto > args.after,
        "usage: --addr HOST:PORT --token JWT --after N --upto M (M > N)"
    );
    args
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", args.addr))
        .await
        .expect("connect");
    ws.send(Message::text(
        json!({"type": "auth", "token": args.token}).to_string(),
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
    let started = Instant::now();
    ws.send(Message::text(
        json!({"type": "resume", "after": args.after}).to_string(),
    ))
    .await
    .expect("resume");
    let mut count: u64 = 0;
    let mut expected = args.after + 1;
    let deadline = started + Duration::from_secs(300);
    while expected <= args.upto {
        assert!(Instant::now() < deadline, "replay did not finish in 300 s");
        let msg = ws.next().await.expect("open").expect("frame");
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).expect("json frame");
        assert_ne!(v["type"], "resync", "server answered resync: {t}");
        let Some(seq) = v["seq"].as_i64() else {
            continue; // presence and other ephemeral frames
        };
        assert_eq!(seq, expected, "replay out of order");
        expected += 1;
        count += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "replayed {count} events in {secs:.2} s: {:.0} events/s",
        count as f64 / secs
    );
}
