//! Invitations: the only code writing `invitations`. An admin invites an address with a role; the
//! link (a single-use `<id>.<secret>` token, stored hashed) lets the invitee choose a username
//! and password, which creates the user and spends the invitation in one transaction.

use chrono::{DateTime, Duration, Utc};
use entity::{invitation, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use serde_json::json;

use crate::{
    auth::{link_token, password::PasswordHasher, sessions::Principal},
    error::{Error, Result},
    realtime::event::{Actor, EventType, format_ts},
    users::{Role, service as users, service::NewUser, validate},
    write::Writer,
};

const INVALID: &str = "this invitation is invalid, used, revoked or expired; ask for a new one";

/// Where an invitation stands.
pub fn status(inv: &invitation::Model, now: DateTime<Utc>) -> &'static str {
    if inv.accepted_at.is_some() {
        "accepted"
    } else if inv.revoked_at.is_some() {
        "revoked"
    } else if inv.expires_at <= now {
        "expired"
    } else {
        "pending"
    }
}

/// The invitation as the log and the socket show it.
pub fn event_json(inv: &invitation::Model) -> serde_json::Value {
    json!({
        "id": inv.id, "email": inv.email, "role": inv.role, "invited_by": inv.invited_by,
        "created_at": format_ts(inv.created_at), "expires_at": format_ts(inv.expires_at),
        "status": status(inv, Utc::now()),
    })
}

/// Creates an invitation; returns it with its token (shown once, to the admin and in the mail).
pub async fn create(
    writer: &Writer,
    admin: &Principal,
    email: &str,
    role: &str,
    ttl: Duration,
) -> Result<(invitation::Model, String)> {
    admin.require_admin()?;
    let email = email.trim();
    let mut problems = validate::Problems::default();
    problems.add("email", validate::email(email));
    let role = validate::role(role, &mut problems);
    problems.into_result()?;
    let role = role.ok_or_else(|| Error::Internal("role validated but missing".into()))?;
    let mut w = writer.begin().await?;
    if users::find_by_email(&*w, email).await?.is_some() {
        return Err(Error::conflict(
            "email_taken",
            "a user with that email address already exists",
        ));
    }
    let now = Utc::now();
    if pending_for(&*w, email, now).await? {
        return Err(Error::conflict(
            "invitation_pending",
            "that address already has a pending invitation; revoke it to send a new one",
        ));
    }
    let (id, token, token_hash) = link_token::new_token();
    let model = invitation::ActiveModel {
        id: Set(id),
        email: Set(email.to_owned()),
        email_lower: Set(email.to_lowercase()),
        role: Set(role.as_str().to_owned()),
        token_hash: Set(token_hash),
        invited_by: Set(Some(admin.user_id.clone())),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        accepted_at: Set(None),
        user_id: Set(None),
        revoked_at: Set(None),
    }
    .insert(&*w)
    .await?;
    w.event(
        EventType::UserInvited,
        Some(&Actor::from(admin)),
        event_json(&model),
    );
    w.commit().await?;
    Ok((model, token))
}

async fn pending_for(db: &impl ConnectionTrait, email: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::EmailLower.eq(email.to_lowercase()))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .count(db)
        .await?
        > 0)
}

/// A page of invitations, newest first; `pending_only` hides accepted, revoked and expired ones.
pub async fn list(
    db: &impl ConnectionTrait,
    pending_only: bool,
    offset: u64,
    limit: u64,
) -> Result<(Vec<invitation::Model>, u64)> {
    let now = Utc::now();
    let query = || {
        let mut q = invitation::Entity::find();
        if pending_only {
            q = q.filter(
                Condition::all()
                    .add(invitation::Column::AcceptedAt.is_null())
                    .add(invitation::Column::RevokedAt.is_null())
                    .add(invitation::Column::ExpiresAt.gt(now)),
            );
        }
        q
    };
    let total = query().count(db).await?;
    let rows = query()
        .order_by_desc(invitation::Column::CreatedAt)
        .order_by_desc(invitation::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Revokes a pending invitation (its link stops working at once).
pub async fn revoke(writer: &Writer, admin: &Principal, id: &str) -> Result<()> {
    admin.require_admin()?;
    let mut w = writer.begin().await?;
    let revoked = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&*w)
        .await?;
    if revoked.rows_affected == 0 {
        let exists = invitation::Entity::find_by_id(id).count(&*w).await? > 0;
        return Err(if exists {
            Error::conflict(
                "invitation_not_pending",
                "this invitation was already accepted or revoked",
            )
        } else {
            Error::NotFound("invitation")
        });
    }
    w.event(
        EventType::InvitationRevoked,
        Some(&Actor::from(admin)),
        json!({"id": id}),
    );
    w.commit().await?;
    Ok(())
}

/// The pending invitation a token names, for the accept page (`email` and `role`).
pub async fn inspect(db: &impl ConnectionTrait, token: &str) -> Result<invitation::Model> {
    let (id, token_hash) = link_token::split(token).ok_or(Error::Gone(INVALID))?;
    invitation::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|i| i.token_hash == token_hash && status(i, Utc::now()) == "pending")
        .ok_or(Error::Gone(INVALID))
}

/// Accepts an invitation: the user is created with the invited address and role, and the
/// invitation is spent, in one transaction.
pub async fn accept(
    writer: &Writer,
    token: &str,
    username: String,
    password: String,
    hasher: &PasswordHasher,
) -> Result<user::Model> {
    let (id, token_hash) = link_token::split(token).ok_or(Error::Gone(INVALID))?;
    let inv = inspect(writer.db().conn(), token).await?;
    let new = NewUser {
        username,
        email: inv.email.clone(),
        display_name: None,
        password,
        role: inv.role.clone(),
    };
    let role: Role = users::check_new(&new)?;
    let hash = hasher.hash(new.password.clone()).await?;
    let mut w = writer.begin().await?;
    let now = Utc::now();
    let spent = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::TokenHash.eq(token_hash))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .exec(&*w)
        .await?;
    if spent.rows_affected != 1 {
        return Err(Error::Gone(INVALID));
    }
    let user = users::insert_in(&mut w, None, new, role, hash).await?;
    invitation::Entity::update_many()
        .col_expr(
            invitation::Column::UserId,
            Expr::value(Some(user.id.clone())),
        )
        .filter(invitation::Column::Id.eq(id))
        .exec(&*w)
        .await?;
    let actor = Actor {
        id: user.id.clone(),
        username: user.username.clone(),
    };
    w.event(
        EventType::InvitationAccepted,
        Some(&actor),
        json!({"id": id, "user_id": user.id}),
    );
    w.commit().await?;
    Ok(user)
}
