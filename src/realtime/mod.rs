//! Realtime: the durable event log (`log`), the fan-out hub (`hub`), the WebSocket endpoint
//! (`ws`), cross-instance notifications over PostgreSQL (`cluster`), the audit-trail API (`api`),
//! and the AsyncAPI description of the protocol (`asyncapi`).

pub mod api;
pub mod asyncapi;
pub mod cluster;
pub mod event;
pub mod hub;
pub mod log;
pub mod ws;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use sea_orm::ConnectionTrait;
use tokio::sync::Notify;

use self::event::{Actor, EventType};
use crate::{auth::sessions::Principal, error::Result};

/// Realtime settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub auth_timeout: Duration,
    pub queue_capacity: usize,
    pub retention_count: u64,
    pub retention_days: u64,
    pub sweep_interval: Duration,
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        Self {
            id: p.user_id.clone(),
            username: p.username.clone(),
        }
    }
}

/// Writes a durable event inside the caller's transaction; returns its seq. After committing,
/// the caller tells the hub with `hub.log_advanced(seq)`.
pub async fn record(
    db: &impl ConnectionTrait,
    kind: EventType,
    actor: Option<&Principal>,
    data: &serde_json::Value,
) -> Result<i64> {
    let actor = actor.map(Actor::from);
    log::append(db, kind, actor.as_ref(), data).await
}

/// Counts open WebSocket tasks so shutdown can wait for their close frames.
#[derive(Clone, Default)]
pub struct ConnTracker(Arc<(AtomicUsize, Notify)>);

/// Decrements the count when the connection task ends.
pub struct Active(ConnTracker);

impl ConnTracker {
    pub fn enter(&self) -> Active {
        self.0.0.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
    }

    pub fn count(&self) -> usize {
        self.0.0.load(Ordering::Acquire)
    }

    /// Waits (at most `limit`) until no connection task is left.
    pub async fn drained(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            while self.count() > 0 {
                let notified = self.0.1.notified();
                if self.count() == 0 {
                    break;
                }
                notified.await;
            }
        })
        .await;
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if self.0.0.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.0.1.notify_waiters();
        }
    }
}

/// Deletes events past the retention now and then.
pub fn spawn_sweeper(db: crate::db::Db, hub: hub::Hub, settings: Settings) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.sweep_interval);
        let max_age = chrono::Duration::days(i64::try_from(settings.retention_days).unwrap_or(7));
        loop {
            tick.tick().await;
            let swept = async {
                let tx = db.begin_write().await?;
                let delivered = hub.fanned_out();
                let n = log::sweep(&*tx, settings.retention_count, max_age, delivered).await?;
                tx.commit().await?;
                Ok::<u64, crate::error::Error>(n)
            };
            match swept.await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "event log swept"),
                Err(e) => tracing::warn!(error = %e, "event log sweep failed"),
            }
        }
    });
}
