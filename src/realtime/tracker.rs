//! Counts open WebSocket tasks so shutdown can wait for their close frames.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct ConnTracker(Arc<(AtomicUsize, Notify)>);

/// Decrements the count when the connection task ends.
pub struct Active(ConnTracker);

impl ConnTracker {
    pub fn enter(&self) -> Active {
        self.0.0.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
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
