//! Login, refresh, logout and password change.

use std::net::IpAddr;

use chrono::Utc;
use entity::user;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, QuerySelect, Set};
use serde_json::json;

use super::sessions::{self, Principal, RevokeReason};
use crate::{
    app::AppState,
    error::{Error, Result},
    realtime::{
        self,
        event::{Actor, EventType},
        hub::Revoke,
        log,
    },
    users::{dto::User, service as users, validate},
};

/// What login and refresh hand out.
pub struct Tokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: user::Model,
}

fn user_key(username: &str) -> String {
    format!("u:{}", username.to_lowercase())
}

/// Checks credentials (throttled per username and per client address) and opens a session.
pub async fn login(
    state: &AppState,
    username: &str,
    password: String,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
) -> Result<Tokens> {
    let ukey = user_key(username);
    let ikey = ip.map(|ip| format!("ip:{ip}"));
    let wait = [
        state.user_throttle.retry_after(&ukey),
        ikey.as_deref()
            .and_then(|k| state.ip_throttle.retry_after(k)),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some(retry_after_secs) = wait {
        return Err(Error::RateLimited { retry_after_secs });
    }

    let found = users::find_by_username(state.db.conn(), username).await?;
    let hash = found.as_ref().map(|u| u.password_hash.clone());
    let ok = state.hasher.verify(password, hash).await?;
    let user = match found {
        Some(u) if ok && !u.disabled => u,
        _ => {
            state.user_throttle.record_failure(&ukey);
            if let Some(k) = &ikey {
                state.ip_throttle.record_failure(k);
            }
            tracing::info!(username, ip = ?ip, "login failed");
            audit_failed_login(state, username, ip).await;
            return Err(Error::InvalidCredentials);
        }
    };
    state.user_throttle.clear(&ukey);

    // Every write goes through `begin_write`: on SQLite a stray autocommit write would make a
    // concurrent writer's transaction fail with SQLITE_BUSY_SNAPSHOT.
    let tx = state.db.begin_write().await?;
    let (sid, refresh_token) = sessions::create(
        &*tx,
        &user.id,
        state.settings.refresh_ttl_secs,
        user_agent,
        ip.map(|i| i.to_string()),
    )
    .await?;
    // Recording the login time is bookkeeping, not an edit: the version stays.
    let mut active = user.into_active_model();
    active.last_login_at = Set(Some(Utc::now()));
    let user = active.update(&*tx).await?;
    let actor = Actor {
        id: user.id.clone(),
        username: user.username.clone(),
    };
    let seq = log::append(
        &*tx,
        EventType::AuthLogin,
        Some(&actor),
        &json!({"user": actor, "ip": ip.map(|i| i.to_string())}),
    )
    .await?;
    tx.commit().await?;
    state.log_advanced(seq);
    tracing::info!(username = %user.username, user_id = %user.id, "login");
    issue(state, &sid, refresh_token, user)
}

/// Longest attempted username kept in an `auth.login_failed` event.
const AUDIT_USERNAME_CHARS: usize = 64;

/// Records `auth.login_failed`. The throttle bounds how often this writes; a failure to record
/// is logged, never turned into a different answer for the client.
async fn audit_failed_login(state: &AppState, username: &str, ip: Option<IpAddr>) {
    let attempted: String = username.chars().take(AUDIT_USERNAME_CHARS).collect();
    let data = json!({"username": attempted, "ip": ip.map(|i| i.to_string())});
    let recorded = async {
        let tx = state.db.begin_write().await?;
        let seq = log::append(&*tx, EventType::AuthLoginFailed, None, &data).await?;
        tx.commit().await?;
        Ok::<_, Error>(seq)
    }
    .await;
    match recorded {
        Ok(seq) => state.log_advanced(seq),
        Err(e) => tracing::error!(error = %e, "recording a failed login failed"),
    }
}

pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<Tokens> {
    let tx = state.db.begin_write().await?;
    let rotated = sessions::rotate(&*tx, refresh_token).await;
    // Committed either way: a refused reuse has just revoked the session.
    tx.commit().await?;
    match rotated {
        Ok((sid, next, user)) => issue(state, &sid, next, user),
        Err(e) => {
            // A refused refresh may have revoked the session (reuse): drop it from the cache
            // and close its sockets.
            if let Some(sid) = sessions::session_id_of(refresh_token) {
                state.principals.invalidate_session(sid);
                state.revoke(Revoke::Session(sid.to_owned())).await;
            }
            Err(e)
        }
    }
}

pub async fn logout(state: &AppState, refresh_token: &str) -> Result<()> {
    let tx = state.db.begin_write().await?;
    let ended = sessions::revoke_by_token(&*tx, refresh_token).await?;
    tx.commit().await?;
    if let Some(sid) = sessions::session_id_of(refresh_token).filter(|_| ended) {
        state.principals.invalidate_session(sid);
        state.revoke(Revoke::Session(sid.to_owned())).await;
    }
    Ok(())
}

/// Changes the caller's own password; every session of theirs ends, this one included.
pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    current_password: String,
    new_password: String,
) -> Result<()> {
    if let Some(problem) = validate::password(&new_password) {
        return Err(Error::field("new_password", problem));
    }
    let user = users::get(state.db.conn(), &principal.user_id).await?;
    if !state
        .hasher
        .verify(current_password, Some(user.password_hash.clone()))
        .await?
    {
        return Err(Error::field("current_password", "is incorrect"));
    }
    let hash = state.hasher.hash(new_password).await?;
    let tx = state.db.begin_write().await?;
    // Re-read under lock: an admin may have changed the user meanwhile.
    let user = user::Entity::find_by_id(&user.id)
        .lock_exclusive()
        .one(&*tx)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let version = user.version + 1;
    let mut active = user.into_active_model();
    active.password_hash = Set(hash);
    active.version = Set(version);
    active.updated_at = Set(Utc::now());
    let user = active.update(&*tx).await?;
    sessions::revoke_all_for_user(&*tx, &user.id, RevokeReason::PasswordChanged).await?;
    let data = User::from(user.clone()).to_json();
    let seq = realtime::record(&*tx, EventType::UserUpdated, Some(principal), &data).await?;
    tx.commit().await?;
    state.principals.invalidate_user(&user.id);
    state.log_advanced(seq);
    state.revoke(Revoke::User(user.id)).await;
    Ok(())
}

fn issue(state: &AppState, sid: &str, refresh_token: String, user: user::Model) -> Result<Tokens> {
    Ok(Tokens {
        access_token: state.jwt.issue(&user.id, sid)?,
        expires_in: state.jwt.ttl_secs(),
        refresh_token,
        user,
    })
}
