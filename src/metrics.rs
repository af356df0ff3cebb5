//! Prometheus metrics at `/metrics`: HTTP requests by route and status, open WebSockets,
//! events sent, slow consumers dropped, downloads in flight.

use std::sync::OnceLock;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::{IntoResponse, Response, handler, http::StatusCode};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls reuse it).
pub fn install() {
    HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            describe();
            Some(handle)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics recorder not installed");
            None
        }
    });
}

fn describe() {
    metrics::describe_counter!(
        "switchboard_http_requests_total",
        "HTTP requests by route (operation id), method and status"
    );
    metrics::describe_gauge!(
        "switchboard_ws_connections",
        "Open authenticated WebSockets"
    );
    metrics::describe_counter!(
        "switchboard_ws_events_sent_total",
        "Event frames queued to WebSocket connections"
    );
    metrics::describe_counter!(
        "switchboard_ws_slow_consumers_total",
        "Connections closed with 4008 because their queue was full"
    );
    metrics::describe_gauge!(
        "switchboard_downloads_in_flight",
        "Downloads being streamed"
    );
    metrics::describe_counter!(
        "switchboard_backups_total",
        "Backups finished, by trigger (api, schedule, cli) and outcome (completed, failed)"
    );
    metrics::describe_gauge!(
        "switchboard_backup_last_success_timestamp_seconds",
        "Unix time the last successful backup of this process finished"
    );
    metrics::describe_gauge!(
        "switchboard_backup_last_duration_seconds",
        "Seconds the last successful backup took"
    );
    // Present from the start, so dashboards see zeros rather than gaps.
    gauge!("switchboard_ws_connections").set(0.0);
    gauge!("switchboard_downloads_in_flight").set(0.0);
    counter!("switchboard_ws_events_sent_total").absolute(0);
    counter!("switchboard_ws_slow_consumers_total").absolute(0);
    for trigger in ["api", "schedule", "cli"] {
        for outcome in ["completed", "failed"] {
            counter!("switchboard_backups_total", "trigger" => trigger, "outcome" => outcome)
                .absolute(0);
        }
    }
}

pub fn http_request(route: &str, method: &str, status: u16) {
    counter!(
        "switchboard_http_requests_total",
        "route" => route.to_owned(),
        "method" => method.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
}

pub fn ws_connections(delta: i64) {
    gauge!("switchboard_ws_connections").increment(delta as f64);
}

pub fn ws_events_sent(n: u64) {
    if n > 0 {
        counter!("switchboard_ws_events_sent_total").increment(n);
    }
}

/// One more (`+1`) or one fewer (`-1`) download streaming right now.
fn downloads_in_flight(delta: f64) {
    gauge!("switchboard_downloads_in_flight").increment(delta);
}

/// One download (or ZIP bundle) streaming: counted in the gauge while this value lives, so a
/// body dropped at any point (client gone) lowers it again.
pub struct DownloadInFlight;

impl DownloadInFlight {
    pub fn enter() -> Self {
        downloads_in_flight(1.0);
        Self
    }
}

impl Drop for DownloadInFlight {
    fn drop(&mut self) {
        downloads_in_flight(-1.0);
    }
}

/// The outcome of a backup: `switchboard_backups_total{trigger, outcome}`, and for a success
/// the time it finished and how long it took (alert on a stale timestamp to notice a failing
/// schedule).
pub fn backup_finished(trigger: &'static str, ok: bool, took: std::time::Duration) {
    let outcome = if ok { "completed" } else { "failed" };
    counter!("switchboard_backups_total", "trigger" => trigger, "outcome" => outcome).increment(1);
    if ok {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        gauge!("switchboard_backup_last_success_timestamp_seconds").set(now);
        gauge!("switchboard_backup_last_duration_seconds").set(took.as_secs_f64());
    }
}

pub fn ws_slow_consumer() {
    counter!("switchboard_ws_slow_consumers_total").increment(1);
}

#[handler]
pub async fn endpoint() -> Response {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(h) => h
            .render()
            .with_content_type("text/plain; version=0.0.4; charset=utf-8")
            .into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
