//! Login, refresh, logout and password change.

use std::net::IpAddr;

use entity::user;
use serde_json::json;

use super::{
    mfa, password,
    sessions::{self, Principal},
};
use crate::{
    error::{Error, Result},
    realtime::event::{Actor, EventType, Revoke},
    state::AppState,
    users::{
        service::{self as users, PasswordOf},
        validate,
    },
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

/// What a correct password leads to: a session, or (second factor on) a challenge to answer with
/// a code at `POST /api/auth/mfa`.
pub enum LoginOutcome {
    Tokens(Box<Tokens>),
    Challenge { challenge: String, expires_in: u64 },
}

/// Checks credentials (throttled per username and per client address) and opens a session, or
/// asks for the second factor.
pub async fn login(
    state: &AppState,
    username: &str,
    password: String,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
) -> Result<LoginOutcome> {
    let ukey = user_key(username);
    let ikey = ip.map(|ip| format!("ip:{ip}"));
    let throttles = state.throttles();
    let wait = [
        throttles.user.retry_after(&ukey),
        ikey.as_deref().and_then(|k| throttles.ip.retry_after(k)),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some(retry_after_secs) = wait {
        return Err(Error::RateLimited { retry_after_secs });
    }

    let found = users::find_by_username(state.db().conn(), username).await?;
    let hash = found.as_ref().map(|u| u.password_hash.clone());
    // Kept only for a hash to upgrade (imported bcrypt or older argon2), once it has matched.
    let upgrade = hash
        .as_deref()
        .is_some_and(password::needs_rehash)
        .then(|| password.clone());
    let ok = state.hasher().verify(password, hash).await?;
    let user = match found {
        Some(u) if ok && !u.disabled => u,
        _ => {
            throttles.user.record_failure(&ukey);
            if let Some(k) = &ikey {
                throttles.ip.record_failure(k);
            }
            tracing::info!(username, ip = ?ip, "login failed");
            audit_failed_login(state, username, ip).await;
            return Err(Error::InvalidCredentials);
        }
    };
    throttles.user.clear(&ukey);
    if let Some(password) = upgrade {
        upgrade_hash(state, &user, password).await;
    }
    if mfa::is_enabled(state.db().conn(), &user.id).await? {
        return Ok(LoginOutcome::Challenge {
            challenge: state.jwt().issue_challenge(&user.id)?,
            expires_in: super::jwt::CHALLENGE_TTL_SECS as u64,
        });
    }
    open_session(state, user, ip, user_agent)
        .await
        .map(|t| LoginOutcome::Tokens(Box::new(t)))
}

/// Rehashes a password that just matched an outdated hash with argon2id. Best effort: the old
/// hash still verifies, so a failure is logged and the login goes on.
async fn upgrade_hash(state: &AppState, user: &user::Model, password: String) {
    let upgraded = async {
        let hash = state.hasher().hash(password).await?;
        users::upgrade_password_hash(state.writer(), &user.id, &user.password_hash, hash).await
    }
    .await;
    match upgraded {
        Ok(true) => tracing::info!(username = %user.username, "password hash upgraded to argon2id"),
        // The password changed since it was read: the new hash is current already.
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(username = %user.username, error = %e, "password hash upgrade failed")
        }
    }
}

/// The second sign-in step: the challenge from a correct password and a code (TOTP or
/// recovery). Failures are throttled per user like passwords.
pub async fn complete_mfa(
    state: &AppState,
    challenge: &str,
    code: &str,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
) -> Result<Tokens> {
    let claims = state.jwt().verify_challenge(challenge)?;
    let key = format!("mfa:{}", claims.sub);
    let throttle = &state.throttles().mfa;
    if let Some(retry_after_secs) = throttle.retry_after(&key) {
        return Err(Error::RateLimited { retry_after_secs });
    }
    let user = users::get(state.db().conn(), &claims.sub)
        .await
        .ok()
        .filter(|u| !u.disabled)
        .ok_or(Error::Unauthorized(
            "invalid or expired sign-in challenge; log in again",
        ))?;
    if !mfa::verify(state.writer(), &user.id, &user.username, code).await? {
        throttle.record_failure(&key);
        tracing::info!(username = %user.username, ip = ?ip, "second factor failed");
        audit_failed_login(state, &user.username, ip).await;
        return Err(Error::InvalidMfaCode);
    }
    throttle.clear(&key);
    open_session(state, user, ip, user_agent).await
}

/// Opens a session for a user whose credentials were just checked, with `auth.login`.
pub async fn open_session(
    state: &AppState,
    user: user::Model,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
) -> Result<Tokens> {
    let mut w = state.writer().begin().await?;
    let (sid, refresh_token) = sessions::create(
        &*w,
        &user.id,
        state.settings().refresh_ttl_secs,
        user_agent,
        ip.map(|i| i.to_string()),
    )
    .await?;
    let user = users::record_login(&w, user).await?;
    let actor = Actor {
        id: user.id.clone(),
        username: user.username.clone(),
    };
    w.event(
        EventType::AuthLogin,
        Some(&actor),
        json!({"user": actor, "ip": ip.map(|i| i.to_string())}),
    );
    w.commit().await?;
    tracing::info!(username = %user.username, user_id = %user.id, "login");
    issue(state, &sid, refresh_token, user)
}

/// Confirms TOTP enrolment; wrong codes are throttled like sign-in codes.
pub async fn confirm_mfa(
    state: &AppState,
    principal: &Principal,
    code: &str,
) -> Result<Vec<String>> {
    let key = format!("mfa:{}", principal.user_id);
    let throttle = &state.throttles().mfa;
    if let Some(retry_after_secs) = throttle.retry_after(&key) {
        return Err(Error::RateLimited { retry_after_secs });
    }
    let confirmed = mfa::confirm(state.writer(), principal, code).await;
    if matches!(confirmed, Err(Error::Validation(_))) {
        throttle.record_failure(&key);
    }
    confirmed
}

/// Turns the caller's second factor off after checking their password.
pub async fn disable_mfa(state: &AppState, principal: &Principal, password: String) -> Result<()> {
    principal.require_session()?;
    let user = users::get(state.db().conn(), &principal.user_id).await?;
    if !state
        .hasher()
        .verify(password, Some(user.password_hash.clone()))
        .await?
    {
        return Err(Error::field("password", "is incorrect"));
    }
    mfa::disable_own(state.writer(), principal).await
}

/// Longest attempted username kept in an `auth.login_failed` event.
const AUDIT_USERNAME_CHARS: usize = 64;

/// Records `auth.login_failed`. The throttle bounds how often this writes; a failure to record
/// is logged, never turned into a different answer for the client.
async fn audit_failed_login(state: &AppState, username: &str, ip: Option<IpAddr>) {
    let attempted: String = username.chars().take(AUDIT_USERNAME_CHARS).collect();
    let data = json!({"username": attempted, "ip": ip.map(|i| i.to_string())});
    let recorded = async {
        let mut w = state.writer().begin().await?;
        w.event(EventType::AuthLoginFailed, None, data);
        w.commit().await
    }
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, "recording a failed login failed");
    }
}

pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<Tokens> {
    let mut w = state.writer().begin().await?;
    let rotated = sessions::rotate(&*w, refresh_token).await;
    if rotated.is_err() {
        // A refused refresh may have revoked the session (reuse): drop it from the cache and
        // close its sockets.
        if let Some(sid) = sessions::session_id_of(refresh_token) {
            w.revoke(Revoke::Session(sid.to_owned()));
        }
    }
    // Committed either way: a refused reuse has just revoked the session.
    w.commit().await?;
    let (sid, next, user) = rotated?;
    issue(state, &sid, next, user)
}

pub async fn logout(state: &AppState, refresh_token: &str) -> Result<()> {
    let mut w = state.writer().begin().await?;
    let ended = sessions::revoke_by_token(&*w, refresh_token).await?;
    if let Some(sid) = sessions::session_id_of(refresh_token).filter(|_| ended) {
        w.revoke(Revoke::Session(sid.to_owned()));
    }
    w.commit().await?;
    Ok(())
}

/// Changes the caller's own password; every session of theirs ends, this one included.
pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    current_password: String,
    new_password: String,
) -> Result<()> {
    principal.require_session()?;
    // The new password's rules first, before the (slow) check of the current one.
    if let Some(problem) = validate::password(&new_password) {
        return Err(Error::field("new_password", problem));
    }
    let user = users::get(state.db().conn(), &principal.user_id).await?;
    if !state
        .hasher()
        .verify(current_password, Some(user.password_hash.clone()))
        .await?
    {
        return Err(Error::field("current_password", "is incorrect"));
    }
    users::set_password(
        state.writer(),
        state.hasher(),
        PasswordOf::Own(principal),
        "new_password",
        new_password,
    )
    .await?;
    Ok(())
}

fn issue(state: &AppState, sid: &str, refresh_token: String, user: user::Model) -> Result<Tokens> {
    Ok(Tokens {
        access_token: state.jwt().issue(&user.id, sid)?,
        expires_in: state.jwt().ttl_secs(),
        refresh_token,
        user,
    })
}

/// Ends one session: the caller's own, or (admin) anyone's; anything else is the same 404 as no
/// session at all. Its sockets close with 4401.
pub async fn end_session(state: &AppState, actor: &Principal, id: &str) -> Result<()> {
    let mut w = state.writer().begin().await?;
    let session = sessions::get_live(&*w, id)
        .await?
        .filter(|s| s.user_id == actor.user_id || actor.is_admin())
        .ok_or(Error::NotFound("session"))?;
    sessions::end(&*w, id).await?;
    session_revoked(&mut w, actor, &session.id, &session.user_id);
    w.commit().await?;
    Ok(())
}

/// Ends every session of the caller except the one making the request.
pub async fn end_other_sessions(state: &AppState, actor: &Principal) -> Result<u64> {
    actor.require_session()?;
    let mut w = state.writer().begin().await?;
    let ended = sessions::revoke_listed(&*w, &actor.user_id, Some(&actor.session_id)).await?;
    for id in &ended {
        session_revoked(&mut w, actor, id, &actor.user_id);
    }
    w.commit().await?;
    Ok(ended.len() as u64)
}

/// An admin ends every session of a user (their API keys keep working).
pub async fn end_user_sessions(state: &AppState, admin: &Principal, user_id: &str) -> Result<u64> {
    admin.require_admin()?;
    users::get(state.db().conn(), user_id).await?;
    let mut w = state.writer().begin().await?;
    // Every one of them ends, the admin's own too if the user is the admin.
    let ended = sessions::revoke_listed(&*w, user_id, None).await?;
    for id in &ended {
        session_revoked(&mut w, admin, id, user_id);
    }
    w.commit().await?;
    Ok(ended.len() as u64)
}

fn session_revoked(w: &mut crate::write::Write<'_>, actor: &Principal, id: &str, user_id: &str) {
    w.event(
        EventType::SessionRevoked,
        Some(&Actor::from(actor)),
        json!({"id": id, "user_id": user_id, "reason": "ended"}),
    );
    w.revoke(Revoke::Session(id.to_owned()));
}
