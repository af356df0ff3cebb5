//! `/api/auth/*` handlers.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{guard::BearerAuth, service};
use crate::{
    error::ApiResult, state::AppState, strict::StrictString, tags::ApiTags, users::dto::User,
};

pub struct AuthApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: StrictString,
    pub password: StrictString,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: StrictString,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: StrictString,
    /// At least 8 characters.
    pub new_password: StrictString,
}

/// Tokens for a session: a short-lived access token and a single-use refresh token.
#[derive(Debug, Object)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Exchange at `/api/auth/refresh` before `expires_in` runs out; single use.
    pub refresh_token: String,
    pub user: User,
}

impl From<service::Tokens> for TokenResponse {
    fn from(t: service::Tokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer".into(),
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            user: t.user.into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Log in
    ///
    /// The same 401 whether the user is unknown, disabled or the password is wrong. Repeated
    /// failures for a username or from a client address give 429 with `Retry-After`.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let ua = req
            .header(poem::http::header::USER_AGENT)
            .map(str::to_owned);
        let LoginRequest { username, password } = body.0;
        let tokens = service::login(&state, &username, password.into_inner(), ip, ua).await?;
        Ok(Json(tokens.into()))
    }

    /// Refresh tokens
    ///
    /// Returns a new pair; the refresh token sent is spent. Sending a spent one again ends the
    /// whole session (someone else has a copy).
    #[oai(path = "/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let tokens = service::refresh(&state, &body.refresh_token).await?;
        Ok(Json(tokens.into()))
    }

    /// Log out
    ///
    /// Ends the session of this refresh token; idempotent.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> ApiResult<NoContent> {
        service::logout(&state, &body.refresh_token).await?;
        Ok(NoContent::Done)
    }

    /// The current user
    #[oai(path = "/auth/me", method = "get", operation_id = "me")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<User>> {
        let user = crate::users::service::get(state.db().conn(), &auth.0.user_id).await?;
        Ok(Json(user.into()))
    }

    /// Change your password
    ///
    /// Ends all your sessions, this one included: log in again with the new password.
    #[oai(
        path = "/auth/password",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<ChangePasswordRequest>,
    ) -> ApiResult<NoContent> {
        let ChangePasswordRequest {
            current_password,
            new_password,
        } = body.0;
        service::change_password(
            &state,
            &auth.0,
            current_password.into_inner(),
            new_password.into_inner(),
        )
        .await?;
        Ok(NoContent::Done)
    }
}
