//! First start: with no users at all, create `admin`.

use chrono::Utc;
use entity::user;
use rand::{Rng, distr::Alphanumeric};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};

use crate::{
    auth::password::PasswordHasher,
    db::Db,
    error::Result,
    realtime::{event::EventType, log},
    users::Role,
};

pub const ADMIN_USERNAME: &str = "admin";

/// Idempotent; safe when several instances start at once (the unique index decides).
pub async fn ensure_admin(db: &Db, hasher: &PasswordHasher) -> Result<()> {
    if user::Entity::find().count(db.conn()).await? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("SWITCHBOARD_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (
            rand::rng()
                .sample_iter(Alphanumeric)
                .take(24)
                .map(char::from)
                .collect::<String>(),
            true,
        ),
    };
    let hash = hasher.hash(password.clone()).await?;
    let now = Utc::now();
    let inserted = user::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        username: Set(ADMIN_USERNAME.into()),
        email: Set("admin@switchboard.local".into()),
        email_lower: Set("admin@switchboard.local".into()),
        display_name: Set(Some("Administrator".into())),
        role: Set(Role::Admin.as_str().into()),
        disabled: Set(false),
        password_hash: Set(hash),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    }
    .insert(db.conn())
    .await;
    if let Ok(model) = &inserted {
        let data = crate::users::dto::User::from(model.clone()).to_json();
        // Outside a transaction on purpose: a failure here must not leave the
        // deployment without an admin; the event only feeds the audit trail.
        if let Err(e) = log::append(db.conn(), EventType::UserCreated, None, &data).await {
            tracing::warn!(error = %e, "could not log the initial admin's creation");
        }
    }
    match inserted {
        Ok(_) if generated => {
            // Printed exactly once, on the start that created the account.
            tracing::warn!(username = ADMIN_USERNAME, password = %password, "created initial admin user");
        }
        Ok(_) => tracing::info!(username = ADMIN_USERNAME, "created initial admin user"),
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
