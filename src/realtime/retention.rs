//! The event log's retention: deletes events past `--event-retention-count` /
//! `--event-retention-days` now and then, but never one the local sockets have not been sent;
//! and traffic counters past their 40 days.

use super::{Realtime, log, traffic};
use crate::write::Writer;

/// Sweeps the log every `sweep_interval` of the realtime settings.
pub fn spawn_sweeper(writer: Writer, realtime: Realtime) {
    tokio::spawn(async move {
        let settings = realtime.settings().clone();
        let mut tick = tokio::time::interval(settings.sweep_interval);
        let max_age = chrono::Duration::days(i64::try_from(settings.retention_days).unwrap_or(7));
        loop {
            tick.tick().await;
            let Some(delivered) = realtime.fanned_out() else {
                return;
            };
            let swept = async {
                let w = writer.begin().await?;
                let n = log::sweep(&*w, settings.retention_count, max_age, delivered).await?;
                traffic::sweep(&*w, chrono::Utc::now()).await?;
                w.commit().await?;
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
