//! Realtime: the durable event log (`log`), the fan-out hub (`hub`), the WebSocket endpoint
//! (`ws`), cross-instance notifications over PostgreSQL (`cluster`), the audit-trail API (`api`),
//! the log's retention (`retention`) and the AsyncAPI description of the protocol (`asyncapi`).
//!
//! Everything outside this module talks to [`Realtime`], the facade: "the log advanced",
//! "close these sockets", "publish this ephemeral event". It owns the hub and the cluster link
//! and wires them together with channels, so neither knows the other.

pub mod api;
pub mod asyncapi;
pub mod cluster;
pub mod event;
pub mod hub;
pub mod log;
pub mod retention;
mod tracker;
pub mod traffic;
pub mod ws;

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

pub use self::tracker::ConnTracker;
use self::{
    cluster::{Cluster, Remote},
    event::{Actor, CloseCode, EventType, Revoke, frame_text},
    hub::Hub,
};
use crate::{db::Db, error::Result};

/// Realtime settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub auth_timeout: Duration,
    pub queue_capacity: usize,
    pub retention_count: u64,
    pub retention_days: u64,
    pub sweep_interval: Duration,
}

/// The realtime facade; cheap to clone.
#[derive(Clone)]
pub struct Realtime(Arc<Inner>);

struct Inner {
    /// `None` in CLI commands, which publish to other instances but serve no sockets.
    hub: Option<Hub>,
    cluster: Cluster,
    settings: Settings,
    tracker: ConnTracker,
    /// The log's identity (`log::epoch`), sent in `welcome`.
    epoch: String,
}

impl Realtime {
    /// Starts the hub and, on PostgreSQL, the listener for the other instances.
    pub async fn start(db: Db, database_url: String, settings: Settings) -> Result<Self> {
        let epoch = log::epoch(db.conn()).await?;
        let cluster = Cluster::new(db.clone());
        let (presence_tx, mut presence_rx) = mpsc::unbounded_channel::<(EventType, Arc<str>)>();
        let presence_out = cluster.enabled().then_some(presence_tx);
        let hub = Hub::start(db, settings.queue_capacity, presence_out).await?;
        if cluster.enabled() {
            let out = cluster.clone();
            tokio::spawn(async move {
                while let Some((kind, text)) = presence_rx.recv().await {
                    out.publish_ephemeral(kind, &text).await;
                }
            });
            let (remote_tx, mut remote_rx) = mpsc::unbounded_channel();
            cluster.spawn_listener(database_url, remote_tx);
            let local = hub.clone();
            tokio::spawn(async move {
                while let Some(msg) = remote_rx.recv().await {
                    match msg {
                        Remote::LogAdvanced(seq) => local.log_advanced(seq),
                        Remote::Ephemeral(kind, text) => local.deliver_ephemeral(kind, text),
                        Remote::Revoke(target) => local.revoke(target),
                    }
                }
            });
        }
        Ok(Self(Arc::new(Inner {
            hub: Some(hub),
            cluster,
            settings,
            tracker: ConnTracker::default(),
            epoch,
        })))
    }

    /// For CLI commands: no hub and no sockets, but revocations still reach running instances
    /// on PostgreSQL (on SQLite they notice at the next heartbeat's session check).
    pub fn detached(db: Db) -> Self {
        Self(Arc::new(Inner {
            hub: None,
            cluster: Cluster::new(db),
            settings: Settings {
                auth_timeout: Duration::from_secs(10),
                queue_capacity: 1,
                retention_count: u64::MAX,
                retention_days: u64::MAX,
                sweep_interval: Duration::from_secs(3600),
            },
            tracker: ConnTracker::default(),
            epoch: String::new(),
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The event log's epoch: changes only when the database is restored from a backup.
    pub fn epoch(&self) -> &str {
        &self.0.epoch
    }

    pub fn tracker(&self) -> &ConnTracker {
        &self.0.tracker
    }

    /// The hub, for the WebSocket endpoint (present whenever the server runs).
    pub(crate) fn hub(&self) -> Option<&Hub> {
        self.0.hub.as_ref()
    }

    /// The highest seq fanned out to sockets; `None` without a hub (CLI commands).
    pub fn fanned_out(&self) -> Option<i64> {
        self.0.hub.as_ref().map(Hub::fanned_out)
    }

    /// After a commit that appended events up to `seq`: wake the hub (other instances hear it
    /// from the database notification sent inside the transaction).
    pub fn log_advanced(&self, seq: i64) {
        if let Some(hub) = &self.0.hub {
            hub.log_advanced(seq);
        }
    }

    /// Closes the sockets of a user or session, here and on every other instance.
    pub async fn revoke(&self, target: Revoke) {
        if let Some(hub) = &self.0.hub {
            hub.revoke(target.clone());
        }
        self.0.cluster.publish_revoke(&target).await;
    }

    /// Closes every local socket with `code` (shutdown).
    pub fn close_all(&self, code: CloseCode) {
        if let Some(hub) = &self.0.hub {
            hub.close_all(code);
        }
    }

    /// Publishes an ephemeral event (progress, presence-like) here and on every other instance.
    /// Never waits: local delivery is immediate and the cross-instance notification (PostgreSQL
    /// only) goes out on its own task, so transfer progress never slows a transfer down.
    pub fn publish(&self, kind: EventType, actor: Option<&Actor>, data: &serde_json::Value) {
        let text = frame_text(
            kind.as_str(),
            None,
            chrono::Utc::now(),
            actor,
            &data.to_string(),
        );
        if let Some(hub) = &self.0.hub {
            hub.deliver_ephemeral(kind, text.clone());
        }
        if self.0.cluster.enabled() {
            let cluster = self.0.cluster.clone();
            tokio::spawn(async move { cluster.publish_ephemeral(kind, &text).await });
        }
    }
}
