//! Live progress of one transfer (a download, an upload or a URL import): the ephemeral
//! `*.started` / `*.progress` / `*.aborted` events of docs/API.md §6.
//!
//! Progress is reported inline from the transfer's own loop, at most once per
//! [`PROGRESS_INTERVAL`], and publishing never waits, so reporting cannot slow a transfer.
//! Dropping a [`Transfer`] that was not finished publishes `*.aborted`: that is how a client
//! going away mid-download is noticed.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::realtime::{
    Realtime,
    event::{Actor, EventType},
};

pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Which kind of transfer, and so which events and id field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

/// `via` of download events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Link,
    Import,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Link => "link",
            Self::Import => "import",
        }
    }
}

/// Transfers streaming on this instance right now (`GET /api/stats`).
static IN_FLIGHT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Downloads and uploads streaming on this instance.
pub fn in_flight() -> u64 {
    IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed)
}

pub struct Transfer {
    realtime: Realtime,
    direction: Direction,
    pub id: String,
    pub file_id: String,
    actor: Option<Actor>,
    bytes_total: Option<u64>,
    bytes: u64,
    started: Instant,
    last_report: Instant,
    last_report_bytes: u64,
    /// Set once the transfer ended one way or the other; no `aborted` on drop then.
    ended: bool,
    abort_reason: &'static str,
}

impl Transfer {
    /// Publishes `download.started`.
    pub fn download(
        realtime: &Realtime,
        id: String,
        file_id: &str,
        via: Via,
        actor: Option<Actor>,
        bytes_total: Option<u64>,
        range_start: u64,
    ) -> Self {
        let t = Self::new(
            realtime,
            Direction::Download,
            id,
            file_id,
            actor,
            bytes_total,
        );
        t.publish(
            EventType::DownloadStarted,
            json!({"download_id": t.id, "file_id": t.file_id, "via": via.as_str(),
                   "bytes_total": bytes_total, "range_start": range_start}),
        );
        t
    }

    /// Publishes `upload.started`.
    pub fn upload(
        realtime: &Realtime,
        id: String,
        file_id: &str,
        name: Option<&str>,
        actor: Option<Actor>,
        bytes_total: Option<u64>,
    ) -> Self {
        Self::upload_from(realtime, id, file_id, name, actor, bytes_total, 0)
    }

    /// Publishes `upload.started` for an upload that already holds `range_start` bytes (a
    /// resumed one); progress then counts the whole upload.
    pub fn upload_from(
        realtime: &Realtime,
        id: String,
        file_id: &str,
        name: Option<&str>,
        actor: Option<Actor>,
        bytes_total: Option<u64>,
        range_start: u64,
    ) -> Self {
        let mut t = Self::new(realtime, Direction::Upload, id, file_id, actor, bytes_total);
        t.bytes = range_start;
        t.last_report_bytes = range_start;
        t.publish(
            EventType::UploadStarted,
            json!({"upload_id": t.id, "file_id": t.file_id, "name": name,
                   "bytes_total": bytes_total, "range_start": range_start}),
        );
        t
    }

    fn new(
        realtime: &Realtime,
        direction: Direction,
        id: String,
        file_id: &str,
        actor: Option<Actor>,
        bytes_total: Option<u64>,
    ) -> Self {
        let now = Instant::now();
        IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            realtime: realtime.clone(),
            direction,
            id,
            file_id: file_id.to_owned(),
            actor,
            bytes_total,
            bytes: 0,
            started: now,
            last_report: now,
            last_report_bytes: 0,
            ended: false,
            abort_reason: "client_gone",
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Why the transfer ends if it is dropped unfinished from now on.
    pub fn set_abort_reason(&mut self, reason: &'static str) {
        self.abort_reason = reason;
    }

    /// Counts `n` more bytes; reports progress if the last report is old enough.
    pub fn advance(&mut self, n: u64) {
        self.bytes += n;
        let now = Instant::now();
        if now.duration_since(self.last_report) >= PROGRESS_INTERVAL {
            self.report(now);
        }
    }

    fn report(&mut self, now: Instant) {
        let secs = now.duration_since(self.last_report).as_secs_f64().max(1e-3);
        let rate = (self.bytes - self.last_report_bytes) as f64 / secs;
        self.last_report = now;
        self.last_report_bytes = self.bytes;
        let (kind, id_field) = match self.direction {
            Direction::Download => (EventType::DownloadProgress, "download_id"),
            Direction::Upload => (EventType::UploadProgress, "upload_id"),
        };
        self.publish(
            kind,
            json!({id_field: self.id, "file_id": self.file_id, "bytes_sent": self.bytes,
                   "bytes_total": self.bytes_total, "bytes_per_sec": rate.round()}),
        );
    }

    /// The transfer succeeded (its completion is a durable event published by the caller).
    pub fn finish(mut self) {
        self.ended = true;
    }

    /// All bytes went out but the transfer is not a counted download (a range short of the
    /// end): a last progress report with `bytes_sent == bytes_total` closes it for watchers.
    pub fn finish_uncounted(mut self) {
        self.ended = true;
        let wait = PROGRESS_INTERVAL.saturating_sub(self.last_report.elapsed());
        if wait.is_zero() {
            self.report(Instant::now());
            return;
        }
        // Keep to one report per interval even for the last one.
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            self.report(Instant::now());
        });
    }

    /// A resumable upload's request ended short of the end with `stored` bytes kept:
    /// `upload.paused` instead of `upload.aborted`, since the client can go on from there.
    pub fn pause(mut self, stored: u64) {
        self.ended = true;
        self.publish(
            EventType::UploadPaused,
            json!({"upload_id": self.id, "file_id": self.file_id, "bytes_sent": stored,
                   "bytes_total": self.bytes_total}),
        );
    }

    /// Ends the transfer with `*.aborted` and `reason`.
    pub fn abort(mut self, reason: &'static str) {
        self.abort_reason = reason;
        // Drop publishes.
    }

    fn publish(&self, kind: EventType, data: serde_json::Value) {
        self.realtime.publish(kind, self.actor.as_ref(), &data);
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if self.ended {
            return;
        }
        let (kind, id_field) = match self.direction {
            Direction::Download => (EventType::DownloadAborted, "download_id"),
            Direction::Upload => (EventType::UploadAborted, "upload_id"),
        };
        self.publish(
            kind,
            json!({id_field: self.id, "file_id": self.file_id, "bytes_sent": self.bytes,
                   "bytes_total": self.bytes_total, "reason": self.abort_reason}),
        );
    }
}
