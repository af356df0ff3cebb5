//! `/api/auth/*` handlers.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, Union, param::Path, payload::Json};

use super::{
    guard::BearerAuth,
    reset,
    service::{self, LoginOutcome},
};
use crate::{
    error::{ApiResult, Error},
    links,
    state::AppState,
    strict::StrictString,
    tags::ApiTags,
    users::dto::User,
};

pub struct AuthApi;

/// The client's address and user agent, kept on the session it opens.
pub fn client_of(req: &Request) -> (Option<std::net::IpAddr>, Option<String>) {
    let ip = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let ua = req
        .header(poem::http::header::USER_AGENT)
        .map(str::to_owned);
    (ip, ua)
}

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

/// The password was right and the account has a second factor: answer `challenge` with a code
/// at `POST /api/auth/mfa`.
#[derive(Debug, Object)]
pub struct MfaChallenge {
    /// Always `true`.
    pub mfa_required: bool,
    pub challenge: String,
    /// Seconds the challenge stays valid.
    pub expires_in: u64,
}

/// Tokens, or a second-factor challenge.
#[derive(Debug, Union)]
#[oai(one_of)]
pub enum LoginResponse {
    Tokens(Box<TokenResponse>),
    MfaRequired(MfaChallenge),
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: StrictString,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    /// From the link (`/reset#token=…`).
    pub token: StrictString,
    /// At least 8 characters.
    pub new_password: StrictString,
}

/// A password reset link for an admin to hand over.
#[derive(Debug, Object)]
pub struct ResetLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted: if the address belongs to an enabled user, a link is on its way. The answer is
    /// the same for every address.
    #[oai(status = 202)]
    Accepted,
}

#[derive(ApiResponse)]
pub enum LinkCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ResetLink>),
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
    /// failures for a username or from a client address give 429 with `Retry-After`. With a
    /// second factor on, the answer is `{mfa_required: true, challenge, expires_in}` instead of
    /// tokens: send the challenge and a code to `POST /api/auth/mfa`.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> ApiResult<Json<LoginResponse>> {
        let (ip, ua) = client_of(req);
        let LoginRequest { username, password } = body.0;
        let outcome = service::login(&state, &username, password.into_inner(), ip, ua).await?;
        Ok(Json(match outcome {
            LoginOutcome::Tokens(t) => LoginResponse::Tokens(Box::new((*t).into())),
            LoginOutcome::Challenge {
                challenge,
                expires_in,
            } => LoginResponse::MfaRequired(MfaChallenge {
                mfa_required: true,
                challenge,
                expires_in,
            }),
        }))
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

    /// Forgot password
    ///
    /// Mails a single-use reset link (valid one hour by default) if the address belongs to an
    /// enabled user. Always 202, whatever the address; requests from one client address are
    /// throttled (429).
    #[oai(
        path = "/auth/reset",
        method = "post",
        operation_id = "request_password_reset"
    )]
    async fn request_reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<ResetRequest>,
    ) -> ApiResult<Accepted> {
        if let Some(ip) = req.remote_addr().as_socket_addr().map(|a| a.ip()) {
            let key = format!("reset-ip:{ip}");
            let throttle = &state.throttles().reset_ip;
            if let Some(retry_after_secs) = throttle.retry_after(&key) {
                return Err(Error::RateLimited { retry_after_secs }.into());
            }
            throttle.record_failure(&key);
        }
        reset::request(&state, &body.email);
        Ok(Accepted::Accepted)
    }

    /// Set a new password from a reset link
    ///
    /// The link works once; every session of the user ends. An unknown, used or expired link
    /// is 410.
    #[oai(
        path = "/auth/reset/confirm",
        method = "post",
        operation_id = "confirm_password_reset"
    )]
    async fn confirm_reset(
        &self,
        state: Data<&AppState>,
        body: Json<ResetConfirmRequest>,
    ) -> ApiResult<NoContent> {
        let ResetConfirmRequest {
            token,
            new_password,
        } = body.0;
        reset::confirm(&state, &token, new_password.into_inner()).await?;
        Ok(NoContent::Done)
    }

    /// Make a password reset link (admin)
    ///
    /// For handing over by other means (no mail server configured, or a user locked out). The
    /// link works once, for an hour by default.
    #[oai(
        path = "/users/:id/reset-link",
        method = "post",
        operation_id = "create_reset_link"
    )]
    async fn reset_link(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<LinkCreated> {
        let base = links::public_base(&state, req);
        let (url, expires_at) = reset::link_for(&state, &auth.0, &id.0, &base).await?;
        Ok(LinkCreated::Created(Json(ResetLink { url, expires_at })))
    }
}
