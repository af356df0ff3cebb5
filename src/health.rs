//! `/healthz` (the process answers) and `/readyz` (the database answers, and a remote file
//! store too).

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Json},
};
use std::time::Duration;

use serde_json::json;

use crate::state::AppState;

#[handler]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    if let Err(e) = state.db().ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return not_ready("database unreachable");
    }
    let storage = state.storage();
    if storage.is_remote() {
        let answered = tokio::time::timeout(STORAGE_PING_TIMEOUT, storage.ping()).await;
        if let Err(e) = answered
            .map_err(|_| "timed out".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::warn!(error = %e, storage = storage.description(), "readiness check failed");
            return not_ready("file storage unreachable");
        }
    }
    Json(json!({"status": "ok"})).into_response()
}

/// A load balancer polls `/readyz` often; an instance whose bucket hangs is not ready.
const STORAGE_PING_TIMEOUT: Duration = Duration::from_secs(3);

fn not_ready(message: &str) -> Response {
    Json(json!({"error": {"code": "not_ready", "message": message}}))
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .into_response()
}
