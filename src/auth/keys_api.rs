//! `/api/keys`: API keys for scripts (docs/API.md §3.3), thin handlers over [`super::keys`].

use chrono::{DateTime, Utc};
use entity::api_key;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    guard::BearerAuth,
    keys::{self, NewKey},
};
use crate::{
    error::ApiResult, pagination::PageParams, state::AppState, strict::StrictString, tags::ApiTags,
};

pub struct KeysApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// What the key is for, 1–64 characters.
    pub name: StrictString,
    /// `admin` or `viewer`; never more than your own role. A key acts with the lower of this
    /// and its owner's role at the time of each request.
    pub role: StrictString,
    /// When the key stops working; default: never. Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key, without its secret.
#[derive(Debug, Object)]
pub struct ApiKey {
    pub id: String,
    /// Whose key it is: it acts as this user.
    pub user_id: String,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Updated at most once a minute.
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(k: api_key::Model) -> Self {
        Self {
            id: k.id,
            user_id: k.user_id,
            name: k.name,
            role: k.role,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A new key: `key` is shown only in this response.
#[derive(Debug, Object)]
pub struct CreatedKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub role: String,
    /// Send as `Authorization: Bearer <key>` (REST) or as the WebSocket `auth` token.
    pub key: String,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A page of keys, newest first.
#[derive(Debug, Object)]
pub struct KeyList {
    pub items: Vec<ApiKey>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Created; store `key` now, it is not shown again.
    #[oai(status = 201)]
    Created(Json<CreatedKey>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    /// Revoked: requests and sockets using it are refused from now on.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// Create an API key
    ///
    /// For scripts: the key is a bearer token that acts as you, with the role you give it
    /// (never more than yours). Only a hash is stored. Needs a signed-in session, not a key.
    #[oai(path = "/keys", method = "post", operation_id = "create_key")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<CreateKeyRequest>,
    ) -> ApiResult<Created> {
        let CreateKeyRequest {
            name,
            role,
            expires_at,
        } = body.0;
        let (k, key) = keys::create(
            state.writer(),
            &auth.0,
            NewKey {
                name: name.into_inner(),
                role: role.into_inner(),
                expires_at,
            },
        )
        .await?;
        Ok(Created::Created(Json(CreatedKey {
            id: k.id,
            user_id: k.user_id,
            name: k.name,
            role: k.role,
            key,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
        })))
    }

    /// List API keys
    ///
    /// Your own keys; an admin may pass `user_id` to list anyone's.
    #[oai(path = "/keys", method = "get", operation_id = "list_keys")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        user_id: Query<Option<String>>,
        page: Query<Option<u64>>,
        per_page: Query<Option<u64>>,
    ) -> ApiResult<Json<KeyList>> {
        let whose = match user_id.0 {
            Some(id) if id != auth.0.user_id => {
                auth.0.require_admin()?;
                id
            }
            _ => auth.0.user_id.clone(),
        };
        let params = PageParams::parse(page.0, per_page.0)?;
        let (rows, total) =
            keys::list(state.db().conn(), &whose, params.offset(), params.per_page).await?;
        Ok(Json(KeyList {
            items: rows.into_iter().map(ApiKey::from).collect(),
            total,
            page: params.page,
            per_page: params.per_page,
        }))
    }

    /// Revoke an API key
    ///
    /// Your own, or (admin) anyone's. Sockets opened with it close with 4401.
    #[oai(path = "/keys/:id", method = "delete", operation_id = "revoke_key")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<Revoked> {
        keys::revoke(state.writer(), &auth.0, &id.0).await?;
        Ok(Revoked::Done)
    }
}
