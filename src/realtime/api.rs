//! `GET /api/events`: the audit trail, read from the same log the sockets are fed from.

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query};

use super::log;
use crate::{
    auth::guard::BearerAuth,
    error::{ApiResult, Error},
    raw_json::RawJson,
    state::AppState,
    tags::ApiTags,
};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

pub struct EventsApi;

// Documents the body `list` writes as text (`RawJson`).
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
    ) -> ApiResult<RawJson<EventPage>> {
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
        // The frames are JSON text already: the page is written around them, not re-parsed.
        let mut body =
            String::with_capacity(64 + rows.iter().map(|r| r.data.len() + 160).sum::<usize>());
        body.push_str("{\"items\":[");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&log::to_frame(row));
        }
        body.push_str("],\"latest_seq\":");
        body.push_str(&latest_seq.to_string());
        body.push('}');
        Ok(RawJson::new(body))
    }
}
