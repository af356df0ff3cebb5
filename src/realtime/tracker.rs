//! Counts open WebSocket tasks so shutdown can wait for their close frames, and who is online
//! on this instance (`GET /api/stats`).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct ConnTracker(
    Arc<(AtomicUsize, Notify)>,
    Arc<Mutex<HashMap<String, Present>>>,
);

/// One user's authenticated sockets on this instance.
#[derive(Default)]
struct Present {
    admin: bool,
    sockets: usize,
}

/// Counts a user as online while it lives.
pub struct Online {
    users: Arc<Mutex<HashMap<String, Present>>>,
    user_id: String,
}

impl Drop for Online {
    fn drop(&mut self) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = users.get_mut(&self.user_id) {
            p.sockets = p.sockets.saturating_sub(1);
            if p.sockets == 0 {
                users.remove(&self.user_id);
            }
        }
    }
}

/// Decrements the count when the connection task ends.
pub struct Active(ConnTracker);

impl ConnTracker {
    pub fn enter(&self) -> Active {
        self.0.0.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
    }

    /// An authenticated socket of `user_id`.
    pub fn online(&self, user_id: &str, admin: bool) -> Online {
        let mut users = self.1.lock().unwrap_or_else(|e| e.into_inner());
        let p = users.entry(user_id.to_owned()).or_default();
        p.sockets += 1;
        p.admin = admin;
        Online {
            users: self.1.clone(),
            user_id: user_id.to_owned(),
        }
    }

    /// Users and admins with at least one socket on this instance.
    pub fn online_counts(&self) -> (u64, u64) {
        let users = self.1.lock().unwrap_or_else(|e| e.into_inner());
        let admins = users.values().filter(|p| p.admin).count();
        (users.len() as u64, admins as u64)
    }

    fn count(&self) -> usize {
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
