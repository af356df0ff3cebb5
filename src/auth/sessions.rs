//! Login sessions: one row per refresh-token chain, rotated on every refresh, stored only as a
//! hash. Reusing a spent refresh token revokes the whole session.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use entity::{session, user};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    error::{Error, Result},
    realtime::event::Actor,
};

const INVALID_REFRESH: &str = "invalid or expired refresh token";

/// Who a request runs as, resolved from its access token on every request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub role: crate::users::Role,
    /// The login session, or the API key's id when the request came with a key.
    pub session_id: String,
    /// Set when the request authenticated with an API key.
    pub key: Option<KeyCredential>,
    /// `--require-mfa-for-admins` and this admin has no second factor yet: only enrolment is
    /// open to them (`guard.rs`).
    pub mfa_pending: bool,
}

/// What an API-key principal carries besides its id.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    /// When the key stops working (its sockets are closed then).
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == crate::users::Role::Admin
    }

    /// `Forbidden` unless the principal is an admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("this action requires the admin role"))
        }
    }

    /// `Forbidden` for an API key: account security (password, second factor, keys, sessions)
    /// is changed only by the person, signed in.
    pub fn require_session(&self) -> Result<()> {
        if self.key.is_some() {
            Err(Error::Forbidden(
                "API keys cannot do this; sign in with the account's password",
            ))
        } else {
            Ok(())
        }
    }
}

/// Why a session ended (kept on the row for the audit trail).
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    RefreshReuse,
    PasswordChanged,
    Disabled,
    Demoted,
    /// Ended from a sessions list, by the user or an admin.
    Ended,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RefreshReuse => "refresh_token_reuse",
            Self::PasswordChanged => "password_changed",
            Self::Disabled => "disabled",
            Self::Demoted => "demoted",
            Self::Ended => "ended",
        }
    }
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Refresh tokens look like `<session id>.<secret>`.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let (sid, secret) = token.split_once('.')?;
    (!sid.is_empty() && secret.len() >= 32).then_some((sid, secret))
}

/// Creates a session for `user_id`; returns `(session_id, refresh_token)`.
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    ttl_secs: u64,
    user_agent: Option<String>,
    ip: Option<String>,
) -> Result<(String, String)> {
    let now = Utc::now();
    let id = uuid::Uuid::now_v7().to_string();
    let secret = new_secret();
    session::ActiveModel {
        id: Set(id.clone()),
        user_id: Set(user_id.to_owned()),
        refresh_hash: Set(hash_secret(&secret)),
        generation: Set(1),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(now + Duration::seconds(ttl_secs as i64)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        user_agent: Set(user_agent.map(|ua| ua.chars().take(256).collect())),
        ip: Set(ip),
    }
    .insert(db)
    .await?;
    let token = format!("{id}.{secret}");
    Ok((id, token))
}

/// Exchanges a refresh token for a new one in the same session. Returns
/// `(session_id, new_refresh_token, user)`.
pub async fn rotate(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<(String, String, user::Model)> {
    let (sid, secret) = split_token(token).ok_or(Error::Unauthorized(INVALID_REFRESH))?;
    let Some((sess, Some(user))) = session::Entity::find_by_id(sid)
        .find_also_related(user::Entity)
        .one(db)
        .await?
    else {
        return Err(Error::Unauthorized(INVALID_REFRESH));
    };
    if sess.revoked_at.is_some() || sess.expires_at <= Utc::now() || user.disabled {
        return Err(Error::Unauthorized(INVALID_REFRESH));
    }
    let presented = hash_secret(secret);
    if !bool::from(presented.as_bytes().ct_eq(sess.refresh_hash.as_bytes())) {
        // A spent token came back: someone holds a copy. End the session for everyone.
        revoke(db, sid, RevokeReason::RefreshReuse).await?;
        tracing::warn!(session_id = sid, user_id = %user.id, "refresh token reuse, session revoked");
        return Err(Error::Unauthorized(INVALID_REFRESH));
    }
    let next = new_secret();
    let updated = session::Entity::update_many()
        .col_expr(
            session::Column::RefreshHash,
            Expr::value(hash_secret(&next)),
        )
        .col_expr(
            session::Column::Generation,
            Expr::col(session::Column::Generation).add(1),
        )
        .col_expr(session::Column::LastUsedAt, Expr::value(Utc::now()))
        .filter(session::Column::Id.eq(sid))
        .filter(session::Column::RefreshHash.eq(presented))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        // A concurrent refresh spent this token first: that is reuse too.
        revoke(db, sid, RevokeReason::RefreshReuse).await?;
        return Err(Error::Unauthorized(INVALID_REFRESH));
    }
    Ok((sid.to_owned(), format!("{sid}.{next}"), user))
}

/// Revokes the session named by a refresh token, if the token is genuine (true if it was live).
/// Unknown tokens are ignored so logout is idempotent.
pub async fn revoke_by_token(db: &impl ConnectionTrait, token: &str) -> Result<bool> {
    let Some((sid, secret)) = split_token(token) else {
        return Ok(false);
    };
    let matching = Condition::all()
        .add(session::Column::Id.eq(sid))
        .add(session::Column::RefreshHash.eq(hash_secret(secret)));
    Ok(revoke_where(db, matching, RevokeReason::Logout).await? > 0)
}

pub async fn revoke(
    db: &impl ConnectionTrait,
    session_id: &str,
    reason: RevokeReason,
) -> Result<()> {
    revoke_where(db, session::Column::Id.eq(session_id).into(), reason).await?;
    Ok(())
}

/// Ends every live session of a user (disabled, demoted, password changed).
pub async fn revoke_all_for_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    reason: RevokeReason,
) -> Result<u64> {
    revoke_where(db, session::Column::UserId.eq(user_id).into(), reason).await
}

