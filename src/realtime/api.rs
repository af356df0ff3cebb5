//! `GET /api/events`: the audit trail, read from the same log the sockets are fed from.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};

use super::log;
use crate::{
    auth::guard::BearerAuth,
    error::{ApiResult, Error},
    state::AppState,
    tags::ApiTags,
};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

pub struct EventsApi;

/// A page of the event log.
#[derive(Debug, Object)]
pub struct EventPage {
    /// Event frames, exactly as sent on the WebSocket:
    /// `{"type", "seq", "ts", "actor": {"id", "username"} | null, "data"}`.
    pub items: Vec<serde_json::Value>,
    /// The latest seq in the log when this page was read.
    pub latest_seq: i64,
}

#[OpenApi(tag = "ApiTags::Events")]
impl EventsApi {
    /// Read the event log (audit trail)
    ///
    /// Ascending from `after` (default 0), or newest first below `before`. `type` filters by event
    /// type (e.g. `user.updated`), `actor` by user id or username.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/events", method = "get", operation_id = "list_events")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        after: Query<Option<i64>>,
        before: Query<Option<i64>>,
        limit: Query<Option<u64>>,
        #[oai(name = "type")] kind: Query<Option<String>>,
        actor: Query<Option<String>>,
    ) -> ApiResult<Json<EventPage>> {
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(
                Error::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")).into(),
            );
        }
        if after.0.is_some() && before.0.is_some() {
            return Err(Error::BadRequest("use either after or before, not both".into()).into());
        }
        let query = log::Query {
            after: after.0,
            before: before.0,
            kind: kind.0,
            actor: actor.0,
            limit,
        };
        let db = state.db().conn();
        let rows = log::list(db, &query).await?;
        // Read after the rows, so no item is newer than `latest_seq`.
        let latest_seq = log::head(db).await?;
        let items = rows
            .iter()
            .map(|r| serde_json::from_str(&log::to_frame(r)).unwrap_or_default())
            .collect();
        Ok(Json(EventPage { items, latest_seq }))
    }
}
