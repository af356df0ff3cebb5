//! What callers hand the users service: a user to create, a partial update. Parsed (by `dto` from
//! JSON, or by the CLI) but not yet validated; `service` checks them.

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
