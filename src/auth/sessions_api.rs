//! `/api/auth/sessions`, `/api/users/{id}/sessions`, `/api/sessions/{id}`: who is signed in where,
//! and ending it (docs/API.md §3.5). Thin handlers over [`super::service`] and
//! [`super::sessions`].

use chrono::{DateTime, Utc};
use entity::session;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{guard::BearerAuth, service, sessions};
use crate::{error::ApiResult, pagination::PageParams, state::AppState, tags::ApiTags};

pub struct SessionsApi;

/// A signed-in browser or client: one refresh-token chain.
#[derive(Debug, Object)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    /// The client address at sign-in.
    #[oai(nullable)]
    pub ip: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The last sign-in or token refresh (about every 15 minutes while in use).
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// This is the session making the request.
    pub current: bool,
}

/// A page of live sessions, newest first.
#[derive(Debug, Object)]
pub struct SessionList {
    pub items: Vec<Session>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(ApiResponse)]
pub enum Ended {
    /// Ended: its refresh token is refused and its sockets close with 4401.
    #[oai(status = 204)]
    Done,
}

fn to_dto(s: session::Model, current: &str) -> Session {
    Session {
        current: s.id == current,
        id: s.id,
        user_id: s.user_id,
        ip: s.ip,
        user_agent: s.user_agent,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: s.expires_at,
    }
}

async fn list_of(
    state: &AppState,
    user_id: &str,
    current: &str,
    page: Option<u64>,
    per_page: Option<u64>,
) -> ApiResult<Json<SessionList>> {
    let params = PageParams::parse(page, per_page)?;
    let (rows, total) =
        sessions::list_live(state.db().conn(), user_id, params.offset(), params.per_page).await?;
    Ok(Json(SessionList {
        items: rows.into_iter().map(|s| to_dto(s, current)).collect(),
        total,
        page: params.page,
        per_page: params.per_page,
    }))
}

#[OpenApi(tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// Your sessions
    #[oai(
        path = "/auth/sessions",
        method = "get",
        operation_id = "list_my_sessions"
    )]
    async fn mine(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> ApiResult<Json<SessionList>> {
        list_of(
            &state,
            &auth.0.user_id,
            &auth.0.session_id,
            page.0,
            per_page.0,
        )
        .await
    }

    /// End your other sessions
    ///
    /// Signs out every browser and client of yours except this one.
    #[oai(
        path = "/auth/sessions",
        method = "delete",
        operation_id = "end_my_other_sessions"
    )]
    async fn end_others(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Ended> {
        service::end_other_sessions(&state, &auth.0).await?;
        Ok(Ended::Done)
    }

    /// A user's sessions (admin)
    #[oai(
        path = "/users/:id/sessions",
        method = "get",
        operation_id = "list_user_sessions"
    )]
    async fn of_user(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> ApiResult<Json<SessionList>> {
        auth.0.require_admin()?;
        crate::users::service::get(state.db().conn(), &id.0).await?;
        list_of(&state, &id.0, &auth.0.session_id, page.0, per_page.0).await
    }

    /// End all of a user's sessions (admin)
    #[oai(
        path = "/users/:id/sessions",
        method = "delete",
        operation_id = "end_user_sessions"
    )]
    async fn end_of_user(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Ended> {
        service::end_user_sessions(&state, &auth.0, &id.0).await?;
        Ok(Ended::Done)
    }

    /// End a session
    ///
    /// Your own, or (admin) anyone's.
    #[oai(
        path = "/sessions/:id",
        method = "delete",
        operation_id = "end_session"
    )]
    async fn end(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Ended> {
        service::end_session(&state, &auth.0, &id.0).await?;
        Ok(Ended::Done)
    }
}
