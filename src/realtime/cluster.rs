//! Several instances on one PostgreSQL database: notifications over LISTEN/NOTIFY.
//!
//! The log stays the source of truth: a `{"log": N}` notification (sent by `log::append` inside
//! the writing transaction, so only on commit) only says "read up to N". Ephemeral frames and
//! revocations travel whole. A lost notification costs latency, not data: the hub also polls
//! the log head every second, and sockets re-check their session at every heartbeat.

use std::{sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, DbBackend, Statement, sqlx::postgres::PgListener};
use serde::{Deserialize, Serialize};

use tokio::sync::mpsc;

use super::{
    event::{EventType, Revoke},
    log::NOTIFY_CHANNEL,
};
use crate::db::Db;

/// What another instance told this one; the realtime facade feeds it to the local hub.
#[derive(Debug)]
pub enum Remote {
    /// The shared log has grown to at least this seq.
    LogAdvanced(i64),
    /// An ephemeral frame, already serialised.
    Ephemeral(EventType, String),
    Revoke(Revoke),
}

/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eph: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoke_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoke_session: Option<String>,
}

/// Publishes to the other instances (a no-op on SQLite, which has only one).
#[derive(Clone)]
pub struct Cluster {
    db: Db,
    instance: Arc<str>,
    enabled: bool,
}

impl Cluster {
    pub fn new(db: Db) -> Self {
        let enabled = db.backend() == DbBackend::Postgres;
        Self {
            db,
            instance: uuid::Uuid::new_v4().to_string().into(),
            enabled,
        }
    }

    /// Whether other instances can exist (PostgreSQL).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub async fn publish_ephemeral(&self, kind: EventType, text: &str) {
        self.notify(Wire {
            origin: Some(self.instance.to_string()),
            eph: Some(kind.as_str().to_owned()),
            text: Some(text.to_owned()),
            ..Wire::default()
        })
        .await;
    }

    pub async fn publish_revoke(&self, target: &Revoke) {
        let mut wire = Wire {
            origin: Some(self.instance.to_string()),
            ..Wire::default()
        };
        match target {
            Revoke::User(id) => wire.revoke_user = Some(id.clone()),
            Revoke::Session(id) => wire.revoke_session = Some(id.clone()),
        }
        self.notify(wire).await;
    }

    async fn notify(&self, wire: Wire) {
        if !self.enabled {
            return;
        }
        let payload = serde_json::to_string(&wire).unwrap_or_default();
        if payload.len() > MAX_PAYLOAD {
            tracing::warn!(
                bytes = payload.len(),
                "cluster notification too large, not sent"
            );
            return;
        }
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), payload.into()],
        );
        if let Err(e) = self.db.conn().execute_raw(stmt).await {
            tracing::warn!(error = %e, "cluster notification failed");
        }
    }

    /// Listens for the other instances' notifications and sends them to `sink`.
    pub fn spawn_listener(&self, url: String, sink: mpsc::UnboundedSender<Remote>) {
        if !self.enabled {
            return;
        }
        let instance = self.instance.clone();
        tokio::spawn(async move {
            loop {
                match listen(&url, &sink, &instance).await {
                    // The receiver is gone: the process is shutting down.
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster listener lost, reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

async fn listen(
    url: &str,
    sink: &mpsc::UnboundedSender<Remote>,
    instance: &str,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    loop {
        // `None`: the connection dropped and was re-established; anything missed meanwhile is
        // picked up from the log by the hub's poll.
        let Some(n) = listener.try_recv().await? else {
            continue;
        };
        let Ok(wire) = serde_json::from_str::<Wire>(n.payload()) else {
            continue;
        };
        let mut messages = Vec::new();
        if let Some(seq) = wire.log {
            messages.push(Remote::LogAdvanced(seq));
        } else if wire.origin.as_deref() != Some(instance) {
            if let (Some(kind), Some(text)) =
                (wire.eph.as_deref().and_then(EventType::parse), wire.text)
            {
                messages.push(Remote::Ephemeral(kind, text));
            }
            if let Some(user) = wire.revoke_user {
                messages.push(Remote::Revoke(Revoke::User(user)));
            }
            if let Some(session) = wire.revoke_session {
                messages.push(Remote::Revoke(Revoke::Session(session)));
            }
        }
        for m in messages {
            if sink.send(m).is_err() {
                return Ok(());
            }
        }
    }
}