/// Marks the live sessions matching `cond` revoked; returns how many.
async fn revoke_where(
    db: &impl ConnectionTrait,
    cond: Condition,
    reason: RevokeReason,
) -> Result<u64> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .col_expr(
            session::Column::RevokedReason,
            Expr::value(Some(reason.as_str())),
        )
        .filter(cond)
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The session id inside a refresh token, if it has the right shape.
pub fn session_id_of(token: &str) -> Option<&str> {
    split_token(token).map(|(sid, _)| sid)
}

/// Resolves a verified access token's session to the principal and the session's expiry,
/// refusing revoked or expired sessions and disabled users.
pub async fn principal(
    db: &impl ConnectionTrait,
    session_id: &str,
    user_id: &str,
) -> Result<(Principal, chrono::DateTime<Utc>)> {
    let denied = Error::Unauthorized("session ended, log in again");
    let Some((sess, Some(user))) = session::Entity::find_by_id(session_id)
        .find_also_related(user::Entity)
        .one(db)
        .await?
    else {
        return Err(denied);
    };
    if sess.revoked_at.is_some()
        || sess.expires_at <= Utc::now()
        || user.disabled
        || user.id != user_id
    {
        return Err(denied);
    }
    let role = user
        .role
        .parse()
        .map_err(|_| Error::Internal(format!("bad role in database: {}", user.role)))?;
    let principal = Principal {
        user_id: user.id,
        username: user.username,
        role,
        session_id: sess.id,
        key: None,
        mfa_pending: false,
    };
    Ok((principal, sess.expires_at))
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        Self {
            id: p.user_id.clone(),
            username: p.username.clone(),
        }
    }
}

/// Live sessions of a user, newest first (a page of them) and how many there are.
pub async fn list_live(
    db: &impl ConnectionTrait,
    user_id: &str,
    offset: u64,
    limit: u64,
) -> Result<(Vec<session::Model>, u64)> {
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let live = || {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
    };
    let total = live().count(db).await?;
    let rows = live()
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// A live session by id.
pub async fn get_live(db: &impl ConnectionTrait, id: &str) -> Result<Option<session::Model>> {
    Ok(session::Entity::find_by_id(id)
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(Utc::now()))
        .one(db)
        .await?)
}

/// Ends the live sessions of `user_id` (all of them, or all but `keep`); returns their ids, so
/// each can be reported and have its sockets closed.
pub async fn revoke_listed(
    db: &impl ConnectionTrait,
    user_id: &str,
    keep: Option<&str>,
) -> Result<Vec<String>> {
    use sea_orm::QuerySelect;
    let mut live = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        live = live.filter(session::Column::Id.ne(keep));
    }
    let ids: Vec<String> = live.into_tuple().all(db).await?;
    if !ids.is_empty() {
        revoke_where(
            db,
            session::Column::Id.is_in(ids.clone()).into(),
            RevokeReason::Ended,
        )
        .await?;
    }
    Ok(ids)
}

/// Ends one session by id (true if it was live).
pub async fn end(db: &impl ConnectionTrait, id: &str) -> Result<bool> {
    Ok(revoke_where(db, session::Column::Id.eq(id).into(), RevokeReason::Ended).await? > 0)
}
