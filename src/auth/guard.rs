//! The bearer security scheme: verifies the JWT, then checks its session is still live.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use super::{
    keys, mfa,
    sessions::{self, Principal},
};
use crate::{
    error::{ApiError, Error, Result},
    state::AppState,
};

/// `Authorization: Bearer <token>`: an access token from `POST /api/auth/login` (a JWT) or an
/// API key from `POST /api/keys` (`sbk_…`).
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "JWT or API key",
    checker = "check_token"
)]
pub struct BearerAuth(pub Principal);

/// What an admin who must still enrol a second factor may reach (`--require-mfa-for-admins`).
const OPEN_WHILE_ENROLLING: &[&str] = &[
    "/api/auth/me",
    "/api/auth/mfa",
    "/api/auth/mfa/totp",
    "/api/auth/mfa/totp/confirm",
    "/api/auth/password",
];

async fn check_token(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| to_poem(Error::Internal("application state missing".into())))?;
    let principal = resolve(state, &bearer.token).await.map_err(to_poem)?;
    if principal.mfa_pending && !OPEN_WHILE_ENROLLING.contains(&req.original_uri().path()) {
        return Err(to_poem(Error::MfaEnrollmentRequired));
    }
    Ok(principal)
}

/// Bearer token → principal. An access token: signature and claims, then a live session
/// (cached where safe). An API key: its row and owner, every time.
pub async fn resolve(state: &AppState, token: &str) -> Result<Principal> {
    if let Some((id, secret)) = keys::parse(token) {
        return keys::principal(state.writer(), id, secret).await;
    }
    let claims = state.jwt().verify(token)?;
    if let Some(p) = state.principals().get(&claims.sid, &claims.sub) {
        return Ok(p);
    }
    let epoch = state.principals().epoch();
    let (mut principal, expires_at) =
        sessions::principal(state.db().conn(), &claims.sid, &claims.sub).await?;
    if state.settings().require_mfa_for_admins && principal.is_admin() {
        principal.mfa_pending = !mfa::is_enabled(state.db().conn(), &principal.user_id).await?;
    }
    state
        .principals()
        .insert(epoch, principal.clone(), expires_at);
    Ok(principal)
}

/// Re-checks a principal's session against the database, bypassing the cache.
pub async fn check_session(state: &AppState, principal: &Principal) -> Result<()> {
    if principal.key.is_some() {
        let still = keys::is_live(state.db().conn(), &principal.session_id).await?;
        return if still {
            Ok(())
        } else {
            Err(Error::Unauthorized("API key revoked or expired"))
        };
    }
    sessions::principal(state.db().conn(), &principal.session_id, &principal.user_id)
        .await
        .map(|_| ())
}

fn to_poem(err: Error) -> poem::Error {
    ApiError::from(err).into()
}
