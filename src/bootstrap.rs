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
    // The admin and its `user.created` commit together or not at all, like every other write:
    // a start that dies in between leaves no admin, and the next start creates it again.
    let tx = db.begin_write().await?;
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
    .insert(&*tx)
    .await;
    let model = match inserted {
        Ok(model) => model,
        // Another instance created it first (the transaction rolls back on drop).
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let data = crate::users::dto::User::from(model).to_json();
    log::append(&*tx, EventType::UserCreated, None, &data).await?;
    tx.commit().await?;
    if generated {
        // Printed exactly once, on the start that created the account.
        tracing::warn!(username = ADMIN_USERNAME, password = %password, "created initial admin user");
    } else {
        tracing::info!(username = ADMIN_USERNAME, "created initial admin user");
    }
    Ok(())
}
