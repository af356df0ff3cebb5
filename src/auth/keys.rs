//! API keys for scripts: the only code writing `api_keys`. A key is
//! `sbk_<id>_<secret>`; only the secret's SHA-256 is stored. A key acts with its own role, never
//! more than its owner has at the time of use, and stops working the moment it is revoked,
//! expires or its owner is disabled (docs/API.md §3.3).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entity::{api_key, user};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sessions::{KeyCredential, Principal};
use crate::{
    error::{Error, Result},
    realtime::event::{Actor, EventType, Revoke},
    users::Role,
    write::Writer,
};

const PREFIX: &str = "sbk_";
/// `last_used_at` is written at most this often per key, so a busy script costs no write per
/// request.
const LAST_USED_GRANULARITY: Duration = Duration::seconds(60);
const NAME_MAX_CHARS: usize = 64;

/// What `POST /api/keys` asks for.
pub struct NewKey {
    pub name: String,
    pub role: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Whether a bearer token is shaped like an API key; its id and secret.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 32)
        .then_some((id, secret))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a key for the caller; returns the row and the key, which is never shown again.
pub async fn create(
    writer: &Writer,
    owner: &Principal,
    req: NewKey,
) -> Result<(api_key::Model, String)> {
    owner.require_session()?;
    let name = req.name.trim().to_owned();
    let mut problems = std::collections::BTreeMap::new();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        problems.insert(
            "name".to_owned(),
            format!("must be 1–{NAME_MAX_CHARS} characters"),
        );
    }
    let role: Option<Role> = req.role.parse().ok();
    if role.is_none() {
        problems.insert("role".to_owned(), "must be admin or viewer".to_owned());
    }
    if req.expires_at.is_some_and(|t| t <= Utc::now()) {
        problems.insert("expires_at".to_owned(), "must be in the future".to_owned());
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    let role = role.ok_or_else(|| Error::Internal("role validated but missing".into()))?;
    if role == Role::Admin && !owner.is_admin() {
        return Err(Error::Forbidden(
            "a key's role cannot be higher than your own",
        ));
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = URL_SAFE_NO_PAD.encode(raw);
    let id = uuid::Uuid::now_v7().simple().to_string();
    let mut w = writer.begin().await?;
    let model = api_key::ActiveModel {
        id: Set(id.clone()),
        user_id: Set(owner.user_id.clone()),
        name: Set(name),
        role: Set(role.as_str().to_owned()),
        secret_hash: Set(hash(&secret)),
        created_at: Set(Utc::now()),
        expires_at: Set(req.expires_at),
        last_used_at: Set(None),
    }
    .insert(&*w)
    .await?;
    w.event(
        EventType::KeyCreated,
        Some(&Actor::from(owner)),
        event_json(&model),
    );
    w.commit().await?;
    Ok((model, format!("{PREFIX}{id}_{secret}")))
}

/// The key as the log and the socket show it (no secret material).
pub fn event_json(k: &api_key::Model) -> serde_json::Value {
    json!({
        "id": k.id, "user_id": k.user_id, "name": k.name, "role": k.role,
        "created_at": crate::realtime::event::format_ts(k.created_at),
        "expires_at": k.expires_at.map(crate::realtime::event::format_ts),
    })
}

/// A page of a user's keys, newest first, and their number.
pub async fn list(
    db: &impl ConnectionTrait,
    user_id: &str,
    offset: u64,
    limit: u64,
) -> Result<(Vec<api_key::Model>, u64)> {
    let of_user = || api_key::Entity::find().filter(api_key::Column::UserId.eq(user_id));
    let total = of_user().count(db).await?;
    let rows = of_user()
        .order_by_desc(api_key::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Revokes a key: its owner or an admin; anyone else gets the same 404 as for no key at all.
pub async fn revoke(writer: &Writer, actor: &Principal, id: &str) -> Result<()> {
    let mut w = writer.begin().await?;
    let key = api_key::Entity::find_by_id(id)
        .one(&*w)
        .await?
        .filter(|k| k.user_id == actor.user_id || actor.is_admin())
        .ok_or(Error::NotFound("API key"))?;
    api_key::Entity::delete_by_id(id).exec(&*w).await?;
    w.event(
        EventType::KeyRevoked,
        Some(&Actor::from(actor)),
        json!({"id": key.id, "user_id": key.user_id, "name": key.name}),
    );
    // The key's id is the "session" of the sockets opened with it.
    w.revoke(Revoke::Session(key.id));
    w.commit().await?;
    Ok(())
}

/// Resolves a presented key to its principal: the secret must match, the key be unexpired and
/// its owner enabled. The role is the lower of the key's and the owner's.
pub async fn principal(writer: &Writer, id: &str, secret: &str) -> Result<Principal> {
    let denied = Error::Unauthorized("invalid, expired or revoked API key");
    let Some((key, Some(owner))) = api_key::Entity::find_by_id(id)
        .find_also_related(user::Entity)
        .one(writer.db().conn())
        .await?
    else {
        return Err(denied);
    };
    let presented = hash(secret);
    let now = Utc::now();
    if !bool::from(presented.as_bytes().ct_eq(key.secret_hash.as_bytes()))
        || key.expires_at.is_some_and(|t| t <= now)
        || owner.disabled
    {
        return Err(denied);
    }
    let key_role: Role = key
        .role
        .parse()
        .map_err(|_| Error::Internal(format!("bad key role in database: {}", key.role)))?;
    let owner_role: Role = owner
        .role
        .parse()
        .map_err(|_| Error::Internal(format!("bad role in database: {}", owner.role)))?;
    let role = if key_role == Role::Admin && owner_role == Role::Admin {
        Role::Admin
    } else {
        Role::Viewer
    };
    if key
        .last_used_at
        .is_none_or(|t| now - t >= LAST_USED_GRANULARITY)
    {
        touch(writer.clone(), key.id.clone());
    }
    Ok(Principal {
        user_id: owner.id,
        username: owner.username,
        role,
        session_id: key.id,
        key: Some(KeyCredential {
            expires_at: key.expires_at,
        }),
        mfa_pending: false,
    })
}

/// Whether the key still works: it exists, has not expired, and its owner is enabled (the
/// WebSocket's periodic re-check).
pub async fn is_live(db: &impl ConnectionTrait, id: &str) -> Result<bool> {
    let found = api_key::Entity::find_by_id(id)
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    Ok(matches!(found, Some((k, Some(u)))
        if !u.disabled && k.expires_at.is_none_or(|t| t > Utc::now())))
}

/// Records `last_used_at` off the request path; a failure only costs the bookkeeping.
fn touch(writer: Writer, id: String) {
    tokio::spawn(async move {
        let done = async {
            let w = writer.begin().await?;
            api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(Utc::now())))
                .filter(api_key::Column::Id.eq(&id))
                .exec(&*w)
                .await?;
            w.commit().await
        }
        .await;
        if let Err(e) = done {
            tracing::warn!(key_id = %id, error = %e, "recording a key's last use failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_shaped_tokens_parse() {
        let id = "0".repeat(32);
        let secret = "s".repeat(43);
        assert_eq!(
            parse(&format!("sbk_{id}_{secret}")),
            Some((id.as_str(), secret.as_str()))
        );
        // Secrets are base64url: an `_` inside belongs to the secret.
        let tricky = format!("sbk_{id}_ab_{secret}");
        assert_eq!(parse(&tricky).map(|p| p.0), Some(id.as_str()));
        assert!(parse("eyJhbGciOi.x.y").is_none());
        assert!(parse(&format!("sbk_{}_{secret}", "z".repeat(32))).is_none());
        assert!(parse(&format!("sbk_{id}_short")).is_none());
    }
}
