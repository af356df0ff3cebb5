//! Password reset by e-mail link: the only code writing `password_resets`. A link is
//! `<id>.<secret>`, stored as a SHA-256 hash, good once and for `--reset-ttl-secs`; using it sets
//! the new password and ends every session of the user.

use chrono::{DateTime, Duration, Utc};
use entity::password_reset;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Expr,
};

use super::{
    link_token::{new_token, split},
    sessions::Principal,
};
use crate::{
    error::{Error, Result},
    links, mail,
    realtime::event::Actor,
    state::AppState,
    users::{service as users, validate},
};

const INVALID: &str = "this reset link is invalid, used or expired; ask for a new one";

/// A new link for `user_id`; `(token, expires_at)`.
async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    ttl: Duration,
) -> Result<(String, DateTime<Utc>)> {
    let (id, token, token_hash) = new_token();
    let now = Utc::now();
    let expires_at = now + ttl;
    password_reset::ActiveModel {
        id: Set(id),
        user_id: Set(user_id.to_owned()),
        token_hash: Set(token_hash),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// "Forgot password": answers the same whatever the address; when it names an enabled user
/// (and that address has not had too many mails lately), a link is mailed in the background, so
/// not even the response time tells whether the address exists.
pub fn request(state: &AppState, email: &str) {
    let state = state.clone();
    let email = email.trim().to_owned();
    tokio::spawn(async move {
        if let Err(e) = send_link(&state, &email).await {
            tracing::warn!(error = %e, "sending a password reset link failed");
        }
    });
}

async fn send_link(state: &AppState, email: &str) -> Result<()> {
    let Some(mailer) = state.mailer() else {
        tracing::info!("password reset asked for, but no --smtp-url is set");
        return Ok(());
    };
    if validate::email(email).is_some() {
        return Ok(());
    }
    let Some(user) = users::find_by_email(state.db().conn(), email).await? else {
        return Ok(());
    };
    if user.disabled {
        return Ok(());
    }
    let throttle = &state.throttles().reset_email;
    let key = format!("reset:{}", user.id);
    if throttle.retry_after(&key).is_some() {
        tracing::info!(user_id = %user.id, "password reset mail held back: too many lately");
        return Ok(());
    }
    throttle.record_failure(&key);
    let w = state.writer().begin().await?;
    let (token, expires_at) = create(&*w, &user.id, state.settings().reset_ttl).await?;
    w.commit().await?;
    let url = links::reset_url(&links::mail_base(state), &token);
    mailer
        .send(
            &user.email,
            mail::password_reset(&url, &user.username, expires_at),
        )
        .await?;
    tracing::info!(user_id = %user.id, "password reset link sent");
    Ok(())
}

/// An admin makes a reset link to hand over themselves (no mail server, or a locked-out user).
pub async fn link_for(
    state: &AppState,
    admin: &Principal,
    user_id: &str,
    base: &str,
) -> Result<(String, DateTime<Utc>)> {
    admin.require_admin()?;
    let user = users::get(state.db().conn(), user_id).await?;
    let w = state.writer().begin().await?;
    let (token, expires_at) = create(&*w, &user.id, state.settings().reset_ttl).await?;
    w.commit().await?;
    tracing::info!(user_id = %user.id, by = %admin.username, "password reset link made by an admin");
    Ok((links::reset_url(base, &token), expires_at))
}

/// Spends a link: sets the new password, ends every session, and voids the user's other links.
pub async fn confirm(state: &AppState, token: &str, new_password: String) -> Result<()> {
    if let Some(problem) = validate::password(&new_password) {
        return Err(Error::field("new_password", problem));
    }
    let (id, token_hash) = split(token).ok_or(Error::Gone(INVALID))?;
    // Hash first: the slow part stays outside the write.
    let password_hash = state.hasher().hash(new_password).await?;
    let mut w = state.writer().begin().await?;
    let now = Utc::now();
    let Some(reset) = password_reset::Entity::find_by_id(id).one(&*w).await? else {
        return Err(Error::Gone(INVALID));
    };
    let spent = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(Some(now)))
        .filter(password_reset::Column::Id.eq(id))
        .filter(password_reset::Column::TokenHash.eq(token_hash))
        .filter(password_reset::Column::UsedAt.is_null())
        .filter(password_reset::Column::ExpiresAt.gt(now))
        .exec(&*w)
        .await?;
    if spent.rows_affected != 1 {
        return Err(Error::Gone(INVALID));
    }
    let user = users::lock(&w, &reset.user_id).await?;
    if user.disabled {
        return Err(Error::Gone(INVALID));
    }
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(Some(now)))
        .filter(password_reset::Column::UserId.eq(&user.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(&*w)
        .await?;
    let actor = Actor {
        id: user.id.clone(),
        username: user.username.clone(),
    };
    users::replace_password_in(&mut w, user, password_hash, Some(&actor)).await?;
    w.commit().await?;
    Ok(())
}
