//! The bearer security scheme: verifies the JWT, then checks its session is still live.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use super::sessions::{self, Principal};
use crate::{
    error::{ApiError, Error, Result},
    state::AppState,
};

/// `Authorization: Bearer <access token>` from `POST /api/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_token")]
pub struct BearerAuth(pub Principal);

async fn check_token(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| to_poem(Error::Internal("application state missing".into())))?;
    resolve(state, &bearer.token).await.map_err(to_poem)
}

/// Access token → principal: signature and claims, then a live session (cached where safe).
pub async fn resolve(state: &AppState, token: &str) -> Result<Principal> {
    let claims = state.jwt().verify(token)?;
    if let Some(p) = state.principals().get(&claims.sid, &claims.sub) {
        return Ok(p);
    }
    let epoch = state.principals().epoch();
    let (principal, expires_at) =
        sessions::principal(state.db().conn(), &claims.sid, &claims.sub).await?;
    state
        .principals()
        .insert(epoch, principal.clone(), expires_at);
    Ok(principal)
}

/// Re-checks a principal's session against the database, bypassing the cache.
pub async fn check_session(state: &AppState, principal: &Principal) -> Result<()> {
    sessions::principal(state.db().conn(), &principal.session_id, &principal.user_id)
        .await
        .map(|_| ())
}

fn to_poem(err: Error) -> poem::Error {
    ApiError::from(err).into()
}
