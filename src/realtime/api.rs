//! `GET /api/events`: the audit trail, read from the same log the sockets are fed from.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query};

use super::{event::EventType, log};
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
    /// type (e.g. `user.updated`; a comma-separated list, `user.*` by prefix), `actor` by user id
    /// or username, `since`/`until` by the event's `ts` (RFC 3339; `since` inclusive, `until`
    /// exclusive). Filters combine (all must hold).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/events", method = "get", operation_id = "list_events")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        after: Query<Option<i64>>,
        before: Query<Option<i64>>,
        limit: Query<Option<u64>>,
        /// Event types, comma-separated; an item ending in `*` matches by prefix (`user.*`).
        #[oai(name = "type")]
        kind: Query<Option<String>>,
        /// A user id or username.
        actor: Query<Option<String>>,
        /// Only events with `ts` at or after this RFC 3339 timestamp (`2026-12-01T00:00:00Z`).
        since: Query<Option<String>>,
        /// Only events with `ts` before this RFC 3339 timestamp.
        until: Query<Option<String>>,
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
        let since = parse_ts("since", since.0.as_deref())?;
        let until = parse_ts("until", until.0.as_deref())?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(Error::BadRequest("since must not be after until".into()).into());
        }
        let query = log::Query {
            after: after.0,
            before: before.0,
            kinds: parse_kinds(kind.0.as_deref())?,
            actor: actor.0,
            since,
            until,
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

/// Most distinct types one `type` filter may name (each is one index walk).
pub const MAX_TYPES: usize = 32;

/// `since` / `until`: an RFC 3339 timestamp (any offset).
fn parse_ts(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(value.trim())
        .map(|ts| Some(ts.with_timezone(&Utc)))
        .map_err(|_| {
            Error::BadRequest(format!(
                "{name} must be an RFC 3339 timestamp, such as 2026-12-01T00:00:00Z"
            ))
        })
}

/// `type`: comma-separated event types; an item ending in `*` stands for every durable type
/// with that prefix (`user.*`). Empty items are ignored, so an empty value filters nothing;
/// `None` also when the list names every durable type (the log holds only those).
fn parse_kinds(value: Option<&str>) -> Result<Option<Vec<String>>, Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    let mut named = false;
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        named = true;
        match item.strip_suffix('*') {
            Some(prefix) => kinds.extend(
                EventType::ALL
                    .into_iter()
                    .filter(|t| t.is_durable() && t.as_str().starts_with(prefix))
                    .map(|t| t.as_str().to_owned()),
            ),
            None => {
                kinds.insert(item.to_owned());
            }
        }
    }
    if !named {
        return Ok(None);
    }
    if kinds.len() > MAX_TYPES {
        return Err(Error::BadRequest(format!(
            "type names more than {MAX_TYPES} types"
        )));
    }
    let every = EventType::ALL
        .into_iter()
        .filter(|t| t.is_durable())
        .all(|t| kinds.contains(t.as_str()));
    Ok(if every {
        None
    } else {
        Some(kinds.into_iter().collect())
    })
}
