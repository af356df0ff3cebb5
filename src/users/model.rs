//! What callers hand the users service: a user to create, a partial update (parsed by `dto` from
//! JSON, or by the CLI, but not yet validated; `service` checks them), and imported users
//! (checked and hashed by `import`).

/// A user to create (already parsed, not yet validated).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub password: String,
    pub role: String,
}

/// A partial update: `None` leaves a field as it is; `display_name: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<Option<String>>,
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// A user of a bulk import, checked by the caller (`users::import`) and with its password already
/// hashed (or `auth::password::NO_PASSWORD`): what `service::insert_batch` writes.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: super::Role,
    pub disabled: bool,
    pub password_hash: String,
}
