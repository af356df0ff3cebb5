//! `/api/auth/mfa*` and `/api/users/{id}/mfa`: the TOTP second factor (docs/API.md §3.4), thin
//! handlers over [`super::mfa`] and [`super::service`].

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    api::{TokenResponse, client_of},
    guard::BearerAuth,
    mfa, service,
};
use crate::{error::ApiResult, state::AppState, strict::StrictString, tags::ApiTags};

pub struct MfaApi;

/// Where a user's second factor stands.
#[derive(Debug, Object)]
pub struct MfaStatus {
    /// A confirmed TOTP factor is on: signing in asks for a code.
    pub totp_enabled: bool,
    #[oai(nullable)]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
    /// The server requires admins to have a second factor (`--require-mfa-for-admins`) and
    /// this user is an admin.
    pub required: bool,
}

/// A TOTP secret to enrol, not active until confirmed with a first code.
#[derive(Debug, Object)]
pub struct TotpEnrollment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/…` (SHA-1, 6 digits, 30 s), for a QR code.
    pub otpauth_uri: String,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CodeRequest {
    /// The 6-digit code the app shows now.
    pub code: StrictString,
}

/// Ten single-use codes for when the app is lost; shown only once.
#[derive(Debug, Object)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: StrictString,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// From the `mfa_required` answer of `POST /api/auth/login`.
    pub challenge: StrictString,
    /// A 6-digit TOTP code, or one of the recovery codes.
    pub code: StrictString,
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

fn status_of(s: mfa::Status, required: bool) -> MfaStatus {
    MfaStatus {
        totp_enabled: s.enabled,
        confirmed_at: s.confirmed_at,
        recovery_codes_left: s.recovery_codes_left,
        required,
    }
}

async fn status_for(state: &AppState, user_id: &str) -> ApiResult<MfaStatus> {
    let user = crate::users::service::get(state.db().conn(), user_id).await?;
    let required =
        state.settings().require_mfa_for_admins && user.role == crate::users::Role::Admin.as_str();
    let s = mfa::status(state.db().conn(), user_id).await?;
    Ok(status_of(s, required))
}

#[OpenApi(tag = "ApiTags::Mfa")]
impl MfaApi {
    /// Your second factor
    #[oai(path = "/auth/mfa", method = "get", operation_id = "mfa_status")]
    async fn status(&self, state: Data<&AppState>, auth: BearerAuth) -> ApiResult<Json<MfaStatus>> {
        Ok(Json(status_for(&state, &auth.0.user_id).await?))
    }

    /// Sign in: the second step
    ///
    /// Answers the `mfa_required` challenge of `POST /api/auth/login` with a TOTP code or a
    /// recovery code. Each code works once. A wrong code is 401 `invalid_mfa_code`; repeated
    /// failures give 429 with `Retry-After`.
    #[oai(path = "/auth/mfa", method = "post", operation_id = "login_mfa")]
    async fn login_mfa(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<MfaLoginRequest>,
    ) -> ApiResult<Json<TokenResponse>> {
        let (ip, ua) = client_of(req);
        let tokens = service::complete_mfa(&state, &body.challenge, &body.code, ip, ua).await?;
        Ok(Json(tokens.into()))
    }

    /// Start TOTP enrolment
    ///
    /// A new secret for an authenticator app; nothing changes until it is confirmed. Starting
    /// again replaces an unconfirmed secret; 409 `mfa_already_enabled` when the factor is on.
    #[oai(
        path = "/auth/mfa/totp",
        method = "post",
        operation_id = "mfa_totp_start"
    )]
    async fn start(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> ApiResult<Json<TotpEnrollment>> {
        let (secret, otpauth_uri) = mfa::start(state.writer(), &auth.0).await?;
        Ok(Json(TotpEnrollment {
            secret,
            otpauth_uri,
        }))
    }

    /// Confirm TOTP enrolment
    ///
    /// The first code from the app turns the factor on and returns ten recovery codes (shown
    /// once). A wrong code is 422; repeated failures give 429.
    #[oai(
        path = "/auth/mfa/totp/confirm",
        method = "post",
        operation_id = "mfa_totp_confirm"
    )]
    async fn confirm(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<CodeRequest>,
    ) -> ApiResult<Json<RecoveryCodes>> {
        let recovery_codes = service::confirm_mfa(&state, &auth.0, &body.code).await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }

    /// Turn TOTP off
    ///
    /// Needs your password. 404 when no second factor is on.
    #[oai(
        path = "/auth/mfa/totp",
        method = "delete",
        operation_id = "mfa_totp_disable"
    )]
    async fn disable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<PasswordRequest>,
    ) -> ApiResult<NoContent> {
        service::disable_mfa(&state, &auth.0, body.0.password.into_inner()).await?;
        Ok(NoContent::Done)
    }

    /// A user's second factor (admin)
    #[oai(
        path = "/users/:id/mfa",
        method = "get",
        operation_id = "user_mfa_status"
    )]
    async fn user_status(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Json<MfaStatus>> {
        auth.0.require_admin()?;
        Ok(Json(status_for(&state, &id.0).await?))
    }

    /// Reset a user's second factor (admin)
    ///
    /// For a user who lost their app and recovery codes: the factor is removed and they sign in
    /// with their password alone until they enrol again. 404 when none is on.
    #[oai(
        path = "/users/:id/mfa",
        method = "delete",
        operation_id = "user_mfa_reset"
    )]
    async fn reset(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        mfa::reset(state.writer(), &auth.0, &id.0).await?;
        Ok(NoContent::Done)
    }
}
