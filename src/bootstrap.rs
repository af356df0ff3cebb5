//! First start: with no users at all, create `admin` (with `SWITCHBOARD_ADMIN_PASSWORD`, or a
//! random password printed once to the log).

use rand::{Rng, distr::Alphanumeric};

use crate::{
    auth::password::PasswordHasher, error::Result, users::service as users, write::Writer,
};

pub const ADMIN_USERNAME: &str = "admin";

/// Idempotent; safe when several instances start at once.
pub async fn ensure_admin(writer: &Writer, hasher: &PasswordHasher) -> Result<()> {
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
    let created =
        users::create_first_admin(writer, hasher, ADMIN_USERNAME, password.clone()).await?;
    if created.is_none() {
        return Ok(());
    }
    if generated {
        // Printed exactly once, on the start that created the account.
        tracing::warn!(username = ADMIN_USERNAME, password = %password, "created initial admin user");
    } else {
        tracing::info!(username = ADMIN_USERNAME, "created initial admin user");
    }
    Ok(())
}
