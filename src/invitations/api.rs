//! `/api/invitations*` (docs/API.md §4.2): thin handlers over [`super::service`].

use chrono::{DateTime, Duration, Utc};
use entity::invitation;
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::service;
use crate::{
    auth::{
        api::{TokenResponse, client_of},
        guard::BearerAuth,
        service as auth,
    },
    error::ApiResult,
    links, mail,
    pagination::PageParams,
    state::AppState,
    strict::StrictString,
    tags::ApiTags,
};

pub struct InvitationsApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    pub email: StrictString,
    /// `admin` or `viewer`.
    pub role: StrictString,
    /// Days the link stays valid (1–30); default `--invitation-ttl-days` (7).
    pub expires_in_days: Option<u32>,
}

/// An invitation to join.
#[derive(Debug, Object)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: String,
    /// The admin who sent it.
    #[oai(nullable)]
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    /// The user it became, once accepted.
    #[oai(nullable)]
    pub user_id: Option<String>,
}

impl From<invitation::Model> for Invitation {
    fn from(i: invitation::Model) -> Self {
        Self {
            status: service::status(&i, Utc::now()).to_owned(),
            id: i.id,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            created_at: i.created_at,
            expires_at: i.expires_at,
            user_id: i.user_id,
        }
    }
}

/// A new invitation with its link (shown only now).
#[derive(Debug, Object)]
pub struct CreatedInvitation {
    #[oai(flatten)]
    pub invitation: Invitation,
    /// The accept link, to copy when no mail is sent.
    pub url: String,
    /// Whether an e-mail with the link is being sent (`--smtp-url` is set).
    pub email_sent: bool,
}

#[derive(Debug, Object)]
pub struct InvitationList {
    pub items: Vec<Invitation>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct InvitationTokenRequest {
    /// From the link (`/invite#token=…`).
    pub token: StrictString,
}

/// What the accept page shows before the invitee chooses a name.
#[derive(Debug, Object)]
pub struct InvitationPreview {
    pub email: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    pub token: StrictString,
    /// 3–32 characters of `a-z 0-9 _ . -`, unique.
    pub username: StrictString,
    /// At least 8 characters.
    pub password: StrictString,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedInvitation>),
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// The user exists and is signed in.
    #[oai(status = 201)]
    Created(Json<TokenResponse>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    /// Revoked: the link no longer works.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(tag = "ApiTags::Invitations")]
impl InvitationsApi {
    /// Invite someone (admin)
    ///
    /// Creates a single-use link for the address and role and, with `--smtp-url` set, mails
    /// it. 409 `email_taken` when a user has the address, `invitation_pending` when one is
    /// already pending for it.
    #[oai(
        path = "/invitations",
        method = "post",
        operation_id = "create_invitation"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<CreateInvitationRequest>,
    ) -> ApiResult<Created> {
        let ttl = match body.expires_in_days {
            Some(d @ 1..=30) => Duration::days(i64::from(d)),
            Some(_) => {
                return Err(crate::error::Error::field("expires_in_days", "must be 1–30").into());
            }
            None => state.settings().invitation_ttl,
        };
        let (inv, token) =
            service::create(state.writer(), &auth.0, &body.email, &body.role, ttl).await?;
        let url = links::invitation_url(&links::public_base(&state, req), &token);
        let email_sent = if let Some(mailer) = state.mailer().cloned() {
            let mail_url = links::invitation_url(&links::mail_base(&state), &token);
            let message = mail::invitation(&mail_url, &auth.0.username, &inv.role, inv.expires_at);
            let to = inv.email.clone();
            tokio::spawn(async move {
                if let Err(e) = mailer.send(&to, message).await {
                    tracing::warn!(error = %e, "sending an invitation failed");
                }
            });
            true
        } else {
            false
        };
        Ok(Created::Created(Json(CreatedInvitation {
            invitation: inv.into(),
            url,
            email_sent,
        })))
    }

    /// List invitations (admin)
    ///
    /// Newest first; `status=pending` (the default) or `status=all`.
    #[oai(
        path = "/invitations",
        method = "get",
        operation_id = "list_invitations"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        status: Query<Option<String>>,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> ApiResult<Json<InvitationList>> {
        auth.0.require_admin()?;
        let pending_only = match status.0.as_deref() {
            None | Some("pending") => true,
            Some("all") => false,
            Some(_) => {
                return Err(crate::error::Error::BadRequest(
                    "status must be pending or all".into(),
                )
                .into());
            }
        };
        let params = PageParams::parse(page.0, per_page.0)?;
        let (rows, total) = service::list(
            state.db().conn(),
            pending_only,
            params.offset(),
            params.per_page,
        )
        .await?;
        Ok(Json(InvitationList {
            items: rows.into_iter().map(Invitation::from).collect(),
            total,
            page: params.page,
            per_page: params.per_page,
        }))
    }

    /// Revoke an invitation (admin)
    #[oai(
        path = "/invitations/:id",
        method = "delete",
        operation_id = "revoke_invitation"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Revoked> {
        service::revoke(state.writer(), &auth.0, &id.0).await?;
        Ok(Revoked::Done)
    }

    /// Look at an invitation
    ///
    /// For the accept page: the address and role a link is for. 410 when it is unknown, used,
    /// revoked or expired.
    #[oai(
        path = "/invitations/inspect",
        method = "post",
        operation_id = "inspect_invitation"
    )]
    async fn inspect(
        &self,
        state: Data<&AppState>,
        body: Json<InvitationTokenRequest>,
    ) -> ApiResult<Json<InvitationPreview>> {
        let inv = service::inspect(state.db().conn(), &body.token).await?;
        Ok(Json(InvitationPreview {
            email: inv.email,
            role: inv.role,
            expires_at: inv.expires_at,
        }))
    }

    /// Accept an invitation
    ///
    /// Creates the user with the invited address and role, and signs them in. The link works
    /// once: 410 when it is unknown, used, revoked or expired; 409 when the username is taken.
    #[oai(
        path = "/invitations/accept",
        method = "post",
        operation_id = "accept_invitation"
    )]
    async fn accept(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<AcceptInvitationRequest>,
    ) -> ApiResult<Accepted> {
        let AcceptInvitationRequest {
            token,
            username,
            password,
        } = body.0;
        let user = service::accept(
            state.writer(),
            &token,
            username.into_inner(),
            password.into_inner(),
            state.hasher(),
        )
        .await?;
        let (ip, ua) = client_of(req);
        let tokens = auth::open_session(&state, user, ip, ua).await?;
        Ok(Accepted::Created(Json(tokens.into())))
    }
}
