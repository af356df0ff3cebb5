//! `/healthz` (the process answers) and `/readyz` (the database answers).

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::json;

use crate::state::AppState;

#[handler]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    match state.db().ping().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Json(json!({"error": {"code": "not_ready", "message": "database unreachable"}}))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .into_response()
        }
    }
}
